/* SPDX-License-Identifier: MIT */
/* Framing inside a link: one DTLS record is one frame.  Pure functions. */
#include "frame.h"

#include <errno.h>
#include <string.h>

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

int ipop__frame_parse(const uint8_t *buf, size_t len, ipop__frame *f)
{
    if (!f)
        return -EINVAL;
    memset(f, 0, sizeof(*f));
    if (!buf || len < IPOP__FRAME_HDR)
        return -EINVAL;
    switch (buf[0]) {
    case IPOP__FRAME_DATA:
        if (len - IPOP__FRAME_HDR < 1 || len - IPOP__FRAME_HDR > IPOP__FRAME_MAX_PAYLOAD)
            return -EINVAL;
        f->payload = buf + IPOP__FRAME_HDR;
        f->payload_len = len - IPOP__FRAME_HDR;
        break;
    case IPOP__FRAME_PING:
    case IPOP__FRAME_PONG:
        if (len != IPOP__FRAME_PING_LEN)
            return -EINVAL;
        f->seq = get32(buf + 1);
        f->stamp = get64(buf + 5);
        break;
    case IPOP__FRAME_BYE:
        if (len != IPOP__FRAME_BYE_LEN)
            return -EINVAL;
        f->reason = buf[1];
        break;
    default:
        return -EINVAL;
    }
    f->type = buf[0];
    return 0;
}

int ipop__frame_put_ping(uint8_t *buf, size_t size, uint8_t type, uint32_t seq, uint64_t stamp)
{
    if (type != IPOP__FRAME_PING && type != IPOP__FRAME_PONG)
        return -EINVAL;
    if (!buf || size < IPOP__FRAME_PING_LEN)
        return -ENOSPC;
    buf[0] = type;
    put32(buf + 1, seq);
    put64(buf + 5, stamp);
    return IPOP__FRAME_PING_LEN;
}

int ipop__frame_put_bye(uint8_t *buf, size_t size, uint8_t reason)
{
    if (!buf || size < IPOP__FRAME_BYE_LEN)
        return -ENOSPC;
    buf[0] = IPOP__FRAME_BYE;
    buf[1] = reason;
    return IPOP__FRAME_BYE_LEN;
}
