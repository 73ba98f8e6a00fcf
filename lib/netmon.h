/* SPDX-License-Identifier: MIT */
/* Watching the host's addresses (rtnetlink), so that links whose path
 * went away with an address start again without waiting to go silent. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

typedef struct ipop__addr_change {
    bool added;          /* RTM_NEWADDR (true) or RTM_DELADDR */
    unsigned ifindex;
    ipop__addr addr;     /* with its prefix */
} ipop__addr_change;

/* A non-blocking, close-on-exec rtnetlink socket subscribed to IPv4 and
 * IPv6 address changes.  Returns the fd or -errno. */
int ipop__netmon_open(void);

/* Parses what one read() of that socket gave: up to `max` address changes
 * into `out`; other messages are skipped.  Returns how many, or -EINVAL
 * when the buffer is not a well-formed sequence of netlink messages (what
 * came before the bad one is returned in `out` and counted in *n_ok).
 * Pure. */
int ipop__netmon_parse(const uint8_t *buf, size_t len, ipop__addr_change *out, size_t max, size_t *n_ok);
