/* SPDX-License-Identifier: MIT */
/* Fuzzes the signalling decoder: any input that decodes must encode again,
 * and the encoding must decode to the same message (and encode to itself). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

/* Decoding normalises, so re-encoding can grow a little: "addr6=::a:b"
 * becomes "addr6=::0.10.0.11/128".  Near the size limit that may no
 * longer fit; nowhere else. */
#define GROWTH_SLACK 128

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ipop__msg m, again;
static const ipop__msg zero;
static char line[IPOP__SIGNAL_BODY_MAX + 1], line2[IPOP__SIGNAL_BODY_MAX + 1];

static void check_failure(int r)
{
    if (r != -EINVAL && r != -EMSGSIZE && r != -EPROTONOSUPPORT)
        abort();
    if (memcmp(&m, &zero, sizeof(m)) != 0) /* "*m is fully overwritten" */
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int r = ipop__msg_decode(&m, (const char *)data, size);
    int n, n2;

    if (r != 0) {
        check_failure(r);
        return 0;
    }
    n = ipop__msg_encode(&m, line, sizeof(line));
    if (n == -EMSGSIZE && size > IPOP__SIGNAL_BODY_MAX - GROWTH_SLACK)
        return 0;
    if (n <= 0 || (size_t)n != strlen(line))
        abort();
    if (ipop__msg_decode(&again, line, (size_t)n) != 0 || !ipop__msg_equal(&m, &again))
        abort();
    n2 = ipop__msg_encode(&again, line2, sizeof(line2));
    if (n2 != n || memcmp(line, line2, (size_t)n) != 0)
        abort();
    return 0;
}
