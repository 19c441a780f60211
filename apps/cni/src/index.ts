// Public surface of the CNI app for reuse (e.g. by cilium-dbg): the agent REST client only.
// The plugin itself is bin/cilium-cni (src/main.ts).
export { AgentClient, AgentApiError, AgentUnreachableError, DEFAULT_SOCKET_PATH } from './agent-client.js';
export type {
  AgentClientOptions,
  ApiError,
  DaemonConfigurationResponse,
  Endpoint,
  EndpointChangeRequest,
  IpamResponse,
  StatusResponse,
} from './agent-client.js';
