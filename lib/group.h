/* SPDX-License-Identifier: MIT */
/* GroupVPN membership: every node that is in the multi-user room and
 * proves that it knows the group secret (proof.h) links with every other;
 * nothing is spent on an occupant before that.  The overlay (overlay.c)
 * feeds it what the room says and carries what it sends; it reaches the
 * network through peers.h.  Loop thread only, except the pure function at
 * the end. */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#include "ipop/ipop.h"
#include "addr.h"

typedef struct ipop__group ipop__group;

/* What the group calls, fixed at creation.  send: a signed line for the
 * occupant `peer` of the room (a proof message).  key_ready: posted to the
 * network's loop (with data NULL) once the group key is derived (or failed:
 * see ipop__group_key_ready()). */
typedef struct ipop__group_ops {
    void (*send)(ipop_network_t *net, const char *peer, const char *text);
    void (*key_ready)(ipop_network_t *net, void *data);
} ipop__group_ops;

/* node_id: this node's; room: room@rooms.example; secret: the group
 * secret.  Starts deriving the group key in a thread of its own (a few
 * hundred ms).  The overlay joins the room meanwhile: until the key is
 * there the group tracks occupants and keeps their challenges, but sends
 * nothing; ipop__group_key_derived() then challenges and answers them.
 * A secret that is public, "ipop-authority:" and a group authority's key
 * (what certauth.c uses without group.secret: the certificates prove
 * membership), is hashed at once instead (ipop__proof_key_public()). */
ipop__group *ipop__group_new(ipop_network_t *net, const char *node_id, const char *room, const char *secret,
                             const ipop__group_ops *ops);
/* 1 when the key is ready, 0 while deriving, -ENOMEM when it failed. */
int ipop__group_key_ready(ipop__group *g);
/* In the loop, once key_ready was posted: challenges every occupant
 * tracked while the key was derived, and answers the challenges they sent
 * meanwhile.  Nothing when the key is not ready (or failed). */
void ipop__group_key_derived(ipop__group *g);
/* Waits for the key's thread, wipes the key.  Accepts NULL. */
void ipop__group_free(ipop__group *g);

/* A new XMPP session began: members not seen again in it soon are gone. */
void ipop__group_online(ipop__group *g, gint64 now);
/* Occupant `from` (room/NODE-ID) of the room is there or not: a new one is
 * challenged for a membership proof (nothing else is spent on it); a
 * proven member is linked. */
void ipop__group_presence(ipop__group *g, const char *from, bool available);
/* A signalling line from `from` (room/NODE-ID): a membership proof
 * message is handled here; anything else is handed to the network when
 * its sender proved membership, and refused (counted, reported, logged at
 * most once a minute per occupant) when not.  Anything not from our room
 * is ignored. */
void ipop__group_signal(ipop__group *g, const char *from, const char *text);
/* Once a second while online: drops members that left (or did not come
 * back after a reconnect), tries failed links again, and challenges
 * unproven occupants again when their backoff is over. */
void ipop__group_sweep(ipop__group *g, gint64 now);
/* The network changed: failed links are tried at the next sweep. */
void ipop__group_retry_now(ipop__group *g);
/* For tests and status: members proven, occupants waiting for a proof,
 * and occupants not tracked because too many were waiting. */
void ipop__group_counts(ipop__group *g, unsigned *proven, unsigned *pending, guint64 *dropped);

/* The automatic address of a node in `subnet`, pure: host bits from
 * SHA-256(node id, attempt); the prefix is the subnet's.  attempt > 0 gives
 * the next choice after a conflict. */
void ipop__group_auto_addr(const ipop__addr *subnet, const char *node_id, unsigned attempt, ipop__addr *out);

