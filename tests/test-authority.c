/* SPDX-License-Identifier: MIT */
/* The group authority, pure parts (lib/authority.c): keys and their text
 * forms, certificates and revocation lists signed, decoded and verified,
 * and the checks a member makes (node id, expiry with skew, revocation,
 * addresses). */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "authority.h"

#define NODE_A "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst"
#define NODE_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define NOW 1767225600 /* 2026-01-01 */

static ipop__cert sample_cert(void)
{
    ipop__cert c = { .serial = 7, .node_id = NODE_A, .name = "alice", .issued = NOW, .expires = NOW + 86400 };

    g_assert_cmpint(ipop__addr_parse("10.9.0.2/24", &c.addrs[0]), ==, 0);
    g_assert_cmpint(ipop__addr_parse("fd00::2/64", &c.addrs[1]), ==, 0);
    c.n_addrs = 2;
    g_assert_cmpint(ipop__addr_parse("192.168.5.0/24", &c.routes[0]), ==, 0);
    c.n_routes = 1;
    return c;
}

static void test_keys(void)
{
    ipop__authority_secret s, back;
    ipop__authority_key k;
    char text[200], pub[IPOP__AUTHORITY_PUB_TEXT_LEN + 1];
    int n;

    g_assert_cmpint(ipop__authority_generate(&s), ==, 0);
    g_assert_cmpint(ipop__authority_key_format(&s.pub, pub, sizeof(pub)), ==, IPOP__AUTHORITY_PUB_TEXT_LEN);
    g_assert_true(g_str_has_prefix(pub, "ed25519:"));
    g_assert_cmpint(ipop__authority_key_parse(pub, &k), ==, 0);
    g_assert_cmpmem(k.pub, 32, s.pub.pub, 32);
    g_assert_cmpstr(k.id, ==, s.pub.id);
    g_assert_cmpint(strlen(k.id), ==, IPOP__AUTHORITY_ID_LEN);

    n = ipop__authority_secret_format(&s, text, sizeof(text));
    g_assert_cmpint(n, >, 0);
    g_assert_cmpint(ipop__authority_secret_parse(text, (size_t)n, &back), ==, 0);
    g_assert_cmpmem(back.seed, 32, s.seed, 32);
    /* A seed that is not the public key's is refused at once. */
    text[25] = text[25] == 'A' ? 'B' : 'A';
    g_assert_cmpint(ipop__authority_secret_parse(text, (size_t)n, &back), ==, -EINVAL);
    g_assert_cmpint(ipop__authority_secret_format(&s, text, 20), ==, -EMSGSIZE);

    g_assert_cmpint(ipop__authority_key_parse("ed25519:", &k), ==, -EINVAL);
    g_assert_cmpint(ipop__authority_key_parse("rsa:AAAA", &k), ==, -EINVAL);
    pub[10] = '+'; /* base64, not base64url */
    g_assert_cmpint(ipop__authority_key_parse(pub, &k), ==, -EINVAL);
    ipop__authority_secret_clear(&s);
}

static void test_cert_roundtrip(void)
{
    ipop__authority_secret s;
    ipop__cert c = sample_cert(), d;
    char line[IPOP__CERT_MAX + 1];
    int n;

    g_assert_cmpint(ipop__authority_generate(&s), ==, 0);
    n = ipop__cert_sign(&c, &s, line, sizeof(line));
    g_assert_cmpint(n, >, 0);
    g_assert_cmpint(strlen(line), ==, (size_t)n);
    g_assert_true(g_str_has_prefix(line, "ipop-cert1 serial=7 node=" NODE_A " name=alice "
                                         "addr=10.9.0.2/24,fd00::2/64 route=192.168.5.0/24 issued=1767225600 "
                                         "expires=1767312000 authority="));
    g_assert_cmpint(ipop__cert_verify(&d, line, (size_t)n, &s.pub), ==, 0);
    g_assert_cmpuint(d.serial, ==, 7);
    g_assert_cmpstr(d.node_id, ==, NODE_A);
    g_assert_cmpstr(d.name, ==, "alice");
    g_assert_cmpuint(d.n_addrs, ==, 2);
    g_assert_cmpuint(d.n_routes, ==, 1);
    g_assert_cmpint(d.expires, ==, NOW + 86400);
    g_assert_cmpstr(d.authority, ==, s.pub.id);
    /* A file usually ends with a newline. */
    {
        char *withlf = g_strconcat(line, "\n", NULL);
        g_assert_cmpint(ipop__cert_verify(&d, withlf, strlen(withlf), &s.pub), ==, 0);
        g_free(withlf);
    }
}

static void test_cert_forged(void)
{
    ipop__authority_secret s, other;
    ipop__cert c = sample_cert(), d;
    char line[IPOP__CERT_MAX + 1], *p;
    int n;

    g_assert_cmpint(ipop__authority_generate(&s), ==, 0);
    g_assert_cmpint(ipop__authority_generate(&other), ==, 0);
    n = ipop__cert_sign(&c, &s, line, sizeof(line));
    g_assert_cmpint(n, >, 0);
    /* Another authority's key: named as such. */
    g_assert_cmpint(ipop__cert_verify(&d, line, (size_t)n, &other.pub), ==, -EXDEV);
    /* Signed by another authority that names ours: the signature fails. */
    c = sample_cert();
    n = ipop__cert_sign(&c, &other, line, sizeof(line));
    p = strstr(line, "authority=");
    memcpy(p + 10, s.pub.id, IPOP__AUTHORITY_ID_LEN);
    g_assert_cmpint(ipop__cert_verify(&d, line, (size_t)n, &s.pub), ==, -EBADMSG);
    /* Any changed byte of a genuine line: refused. */
    c = sample_cert();
    n = ipop__cert_sign(&c, &s, line, sizeof(line));
    p = strstr(line, "10.9.0.2");
    p[5] = '3';
    g_assert_cmpint(ipop__cert_verify(&d, line, (size_t)n, &s.pub), ==, -EBADMSG);
    p[5] = '2';
    p = strstr(line, "expires=");
    p[8] = '2';
    g_assert_cmpint(ipop__cert_verify(&d, line, (size_t)n, &s.pub), ==, -EBADMSG);
}

static void test_cert_malformed(void)
{
    ipop__authority_secret s;
    ipop__cert c = sample_cert(), d;
    char line[IPOP__CERT_MAX + 1], buf[IPOP__CERT_MAX + 64];
    const char *sig;
    int n;
    static const char *const bad[] = {
        "", "ipop-cert1", "ipop-cert2 serial=1", "ipop-cert1  serial=7",
        "ipop-cert1 serial=07 node=" NODE_A,
        "ipop-cert1 serial=0 node=" NODE_A,
        "ipop-cert1 serial=18446744073709551616 node=" NODE_A,
        "ipop-cert1 node=" NODE_A " serial=7",
    };

    g_assert_cmpint(ipop__authority_generate(&s), ==, 0);
    n = ipop__cert_sign(&c, &s, line, sizeof(line));
    g_assert_cmpint(n, >, 0);
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        g_assert_cmpint(ipop__cert_decode(&d, bad[i], strlen(bad[i])), ==, -EINVAL);
    /* Trailing bytes after the signature, a short signature, a control byte. */
    g_snprintf(buf, sizeof(buf), "%s x", line);
    g_assert_cmpint(ipop__cert_decode(&d, buf, strlen(buf)), ==, -EINVAL);
    g_assert_cmpint(ipop__cert_decode(&d, line, (size_t)n - 1), ==, -EINVAL);
    memcpy(buf, line, (size_t)n + 1);
    buf[12] = '\t';
    g_assert_cmpint(ipop__cert_decode(&d, buf, (size_t)n), ==, -EINVAL);
    /* Non-canonical addresses (no prefix, IPv6 not in its shortest form). */
    sig = strstr(line, " sig=");
    g_assert_nonnull(sig);
    memcpy(buf, line, (size_t)n + 1);
    memcpy(strstr(buf, "/24,"), "/ 24", 4);
    g_assert_cmpint(ipop__cert_decode(&d, buf, (size_t)n), ==, -EINVAL);
    /* Too long. */
    memset(buf, 'a', sizeof(buf));
    g_assert_cmpint(ipop__cert_decode(&d, buf, IPOP__CERT_MAX + 1), ==, -EMSGSIZE);
    /* Out of bounds when signing: no name, too many addresses, expires before issued. */
    c = sample_cert();
    c.name[0] = '\0';
    g_assert_cmpint(ipop__cert_sign(&c, &s, line, sizeof(line)), ==, -EINVAL);
    c = sample_cert();
    g_strlcpy(c.name, "bad name", sizeof(c.name));
    g_assert_cmpint(ipop__cert_sign(&c, &s, line, sizeof(line)), ==, -EINVAL);
    c = sample_cert();
    c.n_addrs = IPOP__CERT_ADDRS_MAX + 1;
    g_assert_cmpint(ipop__cert_sign(&c, &s, line, sizeof(line)), ==, -EINVAL);
    c = sample_cert();
    c.expires = c.issued - 1;
    g_assert_cmpint(ipop__cert_sign(&c, &s, line, sizeof(line)), ==, -EINVAL);
    c = sample_cert();
    g_assert_cmpint(ipop__cert_sign(&c, &s, line, 100), ==, -EMSGSIZE);
    /* No addresses and no routes: "-". */
    c = sample_cert();
    c.n_addrs = c.n_routes = 0;
    n = ipop__cert_sign(&c, &s, line, sizeof(line));
    g_assert_nonnull(strstr(line, " addr=- route=- "));
    g_assert_cmpint(ipop__cert_verify(&d, line, (size_t)n, &s.pub), ==, 0);
    g_assert_cmpuint(d.n_addrs, ==, 0);
}

static void test_cert_check(void)
{
    ipop__cert c = sample_cert();
    ipop__addr a;

    g_assert_cmpint(ipop__cert_check(&c, NODE_A, NOW), ==, 0);
    g_assert_cmpint(ipop__cert_check(&c, NODE_B, NOW), ==, -EACCES);
    /* Expiry with the skew allowance on either side. */
    g_assert_cmpint(ipop__cert_check(&c, NODE_A, c.expires + IPOP__AUTHORITY_SKEW_S), ==, 0);
    g_assert_cmpint(ipop__cert_check(&c, NODE_A, c.expires + IPOP__AUTHORITY_SKEW_S + 1), ==, -ESTALE);
    g_assert_cmpint(ipop__cert_check(&c, NODE_A, c.issued - IPOP__AUTHORITY_SKEW_S), ==, 0);
    g_assert_cmpint(ipop__cert_check(&c, NODE_A, c.issued - IPOP__AUTHORITY_SKEW_S - 1), ==, -EAGAIN);
    /* Addresses: the host address counts, not the prefix. */
    ipop__addr_parse("10.9.0.2/32", &a);
    g_assert_true(ipop__cert_allows_addr(&c, &a));
    ipop__addr_parse("fd00::2/128", &a);
    g_assert_true(ipop__cert_allows_addr(&c, &a));
    ipop__addr_parse("10.9.0.3/24", &a);
    g_assert_false(ipop__cert_allows_addr(&c, &a));
    ipop__addr_parse("192.168.5.1/24", &a); /* a route is not an address */
    g_assert_false(ipop__cert_allows_addr(&c, &a));
}

static void test_crl(void)
{
    ipop__authority_secret s, other;
    ipop__crl l = { .serial = 3, .issued = NOW }, d;
    ipop__cert c = sample_cert(), c2 = sample_cert();
    char line[IPOP__CRL_MAX + 1];
    int n;

    g_assert_cmpint(ipop__authority_generate(&s), ==, 0);
    g_assert_cmpint(ipop__authority_generate(&other), ==, 0);
    /* Empty. */
    n = ipop__crl_sign(&l, &s, line, sizeof(line));
    g_assert_cmpint(n, >, 0);
    g_assert_nonnull(strstr(line, " revoke=- sig="));
    g_assert_cmpint(ipop__crl_verify(&d, line, (size_t)n, &s.pub), ==, 0);
    g_assert_false(ipop__crl_revokes(&d, &c));
    /* A serial and a node id. */
    l.serials[l.n_serials++] = 7;
    g_strlcpy(l.nodes[l.n_nodes++], NODE_B, sizeof(l.nodes[0]));
    n = ipop__crl_sign(&l, &s, line, sizeof(line));
    g_assert_nonnull(strstr(line, " revoke=7," NODE_B " sig="));
    g_assert_cmpint(ipop__crl_verify(&d, line, (size_t)n, &s.pub), ==, 0);
    g_assert_cmpuint(d.serial, ==, 3);
    g_assert_true(ipop__crl_revokes(&d, &c));
    c2.serial = 8;
    g_assert_false(ipop__crl_revokes(&d, &c2));
    g_strlcpy(c2.node_id, NODE_B, sizeof(c2.node_id));
    g_assert_true(ipop__crl_revokes(&d, &c2));
    g_assert_cmpint(ipop__crl_verify(&d, line, (size_t)n, &other.pub), ==, -EXDEV);
    line[strstr(line, "revoke=7") - line + 7] = '9';
    g_assert_cmpint(ipop__crl_verify(&d, line, (size_t)n, &s.pub), ==, -EBADMSG);
    /* Bounds: entries, and serial 0. */
    l.n_serials = IPOP__CRL_ENTRIES_MAX;
    for (unsigned i = 0; i < l.n_serials; i++)
        l.serials[i] = 1000000 + i;
    g_assert_cmpint(ipop__crl_sign(&l, &s, line, sizeof(line)), ==, -EINVAL); /* one node id too many */
    l.n_nodes = 0;
    n = ipop__crl_sign(&l, &s, line, sizeof(line));
    g_assert_cmpint(n, >, 0);
    g_assert_cmpint(ipop__crl_verify(&d, line, (size_t)n, &s.pub), ==, 0);
    g_assert_cmpuint(d.n_serials, ==, IPOP__CRL_ENTRIES_MAX);
    l.serials[0] = 0;
    g_assert_cmpint(ipop__crl_sign(&l, &s, line, sizeof(line)), ==, -EINVAL);
    g_assert_cmpint(ipop__crl_decode(&d, "ipop-crl1 serial=1 issued=1 authority=0123456789abcdef revoke=1,,2", 66),
                    ==, -EINVAL);
}

/* The largest certificate and revocation list fit the bounds that the
 * signalling messages carrying them are sized for. */
static void test_bounds(void)
{
    ipop__authority_secret s;
    ipop__cert c = sample_cert();
    ipop__crl l = { .serial = UINT64_MAX, .issued = NOW };
    char line[IPOP__CRL_MAX + 1];

    g_assert_cmpint(ipop__authority_generate(&s), ==, 0);
    c.serial = UINT64_MAX;
    memset(c.name, 'n', IPOP__CERT_NAME_MAX);
    c.name[IPOP__CERT_NAME_MAX] = '\0';
    for (unsigned i = 0; i < IPOP__CERT_ADDRS_MAX; i++)
        ipop__addr_parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128", &c.addrs[i]);
    c.n_addrs = IPOP__CERT_ADDRS_MAX;
    for (unsigned i = 0; i < IPOP__CERT_ROUTES_MAX; i++)
        ipop__addr_parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128", &c.routes[i]);
    c.n_routes = IPOP__CERT_ROUTES_MAX;
    g_assert_cmpint(ipop__cert_sign(&c, &s, line, sizeof(line)), >, 0);
    g_assert_cmpint(strlen(line), <=, IPOP__CERT_MAX);
    for (unsigned i = 0; i < IPOP__CRL_ENTRIES_MAX; i++)
        g_strlcpy(l.nodes[i], NODE_A, sizeof(l.nodes[0]));
    l.n_nodes = IPOP__CRL_ENTRIES_MAX;
    g_assert_cmpint(ipop__crl_sign(&l, &s, line, sizeof(line)), >, 0);
    g_assert_cmpint(strlen(line), <=, IPOP__CRL_MAX);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/authority/keys", test_keys);
    g_test_add_func("/authority/cert/roundtrip", test_cert_roundtrip);
    g_test_add_func("/authority/cert/forged", test_cert_forged);
    g_test_add_func("/authority/cert/malformed", test_cert_malformed);
    g_test_add_func("/authority/cert/check", test_cert_check);
    g_test_add_func("/authority/crl", test_crl);
    g_test_add_func("/authority/bounds", test_bounds);
    return g_test_run();
}
