/* SPDX-License-Identifier: MIT */
/* DTLS 1.2 application-data records with AES-GCM (RFC 6347 section 4.1,
 * RFC 5288), sealed and opened by the library itself once GnuTLS has done
 * the handshake: the keys and sequence numbers come from GnuTLS
 * (gnutls_record_get_state), the records are the ones GnuTLS would make
 * and takes, and each costs one AEAD call instead of GnuTLS's record layer
 * (its buffers, its allocations, a copy each way).
 *
 *   record  = type(1) version(2: 254.253) epoch(2) seq(6) length(2) fragment
 *   fragment = explicit nonce(8) || ciphertext || tag(16)
 *   nonce   = salt(4, from the key block) || explicit nonce
 *   AAD     = epoch(2) seq(6) type(1) version(2) plaintext length(2)
 *
 * Records are not thread-safe: a sender holds the link's send lock, the
 * receiver is the loop thread. */
#pragma once

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stddef.h>
#include <stdint.h>

#define IPOP__REC_HDR 13
#define IPOP__REC_NONCE 8
#define IPOP__REC_TAG 16
#define IPOP__REC_OVERHEAD (IPOP__REC_HDR + IPOP__REC_NONCE + IPOP__REC_TAG)
#define IPOP__REC_APP_DATA 23

typedef struct ipop__rec {
    gnutls_aead_cipher_hd_t aead;
    uint8_t salt[4];
    uint16_t epoch;
    uint64_t seq;    /* send: the next sequence number; receive: the highest seen */
    uint64_t window; /* receive: bit i set when seq - i was seen (anti-replay, 64 records) */
} ipop__rec;

/* Sets `r` up from a GnuTLS session after its handshake: `read` nonzero
 * for the receiving direction.  Returns 0, or -ENOTSUP when the session's
 * cipher is not AES-GCM (then GnuTLS keeps doing the records), or another
 * negative errno. */
int ipop__rec_init(ipop__rec *r, gnutls_session_t tls, int read);
/* The same from raw parameters (tests and fuzzing): `key` of the
 * cipher's size, the 4-byte salt, the epoch, and the next sequence number
 * to send, or the last one received. */
int ipop__rec_init_raw(ipop__rec *r, gnutls_cipher_algorithm_t alg, const uint8_t *key, const uint8_t salt[4],
                       uint16_t epoch, uint64_t seq, int read);
void ipop__rec_clear(ipop__rec *r);

/* The sequence number GnuTLS should carry on with, after records were
 * sealed here (gnutls_record_set_state's form: epoch and 48-bit seq). */
void ipop__rec_seq_bytes(const ipop__rec *r, uint8_t out[8]);

/* Splits a datagram into records (RFC 6347 4.1: a datagram may hold
 * several): the length of the record at the start of the `len` bytes at
 * buf, header included, or -EINVAL when fewer than a header's bytes are
 * left or its length runs past the end (the rest of the datagram is then
 * dropped).  Pure: the receive path and its fuzzer call it. */
int ipop__rec_next(const uint8_t *buf, size_t len);

/* Seals `len` bytes of application data into `out` (room for len +
 * IPOP__REC_OVERHEAD).  Returns the record's length, -EMSGSIZE, or -EIO
 * when the sequence numbers are used up (2^48) or the cipher fails. */
int ipop__rec_seal(ipop__rec *r, const uint8_t *pt, size_t len, uint8_t *out, size_t outsize);

/* Opens the record `rec` (exactly `len` bytes: one record per datagram)
 * into `out`.  Returns the plaintext's length; -EAGAIN when it is not an
 * application-data record of this epoch (a handshake retransmission, an
 * alert: GnuTLS's business); -EINVAL when malformed; -EBADMSG when it does
 * not authenticate; -EALREADY when it is a replay or too old. */
int ipop__rec_open(ipop__rec *r, const uint8_t *rec, size_t len, uint8_t *out, size_t outsize);
