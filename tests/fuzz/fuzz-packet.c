/* SPDX-License-Identifier: MIT */
/* Fuzzes the packet and address readers: IP headers, Ethernet headers, the
 * sender of a TAP frame, and address text (formatted and parsed again). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_ip(data, size);
    fuzz_eth(data, size);
    fuzz_text(data, size);
    return 0;
}
