/* SPDX-License-Identifier: MIT */
/* The public network object: made, started, stopped, freed, its
 * statistics.  The top of the library: it calls every module below and
 * none calls it; what the loop and the links need from the modules above
 * them is handed to them here, as function pointers (ipop__loop_ops,
 * ipop__link_ops), when the network is made.
 *
 * The rest of the network lives in: options.c (keys, the whole-config
 * check), peers.c (who may link, the links, signalling in), loop.c
 * (timers, mailbox, events, the loop modes), tx.c and rx.c (the data path
 * each way), device.c, underlay.c (servers, host address changes),
 * autoaddr.c (GroupVPN automatic addresses). */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "addr.h"
#include "autoaddr.h"
#include "certauth.h"
#include "device.h"
#include "direct.h"
#include "dtls.h"
#include "forward.h"
#include "identity.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "names.h"
#include "network.h"
#include "options.h"
#include "routes.h"
#include "overlay.h"
#include "peers.h"
#include "relay.h"
#include "rx.h"
#include "sigauth.h"
#include "tx.h"
#include "udp.h"
#include "underlay.h"
#include "upnp.h"

void ipop__dtls_set_verify(gnutls_certificate_credentials_t cred);

/* What the layers below call up into, fixed here once for the network's
 * life: the loop (loop.c) serves the data path and hands signalling to the
 * overlay; a link (link.c) hands what it receives to the data path and
 * asks the policies. */
static const ipop__loop_ops loop_ops = {
    .device_ready = ipop__tx_device_ready,
    .direct_ready = ipop__direct_rx,
    .delivered = ipop__rx_flush,
    .overlay_send = ipop__overlay_send,
};

static const ipop__link_ops link_ops = {
    .deliver = ipop__net_deliver,
    .relay_frame = ipop__relay_frame,
    .relay_via = ipop__relay_via,
    .link_up = ipop__net_link_up,
    .addr_conflict = ipop__net_addr_conflict,
    .path_suspect = ipop__net_path_suspect,
    .stun_pick = ipop__net_stun_pick,
    .send_signal = ipop__sigauth_send,
};

static const ipop__peers_gate peers_gate = {
    .may_link = ipop__certauth_may_link,
    .filter = ipop__certauth_filter,
};

IPOP_EXPORT int ipop_network_new(ipop_network_t **ret, const char *name)
{
    ipop_network_t *net;

    if (!ret)
        return -EINVAL;
    net = g_new0(ipop_network_t, 1);
    net->name = g_strdup(name ? name : "ipop");
    ipop__options_init(net);
    ipop__loop_init(net, &loop_ops);
    ipop__underlay_init(net);
    net->dev_fd = -1;
    g_mutex_init(&net->lock);
    ipop__peers_init(net, &link_ops, &peers_gate);
    net->relay = ipop__relay_new();
    *ret = net;
    return 0;
}

/* ---- start ---- */

static int open_device(ipop_network_t *net)
{
    int r = ipop__device_open(net);

    if (r < 0)
        return r;
    ipop__rx_start(net);
    ipop__tx_start(net);
    return 0;
}

/* The loop thread, or after the loop ended. */
static void close_device(ipop_network_t *net)
{
    ipop__tx_stop(net);
    ipop__rx_stop(net);
    ipop__device_close(net);
}

static void cleanup_runtime(ipop_network_t *net)
{
    ipop__tx_held_clear(net);
    ipop__underlay_stop(net);
    close_device(net);
    ipop__loop_close(net);
    g_clear_pointer(&net->drx, ipop__direct_drx_free);
    g_clear_pointer(&net->fwd, ipop__fwd_free);
}

static void start_upnp(ipop_network_t *net, void *data)
{
    net->upnp = ipop__upnp_new(net, net->ctx);
}

static int load_identity(ipop_network_t *net)
{
    int r;

    if (!net->id) {
        r = ipop__identity_load(&net->id, net->identity_file);
        if (r < 0) {
            ipop__err(net, "cannot load or create the identity%s%s: %s", net->identity_file ? " " : "",
                      net->identity_file ? net->identity_file : "", ipop_strerror(r));
            return r;
        }
        g_strlcpy(net->node_id, ipop__identity_node_id(net->id), sizeof(net->node_id));
    }
    ipop__dtls_set_verify(ipop__identity_credentials(net->id));
    return ipop__sigauth_start(net);
}

IPOP_EXPORT int ipop_network_start(ipop_network_t *net)
{
    int r;

    if (!net)
        return -EINVAL;
    if (g_atomic_int_get(&net->running))
        return -EALREADY;
    r = ipop__options_check(net, NULL, 0);
    if (r < 0)
        return r;
    if (!net->mtu)
        net->mtu = net->mode == MODE_TAP ? IPOP_DEFAULT_MTU - IPOP__ETH_HLEN : IPOP_DEFAULT_MTU;
    r = load_identity(net);
    if (r < 0)
        return r;
    net->own_name[0] = '\0';
    net->own_name_told = false;
    r = ipop__certauth_load(net); /* before addresses are derived: the certificate's come first */
    if (r < 0)
        return r;
    ipop__names_start(net);
    ipop__autoaddr_start(net);
    r = ipop__underlay_resolve(net);
    if (r < 0)
        return r;

    ipop__loop_open(net);
    net->fwd = ipop__fwd_new();
    if (!net->rtab) /* kept until free: ipop_network_get_stats() may read it on any thread */
        net->rtab = ipop__rtab_new(IPOP__ROUTES_MAX, IPOP__ROUTES_TOTAL_MAX);
    if (net->mode != MODE_NONE) {
        r = open_device(net);
        if (r < 0)
            goto fail;
    }
    ipop__underlay_start(net);
    g_atomic_int_set(&net->running, 1);
    r = ipop__loop_run(net);
    if (r < 0)
        goto fail;
    ipop__certauth_start(net);
    /* the router is looked for now, so that it is known before links ask */
    if ((net->port_mapping & IPOP__PM_UPNP) && !net->relay_only)
        ipop__net_call(net, start_upnp, NULL);
    if (net->overlay != OVERLAY_NONE) {
        r = ipop__overlay_start(net);
        if (r < 0) {
            ipop__err(net, "cannot start XMPP signalling: %s", ipop_strerror(r));
            ipop_network_stop(net);
            return r;
        }
    }
    ipop__info(net, "network %s started, node id %s", net->name, net->node_id);
    return 0;
fail:
    g_atomic_int_set(&net->running, 0);
    cleanup_runtime(net);
    return r;
}

/* ---- stop and free ---- */

static void close_all(ipop_network_t *net, void *data)
{
    GPtrArray *links = ipop__peers_links(net);

    for (guint i = 0; i < links->len; i++)
        ipop__link_shutdown(links->pdata[i], IPOP_REASON_LOCAL_CLOSED, true);
    g_ptr_array_unref(links);
    g_clear_pointer(&net->upnp, ipop__upnp_free); /* after the links: their mappings are gone */
    ipop__relay_reset(net); /* here, in the loop thread: no relay survives a stop */
    close_device(net);
}

IPOP_EXPORT int ipop_network_stop(ipop_network_t *net)
{
    if (!net)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -EALREADY;
    ipop__net_call(net, close_all, NULL);
    g_atomic_int_set(&net->running, 0);
    ipop__certauth_stop(net);
    ipop__overlay_stop(net); /* after the goodbyes: they leave through it */
    ipop__autoaddr_stop(net);
    ipop__loop_stop(net);
    cleanup_runtime(net);
    ipop__info(net, "network %s stopped", net->name);
    return 0;
}

IPOP_EXPORT ipop_network_t *ipop_network_free(ipop_network_t *net)
{
    if (!net)
        return NULL;
    if (g_atomic_int_get(&net->running))
        ipop_network_stop(net);
    ipop__peers_clear(net);
    ipop__identity_free(net->id);
    ipop__sigauth_free(net->sigauth);
    ipop__certauth_free(net->certauth);
    ipop__udp_set_free(net->udp);
    ipop__relay_free(net->relay);
    ipop__names_free(net);
    ipop__rtab_free(net->rtab);
    ipop__options_free(net);
    ipop__loop_clear(net);
    g_mutex_clear(&net->lock);
    g_free(net->name);
    g_free(net);
    return NULL;
}

/* ---- what the host may ask ---- */

IPOP_EXPORT const char *ipop_network_get_node_id(ipop_network_t *net)
{
    return net && net->node_id[0] ? net->node_id : NULL;
}

IPOP_EXPORT const char *ipop_network_get_device(ipop_network_t *net)
{
    return net && net->dev_name[0] ? net->dev_name : NULL;
}

IPOP_EXPORT int ipop_network_get_stats(ipop_network_t *net, ipop_network_stats_t *stats)
{
    ipop_network_stats_t s;
    GPtrArray *links;
    size_t n;

    if (!net || !stats || stats->size < sizeof(size_t))
        return -EINVAL;
    memset(&s, 0, sizeof(s));
    n = MIN(stats->size, sizeof(s));
    s.size = n;
    s.signal_refused = __atomic_load_n(&net->bad_messages, __ATOMIC_RELAXED);
    s.no_route = __atomic_load_n(&net->no_route, __ATOMIC_RELAXED);
    links = ipop__peers_links(net);
    for (guint i = 0; i < links->len; i++) {
        s.links++;
        if (g_atomic_int_get(&((ipop_link_t *)links->pdata[i])->state) == IPOP_LINK_CONNECTED)
            s.links_connected++;
    }
    g_ptr_array_unref(links);
    ipop__relay_totals(net, &s.relayed_packets, &s.relay_drops);
    s.relay_refused = __atomic_load_n(&net->relay_refused, __ATOMIC_RELAXED);
    s.tap_refused_type = __atomic_load_n(&net->tap_refused[IPOP__TAP_TYPE], __ATOMIC_RELAXED);
    s.tap_refused_source = __atomic_load_n(&net->tap_refused[IPOP__TAP_SPOOF], __ATOMIC_RELAXED) +
                           __atomic_load_n(&net->tap_refused[IPOP__TAP_MALFORMED], __ATOMIC_RELAXED);
    s.tap_refused_mac = __atomic_load_n(&net->tap_refused[IPOP__TAP_MAC], __ATOMIC_RELAXED);
    s.candidates_dropped = __atomic_load_n(&net->cands_dropped, __ATOMIC_RELAXED);
    s.broadcast_packets = __atomic_load_n(&net->bcast_sent, __ATOMIC_RELAXED);
    s.broadcast_dropped = __atomic_load_n(&net->bcast_limited, __ATOMIC_RELAXED);
    s.too_big = __atomic_load_n(&net->too_big, __ATOMIC_RELAXED);
    s.too_big_answered = __atomic_load_n(&net->too_big_answered, __ATOMIC_RELAXED);
    s.routes_refused = __atomic_load_n(&net->routes_refused, __ATOMIC_RELAXED);
    s.routes = ipop__rtab_count(net->rtab);
    memcpy(stats, &s, n);
    return 0;
}

IPOP_EXPORT int ipop_network_get_signal_status(ipop_network_t *net, ipop_signal_status_t *status)
{
    ipop_signal_status_t s;
    gint64 now = g_get_monotonic_time();
    size_t n;

    if (!net || !status || status->size < offsetof(ipop_signal_status_t, reason) + sizeof(ipop_reason_t))
        return -EINVAL;
    memset(&s, 0, sizeof(s));
    n = MIN(status->size, sizeof(s));
    s.size = n;
    g_mutex_lock(&net->lock);
    if (g_atomic_int_get(&net->running) && net->sig.state != IPOP_SIGNAL_NONE) {
        s.state = net->sig.state;
        s.reason = net->sig.reason;
        s.since_ms = (uint64_t)MAX(0, now - net->sig.since) / 1000;
        s.retry_ms = net->sig.retry_at ? (uint64_t)MAX(0, net->sig.retry_at - now) / 1000 : 0;
        s.failures = net->sig.failures;
        g_strlcpy(s.detail, net->sig.detail, sizeof(s.detail));
        g_strlcpy(s.condition, net->sig.condition, sizeof(s.condition));
        g_strlcpy(s.fingerprint, net->sig.fingerprint, sizeof(s.fingerprint));
    }
    g_mutex_unlock(&net->lock);
    memcpy(status, &s, n);
    return 0;
}

typedef struct accept_req {
    const char *jid;
    int r;
} accept_req;

static void do_accept(ipop_network_t *net, void *p)
{
    accept_req *req = p;
    req->r = ipop__overlay_accept(net, req->jid);
}

IPOP_EXPORT int ipop_network_accept_identity(ipop_network_t *net, const char *friend_jid)
{
    accept_req req = { .jid = friend_jid, .r = -EINVAL };

    if (!net || !friend_jid || net->overlay != OVERLAY_SOCIAL)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    ipop__net_call(net, do_accept, &req);
    return req.r;
}

/* ---- SocialVPN friends (overlay.c, social.c) ---- */

typedef struct friend_req {
    ipop__friend_op op;
    const char *jid;
    size_t index;
    ipop_friend_t *out;
    int r;
} friend_req;

static void do_friend(ipop_network_t *net, void *p)
{
    friend_req *req = p;
    req->r = req->out ? ipop__overlay_friend_get(net, req->index, req->out)
                      : ipop__overlay_friend(net, req->op, req->jid);
}

static int friend_call(ipop_network_t *net, friend_req *req)
{
    req->r = -EINVAL;
    if (!net || net->overlay != OVERLAY_SOCIAL)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    ipop__net_call(net, do_friend, req);
    return req->r;
}

IPOP_EXPORT int ipop_network_friend_add(ipop_network_t *net, const char *jid)
{
    friend_req req = { .op = IPOP__FRIEND_ADD, .jid = jid };
    return jid ? friend_call(net, &req) : -EINVAL;
}

IPOP_EXPORT int ipop_network_friend_accept(ipop_network_t *net, const char *jid)
{
    friend_req req = { .op = IPOP__FRIEND_ACCEPT, .jid = jid };
    return jid ? friend_call(net, &req) : -EINVAL;
}

IPOP_EXPORT int ipop_network_friend_remove(ipop_network_t *net, const char *jid)
{
    friend_req req = { .op = IPOP__FRIEND_REMOVE, .jid = jid };
    return jid ? friend_call(net, &req) : -EINVAL;
}

IPOP_EXPORT int ipop_network_get_friend(ipop_network_t *net, size_t index, ipop_friend_t *ret)
{
    friend_req req = { .index = index, .out = ret };

    if (!ret || ret->size < sizeof(size_t))
        return -EINVAL;
    return friend_call(net, &req);
}
