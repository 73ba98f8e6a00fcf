/* SPDX-License-Identifier: MIT */
/* Fuzzes the TUN and TAP offloads (each input as both: IP packets, and
 * Ethernet frames with a 14-byte link header).  The splitter: whatever follows a
 * virtio_net_hdr, it either refuses the input or writes packets that stay
 * inside the output buffer, whose lengths add up to the input's payload
 * plus one copy of the headers per packet, and it ends.  The merger (GRO):
 * it takes the input itself and the split packets, and what it writes
 * splits again into as many packets as it took. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "offload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t gbuf[IPOP__GRO_BUF], again[IPOP__GRO_BUF];
static ipop__gro gro = { .buf = gbuf };
static unsigned merged;
static size_t L2; /* the link header of this round: 0 (TUN) or IPOP__ETH_HLEN (TAP) */

static void gro_finish_check(void)
{
    size_t n = ipop__gro_finish(&gro);
    ipop__gso g;

    if (n > sizeof(gbuf) || (n == 0) != (merged == 0))
        abort();
    if (n) {
        memcpy(again, gbuf, n);
        if (ipop__gso_begin_l2(&g, again, n, L2) != (int)merged)
            abort();
    }
    merged = 0;
}

static void gro_offer(const uint8_t *pkt, size_t len)
{
    if (ipop__gro_add(&gro, pkt, len) || (gro_finish_check(), ipop__gro_add(&gro, pkt, len)))
        merged++;
}

static int run(const uint8_t *data, size_t size)
{
    static uint8_t buf[IPOP__VNET_HLEN + IPOP__ETH_HLEN + 40 + 65535], out[2048];
    ipop__gso g;
    size_t total = 0;
    unsigned n = 0;
    int r, count;

    if (size > sizeof(buf))
        return 0;
    if (size > IPOP__VNET_HLEN) {
        gro_offer(data + IPOP__VNET_HLEN, size - IPOP__VNET_HLEN);
        gro_finish_check();
    }
    memcpy(buf, data, size); /* the splitter may finish a checksum in place */
    count = ipop__gso_begin_l2(&g, buf, size, L2);
    if (count <= 0)
        return 0;
    /* A small buffer first: a packet too large for it is refused, and the
     * next call writes that packet again. */
    r = ipop__gso_next(&g, out, 20);
    if (r > 20)
        abort();
    if (r > 0) {
        n++;
        total += (size_t)r;
    }
    while ((r = ipop__gso_next(&g, out, sizeof(out))) != 0) {
        if (r < 0)
            return 0; /* a segment larger than the buffer */
        if ((size_t)r > sizeof(out) || ++n > (unsigned)count)
            abort();
        total += (size_t)r;
        gro_offer(out, (size_t)r);
    }
    gro_finish_check();
    if (n != (unsigned)count)
        abort();
    if (g.gso ? total != size - IPOP__VNET_HLEN + (n - 1) * g.hlen : total != size - IPOP__VNET_HLEN)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t l2 = 0; l2 <= IPOP__ETH_HLEN; l2 += IPOP__ETH_HLEN) {
        gro_finish_check(); /* what a round left pending, with its own link header */
        L2 = gro.l2 = l2;
        run(data, size);
    }
    return 0;
}
