// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bpf_lxc: the host side of every pod's veth. Loaded once per agent, attached
 * to every endpoint; per-endpoint facts come from cilium_lxc, never from
 * recompiling.
 *
 *   pod netns            host netns
 *   +------+   veth   +-------+  ingress: cil_from_container  --> redirect_peer to a local pod
 *   | eth0 |==========| lxcXX |                                --> redirect to cilium_vxlan (tunnel mode,
 *   +------+          +-------+                                    destination in another node's pod CIDR)
 *                                                              --> or the host stack (TC_ACT_OK)
 *                                egress:  cil_to_container    <-- from the host stack
 *
 * DSR (common.h "DSR"): cil_to_container records the frontend a request from
 * another node's bpf_host carries in its IPv4 option; cil_from_container
 * rewrites the source of the backend's replies to it and forwards them by FIB.
 */
#include "lib/compiler.h"
#include "lib/eth.h"
#include "lib/ipv4.h"
#include "lib/maps.h"
#include "lib/endpoint.h"
#include "lib/metrics.h"
#include "lib/events.h"
#include "lib/conntrack.h"
#include "lib/tunnel.h"
#include "lib/lb.h"
#include "lib/fib.h"
#include "lib/dsr.h"

static __always_inline int is_tracked_l4(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_ICMP;
}

/* No backend for a frontend (or a failed rewrite): a drop that is a flow and
 * a metric. With no backend, the pod also gets an ICMP port unreachable from
 * the frontend, so its connect()/send() fails at once (ECONNREFUSED). */
static __always_inline int lb4_drop_no_service(struct __sk_buff *skb, int reason, const struct pkt4 *p,
					       const struct ev_eps *eps)
{
	int verdict = send_drop(skb, reason, EV_DIR_EGRESS, p, eps);

	if (reason == DROP_NO_SERVICE && p->frag != PKT4_FRAG_LATER && lb4_icmp_unreach(skb, p) == 0)
		return bpf_redirect(skb->ifindex, 0);
	return verdict;
}

static __always_inline int handle_ipv4_from_lxc(struct __sk_buff *skb)
{
	struct pkt4 p = {};
	struct ev_eps eps = {};
	struct ct_result res = {};
	struct lb4_ctx lc;
	int rev_natted = 0;
	struct endpoint_info *src, *dst;
	struct tunnel_value *tv;
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *ip;
	__u32 len = skb->len;
	__u32 ifindex;
	int ret;

	ret = ipv4_parse(skb, &p);
	if (unlikely(ret))
		return send_drop(skb, ret, EV_DIR_EGRESS, &p, &eps);

	/* The source must be the endpoint behind this very interface. */
	src = lookup_ip4_endpoint(p.saddr);
	if (unlikely(!src || src->ifindex != skb->ifindex))
		return send_drop(skb, DROP_INVALID_SIP, EV_DIR_EGRESS, &p, &eps);
	eps.src_ep = src->ep_id;
	eps.src_sec_id = src->sec_id;

	/* Later fragments: the ports their first fragment recorded (fragment
	 * tracking), else they cannot be tracked. */
	ret = ipv4_frag_ports(&p);
	if (unlikely(ret))
		return send_drop(skb, ret, EV_DIR_EGRESS, &p, &eps);
	if (unlikely(!pkt4_has_ports(&p)))
		return send_drop(skb, DROP_FRAG_NOT_SUPPORTED, EV_DIR_EGRESS, &p, &eps);
	if (unlikely(!is_tracked_l4(p.proto)))
		return send_drop(skb, DROP_CT_UNKNOWN_PROTO, EV_DIR_EGRESS, &p, &eps);

	/* Services (per-packet LB): DNAT to the connection's backend first, so
	 * that CT, routing and events see the backend. */
	ret = lb4_local(skb, &p, &lc);
	if (unlikely(ret))
		return lb4_drop_no_service(skb, ret, &p, &eps);
	if (unlikely(lc.rev_nat_index && p.daddr == p.saddr)) {
		/* hairpin: the pod is its own backend */
		ret = lb4_xlate(skb, &p, 1, LB_HAIRPIN_IP, p.sport);
		if (unlikely(ret))
			return send_drop(skb, ret, EV_DIR_EGRESS, &p, &eps);
	}

	dst = lookup_ip4_endpoint(p.daddr);
	if (dst) {
		eps.dst_ep = dst->ep_id;
		eps.dst_sec_id = dst->sec_id;
	}

	ret = ct_process4(skb, &p, eps.src_ep, eps.dst_ep, lc.rev_nat_index, &res);
	if (unlikely(ret))
		return send_drop(skb, ret, EV_DIR_EGRESS, &p, &eps);
	if (lc.rev_nat_index)
		lb4_ct_svc_commit(&lc, &res, eps.src_ep);
	else if (res.rev_nat_index && res.ev_state == EV_CT_REPLY) {
		/* A local backend answering a service connection: the client
		 * must see the frontend as the source. */
		if (unlikely(p.daddr == LB_HAIRPIN_IP)) {
			/* the answer of a pod to itself through a service */
			ret = lb4_xlate(skb, &p, 0, p.saddr, p.dport);
			if (unlikely(ret))
				return send_drop(skb, ret, EV_DIR_EGRESS, &p, &eps);
			dst = src;
			eps.dst_ep = dst->ep_id;
			eps.dst_sec_id = dst->sec_id;
		}
		ret = lb4_rev_nat(skb, &p, res.rev_nat_index);
		if (unlikely(ret))
			return send_drop(skb, ret, EV_DIR_EGRESS, &p, &eps);
		rev_natted = 1;
	} else if (unlikely(res.ev_state == EV_CT_RELATED && res.rev_nat_index && res.related_orig)) {
		/* A local backend's ICMP error about a client's packet (e.g.
		 * port unreachable): the client must see the frontend in it. */
		ret = lb4_icmp_rev_nat(skb, &p, res.rev_nat_index);
		if (unlikely(ret))
			return send_drop(skb, ret, EV_DIR_EGRESS, &p, &eps);
		rev_natted = 1;
	} else if (unlikely(res.ev_state == EV_CT_REPLY && (res.ct_flags & CT_F_DSR))) {
		/* A backend answering a DSR NodePort client (the request came
		 * from the LB node with the frontend in an IPv4 option): the
		 * source becomes the frontend, and the reply goes straight to
		 * the client from here. */
		ret = dsr_rev_xlate4(skb, &p, &rev_natted);
		if (unlikely(ret))
			return send_drop(skb, ret, EV_DIR_EGRESS, &p, &eps);
	}

	if (!dst) {
		/* Tunnel mode: another node's pod CIDR goes out through VXLAN. */
		if (TUNNEL_IFINDEX) {
			tv = lookup_ip4_tunnel(p.daddr);
			if (tv)
				goto to_overlay;
		}
		/* A local backend answering a NodePort/ExternalIP client:
		 * the source may now be the node's own address, which the
		 * stack would drop as a martian: forward it ourselves. */
		if (rev_natted)
			goto to_fib;
		goto to_stack;
	}

	/* Local endpoint: route it ourselves (TTL, MACs) and hand the packet
	 * straight to the peer's netns. */
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = data;
	ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > data_end)
		return send_drop(skb, DROP_INVALID, EV_DIR_EGRESS, &p, &eps);
	if (unlikely(ip->ttl <= 1))
		goto to_stack;          /* the stack answers with ICMP time exceeded */
	ipv4_dec_ttl(ip);
	eth_copy_mac(eth->h_dest, dst->mac);
	eth_copy_mac(eth->h_source, dst->node_mac);
	ifindex = dst->ifindex;

	update_metrics(len, EV_DIR_EGRESS, 0);
	if (res.report)
		send_trace(skb, TRACE_TO_LXC, res.ev_state, EV_DIR_EGRESS, &p, &eps);
	return bpf_redirect_peer(ifindex, 0);

to_overlay:
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > data_end)
		return send_drop(skb, DROP_INVALID, EV_DIR_EGRESS, &p, &eps);
	if (unlikely(ip->ttl <= 1))
		goto to_stack;
	ipv4_dec_ttl(ip);
	ret = tunnel_set_key(skb, tv, eps.src_sec_id);
	if (unlikely(ret))
		return send_drop(skb, ret, EV_DIR_EGRESS, &p, &eps);
	update_metrics(len, EV_DIR_EGRESS, 0);
	if (res.report)
		send_trace(skb, TRACE_TO_OVERLAY, res.ev_state, EV_DIR_EGRESS, &p, &eps);
	return bpf_redirect(TUNNEL_IFINDEX, 0);

to_fib:
	ret = fib_redirect4(skb, &p, skb->ifindex);
	if (ret >= 0) {
		update_metrics(len, EV_DIR_EGRESS, 0);
		if (res.report)
			send_trace(skb, TRACE_TO_STACK, res.ev_state, EV_DIR_EGRESS, &p, &eps);
		return ret;
	}
	/* no route: let the stack try */
to_stack:
	if (res.ev_state == EV_CT_REPLY)
		skb->mark = (skb->mark & ~MARK_MAGIC_MASK) | MARK_MAGIC_SKIP_MASQ;
	update_metrics(len, EV_DIR_EGRESS, 0);
	if (res.report)
		send_trace(skb, TRACE_TO_STACK, res.ev_state, EV_DIR_EGRESS, &p, &eps);
	return TC_ACT_OK;
}

/* Host-veth ingress: packets the pod sends. */
SEC("tc")
int cil_from_container(struct __sk_buff *skb)
{
	__u16 proto = eth_proto(skb);

	if (likely(proto == ETH_P_IP_BE))
		return handle_ipv4_from_lxc(skb);
	if (proto == ETH_P_ARP_BE)
		return TC_ACT_OK;
	if (proto == 0)
		return send_drop(skb, DROP_INVALID, EV_DIR_EGRESS, NULL, NULL);
	return send_drop(skb, DROP_UNSUPPORTED_L3, EV_DIR_EGRESS, NULL, NULL);
}

static __always_inline int handle_ipv4_to_lxc(struct __sk_buff *skb)
{
	struct pkt4 p = {};
	struct ev_eps eps = {};
	struct ct_result res = { .ev_state = EV_CT_NONE, .report = 1 };
	struct endpoint_info *dst;
	__u32 len = skb->len;
	int ret;

	ret = ipv4_parse(skb, &p);
	if (unlikely(ret))
		return send_drop(skb, ret, EV_DIR_INGRESS, &p, &eps);

	dst = lookup_ip4_endpoint(p.daddr);
	if (dst) {
		eps.dst_ep = dst->ep_id;
		eps.dst_sec_id = dst->sec_id;
	}

	/* Later fragments (unless fragment tracking has their first's ports)
	 * and other protocols from the host pass untracked. */
	if (unlikely(ipv4_frag_ports(&p)))
		p.frag_ports = 0;
	if (likely(pkt4_has_ports(&p) && is_tracked_l4(p.proto))) {
		ret = ct_process4(skb, &p, 0, eps.dst_ep, 0, &res);
		if (unlikely(ret))
			return send_drop(skb, ret, EV_DIR_INGRESS, &p, &eps);
		/* The reply of a service connection this pod opened (backend
		 * elsewhere, reply through the stack): source back to the frontend. */
		if (res.rev_nat_index && res.ev_state == EV_CT_REPLY) {
			ret = lb4_rev_nat(skb, &p, res.rev_nat_index);
			if (unlikely(ret))
				return send_drop(skb, ret, EV_DIR_INGRESS, &p, &eps);
		}
		/* An ICMP error about a packet this pod sent to a service backend
		 * (from the backend, or "fragmentation needed" / "time exceeded"
		 * from a router on the way): the quote back to the frontend. */
		if (unlikely(res.ev_state == EV_CT_RELATED && res.rev_nat_index && res.related_orig)) {
			ret = lb4_icmp_rev_nat(skb, &p, res.rev_nat_index);
			if (unlikely(ret))
				return send_drop(skb, ret, EV_DIR_INGRESS, &p, &eps);
		}
		/* A DSR request (NodePort on another node, backend here): remember
		 * the frontend for the replies. */
		if (unlikely(p.l4_off > ETH_HLEN + sizeof(struct iphdr)) && res.ev_state != EV_CT_REPLY &&
		    (p.proto == IPPROTO_TCP || p.proto == IPPROTO_UDP)) {
			__u32 fe_addr;
			__u16 fe_port;

			if (dsr_get_opt4(skb, &p, &fe_addr, &fe_port))
				dsr_record4(&p, fe_addr, fe_port);
		}
	}

	update_metrics(len, EV_DIR_INGRESS, 0);
	if (res.report)
		send_trace(skb, TRACE_TO_LXC, res.ev_state, EV_DIR_INGRESS, &p, &eps);
	return TC_ACT_OK;
}

/* Host-veth egress: packets the host stack sends to the pod. */
SEC("tc")
int cil_to_container(struct __sk_buff *skb)
{
	if (likely(eth_proto(skb) == ETH_P_IP_BE))
		return handle_ipv4_to_lxc(skb);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "Dual BSD/GPL";
