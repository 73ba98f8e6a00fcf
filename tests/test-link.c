/* SPDX-License-Identifier: MIT */
/* Two networks in one process, mode none, linked over loopback through the
 * real ICE and DTLS stack: packets arrive intact, bad peers are refused. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

#define N_PACKETS 10000
#define WINDOW 64

typedef struct node {
    ipop_network_t *net;
    struct node *peer;
    const char *addr4, *addr6;
    GMutex lock;
    GCond cond;
    int state;                    /* last link state seen in an event */
    ipop_reason_t reason;         /* its reason */
    int refused;                  /* IPOP_EVENT_PEER_REFUSED seen */
    int bad_messages;
    guint received;               /* packets that arrived intact */
    guint corrupt;
    guint8 *seen;                 /* per sequence number */
    bool forge_fp;                /* corrupt the fingerprint in our outgoing messages */
    bool mute;                    /* hold our outgoing messages back */
    GPtrArray *held;              /* messages held back while muted */
    int signal_errors;
} node;

static void on_signal(ipop_network_t *net, const char *peer_id, const char *message, void *ud)
{
    node *n = ud;
    char *copy = g_strdup(message);
    int r;

    g_mutex_lock(&n->lock);
    if (n->mute) {
        g_ptr_array_add(n->held, copy);
        g_mutex_unlock(&n->lock);
        return;
    }
    g_mutex_unlock(&n->lock);
    if (n->forge_fp) {
        char *fp = strstr(copy, " fp=");
        if (fp)
            fp[4] = fp[4] == 'a' ? 'b' : 'a';
    }
    r = ipop_network_signal_receive(n->peer->net, ipop_network_get_node_id(net), copy);
    if (r < 0) {
        g_mutex_lock(&n->lock);
        n->signal_errors++;
        g_mutex_unlock(&n->lock);
    }
    g_free(copy);
}

static void on_event(ipop_network_t *net, const ipop_event_t *ev, void *ud)
{
    node *n = ud;

    g_assert_cmpuint(ev->size, >=, sizeof(ipop_event_t));
    g_assert_nonnull(ev->detail);
    g_mutex_lock(&n->lock);
    if (ev->type == IPOP_EVENT_LINK_STATE) {
        n->state = ev->state;
        n->reason = ev->reason;
    } else if (ev->type == IPOP_EVENT_PEER_REFUSED) {
        n->refused++;
        n->reason = ev->reason;
    } else if (ev->type == IPOP_EVENT_BAD_MESSAGE) {
        n->bad_messages++;
    }
    g_cond_broadcast(&n->cond);
    g_mutex_unlock(&n->lock);
}

/* Packets carry a 32-bit sequence number after the IP header, then a
 * pattern derived from it. */
static size_t payload_offset(const guint8 *pkt)
{
    return (pkt[0] >> 4) == 6 ? 40 : 20;
}

static void on_packet(ipop_network_t *net, const void *packet, size_t len, void *ud)
{
    node *n = ud;
    const guint8 *p = packet;
    size_t off = payload_offset(p);
    guint32 seq;
    bool ok = len > off + 4;

    if (ok) {
        memcpy(&seq, p + off, 4);
        ok = seq < N_PACKETS;
        for (size_t i = off + 4; ok && i < len; i++)
            ok = p[i] == (guint8)(seq * 7 + i);
    }
    g_mutex_lock(&n->lock);
    if (ok && !n->seen[seq]) {
        n->seen[seq] = 1;
        n->received++;
    } else if (!ok) {
        n->corrupt++;
    }
    g_cond_broadcast(&n->cond);
    g_mutex_unlock(&n->lock);
}

static size_t build_packet(guint8 *buf, int family, const char *src, const char *dst, guint32 seq, size_t len)
{
    size_t off = family == AF_INET6 ? 40 : 20;

    memset(buf, 0, off);
    if (family == AF_INET) {
        buf[0] = 0x45;
        buf[2] = (guint8)(len >> 8);
        buf[3] = (guint8)len;
        buf[8] = 64;
        buf[9] = 17;
        inet_pton(AF_INET, src, buf + 12);
        inet_pton(AF_INET, dst, buf + 16);
    } else {
        buf[0] = 0x60;
        buf[4] = (guint8)((len - 40) >> 8);
        buf[5] = (guint8)(len - 40);
        buf[6] = 17;
        buf[7] = 64;
        inet_pton(AF_INET6, src, buf + 8);
        inet_pton(AF_INET6, dst, buf + 24);
    }
    memcpy(buf + off, &seq, 4);
    for (size_t i = off + 4; i < len; i++)
        buf[i] = (guint8)(seq * 7 + i);
    return len;
}

static void node_init(node *n, const char *name, const char *a4, const char *a6, const char *extra_key,
                      const char *extra_val)
{
    memset(n, 0, sizeof(*n));
    g_mutex_init(&n->lock);
    g_cond_init(&n->cond);
    n->addr4 = a4;
    n->addr6 = a6;
    n->seen = g_new0(guint8, N_PACKETS);
    n->held = g_ptr_array_new_with_free_func(g_free);
    g_assert_cmpint(ipop_network_new(&n->net, name), ==, 0);
    g_assert_cmpint(ipop_network_set_option(n->net, "mode", "none"), ==, 0);
    if (a4) {
        char *v = g_strdup_printf("%s/24", a4);
        g_assert_cmpint(ipop_network_set_option(n->net, "address", v), ==, 0);
        g_free(v);
    }
    if (a6) {
        char *v = g_strdup_printf("%s/64", a6);
        g_assert_cmpint(ipop_network_set_option(n->net, "address", v), ==, 0);
        g_free(v);
    }
    if (extra_key)
        g_assert_cmpint(ipop_network_set_option(n->net, extra_key, extra_val), ==, 0);
    g_assert_cmpint(ipop_network_set_signal_cb(n->net, on_signal, n), ==, 0);
    g_assert_cmpint(ipop_network_set_event_cb(n->net, on_event, n), ==, 0);
    g_assert_cmpint(ipop_network_set_packet_cb(n->net, on_packet, n), ==, 0);
}

static void node_clear(node *n)
{
    n->net = ipop_network_free(n->net);
    g_free(n->seen);
    g_ptr_array_unref(n->held);
    g_mutex_clear(&n->lock);
    g_cond_clear(&n->cond);
}

static void pair_start(node *a, node *b)
{
    a->peer = b;
    b->peer = a;
    g_assert_cmpint(ipop_network_start(a->net), ==, 0);
    g_assert_cmpint(ipop_network_start(b->net), ==, 0);
    g_assert_nonnull(ipop_network_get_node_id(a->net));
    g_assert_cmpstr(ipop_network_get_node_id(a->net), !=, ipop_network_get_node_id(b->net));
}

/* Waits until the node's last link event has `state`; false after timeout. */
static bool wait_state(node *n, int state, int seconds)
{
    gint64 end = g_get_monotonic_time() + seconds * G_USEC_PER_SEC;
    bool ok;

    g_mutex_lock(&n->lock);
    while (n->state != state && g_cond_wait_until(&n->cond, &n->lock, end))
        ;
    ok = n->state == state;
    g_mutex_unlock(&n->lock);
    return ok;
}

static void connect_pair(node *a, node *b)
{
    ipop_link_t *link = NULL;

    g_assert_cmpint(ipop_network_allow_peer(b->net, ipop_network_get_node_id(a->net)), ==, 0);
    g_assert_cmpint(ipop_network_connect(a->net, ipop_network_get_node_id(b->net), &link), ==, 0);
    g_assert_nonnull(link);
    g_assert_true(ipop_network_get_link(a->net, ipop_network_get_node_id(b->net)) == link);
    if (!wait_state(a, IPOP_LINK_CONNECTED, 15) || !wait_state(b, IPOP_LINK_CONNECTED, 5))
        g_error("link did not come up: a=%s (%s) b=%s (%s)", ipop_link_state_str(a->state),
                ipop_reason_str(a->reason), ipop_link_state_str(b->state), ipop_reason_str(b->reason));
}

/* Sends N_PACKETS from `from` to `to`, at most WINDOW in flight, and checks
 * every one arrived intact. */
static void blast(node *from, node *to, int family, size_t len)
{
    guint8 buf[IPOP_MAX_PACKET];
    const char *src = family == AF_INET ? from->addr4 : from->addr6;
    const char *dst = family == AF_INET ? to->addr4 : to->addr6;
    gint64 end;

    g_mutex_lock(&to->lock);
    to->received = 0;
    to->corrupt = 0;
    memset(to->seen, 0, N_PACKETS);
    g_mutex_unlock(&to->lock);
    for (guint32 seq = 0; seq < N_PACKETS; seq++) {
        size_t plen = len ? len : 64 + seq % (IPOP_DEFAULT_MTU - 64 + 1);
        int r;
        build_packet(buf, family, src, dst, seq, plen);
        while ((r = ipop_network_send_packet(from->net, buf, plen)) == -ENOBUFS)
            g_usleep(100);
        g_assert_cmpint(r, ==, 0);
        /* Keep the window: wait for the receiver to catch up. */
        end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        g_mutex_lock(&to->lock);
        while (seq + 1 - to->received > WINDOW && g_cond_wait_until(&to->cond, &to->lock, end))
            ;
        g_mutex_unlock(&to->lock);
    }
    end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    g_mutex_lock(&to->lock);
    while (to->received < N_PACKETS && g_cond_wait_until(&to->cond, &to->lock, end))
        ;
    g_assert_cmpuint(to->corrupt, ==, 0);
    g_assert_cmpuint(to->received, ==, N_PACKETS);
    g_mutex_unlock(&to->lock);
}

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

static void test_fingerprint_mismatch(void)
{
    node a, b;

    node_init(&a, "a", "10.21.0.1", NULL, NULL, NULL);
    node_init(&b, "b", "10.21.0.2", NULL, NULL, NULL);
    pair_start(&a, &b);
    a.forge_fp = true; /* b will pin a fingerprint that is not a's */
    g_assert_cmpint(ipop_network_allow_peer(b.net, ipop_network_get_node_id(a.net)), ==, 0);
    g_assert_cmpint(ipop_network_connect(a.net, ipop_network_get_node_id(b.net), NULL), ==, 0);
    g_assert_true(wait_state(&b, IPOP_LINK_FAILED, 15));
    g_assert_cmpint(b.reason, ==, IPOP_REASON_FINGERPRINT_MISMATCH);
    /* a is told and gives up too; no packet ever flows */
    g_assert_true(wait_state(&a, IPOP_LINK_CLOSED, 10) || wait_state(&a, IPOP_LINK_FAILED, 1));
    g_assert_cmpuint(b.received, ==, 0);
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

static void set_mute(node *n, bool mute)
{
    g_mutex_lock(&n->lock);
    n->mute = mute;
    g_mutex_unlock(&n->lock);
}

/* Delivers what n held back, in order. */
static void release_held(node *n)
{
    for (guint i = 0; i < n->held->len; i++)
        ipop_network_signal_receive(n->peer->net, ipop_network_get_node_id(n->net), n->held->pdata[i]);
    g_ptr_array_set_size(n->held, 0);
}

static void test_simultaneous(void)
{
    node a, b;
    ipop_link_t *la, *lb;

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
    g_usleep(300000);
    set_mute(&a, false);
    set_mute(&b, false);
    g_assert_cmpuint(a.held->len, >, 0);
    g_assert_cmpuint(b.held->len, >, 0);
    release_held(&a);
    release_held(&b);
    g_assert_true(wait_state(&a, IPOP_LINK_CONNECTED, 15));
    g_assert_true(wait_state(&b, IPOP_LINK_CONNECTED, 5));
    g_usleep(300000);
    /* One session: both sides name the same one, and it stays up. */
    g_assert_cmpstr(la->session, ==, lb->session);
    g_assert_cmpint(ipop_link_get_state(la), ==, IPOP_LINK_CONNECTED);
    g_assert_cmpint(ipop_link_get_state(lb), ==, IPOP_LINK_CONNECTED);
    blast(&a, &b, AF_INET, 200);
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
        if (pfd.fd < 0)
            return GINT_TO_POINTER(1);
        poll(&pfd, 1, t < 0 || t > 50 ? 50 : t);
        if (ipop_network_process(net) < 0)
            return GINT_TO_POINTER(1);
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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_log_to_stderr(IPOP_LOG_INFO);
    g_test_add_func("/link/packets", test_packets);
    g_test_add_func("/link/fingerprint-mismatch", test_fingerprint_mismatch);
    g_test_add_func("/link/not-allowed", test_not_allowed);
    g_test_add_func("/link/simultaneous", test_simultaneous);
    g_test_add_func("/link/external-loop", test_external_loop);
    return g_test_run();
}
