/* SPDX-License-Identifier: MIT */
/* A group authority, the pure part (see authority.h).  Everything decoded
 * here came through servers and occupants we do not trust: the decoders
 * check every byte and never read past len. */
#include "authority.h"

#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bytes.h"
#include "msgauth.h" /* base64url */

#define SIGN_LABEL "ipop-authority-v1\n"
#define SIG_B64_LEN 86  /* 64 bytes in base64url */
#define KEY_B64_LEN 43  /* 32 bytes */
#define KEY_PREFIX "ed25519:"
#define SECRET_MAGIC "ipop-authority-key1"
#define CERT_MAGIC "ipop-cert1"
#define CRL_MAGIC "ipop-crl1"
#define TIME_MAX ((int64_t)1 << 40) /* about year 36812: any later time is a forgery or a bug */

static const char hex_lower[] = "0123456789abcdef";

/* ---- keys ---- */

int ipop__authority_key_from_raw(const uint8_t pub[IPOP__AUTHORITY_KEY_LEN], ipop__authority_key *out)
{
    uint8_t h[32];

    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, pub, IPOP__AUTHORITY_KEY_LEN, h) < 0)
        return -EIO;
    memcpy(out->pub, pub, IPOP__AUTHORITY_KEY_LEN);
    for (unsigned i = 0; i < IPOP__AUTHORITY_ID_LEN / 2; i++) {
        out->id[2 * i] = hex_lower[h[i] >> 4];
        out->id[2 * i + 1] = hex_lower[h[i] & 15];
    }
    out->id[IPOP__AUTHORITY_ID_LEN] = '\0';
    return 0;
}

static int key_parse(const char *text, size_t len, ipop__authority_key *out)
{
    uint8_t pub[IPOP__AUTHORITY_KEY_LEN];
    size_t plen = strlen(KEY_PREFIX);

    if (len != IPOP__AUTHORITY_PUB_TEXT_LEN || memcmp(text, KEY_PREFIX, plen) != 0 ||
        ipop__b64url_decode(text + plen, len - plen, pub, sizeof(pub)) != (int)sizeof(pub))
        return -EINVAL;
    return ipop__authority_key_from_raw(pub, out) < 0 ? -EINVAL : 0;
}

int ipop__authority_key_parse(const char *text, ipop__authority_key *out)
{
    if (!text || !out)
        return -EINVAL;
    return key_parse(text, strnlen(text, IPOP__AUTHORITY_PUB_TEXT_LEN + 1), out);
}

int ipop__authority_key_format(const ipop__authority_key *k, char *out, size_t size)
{
    size_t plen = strlen(KEY_PREFIX);

    if (!k || !out || size < IPOP__AUTHORITY_PUB_TEXT_LEN + 1)
        return -EMSGSIZE;
    memcpy(out, KEY_PREFIX, plen);
    return (int)plen + ipop__b64url_encode(k->pub, sizeof(k->pub), out + plen, size - plen);
}

static int privkey(const ipop__authority_secret *s, gnutls_privkey_t *ret)
{
    gnutls_datum_t x = { (unsigned char *)s->pub.pub, IPOP__AUTHORITY_KEY_LEN };
    gnutls_datum_t k = { (unsigned char *)s->seed, sizeof(s->seed) };

    if (gnutls_privkey_init(ret) < 0)
        return -ENOMEM;
    if (gnutls_privkey_import_ecc_raw(*ret, GNUTLS_ECC_CURVE_ED25519, &x, NULL, &k) < 0) {
        gnutls_privkey_deinit(*ret);
        return -EIO;
    }
    return 0;
}

static int sign_raw(const ipop__authority_secret *s, const void *data, size_t len, uint8_t sig[64])
{
    gnutls_privkey_t priv;
    gnutls_datum_t d = { (unsigned char *)data, (unsigned)len }, out = { 0 };
    int r = privkey(s, &priv);

    if (r < 0)
        return r;
    r = gnutls_privkey_sign_data2(priv, GNUTLS_SIGN_EDDSA_ED25519, 0, &d, &out) < 0 || out.size != 64 ? -EIO : 0;
    if (r == 0)
        memcpy(sig, out.data, 64);
    gnutls_free(out.data);
    gnutls_privkey_deinit(priv);
    return r;
}

static int verify_raw(const ipop__authority_key *k, const void *data, size_t len, const uint8_t sig[64])
{
    gnutls_pubkey_t pub;
    gnutls_datum_t x = { (unsigned char *)k->pub, IPOP__AUTHORITY_KEY_LEN };
    gnutls_datum_t d = { (unsigned char *)data, (unsigned)len }, s = { (unsigned char *)sig, 64 };
    int r;

    if (gnutls_pubkey_init(&pub) < 0)
        return -ENOMEM;
    r = gnutls_pubkey_import_ecc_raw(pub, GNUTLS_ECC_CURVE_ED25519, &x, NULL) < 0 ||
                gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_EDDSA_ED25519, 0, &d, &s) < 0
            ? -EBADMSG
            : 0;
    gnutls_pubkey_deinit(pub);
    return r;
}

int ipop__authority_generate(ipop__authority_secret *out)
{
    gnutls_privkey_t priv;
    gnutls_ecc_curve_t curve;
    gnutls_datum_t x = { 0 }, k = { 0 };
    int r = -EIO;

    if (!out || gnutls_privkey_init(&priv) < 0)
        return -EIO;
    if (gnutls_privkey_generate2(priv, GNUTLS_PK_EDDSA_ED25519, 256, 0, NULL, 0) < 0 ||
        gnutls_privkey_export_ecc_raw2(priv, &curve, &x, NULL, &k, 0) < 0 || curve != GNUTLS_ECC_CURVE_ED25519 ||
        x.size != IPOP__AUTHORITY_KEY_LEN || k.size != sizeof(out->seed))
        goto out;
    memcpy(out->seed, k.data, sizeof(out->seed));
    r = ipop__authority_key_from_raw(x.data, &out->pub);
out:
    if (k.data)
        gnutls_memset(k.data, 0, k.size);
    gnutls_free(k.data);
    gnutls_free(x.data);
    gnutls_privkey_deinit(priv);
    return r;
}

void ipop__authority_secret_clear(ipop__authority_secret *s)
{
    if (s)
        gnutls_memset(s, 0, sizeof(*s));
}

static size_t trim_lf(const char *text, size_t len)
{
    return len > 0 && text[len - 1] == '\n' ? len - 1 : len;
}

int ipop__authority_secret_parse(const char *text, size_t len, ipop__authority_secret *out)
{
    static const char probe[] = "ipop-authority-key-check";
    size_t mlen = strlen(SECRET_MAGIC);
    uint8_t sig[64];

    if (!text || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    len = trim_lf(text, len);
    /* magic SP seed SP key */
    if (len != mlen + 1 + KEY_B64_LEN + 1 + IPOP__AUTHORITY_PUB_TEXT_LEN || memcmp(text, SECRET_MAGIC, mlen) != 0 ||
        text[mlen] != ' ' || text[mlen + 1 + KEY_B64_LEN] != ' ' ||
        ipop__b64url_decode(text + mlen + 1, KEY_B64_LEN, out->seed, sizeof(out->seed)) != 32 ||
        key_parse(text + mlen + 2 + KEY_B64_LEN, IPOP__AUTHORITY_PUB_TEXT_LEN, &out->pub) < 0)
        goto fail;
    /* The public key must be the seed's: else every signature would fail
     * at the members, far from the mistake. */
    if (sign_raw(out, probe, sizeof(probe), sig) < 0 || verify_raw(&out->pub, probe, sizeof(probe), sig) < 0)
        goto fail;
    return 0;
fail:
    ipop__authority_secret_clear(out);
    return -EINVAL;
}

int ipop__authority_secret_format(const ipop__authority_secret *s, char *out, size_t size)
{
    char seed[KEY_B64_LEN + 1], pub[IPOP__AUTHORITY_PUB_TEXT_LEN + 1];
    int n;

    if (!s || !out)
        return -EINVAL;
    ipop__b64url_encode(s->seed, sizeof(s->seed), seed, sizeof(seed));
    ipop__authority_key_format(&s->pub, pub, sizeof(pub));
    n = snprintf(out, size, "%s %s %s\n", SECRET_MAGIC, seed, pub);
    gnutls_memset(seed, 0, sizeof(seed));
    return n < 0 || (size_t)n >= size ? -EMSGSIZE : n;
}

/* ---- writing ---- */

static void put_u64(ipop__text *w, const char *key, uint64_t v)
{
    char num[32];

    snprintf(num, sizeof(num), " %s=%" PRIu64, key, v);
    ipop__text_puts(w, num);
}

static void put_addrs(ipop__text *w, const char *key, const ipop__addr *a, unsigned n)
{
    char text[64];

    ipop__text_puts(w, " ");
    ipop__text_puts(w, key);
    ipop__text_puts(w, "=");
    if (n == 0)
        ipop__text_puts(w, "-");
    for (unsigned i = 0; i < n; i++) {
        if (i)
            ipop__text_puts(w, ",");
        if (ipop__addr_format(&a[i], text, sizeof(text)) > 0)
            ipop__text_puts(w, text);
    }
}

/* Signs what is written so far and appends " sig=...": the signed bytes
 * are the label and the line up to here.  Returns the length or -errno. */
static int put_sig(ipop__text *w, const ipop__authority_secret *s, size_t max, uint8_t sig[64])
{
    char b64[SIG_B64_LEN + 1];
    size_t label = strlen(SIGN_LABEL), n = w->len;
    char *input;
    int r;

    if (w->len + 5 + SIG_B64_LEN >= w->size || w->len + 5 + SIG_B64_LEN > max)
        return -EMSGSIZE;
    input = malloc(label + n);
    if (!input)
        return -ENOMEM;
    memcpy(input, SIGN_LABEL, label);
    memcpy(input + label, w->buf, n);
    r = sign_raw(s, input, label + n, sig);
    free(input);
    if (r < 0)
        return r;
    ipop__b64url_encode(sig, 64, b64, sizeof(b64));
    ipop__text_puts(w, " sig=");
    ipop__text_puts(w, b64);
    w->buf[w->len] = '\0';
    return (int)w->len;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
}

static bool name_valid(const char *s, size_t n)
{
    if (n < 1 || n > IPOP__CERT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i]))
            return false;
    return true;
}

static bool addrs_valid(const ipop__addr *a, unsigned n, unsigned max)
{
    char text[64];

    if (n > max)
        return false;
    for (unsigned i = 0; i < n; i++)
        if ((a[i].family != AF_INET && a[i].family != AF_INET6) || ipop__addr_format(&a[i], text, sizeof(text)) < 0)
            return false;
    return true;
}

static bool time_valid(int64_t t)
{
    return t >= 0 && t < TIME_MAX;
}

static bool cert_valid(const ipop__cert *c)
{
    return c->serial > 0 && ipop__node_id_valid(c->node_id) &&
           name_valid(c->name, strnlen(c->name, IPOP__CERT_NAME_MAX + 1)) &&
           addrs_valid(c->addrs, c->n_addrs, IPOP__CERT_ADDRS_MAX) &&
           addrs_valid(c->routes, c->n_routes, IPOP__CERT_ROUTES_MAX) && time_valid(c->issued) &&
           time_valid(c->expires) && c->expires >= c->issued;
}

int ipop__cert_sign(ipop__cert *c, const ipop__authority_secret *s, char *out, size_t size)
{
    ipop__text w = { out, size, 0 };
    int r;

    if (!c || !s || !out || !cert_valid(c))
        return -EINVAL;
    memcpy(c->authority, s->pub.id, sizeof(c->authority));
    ipop__text_puts(&w, CERT_MAGIC);
    put_u64(&w, "serial", c->serial);
    ipop__text_puts(&w, " node=");
    ipop__text_puts(&w, c->node_id);
    ipop__text_puts(&w, " name=");
    ipop__text_puts(&w, c->name);
    put_addrs(&w, "addr", c->addrs, c->n_addrs);
    put_addrs(&w, "route", c->routes, c->n_routes);
    put_u64(&w, "issued", (uint64_t)c->issued);
    put_u64(&w, "expires", (uint64_t)c->expires);
    ipop__text_puts(&w, " authority=");
    ipop__text_puts(&w, c->authority);
    r = put_sig(&w, s, IPOP__CERT_MAX, c->sig);
    if (r < 0 && size > 0)
        out[0] = '\0';
    return r;
}

static bool crl_valid(const ipop__crl *l)
{
    if (l->serial == 0 || !time_valid(l->issued) || l->n_serials + l->n_nodes > IPOP__CRL_ENTRIES_MAX ||
        l->n_serials > IPOP__CRL_ENTRIES_MAX || l->n_nodes > IPOP__CRL_ENTRIES_MAX)
        return false;
    for (unsigned i = 0; i < l->n_serials; i++)
        if (l->serials[i] == 0)
            return false;
    for (unsigned i = 0; i < l->n_nodes; i++)
        if (!ipop__node_id_valid(l->nodes[i]))
            return false;
    return true;
}

int ipop__crl_sign(ipop__crl *l, const ipop__authority_secret *s, char *out, size_t size)
{
    ipop__text w = { out, size, 0 };
    char num[24];
    int r;

    if (!l || !s || !out || !crl_valid(l))
        return -EINVAL;
    memcpy(l->authority, s->pub.id, sizeof(l->authority));
    ipop__text_puts(&w, CRL_MAGIC);
    put_u64(&w, "serial", l->serial);
    put_u64(&w, "issued", (uint64_t)l->issued);
    ipop__text_puts(&w, " authority=");
    ipop__text_puts(&w, l->authority);
    ipop__text_puts(&w, " revoke=");
    if (l->n_serials + l->n_nodes == 0)
        ipop__text_puts(&w, "-");
    for (unsigned i = 0; i < l->n_serials; i++) {
        snprintf(num, sizeof(num), "%s%" PRIu64, i ? "," : "", l->serials[i]);
        ipop__text_puts(&w, num);
    }
    for (unsigned i = 0; i < l->n_nodes; i++) {
        ipop__text_puts(&w, i || l->n_serials ? "," : "");
        ipop__text_puts(&w, l->nodes[i]);
    }
    r = put_sig(&w, s, IPOP__CRL_MAX, l->sig);
    if (r < 0 && size > 0)
        out[0] = '\0';
    return r;
}

/* ---- reading ---- */

typedef struct cursor {
    const char *text;
    size_t len, pos;
} cursor;

/* The next space-separated token, which must be "key=value": *v and *n
 * are the value.  -EINVAL for another key, an empty value, or the end. */
static int field(cursor *c, const char *key, const char **v, size_t *n)
{
    size_t klen = strlen(key), rest;
    const char *start, *sp;

    if (c->pos >= c->len)
        return -EINVAL;
    start = c->text + c->pos;
    rest = c->len - c->pos;
    sp = memchr(start, ' ', rest);
    *n = sp ? (size_t)(sp - start) : rest;
    c->pos += *n + 1;
    if (*n <= klen + 1 || memcmp(start, key, klen) != 0 || start[klen] != '=')
        return -EINVAL;
    *v = start + klen + 1;
    *n -= klen + 1;
    return 0;
}

/* A decimal number in canonical form (no sign, no leading zero), up to max. */
static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int parse_time(const char *s, size_t n, int64_t *out)
{
    uint64_t v;

    if (parse_u64(s, n, (uint64_t)TIME_MAX - 1, &v) < 0)
        return -EINVAL;
    *out = (int64_t)v;
    return 0;
}

static int parse_hex_id(const char *s, size_t n, char out[IPOP__AUTHORITY_ID_LEN + 1])
{
    if (n != IPOP__AUTHORITY_ID_LEN)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return -EINVAL;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

/* One address in canonical form: "10.1.2.3/24", as ipop__addr_format
 * writes it, so that a signed line has one meaning only. */
static int parse_one_addr(const char *s, size_t n, ipop__addr *out)
{
    char text[64], again[64];

    if (n == 0 || n >= sizeof(text))
        return -EINVAL;
    memcpy(text, s, n);
    text[n] = '\0';
    if (!memchr(text, '/', n) || ipop__addr_parse(text, out) < 0 ||
        ipop__addr_format(out, again, sizeof(again)) < 0 || strcmp(text, again) != 0)
        return -EINVAL;
    return 0;
}

/* "-" or A,A,... of at most max addresses. */
static int parse_addrs(const char *s, size_t n, ipop__addr *out, unsigned *count, unsigned max)
{
    size_t start = 0;

    *count = 0;
    if (n == 1 && s[0] == '-')
        return 0;
    while (start <= n) {
        const char *comma = memchr(s + start, ',', n - start);
        size_t end = comma ? (size_t)(comma - s) : n;
        if (*count >= max || parse_one_addr(s + start, end - start, &out[*count]) < 0)
            return -EINVAL;
        (*count)++;
        start = end + 1;
    }
    return 0;
}

static int parse_sig(const char *s, size_t n, uint8_t sig[64])
{
    return n == SIG_B64_LEN && ipop__b64url_decode(s, n, sig, 64) == 64 ? 0 : -EINVAL;
}

/* The common start and end of both lines: the length (a trailing LF
 * allowed, no other control byte), and where " sig=" begins. */
static int check_line(const char *text, size_t *len, size_t max)
{
    if (!text)
        return -EINVAL;
    *len = trim_lf(text, *len);
    if (*len > max)
        return -EMSGSIZE;
    for (size_t i = 0; i < *len; i++)
        if (text[i] < 0x20 || text[i] > 0x7e)
            return -EINVAL;
    return 0;
}

static int decode_cert(ipop__cert *c, cursor *cur)
{
    const char *v;
    size_t n;

    if (field(cur, "serial", &v, &n) < 0 || parse_u64(v, n, UINT64_MAX, &c->serial) < 0 || c->serial == 0)
        return -EINVAL;
    if (field(cur, "node", &v, &n) < 0 || n != IPOP__NODE_ID_LEN)
        return -EINVAL;
    memcpy(c->node_id, v, n);
    if (!ipop__node_id_valid(c->node_id))
        return -EINVAL;
    if (field(cur, "name", &v, &n) < 0 || !name_valid(v, n))
        return -EINVAL;
    memcpy(c->name, v, n);
    if (field(cur, "addr", &v, &n) < 0 || parse_addrs(v, n, c->addrs, &c->n_addrs, IPOP__CERT_ADDRS_MAX) < 0)
        return -EINVAL;
    if (field(cur, "route", &v, &n) < 0 || parse_addrs(v, n, c->routes, &c->n_routes, IPOP__CERT_ROUTES_MAX) < 0)
        return -EINVAL;
    if (field(cur, "issued", &v, &n) < 0 || parse_time(v, n, &c->issued) < 0)
        return -EINVAL;
    if (field(cur, "expires", &v, &n) < 0 || parse_time(v, n, &c->expires) < 0 || c->expires < c->issued)
        return -EINVAL;
    if (field(cur, "authority", &v, &n) < 0 || parse_hex_id(v, n, c->authority) < 0)
        return -EINVAL;
    if (field(cur, "sig", &v, &n) < 0 || parse_sig(v, n, c->sig) < 0 || cur->pos <= cur->len)
        return -EINVAL; /* the signature ends the line */
    return 0;
}

/* A line of at most max bytes that starts with magic and a space: the
 * cursor is set on what follows. */
static int open_line(cursor *cur, const char *text, size_t len, size_t max, const char *magic)
{
    size_t mlen = strlen(magic);
    int r = check_line(text, &len, max);

    if (r < 0)
        return r;
    if (len <= mlen || memcmp(text, magic, mlen) != 0 || text[mlen] != ' ')
        return -EINVAL;
    *cur = (cursor){ .text = text, .len = len, .pos = mlen + 1 };
    return 0;
}

int ipop__cert_decode(ipop__cert *c, const char *text, size_t len)
{
    cursor cur = { 0 };
    int r;

    if (!c)
        return -EINVAL;
    memset(c, 0, sizeof(*c));
    r = open_line(&cur, text, len, IPOP__CERT_MAX, CERT_MAGIC);
    if (r < 0)
        return r;
    r = decode_cert(c, &cur);
    if (r < 0)
        memset(c, 0, sizeof(*c));
    return r;
}

/* One revocation entry: a serial or a node id. */
static int parse_entry(ipop__crl *l, const char *s, size_t n)
{
    if (l->n_serials + l->n_nodes >= IPOP__CRL_ENTRIES_MAX)
        return -EINVAL;
    if (n == IPOP__NODE_ID_LEN) {
        memcpy(l->nodes[l->n_nodes], s, n);
        l->nodes[l->n_nodes][n] = '\0';
        if (!ipop__node_id_valid(l->nodes[l->n_nodes]))
            return -EINVAL;
        l->n_nodes++;
        return 0;
    }
    if (parse_u64(s, n, UINT64_MAX, &l->serials[l->n_serials]) < 0 || l->serials[l->n_serials] == 0)
        return -EINVAL;
    l->n_serials++;
    return 0;
}

static int parse_entries(ipop__crl *l, const char *s, size_t n)
{
    size_t start = 0;

    if (n == 1 && s[0] == '-')
        return 0;
    while (start <= n) {
        const char *comma = memchr(s + start, ',', n - start);
        size_t end = comma ? (size_t)(comma - s) : n;
        if (parse_entry(l, s + start, end - start) < 0)
            return -EINVAL;
        start = end + 1;
    }
    return 0;
}

static int decode_crl(ipop__crl *l, cursor *cur)
{
    const char *v;
    size_t n;

    if (field(cur, "serial", &v, &n) < 0 || parse_u64(v, n, UINT64_MAX, &l->serial) < 0 || l->serial == 0)
        return -EINVAL;
    if (field(cur, "issued", &v, &n) < 0 || parse_time(v, n, &l->issued) < 0)
        return -EINVAL;
    if (field(cur, "authority", &v, &n) < 0 || parse_hex_id(v, n, l->authority) < 0)
        return -EINVAL;
    if (field(cur, "revoke", &v, &n) < 0 || parse_entries(l, v, n) < 0)
        return -EINVAL;
    if (field(cur, "sig", &v, &n) < 0 || parse_sig(v, n, l->sig) < 0 || cur->pos <= cur->len)
        return -EINVAL;
    return 0;
}

int ipop__crl_decode(ipop__crl *l, const char *text, size_t len)
{
    cursor cur = { 0 };
    int r;

    if (!l)
        return -EINVAL;
    memset(l, 0, sizeof(*l));
    r = open_line(&cur, text, len, IPOP__CRL_MAX, CRL_MAGIC);
    if (r < 0)
        return r;
    r = decode_crl(l, &cur);
    if (r < 0)
        memset(l, 0, sizeof(*l));
    return r;
}

/* ---- verifying ---- */

/* The signature over the label and the line up to " sig=" (the decoder
 * checked that the line ends with it). */
static int verify_line(const char *text, size_t len, const uint8_t sig[64], const ipop__authority_key *k)
{
    size_t label = strlen(SIGN_LABEL), signed_len = trim_lf(text, len) - (5 + SIG_B64_LEN);
    char *input = malloc(label + signed_len);
    int r;

    if (!input)
        return -ENOMEM;
    memcpy(input, SIGN_LABEL, label);
    memcpy(input + label, text, signed_len);
    r = verify_raw(k, input, label + signed_len, sig);
    free(input);
    return r;
}

int ipop__cert_verify(ipop__cert *c, const char *text, size_t len, const ipop__authority_key *k)
{
    int r;

    if (!k)
        return -EINVAL;
    r = ipop__cert_decode(c, text, len);
    if (r < 0)
        return -EINVAL;
    if (strcmp(c->authority, k->id) != 0)
        return -EXDEV;
    return verify_line(text, len, c->sig, k) < 0 ? -EBADMSG : 0;
}

int ipop__crl_verify(ipop__crl *l, const char *text, size_t len, const ipop__authority_key *k)
{
    int r;

    if (!k)
        return -EINVAL;
    r = ipop__crl_decode(l, text, len);
    if (r < 0)
        return -EINVAL;
    if (strcmp(l->authority, k->id) != 0)
        return -EXDEV;
    return verify_line(text, len, l->sig, k) < 0 ? -EBADMSG : 0;
}

int ipop__cert_check(const ipop__cert *c, const char *node_id, int64_t now)
{
    if (!c || !node_id || strcmp(c->node_id, node_id) != 0)
        return -EACCES;
    if (now > c->expires + IPOP__AUTHORITY_SKEW_S)
        return -ESTALE;
    if (now < c->issued - IPOP__AUTHORITY_SKEW_S)
        return -EAGAIN;
    return 0;
}

bool ipop__cert_allows_addr(const ipop__cert *c, const ipop__addr *a)
{
    if (!c || !a || !a->family)
        return false;
    for (unsigned i = 0; i < c->n_addrs; i++)
        if (c->addrs[i].family == a->family && ipop__addr_equal_host(&c->addrs[i], a))
            return true;
    return false;
}

bool ipop__cert_allows_route(const ipop__cert *c, const ipop__addr *prefix)
{
    if (!c || !prefix || !prefix->family)
        return false;
    for (unsigned i = 0; i < c->n_routes; i++)
        if (c->routes[i].family == prefix->family && c->routes[i].prefix <= prefix->prefix &&
            ipop__addr_in_subnet(&c->routes[i], prefix))
            return true;
    return false;
}

bool ipop__crl_revokes(const ipop__crl *l, const ipop__cert *c)
{
    if (!l || !c)
        return false;
    for (unsigned i = 0; i < l->n_serials; i++)
        if (l->serials[i] == c->serial)
            return true;
    for (unsigned i = 0; i < l->n_nodes; i++)
        if (!strcmp(l->nodes[i], c->node_id))
            return true;
    return false;
}
