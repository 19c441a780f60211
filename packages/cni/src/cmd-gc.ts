/**
 * CNI GC: every agent endpoint whose (container-id, ifname) is not among `cni.dev/valid-attachments`
 * is deleted, its IPs released and its host veth removed. Errors do not stop the sweep; they are
 * reported together at the end.
 */
import { Netlink } from '@cilium-ts/netlink';
import type { CniContext } from './cni-context.js';
import { toCniError } from './cni-context.js';
import { CniCode, CniError, describeError } from './cni-error.js';
import { hostVethName } from './host-veth-name.js';

export async function cmdGc(ctx: CniContext): Promise<void> {
  const { conf, log, agent } = ctx;
  if (!conf.validAttachments) {
    throw new CniError(CniCode.INVALID_CONFIG, 'CNI_INVALID_CONFIG', 'invalid network configuration: GC needs "cni.dev/valid-attachments"', {
      hint: 'the runtime passes the still-valid attachments as [{"containerID": ..., "ifname": ...}]',
    });
  }
  const valid = new Set(conf.validAttachments.map((a) => `${a.containerID}\0${a.ifname}`));
  const validCids = new Set(conf.validAttachments.map((a) => a.containerID));
  let eps;
  try {
    eps = await agent.endpointList();
  } catch (e) {
    throw toCniError(e, 'GC: list endpoints');
  }
  const errors: string[] = [];
  let nl: Netlink | undefined;
  try {
    for (const ep of eps ?? []) {
      const cid = ep.status?.['external-identifiers']?.['container-id'];
      if (!cid) continue; // not made by a CNI ADD (host, health)
      const ifname = ep.status?.networking?.['container-interface-name'];
      const keep = ifname ? valid.has(`${cid}\0${ifname}`) : validCids.has(cid);
      if (keep) continue;
      log.info('GC: removing stale endpoint', { endpoint: ep.id, containerID: cid, interface: ifname });
      try {
        await agent.endpointDelete(ep.id);
      } catch (e) {
        errors.push(describeError(toCniError(e, `delete endpoint ${ep.id} (${cid})`)));
      }
      for (const a of ep.status?.networking?.addressing ?? []) {
        if (!a.ipv4) continue;
        try {
          await agent.ipamRelease(a.ipv4);
        } catch (e) {
          errors.push(describeError(toCniError(e, `release IP ${a.ipv4} (${cid})`)));
        }
      }
      const veth = ep.status?.networking?.['interface-name'] ?? (ifname ? hostVethName(cid, ifname) : undefined);
      if (veth && veth.startsWith('lxc')) {
        try {
          nl ??= Netlink.open();
          await nl.deleteLinkAsync(veth);
        } catch (e) {
          errors.push(describeError(toCniError(e, `delete veth ${veth} (${cid})`)));
        }
      }
    }
  } finally {
    nl?.close();
  }
  if (errors.length > 0) {
    throw new CniError(CniCode.GC_FAILED, 'CNI_GC_FAILED', `GC: ${errors.length} stale resource(s) could not be removed`, {
      details: errors.join('; '),
      hint: 'GC continued past each error; run it again or remove the leftovers with cilium-dbg',
    });
  }
}
