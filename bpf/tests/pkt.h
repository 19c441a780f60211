/* SPDX-License-Identifier: Apache-2.0 */
/* Hand-built test packets: Ethernet + IPv4 + TCP/UDP/ICMP with correct checksums. */
#ifndef __CILIUM_TS_TEST_PKT_H
#define __CILIUM_TS_TEST_PKT_H

#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>

#define PKT_MAX 2048

struct pkt_opts {
	const uint8_t *smac, *dmac;
	uint32_t saddr, daddr;          /* network order */
	uint8_t proto;                  /* IPPROTO_* */
	uint16_t sport, dport;          /* host order; ICMP echo: sport is the echo id */
	uint8_t tcp_flags;
	uint8_t ttl;                    /* 0 -> 64 */
	uint16_t frag_off;              /* host order, as in the header (MF = 0x2000) */
	uint8_t icmp_type, icmp_code;
	const uint8_t *payload;         /* NULL: zero bytes */
	int payload_len;
	int l4_len_override;            /* >0: truncate the packet after this many L4 bytes */
};

static inline uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static inline uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

/* Internet checksum in network order, ready to store. */
static inline uint16_t inet_csum(uint32_t sum, const void *data, size_t len)
{
	return htons(csum_fold(csum_add(sum, data, len)));
}

static inline void put16(uint8_t *p, uint16_t host)
{
	p[0] = host >> 8;
	p[1] = host & 0xff;
}

/* Builds the frame into buf and returns its length. */
static inline size_t build_pkt(uint8_t *buf, const struct pkt_opts *o)
{
	uint8_t *ip = buf + 14, *l4 = ip + 20;
	size_t l4len, iplen;
	uint32_t pseudo = 0;

	memset(buf, 0, PKT_MAX);
	memcpy(buf, o->dmac, 6);
	memcpy(buf + 6, o->smac, 6);
	put16(buf + 12, 0x0800);

	switch (o->proto) {
	case IPPROTO_TCP:
		l4len = 20;
		put16(l4, o->sport);
		put16(l4 + 2, o->dport);
		put16(l4 + 4, 0x1234); put16(l4 + 6, 0x5678);    /* seq */
		l4[12] = 5 << 4;
		l4[13] = o->tcp_flags;
		put16(l4 + 14, 64240);
		break;
	case IPPROTO_UDP:
		l4len = 8;
		put16(l4, o->sport);
		put16(l4 + 2, o->dport);
		break;
	case IPPROTO_ICMP:
		l4len = 8;
		l4[0] = o->icmp_type;
		l4[1] = o->icmp_code;
		if (o->icmp_type == 8 || o->icmp_type == 0) {
			put16(l4 + 4, o->sport);
			put16(l4 + 6, 1);
		}
		break;
	default:
		l4len = 0;
		break;
	}
	if (o->payload_len > 0) {
		if (o->payload)
			memcpy(l4 + l4len, o->payload, o->payload_len);
		l4len += o->payload_len;
	}
	iplen = 20 + l4len;

	ip[0] = 0x45;
	put16(ip + 2, iplen);
	put16(ip + 4, 0x4242);
	put16(ip + 6, o->frag_off);
	ip[8] = o->ttl ? o->ttl : 64;
	ip[9] = o->proto;
	memcpy(ip + 12, &o->saddr, 4);
	memcpy(ip + 16, &o->daddr, 4);
	memcpy(ip + 10, (uint16_t[]){ inet_csum(0, ip, 20) }, 2);

	switch (o->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		pseudo = csum_add(0, ip + 12, 8);
		pseudo += o->proto + l4len;
		if (o->proto == IPPROTO_UDP)
			put16(l4 + 4, l4len);
		{
			uint16_t c = inet_csum(pseudo, l4, l4len);
			memcpy(l4 + (o->proto == IPPROTO_TCP ? 16 : 6), &c, 2);
		}
		break;
	case IPPROTO_ICMP: {
		uint16_t c = inet_csum(0, l4, l4len);
		memcpy(l4 + 2, &c, 2);
		break;
	}
	}
	if (o->l4_len_override > 0)
		return 14 + 20 + o->l4_len_override;
	return 14 + iplen;
}

/* A frame with the given EtherType and len bytes of (zeroed) payload; IPv6
 * gets its version nibble. */
static inline size_t build_l2(uint8_t *buf, const uint8_t *smac, const uint8_t *dmac,
			      uint16_t ethertype, size_t len)
{
	memset(buf, 0, PKT_MAX);
	memcpy(buf, dmac, 6);
	memcpy(buf + 6, smac, 6);
	put16(buf + 12, ethertype);
	if (ethertype == 0x86dd)
		buf[14] = 0x60;
	return 14 + len;
}

/* Nonzero if the IPv4 header checksum of the frame verifies. */
static inline int ipv4_csum_ok(const uint8_t *frame)
{
	return csum_fold(csum_add(0, frame + 14, 20)) == 0;
}

#endif
