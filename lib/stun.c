/* SPDX-License-Identifier: MIT */
/* STUN through libnice's STUN library (stun.h).  What is checked here by
 * hand comes before libnice sees a message: its size and the RFC 5389
 * header, so that only STUN of the expected kind reaches the agent. */
#include <errno.h>
#include <string.h>

#include <stun/stunmessage.h>
#include <stun/usages/bind.h> /* stun_usage_bind_process */
#include <stun/usages/ice.h>

#include "bytes.h"
#include "stun.h"

#define COOKIE 0x2112A442u
#define BINDING_REQUEST 0x0001
#define BINDING_INDICATION 0x0011

/* A whole RFC 5389 message, and nothing more: its length field agrees
 * with the datagram's, the attributes are well-formed, and it carries the
 * magic cookie. */
static bool whole_message(const uint8_t *buf, size_t len)
{
    return buf && len >= IPOP__STUN_HDR && len <= 65535 + IPOP__STUN_HDR &&
           stun_message_validate_buffer_length(buf, len, true) == (int)len && ipop__get32(buf + 4) == COOKIE;
}

/* ---- probes ---- */

void ipop__stun_probe_init(StunAgent *agent)
{
    /* No credentials (a Binding request to a public server carries none)
     * and no FINGERPRINT asked of the servers, as libnice's own discovery. */
    stun_agent_init(agent, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_IGNORE_CREDENTIALS);
}

size_t ipop__stun_request(StunAgent *agent, uint8_t *buf, size_t size, StunTransactionId id)
{
    StunMessage msg;
    size_t n;

    /* stun_usage_bind_create(), with the header's room checked: libnice's
     * usage goes on to finish a message it could not start */
    if (!stun_agent_init_request(agent, &msg, buf, size, STUN_BINDING))
        return 0;
    n = stun_agent_finish_message(agent, &msg, NULL, 0);
    /* 0 also when the agent remembers too many unanswered requests */
    if (n > 0)
        stun_message_id(&msg, id);
    return n;
}

int ipop__stun_is_response(StunAgent *agent, const uint8_t *buf, size_t len, const StunTransactionId id,
                           struct sockaddr_storage *mapped)
{
    StunMessage msg;
    StunValidationStatus v;
    socklen_t mlen = sizeof(*mapped);

    if (mapped)
        mapped->ss_family = AF_UNSPEC;
    if (!whole_message(buf, len))
        return -EINVAL;
    /* the transaction first: a message for another never touches the
     * agent's record of the requests it made */
    if (memcmp(buf + 4, id, sizeof(StunTransactionId)) != 0)
        return 0;
    v = stun_agent_validate(agent, &msg, buf, len, NULL, NULL);
    if (v == STUN_VALIDATION_NOT_STUN || v == STUN_VALIDATION_INCOMPLETE_STUN)
        return -EINVAL;
    if (v != STUN_VALIDATION_SUCCESS && v != STUN_VALIDATION_UNKNOWN_ATTRIBUTE)
        return 0; /* a request, or a response the agent did not ask for */
    if (stun_message_get_class(&msg) != STUN_RESPONSE && stun_message_get_class(&msg) != STUN_ERROR)
        return 0;
    /* an error answer is an answer too: the server is there */
    if (mapped && stun_message_get_class(&msg) == STUN_RESPONSE &&
        stun_usage_bind_process(&msg, (struct sockaddr *)mapped, &mlen, NULL, NULL) != STUN_USAGE_BIND_RETURN_SUCCESS)
        mapped->ss_family = AF_UNSPEC;
    return 1;
}

void ipop__stun_forget(StunAgent *agent, const StunTransactionId id)
{
    StunTransactionId copy;

    memcpy(copy, id, sizeof(copy));
    stun_agent_forget_transaction(agent, copy);
}

/* ---- ICE checks on a direct path ---- */

void ipop__stun_responder_init(StunAgent *agent)
{
    /* as libnice's agent checks (RFC 5245 compatibility, RFC 5389 STUN) */
    stun_agent_init(agent, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
}

typedef struct creds {
    const char *ufrag, *pwd;
} creds;

/* RFC 8445 7.3: the USERNAME is "<our ufrag>:<theirs>"; its key our password. */
static bool validater(StunAgent *agent, StunMessage *msg, uint8_t *user, uint16_t user_len, uint8_t **key,
                      size_t *key_len, void *data)
{
    const creds *c = data;
    size_t ulen = strlen(c->ufrag);

    if (!user || user_len <= ulen || memcmp(user, c->ufrag, ulen) != 0 || user[ulen] != ':')
        return false;
    *key = (uint8_t *)c->pwd;
    *key_len = strlen(c->pwd);
    return true;
}

int ipop__stun_answer(StunAgent *agent, ipop__stun_role *role, const uint8_t *req, size_t len, const char *ufrag,
                      const char *pwd, const struct sockaddr *from, socklen_t from_len, uint8_t *out,
                      size_t outlen)
{
    creds c = { ufrag, pwd };
    StunMessage msg, ans;
    StunUsageIceReturn r;
    size_t n = outlen;
    bool controlling = role->controlling;

    if (len > IPOP__STUN_CHECK_MAX || !whole_message(req, len))
        return -EINVAL;
    if (ipop__get16(req) == BINDING_INDICATION)
        return 0;
    if (ipop__get16(req) != BINDING_REQUEST)
        return -EINVAL;
    if (from->sa_family != AF_INET && from->sa_family != AF_INET6)
        return -EINVAL;
    switch (stun_agent_validate(agent, &msg, req, len, validater, &c)) {
    case STUN_VALIDATION_SUCCESS:
        break;
    case STUN_VALIDATION_UNKNOWN_REQUEST_ATTRIBUTE:
        /* authenticated, but with an attribute we must understand and do
         * not: 420, listing it, signed like any answer */
        n = stun_agent_build_unknown_attributes_error(agent, &ans, out, outlen, &msg);
        return n > 0 ? (int)n : -ENOBUFS;
    case STUN_VALIDATION_UNAUTHORIZED:
    case STUN_VALIDATION_UNAUTHORIZED_BAD_REQUEST:
        return -EPERM;
    default:
        return -EINVAL; /* a FINGERPRINT missing or wrong */
    }
    /* A success response, or 487 when the sender claims our role and the
     * tie-breakers say we keep it; when they say we give it up, the
     * response is a success and the role switches (RFC 8445 7.3.1.1). */
    r = stun_usage_ice_conncheck_create_reply(agent, &msg, &ans, out, &n, (const struct sockaddr_storage *)from,
                                              from_len, &controlling, role->tie,
                                              STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
    if (n == 0)
        return r == STUN_USAGE_ICE_RETURN_MEMORY_ERROR ? -ENOBUFS : -EINVAL;
    role->controlling = controlling;
    return (int)n;
}
