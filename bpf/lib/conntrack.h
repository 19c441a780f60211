/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPv4 connection tracking in cilium_ct4_glob (see common.h).
 *
 * One entry per connection, keyed by the tuple of its first packet. A packet
 * is looked up as-is (ESTABLISHED, original direction), then reversed (REPLY),
 * else it creates the entry (NEW). Entries never expire in the kernel: the
 * agent deletes those whose `expires` (CLOCK_MONOTONIC ns) has passed.
 *
 * The same pass decides whether the packet deserves a trace event under
 * monitor aggregation, since that depends on what the entry has seen so far.
 */
#ifndef __CILIUM_TS_CONNTRACK_H
#define __CILIUM_TS_CONNTRACK_H

#include "maps.h"
#include "ipv4.h"
#include "events.h"

#define CT_DIR_TX 0             /* original direction */
#define CT_DIR_RX 1             /* reply direction */

#define CT_REPORT_FLAGS (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST)

struct ct_result {
	__u8 ev_state;          /* EV_CT_* for the event */
	__u8 report;            /* 1: emit a trace for this packet */
	__u16 rev_nat_index;    /* the entry's: != 0 on a service connection (reverse NAT of replies) */
	__u8  ct_flags;         /* the entry's CT_F_* (0 when untracked or new) */
	__u64 expires;          /* the entry's deadline after this packet (0: untracked) */
	__u8  related_orig;     /* RELATED: the quoted packet went in the entry's original direction
				 * (an error about a packet the originator sent, on its way back to it) */
};

static __always_inline __u32 ct_tcp_lifetime(__u8 state)
{
	switch (state) {
	case CT_TCP_SYN_SENT:
	case CT_TCP_SYN_RECV:
		return CT_LIFETIME_SYN;
	case CT_TCP_CLOSE:
		return CT_LIFETIME_CLOSE;
	default:
		return CT_LIFETIME_TCP;
	}
}

static __always_inline void ct_key_from_pkt(struct ct_key4 *k, const struct pkt4 *p)
{
	k->saddr = p->saddr;
	k->daddr = p->daddr;
	k->sport = p->sport;
	k->dport = p->dport;
	k->nexthdr = p->proto;
	k->flags = 0;
	k->pad = 0;
}

static __always_inline void ct_key_reverse(struct ct_key4 *r, const struct ct_key4 *k)
{
	r->saddr = k->daddr;
	r->daddr = k->saddr;
	r->sport = k->dport;
	r->dport = k->sport;
	r->nexthdr = k->nexthdr;
	r->flags = 0;
	r->pad = 0;
}

/* ICMP errors belong to the connection of the packet they quote: RELATED if
 * it is tracked, untracked otherwise. Never creates an entry. res gets the
 * entry's rev_nat_index and flags, and related_orig says which way the quoted
 * packet went (lb4_icmp_rev_nat translates errors about a client's packet to a
 * service backend). */
static __always_inline void ct_icmp_related(struct __sk_buff *skb, const struct pkt4 *p,
					    struct ct_result *res)
{
	struct ct_key4 inner, rev;
	struct ct_entry *e;

	res->report = 1;
	res->ev_state = EV_CT_NONE;
	res->rev_nat_index = 0;
	res->ct_flags = 0;
	res->expires = 0;
	res->related_orig = 0;
	if (ipv4_icmp_inner_tuple(skb, p, &inner) < 0)
		return;
	e = bpf_map_lookup_elem(&cilium_ct4_glob, &inner);
	if (e) {
		res->ev_state = EV_CT_RELATED;
		res->rev_nat_index = e->rev_nat_index;
		res->ct_flags = e->flags;
		res->related_orig = 1;
		return;
	}
	ct_key_reverse(&rev, &inner);
	e = bpf_map_lookup_elem(&cilium_ct4_glob, &rev);
	if (e) {
		res->ev_state = EV_CT_RELATED;
		res->rev_nat_index = e->rev_nat_index;
		res->ct_flags = e->flags;
	}
}

static __always_inline int ct_create4(const struct ct_key4 *key, const struct pkt4 *p, __u32 len,
				      __u64 now, __u32 now_sec, __u16 src_ep, __u16 dst_ep,
				      __u16 rev_nat, struct ct_result *res)
{
	struct ct_entry e = {};
	__u32 lifetime = CT_LIFETIME_NONTCP;
	long err;

	res->report = 1;
	res->ct_flags = 0;
	if (p->proto == IPPROTO_TCP) {
		__u8 f = p->tcp_flags;

		if (f & TCP_FLAG_RST) {
			/* An RST for nothing we know: pass it untracked. */
			res->ev_state = EV_CT_NONE;
			res->rev_nat_index = 0;
			res->expires = 0;
			return 0;
		}
		if ((f & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)
			e.state = CT_TCP_SYN_SENT;
		else
			e.state = CT_TCP_ESTABLISHED;   /* picked up mid-stream */
		e.tx_flags_seen = f;
		lifetime = ct_tcp_lifetime(e.state);
	}
	e.expires = now + (__u64)lifetime * NSEC_PER_SEC;
	e.packets = 1;
	e.bytes = len;
	e.created = now_sec;
	e.last_report = now_sec;
	e.src_ep = src_ep;
	e.dst_ep = dst_ep;
	e.rev_nat_index = rev_nat;
	res->rev_nat_index = rev_nat;
	res->expires = e.expires;

	res->ev_state = EV_CT_NEW;
	err = bpf_map_update_elem(&cilium_ct4_glob, key, &e, BPF_NOEXIST);
	if (err == -17 /* EEXIST: another CPU created it first */) {
		res->ev_state = EV_CT_ESTABLISHED;
		return 0;
	}
	return err < 0 ? DROP_CT_CREATE_FAILED : 0;
}

static __always_inline void ct_update4(struct ct_entry *e, int dir, const struct pkt4 *p, __u32 len,
				       __u64 now, __u32 now_sec, struct ct_result *res)
{
	__u32 lifetime = CT_LIFETIME_NONTCP;
	__u8 report = MONITOR_AGGREGATION == MON_AGG_NONE;
	__u8 seen, fresh;

	__sync_fetch_and_add(&e->packets, 1);
	__sync_fetch_and_add(&e->bytes, len);

	if (p->proto == IPPROTO_TCP) {
		__u8 f = p->tcp_flags;
		__u8 state = e->state;
		__u8 nstate = state;

		/* A new SYN on a closed connection (port reuse) starts over. */
		if (unlikely(state == CT_TCP_CLOSE && dir == CT_DIR_TX &&
			     (f & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST)) == TCP_FLAG_SYN)) {
			e->tx_flags_seen = 0;
			e->rx_flags_seen = 0;
			e->flags &= ~(CT_F_SEEN_REPLY | CT_F_DSR);   /* DSR: set again if the new SYN is one */
			nstate = state = CT_TCP_SYN_SENT;
		}

		seen = dir == CT_DIR_TX ? e->tx_flags_seen : e->rx_flags_seen;
		fresh = f & ~seen;
		if (fresh) {
			if (dir == CT_DIR_TX)
				e->tx_flags_seen = seen | f;
			else
				e->rx_flags_seen = seen | f;
			if (fresh & CT_REPORT_FLAGS)
				report = 1;
		}

		if (f & TCP_FLAG_RST) {
			nstate = CT_TCP_CLOSE;
		} else if (f & TCP_FLAG_FIN) {
			if ((e->tx_flags_seen & e->rx_flags_seen) & TCP_FLAG_FIN)
				nstate = CT_TCP_CLOSE;
			else if (state != CT_TCP_CLOSE)
				nstate = CT_TCP_FIN_WAIT;
		} else if (dir == CT_DIR_RX) {
			if (state == CT_TCP_SYN_SENT &&
			    (f & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == (TCP_FLAG_SYN | TCP_FLAG_ACK))
				nstate = CT_TCP_SYN_RECV;
		} else if ((state == CT_TCP_SYN_RECV || (state == CT_TCP_SYN_SENT && (e->flags & CT_F_DSR))) &&
			   (f & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_ACK) {
			/* DSR on the LB node: the replies never pass here; the
			 * client's ACK of the handshake establishes it. */
			nstate = CT_TCP_ESTABLISHED;
		}
		if (nstate != e->state)
			e->state = nstate;
		lifetime = ct_tcp_lifetime(nstate);
	}

	if (dir == CT_DIR_RX && !(e->flags & CT_F_SEEN_REPLY)) {
		e->flags |= CT_F_SEEN_REPLY;
		report = 1;
	}
	if (now_sec - e->last_report >= MON_REPORT_INTERVAL)
		report = 1;
	if (report && e->last_report != now_sec)
		e->last_report = now_sec;

	e->expires = now + (__u64)lifetime * NSEC_PER_SEC;
	res->expires = e->expires;
	res->rev_nat_index = e->rev_nat_index;
	res->ct_flags = e->flags;
	res->report = report;
	res->ev_state = dir == CT_DIR_TX ? EV_CT_ESTABLISHED : EV_CT_REPLY;
}

/* ORs CT_F_* flags into the entry of p's tuple as it is (the original direction). */
static __always_inline void ct_set_flags4(const struct pkt4 *p, __u8 flags)
{
	struct ct_key4 key;
	struct ct_entry *e;

	ct_key_from_pkt(&key, p);
	e = bpf_map_lookup_elem(&cilium_ct4_glob, &key);
	if (e && (e->flags & flags) != flags)
		e->flags |= flags;
}

/*
 * Tracks the packet. src_ep/dst_ep are recorded if this creates the entry.
 * rev_nat != 0 (the packet was DNATed to a service backend): the entry
 * remembers the service so that replies get reverse-NATed; res->rev_nat_index
 * is the entry's value whichever way the packet goes.
 * Returns 0 or a DROP_* reason; res says the CT state and whether to report.
 */
static __always_inline int ct_process4(struct __sk_buff *skb, const struct pkt4 *p,
				       __u16 src_ep, __u16 dst_ep, __u16 rev_nat,
				       struct ct_result *res)
{
	struct ct_key4 key, rkey;
	struct ct_entry *e;
	__u64 now;
	__u32 now_sec;

	if (unlikely(p->icmp_error)) {
		ct_icmp_related(skb, p, res);
		return 0;
	}

	now = bpf_ktime_get_ns();
	now_sec = now / NSEC_PER_SEC;

	ct_key_from_pkt(&key, p);
	e = bpf_map_lookup_elem(&cilium_ct4_glob, &key);
	if (e) {
		/* A tuple first seen without LB (or for another service) now
		 * DNATed: replies must follow the current translation. */
		if (unlikely(rev_nat && e->rev_nat_index != rev_nat))
			e->rev_nat_index = rev_nat;
		ct_update4(e, CT_DIR_TX, p, skb->len, now, now_sec, res);
		return 0;
	}
	ct_key_reverse(&rkey, &key);
	e = bpf_map_lookup_elem(&cilium_ct4_glob, &rkey);
	if (e) {
		ct_update4(e, CT_DIR_RX, p, skb->len, now, now_sec, res);
		return 0;
	}
	return ct_create4(&key, p, skb->len, now, now_sec, src_ep, dst_ep, rev_nat, res);
}

#endif
