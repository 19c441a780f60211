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

#define ENDPOINT_MAP_SIZE 65535
#define CT_MAP_SIZE       262144
#define EVENTS_RING_SIZE  (4 * 1024 * 1024)
#define METRICS_MAP_SIZE  1024
#define TUNNEL_MAP_SIZE   65536

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
	__u8  flags;            /* 0 (reserved for directional CT) */
	__u16 pad;
};                              /* 16 bytes */

enum ct_tcp_state {
	CT_TCP_NONE = 0,        /* non-TCP */
	CT_TCP_SYN_SENT = 1,
	CT_TCP_SYN_RECV = 2,    /* SYN-ACK seen */
	CT_TCP_ESTABLISHED = 3,
	CT_TCP_FIN_WAIT = 4,    /* one side sent FIN */
	CT_TCP_CLOSE = 5,       /* both FINs or an RST */
};

#define CT_F_SEEN_REPLY 1

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
};                              /* 40 bytes */

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
#define DROP_UNSUPPORTED_L2       166

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
