// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bpf_sock: socket load balancing (cgroup sock_addr programs). Attached to a
 * cgroup2 directory (in the lab: the node's own subtree for its pods and the
 * node's processes; never the machine's root cgroup), they translate a
 * service frontend to a backend when the socket connects or sends, so
 * connected sockets talk to the backend directly and the per-packet LB in
 * bpf_lxc never sees a VIP.
 *
 *   SEC("cgroup/connect4")     cil_sock4_connect      attach BPF_CGROUP_INET4_CONNECT
 *   SEC("cgroup/sendmsg4")     cil_sock4_sendmsg      attach BPF_CGROUP_UDP4_SENDMSG
 *   SEC("cgroup/recvmsg4")     cil_sock4_recvmsg      attach BPF_CGROUP_UDP4_RECVMSG
 *   SEC("cgroup/getpeername4") cil_sock4_getpeername  attach BPF_CGROUP_INET4_GETPEERNAME
 *
 * connect4 / sendmsg4: (user_ip4, user_port, protocol) a frontend (scope INT
 * when the service has one, as for pod traffic; NODE_IP and 127.0.0.0/8 also
 * match the NodePort wildcard row 0.0.0.0:port)? Pick a backend (ClientIP affinity by
 * the socket's netns cookie, Maglev hashed on the socket cookie, else
 * random), rewrite user_ip4/user_port, and remember (socket cookie, backend)
 * -> frontend in cilium_lb4_sk_rnat for recvmsg4 (unconnected UDP replies)
 * and getpeername4, which rewrite the backend back to the frontend.
 * A frontend with no usable backend: the syscall fails at once with EPERM
 * (the program returns 0, as Cilium does) and a DROP flow_event with
 * DROP_NO_SERVICE (daddr/dport = the frontend, ifindex 0, dir EGRESS) goes
 * to cilium_events; cilium_metrics counts it (reason 158, egress, 0 bytes).
 * Anything that is no frontend costs one hash lookup and is left alone.
 *
 * Maps: the same definitions as bpf_lxc.o (lib/maps.h), pinned by name, so
 * loading this object with the same pin root reuses bpf_lxc's maps.
 * Read-only globals (rodata): NODE_IP (lib/lb.h: the node's IPv4, for the
 * NodePort wildcard), LB_ALGORITHM (lib/lb.h: 0 random, 1 Maglev for every
 * service with a table). MONITOR_AGGREGATION / TUNNEL_IFINDEX exist but are
 * unused here.
 */
#include "lib/compiler.h"
#include "lib/maps.h"
#include "lib/metrics.h"
#include "lib/events.h"
#include "lib/lb.h"

#define SYS_REJECT 0
#define SYS_PROCEED 1

static __always_inline void sock4_drop_event(__u32 vip, __u16 vport, __u8 proto)
{
	struct flow_event *ev;

	update_metrics(0, EV_DIR_EGRESS, DROP_NO_SERVICE);
	ev = bpf_ringbuf_reserve(&cilium_events, sizeof(*ev), 0);
	if (unlikely(!ev)) {
		count_lost_event();
		return;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->type = EVENT_DROP;
	ev->subtype = DROP_NO_SERVICE;
	ev->ct_state = EV_CT_NONE;
	ev->l4_proto = proto;
	ev->daddr = vip;
	ev->dport = vport;
	ev->dir = EV_DIR_EGRESS;
	ev->ktime = bpf_ktime_get_ns();
	bpf_ringbuf_submit(ev, 0);
}

static __always_inline int sock4_xlate_fwd(struct bpf_sock_addr *ctx)
{
	struct lb4_key key = {};
	struct lb4_service *svc;
	struct lb4_backend *be;
	struct lb4_sk_rnat_key rkey = {};
	struct lb4_sk_rnat_val rval = {}, *cur;
	__u32 proto = ctx->protocol;
	__u32 vip = ctx->user_ip4;
	__u16 vport = (__u16)ctx->user_port;
	__u64 cookie, client;
	__u32 id;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return SYS_PROCEED;
	key.address = vip;
	key.dport = vport;
	key.proto = proto;
	/* NODE_IP:port and localhost:port also match a NodePort wildcard row */
	svc = lb4_lookup_service_node(&key, 1, 1);
	if (likely(!svc))
		return SYS_PROCEED;

	cookie = bpf_get_socket_cookie(ctx);
	client = bpf_get_netns_cookie(ctx);
	id = lb4_select_backend(&key, svc, lb4_hash_cookie(cookie, vip, vport), client, 1);
	be = lb4_lookup_backend(id);
	if (!be) {
		sock4_drop_event(vip, vport, proto);
		return SYS_REJECT;
	}

	rkey.cookie = cookie;
	rkey.address = be->address;
	rkey.port = be->port;
	cur = bpf_map_lookup_elem(&cilium_lb4_sk_rnat, &rkey);
	/* every datagram of an unconnected UDP socket comes here: write only on change */
	if (!cur || cur->address != vip || cur->port != vport) {
		rval.address = vip;
		rval.port = vport;
		rval.rev_nat_index = svc->rev_nat_index;
		bpf_map_update_elem(&cilium_lb4_sk_rnat, &rkey, &rval, BPF_ANY);
	}

	ctx->user_ip4 = be->address;
	ctx->user_port = be->port;
	return SYS_PROCEED;
}

/* Backend -> the frontend this socket sent to (recvmsg4, getpeername4). */
static __always_inline int sock4_xlate_rev(struct bpf_sock_addr *ctx)
{
	struct lb4_sk_rnat_key rkey = {};
	struct lb4_sk_rnat_val *rval;

	rkey.cookie = bpf_get_socket_cookie(ctx);
	rkey.address = ctx->user_ip4;
	rkey.port = (__u16)ctx->user_port;
	rval = bpf_map_lookup_elem(&cilium_lb4_sk_rnat, &rkey);
	if (!rval)
		return SYS_PROCEED;
	ctx->user_ip4 = rval->address;
	ctx->user_port = rval->port;
	return SYS_PROCEED;
}

SEC("cgroup/connect4")
int cil_sock4_connect(struct bpf_sock_addr *ctx)
{
	return sock4_xlate_fwd(ctx);
}

SEC("cgroup/sendmsg4")
int cil_sock4_sendmsg(struct bpf_sock_addr *ctx)
{
	return sock4_xlate_fwd(ctx);
}

SEC("cgroup/recvmsg4")
int cil_sock4_recvmsg(struct bpf_sock_addr *ctx)
{
	return sock4_xlate_rev(ctx);
}

SEC("cgroup/getpeername4")
int cil_sock4_getpeername(struct bpf_sock_addr *ctx)
{
	return sock4_xlate_rev(ctx);
}

char _license[] SEC("license") = "Dual BSD/GPL";
