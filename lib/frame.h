/* SPDX-License-Identifier: MIT */
/* Framing inside a link (inside DTLS records): pure functions, no I/O.
 * Every record starts with a one-byte type. */
#pragma once

#include <stddef.h>
#include <stdint.h>

enum {
    IPOP__FRAME_DATA = 0x01, /* type, then an IP packet or Ethernet frame */
    IPOP__FRAME_PING = 0x02, /* type, u32 seq, u64 sender's clock (us), big endian */
    IPOP__FRAME_PONG = 0x03, /* the same fields echoed back */
    IPOP__FRAME_BYE = 0x04,  /* type, u8 reason */
};

#define IPOP__FRAME_HDR 1     /* bytes before a data payload */
#define IPOP__FRAME_PING_LEN 13
#define IPOP__FRAME_BYE_LEN 2

typedef struct ipop__frame {
    uint8_t type;
    const uint8_t *payload; /* DATA: points into the parsed buffer */
    size_t payload_len;
    uint32_t seq;           /* PING, PONG */
    uint64_t stamp;         /* PING, PONG */
    uint8_t reason;         /* BYE */
} ipop__frame;

/* Parses one record.  Returns 0, or -EINVAL (empty, unknown type, wrong
 * length for a control frame, DATA with an empty or larger than
 * IPOP__FRAME_MAX_PAYLOAD payload). */
#define IPOP__FRAME_MAX_PAYLOAD 1410
int ipop__frame_parse(const uint8_t *buf, size_t len, ipop__frame *f);

/* Writes a PING or PONG (type) frame; returns IPOP__FRAME_PING_LEN or
 * -ENOSPC. */
int ipop__frame_put_ping(uint8_t *buf, size_t size, uint8_t type, uint32_t seq, uint64_t stamp);
/* Writes a BYE frame; returns IPOP__FRAME_BYE_LEN or -ENOSPC. */
int ipop__frame_put_bye(uint8_t *buf, size_t size, uint8_t reason);
