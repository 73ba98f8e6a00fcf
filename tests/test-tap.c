/* SPDX-License-Identifier: MIT */
/* A hostile peer in TAP mode (issue 13, point 8): three networks in one
 * process with real TAP devices (root), a linked with b and c.  b sends
 * frames of every kind a could be fooled by: other Ethernet types (802.1Q,
 * QinQ, PPPoE, MPLS), ARP with another's sender or asking in a probe for
 * another's address, a neighbour advertisement for another's address, an
 * IPv4 packet from another's address, and frames from c's MAC and from a's
 * own.  Each is dropped at a and counted by reason; b's own traffic, its
 * ARP probe, its link-local neighbour advertisement and c's traffic still
 * arrive.  Then with "tap.tagged", a tagged frame of b's is carried, and a
 * tagged one hiding a spoofed source is not.  Link-local addresses not
 * derived from the MAC (stable-privacy, random: issue 18) pass, first come
 * per link: b's is not c's to use or advertise, nor is a's own. */
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "admit.h"
#include "bytes.h"
#include "forward.h"
#include "network.h" /* dev_mac */
#include "pair.h"
#include "testutil.h"

#define N 3
static node nodes[N];

static const uint8_t mac_b[6] = { 0x02, 0x00, 0x00, 0x00, 0x79, 0x02 };
static const uint8_t mac_c[6] = { 0x02, 0x00, 0x00, 0x00, 0x79, 0x03 };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* Signalling between any two of the three, by node id. */
static void route_signal(ipop_network_t *net, const char *peer_id, const char *message, void *ud)
{
    for (int i = 0; i < N; i++)
        if (nodes[i].net && !strcmp(ipop_network_get_node_id(nodes[i].net), peer_id))
            ipop_network_signal_receive(nodes[i].net, ipop_network_get_node_id(net), message);
}

static void tap_node(node *n, const char *name, const char *a4, const char *a6, bool tagged)
{
    node_init(n, name, a4, a6, "mode", "tap");
    g_assert_cmpint(ipop_network_set_option(n->net, "device.offload", "false"), ==, 0);
    if (tagged)
        g_assert_cmpint(ipop_network_set_option(n->net, "tap.tagged", "true"), ==, 0);
    g_assert_cmpint(ipop_network_set_signal_cb(n->net, route_signal, n), ==, 0);
}

static void link_up(node *a, node *b)
{
    g_assert_cmpint(ipop_network_allow_peer(b->net, ipop_network_get_node_id(a->net)), ==, 0);
    g_assert_cmpint(ipop_network_connect(a->net, ipop_network_get_node_id(b->net), NULL), ==, 0);
    for (int i = 0; i < 300; i++) {
        ipop_link_t *l = ipop_network_get_link(a->net, ipop_network_get_node_id(b->net));
        ipop_link_t *r = ipop_network_get_link(b->net, ipop_network_get_node_id(a->net));
        if (l && r && ipop_link_get_state(l) == IPOP_LINK_CONNECTED && ipop_link_get_state(r) == IPOP_LINK_CONNECTED)
            return;
        g_usleep(50000);
    }
    g_error("a link did not come up");
}

static ipop_link_stats_t link_stats(node *at, node *peer)
{
    ipop_link_stats_t st = { .size = sizeof(st) };

    g_assert_cmpint(ipop_link_get_stats(ipop_network_get_link(at->net, ipop_network_get_node_id(peer->net)), &st), ==, 0);
    return st;
}

static ipop_network_stats_t net_stats(node *n)
{
    ipop_network_stats_t ns = { .size = sizeof(ns) };

    g_assert_cmpint(ipop_network_get_stats(n->net, &ns), ==, 0);
    return ns;
}

/* ---- frames ---- */

static size_t eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    ipop__put16(f + 12, type);
    return 14;
}

static size_t ipv4_udp(uint8_t *f, const uint8_t *smac, const char *src, const char *dst)
{
    size_t o = eth(f, bcast, smac, 0x0800);
    uint8_t *ip = f + o;

    memset(ip, 0, 28);
    ip[0] = 0x45;
    ipop__put16(ip + 2, 28);
    ip[8] = 64;
    ip[9] = 17;
    inet_pton(AF_INET, src, ip + 12);
    inet_pton(AF_INET, dst, ip + 16);
    ipop__put16(ip + 20, 5000);
    ipop__put16(ip + 22, 5000);
    ipop__put16(ip + 24, 8);
    return o + 28;
}

static size_t arp(uint8_t *f, const uint8_t *smac, uint16_t op, const uint8_t *sha, const char *spa, const char *tpa)
{
    size_t o = eth(f, bcast, smac, 0x0806);
    uint8_t *a = f + o;

    memset(a, 0, 28);
    ipop__put16(a, 1);
    ipop__put16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    ipop__put16(a + 6, op);
    memcpy(a + 8, sha, 6);
    inet_pton(AF_INET, spa, a + 14);
    inet_pton(AF_INET, tpa, a + 24);
    return o + 28;
}

/* A neighbour advertisement from src for target, with a target link-layer
 * address option naming smac. */
static size_t na(uint8_t *f, const uint8_t *smac, const uint8_t *src, const uint8_t *target)
{
    size_t o = eth(f, bcast, smac, 0x86dd);
    uint8_t *ip = f + o, *m = ip + 40;

    memset(ip, 0, 40 + 32);
    ip[0] = 0x60;
    ipop__put16(ip + 4, 32);
    ip[6] = 58;
    ip[7] = 255;
    memcpy(ip + 8, src, 16);
    inet_pton(AF_INET6, "ff02::1", ip + 24);
    m[0] = 136;
    m[4] = 0x20; /* override */
    memcpy(m + 8, target, 16);
    m[24] = 2;
    m[25] = 1;
    memcpy(m + 26, smac, 6);
    return o + 72;
}

static void send_frame(node *from, const uint8_t *f, size_t len)
{
    g_assert_cmpint(ipop_network_send_packet(from->net, f, len), ==, 0);
}

/* Waits until a counts `want` more of something; the counts from f. */
typedef guint64 (*count_fn)(node *a, node *b);

static guint64 rx_of_b(node *a, node *b)
{
    return link_stats(a, b).rx_packets;
}

static guint64 drops_of_b(node *a, node *b)
{
    return link_stats(a, b).rx_drops;
}

/* The kernels behind the devices talk too (IPv6 duplicate address
 * detection, MLD reports, router solicitations): what a delivers counts
 * at least what the test sent; what it drops, exactly (the kernel's own
 * frames must pass the checks). */
static void wait_count(count_fn fn, node *a, node *b, guint64 want)
{
    for (int i = 0; i < 200 && fn(a, b) < want; i++)
        g_usleep(20000);
    g_usleep(100000); /* anything more that would come */
    if (fn == drops_of_b)
        g_assert_cmpuint(fn(a, b), ==, want);
    else
        g_assert_cmpuint(fn(a, b), >=, want);
}

static void test_hostile_peer(void)
{
    node *a = &nodes[0], *b = &nodes[1], *c = &nodes[2];
    uint8_t f[200], tagged[200], ll_b[16], ll_c[16], own_mac[6];
    ipop_network_stats_t ns0, ns;
    guint64 rx0, drops0, rxc0;
    size_t n;

    tap_node(a, "a", "10.79.0.1", "fd79::1", false);
    tap_node(b, "b", "10.79.0.2", "fd79::2", false);
    tap_node(c, "c", "10.79.0.3", "fd79::3", false);
    for (int i = 0; i < N; i++)
        g_assert_cmpint(ipop_network_start(nodes[i].net), ==, 0);
    link_up(a, b);
    link_up(a, c);
    ipop__ll6_from_mac(mac_b, ll_b);
    ipop__ll6_from_mac(mac_c, ll_c);
    memcpy(own_mac, a->net->dev_mac, 6);

    /* c's host shows its MAC to a; b's traffic flows. */
    n = ipv4_udp(f, mac_c, "10.79.0.3", "10.79.0.1");
    rxc0 = link_stats(a, c).rx_packets;
    send_frame(c, f, n);
    wait_count(rx_of_b, a, c, rxc0 + 1);
    rx0 = link_stats(a, b).rx_packets;
    n = ipv4_udp(f, mac_b, "10.79.0.2", "10.79.0.1");
    send_frame(b, f, n);
    wait_count(rx_of_b, a, b, rx0 + 1);

    ns0 = net_stats(a);
    rx0 = link_stats(a, b).rx_packets;
    drops0 = link_stats(a, b).rx_drops;

    /* Ethernet types a peer has no business sending: 802.1Q and QinQ tags
     * around b's own IPv4 packet, PPPoE session, MPLS. */
    n = ipv4_udp(f, mac_b, "10.79.0.2", "10.79.0.1");
    memcpy(tagged, f, 12);
    ipop__put16(tagged + 12, 0x8100);
    ipop__put16(tagged + 14, 7);
    memcpy(tagged + 16, f + 12, n - 12);
    send_frame(b, tagged, n + 4);
    ipop__put16(tagged + 12, 0x88a8);
    send_frame(b, tagged, n + 4);
    memcpy(tagged, f, n);
    ipop__put16(tagged + 12, 0x8864); /* PPPoE session */
    send_frame(b, tagged, n);
    ipop__put16(tagged + 12, 0x8847); /* MPLS unicast */
    send_frame(b, tagged, n);
    /* ARP: a reply that says c's address is at b's MAC; a probe for c's
     * address; a request whose sender MAC is not the frame's. */
    send_frame(b, f, arp(f, mac_b, 2, mac_b, "10.79.0.3", "10.79.0.1"));
    send_frame(b, f, arp(f, mac_b, 1, mac_b, "0.0.0.0", "10.79.0.3"));
    send_frame(b, f, arp(f, mac_b, 1, mac_c, "10.79.0.2", "10.79.0.1"));
    /* A neighbour advertisement from b for c's addresses. */
    {
        uint8_t src[16], tgt[16];
        inet_pton(AF_INET6, "fd79::2", src);
        inet_pton(AF_INET6, "fd79::3", tgt);
        send_frame(b, f, na(f, mac_b, src, tgt));
        send_frame(b, f, na(f, mac_b, ll_b, ll_c));
    }
    /* An IPv4 packet from c's address. */
    send_frame(b, f, ipv4_udp(f, mac_b, "10.79.0.3", "10.79.0.1"));
    /* b's own packet, from c's MAC and from a's own. */
    send_frame(b, f, ipv4_udp(f, mac_c, "10.79.0.2", "10.79.0.1"));
    send_frame(b, f, ipv4_udp(f, own_mac, "10.79.0.2", "10.79.0.1"));

    /* Each of the 12 was dropped (none delivered), and counted by reason. */
    wait_count(drops_of_b, a, b, drops0 + 12);
    ns = net_stats(a);
    g_assert_cmpuint(ns.tap_refused_type - ns0.tap_refused_type, ==, 4);
    g_assert_cmpuint(ns.tap_refused_source - ns0.tap_refused_source, ==, 6);
    g_assert_cmpuint(ns.tap_refused_mac - ns0.tap_refused_mac, ==, 2);

    /* What b may send: its traffic, an ARP probe and an announcement of
     * its own address, a neighbour advertisement of its link-local
     * address; and c's traffic from c's MAC, which is still c's. */
    send_frame(b, f, ipv4_udp(f, mac_b, "10.79.0.2", "10.79.0.1"));
    send_frame(b, f, arp(f, mac_b, 1, mac_b, "0.0.0.0", "10.79.0.2"));
    send_frame(b, f, arp(f, mac_b, 1, mac_b, "10.79.0.2", "10.79.0.2"));
    send_frame(b, f, na(f, mac_b, ll_b, ll_b));
    wait_count(rx_of_b, a, b, rx0 + 4);
    rxc0 = link_stats(a, c).rx_packets;
    send_frame(c, f, ipv4_udp(f, mac_c, "10.79.0.3", "10.79.0.1"));
    wait_count(rx_of_b, a, c, rxc0 + 1);
    g_assert_cmpuint(link_stats(a, b).rx_drops, ==, drops0 + 12);

    for (int i = N; i-- > 0;)
        node_clear(&nodes[i]);
}

/* One of the TAP device's own IPv6 link-local addresses, or false. */
static bool dev_ll(const char *dev, uint8_t out[16])
{
    struct ifaddrs *ifs, *i;
    bool found = false;

    g_assert_cmpint(getifaddrs(&ifs), ==, 0);
    for (i = ifs; i && !found; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET6 && !strcmp(i->ifa_name, dev)) {
            const uint8_t *a = ((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr.s6_addr;
            if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) {
                memcpy(out, a, 16);
                found = true;
            }
        }
    freeifaddrs(ifs);
    return found;
}

/* Link-local addresses of stable-privacy or random form (issue 18): b's
 * passes as source and in its advertisements, and is then b's: c may
 * neither send from it nor advertise it; nobody may use a's own; a link
 * learns at most 8; b's are free again when b's link is gone. */
static void test_random_ll(void)
{
    node *a = &nodes[0], *b = &nodes[1], *c = &nodes[2];
    uint8_t f[200], rnd_b[16], ll_c[16], own[16], extra[16];
    ipop_network_stats_t ns0, ns;
    guint64 rx0, drops0, rxc0, dropsc0;

    tap_node(a, "a", "10.79.2.1", "fd79:2::1", false);
    tap_node(b, "b", "10.79.2.2", "fd79:2::2", false);
    tap_node(c, "c", "10.79.2.3", "fd79:2::3", false);
    for (int i = 0; i < N; i++)
        g_assert_cmpint(ipop_network_start(nodes[i].net), ==, 0);
    link_up(a, b);
    link_up(a, c);
    inet_pton(AF_INET6, "fe80::1c3a:9b2f:77d4:e501", rnd_b);
    ipop__ll6_from_mac(mac_c, ll_c);
    /* a's own: one of random form, as a stable-privacy kernel makes */
    {
        char cmd[128];
        inet_pton(AF_INET6, "fe80::a:7a9:31c2:5e01", own);
        g_snprintf(cmd, sizeof cmd, "ip -6 addr add fe80::a:7a9:31c2:5e01/64 dev %s nodad", a->net->dev_name);
        g_assert_cmpint(system(cmd), ==, 0);
        g_assert_true(dev_ll(a->net->dev_name, extra));
    }

    /* b: an advertisement of its random link-local address, from it
     * (refused before issue 18's table: not derived from b's MAC). */
    ns0 = net_stats(a);
    rx0 = link_stats(a, b).rx_packets;
    drops0 = link_stats(a, b).rx_drops;
    send_frame(b, f, na(f, mac_b, rnd_b, rnd_b));
    wait_count(rx_of_b, a, b, rx0 + 1);
    g_assert_cmpuint(link_stats(a, b).rx_drops, ==, drops0);

    /* c: from b's address, and advertising it from its own; a's own
     * link-local address, as source and as target. */
    dropsc0 = link_stats(a, c).rx_drops;
    rxc0 = link_stats(a, c).rx_packets;
    send_frame(c, f, na(f, mac_c, rnd_b, rnd_b));
    send_frame(c, f, na(f, mac_c, ll_c, rnd_b));
    send_frame(c, f, na(f, mac_c, own, own));
    send_frame(c, f, na(f, mac_c, ll_c, own));
    wait_count(drops_of_b, a, c, dropsc0 + 4);
    ns = net_stats(a);
    g_assert_cmpuint(ns.tap_refused_source - ns0.tap_refused_source, ==, 4);
    /* c's own EUI-64 address still passes */
    send_frame(c, f, na(f, mac_c, ll_c, ll_c));
    wait_count(rx_of_b, a, c, rxc0 + 1);

    /* b: 7 more addresses pass (8 a link), the 9th is refused */
    memcpy(extra, rnd_b, 16);
    rx0 = link_stats(a, b).rx_packets;
    for (int i = 0; i < 8; i++) {
        extra[15] = (uint8_t)(0x10 + i);
        send_frame(b, f, na(f, mac_b, extra, extra));
    }
    wait_count(rx_of_b, a, b, rx0 + 7);
    wait_count(drops_of_b, a, b, drops0 + 1);
    g_assert_cmpuint(net_stats(a).tap_refused_source - ns0.tap_refused_source, ==, 5);

    /* b's link goes: its addresses are free for c */
    node_clear(b);
    for (int i = 0; i < 400 && ipop__fwd_ll_count(a->net->fwd) > 1; i++) /* a's own stays, held */
        g_usleep(50000);
    g_assert_cmpuint(ipop__fwd_ll_count(a->net->fwd), ==, 1);
    rxc0 = link_stats(a, c).rx_packets;
    send_frame(c, f, na(f, mac_c, rnd_b, rnd_b));
    wait_count(rx_of_b, a, c, rxc0 + 1);

    node_clear(c);
    node_clear(a);
}

/* With "tap.tagged": tagged frames are carried, and checked inside. */
static void test_tagged(void)
{
    node *a = &nodes[0], *b = &nodes[1];
    uint8_t f[200], tagged[200];
    guint64 rx0, drops0;
    size_t n;

    tap_node(a, "a", "10.79.1.1", NULL, true);
    tap_node(b, "b", "10.79.1.2", NULL, true);
    g_assert_cmpint(ipop_network_start(a->net), ==, 0);
    g_assert_cmpint(ipop_network_start(b->net), ==, 0);
    link_up(a, b);
    rx0 = link_stats(a, b).rx_packets;
    drops0 = link_stats(a, b).rx_drops;

    n = ipv4_udp(f, mac_b, "10.79.1.2", "10.79.1.1");
    memcpy(tagged, f, 12);
    ipop__put16(tagged + 12, 0x8100);
    ipop__put16(tagged + 14, 7);
    memcpy(tagged + 16, f + 12, n - 12);
    send_frame(b, tagged, n + 4);
    wait_count(rx_of_b, a, b, rx0 + 1);
    inet_pton(AF_INET, "10.79.1.9", tagged + 16 + 2 + 12); /* the IPv4 source inside the tag */
    send_frame(b, tagged, n + 4);
    wait_count(drops_of_b, a, b, drops0 + 1);
    g_assert_cmpuint(net_stats(a).tap_refused_source, ==, 1);
    node_clear(b);
    node_clear(a);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_require_root("TAP devices");
    test_log_to_stderr(IPOP_LOG_INFO);
    g_test_add_func("/tap/hostile-peer", test_hostile_peer);
    g_test_add_func("/tap/tagged", test_tagged);
    g_test_add_func("/tap/random-ll", test_random_ll);
    return g_test_run();
}
