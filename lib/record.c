/* SPDX-License-Identifier: MIT */
/* DTLS 1.2 AES-GCM records (record.h). */
#include <errno.h>
#include <string.h>

#include "bytes.h"
#include "record.h"

#define VERSION_MAJOR 254 /* DTLS 1.2 is {254, 253} */
#define VERSION_MINOR 253
#define SEQ_MAX ((UINT64_C(1) << 48) - 1)
#define WINDOW_BITS 64

int ipop__rec_init_raw(ipop__rec *r, gnutls_cipher_algorithm_t alg, const uint8_t *key, const uint8_t salt[4],
                       uint16_t epoch, uint64_t seq, int read)
{
    gnutls_datum_t k = { (unsigned char *)key, (unsigned)gnutls_cipher_get_key_size(alg) };

    memset(r, 0, sizeof(*r));
    if (alg != GNUTLS_CIPHER_AES_128_GCM && alg != GNUTLS_CIPHER_AES_256_GCM)
        return -ENOTSUP;
    if (gnutls_aead_cipher_init(&r->aead, alg, &k) < 0)
        return -ENOMEM;
    memcpy(r->salt, salt, sizeof(r->salt));
    r->epoch = epoch;
    r->seq = seq;
    if (read)
        r->window = ~UINT64_C(0);
    return 0;
}

int ipop__rec_init(ipop__rec *r, gnutls_session_t tls, int read)
{
    gnutls_datum_t mac = { 0 }, iv = { 0 }, key = { 0 };
    uint8_t seq[8];
    uint64_t next;
    gnutls_cipher_algorithm_t alg = gnutls_cipher_get(tls);

    memset(r, 0, sizeof(*r));
    if (alg != GNUTLS_CIPHER_AES_128_GCM && alg != GNUTLS_CIPHER_AES_256_GCM)
        return -ENOTSUP;
    if (gnutls_record_get_state(tls, read ? 1 : 0, &mac, &iv, &key, seq) < 0 || iv.size != sizeof(r->salt) ||
        key.size != (unsigned)gnutls_cipher_get_key_size(alg))
        return -ENOTSUP;
    next = ipop__get48(seq + 2);
    /* Receiving: `seq` is the next one GnuTLS expects; none of ours is
     * older than what GnuTLS already took. */
    return ipop__rec_init_raw(r, alg, key.data, iv.data, ipop__get16(seq),
                              read ? (next ? next - 1 : 0) : next, read);
}

void ipop__rec_clear(ipop__rec *r)
{
    if (r->aead)
        gnutls_aead_cipher_deinit(r->aead);
    memset(r, 0, sizeof(*r));
}

void ipop__rec_seq_bytes(const ipop__rec *r, uint8_t out[8])
{
    ipop__put16(out, r->epoch);
    ipop__put48(out + 2, r->seq);
}

int ipop__rec_next(const uint8_t *buf, size_t len)
{
    size_t rl;

    if (!buf || len < IPOP__REC_HDR)
        return -EINVAL;
    rl = IPOP__REC_HDR + (size_t)ipop__get16(buf + 11);
    return rl <= len ? (int)rl : -EINVAL;
}

/* epoch, seq, type, version, length */
static void make_aad(uint8_t aad[13], const uint8_t *hdr, size_t pt_len)
{
    memcpy(aad, hdr + 3, 8);
    memcpy(aad + 8, hdr, 3);
    ipop__put16(aad + 11, (uint16_t)pt_len);
}

int ipop__rec_seal(ipop__rec *r, const uint8_t *pt, size_t len, uint8_t *out, size_t outsize)
{
    uint8_t aad[13], nonce[12];
    size_t ct_len = len + IPOP__REC_TAG, frag = IPOP__REC_NONCE + ct_len;

    if (len + IPOP__REC_OVERHEAD > outsize || frag > 0xffff)
        return -EMSGSIZE;
    if (!r->aead || r->seq > SEQ_MAX)
        return -EIO;
    out[0] = IPOP__REC_APP_DATA;
    out[1] = VERSION_MAJOR;
    out[2] = VERSION_MINOR;
    ipop__put16(out + 3, r->epoch);
    ipop__put48(out + 5, r->seq);
    ipop__put16(out + 11, (uint16_t)frag);
    /* the explicit nonce is the record's epoch and sequence number, unique per key */
    memcpy(out + IPOP__REC_HDR, out + 3, IPOP__REC_NONCE);
    memcpy(nonce, r->salt, 4);
    memcpy(nonce + 4, out + IPOP__REC_HDR, IPOP__REC_NONCE);
    make_aad(aad, out, len);
    if (gnutls_aead_cipher_encrypt(r->aead, nonce, sizeof(nonce), aad, sizeof(aad), IPOP__REC_TAG, pt, len,
                                   out + IPOP__REC_HDR + IPOP__REC_NONCE, &ct_len) < 0 ||
        ct_len != len + IPOP__REC_TAG)
        return -EIO;
    r->seq++;
    return (int)(IPOP__REC_HDR + frag);
}

int ipop__rec_open(ipop__rec *r, const uint8_t *rec, size_t len, uint8_t *out, size_t outsize)
{
    uint8_t aad[13], nonce[12];
    uint64_t seq;
    size_t frag, pt_len;

    if (len < IPOP__REC_HDR)
        return -EINVAL;
    frag = ipop__get16(rec + 11);
    if (rec[1] != VERSION_MAJOR || rec[2] != VERSION_MINOR || IPOP__REC_HDR + frag != len)
        return -EAGAIN; /* several records, or not DTLS 1.2: GnuTLS sorts it out */
    if (rec[0] != IPOP__REC_APP_DATA || ipop__get16(rec + 3) != r->epoch || !r->aead)
        return -EAGAIN;
    if (frag < IPOP__REC_NONCE + IPOP__REC_TAG)
        return -EINVAL;
    pt_len = frag - IPOP__REC_NONCE - IPOP__REC_TAG;
    if (pt_len > outsize)
        return -EMSGSIZE;
    seq = ipop__get48(rec + 5);
    if (seq + WINDOW_BITS <= r->seq || (seq <= r->seq && (r->window >> (r->seq - seq)) & 1))
        return -EALREADY;
    memcpy(nonce, r->salt, 4);
    memcpy(nonce + 4, rec + IPOP__REC_HDR, IPOP__REC_NONCE);
    make_aad(aad, rec, pt_len);
    if (gnutls_aead_cipher_decrypt(r->aead, nonce, sizeof(nonce), aad, sizeof(aad), IPOP__REC_TAG,
                                   rec + IPOP__REC_HDR + IPOP__REC_NONCE, frag - IPOP__REC_NONCE, out, &pt_len) < 0) {
        /* GnuTLS decrypts before it checks the tag and leaves the result */
        gnutls_memset(out, 0, frag - IPOP__REC_NONCE - IPOP__REC_TAG);
        return -EBADMSG;
    }
    /* authentic: only now does it move the window */
    if (seq > r->seq) {
        uint64_t shift = seq - r->seq;
        r->window = shift >= WINDOW_BITS ? 1 : (r->window << shift) | 1;
        r->seq = seq;
    } else {
        r->window |= UINT64_C(1) << (r->seq - seq);
    }
    return (int)pt_len;
}
