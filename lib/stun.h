/* SPDX-License-Identifier: MIT */
/* STUN Binding requests (RFC 5389) for probing STUN servers: libnice takes
 * one STUN server per agent, so the network finds out which of its servers
 * answer and gives new links the first one that does. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define IPOP__STUN_HDR 20
#define IPOP__STUN_TXID 12

/* Writes a Binding request with transaction id `txid` (20 bytes).  Pure. */
void ipop__stun_request(uint8_t buf[IPOP__STUN_HDR], const uint8_t txid[IPOP__STUN_TXID]);

/* Whether `buf` is a well-formed STUN response (success or error) to
 * the Binding request `txid`: 1 when it is, 0 when it is a well-formed
 * message of another kind or for another transaction, -EINVAL when it is
 * not a STUN message.  Only the header is checked (the answer is a sign
 * of life; its contents are libnice's business).  Pure. */
int ipop__stun_is_response(const uint8_t *buf, size_t len, const uint8_t txid[IPOP__STUN_TXID]);

/* ICE connectivity checks on a link's direct path, once the library reads
 * that socket itself (RFC 8445 section 7.3; RFC 5389 sections 10.1.2 and
 * 15): `req` is a Binding request from `from`.  It is answered only when
 * its USERNAME starts with "ufrag:" and its MESSAGE-INTEGRITY is the
 * HMAC-SHA1 under `pwd`, and when a FINGERPRINT it carries is right.
 * Writes a Binding success response (XOR-MAPPED-ADDRESS of `from`,
 * MESSAGE-INTEGRITY under `pwd`, FINGERPRINT) into `out` and returns its
 * length; 0 for a well-formed indication (keepalives: nothing to answer);
 * -EINVAL for anything malformed, -EPERM for a request that does not
 * authenticate, -ENOBUFS when `out` is too small.  Pure. */
struct sockaddr;
int ipop__stun_answer(const uint8_t *req, size_t len, const char *ufrag, const char *pwd,
                      const struct sockaddr *from, uint8_t *out, size_t outlen);
