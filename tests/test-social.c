/* SPDX-License-Identifier: MIT */
/* SocialVPN over a real prosody: A and B are friends, B and C are friends,
 * A and C are not.  A reaches B, B reaches C, A never reaches C; each sees
 * its friends at addresses of its own choosing; a friend that comes back
 * with another identity is refused until accepted. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <signal.h>
#include <string.h>
#include <strophe.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pair.h"
#include "prosody.h"
#include "testutil.h"

static test_prosody srv;
static const char *dir;
static int port;

/* ---- making friends with a plain XMPP client, as a user would ---- */

typedef struct client {
    xmpp_ctx_t *ctx;
    xmpp_conn_t *conn;
    bool up, failed;
} client;

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t ev, int err, xmpp_stream_error_t *se, void *ud)
{
    client *c = ud;

    if (ev == XMPP_CONN_CONNECT) {
        c->up = true;
        xmpp_send_raw_string(conn, "<presence/>");
    } else {
        c->failed = true;
    }
}

static void pump(client **cs, int n, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;

    while (g_get_monotonic_time() < end)
        for (int i = 0; i < n; i++)
            xmpp_run_once(cs[i]->ctx, 5);
}

static client *client_new(const char *user, const char *pass)
{
    client *c = g_new0(client, 1);
    char *jid = g_strdup_printf("%s@ipop.test/befriend", user);

    c->ctx = xmpp_ctx_new(NULL, NULL);
    c->conn = xmpp_conn_new(c->ctx);
    xmpp_conn_set_jid(c->conn, jid);
    xmpp_conn_set_pass(c->conn, pass);
    xmpp_conn_set_flags(c->conn, XMPP_CONN_FLAG_TRUST_TLS);
    g_assert_cmpint(xmpp_connect_client(c->conn, "127.0.0.1", (unsigned short)port, on_conn, c), ==, XMPP_EOK);
    for (int i = 0; i < 500 && !c->up && !c->failed; i++)
        xmpp_run_once(c->ctx, 10);
    g_assert_true(c->up);
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

/* Mutual presence subscription between two accounts. */
static void befriend(const char *u1, const char *p1, const char *u2, const char *p2)
{
    client *a = client_new(u1, p1), *b = client_new(u2, p2), *both[] = { a, b };

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

/* ---- the nodes ---- */

static void friend_node(node *n, const char *user, const char *pass, const char *state_file)
{
    /* Every node calls itself 10.60.0.1: friends appear at addresses each
     * node picks in its own social.subnet. */
    node_init(n, user, "10.60.0.1", NULL, "overlay", "social");
    g_assert_cmpint(ipop_network_set_option(n->net, "social.subnet", "10.61.0.0/24"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(n->net, "social.state-file", state_file), ==, 0);
    test_prosody_login(&srv, n->net, user, pass);
}

static bool linked(node *from, node *to, ipop_link_stats_t *st)
{
    ipop_link_t *l = ipop_network_get_link(from->net, ipop_network_get_node_id(to->net));

    st->size = sizeof(*st);
    return l && ipop_link_get_stats(l, st) == 0 && st->state == IPOP_LINK_CONNECTED;
}

static bool wait_linked(node *from, node *to, int seconds, ipop_link_stats_t *st)
{
    for (int i = 0; i < seconds * 20 * test_time_factor(); i++) {
        if (linked(from, to, st))
            return true;
        g_usleep(50000);
    }
    return false;
}

/* Protocol 253 (for experiments: no transport checksum over the pattern
 * the receiver checks) and a valid IPv4 header checksum. */
static void set_ip_checksum(guint8 *p)
{
    guint32 sum = 0;

    p[9] = 253;
    p[10] = p[11] = 0;
    for (int i = 0; i < 20; i += 2)
        sum += (guint32)((p[i] << 8) | p[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    p[10] = (guint8)(~sum >> 8);
    p[11] = (guint8)~sum;
}

/* Sends packets from `from` to its alias of `to`; they arrive from `to`'s
 * alias of `from`, with checksums that still hold. */
static void exchange(node *from, node *to, const char *to_alias, const char *from_alias)
{
    guint8 buf[300];
    guint8 want_src[4], want_dst[4];
    char *dst = g_strdup(to_alias), *src = g_strdup(from_alias);

    g_assert_null(strchr(to_alias, '/'));
    gint64 end;

    g_mutex_lock(&to->lock);
    to->received = 0;
    memset(to->seen, 0, N_PACKETS);
    g_mutex_unlock(&to->lock);
    for (guint32 seq = 0; seq < 200; seq++) {
        build_packet(buf, AF_INET, "10.60.0.1", dst, seq, sizeof(buf));
        set_ip_checksum(buf);
        g_assert_cmpint(ipop_network_send_packet(from->net, buf, sizeof(buf)), ==, 0);
        g_usleep(1000);
    }
    end = g_get_monotonic_time() + 5 * test_time_factor() * G_USEC_PER_SEC;
    g_mutex_lock(&to->lock);
    while (to->received < 200 && g_cond_wait_until(&to->cond, &to->lock, end))
        ;
    if (to->received != 200) {
        ipop_link_stats_t s1 = { .size = sizeof(s1) }, s2 = { .size = sizeof(s2) };
        ipop_link_get_stats(ipop_network_get_link(from->net, ipop_network_get_node_id(to->net)), &s1);
        ipop_link_get_stats(ipop_network_get_link(to->net, ipop_network_get_node_id(from->net)), &s2);
        g_test_message("sender: tx %" G_GUINT64_FORMAT " drops %" G_GUINT64_FORMAT "; receiver: rx %" G_GUINT64_FORMAT
                       " drops %" G_GUINT64_FORMAT ", corrupt %u", s1.tx_packets, s1.tx_drops, s2.rx_packets,
                       s2.rx_drops, to->corrupt);
    }
    g_assert_cmpuint(to->received, ==, 200);
    inet_pton(AF_INET, src, want_src);
    inet_pton(AF_INET, "10.60.0.1", want_dst);
    g_assert_cmpmem(to->last + 12, 4, want_src, 4);
    g_assert_cmpmem(to->last + 16, 4, want_dst, 4);
    {
        /* the IPv4 header checksum still holds after translation */
        guint32 sum = 0;
        for (int i = 0; i < 20; i += 2)
            sum += (guint32)((to->last[i] << 8) | to->last[i + 1]);
        while (sum >> 16)
            sum = (sum & 0xffff) + (sum >> 16);
        g_assert_cmphex(sum, ==, 0xffff);
    }
    g_mutex_unlock(&to->lock);
    g_free(dst);
    g_free(src);
}

static void test_social(void)
{
    node a, b, c, c2;
    ipop_link_stats_t ab, ba, bc, cb;
    char *sa = g_build_filename(dir, "a.state", NULL), *sb = g_build_filename(dir, "b.state", NULL),
         *sc = g_build_filename(dir, "c.state", NULL), *state = NULL;

    befriend("sa", "pa", "sb", "pb");
    befriend("sb", "pb", "sc", "pc");
    friend_node(&a, "sa", "pa", sa);
    friend_node(&b, "sb", "pb", sb);
    friend_node(&c, "sc", "pc", sc);
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    g_assert_cmpint(ipop_network_start(b.net), ==, 0);
    g_assert_cmpint(ipop_network_start(c.net), ==, 0);

    g_assert_true(wait_linked(&a, &b, 60, &ab));
    g_assert_true(wait_linked(&b, &a, 30, &ba));
    g_assert_true(wait_linked(&b, &c, 60, &bc));
    g_assert_true(wait_linked(&c, &b, 30, &cb));
    g_assert_cmpstr(ab.name, ==, "sb@ipop.test");
    g_assert_cmpstr(ba.name, ==, "sa@ipop.test");
    g_assert_true(g_str_has_prefix(ab.address, "10.61.0."));
    g_assert_true(g_str_has_prefix(ba.address, "10.61.0."));
    g_test_message("a sees b at %s, b sees a at %s, c at %s", ab.address, ba.address, bc.address);

    exchange(&a, &b, ab.address, ba.address);
    exchange(&b, &a, ba.address, ab.address);
    exchange(&c, &b, cb.address, bc.address);

    /* A and C are not friends: no link, ever, and nothing routes there.
     * Neither even tries: no refusal on either side (a quiet window,
     * stretched with the run's slowness so that it still means something
     * under the sanitizers). */
    g_usleep(2 * G_USEC_PER_SEC * test_time_factor());
    g_assert_null(ipop_network_get_link(a.net, ipop_network_get_node_id(c.net)));
    g_assert_null(ipop_network_get_link(c.net, ipop_network_get_node_id(a.net)));
    g_mutex_lock(&a.lock);
    g_mutex_lock(&c.lock);
    g_assert_cmpint(a.refused + c.refused, ==, 0);
    g_mutex_unlock(&c.lock);
    g_mutex_unlock(&a.lock);
    {
        guint8 buf[100];
        build_packet(buf, AF_INET, "10.60.0.1", "10.61.0.200", 1, sizeof(buf));
        g_assert_cmpint(ipop_network_send_packet(a.net, buf, sizeof(buf)), ==, -EHOSTUNREACH);
    }

    /* The state file pins b's friends. */
    g_assert_true(g_file_get_contents(sb, &state, NULL, NULL));
    g_assert_nonnull(strstr(state, ipop_network_get_node_id(a.net)));
    g_assert_nonnull(strstr(state, ipop_network_get_node_id(c.net)));
    g_free(state);

    /* C comes back with another identity: B refuses it until accepted. */
    node_clear(&c);
    friend_node(&c2, "sc", "pc", sc);
    c2.peer = &b;
    g_assert_cmpint(ipop_network_start(c2.net), ==, 0);
    for (int i = 0; i < 1200 * test_time_factor(); i++) {
        g_mutex_lock(&b.lock);
        bool seen = b.refused > 0;
        g_mutex_unlock(&b.lock);
        if (seen)
            break;
        g_usleep(50000);
    }
    g_mutex_lock(&b.lock);
    g_assert_cmpint(b.refused, >, 0);
    g_assert_true(b.refused_reasons & (1u << IPOP_REASON_IDENTITY_CHANGED));
    g_mutex_unlock(&b.lock);
    g_assert_false(linked(&b, &c2, &bc));
    g_assert_cmpint(ipop_network_accept_identity(b.net, "nobody@ipop.test"), ==, -ENOENT);
    g_assert_cmpint(ipop_network_accept_identity(a.net, "sc@ipop.test"), ==, -ENOENT);
    g_assert_cmpint(ipop_network_accept_identity(b.net, "sc@ipop.test"), ==, 0);
    g_assert_true(wait_linked(&b, &c2, 60, &bc));
    g_assert_true(wait_linked(&c2, &b, 30, &cb));
    exchange(&c2, &b, cb.address, bc.address);

    node_clear(&c2);
    node_clear(&b);
    node_clear(&a);
    g_free(sa);
    g_free(sb);
    g_free(sc);
}

/* A new friend announcing an existing friend's node id (issue 13, point
 * 9): rd, a friend of rb's, says from a plain client that it runs ra's
 * node.  Before, rb put rd's name and address on its link to ra.  Now rb
 * refuses it and reports it (PEER_NOT_ALLOWED); the link keeps ra's name
 * and address and carries traffic; rd is not pinned.  The state file,
 * which says who rb's friends are, is readable by rb only (point 10). */
static void test_relabel(void)
{
    node a, b;
    ipop_link_stats_t ab, ba, ba2;
    char *sa = g_build_filename(dir, "ra.state", NULL), *sb = g_build_filename(dir, "rb.state", NULL), *state = NULL;
    client *d;
    struct stat st;
    mode_t old_mask = umask(022);

    befriend("ra", "pa", "rb", "pb");
    befriend("rd", "pd", "rb", "pb");
    friend_node(&a, "ra", "pa", sa);
    friend_node(&b, "rb", "pb", sb);
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    g_assert_cmpint(ipop_network_start(b.net), ==, 0);
    g_assert_true(wait_linked(&a, &b, 60, &ab));
    g_assert_true(wait_linked(&b, &a, 30, &ba));
    g_assert_cmpstr(ba.name, ==, "ra@ipop.test");

    d = client_new("rd", "pd");
    xmpp_send_raw_string(d->conn, "<presence><node xmlns='urn:ipop:node:1' id='%s'/></presence>",
                         ipop_network_get_node_id(a.net));
    for (int i = 0; i < 400; i++) {
        g_mutex_lock(&b.lock);
        bool seen = b.refused_reasons & (1u << IPOP_REASON_PEER_NOT_ALLOWED);
        g_mutex_unlock(&b.lock);
        if (seen)
            break;
        pump(&d, 1, 50);
    }
    g_mutex_lock(&b.lock);
    g_assert_true(b.refused_reasons & (1u << IPOP_REASON_PEER_NOT_ALLOWED));
    g_mutex_unlock(&b.lock);
    pump(&d, 1, 300);
    g_assert_true(linked(&b, &a, &ba2));
    g_assert_cmpstr(ba2.name, ==, "ra@ipop.test");
    g_assert_cmpstr(ba2.address, ==, ba.address);
    exchange(&a, &b, ab.address, ba.address);
    exchange(&b, &a, ba.address, ab.address);
    client_free(d);

    g_assert_true(g_file_get_contents(sb, &state, NULL, NULL));
    g_assert_nonnull(strstr(state, ipop_network_get_node_id(a.net)));
    g_assert_null(strstr(state, "rd@ipop.test"));
    g_assert_cmpint(stat(sb, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    g_free(state);
    node_clear(&b);
    node_clear(&a);
    umask(old_mask);
    g_free(sa);
    g_free(sb);
}

/* The contact `jid` in a node's friend list, or false. */
static bool find_friend(node *n, const char *jid, ipop_friend_t *out)
{
    for (size_t i = 0;; i++) {
        out->size = sizeof(*out);
        if (ipop_network_get_friend(n->net, i, out) != 0)
            return false;
        if (!strcmp(out->jid, jid))
            return true;
    }
}

static bool wait_friend(node *n, const char *jid, const char *sub, bool request, ipop_friend_t *out)
{
    for (int i = 0; i < 200 * test_time_factor(); i++) {
        if (find_friend(n, jid, out) && !strcmp(out->subscription, sub) && !!out->request == request)
            return true;
        g_usleep(50000);
    }
    return false;
}

/* Two nodes become friends through the library alone (issue 18): A asks,
 * B sees the request and accepts, they link; A ends it, the link closes. */
static void test_friend_api(void)
{
    char *sa = g_build_filename(dir, "fa.state", NULL), *sb = g_build_filename(dir, "fb.state", NULL);
    ipop_link_stats_t st;
    ipop_friend_t f;
    node a, b;
    bool online = false;

    friend_node(&a, "fa", "pa", sa);
    friend_node(&b, "fb", "pb", sb);
    g_assert_cmpint(ipop_network_friend_add(a.net, "fb@ipop.test"), ==, -ENOTCONN); /* not started */
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    g_assert_cmpint(ipop_network_start(b.net), ==, 0);
    {
        int r = -ENOTCONN;
        /* until the session is up (over 15 s under ASan on a loaded machine) */
        for (int i = 0; i < 400 * test_time_factor() && (r = ipop_network_friend_add(a.net, "fb@ipop.test")) == -ENOTCONN;
             i++)
            g_usleep(50000);
        g_assert_cmpint(r, ==, 0);
    }
    g_assert_cmpint(ipop_network_friend_add(a.net, "fa@ipop.test"), ==, -EINVAL);   /* itself */
    g_assert_cmpint(ipop_network_friend_add(a.net, "fb@ipop.test/x"), ==, -EINVAL); /* a full JID */
    g_assert_cmpint(ipop_network_friend_add(a.net, "no-at"), ==, -EINVAL);
    g_assert_cmpint(ipop_network_friend_add(a.net, "a'b@ipop.test"), ==, -EINVAL);
    g_assert_cmpint(ipop_network_friend_accept(b.net, "nobody@ipop.test"), ==, -ENOENT);
    g_assert_cmpint(ipop_network_friend_remove(b.net, "nobody@ipop.test"), ==, -ENOENT);

    /* B hears the request, which waits; A's own asks and waits */
    g_assert_true(wait_friend(&b, "fa@ipop.test", "none", true, &f));
    g_assert_true(wait_friend(&a, "fb@ipop.test", "none", false, &f));
    g_assert_true(f.asked);
    g_assert_null(ipop_network_get_link(a.net, ipop_network_get_node_id(b.net)));
    for (int i = 0; i < 100 && (online = find_friend(&b, "fb@ipop.test", &f)); i++)
        g_usleep(10000);
    g_assert_false(online); /* no list entry for itself */

    g_assert_cmpint(ipop_network_friend_accept(b.net, "fa@ipop.test"), ==, 0);
    g_assert_true(wait_friend(&a, "fb@ipop.test", "both", false, &f));
    g_assert_true(wait_friend(&b, "fa@ipop.test", "both", false, &f));
    g_assert_true(wait_linked(&a, &b, 60, &st));
    g_assert_true(wait_linked(&b, &a, 30, &st));
    g_assert_true(find_friend(&a, "fb@ipop.test", &f));
    g_assert_cmpstr(f.peer_id, ==, ipop_network_get_node_id(b.net));
    g_assert_true(f.online);
    g_assert_cmpstr(f.address, !=, "");

    /* A ends it: the roster forgets, both links close */
    g_assert_cmpint(ipop_network_friend_remove(a.net, "fb@ipop.test"), ==, 0);
    for (int i = 0; i < 200 * test_time_factor() && find_friend(&a, "fb@ipop.test", &f); i++)
        g_usleep(50000);
    g_assert_false(find_friend(&a, "fb@ipop.test", &f));
    for (int i = 0; i < 200 * test_time_factor() && linked(&b, &a, &st); i++)
        g_usleep(50000);
    g_assert_false(linked(&b, &a, &st));

    node_clear(&b);
    node_clear(&a);
    g_free(sa);
    g_free(sb);
}

int main(int argc, char **argv)
{
    static const char *const users[] = { "sa:pa", "sb:pb", "sc:pc", "ra:pa", "rb:pb", "rd:pd", "fa:pa", "fb:pb", NULL };
    int r;

    g_test_init(&argc, &argv, NULL);
    test_log_to_stderr(IPOP_LOG_INFO);
    test_prosody_start(&srv, users);
    dir = srv.dir;
    port = srv.port;
    xmpp_initialize();
    g_test_add_func("/social/friends", test_social);
    g_test_add_func("/social/relabel", test_relabel);
    g_test_add_func("/social/friend-api", test_friend_api);
    r = g_test_run();
    test_prosody_free(&srv);
    return r;
}
