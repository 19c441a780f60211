/** What the observer knows about a local endpoint (or any IP the agent can name). */
export interface EndpointInfo {
  /** Endpoint id (1..65535) for local endpoints; 0 for non-endpoints such as the host or world. */
  id: number;
  /** Security identity. */
  identity: number;
  podName?: string;
  namespace?: string;
  /** Cilium label strings, e.g. `k8s:app=web`, `reserved:host`. */
  labels: string[];
}

/** Looks endpoints up for the flow decoder; the agent's endpoint manager implements it. */
export interface EndpointResolver {
  byId(id: number): EndpointInfo | undefined;
  byIp(ip: string): EndpointInfo | undefined;
}
