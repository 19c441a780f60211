import type { Endpoint } from '@cilium-ts/api';
import type { CniAgent } from './cni-context.js';

/**
 * The agent's endpoint of one attachment (container id + CNI_IFNAME). `container-id:<cid>` names the
 * container's first endpoint; when a container has several interfaces, the list is searched.
 */
export async function findEndpoint(agent: CniAgent, containerId: string, ifname: string): Promise<Endpoint | undefined> {
  const ep = await agent.endpointGet(`container-id:${containerId}`);
  if (!ep) return undefined;
  const epIf = ep.status?.networking?.['container-interface-name'];
  if (epIf === undefined || epIf === ifname) return ep;
  return (await agent.endpointList()).find(
    (e) => e.status?.['external-identifiers']?.['container-id'] === containerId && e.status?.networking?.['container-interface-name'] === ifname,
  );
}
