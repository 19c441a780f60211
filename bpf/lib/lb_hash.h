/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The connection hash Maglev indexes its lookup table with. Plain integer
 * arithmetic, so userspace (tests, `cilium-dbg`-like tools) can compute where
 * a tuple lands: backend_ids[lb4_hash_tuple(...) % LB_MAGLEV_LUT_SIZE].
 */
#ifndef __CILIUM_TS_LB_HASH_H
#define __CILIUM_TS_LB_HASH_H

#include <linux/types.h>

static inline __u32 lb_hash_mix(__u32 h, __u32 v)
{
	v *= 0xcc9e2d51u;
	v = (v << 15) | (v >> 17);
	v *= 0x1b873593u;
	h ^= v;
	h = (h << 13) | (h >> 19);
	return h * 5 + 0xe6546b64u;
}

static inline __u32 lb_hash_final(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* Addresses and ports as stored (network order), taken as raw integers. */
static inline __u32 lb4_hash_tuple(__u32 saddr, __u32 daddr, __u16 sport, __u16 dport, __u8 proto)
{
	__u32 h = 0x5bd1e995u;

	h = lb_hash_mix(h, saddr);
	h = lb_hash_mix(h, daddr);
	h = lb_hash_mix(h, ((__u32)sport << 16) | dport);
	h = lb_hash_mix(h, proto);
	return lb_hash_final(h);
}

/* Socket LB (no source port yet at connect time): the socket cookie. */
static inline __u32 lb4_hash_cookie(__u64 cookie, __u32 daddr, __u16 dport)
{
	__u32 h = 0x5bd1e995u;

	h = lb_hash_mix(h, (__u32)cookie);
	h = lb_hash_mix(h, (__u32)(cookie >> 32));
	h = lb_hash_mix(h, daddr);
	h = lb_hash_mix(h, dport);
	return lb_hash_final(h);
}

#endif
