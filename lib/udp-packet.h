/* SPDX-License-Identifier: MIT */
/* UDP inside IPv4 and IPv6 packets, for the endpoints of udp.c: build,
 * parse, and the UDP checksum.  Pure functions, no I/O, no GLib. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "bytes.h" /* the checksum */

#define IPOP__UDP_HLEN 8
#define IPOP__IPV4_HLEN 20 /* the header we build; received ones may carry options */
#define IPOP__IPV6_HLEN 40

/* The UDP checksum over the pseudo-header of `family` (RFC 768 for IPv4,
 * RFC 8200 section 8.1 for IPv6; src and dst are 4 or 16 bytes) and the
 * udp_len bytes of UDP header and payload, taken as they are: with the
 * checksum field zeroed it is the value to send (0 is sent as 0xffff), with
 * the received field in place it is 0 for an intact datagram. */
uint16_t ipop__udp_checksum(int family, const uint8_t *src, const uint8_t *dst, const uint8_t *udp,
                            size_t udp_len);

/* Writes into buf an IPv4 (20-byte header, DF set, TTL 64) or IPv6 (hop
 * limit 64) packet carrying one UDP datagram from src:sport to dst:dport,
 * both checksums filled.  data must not overlap buf.  Returns the packet
 * length, -EINVAL (NULL, families that differ or are unset, port 0) or
 * -EMSGSIZE (more than `size` bytes, or a UDP length above 65535). */
int ipop__udp_build(uint8_t *buf, size_t size, const ipop__addr *src, uint16_t sport, const ipop__addr *dst,
                    uint16_t dport, const void *data, size_t len);

typedef struct ipop__udp_dgram {
    ipop__addr src, dst;  /* full-length prefixes; family 0 when the IP header did not parse */
    bool has_ports;       /* the 8 bytes of UDP header were there */
    uint16_t sport, dport;
    const uint8_t *data;  /* the payload, inside the parsed packet */
    size_t len;
} ipop__udp_dgram;

enum { IPOP__UDP_OK = 0, IPOP__UDP_OTHER = 1 };

/* Reads an IP packet of len bytes (trailing bytes after the IP total length
 * are ignored, as padding).  Returns
 *  - IPOP__UDP_OK: one whole, valid UDP datagram; every field of d is set;
 *  - IPOP__UDP_OTHER: a valid IP packet that is not one: another protocol,
 *    an IPv4 fragment (MF or an offset), IPv6 with any extension header
 *    (fragments included); src and dst are set;
 *  - -EBADMSG: UDP, but not valid: IPv4 header checksum wrong, UDP header
 *    cut short, UDP length not equal to what the IP header leaves, UDP
 *    checksum wrong, or missing in IPv6.  src and dst are set, the ports
 *    when has_ports;
 *  - -EINVAL: not an IP packet whose header can be read; d->dst.family is 0.
 */
int ipop__udp_parse(const uint8_t *pkt, size_t len, ipop__udp_dgram *d);
