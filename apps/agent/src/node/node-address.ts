import type { Netlink } from '@cilium-ts/netlink';
import { AgentError } from '../errors.js';

export interface NodeAddress {
  ip: string;
  /** The link that holds the address (the underlay device). */
  ifindex: number;
  ifname: string;
  mtu: number;
}

/**
 * This node's underlay address: `wanted` if given (it must be on a link here), else the first global IPv4
 * of the link holding the default route. undefined when neither exists (the caller decides whether that
 * is fatal: a node that knows no remote nodes needs no underlay).
 */
export function findNodeAddress(netlink: Netlink, wanted?: string): NodeAddress | undefined {
  const addrs = netlink.addresses().filter((a) => a.family === 4);
  const describe = (ip: string, ifindex: number): NodeAddress => {
    const l = netlink.linkByIndex(ifindex);
    return { ip, ifindex, ifname: l?.name ?? `#${ifindex}`, mtu: l?.mtu ?? 1500 };
  };
  if (wanted !== undefined) {
    const a = addrs.find((x) => x.ip === wanted);
    if (!a) {
      throw new AgentError('NODE_IP_NOT_FOUND', `--node-ip ${wanted} is not an address of any interface in the agent's network namespace`, 'pass an address the node holds on its underlay interface (ip -4 addr)');
    }
    return describe(a.ip, a.index);
  }
  const def = netlink.routes({ family: 4 }).find((r) => r.dst === '0.0.0.0/0' && r.ifindex !== undefined);
  if (!def || def.ifindex === undefined) return undefined;
  const a = addrs.find((x) => x.index === def.ifindex && x.scope === 'universe');
  return a ? describe(a.ip, a.index) : undefined;
}
