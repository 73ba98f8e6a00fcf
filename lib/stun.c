/* SPDX-License-Identifier: MIT */
/* The STUN header (RFC 5389, section 6): type (2 bytes: the top two bits
 * zero, class and method interleaved), length of the attributes (a
 * multiple of 4), the magic cookie, a 96-bit transaction id. */
#include <errno.h>
#include <string.h>

#include "stun.h"

#define COOKIE 0x2112A442u
#define BINDING_REQUEST 0x0001
#define CLASS_MASK 0x0110
#define CLASS_SUCCESS 0x0100
#define CLASS_ERROR 0x0110

void ipop__stun_request(uint8_t buf[IPOP__STUN_HDR], const uint8_t txid[IPOP__STUN_TXID])
{
    buf[0] = BINDING_REQUEST >> 8;
    buf[1] = BINDING_REQUEST & 0xff;
    buf[2] = buf[3] = 0; /* no attributes */
    buf[4] = (uint8_t)(COOKIE >> 24);
    buf[5] = (uint8_t)(COOKIE >> 16);
    buf[6] = (uint8_t)(COOKIE >> 8);
    buf[7] = (uint8_t)COOKIE;
    memcpy(buf + 8, txid, IPOP__STUN_TXID);
}

int ipop__stun_is_response(const uint8_t *buf, size_t len, const uint8_t txid[IPOP__STUN_TXID])
{
    unsigned type, mlen;
    uint32_t cookie;

    if (!buf || len < IPOP__STUN_HDR || (buf[0] & 0xc0))
        return -EINVAL;
    type = (unsigned)buf[0] << 8 | buf[1];
    mlen = (unsigned)buf[2] << 8 | buf[3];
    cookie = (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
    if (cookie != COOKIE || mlen % 4 || IPOP__STUN_HDR + (size_t)mlen != len)
        return -EINVAL;
    if ((type & ~CLASS_MASK) != BINDING_REQUEST)
        return 0; /* another method */
    if ((type & CLASS_MASK) != CLASS_SUCCESS && (type & CLASS_MASK) != CLASS_ERROR)
        return 0; /* a request or an indication */
    return memcmp(buf + 8, txid, IPOP__STUN_TXID) == 0;
}
