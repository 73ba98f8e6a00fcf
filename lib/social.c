/* SPDX-License-Identifier: MIT */
/* SocialVPN over XMPP.  A node links with the contacts of its roster that
 * have a mutual presence subscription, and only with them.  A friend's
 * node id is pinned at first contact (in the state file); a changed one is
 * refused and reported until the user accepts it.  Each friend gets an
 * IPv4 address of this node's own choosing in `social.subnet`, and packets
 * are translated between it and the friend's real virtual address. */
#include "social.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "bytes.h"
#include "link.h"
#include "log.h"
#include "message.h"
#include "peers.h"
#include "retry.h"

/* A friend that goes offline is dropped after this, if we are still online
 * then (as a group member that leaves, group.c). */
#define LEAVE_GRACE_US (5 * G_USEC_PER_SEC)
/* Contacts and requests remembered: more requests are not (the server
 * says them again at the next session). */
#define IPOP__SOCIAL_FRIENDS_MAX 4096

typedef struct friend {
    char *jid;                   /* bare JID */
    char *sub;                   /* roster subscription: none, to, from, both */
    bool asked;                  /* our subscription request to it waits (roster ask) */
    bool request;                /* its subscription request to us waits for the user */
    char *full;                  /* full JID of the resource that said its node id, or NULL */
    char node[IPOP__NODE_ID_LEN + 1];    /* node id now */
    char pinned[IPOP__NODE_ID_LEN + 1];  /* node id pinned at first contact */
    char pending[IPOP__NODE_ID_LEN + 1]; /* a changed node id waiting for acceptance */
    char *pending_full;          /* the resource that came with it */
    ipop__addr alias;            /* its address here */
    gint64 left_at;
    ipop__retry retry;
} friend;

struct ipop__social {
    ipop_network_t *net;
    char node_id[IPOP__NODE_ID_LEN + 1];
    char *own_bare;
    ipop__addr subnet;
    ipop__addr own_addr;
    char *state_file;
    GHashTable *friends;         /* bare JID -> friend* */
    int (*send_xml)(ipop_network_t *net, const char *xml);
    unsigned removes;            /* roster removals sent: their ids */
};

static void friend_free(gpointer p)
{
    friend *f = p;
    g_free(f->jid);
    g_free(f->sub);
    g_free(f->full);
    g_free(f->pending_full);
    g_free(f);
}

static friend *friend_get(ipop__social *s, const char *bare)
{
    friend *f = g_hash_table_lookup(s->friends, bare);

    if (!f) {
        f = g_new0(friend, 1);
        f->jid = g_strdup(bare);
        f->sub = g_strdup("none");
        g_hash_table_insert(s->friends, f->jid, f);
    }
    return f;
}

/* Another friend than f whose node id, pinned or current, is node. */
static friend *other_with_node(ipop__social *s, const friend *f, const char *node)
{
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, s->friends);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (v != f && (!strcmp(((friend *)v)->node, node) || !strcmp(((friend *)v)->pinned, node)))
            return v;
    return NULL;
}

static friend *friend_by_node(ipop__social *s, const char *node)
{
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, s->friends);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (!strcmp(((friend *)v)->node, node))
            return v;
    return NULL;
}

/* ---- addresses ---- */

static bool alias_taken(ipop__social *s, const ipop__addr *a, const friend *self)
{
    GHashTableIter it;
    gpointer v;

    if (ipop__addr_equal_host(a, &s->own_addr))
        return true;
    g_hash_table_iter_init(&it, s->friends);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (v != self && ((friend *)v)->alias.family && ipop__addr_equal_host(a, &((friend *)v)->alias))
            return true;
    return false;
}

/* A stable address for a friend: from a hash of its JID, the next free one
 * on a collision. */
static void assign_alias(ipop__social *s, friend *f)
{
    uint32_t base, hosts, idx;

    if (f->alias.family)
        return;
    base = ipop__get32(s->subnet.bytes) & (s->subnet.prefix ? ~0u << (32 - s->subnet.prefix) : 0);
    hosts = s->subnet.prefix >= 31 ? 1 : (1u << (32 - s->subnet.prefix)) - 2;
    idx = g_str_hash(f->jid) % hosts;
    for (uint32_t tries = 0; tries < hosts; tries++, idx = (idx + 1) % hosts) {
        f->alias.family = AF_INET;
        f->alias.prefix = 32;
        ipop__put32(f->alias.bytes, base + 1 + idx);
        if (!alias_taken(s, &f->alias, f))
            return;
    }
    f->alias.family = 0;
    ipop__err(s->net, "social.subnet has no free address for %s", f->jid);
}

/* ---- the state file: a line per friend: JID, pinned node id, address ---- */

/* Replaces path with len bytes of text, readable by the owner only
 * whatever the umask (it says who this node's friends are), all or
 * nothing: a temporary file beside it, synced, renamed over it, and the
 * directory synced.  0 or -1 with errno. */
static int write_private(const char *path, const char *text, size_t len)
{
    g_autofree char *tmp = g_strdup_printf("%s.XXXXXX", path), *dir = g_path_get_dirname(path);
    int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600), dfd, err;
    size_t off = 0;

    if (fd < 0)
        return -1;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        off += (size_t)n;
    }
    if (fchmod(fd, 0600) < 0 || fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto fail;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
fail:
    err = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = err;
    return -1;
}

static void state_save(ipop__social *s)
{
    GString *text = g_string_new("# libipop SocialVPN state: JID, node id pinned at first contact, local address\n");
    GHashTableIter it;
    gpointer v;
    char addr[64];

    if (!s->state_file)
        return;
    g_hash_table_iter_init(&it, s->friends);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        friend *f = v;
        if (!f->pinned[0])
            continue;
        if (!f->alias.family || ipop__addr_format(&f->alias, addr, sizeof(addr)) < 0)
            g_strlcpy(addr, "-", sizeof(addr));
        g_string_append_printf(text, "%s %s %s\n", f->jid, f->pinned, addr);
    }
    if (write_private(s->state_file, text->str, text->len) < 0)
        ipop__err(s->net, "cannot write the state file %s: %s", s->state_file, g_strerror(errno));
    g_string_free(text, TRUE);
}

static void state_load(ipop__social *s)
{
    gchar *text = NULL, **lines;

    if (!s->state_file || !g_file_get_contents(s->state_file, &text, NULL, NULL))
        return;
    lines = g_strsplit(text, "\n", -1);
    for (gchar **l = lines; *l; l++) {
        gchar **w = g_strsplit(*l, " ", 4);
        if (w[0] && w[1] && w[2] && !w[3] && w[0][0] != '#' && strchr(w[0], '@') && ipop__node_id_valid(w[1])) {
            friend *f = friend_get(s, w[0]);
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

ipop__social *ipop__social_new(ipop_network_t *net, const ipop__social_config *cfg)
{
    ipop__social *s = g_new0(ipop__social, 1);

    s->net = net;
    g_strlcpy(s->node_id, cfg->node_id, sizeof(s->node_id));
    s->own_bare = g_strdup(cfg->own_jid);
    s->subnet = cfg->subnet;
    s->own_addr = cfg->own_addr;
    s->state_file = g_strdup(cfg->state_file);
    s->send_xml = cfg->send_xml;
    s->friends = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, friend_free);
    state_load(s);
    return s;
}

void ipop__social_free(ipop__social *s)
{
    if (!s)
        return;
    g_hash_table_unref(s->friends);
    g_free(s->own_bare);
    g_free(s->state_file);
    g_free(s);
}

/* ---- friends and their links ---- */

static void social_drop(ipop__social *s, friend *f, const char *why)
{
    ipop_link_t *link;

    if (!f->node[0])
        return;
    ipop__info(s->net, "friend %s: %s", f->jid, why);
    link = ipop__peers_link(s->net, f->node);
    ipop__peers_disallow(s->net, f->node);
    if (link)
        ipop__link_shutdown(link, IPOP_REASON_PEER_CLOSED, true);
    f->node[0] = '\0';
    g_clear_pointer(&f->full, g_free);
    f->left_at = 0;
}

static void social_link(ipop__social *s, friend *f)
{
    ipop_link_t *link;

    assign_alias(s, f);
    /* Opens a link unless one is connected or connecting; either way the
     * link (when the open failed: the one there was) gets the alias. */
    link = ipop__peers_link(s->net, f->node);
    ipop__peers_connect(s->net, f->node, &link);
    if (link)
        ipop__link_set_alias(link, f->alias.family ? &f->alias : NULL, f->jid);
}

void ipop__social_roster(ipop__social *s, const char *bare, const char *sub, bool asked)
{
    friend *f;

    if (!strcmp(bare, s->own_bare))
        return;
    f = friend_get(s, bare);
    g_free(f->sub);
    f->sub = g_strdup(sub);
    f->asked = asked;
    if (!strcmp(sub, "from") || !strcmp(sub, "both") || !strcmp(sub, "remove"))
        f->request = false; /* answered (or gone) */
    if (strcmp(f->sub, "both") != 0)
        social_drop(s, f, "no mutual subscription any more");
    else if (f->node[0])
        social_link(s, f);
}

/* A friend's resource said another node id than the pinned one. */
static void identity_changed(ipop__social *s, friend *f, const char *from, const char *node)
{
    char detail[200];

    g_free(f->pending_full);
    f->pending_full = g_strdup(from);
    if (!strcmp(f->pending, node))
        return; /* said already */
    g_strlcpy(f->pending, node, sizeof(f->pending));
    snprintf(detail, sizeof(detail), "friend %s has a new node id %.8s (pinned %.8s): refused until accepted",
             f->jid, node, f->pinned);
    ipop__peers_refused(s->net, node, IPOP_EVENT_PEER_REFUSED, IPOP_REASON_IDENTITY_CHANGED, -EPERM, detail);
}

/* A friend's resource said the node id of another friend: one node has
 * one account, so this is someone else's node, and taking it would put
 * this friend's name and address on the other's link. */
static void node_taken(ipop__social *s, friend *f, const char *from, const char *node)
{
    friend *other = other_with_node(s, f, node);
    char detail[300];

    snprintf(detail, sizeof(detail), "friend %.100s says it is node %.8s, which is friend %.100s's: refused", from,
             node, other->jid);
    ipop__peers_refused(s->net, node, IPOP_EVENT_PEER_REFUSED, IPOP_REASON_PEER_NOT_ALLOWED, -EEXIST, detail);
}

void ipop__social_presence(ipop__social *s, const char *from, const char *node, bool available)
{
    char *bare = g_strndup(from, strcspn(from, "/"));
    friend *f = g_hash_table_lookup(s->friends, bare);

    if (!f || strcmp(f->sub, "both") != 0)
        goto out; /* not a friend: nothing to do with us */
    if (!available) {
        if (f->full && !strcmp(f->full, from) && !f->left_at)
            f->left_at = g_get_monotonic_time();
        goto out;
    }
    if (!node || !ipop__node_id_valid(node) || !strcmp(node, s->node_id))
        goto out; /* a client of the friend's that runs no node */
    if (other_with_node(s, f, node)) {
        node_taken(s, f, from, node);
        goto out;
    }
    if (f->pinned[0] && strcmp(f->pinned, node) != 0) {
        identity_changed(s, f, from, node);
        goto out;
    }
    if (!f->pinned[0]) {
        g_strlcpy(f->pinned, node, sizeof(f->pinned));
        assign_alias(s, f);
        state_save(s);
        ipop__info(s->net, "friend %s: node id %.8s pinned", f->jid, node);
    }
    if (f->node[0] && strcmp(f->node, node) != 0)
        social_drop(s, f, "moved to another node");
    g_free(f->full);
    f->full = g_strdup(from);
    g_strlcpy(f->node, node, sizeof(f->node));
    f->left_at = 0;
    social_link(s, f);
out:
    g_free(bare);
}

void ipop__social_signal(ipop__social *s, const char *from, const char *text)
{
    GHashTableIter it;
    gpointer v;
    char detail[200];

    g_hash_table_iter_init(&it, s->friends);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        friend *f = v;
        if (f->full && f->node[0] && !strcmp(f->full, from) && !strcmp(f->sub, "both")) {
            ipop__peers_signal(s->net, f->node, text);
            return;
        }
    }
    snprintf(detail, sizeof(detail), "message from %.40s refused: %s", from, "not from a friend's node");
    ipop__peers_refused(s->net, from, IPOP_EVENT_PEER_REFUSED, IPOP_REASON_PEER_NOT_ALLOWED, -EPERM, detail);
}

void ipop__social_sweep(ipop__social *s, gint64 now)
{
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, s->friends);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        friend *f = v;
        if (f->left_at && now - f->left_at >= LEAVE_GRACE_US)
            social_drop(s, f, "went offline");
        else if (f->node[0] && !f->left_at && !strcmp(f->sub, "both"))
            ipop__retry_link(s->net, f->node, &f->retry, now);
    }
}

void ipop__social_retry_now(ipop__social *s)
{
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, s->friends);
    while (g_hash_table_iter_next(&it, NULL, &v))
        ipop__retry_soon(&((friend *)v)->retry);
}

const char *ipop__social_jid_of(ipop__social *s, const char *peer)
{
    friend *f = friend_by_node(s, peer);

    return f ? f->full : NULL;
}

int ipop__social_accept(ipop__social *s, const char *jid)
{
    friend *f = g_hash_table_lookup(s->friends, jid);

    if (!f || !f->pending[0])
        return -ENOENT;
    if (other_with_node(s, f, f->pending))
        return -EEXIST; /* another friend's node: never this one's */
    ipop__info(s->net, "friend %s: new node id %.8s accepted", jid, f->pending);
    g_strlcpy(f->pinned, f->pending, sizeof(f->pinned));
    f->pending[0] = '\0';
    state_save(s);
    if (f->pending_full && !strcmp(f->sub, "both")) {
        if (f->node[0] && strcmp(f->node, f->pinned) != 0)
            social_drop(s, f, "moved to another node");
        g_free(f->full);
        f->full = g_steal_pointer(&f->pending_full);
        g_strlcpy(f->node, f->pinned, sizeof(f->node));
        f->left_at = 0;
        social_link(s, f);
    }
    return 0;
}

/* ---- friends made and ended from here (RFC 6121 3) ---- */

/* A bare JID we may put in a stanza: local@domain, no resource, no
 * space or control character, not too long, not our own. */
static bool friend_jid_ok(ipop__social *s, const char *jid)
{
    size_t n = jid ? strnlen(jid, IPOP_JID_MAX + 1) : 0;
    const char *at = jid ? strchr(jid, '@') : NULL;

    if (n == 0 || n > IPOP_JID_MAX || !at || at == jid || !at[1] || strchr(jid, '/') ||
        !g_utf8_validate(jid, -1, NULL) || !g_ascii_strcasecmp(jid, s->own_bare))
        return false;
    for (const char *p = jid; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>' || *p == '&' || *p == '\'' ||
            *p == '"')
            return false;
    return true;
}

static int send_presence(ipop__social *s, const char *jid, const char *type)
{
    char *xml = g_strdup_printf("<presence to='%s' type='%s'/>", jid, type);
    int r = s->send_xml ? s->send_xml(s->net, xml) : -ENOTCONN;

    g_free(xml);
    return r;
}

void ipop__social_subscription(ipop__social *s, const char *bare, const char *type)
{
    friend *f;

    if (!strcmp(bare, s->own_bare) || !friend_jid_ok(s, bare))
        return;
    f = g_hash_table_lookup(s->friends, bare);
    if (!strcmp(type, "subscribe")) {
        /* we asked it (or follow it) already: the user wants this friend */
        if (f && (f->asked || !strcmp(f->sub, "to") || !strcmp(f->sub, "both"))) {
            send_presence(s, bare, "subscribed");
            return;
        }
        if (!f && g_hash_table_size(s->friends) >= IPOP__SOCIAL_FRIENDS_MAX)
            return; /* a flood of strangers: the server tells us again at the next session */
        f = friend_get(s, bare);
        if (!f->request)
            ipop__info(s->net, "friend request from %s: accept it with ipopctl friend accept %s (in a host "
                       "program: ipop_network_friend_accept)", bare, bare);
        f->request = true;
    } else if (f && !strcmp(type, "unsubscribe")) {
        f->request = false; /* withdrawn */
    }
}

int ipop__social_friend_add(ipop__social *s, const char *jid)
{
    friend *f;
    int r;

    if (!friend_jid_ok(s, jid))
        return -EINVAL;
    f = g_hash_table_lookup(s->friends, jid);
    if (f && f->request && (r = send_presence(s, jid, "subscribed")) < 0)
        return r;
    if ((r = send_presence(s, jid, "subscribe")) < 0)
        return r;
    f = friend_get(s, jid);
    f->request = false;
    f->asked = strcmp(f->sub, "to") != 0 && strcmp(f->sub, "both") != 0;
    ipop__info(s->net, "friend %s: subscription asked for", jid);
    return 0;
}

int ipop__social_friend_accept(ipop__social *s, const char *jid)
{
    friend *f;

    if (!friend_jid_ok(s, jid))
        return -EINVAL;
    f = g_hash_table_lookup(s->friends, jid);
    if (!f || !f->request)
        return -ENOENT;
    return ipop__social_friend_add(s, jid);
}

int ipop__social_friend_remove(ipop__social *s, const char *jid)
{
    friend *f;
    char *xml;
    int r;

    if (!friend_jid_ok(s, jid))
        return -EINVAL;
    f = g_hash_table_lookup(s->friends, jid);
    if (!f || (!f->request && !f->asked && !strcmp(f->sub, "remove")))
        return -ENOENT;
    if (f->request && (r = send_presence(s, jid, "unsubscribed")) < 0)
        return r;
    /* RFC 6121 2.5.2: the server cancels the subscriptions both ways */
    xml = g_strdup_printf("<iq type='set' id='ipop-unfriend-%u'><query xmlns='jabber:iq:roster'><item jid='%s' "
                          "subscription='remove'/></query></iq>", ++s->removes, jid);
    r = s->send_xml ? s->send_xml(s->net, xml) : -ENOTCONN;
    g_free(xml);
    if (r < 0)
        return r;
    f->request = false;
    f->asked = false;
    social_drop(s, f, "friendship ended here: link closed");
    ipop__info(s->net, "friend %s: removed from the roster", jid);
    return 0;
}

static gint by_jid(gconstpointer a, gconstpointer b)
{
    return strcmp((*(friend *const *)a)->jid, (*(friend *const *)b)->jid);
}

int ipop__social_friend_get(ipop__social *s, size_t index, ipop_friend_t *ret)
{
    g_autoptr(GPtrArray) list = g_ptr_array_new();
    ipop_friend_t out = { .size = ret->size };
    GHashTableIter it;
    gpointer v;
    friend *f;

    g_hash_table_iter_init(&it, s->friends);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        f = v;
        if (strcmp(f->sub, "remove") != 0 || f->request)
            g_ptr_array_add(list, f);
    }
    if (index >= list->len)
        return -ENOENT;
    g_ptr_array_sort(list, by_jid);
    f = list->pdata[index];
    g_strlcpy(out.jid, f->jid, sizeof(out.jid));
    g_strlcpy(out.subscription, strcmp(f->sub, "remove") ? f->sub : "none", sizeof(out.subscription));
    out.asked = f->asked;
    out.request = f->request;
    out.online = f->node[0] && !f->left_at;
    g_strlcpy(out.peer_id, f->pinned, sizeof(out.peer_id));
    if (f->alias.family && ipop__addr_format(&f->alias, out.address, sizeof(out.address)) == 0)
        out.address[strcspn(out.address, "/")] = '\0'; /* a host: no prefix */
    memcpy(ret, &out, MIN(ret->size, sizeof(out)));
    return 0;
}
