/**
 * CNI DEL, idempotent and best effort: the endpoint and its IP(s) go from the agent (404 is fine),
 * the host veth goes by its derived name (its peer and the pod-side address go with it). A missing
 * netns, an unknown container or an unreachable agent are not errors (the agent case is logged).
 */
import { Netlink } from '@cilium-ts/netlink';
import { AgentApiError, AgentUnreachableError } from '@cilium-ts/api';
import type { CniContext } from './cni-context.js';
import { toCniError } from './cni-context.js';
import { CniError, describeError } from './cni-error.js';
import { parseResult } from './cni-result.js';
import { findEndpoint } from './find-endpoint.js';
import { hostVethName } from './host-veth-name.js';

export async function cmdDel(ctx: CniContext): Promise<void> {
  const { env, conf, log, agent } = ctx;
  const cid = env.containerId;
  const epId = `container-id:${cid}`;
  const hostName = hostVethName(cid, env.ifname);
  const errors: CniError[] = [];

  // IPs this attachment holds: from prevResult (the runtime's cache), and from the agent's endpoint.
  // The endpoint's IPs are released by the agent with the endpoint; prevResult's are released here
  // (404: already free; 409: an endpoint, i.e. another pod by now, holds it: not ours any more).
  const ips = new Set<string>();
  const prev = parseResult(conf.prevResult);
  for (const ipc of prev.ips) {
    const iface = ipc.interface === undefined ? undefined : prev.interfaces[ipc.interface];
    if (iface && iface.name !== env.ifname && iface.name !== hostName) continue;
    const addr = ipc.address.split('/')[0];
    if (addr && !addr.includes(':')) ips.add(addr);
  }
  const owner = `${cid}:${env.ifname}`;

  try {
    const ep = await findEndpoint(agent, cid, env.ifname);
    if (ep) {
      for (const a of ep.status?.networking?.addressing ?? []) if (a.ipv4) ips.add(a.ipv4);
      const deleted = await agent.endpointDelete(ep.id);
      log.debug('endpoint delete', { endpoint: ep.id, deleted });
    }
    for (const ip of ips) {
      try {
        const released = await agent.ipamRelease(ip, { owner });
        log.debug('IP release', { ip, released });
      } catch (e) {
        if (e instanceof AgentUnreachableError) throw e;
        if (e instanceof AgentApiError && e.status === 409) {
          log.info('IP from prevResult is in use by another endpoint now; not releasing it', { ip, error: e.message });
          continue;
        }
        errors.push(toCniError(e, `DEL ${cid}/${env.ifname}: release IP ${ip}`));
      }
    }
  } catch (e) {
    if (e instanceof AgentUnreachableError) {
      log.warn('cilium-agent unreachable during DEL; removing the veth only (IP and endpoint stay until the agent cleans up)', {
        socket: e.socketPath,
        error: e.message,
        ips: [...ips],
      });
    } else {
      errors.push(toCniError(e, `DEL ${cid}/${env.ifname}: remove endpoint ${epId}`));
    }
  }

  let nl: Netlink | undefined;
  try {
    nl = Netlink.open();
    const deleted = await nl.deleteLinkAsync(hostName);
    log.debug('host veth delete', { interface: hostName, deleted });
  } catch (e) {
    errors.push(toCniError(e, `DEL ${cid}/${env.ifname}: delete veth ${hostName}`));
  } finally {
    nl?.close();
  }

  const first = errors[0];
  if (first) {
    for (const e of errors.slice(1)) log.error('DEL error', { error: describeError(e) });
    throw first;
  }
}
