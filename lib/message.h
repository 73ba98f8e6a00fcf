/* SPDX-License-Identifier: MIT */
/* Signalling messages: encode and decode, pure functions.  The format is in
 * doc/protocol.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define IPOP__SIGNAL_VERSION 2
#define IPOP__SIGNAL_MAX 8192        /* longest signed message (what pumps carry), without NUL */
#define IPOP__SIGNAL_BODY_MAX 7808   /* longest message before its envelope (msgauth.h) is added */
#define IPOP__SIGNAL_MAX_CANDS 16    /* candidates in one message */
#define IPOP__SIGNAL_CAND_MAX 255    /* longest candidate line */
#define IPOP__SIGNAL_CRED_MAX 256    /* longest ICE ufrag or pwd */
#define IPOP__NODE_ID_LEN 52         /* node ids are 52 chars (base32 of SHA-256) */
#define IPOP__SESSION_LEN 16         /* session ids are 16 lowercase hex chars */
#define IPOP__SIGNAL_CERT_MAX 1024   /* longest group authority certificate (authority.h) */
#define IPOP__SIGNAL_CRL_MAX 4096    /* longest revocation list (authority.h) */
#define IPOP__SIGNAL_NAME_MAX 63     /* longest member name: a DNS label (names.h) */
#define IPOP__SIGNAL_ROUTES_MAX 64   /* prefixes a member announces (routes.h): IPOP_ROUTES_MAX */

typedef enum ipop__msg_type {
    IPOP__MSG_OFFER = 1,  /* opens a session: credentials, fingerprint, addresses */
    IPOP__MSG_ANSWER = 2, /* accepts a session: the same fields */
    IPOP__MSG_CAND = 3,   /* trickled candidates, and/or end of candidates */
    IPOP__MSG_BYE = 4,    /* the session is over; reason */
    IPOP__MSG_CERT = 5,   /* group authority: the sender's certificate, and its revocation list's serial */
    IPOP__MSG_CRL = 6,    /* group authority: a revocation list */
} ipop__msg_type;

typedef struct ipop__msg {
    ipop__msg_type type;
    char node_id[IPOP__NODE_ID_LEN + 1];   /* sender */
    char session[IPOP__SESSION_LEN + 1];
    /* offer and answer */
    char ufrag[IPOP__SIGNAL_CRED_MAX + 1];
    char pwd[IPOP__SIGNAL_CRED_MAX + 1];
    uint8_t fingerprint[32];               /* SHA-256 of the DER certificate */
    bool has_fingerprint;
    ipop__addr addr4, addr6;               /* family 0 when absent */
    uint64_t seq;                          /* the sender's ordering of its offers and answers; 0: absent */
    char name[IPOP__SIGNAL_NAME_MAX + 1];  /* the sender's member name (names.h), "" when absent */
    unsigned n_routes;                     /* the prefixes the sender announces (routes.h), 0: none */
    ipop__addr routes[IPOP__SIGNAL_ROUTES_MAX];
    /* any type but bye */
    unsigned n_cands;
    char cands[IPOP__SIGNAL_MAX_CANDS][IPOP__SIGNAL_CAND_MAX + 1];
    bool cands_done;                       /* end of candidates */
    /* bye */
    int reason;                            /* an ipop_reason_t */
    /* cert: the certificate line, and the serial of the revocation list
     * the sender holds (0: none); crl: the list's line.  Printable ASCII. */
    char cert[IPOP__SIGNAL_CERT_MAX + 1];
    bool cert_ack;                         /* cert: the sender holds the recipient's valid certificate */
    uint64_t crl_serial;
    char crl[IPOP__SIGNAL_CRL_MAX + 1];
} ipop__msg;

/* cert and crl messages carry no session (an empty one). */
static inline bool ipop__msg_has_session(ipop__msg_type t)
{
    return t != IPOP__MSG_CERT && t != IPOP__MSG_CRL;
}

/* Checks a node id's form: 52 chars of [a-z2-7]. */
bool ipop__node_id_valid(const char *id);

/* The first token of a line: 0 for "ipop2", -EPROTONOSUPPORT for "ipopN"
 * with another N, -EINVAL for anything else. */
int ipop__msg_check_version(const char *text, size_t len);

/* Encodes m into buf (NUL-terminated), without the envelope that
 * msgauth.h adds.  Returns the length, -EMSGSIZE when
 * buf is too small, -EINVAL when m is not a valid message.  Also -EMSGSIZE
 * when the line would exceed IPOP__SIGNAL_BODY_MAX, which a valid message with
 * many long candidates can: send fewer candidates per message.  Fields the
 * type does not carry must be empty or zero (see doc/protocol.md). */
int ipop__msg_encode(const ipop__msg *m, char *buf, size_t size);

/* Decodes text (len bytes, no NUL needed; a message without its
 * envelope).  Returns 0, -EMSGSIZE (longer than IPOP__SIGNAL_BODY_MAX), -EPROTONOSUPPORT (another version), or -EINVAL
 * (anything malformed: unknown type, missing or bad field, bad escape,
 * non-printable byte, too many candidates).  *m is fully overwritten. */
int ipop__msg_decode(ipop__msg *m, const char *text, size_t len);

/* "offer", "answer", "cand", "bye", "cert", "crl", or "unknown" (never NULL). */
const char *ipop__msg_type_str(ipop__msg_type t);

/* true when a and b carry the same message: the fields their type carries
 * are equal (addresses by family, prefix and host bytes; the fingerprint
 * only when present). */
bool ipop__msg_equal(const ipop__msg *a, const ipop__msg *b);
