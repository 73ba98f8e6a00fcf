/* SPDX-License-Identifier: MIT */
/* GroupVPN member relay.
 *
 * Every member tells each member it is linked with, over that link (DTLS,
 * certificates pinned), which members it is linked with: a list in PEERS
 * frames of up to 128 ids each, whenever that set changes (changes within
 * a tick, a second, go together), and once more ANNOUNCE_AGAIN_US later,
 * as a frame may be lost; never on a schedule of its own, so that idle
 * links stay quiet (doc/scale.md).  A receiver keeps of a list only the
 * ids of members it knows, sorted, for as long as the link is up.  When the direct link to
 * member X is down (ICE failed, timed out, or is being tried again), a
 * packet for X goes in a RELAY frame to a member Y that said it is linked
 * with X (of those, the one that X picks too: ipop__relay_pick); Y sends it
 * on to X in a RELAYED frame that names the origin, which Y takes from the
 * link the packet came on, never from the frame.  X delivers a RELAYED
 * frame only from the member it relays through for that origin, or picks
 * for it: any other member could name any origin.  A RELAYED frame is
 * only ever delivered, so a packet makes at most one extra hop, and X
 * checks its source against the origin's signalled addresses as it would
 * on a direct link.  The direct link keeps being tried (overlay.c); once it is up,
 * packets take it again. */
#include <errno.h>
#include <string.h>

#include "addr.h"
#include "admit.h"
#include "bytes.h"
#include "dtls.h"
#include "forward.h"
#include "frame.h"
#include "link.h"
#include "log.h"
#include "network.h"
#include "peers.h"
#include "relay.h"

#define ANNOUNCE_AGAIN_US (2 * G_USEC_PER_SEC) /* a changed list is sent twice, this far apart */
/* A link that is still being set up for the first time gets this long
 * before packets go around it (a failed one is gone around at once). */
#define RELAY_AFTER_US (5 * G_USEC_PER_SEC)

/* What this node knows of a peer, for relaying.  Loop thread only, except
 * `id`, which never changes once the peer is known. */
typedef struct ipop__relay_peer {
    gint64 key;                  /* the id as a number: the by_id key */
    uint8_t id[IPOP__SHORT_ID_LEN];
    uint8_t *reach;              /* its last whole list: the ids known here, sorted */
    unsigned n_reach;
    gint64 reach_at;             /* when that came, or 0 */
    uint8_t *pend;               /* the list its pages are making */
    unsigned pend_n, pend_next, pend_total; /* ids kept, the next page's first, the list's length */
    bool pend_ok;                /* pages came in order so far */
    gint64 down_since;           /* since when its direct link is not up, or 0 */
    ipop_link_t *pick;           /* the member both ends pick to relay between us, while the direct link is down */
    bool member;                 /* still in the group (allowed) */
} ipop__relay_peer;

struct ipop__relay {
    ipop__fwd *fwd;              /* addresses of peers reached through another member */
    GHashTable *peers;           /* ipop_link_t* -> ipop__relay_peer* */
    GHashTable *by_id;           /* &peer->key -> ipop_link_t* */
    guint scanned;               /* the network's first links (they only grow in number) known here */
    uint8_t *announced;          /* the list last sent, sorted */
    unsigned n_announced;
    gint64 announced_at;
    bool again;                  /* the list goes once more at announced_at + ANNOUNCE_AGAIN_US */
    uint8_t self[IPOP__SHORT_ID_LEN]; /* this node's short id, once known */
    bool self_known;
    guint64 relayed, drops;      /* atomics */
};

static void peer_free(gpointer data)
{
    ipop__relay_peer *p = data;

    g_free(p->reach);
    g_free(p->pend);
    g_free(p);
}

ipop__relay *ipop__relay_new(void)
{
    ipop__relay *r = g_new0(ipop__relay, 1);

    r->fwd = ipop__fwd_new();
    r->peers = g_hash_table_new_full(NULL, NULL, NULL, peer_free);
    r->by_id = g_hash_table_new(g_int64_hash, g_int64_equal);
    return r;
}

void ipop__relay_free(ipop__relay *r)
{
    if (!r)
        return;
    ipop__fwd_free(r->fwd);
    g_hash_table_unref(r->by_id);
    g_hash_table_unref(r->peers);
    g_free(r->announced);
    g_free(r);
}

static ipop__relay_peer *peer_of(ipop__relay *r, ipop_link_t *link)
{
    ipop__relay_peer *p = g_hash_table_lookup(r->peers, link);

    if (p)
        return p;
    p = g_new0(ipop__relay_peer, 1);
    if (ipop__short_id(link->peer_id, p->id) < 0) {
        g_free(p);
        return NULL;
    }
    p->key = (gint64)ipop__get64(p->id);
    g_hash_table_insert(r->peers, link, p);
    /* Two members with the same 64-bit prefix: neither is relayed by id. */
    if (g_hash_table_contains(r->by_id, &p->key))
        g_hash_table_replace(r->by_id, &p->key, NULL);
    else
        g_hash_table_insert(r->by_id, &p->key, link);
    link->relay = p;
    return p;
}

static ipop_link_t *link_by_id(ipop_network_t *net, const uint8_t id[IPOP__SHORT_ID_LEN])
{
    ipop__relay *r = net->relay;
    gint64 key = (gint64)ipop__get64(id);
    gpointer found;

    if (!g_hash_table_lookup_extended(r->by_id, &key, NULL, &found)) {
        /* Perhaps a link made since the last tick: learn the new ones
         * only, so that frames naming nobody cost no scan of every link. */
        GPtrArray *fresh = ipop__peers_links_since(net, r->scanned);
        r->scanned += fresh->len;
        for (guint i = 0; i < fresh->len; i++)
            peer_of(r, fresh->pdata[i]);
        g_ptr_array_unref(fresh);
        found = g_hash_table_lookup(r->by_id, &key);
    }
    return found;
}

static bool connected(ipop_link_t *link)
{
    return g_atomic_int_get(&link->state) == IPOP_LINK_CONNECTED;
}

/* ---- the data path (any thread) ---- */

ipop_link_t *ipop__relay_lookup(ipop_network_t *net, const ipop__addr *dst)
{
    return net->relay ? ipop__fwd_lookup_ip(net->relay->fwd, dst) : NULL;
}

ipop_link_t *ipop__relay_via(ipop_link_t *link)
{
    if (connected(link))
        return NULL;
    return g_atomic_pointer_get(&link->via);
}

int ipop__relay_send(ipop_link_t *link, const uint8_t *pkt, size_t len)
{
    ipop_link_t *via = g_atomic_pointer_get(&link->via);
    uint8_t rec[REC_MAX];
    int n;

    /* link->relay is set before via ever is, and never changes. */
    n = via ? ipop__frame_put_relay(rec, sizeof(rec), IPOP__FRAME_RELAY, link->relay->id, pkt, len) : -ENOTCONN;
    if (n > 0)
        n = ipop__dtls_send_record(via, rec, (size_t)n);
    if (n < 0) {
        __atomic_fetch_add(&link->tx_drops, 1, __ATOMIC_RELAXED);
        return n;
    }
    __atomic_fetch_add(&link->tx_packets, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&link->tx_bytes, len, __ATOMIC_RELAXED);
    return 0;
}

void ipop__relay_totals(ipop_network_t *net, uint64_t *relayed, uint64_t *drops)
{
    *relayed = net->relay ? __atomic_load_n(&net->relay->relayed, __ATOMIC_RELAXED) : 0;
    *drops = net->relay ? __atomic_load_n(&net->relay->drops, __ATOMIC_RELAXED) : 0;
}

/* ---- frames (loop thread) ---- */

/* As the relay: a packet from `from` for the member the frame names. */
static void forward(ipop_network_t *net, ipop_link_t *from, const ipop__relay_peer *fp, const ipop__frame *f)
{
    ipop_link_t *to = link_by_id(net, f->id);
    uint8_t rec[REC_MAX];
    int n = -EHOSTUNREACH;

    if (to && to != from && connected(to))
        n = ipop__frame_put_relay(rec, sizeof(rec), IPOP__FRAME_RELAYED, fp->id, f->payload, f->payload_len);
    if (n > 0)
        n = ipop__dtls_send_record(to, rec, (size_t)n);
    if (n < 0) {
        __atomic_fetch_add(&from->relay_drops, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&net->relay->drops, 1, __ATOMIC_RELAXED);
        ipop__dbg(net, "cannot relay a packet from %.8s: %s", from->peer_id, to ? ipop_strerror(n) : "unknown destination");
        return;
    }
    __atomic_fetch_add(&from->relayed_packets, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&net->relay->relayed, 1, __ATOMIC_RELAXED);
}

/* As the destination: a packet that `from` relayed from the origin the
 * frame names.  Taken only from the member this node relays through to
 * reach the origin (while the direct link is down, or was until a moment
 * ago), or the one both pick now (the origin may have gone around first):
 * any other member could name any origin.  The origin's link, or NULL. */
static ipop_link_t *arrive(ipop_network_t *net, ipop_link_t *from, const ipop__relay_peer *fp, const ipop__frame *f)
{
    ipop_link_t *origin = link_by_id(net, f->id), *via;
    ipop__relay_peer *op = origin ? peer_of(net->relay, origin) : NULL;

    if (!origin || origin == from || !op || !op->member) {
        __atomic_fetch_add(&from->rx_drops, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    via = g_atomic_pointer_get(&origin->via);
    if (ipop__relayed_admit(fp->id, via ? via->relay->id : NULL, op->pick ? op->pick->relay->id : NULL) !=
        IPOP__RELAYED_DELIVER) {
        __atomic_fetch_add(&from->rx_drops, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&net->relay_refused, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    return origin;
}

static void peers_page(ipop_network_t *net, ipop__relay_peer *p, const ipop__frame *f);

ipop_link_t *ipop__relay_input(ipop_link_t *link, const ipop__frame *f)
{
    ipop_network_t *net = link->net;
    ipop__relay_peer *p;

    p = net->overlay == OVERLAY_GROUP && net->relay ? peer_of(net->relay, link) : NULL;
    if (!p) {
        if (f->type != IPOP__FRAME_PEERS) /* nothing to relay outside a group */
            __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    switch (f->type) {
    case IPOP__FRAME_PEERS:
        peers_page(net, p, f);
        break;
    case IPOP__FRAME_RELAY:
        forward(net, link, p, f);
        break;
    case IPOP__FRAME_RELAYED:
        return arrive(net, link, p, f);
    }
    return NULL;
}

/* ---- lists of peers (loop thread) ---- */

static int id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, IPOP__SHORT_ID_LEN);
}

/* One page of a peer's list: kept when it follows the pages before it (a
 * first page starts a list), the ids of members unknown here left out, so
 * a list costs at most what this node knows; the last page makes it the
 * peer's list. */
static void peers_page(ipop_network_t *net, ipop__relay_peer *p, const ipop__frame *f)
{
    if (f->first == 0) {
        p->pend_ok = true;
        p->pend_n = 0;
        p->pend_total = f->total;
    } else if (!p->pend_ok || f->first != p->pend_next || f->total != p->pend_total) {
        p->pend_ok = false; /* a page lost or out of order: the list comes again */
        return;
    }
    p->pend_next = f->first + f->n_ids;
    for (unsigned i = 0; i < f->n_ids; i++) {
        const uint8_t *id = f->ids + (size_t)i * IPOP__SHORT_ID_LEN;
        if (!link_by_id(net, id))
            continue;
        if (p->pend_n % 64 == 0)
            p->pend = g_realloc(p->pend, ((size_t)p->pend_n + 64) * IPOP__SHORT_ID_LEN);
        memcpy(p->pend + (size_t)p->pend_n++ * IPOP__SHORT_ID_LEN, id, IPOP__SHORT_ID_LEN);
    }
    if (p->pend_next < p->pend_total)
        return;
    if (p->pend_n)
        qsort(p->pend, p->pend_n, IPOP__SHORT_ID_LEN, id_cmp); /* (pend is NULL when none is known) */
    g_free(p->reach);
    p->reach = p->pend;
    p->n_reach = p->pend_n;
    p->reach_at = g_get_monotonic_time();
    p->pend = NULL;
    p->pend_n = 0;
    p->pend_ok = false;
}

/* ---- choosing relays (loop thread) ---- */

/* Whether `via` said, lately, that it is linked with `target`. */
static bool can_relay(ipop__relay *r, ipop_link_t *via, const ipop__relay_peer *target, gint64 now)
{
    ipop__relay_peer *vp = g_hash_table_lookup(r->peers, via);

    (void)now;
    if (!vp || !connected(via) || !vp->member || !vp->reach_at || !vp->n_reach)
        return false;
    return bsearch(target->id, vp->reach, vp->n_reach, IPOP__SHORT_ID_LEN, id_cmp) != NULL;
}

static void set_via(ipop_network_t *net, ipop_link_t *link, ipop_link_t *via)
{
    ipop_link_t *old = g_atomic_pointer_get(&link->via);

    if (via) {
        /* Refreshed each time: the peer's addresses may have changed. */
        if (link->raddr4.family)
            ipop__fwd_add_ip(net->relay->fwd, &link->raddr4, link);
        if (link->raddr6.family)
            ipop__fwd_add_ip(net->relay->fwd, &link->raddr6, link);
    }
    if (old == via)
        return;
    g_atomic_pointer_set(&link->via, via);
    if (!via)
        ipop__fwd_remove_owner(net->relay->fwd, link);
    if (via)
        ipop__info(net, "packets to %.8s go through member %.8s", link->peer_id, via->peer_id);
    else if (connected(link))
        ipop__info(net, "packets to %.8s take the direct link again", link->peer_id);
    else
        ipop__info(net, "no member relays to %.8s any more", link->peer_id);
}

/* The member that relays between this node and p's: of those that said
 * they are linked with it, the one that p's node picks too (it sees the
 * same members, which told it the same), so that each end takes the
 * other's packets from the member it sends through.  `ids` and `cands`
 * have room for every link. */
static ipop_link_t *pick(ipop__relay *r, GPtrArray *links, ipop_link_t *link, const ipop__relay_peer *p,
                         uint8_t *ids, ipop_link_t **cands, gint64 now)
{
    unsigned n = 0;
    int best;

    for (guint i = 0; i < links->len; i++) {
        ipop_link_t *cand = links->pdata[i];
        if (cand != link && can_relay(r, cand, p, now)) {
            memcpy(ids + (size_t)n * IPOP__SHORT_ID_LEN, cand->relay->id, IPOP__SHORT_ID_LEN);
            cands[n++] = cand;
        }
    }
    best = ipop__relay_pick(r->self, p->id, ids, n);
    return best < 0 ? NULL : cands[best];
}

static void choose(ipop_network_t *net, GPtrArray *links, ipop_link_t *link, ipop__relay_peer *p, uint8_t *ids,
                   ipop_link_t **cands, gint64 now)
{
    int state = g_atomic_int_get(&link->state);
    ipop_link_t *via = g_atomic_pointer_get(&link->via);

    /* (a link this host closed stays closed: it is not gone around either) */
    if (state == IPOP_LINK_CONNECTED || state == IPOP_LINK_NEW || !p->member ||
        (state == IPOP_LINK_CLOSED && g_atomic_int_get(&link->reason) == IPOP_REASON_LOCAL_CLOSED) ||
        (!link->raddr4.family && !link->raddr6.family)) {
        p->down_since = 0;
        p->pick = NULL;
        set_via(net, link, NULL);
        return;
    }
    if (!p->down_since)
        p->down_since = now;
    /* Picked at once (the peer may have gone around already: its packets
     * come through the pick), gone around after a while. */
    p->pick = pick(net->relay, links, link, p, ids, cands, now);
    if (!via && state == IPOP_LINK_CONNECTING && now - p->down_since < RELAY_AFTER_US)
        return;
    set_via(net, link, p->pick);
}

/* The list, in pages, to every linked member. */
static void send_list(GPtrArray *links, const uint8_t *ids, unsigned n)
{
    uint8_t rec[IPOP__FRAME_PEERS_HDR + IPOP__FRAME_PEERS_MAX * IPOP__SHORT_ID_LEN];
    unsigned first = 0;

    do {
        unsigned k = MIN(n - first, (unsigned)IPOP__FRAME_PEERS_MAX);
        int len = ipop__frame_put_peers(rec, sizeof(rec), ids + (size_t)first * IPOP__SHORT_ID_LEN, k, first, n);
        for (guint i = 0; len > 0 && i < links->len; i++)
            if (connected(links->pdata[i]))
                ipop__dtls_send_record(links->pdata[i], rec, (size_t)len);
        first += k;
    } while (first < n);
}

/* PEERS to every linked member when the set changed, and once more a
 * little later (a frame may be lost). */
static void announce(ipop_network_t *net, GPtrArray *links, gint64 now)
{
    ipop__relay *r = net->relay;
    uint8_t *ids = g_malloc(((size_t)links->len + 1) * IPOP__SHORT_ID_LEN);
    unsigned n = 0;

    for (guint i = 0; i < links->len && n < IPOP__FRAME_PEERS_TOTAL_MAX; i++) {
        ipop_link_t *l = links->pdata[i];
        if (connected(l) && l->relay)
            memcpy(ids + (size_t)n++ * IPOP__SHORT_ID_LEN, l->relay->id, IPOP__SHORT_ID_LEN);
    }
    qsort(ids, n, IPOP__SHORT_ID_LEN, id_cmp);
    if (r->announced_at && n == r->n_announced &&
        (n == 0 || !memcmp(ids, r->announced, (size_t)n * IPOP__SHORT_ID_LEN))) {
        if (r->again && now - r->announced_at >= ANNOUNCE_AGAIN_US) {
            r->again = false;
            send_list(links, ids, n);
        }
        g_free(ids);
        return;
    }
    g_free(r->announced);
    r->announced = ids;
    r->n_announced = n;
    r->announced_at = now;
    r->again = true;
    send_list(links, ids, n);
}

void ipop__relay_tick(ipop_network_t *net)
{
    GPtrArray *links;
    gint64 now = g_get_monotonic_time();
    uint8_t *ids;
    ipop_link_t **cands;

    if (!net->relay)
        return;
    if (!net->relay->self_known)
        net->relay->self_known = ipop__short_id(net->node_id, net->relay->self) == 0;
    if (!net->relay->self_known)
        return;
    links = ipop__peers_links(net);
    ids = g_malloc((links->len + 1) * IPOP__SHORT_ID_LEN);
    cands = g_new(ipop_link_t *, links->len + 1);
    for (guint i = 0; i < links->len; i++) {
        ipop_link_t *l = links->pdata[i];
        ipop__relay_peer *p = peer_of(net->relay, l);
        if (p)
            p->member = ipop__peers_allowed(net, l->peer_id);
        if (p && !connected(l) && p->reach_at) {
            p->n_reach = 0; /* its list is told again once the link is back */
            p->reach_at = 0;
        }
    }
    for (guint i = 0; i < links->len; i++)
        if (((ipop_link_t *)links->pdata[i])->relay)
            choose(net, links, links->pdata[i], ((ipop_link_t *)links->pdata[i])->relay, ids, cands, now);
    announce(net, links, now);
    g_free(ids);
    g_free(cands);
    g_ptr_array_unref(links);
}

void ipop__relay_reset(ipop_network_t *net)
{
    GPtrArray *links;
    GHashTableIter it;
    gpointer v;

    if (!net->relay)
        return;
    links = ipop__peers_links(net);
    for (guint i = 0; i < links->len; i++)
        set_via(net, links->pdata[i], NULL);
    g_ptr_array_unref(links);
    g_hash_table_iter_init(&it, net->relay->peers);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        ipop__relay_peer *p = v;
        p->n_reach = 0;
        p->reach_at = p->down_since = 0;
        p->pick = NULL;
    }
    net->relay->n_announced = 0;
    net->relay->announced_at = 0;
}
