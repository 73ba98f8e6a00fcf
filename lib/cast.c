/* SPDX-License-Identifier: MIT */
/* Broadcast and multicast in modes tun and none: pure checks (cast.h). */
#include "cast.h"

#include <string.h>
#include <sys/socket.h>

#define PROTO_IGMP 2
#define SCOPE_LINK 2 /* IPv6 multicast scope (RFC 4291 2.7) */

static bool all_ones(const uint8_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != 0xff)
            return false;
    return true;
}

/* Whether a's host bits, beyond an IPv4 prefix, are all ones. */
static bool host_bits_ones(const uint8_t a[4], unsigned prefix)
{
    uint32_t v = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
    uint32_t host = prefix >= 32 ? 0 : UINT32_MAX >> prefix;

    return (v & host) == host;
}

ipop__cast ipop__cast_of(const ipop__addr *dst, const ipop__addr *own4)
{
    if (!dst)
        return IPOP__CAST_UNICAST;
    if (dst->family == AF_INET6)
        return dst->bytes[0] == 0xff && (dst->bytes[1] & 0x0f) >= SCOPE_LINK ? IPOP__CAST_MULTICAST
                                                                              : IPOP__CAST_UNICAST;
    if (dst->family != AF_INET)
        return IPOP__CAST_UNICAST;
    if (all_ones(dst->bytes, 4))
        return IPOP__CAST_LIMITED;
    if ((dst->bytes[0] & 0xf0) == 0xe0)
        return IPOP__CAST_MULTICAST;
    if (own4 && own4->family == AF_INET && own4->prefix <= 30 && ipop__addr_in_subnet(own4, dst) &&
        host_bits_ones(dst->bytes, own4->prefix))
        return IPOP__CAST_SUBNET;
    return IPOP__CAST_UNICAST;
}

ipop__cast ipop__cast_packet(const uint8_t *pkt, size_t len, const ipop__addr *own4, const ipop__addr *own6)
{
    ipop__addr src, dst;
    const ipop__addr *own;
    ipop__cast c;

    if (ipop__ip_src_dst(pkt, len, &src, &dst) < 0)
        return IPOP__CAST_UNICAST;
    c = ipop__cast_of(&dst, own4);
    own = src.family == AF_INET ? own4 : own6;
    if (c == IPOP__CAST_UNICAST || !own || own->family != src.family || !ipop__addr_equal_host(own, &src))
        return IPOP__CAST_UNICAST;
    if (src.family == AF_INET && pkt[9] == PROTO_IGMP)
        return IPOP__CAST_UNICAST;
    return c;
}

bool ipop__bucket_take(ipop__bucket *b, unsigned rate, unsigned burst, int64_t now_us)
{
    int64_t interval, t;

    if (rate == 0)
        return true;
    interval = 1000000 / (int64_t)rate;
    if (interval < 1)
        interval = 1;
    t = b->full_at > now_us ? b->full_at : now_us;
    /* full_at - now is the credit spent; a token is there while a whole
     * one is left of burst */
    if (t + interval - now_us > (int64_t)(burst ? burst : 1) * interval)
        return false;
    b->full_at = t + interval;
    return true;
}
