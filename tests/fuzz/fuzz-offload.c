/* SPDX-License-Identifier: MIT */
/* Fuzzes the TUN offload splitter: whatever follows a virtio_net_hdr, it
 * either refuses the input or writes packets that stay inside the output
 * buffer, whose lengths add up to the input's payload plus one copy of the
 * headers per packet, and it ends. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "offload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[IPOP__VNET_HLEN + 40 + 65535], out[2048];
    ipop__gso g;
    size_t total = 0;
    unsigned n = 0;
    int r, count;

    if (size > sizeof(buf))
        return 0;
    memcpy(buf, data, size); /* the splitter may finish a checksum in place */
    count = ipop__gso_begin(&g, buf, size);
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
    }
    if (n != (unsigned)count)
        abort();
    if (g.gso ? total != size - IPOP__VNET_HLEN + (n - 1) * g.hlen : total != size - IPOP__VNET_HLEN)
        abort();
    return 0;
}
