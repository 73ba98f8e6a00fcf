/* SPDX-License-Identifier: MIT */
/* What an idle link costs, and how fast a link that carries traffic notices
 * a dead path (doc/scale.md, "Idle links"): two networks in one process over
 * loopback, their datagrams counted where the peer reads them (the direct
 * path reads every datagram on the selected pair: ours and libnice's). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "direct.h"
#include "link.h"
#include "network.h"
#include "pair.h"
#include "testutil.h"

/* The idle window: the minute, shortened only by hand
 * (IPOP_TEST_IDLE_S) when trying things out. */
static int idle_seconds(void)
{
    const char *e = getenv("IPOP_TEST_IDLE_S");
    int s = e ? atoi(e) : 0;

    return s > 0 ? s : 60;
}

static bool direct_on(void *data)
{
    ipop_link_t *l = data;

    return *(volatile bool *)&l->ice.ready && *(volatile int *)&l->direct.fd >= 0 && *(volatile bool *)&l->dtls.rec_on;
}

static ipop_link_t *wait_direct(node *a, node *b)
{
    ipop_link_t *la = ipop_network_get_link(a->net, ipop_network_get_node_id(b->net));

    g_assert_true(test_wait(direct_on, la, 5000));
    return la;
}

typedef struct counts {
    guint64 dtls, stun, other, bytes;
} counts;

static counts read_counts(ipop_link_t *l)
{
    return (counts){ __atomic_load_n(&l->direct.rx_dtls, __ATOMIC_RELAXED),
                     __atomic_load_n(&l->direct.rx_stun, __ATOMIC_RELAXED),
                     __atomic_load_n(&l->direct.rx_other, __ATOMIC_RELAXED),
                     __atomic_load_n(&l->direct.rx_bytes, __ATOMIC_RELAXED) };
}

/* An idle link sends at most one small datagram every 25 s each way: over
 * a minute at most 3 each way.  They are libnice's keepalives (a STUN
 * binding indication on the selected pair every 25 s; no consent checks in
 * our configuration): the link adds none of its own.  The documented
 * exception (doc/scale.md) is rekeying, one PROPOSE and one ACK per
 * link.rekey-interval (600 s by default), not within this minute.  The
 * link still works after it. */
static void test_idle_datagrams(void)
{
    node a, b;
    ipop_link_t *la, *lb;
    counts a0, b0, a1, b1;
    int secs = idle_seconds();
    guint64 max = (guint64)secs / 25 + 1; /* one each 25 s: 3 in any minute */

    node_init(&a, "a", "10.41.0.1", NULL, NULL, NULL);
    node_init(&b, "b", "10.41.0.2", NULL, NULL, NULL);
    pair_start(&a, &b);
    connect_pair(&a, &b);
    la = wait_direct(&a, &b);
    lb = wait_direct(&b, &a);
    blast(&a, &b, AF_INET, 300);
    blast(&b, &a, AF_INET, 300);
    /* what traffic leaves behind (the last probes and their answers) settles */
    g_usleep(3 * G_USEC_PER_SEC);
    a0 = read_counts(la);
    b0 = read_counts(lb);
    g_usleep((gulong)secs * G_USEC_PER_SEC);
    a1 = read_counts(la);
    b1 = read_counts(lb);
    g_test_message("idle %d s: b to a %" G_GUINT64_FORMAT " DTLS + %" G_GUINT64_FORMAT " STUN + %" G_GUINT64_FORMAT
                   " other; a to b %" G_GUINT64_FORMAT " DTLS + %" G_GUINT64_FORMAT " STUN + %" G_GUINT64_FORMAT " other",
                   secs, a1.dtls - a0.dtls, a1.stun - a0.stun, a1.other - a0.other, b1.dtls - b0.dtls,
                   b1.stun - b0.stun, b1.other - b0.other);
    g_test_message("idle %d s: b to a %" G_GUINT64_FORMAT " bytes of UDP payload, a to b %" G_GUINT64_FORMAT, secs,
                   a1.bytes - a0.bytes, b1.bytes - b0.bytes);
    g_assert_cmpuint(a1.dtls + a1.stun + a1.other - a0.dtls - a0.stun - a0.other, <=, max);
    g_assert_cmpuint(b1.dtls + b1.stun + b1.other - b0.dtls - b0.stun - b0.other, <=, max);
    /* and a NAT binding would still be held: something went each way */
    if (secs >= 30) {
        g_assert_cmpuint(a1.dtls + a1.stun - a0.dtls - a0.stun, >=, 1);
        g_assert_cmpuint(b1.dtls + b1.stun - b0.dtls - b0.stun, >=, 1);
    }
    g_assert_cmpint(ipop_link_get_state(la), ==, IPOP_LINK_CONNECTED);
    g_assert_cmpint(ipop_link_get_state(lb), ==, IPOP_LINK_CONNECTED);
    g_assert_cmpuint(a.failures + b.failures, ==, 0);
    blast(&a, &b, AF_INET, 300);
    node_clear(&a);
    node_clear(&b);
}

/* The peer goes silent (its loop hangs: nothing it reads is answered).
 * While a has nothing to send it does not care (an idle link costs
 * nothing); the first packet it sends starts probing, and the path counts
 * as lost within 3 s of that send.  Once b is back the link comes up again
 * and carries traffic. */
static void test_silent_peer(void)
{
    node a, b;
    guint8 pkt[100];
    size_t len;
    gint64 t0, took_ms;

    node_init(&a, "a", "10.42.0.1", NULL, NULL, NULL);
    node_init(&b, "b", "10.42.0.2", NULL, NULL, NULL);
    pair_start(&a, &b);
    connect_pair(&a, &b);
    wait_direct(&a, &b);
    wait_direct(&b, &a);
    blast(&a, &b, AF_INET, 300);
    g_usleep(3 * G_USEC_PER_SEC); /* the link is idle */
    g_main_context_invoke(b.net->ctx, stall_loop, GUINT_TO_POINTER(9000));
    g_usleep(3 * G_USEC_PER_SEC);
    g_assert_false(path_lost_seen(&a)); /* idle: nothing to notice */
    len = build_packet(pkt, AF_INET, a.addr4, b.addr4, 1, sizeof(pkt));
    t0 = g_get_monotonic_time();
    g_assert_cmpint(ipop_network_send_packet(a.net, pkt, len), ==, 0);
    g_assert_true(test_wait(path_lost_seen, &a, 5000));
    took_ms = (g_get_monotonic_time() - t0) / 1000;
    g_test_message("path lost %" G_GINT64_FORMAT " ms after the first unanswered send", took_ms);
    /* a speed the issue asks for: not stretched by the time factor */
    g_assert_cmpint(took_ms, <=, 3000);
    g_assert_cmpint(took_ms, >=, 1000); /* not at the first silence */
    g_assert_true(wait_state(&a, IPOP_LINK_CONNECTED, 20));
    g_assert_true(wait_state(&b, IPOP_LINK_CONNECTED, 20));
    blast(&a, &b, AF_INET, 300);
    blast(&b, &a, AF_INET, 300);
    node_clear(&a);
    node_clear(&b);
}

static guint held_offers(node *n)
{
    guint k = 0;

    g_mutex_lock(&n->lock);
    for (guint i = 0; i < n->held->len; i++)
        if (g_str_has_prefix(n->held->pdata[i], "ipop2 offer "))
            k++;
    g_mutex_unlock(&n->lock);
    return k;
}

/* An offer nobody answers is sent again after 2 s, then after 4, 8 and
 * 16 s (each up to a quarter longer): 4 offers in 20 s (there were 10). */
static void test_offer_backoff(void)
{
    node a, b;
    guint n;

    node_init(&a, "a", "10.43.0.1", NULL, NULL, NULL);
    node_init(&b, "b", "10.43.0.2", NULL, NULL, NULL);
    pair_start(&a, &b);
    set_mute(&a, true);
    g_assert_cmpint(ipop_network_connect(a.net, ipop_network_get_node_id(b.net), NULL), ==, 0);
    g_usleep(20 * G_USEC_PER_SEC);
    n = held_offers(&a);
    g_test_message("%u offers in 20 s", n);
    g_assert_cmpuint(n, >=, 3); /* 0, 2-2.5, 6-7.5 s */
    g_assert_cmpuint(n, <=, 4); /* and 14-17.5 s */
    node_clear(&a);
    node_clear(&b);
}

/* A node opening 40 links at once (its signalling paced as over XMPP):
 * its offers leave at the pace, a burst
 * of 16000 bytes (10 offers of 1500) and then 2400 bytes a second (an offer
 * every 0.625 s): repeats of unanswered offers wait their turn too. */
static void test_offer_pace(void)
{
    node a, b;
    guint early, later;
    char id[53];

    ipop__link_pace_all = true; /* as if over XMPP */
    node_init(&a, "a", "10.44.0.1", NULL, NULL, NULL);
    node_init(&b, "b", "10.44.0.2", NULL, NULL, NULL);
    pair_start(&a, &b);
    set_mute(&a, true);
    for (int i = 0; i < 40; i++) {
        /* node ids of nobody: their offers only go out */
        for (int j = 0; j < 52; j++)
            id[j] = "abcdefghijklmnopqrstuvwxyz234567"[(i * 7 + j * 3 + (j == 0 ? i : 0)) % 32];
        id[52] = '\0';
        g_assert_cmpint(ipop_network_connect(a.net, id, NULL), ==, 0);
    }
    g_usleep(G_USEC_PER_SEC);
    early = held_offers(&a);
    g_usleep(4 * G_USEC_PER_SEC);
    later = held_offers(&a);
    g_test_message("offers out: %u after 1 s, %u after 5 s", early, later);
    /* 10 at once, and one every 0.625 s, repeats of the first included */
    g_assert_cmpuint(early, >=, 10);
    g_assert_cmpuint(early, <=, 12);
    g_assert_cmpuint(later, >=, 16);
    g_assert_cmpuint(later, <=, 19);
    ipop__link_pace_all = false;
    node_clear(&a);
    node_clear(&b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/idle/offer-backoff", test_offer_backoff);
    g_test_add_func("/idle/offer-pace", test_offer_pace);
    g_test_add_func("/idle/datagrams", test_idle_datagrams);
    g_test_add_func("/idle/silent-peer", test_silent_peer);
    return g_test_run();
}
