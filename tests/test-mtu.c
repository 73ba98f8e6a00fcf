/* SPDX-License-Identifier: MIT */
/* The MTU on the data path (lib/ptb.c): the overhead the default MTU is
 * derived from, measured on a record sealed by the real record code; the
 * ICMP "too big" answers, their checksums verified from scratch; TCP MSS
 * clamping with the checksum checked from scratch. */
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>

#include "bytes.h"
#include "frame.h"
#include "ptb.h"
#include "record.h"

/* ---- overhead ---- */

/* Seals a DATA (or RELAY) frame around n payload bytes with record.c and
 * returns the UDP payload's length. */
static size_t sealed_len(size_t n, bool relay)
{
    static const uint8_t key[32] = { 1 }, salt[4] = { 2 };
    uint8_t frame[REC_MAX + IPOP__FRAME_RELAY_HDR], out[2048], pkt[IPOP_MAX_PACKET] = { 0x45 };
    uint8_t id[IPOP__SHORT_ID_LEN] = { 0 };
    ipop__rec r;
    int f, len;

    g_assert_cmpint(ipop__rec_init_raw(&r, GNUTLS_CIPHER_AES_256_GCM, key, salt, 1, 7, 0), ==, 0);
    if (relay) {
        f = ipop__frame_put_relay(frame, sizeof(frame), IPOP__FRAME_RELAY, id, pkt, n);
    } else {
        memcpy(frame + IPOP__FRAME_HDR, pkt, n);
        f = ipop__frame_put_data_hdr(frame, sizeof(frame), n);
    }
    g_assert_cmpint(f, >, 0);
    len = ipop__rec_seal(&r, frame, (size_t)f, out, sizeof(out));
    g_assert_cmpint(len, >, 0);
    ipop__rec_clear(&r);
    return (size_t)len;
}

static void test_overhead(void)
{
    size_t sizes[] = { 1, 100, IPOP_DEFAULT_MTU, IPOP__FRAME_RELAY_MAX_PAYLOAD, IPOP_MAX_PACKET };

    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
        size_t n = sizes[i];
        for (int relay = 0; relay < 2; relay++) {
            if (relay && n > IPOP__FRAME_RELAY_MAX_PAYLOAD)
                continue;
            /* outer IP + UDP (+ ChannelData) around what record.c sealed */
            size_t udp = sealed_len(n, relay);
            g_assert_cmpuint(20 + 8 + udp, ==, n + ipop__mtu_overhead(AF_INET, false, relay));
            g_assert_cmpuint(40 + 8 + udp, ==, n + ipop__mtu_overhead(AF_INET6, false, relay));
            g_assert_cmpuint(40 + 8 + 4 + udp, ==, n + ipop__mtu_overhead(AF_INET6, true, relay));
        }
    }
    /* the numbers doc/architecture.md and ipop.h give */
    g_assert_cmpuint(ipop__mtu_overhead(AF_INET, false, false), ==, 66);
    g_assert_cmpuint(ipop__mtu_overhead(AF_INET6, false, false), ==, 86);
    g_assert_cmpuint(ipop__mtu_overhead(AF_INET6, true, true), ==, 98);
    g_assert_cmpuint(IPOP_DEFAULT_MTU + ipop__mtu_overhead(AF_INET6, true, true), ==, 1440);
    g_assert_cmpuint(IPOP_DEFAULT_MTU + ipop__mtu_overhead(AF_INET, true, true), <=, 1460);
    g_assert_cmpuint(IPOP_DEFAULT_MTU + ipop__mtu_overhead(AF_INET, false, false), ==, 1408);
}

/* ---- ICMP answers ---- */

static size_t ip4_packet(uint8_t *p, size_t len, uint8_t proto, bool df)
{
    memset(p, 0, len);
    for (size_t i = 20; i < len; i++)
        p[i] = (uint8_t)i;
    p[0] = 0x45;
    ipop__put16(p + 2, (uint16_t)len);
    ipop__put16(p + 6, df ? 0x4000 : 0);
    p[8] = 64;
    p[9] = proto;
    memcpy(p + 12, (uint8_t[]){ 10, 0, 0, 1 }, 4);
    memcpy(p + 16, (uint8_t[]){ 10, 0, 0, 2 }, 4);
    ipop__put16(p + 10, ipop__csum_finish(ipop__csum_add(0, p, 20)));
    return len;
}

static size_t ip6_packet(uint8_t *p, size_t len, uint8_t nh)
{
    memset(p, 0, len);
    for (size_t i = 40; i < len; i++)
        p[i] = (uint8_t)i;
    p[0] = 0x60;
    ipop__put16(p + 4, (uint16_t)(len - 40));
    p[6] = nh;
    p[7] = 64;
    p[8] = 0xfd;
    p[23] = 1;
    p[24] = 0xfd;
    p[39] = 2;
    return len;
}

static void test_ptb4(void)
{
    uint8_t pkt[1500], out[IPOP__PTB_MAX];
    int n;

    ip4_packet(pkt, sizeof(pkt), 17, true);
    n = ipop__ptb_make(pkt, sizeof(pkt), 1410, out, sizeof(out));
    g_assert_cmpint(n, ==, 576);
    g_assert_cmpuint(ipop__get16(out + 2), ==, 576);
    g_assert_cmpuint(ipop__csum_finish(ipop__csum_add(0, out, 20)), ==, 0);
    g_assert_cmpuint(ipop__csum_finish(ipop__csum_add(0, out + 20, (size_t)n - 20)), ==, 0);
    g_assert_cmpuint(out[9], ==, 1);
    g_assert_cmpuint(out[20], ==, 3);
    g_assert_cmpuint(out[21], ==, 4);
    g_assert_cmpuint(ipop__get16(out + 26), ==, 1410);
    g_assert_cmpmem(out + 12, 4, pkt + 16, 4); /* from the unreached destination */
    g_assert_cmpmem(out + 16, 4, pkt + 12, 4); /* to the sender */
    g_assert_cmpmem(out + 28, 576 - 28, pkt, 576 - 28);
    /* a short packet is quoted whole */
    ip4_packet(pkt, 60, 6, true);
    g_assert_cmpint(ipop__ptb_make(pkt, 60, 40, out, sizeof(out)), ==, 88);
    g_assert_cmpuint(ipop__csum_finish(ipop__csum_add(0, out + 20, 68)), ==, 0);
    /* no answer: DF clear, a later fragment, an ICMP error, a broadcast */
    ip4_packet(pkt, 1500, 17, false);
    g_assert_cmpint(ipop__ptb_make(pkt, 1500, 1410, out, sizeof(out)), ==, 0);
    ip4_packet(pkt, 1500, 17, true);
    pkt[7] = 10;
    g_assert_cmpint(ipop__ptb_make(pkt, 1500, 1410, out, sizeof(out)), ==, 0);
    ip4_packet(pkt, 1500, 1, true);
    pkt[20] = 3;
    g_assert_cmpint(ipop__ptb_make(pkt, 1500, 1410, out, sizeof(out)), ==, 0);
    pkt[20] = 8; /* an echo request is answered */
    g_assert_cmpint(ipop__ptb_make(pkt, 1500, 1410, out, sizeof(out)), ==, 576);
    ip4_packet(pkt, 1500, 17, true);
    pkt[16] = 255;
    g_assert_cmpint(ipop__ptb_make(pkt, 1500, 1410, out, sizeof(out)), ==, 0);
    /* refused */
    ip4_packet(pkt, 1500, 17, true);
    g_assert_cmpint(ipop__ptb_make(pkt, 1500, 1410, out, 100), ==, -ENOSPC);
    pkt[0] = 0x44;
    g_assert_cmpint(ipop__ptb_make(pkt, 1500, 1410, out, sizeof(out)), ==, -EINVAL);
    pkt[0] = 0x55;
    g_assert_cmpint(ipop__ptb_make(pkt, 1500, 1410, out, sizeof(out)), ==, -EINVAL);
    g_assert_cmpint(ipop__ptb_make(pkt, 19, 1410, out, sizeof(out)), ==, -EINVAL);
}

static uint16_t csum6(const uint8_t *ip6, const uint8_t *l4, size_t len, uint8_t nh)
{
    uint8_t pseudo[8] = { 0 };
    uint32_t sum = ipop__csum_add(0, ip6 + 8, 32);

    ipop__put32(pseudo, (uint32_t)len);
    pseudo[7] = nh;
    sum = ipop__csum_add(sum, pseudo, 8);
    return ipop__csum_finish(ipop__csum_add(sum, l4, len));
}

static void test_ptb6(void)
{
    uint8_t pkt[1500], out[IPOP__PTB_MAX];
    int n;

    ip6_packet(pkt, sizeof(pkt), 17);
    n = ipop__ptb_make(pkt, sizeof(pkt), 1410, out, sizeof(out));
    g_assert_cmpint(n, ==, 1280);
    g_assert_cmpuint(out[0] >> 4, ==, 6);
    g_assert_cmpuint(ipop__get16(out + 4), ==, 1240);
    g_assert_cmpuint(out[6], ==, 58);
    g_assert_cmpuint(out[40], ==, 2);
    g_assert_cmpuint(out[41], ==, 0);
    g_assert_cmpuint(ipop__get32(out + 44), ==, 1410);
    g_assert_cmpmem(out + 8, 16, pkt + 24, 16);
    g_assert_cmpmem(out + 24, 16, pkt + 8, 16);
    g_assert_cmpmem(out + 48, 1232, pkt, 1232);
    g_assert_cmpuint(csum6(out, out + 40, 1240, 58), ==, 0);
    /* no answer: an ICMPv6 error, a multicast destination, an MTU below 1280 */
    ip6_packet(pkt, sizeof(pkt), 58);
    pkt[40] = 1;
    g_assert_cmpint(ipop__ptb_make(pkt, sizeof(pkt), 1410, out, sizeof(out)), ==, 0);
    pkt[40] = 128; /* an echo request is answered */
    g_assert_cmpint(ipop__ptb_make(pkt, sizeof(pkt), 1410, out, sizeof(out)), ==, 1280);
    ip6_packet(pkt, sizeof(pkt), 17);
    pkt[24] = 0xff;
    g_assert_cmpint(ipop__ptb_make(pkt, sizeof(pkt), 1410, out, sizeof(out)), ==, 0);
    ip6_packet(pkt, sizeof(pkt), 17);
    g_assert_cmpint(ipop__ptb_make(pkt, sizeof(pkt), 1200, out, sizeof(out)), ==, 0);
    g_assert_cmpint(ipop__ptb_make(pkt, 39, 1410, out, sizeof(out)), ==, -EINVAL);
}

/* ---- MSS clamping ---- */

/* The TCP checksum over the segment as it is: the field to write when it
 * holds 0, 0 when it holds the right one. */
static uint16_t tcp_sum(const uint8_t *p, size_t len, bool v6)
{
    uint8_t pseudo[12] = { 0 };
    size_t ip = v6 ? 40 : 20;

    if (v6)
        return csum6(p, p + ip, len - ip, 6);
    memcpy(pseudo, p + 12, 8);
    pseudo[9] = 6;
    ipop__put16(pseudo + 10, (uint16_t)(len - ip));
    return ipop__csum_finish(ipop__csum_add(ipop__csum_add(0, pseudo, 12), p + ip, len - ip));
}

/* A TCP SYN (flags) with options opts (olen, a multiple of 4) over IPv4
 * or IPv6, its checksum set.  Returns its length. */
static size_t syn(uint8_t *p, bool v6, uint8_t flags, const uint8_t *opts, size_t olen)
{
    size_t ip = v6 ? 40 : 20, len = ip + 20 + olen;
    uint8_t *tcp = p + ip;

    if (v6)
        ip6_packet(p, len, 6);
    else
        ip4_packet(p, len, 6, true);
    memset(tcp, 0, 20);
    ipop__put16(tcp, 40000);
    ipop__put16(tcp + 2, 5001);
    tcp[12] = (uint8_t)((20 + olen) / 4 << 4);
    tcp[13] = flags;
    memcpy(tcp + 20, opts, olen);
    ipop__put16(tcp + 16, tcp_sum(p, len, v6));
    return len;
}

static uint16_t mss_at(const uint8_t *p, size_t off)
{
    return ipop__get16(p + off);
}

static void test_mss(void)
{
    /* MSS first (even offset), and after a NOP (odd offset), with SACK
     * permitted, window scale and timestamps as Linux sends them */
    static const uint8_t even[] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7 };
    static const uint8_t odd[] = { 1, 2, 4, 0xff, 0xd7, 4, 2, 1 };
    static const uint8_t none[] = { 1, 1, 4, 2 };
    static const uint8_t bad[] = { 3, 0, 2, 4 }; /* a zero option length: left as it is */
    uint8_t p[200], before[200];
    size_t len;

    for (int v6 = 0; v6 < 2; v6++) {
        size_t ip = v6 ? 40 : 20;
        unsigned want = 1410 - ip - 20;

        len = syn(p, v6, 0x02, even, sizeof(even));
        g_assert_cmpuint(tcp_sum(p, len, v6), ==, 0);
        g_assert_cmpint(ipop__mss_clamp(p, len, 1410), ==, 1);
        g_assert_cmpuint(mss_at(p, ip + 22), ==, want);
        g_assert_cmpuint(tcp_sum(p, len, v6), ==, 0);
        /* already small enough: unchanged */
        memcpy(before, p, len);
        g_assert_cmpint(ipop__mss_clamp(p, len, 1500), ==, 0);
        g_assert_cmpmem(p, len, before, len);
        /* SYN-ACK, MSS at an odd offset */
        len = syn(p, v6, 0x12, odd, sizeof(odd));
        g_assert_cmpint(ipop__mss_clamp(p, len, 1410), ==, 1);
        g_assert_cmpuint(mss_at(p, ip + 23), ==, want);
        g_assert_cmpuint(tcp_sum(p, len, v6), ==, 0);
        /* not a SYN, no MSS, malformed options: unchanged */
        len = syn(p, v6, 0x10, even, sizeof(even));
        g_assert_cmpint(ipop__mss_clamp(p, len, 1410), ==, 0);
        len = syn(p, v6, 0x02, none, sizeof(none));
        g_assert_cmpint(ipop__mss_clamp(p, len, 1410), ==, 0);
        len = syn(p, v6, 0x02, bad, sizeof(bad));
        g_assert_cmpint(ipop__mss_clamp(p, len, 1410), ==, 0);
        /* a header that claims more than the packet holds */
        len = syn(p, v6, 0x02, even, sizeof(even));
        g_assert_cmpint(ipop__mss_clamp(p, len - 1, 1410), ==, 0);
        /* every SYN that fits IPOP__SYN_MAX is seen */
        g_assert_cmpuint(len, <=, IPOP__SYN_MAX);
    }
    /* an IPv4 fragment is left alone */
    len = syn(p, false, 0x02, even, sizeof(even));
    ipop__put16(p + 6, 0x2000);
    g_assert_cmpint(ipop__mss_clamp(p, len, 1410), ==, 0);
    g_assert_cmpint(ipop__mss_clamp(NULL, 0, 1410), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/mtu/overhead", test_overhead);
    g_test_add_func("/mtu/ptb4", test_ptb4);
    g_test_add_func("/mtu/ptb6", test_ptb6);
    g_test_add_func("/mtu/mss", test_mss);
    return g_test_run();
}
