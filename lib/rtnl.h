/* SPDX-License-Identifier: MIT */
/* rtnetlink, the one module that speaks it (through libmnl): the requests
 * that configure a device (its MTU, state, addresses and routes), and the
 * watch on the host's addresses with its parser, so that links whose path
 * went away with an address start again without waiting to go silent. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* ---- requests: one per call, its ACK's error as the result ----
 * Each returns 0 or -errno: -EINVAL for an invalid argument, the kernel's
 * refusal otherwise (-ENODEV: no device of that index; -EPERM without
 * CAP_NET_ADMIN; -ETIMEDOUT when no answer came within 5 s). */

/* mtu: 68..65535. */
int ipop__rtnl_set_mtu(unsigned ifindex, int mtu);
int ipop__rtnl_set_up(unsigned ifindex, bool up);
/* Adds a with its prefix (1..32 or 1..128; 0 is refused) and, for IPv4
 * below /31, its broadcast address; an IPv6 address skips duplicate
 * address detection, so it is usable at once.  -EEXIST when the device
 * has it already. */
int ipop__rtnl_add_addr(unsigned ifindex, const ipop__addr *a);
int ipop__rtnl_del_addr(unsigned ifindex, const ipop__addr *a);
/* Routes the prefix of `prefix` (host bits cleared here) through the
 * device in the main table; a route that exists already counts as
 * success. */
int ipop__rtnl_add_route(unsigned ifindex, const ipop__addr *prefix);
/* Removes that route (the device's only: another device's route to the
 * same prefix stays).  -ESRCH when there is none. */
int ipop__rtnl_del_route(unsigned ifindex, const ipop__addr *prefix);

/* ---- the host's addresses ---- */

typedef struct ipop__addr_change {
    bool added;          /* RTM_NEWADDR (true) or RTM_DELADDR */
    unsigned ifindex;
    ipop__addr addr;     /* with its prefix */
} ipop__addr_change;

/* A non-blocking, close-on-exec rtnetlink socket subscribed to IPv4 and
 * IPv6 address changes.  Returns the fd or -errno. */
int ipop__rtnl_monitor_open(void);

/* Parses what one read() of that socket gave (any alignment): up to `max`
 * address changes into `out`; other messages are skipped.  Returns how
 * many, or -EINVAL when the buffer is not a well-formed sequence of netlink
 * messages (what came before the bad one is returned in `out` and counted
 * in *n_ok).  Pure. */
int ipop__rtnl_parse_addrs(const uint8_t *buf, size_t len, ipop__addr_change *out, size_t max, size_t *n_ok);
