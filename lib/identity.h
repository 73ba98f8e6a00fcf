/* SPDX-License-Identifier: MIT */
/* The node identity: an ECDSA P-256 key and a self-signed certificate. */
#pragma once

#include <gnutls/gnutls.h>
#include <stdint.h>

#include "message.h"

typedef struct ipop__identity ipop__identity;

/* Loads the key and certificate from path (PEM, both in one file), or
 * creates them and writes the file with mode 0600 when it does not exist.
 * path NULL: a fresh identity in memory.  The file must be a regular file
 * (not a symbolic link: -ELOOP), owned by the effective user (-EPERM), with
 * no permission for group or others (-EACCES); each refusal is logged with
 * the fix.  Returns 0 or -errno (-EINVAL for a file that does not parse). */
int ipop__identity_load(ipop__identity **ret, const char *path);
void ipop__identity_free(ipop__identity *id);

/* 52 chars of base32 (RFC 4648, lowercase, no padding) of the SHA-256 of
 * the public key's SubjectPublicKeyInfo. */
const char *ipop__identity_node_id(const ipop__identity *id);
/* SHA-256 of the DER certificate: what the peer pins. */
const uint8_t *ipop__identity_fingerprint(const ipop__identity *id);
gnutls_certificate_credentials_t ipop__identity_credentials(const ipop__identity *id);

/* The node id a DER certificate's public key stands for.  Returns 0 or
 * -EINVAL. */
int ipop__cert_node_id(const gnutls_datum_t *der, char out[IPOP__NODE_ID_LEN + 1]);

/* SHA-256 of a DER certificate. Returns 0 or -EINVAL. */
int ipop__cert_fingerprint(const gnutls_datum_t *der, uint8_t out[32]);

/* ---- signed signalling (msgauth.h): the key operations ---- */

/* The public key as DER SubjectPublicKeyInfo: the bytes the node id is the
 * hash of.  Writes at most *len bytes to out and sets *len.  Returns 0,
 * -EMSGSIZE when it does not fit, -EIO. */
int ipop__identity_public_key(const ipop__identity *id, uint8_t *out, size_t *len);

/* Signs data with the node key: ECDSA P-256 with SHA-256, the signature as
 * r || s (32 bytes each, big-endian).  Returns 0 or -EIO. */
int ipop__identity_sign(const ipop__identity *id, const void *data, size_t len, uint8_t sig[64]);

/* Verifies a signature made by ipop__identity_sign() with a public key
 * carried in a message (DER SubjectPublicKeyInfo), and that this key is
 * node_id's: its SHA-256 in base32 is node_id.  Returns 0, or -EBADMSG for
 * anything else (another node's key, not an ECDSA P-256 key, a key that
 * does not parse, a signature that does not verify). */
int ipop__identity_verify(const char *node_id, const uint8_t *spki, size_t spki_len, const void *data, size_t len,
                          const uint8_t sig[64]);
