/* SPDX-License-Identifier: MIT */
/* GroupVPN member relay: when the direct link to a member cannot come up,
 * packets to it go over the link to another member that is linked with
 * both, which forwards them (doc/protocol.md, "Member relay"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipop/ipop.h"
#include "addr.h"
#include "frame.h"

typedef struct ipop__relay ipop__relay;

/* With the network, and freed with it. */
ipop__relay *ipop__relay_new(void);
void ipop__relay_free(ipop__relay *r);

/* Loop thread, once a second while a GroupVPN runs: tells the linked
 * members which members this node is linked with (PEERS frames), and
 * chooses, for each member whose direct link is down, the member to go
 * through. */
void ipop__relay_tick(ipop_network_t *net);
/* Loop thread, when the network stops: no member is reached through
 * another any more, and what peers said is forgotten. */
void ipop__relay_reset(ipop_network_t *net);
/* Loop thread: a RELAY, RELAYED or PEERS frame that arrived on `link`.
 * Returns the link of the member a RELAYED frame's packet (f->payload)
 * comes from, for the caller to deliver as if it came on that link; NULL
 * when there is nothing to deliver (forwarded, noted, or refused and
 * counted). */
ipop_link_t *ipop__relay_input(ipop_link_t *link, const ipop__frame *f);

/* Any thread: the link of a member reached through another member, by its
 * address, or NULL. */
ipop_link_t *ipop__relay_lookup(ipop_network_t *net, const ipop__addr *dst);
/* Any thread: the member that packets to `link`'s peer go through now, or
 * NULL (the link is up, or no member relays for it). */
ipop_link_t *ipop__relay_via(ipop_link_t *link);
/* Any thread: sends a packet to `link`'s peer through its relay, counted in
 * `link`'s tx counters.  Returns 0, -ENOTCONN (no relay), -EMSGSIZE (above
 * IPOP__FRAME_RELAY_MAX_PAYLOAD), or what the relay's link returns. */
int ipop__relay_send(ipop_link_t *link, const uint8_t *pkt, size_t len);
/* Any thread: this node's totals as a relay. */
void ipop__relay_totals(ipop_network_t *net, uint64_t *relayed, uint64_t *drops);
