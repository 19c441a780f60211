/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forwarding a packet ourselves (FIB lookup + redirect), for translated
 * packets the stack must not see: after NodePort SNAT or reverse NAT their
 * source is the node's own address, which the stack drops as a martian on
 * input. Needs forwarding enabled on the device the packet came in on.
 */
#ifndef __CILIUM_TS_FIB_H
#define __CILIUM_TS_FIB_H

#include "compiler.h"
#include "ipv4.h"

#ifndef AF_INET
#define AF_INET 2
#endif

/*
 * Routes the packet by its (current) addresses as if it arrived on
 * ifindex_in: on success rewrites the MACs, decrements the TTL and returns
 * the bpf_redirect() verdict; the neighbour unresolved: bpf_redirect_neigh.
 * Returns -1 if there is no route (the caller decides).
 */
static __always_inline int fib_redirect4(struct __sk_buff *skb, const struct pkt4 *p, __u32 ifindex_in)
{
	struct bpf_fib_lookup fib = {};
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *ip;
	long ret;

	fib.family = AF_INET;
	fib.l4_protocol = p->proto;
	fib.sport = p->sport;
	fib.dport = p->dport;
	fib.tot_len = skb->len > ETH_HLEN ? skb->len - ETH_HLEN : 0;
	fib.ifindex = ifindex_in;
	fib.ipv4_src = p->saddr;
	fib.ipv4_dst = p->daddr;
	ret = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (ret != BPF_FIB_LKUP_RET_SUCCESS && ret != BPF_FIB_LKUP_RET_NO_NEIGH)
		return -1;

	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = data;
	ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > data_end)
		return -1;
	if (ip->ttl <= 1)
		return -1;
	ipv4_dec_ttl(ip);
	if (ret == BPF_FIB_LKUP_RET_NO_NEIGH)
		return bpf_redirect_neigh(fib.ifindex, NULL, 0, 0);
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	return bpf_redirect(fib.ifindex, 0);
}

#endif
