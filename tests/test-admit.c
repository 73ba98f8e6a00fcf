/* SPDX-License-Identifier: MIT */
/* admit.c without a network: the relay both ends pick, and the TAP check
 * on what issue 18 will want to carry (DHCP, ARP probes, link-local and
 * duplicate address detection) next to what it must not. */
#include <arpa/inet.h>
#include <glib.h>
#include <string.h>

#include "admit.h"
#include "bytes.h"

static const uint8_t mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x11, 0x02 };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void test_pick(void)
{
    uint8_t a[8] = { 1 }, b[8] = { 2 }, cands[5 * 8], rev[5 * 8];
    int p, q, counts[5] = { 0 };

    for (int i = 0; i < 5 * 8; i++)
        cands[i] = (uint8_t)(i * 37 + 11);
    g_assert_cmpint(ipop__relay_pick(a, b, cands, 0), ==, -1);
    for (int i = 0; i < 5; i++)
        memcpy(rev + (4 - i) * 8, cands + i * 8, 8);
    p = ipop__relay_pick(a, b, cands, 5);
    q = ipop__relay_pick(b, a, rev, 5);
    g_assert_cmpint(p, >=, 0);
    g_assert_cmpmem(cands + p * 8, 8, rev + q * 8, 8);
    /* pairs spread over the candidates (no one relays for everybody) */
    for (int i = 0; i < 200; i++) {
        a[7] = (uint8_t)i;
        counts[ipop__relay_pick(a, b, cands, 5)]++;
    }
    for (int i = 0; i < 5; i++)
        g_assert_cmpint(counts[i], >, 10);
    g_assert_cmpint(ipop__relayed_admit(cands, cands, NULL), ==, IPOP__RELAYED_DELIVER);
    g_assert_cmpint(ipop__relayed_admit(cands, NULL, cands), ==, IPOP__RELAYED_DELIVER);
    g_assert_cmpint(ipop__relayed_admit(a, cands, cands + 8), ==, IPOP__RELAYED_NOT_RELAY);
    g_assert_cmpint(ipop__relayed_admit(a, NULL, NULL), ==, IPOP__RELAYED_NOT_RELAY);
}

static ipop__tap_peer peer(void)
{
    ipop__tap_peer p = { 0 };

    p.a4.family = AF_INET;
    inet_pton(AF_INET, "10.11.0.2", p.a4.bytes);
    p.a6.family = AF_INET6;
    inet_pton(AF_INET6, "fd11::2", p.a6.bytes);
    return p;
}

/* An Ethernet frame with an IPv4/UDP packet from src, ports sport to dport. */
static size_t udp4(uint8_t *f, const char *src, uint16_t sport, uint16_t dport)
{
    memcpy(f, bcast, 6);
    memcpy(f + 6, mac, 6);
    ipop__put16(f + 12, 0x0800);
    memset(f + 14, 0, 28);
    f[14] = 0x45;
    ipop__put16(f + 16, 28);
    f[23] = 17;
    inet_pton(AF_INET, src, f + 26);
    inet_pton(AF_INET, "255.255.255.255", f + 30);
    ipop__put16(f + 34, sport);
    ipop__put16(f + 36, dport);
    ipop__put16(f + 38, 8);
    return 42;
}

/* IPv6 from src with an ICMPv6 message of type t about target (24 bytes). */
static size_t icmp6(uint8_t *f, const uint8_t *src, uint8_t t, const uint8_t *target)
{
    memcpy(f, bcast, 6);
    memcpy(f + 6, mac, 6);
    ipop__put16(f + 12, 0x86dd);
    memset(f + 14, 0, 40 + 24);
    f[14] = 0x60;
    ipop__put16(f + 18, 24);
    f[20] = 58;
    f[21] = 255;
    memcpy(f + 22, src, 16);
    inet_pton(AF_INET6, "ff02::1", f + 38);
    f[54] = t;
    memcpy(f + 62, target, 16);
    return 14 + 40 + 24;
}

static void test_tap(void)
{
    ipop__tap_peer p = peer();
    uint8_t f[200], ll[16], any[16] = { 0 }, mine[16], other[16];
    size_t n;

    inet_pton(AF_INET6, "fd11::2", mine);
    inet_pton(AF_INET6, "fd11::3", other);
    ipop__ll6_from_mac(mac, ll);
    g_assert_cmphex(ll[0], ==, 0xfe);
    g_assert_cmphex(ll[8], ==, 0x00); /* 0x02 with the universal/local bit flipped */
    g_assert_cmphex(ll[11], ==, 0xff);
    g_assert_cmphex(ll[12], ==, 0xfe);

    g_assert_cmpint(ipop__tap_check(f, udp4(f, "10.11.0.2", 5, 6), &p), ==, IPOP__TAP_OK);
    g_assert_cmpint(ipop__tap_check(f, udp4(f, "10.11.0.3", 5, 6), &p), ==, IPOP__TAP_SPOOF);
    /* a DHCP client has no address yet; nothing else from 0.0.0.0 */
    g_assert_cmpint(ipop__tap_check(f, udp4(f, "0.0.0.0", 68, 67), &p), ==, IPOP__TAP_OK);
    g_assert_cmpint(ipop__tap_check(f, udp4(f, "0.0.0.0", 68, 53), &p), ==, IPOP__TAP_SPOOF);
    /* cut short */
    n = udp4(f, "10.11.0.2", 5, 6);
    g_assert_cmpint(ipop__tap_check(f, n - 1, &p), ==, IPOP__TAP_MALFORMED);
    g_assert_cmpint(ipop__tap_check(f, 13, &p), ==, IPOP__TAP_MALFORMED);
    /* multicast source MAC */
    f[6] = 0x01;
    g_assert_cmpint(ipop__tap_check(f, n, &p), ==, IPOP__TAP_MAC);

    /* IPv6: link-local from the frame's MAC, duplicate address detection
     * from :: for the peer's own addresses only, MLDv2 reports from :: */
    g_assert_cmpint(ipop__tap_check(f, icmp6(f, ll, 128, ll), &p), ==, IPOP__TAP_OK);
    g_assert_cmpint(ipop__tap_check(f, icmp6(f, any, 135, ll), &p), ==, IPOP__TAP_OK);
    g_assert_cmpint(ipop__tap_check(f, icmp6(f, any, 135, mine), &p), ==, IPOP__TAP_OK);
    g_assert_cmpint(ipop__tap_check(f, icmp6(f, any, 135, other), &p), ==, IPOP__TAP_SPOOF);
    g_assert_cmpint(ipop__tap_check(f, icmp6(f, any, 143, other), &p), ==, IPOP__TAP_OK);
    g_assert_cmpint(ipop__tap_check(f, icmp6(f, any, 128, other), &p), ==, IPOP__TAP_SPOOF);
    g_assert_cmpint(ipop__tap_check(f, icmp6(f, other, 128, other), &p), ==, IPOP__TAP_SPOOF);
    /* neighbour advertisements: for its own addresses only */
    g_assert_cmpint(ipop__tap_check(f, icmp6(f, mine, 136, mine), &p), ==, IPOP__TAP_OK);
    g_assert_cmpint(ipop__tap_check(f, icmp6(f, mine, 136, other), &p), ==, IPOP__TAP_SPOOF);
    g_assert_cmpint(ipop__tap_check(f, icmp6(f, any, 136, mine), &p), ==, IPOP__TAP_SPOOF);

    /* tags: refused, unless allowed, and then checked inside; three are too many */
    n = udp4(f, "10.11.0.2", 5, 6);
    memmove(f + 16, f + 12, n - 12);
    ipop__put16(f + 12, 0x8100);
    ipop__put16(f + 14, 3);
    g_assert_cmpint(ipop__tap_check(f, n + 4, &p), ==, IPOP__TAP_TYPE);
    p.tagged = true;
    g_assert_cmpint(ipop__tap_check(f, n + 4, &p), ==, IPOP__TAP_OK);
    memmove(f + 16, f + 12, n - 8);
    ipop__put16(f + 12, 0x88a8);
    g_assert_cmpint(ipop__tap_check(f, n + 8, &p), ==, IPOP__TAP_OK);
    memmove(f + 16, f + 12, n - 4);
    ipop__put16(f + 12, 0x9100);
    g_assert_cmpint(ipop__tap_check(f, n + 12, &p), ==, IPOP__TAP_TYPE);
    /* LLC (a length, not a type) */
    ipop__put16(f + 12, 60);
    g_assert_cmpint(ipop__tap_check(f, n, &p), ==, IPOP__TAP_TYPE);
    g_assert_cmpstr(ipop__tap_verdict_str(IPOP__TAP_TYPE), ==, "ethertype not carried");
}

/* Link-local addresses not derived from the MAC (stable-privacy, random):
 * refused by ipop__tap_check, listed as claims by ipop__tap_check_ll for
 * the table of the link; an address of EUI-64 form stays the MAC's. */
static void test_tap_ll(void)
{
    ipop__tap_peer p = peer();
    ipop__tap_ll c;
    uint8_t f[200], ll[16], rnd[16], rnd2[16], eui[16], any[16] = { 0 }, other[16];
    static const uint8_t mac2[6] = { 0x02, 0x00, 0x00, 0x00, 0x11, 0x03 };

    ipop__ll6_from_mac(mac, ll);
    ipop__ll6_from_mac(mac2, eui); /* another link's MAC */
    inet_pton(AF_INET6, "fe80::1c3a:9b2f:77d4:e501", rnd);
    inet_pton(AF_INET6, "fe80::5:6", rnd2);
    inet_pton(AF_INET6, "fd11::3", other);

    /* before: only the EUI-64 address; the old check stays so */
    g_assert_cmpint(ipop__tap_check(f, icmp6(f, rnd, 128, rnd), &p), ==, IPOP__TAP_SPOOF);
    /* a source: one claim */
    g_assert_cmpint(ipop__tap_check_ll(f, icmp6(f, rnd, 128, rnd), &p, &c), ==, IPOP__TAP_OK);
    g_assert_cmpuint(c.n, ==, 1);
    g_assert_cmpmem(c.addr[0], 16, rnd, 16);
    /* the MAC's own: no claim */
    g_assert_cmpint(ipop__tap_check_ll(f, icmp6(f, ll, 128, ll), &p, &c), ==, IPOP__TAP_OK);
    g_assert_cmpuint(c.n, ==, 0);
    /* an advertisement: source and target, the same one counted once */
    g_assert_cmpint(ipop__tap_check_ll(f, icmp6(f, rnd, 136, rnd), &p, &c), ==, IPOP__TAP_OK);
    g_assert_cmpuint(c.n, ==, 1);
    g_assert_cmpint(ipop__tap_check_ll(f, icmp6(f, rnd, 136, rnd2), &p, &c), ==, IPOP__TAP_OK);
    g_assert_cmpuint(c.n, ==, 2);
    g_assert_cmpmem(c.addr[1], 16, rnd2, 16);
    /* duplicate address detection of a random address: a claim */
    g_assert_cmpint(ipop__tap_check_ll(f, icmp6(f, any, 135, rnd2), &p, &c), ==, IPOP__TAP_OK);
    g_assert_cmpuint(c.n, ==, 1);
    /* the EUI-64 address of another MAC: as source, target or DAD target */
    g_assert_cmpint(ipop__tap_check_ll(f, icmp6(f, eui, 128, eui), &p, &c), ==, IPOP__TAP_SPOOF);
    g_assert_cmpint(ipop__tap_check_ll(f, icmp6(f, rnd, 136, eui), &p, &c), ==, IPOP__TAP_SPOOF);
    g_assert_cmpint(ipop__tap_check_ll(f, icmp6(f, any, 135, eui), &p, &c), ==, IPOP__TAP_SPOOF);
    /* not link-local: as before */
    g_assert_cmpint(ipop__tap_check_ll(f, icmp6(f, other, 128, other), &p, &c), ==, IPOP__TAP_SPOOF);
    g_assert_cmpint(ipop__tap_check_ll(f, icmp6(f, rnd, 136, other), &p, &c), ==, IPOP__TAP_SPOOF);
    /* a frame refused says nothing; a NULL frame neither */
    g_assert_cmpint(ipop__tap_check_ll(NULL, 0, &p, &c), ==, IPOP__TAP_MALFORMED);
    g_assert_cmpuint(c.n, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/admit/relay-pick", test_pick);
    g_test_add_func("/admit/tap", test_tap);
    g_test_add_func("/admit/tap-ll", test_tap_ll);
    return g_test_run();
}
