// Typed Kubernetes objects used by cilium-ts: the cilium.io/v2 CRDs (field names as in Cilium) and the few
// core/coordination types the operator, the agent and the CLI need (re-exported from @kubernetes/client-node).
export type { V1Node as Node, V1Pod as Pod, V1ConfigMap as ConfigMap } from '@kubernetes/client-node';
/** core/v1 Service and discovery.k8s.io/v1 EndpointSlice (kube-proxy replacement). */
export type { V1Service as Service, V1EndpointSlice as EndpointSlice } from '@kubernetes/client-node';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
  finalizers?: string[];
}

/** Anything with metadata (what an Informer caches). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string };
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

// ---- CiliumNode -------------------------------------------------------------------------------------------
export interface NodeAddress {
  /** InternalIP, ExternalIP, CiliumInternalIP */
  type: string;
  ip: string;
}
export interface AllocationIP {
  owner?: string;
  resource?: string;
}
export interface CiliumNodeSpec {
  addresses?: NodeAddress[];
  health?: { ipv4?: string; ipv6?: string };
  ingress?: { ipv4?: string; ipv6?: string };
  encryption?: { key?: number };
  'instance-id'?: string;
  bootid?: string;
  ipam?: {
    /** Pod CIDRs of the node; with cluster-pool IPAM written by the operator. */
    podCIDRs?: string[];
    pool?: Record<string, AllocationIP>;
    'min-allocate'?: number;
    'max-allocate'?: number;
    'pre-allocate'?: number;
    'max-above-watermark'?: number;
  };
}
export interface CiliumNodeStatus {
  ipam?: {
    used?: Record<string, AllocationIP>;
    'operator-status'?: { error?: string };
    'pod-cidrs'?: Record<string, { status?: 'released' | 'depleted' | 'in-use' }>;
  };
}
export interface CiliumNode extends KubeObject {
  metadata: ObjectMeta;
  spec: CiliumNodeSpec;
  status?: CiliumNodeStatus;
}

// ---- CiliumEndpoint ---------------------------------------------------------------------------------------
export interface CiliumEndpointStatus {
  id?: number;
  identity?: { id: number; labels?: string[] };
  networking?: { addressing: { ipv4?: string; ipv6?: string }[]; node?: string };
  state?: string;
  encryption?: { key?: number };
  'named-ports'?: { name?: string; port: number; protocol?: string }[];
  'service-account'?: string;
  'external-identifiers'?: Record<string, unknown>;
  policy?: Record<string, unknown>;
}
export interface CiliumEndpoint extends KubeObject {
  metadata: ObjectMeta;
  status?: CiliumEndpointStatus;
}

// ---- CiliumIdentity ---------------------------------------------------------------------------------------
export interface CiliumIdentity extends KubeObject {
  /** metadata.name is the numeric identity. */
  metadata: ObjectMeta;
  'security-labels': Record<string, string>;
}

// ---- Policies ---------------------------------------------------------------------------------------------
export interface PortProtocol {
  port: string;
  endPort?: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP' | 'ANY';
}
export interface PortRuleHTTP {
  method?: string;
  path?: string;
  host?: string;
  headers?: string[];
  headerMatches?: { name: string; value?: string; mismatch?: 'LOG' | 'ADD' | 'DELETE' | 'REPLACE'; secret?: { namespace?: string; name: string } }[];
}
export interface FQDNSelector {
  matchName?: string;
  matchPattern?: string;
}
export interface PortRule {
  ports?: PortProtocol[];
  rules?: { http?: PortRuleHTTP[]; dns?: FQDNSelector[]; kafka?: Record<string, string>[]; l7proto?: string; l7?: Record<string, string>[] };
  terminatingTLS?: Record<string, unknown>;
  originatingTLS?: Record<string, unknown>;
  serverNames?: string[];
}
export interface CIDRRule {
  cidr?: string;
  except?: string[];
  cidrGroupRef?: string;
  cidrGroupSelector?: LabelSelector;
}
export interface ICMPRule {
  fields?: { family?: 'IPv4' | 'IPv6'; type: number | string }[];
}
export type Entity =
  | 'all' | 'world' | 'cluster' | 'host' | 'init' | 'ingress' | 'unmanaged' | 'remote-node' | 'health' | 'none'
  | 'kube-apiserver' | 'world-ipv4' | 'world-ipv6' | 'cluster-mesh';
export interface IngressRule {
  fromEndpoints?: LabelSelector[];
  fromRequires?: LabelSelector[];
  fromCIDR?: string[];
  fromCIDRSet?: CIDRRule[];
  fromEntities?: Entity[];
  fromNodes?: LabelSelector[];
  toPorts?: PortRule[];
  icmps?: ICMPRule[];
  authentication?: { mode: 'disabled' | 'required' | 'test-always-fail' };
}
export interface EgressRule {
  toEndpoints?: LabelSelector[];
  toRequires?: LabelSelector[];
  toCIDR?: string[];
  toCIDRSet?: CIDRRule[];
  toEntities?: Entity[];
  toServices?: { k8sService?: { serviceName?: string; namespace?: string }; k8sServiceSelector?: { selector: LabelSelector; namespace?: string } }[];
  toFQDNs?: FQDNSelector[];
  toNodes?: LabelSelector[];
  toPorts?: PortRule[];
  icmps?: ICMPRule[];
  authentication?: { mode: 'disabled' | 'required' | 'test-always-fail' };
}
export interface PolicyRule {
  endpointSelector?: LabelSelector;
  nodeSelector?: LabelSelector;
  ingress?: IngressRule[];
  ingressDeny?: Omit<IngressRule, 'authentication'>[];
  egress?: EgressRule[];
  egressDeny?: Omit<EgressRule, 'toFQDNs' | 'authentication'>[];
  labels?: { key: string; value?: string; source?: string }[];
  description?: string;
  enableDefaultDeny?: { ingress?: boolean; egress?: boolean };
}
export interface CiliumNetworkPolicy extends KubeObject {
  metadata: ObjectMeta;
  spec?: PolicyRule;
  specs?: PolicyRule[];
  description?: string;
  status?: Record<string, unknown>;
}
export type CiliumClusterwideNetworkPolicy = CiliumNetworkPolicy;

// ---- CiliumLoadBalancerIPPool (LB-IPAM) --------------------------------------------------------------------
/** One block of a pool: a CIDR, or start (and stop, inclusive). */
export interface CiliumLoadBalancerIPPoolIPBlock {
  cidr?: string;
  start?: string;
  stop?: string;
}
/** A metav1.Condition (wire shape). */
export interface MetaCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}
export interface CiliumLoadBalancerIPPoolSpec {
  blocks?: CiliumLoadBalancerIPPoolIPBlock[];
  /** Deprecated spelling of blocks (v2alpha1 before Cilium 1.15). */
  cidrs?: CiliumLoadBalancerIPPoolIPBlock[];
  allowFirstLastIPs?: 'Yes' | 'No';
  disabled?: boolean;
  serviceSelector?: LabelSelector;
}
export interface CiliumLoadBalancerIPPool extends KubeObject {
  metadata: ObjectMeta;
  spec: CiliumLoadBalancerIPPoolSpec;
  status?: { conditions?: MetaCondition[] };
}

// ---- coordination.k8s.io/v1 Lease (wire shape: times are RFC 3339 strings) ----------------------------------
export interface Lease extends KubeObject {
  metadata: ObjectMeta;
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}
