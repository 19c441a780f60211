// Hubble Relay and Hubble UI on a 2-node lab: `helm install` (values-lab.yaml), then the install guide's
// `helm upgrade --reuse-values --set hubble.relay.enabled=true --set hubble.ui.enabled=true`. Checks that
// every agent serves Hubble on TCP :4244 with peer.Peer listing both nodes (a relay run by the test in
// node1's netns, pointed at node1's peer service, connects to both agents), that the chart's hubble-relay
// and hubble-ui pods become Ready, their Services exist, `cilium status` says `Hubble Relay: OK`, and the
// UI answers /healthz, / and /api/status on its pod IP (from its node's netns), the relay its gRPC health
// check; through the ClusterIPs (kube-proxy replacement) the chart's relay follows `hubble-peer` to both
// agents and the UI backend reads the relay through the `hubble-relay` Service.
// Needs root, bin/ and the upstream binaries (lab/build-upstream.sh).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabCluster, REPO, type Obj } from './lib/lab-cluster.js';

const c = new LabCluster('hr');
const root = REPO;
const hubbleBin = join(root, 'bin', 'hubble');
const relayBin = join(root, 'bin', 'hubble-relay');
const { run, kubectl, getJson, waitFor } = c;
let testRelay: ChildProcess | undefined;
const podsReady = (selector: string, want: number): Obj[] | undefined => c.podsReady(selector, want);

/** bin/hubble in a node's netns. */
function hubbleIn(node: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  return c.exec(node, [process.execPath, hubbleBin, ...args]);
}

/** curl in a node's netns: body and HTTP code. */
function curlIn(node: string, url: string): { code: string; body: string } {
  const r = c.exec(node, ['curl', '-sS', '--max-time', '15', '-o', '-', '-w', '\n%{http_code}', url]);
  const lines = r.stdout.split('\n');
  const code = lines.pop() ?? '';
  return { code, body: lines.join('\n') + (r.status !== 0 ? r.stderr : '') };
}

beforeAll(() => c.up(2), 3_600_000);

afterAll(async () => {
  const p = testRelay;
  if (p?.pid !== undefined && p.exitCode === null && p.signalCode === null) {
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await gone;
  }
  c.down();
}, 300_000);

describe('Hubble Relay and UI on a 2-node lab', () => {
  it('helm install: agents Ready, each serving Hubble on TCP :4244', async () => {
    c.helmInstall();
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
    const node1 = c.node('node1');
    // nsenter exec()s node: the pid is the relay's (killed in afterAll)
    testRelay = spawn('nsenter', [`--net=${c.netnsPath('node1')}`, process.execPath, relayBin, 'serve', '--peer-service', `${node1.ip}:4244`, '--listen-address', '127.0.0.1:34245', '--retry-timeout', '1s', '--dial-timeout', '3s'], { stdio: 'ignore' });
    const st = await waitFor('the test relay: 2 connected nodes', () => {
      const x = hubbleIn('node1', ['status', '--server', '127.0.0.1:34245', '-o', 'json']);
      if (x.status !== 0) return undefined;
      const j = JSON.parse(x.stdout) as { num_connected_nodes?: number };
      return j.num_connected_nodes === 2 ? j : undefined;
    }, 120_000);
    expect(st.num_connected_nodes).toBe(2);
  });

  it('helm upgrade --reuse-values enables Relay and UI: pods Ready, Services there, cilium status OK', async () => {
    c.helm(['upgrade', 'cilium', join(root, 'install/kubernetes/cilium'), '-n', 'kube-system', '--reuse-values', '--set', 'hubble.relay.enabled=true', '--set', 'hubble.ui.enabled=true']);
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

  it('the relay pod answers gRPC health on its pod IP; the UI serves /healthz and /', () => {
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
  });

  it('through the Services (kube-proxy replacement): the relay follows hubble-peer to both agents, the UI reads the relay', async () => {
    const [relay] = podsReady('k8s-app=hubble-relay', 1) ?? [];
    const relayIp = relay?.status?.['podIP'] as string;
    const relayNode = relay?.spec?.['nodeName'] as string;
    const st = await waitFor('the chart\'s relay: 2 connected nodes', () => {
      const x = hubbleIn(relayNode, ['status', '--server', `${relayIp}:4245`, '-o', 'json']);
      if (x.status !== 0) return undefined;
      const j = JSON.parse(x.stdout) as { num_connected_nodes?: number };
      return j.num_connected_nodes === 2 ? j : undefined;
    }, 180_000, 'hubble-relay-*');
    expect(st.num_connected_nodes).toBe(2);
    const [ui] = podsReady('k8s-app=hubble-ui', 1) ?? [];
    const uiIp = ui?.status?.['podIP'] as string;
    const uiNode = ui?.spec?.['nodeName'] as string;
    // /api is the backend container (8090) reading the relay through the hubble-relay Service
    const api = await waitFor('the UI backend: relay status', () => {
      const a = curlIn(uiNode, `http://${uiIp}:8081/api/status`);
      return a.code === '200' ? a : undefined;
    }, 120_000, 'hubble-ui-*');
    expect((JSON.parse(api.body) as { numConnectedNodes?: number }).numConnectedNodes).toBe(2);
    const flows = curlIn(uiNode, `http://${uiIp}:8081/api/flows?last=20`);
    expect(flows.code).toBe('200');
  });
});
