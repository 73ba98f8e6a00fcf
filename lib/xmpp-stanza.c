/* SPDX-License-Identifier: MIT */
/* XMPP stanzas that arrive, and who is believed about what: messages
 * carrying signalling, IQs (roster, pings), presence in our rooms and the
 * nicknames there.  Everything here is from the network: the server and
 * anyone on it may have sent it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strophe.h>

#include <glib.h>
#include <gnutls/crypto.h>

#include "log.h"
#include "message.h"
#include "xmpp-private.h"

static const char *attr(xmpp_stanza_t *s, const char *name)
{
    return s ? xmpp_stanza_get_attribute(s, name) : NULL;
}

bool ipop__xmpp_nick_node(const char *nick, char node[IPOP__NODE_ID_LEN + 1])
{
    size_t n;

    if (!nick || strnlen(nick, IPOP__NODE_ID_LEN + 1) < IPOP__NODE_ID_LEN)
        return false;
    memcpy(node, nick, IPOP__NODE_ID_LEN);
    node[IPOP__NODE_ID_LEN] = '\0';
    if (!ipop__node_id_valid(node))
        return false;
    nick += IPOP__NODE_ID_LEN;
    if (!*nick)
        return true;
    if (*nick++ != '~')
        return false;
    n = strnlen(nick, NICK_SUFFIX_MAX + 1);
    if (n == 0 || n > NICK_SUFFIX_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!g_ascii_islower(nick[i]) && !g_ascii_isdigit(nick[i]))
            return false;
    return true;
}

/* Input we ignore on purpose: the overlay counts and reports it. */
static void refuse(ipop__xmpp *x, const char *from, const char *why)
{
    ipop__xmpp_emit(x, IPOP__XMPP_REFUSED, from, why);
}

/* Whether `a` and `b` name the same bare JID (the local part and domain
 * compare without case, as the server prepares them). */
static bool same_bare(xmpp_ctx_t *ctx, const char *a, const char *b)
{
    char *ba = a ? xmpp_jid_bare(ctx, a) : NULL, *bb = b ? xmpp_jid_bare(ctx, b) : NULL;
    bool same = ba && bb && !g_ascii_strcasecmp(ba, bb);

    if (ba)
        xmpp_free(ctx, ba);
    if (bb)
        xmpp_free(ctx, bb);
    return same;
}

/* RFC 6121 2.1.3 and 2.1.6: what the server says about our account comes
 * with no 'from', or from our bare JID (or our own full JID).  Anyone else
 * can address our full JID with anything. */
static bool from_own_account(ipop__xmpp *x, const char *from)
{
    const char *bound = xmpp_conn_get_bound_jid(x->conn);

    if (!from)
        return true;
    if (strchr(from, '/'))
        return bound && !strcmp(from, bound);
    return same_bare(x->ctx, from, x->jid) || (bound && same_bare(x->ctx, from, bound));
}

/* The room `from` (room/nick, or the room itself) belongs to, and the nick
 * in it (NULL for the room itself).  Under x->lock. */
room *ipop__xmpp_room_of(ipop__xmpp *x, const char *from, const char **nick)
{
    for (guint i = 0; i < x->rooms->len; i++) {
        room *r = x->rooms->pdata[i];
        size_t n = strlen(r->room);
        if (g_ascii_strncasecmp(from, r->room, n) != 0 || (from[n] != '/' && from[n] != '\0'))
            continue;
        *nick = from[n] == '/' ? from + n + 1 : NULL;
        return r;
    }
    return NULL;
}

int ipop__xmpp_on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    ipop__xmpp *x = ud;
    xmpp_stanza_t *el = xmpp_stanza_get_child_by_name_and_ns(st, "ipop", IPOP__XMPP_NS_SIGNAL);
    const char *from = xmpp_stanza_get_from(st), *type = xmpp_stanza_get_type(st), *nick = NULL;
    ipop__xmpp_event ev = { .type = IPOP__XMPP_SIGNAL };
    char node[IPOP__NODE_ID_LEN + 1], *text, *canon = NULL;
    room *r;

    if (!el || !from || (type && !strcmp(type, "error")))
        return 1;
    /* We send signals as private chat; a room broadcast (groupchat), a
     * headline or a normal message with one is someone else's making. */
    if (!type || strcmp(type, "chat") != 0) {
        refuse(x, from, "a signalling payload in a message that is not a chat");
        return 1;
    }
    g_mutex_lock(&x->lock);
    r = ipop__xmpp_room_of(x, from, &nick);
    if (r && nick && ipop__xmpp_nick_node(nick, node))
        canon = g_strdup_printf("%s/%s", r->room, node);
    g_mutex_unlock(&x->lock);
    if (r && !canon)
        return 1; /* the room itself, or an occupant that is no node */
    text = xmpp_stanza_get_text(el);
    ev.from = canon ? canon : from;
    ev.text = text ? text : "";
    ev.ts = attr(el, "ts");
    ev.nonce = attr(el, "nonce");
    ev.mac = attr(el, "mac");
    x->cb(x->ud, &ev);
    if (text)
        xmpp_free(x->ctx, text);
    g_free(canon);
    return 1;
}

static void roster_items(ipop__xmpp *x, xmpp_stanza_t *q)
{
    ipop__xmpp_event ev = { .type = IPOP__XMPP_ROSTER };

    for (xmpp_stanza_t *item = xmpp_stanza_get_children(q); item; item = xmpp_stanza_get_next(item)) {
        const char *name = xmpp_stanza_get_name(item);
        ev.from = attr(item, "jid");
        ev.text = attr(item, "subscription");
        if (!name || strcmp(name, "item") != 0 || !ev.from)
            continue;
        if (!ev.text)
            ev.text = "none";
        x->cb(x->ud, &ev);
    }
}

/* The roster: the answer to our query, and pushes from the server. */
int ipop__xmpp_on_iq(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    ipop__xmpp *x = ud;
    xmpp_stanza_t *q = xmpp_stanza_get_child_by_name_and_ns(st, "query", "jabber:iq:roster");
    const char *type = xmpp_stanza_get_type(st), *id = xmpp_stanza_get_id(st), *from = xmpp_stanza_get_from(st);
    char *domain;
    bool server;

    if (!type)
        return 1;
    /* Any answer to our ping from the server, an error included, shows the
     * server is there. */
    if (x->ping_deadline && id && !strcmp(id, x->ping_id) && (!strcmp(type, "result") || !strcmp(type, "error"))) {
        domain = xmpp_jid_domain(x->ctx, x->jid);
        server = from_own_account(x, from) || (domain && !g_ascii_strcasecmp(from, domain));
        if (domain)
            xmpp_free(x->ctx, domain);
        if (server)
            x->ping_deadline = 0;
        else
            refuse(x, from, "an answer to our ping that is not from our server");
        return 1;
    }
    if (!strcmp(type, "set") && q) {
        /* RFC 6121 2.1.6: a push is only believed from our own account. */
        if (!from_own_account(x, from)) {
            refuse(x, from, "a roster push that is not from our server");
            return 1;
        }
        if (id) {
            char *eid = ipop__xml_escape(id), *xml = g_strdup_printf("<iq type='result' id='%s'/>", eid);
            ipop__xmpp_send_raw(x, xml);
            g_free(eid);
            g_free(xml);
        }
        roster_items(x, q);
    } else if (!strcmp(type, "result") && id && x->roster_id[0] && !strcmp(id, x->roster_id)) {
        /* RFC 6121 2.1.3: the answer to our query, from our server only. */
        if (!from_own_account(x, from)) {
            refuse(x, from, "a roster result that is not from our server");
            return 1;
        }
        if (q)
            roster_items(x, q);
    } else if (q && !strcmp(type, "result")) {
        refuse(x, from, "a roster result we did not ask for");
    }
    return 1;
}

/* The defined condition of an error stanza (RFC 6120 8.3.3), or "". */
static const char *error_condition(xmpp_stanza_t *st)
{
    xmpp_stanza_t *err = xmpp_stanza_get_child_by_name(st, "error");

    for (xmpp_stanza_t *c = err ? xmpp_stanza_get_children(err) : NULL; c; c = xmpp_stanza_get_next(c)) {
        const char *ns = xmpp_stanza_get_ns(c), *name = xmpp_stanza_get_name(c);
        if (name && ns && !strcmp(ns, "urn:ietf:params:xml:ns:xmpp-stanzas"))
            return name;
    }
    return "";
}

/* XEP-0045 status code `code` in a room presence. */
static bool has_status(xmpp_stanza_t *st, const char *code)
{
    xmpp_stanza_t *x = xmpp_stanza_get_child_by_name_and_ns(st, "x", "http://jabber.org/protocol/muc#user");

    for (xmpp_stanza_t *c = x ? xmpp_stanza_get_children(x) : NULL; c; c = xmpp_stanza_get_next(c)) {
        const char *name = xmpp_stanza_get_name(c), *v = attr(c, "code");
        if (name && !strcmp(name, "status") && v && !strcmp(v, code))
            return true;
    }
    return false;
}

static void new_nick(room *r)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    uint8_t rnd[NICK_SUFFIX_LEN];
    char suffix[NICK_SUFFIX_LEN + 1];

    gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd));
    for (size_t i = 0; i < NICK_SUFFIX_LEN; i++)
        suffix[i] = alphabet[rnd[i] & 31];
    suffix[NICK_SUFFIX_LEN] = '\0';
    g_free(r->nick);
    r->nick = g_strdup_printf("%s~%s", r->node_id, suffix);
}

/* What a room presence means, worked out under x->lock and said after. */
typedef struct room_news {
    char *from;                /* room/node that came or went, or NULL */
    bool available;
    char node[IPOP__NODE_ID_LEN + 1];
    char *error;               /* our join failed for good: why */
    char *note;                /* to log */
} room_news;

/* Our join failed.  A taken nickname is recovered from; anything else is
 * reported. */
static void join_failed(ipop__xmpp *x, room *r, xmpp_stanza_t *st, room_news *news)
{
    const char *cond = error_condition(st);
    char *old, *xml;

    if (strcmp(cond, "conflict") != 0) {
        news->error = g_strdup_printf("cannot join room %s as %s: %s", r->room, r->nick, *cond ? cond : "error");
        return;
    }
    if (r->conflicts >= NICK_RETRIES) {
        news->error = g_strdup_printf("cannot join room %s: %u nicknames in a row were taken", r->room,
                                      r->conflicts + 1);
        return;
    }
    r->conflicts++;
    old = r->nick;
    r->nick = NULL;
    new_nick(r);
    news->note = g_strdup_printf("room %s: someone else holds the nickname %.60s; joining as %s", r->room, old,
                                 r->nick);
    xml = ipop__xmpp_presence_xml(r, false);
    ipop__xmpp_send_raw(x, xml);
    g_free(xml);
    g_free(old);
}

/* A presence from room/nick.  Occupants are tracked by nickname and
 * reported by node id, present while any occupant claims it. */
static void room_presence(ipop__xmpp *x, room *r, const char *nick, xmpp_stanza_t *st, const char *type,
                          room_news *news)
{
    bool own = !strcmp(nick, r->nick) || has_status(st, "110");
    occupant *o;
    GHashTableIter it;
    gpointer v;

    if (type && !strcmp(type, "error")) {
        if (own)
            join_failed(x, r, st, news);
        return;
    }
    if (type && strcmp(type, "unavailable") != 0)
        return;
    if (own && !type) {
        r->conflicts = 0;
        if (strcmp(nick, r->nick) != 0) { /* the service chose our nickname (status 210) */
            g_free(r->nick);
            r->nick = g_strdup(nick);
        }
    }
    if (!ipop__xmpp_nick_node(nick, news->node))
        return; /* not a node: nothing to say */
    news->available = !type;
    if (!type) {
        if (!g_hash_table_contains(r->occupants, nick)) {
            if (g_hash_table_size(r->occupants) >= OCCUPANTS_MAX)
                return;
            o = g_new0(occupant, 1);
            memcpy(o->node, news->node, sizeof(o->node));
            o->seq = ++r->seq;
            g_hash_table_insert(r->occupants, g_strdup(nick), o);
        }
    } else {
        g_hash_table_remove(r->occupants, nick);
        /* gone only when no other occupant says it is that node */
        g_hash_table_iter_init(&it, r->occupants);
        while (g_hash_table_iter_next(&it, NULL, &v))
            if (!strcmp(((occupant *)v)->node, news->node))
                return;
    }
    news->from = g_strdup_printf("%s/%s", r->room, news->node);
}

int ipop__xmpp_on_presence(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    ipop__xmpp *x = ud;
    const char *from = xmpp_stanza_get_from(st), *type = xmpp_stanza_get_type(st), *nick = NULL;
    xmpp_stanza_t *node_el = xmpp_stanza_get_child_by_name_and_ns(st, "node", IPOP__XMPP_NS_NODE);
    ipop__xmpp_event ev = { .type = IPOP__XMPP_PRESENCE, .from = from };
    room_news news = { 0 };
    room *r;

    if (!from)
        return 1;
    g_mutex_lock(&x->lock);
    r = ipop__xmpp_room_of(x, from, &nick);
    if (r && nick) {
        room_presence(x, r, nick, st, type, &news);
    } else if (r && type && !strcmp(type, "error")) {
        const char *cond = error_condition(st);
        news.error = g_strdup_printf("cannot join room %s: %s", r->room, *cond ? cond : "error");
    }
    g_mutex_unlock(&x->lock);
    if (news.note)
        ipop__warn(NULL, "%s", news.note);
    if (news.error)
        ipop__xmpp_emit(x, IPOP__XMPP_ROOM_ERROR, from, news.error);
    if (news.from) {
        ev.from = news.from;
        ev.available = news.available;
        ev.node = news.available ? news.node : NULL;
        x->cb(x->ud, &ev);
    }
    g_free(news.note);
    g_free(news.error);
    g_free(news.from);
    if (r)
        return 1;
    if (type && strcmp(type, "unavailable") != 0)
        return 1; /* errors are a room's business, subscriptions the roster's */
    ev.available = !type;
    ev.node = attr(node_el, "id");
    x->cb(x->ud, &ev);
    return 1;
}
