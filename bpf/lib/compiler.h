/* SPDX-License-Identifier: Apache-2.0 */
/* Includes and small helpers shared by every datapath object. */
#ifndef __CILIUM_TS_COMPILER_H
#define __CILIUM_TS_COMPILER_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "common.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* <linux/icmp.h> drags in libc headers (via <linux/if.h>): the few bits we need. */
#define ICMP_ECHOREPLY      0
#define ICMP_DEST_UNREACH   3
#define ICMP_SOURCE_QUENCH  4
#define ICMP_REDIRECT       5
#define ICMP_ECHO           8
#define ICMP_TIME_EXCEEDED  11
#define ICMP_PARAMETERPROB  12

struct icmphdr {
	__u8  type;
	__u8  code;
	__sum16 checksum;
	union {
		struct {
			__be16 id;
			__be16 sequence;
		} echo;
		__be32 gateway;
	} un;
};

#define NSEC_PER_SEC 1000000000ULL

/* TCP flag bits as in the 13th byte of the TCP header (and in flow_event.tcp_flags) */
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_ACK 0x10

/* Returns 0 once [data, data + len) is readable through direct packet access,
 * pulling non-linear data in if needed. Callers must reload data pointers. */
static __always_inline int ctx_ensure_linear(struct __sk_buff *skb, __u32 len)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	if (likely(data + len <= data_end))
		return 0;
	if (len > skb->len)
		return -1;
	if (bpf_skb_pull_data(skb, len) < 0)
		return -1;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	return data + len <= data_end ? 0 : -1;
}

#endif
