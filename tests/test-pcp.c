/* SPDX-License-Identifier: MIT */
/* lib/pcp.c: PCP MAP and NAT-PMP requests byte for byte as RFC 6887 and
 * RFC 6886 lay them out, and answers as a router (miniupnpd) writes them:
 * granted, refused, for another version, truncated or useless. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "pcp.h"

static const uint8_t client[4] = { 10, 202, 1, 2 };
static const uint8_t nonce[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

static void test_pcp_request(void)
{
    uint8_t out[IPOP__PCP_MAP_LEN];
    const uint8_t ext[4] = { 100, 201, 1, 2 };

    ipop__pcp_map_request(out, client, nonce, 0x1234, ext, 0x5678, 3600);
    g_assert_cmpint(out[0], ==, 2);          /* version */
    g_assert_cmpint(out[1], ==, 1);          /* R = 0, MAP */
    g_assert_cmpint(out[4] << 24 | out[5] << 16 | out[6] << 8 | out[7], ==, 3600);
    g_assert_cmpint(out[18], ==, 0xff);      /* ::ffff:10.202.1.2 */
    g_assert_cmpmem(out + 20, 4, client, 4);
    g_assert_cmpmem(out + 24, 12, nonce, 12);
    g_assert_cmpint(out[36], ==, 17);        /* UDP */
    g_assert_cmpint(out[40] << 8 | out[41], ==, 0x1234);
    g_assert_cmpint(out[42] << 8 | out[43], ==, 0x5678);
    g_assert_cmpmem(out + 56, 4, ext, 4);
    /* no suggestion: the all-zero IPv4-mapped address */
    ipop__pcp_map_request(out, client, nonce, 1, NULL, 0, 0);
    g_assert_cmpint(out[54], ==, 0xff);
    g_assert_cmpint(out[56] | out[57] | out[58] | out[59], ==, 0);
}

static void test_natpmp_requests(void)
{
    uint8_t map[IPOP__NATPMP_MAP_LEN], addr[IPOP__NATPMP_ADDR_LEN];
    const uint8_t want[12] = { 0, 1, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0x1c, 0x20 };

    ipop__natpmp_map_request(map, 0x1234, 0, 7200);
    g_assert_cmpmem(map, sizeof(map), want, sizeof(want));
    ipop__natpmp_addr_request(addr);
    g_assert_cmpint(addr[0], ==, 0);
    g_assert_cmpint(addr[1], ==, 0);
}

/* An answer to a MAP request as a PCP server writes it. */
static void pcp_answer(uint8_t out[IPOP__PCP_MAP_LEN], int result)
{
    const uint8_t ext[4] = { 100, 201, 1, 2 };

    ipop__pcp_map_request(out, client, nonce, 0x1234, ext, 0x4321, 0);
    out[1] = 0x81;
    out[3] = result;
    out[4] = 0, out[5] = 0, out[6] = 0x0e, out[7] = 0x10; /* 3600 s */
    out[8] = 0, out[9] = 0, out[10] = 0, out[11] = 42;   /* epoch */
}

static void test_pcp_answer(void)
{
    uint8_t buf[IPOP__PCP_MAP_LEN];
    ipop__pcp_answer a;

    pcp_answer(buf, 0);
    g_assert_cmpint(ipop__pcp_parse(buf, sizeof(buf), &a), ==, 0);
    g_assert_cmpint(a.version, ==, 2);
    g_assert_cmpint(a.result, ==, 0);
    g_assert_cmpint(a.lifetime, ==, 3600);
    g_assert_cmpint(a.epoch, ==, 42);
    g_assert_cmpint(a.internal_port, ==, 0x1234);
    g_assert_cmpint(a.external_port, ==, 0x4321);
    g_assert_true(a.has_ip);
    g_assert_cmpint(a.external_ip[0], ==, 100);
    g_assert_cmpmem(a.nonce, 12, nonce, 12);
    /* our own request is no answer */
    ipop__pcp_map_request(buf, client, nonce, 1, NULL, 0, 60);
    g_assert_cmpint(ipop__pcp_parse(buf, sizeof(buf), &a), ==, -EINVAL);
    /* truncated, or of a length PCP never has */
    pcp_answer(buf, 0);
    for (size_t n = 0; n < sizeof(buf); n++)
        g_assert_cmpint(ipop__pcp_parse(buf, n, &a), ==, -EINVAL);
    /* a success that maps nothing: port 0, an IPv6 address */
    buf[42] = buf[43] = 0;
    g_assert_cmpint(ipop__pcp_parse(buf, sizeof(buf), &a), ==, -EINVAL);
    pcp_answer(buf, 0);
    buf[45] = 0x20;
    g_assert_cmpint(ipop__pcp_parse(buf, sizeof(buf), &a), ==, -EINVAL);
    /* refused (NOT_AUTHORIZED): parses, with its result, body or not */
    pcp_answer(buf, 2);
    g_assert_cmpint(ipop__pcp_parse(buf, sizeof(buf), &a), ==, 0);
    g_assert_cmpint(a.result, ==, 2);
    g_assert_cmpint(ipop__pcp_parse(buf, 24, &a), ==, 0);
    g_assert_cmpint(a.result, ==, 2);
}

static void test_natpmp_answers(void)
{
    const uint8_t addr[12] = { 0, 128, 0, 0, 0, 0, 0, 7, 100, 201, 1, 2 };
    const uint8_t map[16] = { 0, 129, 0, 0, 0, 0, 0, 7, 0x12, 0x34, 0x43, 0x21, 0, 0, 0x1c, 0x20 };
    /* a NAT-PMP router's answer to a PCP request (RFC 6887 9) */
    const uint8_t unsupp[8] = { 0, 129, 0, 1, 0, 0, 0, 7 };
    uint8_t buf[16];
    ipop__pcp_answer a;

    g_assert_cmpint(ipop__pcp_parse(addr, sizeof(addr), &a), ==, 0);
    g_assert_cmpint(a.version, ==, 0);
    g_assert_cmpint(a.opcode, ==, 0);
    g_assert_true(a.has_ip);
    g_assert_cmpint(a.external_ip[3], ==, 2);
    g_assert_cmpint(a.epoch, ==, 7);
    g_assert_cmpint(ipop__pcp_parse(map, sizeof(map), &a), ==, 0);
    g_assert_cmpint(a.opcode, ==, 1);
    g_assert_cmpint(a.internal_port, ==, 0x1234);
    g_assert_cmpint(a.external_port, ==, 0x4321);
    g_assert_cmpint(a.lifetime, ==, 7200);
    g_assert_cmpint(ipop__pcp_parse(unsupp, sizeof(unsupp), &a), ==, 0);
    g_assert_cmpint(a.result, ==, IPOP__PCP_UNSUPP_VERSION);
    for (size_t n = 0; n < sizeof(map); n++)
        g_assert_cmpint(ipop__pcp_parse(map, n, &a), ==, -EINVAL);
    memcpy(buf, map, sizeof(map));
    buf[10] = buf[11] = 0; /* mapped to port 0: nothing */
    g_assert_cmpint(ipop__pcp_parse(buf, sizeof(buf), &a), ==, -EINVAL);
    buf[0] = 1; /* a version neither speaks */
    g_assert_cmpint(ipop__pcp_parse(buf, sizeof(buf), &a), ==, -EINVAL);
    g_assert_cmpint(ipop__pcp_parse(NULL, 0, &a), ==, -EINVAL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pcp/request", test_pcp_request);
    g_test_add_func("/pcp/natpmp-requests", test_natpmp_requests);
    g_test_add_func("/pcp/answer", test_pcp_answer);
    g_test_add_func("/pcp/natpmp-answers", test_natpmp_answers);
    return g_test_run();
}
