// bin/cilium-lab against the real upstream control plane: up with 2 nodes, env/kubectl, the control plane
// (namespaces, a ConfigMap round trip, service-account tokens, CoreDNS), exec in a node, two labs side by
// side, and a down that leaves nothing behind. Needs root, bin/ built and the upstream binaries
// (lab/build-upstream.sh, cached). Run with `make test-lab`.
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'cilium-lab');
const withKubelet = existsSync(join(root, 'lab', 'src', 'kubelet', 'kubelet.ts'));
const suffix = Math.random().toString(36).slice(2, 8).replace(/^[0-9]/, 'x');
const labA = `ta${suffix}`;
const labB = `tb${suffix}`;

function lab(args: string[], timeout = 600_000): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
}

function labOk(args: string[]): string {
  const r = lab(args);
  if (r.status !== 0) throw new Error(`cilium-lab ${args.join(' ')} exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** Runs a shell snippet after `eval "$(cilium-lab env --name NAME)"`. */
function inEnv(name: string, script: string): string {
  return execFileSync('bash', ['-c', `set -euo pipefail; eval "$(${process.execPath} ${bin} env --name ${name})"; ${script}`], {
    encoding: 'utf8',
    timeout: 120_000,
  });
}

function parseEnv(out: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of out.trim().split('\n')) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line);
    expect(m, `not an export line: ${line}`).not.toBeNull();
    env[m![1]!] = m![2]!.replace(/^'(.*)'(:"\$PATH")?$/, '$1');
  }
  return env;
}

function netnsOf(name: string): string[] {
  return readdirSync('/run/netns').filter((n) => n.startsWith(`${name}-`));
}

/** The lab's own links or addresses showing up in the root netns (must never happen). */
function labTracesInRootNetns(): string[] {
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '');
  const addrs = execFileSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' }).split('\n').filter((l) => / 172\.30\./.test(l));
  return [...links.filter((l) => /^(vcp|vnode\d+)$/.test(l)), ...addrs];
}

const pidsOf: Record<string, number[]> = {};

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit', cwd: root });
  // Builds the upstream binaries on the first run (long), answers from its cache afterwards.
  execFileSync('bash', [join(root, 'lab', 'build-upstream.sh')], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 3_600_000 });
});

afterAll(() => {
  lab(['down', '--name', labA]);
  lab(['down', '--name', labB]);
});

describe('cilium-lab', () => {
  it(`up --nodes 2 starts the control plane${withKubelet ? ' and registers both Nodes' : ''}`, () => {
    const r = lab(['up', '--name', labA, '--nodes', '2', ...(withKubelet ? [] : ['--no-kubelets'])]);
    expect(r.status, r.stderr).toBe(0);
    const st = JSON.parse(labOk(['status', '--name', labA, '--json'])) as {
      healthy: boolean;
      processes: Array<{ role: string; pid: number; alive: boolean }>;
      nodes: Array<{ name: string; ip: string }>;
    };
    expect(st.healthy).toBe(true);
    expect(st.processes.map((p) => p.role)).toEqual(expect.arrayContaining(['etcd', 'kube-apiserver', 'forwarder', 'kube-controller-manager', 'kube-scheduler', 'coredns']));
    expect(st.nodes.map((n) => n.name)).toEqual(['node1', 'node2']);
    pidsOf[labA] = st.processes.map((p) => p.pid);
    expect(netnsOf(labA).sort()).toEqual([`${labA}-cp`, `${labA}-node1`, `${labA}-node2`, `${labA}-ul`]);
    // Nothing of the lab in the root netns: links and addresses live in the lab's own netns.
    expect(labTracesInRootNetns()).toEqual([]);
  });

  it('refuses a second up of a live lab', () => {
    const r = lab(['up', '--name', labA, '--nodes', '1']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/already up/);
  });

  it('env prints export lines that kubectl can use', () => {
    const env = parseEnv(labOk(['env', '--name', labA]));
    expect(Object.keys(env).sort()).toEqual(['KUBECONFIG', 'LAB_API_HOST', 'LAB_API_PORT', 'LAB_NAME', 'PATH']);
    expect(env.LAB_API_HOST).toMatch(/^172\.30\.\d+\.2$/);
    expect(env.LAB_API_PORT).toBe('6443');
    expect(readFileSync(env.KUBECONFIG!, 'utf8')).toMatch(/server: https:\/\/127\.0\.0\.1:\d+/);
    expect(inEnv(labA, 'command -v kubectl; command -v helm')).toMatch(/kubectl\n.*helm/);
    const ns = inEnv(labA, 'kubectl get ns -o name');
    expect(ns).toMatch(/namespace\/default/);
    expect(ns).toMatch(/namespace\/kube-system/);
    if (withKubelet) {
      const nodes = inEnv(labA, 'kubectl get nodes -o jsonpath="{range .items[*]}{.metadata.name}={.status.addresses[?(@.type==\\"InternalIP\\")].address} {end}"');
      expect(nodes).toMatch(new RegExp(`node1=172\\.30\\.\\d+\\.11`));
      expect(nodes).toMatch(new RegExp(`node2=172\\.30\\.\\d+\\.12`));
    }
  });

  it('stores and returns a ConfigMap, issues service-account tokens the apiserver accepts', () => {
    const v = `value-${suffix}`;
    expect(inEnv(labA, `kubectl create configmap labtest --from-literal=k=${v} >/dev/null && kubectl get configmap labtest -o jsonpath='{.data.k}'`)).toBe(v);
    // kube-controller-manager made the default ServiceAccount; a token for it passes a TokenReview.
    const review = inEnv(
      labA,
      `TOKEN=$(kubectl create token default); printf '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"%s"}}' "$TOKEN" | kubectl create -o json -f -`,
    );
    const status = (JSON.parse(review) as { status: { authenticated?: boolean; user?: { username?: string } } }).status;
    expect(status.authenticated).toBe(true);
    expect(status.user?.username).toBe('system:serviceaccount:default:default');
    expect(inEnv(labA, `kubectl get svc -n kube-system kube-dns -o jsonpath='{.spec.clusterIP}'`)).toBe('10.96.0.10');
  });

  it('exec runs in the node netns; nodes reach the apiserver and CoreDNS on the underlay', () => {
    const env = parseEnv(labOk(['env', '--name', labA]));
    const addr = labOk(['exec', '--name', labA, 'node1', '--', 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
    expect(addr).toMatch(/inet 172\.30\.\d+\.11\/24/);
    const kcfg = join('/run/cilium-lab', labA, 'admin-underlay.kubeconfig');
    const kubectl = join(inEnv(labA, 'dirname "$(command -v kubectl)"').trim(), 'kubectl');
    expect(labOk(['exec', '--name', labA, 'node2', '--', kubectl, '--kubeconfig', kcfg, 'get', '--raw', '/readyz'])).toBe('ok');
    const resolve = `const r=new (require('dns').promises.Resolver)();r.setServers(['${env.LAB_API_HOST}']);r.resolve4('kubernetes.default.svc.cluster.local').then(a=>console.log(a.join(',')),e=>{console.error(e.message);process.exit(1)})`;
    expect(labOk(['exec', '--name', labA, 'node1', '--', process.execPath, '-e', resolve]).trim()).toBe('10.96.0.1');
    expect(readFileSync(join('/run/cilium-lab', labA, 'resolv.conf'), 'utf8')).toBe(`nameserver ${env.LAB_API_HOST}\nsearch svc.cluster.local cluster.local\noptions ndots:5\n`);
    // The exit code of the command comes back.
    expect(lab(['exec', '--name', labA, 'node1', '--', 'sh', '-c', 'exit 7']).status).toBe(7);
    expect(lab(['exec', '--name', labA, 'node9', '--', 'true']).stderr).toMatch(/no node "node9"/);
  });

  it('the forwarder listens in the root netns and connects from inside the cp netns', async () => {
    const st = JSON.parse(labOk(['status', '--name', labA, '--json'])) as { processes: Array<{ role: string; pid: number }>; hostApi: string };
    const fwd = st.processes.find((p) => p.role === 'forwarder')!;
    // Its main thread (which makes the outgoing sockets) is in the cp netns; the process started in ours.
    expect(statSync(`/proc/${fwd.pid}/task/${fwd.pid}/ns/net`).ino).toBe(statSync(`/run/netns/${labA}-cp`).ino);
    expect(readlinkSync(`/proc/${fwd.pid}/task/${fwd.pid}/ns/net`)).not.toBe(readlinkSync('/proc/self/ns/net'));
    // A connection through its loopback port shows up in the cp netns's socket table as the forwarder's
    // own socket (172.30.n.2 -> 172.30.n.2:6443). (Never probe the cp address from the root netns: there
    // it would follow the default route out of the machine.)
    const port = Number(new URL(st.hostApi).port);
    const held = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => { held.on('connect', () => resolve()); held.on('error', reject); });
    try {
      let ss = '';
      for (let i = 0; i < 20 && !ss.includes(`pid=${fwd.pid},`); i++) {
        ss = labOk(['exec', '--name', labA, 'cp', '--', 'ss', '-tnpH', 'state', 'established', 'dport', '=', ':6443']);
        if (!ss.includes(`pid=${fwd.pid},`)) await new Promise((r) => setTimeout(r, 100));
      }
      expect(ss).toMatch(new RegExp(`172\\.30\\.\\d+\\.2:\\d+\\s+172\\.30\\.\\d+\\.2:6443.*pid=${fwd.pid},`));
    } finally {
      held.destroy();
    }
    expect(inEnv(labA, 'kubectl get --raw /readyz')).toBe('ok');
  });

  it.runIf(withKubelet)('exec into pods: a hostNetwork pod runs in its node netns, a pod in the netns its kubelet recorded', () => {
    // A CNI for this test only (the reference bridge plugin, state inside the lab dir); the chart installs cilium-cni later.
    const plugins = execFileSync('bash', [join(root, 'scripts', 'build-go-tools.sh')], { encoding: 'utf8' }).trim().split('\n').pop()!;
    const nodeDir = join('/run/cilium-lab', labA, 'nodes', 'node1');
    for (const p of ['bridge', 'host-local', 'loopback']) copyFileSync(join(plugins, p), join(nodeDir, 'cni', 'bin', p));
    writeFileSync(
      join(nodeDir, 'cni', 'net.d', '10-labtest.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'labtest',
        plugins: [{ type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: false, ipam: { type: 'host-local', dataDir: join(nodeDir, 'ipam'), ranges: [[{ subnet: '10.244.1.0/24' }]] } }],
      }),
    );
    const pod = (name: string, node: string, hostNetwork: boolean): string =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default' },
        spec: { hostNetwork, nodeName: node, tolerations: [{ operator: 'Exists' }], terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'quay.io/cilium/alpine-curl', command: ['sleep', '3600'] }] },
      });
    inEnv(labA, `echo '${pod('hn', 'node2', true)}' | kubectl create -f - >/dev/null; echo '${pod('pn', 'node1', false)}' | kubectl create -f - >/dev/null`);
    inEnv(labA, 'kubectl wait --for=condition=Ready pod/hn pod/pn --timeout=90s >/dev/null');
    expect(labOk(['exec', '--name', labA, 'default/hn', '--', 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).toMatch(/inet 172\.30\.\d+\.12\//);
    const podIp = inEnv(labA, "kubectl get pod pn -o jsonpath='{.status.podIP}'");
    expect(podIp).toMatch(/^10\.244\.1\.\d+$/);
    expect(labOk(['exec', '--name', labA, 'default/pn', '--', 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).toContain(`inet ${podIp}/24`);
    expect(netnsOf(labA).some((n) => n.startsWith(`${labA}-node1-`))).toBe(true);
    // Like kubectl exec: the pod's own /etc/resolv.conf (CoreDNS on the cp address) and hostname.
    const env = parseEnv(labOk(['env', '--name', labA]));
    const resolv = labOk(['exec', '--name', labA, 'default/pn', '--', 'cat', '/etc/resolv.conf']);
    expect(resolv).toContain(`nameserver ${env.LAB_API_HOST}`);
    expect(resolv).toMatch(/search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local/);
    expect(labOk(['exec', '--name', labA, 'default/pn', '--', 'hostname']).trim()).toBe('pn');
    expect(labOk(['exec', '--name', labA, '--net-only', 'default/pn', '--', 'cat', '/etc/resolv.conf'])).not.toContain('default.svc.cluster.local');
  });

  it('runs a second lab side by side, apart from the first', () => {
    const r = lab(['up', '--name', labB, '--nodes', '1', ...(withKubelet ? [] : ['--no-kubelets'])]);
    expect(r.status, r.stderr).toBe(0);
    const a = parseEnv(labOk(['env', '--name', labA]));
    const b = parseEnv(labOk(['env', '--name', labB]));
    expect(b.LAB_API_HOST).not.toBe(a.LAB_API_HOST);
    expect(b.KUBECONFIG).not.toBe(a.KUBECONFIG);
    inEnv(labB, `kubectl create namespace only-in-b-${suffix} >/dev/null`);
    expect(inEnv(labB, 'kubectl get ns -o name')).toMatch(`only-in-b-${suffix}`);
    expect(inEnv(labA, 'kubectl get ns -o name')).not.toMatch(`only-in-b-${suffix}`);
    const st = JSON.parse(labOk(['status', '--name', labB, '--json'])) as { processes: Array<{ pid: number }> };
    pidsOf[labB] = st.processes.map((p) => p.pid);
  });

  it('up replaces a dead leftover of the same name', () => {
    const before = JSON.parse(labOk(['status', '--name', labB, '--json'])) as { processes: Array<{ role: string; pid: number }> };
    const api = before.processes.find((p) => p.role === 'kube-apiserver')!;
    process.kill(api.pid, 'SIGKILL');
    expect(lab(['status', '--name', labB]).status).toBe(1);
    const r = lab(['up', '--name', labB, '--nodes', '1', ...(withKubelet ? [] : ['--no-kubelets'])]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/dead leftover/);
    // The old processes are gone, the new lab answers.
    for (const p of before.processes) expect(existsSync(`/proc/${p.pid}`) && !/\) Z /.test(readFileSync(`/proc/${p.pid}/stat`, 'utf8'))).toBe(false);
    expect(inEnv(labB, 'kubectl get --raw /readyz')).toBe('ok');
    const st = JSON.parse(labOk(['status', '--name', labB, '--json'])) as { processes: Array<{ pid: number }> };
    pidsOf[labB] = st.processes.map((p) => p.pid);
  });

  it('down removes netns, links, processes, mounts, dirs and index claims; a second down is a no-op', () => {
    for (const name of [labA, labB]) {
      labOk(['down', '--name', name]);
      expect(netnsOf(name)).toEqual([]);
      expect(existsSync(join('/run/cilium-lab', name))).toBe(false);
      for (const pid of pidsOf[name] ?? []) expect(existsSync(`/proc/${pid}`) && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))).toBe(false);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toMatch(new RegExp(`/run/cilium-lab/${name}|/run/netns/${name}-`));
      for (const claim of existsSync('/run/cilium-lab/.index') ? readdirSync('/run/cilium-lab/.index') : []) {
        expect(readFileSync(join('/run/cilium-lab/.index', claim), 'utf8').trim()).not.toBe(name);
      }
      for (const h of readdirSync('/sys/fs/cgroup')) expect(existsSync(join('/sys/fs/cgroup', h, 'cilium-lab', name))).toBe(false);
      const again = lab(['down', '--name', name]);
      expect(again.status).toBe(0);
      expect(again.stderr).toMatch(/nothing to remove/);
    }
    expect(labTracesInRootNetns()).toEqual([]);
  });
});
