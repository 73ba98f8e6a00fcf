/* SPDX-License-Identifier: MIT */
/* The MTU on the data path: the bytes a link adds around a packet (the
 * arithmetic behind IPOP_DEFAULT_MTU, doc/architecture.md), the ICMP
 * answer to a host packet too big for its link ("fragmentation needed",
 * "packet too big": RFC 1191, RFC 8201), and TCP MSS clamping.  Pure
 * functions, no I/O: tx.c and rx.c call them, tests and fuzzers too. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "record.h"
#include "udp-packet.h" /* IPOP__UDP_HLEN, IPOP__IPV4_HLEN, IPOP__IPV6_HLEN */

#define IPOP__TURN_CHANNEL_HLEN 4 /* TURN ChannelData header (RFC 8656 section 12.4) */
/* What a link adds to a packet inside its UDP payload: a DTLS 1.2
 * AES-GCM record (header, explicit nonce, tag: record.c) around a DATA
 * frame (frame.c).  A member relay's RELAY and RELAYED frames carry
 * IPOP__FRAME_RELAY_HDR bytes instead of the DATA frame's one. */
#define IPOP__LINK_OVERHEAD (IPOP__REC_OVERHEAD + IPOP__FRAME_HDR)
/* The underlay packet sizes the default MTU keeps within (common cloud
 * networks: GCP's 1460, an IPv6 path's 1440 after tunnel headers). */
#define IPOP__UNDERLAY4_MAX 1460
#define IPOP__UNDERLAY6_MAX 1440

/* Bytes between a host packet of n bytes and the outer IP packet of
 * n + ipop__mtu_overhead() bytes on the wire: the outer IP (family AF_INET
 * or AF_INET6) and UDP headers, TURN's ChannelData header when `turn`,
 * and the DTLS record and frame header (a RELAY or RELAYED frame's when
 * `member_relay`). */
unsigned ipop__mtu_overhead(int family, bool turn, bool member_relay);

/* The largest packet a link carries: IPOP_MAX_PACKET in a DATA frame,
 * IPOP__FRAME_RELAY_MAX_PAYLOAD through a member relay. */
static inline unsigned ipop__link_mtu(bool member_relay)
{
    return member_relay ? IPOP__FRAME_RELAY_MAX_PAYLOAD : IPOP_MAX_PACKET;
}

/* Room for the longest ICMP answer: IPv6 keeps within its minimum MTU. */
#define IPOP__PTB_MAX 1280

/* Writes to out (size bytes) the ICMP answer to the host packet pkt (len
 * bytes, from the device) that is larger than `mtu`: IPv4 "destination
 * unreachable, fragmentation needed" with the next-hop MTU, or ICMPv6
 * "packet too big", as if from the packet's destination to its source,
 * quoting as much of the packet as RFC 1812 (576 bytes in all) or
 * RFC 4443 (1280) allow.  Returns the answer's length, 0 when none is
 * due (IPv4 without DF or not a first fragment, an ICMP error, a
 * source or destination that is unspecified, multicast or broadcast, an
 * IPv6 mtu below 1280), -EINVAL (not an IP packet) or -ENOSPC. */
int ipop__ptb_make(const uint8_t *pkt, size_t len, unsigned mtu, uint8_t *out, size_t size);

/* A TCP SYN without data is at most this long (IPv6 and 60 bytes of TCP
 * header): the data path calls ipop__mss_clamp() only for packets this
 * short, one length compare for everything else. */
#define IPOP__SYN_MAX (IPOP__IPV6_HLEN + 60)

/* A TCP SYN (or SYN-ACK) in pkt gets its MSS option lowered to what a
 * packet of `mtu` bytes holds (mtu - 40 over IPv4, mtu - 60 over IPv6)
 * where it is larger, with the TCP checksum updated (RFC 1624).  Returns
 * 1 when it changed the packet, 0 otherwise (anything else, or malformed,
 * is left as it is). */
int ipop__mss_clamp(uint8_t *pkt, size_t len, unsigned mtu);
