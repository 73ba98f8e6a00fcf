/* SPDX-License-Identifier: MIT */
/* GroupVPN membership proofs, the pure part: the group key (Argon2id of
 * the secret, salted with the room), the proof a member gives another (an
 * HMAC under that key over both node ids, the room and a nonce of each
 * side), the two proof messages and their codec, and an estimate of a
 * secret's strength.  No I/O, no clock.  doc/protocol.md ("Membership
 * proofs") is the reference; group.c runs the exchange. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "message.h"

/* Argon2id parameters of the group key: every guess of the secret costs
 * this much memory and time (measured on the development machine: about
 * 0.9 s on one core; doc/security.md).  Changing them changes the key:
 * the wire format. */
#define IPOP__PROOF_KDF_T 3             /* passes */
#define IPOP__PROOF_KDF_M_KIB 65536     /* 64 MiB */
#define IPOP__PROOF_KDF_P 1             /* lanes */
#define IPOP__PROOF_KEY_LEN 32
#define IPOP__PROOF_NONCE_LEN 16
#define IPOP__PROOF_MAC_LEN 32
/* A secret whose estimated strength is below this many bits is weak. */
#define IPOP__PROOF_STRONG_BITS 80

typedef enum ipop__proof_type {
    IPOP__PROOF_CHAL = 1,  /* "gchal": here is my nonce for you */
    IPOP__PROOF_PROOF = 2, /* "gproof": your nonce, mine, and the proof over both */
} ipop__proof_type;

typedef struct ipop__proof_msg {
    ipop__proof_type type;
    char from[IPOP__NODE_ID_LEN + 1];
    uint8_t mine[IPOP__PROOF_NONCE_LEN];  /* the sender's nonce (both types) */
    uint8_t yours[IPOP__PROOF_NONCE_LEN]; /* gproof: the recipient's nonce it answers */
    uint8_t mac[IPOP__PROOF_MAC_LEN];     /* gproof */
} ipop__proof_msg;

/* key = Argon2id(secret, salt = SHA-256("ipop-group-key-v2:" room),
 * t = IPOP__PROOF_KDF_T, m = IPOP__PROOF_KDF_M_KIB, p = IPOP__PROOF_KDF_P),
 * 32 bytes.  Slow on purpose (about a second): call it off the loop
 * thread.  Returns 0, or -ENOMEM / -EINVAL. */
int ipop__proof_key(const char *secret, size_t secret_len, const char *room, uint8_t key[IPOP__PROOF_KEY_LEN]);

/* Generated secrets (ipop_generate_secret(), ipopd --gen-secret):
 * "ipop1." base64url(32 random bytes) "." base64url(check), check being
 * the first 4 bytes of SHA-256("ipop-secret-check-v1" || the 32 bytes).
 * 56 characters.  The check makes the form one that no typed password
 * takes by chance: only such a secret gets the fast key below. */
#define IPOP__PROOF_GEN_PREFIX "ipop1."
#define IPOP__PROOF_GEN_RAW 32
#define IPOP__PROOF_GEN_LEN (6 + 43 + 1 + 6)

/* Writes the generated secret of raw into out (IPOP__PROOF_GEN_LEN + 1
 * bytes, NUL-terminated). */
void ipop__proof_secret_format(const uint8_t raw[IPOP__PROOF_GEN_RAW], char out[IPOP__PROOF_GEN_LEN + 1]);

/* Whether secret is a generated one whose check holds; its 32 bytes into
 * raw when so. */
bool ipop__proof_secret_parse(const char *secret, uint8_t raw[IPOP__PROOF_GEN_RAW]);

/* The group key of a generated secret: SHA-256("ipop-group-key-
 * generated-v2:" room 0x00 raw).  256 random bits leave nothing to guess,
 * so a slow derivation would only delay every start. */
void ipop__proof_key_generated(const uint8_t raw[IPOP__PROOF_GEN_RAW], const char *room,
                               uint8_t key[IPOP__PROOF_KEY_LEN]);

/* The group key when the "secret" is public (a group authority's key,
 * certauth.c, when no group.secret is given): SHA-256("ipop-group-key-
 * public-v2:" room 0x00 public).  The proofs under it prove nothing and
 * need not (the certificates do), so a slow derivation would only delay
 * every start. */
void ipop__proof_key_public(const char *public, const char *room, uint8_t key[IPOP__PROOF_KEY_LEN]);

/* The proof that `prover` knows the key, for `verifier`, in `room`:
 * HMAC-SHA256(key, "ipop-group-proof-v2" 0x00 || u16 len(room) || room ||
 * prover || verifier || n_verifier || n_prover). */
void ipop__proof_mac(const uint8_t key[IPOP__PROOF_KEY_LEN], const char *room, const char *prover,
                     const char *verifier, const uint8_t n_verifier[IPOP__PROOF_NONCE_LEN],
                     const uint8_t n_prover[IPOP__PROOF_NONCE_LEN], uint8_t mac[IPOP__PROOF_MAC_LEN]);

/* Whether a message line (before its envelope) is a proof message: starts
 * with "ipop2 gchal " or "ipop2 gproof ". */
bool ipop__proof_is(const char *text, size_t len);

/* One line without envelope, NUL-terminated; returns its length,
 * -EMSGSIZE or -EINVAL. */
int ipop__proof_encode(const ipop__proof_msg *m, char *buf, size_t size);
/* Strict: exactly the keys of the type, in order, each once, of their
 * exact length.  0 or -EINVAL; *m is fully overwritten. */
int ipop__proof_decode(ipop__proof_msg *m, const char *text, size_t len);

/* A rough estimate of a secret's strength in bits: its length times the
 * bits of the classes of characters it uses, discounted for repeated
 * characters and for runs.  Generated secrets (ipopd --gen-secret: 32
 * random bytes) score 256. */
unsigned ipop__proof_secret_bits(const char *secret);
