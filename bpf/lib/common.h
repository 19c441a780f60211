/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared layouts between the datapath and the agent. Every struct here has a
 * twin codec in apps/agent/src/datapath/maps.ts whose size is checked against
 * BTF at load time: change both or neither.
 *
 * Byte order: IPv4 addresses and L4 ports are stored in network byte order
 * everywhere (as they are in the packet). Everything else is host order.
 */
#ifndef __CILIUM_TS_COMMON_H
#define __CILIUM_TS_COMMON_H

#include <linux/types.h>

/* ---- pinned map names (<= 15 chars, pinned by name under <bpf-root>/tc/globals) ---- */
/* cilium_lxc      HASH     endpoint_key -> endpoint_info   (local pods by IPv4) */
/* cilium_ct4_glob LRU_HASH ct_key4      -> ct_entry        (connection tracking) */
/* cilium_events   RINGBUF  flow_event records                                    */
/* cilium_metrics  PERCPU_HASH metrics_key -> metrics_value (packets/bytes per reason+dir) */
/* cilium_ev_lost  PERCPU_ARRAY __u32 0 -> __u64           (events lost: ring buffer full) */
/* cilium_tunnel_map LPM_TRIE tunnel_key -> tunnel_value    (remote pod CIDR -> node underlay IP) */
/*   (the kernel keeps 15 characters of a map's name, "cilium_tunnel_m"; the pin has the full name) */
/* Service load-balancing (kube-proxy replacement, see "load balancing" below): */
/* cilium_lb4_services_v2 HASH lb4_key -> lb4_service   (frontends: master row + one row per backend slot) */
/* cilium_lb4_backends_v3 HASH __u32 backend_id -> lb4_backend                                        */
/* cilium_lb4_reverse_nat HASH __u16 rev_nat_index -> lb4_reverse_nat (service id -> frontend VIP:port) */
/* cilium_lb4_affinity    LRU_HASH lb4_affinity_key -> lb_affinity_val  (sessionAffinity: ClientIP)    */
/* cilium_lb_affinity_match HASH lb_affinity_match -> __u8 (backends still in each affinity service)  */
/* cilium_lb4_maglev      HASH __u16 rev_nat_index -> lb4_maglev (backend ids, LB_MAGLEV_LUT_SIZE)    */
/* cilium_lb4_sk_rnat     LRU_HASH lb4_sk_rnat_key -> lb4_sk_rnat_val (socket LB: UDP recvmsg rev-NAT) */
/* cilium_snat_v4_ext     LRU_HASH ct_key4 -> nat4_entry (NodePort SNAT to remote backends, both ways) */
/* cilium_ipv4_frag_datagrams LRU_HASH ipv4_frag_id -> ipv4_frag_l4ports (ports of fragmented datagrams) */
/*   (the kernel keeps "cilium_ipv4_fra"; the pin has the full name) */

#define ENDPOINT_MAP_SIZE 65535
#define CT_MAP_SIZE       262144
#define EVENTS_RING_SIZE  (4 * 1024 * 1024)
#define METRICS_MAP_SIZE  1024
#define TUNNEL_MAP_SIZE   65536
#define LB_SERVICE_MAP_SIZE  262144     /* frontends x (1 + backend slots); 30k services x 4 backends fit */
#define LB_BACKEND_MAP_SIZE  262144
#define LB_REVNAT_MAP_SIZE   65536
#define LB_AFFINITY_MAP_SIZE 65536
#define LB_AFFINITY_MATCH_MAP_SIZE 262144
#define LB_MAGLEV_MAP_SIZE   65536
#define LB_SK_RNAT_MAP_SIZE  262144
#define SNAT_MAP_SIZE        131072
#define IPV4_FRAG_MAP_SIZE   8192       /* Cilium's CILIUM_IPV4_FRAG_MAP_MAX_ENTRIES */

struct endpoint_key {
	__u32 ip4;              /* pod IPv4, network order */
};

#define ENDPOINT_F_HOST 1       /* reserved: the host endpoint */

struct endpoint_info {
	__u32 ifindex;          /* host-side veth ifindex (lxc...) */
	__u16 ep_id;            /* endpoint id, 1..65535 */
	__u16 flags;            /* ENDPOINT_F_* */
	__u8  mac[6];           /* pod-side interface MAC */
	__u8  node_mac[6];      /* host-side veth MAC */
	__u32 sec_id;           /* security identity (0 until policy lands) */
};                              /* 24 bytes (a trailing __u32 pad made it 28: removed to match) */

/*
 * Tunnel map (tunnel mode): one row per pod CIDR of every other node, written
 * by the agent's NodeManager. An LPM trie keyed by IPv4 prefix, so a lookup
 * with prefixlen 32 and the destination address finds the node whose pod CIDR
 * holds it (the longest prefix wins). The local node's own CIDR is never in it.
 */
struct tunnel_key {
	__u32 prefixlen;        /* LPM trie prefix length in bits (32 for a lookup) */
	__u32 ip4;              /* CIDR base address, network order */
};                              /* 8 bytes */

struct tunnel_value {
	__u32 remote_ip4;       /* the remote node's underlay IPv4, network order */
	__u32 flags;            /* 0 (reserved) */
};                              /* 8 bytes */

/* Outer header TTL. The VNI carries the source's security identity (as in
 * Cilium; 0 until identities land), read back as src_sec_id on the far side. */
#define TUNNEL_TTL 64

/*
 * One CT entry per connection, keyed by the tuple of its first packet (the
 * original direction). A packet is looked up as-is (hit: ESTABLISHED) then
 * reversed (hit: REPLY); on a miss it creates the entry (NEW).
 * ICMP echo: sport = dport = echo id, so the reversed reply tuple matches.
 */
struct ct_key4 {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8  nexthdr;          /* IPPROTO_TCP/UDP/ICMP */
	__u8  flags;            /* CT_KEY_F_*: 0 for the connection itself */
	__u16 pad;
};                              /* 16 bytes */
/* A service entry: keyed by (client, frontend VIP:port) before DNAT, it pins
 * the connection to entry.backend_id (per-packet LB, as Cilium's CT_SERVICE). */
#define CT_KEY_F_SERVICE 1
/* cilium_snat_v4_ext only: the DSR reply translation on the backend's node,
 * keyed by the reply tuple (backend -> client) (see "DSR" below). */
#define CT_KEY_F_DSR 2

enum ct_tcp_state {
	CT_TCP_NONE = 0,        /* non-TCP */
	CT_TCP_SYN_SENT = 1,
	CT_TCP_SYN_RECV = 2,    /* SYN-ACK seen */
	CT_TCP_ESTABLISHED = 3,
	CT_TCP_FIN_WAIT = 4,    /* one side sent FIN */
	CT_TCP_CLOSE = 5,       /* both FINs or an RST */
};

#define CT_F_SEEN_REPLY 1
#define CT_F_DSR        2       /* a NodePort connection in DSR mode (both the LB node and the backend's node) */

struct ct_entry {
	__u64 expires;          /* bpf_ktime_get_ns() deadline (CLOCK_MONOTONIC) */
	__u64 packets;          /* both directions */
	__u64 bytes;
	__u32 created;          /* seconds of CLOCK_MONOTONIC */
	__u32 last_report;      /* seconds; monitor aggregation */
	__u8  tx_flags_seen;    /* TCP flags seen, original direction */
	__u8  rx_flags_seen;    /* TCP flags seen, reply direction */
	__u8  state;            /* enum ct_tcp_state */
	__u8  flags;            /* CT_F_* */
	__u16 src_ep;           /* endpoint id of the originator, 0 if not local */
	__u16 dst_ep;           /* endpoint id of the destination, 0 if not local */
	__u32 backend_id;       /* CT_KEY_F_SERVICE entries: the backend this connection uses */
	__u16 rev_nat_index;    /* != 0: replies get their source rewritten to this service's frontend */
	__u16 pad2;
};                              /* 48 bytes */

/*
 * ---- load balancing (Services) ----
 *
 * A frontend is (VIP, port, proto, scope). Its master row (backend_slot 0)
 * says how many backend slots it has (`count`, only ACTIVE backends: ready,
 * or serving+terminating when no backend is ready at all) and carries the
 * service's rev_nat_index (the service id, 1..65535), flags and affinity
 * timeout. Rows with backend_slot 1..count hold the backend_id of each slot.
 * Terminating backends are in no slot (new connections never pick them) but
 * stay in cilium_lb4_backends_v3 as long as the Service's EndpointSlices list
 * them, so connections CT already pinned to them keep working.
 *
 * A master row with count 0 is a service with no usable backend: the datapath
 * drops with DROP_NO_SERVICE and answers an ICMP port unreachable (per packet:
 * ECONNREFUSED) / refuses the connect or sendmsg with EPERM plus a
 * DROP_NO_SERVICE event (socket LB), so clients fail at once, not by timeout.
 *
 * scope: LB_LOOKUP_SCOPE_EXT rows are for traffic from outside the node
 * (NodePort/LB/ExternalIP hitting bpf_host); with externalTrafficPolicy=Local
 * the EXT row only lists node-local backends. Services with
 * internalTrafficPolicy=Local (SVC_F_INT_LOCAL) have an LB_LOOKUP_SCOPE_INT row
 * listing only node-local backends, looked up first by traffic from pods and
 * the node itself; without that flag pods and the node use the EXT row.
 *
 * NodePort frontends: one row per node address (VIP = node IPv4) plus one
 * with VIP 0.0.0.0 (SVC_F_NODEPORT) that bpf_sock/bpf_host use as a wildcard
 * when the destination is any local node address.
 */
struct lb4_key {
	__u32 address;          /* frontend VIP, network order (0: NodePort wildcard) */
	__u16 dport;            /* frontend port, network order */
	__u16 backend_slot;     /* 0: master row; 1..count: backend slot */
	__u8  proto;            /* IPPROTO_TCP / IPPROTO_UDP (SCTP: not supported) */
	__u8  scope;            /* LB_LOOKUP_SCOPE_* */
	__u16 pad;
};                              /* 12 bytes */

#define LB_LOOKUP_SCOPE_EXT 0
#define LB_LOOKUP_SCOPE_INT 1

/* lb4_service.flags */
#define SVC_F_CLUSTERIP   0x01
#define SVC_F_NODEPORT    0x02
#define SVC_F_EXTERNALIP  0x04
#define SVC_F_LOADBALANCER 0x08
#define SVC_F_HOSTPORT    0x10
#define SVC_F_AFFINITY    0x20  /* sessionAffinity: ClientIP (affinity_timeout in the master row) */
#define SVC_F_EXT_LOCAL   0x40  /* externalTrafficPolicy: Local */
#define SVC_F_INT_LOCAL   0x80  /* internalTrafficPolicy: Local */
/* lb4_service.flags2 */
#define SVC_F2_MAGLEV     0x01  /* pick with the Maglev table, not at random */
#define SVC_F2_DSR        0x02  /* loadBalancer.mode=dsr (NodePort to remote backends without SNAT) */

struct lb4_service {
	__u32 backend_id;       /* slot rows: the backend; master row: 0 */
	__u32 affinity_timeout; /* master row: seconds of ClientIP affinity (0: none) */
	__u16 count;            /* master row: number of backend slots (active backends) */
	__u16 rev_nat_index;    /* the service id (same in every row of the service) */
	__u8  flags;            /* SVC_F_* */
	__u8  flags2;           /* SVC_F2_* */
	__u16 pad;
};                              /* 16 bytes */

#define BE_STATE_ACTIVE      0
#define BE_STATE_TERMINATING 1
#define BE_STATE_QUARANTINED 2

struct lb4_backend {
	__u32 address;          /* backend IPv4, network order */
	__u16 port;             /* network order */
	__u8  proto;            /* IPPROTO_* */
	__u8  state;            /* BE_STATE_* */
	__u8  flags;            /* BE_F_LOCAL: the backend is a pod on this node */
	__u8  pad[3];
};                              /* 12 bytes */
#define BE_F_LOCAL 1

struct lb4_reverse_nat {
	__u32 address;          /* frontend VIP, network order (NodePort: filled per packet) */
	__u16 port;             /* frontend port, network order */
	__u16 pad;
};                              /* 8 bytes */

/* ClientIP affinity: by client address for per-packet LB, by the socket's
 * netns cookie for socket LB from a pod (Cilium does the same). */
struct lb4_affinity_key {
	__u64 client_id;        /* client IPv4 (network order, zero-extended) or netns cookie */
	__u16 rev_nat_index;
	__u8  netns_cookie;     /* 1: client_id is a netns cookie */
	__u8  pad[5];
};                              /* 16 bytes */

struct lb_affinity_val {
	__u64 last_used;        /* bpf_ktime_get_ns() of the last connection */
	__u32 backend_id;
	__u32 pad;
};                              /* 16 bytes */

/* Affinity match (Cilium's cilium_lb_affinity_match): one row (value 0) per
 * (backend, service) pair of every service with SVC_F_AFFINITY, written by the
 * agent. An affinity entry whose backend has no row here (removed from the
 * service) is ignored and the backend picked anew. */
struct lb_affinity_match {
	__u32 backend_id;
	__u16 rev_nat_id;
	__u16 pad;
};                              /* 8 bytes */

/* Maglev: the lookup table of one service, LB_MAGLEV_LUT_SIZE backend ids
 * (prime, Cilium's default), written whole by the agent. */
#define LB_MAGLEV_LUT_SIZE 16381
struct lb4_maglev {
	__u32 backend_ids[LB_MAGLEV_LUT_SIZE];
};

/* Socket LB reverse translation for unconnected UDP (recvmsg4) and
 * getpeername4: which frontend a socket sent to, per (socket cookie, backend). */
struct lb4_sk_rnat_key {
	__u64 cookie;           /* bpf_get_socket_cookie() */
	__u32 address;          /* backend IPv4, network order */
	__u16 port;             /* backend port, network order */
	__u16 pad;
};                              /* 16 bytes */
struct lb4_sk_rnat_val {
	__u32 address;          /* frontend VIP */
	__u16 port;             /* frontend port */
	__u16 rev_nat_index;
};                              /* 8 bytes */

/* NodePort SNAT (bpf_host, remote backend): the original tuple's CT entry
 * keeps the backend; this map translates (client -> node:nat_port) both ways.
 * Keyed by the tuple as seen on the wire in each direction, ct_key4 layout. */
struct nat4_entry {
	__u32 to_addr;          /* address to write (egress: node IP; ingress: the client) */
	__u16 to_port;          /* port to write, network order */
	__u16 pad;
	__u64 created;          /* bpf_ktime_get_ns() */
};                              /* 16 bytes */
/* SNAT source ports (node IP), Cilium's NODEPORT_PORT_MIN_NAT..MAX_NAT: just
 * above the NodePort range, up to 65535. Defaults of bpf_host's rodata
 * NODEPORT_PORT_MIN_NAT_CFG / NODEPORT_PORT_MAX_NAT_CFG (the agent sets them to
 * NodePort max + 1 .. 65535). The range overlaps Linux's ephemeral ports
 * (32768-60999), as in Cilium: cil_to_netdev claims the port of every
 * connection the node itself opens from NODE_IP in this range (an identity
 * row in cilium_snat_v4_ext, to_addr = NODE_IP), so NodePort SNAT never
 * picks it, and replies to it are left to the stack. */
#define NODEPORT_PORT_MIN_NAT 32768
#define NODEPORT_PORT_MAX_NAT 65535

/*
 * DSR (loadBalancer.mode=dsr, or hybrid for TCP; SVC_F2_DSR in the frontend
 * rows), native routing only, as Cilium 1.10: bpf_host forwards a NodePort /
 * ExternalIP / LoadBalancer request for a backend on another node without
 * SNAT (client address kept) and inserts this IPv4 option right after the
 * 20-byte header (TCP: SYN packets only; UDP: every packet), telling the
 * backend's node the frontend. There bpf_lxc's cil_to_container records it
 * (CT entry flag CT_F_DSR; a CT_KEY_F_DSR row {backend -> client} -> frontend
 * in cilium_snat_v4_ext) and cil_from_container rewrites the source of the
 * backend's replies to the frontend, which then go straight to the client.
 */
#define DSR_IPV4_OPT_TYPE 0x9a  /* IPOPT_COPY | 0x1a, Cilium's */
#define DSR_IPV4_OPT_LEN  8
struct dsr_opt_v4 {
	__u8  type;             /* DSR_IPV4_OPT_TYPE */
	__u8  len;              /* DSR_IPV4_OPT_LEN */
	__u16 port;             /* frontend port, network order */
	__u32 addr;             /* frontend address, network order */
};                              /* 8 bytes */

/*
 * IPv4 fragment tracking (Cilium's enable-ipv4-fragment-tracking, rodata
 * ENABLE_IPV4_FRAGMENTS): only the first fragment of a TCP/UDP datagram
 * carries the ports. bpf_lxc, bpf_overlay and bpf_host record them keyed by
 * the datagram (addresses as on the wire, IP id, protocol) and give them to
 * the later fragments, which are then load-balanced, tracked and (reverse)
 * NATed like the first (addresses only: they hold no L4 header). A later
 * fragment whose first was not seen is dropped with DROP_FRAG_NOT_FOUND.
 */
struct ipv4_frag_id {
	__u32 daddr;            /* network order */
	__u32 saddr;
	__u16 id;               /* IP identification, network order */
	__u8  proto;
	__u8  pad;
};                              /* 12 bytes */
struct ipv4_frag_l4ports {
	__u16 sport;            /* network order */
	__u16 dport;
};                              /* 4 bytes */

/* skb->mark that bpf_lxc puts on packets it hands to the stack which answer a
 * connection the pod did not open (CT REPLY, e.g. a backend answering a
 * NodePort client SNATed by another node): the node's masquerading rule
 * (CILIUM_POST_nat, -m mark ! --mark 0xa00/0xf00) leaves them alone. */
#define MARK_MAGIC_SKIP_MASQ 0x0a00
#define MARK_MAGIC_MASK      0x0f00
/* skb->mark of a NodePort packet bpf_host SNATed and forwarded (Cilium's
 * MARK_MAGIC_SNAT_DONE): cil_to_netdev does not take it for the node's own. */
#define MARK_MAGIC_SNAT_DONE 0x0300

/* Timeouts (Cilium's defaults), seconds */
#define CT_LIFETIME_TCP     21600
#define CT_LIFETIME_SYN     60
#define CT_LIFETIME_NONTCP  60
#define CT_LIFETIME_CLOSE   10

/* ---- events ---- */
#define EVENT_DROP  1           /* Cilium's MessageTypeDrop */
#define EVENT_TRACE 4           /* Cilium's MessageTypeTrace */

/* trace observation points, Cilium's raw TRACE_* numbering (Hubble maps 0 to TO_ENDPOINT=101) */
#define TRACE_TO_LXC      0
#define TRACE_TO_HOST     2
#define TRACE_TO_STACK    3
#define TRACE_TO_OVERLAY  4
#define TRACE_FROM_LXC    5
#define TRACE_FROM_HOST   7
#define TRACE_FROM_STACK  8
#define TRACE_FROM_OVERLAY 9

/* CT state carried in events */
#define EV_CT_NONE        0
#define EV_CT_NEW         1
#define EV_CT_ESTABLISHED 2
#define EV_CT_REPLY       3
#define EV_CT_RELATED     4

/* drop reasons: Hubble's flow.proto DropReason values */
#define DROP_INVALID_SIP          132
#define DROP_POLICY               133
#define DROP_INVALID              134
#define DROP_CT_INVALID_HDR       135
#define DROP_CT_UNKNOWN_PROTO     137
#define DROP_UNSUPPORTED_L3       139
#define DROP_WRITE_ERROR          141
#define DROP_UNKNOWN_L4           142
#define DROP_UNKNOWN_L3           150   /* overlay: destination is no local endpoint */
#define DROP_CT_CREATE_FAILED     155
#define DROP_FRAG_NOT_SUPPORTED   157
#define DROP_NO_SERVICE           158   /* service has no backend (Hubble: SERVICE_BACKEND_NOT_FOUND) */
#define DROP_UNSUPPORTED_L2       166
#define DROP_FRAG_NOT_FOUND       175   /* a later IPv4 fragment whose first was not seen (Hubble: FIRST_LOGICAL_DATAGRAM_FRAGMENT_NOT_FOUND) */

#define EV_DIR_EGRESS  1        /* leaving the endpoint (from-container) */
#define EV_DIR_INGRESS 2        /* entering the endpoint (to-container) */

struct flow_event {
	__u8  type;             /* EVENT_DROP or EVENT_TRACE */
	__u8  subtype;          /* trace: TRACE_* point; drop: DROP_* reason */
	__u8  ct_state;         /* EV_CT_* */
	__u8  l4_proto;         /* IPPROTO_* */
	__u16 src_ep;           /* 0 if not a local endpoint */
	__u16 dst_ep;
	__u32 ifindex;          /* skb->ifindex where it was observed */
	__u32 saddr;            /* network order */
	__u32 daddr;
	__u16 sport;            /* network order; ICMP: 0 */
	__u16 dport;
	__u8  tcp_flags;        /* FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32 ECE=64 CWR=128 */
	__u8  icmp_type;
	__u8  icmp_code;
	__u8  dir;              /* EV_DIR_* */
	__u32 len;              /* skb->len */
	__u32 src_sec_id;
	__u32 dst_sec_id;
	__u64 ktime;            /* bpf_ktime_get_ns() */
};                              /* 48 bytes */

/* ---- metrics (cilium-dbg bpf metrics list) ---- */
struct metrics_key {
	__u8  reason;           /* 0 = forwarded, else DROP_* */
	__u8  dir;              /* EV_DIR_* */
	__u16 pad;
};
struct metrics_value {
	__u64 packets;
	__u64 bytes;
};

/* monitor aggregation levels (read-only global MONITOR_AGGREGATION) */
#define MON_AGG_NONE   0        /* an event for every packet */
#define MON_AGG_MEDIUM 2        /* new connections, new TCP flags per direction, drops, and every 5 s */
#define MON_REPORT_INTERVAL 5   /* seconds between traces of one connection at MEDIUM */

#endif
