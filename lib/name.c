/* SPDX-License-Identifier: MIT */
/* Member names, the pure part (names.h): the label rules, the name made
 * from a host name, and the form a name takes when it lost a conflict.
 * No I/O: the signalling codec (message.c) and the fuzzers use it alone. */
#include "names.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

static bool label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

bool ipop__name_valid(const char *s)
{
    size_t n = s ? strnlen(s, IPOP__NAME_MAX + 1) : 0;

    if (n < 1 || n > IPOP__NAME_MAX || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!label_char(s[i]))
            return false;
    return true;
}

int ipop__name_normalize(const char *in, char out[IPOP__NAME_MAX + 1])
{
    size_t n = in ? strnlen(in, IPOP__NAME_MAX + 1) : 0;

    out[0] = '\0';
    if (n < 1 || n > IPOP__NAME_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        out[i] = g_ascii_tolower(in[i]);
    out[n] = '\0';
    if (!ipop__name_valid(out)) {
        out[0] = '\0';
        return -EINVAL;
    }
    return 0;
}

void ipop__name_from_host(const char *host, char out[IPOP__NAME_MAX + 1])
{
    char tmp[256];
    size_t n = 0, start, end;

    for (const char *p = host ? host : ""; *p && *p != '.' && n < sizeof(tmp) - 1; p++) {
        char c = g_ascii_tolower(*p);
        tmp[n++] = label_char(c) ? c : '-';
    }
    tmp[n] = '\0';
    start = strspn(tmp, "-");
    end = MIN(n, start + IPOP__NAME_MAX);
    while (end > start && tmp[end - 1] == '-')
        end--;
    memcpy(out, tmp + start, end - start);
    out[end - start] = '\0';
}

void ipop__name_tagged(const char *name, const char *node_id, char out[IPOP__NAME_MAX + 1])
{
    int base = (int)strnlen(name, IPOP__NAME_BASE_MAX);

    while (base > 0 && name[base - 1] == '-')
        base--;
    snprintf(out, IPOP__NAME_MAX + 1, "%.*s-%.*s", base, name, IPOP__NAME_TAG, node_id);
}

