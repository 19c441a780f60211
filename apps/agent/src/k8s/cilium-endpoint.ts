// CiliumEndpoint objects as the agent writes them: one per local endpoint that belongs to a pod, named and
// namespaced as the pod, owned by the pod (garbage-collected with it), with the status fields Cilium fills.
import type { CiliumEndpoint, CiliumEndpointStatus, Pod } from '@cilium-ts/k8s';
import type { EndpointRecord } from '../state-store.js';

/**
 * A pod's labels as Cilium's security labels: every pod label prefixed `k8s:`, plus the pod's namespace
 * (`k8s:io.kubernetes.pod.namespace`), its service account (`k8s:io.cilium.k8s.policy.serviceaccount`)
 * and the cluster (`k8s:io.cilium.k8s.policy.cluster`). Sorted, so equal pods give equal lists.
 */
export function podSecurityLabels(pod: Pod, clusterName = 'default'): string[] {
  const out = new Set<string>();
  for (const [k, v] of Object.entries(pod.metadata?.labels ?? {})) out.add(`k8s:${k}=${v}`);
  const ns = pod.metadata?.namespace;
  if (ns) out.add(`k8s:io.kubernetes.pod.namespace=${ns}`);
  out.add(`k8s:io.cilium.k8s.policy.serviceaccount=${pod.spec?.serviceAccountName ?? 'default'}`);
  out.add(`k8s:io.cilium.k8s.policy.cluster=${clusterName}`);
  return [...out].sort();
}

/** The named container ports of a pod (CiliumEndpoint status.named-ports). */
function namedPorts(pod: Pod | undefined): NonNullable<CiliumEndpointStatus['named-ports']> {
  const out: NonNullable<CiliumEndpointStatus['named-ports']> = [];
  for (const c of pod?.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (p.name) out.push({ name: p.name, port: p.containerPort, protocol: (p.protocol ?? 'TCP') as 'TCP' });
    }
  }
  return out.sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''));
}

export interface CiliumEndpointContext {
  /** This node's underlay IP (status.networking.node, as Cilium writes it). */
  nodeIp: string | undefined;
  /** The pod (for its uid: the owner reference; and its service account / named ports). */
  pod: Pod | undefined;
  /** Security identity (0 until identities land). */
  identity?: number;
}

/** The CiliumEndpoint of a local endpoint; undefined when the endpoint has no pod name/namespace. */
export function buildCiliumEndpoint(rec: EndpointRecord, ctx: CiliumEndpointContext): CiliumEndpoint | undefined {
  if (rec.podName === undefined || rec.namespace === undefined) return undefined;
  const pod = ctx.pod;
  const uid = pod?.metadata?.uid;
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumEndpoint',
    metadata: {
      name: rec.podName,
      namespace: rec.namespace,
      ...(uid !== undefined ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: rec.podName, uid, blockOwnerDeletion: true }] } : {}),
    },
    status: ciliumEndpointStatus(rec, ctx),
  };
}

export function ciliumEndpointStatus(rec: EndpointRecord, ctx: CiliumEndpointContext): CiliumEndpointStatus {
  return {
    id: rec.id,
    identity: { id: ctx.identity ?? 0, labels: [...rec.labels].sort() },
    networking: { addressing: [{ ipv4: rec.ipv4 }], ...(ctx.nodeIp !== undefined ? { node: ctx.nodeIp } : {}) },
    state: 'ready',
    encryption: {},
    'named-ports': namedPorts(ctx.pod),
    ...(ctx.pod?.spec?.serviceAccountName ? { 'service-account': ctx.pod.spec.serviceAccountName } : {}),
    'external-identifiers': {
      'container-id': rec.containerId,
      'k8s-namespace': rec.namespace,
      'k8s-pod-name': rec.podName,
      'pod-name': `${rec.namespace}/${rec.podName}`,
    },
  };
}

/** Deep equality of JSON values (key order ignored): is a rewrite needed? */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ak.length === bk.length && ak.every((k) => jsonEqual(ao[k], bo[k]));
}

/** Whether the stored object already says what we would write (status and owner reference). */
export function ciliumEndpointUpToDate(cur: CiliumEndpoint, want: CiliumEndpoint): boolean {
  if (!jsonEqual(cur.status ?? {}, want.status ?? {})) return false;
  const wantOwner = want.metadata.ownerReferences?.[0];
  if (!wantOwner) return true;
  return (cur.metadata.ownerReferences ?? []).some((r) => r.uid === wantOwner.uid && r.kind === 'Pod');
}
