/* SPDX-License-Identifier: MIT */
/* UDP inside IPv4 and IPv6 packets: pure functions, no I/O.  Every read
 * is checked against the length first; nothing trusts a packet. */
#include "udp-packet.h"

#include "bytes.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#define PROTO_UDP 17
#define TTL 64
#define IPV4_DF 0x4000
#define IPV4_FRAG_MASK 0x3fff /* MF and the fragment offset */
#define UDP_LEN_MAX 65535

uint16_t ipop__udp_checksum(int family, const uint8_t *src, const uint8_t *dst, const uint8_t *udp,
                            size_t udp_len)
{
    size_t alen = family == AF_INET ? 4 : 16;
    uint8_t tail[8] = { 0 }; /* IPv4: zero, protocol, UDP length; IPv6: 32-bit length, 3 zeros, next header */
    uint32_t sum;

    sum = ipop__csum_add(0, src, alen);
    sum = ipop__csum_add(sum, dst, alen);
    if (family == AF_INET) {
        tail[1] = PROTO_UDP;
        ipop__put16(tail + 2, (uint16_t)udp_len);
        sum = ipop__csum_add(sum, tail, 4);
    } else {
        ipop__put32(tail, (uint32_t)udp_len);
        tail[7] = PROTO_UDP;
        sum = ipop__csum_add(sum, tail, 8);
    }
    return ipop__csum_finish(ipop__csum_add(sum, udp, udp_len));
}

static void put_ipv4(uint8_t *h, const ipop__addr *src, const ipop__addr *dst, size_t total)
{
    memset(h, 0, IPOP__IPV4_HLEN);
    h[0] = 0x45;
    ipop__put16(h + 2, (uint16_t)total);
    /* ID 0 is allowed for datagrams that must not be fragmented (RFC 6864). */
    ipop__put16(h + 6, IPV4_DF);
    h[8] = TTL;
    h[9] = PROTO_UDP;
    memcpy(h + 12, src->bytes, 4);
    memcpy(h + 16, dst->bytes, 4);
    ipop__put16(h + 10, ipop__csum_finish(ipop__csum_add(0, h, IPOP__IPV4_HLEN)));
}

static void put_ipv6(uint8_t *h, const ipop__addr *src, const ipop__addr *dst, size_t payload)
{
    memset(h, 0, IPOP__IPV6_HLEN);
    h[0] = 0x60;
    ipop__put16(h + 4, (uint16_t)payload);
    h[6] = PROTO_UDP;
    h[7] = TTL;
    memcpy(h + 8, src->bytes, 16);
    memcpy(h + 24, dst->bytes, 16);
}

int ipop__udp_build(uint8_t *buf, size_t size, const ipop__addr *src, uint16_t sport, const ipop__addr *dst,
                    uint16_t dport, const void *data, size_t len)
{
    size_t hlen, ulen;
    uint8_t *udp;
    uint16_t sum;

    if (!buf || !src || !dst || (!data && len) || !sport || !dport || src->family != dst->family)
        return -EINVAL;
    if (src->family != AF_INET && src->family != AF_INET6)
        return -EINVAL;
    hlen = src->family == AF_INET ? IPOP__IPV4_HLEN : IPOP__IPV6_HLEN;
    if (len > UDP_LEN_MAX - IPOP__UDP_HLEN - (src->family == AF_INET ? hlen : 0))
        return -EMSGSIZE; /* IPv4 counts its header in the 16-bit total length */
    ulen = IPOP__UDP_HLEN + len;
    if (hlen + ulen > size)
        return -EMSGSIZE;
    if (src->family == AF_INET)
        put_ipv4(buf, src, dst, hlen + ulen);
    else
        put_ipv6(buf, src, dst, ulen);
    udp = buf + hlen;
    ipop__put16(udp, sport);
    ipop__put16(udp + 2, dport);
    ipop__put16(udp + 4, (uint16_t)ulen);
    ipop__put16(udp + 6, 0);
    if (len)
        memcpy(udp + IPOP__UDP_HLEN, data, len);
    sum = ipop__udp_checksum(src->family, src->bytes, dst->bytes, udp, ulen);
    ipop__put16(udp + 6, sum ? sum : 0xffff); /* 0 would mean "no checksum" (RFC 768) */
    return (int)(hlen + ulen);
}

/* The UDP header and payload, udp_len bytes as the IP header delimits them. */
static int parse_udp(const uint8_t *udp, size_t udp_len, ipop__udp_dgram *d, bool ip_ok)
{
    uint16_t field;

    if (udp_len < IPOP__UDP_HLEN)
        return -EBADMSG;
    d->has_ports = true;
    d->sport = ipop__get16(udp);
    d->dport = ipop__get16(udp + 2);
    if (!ip_ok || ipop__get16(udp + 4) != udp_len)
        return -EBADMSG;
    field = ipop__get16(udp + 6);
    if (field == 0 && d->dst.family == AF_INET6)
        return -EBADMSG; /* mandatory in IPv6 (RFC 8200 section 8.1) */
    if (field != 0 && ipop__udp_checksum(d->dst.family, d->src.bytes, d->dst.bytes, udp, udp_len) != 0)
        return -EBADMSG;
    d->data = udp + IPOP__UDP_HLEN;
    d->len = udp_len - IPOP__UDP_HLEN;
    return IPOP__UDP_OK;
}

static int parse_ipv4(const uint8_t *pkt, size_t len, ipop__udp_dgram *d)
{
    size_t ihl, total;
    bool ip_ok;

    if (len < IPOP__IPV4_HLEN)
        return -EINVAL;
    ihl = (size_t)(pkt[0] & 0x0f) * 4;
    total = ipop__get16(pkt + 2);
    if (ihl < IPOP__IPV4_HLEN || ihl > total || total > len)
        return -EINVAL;
    ipop__addr_set_host(&d->src, AF_INET, pkt + 12);
    ipop__addr_set_host(&d->dst, AF_INET, pkt + 16);
    if (pkt[9] != PROTO_UDP || (ipop__get16(pkt + 6) & IPV4_FRAG_MASK))
        return IPOP__UDP_OTHER;
    ip_ok = ipop__csum_finish(ipop__csum_add(0, pkt, ihl)) == 0;
    return parse_udp(pkt + ihl, total - ihl, d, ip_ok);
}

static int parse_ipv6(const uint8_t *pkt, size_t len, ipop__udp_dgram *d)
{
    size_t payload;

    if (len < IPOP__IPV6_HLEN)
        return -EINVAL;
    payload = ipop__get16(pkt + 4);
    if (payload > len - IPOP__IPV6_HLEN)
        return -EINVAL;
    ipop__addr_set_host(&d->src, AF_INET6, pkt + 8);
    ipop__addr_set_host(&d->dst, AF_INET6, pkt + 24);
    if (pkt[6] != PROTO_UDP)
        return IPOP__UDP_OTHER; /* extension headers, fragments and other protocols */
    return parse_udp(pkt + IPOP__IPV6_HLEN, payload, d, true);
}

int ipop__udp_parse(const uint8_t *pkt, size_t len, ipop__udp_dgram *d)
{
    if (!d)
        return -EINVAL;
    memset(d, 0, sizeof(*d));
    if (!pkt || len < 1)
        return -EINVAL;
    switch (pkt[0] >> 4) {
    case 4:
        return parse_ipv4(pkt, len, d);
    case 6:
        return parse_ipv6(pkt, len, d);
    default:
        return -EINVAL;
    }
}
