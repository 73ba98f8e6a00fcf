/* SPDX-License-Identifier: MIT */
/* Address translation for SocialVPN: pure functions, no I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Replaces the IPv4 source (src true) or destination address of a packet
 * with `addr`, updating the header checksum and, in a first or only
 * fragment, the TCP or UDP checksum (RFC 1624 incremental update; a UDP
 * checksum of 0, "none", stays 0).  Returns 0, or -EINVAL when the packet
 * is not a well-formed IPv4 packet (nothing is changed then). */
int ipop__ip4_rewrite(uint8_t *pkt, size_t len, bool src, const uint8_t addr[4]);
