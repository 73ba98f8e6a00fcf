/* SPDX-License-Identifier: MIT */
/* Broadcast and multicast in modes tun and none: which packets from the
 * host go to every member, and the rate limit on them.  Pure functions,
 * no I/O: tx.c calls them, tests and fuzzers too. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

typedef enum ipop__cast {
    IPOP__CAST_UNICAST = 0,   /* one host (or nothing that is carried to every member) */
    IPOP__CAST_LIMITED = 1,   /* IPv4 limited broadcast, 255.255.255.255 */
    IPOP__CAST_SUBNET = 2,    /* IPv4 broadcast of this node's own subnet (host bits all ones) */
    IPOP__CAST_MULTICAST = 3, /* IPv4 224.0.0.0/4; IPv6 ff00::/8 of link-local scope (2) or wider */
} ipop__cast;

/* What a destination is for a node whose IPv4 address is own4 (its prefix
 * gives the subnet; family 0 or NULL: none).  A subnet has a broadcast
 * address only up to /30 (RFC 3021: a /31 has none).  IPv6 multicast of
 * interface-local (1) or reserved (0) scope never leaves the host:
 * IPOP__CAST_UNICAST. */
ipop__cast ipop__cast_of(const ipop__addr *dst, const ipop__addr *own4);

/* Whether a packet from the host, whose destination has no link, goes to
 * every member, and as what: its destination is a broadcast or multicast
 * one (ipop__cast_of), its source is this node's own address of its
 * family (own4, own6; a member accepts a packet only from the sender's
 * own address, so any other would be dropped by every receiver), and it
 * is not IGMP (group membership reports are for multicast routers on the
 * link, and the overlay has none).  Anything else: IPOP__CAST_UNICAST. */
ipop__cast ipop__cast_packet(const uint8_t *pkt, size_t len, const ipop__addr *own4, const ipop__addr *own6);

/* A token bucket of `burst` tokens refilled at `rate` tokens a second,
 * kept in GCRA form: the time at which the bucket would be full again. */
typedef struct ipop__bucket {
    int64_t full_at; /* microseconds, on the caller's clock; 0: full */
} ipop__bucket;

/* Takes a token at time now_us: true when there was one.  rate 0: no
 * limit (always true); burst 0 counts as 1. */
bool ipop__bucket_take(ipop__bucket *b, unsigned rate, unsigned burst, int64_t now_us);
