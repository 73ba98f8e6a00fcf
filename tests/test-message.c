/* SPDX-License-Identifier: MIT */
/* Signalling messages: the exact lines on the wire, round trips of random
 * messages, and every kind of hostile line. */
#include "testutil.h"

#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>

#include "message.h"

#define NODE "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst"
#define SESSION "0123456789abcdef"
#define FP "00112233445566778899aabbccddeeff102132435465768798a9bacbdcedfe0f"
#define CAND1 "a=candidate:1 1 UDP 2013266431 10.0.0.1 43210 typ host"
#define CAND1_ENC "a%3Dcandidate:1%201%20UDP%202013266431%2010.0.0.1%2043210%20typ%20host"
#define CAND2 "a=candidate:2 1 UDP 1677721855 203.0.113.7 5000 typ srflx raddr 10.0.0.1 rport 43210"

/* The tokens of a complete offer, in the encoder's order. */
static const char *const offer_tokens[] = {
    "ipop2", "offer", "from=" NODE, "session=" SESSION, "ufrag=Ab1+", "pwd=p4ssw0rd/with+chars~ok",
    ("fp=" FP), "addr4=10.1.0.5/16", "addr6=fd00:1::5/64", "cand=" CAND1_ENC, "end=1",
};
#define OFFER_REQUIRED_LAST 6 /* index of fp, the last required token */

static const char offer_line[] =
    "ipop2 offer from=" NODE " session=" SESSION " ufrag=Ab1+ pwd=p4ssw0rd/with+chars~ok fp=" FP
    " addr4=10.1.0.5/16 addr6=fd00:1::5/64 cand=" CAND1_ENC " end=1";

/* Decodes exactly n bytes from a heap copy without a NUL, so that a read
 * past the end shows up under AddressSanitizer. */
static int decode_n(ipop__msg *m, const char *text, size_t n)
{
    char *copy = g_malloc(n ? n : 1);
    int r;

    memcpy(copy, text, n);
    r = ipop__msg_decode(m, copy, n);
    g_free(copy);
    return r;
}

static int decode(ipop__msg *m, const char *text)
{
    return decode_n(m, text, strlen(text));
}

/* Joins tokens with spaces, leaving out token skip (or none: -1), then
 * appends extra when not NULL. */
static char *join(const char *const *tok, size_t n, int skip, const char *extra)
{
    GString *s = g_string_new(NULL);

    for (size_t i = 0; i < n; i++) {
        if ((int)i == skip)
            continue;
        if (s->len)
            g_string_append_c(s, ' ');
        g_string_append(s, tok[i]);
    }
    if (extra)
        g_string_append_printf(s, " %s", extra);
    return g_string_free(s, FALSE);
}

static char *offer_with(const char *extra)
{
    return join(offer_tokens, G_N_ELEMENTS(offer_tokens), -1, extra);
}

static int decode_offer_with(const char *extra)
{
    ipop__msg *m = g_new(ipop__msg, 1);
    char *line = offer_with(extra);
    int r = decode(m, line);

    g_free(line);
    g_free(m);
    return r;
}

static char *repeat(char c, size_t n)
{
    char *s = g_malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* Replaces the token of key in the offer with key=value. */
static int decode_offer_field(const char *key, const char *value)
{
    const char *tok[G_N_ELEMENTS(offer_tokens)];
    g_autofree char *kv = g_strdup_printf("%s=%s", key, value);
    g_autofree char *prefix = g_strdup_printf("%s=", key);
    g_autofree char *line = NULL;
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);

    for (size_t i = 0; i < G_N_ELEMENTS(offer_tokens); i++)
        tok[i] = g_str_has_prefix(offer_tokens[i], prefix) ? kv : offer_tokens[i];
    line = join(tok, G_N_ELEMENTS(tok), -1, NULL);
    return decode(m, line);
}

static ipop__msg *msg_new(ipop__msg_type type)
{
    ipop__msg *m = g_new0(ipop__msg, 1);

    m->type = type;
    strcpy(m->node_id, NODE);
    strcpy(m->session, SESSION);
    return m;
}

/* ---- valid lines ---- */

static void test_decode_offer(void)
{
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);
    char buf[64];

    g_assert_cmpint(decode(m, offer_line), ==, 0);
    g_assert_cmpint(m->type, ==, IPOP__MSG_OFFER);
    g_assert_cmpstr(m->node_id, ==, NODE);
    g_assert_cmpstr(m->session, ==, SESSION);
    g_assert_cmpstr(m->ufrag, ==, "Ab1+");
    g_assert_cmpstr(m->pwd, ==, "p4ssw0rd/with+chars~ok");
    g_assert_true(m->has_fingerprint);
    g_assert_cmphex(m->fingerprint[0], ==, 0x00);
    g_assert_cmphex(m->fingerprint[1], ==, 0x11);
    g_assert_cmphex(m->fingerprint[31], ==, 0x0f);
    g_assert_cmpint(ipop__addr_format(&m->addr4, buf, sizeof(buf)), >, 0);
    g_assert_cmpstr(buf, ==, "10.1.0.5/16");
    g_assert_cmpint(ipop__addr_format(&m->addr6, buf, sizeof(buf)), >, 0);
    g_assert_cmpstr(buf, ==, "fd00:1::5/64");
    g_assert_cmpuint(m->n_cands, ==, 1);
    g_assert_cmpstr(m->cands[0], ==, CAND1);
    g_assert_true(m->cands_done);
    g_assert_cmpint(m->reason, ==, 0);
}

/* The encoder's output is pinned: other implementations read it. */
static void test_encode_exact(void)
{
    g_autofree ipop__msg *m = msg_new(IPOP__MSG_OFFER);
    char buf[IPOP__SIGNAL_MAX + 1];
    g_autofree ipop__msg *back = g_new(ipop__msg, 1);

    strcpy(m->ufrag, "Ab1+");
    strcpy(m->pwd, "p4ssw0rd/with+chars~ok");
    for (int i = 0; i < 32; i++)
        m->fingerprint[i] = (uint8_t)(g_ascii_xdigit_value(FP[2 * i]) << 4 | g_ascii_xdigit_value(FP[2 * i + 1]));
    m->has_fingerprint = true;
    g_assert_cmpint(ipop__addr_parse("10.1.0.5/16", &m->addr4), ==, 0);
    g_assert_cmpint(ipop__addr_parse("fd00:1::5/64", &m->addr6), ==, 0);
    m->n_cands = 1;
    strcpy(m->cands[0], CAND1);
    m->cands_done = true;
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), ==, (int)strlen(offer_line));
    g_assert_cmpstr(buf, ==, offer_line);
    g_assert_cmpint(decode(back, buf), ==, 0);
    g_assert_true(ipop__msg_equal(m, back));
}

static void test_encode_cand_bye(void)
{
    g_autofree ipop__msg *m = msg_new(IPOP__MSG_CAND);
    char buf[1024];

    m->n_cands = 2;
    strcpy(m->cands[0], CAND1);
    strcpy(m->cands[1], CAND2);
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), >, 0);
    g_assert_cmpstr(buf, ==, "ipop2 cand from=" NODE " session=" SESSION " cand=" CAND1_ENC
                    " cand=a%3Dcandidate:2%201%20UDP%201677721855%20203.0.113.7%205000%20typ%20srflx"
                    "%20raddr%2010.0.0.1%20rport%2043210");

    m->n_cands = 0;
    m->cands_done = true;
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), >, 0);
    g_assert_cmpstr(buf, ==, "ipop2 cand from=" NODE " session=" SESSION " end=1");

    memset(m, 0, sizeof(*m));
    m->type = IPOP__MSG_BYE;
    strcpy(m->node_id, NODE);
    strcpy(m->session, SESSION);
    m->reason = 7;
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), >, 0);
    g_assert_cmpstr(buf, ==, "ipop2 bye from=" NODE " session=" SESSION " reason=7");
}

static void test_decode_bye(void)
{
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);

    g_assert_cmpint(decode(m, "ipop2 bye from=" NODE " session=" SESSION " reason=255"), ==, 0);
    g_assert_cmpint(m->type, ==, IPOP__MSG_BYE);
    g_assert_cmpint(m->reason, ==, 255);
    /* reason is optional: none */
    g_assert_cmpint(decode(m, "ipop2 bye from=" NODE " session=" SESSION), ==, 0);
    g_assert_cmpint(m->reason, ==, 0);
}

static void test_decode_answer_minimal(void)
{
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);

    g_assert_cmpint(decode(m, "ipop2 answer from=" NODE " session=" SESSION " ufrag=u pwd=p fp=" FP),
                    ==, 0);
    g_assert_cmpint(m->type, ==, IPOP__MSG_ANSWER);
    g_assert_cmpint(m->addr4.family, ==, 0);
    g_assert_cmpint(m->addr6.family, ==, 0);
    g_assert_cmpuint(m->n_cands, ==, 0);
    g_assert_false(m->cands_done);
}

static void test_unknown_keys(void)
{
    /* forward compatibility: a newer sender's keys are skipped */
    g_assert_cmpint(decode_offer_with("x-future=hello%20world"), ==, 0);
    g_assert_cmpint(decode_offer_with("x-future=1 x-future=2"), ==, 0);
    g_assert_cmpint(decode_offer_with("zzz="), ==, 0);
    /* but they still follow the syntax */
    g_assert_cmpint(decode_offer_with("x-future=%0A"), ==, -EINVAL);
    g_assert_cmpint(decode_offer_with("x-future=a\"b"), ==, -EINVAL);
    g_assert_cmpint(decode_offer_with("X-Future=1"), ==, -EINVAL);
    g_assert_cmpint(decode_offer_with("novalue"), ==, -EINVAL);
    g_assert_cmpint(decode_offer_with("=value"), ==, -EINVAL);
}

/* ---- round trips ---- */

static void rand_text(char *out, size_t max)
{
    /* mostly short, sometimes the longest allowed */
    size_t n = g_test_rand_bit() ? (size_t)g_test_rand_int_range(1, 40)
                                 : (size_t)g_test_rand_int_range(1, (gint32)max + 1);
    for (size_t i = 0; i < n; i++)
        out[i] = (char)g_test_rand_int_range(0x20, 0x7f);
    out[n] = '\0';
}

static void rand_addr(ipop__addr *a, int family)
{
    memset(a, 0, sizeof(*a));
    a->family = family;
    a->prefix = (uint8_t)g_test_rand_int_range(0, family == AF_INET ? 33 : 129);
    for (int i = 0; i < (family == AF_INET ? 4 : 16); i++)
        a->bytes[i] = (uint8_t)g_test_rand_int_range(0, 256);
}

static void rand_msg(ipop__msg *m)
{
    static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

    memset(m, 0, sizeof(*m));
    m->type = (ipop__msg_type)g_test_rand_int_range(IPOP__MSG_OFFER, IPOP__MSG_BYE + 1);
    for (int i = 0; i < IPOP__NODE_ID_LEN; i++)
        m->node_id[i] = b32[g_test_rand_int_range(0, 32)];
    for (int i = 0; i < IPOP__SESSION_LEN; i++)
        m->session[i] = "0123456789abcdef"[g_test_rand_int_range(0, 16)];
    if (m->type == IPOP__MSG_BYE) {
        m->reason = g_test_rand_int_range(0, 256);
        return;
    }
    if (m->type != IPOP__MSG_CAND) {
        rand_text(m->ufrag, IPOP__SIGNAL_CRED_MAX);
        rand_text(m->pwd, IPOP__SIGNAL_CRED_MAX);
        for (int i = 0; i < 32; i++)
            m->fingerprint[i] = (uint8_t)g_test_rand_int_range(0, 256);
        m->has_fingerprint = true;
        if (g_test_rand_bit())
            rand_addr(&m->addr4, AF_INET);
        if (g_test_rand_bit())
            rand_addr(&m->addr6, AF_INET6);
        if (g_test_rand_bit())
            m->seq = ((uint64_t)g_test_rand_int() << 32 | (uint32_t)g_test_rand_int()) | 1;
    }
    m->n_cands = (unsigned)g_test_rand_int_range(0, IPOP__SIGNAL_MAX_CANDS + 1);
    for (unsigned i = 0; i < m->n_cands; i++)
        rand_text(m->cands[i], IPOP__SIGNAL_CAND_MAX);
    m->cands_done = g_test_rand_bit() || (m->type == IPOP__MSG_CAND && m->n_cands == 0);
}

/* The longest the encoding can be: every value byte escaped. */
static size_t worst_len(const ipop__msg *m)
{
    size_t n = 300 + 3 * (strlen(m->ufrag) + strlen(m->pwd));
    for (unsigned i = 0; i < m->n_cands; i++)
        n += 6 + 3 * strlen(m->cands[i]);
    return n;
}

static void assert_line_form(const char *line, size_t len)
{
    g_assert_cmpuint(strlen(line), ==, len);
    g_assert_true(g_str_has_prefix(line, "ipop2 "));
    for (size_t i = 0; i < len; i++) {
        g_assert_cmpint(line[i], >=, 0x20);
        g_assert_cmpint(line[i], <=, 0x7e);
        if (line[i] == ' ')
            g_assert_cmpint(line[i + 1], !=, ' ');
    }
    g_assert_cmpint(line[len - 1], !=, ' ');
}

static void test_round_trip_random(void)
{
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);
    g_autofree ipop__msg *back = g_new(ipop__msg, 1);
    g_autofree char *buf = g_malloc(IPOP__SIGNAL_BODY_MAX + 1);
    unsigned ok = 0, too_long = 0;

    for (int i = 0; i < 3000; i++) {
        int r;
        rand_msg(m);
        r = ipop__msg_encode(m, buf, IPOP__SIGNAL_BODY_MAX + 1);
        if (r == -EMSGSIZE) {
            g_assert_cmpuint(worst_len(m), >, IPOP__SIGNAL_BODY_MAX);
            too_long++;
            continue;
        }
        g_assert_cmpint(r, >, 0);
        assert_line_form(buf, (size_t)r);
        g_assert_cmpint(decode_n(back, buf, (size_t)r), ==, 0);
        if (!ipop__msg_equal(m, back))
            g_error("round trip changed the message: %s", buf);
        ok++;
    }
    g_test_message("%u round trips, %u too long to encode", ok, too_long);
    g_assert_cmpuint(ok, >, 2500);
}

/* The equality the round trip relies on can say no. */
static void test_msg_equal(void)
{
    g_autofree ipop__msg *a = g_new(ipop__msg, 1);
    g_autofree ipop__msg *b = g_new(ipop__msg, 1);

    g_assert_cmpint(decode(a, offer_line), ==, 0);
    g_assert_cmpint(decode(b, offer_line), ==, 0);
    g_assert_true(ipop__msg_equal(a, b));
    b->cands[0][5] ^= 1;
    g_assert_false(ipop__msg_equal(a, b));
    g_assert_cmpint(decode(b, offer_line), ==, 0);
    b->fingerprint[31] ^= 1;
    g_assert_false(ipop__msg_equal(a, b));
    g_assert_cmpint(decode(b, offer_line), ==, 0);
    b->addr4.prefix = 24;
    g_assert_false(ipop__msg_equal(a, b));
    g_assert_cmpint(decode(b, offer_line), ==, 0);
    b->addr6.bytes[15] ^= 1;
    g_assert_false(ipop__msg_equal(a, b));
}

/* ---- hostile lines ---- */

static void test_truncated(void)
{
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);
    g_autofree ipop__msg *re = g_new(ipop__msg, 1);
    char buf[IPOP__SIGNAL_BODY_MAX + 1];
    g_autofree char *required = join(offer_tokens, OFFER_REQUIRED_LAST + 1, -1, NULL);
    size_t len = strlen(offer_line);
    unsigned valid = 0;

    for (size_t n = 0; n < len; n++) {
        int r = decode_n(m, offer_line, n);
        if (n < strlen(required)) {
            /* a required field is missing or cut short */
            g_assert_cmpint(r, ==, -EINVAL);
            continue;
        }
        g_assert_true(r == 0 || r == -EINVAL);
        if (r < 0)
            continue;
        /* a prefix that decodes is itself a whole message */
        valid++;
        g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), >, 0);
        g_assert_cmpint(decode(re, buf), ==, 0);
        g_assert_true(ipop__msg_equal(m, re));
    }
    /* e.g. cut inside the candidate: a shorter candidate */
    g_assert_cmpuint(valid, >, 10);
}

static void test_truncated_canonical(void)
{
    /* without addresses ("10.0.0.1" reads as "10.0.0.1/32") the encoding
     * is canonical: a decodable prefix re-encodes to the same bytes */
    const char *tok[] = { offer_tokens[0], offer_tokens[1], offer_tokens[2], offer_tokens[3],
                          offer_tokens[4], offer_tokens[5], offer_tokens[6], "cand=" CAND1_ENC,
                          "cand=" CAND1_ENC, "end=1" };
    g_autofree char *line = join(tok, G_N_ELEMENTS(tok), -1, NULL);
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);
    char buf[IPOP__SIGNAL_BODY_MAX + 1];
    unsigned valid = 0;

    for (size_t n = 0; n <= strlen(line); n++) {
        int r = decode_n(m, line, n);
        if (r < 0)
            continue;
        valid++;
        g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), ==, (int)n);
        g_assert_cmpmem(buf, n, line, n);
    }
    g_assert_cmpuint(valid, >, 20);
}

static void test_oversize(void)
{
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);
    g_autofree char *big = g_malloc(IPOP__SIGNAL_BODY_MAX + 2);
    g_autofree char *line = offer_with("x-pad=");
    size_t base = strlen(line);

    /* a valid line padded with an unknown key to exactly the limit */
    memcpy(big, line, base);
    memset(big + base, 'a', IPOP__SIGNAL_BODY_MAX + 1 - base);
    g_assert_cmpint(decode_n(m, big, IPOP__SIGNAL_BODY_MAX), ==, 0);
    g_assert_cmpint(decode_n(m, big, IPOP__SIGNAL_BODY_MAX + 1), ==, -EMSGSIZE);
    /* the length is checked before anything else */
    memset(big, 0, IPOP__SIGNAL_BODY_MAX + 1);
    g_assert_cmpint(decode_n(m, big, IPOP__SIGNAL_BODY_MAX + 1), ==, -EMSGSIZE);
    memcpy(big, "ipop3 ", 6);
    g_assert_cmpint(decode_n(m, big, IPOP__SIGNAL_BODY_MAX + 1), ==, -EMSGSIZE);
    g_assert_cmpint(ipop__msg_decode(m, big, (size_t)-1), ==, -EMSGSIZE);
}

static void test_garbage(void)
{
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);
    char buf[512];

    for (int i = 0; i < 5000; i++) {
        size_t n = (size_t)g_test_rand_int_range(0, sizeof(buf));
        for (size_t j = 0; j < n; j++)
            buf[j] = (char)g_test_rand_int_range(0, 256);
        g_assert_cmpint(decode_n(m, buf, n), <, 0);
    }
    /* printable junk after a good start */
    for (int i = 0; i < 5000; i++) {
        size_t n = 12 + (size_t)g_test_rand_int_range(0, 200);
        memcpy(buf, "ipop2 offer ", 12);
        for (size_t j = 12; j < n; j++)
            buf[j] = (char)g_test_rand_int_range(0x20, 0x7f);
        g_assert_cmpint(decode_n(m, buf, n), ==, -EINVAL);
    }
}

/* Control bytes, DEL and high bytes are refused wherever they appear. */
static void test_bad_bytes(void)
{
    static const unsigned char bad[] = { 0x00, 0x01, 0x09, 0x0a, 0x0d, 0x1b, 0x1f, 0x7f, 0x80, 0xc3, 0xff };
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);
    size_t len = strlen(offer_line);
    g_autofree char *buf = g_malloc(len + 1);

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        for (size_t pos = 0; pos <= len; pos++) {
            /* inserted */
            memcpy(buf, offer_line, pos);
            buf[pos] = (char)bad[i];
            memcpy(buf + pos + 1, offer_line + pos, len - pos);
            g_assert_cmpint(decode_n(m, buf, len + 1), ==, -EINVAL);
            /* replacing a byte */
            if (pos < len) {
                memcpy(buf, offer_line, len);
                buf[pos] = (char)bad[i];
                g_assert_cmpint(decode_n(m, buf, len), ==, -EINVAL);
            }
        }
    }
}

static void test_nul(void)
{
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);
    size_t len = strlen(offer_line);
    g_autofree char *buf = g_malloc(len + 10);

    /* a NUL inside len is a bad byte, not the end of the line */
    memcpy(buf, offer_line, len);
    memcpy(buf + len, "\0 x=1", 5);
    g_assert_cmpint(decode_n(m, buf, len + 5), ==, -EINVAL);
    g_assert_cmpint(decode_n(m, buf, len + 1), ==, -EINVAL);
    /* bytes after len are not read */
    g_assert_cmpint(decode_n(m, buf, len), ==, 0);
    memcpy(buf, "ipop2 bye from=" NODE " session=" SESSION " reason=12", 15 + 52 + 25 + 10);
    g_assert_cmpint(decode_n(m, buf, 15 + 52 + 25 + 9), ==, 0);
    g_assert_cmpint(m->reason, ==, 1);
}

static void test_bad_escapes(void)
{
    static const char *const bad[] = {
        "%", "%4", "%G1", "%1G", "%%", "%%41", "%-1", "%+1", "%x0", "a%", "a%2", "%00", "%01", "%09",
        "%0A", "%0a", "%0D", "%1F", "%1f", "%7F", "%7f",
        /* bytes that must be escaped and were not */
        "a\"b", "a<b", "a>b", "a&b", "a=b", "a#b", "a!b", "a,b", "a;b", "a'b", "a\\b", "a`b",
        "a(b", "a[b", "a{b", "a|b", "a^b", "a*b", "a?b", "a$b",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *cand = g_strdup_printf("cand=%s", bad[i]);
        g_autofree char *mid = g_strdup_printf("cand=abc%sxyz", bad[i]); /* x is not a hex digit */
        g_autofree char *unk = g_strdup_printf("x-new=%s", bad[i]);
        g_test_message("%s", bad[i]);
        g_assert_cmpint(decode_offer_with(cand), ==, -EINVAL);
        g_assert_cmpint(decode_offer_with(mid), ==, -EINVAL);
        g_assert_cmpint(decode_offer_with(unk), ==, -EINVAL);
    }
    /* Decoded bytes above 0x7e are not control bytes: an unknown key may
     * carry them (UTF-8, one day), but no field of version 1 does. */
    static const char *const high[] = { "%C3%A9", "%80", "%FF" };
    for (size_t i = 0; i < G_N_ELEMENTS(high); i++) {
        g_autofree char *cand = g_strdup_printf("cand=%s", high[i]);
        g_autofree char *unk = g_strdup_printf("x-new=%s", high[i]);
        g_assert_cmpint(decode_offer_with(cand), ==, -EINVAL);
        g_assert_cmpint(decode_offer_field("ufrag", high[i]), ==, -EINVAL);
        g_assert_cmpint(decode_offer_with(unk), ==, 0);
    }
}

static void test_good_escapes(void)
{
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);
    g_autofree char *line = join(offer_tokens, 7, -1, "cand=%41%2a%2A%20%7e%25");

    g_assert_cmpint(decode(m, line), ==, 0);
    g_assert_cmpuint(m->n_cands, ==, 1);
    g_assert_cmpstr(m->cands[0], ==, "A** ~%"); /* either case of hex */
}

static void test_version(void)
{
    static const struct {
        const char *line;
        int r;
    } cases[] = {
        { "ipop3 offer from=" NODE " session=" SESSION, -EPROTONOSUPPORT },
        { "ipop3", -EPROTONOSUPPORT },
        /* version 1 was not signed: refused, whatever it says */
        { "ipop1 bye from=" NODE " session=" SESSION, -EPROTONOSUPPORT },
        { "ipop0 bye", -EPROTONOSUPPORT },
        { "ipop20 bye", -EPROTONOSUPPORT },
        { "ipop99999999999999999999 bye", -EPROTONOSUPPORT },
        { "ipop3 \x01\n whatever a future version says", -EPROTONOSUPPORT },
        { "", -EINVAL },
        { "ipop", -EINVAL },
        { "ipop ", -EINVAL },
        { "ipop 1 bye", -EINVAL },
        { "ipopx bye", -EINVAL },
        { "ipop2x bye", -EINVAL },
        { "ipop01 bye", -EINVAL },
        { "ipop-1 bye", -EINVAL },
        { "IPOP1 bye", -EINVAL },
        { "xpop1 bye", -EINVAL },
        { " ipop1 bye", -EINVAL },
        { "ipop2", -EINVAL },
        { "ipop2 ", -EINVAL },
        { "ipop2 hello from=" NODE " session=" SESSION, -EINVAL },
        { "ipop2 OFFER from=" NODE " session=" SESSION, -EINVAL },
        { "ipop2 byebye from=" NODE " session=" SESSION, -EINVAL },
        { "ipop2 by from=" NODE " session=" SESSION, -EINVAL },
        { "ipop2 bye from=" NODE " session=" SESSION, 0 },
    };
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_test_message("'%s'", cases[i].line);
        g_assert_cmpint(decode(m, cases[i].line), ==, cases[i].r);
    }
}

static void test_spacing(void)
{
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);
    g_autofree char *trailing = g_strdup_printf("%s ", offer_line);
    g_autofree char *leading = g_strdup_printf(" %s", offer_line);
    g_autofree char *lf = g_strdup_printf("%s\n", offer_line);
    g_autofree char *crlf = g_strdup_printf("%s\r\n", offer_line);
    g_autofree char *dbl = g_strdup(offer_line);
    g_autofree char *tab = g_strdup(offer_line);
    char *sp = strstr(dbl, " session=");

    g_assert_cmpint(decode(m, trailing), ==, -EINVAL);
    g_assert_cmpint(decode(m, leading), ==, -EINVAL);
    g_assert_cmpint(decode(m, lf), ==, -EINVAL);
    g_assert_cmpint(decode(m, crlf), ==, -EINVAL);
    sp[0] = '=';
    g_assert_cmpint(decode(m, dbl), ==, -EINVAL); /* two tokens fused */
    tab[5] = '\t';
    g_assert_cmpint(decode(m, tab), ==, -EINVAL);
    g_assert_cmpint(decode_offer_with(" x=1"), ==, -EINVAL); /* double space */
}

static void test_duplicates(void)
{
    /* every singleton key of an offer, twice */
    for (size_t i = 2; i < G_N_ELEMENTS(offer_tokens); i++) {
        if (g_str_has_prefix(offer_tokens[i], "cand="))
            continue;
        g_test_message("%s", offer_tokens[i]);
        g_assert_cmpint(decode_offer_with(offer_tokens[i]), ==, -EINVAL);
    }
    g_assert_cmpint(decode_offer_with("from=" NODE), ==, -EINVAL);          /* even the same value */
    g_assert_cmpint(decode_offer_with("addr4=10.9.9.9/8"), ==, -EINVAL);    /* or another */
    g_assert_cmpint(decode_offer_with("cand=" CAND1_ENC), ==, 0);           /* cand repeats */

    g_autofree ipop__msg *m = g_new(ipop__msg, 1);
    g_assert_cmpint(decode(m, "ipop2 bye from=" NODE " session=" SESSION " reason=1 reason=1"), ==, -EINVAL);
}

static void test_too_many_cands(void)
{
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);
    GString *s = g_string_new("ipop2 cand from=" NODE " session=" SESSION);

    for (int i = 1; i <= IPOP__SIGNAL_MAX_CANDS; i++)
        g_string_append_printf(s, " cand=c%d", i);
    g_assert_cmpint(decode(m, s->str), ==, 0);
    g_assert_cmpuint(m->n_cands, ==, IPOP__SIGNAL_MAX_CANDS);
    g_assert_cmpstr(m->cands[IPOP__SIGNAL_MAX_CANDS - 1], ==, "c16");
    g_string_append(s, " end=1");
    g_assert_cmpint(decode(m, s->str), ==, 0);
    g_string_append(s, " cand=c17");
    g_assert_cmpint(decode(m, s->str), ==, -EINVAL);
    g_string_free(s, TRUE);
}

static void test_missing(void)
{
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);

    /* each required token of an offer left out */
    for (int i = 2; i <= OFFER_REQUIRED_LAST; i++) {
        g_autofree char *line = join(offer_tokens, G_N_ELEMENTS(offer_tokens), i, NULL);
        g_test_message("without %s", offer_tokens[i]);
        g_assert_cmpint(decode(m, line), ==, -EINVAL);
    }
    /* the optional ones may go */
    for (size_t i = OFFER_REQUIRED_LAST + 1; i < G_N_ELEMENTS(offer_tokens); i++) {
        g_autofree char *line = join(offer_tokens, G_N_ELEMENTS(offer_tokens), (int)i, NULL);
        g_assert_cmpint(decode(m, line), ==, 0);
    }
    g_assert_cmpint(decode(m, "ipop2 bye session=" SESSION), ==, -EINVAL);
    g_assert_cmpint(decode(m, "ipop2 bye from=" NODE), ==, -EINVAL);
    g_assert_cmpint(decode(m, "ipop2 cand session=" SESSION " end=1"), ==, -EINVAL);
    /* a cand message must carry a candidate or the end */
    g_assert_cmpint(decode(m, "ipop2 cand from=" NODE " session=" SESSION), ==, -EINVAL);
}

/* Keys that another type carries are a sender's bug. */
static void test_wrong_type_keys(void)
{
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);
    const char *bye = "ipop2 bye from=" NODE " session=" SESSION;
    const char *cand = "ipop2 cand from=" NODE " session=" SESSION " end=1";
    static const char *const not_in_bye[] = { "cand=x", "end=1", "ufrag=u", "pwd=p", ("fp=" FP),
                                              "addr4=10.0.0.1" };
    static const char *const not_in_cand[] = { "reason=1", "ufrag=u", "pwd=p", ("fp=" FP), "addr6=::1" };

    g_assert_cmpint(decode_offer_with("reason=1"), ==, -EINVAL);
    for (size_t i = 0; i < G_N_ELEMENTS(not_in_bye); i++) {
        g_autofree char *line = g_strdup_printf("%s %s", bye, not_in_bye[i]);
        g_assert_cmpint(decode(m, line), ==, -EINVAL);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(not_in_cand); i++) {
        g_autofree char *line = g_strdup_printf("%s %s", cand, not_in_cand[i]);
        g_assert_cmpint(decode(m, line), ==, -EINVAL);
    }
}

static void test_long_values(void)
{
    g_autofree char *a256 = repeat('a', 256), *a257 = repeat('a', 257);
    g_autofree char *a255 = repeat('a', 255);
    GString *esc = g_string_new(NULL);

    g_assert_cmpint(decode_offer_field("ufrag", a256), ==, 0);
    g_assert_cmpint(decode_offer_field("ufrag", a257), ==, -EINVAL);
    g_assert_cmpint(decode_offer_field("pwd", a256), ==, 0);
    g_assert_cmpint(decode_offer_field("pwd", a257), ==, -EINVAL);
    g_assert_cmpint(decode_offer_field("cand", a255), ==, 0);
    g_assert_cmpint(decode_offer_field("cand", a256), ==, -EINVAL);
    /* the decoded length counts, not the encoded one */
    for (int i = 0; i < 256; i++)
        g_string_append(esc, "%20");
    g_assert_cmpint(decode_offer_field("ufrag", esc->str), ==, 0);
    g_string_append(esc, "%20");
    g_assert_cmpint(decode_offer_field("ufrag", esc->str), ==, -EINVAL);
    g_string_free(esc, TRUE);
    /* and the values that may not be empty */
    g_assert_cmpint(decode_offer_field("ufrag", ""), ==, -EINVAL);
    g_assert_cmpint(decode_offer_field("pwd", ""), ==, -EINVAL);
    g_assert_cmpint(decode_offer_field("cand", ""), ==, -EINVAL);
}

static void test_bad_fields(void)
{
    static const struct {
        const char *key, *value;
    } bad[] = {
        { "from", "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrs" },    /* 51 */
        { "from", NODE "a" },                                                 /* 53 */
        { "from", "Abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst" },   /* upper */
        { "from", "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrs1" },   /* not base32 */
        { "from", "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrs8" },
        { "from", "" },
        { "session", "0123456789abcde" },
        { "session", "0123456789abcdef0" },
        { "session", "0123456789ABCDEF" },
        { "session", "0123456789abcdeg" },
        { "fp", "00112233445566778899aabbccddeeff102132435465768798a9bacbdcedfe0" },
        { "fp", FP "0" },
        { "fp", "00112233445566778899AABBCCDDEEFF102132435465768798A9BACBDCEDFE0F" },
        { "fp", "00:11:22:33" },
        { "fp", "" },
        { "addr4", "fd00::1/64" },
        { "addr4", "10.0.0.1/33" },
        { "addr4", "10.0.0.1/" },
        { "addr4", "1.2.3" },
        { "addr4", "" },
        { "addr4", "10.0.0.1%2F24%20" },
        { "addr6", "10.0.0.1/24" },
        { "addr6", "::1/129" },
        { "end", "0" },
        { "end", "" },
        { "end", "11" },
        { "end", "true" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_test_message("%s=%s", bad[i].key, bad[i].value);
        g_assert_cmpint(decode_offer_field(bad[i].key, bad[i].value), ==, -EINVAL);
    }
    g_assert_cmpint(decode_offer_field("addr4", "10.0.0.1"), ==, 0);
    g_assert_cmpint(decode_offer_field("addr4", "10.0.0.1%2F24"), ==, 0);
    g_assert_cmpint(decode_offer_field("addr6", "::ffff:10.0.0.1"), ==, 0);
}

static void test_reason(void)
{
    static const char *const bad[] = { "256", "-1", "+1", "01", "00", "", "1a", "1000", "%31%32%33%34" };
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *line = g_strdup_printf("ipop2 bye from=" NODE " session=" SESSION " reason=%s", bad[i]);
        g_assert_cmpint(decode(m, line), ==, -EINVAL);
    }
    g_assert_cmpint(decode(m, "ipop2 bye from=" NODE " session=" SESSION " reason=0"), ==, 0);
    g_assert_cmpint(decode(m, "ipop2 bye from=" NODE " session=" SESSION " reason=99"), ==, 0);
    g_assert_cmpint(m->reason, ==, 99);
}

static void test_decode_clears(void)
{
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);
    g_autofree ipop__msg *zero = g_new0(ipop__msg, 1);
    g_autofree char *bad = offer_with("cand=%0A");

    g_assert_cmpint(decode(m, offer_line), ==, 0);
    g_assert_cmpint(decode(m, bad), ==, -EINVAL);
    g_assert_cmpmem(m, sizeof(*m), zero, sizeof(*zero)); /* nothing half-parsed is left */
    g_assert_cmpint(ipop__msg_decode(m, NULL, 10), ==, -EINVAL);
    g_assert_cmpint(ipop__msg_decode(NULL, offer_line, strlen(offer_line)), ==, -EINVAL);
}

/* ---- the encoder refuses what the decoder would refuse ---- */

typedef void (*breaker)(ipop__msg *m);

static void b_type0(ipop__msg *m) { m->type = 0; }
static void b_type5(ipop__msg *m) { m->type = 5; }
static void b_node_short(ipop__msg *m) { m->node_id[51] = '\0'; }
static void b_node_upper(ipop__msg *m) { m->node_id[0] = 'A'; }
static void b_node_unterminated(ipop__msg *m) { memset(m->node_id, 'a', sizeof(m->node_id)); }
static void b_session(ipop__msg *m) { m->session[3] = 'G'; }
static void b_session_short(ipop__msg *m) { m->session[15] = '\0'; }
static void b_no_fp(ipop__msg *m) { m->has_fingerprint = false; }
static void b_ufrag_empty(ipop__msg *m) { m->ufrag[0] = '\0'; }
static void b_ufrag_lf(ipop__msg *m) { strcpy(m->ufrag, "ab\ncd"); }
static void b_ufrag_unterminated(ipop__msg *m) { memset(m->ufrag, 'u', sizeof(m->ufrag)); }
static void b_pwd_high(ipop__msg *m) { strcpy(m->pwd, "caf\xc3\xa9"); }
static void b_cand_empty(ipop__msg *m) { m->cands[0][0] = '\0'; }
static void b_cand_cr(ipop__msg *m) { strcpy(m->cands[0], "a=candidate:1 1 UDP 1 10.0.0.1 1 typ host\r"); }
static void b_cand_del(ipop__msg *m) { m->cands[0][3] = 0x7f; }
static void b_cands_17(ipop__msg *m)
{
    m->n_cands = IPOP__SIGNAL_MAX_CANDS + 1;
    for (unsigned i = 0; i < m->n_cands; i++)
        strcpy(m->cands[i < IPOP__SIGNAL_MAX_CANDS ? i : 0], "c");
}
static void b_reason_in_offer(ipop__msg *m) { m->reason = 3; }
static void b_addr4_family(ipop__msg *m) { m->addr4.family = AF_INET6; }
static void b_addr6_family(ipop__msg *m) { m->addr6.family = AF_INET; }
static void b_addr4_prefix(ipop__msg *m) { m->addr4.prefix = 33; }
static void b_addr_other(ipop__msg *m) { m->addr4.family = 99; }

static void test_encode_invalid(void)
{
    static const breaker breakers[] = {
        b_type0, b_type5, b_node_short, b_node_upper, b_node_unterminated, b_session,
        b_session_short, b_no_fp, b_ufrag_empty, b_ufrag_lf, b_ufrag_unterminated, b_pwd_high,
        b_cand_empty, b_cand_cr, b_cand_del, b_cands_17, b_reason_in_offer, b_addr4_family,
        b_addr6_family, b_addr4_prefix, b_addr_other,
    };
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);
    char buf[IPOP__SIGNAL_MAX + 1];

    g_assert_cmpint(decode(m, offer_line), ==, 0);
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), >, 0);
    for (size_t i = 0; i < G_N_ELEMENTS(breakers); i++) {
        g_assert_cmpint(decode(m, offer_line), ==, 0);
        breakers[i](m);
        g_test_message("breaker %zu", i);
        g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), ==, -EINVAL);
    }
    g_assert_cmpint(ipop__msg_encode(NULL, buf, sizeof(buf)), ==, -EINVAL);
}

static void test_encode_invalid_types(void)
{
    g_autofree ipop__msg *m = msg_new(IPOP__MSG_BYE);
    char buf[1024];

    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), >, 0);
    m->n_cands = 1;
    strcpy(m->cands[0], "c");
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), ==, -EINVAL); /* bye with a candidate */
    m->n_cands = 0;
    m->cands_done = true;
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), ==, -EINVAL);
    m->cands_done = false;
    m->reason = 256;
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), ==, -EINVAL);
    m->reason = -1;
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), ==, -EINVAL);

    m->reason = 0;
    m->type = IPOP__MSG_CAND;
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), ==, -EINVAL); /* says nothing */
    m->cands_done = true;
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), >, 0);
    strcpy(m->ufrag, "u");
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), ==, -EINVAL); /* offer fields in cand */
    m->ufrag[0] = '\0';
    m->has_fingerprint = true;
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), ==, -EINVAL);
}

static void test_encode_buffer(void)
{
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);
    size_t len = strlen(offer_line);
    g_autofree char *buf = g_malloc(len + 1);

    g_assert_cmpint(decode(m, offer_line), ==, 0);
    for (size_t size = 0; size <= len; size++) {
        char *exact = g_malloc(size ? size : 1);
        g_assert_cmpint(ipop__msg_encode(m, exact, size), ==, -EMSGSIZE);
        if (size)
            g_assert_cmpint(exact[0], ==, '\0');
        g_free(exact);
    }
    g_assert_cmpint(ipop__msg_encode(m, buf, len + 1), ==, (int)len);
    g_assert_cmpstr(buf, ==, offer_line);
    g_assert_cmpint(ipop__msg_encode(m, NULL, 100), ==, -EINVAL);
}

static void test_encode_too_long(void)
{
    g_autofree ipop__msg *m = msg_new(IPOP__MSG_CAND);
    g_autofree char *buf = g_malloc(65536);

    /* 16 candidates of 255 spaces: 16 * 765 escaped bytes */
    m->n_cands = IPOP__SIGNAL_MAX_CANDS;
    for (unsigned i = 0; i < m->n_cands; i++) {
        memset(m->cands[i], ' ', IPOP__SIGNAL_CAND_MAX);
        m->cands[i][IPOP__SIGNAL_CAND_MAX] = '\0';
    }
    g_assert_cmpint(ipop__msg_encode(m, buf, 65536), ==, -EMSGSIZE);
    m->n_cands = 10; /* 10 * (6 + 765) + 87 fits */
    g_assert_cmpint(ipop__msg_encode(m, buf, 65536), >, 7000);
}

static void test_node_id_valid(void)
{
    g_assert_true(ipop__node_id_valid(NODE));
    g_assert_true(ipop__node_id_valid("2222222222222222222222222222222222222222222222222222"));
    g_assert_false(ipop__node_id_valid(NODE "a"));
    g_assert_false(ipop__node_id_valid(&NODE[1]));
    g_assert_false(ipop__node_id_valid("abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrs0"));
    g_assert_false(ipop__node_id_valid("abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrs="));
    g_assert_false(ipop__node_id_valid("abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrsT"));
    g_assert_false(ipop__node_id_valid(""));
    g_assert_false(ipop__node_id_valid(NULL));
}

static void test_type_str(void)
{
    g_assert_cmpstr(ipop__msg_type_str(IPOP__MSG_OFFER), ==, "offer");
    g_assert_cmpstr(ipop__msg_type_str(IPOP__MSG_ANSWER), ==, "answer");
    g_assert_cmpstr(ipop__msg_type_str(IPOP__MSG_CAND), ==, "cand");
    g_assert_cmpstr(ipop__msg_type_str(IPOP__MSG_BYE), ==, "bye");
    g_assert_cmpstr(ipop__msg_type_str(0), ==, "unknown");
    g_assert_cmpstr(ipop__msg_type_str(42), ==, "unknown");
}

static void test_seq(void)
{
    static const char *good[] = { "1", "18446744073709551615", "1732460000000000" };
    static const char *bad[] = { "0", "01", "18446744073709551616", "-1", "1x", "" };
    const char *id = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst";
    const char *fp = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    ipop__msg *m = g_new(ipop__msg, 1);

    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        char *t = g_strdup_printf("ipop2 offer from=%s session=0123456789abcdef ufrag=u pwd=p fp=%s seq=%s", id, fp,
                                  good[i]);
        g_assert_cmpint(ipop__msg_decode(m, t, strlen(t)), ==, 0);
        g_assert_cmpuint(m->seq, ==, g_ascii_strtoull(good[i], NULL, 10));
        g_free(t);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        char *t = g_strdup_printf("ipop2 answer from=%s session=0123456789abcdef ufrag=u pwd=p fp=%s seq=%s", id,
                                  fp, bad[i]);
        g_assert_cmpint(ipop__msg_decode(m, t, strlen(t)), ==, -EINVAL);
        g_free(t);
    }
    /* only offers and answers carry it */
    {
        char *t = g_strdup_printf("ipop2 bye from=%s session=0123456789abcdef seq=5", id);
        g_assert_cmpint(ipop__msg_decode(m, t, strlen(t)), ==, -EINVAL);
        g_free(t);
    }
    g_free(m);
}

/* The member name: offers and answers carry it (older peers skip the
 * unknown key), in its canonical form only, once, bounded. */
static void test_name(void)
{
    static const char *bad[] = { "Alice", "-alice", "alice-", "al.ice", "al%2Eice", "al_ice", "",
                                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 64 */ };
    ipop__msg *m = g_new0(ipop__msg, 1), *d = g_new0(ipop__msg, 1);
    char buf[IPOP__SIGNAL_MAX + 1], *t;

    t = g_strdup_printf("ipop2 answer from=%s session=%s ufrag=u pwd=p fp=%s name=web-1", NODE, SESSION, FP);
    g_assert_cmpint(ipop__msg_decode(m, t, strlen(t)), ==, 0);
    g_assert_cmpstr(m->name, ==, "web-1");
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), ==, (int)strlen(t));
    g_assert_cmpstr(buf, ==, t);
    g_free(t);
    /* 63 characters: the longest */
    t = g_strdup_printf("ipop2 offer from=%s session=%s ufrag=u pwd=p fp=%s name=%063d", NODE, SESSION, FP, 7);
    g_assert_cmpint(ipop__msg_decode(m, t, strlen(t)), ==, 0);
    g_assert_cmpuint(strlen(m->name), ==, 63);
    g_assert_cmpint(ipop__msg_decode(d, buf, (size_t)ipop__msg_encode(m, buf, sizeof(buf))), ==, 0);
    g_assert_true(ipop__msg_equal(m, d));
    g_free(t);
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        t = g_strdup_printf("ipop2 offer from=%s session=%s ufrag=u pwd=p fp=%s name=%s", NODE, SESSION, FP, bad[i]);
        g_assert_cmpint(ipop__msg_decode(m, t, strlen(t)), ==, -EINVAL);
        g_free(t);
    }
    t = g_strdup_printf("ipop2 offer from=%s session=%s ufrag=u pwd=p fp=%s name=a name=a", NODE, SESSION, FP);
    g_assert_cmpint(ipop__msg_decode(m, t, strlen(t)), ==, -EINVAL);
    g_free(t);
    t = g_strdup_printf("ipop2 bye from=%s session=%s reason=6 name=a", NODE, SESSION);
    g_assert_cmpint(ipop__msg_decode(m, t, strlen(t)), ==, -EINVAL); /* only offers and answers */
    g_free(t);
    /* the encoder refuses what the decoder would */
    t = g_strdup_printf("ipop2 offer from=%s session=%s ufrag=u pwd=p fp=%s", NODE, SESSION, FP);
    g_assert_cmpint(ipop__msg_decode(m, t, strlen(t)), ==, 0);
    g_assert_cmpstr(m->name, ==, "");
    g_strlcpy(m->name, "Bad", sizeof(m->name));
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), ==, -EINVAL);
    g_free(t);
    g_free(m);
    g_free(d);
}

/* The group authority's messages: certificate and revocation list, exact
 * lines, no session, and the fields of other types refused in them. */
static void test_authority_messages(void)
{
    ipop__msg *m = g_new0(ipop__msg, 1), *d = g_new0(ipop__msg, 1);
    char buf[IPOP__SIGNAL_MAX + 1];
    static const char cert_line[] = "ipop2 cert from=" NODE " cert=ipop-cert1%20serial%3D3 crlserial=2 ack=1";
    static const char crl_line[] = "ipop2 crl from=" NODE " crl=ipop-crl1%20revoke%3D7%2C8";
    static const char *const bad[] = {
        "ipop2 cert from=" NODE,                                        /* no cert */
        "ipop2 cert from=" NODE " session=" SESSION " cert=x",          /* a session */
        "ipop2 cert from=" NODE " cert=x ack=2",
        "ipop2 cert from=" NODE " cert=x crlserial=0",
        "ipop2 cert from=" NODE " cert=x crl=y",                        /* crl in a cert */
        "ipop2 crl from=" NODE " crl=x crlserial=1",
        "ipop2 crl from=" NODE " crl=x ufrag=u",
        "ipop2 offer from=" NODE " session=" SESSION " ufrag=u pwd=p fp=" FP " cert=x", /* cert in an offer */
        "ipop2 crl from=" NODE,
    };

    m->type = IPOP__MSG_CERT;
    g_strlcpy(m->node_id, NODE, sizeof(m->node_id));
    g_strlcpy(m->cert, "ipop-cert1 serial=3", sizeof(m->cert));
    m->crl_serial = 2;
    m->cert_ack = true;
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), ==, (int)strlen(cert_line));
    g_assert_cmpstr(buf, ==, cert_line);
    g_assert_cmpint(ipop__msg_decode(d, buf, strlen(buf)), ==, 0);
    g_assert_true(ipop__msg_equal(m, d));
    g_assert_cmpstr(ipop__msg_type_str(d->type), ==, "cert");

    memset(m, 0, sizeof(*m));
    m->type = IPOP__MSG_CRL;
    g_strlcpy(m->node_id, NODE, sizeof(m->node_id));
    g_strlcpy(m->crl, "ipop-crl1 revoke=7,8", sizeof(m->crl));
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), ==, (int)strlen(crl_line));
    g_assert_cmpstr(buf, ==, crl_line);
    g_assert_cmpint(ipop__msg_decode(d, buf, strlen(buf)), ==, 0);
    g_assert_true(ipop__msg_equal(m, d));
    /* The longest list fits a message. */
    memset(m->crl, 'a', IPOP__SIGNAL_CRL_MAX);
    m->crl[IPOP__SIGNAL_CRL_MAX] = '\0';
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), >, 0);
    g_assert_cmpint(ipop__msg_decode(d, buf, strlen(buf)), ==, 0);
    /* A session, or a cert, where they do not belong: the encoder refuses too. */
    g_strlcpy(m->session, SESSION, sizeof(m->session));
    g_assert_cmpint(ipop__msg_encode(m, buf, sizeof(buf)), ==, -EINVAL);
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        g_assert_cmpint(ipop__msg_decode(d, bad[i], strlen(bad[i])), ==, -EINVAL);
    g_free(m);
    g_free(d);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/signal/decode/offer", test_decode_offer);
    g_test_add_func("/signal/authority", test_authority_messages);
    g_test_add_func("/signal/decode/bye", test_decode_bye);
    g_test_add_func("/signal/decode/answer-minimal", test_decode_answer_minimal);
    g_test_add_func("/signal/decode/unknown-keys", test_unknown_keys);
    g_test_add_func("/signal/decode/good-escapes", test_good_escapes);
    g_test_add_func("/signal/encode/exact", test_encode_exact);
    g_test_add_func("/signal/encode/cand-bye", test_encode_cand_bye);
    g_test_add_func("/signal/round-trip/random", test_round_trip_random);
    g_test_add_func("/signal/round-trip/equal", test_msg_equal);
    g_test_add_func("/signal/hostile/truncated", test_truncated);
    g_test_add_func("/signal/hostile/truncated-canonical", test_truncated_canonical);
    g_test_add_func("/signal/hostile/oversize", test_oversize);
    g_test_add_func("/signal/hostile/garbage", test_garbage);
    g_test_add_func("/signal/hostile/bad-bytes", test_bad_bytes);
    g_test_add_func("/signal/hostile/nul", test_nul);
    g_test_add_func("/signal/hostile/bad-escapes", test_bad_escapes);
    g_test_add_func("/signal/hostile/version", test_version);
    g_test_add_func("/signal/hostile/spacing", test_spacing);
    g_test_add_func("/signal/hostile/duplicates", test_duplicates);
    g_test_add_func("/signal/hostile/too-many-cands", test_too_many_cands);
    g_test_add_func("/signal/hostile/missing", test_missing);
    g_test_add_func("/signal/hostile/wrong-type-keys", test_wrong_type_keys);
    g_test_add_func("/signal/hostile/long-values", test_long_values);
    g_test_add_func("/signal/hostile/bad-fields", test_bad_fields);
    g_test_add_func("/signal/hostile/reason", test_reason);
    g_test_add_func("/signal/hostile/decode-clears", test_decode_clears);
    g_test_add_func("/signal/encode/invalid", test_encode_invalid);
    g_test_add_func("/signal/encode/invalid-types", test_encode_invalid_types);
    g_test_add_func("/signal/encode/buffer", test_encode_buffer);
    g_test_add_func("/signal/encode/too-long", test_encode_too_long);
    g_test_add_func("/signal/node-id", test_node_id_valid);
    g_test_add_func("/signal/type-str", test_type_str);
    g_test_add_func("/signal/seq", test_seq);
    g_test_add_func("/signal/name", test_name);
    return g_test_run();
}
