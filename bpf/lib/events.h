/* SPDX-License-Identifier: Apache-2.0 */
/* Trace and drop events into the cilium_events ring buffer. */
#ifndef __CILIUM_TS_EVENTS_H
#define __CILIUM_TS_EVENTS_H

#include "maps.h"
#include "ipv4.h"
#include "metrics.h"

/* Set by the agent at load time (read-only after load). */
const volatile __u32 MONITOR_AGGREGATION = MON_AGG_MEDIUM;

/* What an event says about the endpoints on either side. */
struct ev_eps {
	__u16 src_ep;
	__u16 dst_ep;
	__u32 src_sec_id;
	__u32 dst_sec_id;
};

static __always_inline void count_lost_event(void)
{
	__u32 zero = 0;
	__u64 *lost = bpf_map_lookup_elem(&cilium_ev_lost, &zero);

	if (lost)
		*lost += 1;
}

static __always_inline void emit_event(struct __sk_buff *skb, __u8 type, __u8 subtype,
				       __u8 ct_state, __u8 dir, const struct pkt4 *p,
				       const struct ev_eps *eps)
{
	struct flow_event *ev;

	ev = bpf_ringbuf_reserve(&cilium_events, sizeof(*ev), 0);
	if (unlikely(!ev)) {
		count_lost_event();
		return;
	}
	ev->type = type;
	ev->subtype = subtype;
	ev->ct_state = ct_state;
	ev->dir = dir;
	ev->ifindex = skb->ifindex;
	ev->len = skb->len;
	ev->ktime = bpf_ktime_get_ns();
	if (p) {
		ev->l4_proto = p->proto;
		ev->saddr = p->saddr;
		ev->daddr = p->daddr;
		if (p->proto == IPPROTO_ICMP) {
			ev->sport = 0;
			ev->dport = 0;
		} else {
			ev->sport = p->sport;
			ev->dport = p->dport;
		}
		ev->tcp_flags = p->tcp_flags;
		ev->icmp_type = p->icmp_type;
		ev->icmp_code = p->icmp_code;
	} else {
		ev->l4_proto = 0;
		ev->saddr = 0;
		ev->daddr = 0;
		ev->sport = 0;
		ev->dport = 0;
		ev->tcp_flags = 0;
		ev->icmp_type = 0;
		ev->icmp_code = 0;
	}
	if (eps) {
		ev->src_ep = eps->src_ep;
		ev->dst_ep = eps->dst_ep;
		ev->src_sec_id = eps->src_sec_id;
		ev->dst_sec_id = eps->dst_sec_id;
	} else {
		ev->src_ep = 0;
		ev->dst_ep = 0;
		ev->src_sec_id = 0;
		ev->dst_sec_id = 0;
	}
	bpf_ringbuf_submit(ev, 0);
}

static __always_inline void send_trace(struct __sk_buff *skb, __u8 point, __u8 ct_state, __u8 dir,
				       const struct pkt4 *p, const struct ev_eps *eps)
{
	emit_event(skb, EVENT_TRACE, point, ct_state, dir, p, eps);
}

/* Counts the drop, reports it (drops are never aggregated), returns TC_ACT_SHOT. */
static __always_inline int send_drop(struct __sk_buff *skb, __u8 reason, __u8 dir,
				     const struct pkt4 *p, const struct ev_eps *eps)
{
	update_metrics(skb->len, dir, reason);
	emit_event(skb, EVENT_DROP, reason, EV_CT_NONE, dir, p, eps);
	return TC_ACT_SHOT;
}

#endif
