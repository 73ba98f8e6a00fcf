/* SPDX-License-Identifier: MIT */
/* GroupVPN membership proofs, pure functions (see proof.h). */
#include "proof.h"

#include <argon2.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "msgauth.h" /* base64url */


#define CHAL_PREFIX "ipop2 gchal "
#define PROOF_PREFIX "ipop2 gproof "

int ipop__proof_key(const char *secret, size_t secret_len, const char *room, uint8_t key[IPOP__PROOF_KEY_LEN])
{
    static const char label[] = "ipop-group-key-v2:";
    size_t room_len = strlen(room);
    uint8_t salt[32];
    char *input;
    int r;

    input = malloc(sizeof(label) - 1 + room_len);
    if (!input)
        return -ENOMEM;
    memcpy(input, label, sizeof(label) - 1);
    memcpy(input + sizeof(label) - 1, room, room_len);
    gnutls_hash_fast(GNUTLS_DIG_SHA256, input, sizeof(label) - 1 + room_len, salt);
    free(input);
    r = argon2id_hash_raw(IPOP__PROOF_KDF_T, IPOP__PROOF_KDF_M_KIB, IPOP__PROOF_KDF_P, secret, secret_len, salt,
                          sizeof(salt), key, IPOP__PROOF_KEY_LEN);
    if (r == ARGON2_MEMORY_ALLOCATION_ERROR)
        return -ENOMEM;
    return r == ARGON2_OK ? 0 : -EINVAL;
}

static void secret_check(const uint8_t raw[IPOP__PROOF_GEN_RAW], uint8_t check[4])
{
    static const char label[] = "ipop-secret-check-v1";
    uint8_t in[sizeof(label) - 1 + IPOP__PROOF_GEN_RAW], h[32];

    memcpy(in, label, sizeof(label) - 1);
    memcpy(in + sizeof(label) - 1, raw, IPOP__PROOF_GEN_RAW);
    gnutls_hash_fast(GNUTLS_DIG_SHA256, in, sizeof(in), h);
    memcpy(check, h, 4);
}

void ipop__proof_secret_format(const uint8_t raw[IPOP__PROOF_GEN_RAW], char out[IPOP__PROOF_GEN_LEN + 1])
{
    const size_t p = sizeof(IPOP__PROOF_GEN_PREFIX) - 1;
    uint8_t check[4];

    memcpy(out, IPOP__PROOF_GEN_PREFIX, p);
    ipop__b64url_encode(raw, IPOP__PROOF_GEN_RAW, out + p, 44);
    out[p + 43] = '.';
    secret_check(raw, check);
    ipop__b64url_encode(check, sizeof(check), out + p + 44, 7);
}

bool ipop__proof_secret_parse(const char *secret, uint8_t raw[IPOP__PROOF_GEN_RAW])
{
    const size_t p = sizeof(IPOP__PROOF_GEN_PREFIX) - 1;
    uint8_t check[4], want[4];

    if (strlen(secret) != IPOP__PROOF_GEN_LEN || strncmp(secret, IPOP__PROOF_GEN_PREFIX, p) || secret[p + 43] != '.' ||
        ipop__b64url_decode(secret + p, 43, raw, IPOP__PROOF_GEN_RAW) != IPOP__PROOF_GEN_RAW ||
        ipop__b64url_decode(secret + p + 44, 6, check, sizeof(check)) != (int)sizeof(check))
        return false;
    secret_check(raw, want);
    return gnutls_memcmp(check, want, sizeof(check)) == 0;
}

void ipop__proof_key_generated(const uint8_t raw[IPOP__PROOF_GEN_RAW], const char *room,
                               uint8_t key[IPOP__PROOF_KEY_LEN])
{
    static const char label[] = "ipop-group-key-generated-v2:";
    size_t l = sizeof(label) - 1, r = strlen(room);
    uint8_t *in = malloc(l + r + 1 + IPOP__PROOF_GEN_RAW);

    if (!in)
        abort(); /* a few hundred bytes */
    memcpy(in, label, l);
    memcpy(in + l, room, r);
    in[l + r] = 0;
    memcpy(in + l + r + 1, raw, IPOP__PROOF_GEN_RAW);
    gnutls_hash_fast(GNUTLS_DIG_SHA256, in, l + r + 1 + IPOP__PROOF_GEN_RAW, key);
    gnutls_memset(in, 0, l + r + 1 + IPOP__PROOF_GEN_RAW);
    free(in);
}

void ipop__proof_key_public(const char *public, const char *room, uint8_t key[IPOP__PROOF_KEY_LEN])
{
    static const char label[] = "ipop-group-key-public-v2:";
    size_t l = sizeof(label) - 1, r = strlen(room), p = strlen(public);
    char *in = malloc(l + r + 1 + p);

    if (!in)
        abort(); /* a few hundred bytes */
    memcpy(in, label, l);
    memcpy(in + l, room, r);
    in[l + r] = '\0';
    memcpy(in + l + r + 1, public, p);
    gnutls_hash_fast(GNUTLS_DIG_SHA256, in, l + r + 1 + p, key);
    free(in);
}

void ipop__proof_mac(const uint8_t key[IPOP__PROOF_KEY_LEN], const char *room, const char *prover,
                     const char *verifier, const uint8_t n_verifier[IPOP__PROOF_NONCE_LEN],
                     const uint8_t n_prover[IPOP__PROOF_NONCE_LEN], uint8_t mac[IPOP__PROOF_MAC_LEN])
{
    static const char label[] = "ipop-group-proof-v2"; /* and its NUL */
    size_t room_len = strnlen(room, UINT16_MAX), n = 0;
    uint8_t *in = malloc(sizeof(label) + 2 + room_len + 2 * IPOP__NODE_ID_LEN + 2 * IPOP__PROOF_NONCE_LEN);

    if (!in)
        abort(); /* a few hundred bytes */

    memcpy(in, label, sizeof(label));
    n += sizeof(label);
    in[n++] = (uint8_t)(room_len >> 8);
    in[n++] = (uint8_t)room_len;
    memcpy(in + n, room, room_len);
    n += room_len;
    memcpy(in + n, prover, IPOP__NODE_ID_LEN);
    n += IPOP__NODE_ID_LEN;
    memcpy(in + n, verifier, IPOP__NODE_ID_LEN);
    n += IPOP__NODE_ID_LEN;
    memcpy(in + n, n_verifier, IPOP__PROOF_NONCE_LEN);
    n += IPOP__PROOF_NONCE_LEN;
    memcpy(in + n, n_prover, IPOP__PROOF_NONCE_LEN);
    n += IPOP__PROOF_NONCE_LEN;
    gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, IPOP__PROOF_KEY_LEN, in, n, mac);
    free(in);
}

bool ipop__proof_is(const char *text, size_t len)
{
    return (len >= strlen(CHAL_PREFIX) && !memcmp(text, CHAL_PREFIX, strlen(CHAL_PREFIX))) ||
           (len >= strlen(PROOF_PREFIX) && !memcmp(text, PROOF_PREFIX, strlen(PROOF_PREFIX)));
}

static void hex(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", in[i]);
}

int ipop__proof_encode(const ipop__proof_msg *m, char *buf, size_t size)
{
    char mine[2 * IPOP__PROOF_NONCE_LEN + 1], yours[2 * IPOP__PROOF_NONCE_LEN + 1], mac[2 * IPOP__PROOF_MAC_LEN + 1];
    int n;

    if (!ipop__node_id_valid(m->from))
        return -EINVAL;
    hex(m->mine, sizeof(m->mine), mine);
    if (m->type == IPOP__PROOF_CHAL) {
        n = snprintf(buf, size, CHAL_PREFIX "from=%s n=%s", m->from, mine);
    } else if (m->type == IPOP__PROOF_PROOF) {
        hex(m->yours, sizeof(m->yours), yours);
        hex(m->mac, sizeof(m->mac), mac);
        n = snprintf(buf, size, PROOF_PREFIX "from=%s your=%s mine=%s mac=%s", m->from, yours, mine, mac);
    } else {
        return -EINVAL;
    }
    return n < 0 || (size_t)n >= size ? -EMSGSIZE : n;
}

static int lower_hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reads " key=" and 2*n lowercase hex digits into out at *p; advances. */
static bool take_hex(const char *text, size_t len, size_t *p, const char *key, uint8_t *out, size_t n)
{
    size_t k = strlen(key);

    if (*p + 1 + k + 1 + 2 * n > len || text[*p] != ' ' || memcmp(text + *p + 1, key, k) || text[*p + 1 + k] != '=')
        return false;
    *p += k + 2;
    for (size_t i = 0; i < n; i++) {
        int hi = lower_hex(text[*p + 2 * i]), lo = lower_hex(text[*p + 2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *p += 2 * n;
    return true;
}

int ipop__proof_decode(ipop__proof_msg *m, const char *text, size_t len)
{
    size_t p;

    memset(m, 0, sizeof(*m));
    if (len >= strlen(CHAL_PREFIX) && !memcmp(text, CHAL_PREFIX, strlen(CHAL_PREFIX))) {
        m->type = IPOP__PROOF_CHAL;
        p = strlen(CHAL_PREFIX) - 1;
    } else if (len >= strlen(PROOF_PREFIX) && !memcmp(text, PROOF_PREFIX, strlen(PROOF_PREFIX))) {
        m->type = IPOP__PROOF_PROOF;
        p = strlen(PROOF_PREFIX) - 1;
    } else {
        return -EINVAL;
    }
    /* " from=" and a node id */
    if (p + 6 + IPOP__NODE_ID_LEN > len || memcmp(text + p, " from=", 6))
        return -EINVAL;
    memcpy(m->from, text + p + 6, IPOP__NODE_ID_LEN);
    m->from[IPOP__NODE_ID_LEN] = '\0';
    p += 6 + IPOP__NODE_ID_LEN;
    if (!ipop__node_id_valid(m->from))
        return -EINVAL;
    if (m->type == IPOP__PROOF_CHAL) {
        if (!take_hex(text, len, &p, "n", m->mine, sizeof(m->mine)))
            return -EINVAL;
    } else if (!take_hex(text, len, &p, "your", m->yours, sizeof(m->yours)) ||
               !take_hex(text, len, &p, "mine", m->mine, sizeof(m->mine)) ||
               !take_hex(text, len, &p, "mac", m->mac, sizeof(m->mac))) {
        return -EINVAL;
    }
    return p == len ? 0 : -EINVAL;
}

/* A character's class, and each class's pool size: lower, upper, digit,
 * anything else (punctuation and space). */
static int class_of(unsigned char c)
{
    return c >= 'a' && c <= 'z' ? 0 : c >= 'A' && c <= 'Z' ? 1 : c >= '0' && c <= '9' ? 2 : 3;
}

static const unsigned pool_of[4] = { 26, 26, 10, 33 };

unsigned ipop__proof_secret_bits(const char *secret)
{
    bool seen_class[4] = { false };
    unsigned pool = 0, counted = 0;
    size_t len = strlen(secret);
    double bits, x, per;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)secret[i];
        int cls = class_of(c);
        if (!seen_class[cls]) {
            seen_class[cls] = true;
            pool += pool_of[cls];
        }
        /* a character that repeats the last, or continues a run (abc, 321), adds little */
        if (i > 0 && (c == (unsigned char)secret[i - 1] || c == (unsigned char)secret[i - 1] + 1 ||
                      c + 1 == (unsigned char)secret[i - 1]))
            continue;
        counted++;
    }
    if (!pool)
        return 0;
    /* log2(pool), close enough: the whole part, and a line through the rest */
    for (x = pool, per = 0; x >= 2; x /= 2)
        per += 1;
    bits = counted * (per + (x - 1));
    return bits > 256 ? 256 : (unsigned)bits;
}
