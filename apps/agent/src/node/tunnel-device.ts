import type { Netlink } from '@cilium-ts/netlink';
import { AgentError } from '../errors.js';

/** VXLAN overhead: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;

/**
 * The tunnel device (cilium_vxlan): a collect-metadata VXLAN device on `port`, up, with `mtu`. Reused as it
 * is when it already matches (an agent restart keeps its ifindex, so attached programs stay valid);
 * re-created when it is a VXLAN device with other settings. NOARP. Returns its ifindex.
 */
export function ensureTunnelDevice(netlink: Netlink, o: { name: string; port: number; mtu: number }): number {
  let link = netlink.linkByName(o.name);
  if (link && link.kind !== 'vxlan') {
    throw new AgentError('TUNNEL_DEVICE_CONFLICT', `tunnel device ${o.name} exists but is a ${link.kind ?? 'device of unknown kind'}, not vxlan`, 'delete it or pass another --tunnel-device');
  }
  if (link && (!link.vxlan?.external || link.vxlan.port !== o.port)) {
    netlink.deleteLink(link.index);
    link = undefined;
  }
  if (!link) {
    netlink.createVxlan({ name: o.name, external: true, port: o.port, mtu: o.mtu });
    link = netlink.linkByName(o.name);
    if (!link) throw new AgentError('TUNNEL_DEVICE_VANISHED', `tunnel device ${o.name} vanished after creation`, 'is another process deleting links?');
  }
  if (link.mtu !== o.mtu) netlink.setMtu(link.index, o.mtu);
  // The node's own packets reach other nodes' pods by encapsulating routes through this device
  // (NodeManager tunnelRoutes): no ARP over a collect-metadata device, the inner frame carries its own MAC.
  if (!link.noArp) netlink.setLinkNoArp(link.index, true);
  if (!link.up) netlink.setLinkUp(link.index);
  return link.index;
}
