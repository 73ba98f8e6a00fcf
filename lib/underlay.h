/* SPDX-License-Identifier: MIT */
/* The network under the links (underlay.c): the STUN and TURN servers
 * (resolved at start; which STUN servers answer), and the host's
 * addresses changing (rtnl), after which links start again. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "ipop/ipop.h"

struct ipop__underlay {
    int mon_fd;                 /* rtnetlink address changes, or -1 */
    GSource *mon_src, *mon_timer;
    bool mon_lost;              /* an address went away since the last check */
    int stun_fd4, stun_fd6;     /* probes to the STUN servers, or -1 */
    GSource *stun_src4, *stun_src6, *stun_timer;
    gint64 stun_probed;         /* when all servers were last probed */
    struct stun_agent_t *stun_agent; /* the probes' requests, until answered or forgotten */
};

void ipop__underlay_init(ipop_network_t *net);
/* At start: the servers' names resolved (blocking).  0 or -EHOSTUNREACH. */
int ipop__underlay_resolve(ipop_network_t *net);
/* At start, on the network's context: the address monitor and the STUN
 * probes; at stop, both gone. */
void ipop__underlay_start(ipop_network_t *net);
void ipop__underlay_stop(ipop_network_t *net);
/* A link heard nothing for a while: the signalling path may be dead too. */
void ipop__net_path_suspect(ipop_network_t *net);
/* The STUN server a new agent should use: the first in the configured
 * order that answers probes, else the first not known dead; -1 for none. */
int ipop__net_stun_pick(ipop_network_t *net);
