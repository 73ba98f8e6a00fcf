/* SPDX-License-Identifier: MIT */
/* A link's DTLS transport (dtls.h): the GnuTLS session over the direct
 * path or the ICE component, and the records.  The smaller node id is the
 * client; each side pins the other's certificate to the fingerprint it
 * signalled and to its node id.  Once the handshake is done and the cipher
 * is AES-GCM, record.c seals and opens the application data. */
#include <errno.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/dtls.h>
#include <gnutls/x509.h>

#include "bytes.h"
#include "direct.h"
#include "frame.h"
#include "ice.h"
#include "identity.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "message.h"
#include "network.h"
#include "record.h"

#define PRIORITY "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:" \
                 "+CHACHA20-POLY1305:-KX-ALL:+ECDHE-ECDSA:-SIGN-ALL:+SIGN-ECDSA-SHA256:" \
                 "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1"

void ipop__dtls_init(ipop_link_t *link, const ipop__dtls_events *ev)
{
    link->dtls.ev = ev;
}

void ipop__dtls_clear(ipop_link_t *link)
{
    g_clear_pointer(&link->dtls.tx_batch, g_free);
}

/* ---- datagrams out ---- */

/* A DTLS server answers the client's first flight as soon as it arrives,
 * which can be before its own ICE side has selected a pair: libnice then
 * has nowhere to send, and the flight would be lost until the client's
 * retransmission (250 ms).  Such handshake datagrams are held, a few, and
 * sent once a pair is selected. */
#define EARLY_MAX 16

static bool hold_early(ipop_link_t *link, const void *data, size_t len)
{
    if (g_queue_get_length(&link->dtls.early) >= EARLY_MAX)
        return false;
    g_queue_push_tail(&link->dtls.early, g_bytes_new(data, len));
    return true;
}

void ipop__dtls_flush_early(ipop_link_t *link)
{
    GBytes *b;

    while (link->ice.agent && (b = g_queue_pop_head(&link->dtls.early))) {
        gsize len;
        const void *data = g_bytes_get_data(b, &len);
        if (ipop__ice_send(link, data, len) < 0)
            __atomic_fetch_add(&link->tx_drops, 1, __ATOMIC_RELAXED);
        g_bytes_unref(b);
    }
}

static void drop_early(ipop_link_t *link)
{
    g_queue_clear_full(&link->dtls.early, (GDestroyNotify)g_bytes_unref);
}

/* Sends the datagrams gathered by tls_push() during ipop__dtls_send_records():
 * on the direct path if there is one, else through libnice. */
static void flush_batch(ipop_link_t *link)
{
    struct ipop__dtls *d = &link->dtls;
    unsigned n = d->tx_batch_n, first;
    int sent;

    if (n == 0)
        return;
    first = ipop__direct_send_many(link, d->tx_batch, DTLS_MTU, d->tx_batch_len, n);
    d->tx_batch_n = 0;
    if (first == n)
        return;
    sent = ipop__ice_send_many(link, d->tx_batch + (size_t)first * DTLS_MTU, DTLS_MTU, d->tx_batch_len + first,
                               n - first);
    /* What the socket would not take is lost, as in tls_push(). */
    if (sent < (int)(n - first))
        __atomic_fetch_add(&link->tx_drops, (guint64)(n - first - (unsigned)MAX(sent, 0)), __ATOMIC_RELAXED);
}

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
    ipop_link_t *link = ptr;
    struct ipop__dtls *d = &link->dtls;
    int sent;

    if (d->tx_batching && len <= DTLS_MTU) {
        if (d->tx_batch_n == TX_BATCH_MAX)
            flush_batch(link);
        memcpy(d->tx_batch + (size_t)d->tx_batch_n * DTLS_MTU, data, len);
        d->tx_batch_len[d->tx_batch_n++] = len;
        return (ssize_t)len;
    }
    flush_batch(link); /* in order */
    if (ipop__direct_send(link, data, len))
        return (ssize_t)len;
    sent = ipop__ice_send(link, data, len);

    /* A datagram the socket would not take is lost, as UDP would lose it;
     * telling GnuTLS "again" would make it resend a stale record. */
    if (sent < 0 && !d->done && hold_early(link, data, len))
        return (ssize_t)len;
    if (sent < 0)
        __atomic_fetch_add(&link->tx_drops, 1, __ATOMIC_RELAXED);
    return (ssize_t)len;
}

/* rekeying, below */
static void rekey_start_locked(ipop_link_t *link);
static void rekey_stop_locked(ipop_link_t *link);
static bool rekey_tx_fresh_locked(ipop_link_t *link, bool control);
static int rekey_open(ipop_link_t *link, const uint8_t *rec, size_t len, uint8_t *out, size_t cap);

/* ---- the session ---- */

static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *data, size_t size)
{
    ipop_link_t *link = ptr;
    size_t n;

    if (!link->dtls.rx_data) {
        gnutls_transport_set_errno(link->dtls.tls, EAGAIN);
        return -1;
    }
    n = MIN(size, link->dtls.rx_len);
    memcpy(data, link->dtls.rx_data, n);
    link->dtls.rx_data = NULL;
    return (ssize_t)n;
}

static int tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned ms)
{
    ipop_link_t *link = ptr;
    return link->dtls.rx_data ? 1 : 0;
}

/* Pins the peer: its certificate must be the one its signalling named. */
static int tls_verify(gnutls_session_t tls)
{
    ipop_link_t *link = gnutls_session_get_ptr(tls);
    const gnutls_datum_t *certs;
    unsigned n = 0;
    uint8_t fp[32];
    char id[IPOP__NODE_ID_LEN + 1];

    if (!link)
        return GNUTLS_E_CERTIFICATE_ERROR;
    certs = gnutls_certificate_get_peers(tls, &n);
    if (!certs || n < 1 || ipop__cert_fingerprint(&certs[0], fp) < 0) {
        link->dtls.fail = IPOP_REASON_DTLS_FAILED;
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    if (memcmp(fp, link->dtls.remote_fp, sizeof(fp)) != 0) {
        link->dtls.fail = IPOP_REASON_FINGERPRINT_MISMATCH;
        ipop__warn(link->net, "peer %s presented a certificate that is not the signalled one",
                   ipop__link_tag(link->peer_id));
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    /* The node id is the hash of the key: a signalled fingerprint of some
     * other key cannot stand in for a node id. */
    if (ipop__cert_node_id(&certs[0], id) < 0 || strcmp(id, link->peer_id) != 0) {
        link->dtls.fail = IPOP_REASON_FINGERPRINT_MISMATCH;
        ipop__warn(link->net, "peer %s presented a certificate whose key is not its node id's",
                   ipop__link_tag(link->peer_id));
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    return 0;
}

void ipop__dtls_set_verify(gnutls_certificate_credentials_t cred)
{
    gnutls_certificate_set_verify_function(cred, tls_verify);
}

/* The priority string, parsed once per process (8 KiB a session otherwise;
 * kept until exit, like GnuTLS's own global state). */
static gnutls_priority_t link_priority(void)
{
    static gsize once;
    static gnutls_priority_t prio;

    if (g_once_init_enter(&once)) {
        if (gnutls_priority_init(&prio, PRIORITY, NULL) < 0)
            prio = NULL;
        g_once_init_leave(&once, 1);
    }
    return prio;
}

int ipop__dtls_setup(ipop_link_t *link, const uint8_t remote_fp[32])
{
    ipop_network_t *net = link->net;
    unsigned flags = (link->controlling ? GNUTLS_CLIENT : GNUTLS_SERVER) | GNUTLS_DATAGRAM | GNUTLS_NONBLOCK;
    gnutls_session_t tls;

    memcpy(link->dtls.remote_fp, remote_fp, sizeof(link->dtls.remote_fp));
    if (gnutls_init(&tls, flags) < 0)
        return -ENOMEM;
    if (!link_priority() || gnutls_priority_set(tls, link_priority()) < 0 ||
        gnutls_credentials_set(tls, GNUTLS_CRD_CERTIFICATE, ipop__identity_credentials(net->id)) < 0) {
        gnutls_deinit(tls);
        return -EINVAL;
    }
    if (!link->controlling)
        gnutls_certificate_server_set_request(tls, GNUTLS_CERT_REQUIRE);
    gnutls_session_set_ptr(tls, link);
    gnutls_transport_set_ptr(tls, link);
    gnutls_transport_set_push_function(tls, tls_push);
    gnutls_transport_set_pull_function(tls, tls_pull);
    gnutls_transport_set_pull_timeout_function(tls, tls_pull_timeout);
    gnutls_dtls_set_mtu(tls, DTLS_MTU);
    /* A lost first flight costs 250 ms, not a second (GnuTLS doubles it). */
    gnutls_dtls_set_timeouts(tls, 250, 30000);
    link->dtls.fail = IPOP_REASON_NONE;
    g_mutex_lock(&link->tx_lock);
    link->dtls.tls = tls;
    link->dtls.done = false;
    g_mutex_unlock(&link->tx_lock);
    return 0;
}

void ipop__dtls_stop(ipop_link_t *link)
{
    struct ipop__dtls *d = &link->dtls;
    gnutls_session_t tls;

    ipop__source_clear(&d->timer);
    g_mutex_lock(&link->tx_lock);
    rekey_stop_locked(link);
    d->rec_on = false;
    ipop__rec_clear(&d->rec_tx);
    ipop__rec_clear(&d->rec_rx);
    tls = d->tls;
    d->tls = NULL;
    d->done = false;
    g_mutex_unlock(&link->tx_lock);
    if (tls)
        gnutls_deinit(tls);
    drop_early(link);
    d->rx_data = NULL;
}

static gboolean on_tls_timer(gpointer data)
{
    ipop_link_t *link = data;

    ipop__source_clear(&link->dtls.timer);
    ipop__dtls_step(link);
    return G_SOURCE_REMOVE;
}

static void established(ipop_link_t *link)
{
    struct ipop__dtls *d = &link->dtls;
    unsigned data_mtu = gnutls_dtls_get_data_mtu(d->tls);

    ipop__source_clear(&d->timer);
    g_mutex_lock(&link->tx_lock);
    d->done = true;
    /* record.c takes the application data over (AES-GCM), unless the
     * network keeps GnuTLS's own record layer (dtls.record=gnutls) */
    d->rec_on = !link->net->gnutls_records && ipop__rec_init(&d->rec_tx, d->tls, 0) == 0 &&
                ipop__rec_init(&d->rec_rx, d->tls, 1) == 0;
    if (!d->rec_on) {
        ipop__rec_clear(&d->rec_tx);
        ipop__rec_clear(&d->rec_rx);
    }
    rekey_start_locked(link);
    g_mutex_unlock(&link->tx_lock);
    ipop__dbg(link->net, "DTLS with %s up: %s, data MTU %u, records by %s", ipop__link_tag(link->peer_id),
              gnutls_cipher_get_name(gnutls_cipher_get(d->tls)), data_mtu, d->rec_on ? "record.c" : "GnuTLS");
    if (data_mtu < REC_MAX)
        ipop__warn(link->net, "DTLS data MTU %u is below %d: large packets will be refused", data_mtu, REC_MAX);
    d->ev->up(link);
}

void ipop__dtls_step(ipop_link_t *link)
{
    struct ipop__dtls *d = &link->dtls;
    int r;

    if (!d->tls || d->done)
        return;
    r = gnutls_handshake(d->tls);
    if (r == 0) {
        established(link);
    } else if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(r)) {
        ipop__source_clear(&d->timer);
        d->timer = ipop__net_timeout(link->net, gnutls_dtls_get_timeout(d->tls), on_tls_timer, link);
    } else {
        ipop__warn(link->net, "DTLS handshake with %s failed: %s", ipop__link_tag(link->peer_id),
                   gnutls_strerror(r));
        d->ev->end(link, d->fail ? d->fail : IPOP_REASON_DTLS_FAILED, true);
    }
}

/* ---- rekeying ----
 *
 * The record keys are renewed from the session while the path lives
 * (doc/protocol.md, "Rekeying"; doc/security.md).  Generation g's keys are
 * exported from the session (RFC 5705, with the extended master secret,
 * so bound to the handshake that checked both pinned certificates) with
 * the label below and g as context, and seal in DTLS epoch tls_epoch + g.
 * Make-before-break: a side proposes g+1 once it can open it (REKEY
 * PROPOSE); the peer, able to open it too now, seals with g+1 and says so
 * (REKEY ACK, sealed with g+1); the proposer seals with g+1 at the first
 * record of g+1 it opens (or the ACK).  The previous receiving key opens
 * records still on their way for PREV_GRACE_US.  Sequence numbers run on
 * across generations: a nonce is never used twice under any key. */

#define REKEY_LABEL "EXPORTER-ipop-rekey"
#define REKEY_RESEND_US (1 * G_USEC_PER_SEC)
#define PREV_GRACE_US (5 * G_USEC_PER_SEC)
/* How long a proposal may stay unanswered (then: a new session). */
#define REKEY_WAIT_MIN_S 5
#define REKEY_WAIT_MAX_S 60

/* RFC 8446 5.5 keeps an AES-GCM key under 2^24.5 full-size records */
uint64_t ipop__dtls_rekey_records = UINT64_C(1) << 24;

static gint64 rekey_wait_us(const ipop_link_t *link)
{
    return (gint64)CLAMP(link->net->rekey_interval_s, REKEY_WAIT_MIN_S, REKEY_WAIT_MAX_S) * G_USEC_PER_SEC;
}

/* Generation gen's key for one direction: tx, or rx (nothing seen yet). */
static int rekey_key(ipop_link_t *link, uint32_t gen, bool tx, ipop__rec *r, uint64_t seq)
{
    gnutls_session_t tls = link->dtls.tls;
    gnutls_cipher_algorithm_t alg = gnutls_cipher_get(tls);
    size_t klen = gnutls_cipher_get_key_size(alg);
    /* client key, server key, client salt, server salt (RFC 5246 6.3's order) */
    uint8_t block[2 * (32 + 4)], ctx[4];
    bool client = tx == link->controlling; /* the client's direction */
    int ret;

    memset(r, 0, sizeof(*r));
    if (klen == 0 || klen > 32 || (uint32_t)link->dtls.rekey.tls_epoch + gen > UINT16_MAX)
        return -ERANGE;
    ipop__put32(ctx, gen);
    if (gnutls_prf_rfc5705(tls, strlen(REKEY_LABEL), REKEY_LABEL, sizeof(ctx), (const char *)ctx, 2 * (klen + 4),
                           (char *)block) < 0)
        return -EIO;
    ret = ipop__rec_init_raw(r, alg, block + (client ? 0 : klen), block + 2 * klen + (client ? 0 : 4),
                            (uint16_t)(link->dtls.rekey.tls_epoch + gen), seq, !tx);
    if (ret == 0 && !tx)
        r->window = 0; /* no record of this generation seen yet */
    gnutls_memset(block, 0, sizeof(block));
    return ret;
}

/* At the end of the handshake, under tx_lock. */
static void rekey_start_locked(ipop_link_t *link)
{
    struct ipop__dtls *d = &link->dtls;
    struct ipop__rekey *k = &d->rekey;

    k->tls_epoch = d->rec_tx.epoch;
    k->tx_gen = 0;
    k->tx_gen_seq = d->rec_tx.seq;
    k->tx_gen_since = g_get_monotonic_time();
    k->rx_gen = 0;
    k->ok = d->rec_on && gnutls_session_ext_master_secret_status(d->tls);
}

/* With the session, under tx_lock: every key wiped, a test's setting kept. */
static void rekey_stop_locked(ipop_link_t *link)
{
    struct ipop__rekey *k = &link->dtls.rekey;
    bool mute = k->test_mute;

    ipop__source_clear(&k->now_src);
    ipop__rec_clear(&k->rx_next);
    ipop__rec_clear(&k->rx_prev);
    memset(k, 0, sizeof(*k));
    k->test_mute = mute;
}

static gboolean on_rekey_now(gpointer data);

/* Under tx_lock, before a record is sealed: false at the hard limit (the
 * key seals no more data); at the soft limit a rekey is asked for at once.
 * Control frames (the renewal's own PROPOSE and ACK, pings, BYE) have
 * CONTROL_RESERVE records more, so that a renewal still completes, and the
 * peer still hears us, while data waits for it. */
#define CONTROL_RESERVE 256
static bool rekey_tx_fresh_locked(ipop_link_t *link, bool control)
{
    struct ipop__rekey *k = &link->dtls.rekey;
    uint64_t used = link->dtls.rec_tx.seq - k->tx_gen_seq;

    if (control && used < 2 * ipop__dtls_rekey_records + CONTROL_RESERVE)
        return true;
    if (used >= 2 * ipop__dtls_rekey_records) {
        if (!k->hard_hit) {
            k->hard_hits++;
            k->hard_since = g_get_monotonic_time();
        }
        k->hard_hit = true;
        return false;
    }
    if (used >= ipop__dtls_rekey_records && k->ok && !k->now_src && !k->hard_hit)
        k->now_src = ipop__net_timeout(link->net, 0, on_rekey_now, link);
    return true;
}

/* Seals with generation gen from now on (loop thread). */
static int rekey_switch_tx(ipop_link_t *link, uint32_t gen)
{
    struct ipop__dtls *d = &link->dtls;
    struct ipop__rekey *k = &d->rekey;
    ipop__rec next, old;
    int r;

    g_mutex_lock(&link->tx_lock);
    r = rekey_key(link, gen, true, &next, d->rec_tx.seq);
    if (r == 0) {
        old = d->rec_tx;
        d->rec_tx = next;
        k->tx_gen = gen;
        k->tx_gen_seq = next.seq;
        k->hard_hit = false;
    }
    g_mutex_unlock(&link->tx_lock);
    if (r < 0)
        return r;
    ipop__rec_clear(&old);
    k->tx_gen_since = g_get_monotonic_time();
    __atomic_fetch_add(&k->done, 1, __ATOMIC_RELAXED); /* tests read it */
    if (k->pending == gen)
        k->pending = 0;
    ipop__dbg(link->net, "link to %s: sealing with key generation %u", ipop__link_tag(link->peer_id), gen);
    return 0;
}

static void rekey_send(ipop_link_t *link, uint8_t op, uint32_t gen)
{
    uint8_t buf[IPOP__FRAME_REKEY_LEN];

    if (ipop__frame_put_rekey(buf, sizeof(buf), op, gen) > 0)
        ipop__dtls_send_record(link, buf, sizeof(buf));
}

/* Proposes the next generation when nothing is under way (the peer seals
 * with ours, nothing proposed).  0, or -ERANGE when the epochs are used up. */
static int rekey_propose(ipop_link_t *link, gint64 now)
{
    struct ipop__rekey *k = &link->dtls.rekey;
    uint32_t gen = k->tx_gen + 1;
    int r;

    if (k->pending || k->tx_gen != k->rx_gen || k->test_mute)
        return 0;
    if (!k->rx_next.aead && (r = rekey_key(link, gen, false, &k->rx_next, 0)) < 0)
        return r;
    k->pending = gen;
    k->pending_since = k->pending_sent = now;
    rekey_send(link, IPOP__REKEY_PROPOSE, gen);
    return 0;
}

static gboolean on_rekey_now(gpointer data)
{
    ipop_link_t *link = data;

    g_mutex_lock(&link->tx_lock);
    ipop__source_clear(&link->dtls.rekey.now_src);
    g_mutex_unlock(&link->tx_lock);
    if (link->dtls.done && link->dtls.rekey.ok)
        rekey_propose(link, g_get_monotonic_time()); /* a failure: the tick ends the session */
    return G_SOURCE_REMOVE;
}

int ipop__dtls_rekey_tick(ipop_link_t *link)
{
    struct ipop__dtls *d = &link->dtls;
    struct ipop__rekey *k = &d->rekey;
    gint64 now = g_get_monotonic_time(), age = now - k->tx_gen_since;
    gint64 interval = (gint64)link->net->rekey_interval_s * G_USEC_PER_SEC;
    uint64_t used;
    bool hard;

    if (!d->tls || !d->done)
        return 0;
    if (k->rx_prev.aead && now >= k->prev_until)
        ipop__rec_clear(&k->rx_prev);
    if (!k->ok) {
        if (age < interval)
            return 0;
        ipop__warn(link->net, "link to %s: its keys cannot be renewed in place (%s): a new session",
                   ipop__link_tag(link->peer_id), d->rec_on ? "no extended master secret" : "not AES-GCM");
        return -ENOTSUP;
    }
    g_mutex_lock(&link->tx_lock);
    used = d->rec_tx.seq - k->tx_gen_seq;
    hard = k->hard_hit && now - k->hard_since >= rekey_wait_us(link);
    g_mutex_unlock(&link->tx_lock);
    /* At the hard limit sends are refused (-ENOBUFS) while the renewal is
     * under way: a slow answer is waited for, a missing one ends the
     * session. */
    if (k->pending ? now - k->pending_since >= rekey_wait_us(link)
                   : (hard || age >= interval + rekey_wait_us(link))) {
        ipop__warn(link->net, "link to %s: the peer did not renew the keys (generation %u, %" G_GUINT64_FORMAT
                   " records, %" G_GINT64_FORMAT " s): a new session", ipop__link_tag(link->peer_id), k->tx_gen + 1,
                   used, age / G_USEC_PER_SEC);
        return -ETIMEDOUT;
    }
    if (k->pending) {
        if (now - k->pending_sent >= REKEY_RESEND_US) {
            k->pending_sent = now;
            rekey_send(link, IPOP__REKEY_PROPOSE, k->pending);
        }
        return 0;
    }
    if ((age >= interval || used >= ipop__dtls_rekey_records) && rekey_propose(link, now) < 0) {
        ipop__warn(link->net, "link to %s: key generations used up: a new session", ipop__link_tag(link->peer_id));
        return -ERANGE;
    }
    return 0;
}

int ipop__dtls_rekey_frame(ipop_link_t *link, uint8_t op, uint32_t gen)
{
    struct ipop__dtls *d = &link->dtls;
    struct ipop__rekey *k = &d->rekey;
    int r;

    if (!d->done || !k->ok || k->test_mute)
        return 0; /* (a peer that rekeys a session we cannot: our tick renews it) */
    if (op == IPOP__REKEY_ACK) {
        if (gen == k->pending && gen == k->tx_gen + 1)
            return rekey_switch_tx(link, gen);
        return 0;
    }
    if (gen == k->tx_gen && gen != 0) {
        rekey_send(link, IPOP__REKEY_ACK, gen); /* our ACK was lost */
        return 0;
    }
    /* Only the next generation, and only once the peer seals with ours. */
    if (gen != k->tx_gen + 1 || k->rx_gen != k->tx_gen)
        return 0;
    if (!k->rx_next.aead && (r = rekey_key(link, gen, false, &k->rx_next, 0)) < 0)
        return r;
    if ((r = rekey_switch_tx(link, gen)) < 0)
        return r;
    rekey_send(link, IPOP__REKEY_ACK, gen);
    return 0;
}

/* The peer seals with the next generation: it becomes the receiving key,
 * the current one opens stragglers for a while; if we proposed it, we
 * seal with it too. */
static void rekey_promote(ipop_link_t *link)
{
    struct ipop__dtls *d = &link->dtls;
    struct ipop__rekey *k = &d->rekey;

    ipop__rec_clear(&k->rx_prev);
    k->rx_prev = d->rec_rx;
    d->rec_rx = k->rx_next;
    memset(&k->rx_next, 0, sizeof(k->rx_next));
    k->rx_gen++;
    k->prev_until = g_get_monotonic_time() + PREV_GRACE_US;
    if (k->pending == k->rx_gen && k->tx_gen + 1 == k->rx_gen && rekey_switch_tx(link, k->rx_gen) < 0)
        k->pending_since = 0; /* the tick gives up */
}

/* Opens an application-data record with the key of its epoch: the
 * current one, the next (the peer switched), or the previous. */
static int rekey_open(ipop_link_t *link, const uint8_t *rec, size_t len, uint8_t *out, size_t cap)
{
    struct ipop__dtls *d = &link->dtls;
    struct ipop__rekey *k = &d->rekey;
    uint16_t epoch = ipop__get16(rec + 3);
    int n;

    if (epoch == d->rec_rx.epoch)
        return ipop__rec_open(&d->rec_rx, rec, len, out, cap);
    if (k->rx_prev.aead && epoch == k->rx_prev.epoch)
        return ipop__rec_open(&k->rx_prev, rec, len, out, cap);
    if (!k->rx_next.aead || epoch != k->rx_next.epoch)
        return -EAGAIN;
    n = ipop__rec_open(&k->rx_next, rec, len, out, cap);
    if (n >= 0)
        rekey_promote(link);
    return n;
}

/* ---- records out ---- */

/* A record sealed here (record.c): into the batch's next slot while
 * batching, else sent at once. */
static int send_sealed(ipop_link_t *link, const uint8_t *rec, size_t len)
{
    struct ipop__dtls *d = &link->dtls;
    uint8_t one[DTLS_MTU], *out = one;
    int n;

    if (d->tx_batching) {
        if (d->tx_batch_n == TX_BATCH_MAX)
            flush_batch(link);
        out = d->tx_batch + (size_t)d->tx_batch_n * DTLS_MTU;
    }
    if (!rekey_tx_fresh_locked(link, len > 0 && (rec[0] == IPOP__FRAME_REKEY || rec[0] == IPOP__FRAME_PING ||
                                                  rec[0] == IPOP__FRAME_PONG || rec[0] == IPOP__FRAME_BYE)))
        return -ENOBUFS; /* the key seals no more until the renewal under way ends: try again */
    n = ipop__rec_seal(&d->rec_tx, rec, len, out, DTLS_MTU);
    if (n < 0)
        return n == -EMSGSIZE ? -EMSGSIZE : -EIO;
    if (d->tx_batching)
        d->tx_batch_len[d->tx_batch_n++] = (size_t)n;
    else
        tls_push(link, out, (size_t)n);
    return 0;
}

int ipop__dtls_send_locked(ipop_link_t *link, const uint8_t *rec, size_t len)
{
    ssize_t r;

    if (!link->dtls.tls || !link->dtls.done)
        return -ENOTCONN;
    if (link->dtls.rec_on)
        return send_sealed(link, rec, len);
    r = gnutls_record_send(link->dtls.tls, rec, len);
    if (r == GNUTLS_E_LARGE_PACKET)
        return -EMSGSIZE;
    if (r < 0)
        return r == GNUTLS_E_AGAIN ? -ENOBUFS : -EIO;
    return 0;
}

int ipop__dtls_send_record(ipop_link_t *link, const uint8_t *rec, size_t len)
{
    int r;

    g_mutex_lock(&link->tx_lock);
    r = ipop__dtls_send_locked(link, rec, len);
    g_mutex_unlock(&link->tx_lock);
    return r;
}

unsigned ipop__dtls_send_records(ipop_link_t *link, uint8_t *const *recs, const size_t *lens, unsigned n)
{
    struct ipop__dtls *d = &link->dtls;
    unsigned ok = 0;

    g_mutex_lock(&link->tx_lock);
    if (!d->tx_batch)
        d->tx_batch = g_malloc((size_t)TX_BATCH_MAX * DTLS_MTU);
    d->tx_batching = true;
    for (unsigned i = 0; i < n; i++) {
        if (ipop__dtls_send_locked(link, recs[i], lens[i]) == 0) {
            __atomic_fetch_add(&link->tx_packets, 1, __ATOMIC_RELAXED);
            __atomic_fetch_add(&link->tx_bytes, (guint64)(lens[i] - IPOP__FRAME_HDR), __ATOMIC_RELAXED);
            ok++;
        } else {
            __atomic_fetch_add(&link->tx_drops, 1, __ATOMIC_RELAXED);
        }
    }
    d->tx_batching = false;
    flush_batch(link);
    g_mutex_unlock(&link->tx_lock);
    return ok;
}

int ipop__dtls_seal(ipop_link_t *link, const uint8_t *rec, size_t len, uint8_t *out, size_t cap)
{
    int n;

    g_mutex_lock(&link->tx_lock);
    n = ipop__rec_seal(&link->dtls.rec_tx, rec, len, out, cap);
    g_mutex_unlock(&link->tx_lock);
    return n;
}

/* ---- records in ---- */

/* GnuTLS reads a record, under the send lock: it may send (the last flight
 * of the handshake again) and must then carry on from the sequence number
 * record.c has reached, never reuse one (a nonce, with AES-GCM). */
static ssize_t recv_locked(ipop_link_t *link, uint8_t *buf, size_t size)
{
    struct ipop__dtls *d = &link->dtls;
    uint8_t seq[8];
    ssize_t r;

    g_mutex_lock(&link->tx_lock);
    if (d->rec_on) {
        /* GnuTLS seals with generation 0's keys, in its own epoch */
        ipop__put16(seq, d->rekey.tls_epoch);
        ipop__put48(seq + 2, d->rec_tx.seq);
        gnutls_record_set_state(d->tls, 0, seq);
    }
    r = gnutls_record_recv(d->tls, buf, size);
    if (d->rec_on && d->tls && gnutls_record_get_state(d->tls, 0, NULL, NULL, NULL, seq) == 0 &&
        ipop__get48(seq + 2) > d->rec_tx.seq) /* epoch(2) seq(6) */
        d->rec_tx.seq = ipop__get48(seq + 2);
    g_mutex_unlock(&link->tx_lock);
    return r;
}

/* DTLS records for GnuTLS (all of them until record.c takes over): the
 * handshake, or records it opens itself. */
static void tls_feed(ipop_link_t *link, const uint8_t *buf, size_t len)
{
    ipop_network_t *net = link->net;
    struct ipop__dtls *d = &link->dtls;
    ssize_t r;

    d->rx_data = buf;
    d->rx_len = len;
    if (!d->done) {
        net->glib_due = true;
        ipop__dtls_step(link);
        d->rx_data = NULL;
        return;
    }
    for (;;) {
        r = recv_locked(link, net->rxbuf, sizeof(net->rxbuf));
        if (r > 0) {
            d->ev->record(link, net->rxbuf, (size_t)r);
            if (!d->tls) /* a goodbye tore the session down */
                return;
            continue;
        }
        if (r == 0) {
            net->glib_due = true;
            d->ev->end(link, IPOP_REASON_PEER_CLOSED, false);
            return;
        }
        if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED) {
            /* Records that fail to decrypt or replay are dropped and counted. */
            __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
            if (gnutls_error_is_fatal(r) && r != GNUTLS_E_DECRYPTION_FAILED &&
                r != GNUTLS_E_UNEXPECTED_PACKET_LENGTH && r != GNUTLS_E_UNEXPECTED_PACKET &&
                r != GNUTLS_E_UNSUPPORTED_VERSION_PACKET) {
                ipop__warn(net, "DTLS with %s failed: %s", ipop__link_tag(link->peer_id), gnutls_strerror(r));
                net->glib_due = true;
                d->ev->end(link, IPOP_REASON_DTLS_FAILED, true);
                return;
            }
        }
        break;
    }
    d->rx_data = NULL;
}

/* Once record.c opens the application data, a datagram is taken apart
 * record by record (RFC 6347 allows several in one, and a datagram merged
 * by UDP GRO on its way to libnice's reader holds many): application data
 * is opened here, against record.c's replay window, and never reaches
 * GnuTLS, whose own window is out of date (and reset by the
 * gnutls_record_set_state() of recv_locked()); the rest (a handshake
 * retransmission, an alert) goes to GnuTLS one record at a time.  What
 * does not parse, authenticate or is a replay is dropped and counted. */
static void rx_records(ipop_link_t *link, const uint8_t *buf, size_t len)
{
    ipop_network_t *net = link->net;
    struct ipop__dtls *d = &link->dtls;

    for (size_t at = 0, rl; at < len && d->tls; at += rl) {
        int n = ipop__rec_next(buf + at, len - at);

        if (n < 0) {
            __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
            return;
        }
        rl = (size_t)n;
        if (buf[at] != IPOP__REC_APP_DATA) {
            net->glib_due = true;
            tls_feed(link, buf + at, rl);
            continue;
        }
        n = rekey_open(link, buf + at, rl, net->rxbuf, sizeof(net->rxbuf));
        if (n >= 0)
            d->ev->record(link, net->rxbuf, (size_t)n);
        else /* forged, corrupt, replayed, or of another epoch */
            __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
    }
}

void ipop__dtls_rx(ipop_link_t *link, const uint8_t *buf, size_t len)
{
    if (!link->dtls.tls)
        return; /* DTLS before the offer or answer: the peer retransmits */
    if (link->dtls.rec_on)
        rx_records(link, buf, len);
    else
        tls_feed(link, buf, len);
}
