/* SPDX-License-Identifier: MIT */
/* Signalling over XMPP, and the loop's side of the two overlays.
 *
 * The XMPP transport (xmpp.c) runs a thread of its own; what it hears is
 * copied and handled here, in the network's loop, and handed to the policy:
 * GroupVPN (group.c: room occupants that prove the group secret) or
 * SocialVPN (social.c: roster friends of mutual subscription).  A sweep
 * each second drops peers that left and tries failed links again; the
 * links' messages leave through ipop__overlay_send(). */
#include "overlay.h"

#include <errno.h>
#include <stdio.h>

#include "group.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "message.h"
#include "network.h"
#include "peers.h"
#include "proof.h"
#include "relay.h"
#include "social.h"
#include "xmpp.h"

struct ipop__overlay {
    ipop_network_t *net;
    ipop__xmpp *xmpp;
    ipop__group *group;          /* GroupVPN, or NULL */
    ipop__social *social;        /* SocialVPN, or NULL */
    char *room;                  /* GroupVPN: room@rooms.example */
    bool online;
    bool keyed;                  /* GroupVPN: the group key was derived and handed on */
    gint started;                /* atomic: ov->xmpp is set */
    GSource *sweep_src;
};

/* The overlay of a network, or NULL once stopped.  Written in the loop
 * only (see ipop__overlay_stop()), so that the loop reads it safely. */
static ipop__overlay *overlay_of(ipop_network_t *net)
{
    return net->ov;
}

static bool net_running(ipop_network_t *net)
{
    return g_atomic_int_get(&net->running);
}

/* ---- events from the XMPP thread, handled in the loop ---- */

typedef struct xev {
    ipop__xmpp_event_type type;
    char *from, *node, *text, *ts, *nonce, *mac;
    bool available, asked;
    ipop__xmpp_event st;         /* IPOP__XMPP_STATE: the numbers (its strings are the ones above and below) */
    char *condition, *fingerprint;
} xev;

static void xev_free(gpointer p)
{
    xev *e = p;
    g_free(e->from);
    g_free(e->node);
    g_free(e->text);
    g_free(e->ts);
    g_free(e->nonce);
    g_free(e->mac);
    g_free(e->condition);
    g_free(e->fingerprint);
    g_free(e);
}

/* Offers and answers sent while the server was away were lost: links
 * still coming up repeat theirs now rather than at their next resend. */
static void signalling_back(ipop_network_t *net)
{
    GPtrArray *links = ipop__peers_links(net);

    for (guint i = 0; i < links->len; i++)
        ipop__link_signalling_back(links->pdata[i]);
    g_ptr_array_unref(links);
}

static void on_signal(ipop__overlay *ov, xev *e)
{
    if (ov->social)
        ipop__social_signal(ov->social, e->from, e->text);
    else
        ipop__group_signal(ov->group, e->from, e->text);
}

static void on_presence(ipop__overlay *ov, xev *e)
{
    if (ov->social)
        ipop__social_presence(ov->social, e->from, e->node, e->available);
    else
        ipop__group_presence(ov->group, e->from, e->available);
}

static void on_online(ipop__overlay *ov)
{
    ipop__info(ov->net, "signalling online");
    ov->online = true;
    if (ov->group)
        ipop__group_online(ov->group, g_get_monotonic_time());
    signalling_back(ov->net);
}

/* The transport's state: kept for ipop_network_get_signal_status(), told
 * to the host at each change, and logged once per problem (a summary
 * while it lasts, and when it ends). */
static void on_state(ipop__overlay *ov, xev *e)
{
    ipop_network_t *net = ov->net;
    struct ipop__sigstatus *sig = &net->sig;
    ipop_signal_state_t was = sig->state;
    gint64 now = g_get_monotonic_time(), retry_s;
    char retry[48];

    g_mutex_lock(&net->lock);
    sig->state = e->st.state;
    sig->reason = e->st.reason;
    sig->since = e->st.since;
    sig->retry_at = e->st.retry_at;
    sig->failures = e->st.state == IPOP_SIGNAL_UP ? 0 : e->st.failures;
    g_strlcpy(sig->detail, e->st.state == IPOP_SIGNAL_UP ? "" : e->text, sizeof(sig->detail));
    g_strlcpy(sig->condition, e->condition ? e->condition : "", sizeof(sig->condition));
    g_strlcpy(sig->fingerprint, e->fingerprint ? e->fingerprint : "", sizeof(sig->fingerprint));
    g_mutex_unlock(&net->lock);
    if (e->st.quiet)
        return;
    retry_s = e->st.retry_at > now ? (e->st.retry_at - now + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC : 0;
    if (retry_s)
        snprintf(retry, sizeof(retry), "retrying in %lld s", (long long)retry_s);
    else
        g_strlcpy(retry, "retrying now", sizeof(retry));
    if (e->st.repeat) {
        ipop__warn(net, "XMPP still: %s (for %lld min, %u attempts failed; %s)", e->text,
                   (long long)((now - e->st.since) / (60 * G_USEC_PER_SEC)), e->st.failures, retry);
        return;
    }
    if (e->st.state == IPOP_SIGNAL_UP && was > IPOP_SIGNAL_UP && e->st.failures)
        ipop__log(IPOP_LOG_NOTICE, net, "XMPP session up again after %u failed attempts", e->st.failures);
    else if (e->st.state > IPOP_SIGNAL_UP)
        ipop__warn(net, "XMPP: %s; %s", e->text, retry);
    ipop__net_emit_signal_state(net, e->st.state, e->st.reason, e->text);
}

static void handle(ipop_network_t *net, void *p)
{
    ipop__overlay *ov = overlay_of(net);
    xev *e = p;

    if (!ov || !net_running(net))
        return;
    switch (e->type) {
    case IPOP__XMPP_SIGNAL:
        on_signal(ov, e);
        break;
    case IPOP__XMPP_PRESENCE:
        on_presence(ov, e);
        break;
    case IPOP__XMPP_ROSTER:
        if (ov->social)
            ipop__social_roster(ov->social, e->from, e->text, e->asked);
        break;
    case IPOP__XMPP_SUBSCRIPTION:
        if (ov->social)
            ipop__social_subscription(ov->social, e->from, e->text);
        break;
    case IPOP__XMPP_ONLINE:
        on_online(ov);
        break;
    case IPOP__XMPP_OFFLINE:
        if (ov->online)
            ipop__info(net, "signalling offline; links stay up"); /* why: on_state */
        ov->online = false;
        break;
    case IPOP__XMPP_ROOM_ERROR:
        ipop__err(net, "group room: %s", e->text);
        break;
    case IPOP__XMPP_STATE:
        on_state(ov, e);
        break;
    case IPOP__XMPP_REFUSED: {
        const char *from = e->from ? e->from : "(no sender)";
        char detail[200];

        snprintf(detail, sizeof(detail), "message from %.40s refused: %s", from, e->text);
        ipop__peers_refused(net, from, IPOP_EVENT_PEER_REFUSED, IPOP_REASON_NOT_AUTHENTICATED, -EPERM, detail);
        break;
    }
    }
}

/* In the XMPP thread: copy and hand to the loop. */
static void on_xmpp(void *ud, const ipop__xmpp_event *ev)
{
    ipop_network_t *net = ud;
    xev *e = g_new0(xev, 1);

    e->type = ev->type;
    e->from = g_strdup(ev->from);
    e->node = g_strdup(ev->node);
    e->text = g_strndup(ev->text ? ev->text : "", IPOP__SIGNAL_MAX + 1);
    e->ts = g_strdup(ev->ts);
    e->nonce = g_strdup(ev->nonce);
    e->mac = g_strdup(ev->mac);
    e->available = ev->available;
    if (ev->type == IPOP__XMPP_STATE) {
        e->st = *ev;
        e->st.from = e->st.node = e->st.text = e->st.ts = e->st.nonce = e->st.mac = NULL;
        e->st.condition = e->st.fingerprint = NULL;
        e->condition = g_strdup(ev->condition);
        e->fingerprint = g_strdup(ev->fingerprint);
    }
    e->asked = ev->asked;
    ipop__net_post(net, handle, e, xev_free);
}

/* ---- the sweep: departures and retries ---- */

static gboolean on_sweep(gpointer data)
{
    ipop__overlay *ov = data;
    gint64 now = g_get_monotonic_time();

    if (ov->group)
        ipop__relay_tick(ov->net); /* links, and so relays, live on without the server */
    if (!ov->online)
        return G_SOURCE_CONTINUE;
    if (ov->social)
        ipop__social_sweep(ov->social, now);
    else
        ipop__group_sweep(ov->group, now);
    return G_SOURCE_CONTINUE;
}

void ipop__overlay_retry_now(ipop_network_t *net)
{
    ipop__overlay *ov = overlay_of(net);

    if (!ov)
        return;
    if (ov->social)
        ipop__social_retry_now(ov->social);
    else
        ipop__group_retry_now(ov->group);
}

/* ---- the calls of the network ---- */

void ipop__overlay_check_server(ipop_network_t *net)
{
    ipop__overlay *ov = overlay_of(net);

    if (ov && ov->xmpp)
        ipop__xmpp_check(ov->xmpp);
}

int ipop__overlay_accept(ipop_network_t *net, const char *jid)
{
    ipop__overlay *ov = overlay_of(net);

    if (!ov || !ov->social)
        return -EINVAL;
    return ipop__social_accept(ov->social, jid);
}

void ipop__overlay_send(ipop_network_t *net, const char *peer, const char *text)
{
    ipop__overlay *ov = overlay_of(net);
    char *to;

    if (ov->social) {
        const char *full = ipop__social_jid_of(ov->social, peer);
        if (!full || ipop__xmpp_send_signal(ov->xmpp, full, text, NULL, NULL, NULL) < 0)
            ipop__dbg(net, "no way to reach %.8s now: message not sent", peer);
        return;
    }
    /* GroupVPN: the occupant of the room that is the peer.  Every line is
     * signed by this node for that peer; membership was proven before any
     * link message (group.c). */
    to = g_strdup_printf("%s/%s", ov->room, peer);
    if (ipop__xmpp_send_signal(ov->xmpp, to, text, NULL, NULL, NULL) < 0)
        ipop__dbg(net, "signalling offline: message to %.8s not sent", peer);
    g_free(to);
}

/* In the loop, posted by the group once its key is derived.  The node is
 * in the room already (joined at start, while the key was derived): the
 * group now challenges and answers the occupants it heard meanwhile. */
static void on_group_key(ipop_network_t *net, void *data)
{
    ipop__overlay *ov = overlay_of(net);
    int r;

    (void)data;
    if (!ov || !ov->group || ov->keyed || !g_atomic_int_get(&ov->started))
        return; /* stopped meanwhile, a stale post of an earlier start, or the transport not there yet */
    r = ipop__group_key_ready(ov->group);
    if (r == 0)
        return;
    if (r < 0) {
        ipop__err(net, "cannot derive the group key (Argon2id, %u MiB): %s", IPOP__PROOF_KDF_M_KIB / 1024,
                  ipop_strerror(r));
        return;
    }
    ov->keyed = true;
    ipop__dbg(net, "group key derived: proving membership");
    ipop__group_key_derived(ov->group);
}

/* SocialVPN: the friends' stanzas (social.c), over our session. */
static int send_xml(ipop_network_t *net, const char *xml)
{
    ipop__overlay *ov = overlay_of(net);

    return ov && ov->xmpp ? ipop__xmpp_send_xml(ov->xmpp, xml) : -ENOTCONN;
}

int ipop__overlay_friend(ipop_network_t *net, ipop__friend_op op, const char *jid)
{
    ipop__overlay *ov = overlay_of(net);

    if (!ov || !ov->social)
        return -EINVAL;
    switch (op) {
    case IPOP__FRIEND_ADD: return ipop__social_friend_add(ov->social, jid);
    case IPOP__FRIEND_ACCEPT: return ipop__social_friend_accept(ov->social, jid);
    case IPOP__FRIEND_REMOVE: return ipop__social_friend_remove(ov->social, jid);
    }
    return -EINVAL;
}

int ipop__overlay_friend_get(ipop_network_t *net, size_t index, ipop_friend_t *ret)
{
    ipop__overlay *ov = overlay_of(net);

    return ov && ov->social ? ipop__social_friend_get(ov->social, index, ret) : -EINVAL;
}

static const ipop__group_ops group_ops = {
    .send = ipop__overlay_send,
    .key_ready = on_group_key,
};

int ipop__overlay_start(ipop_network_t *net)
{
    ipop__overlay *ov = g_new0(ipop__overlay, 1);
    /* Every option of the network that the overlays read, read here. */
    ipop__xmpp_config cfg = {
        .jid = net->xmpp_jid,
        .password = net->xmpp_password,
        .server = net->xmpp_server,
        .port = net->xmpp_port,
        .require_tls = net->xmpp_require_tls,
        .fingerprint = net->xmpp_fingerprint,
    };
    const char *node_id = net->node_id;
    char resource[24];
    int r;

    ov->net = net;
    g_mutex_lock(&net->lock);
    memset(&net->sig, 0, sizeof(net->sig)); /* the transport says "connecting" first */
    g_mutex_unlock(&net->lock);
    if (net->overlay == OVERLAY_SOCIAL) {
        ipop__social_config scfg = {
            .node_id = node_id,
            .own_jid = net->xmpp_jid,
            .subnet = net->social_subnet,
            .own_addr = net->addr4,
            .state_file = net->social_state_file,
            .send_xml = send_xml,
        };
        ov->social = ipop__social_new(net, &scfg);
        cfg.node_id = node_id;
        cfg.roster = true;
    } else {
        ov->room = g_strdup(net->group_room);
        ov->group = ipop__group_new(net, node_id, net->group_room, net->group_secret, &group_ops);
    }
    ov->sweep_src = ipop__net_timeout(net, 1000, on_sweep, ov);
    snprintf(resource, sizeof(resource), "ipop-%.12s", node_id);
    cfg.resource = resource;
    net->ov = ov;
    r = ipop__xmpp_start(&ov->xmpp, &cfg, on_xmpp, net);
    if (r < 0) {
        ipop__overlay_stop(net);
        return r;
    }
    g_atomic_int_set(&ov->started, 1);
    if (ov->group) {
        /* GroupVPN: the room is joined at once, while the group key is
         * derived (nothing said there depends on the secret); the proofs
         * follow the key (on_group_key).  The nickname is the node id:
         * unique in the room, and who we are. */
        ipop__xmpp_join_room(ov->xmpp, ov->room, net->node_id, net->node_id);
        ipop__net_post(net, on_group_key, NULL, NULL); /* in case it was quicker than the transport */
    }
    return 0;
}

/* In the loop: from here on no sweep, event or message of the loop's
 * reaches the overlay. */
static void detach(ipop_network_t *net, void *data)
{
    ipop__overlay *ov = data;

    ipop__source_clear(&ov->sweep_src);
    net->ov = NULL;
}

void ipop__overlay_stop(ipop_network_t *net)
{
    ipop__overlay *ov = overlay_of(net);

    if (!ov)
        return;
    /* The loop's thread may be in the sweep, or handling an event, on this
     * overlay right now, and destroying a source from here does not wait
     * for its callback: so the loop lets go of the overlay first, in its
     * own thread.  The links are closed already; events the transport
     * posts while it stops find no overlay and are dropped. */
    ipop__net_call(net, detach, ov);
    ipop__xmpp_stop(ov->xmpp); /* sends what is queued: the links' goodbyes */
    g_mutex_lock(&net->lock);
    memset(&net->sig, 0, sizeof(net->sig));
    g_mutex_unlock(&net->lock);
    ipop__social_free(ov->social);
    ipop__group_free(ov->group);
    g_free(ov->room);
    g_free(ov);
}
