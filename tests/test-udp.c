/* SPDX-License-Identifier: MIT */
/* UDP endpoints: the pure header and checksum helpers against bytes worked
 * out by hand, then two networks in one process (mode none, over loopback)
 * exchanging datagrams through ipop_udp_*: addresses, ports and contents
 * arrive right both ways in IPv4 and IPv6, bad datagrams are dropped and
 * counted, other ports still reach the packet callback, and closing while
 * datagrams arrive never lets a callback run after the close returned. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "addr.h"
#include "bytes.h"
#include "pair.h"
#include "testutil.h"
#include "udp-packet.h"
#include "udp.h"

/* 10.1.0.1:4000 -> 10.1.0.2:5000 "hello", and the same from fd00::1 to
 * fd00::2; checksums computed independently (a short Python script). */
static const uint8_t pkt4[] = {
    0x45, 0x00, 0x00, 0x21, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x26, 0xc8, 0x0a, 0x01, 0x00, 0x01, 0x0a,
    0x01, 0x00, 0x02, 0x0f, 0xa0, 0x13, 0x88, 0x00, 0x0d, 0x84, 0xd5, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};
static const uint8_t pkt6[] = {
    0x60, 0x00, 0x00, 0x00, 0x00, 0x0d, 0x11, 0x40, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0f, 0xa0, 0x13, 0x88, 0x00, 0x0d, 0x9e, 0xd5,
    0x68, 0x65, 0x6c, 0x6c, 0x6f,
};

static ipop__addr host(const char *text)
{
    ipop__addr a;

    g_assert_cmpint(ipop__addr_parse(text, &a), ==, 0);
    return a;
}

static void test_checksum(void)
{
    /* RFC 1071 section 3: the sum of these bytes is ddf2. */
    static const uint8_t rfc[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
    uint32_t s;

    g_assert_cmphex(ipop__csum_finish(ipop__csum_add(0, rfc, sizeof(rfc))), ==, 0xffff & ~0xddf2);
    /* Even-sized chunks give the same sum as one block. */
    s = ipop__csum_add(ipop__csum_add(0, rfc, 2), rfc + 2, 6);
    g_assert_cmphex(ipop__csum_finish(s), ==, 0x220d);
    /* An odd last byte counts as the high byte of a word. */
    g_assert_cmphex(ipop__csum_finish(ipop__csum_add(0, (const uint8_t *)"\x12", 1)), ==, 0xffff & ~0x1200);
    g_assert_cmphex(ipop__csum_finish(0), ==, 0xffff);
    /* Carries beyond 32 bits fold back in. */
    {
        uint8_t ones[70000];
        memset(ones, 0xff, sizeof(ones));
        g_assert_cmphex(ipop__csum_finish(ipop__csum_add(0xffffffffu, ones, sizeof(ones))), ==, 0);
    }
}

static void test_build(void)
{
    ipop__addr s4 = host("10.1.0.1"), d4 = host("10.1.0.2"), s6 = host("fd00::1"), d6 = host("fd00::2");
    uint8_t buf[256];

    g_assert_cmpint(ipop__udp_build(buf, sizeof(buf), &s4, 4000, &d4, 5000, "hello", 5), ==, sizeof(pkt4));
    g_assert_cmpmem(buf, sizeof(pkt4), pkt4, sizeof(pkt4));
    g_assert_cmpint(ipop__udp_build(buf, sizeof(buf), &s6, 4000, &d6, 5000, "hello", 5), ==, sizeof(pkt6));
    g_assert_cmpmem(buf, sizeof(pkt6), pkt6, sizeof(pkt6));
    /* exactly the room needed, then one byte less */
    g_assert_cmpint(ipop__udp_build(buf, sizeof(pkt4), &s4, 4000, &d4, 5000, "hello", 5), ==, sizeof(pkt4));
    g_assert_cmpint(ipop__udp_build(buf, sizeof(pkt4) - 1, &s4, 4000, &d4, 5000, "hello", 5), ==, -EMSGSIZE);
    /* an empty datagram is a datagram */
    g_assert_cmpint(ipop__udp_build(buf, sizeof(buf), &s4, 1, &d4, 2, NULL, 0), ==, 28);
    g_assert_cmpint(ipop__udp_build(buf, sizeof(buf), &s6, 1, &d6, 2, NULL, 0), ==, 48);
    /* refusals */
    g_assert_cmpint(ipop__udp_build(buf, sizeof(buf), &s4, 4000, &d6, 5000, "x", 1), ==, -EINVAL);
    g_assert_cmpint(ipop__udp_build(buf, sizeof(buf), &s4, 0, &d4, 5000, "x", 1), ==, -EINVAL);
    g_assert_cmpint(ipop__udp_build(buf, sizeof(buf), &s4, 1, &d4, 0, "x", 1), ==, -EINVAL);
    g_assert_cmpint(ipop__udp_build(buf, sizeof(buf), &s4, 1, &d4, 2, NULL, 1), ==, -EINVAL);
    g_assert_cmpint(ipop__udp_build(NULL, sizeof(buf), &s4, 1, &d4, 2, "x", 1), ==, -EINVAL);
    {
        ipop__addr none = { 0 };
        g_assert_cmpint(ipop__udp_build(buf, sizeof(buf), &none, 1, &none, 2, "x", 1), ==, -EINVAL);
    }
    /* the 16-bit length fields set the limits, whatever the buffer */
    {
        static uint8_t big[70000], payload[70000];
        g_assert_cmpint(ipop__udp_build(big, sizeof(big), &s4, 1, &d4, 2, payload, 65535 - 28), ==, 65535);
        g_assert_cmpint(ipop__udp_build(big, sizeof(big), &s4, 1, &d4, 2, payload, 65535 - 27), ==, -EMSGSIZE);
        g_assert_cmpint(ipop__udp_build(big, sizeof(big), &s6, 1, &d6, 2, payload, 65535 - 8), ==, 65535 + 40);
        g_assert_cmpint(ipop__udp_build(big, sizeof(big), &s6, 1, &d6, 2, payload, 65535 - 7), ==, -EMSGSIZE);
        g_assert_cmpint(ipop__udp_parse(big, 65535 + 40, &(ipop__udp_dgram){ 0 }), ==, IPOP__UDP_OK);
    }
}

static void check_hello(const ipop__udp_dgram *d, const char *src, const char *dst)
{
    ipop__addr s = host(src), t = host(dst);

    g_assert_true(ipop__addr_equal_host(&d->src, &s));
    g_assert_true(ipop__addr_equal_host(&d->dst, &t));
    g_assert_true(d->has_ports);
    g_assert_cmpuint(d->sport, ==, 4000);
    g_assert_cmpuint(d->dport, ==, 5000);
    g_assert_cmpmem(d->data, d->len, "hello", 5);
}

static int parse_mod(const uint8_t *orig, size_t len, size_t at, uint8_t value, ipop__udp_dgram *d)
{
    uint8_t buf[128];

    memcpy(buf, orig, len);
    buf[at] = value;
    return ipop__udp_parse(buf, len, d);
}

static void test_parse(void)
{
    ipop__udp_dgram d;
    uint8_t buf[128];

    g_assert_cmpint(ipop__udp_parse(pkt4, sizeof(pkt4), &d), ==, IPOP__UDP_OK);
    check_hello(&d, "10.1.0.1", "10.1.0.2");
    g_assert_cmpint(ipop__udp_parse(pkt6, sizeof(pkt6), &d), ==, IPOP__UDP_OK);
    check_hello(&d, "fd00::1", "fd00::2");
    /* padding after the IP total length is ignored */
    memcpy(buf, pkt4, sizeof(pkt4));
    g_assert_cmpint(ipop__udp_parse(buf, sizeof(pkt4) + 3, &d), ==, IPOP__UDP_OK);
    check_hello(&d, "10.1.0.1", "10.1.0.2");

    /* IPv4 without a checksum is allowed, IPv6 without one is not */
    memcpy(buf, pkt4, sizeof(pkt4));
    buf[26] = buf[27] = 0;
    g_assert_cmpint(ipop__udp_parse(buf, sizeof(pkt4), &d), ==, IPOP__UDP_OK);
    memcpy(buf, pkt6, sizeof(pkt6));
    buf[46] = buf[47] = 0;
    g_assert_cmpint(ipop__udp_parse(buf, sizeof(pkt6), &d), ==, -EBADMSG);
    g_assert_true(d.has_ports);
    g_assert_cmpuint(d.dport, ==, 5000);

    /* a flipped payload bit, a wrong checksum, a changed address */
    g_assert_cmpint(parse_mod(pkt4, sizeof(pkt4), 30, 'L', &d), ==, -EBADMSG);
    g_assert_cmpuint(d.dport, ==, 5000);
    g_assert_cmpint(d.dst.family, ==, AF_INET);
    g_assert_cmpint(parse_mod(pkt6, sizeof(pkt6), 50, 'L', &d), ==, -EBADMSG);
    g_assert_cmpint(parse_mod(pkt4, sizeof(pkt4), 27, 0xd6, &d), ==, -EBADMSG);
    g_assert_cmpint(parse_mod(pkt6, sizeof(pkt6), 39, 0x03, &d), ==, -EBADMSG);
    /* the IPv4 header checksum (here: a changed TTL) */
    g_assert_cmpint(parse_mod(pkt4, sizeof(pkt4), 8, 63, &d), ==, -EBADMSG);
    g_assert_true(d.has_ports);

    /* UDP length: shorter, longer, below the header */
    g_assert_cmpint(parse_mod(pkt4, sizeof(pkt4), 25, 0x0c, &d), ==, -EBADMSG);
    g_assert_cmpint(parse_mod(pkt4, sizeof(pkt4), 25, 0x0e, &d), ==, -EBADMSG);
    g_assert_cmpint(parse_mod(pkt6, sizeof(pkt6), 45, 0x07, &d), ==, -EBADMSG);
    /* an IP packet too short for the UDP header: no ports */
    memcpy(buf, pkt6, 40 + 4);
    buf[5] = 4;
    g_assert_cmpint(ipop__udp_parse(buf, 44, &d), ==, -EBADMSG);
    g_assert_false(d.has_ports);
    g_assert_cmpint(d.dst.family, ==, AF_INET6);

    /* not ours to take: fragments, extension headers, other protocols */
    g_assert_cmpint(parse_mod(pkt4, sizeof(pkt4), 6, 0x20, &d), ==, IPOP__UDP_OTHER); /* MF */
    g_assert_cmpint(parse_mod(pkt4, sizeof(pkt4), 7, 0x01, &d), ==, IPOP__UDP_OTHER); /* offset */
    g_assert_cmpint(d.dst.family, ==, AF_INET);
    g_assert_cmpint(parse_mod(pkt4, sizeof(pkt4), 9, 6, &d), ==, IPOP__UDP_OTHER);     /* TCP */
    g_assert_cmpint(parse_mod(pkt6, sizeof(pkt6), 6, 44, &d), ==, IPOP__UDP_OTHER);    /* fragment */
    g_assert_cmpint(parse_mod(pkt6, sizeof(pkt6), 6, 0, &d), ==, IPOP__UDP_OTHER);     /* hop-by-hop */

    /* not IP, or an IP header that does not hold together */
    g_assert_cmpint(ipop__udp_parse(pkt4, 19, &d), ==, -EINVAL);
    g_assert_cmpint(d.dst.family, ==, 0);
    g_assert_cmpint(ipop__udp_parse(pkt4, sizeof(pkt4) - 1, &d), ==, -EINVAL);
    g_assert_cmpint(ipop__udp_parse(pkt6, sizeof(pkt6) - 1, &d), ==, -EINVAL);
    g_assert_cmpint(ipop__udp_parse(pkt6, 39, &d), ==, -EINVAL);
    g_assert_cmpint(parse_mod(pkt4, sizeof(pkt4), 0, 0x44, &d), ==, -EINVAL);
    g_assert_cmpint(parse_mod(pkt4, sizeof(pkt4), 0, 0x4f, &d), ==, -EINVAL);
    g_assert_cmpint(parse_mod(pkt4, sizeof(pkt4), 0, 0x55, &d), ==, -EINVAL);
    g_assert_cmpint(ipop__udp_parse(pkt4, 0, &d), ==, -EINVAL);
    g_assert_cmpint(ipop__udp_parse(NULL, 10, &d), ==, -EINVAL);
    g_assert_cmpint(ipop__udp_parse(pkt4, sizeof(pkt4), NULL), ==, -EINVAL);

    /* IPv4 options are skipped; the header checksum covers them */
    {
        uint8_t opt[sizeof(pkt4) + 4];
        memcpy(opt, pkt4, 20);
        memset(opt + 20, 1, 4); /* four NOP options */
        memcpy(opt + 24, pkt4 + 20, sizeof(pkt4) - 20);
        opt[0] = 0x46;
        opt[3] = sizeof(opt);
        opt[10] = opt[11] = 0;
        uint16_t c = ipop__csum_finish(ipop__csum_add(0, opt, 24));
        opt[10] = (uint8_t)(c >> 8);
        opt[11] = (uint8_t)c;
        g_assert_cmpint(ipop__udp_parse(opt, sizeof(opt), &d), ==, IPOP__UDP_OK);
        check_hello(&d, "10.1.0.1", "10.1.0.2");
    }
}

/* ---- two networks ---- */

#define A4 "10.21.0.1"
#define B4 "10.21.0.2"
#define A6 "fd21::1"
#define B6 "fd21::2"
#define PORT_A 5000
#define PORT_B 6000
#define N_DGRAMS 300

typedef struct inbox {
    GMutex lock;
    GCond cond;
    guint n, bad;           /* datagrams received; ones with wrong source or content */
    guint8 seen[N_DGRAMS];
    const char *want_from4, *want_from6;
    uint16_t want_port;
    guint packets;          /* reached the packet callback instead */
    guint8 last_packet[IPOP_MAX_PACKET];
    size_t last_len;
} inbox;

static void inbox_init(inbox *b, const char *from4, const char *from6, uint16_t port)
{
    memset(b, 0, sizeof(*b));
    g_mutex_init(&b->lock);
    g_cond_init(&b->cond);
    b->want_from4 = from4;
    b->want_from6 = from6;
    b->want_port = port;
}

static void inbox_reset(inbox *b)
{
    g_mutex_lock(&b->lock);
    b->n = b->bad = 0;
    memset(b->seen, 0, sizeof(b->seen));
    g_mutex_unlock(&b->lock);
}

/* Datagram content: u32 sequence number, then (seq * 13 + i) bytes. */
static size_t make_dgram(guint8 *buf, guint32 seq, size_t len)
{
    memcpy(buf, &seq, 4);
    for (size_t i = 4; i < len; i++)
        buf[i] = (guint8)(seq * 13 + i);
    return len;
}

static void on_dgram(ipop_udp_t *sock, const char *from, uint16_t port, const void *data, size_t len, void *ud)
{
    inbox *b = ud;
    const guint8 *p = data;
    guint32 seq = 0;
    bool ok = sock && len >= 4 && port == b->want_port &&
              (!strcmp(from, b->want_from4) || !strcmp(from, b->want_from6));

    if (ok) {
        memcpy(&seq, p, 4);
        ok = seq < N_DGRAMS;
        for (size_t i = 4; ok && i < len; i++)
            ok = p[i] == (guint8)(seq * 13 + i);
    }
    g_mutex_lock(&b->lock);
    if (ok && !b->seen[seq]) {
        b->seen[seq] = 1;
        b->n++;
    } else if (!ok) {
        b->bad++;
    }
    g_cond_broadcast(&b->cond);
    g_mutex_unlock(&b->lock);
}

static void on_packet(ipop_network_t *net, const void *packet, size_t len, void *ud)
{
    inbox *b = ud;

    g_mutex_lock(&b->lock);
    b->packets++;
    b->last_len = MIN(len, sizeof(b->last_packet));
    memcpy(b->last_packet, packet, b->last_len);
    g_cond_broadcast(&b->cond);
    g_mutex_unlock(&b->lock);
}

static bool wait_count(inbox *b, guint *field, guint want, int seconds)
{
    gint64 end = g_get_monotonic_time() + seconds * G_USEC_PER_SEC;
    bool ok;

    g_mutex_lock(&b->lock);
    while (*field < want && g_cond_wait_until(&b->cond, &b->lock, end))
        ;
    ok = *field >= want;
    g_mutex_unlock(&b->lock);
    return ok;
}

/* Sends N_DGRAMS of sizes 0..max from `from` to to_addr:port, a few in
 * flight at a time, and checks that all arrive intact at `box`. */
static void exchange(ipop_udp_t *from, const char *to_addr, uint16_t port, inbox *box, size_t max)
{
    guint8 buf[IPOP_MAX_PACKET];

    inbox_reset(box);
    for (guint32 seq = 0; seq < N_DGRAMS; seq++) {
        size_t len = seq == 0 ? max : 4 + (seq * 37) % (max - 3);
        int r;
        make_dgram(buf, seq, len);
        while ((r = ipop_udp_send(from, to_addr, port, buf, len)) == -ENOBUFS)
            g_usleep(100);
        g_assert_cmpint(r, ==, 0);
        g_assert_true(wait_count(box, &box->n, seq + 1 > 32 ? seq + 1 - 32 : 0, 10));
    }
    g_assert_true(wait_count(box, &box->n, N_DGRAMS, 10));
    g_mutex_lock(&box->lock);
    g_assert_cmpuint(box->bad, ==, 0);
    g_mutex_unlock(&box->lock);
}

typedef struct udp_pair {
    node a, b;
    inbox in_a, in_b;       /* what the endpoints and packet callbacks of a and b got */
    ipop_udp_t *ua, *ub;
    ipop_link_t *la, *lb;   /* a's link to b, b's link to a */
} udp_pair;

static void pair_up(udp_pair *p)
{
    node_init(&p->a, "a", A4, A6, NULL, NULL);
    node_init(&p->b, "b", B4, B6, NULL, NULL);
    inbox_init(&p->in_a, B4, B6, PORT_B);
    inbox_init(&p->in_b, A4, A6, PORT_A);
    g_assert_cmpint(ipop_network_set_packet_cb(p->a.net, on_packet, &p->in_a), ==, 0);
    g_assert_cmpint(ipop_network_set_packet_cb(p->b.net, on_packet, &p->in_b), ==, 0);
    /* before start on one side, after start on the other */
    g_assert_cmpint(ipop_udp_open(p->a.net, PORT_A, on_dgram, &p->in_a, &p->ua), ==, 0);
    pair_start(&p->a, &p->b);
    g_assert_cmpint(ipop_udp_open(p->b.net, PORT_B, on_dgram, &p->in_b, &p->ub), ==, 0);
    connect_pair(&p->a, &p->b);
    p->la = ipop_network_get_link(p->a.net, ipop_network_get_node_id(p->b.net));
    p->lb = ipop_network_get_link(p->b.net, ipop_network_get_node_id(p->a.net));
}

static void pair_down(udp_pair *p)
{
    p->ua = ipop_udp_close(p->ua);
    g_assert_null(p->ua);
    /* p->ub stays open: freeing the network frees it (ASan would see a leak) */
    node_clear(&p->a);
    node_clear(&p->b);
}

static ipop_link_stats_t stats(ipop_link_t *link)
{
    ipop_link_stats_t st = { .size = sizeof(st) };

    g_assert_cmpint(ipop_link_get_stats(link, &st), ==, 0);
    return st;
}

static void test_datagrams(void)
{
    udp_pair p;
    ipop_link_stats_t before, after;
    guint8 buf[IPOP_MAX_PACKET] = { 0 };

    pair_up(&p);
    before = stats(p.lb);
    exchange(p.ua, B4, PORT_B, &p.in_b, IPOP_DEFAULT_MTU - 28);
    exchange(p.ub, A4, PORT_A, &p.in_a, IPOP_DEFAULT_MTU - 28);
    exchange(p.ua, B6, PORT_B, &p.in_b, IPOP_DEFAULT_MTU - 48);
    exchange(p.ub, A6, PORT_A, &p.in_a, IPOP_DEFAULT_MTU - 48);
    /* uncompressed and mixed-case spellings of the same address */
    exchange(p.ua, "FD21:0:0:0:0:0:0:2", PORT_B, &p.in_b, 64);
    after = stats(p.lb);
    g_assert_cmpuint(after.rx_packets, ==, before.rx_packets + 3 * N_DGRAMS);
    g_assert_cmpuint(after.rx_drops, ==, before.rx_drops);

    /* one byte above what the MTU leaves, in each family */
    g_assert_cmpint(ipop_udp_send(p.ua, B4, PORT_B, buf, IPOP_DEFAULT_MTU - 27), ==, -EMSGSIZE);
    g_assert_cmpint(ipop_udp_send(p.ua, B6, PORT_B, buf, IPOP_DEFAULT_MTU - 47), ==, -EMSGSIZE);
    g_assert_cmpint(ipop_udp_send(p.ua, B4, PORT_B, buf, 70000), ==, -EMSGSIZE);
    /* bad arguments, and errors of the packet path */
    g_assert_cmpint(ipop_udp_send(p.ua, "10.21.0", PORT_B, buf, 4), ==, -EINVAL);
    g_assert_cmpint(ipop_udp_send(p.ua, "fd21::2/64", PORT_B, buf, 4), ==, -EINVAL);
    g_assert_cmpint(ipop_udp_send(p.ua, B4, 0, buf, 4), ==, -EINVAL);
    g_assert_cmpint(ipop_udp_send(p.ua, NULL, PORT_B, buf, 4), ==, -EINVAL);
    g_assert_cmpint(ipop_udp_send(p.ua, B4, PORT_B, NULL, 4), ==, -EINVAL);
    g_assert_cmpint(ipop_udp_send(NULL, B4, PORT_B, buf, 4), ==, -EINVAL);
    g_assert_cmpint(ipop_udp_send(p.ua, "10.21.0.77", PORT_B, buf, 4), ==, -EHOSTUNREACH);
    /* an empty datagram arrives as one */
    inbox_reset(&p.in_b);
    g_assert_cmpint(ipop_udp_send(p.ua, B4, PORT_B, NULL, 0), ==, 0);
    g_assert_true(wait_count(&p.in_b, &p.in_b.bad, 1, 10)); /* too short for a sequence number */

    /* -EADDRINUSE, then the port is free again after close */
    {
        ipop_udp_t *dup = NULL, *other = NULL;
        g_assert_cmpint(ipop_udp_open(p.b.net, PORT_B, on_dgram, &p.in_b, &dup), ==, -EADDRINUSE);
        g_assert_null(dup);
        g_assert_cmpint(ipop_udp_open(p.a.net, PORT_B, on_dgram, &p.in_a, &other), ==, 0); /* another network */
        other = ipop_udp_close(other);
        g_assert_cmpint(ipop_udp_open(p.a.net, PORT_B, on_dgram, &p.in_a, &other), ==, 0);
        g_assert_cmpint(ipop_udp_open(p.a.net, 0, on_dgram, &p.in_a, &dup), ==, -EINVAL);
        g_assert_cmpint(ipop_udp_open(p.a.net, 7, NULL, &p.in_a, &dup), ==, -EINVAL);
        g_assert_cmpint(ipop_udp_open(p.a.net, 7, on_dgram, &p.in_a, NULL), ==, -EINVAL);
        g_assert_cmpint(ipop_udp_open(NULL, 7, on_dgram, &p.in_a, &dup), ==, -EINVAL);
        g_assert_null(dup);
        ipop_udp_close(other);
        g_assert_null(ipop_udp_close(NULL));
    }
    pair_down(&p);
}

/* Packets that are not for an endpoint, and bad ones that are. */
static void test_others(void)
{
    udp_pair p;
    ipop__udp_dgram d;
    ipop__addr a4 = host(A4), b4 = host(B4), a6 = host(A6), b6 = host(B6);
    guint8 pkt[IPOP_MAX_PACKET];
    ipop_link_stats_t before, after;
    int n;

    pair_up(&p);

    /* A port with no endpoint: the packet callback gets the IP packet, whole. */
    g_assert_cmpint(ipop_udp_send(p.ua, B4, 7777, "to nobody", 9), ==, 0);
    g_assert_true(wait_count(&p.in_b, &p.in_b.packets, 1, 10));
    g_mutex_lock(&p.in_b.lock);
    g_assert_cmpint(ipop__udp_parse(p.in_b.last_packet, p.in_b.last_len, &d), ==, IPOP__UDP_OK);
    g_mutex_unlock(&p.in_b.lock);
    g_assert_cmpuint(d.sport, ==, PORT_A);
    g_assert_cmpuint(d.dport, ==, 7777);
    g_assert_cmpmem(d.data, d.len, "to nobody", 9);
    g_assert_cmpint(ipop_udp_send(p.ub, A6, 7777, "v6", 2), ==, 0);
    g_assert_true(wait_count(&p.in_a, &p.in_a.packets, 1, 10));
    /* Not UDP (the harness's packets): the packet callback too. */
    n = (int)build_packet(pkt, AF_INET, A4, B4, 1, 100);
    pkt[9] = 6;
    g_assert_cmpint(ipop_network_send_packet(p.a.net, pkt, (size_t)n), ==, 0);
    g_assert_true(wait_count(&p.in_b, &p.in_b.packets, 2, 10));
    /* A fragment of a datagram to an open port is not reassembled: it goes
     * to the packet callback as well. */
    n = ipop__udp_build(pkt, sizeof(pkt), &a4, PORT_A, &b4, PORT_B, "frag", 4);
    pkt[6] |= 0x20;
    pkt[10] = pkt[11] = 0;
    {
        uint16_t c = ipop__csum_finish(ipop__csum_add(0, pkt, 20));
        pkt[10] = (uint8_t)(c >> 8);
        pkt[11] = (uint8_t)c;
    }
    g_assert_cmpint(ipop_network_send_packet(p.a.net, pkt, (size_t)n), ==, 0);
    g_assert_true(wait_count(&p.in_b, &p.in_b.packets, 3, 10));

    /* Bad datagrams to an open port: dropped and counted, seen by no one.
     * (The link counts a packet after the packet callback returned.) */
    for (int i = 0; i < 500 && stats(p.lb).rx_packets < 3; i++)
        g_usleep(10000);
    before = stats(p.lb);
    g_assert_cmpuint(before.rx_packets, ==, 3);
    g_assert_cmpuint(ipop__udp_rx_drops(p.b.net), ==, 0);
    n = ipop__udp_build(pkt, sizeof(pkt), &a4, PORT_A, &b4, PORT_B, "corrupt", 7);
    pkt[n - 1] ^= 0x40; /* as if changed on the way */
    g_assert_cmpint(ipop_network_send_packet(p.a.net, pkt, (size_t)n), ==, 0);
    n = ipop__udp_build(pkt, sizeof(pkt), &a6, PORT_A, &b6, PORT_B, "corrupt", 7);
    pkt[47] ^= 1; /* the checksum itself */
    g_assert_cmpint(ipop_network_send_packet(p.a.net, pkt, (size_t)n), ==, 0);
    n = ipop__udp_build(pkt, sizeof(pkt), &a6, PORT_A, &b6, PORT_B, "nosum", 5);
    pkt[46] = pkt[47] = 0; /* IPv6 requires one */
    g_assert_cmpint(ipop_network_send_packet(p.a.net, pkt, (size_t)n), ==, 0);
    n = ipop__udp_build(pkt, sizeof(pkt), &a4, PORT_A, &b4, PORT_B, "long", 4);
    pkt[25] += 1; /* UDP length beyond the IP packet */
    g_assert_cmpint(ipop_network_send_packet(p.a.net, pkt, (size_t)n), ==, 0);
    for (int i = 0; i < 500 && ipop__udp_rx_drops(p.b.net) < 4; i++)
        g_usleep(10000);
    g_assert_cmpuint(ipop__udp_rx_drops(p.b.net), ==, 4);
    after = stats(p.lb);
    g_assert_cmpuint(after.rx_drops, ==, before.rx_drops + 4);
    g_assert_cmpuint(after.rx_packets, ==, before.rx_packets);
    /* and a good one after them still arrives; nothing else reached b */
    inbox_reset(&p.in_b);
    n = (int)make_dgram(pkt, 3, 40);
    g_assert_cmpint(ipop_udp_send(p.ua, B4, PORT_B, pkt, (size_t)n), ==, 0);
    g_assert_true(wait_count(&p.in_b, &p.in_b.n, 1, 10));
    g_mutex_lock(&p.in_b.lock);
    g_assert_cmpuint(p.in_b.bad, ==, 0);
    g_assert_cmpuint(p.in_b.packets, ==, 3);
    g_mutex_unlock(&p.in_b.lock);
    /* IPv4 without a checksum is accepted */
    n = ipop__udp_build(pkt, sizeof(pkt), &a4, PORT_A, &b4, PORT_B, "\x04\0\0\0", 4);
    pkt[26] = pkt[27] = 0;
    g_assert_cmpint(ipop_network_send_packet(p.a.net, pkt, (size_t)n), ==, 0);
    g_assert_true(wait_count(&p.in_b, &p.in_b.n, 2, 10));
    g_assert_cmpuint(ipop__udp_rx_drops(p.b.net), ==, 4);
    pair_down(&p);
}

static void test_mode_and_family(void)
{
    ipop_network_t *net = NULL;
    ipop_udp_t *sock = NULL;
    inbox box;

    inbox_init(&box, "", "", 0);
    g_assert_cmpint(ipop_network_new(&net, "tun"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "mode", "tun"), ==, 0);
    g_assert_cmpint(ipop_udp_open(net, 53, on_dgram, &box, &sock), ==, -EINVAL);
    g_assert_cmpint(ipop_network_set_option(net, "mode", "tap"), ==, 0);
    g_assert_cmpint(ipop_udp_open(net, 53, on_dgram, &box, &sock), ==, -EINVAL);
    g_assert_null(sock);
    /* mode none, an IPv4 address only: no IPv6 source to send from */
    g_assert_cmpint(ipop_network_set_option(net, "mode", "none"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "address", "10.22.0.1/24"), ==, 0);
    g_assert_cmpint(ipop_udp_open(net, 53, on_dgram, &box, &sock), ==, 0);
    g_assert_cmpint(ipop_udp_send(sock, "fd22::1", 53, "x", 1), ==, -EINVAL);
    g_assert_cmpint(ipop_udp_send(sock, "10.22.0.2", 53, "x", 1), ==, -ENOTCONN); /* not started */
    sock = ipop_udp_close(sock);
    net = ipop_network_free(net);
}

/* ---- closing while datagrams arrive ---- */

typedef struct churn {
    udp_pair *p;
    gint stop;
    gint sent;
    /* the endpoint under test, and what its callbacks saw */
    gint calls;             /* callbacks of the current endpoint */
    gint late;              /* callbacks that began after their endpoint's close returned */
    gint closed_gen;        /* generation whose close has returned */
    gint self_close;        /* the callback closes its own endpoint */
    ipop_udp_t *self;
} churn;

typedef struct gen_ud {
    churn *c;
    gint gen;
} gen_ud;

static gpointer sender(gpointer data)
{
    churn *c = data;
    guint8 buf[64];

    make_dgram(buf, 1, sizeof(buf));
    while (!g_atomic_int_get(&c->stop)) {
        int r = ipop_udp_send(c->p->ua, B4, PORT_B + 1, buf, sizeof(buf));
        g_assert_true(r == 0 || r == -ENOBUFS);
        if (r == 0)
            g_atomic_int_inc(&c->sent);
        if (g_atomic_int_get(&c->sent) % 16 == 0)
            g_usleep(200);
    }
    return NULL;
}

static void on_churn(ipop_udp_t *sock, const char *from, uint16_t port, const void *data, size_t len, void *ud)
{
    gen_ud *g = ud;
    churn *c = g->c;

    if (g_atomic_int_get(&c->closed_gen) >= g->gen)
        g_atomic_int_inc(&c->late);
    g_atomic_int_inc(&c->calls);
    g_usleep(300); /* widen the window in which a close may come */
    if (g_atomic_int_get(&c->closed_gen) >= g->gen)
        g_atomic_int_inc(&c->late); /* still running after close returned */
    if (g_atomic_int_get(&c->self_close) && g_atomic_pointer_compare_and_exchange(&c->self, sock, NULL)) {
        ipop_udp_close(sock); /* from inside its own callback: returns at once */
        g_atomic_int_set(&c->closed_gen, g->gen);
    }
}

static void wait_calls(churn *c, int want)
{
    for (int i = 0; i < 1000 && g_atomic_int_get(&c->calls) < want; i++)
        g_usleep(5000);
    g_assert_cmpint(g_atomic_int_get(&c->calls), >=, want);
}

static void test_close_while_flowing(void)
{
    udp_pair p;
    churn c = { .p = &p };
    gen_ud gens[60];
    GThread *t;
    ipop_udp_t *sock;

    pair_up(&p);
    t = g_thread_new("sender", sender, &c);
    for (int i = 0; i < 50; i++) {
        gens[i] = (gen_ud){ &c, i + 1 };
        g_atomic_int_set(&c.calls, 0);
        g_assert_cmpint(ipop_udp_open(p.b.net, PORT_B + 1, on_churn, &gens[i], &sock), ==, 0);
        wait_calls(&c, 1 + i % 4);
        if (i % 2)
            g_usleep(150); /* land in the middle of a callback, sometimes */
        ipop_udp_close(sock);
        g_atomic_int_set(&c.closed_gen, i + 1);
        g_usleep(1000);
    }
    /* closed from inside its own callback */
    for (int i = 50; i < 60; i++) {
        gens[i] = (gen_ud){ &c, i + 1 };
        g_atomic_int_set(&c.calls, 0);
        g_assert_cmpint(ipop_udp_open(p.b.net, PORT_B + 1, on_churn, &gens[i], &sock), ==, 0);
        g_atomic_pointer_set(&c.self, sock);
        g_atomic_int_set(&c.self_close, 1);
        for (int k = 0; k < 1000 && g_atomic_int_get(&c.closed_gen) < i + 1; k++)
            g_usleep(5000);
        g_assert_cmpint(g_atomic_int_get(&c.closed_gen), ==, i + 1);
        g_atomic_int_set(&c.self_close, 0);
        g_usleep(2000);
    }
    g_atomic_int_set(&c.stop, 1);
    g_thread_join(t);
    g_assert_cmpint(g_atomic_int_get(&c.late), ==, 0);
    g_assert_cmpint(g_atomic_int_get(&c.sent), >, 100);
    /* Once closed, the port's datagrams reach the packet callback again. */
    g_assert_true(wait_count(&p.in_b, &p.in_b.packets, 1, 10));
    pair_down(&p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_log_to_stderr(IPOP_LOG_WARNING);
    g_test_add_func("/udp/checksum", test_checksum);
    g_test_add_func("/udp/build", test_build);
    g_test_add_func("/udp/parse", test_parse);
    g_test_add_func("/udp/mode-and-family", test_mode_and_family);
    g_test_add_func("/udp/datagrams", test_datagrams);
    g_test_add_func("/udp/others", test_others);
    g_test_add_func("/udp/close-while-flowing", test_close_while_flowing);
    return g_test_run();
}
