/* SPDX-License-Identifier: MIT */
/* Fuzzes the TAP delivery check (admit.c): a peer's addresses and the
 * tagging option from the first bytes, then an Ethernet frame.  Whatever
 * the frame, the check ends, reads nothing outside it, and gives one of
 * its verdicts; a frame it admits carries ARP, IPv4 or IPv6 (behind tags
 * only when they are allowed) from a unicast MAC, and the same frame with
 * tags allowed is admitted too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "admit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ipop__tap_peer p = { 0 };
    ipop__tap_verdict v;
    uint8_t *frame;
    size_t len;
    uint16_t type;

    if (size < 21)
        return 0;
    p.tagged = data[0] & 1;
    if (data[0] & 2) {
        p.a4.family = AF_INET;
        p.a4.prefix = 32;
        memcpy(p.a4.bytes, data + 1, 4);
    }
    if (data[0] & 4) {
        p.a6.family = AF_INET6;
        p.a6.prefix = 128;
        memcpy(p.a6.bytes, data + 5, 16);
    }
    /* an exact copy, so that a read past its end is caught */
    len = size - 21;
    frame = malloc(len ? len : 1);
    if (!frame)
        return 0;
    memcpy(frame, data + 21, len);
    v = ipop__tap_check(frame, len, &p);
    if (v > IPOP__TAP_MAC || !ipop__tap_verdict_str(v)[0])
        abort();
    if (v == IPOP__TAP_OK) {
        type = (uint16_t)(frame[12] << 8 | frame[13]);
        if (len < 14 || (frame[6] & 1))
            abort();
        if (!p.tagged && type != 0x0800 && type != 0x0806 && type != 0x86dd)
            abort();
    }
    if (!p.tagged) {
        ipop__tap_verdict t;
        p.tagged = true;
        t = ipop__tap_check(frame, len, &p);
        if (v == IPOP__TAP_OK && t != IPOP__TAP_OK)
            abort();
    }
    free(frame);
    return 0;
}
