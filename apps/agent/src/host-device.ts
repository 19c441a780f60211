import type { Netlink } from '@cilium-ts/netlink';

/**
 * The agent's host device: a dummy link holding the router IP (the pods' gateway) as a /32, so pods
 * reach the host through the stack. Idempotent.
 */
export function ensureHostDevice(netlink: Netlink, name: string, routerIp: string): number {
  let link = netlink.linkByName(name);
  if (link && link.kind !== undefined && link.kind !== 'dummy') {
    throw new Error(`host device ${name} exists but is a ${link.kind}, not a dummy`);
  }
  if (!link) {
    netlink.createDummy(name);
    link = netlink.linkByName(name);
    if (!link) throw new Error(`host device ${name} vanished after creation`);
  }
  const cidr = `${routerIp}/32`;
  if (!netlink.addresses(link.index).some((a) => a.address === routerIp && a.prefixLength === 32)) {
    netlink.addAddress(link.index, cidr, { noprefixroute: true });
  }
  if (!link.up) netlink.setLinkUp(link.index);
  return link.index;
}
