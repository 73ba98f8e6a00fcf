/* SPDX-License-Identifier: MIT */
/* lib/stun.c, which speaks STUN through libnice's STUN library, checked
 * from the other side: the probe's request read back, and answers laid out
 * by hand from RFC 5389 as well as built by libnice as a server would; the
 * ICE check answers validated by libnice's agent as the peer's would, with
 * 420 for an unknown comprehension-required attribute and the four role
 * conflict cases of RFC 8445 7.3.1.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <netinet/in.h>
#include <string.h>

#include <stun/stunagent.h>
#include <stun/usages/ice.h>

#include "stun.h"

/* header: type, length, cookie and transaction id (16 bytes, as libnice) */
static size_t header(uint8_t *b, unsigned type, unsigned len, const StunTransactionId id)
{
    b[0] = (uint8_t)(type >> 8);
    b[1] = (uint8_t)type;
    b[2] = (uint8_t)(len >> 8);
    b[3] = (uint8_t)len;
    memcpy(b + 4, id, sizeof(StunTransactionId));
    return IPOP__STUN_HDR;
}

static void test_request(void)
{
    StunAgent agent, server;
    StunMessage msg;
    StunTransactionId id, id2;
    uint8_t req[IPOP__STUN_REQ_MAX], req2[IPOP__STUN_REQ_MAX];
    size_t n;

    ipop__stun_probe_init(&agent);
    n = ipop__stun_request(&agent, req, sizeof(req), id);
    /* a Binding request (RFC 5389 6): type 0x0001, the cookie, the id */
    g_assert_cmpuint(n, ==, IPOP__STUN_HDR);
    g_assert_cmpmem(req, 4, "\x00\x01\x00\x00", 4);
    g_assert_cmpmem(req + 4, 4, "\x21\x12\xa4\x42", 4);
    g_assert_cmpmem(req + 4, 16, id, 16);
    /* as a server's libnice reads it */
    stun_agent_init(&server, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_RFC5389, STUN_AGENT_USAGE_IGNORE_CREDENTIALS);
    g_assert_cmpint(stun_agent_validate(&server, &msg, req, n, NULL, NULL), ==, STUN_VALIDATION_SUCCESS);
    g_assert_cmpint(stun_message_get_class(&msg), ==, STUN_REQUEST);
    g_assert_cmpint(stun_message_get_method(&msg), ==, STUN_BINDING);
    /* each request its own transaction */
    g_assert_cmpuint(ipop__stun_request(&agent, req2, sizeof(req2), id2), ==, IPOP__STUN_HDR);
    g_assert_false(memcmp(id, id2, sizeof(id)) == 0);
    /* a request is not an answer to itself; no room, no request */
    g_assert_cmpint(ipop__stun_is_response(&agent, req, n, id, NULL), ==, 0);
    g_assert_cmpuint(ipop__stun_request(&agent, req, IPOP__STUN_HDR - 1, id), ==, 0);
}

/* The answer a server's libnice gives to req: success with the mapped
 * address, or an error. */
static size_t server_answer(const uint8_t *req, size_t len, int error, uint8_t *out, size_t size)
{
    StunAgent server;
    StunMessage msg, ans;
    struct sockaddr_in seen = { .sin_family = AF_INET, .sin_port = htons(40000) };

    inet_pton(AF_INET, "198.51.100.7", &seen.sin_addr);
    stun_agent_init(&server, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_RFC5389, STUN_AGENT_USAGE_IGNORE_CREDENTIALS);
    g_assert_cmpint(stun_agent_validate(&server, &msg, req, len, NULL, NULL), ==, STUN_VALIDATION_SUCCESS);
    if (error) {
        g_assert_true(stun_agent_init_error(&server, &ans, out, size, &msg, (StunError)error));
    } else {
        g_assert_true(stun_agent_init_response(&server, &ans, out, size, &msg));
        g_assert_cmpint(stun_message_append_xor_addr(&ans, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
                                                     (struct sockaddr_storage *)&seen, sizeof(seen)),
                        ==, STUN_MESSAGE_RETURN_SUCCESS);
    }
    return stun_agent_finish_message(&server, &ans, NULL, 0);
}

static void test_responses(void)
{
    StunAgent agent;
    StunTransactionId id, other;
    struct sockaddr_storage mapped;
    uint8_t req[IPOP__STUN_REQ_MAX], b[128];
    size_t n, len;
    char ip[64];

    ipop__stun_probe_init(&agent);
    len = ipop__stun_request(&agent, req, sizeof(req), id);
    /* a success response, as a server's libnice builds it */
    n = server_answer(req, len, 0, b, sizeof(b));
    g_assert_cmpint(ipop__stun_is_response(&agent, b, n, id, &mapped), ==, 1);
    g_assert_cmpint(mapped.ss_family, ==, AF_INET);
    inet_ntop(AF_INET, &((struct sockaddr_in *)&mapped)->sin_addr, ip, sizeof(ip));
    g_assert_cmpstr(ip, ==, "198.51.100.7");
    g_assert_cmpuint(ntohs(((struct sockaddr_in *)&mapped)->sin_port), ==, 40000);
    /* the same answer twice: the transaction is over */
    g_assert_cmpint(ipop__stun_is_response(&agent, b, n, id, NULL), ==, 0);

    /* laid out by hand (RFC 5389 15.2): XOR-MAPPED-ADDRESS 192.0.2.1:32853 */
    len = ipop__stun_request(&agent, req, sizeof(req), id);
    n = header(b, 0x0101, 12, id);
    memcpy(b + n, "\x00\x20\x00\x08\x00\x01\xa1\x47\xe1\x12\xa6\x43", 12);
    g_assert_cmpint(ipop__stun_is_response(&agent, b, n + 12, id, &mapped), ==, 1);
    inet_ntop(AF_INET, &((struct sockaddr_in *)&mapped)->sin_addr, ip, sizeof(ip));
    g_assert_cmpstr(ip, ==, "192.0.2.1");
    g_assert_cmpuint(ntohs(((struct sockaddr_in *)&mapped)->sin_port), ==, 32853);

    /* an error response is an answer too: the server is there */
    len = ipop__stun_request(&agent, req, sizeof(req), id);
    n = server_answer(req, len, STUN_ERROR_SERVER_ERROR, b, sizeof(b));
    g_assert_cmpint(ipop__stun_is_response(&agent, b, n, id, &mapped), ==, 1);
    g_assert_cmpint(mapped.ss_family, ==, AF_UNSPEC);

    /* another transaction, one the agent never made, one it forgot */
    len = ipop__stun_request(&agent, req, sizeof(req), id);
    n = server_answer(req, len, 0, b, sizeof(b));
    memcpy(other, id, sizeof(other));
    other[15] ^= 1;
    g_assert_cmpint(ipop__stun_is_response(&agent, b, n, other, NULL), ==, 0);
    b[IPOP__STUN_HDR - 1] ^= 1;
    g_assert_cmpint(ipop__stun_is_response(&agent, b, n, other, NULL), ==, 0);
    b[IPOP__STUN_HDR - 1] ^= 1;
    ipop__stun_forget(&agent, id);
    g_assert_cmpint(ipop__stun_is_response(&agent, b, n, id, NULL), ==, 0);

    /* another method (Allocate, 0x003), an indication (0x0011) */
    len = ipop__stun_request(&agent, req, sizeof(req), id);
    header(b, 0x0103, 0, id);
    g_assert_cmpint(ipop__stun_is_response(&agent, b, IPOP__STUN_HDR, id, NULL), ==, 0);
    header(b, 0x0011, 0, id);
    g_assert_cmpint(ipop__stun_is_response(&agent, b, IPOP__STUN_HDR, id, NULL), ==, 0);
}

static void test_malformed(void)
{
    StunAgent agent;
    StunTransactionId id;
    uint8_t req[IPOP__STUN_REQ_MAX], b[64];

    ipop__stun_probe_init(&agent);
    ipop__stun_request(&agent, req, sizeof(req), id);
    g_assert_cmpint(ipop__stun_is_response(&agent, NULL, 0, id, NULL), ==, -EINVAL);
    header(b, 0x0101, 0, id);
    g_assert_cmpint(ipop__stun_is_response(&agent, b, IPOP__STUN_HDR - 1, id, NULL), ==, -EINVAL);
    /* length field and datagram disagree, or not a multiple of 4 */
    header(b, 0x0101, 8, id);
    g_assert_cmpint(ipop__stun_is_response(&agent, b, IPOP__STUN_HDR + 4, id, NULL), ==, -EINVAL);
    header(b, 0x0101, 2, id);
    g_assert_cmpint(ipop__stun_is_response(&agent, b, IPOP__STUN_HDR + 2, id, NULL), ==, -EINVAL);
    /* an attribute running past the message */
    header(b, 0x0101, 8, id);
    memcpy(b + IPOP__STUN_HDR, "\x00\x20\x00\x10\x00\x01\x00\x00", 8);
    g_assert_cmpint(ipop__stun_is_response(&agent, b, IPOP__STUN_HDR + 8, id, NULL), ==, -EINVAL);
    /* a wrong cookie (RFC 3489 and anything else) */
    header(b, 0x0101, 0, id);
    b[7] ^= 0xff;
    g_assert_cmpint(ipop__stun_is_response(&agent, b, IPOP__STUN_HDR, id, NULL), ==, -EINVAL);
    /* the top bits set: DTLS or RTP, not STUN */
    header(b, 0x0101, 0, id);
    b[0] = 0x80 | b[0];
    g_assert_cmpint(ipop__stun_is_response(&agent, b, IPOP__STUN_HDR, id, NULL), ==, -EINVAL);
    /* and the real answer still counts after all that */
    header(b, 0x0101, 0, id);
    g_assert_cmpint(ipop__stun_is_response(&agent, b, IPOP__STUN_HDR, id, NULL), ==, 1);
}

#define UFRAG "lUfr"
#define PWD "local-password-of-22-chars"
#define PEER_USER UFRAG ":pEer"
#define OUR_TIE 0x5000000000000000ull

static StunAgent responder;

/* A connectivity check as libnice's agent makes it: USERNAME
 * "UFRAG:peer", PRIORITY, USE-CANDIDATE, ICE-CONTROLLING (or -CONTROLLED)
 * with the sender's tie-breaker, MESSAGE-INTEGRITY under pwd,
 * FINGERPRINT. */
static size_t make_check_role(StunAgent *agent, uint8_t *buf, size_t size, const char *user, const char *pwd,
                              bool controlling, uint64_t tie)
{
    StunMessage msg;
    size_t len;

    stun_agent_init(agent, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
    len = stun_usage_ice_conncheck_create(agent, &msg, buf, size, (const uint8_t *)user, strlen(user),
                                          (const uint8_t *)pwd, strlen(pwd), controlling, controlling, 0x6e7f1eff,
                                          tie, NULL, STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
    g_assert_cmpuint(len, >, IPOP__STUN_HDR);
    return len;
}

/* the peer controls (it has the smaller node id), we are controlled */
static size_t make_check(StunAgent *agent, uint8_t *buf, size_t size, const char *user, const char *pwd)
{
    return make_check_role(agent, buf, size, user, pwd, true, 0x932ff9b151263b36ull);
}

static int answer(const uint8_t *req, size_t len, ipop__stun_role *role, const struct sockaddr *from, uint8_t *out,
                  size_t outlen)
{
    socklen_t fl = from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

    return ipop__stun_answer(&responder, role, req, len, UFRAG, PWD, from, fl, out, outlen);
}

/* The peer's libnice takes our answer as the response to its check:
 * returns the class, and the error code of an error response. */
static StunClass peer_reads(StunAgent *agent, const uint8_t *out, int n, int *code)
{
    StunMessage resp;
    StunDefaultValidaterData key = { (uint8_t *)PEER_USER, strlen(PEER_USER), (uint8_t *)PWD, strlen(PWD) };

    g_assert_cmpint(n, >, IPOP__STUN_HDR);
    g_assert_cmpint(stun_agent_validate(agent, &resp, out, (size_t)n, stun_agent_default_validater, &key), ==,
                    STUN_VALIDATION_SUCCESS);
    *code = 0;
    if (stun_message_get_class(&resp) == STUN_ERROR)
        g_assert_cmpint(stun_message_find_error(&resp, code), ==, STUN_MESSAGE_RETURN_SUCCESS);
    return stun_message_get_class(&resp);
}

/* libnice takes our answer as the response to its check, with the mapped
 * address we saw. */
static void check_answer(const struct sockaddr *from)
{
    StunAgent agent;
    StunMessage resp;
    uint8_t req[512], out[IPOP__STUN_ANSWER_MAX];
    size_t len = make_check(&agent, req, sizeof(req), PEER_USER, PWD);
    struct sockaddr_storage mapped;
    socklen_t mapped_len = sizeof(mapped);
    StunDefaultValidaterData key = { (uint8_t *)PEER_USER, strlen(PEER_USER), (uint8_t *)PWD, strlen(PWD) };
    ipop__stun_role role = { .controlling = false, .tie = OUR_TIE };
    int n = answer(req, len, &role, from, out, sizeof(out));

    g_assert_cmpint(n, >, IPOP__STUN_HDR);
    g_assert_false(role.controlling);
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
    /* too small a buffer */
    g_assert_cmpint(answer(req, len, &role, from, out, 40), <, 0);
}

static void test_answer(void)
{
    struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(54321) };
    struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(5000) };

    inet_pton(AF_INET, "192.0.2.77", &s4.sin_addr);
    inet_pton(AF_INET6, "2001:db8::1:2", &s6.sin6_addr);
    check_answer((struct sockaddr *)&s4);
    check_answer((struct sockaddr *)&s6);
}

static void test_answer_refused(void)
{
    struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(54321) };
    const struct sockaddr *from = (struct sockaddr *)&s4;
    ipop__stun_role role = { .controlling = false, .tie = OUR_TIE };
    StunAgent agent;
    StunTransactionId id = { 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
    uint8_t req[512], out[IPOP__STUN_ANSWER_MAX], ind[IPOP__STUN_HDR];
    size_t len;

    /* wrong password, someone else's ufrag, a ufrag that is only a prefix */
    len = make_check(&agent, req, sizeof(req), PEER_USER, "another-password-of-22c");
    g_assert_cmpint(answer(req, len, &role, from, out, sizeof(out)), ==, -EPERM);
    len = make_check(&agent, req, sizeof(req), "oThr:pEer", PWD);
    g_assert_cmpint(answer(req, len, &role, from, out, sizeof(out)), ==, -EPERM);
    len = make_check(&agent, req, sizeof(req), UFRAG "x:pEer", PWD);
    g_assert_cmpint(answer(req, len, &role, from, out, sizeof(out)), ==, -EPERM);

    /* no single-bit change of a good check is answered (one bit of the
     * type makes it an indication, which needs no answer: 0) */
    len = make_check(&agent, req, sizeof(req), PEER_USER, PWD);
    for (size_t i = 0; i < len * 8; i++) {
        req[i / 8] ^= (uint8_t)(1u << (i % 8));
        g_assert_cmpint(answer(req, len, &role, from, out, sizeof(out)), <=, 0);
        req[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    /* every truncation */
    for (size_t l = 0; l < len; l++)
        g_assert_cmpint(answer(req, l, &role, from, out, sizeof(out)), <, 0);
    g_assert_cmpint(answer(req, len, &role, from, out, sizeof(out)), >, 0);
    g_assert_false(role.controlling);

    /* an indication (libnice's keepalive) needs no answer; a response is not a check */
    header(ind, 0x0011, 0, id);
    g_assert_cmpint(answer(ind, sizeof(ind), &role, from, out, sizeof(out)), ==, 0);
    header(ind, 0x0101, 0, id);
    g_assert_cmpint(answer(ind, sizeof(ind), &role, from, out, sizeof(out)), ==, -EINVAL);
    /* a bare request: no FINGERPRINT (libnice's checks always carry one) */
    header(ind, 0x0001, 0, id);
    g_assert_cmpint(answer(ind, sizeof(ind), &role, from, out, sizeof(out)), ==, -EINVAL);
    /* a request with a FINGERPRINT and no credentials */
    {
        StunMessage msg;
        g_assert_true(stun_agent_init_request(&agent, &msg, req, sizeof(req), STUN_BINDING));
        len = stun_agent_finish_message(&agent, &msg, NULL, 0);
        g_assert_cmpuint(len, >, IPOP__STUN_HDR);
        g_assert_cmpint(answer(req, len, &role, from, out, sizeof(out)), ==, -EPERM);
    }
}

/* A check with one more attribute, signed: a comprehension-required type
 * (below 0x8000) libnice does not know gets 420 listing it (RFC 5389
 * 7.3.1); a comprehension-optional one is ignored. */
static size_t make_check_with(StunAgent *agent, uint8_t *buf, size_t size, uint16_t extra)
{
    StunMessage msg;

    stun_agent_init(agent, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
    g_assert_true(stun_agent_init_request(agent, &msg, buf, size, STUN_BINDING));
    g_assert_cmpint(stun_message_append32(&msg, STUN_ATTRIBUTE_PRIORITY, 0x6e7f1eff), ==, STUN_MESSAGE_RETURN_SUCCESS);
    g_assert_cmpint(stun_message_append64(&msg, STUN_ATTRIBUTE_ICE_CONTROLLING, 0x932ff9b151263b36ull), ==,
                    STUN_MESSAGE_RETURN_SUCCESS);
    g_assert_cmpint(stun_message_append_string(&msg, STUN_ATTRIBUTE_USERNAME, PEER_USER), ==,
                    STUN_MESSAGE_RETURN_SUCCESS);
    g_assert_cmpint(stun_message_append32(&msg, (StunAttribute)extra, 7), ==, STUN_MESSAGE_RETURN_SUCCESS);
    return stun_agent_finish_message(agent, &msg, (const uint8_t *)PWD, strlen(PWD));
}

static void test_unknown_attribute(void)
{
    struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(54321) };
    ipop__stun_role role = { .controlling = false, .tie = OUR_TIE };
    StunAgent agent;
    StunMessage resp;
    StunDefaultValidaterData key = { (uint8_t *)PEER_USER, strlen(PEER_USER), (uint8_t *)PWD, strlen(PWD) };
    uint8_t req[512], out[IPOP__STUN_ANSWER_MAX];
    const uint8_t *list;
    uint16_t list_len;
    size_t len;
    int n, code;

    len = make_check_with(&agent, req, sizeof(req), 0x7ff0);
    g_assert_cmpuint(len, >, 0);
    n = answer(req, len, &role, (struct sockaddr *)&s4, out, sizeof(out));
    g_assert_cmpint(stun_agent_validate(&agent, &resp, out, (size_t)n, stun_agent_default_validater, &key), ==,
                    STUN_VALIDATION_SUCCESS);
    g_assert_cmpint(stun_message_get_class(&resp), ==, STUN_ERROR);
    g_assert_cmpint(stun_message_find_error(&resp, &code), ==, STUN_MESSAGE_RETURN_SUCCESS);
    g_assert_cmpint(code, ==, 420);
    list = stun_message_find(&resp, STUN_ATTRIBUTE_UNKNOWN_ATTRIBUTES, &list_len);
    g_assert_nonnull(list);
    g_assert_cmpuint(list_len, ==, 2);
    g_assert_cmpmem(list, 2, "\x7f\xf0", 2);
    /* the same check unsigned by us: no answer at all (only the peer hears one) */
    len = make_check_with(&agent, req, sizeof(req), 0x7ff0);
    {
        StunAgent other;
        uint8_t req2[512];
        StunMessage msg;
        stun_agent_init(&other, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_RFC5389,
                        STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
        g_assert_true(stun_agent_init_request(&other, &msg, req2, sizeof(req2), STUN_BINDING));
        g_assert_cmpint(stun_message_append_string(&msg, STUN_ATTRIBUTE_USERNAME, PEER_USER), ==,
                        STUN_MESSAGE_RETURN_SUCCESS);
        g_assert_cmpint(stun_message_append32(&msg, (StunAttribute)0x7ff0, 7), ==, STUN_MESSAGE_RETURN_SUCCESS);
        len = stun_agent_finish_message(&other, &msg, (const uint8_t *)"not-our-password-at-all", 23);
        g_assert_cmpint(answer(req2, len, &role, (struct sockaddr *)&s4, out, sizeof(out)), ==, -EPERM);
    }
    /* comprehension-optional: answered as any check */
    len = make_check_with(&agent, req, sizeof(req), 0xc0f0);
    n = answer(req, len, &role, (struct sockaddr *)&s4, out, sizeof(out));
    g_assert_cmpint(peer_reads(&agent, out, n, &code), ==, STUN_RESPONSE);
}

/* RFC 8445 7.3.1.1, the four cases.  The peer claims the role we have: */
static void test_role_conflict(void)
{
    struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(54321) };
    const struct sockaddr *from = (struct sockaddr *)&s4;
    StunAgent agent;
    uint8_t req[512], out[IPOP__STUN_ANSWER_MAX];
    size_t len;
    int code;
    ipop__stun_role role;

    /* we control, it says ICE-CONTROLLING: our tie-breaker is larger or
     * equal: 487, and we stay controlling */
    role = (ipop__stun_role){ .controlling = true, .tie = OUR_TIE };
    len = make_check_role(&agent, req, sizeof(req), PEER_USER, PWD, true, OUR_TIE - 1);
    g_assert_cmpint(peer_reads(&agent, out, answer(req, len, &role, from, out, sizeof(out)), &code), ==, STUN_ERROR);
    g_assert_cmpint(code, ==, 487);
    g_assert_true(role.controlling);
    len = make_check_role(&agent, req, sizeof(req), PEER_USER, PWD, true, OUR_TIE);
    g_assert_cmpint(peer_reads(&agent, out, answer(req, len, &role, from, out, sizeof(out)), &code), ==, STUN_ERROR);
    g_assert_cmpint(code, ==, 487);
    g_assert_true(role.controlling);
    /* ... smaller: we switch to controlled and answer with success */
    len = make_check_role(&agent, req, sizeof(req), PEER_USER, PWD, true, OUR_TIE + 1);
    g_assert_cmpint(peer_reads(&agent, out, answer(req, len, &role, from, out, sizeof(out)), &code), ==, STUN_RESPONSE);
    g_assert_false(role.controlling);
    /* no conflict once switched: it controls, we are controlled */
    len = make_check_role(&agent, req, sizeof(req), PEER_USER, PWD, true, 1);
    g_assert_cmpint(peer_reads(&agent, out, answer(req, len, &role, from, out, sizeof(out)), &code), ==, STUN_RESPONSE);
    g_assert_false(role.controlling);

    /* we are controlled, it says ICE-CONTROLLED: our tie-breaker larger or
     * equal: we switch to controlling, success */
    role = (ipop__stun_role){ .controlling = false, .tie = OUR_TIE };
    len = make_check_role(&agent, req, sizeof(req), PEER_USER, PWD, false, OUR_TIE);
    g_assert_cmpint(peer_reads(&agent, out, answer(req, len, &role, from, out, sizeof(out)), &code), ==, STUN_RESPONSE);
    g_assert_true(role.controlling);
    /* ... smaller: 487, and we stay controlled */
    role = (ipop__stun_role){ .controlling = false, .tie = OUR_TIE };
    len = make_check_role(&agent, req, sizeof(req), PEER_USER, PWD, false, OUR_TIE + 1);
    g_assert_cmpint(peer_reads(&agent, out, answer(req, len, &role, from, out, sizeof(out)), &code), ==, STUN_ERROR);
    g_assert_cmpint(code, ==, 487);
    g_assert_false(role.controlling);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ipop__stun_responder_init(&responder);
    g_test_add_func("/stun/request", test_request);
    g_test_add_func("/stun/responses", test_responses);
    g_test_add_func("/stun/malformed", test_malformed);
    g_test_add_func("/stun/answer", test_answer);
    g_test_add_func("/stun/answer-refused", test_answer_refused);
    g_test_add_func("/stun/unknown-attribute", test_unknown_attribute);
    g_test_add_func("/stun/role-conflict", test_role_conflict);
    return g_test_run();
}
