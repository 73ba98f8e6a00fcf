/* SPDX-License-Identifier: MIT */
/* Subnet routes (routes.h): the table of accepted routes, and the glue
 * with the network and its device (the parser is in route.c).
 *
 * The table is a flat array scanned in full: it holds at most
 * IPOP__ROUTES_TOTAL_MAX routes, and it is asked only for packets that
 * no member's own address matched (tx) or whose source is not their
 * peer's (rx); an empty table answers without its lock. */
#include "routes.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <glib.h>

#include "link.h"
#include "log.h"
#include "message.h"
#include "network.h"
#include "rtnl.h"

G_STATIC_ASSERT(IPOP__SIGNAL_ROUTES_MAX == IPOP_ROUTES_MAX);


/* ---- the table ---- */

typedef struct entry {
    ipop__addr prefix;
    void *owner;
    char owner_id[IPOP__NODE_ID_LEN + 1];
} entry;

struct ipop__rtab {
    GRWLock lock;
    unsigned per_owner, total;
    unsigned n;        /* written under the lock, read without it (atomic) */
    entry *e;          /* total of them */
};

ipop__rtab *ipop__rtab_new(unsigned per_owner, unsigned total)
{
    ipop__rtab *t = g_try_new0(ipop__rtab, 1);

    if (!t)
        return NULL;
    t->e = g_try_new0(entry, total ? total : 1);
    if (!t->e) {
        g_free(t);
        return NULL;
    }
    g_rw_lock_init(&t->lock);
    t->per_owner = per_owner;
    t->total = total;
    return t;
}

void ipop__rtab_free(ipop__rtab *t)
{
    if (!t)
        return;
    g_rw_lock_clear(&t->lock);
    g_free(t->e);
    g_free(t);
}

/* Whether entry a wins over b for an address both hold. */
static bool wins(const entry *a, const entry *b)
{
    if (a->prefix.prefix != b->prefix.prefix)
        return a->prefix.prefix > b->prefix.prefix;
    return strcmp(a->owner_id, b->owner_id) < 0;
}

int ipop__rtab_add(ipop__rtab *t, void *owner, const char *owner_id, const ipop__addr *prefix, char *rival)
{
    const entry *best_rival = NULL;
    unsigned mine = 0;
    int r;

    if (!t || !owner || !owner_id || !prefix || !ipop__prefix_bits(prefix->family))
        return -EINVAL;
    g_rw_lock_writer_lock(&t->lock);
    for (unsigned i = 0; i < t->n; i++) {
        const entry *x = &t->e[i];
        if (x->owner == owner) {
            mine++;
            if (ipop__prefix_same(&x->prefix, prefix)) {
                r = -EEXIST;
                goto out;
            }
        } else if (ipop__prefix_same(&x->prefix, prefix) && (!best_rival || strcmp(x->owner_id, best_rival->owner_id) < 0)) {
            best_rival = x;
        }
    }
    if (mine >= t->per_owner || t->n >= t->total) {
        r = -ENOSPC;
        goto out;
    }
    if (best_rival && rival)
        g_strlcpy(rival, best_rival->owner_id, IPOP__NODE_ID_LEN + 1);
    t->e[t->n].prefix = *prefix;
    t->e[t->n].owner = owner;
    g_strlcpy(t->e[t->n].owner_id, owner_id, sizeof(t->e[t->n].owner_id));
    __atomic_store_n(&t->n, t->n + 1, __ATOMIC_RELEASE);
    r = best_rival ? 0 : 1;
out:
    g_rw_lock_writer_unlock(&t->lock);
    return r;
}

unsigned ipop__rtab_remove_owner(ipop__rtab *t, void *owner, ipop__addr *gone, unsigned max)
{
    unsigned kept = 0, n_gone = 0;
    ipop__addr removed[IPOP__ROUTES_MAX];
    unsigned n_removed = 0;

    if (!t || !owner)
        return 0;
    g_rw_lock_writer_lock(&t->lock);
    for (unsigned i = 0; i < t->n; i++) {
        if (t->e[i].owner == owner) {
            if (n_removed < G_N_ELEMENTS(removed))
                removed[n_removed++] = t->e[i].prefix;
            continue;
        }
        t->e[kept++] = t->e[i];
    }
    __atomic_store_n(&t->n, kept, __ATOMIC_RELEASE);
    for (unsigned k = 0; k < n_removed; k++) {
        bool still = false;
        for (unsigned i = 0; i < kept && !still; i++)
            still = ipop__prefix_same(&t->e[i].prefix, &removed[k]);
        if (!still && n_gone < max)
            gone[n_gone++] = removed[k];
    }
    g_rw_lock_writer_unlock(&t->lock);
    return n_gone;
}

/* Under the lock: the entry that wins for address a, or NULL. */
static const entry *best_for(const ipop__rtab *t, const ipop__addr *a)
{
    const entry *best = NULL;

    for (unsigned i = 0; i < t->n; i++) {
        const entry *x = &t->e[i];
        if (ipop__addr_in_subnet(&x->prefix, a) && (!best || wins(x, best)))
            best = x;
    }
    return best;
}

void *ipop__rtab_lookup(ipop__rtab *t, const ipop__addr *a)
{
    const entry *best;
    void *owner;

    if (!t || !a || __atomic_load_n(&t->n, __ATOMIC_ACQUIRE) == 0)
        return NULL;
    g_rw_lock_reader_lock(&t->lock);
    best = best_for(t, a);
    owner = best ? best->owner : NULL;
    g_rw_lock_reader_unlock(&t->lock);
    return owner;
}

unsigned ipop__rtab_of(ipop__rtab *t, void *owner, ipop__addr *out, unsigned max)
{
    unsigned n = 0;

    if (!t || __atomic_load_n(&t->n, __ATOMIC_ACQUIRE) == 0)
        return 0;
    g_rw_lock_reader_lock(&t->lock);
    for (unsigned i = 0; i < t->n; i++) {
        const entry *x = &t->e[i];
        bool lost = false;
        if (x->owner != owner)
            continue;
        for (unsigned k = 0; k < t->n && !lost; k++)
            lost = t->e[k].owner != owner && ipop__prefix_same(&t->e[k].prefix, &x->prefix) && wins(&t->e[k], x);
        if (lost)
            continue;
        if (n < max && out)
            out[n] = x->prefix;
        n++;
    }
    g_rw_lock_reader_unlock(&t->lock);
    return n;
}

/* Whether any owner has exactly this prefix. */
static bool has_prefix(ipop__rtab *t, const ipop__addr *p)
{
    bool found = false;

    g_rw_lock_reader_lock(&t->lock);
    for (unsigned i = 0; i < t->n && !found; i++)
        found = ipop__prefix_same(&t->e[i].prefix, p);
    g_rw_lock_reader_unlock(&t->lock);
    return found;
}

unsigned ipop__rtab_count(ipop__rtab *t)
{
    return t ? __atomic_load_n(&t->n, __ATOMIC_ACQUIRE) : 0;
}

/* ---- with the network ---- */

/* An announced prefix this node must not take: one that shares addresses
 * with the overlay's own subnets (members' addresses belong to the
 * members) or holds this node's own address. */
static const char *refusal(ipop_network_t *net, const ipop__addr *p)
{
    const ipop__addr *own[] = { &net->addr4, &net->addr6, &net->group_subnet4, &net->group_subnet6,
                                &net->social_subnet };

    for (size_t i = 0; i < G_N_ELEMENTS(own); i++)
        if (own[i]->family && ipop__prefix_overlap(p, own[i]))
            return "it overlaps this network's own addresses";
    return NULL;
}

static void device_route(ipop_network_t *net, const ipop__addr *p, bool add)
{
    char text[64] = "";
    int r;

    if (!net->dev_ifindex)
        return;
    r = add ? ipop__rtnl_add_route(net->dev_ifindex, p) : ipop__rtnl_del_route(net->dev_ifindex, p);
    if (r < 0 && !(r == -ESRCH && !add)) {
        ipop__addr_format(p, text, sizeof(text));
        ipop__warn(net, "device %s: cannot %s the route %s: %s", net->dev_name, add ? "add" : "remove", text,
                   g_strerror(-r));
    }
}

static void refuse(ipop_link_t *link, const ipop__addr *p, const char *why)
{
    char text[64] = "";

    __atomic_fetch_add(&link->net->routes_refused, 1, __ATOMIC_RELAXED);
    if (link->routes_told)
        return; /* the same list again after a restart: counted, reported once */
    ipop__addr_format(p, text, sizeof(text));
    ipop__warn(link->net, "peer %.16s announces the route %s: not taken, %s", link->peer_id, text, why);
}

/* One announced prefix into the table, and onto the device when new. */
static void take(ipop_link_t *link, const ipop__addr *p, const ipop__addr *was, unsigned n_was)
{
    ipop_network_t *net = link->net;
    char rival[IPOP__NODE_ID_LEN + 1] = "", text[64] = "";
    int r = ipop__rtab_add(net->rtab, link, link->peer_id, p, rival);

    if (r == -ENOSPC) {
        refuse(link, p, "too many routes (per member or in all)");
        return;
    }
    if (r < 0)
        return;
    ipop__addr_format(p, text, sizeof(text));
    if (r == 0) {
        bool held = strcmp(rival, link->peer_id) < 0;
        if (!link->routes_told)
            ipop__warn(net, "peers %.16s and %.16s both announce the route %s: %.16s has the smaller node id and "
                       "gets its packets", link->peer_id, rival, text, held ? rival : link->peer_id);
        return;
    }
    for (unsigned i = 0; i < n_was; i++)
        if (ipop__prefix_same(&was[i], p))
            return; /* on the device already: the link's earlier list had it */
    device_route(net, p, true);
    if (!link->routes_told)
        ipop__info(net, "route %s via peer %.16s", text, link->peer_id);
}

void ipop__routes_link_up(ipop_link_t *link)
{
    ipop_network_t *net = link->net;
    ipop__addr gone[IPOP__ROUTES_MAX];
    unsigned n_gone;

    if (!net->rtab)
        return;
    n_gone = ipop__rtab_remove_owner(net->rtab, link, gone, G_N_ELEMENTS(gone));
    if (link->n_routes && !net->accept_routes) {
        if (!link->routes_told)
            ipop__info(net, "peer %.16s announces %u routes: not taken (accept-routes is false)", link->peer_id,
                       link->n_routes);
    } else {
        for (unsigned i = 0; i < link->n_routes; i++) {
            const char *why = refusal(net, &link->routes[i]);
            if (why)
                refuse(link, &link->routes[i], why);
            else
                take(link, &link->routes[i], gone, n_gone);
        }
    }
    link->routes_told = true;
    for (unsigned i = 0; i < n_gone; i++)
        if (!has_prefix(net->rtab, &gone[i]))
            device_route(net, &gone[i], false);
}

void ipop__routes_link_down(ipop_link_t *link)
{
    ipop__addr gone[IPOP__ROUTES_MAX];
    unsigned n;

    if (!link->net->rtab)
        return;
    n = ipop__rtab_remove_owner(link->net->rtab, link, gone, G_N_ELEMENTS(gone));
    for (unsigned i = 0; i < n; i++)
        device_route(link->net, &gone[i], false);
}

unsigned ipop__routes_shown(ipop_link_t *link, char *buf, size_t size)
{
    ipop__addr r[IPOP__ROUTES_MAX];
    unsigned n = ipop__rtab_of(link->net->rtab, link, r, G_N_ELEMENTS(r)), shown = MIN(n, IPOP__ROUTES_MAX);
    size_t used = 0;

    if (!size)
        return n;
    buf[0] = '\0';
    for (unsigned i = 0; i < shown; i++) {
        char one[64];
        size_t k;
        if (ipop__addr_format(&r[i], one, sizeof(one)) < 0)
            continue;
        k = strlen(one) + (used > 0);
        if (used + k + 4 >= size) { /* room for ",..." */
            g_strlcpy(buf + used, used ? ",..." : "...", size - used);
            break;
        }
        used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? "," : "", one);
    }
    return n;
}

void ipop__routes_take(ipop_link_t *link, const ipop__msg *m)
{
    if (link->n_routes == m->n_routes && !memcmp(link->routes, m->routes, sizeof(m->routes[0]) * m->n_routes))
        return;
    link->n_routes = m->n_routes;
    memcpy(link->routes, m->routes, sizeof(m->routes[0]) * m->n_routes);
    link->routes_told = false;
    if (link->in_fwd)
        ipop__routes_link_up(link);
}
