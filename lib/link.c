/* SPDX-License-Identifier: MIT */
/* A TinCan link: one ICE stream (libnice) carrying one DTLS 1.2 session
 * (GnuTLS), driven by signalling messages.  Everything here runs in the
 * network's loop thread, except ipop__link_send_record/_send_packet, which
 * any thread may call.
 *
 * Session rules (doc/protocol.md): the side that opens a link sends an
 * offer with a fresh session id; the other answers.  Both trickle
 * candidates.  The smaller node id is ICE-controlling and the DTLS client.
 * When both sides offer at once, the offer of the smaller node id wins. */
#define _GNU_SOURCE /* recvmmsg */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <gnutls/crypto.h>
#include <gnutls/dtls.h>
#include <gnutls/x509.h>

#include "internal.h"
#include "relay.h"
#include "rewrite.h"
#include "log.h"
#include "stun.h"

#define PRIORITY "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:" \
                 "+CHACHA20-POLY1305:-KX-ALL:+ECDHE-ECDSA:-SIGN-ALL:+SIGN-ECDSA-SHA256:" \
                 "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1"
/* Liveness: a tick every 500 ms once DTLS is up.  A ping goes out at each
 * tick once nothing came in for a second (and every 10 ticks, for the
 * RTT), so a live peer is heard about once a second; after 1.5 s of
 * silence the signalling server is asked whether it is still there, after
 * 2.5 s the path counts as lost and ICE starts again with fresh
 * candidates.  A restarted session that is not up within 9 s fails
 * (path-lost): a silent peer's link is FAILED within ~12 s. */
#define TICK_MS 500
#define IDLE_PING_MS 1000
#define SUSPECT_MS 1500
#define PATH_LOST_MS 2500
#define RESTART_TIMEOUT_S 9
#define OFFER_RESEND_MS 2000
#define SOCKET_BUF (4 * 1024 * 1024)
/* One UDP GSO send: at most this many datagrams (the kernel takes 64), of
 * at most this many bytes in all (an IP packet's limit, with headers). */
#define UDP_GSO_MAX 64
#define UDP_GSO_BYTES 65000

static void link_fail(ipop_link_t *link, ipop_reason_t reason);

static const char *short_id(const char *id)
{
    static __thread char buf[9];
    g_strlcpy(buf, id, sizeof(buf));
    return buf;
}

static void set_state(ipop_link_t *link, ipop_link_state_t state, ipop_reason_t reason)
{
    ipop_network_t *net = link->net;
    char detail[128];

    if (g_atomic_int_get(&link->state) == (gint)state)
        return;
    g_atomic_int_set(&link->reason, reason);
    g_atomic_int_set(&link->state, state);

    if (state == IPOP_LINK_CONNECTED && !link->in_fwd) {
        /* A SocialVPN friend is reached at its alias here, over IPv4 only. */
        const ipop__addr *r4 = link->alias4.family ? &link->alias4 : &link->raddr4;
        bool v6 = link->raddr6.family && !link->alias4.family;
        if ((r4->family && ipop__fwd_add_ip(net->fwd, r4, link) < 0) ||
            (v6 && ipop__fwd_add_ip(net->fwd, &link->raddr6, link) < 0))
            ipop__err(net, "link to %s: cannot add its addresses to the forwarding table", short_id(link->peer_id));
        link->in_fwd = true;
        link->ever_connected = true;
    } else if (state != IPOP_LINK_CONNECTED && link->in_fwd) {
        ipop__fwd_remove_owner(net->fwd, link);
        link->in_fwd = false;
    }
    if (state == IPOP_LINK_CONNECTED)
        ipop__net_link_up(net, link); /* TAP: the neighbour requests it missed */
    snprintf(detail, sizeof(detail), "link to %s %s%s%s%s", short_id(link->peer_id), ipop_link_state_str(state),
             reason ? " (" : "", reason ? ipop_reason_str(reason) : "", reason ? ")" : "");
    ipop__info(net, "%s", detail);
    ipop__net_emit_simple(net, IPOP_EVENT_LINK_STATE, link->peer_id, link, reason, 0, detail);
}

ipop_link_t *ipop__link_new(ipop_network_t *net, const char *peer_id)
{
    ipop_link_t *link = g_new0(ipop_link_t, 1);

    link->net = net;
    g_strlcpy(link->peer_id, peer_id, sizeof(link->peer_id));
    link->controlling = strcmp(net->node_id, peer_id) < 0;
    link->stun_idx = -1;
    link->direct_fd = -1;
    g_mutex_init(&link->tx_lock);
    return link;
}

/* ---- DTLS transport over the ICE component ---- */

/* A DTLS server answers the client's first flight as soon as it arrives,
 * which can be before its own ICE side has selected a pair: libnice then
 * has nowhere to send, and the flight would be lost until the client's
 * retransmission (250 ms).  Such handshake datagrams are held, a few, and
 * sent once a pair is selected. */
#define EARLY_MAX 16

static bool hold_early(ipop_link_t *link, const void *data, size_t len)
{
    if (g_queue_get_length(&link->early) >= EARLY_MAX)
        return false;
    g_queue_push_tail(&link->early, g_bytes_new(data, len));
    return true;
}

static void flush_early(ipop_link_t *link)
{
    GBytes *b;

    while (link->agent && (b = g_queue_pop_head(&link->early))) {
        gsize len;
        const void *data = g_bytes_get_data(b, &len);
        if (nice_agent_send(link->agent, link->stream, 1, (guint)len, data) < 0)
            __atomic_fetch_add(&link->tx_drops, 1, __ATOMIC_RELAXED);
        g_bytes_unref(b);
    }
}

static void drop_early(ipop_link_t *link)
{
    g_queue_clear_full(&link->early, (GDestroyNotify)g_bytes_unref);
}

/* How many datagrams from first on can leave as one UDP GSO send: all of
 * the size of the first, but the last, which may be shorter, within one
 * IP packet's 64 KB. */
static unsigned gso_run(const ipop_link_t *link, unsigned first, unsigned n)
{
    size_t size = link->tx_batch_len[first], total = 0;
    unsigned k = 0;

    while (first + k < n && k < UDP_GSO_MAX && total + link->tx_batch_len[first + k] <= UDP_GSO_BYTES) {
        size_t len = link->tx_batch_len[first + k];
        if (len > size)
            break;
        total += len;
        k++;
        if (len < size)
            break;
    }
    return k;
}

/* One datagram straight to the direct path's socket.  One the socket would
 * not take is lost, as UDP would lose it. */
static void direct_send(ipop_link_t *link, const void *data, size_t len)
{
    if (sendto(link->direct_fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&link->direct_to,
               link->direct_to_len) < 0)
        __atomic_fetch_add(&link->tx_drops, 1, __ATOMIC_RELAXED);
}

/* The batch on the direct path: each run of datagrams of one size leaves
 * in one sendmsg() with UDP GSO (UDP_SEGMENT) and crosses the local stack
 * as one packet until a device splits it; a datagram alone is sent alone.
 * Returns how many of the batch's first datagrams were handled; the rest
 * are for libnice (no direct path, or a kernel without UDP GSO). */
static unsigned send_direct(ipop_link_t *link)
{
    unsigned n = link->tx_batch_n, done = 0;

    if (link->direct_fd < 0)
        return 0;
    while (done < n) {
        unsigned k = link->no_udp_gso ? 1 : gso_run(link, done, n);
        struct iovec iov[UDP_GSO_MAX];
        union {
            struct cmsghdr h;
            uint8_t buf[CMSG_SPACE(sizeof(uint16_t))];
        } ctl;
        struct msghdr msg = {
            .msg_name = &link->direct_to,
            .msg_namelen = link->direct_to_len,
            .msg_iov = iov,
            .msg_iovlen = k,
        };
        uint16_t seg = (uint16_t)link->tx_batch_len[done];

        if (k < 2) {
            direct_send(link, link->tx_batch + (size_t)done * DTLS_MTU, link->tx_batch_len[done]);
            done++;
            continue;
        }
        for (unsigned i = 0; i < k; i++) {
            iov[i].iov_base = link->tx_batch + (size_t)(done + i) * DTLS_MTU;
            iov[i].iov_len = link->tx_batch_len[done + i];
        }
        memset(&ctl, 0, sizeof(ctl));
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof(ctl.buf);
        ctl.h.cmsg_level = SOL_UDP;
        ctl.h.cmsg_type = UDP_SEGMENT;
        ctl.h.cmsg_len = CMSG_LEN(sizeof(seg));
        memcpy(CMSG_DATA(&ctl.h), &seg, sizeof(seg));
        if (sendmsg(link->direct_fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS && errno != ECONNREFUSED) {
                /* EIO, EINVAL, ENOPROTOOPT: this path or kernel cannot; one by one from now on. */
                ipop__warn(link->net, "link to %s: no UDP GSO: %s", short_id(link->peer_id), g_strerror(errno));
                link->no_udp_gso = true;
                continue;
            }
            /* Lost, as a full socket loses a datagram. */
            __atomic_fetch_add(&link->tx_drops, k, __ATOMIC_RELAXED);
        }
        done += k;
    }
    return done;
}

/* Sends the datagrams gathered by tls_push() during ipop__link_send_records(). */
static void flush_batch(ipop_link_t *link)
{
    NiceOutputMessage msgs[TX_BATCH_MAX];
    GOutputVector vecs[TX_BATCH_MAX];
    unsigned n = link->tx_batch_n, first;
    int sent;

    if (n == 0)
        return;
    first = send_direct(link);
    for (unsigned i = first; i < n; i++) {
        vecs[i].buffer = link->tx_batch + (size_t)i * DTLS_MTU;
        vecs[i].size = link->tx_batch_len[i];
        msgs[i].buffers = &vecs[i];
        msgs[i].n_buffers = 1;
    }
    link->tx_batch_n = 0;
    if (first == n)
        return;
    sent = link->agent ? nice_agent_send_messages_nonblocking(link->agent, link->stream, 1, msgs + first, n - first,
                                                              NULL, NULL)
                       : -1;
    /* What the socket would not take is lost, as in tls_push(). */
    if (sent < (int)(n - first))
        __atomic_fetch_add(&link->tx_drops, (guint64)(n - first - (unsigned)MAX(sent, 0)), __ATOMIC_RELAXED);
}

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
    ipop_link_t *link = ptr;
    int sent;

    if (link->tx_batching && len <= DTLS_MTU) {
        if (link->tx_batch_n == TX_BATCH_MAX)
            flush_batch(link);
        memcpy(link->tx_batch + (size_t)link->tx_batch_n * DTLS_MTU, data, len);
        link->tx_batch_len[link->tx_batch_n++] = len;
        return (ssize_t)len;
    }
    flush_batch(link); /* in order */
    if (link->direct_fd >= 0) {
        direct_send(link, data, len);
        return (ssize_t)len;
    }
    sent = link->agent ? nice_agent_send(link->agent, link->stream, 1, len, data) : -1;

    /* A datagram the socket would not take is lost, as UDP would lose it;
     * telling GnuTLS "again" would make it resend a stale record. */
    if (sent < 0 && !link->tls_done && hold_early(link, data, len))
        return (ssize_t)len;
    if (sent < 0)
        __atomic_fetch_add(&link->tx_drops, 1, __ATOMIC_RELAXED);
    return (ssize_t)len;
}

static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *data, size_t size)
{
    ipop_link_t *link = ptr;
    size_t n;

    if (!link->rx_data) {
        gnutls_transport_set_errno(link->tls, EAGAIN);
        return -1;
    }
    n = MIN(size, link->rx_len);
    memcpy(data, link->rx_data, n);
    link->rx_data = NULL;
    return (ssize_t)n;
}

static int tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned ms)
{
    ipop_link_t *link = ptr;
    return link->rx_data ? 1 : 0;
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
        link->tls_fail = IPOP_REASON_DTLS_FAILED;
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    if (memcmp(fp, link->remote_fp, sizeof(fp)) != 0) {
        link->tls_fail = IPOP_REASON_FINGERPRINT_MISMATCH;
        ipop__warn(link->net, "peer %s presented a certificate that is not the signalled one",
                   short_id(link->peer_id));
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    /* The node id is the hash of the key: a signalled fingerprint of some
     * other key cannot stand in for a node id. */
    if (ipop__cert_node_id(&certs[0], id) < 0 || strcmp(id, link->peer_id) != 0) {
        link->tls_fail = IPOP_REASON_FINGERPRINT_MISMATCH;
        ipop__warn(link->net, "peer %s presented a certificate whose key is not its node id's",
                   short_id(link->peer_id));
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    return 0;
}

void ipop__identity_set_verify(gnutls_certificate_credentials_t cred);
void ipop__identity_set_verify(gnutls_certificate_credentials_t cred)
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

static int tls_setup(ipop_link_t *link)
{
    ipop_network_t *net = link->net;
    unsigned flags = (link->controlling ? GNUTLS_CLIENT : GNUTLS_SERVER) | GNUTLS_DATAGRAM | GNUTLS_NONBLOCK;
    gnutls_session_t tls;

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
    link->tls_fail = IPOP_REASON_NONE;
    g_mutex_lock(&link->tx_lock);
    link->tls = tls;
    link->tls_done = false;
    g_mutex_unlock(&link->tx_lock);
    return 0;
}

static gboolean on_ping_timer(gpointer data);
static void send_ping(ipop_link_t *link);

static void tls_step(ipop_link_t *link);
static void direct_update(ipop_link_t *link);

static gboolean on_tls_timer(gpointer data)
{
    ipop_link_t *link = data;

    ipop__source_clear(&link->tls_timer);
    tls_step(link);
    return G_SOURCE_REMOVE;
}

static void tls_established(ipop_link_t *link)
{
    ipop_network_t *net = link->net;
    unsigned data_mtu = gnutls_dtls_get_data_mtu(link->tls);

    ipop__source_clear(&link->tls_timer);
    ipop__source_clear(&link->timeout_src);
    g_mutex_lock(&link->tx_lock);
    link->tls_done = true;
    link->rec_on = ipop__rec_init(&link->rec_tx, link->tls, 0) == 0 && ipop__rec_init(&link->rec_rx, link->tls, 1) == 0;
    if (!link->rec_on) {
        ipop__rec_clear(&link->rec_tx);
        ipop__rec_clear(&link->rec_rx);
    }
    g_mutex_unlock(&link->tx_lock);
    ipop__dbg(net, "DTLS with %s up: %s, data MTU %u", short_id(link->peer_id),
              gnutls_cipher_get_name(gnutls_cipher_get(link->tls)), data_mtu);
    if (data_mtu < REC_MAX)
        ipop__warn(net, "DTLS data MTU %u is below %d: large packets will be refused", data_mtu, REC_MAX);
    link->restarted = false;
    link->last_rx = g_get_monotonic_time();
    link->ticks = 0;
    link->ping_src = ipop__net_timeout(net, TICK_MS, on_ping_timer, link);
    direct_update(link);
    send_ping(link); /* a first RTT sample at once */
    set_state(link, IPOP_LINK_CONNECTED, IPOP_REASON_NONE);
}

static void tls_step(ipop_link_t *link)
{
    int r;

    if (!link->tls || link->tls_done)
        return;
    r = gnutls_handshake(link->tls);
    if (r == 0) {
        tls_established(link);
    } else if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(r)) {
        ipop__source_clear(&link->tls_timer);
        link->tls_timer = ipop__net_timeout(link->net, gnutls_dtls_get_timeout(link->tls), on_tls_timer, link);
    } else {
        ipop__warn(link->net, "DTLS handshake with %s failed: %s", short_id(link->peer_id),
                   gnutls_strerror(r));
        link_fail(link, link->tls_fail ? link->tls_fail : IPOP_REASON_DTLS_FAILED);
    }
}

/* ---- records ---- */

/* A record sealed here (record.c): into the batch's next slot while
 * batching, else sent at once. */
static int send_sealed(ipop_link_t *link, const uint8_t *rec, size_t len)
{
    uint8_t one[DTLS_MTU], *out = one;
    int n;

    if (link->tx_batching) {
        if (link->tx_batch_n == TX_BATCH_MAX)
            flush_batch(link);
        out = link->tx_batch + (size_t)link->tx_batch_n * DTLS_MTU;
    }
    n = ipop__rec_seal(&link->rec_tx, rec, len, out, DTLS_MTU);
    if (n < 0)
        return n == -EMSGSIZE ? -EMSGSIZE : -EIO;
    if (link->tx_batching)
        link->tx_batch_len[link->tx_batch_n++] = (size_t)n;
    else
        tls_push(link, out, (size_t)n);
    return 0;
}

static int send_record_locked(ipop_link_t *link, const uint8_t *rec, size_t len)
{
    ssize_t r;

    if (!link->tls || !link->tls_done)
        return -ENOTCONN;
    if (link->rec_on)
        return send_sealed(link, rec, len);
    r = gnutls_record_send(link->tls, rec, len);
    if (r == GNUTLS_E_LARGE_PACKET)
        return -EMSGSIZE;
    if (r < 0)
        return r == GNUTLS_E_AGAIN ? -ENOBUFS : -EIO;
    return 0;
}

int ipop__link_send_record(ipop_link_t *link, const uint8_t *rec, size_t len)
{
    int r;

    g_mutex_lock(&link->tx_lock);
    r = send_record_locked(link, rec, len);
    g_mutex_unlock(&link->tx_lock);
    return r;
}

unsigned ipop__link_send_records(ipop_link_t *link, uint8_t *const *recs, const size_t *lens, unsigned n)
{
    unsigned ok = 0;

    g_mutex_lock(&link->tx_lock);
    if (!link->tx_batch)
        link->tx_batch = g_malloc((size_t)TX_BATCH_MAX * DTLS_MTU);
    link->tx_batching = true;
    for (unsigned i = 0; i < n; i++) {
        if (send_record_locked(link, recs[i], lens[i]) == 0) {
            __atomic_fetch_add(&link->tx_packets, 1, __ATOMIC_RELAXED);
            __atomic_fetch_add(&link->tx_bytes, (guint64)(lens[i] - IPOP__FRAME_HDR), __ATOMIC_RELAXED);
            ok++;
        } else {
            __atomic_fetch_add(&link->tx_drops, 1, __ATOMIC_RELAXED);
        }
    }
    link->tx_batching = false;
    flush_batch(link);
    g_mutex_unlock(&link->tx_lock);
    return ok;
}

void ipop__link_set_alias(ipop_link_t *link, const ipop__addr *alias, const char *name)
{
    bool reroute = link->in_fwd;

    if (reroute) {
        ipop__fwd_remove_owner(link->net->fwd, link);
        link->in_fwd = false;
    }
    if (alias)
        link->alias4 = *alias;
    else
        memset(&link->alias4, 0, sizeof(link->alias4));
    g_strlcpy(link->name, name ? name : "", sizeof(link->name));
    if (reroute && g_atomic_int_get(&link->state) == IPOP_LINK_CONNECTED) {
        const ipop__addr *r4 = link->alias4.family ? &link->alias4 : &link->raddr4;
        if (r4->family)
            ipop__fwd_add_ip(link->net->fwd, r4, link);
        link->in_fwd = true;
    }
}

void ipop__link_out_rewrite(ipop_link_t *link, uint8_t *pkt, size_t len)
{
    if (link->alias4.family && link->raddr4.family && len >= 20 && (pkt[0] >> 4) == 4 &&
        memcmp(pkt + 16, link->alias4.bytes, 4) == 0)
        ipop__ip4_rewrite(pkt, len, false, link->raddr4.bytes);
}

int ipop__link_send_packet(ipop_link_t *link, const uint8_t *pkt, size_t len)
{
    int r;

    if (len == 0 || len > IPOP_MAX_PACKET) {
        __atomic_fetch_add(&link->tx_drops, 1, __ATOMIC_RELAXED);
        return len ? -EMSGSIZE : -EINVAL;
    }
    g_mutex_lock(&link->tx_lock);
    link->txbuf[0] = IPOP__FRAME_DATA;
    memcpy(link->txbuf + IPOP__FRAME_HDR, pkt, len);
    ipop__link_out_rewrite(link, link->txbuf + IPOP__FRAME_HDR, len);
    r = send_record_locked(link, link->txbuf, len + IPOP__FRAME_HDR);
    g_mutex_unlock(&link->tx_lock);
    if (r < 0) {
        __atomic_fetch_add(&link->tx_drops, 1, __ATOMIC_RELAXED);
        return r;
    }
    __atomic_fetch_add(&link->tx_packets, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&link->tx_bytes, len, __ATOMIC_RELAXED);
    return 0;
}

static void send_ping(ipop_link_t *link)
{
    uint8_t buf[IPOP__FRAME_PING_LEN];

    if (ipop__frame_put_ping(buf, sizeof(buf), IPOP__FRAME_PING, ++link->ping_seq,
                             (uint64_t)g_get_monotonic_time()) > 0)
        ipop__link_send_record(link, buf, sizeof(buf));
}

static gboolean on_ping_timer(gpointer data)
{
    ipop_link_t *link = data;
    gint64 idle_ms = (g_get_monotonic_time() - link->last_rx) / 1000;

    link->ticks++;
    if (idle_ms >= PATH_LOST_MS) {
        ipop__info(link->net, "link to %s: nothing heard for %" G_GINT64_FORMAT " ms: starting ICE again",
                   short_id(link->peer_id), idle_ms);
        ipop__link_restart(link, IPOP_REASON_PATH_LOST);
        return G_SOURCE_REMOVE;
    }
    if (idle_ms >= SUSPECT_MS && idle_ms < SUSPECT_MS + TICK_MS)
        ipop__net_path_suspect(link->net);
    if (idle_ms >= IDLE_PING_MS || link->ticks % 10 == 0)
        send_ping(link);
    return G_SOURCE_CONTINUE;
}

static void handle_record(ipop_link_t *link, const uint8_t *rec, size_t len)
{
    ipop__frame f;
    uint8_t buf[IPOP__FRAME_PING_LEN];

    if (ipop__frame_parse(rec, len, &f) < 0) {
        __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
        return;
    }
    link->last_rx = g_get_monotonic_time();
    if (f.type != IPOP__FRAME_DATA)
        link->net->glib_due = true; /* control frames may start timers, events, teardowns */
    switch (f.type) {
    case IPOP__FRAME_DATA:
        ipop__net_deliver(link->net, link, f.payload, f.payload_len);
        break;
    case IPOP__FRAME_PING:
        if (ipop__frame_put_ping(buf, sizeof(buf), IPOP__FRAME_PONG, f.seq, f.stamp) > 0)
            ipop__link_send_record(link, buf, sizeof(buf));
        break;
    case IPOP__FRAME_PONG: {
        uint64_t now = (uint64_t)g_get_monotonic_time();
        /* Only an answer to our latest ping, stamped in the past, counts. */
        if (f.seq == link->ping_seq && f.stamp <= now && now - f.stamp < 60 * G_USEC_PER_SEC) {
            guint sample = (guint)(now - f.stamp), old = g_atomic_int_get(&link->rtt_us);
            g_atomic_int_set(&link->rtt_us, old ? (7 * old + sample) / 8 : MAX(sample, 1u));
        }
        break;
    }
    case IPOP__FRAME_BYE:
        ipop__link_shutdown(link, IPOP_REASON_PEER_CLOSED, false);
        break;
    case IPOP__FRAME_RELAY:
    case IPOP__FRAME_RELAYED:
    case IPOP__FRAME_PEERS:
        ipop__relay_frame(link, &f); /* GroupVPN member relay */
        break;
    }
}

static uint64_t seq48(const uint8_t seq[8])
{
    uint64_t v = 0;

    for (int i = 2; i < 8; i++)
        v = v << 8 | seq[i];
    return v;
}

/* GnuTLS reads a record, under the send lock: it may send (the last flight
 * of the handshake again) and must then carry on from the sequence number
 * record.c has reached, never reuse one (a nonce, with AES-GCM). */
static ssize_t recv_locked(ipop_link_t *link, uint8_t *buf, size_t size)
{
    uint8_t seq[8];
    ssize_t r;

    g_mutex_lock(&link->tx_lock);
    if (link->rec_on) {
        ipop__rec_seq_bytes(&link->rec_tx, seq);
        gnutls_record_set_state(link->tls, 0, seq);
    }
    r = gnutls_record_recv(link->tls, buf, size);
    if (link->rec_on && link->tls && gnutls_record_get_state(link->tls, 0, NULL, NULL, NULL, seq) == 0 &&
        seq48(seq) > link->rec_tx.seq)
        link->rec_tx.seq = seq48(seq);
    g_mutex_unlock(&link->tx_lock);
    return r;
}

/* DTLS records for GnuTLS (all of them until record.c takes over): the
 * handshake, or records it opens itself. */
static void tls_feed(ipop_link_t *link, const uint8_t *buf, size_t len)
{
    ipop_network_t *net = link->net;
    ssize_t r;

    link->rx_data = buf;
    link->rx_len = len;
    if (!link->tls_done) {
        net->glib_due = true;
        tls_step(link);
        link->rx_data = NULL;
        return;
    }
    for (;;) {
        r = recv_locked(link, net->rxbuf, sizeof(net->rxbuf));
        if (r > 0) {
            handle_record(link, net->rxbuf, (size_t)r);
            if (!link->tls) /* a goodbye tore the session down */
                return;
            continue;
        }
        if (r == 0) {
            net->glib_due = true;
            ipop__link_shutdown(link, IPOP_REASON_PEER_CLOSED, false);
            return;
        }
        if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED) {
            /* Records that fail to decrypt or replay are dropped and counted. */
            __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
            if (gnutls_error_is_fatal(r) && r != GNUTLS_E_DECRYPTION_FAILED &&
                r != GNUTLS_E_UNEXPECTED_PACKET_LENGTH && r != GNUTLS_E_UNEXPECTED_PACKET &&
                r != GNUTLS_E_UNSUPPORTED_VERSION_PACKET) {
                ipop__warn(net, "DTLS with %s failed: %s", short_id(link->peer_id), gnutls_strerror(r));
                net->glib_due = true;
                link_fail(link, IPOP_REASON_DTLS_FAILED);
                return;
            }
        }
        break;
    }
    link->rx_data = NULL;
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

    for (size_t at = 0, rl; at < len && link->tls; at += rl) {
        int n;

        if (len - at < IPOP__REC_HDR) {
            __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
            return;
        }
        rl = IPOP__REC_HDR + ((size_t)buf[at + 11] << 8 | buf[at + 12]);
        if (rl > len - at) {
            __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
            return;
        }
        if (buf[at] != IPOP__REC_APP_DATA) {
            net->glib_due = true;
            tls_feed(link, buf + at, rl);
            continue;
        }
        n = ipop__rec_open(&link->rec_rx, buf + at, rl, net->rxbuf, sizeof(net->rxbuf));
        if (n >= 0)
            handle_record(link, net->rxbuf, (size_t)n);
        else /* forged, corrupt, replayed, or of another epoch */
            __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
    }
}

/* A DTLS datagram from the peer: the handshake, or records. */
static void rx_datagram(ipop_link_t *link, const uint8_t *buf, size_t len)
{
    if (!link->tls)
        return; /* DTLS before the offer or answer: the peer retransmits */
    if (link->rec_on)
        rx_records(link, buf, len);
    else
        tls_feed(link, buf, len);
}

static void on_recv(NiceAgent *agent, guint stream, guint comp, guint len, gchar *buf, gpointer data)
{
    GSource *cur = g_main_current_source();

    /* libnice's socket source does not run nested: without this GLib
     * takes its fd out of the poll set and puts it back around every
     * dispatch, two wakeups of the context per datagram. */
    if (cur && !g_source_get_can_recurse(cur))
        g_source_set_can_recurse(cur, TRUE);
    rx_datagram(data, (const uint8_t *)buf, len);
}

/* ---- the direct path ---- */

/* With UDP GRO on the socket, the kernel hands over runs of datagrams of
 * one size from one sender as one (up to 64 KB), told by a UDP_GRO
 * control message: what the peer sent with UDP GSO arrives as it left. */
#define DRX_BATCH 8
#define DRX_SIZE 65536
#define DRX_ROUNDS 8 /* then the loop's other work has a turn */

struct ipop__drx {
    struct mmsghdr msgs[DRX_BATCH];
    struct iovec iov[DRX_BATCH];
    struct sockaddr_storage from[DRX_BATCH];
    union {
        struct cmsghdr h;
        uint8_t buf[CMSG_SPACE(sizeof(int))];
    } ctl[DRX_BATCH];
    uint8_t buf[DRX_BATCH][DRX_SIZE];
};

void ipop__link_drx_free(struct ipop__drx *drx)
{
    g_free(drx);
}

/* A STUN message on the direct path: a connectivity check is answered
 * (a peer that still runs consent freshness sends them); keepalive
 * indications and anything else are dropped. */
static void direct_stun(ipop_link_t *link, int fd, const uint8_t *buf, size_t len, const struct sockaddr_storage *from,
                        socklen_t from_len)
{
    uint8_t out[128];
    int n;

    if (!link->ice_ufrag || !link->ice_pwd)
        return;
    n = ipop__stun_answer(buf, len, link->ice_ufrag, link->ice_pwd, (const struct sockaddr *)from, out, sizeof(out));
    if (n > 0)
        sendto(fd, out, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)from, from_len);
}

/* The size of the datagrams a GRO read holds, or 0 for one datagram. */
static size_t gro_size(struct msghdr *m)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        int seg;
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(seg))) {
            memcpy(&seg, CMSG_DATA(c), sizeof(seg));
            return seg > 0 ? (size_t)seg : 0;
        }
    }
    return 0;
}

/* The peer's address on the selected pair, the only source of records the
 * direct path takes (as libnice takes data only from checked addresses). */
static bool from_peer_addr(const ipop_link_t *link, const struct sockaddr_storage *from)
{
    const struct sockaddr_storage *to = &link->direct_to;

    if (from->ss_family != to->ss_family)
        return false;
    if (from->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)from, *b = (const void *)to;
        return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    if (from->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)from, *b = (const void *)to;
        return a->sin6_port == b->sin6_port && memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
    }
    return false;
}

static void direct_datagram(ipop_link_t *link, int fd, const uint8_t *b, size_t len, const struct sockaddr_storage *from,
                            socklen_t from_len)
{
    /* RFC 7983: the first byte tells DTLS (20-63) from STUN (0-3). */
    if (len == 0)
        __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
    else if (b[0] >= 20 && b[0] <= 63 && from_peer_addr(link, from))
        rx_datagram(link, b, len);
    else if (b[0] <= 3)
        direct_stun(link, fd, b, len, from, from_len);
    else
        __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
}

/* While ICE is still checking (CONNECTED, not READY), libnice must see
 * every STUN message on the socket: a better pair may still be found, such
 * as a peer reflexive one only libnice can learn and take.  So each
 * datagram is peeked at first: DTLS is read here, and at the first other
 * one the socket is left to libnice's source (which then reads all that is
 * queued).  Returns false then. */
static bool direct_rx_checking(ipop_link_t *link, int fd)
{
    struct ipop__drx *d = link->net->drx;

    for (int i = 0; i < DRX_BATCH * DRX_ROUNDS && link->direct_fd == fd; i++) {
        uint8_t first;
        struct sockaddr_storage from;
        socklen_t from_len = sizeof(from);
        ssize_t n = recvfrom(fd, &first, 1, MSG_PEEK | MSG_DONTWAIT, (struct sockaddr *)&from, &from_len);
        struct msghdr *m = &d->msgs[0].msg_hdr;

        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            continue; /* an ICMP error for an earlier send, reported (and cleared) once */
        if (n < 0)
            return true;
        if (n == 0 || first < 20 || first > 63 || !from_peer_addr(link, &from))
            return false; /* STUN, data from another address, anything else: libnice's */
        n = recvmsg(fd, m, MSG_DONTWAIT);
        if (n <= 0)
            return true;
        direct_datagram(link, fd, d->buf[0], (size_t)n, &d->from[0], m->msg_namelen);
        m->msg_namelen = sizeof(d->from[0]);
        m->msg_controllen = sizeof(d->ctl[0]);
    }
    return true;
}

bool ipop__link_direct_rx(ipop_link_t *link)
{
    ipop_network_t *net = link->net;
    struct ipop__drx *d = net->drx;
    int fd = link->direct_fd;

    if (!d) {
        d = net->drx = g_new(struct ipop__drx, 1); /* its buffers touched only as they fill */
        for (int i = 0; i < DRX_BATCH; i++) {
            d->iov[i].iov_base = d->buf[i];
            d->iov[i].iov_len = DRX_SIZE;
            d->msgs[i].msg_hdr = (struct msghdr){ .msg_name = &d->from[i], .msg_namelen = sizeof(d->from[i]),
                                                  .msg_iov = &d->iov[i], .msg_iovlen = 1,
                                                  .msg_control = d->ctl[i].buf, .msg_controllen = sizeof(d->ctl[i]) };
        }
    }
    if (!link->ice_ready)
        return direct_rx_checking(link, fd);
    for (int round = 0; round < DRX_ROUNDS && fd >= 0 && link->direct_fd == fd; round++) {
        int n;

        n = recvmmsg(fd, d->msgs, DRX_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            /* An ICMP error for an earlier send is reported once, here. */
            if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH || errno == EINTR)
                continue;
            return true; /* EAGAIN: read dry */
        }
        /* A datagram may end the session (a goodbye): then stop. */
        for (int i = 0; i < n && link->direct_fd == fd; i++) {
            struct msghdr *m = &d->msgs[i].msg_hdr;
            size_t len = d->msgs[i].msg_len, seg = gro_size(m);
            socklen_t from_len = m->msg_namelen;

            if (m->msg_flags & MSG_TRUNC) {
                __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
                continue;
            }
            if (!seg || seg >= len) {
                direct_datagram(link, fd, d->buf[i], len, &d->from[i], from_len);
                continue;
            }
            for (size_t at = 0; at < len && link->direct_fd == fd; at += seg)
                direct_datagram(link, fd, d->buf[i] + at, MIN(seg, len - at), &d->from[i], from_len);
        }
        /* what the kernel wrote back, made ready for the next read */
        for (int i = 0; i < n; i++) {
            d->msgs[i].msg_hdr.msg_namelen = sizeof(d->from[i]);
            d->msgs[i].msg_hdr.msg_controllen = sizeof(d->ctl[i]);
        }
        if (n < DRX_BATCH)
            return true;
    }
    return true;
}

/* Leaves the direct path: sends go through libnice again, and the loop no
 * longer reads the socket (libnice's source does). */
static void direct_clear(ipop_link_t *link)
{
    ipop_network_t *net = link->net;

    if (link->direct_fd < 0)
        return;
    if (ipop__net_direct_get(net, link->direct_fd) == link) {
        int off = 0;
        ipop__net_direct_set(net, link->direct_fd, NULL);
        /* libnice reads the socket again: one datagram per read */
        setsockopt(link->direct_fd, SOL_UDP, UDP_GRO, &off, sizeof(off));
    }
    g_mutex_lock(&link->tx_lock);
    link->direct_fd = -1;
    g_mutex_unlock(&link->tx_lock);
}

/* Takes the direct path when DTLS is up over a selected pair whose local
 * side is a UDP socket of ours (host, server or peer reflexive: not a
 * TURN relay, not TCP), or leaves it. */
static void direct_update(ipop_link_t *link)
{
    NiceCandidate *local = NULL, *remote = NULL;
    struct sockaddr_storage to;
    GSocket *sock = NULL;
    int fd = -1;

    if (link->agent && link->tls_done &&
        nice_agent_get_selected_pair(link->agent, link->stream, 1, &local, &remote) &&
        local->type != NICE_CANDIDATE_TYPE_RELAYED && local->transport == NICE_CANDIDATE_TRANSPORT_UDP &&
        (sock = nice_agent_get_selected_socket(link->agent, link->stream, 1))) {
        fd = g_socket_get_fd(sock);
        g_object_unref(sock); /* the agent keeps it open until it is closed */
    }
    direct_clear(link);
    if (fd < 0)
        return;
    memset(&to, 0, sizeof(to));
    nice_address_copy_to_sockaddr(&remote->addr, (struct sockaddr *)&to);
    if (!link->ice_ufrag)
        nice_agent_get_local_credentials(link->agent, link->stream, &link->ice_ufrag, &link->ice_pwd);
    g_mutex_lock(&link->tx_lock);
    link->direct_to = to;
    link->direct_to_len = to.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    link->direct_fd = fd;
    g_mutex_unlock(&link->tx_lock);
    if (link->net->direct) {
        int on = 1;
        ipop__net_direct_set(link->net, fd, link);
        /* With UDP GRO only once ICE is READY: until then libnice reads
         * some datagrams too.  A kernel without it gives one datagram per
         * read, which works the same. */
        if (link->ice_ready)
            setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof(on));
    }
}

/* ---- ICE ---- */

static ipop_path_type_t path_type(NiceCandidateType t)
{
    switch (t) {
    case NICE_CANDIDATE_TYPE_HOST: return IPOP_PATH_HOST;
    case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE: return IPOP_PATH_SRFLX;
    case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE: return IPOP_PATH_PRFLX;
    case NICE_CANDIDATE_TYPE_RELAYED: return IPOP_PATH_RELAY;
    }
    return IPOP_PATH_UNKNOWN;
}

static void on_selected_pair(NiceAgent *agent, guint stream, guint comp, NiceCandidate *local,
                             NiceCandidate *remote, gpointer data)
{
    ipop_link_t *link = data;

    link->local_base = local->base_addr;
    g_atomic_int_set(&link->local_path, path_type(local->type));
    flush_early(link);
    g_atomic_int_set(&link->remote_path, path_type(remote->type));
    ipop__dbg(link->net, "link to %s: selected pair %s/%s", short_id(link->peer_id),
              ipop_path_type_str(path_type(local->type)), ipop_path_type_str(path_type(remote->type)));
    if (link->tls_done)
        direct_update(link); /* a pair that replaces the first */
}

static void on_component_state(NiceAgent *agent, guint stream, guint comp, guint state, gpointer data)
{
    ipop_link_t *link = data;

    ipop__dbg(link->net, "link to %s: ICE %s", short_id(link->peer_id), nice_component_state_to_string(state));
    if (state == NICE_COMPONENT_STATE_CONNECTED || state == NICE_COMPONENT_STATE_READY) {
        flush_early(link);
        link->ice_ready = state == NICE_COMPONENT_STATE_READY;
        if (link->tls_done)
            direct_update(link);
        if (link->controlling)
            tls_step(link);
    } else if (state == NICE_COMPONENT_STATE_FAILED) {
        link_fail(link, link->tls_done ? IPOP_REASON_CONSENT_LOST : IPOP_REASON_ICE_FAILED);
    }
}

static void send_desc(ipop_link_t *link, ipop__msg_type type);

static gboolean flush_cands(gpointer data)
{
    ipop_link_t *link = data;

    ipop__source_clear(&link->flush_src);
    send_desc(link, IPOP__MSG_CAND);
    return G_SOURCE_REMOVE;
}

static void schedule_flush(ipop_link_t *link)
{
    if (!link->flush_src)
        link->flush_src = ipop__net_timeout(link->net, 0, flush_cands, link);
}

static void on_new_candidate(NiceAgent *agent, NiceCandidate *cand, gpointer data)
{
    ipop_link_t *link = data;
    gchar *sdp = nice_agent_generate_local_candidate_sdp(agent, cand);

    if (!sdp)
        return;
    if (strlen(sdp) <= IPOP__SIGNAL_CAND_MAX)
        g_ptr_array_add(link->local_cands, sdp);
    else
        g_free(sdp);
    schedule_flush(link);
}

static void on_gathering_done(NiceAgent *agent, guint stream, gpointer data)
{
    ipop_link_t *link = data;

    link->local_done = true;
    schedule_flush(link);
}

static void tune_sockets(ipop_link_t *link)
{
    GPtrArray *socks = nice_agent_get_sockets(link->agent, link->stream, 1);
    int size = SOCKET_BUF;

    for (guint i = 0; socks && i < socks->len; i++) {
        int fd = g_socket_get_fd(socks->pdata[i]);
        /* FORCE lets root go past net.core.[rw]mem_max; others get the cap. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    }
    if (socks)
        g_ptr_array_unref(socks);
}

/* Host candidates: every address that is up, except loopback, IPv6
 * link-local, our own device, and anything inside our virtual subnets (a
 * path through the overlay itself would carry the link inside itself).
 * Returns how many were added; with none, libnice picks its own. */
static unsigned add_host_addresses(NiceAgent *agent, ipop_network_t *net)
{
    struct ifaddrs *ifs = NULL;
    unsigned n = 0;

    if (getifaddrs(&ifs) < 0)
        return 0;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        ipop__addr a = { 0 };
        NiceAddress na;
        if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        if (net->dev_name[0] && !strcmp(i->ifa_name, net->dev_name))
            continue;
        if (i->ifa_addr->sa_family == AF_INET) {
            a.family = AF_INET;
            memcpy(a.bytes, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            const struct in6_addr *v6 = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
            if (IN6_IS_ADDR_LINKLOCAL(v6))
                continue;
            a.family = AF_INET6;
            memcpy(a.bytes, v6, 16);
        } else {
            continue;
        }
        if (ipop__addr_in_subnet(&net->addr4, &a) || ipop__addr_in_subnet(&net->addr6, &a))
            continue;
        nice_address_init(&na);
        nice_address_set_from_sockaddr(&na, i->ifa_addr);
        if (nice_agent_add_local_address(agent, &na))
            n++;
    }
    freeifaddrs(ifs);
    return n;
}

static int start_agent(ipop_link_t *link)
{
    ipop_network_t *net = link->net;
    NiceAgent *agent;

    /* No consent freshness from libnice: on the direct path the library
     * reads the socket itself and libnice would never see the answers to
     * its checks.  The link's own liveness replaces it: authenticated
     * pings inside DTLS, and ICE is started again after 2.5 s without a
     * record (on_ping_timer), which stops sending to a peer that no longer
     * answers sooner than consent freshness's 30 s. */
    agent = nice_agent_new_full(net->ctx, NICE_COMPATIBILITY_RFC5245, NICE_AGENT_OPTION_ICE_TRICKLE);
    if (!agent)
        return -ENOMEM;
    g_object_set(agent, "upnp", FALSE, "controlling-mode", link->controlling, "ice-tcp", net->ice_tcp,
                 "force-relay", net->relay_only, NULL);
    /* libnice takes one STUN server per agent: the first that answers. */
    link->stun_idx = ipop__net_stun_pick(net);
    if (link->stun_idx >= 0) {
        stun_server *s = net->stun->pdata[link->stun_idx];
        g_object_set(agent, "stun-server", s->ip, "stun-server-port", s->port, NULL);
    }
    for (guint i = 0; i < net->local_addrs->len; i++) {
        NiceAddress addr;
        if (nice_address_set_from_string(&addr, net->local_addrs->pdata[i]))
            nice_agent_add_local_address(agent, &addr);
    }
    if (net->local_addrs->len == 0)
        add_host_addresses(agent, net);
    link->stream = nice_agent_add_stream(agent, 1);
    if (link->stream == 0) {
        g_object_unref(agent);
        return -ENOMEM;
    }
    nice_agent_set_stream_name(agent, link->stream, "application");
    for (guint i = 0; i < net->turn->len; i++) {
        relay_server *t = net->turn->pdata[i];
        nice_agent_set_relay_info(agent, link->stream, 1, t->ip, t->port, t->user, t->pass, t->type);
    }
    g_signal_connect(agent, "component-state-changed", G_CALLBACK(on_component_state), link);
    g_signal_connect(agent, "new-candidate-full", G_CALLBACK(on_new_candidate), link);
    g_signal_connect(agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), link);
    g_signal_connect(agent, "new-selected-pair-full", G_CALLBACK(on_selected_pair), link);
    nice_agent_attach_recv(agent, link->stream, 1, net->ctx, on_recv, link);

    link->local_cands = g_ptr_array_new_with_free_func(g_free);
    link->sent_cands = g_ptr_array_new_with_free_func(g_free);
    link->pending_cands = g_ptr_array_new_with_free_func(g_free);
    link->local_done = link->local_done_sent = false;
    link->ice_ready = false;
    g_mutex_lock(&link->tx_lock);
    link->agent = agent;
    g_mutex_unlock(&link->tx_lock);
    /* Candidates may be reported from inside this call: they are queued. */
    if (!nice_agent_gather_candidates(agent, link->stream)) {
        ipop__warn(net, "link to %s: gathering candidates failed", short_id(link->peer_id));
        return -EIO;
    }
    tune_sockets(link);
    return 0;
}

static void on_agent_closed(GObject *src, GAsyncResult *res, gpointer data)
{
    ipop_network_t *net = data;

    g_object_unref(src);
    g_atomic_int_add(&net->closing_agents, -1);
}

static void on_recv_closing(NiceAgent *agent, guint stream, guint comp, guint len, gchar *buf, gpointer data)
{
    /* an agent being closed: what still comes is read and dropped */
}

/* Releases the session's ICE agent, DTLS session and timers; the link
 * object stays. */
static void teardown(ipop_link_t *link)
{
    ipop_network_t *net = link->net;
    NiceAgent *agent;
    gnutls_session_t tls;

    ipop__source_clear(&link->tls_timer);
    ipop__source_clear(&link->timeout_src);
    ipop__source_clear(&link->ping_src);
    ipop__source_clear(&link->flush_src);
    if (link->in_fwd) {
        ipop__fwd_remove_owner(net->fwd, link);
        link->in_fwd = false;
    }
    direct_clear(link); /* before the agent's socket closes */
    g_clear_pointer(&link->ice_ufrag, g_free);
    g_clear_pointer(&link->ice_pwd, g_free);
    g_mutex_lock(&link->tx_lock);
    link->rec_on = false;
    ipop__rec_clear(&link->rec_tx);
    ipop__rec_clear(&link->rec_rx);
    tls = link->tls;
    agent = link->agent;
    link->tls = NULL;
    link->tls_done = false;
    link->agent = NULL;
    g_mutex_unlock(&link->tx_lock);
    if (tls)
        gnutls_deinit(tls);
    drop_early(link);
    if (agent) {
        g_signal_handlers_disconnect_by_data(agent, link);
        /* Until the close completes (TURN allocations are released, which
         * takes seconds when the server is gone), datagrams still come in:
         * without a callback libnice leaves them queued, the socket stays
         * readable and the loop spins. */
        nice_agent_attach_recv(agent, link->stream, 1, net->ctx, on_recv_closing, NULL);
        g_atomic_int_inc(&net->closing_agents);
        /* The close completes on the thread-default context: make it ours
         * (a host loop calling in has its own default). */
        g_main_context_push_thread_default(net->ctx);
        nice_agent_close_async(agent, on_agent_closed, net);
        g_main_context_pop_thread_default(net->ctx);
    }
    g_clear_pointer(&link->local_cands, g_ptr_array_unref);
    g_clear_pointer(&link->sent_cands, g_ptr_array_unref);
    ipop__source_clear(&link->resend_src);
    g_clear_pointer(&link->pending_cands, g_ptr_array_unref);
    link->remote_known = false;
    link->rx_data = NULL;
    g_atomic_int_set(&link->local_path, IPOP_PATH_UNKNOWN);
    g_atomic_int_set(&link->remote_path, IPOP_PATH_UNKNOWN);
}

void ipop__link_free(ipop_link_t *link)
{
    if (!link)
        return;
    teardown(link);
    g_mutex_clear(&link->tx_lock);
    g_free(link->tx_batch);
    g_free(link);
}

/* ---- signalling ---- */

static void msg_header(ipop_link_t *link, ipop__msg *m, ipop__msg_type type)
{
    memset(m, 0, sizeof(*m));
    m->type = type;
    g_strlcpy(m->node_id, link->net->node_id, sizeof(m->node_id));
    g_strlcpy(m->session, link->session, sizeof(m->session));
}

/* Candidates per message: 8 of the longest possible lines stay within
 * IPOP__SIGNAL_MAX once percent-encoded. */
#define CANDS_PER_MSG 8

/* Sends an offer, answer or candidates, with the local candidates queued
 * so far (more CAND messages follow when there are more than fit). */
static void send_desc(ipop_link_t *link, ipop__msg_type type)
{
    ipop__msg *m;
    bool first = true;

    if (!link->agent || !link->local_cands)
        return;
    m = g_new(ipop__msg, 1);
    while (first || link->local_cands->len > 0 || (link->local_done && !link->local_done_sent)) {
        msg_header(link, m, first ? type : IPOP__MSG_CAND);
        if (m->type != IPOP__MSG_CAND) {
            gchar *ufrag = NULL, *pwd = NULL;
            nice_agent_get_local_credentials(link->agent, link->stream, &ufrag, &pwd);
            g_strlcpy(m->ufrag, ufrag ? ufrag : "", sizeof(m->ufrag));
            g_strlcpy(m->pwd, pwd ? pwd : "", sizeof(m->pwd));
            g_free(ufrag);
            g_free(pwd);
            memcpy(m->fingerprint, ipop__identity_fingerprint(link->net->id), 32);
            m->has_fingerprint = true;
            m->addr4 = link->net->addr4;
            m->addr6 = link->net->addr6;
            m->seq = link->my_seq;
        }
        while (m->n_cands < CANDS_PER_MSG && link->local_cands->len > 0) {
            g_strlcpy(m->cands[m->n_cands++], link->local_cands->pdata[0], IPOP__SIGNAL_CAND_MAX + 1);
            g_ptr_array_add(link->sent_cands, g_ptr_array_steal_index(link->local_cands, 0));
        }
        if (link->local_done && link->local_cands->len == 0) {
            m->cands_done = true;
            link->local_done_sent = true;
        }
        if (m->type != IPOP__MSG_CAND || m->n_cands > 0 || m->cands_done)
            ipop__net_send_signal(link->net, link->peer_id, m);
        first = false;
    }
    g_free(m);
}

/* Sends the offer or answer again, with every candidate signalled so far:
 * the first may have been lost, or dropped by a peer that was offering
 * itself at the time. */
static void resend_desc(ipop_link_t *link, ipop__msg_type type)
{
    if (!link->agent || !link->sent_cands)
        return;
    for (guint i = link->sent_cands->len; i > 0; i--)
        g_ptr_array_insert(link->local_cands, 0, g_ptr_array_steal_index(link->sent_cands, i - 1));
    link->local_done_sent = false;
    send_desc(link, type);
}

static gboolean on_resend(gpointer data)
{
    ipop_link_t *link = data;

    if (link->remote_known) {
        ipop__source_clear(&link->resend_src);
        return G_SOURCE_REMOVE;
    }
    ipop__dbg(link->net, "link to %s: no answer yet, offering again", short_id(link->peer_id));
    resend_desc(link, IPOP__MSG_OFFER);
    return G_SOURCE_CONTINUE;
}

static void add_remote_cands(ipop_link_t *link, char (*cands)[IPOP__SIGNAL_CAND_MAX + 1], unsigned n,
                             bool done)
{
    GSList *list = NULL;

    for (unsigned i = 0; i < n; i++) {
        NiceCandidate *c = nice_agent_parse_remote_candidate_sdp(link->agent, link->stream, cands[i]);
        if (c)
            list = g_slist_prepend(list, c);
        else
            ipop__dbg(link->net, "link to %s: ignored candidate '%s'", short_id(link->peer_id), cands[i]);
    }
    if (list) {
        nice_agent_set_remote_candidates(link->agent, link->stream, 1, list);
        g_slist_free_full(list, (GDestroyNotify)nice_candidate_free);
    }
    if (done)
        nice_agent_peer_candidate_gathering_done(link->agent, link->stream);
}

static int apply_remote(ipop_link_t *link, const ipop__msg *m)
{
    int r;

    memcpy(link->remote_fp, m->fingerprint, sizeof(link->remote_fp));
    link->raddr4 = m->addr4;
    link->raddr6 = m->addr6;
    if (link->net->auto4 && m->addr4.family && ipop__addr_equal_host(&m->addr4, &link->net->addr4))
        ipop__net_addr_conflict(link->net, link, AF_INET);
    if (link->net->auto6 && m->addr6.family && ipop__addr_equal_host(&m->addr6, &link->net->addr6))
        ipop__net_addr_conflict(link->net, link, AF_INET6);
    if (!nice_agent_set_remote_credentials(link->agent, link->stream, m->ufrag, m->pwd))
        return -EINVAL;
    r = tls_setup(link);
    if (r < 0)
        return r;
    link->remote_known = true;
    add_remote_cands(link, (char (*)[IPOP__SIGNAL_CAND_MAX + 1])m->cands, m->n_cands, m->cands_done);
    for (guint i = 0; i < link->pending_cands->len; i++) {
        const char *c = link->pending_cands->pdata[i];
        char one[1][IPOP__SIGNAL_CAND_MAX + 1];
        if (*c == '\0') { /* an end-of-candidates mark */
            nice_agent_peer_candidate_gathering_done(link->agent, link->stream);
            continue;
        }
        g_strlcpy(one[0], c, sizeof(one[0]));
        add_remote_cands(link, one, 1, false);
    }
    g_ptr_array_set_size(link->pending_cands, 0);
    return 0;
}

static gboolean on_link_timeout(gpointer data)
{
    ipop_link_t *link = data;

    ipop__source_clear(&link->timeout_src);
    ipop__warn(link->net, "link to %s did not come up within %u s", short_id(link->peer_id),
               link->restarted ? MIN(link->net->link_timeout_s, RESTART_TIMEOUT_S) : link->net->link_timeout_s);
    link_fail(link, link->restarted ? IPOP_REASON_PATH_LOST : IPOP_REASON_TIMEOUT);
    return G_SOURCE_REMOVE;
}

/* Orders this node's offers and answers, across restarts too: from the
 * clock, and always increasing. */
static uint64_t next_seq(ipop_network_t *net)
{
    uint64_t now = (uint64_t)g_get_real_time();

    net->seq_last = MAX(net->seq_last + 1, now);
    return net->seq_last;
}

/* Starts a session: ours (offerer) or the one the peer offered. */
static int begin(ipop_link_t *link, const char *session, bool offerer, ipop_reason_t why)
{
    uint8_t rnd[IPOP__SESSION_LEN / 2];
    int r;

    teardown(link);
    if (session) {
        g_strlcpy(link->session, session, sizeof(link->session));
    } else {
        gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd));
        for (size_t i = 0; i < sizeof(rnd); i++)
            snprintf(link->session + 2 * i, 3, "%02x", rnd[i]);
    }
    link->offerer = offerer;
    link->my_seq = next_seq(link->net);
    g_atomic_int_set(&link->rtt_us, 0);
    set_state(link, IPOP_LINK_CONNECTING, why);
    r = start_agent(link);
    if (r < 0) {
        link_fail(link, IPOP_REASON_ICE_FAILED);
        return r;
    }
    link->timeout_src = ipop__net_timeout(
        link->net, (link->restarted ? MIN(link->net->link_timeout_s, RESTART_TIMEOUT_S) : link->net->link_timeout_s) * 1000,
        on_link_timeout, link);
    return 0;
}

int ipop__link_renew(ipop_link_t *link)
{
    g_strlcpy(link->dead_session, link->session, sizeof(link->dead_session));
    ipop__link_shutdown(link, IPOP_REASON_SUPERSEDED, true);
    return ipop__link_open(link);
}

static int open_session(ipop_link_t *link, ipop_reason_t why)
{
    int r = begin(link, NULL, true, why);

    if (r == 0) {
        send_desc(link, IPOP__MSG_OFFER);
        link->resend_src = ipop__net_timeout(link->net, OFFER_RESEND_MS, on_resend, link);
    }
    return r;
}

int ipop__link_open(ipop_link_t *link)
{
    link->restarted = false;
    return open_session(link, IPOP_REASON_NONE);
}

void ipop__link_restart(ipop_link_t *link, ipop_reason_t why)
{
    int state = g_atomic_int_get(&link->state);

    if (state != IPOP_LINK_CONNECTED && state != IPOP_LINK_CONNECTING)
        return;
    /* No goodbye: our newer offer (a higher seq) tells the peer that the
     * old session is over, and a peer that restarts too settles with us by
     * the rules for crossed offers. */
    g_strlcpy(link->dead_session, link->session, sizeof(link->dead_session));
    link->restarted = true;
    open_session(link, why);
}

bool ipop__link_lost_base(ipop_link_t *link, GPtrArray *present)
{
    if (g_atomic_int_get(&link->local_path) == IPOP_PATH_UNKNOWN || !nice_address_is_valid(&link->local_base))
        return false;
    for (guint i = 0; i < present->len; i++)
        if (nice_address_equal_no_port(present->pdata[i], &link->local_base))
            return false;
    return true;
}

void ipop__link_regather(ipop_link_t *link)
{
    if (g_atomic_int_get(&link->state) != IPOP_LINK_CONNECTING || link->tls_done)
        return;
    g_strlcpy(link->dead_session, link->session, sizeof(link->dead_session));
    open_session(link, IPOP_REASON_NONE);
}

void ipop__link_signalling_back(ipop_link_t *link)
{
    if (g_atomic_int_get(&link->state) != IPOP_LINK_CONNECTING || !link->agent)
        return;
    if (link->offerer && !link->remote_known)
        resend_desc(link, IPOP__MSG_OFFER);
    else if (!link->offerer)
        resend_desc(link, IPOP__MSG_ANSWER);
}

static void on_offer(ipop_link_t *link, const ipop__msg *m)
{
    int state = g_atomic_int_get(&link->state);
    bool active = state == IPOP_LINK_CONNECTING || state == IPOP_LINK_CONNECTED, moved_on;

    if (active && strcmp(link->session, m->session) == 0) {
        /* A repeat of the session we are in: our answer may have been lost. */
        if (!link->offerer && state == IPOP_LINK_CONNECTING)
            resend_desc(link, IPOP__MSG_ANSWER);
        return;
    }
    /* An offer older than something the peer said since: it gave that
     * session up (its offer crossed ours and it answered ours). */
    if (!strcmp(m->session, link->dead_session) || (m->seq && m->seq < link->peer_seq)) {
        /* (the same seq is the same session, offered again: not stale) */
        ipop__dbg(link->net, "link to %s: stale offer ignored", short_id(link->peer_id));
        return;
    }
    /* Newer than the peer's answer to our offer: the peer gave our session
     * up (it started again, or moved to another address). */
    moved_on = link->remote_known && m->seq > link->peer_seq;
    link->peer_seq = MAX(link->peer_seq, m->seq);
    /* Both sides offered: the smaller node id's offer wins. */
    if (state == IPOP_LINK_CONNECTING && link->offerer && !moved_on &&
        strcmp(link->net->node_id, link->peer_id) < 0) {
        ipop__dbg(link->net, "link to %s: both sides offered; ours wins", short_id(link->peer_id));
        resend_desc(link, IPOP__MSG_OFFER); /* the peer may have dropped ours, or started again */
        return;
    }
    if (begin(link, m->session, false, active ? IPOP_REASON_SUPERSEDED : IPOP_REASON_NONE) < 0)
        return;
    if (apply_remote(link, m) < 0) {
        link_fail(link, IPOP_REASON_BAD_MESSAGE);
        return;
    }
    send_desc(link, IPOP__MSG_ANSWER);
}

void ipop__link_handle(ipop_link_t *link, const ipop__msg *m)
{
    bool ours = link->agent && strcmp(link->session, m->session) == 0;

    switch (m->type) {
    case IPOP__MSG_OFFER:
        on_offer(link, m);
        break;
    case IPOP__MSG_ANSWER:
        if (!ours || !link->offerer || link->remote_known)
            return; /* stale or repeated */
        link->peer_seq = MAX(link->peer_seq, m->seq);
        if (apply_remote(link, m) < 0)
            link_fail(link, IPOP_REASON_BAD_MESSAGE);
        break;
    case IPOP__MSG_CAND:
        if (!ours)
            return;
        if (link->remote_known) {
            add_remote_cands(link, (char (*)[IPOP__SIGNAL_CAND_MAX + 1])m->cands, m->n_cands, m->cands_done);
        } else {
            for (unsigned i = 0; i < m->n_cands; i++)
                g_ptr_array_add(link->pending_cands, g_strdup(m->cands[i]));
            if (m->cands_done)
                g_ptr_array_add(link->pending_cands, g_strdup(""));
        }
        break;
    case IPOP__MSG_BYE:
        if (ours)
            ipop__link_shutdown(link, IPOP_REASON_PEER_CLOSED, false);
        break;
    }
}

static void say_bye(ipop_link_t *link, ipop_reason_t reason)
{
    uint8_t frame[IPOP__FRAME_BYE_LEN];
    ipop__msg *m;

    if (ipop__frame_put_bye(frame, sizeof(frame), (uint8_t)reason) > 0)
        ipop__link_send_record(link, frame, sizeof(frame));
    m = g_new(ipop__msg, 1);
    msg_header(link, m, IPOP__MSG_BYE);
    m->reason = reason;
    ipop__net_send_signal(link->net, link->peer_id, m);
    g_free(m);
}

void ipop__link_shutdown(ipop_link_t *link, ipop_reason_t reason, bool bye)
{
    bool closing = reason == IPOP_REASON_LOCAL_CLOSED || reason == IPOP_REASON_PEER_CLOSED;
    int state = g_atomic_int_get(&link->state);

    if (state == IPOP_LINK_CLOSED || (state == IPOP_LINK_FAILED && !closing) || state == IPOP_LINK_NEW)
        return;
    if (bye && link->agent)
        say_bye(link, reason);
    teardown(link);
    set_state(link, closing ? IPOP_LINK_CLOSED : IPOP_LINK_FAILED, reason);
}

static void link_fail(ipop_link_t *link, ipop_reason_t reason)
{
    ipop__link_shutdown(link, reason, true);
}

/* ---- links, public ---- */

IPOP_EXPORT int ipop_link_get_state(ipop_link_t *link)
{
    return link ? g_atomic_int_get(&link->state) : -EINVAL;
}

IPOP_EXPORT const char *ipop_link_get_peer_id(ipop_link_t *link)
{
    return link ? link->peer_id : NULL;
}

IPOP_EXPORT int ipop_link_get_stats(ipop_link_t *link, ipop_link_stats_t *stats)
{
    ipop_link_stats_t s;
    size_t n;

    if (!link || !stats || stats->size < offsetof(ipop_link_stats_t, tx_packets))
        return -EINVAL;
    memset(&s, 0, sizeof(s));
    n = MIN(stats->size, sizeof(s));
    s.size = n;
    s.state = g_atomic_int_get(&link->state);
    s.reason = g_atomic_int_get(&link->reason);
    s.tx_packets = __atomic_load_n(&link->tx_packets, __ATOMIC_RELAXED);
    s.tx_bytes = __atomic_load_n(&link->tx_bytes, __ATOMIC_RELAXED);
    s.rx_packets = __atomic_load_n(&link->rx_packets, __ATOMIC_RELAXED);
    s.rx_bytes = __atomic_load_n(&link->rx_bytes, __ATOMIC_RELAXED);
    s.tx_drops = __atomic_load_n(&link->tx_drops, __ATOMIC_RELAXED);
    s.rx_drops = __atomic_load_n(&link->rx_drops, __ATOMIC_RELAXED);
    s.rtt_us = g_atomic_int_get(&link->rtt_us);
    s.local_path = g_atomic_int_get(&link->local_path);
    s.remote_path = g_atomic_int_get(&link->remote_path);
    g_strlcpy(s.peer_id, link->peer_id, sizeof(s.peer_id));
    {
        const ipop__addr *a = link->alias4.family ? &link->alias4 : &link->raddr4;
        if (a->family && ipop__addr_format(a, s.address, sizeof(s.address)) > 0)
            s.address[strcspn(s.address, "/")] = '\0'; /* an address to ping, not a route */
        g_strlcpy(s.name, link->name, sizeof(s.name));
    }
    {
        ipop_link_t *via = ipop__relay_via(link);
        if (via) {
            s.local_path = s.remote_path = IPOP_PATH_MEMBER;
            g_strlcpy(s.relay_id, via->peer_id, sizeof(s.relay_id));
        }
        s.relayed_packets = __atomic_load_n(&link->relayed_packets, __ATOMIC_RELAXED);
        s.relay_drops = __atomic_load_n(&link->relay_drops, __ATOMIC_RELAXED);
    }
    memcpy(stats, &s, n);
    return 0;
}

static void do_close(ipop_network_t *net, void *p)
{
    ipop__link_shutdown(p, IPOP_REASON_LOCAL_CLOSED, true);
}

IPOP_EXPORT int ipop_link_close(ipop_link_t *link)
{
    int state;

    if (!link)
        return -EINVAL;
    state = g_atomic_int_get(&link->state);
    if (state == IPOP_LINK_CLOSED || state == IPOP_LINK_NEW)
        return -EALREADY;
    if (!g_atomic_int_get(&link->net->running))
        return -ENOTCONN;
    ipop__net_call(link->net, do_close, link);
    return 0;
}
