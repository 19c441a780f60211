// Kernel ABI constants (include/uapi/linux/{netlink,rtnetlink,if_link,if_addr,neighbour,veth}.h).

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const AF_BRIDGE = 7;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const NETLINK_ROUTE = 0;

export const SOL_SOCKET = 1;
export const SO_RCVBUF = 8;
export const SO_SNDBUF = 7;
export const SO_RCVTIMEO = 20;
export const SO_RCVBUFFORCE = 33;
export const SOL_NETLINK = 270;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;

export const MSG_PEEK = 0x2;
export const MSG_TRUNC = 0x20;

export const CLONE_NEWNET = 0x40000000;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_SHARED = 1 << 20;
export const MNT_DETACH = 2;

// netlink.h
export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;
export const NLMSGERR_ATTR_MSG = 1;
export const NLA_F_NESTED = 0x8000;
export const NLA_TYPE_MASK = 0x3fff;

// rtnetlink.h message types
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;

// struct sizes
export const IFINFOMSG_LEN = 16;
export const IFADDRMSG_LEN = 8;
export const RTMSG_LEN = 12;
export const NDMSG_LEN = 12;

// if_link.h
export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_MASTER = 10;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKINFO = 18;
export const IFLA_NET_NS_FD = 28;
export const IFLA_LINK_NETNSID = 37;
export const IFLA_EXT_MASK = 29;
/** Leave out the (large) statistics blocks from link replies; older kernels ignore the bit. */
export const RTEXT_FILTER_SKIP_STATS = 1 << 3;
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
export const VETH_INFO_PEER = 1;
// IFLA_VXLAN_* (inside IFLA_INFO_DATA of kind "vxlan")
export const IFLA_VXLAN_ID = 1;
export const IFLA_VXLAN_TTL = 5;
export const IFLA_VXLAN_LEARNING = 7;
export const IFLA_VXLAN_PORT = 15;
export const IFLA_VXLAN_COLLECT_METADATA = 25;
export const IFF_UP = 0x1;
export const IFF_NOARP = 0x80;
export const IFF_LOWER_UP = 0x10000;

// if_addr.h
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_FLAGS = 8;
export const IFA_F_NOPREFIXROUTE = 0x200;

// rtnetlink.h routes
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_METRICS = 8;
export const RTA_TABLE = 15;
export const RTAX_MTU = 2;
export const RTA_ENCAP_TYPE = 21;
export const RTA_ENCAP = 22;
export const LWTUNNEL_ENCAP_IP = 2;
export const LWTUNNEL_IP_ID = 1;
export const LWTUNNEL_IP_DST = 2;
export const LWTUNNEL_IP_TTL = 5;
export const RT_TABLE_UNSPEC = 0;
export const RT_TABLE_MAIN = 254;
export const RTN_UNICAST = 1;
export const RTNH_F_ONLINK = 0x4;
export const RTM_F_CLONED = 0x200;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_SITE = 200;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RT_SCOPE_NOWHERE = 255;
export const RTPROT_KERNEL = 2;
export const RTPROT_BOOT = 3;
export const RTPROT_STATIC = 4;

// neighbour.h
export const NDA_DST = 1;
export const NDA_LLADDR = 2;
export const NUD_REACHABLE = 0x02;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;
