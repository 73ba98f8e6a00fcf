/* SPDX-License-Identifier: MIT */
/*
 * Cost per packet of the DTLS record layer, as links use it.
 *
 * Two GnuTLS DTLS 1.2 sessions in one thread, client and server, with the
 * settings of lib/dtls.c (its priority string, one cipher at a time; the
 * node identity of lib/identity.c as certificate; MTU DTLS_MTU), shake hands
 * over a memory transport: push appends the datagram to the other side's
 * queue, pull takes the next one.  Then records of each size are sealed
 * (gnutls_record_send: encrypt, MAC, sequence number, one push) in batches,
 * and opened on the other side (gnutls_record_recv: one pull, replay check,
 * decrypt).  Nothing touches a socket: this is the cost that DTLS adds to
 * each packet, on top of libnice and the kernel.  With AES-GCM the same
 * sessions' keys are then handed to lib/record.c, which links use after
 * the handshake: its seal and open are measured the same way (rows
 * "record.c").
 *
 * Times are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so time spent
 * preempted on a busy machine does not count.  Each row runs in ROUNDS
 * rounds and reports the median round, which keeps one disturbed round
 * (another process evicting the caches) out of the figure.  Gbit/s counts
 * record payload.
 *
 * usage: crypto [RECORDS [SIZE...]]   (default 200000 records; 64 and 1400 B)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>
#include <gnutls/dtls.h>
#include <gnutls/gnutls.h>

#include "identity.h"
#include "dtls.h" /* DTLS_MTU, REC_MAX */
#include "record.h"

/* lib/dtls.c's PRIORITY with the cipher list left open. */
#define PRIORITY_HEAD "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:"
#define PRIORITY_TAIL ":-KX-ALL:+ECDHE-ECDSA:-SIGN-ALL:+SIGN-ECDSA-SHA256:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1"
#define LINK_CIPHERS "+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305"

#define BATCH 256       /* records sealed, then opened, at a time */
#define ROUNDS 5
#define DGRAM_MAX 2048
#define MAX_SIZES 8

/* The datagrams in flight towards one side. */
typedef struct queue {
    uint8_t data[BATCH + 16][DGRAM_MAX];
    size_t len[BATCH + 16];
    unsigned head, count;
    unsigned long long dropped;
} queue;

typedef struct side {
    gnutls_session_t tls;
    queue *in;   /* what this side pulls */
    queue *out;  /* where its pushes go */
    bool done;
} side;

static double cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static ssize_t mem_push(gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
    side *s = ptr;
    queue *q = s->out;
    unsigned n = G_N_ELEMENTS(q->len);

    /* As on a socket, a datagram that does not fit is lost, not retried. */
    if (q->count == n || len > DGRAM_MAX) {
        q->dropped++;
        return (ssize_t)len;
    }
    unsigned tail = (q->head + q->count) % n;
    memcpy(q->data[tail], data, len);
    q->len[tail] = len;
    q->count++;
    return (ssize_t)len;
}

static ssize_t mem_pull(gnutls_transport_ptr_t ptr, void *data, size_t size)
{
    side *s = ptr;
    queue *q = s->in;
    size_t n;

    if (!q->count) {
        gnutls_transport_set_errno(s->tls, EAGAIN);
        return -1;
    }
    n = MIN(size, q->len[q->head]);
    memcpy(data, q->data[q->head], n);
    q->head = (q->head + 1) % G_N_ELEMENTS(q->len);
    q->count--;
    return (ssize_t)n;
}

static int mem_pull_timeout(gnutls_transport_ptr_t ptr, unsigned ms)
{
    side *s = ptr;

    return s->in->count ? 1 : 0;
}

static int side_init(side *s, bool client, const char *priority, ipop__identity *id)
{
    int r;

    r = gnutls_init(&s->tls, (client ? GNUTLS_CLIENT : GNUTLS_SERVER) | GNUTLS_DATAGRAM | GNUTLS_NONBLOCK);
    if (r < 0)
        return r;
    if ((r = gnutls_priority_set_direct(s->tls, priority, NULL)) < 0 ||
        (r = gnutls_credentials_set(s->tls, GNUTLS_CRD_CERTIFICATE, ipop__identity_credentials(id))) < 0)
        return r;
    if (!client)
        gnutls_certificate_server_set_request(s->tls, GNUTLS_CERT_REQUIRE);
    gnutls_transport_set_ptr(s->tls, s);
    gnutls_transport_set_push_function(s->tls, mem_push);
    gnutls_transport_set_pull_function(s->tls, mem_pull);
    gnutls_transport_set_pull_timeout_function(s->tls, mem_pull_timeout);
    gnutls_dtls_set_mtu(s->tls, DTLS_MTU);
    return 0;
}

/* Both sides step their handshakes in turn until both are done.  Nothing
 * is lost in memory, so no retransmission timer is needed. */
static int handshake(side *c, side *s)
{
    for (int round = 0; round < 100 && !(c->done && s->done); round++) {
        side *both[2] = { c, s };
        for (int i = 0; i < 2; i++) {
            int r;
            if (both[i]->done)
                continue;
            r = gnutls_handshake(both[i]->tls);
            if (r == 0)
                both[i]->done = true;
            else if (gnutls_error_is_fatal(r))
                return r;
        }
    }
    return c->done && s->done ? 0 : GNUTLS_E_TIMEDOUT;
}

typedef struct cost {
    double seal_s, open_s;
    unsigned long long records;
} cost;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Seals `records` records of `size` bytes on `from`, opens them on `to`. */
static int run(side *from, side *to, size_t size, unsigned long long records, cost *out)
{
    uint8_t msg[DGRAM_MAX], got[DGRAM_MAX];
    unsigned long long done = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < size; i++)
        msg[i] = (uint8_t)(i * 31);
    while (done < records) {
        unsigned n = (unsigned)MIN((unsigned long long)BATCH, records - done);
        double t0 = cpu_now();
        for (unsigned i = 0; i < n; i++) {
            ssize_t r = gnutls_record_send(from->tls, msg, size);
            if (r != (ssize_t)size) {
                fprintf(stderr, "seal of %zu B: %s\n", size, r < 0 ? gnutls_strerror((int)r) : "short");
                return -1;
            }
        }
        double t1 = cpu_now();
        for (unsigned i = 0; i < n; i++) {
            ssize_t r = gnutls_record_recv(to->tls, got, sizeof(got));
            if (r != (ssize_t)size || memcmp(got, msg, size) != 0) {
                fprintf(stderr, "open of %zu B: %s\n", size, r < 0 ? gnutls_strerror((int)r) : "wrong record");
                return -1;
            }
        }
        double t2 = cpu_now();
        out->seal_s += t1 - t0;
        out->open_s += t2 - t1;
        done += n;
    }
    out->records = done;
    return 0;
}

/* The same with lib/record.c on the keys of from's write and to's read
 * state. */
static int run_rec(ipop__rec *tx, ipop__rec *rx, size_t size, unsigned long long records, cost *out)
{
    static uint8_t recs[BATCH][DGRAM_MAX];
    static int lens[BATCH];
    uint8_t msg[DGRAM_MAX], got[DGRAM_MAX];
    unsigned long long done = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < size; i++)
        msg[i] = (uint8_t)(i * 31);
    while (done < records) {
        unsigned n = (unsigned)MIN((unsigned long long)BATCH, records - done);
        double t0 = cpu_now();
        for (unsigned i = 0; i < n; i++) {
            lens[i] = ipop__rec_seal(tx, msg, size, recs[i], sizeof(recs[i]));
            if (lens[i] < 0) {
                fprintf(stderr, "record.c seal of %zu B: %d\n", size, lens[i]);
                return -1;
            }
        }
        double t1 = cpu_now();
        for (unsigned i = 0; i < n; i++) {
            int r = ipop__rec_open(rx, recs[i], (size_t)lens[i], got, sizeof(got));
            if (r != (int)size || memcmp(got, msg, size) != 0) {
                fprintf(stderr, "record.c open of %zu B: %d\n", size, r);
                return -1;
            }
        }
        double t2 = cpu_now();
        out->seal_s += t1 - t0;
        out->open_s += t2 - t1;
        done += n;
    }
    out->records = done;
    return 0;
}

/* ns per record of the median of ROUNDS rounds of `records` each. */
static int run_rounds(side *from, side *to, ipop__rec *tx, ipop__rec *rx, size_t size, unsigned long long records,
                      double *seal_ns, double *open_ns)
{
    double seal[ROUNDS], open[ROUNDS];
    unsigned long long per_round = (records + ROUNDS - 1) / ROUNDS;

    for (int r = 0; r < ROUNDS; r++) {
        cost c;
        if ((tx ? run_rec(tx, rx, size, per_round, &c) : run(from, to, size, per_round, &c)) < 0)
            return -1;
        seal[r] = c.seal_s * 1e9 / (double)c.records;
        open[r] = c.open_s * 1e9 / (double)c.records;
    }
    *seal_ns = median(seal, ROUNDS);
    *open_ns = median(open, ROUNDS);
    return 0;
}

static void print_row(const char *cipher, const char *how, size_t size, double seal_ns, double open_ns)
{
    printf("| %s | %s | %zu | %.0f | %.2f | %.0f | %.2f |\n", cipher, how, size, seal_ns, size * 8 / seal_ns, open_ns,
           size * 8 / open_ns);
    fflush(stdout);
}

/* Handshakes one pair of sessions under `priority`; the caller deinits. */
static int pair_up(side *c, side *s, queue *to_c, queue *to_s, const char *priority, ipop__identity *idc,
                   ipop__identity *ids)
{
    int r;

    memset(to_c, 0, sizeof(*to_c));
    memset(to_s, 0, sizeof(*to_s));
    *c = (side){ .in = to_c, .out = to_s };
    *s = (side){ .in = to_s, .out = to_c };
    if ((r = side_init(c, true, priority, idc)) < 0 || (r = side_init(s, false, priority, ids)) < 0 ||
        (r = handshake(c, s)) < 0) {
        fprintf(stderr, "DTLS setup (%s): %s\n", priority, gnutls_strerror(r));
        return -1;
    }
    return 0;
}

static void pair_down(side *c, side *s)
{
    if (c->tls)
        gnutls_deinit(c->tls);
    if (s->tls)
        gnutls_deinit(s->tls);
    c->tls = s->tls = NULL;
}

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [RECORDS [SIZE...]]\n"
            "  RECORDS  records per cipher and size (default 200000)\n"
            "  SIZE     record payload in bytes, 1..%d (default 64 1400)\n", argv0, REC_MAX);
    return 2;
}

int main(int argc, char **argv)
{
    static const char *const ciphers[] = { "AES-128-GCM", "AES-256-GCM", "CHACHA20-POLY1305" };
    static queue to_c, to_s;
    unsigned long long records = 200000;
    size_t sizes[MAX_SIZES] = { 64, 1400 };
    int n_sizes = 2, ret = 1;
    ipop__identity *idc = NULL, *ids = NULL;
    side c = { 0 }, s = { 0 };

    if (argc > 1 && (records = strtoull(argv[1], NULL, 10)) < 1)
        return usage(argv[0]);
    if (argc > 2) {
        if (argc - 2 > MAX_SIZES)
            return usage(argv[0]);
        for (n_sizes = 0; n_sizes < argc - 2; n_sizes++) {
            long v = strtol(argv[n_sizes + 2], NULL, 10);
            if (v < 1 || v > REC_MAX)
                return usage(argv[0]);
            sizes[n_sizes] = (size_t)v;
        }
    }
    if (gnutls_global_init() < 0 || ipop__identity_load(&idc, NULL) < 0 || ipop__identity_load(&ids, NULL) < 0) {
        fprintf(stderr, "cannot make the identities\n");
        goto out;
    }

    /* Which cipher a link gets: both sides offer lib/dtls.c's list. */
    if (pair_up(&c, &s, &to_c, &to_s, PRIORITY_HEAD LINK_CIPHERS PRIORITY_TAIL, idc, ids) < 0)
        goto out;
    printf("GnuTLS %s, DTLS 1.2, MTU %d; dtls.c's priorities negotiate %s (group %s)\n",
           gnutls_check_version(NULL), DTLS_MTU, gnutls_cipher_get_name(gnutls_cipher_get(c.tls)),
           gnutls_group_get_name(gnutls_group_get(c.tls)));
    printf("%llu records per row in %d rounds, in batches of %d; median round, CPU time of this thread\n\n",
           records, ROUNDS, BATCH);
    pair_down(&c, &s);

    printf("| cipher | records by | record B | seal ns/packet | seal Gbit/s | open ns/packet | open Gbit/s |\n");
    printf("|---|---|---:|---:|---:|---:|---:|\n");
    for (size_t k = 0; k < G_N_ELEMENTS(ciphers); k++) {
        char *prio = g_strdup_printf("%s+%s%s", PRIORITY_HEAD, ciphers[k], PRIORITY_TAIL);
        int r = pair_up(&c, &s, &to_c, &to_s, prio, idc, ids);

        g_free(prio);
        if (r < 0)
            goto out;
        for (int i = 0; i < n_sizes; i++) {
            double seal_ns, open_ns;
            if (run_rounds(&c, &s, NULL, NULL, sizes[i], records, &seal_ns, &open_ns) < 0)
                goto out;
            print_row(ciphers[k], "GnuTLS", sizes[i], seal_ns, open_ns);
        }
        {
            ipop__rec tx, rx;
            if (ipop__rec_init(&tx, c.tls, 0) == 0 && ipop__rec_init(&rx, s.tls, 1) == 0) {
                for (int i = 0; i < n_sizes; i++) {
                    double seal_ns, open_ns;
                    if (run_rounds(&c, &s, &tx, &rx, sizes[i], records, &seal_ns, &open_ns) < 0)
                        goto out;
                    print_row(ciphers[k], "record.c", sizes[i], seal_ns, open_ns);
                }
            }
            ipop__rec_clear(&tx);
            ipop__rec_clear(&rx);
        }
        if (to_s.dropped || to_c.dropped) {
            fprintf(stderr, "%llu datagrams did not fit the memory queue\n", to_s.dropped + to_c.dropped);
            goto out;
        }
        pair_down(&c, &s);
    }
    ret = 0;
out:
    pair_down(&c, &s);
    ipop__identity_free(idc);
    ipop__identity_free(ids);
    gnutls_global_deinit();
    return ret;
}
