/* SPDX-License-Identifier: MIT */
/* GroupVPN over XMPP.  Every node that is in the room and proves that it
 * knows the group secret links with every other.  The XMPP server relays
 * and may drop messages, but cannot forge one: each signalling message
 * carries an HMAC under a key derived from the secret, bound to the room,
 * both node ids, a timestamp and a nonce (replays are refused). */
#include "group.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "addr.h"
#include "bytes.h"
#include "link.h"
#include "log.h"
#include "message.h"
#include "network.h"
#include "peers.h"
#include "retry.h"

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
    ipop__retry retry;
} member;

struct ipop__group {
    ipop_network_t *net;
    char node_id[IPOP__NODE_ID_LEN + 1];
    char *room;                  /* room@rooms.example */
    uint8_t key[32];
    GHashTable *members;         /* node id -> member* */
    GHashTable *nonces;          /* nonce -> expiry (monotonic s) */
    unsigned gen;                /* counts XMPP sessions */
    gint64 online_since;
};

/* ---- pure ---- */

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
        base = ipop__get32(subnet->bytes) & (host_bits >= 32 ? 0 : ~0u << host_bits);
        idx = ipop__get32(h) % (hosts ? hosts : 1);
        ipop__put32(out->bytes, base + 1 + idx); /* neither the network nor the broadcast address */
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

/* ---- the group ---- */

ipop__group *ipop__group_new(ipop_network_t *net, const char *node_id, const char *room, const char *secret)
{
    ipop__group *g = g_new0(ipop__group, 1);

    g->net = net;
    g_strlcpy(g->node_id, node_id, sizeof(g->node_id));
    g->room = g_strdup(room);
    ipop__group_key(secret, strlen(secret), g->room, g->key);
    g->members = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g->nonces = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return g;
}

void ipop__group_free(ipop__group *g)
{
    if (!g)
        return;
    g_hash_table_unref(g->members);
    g_hash_table_unref(g->nonces);
    gnutls_memset(g->key, 0, sizeof(g->key));
    g_free(g->room);
    g_free(g);
}

/* The occupant's nickname, when `from` is room/nick of our room. */
static const char *room_nick(ipop__group *g, const char *from)
{
    size_t n = strlen(g->room);

    if (strncmp(from, g->room, n) != 0 || from[n] != '/')
        return NULL;
    return from + n + 1;
}

static void refuse(ipop__group *g, const char *peer, const char *why)
{
    char detail[200];

    snprintf(detail, sizeof(detail), "message from %.40s refused: %s", peer, why);
    ipop__peers_refused(g->net, peer, IPOP_EVENT_PEER_REFUSED, IPOP_REASON_NOT_AUTHENTICATED, -EPERM, detail);
}

static bool fresh_nonce(ipop__group *g, const char *nonce)
{
    gint64 now = g_get_monotonic_time() / G_USEC_PER_SEC;
    GHashTableIter it;
    gpointer k, v;

    if (g_hash_table_contains(g->nonces, nonce))
        return false;
    if (g_hash_table_size(g->nonces) >= REPLAY_MAX) {
        g_hash_table_iter_init(&it, g->nonces);
        while (g_hash_table_iter_next(&it, &k, &v))
            if (GPOINTER_TO_SIZE(v) < (gsize)now)
                g_hash_table_iter_remove(&it);
        if (g_hash_table_size(g->nonces) >= REPLAY_MAX)
            return false; /* a flood of fresh nonces: refuse rather than forget */
    }
    g_hash_table_insert(g->nonces, g_strdup(nonce), GSIZE_TO_POINTER((gsize)(now + 2 * MAX_SKEW_S)));
    return true;
}

void ipop__group_signal(ipop__group *g, const char *from, const char *text, const char *ts_text, const char *nonce,
                        const char *mac)
{
    const char *peer = room_nick(g, from);
    char want[65];
    gint64 ts, now = g_get_real_time() / G_USEC_PER_SEC;

    if (!peer || !ipop__node_id_valid(peer))
        return; /* not from a member of our room: nothing of ours */
    if (!ts_text || !nonce || !mac || strlen(nonce) != 16 || strlen(mac) != 64) {
        refuse(g, peer, "not authenticated");
        return;
    }
    ipop__group_mac(g->key, g->room, peer, g->node_id, ts_text, nonce, text, want);
    if (gnutls_memcmp(want, mac, 64) != 0) {
        refuse(g, peer, "wrong group authentication (another secret?)");
        return;
    }
    ts = g_ascii_strtoll(ts_text, NULL, 10);
    if (ts < now - MAX_SKEW_S || ts > now + MAX_SKEW_S) {
        refuse(g, peer, "stale or future timestamp");
        return;
    }
    if (!fresh_nonce(g, nonce)) {
        refuse(g, peer, "replayed");
        return;
    }
    ipop__peers_signal(g->net, peer, text);
}

char *ipop__group_seal(ipop__group *g, const char *peer, const char *text, char ts[24], char nonce[17],
                       char mac[65])
{
    uint8_t rnd[8];

    gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd));
    hex(rnd, sizeof(rnd), nonce);
    snprintf(ts, 24, "%" G_GINT64_FORMAT, g_get_real_time() / G_USEC_PER_SEC);
    ipop__group_mac(g->key, g->room, g->node_id, peer, ts, nonce, text, mac);
    return g_strdup_printf("%s/%s", g->room, peer);
}

/* ---- membership ---- */

void ipop__group_online(ipop__group *g, gint64 now)
{
    g->gen++;
    g->online_since = now;
}

void ipop__group_presence(ipop__group *g, const char *from, bool available)
{
    const char *peer = room_nick(g, from);
    member *m;

    if (!peer || !ipop__node_id_valid(peer) || !strcmp(peer, g->node_id))
        return;
    m = g_hash_table_lookup(g->members, peer);
    if (!available) {
        if (m && !m->left_at)
            m->left_at = g_get_monotonic_time();
        return;
    }
    if (!m) {
        m = g_new0(member, 1);
        g_hash_table_insert(g->members, g_strdup(peer), m);
        ipop__info(g->net, "group member %.8s is present", peer);
    }
    m->gen = g->gen;
    m->left_at = 0;
    /* Both sides open (the link settles crossing offers), so that each
     * side hears from the other and can refuse one without the secret.
     * A link connected or connecting is left as it is. */
    ipop__peers_connect(g->net, peer, NULL);
}

static void drop_member(ipop__group *g, const char *peer)
{
    ipop_link_t *link = ipop__peers_link(g->net, peer);

    ipop__info(g->net, "group member %.8s left", peer);
    ipop__peers_disallow(g->net, peer);
    if (link)
        ipop__link_shutdown(link, IPOP_REASON_PEER_CLOSED, true);
}

void ipop__group_sweep(ipop__group *g, gint64 now)
{
    GHashTableIter it;
    gpointer k, v;

    g_hash_table_iter_init(&it, g->members);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        member *m = v;
        bool gone = (m->left_at && now - m->left_at >= LEAVE_GRACE_US) ||
                    (m->gen != g->gen && now - g->online_since >= REJOIN_GRACE_US);
        if (gone) {
            drop_member(g, k);
            g_hash_table_iter_remove(&it);
        } else if (!m->left_at) {
            ipop__retry_link(g->net, k, &m->retry, now);
        }
    }
}

void ipop__group_retry_now(ipop__group *g)
{
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, g->members);
    while (g_hash_table_iter_next(&it, NULL, &v))
        ipop__retry_soon(&((member *)v)->retry);
}
