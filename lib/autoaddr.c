/* SPDX-License-Identifier: MIT */
/* GroupVPN automatic addresses: derived from the node id in group.subnet,
 * and moved when a peer holds the same one. */
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

void ipop__autoaddr_start(ipop_network_t *net)
{
    /* Addresses not given are derived from the node id. */
    net->auto4 = !net->addr4.family && net->group_subnet4.family;
    net->auto6 = !net->addr6.family && net->group_subnet6.family;
    if (net->auto4)
        ipop__group_auto_addr(&net->group_subnet4, net->node_id, net->attempt4, &net->addr4);
    if (net->auto6)
        ipop__group_auto_addr(&net->group_subnet6, net->node_id, net->attempt6, &net->addr6);
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

/* The larger node id moves: both sides compute the same answer. */
void ipop__net_addr_conflict(ipop_network_t *net, ipop_link_t *link, int family)
{
    ipop__warn(net, "peer %.8s signalled our %s address as its own", link->peer_id, family == AF_INET ? "IPv4" : "IPv6");
    if (strcmp(net->node_id, link->peer_id) > 0)
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
