/* SPDX-License-Identifier: MIT */
/* Fuzzes the TAP delivery check (admit.c): a peer's addresses and the
 * tagging option from the first bytes, then an Ethernet frame.  Whatever
 * the frame, the check ends, reads nothing outside it, and gives one of
 * its verdicts; a frame it admits carries ARP, IPv4 or IPv6 (behind tags
 * only when they are allowed) from a unicast MAC, and the same frame with
 * tags allowed is admitted too.  With link-local claims
 * (ipop__tap_check_ll): everything the plain check admits is admitted,
 * the claims are at most two distinct fe80::/10 addresses, none of
 * EUI-64 form nor derived from the frame's source MAC. */
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
    {
        ipop__tap_ll c;
        ipop__tap_verdict l = ipop__tap_check_ll(frame, len, &p, &c);
        uint8_t own[16];

        if (l > IPOP__TAP_MAC || c.n > 2 || (v == IPOP__TAP_OK && l != IPOP__TAP_OK))
            abort();
        if (l == IPOP__TAP_OK && c.n == 0 && v != IPOP__TAP_OK)
            abort(); /* without a claim, the plain check's answer */
        if (c.n == 2 && !memcmp(c.addr[0], c.addr[1], 16))
            abort();
        for (unsigned i = 0; i < c.n; i++) {
            ipop__ll6_from_mac(frame + 6, own);
            if (c.addr[i][0] != 0xfe || (c.addr[i][1] & 0xc0) != 0x80 ||
                (c.addr[i][11] == 0xff && c.addr[i][12] == 0xfe) || !memcmp(c.addr[i], own, 16))
                abort();
        }
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
