/* SPDX-License-Identifier: MIT */
/* Linux TUN/TAP device through /dev/net/tun, configured over rtnetlink. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

/* Opens a TUN (tap=false: IP packets, IFF_NO_PI) or TAP (Ethernet frames)
 * device, non-blocking and close-on-exec.  name may be NULL or "" for a
 * kernel-chosen "ipop%d".  Writes the actual name into ifname.  Returns the
 * fd, or -errno (-EPERM without CAP_NET_ADMIN). */
int ipop__tun_open(const char *name, bool tap, char ifname[IFNAMSIZ]);
/* A TUN device (IP packets) or TAP device (Ethernet frames) whose reads
 * and writes carry a struct virtio_net_hdr (10 bytes, IPOP__VNET_HLEN) in
 * front of each packet (IFF_VNET_HDR).  Returns the fd or -errno, as
 * ipop__tun_open(). */
int ipop__tun_open_vnet(const char *name, bool tap, char ifname[IFNAMSIZ]);
/* On a device from ipop__tun_open_vnet(): the kernel may then hand over
 * TCP super-segments (TAP: super-frames) of up to 64 KB (GSO_TCPV4/TCPV6)
 * and packets with their checksum left to finish (NEEDS_CSUM);
 * lib/offload.c handles both.
 * Returns 0 or -errno (-EINVAL: the kernel does not offer these). */
int ipop__tun_set_offload(int fd);
/* The fd gives one packet per read() (-1/EAGAIN when none is queued) and
 * takes one per write(): a bare IP packet for TUN, an Ethernet frame without
 * FCS for TAP.  Read into a buffer of at least MTU (TUN) or MTU + 14 (TAP)
 * bytes.  Closing the fd removes the device with its addresses and routes.
 *
 * Each returns 0 or -errno: -EINVAL for a NULL or empty name, a name of
 * IFNAMSIZ characters or more, or an invalid value; -ENODEV when no such
 * device exists. */
/* mtu: 68..65535. */
int ipop__tun_set_mtu(const char *ifname, int mtu);
/* Adds a with its prefix (1..32 or 1..128; 0 is refused); an IPv6 address
 * skips duplicate address detection, so it is usable at once.  -EEXIST when
 * the device already has it. */
int ipop__tun_add_addr(const char *ifname, const ipop__addr *a);
/* Removes an address added with ipop__tun_add_addr(). */
int ipop__tun_del_addr(const char *ifname, const ipop__addr *a);
int ipop__tun_set_up(const char *ifname, bool up);
/* Routes the prefix of `prefix` (its address with the host bits cleared,
 * prefix length 1..32 or 1..128) through the device, in the main table
 * (ip route add PREFIX dev IFNAME).  A route that exists already counts
 * as success.  The route goes with the device. */
int ipop__tun_add_route(const char *ifname, const ipop__addr *prefix);
/* -EOPNOTSUPP for a device without an Ethernet address (TUN). */
int ipop__tun_get_mac(const char *ifname, uint8_t mac[6]);
