/* SPDX-License-Identifier: MIT */
/* Linux TUN/TAP device through /dev/net/tun, configured over rtnetlink. */
#pragma once

#include <net/if.h>
#include <stdbool.h>

#include "addr.h"

/* Opens a TUN (tap=false: IP packets, IFF_NO_PI) or TAP (Ethernet frames)
 * device, non-blocking and close-on-exec.  name may be NULL or "" for a
 * kernel-chosen "ipop%d".  Writes the actual name into ifname.  Returns the
 * fd, or -errno (-EPERM without CAP_NET_ADMIN). */
int ipop__tun_open(const char *name, bool tap, char ifname[IFNAMSIZ]);
/* Each returns 0 or -errno. */
int ipop__tun_set_mtu(const char *ifname, int mtu);
int ipop__tun_add_addr(const char *ifname, const ipop__addr *a);
int ipop__tun_set_up(const char *ifname, bool up);
int ipop__tun_get_mac(const char *ifname, uint8_t mac[6]);
