/* SPDX-License-Identifier: MIT */
/* Framing inside a link: one DTLS record is one frame.  Pure functions. */
#include "frame.h"

#include "bytes.h"

#include <errno.h>
#include <string.h>

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
        f->seq = ipop__get32(buf + 1);
        f->stamp = ipop__get64(buf + 5);
        break;
    case IPOP__FRAME_BYE:
        if (len != IPOP__FRAME_BYE_LEN)
            return -EINVAL;
        f->reason = buf[1];
        break;
    case IPOP__FRAME_RELAY:
    case IPOP__FRAME_RELAYED:
        if (len <= IPOP__FRAME_RELAY_HDR || len - IPOP__FRAME_RELAY_HDR > IPOP__FRAME_RELAY_MAX_PAYLOAD)
            return -EINVAL;
        memcpy(f->id, buf + 1, IPOP__SHORT_ID_LEN);
        f->payload = buf + IPOP__FRAME_RELAY_HDR;
        f->payload_len = len - IPOP__FRAME_RELAY_HDR;
        break;
    case IPOP__FRAME_PEERS:
        if (len < IPOP__FRAME_PEERS_HDR || buf[5] > IPOP__FRAME_PEERS_MAX ||
            len != IPOP__FRAME_PEERS_HDR + (size_t)buf[5] * IPOP__SHORT_ID_LEN)
            return -EINVAL;
        f->total = ipop__get16(buf + 1);
        f->first = ipop__get16(buf + 3);
        f->n_ids = buf[5];
        if (f->total > IPOP__FRAME_PEERS_TOTAL_MAX || f->first + f->n_ids > f->total)
            return -EINVAL;
        f->ids = f->n_ids ? buf + IPOP__FRAME_PEERS_HDR : NULL;
        break;
    case IPOP__FRAME_REKEY:
        if (len != IPOP__FRAME_REKEY_LEN || (buf[1] != IPOP__REKEY_PROPOSE && buf[1] != IPOP__REKEY_ACK))
            return -EINVAL;
        f->op = buf[1];
        f->seq = ipop__get32(buf + 2);
        break;
    default:
        return -EINVAL;
    }
    f->type = buf[0];
    return 0;
}

int ipop__frame_put_data_hdr(uint8_t *buf, size_t size, size_t payload_len)
{
    if (payload_len == 0)
        return -EINVAL;
    if (payload_len > IPOP__FRAME_MAX_PAYLOAD)
        return -EMSGSIZE;
    if (!buf || size < IPOP__FRAME_HDR + payload_len)
        return -ENOSPC;
    buf[0] = IPOP__FRAME_DATA;
    return (int)(IPOP__FRAME_HDR + payload_len);
}

int ipop__frame_put_ping(uint8_t *buf, size_t size, uint8_t type, uint32_t seq, uint64_t stamp)
{
    if (type != IPOP__FRAME_PING && type != IPOP__FRAME_PONG)
        return -EINVAL;
    if (!buf || size < IPOP__FRAME_PING_LEN)
        return -ENOSPC;
    buf[0] = type;
    ipop__put32(buf + 1, seq);
    ipop__put64(buf + 5, stamp);
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

int ipop__frame_put_relay(uint8_t *buf, size_t size, uint8_t type, const uint8_t id[IPOP__SHORT_ID_LEN],
                          const uint8_t *pkt, size_t len)
{
    if ((type != IPOP__FRAME_RELAY && type != IPOP__FRAME_RELAYED) || !id || !pkt || len == 0)
        return -EINVAL;
    if (len > IPOP__FRAME_RELAY_MAX_PAYLOAD)
        return -EMSGSIZE;
    if (!buf || size < IPOP__FRAME_RELAY_HDR + len)
        return -ENOSPC;
    buf[0] = type;
    memcpy(buf + 1, id, IPOP__SHORT_ID_LEN);
    memmove(buf + IPOP__FRAME_RELAY_HDR, pkt, len);
    return (int)(IPOP__FRAME_RELAY_HDR + len);
}

int ipop__frame_put_rekey(uint8_t *buf, size_t size, uint8_t op, uint32_t gen)
{
    if (op != IPOP__REKEY_PROPOSE && op != IPOP__REKEY_ACK)
        return -EINVAL;
    if (!buf || size < IPOP__FRAME_REKEY_LEN)
        return -ENOSPC;
    buf[0] = IPOP__FRAME_REKEY;
    buf[1] = op;
    ipop__put32(buf + 2, gen);
    return IPOP__FRAME_REKEY_LEN;
}

int ipop__frame_put_peers(uint8_t *buf, size_t size, const uint8_t *ids, unsigned n, unsigned first, unsigned total)
{
    size_t len = IPOP__FRAME_PEERS_HDR + (size_t)n * IPOP__SHORT_ID_LEN;

    if (n > IPOP__FRAME_PEERS_MAX || (n && !ids) || total > IPOP__FRAME_PEERS_TOTAL_MAX || first > total ||
        n > total - first)
        return -EINVAL;
    if (!buf || size < len)
        return -ENOSPC;
    buf[0] = IPOP__FRAME_PEERS;
    ipop__put16(buf + 1, (uint16_t)total);
    ipop__put16(buf + 3, (uint16_t)first);
    buf[5] = (uint8_t)n;
    if (n)
        memcpy(buf + IPOP__FRAME_PEERS_HDR, ids, (size_t)n * IPOP__SHORT_ID_LEN);
    return (int)len;
}

static int base32_value(char c)
{
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

int ipop__short_id(const char *node_id, uint8_t out[IPOP__SHORT_ID_LEN])
{
    uint64_t bits = 0;

    if (!node_id || !out)
        return -EINVAL;
    /* 13 characters carry 65 bits: the first 64 are the id. */
    for (int i = 0; i < 13; i++) {
        int v = base32_value(node_id[i]);
        if (v < 0)
            return -EINVAL;
        bits = i < 12 ? bits << 5 | (uint64_t)v : bits << 4 | (uint64_t)(v >> 1);
    }
    ipop__put64(out, bits);
    return 0;
}
