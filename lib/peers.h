/* SPDX-License-Identifier: MIT */
/* The peers API of a network: who may link, and the links.  The data path
 * (relay.c) and the policies (overlay, group, social, retry, autoaddr,
 * underlay) reach peers and links through these calls, never through the
 * network's lock or fields.  Above the link session and below the data
 * path: peers.c calls links, the loop and sigauth.c, and nothing above;
 * what a link calls up into are the ops the network fixes at creation.
 * Thread-safe unless noted. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "ipop/ipop.h"
#include "link.h"
#include "message.h"

/* With the network: its tables of peers and links, and the ops every link
 * is made with (what a link calls up into: the data path, the policies and
 * signalling out, fixed by the network so that links call only downward).
 * When the network is freed: every link freed. */
typedef struct ipop__peers_gate {
    /* Whether a link to an allowed peer may be opened now (a group
     * authority: not before its certificate checked out). */
    bool (*may_link)(ipop_network_t *net, const char *peer_id);
    /* A verified message from an allowed peer, before its link sees it:
     * true when the policy took it (or refused it) and the link must not.
     * It may complete the message for the link (a group authority: the
     * name of the member's certificate, when the member signals none). */
    bool (*filter)(ipop_network_t *net, ipop__msg *m);
} ipop__peers_gate;

/* gate: the policy above that admits links and messages, fixed by the
 * network so that peers.c calls only downward. */
void ipop__peers_init(ipop_network_t *net, const ipop__link_ops *ops, const ipop__peers_gate *gate);
void ipop__peers_clear(ipop_network_t *net);

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
 * is connected or connecting.  The link, when ret is given.  In a group
 * with an authority, a member whose certificate was not verified yet gets
 * no link but a request for its certificate (certauth.h): then 0 and
 * *ret NULL.  -ENOSPC when a new link would exceed link.max (counted and
 * reported). */
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
