/* SPDX-License-Identifier: Apache-2.0 */
/* A program the verifier must reject: reads the packet without a bounds check. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int tc_bad(struct __sk_buff *skb)
{
	unsigned char *data = (void *)(long)skb->data;

	return data[100];
}

char _license[] SEC("license") = "GPL";
