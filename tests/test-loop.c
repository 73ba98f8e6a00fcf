/* SPDX-License-Identifier: MIT */
/* A host that drives a network with loop=external and waits for as long as
 * ipop_network_get_timeout() says, -1 included, without a cap of its own.
 * Other threads hand the network work while the host sleeps: a call from
 * the application (ipop_network_connect), signalling from another
 * network's thread (ipop_network_signal_receive).  The host must wake up
 * through the network's fd, or the link never comes up.  Each wait is
 * bounded by the test (a watchdog that fails it), never by the host. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "loop.h"
#include "pair.h"
#include "testutil.h"

typedef struct host {
    ipop_network_t *net;
    int quit_fd;                /* the host's own wake-up, to end it */
    GThread *thread;
    gint forever;               /* polls entered with timeout -1 */
    gint woken;                 /* of those, ended by the network's fd */
    gint failed;
} host;

static gpointer host_run(gpointer p)
{
    host *h = p;

    for (;;) {
        struct pollfd pfd[2] = {
            { .fd = ipop_network_get_fd(h->net), .events = POLLIN },
            { .fd = h->quit_fd, .events = POLLIN },
        };
        int t = ipop_network_get_timeout(h->net), r;

        if (pfd[0].fd < 0 || t < -1) {
            g_atomic_int_set(&h->failed, 1);
            return NULL;
        }
        if (t < 0)
            g_atomic_int_inc(&h->forever);
        r = poll(pfd, 2, t);
        if (r < 0 && errno != EINTR) {
            g_atomic_int_set(&h->failed, 1);
            return NULL;
        }
        if (pfd[1].revents)
            return NULL;
        if (t < 0 && (pfd[0].revents & POLLIN))
            g_atomic_int_inc(&h->woken);
        if (ipop_network_process(h->net) < 0) {
            g_atomic_int_set(&h->failed, 1);
            return NULL;
        }
    }
}

static void host_start(host *h, ipop_network_t *net)
{
    h->net = net;
    h->quit_fd = eventfd(0, EFD_CLOEXEC);
    g_assert_cmpint(h->quit_fd, >=, 0);
    h->thread = g_thread_new("host", host_run, h);
}

static void host_stop(host *h)
{
    uint64_t one = 1;

    g_assert_cmpint(write(h->quit_fd, &one, sizeof(one)), ==, sizeof(one));
    g_thread_join(h->thread);
    close(h->quit_fd);
    g_assert_cmpint(g_atomic_int_get(&h->failed), ==, 0);
}

/* Until the host has gone to sleep with no deadline at all (the network
 * idle): what follows can only wake it through the fd.  The host is given
 * a moment to actually enter poll() after it counted. */
static void wait_host_idle(host *h)
{
    gint64 end = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    gint seen;

    do {
        seen = g_atomic_int_get(&h->forever);
        g_usleep(300 * 1000);
        if (g_get_monotonic_time() > end)
            g_error("the network never became idle (timeout -1)");
    } while (seen == 0 || ipop_network_get_timeout(h->net) != -1 || g_atomic_int_get(&h->forever) != seen);
}

static void assert_up(node *a, node *b, const char *what)
{
    /* the watchdog: a host that was not woken leaves the link in CONNECTING */
    if (!wait_state(a, IPOP_LINK_CONNECTED, 15) || !wait_state(b, IPOP_LINK_CONNECTED, 5))
        g_error("%s: the link did not come up while the host slept (a=%s b=%s)", what,
                ipop_link_state_str(a->state), ipop_link_state_str(b->state));
}

/* The application thread (not the host's) opens the link while the host
 * sleeps with -1: ipop_network_connect() runs its work on the network's
 * context right away (the host is not in ipop_network_process()), which
 * arms timers and adds sockets the host's poll knows nothing of. */
static void test_wake_on_connect(void)
{
    node a, b;
    host h = { 0 };
    int woken;

    node_init(&a, "a", "10.41.0.1", NULL, "loop", "external");
    node_init(&b, "b", "10.41.0.2", NULL, NULL, NULL);
    pair_start(&a, &b);
    host_start(&h, a.net);
    wait_host_idle(&h);
    woken = g_atomic_int_get(&h.woken);
    g_assert_cmpint(ipop_network_allow_peer(b.net, ipop_network_get_node_id(a.net)), ==, 0);
    g_assert_cmpint(ipop_network_connect(a.net, ipop_network_get_node_id(b.net), NULL), ==, 0);
    assert_up(&a, &b, "connect from another thread");
    g_assert_cmpint(g_atomic_int_get(&h.woken), >, woken);
    blast(&a, &b, AF_INET, 200);
    blast(&b, &a, AF_INET, 200);
    host_stop(&h);
    node_clear(&a);
    node_clear(&b);
}

/* The other network (on a thread of its own) opens the link: its offer
 * reaches the sleeping host through ipop_network_signal_receive() called
 * from that network's thread. */
static void test_wake_on_signal(void)
{
    node a, b;
    host h = { 0 };
    int woken;

    node_init(&a, "a", "10.42.0.1", NULL, "loop", "external");
    node_init(&b, "b", "10.42.0.2", NULL, NULL, NULL);
    pair_start(&a, &b);
    host_start(&h, a.net);
    g_assert_cmpint(ipop_network_allow_peer(a.net, ipop_network_get_node_id(b.net)), ==, 0);
    wait_host_idle(&h);
    woken = g_atomic_int_get(&h.woken);
    g_assert_cmpint(ipop_network_connect(b.net, ipop_network_get_node_id(a.net), NULL), ==, 0);
    assert_up(&a, &b, "an offer from another network's thread");
    g_assert_cmpint(g_atomic_int_get(&h.woken), >, woken);
    blast(&b, &a, AF_INET, 200);
    host_stop(&h);
    node_clear(&a);
    node_clear(&b);
}

/* The loop's own services, as the modules above it use them from a thread
 * that is not the host's: ipop__net_call() runs its work on the spot when
 * the host is not inside ipop_network_process(), and that work arms a
 * timer (no socket, nothing GLib would signal); ipop__net_post() leaves the
 * work for the loop.  Both must wake a host that sleeps with -1. */
static gboolean timer_cb(gpointer p)
{
    g_atomic_int_inc((gint *)p);
    return G_SOURCE_REMOVE;
}

typedef struct {
    gint fired;
    GSource *src;
} timer_work;

static void arm_timer(ipop_network_t *net, void *data)
{
    timer_work *w = data;

    w->src = ipop__net_timeout(net, 20, timer_cb, &w->fired);
}

static void disarm_timer(ipop_network_t *net, void *data)
{
    ipop__source_clear(&((timer_work *)data)->src);
}

static void on_posted(ipop_network_t *net, void *data)
{
    g_atomic_int_inc((gint *)data);
}

static bool wait_flag(gint *flag, int seconds)
{
    gint64 end = g_get_monotonic_time() + seconds * G_USEC_PER_SEC;

    while (!g_atomic_int_get(flag) && g_get_monotonic_time() < end)
        g_usleep(1000);
    return g_atomic_int_get(flag) != 0;
}

static void test_wake_on_call_and_post(void)
{
    node a;
    host h = { 0 };
    timer_work w = { 0 };
    gint posted = 0;

    node_init(&a, "a", "10.43.0.1", NULL, "loop", "external");
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    host_start(&h, a.net);
    for (int round = 0; round < 3; round++) {
        wait_host_idle(&h);
        g_atomic_int_set(&w.fired, 0);
        ipop__net_call(a.net, arm_timer, &w);
        /* the watchdog: 20 ms asked, 5 s given */
        if (!wait_flag(&w.fired, 5))
            g_error("a timer armed through ipop__net_call() from another thread never fired");
        ipop__net_call(a.net, disarm_timer, &w);

        wait_host_idle(&h);
        g_atomic_int_set(&posted, 0);
        ipop__net_post(a.net, on_posted, &posted, NULL);
        if (!wait_flag(&posted, 5))
            g_error("work posted from another thread never ran");
    }
    host_stop(&h);
    node_clear(&a);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/loop/wake-on-connect", test_wake_on_connect);
    g_test_add_func("/loop/wake-on-signal", test_wake_on_signal);
    g_test_add_func("/loop/wake-on-call-and-post", test_wake_on_call_and_post);
    return g_test_run();
}
