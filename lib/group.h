/* SPDX-License-Identifier: MIT */
/* GroupVPN membership: every node that is in the multi-user room and
 * proves that it knows the group secret links with every other.  The
 * overlay (overlay.c) feeds it what the room says and asks it to seal what
 * goes out; it reaches the network through peers.h.  Loop thread only,
 * except the pure functions at the end. */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#include "ipop/ipop.h"
#include "addr.h"

typedef struct ipop__group ipop__group;

/* node_id: this node's; room: room@rooms.example; secret: the group secret. */
ipop__group *ipop__group_new(ipop_network_t *net, const char *node_id, const char *room, const char *secret);
/* Wipes the key.  Accepts NULL. */
void ipop__group_free(ipop__group *g);

/* A new XMPP session began: members not seen again in it soon are gone. */
void ipop__group_online(ipop__group *g, gint64 now);
/* Occupant `from` (room/nick) of the room is there or not. */
void ipop__group_presence(ipop__group *g, const char *from, bool available);
/* A signalling payload from `from` (room/nick) with its authentication:
 * handed to the network when it proves the secret, refused (counted and
 * reported) when not.  Anything not from our room is ignored. */
void ipop__group_signal(ipop__group *g, const char *from, const char *text, const char *ts, const char *nonce,
                        const char *mac);
/* Once a second while online: drops members that left (or did not come
 * back after a reconnect) and tries failed links again. */
void ipop__group_sweep(ipop__group *g, gint64 now);
/* The network changed: failed links are tried at the next sweep. */
void ipop__group_retry_now(ipop__group *g);
/* What a payload for member `peer` goes out with: a fresh nonce, the time
 * and the MAC.  Returns the occupant JID to send it to (g_free it). */
char *ipop__group_seal(ipop__group *g, const char *peer, const char *text, char ts[24], char nonce[17],
                       char mac[65]);

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
