/* SPDX-License-Identifier: MIT */
/* A link's DTLS 1.2 transport (GnuTLS) over its ICE component or its direct
 * path: the session, the peer's certificate pinned to its node id, the
 * handshake and its timer, and the hand-over of application data to
 * record.c (AES-GCM) once the handshake is done; sealing and opening
 * records, and the batches of datagrams sent in one call.
 *
 * Threads: the handshake and everything received run in the network's
 * loop thread; ipop__dtls_send_record() may be called from any thread.
 * The link's tx_lock lets one sender at a time use the session. */
#pragma once

#include <glib.h>
#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipop/ipop.h"
#include "frame.h"
#include "record.h"

/* Records sent with one ipop__dtls_send_records() call: their datagrams
 * leave in one call into libnice, or a few UDP GSO sends. */
#define TX_BATCH_MAX 64
/* DTLS datagram size: REC_MAX plus AES-GCM record overhead (37 B).  With
 * UDP (8), IPv6 (40) and a TURN ChannelData header (4) it stays at 1500. */
#define DTLS_MTU 1448

/* What the session tells the link above (fixed when the link is made). */
typedef struct ipop__dtls_events {
    /* the handshake is done (loop thread, tx_lock not held) */
    void (*up)(ipop_link_t *link);
    /* a record the peer sent, opened */
    void (*record)(ipop_link_t *link, const uint8_t *rec, size_t len);
    /* the session is over: the peer closed it, or it failed (bye: tell the peer) */
    void (*end)(ipop_link_t *link, ipop_reason_t reason, bool bye);
} ipop__dtls_events;

/* Rekeying (doc/protocol.md, "Rekeying"): while record.c does the
 * records, the keys are renewed from the session (RFC 5705 exporter) at
 * least every link.rekey-interval seconds and before a key has sealed
 * ipop__dtls_rekey_records records.  Generation g seals in DTLS epoch
 * tls_epoch + g; generation 0 is the handshake's own keys.  The sequence
 * numbers run on across generations, so GnuTLS, which keeps generation
 * 0's keys for a retransmitted handshake flight, never reuses one. */
struct ipop__rekey {
    /* under tx_lock */
    uint32_t tx_gen;            /* the generation rec_tx seals with */
    uint64_t tx_gen_seq;        /* rec_tx.seq when that generation began */
    GSource *now_src;           /* the record limit asks for a rekey at once */
    bool hard_hit;              /* a record was refused at the hard limit */
    gint64 hard_since;          /* monotonic time (us) of that first refusal */
    uint16_t tls_epoch;         /* GnuTLS's write epoch: generation 0 */
    /* the loop thread */
    bool ok;                    /* keys can be exported (AES-GCM by record.c, extended master secret) */
    gint64 tx_gen_since;        /* when rec_tx's generation began (monotonic us) */
    uint32_t rx_gen;            /* the generation of rec_rx */
    ipop__rec rx_next;          /* generation rx_gen + 1, once proposed by either side (aead NULL: none) */
    ipop__rec rx_prev;          /* generation rx_gen - 1, for records still on their way */
    gint64 prev_until;
    uint32_t pending;           /* the generation we proposed, unanswered; 0: none */
    gint64 pending_since, pending_sent;
    guint64 done;               /* generations switched to (tests) */
    guint64 hard_hits;          /* generations that reached the hard limit (tests) */
    bool test_mute;             /* tests: a peer that never answers a rekey */
};

struct ipop__dtls {
    const ipop__dtls_events *ev;
    gnutls_session_t tls;       /* set and cleared under tx_lock */
    bool done;                  /* the handshake is over (under tx_lock) */
    GSource *timer;             /* the handshake's retransmission timer */
    ipop_reason_t fail;         /* set by the certificate check */
    uint8_t remote_fp[32];      /* the certificate the peer signalled */
    GQueue early;               /* GBytes*: handshake datagrams held until a pair is selected */
    const uint8_t *rx_data;     /* the datagram DTLS pulls next */
    size_t rx_len;
    /* After the handshake, application data is sealed and opened by
     * record.c (AES-GCM): rec_on and rec_tx under tx_lock, rec_rx in the
     * loop thread; otherwise (another cipher) GnuTLS does the records. */
    bool rec_on;
    ipop__rec rec_tx, rec_rx;
    struct ipop__rekey rekey;
    /* under tx_lock: datagrams DTLS pushed during ipop__dtls_send_records() */
    bool tx_batching;
    unsigned tx_batch_n;
    uint8_t *tx_batch;          /* TX_BATCH_MAX datagrams of DTLS_MTU bytes, made on first use */
    size_t tx_batch_len[TX_BATCH_MAX];
};

/* With the link. */
void ipop__dtls_init(ipop_link_t *link, const ipop__dtls_events *ev);
/* With the link: frees what outlives its sessions. */
void ipop__dtls_clear(ipop_link_t *link);
/* A new session, client when link->controlling, pinned to the
 * certificate the peer signalled (its SHA-256 fingerprint) and to
 * link->peer_id.  0 or -errno. */
int ipop__dtls_setup(ipop_link_t *link, const uint8_t remote_fp[32]);
/* Ends the session (no alert: the link says goodbye itself). */
void ipop__dtls_stop(ipop_link_t *link);
/* Takes the handshake a step further (it waits for the peer otherwise). */
void ipop__dtls_step(ipop_link_t *link);
/* Sends the handshake datagrams held while ICE had no pair. */
void ipop__dtls_flush_early(ipop_link_t *link);

/* A datagram from the peer: the handshake, or records.  Loop thread. */
void ipop__dtls_rx(ipop_link_t *link, const uint8_t *buf, size_t len);

/* Sends one record.  0, -ENOTCONN (no session yet), -EMSGSIZE, -ENOBUFS
 * or -EIO.  The caller holds tx_lock. */
int ipop__dtls_send_locked(ipop_link_t *link, const uint8_t *rec, size_t len);
/* The same, taking tx_lock.  Any thread. */
int ipop__dtls_send_record(ipop_link_t *link, const uint8_t *rec, size_t len);
/* Sends n data records (at most TX_BATCH_MAX) as ipop__dtls_send_record()
 * would, with one call into libnice (or a few UDP GSO sends on the direct
 * path) for all their datagrams, and counts them in the link's tx
 * statistics.  The loop thread only.  Returns how many were encrypted and
 * handed on. */
unsigned ipop__dtls_send_records(ipop_link_t *link, uint8_t *const *recs, const size_t *lens, unsigned n);
/* Seals a record as the session's next one into out, without sending it
 * (for tests).  The length, or a negative error. */
int ipop__dtls_seal(ipop_link_t *link, const uint8_t *rec, size_t len, uint8_t *out, size_t cap);

/* Rekeying (see struct ipop__rekey).  The liveness tick (loop thread):
 * proposes a new generation when the key is old or has sealed enough,
 * repeats an unanswered proposal, forgets the previous receiving key.
 * Returns 0, or -ETIMEDOUT when the peer did not complete a rekey within
 * the bound (or the key cannot be renewed in place): the caller starts a
 * new session. */
int ipop__dtls_rekey_tick(ipop_link_t *link);
/* A REKEY frame from the peer (op IPOP__REKEY_PROPOSE or _ACK, gen).
 * 0, or a negative errno when the link must start a new session. */
int ipop__dtls_rekey_frame(ipop_link_t *link, uint8_t op, uint32_t gen);
/* Records one key seals before a rekey is proposed; the key refuses to
 * seal at twice as many (a peer that never answers).  2^24 by default
 * (RFC 8446 5.5's margin for AES-GCM), far below 2^32; tests set it lower
 * before links come up. */
extern uint64_t ipop__dtls_rekey_records;

/* Installs the certificate check on the node's credentials (once). */
void ipop__dtls_set_verify(gnutls_certificate_credentials_t cred);
