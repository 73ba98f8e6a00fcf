/* SPDX-License-Identifier: MIT */
/* When to try a failed link again (see retry.h). */
#include "retry.h"

#include "link.h"
#include "log.h"
#include "network.h"
#include "peers.h"

/* The one read of a link's field by the policies (overlay, group, social):
 * the state, as network.c reads it.  To become an accessor of link.h. */
static int link_state(ipop_link_t *link)
{
    return link ? g_atomic_int_get(&link->state) : IPOP_LINK_NEW;
}

void ipop__retry_link(ipop_network_t *net, const char *peer, ipop__retry *r, gint64 now)
{
    int state = link_state(ipop__peers_link(net, peer));

    if (state == IPOP_LINK_CONNECTED) {
        r->at = 0;
        r->backoff_ms = 0;
        return;
    }
    if (state != IPOP_LINK_FAILED)
        return;
    if (!r->at) {
        r->backoff_ms = r->backoff_ms ? MIN(r->backoff_ms * 2, 30000u) : 1000u;
        r->at = now + (gint64)r->backoff_ms * 1000 + g_random_int_range(0, (gint32)r->backoff_ms * 250 + 1);
        return;
    }
    if (now < r->at)
        return;
    r->at = 0;
    ipop__info(net, "link to %.8s failed: trying again", peer);
    /* ipop_network_connect() refused once the network stopped: so do we
     * (the sweep may run between the links' close and the overlay's stop). */
    if (g_atomic_int_get(&net->running))
        ipop__peers_connect(net, peer, NULL);
}

bool ipop__retry_link_live(ipop_network_t *net, const char *peer, gint64 now, gint64 within_us)
{
    ipop_link_t *link = ipop__peers_link(net, peer);

    return link_state(link) == IPOP_LINK_CONNECTED && now - link->last_rx < within_us;
}
