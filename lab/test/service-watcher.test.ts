// The agent's ServiceWatcher (apps/agent/src/k8s/service-watcher.ts) against a REAL etcd + kube-apiserver
// (lab/build-upstream.sh binaries, loopback, random ports) feeding the real ServiceManager (no datapath maps:
// it keeps and lists the services, which is what is checked here): the first listing becomes one bulk
// syncAll('k8s') that leaves the API's own services alone; Services and EndpointSlices (ready / serving +
// terminating / not serving, named ports) become frontends and backends; per-event changes reach the manager
// as upserts/deletes of just that Service; a pod's hostPort; an apiserver restart causes no manager calls at
// all; a new watcher over the same state re-syncs with nothing to update.
// Run: npx vitest run --config lab/vitest.config.ts lab/test/service-watcher.test.ts
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Informer, KubeClient, Resources, type EndpointSlice, type Pod, type Service } from '@cilium-ts/k8s';
import type { KubeProxyReplacementStatus } from '@cilium-ts/api';
import { ServiceManager } from '../../apps/agent/src/service/service-manager.js';
import { ServiceWatcher } from '../../apps/agent/src/k8s/service-watcher.js';
import { createLogger } from '../../apps/agent/src/log.js';
import { TestControlPlane } from './lib/test-control-plane.js';
import { sleep, waitUntil } from './lib/test-process.js';

const KPR: KubeProxyReplacementStatus = {
  mode: 'true',
  features: {
    nodePort: { enabled: true, mode: 'SNAT', algorithm: 'Random', portMin: 30000, portMax: 32767 },
    hostPort: { enabled: true },
    externalIPs: { enabled: true },
    hostReachableServices: { enabled: true },
    sessionAffinity: { enabled: true },
  },
};
const NODE = 'n1';
const NODE_IP = '192.0.2.11';
const NS = 'default';

describe('ServiceWatcher on a real kube-apiserver, feeding the ServiceManager', () => {
  const cp = new TestControlPlane();
  let kc: KubeClient;
  let manager: ServiceManager;
  let pods: Informer<Pod>;
  let watcher: ServiceWatcher;
  const log = createLogger(process.env['SW_TEST_DEBUG'] ? 'debug' : 'error', 'service-watcher-test');

  const frontends = (): string[] => manager.list().map((s) => {
    const fe = s.spec['frontend-address'];
    return `${s.spec.flags.type} ${fe.ip}:${fe.port}/${fe.protocol}`;
  }).sort();
  const backendsOf = (ip: string, port: number): string[] => {
    const s = manager.list().find((x) => x.spec['frontend-address'].ip === ip && x.spec['frontend-address'].port === port);
    return (s?.spec['backend-addresses'] ?? []).map((b) => `${b.ip}:${b.port} ${b.state ?? 'active'}${b.nodeName ? ` ${b.nodeName}` : ''}`).sort();
  };

  async function createService(name: string, spec: Record<string, unknown>): Promise<Service> {
    return kc.create<Service>(Resources.Service, { metadata: { name, namespace: NS }, spec } as Service);
  }
  async function createSlice(name: string, service: string, endpoints: unknown[], ports: unknown[]): Promise<void> {
    await kc.create<EndpointSlice>(Resources.EndpointSlice, {
      metadata: { name, namespace: NS, labels: { 'kubernetes.io/service-name': service } }, addressType: 'IPv4', endpoints, ports,
    } as EndpointSlice);
  }

  beforeAll(async () => {
    await cp.start({ name: 'swtest' });
    kc = cp.client;
    // the apiserver's own "kubernetes" Service (created a moment after /readyz), so that it is part of the first listing
    await waitUntil('Service default/kubernetes', () => kc.tryGet(Resources.Service, 'kubernetes', NS), 60_000, [cp.apiserver]);
    manager = new ServiceManager({ maps: {}, nodeName: NODE, algorithm: 'random', mode: 'snat', kpr: KPR, log });
  });

  afterAll(async () => {
    await watcher?.stop();
    await pods?.stop();
    await cp.stop();
  });

  it('first listing -> one bulk syncAll(k8s): ClusterIP, NodePort, named target ports, backends by condition; API services kept', async () => {
    // a service of another source (PUT /v1/service) must survive the Kubernetes bulk sync
    manager.upsertService({ 'frontend-address': { ip: '10.9.9.9', port: 99, protocol: 'TCP' }, 'backend-addresses': [{ ip: '10.1.1.1', port: 99 }], flags: { type: 'ClusterIP' } }, 'api');
    const web = await createService('web', { type: 'NodePort', ports: [{ name: 'http', port: 80, targetPort: 'web', nodePort: 30111 }] });
    const webIp = web.spec?.clusterIP ?? '';
    await createSlice('web-1', 'web', [
      { addresses: ['10.244.1.5'], nodeName: NODE, conditions: { ready: true, serving: true, terminating: false } },
      { addresses: ['10.244.2.5'], nodeName: 'n2', conditions: { ready: false, serving: true, terminating: true } },
      { addresses: ['10.244.2.6'], nodeName: 'n2', conditions: { ready: false, serving: false, terminating: false } },
    ], [{ name: 'http', port: 8080, protocol: 'TCP' }]);
    await createService('headless', { clusterIP: 'None', ports: [{ port: 80 }] });

    pods = new Informer<Pod>(kc, Resources.Pod, { fieldSelector: `spec.nodeName=${NODE}` });
    watcher = new ServiceWatcher({
      client: kc, sink: manager, log,
      node: () => ({ name: NODE, ips: [NODE_IP] }),
      pods,
    });
    pods.on({ onAdd: (p) => watcher.onPod(p), onUpdate: (p) => watcher.onPod(p), onDelete: (p) => watcher.onPodDelete(p) });
    pods.start();
    await watcher.start();
    expect(watcher.synced).toBe(true);
    expect(watcher.stats.syncs).toBe(1);
    expect(frontends()).toEqual([
      'ClusterIP 10.0.0.1:443/TCP', // the apiserver's own "kubernetes" Service (no endpoints: --endpoint-reconciler-type=none)
      'ClusterIP 10.9.9.9:99/TCP',
      `ClusterIP ${webIp}:80/TCP`,
      `NodePort 0.0.0.0:30111/TCP`,
      `NodePort ${NODE_IP}:30111/TCP`,
    ].sort());
    expect(backendsOf(webIp, 80)).toEqual(['10.244.1.5:8080 active n1', '10.244.2.5:8080 terminating n2']);
    expect(backendsOf('0.0.0.0', 30111)).toEqual(['10.244.1.5:8080 active n1', '10.244.2.5:8080 terminating n2']);
    expect(manager.list().find((s) => s.spec['frontend-address'].ip === '10.9.9.9')).toBeDefined();
  });

  it('events: a new Service, endpoints turning terminating, a second slice, affinity, a pod hostPort, deletions', async () => {
    const base = { ...watcher.stats };
    const api2 = await createService('api2', { ports: [{ port: 443, targetPort: 8443, protocol: 'TCP' }], sessionAffinity: 'ClientIP', externalIPs: ['192.0.2.200'] });
    const ip2 = api2.spec?.clusterIP ?? '';
    await waitUntil('api2 frontends', () => frontends().includes(`ExternalIPs 192.0.2.200:443/TCP`) && frontends().includes(`ClusterIP ${ip2}:443/TCP`));
    expect(backendsOf(ip2, 443)).toEqual([]);
    const aff = manager.list().find((s) => s.spec['frontend-address'].ip === ip2)?.spec.flags;
    expect(aff).toMatchObject({ sessionAffinity: true, sessionAffinityTimeout: 10800, name: 'api2', namespace: NS });
    await createSlice('api2-a', 'api2', [{ addresses: ['10.244.1.7'], nodeName: NODE, conditions: { ready: true } }], [{ port: 8443, protocol: 'TCP' }]);
    await createSlice('api2-b', 'api2', [{ addresses: ['10.244.2.7'], nodeName: 'n2', conditions: { ready: true } }], [{ port: 8443, protocol: 'TCP' }]);
    await waitUntil('api2 has both slices\' backends', () => backendsOf(ip2, 443).length === 2);
    expect(backendsOf('192.0.2.200', 443)).toEqual(['10.244.1.7:8443 active n1', '10.244.2.7:8443 active n2']);
    // the web Service's first endpoint starts terminating
    const sl = await kc.get<EndpointSlice>(Resources.EndpointSlice, 'web-1', NS);
    const ep0 = sl.endpoints[0];
    if (ep0) ep0.conditions = { ready: false, serving: true, terminating: true };
    await kc.update(Resources.EndpointSlice, sl);
    const webIp = manager.list().find((s) => s.spec.flags.name === 'web' && s.spec.flags.type === 'ClusterIP')?.spec['frontend-address'].ip ?? '';
    await waitUntil('web backend 10.244.1.5 terminating', () => backendsOf(webIp, 80).includes('10.244.1.5:8080 terminating n1'));
    // only the changed Service went to the manager: 1 (api2 created) + 1 ExternalIP + 2 slices x 2 frontends + web's 3 frontends
    expect(watcher.stats.upserts - base.upserts).toBeLessThanOrEqual(2 + 4 + 3);
    expect(watcher.stats.syncs).toBe(1);

    // a pod of this node with a hostPort (status written as the kubelet would)
    await kc.create<Pod>(Resources.Pod, { metadata: { name: 'hp', namespace: NS }, spec: { nodeName: NODE, containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 8080, hostPort: 18080 }] }] } } as Pod);
    await kc.patch(Resources.Pod, 'hp', { status: { phase: 'Running', podIP: '10.244.1.9', podIPs: [{ ip: '10.244.1.9' }] } }, { namespace: NS, type: 'merge', subresource: 'status' });
    await waitUntil('hostPort frontends', () => frontends().includes(`HostPort ${NODE_IP}:18080/TCP`) && frontends().includes('HostPort 0.0.0.0:18080/TCP'));
    expect(backendsOf(NODE_IP, 18080)).toEqual(['10.244.1.9:8080 active n1']);
    // a pod on another node gives nothing
    await kc.create<Pod>(Resources.Pod, { metadata: { name: 'hp2', namespace: NS }, spec: { nodeName: 'n2', containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 8080, hostPort: 18081 }] }] } } as Pod);

    // deletions: the Service (its frontends go), a slice (its backends go), the pod (its hostPort goes)
    await kc.delete(Resources.EndpointSlice, 'api2-b', NS);
    await waitUntil('api2 with one backend', () => backendsOf(ip2, 443).length === 1);
    await kc.delete(Resources.Service, 'api2', NS);
    await waitUntil('api2 gone', () => !frontends().some((f) => f.includes(ip2) || f.includes('192.0.2.200')));
    await kc.delete(Resources.Pod, 'hp', NS);
    await waitUntil('hostPort gone', () => !frontends().some((f) => f.startsWith('HostPort')));
    expect(frontends().some((f) => f.includes(':18081/'))).toBe(false);
    expect(manager.list().find((s) => s.spec['frontend-address'].ip === '10.9.9.9')).toBeDefined();
    expect(watcher.status().lastError).toBeUndefined();
  });

  it('an apiserver restart causes no manager calls; changes after it still arrive', async () => {
    const before = { ...watcher.stats };
    const snapshot = JSON.stringify(manager.list());
    await cp.stopApiserver();
    await sleep(1000);
    await cp.startApiserver();
    // the watches resume (or re-list); give them time to do so, then prove they are live with a change
    await createService('late', { ports: [{ port: 81 }] });
    await waitUntil('late Service', () => manager.list().some((s) => s.spec.flags.name === 'late'));
    const after = watcher.stats;
    expect(after.syncs).toBe(before.syncs);
    expect(after.deletes).toBe(before.deletes);
    expect(after.upserts - before.upserts).toBe(1); // only "late"'s ClusterIP frontend
    const withoutLate = (JSON.parse(JSON.stringify(manager.list())) as Array<{ spec: { flags: { name?: string } } }>).filter((s) => s.spec.flags.name !== 'late');
    expect(JSON.stringify(withoutLate)).toBe(snapshot);
  });

  it('a new watcher (agent restart) over the same manager state: the bulk sync has nothing to update', async () => {
    await watcher.stop();
    const w2 = new ServiceWatcher({ client: kc, sink: manager, log, node: () => ({ name: NODE, ips: [NODE_IP] }), pods });
    try {
      await w2.start();
      expect(w2.stats.syncs).toBe(1);
      expect(w2.stats.syncUpdated).toBe(0);
      expect(w2.stats.syncDeleted).toBe(0);
    } finally {
      await w2.stop();
    }
  });

  it('informers list in pages (limit + continue): the same objects as one unpaginated list', async () => {
    const one = await kc.list<Service>(Resources.Service);
    expect(one.items.length).toBeGreaterThan(2);
    const paged = new Informer<Service>(kc, Resources.Service, { pageSize: 2 });
    const whole = new Informer<Service>(kc, Resources.Service, { pageSize: 0 });
    try {
      paged.start();
      whole.start();
      await Promise.all([paged.synced, whole.synced]);
      const names = (i: Informer<Service>) => i.list().map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`).sort();
      expect(names(paged)).toEqual(one.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`).sort());
      expect(names(paged)).toEqual(names(whole));
      expect(paged.stats.pages).toBe(Math.ceil(one.items.length / 2));
      expect(whole.stats.pages).toBe(0);
    } finally {
      await Promise.all([paged.stop(), whole.stop()]);
    }
  });
});
