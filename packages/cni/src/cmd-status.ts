/** CNI STATUS: ready when the agent answers /v1/healthz with state Ok and the IP pool is not exhausted. */
import { AgentApiError } from '@cilium-ts/api';
import type { CniContext } from './cni-context.js';
import { toCniError } from './cni-context.js';
import { CniCode, CniError } from './cni-error.js';

export async function cmdStatus(ctx: CniContext): Promise<void> {
  const { agent } = ctx;
  let s;
  try {
    s = await agent.healthz();
  } catch (e) {
    if (e instanceof AgentApiError) {
      throw new CniError(CniCode.NOT_AVAILABLE, 'CNI_AGENT_NOT_READY', `cilium-agent at ${agent.socketPath} is not healthy: ${e.message}`, { hint: e.hint, cause: e });
    }
    throw toCniError(e, 'STATUS', CniCode.NOT_AVAILABLE);
  }
  const state = s?.cilium?.state;
  if (state !== 'Ok') {
    throw new CniError(CniCode.NOT_AVAILABLE, 'CNI_AGENT_NOT_READY', `cilium-agent at ${agent.socketPath} is not ready: state ${state ?? 'unknown'}`, {
      ...(s?.cilium?.msg ? { details: s.cilium.msg } : {}),
      hint: 'see `cilium-dbg status` and the agent log',
    });
  }
  const cap = s.ipam?.['ipv4-capacity'];
  const used = s.ipam?.['ipv4-allocated'];
  if (typeof cap === 'number' && typeof used === 'number' && cap > 0 && used >= cap) {
    throw new CniError(CniCode.NOT_AVAILABLE, 'CNI_IPAM_EXHAUSTED', `no free IPv4 address: ${used}/${cap} allocated in ${s.ipam['alloc-range']}`, {
      hint: 'delete unused pods or give the node a larger pod CIDR',
    });
  }
}
