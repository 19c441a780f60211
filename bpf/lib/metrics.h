/* SPDX-License-Identifier: Apache-2.0 */
/* Per-CPU packet/byte counters by (reason, direction); reason 0 = forwarded. */
#ifndef __CILIUM_TS_METRICS_H
#define __CILIUM_TS_METRICS_H

#include "maps.h"

static __always_inline void update_metrics(__u32 bytes, __u8 dir, __u8 reason)
{
	struct metrics_key key = { .reason = reason, .dir = dir };
	struct metrics_value *v;

	v = bpf_map_lookup_elem(&cilium_metrics, &key);
	if (likely(v)) {
		/* per-CPU value: no other writer */
		v->packets += 1;
		v->bytes += bytes;
	} else {
		struct metrics_value nv = { .packets = 1, .bytes = bytes };

		bpf_map_update_elem(&cilium_metrics, &key, &nv, BPF_NOEXIST);
	}
}

#endif
