/* SPDX-License-Identifier: MIT */
/* Fuzzes lib/stun.c as it uses libnice's STUN library: the STUN probe's
 * response check (never a read outside the input, answers only to a
 * request the agent made, a response to our own request recognised as
 * one) and the ICE check answer (a random input never authenticates, so
 * it is never answered). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_answer(const uint8_t *copy, size_t size)
{
    static StunAgent responder;
    static int ready;
    struct sockaddr_storage from = { .ss_family = (size & 1) ? AF_INET : AF_INET6 };
    ipop__stun_role role = { .controlling = size & 2, .tie = 42 };
    bool was = role.controlling;
    uint8_t out[IPOP__STUN_ANSWER_MAX];
    int a;

    if (!ready) {
        ipop__stun_responder_init(&responder);
        ready = 1;
    }
    a = ipop__stun_answer(&responder, &role, copy, size, "ufrg", "a-password", (struct sockaddr *)&from,
                          from.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6), out,
                          sizeof(out));
    if (a > 0 || (a < 0 && a != -EINVAL && a != -EPERM) || role.controlling != was)
        abort();
}

static void fuzz_probe(uint8_t *copy, size_t size)
{
    StunAgent agent;
    StunTransactionId id;
    uint8_t req[IPOP__STUN_REQ_MAX];
    int r;

    ipop__stun_probe_init(&agent);
    if (ipop__stun_request(&agent, req, sizeof(req), id) != IPOP__STUN_HDR)
        abort();
    /* our own request is never taken for a response */
    if (ipop__stun_is_response(&agent, req, IPOP__STUN_HDR, id, NULL) != 0)
        abort();
    r = ipop__stun_is_response(&agent, copy, size, id, NULL);
    if (r != -EINVAL && r != 0)
        abort(); /* the input cannot know the agent's random id */
    /* the same bytes made a response to our request: an answer if they are
     * well-formed STUN at all */
    if (size >= IPOP__STUN_HDR) {
        struct sockaddr_storage mapped;
        copy[0] = 0x01;
        copy[1] = 0x01;
        memcpy(copy + 4, id, sizeof(id));
        r = ipop__stun_is_response(&agent, copy, size, id, &mapped);
        if (r != -EINVAL && r != 0 && r != 1)
            abort();
        if (r == 1 && mapped.ss_family != AF_UNSPEC && mapped.ss_family != AF_INET && mapped.ss_family != AF_INET6)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly the input's size: ASan sees any read past it */
    uint8_t *copy = malloc(size ? size : 1);

    if (!copy)
        abort();
    memcpy(copy, data, size);
    fuzz_answer(copy, size);
    fuzz_probe(copy, size);
    free(copy);
    return 0;
}
