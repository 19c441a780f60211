import type { IpFamily } from './ip-address.js';

/** rtm_scope / ifa_scope: by name, or the raw number for values without one. */
export type Scope = 'universe' | 'site' | 'link' | 'host' | 'nowhere' | number;

export interface Link {
  index: number;
  name: string;
  mtu: number;
  /** "aa:bb:cc:dd:ee:ff" ("" for devices without a link-layer address, e.g. some tunnels). */
  mac: string;
  /** IFF_UP (administratively up). */
  up: boolean;
  /** IFF_NOARP. */
  noArp?: boolean;
  /** IFF_LOWER_UP (carrier). */
  lowerUp: boolean;
  /** ifi_flags as the kernel reports them (IFF_*). */
  flags: number;
  /** IFLA_INFO_KIND: 'veth', 'dummy', 'bridge', ... (absent for physical devices and lo). */
  kind?: string;
  /** IFLA_LINK: for a veth, the peer's ifindex (in the netns named by linkNetnsId when that is set). */
  peerIndex?: number;
  /** IFLA_LINK_NETNSID: the peer lives in another netns, known to this one by that id. */
  linkNetnsId?: number;
  /** IFLA_MASTER. */
  masterIndex?: number;
  /** For kind 'vxlan': its UDP destination port, collect-metadata mode and VNI (absent in external mode). */
  vxlan?: { port: number; external: boolean; vni?: number };
}

export interface Address {
  index: number;
  family: IpFamily;
  /** The local address (IFA_LOCAL, or IFA_ADDRESS when there is no IFA_LOCAL). */
  ip: string;
  prefixLen: number;
  /** `${ip}/${prefixLen}` */
  cidr: string;
  /** IFA_ADDRESS when it differs from IFA_LOCAL (point-to-point peer). */
  peer?: string;
  scope: Scope;
  /** IFA_F_* (IFA_FLAGS when present, else ifa_flags). */
  flags: number;
  label?: string;
}

export type RouteProtocol = 'kernel' | 'boot' | 'static' | number;

export interface RouteSpec {
  /** CIDR; '0.0.0.0/0' (or 'default') for the IPv4 default route, '::/0' for IPv6. */
  dst: string;
  gateway?: string;
  ifindex?: number;
  /** Default on add: 'universe' with a gateway, 'link' without. Default on delete: any scope. */
  scope?: Scope;
  /** RTNH_F_ONLINK: the gateway is on the link even if no route says so. */
  onlink?: boolean;
  /** Default RT_TABLE_MAIN (254). */
  table?: number;
  /** RTA_METRICS / RTAX_MTU. */
  mtu?: number;
  /** RTA_PREFSRC. */
  src?: string;
  /** RTA_PRIORITY (the metric). */
  priority?: number;
  /** Default on add: 'static'. Default on delete: any protocol. */
  protocol?: RouteProtocol;
  /** Lightweight-tunnel encapsulation (`ip route ... encap ip id ID dst DST`): with a collect-metadata
   * (`external`) VXLAN device as ifindex, the kernel sends the packet to DST in a VXLAN frame with VNI ID. */
  encap?: RouteEncap;
}

export interface RouteEncap {
  type: 'ip';
  /** Tunnel id (the VNI). */
  id: number;
  /** Remote tunnel endpoint (IPv4). */
  dst: string;
  ttl?: number;
}

export interface Route {
  family: IpFamily;
  /** CIDR ('0.0.0.0/0' for the default route). */
  dst: string;
  gateway?: string;
  ifindex?: number;
  scope: Scope;
  table: number;
  protocol: number;
  /** rtm_type (1 unicast, 2 local, 3 broadcast, ...). */
  type: number;
  priority?: number;
  src?: string;
  mtu?: number;
  onlink: boolean;
  /** rtm_flags. */
  flags: number;
  encap?: RouteEncap;
}

export interface RouteFilter {
  /** Default RT_TABLE_MAIN (254); 0 means every table. */
  table?: number;
  ifindex?: number;
  family?: IpFamily;
}

export interface Neighbour {
  ifindex: number;
  family: IpFamily;
  ip: string;
  /** NDA_LLADDR, when the entry has one. */
  mac?: string;
  /** NUD_* state bits. */
  state: number;
  permanent: boolean;
  /** NTF_* flags. */
  flags: number;
}

export interface NeighbourSpec {
  ifindex: number;
  ip: string;
  mac: string;
  /** Default true (NUD_PERMANENT); false gives NUD_REACHABLE. */
  permanent?: boolean;
  /** NLM_F_REPLACE instead of NLM_F_EXCL. */
  replace?: boolean;
}

export interface VethSpec {
  name: string;
  peerName: string;
  /** Create the peer directly in this netns (IFLA_NET_NS_FD in the peer's attributes). */
  peerNetnsFd?: number;
  /** MTU of both ends. */
  mtu?: number;
  mac?: string;
  peerMac?: string;
}

export interface VxlanSpec {
  name: string;
  /** Collect-metadata mode (`ip link add ... type vxlan external`): one device for every remote, VNI and
   * remote set per packet by a BPF program (bpf_skb_set_tunnel_key). Required true unless vni is given. */
  external?: boolean;
  /** VNI of a classic (non-external) device. */
  vni?: number;
  /** UDP destination port (and the port the device listens on). Default 8472, as Cilium's cilium_vxlan. */
  port?: number;
  mtu?: number;
  /** Learn remote MACs from received packets (default false). */
  learning?: boolean;
}

export interface AddressOptions {
  scope?: Scope;
  /** IFA_F_NOPREFIXROUTE: do not add the prefix route for the address. */
  noprefixroute?: boolean;
  /** IFA_F_NODAD (IPv6): usable at once, no duplicate address detection. */
  nodad?: boolean;
  /** NLM_F_REPLACE instead of NLM_F_EXCL. */
  replace?: boolean;
}
