/* SPDX-License-Identifier: MIT */
/* Signalling messages, version 2: one line of printable ASCII,
 *
 *     ipop2 <type> key=value key=value ...
 *
 * with percent-encoded values, to which msgauth.c appends the signature
 * envelope.  doc/protocol.md is the reference; this file
 * follows it.  Everything that arrives here came through servers we do not
 * trust, so the decoder checks every byte and never reads past len. */
#include "message.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "bytes.h"
#include "names.h"
#include "routes.h"

#define MAGIC "ipop"
#define MAGIC_LEN 4
#define FP_HEX_LEN 64
#define SHORT_MAX 64 /* fp (64), addresses ("ffff:...:255.255.255.255/128" is 49), end, reason */

enum key {
    /* strings, decoded straight into the message */
    K_FROM,
    K_SESSION,
    K_UFRAG,
    K_PWD,
    K_CAND,
    K_CERT,
    K_CRL,
    K_NAME,
    K_ROUTES,
    /* short values, parsed into numbers or flags */
    K_FP,
    K_ADDR4,
    K_ADDR6,
    K_END,
    K_REASON,
    K_SEQ,
    K_CRLSERIAL,
    K_ACK,
    K_UNKNOWN,
};

#define T(t) (1u << (t))
#define T_DESC (T(IPOP__MSG_OFFER) | T(IPOP__MSG_ANSWER))
#define T_CANDS (T_DESC | T(IPOP__MSG_CAND))
#define T_ALL (T_CANDS | T(IPOP__MSG_BYE))
#define T_AUTHORITY (T(IPOP__MSG_CERT) | T(IPOP__MSG_CRL))

/* Which message types carry each key.  A known key in a type that does
 * not carry it is a sender's bug and refused; unknown keys are skipped. */
static const struct {
    const char *name;
    unsigned types;
} keys[] = {
    [K_FROM] = { "from", T_ALL | T_AUTHORITY },
    [K_SESSION] = { "session", T_ALL },
    [K_UFRAG] = { "ufrag", T_DESC },
    [K_PWD] = { "pwd", T_DESC },
    [K_FP] = { "fp", T_DESC },
    [K_ADDR4] = { "addr4", T_DESC },
    [K_ADDR6] = { "addr6", T_DESC },
    [K_CAND] = { "cand", T_CANDS },
    [K_END] = { "end", T_CANDS },
    [K_REASON] = { "reason", T(IPOP__MSG_BYE) },
    [K_SEQ] = { "seq", T_DESC },
    [K_CERT] = { "cert", T(IPOP__MSG_CERT) },
    [K_CRLSERIAL] = { "crlserial", T(IPOP__MSG_CERT) },
    [K_ACK] = { "ack", T(IPOP__MSG_CERT) },
    [K_CRL] = { "crl", T(IPOP__MSG_CRL) },
    [K_NAME] = { "name", T_DESC },
    [K_ROUTES] = { "routes", T_DESC },
};

static const char *const type_names[] = {
    [IPOP__MSG_OFFER] = "offer",
    [IPOP__MSG_ANSWER] = "answer",
    [IPOP__MSG_CAND] = "cand",
    [IPOP__MSG_BYE] = "bye",
    [IPOP__MSG_CERT] = "cert",
    [IPOP__MSG_CRL] = "crl",
};

static const char hex_upper[] = "0123456789ABCDEF";
static const char hex_lower[] = "0123456789abcdef";

const char *ipop__msg_type_str(ipop__msg_type t)
{
    if (t < IPOP__MSG_OFFER || t > IPOP__MSG_CRL)
        return "unknown";
    return type_names[t];
}

/* ---- character classes ---- */

/* Bytes that travel in a value as they are; all others become %XX. */
static bool is_safe(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("._~:/+@-", c));
}

static bool is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* A text field (ufrag, pwd, candidate): 1..max bytes of printable ASCII,
 * NUL-terminated within max + 1 bytes. */
static bool text_valid(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);

    if (n < 1 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

bool ipop__node_id_valid(const char *id)
{
    if (!id || strnlen(id, IPOP__NODE_ID_LEN + 1) != IPOP__NODE_ID_LEN)
        return false;
    for (size_t i = 0; i < IPOP__NODE_ID_LEN; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '2' && id[i] <= '7')))
            return false;
    return true;
}

static bool session_valid(const char *s)
{
    return strnlen(s, IPOP__SESSION_LEN + 1) == IPOP__SESSION_LEN && is_lower_hex(s, IPOP__SESSION_LEN);
}

/* ---- decoding ---- */

/* Percent-decodes the value v[0..n) into out (a NUL-terminated string of
 * at most size - 1 bytes).  Refuses a byte that is neither safe nor part
 * of an escape, a bad or truncated escape, a decoded control byte, and a
 * value that does not fit. */
static int unescape(const char *v, size_t n, char *out, size_t size)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '%') {
            int hi, lo;
            if (n - i < 3 || (hi = hex_value(v[i + 1])) < 0 || (lo = hex_value(v[i + 2])) < 0)
                return -EINVAL;
            c = (unsigned char)(hi << 4 | lo);
            if (c < 0x20 || c == 0x7f)
                return -EINVAL;
            i += 2;
        } else if (!is_safe(c)) {
            return -EINVAL;
        }
        if (out) {
            if (o + 1 >= size)
                return -EINVAL;
            out[o] = (char)c;
        }
        o++;
    }
    if (out)
        out[o] = '\0';
    return 0;
}

/* Reason: decimal 0..255 without sign or leading zero. */
static int parse_reason(const char *s, int *ret)
{
    size_t n = strlen(s);
    int v = 0;

    if (n < 1 || n > 3 || (n > 1 && s[0] == '0'))
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v > 255)
        return -EINVAL;
    *ret = v;
    return 0;
}

/* Seq: decimal 1..2^64-1 without sign or leading zero. */
static int parse_seq(const char *s, uint64_t *ret)
{
    size_t n = strlen(s);
    uint64_t v = 0;

    if (n < 1 || n > 20 || s[0] == '0')
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    *ret = v;
    return 0;
}

static int parse_fp(const char *s, uint8_t fp[32])
{
    if (strlen(s) != FP_HEX_LEN || !is_lower_hex(s, FP_HEX_LEN))
        return -EINVAL;
    for (size_t i = 0; i < 32; i++)
        fp[i] = (uint8_t)(hex_value(s[2 * i]) << 4 | hex_value(s[2 * i + 1]));
    return 0;
}

static int parse_addr(const char *s, int family, ipop__addr *a)
{
    if (ipop__addr_parse(s, a) < 0 || a->family != family)
        return -EINVAL;
    return 0;
}

static bool cred_valid(const char *s)
{
    return text_valid(s, IPOP__SIGNAL_CRED_MAX);
}

static bool cert_text_valid(const char *s)
{
    return text_valid(s, IPOP__SIGNAL_CERT_MAX);
}

static bool crl_text_valid(const char *s)
{
    return text_valid(s, IPOP__SIGNAL_CRL_MAX);
}

static bool cand_valid(const char *s)
{
    return text_valid(s, IPOP__SIGNAL_CAND_MAX);
}

static int set_string(char *out, size_t size, const char *v, size_t n, bool (*valid)(const char *))
{
    return unescape(v, n, out, size) < 0 || !valid(out) ? -EINVAL : 0;
}

/* A non-empty list of prefixes (routes.h), at most IPOP__SIGNAL_ROUTES_MAX. */
static int set_routes(ipop__msg *m, const char *v, size_t n)
{
    char text[IPOP__ROUTES_TEXT_MAX + 1];

    if (unescape(v, n, text, sizeof(text)) < 0 ||
        ipop__routes_parse(text, strlen(text), m->routes, IPOP__SIGNAL_ROUTES_MAX, &m->n_routes) < 0 ||
        m->n_routes == 0)
        return -EINVAL;
    return 0;
}

static int set_string_field(ipop__msg *m, enum key k, const char *v, size_t n)
{
    int r;

    switch (k) {
    case K_FROM:
        return set_string(m->node_id, sizeof(m->node_id), v, n, ipop__node_id_valid);
    case K_SESSION:
        return set_string(m->session, sizeof(m->session), v, n, session_valid);
    case K_UFRAG:
        return set_string(m->ufrag, sizeof(m->ufrag), v, n, cred_valid);
    case K_PWD:
        return set_string(m->pwd, sizeof(m->pwd), v, n, cred_valid);
    case K_CAND:
        if (m->n_cands >= IPOP__SIGNAL_MAX_CANDS)
            return -EINVAL;
        r = set_string(m->cands[m->n_cands], sizeof(m->cands[0]), v, n, cand_valid);
        if (r == 0)
            m->n_cands++;
        return r;
    case K_CERT:
        return set_string(m->cert, sizeof(m->cert), v, n, cert_text_valid);
    case K_CRL:
        return set_string(m->crl, sizeof(m->crl), v, n, crl_text_valid);
    case K_NAME:
        return set_string(m->name, sizeof(m->name), v, n, ipop__name_valid);
    case K_ROUTES:
        return set_routes(m, v, n);
    default:
        return -EINVAL;
    }
}

static int set_short_field(ipop__msg *m, enum key k, const char *v, size_t n)
{
    char tmp[SHORT_MAX + 1];

    if (unescape(v, n, tmp, sizeof(tmp)) < 0)
        return -EINVAL;
    switch (k) {
    case K_FP:
        m->has_fingerprint = true;
        return parse_fp(tmp, m->fingerprint);
    case K_ADDR4:
        return parse_addr(tmp, AF_INET, &m->addr4);
    case K_ADDR6:
        return parse_addr(tmp, AF_INET6, &m->addr6);
    case K_END:
        m->cands_done = true;
        return strcmp(tmp, "1") == 0 ? 0 : -EINVAL;
    case K_REASON:
        return parse_reason(tmp, &m->reason);
    case K_SEQ:
        return parse_seq(tmp, &m->seq);
    case K_CRLSERIAL:
        return parse_seq(tmp, &m->crl_serial);
    case K_ACK:
        m->cert_ack = true;
        return strcmp(tmp, "1") == 0 ? 0 : -EINVAL;
    default:
        return -EINVAL;
    }
}

/* Splits text at single spaces.  Returns 1 with the next token, 0 at the
 * end, -EINVAL for an empty token (a leading, trailing or double space). */
typedef struct cursor {
    const char *text;
    size_t len, pos;
} cursor;

static int next_token(cursor *c, const char **tok, size_t *n)
{
    const char *start, *sp;

    if (c->pos > c->len)
        return 0;
    start = c->text + c->pos;
    sp = memchr(start, ' ', c->len - c->pos);
    *tok = start;
    *n = sp ? (size_t)(sp - start) : c->len - c->pos;
    c->pos += *n + 1;
    return *n > 0 ? 1 : -EINVAL;
}

/* A token that must be there: the version, the type. */
static int next_word(cursor *c, const char **tok, size_t *n)
{
    return next_token(c, tok, n) > 0 ? 0 : -EINVAL;
}

static bool token_is(const char *tok, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(tok, word, n) == 0;
}

/* "ipop2".  "ipopN" for another N is a version we do not speak (version
 * 1 was not signed). */
static int check_version(const char *tok, size_t n)
{
    if (n <= MAGIC_LEN || memcmp(tok, MAGIC, MAGIC_LEN) != 0)
        return -EINVAL;
    for (size_t i = MAGIC_LEN; i < n; i++)
        if (tok[i] < '0' || tok[i] > '9')
            return -EINVAL;
    if (token_is(tok, n, "ipop2"))
        return 0;
    return tok[MAGIC_LEN] == '0' && n > MAGIC_LEN + 1 ? -EINVAL : -EPROTONOSUPPORT;
}

int ipop__msg_check_version(const char *text, size_t len)
{
    cursor c = { text, len, 0 };
    const char *tok;
    size_t n;

    if (!text || next_word(&c, &tok, &n) < 0)
        return -EINVAL;
    return check_version(tok, n);
}

static int parse_type(const char *tok, size_t n, ipop__msg_type *t)
{
    for (int i = IPOP__MSG_OFFER; i <= IPOP__MSG_CRL; i++) {
        if (token_is(tok, n, type_names[i])) {
            *t = (ipop__msg_type)i;
            return 0;
        }
    }
    return -EINVAL;
}

static enum key find_key(const char *k, size_t n)
{
    for (int i = 0; i < K_UNKNOWN; i++)
        if (token_is(k, n, keys[i].name))
            return (enum key)i;
    return K_UNKNOWN;
}

/* One key=value token. */
static int parse_pair(ipop__msg *m, const char *tok, size_t n, unsigned *seen)
{
    const char *eq = memchr(tok, '=', n);
    size_t kn, vn;
    enum key k;

    if (!eq || eq == tok)
        return -EINVAL;
    kn = (size_t)(eq - tok);
    vn = n - kn - 1;
    for (size_t i = 0; i < kn; i++)
        if (!is_key_char(tok[i]))
            return -EINVAL;
    k = find_key(tok, kn);
    if (k == K_UNKNOWN)
        return unescape(eq + 1, vn, NULL, 0); /* skipped, but well formed */
    if (!(keys[k].types & T(m->type)))
        return -EINVAL;
    if (k != K_CAND) {
        if (*seen & (1u << k))
            return -EINVAL;
        *seen |= 1u << k;
    }
    return k <= K_ROUTES ? set_string_field(m, k, eq + 1, vn) : set_short_field(m, k, eq + 1, vn);
}

static int check_required(const ipop__msg *m, unsigned seen)
{
    unsigned need = 1u << K_FROM | 1u << K_SESSION;

    if (m->type == IPOP__MSG_CERT)
        return (seen & (1u << K_FROM | 1u << K_CERT)) == (1u << K_FROM | 1u << K_CERT) ? 0 : -EINVAL;
    if (m->type == IPOP__MSG_CRL)
        return (seen & (1u << K_FROM | 1u << K_CRL)) == (1u << K_FROM | 1u << K_CRL) ? 0 : -EINVAL;
    if (T(m->type) & T_DESC)
        need |= 1u << K_UFRAG | 1u << K_PWD | 1u << K_FP;
    if ((seen & need) != need)
        return -EINVAL;
    if (m->type == IPOP__MSG_CAND && m->n_cands == 0 && !m->cands_done)
        return -EINVAL; /* a cand message that says nothing */
    return 0;
}

int ipop__msg_decode(ipop__msg *m, const char *text, size_t len)
{
    cursor c = { text, len, 0 };
    const char *tok;
    size_t n;
    unsigned seen = 0;
    int r;

    if (!m)
        return -EINVAL;
    memset(m, 0, sizeof(*m));
    if (len > IPOP__SIGNAL_BODY_MAX)
        return -EMSGSIZE;
    if (!text)
        return -EINVAL;
    if ((r = next_word(&c, &tok, &n)) < 0 || (r = check_version(tok, n)) < 0)
        goto fail;
    if ((r = next_word(&c, &tok, &n)) < 0 || (r = parse_type(tok, n, &m->type)) < 0)
        goto fail;
    while ((r = next_token(&c, &tok, &n)) > 0)
        if ((r = parse_pair(m, tok, n, &seen)) < 0)
            goto fail;
    if (r == 0)
        r = check_required(m, seen);
fail:
    if (r < 0) {
        memset(m, 0, sizeof(*m));
        return r == -EPROTONOSUPPORT ? r : -EINVAL;
    }
    return 0;
}

/* ---- encoding ---- */

static void put_pair(ipop__text *w, const char *key, const char *value)
{
    ipop__text_puts(w, " ");
    ipop__text_puts(w, key);
    ipop__text_puts(w, "=");
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        char esc[3] = { '%', hex_upper[*p >> 4], hex_upper[*p & 15] };
        if (is_safe(*p))
            ipop__text_put(w, (const char *)p, 1);
        else
            ipop__text_put(w, esc, 3);
    }
}

static bool addr_valid(const ipop__addr *a, int family)
{
    char text[SHORT_MAX + 1];

    return a->family == 0 || (a->family == family && ipop__addr_format(a, text, sizeof(text)) > 0);
}

/* The announced routes: what the decoder takes back, the same number. */
static bool routes_valid(const ipop__msg *m)
{
    char text[IPOP__ROUTES_TEXT_MAX + 1];
    ipop__addr back[IPOP__SIGNAL_ROUTES_MAX];
    unsigned n;
    int len;

    if (m->n_routes == 0)
        return true;
    if (m->n_routes > IPOP__SIGNAL_ROUTES_MAX)
        return false;
    len = ipop__routes_format(m->routes, m->n_routes, text, sizeof(text));
    return len > 0 && ipop__routes_parse(text, (size_t)len, back, IPOP__SIGNAL_ROUTES_MAX, &n) == 0 &&
           n == m->n_routes;
}

/* The fields of offer and answer: present there, empty elsewhere. */
static bool desc_valid(const ipop__msg *m)
{
    if (!(T(m->type) & T_DESC))
        return !m->ufrag[0] && !m->pwd[0] && !m->has_fingerprint && !m->addr4.family && !m->addr6.family &&
               !m->seq && !m->name[0] && !m->n_routes;
    return text_valid(m->ufrag, IPOP__SIGNAL_CRED_MAX) && text_valid(m->pwd, IPOP__SIGNAL_CRED_MAX) &&
           m->has_fingerprint && addr_valid(&m->addr4, AF_INET) && addr_valid(&m->addr6, AF_INET6) &&
           (!m->name[0] || ipop__name_valid(m->name)) && routes_valid(m);
}

static bool cands_valid(const ipop__msg *m)
{
    if (m->type == IPOP__MSG_BYE)
        return m->n_cands == 0 && !m->cands_done;
    if (m->n_cands > IPOP__SIGNAL_MAX_CANDS)
        return false;
    for (unsigned i = 0; i < m->n_cands; i++)
        if (!text_valid(m->cands[i], IPOP__SIGNAL_CAND_MAX))
            return false;
    return m->type != IPOP__MSG_CAND || m->n_cands > 0 || m->cands_done;
}

/* The fields of cert and crl: present there, empty elsewhere. */
static bool authority_valid(const ipop__msg *m)
{
    if (m->type == IPOP__MSG_CERT)
        return cert_text_valid(m->cert) && !m->crl[0] && !m->session[0];
    if (m->type == IPOP__MSG_CRL)
        return crl_text_valid(m->crl) && !m->cert[0] && !m->crl_serial && !m->cert_ack && !m->session[0];
    return !m->cert[0] && !m->crl[0] && !m->crl_serial && !m->cert_ack;
}

static bool msg_valid(const ipop__msg *m)
{
    if (m->type < IPOP__MSG_OFFER || m->type > IPOP__MSG_CRL)
        return false;
    if (!ipop__node_id_valid(m->node_id) || !authority_valid(m))
        return false;
    if (m->type == IPOP__MSG_CERT || m->type == IPOP__MSG_CRL)
        return !m->ufrag[0] && !m->pwd[0] && !m->has_fingerprint && !m->addr4.family && !m->addr6.family &&
               !m->seq && !m->name[0] && !m->n_routes && !m->n_cands && !m->cands_done && !m->reason;
    if (!session_valid(m->session))
        return false;
    if (m->type == IPOP__MSG_BYE ? m->reason < 0 || m->reason > 255 : m->reason != 0)
        return false;
    return desc_valid(m) && cands_valid(m);
}

static void put_desc(ipop__text *w, const ipop__msg *m)
{
    char text[SHORT_MAX + 1];

    put_pair(w, "ufrag", m->ufrag);
    put_pair(w, "pwd", m->pwd);
    for (size_t i = 0; i < 32; i++) {
        text[2 * i] = hex_lower[m->fingerprint[i] >> 4];
        text[2 * i + 1] = hex_lower[m->fingerprint[i] & 15];
    }
    text[FP_HEX_LEN] = '\0';
    put_pair(w, "fp", text);
    if (m->addr4.family && ipop__addr_format(&m->addr4, text, sizeof(text)) > 0)
        put_pair(w, "addr4", text);
    if (m->addr6.family && ipop__addr_format(&m->addr6, text, sizeof(text)) > 0)
        put_pair(w, "addr6", text);
    if (m->seq) {
        snprintf(text, sizeof(text), "%" PRIu64, m->seq);
        put_pair(w, "seq", text);
    }
    if (m->name[0])
        put_pair(w, "name", m->name);
    if (m->n_routes) {
        char routes[IPOP__ROUTES_TEXT_MAX + 1];
        if (ipop__routes_format(m->routes, m->n_routes, routes, sizeof(routes)) > 0)
            put_pair(w, "routes", routes);
    }
}

int ipop__msg_encode(const ipop__msg *m, char *buf, size_t size)
{
    ipop__text w = { buf, size, 0 };
    char num[8];

    if (!m || !buf || !msg_valid(m))
        return -EINVAL;
    ipop__text_puts(&w, "ipop2 ");
    ipop__text_puts(&w, type_names[m->type]);
    put_pair(&w, "from", m->node_id);
    if (ipop__msg_has_session(m->type))
        put_pair(&w, "session", m->session);
    if (m->type == IPOP__MSG_CERT) {
        put_pair(&w, "cert", m->cert);
        if (m->crl_serial) {
            char serial[24];
            snprintf(serial, sizeof(serial), "%" PRIu64, m->crl_serial);
            put_pair(&w, "crlserial", serial);
        }
        if (m->cert_ack)
            put_pair(&w, "ack", "1");
    }
    if (m->type == IPOP__MSG_CRL)
        put_pair(&w, "crl", m->crl);
    if (T(m->type) & T_DESC)
        put_desc(&w, m);
    for (unsigned i = 0; i < m->n_cands; i++)
        put_pair(&w, "cand", m->cands[i]);
    if (m->cands_done)
        put_pair(&w, "end", "1");
    if (m->type == IPOP__MSG_BYE) {
        snprintf(num, sizeof(num), "%d", m->reason);
        put_pair(&w, "reason", num);
    }
    if (w.len > IPOP__SIGNAL_BODY_MAX || w.len >= size) {
        if (size > 0)
            buf[0] = '\0';
        return -EMSGSIZE;
    }
    buf[w.len] = '\0';
    return (int)w.len;
}

static bool addr_same(const ipop__addr *a, const ipop__addr *b)
{
    if (a->family != b->family)
        return false;
    return a->family == 0 || (a->prefix == b->prefix && ipop__addr_equal_host(a, b));
}

bool ipop__msg_equal(const ipop__msg *a, const ipop__msg *b)
{
    if (a->type != b->type || a->n_cands != b->n_cands || a->cands_done != b->cands_done ||
        a->reason != b->reason || a->has_fingerprint != b->has_fingerprint || a->seq != b->seq ||
        a->crl_serial != b->crl_serial || a->cert_ack != b->cert_ack)
        return false;
    if (strncmp(a->cert, b->cert, sizeof(a->cert)) != 0 || strncmp(a->crl, b->crl, sizeof(a->crl)) != 0)
        return false;
    if (strncmp(a->node_id, b->node_id, sizeof(a->node_id)) != 0 ||
        strncmp(a->session, b->session, sizeof(a->session)) != 0 ||
        strncmp(a->ufrag, b->ufrag, sizeof(a->ufrag)) != 0 || strncmp(a->pwd, b->pwd, sizeof(a->pwd)) != 0 ||
        strncmp(a->name, b->name, sizeof(a->name)) != 0)
        return false;
    if (a->has_fingerprint && memcmp(a->fingerprint, b->fingerprint, sizeof(a->fingerprint)) != 0)
        return false;
    if (!addr_same(&a->addr4, &b->addr4) || !addr_same(&a->addr6, &b->addr6))
        return false;
    for (unsigned i = 0; i < a->n_cands && i < IPOP__SIGNAL_MAX_CANDS; i++)
        if (strncmp(a->cands[i], b->cands[i], sizeof(a->cands[i])) != 0)
            return false;
    if (a->n_routes != b->n_routes)
        return false;
    for (unsigned i = 0; i < a->n_routes && i < IPOP__SIGNAL_ROUTES_MAX; i++)
        if (!addr_same(&a->routes[i], &b->routes[i]))
            return false;
    return true;
}
