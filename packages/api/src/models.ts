// Models of the agent REST API (packages/api/openapi.yaml). Field names follow Cilium's API (kebab-case).

export interface ApiError {
  code: string;
  message: string;
  hint?: string;
}

export interface AddressPair {
  ipv4?: string;
}

export interface NodeAddressingElement {
  ip: string;
  'alloc-range': string;
  enabled: boolean;
}

export interface IpamAddressResponse {
  ip: string;
  gateway: string;
  cidrs: string[];
  'expiration-uuid'?: string;
}

export interface IpamResponse {
  address: AddressPair;
  ipv4: IpamAddressResponse;
  'host-addressing': { ipv4: NodeAddressingElement };
}

export interface EndpointChangeRequest {
  'container-id': string;
  'container-interface-name'?: string;
  'interface-name': string;
  'interface-index': number;
  mac: string;
  'host-mac': string;
  addressing: AddressPair;
  'netns-path'?: string;
  'k8s-pod-name'?: string;
  'k8s-namespace'?: string;
  labels?: string[];
}

export type EndpointState = 'waiting-for-identity' | 'regenerating' | 'ready' | 'disconnecting' | 'not-ready';

export interface Endpoint {
  id: number;
  spec: { 'label-configuration'?: { 'user'?: string[] } };
  status: {
    state: EndpointState;
    identity: { id: number; labels: string[] };
    networking: {
      addressing: AddressPair[];
      mac: string;
      'host-mac': string;
      'interface-name': string;
      'interface-index': number;
      'container-interface-name'?: string;
    };
    'external-identifiers': {
      'container-id': string;
      'pod-name'?: string;
      'k8s-pod-name'?: string;
      'k8s-namespace'?: string;
      'netns-path'?: string;
    };
    'created-at': string;
    log?: Array<{ timestamp: string; code: string; message: string }>;
  };
}

export interface Status {
  state: 'Ok' | 'Warning' | 'Failure' | 'Disabled';
  msg?: string;
}

export interface StatusResponse {
  cilium: Status;
  'kube-proxy-replacement'?: KubeProxyReplacementStatus | { mode: string };
  /** Kubernetes mode: the watches' state ('Disabled' when the agent runs without Kubernetes). */
  kubernetes?: {
    state: Status['state'];
    msg?: string;
    synced?: boolean;
    informers?: Record<string, { synced: boolean; lists: number; watches: number; errors: number }>;
    'cilium-endpoints'?: Record<string, number>;
    'cilium-node'?: Record<string, unknown>;
  };
  ipam: { ipv4: string[]; 'ipv4-allocated': number; 'ipv4-capacity': number; 'alloc-range': string };
  'bpf-maps': { 'dynamic-size-ratio'?: number; maps: Array<{ name: string; size: number; entries?: number }> };
  controllers: Array<{ name: string; status: { 'success-count': number; 'failure-count': number; 'consecutive-failure-count': number; 'last-failure-msg'?: string; 'last-success-timestamp'?: string } }>;
  'stale-endpoints'?: number;
  'endpoint-count': number;
  'hubble': { state: Status['state']; msg?: string; observer?: { 'current-flows': number; 'max-flows': number; 'seen-flows': number } };
  'node-name': string;
  'uptime-seconds': number;
  'datapath-mode': string;
}

export interface DaemonConfigurationResponse {
  spec: { options: Record<string, string> };
  status: {
    addressing: { ipv4: NodeAddressingElement };
    'daemon-config-map': Record<string, unknown>;
    'state-dir': string;
    'bpf-root': string;
    'bpf-pin-dir': string;
    'socket-path': string;
    'hubble-socket-path': string;
    'host-device': string;
    'node-name': string;
    /** MTU of the underlay device (as Cilium's). */
    'device-mtu'?: number;
    /** MTU for pod interfaces and routes: device MTU less the VXLAN overhead (50) in tunnel mode. */
    'route-mtu'?: number;
  };
}

// ---- Services (kube-proxy replacement): Cilium's /service API models ----

export type L4Protocol = 'TCP' | 'UDP' | 'ANY';

/** A frontend: VIP (NodePort: a node address, or 0.0.0.0 for "every node address"), port, protocol. */
export interface FrontendAddress {
  ip: string;
  port: number;
  protocol: L4Protocol;
  /** 'external' (default) or 'internal' (the internalTrafficPolicy=Local view for pods and the node). */
  scope?: 'external' | 'internal';
}

export type BackendState = 'active' | 'terminating' | 'quarantined' | 'maintenance';

export interface BackendAddress {
  ip: string;
  port: number;
  protocol?: L4Protocol;
  /** Node the backend runs on (for *TrafficPolicy=Local and `cilium-dbg service list`). */
  nodeName?: string;
  /** active: gets new connections; terminating: keeps its connections, gets no new ones. */
  state?: BackendState;
  /** Backend id in cilium_lb4_backends_v3 (set by the agent in responses). */
  id?: number;
}

export type ServiceType = 'ClusterIP' | 'NodePort' | 'ExternalIPs' | 'LoadBalancer' | 'HostPort' | 'LocalRedirect';

export interface ServiceSpecFlags {
  type: ServiceType;
  name?: string;
  namespace?: string;
  extTrafficPolicy?: 'Cluster' | 'Local';
  intTrafficPolicy?: 'Cluster' | 'Local';
  /** sessionAffinity: ClientIP, with its timeout in seconds (Kubernetes' default 10800). */
  sessionAffinity?: boolean;
  sessionAffinityTimeout?: number;
  /** NodePort services: the node-port number (also the frontend port of their NodePort frontends). */
  natPolicy?: string;
}

/** PUT /v1/service/{id} body; `GET /v1/service` returns Service[] whose spec is this. */
export interface ServiceSpec {
  /** The service id = rev_nat_index, 1..65535 (0 or absent in a PUT: the agent picks one). */
  id?: number;
  'frontend-address': FrontendAddress;
  'backend-addresses': BackendAddress[];
  flags: ServiceSpecFlags;
}

export interface Service {
  spec: ServiceSpec;
  status: { realized: ServiceSpec };
}

/** `kube-proxy-replacement` in StatusResponse (Cilium's KubeProxyReplacement model, the parts we fill). */
export interface KubeProxyReplacementStatus {
  mode: string;
  devices?: string[];
  /** Cilium's deviceList: each LB device with its addresses. */
  deviceList?: Array<{ name: string; ip: string[] }>;
  /** Cilium's directRoutingDevice: the device holding the node IP. */
  directRoutingDevice?: string;
  features: {
    nodePort: { enabled: boolean; mode?: 'SNAT' | 'DSR' | 'Hybrid'; algorithm?: 'Random' | 'Maglev'; portMin?: number; portMax?: number };
    hostPort: { enabled: boolean };
    externalIPs: { enabled: boolean };
    hostReachableServices: { enabled: boolean; protocols?: string[] };
    sessionAffinity: { enabled: boolean };
    socketLB?: { enabled: boolean };
  };
  /** What probe mode found missing, or why a feature is off. */
  messages?: string[];
}
