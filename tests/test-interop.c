/* SPDX-License-Identifier: MIT */
/* libipop against XMPP servers and clients it did not write (issue 18):
 * run twice, on a prosody with its stock room settings and on ejabberd
 * (meson sets IPOP_TEST_XMPP_SERVER, prosody.h).
 *  - three GroupVPN members link through a room none of them configured
 *    (a new room is locked until its owner configures it, XEP-0045 10.1);
 *  - a person's ordinary client on the same account as a node, carbons
 *    on, receives no signalling, gets the chat messages sent to the bare
 *    JID while the node is online, and those sent while only the node is
 *    online later from offline storage; the node answers disco#info. */
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>

#include "pair.h"
#include "prosody.h"
#include "testutil.h"

static test_prosody srv;
static int port;


static void group_node(node *n, const char *user, const char *a4, const char *room)
{
    node_init(n, user, a4, NULL, "overlay", "group");
    test_prosody_login(&srv, n->net, user, "pw");
    g_assert_cmpint(ipop_network_set_option(n->net, "group.room", room), ==, 0);
    g_assert_cmpint(ipop_network_set_option(n->net, "group.secret", "correct horse battery staple"), ==, 0);
}

static bool connected(node *from, node *to)
{
    ipop_link_t *l = ipop_network_get_link(from->net, ipop_network_get_node_id(to->net));
    return l && ipop_link_get_state(l) == IPOP_LINK_CONNECTED;
}

static bool wait_connected(node *a, node *b, int seconds)
{
    for (int i = 0; i < seconds * 20 * test_time_factor(); i++) {
        if (connected(a, b) && connected(b, a))
            return true;
        g_usleep(50000);
    }
    return false;
}

/* Three members, started one after the other: the first creates the room. */
static void test_room_creation(void)
{
    node n[3];
    static const char *const users[] = { "ga", "gb", "gc" }, *const addrs[] = { "10.70.0.1", "10.70.0.2",
                                                                                 "10.70.0.3" };

    for (int i = 0; i < 3; i++) {
        group_node(&n[i], users[i], addrs[i], "fresh@rooms.ipop.test");
        g_assert_cmpint(ipop_network_start(n[i].net), ==, 0);
        g_usleep(300000);
    }
    g_assert_true(wait_connected(&n[0], &n[1], 60));
    g_assert_true(wait_connected(&n[0], &n[2], 60));
    g_assert_true(wait_connected(&n[1], &n[2], 60));
    for (int i = 2; i >= 0; i--)
        node_clear(&n[i]);
}

/* ---- a person's ordinary client (libstrophe, as any client library) ---- */

typedef struct client {
    xmpp_ctx_t *ctx;
    xmpp_conn_t *conn;
    bool up, failed;
    guint signals, chats;        /* messages with an ipop payload; with a body */
    char *last_body;
    bool disco_bot, disco_answered;
    bool carbons_on;
} client;

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    client *c = ud;
    char *xml = NULL;
    size_t len;
    xmpp_stanza_t *body;

    /* anything signalling, carried plainly or inside a carbon copy */
    if (xmpp_stanza_to_text(st, &xml, &len) == XMPP_EOK && strstr(xml, "urn:ipop:signal:1"))
        c->signals++;
    if (xml)
        xmpp_free(c->ctx, xml);
    if ((body = xmpp_stanza_get_child_by_name(st, "body"))) {
        c->chats++;
        g_free(c->last_body);
        xml = xmpp_stanza_get_text(body);
        c->last_body = g_strdup(xml);
        xmpp_free(c->ctx, xml);
    }
    return 1;
}

static int on_iq(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    client *c = ud;
    const char *id = xmpp_stanza_get_id(st), *type = xmpp_stanza_get_type(st);
    xmpp_stanza_t *q = xmpp_stanza_get_child_by_name_and_ns(st, "query", "http://jabber.org/protocol/disco#info");

    if (id && !strcmp(id, "carbons") && type && !strcmp(type, "result"))
        c->carbons_on = true;
    if (id && !strcmp(id, "disco") && type) {
        xmpp_stanza_t *ident = q ? xmpp_stanza_get_child_by_name(q, "identity") : NULL;
        c->disco_answered = true;
        c->disco_bot = ident && !g_strcmp0(xmpp_stanza_get_attribute(ident, "category"), "client") &&
                       !g_strcmp0(xmpp_stanza_get_attribute(ident, "type"), "bot");
    }
    return 1;
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t ev, int err, xmpp_stream_error_t *se, void *ud)
{
    client *c = ud;

    if (ev == XMPP_CONN_CONNECT)
        c->up = true;
    else
        c->failed = true;
}

static void pump(client *c, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;

    while (g_get_monotonic_time() < end)
        xmpp_run_once(c->ctx, 5);
}

/* A chat client as a person runs one: presence priority 0, carbons on. */
static client *client_new(const char *user, const char *resource, bool carbons)
{
    client *c = g_new0(client, 1);
    char *jid = g_strdup_printf("%s@ipop.test/%s", user, resource);

    c->ctx = xmpp_ctx_new(NULL, NULL);
    c->conn = xmpp_conn_new(c->ctx);
    xmpp_conn_set_jid(c->conn, jid);
    xmpp_conn_set_pass(c->conn, "pw");
    xmpp_conn_set_flags(c->conn, XMPP_CONN_FLAG_TRUST_TLS);
    xmpp_handler_add(c->conn, on_message, NULL, "message", NULL, c);
    xmpp_handler_add(c->conn, on_iq, NULL, "iq", NULL, c);
    g_assert_cmpint(xmpp_connect_client(c->conn, "127.0.0.1", (unsigned short)port, on_conn, c), ==, XMPP_EOK);
    for (int i = 0; i < 1000 && !c->up && !c->failed; i++)
        xmpp_run_once(c->ctx, 10);
    g_assert_true(c->up);
    if (carbons) {
        xmpp_send_raw_string(c->conn, "<iq type='set' id='carbons'><enable xmlns='urn:xmpp:carbons:2'/></iq>");
        for (int i = 0; i < 200 && !c->carbons_on; i++)
            pump(c, 10);
        g_assert_true(c->carbons_on);
    }
    xmpp_send_raw_string(c->conn, "<presence/>");
    pump(c, 200);
    g_free(jid);
    return c;
}

static void client_free(client *c)
{
    xmpp_send_raw_string(c->conn, "<presence type='unavailable'/>");
    pump(c, 100);
    xmpp_disconnect(c->conn);
    for (int i = 0; i < 50 && !xmpp_conn_is_disconnected(c->conn); i++)
        xmpp_run_once(c->ctx, 10);
    xmpp_conn_release(c->conn);
    xmpp_ctx_free(c->ctx);
    g_free(c->last_body);
    g_free(c);
}

static void chat(client *from, const char *to, const char *text)
{
    xmpp_send_raw_string(from->conn, "<message to='%s' type='chat'><body>%s</body></message>", to, text);
    pump(from, 100);
}

static void test_client_beside(void)
{
    node a, b;
    client *phone, *friend;
    char *full;
    bool got = false;

    group_node(&a, "pa", "10.71.0.1", "beside@rooms.ipop.test");
    group_node(&b, "pb", "10.71.0.2", "beside@rooms.ipop.test");
    phone = client_new("pa", "phone", true);
    friend = client_new("px", "laptop", false);
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    g_assert_cmpint(ipop_network_start(b.net), ==, 0);
    g_assert_true(wait_connected(&a, &b, 60));
    pump(phone, 500);
    /* a's offers, answers and candidates went out and came in: no copy */
    g_assert_cmpuint(phone->signals, ==, 0);

    /* while both are online a message to the person reaches the phone */
    chat(friend, "pa@ipop.test", "hello while both are on");
    for (int i = 0; i < 100 && phone->chats == 0; i++)
        pump(phone, 20);
    g_assert_cmpuint(phone->chats, ==, 1);
    g_assert_cmpstr(phone->last_body, ==, "hello while both are on");

    /* the node answers what a client asks it */
    full = g_strdup_printf("pa@ipop.test/ipop-%.12s", ipop_network_get_node_id(a.net));
    xmpp_send_raw_string(friend->conn, "<iq type='get' id='disco' to='%s'><query "
                                       "xmlns='http://jabber.org/protocol/disco#info'/></iq>", full);
    for (int i = 0; i < 200 && !friend->disco_answered; i++)
        pump(friend, 10);
    g_assert_true(friend->disco_answered);
    g_assert_true(friend->disco_bot);

    /* only the node is online: the message waits for the phone */
    client_free(phone);
    g_usleep(300000);
    chat(friend, "pa@ipop.test", "hello while only the node is on");
    pump(friend, 500);
    phone = client_new("pa", "phone", true);
    for (int i = 0; i < 200 && !got; i++) {
        pump(phone, 20);
        got = phone->last_body && !strcmp(phone->last_body, "hello while only the node is on");
    }
    g_assert_true(got);
    g_assert_cmpuint(phone->signals, ==, 0);
    g_assert_true(connected(&a, &b)); /* and the node did not mind */

    client_free(phone);
    client_free(friend);
    node_clear(&b);
    node_clear(&a);
    g_free(full);
}

int main(int argc, char **argv)
{
    static const char *const users[] = { "ga:pw", "gb:pw", "gc:pw", "pa:pw", "pb:pw", "px:pw", NULL };
    int r;

    g_test_init(&argc, &argv, NULL);
    test_log_to_stderr(IPOP_LOG_INFO);
    g_test_add_func("/interop/room-creation", test_room_creation);
    g_test_add_func("/interop/client-beside", test_client_beside);
    test_prosody_start(&srv, users);
    port = srv.port;
    xmpp_initialize();
    r = g_test_run();
    test_prosody_free(&srv);
    return r;
}
