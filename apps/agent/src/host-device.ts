import type { Netlink } from '@cilium-ts/netlink';
import { AgentError } from './errors.js';

/** The peer of the host device: cilium_host pairs with cilium_net, as in Cilium. */
export function hostDevicePeer(name: string): string {
  return name === 'cilium_host' ? 'cilium_net' : `${name.slice(0, 11)}_net`;
}

/**
 * The agent's host device: a veth pair (cilium_host / cilium_net, as Cilium makes it; a veth works on
 * kernels without the dummy module) whose cilium_host side holds the router IP (the pods' gateway) as
 * a /32, so pods reach the host through the stack. Idempotent.
 */
export function ensureHostDevice(netlink: Netlink, name: string, routerIp: string): number {
  const peer = hostDevicePeer(name);
  let link = netlink.linkByName(name);
  if (link && link.kind !== undefined && link.kind !== 'veth') {
    throw new AgentError('HOST_DEVICE_CONFLICT', `host device ${name} exists but is a ${link.kind}, not a veth`, 'delete it or pass another --host-device');
  }
  if (!link) {
    netlink.createVeth({ name, peerName: peer });
    link = netlink.linkByName(name);
    if (!link) throw new AgentError('HOST_DEVICE_VANISHED', `host device ${name} vanished after creation`, 'is another process deleting links?');
  }
  if (!netlink.addresses(link.index).some((a) => a.cidr === `${routerIp}/32`)) {
    netlink.addAddress(link.index, `${routerIp}/32`, { noprefixroute: true });
  }
  const peerLink = netlink.linkByName(peer);
  if (peerLink && !peerLink.up) netlink.setLinkUp(peerLink.index);
  if (!link.up) netlink.setLinkUp(link.index);
  return link.index;
}
