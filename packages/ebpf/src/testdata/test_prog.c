/* SPDX-License-Identifier: Apache-2.0 */
/* Test object for packages/ebpf: one map of each kind the agent uses, a tc counter that emits
 * ring-buffer records, read-only globals, and a cgroup/connect4 program. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct test_key {
	__u32 ip;               /* network order */
	__u16 port;             /* network order */
	__u16 pad;
};                              /* 8 bytes */

struct test_val {
	__u64 packets;
	__u64 bytes;
};                              /* 16 bytes */

struct test_event {
	__u32 ifindex;
	__u32 len;
	__u32 saddr;
	__u32 daddr;
	__u32 magic;
	__u8  proto;
	__u8  pad[3];
};                              /* 24 bytes */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct test_key);
	__type(value, struct test_val);
} test_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, __u64);
} test_lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct test_val);
} test_pcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} test_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} test_pinned SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} test_events SEC(".maps");

const volatile __u32 MAGIC = 7;
const volatile __u8 DROP_ICMP = 0;
const volatile __s32 SIGNED_VAL = -1;

SEC("tc")
int tc_count(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct test_val *v;
	struct test_event *e;
	__u32 proto;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return TC_ACT_OK;
	proto = ip->protocol;

	v = bpf_map_lookup_elem(&test_pcpu, &proto);
	if (v) {
		v->packets++;
		v->bytes += skb->len;
	} else {
		struct test_val nv = { .packets = 1, .bytes = skb->len };
		bpf_map_update_elem(&test_pcpu, &proto, &nv, BPF_NOEXIST);
	}

	e = bpf_ringbuf_reserve(&test_events, sizeof(*e), 0);
	if (e) {
		e->ifindex = skb->ifindex;
		e->len = skb->len;
		e->saddr = ip->saddr;
		e->daddr = ip->daddr;
		e->magic = MAGIC;
		e->proto = ip->protocol;
		e->pad[0] = e->pad[1] = e->pad[2] = 0;
		bpf_ringbuf_submit(e, 0);
	}

	if (DROP_ICMP && proto == IPPROTO_ICMP)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

/* BPF_PROG_TEST_RUN: returns MAGIC (+ SIGNED_VAL), to show that .rodata set before load is seen. */
SEC("tc")
int tc_magic(struct __sk_buff *skb)
{
	return MAGIC + SIGNED_VAL + 1;
}

SEC("cgroup/connect4")
int cg_connect4(struct bpf_sock_addr *ctx)
{
	__u32 k = 0;
	__u64 *c = bpf_map_lookup_elem(&test_array, &k);

	if (c)
		__sync_fetch_and_add(c, 1);
	return 1;
}

char _license[] SEC("license") = "GPL";
