/* SPDX-License-Identifier: MIT */
/* Member names: each node of a network has one (option "name"; default:
 * the host name, or a SocialVPN's JID local part), signalled in its offers
 * and answers (message.h, signed like the rest), and the peers' names
 * resolve to their overlay addresses (ipop_network_resolve()).  Two
 * members claiming one name are settled by a rule every node applies
 * alike: the smaller node id keeps the name, each other one is shown as
 * NAME-<the first 6 characters of its node id>.  The first part is pure;
 * the rest runs under the network's lock, as noted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "ipop/ipop.h"

/* A name is a DNS label: 1 to 63 characters of [a-z0-9-], not starting or
 * ending with '-'. */
#define IPOP__NAME_MAX 63
/* The shown form of a name that lost a conflict: NAME cut to this, '-',
 * and the first IPOP__NAME_TAG characters of the node id. */
#define IPOP__NAME_TAG 6
#define IPOP__NAME_BASE_MAX (IPOP__NAME_MAX - 1 - IPOP__NAME_TAG)

/* ---- pure ---- */

/* Whether s is a name in its canonical form (lowercase). */
bool ipop__name_valid(const char *s);
/* A name as a user writes it: lowercased into out when it is a DNS label.
 * Returns 0, or -EINVAL (out is then ""). */
int ipop__name_normalize(const char *in, char out[IPOP__NAME_MAX + 1]);
/* A name made from a host name or a JID's local part: its first label,
 * lowercased, each character outside [a-z0-9-] turned into '-', the '-' at
 * both ends dropped, cut to IPOP__NAME_MAX.  "" when nothing is left. */
void ipop__name_from_host(const char *host, char out[IPOP__NAME_MAX + 1]);
/* The shown form of `name` claimed by `node_id` that lost a conflict:
 * NAME (cut to IPOP__NAME_BASE_MAX, without a trailing '-') "-" ID[0..6). */
void ipop__name_tagged(const char *name, const char *node_id, char out[IPOP__NAME_MAX + 1]);
/* The conflict rule: whether the claim of node id a wins over b's. */
static inline bool ipop__name_wins(const char *a, const char *b)
{
    return __builtin_strcmp(a, b) < 0;
}

/* ---- with the network ---- */

/* At start: this node's name, from the option or the default (with an
 * authority, the certificate's name: certauth.c sets it before).  Loop
 * not yet running. */
void ipop__names_start(ipop_network_t *net);
/* The loop thread: `link`'s peer signalled `name` ("" or NULL: none) in
 * an offer or answer it was allowed to send.  Takes the lock; reports a
 * conflict it makes (log line and IPOP_EVENT_PEER_REFUSED with
 * IPOP_REASON_NAME_IN_USE), once per claim. */
void ipop__names_claim(ipop_link_t *link, const char *name);
/* The name `link`'s peer is shown as (its own, or the tagged form when it
 * lost a conflict), "" when it has none.  Takes the lock.  Any thread. */
void ipop__names_shown(ipop_link_t *link, char out[IPOP__NAME_MAX + 1]);
/* At ipop_network_free(). */
void ipop__names_free(ipop_network_t *net);
