/* SPDX-License-Identifier: MIT */
/* XMPP transport for signalling over libstrophe, in a thread of its own:
 * the connection, its keepalive and the server's certificate, the
 * stanzas in and out; the multi-user rooms are in xmpp-room.c. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <strophe.h>

#include <glib.h>
#include <gnutls/crypto.h>

#include "log.h"
#include "message.h"
#include "xmpp-iq.h"
#include "xmpp-room.h"
#include "xmpp-why.h"
#include "xmpp.h"

#define RUN_SLICE_MS 10       /* how long one select() in libstrophe may wait */
#define QUEUE_MAX 512         /* stanzas waiting for the connection */
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
/* A refused password or certificate will not change by itself: try again
 * slowly, and never hammer a server that counts failed logins. */
#define SLOW_BACKOFF_MIN_MS 5000
#define SLOW_BACKOFF_MAX_MS 300000
/* While a problem lasts, it is told again (a summary) this often. */
#define REMIND_US (600 * G_USEC_PER_SEC)
/* A dead connection (its NAT mapping gone, the host renumbered) says
 * nothing: a ping to the server every 30 s, answered within 10 s, finds
 * it; one asked for by the links (ipop__xmpp_check) must be answered
 * within 1.5 s. */
#define KEEPALIVE_MS 30000
#define KEEPALIVE_WAIT_MS 10000
#define CHECK_WAIT_MS 1500
#define ANSWERS_MAX 20        /* iq answers a second (disco#info, errors) */


struct ipop__xmpp {
    char *jid, *password, *server, *fingerprint, *node_id;
    bool roster;
    unsigned port;
    bool require_tls;
    ipop__xmpp_cb cb;
    void *ud;

    GThread *thread;
    gint stop;
    /* owned by the thread */
    xmpp_ctx_t *ctx;
    xmpp_conn_t *conn;
    xmpp_log_t log;
    bool connecting, online;
    gint64 next_attempt;
    guint backoff_ms;
    int sock;                  /* the connection's socket, or -1 */
    gint64 next_ping;          /* when the next keepalive ping is due */
    gint64 ping_deadline;      /* an answer to ping_id is due by then, or 0 */
    char ping_id[32];
    char roster_id[32];        /* id of our roster query, new each session */
    unsigned pings;
    bool kicked;               /* we cut the connection: connect again at once */
    gint check;                /* a check was asked for (atomic) */
    /* the state told to the overlay (set_state) */
    ipop_signal_state_t state;
    ipop_reason_t reason;
    char condition[64];
    gint64 state_since, reminded;
    unsigned failures;
    guint slow_backoff_ms;
    struct ipop__xmpp_attempt attempt; /* what this attempt learned before it failed */
    gint64 answers_since;      /* iq answers sent since then (answer_iq) */
    unsigned answers;

    GMutex lock;               /* guards queue, rooms, online_flag */
    GQueue queue;              /* char*: serialized stanzas */
    GPtrArray *rooms;          /* ipop__room* (xmpp-room.c) */
    gint online_flag;
};

/* certfail handlers get only the certificate: find our transport by ctx */
static GMutex registry_lock;
static GHashTable *registry; /* xmpp_ctx_t* -> ipop__xmpp* */

static void emit(ipop__xmpp *x, ipop__xmpp_event_type type, const char *from, const char *text)
{
    ipop__xmpp_event ev = { .type = type, .from = from, .text = text };
    x->cb(x->ud, &ev);
}

/* libstrophe tells a refused password and a refused connection only in its
 * log: noted for the end of the attempt (on_conn), see xmpp-why.c. */
static void on_log(void *ud, xmpp_log_level_t level, const char *area, const char *msg)
{
    ipop__xmpp *x = ud;

    ipop__xmpp_why_note(&x->attempt, area, msg);
    if (level >= XMPP_LEVEL_WARN)
        ipop__dbg(NULL, "xmpp %s: %.200s", area, msg);
}

static bool cert_matches(ipop__xmpp *x, const xmpp_tlscert_t *cert)
{
    char fp[65];

    ipop__xmpp_fingerprint_norm(xmpp_tlscert_get_string(cert, XMPP_CERT_FINGERPRINT_SHA256), fp);
    return x->fingerprint && strcmp(fp, x->fingerprint) == 0;
}

/* Called when the server's certificate does not verify: a pinned
 * fingerprint may still vouch for it. */
static int on_certfail(const xmpp_tlscert_t *cert, const char *const why)
{
    ipop__xmpp *x;
    bool ok;

    g_mutex_lock(&registry_lock);
    x = registry ? g_hash_table_lookup(registry, xmpp_tlscert_get_ctx(cert)) : NULL;
    g_mutex_unlock(&registry_lock);
    ok = x && cert_matches(x, cert);
    if (!ok && x) {
        /* told once per change of state by the overlay, not per attempt */
        x->attempt.tls_refused = true;
        g_strlcpy(x->attempt.tls_why, why ? why : "it does not verify", sizeof(x->attempt.tls_why));
        ipop__xmpp_fingerprint_norm(xmpp_tlscert_get_string(cert, XMPP_CERT_FINGERPRINT_SHA256),
                                    x->attempt.tls_seen);
    }
    return ok ? 1 : 0;
}

static void send_raw(ipop__xmpp *x, const char *xml)
{
    xmpp_send_raw(x->conn, xml, strlen(xml));
}

static const char *attr(xmpp_stanza_t *s, const char *name)
{
    return s ? xmpp_stanza_get_attribute(s, name) : NULL;
}

/* Input we ignore on purpose: the overlay counts and reports it. */
static void refuse(ipop__xmpp *x, const char *from, const char *why)
{
    emit(x, IPOP__XMPP_REFUSED, from, why);
}

/* RFC 6121 2.1.3 and 2.1.6: see ipop__xmpp_from_account. */
static bool from_own_account(ipop__xmpp *x, const char *from)
{
    return ipop__xmpp_from_account(from, x->jid, xmpp_conn_get_bound_jid(x->conn));
}

/* The room `from` (room/nick, or the room itself) belongs to, and the nick
 * in it (NULL for the room itself).  Under x->lock. */
static ipop__room *room_of(ipop__xmpp *x, const char *from, const char **nick)
{
    for (guint i = 0; i < x->rooms->len; i++)
        if (ipop__room_has(x->rooms->pdata[i], from, nick))
            return x->rooms->pdata[i];
    return NULL;
}

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    ipop__xmpp *x = ud;
    xmpp_stanza_t *el = xmpp_stanza_get_child_by_name_and_ns(st, "ipop", IPOP__XMPP_NS_SIGNAL);
    const char *from = xmpp_stanza_get_from(st), *type = xmpp_stanza_get_type(st), *nick = NULL;
    ipop__xmpp_event ev = { .type = IPOP__XMPP_SIGNAL };
    char *text, *canon = NULL;
    ipop__room *r;

    if (!el || !from || (type && !strcmp(type, "error")))
        return 1;
    /* We send signals as private chat; a room broadcast (groupchat), a
     * headline or a normal message with one is someone else's making. */
    if (!type || strcmp(type, "chat") != 0) {
        refuse(x, from, "a signalling payload in a message that is not a chat");
        return 1;
    }
    g_mutex_lock(&x->lock);
    r = room_of(x, from, &nick);
    if (r && nick)
        canon = ipop__room_canon(r, nick);
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
        ev.asked = !g_strcmp0(attr(item, "ask"), "subscribe");
        if (!name || strcmp(name, "item") != 0 || !ev.from)
            continue;
        if (!ev.text)
            ev.text = "none";
        x->cb(x->ud, &ev);
    }
}

/* The answer to our instant-room request (xmpp-room.c), from the room
 * itself: true when it was one. */
static bool unlock_answer(ipop__xmpp *x, xmpp_stanza_t *st, const char *type, const char *id, const char *from)
{
    ipop__room_news news = { 0 };
    const char *nick = NULL;
    ipop__room *r;
    bool ours = false;

    if (!from || !id || (strcmp(type, "result") != 0 && strcmp(type, "error") != 0))
        return false;
    g_mutex_lock(&x->lock);
    r = room_of(x, from, &nick);
    if (r && !nick && ipop__room_unlock_id(r, id)) {
        ours = true;
        ipop__room_unlock_answer(r, st, type, &news);
    }
    g_mutex_unlock(&x->lock);
    if (news.note)
        ipop__info(NULL, "%s", news.note);
    if (news.error)
        emit(x, IPOP__XMPP_ROOM_ERROR, from, news.error);
    ipop__room_news_clear(&news);
    return ours;
}

/* Queries the other handlers do not take: disco#info and ping answered,
 * anything else refused as RFC 6120 8.4 asks (a client waiting for an
 * answer then needs no timeout).  At most ANSWERS_MAX a second: what the
 * network sends us makes no more than that leave. */
static void answer_iq(ipop__xmpp *x, xmpp_stanza_t *st)
{
    gint64 now = g_get_monotonic_time();
    char *xml;

    if (now - x->answers_since >= G_USEC_PER_SEC) {
        x->answers_since = now;
        x->answers = 0;
    }
    if (x->answers >= ANSWERS_MAX)
        return;
    xml = ipop__xmpp_iq_answer(st);
    if (!xml)
        return;
    x->answers++;
    send_raw(x, xml);
    g_free(xml);
}

/* The roster: the answer to our query, and pushes from the server. */
static int on_iq(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
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
            send_raw(x, xml);
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
    } else if (!unlock_answer(x, st, type, id, from)) {
        answer_iq(x, st);
    }
    return 1;
}

/* RFC 6121 3: a subscription request or answer, stamped by the server with
 * the bare JID of the account it comes from (a full JID is a resource
 * speaking for itself: not the account's word). */
static void subscription(ipop__xmpp *x, const char *from, const char *type)
{
    if (strcmp(type, "subscribe") != 0 && strcmp(type, "subscribed") != 0 && strcmp(type, "unsubscribe") != 0 &&
        strcmp(type, "unsubscribed") != 0)
        return;
    if (strchr(from, '/')) {
        refuse(x, from, "a subscription stanza from a full JID");
        return;
    }
    emit(x, IPOP__XMPP_SUBSCRIPTION, from, type);
}

/* A room locked by its creator: every room we are not in yet asks to
 * join again (one more presence to a room we are in changes nothing). */
static int on_rejoin(xmpp_conn_t *conn, void *ud)
{
    ipop__xmpp *x = ud;

    g_mutex_lock(&x->lock);
    for (guint i = 0; i < x->rooms->len; i++) {
        char *xml = ipop__room_presence_xml(x->rooms->pdata[i], false);
        send_raw(x, xml);
        g_free(xml);
    }
    g_mutex_unlock(&x->lock);
    return 0; /* once */
}

static int on_presence(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    ipop__xmpp *x = ud;
    const char *from = xmpp_stanza_get_from(st), *type = xmpp_stanza_get_type(st), *nick = NULL;
    xmpp_stanza_t *node_el = xmpp_stanza_get_child_by_name_and_ns(st, "node", IPOP__XMPP_NS_NODE);
    ipop__xmpp_event ev = { .type = IPOP__XMPP_PRESENCE, .from = from };
    ipop__room_news news = { 0 };
    ipop__room *r;

    if (!from)
        return 1;
    g_mutex_lock(&x->lock);
    r = room_of(x, from, &nick);
    if (r)
        ipop__room_presence(r, nick, st, type, &news);
    g_mutex_unlock(&x->lock);
    if (news.send)
        send_raw(x, news.send); /* our join again, under another nickname */
    if (news.unlock)
        send_raw(x, news.unlock); /* we created the room: unlock it */
    if (news.rejoin_ms)
        xmpp_timed_handler_add(conn, on_rejoin, news.rejoin_ms, x);
    if (news.note)
        ipop__warn(NULL, "%s", news.note);
    if (news.error)
        emit(x, IPOP__XMPP_ROOM_ERROR, from, news.error);
    if (news.from) {
        ev.from = news.from;
        ev.available = news.available;
        ev.node = news.available ? news.node : NULL;
        x->cb(x->ud, &ev);
    }
    ipop__room_news_clear(&news);
    if (r)
        return 1;
    if (type && strcmp(type, "unavailable") != 0) {
        subscription(x, from, type);
        return 1; /* errors are a room's business */
    }
    ev.available = !type;
    ev.node = attr(node_el, "id");
    x->cb(x->ud, &ev);
    return 1;
}

static ipop__xmpp *by_ctx(xmpp_ctx_t *ctx)
{
    ipop__xmpp *x;

    g_mutex_lock(&registry_lock);
    x = registry ? g_hash_table_lookup(registry, ctx) : NULL;
    g_mutex_unlock(&registry_lock);
    return x;
}

/* Each socket libstrophe makes: remembered (to cut it when the server is
 * gone) and given TCP keepalives and a bound on unacknowledged data. */
static int on_socket(xmpp_conn_t *conn, void *sockp)
{
    ipop__xmpp *x = by_ctx(xmpp_conn_get_context(conn));
    int fd = *(int *)sockp, on = 1, idle = 15, intvl = 5, cnt = 3;
    unsigned user_timeout = 10000;

    if (x)
        x->sock = fd;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
    return 0;
}

static void send_ping(ipop__xmpp *x, guint wait_ms)
{
    gint64 now = g_get_monotonic_time(), due = now + (gint64)wait_ms * 1000;
    char *domain, *xml;

    if (x->ping_deadline) {
        x->ping_deadline = MIN(x->ping_deadline, due); /* one in flight: wait less */
        return;
    }
    snprintf(x->ping_id, sizeof(x->ping_id), "ipop-ping-%u", ++x->pings);
    domain = xmpp_jid_domain(x->ctx, x->jid);
    xml = g_strdup_printf("<iq type='get' id='%s' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>", x->ping_id,
                          domain ? domain : "");
    send_raw(x, xml);
    g_free(xml);
    if (domain)
        xmpp_free(x->ctx, domain);
    x->ping_deadline = due;
    x->next_ping = now + (gint64)KEEPALIVE_MS * 1000;
}

/* The server did not answer: cut the connection, which makes libstrophe
 * report it lost at once, and connect again without waiting. */
static void kick(ipop__xmpp *x)
{
    x->ping_deadline = 0;
    x->kicked = true;
    if (x->sock >= 0)
        shutdown(x->sock, SHUT_RDWR);
    else
        xmpp_disconnect(x->conn);
}

/* Tells the overlay the transport's state when it changed, and while a
 * problem lasts a summary every REMIND_US: one line per problem, not one
 * per attempt. */
static void set_state(ipop__xmpp *x, ipop_signal_state_t state, ipop_reason_t reason, const char *text,
                      const char *condition, const char *fingerprint)
{
    gint64 now = g_get_monotonic_time();
    bool changed = state != x->state || reason != x->reason || g_strcmp0(condition ? condition : "", x->condition);
    ipop__xmpp_event ev = { .type = IPOP__XMPP_STATE, .state = state, .reason = reason, .text = text,
                            .condition = condition && condition[0] ? condition : NULL,
                            .fingerprint = fingerprint && fingerprint[0] ? fingerprint : NULL };

    if (changed) {
        x->state_since = x->reminded = now;
    } else if (now - x->reminded >= REMIND_US) {
        x->reminded = now;
        ev.repeat = true;
    } else {
        ev.quiet = true; /* the same again: only the numbers move */
    }
    x->state = state;
    x->reason = reason;
    g_strlcpy(x->condition, condition ? condition : "", sizeof(x->condition));
    ev.since = x->state_since;
    ev.retry_at = state == IPOP_SIGNAL_UP || state == IPOP_SIGNAL_CONNECTING ? 0 : x->next_attempt;
    /* up: the failures before it, for the summary; then counted from 0 */
    ev.failures = state == IPOP_SIGNAL_UP || state == IPOP_SIGNAL_CONNECTING ? x->failures : ++x->failures;
    if (state == IPOP_SIGNAL_UP)
        x->failures = 0;
    x->cb(x->ud, &ev);
}

/* An attempt or a session ended: when to try again.  A refused password
 * or certificate waits 5 s, doubling to 5 min; the rest 0.5 s to 30 s. */
static void plan_retry(ipop__xmpp *x, bool slow)
{
    guint *b = slow ? &x->slow_backoff_ms : &x->backoff_ms;

    if (x->kicked) {
        x->kicked = false;
        x->next_attempt = 0;
        return;
    }
    x->next_attempt = g_get_monotonic_time() + (gint64)*b * 1000;
    *b = MIN(*b * 2, slow ? SLOW_BACKOFF_MAX_MS : BACKOFF_MAX_MS);
}

/* The condition of a stream error: its first child other than <text/>. */
static void stream_condition(xmpp_stream_error_t *serr, char *out, size_t size)
{
    out[0] = '\0';
    for (xmpp_stanza_t *c = serr && serr->stanza ? xmpp_stanza_get_children(serr->stanza) : NULL; c;
         c = xmpp_stanza_get_next(c)) {
        const char *name = xmpp_stanza_get_name(c);
        if (name && xmpp_stanza_is_tag(c) && strcmp(name, "text") != 0) {
            g_strlcpy(out, name, size);
            return;
        }
    }
}

/* Why an attempt or a session ended, as a state, from what libstrophe and
 * our own handlers saw (xmpp-why.c). */
static void ended(ipop__xmpp *x, bool was_online, int error, xmpp_stream_error_t *serr)
{
    char cond[64], text[512];
    const char *host = x->server ? x->server : strchr(x->jid, '@') ? strchr(x->jid, '@') + 1 : x->jid;
    ipop__xmpp_end end;

    stream_condition(serr, cond, sizeof(cond));
    ipop__xmpp_why_ended(&x->attempt, was_online, error, serr ? cond : NULL, serr ? serr->text : NULL, x->kicked,
                         host, text, sizeof(text), &end);
    plan_retry(x, end.slow);
    set_state(x, end.state, end.reason, text, end.condition, end.fingerprint);
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t event, int error, xmpp_stream_error_t *serr, void *ud)
{
    ipop__xmpp *x = ud;
    bool was_online = x->online;

    x->connecting = false;
    if (event == XMPP_CONN_CONNECT) {
        if (x->fingerprint) {
            xmpp_tlscert_t *cert = xmpp_conn_get_peer_cert(conn);
            bool ok = cert && cert_matches(x, cert);
            if (!ok) {
                /* a certificate that verifies, but not the pinned one */
                x->attempt.tls_refused = true;
                g_strlcpy(x->attempt.tls_why, "it is not the one pinned with xmpp.server-fingerprint",
                          sizeof(x->attempt.tls_why));
                ipop__xmpp_fingerprint_norm(
                    cert ? xmpp_tlscert_get_string(cert, XMPP_CERT_FINGERPRINT_SHA256) : NULL, x->attempt.tls_seen);
            }
            if (cert)
                xmpp_tlscert_free(cert);
            if (!ok) {
                xmpp_disconnect(conn);
                return;
            }
        }
        x->online = true;
        x->backoff_ms = BACKOFF_MIN_MS;
        x->slow_backoff_ms = SLOW_BACKOFF_MIN_MS;
        x->ping_deadline = 0;
        x->next_ping = g_get_monotonic_time() + (gint64)KEEPALIVE_MS * 1000;
        xmpp_handler_delete(conn, on_message);
        xmpp_handler_delete(conn, on_presence);
        xmpp_handler_delete(conn, on_iq);
        xmpp_handler_add(conn, on_message, NULL, "message", NULL, x);
        xmpp_handler_add(conn, on_presence, NULL, "presence", NULL, x);
        xmpp_handler_add(conn, on_iq, NULL, "iq", NULL, x);
        if (!xmpp_conn_is_secured(conn))
            ipop__warn(NULL, "XMPP session to %s is not encrypted (xmpp.require-tls=false): the password and "
                       "all signalling cross the network in clear", x->server ? x->server : x->jid);
        if (x->roster) {
            uint8_t rnd[8];
            char *xml;
            gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd));
            snprintf(x->roster_id, sizeof(x->roster_id), "ipop-roster-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0],
                     rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
            xml = g_strdup_printf("<iq type='get' id='%s'><query xmlns='jabber:iq:roster'/></iq>", x->roster_id);
            send_raw(x, xml);
            g_free(xml);
        }
        {
            char *xml = ipop__xmpp_presence_xml(x->node_id); /* priority -1: xmpp-iq.h */
            send_raw(x, xml);
            g_free(xml);
        }
        g_mutex_lock(&x->lock);
        for (guint i = 0; i < x->rooms->len; i++) {
            char *xml = ipop__room_rejoin(x->rooms->pdata[i]);
            send_raw(x, xml);
            g_free(xml);
        }
        g_atomic_int_set(&x->online_flag, 1);
        g_mutex_unlock(&x->lock);
        ipop__info(NULL, "XMPP session up as %s", xmpp_conn_get_bound_jid(conn));
        set_state(x, IPOP_SIGNAL_UP, IPOP_REASON_NONE, "up", NULL, NULL);
        emit(x, IPOP__XMPP_ONLINE, xmpp_conn_get_bound_jid(conn), NULL);
        return;
    }
    /* disconnected or failed: try again later, backing off */
    g_atomic_int_set(&x->online_flag, 0);
    x->sock = -1;
    x->ping_deadline = 0;
    x->online = false;
    ended(x, was_online, error, serr);
    if (was_online)
        emit(x, IPOP__XMPP_OFFLINE, NULL, serr && serr->text ? serr->text : error ? g_strerror(error) : "disconnected");
}

static void try_connect(ipop__xmpp *x)
{
    long flags = x->require_tls ? XMPP_CONN_FLAG_MANDATORY_TLS : 0;
    char *domain, text[300];
    const char *host;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    int e;

    if (x->state == IPOP_SIGNAL_NONE)
        set_state(x, IPOP_SIGNAL_CONNECTING, IPOP_REASON_NONE, "connecting", NULL, NULL);
    x->attempt = (struct ipop__xmpp_attempt){ 0 };
    xmpp_conn_set_flags(x->conn, flags);
    if (xmpp_connect_client(x->conn, x->server, (unsigned short)x->port, on_conn, x) == XMPP_EOK) {
        x->connecting = true;
        return;
    }
    /* libstrophe says only that it failed: a name that does not resolve
     * is the usual cause, and the one to tell at once. */
    domain = xmpp_jid_domain(x->ctx, x->jid);
    host = x->server ? x->server : domain ? domain : "";
    e = getaddrinfo(host, NULL, &hints, &res);
    if (res)
        freeaddrinfo(res);
    plan_retry(x, false);
    if (e) {
        snprintf(text, sizeof(text), "the server's name %s does not resolve (%s)%s", host, gai_strerror(e),
                 x->server ? "" : "; set xmpp.server if the JID's domain is not the server's name");
        set_state(x, IPOP_SIGNAL_UNREACHABLE, IPOP_REASON_NAME_NOT_RESOLVED, text, NULL, NULL);
    } else {
        snprintf(text, sizeof(text), "cannot connect to %s", host);
        set_state(x, IPOP_SIGNAL_UNREACHABLE, IPOP_REASON_UNREACHABLE, text, NULL, NULL);
    }
    if (domain)
        xmpp_free(x->ctx, domain);
}

/* Hands the queued stanzas to libstrophe. */
static void flush_queue(ipop__xmpp *x)
{
    GQueue q = G_QUEUE_INIT;
    char *xml;

    g_mutex_lock(&x->lock);
    q = x->queue;
    g_queue_init(&x->queue);
    g_mutex_unlock(&x->lock);
    while ((xml = g_queue_pop_head(&q))) {
        if (x->online)
            send_raw(x, xml);
        g_free(xml);
    }
}

static gpointer run(gpointer p)
{
    ipop__xmpp *x = p;
    gint64 end;

    while (!g_atomic_int_get(&x->stop)) {
        if (!x->online && !x->connecting && xmpp_conn_is_disconnected(x->conn) &&
            g_get_monotonic_time() >= x->next_attempt)
            try_connect(x);
        flush_queue(x);
        if (x->online) {
            gint64 now = g_get_monotonic_time();
            if (g_atomic_int_exchange(&x->check, 0))
                send_ping(x, CHECK_WAIT_MS);
            else if (now >= x->next_ping)
                send_ping(x, KEEPALIVE_WAIT_MS);
            if (x->ping_deadline && now >= x->ping_deadline)
                kick(x);
        } else {
            g_atomic_int_set(&x->check, 0); /* connecting anyway */
        }
        xmpp_run_once(x->ctx, RUN_SLICE_MS);
    }
    /* goodbye: what was queued (a link's bye), leaving the rooms, then the
     * stream, bounded in time */
    flush_queue(x);
    if (x->online) {
        g_mutex_lock(&x->lock);
        for (guint i = 0; i < x->rooms->len; i++) {
            char *xml = ipop__room_presence_xml(x->rooms->pdata[i], true);
            send_raw(x, xml);
            g_free(xml);
        }
        g_mutex_unlock(&x->lock);
        send_raw(x, "<presence type='unavailable'/>");
        end = g_get_monotonic_time() + G_USEC_PER_SEC;
        while (xmpp_conn_send_queue_len(x->conn) > 0 && g_get_monotonic_time() < end)
            xmpp_run_once(x->ctx, RUN_SLICE_MS);
    }
    if (!xmpp_conn_is_disconnected(x->conn)) {
        xmpp_disconnect(x->conn);
        end = g_get_monotonic_time() + G_USEC_PER_SEC;
        while (!xmpp_conn_is_disconnected(x->conn) && g_get_monotonic_time() < end)
            xmpp_run_once(x->ctx, RUN_SLICE_MS);
    }
    return NULL;
}

int ipop__xmpp_start(ipop__xmpp **ret, const ipop__xmpp_config *cfg, ipop__xmpp_cb cb, void *user_data)
{
    static gsize once;
    ipop__xmpp *x;
    char fp[65];

    if (!cfg->jid || !cfg->password || !cb)
        return -EINVAL;
    if (g_once_init_enter(&once)) {
        xmpp_initialize();
        g_once_init_leave(&once, 1);
    }
    x = g_new0(ipop__xmpp, 1);
    x->jid = cfg->resource ? g_strdup_printf("%s/%s", cfg->jid, cfg->resource) : g_strdup(cfg->jid);
    x->password = g_strdup(cfg->password);
    x->server = g_strdup(cfg->server);
    x->node_id = cfg->node_id && ipop__node_id_valid(cfg->node_id) ? g_strdup(cfg->node_id) : NULL;
    x->roster = cfg->roster;
    x->port = cfg->port;
    x->require_tls = cfg->require_tls;
    if (!x->require_tls)
        ipop__warn(NULL, "xmpp.require-tls=false: whoever is on the path to the XMPP server can strip STARTTLS "
                   "and read the password and the signalling without a word; set it to true");
    if (cfg->fingerprint) {
        ipop__xmpp_fingerprint_norm(cfg->fingerprint, fp);
        x->fingerprint = g_strdup(fp);
    }
    x->cb = cb;
    x->ud = user_data;
    x->backoff_ms = BACKOFF_MIN_MS;
    x->slow_backoff_ms = SLOW_BACKOFF_MIN_MS;
    g_mutex_init(&x->lock);
    g_queue_init(&x->queue);
    x->rooms = g_ptr_array_new_with_free_func(ipop__room_free);
    x->log.handler = on_log;
    x->log.userdata = x;
    x->ctx = xmpp_ctx_new(NULL, &x->log);
    x->conn = x->ctx ? xmpp_conn_new(x->ctx) : NULL;
    if (!x->conn) {
        ipop__xmpp_stop(x);
        return -ENOMEM;
    }
    xmpp_conn_set_jid(x->conn, x->jid);
    xmpp_conn_set_pass(x->conn, x->password);
    xmpp_conn_set_certfail_handler(x->conn, on_certfail);
    xmpp_conn_set_sockopt_callback(x->conn, on_socket);
    x->sock = -1;
    g_mutex_lock(&registry_lock);
    if (!registry)
        registry = g_hash_table_new(NULL, NULL);
    g_hash_table_insert(registry, x->ctx, x);
    g_mutex_unlock(&registry_lock);
    x->thread = g_thread_try_new("ipop-xmpp", run, x, NULL);
    if (!x->thread) {
        ipop__xmpp_stop(x);
        return -EAGAIN;
    }
    *ret = x;
    return 0;
}

void ipop__xmpp_stop(ipop__xmpp *x)
{
    if (!x)
        return;
    g_atomic_int_set(&x->stop, 1);
    if (x->thread)
        g_thread_join(x->thread);
    g_mutex_lock(&registry_lock);
    if (registry)
        g_hash_table_remove(registry, x->ctx);
    g_mutex_unlock(&registry_lock);
    if (x->conn)
        xmpp_conn_release(x->conn);
    if (x->ctx)
        xmpp_ctx_free(x->ctx);
    g_queue_clear_full(&x->queue, g_free);
    g_ptr_array_unref(x->rooms);
    g_mutex_clear(&x->lock);
    if (x->password)
        memset(x->password, 0, strlen(x->password));
    g_free(x->password);
    g_free(x->jid);
    g_free(x->server);
    g_free(x->fingerprint);
    g_free(x->node_id);
    g_free(x);
}

void ipop__xmpp_check(ipop__xmpp *x)
{
    g_atomic_int_set(&x->check, 1);
}

static void enqueue(ipop__xmpp *x, char *xml)
{
    g_mutex_lock(&x->lock);
    if (g_queue_get_length(&x->queue) < QUEUE_MAX)
        g_queue_push_tail(&x->queue, xml);
    else
        g_free(xml);
    g_mutex_unlock(&x->lock);
}

/* The occupants a message to room/NODE-ID goes to, or NULL when `to` is
 * not a node in one of our rooms or none claims it yet. */
static GPtrArray *fanout(ipop__xmpp *x, const char *to)
{
    const char *nick = NULL;
    GPtrArray *targets = NULL;
    ipop__room *r;

    g_mutex_lock(&x->lock);
    r = room_of(x, to, &nick);
    if (r && nick)
        targets = ipop__room_fanout(r, nick);
    g_mutex_unlock(&x->lock);
    return targets;
}

int ipop__xmpp_send_signal(ipop__xmpp *x, const char *to, const char *text, const char *ts, const char *nonce,
                           const char *mac)
{
    char *etext, *ets, *enonce, *emac, *body;
    const char *muc;
    GPtrArray *targets;

    if (!g_atomic_int_get(&x->online_flag))
        return -ENOTCONN;
    etext = ipop__xml_escape(text);
    ets = ipop__xml_escape(ts ? ts : "");
    enonce = ipop__xml_escape(nonce ? nonce : "");
    emac = ipop__xml_escape(mac ? mac : "");
    body = g_strdup_printf("<ipop xmlns='" IPOP__XMPP_NS_SIGNAL "' ts='%s' nonce='%s' mac='%s'>%s</ipop>"
                           IPOP__XMPP_SIGNAL_HINTS "</message>", ets, enonce, emac, etext);
    targets = fanout(x, to);
    /* XEP-0045 7.5: a private message through a room says so */
    muc = targets ? "<x xmlns='http://jabber.org/protocol/muc#user'/>" : "";
    if (!targets) {
        targets = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(targets, g_strdup(to));
    }
    for (guint i = 0; i < targets->len; i++) {
        char *eto = ipop__xml_escape(targets->pdata[i]);
        enqueue(x, g_strdup_printf("<message to='%s' type='chat'>%s%s", eto, muc, body));
        g_free(eto);
    }
    g_ptr_array_unref(targets);
    g_free(body);
    g_free(etext);
    g_free(ets);
    g_free(enonce);
    g_free(emac);
    return 0;
}

void ipop__xmpp_join_room(ipop__xmpp *x, const char *room_jid, const char *nick, const char *node_id)
{
    ipop__room *r = ipop__room_new(room_jid, nick, node_id);

    g_mutex_lock(&x->lock);
    g_ptr_array_add(x->rooms, r);
    if (g_atomic_int_get(&x->online_flag))
        g_queue_push_tail(&x->queue, ipop__room_presence_xml(r, false));
    g_mutex_unlock(&x->lock);
}

int ipop__xmpp_send_xml(ipop__xmpp *x, const char *xml)
{
    if (!g_atomic_int_get(&x->online_flag))
        return -ENOTCONN;
    enqueue(x, g_strdup(xml));
    return 0;
}
