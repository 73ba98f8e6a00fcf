/* SPDX-License-Identifier: MIT */
/* Fuzzes splitting a datagram into DTLS records (ipop__rec_next(), as the
 * receive path in lib/dtls.c does for every datagram once record.c opens
 * the records): each record lies within the datagram, its length is its
 * header's, the records cover the datagram up to the first that does not
 * parse; each is then opened as the receive path would, against one
 * window, and never yields more than its fragment. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
    static const uint8_t salt[4] = { 9, 8, 7, 6 };
    uint8_t *copy, out[65536];
    ipop__rec rx;
    size_t at = 0;

    if (ipop__rec_init_raw(&rx, GNUTLS_CIPHER_AES_128_GCM, key, salt, 1, 0, 1) < 0)
        abort();
    /* an exact-size copy, so that a read past the datagram is caught */
    copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    while (at < size) {
        int rl = ipop__rec_next(copy + at, size - at), n;

        if (rl < 0) {
            if (rl != -EINVAL)
                abort();
            /* only a short header or a length past the end stops it */
            if (size - at >= IPOP__REC_HDR && IPOP__REC_HDR + ((size_t)copy[at + 11] << 8 | copy[at + 12]) <= size - at)
                abort();
            break;
        }
        if (rl < IPOP__REC_HDR || (size_t)rl > size - at ||
            (size_t)rl != IPOP__REC_HDR + ((size_t)copy[at + 11] << 8 | copy[at + 12]))
            abort();
        n = ipop__rec_open(&rx, copy + at, (size_t)rl, out, sizeof(out));
        if (n >= 0 && (size_t)n + IPOP__REC_OVERHEAD != (size_t)rl)
            abort();
        if (n < 0 && n != -EAGAIN && n != -EINVAL && n != -EBADMSG && n != -EALREADY && n != -EMSGSIZE)
            abort();
        at += (size_t)rl;
    }
    if (at > size || ipop__rec_next(NULL, 0) != -EINVAL)
        abort();
    free(copy);
    ipop__rec_clear(&rx);
    return 0;
}
