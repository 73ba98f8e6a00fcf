/* SPDX-License-Identifier: MIT */
/* Fuzzes the STUN probe's response check (lib/stun.c): never a read
 * outside the input, answers that agree with the header, and a response to
 * our own request recognised as one; ICE checks that never authenticate
 * (lib/stun.c's answer). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_stun(const uint8_t *data, size_t size)
{
    static const uint8_t txid[IPOP__STUN_TXID] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
    uint8_t req[IPOP__STUN_HDR], *copy;
    int r;

    /* a copy of exactly the input's size: ASan sees any read past it */
    copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    {
        /* the ICE check answer: a random input never authenticates */
        struct sockaddr_storage from = { .ss_family = (size & 1) ? AF_INET : AF_INET6 };
        uint8_t out[128];
        int a = ipop__stun_answer(copy, size, "ufrg", "a-password", (struct sockaddr *)&from, out, sizeof(out));
        if (a > 0 || (a < 0 && a != -EINVAL && a != -EPERM))
            abort();
    }
    r = ipop__stun_is_response(copy, size, txid);
    if (r != -EINVAL && r != 0 && r != 1)
        abort();
    if (r == 1 && (size < IPOP__STUN_HDR || memcmp(copy + 8, txid, IPOP__STUN_TXID) != 0))
        abort();
    /* our own request is never taken for a response */
    ipop__stun_request(req, txid);
    if (ipop__stun_is_response(req, sizeof(req), txid) != 0)
        abort();
    /* the same bytes made a success response to our request are one */
    if (size >= IPOP__STUN_HDR && r >= 0) {
        copy[0] = 0x01;
        copy[1] = 0x01;
        memcpy(copy + 8, txid, IPOP__STUN_TXID);
        if (ipop__stun_is_response(copy, size, txid) != 1)
            abort();
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_stun(data, size);
    return 0;
}
