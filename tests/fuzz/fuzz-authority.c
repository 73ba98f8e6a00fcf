/* SPDX-License-Identifier: MIT */
/* Fuzzes the group authority's decoders (lib/authority.c): a certificate
 * or a revocation list from the room or a file.  The decoders never read
 * past the input and refuse with their documented errors, leaving the
 * result zeroed; what decodes is canonical (signed again, it gives back the
 * same line up to the authority's id), and verification with a key it was
 * not signed with fails.  The first byte picks the decoder. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authority.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ipop__authority_secret key;
static int have_key;
static ipop__cert c;
static ipop__crl l;
static char line[IPOP__CRL_MAX + 1];

static int zeroed(const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

/* The line up to " authority=" is the same when signed again. */
static void same_prefix(const char *text, size_t size, int n)
{
    const char *a = strstr(line, " authority=");
    size_t p = a ? (size_t)(a - line) : 0;

    if (n <= 0 || !a || p > size || memcmp(line, text, p) != 0)
        abort();
}

static void cert(const char *text, size_t size)
{
    int r = ipop__cert_decode(&c, text, size);

    if (r < 0) {
        if ((r != -EINVAL && r != -EMSGSIZE) || !zeroed(&c, sizeof(c)))
            abort();
        return;
    }
    if (c.serial == 0 || c.n_addrs > IPOP__CERT_ADDRS_MAX || c.n_routes > IPOP__CERT_ROUTES_MAX)
        abort();
    if (ipop__cert_verify(&c, text, size, &key.pub) == 0)
        abort(); /* nobody but this harness has its key */
    (void)ipop__cert_decode(&c, text, size);
    (void)ipop__cert_check(&c, c.node_id, c.expires);
    same_prefix(text, size, ipop__cert_sign(&c, &key, line, sizeof(line)));
}

static void crl(const char *text, size_t size)
{
    int r = ipop__crl_decode(&l, text, size);

    if (r < 0) {
        if ((r != -EINVAL && r != -EMSGSIZE) || !zeroed(&l, sizeof(l)))
            abort();
        return;
    }
    if (l.serial == 0 || l.n_serials + l.n_nodes > IPOP__CRL_ENTRIES_MAX)
        abort();
    if (ipop__crl_verify(&l, text, size, &key.pub) == 0)
        abort();
    (void)ipop__crl_decode(&l, text, size);
    (void)ipop__crl_revokes(&l, &c);
    same_prefix(text, size, ipop__crl_sign(&l, &key, line, sizeof(line)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!have_key) {
        if (ipop__authority_generate(&key) < 0)
            abort();
        have_key = 1;
    }
    if (size < 1)
        return 0;
    if (data[0] & 1)
        crl((const char *)data + 1, size - 1);
    else
        cert((const char *)data + 1, size - 1);
    return 0;
}
