/* SPDX-License-Identifier: MIT */
/* The overlays over XMPP.
 *
 * SocialVPN: a node links with the contacts of its roster that have a
 * mutual presence subscription, and only with them.  A friend's node id is
 * pinned at first contact (in the state file); a changed one is refused and
 * reported until the user accepts it.  Each friend gets an IPv4 address of
 * this node's own choosing in `social.subnet`, and packets are translated
 * between it and the friend's real virtual address.
 *
 * GroupVPN over XMPP.  Every node that is in the room and proves that it
 * knows the group secret links with every other.  The XMPP server relays
 * and may drop messages, but cannot forge one: each signalling message
 * carries an HMAC under a key derived from the secret, bound to the room,
 * both node ids, a timestamp and a nonce (replays are refused). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "internal.h"
#include "log.h"
#include "overlay.h"
#include "relay.h"
#include "xmpp.h"

#define MAX_SKEW_S 120           /* accepted clock difference of a signed message */
#define REPLAY_MAX 8192          /* nonces remembered */
/* A member that says it left is dropped after this, if we are still online
 * then: a server that shuts down says every occupant left, and links must
 * live through that. */
#define LEAVE_GRACE_US (5 * G_USEC_PER_SEC)
/* After reconnecting, members not seen again within this are gone. */
#define REJOIN_GRACE_US (6 * G_USEC_PER_SEC)

/* When to try a failed link again: after 1 s, doubling to 30 s. */
typedef struct retry {
    gint64 at;
    guint backoff_ms;
} retry;

typedef struct friend {
    char *jid;                   /* bare JID */
    char *sub;                   /* roster subscription: none, to, from, both */
    char *full;                  /* full JID of the resource that said its node id, or NULL */
    char node[IPOP__NODE_ID_LEN + 1];    /* node id now */
    char pinned[IPOP__NODE_ID_LEN + 1];  /* node id pinned at first contact */
    char pending[IPOP__NODE_ID_LEN + 1]; /* a changed node id waiting for acceptance */
    char *pending_full;          /* the resource that came with it */
    ipop__addr alias;            /* its address here */
    gint64 left_at;
    retry retry;
} friend;

typedef struct member {
    unsigned gen;                /* session generation it was last seen in */
    gint64 left_at;              /* when it said it left, or 0 */
    retry retry;
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
    /* SocialVPN */
    bool social;
    char *own_bare;
    ipop__addr subnet;
    char *state_file;
    GHashTable *friends;         /* bare JID -> friend* */
};

static void hex(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", in[i]);
}

void ipop__group_auto_addr(const ipop__addr *subnet, const char *node_id, unsigned attempt, ipop__addr *out)
{
    uint8_t h[32];
    char *data = g_strdup_printf("ipop-auto-addr-v1:%s:%u", node_id, attempt);
    unsigned bits = subnet->family == AF_INET ? 32 : 128, host_bits = bits - subnet->prefix;

    gnutls_hash_fast(GNUTLS_DIG_SHA256, data, strlen(data), h);
    g_free(data);
    *out = *subnet;
    if (subnet->family == AF_INET) {
        uint32_t base, hosts = host_bits >= 31 ? 0x7ffffffe : (1u << host_bits) - 2, idx;
        memcpy(&base, subnet->bytes, 4);
        base = g_ntohl(base) & (host_bits >= 32 ? 0 : ~0u << host_bits);
        idx = ((uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3]) % (hosts ? hosts : 1);
        base = g_htonl(base + 1 + idx); /* neither the network nor the broadcast address */
        memcpy(out->bytes, &base, 4);
        return;
    }
    /* IPv6: the host bits from the hash (at most 64 of them), never all zero. */
    for (unsigned i = 0; i < 16; i++) {
        unsigned first = i * 8;
        uint8_t mask = first >= subnet->prefix ? 0xff : first + 8 <= subnet->prefix ? 0 : (uint8_t)(0xff >> (subnet->prefix - first));
        out->bytes[i] = (uint8_t)((subnet->bytes[i] & ~mask) | (h[16 + i % 16] & mask));
    }
    out->bytes[15] |= 1;
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

static void refuse_as(ipop_network_t *net, const char *peer, ipop_reason_t reason, const char *why)
{
    char detail[200];

    __atomic_fetch_add(&net->bad_messages, 1, __ATOMIC_RELAXED);
    snprintf(detail, sizeof(detail), "message from %.40s refused: %s", peer, why);
    ipop__warn(net, "%s", detail);
    ipop__net_emit_simple(net, IPOP_EVENT_PEER_REFUSED, peer, NULL, reason, -EPERM, detail);
}

static void refuse(ipop_network_t *net, const char *peer, const char *why)
{
    refuse_as(net, peer, IPOP_REASON_NOT_AUTHENTICATED, why);
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

static void social_sweep(ipop__overlay *ov);

/* A link that failed (ICE, consent, timeout) while the peer is still
 * around is tried again, backing off; one the peer closed is not. */
static void retry_link(ipop_network_t *net, const char *peer, retry *r, gint64 now)
{
    ipop_link_t *link = ipop_network_get_link(net, peer);
    int state = link ? ipop_link_get_state(link) : IPOP_LINK_NEW;

    if (state == IPOP_LINK_CONNECTED) {
        r->at = 0;
        r->backoff_ms = 0;
        return;
    }
    if (state != IPOP_LINK_FAILED)
        return;
    if (!r->at) {
        r->backoff_ms = r->backoff_ms ? MIN(r->backoff_ms * 2, 30000u) : 1000u;
        r->at = now + (gint64)r->backoff_ms * 1000;
        return;
    }
    if (now < r->at)
        return;
    r->at = 0;
    ipop__info(net, "link to %.8s failed: trying again", peer);
    ipop_network_connect(net, peer, NULL);
}

static gboolean on_sweep(gpointer data)
{
    ipop__overlay *ov = data;
    gint64 now = g_get_monotonic_time();
    GHashTableIter it;
    gpointer k, v;

    if (!ov->social)
        ipop__relay_tick(ov->net); /* links, and so relays, live on without the server */
    if (!ov->online)
        return G_SOURCE_CONTINUE;
    if (ov->social) {
        social_sweep(ov);
        return G_SOURCE_CONTINUE;
    }
    g_hash_table_iter_init(&it, ov->members);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        member *m = v;
        bool gone = (m->left_at && now - m->left_at >= LEAVE_GRACE_US) ||
                    (m->gen != ov->gen && now - ov->online_since >= REJOIN_GRACE_US);
        if (gone) {
            drop_member(ov, k);
            g_hash_table_iter_remove(&it);
        } else if (!m->left_at) {
            retry_link(ov->net, k, &m->retry, now);
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

/* ---- SocialVPN ---- */

static void friend_free(gpointer p)
{
    friend *f = p;
    g_free(f->jid);
    g_free(f->sub);
    g_free(f->full);
    g_free(f->pending_full);
    g_free(f);
}

static friend *friend_get(ipop__overlay *ov, const char *bare)
{
    friend *f = g_hash_table_lookup(ov->friends, bare);

    if (!f) {
        f = g_new0(friend, 1);
        f->jid = g_strdup(bare);
        f->sub = g_strdup("none");
        g_hash_table_insert(ov->friends, f->jid, f);
    }
    return f;
}

static friend *friend_by_node(ipop__overlay *ov, const char *node)
{
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, ov->friends);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (!strcmp(((friend *)v)->node, node))
            return v;
    return NULL;
}

static bool alias_taken(ipop__overlay *ov, const ipop__addr *a, const friend *self)
{
    GHashTableIter it;
    gpointer v;

    if (ipop__addr_equal_host(a, &ov->net->addr4))
        return true;
    g_hash_table_iter_init(&it, ov->friends);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (v != self && ((friend *)v)->alias.family && ipop__addr_equal_host(a, &((friend *)v)->alias))
            return true;
    return false;
}

/* A stable address for a friend: from a hash of its JID, the next free one
 * on a collision. */
static void assign_alias(ipop__overlay *ov, friend *f)
{
    uint32_t base, hosts, idx;

    if (f->alias.family)
        return;
    memcpy(&base, ov->subnet.bytes, 4);
    base = g_ntohl(base) & (ov->subnet.prefix ? ~0u << (32 - ov->subnet.prefix) : 0);
    hosts = ov->subnet.prefix >= 31 ? 1 : (1u << (32 - ov->subnet.prefix)) - 2;
    idx = g_str_hash(f->jid) % hosts;
    for (uint32_t tries = 0; tries < hosts; tries++, idx = (idx + 1) % hosts) {
        uint32_t a = g_htonl(base + 1 + idx);
        f->alias.family = AF_INET;
        f->alias.prefix = 32;
        memcpy(f->alias.bytes, &a, 4);
        if (!alias_taken(ov, &f->alias, f))
            return;
    }
    f->alias.family = 0;
    ipop__err(ov->net, "social.subnet has no free address for %s", f->jid);
}

/* The state file: a line per friend: JID, pinned node id, address. */
static void state_save(ipop__overlay *ov)
{
    GString *text = g_string_new("# libipop SocialVPN state: JID, node id pinned at first contact, local address\n");
    GHashTableIter it;
    gpointer v;
    char addr[64], *tmp;

    if (!ov->state_file)
        return;
    g_hash_table_iter_init(&it, ov->friends);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        friend *f = v;
        if (!f->pinned[0])
            continue;
        if (!f->alias.family || ipop__addr_format(&f->alias, addr, sizeof(addr)) < 0)
            g_strlcpy(addr, "-", sizeof(addr));
        g_string_append_printf(text, "%s %s %s\n", f->jid, f->pinned, addr);
    }
    tmp = g_strdup_printf("%s.tmp", ov->state_file);
    if (!g_file_set_contents(tmp, text->str, (gssize)text->len, NULL) || rename(tmp, ov->state_file) < 0)
        ipop__err(ov->net, "cannot write the state file %s", ov->state_file);
    g_free(tmp);
    g_string_free(text, TRUE);
}

static void state_load(ipop__overlay *ov)
{
    gchar *text = NULL, **lines;

    if (!ov->state_file || !g_file_get_contents(ov->state_file, &text, NULL, NULL))
        return;
    lines = g_strsplit(text, "\n", -1);
    for (gchar **l = lines; *l; l++) {
        gchar **w = g_strsplit(*l, " ", 4);
        if (w[0] && w[1] && w[2] && !w[3] && w[0][0] != '#' && strchr(w[0], '@') && ipop__node_id_valid(w[1])) {
            friend *f = friend_get(ov, w[0]);
            ipop__addr a;
            g_strlcpy(f->pinned, w[1], sizeof(f->pinned));
            if (ipop__addr_parse(w[2], &a) == 0 && a.family == AF_INET) {
                a.prefix = 32;
                f->alias = a;
            }
        }
        g_strfreev(w);
    }
    g_strfreev(lines);
    g_free(text);
}

static void social_drop(ipop__overlay *ov, friend *f, const char *why)
{
    ipop_network_t *net = ov->net;
    ipop_link_t *link;

    if (!f->node[0])
        return;
    ipop__info(net, "friend %s: %s", f->jid, why);
    link = ipop_network_get_link(net, f->node);
    g_mutex_lock(&net->lock);
    g_hash_table_remove(net->allowed, f->node);
    g_mutex_unlock(&net->lock);
    if (link)
        ipop__link_shutdown(link, IPOP_REASON_PEER_CLOSED, true);
    f->node[0] = '\0';
    g_clear_pointer(&f->full, g_free);
    f->left_at = 0;
}

static void social_link(ipop__overlay *ov, friend *f)
{
    ipop_network_t *net = ov->net;
    ipop_link_t *link = NULL;
    int state;

    assign_alias(ov, f);
    ipop_network_allow_peer(net, f->node);
    link = ipop_network_get_link(net, f->node);
    state = link ? ipop_link_get_state(link) : IPOP_LINK_NEW;
    if (state != IPOP_LINK_CONNECTING && state != IPOP_LINK_CONNECTED)
        ipop_network_connect(net, f->node, &link);
    if (link)
        ipop__link_set_alias(link, f->alias.family ? &f->alias : NULL, f->jid);
}

static void social_roster(ipop__overlay *ov, xev *e)
{
    friend *f;

    if (!strcmp(e->from, ov->own_bare))
        return;
    f = friend_get(ov, e->from);
    g_free(f->sub);
    f->sub = g_strdup(e->text);
    if (strcmp(f->sub, "both") != 0)
        social_drop(ov, f, "no mutual subscription any more");
    else if (f->node[0])
        social_link(ov, f);
}

static void social_presence(ipop__overlay *ov, xev *e)
{
    ipop_network_t *net = ov->net;
    char *bare = g_strndup(e->from, strcspn(e->from, "/"));
    friend *f = g_hash_table_lookup(ov->friends, bare);
    char detail[200];

    if (!f || strcmp(f->sub, "both") != 0)
        goto out; /* not a friend: nothing to do with us */
    if (!e->available) {
        if (f->full && !strcmp(f->full, e->from) && !f->left_at)
            f->left_at = g_get_monotonic_time();
        goto out;
    }
    if (!e->node || !ipop__node_id_valid(e->node) || !strcmp(e->node, net->node_id))
        goto out; /* a client of the friend's that runs no node */
    if (f->pinned[0] && strcmp(f->pinned, e->node) != 0) {
        g_free(f->pending_full);
        f->pending_full = g_strdup(e->from);
        if (strcmp(f->pending, e->node) != 0) {
            g_strlcpy(f->pending, e->node, sizeof(f->pending));
            snprintf(detail, sizeof(detail), "friend %s has a new node id %.8s (pinned %.8s): refused until accepted",
                     f->jid, e->node, f->pinned);
            ipop__warn(net, "%s", detail);
            __atomic_fetch_add(&net->bad_messages, 1, __ATOMIC_RELAXED);
            ipop__net_emit_simple(net, IPOP_EVENT_PEER_REFUSED, e->node, NULL, IPOP_REASON_IDENTITY_CHANGED,
                                  -EPERM, detail);
        }
        goto out;
    }
    if (!f->pinned[0]) {
        g_strlcpy(f->pinned, e->node, sizeof(f->pinned));
        assign_alias(ov, f);
        state_save(ov);
        ipop__info(net, "friend %s: node id %.8s pinned", f->jid, e->node);
    }
    if (f->node[0] && strcmp(f->node, e->node) != 0)
        social_drop(ov, f, "moved to another node");
    g_free(f->full);
    f->full = g_strdup(e->from);
    g_strlcpy(f->node, e->node, sizeof(f->node));
    f->left_at = 0;
    social_link(ov, f);
out:
    g_free(bare);
}

static void social_signal(ipop__overlay *ov, xev *e)
{
    ipop_network_t *net = ov->net;
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, ov->friends);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        friend *f = v;
        if (f->full && f->node[0] && !strcmp(f->full, e->from) && !strcmp(f->sub, "both")) {
            ipop_network_signal_receive(net, f->node, e->text);
            return;
        }
    }
    refuse_as(net, e->from, IPOP_REASON_PEER_NOT_ALLOWED, "not from a friend's node");
}

static void social_sweep(ipop__overlay *ov)
{
    GHashTableIter it;
    gpointer v;
    gint64 now = g_get_monotonic_time();

    g_hash_table_iter_init(&it, ov->friends);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        friend *f = v;
        if (f->left_at && now - f->left_at >= LEAVE_GRACE_US)
            social_drop(ov, f, "went offline");
        else if (f->node[0] && !f->left_at && !strcmp(f->sub, "both"))
            retry_link(ov->net, f->node, &f->retry, now);
    }
}

int ipop__overlay_accept(ipop_network_t *net, const char *jid)
{
    ipop__overlay *ov = net->ov;
    friend *f;

    if (!ov || !ov->social)
        return -EINVAL;
    f = g_hash_table_lookup(ov->friends, jid);
    if (!f || !f->pending[0])
        return -ENOENT;
    ipop__info(net, "friend %s: new node id %.8s accepted", jid, f->pending);
    g_strlcpy(f->pinned, f->pending, sizeof(f->pinned));
    f->pending[0] = '\0';
    state_save(ov);
    if (f->pending_full && !strcmp(f->sub, "both")) {
        if (f->node[0] && strcmp(f->node, f->pinned) != 0)
            social_drop(ov, f, "moved to another node");
        g_free(f->full);
        f->full = g_steal_pointer(&f->pending_full);
        g_strlcpy(f->node, f->pinned, sizeof(f->node));
        f->left_at = 0;
        social_link(ov, f);
    }
    return 0;
}

int ipop__overlay_peer_info(ipop_network_t *net, const char *peer, char *jid, size_t size)
{
    ipop__overlay *ov = net->ov;
    friend *f = ov && ov->social ? friend_by_node(ov, peer) : NULL;

    if (!f)
        return -ENOENT;
    g_strlcpy(jid, f->jid, size);
    return 0;
}

/* Offers and answers sent while the server was away were lost: links
 * still coming up repeat theirs now rather than at their next resend. */
static void signalling_back(ipop_network_t *net)
{
    GPtrArray *links = g_ptr_array_new();

    g_mutex_lock(&net->lock);
    for (guint i = 0; i < net->link_list->len; i++)
        g_ptr_array_add(links, net->link_list->pdata[i]);
    g_mutex_unlock(&net->lock);
    for (guint i = 0; i < links->len; i++)
        ipop__link_signalling_back(links->pdata[i]);
    g_ptr_array_unref(links);
}

void ipop__overlay_check_server(ipop_network_t *net)
{
    if (net->ov && net->ov->xmpp)
        ipop__xmpp_check(net->ov->xmpp);
}

void ipop__overlay_retry_now(ipop_network_t *net)
{
    ipop__overlay *ov = net->ov;
    GHashTableIter it;
    gpointer v;

    if (!ov)
        return;
    if (ov->social) {
        g_hash_table_iter_init(&it, ov->friends);
        while (g_hash_table_iter_next(&it, NULL, &v))
            ((friend *)v)->retry = (retry){ .at = 1, .backoff_ms = 0 };
    } else {
        g_hash_table_iter_init(&it, ov->members);
        while (g_hash_table_iter_next(&it, NULL, &v))
            ((member *)v)->retry = (retry){ .at = 1, .backoff_ms = 0 };
    }
}

static void handle(ipop_network_t *net, void *p)
{
    ipop__overlay *ov = net->ov;
    xev *e = p;

    if (!ov || !g_atomic_int_get(&net->running))
        return;
    switch (e->type) {
    case IPOP__XMPP_SIGNAL:
        if (ov->social)
            social_signal(ov, e);
        else
            on_signal(ov, e);
        break;
    case IPOP__XMPP_PRESENCE:
        if (ov->social)
            social_presence(ov, e);
        else
            on_presence(ov, e);
        break;
    case IPOP__XMPP_ROSTER:
        if (ov->social)
            social_roster(ov, e);
        break;
    case IPOP__XMPP_ONLINE:
        ipop__info(net, "signalling online");
        ov->online = true;
        ov->gen++;
        ov->online_since = g_get_monotonic_time();
        signalling_back(net);
        break;
    case IPOP__XMPP_OFFLINE:
        if (ov->online)
            ipop__warn(net, "signalling offline (%s); links stay up", e->text ? e->text : "?");
        ov->online = false;
        break;
    case IPOP__XMPP_ROOM_ERROR:
        ipop__err(net, "group room: %s", e->text);
        break;
    case IPOP__XMPP_REFUSED:
        refuse_as(net, e->from ? e->from : "(no sender)", IPOP_REASON_NOT_AUTHENTICATED, e->text);
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

    if (ov->social) {
        friend *f = friend_by_node(ov, peer);
        if (!f || !f->full || ipop__xmpp_send_signal(ov->xmpp, f->full, text, NULL, NULL, NULL) < 0)
            ipop__dbg(net, "no way to reach %.8s now: message not sent", peer);
        return;
    }

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
    ov->members = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    ov->nonces = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    ov->friends = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, friend_free);
    ov->social = net->overlay == OVERLAY_SOCIAL;
    ov->own_bare = g_strdup(net->xmpp_jid);
    if (ov->social) {
        ov->subnet = net->social_subnet;
        ov->state_file = g_strdup(net->social_state_file);
        state_load(ov);
        cfg.node_id = net->node_id;
        cfg.roster = true;
    } else {
        ov->room = g_strdup(net->group_room);
        ipop__group_key(net->group_secret, strlen(net->group_secret), ov->room, ov->key);
    }
    ov->sweep_src = ipop__net_timeout(net, 1000, on_sweep, ov);
    snprintf(resource, sizeof(resource), "ipop-%.12s", net->node_id);
    cfg.resource = resource;
    net->ov = ov;
    r = ipop__xmpp_start(&ov->xmpp, &cfg, on_xmpp, net);
    if (r < 0) {
        ipop__overlay_stop(net);
        return r;
    }
    /* GroupVPN: the nickname is the node id: unique in the room, and who we are. */
    if (!ov->social)
        ipop__xmpp_join_room(ov->xmpp, ov->room, net->node_id, net->node_id);
    return 0;
}

void ipop__overlay_stop(ipop_network_t *net)
{
    ipop__overlay *ov = net->ov;

    if (!ov)
        return;
    if (ov->xmpp)
        ipop__xmpp_stop(ov->xmpp);
    ipop__source_clear(&ov->sweep_src);
    g_hash_table_unref(ov->friends);
    g_free(ov->own_bare);
    g_free(ov->state_file);
    net->ov = NULL;
    g_hash_table_unref(ov->members);
    g_hash_table_unref(ov->nonces);
    gnutls_memset(ov->key, 0, sizeof(ov->key));
    g_free(ov->room);
    g_free(ov);
}
