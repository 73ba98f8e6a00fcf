/* SPDX-License-Identifier: MIT */
/* Broadcast and multicast in mode none (option "broadcast"): two networks
 * in one process, linked over loopback.  What the application sends to a
 * broadcast or multicast address reaches the member; a packet not from the
 * sender's own address, or of interface-local scope, does not leave; the
 * rate limit drops and counts what is over it; the receiver sends nothing
 * on; with "broadcast" off nothing goes. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>

#include "ipop/ipop.h"
#include "pair.h"
#include "testutil.h"

static ipop_network_stats_t stats(node *n)
{
    ipop_network_stats_t s = { .size = sizeof(s) };

    g_assert_cmpint(ipop_network_get_stats(n->net, &s), ==, 0);
    return s;
}

static guint received(node *n)
{
    guint r;

    g_mutex_lock(&n->lock);
    r = n->received;
    g_mutex_unlock(&n->lock);
    return r;
}

/* Waits until n has received `count` intact packets. */
static void wait_received(node *n, guint count)
{
    gint64 end = g_get_monotonic_time() + 5 * test_time_factor() * G_USEC_PER_SEC;

    g_mutex_lock(&n->lock);
    while (n->received < count && g_cond_wait_until(&n->cond, &n->lock, end))
        ;
    g_assert_cmpuint(n->received, ==, count);
    g_mutex_unlock(&n->lock);
}

/* Sends one packet of seq from src to dst; returns what the send said. */
static int send_to(node *from, int family, const char *src, const char *dst, guint32 seq)
{
    guint8 buf[200];
    size_t n = build_packet(buf, family, src, dst, seq, family == AF_INET ? 100 : 120);

    return ipop_network_send_packet(from->net, buf, n);
}

/* The last packet b got was sent to dst. */
static void assert_last_dst(node *n, int family, const char *dst)
{
    guint8 want[16];

    g_assert_cmpint(inet_pton(family, dst, want), ==, 1);
    g_mutex_lock(&n->lock);
    if (family == AF_INET)
        g_assert_cmpmem(n->last + 16, 4, want, 4);
    else
        g_assert_cmpmem(n->last + 24, 16, want, 16);
    g_mutex_unlock(&n->lock);
}

static void test_carried(void)
{
    node a, b;
    ipop_network_stats_t sa, sb;
    guint sent = 0, refused = 0;

    node_init(&a, "a", "10.40.0.1", "fd40::1", "broadcast.rate", "20");
    node_init(&b, "b", "10.40.0.2", "fd40::2", NULL, NULL);
    pair_start(&a, &b);
    connect_pair(&a, &b);

    /* the subnet's broadcast, the limited one, mDNS, SSDP, IPv6 mDNS */
    g_assert_cmpint(send_to(&a, AF_INET, "10.40.0.1", "10.40.0.255", 0), ==, 0);
    wait_received(&b, 1);
    assert_last_dst(&b, AF_INET, "10.40.0.255");
    g_assert_cmpint(send_to(&a, AF_INET, "10.40.0.1", "255.255.255.255", 1), ==, 0);
    wait_received(&b, 2);
    assert_last_dst(&b, AF_INET, "255.255.255.255");
    g_assert_cmpint(send_to(&a, AF_INET, "10.40.0.1", "224.0.0.251", 2), ==, 0);
    wait_received(&b, 3);
    assert_last_dst(&b, AF_INET, "224.0.0.251");
    g_assert_cmpint(send_to(&a, AF_INET, "10.40.0.1", "239.255.255.250", 3), ==, 0);
    wait_received(&b, 4);
    g_assert_cmpint(send_to(&a, AF_INET6, "fd40::1", "ff02::fb", 4), ==, 0);
    wait_received(&b, 5);
    assert_last_dst(&b, AF_INET6, "ff02::fb");

    /* not carried: another subnet's broadcast, interface-local scope, a
     * source not a's (counted in no_route, as any packet with no link) */
    sa = stats(&a);
    g_assert_cmpint(send_to(&a, AF_INET, "10.40.0.1", "10.41.0.255", 5), ==, -EHOSTUNREACH);
    g_assert_cmpint(send_to(&a, AF_INET6, "fd40::1", "ff01::1", 6), ==, -EHOSTUNREACH);
    g_assert_cmpint(send_to(&a, AF_INET, "10.40.0.9", "255.255.255.255", 7), ==, -EHOSTUNREACH);
    g_assert_cmpint(send_to(&a, AF_INET6, "fe80::1", "ff02::fb", 8), ==, -EHOSTUNREACH);
    g_assert_cmpuint(stats(&a).no_route, ==, sa.no_route + 4);
    g_assert_cmpuint(stats(&a).broadcast_packets, ==, 5);

    /* 20 a second: of 60 at once, what is left of the burst goes (15,
     * and one more for each 50 ms the sends take), the rest is dropped
     * and counted */
    for (guint32 i = 0; i < 60; i++) {
        int r = send_to(&a, AF_INET, "10.40.0.1", "255.255.255.255", 100 + i);
        g_assert_true(r == 0 || r == -ENOBUFS);
        if (r == 0)
            sent++;
        else
            refused++;
    }
    g_assert_cmpuint(sent, >=, 15);
    g_assert_cmpuint(sent, <, 30);
    sa = stats(&a);
    g_assert_cmpuint(sa.broadcast_packets, ==, 5 + sent);
    g_assert_cmpuint(sa.broadcast_dropped, ==, refused);
    wait_received(&b, 5 + sent);
    /* the bucket fills again */
    g_usleep(200000);
    g_assert_cmpint(send_to(&a, AF_INET, "10.40.0.1", "10.40.0.255", 200), ==, 0);
    wait_received(&b, 6 + sent);

    /* b delivered each to its host and sent none on: none came back to a */
    sb = stats(&b);
    g_assert_cmpuint(sb.broadcast_packets, ==, 0);
    g_assert_cmpuint(sb.broadcast_dropped, ==, 0);
    g_assert_cmpuint(received(&a), ==, 0);
    /* and b's own broadcast reaches a */
    g_assert_cmpint(send_to(&b, AF_INET, "10.40.0.2", "10.40.0.255", 300), ==, 0);
    wait_received(&a, 1);

    node_clear(&a);
    node_clear(&b);
}

static void test_off(void)
{
    node a, b;
    guint8 buf[200];

    node_init(&a, "a", "10.42.0.1", NULL, "broadcast", "false");
    node_init(&b, "b", "10.42.0.2", NULL, NULL, NULL);
    pair_start(&a, &b);
    connect_pair(&a, &b);
    g_assert_cmpint(send_to(&a, AF_INET, "10.42.0.1", "255.255.255.255", 0), ==, -EHOSTUNREACH);
    g_assert_cmpint(send_to(&a, AF_INET, "10.42.0.1", "224.0.0.251", 1), ==, -EHOSTUNREACH);
    g_assert_cmpuint(stats(&a).no_route, ==, 2);
    g_assert_cmpuint(stats(&a).broadcast_packets, ==, 0);
    /* unicast still goes */
    build_packet(buf, AF_INET, "10.42.0.1", "10.42.0.2", 2, 100);
    g_assert_cmpint(ipop_network_send_packet(a.net, buf, 100), ==, 0);
    wait_received(&b, 1);
    node_clear(&a);
    node_clear(&b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/broadcast/carried", test_carried);
    g_test_add_func("/broadcast/off", test_off);
    return g_test_run();
}
