// rtnetlink: links, addresses, routes and neighbours of one netns, over one NETLINK_ROUTE socket.
import * as C from './internal/constants.js';
import { AttrWriter, attrI32, attrString, attrU32, parseAttrs } from './internal/attributes.js';
import { NetlinkSocket } from './internal/netlink-socket.js';
import { formatIp, parseCidr, parseIp, type IpFamily, type ParsedIp } from './ip-address.js';
import { formatMac, parseMac } from './mac.js';
import { NetlinkError } from './netlink-error.js';
import { withNetns } from './netns.js';
import type {
  Address, AddressOptions, Link, Neighbour, NeighbourSpec, Route, RouteFilter, RouteProtocol, RouteSpec, Scope, VethSpec, VxlanSpec,
} from './types.js';

const IFNAMSIZ = 16;

const SCOPES: Record<string, number> = {
  universe: C.RT_SCOPE_UNIVERSE,
  site: C.RT_SCOPE_SITE,
  link: C.RT_SCOPE_LINK,
  host: C.RT_SCOPE_HOST,
  nowhere: C.RT_SCOPE_NOWHERE,
};
const SCOPE_NAMES = new Map(Object.entries(SCOPES).map(([k, v]) => [v, k as Scope]));
const PROTOCOLS: Record<string, number> = { kernel: C.RTPROT_KERNEL, boot: C.RTPROT_BOOT, static: C.RTPROT_STATIC };

function scopeNumber(s: Scope): number {
  return typeof s === 'number' ? s : (SCOPES[s] ?? C.RT_SCOPE_UNIVERSE);
}
function scopeName(n: number): Scope {
  return SCOPE_NAMES.get(n) ?? n;
}
function protocolNumber(p: RouteProtocol): number {
  return typeof p === 'number' ? p : (PROTOCOLS[p] ?? C.RTPROT_STATIC);
}
function afOf(f: IpFamily): number {
  return f === 4 ? C.AF_INET : C.AF_INET6;
}
function familyOf(af: number): IpFamily | undefined {
  return af === C.AF_INET ? 4 : af === C.AF_INET6 ? 6 : undefined;
}

function ifinfomsg(o: { index?: number; flags?: number; change?: number; family?: number } = {}): Buffer {
  const b = Buffer.alloc(C.IFINFOMSG_LEN);
  b.writeUInt8(o.family ?? C.AF_UNSPEC, 0);
  b.writeInt32LE(o.index ?? 0, 4);
  b.writeUInt32LE((o.flags ?? 0) >>> 0, 8);
  b.writeUInt32LE((o.change ?? 0) >>> 0, 12);
  return b;
}

function ifaddrmsg(family: number, prefixLen: number, flags: number, scope: number, index: number): Buffer {
  const b = Buffer.alloc(C.IFADDRMSG_LEN);
  b.writeUInt8(family, 0);
  b.writeUInt8(prefixLen, 1);
  b.writeUInt8(flags & 0xff, 2);
  b.writeUInt8(scope, 3);
  b.writeUInt32LE(index, 4);
  return b;
}

function rtmsg(o: { family: number; dstLen?: number; table?: number; protocol?: number; scope?: number; type?: number; flags?: number }): Buffer {
  const b = Buffer.alloc(C.RTMSG_LEN);
  b.writeUInt8(o.family, 0);
  b.writeUInt8(o.dstLen ?? 0, 1);
  b.writeUInt8(o.table === undefined ? 0 : o.table < 256 ? o.table : C.RT_TABLE_UNSPEC, 4);
  b.writeUInt8(o.protocol ?? 0, 5);
  b.writeUInt8(o.scope ?? 0, 6);
  b.writeUInt8(o.type ?? 0, 7);
  b.writeUInt32LE((o.flags ?? 0) >>> 0, 8);
  return b;
}

function ndmsg(family: number, ifindex: number, state: number): Buffer {
  const b = Buffer.alloc(C.NDMSG_LEN);
  b.writeUInt8(family, 0);
  b.writeInt32LE(ifindex, 4);
  b.writeUInt16LE(state, 8);
  return b;
}

export interface NetlinkOpenOptions {
  /** Open the socket inside this netns (/run/netns/NAME, /proc/PID/ns/net). */
  netnsPath?: string;
  /** Or inside the netns behind this fd (the caller keeps ownership of the fd). */
  netnsFd?: number;
}

/** A NETLINK_ROUTE socket bound to one netns. Calls are synchronous (blocking, short). */
export class Netlink {
  private readonly sock: NetlinkSocket;
  /** " in /run/netns/x" or "" — appended to operation names in errors. */
  private readonly where: string;

  private readonly target: string | number | undefined;

  private constructor(sock: NetlinkSocket, where: string, target: string | number | undefined) {
    this.sock = sock;
    this.where = where;
    this.target = target;
  }

  /** A new socket in the same netns as this handle's (for requests that run concurrently). */
  private newSocket(): NetlinkSocket {
    return this.target === undefined ? new NetlinkSocket() : withNetns(this.target, () => new NetlinkSocket());
  }

  /**
   * Opens a socket in the given netns (default: the calling thread's). The thread enters the netns
   * only for socket(2) and returns at once; the socket keeps talking to that netns afterwards.
   */
  static open(opts: NetlinkOpenOptions = {}): Netlink {
    if (opts.netnsPath !== undefined && opts.netnsFd !== undefined) {
      throw NetlinkError.invalid('open netlink socket', 'both netnsPath and netnsFd given', 'pass one of them');
    }
    const target = opts.netnsPath ?? opts.netnsFd;
    if (target === undefined) return new Netlink(new NetlinkSocket(), '', undefined);
    const where = typeof target === 'string' ? ` in ${target}` : ` in netns fd ${target}`;
    return new Netlink(withNetns(target, () => new NetlinkSocket()), where, target);
  }

  close(): void {
    this.sock.close();
  }

  get closed(): boolean {
    return this.sock.closed;
  }

  // ---- links ------------------------------------------------------------------------------------

  links(): Link[] {
    const body = new AttrWriter().raw(ifinfomsg()).u32(C.IFLA_EXT_MASK, C.RTEXT_FILTER_SKIP_STATS).finish();
    const msgs = this.sock.dump(`list links${this.where}`, C.RTM_GETLINK, body);
    return msgs.filter((m) => m.type === C.RTM_NEWLINK).map((m) => parseLink(m.payload));
  }

  linkByName(name: string): Link | undefined {
    const op = `get link ${name}${this.where}`;
    checkIfName(name, op);
    return this.getLink(op, new AttrWriter().raw(ifinfomsg()).string(C.IFLA_IFNAME, name).u32(C.IFLA_EXT_MASK, C.RTEXT_FILTER_SKIP_STATS).finish());
  }

  linkByIndex(index: number): Link | undefined {
    const op = `get link #${index}${this.where}`;
    checkIndex(index, op);
    return this.getLink(op, new AttrWriter().raw(ifinfomsg({ index })).u32(C.IFLA_EXT_MASK, C.RTEXT_FILTER_SKIP_STATS).finish());
  }

  /** The link, or a NETLINK_ENODEV error naming it. */
  requireLink(nameOrIndex: string | number): Link {
    const l = typeof nameOrIndex === 'number' ? this.linkByIndex(nameOrIndex) : this.linkByName(nameOrIndex);
    if (!l) throw NetlinkError.fromErrno(`get link ${typeof nameOrIndex === 'number' ? `#${nameOrIndex}` : nameOrIndex}${this.where}`, 19);
    return l;
  }

  private getLink(op: string, body: Buffer): Link | undefined {
    try {
      const m = this.sock.request(op, C.RTM_GETLINK, 0, body).find((x) => x.type === C.RTM_NEWLINK);
      return m ? parseLink(m.payload) : undefined;
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === 19) return undefined;
      throw e;
    }
  }

  /** A veth pair; the peer is created directly in peerNetnsFd's netns when given. */
  createVeth(o: VethSpec): void {
    const op = `create veth ${o.name} (peer ${o.peerName}${o.peerNetnsFd !== undefined ? ` in netns fd ${o.peerNetnsFd}` : ''})${this.where}`;
    checkIfName(o.name, op);
    checkIfName(o.peerName, op);
    const w = new AttrWriter().raw(ifinfomsg()).string(C.IFLA_IFNAME, o.name);
    if (o.mtu !== undefined) w.u32(C.IFLA_MTU, o.mtu);
    if (o.mac !== undefined) w.bytes(C.IFLA_ADDRESS, parseMac(o.mac));
    w.begin(C.IFLA_LINKINFO).string(C.IFLA_INFO_KIND, 'veth').begin(C.IFLA_INFO_DATA).begin(C.VETH_INFO_PEER);
    w.raw(ifinfomsg()).string(C.IFLA_IFNAME, o.peerName);
    if (o.mtu !== undefined) w.u32(C.IFLA_MTU, o.mtu);
    if (o.peerMac !== undefined) w.bytes(C.IFLA_ADDRESS, parseMac(o.peerMac));
    if (o.peerNetnsFd !== undefined) w.u32(C.IFLA_NET_NS_FD, o.peerNetnsFd);
    w.end().end().end();
    this.sock.request(op, C.RTM_NEWLINK, C.NLM_F_CREATE | C.NLM_F_EXCL, w.finish());
  }

  createDummy(name: string, o: { mtu?: number; mac?: string } = {}): void {
    const op = `create dummy ${name}${this.where}`;
    checkIfName(name, op);
    const w = new AttrWriter().raw(ifinfomsg()).string(C.IFLA_IFNAME, name);
    if (o.mtu !== undefined) w.u32(C.IFLA_MTU, o.mtu);
    if (o.mac !== undefined) w.bytes(C.IFLA_ADDRESS, parseMac(o.mac));
    w.begin(C.IFLA_LINKINFO).string(C.IFLA_INFO_KIND, 'dummy').end();
    try {
      this.sock.request(op, C.RTM_NEWLINK, C.NLM_F_CREATE | C.NLM_F_EXCL, w.finish());
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === 95) {
        throw e.withHint('this kernel has no dummy driver (CONFIG_DUMMY): use a veth pair instead, as Cilium does with cilium_host/cilium_net');
      }
      throw e;
    }
  }

  /**
   * A VXLAN device. `external: true` makes the collect-metadata device Cilium uses for tunnel mode
   * (`ip link add cilium_vxlan type vxlan external dstport 8472`): no VNI, no remote; a BPF program sets
   * both per packet, and received packets carry them as tunnel metadata.
   */
  createVxlan(o: VxlanSpec): void {
    const port = o.port ?? 8472;
    const op = `create vxlan ${o.name}${o.external ? ' external' : ''} dstport ${port}${this.where}`;
    checkIfName(o.name, op);
    if (!o.external && o.vni === undefined) throw NetlinkError.invalid(op, 'neither external nor vni given', 'pass external: true (collect metadata) or a vni');
    if (o.vni !== undefined && (!Number.isInteger(o.vni) || o.vni < 0 || o.vni > 0xffffff)) throw NetlinkError.invalid(op, `invalid VNI ${o.vni}`, 'use 0..16777215');
    if (!Number.isInteger(port) || port <= 0 || port > 0xffff) throw NetlinkError.invalid(op, `invalid port ${port}`, 'use 1..65535');
    const w = new AttrWriter().raw(ifinfomsg()).string(C.IFLA_IFNAME, o.name);
    if (o.mtu !== undefined) w.u32(C.IFLA_MTU, o.mtu);
    w.begin(C.IFLA_LINKINFO).string(C.IFLA_INFO_KIND, 'vxlan').begin(C.IFLA_INFO_DATA);
    if (o.vni !== undefined) w.u32(C.IFLA_VXLAN_ID, o.vni);
    const be = Buffer.alloc(2);
    be.writeUInt16BE(port);
    w.bytes(C.IFLA_VXLAN_PORT, be);
    w.u8(C.IFLA_VXLAN_LEARNING, o.learning ? 1 : 0);
    if (o.external) w.u8(C.IFLA_VXLAN_COLLECT_METADATA, 1);
    w.end().end();
    try {
      this.sock.request(op, C.RTM_NEWLINK, C.NLM_F_CREATE | C.NLM_F_EXCL, w.finish());
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === 95) throw e.withHint('this kernel has no VXLAN driver (CONFIG_VXLAN)');
      if (e instanceof NetlinkError && e.errno === 17) {
        throw e.withHint(`a link named ${o.name}, or another external VXLAN device on port ${port}, already exists in this netns: delete it or pick another name/port`);
      }
      throw e;
    }
  }

  /** Deletes a link (a veth takes its peer with it). False if it did not exist. */
  deleteLink(nameOrIndex: string | number): boolean {
    const { op, body } = this.delLinkRequest(nameOrIndex);
    try {
      this.sock.request(op, C.RTM_DELLINK, 0, body);
      return true;
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === 19) return false;
      throw e;
    }
  }

  /**
   * deleteLink() without holding the event loop: the kernel's veth teardown (≈ 15 ms) runs on a worker
   * thread, on a socket of its own, so several deletes overlap. A handle opened by netns fd needs that fd
   * to stay open until the promise settles.
   */
  async deleteLinkAsync(nameOrIndex: string | number): Promise<boolean> {
    const { op, body } = this.delLinkRequest(nameOrIndex);
    const sock = this.newSocket();
    try {
      await sock.requestAsync(op, C.RTM_DELLINK, 0, body);
      return true;
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === 19) return false;
      throw e;
    } finally {
      sock.close();
    }
  }

  private delLinkRequest(nameOrIndex: string | number): { op: string; body: Buffer } {
    const op = `delete link ${typeof nameOrIndex === 'number' ? `#${nameOrIndex}` : nameOrIndex}${this.where}`;
    const w = new AttrWriter();
    if (typeof nameOrIndex === 'number') {
      checkIndex(nameOrIndex, op);
      w.raw(ifinfomsg({ index: nameOrIndex }));
    } else {
      checkIfName(nameOrIndex, op);
      w.raw(ifinfomsg()).string(C.IFLA_IFNAME, nameOrIndex);
    }
    return { op, body: w.finish() };
  }

  setLinkUp(index: number): void {
    this.changeLink(`set link #${index} up`, index, () => undefined, C.IFF_UP, C.IFF_UP);
  }

  setLinkDown(index: number): void {
    this.changeLink(`set link #${index} down`, index, () => undefined, 0, C.IFF_UP);
  }

  /** IFF_NOARP on or off (`ip link set DEV arp off|on`): neighbours on a NOARP device need no resolution. */
  setLinkNoArp(index: number, on: boolean): void {
    this.changeLink(`set link #${index} arp ${on ? 'off' : 'on'}`, index, () => undefined, on ? C.IFF_NOARP : 0, C.IFF_NOARP);
  }

  setMtu(index: number, mtu: number): void {
    this.changeLink(`set link #${index} mtu ${mtu}`, index, (w) => w.u32(C.IFLA_MTU, mtu));
  }

  setMac(index: number, mac: string): void {
    const bytes = parseMac(mac);
    this.changeLink(`set link #${index} address ${mac}`, index, (w) => w.bytes(C.IFLA_ADDRESS, bytes));
  }

  /** Moves the link into the netns behind netnsFd (its index may change there; its addresses are lost). */
  setNetns(index: number, netnsFd: number): void {
    this.changeLink(`move link #${index} to netns fd ${netnsFd}`, index, (w) => w.u32(C.IFLA_NET_NS_FD, netnsFd));
  }

  rename(index: number, name: string): void {
    const op = `rename link #${index} to ${name}`;
    checkIfName(name, op);
    this.changeLink(op, index, (w) => w.string(C.IFLA_IFNAME, name));
  }

  private changeLink(op: string, index: number, attrs: (w: AttrWriter) => void, flags = 0, change = 0): void {
    const fullOp = `${op}${this.where}`;
    checkIndex(index, fullOp);
    const w = new AttrWriter().raw(ifinfomsg({ index, flags, change }));
    attrs(w);
    this.sock.request(fullOp, C.RTM_NEWLINK, 0, w.finish());
  }

  // ---- addresses --------------------------------------------------------------------------------

  addAddress(index: number, cidr: string, o: AddressOptions = {}): void {
    const op = `add address ${cidr} to link #${index}${this.where}`;
    checkIndex(index, op);
    const a = parseCidr(cidr);
    let flags = 0;
    if (o.noprefixroute) flags |= C.IFA_F_NOPREFIXROUTE;
    if (o.nodad) flags |= 0x02; // IFA_F_NODAD
    const w = new AttrWriter().raw(ifaddrmsg(afOf(a.family), a.prefixLen, flags, scopeNumber(o.scope ?? 'universe'), index));
    w.bytes(C.IFA_LOCAL, a.bytes).bytes(C.IFA_ADDRESS, a.bytes);
    if (flags !== 0) w.u32(C.IFA_FLAGS, flags);
    this.sock.request(op, C.RTM_NEWADDR, C.NLM_F_CREATE | (o.replace ? C.NLM_F_REPLACE : C.NLM_F_EXCL), w.finish());
  }

  /** False if the address was not on the link. */
  deleteAddress(index: number, cidr: string): boolean {
    const op = `delete address ${cidr} from link #${index}${this.where}`;
    checkIndex(index, op);
    const a = parseCidr(cidr);
    const w = new AttrWriter().raw(ifaddrmsg(afOf(a.family), a.prefixLen, 0, 0, index)).bytes(C.IFA_LOCAL, a.bytes);
    try {
      this.sock.request(op, C.RTM_DELADDR, 0, w.finish());
      return true;
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === 99) return false; // EADDRNOTAVAIL
      throw e;
    }
  }

  /** Every IPv4 and IPv6 address, or only those of one link. */
  addresses(index?: number): Address[] {
    const msgs = this.sock.dump(`list addresses${this.where}`, C.RTM_GETADDR, ifaddrmsg(C.AF_UNSPEC, 0, 0, 0, 0));
    const out: Address[] = [];
    for (const m of msgs) {
      if (m.type !== C.RTM_NEWADDR) continue;
      const a = parseAddress(m.payload);
      if (a && (index === undefined || a.index === index)) out.push(a);
    }
    return out;
  }

  // ---- routes -----------------------------------------------------------------------------------

  addRoute(r: RouteSpec & { replace?: boolean }): void {
    const op = `${r.replace ? 'replace' : 'add'} route ${describeRoute(r)}${this.where}`;
    const dst = parseCidr(r.dst);
    const gw = r.gateway !== undefined ? sameFamily(parseIp(r.gateway), dst, op, 'gateway') : undefined;
    const src = r.src !== undefined ? sameFamily(parseIp(r.src), dst, op, 'src') : undefined;
    if (r.ifindex !== undefined) checkIndex(r.ifindex, op);
    const table = r.table ?? C.RT_TABLE_MAIN;
    const scope = r.scope !== undefined ? scopeNumber(r.scope) : gw ? C.RT_SCOPE_UNIVERSE : C.RT_SCOPE_LINK;
    const w = new AttrWriter().raw(
      rtmsg({
        family: afOf(dst.family),
        dstLen: dst.prefixLen,
        table,
        protocol: protocolNumber(r.protocol ?? 'static'),
        scope,
        type: C.RTN_UNICAST,
        flags: r.onlink ? C.RTNH_F_ONLINK : 0,
      }),
    );
    this.routeAttrs(w, r, dst, gw, src, table);
    if (r.mtu !== undefined) w.begin(C.RTA_METRICS).u32(C.RTAX_MTU, r.mtu).end();
    if (r.encap) {
      const edst = parseIp(r.encap.dst);
      if (edst.family !== 4) throw new NetlinkError({ operation: op, code: 'NETLINK_INVALID_ARGUMENT', detail: `encap dst ${r.encap.dst} is not IPv4`, hint: 'give the remote tunnel endpoint as an IPv4 address' });
      const id = Buffer.alloc(8);
      id.writeBigUInt64BE(BigInt(r.encap.id));
      const type = Buffer.alloc(2);
      type.writeUInt16LE(C.LWTUNNEL_ENCAP_IP);
      w.bytes(C.RTA_ENCAP_TYPE, type);
      w.begin(C.RTA_ENCAP).bytes(C.LWTUNNEL_IP_ID, id).bytes(C.LWTUNNEL_IP_DST, edst.bytes);
      if (r.encap.ttl !== undefined) w.u8(C.LWTUNNEL_IP_TTL, r.encap.ttl);
      w.end();
    }
    this.sock.request(op, C.RTM_NEWROUTE, C.NLM_F_CREATE | (r.replace ? C.NLM_F_REPLACE : C.NLM_F_EXCL), w.finish());
  }

  /** Deletes the route matching dst and table (and gateway, ifindex, scope, protocol, priority when given). False if none. */
  deleteRoute(r: RouteSpec): boolean {
    const op = `delete route ${describeRoute(r)}${this.where}`;
    const dst = parseCidr(r.dst);
    const gw = r.gateway !== undefined ? sameFamily(parseIp(r.gateway), dst, op, 'gateway') : undefined;
    const src = r.src !== undefined ? sameFamily(parseIp(r.src), dst, op, 'src') : undefined;
    if (r.ifindex !== undefined) checkIndex(r.ifindex, op);
    const table = r.table ?? C.RT_TABLE_MAIN;
    const w = new AttrWriter().raw(
      rtmsg({
        family: afOf(dst.family),
        dstLen: dst.prefixLen,
        table,
        protocol: r.protocol !== undefined ? protocolNumber(r.protocol) : 0,
        scope: r.scope !== undefined ? scopeNumber(r.scope) : C.RT_SCOPE_NOWHERE,
      }),
    );
    this.routeAttrs(w, r, dst, gw, src, table);
    try {
      this.sock.request(op, C.RTM_DELROUTE, 0, w.finish());
      return true;
    } catch (e) {
      if (e instanceof NetlinkError && (e.errno === 3 || e.errno === 2)) return false; // ESRCH, ENOENT
      throw e;
    }
  }

  private routeAttrs(w: AttrWriter, r: RouteSpec, dst: ParsedIp & { prefixLen: number }, gw: ParsedIp | undefined, src: ParsedIp | undefined, table: number): void {
    w.u32(C.RTA_TABLE, table);
    if (dst.prefixLen > 0) w.bytes(C.RTA_DST, dst.bytes);
    if (gw) w.bytes(C.RTA_GATEWAY, gw.bytes);
    if (r.ifindex !== undefined) w.u32(C.RTA_OIF, r.ifindex);
    if (r.priority !== undefined) w.u32(C.RTA_PRIORITY, r.priority);
    if (src) w.bytes(C.RTA_PREFSRC, src.bytes);
  }

  /** Routes of the main table by default (table 0: all tables); cloned/cache entries are left out. */
  routes(filter: RouteFilter = {}): Route[] {
    const af = filter.family !== undefined ? afOf(filter.family) : C.AF_UNSPEC;
    const msgs = this.sock.dump(`list routes${this.where}`, C.RTM_GETROUTE, rtmsg({ family: af }));
    const table = filter.table ?? C.RT_TABLE_MAIN;
    const out: Route[] = [];
    for (const m of msgs) {
      if (m.type !== C.RTM_NEWROUTE) continue;
      const r = parseRoute(m.payload);
      if (!r) continue;
      if (table !== 0 && r.table !== table) continue;
      if (filter.ifindex !== undefined && r.ifindex !== filter.ifindex) continue;
      if (filter.family !== undefined && r.family !== filter.family) continue;
      out.push(r);
    }
    return out;
  }

  // ---- neighbours -------------------------------------------------------------------------------

  addNeighbour(n: NeighbourSpec): void {
    const op = `${n.replace ? 'replace' : 'add'} neighbour ${n.ip} lladdr ${n.mac} on link #${n.ifindex}${this.where}`;
    checkIndex(n.ifindex, op);
    const ip = parseIp(n.ip);
    const mac = parseMac(n.mac);
    const state = n.permanent === false ? C.NUD_REACHABLE : C.NUD_PERMANENT;
    const w = new AttrWriter().raw(ndmsg(afOf(ip.family), n.ifindex, state)).bytes(C.NDA_DST, ip.bytes).bytes(C.NDA_LLADDR, mac);
    this.sock.request(op, C.RTM_NEWNEIGH, C.NLM_F_CREATE | (n.replace ? C.NLM_F_REPLACE : C.NLM_F_EXCL), w.finish());
  }

  /** False if there was no such entry. */
  deleteNeighbour(n: { ifindex: number; ip: string }): boolean {
    const op = `delete neighbour ${n.ip} on link #${n.ifindex}${this.where}`;
    checkIndex(n.ifindex, op);
    const ip = parseIp(n.ip);
    const w = new AttrWriter().raw(ndmsg(afOf(ip.family), n.ifindex, 0)).bytes(C.NDA_DST, ip.bytes);
    try {
      this.sock.request(op, C.RTM_DELNEIGH, 0, w.finish());
      return true;
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === 2) return false;
      throw e;
    }
  }

  /** IPv4 ARP and IPv6 ND entries (every state), or only those of one link. */
  neighbours(ifindex?: number): Neighbour[] {
    const msgs = this.sock.dump(`list neighbours${this.where}`, C.RTM_GETNEIGH, ndmsg(C.AF_UNSPEC, 0, 0));
    const out: Neighbour[] = [];
    for (const m of msgs) {
      if (m.type !== C.RTM_NEWNEIGH) continue;
      const n = parseNeighbour(m.payload);
      if (n && (ifindex === undefined || n.ifindex === ifindex)) out.push(n);
    }
    return out;
  }
}

// ---- parsing ------------------------------------------------------------------------------------

function parseLink(p: Buffer): Link {
  const index = p.readInt32LE(4);
  const flags = p.readUInt32LE(8);
  const a = parseAttrs(p, C.IFINFOMSG_LEN);
  const link: Link = {
    index,
    name: attrString(a.get(C.IFLA_IFNAME)) ?? '',
    mtu: attrU32(a.get(C.IFLA_MTU)) ?? 0,
    mac: formatMac(a.get(C.IFLA_ADDRESS) ?? Buffer.alloc(0)),
    up: (flags & C.IFF_UP) !== 0,
    noArp: (flags & C.IFF_NOARP) !== 0,
    lowerUp: (flags & C.IFF_LOWER_UP) !== 0,
    flags,
  };
  const info = a.get(C.IFLA_LINKINFO);
  const infoAttrs = info ? parseAttrs(info) : undefined;
  const kind = infoAttrs ? attrString(infoAttrs.get(C.IFLA_INFO_KIND)) : undefined;
  if (kind !== undefined) link.kind = kind;
  const data = infoAttrs?.get(C.IFLA_INFO_DATA);
  if (kind === 'vxlan' && data) {
    const d = parseAttrs(data);
    const port = d.get(C.IFLA_VXLAN_PORT);
    const md = d.get(C.IFLA_VXLAN_COLLECT_METADATA);
    const external = md !== undefined && md.length > 0 && md[0] !== 0;
    const vni = attrU32(d.get(C.IFLA_VXLAN_ID));
    link.vxlan = { port: port && port.length >= 2 ? port.readUInt16BE(0) : 0, external, ...(vni !== undefined && !external ? { vni } : {}) };
  }
  const nsid = attrI32(a.get(C.IFLA_LINK_NETNSID));
  if (nsid !== undefined) link.linkNetnsId = nsid;
  // The kernel sends IFLA_LINK when it differs from the own index, or (newer kernels) always when
  // the peer is in another netns, where both ends may well have the same index.
  const peer = attrU32(a.get(C.IFLA_LINK));
  if (peer !== undefined && peer !== 0 && (peer !== index || nsid !== undefined)) link.peerIndex = peer;
  const master = attrU32(a.get(C.IFLA_MASTER));
  if (master !== undefined) link.masterIndex = master;
  return link;
}

function parseAddress(p: Buffer): Address | undefined {
  const family = familyOf(p.readUInt8(0));
  if (family === undefined) return undefined;
  const prefixLen = p.readUInt8(1);
  const a = parseAttrs(p, C.IFADDRMSG_LEN);
  const local = a.get(C.IFA_LOCAL);
  const address = a.get(C.IFA_ADDRESS);
  const ipBytes = local ?? address;
  if (!ipBytes) return undefined;
  const ip = formatIp(ipBytes);
  const out: Address = {
    index: p.readUInt32LE(4),
    family,
    ip,
    prefixLen,
    cidr: `${ip}/${prefixLen}`,
    scope: scopeName(p.readUInt8(3)),
    flags: attrU32(a.get(C.IFA_FLAGS)) ?? p.readUInt8(2),
  };
  if (local && address && !local.equals(address)) out.peer = formatIp(address);
  const label = attrString(a.get(C.IFA_LABEL));
  if (label !== undefined) out.label = label;
  return out;
}

function parseRoute(p: Buffer): Route | undefined {
  const family = familyOf(p.readUInt8(0));
  if (family === undefined) return undefined;
  const flags = p.readUInt32LE(8);
  if (flags & C.RTM_F_CLONED) return undefined;
  const dstLen = p.readUInt8(1);
  const a = parseAttrs(p, C.RTMSG_LEN);
  const dstBytes = a.get(C.RTA_DST) ?? Buffer.alloc(family === 4 ? 4 : 16);
  const r: Route = {
    family,
    dst: `${formatIp(dstBytes)}/${dstLen}`,
    scope: scopeName(p.readUInt8(6)),
    table: attrU32(a.get(C.RTA_TABLE)) ?? p.readUInt8(4),
    protocol: p.readUInt8(5),
    type: p.readUInt8(7),
    onlink: (flags & C.RTNH_F_ONLINK) !== 0,
    flags,
  };
  const gw = a.get(C.RTA_GATEWAY);
  if (gw) r.gateway = formatIp(gw);
  const oif = attrU32(a.get(C.RTA_OIF));
  if (oif !== undefined) r.ifindex = oif;
  const prio = attrU32(a.get(C.RTA_PRIORITY));
  if (prio !== undefined) r.priority = prio;
  const src = a.get(C.RTA_PREFSRC);
  if (src) r.src = formatIp(src);
  const metrics = a.get(C.RTA_METRICS);
  const mtu = metrics ? attrU32(parseAttrs(metrics).get(C.RTAX_MTU)) : undefined;
  if (mtu !== undefined) r.mtu = mtu;
  const etype = a.get(C.RTA_ENCAP_TYPE);
  const encap = a.get(C.RTA_ENCAP);
  if (etype && etype.length >= 2 && etype.readUInt16LE(0) === C.LWTUNNEL_ENCAP_IP && encap) {
    const e = parseAttrs(encap);
    const id = e.get(C.LWTUNNEL_IP_ID);
    const edst = e.get(C.LWTUNNEL_IP_DST);
    const ttl = e.get(C.LWTUNNEL_IP_TTL);
    if (edst) r.encap = { type: 'ip', id: id && id.length >= 8 ? Number(id.readBigUInt64BE(0)) : 0, dst: formatIp(edst), ...(ttl && ttl.length > 0 ? { ttl: ttl.readUInt8(0) } : {}) };
  }
  return r;
}

function parseNeighbour(p: Buffer): Neighbour | undefined {
  const family = familyOf(p.readUInt8(0));
  if (family === undefined) return undefined;
  const a = parseAttrs(p, C.NDMSG_LEN);
  const dst = a.get(C.NDA_DST);
  if (!dst) return undefined;
  const state = p.readUInt16LE(8);
  const n: Neighbour = {
    ifindex: p.readInt32LE(4),
    family,
    ip: formatIp(dst),
    state,
    permanent: (state & C.NUD_PERMANENT) !== 0,
    flags: p.readUInt8(10),
  };
  const ll = a.get(C.NDA_LLADDR);
  if (ll && ll.length > 0) n.mac = formatMac(ll);
  return n;
}

// ---- argument checks ----------------------------------------------------------------------------

function checkIfName(name: string, op: string): void {
  if (name === '' || Buffer.byteLength(name) >= IFNAMSIZ || /[\s/:\0]/.test(name) || name === '.' || name === '..') {
    throw NetlinkError.invalid(op, `invalid interface name ${JSON.stringify(name)}`, `use 1-${IFNAMSIZ - 1} bytes without spaces, '/' or ':'`);
  }
}

function checkIndex(index: number, op: string): void {
  if (!Number.isInteger(index) || index <= 0 || index > 0x7fffffff) {
    throw NetlinkError.invalid(op, `invalid ifindex ${index}`, 'pass the positive ifindex from links()/linkByName()');
  }
}

function sameFamily(ip: ParsedIp, dst: { family: IpFamily }, op: string, what: string): ParsedIp {
  if (ip.family !== dst.family) {
    throw NetlinkError.invalid(op, `${what} is IPv${ip.family} but dst is IPv${dst.family}`, `use an IPv${dst.family} ${what}`);
  }
  return ip;
}

function describeRoute(r: RouteSpec): string {
  let s = r.dst;
  if (r.gateway !== undefined) s += ` via ${r.gateway}`;
  if (r.ifindex !== undefined) s += ` dev #${r.ifindex}`;
  if (r.onlink) s += ' onlink';
  if (r.table !== undefined && r.table !== C.RT_TABLE_MAIN) s += ` table ${r.table}`;
  return s;
}
