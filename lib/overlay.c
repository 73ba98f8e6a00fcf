/* SPDX-License-Identifier: MIT */
/* GroupVPN over XMPP.  Every node that is in the room and proves that it
 * knows the group secret links with every other.  The XMPP server relays
 * and may drop messages, but cannot forge one: each signalling message
 * carries an HMAC under a key derived from the secret, bound to the room,
 * both node ids, a timestamp and a nonce (replays are refused). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "internal.h"
#include "log.h"
#include "overlay.h"
#include "xmpp.h"

#define MAX_SKEW_S 120           /* accepted clock difference of a signed message */
#define REPLAY_MAX 8192          /* nonces remembered */
/* A member that says it left is dropped after this, if we are still online
 * then: a server that shuts down says every occupant left, and links must
 * live through that. */
#define LEAVE_GRACE_US (5 * G_USEC_PER_SEC)
/* After reconnecting, members not seen again within this are gone. */
#define REJOIN_GRACE_US (6 * G_USEC_PER_SEC)

typedef struct member {
    unsigned gen;                /* session generation it was last seen in */
    gint64 left_at;              /* when it said it left, or 0 */
} member;

struct ipop__overlay {
    ipop_network_t *net;
    ipop__xmpp *xmpp;
    char *room;                  /* room@rooms.example */
    uint8_t key[32];
    GHashTable *members;         /* node id -> member* */
    GHashTable *nonces;          /* nonce -> expiry (monotonic s) */
    bool online;
    unsigned gen;                /* counts XMPP sessions */
    gint64 online_since;
    GSource *sweep_src;
};

static void hex(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", in[i]);
}

void ipop__group_key(const char *secret, size_t secret_len, const char *room, uint8_t key[32])
{
    char *label = g_strdup_printf("ipop-group-key-v1:%s", room);

    gnutls_hmac_fast(GNUTLS_MAC_SHA256, secret, secret_len, label, strlen(label), key);
    g_free(label);
}

void ipop__group_mac(const uint8_t key[32], const char *room, const char *from, const char *to, const char *ts,
                     const char *nonce, const char *text, char out[65])
{
    char *data = g_strdup_printf("ipop-group-v1\n%s\n%s\n%s\n%s\n%s\n%s", room, from, to, ts, nonce, text);
    uint8_t mac[32];

    gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, 32, data, strlen(data), mac);
    hex(mac, sizeof(mac), out);
    g_free(data);
}

/* ---- events from the XMPP thread, handled in the loop ---- */

typedef struct xev {
    ipop__xmpp_event_type type;
    char *from, *node, *text, *ts, *nonce, *mac;
    bool available;
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
    g_free(e);
}

/* The occupant's nickname, when `from` is room/nick of our room. */
static const char *room_nick(ipop__overlay *ov, const char *from)
{
    size_t n = strlen(ov->room);

    if (strncmp(from, ov->room, n) != 0 || from[n] != '/')
        return NULL;
    return from + n + 1;
}

static void refuse(ipop_network_t *net, const char *peer, const char *why)
{
    char detail[160];

    __atomic_fetch_add(&net->bad_messages, 1, __ATOMIC_RELAXED);
    snprintf(detail, sizeof(detail), "group message from %.16s refused: %s", peer, why);
    ipop__warn(net, "%s", detail);
    ipop__net_emit_simple(net, IPOP_EVENT_PEER_REFUSED, peer, NULL, IPOP_REASON_NOT_AUTHENTICATED, -EPERM, detail);
}

static bool fresh_nonce(ipop__overlay *ov, const char *nonce)
{
    gint64 now = g_get_monotonic_time() / G_USEC_PER_SEC;
    GHashTableIter it;
    gpointer k, v;

    if (g_hash_table_contains(ov->nonces, nonce))
        return false;
    if (g_hash_table_size(ov->nonces) >= REPLAY_MAX) {
        g_hash_table_iter_init(&it, ov->nonces);
        while (g_hash_table_iter_next(&it, &k, &v))
            if (GPOINTER_TO_SIZE(v) < (gsize)now)
                g_hash_table_iter_remove(&it);
        if (g_hash_table_size(ov->nonces) >= REPLAY_MAX)
            return false; /* a flood of fresh nonces: refuse rather than forget */
    }
    g_hash_table_insert(ov->nonces, g_strdup(nonce), GSIZE_TO_POINTER((gsize)(now + 2 * MAX_SKEW_S)));
    return true;
}

static void on_signal(ipop__overlay *ov, xev *e)
{
    ipop_network_t *net = ov->net;
    const char *peer = room_nick(ov, e->from);
    char want[65];
    gint64 ts, now = g_get_real_time() / G_USEC_PER_SEC;

    if (!peer || !ipop__node_id_valid(peer))
        return; /* not from a member of our room: nothing of ours */
    if (!e->ts || !e->nonce || !e->mac || strlen(e->nonce) != 16 || strlen(e->mac) != 64) {
        refuse(net, peer, "not authenticated");
        return;
    }
    ipop__group_mac(ov->key, ov->room, peer, net->node_id, e->ts, e->nonce, e->text, want);
    if (gnutls_memcmp(want, e->mac, 64) != 0) {
        refuse(net, peer, "wrong group authentication (another secret?)");
        return;
    }
    ts = g_ascii_strtoll(e->ts, NULL, 10);
    if (ts < now - MAX_SKEW_S || ts > now + MAX_SKEW_S) {
        refuse(net, peer, "stale or future timestamp");
        return;
    }
    if (!fresh_nonce(ov, e->nonce)) {
        refuse(net, peer, "replayed");
        return;
    }
    ipop_network_signal_receive(net, peer, e->text);
}

static void drop_member(ipop__overlay *ov, const char *peer)
{
    ipop_network_t *net = ov->net;
    ipop_link_t *link = ipop_network_get_link(net, peer);

    ipop__info(net, "group member %.8s left", peer);
    g_mutex_lock(&net->lock);
    g_hash_table_remove(net->allowed, peer);
    g_mutex_unlock(&net->lock);
    if (link)
        ipop__link_shutdown(link, IPOP_REASON_PEER_CLOSED, true);
}

static gboolean on_sweep(gpointer data)
{
    ipop__overlay *ov = data;
    gint64 now = g_get_monotonic_time();
    GHashTableIter it;
    gpointer k, v;

    if (!ov->online)
        return G_SOURCE_CONTINUE;
    g_hash_table_iter_init(&it, ov->members);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        member *m = v;
        bool gone = (m->left_at && now - m->left_at >= LEAVE_GRACE_US) ||
                    (m->gen != ov->gen && now - ov->online_since >= REJOIN_GRACE_US);
        if (gone) {
            drop_member(ov, k);
            g_hash_table_iter_remove(&it);
        }
    }
    return G_SOURCE_CONTINUE;
}

static void on_presence(ipop__overlay *ov, xev *e)
{
    ipop_network_t *net = ov->net;
    const char *peer = room_nick(ov, e->from);
    ipop_link_t *link;
    member *m;
    int state;

    if (!peer || !ipop__node_id_valid(peer) || !strcmp(peer, net->node_id))
        return;
    m = g_hash_table_lookup(ov->members, peer);
    if (!e->available) {
        if (m && !m->left_at)
            m->left_at = g_get_monotonic_time();
        return;
    }
    link = ipop_network_get_link(net, peer);
    state = link ? ipop_link_get_state(link) : IPOP_LINK_NEW;
    if (!m) {
        m = g_new0(member, 1);
        g_hash_table_insert(ov->members, g_strdup(peer), m);
        ipop__info(net, "group member %.8s is present", peer);
    }
    m->gen = ov->gen;
    m->left_at = 0;
    ipop_network_allow_peer(net, peer);
    /* Both sides open (the link settles crossing offers), so that each
     * side hears from the other and can refuse one without the secret. */
    if (state != IPOP_LINK_CONNECTING && state != IPOP_LINK_CONNECTED)
        ipop_network_connect(net, peer, NULL);
}

static void handle(ipop_network_t *net, void *p)
{
    ipop__overlay *ov = net->ov;
    xev *e = p;

    if (!ov || !g_atomic_int_get(&net->running))
        return;
    switch (e->type) {
    case IPOP__XMPP_SIGNAL:
        on_signal(ov, e);
        break;
    case IPOP__XMPP_PRESENCE:
        on_presence(ov, e);
        break;
    case IPOP__XMPP_ONLINE:
        ipop__info(net, "signalling online");
        ov->online = true;
        ov->gen++;
        ov->online_since = g_get_monotonic_time();
        break;
    case IPOP__XMPP_OFFLINE:
        if (ov->online)
            ipop__warn(net, "signalling offline (%s); links stay up", e->text ? e->text : "?");
        ov->online = false;
        break;
    case IPOP__XMPP_ROOM_ERROR:
        ipop__err(net, "cannot join group room %s", ov->room);
        break;
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
    ipop__net_post(net, handle, e, xev_free);
}

void ipop__overlay_send(ipop_network_t *net, const char *peer, const char *text)
{
    ipop__overlay *ov = net->ov;
    uint8_t rnd[8];
    char nonce[17], ts[24], mac[65], *to;

    gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd));
    hex(rnd, sizeof(rnd), nonce);
    snprintf(ts, sizeof(ts), "%" G_GINT64_FORMAT, g_get_real_time() / G_USEC_PER_SEC);
    ipop__group_mac(ov->key, ov->room, net->node_id, peer, ts, nonce, text, mac);
    to = g_strdup_printf("%s/%s", ov->room, peer);
    if (ipop__xmpp_send_signal(ov->xmpp, to, text, ts, nonce, mac) < 0)
        ipop__dbg(net, "signalling offline: message to %.8s not sent", peer);
    g_free(to);
}

int ipop__overlay_start(ipop_network_t *net)
{
    ipop__overlay *ov = g_new0(ipop__overlay, 1);
    ipop__xmpp_config cfg = {
        .jid = net->xmpp_jid,
        .password = net->xmpp_password,
        .server = net->xmpp_server,
        .port = net->xmpp_port,
        .require_tls = net->xmpp_require_tls,
        .fingerprint = net->xmpp_fingerprint,
    };
    char resource[24];
    int r;

    ov->net = net;
    ov->room = g_strdup(net->group_room);
    ipop__group_key(net->group_secret, strlen(net->group_secret), ov->room, ov->key);
    ov->members = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    ov->sweep_src = ipop__net_timeout(net, 1000, on_sweep, ov);
    ov->nonces = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    snprintf(resource, sizeof(resource), "ipop-%.12s", net->node_id);
    cfg.resource = resource;
    net->ov = ov;
    r = ipop__xmpp_start(&ov->xmpp, &cfg, on_xmpp, net);
    if (r < 0) {
        ipop__overlay_stop(net);
        return r;
    }
    /* The nickname is the node id: unique in the room, and who we are. */
    ipop__xmpp_join_room(ov->xmpp, ov->room, net->node_id, net->node_id);
    return 0;
}

void ipop__overlay_stop(ipop_network_t *net)
{
    ipop__overlay *ov = net->ov;

    if (!ov)
        return;
    ipop__xmpp_stop(ov->xmpp);
    ipop__source_clear(&ov->sweep_src);
    net->ov = NULL;
    g_hash_table_unref(ov->members);
    g_hash_table_unref(ov->nonces);
    gnutls_memset(ov->key, 0, sizeof(ov->key));
    g_free(ov->room);
    g_free(ov);
}
