// Lab benchmarks on a real 2-node cluster (bin/cilium-lab with the upstream control plane):
//   install: time from `helm install cilium` to every kube-system pod Ready and the agent DaemonSet ready.
//   pod start: 30 pods created at once, latency from the create call to each pod seen Ready
//     (client-side, polled every 100 ms), p50/p99. Ours = cilium-ts installed by helm; peer = the same
//     lab with the reference ptp + host-local CNI plugins (built from the Go proxy), measured in the same
//     run, labs one after the other (never at the same time), order rotated per sample.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, fmt, goTools, machineInfo, median, onCleanup, percentile, root, sleep, suffix, table } from './lib/common.mjs';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 2);
const PODS = Number(process.env.BENCH_PODS ?? 30);
const bin = (n) => join(root, 'bin', n);

function upstreamBin() {
  return execFileSync(join(root, 'lab', 'build-upstream.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1);
}

/** `cilium-lab up`, its env as an object, and `down` registered for cleanup. */
function labUp(name) {
  execFileSync(bin('cilium-lab'), ['up', '--name', name, '--nodes', '2'], { stdio: ['ignore', 'ignore', 'inherit'] });
  onCleanup(() => spawnSync(bin('cilium-lab'), ['down', '--name', name], { stdio: 'ignore' }));
  // The shell evaluates the export lines (quoting, "$PATH") exactly as a user's `eval` would.
  const out = execFileSync('bash', ['-c', 'eval "$("$0" env --name "$1")" && env -0', bin('cilium-lab'), name], { encoding: 'utf8' });
  const env = Object.fromEntries(out.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  return { name, env };
}

function labDown(lab) {
  spawnSync(bin('cilium-lab'), ['down', '--name', lab.name], { stdio: 'ignore' });
}

const kubectl = (lab, args, input) => execFileSync('kubectl', args, { env: lab.env, encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
const ready = (p) => p.status?.phase === 'Running' && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

async function waitFor(what, fn, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The peer's CNI: ptp + host-local with a /24 per node, files where the lab kubelet looks. */
async function installPtp(lab, tools) {
  const nodes = kubectl(lab, ['get', 'nodes', '-o', 'json']);
  const names = JSON.parse(nodes).items.map((n) => n.metadata.name).sort();
  names.forEach((node, i) => {
    const dir = `/run/cilium-lab/${lab.name}/nodes/${node}/cni`;
    mkdirSync(join(dir, 'bin'), { recursive: true });
    mkdirSync(join(dir, 'net.d'), { recursive: true });
    for (const p of ['ptp', 'host-local', 'loopback']) copyFileSync(join(tools, p), join(dir, 'bin', p));
    const conf = { cniVersion: '1.0.0', name: 'ptp-peer', plugins: [{ type: 'ptp', ipMasq: false, mtu: 1500, ipam: { type: 'host-local', ranges: [[{ subnet: `10.88.${i + 1}.0/24` }]] } }] };
    writeFileSync(join(dir, 'net.d', '10-ptp.conflist'), JSON.stringify(conf));
  });
  await waitFor('nodes Ready (ptp)', () => JSON.parse(kubectl(lab, ['get', 'nodes', '-o', 'json'])).items.every((n) => n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True')), 120_000);
}

/** helm install cilium; returns ms from the install call to all kube-system pods Ready. */
async function installCilium(lab) {
  const t0 = performance.now();
  execFileSync('helm', ['install', 'cilium', join(root, 'install/kubernetes/cilium'), '-n', 'kube-system', '-f', join(root, 'install/kubernetes/values-lab.yaml'), '--set', `k8sServiceHost=${lab.env.LAB_API_HOST}`, '--set', `k8sServicePort=${lab.env.LAB_API_PORT}`], { env: lab.env, stdio: ['ignore', 'ignore', 'inherit'] });
  await waitFor('cilium pods Ready', () => {
    const pods = JSON.parse(kubectl(lab, ['get', 'pods', '-n', 'kube-system', '-o', 'json'])).items;
    const ds = JSON.parse(kubectl(lab, ['get', 'ds', 'cilium', '-n', 'kube-system', '-o', 'json']));
    return pods.length > 0 && pods.every(ready) && ds.status.numberReady === ds.status.desiredNumberScheduled && ds.status.desiredNumberScheduled === 2;
  }, 300_000);
  const ms = performance.now() - t0;
  await waitFor('nodes Ready (cilium)', () => JSON.parse(kubectl(lab, ['get', 'nodes', '-o', 'json'])).items.every((n) => n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True')), 120_000);
  return ms;
}

/** Creates PODS pods at once; returns the latency (ms) of each from the create call to Ready. */
async function podStart(lab, tag) {
  const items = Array.from({ length: PODS }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `bench-${tag}-${i}`, namespace: 'default', labels: { bench: tag } },
    spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'echo', image: 'quay.io/cilium/json-mock:v1.3.8' }] },
  }));
  const seen = new Map();
  const t0 = performance.now();
  kubectl(lab, ['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
  await waitFor(`${PODS} pods Ready`, () => {
    const now = performance.now();
    for (const p of JSON.parse(kubectl(lab, ['get', 'pods', '-l', `bench=${tag}`, '-o', 'json'])).items) {
      if (ready(p) && !seen.has(p.metadata.name)) seen.set(p.metadata.name, now - t0);
    }
    return seen.size === PODS;
  }, 300_000);
  kubectl(lab, ['delete', 'pods', '-l', `bench=${tag}`, '--wait=true', '--timeout=120s']);
  return [...seen.values()];
}

export async function benchLab(opts = {}) {
  const info = machineInfo();
  console.log(`lab bench: ${SAMPLES} samples, ${PODS} pods per sample; ours (cilium-ts by helm) vs ptp + host-local; labs one at a time`);
  console.log(`machine: ${info.nproc} CPU (${info.cpu}), kernel ${info.kernel}, node ${info.node}, load average ${info.loadavg.join(' ')}`);
  for (const b of ['cilium-lab', 'cilium-agent', 'cilium-operator', 'cilium-cni', 'cilium']) if (!existsSync(bin(b))) throw new Error(`bin/${b} missing: run make build`);
  const upstream = upstreamBin();
  const tools = goTools();
  process.env.PATH = `${upstream}:${process.env.PATH}`;
  const res = { ours: [], ptp: [], install: [] };
  try {
    for (let s = 0; s < SAMPLES; s++) {
      const order = s % 2 === 0 ? ['ours', 'ptp'] : ['ptp', 'ours'];
      for (const cfg of order) {
        const lab = labUp(`b${suffix.slice(0, 4)}${s}${cfg === 'ours' ? 'c' : 'p'}`);
        try {
          if (cfg === 'ours') {
            const ms = await installCilium(lab);
            res.install.push(ms);
            console.log(`  sample ${s + 1}/${SAMPLES} helm install -> all Ready: ${fmt(ms / 1000)} s`);
          } else {
            await installPtp(lab, tools);
          }
          const lat = await podStart(lab, `${cfg}${s}`);
          res[cfg].push(...lat);
          console.log(`  sample ${s + 1}/${SAMPLES} pod start ${cfg.padEnd(4)}: p50 ${fmt(percentile(lat, 50))} ms, p99 ${fmt(percentile(lat, 99))} ms, last ${fmt(Math.max(...lat))} ms`);
        } finally {
          labDown(lab);
        }
      }
    }
  } finally {
    cleanup();
  }
  const row = (label, f) => [label, fmt(f(res.ours)), fmt(f(res.ptp)), fmt(f(res.ours) / f(res.ptp), 3)];
  console.log('');
  console.log(
    table(
      ['metric (ms)', 'ours', 'ptp', 'ours/ptp'],
      [row(`pod start p50 (n=${res.ours.length})`, (x) => percentile(x, 50)), row('pod start p99', (x) => percentile(x, 99)), row('pod start max', (x) => Math.max(...x))],
    ),
  );
  console.log(`helm install -> all kube-system pods Ready on 2 nodes: median ${fmt(median(res.install) / 1000)} s (${res.install.map((x) => fmt(x / 1000)).join(', ')} s); no peer runs this install`);
  if (opts.json) writeFileSync(opts.json, JSON.stringify({ info, ...res }, null, 1));
}
