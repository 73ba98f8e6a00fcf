/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "bytes.h"
#include "rewrite.h"

int ipop__ip4_rewrite(uint8_t *pkt, size_t len, bool src, const uint8_t addr[4])
{
    size_t ihl, total;
    uint8_t old[4];
    uint8_t *field;

    if (!pkt || !addr || len < 20 || (pkt[0] >> 4) != 4)
        return -EINVAL;
    ihl = (size_t)(pkt[0] & 0x0f) * 4;
    total = ipop__get16(pkt + 2);
    if (ihl < 20 || ihl > total || total > len)
        return -EINVAL;
    field = pkt + (src ? 12 : 16);
    memcpy(old, field, 4);
    if (memcmp(old, addr, 4) == 0)
        return 0;
    ipop__put16(pkt + 10, ipop__csum_replace4(ipop__get16(pkt + 10), old, addr));
    /* Only a first fragment holds the transport header. */
    if ((ipop__get16(pkt + 6) & 0x1fff) == 0) {
        uint8_t *l4 = pkt + ihl;
        size_t l4len = total - ihl;
        if (pkt[9] == 6 && l4len >= 18) {
            ipop__put16(l4 + 16, ipop__csum_replace4(ipop__get16(l4 + 16), old, addr));
        } else if (pkt[9] == 17 && l4len >= 8 && ipop__get16(l4 + 6) != 0) {
            uint16_t c = ipop__csum_replace4(ipop__get16(l4 + 6), old, addr);
            ipop__put16(l4 + 6, c ? c : 0xffff);
        }
    }
    memcpy(field, addr, 4);
    return 0;
}
