/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DSR for NodePort (loadBalancer.mode=dsr|hybrid, native routing), IPv4
 * option transport as Cilium 1.10 (see common.h, "DSR").
 *
 *  - dsr_set_opt4: inserts struct dsr_opt_v4 right after the 20-byte IPv4
 *    header (bpf_skb_adjust_room, BPF_ADJ_ROOM_NET), sets ihl 7, tot_len
 *    + 8 and the header checksum. The L4 checksum is unaffected.
 *  - dsr_get_opt4: the option of a packet that carries one as its first.
 *  - dsr_record4: on the backend's node, the CT_KEY_F_DSR row (reply tuple ->
 *    frontend) in cilium_snat_v4_ext and CT_F_DSR on the connection.
 *  - dsr_rev_xlate4: a backend's reply gets its source back to the frontend
 *    (bpf_lxc's cil_from_container, CT REPLY of a CT_F_DSR entry).
 */
#ifndef __CILIUM_TS_DSR_H
#define __CILIUM_TS_DSR_H

#include "maps.h"
#include "ipv4.h"
#include "conntrack.h"
#include "lb.h"

struct dsr_hdr4 {
	struct iphdr ip;
	struct dsr_opt_v4 opt;
} __attribute__((packed));

static __always_inline __u16 dsr_csum_fold(__s64 sum)
{
	__u32 c = (__u32)sum;

	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	return (__u16)~c;
}

/* Returns 0, DROP_INVALID (the header already has options) or DROP_WRITE_ERROR. Updates p->l4_off. */
static __always_inline int dsr_set_opt4(struct __sk_buff *skb, struct pkt4 *p, __u32 addr, __u16 port)
{
	struct dsr_hdr4 h = {};
	__s64 sum;

	if (p->l4_off != ETH_HLEN + sizeof(struct iphdr))
		return DROP_INVALID;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &h.ip, sizeof(h.ip)) < 0)
		return DROP_INVALID;
	if (bpf_skb_adjust_room(skb, DSR_IPV4_OPT_LEN, BPF_ADJ_ROOM_NET, BPF_F_ADJ_ROOM_NO_CSUM_RESET) < 0)
		return DROP_WRITE_ERROR;
	h.ip.ihl = (sizeof(struct iphdr) + DSR_IPV4_OPT_LEN) / 4;
	h.ip.tot_len = bpf_htons(bpf_ntohs(h.ip.tot_len) + DSR_IPV4_OPT_LEN);
	h.ip.check = 0;
	h.opt.type = DSR_IPV4_OPT_TYPE;
	h.opt.len = DSR_IPV4_OPT_LEN;
	h.opt.port = port;
	h.opt.addr = addr;
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&h, sizeof(h), 0);
	h.ip.check = dsr_csum_fold(sum);
	if (bpf_skb_store_bytes(skb, ETH_HLEN, &h, sizeof(h), 0) < 0)
		return DROP_WRITE_ERROR;
	p->l4_off += DSR_IPV4_OPT_LEN;
	return 0;
}

/* 1 and the frontend if the packet's first IPv4 option is ours, else 0. */
static __always_inline int dsr_get_opt4(struct __sk_buff *skb, const struct pkt4 *p, __u32 *addr, __u16 *port)
{
	struct dsr_opt_v4 opt;

	if (p->l4_off < ETH_HLEN + sizeof(struct iphdr) + DSR_IPV4_OPT_LEN)
		return 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + sizeof(struct iphdr), &opt, sizeof(opt)) < 0)
		return 0;
	if (opt.type != DSR_IPV4_OPT_TYPE || opt.len != DSR_IPV4_OPT_LEN)
		return 0;
	*addr = opt.addr;
	*port = opt.port;
	return 1;
}

static __always_inline void dsr_reply_key4(struct ct_key4 *k, const struct pkt4 *p, int is_reply)
{
	/* the reply tuple: backend -> client */
	k->saddr = is_reply ? p->saddr : p->daddr;
	k->daddr = is_reply ? p->daddr : p->saddr;
	k->sport = is_reply ? p->sport : p->dport;
	k->dport = is_reply ? p->dport : p->sport;
	k->nexthdr = p->proto;
	k->flags = CT_KEY_F_DSR;
	k->pad = 0;
}

/* The request p (client -> backend, tracked already) came with the option. */
static __always_inline void dsr_record4(const struct pkt4 *p, __u32 addr, __u16 port)
{
	struct ct_key4 k;
	struct nat4_entry *cur, ne = {};

	dsr_reply_key4(&k, p, 0);
	cur = bpf_map_lookup_elem(&cilium_snat_v4_ext, &k);
	if (!cur || cur->to_addr != addr || cur->to_port != port) {
		ne.to_addr = addr;
		ne.to_port = port;
		ne.created = bpf_ktime_get_ns();
		bpf_map_update_elem(&cilium_snat_v4_ext, &k, &ne, BPF_ANY);
	}
	ct_set_flags4(p, CT_F_DSR);
}

/* A reply of a DSR connection: source back to the frontend (*done = 1), or
 * nothing when there is no DSR row (LRU-evicted). Returns 0 or a DROP_* reason. */
static __always_inline int dsr_rev_xlate4(struct __sk_buff *skb, struct pkt4 *p, int *done)
{
	struct ct_key4 k;
	struct nat4_entry *ne;

	*done = 0;
	dsr_reply_key4(&k, p, 1);
	ne = bpf_map_lookup_elem(&cilium_snat_v4_ext, &k);
	if (!ne)
		return 0;
	*done = 1;
	return lb4_xlate(skb, p, 1, ne->to_addr, ne->to_port);
}

#endif
