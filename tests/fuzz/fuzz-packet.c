/* SPDX-License-Identifier: MIT */
/* Fuzzes the packet and address readers: IP headers, Ethernet headers, the
 * sender of a TAP frame, address text (formatted and parsed again), which
 * packets go to every member (cast.c), and the MTU's packets (ptb.c): ICMP
 * "too big" answers and TCP MSS clamping. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "bytes.h"
#include "cast.h"
#include "ptb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_host(const ipop__addr *a)
{
    char text[64];

    if (a->family == AF_INET ? a->prefix != 32 : (a->family != AF_INET6 || a->prefix != 128))
        abort();
    if (ipop__addr_format(a, text, sizeof(text)) <= 0)
        abort();
}

static void fuzz_ip(const uint8_t *data, size_t size)
{
    ipop__addr src, dst;

    if (ipop__ip_src_dst(data, size, &src, &dst) < 0)
        return;
    check_host(&src);
    check_host(&dst);
    if (src.family != dst.family || size < (src.family == AF_INET ? 20u : 40u))
        abort();
}

static void fuzz_eth(const uint8_t *data, size_t size)
{
    const uint8_t *dmac, *smac;
    uint16_t type;
    ipop__addr sender;
    int r;

    if (ipop__eth_parse(data, size, &dmac, &smac, &type) == 0 &&
        (size < IPOP__ETH_HLEN || dmac != data || smac != data + 6))
        abort();
    r = ipop__eth_ip_sender(data, size, &sender);
    if (r == 1)
        check_host(&sender);
    else if (r != 0 && r != -EINVAL)
        abort();
}

static void fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    char formatted[64];
    ipop__addr a, b;

    if (!text)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    if (ipop__addr_parse(text, &a) == 0) {
        if (ipop__addr_format(&a, formatted, sizeof(formatted)) <= 0 ||
            ipop__addr_parse(formatted, &b) != 0 || !ipop__addr_equal_host(&a, &b) ||
            a.prefix != b.prefix)
            abort();
    }
    free(text);
}

/* A packet goes to every member only when it parses, its source is the
 * own address of its family, and its destination alone says broadcast or
 * multicast; the own IPv4 subnet is taken from the input's first bytes. */
static void fuzz_cast(const uint8_t *data, size_t size)
{
    ipop__addr own4 = { .family = AF_INET }, own6 = { .family = AF_INET6 }, src, dst;
    ipop__cast c;

    if (size < 1)
        return;
    own4.prefix = data[0] % 33;
    own6.prefix = 64;
    /* the packet's own source as this node's address, or not, by a bit */
    if (ipop__ip_src_dst(data + 1, size - 1, &src, &dst) == 0 && (data[0] & 0x80)) {
        if (src.family == AF_INET)
            memcpy(own4.bytes, src.bytes, 4);
        else
            memcpy(own6.bytes, src.bytes, 16);
    }
    c = ipop__cast_packet(data + 1, size - 1, &own4, &own6);
    if (c == IPOP__CAST_UNICAST)
        return;
    if (ipop__ip_src_dst(data + 1, size - 1, &src, &dst) < 0 ||
        !ipop__addr_equal_host(src.family == AF_INET ? &own4 : &own6, &src) || ipop__cast_of(&dst, &own4) != c)
        abort();
    if (c == IPOP__CAST_SUBNET && (dst.family != AF_INET || own4.prefix > 30 || !ipop__addr_in_subnet(&own4, &dst)))
        abort();
    if (c == IPOP__CAST_MULTICAST && !(dst.family == AF_INET ? (dst.bytes[0] >> 4) == 14 : dst.bytes[0] == 0xff))
        abort();
}

/* An answer quotes the packet's start, keeps within IPOP__PTB_MAX, and
 * its checksums hold. */
static void fuzz_ptb(const uint8_t *data, size_t size)
{
    uint8_t out[IPOP__PTB_MAX], pseudo[8] = { 0 };
    unsigned mtu;
    int n;

    if (size < 2)
        return;
    mtu = 576 + (unsigned)data[0] * 4;
    n = ipop__ptb_make(data + 1, size - 1, mtu, out, sizeof(out));
    if (n == 0 || n == -EINVAL)
        return;
    if (n < 0 || n > IPOP__PTB_MAX || (out[0] >> 4) != (data[1] >> 4))
        abort();
    if (out[0] >> 4 == 4) {
        if (n > 576 || ipop__get16(out + 2) != n || ipop__csum_finish(ipop__csum_add(0, out, 20)) != 0 ||
            ipop__csum_finish(ipop__csum_add(0, out + 20, (size_t)n - 20)) != 0 ||
            memcmp(out + 28, data + 1, (size_t)n - 28) != 0 || out[20] != 3 || out[21] != 4)
            abort();
        return;
    }
    ipop__put32(pseudo, (uint32_t)(n - 40));
    pseudo[7] = 58;
    if (ipop__get16(out + 4) != n - 40 || out[40] != 2 || ipop__get32(out + 44) != mtu ||
        memcmp(out + 48, data + 1, (size_t)n - 48) != 0 ||
        ipop__csum_finish(ipop__csum_add(ipop__csum_add(ipop__csum_add(0, out + 8, 32), pseudo, 8), out + 40,
                                         (size_t)n - 40)) != 0)
        abort();
}

/* The one's complement sum of the bytes after the IP header (where a TCP
 * header would be), folded. */
static uint16_t l4_sum(const uint8_t *p, size_t len)
{
    size_t ip = p[0] >> 4 == 4 ? (size_t)(p[0] & 15) * 4 : 40;
    uint32_t s = ip < len ? ipop__csum_add(0, p + ip, len - ip) : 0;

    return (uint16_t)(s == 0xffff ? 0 : s);
}

/* Clamping changes nothing, or two bytes (the MSS, lowered to what mtu
 * holds) and the checksum, so that the segment's sum stays what it was:
 * a segment whose checksum held still holds it. */
static void fuzz_mss(const uint8_t *data, size_t size)
{
    uint8_t p[256];
    unsigned mtu, changed = 0;
    int r;

    if (size < 2 || size - 1 > sizeof(p))
        return;
    mtu = 576 + (unsigned)data[0] * 4;
    memcpy(p, data + 1, size - 1);
    r = ipop__mss_clamp(p, size - 1, mtu);
    for (size_t i = 0; i < size - 1; i++)
        changed += p[i] != data[1 + i];
    if (r == 0) {
        if (changed)
            abort();
        return;
    }
    if (r != 1 || changed > 4 || l4_sum(p, size - 1) != l4_sum(data + 1, size - 1))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_ptb(data, size);
    fuzz_mss(data, size);
    fuzz_cast(data, size);
    fuzz_ip(data, size);
    fuzz_eth(data, size);
    fuzz_text(data, size);
    return 0;
}
