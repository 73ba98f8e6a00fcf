/* SPDX-License-Identifier: MIT */
/* GroupVPN automatic addresses: derived from the node id in group.subnet.
 * When a peer claims the same one, the node that took its address last
 * moves: a node moves only while its address is new (ADDR_SETTLE_US after
 * it was taken), so a claim never evicts an established holder; every
 * node refuses the claim itself (link.c). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "autoaddr.h"
#include "group.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "network.h"
#include "peers.h"
#include "tun-linux.h"

/* An automatic address is new, and gives way to a peer's, for this long. */
#define ADDR_SETTLE_US (30 * G_USEC_PER_SEC)
/* Moves at most this often in a row (then it stays, and is refused where taken). */
#define ATTEMPTS_MAX 16

void ipop__autoaddr_start(ipop_network_t *net)
{
    /* Addresses not given are derived from the node id. */
    net->auto4 = !net->addr4.family && net->group_subnet4.family;
    net->auto6 = !net->addr6.family && net->group_subnet6.family;
    if (net->auto4)
        ipop__group_auto_addr(&net->group_subnet4, net->node_id, net->attempt4, &net->addr4);
    if (net->auto6)
        ipop__group_auto_addr(&net->group_subnet6, net->node_id, net->attempt6, &net->addr6);
    net->addr_since4 = net->addr_since6 = g_get_monotonic_time();
}

void ipop__autoaddr_stop(ipop_network_t *net)
{
    /* Derived addresses are derived again at the next start. */
    if (net->auto4)
        memset(&net->addr4, 0, sizeof(net->addr4));
    if (net->auto6)
        memset(&net->addr6, 0, sizeof(net->addr6));
    net->auto4 = net->auto6 = false;
}

static void readdress(ipop_network_t *net, void *p)
{
    int family = GPOINTER_TO_INT(p);
    ipop__addr old = family == AF_INET ? net->addr4 : net->addr6, next;
    char text[64];
    GPtrArray *links;

    if (!g_atomic_int_get(&net->running))
        return;
    if (family == AF_INET)
        ipop__group_auto_addr(&net->group_subnet4, net->node_id, ++net->attempt4, &next);
    else
        ipop__group_auto_addr(&net->group_subnet6, net->node_id, ++net->attempt6, &next);
    /* The old address goes first: removing a primary IPv4 address removes
     * the secondaries of its subnet with it. */
    if (net->dev_name[0] && (ipop__tun_del_addr(net->dev_name, &old) < 0 || ipop__tun_add_addr(net->dev_name, &next) < 0))
        ipop__err(net, "cannot move device %s to its new address", net->dev_name);
    g_mutex_lock(&net->lock);
    if (family == AF_INET)
        net->addr4 = next;
    else
        net->addr6 = next;
    g_mutex_unlock(&net->lock);
    if (family == AF_INET)
        net->addr_since4 = g_get_monotonic_time();
    else
        net->addr_since6 = g_get_monotonic_time();
    ipop__addr_format(&next, text, sizeof(text));
    ipop__warn(net, "address conflict settled: this node moves to %s", text);
    /* Peers learn the new address from new sessions. */
    links = ipop__peers_links(net);
    for (guint i = 0; i < links->len; i++) {
        int state = g_atomic_int_get(&((ipop_link_t *)links->pdata[i])->state);
        if (state == IPOP_LINK_CONNECTING || state == IPOP_LINK_CONNECTED)
            ipop__link_renew(links->pdata[i]);
    }
    g_ptr_array_unref(links);
}

/* A peer claimed our address (link.c refuses the claim and reports it).
 * We move only when ours is automatic and new: the node that came last
 * gives way, whatever the node ids (which can be ground), and an
 * established holder is never evicted.  Two new nodes both move. */
void ipop__net_addr_conflict(ipop_network_t *net, ipop_link_t *link, int family)
{
    bool automatic = family == AF_INET ? net->auto4 : net->auto6;
    gint64 since = family == AF_INET ? net->addr_since4 : net->addr_since6;
    unsigned attempt = family == AF_INET ? net->attempt4 : net->attempt6;

    if (!automatic || g_get_monotonic_time() - since >= ADDR_SETTLE_US || attempt >= ATTEMPTS_MAX)
        return; /* ours stays ours */
    /* only once per conflict: the move renews every link */
    if (family == AF_INET)
        net->addr_since4 = 0;
    else
        net->addr_since6 = 0;
    ipop__warn(net, "peer %.8s holds our new %s address too: this node moves", link->peer_id,
               family == AF_INET ? "IPv4" : "IPv6");
    ipop__net_post(net, readdress, GINT_TO_POINTER(family), NULL);
}

IPOP_EXPORT int ipop_network_get_address(ipop_network_t *net, int family, char *buf, size_t size)
{
    ipop__addr a;

    if (!net || !buf || size == 0 || (family != AF_INET && family != AF_INET6))
        return -EINVAL;
    g_mutex_lock(&net->lock);
    a = family == AF_INET ? net->addr4 : net->addr6;
    g_mutex_unlock(&net->lock);
    if (!a.family)
        return -ENOENT;
    return ipop__addr_format(&a, buf, size) < 0 ? -ENOSPC : 0;
}
