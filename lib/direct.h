/* SPDX-License-Identifier: MIT */
/* A link's direct path: while DTLS is up over a UDP pair without a relay,
 * the selected pair's socket is sent on (sendmsg, with UDP GSO for runs of
 * datagrams) and, in the library's own loops, read (recvmmsg, with UDP
 * GRO) without libnice in between.  What is read is told apart by its
 * first byte (RFC 7983): DTLS goes to the link, STUN connectivity checks
 * are answered, the rest is dropped and counted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <glib.h>

#include "ipop/ipop.h"
#include "stun.h"

struct ipop__direct {
    /* a DTLS datagram from the peer (fixed when the link is made) */
    void (*datagram)(ipop_link_t *link, const uint8_t *buf, size_t len);
    /* The selected pair's socket, or -1; set in the loop thread under the
     * link's tx_lock. */
    int fd;
    struct sockaddr_storage to;
    socklen_t to_len;
    bool no_udp_gso;            /* UDP_SEGMENT failed once on this link: one by one */
    /* Our ICE role and tie-breaker in answers to the checks that reach the
     * direct path (libnice keeps its own to itself); the role is the
     * link's when the path is taken, then as role conflicts settle it. */
    ipop__stun_role ice_role;
    /* Datagrams read on the direct path, by kind (RFC 7983): what the
     * peer's stack (ours and libnice's) sends on the selected pair.  Loop
     * thread writes, anyone reads (atomics); the idle-cost test counts them. */
    guint64 rx_dtls, rx_stun, rx_other;
    guint64 rx_bytes;           /* UDP payload bytes of all of them */
};

/* Buffers for reading direct paths, one set per network (net->drx). */
struct ipop__drx;
void ipop__direct_drx_free(struct ipop__drx *drx);

/* With the link: no direct path. */
void ipop__direct_init(ipop_link_t *link, void (*datagram)(ipop_link_t *link, const uint8_t *buf, size_t len));
/* Once DTLS is up (the caller checks), and whenever ICE selects another
 * pair or becomes READY: takes the direct path when the selected pair
 * allows it, or leaves it.  Loop thread. */
void ipop__direct_update(ipop_link_t *link);
/* Leaves the direct path: sends go through libnice again, and the loop no
 * longer reads the socket (libnice's source does).  Loop thread. */
void ipop__direct_clear(ipop_link_t *link);

/* Sends one datagram on the direct path; one the socket would not take is
 * lost (counted), as UDP would lose it.  false when there is no direct
 * path.  Under tx_lock. */
bool ipop__direct_send(ipop_link_t *link, const void *data, size_t len);
/* Sends n datagrams, the i-th at base + i * stride of lens[i] bytes: each
 * run of one size in one sendmsg() with UDP GSO.  Returns how many of the
 * first were handled; the rest are for libnice (no direct path).  Under
 * tx_lock. */
unsigned ipop__direct_send_many(ipop_link_t *link, const uint8_t *base, size_t stride, const size_t *lens, unsigned n);

/* Reads the link's direct socket until it is empty (or a budget is spent:
 * then it is still readable); the loop calls it when the socket polls
 * readable, instead of libnice's source.  Returns false when it left the
 * socket to libnice's source (a STUN message while ICE still checks). */
bool ipop__direct_rx(ipop_link_t *link);
