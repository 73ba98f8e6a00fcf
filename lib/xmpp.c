/* SPDX-License-Identifier: MIT */
/* XMPP transport for signalling over libstrophe, in a thread of its own:
 * the connection, keepalives, reconnects and the outgoing queue.  What
 * arrives is handled in xmpp-stanza.c. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <strophe.h>

#include <glib.h>
#include <gnutls/crypto.h>

#include "log.h"
#include "message.h"
#include "xmpp.h"

#include "xmpp-private.h"

/* certfail handlers get only the certificate: find our transport by ctx */
static GMutex registry_lock;
static GHashTable *registry; /* xmpp_ctx_t* -> ipop__xmpp* */

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

void ipop__xmpp_emit(ipop__xmpp *x, ipop__xmpp_event_type type, const char *from, const char *text)
{
    ipop__xmpp_event ev = { .type = type, .from = from, .text = text };
    x->cb(x->ud, &ev);
}

static void on_log(void *ud, xmpp_log_level_t level, const char *area, const char *msg)
{
    if (level >= XMPP_LEVEL_WARN)
        ipop__dbg(NULL, "xmpp %s: %.200s", area, msg);
}

static void normalize_fp(const char *in, char out[65])
{
    size_t o = 0;

    for (; in && *in && o < 64; in++)
        if (g_ascii_isxdigit(*in))
            out[o++] = g_ascii_tolower(*in);
    out[o] = '\0';
}

static bool cert_matches(ipop__xmpp *x, const xmpp_tlscert_t *cert)
{
    char fp[65];

    normalize_fp(xmpp_tlscert_get_string(cert, XMPP_CERT_FINGERPRINT_SHA256), fp);
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
    if (!ok)
        ipop__warn(NULL, "XMPP server certificate refused: %s%s", why,
                   x && x->fingerprint ? " and its fingerprint is not the pinned one" : "");
    return ok ? 1 : 0;
}

void ipop__xmpp_send_raw(ipop__xmpp *x, const char *xml)
{
    xmpp_send_raw(x->conn, xml, strlen(xml));
}

char *ipop__xmpp_presence_xml(const room *r, bool leave)
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
    ipop__xmpp_send_raw(x, xml);
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
    ipop__warn(NULL, "XMPP server did not answer a ping: connecting again");
    x->ping_deadline = 0;
    x->kicked = true;
    if (x->sock >= 0)
        shutdown(x->sock, SHUT_RDWR);
    else
        xmpp_disconnect(x->conn);
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t event, int error, xmpp_stream_error_t *serr, void *ud)
{
    ipop__xmpp *x = ud;

    x->connecting = false;
    if (event == XMPP_CONN_CONNECT) {
        if (x->fingerprint) {
            xmpp_tlscert_t *cert = xmpp_conn_get_peer_cert(conn);
            bool ok = cert && cert_matches(x, cert);
            if (cert)
                xmpp_tlscert_free(cert);
            if (!ok) {
                ipop__warn(NULL, "XMPP server certificate is not the pinned one: disconnecting");
                xmpp_disconnect(conn);
                return;
            }
        }
        x->online = true;
        x->backoff_ms = BACKOFF_MIN_MS;
        x->ping_deadline = 0;
        x->next_ping = g_get_monotonic_time() + (gint64)KEEPALIVE_MS * 1000;
        xmpp_handler_delete(conn, ipop__xmpp_on_message);
        xmpp_handler_delete(conn, ipop__xmpp_on_presence);
        xmpp_handler_delete(conn, ipop__xmpp_on_iq);
        xmpp_handler_add(conn, ipop__xmpp_on_message, NULL, "message", NULL, x);
        xmpp_handler_add(conn, ipop__xmpp_on_presence, NULL, "presence", NULL, x);
        xmpp_handler_add(conn, ipop__xmpp_on_iq, NULL, "iq", NULL, x);
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
            ipop__xmpp_send_raw(x, xml);
            g_free(xml);
        }
        if (x->node_id) {
            char *xml = g_strdup_printf("<presence><node xmlns='" IPOP__XMPP_NS_NODE "' id='%s'/></presence>",
                                        x->node_id);
            ipop__xmpp_send_raw(x, xml);
            g_free(xml);
        } else {
            ipop__xmpp_send_raw(x, "<presence/>");
        }
        g_mutex_lock(&x->lock);
        for (guint i = 0; i < x->rooms->len; i++) {
            room *r = x->rooms->pdata[i];
            char *xml = ipop__xmpp_presence_xml(r, false);
            /* a new session: the room tells us its occupants again */
            g_hash_table_remove_all(r->occupants);
            r->conflicts = 0;
            ipop__xmpp_send_raw(x, xml);
            g_free(xml);
        }
        g_atomic_int_set(&x->online_flag, 1);
        g_mutex_unlock(&x->lock);
        ipop__info(NULL, "XMPP session up as %s", xmpp_conn_get_bound_jid(conn));
        ipop__xmpp_emit(x, IPOP__XMPP_ONLINE, xmpp_conn_get_bound_jid(conn), NULL);
        return;
    }
    /* disconnected or failed: try again later, backing off */
    g_atomic_int_set(&x->online_flag, 0);
    x->sock = -1;
    x->ping_deadline = 0;
    if (x->online || event == XMPP_CONN_FAIL || event == XMPP_CONN_DISCONNECT) {
        const char *why = serr && serr->text ? serr->text : error ? g_strerror(error) : "disconnected";
        if (x->online)
            ipop__warn(NULL, "XMPP session lost: %s", why);
        else
            ipop__dbg(NULL, "XMPP connection failed: %s", why);
        x->online = false;
        ipop__xmpp_emit(x, IPOP__XMPP_OFFLINE, NULL, why);
    }
    if (x->kicked) {
        x->kicked = false;
        x->next_attempt = 0;
        return;
    }
    x->next_attempt = g_get_monotonic_time() + (gint64)x->backoff_ms * 1000;
    x->backoff_ms = MIN(x->backoff_ms * 2, BACKOFF_MAX_MS);
}

static void try_connect(ipop__xmpp *x)
{
    long flags = x->require_tls ? XMPP_CONN_FLAG_MANDATORY_TLS : 0;

    xmpp_conn_set_flags(x->conn, flags);
    if (xmpp_connect_client(x->conn, x->server, (unsigned short)x->port, on_conn, x) == XMPP_EOK) {
        x->connecting = true;
    } else {
        x->next_attempt = g_get_monotonic_time() + (gint64)x->backoff_ms * 1000;
        x->backoff_ms = MIN(x->backoff_ms * 2, BACKOFF_MAX_MS);
    }
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
            ipop__xmpp_send_raw(x, xml);
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
            char *xml = ipop__xmpp_presence_xml(x->rooms->pdata[i], true);
            ipop__xmpp_send_raw(x, xml);
            g_free(xml);
        }
        g_mutex_unlock(&x->lock);
        ipop__xmpp_send_raw(x, "<presence type='unavailable'/>");
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

static void room_free(gpointer p)
{
    room *r = p;
    g_free(r->room);
    g_free(r->nick);
    g_free(r->node_id);
    g_hash_table_unref(r->occupants);
    g_free(r);
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
        normalize_fp(cfg->fingerprint, fp);
        x->fingerprint = g_strdup(fp);
    }
    x->cb = cb;
    x->ud = user_data;
    x->backoff_ms = BACKOFF_MIN_MS;
    g_mutex_init(&x->lock);
    g_queue_init(&x->queue);
    x->rooms = g_ptr_array_new_with_free_func(room_free);
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

/* The nicknames a message to room/node goes to: the newest occupants
 * that claim that node id.  NULL when `to` is not a node in one of our
 * rooms or none claims it yet. */
static GPtrArray *fanout(ipop__xmpp *x, const char *to)
{
    const char *nick = NULL;
    GPtrArray *to_list = NULL;
    GHashTableIter it;
    gpointer k, v;
    occupant *best[FANOUT_MAX];
    const char *best_nick[FANOUT_MAX];
    guint n = 0;
    room *r;

    g_mutex_lock(&x->lock);
    r = ipop__xmpp_room_of(x, to, &nick);
    if (r && nick && ipop__node_id_valid(nick)) {
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
    g_mutex_unlock(&x->lock);
    return to_list;
}

int ipop__xmpp_send_signal(ipop__xmpp *x, const char *to, const char *text, const char *ts, const char *nonce,
                           const char *mac)
{
    char *etext, *ets, *enonce, *emac, *body;
    GPtrArray *targets;

    if (!g_atomic_int_get(&x->online_flag))
        return -ENOTCONN;
    etext = ipop__xml_escape(text);
    ets = ipop__xml_escape(ts ? ts : "");
    enonce = ipop__xml_escape(nonce ? nonce : "");
    emac = ipop__xml_escape(mac ? mac : "");
    body = g_strdup_printf("type='chat'><ipop xmlns='" IPOP__XMPP_NS_SIGNAL "' ts='%s' nonce='%s' mac='%s'>%s</ipop>"
                           "<no-store xmlns='urn:xmpp:hints'/></message>", ets, enonce, emac, etext);
    targets = fanout(x, to);
    if (!targets) {
        targets = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(targets, g_strdup(to));
    }
    for (guint i = 0; i < targets->len; i++) {
        char *eto = ipop__xml_escape(targets->pdata[i]);
        enqueue(x, g_strdup_printf("<message to='%s' %s", eto, body));
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
    room *r = g_new0(room, 1);

    r->room = g_strdup(room_jid);
    r->nick = g_strdup(nick);
    r->node_id = g_strdup(node_id);
    r->occupants = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_mutex_lock(&x->lock);
    g_ptr_array_add(x->rooms, r);
    if (g_atomic_int_get(&x->online_flag))
        g_queue_push_tail(&x->queue, ipop__xmpp_presence_xml(r, false));
    g_mutex_unlock(&x->lock);
}
