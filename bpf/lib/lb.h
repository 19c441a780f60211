/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Service load balancing (kube-proxy replacement), IPv4. Layouts and map
 * semantics in common.h ("load balancing"), maps in maps.h.
 *
 *  - lb4_lookup_service: frontend (VIP, port, proto) -> master row. The EXT
 *    row is looked up first; when it says SVC_F_INT_LOCAL (or
 *    SVC_F_EXT_LOCAL), traffic from pods/the node uses the INT row instead if
 *    there is one. The EXT row must exist for every frontend (it carries the flags).
 *  - lb4_select_backend: ClientIP affinity (SVC_F_AFFINITY; the remembered
 *    backend only while cilium_lb_affinity_match has it for the service), else Maglev
 *    (SVC_F2_MAGLEV: cilium_lb4_maglev[rev_nat_index], hashed 5-tuple) or
 *    random slot (bpf_get_prandom_u32() % count + 1). New connections only
 *    get BE_STATE_ACTIVE backends.
 *  - lb4_xlate: rewrites an address + port with incremental L3/L4 checksums
 *    (UDP zero checksum stays zero).
 *  - lb4_local: per-packet LB of a packet from a pod (bpf_lxc): CT service
 *    entry (CT_KEY_F_SERVICE, keyed by client + frontend) pins the backend;
 *    DNAT. lb4_ct_svc_commit records/refreshes that entry after the regular CT.
 *  - lb4_rev_nat: replies (CT entry with rev_nat_index) get their source
 *    rewritten back to the frontend from cilium_lb4_reverse_nat.
 */
#ifndef __CILIUM_TS_LB_H
#define __CILIUM_TS_LB_H

#include "maps.h"
#include "ipv4.h"
#include "lb_hash.h"
#include "conntrack.h"

/*
 * Read-only globals, set by the agent at load time:
 *   NODE_IP       this node's IPv4 on its underlay device (network order):
 *                 NodePort SNAT source (bpf_host), the address NodePort
 *                 wildcard frontends (lb4_reverse_nat.address 0) reverse-NAT
 *                 to, and the address bpf_host matches the wildcard row for.
 *                 0: unknown (wildcard rows then only rewrite the port back).
 *   LB_ALGORITHM  LB_ALG_RANDOM (default): Maglev only for services flagged
 *                 SVC_F2_MAGLEV; LB_ALG_MAGLEV: every service that has a
 *                 Maglev table uses it (loadBalancer.algorithm=maglev).
 */
/* Hairpin: a pod reaching itself through a service gets this source (Cilium's
 * IPv4 loopback address), so it neither sees its own address as the source
 * nor answers itself inside its netns; its reply comes back through
 * cil_from_container, where the destination is restored. */
#define LB_HAIRPIN_IP bpf_htonl(0xa9fe2a01)     /* 169.254.42.1 */

#define LB_ALG_RANDOM 0
#define LB_ALG_MAGLEV 1
const volatile __u32 NODE_IP = 0;
const volatile __u32 LB_ALGORITHM = LB_ALG_RANDOM;

/* Slots looked at (from a random one on) for an ACTIVE backend. */
#define LB_SELECT_TRIES 32

#ifndef offsetof
#define offsetof(t, m) __builtin_offsetof(t, m)
#endif

static __always_inline struct lb4_service *lb4_lookup_service(struct lb4_key *key, int internal)
{
	struct lb4_service *svc, *isvc;

	key->backend_slot = 0;
	key->pad = 0;
	key->scope = LB_LOOKUP_SCOPE_EXT;
	svc = bpf_map_lookup_elem(&cilium_lb4_services_v2, key);
	if (svc && internal && (svc->flags & (SVC_F_INT_LOCAL | SVC_F_EXT_LOCAL))) {
		key->scope = LB_LOOKUP_SCOPE_INT;
		isvc = bpf_map_lookup_elem(&cilium_lb4_services_v2, key);
		if (isvc)
			return isvc;
		key->scope = LB_LOOKUP_SCOPE_EXT;
	}
	return svc;
}

/*
 * lb4_lookup_service, and if that misses for a local node address (NODE_IP,
 * or 127.0.0.0/8 when loopback is set: socket LB), the NodePort wildcard row
 * 0.0.0.0:port. key ends up as the key of the row found.
 */
static __always_inline struct lb4_service *lb4_lookup_service_node(struct lb4_key *key, int internal, int loopback)
{
	struct lb4_service *svc = lb4_lookup_service(key, internal);
	__u32 addr = key->address;

	if (likely(svc))
		return svc;
	if (!((NODE_IP && addr == NODE_IP) || (loopback && (bpf_ntohl(addr) >> 24) == 127)))
		return NULL;
	key->address = 0;
	svc = lb4_lookup_service(key, internal);
	if (svc && (svc->flags & SVC_F_NODEPORT))
		return svc;
	key->address = addr;
	return NULL;
}

static __always_inline struct lb4_backend *lb4_lookup_backend(__u32 id)
{
	if (!id)
		return NULL;
	return bpf_map_lookup_elem(&cilium_lb4_backends_v3, &id);
}

static __always_inline struct lb4_backend *lb4_active_backend(__u32 id)
{
	struct lb4_backend *be = lb4_lookup_backend(id);

	if (be && be->state == BE_STATE_ACTIVE)
		return be;
	return NULL;
}

/* Maglev or random, no affinity. key: the master row's key (its scope). */
static __always_inline __u32 lb4_pick_backend(const struct lb4_key *key, const struct lb4_service *svc,
					      __u32 hash)
{
	struct lb4_key slot_key = *key;
	struct lb4_service *slot;
	__u32 count = svc->count;
	__u32 id, start;
	int i;

	if (!count)
		return 0;
	/* The Maglev table is the EXT row's backends: an INT row (local
	 * backends only) picks at random. */
	if (((svc->flags2 & SVC_F2_MAGLEV) || LB_ALGORITHM == LB_ALG_MAGLEV) && key->scope == LB_LOOKUP_SCOPE_EXT) {
		__u16 idx = svc->rev_nat_index;
		struct lb4_maglev *lut = bpf_map_lookup_elem(&cilium_lb4_maglev, &idx);

		__u32 pos = hash % LB_MAGLEV_LUT_SIZE;

		/* hide what the compiler knows, so the bound check stays for the verifier */
		asm volatile("" : "+r"(pos));
		if (lut && pos < LB_MAGLEV_LUT_SIZE) {
			id = lut->backend_ids[pos];
			if (lb4_active_backend(id))
				return id;
		}
		/* no table yet, or it still names a backend on its way out */
	}
	/* A random slot; if its backend is no longer ACTIVE (the agent flips a
	 * backend's state before it rewrites the slot rows), the next ones. */
	start = bpf_get_prandom_u32() % count;
	for (i = 0; i < LB_SELECT_TRIES; i++) {
		if (i >= count)
			break;
		slot_key.backend_slot = ((start + i) % count) + 1;
		slot = bpf_map_lookup_elem(&cilium_lb4_services_v2, &slot_key);
		if (!slot)
			continue;
		id = slot->backend_id;
		if (lb4_active_backend(id))
			return id;
	}
	return 0;
}

/* The remembered backend of an affinity entry is still usable: ACTIVE, and
 * still a backend of the service (its cilium_lb_affinity_match row). */
static __always_inline int lb4_affinity_backend_ok(__u32 backend_id, __u16 rev_nat_index)
{
	struct lb_affinity_match m = { .backend_id = backend_id, .rev_nat_id = rev_nat_index };

	return lb4_active_backend(backend_id) && bpf_map_lookup_elem(&cilium_lb_affinity_match, &m);
}

/*
 * Picks the backend of a new connection: the affinity one while it is ACTIVE,
 * still one of the service's backends (cilium_lb_affinity_match) and used
 * within affinity_timeout, else lb4_pick_backend (and remembers it
 * for affinity). client_id: the client IPv4 (is_netns 0) or the netns cookie.
 * Returns the backend id, 0 if there is none to use.
 */
static __always_inline __u32 lb4_select_backend(const struct lb4_key *key, const struct lb4_service *svc,
						__u32 hash, __u64 client_id, __u8 is_netns)
{
	struct lb4_affinity_key akey = {};
	struct lb_affinity_val *av, nav = {};
	__u64 now = 0;
	__u32 id;

	if (svc->flags & SVC_F_AFFINITY) {
		akey.client_id = client_id;
		akey.rev_nat_index = svc->rev_nat_index;
		akey.netns_cookie = is_netns;
		now = bpf_ktime_get_ns();
		av = bpf_map_lookup_elem(&cilium_lb4_affinity, &akey);
		if (av && now - av->last_used <= (__u64)svc->affinity_timeout * NSEC_PER_SEC &&
		    lb4_affinity_backend_ok(av->backend_id, svc->rev_nat_index)) {
			av->last_used = now;
			return av->backend_id;
		}
	}
	id = lb4_pick_backend(key, svc, hash);
	if (id && (svc->flags & SVC_F_AFFINITY)) {
		nav.last_used = now;
		nav.backend_id = id;
		bpf_map_update_elem(&cilium_lb4_affinity, &akey, &nav, BPF_ANY);
	}
	return id;
}

/*
 * Rewrites the source (is_src) or destination address and L4 port of the
 * packet to addr:port, fixing the IPv4 header checksum and the TCP/UDP
 * checksum (pseudo-header for the address). A UDP checksum of 0 (none) stays
 * 0. ICMP: the address only. Updates p. Returns 0 or DROP_WRITE_ERROR.
 */
static __always_inline int lb4_xlate(struct __sk_buff *skb, struct pkt4 *p, int is_src, __u32 addr,
				     __u16 port)
{
	__u32 addr_off = ETH_HLEN + (is_src ? offsetof(struct iphdr, saddr) : offsetof(struct iphdr, daddr));
	__u32 old_addr = is_src ? p->saddr : p->daddr;
	__u16 old_port = is_src ? p->sport : p->dport;
	__u32 l4_off = p->l4_off;
	__u32 csum_off = 0, flags = 0;

	if (p->proto == IPPROTO_TCP) {
		csum_off = l4_off + offsetof(struct tcphdr, check);
	} else if (p->proto == IPPROTO_UDP) {
		csum_off = l4_off + offsetof(struct udphdr, check);
		flags = BPF_F_MARK_MANGLED_0;
	}
	/* A later fragment holds no L4 header (the first carries the
	 * datagram's checksum, pseudo-header included): addresses only. */
	if (unlikely(p->frag == PKT4_FRAG_LATER))
		csum_off = 0;

	if (old_addr != addr) {
		if (bpf_l3_csum_replace(skb, ETH_HLEN + offsetof(struct iphdr, check), old_addr, addr, 4) < 0)
			return DROP_WRITE_ERROR;
		if (csum_off &&
		    bpf_l4_csum_replace(skb, csum_off, old_addr, addr, flags | BPF_F_PSEUDO_HDR | 4) < 0)
			return DROP_WRITE_ERROR;
		if (bpf_skb_store_bytes(skb, addr_off, &addr, 4, 0) < 0)
			return DROP_WRITE_ERROR;
		if (is_src)
			p->saddr = addr;
		else
			p->daddr = addr;
	}
	if ((p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) && old_port != port) {
		if (csum_off) {
			if (bpf_l4_csum_replace(skb, csum_off, old_port, port, flags | 2) < 0)
				return DROP_WRITE_ERROR;
			if (bpf_skb_store_bytes(skb, l4_off + (is_src ? 0 : 2), &port, 2, 0) < 0)
				return DROP_WRITE_ERROR;
		}
		if (is_src)
			p->sport = port;
		else
			p->dport = port;
	}
	return 0;
}

/* A reply of a service connection: source back to the frontend. */
static __always_inline int lb4_rev_nat(struct __sk_buff *skb, struct pkt4 *p, __u16 rev_nat_index)
{
	struct lb4_reverse_nat *rn = bpf_map_lookup_elem(&cilium_lb4_reverse_nat, &rev_nat_index);

	if (!rn)
		return 0;       /* the service is gone: nothing to translate back to */
	/* address 0: a NodePort wildcard, whose address is the node's (bpf_host
	 * translates those itself); keep the port translation only. */
	return lb4_xlate(skb, p, 1, rn->address ? rn->address : (NODE_IP ? NODE_IP : p->saddr), rn->port);
}

static __always_inline __u16 csum_fold32(__s64 sum)
{
	__u32 c = (__u32)sum;

	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	return (__u16)~c;
}

/*
 * Turns the packet into an ICMP destination unreachable / port unreachable
 * from its destination (the frontend) back to its source, quoting its IPv4
 * header and first 8 L4 bytes, MACs swapped: the client's connect() or
 * send() fails at once (ECONNREFUSED) instead of timing out. The caller
 * redirects it back out of the interface it came in on.
 * Returns 0, or -1 if the packet cannot be answered (IP options, rewrite failed).
 */
struct lb4_icmp_frame {
	__u16 align;            /* not sent: puts the IPv4 header on a 4-byte boundary */
	__u8  eth_dst[ETH_ALEN];
	__u8  eth_src[ETH_ALEN];
	__u16 eth_proto;
	struct iphdr ip;
	struct icmphdr icmp;
	struct iphdr orig_ip;
	__u8  orig_l4[8];
} __attribute__((packed));

static __always_inline int lb4_icmp_unreach(struct __sk_buff *skb, const struct pkt4 *p)
{
	struct lb4_icmp_frame f = {};
	__s64 sum;

	if (p->l4_off != ETH_HLEN + sizeof(struct iphdr))
		return -1;
	if (bpf_skb_load_bytes(skb, 0, f.eth_src, ETH_ALEN) < 0 ||
	    bpf_skb_load_bytes(skb, ETH_ALEN, f.eth_dst, ETH_ALEN) < 0 ||
	    bpf_skb_load_bytes(skb, ETH_HLEN, &f.orig_ip, sizeof(f.orig_ip) + sizeof(f.orig_l4)) < 0)
		return -1;
	f.eth_proto = bpf_htons(ETH_P_IP);
	f.ip.version = 4;
	f.ip.ihl = 5;
	f.ip.tot_len = bpf_htons(sizeof(f) - 2 - ETH_HLEN);
	f.ip.ttl = 64;
	f.ip.protocol = IPPROTO_ICMP;
	f.ip.saddr = p->daddr;
	f.ip.daddr = p->saddr;
	sum = bpf_csum_diff(NULL, 0, (__be32 *)((__u8 *)&f + offsetof(struct lb4_icmp_frame, ip)), sizeof(f.ip), 0);
	f.ip.check = csum_fold32(sum);
	f.icmp.type = ICMP_DEST_UNREACH;
	f.icmp.code = 3;        /* port unreachable */
	sum = bpf_csum_diff(NULL, 0, (__be32 *)((__u8 *)&f + offsetof(struct lb4_icmp_frame, icmp)),
			    sizeof(f.icmp) + sizeof(f.orig_ip) + sizeof(f.orig_l4), 0);
	f.icmp.checksum = csum_fold32(sum);

	if (bpf_skb_change_tail(skb, sizeof(f) - 2, 0) < 0)
		return -1;
	if (bpf_skb_store_bytes(skb, 0, (__u8 *)&f + 2, sizeof(f) - 2, 0) < 0)
		return -1;
	return 0;
}

/*
 * ICMP errors about translated connections (Cilium: the "related" handling of
 * ct_lookup4 and __snat_v4_rev_nat). An ICMP DEST_UNREACH / TIME_EXCEEDED /
 * PARAMETERPROB quotes the IPv4 header + at least 8 L4 bytes of the packet
 * that caused it, as that packet was when it met the problem (after DNAT /
 * SNAT). Before the error reaches the client, the quote must read as what the
 * client sent, or the client's stack finds no socket for it (and ignores a
 * port unreachable, a "fragmentation needed", ...).
 */

/* One's complement: check (as stored) after adding diff (a bpf_csum_diff sum). */
static __always_inline __u16 csum_apply(__u16 check, __u64 diff)
{
	__u64 s = (__u16)~check + diff;

	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

struct icmp_inner4 {
	struct iphdr ip;
	__u8 l4[8];
};                              /* 28 bytes: the quote's IPv4 header (no options) + ports */

/*
 * Rewrites the source (is_src) or destination address and port of the
 * packet quoted by the ICMP error p (TCP/UDP quotes only; an inner header
 * with IP options is left alone): inner IPv4 checksum recomputed, inner
 * TCP/UDP checksum updated where the quote holds it (UDP: 0 stays 0), and
 * the outer ICMP checksum updated for every byte changed. The outer header is
 * not touched. Returns 0 (also when there is nothing to do) or DROP_WRITE_ERROR.
 */
static __always_inline int lb4_icmp_inner_xlate(struct __sk_buff *skb, const struct pkt4 *p, int is_src,
						__u32 addr, __u16 port)
{
	struct icmp_inner4 old, new;
	__u32 off = p->l4_off + 8;
	__u32 l4_off = off + sizeof(struct iphdr);
	__u32 old_addr;
	__u16 check, icheck;
	__u32 tcp_csum[1];
	__s64 d, icmp_diff, l4_diff;
	int has_tcp_csum = 0;

	if (bpf_skb_load_bytes(skb, off, &old, sizeof(old)) < 0)
		return 0;
	if (old.ip.version != 4 || old.ip.ihl != 5)
		return 0;
	if (old.ip.protocol != IPPROTO_TCP && old.ip.protocol != IPPROTO_UDP)
		return 0;
	new = old;
	if (is_src) {
		old_addr = old.ip.saddr;
		new.ip.saddr = addr;
		*(__u16 *)&new.l4[0] = port;
	} else {
		old_addr = old.ip.daddr;
		new.ip.daddr = addr;
		*(__u16 *)&new.l4[2] = port;
	}
	new.ip.check = 0;
	d = bpf_csum_diff(NULL, 0, (__be32 *)&new.ip, sizeof(new.ip), 0);
	if (d < 0)
		return DROP_WRITE_ERROR;
	new.ip.check = csum_fold32(d);

	/* inner L4 checksum: pseudo-header address + the port word */
	l4_diff = bpf_csum_diff((__be32 *)&old_addr, 4, (__be32 *)&addr, 4, 0);
	d = bpf_csum_diff((__be32 *)&old.l4[0], 4, (__be32 *)&new.l4[0], 4, 0);
	if (l4_diff < 0 || d < 0)
		return DROP_WRITE_ERROR;
	l4_diff += d;
	if (old.ip.protocol == IPPROTO_UDP) {
		check = *(__u16 *)&old.l4[6];
		if (check) {
			check = csum_apply(check, l4_diff);
			*(__u16 *)&new.l4[6] = check ? check : 0xffff;
		}
	} else if (bpf_skb_load_bytes(skb, l4_off + 16, tcp_csum, 4) == 0) {
		/* the TCP checksum is quoted (Linux quotes up to 576 bytes) */
		has_tcp_csum = 1;
	}

	icmp_diff = bpf_csum_diff((__be32 *)&old, sizeof(old), (__be32 *)&new, sizeof(new), 0);
	if (icmp_diff < 0)
		return DROP_WRITE_ERROR;
	if (has_tcp_csum) {
		__u32 ntcp = tcp_csum[0];

		*(__u16 *)&ntcp = csum_apply(*(__u16 *)&ntcp, l4_diff);
		d = bpf_csum_diff(tcp_csum, 4, &ntcp, 4, 0);
		if (d < 0)
			return DROP_WRITE_ERROR;
		icmp_diff += d;
		if (bpf_skb_store_bytes(skb, l4_off + 16, &ntcp, 4, BPF_F_RECOMPUTE_CSUM) < 0)
			return DROP_WRITE_ERROR;
	}
	if (bpf_skb_store_bytes(skb, off, &new, sizeof(new), BPF_F_RECOMPUTE_CSUM) < 0)
		return DROP_WRITE_ERROR;
	if (bpf_skb_load_bytes(skb, p->l4_off + 2, &icheck, 2) < 0)
		return DROP_WRITE_ERROR;
	icheck = csum_apply(icheck, icmp_diff);
	if (bpf_skb_store_bytes(skb, p->l4_off + 2, &icheck, 2, BPF_F_RECOMPUTE_CSUM) < 0)
		return DROP_WRITE_ERROR;
	return 0;
}

/*
 * An ICMP error about a packet a client sent to a service backend (CT
 * RELATED, res->related_orig, the entry has rev_nat_index): the quote's
 * destination backend:port becomes the frontend, and the outer source too
 * when it is the backend itself (a router's address, e.g. "fragmentation
 * needed" on the way, stays). Updates p. Returns 0 or DROP_WRITE_ERROR.
 */
static __always_inline int lb4_icmp_rev_nat(struct __sk_buff *skb, struct pkt4 *p, __u16 rev_nat_index)
{
	struct lb4_reverse_nat *rn = bpf_map_lookup_elem(&cilium_lb4_reverse_nat, &rev_nat_index);
	struct ct_key4 inner;
	__u32 fe_addr;
	__u16 fe_port;
	int ret;

	if (!rn)
		return 0;
	if (ipv4_icmp_inner_tuple(skb, p, &inner) < 0)
		return 0;
	fe_addr = rn->address ? rn->address : (NODE_IP ? NODE_IP : inner.daddr);
	fe_port = rn->port;
	ret = lb4_icmp_inner_xlate(skb, p, 0, fe_addr, fe_port);
	if (ret)
		return ret;
	if (p->saddr == inner.daddr)
		return lb4_xlate(skb, p, 1, fe_addr, 0);
	return 0;
}

/* What lb4_local decided, for lb4_ct_svc_commit. */
struct lb4_ctx {
	struct ct_key4 skey;            /* the CT service entry's key */
	struct ct_entry *se;            /* existing service entry, or NULL: create it */
	__u32 backend_id;
	__u16 rev_nat_index;            /* 0: not a service packet */
};

static __always_inline int lb4_is_new_tcp(const struct pkt4 *p)
{
	return p->proto == IPPROTO_TCP &&
	       (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST)) == TCP_FLAG_SYN;
}

/*
 * Per-packet LB of a packet leaving a pod (or anything else that should be
 * load-balanced as internal traffic). If the destination is a frontend:
 * the connection's CT service entry gives its backend (kept while the
 * backend exists, even TERMINATING; a new SYN on a non-ACTIVE one picks
 * again), else one is selected; the packet is DNATed to it.
 * Returns 0 (lc->rev_nat_index != 0 if translated) or a DROP_* reason
 * (DROP_NO_SERVICE: the frontend has no usable backend).
 */
/* lb4_local once the frontend is known (key: its master row's key). */
static __always_inline int lb4_svc_xlate(struct __sk_buff *skb, struct pkt4 *p, struct lb4_ctx *lc,
					 const struct lb4_key *key, const struct lb4_service *svc)
{
	struct lb4_backend *be = NULL;
	struct ct_entry *se;
	__u32 id = 0;

	lc->skey.saddr = p->saddr;
	lc->skey.daddr = p->daddr;
	lc->skey.sport = p->sport;
	lc->skey.dport = p->dport;
	lc->skey.nexthdr = p->proto;
	lc->skey.flags = CT_KEY_F_SERVICE;
	lc->skey.pad = 0;
	se = bpf_map_lookup_elem(&cilium_ct4_glob, &lc->skey);
	if (se) {
		id = se->backend_id;
		be = lb4_lookup_backend(id);
		if (be && be->state != BE_STATE_ACTIVE && lb4_is_new_tcp(p))
			be = NULL;      /* port reuse: a new connection, not to a backend on its way out */
	}
	if (!be) {
		id = lb4_select_backend(key, svc,
					lb4_hash_tuple(p->saddr, p->daddr, p->sport, p->dport, p->proto),
					p->saddr, 0);
		be = lb4_lookup_backend(id);
		if (!be)
			return DROP_NO_SERVICE;
	}
	lc->se = se;
	lc->backend_id = id;
	lc->rev_nat_index = svc->rev_nat_index;
	return lb4_xlate(skb, p, 0, be->address, be->port);
}

static __always_inline int lb4_local(struct __sk_buff *skb, struct pkt4 *p, struct lb4_ctx *lc)
{
	struct lb4_key key = {};
	struct lb4_service *svc;

	lc->rev_nat_index = 0;
	lc->se = NULL;
	if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
		return 0;
	if (unlikely(!pkt4_has_ports(p)))
		return 0;
	key.address = p->daddr;
	key.dport = p->dport;
	key.proto = p->proto;
	svc = lb4_lookup_service_node(&key, 1, 0);
	if (likely(!svc))
		return 0;
	return lb4_svc_xlate(skb, p, lc, &key, svc);
}

/* After the regular CT of the translated packet: create or refresh the
 * service entry with the connection's lifetime. */
static __always_inline void lb4_ct_svc_commit(const struct lb4_ctx *lc, const struct ct_result *res,
					      __u16 src_ep)
{
	struct ct_entry *se = lc->se;
	struct ct_entry ne = {};
	__u64 expires = res->expires;

	if (!expires)
		expires = bpf_ktime_get_ns() + (__u64)CT_LIFETIME_NONTCP * NSEC_PER_SEC;
	if (se) {
		if (se->backend_id != lc->backend_id)
			se->backend_id = lc->backend_id;
		se->expires = expires;
		__sync_fetch_and_add(&se->packets, 1);
		return;
	}
	ne.expires = expires;
	ne.packets = 1;
	ne.created = bpf_ktime_get_ns() / NSEC_PER_SEC;
	ne.src_ep = src_ep;
	ne.backend_id = lc->backend_id;
	ne.rev_nat_index = lc->rev_nat_index;
	bpf_map_update_elem(&cilium_ct4_glob, &lc->skey, &ne, BPF_ANY);
}

#endif
