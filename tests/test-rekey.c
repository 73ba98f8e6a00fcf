/* SPDX-License-Identifier: MIT */
/* Rekeying a link's records (lib/dtls.c, doc/protocol.md "Rekeying"), two
 * networks in one process over loopback through the real ICE and DTLS
 * stack: keys renewed under traffic both ways lose and reorder nothing;
 * the record limit renews them too; a peer that never answers gets a new
 * session, reported; sequence numbers run on across generations; and
 * GnuTLS's retransmitted handshake flight, after record.c took over, never
 * reuses a sequence number (the hand-over in recv_locked()). */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "bytes.h"
#include "link.h"
#include "loop.h" /* ipop__net_call() */
#include "network.h"
#include "pair.h"
#include "testutil.h"

/* ---- a stream of numbered packets one way, checked in order ---- */

typedef struct flow {
    GMutex lock;
    GCond cond;
    guint32 next;     /* the number the next packet must carry */
    guint32 disorder; /* packets that came out of order, or again */
    guint32 corrupt;
} flow;

static void on_flow_packet(ipop_network_t *net, const void *packet, size_t len, void *ud)
{
    flow *f = ud;
    const guint8 *p = packet;
    guint32 seq;
    bool ok = len > 24;

    if (ok) {
        memcpy(&seq, p + 20, 4);
        for (size_t i = 24; ok && i < len; i++)
            ok = p[i] == (guint8)(seq * 7 + i);
    }
    g_mutex_lock(&f->lock);
    if (!ok)
        f->corrupt++;
    else if (seq != f->next)
        f->disorder++;
    if (ok)
        f->next = MAX(f->next, seq + 1);
    g_cond_broadcast(&f->cond);
    g_mutex_unlock(&f->lock);
}

typedef struct sender {
    node *from, *to;
    flow *rx;          /* the receiving side's flow */
    gint stop;
    guint32 sent;
} sender;

/* Sends numbered packets (sizes 64..IPOP_DEFAULT_MTU) until told to stop, at most 64
 * in flight: a lost packet stalls it (and the test fails). */
static gpointer send_stream(gpointer data)
{
    sender *s = data;
    guint8 buf[IPOP_MAX_PACKET];

    while (!g_atomic_int_get(&s->stop)) {
        size_t len = 64 + s->sent * 37 % (IPOP_DEFAULT_MTU - 64);
        gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
        int r;

        build_packet(buf, AF_INET, s->from->addr4, s->to->addr4, s->sent, len);
        while ((r = ipop_network_send_packet(s->from->net, buf, len)) == -ENOBUFS)
            g_usleep(100);
        g_assert_cmpint(r, ==, 0);
        s->sent++;
        g_mutex_lock(&s->rx->lock);
        while (s->sent - s->rx->next > 64 && g_cond_wait_until(&s->rx->cond, &s->rx->lock, end))
            ;
        g_mutex_unlock(&s->rx->lock);
    }
    return NULL;
}

/* ---- helpers ---- */

static ipop_link_t *wait_direct(node *a, node *b)
{
    ipop_link_t *la = ipop_network_get_link(a->net, ipop_network_get_node_id(b->net));

    for (int i = 0; i < 500 && !*(volatile bool *)&la->ice.ready; i++)
        g_usleep(10000);
    g_assert_true(la->ice.ready);
    g_usleep(50000); /* ipop__direct_update() runs right after, in the loop */
    g_assert_cmpint(la->direct.fd, >=, 0);
    g_assert_true(la->dtls.rec_on);
    return la;
}

static guint64 rekeys(ipop_link_t *l)
{
    return __atomic_load_n(&l->dtls.rekey.done, __ATOMIC_RELAXED);
}

static guint64 tx_drops(ipop_link_t *l)
{
    ipop_link_stats_t st = { .size = sizeof(st) };

    g_assert_cmpint(ipop_link_get_stats(l, &st), ==, 0);
    return st.tx_drops;
}

/* The sending key's epoch and next sequence number, under the send lock. */
static void tx_state(ipop_link_t *l, uint16_t *epoch, uint64_t *seq)
{
    g_mutex_lock(&l->tx_lock);
    *epoch = l->dtls.rec_tx.epoch;
    *seq = l->dtls.rec_tx.seq;
    g_mutex_unlock(&l->tx_lock);
}

static void pair_up(node *a, node *b, const char *a4, const char *b4, const char *key, const char *val)
{
    node_init(a, "a", a4, NULL, key, val);
    node_init(b, "b", b4, NULL, key, val);
    pair_start(a, b);
    connect_pair(a, b);
}

/* ---- under traffic ---- */

/* Keys renewed every second under a stream each way: after several
 * generations on both links, every packet arrived, in order, none was
 * dropped for want of a key, the session stayed the same, and the
 * sending sequence numbers only ever went up (a nonce is never reused:
 * the epoch moves with the key, the sequence runs on). */
static void test_under_traffic(void)
{
    node a, b;
    ipop_link_t *la, *lb;
    flow fa = { 0 }, fb = { 0 };
    sender ab = { &a, &b, &fb, 0, 0 }, ba = { &b, &a, &fa, 0, 0 };
    GThread *t1, *t2;
    uint16_t last_epoch = 0;
    uint64_t last_seq = 0;
    guint switches = 0;
    gint64 end;

    g_mutex_init(&fa.lock);
    g_cond_init(&fa.cond);
    g_mutex_init(&fb.lock);
    g_cond_init(&fb.cond);
    node_init(&a, "a", "10.41.0.1", NULL, "link.rekey-interval", "1");
    node_init(&b, "b", "10.41.0.2", NULL, "link.rekey-interval", "1");
    g_assert_cmpint(ipop_network_set_packet_cb(a.net, on_flow_packet, &fa), ==, 0);
    g_assert_cmpint(ipop_network_set_packet_cb(b.net, on_flow_packet, &fb), ==, 0);
    pair_start(&a, &b);
    connect_pair(&a, &b);
    la = wait_direct(&a, &b);
    lb = wait_direct(&b, &a);
    g_assert_cmpuint(rekeys(la), ==, 0);

    t1 = g_thread_new("a-to-b", send_stream, &ab);
    t2 = g_thread_new("b-to-a", send_stream, &ba);
    end = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    while ((rekeys(la) < 4 || rekeys(lb) < 4) && g_get_monotonic_time() < end) {
        uint16_t epoch;
        uint64_t seq;

        tx_state(la, &epoch, &seq);
        g_assert_cmpuint(epoch, >=, last_epoch);
        g_assert_cmpuint(seq, >=, last_seq);
        switches += epoch != last_epoch;
        last_epoch = epoch;
        last_seq = seq;
        g_usleep(1000);
    }
    g_atomic_int_set(&ab.stop, 1);
    g_atomic_int_set(&ba.stop, 1);
    g_thread_join(t1);
    g_thread_join(t2);
    g_test_message("a->b %u packets, b->a %u, generations %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT, ab.sent, ba.sent,
                   rekeys(la), rekeys(lb));
    g_assert_cmpuint(rekeys(la), >=, 4);
    g_assert_cmpuint(rekeys(lb), >=, 4);
    g_assert_cmpuint(switches, >=, 3);
    /* everything sent arrived, in order, intact */
    end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    g_mutex_lock(&fb.lock);
    while (fb.next < ab.sent && g_cond_wait_until(&fb.cond, &fb.lock, end))
        ;
    g_assert_cmpuint(fb.next, ==, ab.sent);
    g_assert_cmpuint(fb.disorder, ==, 0);
    g_assert_cmpuint(fb.corrupt, ==, 0);
    g_mutex_unlock(&fb.lock);
    g_mutex_lock(&fa.lock);
    while (fa.next < ba.sent && g_cond_wait_until(&fa.cond, &fa.lock, end))
        ;
    g_assert_cmpuint(fa.next, ==, ba.sent);
    g_assert_cmpuint(fa.disorder, ==, 0);
    g_assert_cmpuint(fa.corrupt, ==, 0);
    g_mutex_unlock(&fa.lock);
    g_assert_cmpuint(ab.sent, >, 1000);
    g_assert_cmpuint(ba.sent, >, 1000);
    g_assert_cmpuint(tx_drops(la), ==, 0);
    g_assert_cmpuint(tx_drops(lb), ==, 0);
    /* one session throughout: no restart, no failure */
    g_assert_cmpuint(a.state_reasons & (1u << IPOP_REASON_REKEY_FAILED), ==, 0);
    g_assert_cmpuint(b.state_reasons & (1u << IPOP_REASON_REKEY_FAILED), ==, 0);
    g_assert_cmpint(ipop_link_get_state(la), ==, IPOP_LINK_CONNECTED);
    g_assert_cmpuint(a.failures + b.failures, ==, 0);
    node_clear(&a);
    node_clear(&b);
    g_mutex_clear(&fa.lock);
    g_cond_clear(&fa.cond);
    g_mutex_clear(&fb.lock);
    g_cond_clear(&fb.cond);
}

/* ---- the record limit ---- */

/* With a key good for 400 records (the test knob; 2^31 by default), a
 * blast of 10,000 packets each way renews the keys many times, and loses
 * nothing: the proposal goes out at once, not at the next tick.  A key
 * that reaches the hard limit (800) refuses sends with -ENOBUFS until the
 * renewal ends; blast() tries again, as a host would.  A proposal that
 * waited for the 1-s tick would let every generation reach it; at once,
 * only a round trip slower than 400 records does (seen under ASan on a
 * loaded machine), so at most half the generations may. */
static void test_record_limit(void)
{
    node a, b;
    ipop_link_t *la, *lb;
    uint64_t saved = ipop__dtls_rekey_records;

    ipop__dtls_rekey_records = 400;
    pair_up(&a, &b, "10.42.0.1", "10.42.0.2", NULL, NULL);
    la = wait_direct(&a, &b);
    lb = wait_direct(&b, &a);
    blast(&a, &b, AF_INET, 0);
    blast(&b, &a, AF_INET, 300);
    g_test_message("generations: a %" G_GUINT64_FORMAT ", b %" G_GUINT64_FORMAT, rekeys(la), rekeys(lb));
    /* each blast sealed >= 10,000 records on one side: >= 20 generations */
    g_assert_cmpuint(rekeys(la), >=, 20);
    g_assert_cmpuint(rekeys(lb), >=, 20);
    g_test_message("generations at the hard limit: a %" G_GUINT64_FORMAT ", b %" G_GUINT64_FORMAT,
                   la->dtls.rekey.hard_hits, lb->dtls.rekey.hard_hits);
    g_assert_cmpuint(la->dtls.rekey.hard_hits * 2, <=, rekeys(la));
    g_assert_cmpuint(lb->dtls.rekey.hard_hits * 2, <=, rekeys(lb));
    {
        uint16_t epoch;
        uint64_t seq;
        tx_state(la, &epoch, &seq);
        g_assert_cmpuint(seq - la->dtls.rekey.tx_gen_seq, <, 800 + 256); /* data below 800, control frames may go on */
        g_assert_cmpuint(epoch, ==, la->dtls.rekey.tls_epoch + la->dtls.rekey.tx_gen);
    }
    g_assert_cmpuint(a.state_reasons & (1u << IPOP_REASON_REKEY_FAILED), ==, 0);
    g_assert_cmpuint(a.failures + b.failures, ==, 0);
    node_clear(&a);
    node_clear(&b);
    ipop__dtls_rekey_records = saved;
}

/* ---- a peer that never answers ---- */

static void mute(ipop_network_t *net, void *data)
{
    ((ipop_link_t *)data)->dtls.rekey.test_mute = true;
}

/* b never answers a rekey (nor proposes one).  a proposes after a second,
 * keeps sealing with the old key and carries traffic meanwhile; once the
 * bound passes (interval + 5 s), a starts a new session, reported as
 * rekey-failed, and the link carries traffic again. */
static void test_peer_silent(void)
{
    node a, b;
    ipop_link_t *la, *lb;
    gint64 t0;

    node_init(&a, "a", "10.43.0.1", NULL, "link.rekey-interval", "1");
    node_init(&b, "b", "10.43.0.2", NULL, NULL, NULL);
    pair_start(&a, &b);
    connect_pair(&a, &b);
    t0 = g_get_monotonic_time();
    la = wait_direct(&a, &b);
    lb = wait_direct(&b, &a);
    ipop__net_call(b.net, mute, lb);

    /* 2.5 s on: proposed, unanswered, still on generation 0 and working */
    g_usleep(2500000);
    g_assert_cmpuint(la->dtls.rekey.pending, ==, 1);
    g_assert_cmpuint(rekeys(la), ==, 0);
    blast(&a, &b, AF_INET, 300);
    blast(&b, &a, AF_INET, 300);
    g_mutex_lock(&a.lock);
    g_assert_cmpuint(a.state_reasons & (1u << IPOP_REASON_REKEY_FAILED), ==, 0);
    g_mutex_unlock(&a.lock);

    /* then a new session, reported */
    {
        gint64 end = g_get_monotonic_time() + 15 * G_USEC_PER_SEC;
        g_mutex_lock(&a.lock);
        while (!(a.state_reasons & (1u << IPOP_REASON_REKEY_FAILED)) && g_cond_wait_until(&a.cond, &a.lock, end))
            ;
        g_assert_true(a.state_reasons & (1u << IPOP_REASON_REKEY_FAILED));
        g_mutex_unlock(&a.lock);
    }
    g_test_message("new session after %.1f s", (g_get_monotonic_time() - t0) / 1e6);
    g_assert_cmpint(g_get_monotonic_time() - t0, >=, 5 * G_USEC_PER_SEC);
    g_assert_true(wait_state(&a, IPOP_LINK_CONNECTED, 15));
    g_assert_true(wait_state(&b, IPOP_LINK_CONNECTED, 15));
    blast(&a, &b, AF_INET, 300);
    blast(&b, &a, AF_INET, 300);
    g_assert_cmpuint(a.failures + b.failures, ==, 0);
    node_clear(&a);
    node_clear(&b);
}

/* ---- the hard limit ---- */

/* b never answers, so a's key reaches its hard limit (twice the test's 400
 * records): the next send is refused with -ENOBUFS, which tells a host to
 * try again (not -EIO, which reads as fatal), and no record is sealed past
 * the limit. */
static void test_hard_limit(void)
{
    node a, b;
    ipop_link_t *la, *lb;
    guint8 buf[IPOP_MAX_PACKET];
    uint64_t saved = ipop__dtls_rekey_records, seq;
    uint16_t epoch;
    int r = 0, sent = 0;

    ipop__dtls_rekey_records = 400;
    pair_up(&a, &b, "10.44.0.1", "10.44.0.2", NULL, NULL);
    la = wait_direct(&a, &b);
    lb = wait_direct(&b, &a);
    ipop__net_call(b.net, mute, lb);
    build_packet(buf, AF_INET, a.addr4, b.addr4, 0, 200);
    while (sent < 2000 && (r = ipop_network_send_packet(a.net, buf, 200)) == 0)
        sent++;
    g_test_message("%d packets sealed before the refusal", sent);
    g_assert_cmpint(r, ==, -ENOBUFS);
    g_assert_cmpint(sent, <, 800);
    g_assert_cmpuint(la->dtls.rekey.hard_hits, ==, 1);
    tx_state(la, &epoch, &seq);
    /* data stopped at 800; a ping or the PROPOSE sent again may follow
     * (the control frames' reserve of 256) */
    g_assert_cmpuint(seq - la->dtls.rekey.tx_gen_seq, >=, 800);
    g_assert_cmpuint(seq - la->dtls.rekey.tx_gen_seq, <, 800 + 256);
    g_assert_cmpint(ipop_network_send_packet(a.net, buf, 200), ==, -ENOBUFS);
    node_clear(&a);
    node_clear(&b);
    ipop__dtls_rekey_records = saved;
}

static void unmute(ipop_network_t *net, void *data)
{
    ((ipop_link_t *)data)->dtls.rekey.test_mute = false;
}

/* A renewal answered late, after the key reached its hard limit (a loaded
 * host): sends are refused meanwhile, then the new key carries them, in
 * the same session (CI's ASan run on a loaded machine saw the session
 * ended at the first tick after the hard limit instead). */
static void test_slow_answer(void)
{
    node a, b;
    ipop_link_t *la, *lb;
    guint8 buf[IPOP_MAX_PACKET];
    uint64_t saved = ipop__dtls_rekey_records;
    gint64 end;
    int r = 0;

    ipop__dtls_rekey_records = 400;
    pair_up(&a, &b, "10.45.0.1", "10.45.0.2", NULL, NULL);
    la = wait_direct(&a, &b);
    lb = wait_direct(&b, &a);
    ipop__net_call(b.net, mute, lb);
    build_packet(buf, AF_INET, a.addr4, b.addr4, 0, 200);
    while ((r = ipop_network_send_packet(a.net, buf, 200)) == 0)
        ;
    g_assert_cmpint(r, ==, -ENOBUFS);
    g_usleep(1200000); /* a tick at the hard limit (b hears nothing: under 2.5 s, not path-lost) */
    ipop__net_call(b.net, unmute, lb);
    end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while ((r = ipop_network_send_packet(a.net, buf, 200)) == -ENOBUFS && g_get_monotonic_time() < end)
        g_usleep(10000);
    g_assert_cmpint(r, ==, 0);
    g_assert_cmpuint(rekeys(la), >=, 1);
    g_mutex_lock(&a.lock);
    g_assert_cmpuint(a.state_reasons & (1u << IPOP_REASON_REKEY_FAILED), ==, 0);
    g_mutex_unlock(&a.lock);
    g_assert_true(ipop_network_get_link(a.net, ipop_network_get_node_id(b.net)) == la);
    g_usleep(200000); /* our packet numbered 0 arrives before blast() numbers its own from 0 */
    blast(&a, &b, AF_INET, 300);
    g_assert_cmpuint(a.failures + b.failures, ==, 0);
    node_clear(&a);
    node_clear(&b);
    ipop__dtls_rekey_records = saved;
}

/* ---- GnuTLS's retransmitted flight after the hand-over ---- */

typedef struct inject {
    ipop_link_t *link;
    const uint8_t *buf;
    size_t len;
} inject;

static void do_inject(ipop_network_t *net, void *data)
{
    inject *in = data;
    ipop__dtls_rx(in->link, in->buf, in->len);
}

/* A record of the client's last handshake flight as its retransmission
 * looks: its Finished, sealed by the client's GnuTLS (epoch 1, the
 * handshake's keys) with the client's next sequence number.  A DTLS server
 * that gets it after the handshake sends its own last flight
 * (ChangeCipherSpec, Finished) again: the client says it was lost. */
static size_t client_finished_again(ipop_link_t *client, uint8_t *rec, size_t cap)
{
    gnutls_datum_t mac, iv, key;
    gnutls_aead_cipher_hd_t aead;
    uint8_t seq[8], nonce[12], aad[13], fin[12 + 12];
    size_t ct_len = sizeof(fin) + 16;

    g_assert_cmpuint(cap, >=, 13 + 8 + ct_len);
    g_mutex_lock(&client->tx_lock);
    g_assert_cmpint(gnutls_record_get_state(client->dtls.tls, 0, &mac, &iv, &key, seq), ==, 0);
    ipop__put48(seq + 2, client->dtls.rec_tx.seq++); /* the client's GnuTLS would take the next */
    g_assert_cmpint(gnutls_aead_cipher_init(&aead, gnutls_cipher_get(client->dtls.tls), &key), ==, 0);
    g_mutex_unlock(&client->tx_lock);

    memset(fin, 0x5a, sizeof(fin));
    fin[0] = 20; /* finished */
    fin[1] = 0, fin[2] = 0, fin[3] = 12;
    ipop__put16(fin + 4, 5); /* message_seq */
    memset(fin + 6, 0, 3);   /* fragment offset */
    fin[9] = 0, fin[10] = 0, fin[11] = 12;
    rec[0] = 22; /* handshake */
    rec[1] = 254;
    rec[2] = 253;
    memcpy(rec + 3, seq, 8);
    ipop__put16(rec + 11, (uint16_t)(8 + ct_len));
    memcpy(rec + 13, seq, 8); /* explicit nonce */
    memcpy(nonce, iv.data, 4);
    memcpy(nonce + 4, seq, 8);
    memcpy(aad, seq, 8);
    memcpy(aad + 8, rec, 3);
    ipop__put16(aad + 11, sizeof(fin));
    g_assert_cmpint(gnutls_aead_cipher_encrypt(aead, nonce, sizeof(nonce), aad, sizeof(aad), 16, fin, sizeof(fin),
                                               rec + 21, &ct_len), ==, 0);
    gnutls_aead_cipher_deinit(aead);
    return 21 + ct_len;
}

/* Points the server's direct path at `to` (returns what it was) and
 * gives record.c's next sequence number. */
static uint64_t redirect(ipop_link_t *server, struct sockaddr_storage *to, socklen_t *to_len)
{
    struct sockaddr_storage old;
    socklen_t old_len;
    uint64_t seq;

    g_mutex_lock(&server->tx_lock);
    old = server->direct.to;
    old_len = server->direct.to_len;
    server->direct.to = *to;
    server->direct.to_len = *to_len;
    seq = server->dtls.rec_tx.seq;
    g_mutex_unlock(&server->tx_lock);
    *to = old;
    *to_len = old_len;
    return seq;
}

/* The Finished the server sent again, among the records of one datagram:
 * its sequence number, or -1. */
static int64_t finished_in(ipop_link_t *server, const uint8_t *dgram, size_t n)
{
    int64_t seq = -1;

    for (size_t at = 0; at < n;) {
        int rl = ipop__rec_next(dgram + at, n - at);
        g_assert_cmpint(rl, >, 0);
        if (dgram[at] == 22 && ipop__get16(dgram + at + 3) != 0) {
            /* encrypted: the Finished, sealed with the handshake's keys */
            g_assert_cmpuint(ipop__get16(dgram + at + 3), ==, server->dtls.rekey.tls_epoch);
            g_assert_cmpint(rl, >=, 13 + 8);
            /* GnuTLS's explicit nonce for AES-GCM is the record's epoch
             * and sequence number, as record.c's is */
            g_assert_cmpmem(dgram + at + 13, 8, dgram + at + 3, 8);
            seq = (int64_t)ipop__get48(dgram + at + 5);
        }
        at += (size_t)rl;
    }
    return seq;
}

/* The client's Finished comes again; the server's GnuTLS answers with its
 * last flight (ChangeCipherSpec, Finished), at most once per
 * retransmission timeout (250 ms, doubled by every retransmission of the
 * handshake), so the client's retransmission comes again until it does.
 * For each, the server's records go to a socket of the test's for the
 * moment GnuTLS takes to answer.  The Finished must carry a sequence
 * number record.c never used with that key, and record.c must carry on
 * after it. */
static void check_retransmitted_flight(ipop_link_t *server, ipop_link_t *client)
{
    struct sockaddr_in tap = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t tap_len = sizeof(tap);
    uint8_t rec[128], dgram[65536];
    uint16_t epoch;
    uint64_t before = 0, after;
    int64_t fin_seq = -1;
    inject in = { server, rec, 0 };
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&tap, sizeof(tap)), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&tap, &tap_len), ==, 0);
    for (int i = 0; i < 80 && fin_seq < 0; i++) {
        struct sockaddr_storage to;
        socklen_t to_len = tap_len;

        memcpy(&to, &tap, sizeof(tap));
        in.len = client_finished_again(client, rec, sizeof(rec));
        before = redirect(server, &to, &to_len);
        ipop__net_call(server->net, do_inject, &in); /* GnuTLS answers in there, or not */
        redirect(server, &to, &to_len);
        for (;;) {
            struct pollfd p = { fd, POLLIN, 0 };
            ssize_t n;
            if (poll(&p, 1, 0) <= 0)
                break;
            n = recv(fd, dgram, sizeof(dgram), 0);
            g_assert_cmpint(n, >, 0);
            fin_seq = MAX(fin_seq, finished_in(server, dgram, (size_t)n));
        }
        if (fin_seq < 0)
            g_usleep(250000);
    }
    close(fd);
    g_assert_cmpint(fin_seq, >=, 0);
    g_test_message("Finished again: seq %" G_GINT64_FORMAT ", record.c was at %" G_GUINT64_FORMAT, fin_seq, before);
    /* never a number record.c sealed with that key before */
    g_assert_cmpuint((uint64_t)fin_seq, >=, before);
    tx_state(server, &epoch, &after);
    g_assert_cmpuint(after, >, (uint64_t)fin_seq);
}

static void test_retransmitted_flight(void)
{
    node a, b;
    ipop_link_t *la, *lb, *server, *client;
    node *s, *c;

    pair_up(&a, &b, "10.44.0.1", "10.44.0.2", "link.rekey-interval", "1");
    la = wait_direct(&a, &b);
    lb = wait_direct(&b, &a);
    server = la->controlling ? lb : la;
    client = server == la ? lb : la;
    s = server == la ? &a : &b;
    c = s == &a ? &b : &a;
    /* record.c seals a few hundred records, then the flight comes again */
    blast(s, c, AF_INET, 300);
    check_retransmitted_flight(server, client);
    blast(s, c, AF_INET, 300);
    blast(c, s, AF_INET, 300);

    /* the same with later generations sealing (sequence numbers run on) */
    {
        gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        while (rekeys(server) < 2 && g_get_monotonic_time() < end)
            g_usleep(10000);
        g_assert_cmpuint(rekeys(server), >=, 2);
    }
    blast(s, c, AF_INET, 300);
    check_retransmitted_flight(server, client);
    blast(s, c, AF_INET, 300);
    blast(c, s, AF_INET, 300);
    g_assert_cmpuint(a.failures + b.failures, ==, 0);
    node_clear(&a);
    node_clear(&b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_log_to_stderr(IPOP_LOG_INFO);
    g_test_add_func("/rekey/retransmitted-flight", test_retransmitted_flight);
    g_test_add_func("/rekey/under-traffic", test_under_traffic);
    g_test_add_func("/rekey/record-limit", test_record_limit);
    g_test_add_func("/rekey/peer-silent", test_peer_silent);
    g_test_add_func("/rekey/hard-limit", test_hard_limit);
    g_test_add_func("/rekey/slow-answer", test_slow_answer);
    return g_test_run();
}
