/* SPDX-License-Identifier: MIT */
/* Virtual addresses and packet headers: pure functions, no I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ipop__addr {
    int family;        /* AF_INET or AF_INET6; 0 = unset */
    uint8_t prefix;    /* 0..32 or 0..128 */
    uint8_t bytes[16]; /* network order; IPv4 uses the first 4 */
} ipop__addr;

/* Parses "10.1.2.3/24", "fd00::1/64"; without "/N" the prefix is the full
 * length.  Returns 0, or -EINVAL (nothing written to *out). */
int ipop__addr_parse(const char *text, ipop__addr *out);
/* Writes "10.1.2.3/24" into buf; returns the length or -ENOSPC. */
int ipop__addr_format(const ipop__addr *a, char *buf, size_t size);
/* true when both hold the same address (prefixes ignored). */
bool ipop__addr_equal_host(const ipop__addr *a, const ipop__addr *b);
/* Whether `a` lies in the subnet `net` (its address and prefix); false
 * when `net` is unset or the families differ.  Pure. */
bool ipop__addr_in_subnet(const ipop__addr *net, const ipop__addr *a);
/* Sets *a to the host address at bytes (4 or 16 of them, by family), with
 * a full-length prefix.  Does nothing when a is NULL. */
void ipop__addr_set_host(ipop__addr *a, int family, const uint8_t *bytes);

/* Reads the source and destination of an IPv4 or IPv6 packet (version
 * nibble, header length, total length checked against len).  Returns 0 or
 * -EINVAL.  Prefixes of the results are full length. */
int ipop__ip_src_dst(const uint8_t *pkt, size_t len, ipop__addr *src, ipop__addr *dst);

/* Ethernet: 14-byte header (no VLAN parsing needed). */
#define IPOP__ETH_HLEN 14
int ipop__eth_parse(const uint8_t *frame, size_t len, const uint8_t **dst_mac,
                    const uint8_t **src_mac, uint16_t *ethertype);
/* For a TAP frame: the sender's IP address as the frame claims it: the IPv4
 * or IPv6 source, or the ARP sender protocol address.  Returns 1 when
 * found, 0 when the frame carries no IP sender (other ethertypes), -EINVAL
 * when the frame or its payload is truncated. */
int ipop__eth_ip_sender(const uint8_t *frame, size_t len, ipop__addr *out);
