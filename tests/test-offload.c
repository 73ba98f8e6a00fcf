/* SPDX-License-Identifier: MIT */
/* TUN offloads: a TCP super-segment as the kernel hands it over (a
 * virtio_net_hdr, then one IPv4 or IPv6 packet of up to 64 KB) comes out
 * as MTU-sized packets whose headers, flags and checksums are checked here
 * against a reference computed independently; malformed input is refused
 * with an error. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <linux/virtio_net.h>
#include <stdbool.h>
#include <string.h>

#include "offload.h"

#define FIN 0x01
#define PSH 0x08
#define ACK 0x10
#define CWR 0x80
/* room for the largest IPv6 packet after its virtio_net_hdr */
#define BIG (IPOP__VNET_HLEN + 40 + 65535)

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* Reference checksum: 16-bit big-endian words one by one, as RFC 1071
 * writes it.  Over data that includes its checksum field, a correct
 * checksum gives 0. */
static uint16_t ref_sum(const uint8_t *p, size_t len, uint32_t start)
{
    uint32_t s = start;

    for (size_t i = 0; i < len; i++)
        s += i % 2 ? p[i] : (uint32_t)p[i] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

static uint32_t pseudo(const uint8_t *ip, bool v6, size_t l4len, int proto)
{
    uint32_t s = v6 ? ref_sum(ip + 8, 32, 0) : ref_sum(ip + 12, 8, 0);
    return s + (uint32_t)proto + (uint32_t)l4len;
}

static bool ip4_csum_ok(const uint8_t *p)
{
    return ref_sum(p, (size_t)(p[0] & 15) * 4, 0) == 0xffff;
}

static bool l4_csum_ok(const uint8_t *p, size_t len, bool v6, size_t l4off, int proto)
{
    return ref_sum(p + l4off, len - l4off, pseudo(p, v6, len - l4off, proto)) == 0xffff;
}

static uint8_t payload_byte(size_t i)
{
    return (uint8_t)(i * 7 + (i >> 8));
}

/* A virtio_net_hdr in host byte order. */
static void vnet(uint8_t *b, uint8_t flags, uint8_t type, uint16_t hdr_len, uint16_t gso_size, uint16_t cstart,
                 uint16_t coff)
{
    b[0] = flags;
    b[1] = type;
    memcpy(b + 2, &hdr_len, 2);
    memcpy(b + 4, &gso_size, 2);
    memcpy(b + 6, &cstart, 2);
    memcpy(b + 8, &coff, 2);
}

/* A TCP super-segment (with a 12-byte timestamp option) after a GSO
 * virtio_net_hdr, checksum fields holding garbage as they might; returns
 * the length of buf. */
static size_t make_tcp(uint8_t *buf, bool v6, size_t payload, uint16_t mss, uint8_t flags)
{
    uint8_t *ip = buf + IPOP__VNET_HLEN, *th;
    size_t l4off = v6 ? 40 : 20, hlen = l4off + 32, len = hlen + payload;

    memset(buf, 0, IPOP__VNET_HLEN + hlen);
    vnet(buf, VIRTIO_NET_HDR_F_NEEDS_CSUM, v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4,
         (uint16_t)hlen, mss, (uint16_t)l4off, 16);
    if (v6) {
        ip[0] = 0x60;
        put16(ip + 4, (uint16_t)(len - 40));
        ip[6] = IPPROTO_TCP;
        ip[7] = 64;
        inet_pton(AF_INET6, "fd10::1", ip + 8);
        inet_pton(AF_INET6, "fd10::2", ip + 24);
    } else {
        ip[0] = 0x45;
        put16(ip + 2, (uint16_t)len);
        put16(ip + 4, 0xfffe); /* the id wraps within the segments */
        put16(ip + 6, 0x4000); /* DF */
        ip[8] = 64;
        ip[9] = IPPROTO_TCP;
        put16(ip + 10, 0x1234);
        inet_pton(AF_INET, "10.10.0.1", ip + 12);
        inet_pton(AF_INET, "10.10.0.2", ip + 16);
    }
    th = ip + l4off;
    put16(th, 40000);
    put16(th + 2, 5201);
    put16(th + 4, 0xffff); /* seq 0xfffff000: wraps too */
    put16(th + 6, 0xf000);
    put16(th + 8, 0x0102);
    th[12] = 8 << 4;
    th[13] = flags;
    put16(th + 14, 512);
    put16(th + 16, 0xbeef);
    th[20] = 1;
    th[21] = 1;
    th[22] = 8;
    th[23] = 10;
    for (size_t i = 0; i < payload; i++)
        ip[hlen + i] = payload_byte(i);
    return IPOP__VNET_HLEN + len;
}

/* Splits one super-segment with segments of at most cap bytes and checks
 * every field of every segment. */
static void check_split(bool v6, size_t payload, uint16_t mss, uint8_t flags, size_t cap)
{
    static uint8_t buf[BIG];
    uint8_t out[2048];
    size_t len = make_tcp(buf, v6, payload, mss, flags), l4off = v6 ? 40 : 20, hlen = l4off + 32, off = 0;
    unsigned want = (unsigned)((payload + mss - 1) / mss), i = 0;
    ipop__gso g;
    int n;

    g_assert_cmpint(ipop__gso_begin(&g, buf, len), ==, (int)want);
    while ((n = ipop__gso_next(&g, out, cap)) > 0) {
        size_t pl = (size_t)n - hlen;
        bool last = i + 1 == want;
        uint8_t *th = out + l4off, f = th[13];

        g_assert_cmpuint(i, <, want);
        g_assert_cmpuint((size_t)n, <=, cap);
        g_assert_cmpuint(pl, ==, last ? payload - off : mss);
        if (v6) {
            g_assert_cmpuint(get16(out + 4), ==, (size_t)n - 40);
        } else {
            g_assert_cmpuint(get16(out + 2), ==, (size_t)n);
            g_assert_cmpuint(get16(out + 4), ==, (uint16_t)(0xfffe + i));
            g_assert_cmphex(get16(out + 6), ==, 0x4000);
            g_assert_true(ip4_csum_ok(out));
        }
        g_assert_cmphex(get32(th + 4), ==, 0xfffff000u + (uint32_t)off);
        g_assert_cmphex(get32(th + 8), ==, 0x01020000);
        g_assert_cmphex(f & ACK, ==, flags & ACK);
        g_assert_cmphex(f & (FIN | PSH), ==, last ? (flags & (FIN | PSH)) : 0);
        g_assert_cmphex(f & CWR, ==, i == 0 ? (flags & CWR) : 0);
        g_assert_true(l4_csum_ok(out, (size_t)n, v6, l4off, IPPROTO_TCP));
        g_assert_cmpmem(th + 20, 12, buf + IPOP__VNET_HLEN + l4off + 20, 12); /* options as they were */
        for (size_t k = 0; k < pl; k++)
            g_assert_cmpuint(out[hlen + k], ==, payload_byte(off + k));
        off += pl;
        i++;
    }
    g_assert_cmpint(n, ==, 0);
    g_assert_cmpuint(i, ==, want);
    g_assert_cmpuint(off, ==, payload);
    g_assert_cmpint(ipop__gso_next(&g, out, cap), ==, 0); /* stays done */
}

static void test_split(void)
{
    for (int v6 = 0; v6 <= 1; v6++) {
        /* MTU 1400: MSS 1360 minus 12 bytes of timestamps. */
        uint16_t mss = v6 ? 1328 : 1348;
        size_t mtu = 1400;

        check_split(v6, 64000, mss, ACK | PSH | FIN | CWR, mtu);           /* 48 segments, a short last */
        check_split(v6, 65535 - (v6 ? 72 : 52) + (v6 ? 40 : 0), mss, ACK, mtu); /* the largest */
        check_split(v6, (size_t)mss * 5, mss, ACK | PSH, mtu);              /* no short last */
        check_split(v6, mss, mss, ACK | PSH | CWR, mtu);                   /* exactly one */
        check_split(v6, mss + 1u, mss, ACK | FIN, mtu);                    /* a last of 1 byte */
        check_split(v6, 1, mss, ACK | PSH, mtu);                           /* less than one */
        check_split(v6, 10000, 536, ACK, mtu);                             /* a small MSS */
    }
}

/* Segments one byte larger than the room for them are refused, not cut. */
static void test_mtu(void)
{
    static uint8_t buf[BIG];
    uint8_t out[2048];
    ipop__gso g;
    size_t len = make_tcp(buf, false, 5000, 1348, ACK);

    g_assert_cmpint(ipop__gso_begin(&g, buf, len), ==, 4);
    g_assert_cmpint(ipop__gso_next(&g, out, 1399), ==, -EMSGSIZE);
    g_assert_cmpint(ipop__gso_next(&g, out, 1400), ==, 1400); /* at the MTU */
    check_split(false, 5000, 1348, ACK, 1401);                  /* above it */

    /* A single packet (no GSO) larger than the room. */
    len = make_tcp(buf, false, 1500, 1348, ACK);
    vnet(buf, 0, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 0, 0);
    g_assert_cmpint(ipop__gso_begin(&g, buf, len), ==, 1);
    g_assert_cmpint(ipop__gso_next(&g, out, 1400), ==, -EMSGSIZE);
    g_assert_cmpint(ipop__gso_next(&g, out, sizeof(out)), ==, (int)len - IPOP__VNET_HLEN);
    g_assert_cmpmem(out, len - IPOP__VNET_HLEN, buf + IPOP__VNET_HLEN, len - IPOP__VNET_HLEN);
    g_assert_cmpint(ipop__gso_next(&g, out, sizeof(out)), ==, 0);
}

/* A single packet whose checksum the kernel left to us: the field holds the
 * pseudo-header sum, and csum_start/csum_offset say where it goes. */
static void check_needs_csum(bool v6, int proto, size_t payload)
{
    uint8_t buf[IPOP__VNET_HLEN + 1500], out[1500];
    uint8_t *ip = buf + IPOP__VNET_HLEN;
    size_t l4off = v6 ? 40 : 20, len, l4len;
    uint16_t coff = proto == IPPROTO_TCP ? 16 : 6;
    ipop__gso g;

    len = make_tcp(buf, v6, payload, 1000, ACK | PSH) - IPOP__VNET_HLEN;
    l4len = len - l4off;
    if (proto == IPPROTO_UDP) {
        ip[v6 ? 6 : 9] = IPPROTO_UDP;
        put16(ip + l4off + 4, (uint16_t)l4len);
    }
    /* IPv4 header checksum as the kernel would have it: valid. */
    if (!v6) {
        put16(ip + 10, 0);
        put16(ip + 10, (uint16_t)~ref_sum(ip, 20, 0));
    }
    vnet(buf, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, 0, 0, (uint16_t)l4off, coff);
    put16(ip + l4off + coff, ref_sum(NULL, 0, pseudo(ip, v6, l4len, proto)));
    g_assert_false(l4_csum_ok(ip, len, v6, l4off, proto));
    g_assert_cmpint(ipop__gso_begin(&g, buf, IPOP__VNET_HLEN + len), ==, 1);
    g_assert_cmpint(ipop__gso_next(&g, out, sizeof(out)), ==, (int)len);
    g_assert_true(l4_csum_ok(out, len, v6, l4off, proto));
    g_assert_true(l4_csum_ok(ip, len, v6, l4off, proto)); /* done in place */
    if (!v6)
        g_assert_true(ip4_csum_ok(out));
    g_assert_cmpint(ipop__gso_next(&g, out, sizeof(out)), ==, 0);
}

static void test_needs_csum(void)
{
    for (int v6 = 0; v6 <= 1; v6++) {
        check_needs_csum(v6, IPPROTO_TCP, 1000);
        check_needs_csum(v6, IPPROTO_TCP, 999); /* odd length */
        check_needs_csum(v6, IPPROTO_UDP, 1001);
        check_needs_csum(v6, IPPROTO_UDP, 0);
    }
}

/* A packet with no flags passes through unchanged. */
static void test_plain(void)
{
    uint8_t buf[IPOP__VNET_HLEN + 200], copy[sizeof(buf)], out[200];
    size_t len = make_tcp(buf, false, 100, 1000, ACK);
    ipop__gso g;

    vnet(buf, 0, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 0, 0);
    memcpy(copy, buf, len);
    g_assert_cmpint(ipop__gso_begin(&g, buf, len), ==, 1);
    g_assert_cmpint(ipop__gso_next(&g, out, sizeof(out)), ==, (int)len - IPOP__VNET_HLEN);
    g_assert_cmpmem(out, len - IPOP__VNET_HLEN, copy + IPOP__VNET_HLEN, len - IPOP__VNET_HLEN);
    g_assert_cmpmem(buf, len, copy, len);
}

static void expect_bad(uint8_t *buf, size_t len, int err, const char *what)
{
    ipop__gso g;
    int r = ipop__gso_begin(&g, buf, len);

    if (r != err)
        g_error("%s: expected %d, got %d", what, err, r);
}

static void test_bad(void)
{
    static uint8_t buf[BIG];
    size_t len;
    ipop__gso g;

    g_assert_cmpint(ipop__gso_begin(NULL, buf, 100), ==, -EINVAL);
    g_assert_cmpint(ipop__gso_begin(&g, NULL, 100), ==, -EINVAL);
    for (size_t n = 0; n <= IPOP__VNET_HLEN; n++)
        expect_bad(buf, n, -EINVAL, "a header without a packet");

    len = make_tcp(buf, false, 3000, 1348, ACK);
    /* Every truncation of a super-segment is refused. */
    for (size_t n = IPOP__VNET_HLEN + 1; n < len; n++)
        expect_bad(buf, n, -EINVAL, "a truncated IPv4 super-segment");
    buf[1] = VIRTIO_NET_HDR_GSO_UDP;
    expect_bad(buf, len, -EPROTONOSUPPORT, "UFO");
    buf[1] = 5; /* VIRTIO_NET_HDR_GSO_UDP_L4 */
    expect_bad(buf, len, -EPROTONOSUPPORT, "USO");
    buf[1] = 0x42;
    expect_bad(buf, len, -EPROTONOSUPPORT, "an unknown GSO type");
    buf[1] = VIRTIO_NET_HDR_GSO_TCPV6;
    expect_bad(buf, len, -EINVAL, "TCPv6 GSO on an IPv4 packet");
    buf[1] = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
    g_assert_cmpint(ipop__gso_begin(&g, buf, len), ==, 3); /* the ECN bit is fine */
    buf[4] = buf[5] = 0;
    expect_bad(buf, len, -EINVAL, "gso_size 0");

    len = make_tcp(buf, false, 3000, 1348, ACK);
    buf[IPOP__VNET_HLEN + 9] = IPPROTO_UDP;
    expect_bad(buf, len, -EPROTONOSUPPORT, "TCPv4 GSO on UDP");
    len = make_tcp(buf, false, 3000, 1348, ACK);
    buf[IPOP__VNET_HLEN + 6] = 0x20; /* MF: a fragment */
    expect_bad(buf, len, -EPROTONOSUPPORT, "a fragment");
    len = make_tcp(buf, false, 3000, 1348, ACK);
    buf[IPOP__VNET_HLEN] = 0x44;
    expect_bad(buf, len, -EINVAL, "IHL 4");
    len = make_tcp(buf, false, 3000, 1348, ACK);
    buf[IPOP__VNET_HLEN + 20 + 12] = 4 << 4;
    expect_bad(buf, len, -EINVAL, "TCP data offset 4");
    len = make_tcp(buf, false, 20, 1348, ACK);
    buf[IPOP__VNET_HLEN + 20 + 12] = 15 << 4; /* 60 bytes: 32 of options and 20 of payload, 8 short */
    expect_bad(buf, len, -EINVAL, "a TCP header past the end");
    len = make_tcp(buf, false, 29, 1348, ACK);
    buf[IPOP__VNET_HLEN + 20 + 12] = 15 << 4;
    g_assert_cmpint(ipop__gso_begin(&g, buf, len), ==, 1); /* 60 bytes of header and 1 of payload */
    len = make_tcp(buf, false, 0, 1348, ACK);
    expect_bad(buf, len, -EINVAL, "a super-segment with no payload");
    len = make_tcp(buf, false, 3000, 1348, ACK);
    buf[IPOP__VNET_HLEN + 2] ^= 0x01;
    expect_bad(buf, len, -EINVAL, "an IPv4 length that disagrees");

    len = make_tcp(buf, true, 3000, 1328, ACK);
    for (size_t n = IPOP__VNET_HLEN + 1; n < len; n++)
        expect_bad(buf, n, -EINVAL, "a truncated IPv6 super-segment");
    buf[IPOP__VNET_HLEN + 6] = 0; /* hop-by-hop options */
    expect_bad(buf, len, -EPROTONOSUPPORT, "IPv6 extension headers");
    len = make_tcp(buf, true, 3000, 1328, ACK);
    buf[1] = VIRTIO_NET_HDR_GSO_TCPV4;
    expect_bad(buf, len, -EINVAL, "TCPv4 GSO on an IPv6 packet");

    /* NEEDS_CSUM with offsets outside the packet. */
    len = make_tcp(buf, false, 100, 1348, ACK);
    vnet(buf, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, 0, 0, (uint16_t)(len - IPOP__VNET_HLEN), 0);
    expect_bad(buf, len, -EINVAL, "csum_start at the end");
    vnet(buf, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 20, (uint16_t)(len - IPOP__VNET_HLEN - 21));
    expect_bad(buf, len, -EINVAL, "a checksum field across the end");
    vnet(buf, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 0xffff, 0xffff);
    expect_bad(buf, len, -EINVAL, "offsets of 0xffff");
    vnet(buf, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 20, (uint16_t)(len - IPOP__VNET_HLEN - 22));
    g_assert_cmpint(ipop__gso_begin(&g, buf, len), ==, 1); /* the last two bytes: fine */
}

/* ---- GRO ---- */

#define NSEG 64

/* Splits a super-segment into segs[] (each 2048 bytes of room); returns
 * how many. */
static unsigned split(bool v6, size_t payload, uint16_t mss, uint8_t flags, uint8_t (*segs)[2048], size_t *lens)
{
    static uint8_t buf[BIG];
    size_t len = make_tcp(buf, v6, payload, mss, flags);
    ipop__gso g;
    unsigned n = 0;
    int r;

    g_assert_cmpint(ipop__gso_begin(&g, buf, len), >, 0);
    while ((r = ipop__gso_next(&g, segs[n], 2048)) > 0) {
        g_assert_cmpuint(n, <, NSEG);
        lens[n++] = (size_t)r;
    }
    return n;
}

/* Segments split from a super-segment merge back into it: the result,
 * split again, gives the very same segments. */
static void check_gro_roundtrip(bool v6, size_t payload, uint16_t mss)
{
    static uint8_t segs[NSEG][2048], again[2048], gbuf[IPOP__GRO_BUF];
    size_t lens[NSEG], l4off = v6 ? 40 : 20, hlen = l4off + 32, n, l4len;
    unsigned count = split(v6, payload, mss, ACK | PSH, segs, lens), i = 0;
    ipop__gro gro = { .buf = gbuf };
    const uint8_t *ip = gbuf + IPOP__VNET_HLEN;
    uint16_t v;
    ipop__gso g;
    int r;

    for (unsigned k = 0; k < count; k++)
        g_assert_cmpint(ipop__gro_add(&gro, segs[k], lens[k]), ==, 1);
    n = ipop__gro_finish(&gro);
    g_assert_cmpuint(n, ==, IPOP__VNET_HLEN + hlen + payload);
    g_assert_cmpuint(ipop__gro_finish(&gro), ==, 0); /* emptied */
    l4len = n - IPOP__VNET_HLEN - l4off;
    if (count > 1) {
        g_assert_cmpuint(gbuf[0], ==, VIRTIO_NET_HDR_F_NEEDS_CSUM);
        g_assert_cmpuint(gbuf[1], ==, v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4);
        memcpy(&v, gbuf + 2, 2);
        g_assert_cmpuint(v, ==, hlen);
        memcpy(&v, gbuf + 4, 2);
        g_assert_cmpuint(v, ==, mss);
        memcpy(&v, gbuf + 6, 2);
        g_assert_cmpuint(v, ==, l4off);
        memcpy(&v, gbuf + 8, 2);
        g_assert_cmpuint(v, ==, 16);
        /* the TCP checksum field holds the pseudo-header sum */
        g_assert_cmphex(get16(ip + l4off + 16), ==, ref_sum(NULL, 0, pseudo(ip, v6, l4len, IPPROTO_TCP)));
        if (!v6)
            g_assert_true(ip4_csum_ok(ip));
    } else {
        for (int k = 0; k < IPOP__VNET_HLEN; k++)
            g_assert_cmpuint(gbuf[k], ==, 0);
        g_assert_cmpmem(ip, lens[0], segs[0], lens[0]);
    }
    g_assert_cmpuint(v6 ? get16(ip + 4) + 40u : get16(ip + 2), ==, n - IPOP__VNET_HLEN);
    for (size_t k = 0; k < payload; k++)
        g_assert_cmpuint(ip[hlen + k], ==, payload_byte(k));

    g_assert_cmpint(ipop__gso_begin(&g, gbuf, n), ==, (int)count);
    while ((r = ipop__gso_next(&g, again, sizeof(again))) > 0) {
        g_assert_cmpmem(again, (size_t)r, segs[i], lens[i]);
        i++;
    }
    g_assert_cmpuint(i, ==, count);
}

static void test_gro_roundtrip(void)
{
    for (int v6 = 0; v6 <= 1; v6++) {
        check_gro_roundtrip(v6, 20000, v6 ? 1328 : 1348);
        check_gro_roundtrip(v6, 1348 * 3, 1348);      /* no short last */
        check_gro_roundtrip(v6, 700, 1348);           /* one segment: as it came */
        check_gro_roundtrip(v6, 65535 - 52, 1348);    /* the largest IPv4 packet (IPv6: 20 bytes less) */
    }
}

static void test_gro_refuse(void)
{
    static uint8_t segs[NSEG][2048], gbuf[IPOP__GRO_BUF], pkt[2048];
    size_t lens[NSEG];
    ipop__gro gro = { .buf = gbuf };
    unsigned count = split(false, 10 * 1348, 1348, ACK, segs, lens), k;

    g_assert_cmpuint(ipop__gro_finish(&gro), ==, 0);
    /* Nothing pending: only a TCP segment with payload and ACK (PSH) starts one. */
    memcpy(pkt, segs[0], lens[0]);
    pkt[9] = IPPROTO_UDP;
    g_assert_cmpint(ipop__gro_add(&gro, pkt, lens[0]), ==, 0);
    memcpy(pkt, segs[0], lens[0]);
    pkt[20 + 13] = 0x02 | ACK; /* SYN */
    g_assert_cmpint(ipop__gro_add(&gro, pkt, lens[0]), ==, 0);
    pkt[20 + 13] = 0; /* no ACK */
    g_assert_cmpint(ipop__gro_add(&gro, pkt, lens[0]), ==, 0);
    memcpy(pkt, segs[0], 52);
    put16(pkt + 2, 52); /* no payload */
    g_assert_cmpint(ipop__gro_add(&gro, pkt, 52), ==, 0);
    memcpy(pkt, segs[0], lens[0]);
    pkt[0] = 0x46; /* IPv4 options */
    g_assert_cmpint(ipop__gro_add(&gro, pkt, lens[0]), ==, 0);
    g_assert_cmpint(ipop__gro_add(&gro, segs[0], lens[0] - 1), ==, 0); /* a length that disagrees */
    g_assert_cmpuint(gro.len, ==, 0);

    g_assert_cmpint(ipop__gro_add(&gro, segs[0], lens[0]), ==, 1);
    g_assert_cmpint(ipop__gro_add(&gro, segs[2], lens[2]), ==, 0); /* a gap */
    g_assert_cmpint(ipop__gro_add(&gro, segs[0], lens[0]), ==, 0); /* a repeat */
    memcpy(pkt, segs[1], lens[1]);
    pkt[20 + 1] ^= 1; /* another port */
    g_assert_cmpint(ipop__gro_add(&gro, pkt, lens[1]), ==, 0);
    memcpy(pkt, segs[1], lens[1]);
    pkt[20 + 11] ^= 1; /* another ACK number */
    g_assert_cmpint(ipop__gro_add(&gro, pkt, lens[1]), ==, 0);
    memcpy(pkt, segs[1], lens[1]);
    pkt[20 + 25] ^= 1; /* other options (timestamps) */
    g_assert_cmpint(ipop__gro_add(&gro, pkt, lens[1]), ==, 0);
    memcpy(pkt, segs[1], lens[1]);
    pkt[8] = 63; /* another TTL */
    g_assert_cmpint(ipop__gro_add(&gro, pkt, lens[1]), ==, 0);
    memcpy(pkt, segs[1], lens[1]);
    pkt[20 + 14] = 9; /* a new window: joins, and is the one kept */
    g_assert_cmpint(ipop__gro_add(&gro, pkt, lens[1]), ==, 1);
    g_assert_cmpuint(gbuf[IPOP__VNET_HLEN + 20 + 14], ==, 9);
    memcpy(pkt, segs[2], lens[2]);
    pkt[20 + 13] |= PSH; /* PSH joins, and ends the merge */
    g_assert_cmpint(ipop__gro_add(&gro, pkt, lens[2]), ==, 1);
    g_assert_cmpint(ipop__gro_add(&gro, segs[3], lens[3]), ==, 0);
    g_assert_cmpuint(ipop__gro_finish(&gro), ==, IPOP__VNET_HLEN + 52 + 3 * 1348u);

    /* A short segment ends the merge; a longer one than the first never joins. */
    g_assert_cmpint(ipop__gro_add(&gro, segs[count - 1], lens[count - 1]), ==, 1);
    ipop__gro_finish(&gro);
    g_assert_cmpint(ipop__gro_add(&gro, segs[0], lens[0]), ==, 1);
    memcpy(pkt, segs[1], lens[1] - 100);
    put16(pkt + 2, (uint16_t)(lens[1] - 100));
    g_assert_cmpint(ipop__gro_add(&gro, pkt, lens[1] - 100), ==, 1);
    g_assert_cmpint(ipop__gro_add(&gro, segs[2], lens[2]), ==, 0);
    ipop__gro_finish(&gro);

    /* No more than an IPv4 packet's 64 KB: 48 segments of 1348 fit, the
     * 49th (the same flow, next in sequence) does not. */
    count = split(false, 48 * 1348, 1348, ACK, segs, lens);
    for (k = 0; k < count; k++)
        g_assert_cmpint(ipop__gro_add(&gro, segs[k], lens[k]), ==, 1);
    memcpy(pkt, segs[0], lens[0]);
    put16(pkt + 20 + 4, (uint16_t)((0xfffff000u + 48 * 1348) >> 16));
    put16(pkt + 20 + 6, (uint16_t)(0xfffff000u + 48 * 1348));
    g_assert_cmpint(ipop__gro_add(&gro, pkt, lens[0]), ==, 0);
    g_assert_cmpuint(ipop__gro_finish(&gro), ==, IPOP__VNET_HLEN + 52 + 48 * 1348u);
    g_assert_cmpint(ipop__gro_add(&gro, pkt, lens[0]), ==, 1); /* and starts the next */
}

/* ---- TAP: the same with an Ethernet header in front ---- */

static const uint8_t eth_hdr[2][IPOP__ETH_HLEN] = {
    { 0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00 },
    { 0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x86, 0xdd },
};

/* The TUN super-segment in buf (len bytes) as a TAP device hands it over:
 * an Ethernet header after the virtio_net_hdr, whose offsets then count
 * from the frame's start.  Returns the new length. */
static size_t to_frame(uint8_t *buf, size_t len, bool v6)
{
    uint16_t v;

    memmove(buf + IPOP__VNET_HLEN + IPOP__ETH_HLEN, buf + IPOP__VNET_HLEN, len - IPOP__VNET_HLEN);
    memcpy(buf + IPOP__VNET_HLEN, eth_hdr[v6], IPOP__ETH_HLEN);
    for (int off = 2; off <= 6; off += 4) { /* hdr_len, csum_start */
        memcpy(&v, buf + off, 2);
        v = (uint16_t)(v + IPOP__ETH_HLEN);
        memcpy(buf + off, &v, 2);
    }
    return len + IPOP__ETH_HLEN;
}

/* A TAP super-frame splits into frames that are each the Ethernet header
 * and the very packet the TUN split gives (whose every field test_split
 * checks). */
static void test_tap_split(void)
{
    static uint8_t tun[BIG], tap[BIG + IPOP__ETH_HLEN];
    uint8_t a[2048], b[2048];

    for (int v6 = 0; v6 <= 1; v6++) {
        uint16_t mss = v6 ? 1328 : 1348; /* MTU 1400 */
        size_t sizes[] = { 64000, (size_t)mss * 5, 1, 65535 - 52 - (v6 ? 20 : 0) };
        for (size_t k = 0; k < G_N_ELEMENTS(sizes); k++) {
            size_t len = make_tcp(tun, v6, sizes[k], mss, ACK | PSH | CWR), n = 0;
            ipop__gso gt, gf;
            int rt, rf;

            memcpy(tap, tun, len);
            len = to_frame(tap, len, v6);
            rt = ipop__gso_begin(&gt, tun, len - IPOP__ETH_HLEN);
            g_assert_cmpint(ipop__gso_begin_l2(&gf, tap, len, IPOP__ETH_HLEN), ==, rt);
            while ((rt = ipop__gso_next(&gt, a, 1400)) > 0) {
                rf = ipop__gso_next(&gf, b, 1400 + IPOP__ETH_HLEN);
                g_assert_cmpint(rf, ==, rt + IPOP__ETH_HLEN);
                g_assert_cmpmem(b, IPOP__ETH_HLEN, eth_hdr[v6], IPOP__ETH_HLEN);
                g_assert_cmpmem(b + IPOP__ETH_HLEN, (size_t)rt, a, (size_t)rt);
                n++;
            }
            g_assert_cmpint(rt, ==, 0);
            g_assert_cmpint(ipop__gso_next(&gf, b, sizeof(b)), ==, 0);
            g_assert_cmpuint(n, ==, (sizes[k] + mss - 1) / mss);
            /* the MTU counts the link header too */
            if (sizes[k] > mss) {
                g_assert_cmpint(ipop__gso_begin_l2(&gf, tap, len, IPOP__ETH_HLEN), >, 1);
                g_assert_cmpint(ipop__gso_next(&gf, b, 1400 + IPOP__ETH_HLEN - 1), ==, -EMSGSIZE);
            }
        }
    }
}

/* Frames a TAP super-frame cannot be: refused, not split. */
static void test_tap_bad(void)
{
    static uint8_t buf[BIG + IPOP__ETH_HLEN];
    size_t len;
    ipop__gso g;

    len = to_frame(buf, make_tcp(buf, false, 5000, 1348, ACK), false);
    g_assert_cmpint(ipop__gso_begin_l2(&g, buf, len, 7), ==, -EINVAL);          /* not a link header we know */
    put16(buf + IPOP__VNET_HLEN + 12, 0x86dd);                                 /* IPv6 by type, IPv4 by GSO */
    g_assert_cmpint(ipop__gso_begin_l2(&g, buf, len, IPOP__ETH_HLEN), ==, -EPROTONOSUPPORT);
    put16(buf + IPOP__VNET_HLEN + 12, 0x8100);                                 /* a VLAN tag */
    g_assert_cmpint(ipop__gso_begin_l2(&g, buf, len, IPOP__ETH_HLEN), ==, -EPROTONOSUPPORT);
    put16(buf + IPOP__VNET_HLEN + 12, 0x0800);
    g_assert_cmpint(ipop__gso_begin_l2(&g, buf, len, IPOP__ETH_HLEN), ==, 4);
    g_assert_cmpint(ipop__gso_begin_l2(&g, buf, IPOP__VNET_HLEN + IPOP__ETH_HLEN, IPOP__ETH_HLEN), ==, -EINVAL);
    /* the IP packet's length must agree with the frame's */
    g_assert_cmpint(ipop__gso_begin_l2(&g, buf, len - 1, IPOP__ETH_HLEN), ==, -EINVAL);

    /* A frame without GSO (ARP, say) passes as it is. */
    memset(buf, 0, IPOP__VNET_HLEN);
    memcpy(buf + IPOP__VNET_HLEN, eth_hdr[0], IPOP__ETH_HLEN);
    put16(buf + IPOP__VNET_HLEN + 12, 0x0806);
    memset(buf + IPOP__VNET_HLEN + IPOP__ETH_HLEN, 0xab, 28);
    g_assert_cmpint(ipop__gso_begin_l2(&g, buf, IPOP__VNET_HLEN + 42, IPOP__ETH_HLEN), ==, 1);
    {
        uint8_t out[64];
        g_assert_cmpint(ipop__gso_next(&g, out, sizeof(out)), ==, 42);
        g_assert_cmpmem(out, 42, buf + IPOP__VNET_HLEN, 42);
    }
}

/* TAP frames split from a super-frame merge back into it (link header
 * kept, the virtio_net_hdr's offsets from the frame's start), and split
 * again into the same frames; a frame with other addresses, or a type
 * that is not its IP version, does not join. */
static void test_tap_gro(void)
{
    static uint8_t buf[BIG + IPOP__ETH_HLEN], gbuf[IPOP__GRO_BUF], frames[NSEG][2048], again[2048];
    size_t lens[NSEG], n;
    uint16_t v;

    for (int v6 = 0; v6 <= 1; v6++) {
        size_t l4off = v6 ? 40 : 20, hlen = l4off + 32, len;
        ipop__gro gro = { .buf = gbuf, .l2 = IPOP__ETH_HLEN };
        ipop__gso g;
        unsigned count = 0, i = 0;
        int r;

        len = to_frame(buf, make_tcp(buf, v6, 20000, 1348, ACK | PSH), v6);
        g_assert_cmpint(ipop__gso_begin_l2(&g, buf, len, IPOP__ETH_HLEN), >, 1);
        while ((r = ipop__gso_next(&g, frames[count], 2048)) > 0)
            lens[count++] = (size_t)r;
        for (unsigned k = 0; k < count; k++)
            g_assert_cmpint(ipop__gro_add(&gro, frames[k], lens[k]), ==, 1);
        n = ipop__gro_finish(&gro);
        g_assert_cmpuint(n, ==, IPOP__VNET_HLEN + IPOP__ETH_HLEN + hlen + 20000);
        g_assert_cmpmem(gbuf + IPOP__VNET_HLEN, IPOP__ETH_HLEN, eth_hdr[v6], IPOP__ETH_HLEN);
        memcpy(&v, gbuf + 2, 2);
        g_assert_cmpuint(v, ==, IPOP__ETH_HLEN + hlen);
        memcpy(&v, gbuf + 6, 2);
        g_assert_cmpuint(v, ==, IPOP__ETH_HLEN + l4off);
        g_assert_cmpint(ipop__gso_begin_l2(&g, gbuf, n, IPOP__ETH_HLEN), ==, (int)count);
        while ((r = ipop__gso_next(&g, again, sizeof(again))) > 0) {
            g_assert_cmpmem(again, (size_t)r, frames[i], lens[i]);
            i++;
        }
        g_assert_cmpuint(i, ==, count);

        /* another source MAC: does not join */
        g_assert_cmpint(ipop__gro_add(&gro, frames[0], lens[0]), ==, 1);
        memcpy(again, frames[1], lens[1]);
        again[11] ^= 1;
        g_assert_cmpint(ipop__gro_add(&gro, again, lens[1]), ==, 0);
        g_assert_cmpint(ipop__gro_add(&gro, frames[1], lens[1]), ==, 1);
        ipop__gro_finish(&gro);
        /* the type of the other IP version, or a frame no longer than its header: starts nothing */
        memcpy(again, frames[0], lens[0]);
        put16(again + 12, v6 ? 0x0800 : 0x86dd);
        g_assert_cmpint(ipop__gro_add(&gro, again, lens[0]), ==, 0);
        g_assert_cmpint(ipop__gro_add(&gro, frames[0], IPOP__ETH_HLEN), ==, 0);
        g_assert_cmpuint(ipop__gro_finish(&gro), ==, 0);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/offload/split", test_split);
    g_test_add_func("/offload/mtu", test_mtu);
    g_test_add_func("/offload/needs-csum", test_needs_csum);
    g_test_add_func("/offload/plain", test_plain);
    g_test_add_func("/offload/bad", test_bad);
    g_test_add_func("/offload/gro-roundtrip", test_gro_roundtrip);
    g_test_add_func("/offload/gro-refuse", test_gro_refuse);
    g_test_add_func("/offload/tap-split", test_tap_split);
    g_test_add_func("/offload/tap-bad", test_tap_bad);
    g_test_add_func("/offload/tap-gro", test_tap_gro);
    return g_test_run();
}
