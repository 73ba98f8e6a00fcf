/* SPDX-License-Identifier: MIT */
/* A link's direct path (direct.h): the selected pair's UDP socket, written
 * and read without libnice once DTLS is up over it. */
#define _GNU_SOURCE /* recvmmsg */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <gnutls/crypto.h>

#include "ice.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "network.h"
#include "stun.h"

/* One UDP GSO send: at most this many datagrams (the kernel takes 64), of
 * at most this many bytes in all (an IP packet's limit, with headers). */
#define UDP_GSO_MAX 64
#define UDP_GSO_BYTES 65000

void ipop__direct_init(ipop_link_t *link, void (*datagram)(ipop_link_t *link, const uint8_t *buf, size_t len))
{
    link->direct.datagram = datagram;
    link->direct.fd = -1;
    gnutls_rnd(GNUTLS_RND_NONCE, &link->direct.ice_role.tie, sizeof(link->direct.ice_role.tie));
}

/* ---- sending ---- */

/* How many datagrams from first on can leave as one UDP GSO send: all of
 * the size of the first, but the last, which may be shorter, within one
 * IP packet's 64 KB. */
static unsigned gso_run(const size_t *lens, unsigned first, unsigned n)
{
    size_t size = lens[first], total = 0;
    unsigned k = 0;

    while (first + k < n && k < UDP_GSO_MAX && total + lens[first + k] <= UDP_GSO_BYTES) {
        size_t len = lens[first + k];
        if (len > size)
            break;
        total += len;
        k++;
        if (len < size)
            break;
    }
    return k;
}

static void send_one(ipop_link_t *link, const void *data, size_t len)
{
    if (sendto(link->direct.fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&link->direct.to,
               link->direct.to_len) < 0)
        __atomic_fetch_add(&link->tx_drops, 1, __ATOMIC_RELAXED);
}

bool ipop__direct_send(ipop_link_t *link, const void *data, size_t len)
{
    if (link->direct.fd < 0)
        return false;
    send_one(link, data, len);
    return true;
}

/* Each run of datagrams of one size leaves in one sendmsg() with UDP GSO
 * (UDP_SEGMENT) and crosses the local stack as one packet until a device
 * splits it; a datagram alone is sent alone. */
unsigned ipop__direct_send_many(ipop_link_t *link, const uint8_t *base, size_t stride, const size_t *lens, unsigned n)
{
    struct ipop__direct *dp = &link->direct;
    unsigned done = 0;

    if (dp->fd < 0)
        return 0;
    while (done < n) {
        unsigned k = dp->no_udp_gso ? 1 : gso_run(lens, done, n);
        struct iovec iov[UDP_GSO_MAX];
        union {
            struct cmsghdr h;
            uint8_t buf[CMSG_SPACE(sizeof(uint16_t))];
        } ctl;
        struct msghdr msg = {
            .msg_name = &dp->to,
            .msg_namelen = dp->to_len,
            .msg_iov = iov,
            .msg_iovlen = k,
        };
        uint16_t seg = (uint16_t)lens[done];

        if (k < 2) {
            send_one(link, base + (size_t)done * stride, lens[done]);
            done++;
            continue;
        }
        for (unsigned i = 0; i < k; i++) {
            iov[i].iov_base = (void *)(base + (size_t)(done + i) * stride);
            iov[i].iov_len = lens[done + i];
        }
        memset(&ctl, 0, sizeof(ctl));
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof(ctl.buf);
        ctl.h.cmsg_level = SOL_UDP;
        ctl.h.cmsg_type = UDP_SEGMENT;
        ctl.h.cmsg_len = CMSG_LEN(sizeof(seg));
        memcpy(CMSG_DATA(&ctl.h), &seg, sizeof(seg));
        if (sendmsg(dp->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS && errno != ECONNREFUSED) {
                /* EIO, EINVAL, ENOPROTOOPT: this path or kernel cannot; one by one from now on. */
                ipop__warn(link->net, "link to %s: no UDP GSO: %s", ipop__link_tag(link->peer_id),
                           g_strerror(errno));
                dp->no_udp_gso = true;
                continue;
            }
            /* Lost, as a full socket loses a datagram. */
            __atomic_fetch_add(&link->tx_drops, k, __ATOMIC_RELAXED);
        }
        done += k;
    }
    return done;
}

/* ---- reading ---- */

/* With UDP GRO on the socket, the kernel hands over runs of datagrams of
 * one size from one sender as one (up to 64 KB), told by a UDP_GRO
 * control message: what the peer sent with UDP GSO arrives as it left. */
#define DRX_BATCH 8
#define DRX_SIZE 65536
#define DRX_ROUNDS 8 /* then the loop's other work has a turn */

struct ipop__drx {
    struct mmsghdr msgs[DRX_BATCH];
    struct iovec iov[DRX_BATCH];
    struct sockaddr_storage from[DRX_BATCH];
    union {
        struct cmsghdr h;
        uint8_t buf[CMSG_SPACE(sizeof(int))];
    } ctl[DRX_BATCH];
    StunAgent stun;             /* answers ICE checks, for every link */
    uint8_t buf[DRX_BATCH][DRX_SIZE];
};

void ipop__direct_drx_free(struct ipop__drx *drx)
{
    g_free(drx);
}

/* A STUN message on the direct path: a connectivity check is answered
 * (a peer that still runs consent freshness sends them) through libnice's
 * STUN agent, with 487 or 420 where RFC 8445 and RFC 5389 say so;
 * keepalive indications and anything else are dropped. */
static void direct_stun(ipop_link_t *link, int fd, const uint8_t *buf, size_t len, const struct sockaddr_storage *from,
                        socklen_t from_len)
{
    uint8_t out[IPOP__STUN_ANSWER_MAX];
    bool was = link->direct.ice_role.controlling;
    int n;

    if (!link->ice.ufrag || !link->ice.pwd)
        return;
    n = ipop__stun_answer(&link->net->drx->stun, &link->direct.ice_role, buf, len, link->ice.ufrag, link->ice.pwd,
                          (const struct sockaddr *)from, from_len, out, sizeof(out));
    if (n > 0)
        sendto(fd, out, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)from, from_len);
    if (was != link->direct.ice_role.controlling)
        ipop__info(link->net, "link to %.8s: ICE role conflict on the direct path: now %s", link->peer_id,
                   link->direct.ice_role.controlling ? "controlling" : "controlled");
}

/* The size of the datagrams a GRO read holds, or 0 for one datagram. */
static size_t gro_size(struct msghdr *m)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        int seg;
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(seg))) {
            memcpy(&seg, CMSG_DATA(c), sizeof(seg));
            return seg > 0 ? (size_t)seg : 0;
        }
    }
    return 0;
}

/* The peer's address on the selected pair, the only source of records the
 * direct path takes (as libnice takes data only from checked addresses). */
static bool from_peer_addr(const ipop_link_t *link, const struct sockaddr_storage *from)
{
    const struct sockaddr_storage *to = &link->direct.to;

    if (from->ss_family != to->ss_family)
        return false;
    if (from->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)from, *b = (const void *)to;
        return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    if (from->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)from, *b = (const void *)to;
        return a->sin6_port == b->sin6_port && memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
    }
    return false;
}

static void direct_datagram(ipop_link_t *link, int fd, const uint8_t *b, size_t len, const struct sockaddr_storage *from,
                            socklen_t from_len)
{
    /* RFC 7983: the first byte tells DTLS (20-63) from STUN (0-3). */
    __atomic_fetch_add(&link->direct.rx_bytes, len, __ATOMIC_RELAXED);
    if (len == 0) {
        __atomic_fetch_add(&link->direct.rx_other, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
    } else if (b[0] >= 20 && b[0] <= 63 && from_peer_addr(link, from)) {
        __atomic_fetch_add(&link->direct.rx_dtls, 1, __ATOMIC_RELAXED);
        link->direct.datagram(link, b, len);
    } else if (b[0] <= 3) {
        __atomic_fetch_add(&link->direct.rx_stun, 1, __ATOMIC_RELAXED);
        direct_stun(link, fd, b, len, from, from_len);
    } else {
        __atomic_fetch_add(&link->direct.rx_other, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
    }
}

/* While ICE is still checking (CONNECTED, not READY), libnice must see
 * every STUN message on the socket: a better pair may still be found, such
 * as a peer reflexive one only libnice can learn and take.  So each
 * datagram is peeked at first: DTLS is read here, and at the first other
 * one the socket is left to libnice's source (which then reads all that is
 * queued).  Returns false then. */
static bool direct_rx_checking(ipop_link_t *link, int fd)
{
    struct ipop__drx *d = link->net->drx;

    for (int i = 0; i < DRX_BATCH * DRX_ROUNDS && link->direct.fd == fd; i++) {
        uint8_t first;
        struct sockaddr_storage from;
        socklen_t from_len = sizeof(from);
        ssize_t n = recvfrom(fd, &first, 1, MSG_PEEK | MSG_DONTWAIT, (struct sockaddr *)&from, &from_len);
        struct msghdr *m = &d->msgs[0].msg_hdr;

        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            continue; /* an ICMP error for an earlier send, reported (and cleared) once */
        if (n < 0)
            return true;
        if (n == 0 || first < 20 || first > 63 || !from_peer_addr(link, &from))
            return false; /* STUN, data from another address, anything else: libnice's */
        n = recvmsg(fd, m, MSG_DONTWAIT);
        if (n <= 0)
            return true;
        direct_datagram(link, fd, d->buf[0], (size_t)n, &d->from[0], m->msg_namelen);
        m->msg_namelen = sizeof(d->from[0]);
        m->msg_controllen = sizeof(d->ctl[0]);
    }
    return true;
}

bool ipop__direct_rx(ipop_link_t *link)
{
    ipop_network_t *net = link->net;
    struct ipop__drx *d = net->drx;
    int fd = link->direct.fd;

    if (!d) {
        d = net->drx = g_new(struct ipop__drx, 1); /* its buffers touched only as they fill */
        ipop__stun_responder_init(&d->stun);
        for (int i = 0; i < DRX_BATCH; i++) {
            d->iov[i].iov_base = d->buf[i];
            d->iov[i].iov_len = DRX_SIZE;
            d->msgs[i].msg_hdr = (struct msghdr){ .msg_name = &d->from[i], .msg_namelen = sizeof(d->from[i]),
                                                  .msg_iov = &d->iov[i], .msg_iovlen = 1,
                                                  .msg_control = d->ctl[i].buf, .msg_controllen = sizeof(d->ctl[i]) };
        }
    }
    if (!link->ice.ready)
        return direct_rx_checking(link, fd);
    for (int round = 0; round < DRX_ROUNDS && fd >= 0 && link->direct.fd == fd; round++) {
        int n;

        n = recvmmsg(fd, d->msgs, DRX_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            /* An ICMP error for an earlier send is reported once, here. */
            if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH || errno == EINTR)
                continue;
            return true; /* EAGAIN: read dry */
        }
        /* A datagram may end the session (a goodbye): then stop. */
        for (int i = 0; i < n && link->direct.fd == fd; i++) {
            struct msghdr *m = &d->msgs[i].msg_hdr;
            size_t len = d->msgs[i].msg_len, seg = gro_size(m);
            socklen_t from_len = m->msg_namelen;

            if (m->msg_flags & MSG_TRUNC) {
                __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
                continue;
            }
            if (!seg || seg >= len) {
                direct_datagram(link, fd, d->buf[i], len, &d->from[i], from_len);
                continue;
            }
            for (size_t at = 0; at < len && link->direct.fd == fd; at += seg)
                direct_datagram(link, fd, d->buf[i] + at, MIN(seg, len - at), &d->from[i], from_len);
        }
        /* what the kernel wrote back, made ready for the next read */
        for (int i = 0; i < n; i++) {
            d->msgs[i].msg_hdr.msg_namelen = sizeof(d->from[i]);
            d->msgs[i].msg_hdr.msg_controllen = sizeof(d->ctl[i]);
        }
        if (n < DRX_BATCH)
            return true;
    }
    return true;
}

/* ---- taking and leaving it ---- */

void ipop__direct_clear(ipop_link_t *link)
{
    ipop_network_t *net = link->net;

    if (link->direct.fd < 0)
        return;
    if (ipop__net_direct_get(net, link->direct.fd) == link) {
        int off = 0;
        ipop__net_direct_set(net, link->direct.fd, NULL);
        /* libnice reads the socket again: one datagram per read */
        setsockopt(link->direct.fd, SOL_UDP, UDP_GRO, &off, sizeof(off));
    }
    g_mutex_lock(&link->tx_lock);
    link->direct.fd = -1;
    g_mutex_unlock(&link->tx_lock);
}

void ipop__direct_update(ipop_link_t *link)
{
    struct sockaddr_storage to;
    int fd = ipop__ice_direct_socket(link, &to);

    ipop__direct_clear(link);
    if (fd < 0)
        return;
    link->direct.ice_role.controlling = link->controlling;
    g_mutex_lock(&link->tx_lock);
    link->direct.to = to;
    link->direct.to_len = to.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    link->direct.fd = fd;
    g_mutex_unlock(&link->tx_lock);
    if (link->net->direct) {
        int on = 1;
        ipop__net_direct_set(link->net, fd, link);
        /* With UDP GRO only once ICE is READY: until then libnice reads
         * some datagrams too.  A kernel without it gives one datagram per
         * read, which works the same. */
        if (link->ice.ready)
            setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof(on));
    }
}
