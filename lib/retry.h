/* SPDX-License-Identifier: MIT */
/* When to try a failed link again: after 1 s, doubling to 30 s, each wait
 * stretched by up to a quarter at random (members that failed together do
 * not come back together).  The state lives with each group member
 * (group.c) and friend (social.c); the overlay's sweep drives it once a
 * second.   Loop
 * thread only. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "ipop/ipop.h"

typedef struct ipop__retry {
    gint64 at;                  /* monotonic us of the next try; 0: none planned */
    guint backoff_ms;
} ipop__retry;

/* A link to `peer` that failed (ICE, consent, timeout) while the peer is
 * still around is opened again, backing off; one the peer closed is not.
 * A connected link resets the backoff.  Nothing once the network stopped. */
void ipop__retry_link(ipop_network_t *net, const char *peer, ipop__retry *r, gint64 now);

/* Whether the link to `peer` is connected and heard from within `within_us`:
 * it carries traffic (or its keepalives), so a brief absence of the peer
 * from the signalling channel need not end it. */
bool ipop__retry_link_live(ipop_network_t *net, const char *peer, gint64 now, gint64 within_us);

/* The network changed: try at the next sweep, whatever the backoff. */
static inline void ipop__retry_soon(ipop__retry *r)
{
    *r = (ipop__retry){ .at = 1, .backoff_ms = 0 };
}
