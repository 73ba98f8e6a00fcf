/* SPDX-License-Identifier: MIT */
/* Signed signalling, the pure part: the envelope every signalling message
 * carries (who it is for, when, a nonce, the sender's public key and its
 * signature), the bytes that are signed, and the checks a receiver makes
 * before a message may change anything: the recipient, the time window and
 * replays.  No I/O and no clock: the caller passes the time.  The key
 * operations are in identity.c; doc/protocol.md ("Signatures") is the
 * reference. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "message.h"

#define IPOP__AUTH_NONCE_LEN 16    /* random bytes per message */
#define IPOP__AUTH_PK_MAX 96       /* longest public key accepted (DER SubjectPublicKeyInfo; P-256's is 91) */
#define IPOP__AUTH_SIG_LEN 64      /* ECDSA P-256 with SHA-256: r || s, 32 bytes each, big-endian */
#define IPOP__AUTH_SCOPE_MAX 1024  /* longest scope */
/* Most bytes the envelope adds to a message (" to=" ... " sig=..."). */
#define IPOP__AUTH_SUFFIX_MAX (IPOP__SIGNAL_MAX - IPOP__SIGNAL_BODY_MAX)
/* Largest sign input: the fixed fields, a scope, a message. */
#define IPOP__AUTH_INPUT_MAX (IPOP__SIGNAL_MAX + IPOP__AUTH_SCOPE_MAX + 256)
/* A message whose time is further than this from the receiver's clock, in
 * either direction, is refused: the clock skew tolerated between hosts. */
#define IPOP__AUTH_SKEW_MS (5 * 60 * 1000)
/* Messages remembered per peer (see ipop__replay). */
#define IPOP__REPLAY_SLOTS 64

typedef struct ipop__auth {
    char to[IPOP__NODE_ID_LEN + 1];       /* the recipient's node id */
    uint64_t ts_ms;                       /* the sender's clock: Unix time in milliseconds */
    uint8_t nonce[IPOP__AUTH_NONCE_LEN];
    uint8_t pk[IPOP__AUTH_PK_MAX];        /* the sender's public key: DER SubjectPublicKeyInfo */
    size_t pk_len;
    uint8_t sig[IPOP__AUTH_SIG_LEN];
} ipop__auth;

/* The bytes the sender signs (and the receiver verifies): a label, the
 * scope, both node ids, the time, the nonce and the message (`body`, the
 * line without its envelope), each of variable length prefixed by it (see
 * doc/protocol.md).  Writes them to buf and returns their length,
 * -EMSGSIZE when they do not fit `size` (IPOP__AUTH_INPUT_MAX always
 * does), -EINVAL for a node id that is not one, a scope longer than
 * IPOP__AUTH_SCOPE_MAX or a body longer than IPOP__SIGNAL_MAX. */
int ipop__auth_sign_input(uint8_t *buf, size_t size, const char *scope, const char *from, const ipop__auth *a,
                          const char *body, size_t body_len);

/* Writes body (body_len bytes, one message line without envelope) followed
 * by a's envelope to out, NUL-terminated; out may be body itself (the
 * envelope is appended).  Returns the length, -EMSGSIZE when the line would
 * exceed IPOP__SIGNAL_MAX or size - 1, -EINVAL for a bad field. */
int ipop__auth_encode(const ipop__auth *a, const char *body, size_t body_len, char *out, size_t size);

/* Splits a signed line (len bytes, no NUL needed) into the message and its
 * envelope: *body_len is the length of the message, which starts at text.
 * Returns 0, -EMSGSIZE (longer than IPOP__SIGNAL_MAX), -EPROTONOSUPPORT
 * (another version of the protocol, such as version 1, which is not
 * signed), -EBADMSG (this version, without a well-formed envelope), or
 * -EINVAL (not a signalling message at all).  *a is fully overwritten. */
int ipop__auth_decode(ipop__auth *a, const char *text, size_t len, size_t *body_len);

/* Whether an envelope is for this node (`self`) now: -EBADMSG when it names
 * another recipient, -ESTALE when its time is more than IPOP__AUTH_SKEW_MS
 * from now_ms, 0 otherwise. */
int ipop__auth_check(const ipop__auth *a, const char *self, uint64_t now_ms);

/* What one peer's messages a receiver remembers, in fixed memory: the
 * nonces of the last IPOP__REPLAY_SLOTS accepted messages, and a floor at
 * or below which every message is refused.  A message leaves the set only
 * by raising the floor to its time, so a message accepted once is refused
 * ever after (as long as the state lives).  Zeroed: nothing seen. */
typedef struct ipop__replay {
    uint64_t floor_ms;
    uint64_t newest_ms;
    unsigned n;
    struct {
        uint64_t ts_ms;
        uint8_t nonce[IPOP__AUTH_NONCE_LEN];
    } seen[IPOP__REPLAY_SLOTS];
} ipop__replay;

/* 0 when a message with this time and nonce was not seen, -ESTALE when it
 * is at or below the floor, -EALREADY when it was seen.  Changes nothing. */
int ipop__replay_check(const ipop__replay *w, uint64_t ts_ms, const uint8_t nonce[IPOP__AUTH_NONCE_LEN]);

/* Records an accepted message (checked with ipop__replay_check first).
 * Entries older than now_ms - IPOP__AUTH_SKEW_MS are let go (they are out
 * of the window), and when the set is full the oldest is; either raises
 * the floor to that entry's time. */
void ipop__replay_add(ipop__replay *w, uint64_t now_ms, uint64_t ts_ms, const uint8_t nonce[IPOP__AUTH_NONCE_LEN]);

/* base64url without padding (RFC 4648, section 5), as the envelope carries
 * keys and signatures.  encode: writes 4 chars per 3 bytes (rounded up)
 * and a NUL; returns the length or -EMSGSIZE.  decode: strict (canonical
 * only: the unused bits of the last char are zero, no padding, no other
 * byte); returns the number of bytes, -EINVAL or -EMSGSIZE. */
int ipop__b64url_encode(const uint8_t *in, size_t len, char *out, size_t size);
int ipop__b64url_decode(const char *in, size_t len, uint8_t *out, size_t size);
