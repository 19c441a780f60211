// cilium-agent in Kubernetes mode, installed by the chart on a 2-node lab: `helm install` with
// values-lab.yaml; the agents create their CiliumNodes and take the pod CIDRs the operator writes there;
// pods on both nodes get addresses from their node's CIDR and reach each other across nodes (VXLAN tunnel,
// then native routing after `helm upgrade --set routingMode=native`); every pod has a CiliumEndpoint with
// its `k8s:` labels; /healthz on agent-health-port and `cilium status` are OK; an apiserver restart is
// survived without rewriting unchanged CiliumEndpoints; an agent restart (both agent pods replaced) keeps an
// open cross-node TCP connection and new ones work; `helm delete`. Needs root, bin/ and the upstream
// binaries (lab/build-upstream.sh).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnDetached, stopProcess } from '../src/processes.js';
import { readState, writeState } from '../src/state.js';
import { LabCluster, REPO, isReady, type Obj } from './lib/lab-cluster.js';

const c = new LabCluster('ak');
const root = REPO;
const labName = c.name;
const { lab, run, kubectl, getJson, tryJson } = c;
const waitFor = <T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 240_000): Promise<T> => c.waitFor(what, fn, timeoutMs);
const ready = isReady;
const podsReady = (selector: string, want: number): Obj[] | undefined => c.podsReady(selector, want);

function inCidr(ip: string, cidr: string): boolean {
  const [base = '', bits = '32'] = cidr.split('/');
  const n = (s: string) => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  return Math.floor(n(ip) / size) === Math.floor(n(base) / size);
}

function createPod(name: string, node: string, spec: Record<string, unknown>, labels: Record<string, string>): void {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels }, spec: { nodeName: node, terminationGracePeriodSeconds: 2, ...spec } };
  c.apply(pod);
}

const echoSpec = { containers: [{ name: 'echo', image: 'quay.io/cilium/json-mock:v1.3.8', ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 } }] };
const clientSpec = { containers: [{ name: 'c', image: 'quay.io/cilium/alpine-curl:v1.10.0', command: ['sh', '-c', 'sleep 3600'] }] };

/** Pod name -> its netns (annotation of the lab kubelet), kept so that curl works while the apiserver is down. */
const podNetns = new Map<string, string>();

async function readyPod(name: string): Promise<Obj> {
  const p = await waitFor(`pod ${name} Ready`, () => {
    const p = tryJson('pod', name, '-n', 'default');
    return ready(p) ? p : undefined;
  });
  const ns = p.metadata.annotations?.['lab.cilium-ts.io/netns'];
  if (ns) podNetns.set(name, ns);
  return p;
}

function curlFrom(pod: string, url: string): string {
  const ns = podNetns.get(pod);
  if (!ns) throw new Error(`no netns known for pod ${pod}`);
  const r = spawnSync('nsenter', [`--net=${ns}`, 'curl', '-sS', '--max-time', '5', url], { encoding: 'utf8', timeout: 30_000 });
  return `${r.stdout}${r.stderr}`;
}

function ciliumNodeCidrs(): Map<string, string> {
  const l = getJson<{ items: Obj[] }>('ciliumnodes');
  return new Map(l.items.map((cn) => [cn.metadata.name, ((cn.spec?.['ipam'] as { podCIDRs?: string[] } | undefined)?.podCIDRs ?? [])[0] ?? '']));
}

/** GET /healthz on 127.0.0.1:9879 in a node's netns (as the chart's probes). */
function healthz(node: string): { code: string; body: string } {
  const r = lab(['exec', '--name', labName, node, '--', 'curl', '-sS', '-H', 'brief: true', '-o', '-', '-w', '\n%{http_code}', 'http://127.0.0.1:9879/healthz']);
  const lines = r.stdout.trim().split('\n');
  return { code: lines.pop() ?? '', body: lines.join('\n') };
}

function agentApi(node: string, path: string): Record<string, unknown> {
  const n = readState(labName)?.nodes.find((x) => x.name === node);
  const r = lab(['exec', '--name', labName, node, '--', 'curl', '-sS', '--unix-socket', `${n?.dir}/run-cilium/cilium.sock`, `http://localhost${path}`]);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

beforeAll(() => c.up(2));

afterAll(() => c.down());

describe('cilium-agent in Kubernetes mode (chart on a 2-node lab)', () => {
  const ips = new Map<string, string>();

  it('helm install: agents and operators Ready, one CiliumNode per node with distinct CIDRs', async () => {
    c.helmInstall();
    await waitFor('2 agent pods Ready', () => podsReady('k8s-app=cilium', 2));
    await waitFor('2 operator pods Ready', () => podsReady('name=cilium-operator', 2));
    const cidrs = await waitFor('both CiliumNodes with a pod CIDR', () => {
      const m = ciliumNodeCidrs();
      return m.size === 2 && [...m.values()].every(Boolean) ? m : undefined;
    });
    expect(new Set(cidrs.values()).size).toBe(2);
    for (const cidr of cidrs.values()) expect(inCidr(cidr.split('/')[0] ?? '', '10.244.0.0/16') && cidr.endsWith('/24')).toBe(true);
    const state = readState(labName);
    for (const n of state?.nodes ?? []) {
      const cn = getJson('ciliumnode', n.name);
      expect(cn.spec?.['addresses']).toEqual([{ type: 'InternalIP', ip: n.ip }]);
      expect(cn.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Node', name: n.name });
    }
    // the pod CIDR the agent uses is its CiliumNode's
    const cfg = agentApi('node1', '/v1/config') as { status: { addressing: { ipv4: { 'alloc-range': string } } } };
    expect(cfg.status.addressing.ipv4['alloc-range']).toBe(cidrs.get('node1'));
  });

  it('/healthz (the probes) and /v1/healthz (kube-proxy-replacement, Kubernetes caches)', () => {
    for (const node of ['node1', 'node2']) {
      const h = healthz(node);
      expect(h.code).toBe('200');
      expect(JSON.parse(h.body)).toMatchObject({ state: 'Ok' });
    }
    const st = agentApi('node2', '/v1/healthz');
    expect(st['kube-proxy-replacement']).toMatchObject({ mode: 'true' });
    expect(st['kubernetes']).toMatchObject({ state: 'Ok', synced: true });
  });

  it('pods on both nodes get addresses from their node CIDR and reach each other across nodes (tunnel)', async () => {
    createPod('echo1', 'node1', echoSpec, { app: 'echo', side: 'one' });
    createPod('echo2', 'node2', echoSpec, { app: 'echo', side: 'two' });
    createPod('client1', 'node1', clientSpec, { app: 'client' });
    createPod('client2', 'node2', clientSpec, { app: 'client' });
    const cidrs = ciliumNodeCidrs();
    for (const name of ['echo1', 'echo2', 'client1', 'client2']) {
      const p = await readyPod(name);
      const ip = p.status?.['podIP'] as string;
      ips.set(name, ip);
      expect(inCidr(ip, cidrs.get(p.spec?.['nodeName'] as string) ?? ''), `${name} ${ip}`).toBe(true);
    }
    expect(curlFrom('client2', `http://${ips.get('echo1')}:8080/public`)).toContain('public information');
    expect(curlFrom('client1', `http://${ips.get('echo2')}:8080/public`)).toContain('public information');
  });

  it('a CiliumEndpoint per pod: addressing, endpoint id, identity labels, owned by the pod', async () => {
    for (const name of ['echo1', 'echo2', 'client1', 'client2']) {
      const cep = await waitFor<Obj>(`CiliumEndpoint ${name}`, () => tryJson('ciliumendpoint', name, '-n', 'default'));
      const pod = getJson('pod', name, '-n', 'default');
      expect(cep.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Pod', name, uid: pod.metadata.uid });
      const st = cep.status as { id: number; identity: { id: number; labels: string[] }; networking: { addressing: Array<{ ipv4: string }>; node: string }; state: string };
      expect(st.networking.addressing).toEqual([{ ipv4: ips.get(name) }]);
      expect(st.id).toBeGreaterThan(0);
      expect(st.state).toBe('ready');
      expect(st.identity.id).toBe(0);
      expect(st.identity.labels).toContain(`k8s:app=${name.startsWith('echo') ? 'echo' : 'client'}`);
      expect(st.identity.labels).toContain('k8s:io.kubernetes.pod.namespace=default');
    }
    // the agent's endpoint carries the pod's labels too
    const eps = agentApi('node1', '/v1/endpoint') as unknown as Array<{ status: { identity: { labels: string[] }; 'external-identifiers': { 'pod-name'?: string } } }>;
    const echo1 = eps.find((e) => e.status['external-identifiers']['pod-name'] === 'default/echo1');
    expect(echo1?.status.identity.labels).toContain('k8s:side=one');
  });

  it('cilium status is OK', () => {
    const r = run(join(root, 'bin', 'cilium'), ['status', '--wait'], { allowFail: true, timeoutMs: 300_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/Cilium:\s+OK/);
    expect(r.stdout).toMatch(/DaemonSet\s+cilium\s+Desired: 2, Ready: 2\/2, Available: 2\/2/);
    expect(r.stdout).toMatch(/KubeProxyReplacement:\s+True\s+\[NodePort \(SNAT, 30000-32767, Random\), HostPort, ExternalIPs, SocketLB, SessionAffinity\]/);
  });

  it('survives an apiserver restart: keeps working, new pods get CiliumEndpoints, unchanged ones are not rewritten', async () => {
    const rv = (name: string) => getJson('ciliumendpoint', name, '-n', 'default').metadata.resourceVersion;
    const before = new Map(['echo1', 'echo2', 'client1', 'client2'].map((n) => [n, rv(n)]));
    const restartsBefore = getJson<{ items: Obj[] }>('pods', '-n', 'kube-system', '-l', 'k8s-app=cilium').items.map((p) => p.metadata.name);

    const state = readState(labName);
    if (!state) throw new Error('no lab state');
    const idx = state.processes.findIndex((p) => p.role === 'kube-apiserver');
    const rec = state.processes[idx];
    if (!rec) throw new Error('no kube-apiserver in the lab state');
    await stopProcess(rec);
    // the datapath does not need the apiserver
    expect(curlFrom('client2', `http://${ips.get('echo1')}:8080/public`)).toContain('public information');
    await new Promise((r) => setTimeout(r, 3000));
    const again = spawnDetached({ role: rec.role, argv: rec.argv, log: rec.log, ...(rec.netns !== undefined ? { netns: rec.netns } : {}) });
    state.processes[idx] = again;
    writeState(state);
    await waitFor('the apiserver back', () => run(join(c.upstreamBin, 'kubectl'), ['get', '--raw', '/readyz'], { allowFail: true }).status === 0 || undefined);

    createPod('late1', 'node1', clientSpec, { app: 'late' });
    const late = await readyPod('late1');
    const cep = await waitFor<Obj>('CiliumEndpoint late1', () => tryJson('ciliumendpoint', 'late1', '-n', 'default'));
    expect((cep.status as { networking: { addressing: Array<{ ipv4: string }> } }).networking.addressing).toEqual([{ ipv4: late.status?.['podIP'] }]);
    expect(curlFrom('late1', `http://${ips.get('echo2')}:8080/public`)).toContain('public information');
    for (const [n, v] of before) expect(rv(n), `CiliumEndpoint ${n} rewritten`).toBe(v);
    // the agents were not restarted (same pods, no container restarts)
    const agents = getJson<{ items: Obj[] }>('pods', '-n', 'kube-system', '-l', 'k8s-app=cilium').items;
    expect(agents.map((p) => p.metadata.name).sort()).toEqual([...restartsBefore].sort());
    for (const p of agents) {
      const cs = (p.status?.['containerStatuses'] as Array<{ restartCount: number }> | undefined) ?? [];
      expect(cs.every((c) => c.restartCount === 0)).toBe(true);
    }
    for (const node of ['node1', 'node2']) expect(healthz(node).code).toBe('200');
  });

  it('an agent restart keeps cross-node traffic: an open TCP connection carries on, new connections work', async () => {
    // One keep-alive HTTP connection from client1 (node1) to echo2 (node2), a request every 100 ms, for as long
    // as both agents are replaced (pods deleted; the DaemonSet starts new ones).
    const ns = podNetns.get('client1');
    if (!ns) throw new Error('no netns for client1');
    const script = `
      const http = require('node:http');
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      let sockets = 0, ok = 0, failed = 0, stop = false;
      agent.on('free', () => {});
      const origCreate = agent.createConnection.bind(agent);
      agent.createConnection = (...a) => { sockets++; return origCreate(...a); };
      process.stdin.on('data', () => { stop = true; });
      process.stdin.on('end', () => { stop = true; });
      (async () => {
        while (!stop) {
          await new Promise((res) => {
            const req = http.get({ host: '${ips.get('echo2')}', port: 8080, path: '/public', agent, timeout: 3000 }, (r) => {
              r.resume(); r.on('end', () => { if (r.statusCode === 200) ok++; else failed++; res(); });
            });
            req.on('timeout', () => req.destroy(new Error('timeout')));
            req.on('error', () => { failed++; res(); });
          });
          await new Promise((r) => setTimeout(r, 100));
        }
        console.log(JSON.stringify({ sockets, ok, failed }));
        process.exit(0);
      })();`;
    const { spawn } = await import('node:child_process');
    const child = spawn('nsenter', [`--net=${ns}`, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<void>((r) => child.on('exit', () => r()));
    try {
      await new Promise((r) => setTimeout(r, 2000));
      const old = getJson<{ items: Obj[] }>('pods', '-n', 'kube-system', '-l', 'k8s-app=cilium').items.map((p) => p.metadata.name);
      expect(old).toHaveLength(2);
      kubectl('delete', 'pod', '-n', 'kube-system', ...old, '--wait=true');
      await waitFor('2 new agent pods Ready', () => {
        const live = podsReady('k8s-app=cilium', 2);
        return live && live.every((p) => !old.includes(p.metadata.name)) ? live : undefined;
      });
      for (const node of ['node1', 'node2']) expect(healthz(node).code).toBe('200');
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      child.stdin.end();
      await done;
    }
    const res = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { sockets: number; ok: number; failed: number };
    expect(res.failed, out).toBe(0);
    expect(res.ok).toBeGreaterThan(10);
    expect(res.sockets, 'the connection was re-opened').toBe(1);
    // the restarted agents restored their endpoints: new connections both ways, and a new pod is wired
    expect(curlFrom('client2', `http://${ips.get('echo1')}:8080/public`)).toContain('public information');
    expect(curlFrom('client1', `http://${ips.get('echo2')}:8080/public`)).toContain('public information');
    const eps = agentApi('node1', '/v1/endpoint') as unknown as Array<{ status: { 'external-identifiers': { 'pod-name'?: string } } }>;
    expect(eps.map((e) => e.status['external-identifiers']['pod-name'])).toEqual(expect.arrayContaining(['default/echo1', 'default/client1']));
  });

  it('helm upgrade --set routingMode=native: agents roll, pods keep their addresses, cross-node traffic is routed', async () => {
    c.helm(['upgrade', 'cilium', join(root, 'install/kubernetes/cilium'), '-n', 'kube-system', '--reuse-values', '--set', 'routingMode=native']);
    run(join(c.upstreamBin, 'kubectl'), ['-n', 'kube-system', 'rollout', 'status', 'ds/cilium', '--timeout=300s'], { timeoutMs: 320_000 });
    await waitFor('2 agent pods Ready', () => podsReady('k8s-app=cilium', 2));
    const cfg = agentApi('node1', '/v1/config') as { status: { 'daemon-config-map': { routingMode: string } } };
    expect(cfg.status['daemon-config-map'].routingMode).toBe('native');
    const cidrs = ciliumNodeCidrs();
    const routes = lab(['exec', '--name', labName, 'node1', '--', 'ip', '-4', 'route']).stdout;
    const n2 = readState(labName)?.nodes.find((n) => n.name === 'node2');
    expect(routes).toContain(`${cidrs.get('node2')} via ${n2?.ip}`);
    expect(curlFrom('client2', `http://${ips.get('echo1')}:8080/public`)).toContain('public information');
    expect(curlFrom('client1', `http://${ips.get('echo2')}:8080/public`)).toContain('public information');
    // a pod started under native routing
    createPod('late2', 'node2', clientSpec, { app: 'late' });
    await readyPod('late2');
    expect(curlFrom('late2', `http://${ips.get('echo1')}:8080/public`)).toContain('public information');
  });

  it('deleting a pod deletes its CiliumEndpoint; helm delete removes the install', async () => {
    kubectl('delete', 'pod', 'client1', '-n', 'default', '--wait=true');
    await waitFor('CiliumEndpoint client1 gone', () => (tryJson('ciliumendpoint', 'client1', '-n', 'default') === undefined ? true : undefined));
    c.helm(['delete', 'cilium', '-n', 'kube-system']);
    await waitFor('agent pods gone', () => (getJson<{ items: Obj[] }>('pods', '-n', 'kube-system', '-l', 'k8s-app=cilium').items.length === 0 ? true : undefined));
  });
});
