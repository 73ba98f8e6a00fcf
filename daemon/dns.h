/* SPDX-License-Identifier: MIT */
/*
 * The pure part of ipopd's DNS server: one query datagram in, one answer
 * datagram out (or nothing), given the suffix served and a lookup of the
 * members' names.  No I/O, no global state: unit tests and the fuzzer
 * (tests/fuzz/fuzz-dns.c) call it directly.  The wire format is libldns's.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Answers carry this TTL: names follow the members, which come and go. */
#define DNS_TTL 5
/* Without EDNS an answer fits in 512 bytes (RFC 1035 4.2.1); with it, in
 * the client's limit, but never more than this. */
#define DNS_UDP_MIN 512
#define DNS_UDP_MAX 1232
/* The longest name a suffix may be, in presentation form. */
#define DNS_SUFFIX_MAX 253

/* Looks up the member `name` (one label, letters, digits and '-', as the
 * query wrote it).  family: AF_INET or AF_INET6.  Writes the address as
 * text ("10.0.0.2", "fd00::2") into buf and returns 0; returns -ENODATA
 * when the member exists but has no address of that family, -ENOENT when
 * no member has that name. */
typedef int (*dns_lookup_fn)(const char *name, int family, char *buf, size_t size, void *user_data);

/* What dns_answer() did with a query, for the counters. */
enum dns_result {
    DNS_DROPPED,     /* not a DNS query (malformed, or a response): no answer */
    DNS_ANSWERED,    /* an address, or NODATA for a name that exists */
    DNS_NXDOMAIN,    /* a name under the suffix that no member has */
    DNS_REFUSED,     /* a name outside the suffix, or not class IN */
    DNS_ERROR,       /* FORMERR, NOTIMP or SERVFAIL */
};

/* Makes a suffix ("net0", "vpn.example.") into the canonical wire form
 * dns_answer() takes.  Returns a buffer to free() and its length in *len,
 * or NULL when `text` is not a domain name. */
uint8_t *dns_suffix_new(const char *text, size_t *len);

/* Answers the query `q` (`qlen` bytes) for names under `suffix` (from
 * dns_suffix_new()).  The answer goes into `out` (`outsize` bytes; at
 * least DNS_UDP_MAX for full answers) and its length into *outlen (0 when
 * dropped); it is never larger than the query's limit (512 bytes, or its
 * EDNS size up to DNS_UDP_MAX): a larger one is cut to its header and
 * question with the TC bit. */
enum dns_result dns_answer(const uint8_t *q, size_t qlen, const uint8_t *suffix, size_t suffix_len,
                           dns_lookup_fn lookup, void *user_data, uint8_t *out, size_t outsize, size_t *outlen);
