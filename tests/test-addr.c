/* SPDX-License-Identifier: MIT */
/* Virtual addresses and packet headers: parsing, formatting, and packets
 * that lie about their lengths. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"

/* ---- helpers: packets built field by field ---- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* An IPv4 header of ihl words and total length total, src and dst given as
 * text; the rest zero.  Returns the header length. */
static size_t make_ipv4(uint8_t *p, unsigned ihl, uint16_t total, const char *src, const char *dst)
{
    memset(p, 0, ihl * 4);
    p[0] = (uint8_t)(0x40 | ihl);
    put16(p + 2, total);
    p[8] = 64;
    p[9] = 17;
    g_assert_cmpint(inet_pton(AF_INET, src, p + 12), ==, 1);
    g_assert_cmpint(inet_pton(AF_INET, dst, p + 16), ==, 1);
    return ihl * 4;
}

static void make_ipv6(uint8_t *p, uint16_t payload, const char *src, const char *dst)
{
    memset(p, 0, 40);
    p[0] = 0x60;
    put16(p + 4, payload);
    p[6] = 17;
    p[7] = 64;
    g_assert_cmpint(inet_pton(AF_INET6, src, p + 8), ==, 1);
    g_assert_cmpint(inet_pton(AF_INET6, dst, p + 24), ==, 1);
}

static void make_eth(uint8_t *f, uint16_t type)
{
    static const uint8_t dst[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    static const uint8_t src[6] = { 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30 };
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    put16(f + 12, type);
}

/* An ARP request "who has 10.0.0.2? tell 10.0.0.1" after an Ethernet header. */
static size_t make_arp(uint8_t *f)
{
    uint8_t *a = f + IPOP__ETH_HLEN;
    make_eth(f, 0x0806);
    memset(a, 0, 28);
    put16(a, 1);          /* htype Ethernet */
    put16(a + 2, 0x0800); /* ptype IPv4 */
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, 1);      /* request */
    memcpy(a + 8, f + 6, 6);
    g_assert_cmpint(inet_pton(AF_INET, "10.0.0.1", a + 14), ==, 1);
    g_assert_cmpint(inet_pton(AF_INET, "10.0.0.2", a + 24), ==, 1);
    return IPOP__ETH_HLEN + 28;
}

static void assert_addr(const ipop__addr *a, const char *expect)
{
    char buf[64];
    g_assert_cmpint(ipop__addr_format(a, buf, sizeof(buf)), ==, (int)strlen(expect));
    g_assert_cmpstr(buf, ==, expect);
}

/* ---- addr_parse, addr_format ---- */

static void test_parse_valid(void)
{
    static const struct {
        const char *in;
        int family;
        unsigned prefix;
        const char *out;
    } cases[] = {
        { "10.1.2.3/24", AF_INET, 24, "10.1.2.3/24" },
        { "10.1.2.3", AF_INET, 32, "10.1.2.3/32" },
        { "0.0.0.0/0", AF_INET, 0, "0.0.0.0/0" },
        { "255.255.255.255/32", AF_INET, 32, "255.255.255.255/32" },
        { "192.168.0.1/024", AF_INET, 24, "192.168.0.1/24" },
        { "fd00::1/64", AF_INET6, 64, "fd00::1/64" },
        { "fd00::1", AF_INET6, 128, "fd00::1/128" },
        { "::/0", AF_INET6, 0, "::/0" },
        { "::1/128", AF_INET6, 128, "::1/128" },
        { "FD00:0:0:0:0:0:0:1/8", AF_INET6, 8, "fd00::1/8" },
        { "::ffff:10.0.0.1/96", AF_INET6, 96, "::ffff:10.0.0.1/96" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        ipop__addr a;
        g_test_message("%s", cases[i].in);
        g_assert_cmpint(ipop__addr_parse(cases[i].in, &a), ==, 0);
        g_assert_cmpint(a.family, ==, cases[i].family);
        g_assert_cmpuint(a.prefix, ==, cases[i].prefix);
        assert_addr(&a, cases[i].out);
    }
}

static void test_parse_bytes(void)
{
    ipop__addr a;
    static const uint8_t v6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd };

    g_assert_cmpint(ipop__addr_parse("10.1.2.3/8", &a), ==, 0);
    g_assert_cmpmem(a.bytes, 4, "\x0a\x01\x02\x03", 4);
    g_assert_cmpint(ipop__addr_parse("fd00::abcd/48", &a), ==, 0);
    g_assert_cmpmem(a.bytes, 16, v6, 16);
}

static void test_parse_invalid(void)
{
    static const char *const bad[] = {
        "", "/", "/24", "10.0.0.1/", "10.0.0.1/33", "10.0.0.1/-1", "10.0.0.1/+8",
        "10.0.0.1/ 8", "10.0.0.1/8 ", " 10.0.0.1", "10.0.0.1 ", "10.0.0.1/8x",
        "10.0.0.1/8/8", "10.0.0.1/0008", "10.0.0.1/1000", "10.0.0.1/4294967320",
        "1.2.3", "1.2.3.4.5", "256.0.0.1", "010.0.0.1", "10.0.0.1x", "0x0a.0.0.1",
        "::1/129", "::1/", "fd00:::1", "fd00::1::2", "fd00::g", "1:2:3:4:5:6:7:8:9",
        "[::1]", "localhost", "10.0.0.1\t", "::1/64/", "::1/1a",
        "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2555/128",
        "000000000000000000000000000000000000000000000000000000000000000000001.2.3.4",
    };
    ipop__addr a;

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        memset(&a, 0x5a, sizeof(a));
        g_test_message("'%s'", bad[i]);
        g_assert_cmpint(ipop__addr_parse(bad[i], &a), ==, -EINVAL);
        /* nothing written on failure */
        for (size_t j = 0; j < sizeof(a); j++)
            g_assert_cmpuint(((uint8_t *)&a)[j], ==, 0x5a);
    }
    g_assert_cmpint(ipop__addr_parse(NULL, &a), ==, -EINVAL);
    g_assert_cmpint(ipop__addr_parse("10.0.0.1", NULL), ==, -EINVAL);
}

static void test_format(void)
{
    ipop__addr a;
    char buf[64];

    g_assert_cmpint(ipop__addr_parse("10.100.200.250/16", &a), ==, 0);
    /* "10.100.200.250/16" is 17 chars: needs 18 bytes with the NUL */
    g_assert_cmpint(ipop__addr_format(&a, buf, 18), ==, 17);
    g_assert_cmpstr(buf, ==, "10.100.200.250/16");
    for (size_t size = 0; size < 18; size++)
        g_assert_cmpint(ipop__addr_format(&a, buf, size), ==, -ENOSPC);

    memset(&a, 0, sizeof(a));
    g_assert_cmpint(ipop__addr_format(&a, buf, sizeof(buf)), ==, -EINVAL); /* family unset */
    a.family = AF_INET;
    a.prefix = 33;
    g_assert_cmpint(ipop__addr_format(&a, buf, sizeof(buf)), ==, -EINVAL);
    a.family = AF_INET6;
    a.prefix = 129;
    g_assert_cmpint(ipop__addr_format(&a, buf, sizeof(buf)), ==, -EINVAL);
}

static void test_equal_host(void)
{
    ipop__addr a, b, c, d;

    g_assert_cmpint(ipop__addr_parse("10.0.0.1/24", &a), ==, 0);
    g_assert_cmpint(ipop__addr_parse("10.0.0.1/32", &b), ==, 0);
    g_assert_cmpint(ipop__addr_parse("10.0.0.2/24", &c), ==, 0);
    g_assert_cmpint(ipop__addr_parse("::ffff:10.0.0.1", &d), ==, 0);
    g_assert_true(ipop__addr_equal_host(&a, &b));
    g_assert_false(ipop__addr_equal_host(&a, &c));
    g_assert_false(ipop__addr_equal_host(&a, &d)); /* another family */
    g_assert_false(ipop__addr_equal_host(&a, NULL));
    memset(&c, 0, sizeof(c));
    memset(&d, 0, sizeof(d));
    g_assert_false(ipop__addr_equal_host(&c, &d)); /* unset is not an address */
}

/* ---- IP packets ---- */

static void test_ipv4(void)
{
    uint8_t p[64];
    ipop__addr src, dst;
    size_t len = make_ipv4(p, 5, 28, "10.0.0.1", "10.0.0.2");

    memset(p + len, 0xee, 8);
    g_assert_cmpint(ipop__ip_src_dst(p, 28, &src, &dst), ==, 0);
    assert_addr(&src, "10.0.0.1/32");
    assert_addr(&dst, "10.0.0.2/32");
    /* padding after the total length is fine */
    g_assert_cmpint(ipop__ip_src_dst(p, 60, &src, &dst), ==, 0);
    /* truncated at every length */
    for (size_t n = 0; n < 28; n++)
        g_assert_cmpint(ipop__ip_src_dst(p, n, &src, &dst), ==, -EINVAL);
}

static void test_ipv4_options(void)
{
    uint8_t p[64];
    ipop__addr src, dst;

    make_ipv4(p, 15, 60, "192.168.1.1", "192.168.1.2");
    g_assert_cmpint(ipop__ip_src_dst(p, 60, &src, &dst), ==, 0);
    assert_addr(&src, "192.168.1.1/32");
    g_assert_cmpint(ipop__ip_src_dst(p, 59, &src, &dst), ==, -EINVAL);
}

static void test_ipv4_bad(void)
{
    uint8_t p[64] = { 0 };
    ipop__addr src, dst;

    make_ipv4(p, 4, 40, "10.0.0.1", "10.0.0.2"); /* IHL below 5 */
    g_assert_cmpint(ipop__ip_src_dst(p, 40, &src, &dst), ==, -EINVAL);
    make_ipv4(p, 5, 40, "10.0.0.1", "10.0.0.2");
    p[0] = 0x5f; /* IHL 15 words = 60 > len */
    g_assert_cmpint(ipop__ip_src_dst(p, 40, &src, &dst), ==, -EINVAL);
    make_ipv4(p, 6, 20, "10.0.0.1", "10.0.0.2"); /* total below header */
    g_assert_cmpint(ipop__ip_src_dst(p, 40, &src, &dst), ==, -EINVAL);
    make_ipv4(p, 5, 41, "10.0.0.1", "10.0.0.2"); /* total beyond len */
    g_assert_cmpint(ipop__ip_src_dst(p, 40, &src, &dst), ==, -EINVAL);
    make_ipv4(p, 5, 40, "10.0.0.1", "10.0.0.2");
    for (unsigned v = 0; v < 16; v++) {
        if (v == 4 || v == 6)
            continue; /* 6 would read the same bytes as an IPv6 header */
        p[0] = (uint8_t)(v << 4 | 5);
        g_assert_cmpint(ipop__ip_src_dst(p, 40, &src, &dst), ==, -EINVAL);
    }
    g_assert_cmpint(ipop__ip_src_dst(NULL, 40, &src, &dst), ==, -EINVAL);
}

static void test_ipv6(void)
{
    uint8_t p[80];
    ipop__addr src, dst;

    make_ipv6(p, 8, "fd00::1", "fd00::abcd");
    g_assert_cmpint(ipop__ip_src_dst(p, 48, &src, &dst), ==, 0);
    assert_addr(&src, "fd00::1/128");
    assert_addr(&dst, "fd00::abcd/128");
    g_assert_cmpint(ipop__ip_src_dst(p, 80, &src, NULL), ==, 0); /* padding, one output */
    for (size_t n = 0; n < 48; n++)
        g_assert_cmpint(ipop__ip_src_dst(p, n, &src, &dst), ==, -EINVAL);
    make_ipv6(p, 0xffff, "fd00::1", "fd00::2"); /* payload length lies */
    g_assert_cmpint(ipop__ip_src_dst(p, 80, &src, &dst), ==, -EINVAL);
}

/* ---- Ethernet ---- */

static void test_eth_parse(void)
{
    uint8_t f[64];
    const uint8_t *dmac, *smac;
    uint16_t type;

    make_eth(f, 0x86dd);
    g_assert_cmpint(ipop__eth_parse(f, 14, &dmac, &smac, &type), ==, 0);
    g_assert_true(dmac == f);
    g_assert_true(smac == f + 6);
    g_assert_cmphex(type, ==, 0x86dd);
    for (size_t n = 0; n < 14; n++)
        g_assert_cmpint(ipop__eth_parse(f, n, &dmac, &smac, &type), ==, -EINVAL);
}

static void test_eth_sender_ip(void)
{
    uint8_t f[128];
    ipop__addr a;
    size_t len;

    make_eth(f, 0x0800);
    len = 14 + make_ipv4(f + 14, 5, 20, "10.9.8.7", "10.0.0.1");
    memset(f + len, 0, sizeof(f) - len);
    g_assert_cmpint(ipop__eth_ip_sender(f, 60, &a), ==, 1); /* padded to 60 */
    assert_addr(&a, "10.9.8.7/32");
    for (size_t n = 0; n < len; n++)
        g_assert_cmpint(ipop__eth_ip_sender(f, n, &a), ==, -EINVAL);

    make_eth(f, 0x86dd);
    make_ipv6(f + 14, 0, "fd00::7", "fd00::1");
    g_assert_cmpint(ipop__eth_ip_sender(f, 54, &a), ==, 1);
    assert_addr(&a, "fd00::7/128");
    for (size_t n = 0; n < 54; n++)
        g_assert_cmpint(ipop__eth_ip_sender(f, n, &a), ==, -EINVAL);

    /* the ethertype and the version nibble must agree */
    make_eth(f, 0x0800);
    make_ipv6(f + 14, 0, "fd00::7", "fd00::1");
    g_assert_cmpint(ipop__eth_ip_sender(f, 54, &a), ==, -EINVAL);
    make_eth(f, 0x86dd);
    make_ipv4(f + 14, 5, 40, "10.0.0.1", "10.0.0.2");
    g_assert_cmpint(ipop__eth_ip_sender(f, 54, &a), ==, -EINVAL);
}

static void test_eth_sender_arp(void)
{
    uint8_t f[64];
    ipop__addr a;
    size_t len = make_arp(f);

    g_assert_cmpint(ipop__eth_ip_sender(f, len, &a), ==, 1);
    assert_addr(&a, "10.0.0.1/32"); /* the sender, not the target */
    for (size_t n = 0; n < len; n++)
        g_assert_cmpint(ipop__eth_ip_sender(f, n, &a), ==, -EINVAL);

    /* not Ethernet/IPv4 ARP: refused, not waved through */
    static const size_t fields[] = { 14 + 1, 14 + 3, 14 + 4, 14 + 5 };
    for (size_t i = 0; i < G_N_ELEMENTS(fields); i++) {
        make_arp(f);
        f[fields[i]] ^= 0x10;
        g_assert_cmpint(ipop__eth_ip_sender(f, len, &a), ==, -EINVAL);
    }
}

static void test_eth_sender_other(void)
{
    uint8_t f[64] = { 0 };
    ipop__addr a;
    static const uint16_t types[] = { 0x88cc, 0x8100, 0x86dc, 0x0801, 0x0000, 0xffff };

    for (size_t i = 0; i < G_N_ELEMENTS(types); i++) {
        make_eth(f, types[i]);
        g_assert_cmpint(ipop__eth_ip_sender(f, 60, &a), ==, 0);
        g_assert_cmpint(ipop__eth_ip_sender(f, 14, &a), ==, 0);
    }
}

static void test_in_subnet(void)
{
    ipop__addr net, a;

    g_assert_cmpint(ipop__addr_parse("10.1.0.0/16", &net), ==, 0);
    g_assert_cmpint(ipop__addr_parse("10.1.200.3", &a), ==, 0);
    g_assert_true(ipop__addr_in_subnet(&net, &a));
    g_assert_cmpint(ipop__addr_parse("10.2.0.3", &a), ==, 0);
    g_assert_false(ipop__addr_in_subnet(&net, &a));
    /* a prefix that ends inside a byte */
    g_assert_cmpint(ipop__addr_parse("10.1.64.0/18", &net), ==, 0);
    g_assert_cmpint(ipop__addr_parse("10.1.127.255", &a), ==, 0);
    g_assert_true(ipop__addr_in_subnet(&net, &a));
    g_assert_cmpint(ipop__addr_parse("10.1.128.0", &a), ==, 0);
    g_assert_false(ipop__addr_in_subnet(&net, &a));
    /* IPv6, other families, an unset subnet */
    g_assert_cmpint(ipop__addr_parse("fd00:1::/33", &net), ==, 0);
    g_assert_cmpint(ipop__addr_parse("fd00:1:7fff::9", &a), ==, 0);
    g_assert_true(ipop__addr_in_subnet(&net, &a));
    g_assert_cmpint(ipop__addr_parse("fd00:1:8000::9", &a), ==, 0);
    g_assert_false(ipop__addr_in_subnet(&net, &a));
    g_assert_cmpint(ipop__addr_parse("10.1.0.1", &a), ==, 0);
    g_assert_false(ipop__addr_in_subnet(&net, &a));
    memset(&net, 0, sizeof(net));
    g_assert_false(ipop__addr_in_subnet(&net, &a));
    /* /0 holds everything of its family */
    g_assert_cmpint(ipop__addr_parse("0.0.0.0/0", &net), ==, 0);
    g_assert_true(ipop__addr_in_subnet(&net, &a));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/addr/parse/valid", test_parse_valid);
    g_test_add_func("/addr/parse/bytes", test_parse_bytes);
    g_test_add_func("/addr/parse/invalid", test_parse_invalid);
    g_test_add_func("/addr/format", test_format);
    g_test_add_func("/addr/equal-host", test_equal_host);
    g_test_add_func("/addr/in-subnet", test_in_subnet);
    g_test_add_func("/addr/ip/v4", test_ipv4);
    g_test_add_func("/addr/ip/v4-options", test_ipv4_options);
    g_test_add_func("/addr/ip/v4-bad", test_ipv4_bad);
    g_test_add_func("/addr/ip/v6", test_ipv6);
    g_test_add_func("/addr/eth/parse", test_eth_parse);
    g_test_add_func("/addr/eth/sender-ip", test_eth_sender_ip);
    g_test_add_func("/addr/eth/sender-arp", test_eth_sender_arp);
    g_test_add_func("/addr/eth/sender-other", test_eth_sender_other);
    return g_test_run();
}
