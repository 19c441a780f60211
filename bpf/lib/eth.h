/* SPDX-License-Identifier: Apache-2.0 */
/* Ethernet: EtherType and MAC rewrite. */
#ifndef __CILIUM_TS_ETH_H
#define __CILIUM_TS_ETH_H

#include "compiler.h"

#define ETH_P_ARP_BE  bpf_htons(ETH_P_ARP)
#define ETH_P_IP_BE   bpf_htons(ETH_P_IP)
#define ETH_P_IPV6_BE bpf_htons(ETH_P_IPV6)

/* The EtherType (network order), or 0 if the frame is shorter than a header. */
static __always_inline __u16 eth_proto(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if (unlikely((void *)(eth + 1) > data_end)) {
		if (ctx_ensure_linear(skb, sizeof(*eth)) < 0)
			return 0;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		eth = data;
		if ((void *)(eth + 1) > data_end)
			return 0;
	}
	return eth->h_proto;
}

static __always_inline void eth_copy_mac(__u8 *dst, const __u8 *src)
{
	__builtin_memcpy(dst, src, ETH_ALEN);
}

#endif
