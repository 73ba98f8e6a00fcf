/* SPDX-License-Identifier: MIT */
/* Who links to whom, and signalling over XMPP: GroupVPN (a multi-user room
 * and a group secret).  Runs in the network's loop thread. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ipop/ipop.h"
#include "addr.h"

typedef struct ipop__overlay ipop__overlay;

int ipop__overlay_start(ipop_network_t *net);
void ipop__overlay_stop(ipop_network_t *net);
/* SocialVPN: accepts the changed node id of friend `jid`.  Returns 0,
 * -ENOENT (no change waiting), -EINVAL (not social). */
int ipop__overlay_accept(ipop_network_t *net, const char *jid);
/* SocialVPN: the JID of the friend behind node `peer`. */
int ipop__overlay_peer_info(ipop_network_t *net, const char *peer, char *jid, size_t size);

/* Asks the signalling server whether the connection still works (it is
 * made again when not): called when a link hears nothing. */
void ipop__overlay_check_server(ipop_network_t *net);
/* The network changed: failed links are tried again at the next sweep,
 * whatever their backoff. */
void ipop__overlay_retry_now(ipop_network_t *net);

/* Sends a signalling message to a peer through the overlay's transport. */
void ipop__overlay_send(ipop_network_t *net, const char *peer, const char *text);

/* The automatic address of a node in `subnet`, pure: host bits from
 * SHA-256(node id, attempt); the prefix is the subnet's.  attempt > 0 gives
 * the next choice after a conflict. */
void ipop__group_auto_addr(const ipop__addr *subnet, const char *node_id, unsigned attempt, ipop__addr *out);

/* The group authentication, pure: key = HMAC-SHA256(secret, "ipop-group-key-v1:" room);
 * mac = HMAC-SHA256(key, "ipop-group-v1" LF room LF from LF to LF ts LF nonce LF text),
 * as 64 lowercase hex digits. */
void ipop__group_key(const char *secret, size_t secret_len, const char *room, uint8_t key[32]);
void ipop__group_mac(const uint8_t key[32], const char *room, const char *from, const char *to, const char *ts,
                     const char *nonce, const char *text, char out[65]);
