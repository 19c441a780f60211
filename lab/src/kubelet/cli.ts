/**
 * Standalone entry of the lab kubelet (what `cilium-lab kubelet` runs): flags -> runKubelet.
 *   node cli.js --lab L --node N --kubeconfig K --node-ip IP --cni-conf-dir D --cni-bin-dir D
 *               --state-dir D --resolv-conf F --cgroup-root PATH
 * Run it inside the node's network namespace (nsenter --net=/run/netns/<node> ...).
 */
import { pathToFileURL } from 'node:url';
import { runKubelet, type KubeletOptions } from './kubelet.js';

const FLAGS: Record<string, keyof KubeletOptions> = {
  '--lab': 'lab',
  '--node': 'node',
  '--kubeconfig': 'kubeconfig',
  '--node-ip': 'nodeIp',
  '--cni-conf-dir': 'cniConfDir',
  '--cni-bin-dir': 'cniBinDir',
  '--state-dir': 'stateDir',
  '--resolv-conf': 'resolvConf',
  '--cgroup-root': 'cgroupRoot',
  '--repo-root': 'repoRoot',
};

export function parseKubeletArgs(argv: string[]): KubeletOptions {
  const o: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const key = FLAGS[flag];
    if (!key) throw new Error(`unknown flag ${flag} (known: ${Object.keys(FLAGS).join(' ')})`);
    const v = inline ?? argv[++i];
    if (v === undefined) throw new Error(`${flag} needs a value`);
    o[key] = v;
  }
  const missing = Object.entries(FLAGS).filter(([, k]) => k !== 'repoRoot' && o[k] === undefined).map(([f]) => f);
  if (missing.length > 0) throw new Error(`missing ${missing.join(' ')}`);
  return o as unknown as KubeletOptions;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  let opts: KubeletOptions;
  try {
    opts = parseKubeletArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`lab kubelet: ${(e as Error).message}\n`);
    process.exit(2);
  }
  runKubelet(opts).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`lab kubelet: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
