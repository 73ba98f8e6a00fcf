/* SPDX-License-Identifier: MIT */
/* The MTU on the data path (ptb.h): overhead, ICMP "too big" answers and
 * TCP MSS clamping. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "bytes.h"
#include "ptb.h"

#define WORST_OVERHEAD6                                                                                               \
    (IPOP__IPV6_HLEN + IPOP__UDP_HLEN + IPOP__TURN_CHANNEL_HLEN + IPOP__REC_OVERHEAD + IPOP__FRAME_RELAY_HDR)
#define WORST_OVERHEAD4                                                                                               \
    (IPOP__IPV4_HLEN + IPOP__UDP_HLEN + IPOP__TURN_CHANNEL_HLEN + IPOP__REC_OVERHEAD + IPOP__FRAME_RELAY_HDR)
/* The default device MTU is the largest whose every outer packet, over
 * either family, through TURN and a member relay, keeps within the
 * common underlays (doc/architecture.md, "MTU"). */
_Static_assert(IPOP_DEFAULT_MTU == IPOP__UNDERLAY6_MAX - WORST_OVERHEAD6, "IPOP_DEFAULT_MTU drifted from the overhead");
_Static_assert(IPOP_DEFAULT_MTU + WORST_OVERHEAD4 <= IPOP__UNDERLAY4_MAX, "IPOP_DEFAULT_MTU too large for IPv4");
_Static_assert(IPOP_DEFAULT_MTU <= IPOP__FRAME_RELAY_MAX_PAYLOAD, "IPOP_DEFAULT_MTU above what a link carries");

unsigned ipop__mtu_overhead(int family, bool turn, bool member_relay)
{
    return (family == AF_INET6 ? IPOP__IPV6_HLEN : IPOP__IPV4_HLEN) + IPOP__UDP_HLEN +
           (turn ? IPOP__TURN_CHANNEL_HLEN : 0) + IPOP__REC_OVERHEAD +
           (member_relay ? IPOP__FRAME_RELAY_HDR : IPOP__FRAME_HDR);
}

/* ---- ICMP answers ---- */

#define ICMP4_QUOTE_MAX (576 - IPOP__IPV4_HLEN - 8)
#define ICMP6_QUOTE_MAX (IPOP__PTB_MAX - IPOP__IPV6_HLEN - 8)

static bool icmp4_error(uint8_t type)
{
    return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

static int ptb4(const uint8_t *pkt, size_t len, unsigned mtu, uint8_t *out, size_t size)
{
    size_t ihl = (size_t)(pkt[0] & 15) * 4, quote = len < ICMP4_QUOTE_MAX ? len : ICMP4_QUOTE_MAX, n;
    uint16_t frag = ipop__get16(pkt + 6);

    if (ihl < IPOP__IPV4_HLEN || ihl > len)
        return -EINVAL;
    if (!(frag & 0x4000) || (frag & 0x1fff))
        return 0; /* may be fragmented, or not the first fragment: no answer */
    if (!ipop__get32(pkt + 12) || pkt[12] >= 224 || pkt[16] >= 224)
        return 0;
    if (pkt[9] == 1 && len > ihl && icmp4_error(pkt[ihl]))
        return 0; /* never an error about an error (RFC 1122 3.2.2) */
    n = IPOP__IPV4_HLEN + 8 + quote;
    if (n > size)
        return -ENOSPC;
    memset(out, 0, IPOP__IPV4_HLEN + 8);
    out[0] = 0x45;
    ipop__put16(out + 2, (uint16_t)n);
    out[8] = 64;
    out[9] = 1;
    memcpy(out + 12, pkt + 16, 4); /* from the destination the packet did not reach */
    memcpy(out + 16, pkt + 12, 4);
    ipop__put16(out + 10, ipop__csum_finish(ipop__csum_add(0, out, IPOP__IPV4_HLEN)));
    out[20] = 3; /* destination unreachable */
    out[21] = 4; /* fragmentation needed and DF set */
    ipop__put16(out + 26, (uint16_t)(mtu > 0xffff ? 0xffff : mtu));
    memcpy(out + 28, pkt, quote);
    ipop__put16(out + 22, ipop__csum_finish(ipop__csum_add(0, out + 20, 8 + quote)));
    return (int)n;
}

static bool unspecified6(const uint8_t *a)
{
    static const uint8_t zero[16];

    return !memcmp(a, zero, 16);
}

static int ptb6(const uint8_t *pkt, size_t len, unsigned mtu, uint8_t *out, size_t size)
{
    size_t quote = len < ICMP6_QUOTE_MAX ? len : ICMP6_QUOTE_MAX, n = IPOP__IPV6_HLEN + 8 + quote;
    uint8_t pseudo[8] = { 0 };
    uint32_t sum;

    if (len < IPOP__IPV6_HLEN)
        return -EINVAL;
    if (mtu < 1280 || unspecified6(pkt + 8) || pkt[8] == 0xff || pkt[24] == 0xff)
        return 0;
    if (pkt[6] == 58 && len > IPOP__IPV6_HLEN && pkt[IPOP__IPV6_HLEN] < 128)
        return 0; /* never an error about an error (RFC 4443 2.4 (e)) */
    if (n > size)
        return -ENOSPC;
    memset(out, 0, IPOP__IPV6_HLEN + 8);
    out[0] = 0x60;
    ipop__put16(out + 4, (uint16_t)(8 + quote));
    out[6] = 58;
    out[7] = 64;
    memcpy(out + 8, pkt + 24, 16);
    memcpy(out + 24, pkt + 8, 16);
    out[40] = 2; /* packet too big */
    ipop__put32(out + 44, mtu);
    memcpy(out + 48, pkt, quote);
    ipop__put32(pseudo, (uint32_t)(8 + quote));
    pseudo[7] = 58;
    sum = ipop__csum_add(0, out + 8, 32); /* the pseudo-header: addresses, length, next header */
    sum = ipop__csum_add(sum, pseudo, sizeof(pseudo));
    sum = ipop__csum_add(sum, out + 40, 8 + quote);
    ipop__put16(out + 42, ipop__csum_finish(sum));
    return (int)n;
}

int ipop__ptb_make(const uint8_t *pkt, size_t len, unsigned mtu, uint8_t *out, size_t size)
{
    if (!pkt || !out || len < IPOP__IPV4_HLEN)
        return -EINVAL;
    switch (pkt[0] >> 4) {
    case 4:
        return ptb4(pkt, len, mtu, out, size);
    case 6:
        return ptb6(pkt, len, mtu, out, size);
    default:
        return -EINVAL;
    }
}

/* ---- MSS clamping ---- */

static uint16_t swap16(uint16_t v)
{
    return (uint16_t)(v << 8 | v >> 8);
}

/* tcp: a TCP header of at most len bytes; target: the largest MSS. */
static int clamp_tcp(uint8_t *tcp, size_t len, unsigned target)
{
    size_t doff, i;

    if (len < 20 || !(tcp[13] & 0x02)) /* SYN */
        return 0;
    doff = (size_t)(tcp[12] >> 4) * 4;
    if (doff < 20 || doff > len)
        return 0;
    for (i = 20; i < doff;) {
        uint16_t old, sum_old, sum_new;
        if (tcp[i] == 0)
            break;
        if (tcp[i] == 1) {
            i++;
            continue;
        }
        if (i + 1 >= doff || tcp[i + 1] < 2 || i + tcp[i + 1] > doff)
            break;
        if (tcp[i] != 2 || tcp[i + 1] != 4) {
            i += tcp[i + 1];
            continue;
        }
        old = ipop__get16(tcp + i + 2);
        if (old <= target)
            return 0;
        ipop__put16(tcp + i + 2, (uint16_t)target);
        /* the checksum sums 16-bit words from the header's start: a field
         * at an odd offset adds its bytes swapped (RFC 1071 2(B)) */
        sum_old = (i & 1) ? swap16(old) : old;
        sum_new = (i & 1) ? swap16((uint16_t)target) : (uint16_t)target;
        ipop__put16(tcp + 16, ipop__csum_finish((uint32_t)(uint16_t)~ipop__get16(tcp + 16) +
                                                (uint16_t)~sum_old + sum_new));
        return 1;
    }
    return 0;
}

int ipop__mss_clamp(uint8_t *pkt, size_t len, unsigned mtu)
{
    size_t ihl;

    if (!pkt || len < IPOP__IPV4_HLEN)
        return 0;
    if (pkt[0] >> 4 == 4) {
        ihl = (size_t)(pkt[0] & 15) * 4;
        if (pkt[9] != 6 || ihl < IPOP__IPV4_HLEN || ihl > len || (ipop__get16(pkt + 6) & 0x3fff) ||
            mtu <= IPOP__IPV4_HLEN + 20)
            return 0; /* not TCP, or a fragment */
        return clamp_tcp(pkt + ihl, len - ihl, mtu - IPOP__IPV4_HLEN - 20);
    }
    if (pkt[0] >> 4 == 6 && len >= IPOP__IPV6_HLEN && pkt[6] == 6 && mtu > IPOP__IPV6_HLEN + 20)
        return clamp_tcp(pkt + IPOP__IPV6_HLEN, len - IPOP__IPV6_HLEN, mtu - IPOP__IPV6_HLEN - 20);
    return 0;
}
