/* SPDX-License-Identifier: MIT */
/* The XMPP transport against hostile clients on a real prosody started by
 * the test (issue 13): a stranger forges the node's roster (a result to
 * the query, a push) and is believed in nothing, while real roster changes
 * still are; an occupant takes a member's nickname first, and the member
 * joins all the same and links with the others. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <strophe.h>
#include <unistd.h>

#include "identity.h"
#include "pair.h"
#include "prosody.h"
#include "testutil.h"
#include "xmpp-room.h"
#include "xmpp.h"

#define ROOM "vpn@rooms.ipop.test"

static test_prosody srv;
static const char *dir, *fingerprint;
static int port;

/* ---- a plain XMPP client: a user's, or an attacker's ---- */

typedef struct client {
    xmpp_ctx_t *ctx;
    xmpp_conn_t *conn;
    bool up, failed;
} client;

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t ev, int err, xmpp_stream_error_t *se, void *ud)
{
    client *c = ud;

    if (ev == XMPP_CONN_CONNECT)
        c->up = true;
    else
        c->failed = true;
}

static void pump(client **cs, int n, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;

    while (g_get_monotonic_time() < end)
        for (int i = 0; i < n; i++)
            xmpp_run_once(cs[i]->ctx, 5);
}

static client *client_new(const char *user, const char *pass, const char *resource)
{
    client *c = g_new0(client, 1);
    char *jid = g_strdup_printf("%s@ipop.test/%s", user, resource);

    c->ctx = xmpp_ctx_new(NULL, NULL);
    c->conn = xmpp_conn_new(c->ctx);
    xmpp_conn_set_jid(c->conn, jid);
    xmpp_conn_set_pass(c->conn, pass);
    xmpp_conn_set_flags(c->conn, XMPP_CONN_FLAG_TRUST_TLS);
    g_assert_cmpint(xmpp_connect_client(c->conn, "127.0.0.1", (unsigned short)port, on_conn, c), ==, XMPP_EOK);
    for (int i = 0; i < 500 && !c->up && !c->failed; i++)
        xmpp_run_once(c->ctx, 10);
    g_assert_true(c->up);
    xmpp_send_raw_string(c->conn, "<presence/>");
    pump(&c, 1, 100);
    g_free(jid);
    return c;
}

static void client_free(client *c)
{
    xmpp_disconnect(c->conn);
    for (int i = 0; i < 20; i++)
        xmpp_run_once(c->ctx, 10);
    xmpp_conn_release(c->conn);
    xmpp_ctx_free(c->ctx);
    g_free(c);
}

/* Mutual presence subscription between two accounts, as two users would. */
static void befriend(const char *u1, const char *p1, const char *u2, const char *p2)
{
    client *a = client_new(u1, p1, "befriend"), *b = client_new(u2, p2, "befriend"), *both[] = { a, b };

    xmpp_send_raw_string(a->conn, "<presence to='%s@ipop.test' type='subscribe'/>", u2);
    pump(both, 2, 300);
    xmpp_send_raw_string(b->conn, "<presence to='%s@ipop.test' type='subscribed'/>", u1);
    xmpp_send_raw_string(b->conn, "<presence to='%s@ipop.test' type='subscribe'/>", u1);
    pump(both, 2, 300);
    xmpp_send_raw_string(a->conn, "<presence to='%s@ipop.test' type='subscribed'/>", u2);
    pump(both, 2, 300);
    client_free(a);
    client_free(b);
}

/* ---- nodes ---- */


static void social_node(node *n, const char *user, const char *pass, const char *state_file)
{
    node_init(n, user, "10.60.0.1", NULL, "overlay", "social");
    g_assert_cmpint(ipop_network_set_option(n->net, "social.subnet", "10.61.0.0/24"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(n->net, "social.state-file", state_file), ==, 0);
    test_prosody_login(&srv, n->net, user, pass);
}

static void group_node(node *n, const char *user, const char *pass, const char *a4, const char *identity_file)
{
    node_init(n, user, a4, NULL, "overlay", "group");
    test_prosody_login(&srv, n->net, user, pass);
    g_assert_cmpint(ipop_network_set_option(n->net, "group.room", ROOM), ==, 0);
    g_assert_cmpint(ipop_network_set_option(n->net, "group.secret", "correct horse battery staple"), ==, 0);
    if (identity_file)
        g_assert_cmpint(ipop_network_set_option(n->net, "identity.file", identity_file), ==, 0);
}

static int link_state(node *from, const char *peer)
{
    ipop_link_t *l = ipop_network_get_link(from->net, peer);
    return l ? ipop_link_get_state(l) : IPOP_LINK_NEW;
}

static bool wait_link(node *from, node *to, int state, int seconds)
{
    for (int i = 0; i < seconds * 20; i++) {
        if (link_state(from, ipop_network_get_node_id(to->net)) == state)
            return true;
        g_usleep(50000);
    }
    return false;
}

static guint64 refused_count(node *n)
{
    ipop_network_stats_t st = { .size = sizeof(st) };

    g_assert_cmpint(ipop_network_get_stats(n->net, &st), ==, 0);
    return st.signal_refused;
}

/* The full JID a node's transport binds: its resource is ipop- and 12
 * characters of its node id, which anyone who sees one of its messages
 * learns. */
static char *full_jid(node *n, const char *user)
{
    return g_strdup_printf("%s@ipop.test/ipop-%.12s", user, ipop_network_get_node_id(n->net));
}

/* A node id nobody runs: what the stranger claims. */
static char *fake_node_id(void)
{
    ipop__identity *id = NULL;
    char *s;

    g_assert_cmpint(ipop__identity_load(&id, NULL), ==, 0);
    s = g_strdup(ipop__identity_node_id(id));
    ipop__identity_free(id);
    return s;
}

static bool file_contains(const char *path, const char *what)
{
    gchar *text = NULL;
    bool found;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return false;
    found = strstr(text, what) != NULL;
    g_free(text);
    return found;
}

/* After the forgery the stranger says its node id to the node, as a friend
 * would: believed, it would be pinned and get a link. */
static void stranger_says_node(client *x, const char *to, const char *node_id)
{
    xmpp_send_raw_string(x->conn, "<presence to='%s'><node xmlns='urn:ipop:node:1' id='%s'/></presence>", to, node_id);
    xmpp_send_raw_string(x->conn, "<message to='%s' type='chat'><ipop xmlns='urn:ipop:signal:1' ts='' nonce='' "
                                  "mac=''>ipop1 hello</ipop></message>", to);
    pump(&x, 1, 300);
}

/* A stranger answers the node's roster query before (or after) the server
 * does, naming itself a mutual friend. */
static void test_forged_roster_result(void)
{
    node a, b;
    char *sa = g_build_filename(dir, "result-a.state", NULL), *sb = g_build_filename(dir, "result-b.state", NULL);
    char *fake = fake_node_id(), *to;
    client *x;
    guint64 before;

    befriend("ra", "pa", "rb", "pb");
    social_node(&a, "ra", "pa", sa);
    social_node(&b, "rb", "pb", sb);
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    g_assert_cmpint(ipop_network_start(b.net), ==, 0);
    /* a's session is up and its roster read: it links with its friend */
    g_assert_true(wait_link(&a, &b, IPOP_LINK_CONNECTED, 60));

    x = client_new("x", "px", "evil");
    to = full_jid(&a, "ra");
    before = refused_count(&a);
    xmpp_send_raw_string(x->conn, "<iq type='result' id='ipop-roster' to='%s'><query xmlns='jabber:iq:roster'>"
                                  "<item jid='x@ipop.test' subscription='both'/></query></iq>", to);
    /* and with whatever id the node might have used */
    for (int i = 0; i < 3; i++)
        xmpp_send_raw_string(x->conn, "<iq type='result' id='ipop-roster-%d' to='%s'><query xmlns='jabber:iq:roster'>"
                                      "<item jid='x@ipop.test' subscription='both'/></query></iq>", i, to);
    pump(&x, 1, 300);
    stranger_says_node(x, to, fake);
    for (int i = 0; i < 200 && refused_count(&a) < before + 4; i++) {
        pump(&x, 1, 50);
    }
    pump(&x, 1, 1000); /* time to act on a belief, were there one */

    g_assert_null(ipop_network_get_link(a.net, fake));           /* no link */
    g_assert_false(file_contains(sa, fake));                      /* nothing pinned */
    g_assert_false(file_contains(sa, "x@ipop.test"));
    g_assert_cmpuint(refused_count(&a), >=, before + 4);          /* each forgery counted */
    g_assert_cmpint(link_state(&a, ipop_network_get_node_id(b.net)), ==, IPOP_LINK_CONNECTED);

    client_free(x);
    node_clear(&b);
    node_clear(&a);
    g_free(to);
    g_free(fake);
    g_free(sa);
    g_free(sb);
}

/* A stranger pushes a roster item to the node; then the user makes a real
 * friend, whose push from the server is believed. */
static void test_forged_roster_push(void)
{
    node a, c;
    char *sa = g_build_filename(dir, "push-a.state", NULL), *sc = g_build_filename(dir, "push-c.state", NULL);
    char *fake = fake_node_id(), *to;
    client *x;
    guint64 before;

    social_node(&a, "qa", "pa", sa);
    social_node(&c, "qc", "pc", sc);
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    g_assert_cmpint(ipop_network_start(c.net), ==, 0);
    x = client_new("x", "px", "evil");
    to = full_jid(&a, "qa");
    /* wait for a's session: until then the server answers for it */
    g_usleep(2 * G_USEC_PER_SEC);
    before = refused_count(&a);
    xmpp_send_raw_string(x->conn, "<iq type='set' id='push1' to='%s'><query xmlns='jabber:iq:roster'>"
                                  "<item jid='x@ipop.test' subscription='both'/></query></iq>", to);
    xmpp_send_raw_string(x->conn, "<iq type='set' id='push2' to='%s'><query xmlns='jabber:iq:roster'>"
                                  "<item jid='qc@ipop.test' subscription='remove'/></query></iq>", to);
    pump(&x, 1, 300);
    stranger_says_node(x, to, fake);
    for (int i = 0; i < 200 && refused_count(&a) < before + 2; i++)
        pump(&x, 1, 50);
    pump(&x, 1, 1000);
    g_assert_null(ipop_network_get_link(a.net, fake));
    g_assert_false(file_contains(sa, fake));
    g_assert_cmpuint(refused_count(&a), >=, before + 2);

    /* The server's own pushes are believed: a and c become friends now. */
    befriend("qa", "pa", "qc", "pc");
    g_assert_true(wait_link(&a, &c, IPOP_LINK_CONNECTED, 60));
    g_assert_true(wait_link(&c, &a, IPOP_LINK_CONNECTED, 30));
    g_assert_null(ipop_network_get_link(a.net, fake));

    client_free(x);
    node_clear(&c);
    node_clear(&a);
    g_free(to);
    g_free(fake);
    g_free(sa);
    g_free(sc);
}

/* An occupant takes a member's nickname (its node id, known from any
 * earlier session) before the member joins. */
static void test_nick_squatting(void)
{
    char *path_b = g_build_filename(dir, "squat-b.pem", NULL), *b_id;
    ipop__identity *ib = NULL;
    node a, b;
    client *s;
    guint64 refused_before;

    g_assert_cmpint(ipop__identity_load(&ib, path_b), ==, 0);
    b_id = g_strdup(ipop__identity_node_id(ib));
    ipop__identity_free(ib);

    group_node(&a, "ga", "pa", "10.43.0.1", NULL);
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    s = client_new("x", "px", "squatter");
    xmpp_send_raw_string(s->conn, "<presence to='" ROOM "/%s'><x xmlns='http://jabber.org/protocol/muc'/>"
                                  "</presence>", b_id);
    pump(&s, 1, 500);

    group_node(&b, "gb", "pb", "10.43.0.2", path_b);
    g_assert_cmpstr(ipop_network_get_node_id(b.net), ==, b_id);
    a.peer = &b;
    b.peer = &a;
    refused_before = refused_count(&a);
    g_assert_cmpint(ipop_network_start(b.net), ==, 0);
    /* b joins under another nickname that still says its node id, and the
     * members link; the squatter keeps the nickname all along */
    for (int i = 0; i < 60 * 20 && link_state(&a, b_id) != IPOP_LINK_CONNECTED; i++)
        pump(&s, 1, 50);
    g_assert_cmpint(link_state(&a, b_id), ==, IPOP_LINK_CONNECTED);
    g_assert_true(wait_link(&b, &a, IPOP_LINK_CONNECTED, 30));
    blast(&a, &b, AF_INET, 300);
    blast(&b, &a, AF_INET, 300);
    g_test_message("a refused %" G_GUINT64_FORMAT " messages meanwhile", refused_count(&a) - refused_before);

    /* the squatter leaves: b is still there for a */
    client_free(s);
    g_usleep(7 * G_USEC_PER_SEC); /* more than the overlay's grace for a member that left */
    g_assert_cmpint(link_state(&a, b_id), ==, IPOP_LINK_CONNECTED);
    blast(&a, &b, AF_INET, 200);
    /* b leaves: a drops its link, as for any member */
    g_assert_cmpint(ipop_network_stop(b.net), ==, 0);
    g_assert_true(wait_link(&a, &b, IPOP_LINK_CLOSED, 15));

    node_clear(&b);
    node_clear(&a);
    g_free(b_id);
    g_free(path_b);
}

/* Room nicknames: the node id, or the node id and a suffix after a
 * conflict; nothing else names a node. */
static void test_nick_parse(void)
{
    char *id = fake_node_id(), *s, nid[IPOP__NODE_ID_LEN + 1];

    g_assert_true(ipop__xmpp_nick_node(id, nid));
    g_assert_cmpstr(nid, ==, id);
    s = g_strdup_printf("%s~k3vq7zab", id);
    memset(nid, 0, sizeof(nid));
    g_assert_true(ipop__xmpp_nick_node(s, nid));
    g_assert_cmpstr(nid, ==, id);
    g_free(s);
    s = g_strdup_printf("%s~0123456789abcdef", id); /* 16: the longest */
    g_assert_true(ipop__xmpp_nick_node(s, nid));
    g_free(s);
    s = g_strdup_printf("%s~0123456789abcdefg", id);
    g_assert_false(ipop__xmpp_nick_node(s, nid));
    g_free(s);
    s = g_strdup_printf("%s~", id);
    g_assert_false(ipop__xmpp_nick_node(s, nid));
    g_free(s);
    s = g_strdup_printf("%s~AB", id);
    g_assert_false(ipop__xmpp_nick_node(s, nid));
    g_free(s);
    s = g_strdup_printf("%s-ab", id);
    g_assert_false(ipop__xmpp_nick_node(s, nid));
    g_free(s);
    s = g_strdup_printf("%sa", id);
    g_assert_false(ipop__xmpp_nick_node(s, nid));
    g_free(s);
    g_assert_false(ipop__xmpp_nick_node(id + 1, nid));
    g_assert_false(ipop__xmpp_nick_node("", nid));
    g_assert_false(ipop__xmpp_nick_node(NULL, nid));
    id[0] = '1'; /* not base32 */
    g_assert_false(ipop__xmpp_nick_node(id, nid));
    g_free(id);
}

/* ---- the transport's state, against the real server ---- */

/* The signalling status once it is `state`, waiting up to `seconds`. */
static ipop_signal_status_t wait_signal(node *n, ipop_signal_state_t state, int seconds)
{
    ipop_signal_status_t st = { .size = sizeof(st) };
    gint64 end = g_get_monotonic_time() + (gint64)seconds * test_time_factor() * G_USEC_PER_SEC;

    do {
        g_assert_cmpint(ipop_network_get_signal_status(n->net, &st), ==, 0);
        if (st.state == state)
            return st;
        g_usleep(20000);
    } while (g_get_monotonic_time() < end);
    g_test_message("signal state %s (%s), want %s", ipop_signal_state_str(st.state), st.detail,
                   ipop_signal_state_str(state));
    g_assert_cmpint(st.state, ==, state);
    return st;
}

/* A wrong password: auth-failed with the server's condition within a
 * second or so, tried again slowly (5 s, then 10 s), up once right. */
static void test_signal_auth_failed(void)
{
    ipop_signal_status_t st = { .size = sizeof(st) };
    node a;

    group_node(&a, "ga", "wrong", "10.44.0.1", NULL);
    g_assert_cmpint(ipop_network_get_signal_status(a.net, &st), ==, 0);
    g_assert_cmpint(st.state, ==, IPOP_SIGNAL_NONE);
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    st = wait_signal(&a, IPOP_SIGNAL_AUTH_FAILED, 10);
    g_assert_cmpint(st.reason, ==, IPOP_REASON_AUTH_FAILED);
    g_assert_cmpstr(st.condition, ==, "not-authorized");
    g_assert_cmpstr(st.detail, ==, "authentication failed (not-authorized)");
    g_assert_cmpuint(st.retry_ms, >, 3000);
    g_assert_cmpuint(st.retry_ms, <=, 5000);
    g_usleep(5 * G_USEC_PER_SEC); /* the second attempt at 5 s, the third not before 15 s */
    for (int i = 0; i < 500 * test_time_factor(); i++) { /* a login under ASan takes seconds */
        st = wait_signal(&a, IPOP_SIGNAL_AUTH_FAILED, 1);
        if (st.failures >= 2)
            break;
        g_usleep(20000);
    }
    g_assert_cmpuint(st.failures, ==, 2);
    g_assert_cmpuint(st.since_ms, >=, 5000);
    g_assert_cmpuint(st.retry_ms, >, 5000);
    node_clear(&a);
    /* the right one: up, and the error gone */
    group_node(&a, "ga", "pa", "10.44.0.1", NULL);
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    st = wait_signal(&a, IPOP_SIGNAL_UP, 10);
    g_assert_cmpint(st.reason, ==, IPOP_REASON_NONE);
    g_assert_cmpstr(st.detail, ==, "");
    g_assert_cmpuint(st.failures, ==, 0);
    ipop_network_stop(a.net);
    st = (ipop_signal_status_t){ .size = sizeof(st) };
    g_assert_cmpint(ipop_network_get_signal_status(a.net, &st), ==, 0);
    g_assert_cmpint(st.state, ==, IPOP_SIGNAL_NONE);
    node_clear(&a);
}

/* The server's self-signed certificate without its fingerprint pinned:
 * tls-refused, with the fingerprint it showed (the one to pin), and a
 * caller with an older, smaller struct gets only what fits. */
static void test_signal_tls_refused(void)
{
    ipop_signal_status_t st;
    struct { size_t size; ipop_signal_state_t state; ipop_reason_t reason; } old = { .size = sizeof(old) };
    char *port_s = g_strdup_printf("%d", port);
    node a;

    node_init(&a, "ga", "10.45.0.1", NULL, "overlay", "group");
    g_assert_cmpint(ipop_network_set_option(a.net, "xmpp.jid", "ga@ipop.test"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(a.net, "xmpp.password", "pa"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(a.net, "xmpp.server", "127.0.0.1"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(a.net, "xmpp.port", port_s), ==, 0);
    g_assert_cmpint(ipop_network_set_option(a.net, "group.room", ROOM), ==, 0);
    g_assert_cmpint(ipop_network_set_option(a.net, "group.secret", "correct horse battery staple"), ==, 0);
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    st = wait_signal(&a, IPOP_SIGNAL_TLS_REFUSED, 10);
    g_assert_cmpint(st.reason, ==, IPOP_REASON_TLS_REFUSED);
    g_assert_cmpstr(st.fingerprint, ==, fingerprint);
    g_assert_nonnull(strstr(st.detail, "set xmpp.server-fingerprint to it"));
    g_assert_cmpint(ipop_network_get_signal_status(a.net, (ipop_signal_status_t *)&old), ==, 0);
    g_assert_cmpuint(old.size, ==, sizeof(old));
    g_assert_cmpint(old.state, ==, IPOP_SIGNAL_TLS_REFUSED);
    old.size = sizeof(size_t);
    g_assert_cmpint(ipop_network_get_signal_status(a.net, (ipop_signal_status_t *)&old), ==, -EINVAL);
    g_assert_cmpint(ipop_network_get_signal_status(NULL, &st), ==, -EINVAL);
    node_clear(&a);
    g_free(port_s);
}

int main(int argc, char **argv)
{
    static const char *const users[] = { "ra:pa", "rb:pb", "qa:pa", "qc:pc", "ga:pa", "gb:pb", "x:px", NULL };
    int r;

    g_test_init(&argc, &argv, NULL);
    test_log_to_stderr(IPOP_LOG_INFO);
    g_test_add_func("/xmpp/nick-parse", test_nick_parse);
    g_test_add_func("/xmpp/forged-roster-result", test_forged_roster_result);
    g_test_add_func("/xmpp/forged-roster-push", test_forged_roster_push);
    g_test_add_func("/xmpp/nick-squatting", test_nick_squatting);
    g_test_add_func("/xmpp/signal-auth-failed", test_signal_auth_failed);
    g_test_add_func("/xmpp/signal-tls-refused", test_signal_tls_refused);
    test_prosody_start(&srv, users);
    dir = srv.dir;
    fingerprint = srv.fingerprint;
    port = srv.port;
    xmpp_initialize();
    r = g_test_run();
    test_prosody_free(&srv);
    return r;
}
