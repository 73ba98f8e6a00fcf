/* SPDX-License-Identifier: MIT */
/* UPnP IGD port mapping (gupnp-igd's GUPnPSimpleIgd) for a whole network:
 * one client, made when the network starts so that the router is found
 * (SSDP) before the first link asks, running on the network's context
 * (never a thread of its own).  Each link's session maps its port through
 * it: the answer goes to the same kind of function as a PCP or NAT-PMP
 * mapper's (portmap.h).  gupnp-igd renews mappings at half their lease;
 * a link's is deleted when its session ends, all of them when the client
 * is freed.  A layer-1 service: it calls nothing but log.c.  The loop
 * thread only. */
#pragma once

#include <glib.h>
#include <netinet/in.h>
#include <stdint.h>

#include "ipop/ipop.h"
#include "portmap.h"

typedef struct ipop__upnp ipop__upnp;
typedef struct ipop__upnp_map ipop__upnp_map;

/* A client on ctx, looking for the router at once. */
ipop__upnp *ipop__upnp_new(ipop_network_t *net, GMainContext *ctx);
/* Deletes its mappings (requests sent, not waited for) and frees it.
 * Every map must have been freed first. */
void ipop__upnp_free(ipop__upnp *u);

/* Asks for internal:port (UDP) to be mapped.  fn hears IPOP_PORT_MAPPING_UPNP
 * with the public address and port (host order) each time the router maps
 * it (again at another address), or IPOP_PORT_MAPPING_NONE once if there is
 * no mapping within the probe time (it may still come later). */
ipop__upnp_map *ipop__upnp_map_new(ipop__upnp *u, struct in_addr internal, uint16_t port, ipop__portmap_fn fn,
                                   void *data);
/* Deletes the mapping (one request, no wait) and frees the map. */
void ipop__upnp_map_free(ipop__upnp_map *m);
