// SPDX-License-Identifier: Apache-2.0
/*
 * BPF_PROG_TEST_RUN suite for bpf/build/bpf_lxc.o (and bpf_overlay.o, found
 * next to it, loaded with bpf_lxc's maps as the agent does through pinning).
 *
 * Runs in a network (and mount) namespace of its own, made with unshare(2):
 * two dummy devices there give real ifindexes for skb->ifindex (the kernel
 * resolves ctx_in.ifindex in the caller's netns). Maps are not pinned, except
 * in the pinning test, which uses a private bpffs mount under /tmp.
 *
 * Usage: bpf-tests [path/to/bpf_lxc.o] [test-name-substring]
 * (bpf_overlay.o is taken from the directory of bpf_lxc.o)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "../lib/common.h"
#include "pkt.h"

#define TC_ACT_OK       0
#define TC_ACT_SHOT     2
#define TC_ACT_REDIRECT 7

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

/* ---------------------------------------------------------------- harness */

static const char *obj_path = "build/bpf_lxc.o";
static char overlay_path[512] = "build/bpf_overlay.o";
/* TUNNEL_IFINDEX for the next dp_open (0: leave the default, tunnel off). */
static uint32_t open_tunnel_ifindex;
/* NODE_IP for every dp_open (network order; 0: leave the default). */
static uint32_t open_node_ip;
static int cur_failed;
static char cur_msg[4096];

#define CHECK(cond, ...)                                                              \
	do {                                                                          \
		if (!(cond)) {                                                        \
			size_t _n = strlen(cur_msg);                                  \
			snprintf(cur_msg + _n, sizeof(cur_msg) - _n, "\n    line %d: %s: ", \
				 __LINE__, #cond);                                    \
			_n = strlen(cur_msg);                                         \
			snprintf(cur_msg + _n, sizeof(cur_msg) - _n, __VA_ARGS__);     \
			cur_failed = 1;                                               \
		}                                                                     \
	} while (0)

/* CHECK that also leaves the test: later checks would only cascade. */
#define REQUIRE(cond, ...)                   \
	do {                                 \
		int _ok = !!(cond);          \
		CHECK(_ok, __VA_ARGS__);     \
		if (!_ok)                    \
			return;              \
	} while (0)

#define MAX_EVENTS 256

struct dp {
	struct bpf_object *obj;
	int from_fd, to_fd;
	int lxc_fd, ct_fd, metrics_fd, lost_fd, events_fd;
	struct ring_buffer *rb;
	struct flow_event ev[MAX_EVENTS];
	int nev;
};

static int on_event(void *ctx, void *data, size_t size)
{
	struct dp *d = ctx;

	if (size != sizeof(struct flow_event) || d->nev >= MAX_EVENTS)
		return 0;
	memcpy(&d->ev[d->nev++], data, sizeof(struct flow_event));
	return 0;
}

static int set_rodata_u32(struct bpf_object *obj, const char *var, uint32_t value)
{
	struct btf *btf = bpf_object__btf(obj);
	struct bpf_map *map;
	int id, n;

	if (!btf)
		return -ENOENT;
	n = btf__type_cnt(btf);
	for (id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		const struct btf_var_secinfo *vs;
		int i;

		if (!btf_is_datasec(t) || strcmp(btf__name_by_offset(btf, t->name_off), ".rodata"))
			continue;
		vs = btf_var_secinfos(t);
		for (i = 0; i < btf_vlen(t); i++, vs++) {
			const struct btf_type *v = btf__type_by_id(btf, vs->type);

			if (strcmp(btf__name_by_offset(btf, v->name_off), var))
				continue;
			bpf_object__for_each_map(map, obj) {
				size_t sz;
				const void *cur;
				char *copy;
				int err;
				const char *name = bpf_map__name(map);

				if (!bpf_map__is_internal(map) || !strstr(name, ".rodata"))
					continue;
				cur = bpf_map__initial_value(map, &sz);
				if (!cur || vs->offset + 4 > sz)
					return -EINVAL;
				copy = malloc(sz);
				if (!copy)
					return -ENOMEM;
				memcpy(copy, cur, sz);
				memcpy(copy + vs->offset, &value, 4);
				err = bpf_map__set_initial_value(map, copy, sz);
				free(copy);
				return err;
			}
		}
	}
	return -ENOENT;
}

/* Opens and loads the object. pin_root NULL: no pinning at all. */
static int dp_open(struct dp *d, int mon_agg, const char *pin_root)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_root);
	struct bpf_map *map;
	int err;

	memset(d, 0, sizeof(*d));
	d->obj = bpf_object__open_file(obj_path, &oo);
	if (!d->obj)
		return -errno;
	if (!pin_root) {
		bpf_object__for_each_map(map, d->obj)
			bpf_map__set_pin_path(map, NULL);
	}
	if (mon_agg >= 0 && (err = set_rodata_u32(d->obj, "MONITOR_AGGREGATION", mon_agg)))
		return err;
	if (open_tunnel_ifindex && (err = set_rodata_u32(d->obj, "TUNNEL_IFINDEX", open_tunnel_ifindex)))
		return err;
	if (open_node_ip && (err = set_rodata_u32(d->obj, "NODE_IP", open_node_ip)))
		return err;
	err = bpf_object__load(d->obj);
	if (err)
		return err;
	d->from_fd = bpf_program__fd(bpf_object__find_program_by_name(d->obj, "cil_from_container"));
	d->to_fd = bpf_program__fd(bpf_object__find_program_by_name(d->obj, "cil_to_container"));
	d->lxc_fd = bpf_object__find_map_fd_by_name(d->obj, "cilium_lxc");
	d->ct_fd = bpf_object__find_map_fd_by_name(d->obj, "cilium_ct4_glob");
	d->metrics_fd = bpf_object__find_map_fd_by_name(d->obj, "cilium_metrics");
	d->lost_fd = bpf_object__find_map_fd_by_name(d->obj, "cilium_ev_lost");
	d->events_fd = bpf_object__find_map_fd_by_name(d->obj, "cilium_events");
	if (d->from_fd < 0 || d->to_fd < 0 || d->lxc_fd < 0 || d->ct_fd < 0 ||
	    d->metrics_fd < 0 || d->lost_fd < 0 || d->events_fd < 0)
		return -ENOENT;
	d->rb = ring_buffer__new(d->events_fd, on_event, d, NULL);
	if (!d->rb)
		return -errno;
	return 0;
}

static void dp_close(struct dp *d)
{
	if (d->rb)
		ring_buffer__free(d->rb);
	if (d->obj)
		bpf_object__close(d->obj);
	memset(d, 0, sizeof(*d));
}

/* Drains whatever the ring holds and forgets all events. */
static void events_reset(struct dp *d)
{
	ring_buffer__consume(d->rb);
	d->nev = 0;
}

struct run {
	int ret;                /* program return code */
	uint8_t out[PKT_MAX];
	uint32_t out_len;
	uint32_t mark;          /* skb->mark after the program */
};

/* skb->mark the next run_prog() calls start with (0 unless a test sets it). */
static uint32_t run_mark_in;

/* Runs a program on one frame as if it arrived on ifindex; collects the events. */
static int run_prog(struct dp *d, int prog_fd, const uint8_t *pkt, size_t len, int ifindex,
		    struct run *r)
{
	struct __sk_buff skb = { .ifindex = ifindex, .mark = run_mark_in }, skb_out = {};
	LIBBPF_OPTS(bpf_test_run_opts, o,
		    .data_in = pkt, .data_size_in = len,
		    .data_out = r->out, .data_size_out = sizeof(r->out),
		    .ctx_in = &skb, .ctx_size_in = sizeof(skb),
		    .ctx_out = &skb_out, .ctx_size_out = sizeof(skb_out),
		    .repeat = 1);
	int err;

	err = bpf_prog_test_run_opts(prog_fd, &o);
	if (err)
		return -errno;
	r->ret = o.retval;
	r->out_len = o.data_size_out;
	r->mark = skb_out.mark;
	ring_buffer__consume(d->rb);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ------------------------------------------------------------- fixtures */

static const uint8_t MAC_A[6]      = { 0x02, 0xaa, 0, 0, 0, 0x01 };  /* pod A eth0 */
static const uint8_t NODE_MAC_A[6] = { 0x02, 0xbb, 0, 0, 0, 0x01 };  /* lxc A */
static const uint8_t MAC_B[6]      = { 0x02, 0xaa, 0, 0, 0, 0x02 };
static const uint8_t NODE_MAC_B[6] = { 0x02, 0xbb, 0, 0, 0, 0x02 };

#define EP_A 101
#define EP_B 102
#define SEC_A 1001
#define SEC_B 1002

static uint32_t IP_A, IP_B, IP_ROUTER, IP_STRANGER;
static int if_a, if_b;
static char dev_a[IFNAMSIZ], dev_b[IFNAMSIZ];

static struct dp D;             /* MONITOR_AGGREGATION at its default (MEDIUM) */

static int seed_endpoints(struct dp *d)
{
	struct endpoint_key k;
	struct endpoint_info v;

	memset(&v, 0, sizeof(v));
	k.ip4 = IP_A;
	v.ifindex = if_a;
	v.ep_id = EP_A;
	memcpy(v.mac, MAC_A, 6);
	memcpy(v.node_mac, NODE_MAC_A, 6);
	v.sec_id = SEC_A;
	if (bpf_map_update_elem(d->lxc_fd, &k, &v, BPF_ANY))
		return -errno;
	k.ip4 = IP_B;
	v.ifindex = if_b;
	v.ep_id = EP_B;
	memcpy(v.mac, MAC_B, 6);
	memcpy(v.node_mac, NODE_MAC_B, 6);
	v.sec_id = SEC_B;
	if (bpf_map_update_elem(d->lxc_fd, &k, &v, BPF_ANY))
		return -errno;
	return 0;
}

static struct pkt_opts tcp_a_to_b(uint16_t sport, uint8_t flags)
{
	return (struct pkt_opts){ .smac = MAC_A, .dmac = NODE_MAC_A, .saddr = IP_A, .daddr = IP_B,
				  .proto = IPPROTO_TCP, .sport = sport, .dport = 80, .tcp_flags = flags };
}

static struct pkt_opts tcp_b_to_a(uint16_t dport, uint8_t flags)
{
	return (struct pkt_opts){ .smac = MAC_B, .dmac = NODE_MAC_B, .saddr = IP_B, .daddr = IP_A,
				  .proto = IPPROTO_TCP, .sport = 80, .dport = dport, .tcp_flags = flags };
}

static int ct_get(struct dp *d, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
		  uint8_t proto, struct ct_entry *e)
{
	struct ct_key4 k = { .saddr = saddr, .daddr = daddr, .sport = htons(sport),
			     .dport = htons(dport), .nexthdr = proto };

	return bpf_map_lookup_elem(d->ct_fd, &k, e) ? -errno : 0;
}

static int ct_put(struct dp *d, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
		  uint8_t proto, const struct ct_entry *e)
{
	struct ct_key4 k = { .saddr = saddr, .daddr = daddr, .sport = htons(sport),
			     .dport = htons(dport), .nexthdr = proto };

	return bpf_map_update_elem(d->ct_fd, &k, e, BPF_EXIST) ? -errno : 0;
}

/* Seconds from now until the entry expires (CLOCK_MONOTONIC, as the agent's GC sees it). */
static double ct_ttl(const struct ct_entry *e)
{
	return ((double)e->expires - (double)now_ns()) / 1e9;
}

static uint64_t metric_packets(struct dp *d, uint8_t reason, uint8_t dir)
{
	int ncpu = libbpf_num_possible_cpus();
	struct metrics_key k = { .reason = reason, .dir = dir };
	struct metrics_value v[ncpu > 0 ? ncpu : 1];
	uint64_t sum = 0;
	int i;

	if (ncpu <= 0 || bpf_map_lookup_elem(d->metrics_fd, &k, v))
		return 0;
	for (i = 0; i < ncpu; i++)
		sum += v[i].packets;
	return sum;
}

static int count_events(struct dp *d, uint8_t type)
{
	int i, n = 0;

	for (i = 0; i < d->nev; i++)
		n += d->ev[i].type == type;
	return n;
}

/* ---------------------------------------------------------------- tests */

static void test_object_layout(void)
{
	struct bpf_map *m;
	struct {
		const char *name;
		unsigned type, key, value;
	} want[] = {
		{ "cilium_lxc", BPF_MAP_TYPE_HASH, sizeof(struct endpoint_key), sizeof(struct endpoint_info) },
		{ "cilium_ct4_glob", BPF_MAP_TYPE_LRU_HASH, sizeof(struct ct_key4), sizeof(struct ct_entry) },
		{ "cilium_events", BPF_MAP_TYPE_RINGBUF, 0, 0 },
		{ "cilium_metrics", BPF_MAP_TYPE_PERCPU_HASH, sizeof(struct metrics_key), sizeof(struct metrics_value) },
		{ "cilium_ev_lost", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8 },
		{ "cilium_tunnel_map", BPF_MAP_TYPE_LPM_TRIE, sizeof(struct tunnel_key), sizeof(struct tunnel_value) },
		{ "cilium_lb4_services_v2", BPF_MAP_TYPE_HASH, sizeof(struct lb4_key), sizeof(struct lb4_service) },
		{ "cilium_lb4_backends_v3", BPF_MAP_TYPE_HASH, 4, sizeof(struct lb4_backend) },
		{ "cilium_lb4_reverse_nat", BPF_MAP_TYPE_HASH, 2, sizeof(struct lb4_reverse_nat) },
		{ "cilium_lb4_affinity", BPF_MAP_TYPE_LRU_HASH, sizeof(struct lb4_affinity_key),
		  sizeof(struct lb_affinity_val) },
		{ "cilium_lb4_maglev", BPF_MAP_TYPE_HASH, 2, sizeof(struct lb4_maglev) },
		{ "cilium_lb4_sk_rnat", BPF_MAP_TYPE_LRU_HASH, sizeof(struct lb4_sk_rnat_key),
		  sizeof(struct lb4_sk_rnat_val) },
		{ "cilium_snat_v4_ext", BPF_MAP_TYPE_LRU_HASH, sizeof(struct ct_key4), sizeof(struct nat4_entry) },
		{ "cilium_ipv4_frag_datagrams", BPF_MAP_TYPE_LRU_HASH, sizeof(struct ipv4_frag_id),
		  sizeof(struct ipv4_frag_l4ports) },
	};
	struct btf *btf = bpf_object__btf(D.obj);
	size_t i;

	CHECK(sizeof(struct endpoint_info) == 24, "endpoint_info is %zu bytes", sizeof(struct endpoint_info));
	CHECK(sizeof(struct ct_key4) == 16, "ct_key4 is %zu bytes", sizeof(struct ct_key4));
	CHECK(sizeof(struct ct_entry) == 48, "ct_entry is %zu bytes", sizeof(struct ct_entry));
	CHECK(sizeof(struct flow_event) == 48, "flow_event is %zu bytes", sizeof(struct flow_event));
	CHECK(sizeof(struct tunnel_key) == 8 && sizeof(struct tunnel_value) == 8, "tunnel key/value %zu/%zu",
	      sizeof(struct tunnel_key), sizeof(struct tunnel_value));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		m = bpf_object__find_map_by_name(D.obj, want[i].name);
		REQUIRE(m, "map %s missing", want[i].name);
		CHECK(bpf_map__type(m) == want[i].type, "%s type %d", want[i].name, bpf_map__type(m));
		if (want[i].key) {
			CHECK(bpf_map__key_size(m) == want[i].key, "%s key %u", want[i].name, bpf_map__key_size(m));
			CHECK(bpf_map__value_size(m) == want[i].value, "%s value %u", want[i].name,
			      bpf_map__value_size(m));
		}
	}
	/* The agent checks its codecs against these BTF sizes. */
	{
		const char *names[] = { "endpoint_info", "ct_key4", "ct_entry", "metrics_key", "metrics_value",
					"tunnel_key", "tunnel_value", "lb4_key", "lb4_service", "lb4_backend",
					"lb4_reverse_nat", "lb4_affinity_key", "lb_affinity_val", "lb4_maglev",
					"lb4_sk_rnat_key", "lb4_sk_rnat_val", "nat4_entry" };
		size_t sizes[] = { sizeof(struct endpoint_info), sizeof(struct ct_key4), sizeof(struct ct_entry),
				   sizeof(struct metrics_key), sizeof(struct metrics_value),
				   sizeof(struct tunnel_key), sizeof(struct tunnel_value), 12, 16, 12, 8, 16, 16,
				   4 * LB_MAGLEV_LUT_SIZE, 16, 8, 16 };

		REQUIRE(btf, "object has no BTF");
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			int id = btf__find_by_name_kind(btf, names[i], BTF_KIND_STRUCT);

			CHECK(id > 0 && btf__resolve_size(btf, id) == (long)sizes[i], "BTF struct %s: id %d size %lld",
			      names[i], id, id > 0 ? (long long)btf__resolve_size(btf, id) : -1LL);
		}
	}
}

static void test_arp_passes(void)
{
	uint8_t pkt[PKT_MAX];
	struct run r;
	size_t len = build_l2(pkt, MAC_A, NODE_MAC_A, 0x0806, 28);

	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run: %s", strerror(errno));
	CHECK(r.ret == TC_ACT_OK, "from_container ret %d", r.ret);
	REQUIRE(run_prog(&D, D.to_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK, "to_container ret %d", r.ret);
	CHECK(D.nev == 0, "%d events for ARP", D.nev);
}

static void expect_drop(int prog_fd, const uint8_t *pkt, size_t len, int ifindex, uint8_t reason,
			uint8_t dir)
{
	uint64_t before = metric_packets(&D, reason, dir);
	struct run r;

	events_reset(&D);
	REQUIRE(run_prog(&D, prog_fd, pkt, len, ifindex, &r) == 0, "test run: %s", strerror(errno));
	CHECK(r.ret == TC_ACT_SHOT, "ret %d, want TC_ACT_SHOT", r.ret);
	REQUIRE(D.nev == 1, "%d events, want one drop", D.nev);
	CHECK(D.ev[0].type == EVENT_DROP, "event type %u", D.ev[0].type);
	CHECK(D.ev[0].subtype == reason, "drop reason %u, want %u", D.ev[0].subtype, reason);
	CHECK(D.ev[0].dir == dir, "dir %u", D.ev[0].dir);
	CHECK(D.ev[0].ifindex == (uint32_t)ifindex, "ifindex %u", D.ev[0].ifindex);
	CHECK(D.ev[0].len == len, "len %u, want %zu", D.ev[0].len, len);
	CHECK(metric_packets(&D, reason, dir) == before + 1, "drop metric %lu -> %lu",
	      (unsigned long)before, (unsigned long)metric_packets(&D, reason, dir));
}

static void test_drop_spoofed_sip(void)
{
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o = tcp_a_to_b(40000, TCP_SYN);
	struct ct_entry e;
	size_t len;

	/* an address that is no endpoint */
	o.saddr = IP_STRANGER;
	len = build_pkt(pkt, &o);
	expect_drop(D.from_fd, pkt, len, if_a, DROP_INVALID_SIP, EV_DIR_EGRESS);
	CHECK(D.nev == 1 && D.ev[0].saddr == IP_STRANGER, "event saddr");
	/* B's address sent from A's interface */
	o.saddr = IP_B;
	len = build_pkt(pkt, &o);
	expect_drop(D.from_fd, pkt, len, if_a, DROP_INVALID_SIP, EV_DIR_EGRESS);
	CHECK(ct_get(&D, IP_B, IP_B, 40000, 80, IPPROTO_TCP, &e) == -ENOENT, "spoofed packet created CT");
}

static void test_drop_ipv6(void)
{
	uint8_t pkt[PKT_MAX];
	size_t len = build_l2(pkt, MAC_A, NODE_MAC_A, 0x86dd, 40);

	expect_drop(D.from_fd, pkt, len, if_a, DROP_UNSUPPORTED_L3, EV_DIR_EGRESS);
}

static void test_drop_unknown_l4(void)
{
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o = tcp_a_to_b(1, 0);
	size_t len;

	o.proto = 132;          /* SCTP */
	o.payload_len = 32;
	len = build_pkt(pkt, &o);
	expect_drop(D.from_fd, pkt, len, if_a, DROP_CT_UNKNOWN_PROTO, EV_DIR_EGRESS);
	CHECK(D.nev == 1 && D.ev[0].src_ep == EP_A && D.ev[0].l4_proto == 132, "event src_ep %u proto %u",
	      D.ev[0].src_ep, D.ev[0].l4_proto);
}

static void test_drop_fragment(void)
{
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o = { .smac = MAC_A, .dmac = NODE_MAC_A, .saddr = IP_A, .daddr = IP_B,
			      .proto = IPPROTO_UDP, .sport = 5000, .dport = 53, .payload_len = 16 };
	struct run r;
	size_t len;

	/* a later fragment: no ports to track */
	o.frag_off = 185;       /* offset 1480 bytes */
	len = build_pkt(pkt, &o);
	expect_drop(D.from_fd, pkt, len, if_a, DROP_FRAG_NOT_SUPPORTED, EV_DIR_EGRESS);
	/* the first fragment carries the ports and is tracked as usual */
	o.frag_off = 0x2000;
	len = build_pkt(pkt, &o);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT, "first fragment ret %d", r.ret);
}

static void test_drop_truncated_l4(void)
{
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o = tcp_a_to_b(40001, TCP_SYN);
	size_t len;

	o.l4_len_override = 10; /* half a TCP header */
	len = build_pkt(pkt, &o);
	expect_drop(D.from_fd, pkt, len, if_a, DROP_CT_INVALID_HDR, EV_DIR_EGRESS);
}

static void test_drop_bad_ip_header(void)
{
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o = tcp_a_to_b(40002, TCP_SYN);
	size_t len = build_pkt(pkt, &o);

	pkt[14] = 0x43;         /* IHL 3: shorter than the fixed header */
	expect_drop(D.from_fd, pkt, len, if_a, DROP_INVALID, EV_DIR_EGRESS);
	/* an IPv4 EtherType with less than an IPv4 header behind it (the
	 * kernel's test run wants at least 20 bytes after Ethernet: ARP-sized
	 * garbage with an IPv4 type instead) */
	memset(pkt + 14, 0, 20);
	pkt[14] = 0x45;
	pkt[14 + 9] = IPPROTO_TCP;
	expect_drop(D.from_fd, pkt, 14 + 20, if_a, DROP_CT_INVALID_HDR, EV_DIR_EGRESS);
	/* version 6 inside an IPv4 EtherType */
	len = build_pkt(pkt, &o);
	pkt[14] = 0x65;
	expect_drop(D.from_fd, pkt, len, if_a, DROP_INVALID, EV_DIR_EGRESS);
}

/* SYN, SYN-ACK, ACK, ACK, FIN, FIN between two local pods. */
static void test_tcp_pod_to_pod(void)
{
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o;
	struct ct_entry e;
	struct run r;
	size_t len;
	const uint16_t sport = 41000;
	uint64_t fwd_before = metric_packets(&D, 0, EV_DIR_EGRESS);

	/* SYN from A */
	o = tcp_a_to_b(sport, TCP_SYN);
	len = build_pkt(pkt, &o);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT, "SYN ret %d, want TC_ACT_REDIRECT", r.ret);
	REQUIRE(r.out_len == len, "out len %u", r.out_len);
	CHECK(!memcmp(r.out, MAC_B, 6), "dst MAC not B's pod MAC");
	CHECK(!memcmp(r.out + 6, NODE_MAC_B, 6), "src MAC not B's host-side MAC");
	CHECK(r.out[14 + 8] == 63, "TTL %u, want 63", r.out[14 + 8]);
	CHECK(ipv4_csum_ok(r.out), "IPv4 checksum wrong after TTL decrement");
	CHECK(!memcmp(r.out + 14, pkt + 14, 8) && !memcmp(r.out + 14 + 12, pkt + 14 + 12, len - 26),
	      "bytes other than MACs, TTL and checksum changed");
	REQUIRE(ct_get(&D, IP_A, IP_B, sport, 80, IPPROTO_TCP, &e) == 0, "no CT entry after SYN");
	CHECK(e.state == CT_TCP_SYN_SENT, "state %u, want SYN_SENT", e.state);
	CHECK(e.packets == 1 && e.bytes == len, "counters %lu/%lu", (unsigned long)e.packets,
	      (unsigned long)e.bytes);
	CHECK(e.tx_flags_seen == TCP_SYN && e.rx_flags_seen == 0, "flags seen %x/%x", e.tx_flags_seen,
	      e.rx_flags_seen);
	CHECK(e.src_ep == EP_A && e.dst_ep == EP_B, "eps %u->%u", e.src_ep, e.dst_ep);
	CHECK(!(e.flags & CT_F_SEEN_REPLY), "seen-reply already set");
	CHECK(ct_ttl(&e) > 58 && ct_ttl(&e) <= 60, "SYN lifetime %.1f s", ct_ttl(&e));
	CHECK(e.created <= now_ns() / 1000000000ULL && e.created + 2 >= now_ns() / 1000000000ULL,
	      "created %u", e.created);
	REQUIRE(D.nev == 1, "%d events after SYN, want 1", D.nev);
	CHECK(D.ev[0].type == EVENT_TRACE && D.ev[0].subtype == TRACE_TO_LXC, "event %u/%u", D.ev[0].type,
	      D.ev[0].subtype);
	CHECK(D.ev[0].ct_state == EV_CT_NEW, "ct_state %u", D.ev[0].ct_state);
	CHECK(D.ev[0].src_ep == EP_A && D.ev[0].dst_ep == EP_B, "event eps %u->%u", D.ev[0].src_ep,
	      D.ev[0].dst_ep);
	CHECK(D.ev[0].src_sec_id == SEC_A && D.ev[0].dst_sec_id == SEC_B, "event sec ids");
	CHECK(D.ev[0].saddr == IP_A && D.ev[0].daddr == IP_B && D.ev[0].sport == htons(sport) &&
	      D.ev[0].dport == htons(80), "event tuple");
	CHECK(D.ev[0].tcp_flags == TCP_SYN && D.ev[0].l4_proto == IPPROTO_TCP, "event flags/proto");
	CHECK(D.ev[0].dir == EV_DIR_EGRESS && D.ev[0].ifindex == (uint32_t)if_a, "event dir/ifindex");
	CHECK(D.ev[0].ktime > 0 && D.ev[0].ktime <= now_ns(), "event ktime");

	/* SYN-ACK from B */
	o = tcp_b_to_a(sport, TCP_SYN | TCP_ACK);
	len = build_pkt(pkt, &o);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_b, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT, "SYN-ACK ret %d", r.ret);
	CHECK(!memcmp(r.out, MAC_A, 6) && !memcmp(r.out + 6, NODE_MAC_A, 6), "SYN-ACK MACs");
	CHECK(ct_get(&D, IP_B, IP_A, 80, sport, IPPROTO_TCP, &e) == -ENOENT,
	      "reply created a second entry");
	REQUIRE(ct_get(&D, IP_A, IP_B, sport, 80, IPPROTO_TCP, &e) == 0, "entry gone");
	CHECK(e.state == CT_TCP_SYN_RECV, "state %u, want SYN_RECV", e.state);
	CHECK(e.flags & CT_F_SEEN_REPLY, "seen-reply not set");
	CHECK(e.rx_flags_seen == (TCP_SYN | TCP_ACK), "rx flags %x", e.rx_flags_seen);
	CHECK(e.packets == 2, "packets %lu", (unsigned long)e.packets);
	REQUIRE(D.nev == 1, "%d events after SYN-ACK, want 1", D.nev);
	CHECK(D.ev[0].ct_state == EV_CT_REPLY, "ct_state %u, want REPLY", D.ev[0].ct_state);
	CHECK(D.ev[0].src_ep == EP_B && D.ev[0].dst_ep == EP_A, "event eps %u->%u", D.ev[0].src_ep,
	      D.ev[0].dst_ep);

	/* ACK from A: established, nothing new to report */
	o = tcp_a_to_b(sport, TCP_ACK);
	len = build_pkt(pkt, &o);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT, "ACK ret %d", r.ret);
	REQUIRE(ct_get(&D, IP_A, IP_B, sport, 80, IPPROTO_TCP, &e) == 0, "entry gone");
	CHECK(e.state == CT_TCP_ESTABLISHED, "state %u, want ESTABLISHED", e.state);
	CHECK(ct_ttl(&e) > 21590 && ct_ttl(&e) <= 21600, "established lifetime %.1f s", ct_ttl(&e));
	CHECK(D.nev == 0, "%d events for the first ACK at MEDIUM", D.nev);

	/* the same ACK again: aggregated away */
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT, "ACK ret %d", r.ret);
	CHECK(D.nev == 0, "%d events for a repeated ACK at MEDIUM, want 0", D.nev);
	REQUIRE(ct_get(&D, IP_A, IP_B, sport, 80, IPPROTO_TCP, &e) == 0, "entry gone");
	CHECK(e.packets == 4, "packets %lu", (unsigned long)e.packets);

	/* after 5 s without a report, the next packet is reported */
	e.last_report -= MON_REPORT_INTERVAL;
	REQUIRE(ct_put(&D, IP_A, IP_B, sport, 80, IPPROTO_TCP, &e) == 0, "update entry");
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(D.nev == 1 && D.ev[0].ct_state == EV_CT_ESTABLISHED, "%d events after 5 s, want 1", D.nev);
	REQUIRE(ct_get(&D, IP_A, IP_B, sport, 80, IPPROTO_TCP, &e) == 0, "entry gone");
	CHECK(e.last_report + 1 >= now_ns() / 1000000000ULL, "last_report %u not refreshed", e.last_report);

	/* FIN from A: one side closing */
	o = tcp_a_to_b(sport, TCP_FIN | TCP_ACK);
	len = build_pkt(pkt, &o);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	REQUIRE(ct_get(&D, IP_A, IP_B, sport, 80, IPPROTO_TCP, &e) == 0, "entry gone");
	CHECK(e.state == CT_TCP_FIN_WAIT, "state %u, want FIN_WAIT", e.state);
	CHECK(D.nev == 1, "%d events for a first FIN, want 1", D.nev);

	/* FIN from B: closed, short lifetime */
	o = tcp_b_to_a(sport, TCP_FIN | TCP_ACK);
	len = build_pkt(pkt, &o);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_b, &r) == 0, "test run");
	REQUIRE(ct_get(&D, IP_A, IP_B, sport, 80, IPPROTO_TCP, &e) == 0, "entry gone");
	CHECK(e.state == CT_TCP_CLOSE, "state %u, want CLOSE", e.state);
	CHECK(ct_ttl(&e) > 8 && ct_ttl(&e) <= 10, "close lifetime %.1f s", ct_ttl(&e));
	CHECK(D.nev == 1 && D.ev[0].ct_state == EV_CT_REPLY, "%d events for the second FIN", D.nev);
	CHECK(e.packets == 7, "packets %lu", (unsigned long)e.packets);

	/* the last ACK keeps it closed */
	o = tcp_a_to_b(sport, TCP_ACK);
	len = build_pkt(pkt, &o);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	REQUIRE(ct_get(&D, IP_A, IP_B, sport, 80, IPPROTO_TCP, &e) == 0, "entry gone");
	CHECK(e.state == CT_TCP_CLOSE && ct_ttl(&e) <= 10, "state %u after last ACK", e.state);

	/* a new SYN on the same tuple reopens it */
	o = tcp_a_to_b(sport, TCP_SYN);
	len = build_pkt(pkt, &o);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	REQUIRE(ct_get(&D, IP_A, IP_B, sport, 80, IPPROTO_TCP, &e) == 0, "entry gone");
	CHECK(e.state == CT_TCP_SYN_SENT && !(e.flags & CT_F_SEEN_REPLY) && e.rx_flags_seen == 0,
	      "reopen: state %u flags %x rx %x", e.state, e.flags, e.rx_flags_seen);
	CHECK(D.nev == 1, "%d events for a reopening SYN", D.nev);

	CHECK(metric_packets(&D, 0, EV_DIR_EGRESS) == fwd_before + 9, "forwarded metric %lu -> %lu",
	      (unsigned long)fwd_before, (unsigned long)metric_packets(&D, 0, EV_DIR_EGRESS));
}

static void test_tcp_rst(void)
{
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o;
	struct ct_entry e;
	struct run r;
	size_t len;
	const uint16_t sport = 42000;

	o = tcp_a_to_b(sport, TCP_SYN);
	len = build_pkt(pkt, &o);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	o = tcp_b_to_a(sport, TCP_RST | TCP_ACK);
	len = build_pkt(pkt, &o);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_b, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT, "RST ret %d", r.ret);
	REQUIRE(ct_get(&D, IP_A, IP_B, sport, 80, IPPROTO_TCP, &e) == 0, "entry gone");
	CHECK(e.state == CT_TCP_CLOSE, "state %u, want CLOSE", e.state);
	CHECK(ct_ttl(&e) > 8 && ct_ttl(&e) <= 10, "RST lifetime %.1f s", ct_ttl(&e));
	CHECK(D.nev == 1 && D.ev[0].tcp_flags == (TCP_RST | TCP_ACK), "%d events for RST", D.nev);

	/* an RST for an unknown connection passes untracked */
	o = tcp_a_to_b(sport + 1, TCP_RST);
	len = build_pkt(pkt, &o);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT, "stray RST ret %d", r.ret);
	CHECK(ct_get(&D, IP_A, IP_B, sport + 1, 80, IPPROTO_TCP, &e) == -ENOENT, "stray RST created CT");
	CHECK(D.nev == 1 && D.ev[0].ct_state == EV_CT_NONE, "stray RST event");
}

/* A pod talks UDP to the host (router IP): through the stack, reply at to_container. */
static void test_udp_pod_to_host(void)
{
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o = { .smac = MAC_A, .dmac = NODE_MAC_A, .saddr = IP_A, .daddr = IP_ROUTER,
			      .proto = IPPROTO_UDP, .sport = 33333, .dport = 53, .payload_len = 40 };
	struct ct_entry e;
	struct run r;
	size_t len = build_pkt(pkt, &o);
	uint64_t in_before = metric_packets(&D, 0, EV_DIR_INGRESS);

	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK, "ret %d, want TC_ACT_OK", r.ret);
	CHECK(!memcmp(r.out, pkt, len), "packet to the stack was modified");
	REQUIRE(ct_get(&D, IP_A, IP_ROUTER, 33333, 53, IPPROTO_UDP, &e) == 0, "no UDP CT entry");
	CHECK(e.state == CT_TCP_NONE, "state %u", e.state);
	CHECK(ct_ttl(&e) > 58 && ct_ttl(&e) <= 60, "UDP lifetime %.1f s", ct_ttl(&e));
	CHECK(e.src_ep == EP_A && e.dst_ep == 0, "eps %u->%u", e.src_ep, e.dst_ep);
	REQUIRE(D.nev == 1, "%d events", D.nev);
	CHECK(D.ev[0].subtype == TRACE_TO_STACK && D.ev[0].ct_state == EV_CT_NEW, "event %u/%u",
	      D.ev[0].subtype, D.ev[0].ct_state);

	/* the answer from the host, leaving through the lxc device */
	o = (struct pkt_opts){ .smac = NODE_MAC_A, .dmac = MAC_A, .saddr = IP_ROUTER, .daddr = IP_A,
			       .proto = IPPROTO_UDP, .sport = 53, .dport = 33333, .payload_len = 60 };
	len = build_pkt(pkt, &o);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.to_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK, "to_container ret %d", r.ret);
	REQUIRE(ct_get(&D, IP_A, IP_ROUTER, 33333, 53, IPPROTO_UDP, &e) == 0, "entry gone");
	CHECK(e.flags & CT_F_SEEN_REPLY, "seen-reply not set");
	CHECK(e.packets == 2, "packets %lu", (unsigned long)e.packets);
	REQUIRE(D.nev == 1, "%d events for the reply", D.nev);
	CHECK(D.ev[0].subtype == TRACE_TO_LXC && D.ev[0].ct_state == EV_CT_REPLY &&
	      D.ev[0].dir == EV_DIR_INGRESS, "reply event %u/%u/%u", D.ev[0].subtype, D.ev[0].ct_state,
	      D.ev[0].dir);
	CHECK(D.ev[0].dst_ep == EP_A && D.ev[0].src_ep == 0, "reply event eps %u->%u", D.ev[0].src_ep,
	      D.ev[0].dst_ep);
	CHECK(metric_packets(&D, 0, EV_DIR_INGRESS) == in_before + 1, "ingress forwarded metric");

	/* a second reply: no new event */
	events_reset(&D);
	REQUIRE(run_prog(&D, D.to_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(D.nev == 0, "%d events for a second UDP reply", D.nev);
}

/* The host opens a TCP connection to a pod. */
static void test_tcp_host_to_pod(void)
{
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o = { .smac = NODE_MAC_A, .dmac = MAC_A, .saddr = IP_ROUTER, .daddr = IP_A,
			      .proto = IPPROTO_TCP, .sport = 50000, .dport = 8080, .tcp_flags = TCP_SYN };
	struct ct_entry e;
	struct run r;
	size_t len = build_pkt(pkt, &o);

	events_reset(&D);
	REQUIRE(run_prog(&D, D.to_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK, "ret %d", r.ret);
	REQUIRE(ct_get(&D, IP_ROUTER, IP_A, 50000, 8080, IPPROTO_TCP, &e) == 0, "no CT entry");
	CHECK(e.state == CT_TCP_SYN_SENT && e.src_ep == 0 && e.dst_ep == EP_A, "state %u eps %u->%u",
	      e.state, e.src_ep, e.dst_ep);
	CHECK(D.nev == 1 && D.ev[0].ct_state == EV_CT_NEW && D.ev[0].dir == EV_DIR_INGRESS, "event");

	/* the pod's SYN-ACK goes to the stack as a reply */
	o = (struct pkt_opts){ .smac = MAC_A, .dmac = NODE_MAC_A, .saddr = IP_A, .daddr = IP_ROUTER,
			       .proto = IPPROTO_TCP, .sport = 8080, .dport = 50000,
			       .tcp_flags = TCP_SYN | TCP_ACK };
	len = build_pkt(pkt, &o);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK, "ret %d", r.ret);
	REQUIRE(ct_get(&D, IP_ROUTER, IP_A, 50000, 8080, IPPROTO_TCP, &e) == 0, "entry gone");
	CHECK(e.state == CT_TCP_SYN_RECV && (e.flags & CT_F_SEEN_REPLY), "state %u flags %x", e.state,
	      e.flags);
	CHECK(D.nev == 1 && D.ev[0].ct_state == EV_CT_REPLY && D.ev[0].subtype == TRACE_TO_STACK,
	      "reply event");
}

static void test_icmp_echo(void)
{
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o = { .smac = MAC_A, .dmac = NODE_MAC_A, .saddr = IP_A, .daddr = IP_B,
			      .proto = IPPROTO_ICMP, .icmp_type = 8, .sport = 0x77, .payload_len = 56 };
	struct ct_entry e;
	struct run r;
	size_t len = build_pkt(pkt, &o);

	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT, "echo ret %d", r.ret);
	REQUIRE(ct_get(&D, IP_A, IP_B, 0x77, 0x77, IPPROTO_ICMP, &e) == 0, "no ICMP CT entry (id as ports)");
	CHECK(e.state == CT_TCP_NONE && ct_ttl(&e) > 58 && ct_ttl(&e) <= 60, "state %u ttl %.1f", e.state,
	      ct_ttl(&e));
	REQUIRE(D.nev == 1, "%d events", D.nev);
	CHECK(D.ev[0].icmp_type == 8 && D.ev[0].sport == 0 && D.ev[0].dport == 0 &&
	      D.ev[0].l4_proto == IPPROTO_ICMP, "event icmp fields");

	o = (struct pkt_opts){ .smac = MAC_B, .dmac = NODE_MAC_B, .saddr = IP_B, .daddr = IP_A,
			       .proto = IPPROTO_ICMP, .icmp_type = 0, .sport = 0x77, .payload_len = 56 };
	len = build_pkt(pkt, &o);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_b, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT, "echo reply ret %d", r.ret);
	REQUIRE(ct_get(&D, IP_A, IP_B, 0x77, 0x77, IPPROTO_ICMP, &e) == 0, "entry gone");
	CHECK((e.flags & CT_F_SEEN_REPLY) && e.packets == 2, "flags %x packets %lu", e.flags,
	      (unsigned long)e.packets);
	CHECK(ct_get(&D, IP_B, IP_A, 0x77, 0x77, IPPROTO_ICMP, &e) == -ENOENT, "reply created an entry");
	CHECK(D.nev == 1 && D.ev[0].ct_state == EV_CT_REPLY, "reply event");
}

/* B answers A's UDP with port unreachable: RELATED to A's connection. */
static void test_icmp_error_related(void)
{
	uint8_t pkt[PKT_MAX], inner[PKT_MAX];
	struct pkt_opts u = { .smac = MAC_A, .dmac = NODE_MAC_A, .saddr = IP_A, .daddr = IP_B,
			      .proto = IPPROTO_UDP, .sport = 34567, .dport = 9999, .payload_len = 8 };
	struct pkt_opts o;
	struct ct_entry e;
	struct run r;
	size_t len = build_pkt(pkt, &u);

	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	REQUIRE(ct_get(&D, IP_A, IP_B, 34567, 9999, IPPROTO_UDP, &e) == 0, "no UDP entry");
	memcpy(inner, pkt + 14, 28);    /* quoted: IPv4 header + 8 bytes of UDP */
	o = (struct pkt_opts){ .smac = MAC_B, .dmac = NODE_MAC_B, .saddr = IP_B, .daddr = IP_A,
			       .proto = IPPROTO_ICMP, .icmp_type = 3, .icmp_code = 3,
			       .payload = inner, .payload_len = 28 };
	len = build_pkt(pkt, &o);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_b, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT, "ICMP error ret %d", r.ret);
	CHECK(D.nev == 1 && D.ev[0].ct_state == EV_CT_RELATED && D.ev[0].icmp_type == 3,
	      "%d events, ct_state %u", D.nev, D.nev ? D.ev[0].ct_state : 0);
	CHECK(ct_get(&D, IP_B, IP_A, 0, 0, IPPROTO_ICMP, &e) == -ENOENT, "ICMP error created an entry");
}

static void test_ttl_expiring_goes_to_stack(void)
{
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o = tcp_a_to_b(43000, TCP_SYN);
	struct run r;
	size_t len;

	o.ttl = 1;
	len = build_pkt(pkt, &o);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK, "TTL 1 ret %d, want the stack (it sends time exceeded)", r.ret);
	CHECK(!memcmp(r.out, pkt, len), "packet modified");
}

static void test_monitor_aggregation_none(void)
{
	struct dp d2;
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o;
	struct run r;
	size_t len;
	int err, i;

	err = dp_open(&d2, MON_AGG_NONE, NULL);
	if (err) {
		dp_close(&d2);
		REQUIRE(0, "open with MONITOR_AGGREGATION=NONE: %s", strerror(-err));
	}
	if (seed_endpoints(&d2)) {
		dp_close(&d2);
		REQUIRE(0, "seed endpoints");
	}
	o = tcp_a_to_b(44000, TCP_SYN);
	len = build_pkt(pkt, &o);
	run_prog(&d2, d2.from_fd, pkt, len, if_a, &r);
	o = tcp_b_to_a(44000, TCP_SYN | TCP_ACK);
	len = build_pkt(pkt, &o);
	run_prog(&d2, d2.from_fd, pkt, len, if_b, &r);
	o = tcp_a_to_b(44000, TCP_ACK);
	len = build_pkt(pkt, &o);
	for (i = 0; i < 3; i++)
		run_prog(&d2, d2.from_fd, pkt, len, if_a, &r);
	CHECK(d2.nev == 5, "%d events for 5 packets at NONE", d2.nev);
	CHECK(count_events(&d2, EVENT_TRACE) == 5, "trace events");
	dp_close(&d2);
}

static void test_ring_full_counts_lost(void)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t lost[ncpu > 0 ? ncpu : 1], sum = 0;
	uint32_t zero = 0;
	int i;

	REQUIRE(ncpu > 0, "cpus");
	REQUIRE(bpf_map_lookup_elem(D.lost_fd, &zero, lost) == 0, "lookup cilium_ev_lost");
	for (i = 0; i < ncpu; i++)
		sum += lost[i];
	CHECK(sum == 0, "%lu events lost with an empty ring", (unsigned long)sum);
}

/* Maps pinned by name are reused by a second load (what an agent restart does). */
static void test_pinning_by_name(void)
{
	char root[] = "/tmp/cts-bpffs-XXXXXX";
	const char *maps[] = { "cilium_lxc", "cilium_ct4_glob", "cilium_events", "cilium_metrics", "cilium_ev_lost",
			       "cilium_tunnel_map", "cilium_lb4_services_v2", "cilium_lb4_backends_v3",
			       "cilium_lb4_reverse_nat", "cilium_lb4_affinity", "cilium_lb4_maglev",
			       "cilium_lb4_sk_rnat", "cilium_snat_v4_ext" };
	struct endpoint_key k = { .ip4 = IP_A };
	struct endpoint_info v = { .ifindex = 4242, .ep_id = 7 }, got;
	struct dp d1, d2;
	char path[256];
	size_t i;
	int err;

	REQUIRE(mkdtemp(root), "mkdtemp: %s", strerror(errno));
	if (mount("bpf", root, "bpf", 0, NULL)) {
		CHECK(0, "mount bpffs at %s: %s", root, strerror(errno));
		rmdir(root);
		return;
	}
	err = dp_open(&d1, -1, root);
	CHECK(!err, "first load: %s", strerror(-err));
	if (!err) {
		for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
			struct stat st;

			snprintf(path, sizeof(path), "%s/%s", root, maps[i]);
			CHECK(stat(path, &st) == 0, "%s not pinned", path);
		}
		CHECK(bpf_map_update_elem(d1.lxc_fd, &k, &v, BPF_ANY) == 0, "update");
	}
	dp_close(&d1);
	if (!err) {
		err = dp_open(&d2, -1, root);
		CHECK(!err, "second load: %s", strerror(-err));
		if (!err) {
			CHECK(bpf_map_lookup_elem(d2.lxc_fd, &k, &got) == 0 && got.ifindex == 4242 && got.ep_id == 7,
			      "endpoint written before the reload is gone");
		}
		dp_close(&d2);
	}
	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, maps[i]);
		unlink(path);
	}
	CHECK(umount(root) == 0, "umount %s: %s", root, strerror(errno));
	rmdir(root);
}

static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}


/* ------------------------------------------------------- live traffic */

/*
 * Real packets: two pods (named netns) on veths whose host sides carry the
 * programs, a router IP on a veth pair (as Cilium's cilium_host/cilium_net: no dummy module here), host routes and neighbours as the
 * agent installs them. ICMP and TCP pod-to-pod (bpf_redirect_peer) and
 * pod-to-host (through the stack, replies through cil_to_container).
 */
#include <bpf/libbpf.h>
#include <sys/socket.h>
#include <sys/wait.h>

static char live_ns_a[32], live_ns_b[32], live_lxc_a[IFNAMSIZ], live_lxc_b[IFNAMSIZ], live_host[IFNAMSIZ];

static void live_cleanup(void)
{
	if (live_ns_a[0])
		sh("ip netns del %s 2>/dev/null", live_ns_a);
	if (live_ns_b[0])
		sh("ip netns del %s 2>/dev/null", live_ns_b);
	if (live_host[0])
		sh("ip link del %s 2>/dev/null", live_host);
}

static int live_pod(const char *ns, const char *lxc, const char *ip, const char *pod_mac, const char *lxc_mac)
{
	return sh("ip netns add %s", ns) ||
	       sh("ip link add %s address %s type veth peer name eth0 address %s netns %s", lxc, lxc_mac, pod_mac, ns) ||
	       sh("ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1", ns) ||
	       sh("ip -n %s link set lo up && ip -n %s link set eth0 up", ns, ns) ||
	       sh("ip -n %s addr add %s/32 dev eth0", ns, ip) ||
	       sh("ip -n %s route add 10.201.0.1/32 dev eth0 scope link", ns) ||
	       sh("ip -n %s route add default via 10.201.0.1 dev eth0", ns) ||
	       sh("ip -n %s neigh add 10.201.0.1 lladdr %s dev eth0 nud permanent", ns, lxc_mac) ||
	       sh("ip link set %s up", lxc) ||
	       sh("ip route add %s/32 dev %s", ip, lxc) ||
	       sh("ip neigh add %s lladdr %s dev %s nud permanent", ip, pod_mac, lxc);
}

static int tc_attach_both(struct dp *d, int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, in, .handle = 1, .priority = 1, .prog_fd = d->from_fd);
	LIBBPF_OPTS(bpf_tc_opts, eg, .handle = 1, .priority = 1, .prog_fd = d->to_fd);
	int err = bpf_tc_hook_create(&hook);

	if (err && err != -EEXIST)
		return err;
	hook.attach_point = BPF_TC_INGRESS;
	if ((err = bpf_tc_attach(&hook, &in)))
		return err;
	hook.attach_point = BPF_TC_EGRESS;
	return bpf_tc_attach(&hook, &eg);
}

/* In a child (optionally inside netns `ns`): a TCP server on port that
 * answers one connection, or a client that sends and expects the echo.
 * Returns the child's pid; it exits 0 on success. ready_fd gets a byte once
 * a server listens. */
static pid_t tcp_child(const char *ns, int server, uint32_t ip, uint16_t port, int ready_fd)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	alarm(5);
	if (ns) {
		char path[64];
		int fd;

		snprintf(path, sizeof(path), "/run/netns/%s", ns);
		fd = open(path, O_RDONLY);
		if (fd < 0 || setns(fd, CLONE_NEWNET))
			_exit(10);
	}
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = ip };
	char buf[64];

	if (s < 0)
		_exit(11);
	if (server) {
		int c;
		ssize_t n;

		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) || listen(s, 4))
			_exit(12);
		if (write(ready_fd, "r", 1) != 1)
			_exit(13);
		c = accept(s, NULL, NULL);
		if (c < 0)
			_exit(14);
		n = read(c, buf, sizeof(buf));
		if (n <= 0 || write(c, buf, n) != n)
			_exit(15);
		/* wait for the client's FIN, then close our side */
		while (read(c, buf, sizeof(buf)) > 0)
			;
		close(c);
		_exit(0);
	}
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)))
		_exit(16);
	if (write(s, "hello", 5) != 5 || read(s, buf, sizeof(buf)) != 5 || memcmp(buf, "hello", 5))
		_exit(17);
	close(s);
	_exit(0);
}

static int wait_child(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A TCP exchange; returns 0 when both sides succeeded. */
static int tcp_exchange(const char *server_ns, const char *client_ns, uint32_t server_ip, uint16_t port)
{
	int p[2], rs, rc;
	pid_t srv, cli;
	char b;

	if (pipe(p))
		return -1;
	srv = tcp_child(server_ns, 1, server_ip, port, p[1]);
	if (read(p[0], &b, 1) != 1) {
		close(p[0]);
		close(p[1]);
		wait_child(srv);
		return -2;
	}
	cli = tcp_child(client_ns, 0, server_ip, port, -1);
	rc = wait_child(cli);
	rs = wait_child(srv);
	close(p[0]);
	close(p[1]);
	if (rc || rs)
		fprintf(stderr, "    tcp exchange: client exit %d, server exit %d\n", rc, rs);
	return rc || rs;
}

/* Finds the CT entry of a connection between a and b (either direction). */
static int ct_find(struct dp *d, uint32_t a, uint32_t b, uint8_t proto, uint16_t port,
		   struct ct_key4 *kout, struct ct_entry *eout)
{
	struct ct_key4 k, next;
	void *prev = NULL;

	while (bpf_map_get_next_key(d->ct_fd, prev, &next) == 0) {
		k = next;
		prev = &k;
		if (k.nexthdr != proto || !((k.saddr == a && k.daddr == b) || (k.saddr == b && k.daddr == a)))
			continue;
		if (port && k.dport != htons(port) && k.sport != htons(port))
			continue;
		if (bpf_map_lookup_elem(d->ct_fd, &k, eout) == 0) {
			*kout = k;
			return 0;
		}
	}
	return -ENOENT;
}

static void test_live_traffic(void)
{
	const uint32_t ip_a = htonl(0x0ac90002), ip_b = htonl(0x0ac90003), ip_r = htonl(0x0ac90001);
	const uint8_t pod_a_mac[6] = { 0x02, 0xcc, 0, 0, 0, 0x0a }, lxc_a_mac[6] = { 0x02, 0xdd, 0, 0, 0, 0x0a };
	const uint8_t pod_b_mac[6] = { 0x02, 0xcc, 0, 0, 0, 0x0b }, lxc_b_mac[6] = { 0x02, 0xdd, 0, 0, 0, 0x0b };
	struct endpoint_key k;
	struct endpoint_info v;
	struct ct_key4 ck;
	struct ct_entry e;
	struct dp d;
	unsigned suf = rand() & 0xffffff;
	int ifa, ifb, err, i, to_lxc = 0, to_stack = 0, drops = 0;

	snprintf(live_ns_a, sizeof(live_ns_a), "cts-pod-%06x-a", suf);
	snprintf(live_ns_b, sizeof(live_ns_b), "cts-pod-%06x-b", suf);
	snprintf(live_lxc_a, sizeof(live_lxc_a), "ctl%06xa", suf);
	snprintf(live_lxc_b, sizeof(live_lxc_b), "ctl%06xb", suf);
	snprintf(live_host, sizeof(live_host), "cth%06x", suf);

	err = dp_open(&d, -1, NULL);
	if (err) {
		dp_close(&d);
		REQUIRE(0, "load: %s", strerror(-err));
	}
	if (sh("echo 1 > /proc/sys/net/ipv4/ip_forward") ||
	    sh("ip link add %s type veth peer name %sp && ip link set %s up && ip link set %sp up &&"
	       " ip addr add 10.201.0.1/32 dev %s", live_host, live_host, live_host, live_host, live_host) ||
	    live_pod(live_ns_a, live_lxc_a, "10.201.0.2", "02:cc:00:00:00:0a", "02:dd:00:00:00:0a") ||
	    live_pod(live_ns_b, live_lxc_b, "10.201.0.3", "02:cc:00:00:00:0b", "02:dd:00:00:00:0b") ||
	    !(ifa = if_nametoindex(live_lxc_a)) || !(ifb = if_nametoindex(live_lxc_b))) {
		CHECK(0, "setting up pods with ip(8) failed");
		goto out;
	}
	memset(&v, 0, sizeof(v));
	k.ip4 = ip_a; v.ifindex = ifa; v.ep_id = 11;
	memcpy(v.mac, pod_a_mac, 6); memcpy(v.node_mac, lxc_a_mac, 6);
	CHECK(bpf_map_update_elem(d.lxc_fd, &k, &v, BPF_ANY) == 0, "seed A");
	k.ip4 = ip_b; v.ifindex = ifb; v.ep_id = 12;
	memcpy(v.mac, pod_b_mac, 6); memcpy(v.node_mac, lxc_b_mac, 6);
	CHECK(bpf_map_update_elem(d.lxc_fd, &k, &v, BPF_ANY) == 0, "seed B");
	err = tc_attach_both(&d, ifa);
	if (!err)
		err = tc_attach_both(&d, ifb);
	if (err) {
		CHECK(0, "tc attach: %s", strerror(-err));
		goto out;
	}

	/* ICMP pod to pod, redirected peer to peer */
	CHECK(sh("ip netns exec %s ping -q -c 2 -i 0.2 -W 2 10.201.0.3 >/dev/null", live_ns_a) == 0,
	      "ping A -> B failed");
	CHECK(ct_find(&d, ip_a, ip_b, IPPROTO_ICMP, 0, &ck, &e) == 0 && ck.saddr == ip_a &&
	      (e.flags & CT_F_SEEN_REPLY) && e.packets >= 4 && e.src_ep == 11 && e.dst_ep == 12,
	      "ICMP A->B CT entry missing or wrong (packets %lu flags %x)", (unsigned long)e.packets, e.flags);

	/* ICMP pod to the router IP: out through the stack, the reply through cil_to_container */
	CHECK(sh("ip netns exec %s ping -q -c 2 -i 0.2 -W 2 10.201.0.1 >/dev/null", live_ns_a) == 0,
	      "ping A -> router failed");
	CHECK(ct_find(&d, ip_a, ip_r, IPPROTO_ICMP, 0, &ck, &e) == 0 && ck.saddr == ip_a &&
	      (e.flags & CT_F_SEEN_REPLY) && e.packets >= 4,
	      "ICMP A->router CT entry missing or wrong (packets %lu flags %x)", (unsigned long)e.packets, e.flags);

	/* TCP pod to pod: a whole connection, closed by both FINs */
	CHECK(tcp_exchange(live_ns_b, live_ns_a, ip_b, 8080) == 0, "TCP A -> B:8080 failed");
	usleep(100 * 1000);
	CHECK(ct_find(&d, ip_a, ip_b, IPPROTO_TCP, 8080, &ck, &e) == 0 && ck.saddr == ip_a &&
	      ck.dport == htons(8080), "TCP A->B CT entry missing");
	CHECK(e.state == CT_TCP_CLOSE && (e.tx_flags_seen & TCP_FIN) && (e.rx_flags_seen & TCP_FIN) &&
	      (e.flags & CT_F_SEEN_REPLY), "TCP A->B state %u flags %x/%x", e.state, e.tx_flags_seen,
	      e.rx_flags_seen);

	/* TCP host to pod: in through cil_to_container, replies via the stack */
	CHECK(tcp_exchange(live_ns_b, NULL, ip_b, 8081) == 0, "TCP host -> B:8081 failed");
	usleep(100 * 1000);
	CHECK(ct_find(&d, ip_r, ip_b, IPPROTO_TCP, 8081, &ck, &e) == 0 && ck.daddr == ip_b &&
	      e.dst_ep == 12 && e.src_ep == 0 && e.state == CT_TCP_CLOSE,
	      "TCP host->B CT entry missing or wrong (state %u)", e.state);

	ring_buffer__consume(d.rb);
	for (i = 0; i < d.nev; i++) {
		to_lxc += d.ev[i].type == EVENT_TRACE && d.ev[i].subtype == TRACE_TO_LXC;
		to_stack += d.ev[i].type == EVENT_TRACE && d.ev[i].subtype == TRACE_TO_STACK;
		drops += d.ev[i].type == EVENT_DROP;
	}
	CHECK(to_lxc > 0 && to_stack > 0, "events: %d to-lxc, %d to-stack", to_lxc, to_stack);
	CHECK(drops == 0, "%d drop events (first reason %u)", drops, drops ? d.ev[0].subtype : 0);
out:
	live_cleanup();
	dp_close(&d);
}


/* ------------------------------------------------------------ tunnel mode */

static uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return htonl((a << 24) | (b << 16) | (c << 8) | d);
}

static int tunnel_put(struct dp *d, uint32_t base, uint32_t plen, uint32_t remote)
{
	struct tunnel_key k = { .prefixlen = plen, .ip4 = base };
	struct tunnel_value v = { .remote_ip4 = remote };

	return bpf_map_update_elem(bpf_object__find_map_fd_by_name(d->obj, "cilium_tunnel_map"), &k, &v,
				   BPF_ANY) ? -errno : 0;
}

/* From a pod to another node's pod CIDR: tunnel key set, redirected to the
 * VXLAN device, traced TO_OVERLAY; outside every CIDR: to the stack. With
 * TUNNEL_IFINDEX 0 (native routing) the same packet goes to the stack. */
static void test_tunnel_to_overlay(void)
{
	const uint32_t remote_pod = ip4(10, 210, 1, 5), other_pod = ip4(10, 210, 9, 9);
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o = tcp_a_to_b(43000, TCP_SYN);
	uint64_t fwd_before;
	struct ct_entry e;
	struct run r;
	struct dp t;
	size_t len;
	int err;

	/* native routing (D: TUNNEL_IFINDEX 0): the stack routes it */
	o.daddr = remote_pod;
	len = build_pkt(pkt, &o);
	REQUIRE(tunnel_put(&D, ip4(10, 210, 1, 0), 24, ip4(192, 168, 77, 2)) == 0, "seed D tunnel map");
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK, "native: ret %d, want TC_ACT_OK", r.ret);
	CHECK(D.nev == 1 && D.ev[0].subtype == TRACE_TO_STACK, "native: %d events, first %u", D.nev,
	      D.nev ? D.ev[0].subtype : 0);

	/* tunnel mode */
	open_tunnel_ifindex = if_b;
	err = dp_open(&t, -1, NULL);
	open_tunnel_ifindex = 0;
	if (!err)
		err = seed_endpoints(&t);
	if (err) {
		dp_close(&t);
		REQUIRE(0, "load with TUNNEL_IFINDEX: %s", strerror(-err));
	}
	CHECK(tunnel_put(&t, ip4(10, 210, 1, 0), 24, ip4(192, 168, 77, 2)) == 0, "seed /24");
	CHECK(tunnel_put(&t, ip4(10, 210, 0, 0), 16, ip4(192, 168, 77, 3)) == 0, "seed /16");
	fwd_before = metric_packets(&t, 0, EV_DIR_EGRESS);

	o.sport = 43001;
	len = build_pkt(pkt, &o);
	events_reset(&t);
	REQUIRE(run_prog(&t, t.from_fd, pkt, len, if_a, &r) == 0, "test run: %s", strerror(errno));
	CHECK(r.ret == TC_ACT_REDIRECT, "to a remote pod CIDR: ret %d, want TC_ACT_REDIRECT", r.ret);
	CHECK(r.out_len == len, "out len %u", r.out_len);
	CHECK(r.out[14 + 8] == 63, "TTL %u, want 63", r.out[14 + 8]);
	CHECK(ipv4_csum_ok(r.out), "IPv4 checksum wrong after TTL decrement");
	CHECK(!memcmp(r.out + 14 + 12, pkt + 14 + 12, len - 26), "addresses or payload changed");
	CHECK(t.nev == 1, "%d events, want 1", t.nev);
	if (t.nev >= 1) {
		CHECK(t.ev[0].type == EVENT_TRACE && t.ev[0].subtype == TRACE_TO_OVERLAY, "event %u/%u, want trace TO_OVERLAY",
		      t.ev[0].type, t.ev[0].subtype);
		CHECK(t.ev[0].ct_state == EV_CT_NEW && t.ev[0].src_ep == EP_A && t.ev[0].dst_ep == 0 &&
		      t.ev[0].daddr == remote_pod && t.ev[0].dir == EV_DIR_EGRESS, "event fields");
	}
	CHECK(ct_get(&t, IP_A, remote_pod, 43001, 80, IPPROTO_TCP, &e) == 0 && e.src_ep == EP_A && e.dst_ep == 0 &&
	      e.state == CT_TCP_SYN_SENT, "CT entry for the tunneled SYN");
	CHECK(metric_packets(&t, 0, EV_DIR_EGRESS) == fwd_before + 1, "forwarded metric");

	/* the /16 covers another node's address range too */
	o.daddr = other_pod;
	len = build_pkt(pkt, &o);
	events_reset(&t);
	REQUIRE(run_prog(&t, t.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && t.nev == 1 && t.ev[0].subtype == TRACE_TO_OVERLAY,
	      "/16: ret %d, %d events", r.ret, t.nev);

	/* outside every pod CIDR: the stack */
	o.daddr = ip4(10, 99, 0, 1);
	len = build_pkt(pkt, &o);
	events_reset(&t);
	REQUIRE(run_prog(&t, t.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK && t.nev == 1 && t.ev[0].subtype == TRACE_TO_STACK,
	      "unknown destination: ret %d, %d events", r.ret, t.nev);
	CHECK(!memcmp(r.out, pkt, len), "packet to the stack was modified");

	/* a local endpoint still wins over the tunnel */
	CHECK(tunnel_put(&t, ip4(10, 200, 0, 0), 16, ip4(192, 168, 77, 4)) == 0, "seed a CIDR over the local pods");
	o = tcp_a_to_b(43002, TCP_SYN);
	len = build_pkt(pkt, &o);
	events_reset(&t);
	REQUIRE(run_prog(&t, t.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && t.nev == 1 && t.ev[0].subtype == TRACE_TO_LXC,
	      "local pod: ret %d, %d events, point %u", r.ret, t.nev, t.nev ? t.ev[0].subtype : 0);

	/* a packet whose TTL would expire goes to the stack (ICMP time exceeded) */
	o = tcp_a_to_b(43003, TCP_SYN);
	o.daddr = remote_pod;
	o.ttl = 1;
	len = build_pkt(pkt, &o);
	events_reset(&t);
	REQUIRE(run_prog(&t, t.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK, "TTL 1: ret %d", r.ret);
	dp_close(&t);
}

/* Points every (non-internal) map of obj at D's map of the same name, as pinning does for the agent.
 * 0, or -ENOENT (D has no such map) or reuse_fd's error. */
static int reuse_d_maps(struct bpf_object *obj)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, obj) {
		int fd, err;

		if (bpf_map__is_internal(m))
			continue;
		bpf_map__set_pin_path(m, NULL);
		fd = bpf_object__find_map_fd_by_name(D.obj, bpf_map__name(m));
		if (fd < 0)
			return -ENOENT;
		if ((err = bpf_map__reuse_fd(m, fd)))
			return err;
	}
	return 0;
}

/* Loads bpf_overlay.o on D's maps (as pinning does for the agent). */
static int overlay_open(struct bpf_object **out, int *prog_fd)
{
	struct bpf_object *obj = bpf_object__open_file(overlay_path, NULL);
	int err;

	if (!obj)
		return -errno;
	if ((err = reuse_d_maps(obj))) {
		bpf_object__close(obj);
		return err;
	}
	if ((err = bpf_object__load(obj))) {
		bpf_object__close(obj);
		return err;
	}
	*prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, "cil_from_overlay"));
	*out = obj;
	return *prog_fd < 0 ? -ENOENT : 0;
}

/* Decapsulated packets on the VXLAN device: to a local pod (MACs, TTL, CT,
 * FROM_OVERLAY + TO_ENDPOINT), the reply through bpf_lxc is a REPLY; an
 * address that is no local pod: dropped UNKNOWN_L3 (150). */
static void test_overlay_ingress(void)
{
	const uint32_t remote_pod = ip4(10, 210, 1, 7);
	const uint8_t vx_mac[6] = { 0x02, 0xee, 0, 0, 0, 0x01 }, remote_mac[6] = { 0x02, 0xee, 0, 0, 0, 0x02 };
	struct pkt_opts o = { .smac = remote_mac, .dmac = vx_mac, .saddr = remote_pod, .daddr = IP_B,
			      .proto = IPPROTO_TCP, .sport = 44000, .dport = 8080, .tcp_flags = TCP_SYN };
	struct bpf_object *ov = NULL;
	uint8_t pkt[PKT_MAX];
	uint64_t in_before;
	struct ct_entry e;
	struct run r;
	size_t len;
	int ov_fd = -1, err, i, from = 0, to = 0;

	err = overlay_open(&ov, &ov_fd);
	REQUIRE(!err, "load %s: %s", overlay_path, strerror(-err));
	in_before = metric_packets(&D, 0, EV_DIR_INGRESS);

	len = build_pkt(pkt, &o);
	events_reset(&D);
	if (run_prog(&D, ov_fd, pkt, len, if_a, &r)) {
		CHECK(0, "test run: %s", strerror(errno));
		goto out;
	}
	CHECK(r.ret == TC_ACT_REDIRECT, "ret %d, want TC_ACT_REDIRECT (redirect_peer)", r.ret);
	CHECK(!memcmp(r.out, MAC_B, 6) && !memcmp(r.out + 6, NODE_MAC_B, 6), "MACs not rewritten to B's");
	CHECK(r.out[14 + 8] == 63 && ipv4_csum_ok(r.out), "TTL %u / checksum", r.out[14 + 8]);
	CHECK(ct_get(&D, remote_pod, IP_B, 44000, 8080, IPPROTO_TCP, &e) == 0 && e.src_ep == 0 && e.dst_ep == EP_B &&
	      e.state == CT_TCP_SYN_SENT, "CT entry remote -> B");
	for (i = 0; i < D.nev; i++) {
		from += D.ev[i].type == EVENT_TRACE && D.ev[i].subtype == TRACE_FROM_OVERLAY;
		to += D.ev[i].type == EVENT_TRACE && D.ev[i].subtype == TRACE_TO_LXC && D.ev[i].dst_ep == EP_B &&
		      D.ev[i].dir == EV_DIR_INGRESS && D.ev[i].ct_state == EV_CT_NEW;
	}
	CHECK(D.nev == 2 && from == 1 && to == 1, "%d events (%d from-overlay, %d to-endpoint)", D.nev, from, to);
	CHECK(metric_packets(&D, 0, EV_DIR_INGRESS) == in_before + 1, "ingress forwarded metric");

	/* B's SYN-ACK leaves through bpf_lxc: the same entry, as a reply */
	o = (struct pkt_opts){ .smac = MAC_B, .dmac = NODE_MAC_B, .saddr = IP_B, .daddr = remote_pod,
			       .proto = IPPROTO_TCP, .sport = 8080, .dport = 44000, .tcp_flags = TCP_SYN | TCP_ACK };
	len = build_pkt(pkt, &o);
	events_reset(&D);
	CHECK(run_prog(&D, D.from_fd, pkt, len, if_b, &r) == 0, "test run");
	CHECK(D.nev == 1 && D.ev[0].ct_state == EV_CT_REPLY, "reply: %d events", D.nev);
	CHECK(ct_get(&D, remote_pod, IP_B, 44000, 8080, IPPROTO_TCP, &e) == 0 && e.state == CT_TCP_SYN_RECV &&
	      (e.flags & CT_F_SEEN_REPLY), "state %u after the reply", e.state);

	/* no such pod here */
	o = (struct pkt_opts){ .smac = remote_mac, .dmac = vx_mac, .saddr = remote_pod, .daddr = IP_STRANGER,
			       .proto = IPPROTO_UDP, .sport = 5000, .dport = 53, .payload_len = 8 };
	len = build_pkt(pkt, &o);
	expect_drop(ov_fd, pkt, len, if_a, DROP_UNKNOWN_L3, EV_DIR_INGRESS);
	CHECK(D.nev == 1 && D.ev[0].daddr == IP_STRANGER && D.ev[0].saddr == remote_pod, "drop event tuple");
	CHECK(ct_get(&D, remote_pod, IP_STRANGER, 5000, 53, IPPROTO_UDP, &e) == -ENOENT, "dropped packet created CT");

	/* not IPv4 */
	len = build_l2(pkt, remote_mac, vx_mac, 0x86dd, 40);
	expect_drop(ov_fd, pkt, len, if_a, DROP_UNSUPPORTED_L3, EV_DIR_INGRESS);
out:
	bpf_object__close(ov);
}

#include "lb_tests.h"
#include "icmp_frag_tests.h"

/* ---------------------------------------------------------------- main */

struct test {
	const char *name;
	void (*fn)(void);
};

static const struct test tests[] = {
	{ "object_layout", test_object_layout },
	{ "arp_passes", test_arp_passes },
	{ "drop_spoofed_source_ip", test_drop_spoofed_sip },
	{ "drop_ipv6", test_drop_ipv6 },
	{ "drop_unknown_l4", test_drop_unknown_l4 },
	{ "drop_later_fragment", test_drop_fragment },
	{ "drop_truncated_l4", test_drop_truncated_l4 },
	{ "drop_bad_ip_header", test_drop_bad_ip_header },
	{ "tcp_pod_to_pod_lifecycle", test_tcp_pod_to_pod },
	{ "tcp_rst_closes", test_tcp_rst },
	{ "udp_pod_to_host_and_reply", test_udp_pod_to_host },
	{ "tcp_host_to_pod", test_tcp_host_to_pod },
	{ "icmp_echo", test_icmp_echo },
	{ "icmp_error_related", test_icmp_error_related },
	{ "ttl_expiring_goes_to_stack", test_ttl_expiring_goes_to_stack },
	{ "monitor_aggregation_none", test_monitor_aggregation_none },
	{ "events_not_lost", test_ring_full_counts_lost },
	{ "pinning_by_name", test_pinning_by_name },
	{ "tunnel_to_overlay", test_tunnel_to_overlay },
	{ "overlay_ingress", test_overlay_ingress },
	{ "live_traffic", test_live_traffic },
	{ "lb_dnat_clusterip", test_lb_dnat_clusterip },
	{ "lb_ct_pins_backend", test_lb_ct_pins_backend },
	{ "lb_reverse_nat", test_lb_reverse_nat },
	{ "lb_no_backend_drops", test_lb_no_backend },
	{ "lb_terminating_backend", test_lb_terminating },
	{ "lb_affinity", test_lb_affinity },
	{ "lb_affinity_match", test_lb_affinity_match },
	{ "lb_maglev", test_lb_maglev },
	{ "lb_scope_int", test_lb_scope_int },
	{ "lb_hairpin_and_node_wildcard", test_lb_hairpin_and_wildcard },
	{ "lb_live_per_packet", test_lb_live_per_packet },
	{ "host_nodeport_local_backend", test_host_nodeport_local },
	{ "host_nodeport_snat_remote_backend", test_host_nodeport_remote },
	{ "host_nodeport_tunnel", test_host_nodeport_tunnel },
	{ "host_nodeport_dsr", test_host_nodeport_dsr },
	{ "lxc_dsr_backend", test_lxc_dsr_backend },
	{ "host_snat_range_local_ports", test_host_snat_range_local_ports },
	{ "host_no_backend_and_passthrough", test_host_no_backend },
	{ "sock_lb_live", test_sock_lb_live },
	{ "lb_icmp_error_rev_nat", test_lb_icmp_error_rev_nat },
	{ "host_icmp_error_rev_snat", test_host_icmp_error_rev_snat },
	{ "lb_fragments", test_lb_fragments },
	{ "host_fragments", test_host_fragments },
};

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_WARN || getenv("BPF_TESTS_VERBOSE"))
		return vfprintf(stderr, fmt, args);
	return 0;
}

int main(int argc, char **argv)
{
	const char *filter = argc > 2 ? argv[2] : NULL;
	int passed = 0, failed = 0, orig_netns, err;
	unsigned suffix;
	size_t i;

	if (argc > 1)
		obj_path = argv[1];
	{
		const char *slash = strrchr(obj_path, '/');
		int dlen = slash ? (int)(slash - obj_path) + 1 : 0;

		snprintf(overlay_path, sizeof(overlay_path), "%.*sbpf_overlay.o", dlen, obj_path);
		snprintf(sock_path, sizeof(sock_path), "%.*sbpf_sock.o", dlen, obj_path);
		snprintf(host_path, sizeof(host_path), "%.*sbpf_host.o", dlen, obj_path);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(libbpf_quiet);

	if (geteuid() != 0) {
		fprintf(stderr, "bpf-tests: needs root (BPF_PROG_TEST_RUN, netns, bpffs)\n");
		printf("bpf-tests: 0 passed, 1 failed\n");
		return 1;
	}
	orig_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	/* A netns of our own (gone with us), and a private mount namespace for
	 * the bpffs mount of the pinning test. */
	if (orig_netns < 0 || unshare(CLONE_NEWNET | CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
		fprintf(stderr, "bpf-tests: cannot create a network namespace: %s\n", strerror(errno));
		printf("bpf-tests: 0 passed, 1 failed\n");
		return 1;
	}
	srand(time(NULL) ^ getpid());
	suffix = rand() & 0xffffff;
	snprintf(dev_a, sizeof(dev_a), "ctsa%06x", suffix);
	snprintf(dev_b, sizeof(dev_b), "ctsb%06x", suffix);
	if (sh("ip link add %s type veth peer name %s", dev_a, dev_b) ||
	    !(if_a = if_nametoindex(dev_a)) || !(if_b = if_nametoindex(dev_b))) {
		fprintf(stderr, "bpf-tests: cannot create veth %s/%s\n", dev_a, dev_b);
		printf("bpf-tests: 0 passed, 1 failed\n");
		return 1;
	}

	IP_A = htonl(0x0ac80002);       /* 10.200.0.2 */
	IP_B = htonl(0x0ac80003);       /* 10.200.0.3 */
	IP_ROUTER = htonl(0x0ac80001);  /* 10.200.0.1 */
	IP_STRANGER = htonl(0x0ac80063);
	open_node_ip = htonl(0xc0a83202);       /* 192.168.50.2: the node, for the bpf_host tests */

	err = dp_open(&D, -1, NULL);
	if (!err)
		err = seed_endpoints(&D);
	if (err) {
		fprintf(stderr, "bpf-tests: load %s: %s\n", obj_path, strerror(-err));
		printf("FAIL load_object\n");
		failed++;
	} else {
		printf("ok   load_object (%s, veth %s/%s ifindex %d/%d)\n", obj_path, dev_a, dev_b, if_a, if_b);
		passed++;
		for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
			if (filter && !strstr(tests[i].name, filter))
				continue;
			cur_failed = 0;
			cur_msg[0] = 0;
			tests[i].fn();
			if (cur_failed) {
				printf("FAIL %s%s\n", tests[i].name, cur_msg);
				failed++;
			} else {
				printf("ok   %s\n", tests[i].name);
				passed++;
			}
		}
	}
	dp_close(&D);

	sh("ip link del %s 2>/dev/null", dev_a);
	if (setns(orig_netns, CLONE_NEWNET))
		fprintf(stderr, "bpf-tests: setns back: %s\n", strerror(errno));
	close(orig_netns);

	printf("bpf-tests: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
