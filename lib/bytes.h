/* SPDX-License-Identifier: MIT */
/* Bytes on the wire: big-endian fields and the Internet checksum.  A pure
 * leaf: no I/O, no GLib, nothing of the library's own. */
#pragma once

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t ipop__get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t ipop__get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t ipop__get48(const uint8_t *p)
{
    return (uint64_t)ipop__get16(p) << 32 | ipop__get32(p + 2);
}

static inline uint64_t ipop__get64(const uint8_t *p)
{
    return (uint64_t)ipop__get32(p) << 32 | ipop__get32(p + 4);
}

static inline void ipop__put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void ipop__put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void ipop__put48(uint8_t *p, uint64_t v)
{
    ipop__put16(p, (uint16_t)(v >> 32));
    ipop__put32(p + 2, (uint32_t)v);
}

static inline void ipop__put64(uint8_t *p, uint64_t v)
{
    ipop__put32(p, (uint32_t)(v >> 32));
    ipop__put32(p + 4, (uint32_t)v);
}

/* A bounded text writer: pieces are appended while they fit (one byte is
 * kept for the NUL the caller writes); len counts on past size, so that
 * the caller learns the full length and knows it did not fit when
 * len >= size.  Once a piece did not fit, no later one is written either:
 * len only grows. */
typedef struct ipop__text {
    char *buf;
    size_t size, len;
} ipop__text;

static inline void ipop__text_put(ipop__text *w, const char *s, size_t n)
{
    if (w->len + n < w->size)
        memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static inline void ipop__text_puts(ipop__text *w, const char *s)
{
    ipop__text_put(w, s, strlen(s));
}

/* The Internet checksum (RFC 1071): adds len bytes at p to a running sum
 * and returns it folded to 16 bits (not complemented).  Only the last piece
 * of a sum may have an odd length.  It adds native-order 32-bit words: the
 * one's complement sum does not care about byte order up to a final swap
 * (RFC 1071, section 2(B)), and the words make it several times faster
 * than a byte pair at a time (TCP segments are summed on the data path). */
static inline uint32_t ipop__csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    uint64_t s = 0;
    uint16_t w16;

    for (; len >= 4; p += 4, len -= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        s += w;
    }
    if (len >= 2) {
        memcpy(&w16, p, 2);
        s += w16;
        p += 2;
        len -= 2;
    }
    if (len) {
        uint8_t last[2] = { p[0], 0 }; /* an odd byte is the high half of a word */
        memcpy(&w16, last, 2);
        s += w16;
    }
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    s = ntohs((uint16_t)s) + (uint64_t)sum;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint32_t)s;
}

/* Folds a running sum to 16 bits and complements it: the checksum field
 * to write, or 0 when verifying a block that already holds its checksum. */
static inline uint16_t ipop__csum_finish(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* A checksum field updated for 4 bytes (an IPv4 address) that changed
 * from old to new, without summing the rest again (RFC 1624, eqn. 3). */
static inline uint16_t ipop__csum_replace4(uint16_t csum, const uint8_t old[4], const uint8_t new[4])
{
    uint32_t sum = (uint16_t)~csum;

    for (int i = 0; i < 4; i += 2) {
        sum += (uint16_t)~ipop__get16(old + i);
        sum += ipop__get16(new + i);
    }
    return ipop__csum_finish(sum);
}
