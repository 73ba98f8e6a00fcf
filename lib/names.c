/* SPDX-License-Identifier: MIT */
/* Member names (names.h), with the network: this node's name, the
 * conflict rule applied, and the table of who claims which name, from
 * which ipop_network_resolve() answers.
 *
 * The table maps a claimed name to the links whose peers signalled it.  A
 * claim counts while its link is not closed (a member that left, or a link
 * the host closed, claims nothing), and this node's own name is a claim
 * too.  The owner of a name is the claimant with the smallest node id:
 * every node that sees the same members shows the same owner.  Reads take
 * the network's lock; claims change in the loop thread, under it. */
#include "names.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "network.h"

/* ---- this node's name ---- */

void ipop__names_start(ipop_network_t *net)
{
    char host[256] = "";
    const char *from = host;

    if (net->name_opt[0]) {
        g_strlcpy(net->own_name, net->name_opt, sizeof(net->own_name));
        return;
    }
    if (net->own_name[0])
        return; /* the certificate's (certauth.c) */
    if (net->overlay == OVERLAY_SOCIAL && net->xmpp_jid) {
        g_strlcpy(host, net->xmpp_jid, sizeof(host));
        host[strcspn(host, "@")] = '\0'; /* the JID's local part: the user's nick */
    } else if (gethostname(host, sizeof(host) - 1) < 0) {
        host[0] = '\0';
    }
    ipop__name_from_host(from, net->own_name);
    if (!net->own_name[0])
        ipop__warn(net, "no option name and nothing to make one from (\"%s\"): this node has no name", host);
}

/* ---- the table (under the lock) ---- */

static bool live(ipop_link_t *l)
{
    return g_atomic_int_get(&l->state) != IPOP_LINK_CLOSED;
}

/* The node id that owns `name`, or NULL when nobody claims it. */
static const char *owner_of(ipop_network_t *net, const char *name)
{
    GPtrArray *claims = net->names ? g_hash_table_lookup(net->names, name) : NULL;
    const char *best = net->own_name[0] && !strcmp(net->own_name, name) ? net->node_id : NULL;

    for (guint i = 0; claims && i < claims->len; i++) {
        ipop_link_t *l = claims->pdata[i];
        if (live(l) && (!best || ipop__name_wins(l->peer_id, best)))
            best = l->peer_id;
    }
    return best;
}

static void shown_locked(ipop_link_t *link, char out[IPOP__NAME_MAX + 1])
{
    const char *owner;

    out[0] = '\0';
    if (!link->peer_name[0])
        return;
    owner = owner_of(link->net, link->peer_name);
    if (!owner || !strcmp(owner, link->peer_id))
        g_strlcpy(out, link->peer_name, IPOP__NAME_MAX + 1);
    else
        ipop__name_tagged(link->peer_name, link->peer_id, out);
}

void ipop__names_shown(ipop_link_t *link, char out[IPOP__NAME_MAX + 1])
{
    g_mutex_lock(&link->net->lock);
    shown_locked(link, out);
    g_mutex_unlock(&link->net->lock);
}

static void unclaim(ipop_network_t *net, ipop_link_t *link)
{
    GPtrArray *claims;

    if (!link->peer_name[0] || !net->names)
        return;
    claims = g_hash_table_lookup(net->names, link->peer_name);
    if (claims && g_ptr_array_remove_fast(claims, link) && claims->len == 0)
        g_hash_table_remove(net->names, link->peer_name);
}

static void add_claim(ipop_network_t *net, ipop_link_t *link)
{
    GPtrArray *claims;

    if (!net->names)
        net->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
    claims = g_hash_table_lookup(net->names, link->peer_name);
    if (!claims) {
        claims = g_ptr_array_new();
        g_hash_table_insert(net->names, g_strdup(link->peer_name), claims);
    }
    g_ptr_array_add(claims, link);
}

/* A conflict to report once the lock is let go. */
typedef struct report {
    ipop_link_t *link;
    char detail[300];
} report;

static void note_loser(GArray *out, ipop_link_t *link, const char *owner, bool owner_self)
{
    report r = { .link = link };
    char tagged[IPOP__NAME_MAX + 1];

    ipop__name_tagged(link->peer_name, link->peer_id, tagged);
    snprintf(r.detail, sizeof(r.detail), "peer %.16s claims the name %s, which %s%.16s holds (smaller node id): "
             "it is shown as %s", link->peer_id, link->peer_name, owner_self ? "this node" : "peer ",
             owner_self ? "" : owner, tagged);
    link->name_told = true;
    g_array_append_val(out, r);
}

/* Which claims of `name` lose and were not reported yet. */
static void find_conflicts(ipop_network_t *net, ipop_link_t *link, GArray *out)
{
    const char *name = link->peer_name, *owner = owner_of(net, name);
    GPtrArray *claims = g_hash_table_lookup(net->names, name);
    bool self_owns = owner == net->node_id;

    if (!owner || !claims)
        return;
    for (guint i = 0; i < claims->len; i++) {
        ipop_link_t *l = claims->pdata[i];
        if (live(l) && !l->name_told && strcmp(l->peer_id, owner))
            note_loser(out, l, owner, self_owns);
    }
    if (!self_owns && !strcmp(net->own_name, name) && !net->own_name_told) {
        report r = { .link = g_hash_table_lookup(net->links, owner) };
        char tagged[IPOP__NAME_MAX + 1];
        ipop__name_tagged(net->own_name, net->node_id, tagged);
        snprintf(r.detail, sizeof(r.detail), "peer %.16s claims this node's name %s and has the smaller node id: "
                 "this node is shown as %s", owner, name, tagged);
        net->own_name_told = true;
        g_array_append_val(out, r);
    }
}

void ipop__names_claim(ipop_link_t *link, const char *name)
{
    ipop_network_t *net = link->net;
    GArray *reports = g_array_new(FALSE, FALSE, sizeof(report));

    if (!name)
        name = "";
    g_mutex_lock(&net->lock);
    if (strcmp(link->peer_name, name)) {
        unclaim(net, link);
        g_strlcpy(link->peer_name, name, sizeof(link->peer_name));
        link->name_told = false;
        if (name[0])
            add_claim(net, link);
    }
    if (name[0])
        find_conflicts(net, link, reports);
    g_mutex_unlock(&net->lock);
    for (guint i = 0; i < reports->len; i++) {
        report *r = &g_array_index(reports, report, i);
        ipop__warn(net, "%s", r->detail);
        ipop__net_emit_simple(net, IPOP_EVENT_PEER_REFUSED, r->link ? r->link->peer_id : NULL, r->link,
                              IPOP_REASON_NAME_IN_USE, -EEXIST, r->detail);
    }
    g_array_unref(reports);
}

void ipop__names_free(ipop_network_t *net)
{
    g_clear_pointer(&net->names, g_hash_table_unref);
}

/* ---- resolving ---- */

/* The address of `family` (AF_UNSPEC: IPv4, else IPv6) of the node id
 * `owner`, as this node reaches it: its alias here (SocialVPN), or its own. */
static bool owner_addr(ipop_network_t *net, const char *owner, int family, ipop__addr *out)
{
    const ipop__addr *v4, *v6;
    ipop_link_t *link = NULL;

    if (owner == net->node_id) {
        v4 = &net->addr4;
        v6 = &net->addr6;
    } else {
        link = g_hash_table_lookup(net->links, owner);
        if (!link)
            return false;
        v4 = link->alias4.family ? &link->alias4 : &link->raddr4;
        v6 = link->alias4.family ? NULL : &link->raddr6; /* a friend's own IPv6 space is not ours */
    }
    if (family != AF_INET6 && v4->family == AF_INET)
        *out = *v4;
    else if (family != AF_INET && v6 && v6->family == AF_INET6)
        *out = *v6;
    else
        return false;
    return true;
}

/* NAME-TAG: the claimant of NAME whose node id starts with TAG and that
 * lost it (this node included). */
static const char *tagged_owner(ipop_network_t *net, const char *name)
{
    char shown[IPOP__NAME_MAX + 1];
    const char *dash = strrchr(name, '-');

    if (!dash || strlen(dash + 1) != IPOP__NAME_TAG)
        return NULL;
    if (net->own_name[0] && !strncmp(net->node_id, dash + 1, IPOP__NAME_TAG)) {
        const char *owner = owner_of(net, net->own_name);
        ipop__name_tagged(net->own_name, net->node_id, shown);
        if (owner && owner != net->node_id && !strcmp(shown, name))
            return net->node_id;
    }
    for (guint i = 0; i < net->link_list->len; i++) {
        ipop_link_t *l = net->link_list->pdata[i];
        if (!l->peer_name[0] || !live(l) || strncmp(l->peer_id, dash + 1, IPOP__NAME_TAG))
            continue;
        shown_locked(l, shown);
        if (!strcmp(shown, name))
            return l->peer_id;
    }
    return NULL;
}

IPOP_EXPORT int ipop_network_resolve(ipop_network_t *net, const char *name, int family, char *buf, size_t size)
{
    char want[IPOP__NAME_MAX + 1], text[64];
    const char *owner;
    ipop__addr a;
    bool found = false;

    if (!net || !buf || (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) ||
        ipop__name_normalize(name, want) < 0)
        return -EINVAL;
    g_mutex_lock(&net->lock);
    owner = owner_of(net, want);
    if (!owner)
        owner = tagged_owner(net, want);
    if (owner)
        found = owner_addr(net, owner, family, &a);
    g_mutex_unlock(&net->lock);
    if (!found || ipop__addr_format(&a, text, sizeof(text)) <= 0)
        return -ENOENT;
    text[strcspn(text, "/")] = '\0';
    if (strlen(text) >= size)
        return -ENOSPC;
    memcpy(buf, text, strlen(text) + 1);
    return 0;
}
