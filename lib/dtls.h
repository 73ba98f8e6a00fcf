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

/* Installs the certificate check on the node's credentials (once). */
void ipop__dtls_set_verify(gnutls_certificate_credentials_t cred);
