/* SPDX-License-Identifier: MIT */
/* SocialVPN: a node links with the contacts of its roster that have a
 * mutual presence subscription, and only with them.  The overlay
 * (overlay.c) feeds it the roster, presences and payloads from XMPP; it
 * reaches the network through peers.h.  Loop thread only. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "ipop/ipop.h"
#include "addr.h"

typedef struct ipop__social ipop__social;

typedef struct ipop__social_config {
    const char *node_id;        /* this node's */
    const char *own_jid;        /* this account: its own roster item is no friend */
    ipop__addr subnet;          /* social.subnet: the friends' addresses here */
    ipop__addr own_addr;        /* this node's IPv4 address: never a friend's */
    const char *state_file;     /* pinned node ids and addresses, or NULL */
    /* sends a stanza over the network's XMPP session: 0 or -ENOTCONN */
    int (*send_xml)(ipop_network_t *net, const char *xml);
} ipop__social_config;

/* Loads the state file, if any. */
ipop__social *ipop__social_new(ipop_network_t *net, const ipop__social_config *cfg);
/* Accepts NULL. */
void ipop__social_free(ipop__social *s);

/* Roster item `bare` has subscription `sub` (none, to, from, both,
 * remove); `asked`: our request to it waits for an answer. */
void ipop__social_roster(ipop__social *s, const char *bare, const char *sub, bool asked);
/* RFC 6121 3: `bare` sent us a subscription stanza of `type`.  A request
 * from someone we asked (or subscribe to) is approved at once; others wait
 * for ipop__social_friend_accept(). */
void ipop__social_subscription(ipop__social *s, const char *bare, const char *type);
/* The friends' side of the public API (ipop.h: ipop_network_friend_*):
 * 0 or -errno. */
int ipop__social_friend_add(ipop__social *s, const char *jid);
int ipop__social_friend_accept(ipop__social *s, const char *jid);
int ipop__social_friend_remove(ipop__social *s, const char *jid);
int ipop__social_friend_get(ipop__social *s, size_t index, ipop_friend_t *ret);
/* `from` (a full JID) is available or not; `node` is the node id it said, or NULL. */
void ipop__social_presence(ipop__social *s, const char *from, const char *node, bool available);
/* A signalling payload from `from` (a full JID): handed to the network when
 * it is a friend's node, refused (counted and reported) when not. */
void ipop__social_signal(ipop__social *s, const char *from, const char *text);
/* Once a second while online: drops friends gone offline and tries failed
 * links again. */
void ipop__social_sweep(ipop__social *s, gint64 now);
/* The network changed: failed links are tried at the next sweep. */
void ipop__social_retry_now(ipop__social *s);
/* The full JID that reaches the friend behind node `peer` now, or NULL. */
const char *ipop__social_jid_of(ipop__social *s, const char *peer);
/* Accepts the changed node id of friend `jid`.  0, or -ENOENT when no
 * change waits. */
int ipop__social_accept(ipop__social *s, const char *jid);
