/* SPDX-License-Identifier: MIT */
/* PCP MAP (RFC 6887 7.1, 11.1) and NAT-PMP (RFC 6886 3.2, 3.3) messages
 * (pcp.h).  Everything is big-endian. */
#include <errno.h>
#include <string.h>

#include "pcp.h"

#define PCP_VERSION 2
#define NATPMP_VERSION 0
#define OP_MAP 1
#define OP_ANSWER 0x80
#define PROTO_UDP 17

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xffff);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* An IPv4 address as PCP writes every address: ::ffff:a.b.c.d (RFC 6887 5). */
static void put_mapped4(uint8_t p[16], const uint8_t v4[4])
{
    memset(p, 0, 10);
    p[10] = p[11] = 0xff;
    memcpy(p + 12, v4, 4);
}

void ipop__pcp_map_request(uint8_t out[IPOP__PCP_MAP_LEN], const uint8_t client[4],
                           const uint8_t nonce[IPOP__PCP_NONCE_LEN], uint16_t internal_port,
                           const uint8_t suggested_ip[4], uint16_t suggested_port, uint32_t lifetime)
{
    static const uint8_t any[4];

    memset(out, 0, IPOP__PCP_MAP_LEN);
    /* common header: version, R=0 and opcode, reserved, lifetime, client address */
    out[0] = PCP_VERSION;
    out[1] = OP_MAP;
    put32(out + 4, lifetime);
    put_mapped4(out + 8, client);
    /* MAP: nonce, protocol, reserved, internal port, suggested port and address */
    memcpy(out + 24, nonce, IPOP__PCP_NONCE_LEN);
    out[36] = PROTO_UDP;
    put16(out + 40, internal_port);
    put16(out + 42, suggested_port);
    put_mapped4(out + 44, suggested_ip ? suggested_ip : any);
}

void ipop__natpmp_map_request(uint8_t out[IPOP__NATPMP_MAP_LEN], uint16_t internal_port, uint16_t suggested_port,
                              uint32_t lifetime)
{
    memset(out, 0, IPOP__NATPMP_MAP_LEN);
    out[0] = NATPMP_VERSION;
    out[1] = OP_MAP; /* UDP */
    put16(out + 4, internal_port);
    put16(out + 6, suggested_port);
    put32(out + 8, lifetime);
}

void ipop__natpmp_addr_request(uint8_t out[IPOP__NATPMP_ADDR_LEN])
{
    out[0] = NATPMP_VERSION;
    out[1] = 0;
}

static bool is_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* PCP answer: header of 24 bytes (version, R|opcode, reserved, result,
 * lifetime, epoch, 12 reserved), then MAP's 36. */
static int parse_pcp(const uint8_t *buf, size_t len, ipop__pcp_answer *a)
{
    static const uint8_t v4_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    if (len < 24 || len > IPOP__PCP_MAX || len % 4 || buf[1] != (OP_ANSWER | OP_MAP))
        return -EINVAL;
    a->version = PCP_VERSION;
    a->opcode = OP_MAP;
    a->result = buf[3];
    a->lifetime = get32(buf + 4);
    a->epoch = get32(buf + 8);
    if (a->result != 0) /* an error may come with the request's body or without */
        return 0;
    if (len < IPOP__PCP_MAP_LEN || buf[36] != PROTO_UDP)
        return -EINVAL;
    memcpy(a->nonce, buf + 24, IPOP__PCP_NONCE_LEN);
    a->internal_port = get16(buf + 40);
    a->external_port = get16(buf + 42);
    if (memcmp(buf + 44, v4_prefix, sizeof(v4_prefix)) != 0 || is_zero(buf + 56, 4) || a->external_port == 0)
        return -EINVAL; /* an IPv6 mapping, or none */
    memcpy(a->external_ip, buf + 56, 4);
    a->has_ip = true;
    return 0;
}

/* NAT-PMP answer: version, 128 + opcode, result (16 bits), epoch; then
 * the public address (opcode 0) or the ports and lifetime (opcode 1). */
static int parse_natpmp(const uint8_t *buf, size_t len, ipop__pcp_answer *a)
{
    if (len < 8 || (buf[1] != OP_ANSWER && buf[1] != (OP_ANSWER | OP_MAP)))
        return -EINVAL;
    a->version = NATPMP_VERSION;
    a->opcode = buf[1] & 0x7f;
    a->result = get16(buf + 2);
    a->epoch = get32(buf + 4);
    if (a->result != 0)
        return 0;
    if (a->opcode == 0) {
        if (len < 12 || is_zero(buf + 8, 4))
            return -EINVAL;
        memcpy(a->external_ip, buf + 8, 4);
        a->has_ip = true;
        return 0;
    }
    if (len < 16)
        return -EINVAL;
    a->internal_port = get16(buf + 8);
    a->external_port = get16(buf + 10);
    a->lifetime = get32(buf + 12);
    return a->external_port ? 0 : -EINVAL;
}

int ipop__pcp_parse(const uint8_t *buf, size_t len, ipop__pcp_answer *a)
{
    memset(a, 0, sizeof(*a));
    if (!buf || len < 2)
        return -EINVAL;
    if (buf[0] == PCP_VERSION)
        return parse_pcp(buf, len, a);
    if (buf[0] == NATPMP_VERSION)
        return parse_natpmp(buf, len, a);
    return -EINVAL;
}
