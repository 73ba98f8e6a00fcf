/* SPDX-License-Identifier: MIT */
/* The link object and what link.c offers the files around it, until
 * link.c is split (link.h and its transports).  The network object is in
 * network.h; the functions of the network that link.c calls are declared
 * by the modules that define them, included here for link.c. */
#pragma once

#include <agent.h>
#include <glib.h>
#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ipop/ipop.h"
#include "addr.h"
#include "forward.h"
#include "frame.h"
#include "identity.h"
#include "record.h"
#include "offload.h"
#include "message.h"
#include "network.h"
/* what link.c calls: */
#include "autoaddr.h"
#include "loop.h"
#include "rx.h"
#include "tx.h"
#include "underlay.h"

/* DTLS datagram size: REC_MAX plus AES-GCM record overhead (37 B).  With
 * UDP (8), IPv6 (40) and a TURN ChannelData header (4) it stays at 1500. */
#define DTLS_MTU 1448

struct ipop_link {
    ipop_network_t *net;
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
    uint64_t my_seq;            /* the seq of our offer or answer in this session */
    uint64_t peer_seq;          /* the highest seq seen from the peer: older offers are stale */

    NiceAgent *agent;
    guint stream;
    GPtrArray *pending_cands;   /* remote candidates that came before the offer/answer */
    GPtrArray *local_cands;     /* local candidates not yet signalled */
    GPtrArray *sent_cands;      /* local candidates signalled in this session */
    GSource *resend_src;        /* repeats an unanswered offer */
    bool local_done, local_done_sent;
    GSource *flush_src;

    uint8_t remote_fp[32];
    ipop__addr raddr4, raddr6;
    ipop__addr alias4;          /* SocialVPN: the peer's address here, or family 0 */
    char name[128];             /* SocialVPN: the friend's JID */

    gnutls_session_t tls;
    bool tls_done;
    GSource *tls_timer, *timeout_src, *ping_src;
    gint64 last_rx;             /* monotonic time of the last authenticated record */
    unsigned ticks;             /* liveness ticks since DTLS came up */
    bool restarted;             /* this session replaces one whose path was lost */
    bool ice_ready;             /* ICE's checks are over (READY): the loop may read the socket */
    NiceAddress local_base;     /* the host address under the selected local candidate */
    int stun_idx;               /* the STUN server this session gathers with, or -1 */
    ipop_reason_t tls_fail;     /* set by the certificate check */
    GQueue early;               /* GBytes*: handshake datagrams held until a pair is selected */
    const uint8_t *rx_data;     /* the datagram DTLS pulls next */
    size_t rx_len;

    GMutex tx_lock;             /* one DTLS sender at a time */
    /* After the handshake, application data is sealed and opened by
     * record.c (AES-GCM): rec_on and rec_tx under tx_lock, rec_rx in the
     * loop thread; otherwise (another cipher) GnuTLS does the records. */
    bool rec_on;
    ipop__rec rec_tx, rec_rx;
    uint8_t txbuf[REC_MAX];
    /* under tx_lock: datagrams DTLS pushed during ipop__link_send_records() */
    bool tx_batching;
    unsigned tx_batch_n;
    uint8_t *tx_batch;          /* TX_BATCH_MAX datagrams of DTLS_MTU bytes, made on first use */
    size_t tx_batch_len[TX_BATCH_MAX];
    bool no_udp_gso;            /* UDP_SEGMENT failed once on this link: libnice sends all */
    /* The direct path: while DTLS is up over a UDP pair without a relay,
     * the selected pair's socket, sent on (and, in the library's own loops,
     * read) without libnice in between; -1 otherwise.  Set in the loop
     * thread under tx_lock. */
    int direct_fd;
    struct sockaddr_storage direct_to;
    socklen_t direct_to_len;
    char *ice_ufrag, *ice_pwd; /* the agent's local credentials, for checks on the direct path */

    uint32_t ping_seq;
    /* statistics: updated with atomics, read from any thread */
    guint64 tx_packets, tx_bytes, rx_packets, rx_bytes, tx_drops, rx_drops;
    guint rtt_us;
    gint local_path, remote_path;

    /* relay.c: GroupVPN member relay */
    struct ipop__relay_peer *relay; /* made and owned by relay.c (net->relay), or NULL */
    ipop_link_t *via;           /* the member packets to this peer go through now, or NULL (atomic) */
    guint64 relayed_packets, relay_drops; /* packets from this peer this node relayed, or could not */
};

/* link.c: reads the link's direct socket until it is empty (or a budget is
 * spent: then it is still readable); the loop calls it when the socket
 * polls readable, instead of libnice's source.  Returns false when it left
 * the socket to libnice's source (a STUN message while ICE still checks). */
bool ipop__link_direct_rx(ipop_link_t *link);
void ipop__link_drx_free(struct ipop__drx *drx);

/* link.c */
ipop_link_t *ipop__link_new(ipop_network_t *net, const char *peer_id);
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
int ipop__link_send_record(ipop_link_t *link, const uint8_t *rec, size_t len);
/* Sends n data records (at most TX_BATCH_MAX) as ipop__link_send_record()
 * would, with one call into libnice for all their datagrams, and counts
 * them in the link's tx statistics.  The loop thread only.  Returns how
 * many were encrypted and handed on. */
unsigned ipop__link_send_records(ipop_link_t *link, uint8_t *const *recs, const size_t *lens, unsigned n);
int ipop__link_send_packet(ipop_link_t *link, const uint8_t *pkt, size_t len);
/* SocialVPN: route the peer by `alias` (NULL: by its own address) and translate. */
void ipop__link_set_alias(ipop_link_t *link, const ipop__addr *alias, const char *name);
/* Before a packet goes to the peer: a SocialVPN alias destination becomes its address. */
void ipop__link_out_rewrite(ipop_link_t *link, uint8_t *pkt, size_t len);

/* udp.c */
typedef struct ipop__udp_set ipop__udp_set;
bool ipop__udp_deliver(ipop_network_t *net, ipop_link_t *link, const uint8_t *pkt, size_t len);
void ipop__udp_set_free(ipop__udp_set *set);        /* with the network: frees endpoints left open */
uint64_t ipop__udp_rx_drops(ipop_network_t *net);   /* bad datagrams to an open port, for tests */
