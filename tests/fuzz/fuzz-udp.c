/* SPDX-License-Identifier: MIT */
/* Fuzzes the UDP reader of the endpoints: whatever it returns, what it
 * reports stays inside the input and agrees with the return code; nothing
 * is accepted with a wrong checksum; and a datagram that parses is built
 * again from its fields and parses to the same fields. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "udp-packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t buf[65536 + 64];

static void check_addrs(const ipop__udp_dgram *d)
{
    if (d->src.family != d->dst.family)
        abort();
    if (d->src.family != AF_INET && d->src.family != AF_INET6)
        abort();
}

static void check_rebuild(const ipop__udp_dgram *d)
{
    ipop__udp_dgram again;
    int n;

    if (!d->sport || !d->dport)
        return; /* the builder refuses port 0; the reader need not */
    n = ipop__udp_build(buf, sizeof(buf), &d->src, d->sport, &d->dst, d->dport, d->data, d->len);
    if (n < 0 || ipop__udp_parse(buf, (size_t)n, &again) != IPOP__UDP_OK)
        abort();
    if (again.sport != d->sport || again.dport != d->dport || again.len != d->len ||
        !ipop__addr_equal_host(&again.src, &d->src) || !ipop__addr_equal_host(&again.dst, &d->dst) ||
        memcmp(again.data, d->data, d->len) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ipop__udp_dgram d;
    int r = ipop__udp_parse(data, size, &d);

    switch (r) {
    case IPOP__UDP_OK:
        check_addrs(&d);
        if (!d.has_ports || d.data < data + IPOP__UDP_HLEN || d.data + d.len > data + size)
            abort();
        if (ipop__udp_checksum(d.src.family, d.src.bytes, d.dst.bytes, d.data - IPOP__UDP_HLEN,
                               d.len + IPOP__UDP_HLEN) != 0 &&
            !(d.src.family == AF_INET && d.data[-2] == 0 && d.data[-1] == 0))
            abort(); /* accepted with a wrong checksum */
        check_rebuild(&d);
        break;
    case IPOP__UDP_OTHER:
    case -EBADMSG:
        check_addrs(&d);
        if (r == IPOP__UDP_OTHER && d.has_ports)
            abort();
        break;
    case -EINVAL:
        if (d.dst.family || d.has_ports)
            abort();
        break;
    default:
        abort();
    }
    return 0;
}
