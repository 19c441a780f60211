/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ICMP errors about load-balanced / SNATed connections, and IPv4 fragments
 * of service traffic (included by bpf_tests.c after lb_tests.h).
 */
#ifndef __CILIUM_TS_TEST_ICMP_FRAG_H
#define __CILIUM_TS_TEST_ICMP_FRAG_H

/* An ICMP error frame smac/dmac, outer saddr -> daddr, type/code, quoting the
 * first quote_len bytes of the IPv4 packet in frame q (0: all of it). */
static size_t build_icmp_err(uint8_t *buf, const uint8_t *smac, const uint8_t *dmac, uint32_t saddr,
			     uint32_t daddr, uint8_t type, uint8_t code, const uint8_t *q, size_t qlen,
			     size_t quote_len)
{
	struct pkt_opts o = { .smac = smac, .dmac = dmac, .saddr = saddr, .daddr = daddr, .proto = IPPROTO_ICMP,
			      .icmp_type = type, .icmp_code = code };
	size_t ipl = qlen - 14, n;

	if (quote_len && quote_len < ipl)
		ipl = quote_len;
	o.payload = q + 14;
	o.payload_len = (int)ipl;
	n = build_pkt(buf, &o);
	if (type == 3 && code == 4)             /* next-hop MTU 1000, checksum again */
	{
		uint8_t *icmp = buf + 34;
		uint16_t c;

		put16(icmp + 6, 1000);
		icmp[2] = icmp[3] = 0;
		c = inet_csum(0, icmp, n - 34);
		memcpy(icmp + 2, &c, 2);
	}
	return n;
}

/* The quote of an ICMP error frame. */
static const uint8_t *quote_of(const struct run *r) { return r->out + 34 + 8; }
static uint32_t q_saddr(const struct run *r) { uint32_t a; memcpy(&a, quote_of(r) + 12, 4); return a; }
static uint32_t q_daddr(const struct run *r) { uint32_t a; memcpy(&a, quote_of(r) + 16, 4); return a; }
static uint16_t q_sport(const struct run *r) { return (uint16_t)(quote_of(r)[20] << 8 | quote_of(r)[21]); }
static uint16_t q_dport(const struct run *r) { return (uint16_t)(quote_of(r)[22] << 8 | quote_of(r)[23]); }

/*
 * 1 if every checksum of the ICMP error frame verifies, recomputed from
 * scratch: outer IPv4, ICMP (whole message), the quote's IPv4 header and,
 * when the quote holds the whole datagram, its TCP/UDP checksum
 * (pseudo-header included; UDP 0 = none).
 */
static int icmp_err_csums_ok(const struct run *r, char *why, size_t wl)
{
	const uint8_t *f = r->out, *icmp = f + 34, *q = icmp + 8, *ql4 = q + 20;
	size_t iplen = (size_t)(f[16] << 8 | f[17]), qtot, have;
	uint32_t pseudo;

	if (r->out_len < 34 + 8 + 28 || 14 + iplen > r->out_len)
		return snprintf(why, wl, "length %u", r->out_len), 0;
	if (!ipv4_csum_ok(f))
		return snprintf(why, wl, "outer IPv4 checksum"), 0;
	if (csum_fold(csum_add(0, icmp, iplen - 20)) != 0)
		return snprintf(why, wl, "ICMP checksum"), 0;
	if (csum_fold(csum_add(0, q, 20)) != 0)
		return snprintf(why, wl, "quoted IPv4 checksum"), 0;
	qtot = (size_t)(q[2] << 8 | q[3]);
	have = iplen - 20 - 8;
	if (have < qtot)
		return 1;               /* the quote is cut: its L4 checksum cannot be checked from scratch */
	if (q[9] == IPPROTO_UDP && ql4[6] == 0 && ql4[7] == 0)
		return 1;
	pseudo = csum_add(0, q + 12, 8) + q[9] + (qtot - 20);
	if (csum_fold(csum_add(pseudo, ql4, qtot - 20)) != 0)
		return snprintf(why, wl, "quoted L4 checksum"), 0;
	return 1;
}

/* bpf_lxc: a local backend's port unreachable (from_container) and a router's
 * "fragmentation needed" / the backend's "time exceeded" reaching the client
 * through the stack (to_container): the quote's destination is the frontend
 * again, the outer source too when it was the backend; checksums verify. */
static void test_lb_icmp_error_rev_nat(void)
{
	uint32_t ids_udp[] = { 1401 }, ids_tcp[] = { 1402 };
	uint32_t ROUTER = htonl(0x0ac80909);    /* 10.200.9.9: a router on the way */
	uint8_t q[PKT_MAX], pkt[PKT_MAX];
	char why[128] = "";
	struct pkt_opts o;
	struct run r;
	size_t qlen, len;
	int i;

	REQUIRE(be_put(&D, 1401, IP_B, 5399, IPPROTO_UDP, BE_STATE_ACTIVE) == 0, "backend");
	REQUIRE(be_put(&D, 1402, REMOTE(41), 9090, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	REQUIRE(svc_add(&D, VIP(40), 53, IPPROTO_UDP, 140, SVC_F_CLUSTERIP, 0, 0, ids_udp, 1) == 0, "service");
	REQUIRE(svc_add(&D, VIP(41), 443, IPPROTO_TCP, 141, SVC_F_CLUSTERIP, 0, 0, ids_tcp, 1) == 0, "service");

	/* UDP A -> VIP:53, DNATed to B:5399; B has no socket there */
	o = (struct pkt_opts){ .smac = MAC_A, .dmac = NODE_MAC_A, .saddr = IP_A, .daddr = VIP(40),
			       .proto = IPPROTO_UDP, .sport = 5400, .dport = 53, .payload_len = 21 };
	REQUIRE(lb_send(o, &r) == 0, "test run");
	REQUIRE(out_daddr(&r) == IP_B && out_dport(&r) == 5399, "DNAT");
	memcpy(q, r.out, r.out_len);
	qlen = r.out_len;
	for (i = 0; i < 2; i++) {
		/* whole datagram quoted (Linux), then only 8 L4 bytes (RFC 792) */
		len = build_icmp_err(pkt, MAC_B, NODE_MAC_B, IP_B, IP_A, 3, 3, q, qlen, i ? 28 : 0);
		events_reset(&D);
		REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_b, &r) == 0, "test run");
		CHECK(r.ret == TC_ACT_REDIRECT && !memcmp(r.out, MAC_A, 6), "ret %d: to A", r.ret);
		CHECK(out_saddr(&r) == VIP(40) && out_daddr(&r) == IP_A, "outer %08x -> %08x", ntohl(out_saddr(&r)),
		      ntohl(out_daddr(&r)));
		CHECK(q_saddr(&r) == IP_A && q_sport(&r) == 5400 && q_daddr(&r) == VIP(40) && q_dport(&r) == 53,
		      "quote %08x:%u -> %08x:%u", ntohl(q_saddr(&r)), q_sport(&r), ntohl(q_daddr(&r)), q_dport(&r));
		CHECK(icmp_err_csums_ok(&r, why, sizeof(why)), "quote %d: %s", i, why);
		CHECK(r.out[34] == 3 && r.out[35] == 3, "type/code");
		CHECK(D.nev == 1 && D.ev[0].type == EVENT_TRACE && D.ev[0].ct_state == EV_CT_RELATED &&
		      D.ev[0].l4_proto == IPPROTO_ICMP && D.ev[0].saddr == VIP(40) && D.ev[0].icmp_type == 3,
		      "RELATED trace: %d events", D.nev);
	}

	/* TCP A -> VIP:443 -> REMOTE:9090 through the stack; a router answers
	 * "fragmentation needed", the backend "time exceeded" */
	REQUIRE(lb_send(tcp_a_to(VIP(41), 47100, 443, TCP_SYN), &r) == 0, "test run");
	REQUIRE(out_daddr(&r) == REMOTE(41) && out_dport(&r) == 9090, "DNAT");
	memcpy(q, r.out, r.out_len);
	qlen = r.out_len;
	len = build_icmp_err(pkt, NODE_MAC_A, MAC_A, ROUTER, IP_A, 3, 4, q, qlen, 0);
	events_reset(&D);
	REQUIRE(run_prog(&D, D.to_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK, "ret %d", r.ret);
	CHECK(out_saddr(&r) == ROUTER && out_daddr(&r) == IP_A, "outer source changed: %08x", ntohl(out_saddr(&r)));
	CHECK(q_daddr(&r) == VIP(41) && q_dport(&r) == 443 && q_saddr(&r) == IP_A && q_sport(&r) == 47100,
	      "quote %08x:%u", ntohl(q_daddr(&r)), q_dport(&r));
	CHECK(icmp_err_csums_ok(&r, why, sizeof(why)), "frag needed: %s", why);
	CHECK(r.out[34] == 3 && r.out[35] == 4 && r.out[34 + 6] == 1000 >> 8 && r.out[34 + 7] == (1000 & 0xff),
	      "type/code/MTU kept");
	CHECK(D.nev == 1 && D.ev[0].ct_state == EV_CT_RELATED, "RELATED trace");

	len = build_icmp_err(pkt, NODE_MAC_A, MAC_A, REMOTE(41), IP_A, 11, 0, q, qlen, 0);
	REQUIRE(run_prog(&D, D.to_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(out_saddr(&r) == VIP(41) && q_daddr(&r) == VIP(41) && q_dport(&r) == 443,
	      "time exceeded from the backend: %08x", ntohl(out_saddr(&r)));
	CHECK(icmp_err_csums_ok(&r, why, sizeof(why)), "time exceeded: %s", why);

	/* not a service connection: untouched */
	o = (struct pkt_opts){ .smac = MAC_A, .dmac = NODE_MAC_A, .saddr = IP_A, .daddr = REMOTE(42),
			       .proto = IPPROTO_UDP, .sport = 5401, .dport = 53, .payload_len = 5 };
	REQUIRE(lb_send(o, &r) == 0, "test run");
	memcpy(q, r.out, r.out_len);
	len = build_icmp_err(pkt, NODE_MAC_A, MAC_A, REMOTE(42), IP_A, 3, 3, q, r.out_len, 0);
	REQUIRE(run_prog(&D, D.to_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.out_len == len && !memcmp(r.out, pkt, len), "a plain connection's error was changed");
}

/* bpf_host: NodePort SNATed to a remote backend; an ICMP error from a router
 * on the way (and from the backend) to NODE_IP about NODE_IP:nat_port ->
 * backend goes to the client as an error about client -> NodePort. */
static void test_host_icmp_error_rev_snat(void)
{
	uint32_t ids[] = { 3401 };
	uint32_t ROUTER = htonl(0xc0a83203);    /* the other node (192.168.50.3) */
	uint8_t q[PKT_MAX], pkt[PKT_MAX];
	char why[128] = "";
	struct host h;
	struct run r;
	size_t qlen, len;
	uint16_t nat_port;

	REQUIRE(host_open(&h) == 0, "load %s", host_path);
	CHECK(host_net_setup() == 0, "test network");
	CHECK(be_put(&D, 3401, REMOTE(34), 8080, IPPROTO_TCP, BE_STATE_ACTIVE) == 0, "backend");
	CHECK(svc_add(&D, 0, 30340, IPPROTO_TCP, 340, SVC_F_NODEPORT, 0, 0, ids, 1) == 0, "service (wildcard)");
	{
		struct lb4_reverse_nat rn = { .address = 0, .port = htons(30340) };
		uint16_t k = 340;

		CHECK(bpf_map_update_elem(lb_fd(&D, "cilium_lb4_reverse_nat"), &k, &rn, BPF_ANY) == 0, "rev nat");
	}
	CHECK(host_send(&h, from_client(open_node_ip, IPPROTO_TCP, 40340, 30340, TCP_SYN), &r) == 0, "test run");
	nat_port = out_sport(&r);
	REQUIRE(out_saddr(&r) == open_node_ip && out_daddr(&r) == REMOTE(34) && r.ret == TC_ACT_REDIRECT, "SNAT");
	memcpy(q, r.out, r.out_len);
	qlen = r.out_len;

	len = build_icmp_err(pkt, MAC_PEER, MAC_NODE, ROUTER, open_node_ip, 3, 4, q, qlen, 0);
	events_reset(&D);
	REQUIRE(run_prog(&D, h.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && !memcmp(r.out, MAC_CLIENT, 6), "ret %d: forwarded to the client", r.ret);
	CHECK(out_saddr(&r) == ROUTER && out_daddr(&r) == CLIENT_IP(), "outer %08x -> %08x", ntohl(out_saddr(&r)),
	      ntohl(out_daddr(&r)));
	CHECK(q_saddr(&r) == CLIENT_IP() && q_sport(&r) == 40340 && q_daddr(&r) == open_node_ip &&
	      q_dport(&r) == 30340, "quote %08x:%u -> %08x:%u (nat port %u)", ntohl(q_saddr(&r)), q_sport(&r),
	      ntohl(q_daddr(&r)), q_dport(&r), nat_port);
	CHECK(icmp_err_csums_ok(&r, why, sizeof(why)), "%s", why);
	CHECK(D.nev == 1 && D.ev[0].type == EVENT_TRACE && D.ev[0].ct_state == EV_CT_RELATED &&
	      D.ev[0].daddr == CLIENT_IP(), "RELATED trace: %d events", D.nev);

	/* port unreachable from the backend itself, 8 L4 bytes quoted */
	len = build_icmp_err(pkt, MAC_PEER, MAC_NODE, REMOTE(34), open_node_ip, 3, 3, q, qlen, 28);
	REQUIRE(run_prog(&D, h.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(out_saddr(&r) == open_node_ip && out_daddr(&r) == CLIENT_IP() && q_daddr(&r) == open_node_ip &&
	      q_saddr(&r) == CLIENT_IP(), "from the backend: outer %08x", ntohl(out_saddr(&r)));
	CHECK(icmp_err_csums_ok(&r, why, sizeof(why)), "%s", why);

	/* an error about some other port of the node: the stack's */
	q[34] ^= 0x40;  /* another source port */
	len = build_icmp_err(pkt, MAC_PEER, MAC_NODE, ROUTER, open_node_ip, 3, 4, q, qlen, 0);
	REQUIRE(run_prog(&D, h.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK && r.out_len == len && !memcmp(r.out, pkt, len), "unrelated error touched");
	host_net_teardown();
	bpf_object__close(h.obj);
}

/* ------------------------------------------------------------ fragments */

/* A later fragment (offset in 8-byte units, MF as given) of a datagram
 * saddr -> daddr with IP id, proto, payload_len bytes of 0xab and no L4
 * header. */
static size_t build_frag_later(uint8_t *buf, const uint8_t *smac, const uint8_t *dmac, uint32_t saddr,
			       uint32_t daddr, uint8_t proto, uint16_t id, uint16_t off8, int more, int payload_len)
{
	static uint8_t fill[1500];
	struct pkt_opts o = { .smac = smac, .dmac = dmac, .saddr = saddr, .daddr = daddr, .proto = 0,
			      .frag_off = (uint16_t)(off8 | (more ? 0x2000 : 0)), .payload = fill,
			      .payload_len = payload_len };
	size_t n;
	uint8_t *ip = buf + 14;

	memset(fill, 0xab, sizeof(fill));
	n = build_pkt(buf, &o);
	ip[9] = proto;
	put16(ip + 4, id);
	ip[10] = ip[11] = 0;
	memcpy(ip + 10, (uint16_t[]){ inet_csum(0, ip, 20) }, 2);
	return n;
}

/* A first fragment (MF, offset 0) with IP id. */
static size_t build_frag_first(uint8_t *buf, struct pkt_opts o, uint16_t id)
{
	size_t n;
	uint8_t *ip = buf + 14;

	o.frag_off = 0x2000;
	n = build_pkt(buf, &o);
	put16(ip + 4, id);
	ip[10] = ip[11] = 0;
	memcpy(ip + 10, (uint16_t[]){ inet_csum(0, ip, 20) }, 2);
	return n;
}

/* Another copy of an object on D's maps with ENABLE_IPV4_FRAGMENTS = 1
 * (and NODE_IP); from/to: its two tc programs. */
static int frag_open(struct host *f, const char *path, const char *from, const char *to)
{
	return obj_open_on_d(f, path, from, to, 0, 1);
}

static int frag_ports_get(uint32_t saddr, uint32_t daddr, uint16_t id, uint8_t proto, struct ipv4_frag_l4ports *v)
{
	struct ipv4_frag_id k = { .daddr = daddr, .saddr = saddr, .id = htons(id), .proto = proto };

	return bpf_map_lookup_elem(lb_fd(&D, "cilium_ipv4_frag_datagrams"), &k, v) ? -errno : 0;
}

/* bpf_lxc with fragment tracking: the first fragment of a UDP datagram to a
 * ClusterIP records its ports and is DNATed; the later ones get the same
 * backend (address only, payload untouched); the backend's fragmented reply
 * is reverse-NATed in every fragment; a later fragment whose first was never
 * seen is dropped with DROP_FRAG_NOT_FOUND. Without tracking (the object's
 * default) later fragments stay DROP_FRAG_NOT_SUPPORTED. */
static void test_lb_fragments(void)
{
	uint32_t ids[] = { 1501 };
	uint8_t pkt[PKT_MAX];
	struct ipv4_frag_l4ports fp;
	struct pkt_opts o;
	struct ct_entry e;
	struct host f;
	struct run r;
	size_t len;

	REQUIRE(frag_open(&f, obj_path, "cil_from_container", "cil_to_container") == 0, "load %s with tracking", obj_path);
	CHECK(be_put(&D, 1501, IP_B, 5353, IPPROTO_UDP, BE_STATE_ACTIVE) == 0, "backend");
	CHECK(svc_add(&D, VIP(50), 53, IPPROTO_UDP, 150, SVC_F_CLUSTERIP, 0, 0, ids, 1) == 0, "service");

	/* first fragment: 8 + 32 bytes of the datagram */
	o = (struct pkt_opts){ .smac = MAC_A, .dmac = NODE_MAC_A, .saddr = IP_A, .daddr = VIP(50),
			       .proto = IPPROTO_UDP, .sport = 6000, .dport = 53, .payload_len = 32 };
	len = build_frag_first(pkt, o, 0x1501);
	events_reset(&D);
	REQUIRE(run_prog(&D, f.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && out_daddr(&r) == IP_B && out_dport(&r) == 5353, "first: ret %d %08x:%u",
	      r.ret, ntohl(out_daddr(&r)), out_dport(&r));
	CHECK(frame_csums_ok(r.out, r.out_len), "first fragment checksums");
	CHECK(frag_ports_get(IP_A, VIP(50), 0x1501, IPPROTO_UDP, &fp) == 0 && fp.sport == htons(6000) &&
	      fp.dport == htons(53), "frag map row");

	/* later fragments (the last without MF): same backend, no L4 bytes written */
	for (int i = 0; i < 2; i++) {
		len = build_frag_later(pkt, MAC_A, NODE_MAC_A, IP_A, VIP(50), IPPROTO_UDP, 0x1501, 5 + 4 * i, !i, 32);
		events_reset(&D);
		REQUIRE(run_prog(&D, f.from_fd, pkt, len, if_a, &r) == 0, "test run");
		CHECK(r.ret == TC_ACT_REDIRECT && !memcmp(r.out, MAC_B, 6) && out_daddr(&r) == IP_B &&
		      out_saddr(&r) == IP_A, "later %d: ret %d daddr %08x", i, r.ret, ntohl(out_daddr(&r)));
		CHECK(ipv4_csum_ok(r.out) && r.out_len == len && !memcmp(r.out + 34, pkt + 34, len - 34),
		      "later %d: IPv4 checksum or payload", i);
		CHECK(D.nev == 0 || (D.ev[0].type == EVENT_TRACE && D.ev[0].dport == htons(5353)),
		      "later %d: event ports", i);
	}
	CHECK(ct_get(&D, IP_A, IP_B, 6000, 5353, IPPROTO_UDP, &e) == 0 && e.packets == 3 && e.rev_nat_index == 150,
	      "one CT entry for the 3 fragments: packets %llu", (unsigned long long)e.packets);

	/* the backend's fragmented reply */
	o = (struct pkt_opts){ .smac = MAC_B, .dmac = NODE_MAC_B, .saddr = IP_B, .daddr = IP_A,
			       .proto = IPPROTO_UDP, .sport = 5353, .dport = 6000, .payload_len = 24 };
	len = build_frag_first(pkt, o, 0x2501);
	REQUIRE(run_prog(&D, f.from_fd, pkt, len, if_b, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && out_saddr(&r) == VIP(50) && out_sport(&r) == 53 &&
	      frame_csums_ok(r.out, r.out_len), "reply first fragment: %08x:%u", ntohl(out_saddr(&r)), out_sport(&r));
	len = build_frag_later(pkt, MAC_B, NODE_MAC_B, IP_B, IP_A, IPPROTO_UDP, 0x2501, 4, 0, 40);
	REQUIRE(run_prog(&D, f.from_fd, pkt, len, if_b, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && out_saddr(&r) == VIP(50) && ipv4_csum_ok(r.out) &&
	      !memcmp(r.out + 34, pkt + 34, len - 34), "reply later fragment: %08x", ntohl(out_saddr(&r)));
	/* ... and through the stack (to_container) */
	len = build_frag_first(pkt, o, 0x2502);
	o.smac = NODE_MAC_A;
	REQUIRE(run_prog(&D, f.to_fd, pkt, len, if_a, &r) == 0, "test run");
	len = build_frag_later(pkt, NODE_MAC_A, MAC_A, IP_B, IP_A, IPPROTO_UDP, 0x2502, 4, 0, 40);
	REQUIRE(run_prog(&D, f.to_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_OK && out_saddr(&r) == VIP(50) && ipv4_csum_ok(r.out), "to_container later fragment: %08x",
	      ntohl(out_saddr(&r)));

	/* a later fragment before (without) its first: dropped, reason 175 */
	len = build_frag_later(pkt, MAC_A, NODE_MAC_A, IP_A, VIP(50), IPPROTO_UDP, 0x1599, 5, 0, 16);
	events_reset(&D);
	REQUIRE(run_prog(&D, f.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_SHOT, "out of order: ret %d", r.ret);
	CHECK(D.nev == 1 && D.ev[0].type == EVENT_DROP && D.ev[0].subtype == DROP_FRAG_NOT_FOUND,
	      "DROP_FRAG_NOT_FOUND event (%d events)", D.nev);
	/* without tracking: as before */
	events_reset(&D);
	REQUIRE(run_prog(&D, D.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_SHOT && D.nev == 1 && D.ev[0].subtype == DROP_FRAG_NOT_SUPPORTED,
	      "tracking off: FRAG_NOT_SUPPORTED");
	bpf_object__close(f.obj);
}

/* bpf_host with fragment tracking: NodePort UDP SNATed to a remote backend;
 * the later fragments get the same DNAT + SNAT addresses; the fragmented
 * reply is un-SNATed in every fragment; unknown later fragment: dropped. */
static void test_host_fragments(void)
{
	uint32_t ids[] = { 3501 };
	uint8_t pkt[PKT_MAX];
	struct pkt_opts o;
	struct host f;
	struct run r;
	size_t len;
	uint16_t nat_port;

	REQUIRE(frag_open(&f, host_path, "cil_from_netdev", "cil_to_netdev") == 0, "load %s with tracking", host_path);
	CHECK(host_net_setup() == 0, "test network");
	CHECK(be_put(&D, 3501, REMOTE(35), 5353, IPPROTO_UDP, BE_STATE_ACTIVE) == 0, "backend");
	CHECK(svc_add(&D, open_node_ip, 30350, IPPROTO_UDP, 350, SVC_F_NODEPORT, 0, 0, ids, 1) == 0, "service");

	o = from_client(open_node_ip, IPPROTO_UDP, 40350, 30350, 0);
	o.payload_len = 32;
	len = build_frag_first(pkt, o, 0x3501);
	events_reset(&D);
	REQUIRE(run_prog(&D, f.from_fd, pkt, len, if_a, &r) == 0, "test run");
	nat_port = out_sport(&r);
	CHECK(r.ret == TC_ACT_REDIRECT && out_saddr(&r) == open_node_ip && out_daddr(&r) == REMOTE(35) &&
	      out_dport(&r) == 5353 && frame_csums_ok(r.out, r.out_len), "first: ret %d", r.ret);
	len = build_frag_later(pkt, MAC_CLIENT, MAC_NODE, CLIENT_IP(), open_node_ip, IPPROTO_UDP, 0x3501, 5, 0, 24);
	REQUIRE(run_prog(&D, f.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && !memcmp(r.out, MAC_PEER, 6) && out_saddr(&r) == open_node_ip &&
	      out_daddr(&r) == REMOTE(35) && ipv4_csum_ok(r.out) && !memcmp(r.out + 34, pkt + 34, len - 34),
	      "later: ret %d %08x -> %08x", r.ret, ntohl(out_saddr(&r)), ntohl(out_daddr(&r)));

	/* the reply, fragmented */
	o = (struct pkt_opts){ .smac = MAC_PEER, .dmac = MAC_NODE, .saddr = REMOTE(35), .daddr = open_node_ip,
			       .proto = IPPROTO_UDP, .sport = 5353, .dport = nat_port, .payload_len = 24 };
	len = build_frag_first(pkt, o, 0x4501);
	REQUIRE(run_prog(&D, f.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(out_saddr(&r) == open_node_ip && out_sport(&r) == 30350 && out_daddr(&r) == CLIENT_IP() &&
	      out_dport(&r) == 40350 && frame_csums_ok(r.out, r.out_len), "reply first fragment");
	len = build_frag_later(pkt, MAC_PEER, MAC_NODE, REMOTE(35), open_node_ip, IPPROTO_UDP, 0x4501, 4, 0, 40);
	REQUIRE(run_prog(&D, f.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_REDIRECT && !memcmp(r.out, MAC_CLIENT, 6) && out_saddr(&r) == open_node_ip &&
	      out_daddr(&r) == CLIENT_IP() && ipv4_csum_ok(r.out), "reply later fragment: %08x -> %08x",
	      ntohl(out_saddr(&r)), ntohl(out_daddr(&r)));

	len = build_frag_later(pkt, MAC_CLIENT, MAC_NODE, CLIENT_IP(), open_node_ip, IPPROTO_UDP, 0x3599, 5, 0, 24);
	events_reset(&D);
	REQUIRE(run_prog(&D, f.from_fd, pkt, len, if_a, &r) == 0, "test run");
	CHECK(r.ret == TC_ACT_SHOT && D.nev == 1 && D.ev[0].subtype == DROP_FRAG_NOT_FOUND, "out of order: ret %d",
	      r.ret);
	host_net_teardown();
	bpf_object__close(f.obj);
}

#endif
