/* SPDX-License-Identifier: MIT */
/* TUN and TAP offloads: what a device opened with IFF_VNET_HDR and
 * TUNSETOFFLOAD gives on read() is a struct virtio_net_hdr followed by
 * either one packet (whose TCP or UDP checksum may be left for us to
 * finish) or a TCP super-segment of up to 64 KB that we split into packets
 * of the device's MTU, as a NIC doing TSO would.  A packet is an IP packet
 * (TUN), or an Ethernet frame (TAP: a link header of 14 bytes, which every
 * segment gets a copy of; the virtio_net_hdr's offsets count from the
 * frame's start).  Pure functions, no I/O, so that unit tests and the
 * fuzzer call them directly. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "addr.h" /* IPOP__ETH_HLEN */

/* struct virtio_net_hdr, in host byte order (what TUN uses unless told
 * otherwise with TUNSETVNETLE/BE). */
#define IPOP__VNET_HLEN 10

/* A super-segment being split.  Filled by ipop__gso_begin(); each
 * ipop__gso_next() writes the next packet.  Points into the caller's
 * buffer, which must stay unchanged until the last packet is out. */
typedef struct ipop__gso {
    const uint8_t *pkt;   /* the packet (TAP: frame) after the virtio_net_hdr */
    size_t len;
    size_t l2;            /* link header in front of the IP header: 0, or IPOP__ETH_HLEN */
    size_t hlen;          /* link, IP and TCP headers, copied in front of each segment */
    size_t l4off;         /* where the TCP header starts, from the packet's start */
    size_t off;           /* payload bytes already sent */
    size_t mss;           /* payload bytes per segment (gso_size) */
    uint32_t seq;         /* the TCP sequence number of the first segment */
    uint16_t ip_id;       /* IPv4: the id of the first segment */
    uint8_t flags;        /* the TCP flags of the super-segment */
    uint8_t v6;           /* IPv6 rather than IPv4 */
    uint8_t gso;          /* 0: a single packet, passed through (its checksum done) */
    unsigned index;       /* segments written so far */
    unsigned count;       /* segments in all */
} ipop__gso;

/* Starts on buf, which holds a virtio_net_hdr and a packet (len bytes in
 * all) as read from the device.  A packet without GSO whose header asks for
 * a checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM) gets it finished in place, in
 * buf.  Returns the number of packets that ipop__gso_next() will write
 * (1 or more), or -errno:
 *   -EINVAL   a truncated header or packet, lengths or offsets that do not
 *             agree with the packet, a gso_size of 0
 *   -EPROTONOSUPPORT  a GSO type other than TCPv4/TCPv6 (UDP, for example),
 *             or a packet that is not the TCP over IP the type says (IPv6
 *             extension headers, an IPv4 fragment) */
int ipop__gso_begin(ipop__gso *g, uint8_t *buf, size_t len);
/* The same for a device whose packets start with l2 bytes of link header
 * (0: TUN, IPOP__ETH_HLEN: TAP).  A super-segment must then be an Ethernet
 * frame whose type is the IP version its GSO type says (no VLAN tag):
 * -EPROTONOSUPPORT otherwise. */
int ipop__gso_begin_l2(ipop__gso *g, uint8_t *buf, size_t len, size_t l2);

/* Writes the next packet into out (cap bytes): a packet (TAP: the frame's
 * link header, then the IP packet) with its IP id
 * and length, TCP sequence number and flags (FIN and PSH only on the last,
 * CWR only on the first) and every checksum set.  Returns its length, 0
 * when all are out, or -EMSGSIZE when it does not fit in cap. */
int ipop__gso_next(ipop__gso *g, uint8_t *out, size_t cap);

/* The other way (GRO): consecutive in-order TCP segments of one flow from
 * the links are merged into one super-segment, written to the device with
 * a GSO virtio_net_hdr, so the kernel's TCP takes one packet (and sends one
 * ACK) where it would take dozens.  buf is the caller's, of at least
 * IPOP__GRO_BUF bytes; the merged packet starts at buf + IPOP__VNET_HLEN. */
#define IPOP__GRO_BUF (IPOP__VNET_HLEN + IPOP__ETH_HLEN + 40 + 65535)

typedef struct ipop__gro {
    uint8_t *buf;
    size_t l2;            /* set by the owner: link header of each packet, 0 (TUN) or IPOP__ETH_HLEN (TAP) */
    size_t len;           /* bytes of the pending packet (link header included), 0: none */
    size_t l4off, hlen;   /* from the IP header's start */
    size_t mss;           /* payload bytes of the first segment */
    uint32_t next_seq;    /* the sequence number a segment must have to follow */
    unsigned segs;
    uint8_t v6;
    uint8_t closed;       /* a short segment or PSH came: nothing more joins */
} ipop__gro;

/* Offers a packet (TAP: a frame; it joins only frames with the same link
 * header): 1 when it was taken (it started a new pending packet,
 * or joined the pending one), 0 when it cannot join the pending packet
 * (write that first, with ipop__gro_finish(), and offer again) or, with
 * nothing pending, is not a TCP segment that could start one (write it as
 * it is). */
int ipop__gro_add(ipop__gro *g, const uint8_t *pkt, size_t len);

/* Completes the pending packet: lengths, IPv4 header checksum, and the
 * virtio_net_hdr in front (GSO with the TCP checksum left to the kernel,
 * NEEDS_CSUM, when segments were merged; the packet unchanged behind a
 * zeroed header when it is a single one).  Returns the bytes to write from
 * g->buf (0 when nothing is pending) and empties g. */
size_t ipop__gro_finish(ipop__gro *g);
