/* SPDX-License-Identifier: Apache-2.0 */
/* Local endpoints (pods on this node) by IPv4 address. */
#ifndef __CILIUM_TS_ENDPOINT_H
#define __CILIUM_TS_ENDPOINT_H

#include "maps.h"

static __always_inline struct endpoint_info *lookup_ip4_endpoint(__u32 ip4)
{
	struct endpoint_key key = { .ip4 = ip4 };

	return bpf_map_lookup_elem(&cilium_lxc, &key);
}

#endif
