/* SPDX-License-Identifier: MIT */
/* Subnet route prefixes (routes.h, the pure part): the list parser and
 * the relations between prefixes.  No I/O; ipop-authority and the
 * fuzzers build it with message.c. */
#include "routes.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* ---- the parser ---- */

unsigned ipop__prefix_bits(int family)
{
    return family == AF_INET ? 32 : family == AF_INET6 ? 128 : 0;
}

/* Whether the bits of a past its prefix are all zero. */
static bool host_bits_zero(const ipop__addr *a)
{
    unsigned bits = ipop__prefix_bits(a->family);

    for (unsigned i = a->prefix; i < bits; i++)
        if (a->bytes[i / 8] & (0x80 >> (i % 8)))
            return false;
    return true;
}

static bool is_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t';
}

/* One prefix of n bytes. */
static int parse_one(const char *s, size_t n, ipop__addr *out)
{
    char text[64];

    if (n >= sizeof(text) || !memchr(s, '/', n))
        return -EINVAL;
    memcpy(text, s, n);
    text[n] = '\0';
    if (ipop__addr_parse(text, out) < 0 || out->prefix == 0 || !host_bits_zero(out))
        return -EINVAL;
    return 0;
}

bool ipop__prefix_same(const ipop__addr *a, const ipop__addr *b)
{
    return a->family == b->family && a->prefix == b->prefix && ipop__addr_equal_host(a, b);
}

int ipop__routes_parse(const char *text, size_t len, ipop__addr *out, unsigned max, unsigned *n)
{
    size_t i = 0;
    unsigned count = 0;

    if (!text || !out || !n)
        return -EINVAL;
    *n = 0;
    while (i < len) {
        size_t start;
        ipop__addr a;
        if (is_sep(text[i])) {
            i++;
            continue;
        }
        start = i;
        while (i < len && !is_sep(text[i]))
            i++;
        if (parse_one(text + start, i - start, &a) < 0)
            return -EINVAL;
        for (unsigned k = 0; k < count; k++)
            if (ipop__prefix_same(&out[k], &a))
                return -EINVAL;
        if (count >= max)
            return -E2BIG;
        out[count++] = a;
    }
    *n = count;
    return 0;
}

int ipop__routes_format(const ipop__addr *r, unsigned n, char *buf, size_t size)
{
    size_t used = 0;

    if (!buf || size == 0)
        return -ENOSPC;
    buf[0] = '\0';
    for (unsigned i = 0; i < n; i++) {
        char one[64];
        int k = ipop__addr_format(&r[i], one, sizeof(one));
        if (k < 0)
            return k;
        if (used + (i > 0) + (size_t)k >= size)
            return -ENOSPC;
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? "," : "", one);
    }
    return (int)used;
}

bool ipop__prefix_within(const ipop__addr *inner, const ipop__addr *outer)
{
    return inner->family == outer->family && outer->prefix <= inner->prefix && ipop__addr_in_subnet(outer, inner);
}

bool ipop__prefix_overlap(const ipop__addr *a, const ipop__addr *b)
{
    return ipop__prefix_within(a, b) || ipop__prefix_within(b, a);
}

