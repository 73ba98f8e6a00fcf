/* SPDX-License-Identifier: MIT */
/* lib/record.c against GnuTLS itself: two DTLS 1.2 sessions handshake in
 * memory, then records sealed here are read by GnuTLS, records GnuTLS
 * sends are opened here, and forged, replayed and stale ones refused. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include <gnutls/dtls.h>
#include <gnutls/gnutls.h>

#include "record.h"

typedef struct end {
    gnutls_session_t s;
    GQueue in;            /* GBytes*: datagrams for this end */
    struct end *peer;
    GBytes *last_sent;    /* the last datagram this end pushed */
} end;

static ssize_t push(gnutls_transport_ptr_t p, const void *data, size_t len)
{
    end *e = p;
    GBytes *b = g_bytes_new(data, len);

    g_queue_push_tail(&e->peer->in, g_bytes_ref(b));
    if (e->last_sent)
        g_bytes_unref(e->last_sent);
    e->last_sent = b;
    return (ssize_t)len;
}

static ssize_t pull(gnutls_transport_ptr_t p, void *data, size_t size)
{
    end *e = p;
    GBytes *b = g_queue_pop_head(&e->in);
    gsize len;
    const void *d;

    if (!b) {
        gnutls_transport_set_errno(e->s, EAGAIN);
        return -1;
    }
    d = g_bytes_get_data(b, &len);
    len = MIN(len, size);
    memcpy(data, d, len);
    g_bytes_unref(b);
    return (ssize_t)len;
}

static int pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
    end *e = p;
    return g_queue_is_empty(&e->in) ? 0 : 1;
}

static gnutls_psk_client_credentials_t ccred;
static gnutls_psk_server_credentials_t scred;

static int psk_key(gnutls_session_t s, const char *user, gnutls_datum_t *key)
{
    key->data = gnutls_malloc(16);
    memset(key->data, 0x42, 16);
    key->size = 16;
    return 0;
}

static void pair(end *c, end *s, const char *cipher)
{
    char *prio = g_strdup_printf("NONE:+VERS-DTLS1.2:+%s:+AEAD:+PSK:+SIGN-ALL:+GROUP-ALL:+COMP-NULL", cipher);
    static const gnutls_datum_t key = { (unsigned char *)"\x42\x42\x42\x42\x42\x42\x42\x42\x42\x42\x42\x42\x42\x42\x42\x42", 16 };
    int rc = -1, rs = -1;

    memset(c, 0, sizeof(*c));
    memset(s, 0, sizeof(*s));
    c->peer = s;
    s->peer = c;
    g_queue_init(&c->in);
    g_queue_init(&s->in);
    g_assert_cmpint(gnutls_psk_allocate_client_credentials(&ccred), ==, 0);
    g_assert_cmpint(gnutls_psk_set_client_credentials(ccred, "test", &key, GNUTLS_PSK_KEY_RAW), ==, 0);
    g_assert_cmpint(gnutls_psk_allocate_server_credentials(&scred), ==, 0);
    gnutls_psk_set_server_credentials_function(scred, psk_key);
    g_assert_cmpint(gnutls_init(&c->s, GNUTLS_CLIENT | GNUTLS_DATAGRAM | GNUTLS_NONBLOCK), ==, 0);
    g_assert_cmpint(gnutls_init(&s->s, GNUTLS_SERVER | GNUTLS_DATAGRAM | GNUTLS_NONBLOCK), ==, 0);
    g_assert_cmpint(gnutls_priority_set_direct(c->s, prio, NULL), ==, 0);
    g_assert_cmpint(gnutls_priority_set_direct(s->s, prio, NULL), ==, 0);
    gnutls_credentials_set(c->s, GNUTLS_CRD_PSK, ccred);
    gnutls_credentials_set(s->s, GNUTLS_CRD_PSK, scred);
    for (end *e = c; e; e = e == c ? s : NULL) {
        gnutls_transport_set_ptr(e->s, e);
        gnutls_transport_set_push_function(e->s, push);
        gnutls_transport_set_pull_function(e->s, pull);
        gnutls_transport_set_pull_timeout_function(e->s, pull_timeout);
        gnutls_dtls_set_mtu(e->s, 1500);
    }
    for (int i = 0; i < 50 && (rc != 0 || rs != 0); i++) {
        if (rc != 0)
            rc = gnutls_handshake(c->s);
        if (rs != 0)
            rs = gnutls_handshake(s->s);
        g_assert_true(rc == 0 || !gnutls_error_is_fatal(rc));
        g_assert_true(rs == 0 || !gnutls_error_is_fatal(rs));
    }
    g_assert_cmpint(rc, ==, 0);
    g_assert_cmpint(rs, ==, 0);
    g_free(prio);
}

static void unpair(end *c, end *s)
{
    for (end *e = c; e; e = e == c ? s : NULL) {
        gnutls_deinit(e->s);
        g_queue_clear_full(&e->in, (GDestroyNotify)g_bytes_unref);
        if (e->last_sent)
            g_bytes_unref(e->last_sent);
    }
    gnutls_psk_free_client_credentials(ccred);
    gnutls_psk_free_server_credentials(scred);
}

/* GnuTLS reads the record `rec` as the server; returns what it read. */
static ssize_t gnutls_reads(end *s, const uint8_t *rec, size_t len, uint8_t *out, size_t size)
{
    g_queue_push_tail(&s->in, g_bytes_new(rec, len));
    return gnutls_record_recv(s->s, out, size);
}

static void test_interop(gconstpointer cipher)
{
    end c, s;
    ipop__rec tx, rx;
    uint8_t pt[1400], rec[1500], out[1500];
    int n, m;

    pair(&c, &s, cipher);
    g_assert_cmpint(ipop__rec_init(&tx, c.s, 0), ==, 0);
    g_assert_cmpint(ipop__rec_init(&rx, c.s, 1), ==, 0);
    for (size_t i = 0; i < sizeof(pt); i++)
        pt[i] = (uint8_t)(i * 7 + 3);

    /* sealed here, read by GnuTLS: sizes from 1 to 1400 (GnuTLS skips empty records) */
    for (size_t len = 1; len <= sizeof(pt); len += 97) {
        n = ipop__rec_seal(&tx, pt, len, rec, sizeof(rec));
        g_assert_cmpint(n, ==, (int)(len + IPOP__REC_OVERHEAD));
        g_assert_cmpint(gnutls_reads(&s, rec, (size_t)n, out, sizeof(out)), ==, (ssize_t)len);
        g_assert_cmpmem(out, len, pt, len);
    }
    /* sent by GnuTLS, opened here */
    for (size_t len = 1; len <= sizeof(pt); len += 139) {
        gsize dlen;
        const uint8_t *d;
        g_assert_cmpint(gnutls_record_send(s.s, pt, len), ==, (ssize_t)len);
        d = g_bytes_get_data(s.last_sent, &dlen);
        g_bytes_unref(g_queue_pop_head(&c.in));
        m = ipop__rec_open(&rx, d, dlen, out, sizeof(out));
        g_assert_cmpint(m, ==, (int)len);
        g_assert_cmpmem(out, len, pt, len);
        /* the same record again: a replay */
        g_assert_cmpint(ipop__rec_open(&rx, d, dlen, out, sizeof(out)), ==, -EALREADY);
    }
    /* GnuTLS carries on from where record.c got to: its next record is
     * accepted by the peer (a reused sequence number would be a replay). */
    {
        uint8_t seq[8];
        ipop__rec_seq_bytes(&tx, seq);
        g_assert_cmpint(gnutls_record_set_state(c.s, 0, seq), ==, 0);
        g_assert_cmpint(gnutls_record_send(c.s, "after", 5), ==, 5);
        g_assert_cmpint(gnutls_record_recv(s.s, out, sizeof(out)), ==, 5);
        g_assert_cmpmem(out, 5, "after", 5);
    }
    ipop__rec_clear(&tx);
    ipop__rec_clear(&rx);
    unpair(&c, &s);
}

/* Records that must not open: every bit flipped, truncated, from another
 * epoch or of another type, too old or replayed; reordering within the
 * window is fine. */
static void test_refused(void)
{
    end c, s;
    ipop__rec tx, rx;
    uint8_t pt[100], recs[80][200], out[1500];
    int lens[80];

    pair(&c, &s, "AES-128-GCM");
    g_assert_cmpint(ipop__rec_init(&tx, s.s, 0), ==, 0); /* server writes, */
    g_assert_cmpint(ipop__rec_init(&rx, c.s, 1), ==, 0); /* client reads */
    memset(pt, 0xa5, sizeof(pt));
    for (int i = 0; i < 80; i++) {
        lens[i] = ipop__rec_seal(&tx, pt, sizeof(pt), recs[i], sizeof(recs[i]));
        g_assert_cmpint(lens[i], ==, (int)sizeof(pt) + IPOP__REC_OVERHEAD);
    }
    /* no single-bit change opens */
    for (int bit = 0; bit < lens[0] * 8; bit++) {
        recs[0][bit / 8] ^= (uint8_t)(1u << (bit % 8));
        g_assert_cmpint(ipop__rec_open(&rx, recs[0], (size_t)lens[0], out, sizeof(out)), <, 0);
        recs[0][bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (int l = 0; l < lens[0]; l++)
        g_assert_cmpint(ipop__rec_open(&rx, recs[0], (size_t)l, out, sizeof(out)), <, 0);
    /* a forged tag: the plaintext it decrypted to is not left in out */
    recs[0][lens[0] - 1] ^= 1;
    g_assert_cmpint(ipop__rec_open(&rx, recs[0], (size_t)lens[0], out, sizeof(out)), ==, -EBADMSG);
    recs[0][lens[0] - 1] ^= 1;
    for (size_t i = 0; i < sizeof(pt); i++)
        g_assert_cmpuint(out[i], !=, 0xa5);
    /* a handshake record, or another epoch: GnuTLS's (-EAGAIN) */
    recs[0][0] = 22;
    g_assert_cmpint(ipop__rec_open(&rx, recs[0], (size_t)lens[0], out, sizeof(out)), ==, -EAGAIN);
    recs[0][0] = 23;
    recs[0][4] ^= 1;
    g_assert_cmpint(ipop__rec_open(&rx, recs[0], (size_t)lens[0], out, sizeof(out)), ==, -EAGAIN);
    recs[0][4] ^= 1;
    /* too small a buffer */
    g_assert_cmpint(ipop__rec_open(&rx, recs[0], (size_t)lens[0], out, 10), ==, -EMSGSIZE);

    /* out of order within the window: each once */
    g_assert_cmpint(ipop__rec_open(&rx, recs[70], (size_t)lens[70], out, sizeof(out)), ==, (int)sizeof(pt));
    g_assert_cmpint(ipop__rec_open(&rx, recs[10], (size_t)lens[10], out, sizeof(out)), ==, (int)sizeof(pt));
    g_assert_cmpint(ipop__rec_open(&rx, recs[10], (size_t)lens[10], out, sizeof(out)), ==, -EALREADY);
    g_assert_cmpint(ipop__rec_open(&rx, recs[69], (size_t)lens[69], out, sizeof(out)), ==, (int)sizeof(pt));
    g_assert_cmpint(ipop__rec_open(&rx, recs[70], (size_t)lens[70], out, sizeof(out)), ==, -EALREADY);
    /* more than 64 behind the newest: too old */
    g_assert_cmpint(ipop__rec_open(&rx, recs[5], (size_t)lens[5], out, sizeof(out)), ==, -EALREADY);
    g_assert_cmpint(ipop__rec_open(&rx, recs[79], (size_t)lens[79], out, sizeof(out)), ==, (int)sizeof(pt));
    g_assert_cmpint(ipop__rec_open(&rx, recs[16], (size_t)lens[16], out, sizeof(out)), ==, (int)sizeof(pt));
    g_assert_cmpint(ipop__rec_open(&rx, recs[15], (size_t)lens[15], out, sizeof(out)), ==, -EALREADY);
    /* too large to seal */
    g_assert_cmpint(ipop__rec_seal(&tx, pt, sizeof(pt), recs[0], sizeof(pt) + IPOP__REC_OVERHEAD - 1), ==, -EMSGSIZE);
    ipop__rec_clear(&tx);
    ipop__rec_clear(&rx);
    unpair(&c, &s);
}

/* Another cipher: record.c declines and GnuTLS keeps the records. */
static void test_other_cipher(void)
{
    end c, s;
    ipop__rec r;

    pair(&c, &s, "CHACHA20-POLY1305");
    g_assert_cmpint(ipop__rec_init(&r, c.s, 0), ==, -ENOTSUP);
    ipop__rec_clear(&r);
    unpair(&c, &s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_data_func("/record/interop/aes-128-gcm", "AES-128-GCM", test_interop);
    g_test_add_data_func("/record/interop/aes-256-gcm", "AES-256-GCM", test_interop);
    g_test_add_func("/record/refused", test_refused);
    g_test_add_func("/record/other-cipher", test_other_cipher);
    return g_test_run();
}
