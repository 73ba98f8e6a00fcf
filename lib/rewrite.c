/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "rewrite.h"

/* RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m'), over the two 16-bit words of
 * an address. */
static uint16_t csum_replace(uint16_t csum, const uint8_t old[4], const uint8_t new[4])
{
    uint32_t sum = (uint16_t)~csum;

    for (int i = 0; i < 4; i += 2) {
        sum += (uint16_t)~(uint16_t)((old[i] << 8) | old[i + 1]);
        sum += (uint16_t)((new[i] << 8) | new[i + 1]);
    }
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

int ipop__ip4_rewrite(uint8_t *pkt, size_t len, bool src, const uint8_t addr[4])
{
    size_t ihl, total;
    uint8_t old[4];
    uint8_t *field;

    if (!pkt || !addr || len < 20 || (pkt[0] >> 4) != 4)
        return -EINVAL;
    ihl = (size_t)(pkt[0] & 0x0f) * 4;
    total = get16(pkt + 2);
    if (ihl < 20 || ihl > total || total > len)
        return -EINVAL;
    field = pkt + (src ? 12 : 16);
    memcpy(old, field, 4);
    if (memcmp(old, addr, 4) == 0)
        return 0;
    put16(pkt + 10, csum_replace(get16(pkt + 10), old, addr));
    /* Only a first fragment holds the transport header. */
    if ((get16(pkt + 6) & 0x1fff) == 0) {
        uint8_t *l4 = pkt + ihl;
        size_t l4len = total - ihl;
        if (pkt[9] == 6 && l4len >= 18) {
            put16(l4 + 16, csum_replace(get16(l4 + 16), old, addr));
        } else if (pkt[9] == 17 && l4len >= 8 && get16(l4 + 6) != 0) {
            uint16_t c = csum_replace(get16(l4 + 6), old, addr);
            put16(l4 + 6, c ? c : 0xffff);
        }
    }
    memcpy(field, addr, 4);
    return 0;
}
