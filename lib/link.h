/* SPDX-License-Identifier: MIT */
/* A TinCan link's session: one ICE transport (ice.h) carrying one DTLS
 * session (dtls.h), sent and read without libnice once a direct UDP pair
 * is selected (direct.h); its state machine, offers and answers, restarts,
 * pings and RTT, goodbye; the public ipop_link_* calls.
 *
 * The link calls the network above it only through the ipop__link_ops it
 * was made with; its transports call it only through the events it gives
 * them when it is made. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "ipop/ipop.h"
#include "addr.h"
#include "direct.h"
#include "dtls.h"
#include "frame.h"
#include "ice.h"
#include "message.h"

/* What a link needs from the network that holds it (the data path, the
 * policies, signalling).  Fixed when the link is made; the functions run
 * in the loop thread, but relay_via, which any thread may call. */
typedef struct ipop__link_ops {
    /* a data frame's packet from the link's peer */
    void (*deliver)(ipop_network_t *net, ipop_link_t *link, const uint8_t *pkt, size_t len);
    /* a RELAY, RELAYED or PEERS frame (GroupVPN member relay) */
    void (*relay_frame)(ipop_link_t *link, const ipop__frame *f);
    /* the member packets to link's peer go through now, or NULL */
    ipop_link_t *(*relay_via)(ipop_link_t *link);
    /* the link just became CONNECTED (no lock held) */
    void (*link_up)(ipop_network_t *net, ipop_link_t *link);
    /* the peer signalled one of our automatic addresses as its own */
    void (*addr_conflict)(ipop_network_t *net, ipop_link_t *link, int family);
    /* the link heard nothing for a while: the signalling path may be dead too */
    void (*path_suspect)(ipop_network_t *net);
    /* the STUN server a new agent should use, or -1 for none */
    int (*stun_pick)(ipop_network_t *net);
    /* a signalling message for the peer */
    void (*send_signal)(ipop_network_t *net, const char *peer, const ipop__msg *m);
} ipop__link_ops;

struct ipop_link {
    ipop_network_t *net;
    const ipop__link_ops *ops;
    char peer_id[IPOP__NODE_ID_LEN + 1];
    gint state;                 /* ipop_link_state_t, read from any thread */
    gint reason;                /* ipop_reason_t */
    char session[IPOP__SESSION_LEN + 1];
    char dead_session[IPOP__SESSION_LEN + 1]; /* given up by us for a newer one: its offers are stale */
    bool offerer;               /* we opened this session */
    bool controlling;           /* ICE role and DTLS client: the smaller node id */
    bool remote_known;          /* offer or answer received for this session */
    bool in_fwd;                /* our routes point at this link */
    bool ever_connected;
    gint64 addr_logged_at;      /* a refused address claim was last logged (monotonic us) */
    uint64_t my_seq;            /* the seq of our offer or answer in this session */
    uint64_t peer_seq;          /* the highest seq seen from the peer: older offers are stale */
    GSource *resend_src;        /* repeats an unanswered offer */
    guint resend_ms;            /* the wait before the next repeat (backs off) */
    bool offer_held;            /* our offer waits for its turn (the pace of new offers) */
    int desc_held;              /* ipop__msg_type of our offer or answer waiting for the port mappers, or 0 */
    GSource *flush_src;         /* signals the candidates gathered so far */

    ipop__addr raddr4, raddr6;
    ipop__addr alias4;          /* SocialVPN: the peer's address here, or family 0 */
    char name[128];             /* SocialVPN: the friend's JID */
    char peer_name[64];         /* the name its offers and answers signal, "" none (names.c, under net->lock) */
    bool name_told;             /* its claim of peer_name lost a conflict: reported (names.c) */
    unsigned n_routes;          /* the prefixes its offers and answers announce (routes.c, loop thread) */
    ipop__addr routes[IPOP__SIGNAL_ROUTES_MAX];
    bool routes_told;           /* what was taken or refused of them was reported (routes.c) */

    GSource *timeout_src, *ping_src;
    gint64 last_rx;             /* monotonic time of the last authenticated record */
    /* Send-triggered liveness (link.c): what tx_packets was at the last
     * tick, that tick's time, since when a send waits for anything from
     * the peer (0: nothing waits), and the last RTT ping. */
    guint64 sent_seen;
    gint64 last_tick, await_since, rtt_at;
    bool suspected;             /* path_suspect() said for this wait */
    bool restarted;             /* this session replaces one whose path was lost */
    uint32_t ping_seq;

    /* the transports, lowest last */
    GMutex tx_lock;             /* one sender at a time: the DTLS session, the agent, the direct socket */
    struct ipop__dtls dtls;
    struct ipop__direct direct;
    struct ipop__ice ice;
    uint8_t txbuf[REC_MAX];     /* under tx_lock: the data frame ipop__link_send_packet() makes */

    /* statistics: updated with atomics, read from any thread */
    guint64 tx_packets, tx_bytes, rx_packets, rx_bytes, tx_drops, rx_drops;
    guint rtt_us;

    /* relay.c: GroupVPN member relay */
    struct ipop__relay_peer *relay; /* made and owned by relay.c (net->relay), or NULL */
    ipop_link_t *via;           /* the member packets to this peer go through now, or NULL (atomic) */
    guint64 relayed_packets, relay_drops; /* packets from this peer this node relayed, or could not */
};

/* For log lines: the first 8 characters of a node id. */
static inline const char *ipop__link_tag(const char *id)
{
    static __thread char buf[9];
    g_strlcpy(buf, id, sizeof(buf));
    return buf;
}

/* Tests: pace the offers of networks whose host carries the signalling
 * too (only the built-in XMPP's are paced otherwise). */
extern bool ipop__link_pace_all;

ipop_link_t *ipop__link_new(ipop_network_t *net, const char *peer_id, const ipop__link_ops *ops);
void ipop__link_free(ipop_link_t *link);
int ipop__link_open(ipop_link_t *link);                       /* as offerer, new session */
/* Gives the current session up (goodbye; its offers become stale) and opens a new one. */
int ipop__link_renew(ipop_link_t *link);
/* The path may be gone (nothing heard, or the network changed): a new
 * session with fresh candidates, without passing through FAILED.  For a
 * connected or connecting link only. */
void ipop__link_restart(ipop_link_t *link, ipop_reason_t why);
/* Whether the host address under the link's selected pair is still one of
 * `present` (NiceAddress*); false when the link has no selected pair. */
bool ipop__link_lost_base(ipop_link_t *link, GPtrArray *present);
/* Signalling is back after an outage: repeat what is unanswered now. */
void ipop__link_signalling_back(ipop_link_t *link);
/* A link still coming up whose STUN server turned out dead: a new session
 * that gathers with another. */
void ipop__link_regather(ipop_link_t *link);
void ipop__link_handle(ipop_link_t *link, const ipop__msg *m); /* a message for this link */
void ipop__link_shutdown(ipop_link_t *link, ipop_reason_t reason, bool say_bye);
/* A packet for the peer, in a data frame.  Any thread. */
int ipop__link_send_packet(ipop_link_t *link, const uint8_t *pkt, size_t len);
/* SocialVPN: route the peer by `alias` (NULL: by its own address) and translate. */
void ipop__link_set_alias(ipop_link_t *link, const ipop__addr *alias, const char *name);
/* Before a packet goes to the peer: a SocialVPN alias destination becomes its address. */
void ipop__link_out_rewrite(ipop_link_t *link, uint8_t *pkt, size_t len);
