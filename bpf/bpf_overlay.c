// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bpf_overlay: tc ingress of the agent's VXLAN device (cilium_vxlan, collect
 * metadata mode). The kernel has already decapsulated the packet: what we see
 * is the inner Ethernet frame a pod on another node sent, with the tunnel
 * metadata (remote node, VNI = the source's security identity) attached.
 *
 *   underlay --UDP 8472--> cilium_vxlan  ingress: cil_from_overlay --> redirect_peer to a local pod
 *                                                                  --> the stack, for ROUTER_IP (replies to
 *                                                                      the node's own connections)
 *                                                                  --> or drop UNKNOWN_L3 (150)
 *
 * ROUTER_IP (.rodata, network order, set by the agent): the address on
 * cilium_host. The node reaches other nodes' pods through routes that
 * encapsulate via cilium_vxlan with that source; their replies come back here.
 *
 * Shares every map with bpf_lxc.o (pinned by name): endpoints, conntrack,
 * events, metrics.
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

const volatile __u32 ROUTER_IP = 0;

#define PKT_TYPE_HOST 0         /* PACKET_HOST */

static __always_inline int is_tracked_l4(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_ICMP;
}

static __always_inline int handle_ipv4_from_overlay(struct __sk_buff *skb)
{
	struct pkt4 p = {};
	struct ev_eps eps = {};
	struct ct_result res = { .ev_state = EV_CT_NONE, .report = 1 };
	struct bpf_tunnel_key tkey = {};
	struct endpoint_info *dst;
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *ip;
	__u32 len = skb->len;
	__u32 ifindex;
	int ret;

	ret = ipv4_parse(skb, &p);
	if (unlikely(ret))
		return send_drop(skb, ret, EV_DIR_INGRESS, &p, &eps);

	/* The VNI names the sender's security identity. Without tunnel
	 * metadata (BPF_PROG_TEST_RUN) it stays 0. */
	if (bpf_skb_get_tunnel_key(skb, &tkey, sizeof(tkey), 0) == 0)
		eps.src_sec_id = tkey.tunnel_id;

	dst = lookup_ip4_endpoint(p.daddr);
	if (!dst) {
		if (ROUTER_IP && p.daddr == ROUTER_IP)
			goto to_host;
		return send_drop(skb, DROP_UNKNOWN_L3, EV_DIR_INGRESS, &p, &eps);
	}
	eps.dst_ep = dst->ep_id;
	eps.dst_sec_id = dst->sec_id;

	ret = ipv4_frag_ports(&p);
	if (unlikely(ret))
		return send_drop(skb, ret, EV_DIR_INGRESS, &p, &eps);
	if (unlikely(!pkt4_has_ports(&p)))
		return send_drop(skb, DROP_FRAG_NOT_SUPPORTED, EV_DIR_INGRESS, &p, &eps);
	if (unlikely(!is_tracked_l4(p.proto)))
		return send_drop(skb, DROP_CT_UNKNOWN_PROTO, EV_DIR_INGRESS, &p, &eps);

	ret = ct_process4(skb, &p, 0, eps.dst_ep, 0, &res);
	if (unlikely(ret))
		return send_drop(skb, ret, EV_DIR_INGRESS, &p, &eps);
	/* The reply of a service connection a local pod opened to a backend on
	 * another node: source back to the frontend. */
	if (res.rev_nat_index && res.ev_state == EV_CT_REPLY) {
		ret = lb4_rev_nat(skb, &p, res.rev_nat_index);
		if (unlikely(ret))
			return send_drop(skb, ret, EV_DIR_INGRESS, &p, &eps);
	}
	/* An ICMP error about a packet the pod sent to such a backend. */
	if (unlikely(res.ev_state == EV_CT_RELATED && res.rev_nat_index && res.related_orig)) {
		ret = lb4_icmp_rev_nat(skb, &p, res.rev_nat_index);
		if (unlikely(ret))
			return send_drop(skb, ret, EV_DIR_INGRESS, &p, &eps);
	}

	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = data;
	ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > data_end)
		return send_drop(skb, DROP_INVALID, EV_DIR_INGRESS, &p, &eps);
	/* This node routes the packet to the pod: one more hop. */
	if (unlikely(ip->ttl <= 1))
		return send_drop(skb, DROP_INVALID, EV_DIR_INGRESS, &p, &eps);
	ipv4_dec_ttl(ip);
	eth_copy_mac(eth->h_dest, dst->mac);
	eth_copy_mac(eth->h_source, dst->node_mac);
	ifindex = dst->ifindex;

	update_metrics(len, EV_DIR_INGRESS, 0);
	if (res.report) {
		send_trace(skb, TRACE_FROM_OVERLAY, res.ev_state, EV_DIR_INGRESS, &p, &eps);
		send_trace(skb, TRACE_TO_LXC, res.ev_state, EV_DIR_INGRESS, &p, &eps);
	}
	/* Straight into the pod's netns (its cil_to_container does not run;
	 * the CT entry above covers the connection). */
	return bpf_redirect_peer(ifindex, 0);

to_host:
	if (unlikely(ipv4_frag_ports(&p)))
		p.frag_ports = 0;
	if (likely(pkt4_has_ports(&p) && is_tracked_l4(p.proto))) {
		ret = ct_process4(skb, &p, 0, 0, 0, &res);
		if (unlikely(ret))
			return send_drop(skb, ret, EV_DIR_INGRESS, &p, &eps);
	}
	/* The inner frame carries the sender's gateway MAC, not this device's:
	 * make the stack take it as its own. */
	bpf_skb_change_type(skb, PKT_TYPE_HOST);
	update_metrics(len, EV_DIR_INGRESS, 0);
	if (res.report)
		send_trace(skb, TRACE_TO_HOST, res.ev_state, EV_DIR_INGRESS, &p, &eps);
	return TC_ACT_OK;
}

SEC("tc")
int cil_from_overlay(struct __sk_buff *skb)
{
	__u16 proto = eth_proto(skb);

	if (likely(proto == ETH_P_IP_BE))
		return handle_ipv4_from_overlay(skb);
	if (proto == 0)
		return send_drop(skb, DROP_INVALID, EV_DIR_INGRESS, NULL, NULL);
	return send_drop(skb, DROP_UNSUPPORTED_L3, EV_DIR_INGRESS, NULL, NULL);
}

char _license[] SEC("license") = "Dual BSD/GPL";
