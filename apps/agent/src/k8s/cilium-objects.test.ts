import { describe, expect, it } from 'vitest';
import type { CiliumNode, Node, Pod } from '@cilium-ts/k8s';
import type { EndpointRecord } from '../state-store.js';
import { buildCiliumEndpoint, ciliumEndpointUpToDate, podSecurityLabels } from './cilium-endpoint.js';
import { buildCiliumNode, ciliumNodePatch, nodeInternalIp, remoteNodeFromCiliumNode } from './cilium-node.js';

const node = { metadata: { name: 'node1', uid: 'uid-node1', labels: { 'kubernetes.io/hostname': 'node1' } }, status: { addresses: [{ type: 'Hostname', address: 'node1' }, { type: 'InternalIP', address: '172.30.1.11' }] } } as Node;
const pod = {
  metadata: { name: 'echo', namespace: 'default', uid: 'uid-echo', labels: { app: 'echo', tier: 'web' } },
  spec: { serviceAccountName: 'echo-sa', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }, { containerPort: 9090 }] }] },
} as unknown as Pod;
const rec: EndpointRecord = {
  id: 42, containerId: 'c0ffee', containerIfname: 'eth0', ifname: 'lxc0123', ifindex: 7, mac: '02:00:00:00:00:01', hostMac: '02:00:00:00:00:02',
  ipv4: '10.244.1.5', podName: 'echo', namespace: 'default', labels: ['k8s:app=echo'], createdAt: '2026-11-25T00:00:00.000Z',
};

describe('CiliumNode objects', () => {
  it('builds our own CiliumNode: InternalIP, empty ipam, owned by the Node', () => {
    const cn = buildCiliumNode({ name: 'node1', nodeIp: '172.30.1.11', node });
    expect(cn).toEqual({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNode',
      metadata: { name: 'node1', labels: { 'kubernetes.io/hostname': 'node1' }, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'node1', uid: 'uid-node1' }] },
      spec: { addresses: [{ type: 'InternalIP', ip: '172.30.1.11' }], ipam: {} },
    });
    expect(nodeInternalIp(node)).toBe('172.30.1.11');
  });

  it('patches only what differs (addresses, owner); never spec.ipam', () => {
    const want = buildCiliumNode({ name: 'node1', nodeIp: '172.30.1.11', node });
    const same: CiliumNode = { ...want, spec: { ...want.spec, ipam: { podCIDRs: ['10.244.1.0/24'] } }, metadata: { ...want.metadata, resourceVersion: '5' } };
    expect(ciliumNodePatch(same, want)).toBeUndefined();
    const moved: CiliumNode = { ...same, spec: { ...same.spec, addresses: [{ type: 'InternalIP', ip: '172.30.1.99' }] } };
    expect(ciliumNodePatch(moved, want)).toEqual({ spec: { addresses: [{ type: 'InternalIP', ip: '172.30.1.11' }] } });
    const orphan: CiliumNode = { ...same, metadata: { name: 'node1' } };
    expect(ciliumNodePatch(orphan, want)).toEqual({ metadata: { ownerReferences: want.metadata.ownerReferences } });
  });

  it('reads remote nodes from CiliumNodes (InternalIP + IPv4 podCIDRs), skipping incomplete ones', () => {
    const cn = (spec: CiliumNode['spec']): CiliumNode => ({ metadata: { name: 'node2' }, spec });
    expect(remoteNodeFromCiliumNode(cn({ addresses: [{ type: 'CiliumInternalIP', ip: '10.244.2.1' }, { type: 'InternalIP', ip: '172.30.1.12' }], ipam: { podCIDRs: ['10.244.2.0/24', 'fd00::/96'] } })))
      .toEqual({ name: 'node2', ip: '172.30.1.12', podCIDRs: ['10.244.2.0/24'] });
    expect(remoteNodeFromCiliumNode(cn({ addresses: [{ type: 'InternalIP', ip: '172.30.1.12' }], ipam: {} }))).toBeUndefined();
    expect(remoteNodeFromCiliumNode(cn({ ipam: { podCIDRs: ['10.244.2.0/24'] } }))).toBeUndefined();
  });
});

describe('CiliumEndpoint objects', () => {
  it("gives pods Cilium's k8s: security labels", () => {
    expect(podSecurityLabels(pod)).toEqual([
      'k8s:app=echo',
      'k8s:io.cilium.k8s.policy.cluster=default',
      'k8s:io.cilium.k8s.policy.serviceaccount=echo-sa',
      'k8s:io.kubernetes.pod.namespace=default',
      'k8s:tier=web',
    ]);
  });

  it('builds the CiliumEndpoint of a local endpoint, owned by its pod', () => {
    const cep = buildCiliumEndpoint(rec, { nodeIp: '172.30.1.11', pod });
    expect(cep).toEqual({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumEndpoint',
      metadata: { name: 'echo', namespace: 'default', ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'echo', uid: 'uid-echo', blockOwnerDeletion: true }] },
      status: {
        id: 42,
        identity: { id: 0, labels: ['k8s:app=echo'] },
        networking: { addressing: [{ ipv4: '10.244.1.5' }], node: '172.30.1.11' },
        state: 'ready',
        encryption: {},
        'named-ports': [{ name: 'http', port: 8080, protocol: 'TCP' }],
        'service-account': 'echo-sa',
        'external-identifiers': { 'container-id': 'c0ffee', 'k8s-namespace': 'default', 'k8s-pod-name': 'echo', 'pod-name': 'default/echo' },
      },
    });
    const { podName: _p, ...noPod } = rec;
    expect(buildCiliumEndpoint(noPod, { nodeIp: undefined, pod: undefined })).toBeUndefined();
  });

  it('compares the stored object: unchanged -> no write; a new id, address, label or owner -> write', () => {
    const want = buildCiliumEndpoint(rec, { nodeIp: '172.30.1.11', pod })!;
    // as the apiserver returns it: extra metadata, keys in another order
    const stored = JSON.parse(JSON.stringify({ metadata: { ...want.metadata, resourceVersion: '9', uid: 'u', creationTimestamp: 'x' }, status: { ...want.status } }));
    expect(ciliumEndpointUpToDate(stored, want)).toBe(true);
    expect(ciliumEndpointUpToDate(stored, buildCiliumEndpoint({ ...rec, id: 43 }, { nodeIp: '172.30.1.11', pod })!)).toBe(false);
    expect(ciliumEndpointUpToDate(stored, buildCiliumEndpoint({ ...rec, labels: ['k8s:app=other'] }, { nodeIp: '172.30.1.11', pod })!)).toBe(false);
    const newPod = { ...pod, metadata: { ...pod.metadata, uid: 'uid-echo-2' } } as Pod;
    expect(ciliumEndpointUpToDate(stored, buildCiliumEndpoint(rec, { nodeIp: '172.30.1.11', pod: newPod })!)).toBe(false);
  });
});
