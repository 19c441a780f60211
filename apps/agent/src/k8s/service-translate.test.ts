import { describe, expect, it } from 'vitest';
import type { EndpointSlice, Pod, Service } from '@cilium-ts/k8s';
import { backendsFor, nodeAddresses, specFingerprint, translateHostPorts, translateService, type LocalNodeInfo } from './service-translate.js';

const node: LocalNodeInfo = { name: 'node1', ips: ['172.30.1.11'] };

function svc(name: string, spec: NonNullable<Service['spec']>, status?: Service['status']): Service {
  return { metadata: { name, namespace: 'default' }, spec, ...(status ? { status } : {}) };
}

function slice(service: string, endpoints: EndpointSlice['endpoints'], ports: EndpointSlice['ports'] = [{ name: 'http', port: 8080, protocol: 'TCP' }], addressType = 'IPv4'): EndpointSlice {
  return { metadata: { name: `${service}-abc`, namespace: 'default', labels: { 'kubernetes.io/service-name': service } }, addressType, endpoints, ports };
}

const httpPort = { name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' };
const eps: EndpointSlice['endpoints'] = [
  { addresses: ['10.0.1.5'], nodeName: 'node1', conditions: { ready: true, serving: true, terminating: false } },
  { addresses: ['10.0.2.7'], nodeName: 'node2', conditions: { ready: true, serving: true, terminating: false } },
  { addresses: ['10.0.2.8'], nodeName: 'node2', conditions: { ready: false, serving: true, terminating: true } },
  { addresses: ['10.0.1.9'], nodeName: 'node1', conditions: { ready: false, serving: false, terminating: true } },
  { addresses: ['10.0.1.10'], nodeName: 'node1', conditions: { ready: false, serving: false, terminating: false } },
];

const fes = (specs: ReturnType<typeof translateService>) => specs.map((s) => `${s.flags.type} ${s['frontend-address'].ip}:${s['frontend-address'].port}/${s['frontend-address'].protocol}`);

describe('translateService', () => {
  it('ClusterIP: every IPv4 cluster IP x port, backends by condition, named target port from the slice', () => {
    const out = translateService(
      svc('web', { type: 'ClusterIP', clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20', 'fd00::20'], ports: [httpPort, { name: 'dns', port: 53, protocol: 'UDP' }] }),
      [slice('web', eps, [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 5353, protocol: 'UDP' }])],
      node,
    );
    expect(fes(out)).toEqual(['ClusterIP 10.96.0.20:80/TCP', 'ClusterIP 10.96.0.20:53/UDP']);
    const http = out[0];
    expect(http?.['backend-addresses']).toEqual([
      { ip: '10.0.1.5', port: 8080, protocol: 'TCP', state: 'active', nodeName: 'node1' },
      { ip: '10.0.2.7', port: 8080, protocol: 'TCP', state: 'active', nodeName: 'node2' },
      { ip: '10.0.2.8', port: 8080, protocol: 'TCP', state: 'terminating', nodeName: 'node2' },
    ]);
    expect(out[1]?.['backend-addresses'].map((b) => `${b.ip}:${b.port}/${b.protocol}`)).toEqual(['10.0.1.5:5353/UDP', '10.0.2.7:5353/UDP', '10.0.2.8:5353/UDP']);
    expect(http?.flags).toEqual({ type: 'ClusterIP', name: 'web', namespace: 'default' });
  });

  it('NodePort: node addresses and the wildcard x nodePort, plus the ClusterIP frontend; externalTrafficPolicy', () => {
    const out = translateService(
      svc('np', { type: 'NodePort', clusterIP: '10.96.0.21', ports: [{ ...httpPort, nodePort: 30080 }], externalTrafficPolicy: 'Local' }),
      [slice('np', eps)],
      { name: 'node1', ips: ['172.30.1.11', '172.30.1.11', 'fd00::1'] },
    );
    expect(fes(out)).toEqual(['ClusterIP 10.96.0.21:80/TCP', 'NodePort 172.30.1.11:30080/TCP', 'NodePort 0.0.0.0:30080/TCP']);
    for (const s of out) expect(s.flags.extTrafficPolicy).toBe('Local');
    // backends keep their nodeName: the manager keeps only local ones in the external scope
    expect(out[1]?.['backend-addresses'].map((b) => b.nodeName)).toEqual(['node1', 'node2', 'node2']);
  });

  it('NodePort frontends only with the nodePort feature', () => {
    const out = translateService(svc('np', { type: 'NodePort', clusterIP: '10.96.0.21', ports: [{ ...httpPort, nodePort: 30080 }] }), [], node, { nodePort: false, externalIPs: true, loadBalancer: false, hostPort: true });
    expect(fes(out)).toEqual(['ClusterIP 10.96.0.21:80/TCP']);
  });

  it('LoadBalancer: ingress IPs, NodePort and ClusterIP; ExternalIPs', () => {
    const out = translateService(
      svc('lb', { type: 'LoadBalancer', clusterIP: '10.96.0.22', externalIPs: ['192.168.77.5', 'bogus'], ports: [{ ...httpPort, nodePort: 31000 }] }, { loadBalancer: { ingress: [{ ip: '192.168.78.1' }, { hostname: 'x.example' }] } }),
      [slice('lb', eps)],
      node,
    );
    expect(fes(out)).toEqual([
      'ClusterIP 10.96.0.22:80/TCP',
      'NodePort 172.30.1.11:31000/TCP',
      'NodePort 0.0.0.0:31000/TCP',
      'ExternalIPs 192.168.77.5:80/TCP',
      'LoadBalancer 192.168.78.1:80/TCP',
    ]);
    expect(out.every((s) => s['backend-addresses'].length === 3)).toBe(true);
    expect(out[0]?.flags.extTrafficPolicy).toBe('Cluster');
  });

  it('LoadBalancer with allocateLoadBalancerNodePorts=false has no NodePort frontends', () => {
    const out = translateService(svc('lb', { type: 'LoadBalancer', clusterIP: '10.96.0.22', ports: [httpPort] }, { loadBalancer: { ingress: [{ ip: '192.168.78.1' }] } }), [], node);
    expect(fes(out)).toEqual(['ClusterIP 10.96.0.22:80/TCP', 'LoadBalancer 192.168.78.1:80/TCP']);
    expect(out[0]?.['backend-addresses']).toEqual([]);
  });

  it('sessionAffinity ClientIP with its timeout (default 10800), internalTrafficPolicy Local', () => {
    const a = translateService(svc('a', { clusterIP: '10.96.0.23', ports: [httpPort], sessionAffinity: 'ClientIP', internalTrafficPolicy: 'Local' }), [], node);
    expect(a[0]?.flags).toMatchObject({ sessionAffinity: true, sessionAffinityTimeout: 10800, intTrafficPolicy: 'Local' });
    expect(a[0]?.flags.extTrafficPolicy).toBeUndefined();
    const b = translateService(svc('b', { clusterIP: '10.96.0.24', ports: [httpPort], sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 30 } } }), [], node);
    expect(b[0]?.flags.sessionAffinityTimeout).toBe(30);
    const c = translateService(svc('c', { clusterIP: '10.96.0.25', ports: [httpPort], sessionAffinity: 'None' }), [], node);
    expect(c[0]?.flags.sessionAffinity).toBeUndefined();
  });

  it('headless, ExternalName, unallocated and SCTP give nothing', () => {
    expect(translateService(svc('h', { clusterIP: 'None', clusterIPs: ['None'], ports: [httpPort] }), [slice('h', eps)], node)).toEqual([]);
    expect(translateService(svc('e', { type: 'ExternalName', externalName: 'example.com' }), [], node)).toEqual([]);
    expect(translateService(svc('u', { ports: [httpPort] }), [], node)).toEqual([]);
    expect(translateService(svc('s', { clusterIP: '10.96.0.26', ports: [{ port: 9, protocol: 'SCTP' }] }), [], node)).toEqual([]);
  });

  it('unnamed port; IPv6 slices and slices of unmatched ports ignored; duplicates across slices merged (active wins)', () => {
    const s1 = slice('u', [{ addresses: ['10.0.1.5'], conditions: { ready: false, serving: true, terminating: true } }], [{ port: 8080, protocol: 'TCP' }]);
    const s2 = slice('u', [{ addresses: ['10.0.1.5'], conditions: { ready: true } }, { addresses: ['10.0.1.6'] }], [{ name: '', port: 8080 }]);
    const s6 = slice('u', [{ addresses: ['fd00::5'] }], [{ port: 8080 }], 'IPv6');
    const s3 = slice('u', [{ addresses: ['10.0.1.7'] }], [{ name: 'other', port: 9090 }]);
    expect(backendsFor([s1, s2, s6, s3], '', 'TCP')).toEqual([
      { ip: '10.0.1.5', port: 8080, protocol: 'TCP', state: 'active' },
      { ip: '10.0.1.6', port: 8080, protocol: 'TCP', state: 'active' },
    ]);
    expect(backendsFor([s1, s2], '', 'UDP')).toEqual([]);
  });

  it('conditions: nil ready = ready; terminating without serving left out', () => {
    const s = slice('c', [
      { addresses: ['10.0.0.1'] },
      { addresses: ['10.0.0.2'], conditions: { terminating: true } },
      { addresses: ['10.0.0.3'], conditions: { serving: true, terminating: true } },
      { addresses: ['10.0.0.4'], conditions: { ready: false } },
    ]);
    expect(backendsFor([s], 'http', 'TCP').map((b) => `${b.ip} ${b.state}`)).toEqual(['10.0.0.1 active', '10.0.0.3 terminating']);
  });
});

describe('translateHostPorts', () => {
  const pod = (over: Partial<Pod> = {}): Pod => ({
    metadata: { name: 'hp', namespace: 'default' },
    spec: {
      nodeName: 'node1',
      containers: [{ name: 'c', ports: [{ containerPort: 8080, hostPort: 8081 }, { containerPort: 53, hostPort: 5353, protocol: 'UDP', hostIP: '172.30.1.11' }, { containerPort: 9000 }] }],
    },
    status: { phase: 'Running', podIP: '10.0.1.44' },
    ...over,
  });

  it('node addresses (or hostIP) and the wildcard x hostPort -> podIP:containerPort', () => {
    const out = translateHostPorts(pod(), node);
    expect(fes(out)).toEqual(['HostPort 172.30.1.11:8081/TCP', 'HostPort 0.0.0.0:8081/TCP', 'HostPort 172.30.1.11:5353/UDP']);
    expect(out[0]?.['backend-addresses']).toEqual([{ ip: '10.0.1.44', port: 8080, protocol: 'TCP', state: 'active', nodeName: 'node1' }]);
    expect(out[0]?.flags).toEqual({ type: 'HostPort', name: 'hp', namespace: 'default' });
  });

  it('nothing without a pod IP, for another node, hostNetwork, finished pods or with the feature off', () => {
    expect(translateHostPorts(pod({ status: { phase: 'Pending' } }), node)).toEqual([]);
    expect(translateHostPorts(pod(), { name: 'node2', ips: ['172.30.1.12'] })).toEqual([]);
    expect(translateHostPorts(pod({ status: { phase: 'Succeeded', podIP: '10.0.1.44' } }), node)).toEqual([]);
    const hn = pod();
    if (hn.spec) hn.spec.hostNetwork = true;
    expect(translateHostPorts(hn, node)).toEqual([]);
    expect(translateHostPorts(pod(), node, { nodePort: true, externalIPs: true, loadBalancer: true, hostPort: false })).toEqual([]);
  });
});

describe('helpers', () => {
  it('nodeAddresses: --node-ip first, then InternalIP/ExternalIP, IPv4 only, deduplicated', () => {
    expect(nodeAddresses({ status: { addresses: [{ type: 'Hostname', address: 'node1' }, { type: 'InternalIP', address: '172.30.1.11' }, { type: 'InternalIP', address: 'fd00::1' }] } }, '172.30.1.11')).toEqual(['172.30.1.11']);
    expect(nodeAddresses(undefined, undefined)).toEqual([]);
  });

  it('specFingerprint changes with a backend state and not with object identity', () => {
    const a = translateService(svc('web', { clusterIP: '10.96.0.20', ports: [httpPort] }), [slice('web', eps)], node)[0];
    const b = translateService(svc('web', { clusterIP: '10.96.0.20', ports: [httpPort] }), [slice('web', eps)], node)[0];
    expect(a && b && specFingerprint(a) === specFingerprint(b)).toBe(true);
    const changed = eps.map((e, i) => (i === 0 ? { ...e, conditions: { ready: false, serving: true, terminating: true } } : e));
    const c = translateService(svc('web', { clusterIP: '10.96.0.20', ports: [httpPort] }), [slice('web', changed)], node)[0];
    expect(a && c && specFingerprint(a) !== specFingerprint(c)).toBe(true);
  });
});
