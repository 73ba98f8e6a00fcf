/* SPDX-License-Identifier: MIT */
/* Fuzzes the GroupVPN membership proof messages (lib/proof.c): the
 * decoder never reads past the input and accepts exactly what the encoder
 * writes (what decodes encodes back to the input), and the secret-strength
 * estimate takes any string. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char out[512], *secret;
    ipop__proof_msg m;
    int r = ipop__proof_decode(&m, text, size);
    uint8_t mac[IPOP__PROOF_MAC_LEN];
    static const uint8_t key[IPOP__PROOF_KEY_LEN];

    if (r != 0 && r != -EINVAL)
        abort();
    if (r == 0) {
        int n = ipop__proof_encode(&m, out, sizeof(out));
        if (n < 0 || (size_t)n != size || memcmp(out, text, size) != 0)
            abort();
        if (!ipop__proof_is(text, size))
            abort();
        ipop__proof_mac(key, "room@rooms.example", m.from, m.from, m.yours, m.mine, mac);
    }
    secret = malloc(size + 1);
    if (!secret)
        return 0;
    memcpy(secret, data, size);
    secret[size] = '\0';
    if (ipop__proof_secret_bits(secret) > 256)
        abort();
    free(secret);
    return 0;
}
