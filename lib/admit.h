/* SPDX-License-Identifier: MIT */
/* What a peer may hand this node (doc/security.md): which member relays
 * between two members, whether a RELAYED frame comes from that member, and
 * whether a TAP frame's Ethernet, ARP, IP and neighbour discovery fields
 * are the peer's own.  Pure functions, no I/O: rx.c and relay.c call them,
 * tests and fuzzers too. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define IPOP__ADMIT_ID_LEN 8 /* a short id (frame.h, IPOP__SHORT_ID_LEN) */

/* ---- member relay ---- */

/* The member that relays between members a and b, among the n candidates
 * (n short ids, one after the other at cands): the one with the lowest
 * rendezvous score of (the pair, the candidate).  Both ends of the pair
 * pick the same member from the same candidates, whatever their order.
 * Returns its index, or -1 when n is 0. */
int ipop__relay_pick(const uint8_t a[IPOP__ADMIT_ID_LEN], const uint8_t b[IPOP__ADMIT_ID_LEN],
                     const uint8_t *cands, unsigned n);

typedef enum ipop__relayed_verdict {
    IPOP__RELAYED_DELIVER = 0,  /* from this node's relay for the origin */
    IPOP__RELAYED_NOT_RELAY = 1, /* from a member that is not that relay: a forgery */
} ipop__relayed_verdict;

/* A RELAYED frame naming `origin`, from member `from`: delivered only when
 * `from` is the member this node sends through to reach the origin (`via`)
 * or the one both ends pick now (`pick`); either may be NULL (none). */
ipop__relayed_verdict ipop__relayed_admit(const uint8_t from[IPOP__ADMIT_ID_LEN], const uint8_t *via,
                                          const uint8_t *pick);

/* ---- TAP frames ---- */

typedef enum ipop__tap_verdict {
    IPOP__TAP_OK = 0,
    IPOP__TAP_MALFORMED = 1, /* truncated, or an ARP or ND message that is not well formed */
    IPOP__TAP_TYPE = 2,      /* not ARP, IPv4 or IPv6 (PPPoE, MPLS, LLC, ...), or tagged when tags are off */
    IPOP__TAP_SPOOF = 3,     /* an IP source, ARP or ND sender, target or link-layer address not the peer's */
    IPOP__TAP_MAC = 4,       /* a multicast or zero source MAC */
} ipop__tap_verdict;

/* What a peer may send in TAP mode. */
typedef struct ipop__tap_peer {
    ipop__addr a4, a6;  /* its signalled addresses (family 0: none) */
    bool tagged;        /* 802.1Q and 802.1ad tags (at most two) allowed, the frame inside checked */
} ipop__tap_peer;

/* Checks an Ethernet frame (no FCS) from peer p.  IPv4: the source is the
 * peer's, or 0.0.0.0 for a DHCP client (UDP 68 to 67).  IPv6: the source is
 * the peer's, or the link-local address derived from the frame's source
 * MAC (modified EUI-64), or :: for duplicate address detection (a neighbour
 * solicitation) and MLDv2 reports.  ARP (Ethernet/IPv4, request or reply):
 * the sender MAC is the frame's, the sender address the peer's, or 0.0.0.0
 * in a probe (request) for the peer's address.  Neighbour solicitations
 * and advertisements, also behind extension headers: an advertisement's
 * target is the peer's (signalled or link-local), a solicitation from ::
 * asks only for those, and link-layer address options are the frame's
 * source MAC.  Which link the MAC belongs to is the caller's check (the
 * learning table).  Returns an ipop__tap_verdict. */
ipop__tap_verdict ipop__tap_check(const uint8_t *frame, size_t len, const ipop__tap_peer *p);

/* The IPv6 link-local addresses a frame uses as the peer's own (its source,
 * a neighbour advertisement's target, a duplicate address detection's
 * target) that are not derived from the frame's source MAC: each must be
 * the link's in the first-come table of link-local addresses (forward.h,
 * ipop__fwd_claim_ll), which is the caller's check. */
typedef struct ipop__tap_ll {
    uint8_t addr[2][16];
    unsigned n; /* distinct addresses in addr */
} ipop__tap_ll;

/* ipop__tap_check, but IPv6 link-local addresses (fe80::/10) of any form are
 * the peer's too, listed in *claims for the caller to check against the
 * table; one of modified EUI-64 form (ff:fe in its middle) is still only
 * the one derived from the frame's source MAC (so that no link claims the
 * address of another link's MAC).  With claims NULL: ipop__tap_check. */
ipop__tap_verdict ipop__tap_check_ll(const uint8_t *frame, size_t len, const ipop__tap_peer *p,
                                     ipop__tap_ll *claims);

/* The IPv6 link-local address derived from a MAC (fe80::/64, modified
 * EUI-64, RFC 4291 appendix A). */
void ipop__ll6_from_mac(const uint8_t mac[6], uint8_t out[16]);

/* A name for a verdict, for logs ("ok", "malformed", ...). */
const char *ipop__tap_verdict_str(ipop__tap_verdict v);
