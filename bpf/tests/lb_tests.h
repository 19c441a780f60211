/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Service load-balancing tests (included by bpf_tests.c, which owns the
 * harness): per-packet LB in bpf_lxc/bpf_overlay through BPF_PROG_TEST_RUN,
 * and socket LB (bpf_sock.o) live, on a cgroup2 directory of our own.
 */
#ifndef __CILIUM_TS_TEST_LB_H
#define __CILIUM_TS_TEST_LB_H

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "../lib/lb_hash.h"

static char sock_path[512] = "build/bpf_sock.o";

static int lb_fd(struct dp *d, const char *name)
{
	return bpf_object__find_map_fd_by_name(d->obj, name);
}

static int be_put(struct dp *d, uint32_t id, uint32_t addr, uint16_t port, uint8_t proto, uint8_t state)
{
	struct lb4_backend b = { .address = addr, .port = htons(port), .proto = proto, .state = state };

	return bpf_map_update_elem(lb_fd(d, "cilium_lb4_backends_v3"), &id, &b, BPF_ANY) ? -errno : 0;
}

static int aff_match_put(struct dp *d, uint32_t backend_id, uint16_t rev_nat)
{
	struct lb_affinity_match m = { .backend_id = backend_id, .rev_nat_id = rev_nat };
	uint8_t v = 0;

	return bpf_map_update_elem(lb_fd(d, "cilium_lb_affinity_match"), &m, &v, BPF_ANY) ? -errno : 0;
}

/* A frontend: master row, slot rows for ids[0..n), and its reverse NAT
 * (and, with SVC_F_AFFINITY, the affinity match rows). */
static int svc_add(struct dp *d, uint32_t vip, uint16_t port, uint8_t proto, uint16_t rev_nat, uint8_t flags,
		   uint8_t flags2, uint32_t aff_timeout, const uint32_t *ids, int n)
{
	int fd = lb_fd(d, "cilium_lb4_services_v2");
	struct lb4_key k = { .address = vip, .dport = htons(port), .proto = proto, .scope = LB_LOOKUP_SCOPE_EXT };
	struct lb4_service v = { .affinity_timeout = aff_timeout, .count = n, .rev_nat_index = rev_nat,
				 .flags = flags, .flags2 = flags2 };
	struct lb4_reverse_nat rn = { .address = vip, .port = htons(port) };
	int i;

	if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
		return -errno;
	for (i = 0; i < n; i++) {
		k.backend_slot = i + 1;
		v.backend_id = ids[i];
		v.count = 0;
		v.affinity_timeout = 0;
		if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
			return -errno;
	}
	if (bpf_map_update_elem(lb_fd(d, "cilium_lb4_reverse_nat"), &rev_nat, &rn, BPF_ANY))
		return -errno;
	/* as the agent: every (backend, service) pair of an affinity service */
	for (i = 0; (flags & SVC_F_AFFINITY) && i < n; i++)
		if (aff_match_put(d, ids[i], rev_nat))
			return -errno;
	return 0;
}

static int ct_svc_get(struct dp *d, uint32_t saddr, uint32_t vip, uint16_t sport, uint16_t vport, uint8_t proto,
		      struct ct_entry *e)
{
	struct ct_key4 k = { .saddr = saddr, .daddr = vip, .sport = htons(sport), .dport = htons(vport),
			     .nexthdr = proto, .flags = CT_KEY_F_SERVICE };

	return bpf_map_lookup_elem(d->ct_fd, &k, e) ? -errno : 0;
}

/* Fields of an output frame (network order as on the wire). */
static uint32_t out_saddr(const struct run *r) { uint32_t a; memcpy(&a, r->out + 14 + 12, 4); return a; }
static uint32_t out_daddr(const struct run *r) { uint32_t a; memcpy(&a, r->out + 14 + 16, 4); return a; }
static uint16_t out_sport(const struct run *r) { return (uint16_t)(r->out[34] << 8 | r->out[35]); }
static uint16_t out_dport(const struct run *r) { return (uint16_t)(r->out[36] << 8 | r->out[37]); }
static uint16_t out_udp_csum(const struct run *r) { uint16_t c; memcpy(&c, r->out + 34 + 6, 2); return c; }

/* 1 if the IPv4 header checksum and the TCP/UDP checksum (pseudo-header
 * included) of the frame verify when recomputed from scratch. A UDP
 * checksum of 0 (none) verifies. */
static int frame_csums_ok(const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + 14, *l4 = ip + 20;
	size_t iplen = (size_t)(ip[2] << 8 | ip[3]), l4len;
	uint32_t pseudo;

	if (len < 14 + 20 || iplen < 20 || 14 + iplen > len || !ipv4_csum_ok(f))
		return 0;
	l4len = iplen - 20;
	if (ip[9] == IPPROTO_UDP && l4[6] == 0 && l4[7] == 0)
		return 1;
	if (ip[9] != IPPROTO_TCP && ip[9] != IPPROTO_UDP)
		return 1;
	pseudo = csum_add(0, ip + 12, 8) + ip[9] + l4len;
	return csum_fold(csum_add(pseudo, l4, l4len)) == 0;
}

static uint32_t VIP(unsigned d) { return htonl(0x0a600000 | d); }      /* 10.96.0.d */
static uint32_t REMOTE(unsigned d) { return htonl(0x0ac80500 | d); }   /* 10.200.5.d: no local pod */

static struct pkt_opts tcp_a_to(uint32_t daddr, uint16_t sport, uint16_t dport, uint8_t flags)
{
	return (struct pkt_opts){ .smac = MAC_A, .dmac = NODE_MAC_A, .saddr = IP_A, .daddr = daddr,
				  .proto = IPPROTO_TCP, .sport = sport, .dport = dport, .tcp_flags = flags,
				  .payload_len = 7 };
}

/* Sends one packet A -> daddr:dport from pod A; r gets the result. */
static int lb_send(struct pkt_opts o, struct run *r)
{
	uint8_t pkt[PKT_MAX];
	size_t len = build_pkt(pkt, &o);

	events_reset(&D);
	return run_prog(&D, D.from_fd, pkt, len, if_a, r);
}

/* ClusterIP -> local backend: DNAT with correct checksums (TCP, UDP, UDP
 * without checksum), the service CT entry and the connection's rev_nat_index. */
static void test_lb_dnat_clusterip(void)
{
	uint32_t ids_tcp[] = { 1001 }, ids_udp[] = { 1002 };
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o;
	struct ct_entry e;
	struct run r;
	size_t len;

	REQUIRE(be_put(&D, 1001, IP_B, 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	REQUIRE(be_put(&D, 1002, IP_B, 5353, IPPROTO_UDP, BE_STATE_ACTIVE) == 0, "backend");
	REQUIRE(svc_add(&D, VIP(10), 80, IPPROTO_TCP, 11, SVC_F_CLUSTERIP, 0, 0, ids_tcp, 1) == 0, "service");
	REQUIRE(svc_add(&D, VIP(10), 53, IPPROTO_UDP, 12, SVC_F_CLUSTERIP, 0, 0, ids_udp, 1) == 0, "service");

	REQUIRE(lb_send(tcp_a_to(VIP(10), 45000, 80, TCP_SYN), &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT, "ret %d, want redirect to the local backend", r.ret);
	CHECK(out_daddr(&r) == IP_B && out_dport(&r) == 8080, "DNAT to %08x:%u", ntohl(out_daddr(&r)),
	      out_dport(&r));
	CHECK(out_saddr(&r) == IP_A && out_sport(&r) == 45000, "source changed");
	CHECK(frame_csums_ok(r.out, r.out_len), "TCP/IP checksums wrong after DNAT");
	CHECK(ct_svc_get(&D, IP_A, VIP(10), 45000, 80, IPPROTO_TCP, &e) == 0 && e.backend_id == 1001 &&
	      e.rev_nat_index == 11, "service CT entry: backend %u rev_nat %u", e.backend_id, e.rev_nat_index);
	CHECK(ct_get(&D, IP_A, IP_B, 45000, 8080, IPPROTO_TCP, &e) == 0 && e.rev_nat_index == 11 &&
	      e.state == CT_TCP_SYN_SENT, "connection CT entry: rev_nat %u state %u", e.rev_nat_index, e.state);
	CHECK(D.nev == 1 && D.ev[0].type == EVENT_TRACE && D.ev[0].daddr == IP_B && D.ev[0].dst_ep == EP_B,
	      "trace shows the backend: %d events", D.nev);

	o = (struct pkt_opts){ .smac = MAC_A, .dmac = NODE_MAC_A, .saddr = IP_A, .daddr = VIP(10),
			       .proto = IPPROTO_UDP, .sport = 5000, .dport = 53, .payload_len = 13 };
	REQUIRE(lb_send(o, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && out_daddr(&r) == IP_B && out_dport(&r) == 5353, "UDP DNAT ret %d", r.ret);
	CHECK(out_udp_csum(&r) != 0 && frame_csums_ok(r.out, r.out_len), "UDP checksum wrong after DNAT");

	/* UDP without a checksum keeps none */
	o.sport = 5001;
	len = build_pkt(pkt, &o);
	pkt[34 + 6] = pkt[34 + 7] = 0;
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(out_daddr(&r) == IP_B && out_dport(&r) == 5353 && out_udp_csum(&r) == 0 && ipv4_csum_ok(r.out),
	      "UDP zero checksum: csum %04x", out_udp_csum(&r));

	/* not a frontend (other port): untouched */
	REQUIRE(lb_send(tcp_a_to(VIP(10), 45001, 81, TCP_SYN), &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK && out_daddr(&r) == VIP(10) && out_dport(&r) == 81, "non-frontend translated");
}

/* Every packet of a connection goes to the backend its first one got;
 * connections spread over the backends. */
static void test_lb_ct_pins_backend(void)
{
	uint32_t ids[] = { 1003, 1004 };
	int used[2] = { 0, 0 }, i, j;
	struct ct_entry e;
	struct run r;

	REQUIRE(be_put(&D, 1003, IP_B, 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	REQUIRE(be_put(&D, 1004, REMOTE(4), 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	REQUIRE(svc_add(&D, VIP(11), 80, IPPROTO_TCP, 13, SVC_F_CLUSTERIP, 0, 0, ids, 2) == 0, "service");
	for (i = 0; i < 32; i++) {
		uint32_t first;

		REQUIRE(lb_send(tcp_a_to(VIP(11), 46000 + i, 80, TCP_SYN), &r) == 0, "test run");
		first = out_daddr(&r);
		REQUIRE(first == IP_B || first == REMOTE(4), "connection %d went to %08x", i, ntohl(first));
		used[first == REMOTE(4)]++;
		CHECK(r.ret == (first == IP_B ? TC_ACT_REDIRECT : TC_ACT_OK), "ret %d", r.ret);
		for (j = 0; j < 4; j++) {
			REQUIRE(lb_send(tcp_a_to(VIP(11), 46000 + i, 80, TCP_ACK), &r) == 0, "test run");
			CHECK(out_daddr(&r) == first && out_dport(&r) == 8080, "connection %d packet %d moved to %08x",
			      i, j, ntohl(out_daddr(&r)));
		}
		CHECK(ct_svc_get(&D, IP_A, VIP(11), 46000 + i, 80, IPPROTO_TCP, &e) == 0 &&
		      e.backend_id == (first == IP_B ? 1003u : 1004u) && e.packets == 5,
		      "service entry backend %u packets %llu", e.backend_id, (unsigned long long)e.packets);
	}
	CHECK(used[0] > 0 && used[1] > 0, "32 connections all on one backend (%d/%d)", used[0], used[1]);
}

/* Replies get the frontend as their source wherever they are seen: leaving
 * a local backend (from_container), reaching the client through the stack
 * (to_container) or from the overlay (from_overlay). */
static void test_lb_reverse_nat(void)
{
	uint32_t ids_local[] = { 1005 }, ids_remote[] = { 1006 };
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o;
	struct bpf_object *ov = NULL;
	int ov_fd;
	struct run r;
	size_t len;

	REQUIRE(be_put(&D, 1005, IP_B, 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	REQUIRE(be_put(&D, 1006, REMOTE(6), 9090, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	REQUIRE(svc_add(&D, VIP(12), 80, IPPROTO_TCP, 14, SVC_F_CLUSTERIP, 0, 0, ids_local, 1) == 0, "service");
	REQUIRE(svc_add(&D, VIP(13), 443, IPPROTO_TCP, 15, SVC_F_CLUSTERIP, 0, 0, ids_remote, 1) == 0, "service");

	/* local backend: B answers from its own interface */
	REQUIRE(lb_send(tcp_a_to(VIP(12), 47000, 80, TCP_SYN), &r) == 0, "test run");
	REQUIRE(out_daddr(&r) == IP_B, "DNAT");
	o = (struct pkt_opts){ .smac = MAC_B, .dmac = NODE_MAC_B, .saddr = IP_B, .daddr = IP_A, .proto = IPPROTO_TCP,
			       .sport = 8080, .dport = 47000, .tcp_flags = TCP_SYN | TCP_ACK, .payload_len = 3 };
	len = build_pkt(pkt, &o);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_b, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT, "reply ret %d", r.ret);
	CHECK(out_saddr(&r) == VIP(12) && out_sport(&r) == 80 && out_daddr(&r) == IP_A && out_dport(&r) == 47000,
	      "reply source %08x:%u", ntohl(out_saddr(&r)), out_sport(&r));
	CHECK(frame_csums_ok(r.out, r.out_len), "checksums wrong after reverse NAT");
	CHECK(D.nev == 1 && D.ev[0].ct_state == EV_CT_REPLY, "reply event");

	/* remote backend, reply through the stack to A's interface */
	REQUIRE(lb_send(tcp_a_to(VIP(13), 47001, 443, TCP_SYN), &r) == 0, "test run");
	REQUIRE(r.ret == TC_ACT_OK && out_daddr(&r) == REMOTE(6) && out_dport(&r) == 9090, "DNAT to remote");
	o = (struct pkt_opts){ .smac = NODE_MAC_A, .dmac = MAC_A, .saddr = REMOTE(6), .daddr = IP_A,
			       .proto = IPPROTO_TCP, .sport = 9090, .dport = 47001, .tcp_flags = TCP_SYN | TCP_ACK };
	len = build_pkt(pkt, &o);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.to_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK && out_saddr(&r) == VIP(13) && out_sport(&r) == 443, "to_container reply source %08x:%u",
	      ntohl(out_saddr(&r)), out_sport(&r));
	CHECK(frame_csums_ok(r.out, r.out_len), "checksums wrong after reverse NAT (to_container)");

	/* remote backend, reply decapsulated by the overlay */
	REQUIRE(lb_send(tcp_a_to(VIP(13), 47002, 443, TCP_SYN), &r) == 0, "test run");
	REQUIRE(overlay_open(&ov, &ov_fd) == 0, "load bpf_overlay.o");
	o.dport = 47002;
	len = build_pkt(pkt, &o);
	events_reset(&D);
	CHECK(run_prog(&D, ov_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && out_saddr(&r) == VIP(13) && out_sport(&r) == 443 &&
	      frame_csums_ok(r.out, r.out_len), "from_overlay reply ret %d source %08x:%u", r.ret,
	      ntohl(out_saddr(&r)), out_sport(&r));
	bpf_object__close(ov);
}

/* Checks that r is the ICMP port unreachable answering pkt (from the
 * frontend back to the client, MACs swapped, quoting pkt's IPv4 header). */
static int icmp_unreach_ok(const struct run *r, const uint8_t *pkt, char *why, size_t wl)
{
	const uint8_t *ip = r->out + 14, *icmp = ip + 20;

	if (r->out_len != 14 + 20 + 8 + 28)
		return snprintf(why, wl, "length %u", r->out_len), 0;
	if (memcmp(r->out, pkt + 6, 6) || memcmp(r->out + 6, pkt, 6))
		return snprintf(why, wl, "MACs not swapped"), 0;
	if (ip[9] != IPPROTO_ICMP || memcmp(ip + 12, pkt + 14 + 16, 4) || memcmp(ip + 16, pkt + 14 + 12, 4))
		return snprintf(why, wl, "IP header: proto %u", ip[9]), 0;
	if (!ipv4_csum_ok(r->out) || csum_fold(csum_add(0, icmp, 36)) != 0)
		return snprintf(why, wl, "checksums"), 0;
	if (icmp[0] != 3 || icmp[1] != 3 || memcmp(icmp + 8, pkt + 14, 28))
		return snprintf(why, wl, "ICMP %u/%u or quote", icmp[0], icmp[1]), 0;
	return 1;
}

/* Runs pkt from pod A and expects DROP_NO_SERVICE (event + metric) with the
 * ICMP answer redirected back to A. */
static void expect_no_service(const uint8_t *pkt, size_t len)
{
	uint64_t before = metric_packets(&D, DROP_NO_SERVICE, EV_DIR_EGRESS);
	char why[128] = "";
	struct run r;

	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT, "ret %d, want the ICMP answer redirected", r.ret);
	CHECK(icmp_unreach_ok(&r, pkt, why, sizeof(why)), "ICMP answer: %s", why);
	REQUIRE(D.nev == 1, "%d events, want one drop", D.nev);
	CHECK(D.ev[0].type == EVENT_DROP && D.ev[0].subtype == DROP_NO_SERVICE && D.ev[0].dir == EV_DIR_EGRESS &&
	      D.ev[0].ifindex == (uint32_t)if_a && D.ev[0].len == len, "drop event %u/%u", D.ev[0].type,
	      D.ev[0].subtype);
	CHECK(metric_packets(&D, DROP_NO_SERVICE, EV_DIR_EGRESS) == before + 1, "drop metric");
}

/* A frontend with no backend: DROP_NO_SERVICE (a flow and a metric), no CT,
 * and an ICMP port unreachable to the client (TCP and UDP). */
static void test_lb_no_backend(void)
{
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o = tcp_a_to(VIP(14), 48000, 80, TCP_SYN);
	struct ct_entry e;
	size_t len;

	REQUIRE(svc_add(&D, VIP(14), 80, IPPROTO_TCP, 16, SVC_F_CLUSTERIP, 0, 0, NULL, 0) == 0, "service");
	REQUIRE(svc_add(&D, VIP(14), 53, IPPROTO_UDP, 21, SVC_F_CLUSTERIP, 0, 0, NULL, 0) == 0, "service");
	len = build_pkt(pkt, &o);
	expect_no_service(pkt, len);
	CHECK(D.nev == 1 && D.ev[0].daddr == VIP(14) && D.ev[0].dport == htons(80) && D.ev[0].src_ep == EP_A,
	      "drop event names the frontend");
	CHECK(ct_svc_get(&D, IP_A, VIP(14), 48000, 80, IPPROTO_TCP, &e) == -ENOENT, "service entry created");
	CHECK(ct_get(&D, IP_A, VIP(14), 48000, 80, IPPROTO_TCP, &e) == -ENOENT, "CT entry created");
	o = (struct pkt_opts){ .smac = MAC_A, .dmac = NODE_MAC_A, .saddr = IP_A, .daddr = VIP(14),
			       .proto = IPPROTO_UDP, .sport = 5300, .dport = 53, .payload_len = 40 };
	len = build_pkt(pkt, &o);
	expect_no_service(pkt, len);
}

/* A terminating backend keeps its connections and gets no new ones. */
static void test_lb_terminating(void)
{
	uint32_t only_old[] = { 1008 }, only_new[] = { 1007 }, both[] = { 1007, 1008 };
	int i, bad = 0;
	struct run r;

	REQUIRE(be_put(&D, 1007, IP_B, 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	REQUIRE(be_put(&D, 1008, REMOTE(8), 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	REQUIRE(svc_add(&D, VIP(15), 80, IPPROTO_TCP, 17, SVC_F_CLUSTERIP, 0, 0, only_old, 1) == 0, "service");
	REQUIRE(lb_send(tcp_a_to(VIP(15), 49000, 80, TCP_SYN), &r) == 0, "test run");
	REQUIRE(out_daddr(&r) == REMOTE(8), "first connection on the old backend");

	/* the old backend terminates: out of the slots, still in the backends map */
	REQUIRE(be_put(&D, 1008, REMOTE(8), 8080, IPPROTO_TCP, BE_STATE_TERMINATING) == 0, "backend");
	REQUIRE(svc_add(&D, VIP(15), 80, IPPROTO_TCP, 17, SVC_F_CLUSTERIP, 0, 0, only_new, 1) == 0, "service");
	REQUIRE(lb_send(tcp_a_to(VIP(15), 49000, 80, TCP_ACK), &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK && out_daddr(&r) == REMOTE(8), "established connection moved to %08x",
	      ntohl(out_daddr(&r)));
	for (i = 1; i <= 16; i++) {
		REQUIRE(lb_send(tcp_a_to(VIP(15), 49000 + i, 80, TCP_SYN), &r) == 0, "test run");
		bad += out_daddr(&r) != IP_B;
	}
	CHECK(bad == 0, "%d new connections not on the active backend", bad);

	/* state flipped before the slot rows: still never picked */
	REQUIRE(svc_add(&D, VIP(15), 80, IPPROTO_TCP, 17, SVC_F_CLUSTERIP, 0, 0, both, 2) == 0, "service");
	for (i = 20, bad = 0; i < 52; i++) {
		REQUIRE(lb_send(tcp_a_to(VIP(15), 49000 + i, 80, TCP_SYN), &r) == 0, "test run");
		bad += out_daddr(&r) != IP_B;
	}
	CHECK(bad == 0, "%d new connections on the terminating backend in a slot", bad);

	/* the old connection's port reused for a new connection (SYN): a new pick */
	REQUIRE(lb_send(tcp_a_to(VIP(15), 49000, 80, TCP_SYN), &r) == 0, "test run");
	CHECK(out_daddr(&r) == IP_B, "new SYN on a terminating backend's entry went to %08x", ntohl(out_daddr(&r)));

	/* only terminating backends left (count 0): established keeps working, new drops */
	REQUIRE(svc_add(&D, VIP(15), 80, IPPROTO_TCP, 17, SVC_F_CLUSTERIP, 0, 0, NULL, 0) == 0, "service");
	REQUIRE(lb_send(tcp_a_to(VIP(15), 49001, 80, TCP_ACK), &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && out_daddr(&r) == IP_B, "established with count 0: ret %d", r.ret);
	REQUIRE(lb_send(tcp_a_to(VIP(15), 49100, 80, TCP_SYN), &r) == 0, "test run");
	CHECK(D.nev == 1 && D.ev[0].subtype == DROP_NO_SERVICE, "new with count 0: ret %d", r.ret);
}

/* sessionAffinity ClientIP: every connection of a client on one backend,
 * until that backend stops being ACTIVE. */
static void test_lb_affinity(void)
{
	uint32_t ids[] = { 1009, 1010, 1011, 1012 };
	struct lb4_affinity_key ak = { .client_id = IP_A, .rev_nat_index = 18 };
	struct lb_affinity_val av;
	uint32_t first = 0, second = 0;
	int i, moved = 0;
	struct run r;

	REQUIRE(be_put(&D, 1009, IP_B, 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	for (i = 1; i < 4; i++)
		REQUIRE(be_put(&D, ids[i], REMOTE(9 + i), 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	REQUIRE(svc_add(&D, VIP(16), 80, IPPROTO_TCP, 18, SVC_F_CLUSTERIP | SVC_F_AFFINITY, 0, 300, ids, 4) == 0,
		"service");
	for (i = 0; i < 16; i++) {
		REQUIRE(lb_send(tcp_a_to(VIP(16), 50000 + i, 80, TCP_SYN), &r) == 0, "test run");
		if (!i)
			first = out_daddr(&r);
		moved += out_daddr(&r) != first;
	}
	CHECK(moved == 0, "%d of 16 connections left the affinity backend", moved);
	REQUIRE(bpf_map_lookup_elem(lb_fd(&D, "cilium_lb4_affinity"), &ak, &av) == 0, "no affinity entry: %s",
		strerror(errno));
	{
		struct lb4_backend b;

		CHECK(bpf_map_lookup_elem(lb_fd(&D, "cilium_lb4_backends_v3"), &av.backend_id, &b) == 0 &&
		      b.address == first, "affinity entry names backend %u", av.backend_id);
		/* that backend terminates: the client moves, and sticks to the new one */
		b.state = BE_STATE_TERMINATING;
		REQUIRE(bpf_map_update_elem(lb_fd(&D, "cilium_lb4_backends_v3"), &av.backend_id, &b, BPF_ANY) == 0, "update: %s", strerror(errno));
	}
	for (i = 16, moved = 0; i < 32; i++) {
		REQUIRE(lb_send(tcp_a_to(VIP(16), 50000 + i, 80, TCP_SYN), &r) == 0, "test run");
		if (i == 16)
			second = out_daddr(&r);
		moved += out_daddr(&r) != second;
	}
	CHECK(second && second != first && moved == 0, "after terminating: %08x -> %08x, %d moved", ntohl(first),
	      ntohl(second), moved);
	/* expired affinity (last_used long ago) is not honoured: the entry is replaced */
	REQUIRE(bpf_map_lookup_elem(lb_fd(&D, "cilium_lb4_affinity"), &ak, &av) == 0, "affinity entry");
	av.last_used = now_ns() - 400ULL * 1000000000ULL;
	REQUIRE(bpf_map_update_elem(lb_fd(&D, "cilium_lb4_affinity"), &ak, &av, BPF_ANY) == 0, "update: %s", strerror(errno));
	REQUIRE(lb_send(tcp_a_to(VIP(16), 50100, 80, TCP_SYN), &r) == 0, "test run");
	REQUIRE(bpf_map_lookup_elem(lb_fd(&D, "cilium_lb4_affinity"), &ak, &av) == 0, "affinity entry");
	CHECK(now_ns() - av.last_used < 60ULL * 1000000000ULL, "expired affinity entry not renewed");
}

/* Affinity to a backend that left the service (no cilium_lb_affinity_match
 * row, though the backend row itself is still ACTIVE, e.g. shared with
 * another service): not honoured; the client gets one of the remaining
 * backends and sticks to it. */
static void test_lb_affinity_match(void)
{
	uint32_t ids[] = { 1013, 1014, 1015 }, left[] = { 1014, 1015 };
	struct lb4_affinity_key ak = { .client_id = IP_A, .rev_nat_index = 19 };
	struct lb_affinity_val av = {};
	struct lb_affinity_match m = { .backend_id = 1013, .rev_nat_id = 19 };
	uint32_t first = 0;
	int i, moved = 0;
	struct run r;

	for (i = 0; i < 3; i++)
		REQUIRE(be_put(&D, ids[i], REMOTE(50 + i), 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	REQUIRE(svc_add(&D, VIP(27), 80, IPPROTO_TCP, 19, SVC_F_CLUSTERIP | SVC_F_AFFINITY, 0, 300, ids, 3) == 0,
		"service");
	/* the client's affinity names 1013, and it is honoured while matched */
	av.last_used = now_ns();
	av.backend_id = 1013;
	REQUIRE(bpf_map_update_elem(lb_fd(&D, "cilium_lb4_affinity"), &ak, &av, BPF_ANY) == 0, "affinity: %s",
		strerror(errno));
	REQUIRE(lb_send(tcp_a_to(VIP(27), 51000, 80, TCP_SYN), &r) == 0, "test run");
	CHECK(out_daddr(&r) == REMOTE(50), "matched affinity not honoured: %08x", ntohl(out_daddr(&r)));
	/* 1013 leaves the service: slots rewritten, its match row deleted
	 * (the backend row stays ACTIVE) */
	REQUIRE(svc_add(&D, VIP(27), 80, IPPROTO_TCP, 19, SVC_F_CLUSTERIP | SVC_F_AFFINITY, 0, 300, left, 2) == 0,
		"service");
	REQUIRE(bpf_map_delete_elem(lb_fd(&D, "cilium_lb_affinity_match"), &m) == 0, "match delete: %s",
		strerror(errno));
	for (i = 0; i < 12; i++) {
		REQUIRE(lb_send(tcp_a_to(VIP(27), 51001 + i, 80, TCP_SYN), &r) == 0, "test run");
		if (!i)
			first = out_daddr(&r);
		moved += out_daddr(&r) != first;
	}
	CHECK(first == REMOTE(51) || first == REMOTE(52), "after removal: went to %08x", ntohl(first));
	CHECK(moved == 0, "%d of 12 connections left the new affinity backend", moved);
	REQUIRE(bpf_map_lookup_elem(lb_fd(&D, "cilium_lb4_affinity"), &ak, &av) == 0, "affinity entry");
	CHECK(av.backend_id == 1014 || av.backend_id == 1015, "affinity entry still names %u", av.backend_id);
}

/* Maglev: the backend is the table's entry for the connection's hash. */
static void test_lb_maglev(void)
{
	uint32_t ids[] = { 1013, 1014 };
	struct lb4_maglev *lut = calloc(1, sizeof(*lut));
	uint16_t rev = 19;
	int i, wrong = 0, seen[2] = { 0, 0 };
	struct run r;

	REQUIRE(lut, "calloc");
	for (i = 0; i < LB_MAGLEV_LUT_SIZE; i++)
		lut->backend_ids[i] = (i % 3) ? 1014 : 1013;
	CHECK(be_put(&D, 1013, IP_B, 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	CHECK(be_put(&D, 1014, REMOTE(14), 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	CHECK(svc_add(&D, VIP(17), 80, IPPROTO_TCP, rev, SVC_F_CLUSTERIP, SVC_F2_MAGLEV, 0, ids, 2) == 0, "service");
	CHECK(bpf_map_update_elem(lb_fd(&D, "cilium_lb4_maglev"), &rev, lut, BPF_ANY) == 0, "maglev table: %s",
	      strerror(errno));
	for (i = 0; i < 64 && !cur_failed; i++) {
		uint16_t sport = 51000 + i;
		uint32_t h = lb4_hash_tuple(IP_A, VIP(17), htons(sport), htons(80), IPPROTO_TCP);
		uint32_t want = lut->backend_ids[h % LB_MAGLEV_LUT_SIZE] == 1013 ? IP_B : REMOTE(14);

		CHECK(lb_send(tcp_a_to(VIP(17), sport, 80, TCP_SYN), &r) == 0, "test run");
		wrong += out_daddr(&r) != want;
		seen[want == IP_B]++;
	}
	CHECK(wrong == 0 && seen[0] && seen[1], "%d of 64 connections not where the table says (%d/%d)", wrong,
	      seen[0], seen[1]);
	/* the table names a terminating backend: an active one instead */
	CHECK(be_put(&D, 1014, REMOTE(14), 8080, IPPROTO_TCP, BE_STATE_TERMINATING) == 0, "backend");
	for (i = 100, wrong = 0; i < 132; i++) {
		CHECK(lb_send(tcp_a_to(VIP(17), 51000 + i, 80, TCP_SYN), &r) == 0, "test run");
		wrong += out_daddr(&r) != IP_B;
	}
	CHECK(wrong == 0, "%d new connections on the terminating backend", wrong);
	free(lut);
}

/* internalTrafficPolicy=Local: pods use the INT row when the EXT row says so. */
static void test_lb_scope_int(void)
{
	uint32_t ext_ids[] = { 1016 }, int_ids[] = { 1015 };
	int fd = lb_fd(&D, "cilium_lb4_services_v2");
	struct lb4_key k = { .address = VIP(18), .dport = htons(80), .proto = IPPROTO_TCP,
			     .scope = LB_LOOKUP_SCOPE_INT };
	struct lb4_service v = { .count = 1, .rev_nat_index = 20, .flags = SVC_F_CLUSTERIP | SVC_F_INT_LOCAL };
	struct run r;

	REQUIRE(be_put(&D, 1015, IP_B, 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	REQUIRE(be_put(&D, 1016, REMOTE(16), 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	REQUIRE(svc_add(&D, VIP(18), 80, IPPROTO_TCP, 20, SVC_F_CLUSTERIP | SVC_F_INT_LOCAL, 0, 0, ext_ids, 1) == 0,
		"service");
	REQUIRE(bpf_map_update_elem(fd, &k, &v, BPF_ANY) == 0, "INT master");
	k.backend_slot = 1;
	v.backend_id = int_ids[0];
	REQUIRE(bpf_map_update_elem(fd, &k, &v, BPF_ANY) == 0, "INT slot");
	REQUIRE(lb_send(tcp_a_to(VIP(18), 52000, 80, TCP_SYN), &r) == 0, "test run");
	CHECK(out_daddr(&r) == IP_B, "iTP=Local went to %08x", ntohl(out_daddr(&r)));
	/* no local backend: INT row with count 0 drops, even though EXT has one */
	k.backend_slot = 0;
	v.backend_id = 0;
	v.count = 0;
	REQUIRE(bpf_map_update_elem(fd, &k, &v, BPF_ANY) == 0, "INT master");
	REQUIRE(lb_send(tcp_a_to(VIP(18), 52001, 80, TCP_SYN), &r) == 0, "test run");
	CHECK(D.nev == 1 && D.ev[0].subtype == DROP_NO_SERVICE, "iTP=Local without local: %d", r.ret);
}

/* A pod that is its own backend (hairpin: source 169.254.42.1 on the way in,
 * restored on the reply), and a pod reaching the NodePort wildcard through
 * the node's address. */
static void test_lb_hairpin_and_wildcard(void)
{
	const uint32_t hairpin = htonl(0xa9fe2a01);
	uint32_t ids_self[] = { 1020 }, ids_wc[] = { 1021 };
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o;
	struct run r;
	size_t len;

	REQUIRE(be_put(&D, 1020, IP_A, 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	REQUIRE(be_put(&D, 1021, IP_B, 8090, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	REQUIRE(svc_add(&D, VIP(19), 80, IPPROTO_TCP, 22, SVC_F_CLUSTERIP, 0, 0, ids_self, 1) == 0, "service");
	REQUIRE(svc_add(&D, 0, 30090, IPPROTO_TCP, 23, SVC_F_NODEPORT, 0, 0, ids_wc, 1) == 0, "service");

	REQUIRE(lb_send(tcp_a_to(VIP(19), 53000, 80, TCP_SYN), &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && out_saddr(&r) == hairpin && out_sport(&r) == 53000 &&
	      out_daddr(&r) == IP_A && out_dport(&r) == 8080 && frame_csums_ok(r.out, r.out_len),
	      "hairpin: ret %d %08x:%u -> %08x:%u", r.ret, ntohl(out_saddr(&r)), out_sport(&r), ntohl(out_daddr(&r)),
	      out_dport(&r));
	o = (struct pkt_opts){ .smac = MAC_A, .dmac = NODE_MAC_A, .saddr = IP_A, .daddr = hairpin,
			       .proto = IPPROTO_TCP, .sport = 8080, .dport = 53000, .tcp_flags = TCP_SYN | TCP_ACK };
	len = build_pkt(pkt, &o);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && out_saddr(&r) == VIP(19) && out_sport(&r) == 80 && out_daddr(&r) == IP_A &&
	      out_dport(&r) == 53000 && frame_csums_ok(r.out, r.out_len) && !memcmp(r.out, MAC_A, 6),
	      "hairpin reply: ret %d %08x:%u -> %08x:%u", r.ret, ntohl(out_saddr(&r)), out_sport(&r),
	      ntohl(out_daddr(&r)), out_dport(&r));

	REQUIRE(lb_send(tcp_a_to(open_node_ip, 53001, 30090, TCP_SYN), &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && out_daddr(&r) == IP_B && out_dport(&r) == 8090,
	      "pod -> node address wildcard NodePort: %08x:%u", ntohl(out_daddr(&r)), out_dport(&r));
	o = (struct pkt_opts){ .smac = MAC_B, .dmac = NODE_MAC_B, .saddr = IP_B, .daddr = IP_A,
			       .proto = IPPROTO_TCP, .sport = 8090, .dport = 53001, .tcp_flags = TCP_SYN | TCP_ACK };
	len = build_pkt(pkt, &o);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_b, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && out_saddr(&r) == open_node_ip && out_sport(&r) == 30090,
	      "wildcard reply source %08x:%u", ntohl(out_saddr(&r)), out_sport(&r));
}

/* ------------------------------------------------------- per-packet LB, live */

/* A client in netns ns connecting to ip:port; exits with the connect errno (0: connected). */
static pid_t connect_child(const char *ns, uint32_t ip, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = ip };
	char path[64];
	pid_t pid = fork();
	int fd, s;

	if (pid)
		return pid;
	alarm(10);      /* a timeout is a failure (killed), not a refusal */
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY);
	if (fd < 0 || setns(fd, CLONE_NEWNET))
		_exit(100);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		_exit(101);
	_exit(connect(s, (struct sockaddr *)&sa, sizeof(sa)) ? errno : 0);
}

/* Server in server_ns (NULL: here) on sip:sport, client in client_ns to dip:dport. */
static int lb_tcp_exchange(const char *server_ns, const char *client_ns, uint32_t sip, uint16_t sport, uint32_t dip,
			   uint16_t dport)
{
	int p[2], rs, rc;
	pid_t srv, cli;
	char b;

	if (pipe(p))
		return -1;
	srv = tcp_child(server_ns, 1, sip, sport, p[1]);
	if (read(p[0], &b, 1) != 1) {
		close(p[0]);
		close(p[1]);
		wait_child(srv);
		return -2;
	}
	cli = tcp_child(client_ns, 0, dip, dport, -1);
	rc = wait_child(cli);
	if (rc)
		kill(srv, SIGKILL);
	rs = wait_child(srv);
	close(p[0]);
	close(p[1]);
	if (rc || rs)
		fprintf(stderr, "    tcp exchange: client exit %d, server exit %d\n", rc, rs);
	return rc || rs;
}

/* Real sockets in two pods on veths carrying bpf_lxc: pod A -> ClusterIP ->
 * pod B (DNAT, redirect_peer, rev-NAT of B's replies in its
 * from_container), pod A -> ClusterIP -> a host address (replies
 * reverse-NATed in A's to_container), and a ClusterIP without backends
 * refused at once (ICMP port unreachable -> ECONNREFUSED). */
static void test_lb_live_per_packet(void)
{
	const uint32_t ip_a = htonl(0x0ac90002), ip_b = htonl(0x0ac90003), ip_r = htonl(0x0ac90001);
	const uint32_t vip = htonl(0x0a605801), vip_host = htonl(0x0a605802), vip_empty = htonl(0x0a605803);
	const uint8_t pod_a_mac[6] = { 0x02, 0xcc, 0, 0, 0, 0x0a }, lxc_a_mac[6] = { 0x02, 0xdd, 0, 0, 0, 0x0a };
	const uint8_t pod_b_mac[6] = { 0x02, 0xcc, 0, 0, 0, 0x0b }, lxc_b_mac[6] = { 0x02, 0xdd, 0, 0, 0, 0x0b };
	uint32_t id_b = 4001, id_r = 4002, id_a = 4003;
	const uint32_t vip_self = htonl(0x0a605804);
	struct endpoint_key k;
	struct endpoint_info v;
	struct ct_key4 ck;
	struct ct_entry e;
	struct dp d;
	unsigned suf = rand() & 0xffffff;
	int ifa, ifb, err, i, drops = 0;

	snprintf(live_ns_a, sizeof(live_ns_a), "cts-lb-%06x-a", suf);
	snprintf(live_ns_b, sizeof(live_ns_b), "cts-lb-%06x-b", suf);
	snprintf(live_lxc_a, sizeof(live_lxc_a), "ctm%06xa", suf);
	snprintf(live_lxc_b, sizeof(live_lxc_b), "ctm%06xb", suf);
	snprintf(live_host, sizeof(live_host), "cti%06x", suf);

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
	if (be_put(&d, id_b, ip_b, 8080, IPPROTO_TCP, BE_STATE_ACTIVE) ||
	    be_put(&d, id_r, ip_r, 8082, IPPROTO_TCP, BE_STATE_ACTIVE) ||
	    svc_add(&d, vip, 80, IPPROTO_TCP, 51, SVC_F_CLUSTERIP, 0, 0, &id_b, 1) ||
	    svc_add(&d, vip_host, 80, IPPROTO_TCP, 52, SVC_F_CLUSTERIP, 0, 0, &id_r, 1) ||
	    svc_add(&d, vip_empty, 80, IPPROTO_TCP, 53, SVC_F_CLUSTERIP, 0, 0, NULL, 0) ||
	    be_put(&d, id_a, ip_a, 8083, IPPROTO_TCP, BE_STATE_ACTIVE) ||
	    svc_add(&d, vip_self, 80, IPPROTO_TCP, 54, SVC_F_CLUSTERIP, 0, 0, &id_a, 1)) {
		CHECK(0, "fill LB maps: %s", strerror(errno));
		goto out;
	}

	/* pod -> ClusterIP -> pod on this node */
	CHECK(lb_tcp_exchange(live_ns_b, live_ns_a, ip_b, 8080, vip, 80) == 0, "TCP A -> %s -> B:8080 failed",
	      "10.96.88.1:80");
	usleep(100 * 1000);
	CHECK(ct_find(&d, ip_a, ip_b, IPPROTO_TCP, 8080, &ck, &e) == 0 && ck.saddr == ip_a && e.rev_nat_index == 51 &&
	      e.state == CT_TCP_CLOSE && (e.flags & CT_F_SEEN_REPLY), "A->B CT entry: rev_nat %u state %u",
	      e.rev_nat_index, e.state);
	CHECK(ct_svc_get(&d, ip_a, vip, ntohs(ck.sport), 80, IPPROTO_TCP, &e) == 0 && e.backend_id == id_b,
	      "service CT entry of the connection");

	/* pod -> ClusterIP -> an address of the host: replies through A's to_container */
	CHECK(lb_tcp_exchange(NULL, live_ns_a, ip_r, 8082, vip_host, 80) == 0, "TCP A -> %s -> host:8082 failed",
	      "10.96.88.2:80");

	/* a pod reaching itself through a ClusterIP (hairpin) */
	CHECK(lb_tcp_exchange(live_ns_a, live_ns_a, ip_a, 8083, vip_self, 80) == 0, "TCP A -> %s -> A:8083 failed",
	      "10.96.88.4:80");

	/* no backend: refused at once */
	{
		pid_t pid = connect_child(live_ns_a, vip_empty, 80);
		int rc = wait_child(pid);

		CHECK(rc == ECONNREFUSED, "connect to a ClusterIP without backends: exit %d, want ECONNREFUSED (%d)", rc,
		      ECONNREFUSED);
	}
	ring_buffer__consume(d.rb);
	for (i = 0; i < d.nev; i++)
		drops += d.ev[i].type == EVENT_DROP && d.ev[i].subtype == DROP_NO_SERVICE && d.ev[i].daddr == vip_empty;
	CHECK(drops >= 1, "%d DROP_NO_SERVICE events", drops);
out:
	live_cleanup();
	dp_close(&d);
}

/* ------------------------------------------------------- bpf_host (NodePort) */

static char host_path[512] = "build/bpf_host.o";
static const uint8_t MAC_NODE[6] = { 0x02, 0xee, 0, 0, 0, 0x02 };      /* the node's eth0 */
static const uint8_t MAC_CLIENT[6] = { 0x02, 0xee, 0, 0, 0, 0x09 };    /* outside client */
static const uint8_t MAC_PEER[6] = { 0x02, 0xee, 0, 0, 0, 0x03 };      /* the other node */

/* bpf_host.o on D's maps, NODE_IP set. */
struct host {
	struct bpf_object *obj;
	int from_fd, to_fd;
};

/* Another copy of the object at path on D's maps, with NODE_IP set and,
 * when non-zero, TUNNEL_IFINDEX (+ TUNNEL_PORT 8472) and
 * ENABLE_IPV4_FRAGMENTS; from/to: its two tc programs. */
static int obj_open_on_d(struct host *h, const char *path, const char *from, const char *to,
			 uint32_t tunnel_ifindex, uint32_t fragments)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	int err;

	memset(h, 0, sizeof(*h));
	if (!obj)
		return -errno;
	if ((err = reuse_d_maps(obj))) {
		bpf_object__close(obj);
		return err;
	}
	if ((err = set_rodata_u32(obj, "NODE_IP", open_node_ip)) ||
	    (tunnel_ifindex && (err = set_rodata_u32(obj, "TUNNEL_IFINDEX", tunnel_ifindex))) ||
	    (tunnel_ifindex && (err = set_rodata_u32(obj, "TUNNEL_PORT", 8472))) ||
	    (fragments && (err = set_rodata_u32(obj, "ENABLE_IPV4_FRAGMENTS", fragments))) ||
	    (err = bpf_object__load(obj))) {
		bpf_object__close(obj);
		return err;
	}
	h->obj = obj;
	h->from_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, from));
	h->to_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, to));
	return h->from_fd < 0 || h->to_fd < 0 ? -ENOENT : 0;
}

static int host_open_tunnel(struct host *h, uint32_t tunnel_ifindex)
{
	return obj_open_on_d(h, host_path, "cil_from_netdev", "cil_to_netdev", tunnel_ifindex, 0);
}

static int host_open(struct host *h)
{
	return host_open_tunnel(h, 0);
}

static uint32_t CLIENT_IP(void) { return htonl(0xc0a83209); }           /* 192.168.50.9 */

static struct pkt_opts from_client(uint32_t daddr, uint8_t proto, uint16_t sport, uint16_t dport, uint8_t flags)
{
	return (struct pkt_opts){ .smac = MAC_CLIENT, .dmac = MAC_NODE, .saddr = CLIENT_IP(), .daddr = daddr,
				  .proto = proto, .sport = sport, .dport = dport, .tcp_flags = flags,
				  .payload_len = 11 };
}

static int host_send(struct host *h, struct pkt_opts o, struct run *r)
{
	uint8_t pkt[PKT_MAX];
	size_t len = build_pkt(pkt, &o);

	events_reset(&D);
	return run_prog(&D, h->from_fd, pkt, len, if_a, r);
}

/* dev_a plays the node's eth0: 192.168.50.2/24, the client and the other
 * node (10.200.5.0/24 behind 192.168.50.3) as permanent neighbours, so the
 * FIB lookups of forwarded packets succeed. In the test's own netns. */
static int host_net_setup(void)
{
	return sh("sysctl -qw net.ipv4.ip_forward=1") ||
	       sh("ip link set %s up && ip link set %s up", dev_b, dev_a) ||
	       sh("ip addr add 192.168.50.2/24 dev %s", dev_a) ||
	       sh("ip neigh replace 192.168.50.9 lladdr 02:ee:00:00:00:09 dev %s nud permanent", dev_a) ||
	       sh("ip neigh replace 192.168.50.3 lladdr 02:ee:00:00:00:03 dev %s nud permanent", dev_a) ||
	       sh("ip route replace 10.200.5.0/24 via 192.168.50.3 dev %s", dev_a);
}

static void host_net_teardown(void)
{
	sh("ip route del 10.200.5.0/24 2>/dev/null; ip addr del 192.168.50.2/24 dev %s 2>/dev/null", dev_a);
}

/* NodePort (node address and wildcard) to a local backend: DNAT, client
 * address kept, into the pod; the pod's reply leaves with the frontend as
 * its source, forwarded to the client. */
static void test_host_nodeport_local(void)
{
	uint32_t ids[] = { 3001 }, ids_wc[] = { 3002 };
	struct pkt_opts o;
	struct ct_entry e;
	struct host h;
	struct run r;
	uint8_t pkt[PKT_MAX];
	size_t len;

	REQUIRE(host_open(&h) == 0, "load %s", host_path);
	CHECK(host_net_setup() == 0, "test network");
	CHECK(be_put(&D, 3001, IP_B, 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	CHECK(be_put(&D, 3002, IP_B, 8081, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	CHECK(svc_add(&D, open_node_ip, 30080, IPPROTO_TCP, 40, SVC_F_NODEPORT, 0, 0, ids, 1) == 0, "service");
	CHECK(svc_add(&D, 0, 30081, IPPROTO_TCP, 41, SVC_F_NODEPORT, 0, 0, ids_wc, 1) == 0, "service");

	CHECK(host_send(&h, from_client(open_node_ip, IPPROTO_TCP, 40000, 30080, TCP_SYN), &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && out_daddr(&r) == IP_B && out_dport(&r) == 8080 &&
	      out_saddr(&r) == CLIENT_IP() && out_sport(&r) == 40000 && !memcmp(r.out, MAC_B, 6),
	      "NodePort: ret %d to %08x:%u", r.ret, ntohl(out_daddr(&r)), out_dport(&r));
	CHECK(frame_csums_ok(r.out, r.out_len), "checksums after NodePort DNAT");
	CHECK(ct_get(&D, CLIENT_IP(), IP_B, 40000, 8080, IPPROTO_TCP, &e) == 0 && e.rev_nat_index == 40 &&
	      e.dst_ep == EP_B, "CT entry: rev_nat %u", e.rev_nat_index);
	CHECK(D.nev == 1 && D.ev[0].type == EVENT_TRACE && D.ev[0].subtype == TRACE_TO_LXC, "trace");

	/* the pod answers: source back to NODE_IP:30080, out towards the client */
	o = (struct pkt_opts){ .smac = MAC_B, .dmac = NODE_MAC_B, .saddr = IP_B, .daddr = CLIENT_IP(),
			       .proto = IPPROTO_TCP, .sport = 8080, .dport = 40000, .tcp_flags = TCP_SYN | TCP_ACK };
	len = build_pkt(pkt, &o);
	events_reset(&D);
	CHECK(run_prog(&D, D.from_fd, pkt, len, if_b, &r) == 0, "test run");
	CHECK(out_saddr(&r) == open_node_ip && out_sport(&r) == 30080 && frame_csums_ok(r.out, r.out_len),
	      "reply source %08x:%u", ntohl(out_saddr(&r)), out_sport(&r));
	CHECK(r.ret == TC_ACT_REDIRECT && !memcmp(r.out, MAC_CLIENT, 6) && r.out[14 + 8] == 63,
	      "reply forwarded by FIB: ret %d", r.ret);

	/* the wildcard row: any node address; the reply gets NODE_IP back */
	CHECK(host_send(&h, from_client(open_node_ip, IPPROTO_TCP, 40001, 30081, TCP_SYN), &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && out_daddr(&r) == IP_B && out_dport(&r) == 8081, "wildcard NodePort");
	o.sport = 8081;
	o.dport = 40001;
	len = build_pkt(pkt, &o);
	events_reset(&D);
	CHECK(run_prog(&D, D.from_fd, pkt, len, if_b, &r) == 0, "test run");
	CHECK(out_saddr(&r) == open_node_ip && out_sport(&r) == 30081, "wildcard reply source %08x:%u",
	      ntohl(out_saddr(&r)), out_sport(&r));
	host_net_teardown();
	bpf_object__close(h.obj);
}

/* NodePort to a backend on another node: DNAT + SNAT to NODE_IP:port (both
 * directions in cilium_snat_v4_ext), forwarded; the reply un-SNATed and
 * reverse-NATed back to the client. */
static void test_host_nodeport_remote(void)
{
	uint32_t ids[] = { 3003 };
	struct pkt_opts o;
	struct nat4_entry ne;
	struct ct_key4 k = {};
	struct host h;
	struct run r;
	uint16_t nat_port;
	int i;

	REQUIRE(host_open(&h) == 0, "load %s", host_path);
	CHECK(host_net_setup() == 0, "test network");
	CHECK(be_put(&D, 3003, REMOTE(30), 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	CHECK(svc_add(&D, open_node_ip, 30082, IPPROTO_TCP, 42, SVC_F_NODEPORT, 0, 0, ids, 1) == 0, "service");

	CHECK(host_send(&h, from_client(open_node_ip, IPPROTO_TCP, 40002, 30082, TCP_SYN), &r) == 0, "test run");
	nat_port = out_sport(&r);
	CHECK(out_daddr(&r) == REMOTE(30) && out_dport(&r) == 8080 && out_saddr(&r) == open_node_ip &&
	      nat_port >= NODEPORT_PORT_MIN_NAT && nat_port <= NODEPORT_PORT_MAX_NAT,
	      "SNAT: %08x:%u -> %08x:%u", ntohl(out_saddr(&r)), nat_port, ntohl(out_daddr(&r)), out_dport(&r));
	CHECK(frame_csums_ok(r.out, r.out_len), "checksums after DNAT + SNAT");
	CHECK(r.ret == TC_ACT_REDIRECT && !memcmp(r.out, MAC_PEER, 6) && r.out[14 + 8] == 63,
	      "forwarded by FIB to the other node: ret %d", r.ret);
	CHECK((r.mark & MARK_MAGIC_MASK) == MARK_MAGIC_SNAT_DONE, "MARK_MAGIC_SNAT_DONE: mark %#x", r.mark);
	/* the forwarded SYN leaving the device: cil_to_netdev keeps the NodePort row */
	{
		struct run t;
		struct ct_key4 ik = { .saddr = REMOTE(30), .daddr = open_node_ip, .sport = htons(8080),
				      .dport = htons(nat_port), .nexthdr = IPPROTO_TCP };

		run_mark_in = r.mark;
		CHECK(run_prog(&D, h.to_fd, r.out, r.out_len, if_a, &t) == 0 && t.ret == TC_ACT_OK, "to_netdev");
		run_mark_in = 0;
		CHECK(bpf_map_lookup_elem(lb_fd(&D, "cilium_snat_v4_ext"), &ik, &ne) == 0 && ne.to_addr == CLIENT_IP(),
		      "the forwarded SYN did not take its own NodePort row");
	}
	k = (struct ct_key4){ .saddr = CLIENT_IP(), .daddr = REMOTE(30), .sport = htons(40002), .dport = htons(8080),
			      .nexthdr = IPPROTO_TCP };
	CHECK(bpf_map_lookup_elem(lb_fd(&D, "cilium_snat_v4_ext"), &k, &ne) == 0 && ne.to_addr == open_node_ip &&
	      ne.to_port == htons(nat_port), "egress SNAT entry");
	k = (struct ct_key4){ .saddr = REMOTE(30), .daddr = open_node_ip, .sport = htons(8080), .dport = htons(nat_port),
			      .nexthdr = IPPROTO_TCP };
	CHECK(bpf_map_lookup_elem(lb_fd(&D, "cilium_snat_v4_ext"), &k, &ne) == 0 && ne.to_addr == CLIENT_IP() &&
	      ne.to_port == htons(40002), "ingress SNAT entry");

	/* later packets keep the same mapping */
	for (i = 0; i < 3; i++) {
		CHECK(host_send(&h, from_client(open_node_ip, IPPROTO_TCP, 40002, 30082, TCP_ACK), &r) == 0, "test run");
		CHECK(out_sport(&r) == nat_port && out_daddr(&r) == REMOTE(30), "packet %d: port %u", i, out_sport(&r));
	}

	/* the reply from the backend's node */
	o = (struct pkt_opts){ .smac = MAC_PEER, .dmac = MAC_NODE, .saddr = REMOTE(30), .daddr = open_node_ip,
			       .proto = IPPROTO_TCP, .sport = 8080, .dport = nat_port, .tcp_flags = TCP_SYN | TCP_ACK,
			       .payload_len = 5 };
	CHECK(host_send(&h, o, &r) == 0, "test run");
	CHECK(out_saddr(&r) == open_node_ip && out_sport(&r) == 30082 && out_daddr(&r) == CLIENT_IP() &&
	      out_dport(&r) == 40002, "reply %08x:%u -> %08x:%u", ntohl(out_saddr(&r)), out_sport(&r),
	      ntohl(out_daddr(&r)), out_dport(&r));
	CHECK(frame_csums_ok(r.out, r.out_len), "checksums after un-SNAT + reverse NAT");
	CHECK(r.ret == TC_ACT_REDIRECT && !memcmp(r.out, MAC_CLIENT, 6), "reply forwarded to the client: ret %d",
	      r.ret);

	/* UDP too */
	CHECK(be_put(&D, 3004, REMOTE(31), 5353, IPPROTO_UDP, BE_STATE_ACTIVE) == 0, "backend");
	ids[0] = 3004;
	CHECK(svc_add(&D, open_node_ip, 30053, IPPROTO_UDP, 43, SVC_F_NODEPORT, 0, 0, ids, 1) == 0, "service");
	CHECK(host_send(&h, from_client(open_node_ip, IPPROTO_UDP, 40003, 30053, 0), &r) == 0, "test run");
	CHECK(out_saddr(&r) == open_node_ip && out_daddr(&r) == REMOTE(31) && out_dport(&r) == 5353 &&
	      out_udp_csum(&r) != 0 && frame_csums_ok(r.out, r.out_len), "UDP NodePort SNAT");
	host_net_teardown();
	bpf_object__close(h.obj);
}

/* Tunnel mode: a remote backend in another node's pod CIDR is SNATed and
 * sent to the VXLAN device. */
static void test_host_nodeport_tunnel(void)
{
	uint32_t ids[] = { 3006 };
	struct host h;
	struct run r;
	struct tunnel_key tk = { .prefixlen = 24, .ip4 = htonl(0x0ac80700) };   /* 10.200.7.0/24 */

	REQUIRE(host_open_tunnel(&h, if_b) == 0, "load %s with TUNNEL_IFINDEX", host_path);
	CHECK(tunnel_put(&D, tk.ip4, 24, htonl(0xc0a83203)) == 0, "tunnel map");
	CHECK(be_put(&D, 3006, htonl(0x0ac80705), 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	CHECK(svc_add(&D, open_node_ip, 30086, IPPROTO_TCP, 46, SVC_F_NODEPORT, 0, 0, ids, 1) == 0, "service");
	CHECK(host_send(&h, from_client(open_node_ip, IPPROTO_TCP, 40010, 30086, TCP_SYN), &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && out_saddr(&r) == open_node_ip && out_daddr(&r) == htonl(0x0ac80705) &&
	      out_dport(&r) == 8080 && frame_csums_ok(r.out, r.out_len) && r.out[14 + 8] == 63,
	      "tunnel: ret %d %08x -> %08x:%u", r.ret, ntohl(out_saddr(&r)), ntohl(out_daddr(&r)), out_dport(&r));
	CHECK(D.nev == 1 && D.ev[0].subtype == TRACE_TO_OVERLAY, "TO_OVERLAY trace");
	/* the node's VXLAN packets (to TUNNEL_PORT) claim no SNAT port */
	{
		struct pkt_opts o = { .smac = MAC_NODE, .dmac = MAC_PEER, .saddr = open_node_ip,
				      .daddr = htonl(0xc0a83203), .proto = IPPROTO_UDP, .sport = 40200, .dport = 8472 };
		struct ct_key4 k = { .saddr = htonl(0xc0a83203), .daddr = open_node_ip, .sport = htons(8472),
				     .dport = htons(40200), .nexthdr = IPPROTO_UDP };
		struct nat4_entry ne;
		uint8_t pkt[PKT_MAX];
		size_t len = build_pkt(pkt, &o);

		CHECK(run_prog(&D, h.to_fd, pkt, len, if_a, &r) == 0 && r.ret == TC_ACT_OK, "to_netdev VXLAN");
		CHECK(bpf_map_lookup_elem(lb_fd(&D, "cilium_snat_v4_ext"), &k, &ne) != 0, "no claim for VXLAN");
	}
	bpf_map_delete_elem(bpf_object__find_map_fd_by_name(D.obj, "cilium_tunnel_map"), &tk);
	bpf_object__close(h.obj);
}

/* 1 if the frame's IPv4 header (any ihl) and TCP/UDP checksums verify. */
static int frame_csums_ok_opts(const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + 14;
	size_t ihl = (size_t)(ip[0] & 0xf) * 4, iplen = (size_t)(ip[2] << 8 | ip[3]), l4len;
	const uint8_t *l4 = ip + ihl;
	uint32_t pseudo;

	if (len < 14 + ihl || ihl < 20 || iplen < ihl || 14 + iplen > len || inet_csum(0, ip, ihl) != 0)
		return 0;
	l4len = iplen - ihl;
	if (ip[9] == IPPROTO_UDP && l4[6] == 0 && l4[7] == 0)
		return 1;
	pseudo = csum_add(0, ip + 12, 8) + ip[9] + l4len;
	return csum_fold(csum_add(pseudo, l4, l4len)) == 0;
}

/* The DSR option of an output frame, if its header has one right after the 20 bytes. */
static int out_dsr_opt(const struct run *r, uint32_t *addr, uint16_t *port)
{
	const uint8_t *ip = r->out + 14;

	if (r->out_len < 14 + 28 || (ip[0] & 0xf) != 7 || ip[20] != DSR_IPV4_OPT_TYPE || ip[21] != DSR_IPV4_OPT_LEN)
		return 0;
	memcpy(port, ip + 22, 2);
	memcpy(addr, ip + 24, 4);
	return 1;
}

/* DSR (SVC_F2_DSR): NodePort to a remote backend keeps the client address,
 * no SNAT; the SYN (and every UDP packet) carries the frontend in the IPv4
 * option after a 20-byte header, checksums valid; later TCP packets go
 * without it. Through the tunnel it falls back to SNAT. */
static void test_host_nodeport_dsr(void)
{
	uint32_t ids[] = { 3007 }, ids_udp[] = { 3008 }, addr = 0;
	uint16_t port = 0;
	struct ct_entry e;
	struct host h;
	struct run r;
	int i;

	REQUIRE(host_open(&h) == 0, "load %s", host_path);
	CHECK(host_net_setup() == 0, "test network");
	CHECK(be_put(&D, 3007, REMOTE(32), 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	CHECK(svc_add(&D, open_node_ip, 30087, IPPROTO_TCP, 47, SVC_F_NODEPORT, SVC_F2_DSR, 0, ids, 1) == 0, "service");

	CHECK(host_send(&h, from_client(open_node_ip, IPPROTO_TCP, 40020, 30087, TCP_SYN), &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && !memcmp(r.out, MAC_PEER, 6), "forwarded to the backend's node: ret %d", r.ret);
	CHECK(out_saddr(&r) == CLIENT_IP() && out_daddr(&r) == REMOTE(32), "DSR keeps the client: %08x -> %08x",
	      ntohl(out_saddr(&r)), ntohl(out_daddr(&r)));
	CHECK(out_dsr_opt(&r, &addr, &port) && addr == open_node_ip && port == htons(30087),
	      "DSR option: %08x:%u", ntohl(addr), ntohs(port));
	CHECK(r.out_len == 14 + 28 + 20 + 11 && (r.out[16] << 8 | r.out[17]) == 28 + 20 + 11 &&
	      r.out[14 + 28 + 2] == 0x1f && r.out[14 + 28 + 3] == 0x90 && frame_csums_ok_opts(r.out, r.out_len),
	      "IPv4 header with the option: len %u, tot_len %u, checksums", r.out_len, r.out[16] << 8 | r.out[17]);
	CHECK(ct_get(&D, CLIENT_IP(), REMOTE(32), 40020, 8080, IPPROTO_TCP, &e) == 0 && (e.flags & CT_F_DSR) &&
	      e.rev_nat_index == 47, "CT entry with CT_F_DSR: flags %u", e.flags);
	/* the handshake's ACK and data: no option, still no SNAT, same backend */
	for (i = 0; i < 2; i++) {
		CHECK(host_send(&h, from_client(open_node_ip, IPPROTO_TCP, 40020, 30087, TCP_ACK), &r) == 0, "test run");
		CHECK(r.ret == TC_ACT_REDIRECT && (r.out[14] & 0xf) == 5 && out_saddr(&r) == CLIENT_IP() &&
		      out_daddr(&r) == REMOTE(32) && out_dport(&r) == 8080 && frame_csums_ok(r.out, r.out_len),
		      "ACK %d: ihl %u %08x -> %08x", i, r.out[14] & 0xf, ntohl(out_saddr(&r)), ntohl(out_daddr(&r)));
	}
	CHECK(ct_get(&D, CLIENT_IP(), REMOTE(32), 40020, 8080, IPPROTO_TCP, &e) == 0 && e.state == CT_TCP_ESTABLISHED,
	      "the client's ACK establishes the DSR connection: state %u", e.state);

	/* UDP: the option on every datagram */
	CHECK(be_put(&D, 3008, REMOTE(33), 5353, IPPROTO_UDP, BE_STATE_ACTIVE) == 0, "backend");
	CHECK(svc_add(&D, 0, 30088, IPPROTO_UDP, 48, SVC_F_NODEPORT, SVC_F2_DSR, 0, ids_udp, 1) == 0, "service");
	for (i = 0; i < 2; i++) {
		CHECK(host_send(&h, from_client(open_node_ip, IPPROTO_UDP, 40021, 30088, 0), &r) == 0, "test run");
		CHECK(r.ret == TC_ACT_REDIRECT && out_saddr(&r) == CLIENT_IP() && out_dsr_opt(&r, &addr, &port) &&
		      addr == open_node_ip && port == htons(30088) && frame_csums_ok_opts(r.out, r.out_len),
		      "UDP datagram %d: DSR option (wildcard frontend -> the node's address)", i);
	}
	host_net_teardown();
	bpf_object__close(h.obj);
}

/* The backend's node: the request with the option enters the pod
 * (cil_to_container) and is recorded; the pod's reply leaves
 * (cil_from_container) with the frontend as its source, forwarded by FIB
 * straight to the client. A reply of a connection without the option is
 * untouched. */
static void test_lxc_dsr_backend(void)
{
	uint32_t fe = htonl(0xc0a83207);        /* 192.168.50.7: the LB node */
	uint8_t pkt[PKT_MAX], opt[8] = { DSR_IPV4_OPT_TYPE, DSR_IPV4_OPT_LEN, 0x75, 0x97 /* 30103 */ };
	struct ct_key4 k = { .saddr = IP_B, .daddr = CLIENT_IP(), .sport = htons(8080), .dport = htons(40030),
			     .nexthdr = IPPROTO_TCP, .flags = CT_KEY_F_DSR };
	struct nat4_entry ne;
	struct pkt_opts o;
	struct ct_entry e;
	struct run r;
	size_t len;
	uint8_t *ip = pkt + 14;
	uint16_t tot;

	memcpy(opt + 4, &fe, 4);
	CHECK(host_net_setup() == 0, "test network");
	/* client -> B:8080 as the LB node sends it: the SYN with the option */
	o = (struct pkt_opts){ .smac = MAC_PEER, .dmac = NODE_MAC_B, .saddr = CLIENT_IP(), .daddr = IP_B,
			       .proto = IPPROTO_TCP, .sport = 40030, .dport = 8080, .tcp_flags = TCP_SYN,
			       .payload_len = 3 };
	len = build_pkt(pkt, &o);
	memmove(ip + 28, ip + 20, len - 14 - 20);
	memcpy(ip + 20, opt, 8);
	len += 8;
	ip[0] = 0x47;
	tot = (uint16_t)(ip[2] << 8 | ip[3]) + 8;
	ip[2] = tot >> 8;
	ip[3] = tot & 0xff;
	ip[10] = ip[11] = 0;
	{
		uint16_t c = inet_csum(0, ip, 28);

		memcpy(ip + 10, &c, 2);
	}
	REQUIRE(frame_csums_ok_opts(pkt, len), "test frame checksums");
	events_reset(&D);
	CHECK(run_prog(&D, D.to_fd, pkt, len, if_b, &r) == 0 && r.ret == TC_ACT_OK, "to_container: ret %d", r.ret);
	CHECK(bpf_map_lookup_elem(lb_fd(&D, "cilium_snat_v4_ext"), &k, &ne) == 0 && ne.to_addr == fe &&
	      ne.to_port == htons(30103), "DSR row: %08x:%u", ntohl(ne.to_addr), ntohs(ne.to_port));
	CHECK(ct_get(&D, CLIENT_IP(), IP_B, 40030, 8080, IPPROTO_TCP, &e) == 0 && (e.flags & CT_F_DSR),
	      "CT_F_DSR on the backend's connection");

	/* the pod's SYN-ACK: source -> the frontend, straight to the client */
	o = (struct pkt_opts){ .smac = MAC_B, .dmac = NODE_MAC_B, .saddr = IP_B, .daddr = CLIENT_IP(),
			       .proto = IPPROTO_TCP, .sport = 8080, .dport = 40030, .tcp_flags = TCP_SYN | TCP_ACK };
	len = build_pkt(pkt, &o);
	events_reset(&D);
	CHECK(run_prog(&D, D.from_fd, pkt, len, if_b, &r) == 0, "test run");
	CHECK(out_saddr(&r) == fe && out_sport(&r) == 30103 && out_daddr(&r) == CLIENT_IP() &&
	      frame_csums_ok(r.out, r.out_len), "reply %08x:%u -> %08x", ntohl(out_saddr(&r)), out_sport(&r),
	      ntohl(out_daddr(&r)));
	CHECK(r.ret == TC_ACT_REDIRECT && !memcmp(r.out, MAC_CLIENT, 6), "reply forwarded to the client: ret %d", r.ret);

	/* the port reused, after the DSR connection closed, by a connection without the option */
	{
		struct ct_key4 ck = { .saddr = CLIENT_IP(), .daddr = IP_B, .sport = htons(40030), .dport = htons(8080),
				      .nexthdr = IPPROTO_TCP };

		REQUIRE(bpf_map_lookup_elem(D.ct_fd, &ck, &e) == 0, "CT entry");
		e.state = CT_TCP_CLOSE;
		REQUIRE(bpf_map_update_elem(D.ct_fd, &ck, &e, BPF_ANY) == 0, "CT update");
		o = (struct pkt_opts){ .smac = MAC_PEER, .dmac = NODE_MAC_B, .saddr = CLIENT_IP(), .daddr = IP_B,
				       .proto = IPPROTO_TCP, .sport = 40030, .dport = 8080, .tcp_flags = TCP_SYN };
		len = build_pkt(pkt, &o);
		CHECK(run_prog(&D, D.to_fd, pkt, len, if_b, &r) == 0 && r.ret == TC_ACT_OK, "to_container");
		CHECK(bpf_map_lookup_elem(D.ct_fd, &ck, &e) == 0 && !(e.flags & CT_F_DSR), "CT_F_DSR cleared on reuse");
		o = (struct pkt_opts){ .smac = MAC_B, .dmac = NODE_MAC_B, .saddr = IP_B, .daddr = CLIENT_IP(),
				       .proto = IPPROTO_TCP, .sport = 8080, .dport = 40030, .tcp_flags = TCP_SYN | TCP_ACK };
		len = build_pkt(pkt, &o);
		CHECK(run_prog(&D, D.from_fd, pkt, len, if_b, &r) == 0 && out_saddr(&r) == IP_B && out_sport(&r) == 8080,
		      "reply of the reused port untouched: %08x:%u", ntohl(out_saddr(&r)), out_sport(&r));
	}

	/* a connection that came without the option: its reply keeps the pod's address */
	o = (struct pkt_opts){ .smac = MAC_PEER, .dmac = NODE_MAC_B, .saddr = CLIENT_IP(), .daddr = IP_B,
			       .proto = IPPROTO_TCP, .sport = 40031, .dport = 8080, .tcp_flags = TCP_SYN };
	len = build_pkt(pkt, &o);
	CHECK(run_prog(&D, D.to_fd, pkt, len, if_b, &r) == 0 && r.ret == TC_ACT_OK, "to_container");
	o = (struct pkt_opts){ .smac = MAC_B, .dmac = NODE_MAC_B, .saddr = IP_B, .daddr = CLIENT_IP(),
			       .proto = IPPROTO_TCP, .sport = 8080, .dport = 40031, .tcp_flags = TCP_SYN | TCP_ACK };
	len = build_pkt(pkt, &o);
	CHECK(run_prog(&D, D.from_fd, pkt, len, if_b, &r) == 0 && out_saddr(&r) == IP_B && out_sport(&r) == 8080,
	      "plain reply untouched: %08x:%u", ntohl(out_saddr(&r)), out_sport(&r));
	host_net_teardown();
}

/* The node's own connections in the SNAT port range: cil_to_netdev claims
 * the port (identity row); NodePort SNAT towards that remote never takes it,
 * and the replies are left to the stack. */
static void test_host_snat_range_local_ports(void)
{
	struct ct_key4 k = { .saddr = REMOTE(34), .daddr = open_node_ip, .sport = htons(8080), .dport = htons(40100),
			     .nexthdr = IPPROTO_TCP };
	uint8_t pkt[PKT_MAX];
	struct nat4_entry ne;
	struct pkt_opts o;
	struct host h;
	struct run r;
	size_t len;

	REQUIRE(host_open(&h) == 0, "load %s", host_path);
	/* the node connects from NODE_IP:40100 (ephemeral, in the SNAT range) to REMOTE(34):8080 */
	o = (struct pkt_opts){ .smac = MAC_NODE, .dmac = MAC_PEER, .saddr = open_node_ip, .daddr = REMOTE(34),
			       .proto = IPPROTO_TCP, .sport = 40100, .dport = 8080, .tcp_flags = TCP_SYN };
	len = build_pkt(pkt, &o);
	CHECK(run_prog(&D, h.to_fd, pkt, len, if_a, &r) == 0 && r.ret == TC_ACT_OK && r.out_len == len &&
	      !memcmp(r.out, pkt, len), "to_netdev passes the node's packet unchanged");
	CHECK(bpf_map_lookup_elem(lb_fd(&D, "cilium_snat_v4_ext"), &k, &ne) == 0 && ne.to_addr == open_node_ip &&
	      ne.to_port == htons(40100), "identity row claims the port");
	/* the reply is the stack's */
	o = (struct pkt_opts){ .smac = MAC_PEER, .dmac = MAC_NODE, .saddr = REMOTE(34), .daddr = open_node_ip,
			       .proto = IPPROTO_TCP, .sport = 8080, .dport = 40100, .tcp_flags = TCP_SYN | TCP_ACK };
	CHECK(host_send(&h, o, &r) == 0 && r.ret == TC_ACT_OK && out_daddr(&r) == open_node_ip &&
	      out_dport(&r) == 40100 && D.nev == 0, "reply to the node's connection: ret %d", r.ret);
	/* a port below the range is not tracked */
	k.dport = htons(30000);
	o = (struct pkt_opts){ .smac = MAC_NODE, .dmac = MAC_PEER, .saddr = open_node_ip, .daddr = REMOTE(34),
			       .proto = IPPROTO_TCP, .sport = 30000, .dport = 8080, .tcp_flags = TCP_SYN };
	len = build_pkt(pkt, &o);
	CHECK(run_prog(&D, h.to_fd, pkt, len, if_a, &r) == 0 && r.ret == TC_ACT_OK, "to_netdev");
	CHECK(bpf_map_lookup_elem(lb_fd(&D, "cilium_snat_v4_ext"), &k, &ne) != 0, "no row below the range");
	/* a stale NodePort row on the port: a later ACK of the node leaves it, a new SYN takes it over */
	k.dport = htons(40101);
	ne = (struct nat4_entry){ .to_addr = CLIENT_IP(), .to_port = htons(40999) };
	REQUIRE(bpf_map_update_elem(lb_fd(&D, "cilium_snat_v4_ext"), &k, &ne, BPF_ANY) == 0, "stale row");
	o = (struct pkt_opts){ .smac = MAC_NODE, .dmac = MAC_PEER, .saddr = open_node_ip, .daddr = REMOTE(34),
			       .proto = IPPROTO_TCP, .sport = 40101, .dport = 8080, .tcp_flags = TCP_ACK };
	len = build_pkt(pkt, &o);
	CHECK(run_prog(&D, h.to_fd, pkt, len, if_a, &r) == 0 && r.ret == TC_ACT_OK, "to_netdev");
	CHECK(bpf_map_lookup_elem(lb_fd(&D, "cilium_snat_v4_ext"), &k, &ne) == 0 && ne.to_addr == CLIENT_IP(),
	      "an ACK does not take a NodePort row over");
	o.tcp_flags = TCP_SYN;
	len = build_pkt(pkt, &o);
	CHECK(run_prog(&D, h.to_fd, pkt, len, if_a, &r) == 0 && r.ret == TC_ACT_OK, "to_netdev");
	CHECK(bpf_map_lookup_elem(lb_fd(&D, "cilium_snat_v4_ext"), &k, &ne) == 0 && ne.to_addr == open_node_ip &&
	      ne.to_port == htons(40101), "the node's SYN takes the stale row over");
	bpf_object__close(h.obj);
}

/* No backend: DROP_NO_SERVICE + ICMP back out; a ClusterIP, eTP=Local
 * without local backends (count 0 in the EXT row) and plain node traffic. */
static void test_host_no_backend(void)
{
	uint8_t pkt[PKT_MAX];
	char why[128] = "";
	struct pkt_opts o;
	struct host h;
	struct run r;
	size_t len;
	uint32_t ids[] = { 3005 };

	REQUIRE(host_open(&h) == 0, "load %s", host_path);
	CHECK(svc_add(&D, open_node_ip, 30084, IPPROTO_TCP, 44, SVC_F_NODEPORT | SVC_F_EXT_LOCAL, 0, 0, NULL, 0) == 0,
	      "service");
	o = from_client(open_node_ip, IPPROTO_TCP, 40004, 30084, TCP_SYN);
	len = build_pkt(pkt, &o);
	events_reset(&D);
	CHECK(run_prog(&D, h.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && icmp_unreach_ok(&r, pkt, why, sizeof(why)), "ICMP answer: ret %d %s", r.ret,
	      why);
	CHECK(D.nev == 1 && D.ev[0].type == EVENT_DROP && D.ev[0].subtype == DROP_NO_SERVICE &&
	      D.ev[0].dir == EV_DIR_INGRESS && D.ev[0].daddr == open_node_ip, "drop event");

	/* a ClusterIP is not served to the outside */
	CHECK(be_put(&D, 3005, IP_B, 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	CHECK(svc_add(&D, VIP(40), 80, IPPROTO_TCP, 45, SVC_F_CLUSTERIP, 0, 0, ids, 1) == 0, "service");
	CHECK(host_send(&h, from_client(VIP(40), IPPROTO_TCP, 40005, 80, TCP_SYN), &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK && out_daddr(&r) == VIP(40) && D.nev == 0, "ClusterIP from outside: ret %d", r.ret);
	/* the node's own traffic: untouched, no events */
	CHECK(host_send(&h, from_client(open_node_ip, IPPROTO_TCP, 40006, 22, TCP_SYN), &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK && out_daddr(&r) == open_node_ip && out_dport(&r) == 22 && D.nev == 0, "ssh");
	CHECK(host_send(&h, from_client(open_node_ip, IPPROTO_UDP, 40007, 40000, 0), &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK && D.nev == 0, "UDP to a SNAT-range port without mapping");
	CHECK(run_prog(&D, h.to_fd, pkt, len, if_a, &r) == 0 && r.ret == TC_ACT_OK, "to_netdev");
	bpf_object__close(h.obj);
}

/* ------------------------------------------------------- socket LB, live */

static int sock_open(struct bpf_object **out, const char *pin_root)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_root);
	struct bpf_object *obj = bpf_object__open_file(sock_path, &oo);
	int err;

	if (!obj)
		return -errno;
	if ((err = bpf_object__load(obj))) {
		bpf_object__close(obj);
		return err;
	}
	*out = obj;
	return 0;
}

static uint32_t map_id(int fd)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

static void lb_fail(int fd, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 3)
		n = sizeof(buf) - 3;
	n += snprintf(buf + n, 3, ": ");
	if (write(fd, buf, n) != n)
		return;
	snprintf(buf, sizeof(buf), "%s; ", strerror(errno));
	if (write(fd, buf, strlen(buf)) < 0)
		return;
}

static int sa_is(const struct sockaddr_in *sa, uint32_t ip, uint16_t port)
{
	return sa->sin_family == AF_INET && sa->sin_addr.s_addr == ip && sa->sin_port == htons(port);
}

/* The child inside the cgroup: TCP and UDP to the VIP, EPERM for the empty
 * one. Writes what failed to out_fd; exits 0 if nothing did. */
static void sock_child(const char *procs, int out_fd, uint32_t vip, uint32_t vip_empty, uint16_t tport,
		       uint16_t uport)
{
	struct sockaddr_in vsa = { .sin_family = AF_INET, .sin_port = htons(80), .sin_addr.s_addr = vip };
	struct sockaddr_in esa = { .sin_family = AF_INET, .sin_port = htons(80), .sin_addr.s_addr = vip_empty };
	struct sockaddr_in tsa = { .sin_family = AF_INET, .sin_port = htons(tport), .sin_addr.s_addr = htonl(0x7f000001) };
	struct sockaddr_in usa = { .sin_family = AF_INET, .sin_port = htons(uport), .sin_addr.s_addr = htonl(0x7f000001) };
	struct sockaddr_in peer, from;
	struct timeval tv = { .tv_sec = 5 };
	socklen_t sl;
	int fails = 0, one = 1, fd, ls, us, cs, as;
	char buf[16], pid[16];

	alarm(20);
	fd = open(procs, O_WRONLY);
	snprintf(pid, sizeof(pid), "%d", getpid());
	if (fd < 0 || write(fd, pid, strlen(pid)) < 0) {
		lb_fail(out_fd, "join cgroup");
		_exit(1);
	}
	close(fd);

	/* backends: listeners on loopback (setup, no hooks involved) */
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	us = socket(AF_INET, SOCK_DGRAM, 0);
	if (ls < 0 || us < 0 || bind(ls, (struct sockaddr *)&tsa, sizeof(tsa)) || listen(ls, 8) ||
	    bind(us, (struct sockaddr *)&usa, sizeof(usa))) {
		lb_fail(out_fd, "backend listeners");
		_exit(1);
	}
	setsockopt(us, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	/* TCP to the VIP */
	cs = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(cs, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(cs, (struct sockaddr *)&vsa, sizeof(vsa))) {
		lb_fail(out_fd, "TCP connect to the VIP");
		fails++;
	} else {
		sl = sizeof(peer);
		if (getpeername(cs, (struct sockaddr *)&peer, &sl) || !sa_is(&peer, vip, 80)) {
			errno = 0;
			lb_fail(out_fd, "TCP getpeername %08x:%u, want the VIP", ntohl(peer.sin_addr.s_addr),
				ntohs(peer.sin_port));
			fails++;
		}
		as = accept(ls, NULL, NULL);
		if (as < 0 || write(cs, "hi", 2) != 2 || read(as, buf, sizeof(buf)) != 2) {
			lb_fail(out_fd, "TCP exchange with the backend");
			fails++;
		}
		if (as >= 0)
			close(as);
	}
	close(cs);

	/* unconnected UDP: sendto the VIP, the reply comes from the VIP */
	cs = socket(AF_INET, SOCK_DGRAM, 0);
	setsockopt(cs, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	sl = sizeof(from);
	if (sendto(cs, "ping", 4, 0, (struct sockaddr *)&vsa, sizeof(vsa)) != 4 ||
	    recvfrom(us, buf, sizeof(buf), 0, (struct sockaddr *)&from, &sl) != 4 ||
	    sendto(us, "pong", 4, 0, (struct sockaddr *)&from, sl) != 4) {
		lb_fail(out_fd, "UDP to the VIP reaching the backend");
		fails++;
	} else {
		sl = sizeof(from);
		memset(&from, 0, sizeof(from));
		if (recvfrom(cs, buf, sizeof(buf), 0, (struct sockaddr *)&from, &sl) != 4) {
			lb_fail(out_fd, "UDP reply");
			fails++;
		} else if (!sa_is(&from, vip, 80)) {
			errno = 0;
			lb_fail(out_fd, "UDP reply from %08x:%u, want the VIP", ntohl(from.sin_addr.s_addr),
				ntohs(from.sin_port));
			fails++;
		}
	}
	close(cs);

	/* connected UDP: getpeername says the VIP */
	cs = socket(AF_INET, SOCK_DGRAM, 0);
	sl = sizeof(peer);
	if (connect(cs, (struct sockaddr *)&vsa, sizeof(vsa)) || send(cs, "x", 1, 0) != 1 ||
	    recvfrom(us, buf, sizeof(buf), 0, NULL, NULL) != 1 ||
	    getpeername(cs, (struct sockaddr *)&peer, &sl) || !sa_is(&peer, vip, 80)) {
		lb_fail(out_fd, "connected UDP to the VIP (peer %08x:%u)", ntohl(peer.sin_addr.s_addr),
			ntohs(peer.sin_port));
		fails++;
	}
	close(cs);

	/* no backend: refused at once with EPERM, TCP and UDP */
	cs = socket(AF_INET, SOCK_STREAM, 0);
	errno = 0;
	if (connect(cs, (struct sockaddr *)&esa, sizeof(esa)) == 0 || errno != EPERM) {
		lb_fail(out_fd, "TCP connect to a VIP without backends: want EPERM");
		fails++;
	}
	close(cs);

	/* not a service: untouched */
	cs = socket(AF_INET, SOCK_STREAM, 0);
	sl = sizeof(peer);
	if (connect(cs, (struct sockaddr *)&tsa, sizeof(tsa)) ||
	    getpeername(cs, (struct sockaddr *)&peer, &sl) || !sa_is(&peer, htonl(0x7f000001), tport)) {
		lb_fail(out_fd, "plain connect to 127.0.0.1:%u", tport);
		fails++;
	}
	close(cs);
	_exit(fails ? 2 : 0);
}

static void unpin_all(const char *root)
{
	DIR *d = opendir(root);
	struct dirent *de;
	char path[512];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", root, de->d_name);
		unlink(path);
	}
	closedir(d);
}

/* bpf_sock.o on a cgroup2 directory of ours, sharing bpf_lxc.o's maps through
 * pins in a private bpffs: a child in that cgroup talks to VIPs. */
static void test_sock_lb_live(void)
{
	static const char *progs[] = { "cil_sock4_connect", "cil_sock4_sendmsg", "cil_sock4_recvmsg",
				       "cil_sock4_getpeername" };
	char root[] = "/tmp/cts-bpffs-XXXXXX", cg[128], procs[160], msg[1024];
	const uint32_t vip = htonl(0x0a604d01), vip_empty = htonl(0x0a604d02);     /* 10.96.77.1, .2 */
	uint16_t tport = 20000 + (rand() % 20000), uport = tport + 1;
	uint32_t id_t = 2001, id_u = 2002;
	struct bpf_link *links[4] = {};
	struct bpf_object *so = NULL;
	struct dp d = {};
	int cgfd = -1, p[2] = { -1, -1 }, err, i, st, drops = 0;
	bool mounted = false, dp_ok = false;
	ssize_t n;
	pid_t pid;

	REQUIRE(mkdtemp(root), "mkdtemp: %s", strerror(errno));
	snprintf(cg, sizeof(cg), "/sys/fs/cgroup/unified/cts-bpftest-%d-%06x", getpid(), rand() & 0xffffff);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
	if (mount("bpf", root, "bpf", 0, NULL)) {
		CHECK(0, "mount bpffs at %s: %s", root, strerror(errno));
		goto out;
	}
	mounted = true;
	err = dp_open(&d, -1, root);
	if (err) {
		CHECK(0, "load bpf_lxc.o pinned: %s", strerror(-err));
		goto out;
	}
	dp_ok = true;
	err = sock_open(&so, root);
	if (err) {
		CHECK(0, "load %s: %s", sock_path, strerror(-err));
		goto out;
	}
	{
		const char *shared[] = { "cilium_lb4_services_v2", "cilium_lb4_backends_v3", "cilium_lb4_sk_rnat",
					 "cilium_events", "cilium_lb4_affinity" };

		for (i = 0; i < 5; i++)
			CHECK(map_id(bpf_object__find_map_fd_by_name(so, shared[i])) == map_id(lb_fd(&d, shared[i])),
			      "%s not shared through its pin", shared[i]);
	}
	CHECK(sh("ip link set lo up") == 0, "lo up");
	if (be_put(&d, id_t, htonl(0x7f000001), tport, IPPROTO_TCP, BE_STATE_ACTIVE) ||
	    be_put(&d, id_u, htonl(0x7f000001), uport, IPPROTO_UDP, BE_STATE_ACTIVE) ||
	    svc_add(&d, vip, 80, IPPROTO_TCP, 31, SVC_F_CLUSTERIP, 0, 0, &id_t, 1) ||
	    svc_add(&d, vip, 80, IPPROTO_UDP, 32, SVC_F_CLUSTERIP, 0, 0, &id_u, 1) ||
	    svc_add(&d, vip_empty, 80, IPPROTO_TCP, 33, SVC_F_CLUSTERIP, 0, 0, NULL, 0)) {
		CHECK(0, "fill LB maps: %s", strerror(errno));
		goto out;
	}
	if (mkdir(cg, 0755) || (cgfd = open(cg, O_RDONLY | O_DIRECTORY)) < 0) {
		CHECK(0, "cgroup %s: %s", cg, strerror(errno));
		goto out;
	}
	for (i = 0; i < 4; i++) {
		struct bpf_program *prog = bpf_object__find_program_by_name(so, progs[i]);

		links[i] = prog ? bpf_program__attach_cgroup(prog, cgfd) : NULL;
		if (!links[i]) {
			CHECK(0, "attach %s to %s: %s", progs[i], cg, strerror(errno));
			goto out;
		}
	}
	REQUIRE(pipe(p) == 0, "pipe");
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		sock_child(procs, p[1], vip, vip_empty, tport, uport);
	}
	close(p[1]);
	p[1] = -1;
	n = read(p[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = 0;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: status %d: %s", st, msg);

	ring_buffer__consume(d.rb);
	for (i = 0; i < d.nev; i++)
		drops += d.ev[i].type == EVENT_DROP && d.ev[i].subtype == DROP_NO_SERVICE && d.ev[i].daddr == vip_empty &&
			 d.ev[i].dport == htons(80) && d.ev[i].l4_proto == IPPROTO_TCP;
	CHECK(drops == 1, "%d DROP_NO_SERVICE events for the empty VIP (%d events)", drops, d.nev);
	CHECK(metric_packets(&d, DROP_NO_SERVICE, EV_DIR_EGRESS) == 1, "drop metric");
out:
	if (p[0] >= 0)
		close(p[0]);
	for (i = 0; i < 4; i++)
		if (links[i])
			bpf_link__destroy(links[i]);
	if (cgfd >= 0) {
		close(cgfd);
		CHECK(rmdir(cg) == 0, "rmdir %s: %s", cg, strerror(errno));
	}
	if (so)
		bpf_object__close(so);
	if (dp_ok)
		dp_close(&d);
	if (mounted) {
		unpin_all(root);
		CHECK(umount(root) == 0, "umount %s: %s", root, strerror(errno));
	}
	rmdir(root);
}

#endif
