/* SPDX-License-Identifier: Apache-2.0 */
/* IPv4 + L4 parsing into a flat description of the packet. */
#ifndef __CILIUM_TS_IPV4_H
#define __CILIUM_TS_IPV4_H

#include "compiler.h"
#include "maps.h"

#define IP_MF_BE     bpf_htons(0x2000)
#define IP_OFFSET_BE bpf_htons(0x1fff)

/* What the rest of the datapath needs to know about an IPv4 packet. Ports and
 * addresses in network order, as in struct ct_key4. */
struct pkt4 {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;            /* ICMP echo: the echo id; other ICMP: 0 */
	__u16 dport;
	__u8  proto;
	__u8  tcp_flags;
	__u8  icmp_type;
	__u8  icmp_code;
	__u16 l4_off;           /* offset of the L4 header from the start of the frame */
	__u8  frag;             /* PKT4_* */
	__u8  icmp_error;       /* 1: ICMP error carrying an inner header (RELATED) */
	__u16 ip_id;            /* IP identification, network order */
	__u8  frag_ports;       /* PKT4_FRAG_LATER: 1 if sport/dport came from the first fragment */
};

#define PKT4_FRAG_NONE  0
#define PKT4_FRAG_FIRST 1       /* MF set, offset 0: ports are present */
#define PKT4_FRAG_LATER 2       /* offset != 0: no L4 header */

static __always_inline int icmp_is_error(__u8 type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH ||
	       type == ICMP_REDIRECT || type == ICMP_TIME_EXCEEDED ||
	       type == ICMP_PARAMETERPROB;
}

/*
 * Parses the IPv4 header behind the Ethernet header and the start of the L4
 * header. Returns 0 or a DROP_* reason. Unknown L4 protocols are not an error
 * here: p->proto tells the caller.
 */
static __always_inline int ipv4_parse(struct __sk_buff *skb, struct pkt4 *p)
{
	void *data, *data_end;
	struct iphdr *ip;
	__u32 ihl, need;

	/* Ethernet + IPv4 + 20 bytes of L4 covers the common case (TCP without
	 * options) in one check. */
	need = ETH_HLEN + sizeof(struct iphdr);
	if (ctx_ensure_linear(skb, need) < 0)
		return DROP_INVALID;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > data_end)
		return DROP_INVALID;
	if (ip->version != 4)
		return DROP_INVALID;
	ihl = ip->ihl * 4;
	if (ihl < sizeof(struct iphdr))
		return DROP_INVALID;

	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	p->sport = 0;
	p->dport = 0;
	p->tcp_flags = 0;
	p->icmp_type = 0;
	p->icmp_code = 0;
	p->icmp_error = 0;
	p->l4_off = ETH_HLEN + ihl;
	p->ip_id = ip->id;
	p->frag_ports = 0;

	if (unlikely(ip->frag_off & (IP_MF_BE | IP_OFFSET_BE))) {
		if (ip->frag_off & IP_OFFSET_BE) {
			p->frag = PKT4_FRAG_LATER;
			return 0;
		}
		p->frag = PKT4_FRAG_FIRST;
	} else {
		p->frag = PKT4_FRAG_NONE;
	}

	switch (p->proto) {
	case IPPROTO_TCP:
		need = sizeof(struct tcphdr);
		break;
	case IPPROTO_UDP:
		need = sizeof(struct udphdr);
		break;
	case IPPROTO_ICMP:
		need = 8;
		break;
	default:
		return 0;
	}

	if (ctx_ensure_linear(skb, ETH_HLEN + ihl + need) < 0)
		return DROP_CT_INVALID_HDR;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	/* ihl is at most 60: keep the verifier's range tight. */
	ihl &= 0x3c;

	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = data + ETH_HLEN + ihl;

		if ((void *)(th + 1) > data_end)
			return DROP_CT_INVALID_HDR;
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
	} else if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = data + ETH_HLEN + ihl;

		if ((void *)(uh + 1) > data_end)
			return DROP_CT_INVALID_HDR;
		p->sport = uh->source;
		p->dport = uh->dest;
	} else {
		struct icmphdr *ih = data + ETH_HLEN + ihl;

		if ((void *)ih + 8 > data_end)
			return DROP_CT_INVALID_HDR;
		p->icmp_type = ih->type;
		p->icmp_code = ih->code;
		if (ih->type == ICMP_ECHO || ih->type == ICMP_ECHOREPLY) {
			p->sport = ih->un.echo.id;
			p->dport = ih->un.echo.id;
		} else if (icmp_is_error(ih->type)) {
			p->icmp_error = 1;
		}
	}
	return 0;
}

/* Read-only global, set by the agent (--enable-ipv4-fragment-tracking): 1
 * tracks the ports of fragmented TCP/UDP datagrams (common.h). 0 (the
 * object's default): later fragments carry no ports (bpf_lxc drops them with
 * DROP_FRAG_NOT_SUPPORTED, the others pass them untracked). */
const volatile __u32 ENABLE_IPV4_FRAGMENTS = 0;

/*
 * Fragment tracking: a first TCP/UDP fragment records its
 * ports; a later one gets them (p->sport/dport, p->frag_ports = 1). Returns 0,
 * or DROP_FRAG_NOT_FOUND for a later fragment whose first was not seen. A
 * no-op when tracking is off, for unfragmented packets and other protocols.
 */
static __always_inline int ipv4_frag_ports(struct pkt4 *p)
{
	struct ipv4_frag_id id = {};
	struct ipv4_frag_l4ports ports, *pp;

	if (!ENABLE_IPV4_FRAGMENTS || likely(p->frag == PKT4_FRAG_NONE))
		return 0;
	if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
		return 0;
	id.daddr = p->daddr;
	id.saddr = p->saddr;
	id.id = p->ip_id;
	id.proto = p->proto;
	if (p->frag == PKT4_FRAG_FIRST) {
		ports.sport = p->sport;
		ports.dport = p->dport;
		bpf_map_update_elem(&cilium_ipv4_frag_datagrams, &id, &ports, BPF_ANY);
		return 0;
	}
	pp = bpf_map_lookup_elem(&cilium_ipv4_frag_datagrams, &id);
	if (!pp)
		return DROP_FRAG_NOT_FOUND;
	p->sport = pp->sport;
	p->dport = pp->dport;
	p->frag_ports = 1;
	return 0;
}

/* The packet's ports are known: not a later fragment, or one whose first was tracked. */
static __always_inline int pkt4_has_ports(const struct pkt4 *p)
{
	return p->frag != PKT4_FRAG_LATER || p->frag_ports;
}

/*
 * For an ICMP error: the tuple of the packet that caused it (the inner IPv4
 * header + 8 bytes of L4), as seen by its sender. Returns 0 on success.
 */
static __always_inline int ipv4_icmp_inner_tuple(struct __sk_buff *skb, const struct pkt4 *p,
						 struct ct_key4 *inner)
{
	struct iphdr ip;
	__u8 l4[8];
	__u32 off = p->l4_off + 8;

	if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)) < 0)
		return -1;
	if (ip.version != 4 || ip.ihl < 5)
		return -1;
	if (bpf_skb_load_bytes(skb, off + ip.ihl * 4, l4, sizeof(l4)) < 0)
		return -1;
	inner->saddr = ip.saddr;
	inner->daddr = ip.daddr;
	inner->nexthdr = ip.protocol;
	inner->flags = 0;
	inner->pad = 0;
	switch (ip.protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		inner->sport = *(__u16 *)&l4[0];
		inner->dport = *(__u16 *)&l4[2];
		break;
	case IPPROTO_ICMP:
		if (l4[0] != ICMP_ECHO && l4[0] != ICMP_ECHOREPLY)
			return -1;
		inner->sport = *(__u16 *)&l4[4];
		inner->dport = inner->sport;
		break;
	default:
		return -1;
	}
	return 0;
}

/* Decrements the TTL with an incremental header checksum update (RFC 1624).
 * Returns the TTL before decrementing, or 0 if the header is unreachable. */
static __always_inline __u8 ipv4_dec_ttl(struct iphdr *ip)
{
	__u32 csum;
	__u8 ttl = ip->ttl;

	if (ttl <= 1)
		return ttl;
	ip->ttl = ttl - 1;
	/* TTL is the high byte of its 16-bit word: the sum drops by 0x0100,
	 * so the one's complement checksum grows by 0x0100. */
	csum = (__u32)ip->check + (__u32)bpf_htons(0x0100);
	ip->check = (__u16)(csum + (csum >> 16));
	return ttl;
}

#endif
