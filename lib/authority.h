/* SPDX-License-Identifier: MIT */
/* A group authority, the pure part: member certificates and revocation
 * lists, their text form, the bytes that are signed, verification against
 * a pinned authority key, and the checks a member makes (node id, expiry
 * with a clock-skew allowance, revocation).  No I/O and no clock: the
 * caller passes the time.  Ed25519 through GnuTLS.  doc/protocol.md
 * ("Group authority") is the reference for the formats.
 *
 * A certificate is one line of printable ASCII:
 *
 *     ipop-cert1 serial=S node=ID name=N addr=A,A route=R,R issued=T expires=T authority=K sig=SIG
 *
 * and a revocation list
 *
 *     ipop-crl1 serial=S issued=T authority=K revoke=E,E sig=SIG
 *
 * in exactly that order, where "-" stands for an empty list, K is the
 * authority's key id and SIG the Ed25519 signature (base64url) of the
 * label "ipop-authority-v1" LF followed by the line up to " sig=". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "message.h"

#define IPOP__CERT_MAX 1024          /* longest certificate line, without NUL */
#define IPOP__CRL_MAX 4096           /* longest revocation list line */
#define IPOP__CERT_NAME_MAX 64       /* a member's name: [A-Za-z0-9._-] */
#define IPOP__CERT_ADDRS_MAX 4       /* addresses in a certificate */
#define IPOP__CERT_ROUTES_MAX 8      /* routes in a certificate */
#define IPOP__CRL_ENTRIES_MAX 64     /* serials and node ids in a revocation list */
#define IPOP__AUTHORITY_KEY_LEN 32   /* Ed25519 public key */
#define IPOP__AUTHORITY_SIG_LEN 64   /* Ed25519 signature */
#define IPOP__AUTHORITY_ID_LEN 16    /* key id: 16 lowercase hex digits */
/* "ed25519:" and 43 chars of base64url: the authority as a member's
 * configuration names it (group.authority). */
#define IPOP__AUTHORITY_PUB_TEXT_LEN 51
/* A certificate is valid from `issued` - skew to `expires` + skew: the
 * clock difference tolerated between the authority and the members. */
#define IPOP__AUTHORITY_SKEW_S 300

typedef struct ipop__authority_key {
    uint8_t pub[IPOP__AUTHORITY_KEY_LEN];
    char id[IPOP__AUTHORITY_ID_LEN + 1];   /* hex of the first 8 bytes of SHA-256(pub) */
} ipop__authority_key;

typedef struct ipop__cert {
    uint64_t serial;                       /* > 0, unique per authority */
    char node_id[IPOP__NODE_ID_LEN + 1];
    char name[IPOP__CERT_NAME_MAX + 1];
    unsigned n_addrs, n_routes;
    ipop__addr addrs[IPOP__CERT_ADDRS_MAX];     /* host addresses, each with its subnet's prefix */
    ipop__addr routes[IPOP__CERT_ROUTES_MAX];   /* subnets it may announce (option "routes"), or inside them */
    int64_t issued, expires;               /* Unix time, seconds */
    char authority[IPOP__AUTHORITY_ID_LEN + 1];
    uint8_t sig[IPOP__AUTHORITY_SIG_LEN];
} ipop__cert;

typedef struct ipop__crl {
    uint64_t serial;                       /* newer lists have larger serials */
    int64_t issued;
    char authority[IPOP__AUTHORITY_ID_LEN + 1];
    unsigned n_serials, n_nodes;
    uint64_t serials[IPOP__CRL_ENTRIES_MAX];
    char nodes[IPOP__CRL_ENTRIES_MAX][IPOP__NODE_ID_LEN + 1];
    uint8_t sig[IPOP__AUTHORITY_SIG_LEN];
} ipop__crl;

/* ---- keys ---- */

/* Parses "ed25519:<base64url>" (a whole string); fills pub and id.
 * Returns 0 or -EINVAL. */
int ipop__authority_key_parse(const char *text, ipop__authority_key *out);
/* Writes "ed25519:<base64url>" (IPOP__AUTHORITY_PUB_TEXT_LEN + 1 bytes). */
int ipop__authority_key_format(const ipop__authority_key *k, char *out, size_t size);
/* From a raw public key: computes the id.  Returns 0. */
int ipop__authority_key_from_raw(const uint8_t pub[IPOP__AUTHORITY_KEY_LEN], ipop__authority_key *out);

/* The authority's key pair: the Ed25519 private seed and the public key.
 * Its text form (the authority's key file) is one line,
 * "ipop-authority-key1 <seed, base64url> ed25519:<public key>". */
typedef struct ipop__authority_secret {
    uint8_t seed[32];
    ipop__authority_key pub;
} ipop__authority_secret;

/* A new key pair.  Returns 0 or -EIO. */
int ipop__authority_generate(ipop__authority_secret *out);
/* Parses the key file's line (one trailing LF allowed), and checks that
 * the seed and the public key belong together.  Returns 0 or -EINVAL. */
int ipop__authority_secret_parse(const char *text, size_t len, ipop__authority_secret *out);
/* Writes the line (with a trailing LF).  Returns its length or -EMSGSIZE. */
int ipop__authority_secret_format(const ipop__authority_secret *s, char *out, size_t size);
/* Wipes the seed. */
void ipop__authority_secret_clear(ipop__authority_secret *s);

/* ---- certificates ---- */

/* Encodes and signs c (its `authority` and `sig` are set from the key):
 * writes the line to out, NUL-terminated.  Returns its length, -EINVAL for
 * a field out of its bounds, -EMSGSIZE when it does not fit size or
 * IPOP__CERT_MAX, -EIO when signing fails. */
int ipop__cert_sign(ipop__cert *c, const ipop__authority_secret *s, char *out, size_t size);
/* Decodes a certificate line (len bytes, no NUL needed; one trailing LF
 * is allowed).  Strict: fields in order, canonical numbers and base64url.
 * Does not verify.  Returns 0, -EMSGSIZE, or -EINVAL.  *c is fully
 * overwritten. */
int ipop__cert_decode(ipop__cert *c, const char *text, size_t len);
/* Verifies the signature of a certificate line with the pinned key, and
 * that it names that key's id.  Returns 0, -EINVAL (malformed),
 * -EXDEV (issued by another authority), -EBADMSG (bad signature). */
int ipop__cert_verify(ipop__cert *c, const char *text, size_t len, const ipop__authority_key *k);
/* Whether a verified certificate is valid for node_id at `now`:
 * 0, -EACCES (another node's), -ESTALE (expired), -EAGAIN (not yet valid). */
int ipop__cert_check(const ipop__cert *c, const char *node_id, int64_t now);
/* Whether the certificate lets its holder use address a (same family and
 * host address as one of its addresses; prefixes ignored). */
bool ipop__cert_allows_addr(const ipop__cert *c, const ipop__addr *a);
/* Whether the certificate lets its holder announce `prefix` (a subnet
 * route): it is one of the certificate's routes or lies inside one. */
bool ipop__cert_allows_route(const ipop__cert *c, const ipop__addr *prefix);

/* ---- revocation lists ---- */

/* Encodes and signs l, as ipop__cert_sign().  Up to IPOP__CRL_MAX. */
int ipop__crl_sign(ipop__crl *l, const ipop__authority_secret *s, char *out, size_t size);
/* As ipop__cert_decode(), for a revocation list. */
int ipop__crl_decode(ipop__crl *l, const char *text, size_t len);
/* As ipop__cert_verify(), for a revocation list. */
int ipop__crl_verify(ipop__crl *l, const char *text, size_t len, const ipop__authority_key *k);
/* Whether the list revokes the certificate: its serial, or its node id. */
bool ipop__crl_revokes(const ipop__crl *l, const ipop__cert *c);
