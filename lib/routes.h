/* SPDX-License-Identifier: MIT */
/* Subnet routes (TUN mode): the networks behind a member, which it
 * announces (option "routes") in its signed offers and answers, and which
 * the other members take when they are asked to (option "accept-routes").
 *
 * The first part is pure: the prefix list parser and the table of
 * accepted routes, which answers "which link owns this address" by the
 * longest prefix, equal prefixes going to the smaller node id, a rule
 * every node applies alike.  The table is thread-safe: lookups run on
 * any thread (tx, rx), changes in the loop thread.  The second part is
 * the glue with the network and its device: which announcements are
 * taken, the device's routes, and reports. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipop/ipop.h"
#include "addr.h"
#include "message.h"

/* Prefixes one member may announce, and accepted routes in a network. */
#define IPOP__ROUTES_MAX IPOP__SIGNAL_ROUTES_MAX
#define IPOP__ROUTES_TOTAL_MAX IPOP_ROUTES_TOTAL_MAX
/* The longest list of IPOP__ROUTES_MAX prefixes as text: 43 characters
 * for "ffff:...:ffff/128" and a separator each. */
#define IPOP__ROUTES_TEXT_MAX (IPOP__ROUTES_MAX * 44)

/* ---- pure (route.c) ---- */

/* Parses a list of prefixes separated by ',' and/or blanks (spaces,
 * tabs): each an IPv4 or IPv6 address with "/N", N from 1 to 32 or 128
 * (no default route), its host bits zero, none twice.  `len` bytes of
 * `text` (no NUL needed).  Up to `max` into `out`, their number into *n.
 * An empty or blank text is an empty list.  Returns 0, -EINVAL (nothing
 * counted in *n), or -E2BIG for more than `max`. */
int ipop__routes_parse(const char *text, size_t len, ipop__addr *out, unsigned max, unsigned *n);
/* Writes the list as "P,P" into buf.  Returns the length, or -ENOSPC. */
int ipop__routes_format(const ipop__addr *r, unsigned n, char *buf, size_t size);
/* Whether prefix `inner` lies inside prefix `outer` (or is it). */
bool ipop__prefix_within(const ipop__addr *inner, const ipop__addr *outer);
/* Whether two prefixes share an address (one lies inside the other). */
bool ipop__prefix_overlap(const ipop__addr *a, const ipop__addr *b);
/* Whether two prefixes are the same (family, length, address). */
bool ipop__prefix_same(const ipop__addr *a, const ipop__addr *b);
/* 32 for AF_INET, 128 for AF_INET6, else 0. */
unsigned ipop__prefix_bits(int family);

/* ---- the table (routes.c) ---- */

typedef struct ipop__rtab ipop__rtab;

/* A table holding at most `per_owner` routes of one owner and `total` in
 * all.  NULL on allocation failure. */
ipop__rtab *ipop__rtab_new(unsigned per_owner, unsigned total);
void ipop__rtab_free(ipop__rtab *t);

/* Adds `prefix` for `owner`, whose node id `owner_id` settles equal
 * prefixes (the smaller wins).  Returns 1 when the table had no route to
 * that prefix before (to be put on the device), 0 when another owner has
 * it too (then *rival, when not NULL, is that owner's node id: the one
 * with the smallest, copied, IPOP__NODE_ID_LEN + 1 bytes), -EEXIST when
 * `owner` has it already, -ENOSPC when the owner or the table is full,
 * -EINVAL. */
int ipop__rtab_add(ipop__rtab *t, void *owner, const char *owner_id, const ipop__addr *prefix, char *rival);
/* Removes every route of `owner`; the prefixes no owner has any more (to
 * be taken off the device) go to `gone` (at most `max`).  Returns their
 * number. */
unsigned ipop__rtab_remove_owner(ipop__rtab *t, void *owner, ipop__addr *gone, unsigned max);
/* The owner of the route that holds `a` with the longest prefix (equal
 * ones: the smaller node id), or NULL.  Cheap when the table is empty. */
void *ipop__rtab_lookup(ipop__rtab *t, const ipop__addr *a);
/* The prefixes of `owner` in effect: those where no other owner wins,
 * into out (at most max).  Returns how many it has in effect (may be
 * more than max). */
unsigned ipop__rtab_of(ipop__rtab *t, void *owner, ipop__addr *out, unsigned max);
/* Routes in the table. */
unsigned ipop__rtab_count(ipop__rtab *t);

/* ---- with the network (routes.c, loop thread) ---- */

/* The routes a peer's offer or answer `m` announces become the link's:
 * taken at once when the link is up and the list changed, else at link
 * up. */
void ipop__routes_take(ipop_link_t *link, const ipop__msg *m);
/* The link's peer connected (or signalled a new list while connected):
 * its announced routes (link->routes) are taken when "accept-routes" is
 * on and they pass the checks, put on the device, and reported. */
void ipop__routes_link_up(ipop_link_t *link);
/* The link left the connected state: its routes go, and off the device
 * the prefixes nobody else announces. */
void ipop__routes_link_down(ipop_link_t *link);
/* The link's peer's routes in effect, as "P,P" (cut at a prefix, with
 * ",..." when they do not fit), and their number.  Any thread. */
unsigned ipop__routes_shown(ipop_link_t *link, char *buf, size_t size);
