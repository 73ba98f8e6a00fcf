/* SPDX-License-Identifier: MIT */
/* The STUN probe's request and response check (lib/stun.c), against
 * messages laid out by hand from RFC 5389. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "stun.h"

static const uint8_t txid[IPOP__STUN_TXID] = { 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae };

/* header: type, length, cookie, txid */
static size_t header(uint8_t *b, unsigned type, unsigned len, const uint8_t id[IPOP__STUN_TXID])
{
    b[0] = (uint8_t)(type >> 8);
    b[1] = (uint8_t)type;
    b[2] = (uint8_t)(len >> 8);
    b[3] = (uint8_t)len;
    memcpy(b + 4, "\x21\x12\xa4\x42", 4);
    memcpy(b + 8, id, IPOP__STUN_TXID);
    return IPOP__STUN_HDR;
}

static void test_request(void)
{
    static const uint8_t want[IPOP__STUN_HDR] = { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7,
                                                  0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae };
    uint8_t req[IPOP__STUN_HDR];

    ipop__stun_request(req, txid);
    g_assert_cmpmem(req, sizeof(req), want, sizeof(want));
    /* a request is not an answer to itself */
    g_assert_cmpint(ipop__stun_is_response(req, sizeof(req), txid), ==, 0);
}

static void test_responses(void)
{
    uint8_t b[64], other[IPOP__STUN_TXID];
    size_t n;

    /* a success response with an XOR-MAPPED-ADDRESS attribute */
    n = header(b, 0x0101, 12, txid);
    memcpy(b + n, "\x00\x20\x00\x08\x00\x01\xa1\x47\xe1\x12\xa6\x43", 12);
    g_assert_cmpint(ipop__stun_is_response(b, n + 12, txid), ==, 1);
    /* an error response is an answer too: the server is there */
    n = header(b, 0x0111, 0, txid);
    g_assert_cmpint(ipop__stun_is_response(b, n, txid), ==, 1);
    /* another transaction */
    memcpy(other, txid, sizeof(other));
    other[11] ^= 1;
    g_assert_cmpint(ipop__stun_is_response(b, n, other), ==, 0);
    /* another method (Allocate, 0x003), an indication (0x0011) */
    header(b, 0x0103, 0, txid);
    g_assert_cmpint(ipop__stun_is_response(b, IPOP__STUN_HDR, txid), ==, 0);
    header(b, 0x0011, 0, txid);
    g_assert_cmpint(ipop__stun_is_response(b, IPOP__STUN_HDR, txid), ==, 0);
}

static void test_malformed(void)
{
    uint8_t b[64];

    g_assert_cmpint(ipop__stun_is_response(NULL, 0, txid), ==, -EINVAL);
    header(b, 0x0101, 0, txid);
    g_assert_cmpint(ipop__stun_is_response(b, IPOP__STUN_HDR - 1, txid), ==, -EINVAL);
    /* length field and datagram disagree, or not a multiple of 4 */
    header(b, 0x0101, 8, txid);
    g_assert_cmpint(ipop__stun_is_response(b, IPOP__STUN_HDR + 4, txid), ==, -EINVAL);
    header(b, 0x0101, 2, txid);
    g_assert_cmpint(ipop__stun_is_response(b, IPOP__STUN_HDR + 2, txid), ==, -EINVAL);
    /* a wrong cookie (RFC 3489 and anything else) */
    header(b, 0x0101, 0, txid);
    b[7] ^= 0xff;
    g_assert_cmpint(ipop__stun_is_response(b, IPOP__STUN_HDR, txid), ==, -EINVAL);
    /* the top bits set: DTLS or RTP, not STUN */
    header(b, 0x0101, 0, txid);
    b[0] = 0x80 | b[0];
    g_assert_cmpint(ipop__stun_is_response(b, IPOP__STUN_HDR, txid), ==, -EINVAL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/stun/request", test_request);
    g_test_add_func("/stun/responses", test_responses);
    g_test_add_func("/stun/malformed", test_malformed);
    return g_test_run();
}
