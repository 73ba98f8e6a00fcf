/* SPDX-License-Identifier: MIT */
/* The peers of a network: who may link (allowed), the links (made on
 * first use with the network's ipop__link_ops, kept until the network is
 * freed), and signalling messages from peers.  The peers API (peers.h) is
 * what the data path and the policies above use (relay, overlay, group,
 * social, retry, autoaddr, underlay) instead of the network's lock and
 * fields; the public calls on peers are thin wrappers around it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "link.h"
#include "log.h"
#include "loop.h"
#include "message.h"
#include "network.h"
#include "peers.h"
#include "sigauth.h"

int ipop__peers_allow(ipop_network_t *net, const char *peer_id)
{
    if (!peer_id || !ipop__node_id_valid(peer_id))
        return -EINVAL;
    g_mutex_lock(&net->lock);
    g_hash_table_add(net->allowed, g_strdup(peer_id));
    g_mutex_unlock(&net->lock);
    return 0;
}

void ipop__peers_disallow(ipop_network_t *net, const char *peer_id)
{
    g_mutex_lock(&net->lock);
    g_hash_table_remove(net->allowed, peer_id);
    g_mutex_unlock(&net->lock);
}

bool ipop__peers_allowed(ipop_network_t *net, const char *peer_id)
{
    bool allowed;

    g_mutex_lock(&net->lock);
    allowed = g_hash_table_contains(net->allowed, peer_id);
    g_mutex_unlock(&net->lock);
    return allowed;
}

ipop_link_t *ipop__peers_link(ipop_network_t *net, const char *peer_id)
{
    ipop_link_t *link;

    g_mutex_lock(&net->lock);
    link = g_hash_table_lookup(net->links, peer_id);
    g_mutex_unlock(&net->lock);
    return link;
}

GPtrArray *ipop__peers_links(ipop_network_t *net)
{
    return ipop__peers_links_since(net, 0);
}

GPtrArray *ipop__peers_links_since(ipop_network_t *net, guint first)
{
    GPtrArray *links;

    g_mutex_lock(&net->lock);
    links = g_ptr_array_sized_new(first < net->link_list->len ? net->link_list->len - first : 0);
    for (guint i = first; i < net->link_list->len; i++)
        g_ptr_array_add(links, net->link_list->pdata[i]);
    g_mutex_unlock(&net->lock);
    return links;
}

IPOP_EXPORT int ipop_network_allow_peer(ipop_network_t *net, const char *peer_id)
{
    if (!net)
        return -EINVAL;
    return ipop__peers_allow(net, peer_id);
}

void ipop__peers_init(ipop_network_t *net, const ipop__link_ops *ops, const ipop__peers_gate *gate)
{
    net->link_ops = ops;
    net->peers_gate = gate;
    net->links = g_hash_table_new(g_str_hash, g_str_equal);
    net->link_list = g_ptr_array_new();
    net->allowed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

void ipop__peers_clear(ipop_network_t *net)
{
    for (guint i = 0; i < net->link_list->len; i++)
        ipop__link_free(net->link_list->pdata[i]);
    g_ptr_array_unref(net->link_list);
    g_hash_table_unref(net->links);
    g_hash_table_unref(net->allowed);
}

/* Links not closed: what link.max caps.  Under the lock. */
static guint links_open(ipop_network_t *net)
{
    guint n = 0;

    for (guint i = 0; i < net->link_list->len; i++)
        n += g_atomic_int_get(&((ipop_link_t *)net->link_list->pdata[i])->state) != IPOP_LINK_CLOSED;
    return n;
}

/* The link of a peer, made on first use (or a closed one, to be opened
 * again) unless link.max links are open: then NULL, and the refusal is
 * counted and reported (logged once a minute). */
static ipop_link_t *link_for(ipop_network_t *net, const char *peer_id)
{
    ipop_link_t *link;
    bool full = false;

    g_mutex_lock(&net->lock);
    link = g_hash_table_lookup(net->links, peer_id);
    /* A closed link that a message or a connect would open again counts
     * as a new one: otherwise peers that said goodbye come back past the cap. */
    if ((!link || g_atomic_int_get(&link->state) == IPOP_LINK_CLOSED) && links_open(net) >= net->link_max) {
        full = true;
        link = NULL;
    } else if (!link) {
        link = ipop__link_new(net, peer_id, net->link_ops);
        g_hash_table_insert(net->links, link->peer_id, link);
        g_ptr_array_add(net->link_list, link);
    }
    g_mutex_unlock(&net->lock);
    if (full) {
        static const char detail[] = "link refused: link.max links are open";
        gint64 now = g_get_monotonic_time();

        if (!net->link_max_logged || now - net->link_max_logged >= 60 * G_USEC_PER_SEC) {
            net->link_max_logged = now;
            ipop__warn(net, "peer %.16s: %s (%u)", peer_id, detail, net->link_max);
        }
        ipop__peers_refused_quiet(net, peer_id, IPOP_EVENT_PEER_REFUSED, IPOP_REASON_PEER_NOT_ALLOWED, -ENOSPC, detail);
    }
    return link;
}

typedef struct connect_req {
    const char *peer;
    ipop_link_t *link;
    int r;
} connect_req;

static void do_connect(ipop_network_t *net, void *p)
{
    connect_req *req = p;
    int state;

    req->link = link_for(net, req->peer);
    if (!req->link) {
        req->r = -ENOSPC;
        return;
    }
    state = g_atomic_int_get(&req->link->state);
    req->r = 0;
    if (state != IPOP_LINK_CONNECTING && state != IPOP_LINK_CONNECTED)
        req->r = ipop__link_open(req->link);
}

/* The loop thread: allows the peer and opens a link unless one is up or
 * coming up. */
int ipop__peers_connect(ipop_network_t *net, const char *peer_id, ipop_link_t **ret)
{
    connect_req req = { .peer = peer_id };
    int r;

    r = ipop__peers_allow(net, peer_id);
    if (r < 0)
        return r;
    if (!net->peers_gate->may_link(net, peer_id)) { /* group authority: certificates first */
        if (ret)
            *ret = NULL;
        return 0;
    }
    do_connect(net, &req);
    if (req.r < 0)
        return req.r;
    if (ret)
        *ret = req.link;
    return 0;
}

IPOP_EXPORT int ipop_network_connect(ipop_network_t *net, const char *peer_id, ipop_link_t **ret)
{
    connect_req req = { .peer = peer_id };
    int r;

    if (!net || !peer_id)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    if (!strcmp(peer_id, net->node_id)) {
        ipop__err(net, "cannot link to this node itself");
        return -EINVAL;
    }
    r = ipop_network_allow_peer(net, peer_id);
    if (r < 0)
        return r;
    ipop__net_call(net, do_connect, &req);
    if (req.r < 0)
        return req.r;
    if (ret)
        *ret = req.link;
    return 0;
}

IPOP_EXPORT ipop_link_t *ipop_network_get_link(ipop_network_t *net, const char *peer_id)
{
    if (!net || !peer_id)
        return NULL;
    return ipop__peers_link(net, peer_id);
}

static void handle_msg(ipop_network_t *net, void *p)
{
    ipop__msg *m = p;

    ipop_link_t *link;

    if (!g_atomic_int_get(&net->running))
        return;
    if (net->peers_gate->filter(net, m)) /* group authority: taken, or refused */
        return;
    link = link_for(net, m->node_id);
    if (link)
        ipop__link_handle(link, m);
}

static void refuse(ipop_network_t *net, const char *from, ipop_event_type_t type, ipop_reason_t reason, int err,
                   const char *what)
{
    char detail[160];

    snprintf(detail, sizeof(detail), "signalling message from %.16s refused: %s", from ? from : "(none)", what);
    ipop__peers_refused(net, from, type, reason, err, detail);
}

void ipop__peers_refused_quiet(ipop_network_t *net, const char *from, ipop_event_type_t type, ipop_reason_t reason,
                               int err, const char *detail)
{
    __atomic_fetch_add(&net->bad_messages, 1, __ATOMIC_RELAXED);
    ipop__net_emit_simple(net, type, from, NULL, reason, err, detail);
}

void ipop__peers_refused(ipop_network_t *net, const char *from, ipop_event_type_t type, ipop_reason_t reason,
                         int err, const char *detail)
{
    ipop__warn(net, "%s", detail);
    ipop__peers_refused_quiet(net, from, type, reason, err, detail);
}

int ipop__peers_signal(ipop_network_t *net, const char *from_peer_id, const char *message)
{
    return ipop_network_signal_receive(net, from_peer_id, message);
}

IPOP_EXPORT int ipop_network_signal_receive(ipop_network_t *net, const char *from_peer_id, const char *message)
{
    ipop__msg *m;
    int r;

    if (!net)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    if (!from_peer_id || !ipop__node_id_valid(from_peer_id)) {
        refuse(net, NULL, IPOP_EVENT_BAD_MESSAGE, IPOP_REASON_BAD_MESSAGE, -EINVAL, "sender is not a node id");
        return -EINVAL;
    }
    if (!message) {
        refuse(net, from_peer_id, IPOP_EVENT_BAD_MESSAGE, IPOP_REASON_BAD_MESSAGE, -EINVAL, "no message");
        return -EINVAL;
    }
    m = g_new(ipop__msg, 1);
    /* Verified, checked and decoded, or refused (counted, reported, logged). */
    r = ipop__sigauth_open(net, from_peer_id, message, ipop__peers_allowed(net, from_peer_id), m);
    if (r < 0) {
        g_free(m);
        return r;
    }
    ipop__net_post(net, handle_msg, m, g_free);
    return 0;
}
