/* SPDX-License-Identifier: MIT */
/* A TinCan link's session (link.h): the state machine over one ICE
 * transport (ice.c) carrying one DTLS session (dtls.c), sent and read on
 * the direct path (direct.c) once it can be; offers, answers, restarts,
 * liveness pings and the RTT, goodbyes; and the public ipop_link_* calls.
 * Everything here runs in the network's loop thread, except
 * ipop__link_send_packet() and the public calls, which any thread may call.
 *
 * Session rules (doc/protocol.md): the side that opens a link sends an
 * offer with a fresh session id; the other answers.  Both trickle
 * candidates.  The smaller node id is ICE-controlling and the DTLS client.
 * When both sides offer at once, the offer of the smaller node id wins. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "addr.h"
#include "direct.h"
#include "dtls.h"
#include "forward.h"
#include "frame.h"
#include "ice.h"
#include "identity.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "message.h"
#include "names.h"
#include "network.h"
#include "rewrite.h"
#include "routes.h"

/* Liveness, send-triggered as WireGuard's timers are (doc/scale.md, "Idle
 * links").  An idle link sends nothing of its own: libnice's keepalive (a
 * STUN binding indication on the selected pair every 25 s, RFC 8445 11)
 * holds the NAT binding each way.  A tick every 500 ms once DTLS is up
 * looks whether packets went out since the last one; if nothing came back
 * since, the link waits for the peer.  After PROBE_MS of waiting a ping
 * goes out at each tick (the peer answers it even when it has nothing to
 * send), after SUSPECT_MS the signalling server is asked whether it is
 * still there, after PATH_LOST_MS the path counts as lost and ICE starts
 * again with fresh candidates: within 2-2.5 s of the first unanswered
 * send.  While traffic flows a ping every RTT_PING_MS samples the RTT.  A
 * restarted session that is not up within 9 s fails (path-lost). */
#define TICK_MS 500
#define PROBE_MS 1000
#define SUSPECT_MS 1500
#define PATH_LOST_MS 2500
#define RTT_PING_MS 5000
#define RESTART_TIMEOUT_S 9
/* Signalling that never feeds on itself (doc/scale.md, "Signalling").  An
 * unanswered offer is sent again after 2 s, then after twice the wait each
 * time up to 16 s, each wait stretched by up to a quarter at random; the
 * link times out first (link.timeout, 30 s).  Offers (sessions we open,
 * restarts and repeats included) leave at a pace: a GCRA of PACE_RATE bytes per second
 * with a burst of PACE_BURST, each offer counted at OFFER_COST (an offer
 * with its trickled candidates, signed and encoded, as a stanza); the
 * peer's answer is paced by the offers it answers.  Designed to stay within
 * ejabberd's default c2s shaper (23.01: "normal", 3000 B/s, burst 20000 B)
 * with a margin: what a server throttles stalls the XMPP session itself. */
#define OFFER_RESEND_MS 2000
#define OFFER_RESEND_MAX_MS 16000
#define OFFER_COST 1500
#define PACE_RATE 2400
#define PACE_BURST 16000

static void link_fail(ipop_link_t *link, ipop_reason_t reason);

/* ---- addresses belong to someone ---- */

/* A peer's claim of an address is refused: it is not routed to the peer,
 * nor accepted as the source of its packets (rx.c checks raddr).  Reported
 * as an event; logged once per link per minute. */
static void refuse_addr(ipop_link_t *link, ipop__addr *a, const char *holder)
{
    ipop_network_t *net = link->net;
    gint64 now = g_get_monotonic_time();
    char text[64], detail[200];

    ipop__addr_format(a, text, sizeof(text));
    snprintf(detail, sizeof(detail), "peer %.16s claimed %s, which %s holds: refused", link->peer_id, text, holder);
    memset(a, 0, sizeof(*a));
    __atomic_fetch_add(&net->bad_messages, 1, __ATOMIC_RELAXED);
    if (!link->addr_logged_at || now - link->addr_logged_at >= 60 * G_USEC_PER_SEC) {
        link->addr_logged_at = now;
        ipop__warn(net, "%s", detail);
    }
    ipop__net_emit_simple(net, IPOP_EVENT_PEER_REFUSED, link->peer_id, link, IPOP_REASON_ADDRESS_IN_USE,
                          -EADDRINUSE, detail);
}

/* An address from the peer's offer or answer: refused when it is ours (the
 * automatic-address rule may then move us: autoaddr.c) or another
 * connected peer's.  SocialVPN friends' own addresses live in their own
 * spaces (each is reached at an alias): not checked. */
static void take_addr(ipop_link_t *link, ipop__addr *a)
{
    ipop_network_t *net = link->net;
    const ipop__addr *own = a->family == AF_INET ? &net->addr4 : &net->addr6;
    void *owner;

    if (!a->family || net->overlay == OVERLAY_SOCIAL)
        return;
    if (own->family && ipop__addr_equal_host(a, own)) {
        link->ops->addr_conflict(net, link, a->family);
        refuse_addr(link, a, "this node");
        return;
    }
    owner = ipop__fwd_lookup_ip(net->fwd, a);
    if (owner && owner != link)
        refuse_addr(link, a, "another connected peer");
}

/* At link up: routes the peer's address to it unless a peer connected
 * earlier holds it (two claims that crossed). */
static void claim_addr(ipop_link_t *link, ipop__addr *a)
{
    int r;

    if (!a->family)
        return;
    r = link->net->overlay == OVERLAY_SOCIAL ? ipop__fwd_add_ip(link->net->fwd, a, link)
                                             : ipop__fwd_claim_ip(link->net->fwd, a, link);
    if (r == -EADDRINUSE)
        refuse_addr(link, a, "another connected peer");
    else if (r < 0)
        ipop__err(link->net, "link to %s: cannot add its address to the forwarding table", ipop__link_tag(link->peer_id));
}

static void set_state(ipop_link_t *link, ipop_link_state_t state, ipop_reason_t reason)
{
    ipop_network_t *net = link->net;
    char detail[128];

    if (g_atomic_int_get(&link->state) == (gint)state)
        return;
    g_atomic_int_set(&link->reason, reason);
    /* Routes first, then CONNECTED: a host that sees the state (another
     * thread polling ipop_link_get_state) may send at once, and must find
     * the route there. */
    if (state != IPOP_LINK_CONNECTED)
        g_atomic_int_set(&link->state, state);

    if (state == IPOP_LINK_CONNECTED && !link->in_fwd) {
        /* A SocialVPN friend is reached at its alias here, over IPv4 only;
         * other peers at their own addresses, unless a peer connected
         * earlier holds them (claim_addr). */
        if (link->alias4.family && ipop__fwd_add_ip(net->fwd, &link->alias4, link) < 0)
            ipop__err(net, "link to %s: cannot add its alias to the forwarding table", ipop__link_tag(link->peer_id));
        if (!link->alias4.family) {
            claim_addr(link, &link->raddr4);
            claim_addr(link, &link->raddr6);
        }
        link->in_fwd = true;
        link->ever_connected = true;
        ipop__routes_link_up(link);
    } else if (state != IPOP_LINK_CONNECTED && link->in_fwd) {
        ipop__fwd_remove_owner(net->fwd, link);
        ipop__routes_link_down(link);
        link->in_fwd = false;
    }
    if (state == IPOP_LINK_CONNECTED)
        g_atomic_int_set(&link->state, state);
    if (state == IPOP_LINK_CONNECTED)
        link->ops->link_up(net, link); /* TAP: the neighbour requests it missed */
    snprintf(detail, sizeof(detail), "link to %s %s%s%s%s", ipop__link_tag(link->peer_id), ipop_link_state_str(state),
             reason ? " (" : "", reason ? ipop_reason_str(reason) : "", reason ? ")" : "");
    ipop__info(net, "%s", detail);
    ipop__net_emit_simple(net, IPOP_EVENT_LINK_STATE, link->peer_id, link, reason, 0, detail);
}

/* ---- what the transports report ---- */

static void send_ping(ipop_link_t *link, gint64 now)
{
    uint8_t buf[IPOP__FRAME_PING_LEN];

    link->rtt_at = now;
    if (ipop__frame_put_ping(buf, sizeof(buf), IPOP__FRAME_PING, ++link->ping_seq, (uint64_t)now) > 0)
        ipop__dtls_send_record(link, buf, sizeof(buf));
}

/* Whether packets went out since the last tick with nothing heard since:
 * then the link waits for the peer, from the last tick on (the send came
 * after it) or from the last record heard, whichever is later. */
static void note_sends(ipop_link_t *link, gint64 now)
{
    guint64 sent = __atomic_load_n(&link->tx_packets, __ATOMIC_RELAXED);

    if (link->await_since && link->last_rx >= link->await_since) {
        link->await_since = 0;
        link->suspected = false;
    }
    if (sent != link->sent_seen && !link->await_since)
        link->await_since = MAX(link->last_tick, link->last_rx + 1);
    if (sent != link->sent_seen && now - link->rtt_at >= RTT_PING_MS * 1000)
        send_ping(link, now);
    link->sent_seen = sent;
    link->last_tick = now;
}

static gboolean on_ping_timer(gpointer data)
{
    ipop_link_t *link = data;
    gint64 now = g_get_monotonic_time(), wait_ms;

    note_sends(link, now);
    wait_ms = link->await_since ? (now - link->await_since) / 1000 : 0;
    if (wait_ms >= PATH_LOST_MS) {
        ipop__info(link->net, "link to %s: nothing heard for %" G_GINT64_FORMAT " ms after sending: starting ICE again",
                   ipop__link_tag(link->peer_id), wait_ms);
        ipop__link_restart(link, IPOP_REASON_PATH_LOST);
        return G_SOURCE_REMOVE;
    }
    if (ipop__dtls_rekey_tick(link) < 0) {
        /* the keys are not renewed in place: a new session (a new handshake) */
        ipop__link_restart(link, IPOP_REASON_REKEY_FAILED);
        return G_SOURCE_REMOVE;
    }
    if (wait_ms >= SUSPECT_MS && !link->suspected) {
        link->suspected = true;
        link->ops->path_suspect(link->net);
    }
    if (wait_ms >= PROBE_MS)
        send_ping(link, now);
    return G_SOURCE_CONTINUE;
}

static void handle_record(ipop_link_t *link, const uint8_t *rec, size_t len);
static void send_desc(ipop_link_t *link, ipop__msg_type type);

static gboolean flush_cands(gpointer data)
{
    ipop_link_t *link = data;

    ipop__source_clear(&link->flush_src);
    if (link->desc_held && !ipop__ice_mapping_pending(link)) {
        ipop__msg_type type = (ipop__msg_type)link->desc_held;
        link->desc_held = 0;
        send_desc(link, type); /* the mappers spoke: with the mapped address */
    } else if (!link->offer_held && !link->desc_held) {
        send_desc(link, IPOP__MSG_CAND);
    }
    return G_SOURCE_REMOVE;
}

/* New local candidates, or the end of them: signalled once the loop has a
 * turn, together with those that come until then. */
static void on_ice_candidates(ipop_link_t *link)
{
    if (!link->flush_src)
        link->flush_src = ipop__net_timeout(link->net, 0, flush_cands, link);
}

static void on_ice_connected(ipop_link_t *link)
{
    ipop__dtls_flush_early(link);
    if (link->dtls.done)
        ipop__direct_update(link);
    if (link->controlling)
        ipop__dtls_step(link);
}

static void on_ice_selected(ipop_link_t *link)
{
    ipop__dtls_flush_early(link);
    if (link->dtls.done)
        ipop__direct_update(link); /* a pair that replaces the first */
}

static void on_ice_failed(ipop_link_t *link)
{
    link_fail(link, link->dtls.done ? IPOP_REASON_CONSENT_LOST : IPOP_REASON_ICE_FAILED);
}

static void on_dtls_up(ipop_link_t *link)
{
    ipop__source_clear(&link->timeout_src);
    link->restarted = false;
    link->last_rx = link->last_tick = g_get_monotonic_time();
    link->sent_seen = __atomic_load_n(&link->tx_packets, __ATOMIC_RELAXED);
    link->await_since = 0;
    link->suspected = false;
    link->ping_src = ipop__net_timeout(link->net, TICK_MS, on_ping_timer, link);
    ipop__direct_update(link);
    send_ping(link, link->last_rx); /* a first RTT sample at once */
    set_state(link, IPOP_LINK_CONNECTED, IPOP_REASON_NONE);
}

static const ipop__ice_events ice_events = {
    .datagram = ipop__dtls_rx,
    .candidates = on_ice_candidates,
    .connected = on_ice_connected,
    .selected = on_ice_selected,
    .failed = on_ice_failed,
};

static const ipop__dtls_events dtls_events = {
    .up = on_dtls_up,
    .record = handle_record,
    .end = ipop__link_shutdown,
};

ipop_link_t *ipop__link_new(ipop_network_t *net, const char *peer_id, const ipop__link_ops *ops)
{
    ipop_link_t *link = g_new0(ipop_link_t, 1);

    link->net = net;
    link->ops = ops;
    g_strlcpy(link->peer_id, peer_id, sizeof(link->peer_id));
    link->controlling = strcmp(net->node_id, peer_id) < 0;
    g_mutex_init(&link->tx_lock);
    ipop__ice_init(link, &ice_events);
    ipop__dtls_init(link, &dtls_events);
    ipop__direct_init(link, ipop__dtls_rx);
    return link;
}

/* ---- packets and pings ---- */

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

    g_mutex_lock(&link->tx_lock);
    r = ipop__frame_put_data_hdr(link->txbuf, sizeof(link->txbuf), len); /* -EINVAL, -EMSGSIZE */
    if (r > 0) {
        memcpy(link->txbuf + IPOP__FRAME_HDR, pkt, len);
        ipop__link_out_rewrite(link, link->txbuf + IPOP__FRAME_HDR, len);
        r = ipop__dtls_send_locked(link, link->txbuf, (size_t)r);
    }
    g_mutex_unlock(&link->tx_lock);
    if (r < 0) {
        __atomic_fetch_add(&link->tx_drops, 1, __ATOMIC_RELAXED);
        return r;
    }
    __atomic_fetch_add(&link->tx_packets, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&link->tx_bytes, len, __ATOMIC_RELAXED);
    return 0;
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
        link->ops->deliver(link->net, link, f.payload, f.payload_len);
        break;
    case IPOP__FRAME_PING:
        if (ipop__frame_put_ping(buf, sizeof(buf), IPOP__FRAME_PONG, f.seq, f.stamp) > 0)
            ipop__dtls_send_record(link, buf, sizeof(buf));
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
    case IPOP__FRAME_REKEY:
        if (ipop__dtls_rekey_frame(link, f.op, f.seq) < 0)
            ipop__link_restart(link, IPOP_REASON_REKEY_FAILED);
        break;
    case IPOP__FRAME_RELAY:
    case IPOP__FRAME_RELAYED:
    case IPOP__FRAME_PEERS:
        link->ops->relay_frame(link, &f); /* GroupVPN member relay */
        break;
    }
}

/* Releases the session's ICE agent, DTLS session and timers; the link
 * object stays. */
static void teardown(ipop_link_t *link)
{
    ipop__source_clear(&link->timeout_src);
    ipop__source_clear(&link->ping_src);
    ipop__source_clear(&link->flush_src);
    if (link->in_fwd) {
        ipop__fwd_remove_owner(link->net->fwd, link);
        ipop__routes_link_down(link);
        link->in_fwd = false;
    }
    ipop__direct_clear(link); /* before the agent's socket closes */
    ipop__dtls_stop(link);
    ipop__ice_stop(link);
    ipop__source_clear(&link->resend_src);
    link->offer_held = false;
    link->desc_held = 0;
    link->remote_known = false;
}

void ipop__link_free(ipop_link_t *link)
{
    if (!link)
        return;
    teardown(link);
    g_mutex_clear(&link->tx_lock);
    ipop__dtls_clear(link);
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

    if (!link->ice.agent || !link->ice.local_cands)
        return;
    if (type != IPOP__MSG_CAND && ipop__ice_mapping_pending(link)) {
        link->desc_held = (int)type; /* flush_cands sends it */
        return;
    }
    if (type == IPOP__MSG_CAND && link->desc_held)
        return; /* they leave with the offer or answer */
    if (type != IPOP__MSG_CAND && link->ice.checks_held)
        ipop__ice_add_held(link);
    m = g_new(ipop__msg, 1);
    while (first || ipop__ice_unsent(link)) {
        msg_header(link, m, first ? type : IPOP__MSG_CAND);
        if (m->type != IPOP__MSG_CAND) {
            ipop__ice_local_credentials(link, m->ufrag, sizeof(m->ufrag), m->pwd, sizeof(m->pwd));
            memcpy(m->fingerprint, ipop__identity_fingerprint(link->net->id), 32);
            m->has_fingerprint = true;
            m->addr4 = link->net->addr4;
            m->addr6 = link->net->addr6;
            m->seq = link->my_seq;
            g_strlcpy(m->name, link->net->own_name, sizeof(m->name));
            m->n_routes = link->net->n_routes_opt;
            memcpy(m->routes, link->net->routes_opt, sizeof(m->routes[0]) * m->n_routes);
        }
        m->n_cands = ipop__ice_take_cands(link, m->cands, CANDS_PER_MSG, &m->cands_done);
        if (m->type != IPOP__MSG_CAND || m->n_cands > 0 || m->cands_done)
            link->ops->send_signal(link->net, link->peer_id, m);
        first = false;
    }
    g_free(m);
}

/* Sends the offer or answer again, with every candidate signalled so far:
 * the first may have been lost, or dropped by a peer that was offering
 * itself at the time. */
static void resend_desc(ipop_link_t *link, ipop__msg_type type)
{
    if (!link->ice.agent || !link->ice.sent_cands)
        return;
    ipop__ice_unsend(link);
    send_desc(link, type);
}

bool ipop__link_pace_all = false;

/* How long (us) `bytes` of new signalling wait for their turn: a GCRA
 * (virtual-time token bucket), which reserves them.  Only signalling over
 * the built-in XMPP is paced: a host that carries the messages itself
 * (overlay none) paces them as its own channel needs. */
static gint64 pace_take(ipop_network_t *net, guint bytes, gint64 now)
{
    gint64 burst_us = (gint64)PACE_BURST * G_USEC_PER_SEC / PACE_RATE;
    gint64 t = MAX(net->offer_pace, now);

    if (net->overlay == OVERLAY_NONE && !ipop__link_pace_all)
        return 0;

    net->offer_pace = t + (gint64)bytes * G_USEC_PER_SEC / PACE_RATE;
    return MAX(net->offer_pace - now - burst_us, 0);
}

static guint jittered(guint ms)
{
    return ms + (guint)g_random_int_range(0, (gint32)(ms / 4) + 1);
}

static gboolean on_resend(gpointer data)
{
    ipop_link_t *link = data;

    ipop__source_clear(&link->resend_src);
    if (link->remote_known)
        return G_SOURCE_REMOVE;
    if (!link->offer_held) {
        /* a repeat waits for its turn too */
        gint64 wait = pace_take(link->net, OFFER_COST, g_get_monotonic_time());
        link->resend_ms = MIN(link->resend_ms * 2, OFFER_RESEND_MAX_MS);
        if (wait > 0) {
            link->offer_held = true;
            link->resend_src = ipop__net_timeout(link->net, (guint)((wait + 999) / 1000), on_resend, link);
            return G_SOURCE_REMOVE;
        }
        ipop__dbg(link->net, "link to %s: no answer yet, offering again", ipop__link_tag(link->peer_id));
    }
    link->offer_held = false; /* its turn */
    if (link->ice.sent_cands)
        resend_desc(link, IPOP__MSG_OFFER);
    else
        send_desc(link, IPOP__MSG_OFFER);
    link->resend_src = ipop__net_timeout(link->net, jittered(link->resend_ms), on_resend, link);
    return G_SOURCE_REMOVE;
}

static int apply_remote(ipop_link_t *link, const ipop__msg *m)
{
    int r;

    link->raddr4 = m->addr4;
    link->raddr6 = m->addr6;
    take_addr(link, &link->raddr4);
    take_addr(link, &link->raddr6);
    ipop__names_claim(link, m->name);
    ipop__routes_take(link, m);
    if (!ipop__ice_set_remote_credentials(link, m->ufrag, m->pwd))
        return -EINVAL;
    r = ipop__dtls_setup(link, m->fingerprint);
    if (r < 0)
        return r;
    link->remote_known = true;
    /* Checks wait with a held answer (send_desc): early ones die in the
     * offerer's address-restricted NAT while a relay pair wins. */
    link->ice.checks_held = !link->offerer && ipop__ice_mapping_pending(link);
    ipop__ice_take_remote(link, m->cands, m->n_cands, m->cands_done);
    if (!link->ice.checks_held)
        ipop__ice_add_held(link);
    return 0;
}

static gboolean on_link_timeout(gpointer data)
{
    ipop_link_t *link = data;

    ipop__source_clear(&link->timeout_src);
    ipop__warn(link->net, "link to %s did not come up within %u s", ipop__link_tag(link->peer_id),
               link->restarted ? MIN(link->net->link_timeout_s, RESTART_TIMEOUT_S) : link->net->link_timeout_s);
    link_fail(link, link->restarted ? IPOP_REASON_PATH_LOST : IPOP_REASON_TIMEOUT);
    return G_SOURCE_REMOVE;
}

/* How long a session has to come up. */
static guint link_timeout_ms(const ipop_link_t *link)
{
    return (link->restarted ? MIN(link->net->link_timeout_s, RESTART_TIMEOUT_S) : link->net->link_timeout_s) * 1000;
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
    r = ipop__ice_start(link, link->ops->stun_pick(link->net));
    if (r < 0) {
        link_fail(link, IPOP_REASON_ICE_FAILED);
        return r;
    }
    link->timeout_src = ipop__net_timeout(link->net, link_timeout_ms(link), on_link_timeout, link);
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

    gint64 wait;

    if (r < 0)
        return r;
    link->resend_ms = OFFER_RESEND_MS;
    wait = pace_take(link->net, OFFER_COST, g_get_monotonic_time());
    if (wait > 0) {
        /* its candidates wait with it (flush_cands), and leave in it; the
         * link's time to come up starts when the offer leaves */
        link->offer_held = true;
        ipop__source_clear(&link->timeout_src);
        link->timeout_src = ipop__net_timeout(link->net, (guint)(wait / 1000) + link_timeout_ms(link), on_link_timeout, link);
        link->resend_src = ipop__net_timeout(link->net, (guint)((wait + 999) / 1000), on_resend, link);
        return 0;
    }
    send_desc(link, IPOP__MSG_OFFER);
    link->resend_src = ipop__net_timeout(link->net, jittered(link->resend_ms), on_resend, link);
    return 0;
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
    if (g_atomic_int_get(&link->ice.local_path) == IPOP_PATH_UNKNOWN || !nice_address_is_valid(&link->ice.local_base))
        return false;
    for (guint i = 0; i < present->len; i++)
        if (nice_address_equal_no_port(present->pdata[i], &link->ice.local_base))
            return false;
    return true;
}

void ipop__link_regather(ipop_link_t *link)
{
    if (g_atomic_int_get(&link->state) != IPOP_LINK_CONNECTING || link->dtls.done)
        return;
    g_strlcpy(link->dead_session, link->session, sizeof(link->dead_session));
    open_session(link, IPOP_REASON_NONE);
}

void ipop__link_signalling_back(ipop_link_t *link)
{
    if (g_atomic_int_get(&link->state) != IPOP_LINK_CONNECTING || !link->ice.agent)
        return;
    if (link->offerer && !link->remote_known && !link->offer_held)
        resend_desc(link, IPOP__MSG_OFFER);
    else if (!link->offerer)
        resend_desc(link, IPOP__MSG_ANSWER);
}

static void on_offer(ipop_link_t *link, const ipop__msg *m)
{
    int state = g_atomic_int_get(&link->state);
    bool active = state == IPOP_LINK_CONNECTING || state == IPOP_LINK_CONNECTED, moved_on;

    if (active && strcmp(link->session, m->session) == 0) {
        /* A repeat of the session we are in: our answer may have been lost.
         * It carries every candidate the peer has signalled so far, some
         * perhaps never sent before (a port mapping that came while the
         * peer settled crossed offers): take them. */
        ipop__ice_take_remote(link, m->cands, m->n_cands, m->cands_done);
        if (!link->offerer && state == IPOP_LINK_CONNECTING)
            resend_desc(link, IPOP__MSG_ANSWER);
        return;
    }
    /* An offer older than something the peer said since: it gave that
     * session up (its offer crossed ours and it answered ours). */
    if (!strcmp(m->session, link->dead_session) || (m->seq && m->seq < link->peer_seq)) {
        /* (the same seq is the same session, offered again: not stale) */
        ipop__dbg(link->net, "link to %s: stale offer ignored", ipop__link_tag(link->peer_id));
        return;
    }
    /* Newer than the peer's answer to our offer: the peer gave our session
     * up (it started again, or moved to another address). */
    moved_on = link->remote_known && m->seq > link->peer_seq;
    link->peer_seq = MAX(link->peer_seq, m->seq);
    /* Both sides offered: the smaller node id's offer wins. */
    if (state == IPOP_LINK_CONNECTING && link->offerer && !moved_on &&
        strcmp(link->net->node_id, link->peer_id) < 0) {
        ipop__dbg(link->net, "link to %s: both sides offered; ours wins", ipop__link_tag(link->peer_id));
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
    bool ours = link->ice.agent && strcmp(link->session, m->session) == 0;

    switch (m->type) {
    case IPOP__MSG_OFFER:
        on_offer(link, m);
        break;
    case IPOP__MSG_ANSWER:
        if (ours && link->offerer && link->remote_known)
            ipop__ice_take_remote(link, m->cands, m->n_cands, m->cands_done); /* repeated: some may be new */
        if (!ours || !link->offerer || link->remote_known)
            return; /* stale or repeated */
        link->peer_seq = MAX(link->peer_seq, m->seq);
        if (apply_remote(link, m) < 0)
            link_fail(link, IPOP_REASON_BAD_MESSAGE);
        break;
    case IPOP__MSG_CAND:
        if (ours)
            ipop__ice_take_remote(link, m->cands, m->n_cands, m->cands_done);
        break;
    case IPOP__MSG_BYE:
        if (ours)
            ipop__link_shutdown(link, IPOP_REASON_PEER_CLOSED, false);
        break;
    case IPOP__MSG_CERT:
    case IPOP__MSG_CRL:
        break; /* the group authority's (certauth.c), never a link's */
    }
}

static void say_bye(ipop_link_t *link, ipop_reason_t reason)
{
    uint8_t frame[IPOP__FRAME_BYE_LEN];
    ipop__msg *m;

    if (ipop__frame_put_bye(frame, sizeof(frame), (uint8_t)reason) > 0)
        ipop__dtls_send_record(link, frame, sizeof(frame));
    m = g_new(ipop__msg, 1);
    msg_header(link, m, IPOP__MSG_BYE);
    m->reason = reason;
    link->ops->send_signal(link->net, link->peer_id, m);
    g_free(m);
}

void ipop__link_shutdown(ipop_link_t *link, ipop_reason_t reason, bool bye)
{
    bool closing = reason == IPOP_REASON_LOCAL_CLOSED || reason == IPOP_REASON_PEER_CLOSED;
    int state = g_atomic_int_get(&link->state);

    if (state == IPOP_LINK_CLOSED || (state == IPOP_LINK_FAILED && !closing) || state == IPOP_LINK_NEW)
        return;
    if (bye && link->ice.agent)
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
    s.local_path = g_atomic_int_get(&link->ice.local_path);
    s.remote_path = g_atomic_int_get(&link->ice.remote_path);
    g_strlcpy(s.peer_id, link->peer_id, sizeof(s.peer_id));
    {
        const ipop__addr *a = link->alias4.family ? &link->alias4 : &link->raddr4;
        if (a->family && ipop__addr_format(a, s.address, sizeof(s.address)) > 0)
            s.address[strcspn(s.address, "/")] = '\0'; /* an address to ping, not a route */
        g_strlcpy(s.name, link->name, sizeof(s.name));
    }
    ipop__names_shown(link, s.peer_name);
    s.routes = ipop__routes_shown(link, s.route_list, sizeof(s.route_list));
    {
        ipop_link_t *via = link->ops->relay_via(link);
        if (via) {
            s.local_path = s.remote_path = IPOP_PATH_MEMBER;
            g_strlcpy(s.relay_id, via->peer_id, sizeof(s.relay_id));
        }
        s.relayed_packets = __atomic_load_n(&link->relayed_packets, __ATOMIC_RELAXED);
        s.relay_drops = __atomic_load_n(&link->relay_drops, __ATOMIC_RELAXED);
    }
    s.port_mapping = g_atomic_int_get(&link->ice.mapping);
    s.remote_port_mapping = g_atomic_int_get(&link->ice.remote_mapped);
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

