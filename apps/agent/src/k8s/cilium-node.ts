// The agent's own CiliumNode (created/updated by the agent; spec.ipam.podCIDRs written by the operator) and
// the RemoteNode view of the other nodes' CiliumNodes (fed to NodeManager).
import type { CiliumNode, Node } from '@cilium-ts/k8s';
import type { RemoteNode } from '../node/remote-node.js';

export interface OwnCiliumNodeInput {
  name: string;
  /** This node's underlay IPv4 (spec.addresses InternalIP). */
  nodeIp: string | undefined;
  /** The Node object (its uid becomes the owner reference). */
  node: Node | undefined;
}

/** The CiliumNode the agent creates for itself: addresses, empty ipam (the operator fills podCIDRs). */
export function buildCiliumNode(i: OwnCiliumNodeInput): CiliumNode {
  const uid = i.node?.metadata?.uid;
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNode',
    metadata: {
      name: i.name,
      labels: { ...(i.node?.metadata?.labels ?? {}) },
      ...(uid !== undefined ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: i.name, uid }] } : {}),
    },
    spec: {
      addresses: i.nodeIp !== undefined ? [{ type: 'InternalIP', ip: i.nodeIp }] : [],
      ipam: {},
    },
  };
}

/**
 * What must change on an existing CiliumNode to match `want` (a merge patch), or undefined when nothing
 * does: addresses and the owner reference. spec.ipam is the operator's; labels are left alone.
 */
export function ciliumNodePatch(cur: CiliumNode, want: CiliumNode): Record<string, unknown> | undefined {
  const patch: { metadata?: Record<string, unknown>; spec?: Record<string, unknown> } = {};
  const curAddrs = JSON.stringify(cur.spec?.addresses ?? []);
  const wantAddrs = JSON.stringify(want.spec.addresses ?? []);
  if (curAddrs !== wantAddrs) patch.spec = { addresses: want.spec.addresses ?? [] };
  const wantOwner = want.metadata.ownerReferences?.[0];
  if (wantOwner && !(cur.metadata.ownerReferences ?? []).some((r) => r.uid === wantOwner.uid)) patch.metadata = { ownerReferences: [wantOwner] };
  return patch.spec || patch.metadata ? patch : undefined;
}

/** The InternalIP of a CiliumNode (else its first IPv4 address). */
export function ciliumNodeIp(cn: CiliumNode): string | undefined {
  const addrs = (cn.spec?.addresses ?? []).filter((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a.ip));
  return (addrs.find((a) => a.type === 'InternalIP') ?? addrs[0])?.ip;
}

/** A CiliumNode as a remote node (name, InternalIP, IPv4 podCIDRs), or undefined when it lacks either. */
export function remoteNodeFromCiliumNode(cn: CiliumNode): RemoteNode | undefined {
  const ip = ciliumNodeIp(cn);
  const podCIDRs = (cn.spec?.ipam?.podCIDRs ?? []).filter((c) => !c.includes(':'));
  if (!ip || podCIDRs.length === 0 || !cn.metadata?.name) return undefined;
  return { name: cn.metadata.name, ip, podCIDRs };
}

/** A Node's InternalIP (IPv4). */
export function nodeInternalIp(node: Node | undefined): string | undefined {
  const addrs = node?.status?.addresses ?? [];
  return addrs.find((a) => a.type === 'InternalIP' && /^\d+\.\d+\.\d+\.\d+$/.test(a.address))?.address;
}
