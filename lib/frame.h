/* SPDX-License-Identifier: MIT */
/* Framing inside a link (inside DTLS records): pure functions, no I/O.
 * Every record starts with a one-byte type. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ipop/ipop.h" /* IPOP_MAX_PACKET */

enum {
    IPOP__FRAME_DATA = 0x01, /* type, then an IP packet or Ethernet frame */
    IPOP__FRAME_PING = 0x02, /* type, u32 seq, u64 sender's clock (us), big endian */
    IPOP__FRAME_PONG = 0x03, /* the same fields echoed back */
    IPOP__FRAME_BYE = 0x04,  /* type, u8 reason */
    /* GroupVPN member relay: the relay learns the origin from the link a
     * RELAY frame came on, never from the frame, and a RELAYED frame is
     * only ever delivered: one hop at most, by construction. */
    IPOP__FRAME_RELAY = 0x05,   /* type, destination short id, packet: "forward this" */
    IPOP__FRAME_RELAYED = 0x06, /* type, origin short id, packet: "forwarded from origin" */
    /* type, u16 total, u16 first, u8 n, n short ids: ids first..first+n-1
     * of the `total` members the sender is linked with (a list in pages) */
    IPOP__FRAME_PEERS = 0x07,
    /* Rekeying (doc/protocol.md): type, u8 op, u32 generation. */
    IPOP__FRAME_REKEY = 0x08,
};

enum {
    IPOP__REKEY_PROPOSE = 1, /* "I can open generation g: seal with it" */
    IPOP__REKEY_ACK = 2,     /* "I seal with generation g now" */
};

#define IPOP__FRAME_HDR 1     /* bytes before a data payload */
/* Largest record (a frame) sent or accepted on a link: a frame header and
 * a packet of IPOP_MAX_PACKET bytes (include/ipop/ipop.h). */
#define REC_MAX (IPOP__FRAME_HDR + IPOP_MAX_PACKET)
#define IPOP__FRAME_PING_LEN 13
#define IPOP__FRAME_BYE_LEN 2
#define IPOP__FRAME_REKEY_LEN 6
/* A short id: the first 64 bits of the SHA-256 that a node id encodes. */
#define IPOP__SHORT_ID_LEN 8
#define IPOP__FRAME_RELAY_HDR (1 + IPOP__SHORT_ID_LEN)
#define IPOP__FRAME_PEERS_MAX 128 /* ids in one PEERS frame (a page) */
#define IPOP__FRAME_PEERS_HDR 6
#define IPOP__FRAME_PEERS_TOTAL_MAX 4096 /* ids in a whole list (its pages) */

typedef struct ipop__frame {
    uint8_t type;
    const uint8_t *payload; /* DATA: points into the parsed buffer */
    size_t payload_len;
    uint32_t seq;           /* PING, PONG; REKEY: the generation */
    uint64_t stamp;         /* PING, PONG */
    uint8_t reason;         /* BYE */
    uint8_t op;             /* REKEY: IPOP__REKEY_PROPOSE or _ACK */
    uint8_t id[IPOP__SHORT_ID_LEN]; /* RELAY: destination; RELAYED: origin */
    const uint8_t *ids;     /* PEERS: n_ids short ids, into the parsed buffer */
    unsigned n_ids;
    unsigned first, total;  /* PEERS: the page's place in the list */
} ipop__frame;

/* Parses one record.  Returns 0, or -EINVAL (empty, unknown type, wrong
 * length for a control frame, DATA with an empty or larger than
 * IPOP__FRAME_MAX_PAYLOAD payload, RELAY or RELAYED with an empty or larger
 * than IPOP__FRAME_RELAY_MAX_PAYLOAD packet, PEERS whose length is not
 * 6 + 8 n, with n above IPOP__FRAME_PEERS_MAX, a total above
 * IPOP__FRAME_PEERS_TOTAL_MAX or a page beyond the total, REKEY of another length or
 * op).  DATA, RELAY and RELAYED
 * set payload (pointing into buf) and payload_len. */
#define IPOP__FRAME_MAX_PAYLOAD 1410
#define IPOP__FRAME_RELAY_MAX_PAYLOAD (IPOP__FRAME_MAX_PAYLOAD - IPOP__SHORT_ID_LEN)
int ipop__frame_parse(const uint8_t *buf, size_t len, ipop__frame *f);

/* Makes buf a DATA frame around the payload_len bytes already at
 * buf + IPOP__FRAME_HDR (packets are read or built in place there, with no
 * copy).  Returns the frame's length, -EINVAL (empty payload), -EMSGSIZE
 * (above IPOP__FRAME_MAX_PAYLOAD) or -ENOSPC (size too small). */
int ipop__frame_put_data_hdr(uint8_t *buf, size_t size, size_t payload_len);
/* Writes a PING or PONG (type) frame; returns IPOP__FRAME_PING_LEN or
 * -ENOSPC. */
int ipop__frame_put_ping(uint8_t *buf, size_t size, uint8_t type, uint32_t seq, uint64_t stamp);
/* Writes a BYE frame; returns IPOP__FRAME_BYE_LEN or -ENOSPC. */
int ipop__frame_put_bye(uint8_t *buf, size_t size, uint8_t reason);
/* Writes a REKEY frame; returns IPOP__FRAME_REKEY_LEN, -EINVAL (unknown
 * op) or -ENOSPC. */
int ipop__frame_put_rekey(uint8_t *buf, size_t size, uint8_t op, uint32_t gen);
/* Writes a RELAY or RELAYED (type) frame around packet pkt; returns its
 * length, -EINVAL (other type, empty packet), -EMSGSIZE (packet above
 * IPOP__FRAME_RELAY_MAX_PAYLOAD) or -ENOSPC. */
int ipop__frame_put_relay(uint8_t *buf, size_t size, uint8_t type, const uint8_t id[IPOP__SHORT_ID_LEN],
                          const uint8_t *pkt, size_t len);
/* Writes a PEERS frame: the page of n ids (n * 8 bytes) that starts at
 * `first` in a list of `total`; returns its length, -EINVAL (n above
 * IPOP__FRAME_PEERS_MAX, total above IPOP__FRAME_PEERS_TOTAL_MAX, a page
 * beyond the total) or -ENOSPC. */
int ipop__frame_put_peers(uint8_t *buf, size_t size, const uint8_t *ids, unsigned n, unsigned first, unsigned total);
/* The short id of a node id (52 characters of base32, [a-z2-7]): its first
 * 64 bits.  Returns 0, or -EINVAL when the first 13 characters are not
 * base32. */
int ipop__short_id(const char *node_id, uint8_t out[IPOP__SHORT_ID_LEN]);
