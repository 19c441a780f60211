// Hubble Relay and Hubble UI on a 2-node lab: `helm install` (values-lab.yaml), then the install guide's
// `helm upgrade --reuse-values --set hubble.relay.enabled=true --set hubble.ui.enabled=true`. Checks that
// every agent serves Hubble on TCP :4244 with peer.Peer listing both nodes (a relay run by the test in
// node1's netns, pointed at node1's peer service, connects to both agents), that the chart's hubble-relay
// and hubble-ui pods become Ready, their Services exist, `cilium status` says `Hubble Relay: OK`, and the
// UI answers /healthz, / and /api/status on its pod IP (from its node's netns), the relay its gRPC health
// check. Without a service load-balancer in the datapath yet, the chart's relay cannot reach the
// `hubble-peer` ClusterIP: it must keep running (and retrying), which is what is checked for it.
// Needs root, bin/ and the upstream binaries (lab/build-upstream.sh).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState } from '../src/state.js';

const root = join(import.meta.dirname, '..', '..');
const labBin = join(root, 'bin', 'cilium-lab');
const hubbleBin = join(root, 'bin', 'hubble');
const relayBin = join(root, 'bin', 'hubble-relay');
const labName = `hr${Math.random().toString(36).slice(2, 8).replace(/[0-9]/g, 'x')}`;
let upstreamBin = '';
let env: NodeJS.ProcessEnv = {};
let up = false;
let installed = false;
let testRelay: ChildProcess | undefined;

interface Obj {
  metadata: { name: string; namespace?: string; deletionTimestamp?: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

function lab(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [labBin, ...args], { encoding: 'utf8', timeout: 900_000, maxBuffer: 64 << 20 });
}

function run(cmd: string, args: string[], o: { allowFail?: boolean; timeoutMs?: number } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, timeout: o.timeoutMs ?? 300_000, maxBuffer: 64 << 20, cwd: root });
  if (!o.allowFail && r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}\n${r.stdout}`);
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const kubectl = (...args: string[]) => run(join(upstreamBin, 'kubectl'), args).stdout;
const getJson = <T = Obj>(...args: string[]): T => JSON.parse(kubectl('get', '-o', 'json', ...args)) as T;
const ready = (p: Obj | undefined) => ((p?.status?.['conditions'] as Array<{ type: string; status: string }> | undefined) ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

function containerLogs(pattern: string): string {
  const s = readState(labName);
  const out: string[] = [];
  for (const n of s?.nodes ?? []) {
    const r = spawnSync('bash', ['-c', `tail -n 12 ${n.dir}/logs/kube-system_${pattern}/*.log 2>/dev/null | cut -c1-400`], { encoding: 'utf8' });
    if (r.stdout.trim()) out.push(`--- ${n.name} ---\n${r.stdout}`);
  }
  return out.join('\n');
}

async function waitFor<T>(what: string, fn: () => T | undefined | false, timeoutMs = 240_000, logs = 'cilium-*'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}\n${containerLogs(logs)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function podsReady(selector: string, want: number): Obj[] | undefined {
  const l = getJson<{ items: Obj[] }>('pods', '-n', 'kube-system', '-l', selector);
  const live = l.items.filter((p) => p.metadata.deletionTimestamp === undefined);
  return live.length === want && live.every(ready) ? live : undefined;
}

function netnsOf(node: string): string {
  const n = readState(labName)?.nodes.find((x) => x.name === node);
  if (!n) throw new Error(`no node ${node} in lab ${labName}`);
  return n.netns.startsWith('/') ? n.netns : `/run/netns/${n.netns}`;
}

/** bin/hubble in a node's netns. */
function hubbleIn(node: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  return lab(['exec', '--name', labName, node, '--', process.execPath, hubbleBin, ...args]);
}

/** curl in a node's netns: body and HTTP code. */
function curlIn(node: string, url: string): { code: string; body: string } {
  const r = lab(['exec', '--name', labName, node, '--', 'curl', '-sS', '--max-time', '15', '-o', '-', '-w', '\n%{http_code}', url]);
  const lines = r.stdout.split('\n');
  const code = lines.pop() ?? '';
  return { code, body: lines.join('\n') + (r.status !== 0 ? r.stderr : '') };
}

beforeAll(async () => {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit', cwd: root });
  const out = execFileSync('bash', [join(root, 'lab', 'build-upstream.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 3_600_000 });
  upstreamBin = out.trim().split('\n').pop() ?? '';
  const r = lab(['up', '--name', labName, '--nodes', '2']);
  if (r.status !== 0) throw new Error(`cilium-lab up: ${r.stderr}\n${r.stdout}`);
  up = true;
  const e = lab(['env', '--name', labName]);
  env = { ...process.env };
  for (const m of e.stdout.matchAll(/^export (KUBECONFIG|LAB_[A-Z_]+)='([^']*)'$/gm)) env[m[1] ?? ''] = m[2] ?? '';
  expect(env['KUBECONFIG']).toBeTruthy();
}, 3_600_000);

afterAll(async () => {
  const p = testRelay;
  if (p?.pid !== undefined && p.exitCode === null && p.signalCode === null) {
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await gone;
  }
  if (installed) run(join(upstreamBin, 'helm'), ['delete', 'cilium', '-n', 'kube-system'], { allowFail: true });
  if (up) lab(['down', '--name', labName]);
}, 300_000);

describe('Hubble Relay and UI on a 2-node lab', () => {
  it('helm install: agents Ready, each serving Hubble on TCP :4244', async () => {
    run(join(upstreamBin, 'helm'), [
      'install', 'cilium', join(root, 'install/kubernetes/cilium'), '-n', 'kube-system', '-f', join(root, 'install/kubernetes/values-lab.yaml'),
      '--set', `k8sServiceHost=${env['LAB_API_HOST']}`, '--set', `k8sServicePort=${env['LAB_API_PORT']}`,
    ]);
    installed = true;
    await waitFor('2 agent pods Ready', () => podsReady('k8s-app=cilium', 2));
    await waitFor('2 operator pods Ready', () => podsReady('name=cilium-operator', 2));
    expect(kubectl('-n', 'kube-system', 'get', 'configmap', 'cilium-config', '-o', 'jsonpath={.data.hubble-listen-address}')).toBe(':4244');
    for (const node of ['node1', 'node2']) {
      const r = await waitFor(`hubble status on ${node}:4244`, () => {
        const x = hubbleIn(node, ['status', '--server', '127.0.0.1:4244']);
        return x.status === 0 ? x : undefined;
      }, 120_000);
      expect(r.stdout).toContain('Healthcheck (via 127.0.0.1:4244): Ok');
    }
  });

  it("node1's peer service lists both agents: a relay pointed at it connects to both", async () => {
    const s = readState(labName)!;
    const node1 = s.nodes.find((n) => n.name === 'node1')!;
    // nsenter exec()s node: the pid is the relay's (killed in afterAll)
    testRelay = spawn('nsenter', [`--net=${netnsOf('node1')}`, process.execPath, relayBin, 'serve', '--peer-service', `${node1.ip}:4244`, '--listen-address', '127.0.0.1:34245', '--retry-timeout', '1s', '--dial-timeout', '3s'], { stdio: 'ignore' });
    const st = await waitFor('the test relay: 2 connected nodes', () => {
      const x = hubbleIn('node1', ['status', '--server', '127.0.0.1:34245', '-o', 'json']);
      if (x.status !== 0) return undefined;
      const j = JSON.parse(x.stdout) as { num_connected_nodes?: number };
      return j.num_connected_nodes === 2 ? j : undefined;
    }, 120_000);
    expect(st.num_connected_nodes).toBe(2);
  });

  it('helm upgrade --reuse-values enables Relay and UI: pods Ready, Services there, cilium status OK', async () => {
    run(join(upstreamBin, 'helm'), ['upgrade', 'cilium', join(root, 'install/kubernetes/cilium'), '-n', 'kube-system', '--reuse-values', '--set', 'hubble.relay.enabled=true', '--set', 'hubble.ui.enabled=true']);
    await waitFor('hubble-relay pod Ready', () => podsReady('k8s-app=hubble-relay', 1), 300_000, 'hubble-relay-*');
    await waitFor('hubble-ui pod Ready', () => podsReady('k8s-app=hubble-ui', 1), 300_000, 'hubble-ui-*');
    const svcs = getJson<{ items: Obj[] }>('services', '-n', 'kube-system').items.map((x) => x.metadata.name);
    expect(svcs).toEqual(expect.arrayContaining(['hubble-relay', 'hubble-ui', 'hubble-peer']));
    const r = run(join(root, 'bin', 'cilium'), ['status', '--wait', '--wait-duration', '5m'], { allowFail: true, timeoutMs: 400_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/Hubble Relay:\s+OK\n/);
    expect(r.stdout).toMatch(/Deployment\s+hubble-relay\s+Desired: 1, Ready: 1\/1, Available: 1\/1/);
    expect(r.stdout).toMatch(/Deployment\s+hubble-ui\s+Desired: 1, Ready: 1\/1, Available: 1\/1/);
  });

  it('the relay pod answers gRPC health on its pod IP; the UI serves /healthz, / and /api/status', () => {
    const [relay] = podsReady('k8s-app=hubble-relay', 1) ?? [];
    const relayIp = relay?.status?.['podIP'] as string;
    const relayNode = relay?.spec?.['nodeName'] as string;
    const h = hubbleIn(relayNode, ['status', '--server', `${relayIp}:4245`]);
    expect(h.stdout + h.stderr).toContain(`Healthcheck (via ${relayIp}:4245): Ok`);

    const [ui] = podsReady('k8s-app=hubble-ui', 1) ?? [];
    const uiIp = ui?.status?.['podIP'] as string;
    const uiNode = ui?.spec?.['nodeName'] as string;
    expect(curlIn(uiNode, `http://${uiIp}:8081/healthz`)).toEqual({ code: '200', body: 'ok\n' });
    const page = curlIn(uiNode, `http://${uiIp}:8081/`);
    expect(page.code).toBe('200');
    expect(page.body).toContain('<title>Hubble UI</title>');
    expect(page.body).toContain("getJson('api/flows?last=200'");
    // /api is the backend container (8090) reading the relay through the hubble-relay Service: a JSON
    // status when the Service is reachable, else a JSON 502 that names the relay address
    const api = curlIn(uiNode, `http://${uiIp}:8081/api/status`);
    const body = JSON.parse(api.body) as { code?: string; message?: string; numConnectedNodes?: number };
    if (api.code === '200') expect(typeof body.numConnectedNodes).toBe('number');
    else {
      expect(api.code).toBe('502');
      expect(body.code).toBe('UI_RELAY_UNAVAILABLE');
      expect(body.message).toContain('hubble-relay:80');
    }
  });
});
