/* SPDX-License-Identifier: MIT */
/* GroupVPN automatic addresses (autoaddr.c): derived from the node id in
 * group.subnet when no address is given, moved when a peer holds the same
 * one (the larger node id moves). */
#pragma once

#include "ipop/ipop.h"

/* At start: the addresses not given are derived.  At stop: forgotten, to
 * be derived again at the next start. */
void ipop__autoaddr_start(ipop_network_t *net);
void ipop__autoaddr_stop(ipop_network_t *net);
/* A peer signalled one of our automatic addresses as its own. */
void ipop__net_addr_conflict(ipop_network_t *net, ipop_link_t *link, int family);
