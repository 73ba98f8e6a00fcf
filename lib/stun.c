/* SPDX-License-Identifier: MIT */
/* The STUN header (RFC 5389, section 6): type (2 bytes: the top two bits
 * zero, class and method interleaved), length of the attributes (a
 * multiple of 4), the magic cookie, a 96-bit transaction id. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <gnutls/crypto.h>

#include "bytes.h"
#include "stun.h"

#define COOKIE 0x2112A442u
#define BINDING_REQUEST 0x0001
#define CLASS_MASK 0x0110
#define CLASS_SUCCESS 0x0100
#define CLASS_ERROR 0x0110
#define CLASS_INDICATION 0x0010
#define ATTR_USERNAME 0x0006
#define ATTR_INTEGRITY 0x0008
#define ATTR_XOR_MAPPED 0x0020
#define ATTR_FINGERPRINT 0x8028
#define INTEGRITY_LEN 20
#define FINGERPRINT_XOR 0x5354554eu
#define STUN_CHECK_MAX 548 /* an ICE check is about 100 bytes; larger ones are not answered */

void ipop__stun_request(uint8_t buf[IPOP__STUN_HDR], const uint8_t txid[IPOP__STUN_TXID])
{
    ipop__put16(buf, BINDING_REQUEST);
    ipop__put16(buf + 2, 0); /* no attributes */
    ipop__put32(buf + 4, COOKIE);
    memcpy(buf + 8, txid, IPOP__STUN_TXID);
}

int ipop__stun_is_response(const uint8_t *buf, size_t len, const uint8_t txid[IPOP__STUN_TXID])
{
    unsigned type, mlen;
    uint32_t cookie;

    if (!buf || len < IPOP__STUN_HDR || (buf[0] & 0xc0))
        return -EINVAL;
    type = ipop__get16(buf);
    mlen = ipop__get16(buf + 2);
    cookie = ipop__get32(buf + 4);
    if (cookie != COOKIE || mlen % 4 || IPOP__STUN_HDR + (size_t)mlen != len)
        return -EINVAL;
    if ((type & ~CLASS_MASK) != BINDING_REQUEST)
        return 0; /* another method */
    if ((type & CLASS_MASK) != CLASS_SUCCESS && (type & CLASS_MASK) != CLASS_ERROR)
        return 0; /* a request or an indication */
    return memcmp(buf + 8, txid, IPOP__STUN_TXID) == 0;
}

/* CRC-32 as in ISO 3309 / ITU-T V.42, which FINGERPRINT uses. */
static uint32_t crc32(const uint8_t *p, size_t len)
{
    uint32_t c = 0xffffffffu;

    while (len--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

/* MESSAGE-INTEGRITY over msg[0..at), with the header's length field
 * counting up to the end of the integrity attribute (RFC 5389 15.4). */
static int integrity(uint8_t *msg, size_t at, const char *pwd, uint8_t mac[INTEGRITY_LEN])
{
    uint8_t saved[2] = { msg[2], msg[3] };
    int r;

    ipop__put16(msg + 2, (unsigned)(at - IPOP__STUN_HDR + 4 + INTEGRITY_LEN));
    r = gnutls_hmac_fast(GNUTLS_MAC_SHA1, pwd, strlen(pwd), msg, at, mac);
    msg[2] = saved[0];
    msg[3] = saved[1];
    return r;
}

int ipop__stun_answer(const uint8_t *req, size_t len, const char *ufrag, const char *pwd,
                      const struct sockaddr *from, uint8_t *out, size_t outlen)
{
    const uint8_t *user = NULL, *mi = NULL;
    size_t user_len = 0, mi_at = 0, fp_at = 0, ulen = strlen(ufrag), o;
    unsigned type, port;
    uint8_t mac[INTEGRITY_LEN], copy[STUN_CHECK_MAX];

    if (!req || len < IPOP__STUN_HDR || len > sizeof(copy) || (req[0] & 0xc0) || ipop__get32(req + 4) != COOKIE ||
        ipop__get16(req + 2) % 4 || IPOP__STUN_HDR + (size_t)ipop__get16(req + 2) != len)
        return -EINVAL;
    type = ipop__get16(req);
    if (type == (BINDING_REQUEST | CLASS_INDICATION))
        return 0;
    if (type != BINDING_REQUEST)
        return -EINVAL;
    /* The attributes: type, length, value padded to 4 bytes. */
    for (size_t at = IPOP__STUN_HDR; at < len;) {
        unsigned atype, alen;
        if (len - at < 4)
            return -EINVAL;
        atype = ipop__get16(req + at);
        alen = ipop__get16(req + at + 2);
        if (len - at - 4 < (size_t)((alen + 3u) & ~3u))
            return -EINVAL;
        if (mi && atype != ATTR_FINGERPRINT)
            return -EINVAL; /* only FINGERPRINT may follow MESSAGE-INTEGRITY */
        if (atype == ATTR_USERNAME) {
            user = req + at + 4;
            user_len = alen;
        } else if (atype == ATTR_INTEGRITY) {
            if (alen != INTEGRITY_LEN)
                return -EINVAL;
            mi = req + at + 4;
            mi_at = at;
        } else if (atype == ATTR_FINGERPRINT) {
            if (alen != 4 || at + 8 != len)
                return -EINVAL;
            fp_at = at;
        }
        at += 4 + ((alen + 3u) & ~3u);
    }
    if (!user || !mi || user_len <= ulen || memcmp(user, ufrag, ulen) != 0 || user[ulen] != ':')
        return -EPERM;
    memcpy(copy, req, len);
    if (fp_at) {
        /* CRC over the message up to FINGERPRINT, the length counting it */
        ipop__put16(copy + 2, (unsigned)(len - IPOP__STUN_HDR));
        if (ipop__get32(req + fp_at + 4) != (crc32(copy, fp_at) ^ FINGERPRINT_XOR))
            return -EINVAL;
    }
    if (integrity(copy, mi_at, pwd, mac) < 0 || gnutls_memcmp(mac, mi, INTEGRITY_LEN) != 0)
        return -EPERM;

    /* header, XOR-MAPPED-ADDRESS (8 or 20), MESSAGE-INTEGRITY (24), FINGERPRINT (8) */
    o = IPOP__STUN_HDR + 4 + (from->sa_family == AF_INET6 ? 20 : 8);
    if (outlen < o + 24 + 8)
        return -ENOBUFS;
    ipop__put16(out, BINDING_REQUEST | CLASS_SUCCESS);
    memcpy(out + 4, req + 4, 16); /* cookie and transaction id */
    ipop__put16(out + IPOP__STUN_HDR, ATTR_XOR_MAPPED);
    out[IPOP__STUN_HDR + 4] = 0;
    if (from->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)from;
        ipop__put16(out + IPOP__STUN_HDR + 2, 20);
        out[IPOP__STUN_HDR + 5] = 2;
        port = ntohs(s6->sin6_port);
        for (int i = 0; i < 16; i++)
            out[IPOP__STUN_HDR + 8 + i] = s6->sin6_addr.s6_addr[i] ^ out[4 + i];
    } else if (from->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)from;
        ipop__put16(out + IPOP__STUN_HDR + 2, 8);
        out[IPOP__STUN_HDR + 5] = 1;
        port = ntohs(s4->sin_port);
        for (int i = 0; i < 4; i++)
            out[IPOP__STUN_HDR + 8 + i] = ((const uint8_t *)&s4->sin_addr)[i] ^ out[4 + i];
    } else {
        return -EINVAL;
    }
    ipop__put16(out + IPOP__STUN_HDR + 6, port ^ (COOKIE >> 16));
    ipop__put16(out + o, ATTR_INTEGRITY);
    ipop__put16(out + o + 2, INTEGRITY_LEN);
    if (integrity(out, o, pwd, out + o + 4) < 0)
        return -EINVAL;
    o += 4 + INTEGRITY_LEN;
    ipop__put16(out + 2, (unsigned)(o + 8 - IPOP__STUN_HDR));
    ipop__put16(out + o, ATTR_FINGERPRINT);
    ipop__put16(out + o + 2, 4);
    ipop__put32(out + o + 4, crc32(out, o) ^ FINGERPRINT_XOR);
    return (int)(o + 8);
}
