/* SPDX-License-Identifier: MIT */
/* Signed signalling, the pure parts (lib/msgauth.c: base64url, the sign
 * input, the envelope, the recipient and time check, the replay window)
 * and the key operations (lib/identity.c: sign, verify against a node id,
 * export of the public key). */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "identity.h"
#include "message.h"
#include "msgauth.h"
#include "testutil.h"

#define NODE_A "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst"
#define NODE_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define BODY "ipop2 bye from=" NODE_A " session=0123456789abcdef reason=7"
#define NOW 1767225600000ull /* 2026-01-01 in ms */

/* ---- base64url ---- */

static void test_b64url_vectors(void)
{
    static const struct {
        const char *in, *out;
    } v[] = {
        /* RFC 4648 section 10, without padding */
        { "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
        { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
        /* the two characters where base64url differs */
        { "\xfb\xff", "-_8" },
    };
    char out[32];
    uint8_t back[32];

    for (size_t i = 0; i < G_N_ELEMENTS(v); i++) {
        size_t n = strlen(v[i].in);
        g_assert_cmpint(ipop__b64url_encode((const uint8_t *)v[i].in, n, out, sizeof(out)), ==,
                        (int)strlen(v[i].out));
        g_assert_cmpstr(out, ==, v[i].out);
        g_assert_cmpint(ipop__b64url_decode(out, strlen(out), back, sizeof(back)), ==, (int)n);
        g_assert_cmpmem(back, n, v[i].in, n);
    }
}

static void test_b64url_strict(void)
{
    static const char *const bad[] = {
        "Z",        /* 6 bits cannot make a byte */
        "Zh",       /* "f" with non-zero unused bits: not canonical */
        "Zm9=",     /* padding */
        "Zm+v",     /* base64, not base64url */
        "Zm/v", "Zm v", "Zm\x80v", "Zm9vY",
    };
    uint8_t out[16];

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        g_assert_cmpint(ipop__b64url_decode(bad[i], strlen(bad[i]), out, sizeof(out)), ==, -EINVAL);
    g_assert_cmpint(ipop__b64url_decode("Zm9vYmFy", 8, out, 5), ==, -EMSGSIZE);
    g_assert_cmpint(ipop__b64url_decode("Zm9vYmFy", 8, out, 6), ==, 6);
    g_assert_cmpint(ipop__b64url_encode((const uint8_t *)"foo", 3, (char *)out, 4), ==, -EMSGSIZE);
}

static void test_b64url_random(void)
{
    uint8_t in[200], back[200];
    char text[300];

    for (int i = 0; i < 2000; i++) {
        size_t n = (size_t)g_test_rand_int_range(0, sizeof(in));
        int len;
        for (size_t j = 0; j < n; j++)
            in[j] = (uint8_t)g_test_rand_int_range(0, 256);
        len = ipop__b64url_encode(in, n, text, sizeof(text));
        g_assert_cmpint(len, >=, 0);
        g_assert_cmpint(ipop__b64url_decode(text, (size_t)len, back, sizeof(back)), ==, (int)n);
        g_assert_cmpmem(back, n, in, n);
    }
}

/* ---- the envelope ---- */

static void sample(ipop__auth *a)
{
    memset(a, 0, sizeof(*a));
    strcpy(a->to, NODE_B);
    a->ts_ms = NOW;
    for (int i = 0; i < IPOP__AUTH_NONCE_LEN; i++)
        a->nonce[i] = (uint8_t)(0xa0 + i);
    a->pk_len = 91;
    for (size_t i = 0; i < a->pk_len; i++)
        a->pk[i] = (uint8_t)i;
    for (int i = 0; i < IPOP__AUTH_SIG_LEN; i++)
        a->sig[i] = (uint8_t)(255 - i);
}

static void assert_same(const ipop__auth *a, const ipop__auth *b)
{
    g_assert_cmpstr(a->to, ==, b->to);
    g_assert_cmpuint(a->ts_ms, ==, b->ts_ms);
    g_assert_cmpmem(a->nonce, sizeof(a->nonce), b->nonce, sizeof(b->nonce));
    g_assert_cmpmem(a->pk, a->pk_len, b->pk, b->pk_len);
    g_assert_cmpmem(a->sig, sizeof(a->sig), b->sig, sizeof(b->sig));
}

static void test_envelope_round_trip(void)
{
    ipop__auth a, back;
    char line[IPOP__SIGNAL_MAX + 1];
    size_t body_len;
    int n;

    sample(&a);
    n = ipop__auth_encode(&a, BODY, strlen(BODY), line, sizeof(line));
    g_assert_cmpint(n, >, (int)strlen(BODY));
    g_assert_cmpuint(strlen(line), ==, (size_t)n);
    g_assert_true(g_str_has_prefix(line, BODY " to=" NODE_B " ts=1767225600000 nonce=a0a1a2a3a4a5a6a7a8a9aaabacadaeaf pk="));
    g_assert_cmpint(ipop__auth_decode(&back, line, (size_t)n, &body_len), ==, 0);
    g_assert_cmpuint(body_len, ==, strlen(BODY));
    assert_same(&a, &back);
    /* The envelope of a key of the longest kind fits in what it may add. */
    a.pk_len = IPOP__AUTH_PK_MAX;
    a.ts_ms = UINT64_MAX;
    n = ipop__auth_encode(&a, BODY, strlen(BODY), line, sizeof(line));
    g_assert_cmpint(n, >, 0);
    g_assert_cmpuint((size_t)n - strlen(BODY), <=, IPOP__AUTH_SUFFIX_MAX);
    g_assert_cmpint(ipop__auth_decode(&back, line, (size_t)n, &body_len), ==, 0);
    assert_same(&a, &back);
    /* in place, as the network seals */
    strcpy(line, BODY);
    g_assert_cmpint(ipop__auth_encode(&a, line, strlen(BODY), line, sizeof(line)), ==, n);
    g_assert_cmpint(ipop__auth_decode(&back, line, (size_t)n, &body_len), ==, 0);
    /* a message of the longest kind, signed, stays within what pumps carry */
    {
        g_autofree char *big = g_malloc(IPOP__SIGNAL_MAX + 1);
        memset(big, 'a', IPOP__SIGNAL_BODY_MAX);
        memcpy(big, "ipop2 ", 6);
        g_assert_cmpint(ipop__auth_encode(&a, big, IPOP__SIGNAL_BODY_MAX, big, IPOP__SIGNAL_MAX + 1), >, 0);
        g_assert_cmpint(ipop__auth_encode(&a, big, IPOP__SIGNAL_MAX - 10, big, IPOP__SIGNAL_MAX + 1), ==, -EMSGSIZE);
    }
    g_assert_cmpint(ipop__auth_encode(&a, BODY, strlen(BODY), line, strlen(BODY) + 20), ==, -EMSGSIZE);
    a.pk_len = 0;
    g_assert_cmpint(ipop__auth_encode(&a, BODY, strlen(BODY), line, sizeof(line)), ==, -EINVAL);
    sample(&a);
    a.to[0] = 'A';
    g_assert_cmpint(ipop__auth_encode(&a, BODY, strlen(BODY), line, sizeof(line)), ==, -EINVAL);
}

static int decode_str(const char *s)
{
    ipop__auth a;
    size_t body_len = 99;
    int r = ipop__auth_decode(&a, s, strlen(s), &body_len);

    if (r < 0)
        g_assert_cmpuint(body_len, ==, 0);
    return r;
}

/* The sample's line with one token replaced (or removed: with = NULL). */
static char *with_token(const char *key, const char *with)
{
    ipop__auth a;
    char line[IPOP__SIGNAL_MAX + 1];
    g_auto(GStrv) toks = NULL;
    GString *s = g_string_new(NULL);
    size_t kn = strlen(key);

    sample(&a);
    g_assert_cmpint(ipop__auth_encode(&a, BODY, strlen(BODY), line, sizeof(line)), >, 0);
    toks = g_strsplit(line, " ", -1);
    for (int i = 0; toks[i]; i++) {
        const char *t = toks[i];
        if (!strncmp(t, key, kn) && t[kn] == '=')
            t = with;
        if (!t)
            continue;
        if (s->len)
            g_string_append_c(s, ' ');
        g_string_append(s, t);
    }
    return g_string_free(s, FALSE);
}

static void test_envelope_hostile(void)
{
    static const struct {
        const char *key, *with;
    } bad[] = {
        { "to", NULL }, { "ts", NULL }, { "nonce", NULL }, { "pk", NULL }, { "sig", NULL },
        { "to", "to=" }, { "to", "to=ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abcdefghijklmnopqrst" },
        { "to", "to=" NODE_B "b" }, { "to", "to=bbbb" }, { "to", "too=" NODE_B },
        { "ts", "ts=" }, { "ts", "ts=0" }, { "ts", "ts=01767225600000" }, { "ts", "ts=-1" },
        { "ts", "ts=18446744073709551616" }, { "ts", "ts=1e9" }, { "ts", "ts=+17" },
        { "nonce", "nonce=A0A1A2A3A4A5A6A7A8A9AAABACADAEAF" }, { "nonce", "nonce=a0a1" },
        { "nonce", "nonce=a0a1a2a3a4a5a6a7a8a9aaabacadaeafa0" }, { "nonce", "nonce=g0a1a2a3a4a5a6a7a8a9aaabacadaeaf" },
        { "pk", "pk=" }, { "pk", "pk=Zh" }, { "pk", "pk=AA==" }, { "pk", "pk=%41" },
        { "sig", "sig=" }, { "sig", "sig=AAAA" },
        /* 63 and 65 bytes */
        { "sig", "sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
        { "sig", "sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *line = with_token(bad[i].key, bad[i].with);
        g_test_message("%s", line);
        g_assert_cmpint(decode_str(line), ==, -EBADMSG);
    }
    {
        /* the right sig is 86 chars; this one decodes, as a control */
        g_autofree char *line = with_token(
            "sig", "sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        g_assert_cmpint(decode_str(line), ==, 0);
    }
    {
        /* order, spacing, a body, a token after sig */
        ipop__auth a;
        char line[IPOP__SIGNAL_MAX + 1];
        g_autofree char *no_body = NULL, *swapped = NULL, *extra = NULL, *dbl = NULL, *trail = NULL;
        const char *env;
        sample(&a);
        g_assert_cmpint(ipop__auth_encode(&a, BODY, strlen(BODY), line, sizeof(line)), >, 0);
        env = line + strlen(BODY); /* " to=..." */
        no_body = g_strdup_printf("ipop2%s", env);
        g_assert_cmpint(decode_str(no_body), ==, 0); /* the envelope is there; "ipop2" is for the codec to refuse */
        no_body[5] = 'x';
        g_assert_cmpint(decode_str(no_body), ==, -EINVAL);
        g_assert_cmpint(decode_str(env + 1), ==, -EINVAL); /* starts "to=": not a message at all */
        extra = g_strdup_printf("%s x=1", line);
        g_assert_cmpint(decode_str(extra), ==, -EBADMSG);
        trail = g_strdup_printf("%s ", line);
        g_assert_cmpint(decode_str(trail), ==, -EBADMSG);
        dbl = g_strdup_printf(BODY " %s", env);
        g_assert_cmpint(decode_str(dbl), ==, -EBADMSG);
        swapped = g_strdup(line);
        {
            char *ts = strstr(swapped, " ts="), *to = strstr(swapped, " to=");
            char tmp[4];
            memcpy(tmp, ts, 4);
            memcpy(ts, to, 4); /* " to=" where ts was, and the other way */
            memcpy(to, tmp, 4);
        }
        g_assert_cmpint(decode_str(swapped), ==, -EBADMSG);
    }
    /* versions, size, garbage */
    g_assert_cmpint(decode_str(BODY), ==, -EBADMSG);
    g_assert_cmpint(decode_str("ipop1 bye from=" NODE_A " session=0123456789abcdef"), ==, -EPROTONOSUPPORT);
    g_assert_cmpint(decode_str("ipop3 anything"), ==, -EPROTONOSUPPORT);
    g_assert_cmpint(decode_str(""), ==, -EINVAL);
    g_assert_cmpint(decode_str("hello"), ==, -EINVAL);
    {
        g_autofree char *big = g_malloc(IPOP__SIGNAL_MAX + 2);
        ipop__auth a;
        size_t bl;
        memset(big, 'a', IPOP__SIGNAL_MAX + 1);
        big[IPOP__SIGNAL_MAX + 1] = '\0';
        g_assert_cmpint(ipop__auth_decode(&a, big, IPOP__SIGNAL_MAX + 1, &bl), ==, -EMSGSIZE);
        g_assert_cmpint(ipop__auth_decode(&a, NULL, 3, &bl), ==, -EINVAL);
        g_assert_cmpint(ipop__auth_decode(&a, "x", 1, NULL), ==, -EINVAL);
    }
}

static void test_garbage(void)
{
    char buf[600];
    ipop__auth a;
    size_t bl;

    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)g_test_rand_int_range(0, sizeof(buf));
        memcpy(buf, "ipop2 ", 6);
        for (size_t j = 6; j < n; j++)
            buf[j] = (char)g_test_rand_int_range(0x20, 0x7f);
        g_assert_cmpint(ipop__auth_decode(&a, buf, n, &bl), <, 0);
    }
}

/* ---- the sign input ---- */

static void test_sign_input_layout(void)
{
    ipop__auth a;
    uint8_t buf[1024];
    const char *body = "ipop2 x";
    int n;
    static const uint8_t head[] = "ipop-signal-v2"; /* with its NUL */
    size_t o = 0;

    sample(&a);
    n = ipop__auth_sign_input(buf, sizeof(buf), "host:lab", NODE_A, &a, body, strlen(body));
    g_assert_cmpint(n, ==, 15 + 2 + 8 + 52 + 52 + 8 + 16 + 4 + 7);
    g_assert_cmpmem(buf, 15, head, 15);
    o = 15;
    g_assert_cmpmem(buf + o, 2, "\x00\x08", 2);
    g_assert_cmpmem(buf + o + 2, 8, "host:lab", 8);
    o += 10;
    g_assert_cmpmem(buf + o, 52, NODE_A, 52);
    g_assert_cmpmem(buf + o + 52, 52, NODE_B, 52);
    o += 104;
    g_assert_cmpmem(buf + o, 8, "\x00\x00\x01\x9b\x76\xda\xa8\x00", 8); /* 1767225600000 */
    g_assert_cmpmem(buf + o + 8, 16, a.nonce, 16);
    o += 24;
    g_assert_cmpmem(buf + o, 4, "\x00\x00\x00\x07", 4);
    g_assert_cmpmem(buf + o + 4, 7, body, 7);
    /* limits */
    g_assert_cmpint(ipop__auth_sign_input(buf, (size_t)n - 1, "host:lab", NODE_A, &a, body, strlen(body)), ==,
                    -EMSGSIZE);
    g_assert_cmpint(ipop__auth_sign_input(buf, sizeof(buf), "host:lab", "nobody", &a, body, strlen(body)), ==, -EINVAL);
    {
        g_autofree char *scope = g_malloc0(IPOP__AUTH_SCOPE_MAX + 2);
        g_autofree uint8_t *big = g_malloc(IPOP__AUTH_INPUT_MAX);
        g_autofree char *bigbody = g_malloc0(IPOP__SIGNAL_MAX + 1);
        memset(scope, 's', IPOP__AUTH_SCOPE_MAX);
        memset(bigbody, 'b', IPOP__SIGNAL_MAX);
        g_assert_cmpint(ipop__auth_sign_input(big, IPOP__AUTH_INPUT_MAX, scope, NODE_A, &a, bigbody, IPOP__SIGNAL_MAX),
                        >, 0);
        scope[IPOP__AUTH_SCOPE_MAX] = 's';
        g_assert_cmpint(ipop__auth_sign_input(big, IPOP__AUTH_INPUT_MAX, scope, NODE_A, &a, bigbody, 10), ==, -EINVAL);
    }
}

/* Every field changes the signed bytes: a signature made for one
 * recipient, scope, time, nonce or message is no signature for another. */
static void test_sign_input_binds(void)
{
    ipop__auth a, b;
    uint8_t x[1024], y[1024];
    int nx, ny;

    sample(&a);
    nx = ipop__auth_sign_input(x, sizeof(x), "group:vpn@rooms", NODE_A, &a, BODY, strlen(BODY));
    for (int field = 0; field < 7; field++) {
        const char *scope = "group:vpn@rooms", *from = NODE_A, *body = BODY;
        b = a;
        switch (field) {
        case 0: scope = "group:vpn@rooms2"; break;
        case 1: scope = "group:vpn@room"; break;
        case 2: from = NODE_B; break;
        case 3: strcpy(b.to, NODE_A); break;
        case 4: b.ts_ms++; break;
        case 5: b.nonce[15] ^= 1; break;
        default: body = BODY "0"; break;
        }
        ny = ipop__auth_sign_input(y, sizeof(y), scope, from, &b, body, strlen(body));
        g_assert_true(nx != ny || memcmp(x, y, (size_t)nx) != 0);
    }
}

/* ---- recipient, time, replays ---- */

static void test_auth_check(void)
{
    ipop__auth a;

    sample(&a);
    g_assert_cmpint(ipop__auth_check(&a, NODE_B, NOW), ==, 0);
    g_assert_cmpint(ipop__auth_check(&a, NODE_A, NOW), ==, -EBADMSG);
    g_assert_cmpint(ipop__auth_check(&a, NODE_B, NOW + IPOP__AUTH_SKEW_MS), ==, 0);
    g_assert_cmpint(ipop__auth_check(&a, NODE_B, NOW - IPOP__AUTH_SKEW_MS), ==, 0);
    g_assert_cmpint(ipop__auth_check(&a, NODE_B, NOW + IPOP__AUTH_SKEW_MS + 1), ==, -ESTALE);
    g_assert_cmpint(ipop__auth_check(&a, NODE_B, NOW - IPOP__AUTH_SKEW_MS - 1), ==, -ESTALE);
    a.ts_ms = UINT64_MAX;
    g_assert_cmpint(ipop__auth_check(&a, NODE_B, NOW), ==, -ESTALE);
    a.ts_ms = 1;
    g_assert_cmpint(ipop__auth_check(&a, NODE_B, NOW), ==, -ESTALE);
}

static void nonce_of(uint8_t n[IPOP__AUTH_NONCE_LEN], unsigned v)
{
    memset(n, 0, IPOP__AUTH_NONCE_LEN);
    memcpy(n, &v, sizeof(v));
}

static void test_replay_basic(void)
{
    ipop__replay w = { 0 };
    uint8_t n1[16], n2[16];

    nonce_of(n1, 1);
    nonce_of(n2, 2);
    g_assert_cmpint(ipop__replay_check(&w, NOW, n1), ==, 0);
    ipop__replay_add(&w, NOW, NOW, n1);
    g_assert_cmpint(ipop__replay_check(&w, NOW, n1), ==, -EALREADY);
    g_assert_cmpint(ipop__replay_check(&w, NOW, n2), ==, 0); /* same time, another nonce */
    g_assert_cmpint(ipop__replay_check(&w, NOW - 1, n2), ==, 0); /* reordered: still fine */
    /* a full set lets its oldest go, and the floor keeps it refused */
    for (unsigned i = 0; i < IPOP__REPLAY_SLOTS; i++) {
        uint8_t n[16];
        nonce_of(n, 100 + i);
        ipop__replay_add(&w, NOW, NOW + 1 + i, n);
    }
    g_assert_cmpuint(w.n, ==, IPOP__REPLAY_SLOTS);
    g_assert_cmpuint(w.floor_ms, ==, NOW);
    g_assert_cmpint(ipop__replay_check(&w, NOW, n1), ==, -ESTALE);
    g_assert_cmpint(ipop__replay_check(&w, NOW, n2), ==, -ESTALE);
    g_assert_cmpint(ipop__replay_check(&w, NOW + 1, n2), ==, 0);
    {
        uint8_t n[16];
        nonce_of(n, 100);
        g_assert_cmpint(ipop__replay_check(&w, NOW + 1, n), ==, -EALREADY);
    }
    /* what falls out of the window goes, raising the floor */
    ipop__replay_add(&w, NOW + IPOP__AUTH_SKEW_MS + 10, NOW + IPOP__AUTH_SKEW_MS + 10, n2);
    g_assert_cmpuint(w.n, ==, IPOP__REPLAY_SLOTS - 9 + 1);
    g_assert_cmpuint(w.floor_ms, ==, NOW + 9);
    g_assert_cmpuint(w.newest_ms, ==, NOW + IPOP__AUTH_SKEW_MS + 10);
}

/* Against a model that remembers everything: no message accepted once is
 * ever accepted again, however times and nonces come. */
static void test_replay_model(void)
{
    ipop__replay w = { 0 };
    GHashTable *accepted = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    GPtrArray *sent = g_ptr_array_new_with_free_func(g_free);
    uint64_t now = NOW;
    unsigned refused_fresh = 0;

    for (int i = 0; i < 20000; i++) {
        uint64_t ts;
        uint8_t nonce[16];
        char *key;
        int r;
        now += (uint64_t)g_test_rand_int_range(0, 3000);
        if (sent->len && g_test_rand_int_range(0, 3) == 0) {
            /* a replay of something sent before */
            key = g_strdup(sent->pdata[g_test_rand_int_range(0, (gint32)sent->len)]);
            sscanf(key, "%" G_GUINT64_FORMAT, &ts);
            nonce_of(nonce, (unsigned)g_ascii_strtoull(strchr(key, ':') + 1, NULL, 10));
        } else {
            unsigned nv = (unsigned)g_test_rand_int();
            ts = now - (uint64_t)g_test_rand_int_range(0, 20000); /* reordered by up to 20 s */
            nonce_of(nonce, nv);
            key = g_strdup_printf("%" G_GUINT64_FORMAT ":%u", ts, nv);
            g_ptr_array_add(sent, g_strdup(key));
        }
        r = ipop__replay_check(&w, ts, nonce);
        if (g_hash_table_contains(accepted, key)) {
            g_assert_cmpint(r, <, 0);
        } else if (r == 0) {
            ipop__replay_add(&w, now, ts, nonce);
            g_hash_table_add(accepted, g_strdup(key));
        } else {
            refused_fresh++;
        }
        g_assert_cmpuint(w.n, <=, IPOP__REPLAY_SLOTS);
        g_free(key);
    }
    /* Fresh messages are refused only when reordered behind 64 newer ones. */
    g_test_message("fresh messages refused: %u of ~13300", refused_fresh);
    g_assert_cmpuint(refused_fresh, <, 13300 / 2);
    g_hash_table_unref(accepted);
    g_ptr_array_unref(sent);
}

/* ---- the key operations ---- */

static void test_sign_verify(void)
{
    ipop__identity *a = NULL, *b = NULL;
    uint8_t pk[IPOP__AUTH_PK_MAX], pkb[IPOP__AUTH_PK_MAX], sig[64], data[300];
    size_t pk_len = sizeof(pk), pkb_len = sizeof(pkb), small = 10;
    const char *ida;
    gint64 t0, t_sign = 0, t_verify = 0;
    int rounds = 2000;

    g_assert_cmpint(ipop__identity_load(&a, NULL), ==, 0);
    g_assert_cmpint(ipop__identity_load(&b, NULL), ==, 0);
    ida = ipop__identity_node_id(a);
    g_assert_cmpint(ipop__identity_public_key(a, pk, &pk_len), ==, 0);
    g_assert_cmpuint(pk_len, ==, 91); /* P-256 SubjectPublicKeyInfo */
    g_assert_cmpint(ipop__identity_public_key(b, pkb, &pkb_len), ==, 0);
    g_assert_cmpint(ipop__identity_public_key(a, pk, &small), ==, -EMSGSIZE);
    /* Many rounds, so that r and s with leading zero bytes (1 in 256 each)
     * are among them. */
    for (int i = 0; i < rounds; i++) {
        for (size_t j = 0; j < sizeof(data); j++)
            data[j] = (uint8_t)g_test_rand_int_range(0, 256);
        t0 = g_get_monotonic_time();
        g_assert_cmpint(ipop__identity_sign(a, data, sizeof(data), sig), ==, 0);
        t_sign += g_get_monotonic_time() - t0;
        t0 = g_get_monotonic_time();
        g_assert_cmpint(ipop__identity_verify(ida, pk, pk_len, data, sizeof(data), sig), ==, 0);
        t_verify += g_get_monotonic_time() - t0;
    }
    /* printed, not asserted: the cost per message */
    printf("# ECDSA P-256: sign %.1f us, verify %.1f us per message (%d rounds)\n", (double)t_sign / rounds,
           (double)t_verify / rounds, rounds);
    /* anything changed: refused */
    g_assert_cmpint(ipop__identity_verify(ida, pk, pk_len, data, sizeof(data) - 1, sig), ==, -EBADMSG);
    data[0] ^= 1;
    g_assert_cmpint(ipop__identity_verify(ida, pk, pk_len, data, sizeof(data), sig), ==, -EBADMSG);
    data[0] ^= 1;
    sig[63] ^= 1;
    g_assert_cmpint(ipop__identity_verify(ida, pk, pk_len, data, sizeof(data), sig), ==, -EBADMSG);
    sig[63] ^= 1;
    memset(sig, 0, 32); /* r = 0 */
    g_assert_cmpint(ipop__identity_verify(ida, pk, pk_len, data, sizeof(data), sig), ==, -EBADMSG);
    /* another node's key, or this node's key for another node id */
    g_assert_cmpint(ipop__identity_sign(b, data, sizeof(data), sig), ==, 0);
    g_assert_cmpint(ipop__identity_verify(ida, pkb, pkb_len, data, sizeof(data), sig), ==, -EBADMSG);
    g_assert_cmpint(ipop__identity_verify(ipop__identity_node_id(b), pkb, pkb_len, data, sizeof(data), sig), ==, 0);
    g_assert_cmpint(ipop__identity_verify(ida, pk, pk_len, data, sizeof(data), sig), ==, -EBADMSG);
    /* a key that does not parse, whose hash were the node id */
    pk[0] ^= 1;
    g_assert_cmpint(ipop__identity_verify(ida, pk, pk_len, data, sizeof(data), sig), ==, -EBADMSG);
    g_assert_cmpint(ipop__identity_verify(ida, pk, 0, data, sizeof(data), sig), ==, -EBADMSG);
    ipop__identity_free(a);
    ipop__identity_free(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/msgauth/b64url/vectors", test_b64url_vectors);
    g_test_add_func("/msgauth/b64url/strict", test_b64url_strict);
    g_test_add_func("/msgauth/b64url/random", test_b64url_random);
    g_test_add_func("/msgauth/envelope/round-trip", test_envelope_round_trip);
    g_test_add_func("/msgauth/envelope/hostile", test_envelope_hostile);
    g_test_add_func("/msgauth/envelope/garbage", test_garbage);
    g_test_add_func("/msgauth/sign-input/layout", test_sign_input_layout);
    g_test_add_func("/msgauth/sign-input/binds", test_sign_input_binds);
    g_test_add_func("/msgauth/check", test_auth_check);
    g_test_add_func("/msgauth/replay/basic", test_replay_basic);
    g_test_add_func("/msgauth/replay/model", test_replay_model);
    g_test_add_func("/msgauth/keys/sign-verify", test_sign_verify);
    return g_test_run();
}
