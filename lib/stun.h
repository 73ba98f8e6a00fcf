/* SPDX-License-Identifier: MIT */
/* STUN through libnice's STUN library (stun/stunagent.h and its usages),
 * for the two places where the library speaks STUN without a libnice
 * agent: probing the STUN servers (libnice takes one server per agent, so
 * the network finds out which of its servers answer and gives new links
 * the first one that does), and answering ICE connectivity checks on a
 * link's direct path, once the library reads that socket itself.  The
 * functions are pure: no I/O, the caller sends what they write. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <stun/stunagent.h>

#define IPOP__STUN_HDR 20
/* a Binding request to a STUN server: header and FINGERPRINT */
#define IPOP__STUN_REQ_MAX 64
/* the largest ICE check answered, and room for any answer to it */
#define IPOP__STUN_CHECK_MAX 548
#define IPOP__STUN_ANSWER_MAX 600

/* ---- probes to STUN servers (RFC 5389 Binding, no credentials) ---- */

/* An agent remembers the requests it made (up to 200 at once) until their
 * answer came or they were forgotten. */
void ipop__stun_probe_init(StunAgent *agent);
/* Writes a Binding request into buf and its transaction id into id.
 * Returns its length, or 0 when buf is too small. */
size_t ipop__stun_request(StunAgent *agent, uint8_t *buf, size_t size, StunTransactionId id);
/* Whether buf is the answer (success or error) to request id: 1 when it
 * is (a success response's mapped address into *mapped, when not NULL;
 * AF_UNSPEC otherwise), 0 when it is well-formed STUN of another kind or
 * for another transaction, -EINVAL when it is not STUN. */
int ipop__stun_is_response(StunAgent *agent, const uint8_t *buf, size_t len, const StunTransactionId id,
                           struct sockaddr_storage *mapped);
/* A request that will get no answer (timed out). */
void ipop__stun_forget(StunAgent *agent, const StunTransactionId id);

/* ---- ICE checks on a direct path (RFC 8445 section 7.3) ---- */

/* The answering agent: short-term credentials, FINGERPRINT, the
 * attributes libnice's agent knows.  One serves any number of links. */
void ipop__stun_responder_init(StunAgent *agent);

/* Our side of ICE as the checks' answers tell it (RFC 8445 7.3.1.1). */
typedef struct ipop__stun_role {
    bool controlling;
    uint64_t tie;       /* tie-breaker */
} ipop__stun_role;

/* `req` is a STUN message from `from` on the direct path; ufrag and pwd
 * are our ICE credentials.  A Binding request whose USERNAME starts with
 * "ufrag:", with MESSAGE-INTEGRITY under pwd and a FINGERPRINT, is
 * answered: a success response (XOR-MAPPED-ADDRESS of `from`), 487 Role
 * Conflict when the sender claims our role and wins neither tie-break nor
 * makes us switch (a switch is written into *role), or 420 Unknown
 * Attribute for a comprehension-required attribute libnice does not know.
 * Returns the answer's length (written into out), 0 for a well-formed
 * indication (keepalives: nothing to answer), -EINVAL for anything
 * malformed or not a Binding request, -EPERM for a request that does not
 * authenticate (never answered: the direct path speaks only to its
 * peer), -ENOBUFS when out is too small. */
int ipop__stun_answer(StunAgent *agent, ipop__stun_role *role, const uint8_t *req, size_t len, const char *ufrag,
                      const char *pwd, const struct sockaddr *from, socklen_t from_len, uint8_t *out,
                      size_t outlen);
