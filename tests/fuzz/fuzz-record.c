/* SPDX-License-Identifier: MIT */
/* Fuzzes the DTLS record opener (lib/record.c): any datagram is refused
 * with an error or opens to at most its fragment's size, never a read
 * outside it; a record sealed from the input opens to the input, once. */
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
    ipop__rec tx, rx;
    uint8_t *copy, out[2048], rec[2048 + IPOP__REC_OVERHEAD];
    int n, m;

    if (ipop__rec_init_raw(&tx, GNUTLS_CIPHER_AES_128_GCM, key, salt, 1, 5, 0) < 0 ||
        ipop__rec_init_raw(&rx, GNUTLS_CIPHER_AES_128_GCM, key, salt, 1, 4, 1) < 0)
        abort();
    copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    n = ipop__rec_open(&rx, copy, size, out, sizeof(out));
    if (n >= 0 && (size < IPOP__REC_OVERHEAD || (size_t)n != size - IPOP__REC_OVERHEAD))
        abort();
    if (n < 0 && n != -EAGAIN && n != -EINVAL && n != -EBADMSG && n != -EALREADY && n != -EMSGSIZE)
        abort();
    if (size <= 2048) {
        n = ipop__rec_seal(&tx, copy, size, rec, sizeof(rec));
        if (n != (int)(size + IPOP__REC_OVERHEAD))
            abort();
        m = ipop__rec_open(&rx, rec, (size_t)n, out, sizeof(out));
        if (m != (int)size || memcmp(out, copy, size) != 0)
            abort();
        if (ipop__rec_open(&rx, rec, (size_t)n, out, sizeof(out)) != -EALREADY)
            abort();
    }
    free(copy);
    ipop__rec_clear(&tx);
    ipop__rec_clear(&rx);
    return 0;
}
