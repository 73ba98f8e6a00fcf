/* SPDX-License-Identifier: MIT */
/* Virtual addresses and packet headers: pure functions, no I/O.  Every
 * reader takes a length and checks it before each access; nothing here
 * trusts a packet to be well formed. */
#include "addr.h"
#include "bytes.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_ARP 0x0806

#define IPV4_HLEN_MIN 20
#define IPV6_HLEN 40
#define ARP_LEN 28          /* Ethernet/IPv4 ARP */
#define ARP_SENDER_IP 14    /* sender protocol address, from the start of ARP */

static size_t host_len(int family)
{
    return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

/* The prefix after '/': 1 to 3 decimal digits, no sign, no spaces. */
static int parse_prefix(const char *s, unsigned max, uint8_t *ret)
{
    unsigned v = 0;
    size_t n = strlen(s);

    if (n < 1 || n > 3)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > max)
        return -EINVAL;
    *ret = (uint8_t)v;
    return 0;
}

int ipop__addr_parse(const char *text, ipop__addr *out)
{
    char host[INET6_ADDRSTRLEN];
    const char *slash;
    size_t host_n;
    ipop__addr a;

    if (!text || !out)
        return -EINVAL;
    slash = strchr(text, '/');
    host_n = slash ? (size_t)(slash - text) : strlen(text);
    if (host_n == 0 || host_n >= sizeof(host))
        return -EINVAL;
    memcpy(host, text, host_n);
    host[host_n] = '\0';

    memset(&a, 0, sizeof(a));
    a.family = memchr(host, ':', host_n) ? AF_INET6 : AF_INET;
    /* inet_pton, unlike inet_aton, refuses "1.2.3" and "010.0.0.1". */
    if (inet_pton(a.family, host, a.bytes) != 1)
        return -EINVAL;
    a.prefix = (uint8_t)(host_len(a.family) * 8);
    if (slash && parse_prefix(slash + 1, a.prefix, &a.prefix) < 0)
        return -EINVAL;
    *out = a;
    return 0;
}

int ipop__addr_format(const ipop__addr *a, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN];
    int n;

    if (!a || !buf || host_len(a->family) == 0 || a->prefix > host_len(a->family) * 8)
        return -EINVAL;
    if (!inet_ntop(a->family, a->bytes, host, sizeof(host)))
        return -EINVAL;
    n = snprintf(buf, size, "%s/%u", host, (unsigned)a->prefix);
    if (n < 0 || (size_t)n >= size)
        return -ENOSPC;
    return n;
}

bool ipop__addr_equal_host(const ipop__addr *a, const ipop__addr *b)
{
    size_t n;

    if (!a || !b || a->family != b->family)
        return false;
    n = host_len(a->family);
    return n > 0 && memcmp(a->bytes, b->bytes, n) == 0;
}

void ipop__addr_set_host(ipop__addr *a, int family, const uint8_t *bytes)
{
    if (!a)
        return;
    memset(a, 0, sizeof(*a));
    a->family = family;
    a->prefix = (uint8_t)(host_len(family) * 8);
    memcpy(a->bytes, bytes, host_len(family));
}

/* IPv4 header: version 4, IHL of at least 5 words, the header and the
 * total length within len.  Padding after the total length is allowed
 * (Ethernet pads short frames). */
static int ipv4_src_dst(const uint8_t *pkt, size_t len, ipop__addr *src, ipop__addr *dst)
{
    size_t ihl, total;

    if (len < IPV4_HLEN_MIN || pkt[0] >> 4 != 4)
        return -EINVAL;
    ihl = (size_t)(pkt[0] & 0x0f) * 4;
    total = ipop__get16(pkt + 2);
    if (ihl < IPV4_HLEN_MIN || ihl > len || total < ihl || total > len)
        return -EINVAL;
    ipop__addr_set_host(src, AF_INET, pkt + 12);
    ipop__addr_set_host(dst, AF_INET, pkt + 16);
    return 0;
}

/* IPv6 header: version 6, 40 bytes, then payload length bytes. */
static int ipv6_src_dst(const uint8_t *pkt, size_t len, ipop__addr *src, ipop__addr *dst)
{
    if (len < IPV6_HLEN || pkt[0] >> 4 != 6)
        return -EINVAL;
    if ((size_t)ipop__get16(pkt + 4) + IPV6_HLEN > len)
        return -EINVAL;
    ipop__addr_set_host(src, AF_INET6, pkt + 8);
    ipop__addr_set_host(dst, AF_INET6, pkt + 24);
    return 0;
}

int ipop__ip_src_dst(const uint8_t *pkt, size_t len, ipop__addr *src, ipop__addr *dst)
{
    if (!pkt || len < 1)
        return -EINVAL;
    switch (pkt[0] >> 4) {
    case 4:
        return ipv4_src_dst(pkt, len, src, dst);
    case 6:
        return ipv6_src_dst(pkt, len, src, dst);
    default:
        return -EINVAL;
    }
}

int ipop__eth_parse(const uint8_t *frame, size_t len, const uint8_t **dst_mac,
                    const uint8_t **src_mac, uint16_t *ethertype)
{
    if (!frame || len < IPOP__ETH_HLEN)
        return -EINVAL;
    if (dst_mac)
        *dst_mac = frame;
    if (src_mac)
        *src_mac = frame + 6;
    if (ethertype)
        *ethertype = ipop__get16(frame + 12);
    return 0;
}

/* Only Ethernet/IPv4 ARP exists on a TAP link; an ARP packet of another
 * hardware or protocol type is refused (-EINVAL) rather than passed as
 * "no IP sender", so that it cannot slip past the anti-spoofing check. */
static int arp_sender(const uint8_t *arp, size_t len, ipop__addr *out)
{
    if (len < ARP_LEN)
        return -EINVAL;
    if (ipop__get16(arp) != 1 || ipop__get16(arp + 2) != ETHERTYPE_IPV4 || arp[4] != 6 || arp[5] != 4)
        return -EINVAL;
    ipop__addr_set_host(out, AF_INET, arp + ARP_SENDER_IP);
    return 1;
}

int ipop__eth_ip_sender(const uint8_t *frame, size_t len, ipop__addr *out)
{
    uint16_t type;
    const uint8_t *payload;
    size_t plen;

    if (ipop__eth_parse(frame, len, NULL, NULL, &type) < 0)
        return -EINVAL;
    payload = frame + IPOP__ETH_HLEN;
    plen = len - IPOP__ETH_HLEN;
    switch (type) {
    case ETHERTYPE_IPV4:
        return ipv4_src_dst(payload, plen, out, NULL) < 0 ? -EINVAL : 1;
    case ETHERTYPE_IPV6:
        return ipv6_src_dst(payload, plen, out, NULL) < 0 ? -EINVAL : 1;
    case ETHERTYPE_ARP:
        return arp_sender(payload, plen, out);
    default:
        return 0;
    }
}

bool ipop__addr_in_subnet(const ipop__addr *net, const ipop__addr *a)
{
    unsigned bits = net->prefix, full = bits / 8;

    if (!net->family || net->family != a->family || bits > (net->family == AF_INET ? 32u : 128u))
        return false;
    if (memcmp(net->bytes, a->bytes, full) != 0)
        return false;
    if (bits % 8) {
        uint8_t mask = (uint8_t)(0xff << (8 - bits % 8));
        return (net->bytes[full] & mask) == (a->bytes[full] & mask);
    }
    return true;
}
