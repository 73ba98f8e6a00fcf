/* SPDX-License-Identifier: MIT */
/* The multi-user rooms of an XMPP transport (see xmpp-room.h). */
#include "xmpp-room.h"

#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "xmpp.h" /* IPOP__XMPP_NS_NODE */

/* Room nicknames.  Ours is our node id; when someone holds it already
 * (XEP-0045 7.2.9, a conflict), we join again as node id + '~' + 8 random
 * base32 characters, which nobody can take before us, up to NICK_RETRIES
 * times in a row.  Members read the node id from either form.  Several
 * occupants may claim one node id (a squatter and the real node): a
 * message to that node goes to the newest FANOUT_MAX of them, and only the
 * signalling's own authentication tells which is real. */
#define NICK_SUFFIX_LEN 8
#define NICK_SUFFIX_MAX 16
#define NICK_RETRIES 4
#define OCCUPANTS_MAX 4096    /* occupants remembered per room */
#define FANOUT_MAX 8
/* A room whose creator has not configured it yet answers a join with
 * item-not-found (XEP-0045 10.1.1): another node that created it unlocks
 * it within a round trip, so we join again, LOCKED_RETRIES times
 * LOCKED_WAIT_MS apart, before we say it stays locked. */
#define LOCKED_RETRIES 5
#define LOCKED_WAIT_MS 1000

typedef struct occupant {
    char node[IPOP__NODE_ID_LEN + 1];
    guint64 seq;               /* order of arrival */
} occupant;

struct ipop__room {
    char *room, *nick, *node_id;
    unsigned conflicts;        /* nicknames found taken since we were last in */
    unsigned locked;           /* joins refused as a locked room since we were last in */
    unsigned unlocks;          /* instant-room requests sent: their ids */
    GHashTable *occupants;     /* nick -> occupant*; guarded by the transport's lock */
    guint64 seq;
};

char *ipop__xml_escape(const char *text)
{
    GString *s = g_string_sized_new(strlen(text) + 16);

    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '&': g_string_append(s, "&amp;"); break;
        case '<': g_string_append(s, "&lt;"); break;
        case '>': g_string_append(s, "&gt;"); break;
        case '"': g_string_append(s, "&quot;"); break;
        case '\'': g_string_append(s, "&apos;"); break;
        default: g_string_append_c(s, *p);
        }
    }
    return g_string_free(s, FALSE);
}

static const char *attr(xmpp_stanza_t *s, const char *name)
{
    return s ? xmpp_stanza_get_attribute(s, name) : NULL;
}

/* ---- nicknames ---- */

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

/* ---- who speaks for our account ---- */

/* Whether a and b name the same bare JID: what comes before any '/'. */
static bool same_bare(const char *a, const char *b)
{
    size_t na, nb;

    if (!a || !b)
        return false;
    na = strcspn(a, "/");
    nb = strcspn(b, "/");
    return na == nb && g_ascii_strncasecmp(a, b, na) == 0;
}

bool ipop__xmpp_from_account(const char *from, const char *jid, const char *bound)
{
    if (!from)
        return true;
    if (strchr(from, '/'))
        return bound && !strcmp(from, bound);
    return same_bare(from, jid) || same_bare(from, bound);
}

static void new_nick(ipop__room *r)
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

/* ---- one room ---- */

ipop__room *ipop__room_new(const char *jid, const char *nick, const char *node_id)
{
    ipop__room *r = g_new0(ipop__room, 1);

    r->room = g_strdup(jid);
    r->nick = g_strdup(nick);
    r->node_id = g_strdup(node_id);
    r->occupants = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return r;
}

void ipop__room_free(gpointer p)
{
    ipop__room *r = p;
    g_free(r->room);
    g_free(r->nick);
    g_free(r->node_id);
    g_hash_table_unref(r->occupants);
    g_free(r);
}

bool ipop__room_has(const ipop__room *r, const char *from, const char **nick)
{
    size_t n = strlen(r->room);

    if (g_ascii_strncasecmp(from, r->room, n) != 0 || (from[n] != '/' && from[n] != '\0'))
        return false;
    *nick = from[n] == '/' ? from + n + 1 : NULL;
    return true;
}

char *ipop__room_canon(const ipop__room *r, const char *nick)
{
    char node[IPOP__NODE_ID_LEN + 1];

    return nick && ipop__xmpp_nick_node(nick, node) ? g_strdup_printf("%s/%s", r->room, node) : NULL;
}

char *ipop__room_presence_xml(const ipop__room *r, bool leave)
{
    char *to = g_strdup_printf("%s/%s", r->room, r->nick);
    char *eto = ipop__xml_escape(to), *eid = ipop__xml_escape(r->node_id), *xml;

    if (leave)
        xml = g_strdup_printf("<presence to='%s' type='unavailable'/>", eto);
    else
        xml = g_strdup_printf("<presence to='%s'><x xmlns='http://jabber.org/protocol/muc'>"
                              "<history maxchars='0'/></x><node xmlns='" IPOP__XMPP_NS_NODE "' id='%s'/></presence>",
                              eto, eid);
    g_free(to);
    g_free(eto);
    g_free(eid);
    return xml;
}

char *ipop__room_rejoin(ipop__room *r)
{
    g_hash_table_remove_all(r->occupants); /* the room tells us its occupants again */
    r->conflicts = 0;
    r->locked = 0;
    return ipop__room_presence_xml(r, false);
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

/* Our join failed for good: why, in words that say what to do. */
static char *join_error(const ipop__room *r, const char *cond)
{
    /* XEP-0045 10.1.1: a service that lets only some create rooms */
    if (!strcmp(cond, "not-allowed"))
        return g_strdup_printf("cannot join room %s: it does not exist and this account may not create rooms "
                               "there (not-allowed): create the room with an account that may, or allow room "
                               "creation on the server", r->room);
    if (!strcmp(cond, "item-not-found"))
        return g_strdup_printf("cannot join room %s: it stays locked (item-not-found): the client that created "
                               "it never configured it (XEP-0045 10.1); configure or destroy it", r->room);
    if (!strcmp(cond, "registration-required"))
        return g_strdup_printf("cannot join room %s: it is members-only and this account is not a member "
                               "(registration-required)", r->room);
    if (!strcmp(cond, "forbidden"))
        return g_strdup_printf("cannot join room %s: this account is banned from it (forbidden)", r->room);
    return g_strdup_printf("cannot join room %s as %s: %s", r->room, r->nick, *cond ? cond : "error");
}

/* Our join failed.  A taken nickname is recovered from, a room still
 * locked by its creator waited for; anything else is reported. */
static void join_failed(ipop__room *r, xmpp_stanza_t *st, ipop__room_news *news)
{
    const char *cond = error_condition(st);
    char *old;

    if (!strcmp(cond, "item-not-found") && r->locked < LOCKED_RETRIES) {
        r->locked++;
        news->rejoin_ms = LOCKED_WAIT_MS;
        news->note = g_strdup_printf("room %s is locked (its creator has not configured it yet): joining again "
                                     "in %u ms", r->room, LOCKED_WAIT_MS);
        return;
    }
    if (strcmp(cond, "conflict") != 0) {
        news->error = join_error(r, cond);
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
    news->send = ipop__room_presence_xml(r, false);
    g_free(old);
}

/* XEP-0045 10.1.2: we created the room, which stays locked until its
 * owner configures it; an empty submitted form accepts the service's
 * default configuration (an "instant room"). */
static char *unlock_xml(ipop__room *r)
{
    char *eroom = ipop__xml_escape(r->room);
    char *xml = g_strdup_printf("<iq type='set' id='ipop-unlock-%u' to='%s'><query "
                                "xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
                                "type='submit'/></query></iq>", ++r->unlocks, eroom);

    g_free(eroom);
    return xml;
}

bool ipop__room_unlock_id(const ipop__room *r, const char *id)
{
    char want[32];

    snprintf(want, sizeof(want), "ipop-unlock-%u", r->unlocks);
    return r->unlocks && id && !strcmp(id, want);
}

void ipop__room_unlock_answer(ipop__room *r, xmpp_stanza_t *st, const char *type, ipop__room_news *news)
{
    const char *cond;

    if (!type || strcmp(type, "error") != 0) {
        news->note = g_strdup_printf("room %s created as an instant room", r->room);
        return;
    }
    cond = error_condition(st);
    news->error = g_strdup_printf("created room %s but the server refused to unlock it as an instant room (%s): "
                                  "the other members cannot join it", r->room, *cond ? cond : "error");
}

/* A presence from room/nick.  Occupants are tracked by nickname and
 * reported by node id, present while any occupant claims it. */
static void occupant_presence(ipop__room *r, const char *nick, xmpp_stanza_t *st, const char *type,
                              ipop__room_news *news)
{
    bool own = !strcmp(nick, r->nick) || has_status(st, "110");
    occupant *o;
    GHashTableIter it;
    gpointer v;

    if (type && !strcmp(type, "error")) {
        if (own)
            join_failed(r, st, news);
        return;
    }
    if (type && strcmp(type, "unavailable") != 0)
        return;
    if (own && !type) {
        r->conflicts = 0;
        r->locked = 0;
        if (has_status(st, "201"))
            news->unlock = unlock_xml(r);
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

void ipop__room_presence(ipop__room *r, const char *nick, xmpp_stanza_t *st, const char *type,
                         ipop__room_news *news)
{
    if (nick) {
        occupant_presence(r, nick, st, type, news);
    } else if (type && !strcmp(type, "error")) {
        const char *cond = error_condition(st);
        news->error = g_strdup_printf("cannot join room %s: %s", r->room, *cond ? cond : "error");
    }
}

void ipop__room_news_clear(ipop__room_news *news)
{
    g_free(news->from);
    g_free(news->error);
    g_free(news->note);
    g_free(news->send);
    g_free(news->unlock);
    memset(news, 0, sizeof(*news));
}

GPtrArray *ipop__room_fanout(const ipop__room *r, const char *nick)
{
    GPtrArray *to_list = NULL;
    GHashTableIter it;
    gpointer k, v;
    occupant *best[FANOUT_MAX];
    const char *best_nick[FANOUT_MAX];
    guint n = 0;

    if (nick && ipop__node_id_valid(nick)) {
        g_hash_table_iter_init(&it, r->occupants);
        while (g_hash_table_iter_next(&it, &k, &v)) {
            occupant *o = v;
            guint i;
            if (strcmp(o->node, nick) != 0)
                continue;
            if (n == FANOUT_MAX && o->seq < best[n - 1]->seq)
                continue;
            /* insertion, newest first */
            i = n < FANOUT_MAX ? n++ : n - 1;
            for (; i > 0 && best[i - 1]->seq < o->seq; i--) {
                best[i] = best[i - 1];
                best_nick[i] = best_nick[i - 1];
            }
            best[i] = o;
            best_nick[i] = k;
        }
        if (n) {
            to_list = g_ptr_array_new_with_free_func(g_free);
            for (guint i = 0; i < n; i++)
                g_ptr_array_add(to_list, g_strdup_printf("%s/%s", r->room, best_nick[i]));
        }
    }
    return to_list;
}
