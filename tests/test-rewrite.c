/* SPDX-License-Identifier: MIT */
/* SocialVPN's address translation: after a rewrite, every checksum equals
 * one computed from scratch, and no other byte changed. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "rewrite.h"
#include "udp-packet.h"
#include "testutil.h"

static uint16_t ip_csum(const uint8_t *p, size_t ihl)
{
    uint8_t h[60];

    memcpy(h, p, ihl);
    h[10] = h[11] = 0;
    return ipop__csum_finish(ipop__csum_add(0, h, ihl));
}

/* TCP or UDP checksum from scratch, with the IPv4 pseudo-header. */
static uint16_t l4_csum(const uint8_t *p, size_t ihl, size_t total, int csum_off)
{
    uint8_t buf[1600], pseudo[12];
    size_t l4 = total - ihl;

    memcpy(buf, p + ihl, l4);
    buf[csum_off] = buf[csum_off + 1] = 0;
    memcpy(pseudo, p + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = p[9];
    pseudo[10] = (uint8_t)(l4 >> 8);
    pseudo[11] = (uint8_t)l4;
    return ipop__csum_finish(ipop__csum_add(ipop__csum_add(0, pseudo, 12), buf, l4));
}

static size_t make(uint8_t *p, int proto, size_t payload, bool with_csum)
{
    size_t l4hdr = proto == 6 ? 20 : proto == 17 ? 8 : 8, total = 20 + l4hdr + payload;
    uint16_t c;

    memset(p, 0, total);
    p[0] = 0x45;
    p[2] = (uint8_t)(total >> 8);
    p[3] = (uint8_t)total;
    p[8] = 64;
    p[9] = (uint8_t)proto;
    inet_pton(AF_INET, "10.60.0.1", p + 12);
    inet_pton(AF_INET, "10.61.0.77", p + 16);
    for (size_t i = 20 + l4hdr; i < total; i++)
        p[i] = (uint8_t)(i * 13 + proto);
    if (proto == 17) {
        p[24] = (uint8_t)((total - 20) >> 8);
        p[25] = (uint8_t)(total - 20);
    }
    c = ip_csum(p, 20);
    p[10] = (uint8_t)(c >> 8);
    p[11] = (uint8_t)c;
    if (with_csum && (proto == 6 || proto == 17)) {
        int off = proto == 6 ? 16 : 6;
        c = l4_csum(p, 20, total, off);
        if (proto == 17 && c == 0)
            c = 0xffff;
        p[20 + off] = (uint8_t)(c >> 8);
        p[20 + off + 1] = (uint8_t)c;
    }
    return total;
}

static void check(const uint8_t *p, size_t total, int proto, bool with_csum)
{
    uint16_t got = (uint16_t)((p[10] << 8) | p[11]);

    g_assert_cmphex(got, ==, ip_csum(p, 20));
    if ((proto == 6 || proto == 17) && with_csum) {
        int off = proto == 6 ? 16 : 6;
        uint16_t want = l4_csum(p, 20, total, off), l4 = (uint16_t)((p[20 + off] << 8) | p[20 + off + 1]);
        if (proto == 17 && want == 0)
            want = 0xffff;
        g_assert_cmphex(l4, ==, want);
    }
    if (proto == 17 && !with_csum)
        g_assert_cmphex((p[26] << 8) | p[27], ==, 0); /* "no checksum" stays so */
}

static void test_rewrite(void)
{
    static const int protos[] = { 6, 17, 1 };
    uint8_t p[1600], want[1600], addr[4];

    for (size_t k = 0; k < G_N_ELEMENTS(protos); k++) {
        for (int csum = 0; csum < 2; csum++) {
            for (int round = 0; round < 300; round++) {
                size_t total = make(p, protos[k], (size_t)g_test_rand_int_range(0, 1300), csum);
                for (int i = 0; i < 4; i++)
                    addr[i] = (uint8_t)g_test_rand_int_range(0, 256);
                memcpy(want, p, total);
                g_assert_cmpint(ipop__ip4_rewrite(p, total, round & 1, addr), ==, 0);
                g_assert_cmpmem(p + ((round & 1) ? 12 : 16), 4, addr, 4);
                check(p, total, protos[k], csum);
                /* and nothing else changed: the packet as it was, with the
                 * new address and the checksums check() verified */
                memcpy(want + ((round & 1) ? 12 : 16), addr, 4);
                memcpy(want + 10, p + 10, 2);
                if (protos[k] == 6 || protos[k] == 17)
                    memcpy(want + 20 + (protos[k] == 6 ? 16 : 6), p + 20 + (protos[k] == 6 ? 16 : 6), 2);
                g_assert_cmpmem(p, total, want, total);
            }
        }
    }
}

static void test_bad(void)
{
    uint8_t p[64], addr[4] = { 1, 2, 3, 4 }, copy[64];
    size_t total = make(p, 17, 10, true);

    memcpy(copy, p, sizeof(p));
    g_assert_cmpint(ipop__ip4_rewrite(p, total - 1, true, addr), ==, -EINVAL); /* truncated */
    g_assert_cmpint(ipop__ip4_rewrite(p, 19, true, addr), ==, -EINVAL);
    p[0] = 0x65;
    g_assert_cmpint(ipop__ip4_rewrite(p, total, true, addr), ==, -EINVAL); /* IPv6 */
    p[0] = 0x44;
    g_assert_cmpint(ipop__ip4_rewrite(p, total, true, addr), ==, -EINVAL); /* IHL 4 */
    p[0] = 0x45;
    g_assert_cmpmem(p, sizeof(p), copy, sizeof(copy)); /* nothing changed */
    g_assert_cmpint(ipop__ip4_rewrite(NULL, total, true, addr), ==, -EINVAL);
    /* a later fragment: only the IP header changes */
    p[6] = 0x00;
    p[7] = 0x10;
    {
        uint16_t c = ip_csum(p, 20);
        p[10] = (uint8_t)(c >> 8);
        p[11] = (uint8_t)c;
    }
    memcpy(copy, p, sizeof(p));
    g_assert_cmpint(ipop__ip4_rewrite(p, total, false, addr), ==, 0);
    g_assert_cmpmem(p + 20, total - 20, copy + 20, total - 20);
    g_assert_cmphex((p[10] << 8) | p[11], ==, ip_csum(p, 20));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/rewrite/checksums", test_rewrite);
    g_test_add_func("/rewrite/bad", test_bad);
    return g_test_run();
}
