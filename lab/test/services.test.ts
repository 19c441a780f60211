// Kube-proxy replacement end to end on a 2-node lab (no kube-proxy anywhere): the chart installed with
// kubeProxyReplacement=true; a Deployment of 3 agnhost netexec backends (each answers /hostname with its pod
// name) over both nodes, client pods on both nodes. For ClusterIP, NodePort, ExternalIPs (an address of the
// lab's own underlay subnet), LoadBalancer (the IP of a CiliumLoadBalancerIPPool, assigned by the
// operator's LB-IPAM) and HostPort:
// reached from a pod on the same node, a pod on the other node and the nodes themselves (`cilium-lab exec
// <node>`, which runs in the node's cgroup2 subtree where its agent attached socket LB); connections spread
// over the backends; UDP (sendto and connected, replies from the service address); sessionAffinity ClientIP sticks; scaling the Deployment up and down changes the backends
// and an established connection to a backend that stays carries on; a Service with no endpoints is refused
// at once (curl: connection refused, not a timeout) and the drop is a Hubble flow; the nodes' iptables and
// nftables hold no service rules. Needs root, bin/ and the upstream binaries (lab/build-upstream.sh).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState } from '../src/state.js';
import { LabCluster, REPO, type Obj } from './lib/lab-cluster.js';

const c = new LabCluster('sv');
const root = REPO;
const labBin = join(root, 'bin', 'cilium-lab');
const labName = c.name;
const { lab, run, kubectl, apply, getJson } = c;
const nodeOf = c.node;
const waitFor = <T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 180_000): Promise<T> => c.waitFor(what, fn, timeoutMs);
const podsReady = (ns: string, selector: string, want: number): Obj[] | undefined => c.podsReady(selector, want, ns);

/** Runs a shell script in a lab target (node1, default/client1) through `cilium-lab exec`. */
const sh = c.sh;

/** One HTTP GET with curl from a target: { ok, body, rc, err }. */
function curl(target: string, url: string, maxTime = 5): { ok: boolean; body: string; rc: number; err: string } {
  const r = sh(target, `curl -sS --max-time ${maxTime} ${url}; echo " rc=$?"`);
  const m = /^(.*) rc=(\d+)\s*$/s.exec(r.stdout);
  const rc = m ? Number(m[2]) : -1;
  return { ok: rc === 0, body: (m?.[1] ?? r.stdout).trim(), rc, err: r.stderr.trim() };
}

/** N GETs of /hostname (a new connection each) from one target: the backends' names, '!rc' for failures. */
function hostnames(target: string, base: string, n: number): string[] {
  const r = sh(target, `for i in $(seq ${n}); do curl -sS --max-time 5 ${base}/hostname || printf '!%s' $?; echo; done`, 300_000);
  return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

/** Where each case is reached from: [label, exec target]. */
type Source = [string, string];

/**
 * From every source: waits for the first success (the agents may still be programming), then 8 more new
 * connections must all be answered by one of `backends` (a random pick must never hit a path that fails).
 * Returns the failures.
 */
async function reachAll(sources: Source[], url: string, backends: Set<string>): Promise<string[]> {
  const failures: string[] = [];
  for (const [label, target] of sources) {
    try {
      await waitFor(`${url} from ${label}`, () => {
        const r = curl(target, url);
        return r.ok && backends.has(r.body) ? r : undefined;
      }, 60_000);
    } catch {
      const r = curl(target, url);
      failures.push(`${label} (${target}) -> ${url}: never answered: rc=${r.rc} ${r.body} ${r.err}`.slice(0, 300));
      continue;
    }
    const more = sh(target, `for i in $(seq 8); do curl -sS --max-time 5 ${url} 2>/dev/null || printf '!%s' $?; echo; done`, 300_000).stdout.split('\n').map((l) => l.trim()).filter(Boolean);
    const bad = more.filter((h) => !backends.has(h));
    if (bad.length > 0 || more.length !== 8) failures.push(`${label} (${target}) -> ${url}: ${bad.length} of ${more.length} failed: ${more.join(' ')}`.slice(0, 400));
  }
  return failures;
}

function expectReached(failures: string[]): void {
  expect(failures, `unreachable:\n${failures.join('\n')}`).toEqual([]);
}

interface AgentService {
  spec: { 'frontend-address': { ip: string; port: number; protocol: string }; 'backend-addresses': Array<{ ip: string; port: number; state?: string }>; flags: { type: string; name?: string } };
}

function agentServices(node: string): AgentService[] {
  const n = nodeOf(node);
  const r = lab(['exec', '--name', labName, node, '--', 'curl', '-sS', '--unix-socket', `${n.dir}/run-cilium/cilium.sock`, 'http://localhost/v1/service']);
  return JSON.parse(r.stdout) as AgentService[];
}

function activeBackends(node: string, ip: string, port: number): string[] {
  const s = agentServices(node).find((x) => x.spec['frontend-address'].ip === ip && x.spec['frontend-address'].port === port);
  return (s?.spec['backend-addresses'] ?? []).filter((b) => (b.state ?? 'active') === 'active').map((b) => b.ip).sort();
}

const echoLabels = { app: 'svc-echo' };
const agnhost = { name: 'echo', image: 'registry.k8s.io/e2e-test-images/agnhost:2.53', args: ['netexec', '--http-port=8080', '--udp-port=8081'], ports: [{ name: 'http', containerPort: 8080 }, { name: 'udp', containerPort: 8081, protocol: 'UDP' }], readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1 } };
const clientSpec = { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'quay.io/cilium/alpine-curl:v1.10.0', command: ['sh', '-c', 'sleep 36000'] }] };

function svc(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { selector: echoLabels, ports: [{ name: 'http', port: 80, targetPort: 'http' }], ...spec } };
}

let labIndex = 0;
let node1Ip = '';
let node2Ip = '';
let backendNames = new Set<string>();
const backendNode = new Map<string, string>();
const backendsOn = (node: string): Set<string> => new Set([...backendNode].filter(([, n]) => n === node).map(([name]) => name));
const clusterIp = new Map<string, string>();
const extIp = (): string => `172.30.${labIndex}.200`;
const lbIp = (): string => `172.30.${labIndex}.201`;
const NODE_PORT = 30080;
const HOST_PORT = 18080;

beforeAll(async () => {
  await c.up(2);
  const st = readState(labName);
  labIndex = st?.index ?? 0;
  node1Ip = nodeOf('node1').ip;
  node2Ip = nodeOf('node2').ip;
});

afterAll(() => c.down());

describe('kube-proxy replacement on a 2-node lab', () => {
  const sourcesFor = (home: 'node1' | 'node2'): Source[] => {
    const other = home === 'node1' ? 'node2' : 'node1';
    return [
      ['a pod on the same node', `default/client-${home}`],
      ['a pod on the other node', `default/client-${other}`],
      ['the node itself', home],
      ['the other node', other],
    ];
  };

  it('helm install kubeProxyReplacement=true; backends on both nodes, clients on both nodes', async () => {
    c.helmInstall([
      'kubeProxyReplacement=true',
      // The lab's default, VXLAN; SERVICES_E2E_ROUTING=native runs the same cases with native routing.
      `routingMode=${process.env['SERVICES_E2E_ROUTING'] ?? 'tunnel'}`,
      // through cilium-config bpf-lb-algorithm: the agents pick backends with Maglev (socket LB hashes the
      // socket cookie, so connections still spread)
      'loadBalancer.algorithm=maglev',
      // no `devices`: the agents detect the node address's device (eth0) and attach bpf_host there, which
      // serves NodePort / ExternalIPs / LoadBalancer from other nodes
    ]);
    await waitFor('2 agent pods Ready', () => podsReady('kube-system', 'k8s-app=cilium', 2), 300_000);
    const st = JSON.parse(lab(['exec', '--name', labName, 'node1', '--', 'curl', '-sS', '--unix-socket', `${nodeOf('node1').dir}/run-cilium/cilium.sock`, 'http://localhost/v1/healthz']).stdout) as Record<string, unknown>;
    const kpr = st['kube-proxy-replacement'] as { mode?: string; features?: { nodePort?: { algorithm?: string } } } | undefined;
    expect(kpr?.mode).toBe('true');
    expect(kpr?.features?.nodePort?.algorithm).toBe('Maglev');

    c.applySpreadDeployment('svc-echo', 3, echoLabels, agnhost);
    for (const n of ['node1', 'node2']) apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `client-${n}`, namespace: 'default', labels: { app: 'svc-client' } }, spec: { nodeName: n, ...clientSpec } });
    apply({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'hostport-echo', namespace: 'default', labels: { app: 'svc-hostport' } },
      spec: { nodeName: 'node2', terminationGracePeriodSeconds: 2, containers: [{ ...agnhost, ports: [{ name: 'http', containerPort: 8080, hostPort: HOST_PORT }] }] },
    });
    const echo = await waitFor('3 backends Ready', () => podsReady('default', 'app=svc-echo', 3), 300_000);
    expect(new Set(echo.map((p) => p.spec?.['nodeName'])).size).toBe(2);
    backendNames = new Set(echo.map((p) => p.metadata.name));
    for (const p of echo) backendNode.set(p.metadata.name, p.spec?.['nodeName'] as string);
    await waitFor('clients Ready', () => podsReady('default', 'app=svc-client', 2), 300_000);
    await waitFor('hostport pod Ready', () => podsReady('default', 'app=svc-hostport', 1), 300_000);

    apply(svc('echo-cip', { type: 'ClusterIP' }));
    apply(svc('echo-np', { type: 'NodePort', ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: NODE_PORT }] }));
    apply(svc('echo-ext', { type: 'ClusterIP', externalIPs: [extIp()] }));
    apply(svc('echo-lb', { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: NODE_PORT + 1 }] }));
    apply(svc('echo-aff', { type: 'ClusterIP', sessionAffinity: 'ClientIP' }));
    apply(svc('empty', { type: 'ClusterIP', selector: { app: 'nothing-here' } }));
    apply(svc('echo-etp', { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: NODE_PORT + 2 }] }));
    apply(svc('echo-itp', { type: 'ClusterIP', internalTrafficPolicy: 'Local' }));
    apply(svc('echo-udp', { type: 'ClusterIP', ports: [{ name: 'udp', port: 53, targetPort: 'udp', protocol: 'UDP' }] }));
    // The operator's LB-IPAM assigns echo-lb the one IP of this pool (status.loadBalancer.ingress).
    apply({ apiVersion: 'cilium.io/v2', kind: 'CiliumLoadBalancerIPPool', metadata: { name: 'svc-lb-pool' }, spec: { blocks: [{ start: lbIp(), stop: lbIp() }], serviceSelector: { matchLabels: { 'io.kubernetes.service.name': 'echo-lb' } } } });
    await waitFor('echo-lb: the pool IP in status.loadBalancer.ingress', () => ((getJson('service', 'echo-lb', '-n', 'default').status?.['loadBalancer'] as { ingress?: { ip?: string }[] } | undefined)?.ingress ?? []).some((i) => i.ip === lbIp()));
    for (const name of ['echo-cip', 'echo-np', 'echo-ext', 'echo-lb', 'echo-aff', 'empty', 'echo-udp', 'echo-etp', 'echo-itp']) {
      const s = getJson('service', name, '-n', 'default');
      clusterIp.set(name, s.spec?.['clusterIP'] as string);
    }
    // both agents program the services (EndpointSlices -> backends)
    for (const node of ['node1', 'node2']) {
      await waitFor(`${node}: echo-cip with 3 backends`, () => activeBackends(node, clusterIp.get('echo-cip') ?? '', 80).length === 3);
      await waitFor(`${node}: the empty service`, () => agentServices(node).some((x) => x.spec['frontend-address'].ip === clusterIp.get('empty')));
    }
  });

  it('cilium-lab exec runs in the cgroup2 subtree of its node (where that node\'s agent attached socket LB)', () => {
    const cg = (target: string): string => sh(target, 'grep ^0:: /proc/self/cgroup').stdout.trim();
    expect(cg('node1')).toBe(`0::/cilium-lab/${labName}/node1/host`);
    expect(cg('node2')).toBe(`0::/cilium-lab/${labName}/node2/host`);
    const uid = getJson('pod', 'client-node2', '-n', 'default').metadata.uid ?? '';
    expect(cg('default/client-node2')).toBe(`0::/cilium-lab/${labName}/node2/${uid}/c`);
  });

  it('ClusterIP: reached from pods on both nodes and from both nodes; connections spread over the 3 backends', async () => {
    const url = `http://${clusterIp.get('echo-cip')}/hostname`;
    expectReached(await reachAll(sourcesFor('node1'), url, backendNames));
    for (const from of ['default/client-node1', 'node2']) {
      const seen = hostnames(from, `http://${clusterIp.get('echo-cip')}`, 30);
      expect(seen.filter((h) => !backendNames.has(h)), `${from}: ${seen.join(' ')}`).toEqual([]);
      expect(new Set(seen).size, `${from}: ${seen.join(' ')}`).toBe(3);
    }
  });

  it('pods reach a Service by its DNS name (CoreDNS outside the pod range: pod traffic leaving the cluster is masqueraded)', () => {
    for (const from of ['default/client-node1', 'default/client-node2']) {
      const r = curl(from, 'http://echo-cip.default.svc.cluster.local/hostname');
      expect(r.ok, `${from}: rc=${r.rc} ${r.err}`).toBe(true);
      expect(backendNames.has(r.body), `${from}: ${r.body}`).toBe(true);
    }
    for (const node of ['node1', 'node2']) {
      const nat = sh(node, 'iptables-save -t nat');
      expect(nat.stdout).toMatch(/-A CILIUM_POST_nat -s 10\.244\.\d+\.0\/24 ! -o cilium_\+ .*-j MASQUERADE/);
    }
  });

  it('NodePort: node address:nodePort from pods on both nodes and from both nodes', async () => {
    expectReached(await reachAll(sourcesFor('node1'), `http://${node1Ip}:${NODE_PORT}/hostname`, backendNames));
    expectReached(await reachAll(sourcesFor('node2'), `http://${node2Ip}:${NODE_PORT}/hostname`, backendNames));
    // the NodePort service's ClusterIP too
    expectReached(await reachAll(sourcesFor('node2').slice(0, 3), `http://${clusterIp.get('echo-np')}/hostname`, backendNames));
  });

  it('ExternalIPs: an address of the lab\'s underlay subnet', async () => {
    expectReached(await reachAll(sourcesFor('node1'), `http://${extIp()}/hostname`, backendNames));
  });

  it('LoadBalancer: the ingress IP from status.loadBalancer, its NodePort and its ClusterIP', async () => {
    expectReached(await reachAll(sourcesFor('node2'), `http://${lbIp()}/hostname`, backendNames));
    expectReached(await reachAll(sourcesFor('node1').slice(0, 3), `http://${node1Ip}:${NODE_PORT + 1}/hostname`, backendNames));
    expectReached(await reachAll(sourcesFor('node1').slice(0, 3), `http://${clusterIp.get('echo-lb')}/hostname`, backendNames));
  });

  it('HostPort: node2 address:hostPort -> the pod on node2', async () => {
    expectReached(await reachAll(sourcesFor('node2'), `http://${node2Ip}:${HOST_PORT}/hostname`, new Set(['hostport-echo'])));
  });

  it('UDP ClusterIP: datagrams (unconnected sendto and connected) reach a backend; replies come from the service address', async () => {
    const ip = clusterIp.get('echo-udp') ?? '';
    // agnhost answers "hostname" with its pod name; recvfrom shows where the reply claims to come from
    const py = `import socket
out = []
for connected in (False, True):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
    try:
        if connected:
            s.connect(('${ip}', 53)); s.send(b'hostname'); data, src = s.recvfrom(200); peer = s.getpeername()
        else:
            s.sendto(b'hostname', ('${ip}', 53)); data, src = s.recvfrom(200); peer = src
        out.append('%s %s:%d %s:%d' % (data.decode(), src[0], src[1], peer[0], peer[1]))
    except Exception as e:
        out.append('ERR ' + repr(e))
    s.close()
print('|'.join(out))`;
    const failures: string[] = [];
    for (const from of ['default/client-node1', 'default/client-node2', 'node1', 'node2']) {
      let last = '';
      try {
        await waitFor(`UDP ${ip}:53 from ${from}`, () => {
          last = lab(['exec', '--name', labName, from, '--', 'python3', '-c', py]).stdout.trim();
          const parts = last.split('|');
          return parts.length === 2 && parts.every((p) => {
            const [host, src, peer] = p.split(' ');
            return backendNames.has(host ?? '') && src === `${ip}:53` && peer === `${ip}:53`;
          });
        }, 60_000);
      } catch {
        failures.push(`${from}: ${last}`);
      }
    }
    expect(failures, failures.join('\n')).toEqual([]);
  });

  it('externalTrafficPolicy=Local: NodePort traffic from the other node only reaches the node\'s own backends; internalTrafficPolicy=Local: pods and the node only reach local ones', async () => {
    for (const [target, from] of [['node1', 'node2'], ['node2', 'node1']] as const) {
      const ip = nodeOf(target).ip;
      expectReached(await reachAll([[`the other node (${from})`, from]], `http://${ip}:${NODE_PORT + 2}/hostname`, backendsOn(target)));
    }
    for (const node of ['node1', 'node2'] as const) {
      expectReached(await reachAll([['a pod on the node', `default/client-${node}`], ['the node itself', node]], `http://${clusterIp.get('echo-itp')}/hostname`, backendsOn(node)));
    }
  });

  it('sessionAffinity ClientIP: every connection of a client goes to the same backend', () => {
    for (const from of ['default/client-node1', 'default/client-node2', 'node1']) {
      const seen = hostnames(from, `http://${clusterIp.get('echo-aff')}`, 15);
      expect(seen.filter((h) => !backendNames.has(h)), `${from}: ${seen.join(' ')}`).toEqual([]);
      expect(new Set(seen).size, `${from}: ${seen.join(' ')}`).toBe(1);
    }
  });

  it('scaling up and down changes the backends; an established connection to a backend that stays carries on', async () => {
    const cip = clusterIp.get('echo-cip') ?? '';
    // One keep-alive HTTP connection from client-node1 through the ClusterIP, a request every 200 ms.
    const script = `
      const http = require('node:http');
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      let stop = false;
      process.stdin.on('data', () => { stop = true; });
      process.stdin.on('end', () => { stop = true; });
      process.stdin.resume();
      (async () => {
        while (!stop) {
          await new Promise((res) => {
            const req = http.get({ host: '${cip}', port: 80, path: '/hostname', agent, timeout: 3000 }, (r) => {
              let b = '';
              r.on('data', (d) => (b += d));
              r.on('end', () => { console.log(JSON.stringify({ ok: r.statusCode === 200, host: b, port: r.socket && r.socket.localPort })); res(); });
            });
            req.on('timeout', () => req.destroy(new Error('timeout')));
            req.on('error', (e) => { console.log(JSON.stringify({ ok: false, err: e.message })); res(); });
          });
          await new Promise((r) => setTimeout(r, 200));
        }
        process.exit(0);
      })();`;
    const child = spawn(process.execPath, [labBin, 'exec', '--name', labName, 'default/client-node1', '--', process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<void>((r) => child.on('exit', () => r()));
    const lines = (): Array<{ ok: boolean; host?: string; port?: number; err?: string }> => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { ok: boolean; host?: string; port?: number; err?: string });
    let pinned = '';
    try {
      pinned = (await waitFor('the first answer on the kept connection', () => lines()[0]?.host, 60_000)) ?? '';
      expect(backendNames.has(pinned), out).toBe(true);
      // the pinned backend is the last the ReplicaSet removes
      kubectl('annotate', 'pod', pinned, '-n', 'default', 'controller.kubernetes.io/pod-deletion-cost=1000', '--overwrite');
      kubectl('scale', 'deployment', 'svc-echo', '-n', 'default', '--replicas=5');
      const five = await waitFor('5 backends Ready', () => podsReady('default', 'app=svc-echo', 5), 300_000);
      const fiveIps = five.map((p) => p.status?.['podIP'] as string).sort();
      for (const node of ['node1', 'node2']) await waitFor(`${node}: 5 active backends`, () => JSON.stringify(activeBackends(node, cip, 80)) === JSON.stringify(fiveIps));
      const seen = new Set(hostnames('default/client-node2', `http://${cip}`, 40));
      expect(seen.size, [...seen].join(' ')).toBeGreaterThan(3);
      kubectl('scale', 'deployment', 'svc-echo', '-n', 'default', '--replicas=2');
      const two = await waitFor('2 backends left', () => podsReady('default', 'app=svc-echo', 2), 300_000);
      expect(two.map((p) => p.metadata.name)).toContain(pinned);
      const twoIps = two.map((p) => p.status?.['podIP'] as string).sort();
      for (const node of ['node1', 'node2']) await waitFor(`${node}: 2 active backends`, () => JSON.stringify(activeBackends(node, cip, 80)) === JSON.stringify(twoIps));
      const after = hostnames('default/client-node2', `http://${cip}`, 20);
      expect(new Set(after), after.join(' ')).toEqual(new Set(two.map((p) => p.metadata.name)));
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      child.stdin.end();
      await done;
    }
    const all = lines();
    expect(all.length, out).toBeGreaterThan(10);
    expect(all.filter((l) => !l.ok), out.slice(-2000)).toEqual([]);
    expect(new Set(all.map((l) => l.host)), 'one backend on the kept connection').toEqual(new Set([pinned]));
    expect(new Set(all.map((l) => l.port)).size, 'the connection was re-opened').toBe(1);
    kubectl('scale', 'deployment', 'svc-echo', '-n', 'default', '--replicas=3');
  });

  it('a Service with no endpoints is refused at once (not a timeout), and the drop is a Hubble flow', async () => {
    const ip = clusterIp.get('empty') ?? '';
    const failures: string[] = [];
    for (const from of ['default/client-node1', 'default/client-node2', 'node1']) {
      const r = curl(from, `http://${ip}/`, 15);
      // curl exit 7: could not connect (refused); 28 would be the timeout of a silently dropped SYN
      if (r.rc !== 7) failures.push(`${from}: rc=${r.rc} ${r.body} ${r.err}`);
    }
    expect(failures, failures.join("\n")).toEqual([]);
    const hubble = join(root, 'bin', 'hubble');
    const flows = await waitFor('a DROPPED flow to the empty service', () => {
      const r = run(hubble, ['observe', '--server', `unix://${nodeOf('node1').dir}/run-cilium/hubble.sock`, '--verdict', 'DROPPED', '--last', '2000', '-o', 'json'], { allowFail: true });
      const hits = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { flow?: Record<string, unknown> } & Record<string, unknown>).map((x) => (x.flow ?? x) as { IP?: { destination?: string }; drop_reason_desc?: string; verdict?: string })
        .filter((f) => f.IP?.destination === ip || f.drop_reason_desc === 'SERVICE_BACKEND_NOT_FOUND');
      return hits.length > 0 ? hits : undefined;
    }, 30_000);
    expect(flows[0]?.verdict).toBe('DROPPED');
    expect(flows.some((f) => f.drop_reason_desc === 'SERVICE_BACKEND_NOT_FOUND'), JSON.stringify(flows[0])).toBe(true);
  });

  it('the nodes\' iptables and nftables hold no service rules', () => {
    const needles = ['KUBE-SVC', 'KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-SEP', ...[...clusterIp.values()], extIp(), lbIp(), String(NODE_PORT), String(HOST_PORT)];
    for (const node of ['node1', 'node2']) {
      for (const cmd of ['iptables-save', 'nft list ruleset']) {
        const r = sh(node, `command -v ${cmd.split(' ')[0]} >/dev/null || { echo MISSING; exit 0; }; ${cmd}`);
        expect(r.status, `${node}: ${cmd}: ${r.stderr}`).toBe(0);
        if (r.stdout.trim() === 'MISSING') continue; // not installed: nothing can hold rules
        const hits = needles.filter((n) => r.stdout.includes(n));
        expect(hits, `${node}: ${cmd}:\n${r.stdout.slice(0, 2000)}`).toEqual([]);
      }
    }
    // and no kube-proxy anywhere in the lab
    expect(getJson<{ items: Obj[] }>('pods', '-A').items.map((p) => p.metadata.name).filter((n) => n.includes('kube-proxy'))).toEqual([]);
  });
});
