/* SPDX-License-Identifier: MIT */
/* Forwarding: destination (IP or MAC) to link, and the allowed sources of a
 * link.  Thread-safe: lookups may run on any thread while the control
 * thread adds and removes entries (readers never block each other). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

typedef struct ipop__fwd ipop__fwd;

ipop__fwd *ipop__fwd_new(void);
void ipop__fwd_free(ipop__fwd *f);

/* Routes host address a (prefix ignored: exact match) to link `owner`.
 * A later add of the same address replaces the owner.  Returns 0 or
 * -ENOMEM (-EINVAL for a NULL argument or a family other than AF_INET or
 * AF_INET6). */
int ipop__fwd_add_ip(ipop__fwd *f, const ipop__addr *a, void *owner);
/* Removes every IP, link-local and MAC entry of `owner`. */
void ipop__fwd_remove_owner(ipop__fwd *f, void *owner);
/* Returns the owner of dst, or NULL. */
void *ipop__fwd_lookup_ip(ipop__fwd *f, const ipop__addr *dst);
/* The IP table's generation: it changes with every entry added, moved or
 * removed.  A lookup remembered with the generation read before it is
 * still the table's answer while the generation is unchanged. */
uint64_t ipop__fwd_ip_gen(ipop__fwd *f);

/* L2: learns that src_mac is behind owner (called for frames received from
 * a link).  A MAC belongs to the owner that showed it first, until that
 * owner is removed or the MAC makes room: -EEXIST for another owner (the
 * frame is to be dropped), -EINVAL for a multicast or zero MAC, else 0.
 * The table is bounded: an owner with IPOP__FWD_MAC_OWNER_MAX MACs makes
 * room with its own oldest; a full table, with the oldest of the owner
 * that has the most. */
int ipop__fwd_learn_mac(ipop__fwd *f, const uint8_t mac[6], void *owner);
/* Returns the owner of a unicast MAC, or NULL (unknown: flood). */
void *ipop__fwd_lookup_mac(ipop__fwd *f, const uint8_t mac[6]);

/* Number of IP entries, for tests and status. */
size_t ipop__fwd_count(ipop__fwd *f);

/* Capacity of the MAC table: learning a new MAC when it is full evicts the
 * MAC learned (or refreshed) longest ago. */
#define IPOP__FWD_MAC_MAX 4096
/* MACs one owner (link) may have in the table: a host, or a bridged LAN. */
#define IPOP__FWD_MAC_OWNER_MAX 256
/* Number of learned MACs, for tests and status. */
size_t ipop__fwd_mac_count(ipop__fwd *f);

/* TAP: IPv6 link-local addresses, first come: `owner` may use address a
 * (16 bytes) when it holds it, or when nobody does and it holds fewer than
 * IPOP__FWD_LL_OWNER_MAX (then a is learnt as its own, until the owner is
 * removed).  1 when a is learnt now, 0 when owner held it already;
 * -EEXIST when another owner holds it; -ENOSPC when owner has its maximum;
 * -EINVAL, -ENOMEM. */
int ipop__fwd_claim_ll(ipop__fwd *f, const uint8_t a[16], void *owner);
/* Gives link-local address a to owner, whoever held it (this node's own
 * addresses, held by the network so that no link claims them).  Not
 * bounded: the caller's addresses only.  0, -EINVAL or -ENOMEM. */
int ipop__fwd_hold_ll(ipop__fwd *f, const uint8_t a[16], void *owner);
/* Link-local addresses one owner may hold: a host's kernel makes one, a
 * few more for a container or a changed address. */
#define IPOP__FWD_LL_OWNER_MAX 8
/* Number of learnt link-local addresses, for tests. */
size_t ipop__fwd_ll_count(ipop__fwd *f);

/* Routes host address a to `owner` unless another owner holds it: then
 * -EADDRINUSE and the table is unchanged (a claim never evicts the
 * holder).  0 when added or already owner's; -EINVAL, -ENOMEM. */
int ipop__fwd_claim_ip(ipop__fwd *f, const ipop__addr *a, void *owner);
