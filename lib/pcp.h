/* SPDX-License-Identifier: MIT */
/* Port mapping requests to a home router, and its answers: PCP's MAP
 * (RFC 6887) and its predecessor NAT-PMP (RFC 6886), which share the
 * router's UDP port 5351 and tell each other apart by their first byte
 * (version 2 and 0).  Pure: no I/O, the caller sends what these write and
 * hands them what came back.  Only UDP mappings of IPv4 addresses. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPOP__PCP_PORT 5351
#define IPOP__PCP_MAP_LEN 60       /* a PCP MAP request or answer, without options */
#define IPOP__NATPMP_MAP_LEN 12    /* a NAT-PMP UDP mapping request */
#define IPOP__NATPMP_ADDR_LEN 2    /* a NAT-PMP public address request */
#define IPOP__PCP_NONCE_LEN 12
#define IPOP__PCP_MAX 1100         /* the largest PCP message (RFC 6887 7) */

/* result codes that say "this version is not spoken here": the client
 * falls back to NAT-PMP (RFC 6887 9) */
#define IPOP__PCP_UNSUPP_VERSION 1

typedef struct ipop__pcp_answer {
    int version;            /* 2: PCP, 0: NAT-PMP */
    int opcode;             /* PCP: 1 (MAP); NAT-PMP: 0 (public address) or 1 (UDP map) */
    int result;             /* 0 success; otherwise the router's result code */
    uint32_t epoch;         /* the router's seconds since its mappings were last lost */
    uint32_t lifetime;      /* MAP: seconds the mapping lasts */
    uint16_t internal_port; /* MAP: the port it maps to */
    uint16_t external_port; /* MAP: the port outside */
    uint8_t external_ip[4]; /* PCP MAP, NAT-PMP public address: the address outside */
    bool has_ip;            /* external_ip is set */
    uint8_t nonce[IPOP__PCP_NONCE_LEN]; /* PCP MAP: the request's nonce, echoed */
} ipop__pcp_answer;

/* A PCP MAP request for UDP: client is the request's source address (the
 * router compares them), suggested the external address and port hoped
 * for (zeros: any), lifetime 0 deletes the mapping.  Writes
 * IPOP__PCP_MAP_LEN bytes. */
void ipop__pcp_map_request(uint8_t out[IPOP__PCP_MAP_LEN], const uint8_t client[4],
                           const uint8_t nonce[IPOP__PCP_NONCE_LEN], uint16_t internal_port,
                           const uint8_t suggested_ip[4], uint16_t suggested_port, uint32_t lifetime);
/* A NAT-PMP UDP mapping request (lifetime 0 deletes it).  Writes
 * IPOP__NATPMP_MAP_LEN bytes. */
void ipop__natpmp_map_request(uint8_t out[IPOP__NATPMP_MAP_LEN], uint16_t internal_port, uint16_t suggested_port,
                              uint32_t lifetime);
/* A NAT-PMP public address request.  Writes IPOP__NATPMP_ADDR_LEN bytes. */
void ipop__natpmp_addr_request(uint8_t out[IPOP__NATPMP_ADDR_LEN]);

/* Parses an answer from the router (either protocol).  0 and *a filled,
 * or -EINVAL: too short, not an answer, an opcode we never ask, or a
 * success that says nothing usable (an IPv6 or zero external address, a
 * zero port).  An error answer (result != 0) parses: the caller wants to
 * know that the router refused. */
int ipop__pcp_parse(const uint8_t *buf, size_t len, ipop__pcp_answer *a);
