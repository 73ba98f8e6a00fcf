/* SPDX-License-Identifier: MIT */
/* The STUN probe's request and response check (lib/stun.c), against
 * messages laid out by hand from RFC 5389; the ICE check answer, against
 * libnice's own STUN code (an independent implementation): it builds the
 * checks and validates our answers. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <netinet/in.h>
#include <string.h>

#include <stun/stunagent.h>
#include <stun/usages/ice.h>

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

#define UFRAG "lUfr"
#define PWD "local-password-of-22-chars"

/* A connectivity check as libnice's agent makes it: USERNAME
 * "UFRAG:peer", MESSAGE-INTEGRITY under PWD, FINGERPRINT. */
static size_t make_check(StunAgent *agent, uint8_t *buf, size_t size, const char *user, const char *pwd)
{
    StunMessage msg;
    size_t len;

    stun_agent_init(agent, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
    len = stun_usage_ice_conncheck_create(agent, &msg, buf, size, (const uint8_t *)user, strlen(user),
                                          (const uint8_t *)pwd, strlen(pwd), true, true, 0x6e7f1eff,
                                          0x932ff9b151263b36ull, NULL, STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
    g_assert_cmpuint(len, >, IPOP__STUN_HDR);
    return len;
}

/* libnice takes our answer as the response to its check, with the mapped
 * address we saw. */
static void check_answer(const struct sockaddr *from, socklen_t from_len)
{
    StunAgent agent;
    StunMessage resp;
    uint8_t req[512], out[256];
    size_t len = make_check(&agent, req, sizeof(req), UFRAG ":pEer", PWD);
    struct sockaddr_storage mapped;
    socklen_t mapped_len = sizeof(mapped);
    StunDefaultValidaterData key = { (uint8_t *)UFRAG ":pEer", strlen(UFRAG ":pEer"), (uint8_t *)PWD, strlen(PWD) };
    int n = ipop__stun_answer(req, len, UFRAG, PWD, from, out, sizeof(out));

    g_assert_cmpint(n, >, IPOP__STUN_HDR);
    g_assert_cmpint(stun_agent_validate(&agent, &resp, out, (size_t)n, stun_agent_default_validater, &key), ==,
                    STUN_VALIDATION_SUCCESS);
    g_assert_cmpint(stun_usage_ice_conncheck_process(&resp, &mapped, &mapped_len, STUN_USAGE_ICE_COMPATIBILITY_RFC5245),
                    ==, STUN_USAGE_ICE_RETURN_SUCCESS);
    g_assert_cmpint(mapped.ss_family, ==, from->sa_family);
    if (from->sa_family == AF_INET)
        g_assert_cmpmem(&((struct sockaddr_in *)&mapped)->sin_addr, 4, &((const struct sockaddr_in *)from)->sin_addr, 4);
    else
        g_assert_cmpmem(&((struct sockaddr_in6 *)&mapped)->sin6_addr, 16,
                        &((const struct sockaddr_in6 *)from)->sin6_addr, 16);
    g_assert_cmpuint(((struct sockaddr_in *)&mapped)->sin_port, ==, ((const struct sockaddr_in *)from)->sin_port);
    (void)from_len;
    /* too small a buffer */
    g_assert_cmpint(ipop__stun_answer(req, len, UFRAG, PWD, from, out, 40), ==, -ENOBUFS);
}

static void test_answer(void)
{
    struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(54321) };
    struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(5000) };

    inet_pton(AF_INET, "192.0.2.77", &s4.sin_addr);
    inet_pton(AF_INET6, "2001:db8::1:2", &s6.sin6_addr);
    check_answer((struct sockaddr *)&s4, sizeof(s4));
    check_answer((struct sockaddr *)&s6, sizeof(s6));
}

static void test_answer_refused(void)
{
    struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(54321) };
    StunAgent agent;
    uint8_t req[512], out[256], ind[IPOP__STUN_HDR];
    size_t len;

    /* wrong password, someone else's ufrag, a ufrag that is only a prefix */
    len = make_check(&agent, req, sizeof(req), UFRAG ":pEer", "another-password-of-22c");
    g_assert_cmpint(ipop__stun_answer(req, len, UFRAG, PWD, (struct sockaddr *)&s4, out, sizeof(out)), ==, -EPERM);
    len = make_check(&agent, req, sizeof(req), "oThr:pEer", PWD);
    g_assert_cmpint(ipop__stun_answer(req, len, UFRAG, PWD, (struct sockaddr *)&s4, out, sizeof(out)), ==, -EPERM);
    len = make_check(&agent, req, sizeof(req), UFRAG "x:pEer", PWD);
    g_assert_cmpint(ipop__stun_answer(req, len, UFRAG, PWD, (struct sockaddr *)&s4, out, sizeof(out)), ==, -EPERM);

    /* no single-bit change of a good check is answered (one bit of the
     * type makes it an indication, which needs no answer: 0) */
    len = make_check(&agent, req, sizeof(req), UFRAG ":pEer", PWD);
    for (size_t i = 0; i < len * 8; i++) {
        req[i / 8] ^= (uint8_t)(1u << (i % 8));
        g_assert_cmpint(ipop__stun_answer(req, len, UFRAG, PWD, (struct sockaddr *)&s4, out, sizeof(out)), <=, 0);
        req[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    /* every truncation */
    for (size_t l = 0; l < len; l++)
        g_assert_cmpint(ipop__stun_answer(req, l, UFRAG, PWD, (struct sockaddr *)&s4, out, sizeof(out)), <, 0);
    g_assert_cmpint(ipop__stun_answer(req, len, UFRAG, PWD, (struct sockaddr *)&s4, out, sizeof(out)), >, 0);

    /* an indication (libnice's keepalive) needs no answer; a response is not a check */
    header(ind, 0x0011, 0, txid);
    g_assert_cmpint(ipop__stun_answer(ind, sizeof(ind), UFRAG, PWD, (struct sockaddr *)&s4, out, sizeof(out)), ==, 0);
    header(ind, 0x0101, 0, txid);
    g_assert_cmpint(ipop__stun_answer(ind, sizeof(ind), UFRAG, PWD, (struct sockaddr *)&s4, out, sizeof(out)), ==,
                    -EINVAL);
    /* a request without credentials */
    header(ind, 0x0001, 0, txid);
    g_assert_cmpint(ipop__stun_answer(ind, sizeof(ind), UFRAG, PWD, (struct sockaddr *)&s4, out, sizeof(out)), ==,
                    -EPERM);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/stun/request", test_request);
    g_test_add_func("/stun/responses", test_responses);
    g_test_add_func("/stun/malformed", test_malformed);
    g_test_add_func("/stun/answer", test_answer);
    g_test_add_func("/stun/answer-refused", test_answer_refused);
    return g_test_run();
}
