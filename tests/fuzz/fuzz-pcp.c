/* SPDX-License-Identifier: MIT */
/* Fuzzes lib/pcp.c's parser of a router's PCP and NAT-PMP answers: never a
 * read outside the input, and what it accepts keeps its promises (a
 * success of MAP has a port; a version is 0 or 2). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly the input's size: ASan sees any read past it */
    uint8_t *copy = malloc(size ? size : 1);
    ipop__pcp_answer a;

    if (!copy)
        abort();
    memcpy(copy, data, size);
    if (ipop__pcp_parse(copy, size, &a) == 0) {
        if (a.version != 0 && a.version != 2)
            abort();
        if (a.result == 0 && a.opcode == 1 && a.external_port == 0)
            abort();
        if (a.result == 0 && a.has_ip && !(a.external_ip[0] | a.external_ip[1] | a.external_ip[2] | a.external_ip[3]))
            abort();
    }
    free(copy);
    return 0;
}
