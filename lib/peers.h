/* SPDX-License-Identifier: MIT */
/* The peers API of a network: who may link, and the links.  The policies
 * above the network (overlay, group, social, relay, underlay) reach peers
 * and links through these calls, never through the network's lock or
 * fields.  Thread-safe unless noted. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "ipop/ipop.h"

/* Lets the peer signal and link.  -EINVAL when peer_id is not a node id. */
int ipop__peers_allow(ipop_network_t *net, const char *peer_id);
/* The peer's messages are refused from now on; its link, if any, stays
 * until the caller shuts it down. */
void ipop__peers_disallow(ipop_network_t *net, const char *peer_id);
bool ipop__peers_allowed(ipop_network_t *net, const char *peer_id);
/* The peer's link, or NULL.  Links live until the network is freed. */
ipop_link_t *ipop__peers_link(ipop_network_t *net, const char *peer_id);
/* A snapshot of every link, in creation order; the caller unrefs it. */
GPtrArray *ipop__peers_links(ipop_network_t *net);
/* The links made after the first `first` (links are only ever added), in
 * creation order; the caller unrefs it. */
GPtrArray *ipop__peers_links_since(ipop_network_t *net, guint first);
/* The loop thread only: allows the peer and opens a link to it unless one
 * is connected or connecting.  The link, when ret is given.  -ENOSPC when
 * a new link would exceed link.max (counted and reported). */
int ipop__peers_connect(ipop_network_t *net, const char *peer_id, ipop_link_t **ret);
/* A signalling message from a peer, from a pump of the library's own (the
 * overlay): checked and handled as ipop_network_signal_receive() does.
 * 0, or the -errno that function would return. */
int ipop__peers_signal(ipop_network_t *net, const char *from_peer_id, const char *message);
/* The same, not logged: for callers that rate-limit their own lines. */
void ipop__peers_refused_quiet(ipop_network_t *net, const char *from, ipop_event_type_t type, ipop_reason_t reason,
                               int err, const char *detail);
/* Input from a peer was refused: counted in the network's signal_refused,
 * logged (warning) and reported as an event of `type` with `detail`. */
void ipop__peers_refused(ipop_network_t *net, const char *from, ipop_event_type_t type, ipop_reason_t reason,
                         int err, const char *detail);
