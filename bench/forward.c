/* SPDX-License-Identifier: MIT */
/*
 * Cost of a forwarding lookup (lib/forward.c) in a table of many routes.
 *
 * The table is filled as the overlay fills it: every connected link adds
 * its peer's IPv4 /32 and IPv6 /128 host address; in TAP mode, MACs are
 * learned from received frames (the MAC table holds at most
 * IPOP__FWD_MAC_MAX entries).  Then lookups of addresses in the table
 * (hits) and of addresses not in it (misses) run in a random order, on one
 * thread and on several threads at once: the table is read under a GRWLock
 * taken shared, so concurrent readers never wait for each other but do
 * share the lock's cache line.
 *
 * Last, for reference, the cost of taking and releasing a GRWLock shared
 * with nothing in between, on one and on several threads.
 *
 * Each row runs in ROUNDS rounds and reports the median round.  ns per
 * lookup is the thread's CPU time divided by its lookups, so time
 * the thread spent preempted on a busy machine does not count; lookups per
 * second is all threads' lookups over the wall-clock time of the slowest.
 *
 * The owners are fake link pointers: the table never dereferences them.
 *
 * usage: forward [ROUTES [LOOKUPS [THREADS]]]   (default 10000, 10000000, 2)
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <glib.h>

#include "addr.h"
#include "forward.h"

/* Keys are looked up in this many random orders, cycled through: large
 * enough to defeat the branch predictor, small enough to stay in cache. */
#define KEYS 65536
#define ROUNDS 5 /* per row; the median round is reported */

typedef enum { K_V4, K_V6, K_MAC, K_LOCK } key_kind;

typedef struct mac_key {
    uint8_t b[6];
} mac_key;

typedef struct keyset {
    key_kind kind;
    ipop__addr *addr; /* K_V4, K_V6 */
    mac_key *mac;     /* K_MAC */
} keyset;

typedef struct job {
    ipop__fwd *fwd;
    const keyset *keys;
    unsigned long long lookups;
    atomic_int *go;
    double seconds, cpu_seconds;
    unsigned long long found;
} job;

static double clock_s(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

/* Route n's addresses: 10.0.0.0/8 and fd00::/64 host addresses, and a
 * locally administered unicast MAC.  Misses use other prefixes. */
static void addr_v4(ipop__addr *a, uint32_t n, bool miss)
{
    memset(a, 0, sizeof(*a));
    a->family = AF_INET;
    a->prefix = 32;
    a->bytes[0] = miss ? 11 : 10;
    a->bytes[1] = (uint8_t)(n >> 16);
    a->bytes[2] = (uint8_t)(n >> 8);
    a->bytes[3] = (uint8_t)n;
}

static void addr_v6(ipop__addr *a, uint32_t n, bool miss)
{
    memset(a, 0, sizeof(*a));
    a->family = AF_INET6;
    a->prefix = 128;
    a->bytes[0] = 0xfd;
    a->bytes[7] = miss ? 1 : 0;
    a->bytes[12] = (uint8_t)(n >> 24);
    a->bytes[13] = (uint8_t)(n >> 16);
    a->bytes[14] = (uint8_t)(n >> 8);
    a->bytes[15] = (uint8_t)n;
}

static void addr_mac(uint8_t mac[6], uint32_t n, bool miss)
{
    mac[0] = 0x02;
    mac[1] = miss ? 0x01 : 0x00;
    mac[2] = (uint8_t)(n >> 24);
    mac[3] = (uint8_t)(n >> 16);
    mac[4] = (uint8_t)(n >> 8);
    mac[5] = (uint8_t)n;
}

static void keyset_init(keyset *k, key_kind kind, uint32_t routes, bool miss, GRand *rng)
{
    memset(k, 0, sizeof(*k));
    k->kind = kind;
    if (kind == K_MAC)
        k->mac = g_new(mac_key, KEYS);
    else
        k->addr = g_new(ipop__addr, KEYS);
    for (uint32_t i = 0; i < KEYS; i++) {
        uint32_t n = (uint32_t)g_rand_int_range(rng, 0, (gint32)routes);
        if (kind == K_V4)
            addr_v4(&k->addr[i], n, miss);
        else if (kind == K_V6)
            addr_v6(&k->addr[i], n, miss);
        else
            addr_mac(k->mac[i].b, n, miss);
    }
}

static void keyset_clear(keyset *k)
{
    g_free(k->addr);
    g_free(k->mac);
}

/* The reference row: what the table's shared lock alone costs. */
static GRWLock ref_lock;

static void *lock_only(void)
{
    g_rw_lock_reader_lock(&ref_lock);
    g_rw_lock_reader_unlock(&ref_lock);
    return NULL;
}

static gpointer run_job(gpointer data)
{
    job *j = data;
    unsigned long long found = 0;
    double t0, c0;

    while (!atomic_load(j->go))
        ;
    t0 = now_s();
    c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    for (unsigned long long i = 0; i < j->lookups; i++) {
        uint32_t k = (uint32_t)(i & (KEYS - 1));
        void *owner = j->keys->kind == K_LOCK ? lock_only()
                      : j->keys->kind == K_MAC ? ipop__fwd_lookup_mac(j->fwd, j->keys->mac[k].b)
                                               : ipop__fwd_lookup_ip(j->fwd, &j->keys->addr[k]);
        found += owner != NULL;
    }
    j->cpu_seconds = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    j->seconds = now_s() - t0;
    j->found = found;
    return NULL;
}

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

/* One round: `threads` threads of `lookups` lookups each.  Returns false
 * when a lookup found the wrong thing. */
static bool round_once(ipop__fwd *fwd, const keyset *keys, bool hit, unsigned long long lookups, int threads,
                       double *ns, double *mps)
{
    job jobs[16];
    GThread *th[16];
    atomic_int go = 0;
    double worst = 0, mean_ns = 0;
    bool ok = true;

    for (int t = 0; t < threads; t++) {
        jobs[t] = (job){ .fwd = fwd, .keys = keys, .lookups = lookups, .go = &go };
        th[t] = g_thread_new("lookup", run_job, &jobs[t]);
    }
    atomic_store(&go, 1);
    for (int t = 0; t < threads; t++) {
        g_thread_join(th[t]);
        if (jobs[t].seconds > worst)
            worst = jobs[t].seconds;
        mean_ns += jobs[t].cpu_seconds * 1e9 / (double)lookups / threads;
        if (keys->kind != K_LOCK && jobs[t].found != (hit ? lookups : 0))
            ok = false;
    }
    *ns = mean_ns;
    *mps = (double)lookups * threads / worst / 1e6;
    return ok;
}

/* Runs ROUNDS rounds of `lookups` lookups per thread in all; prints the
 * median round's ns per lookup (per thread) and lookups per second of all
 * threads together. */
static bool measure(ipop__fwd *fwd, const char *what, const keyset *keys, bool hit, unsigned long long lookups,
                    int threads)
{
    double ns[ROUNDS], mps[ROUNDS];
    bool ok = true;

    for (int r = 0; r < ROUNDS; r++)
        ok &= round_once(fwd, keys, hit, (lookups + ROUNDS - 1) / ROUNDS, threads, &ns[r], &mps[r]);
    printf("| %s | %s | %d | %.1f | %.2f |\n", what, keys->kind == K_LOCK ? "-" : hit ? "hit" : "miss", threads,
           median(ns, ROUNDS), median(mps, ROUNDS));
    fflush(stdout);
    if (!ok)
        fprintf(stderr, "%s %s: a lookup gave the wrong answer\n", what, hit ? "hit" : "miss");
    return ok;
}

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [ROUTES [LOOKUPS [THREADS]]]\n"
            "  ROUTES   host routes per family (default 10000)\n"
            "  LOOKUPS  lookups per thread and row (default 10000000)\n"
            "  THREADS  threads for the concurrent rows, 2..16 (default 2)\n", argv0);
    return 2;
}

int main(int argc, char **argv)
{
    long routes = 10000, threads = 2;
    unsigned long long lookups = 10000000;
    ipop__fwd *fwd;
    GRand *rng;
    keyset keys[3][2], lock_keys = { .kind = K_LOCK };
    static const char *const names[3] = { "IPv4 /32", "IPv6 /128", "MAC" };
    uint32_t macs;
    bool ok = true;
    double t0;

    if (argc > 4 || (argc > 1 && (routes = strtol(argv[1], NULL, 10)) < 1) || routes > 1000000 ||
        (argc > 2 && (lookups = strtoull(argv[2], NULL, 10)) < 1) ||
        (argc > 3 && ((threads = strtol(argv[3], NULL, 10)) < 2 || threads > 16)))
        return usage(argv[0]);

    fwd = ipop__fwd_new();
    if (!fwd)
        return 1;
    macs = routes < IPOP__FWD_MAC_MAX ? (uint32_t)routes : IPOP__FWD_MAC_MAX;
    t0 = now_s();
    for (uint32_t n = 0; n < (uint32_t)routes; n++) {
        /* One fake link per route pair, as a link adds both its addresses. */
        void *owner = (void *)(uintptr_t)(0x1000 + 16 * (uintptr_t)n);
        ipop__addr a4, a6;
        addr_v4(&a4, n, false);
        addr_v6(&a6, n, false);
        if (ipop__fwd_add_ip(fwd, &a4, owner) < 0 || ipop__fwd_add_ip(fwd, &a6, owner) < 0) {
            fprintf(stderr, "adding route %u failed\n", n);
            return 1;
        }
        if (n < macs) {
            uint8_t mac[6];
            addr_mac(mac, n, false);
            ipop__fwd_learn_mac(fwd, mac, owner);
        }
    }
    printf("forwarding table: %zu IP routes (%ld IPv4, %ld IPv6) and %zu MACs, filled in %.1f ms\n",
           ipop__fwd_count(fwd), routes, routes, ipop__fwd_mac_count(fwd), (now_s() - t0) * 1e3);
    printf("%llu lookups per thread and row in %d rounds (median round), keys in random order\n\n", lookups, ROUNDS);

    rng = g_rand_new_with_seed(5);
    for (int k = 0; k < 3; k++)
        for (int m = 0; m < 2; m++)
            keyset_init(&keys[k][m], (key_kind)k, k == K_MAC ? macs : (uint32_t)routes, m == 1, rng);

    printf("| key | result | threads | ns per lookup (thread CPU time) | Mlookups/s (all threads, wall clock) |\n");
    printf("|---|---|---:|---:|---:|\n");
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < 3; k++)
            for (int m = 0; m < 2; m++)
                ok &= measure(fwd, names[k], &keys[k][m], m == 0, lookups, pass ? (int)threads : 1);
    for (int pass = 0; pass < 2; pass++)
        measure(fwd, "GRWLock reader lock + unlock alone", &lock_keys, false, lookups, pass ? (int)threads : 1);

    for (int k = 0; k < 3; k++)
        for (int m = 0; m < 2; m++)
            keyset_clear(&keys[k][m]);
    g_rand_free(rng);
    ipop__fwd_free(fwd);
    return ok ? 0 : 1;
}
