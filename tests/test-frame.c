/* SPDX-License-Identifier: MIT */
/* Framing inside a link: the bytes on the wire, and records of every
 * wrong length. */
#include "testutil.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

#include "bytes.h"
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

/* A packet written in place after the header becomes a DATA frame that
 * parses back to it. */
static void test_data_hdr(void)
{
    uint8_t rec[IPOP__FRAME_HDR + IPOP__FRAME_MAX_PAYLOAD + 1] = { 0 };
    ipop__frame f;

    memcpy(rec + IPOP__FRAME_HDR, "\x45packet", 7);
    g_assert_cmpint(ipop__frame_put_data_hdr(rec, sizeof(rec), 7), ==, IPOP__FRAME_HDR + 7);
    g_assert_cmpuint(rec[0], ==, IPOP__FRAME_DATA);
    g_assert_cmpint(ipop__frame_parse(rec, IPOP__FRAME_HDR + 7, &f), ==, 0);
    g_assert_cmpuint(f.type, ==, IPOP__FRAME_DATA);
    g_assert_cmpmem(f.payload, f.payload_len, "\x45packet", 7);
    g_assert_cmpint(ipop__frame_put_data_hdr(rec, sizeof(rec), IPOP__FRAME_MAX_PAYLOAD), ==,
                    IPOP__FRAME_HDR + IPOP__FRAME_MAX_PAYLOAD);
    g_assert_cmpint(ipop__frame_put_data_hdr(rec, sizeof(rec), IPOP__FRAME_MAX_PAYLOAD + 1), ==, -EMSGSIZE);
    g_assert_cmpint(ipop__frame_put_data_hdr(rec, sizeof(rec), 0), ==, -EINVAL);
    g_assert_cmpint(ipop__frame_put_data_hdr(rec, IPOP__FRAME_HDR + 6, 7), ==, -ENOSPC);
    g_assert_cmpint(ipop__frame_put_data_hdr(NULL, 0, 7), ==, -ENOSPC);
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

/* REKEY: type, op, u32 generation; anything else of that type is refused. */
static void test_rekey(void)
{
    uint8_t buf[16];
    ipop__frame f;

    memset(buf, 0xaa, sizeof(buf));
    g_assert_cmpint(ipop__frame_put_rekey(buf, sizeof(buf), IPOP__REKEY_PROPOSE, 0x01020304), ==,
                    IPOP__FRAME_REKEY_LEN);
    g_assert_cmpmem(buf, 7, "\x08\x01\x01\x02\x03\x04\xaa", 7);
    g_assert_cmpint(ipop__frame_parse(buf, IPOP__FRAME_REKEY_LEN, &f), ==, 0);
    g_assert_cmpuint(f.type, ==, IPOP__FRAME_REKEY);
    g_assert_cmpuint(f.op, ==, IPOP__REKEY_PROPOSE);
    g_assert_cmpuint(f.seq, ==, 0x01020304);
    for (size_t n = 0; n < sizeof(buf); n++)
        g_assert_cmpint(ipop__frame_parse(buf, n, &f), ==, n == IPOP__FRAME_REKEY_LEN ? 0 : -EINVAL);
    g_assert_cmpint(ipop__frame_put_rekey(buf, sizeof(buf), IPOP__REKEY_ACK, 7), ==, IPOP__FRAME_REKEY_LEN);
    g_assert_cmpint(ipop__frame_parse(buf, IPOP__FRAME_REKEY_LEN, &f), ==, 0);
    g_assert_cmpuint(f.op, ==, IPOP__REKEY_ACK);
    for (unsigned op = 0; op < 256; op++) {
        buf[1] = (uint8_t)op;
        g_assert_cmpint(ipop__frame_parse(buf, IPOP__FRAME_REKEY_LEN, &f), ==,
                        op == IPOP__REKEY_PROPOSE || op == IPOP__REKEY_ACK ? 0 : -EINVAL);
    }
    g_assert_cmpint(ipop__frame_put_rekey(buf, sizeof(buf), 3, 7), ==, -EINVAL);
    g_assert_cmpint(ipop__frame_put_rekey(buf, IPOP__FRAME_REKEY_LEN - 1, IPOP__REKEY_ACK, 7), ==, -ENOSPC);
}

static void test_unknown_types(void)
{
    uint8_t buf[32] = { 0 };
    ipop__frame f;

    for (unsigned t = 0; t < 256; t++) {
        if (t >= IPOP__FRAME_DATA && t <= IPOP__FRAME_REKEY)
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

static const uint8_t id1[IPOP__SHORT_ID_LEN] = { 0x00, 0x44, 0x32, 0x14, 0xc7, 0x42, 0x54, 0xb6 };

/* RELAY and RELAYED: type, 8-byte id, packet; the payload points into the
 * record. */
static void test_relay_wire(void)
{
    uint8_t buf[32], pkt[3] = { 0x45, 0x00, 0x99 };
    static const uint8_t expect[12] = { 0x05, 0x00, 0x44, 0x32, 0x14, 0xc7, 0x42, 0x54, 0xb6, 0x45, 0x00, 0x99 };
    ipop__frame f;

    memset(buf, 0xaa, sizeof(buf));
    g_assert_cmpint(ipop__frame_put_relay(buf, sizeof(buf), IPOP__FRAME_RELAY, id1, pkt, 3), ==, 12);
    g_assert_cmpmem(buf, 12, expect, 12);
    g_assert_cmpuint(buf[12], ==, 0xaa);
    g_assert_cmpint(ipop__frame_parse(buf, 12, &f), ==, 0);
    g_assert_cmpuint(f.type, ==, IPOP__FRAME_RELAY);
    g_assert_cmpmem(f.id, 8, id1, 8);
    g_assert_true(f.payload == buf + IPOP__FRAME_RELAY_HDR);
    g_assert_cmpuint(f.payload_len, ==, 3);

    g_assert_cmpint(ipop__frame_put_relay(buf, sizeof(buf), IPOP__FRAME_RELAYED, id1, pkt, 3), ==, 12);
    g_assert_cmpuint(buf[0], ==, 0x06);
    g_assert_cmpmem(buf + 1, 11, expect + 1, 11);
    g_assert_cmpint(ipop__frame_parse(buf, 12, &f), ==, 0);
    g_assert_cmpuint(f.type, ==, IPOP__FRAME_RELAYED);
    g_assert_cmpmem(f.id, 8, id1, 8);
}

static void test_relay_lengths(void)
{
    uint8_t rec[IPOP__FRAME_RELAY_HDR + IPOP__FRAME_RELAY_MAX_PAYLOAD + 1] = { 0 };
    uint8_t pkt[IPOP__FRAME_RELAY_MAX_PAYLOAD + 1] = { 0x45 };
    ipop__frame f;

    /* the largest relayed packet: a whole record, as large as a DATA frame's */
    g_assert_cmpuint(IPOP__FRAME_RELAY_HDR + IPOP__FRAME_RELAY_MAX_PAYLOAD, ==, IPOP__FRAME_HDR + IPOP__FRAME_MAX_PAYLOAD);
    g_assert_cmpuint(IPOP__FRAME_RELAY_MAX_PAYLOAD, ==, 1402);
    for (uint8_t type = IPOP__FRAME_RELAY; type <= IPOP__FRAME_RELAYED; type++) {
        rec[0] = type;
        for (size_t n = 0; n <= sizeof(rec); n += (n < 40 ? 1 : 113)) {
            size_t len = MIN(n, sizeof(rec));
            bool ok = len > IPOP__FRAME_RELAY_HDR && len <= sizeof(rec) - 1;
            g_assert_cmpint(ipop__frame_parse(rec, len, &f), ==, ok ? 0 : -EINVAL);
        }
        g_assert_cmpint(ipop__frame_parse(rec, sizeof(rec) - 1, &f), ==, 0);
        g_assert_cmpint(ipop__frame_parse(rec, sizeof(rec), &f), ==, -EINVAL);
        g_assert_cmpint(ipop__frame_put_relay(rec, sizeof(rec), type, id1, pkt, IPOP__FRAME_RELAY_MAX_PAYLOAD), ==,
                        (int)sizeof(rec) - 1);
        g_assert_cmpint(ipop__frame_put_relay(rec, sizeof(rec), type, id1, pkt, sizeof(pkt)), ==, -EMSGSIZE);
        g_assert_cmpint(ipop__frame_put_relay(rec, sizeof(rec), type, id1, pkt, 0), ==, -EINVAL);
        g_assert_cmpint(ipop__frame_put_relay(rec, 10, type, id1, pkt, 2), ==, -ENOSPC);
        g_assert_cmpint(ipop__frame_put_relay(rec, 11, type, id1, pkt, 2), ==, 11);
    }
    g_assert_cmpint(ipop__frame_put_relay(rec, sizeof(rec), IPOP__FRAME_DATA, id1, pkt, 2), ==, -EINVAL);
    g_assert_cmpint(ipop__frame_put_relay(rec, sizeof(rec), IPOP__FRAME_PEERS, id1, pkt, 2), ==, -EINVAL);
}

static void test_peers(void)
{
    uint8_t ids[IPOP__FRAME_PEERS_MAX * 8 + 8], buf[IPOP__FRAME_PEERS_HDR + sizeof(ids) + 8];
    ipop__frame f;

    for (size_t i = 0; i < sizeof(ids); i++)
        ids[i] = (uint8_t)(i * 13);
    /* none: "07, total 0, first 0, 0 ids" */
    g_assert_cmpint(ipop__frame_put_peers(buf, sizeof(buf), NULL, 0, 0, 0), ==, 6);
    g_assert_cmpmem(buf, 6, "\x07\x00\x00\x00\x00\x00", 6);
    g_assert_cmpint(ipop__frame_parse(buf, 6, &f), ==, 0);
    g_assert_cmpuint(f.type, ==, IPOP__FRAME_PEERS);
    g_assert_cmpuint(f.n_ids, ==, 0);
    g_assert_cmpuint(f.total, ==, 0);
    g_assert_null(f.ids);
    /* two, the second page of a list of 300: total 300, first 256 */
    g_assert_cmpint(ipop__frame_put_peers(buf, sizeof(buf), ids, 2, 256, 300), ==, 22);
    g_assert_cmpmem(buf, 6, "\x07\x01\x2c\x01\x00\x02", 6);
    g_assert_cmpmem(buf + 6, 16, ids, 16);
    g_assert_cmpint(ipop__frame_parse(buf, 22, &f), ==, 0);
    g_assert_cmpuint(f.n_ids, ==, 2);
    g_assert_cmpuint(f.first, ==, 256);
    g_assert_cmpuint(f.total, ==, 300);
    g_assert_true(f.ids == buf + 6);
    for (size_t n = 0; n < 40; n++)
        g_assert_cmpint(ipop__frame_parse(buf, n, &f), ==, n == 22 ? 0 : -EINVAL);
    /* a page beyond its list, a list above the limit: refused both ways */
    g_assert_cmpint(ipop__frame_put_peers(buf, sizeof(buf), ids, 2, 299, 300), ==, -EINVAL);
    g_assert_cmpint(ipop__frame_put_peers(buf, sizeof(buf), ids, 2, 301, 300), ==, -EINVAL);
    g_assert_cmpint(ipop__frame_put_peers(buf, sizeof(buf), ids, 2, 0, IPOP__FRAME_PEERS_TOTAL_MAX + 1), ==, -EINVAL);
    g_assert_cmpint(ipop__frame_put_peers(buf, sizeof(buf), ids, 2, 0, 2), ==, 22);
    buf[2] = 1; /* total 1 < first 0 + 2 ids */
    g_assert_cmpint(ipop__frame_parse(buf, 22, &f), ==, -EINVAL);
    ipop__put16(buf + 1, IPOP__FRAME_PEERS_TOTAL_MAX + 1);
    g_assert_cmpint(ipop__frame_parse(buf, 22, &f), ==, -EINVAL);
    ipop__put16(buf + 1, 0xffff);
    ipop__put16(buf + 3, 0xffff); /* first + n wraps no 16-bit counter */
    g_assert_cmpint(ipop__frame_parse(buf, 22, &f), ==, -EINVAL);
    /* the most in a page; more than 128 members take several pages */
    g_assert_cmpint(ipop__frame_put_peers(buf, sizeof(buf), ids, IPOP__FRAME_PEERS_MAX, 0, 1000), ==,
                    6 + IPOP__FRAME_PEERS_MAX * 8);
    g_assert_cmpint(ipop__frame_parse(buf, 6 + IPOP__FRAME_PEERS_MAX * 8, &f), ==, 0);
    g_assert_cmpuint(f.n_ids, ==, IPOP__FRAME_PEERS_MAX);
    g_assert_cmpint(ipop__frame_put_peers(buf, sizeof(buf), ids, IPOP__FRAME_PEERS_MAX + 1, 0, 1000), ==, -EINVAL);
    buf[5] = IPOP__FRAME_PEERS_MAX + 1; /* a count above the limit, of the right length */
    g_assert_cmpint(ipop__frame_parse(buf, 6 + (IPOP__FRAME_PEERS_MAX + 1) * 8, &f), ==, -EINVAL);
    g_assert_cmpint(ipop__frame_put_peers(buf, 21, ids, 2, 0, 2), ==, -ENOSPC);
    g_assert_cmpint(ipop__frame_put_peers(buf, sizeof(buf), NULL, 1, 0, 1), ==, -EINVAL);
}

/* The short id is the first 64 bits that the base32 node id encodes. */
static void test_short_id(void)
{
    uint8_t id[8];

    g_assert_cmpint(ipop__short_id("abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst", id), ==, 0);
    g_assert_cmpmem(id, 8, id1, 8);
    g_assert_cmpint(ipop__short_id("7777777777777", id), ==, 0);
    g_assert_cmpmem(id, 8, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
    g_assert_cmpint(ipop__short_id("aaaaaaaaaaaab", id), ==, 0); /* the 65th bit is not part of it */
    g_assert_cmpmem(id, 8, "\0\0\0\0\0\0\0\0", 8);
    g_assert_cmpint(ipop__short_id("aaaaaaaaaaaac", id), ==, 0);
    g_assert_cmpmem(id, 8, "\0\0\0\0\0\0\0\x01", 8);
    g_assert_cmpint(ipop__short_id("aaaaaaaaaaaa", id), ==, -EINVAL); /* too short */
    g_assert_cmpint(ipop__short_id("Aaaaaaaaaaaaaaaa", id), ==, -EINVAL);
    g_assert_cmpint(ipop__short_id("aaaaaaaaaaaa1aa", id), ==, -EINVAL);
    g_assert_cmpint(ipop__short_id(NULL, id), ==, -EINVAL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/frame/data", test_data);
    g_test_add_func("/frame/data-bad", test_data_bad);
    g_test_add_func("/frame/data-hdr", test_data_hdr);
    g_test_add_func("/frame/ping-wire", test_ping_wire);
    g_test_add_func("/frame/ping-round-trip", test_ping_round_trip);
    g_test_add_func("/frame/ping-lengths", test_ping_lengths);
    g_test_add_func("/frame/bye", test_bye);
    g_test_add_func("/frame/rekey", test_rekey);
    g_test_add_func("/frame/unknown-types", test_unknown_types);
    g_test_add_func("/frame/parse-clears", test_parse_clears);
    g_test_add_func("/frame/relay-wire", test_relay_wire);
    g_test_add_func("/frame/relay-lengths", test_relay_lengths);
    g_test_add_func("/frame/peers", test_peers);
    g_test_add_func("/frame/short-id", test_short_id);
    return g_test_run();
}
