/* SPDX-License-Identifier: MIT */
/* Fuzzes the packet and address readers: IP headers, Ethernet headers, the
 * sender of a TAP frame, address text (formatted and parsed again), and
 * which packets go to every member (cast.c). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "cast.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_cast(data, size);
    fuzz_ip(data, size);
    fuzz_eth(data, size);
    fuzz_text(data, size);
    return 0;
}
