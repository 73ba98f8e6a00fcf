/* SPDX-License-Identifier: MIT */
/* The data path from the links to the host, top to bottom: a link hands
 * over a data frame's packet (ipop__net_deliver) or a member relay frame
 * (ipop__relay_frame, which relay.c reads and may turn into a packet from
 * another member); the packet's source must be one of its peer's addresses
 * (anti-spoofing; TAP: the frame's IP sender, and its MAC is learned); a
 * SocialVPN friend's source becomes its alias here; then it goes to a UDP
 * endpoint of the application, the application's packet callback, or the
 * device: with offloads, consecutive TCP segments are merged first (GRO). */
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "addr.h"
#include "forward.h"
#include "frame.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "network.h"
#include "offload.h"
#include "ptb.h"
#include "relay.h"
#include "rewrite.h"
#include "routes.h"
#include "rx.h"
#include "udp.h"

/* ---- frames from a link ---- */

void ipop__relay_frame(ipop_link_t *link, const ipop__frame *f)
{
    ipop_link_t *origin = ipop__relay_input(link, f);

    if (origin)
        ipop__net_deliver(link->net, origin, f->payload, f->payload_len);
}

/* ---- checks ---- */

static bool from_peer(const ipop_link_t *link, const ipop__addr *src)
{
    return (link->raddr4.family && ipop__addr_equal_host(&link->raddr4, src)) ||
           (link->raddr6.family && ipop__addr_equal_host(&link->raddr6, src));
}

/* Whether a is one of the TAP device's own IPv6 addresses.  Asked only
 * when a link learns a link-local address (at most
 * IPOP__FWD_LL_OWNER_MAX times a link). */
static bool dev_has_addr6(const ipop_network_t *net, const uint8_t a[16])
{
    struct ifaddrs *ifs, *i;
    bool found = false;

    if (getifaddrs(&ifs) < 0)
        return false;
    for (i = ifs; i && !found; i = i->ifa_next)
        found = i->ifa_addr && i->ifa_addr->sa_family == AF_INET6 && i->ifa_name &&
                !strcmp(i->ifa_name, net->dev_name) &&
                !memcmp(((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr.s6_addr, a, 16);
    freeifaddrs(ifs);
    return found;
}

/* The link-local addresses a frame uses that are not derived from its MAC
 * (admit.c): first come, at most IPOP__FWD_LL_OWNER_MAX a link, never
 * another link's or this node's (those are then held by the network). */
static bool claim_ll(ipop_network_t *net, ipop_link_t *link, const ipop__tap_ll *c)
{
    for (unsigned i = 0; i < c->n; i++) {
        int r = ipop__fwd_claim_ll(net->fwd, c->addr[i], link);
        if (r == 1 && dev_has_addr6(net, c->addr[i])) {
            ipop__fwd_hold_ll(net->fwd, c->addr[i], net);
            r = -EEXIST;
        }
        if (r < 0)
            return false;
    }
    return true;
}

/* TAP: only ARP, IPv4 and IPv6 (tagged with tap.tagged), whose IP, ARP and
 * neighbour discovery senders are the peer (admit.c) with link-local
 * addresses the link's (claim_ll), from a MAC that is neither this node's
 * nor another link's (then learned as the peer's). */
static bool check_frame(ipop_network_t *net, ipop_link_t *link, const uint8_t *pkt, size_t len)
{
    ipop__tap_peer p = { .a4 = link->raddr4, .a6 = link->raddr6, .tagged = net->tap_tagged };
    ipop__tap_ll claims;
    ipop__tap_verdict v = ipop__tap_check_ll(pkt, len, &p, &claims);

    if (v == IPOP__TAP_OK && (!memcmp(pkt + 6, net->dev_mac, 6) || ipop__fwd_learn_mac(net->fwd, pkt + 6, link) < 0))
        v = IPOP__TAP_MAC;
    if (v == IPOP__TAP_OK && !claim_ll(net, link, &claims))
        v = IPOP__TAP_SPOOF;
    if (v == IPOP__TAP_OK)
        return true;
    __atomic_fetch_add(&net->tap_refused[v], 1, __ATOMIC_RELAXED); /* counted, not logged: peers choose how often */
    return false;
}

/* TUN and none: the packet's source is the peer's, or in a route this
 * node took from the peer's announcement whose prefix is the longest
 * there (routes.c); a SocialVPN friend appears here at its alias (IPv4
 * only). */
static bool check_packet(ipop_link_t *link, const uint8_t *pkt, size_t len)
{
    ipop__addr src, dst;
    bool own;

    if (ipop__ip_src_dst(pkt, len, &src, &dst) < 0)
        return false;
    own = from_peer(link, &src);
    if (!own)
        return ipop__rtab_lookup(link->net->rtab, &src) == link; /* routed: no alias */
    if (link->alias4.family) {
        if (src.family != AF_INET)
            return false;
        ipop__ip4_rewrite((uint8_t *)pkt, len, true, link->alias4.bytes);
    }
    return true;
}

/* ---- to the device, merged (GRO) ---- */

/* Writes what GRO holds to the device. */
void ipop__rx_flush(ipop_network_t *net)
{
    size_t n = ipop__gro_finish(&net->rx.gro);

    if (n && write(net->dev_fd, net->rx.gro.buf, n) != (ssize_t)n)
        ipop__dbg(net, "device %s: a write failed: %s", net->dev_name, g_strerror(errno));
}

static gboolean on_gro_idle(gpointer data)
{
    ipop_network_t *net = data;

    ipop__rx_flush(net);
    g_source_unref(net->rx.gro_src);
    net->rx.gro_src = NULL;
    return G_SOURCE_REMOVE;
}

/* Device offloads, towards the device: consecutive in-order segments of one
 * TCP flow are merged (GRO) and written as one super-segment when a packet
 * that does not fit comes, when the merge is full, or when the loop has
 * nothing more to do (an idle source: it runs once the sockets are read
 * dry).  Anything else is written at once behind a zeroed virtio_net_hdr
 * (one whole packet, checksums done).  Returns false when a write failed. */
static bool gro_push(ipop_network_t *net, const uint8_t *pkt, size_t len)
{
    static const uint8_t vnet_none[IPOP__VNET_HLEN];
    struct iovec iov[2] = { { (void *)vnet_none, sizeof(vnet_none) }, { (void *)pkt, len } };
    struct ipop__rx *rx = &net->rx;

    if (rx->gro.buf) {
        if (ipop__gro_add(&rx->gro, pkt, len) || (ipop__rx_flush(net), ipop__gro_add(&rx->gro, pkt, len))) {
            if (!rx->gro_src && !ipop__loop_serving(net)) { /* the loop flushes when it is done serving */
                rx->gro_src = g_idle_source_new();
                g_source_set_priority(rx->gro_src, G_PRIORITY_DEFAULT_IDLE);
                g_source_set_callback(rx->gro_src, on_gro_idle, net, NULL);
                g_source_attach(rx->gro_src, net->ctx);
            }
            return true;
        }
    }
    return writev(net->dev_fd, iov, 2) == (ssize_t)(len + sizeof(vnet_none));
}

/* ---- delivery ---- */

void ipop__net_deliver(ipop_network_t *net, ipop_link_t *link, const uint8_t *pkt, size_t len)
{
    if (!(net->mode == MODE_TAP ? check_frame(net, link, pkt, len) : check_packet(link, pkt, len)))
        goto drop;
    /* a TCP SYN from a peer: the answers this host sends back must fit the
     * link too (one length compare for any other packet) */
    if (net->mode == MODE_TUN && len <= IPOP__SYN_MAX)
        ipop__mss_clamp((uint8_t *)pkt, len, ipop__link_mtu(ipop__relay_via(link) != NULL));
    if (net->mode == MODE_NONE) {
        net->glib_due = true; /* the application's callbacks may call in */
        if (ipop__udp_deliver(net, link, pkt, len))
            return; /* for a UDP endpoint: delivered or dropped, and counted, by udp.c */
    } else if (net->vnet) {
        if (!gro_push(net, pkt, len))
            goto drop;
    } else if (write(net->dev_fd, pkt, len) != (ssize_t)len) {
        goto drop;
    }
    /* Counted before the callback, so that a host the callback wakes sees it. */
    __atomic_fetch_add(&link->rx_packets, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&link->rx_bytes, len, __ATOMIC_RELAXED);
    if (net->mode == MODE_NONE && net->packet_cb)
        net->packet_cb(net, pkt, len, net->packet_ud);
    return;
drop:
    __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
}

/* ---- start and stop ---- */

void ipop__rx_start(ipop_network_t *net)
{
    if (!net->vnet)
        return;
    net->rx.gro.buf = g_malloc(IPOP__GRO_BUF);
    net->rx.gro.l2 = net->mode == MODE_TAP ? IPOP__ETH_HLEN : 0;
}

void ipop__rx_stop(ipop_network_t *net)
{
    ipop__source_clear(&net->rx.gro_src); /* what it would have written is lost with the device */
    g_clear_pointer(&net->rx.gro.buf, g_free);
    net->rx.gro.len = 0;
}
