// LB-IPAM end to end on a 2-node lab (one chart install, kubeProxyReplacement=true): a
// CiliumLoadBalancerIPPool of 4 addresses of the lab's own underlay subnet; the operator (leader) gives
// Services of type LoadBalancer IPs from it (status.loadBalancer.ingress via services/status) and the agents
// serve them: reached from pods on both nodes, both nodes, and the control-plane netns (outside the nodes;
// a route to the IP via node1, as an upstream router would have). The lbipam.cilium.io/ips annotation is
// honoured, two Services with one lbipam.cilium.io/sharing-key and different ports share one IP, a 5th
// Service finds the pool exhausted (cilium.io/IPAMRequestSatisfied=False out_of_ips and a Warning Event)
// and gets the IP a deleted Service frees; the pool's cilium.io/IPs* conditions count right; an overlapping
// newer pool is cilium.io/PoolConflict=True; a Service turned ClusterIP gives its IP back; a new operator
// leader rebuilds the allocations from the Services' status and moves nothing; removing the last pool takes
// the IPs back (no_pool) and a new pool hands out IPs again. Needs root, bin/ and the upstream binaries
// (lab/build-upstream.sh).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState } from '../src/state.js';
import { LabCluster, type Obj } from './lib/lab-cluster.js';

const c = new LabCluster('lb');
const { apply, getJson, kubectl } = c;
const waitFor = <T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> =>
  c.waitFor(what, fn, timeoutMs, 'cilium-*');

const echoLabels = { app: 'lbi-echo' };
const agnhost = {
  name: 'echo', image: 'registry.k8s.io/e2e-test-images/agnhost:2.53', args: ['netexec', '--http-port=8080'],
  ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1 },
};
const clientSpec = { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'quay.io/cilium/alpine-curl:v1.10.0', command: ['sh', '-c', 'sleep 36000'] }] };

let labIndex = 0;
const ip = (last: number): string => `172.30.${labIndex}.${last}`;

interface Cond { type: string; status: string; reason: string; message: string; lastTransitionTime?: string }

function lbSvc(name: string, o: { annotations?: Record<string, string>; port?: number; type?: string } = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default', ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: { type: o.type ?? 'LoadBalancer', selector: echoLabels, ports: [{ name: 'http', port: o.port ?? 80, targetPort: 'http' }] },
  };
}

const svcOf = (name: string): Obj | undefined => c.tryJson('service', name, '-n', 'default');
const ingressOf = (s: Obj | undefined): string[] =>
  ((s?.status?.['loadBalancer'] as { ingress?: { ip?: string }[] } | undefined)?.ingress ?? []).map((i) => i.ip ?? '');
const condOf = (s: Obj | undefined, type = 'cilium.io/IPAMRequestSatisfied'): Cond | undefined =>
  ((s?.status?.['conditions'] as Cond[] | undefined) ?? []).find((x) => x.type === type);

/** The ingress IP once the operator assigned one (waits). */
const assigned = (name: string): Promise<string> =>
  waitFor(`${name}: an IP in status.loadBalancer.ingress`, () => {
    const s = svcOf(name);
    return ingressOf(s).length > 0 && condOf(s)?.status === 'True' ? ingressOf(s)[0]! : undefined;
  });

const poolConds = (name: string): Record<string, Cond> =>
  Object.fromEntries(((c.tryJson('ciliumloadbalancerippools.cilium.io', name)?.status?.['conditions'] as Cond[] | undefined) ?? []).map((x) => [x.type, x]));

/** Waits until the pool's counts are total/available/used (messages, as Cilium writes them). */
const poolCounts = (name: string, total: number, available: number, used: number): Promise<Record<string, Cond>> =>
  waitFor(`pool ${name}: total ${total}, available ${available}, used ${used}`, () => {
    const p = poolConds(name);
    return p['cilium.io/IPsTotal']?.message === String(total) && p['cilium.io/IPsAvailable']?.message === String(available) && p['cilium.io/IPsUsed']?.message === String(used) ? p : undefined;
  });

/** Runs a shell script in a lab target (node1, default/client1) through `cilium-lab exec`. */
const sh = c.sh;

/** From each target: the first answer may take a while (agents programming), then 4 new connections must all answer. */
async function reach(targets: string[], url: string, backends: Set<string>): Promise<string[]> {
  const failures: string[] = [];
  for (const t of targets) {
    try {
      await waitFor(`${url} from ${t}`, () => backends.has(sh(t, `curl -sS --max-time 5 ${url}`).stdout.trim()), 60_000);
    } catch {
      const r = sh(t, `curl -sS --max-time 5 ${url}; echo " rc=$?"`);
      failures.push(`${t} -> ${url}: never answered: ${r.stdout.trim()} ${r.stderr.trim()}`.slice(0, 300));
      continue;
    }
    const more = sh(t, `for i in 1 2 3 4; do curl -sS --max-time 5 ${url} 2>/dev/null || printf '!%s' $?; echo; done`).stdout.split('\n').map((l) => l.trim()).filter(Boolean);
    if (more.length !== 4 || more.some((h) => !backends.has(h))) failures.push(`${t} -> ${url}: ${more.join(' ')}`);
  }
  return failures;
}

let backends = new Set<string>();

beforeAll(async () => {
  await c.up(2);
  labIndex = readState(c.name)?.index ?? 0;
});

afterAll(() => c.down());

describe('LB-IPAM: CiliumLoadBalancerIPPool -> Services of type LoadBalancer', () => {
  it('helm install; the pool CRD is served as cilium.io/v2 and v2alpha1; backends and clients on both nodes', async () => {
    c.helmInstall(['kubeProxyReplacement=true']);
    const crd = getJson<{ spec: { versions: { name: string; served: boolean }[]; names: { shortNames: string[] } } }>('crd', 'ciliumloadbalancerippools.cilium.io');
    expect(crd.spec.versions.map((v) => `${v.name}:${v.served}`).sort()).toEqual(['v2:true', 'v2alpha1:true']);
    expect(crd.spec.names.shortNames).toContain('lbippool');
    await waitFor('2 agent pods Ready', () => c.podsReady('k8s-app=cilium', 2), 300_000);
    await waitFor('2 operator pods Ready', () => c.podsReady('io.cilium/app=operator', 2), 300_000);
    c.applySpreadDeployment('lbi-echo', 2, echoLabels, agnhost);
    for (const n of ['node1', 'node2']) apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `client-${n}`, namespace: 'default', labels: { app: 'lbi-client' } }, spec: { nodeName: n, ...clientSpec } });
    const echo = await waitFor('2 backends Ready', () => c.podsReady('app=lbi-echo', 2, 'default'), 300_000);
    backends = new Set(echo.map((p) => p.metadata.name));
    await waitFor('clients Ready', () => c.podsReady('app=lbi-client', 2, 'default'), 300_000);
  });

  it('a pool gets its conditions: no conflict, 4 IPs total, 4 available, 0 used', async () => {
    apply({ apiVersion: 'cilium.io/v2', kind: 'CiliumLoadBalancerIPPool', metadata: { name: 'lbi-pool' }, spec: { blocks: [{ start: ip(210), stop: ip(213) }] } });
    const p = await poolCounts('lbi-pool', 4, 4, 0);
    expect(p['cilium.io/PoolConflict']).toMatchObject({ status: 'False', reason: 'resolved' });
    expect(p['cilium.io/IPsTotal']).toMatchObject({ status: 'Unknown', reason: 'noreason' });
    // kubectl's printer columns (Disabled, Conflicting, IPs Available) as Cilium's.
    expect(kubectl('get', 'lbippools', 'lbi-pool', '--no-headers')).toMatch(/^lbi-pool\s+false\s+False\s+4\s+/);
  });

  it('a LoadBalancer Service gets the first IP of the pool, and it answers from pods, nodes and outside the nodes', async () => {
    apply(lbSvc('lb-a'));
    expect(await assigned('lb-a')).toBe(ip(210));
    expect(condOf(svcOf('lb-a'))).toMatchObject({ status: 'True', reason: 'satisfied' });
    // The control-plane netns is outside the nodes; route the IP to node1 as an upstream router would.
    const r = sh('cp', `ip route replace ${ip(210)}/32 via ${c.node('node1').ip}`);
    expect(r.status, r.stderr).toBe(0);
    const failures = await reach(['default/client-node1', 'default/client-node2', 'node1', 'node2', 'cp'], `http://${ip(210)}/hostname`, backends);
    expect(failures, failures.join('\n')).toEqual([]);
  });

  it('lbipam.cilium.io/ips: the requested IP is assigned', async () => {
    apply(lbSvc('lb-req', { annotations: { 'lbipam.cilium.io/ips': ip(213) } }));
    expect(await assigned('lb-req')).toBe(ip(213));
    const failures = await reach(['default/client-node2'], `http://${ip(213)}/hostname`, backends);
    expect(failures, failures.join('\n')).toEqual([]);
  });

  it('lbipam.cilium.io/sharing-key: two Services with different ports share one IP; both ports answer', async () => {
    apply(lbSvc('lb-sh1', { annotations: { 'lbipam.cilium.io/sharing-key': 'shared' }, port: 80 }));
    apply(lbSvc('lb-sh2', { annotations: { 'lbipam.cilium.io/sharing-key': 'shared' }, port: 8080 }));
    const a = await assigned('lb-sh1');
    const b = await assigned('lb-sh2');
    expect(a).toBe(ip(211));
    expect(b).toBe(a);
    await poolCounts('lbi-pool', 4, 1, 3);
    const failures = [
      ...(await reach(['default/client-node1', 'node2'], `http://${a}/hostname`, backends)),
      ...(await reach(['default/client-node1', 'node2'], `http://${a}:8080/hostname`, backends)),
    ];
    expect(failures, failures.join('\n')).toEqual([]);
  });

  it('exhaustion: the 5th Service stays pending (condition out_of_ips, a Warning Event); deleting a Service frees its IP for it', async () => {
    apply(lbSvc('lb-c'));
    expect(await assigned('lb-c')).toBe(ip(212));
    await poolCounts('lbi-pool', 4, 0, 4);
    apply(lbSvc('lb-d'));
    const cond = await waitFor('lb-d: IPAMRequestSatisfied=False', () => {
      const x = condOf(svcOf('lb-d'));
      return x?.status === 'False' ? x : undefined;
    });
    expect(cond).toMatchObject({ reason: 'out_of_ips', message: 'All enabled CiliumLoadBalancerIPPools that match this service ran out of allocatable IPs' });
    expect(ingressOf(svcOf('lb-d'))).toEqual([]);
    const ev = await waitFor('a Warning Event for lb-d', () =>
      getJson<{ items: { type: string; reason: string; message: string }[] }>('events', '-n', 'default', '--field-selector', 'involvedObject.name=lb-d,involvedObject.kind=Service').items.find((e) => e.reason === 'LBIPAMRequestNotSatisfied'));
    expect(ev).toMatchObject({ type: 'Warning', message: expect.stringContaining('out_of_ips') });

    kubectl('delete', 'service', 'lb-a', '-n', 'default', '--wait=true');
    expect(await assigned('lb-d')).toBe(ip(210));
    await poolCounts('lbi-pool', 4, 0, 4);
    const failures = await reach(['default/client-node1'], `http://${ip(210)}/hostname`, backends);
    expect(failures, failures.join('\n')).toEqual([]);
    kubectl('delete', 'service', 'lb-d', '-n', 'default', '--wait=true');
    await poolCounts('lbi-pool', 4, 1, 3);
  });

  it('a Service turned ClusterIP gives its IP back (ingress and condition removed)', async () => {
    kubectl('patch', 'service', 'lb-c', '-n', 'default', '--type=merge', '-p', JSON.stringify({ spec: { type: 'ClusterIP' } }));
    await waitFor('lb-c: no ingress, no LB-IPAM condition', () => {
      const s = svcOf('lb-c');
      return ingressOf(s).length === 0 && condOf(s) === undefined;
    });
    await poolCounts('lbi-pool', 4, 2, 2);
  });

  it('a newer pool overlapping it is PoolConflict=True and unused; the first pool is untouched', async () => {
    apply({ apiVersion: 'cilium.io/v2alpha1', kind: 'CiliumLoadBalancerIPPool', metadata: { name: 'lbi-overlap' }, spec: { cidrs: [{ cidr: `172.30.${labIndex}.208/29` }] } });
    const p = await waitFor('lbi-overlap: PoolConflict=True', () => {
      const x = poolConds('lbi-overlap')['cilium.io/PoolConflict'];
      return x?.status === 'True' ? x : undefined;
    });
    expect(p).toMatchObject({ reason: 'cidr_overlap', message: expect.stringContaining("from IP Pool 'lbi-pool'") });
    expect(poolConds('lbi-pool')['cilium.io/PoolConflict']?.status).toBe('False');
    await poolCounts('lbi-overlap', 8, 8, 0);
    kubectl('delete', 'ciliumloadbalancerippools.cilium.io', 'lbi-overlap', '--wait=true');
  });

  it('a new operator leader rebuilds the allocations from the Services\' status: nothing moves', async () => {
    const before = new Map(['lb-req', 'lb-sh1', 'lb-sh2'].map((n) => [n, { ips: ingressOf(svcOf(n)), since: condOf(svcOf(n))?.lastTransitionTime }]));
    const holder = (): string => getJson<{ spec: { holderIdentity?: string } }>('lease', 'cilium-operator-resource-lock', '-n', 'kube-system').spec.holderIdentity ?? '';
    const old = holder();
    expect(old).not.toBe('');
    // Both replicas go (the Deployment makes new ones): no operator process keeps any allocation in memory.
    kubectl('delete', 'pod', '-n', 'kube-system', '-l', 'io.cilium/app=operator', '--wait=true');
    await waitFor('a new operator holds the lease', () => {
      const h = holder();
      return h !== '' && h !== old ? h : undefined;
    }, 240_000);
    // The new leader serves: a new Service gets the lowest free IP, the others keep theirs (same conditions).
    apply(lbSvc('lb-e'));
    expect(await assigned('lb-e')).toBe(ip(210));
    await poolCounts('lbi-pool', 4, 1, 3);
    for (const [n, b] of before) {
      expect(ingressOf(svcOf(n)), n).toEqual(b.ips);
      expect(condOf(svcOf(n))?.lastTransitionTime, n).toBe(b.since);
    }
  });

  it('removing the last pool takes its IPs back (no_pool); a new pool gives IPs again', async () => {
    kubectl('delete', 'ciliumloadbalancerippools.cilium.io', 'lbi-pool', '--wait=true');
    await waitFor('lb-e, lb-req, lb-sh1: no ingress, condition no_pool', () =>
      ['lb-e', 'lb-req', 'lb-sh1'].every((n) => {
        const s = svcOf(n);
        return ingressOf(s).length === 0 && condOf(s)?.status === 'False' && condOf(s)?.reason === 'no_pool';
      }));
    apply({ apiVersion: 'cilium.io/v2', kind: 'CiliumLoadBalancerIPPool', metadata: { name: 'lbi-pool2' }, spec: { blocks: [{ cidr: `172.30.${labIndex}.220/30` }] } });
    // Oldest first: lb-sh1 and lb-sh2 share the first IP, lb-e gets the next; lb-req asks for an IP no pool has.
    const got = await Promise.all(['lb-sh1', 'lb-sh2', 'lb-e'].map((n) => waitFor(`${n}: an IP again`, () => ingressOf(svcOf(n))[0])));
    expect(got).toEqual([ip(220), ip(220), ip(221)]);
    await poolCounts('lbi-pool2', 4, 2, 2);
    expect(condOf(svcOf('lb-req'))).toMatchObject({ status: 'False', reason: 'no_pool', message: `No pool exists with a CIDR containing '${ip(213)}'` });
  });
});
