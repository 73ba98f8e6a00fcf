/* SPDX-License-Identifier: MIT */
/* UDP endpoints on the network's virtual addresses (udp.c), for
 * applications in mode none: the public ipop_udp_* calls, and what the
 * data path and the network call. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipop/ipop.h"

typedef struct ipop__udp_set ipop__udp_set;

/* rx.c, in the loop thread: true when the packet was for an open endpoint
 * (delivered, or dropped as bad, and counted); false when it goes on to
 * the packet callback. */
bool ipop__udp_deliver(ipop_network_t *net, ipop_link_t *link, const uint8_t *pkt, size_t len);
/* With the network: frees the endpoints left open. */
void ipop__udp_set_free(ipop__udp_set *set);
/* Bad datagrams to an open port, for tests. */
uint64_t ipop__udp_rx_drops(ipop_network_t *net);
