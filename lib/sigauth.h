/* SPDX-License-Identifier: MIT */
/* Signed signalling for a network: every message it sends is signed with
 * the node key (msgauth.h's envelope), and every message it receives is
 * verified, checked for its recipient, scope, time and replays, and only
 * then decoded.  The pure parts are in msgauth.c, the key operations in
 * identity.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "ipop/ipop.h"
#include "message.h"

typedef struct ipop__sigauth ipop__sigauth;

/* The scope both ends of a network sign and check: "group:<room>" for
 * GroupVPN, "social" for SocialVPN, "host:<signal.scope>" when the host
 * carries signalling.  Newly allocated. */
char *ipop__sigauth_scope(ipop_network_t *net);

/* At start, once the identity is loaded: makes net->sigauth for its key
 * and scope, or keeps the one there (and what it remembers of replays)
 * when both are the same.  Returns 0 or -errno. */
int ipop__sigauth_start(ipop_network_t *net);
void ipop__sigauth_free(ipop__sigauth *sa);

/* Appends the envelope, signed for `peer`, to the message in buf (len
 * bytes, in a buffer of size bytes).  Returns the new length or -errno. */
int ipop__sigauth_seal(ipop_network_t *net, const char *peer, char *buf, size_t len, size_t size);

/* Encodes m, signs it for `peer` and hands it to the loop to send
 * (ipop__net_signal_out); an error is logged.  The loop thread. */
void ipop__sigauth_send(ipop_network_t *net, const char *peer, const ipop__msg *m);

/* A message that arrived from `from` (a node id), a peer the caller found
 * `allowed` or not: verified against that node id, checked (recipient,
 * scope, time, replay, then allowed) and
 * decoded into *m.  Returns 0 when the message may be handled; otherwise
 * the message changed nothing, and it was counted (signal_refused),
 * reported as an event and logged (at most 10 lines per 10 s): -EMSGSIZE,
 * -EINVAL (malformed), -EPROTONOSUPPORT (another version), -EBADMSG (not
 * signed by `from`, or signed for another node or scope), -ESTALE
 * (replayed, or outside the time window), -EPERM (peer not allowed). */
int ipop__sigauth_open(ipop_network_t *net, const char *from, const char *message, bool allowed, ipop__msg *m);

/* A membership proof message (group.c) from `from`, who is not (yet)
 * allowed: its envelope is checked as ipop__sigauth_open() does
 * (recipient, scope, time, and the signature by `from`), but nothing is
 * remembered of it and the sender need not be allowed.  On success stores
 * the length of the message before its envelope in *body_len and returns
 * 0; otherwise it was counted, reported and logged as there. */
int ipop__sigauth_check(ipop_network_t *net, const char *from, const char *message, size_t *body_len);
