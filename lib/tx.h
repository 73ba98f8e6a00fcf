/* SPDX-License-Identifier: MIT */
/* The data path from the host to the links (tx.c): the device read, the
 * offload split, the route (with the loop thread's route cache), the one
 * choice of flood, member relay or link, and the batches to a link. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipop/ipop.h"
#include "addr.h"
#include "cast.h"
#include "dtls.h" /* TX_BATCH_MAX */
#include "frame.h"



struct ipop__tx {
    uint8_t devbuf[2048];       /* packets read from the device; the loop thread only */
    uint8_t *gsobuf;            /* vnet: a virtio_net_hdr and up to 64 KB read from the device */
    bool dev_quiet;             /* the last device wakeup read one packet or none */
    struct {                    /* recent host lookups in fwd (route()); the loop thread only */
        ipop__addr dst;
        ipop_link_t *link;      /* NULL: an empty entry */
        uint64_t gen;           /* fwd's IP generation read before the lookup */
    } route_cache[16];
    uint8_t *recs;              /* records from the device, queued for `link` (TX_BATCH_MAX of REC_MAX) */
    size_t lens[TX_BATCH_MAX];
    unsigned n;
    ipop_link_t *link;
    struct {                    /* TAP: the last broadcast and multicast frames (under net->lock) */
        gint64 at;              /* when flooded (monotonic us); 0: empty */
        size_t len, cap;
        uint8_t *frame;
    } held[4];
    unsigned held_next;         /* the slot the next one takes */
    ipop__bucket bcast;         /* tun, none: broadcast.rate (under net->lock) */
    ipop__bucket ptb;           /* tun: ICMP "too big" answers into the device (the loop thread only) */
};

/* At start, once the device is open: its buffers and its source.  At stop
 * (loop thread, or after the loop ended): both gone. */
void ipop__tx_start(ipop_network_t *net);
void ipop__tx_stop(ipop_network_t *net);
/* The loop: the device polls readable. */
void ipop__tx_device_ready(ipop_network_t *net);
/* TAP: the broadcast frames kept for links coming up are forgotten. */
void ipop__tx_held_clear(ipop_network_t *net);
/* A packet from the host (the application, or a UDP endpoint) to where
 * its destination routes.  Any thread.  0 or -errno, as
 * ipop_network_send_packet() returns. */
int ipop__tx_packet(ipop_network_t *net, const uint8_t *pkt, size_t len);
/* A link just became CONNECTED (loop thread, no lock held): TAP sends it
 * the broadcast frames it missed. */
void ipop__net_link_up(ipop_network_t *net, ipop_link_t *link);
