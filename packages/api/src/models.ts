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
  'kube-proxy-replacement'?: { mode: string; features?: Record<string, unknown> };
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
