/* SPDX-License-Identifier: MIT */
/* A link through a real coturn started by the test, relay only, over TURN
 * UDP and TURN TCP: it comes up, carries packets, and its stats say relay. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "network.h"
#include "options.h"
#include "pair.h"
#include "testutil.h"
#include "underlay.h"

static char *turn_dir;
static GPid turn_pid;
static int turn_port;

static bool tcp_open(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int s = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0;

    close(s);
    return ok;
}

/* The server dies with the test, even when an assertion aborts it. */
static void die_with_parent(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
}

static void start_coturn(void)
{
    char *conf, *path, *log;
    char *argv[] = { NULL, "-c", NULL, NULL };
    GError *err = NULL;
    int relay_min;

    argv[0] = g_find_program_in_path("turnserver");
    if (!argv[0]) {
        printf("SKIP: turnserver (Debian package coturn) is not installed\n");
        exit(TEST_SKIP);
    }
    turn_dir = g_dir_make_tmp("ipop-turn-XXXXXX", NULL);
    g_chmod(turn_dir, 0755);
    turn_port = test_free_port();
    g_assert_cmpint(turn_port, >, 0);
    relay_min = 40000 + g_random_int_range(0, 200) * 100;
    path = g_build_filename(turn_dir, "turnserver.conf", NULL);
    log = g_build_filename(turn_dir, "turn.log", NULL);
    conf = g_strdup_printf("listening-ip=127.0.0.1\n"
                           "relay-ip=127.0.0.1\n"
                           "listening-port=%d\n"
                           "min-port=%d\nmax-port=%d\n"
                           "realm=ipop.test\n"
                           "lt-cred-mech\n"
                           "user=tester:s3cret\n"
                           "fingerprint\n"
                           "allow-loopback-peers\n"
                           "no-cli\nno-tls\nno-dtls\nno-multicast-peers\n"
                           "pidfile=%s/turn.pid\n"
                           "log-file=%s\nsimple-log\nverbose\n",
                           turn_port, relay_min, relay_min + 99, turn_dir, log);
    g_assert_true(g_file_set_contents(path, conf, -1, NULL));
    argv[2] = path;
    if (!g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL |
                       G_SPAWN_STDERR_TO_DEV_NULL, die_with_parent, NULL, &turn_pid, &err))
        g_error("cannot start turnserver: %s", err->message);
    for (int i = 0; i < 100 && !tcp_open(turn_port); i++)
        g_usleep(50000);
    if (!tcp_open(turn_port))
        g_error("turnserver did not listen on port %d (log: %s)", turn_port, log);
    g_free(conf);
    g_free(path);
    g_free(log);
    g_free(argv[0]);
}

static void stop_coturn(void)
{
    char *cmd;

    if (turn_pid > 0) {
        kill(turn_pid, SIGTERM);
        waitpid(turn_pid, NULL, 0);
    }
    cmd = g_strdup_printf("rm -rf '%s'", turn_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", turn_dir);
    g_free(cmd);
}

static void relay_pair(const char *transport)
{
    node a, b;
    char *turn = g_strdup_printf("turn:tester:s3cret@127.0.0.1:%d?transport=%s", turn_port, transport);
    ipop_link_stats_t sa = { .size = sizeof(sa) }, sb = { .size = sizeof(sb) };

    node_init(&a, "a", "10.30.0.1", "fd30::1", "ice.turn", turn);
    node_init(&b, "b", "10.30.0.2", "fd30::2", "ice.turn", turn);
    g_assert_cmpint(ipop_network_set_option(a.net, "ice.relay-only", "true"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(b.net, "ice.relay-only", "true"), ==, 0);
    /* coturn's relay sockets are small: a short window keeps a burst
     * within them, so that every packet must arrive. */
    a.window = b.window = 8;
    pair_start(&a, &b);
    connect_pair(&a, &b);
    /* the transport asked for is the one used: each node holds a TCP
     * connection to coturn for TURN over TCP, none for UDP (the test's
     * own connect()s to see it listen are closed by now) */
    if (strcmp(transport, "tcp") == 0)
        g_assert_cmpint(test_tcp_established(turn_port), >=, 2);
    else
        g_assert_cmpint(test_tcp_established(turn_port), ==, 0);
    blast(&a, &b, AF_INET, 0);
    blast(&b, &a, AF_INET6, 0);
    ipop_link_get_stats(ipop_network_get_link(a.net, ipop_network_get_node_id(b.net)), &sa);
    ipop_link_get_stats(ipop_network_get_link(b.net, ipop_network_get_node_id(a.net)), &sb);
    g_assert_cmpint(sa.local_path, ==, IPOP_PATH_RELAY);
    g_assert_cmpint(sb.local_path, ==, IPOP_PATH_RELAY);
    g_assert_cmpuint(sa.tx_packets, ==, N_PACKETS);
    g_assert_cmpuint(sb.rx_packets, ==, N_PACKETS);
    node_clear(&a);
    node_clear(&b);
    g_free(turn);
}

static void test_relay_udp(void)
{
    relay_pair("udp");
}

static void test_relay_tcp(void)
{
    relay_pair("tcp");
}

/* Wrong TURN credentials: no relayed candidate, so a relay-only link
 * cannot come up, and says so. */
static void test_relay_bad_credentials(void)
{
    node a, b;
    char *turn = g_strdup_printf("turn:tester:wrong@127.0.0.1:%d?transport=udp", turn_port);

    node_init(&a, "a", "10.31.0.1", NULL, "ice.turn", turn);
    node_init(&b, "b", "10.31.0.2", NULL, "ice.turn", turn);
    g_assert_cmpint(ipop_network_set_option(a.net, "ice.relay-only", "true"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(b.net, "ice.relay-only", "true"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(a.net, "link.timeout", "5"), ==, 0);
    pair_start(&a, &b);
    g_assert_cmpint(ipop_network_allow_peer(b.net, ipop_network_get_node_id(a.net)), ==, 0);
    g_assert_cmpint(ipop_network_connect(a.net, ipop_network_get_node_id(b.net), NULL), ==, 0);
    g_assert_true(wait_state(&a, IPOP_LINK_FAILED, 20));
    g_assert_true(a.reason == IPOP_REASON_ICE_FAILED || a.reason == IPOP_REASON_TIMEOUT);
    node_clear(&a);
    node_clear(&b);
    g_free(turn);
}

/* How long a relay-only link through one live TURN server takes to come
 * up here, in ms (measured by /relay/udp's twin below). */
static gint64 connect_ms(node *a, node *b)
{
    gint64 t0 = g_get_monotonic_time();

    connect_pair(a, b);
    return (g_get_monotonic_time() - t0) / 1000;
}

/* Several TURN servers, the first dead (there, but silent: a closed port
 * would answer ICMP at once): the link comes up relayed through the live
 * one, without waiting for the dead one: up within 1.5 s (~70 ms here;
 * a link that sends its relayed candidate only once gathering is done, the
 * silent server given up, came up after 2 s, by the offer's resend). */
static void test_relay_dead_first(void)
{
    node a, b;
    int dead_port, dead_fd = test_silent_udp(&dead_port);
    char *dead, *live = g_strdup_printf("turn:tester:s3cret@127.0.0.1:%d?transport=udp", turn_port);
    ipop_link_stats_t sa = { .size = sizeof(sa) };
    gint64 ms;

    g_assert_cmpint(dead_fd, >=, 0);
    dead = g_strdup_printf("turn:tester:s3cret@127.0.0.1:%d?transport=udp", dead_port);

    node_init(&a, "a", "10.32.0.1", NULL, "ice.turn", dead);
    node_init(&b, "b", "10.32.0.2", NULL, "ice.turn", dead);
    g_assert_cmpint(ipop_network_set_option(a.net, "ice.turn", live), ==, 0);
    g_assert_cmpint(ipop_network_set_option(b.net, "ice.turn", live), ==, 0);
    g_assert_cmpint(ipop_network_set_option(a.net, "ice.relay-only", "true"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(b.net, "ice.relay-only", "true"), ==, 0);
    a.window = b.window = 8;
    pair_start(&a, &b);
    ms = connect_ms(&a, &b);
    g_test_message("relayed link up %" G_GINT64_FORMAT " ms after connect, the first TURN server silent", ms);
    g_assert_cmpint(ms, <, 1500 * test_time_factor());
    blast(&a, &b, AF_INET, 300);
    ipop_link_get_stats(ipop_network_get_link(a.net, ipop_network_get_node_id(b.net)), &sa);
    g_assert_cmpint(sa.local_path, ==, IPOP_PATH_RELAY);
    node_clear(&a);
    node_clear(&b);
    close(dead_fd);
    g_free(dead);
    g_free(live);
}

/* Several STUN servers, the first dead (silent, as above): the network's probes find it out
 * within about a second and new links gather with the next one (coturn
 * answers STUN too); a link opened meanwhile still comes up. */
static void test_stun_dead_first(void)
{
    node a, b;
    int dead_port, dead_fd = test_silent_udp(&dead_port);
    char *dead = g_strdup_printf("127.0.0.1:%d", dead_port);
    char *live = g_strdup_printf("127.0.0.1:%d", turn_port);
    int picked;

    node_init(&a, "a", "10.33.0.1", NULL, "ice.stun", dead);
    node_init(&b, "b", "10.33.0.2", NULL, "ice.stun", dead);
    g_assert_cmpint(ipop_network_set_option(a.net, "ice.stun", live), ==, 0);
    g_assert_cmpint(ipop_network_set_option(b.net, "ice.stun", live), ==, 0);
    pair_start(&a, &b);
    /* a link opened at once, before any probe could tell */
    connect_pair(&a, &b);
    blast(&a, &b, AF_INET, 300);
    /* (read racily: the loop thread writes these) */
    for (int i = 0; i < 100 && ((stun_server *)a.net->stun->pdata[0])->state != STUN_DEAD; i++)
        g_usleep(50000);
    picked = ipop__net_stun_pick(a.net);
    g_assert_cmpint(picked, ==, 1);
    g_assert_cmpint(((stun_server *)a.net->stun->pdata[0])->state, ==, STUN_DEAD);
    g_assert_cmpint(((stun_server *)a.net->stun->pdata[1])->state, ==, STUN_ALIVE);
    node_clear(&a);
    node_clear(&b);
    close(dead_fd);
    g_free(dead);
    g_free(live);
}

int main(int argc, char **argv)
{
    int r;

    g_test_init(&argc, &argv, NULL);
    test_log_to_stderr(IPOP_LOG_INFO);
    start_coturn();
    g_test_add_func("/relay/udp", test_relay_udp);
    g_test_add_func("/relay/tcp", test_relay_tcp);
    g_test_add_func("/relay/bad-credentials", test_relay_bad_credentials);
    g_test_add_func("/relay/dead-turn-first", test_relay_dead_first);
    g_test_add_func("/relay/dead-stun-first", test_stun_dead_first);
    r = g_test_run();
    stop_coturn();
    return r;
}
