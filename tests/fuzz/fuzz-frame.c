/* SPDX-License-Identifier: MIT */
/* Fuzzes the in-link frame parser: a frame that parses is rebuilt from its
 * fields and must come out byte for byte. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

/* RELAY and RELAYED carry an id and a packet; PEERS a page of a list of ids. */
static void check_relay(const uint8_t *data, size_t size, const ipop__frame *f)
{
    uint8_t buf[IPOP__FRAME_RELAY_HDR + IPOP__FRAME_RELAY_MAX_PAYLOAD];
    int n;

    if (f->payload != data + IPOP__FRAME_RELAY_HDR || f->payload_len != size - IPOP__FRAME_RELAY_HDR ||
        f->payload_len < 1 || f->payload_len > IPOP__FRAME_RELAY_MAX_PAYLOAD)
        abort();
    n = ipop__frame_put_relay(buf, sizeof(buf), f->type, f->id, f->payload, f->payload_len);
    if (n < 0 || (size_t)n != size || memcmp(buf, data, size) != 0)
        abort();
}

static void check_peers(const uint8_t *data, size_t size, const ipop__frame *f)
{
    uint8_t buf[IPOP__FRAME_PEERS_HDR + IPOP__FRAME_PEERS_MAX * IPOP__SHORT_ID_LEN];
    int n;

    if (f->n_ids > IPOP__FRAME_PEERS_MAX || f->total > IPOP__FRAME_PEERS_TOTAL_MAX || f->first + f->n_ids > f->total ||
        (f->n_ids && f->ids != data + IPOP__FRAME_PEERS_HDR))
        abort();
    n = ipop__frame_put_peers(buf, sizeof(buf), f->ids, f->n_ids, f->first, f->total);
    if (n < 0 || (size_t)n != size || memcmp(buf, data, size) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_control(const uint8_t *data, size_t size, const ipop__frame *f)
{
    uint8_t buf[IPOP__FRAME_PING_LEN];
    int n;

    if (f->type == IPOP__FRAME_BYE)
        n = ipop__frame_put_bye(buf, sizeof(buf), f->reason);
    else
        n = ipop__frame_put_ping(buf, sizeof(buf), f->type, f->seq, f->stamp);
    if (n < 0 || (size_t)n != size || memcmp(buf, data, size) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ipop__frame f;

    if (ipop__frame_parse(data, size, &f) < 0)
        return 0;
    switch (f.type) {
    case IPOP__FRAME_DATA:
        if (f.payload != data + IPOP__FRAME_HDR || f.payload_len != size - IPOP__FRAME_HDR ||
            f.payload_len < 1 || f.payload_len > IPOP__FRAME_MAX_PAYLOAD)
            abort();
        break;
    case IPOP__FRAME_PING:
    case IPOP__FRAME_PONG:
    case IPOP__FRAME_BYE:
        check_control(data, size, &f);
        break;
    case IPOP__FRAME_RELAY:
    case IPOP__FRAME_RELAYED:
        check_relay(data, size, &f);
        break;
    case IPOP__FRAME_PEERS:
        check_peers(data, size, &f);
        break;
    case IPOP__FRAME_REKEY: {
        uint8_t buf[IPOP__FRAME_REKEY_LEN];
        if (ipop__frame_put_rekey(buf, sizeof(buf), f.op, f.seq) != (int)size || memcmp(buf, data, size) != 0)
            abort();
        break;
    }
    default:
        abort();
    }
    return 0;
}
