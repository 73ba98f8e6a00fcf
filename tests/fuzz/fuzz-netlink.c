/* SPDX-License-Identifier: MIT */
/* Fuzzes the rtnetlink address-change parser (lib/rtnl.c, through libmnl):
 * never a read outside the input (an exact-size copy, so that ASan sees any
 * read past it), whatever the alignment; answers that agree with their
 * count; addresses whose prefix fits their family. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rtnl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *buf, size_t size)
{
    ipop__addr_change ch[8];
    size_t ok = 99;
    int r = ipop__rtnl_parse_addrs(buf, size, ch, 8, &ok);

    if (r < -EINVAL || r > 8 || ok > 8 || (r >= 0 && (size_t)r != ok) || (r == -EINVAL && ok > 8))
        abort();
    for (size_t i = 0; i < ok; i++) {
        if (ch[i].addr.family != AF_INET && ch[i].addr.family != AF_INET6)
            abort();
        if (ch[i].addr.prefix > (ch[i].addr.family == AF_INET ? 32 : 128))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size + 1);

    if (!copy)
        abort();
    /* as read (aligned), and one byte off: the socket's buffer is aligned,
     * the parser must not count on it */
    memcpy(copy, data, size);
    check(copy, size);
    memmove(copy + 1, copy, size);
    check(copy + 1, size);
    free(copy);
    return 0;
}
