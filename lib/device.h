/* SPDX-License-Identifier: MIT */
/* The network's TUN or TAP device (device.c): opened and configured from
 * the options (name, offloads, MTU, addresses), and closed. */
#pragma once

#include "ipop/ipop.h"

/* A virtio_net_hdr and the largest IPv6 packet (a payload length of 64 KB). */
#define GSOBUF_SIZE (IPOP__VNET_HLEN + IPOP__ETH_HLEN + 40 + 65535)

/* Opens and configures the device; sets net->dev_* and net->vnet.  0 or
 * -errno (logged). */
int ipop__device_open(ipop_network_t *net);
/* The kernel removes the device with its last fd. */
void ipop__device_close(ipop_network_t *net);
