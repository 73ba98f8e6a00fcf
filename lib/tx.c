/* SPDX-License-Identifier: MIT */
/* The data path from the host to the links, top to bottom: a wakeup of
 * the device reads packets (or TCP super-segments, split here), each is
 * routed to a link (one lookup per super-segment, with the loop thread's
 * route cache), and way_of() decides, in one place, how it leaves: flooded
 * to every link (TAP broadcast, multicast, unknown unicast; tun and none:
 * broadcast and multicast, rate-limited), sent through
 * the member that relays for its peer, or queued in a batch for its link,
 * which leaves in one send when the link changes, the batch fills or the
 * wakeup ends.  Packets from the application take the same route and the
 * same choice, one at a time. */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <glib-unix.h>

#include "addr.h"
#include "device.h"
#include "dtls.h"
#include "forward.h"
#include "frame.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "network.h"
#include "offload.h"
#include "ptb.h"
#include "relay.h"
#include "routes.h"
#include "tx.h"

#define DEV_BURST 64 /* device reads per wakeup, so links and timers get their turn */
#define DEV_BURST_PACKETS 256 /* and packets sent, when a read gives many (TUN offloads) */
/* TAP: broadcast and multicast frames are kept this long for links coming up. */
#define HELD_US (5 * G_USEC_PER_SEC)
/* ICMP "too big" answers into the device a second, and in a burst (as
 * Linux limits its own ICMP errors, net.ipv4.icmp_msgs_per_sec). */
#define PTB_RATE 100
#define PTB_BURST 20

/* ---- route ---- */

/* The owner of a host address in the forwarding table.  The loop thread
 * asks a small cache first: a packet after a quiet spell finds the table's
 * lock, hash chain and entry cold (several microseconds of cache misses on
 * an idle ping's path), and one cache entry in the network costs one.  An
 * entry stands while the table's generation is the one read before its
 * lookup; links are never freed while the network lives. */
static ipop_link_t *lookup_ip(ipop_network_t *net, const ipop__addr *dst, bool loop)
{
    uint64_t gen;
    ipop_link_t *link;
    __typeof__(net->tx.route_cache[0]) *e;

    if (!loop)
        return ipop__fwd_lookup_ip(net->fwd, dst);
    gen = ipop__fwd_ip_gen(net->fwd);
    e = &net->tx.route_cache[dst->bytes[dst->family == AF_INET ? 3 : 15] % G_N_ELEMENTS(net->tx.route_cache)];
    if (e->link && e->gen == gen && ipop__addr_equal_host(&e->dst, dst))
        return e->link;
    link = ipop__fwd_lookup_ip(net->fwd, dst);
    if (link) {
        e->dst = *dst;
        e->link = link;
        e->gen = gen;
    }
    return link;
}

/* Where a packet goes: *ret is its link, or NULL to flood (TAP).  `loop`:
 * called on the loop thread (route_cache may be used). */
static int route(ipop_network_t *net, const uint8_t *pkt, size_t len, ipop_link_t **ret, bool loop)
{
    ipop__addr src, dst;
    const uint8_t *dmac, *smac;
    uint16_t type;

    *ret = NULL;
    if (net->mode == MODE_TAP) {
        if (ipop__eth_parse(pkt, len, &dmac, &smac, &type) < 0)
            return -EINVAL;
        if (!(dmac[0] & 1))
            *ret = ipop__fwd_lookup_mac(net->fwd, dmac);
        return 0; /* NULL: flood */
    }
    if (ipop__ip_src_dst(pkt, len, &src, &dst) < 0)
        return -EINVAL;
    *ret = lookup_ip(net, &dst, loop);
    if (!*ret)
        *ret = ipop__relay_lookup(net, &dst); /* a member reached through another */
    if (!*ret)
        *ret = ipop__rtab_lookup(net->rtab, &dst); /* a network behind a member (accept-routes) */
    /* NULL with "broadcast": flood_ip() tells a broadcast or multicast
     * packet, with the addresses it reads under the lock */
    return *ret || net->broadcast ? 0 : -EHOSTUNREACH;
}

/* ---- flood, relay or link: decided here only ---- */

typedef enum {
    WAY_FLOOD, /* to every connected link, and every member reached through another */
    WAY_RELAY, /* through the member that relays for the link's peer */
    WAY_LINK,  /* on the link itself (batched, from the device) */
} tx_way;

static tx_way way_of(ipop_link_t *link)
{
    if (!link)
        return WAY_FLOOD;
    if (ipop__relay_via(link))
        return WAY_RELAY;
    return WAY_LINK;
}

/* TAP: broadcast and multicast frames are kept for a while (the last few,
 * HELD_US), so that a link coming up gets those it missed.  The kernel
 * asks for a new peer's MAC (ARP, IPv6 neighbour solicitation) as soon as
 * something is sent to it, which is before the link is up; unanswered, it
 * asks again only after its retransmission time (1 s by default), and
 * the first packets wait that long.  Under net->lock. */
static void hold_flood(ipop_network_t *net, const uint8_t *frame, size_t len)
{
    struct ipop__tx *tx = &net->tx;
    __typeof__(tx->held[0]) *h = &tx->held[tx->held_next];

    if (net->mode != MODE_TAP || len < IPOP__ETH_HLEN || !(frame[0] & 1))
        return; /* unknown unicast is not kept: a stale copy is no answer to anything */
    if (h->cap < len) {
        g_free(h->frame);
        h->cap = MAX(len, (size_t)ipop__net_max_packet(net));
        h->frame = g_malloc(h->cap);
    }
    memcpy(h->frame, frame, len);
    h->len = len;
    h->at = g_get_monotonic_time();
    tx->held_next = (tx->held_next + 1) % G_N_ELEMENTS(tx->held);
}

void ipop__tx_held_clear(ipop_network_t *net)
{
    struct ipop__tx *tx = &net->tx;

    g_mutex_lock(&net->lock);
    for (guint i = 0; i < G_N_ELEMENTS(tx->held); i++) {
        g_clear_pointer(&tx->held[i].frame, g_free);
        tx->held[i].at = 0;
        tx->held[i].len = tx->held[i].cap = 0;
    }
    tx->held_next = 0;
    g_mutex_unlock(&net->lock);
}

void ipop__net_link_up(ipop_network_t *net, ipop_link_t *link)
{
    struct ipop__tx *tx = &net->tx;
    gint64 now = g_get_monotonic_time();
    unsigned sent = 0;

    if (net->mode != MODE_TAP)
        return;
    g_mutex_lock(&net->lock);
    /* oldest first, as they were sent */
    for (guint k = 0; k < G_N_ELEMENTS(tx->held); k++) {
        __typeof__(tx->held[0]) *h = &tx->held[(tx->held_next + k) % G_N_ELEMENTS(tx->held)];
        if (h->at && now - h->at < HELD_US && ipop__link_send_packet(link, h->frame, h->len) == 0)
            sent++;
    }
    g_mutex_unlock(&net->lock);
    if (sent)
        ipop__dbg(net, "link to %.8s: %u recent broadcast frames sent that it missed", link->peer_id, sent);
}

/* Modes tun and none, under net->lock: whether a packet that no link
 * serves goes to every member (a broadcast or multicast one from this
 * node's own address, within broadcast.rate).  A refusal is counted. */
static int flood_ip(ipop_network_t *net, const uint8_t *pkt, size_t len)
{
    if (ipop__cast_packet(pkt, len, &net->addr4, &net->addr6) == IPOP__CAST_UNICAST) {
        __atomic_fetch_add(&net->no_route, 1, __ATOMIC_RELAXED);
        return -EHOSTUNREACH;
    }
    if (!ipop__bucket_take(&net->tx.bcast, net->broadcast_rate, net->broadcast_rate, g_get_monotonic_time())) {
        __atomic_fetch_add(&net->bcast_limited, 1, __ATOMIC_RELAXED);
        return -ENOBUFS;
    }
    __atomic_fetch_add(&net->bcast_sent, 1, __ATOMIC_RELAXED);
    return 0;
}

/* Sends to every connected link (TAP broadcast, multicast, unknown
 * unicast; tun and none: broadcast and multicast, flood_ip()).  What comes
 * from a link is only ever delivered (rx.c), so a flooded packet is never
 * sent on by a member, nor back here. */
static int flood(ipop_network_t *net, const uint8_t *pkt, size_t len)
{
    int sent = 0, r;

    g_mutex_lock(&net->lock);
    if (net->mode != MODE_TAP && (r = flood_ip(net, pkt, len)) < 0) {
        g_mutex_unlock(&net->lock);
        return r;
    }
    hold_flood(net, pkt, len);
    for (guint i = 0; i < net->link_list->len; i++) {
        ipop_link_t *link = net->link_list->pdata[i];
        if (g_atomic_int_get(&link->state) == IPOP_LINK_CONNECTED && ipop__link_send_packet(link, pkt, len) == 0)
            sent++;
        else if (ipop__relay_via(link) && ipop__relay_send(link, pkt, len) == 0)
            sent++; /* a member reached through another */
    }
    g_mutex_unlock(&net->lock);
    return sent ? 0 : -EHOSTUNREACH;
}

/* One packet, outside a batch, the way way_of() said. */
static int send_one(ipop_network_t *net, tx_way way, ipop_link_t *link, const uint8_t *pkt, size_t len)
{
    switch (way) {
    case WAY_FLOOD:
        return flood(net, pkt, len);
    case WAY_RELAY:
        return ipop__relay_send(link, pkt, len);
    case WAY_LINK:
    default:
        return ipop__link_send_packet(link, pkt, len);
    }
}

int ipop__tx_packet(ipop_network_t *net, const uint8_t *pkt, size_t len)
{
    ipop_link_t *link;
    int r = route(net, pkt, len, &link, false);

    if (r == -EHOSTUNREACH)
        __atomic_fetch_add(&net->no_route, 1, __ATOMIC_RELAXED);
    if (r < 0)
        return r;
    return send_one(net, way_of(link), link, pkt, len);
}

IPOP_EXPORT int ipop_network_send_packet(ipop_network_t *net, const void *packet, size_t len)
{
    if (!net || !packet || len == 0)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    if (len > (size_t)ipop__net_max_packet(net))
        return -EMSGSIZE;
    return ipop__tx_packet(net, packet, len);
}

/* ---- the MTU: packets too big for their link, TCP MSS ---- */

/* The largest packet a way carries (modes tun and none). */
static unsigned way_mtu(tx_way way)
{
    return ipop__link_mtu(way == WAY_RELAY);
}

/* A device packet larger than its link carries (mode tun, an "mtu" above
 * it): dropped, counted and, within PTB_RATE, answered into the device
 * with ICMP "too big" so that the sender's path MTU discovery learns the
 * size that fits, instead of the packet vanishing. */
static void too_big(ipop_network_t *net, const uint8_t *pkt, size_t len, unsigned mtu)
{
    static const uint8_t vnet_none[IPOP__VNET_HLEN];
    uint8_t answer[IPOP__PTB_MAX];
    struct iovec iov[2] = { { (void *)vnet_none, sizeof(vnet_none) }, { answer, 0 } };
    int n;

    __atomic_fetch_add(&net->too_big, 1, __ATOMIC_RELAXED);
    if (net->mode != MODE_TUN || (n = ipop__ptb_make(pkt, len, mtu, answer, sizeof(answer))) <= 0 ||
        !ipop__bucket_take(&net->tx.ptb, PTB_RATE, PTB_BURST, g_get_monotonic_time()))
        return;
    iov[1].iov_len = (size_t)n;
    if (net->vnet ? writev(net->dev_fd, iov, 2) != (ssize_t)(n + sizeof(vnet_none))
                  : write(net->dev_fd, answer, (size_t)n) != n)
        return;
    __atomic_fetch_add(&net->too_big_answered, 1, __ATOMIC_RELAXED);
}

/* Mode tun, a device packet going out on a way: false when it is too
 * big for it (and handled); a TCP SYN gets its MSS clamped to the way.
 * One length compare for a packet that is neither. */
static bool fits(ipop_network_t *net, tx_way way, uint8_t *pkt, size_t len)
{
    unsigned mtu = way_mtu(way);

    if (len > mtu) {
        if (way == WAY_FLOOD) /* a broadcast has no one destination to answer for */
            __atomic_fetch_add(&net->too_big, 1, __ATOMIC_RELAXED);
        else
            too_big(net, pkt, len, mtu);
        return false;
    }
    if (len <= IPOP__SYN_MAX)
        ipop__mss_clamp(pkt, len, mtu);
    return true;
}

/* ---- batches to one link ---- */

/* Sends the records queued for one link: one UDP GSO send or one libnice call. */
static void tx_flush(ipop_network_t *net)
{
    struct ipop__tx *tx = &net->tx;
    uint8_t *recs[TX_BATCH_MAX];

    if (tx->n == 0)
        return;
    for (unsigned i = 0; i < tx->n; i++)
        recs[i] = tx->recs + (size_t)i * REC_MAX;
    ipop__dtls_send_records(tx->link, recs, tx->lens, tx->n);
    tx->n = 0;
    tx->link = NULL;
}

/* Where the next packet for link goes (after a frame header's room):
 * what is queued for another link, or a full batch, leaves first. */
static uint8_t *tx_slot(ipop_network_t *net, ipop_link_t *link)
{
    struct ipop__tx *tx = &net->tx;

    if (tx->n && (tx->link != link || tx->n == TX_BATCH_MAX))
        tx_flush(net);
    tx->link = link;
    return tx->recs + (size_t)tx->n * REC_MAX + IPOP__FRAME_HDR;
}

/* Queues the packet of len bytes just written at tx_slot(). */
static void tx_queue(ipop_network_t *net, size_t len)
{
    struct ipop__tx *tx = &net->tx;
    uint8_t *rec = tx->recs + (size_t)tx->n * REC_MAX;
    int n = ipop__frame_put_data_hdr(rec, REC_MAX, len);

    if (n < 0) { /* not after ipop__net_max_packet() */
        __atomic_fetch_add(&tx->link->tx_drops, 1, __ATOMIC_RELAXED);
        return;
    }
    ipop__link_out_rewrite(tx->link, rec + IPOP__FRAME_HDR, len);
    tx->lens[tx->n++] = (size_t)n;
}

/* ---- the device ---- */

/* Device offloads: a read gave a virtio_net_hdr and a packet (TAP: a
 * frame), or a TCP super-segment that goes out as MTU-sized packets.
 * Returns the number of packets sent or queued. */
static int on_device_vnet(ipop_network_t *net, size_t n)
{
    struct ipop__tx *tx = &net->tx;
    size_t max = (size_t)ipop__net_max_packet(net);
    ipop_link_t *link;
    ipop__gso g;
    int count = ipop__gso_begin_l2(&g, tx->gsobuf, n, net->mode == MODE_TAP ? IPOP__ETH_HLEN : 0), queued = 0, len;
    tx_way way;

    if (count < 0) {
        ipop__dbg(net, "device %s: dropped a packet: %s", net->dev_name, ipop_strerror(count));
        __atomic_fetch_add(&net->no_route, 1, __ATOMIC_RELAXED);
        return 0;
    }
    /* Every segment has the super-segment's addresses: one lookup. */
    if ((!g.gso && g.len > max) || route(net, g.pkt, g.len, &link, true) < 0) {
        __atomic_fetch_add(&net->no_route, 1, __ATOMIC_RELAXED);
        return 0;
    }
    way = way_of(link);
    if (net->mode == MODE_TUN) {
        /* gsobuf is ours: a lone SYN is clamped where it lies.  A
         * super-segment's segments fit the way when its SYN had its MSS
         * clamped; when not (a connection older than the device's MTU),
         * all are too big, and the answer makes the kernel cut smaller. */
        if (!g.gso && !fits(net, way, (uint8_t *)g.pkt, g.len))
            return 0;
        max = MIN(max, way_mtu(way));
        if (g.gso && g.hlen + g.mss > max) {
            too_big(net, g.pkt, g.hlen + g.mss, (unsigned)max);
            __atomic_fetch_add(&net->too_big, (guint64)(count - 1), __ATOMIC_RELAXED);
            return 0;
        }
    }
    if (way != WAY_LINK) {
        tx_flush(net); /* in order */
        while ((len = ipop__gso_next(&g, tx->devbuf, max)) > 0) {
            send_one(net, way, link, tx->devbuf, (size_t)len);
            queued++;
        }
        if (way == WAY_FLOOD)
            return queued;
    } else {
        while ((len = ipop__gso_next(&g, tx_slot(net, link), max)) > 0) {
            tx_queue(net, (size_t)len);
            queued++;
        }
    }
    if (len < 0) {
        ipop__dbg(net, "device %s: a segment larger than the MTU: %s", net->dev_name, ipop_strerror(len));
        __atomic_fetch_add(&link->tx_drops, (guint64)(count - queued), __ATOMIC_RELAXED);
    }
    return queued;
}

/* One packet read from the device (no offloads).  Returns 1 when it was
 * queued in a batch, 0 otherwise. */
static int on_device_packet(ipop_network_t *net, uint8_t *pkt, size_t n)
{
    ipop_link_t *link;
    tx_way way;

    if (n > (size_t)ipop__net_max_packet(net) || route(net, pkt, n, &link, true) < 0) {
        __atomic_fetch_add(&net->no_route, 1, __ATOMIC_RELAXED);
        return 0;
    }
    way = way_of(link);
    if (net->mode == MODE_TUN && !fits(net, way, pkt, n))
        return 0;
    if (way != WAY_LINK) {
        tx_flush(net); /* in order */
        send_one(net, way, link, pkt, n);
        return 0;
    }
    memcpy(tx_slot(net, link), pkt, n);
    tx_queue(net, n);
    return 1;
}

static gboolean on_device(gint fd, GIOCondition cond, gpointer data)
{
    ipop_network_t *net = data;
    struct ipop__tx *tx = &net->tx;
    int sent = 0, reads = 0;

    if (cond & (G_IO_ERR | G_IO_HUP | G_IO_NVAL)) {
        ipop__err(net, "device %s failed", net->dev_name);
        ipop__net_emit_simple(net, IPOP_EVENT_DEVICE_ERROR, NULL, NULL, IPOP_REASON_DEVICE_ERROR, -EIO,
                              "the device reported an error");
        net->dev_src = NULL; /* returning REMOVE drops the loop's reference */
        return G_SOURCE_REMOVE;
    }
    for (int i = 0; i < DEV_BURST && sent < DEV_BURST_PACKETS; i++) {
        ssize_t n;
        /* The first packet after a quiet spell leaves at once, not after
         * the read that finds the device empty: a lone packet (a ping, a
         * request) is not held up.  Under load, reads come in bursts and
         * leave in batches. */
        if (reads == 1 && tx->dev_quiet)
            tx_flush(net);
        if (net->vnet) {
            n = read(fd, tx->gsobuf, GSOBUF_SIZE);
            if (n <= 0)
                break;
            reads++;
            sent += on_device_vnet(net, (size_t)n);
            continue;
        }
        n = read(fd, tx->devbuf, sizeof(tx->devbuf));
        if (n <= 0)
            break;
        reads++;
        sent += on_device_packet(net, tx->devbuf, (size_t)n);
    }
    tx_flush(net);
    tx->dev_quiet = reads <= 1;
    return G_SOURCE_CONTINUE;
}

void ipop__tx_device_ready(ipop_network_t *net)
{
    on_device(net->dev_fd, G_IO_IN, net);
}

void ipop__tx_start(ipop_network_t *net)
{
    if (net->vnet)
        net->tx.gsobuf = g_malloc(GSOBUF_SIZE);
    net->tx.recs = g_malloc((size_t)TX_BATCH_MAX * REC_MAX);
    net->dev_src = g_unix_fd_source_new(net->dev_fd, G_IO_IN | G_IO_ERR | G_IO_HUP);
    g_source_set_callback(net->dev_src, (GSourceFunc)(void (*)(void))on_device, net, NULL);
    g_source_set_can_recurse(net->dev_src, TRUE);
    g_source_attach(net->dev_src, net->ctx);
}

void ipop__tx_stop(ipop_network_t *net)
{
    ipop__source_clear(&net->dev_src);
    g_clear_pointer(&net->tx.gsobuf, g_free);
    g_clear_pointer(&net->tx.recs, g_free);
    net->tx.n = 0;
    net->tx.link = NULL;
}
