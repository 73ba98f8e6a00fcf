/* SPDX-License-Identifier: MIT */
/* GroupVPN over a real prosody started by the test: members that know the
 * group secret link, one that does not is refused, one that leaves is
 * disconnected, and links live through a restart of the server. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pair.h"
#include "testutil.h"

static char *dir, *script, *fingerprint;
static int port;

static void prosody(const char *cmd)
{
    char *out = NULL, *err = NULL, *port_s = g_strdup_printf("%d", port);
    const char *argv[] = { "bash", script, cmd, dir, "127.0.0.1", port_s, "a:pa", "b:pb", "c:pc", "d:pd", NULL };
    int status = 0;
    GError *error = NULL;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error))
        g_error("cannot run %s: %s", script, error->message);
    if (!g_spawn_check_wait_status(status, NULL))
        g_error("prosody %s failed: %s%s", cmd, out, err);
    g_free(out);
    g_free(err);
    g_free(port_s);
}

static void start_server(void)
{
    char *srcdir = getenv("IPOP_TEST_SRCDIR") ? g_strdup(getenv("IPOP_TEST_SRCDIR")) : g_strdup("tests");
    char *fp_path;

    if (!g_find_program_in_path("prosody") || !g_find_program_in_path("openssl")) {
        printf("SKIP: prosody and openssl are needed (Debian packages prosody, openssl)\n");
        exit(TEST_SKIP);
    }
    script = g_build_filename(srcdir, "servers", "prosody.sh", NULL);
    dir = g_dir_make_tmp("ipop-xmpp-XXXXXX", NULL);
    port = test_free_port();
    prosody("start");
    fp_path = g_build_filename(dir, "fingerprint", NULL);
    g_assert_true(g_file_get_contents(fp_path, &fingerprint, NULL, NULL));
    g_strstrip(fingerprint);
    g_free(fp_path);
    g_free(srcdir);
}

static void stop_server(void)
{
    char *pid_path = g_build_filename(dir, "prosody.pid", NULL), *pid = NULL;

    if (g_file_get_contents(pid_path, &pid, NULL, NULL)) {
        pid_t p = (pid_t)atoi(pid);
        kill(p, SIGTERM);
        for (int i = 0; i < 200 && kill(p, 0) == 0; i++)
            g_usleep(20000);
    }
    g_free(pid);
    g_free(pid_path);
}

static void member(node *n, const char *user, const char *pass, const char *a4, const char *secret)
{
    char *jid = g_strdup_printf("%s@ipop.test", user), *port_s = g_strdup_printf("%d", port);

    node_init(n, user, a4, NULL, "overlay", "group");
    g_assert_cmpint(ipop_network_set_option(n->net, "xmpp.jid", jid), ==, 0);
    g_assert_cmpint(ipop_network_set_option(n->net, "xmpp.password", pass), ==, 0);
    g_assert_cmpint(ipop_network_set_option(n->net, "xmpp.server", "127.0.0.1"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(n->net, "xmpp.port", port_s), ==, 0);
    g_assert_cmpint(ipop_network_set_option(n->net, "xmpp.server-fingerprint", fingerprint), ==, 0);
    g_assert_cmpint(ipop_network_set_option(n->net, "group.room", "vpn@rooms.ipop.test"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(n->net, "group.secret", secret), ==, 0);
    g_free(jid);
    g_free(port_s);
}

static int link_state(node *from, node *to)
{
    ipop_link_t *l = ipop_network_get_link(from->net, ipop_network_get_node_id(to->net));
    return l ? ipop_link_get_state(l) : IPOP_LINK_NEW;
}

static bool wait_link(node *from, node *to, int state, int seconds)
{
    for (int i = 0; i < seconds * 20; i++) {
        if (link_state(from, to) == state)
            return true;
        g_usleep(50000);
    }
    return false;
}

static int refused(node *n)
{
    int r;

    g_mutex_lock(&n->lock);
    r = n->refused;
    g_mutex_unlock(&n->lock);
    return r;
}

static void test_group(void)
{
    node a, b, c, d;
    gint64 t0;

    member(&a, "a", "pa", "10.40.0.1", "sesame");
    member(&b, "b", "pb", "10.40.0.2", "sesame");
    a.peer = &b; /* blast() reads addresses through peer only in name */
    b.peer = &a;
    t0 = g_get_monotonic_time();
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    g_assert_cmpint(ipop_network_start(b.net), ==, 0);
    g_assert_true(wait_link(&a, &b, IPOP_LINK_CONNECTED, 20));
    g_assert_true(wait_link(&b, &a, IPOP_LINK_CONNECTED, 5));
    g_test_message("two members linked over XMPP in %.0f ms", (g_get_monotonic_time() - t0) / 1000.0);
    blast(&a, &b, AF_INET, 500);
    blast(&b, &a, AF_INET, 500);

    /* c is in the room but does not know the secret */
    member(&c, "c", "pc", "10.40.0.3", "guess");
    g_assert_cmpint(ipop_network_start(c.net), ==, 0);
    for (int i = 0; i < 200 && (refused(&a) == 0 || refused(&b) == 0 || refused(&c) == 0); i++)
        g_usleep(50000);
    /* each side refuses the other's messages, with that reason */
    g_assert_cmpint(refused(&a), >, 0);
    g_assert_cmpint(refused(&b), >, 0);
    g_assert_cmpint(refused(&c), >, 0);
    g_assert_cmpint(c.reason, ==, IPOP_REASON_NOT_AUTHENTICATED);
    g_assert_cmpint(link_state(&a, &c), !=, IPOP_LINK_CONNECTED);
    g_assert_cmpint(link_state(&b, &c), !=, IPOP_LINK_CONNECTED);
    node_clear(&c);

    /* The server goes away for a while: the link stays up and carries traffic. */
    stop_server();
    g_usleep(2 * G_USEC_PER_SEC);
    g_assert_cmpint(link_state(&a, &b), ==, IPOP_LINK_CONNECTED);
    blast(&a, &b, AF_INET, 200);
    prosody("start");
    /* A member that joins after the restart links with the others. */
    member(&d, "d", "pd", "10.40.0.4", "sesame");
    g_assert_cmpint(ipop_network_start(d.net), ==, 0);
    g_assert_true(wait_link(&d, &a, IPOP_LINK_CONNECTED, 30));
    g_assert_true(wait_link(&d, &b, IPOP_LINK_CONNECTED, 30));
    d.peer = &a;
    blast(&d, &a, AF_INET, 200);
    g_assert_cmpint(link_state(&a, &b), ==, IPOP_LINK_CONNECTED);

    /* b leaves the room: the others drop their links to it. */
    t0 = g_get_monotonic_time();
    g_assert_cmpint(ipop_network_stop(b.net), ==, 0);
    g_assert_true(wait_link(&a, &b, IPOP_LINK_CLOSED, 15));
    g_assert_true(wait_link(&d, &b, IPOP_LINK_CLOSED, 15));
    g_test_message("a member that left was disconnected after %.0f ms", (g_get_monotonic_time() - t0) / 1000.0);

    node_clear(&d);
    node_clear(&b);
    node_clear(&a);
}

int main(int argc, char **argv)
{
    int r;
    char *cmd;

    g_test_init(&argc, &argv, NULL);
    test_log_to_stderr(IPOP_LOG_INFO);
    start_server();
    g_test_add_func("/group/members", test_group);
    r = g_test_run();
    stop_server();
    cmd = g_strdup_printf("rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    g_free(cmd);
    return r;
}
