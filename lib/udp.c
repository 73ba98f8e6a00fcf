/* SPDX-License-Identifier: MIT */
/* UDP endpoints on the network's virtual addresses, for applications in
 * mode none: datagrams in and out without an IP stack of their own.
 *
 * Threads: ipop__udp_deliver() runs in the network's loop, one packet at a
 * time; ipop_udp_send() runs on any thread and touches no endpoint state;
 * open and close may run on any thread.  The port table and each
 * endpoint's "callback running" count are guarded by one lock, held only
 * around a lookup or an update, never during a callback.  Close takes the
 * endpoint out of the table, then waits until no callback of it runs: after
 * that no lookup can find it, so none can start. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "link.h"
#include "network.h"
#include "tx.h"
#include "udp-packet.h"
#include "udp.h"

struct ipop_udp {
    ipop_network_t *net;
    uint16_t port;
    ipop_udp_cb cb;
    void *user_data;
    /* under the set's lock */
    unsigned running;     /* callbacks of this endpoint under way */
    GThread *cb_thread;   /* the thread running the callback, when running */
    bool closed;          /* closed from inside its own callback: freed when it returns */
};

struct ipop__udp_set {
    GMutex lock;
    GCond idle;           /* signalled when a callback of a closing endpoint returns */
    GHashTable *ports;    /* port -> ipop_udp_t* */
    gint open;            /* endpoints in the table, read without the lock */
    guint64 rx_drops;     /* bad datagrams to an open port (atomic) */
};

static ipop__udp_set *set_get(ipop_network_t *net)
{
    ipop__udp_set *set = g_atomic_pointer_get(&net->udp);

    if (set)
        return set;
    set = g_new0(ipop__udp_set, 1);
    g_mutex_init(&set->lock);
    g_cond_init(&set->idle);
    set->ports = g_hash_table_new(NULL, NULL);
    if (!g_atomic_pointer_compare_and_exchange(&net->udp, NULL, set)) {
        /* another thread made it first */
        g_hash_table_unref(set->ports);
        g_mutex_clear(&set->lock);
        g_cond_clear(&set->idle);
        g_free(set);
        set = g_atomic_pointer_get(&net->udp);
    }
    return set;
}

void ipop__udp_set_free(ipop__udp_set *set)
{
    GHashTableIter it;
    gpointer sock;

    if (!set)
        return;
    /* The loop is gone: endpoints still open are freed with the network. */
    g_hash_table_iter_init(&it, set->ports);
    while (g_hash_table_iter_next(&it, NULL, &sock))
        g_free(sock);
    g_hash_table_unref(set->ports);
    g_mutex_clear(&set->lock);
    g_cond_clear(&set->idle);
    g_free(set);
}

uint64_t ipop__udp_rx_drops(ipop_network_t *net)
{
    ipop__udp_set *set = g_atomic_pointer_get(&net->udp);

    return set ? __atomic_load_n(&set->rx_drops, __ATOMIC_RELAXED) : 0;
}

IPOP_EXPORT int ipop_udp_open(ipop_network_t *net, uint16_t port, ipop_udp_cb cb, void *user_data,
                              ipop_udp_t **ret)
{
    ipop__udp_set *set;
    ipop_udp_t *sock;
    int r = 0;

    if (!net || !port || !cb || !ret || net->mode != MODE_NONE)
        return -EINVAL;
    set = set_get(net);
    sock = g_new0(ipop_udp_t, 1);
    sock->net = net;
    sock->port = port;
    sock->cb = cb;
    sock->user_data = user_data;
    g_mutex_lock(&set->lock);
    if (g_hash_table_contains(set->ports, GUINT_TO_POINTER(port))) {
        r = -EADDRINUSE;
    } else {
        g_hash_table_insert(set->ports, GUINT_TO_POINTER(port), sock);
        g_atomic_int_inc(&set->open);
    }
    g_mutex_unlock(&set->lock);
    if (r < 0) {
        g_free(sock);
        return r;
    }
    *ret = sock;
    return 0;
}

IPOP_EXPORT ipop_udp_t *ipop_udp_close(ipop_udp_t *sock)
{
    ipop__udp_set *set;
    bool free_now = true;

    if (!sock)
        return NULL;
    set = g_atomic_pointer_get(&sock->net->udp);
    g_mutex_lock(&set->lock);
    g_hash_table_remove(set->ports, GUINT_TO_POINTER(sock->port));
    g_atomic_int_add(&set->open, -1);
    if (sock->running && sock->cb_thread == g_thread_self()) {
        /* From inside its own callback: waiting would never end. */
        sock->closed = true;
        free_now = false;
    } else {
        while (sock->running)
            g_cond_wait(&set->idle, &set->lock);
    }
    g_mutex_unlock(&set->lock);
    if (free_now)
        g_free(sock);
    return NULL;
}

static bool parse_host(const char *text, ipop__addr *a)
{
    memset(a, 0, sizeof(*a));
    if (inet_pton(AF_INET, text, a->bytes) == 1) {
        a->family = AF_INET;
        a->prefix = 32;
    } else if (inet_pton(AF_INET6, text, a->bytes) == 1) {
        a->family = AF_INET6;
        a->prefix = 128;
    }
    return a->family != 0;
}

IPOP_EXPORT int ipop_udp_send(ipop_udp_t *sock, const char *to_addr, uint16_t to_port, const void *data,
                              size_t len)
{
    uint8_t buf[IPOP_MAX_PACKET];
    const ipop__addr *src;
    ipop__addr dst;
    size_t room;
    int mtu, n;

    if (!sock || !to_addr || !to_port || (!data && len) || !parse_host(to_addr, &dst))
        return -EINVAL;
    src = dst.family == AF_INET ? &sock->net->addr4 : &sock->net->addr6;
    if (!src->family)
        return -EINVAL;
    /* The mtu option is fixed once started; before then the default. */
    mtu = sock->net->mtu ? sock->net->mtu : IPOP_DEFAULT_MTU;
    room = (size_t)mtu - IPOP__UDP_HLEN - (dst.family == AF_INET ? IPOP__IPV4_HLEN : IPOP__IPV6_HLEN);
    if (len > room)
        return -EMSGSIZE;
    n = ipop__udp_build(buf, sizeof(buf), src, sock->port, &dst, to_port, data, len);
    if (n < 0)
        return n;
    if (!g_atomic_int_get(&sock->net->running))
        return -ENOTCONN;
    return ipop__tx_packet(sock->net, buf, (size_t)n); /* n is within the mtu: no more checks */
}

static bool is_own(const ipop_network_t *net, const ipop__addr *a)
{
    const ipop__addr *own = a->family == AF_INET ? &net->addr4 : &net->addr6;

    return own->family && ipop__addr_equal_host(own, a);
}

static void run_callback(ipop__udp_set *set, ipop_udp_t *sock, const ipop__udp_dgram *d)
{
    char from[INET6_ADDRSTRLEN];
    bool free_it;

    inet_ntop(d->src.family, d->src.bytes, from, sizeof(from));
    sock->cb(sock, from, d->sport, d->data, d->len, sock->user_data);
    g_mutex_lock(&set->lock);
    sock->running--;
    sock->cb_thread = NULL;
    free_it = sock->closed && !sock->running;
    g_cond_broadcast(&set->idle);
    g_mutex_unlock(&set->lock);
    if (free_it)
        g_free(sock);
}

/* In the loop, for each packet of mode none that passed the link's source
 * check.  Returns true when the packet was for an endpoint (delivered, or
 * dropped as bad) and counted in the link's statistics; false when it goes
 * on to the packet callback: not UDP to one of our addresses, a fragment,
 * or a port with no endpoint. */
bool ipop__udp_deliver(ipop_network_t *net, ipop_link_t *link, const uint8_t *pkt, size_t len)
{
    ipop__udp_set *set = g_atomic_pointer_get(&net->udp);
    ipop__udp_dgram d;
    ipop_udp_t *sock = NULL;
    int r;

    if (!set || !g_atomic_int_get(&set->open))
        return false;
    r = ipop__udp_parse(pkt, len, &d);
    if (r == IPOP__UDP_OTHER || !d.dst.family || !is_own(net, &d.dst))
        return false;
    g_mutex_lock(&set->lock);
    if (d.has_ports)
        sock = g_hash_table_lookup(set->ports, GUINT_TO_POINTER(d.dport));
    if (d.has_ports && !sock) {
        g_mutex_unlock(&set->lock);
        return false;
    }
    if (r < 0) {
        /* a port of ours, or a UDP header too short to say which */
        g_mutex_unlock(&set->lock);
        __atomic_fetch_add(&set->rx_drops, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
        return true;
    }
    sock->running++;
    sock->cb_thread = g_thread_self();
    g_mutex_unlock(&set->lock);
    /* counted first, so that a host that saw the datagram sees it counted */
    __atomic_fetch_add(&link->rx_packets, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&link->rx_bytes, len, __ATOMIC_RELAXED);
    run_callback(set, sock, &d);
    return true;
}
