/* SPDX-License-Identifier: MIT */
/* Two networks in one process, mode none, linked over loopback through the
 * real ICE and DTLS stack: packets arrive intact, bad peers are refused. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stun/stunagent.h>
#include <stun/usages/ice.h>

#include "ipop/ipop-glib.h"
#include "dtls.h"
#include "frame.h"
#include "link.h"
#include "loop.h"
#include "network.h"
#include "pair.h"
#include "testutil.h"

static void test_packets(void)
{
    node a, b;
    ipop_link_stats_t st = { .size = sizeof(st) };
    ipop_link_t *la;
    guint8 buf[1600];

    node_init(&a, "a", "10.20.0.1", "fd20::1", NULL, NULL);
    node_init(&b, "b", "10.20.0.2", "fd20::2", NULL, NULL);
    pair_start(&a, &b);
    connect_pair(&a, &b);

    blast(&a, &b, AF_INET, 0);
    blast(&b, &a, AF_INET, 0);
    blast(&a, &b, AF_INET6, 0);
    blast(&b, &a, AF_INET6, 0);
    /* the largest packet a link takes, both ways */
    blast(&a, &b, AF_INET, IPOP_DEFAULT_MTU);
    blast(&b, &a, AF_INET6, IPOP_DEFAULT_MTU);

    la = ipop_network_get_link(a.net, ipop_network_get_node_id(b.net));
    g_assert_cmpint(ipop_link_get_state(la), ==, IPOP_LINK_CONNECTED);
    g_assert_cmpint(ipop_link_get_stats(la, &st), ==, 0);
    g_assert_cmpuint(st.tx_packets, ==, 3 * N_PACKETS);
    g_assert_cmpuint(st.rx_packets, ==, 3 * N_PACKETS);
    g_assert_cmpuint(st.rx_drops, ==, 0);
    g_assert_cmpint(st.local_path, ==, IPOP_PATH_HOST);
    g_assert_cmpint(st.remote_path, ==, IPOP_PATH_HOST);
    g_assert_cmpuint(st.rtt_us, >, 0);
    g_assert_cmpstr(st.peer_id, ==, ipop_network_get_node_id(b.net));

    /* Errors a sender can meet. */
    build_packet(buf, AF_INET, "10.20.0.1", "10.20.0.77", 1, 100);
    g_assert_cmpint(ipop_network_send_packet(a.net, buf, 100), ==, -EHOSTUNREACH);
    build_packet(buf, AF_INET, "10.20.0.1", "10.20.0.2", 1, IPOP_DEFAULT_MTU + 1);
    g_assert_cmpint(ipop_network_send_packet(a.net, buf, IPOP_DEFAULT_MTU + 1), ==, -EMSGSIZE);
    g_assert_cmpint(ipop_network_send_packet(a.net, "garbage", 7), ==, -EINVAL);
    g_assert_cmpint(ipop_network_send_packet(a.net, buf, 0), ==, -EINVAL);

    /* A packet whose source is not the sender's address is dropped on
     * arrival and counted, as WireGuard's allowed IPs. */
    {
        ipop_link_t *lb = ipop_network_get_link(b.net, ipop_network_get_node_id(a.net));
        ipop_link_stats_t before = { .size = sizeof(before) }, after = { .size = sizeof(after) };
        guint received;
        ipop_link_get_stats(lb, &before);
        g_mutex_lock(&b.lock);
        received = b.received + b.corrupt;
        g_mutex_unlock(&b.lock);
        build_packet(buf, AF_INET, "10.20.0.66", "10.20.0.2", 5, 200);
        g_assert_cmpint(ipop_network_send_packet(a.net, buf, 200), ==, 0);
        for (int i = 0; i < 200; i++) {
            ipop_link_get_stats(lb, &after);
            if (after.rx_drops > before.rx_drops)
                break;
            g_usleep(10000);
        }
        g_assert_cmpuint(after.rx_drops, ==, before.rx_drops + 1);
        g_mutex_lock(&b.lock);
        g_assert_cmpuint(b.received + b.corrupt, ==, received);
        g_mutex_unlock(&b.lock);
    }

    /* Closing says goodbye: the peer sees its link closed by the peer. */
    g_assert_cmpint(ipop_link_close(la), ==, 0);
    g_assert_cmpint(ipop_link_get_state(la), ==, IPOP_LINK_CLOSED);
    g_assert_true(wait_state(&b, IPOP_LINK_CLOSED, 5));
    g_assert_cmpint(b.reason, ==, IPOP_REASON_PEER_CLOSED);
    g_assert_cmpint(ipop_link_close(la), ==, -EALREADY);
    build_packet(buf, AF_INET, "10.20.0.1", "10.20.0.2", 1, 100);
    g_assert_cmpint(ipop_network_send_packet(a.net, buf, 100), ==, -EHOSTUNREACH);

    /* and the link can be opened again */
    connect_pair(&a, &b);
    blast(&a, &b, AF_INET, 300);

    node_clear(&a);
    node_clear(&b);
}

/* Sends a packet from `from` to `to` every 10 ms until `watched` reaches
 * `state` (or FAILED/CLOSED) or `seconds` pass; returns how many it
 * tried (ipop_network_send_packet() refuses them while no link is up). */
static guint send_until_state(node *from, node *to, node *watched, int state, int seconds)
{
    gint64 end = g_get_monotonic_time() + (gint64)seconds * test_time_factor() * G_USEC_PER_SEC;
    guint8 buf[200];
    guint sent = 0;

    for (guint32 seq = 0; g_get_monotonic_time() < end; seq++) {
        int st;

        g_mutex_lock(&watched->lock);
        st = watched->state;
        g_mutex_unlock(&watched->lock);
        if (st == state || st == IPOP_LINK_FAILED || st == IPOP_LINK_CLOSED)
            break;
        build_packet(buf, AF_INET, from->addr4, to->addr4, seq % N_PACKETS, sizeof(buf));
        ipop_network_send_packet(from->net, buf, sizeof(buf));
        sent++;
        g_usleep(10000);
    }
    return sent;
}

static void test_fingerprint_mismatch(void)
{
    node a, b;
    guint sent;

    node_init(&a, "a", "10.21.0.1", NULL, NULL, NULL);
    node_init(&b, "b", "10.21.0.2", NULL, NULL, NULL);
    pair_start(&a, &b);
    a.forge_fp = true; /* b will pin a fingerprint that is not a's */
    g_assert_cmpint(ipop_network_allow_peer(b.net, ipop_network_get_node_id(a.net)), ==, 0);
    g_assert_cmpint(ipop_network_connect(a.net, ipop_network_get_node_id(b.net), NULL), ==, 0);
    /* a sends all along, as a host with traffic for b would: none of it
     * may reach b through a session with the wrong certificate */
    sent = send_until_state(&a, &b, &b, IPOP_LINK_FAILED, 15);
    g_assert_true(wait_state(&b, IPOP_LINK_FAILED, 1));
    g_assert_cmpint(b.reason, ==, IPOP_REASON_FINGERPRINT_MISMATCH);
    /* a is told and gives up too; no packet ever flows */
    sent += send_until_state(&a, &b, &a, IPOP_LINK_CLOSED, 10);
    g_assert_true(wait_state(&a, IPOP_LINK_CLOSED, 1) || wait_state(&a, IPOP_LINK_FAILED, 1));
    g_assert_cmpuint(sent, >, 0);
    g_assert_cmpuint(b.received + b.corrupt, ==, 0);
    node_clear(&a);
    node_clear(&b);
}

static void test_not_allowed(void)
{
    node a, b;

    node_init(&a, "a", "10.22.0.1", NULL, "link.timeout", "3");
    node_init(&b, "b", "10.22.0.2", NULL, NULL, NULL);
    pair_start(&a, &b);
    /* b never allows a */
    g_assert_cmpint(ipop_network_connect(a.net, ipop_network_get_node_id(b.net), NULL), ==, 0);
    g_assert_true(wait_state(&a, IPOP_LINK_FAILED, 10));
    g_assert_cmpint(a.reason, ==, IPOP_REASON_TIMEOUT);
    g_mutex_lock(&b.lock);
    g_assert_cmpint(b.refused, >=, 1);
    g_assert_cmpint(b.reason, ==, IPOP_REASON_PEER_NOT_ALLOWED);
    g_assert_cmpint(a.signal_errors, >=, 1); /* signal_receive said -EPERM */
    g_mutex_unlock(&b.lock);
    g_assert_null(ipop_network_get_link(b.net, ipop_network_get_node_id(a.net)));
    node_clear(&a);
    node_clear(&b);
}

static bool both_held(void *data)
{
    node **n = data;
    bool r;

    g_mutex_lock(&n[0]->lock);
    r = n[0]->held->len > 0;
    g_mutex_unlock(&n[0]->lock);
    g_mutex_lock(&n[1]->lock);
    r = r && n[1]->held->len > 0;
    g_mutex_unlock(&n[1]->lock);
    return r;
}

static bool has_answered(void *data)
{
    node *n = data;
    bool r;

    g_mutex_lock(&n->lock);
    r = n->answers_sent > 0;
    g_mutex_unlock(&n->lock);
    return r;
}

/* (read racily: the loop threads write them) */
static bool same_session(void *data)
{
    ipop_link_t **l = data;
    char x[sizeof(l[0]->session)], y[sizeof(l[1]->session)];

    memcpy(x, l[0]->session, sizeof(x));
    memcpy(y, l[1]->session, sizeof(y));
    x[sizeof(x) - 1] = y[sizeof(y) - 1] = '\0';
    return x[0] && strcmp(x, y) == 0;
}

static void test_simultaneous(void)
{
    node a, b;
    ipop_link_t *la, *lb;
    char session[sizeof(la->session)];

    node_init(&a, "a", "10.23.0.1", NULL, NULL, NULL);
    node_init(&b, "b", "10.23.0.2", NULL, NULL, NULL);
    pair_start(&a, &b);
    g_assert_cmpint(ipop_network_allow_peer(a.net, ipop_network_get_node_id(b.net)), ==, 0);
    g_assert_cmpint(ipop_network_allow_peer(b.net, ipop_network_get_node_id(a.net)), ==, 0);
    /* Both offer before either has seen the other's offer: the offers cross. */
    set_mute(&a, true);
    set_mute(&b, true);
    g_assert_cmpint(ipop_network_connect(a.net, ipop_network_get_node_id(b.net), &la), ==, 0);
    g_assert_cmpint(ipop_network_connect(b.net, ipop_network_get_node_id(a.net), &lb), ==, 0);
    g_assert_true(test_wait(both_held, (node *[]){ &a, &b }, 5000));
    set_mute(&a, false);
    set_mute(&b, false);
    /* The hard order: the smaller node's offer first, and the crossing
     * offer only once its peer has answered it. */
    {
        bool a_smaller = strcmp(ipop_network_get_node_id(a.net), ipop_network_get_node_id(b.net)) < 0;
        node *small = a_smaller ? &a : &b, *big = a_smaller ? &b : &a;

        release_held(small);
        g_assert_true(test_wait(has_answered, big, 5000));
        release_held(big);
    }
    g_assert_true(wait_state(&a, IPOP_LINK_CONNECTED, 15));
    g_assert_true(wait_state(&b, IPOP_LINK_CONNECTED, 5));
    /* One session: both sides name the same one, and it stays up while
     * packets flow: no other session replaced it, none failed. */
    g_assert_true(test_wait(same_session, (ipop_link_t *[]){ la, lb }, 3000));
    g_strlcpy(session, la->session, sizeof(session));
    blast(&a, &b, AF_INET, 200);
    g_assert_cmpstr(la->session, ==, session);
    g_assert_cmpstr(lb->session, ==, session);
    g_assert_cmpint(ipop_link_get_state(la), ==, IPOP_LINK_CONNECTED);
    g_assert_cmpint(ipop_link_get_state(lb), ==, IPOP_LINK_CONNECTED);
    g_mutex_lock(&a.lock);
    g_mutex_lock(&b.lock);
    g_assert_cmpuint((a.state_reasons | b.state_reasons) & (1u << IPOP_REASON_SUPERSEDED), ==, 0);
    g_assert_cmpuint(a.failures + b.failures, ==, 0);
    g_mutex_unlock(&b.lock);
    g_mutex_unlock(&a.lock);
    blast(&a, &b, AF_INET, 200);
    node_clear(&a);
    node_clear(&b);
}

/* An offer lost on the way is repeated until the peer answers. */
static void test_lost_offer(void)
{
    node a, b;

    node_init(&a, "a", "10.26.0.1", NULL, NULL, NULL);
    node_init(&b, "b", "10.26.0.2", NULL, NULL, NULL);
    pair_start(&a, &b);
    g_assert_cmpint(ipop_network_allow_peer(b.net, ipop_network_get_node_id(a.net)), ==, 0);
    set_mute(&a, true);
    g_assert_cmpint(ipop_network_connect(a.net, ipop_network_get_node_id(b.net), NULL), ==, 0);
    g_usleep(500000);
    set_mute(&a, false); /* what a said so far is lost */
    g_assert_cmpuint(a.held->len, >, 0);
    g_ptr_array_set_size(a.held, 0);
    g_assert_true(wait_state(&a, IPOP_LINK_CONNECTED, 10));
    g_assert_true(wait_state(&b, IPOP_LINK_CONNECTED, 5));
    blast(&a, &b, AF_INET, 300);
    node_clear(&a);
    node_clear(&b);
}

/* A host that runs its own poll() loop drives one side, from a thread of
 * its own, the only caller of ipop_network_process(). */
static gint driver_stop;

static gpointer drive(gpointer p)
{
    ipop_network_t *net = p;

    while (!g_atomic_int_get(&driver_stop)) {
        struct pollfd pfd = { .fd = ipop_network_get_fd(net), .events = POLLIN };
        int t = ipop_network_get_timeout(net);
        if (pfd.fd < 0) {
            fprintf(stderr, "ipop_network_get_fd: %s\n", ipop_strerror(pfd.fd));
            return GINT_TO_POINTER(1);
        }
        poll(&pfd, 1, t < 0 || t > 50 ? 50 : t);
        int r = ipop_network_process(net);
        if (r < 0) {
            fprintf(stderr, "ipop_network_process: %s\n", ipop_strerror(r));
            return GINT_TO_POINTER(1);
        }
    }
    return NULL;
}

static void test_external_loop(void)
{
    node a, b;
    GThread *driver;

    node_init(&a, "a", "10.24.0.1", NULL, "loop", "external");
    node_init(&b, "b", "10.24.0.2", NULL, NULL, NULL);
    g_assert_cmpint(ipop_network_get_fd(a.net), ==, -ENOTCONN);
    pair_start(&a, &b);
    g_assert_cmpint(ipop_network_get_fd(b.net), ==, -EINVAL); /* b runs its own thread */
    g_assert_cmpint(ipop_network_get_fd(a.net), >=, 0);
    g_atomic_int_set(&driver_stop, 0);
    driver = g_thread_new("driver", drive, a.net);
    connect_pair(&a, &b);
    blast(&b, &a, AF_INET, 0);
    blast(&a, &b, AF_INET, 0);
    g_atomic_int_set(&driver_stop, 1);
    g_assert_null(g_thread_join(driver));
    node_clear(&a);
    node_clear(&b);
}

static char *session_of(node *n, node *peer);

/* One turn of a host loop that waits on the network's fd for as long as
 * the network asks, and no longer.  Returns what poll() returned: 1 when
 * the fd woke the host, 0 when the network's own timeout did. */
static int host_turn(ipop_network_t *net, int timeout)
{
    struct pollfd pfd = { .fd = ipop_network_get_fd(net), .events = POLLIN };
    int r = poll(&pfd, 1, timeout);

    g_assert_cmpint(ipop_network_process(net), ==, 0);
    return r;
}

static guint received_of(node *n)
{
    guint r;

    g_mutex_lock(&n->lock);
    r = n->received;
    g_mutex_unlock(&n->lock);
    return r;
}

/* A host that sleeps for the whole timeout the network gives must be woken
 * by the network's fd when a packet arrives: b sends one packet while a's
 * next timer is still far off, and a's fd must turn readable before it. */
static void assert_woken_by_packets(node *a, node *b, guint32 seq0)
{
    guint8 buf[200];
    size_t len;

    for (guint32 k = 0; k < 3; k++) {
        gint64 end = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
        guint before = received_of(a);
        int t;

        /* until the network is idle: its next timer 200 ms away or more */
        while ((t = ipop_network_get_timeout(a->net)) >= 0 && t < 200) {
            g_assert_cmpint(g_get_monotonic_time(), <, end);
            host_turn(a->net, t);
        }
        len = build_packet(buf, AF_INET, b->addr4, a->addr4, seq0 + k, sizeof(buf));
        g_assert_cmpint(ipop_network_send_packet(b->net, buf, len), ==, 0);
        g_assert_cmpint(host_turn(a->net, t), ==, 1);
        while (received_of(a) == before) {
            g_assert_cmpint(g_get_monotonic_time(), <, end);
            host_turn(a->net, 100);
        }
    }
}

/* The same after the link started again with fresh sockets (the host's
 * network changed): the new sockets may reuse the numbers of the old ones,
 * and must wake the host all the same. */
static void test_external_loop_wakeup(void)
{
    node a, b;
    GThread *driver;
    char *before, *after;

    node_init(&a, "a", "10.29.0.1", NULL, "loop", "external");
    node_init(&b, "b", "10.29.0.2", NULL, NULL, NULL);
    pair_start(&a, &b);
    g_atomic_int_set(&driver_stop, 0);
    driver = g_thread_new("driver", drive, a.net);
    connect_pair(&a, &b);
    g_atomic_int_set(&driver_stop, 1);
    g_assert_null(g_thread_join(driver));
    assert_woken_by_packets(&a, &b, 0);

    before = session_of(&a, &b);
    g_atomic_int_set(&driver_stop, 0);
    driver = g_thread_new("driver", drive, a.net);
    g_assert_cmpint(ipop_network_changed(a.net), ==, 0);
    for (int i = 0; i < 500 && !(a.state_reasons & (1u << IPOP_REASON_NETWORK_CHANGED)); i++)
        g_usleep(20000);
    g_assert_true(wait_state(&a, IPOP_LINK_CONNECTED, 10));
    g_assert_true(wait_state(&b, IPOP_LINK_CONNECTED, 10));
    g_atomic_int_set(&driver_stop, 1);
    g_assert_null(g_thread_join(driver));
    after = session_of(&a, &b);
    g_assert_cmpstr(before, !=, after);
    assert_woken_by_packets(&a, &b, 10);
    g_free(before);
    g_free(after);
    node_clear(&a);
    node_clear(&b);
}

/* A host loop with many links: each link brings sockets of its own into
 * the network's loop, more of them than any fixed table holds.  70 peers
 * (each a network on a thread of its own) link with one network driven by
 * the host, every link comes up on both ends, and a packet crosses every
 * link both ways. */
#define HUB_PEERS 70

typedef struct {
    ipop_network_t *hub, *spoke[HUB_PEERS];
    gint got[HUB_PEERS], back[HUB_PEERS];
} hub_test;

static int spoke_index(hub_test *h, const char *id)
{
    for (int i = 0; i < HUB_PEERS; i++)
        if (h->spoke[i] && strcmp(ipop_network_get_node_id(h->spoke[i]), id) == 0)
            return i;
    return -1;
}

static void hub_signal(ipop_network_t *net, const char *peer_id, const char *msg, void *ud)
{
    hub_test *h = ud;
    int i = spoke_index(h, peer_id);

    if (i >= 0)
        ipop_network_signal_receive(h->spoke[i], ipop_network_get_node_id(net), msg);
}

static void spoke_signal(ipop_network_t *net, const char *peer_id, const char *msg, void *ud)
{
    hub_test *h = ud;

    ipop_network_signal_receive(h->hub, ipop_network_get_node_id(net), msg);
}

/* Spoke i is 10.32.0.(i + 2); the hub 10.32.0.1.  The packet's source
 * address says which spoke sent it or was meant. */
static void hub_packet(ipop_network_t *net, const void *pkt, size_t len, void *ud)
{
    hub_test *h = ud;
    const guint8 *p = pkt;

    if (len >= 20 && p[15] >= 2 && p[15] < 2 + HUB_PEERS)
        g_atomic_int_inc(&h->got[p[15] - 2]);
}

static void spoke_packet(ipop_network_t *net, const void *pkt, size_t len, void *ud)
{
    hub_test *h = ud;
    const guint8 *p = pkt;

    if (len >= 20 && p[19] >= 2 && p[19] < 2 + HUB_PEERS)
        g_atomic_int_inc(&h->back[p[19] - 2]);
}

static ipop_network_t *hub_net(hub_test *h, const char *name, const char *addr, bool external)
{
    ipop_network_t *net = NULL;

    g_assert_cmpint(ipop_network_new(&net, name), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "mode", "none"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "ice.local-address", "127.0.0.1"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "address", addr), ==, 0);
    if (external)
        g_assert_cmpint(ipop_network_set_option(net, "loop", "external"), ==, 0);
    g_assert_cmpint(ipop_network_set_signal_cb(net, external ? hub_signal : spoke_signal, h), ==, 0);
    g_assert_cmpint(ipop_network_set_packet_cb(net, external ? hub_packet : spoke_packet, h), ==, 0);
    g_assert_cmpint(ipop_network_start(net), ==, 0);
    return net;
}

static bool all_arrived(gint *counts)
{
    for (int i = 0; i < HUB_PEERS; i++)
        if (!g_atomic_int_get(&counts[i]))
            return false;
    return true;
}

static void test_external_loop_many(void)
{
    hub_test *h = g_new0(hub_test, 1);
    ipop_link_t *links[HUB_PEERS];
    guint8 buf[100];
    int up = 0;
    gint64 end;

    h->hub = hub_net(h, "hub", "10.32.0.1/16", true);
    for (int i = 0; i < HUB_PEERS; i++) {
        char name[16], addr[32];
        g_snprintf(name, sizeof(name), "spoke%d", i);
        g_snprintf(addr, sizeof(addr), "10.32.0.%d/16", i + 2);
        h->spoke[i] = hub_net(h, name, addr, false);
        g_assert_cmpint(ipop_network_allow_peer(h->spoke[i], ipop_network_get_node_id(h->hub)), ==, 0);
    }
    for (int i = 0; i < HUB_PEERS; i++)
        g_assert_cmpint(ipop_network_connect(h->hub, ipop_network_get_node_id(h->spoke[i]), &links[i]), ==, 0);
    end = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    while (up < HUB_PEERS && g_get_monotonic_time() < end) {
        int t = ipop_network_get_timeout(h->hub);
        host_turn(h->hub, t < 0 || t > 100 ? 100 : t);
        up = 0;
        for (int i = 0; i < HUB_PEERS; i++) {
            ipop_link_t *back = ipop_network_get_link(h->spoke[i], ipop_network_get_node_id(h->hub));
            ipop_link_stats_t st = { .size = sizeof(st) }, sb = { .size = sizeof(sb) };
            up += ipop_link_get_stats(links[i], &st) == 0 && st.state == IPOP_LINK_CONNECTED && back &&
                  ipop_link_get_stats(back, &sb) == 0 && sb.state == IPOP_LINK_CONNECTED;
        }
    }
    g_assert_cmpint(up, ==, HUB_PEERS);
    for (int i = 0; i < HUB_PEERS; i++) {
        char src[32];
        g_snprintf(src, sizeof(src), "10.32.0.%d", i + 2);
        build_packet(buf, AF_INET, src, "10.32.0.1", (guint32)i, sizeof(buf));
        g_assert_cmpint(ipop_network_send_packet(h->spoke[i], buf, sizeof(buf)), ==, 0);
        build_packet(buf, AF_INET, "10.32.0.1", src, (guint32)i, sizeof(buf));
        g_assert_cmpint(ipop_network_send_packet(h->hub, buf, sizeof(buf)), ==, 0);
    }
    end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!(all_arrived(h->got) && all_arrived(h->back)) && g_get_monotonic_time() < end)
        host_turn(h->hub, 50);
    for (int i = 0; i < HUB_PEERS; i++) {
        g_assert_cmpint(g_atomic_int_get(&h->got[i]), ==, 1);
        g_assert_cmpint(g_atomic_int_get(&h->back[i]), ==, 1);
    }
    for (int i = 0; i < HUB_PEERS; i++)
        ipop_network_stop(h->spoke[i]);
    h->hub = ipop_network_free(h->hub);
    for (int i = 0; i < HUB_PEERS; i++)
        h->spoke[i] = ipop_network_free(h->spoke[i]);
    g_free(h);
}

/* A GLib host: the network runs on the host's own main context, iterated by
 * the host's thread. */
static gpointer run_loop(gpointer p)
{
    g_main_loop_run(p);
    return NULL;
}

static void test_glib_context(void)
{
    node a, b;
    GMainContext *ctx = g_main_context_new();
    GMainLoop *loop = g_main_loop_new(ctx, FALSE);
    GThread *host;

    node_init(&a, "a", "10.25.0.1", NULL, NULL, NULL);
    node_init(&b, "b", "10.25.0.2", NULL, NULL, NULL);
    g_assert_cmpint(ipop_network_set_glib_context(NULL, ctx), ==, -EINVAL);
    g_assert_cmpint(ipop_network_set_glib_context(a.net, ctx), ==, 0);
    host = g_thread_new("host", run_loop, loop);
    pair_start(&a, &b);
    g_assert_cmpint(ipop_network_set_glib_context(a.net, NULL), ==, -EBUSY);
    connect_pair(&a, &b);
    blast(&a, &b, AF_INET, 0);
    blast(&b, &a, AF_INET, 0);
    node_clear(&a); /* stops while the host's loop runs */
    node_clear(&b);
    g_main_loop_quit(loop);
    g_thread_join(host);
    g_main_loop_unref(loop);
    g_main_context_unref(ctx);
}

static char *session_of(node *n, node *peer)
{
    ipop_link_t *l = ipop_network_get_link(n->net, ipop_network_get_node_id(peer->net));
    return g_strdup(l->session); /* a race-free read is not needed: it is only compared */
}

/* The application says the network changed: the link starts again with
 * fresh candidates (a new session), without failing, and carries traffic. */
static void test_network_changed(void)
{
    node a, b;
    char *before, *after;

    node_init(&a, "a", "10.28.0.1", NULL, NULL, NULL);
    node_init(&b, "b", "10.28.0.2", NULL, NULL, NULL);
    g_assert_cmpint(ipop_network_changed(NULL), ==, -EINVAL);
    g_assert_cmpint(ipop_network_changed(a.net), ==, -ENOTCONN);
    pair_start(&a, &b);
    connect_pair(&a, &b);
    before = session_of(&a, &b);
    g_assert_cmpint(ipop_network_changed(a.net), ==, 0);
    for (int i = 0; i < 100; i++) {
        g_mutex_lock(&a.lock);
        bool seen = a.state_reasons & (1u << IPOP_REASON_NETWORK_CHANGED);
        g_mutex_unlock(&a.lock);
        if (seen)
            break;
        g_usleep(20000);
    }
    g_assert_true(a.state_reasons & (1u << IPOP_REASON_NETWORK_CHANGED));
    g_assert_true(wait_state(&a, IPOP_LINK_CONNECTED, 10));
    g_assert_true(wait_state(&b, IPOP_LINK_CONNECTED, 10));
    after = session_of(&a, &b);
    g_assert_cmpstr(before, !=, after);
    g_assert_cmpuint(a.failures, ==, 0);
    g_assert_cmpuint(b.failures, ==, 0);
    blast(&a, &b, AF_INET, 300);
    blast(&b, &a, AF_INET, 300);
    g_free(before);
    g_free(after);
    node_clear(&a);
    node_clear(&b);
}

/* A peer that says nothing for 3 s (its loop stalls for 5 s): the link
 * starts ICE again by itself (path-lost), and is up again once the peer
 * is back, without failing and without a call from the host. */
/* Sends an ICE check (made by libnice's STUN code) with the credentials
 * given from a socket of our own to `to`; returns the answer's length, or
 * 0 when none came within `ms`. */
static ssize_t send_check(int fd, const struct sockaddr_storage *to, socklen_t to_len, StunAgent *agent,
                          bool controlling, const char *user, const char *pwd, uint8_t *ans, size_t ans_size, int ms)
{
    StunMessage msg;
    uint8_t req[512];
    size_t len;
    struct pollfd p = { .fd = fd, .events = POLLIN };

    stun_agent_init(agent, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
    len = stun_usage_ice_conncheck_create(agent, &msg, req, sizeof(req), (const uint8_t *)user, strlen(user),
                                          (const uint8_t *)pwd, strlen(pwd), false, controlling, 12345, 678, NULL,
                                          STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
    g_assert_cmpuint(len, >, 0);
    g_assert_cmpint(sendto(fd, req, len, 0, (const struct sockaddr *)to, to_len), ==, (ssize_t)len);
    if (poll(&p, 1, ms) != 1)
        return 0;
    return recv(fd, ans, ans_size, 0);
}

/* Once DTLS is up over a direct UDP pair, the network's own loop reads the
 * selected socket (not libnice): packets still arrive intact, and ICE
 * checks that come there, as a peer with consent freshness sends them,
 * are answered in a way libnice accepts; checks with wrong credentials are
 * not answered, and the link carries on. */
/* Until the loop reads a's socket itself (once ICE's checks are over,
 * READY) and record.c does the records. */
static bool direct_on(void *data)
{
    ipop_link_t *l = data;

    return *(volatile bool *)&l->ice.ready && *(volatile int *)&l->direct.fd >= 0 && *(volatile bool *)&l->dtls.rec_on;
}

static ipop_link_t *wait_direct(node *a, node *b)
{
    ipop_link_t *la = ipop_network_get_link(a->net, ipop_network_get_node_id(b->net));

    /* direct_update() runs in the loop right after ICE is READY */
    g_assert_true(test_wait(direct_on, la, 5000));
    return la;
}

static void test_direct_path(void)
{
    node a, b;
    ipop_link_t *la;
    ipop_link_stats_t st = { .size = sizeof(st) };
    struct sockaddr_storage to, mine, mapped;
    socklen_t to_len = sizeof(to), mine_len = sizeof(mine), mapped_len = sizeof(mapped);
    StunAgent agent;
    StunMessage resp;
    uint8_t ans[512];
    char *user, *bad_user;
    ssize_t n;
    int fd;

    node_init(&a, "a", "10.31.0.1", NULL, NULL, NULL);
    node_init(&b, "b", "10.31.0.2", NULL, NULL, NULL);
    pair_start(&a, &b);
    connect_pair(&a, &b);
    la = wait_direct(&a, &b); /* AES-GCM records sealed and opened by record.c */
    g_assert_true(ipop__net_direct_get(a.net, la->direct.fd) == la);
    blast(&a, &b, AF_INET, 0);
    blast(&b, &a, AF_INET, 0);

    g_assert_cmpint(getsockname(la->direct.fd, (struct sockaddr *)&to, &to_len), ==, 0);
    fd = socket(to.ss_family, SOCK_DGRAM, 0);
    g_assert_cmpint(fd, >=, 0);
    user = g_strdup_printf("%s:someone", la->ice.ufrag);
    /* as the peer checks: in the other ICE role (claiming ours is a role
     * conflict, answered with 487 or a switch: test-stun.c) */
    n = send_check(fd, &to, to_len, &agent, !la->controlling, user, la->ice.pwd, ans, sizeof(ans), 2000 * test_time_factor());
    g_assert_cmpint(n, >, 0);
    {
        StunDefaultValidaterData key = { (uint8_t *)user, strlen(user), (uint8_t *)la->ice.pwd, strlen(la->ice.pwd) };
        g_assert_cmpint(stun_agent_validate(&agent, &resp, ans, (size_t)n, stun_agent_default_validater, &key), ==,
                        STUN_VALIDATION_SUCCESS);
    }
    g_assert_cmpint(stun_usage_ice_conncheck_process(&resp, &mapped, &mapped_len, STUN_USAGE_ICE_COMPATIBILITY_RFC5245),
                    ==, STUN_USAGE_ICE_RETURN_SUCCESS);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&mine, &mine_len), ==, 0);
    g_assert_cmpuint(((struct sockaddr_in *)&mapped)->sin_port, ==, ((struct sockaddr_in *)&mine)->sin_port);

    /* wrong password, or someone else's ufrag: no answer */
    g_assert_cmpint(send_check(fd, &to, to_len, &agent, !la->controlling, user, "not-the-password-at-all", ans,
                               sizeof(ans), 300 * test_time_factor()),
                    ==, 0);
    bad_user = g_strdup_printf("x%s:someone", la->ice.ufrag);
    g_assert_cmpint(send_check(fd, &to, to_len, &agent, !la->controlling, bad_user, la->ice.pwd, ans, sizeof(ans),
                               300 * test_time_factor()),
                    ==, 0);
    /* garbage on the socket is dropped and counted */
    ipop_link_get_stats(la, &st);
    {
        guint64 drops = st.rx_drops;
        g_assert_cmpint(sendto(fd, "\xff garbage", 9, 0, (struct sockaddr *)&to, to_len), ==, 9);
        for (int i = 0; i < 200 * test_time_factor() && st.rx_drops == drops; i++) {
            g_usleep(10000);
            ipop_link_get_stats(la, &st);
        }
        g_assert_cmpuint(st.rx_drops, ==, drops + 1);
    }
    blast(&a, &b, AF_INET, 300);
    g_assert_cmpint(ipop_link_get_state(la), ==, IPOP_LINK_CONNECTED);
    close(fd);
    g_free(user);
    g_free(bad_user);
    node_clear(&a);
    node_clear(&b);
}

/* One data frame with an IPv4 packet from a to b, sealed as a's next record. */
static size_t seal_from(ipop_link_t *la, node *a, node *b, guint32 seq, uint8_t *rec, size_t cap)
{
    uint8_t frame[1 + 100];
    int n;

    frame[0] = IPOP__FRAME_DATA;
    build_packet(frame + 1, AF_INET, a->addr4, b->addr4, seq, 100);
    n = ipop__dtls_seal(la, frame, sizeof(frame), rec, cap);
    g_assert_cmpint(n, >, 0);
    return (size_t)n;
}

/* Waits until the link counts at least rx packets p and drops d (or 2 s
 * pass), then a moment for anything more, and returns its stats.  The
 * caller asks for the counts it expects, so that the wait ends when they
 * are there: waiting for a count that must not move ran to the deadline
 * each time (6 s under the sanitizers, four times in a test). */
static ipop_link_stats_t settle_stats(ipop_link_t *l, guint64 p, guint64 d)
{
    ipop_link_stats_t st = { .size = sizeof(st) };

    for (int i = 0; i < 200 * test_time_factor(); i++) {
        ipop_link_get_stats(l, &st);
        if (st.rx_packets >= p && st.rx_drops >= d)
            break;
        g_usleep(10000);
    }
    g_usleep(50000 * test_time_factor()); /* and whatever else was on its way */
    ipop_link_get_stats(l, &st);
    return st;
}

/* Records on the direct path: a datagram that holds a record three times
 * (RFC 6347 allows several records in one) delivers its packet once and
 * counts two drops; the record sent again alone is a replay; a fresh record
 * from an address other than the peer's is dropped, and taken from the
 * peer's own socket. */
static void test_replayed_records(void)
{
    node a, b;
    ipop_link_t *la, *lb;
    ipop_link_stats_t st;
    uint8_t rec[200], dgram[600];
    size_t rl;
    int fd;

    node_init(&a, "a", "10.33.0.1", NULL, NULL, NULL);
    node_init(&b, "b", "10.33.0.2", NULL, NULL, NULL);
    pair_start(&a, &b);
    connect_pair(&a, &b);
    la = wait_direct(&a, &b);
    lb = wait_direct(&b, &a);
    blast(&a, &b, AF_INET, 300);
    st = settle_stats(lb, 0, 0);

    rl = seal_from(la, &a, &b, 1, rec, sizeof(rec));
    for (int i = 0; i < 3; i++)
        memcpy(dgram + i * rl, rec, rl);
    g_assert_cmpint(sendto(la->direct.fd, dgram, 3 * rl, 0, (struct sockaddr *)&la->direct.to, la->direct.to_len), ==,
                    (ssize_t)(3 * rl));
    {
        guint64 p = st.rx_packets, d = st.rx_drops;
        st = settle_stats(lb, p + 1, d + 2);
        g_assert_cmpuint(st.rx_packets, ==, p + 1);
        g_assert_cmpuint(st.rx_drops, ==, d + 2);
    }
    g_assert_cmpint(sendto(la->direct.fd, rec, rl, 0, (struct sockaddr *)&la->direct.to, la->direct.to_len), ==,
                    (ssize_t)rl);
    {
        guint64 p = st.rx_packets, d = st.rx_drops;
        st = settle_stats(lb, p, d + 1);
        g_assert_cmpuint(st.rx_packets, ==, p);
        g_assert_cmpuint(st.rx_drops, ==, d + 1);
    }

    rl = seal_from(la, &a, &b, 2, rec, sizeof(rec));
    fd = socket(la->direct.to.ss_family, SOCK_DGRAM, 0);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(sendto(fd, rec, rl, 0, (struct sockaddr *)&la->direct.to, la->direct.to_len), ==, (ssize_t)rl);
    {
        guint64 p = st.rx_packets, d = st.rx_drops;
        st = settle_stats(lb, p, d + 1);
        g_assert_cmpuint(st.rx_packets, ==, p);
        g_assert_cmpuint(st.rx_drops, ==, d + 1);
    }
    g_assert_cmpint(sendto(la->direct.fd, rec, rl, 0, (struct sockaddr *)&la->direct.to, la->direct.to_len), ==,
                    (ssize_t)rl);
    {
        guint64 p = st.rx_packets, d = st.rx_drops;
        st = settle_stats(lb, p + 1, d);
        g_assert_cmpuint(st.rx_packets, ==, p + 1);
        g_assert_cmpuint(st.rx_drops, ==, d);
    }
    close(fd);
    blast(&a, &b, AF_INET, 300);
    blast(&b, &a, AF_INET, 300);
    g_assert_cmpint(ipop_link_get_state(la), ==, IPOP_LINK_CONNECTED);
    node_clear(&a);
    node_clear(&b);
}

static void test_path_lost(void)
{
    node a, b;
    char *before, *after;
    gint64 t0, took_ms;

    node_init(&a, "a", "10.29.0.1", NULL, NULL, NULL);
    node_init(&b, "b", "10.29.0.2", NULL, NULL, NULL);
    pair_start(&a, &b);
    connect_pair(&a, &b);
    before = session_of(&a, &b);
    /* b's loop hangs long enough that a, sending, hears nothing for 2.5 s
     * and restarts (an idle link would not care: test-idle); 5 s, not
     * stretched: the restarted session must still be able to come up
     * within its 9 s once b is back */
    t0 = g_get_monotonic_time();
    g_main_context_invoke(b.net->ctx, stall_loop, GUINT_TO_POINTER(5000));
    {
        guint8 pkt[100];
        size_t len = build_packet(pkt, AF_INET, a.addr4, b.addr4, 1, sizeof(pkt));
        g_assert_cmpint(ipop_network_send_packet(a.net, pkt, len), ==, 0);
    }
    g_assert_true(test_wait(path_lost_seen, &a, 4500));
    took_ms = (g_get_monotonic_time() - t0) / 1000;
    g_test_message("a restarted (path-lost) %" G_GINT64_FORMAT " ms into b's silence", took_ms);
    /* not before the silence was long enough */
    g_assert_cmpint(took_ms, >=, 1000);
    g_mutex_lock(&a.lock);
    g_assert_cmpint(a.state, ==, IPOP_LINK_CONNECTING);
    g_mutex_unlock(&a.lock);
    g_assert_true(wait_state(&a, IPOP_LINK_CONNECTED, 15));
    g_assert_true(wait_state(&b, IPOP_LINK_CONNECTED, 15));
    after = session_of(&a, &b);
    g_assert_cmpstr(before, !=, after);
    g_assert_cmpuint(a.failures, ==, 0);
    blast(&a, &b, AF_INET, 300);
    blast(&b, &a, AF_INET, 300);
    g_free(before);
    g_free(after);
    node_clear(&a);
    node_clear(&b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_log_to_stderr(IPOP_LOG_INFO);
    g_test_add_func("/link/packets", test_packets);
    g_test_add_func("/link/fingerprint-mismatch", test_fingerprint_mismatch);
    g_test_add_func("/link/not-allowed", test_not_allowed);
    g_test_add_func("/link/simultaneous", test_simultaneous);
    g_test_add_func("/link/lost-offer", test_lost_offer);
    g_test_add_func("/link/external-loop", test_external_loop);
    g_test_add_func("/link/external-loop-wakeup", test_external_loop_wakeup);
    g_test_add_func("/link/external-loop-many", test_external_loop_many);
    g_test_add_func("/link/glib-context", test_glib_context);
    g_test_add_func("/link/network-changed", test_network_changed);
    g_test_add_func("/link/path-lost", test_path_lost);
    g_test_add_func("/link/direct-path", test_direct_path);
    g_test_add_func("/link/replayed-records", test_replayed_records);
    return g_test_run();
}
