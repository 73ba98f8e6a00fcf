/* SPDX-License-Identifier: MIT */
/* Fuzzes the SocialVPN address rewrite (rewrite.c): the first byte picks
 * source or destination, the next four the new address, the rest is the
 * packet.  A packet it refuses is left as it was; one it rewrites has the
 * new address and nothing else changed but the checksums, and rewriting
 * back gives the original bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rewrite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool zero_form(const uint8_t *c)
{
    return (c[0] == 0 && c[1] == 0) || (c[0] == 0xff && c[1] == 0xff);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *pkt, *orig, old[4];
    const uint8_t *addr = data + 1;
    size_t len, field;
    bool src;

    if (size < 5)
        return 0;
    src = data[0] & 1;
    len = size - 5;
    pkt = malloc(len ? len : 1);
    orig = malloc(len ? len : 1);
    if (!pkt || !orig)
        abort();
    memcpy(pkt, data + 5, len);
    memcpy(orig, data + 5, len);
    field = src ? 12 : 16;
    if (ipop__ip4_rewrite(pkt, len, src, addr) < 0) {
        if (memcmp(pkt, orig, len) != 0)
            abort();
        goto out;
    }
    if (len < 20 || memcmp(pkt + field, addr, 4) != 0)
        abort();
    /* Only the address, the header checksum and a transport checksum may change. */
    for (size_t i = 0; i < len; i++) {
        bool may = (i >= field && i < field + 4) || i == 10 || i == 11 || i >= 20;
        if (!may && pkt[i] != orig[i])
            abort();
    }
    memcpy(old, orig + field, 4);
    if (ipop__ip4_rewrite(pkt, len, src, old) < 0 || memcmp(pkt + field, old, 4) != 0)
        abort();
    /* Back again: the header is what it was, its checksum too, but for
     * the two forms of zero in one's complement (0x0000 and 0xffff), which
     * an incremental update (RFC 1624) may exchange. */
    if (memcmp(pkt, orig, 10) != 0 || memcmp(pkt + 12, orig + 12, 8) != 0)
        abort();
    if (memcmp(pkt + 10, orig + 10, 2) != 0 && !(zero_form(pkt + 10) && zero_form(orig + 10)))
        abort();
out:
    free(pkt);
    free(orig);
    return 0;
}
