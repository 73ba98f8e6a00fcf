/* SPDX-License-Identifier: MIT */
/* Signed signalling, the pure part: the envelope at the end of every
 * signalling line,
 *
 *     ipop2 <type> key=value ... to=<id> ts=<ms> nonce=<hex> pk=<b64url> sig=<b64url>
 *
 * the bytes that are signed, the recipient and time check, and the replay
 * window.  doc/protocol.md ("Signatures") is the reference.  Everything
 * decoded here came through servers we do not trust: every byte is checked
 * and nothing is read past len. */
#include "msgauth.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define LABEL "ipop-signal-v2"
#define NONCE_HEX (2 * IPOP__AUTH_NONCE_LEN)

/* The envelope's keys, in the order they must appear, at the end. */
enum { E_TO, E_TS, E_NONCE, E_PK, E_SIG, E_N };
static const char *const env_keys[E_N] = { "to", "ts", "nonce", "pk", "sig" };

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char hex_lower[] = "0123456789abcdef";

/* ---- base64url ---- */

int ipop__b64url_encode(const uint8_t *in, size_t len, char *out, size_t size)
{
    size_t o = 0, need = (len / 3) * 4 + (len % 3 ? len % 3 + 1 : 0);

    if (need + 1 > size)
        return -EMSGSIZE;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < len ? in[i + 2] : 0);
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        if (i + 1 < len)
            out[o++] = b64url[v >> 6 & 63];
        if (i + 2 < len)
            out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
    return (int)o;
}

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

int ipop__b64url_decode(const char *in, size_t len, uint8_t *out, size_t size)
{
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;

    if (len % 4 == 1)
        return -EINVAL; /* 6 bits cannot end a byte */
    if ((len / 4) * 3 + (len % 4 ? len % 4 - 1 : 0) > size)
        return -EMSGSIZE;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value(in[i]);
        if (v < 0)
            return -EINVAL;
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* The bits left over must be zero: one encoding per byte string. */
    if (bits && (acc & ((1u << bits) - 1)))
        return -EINVAL;
    return (int)o;
}

/* ---- the bytes that are signed ---- */

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

int ipop__auth_sign_input(uint8_t *buf, size_t size, const char *scope, const char *from, const ipop__auth *a,
                          const char *body, size_t body_len)
{
    size_t scope_len, need, o = 0;

    if (!buf || !scope || !a || !body || !ipop__node_id_valid(from) || !ipop__node_id_valid(a->to))
        return -EINVAL;
    scope_len = strnlen(scope, IPOP__AUTH_SCOPE_MAX + 1);
    if (scope_len > IPOP__AUTH_SCOPE_MAX || body_len > IPOP__SIGNAL_MAX)
        return -EINVAL;
    need = sizeof(LABEL) + 2 + scope_len + 2 * IPOP__NODE_ID_LEN + 8 + IPOP__AUTH_NONCE_LEN + 4 + body_len;
    if (need > size)
        return -EMSGSIZE;
    memcpy(buf, LABEL, sizeof(LABEL)); /* with its NUL */
    o += sizeof(LABEL);
    put_be(buf + o, scope_len, 2);
    memcpy(buf + o + 2, scope, scope_len);
    o += 2 + scope_len;
    memcpy(buf + o, from, IPOP__NODE_ID_LEN);
    memcpy(buf + o + IPOP__NODE_ID_LEN, a->to, IPOP__NODE_ID_LEN);
    o += 2 * IPOP__NODE_ID_LEN;
    put_be(buf + o, a->ts_ms, 8);
    memcpy(buf + o + 8, a->nonce, IPOP__AUTH_NONCE_LEN);
    o += 8 + IPOP__AUTH_NONCE_LEN;
    put_be(buf + o, body_len, 4);
    memcpy(buf + o + 4, body, body_len);
    return (int)(o + 4 + body_len);
}

/* ---- the envelope ---- */

int ipop__auth_encode(const ipop__auth *a, const char *body, size_t body_len, char *out, size_t size)
{
    char ts[24], nonce[NONCE_HEX + 1], pk[IPOP__AUTH_PK_MAX / 3 * 4 + 8], sig[IPOP__AUTH_SIG_LEN / 3 * 4 + 8];
    int n;

    if (!a || !body || !out || !ipop__node_id_valid(a->to) || a->pk_len < 1 || a->pk_len > IPOP__AUTH_PK_MAX)
        return -EINVAL;
    snprintf(ts, sizeof(ts), "%" PRIu64, a->ts_ms);
    for (size_t i = 0; i < IPOP__AUTH_NONCE_LEN; i++) {
        nonce[2 * i] = hex_lower[a->nonce[i] >> 4];
        nonce[2 * i + 1] = hex_lower[a->nonce[i] & 15];
    }
    nonce[NONCE_HEX] = '\0';
    if (ipop__b64url_encode(a->pk, a->pk_len, pk, sizeof(pk)) < 0 ||
        ipop__b64url_encode(a->sig, IPOP__AUTH_SIG_LEN, sig, sizeof(sig)) < 0)
        return -EINVAL;
    if (body_len > IPOP__SIGNAL_MAX || body_len >= size)
        return -EMSGSIZE;
    if (out != body)
        memmove(out, body, body_len);
    n = snprintf(out + body_len, size - body_len, " to=%s ts=%s nonce=%s pk=%s sig=%s", a->to, ts, nonce, pk, sig);
    if (n < 0 || (size_t)n >= size - body_len || body_len + (size_t)n > IPOP__SIGNAL_MAX) {
        out[body_len] = '\0';
        return -EMSGSIZE;
    }
    return (int)(body_len + (size_t)n);
}

static bool is_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return n > 0;
}

/* Time: decimal 1..2^64-1, no sign, no leading zero. */
static int parse_ts(const char *s, size_t n, uint64_t *ret)
{
    uint64_t v = 0;

    if (n > 20 || !is_digits(s, n) || s[0] == '0')
        return -EBADMSG;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EBADMSG;
        v = v * 10 + d;
    }
    *ret = v;
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int parse_nonce(const char *s, size_t n, uint8_t out[IPOP__AUTH_NONCE_LEN])
{
    if (n != NONCE_HEX)
        return -EBADMSG;
    for (size_t i = 0; i < IPOP__AUTH_NONCE_LEN; i++) {
        int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -EBADMSG;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static int parse_field(ipop__auth *a, int k, const char *v, size_t n)
{
    int r;

    switch (k) {
    case E_TO:
        if (n != IPOP__NODE_ID_LEN)
            return -EBADMSG;
        memcpy(a->to, v, n);
        a->to[n] = '\0';
        return ipop__node_id_valid(a->to) ? 0 : -EBADMSG;
    case E_TS:
        return parse_ts(v, n, &a->ts_ms);
    case E_NONCE:
        return parse_nonce(v, n, a->nonce);
    case E_PK:
        r = ipop__b64url_decode(v, n, a->pk, sizeof(a->pk));
        if (r < 1)
            return -EBADMSG;
        a->pk_len = (size_t)r;
        return 0;
    default:
        r = ipop__b64url_decode(v, n, a->sig, sizeof(a->sig));
        return r == IPOP__AUTH_SIG_LEN ? 0 : -EBADMSG;
    }
}

int ipop__auth_decode(ipop__auth *a, const char *text, size_t len, size_t *body_len)
{
    size_t end = len;
    int r;

    if (!a || !body_len)
        return -EINVAL;
    memset(a, 0, sizeof(*a));
    *body_len = 0;
    if (len > IPOP__SIGNAL_MAX)
        return -EMSGSIZE;
    if (!text)
        return -EINVAL;
    r = ipop__msg_check_version(text, len);
    if (r < 0)
        return r;
    /* The last five tokens, right to left: sig, pk, nonce, ts, to. */
    for (int k = E_N - 1; k >= 0; k--) {
        size_t start = end, kn = strlen(env_keys[k]);
        while (start > 0 && text[start - 1] != ' ')
            start--;
        if (start == 0 || end - start < kn + 1 || memcmp(text + start, env_keys[k], kn) != 0 ||
            text[start + kn] != '=' || parse_field(a, k, text + start + kn + 1, end - start - kn - 1) < 0) {
            memset(a, 0, sizeof(*a));
            return -EBADMSG;
        }
        end = start - 1; /* the space before the token */
    }
    if (end == 0 || text[end - 1] == ' ') {
        memset(a, 0, sizeof(*a));
        return -EBADMSG;
    }
    *body_len = end;
    return 0;
}

int ipop__auth_check(const ipop__auth *a, const char *self, uint64_t now_ms)
{
    if (!a || !self || strncmp(a->to, self, sizeof(a->to)) != 0)
        return -EBADMSG;
    if (a->ts_ms > now_ms ? a->ts_ms - now_ms > IPOP__AUTH_SKEW_MS : now_ms - a->ts_ms > IPOP__AUTH_SKEW_MS)
        return -ESTALE;
    return 0;
}

/* ---- replay window ---- */

int ipop__replay_check(const ipop__replay *w, uint64_t ts_ms, const uint8_t nonce[IPOP__AUTH_NONCE_LEN])
{
    if (ts_ms <= w->floor_ms)
        return -ESTALE;
    for (unsigned i = 0; i < w->n && i < IPOP__REPLAY_SLOTS; i++)
        if (w->seen[i].ts_ms == ts_ms && memcmp(w->seen[i].nonce, nonce, IPOP__AUTH_NONCE_LEN) == 0)
            return -EALREADY;
    return 0;
}

/* Lets entry i go: the floor rises to its time, so it stays refused. */
static void forget(ipop__replay *w, unsigned i)
{
    if (w->seen[i].ts_ms > w->floor_ms)
        w->floor_ms = w->seen[i].ts_ms;
    w->seen[i] = w->seen[--w->n];
}

void ipop__replay_add(ipop__replay *w, uint64_t now_ms, uint64_t ts_ms, const uint8_t nonce[IPOP__AUTH_NONCE_LEN])
{
    uint64_t expired = now_ms > IPOP__AUTH_SKEW_MS ? now_ms - IPOP__AUTH_SKEW_MS : 0;
    unsigned oldest = 0;

    if (w->n > IPOP__REPLAY_SLOTS)
        w->n = IPOP__REPLAY_SLOTS;
    for (unsigned i = 0; i < w->n;) {
        if (w->seen[i].ts_ms < expired)
            forget(w, i); /* the last entry moved to i: look at i again */
        else
            i++;
    }
    if (w->n == IPOP__REPLAY_SLOTS) {
        for (unsigned i = 1; i < w->n; i++)
            if (w->seen[i].ts_ms < w->seen[oldest].ts_ms)
                oldest = i;
        forget(w, oldest);
    }
    w->seen[w->n].ts_ms = ts_ms;
    memcpy(w->seen[w->n].nonce, nonce, IPOP__AUTH_NONCE_LEN);
    w->n++;
    if (ts_ms > w->newest_ms)
        w->newest_ms = ts_ms;
}
