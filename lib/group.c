/* SPDX-License-Identifier: MIT */
/* GroupVPN over XMPP.  Every node that is in the room and proves that it
 * knows the group secret links with every other.
 *
 * Nothing is spent on an occupant before it proves membership: no link
 * object, ICE agent, candidate, credential or address.  Members first
 * exchange a small proof (proof.h): each sends the other a fresh nonce
 * ("gchal"), and answers the other's nonce with an HMAC under the group
 * key over both nonces, both node ids and the room ("gproof").  The group
 * key is Argon2id of the secret (a few hundred ms, derived once per start
 * in a thread of its own): what an occupant captures lets it test guesses
 * of the secret only at that speed.  The node is in the room while the key
 * is derived: occupants are tracked and their challenges kept, and the
 * group's first challenges and proofs leave once the key is there
 * (ipop__group_key_derived()).  Nothing sent before depends on the
 * secret.  Proof messages are signed signalling
 * like every other (sigauth.h): an occupant cannot speak for another node
 * id.  Once a member proved itself it is allowed, and its link messages
 * are checked by their signatures alone (sigauth.c keeps replays out, per
 * peer).  Unproven occupants are tracked in bounded memory (PENDING_MAX),
 * challenged again with backoff, and what they send wrong is counted and
 * logged at most once a minute each.
 *
 * Where membership is decided: member_proven() (a proof verified) and
 * drop_member() (a member left); an authority plugs in there. */
#include "group.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "addr.h"
#include "authority.h"
#include "bytes.h"
#include "link.h"
#include "log.h"
#include "message.h"
#include "network.h"
#include "peers.h"
#include "proof.h"
#include "retry.h"
#include "sigauth.h"

/* A member that says it left is dropped after this, if we are still online
 * then: a server that shuts down says every occupant left, and links must
 * live through that. */
#define LEAVE_GRACE_US (5 * G_USEC_PER_SEC)
/* After reconnecting, members not seen again within this are gone. */
#define REJOIN_GRACE_US (6 * G_USEC_PER_SEC)
/* A member absent that long at most (its XMPP session dropped and came
 * back) keeps a link that still carries traffic (heard from within it). */
#define ABSENCE_MAX_US (30 * G_USEC_PER_SEC)
/* Occupants tracked before they proved membership. */
#define PENDING_MAX 64
/* An unproven occupant that spoke may be let go for a newcomer after this. */
#define STALE_PENDING_US (10 * G_USEC_PER_SEC)
/* Challenges repeated after 2 s, doubling up to 2 min. */
#define CHAL_FIRST_MS 2000u
#define CHAL_MAX_MS 120000u
/* At most one proof per occupant per second: answers to repeated challenges. */
#define PROOF_GAP_US G_USEC_PER_SEC
/* Refusals of one occupant logged at most once a minute (always counted). */
#define LOG_GAP_US (60 * G_USEC_PER_SEC)

typedef struct member {
    unsigned gen;                /* session generation it was last seen in */
    gint64 left_at;              /* when it said it left, or 0 */
    ipop__retry retry;
    bool proven;                 /* it proved membership: allowed, linked */
    bool spoke;                  /* it sent a valid signed proof message */
    bool have_its;               /* its nonce is known */
    uint8_t mine[IPOP__PROOF_NONCE_LEN]; /* our nonce for it */
    uint8_t its[IPOP__PROOF_NONCE_LEN];  /* its nonce for us */
    gint64 created;              /* monotonic us */
    gint64 next_chal;            /* when to challenge again, unproven */
    guint chal_ms;               /* the backoff */
    gint64 last_proof;           /* when we last sent it our proof */
    gint64 logged_at;            /* when a refusal of it was last logged */
    unsigned unlogged;           /* refusals since, not logged */
} member;

struct ipop__group {
    ipop_network_t *net;
    char node_id[IPOP__NODE_ID_LEN + 1];
    char *room;                  /* room@rooms.example */
    ipop__group_ops ops;
    uint8_t key[IPOP__PROOF_KEY_LEN];
    gint key_state;              /* atomic: 0 deriving, 1 ready, -1 failed */
    char *secret;                /* until the key is derived */
    GThread *kdf;
    GHashTable *members;         /* node id -> member*, proven or pending */
    unsigned pending;            /* members not proven */
    guint64 dropped;             /* occupants not tracked: too many pending */
    gint64 stateless_logged_at;  /* refusals of occupants without state */
    unsigned gen;                /* counts XMPP sessions */
    gint64 online_since;
};

/* ---- pure ---- */

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


/* ---- the group and its key ---- */

/* The group key, in a thread of its own: Argon2id takes about a second and
 * 64 MiB, which the host's loop must not wait for. */
static gpointer derive(gpointer data)
{
    ipop__group *g = data;
    int r = ipop__proof_key(g->secret, strlen(g->secret), g->room, g->key);

    gnutls_memset(g->secret, 0, strlen(g->secret));
    g_atomic_int_set(&g->key_state, r < 0 ? -1 : 1);
    ipop__net_post(g->net, g->ops.key_ready, NULL, NULL);
    return NULL;
}

/* "ipop-authority:" and an authority's public key: what a group of an
 * authority keys its room with (certauth.c), public, so that anyone may
 * compute it: the certificates decide membership there. */
static bool secret_public(const char *secret)
{
    static const char prefix[] = "ipop-authority:";
    ipop__authority_key k;

    return !strncmp(secret, prefix, sizeof(prefix) - 1) &&
           ipop__authority_key_parse(secret + sizeof(prefix) - 1, &k) == 0;
}

ipop__group *ipop__group_new(ipop_network_t *net, const char *node_id, const char *room, const char *secret,
                             const ipop__group_ops *ops)
{
    ipop__group *g = g_new0(ipop__group, 1);
    uint8_t raw[IPOP__PROOF_GEN_RAW];
    bool public = secret_public(secret);

    g->net = net;
    g_strlcpy(g->node_id, node_id, sizeof(g->node_id));
    g->room = g_strdup(room);
    g->ops = *ops;
    g->secret = g_strdup(secret);
    g->members = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    /* Nothing to guess (a generated secret's 256 random bits, or an
     * authority's public key): keyed at once, no Argon2id (proof.h). */
    if (public || ipop__proof_secret_parse(secret, raw)) {
        if (public)
            ipop__proof_key_public(g->secret, g->room, g->key);
        else
            ipop__proof_key_generated(raw, g->room, g->key);
        gnutls_memset(raw, 0, sizeof(raw));
        gnutls_memset(g->secret, 0, strlen(g->secret)); /* kept no longer than derive() keeps it */
        g_atomic_int_set(&g->key_state, 1);
        ipop__net_post(g->net, g->ops.key_ready, NULL, NULL);
        return g;
    }
    g->kdf = g_thread_new("ipop-group-key", derive, g);
    return g;
}

int ipop__group_key_ready(ipop__group *g)
{
    int state = g_atomic_int_get(&g->key_state);

    return state > 0 ? 1 : state < 0 ? -ENOMEM : 0;
}

void ipop__group_free(ipop__group *g)
{
    if (!g)
        return;
    if (g->kdf)
        g_thread_join(g->kdf); /* at most the rest of one derivation */
    g_hash_table_unref(g->members);
    gnutls_memset(g->key, 0, sizeof(g->key));
    g_free(g->secret);
    g_free(g->room);
    g_free(g);
}

/* The occupant's node id, when `from` is room/NODE-ID of our room (the
 * transport names every occupant by the node id its nickname claims). */
static const char *room_peer(ipop__group *g, const char *from)
{
    size_t n = strlen(g->room);
    const char *peer;

    if (strncmp(from, g->room, n) != 0 || from[n] != '/')
        return NULL;
    peer = from + n + 1;
    return ipop__node_id_valid(peer) && strcmp(peer, g->node_id) ? peer : NULL;
}

/* Counted and reported always; logged at most once a minute per occupant
 * (and once every 10 s for occupants we keep nothing of). */
static void refuse(ipop__group *g, member *m, const char *peer, ipop_reason_t reason, const char *why)
{
    gint64 now = g_get_monotonic_time(), *at = m ? &m->logged_at : &g->stateless_logged_at;
    gint64 gap = m ? LOG_GAP_US : 10 * G_USEC_PER_SEC;
    char detail[200];

    snprintf(detail, sizeof(detail), "group: %.16s refused: %s", peer, why);
    ipop__peers_refused_quiet(g->net, peer, IPOP_EVENT_PEER_REFUSED, reason, -EPERM, detail);
    if (*at && now - *at < gap) {
        if (m)
            m->unlogged++;
        return;
    }
    if (m && m->unlogged)
        ipop__warn(g->net, "%s (and %u more refusals of it in the last minute)", detail, m->unlogged);
    else
        ipop__warn(g->net, "%s", detail);
    *at = now;
    if (m)
        m->unlogged = 0;
}

/* ---- membership proofs ---- */

static void send_proof_msg(ipop__group *g, const char *peer, const ipop__proof_msg *pm)
{
    char *buf = g_malloc(IPOP__SIGNAL_MAX + 1);
    int n = ipop__proof_encode(pm, buf, IPOP__SIGNAL_MAX + 1);

    if (n >= 0)
        n = ipop__sigauth_seal(g->net, peer, buf, (size_t)n, IPOP__SIGNAL_MAX + 1);
    if (n >= 0)
        g->ops.send(g->net, peer, buf);
    else
        ipop__err(g->net, "cannot make a membership proof message: %s", ipop_strerror(n));
    g_free(buf);
}

static void send_chal(ipop__group *g, const char *peer, member *m)
{
    ipop__proof_msg pm = { .type = IPOP__PROOF_CHAL };

    g_strlcpy(pm.from, g->node_id, sizeof(pm.from));
    memcpy(pm.mine, m->mine, sizeof(pm.mine));
    send_proof_msg(g, peer, &pm);
}

/* Our proof for its nonce, at most once a second. */
static void send_proof(ipop__group *g, const char *peer, member *m, gint64 now)
{
    ipop__proof_msg pm = { .type = IPOP__PROOF_PROOF };

    if (!m->have_its || (m->last_proof && now - m->last_proof < PROOF_GAP_US) || ipop__group_key_ready(g) <= 0)
        return;
    g_strlcpy(pm.from, g->node_id, sizeof(pm.from));
    memcpy(pm.mine, m->mine, sizeof(pm.mine));
    memcpy(pm.yours, m->its, sizeof(pm.yours));
    ipop__proof_mac(g->key, g->room, g->node_id, peer, m->its, m->mine, pm.mac);
    send_proof_msg(g, peer, &pm);
    m->last_proof = now;
}

/* Makes room for one more unproven occupant: the oldest that never said
 * anything valid goes, or else the oldest that spoke but proved nothing
 * within STALE_PENDING_US.  false when there is none. */
static bool make_room(ipop__group *g)
{
    gint64 now = g_get_monotonic_time(), at = G_MAXINT64, spoke_at = G_MAXINT64;
    const char *oldest = NULL, *oldest_spoke = NULL;
    GHashTableIter it;
    gpointer k, v;

    g_hash_table_iter_init(&it, g->members);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        member *m = v;
        if (!m->proven && !m->spoke && m->created < at) {
            at = m->created;
            oldest = k;
        } else if (!m->proven && m->spoke && m->created < spoke_at && now - m->created >= STALE_PENDING_US) {
            spoke_at = m->created;
            oldest_spoke = k;
        }
    }
    if (!oldest)
        oldest = oldest_spoke; /* spoke, but has not proven anything in that time */
    if (!oldest)
        return false;
    g_hash_table_remove(g->members, oldest);
    g->pending--;
    return true;
}

/* The member state of an occupant, made when there is room. */
static member *track(ipop__group *g, const char *peer, gint64 now)
{
    member *m = g_hash_table_lookup(g->members, peer);

    if (m)
        return m;
    if (g->pending >= PENDING_MAX && !make_room(g)) {
        g->dropped++;
        refuse(g, NULL, peer, IPOP_REASON_NOT_AUTHENTICATED, "too many occupants waiting for a membership proof");
        return NULL;
    }
    m = g_new0(member, 1);
    gnutls_rnd(GNUTLS_RND_NONCE, m->mine, sizeof(m->mine));
    m->created = now;
    m->gen = g->gen;
    m->chal_ms = CHAL_FIRST_MS;
    m->next_chal = now; /* at once */
    g_hash_table_insert(g->members, g_strdup(peer), m);
    g->pending++;
    return m;
}

static void challenge(ipop__group *g, const char *peer, member *m, gint64 now)
{
    if (ipop__group_key_ready(g) <= 0)
        return; /* our proof could not follow: challenged once the key is there */
    send_chal(g, peer, m);
    m->next_chal = now + (gint64)m->chal_ms * 1000;
    m->chal_ms = MIN(m->chal_ms * 2, CHAL_MAX_MS);
}

/* Membership decided: the peer proved the secret.  From here on it is
 * allowed and linked like before. */
static void member_proven(ipop__group *g, const char *peer, member *m)
{
    if (!m->proven) {
        m->proven = true;
        g->pending--;
        ipop__info(g->net, "group member %.8s proved membership", peer);
    }
    if (!m->left_at)
        ipop__peers_connect(g->net, peer, NULL); /* the link cap (link.max) may refuse */
}

static void on_chal(ipop__group *g, const char *peer, member *m, const ipop__proof_msg *pm, gint64 now)
{
    if (!m->have_its || memcmp(m->its, pm->mine, sizeof(m->its))) {
        memcpy(m->its, pm->mine, sizeof(m->its));
        m->have_its = true;
        m->last_proof = 0; /* a new nonce is answered at once */
    }
    send_proof(g, peer, m, now);
}

static void on_proof(ipop__group *g, const char *peer, member *m, const ipop__proof_msg *pm, gint64 now)
{
    uint8_t want[IPOP__PROOF_MAC_LEN];

    if (ipop__group_key_ready(g) <= 0)
        return; /* we challenged nobody yet: it cannot hold our nonce */
    if (memcmp(pm->yours, m->mine, sizeof(m->mine))) {
        ipop__dbg(g->net, "group: %.8s answered an old challenge", peer);
        return; /* crossed with a restart of either side: the next challenge settles it */
    }
    ipop__proof_mac(g->key, g->room, peer, g->node_id, m->mine, pm->mine, want);
    if (gnutls_memcmp(want, pm->mac, sizeof(want))) {
        refuse(g, m, peer, IPOP_REASON_NOT_AUTHENTICATED, "wrong membership proof (another group secret?)");
        return;
    }
    if (!m->have_its || memcmp(m->its, pm->mine, sizeof(m->its))) {
        memcpy(m->its, pm->mine, sizeof(m->its));
        m->have_its = true;
        m->last_proof = 0;
    }
    /* It may link as soon as it has our proof: that goes first, so that its
     * offer never arrives before we allowed it (one pump keeps order). */
    send_proof(g, peer, m, now);
    member_proven(g, peer, m);
}

static void on_proof_message(ipop__group *g, const char *peer, const char *text)
{
    gint64 now = g_get_monotonic_time();
    ipop__proof_msg pm;
    size_t body_len;
    member *m;

    if (ipop__sigauth_check(g->net, peer, text, &body_len) < 0)
        return; /* counted, reported and logged there */
    if (ipop__proof_decode(&pm, text, body_len) < 0 || strcmp(pm.from, peer)) {
        refuse(g, g_hash_table_lookup(g->members, peer), peer, IPOP_REASON_BAD_MESSAGE, "malformed membership proof");
        return;
    }
    m = pm.type == IPOP__PROOF_CHAL ? track(g, peer, now) : g_hash_table_lookup(g->members, peer);
    if (!m) {
        if (pm.type == IPOP__PROOF_PROOF)
            ipop__dbg(g->net, "group: proof from %.8s, which we did not challenge", peer);
        return;
    }
    m->spoke = true;
    if (pm.type == IPOP__PROOF_CHAL)
        on_chal(g, peer, m, &pm, now);
    else
        on_proof(g, peer, m, &pm, now);
}

void ipop__group_signal(ipop__group *g, const char *from, const char *text)
{
    const char *peer = room_peer(g, from);
    member *m;

    if (!peer || ipop__group_key_ready(g) < 0)
        return; /* not from a member of our room (or no key ever): nothing of ours */
    if (ipop__proof_is(text, strlen(text))) {
        on_proof_message(g, peer, text);
        return;
    }
    m = g_hash_table_lookup(g->members, peer);
    if (!m || !m->proven) {
        refuse(g, m, peer, IPOP_REASON_NOT_AUTHENTICATED, "signalling before a membership proof");
        return;
    }
    ipop__peers_signal(g->net, peer, text);
}

/* ---- membership ---- */

void ipop__group_online(ipop__group *g, gint64 now)
{
    g->gen++;
    g->online_since = now;
}

void ipop__group_presence(ipop__group *g, const char *from, bool available)
{
    const char *peer = room_peer(g, from);
    gint64 now = g_get_monotonic_time();
    member *m;

    if (!peer || ipop__group_key_ready(g) < 0)
        return;
    m = g_hash_table_lookup(g->members, peer);
    if (!available) {
        if (m && !m->proven) {
            g_hash_table_remove(g->members, peer); /* nothing was spent on it */
            g->pending--;
        } else if (m && !m->left_at) {
            m->left_at = now;
        }
        return;
    }
    if (!m) {
        m = track(g, peer, now);
        if (!m)
            return;
        ipop__info(g->net, "group occupant %.8s is present: asking for a membership proof", peer);
    }
    m->gen = g->gen;
    m->left_at = 0;
    if (m->proven)
        ipop__peers_connect(g->net, peer, NULL); /* a link connected or connecting is left as it is */
    else if (now >= m->next_chal)
        challenge(g, peer, m, now);
}

/* Membership ends: the member left. */
static void drop_member(ipop__group *g, const char *peer)
{
    ipop_link_t *link = ipop__peers_link(g->net, peer);

    ipop__info(g->net, "group member %.8s left", peer);
    ipop__peers_disallow(g->net, peer);
    if (link)
        ipop__link_shutdown(link, IPOP_REASON_PEER_CLOSED, true);
}

void ipop__group_key_derived(ipop__group *g)
{
    gint64 now = g_get_monotonic_time();
    GHashTableIter it;
    gpointer k, v;

    if (ipop__group_key_ready(g) <= 0)
        return;
    g_hash_table_iter_init(&it, g->members);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        member *m = v;
        if (m->proven)
            continue;
        send_proof(g, k, m, now); /* to a challenge that came while deriving */
        if (!m->left_at)
            challenge(g, k, m, now);
    }
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
        if (gone && m->proven && now - (m->left_at ? m->left_at : g->online_since) < ABSENCE_MAX_US &&
            ipop__retry_link_live(g->net, k, now, ABSENCE_MAX_US))
            continue; /* a brief absence: the link lives on (doc/scale.md) */
        if (gone && m->proven) {
            drop_member(g, k);
            g_hash_table_iter_remove(&it);
        } else if (gone) {
            g->pending--;
            g_hash_table_iter_remove(&it);
        } else if (m->proven && !m->left_at) {
            ipop__retry_link(g->net, k, &m->retry, now);
        } else if (!m->proven && now >= m->next_chal) {
            challenge(g, k, m, now);
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

void ipop__group_counts(ipop__group *g, unsigned *proven, unsigned *pending, guint64 *dropped)
{
    *proven = g_hash_table_size(g->members) - g->pending;
    *pending = g->pending;
    *dropped = g->dropped;
}
