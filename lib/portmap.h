/* SPDX-License-Identifier: MIT */
/* One port mapping on the home router, asked for with PCP (RFC 6887) or
 * NAT-PMP (RFC 6886) over a UDP socket of its own to the default gateway:
 * asked in the background (retransmitted from 250 ms, doubling), renewed
 * at half its lifetime, deleted when freed.  UPnP IGD is upnp.c's.  A
 * layer-1 service: it calls nothing but log.c, and tells its owner through the function it was made with.  The loop
 * thread only. */
#pragma once

#include <glib.h>
#include <netinet/in.h>
#include <stdint.h>

#include "ipop/ipop.h"

/* Protocols, as the option "ice.port-mapping" names them. */
#define IPOP__PM_UPNP (1u << 0)
#define IPOP__PM_NATPMP (1u << 1)
#define IPOP__PM_PCP (1u << 2)
#define IPOP__PM_ALL (IPOP__PM_UPNP | IPOP__PM_NATPMP | IPOP__PM_PCP)

/* A mapper that has not answered within this time tells its owner "none"
 * (and goes on asking): PCP and NAT-PMP here, UPnP IGD in upnp.c. */
#define IPOP__PORTMAP_PROBE_MS 500

typedef struct ipop__portmap ipop__portmap;

/* What the mapper tells its owner: proto is IPOP_PORT_MAPPING_PCP or
 * _NATPMP with the public address and port (network order) of a mapping
 * made or renewed at another address; IPOP_PORT_MAPPING_NONE when the
 * router did not map the port within the probe time (it may still later). */
typedef void (*ipop__portmap_fn)(void *data, ipop_port_mapping_t proto, struct in_addr ext_ip, uint16_t ext_port);

/* A mapper for the protocols in mask (IPOP__PM_NATPMP, _PCP) towards the
 * default IPv4 gateway; *internal gets the local address the router sees
 * (the host candidate to map).  0, -ENETUNREACH without a default gateway,
 * or -errno. */
int ipop__portmap_new(ipop__portmap **ret, ipop_network_t *net, GMainContext *ctx, unsigned mask,
                      ipop__portmap_fn fn, void *data, struct in_addr *internal);
/* The local address the default IPv4 gateway sees (a connected UDP socket's
 * own): the host candidate a router maps.  0, -ENETUNREACH or -errno. */
int ipop__portmap_internal(struct in_addr *internal);
/* Asks for internal_port to be mapped (once). */
void ipop__portmap_map(ipop__portmap *pm, uint16_t internal_port);
/* Deletes the mapping if one was made (one request, no wait) and frees. */
void ipop__portmap_free(ipop__portmap *pm);
