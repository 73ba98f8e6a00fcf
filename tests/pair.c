/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "message.h"
#include "msgauth.h"
#include "pair.h"
#include "sigauth.h"
#include "testutil.h"



/* A peer that signals (and signs) a fingerprint that is not its own: the
 * message taken apart, changed and signed again by the sender's key. */
static char *forge_fingerprint(ipop_network_t *net, const char *peer_id, const char *line)
{
    ipop__auth a;
    size_t body_len;
    g_autofree ipop__msg *m = g_new(ipop__msg, 1);
    char *buf = g_malloc(IPOP__SIGNAL_MAX + 1);
    int n = -1;

    if (ipop__auth_decode(&a, line, strlen(line), &body_len) == 0 && ipop__msg_decode(m, line, body_len) == 0 &&
        m->has_fingerprint) {
        m->fingerprint[0] ^= 1;
        n = ipop__msg_encode(m, buf, IPOP__SIGNAL_MAX + 1);
        g_assert_cmpint(n, >, 0);
        n = ipop__sigauth_seal(net, peer_id, buf, (size_t)n, IPOP__SIGNAL_MAX + 1);
        g_assert_cmpint(n, >, 0);
    }
    if (n < 0)
        g_strlcpy(buf, line, IPOP__SIGNAL_MAX + 1);
    return buf;
}

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
        g_free(copy);
        copy = forge_fingerprint(net, peer_id, message);
    }
    r = ipop_network_signal_receive(n->peer->net, ipop_network_get_node_id(net), copy);
    g_mutex_lock(&n->lock);
    if (r < 0)
        n->signal_errors++;
    if (g_str_has_prefix(copy, "ipop2 answer "))
        n->answers_sent++;
    g_cond_broadcast(&n->cond);
    g_mutex_unlock(&n->lock);
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
        n->state_reasons |= 1u << ev->reason;
        if (ev->state == IPOP_LINK_FAILED)
            n->failures++;
    } else if (ev->type == IPOP_EVENT_PEER_REFUSED) {
        n->refused++;
        n->refused_reasons |= 1u << ev->reason;
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

/* Whether the IP header of an intact packet is the one blast() sent:
 * version, length, protocol, TTL, addresses, byte for byte. */
static bool header_ok(const node *n, const guint8 *p, size_t len, guint32 seq)
{
    guint8 want[IPOP_MAX_PACKET];
    size_t off = n->expect_family == AF_INET6 ? 40 : 20;

    if (len > sizeof(want) || len < off + 4)
        return false;
    build_packet(want, n->expect_family, n->expect_src, n->expect_dst, seq, len);
    return memcmp(want, p, off) == 0;
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
    n->last_len = MIN(len, sizeof(n->last));
    memcpy(n->last, packet, n->last_len);
    if (ok && n->expect_family && !header_ok(n, p, len, seq))
        n->bad_headers++;
    if (ok && !n->seen[seq]) {
        n->seen[seq] = 1;
        n->received++;
    } else if (ok) {
        n->dups++;
    } else {
        n->corrupt++;
    }
    g_cond_broadcast(&n->cond);
    g_mutex_unlock(&n->lock);
}

size_t build_packet(guint8 *buf, int family, const char *src, const char *dst, guint32 seq, size_t len)
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

void node_init(node *n, const char *name, const char *a4, const char *a6, const char *extra_key,
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
    /* Traffic stays on loopback: libnice skips it unless told (a test that
     * names its own ICE addresses passes them as the extra option). */
    if (!extra_key || strcmp(extra_key, "ice.local-address") != 0)
        g_assert_cmpint(ipop_network_set_option(n->net, "ice.local-address", "127.0.0.1"), ==, 0);
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

void node_clear(node *n)
{
    n->net = ipop_network_free(n->net);
    g_free(n->seen);
    g_ptr_array_unref(n->held);
    g_mutex_clear(&n->lock);
    g_cond_clear(&n->cond);
}

void pair_start(node *a, node *b)
{
    a->peer = b;
    b->peer = a;
    g_assert_cmpint(ipop_network_start(a->net), ==, 0);
    g_assert_cmpint(ipop_network_start(b->net), ==, 0);
    g_assert_nonnull(ipop_network_get_node_id(a->net));
    g_assert_cmpstr(ipop_network_get_node_id(a->net), !=, ipop_network_get_node_id(b->net));
}

/* Waits until the node's last link event has `state`; false after timeout. */
bool wait_state(node *n, int state, int seconds)
{
    gint64 end = g_get_monotonic_time() + (gint64)seconds * test_time_factor() * G_USEC_PER_SEC;
    bool ok;

    g_mutex_lock(&n->lock);
    while (n->state != state && g_cond_wait_until(&n->cond, &n->lock, end))
        ;
    ok = n->state == state;
    g_mutex_unlock(&n->lock);
    return ok;
}

void connect_pair(node *a, node *b)
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
 * every one arrived intact, once, with the header it was sent with. */
void blast(node *from, node *to, int family, size_t len)
{
    guint8 buf[IPOP_MAX_PACKET];
    const char *src = family == AF_INET ? from->addr4 : from->addr6;
    const char *dst = family == AF_INET ? to->addr4 : to->addr6;
    gint64 end;

    g_mutex_lock(&to->lock);
    to->received = 0;
    to->corrupt = 0;
    to->dups = 0;
    to->bad_headers = 0;
    to->expect_family = family;
    to->expect_src = src;
    to->expect_dst = dst;
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
        end = g_get_monotonic_time() + 10 * test_time_factor() * G_USEC_PER_SEC;
        g_mutex_lock(&to->lock);
        while (seq + 1 - to->received > (to->window ? to->window : WINDOW) && g_cond_wait_until(&to->cond, &to->lock, end))
            ;
        g_mutex_unlock(&to->lock);
    }
    end = g_get_monotonic_time() + 10 * test_time_factor() * G_USEC_PER_SEC;
    g_mutex_lock(&to->lock);
    while (to->received < N_PACKETS && g_cond_wait_until(&to->cond, &to->lock, end))
        ;
    g_mutex_unlock(&to->lock);
    /* and whatever copy was still on its way */
    g_usleep(20000 * test_time_factor());
    g_mutex_lock(&to->lock);
    to->expect_family = 0;
    g_assert_cmpuint(to->corrupt, ==, 0);
    g_assert_cmpuint(to->bad_headers, ==, 0);
    g_assert_cmpuint(to->dups, ==, 0);
    g_assert_cmpuint(to->received, ==, N_PACKETS);
    g_mutex_unlock(&to->lock);
}

void set_mute(node *n, bool mute)
{
    g_mutex_lock(&n->lock);
    n->mute = mute;
    g_mutex_unlock(&n->lock);
}

/* Delivers what n held back, in order. */
void release_held(node *n)
{
    for (guint i = 0; i < n->held->len; i++)
        ipop_network_signal_receive(n->peer->net, ipop_network_get_node_id(n->net), n->held->pdata[i]);
    g_ptr_array_set_size(n->held, 0);
}

gboolean stall_loop(gpointer data)
{
    g_usleep(GPOINTER_TO_UINT(data) * (gulong)1000);
    return G_SOURCE_REMOVE;
}

bool path_lost_seen(void *data)
{
    node *n = data;
    bool r;

    g_mutex_lock(&n->lock);
    r = n->state_reasons & (1u << IPOP_REASON_PATH_LOST);
    g_mutex_unlock(&n->lock);
    return r;
}
