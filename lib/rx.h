/* SPDX-License-Identifier: MIT */
/* The data path from the links to the host (rx.c): frames from a link,
 * anti-spoofing, the inbound rewrite, delivery to the device (with GRO),
 * the application or a UDP endpoint. */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#include "ipop/ipop.h"
#include "frame.h"
#include "offload.h"

struct ipop__rx {
    ipop__gro gro;              /* vnet: segments from the links merged for the device (gro.buf) */
    GSource *gro_src;           /* writes what gro holds once the loop has nothing else to do */
};

/* At start, once the device is open; at stop. */
void ipop__rx_start(ipop_network_t *net);
void ipop__rx_stop(ipop_network_t *net);
/* The loop served the sockets: what GRO holds goes to the device now. */
void ipop__rx_flush(ipop_network_t *net);
/* A packet from `link`'s peer (a data frame's payload): checked against the
 * peer's addresses, then handed to the device or the application. */
void ipop__net_deliver(ipop_network_t *net, ipop_link_t *link, const uint8_t *pkt, size_t len);
/* A RELAY, RELAYED or PEERS frame from `link` (GroupVPN member relay):
 * relay.c handles it, and what it gives back for this node is delivered. */
void ipop__relay_frame(ipop_link_t *link, const ipop__frame *f);
