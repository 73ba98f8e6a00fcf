/* SPDX-License-Identifier: MIT */
/* Framing inside a link: the bytes on the wire, and records of every
 * wrong length. */
#include "testutil.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

#include "frame.h"

static void test_data(void)
{
    uint8_t rec[IPOP__FRAME_HDR + IPOP__FRAME_MAX_PAYLOAD + 1];
    ipop__frame f;

    for (size_t i = 0; i < sizeof(rec); i++)
        rec[i] = (uint8_t)i;
    rec[0] = IPOP__FRAME_DATA;
    for (size_t n = 1; n <= IPOP__FRAME_MAX_PAYLOAD; n += (n < 64 ? 1 : 97)) {
        g_assert_cmpint(ipop__frame_parse(rec, IPOP__FRAME_HDR + n, &f), ==, 0);
        g_assert_cmpuint(f.type, ==, IPOP__FRAME_DATA);
        g_assert_true(f.payload == rec + 1); /* points into the record, no copy */
        g_assert_cmpuint(f.payload_len, ==, n);
    }
    g_assert_cmpint(ipop__frame_parse(rec, IPOP__FRAME_HDR + IPOP__FRAME_MAX_PAYLOAD, &f), ==, 0);
    g_assert_cmpuint(f.payload_len, ==, IPOP__FRAME_MAX_PAYLOAD);
}

static void test_data_bad(void)
{
    uint8_t rec[IPOP__FRAME_HDR + IPOP__FRAME_MAX_PAYLOAD + 1] = { IPOP__FRAME_DATA };
    ipop__frame f;

    g_assert_cmpint(ipop__frame_parse(rec, 1, &f), ==, -EINVAL); /* no payload */
    g_assert_cmpint(ipop__frame_parse(rec, sizeof(rec), &f), ==, -EINVAL);
    g_assert_cmpint(ipop__frame_parse(rec, 0, &f), ==, -EINVAL);
    g_assert_cmpint(ipop__frame_parse(NULL, 10, &f), ==, -EINVAL);
}

static void test_ping_wire(void)
{
    uint8_t buf[32];
    static const uint8_t expect[13] = { 0x02, 0x01, 0x02, 0x03, 0x04, 0x11, 0x22, 0x33,
                                        0x44, 0x55, 0x66, 0x77, 0x88 };
    ipop__frame f;

    memset(buf, 0xaa, sizeof(buf));
    g_assert_cmpint(ipop__frame_put_ping(buf, sizeof(buf), IPOP__FRAME_PING, 0x01020304u,
                                         0x1122334455667788ull), ==, IPOP__FRAME_PING_LEN);
    g_assert_cmpmem(buf, 13, expect, 13); /* big endian */
    g_assert_cmpuint(buf[13], ==, 0xaa);  /* nothing written past the frame */
    g_assert_cmpint(ipop__frame_parse(buf, 13, &f), ==, 0);
    g_assert_cmpuint(f.type, ==, IPOP__FRAME_PING);
    g_assert_cmpuint(f.seq, ==, 0x01020304u);
    g_assert_cmphex(f.stamp, ==, 0x1122334455667788ull);
    g_assert_null(f.payload);
}

static void test_ping_round_trip(void)
{
    uint8_t buf[IPOP__FRAME_PING_LEN];
    ipop__frame f;

    for (int i = 0; i < 1000; i++) {
        uint8_t type = g_test_rand_bit() ? IPOP__FRAME_PING : IPOP__FRAME_PONG;
        uint32_t seq = (uint32_t)g_test_rand_int();
        uint64_t stamp = (uint64_t)(uint32_t)g_test_rand_int() << 32 | (uint32_t)g_test_rand_int();
        g_assert_cmpint(ipop__frame_put_ping(buf, sizeof(buf), type, seq, stamp), ==, 13);
        g_assert_cmpint(ipop__frame_parse(buf, sizeof(buf), &f), ==, 0);
        g_assert_cmpuint(f.type, ==, type);
        g_assert_cmpuint(f.seq, ==, seq);
        g_assert_cmpuint(f.stamp, ==, stamp);
    }
}

static void test_ping_lengths(void)
{
    uint8_t buf[64] = { 0 };
    ipop__frame f;

    for (uint8_t type = IPOP__FRAME_PING; type <= IPOP__FRAME_PONG; type++) {
        buf[0] = type;
        for (size_t n = 0; n < sizeof(buf); n++)
            g_assert_cmpint(ipop__frame_parse(buf, n, &f), ==, n == 13 ? 0 : -EINVAL);
    }
    for (size_t size = 0; size < 13; size++)
        g_assert_cmpint(ipop__frame_put_ping(buf, size, IPOP__FRAME_PING, 1, 2), ==, -ENOSPC);
    g_assert_cmpint(ipop__frame_put_ping(buf, sizeof(buf), IPOP__FRAME_DATA, 1, 2), ==, -EINVAL);
    g_assert_cmpint(ipop__frame_put_ping(buf, sizeof(buf), IPOP__FRAME_BYE, 1, 2), ==, -EINVAL);
}

static void test_bye(void)
{
    uint8_t buf[8];
    ipop__frame f;

    memset(buf, 0xaa, sizeof(buf));
    g_assert_cmpint(ipop__frame_put_bye(buf, sizeof(buf), 7), ==, IPOP__FRAME_BYE_LEN);
    g_assert_cmpmem(buf, 3, "\x04\x07\xaa", 3);
    g_assert_cmpint(ipop__frame_parse(buf, 2, &f), ==, 0);
    g_assert_cmpuint(f.type, ==, IPOP__FRAME_BYE);
    g_assert_cmpuint(f.reason, ==, 7);
    for (size_t n = 0; n < sizeof(buf); n++)
        g_assert_cmpint(ipop__frame_parse(buf, n, &f), ==, n == 2 ? 0 : -EINVAL);
    g_assert_cmpint(ipop__frame_put_bye(buf, 1, 7), ==, -ENOSPC);
    g_assert_cmpint(ipop__frame_put_bye(buf, 0, 7), ==, -ENOSPC);
}

static void test_unknown_types(void)
{
    uint8_t buf[32] = { 0 };
    ipop__frame f;

    for (unsigned t = 0; t < 256; t++) {
        if (t >= IPOP__FRAME_DATA && t <= IPOP__FRAME_BYE)
            continue;
        buf[0] = (uint8_t)t;
        for (size_t n = 0; n < sizeof(buf); n++)
            g_assert_cmpint(ipop__frame_parse(buf, n, &f), ==, -EINVAL);
    }
}

/* A failed parse leaves no stale fields from an earlier frame. */
static void test_parse_clears(void)
{
    uint8_t ping[13], bad[2] = { 0x7f, 0 };
    ipop__frame f;

    ipop__frame_put_ping(ping, sizeof(ping), IPOP__FRAME_PING, 5, 6);
    g_assert_cmpint(ipop__frame_parse(ping, sizeof(ping), &f), ==, 0);
    g_assert_cmpint(ipop__frame_parse(bad, sizeof(bad), &f), ==, -EINVAL);
    g_assert_cmpuint(f.seq, ==, 0);
    g_assert_cmpuint(f.stamp, ==, 0);
    g_assert_cmpuint(f.type, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/frame/data", test_data);
    g_test_add_func("/frame/data-bad", test_data_bad);
    g_test_add_func("/frame/ping-wire", test_ping_wire);
    g_test_add_func("/frame/ping-round-trip", test_ping_round_trip);
    g_test_add_func("/frame/ping-lengths", test_ping_lengths);
    g_test_add_func("/frame/bye", test_bye);
    g_test_add_func("/frame/unknown-types", test_unknown_types);
    g_test_add_func("/frame/parse-clears", test_parse_clears);
    return g_test_run();
}
