// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bpf_host: tc programs on the node's underlay device (in the lab: eth0 of
 * the node's netns; never a device of the machine's root netns). They make
 * NodePort, ExternalIP, LoadBalancer and HostPort frontends work for clients
 * outside the node (kube-proxy replacement).
 *
 *   SEC("tc") cil_from_netdev  tc ingress of the device
 *   SEC("tc") cil_to_netdev    tc egress of the device (passes everything;
 *                              translation happens on ingress, translated
 *                              packets leave by redirect; it only claims the
 *                              SNAT-range ports of the node's own connections)
 *
 * cil_from_netdev, TCP/UDP only:
 *  1. Reply of a SNATed NodePort connection (to NODE_IP, destination port in
 *     NODEPORT_PORT_MIN_NAT_CFG..MAX_NAT_CFG, found in cilium_snat_v4_ext
 *     and not an identity row of the node's own connection): destination back
 *     to the client, CT (REPLY) gives the rev_nat_index, source back to the
 *     frontend (NODE_IP for a wildcard row), forwarded by FIB lookup.
 *  2. A frontend (scope EXT: the row lists node-local backends only when the
 *     service has externalTrafficPolicy=Local), flags NodePort / ExternalIP /
 *     LoadBalancer / HostPort (a ClusterIP is not served to the outside);
 *     destination NODE_IP also matches the NodePort wildcard row 0.0.0.0:port.
 *     Backend pinned by a CT service entry (client -> frontend), else
 *     selected (affinity by client IP, Maglev or random); DNAT.
 *     - local backend (a pod in cilium_lxc): CT entry with rev_nat_index,
 *       MACs + TTL, bpf_redirect_peer into the pod; its reply is reverse-NATed
 *       by bpf_lxc's cil_from_container (and forwarded there by FIB).
 *     - remote backend, DSR (SVC_F2_DSR, not through the tunnel): CT entry
 *       (flag CT_F_DSR), no SNAT, the frontend in an IPv4 option (lib/dsr.h;
 *       TCP SYN / every UDP packet), forwarded by FIB lookup.
 *     - remote backend: CT entry (client -> backend) with rev_nat_index, then
 *       SNAT of the source to NODE_IP:port (port from the SNAT range,
 *       both directions in cilium_snat_v4_ext, ct_key4 as on the wire), sent
 *       to the tunnel (TUNNEL_IFINDEX set and the backend in
 *       cilium_tunnel_map) or by FIB lookup out of the device.
 *     - no usable backend: DROP_NO_SERVICE (flow + metric) and an ICMP port
 *       unreachable back out of the device.
 *  1b. An ICMP error quoting a SNATed NodePort connection (host_icmp_rev_snat):
 *     un-SNAT + reverse NAT of the outer header and the quote, to the client.
 *  Anything else passes (TC_ACT_OK) without an event: this device carries
 *  the node's own traffic and the tunnel's underlay.
 *
 * Read-only globals (rodata), set by the agent at load time:
 *   NODE_IP              this node's IPv4 on the device, network order
 *                        (lib/lb.h). Required for SNAT and the NodePort
 *                        wildcard; 0: remote backends are forwarded without
 *                        SNAT (replies then only work if routed back here).
 *   TUNNEL_IFINDEX       ifindex of cilium_vxlan (lib/tunnel.h), 0: native routing.
 *   LB_ALGORITHM         LB_ALG_RANDOM (0, default) or LB_ALG_MAGLEV (1) (lib/lb.h).
 *   NODEPORT_PORT_MIN_NAT_CFG / NODEPORT_PORT_MAX_NAT_CFG  SNAT port range,
 *                        host order (default 32768..65535, common.h).
 *   TUNNEL_PORT          VXLAN UDP port in tunnel mode (host order), 0: none.
 *   MONITOR_AGGREGATION  as for bpf_lxc (lib/events.h).
 * Needs net.ipv4.ip_forward=1 in the node's netns (FIB lookups of forwarded packets).
 * Maps: all shared with bpf_lxc.o through the same pins (lib/maps.h).
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

/* Ports tried for a new SNAT mapping before giving up on the packet. */
#define SNAT_TRIES 32

/* The SNAT port range (host order), Cilium's NODEPORT_PORT_MIN_NAT..MAX_NAT;
 * the agent sets the minimum to its NodePort range's maximum + 1. */
const volatile __u32 NODEPORT_PORT_MIN_NAT_CFG = NODEPORT_PORT_MIN_NAT;
const volatile __u32 NODEPORT_PORT_MAX_NAT_CFG = NODEPORT_PORT_MAX_NAT;

/* UDP port of the VXLAN device in tunnel mode (host order; 0: none): the
 * node's encapsulated traffic has one source port per inner flow, none of
 * them worth a claim (no NodePort backend listens on the tunnel port). */
const volatile __u32 TUNNEL_PORT = 0;

static __always_inline int snat_port_in_range(__u16 port)
{
	return port >= NODEPORT_PORT_MIN_NAT_CFG && port <= NODEPORT_PORT_MAX_NAT_CFG;
}

static __always_inline int svc_is_external(const struct lb4_service *svc)
{
	return svc->flags & (SVC_F_NODEPORT | SVC_F_EXTERNALIP | SVC_F_LOADBALANCER | SVC_F_HOSTPORT);
}

/* A frontend served to clients outside the node, or NULL. key ends up as the
 * key of the row found (address 0 for the NodePort wildcard). */
static __always_inline struct lb4_service *host_lookup_service(struct lb4_key *key)
{
	struct lb4_service *svc = lb4_lookup_service_node(key, 0, 0);

	if (svc && !svc_is_external(svc))
		return NULL;
	return svc;
}

/* The key under which cilium_snat_v4_ext finds a reply to the node's
 * address: peer:peer_port -> NODE_IP:node_port (ports in network order). */
static __always_inline struct ct_key4 snat_reply_key(__u32 peer, __u16 peer_port, __u16 node_port, __u8 proto)
{
	struct ct_key4 k = {};

	k.saddr = peer;
	k.daddr = NODE_IP;
	k.sport = peer_port;
	k.dport = node_port;
	k.nexthdr = proto;
	return k;
}

/*
 * The SNAT port of the connection p (client -> backend, after DNAT): the
 * existing mapping, or a new one stored both ways. Returns 0 and the port
 * (network order) in *nat_port, or DROP_CT_CREATE_FAILED when no port is free.
 */
static __always_inline int snat_v4_get(const struct pkt4 *p, __u16 *nat_port)
{
	struct ct_key4 ekey = {}, ikey;
	struct nat4_entry *en, ne = {}, ie = {};
	__u64 now = bpf_ktime_get_ns();
	__u32 start, span = NODEPORT_PORT_MAX_NAT_CFG - NODEPORT_PORT_MIN_NAT_CFG + 1;
	int i;

	ekey.saddr = p->saddr;
	ekey.daddr = p->daddr;
	ekey.sport = p->sport;
	ekey.dport = p->dport;
	ekey.nexthdr = p->proto;
	/* the reply as it will arrive: backend -> NODE_IP:nat_port (port set below) */
	ikey = snat_reply_key(p->daddr, p->dport, 0, p->proto);
	ie.to_addr = p->saddr;
	ie.to_port = p->sport;
	ie.created = now;

	en = bpf_map_lookup_elem(&cilium_snat_v4_ext, &ekey);
	if (en) {
		ikey.dport = en->to_port;
		*nat_port = en->to_port;
		/* the LRU may have evicted the other direction */
		if (!bpf_map_lookup_elem(&cilium_snat_v4_ext, &ikey))
			bpf_map_update_elem(&cilium_snat_v4_ext, &ikey, &ie, BPF_ANY);
		return 0;
	}
	start = bpf_get_prandom_u32();
	for (i = 0; i < SNAT_TRIES; i++) {
		__u16 port = NODEPORT_PORT_MIN_NAT_CFG + (start + i) % span;

		ikey.dport = bpf_htons(port);
		if (bpf_map_update_elem(&cilium_snat_v4_ext, &ikey, &ie, BPF_NOEXIST) == 0) {
			ne.to_addr = NODE_IP;
			ne.to_port = ikey.dport;
			ne.created = now;
			bpf_map_update_elem(&cilium_snat_v4_ext, &ekey, &ne, BPF_ANY);
			*nat_port = ikey.dport;
			return 0;
		}
	}
	return DROP_CT_CREATE_FAILED;
}

/* Sends a translated packet on: the tunnel for another node's pod CIDR in
 * tunnel mode, else by FIB lookup. */
static __always_inline int host_forward(struct __sk_buff *skb, const struct pkt4 *p, struct ct_result *res,
					const struct ev_eps *eps, __u32 len)
{
	struct tunnel_value *tv;
	void *data, *data_end;
	struct iphdr *ip;
	int ret;

	if (TUNNEL_IFINDEX) {
		tv = lookup_ip4_tunnel(p->daddr);
		if (tv) {
			data = (void *)(long)skb->data;
			data_end = (void *)(long)skb->data_end;
			ip = data + ETH_HLEN;
			if ((void *)(ip + 1) > data_end)
				return send_drop(skb, DROP_INVALID, EV_DIR_INGRESS, p, eps);
			if (unlikely(ip->ttl <= 1))
				return send_drop(skb, DROP_INVALID, EV_DIR_INGRESS, p, eps);
			ipv4_dec_ttl(ip);
			ret = tunnel_set_key(skb, tv, 0);
			if (unlikely(ret))
				return send_drop(skb, ret, EV_DIR_INGRESS, p, eps);
			update_metrics(len, EV_DIR_INGRESS, 0);
			if (res->report)
				send_trace(skb, TRACE_TO_OVERLAY, res->ev_state, EV_DIR_INGRESS, p, eps);
			return bpf_redirect(TUNNEL_IFINDEX, 0);
		}
	}
	ret = fib_redirect4(skb, p, skb->ifindex);
	update_metrics(len, EV_DIR_INGRESS, 0);
	if (res->report)
		send_trace(skb, TRACE_TO_STACK, res->ev_state, EV_DIR_INGRESS, p, eps);
	/* no route: the stack gets it (and may drop it) */
	return ret >= 0 ? ret : TC_ACT_OK;
}

/* 1. A reply to a SNATed NodePort connection. Returns -1 if p is none. */
static __always_inline int host_rev_snat(struct __sk_buff *skb, struct pkt4 *p, __u32 len)
{
	struct ev_eps eps = {};
	struct ct_result res = {};
	struct ct_key4 ikey;
	struct nat4_entry *nat;
	__u16 port = bpf_ntohs(p->dport);
	int ret;

	if (!NODE_IP || p->daddr != NODE_IP || !snat_port_in_range(port))
		return -1;
	ikey = snat_reply_key(p->saddr, p->sport, p->dport, p->proto);
	nat = bpf_map_lookup_elem(&cilium_snat_v4_ext, &ikey);
	if (!nat)
		return -1;
	/* a connection the node itself opened (cil_to_netdev claimed its port) */
	if (nat->to_addr == NODE_IP && nat->to_port == p->dport)
		return -1;
	ret = lb4_xlate(skb, p, 0, nat->to_addr, nat->to_port);
	if (unlikely(ret))
		return send_drop(skb, ret, EV_DIR_INGRESS, p, &eps);
	ret = ct_process4(skb, p, 0, 0, 0, &res);
	if (unlikely(ret))
		return send_drop(skb, ret, EV_DIR_INGRESS, p, &eps);
	if (res.rev_nat_index && res.ev_state == EV_CT_REPLY) {
		ret = lb4_rev_nat(skb, p, res.rev_nat_index);
		if (unlikely(ret))
			return send_drop(skb, ret, EV_DIR_INGRESS, p, &eps);
	}
	return host_forward(skb, p, &res, &eps, len);
}

/*
 * 1b. An ICMP error about a SNATed NodePort connection (from the backend, or
 * from a router between this node and the backend: "fragmentation needed",
 * "time exceeded"), addressed to NODE_IP and quoting NODE_IP:nat_port ->
 * backend. Un-SNAT: outer destination and the quote's source back to the
 * client; reverse NAT: the quote's destination back to the frontend, and the
 * outer source too when it is the backend; forwarded to the client by FIB,
 * traced as RELATED. Returns -1 if p is none.
 */
static __always_inline int host_icmp_rev_snat(struct __sk_buff *skb, struct pkt4 *p, __u32 len)
{
	struct ev_eps eps = {};
	struct ct_result res = { .ev_state = EV_CT_RELATED, .report = 1 };
	struct ct_key4 inner, ikey = {}, okey = {};
	struct nat4_entry *nat;
	struct ct_entry *e;
	struct lb4_reverse_nat *rn;
	__u32 client, backend;
	__u16 client_port, rev_nat_index;
	int ret;

	if (!NODE_IP || p->daddr != NODE_IP)
		return -1;
	if (ipv4_icmp_inner_tuple(skb, p, &inner) < 0)
		return -1;
	if (inner.saddr != NODE_IP || (inner.nexthdr != IPPROTO_TCP && inner.nexthdr != IPPROTO_UDP) ||
	    !snat_port_in_range(bpf_ntohs(inner.sport)))
		return -1;
	/* the reply key of the mapping: backend -> NODE_IP:nat_port */
	ikey = snat_reply_key(inner.daddr, inner.dport, inner.sport, inner.nexthdr);
	nat = bpf_map_lookup_elem(&cilium_snat_v4_ext, &ikey);
	if (!nat)
		return -1;
	/* a connection the node itself opened: the stack's */
	if (nat->to_addr == NODE_IP && nat->to_port == inner.sport)
		return -1;
	client = nat->to_addr;
	client_port = nat->to_port;
	backend = inner.daddr;

	ret = lb4_xlate(skb, p, 0, client, 0);
	if (!ret)
		ret = lb4_icmp_inner_xlate(skb, p, 1, client, client_port);
	if (unlikely(ret))
		return send_drop(skb, ret, EV_DIR_INGRESS, p, &eps);

	okey.saddr = client;
	okey.daddr = backend;
	okey.sport = client_port;
	okey.dport = inner.dport;
	okey.nexthdr = inner.nexthdr;
	e = bpf_map_lookup_elem(&cilium_ct4_glob, &okey);
	if (e) {
		rev_nat_index = e->rev_nat_index;
		rn = rev_nat_index ? bpf_map_lookup_elem(&cilium_lb4_reverse_nat, &rev_nat_index) : NULL;
		if (rn) {
			__u32 fe_addr = rn->address ? rn->address : NODE_IP;

			ret = lb4_icmp_inner_xlate(skb, p, 0, fe_addr, rn->port);
			if (!ret && p->saddr == backend)
				ret = lb4_xlate(skb, p, 1, fe_addr, 0);
			if (unlikely(ret))
				return send_drop(skb, ret, EV_DIR_INGRESS, p, &eps);
		}
	} else {
		res.ev_state = EV_CT_NONE;
	}
	return host_forward(skb, p, &res, &eps, len);
}

static __always_inline int handle_ipv4_from_netdev(struct __sk_buff *skb)
{
	struct pkt4 p = {};
	struct ev_eps eps = {};
	struct ct_result res = {};
	struct lb4_ctx lc = {};
	struct lb4_key key = {};
	struct lb4_service *svc;
	struct endpoint_info *dst;
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *ip;
	__u32 len = skb->len;
	__u32 fe_addr;
	__u16 nat_port, fe_port;
	int ret, dsr;

	/* Not ours to judge: malformed packets go to the stack as they would without us. */
	if (ipv4_parse(skb, &p))
		return TC_ACT_OK;
	if (unlikely(p.icmp_error)) {
		ret = host_icmp_rev_snat(skb, &p, len);
		return ret >= 0 ? ret : TC_ACT_OK;
	}
	if (p.proto != IPPROTO_TCP && p.proto != IPPROTO_UDP)
		return TC_ACT_OK;
	/* Fragments: the first records the datagram's ports, later ones get
	 * them (fragment tracking on) and are translated like the first; a
	 * later one whose first was not seen is dropped, as in Cilium. */
	ret = ipv4_frag_ports(&p);
	if (unlikely(ret))
		return send_drop(skb, ret, EV_DIR_INGRESS, &p, &eps);
	if (unlikely(!pkt4_has_ports(&p)))
		return TC_ACT_OK;

	ret = host_rev_snat(skb, &p, len);
	if (ret >= 0)
		return ret;

	key.address = p.daddr;
	key.dport = p.dport;
	key.proto = p.proto;
	svc = host_lookup_service(&key);
	if (likely(!svc))
		return TC_ACT_OK;
	/* the frontend as the client addressed it (the node's address for the
	 * NodePort wildcard row): what a DSR backend answers from */
	fe_addr = p.daddr;
	fe_port = p.dport;
	dsr = svc->flags2 & SVC_F2_DSR;

	ret = lb4_svc_xlate(skb, &p, &lc, &key, svc);
	if (unlikely(ret)) {
		int verdict = send_drop(skb, ret, EV_DIR_INGRESS, &p, &eps);

		if (ret == DROP_NO_SERVICE && p.frag != PKT4_FRAG_LATER && lb4_icmp_unreach(skb, &p) == 0)
			return bpf_redirect(skb->ifindex, 0);
		return verdict;
	}

	dst = lookup_ip4_endpoint(p.daddr);
	if (dst) {
		eps.dst_ep = dst->ep_id;
		eps.dst_sec_id = dst->sec_id;
	}
	ret = ct_process4(skb, &p, 0, eps.dst_ep, lc.rev_nat_index, &res);
	if (unlikely(ret))
		return send_drop(skb, ret, EV_DIR_INGRESS, &p, &eps);
	lb4_ct_svc_commit(&lc, &res, 0);

	if (dst) {
		/* A local backend: straight into the pod, client address kept. */
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		eth = data;
		ip = data + ETH_HLEN;
		if ((void *)(ip + 1) > data_end)
			return send_drop(skb, DROP_INVALID, EV_DIR_INGRESS, &p, &eps);
		if (unlikely(ip->ttl <= 1))
			return send_drop(skb, DROP_INVALID, EV_DIR_INGRESS, &p, &eps);
		ipv4_dec_ttl(ip);
		eth_copy_mac(eth->h_dest, dst->mac);
		eth_copy_mac(eth->h_source, dst->node_mac);
		update_metrics(len, EV_DIR_INGRESS, 0);
		if (res.report)
			send_trace(skb, TRACE_TO_LXC, res.ev_state, EV_DIR_INGRESS, &p, &eps);
		return bpf_redirect_peer(dst->ifindex, 0);
	}

	/* DSR (native routing only: a backend behind the tunnel gets SNAT):
	 * client address kept, the frontend in an IPv4 option (TCP: on the SYN,
	 * which creates the connection's state on the backend's node; UDP: on
	 * every packet); the backend's node answers the client directly. */
	if (dsr && !(TUNNEL_IFINDEX && lookup_ip4_tunnel(p.daddr))) {
		ct_set_flags4(&p, CT_F_DSR);
		if (p.proto == IPPROTO_UDP || (p.tcp_flags & TCP_FLAG_SYN)) {
			ret = dsr_set_opt4(skb, &p, fe_addr, fe_port);
			if (unlikely(ret))
				return send_drop(skb, ret, EV_DIR_INGRESS, &p, &eps);
		}
		return host_forward(skb, &p, &res, &eps, len);
	}

	/* A remote backend (SNAT): the reply must come back through this node. */
	if (NODE_IP) {
		ret = snat_v4_get(&p, &nat_port);
		if (unlikely(ret))
			return send_drop(skb, ret, EV_DIR_INGRESS, &p, &eps);
		ret = lb4_xlate(skb, &p, 1, NODE_IP, nat_port);
		if (unlikely(ret))
			return send_drop(skb, ret, EV_DIR_INGRESS, &p, &eps);
		skb->mark = (skb->mark & ~MARK_MAGIC_MASK) | MARK_MAGIC_SNAT_DONE;
	}
	return host_forward(skb, &p, &res, &eps, len);
}

SEC("tc")
int cil_from_netdev(struct __sk_buff *skb)
{
	if (likely(eth_proto(skb) == ETH_P_IP_BE))
		return handle_ipv4_from_netdev(skb);
	return TC_ACT_OK;
}

/*
 * The node's own connections from NODE_IP with a source port in the SNAT
 * range (Linux's ephemeral ports overlap it, as in Cilium): claim the port
 * with an identity row {remote -> NODE_IP:port} -> NODE_IP:port in
 * cilium_snat_v4_ext (BPF_NOEXIST), so NodePort SNAT never picks it for that
 * remote and host_rev_snat leaves the replies to the stack. Packets
 * cil_from_netdev SNATed and forwarded (MARK_MAGIC_SNAT_DONE) are skipped.
 * A row that maps elsewhere is a NodePort SNAT connection, or a stale one
 * that a new node connection (TCP SYN) takes over; node UDP that collides
 * with a live one stays hijacked (Cilium re-maps the node's port instead).
 */
static __always_inline void host_claim_local_port(struct __sk_buff *skb)
{
	struct pkt4 p = {};
	struct ct_key4 ikey;
	struct nat4_entry *cur, ie = {};

	if (!NODE_IP || (skb->mark & MARK_MAGIC_MASK) == MARK_MAGIC_SNAT_DONE)
		return;         /* a NodePort packet cil_from_netdev SNATed: not the node's */
	if (ipv4_parse(skb, &p) || p.saddr != NODE_IP || p.frag == PKT4_FRAG_LATER)
		return;
	if ((p.proto != IPPROTO_TCP && p.proto != IPPROTO_UDP) || !snat_port_in_range(bpf_ntohs(p.sport)))
		return;
	if (p.proto == IPPROTO_UDP && TUNNEL_PORT && p.dport == bpf_htons(TUNNEL_PORT))
		return;
	ikey = snat_reply_key(p.daddr, p.dport, p.sport, p.proto);
	cur = bpf_map_lookup_elem(&cilium_snat_v4_ext, &ikey);
	/* A NodePort row on the port of a new node connection (its SYN) is a
	 * stale one: the node's connection wins. */
	if (cur && (cur->to_addr == NODE_IP || !lb4_is_new_tcp(&p)))
		return;
	ie.to_addr = NODE_IP;
	ie.to_port = p.sport;
	ie.created = bpf_ktime_get_ns();
	bpf_map_update_elem(&cilium_snat_v4_ext, &ikey, &ie, cur ? BPF_ANY : BPF_NOEXIST);
}

SEC("tc")
int cil_to_netdev(struct __sk_buff *skb)
{
	if (likely(eth_proto(skb) == ETH_P_IP_BE))
		host_claim_local_port(skb);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "Dual BSD/GPL";
