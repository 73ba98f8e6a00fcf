/* SPDX-License-Identifier: MIT */
/* Fuzzes the member relay's choice and its check of RELAYED frames
 * (admit.c): two members a and b, up to 16 candidate relays, then a frame.
 * Both ends must pick the same relay whatever the order of the candidates
 * (else each would drop the other's relayed packets), and a RELAYED frame
 * is delivered exactly when its sender is the relay picked or gone
 * through. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "frame.h"

#define ID IPOP__ADMIT_ID_LEN
#define CANDS_MAX 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *picked(const uint8_t *cands, int i)
{
    return i < 0 ? NULL : cands + (size_t)i * ID;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t rev[CANDS_MAX * ID];
    const uint8_t *a, *b, *cands, *p_ab, *p_ba, *p_rev, *via;
    ipop__frame f;
    unsigned n;
    size_t off;
    bool deliver;

    if (size < 1 + 2 * ID)
        return 0;
    n = data[0] % (CANDS_MAX + 1);
    a = data + 1;
    b = data + 1 + ID;
    off = 1 + 2 * ID + (size_t)n * ID;
    if (size < off)
        return 0;
    cands = data + 1 + 2 * ID;
    for (unsigned i = 0; i < n; i++)
        memcpy(rev + (size_t)(n - 1 - i) * ID, cands + (size_t)i * ID, ID);

    p_ab = picked(cands, ipop__relay_pick(a, b, cands, n));
    p_ba = picked(cands, ipop__relay_pick(b, a, cands, n));
    p_rev = picked(rev, ipop__relay_pick(a, b, rev, n));
    if ((n == 0) != (p_ab == NULL) || (p_ba == NULL) != (p_ab == NULL) || (p_rev == NULL) != (p_ab == NULL))
        abort();
    if (p_ab && (memcmp(p_ab, p_ba, ID) != 0 || memcmp(p_ab, p_rev, ID) != 0))
        abort();

    /* The rest is a frame from member `a` to a node that goes through the
     * first candidate and picks p_ab. */
    if (ipop__frame_parse(data + off, size - off, &f) < 0 || f.type != IPOP__FRAME_RELAYED)
        return 0;
    via = n ? cands : NULL;
    deliver = (via && !memcmp(a, via, ID)) || (p_ab && !memcmp(a, p_ab, ID));
    if ((ipop__relayed_admit(a, via, p_ab) == IPOP__RELAYED_DELIVER) != deliver)
        abort();
    if (ipop__relayed_admit(a, NULL, NULL) != IPOP__RELAYED_NOT_RELAY)
        abort();
    return 0;
}
