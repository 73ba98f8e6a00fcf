/* SPDX-License-Identifier: MIT */
/* The link object and what link.c offers the files around it, until
 * link.c is split (link.h and its transports).  The network object is in
 * network.h; the functions of the network that link.c calls are declared
 * by the modules that define them, included here for link.c. */
#pragma once

#include <agent.h>
#include <glib.h>
#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ipop/ipop.h"
#include "addr.h"
#include "forward.h"
#include "frame.h"
#include "identity.h"
#include "record.h"
#include "offload.h"
#include "message.h"
#include "network.h"
#include "link.h"
/* what link.c calls: */
#include "autoaddr.h"
#include "loop.h"
#include "rx.h"
#include "tx.h"
#include "underlay.h"

/* udp.c */
typedef struct ipop__udp_set ipop__udp_set;
bool ipop__udp_deliver(ipop_network_t *net, ipop_link_t *link, const uint8_t *pkt, size_t len);
void ipop__udp_set_free(ipop__udp_set *set);        /* with the network: frees endpoints left open */
uint64_t ipop__udp_rx_drops(ipop_network_t *net);   /* bad datagrams to an open port, for tests */
