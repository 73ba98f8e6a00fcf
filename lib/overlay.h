/* SPDX-License-Identifier: MIT */
/* Signalling over XMPP for the two overlays: the XMPP transport's events
 * are handled in the network's loop and handed to the policy, GroupVPN
 * (group.c) or SocialVPN (social.c); a sweep each second drops departed
 * peers, tries failed links again and ticks the member relay (relay.c);
 * the links' messages leave through it when the network's own overlay
 * carries signalling.  Started and stopped by the network; the rest runs
 * in its loop. */
#pragma once

#include "ipop/ipop.h"

typedef struct ipop__overlay ipop__overlay;

/* Reads the options of the overlay, starts the XMPP transport and, in
 * GroupVPN, joins the room.  0 or -errno. */
int ipop__overlay_start(ipop_network_t *net);
/* After the links said goodbye: once it returns, nothing of the overlay
 * runs in the loop any more, and the transport has sent what was queued. */
void ipop__overlay_stop(ipop_network_t *net);
/* SocialVPN: accepts the changed node id of friend `jid`.  Returns 0,
 * -ENOENT (no change waiting), -EINVAL (not social). */
int ipop__overlay_accept(ipop_network_t *net, const char *jid);
/* SocialVPN: the friends' calls of ipop.h, in the loop (social.c).
 * -EINVAL when not social. */
typedef enum ipop__friend_op { IPOP__FRIEND_ADD, IPOP__FRIEND_ACCEPT, IPOP__FRIEND_REMOVE } ipop__friend_op;
int ipop__overlay_friend(ipop_network_t *net, ipop__friend_op op, const char *jid);
int ipop__overlay_friend_get(ipop_network_t *net, size_t index, ipop_friend_t *ret);

/* Asks the signalling server whether the connection still works (it is
 * made again when not): called when a link hears nothing. */
void ipop__overlay_check_server(ipop_network_t *net);
/* The network changed: failed links are tried again at the next sweep,
 * whatever their backoff. */
void ipop__overlay_retry_now(ipop_network_t *net);

/* Sends a signalling message to a peer through the overlay's transport. */
void ipop__overlay_send(ipop_network_t *net, const char *peer, const char *text);
