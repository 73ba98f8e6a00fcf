/* SPDX-License-Identifier: MIT */
/* cast.c without a network: which destinations go to every member (an
 * IPv4 subnet's broadcast address for several prefixes, the limited
 * broadcast, IPv4 and IPv6 multicast and its scopes), which packets
 * (source and protocol), and the rate limit's token bucket. */
#include <arpa/inet.h>
#include <glib.h>
#include <string.h>

#include "cast.h"

static ipop__addr addr(const char *text)
{
    ipop__addr a;

    g_assert_cmpint(ipop__addr_parse(text, &a), ==, 0);
    return a;
}

static ipop__cast cast(const char *dst, const char *own4)
{
    ipop__addr d = addr(dst), o;

    if (!own4)
        return ipop__cast_of(&d, NULL);
    o = addr(own4);
    return ipop__cast_of(&d, &o);
}

static void test_ipv4(void)
{
    /* /24 */
    g_assert_cmpint(cast("10.1.2.255", "10.1.2.7/24"), ==, IPOP__CAST_SUBNET);
    g_assert_cmpint(cast("10.1.2.254", "10.1.2.7/24"), ==, IPOP__CAST_UNICAST);
    g_assert_cmpint(cast("10.1.3.255", "10.1.2.7/24"), ==, IPOP__CAST_UNICAST); /* another subnet's */
    g_assert_cmpint(cast("10.1.2.0", "10.1.2.7/24"), ==, IPOP__CAST_UNICAST);   /* the network address */
    /* /16, /20, /30 */
    g_assert_cmpint(cast("10.1.255.255", "10.1.2.7/16"), ==, IPOP__CAST_SUBNET);
    g_assert_cmpint(cast("10.1.2.255", "10.1.2.7/16"), ==, IPOP__CAST_UNICAST);
    g_assert_cmpint(cast("172.16.15.255", "172.16.3.1/20"), ==, IPOP__CAST_SUBNET);
    g_assert_cmpint(cast("172.16.3.255", "172.16.3.1/20"), ==, IPOP__CAST_UNICAST);
    g_assert_cmpint(cast("192.168.9.3", "192.168.9.1/30"), ==, IPOP__CAST_SUBNET);
    /* /31 and /32 have no broadcast address (RFC 3021) */
    g_assert_cmpint(cast("192.168.9.1", "192.168.9.0/31"), ==, IPOP__CAST_UNICAST);
    g_assert_cmpint(cast("192.168.9.1", "192.168.9.1/32"), ==, IPOP__CAST_UNICAST);
    /* limited broadcast and multicast, with or without an address */
    g_assert_cmpint(cast("255.255.255.255", "10.1.2.7/24"), ==, IPOP__CAST_LIMITED);
    g_assert_cmpint(cast("255.255.255.255", NULL), ==, IPOP__CAST_LIMITED);
    g_assert_cmpint(cast("224.0.0.251", NULL), ==, IPOP__CAST_MULTICAST);      /* mDNS */
    g_assert_cmpint(cast("239.255.255.250", "10.1.2.7/24"), ==, IPOP__CAST_MULTICAST); /* SSDP */
    g_assert_cmpint(cast("224.0.0.1", NULL), ==, IPOP__CAST_MULTICAST);
    g_assert_cmpint(cast("240.0.0.1", NULL), ==, IPOP__CAST_UNICAST);           /* reserved, not multicast */
    g_assert_cmpint(cast("223.255.255.255", NULL), ==, IPOP__CAST_UNICAST);
    g_assert_cmpint(cast("10.1.2.255", NULL), ==, IPOP__CAST_UNICAST);
    /* an IPv6 own address does not give an IPv4 subnet */
    g_assert_cmpint(cast("10.1.2.255", "fd00::1/64"), ==, IPOP__CAST_UNICAST);
    g_assert_cmpint(ipop__cast_of(NULL, NULL), ==, IPOP__CAST_UNICAST);
}

static void test_ipv6(void)
{
    g_assert_cmpint(cast("ff02::fb", NULL), ==, IPOP__CAST_MULTICAST);  /* mDNS */
    g_assert_cmpint(cast("ff02::1", "10.1.2.7/24"), ==, IPOP__CAST_MULTICAST);
    g_assert_cmpint(cast("ff05::c", NULL), ==, IPOP__CAST_MULTICAST);   /* SSDP, site-local */
    g_assert_cmpint(cast("ff0e::1234", NULL), ==, IPOP__CAST_MULTICAST);
    g_assert_cmpint(cast("ff12::1", NULL), ==, IPOP__CAST_MULTICAST);   /* transient, link scope */
    /* interface-local and reserved scopes never leave the host */
    g_assert_cmpint(cast("ff01::1", NULL), ==, IPOP__CAST_UNICAST);
    g_assert_cmpint(cast("ff00::1", NULL), ==, IPOP__CAST_UNICAST);
    /* no broadcast in IPv6, whatever its prefix says */
    g_assert_cmpint(cast("fd00::ffff:ffff:ffff:ffff", "10.1.2.7/24"), ==, IPOP__CAST_UNICAST);
    g_assert_cmpint(cast("fe80::1", NULL), ==, IPOP__CAST_UNICAST);
}

/* An IPv4 (or IPv6) UDP packet, 28 (48) bytes. */
static size_t packet(uint8_t *buf, const char *src, const char *dst, uint8_t proto)
{
    bool v6 = strchr(src, ':') != NULL;
    size_t len = v6 ? 48 : 28;

    memset(buf, 0, len);
    if (v6) {
        buf[0] = 0x60;
        buf[5] = 8;
        buf[6] = proto;
        buf[7] = 1;
        inet_pton(AF_INET6, src, buf + 8);
        inet_pton(AF_INET6, dst, buf + 24);
    } else {
        buf[0] = 0x45;
        buf[3] = (uint8_t)len;
        buf[8] = 1;
        buf[9] = proto;
        inet_pton(AF_INET, src, buf + 12);
        inet_pton(AF_INET, dst, buf + 16);
    }
    return len;
}

static void test_packet(void)
{
    ipop__addr own4 = addr("10.1.2.7/24"), own6 = addr("fd01::7/64"), none = { 0 };
    uint8_t p[64];
    size_t n;

    n = packet(p, "10.1.2.7", "10.1.2.255", 17);
    g_assert_cmpint(ipop__cast_packet(p, n, &own4, &own6), ==, IPOP__CAST_SUBNET);
    g_assert_cmpint(ipop__cast_packet(p, n - 1, &own4, &own6), ==, IPOP__CAST_UNICAST); /* truncated */
    g_assert_cmpint(ipop__cast_packet(p, n, NULL, NULL), ==, IPOP__CAST_UNICAST);       /* no own address */
    n = packet(p, "10.1.2.7", "224.0.0.251", 17);
    g_assert_cmpint(ipop__cast_packet(p, n, &own4, &none), ==, IPOP__CAST_MULTICAST);
    /* a source not this node's: every receiver would drop it */
    n = packet(p, "10.1.2.8", "255.255.255.255", 17);
    g_assert_cmpint(ipop__cast_packet(p, n, &own4, &own6), ==, IPOP__CAST_UNICAST);
    n = packet(p, "0.0.0.0", "255.255.255.255", 17);
    g_assert_cmpint(ipop__cast_packet(p, n, &own4, &own6), ==, IPOP__CAST_UNICAST);
    /* IGMP reports are for the link's multicast routers */
    n = packet(p, "10.1.2.7", "224.0.0.22", 2);
    g_assert_cmpint(ipop__cast_packet(p, n, &own4, &own6), ==, IPOP__CAST_UNICAST);
    /* a unicast destination */
    n = packet(p, "10.1.2.7", "10.1.2.8", 17);
    g_assert_cmpint(ipop__cast_packet(p, n, &own4, &own6), ==, IPOP__CAST_UNICAST);
    /* IPv6: from the overlay address, not from a link-local one */
    n = packet(p, "fd01::7", "ff02::fb", 17);
    g_assert_cmpint(ipop__cast_packet(p, n, &own4, &own6), ==, IPOP__CAST_MULTICAST);
    g_assert_cmpint(ipop__cast_packet(p, n, &own4, &none), ==, IPOP__CAST_UNICAST);
    n = packet(p, "fe80::7", "ff02::fb", 17);
    g_assert_cmpint(ipop__cast_packet(p, n, &own4, &own6), ==, IPOP__CAST_UNICAST);
    n = packet(p, "fd01::7", "ff01::1", 17);
    g_assert_cmpint(ipop__cast_packet(p, n, &own4, &own6), ==, IPOP__CAST_UNICAST);
}

static void test_bucket(void)
{
    ipop__bucket b = { 0 };
    int64_t t = 1000000000; /* a monotonic clock well past zero */
    unsigned ok = 0;

    /* 10 a second, 10 at once: a burst of 10, then one each 100 ms */
    for (int i = 0; i < 15; i++)
        ok += ipop__bucket_take(&b, 10, 10, t);
    g_assert_cmpuint(ok, ==, 10);
    g_assert_false(ipop__bucket_take(&b, 10, 10, t + 99999));
    g_assert_true(ipop__bucket_take(&b, 10, 10, t + 100000));
    g_assert_false(ipop__bucket_take(&b, 10, 10, t + 100000));
    /* a quiet second fills it again, no fuller than the burst */
    t += 5 * 1000000;
    ok = 0;
    for (int i = 0; i < 30; i++)
        ok += ipop__bucket_take(&b, 10, 10, t);
    g_assert_cmpuint(ok, ==, 10);
    /* steady at the rate for a while: every packet goes */
    ok = 0;
    for (int i = 1; i <= 100; i++)
        ok += ipop__bucket_take(&b, 10, 10, t + (int64_t)i * 100000);
    g_assert_cmpuint(ok, ==, 100);
    /* a clock that steps back takes nothing it has not earned */
    g_assert_false(ipop__bucket_take(&b, 10, 10, t));
    /* burst 0 counts as 1; rate 0 is no limit; the fastest rate */
    b.full_at = 0;
    g_assert_true(ipop__bucket_take(&b, 5, 0, t));
    g_assert_false(ipop__bucket_take(&b, 5, 0, t));
    for (int i = 0; i < 1000; i++)
        g_assert_true(ipop__bucket_take(&b, 0, 0, t));
    b.full_at = 0;
    ok = 0;
    for (int i = 0; i < 2000000; i++)
        ok += ipop__bucket_take(&b, 1000000, 1000000, t);
    g_assert_cmpuint(ok, ==, 1000000);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cast/ipv4", test_ipv4);
    g_test_add_func("/cast/ipv6", test_ipv6);
    g_test_add_func("/cast/packet", test_packet);
    g_test_add_func("/cast/bucket", test_bucket);
    return g_test_run();
}
