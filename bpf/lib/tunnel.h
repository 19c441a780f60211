/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tunnel mode: pod CIDRs of other nodes (cilium_tunnel_map) and VXLAN
 * encapsulation through the agent's collect-metadata VXLAN device.
 */
#ifndef __CILIUM_TS_TUNNEL_H
#define __CILIUM_TS_TUNNEL_H

#include "maps.h"

/* ifindex of the VXLAN device (cilium_vxlan), set by the agent at load time;
 * 0: no tunnel (native routing): non-local traffic goes to the stack. */
const volatile __u32 TUNNEL_IFINDEX = 0;

/* The remote node whose pod CIDR holds ip4 (network order), or NULL. */
static __always_inline struct tunnel_value *lookup_ip4_tunnel(__u32 ip4)
{
	struct tunnel_key key = { .prefixlen = 32, .ip4 = ip4 };

	return bpf_map_lookup_elem(&cilium_tunnel_map, &key);
}

/*
 * Attaches the tunnel metadata (remote node, VNI = source identity) that the
 * collect-metadata VXLAN device encapsulates with. Returns 0 or DROP_WRITE_ERROR.
 */
static __always_inline int tunnel_set_key(struct __sk_buff *skb, const struct tunnel_value *tv,
					  __u32 sec_id)
{
	struct bpf_tunnel_key key = {};

	key.remote_ipv4 = bpf_ntohl(tv->remote_ip4);    /* the helper wants host order */
	key.tunnel_id = sec_id & 0xffffff;
	key.tunnel_ttl = TUNNEL_TTL;
	if (bpf_skb_set_tunnel_key(skb, &key, sizeof(key), BPF_F_ZERO_CSUM_TX) < 0)
		return DROP_WRITE_ERROR;
	return 0;
}

#endif
