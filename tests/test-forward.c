/* SPDX-License-Identifier: MIT */
/* The forwarding table: IP routes, owner removal, MAC learning, and lookups
 * racing with changes. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>

#include "forward.h"
#include "testutil.h"

/* Distinct owners: only their addresses matter. */
static char link_a, link_b, link_c;
#define A ((void *)&link_a)
#define B ((void *)&link_b)
#define C ((void *)&link_c)

/* Built by hand so that this test does not depend on addr.c. */
static ipop__addr ip4(uint32_t host_order)
{
    ipop__addr a = { .family = AF_INET, .prefix = 32 };
    uint32_t be = htonl(host_order);

    memcpy(a.bytes, &be, 4);
    return a;
}

static ipop__addr ip6(const char *text)
{
    ipop__addr a = { .family = AF_INET6, .prefix = 128 };

    g_assert_cmpint(inet_pton(AF_INET6, text, a.bytes), ==, 1);
    return a;
}

static ipop__addr ip6_n(uint32_t n)
{
    ipop__addr a = ip6("fd00::");

    a.bytes[12] = n >> 24;
    a.bytes[13] = n >> 16;
    a.bytes[14] = n >> 8;
    a.bytes[15] = n;
    return a;
}

static void mac_n(uint8_t mac[6], uint32_t n)
{
    mac[0] = 0x02; /* locally administered unicast */
    mac[1] = 0x00;
    mac[2] = n >> 24;
    mac[3] = n >> 16;
    mac[4] = n >> 8;
    mac[5] = n;
}

static void test_ip4(void)
{
    ipop__fwd *f = ipop__fwd_new();
    ipop__addr a = ip4(0x0a000001), b = ip4(0x0a000002), other = ip4(0x0a000003);

    g_assert_nonnull(f);
    g_assert_cmpuint(ipop__fwd_count(f), ==, 0);
    g_assert_null(ipop__fwd_lookup_ip(f, &a));
    g_assert_cmpint(ipop__fwd_add_ip(f, &a, A), ==, 0);
    g_assert_cmpint(ipop__fwd_add_ip(f, &b, B), ==, 0);
    g_assert_true(ipop__fwd_lookup_ip(f, &a) == A);
    g_assert_true(ipop__fwd_lookup_ip(f, &b) == B);
    g_assert_null(ipop__fwd_lookup_ip(f, &other));
    g_assert_cmpuint(ipop__fwd_count(f), ==, 2);

    /* The prefix and the unused bytes of an IPv4 address do not matter. */
    ipop__addr probe = a;
    probe.prefix = 24;
    memset(probe.bytes + 4, 0xee, 12);
    g_assert_true(ipop__fwd_lookup_ip(f, &probe) == A);

    /* A later add moves the address to the new owner. */
    g_assert_cmpint(ipop__fwd_add_ip(f, &a, C), ==, 0);
    g_assert_true(ipop__fwd_lookup_ip(f, &a) == C);
    g_assert_cmpuint(ipop__fwd_count(f), ==, 2);

    ipop__fwd_remove_owner(f, C);
    g_assert_null(ipop__fwd_lookup_ip(f, &a));
    g_assert_true(ipop__fwd_lookup_ip(f, &b) == B);
    g_assert_cmpuint(ipop__fwd_count(f), ==, 1);
    ipop__fwd_free(f);
}

/* The generation tells a cached lookup when it may be stale: it moves
 * with every change of the IP table and with nothing else. */
static void test_generation(void)
{
    ipop__fwd *f = ipop__fwd_new();
    ipop__addr a = ip4(0x0a000001), b = ip6("fd77::2");
    uint8_t mac[6];
    uint64_t g;

    g = ipop__fwd_ip_gen(f);
    g_assert_cmpint(ipop__fwd_add_ip(f, &a, A), ==, 0);
    g_assert_cmpuint(ipop__fwd_ip_gen(f), !=, g);
    g = ipop__fwd_ip_gen(f);
    g_assert_cmpint(ipop__fwd_add_ip(f, &b, B), ==, 0);
    g_assert_cmpuint(ipop__fwd_ip_gen(f), !=, g);

    /* lookups, MAC learning and removing an owner without addresses: no change */
    g = ipop__fwd_ip_gen(f);
    g_assert_true(ipop__fwd_lookup_ip(f, &a) == A);
    mac_n(mac, 7);
    ipop__fwd_learn_mac(f, mac, C);
    ipop__fwd_remove_owner(f, C);
    g_assert_cmpuint(ipop__fwd_ip_gen(f), ==, g);

    /* an address moving to another owner, and an owner's removal */
    g_assert_cmpint(ipop__fwd_add_ip(f, &a, C), ==, 0);
    g_assert_cmpuint(ipop__fwd_ip_gen(f), !=, g);
    g = ipop__fwd_ip_gen(f);
    ipop__fwd_remove_owner(f, B);
    g_assert_cmpuint(ipop__fwd_ip_gen(f), !=, g);
    g_assert_null(ipop__fwd_lookup_ip(f, &b));
    g_assert_cmpuint(ipop__fwd_ip_gen(NULL), ==, 0);
    ipop__fwd_free(f);
}

static void test_ip6(void)
{
    ipop__fwd *f = ipop__fwd_new();
    ipop__addr a = ip6("fd77::1"), b = ip6("fd77::2"), v4 = ip4(0x0a000001);
    ipop__addr v6_of_v4 = { .family = AF_INET6, .prefix = 128, .bytes = { 10, 0, 0, 1 } };

    g_assert_cmpint(ipop__fwd_add_ip(f, &a, A), ==, 0);
    g_assert_cmpint(ipop__fwd_add_ip(f, &b, B), ==, 0);
    g_assert_true(ipop__fwd_lookup_ip(f, &a) == A);
    g_assert_true(ipop__fwd_lookup_ip(f, &b) == B);
    g_assert_null(ipop__fwd_lookup_ip(f, &(ipop__addr){ .family = AF_INET6, .prefix = 128 }));

    /* Same bytes, other family: another address. */
    g_assert_cmpint(ipop__fwd_add_ip(f, &v4, C), ==, 0);
    g_assert_null(ipop__fwd_lookup_ip(f, &v6_of_v4));
    g_assert_true(ipop__fwd_lookup_ip(f, &v4) == C);

    g_assert_cmpint(ipop__fwd_add_ip(f, &b, A), ==, 0);
    g_assert_cmpuint(ipop__fwd_count(f), ==, 3);
    ipop__fwd_remove_owner(f, A);
    g_assert_null(ipop__fwd_lookup_ip(f, &a));
    g_assert_null(ipop__fwd_lookup_ip(f, &b));
    g_assert_true(ipop__fwd_lookup_ip(f, &v4) == C);
    g_assert_cmpuint(ipop__fwd_count(f), ==, 1);
    ipop__fwd_free(f);
}

static void test_bad_args(void)
{
    ipop__fwd *f = ipop__fwd_new();
    ipop__addr unset = { 0 }, v4 = ip4(0x0a000001);
    ipop__addr unix_family = { .family = AF_UNIX, .prefix = 32 };
    uint8_t mac[6];

    g_assert_cmpint(ipop__fwd_add_ip(NULL, &v4, A), ==, -EINVAL);
    g_assert_cmpint(ipop__fwd_add_ip(f, NULL, A), ==, -EINVAL);
    g_assert_cmpint(ipop__fwd_add_ip(f, &v4, NULL), ==, -EINVAL);
    g_assert_cmpint(ipop__fwd_add_ip(f, &unset, A), ==, -EINVAL);
    g_assert_cmpint(ipop__fwd_add_ip(f, &unix_family, A), ==, -EINVAL);
    g_assert_cmpuint(ipop__fwd_count(f), ==, 0);
    g_assert_null(ipop__fwd_lookup_ip(f, NULL));
    g_assert_null(ipop__fwd_lookup_ip(f, &unset));
    g_assert_null(ipop__fwd_lookup_ip(NULL, &v4));
    mac_n(mac, 1);
    ipop__fwd_learn_mac(f, mac, NULL);
    ipop__fwd_learn_mac(f, NULL, A);
    ipop__fwd_learn_mac(NULL, mac, A);
    g_assert_null(ipop__fwd_lookup_mac(f, mac));
    g_assert_null(ipop__fwd_lookup_mac(f, NULL));
    g_assert_cmpuint(ipop__fwd_mac_count(f), ==, 0);
    ipop__fwd_remove_owner(f, NULL);
    ipop__fwd_remove_owner(NULL, A);
    g_assert_cmpuint(ipop__fwd_count(NULL), ==, 0);
    ipop__fwd_free(f);
    ipop__fwd_free(NULL);
}

#define MANY 10000

static void test_many(void)
{
    ipop__fwd *f = ipop__fwd_new();
    gint64 start, elapsed;

    for (uint32_t i = 0; i < MANY; i++) {
        ipop__addr v4 = ip4(0x0a000000 + i), v6 = ip6_n(i);

        g_assert_cmpint(ipop__fwd_add_ip(f, &v4, i % 2 ? A : B), ==, 0);
        g_assert_cmpint(ipop__fwd_add_ip(f, &v6, i % 2 ? A : B), ==, 0);
    }
    g_assert_cmpuint(ipop__fwd_count(f), ==, 2 * MANY);

    start = g_get_monotonic_time();
    for (int round = 0; round < 10; round++) {
        for (uint32_t i = 0; i < MANY; i++) {
            ipop__addr v4 = ip4(0x0a000000 + i), v6 = ip6_n(i);
            void *want = i % 2 ? A : B;

            g_assert_true(ipop__fwd_lookup_ip(f, &v4) == want);
            g_assert_true(ipop__fwd_lookup_ip(f, &v6) == want);
        }
    }
    elapsed = g_get_monotonic_time() - start;
    g_test_message("200000 lookups in 20000 entries: %" G_GINT64_FORMAT " us", elapsed);

    {
        ipop__addr past = ip4(0x0a000000 + MANY);
        g_assert_null(ipop__fwd_lookup_ip(f, &past));
    }

    ipop__fwd_remove_owner(f, A);
    g_assert_cmpuint(ipop__fwd_count(f), ==, MANY);
    for (uint32_t i = 0; i < MANY; i++) {
        ipop__addr v4 = ip4(0x0a000000 + i), v6 = ip6_n(i);
        void *want = i % 2 ? NULL : B;

        g_assert_true(ipop__fwd_lookup_ip(f, &v4) == want);
        g_assert_true(ipop__fwd_lookup_ip(f, &v6) == want);
    }
    ipop__fwd_remove_owner(f, B);
    g_assert_cmpuint(ipop__fwd_count(f), ==, 0);
    ipop__fwd_free(f);
}

static void test_mac_learn(void)
{
    ipop__fwd *f = ipop__fwd_new();
    uint8_t m1[6], m2[6], unknown[6];
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    static const uint8_t mcast4[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
    static const uint8_t mcast6[6] = { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 };
    static const uint8_t zero[6];

    mac_n(m1, 1);
    mac_n(m2, 2);
    mac_n(unknown, 3);
    ipop__fwd_learn_mac(f, m1, A);
    ipop__fwd_learn_mac(f, m2, B);
    g_assert_true(ipop__fwd_lookup_mac(f, m1) == A);
    g_assert_true(ipop__fwd_lookup_mac(f, m2) == B);
    g_assert_null(ipop__fwd_lookup_mac(f, unknown));
    g_assert_cmpuint(ipop__fwd_mac_count(f), ==, 2);

    /* A MAC stays with the link that showed it first: another cannot take
     * it over (issue 13, point 8). */
    g_assert_cmpint(ipop__fwd_learn_mac(f, m1, C), ==, -EEXIST);
    g_assert_true(ipop__fwd_lookup_mac(f, m1) == A);
    g_assert_cmpint(ipop__fwd_learn_mac(f, m1, A), ==, 0);
    g_assert_cmpuint(ipop__fwd_mac_count(f), ==, 2);
    /* ... until that link is gone: then the host may have moved. */
    ipop__fwd_remove_owner(f, A);
    g_assert_cmpint(ipop__fwd_learn_mac(f, m1, C), ==, 0);
    g_assert_true(ipop__fwd_lookup_mac(f, m1) == C);
    g_assert_cmpuint(ipop__fwd_mac_count(f), ==, 2);

    /* Group addresses are never a source: not learned, never found. */
    g_assert_cmpint(ipop__fwd_learn_mac(f, bcast, A), ==, -EINVAL);
    g_assert_cmpint(ipop__fwd_learn_mac(f, mcast4, A), ==, -EINVAL);
    g_assert_cmpint(ipop__fwd_learn_mac(f, mcast6, A), ==, -EINVAL);
    g_assert_cmpint(ipop__fwd_learn_mac(f, zero, A), ==, -EINVAL);
    g_assert_cmpuint(ipop__fwd_mac_count(f), ==, 2);
    g_assert_null(ipop__fwd_lookup_mac(f, bcast));
    g_assert_null(ipop__fwd_lookup_mac(f, mcast4));
    g_assert_null(ipop__fwd_lookup_mac(f, mcast6));
    g_assert_null(ipop__fwd_lookup_mac(f, zero));

    /* remove_owner takes the MACs too, and only that owner's. */
    {
        ipop__addr v4 = ip4(0x0a000001);
        g_assert_cmpint(ipop__fwd_add_ip(f, &v4, C), ==, 0);
    }
    ipop__fwd_remove_owner(f, C);
    g_assert_null(ipop__fwd_lookup_mac(f, m1));
    g_assert_true(ipop__fwd_lookup_mac(f, m2) == B);
    g_assert_cmpuint(ipop__fwd_mac_count(f), ==, 1);
    g_assert_cmpuint(ipop__fwd_count(f), ==, 0);
    ipop__fwd_free(f);
}

/* Owners for the eviction test: the table holds IPOP__FWD_MAC_MAX MACs,
 * each owner at most IPOP__FWD_MAC_OWNER_MAX. */
#define OWNERS (IPOP__FWD_MAC_MAX / IPOP__FWD_MAC_OWNER_MAX)
static char owners[OWNERS + 2];

static void test_mac_evict(void)
{
    ipop__fwd *f = ipop__fwd_new();
    void *victim = &owners[OWNERS], *flooder = &owners[OWNERS + 1];
    uint8_t mac[6], vmac[6];

    /* An owner at its share makes room with its own oldest MACs: a link
     * that makes up MACs without end pushes out only its own. */
    mac_n(vmac, 999999);
    g_assert_cmpint(ipop__fwd_learn_mac(f, vmac, victim), ==, 0);
    for (uint32_t i = 0; i < 3 * IPOP__FWD_MAC_MAX; i++) {
        mac_n(mac, i);
        g_assert_cmpint(ipop__fwd_learn_mac(f, mac, flooder), ==, 0);
    }
    g_assert_cmpuint(ipop__fwd_mac_count(f), ==, IPOP__FWD_MAC_OWNER_MAX + 1);
    g_assert_true(ipop__fwd_lookup_mac(f, vmac) == victim);
    g_assert_cmpint(ipop__fwd_learn_mac(f, vmac, flooder), ==, -EEXIST);
    mac_n(mac, 3 * IPOP__FWD_MAC_MAX - 1);
    g_assert_true(ipop__fwd_lookup_mac(f, mac) == flooder);
    mac_n(mac, 3 * IPOP__FWD_MAC_MAX - IPOP__FWD_MAC_OWNER_MAX - 1);
    g_assert_null(ipop__fwd_lookup_mac(f, mac));
    ipop__fwd_remove_owner(f, flooder);

    /* A full table: a new MAC takes the place of the oldest MAC of the
     * owner that has the most, never the victim's one. */
    for (uint32_t o = 0; o < OWNERS; o++)
        for (uint32_t i = 0; i < IPOP__FWD_MAC_OWNER_MAX - (o == 0); i++) {
            mac_n(mac, o * 100000 + i);
            g_assert_cmpint(ipop__fwd_learn_mac(f, mac, &owners[o]), ==, 0);
        }
    g_assert_cmpuint(ipop__fwd_mac_count(f), ==, IPOP__FWD_MAC_MAX);
    for (uint32_t i = 0; i < 2 * IPOP__FWD_MAC_MAX; i++) {
        mac_n(mac, 5000000 + i);
        g_assert_cmpint(ipop__fwd_learn_mac(f, mac, flooder), ==, 0);
        g_assert_true(ipop__fwd_lookup_mac(f, vmac) == victim);
    }
    g_assert_cmpuint(ipop__fwd_mac_count(f), ==, IPOP__FWD_MAC_MAX);
    mac_n(mac, 5000000 + 2 * IPOP__FWD_MAC_MAX - 1);
    g_assert_true(ipop__fwd_lookup_mac(f, mac) == flooder);

    /* Freed places are reused, and removal keeps every probe run intact. */
    for (uint32_t o = 0; o < OWNERS; o++)
        ipop__fwd_remove_owner(f, &owners[o]);
    g_assert_true(ipop__fwd_lookup_mac(f, vmac) == victim);
    ipop__fwd_remove_owner(f, victim);
    ipop__fwd_remove_owner(f, flooder);
    g_assert_cmpuint(ipop__fwd_mac_count(f), ==, 0);
    for (uint32_t i = 0; i < IPOP__FWD_MAC_OWNER_MAX; i++) {
        mac_n(mac, 7000000 + i);
        g_assert_cmpint(ipop__fwd_learn_mac(f, mac, A), ==, 0);
    }
    for (uint32_t i = 0; i < IPOP__FWD_MAC_OWNER_MAX; i++) {
        mac_n(mac, 7000000 + i);
        g_assert_true(ipop__fwd_lookup_mac(f, mac) == A);
    }
    ipop__fwd_free(f);
}

/* Readers look up stable entries (always there, always the same owner) and
 * churning ones (absent, or with their one owner) while a writer adds and
 * removes. */
#define READERS 4
#define STABLE 256
#define CHURN 128
#define WRITER_ROUNDS 40

typedef struct race {
    ipop__fwd *f;
    gint started; /* readers in their loop */
    gint passes;  /* reader passes over all the keys */
    gint stop;
} race;

static gpointer reader(gpointer p)
{
    race *r = p;
    uint8_t mac[6];

    g_atomic_int_inc(&r->started);
    while (!g_atomic_int_get(&r->stop)) {
        for (uint32_t i = 0; i < STABLE; i++) {
            ipop__addr v4 = ip4(0x0a000000 + i), v6 = ip6_n(i);

            g_assert_true(ipop__fwd_lookup_ip(r->f, &v4) == A);
            g_assert_true(ipop__fwd_lookup_ip(r->f, &v6) == A);
        }
        for (uint32_t i = 0; i < CHURN; i++) {
            ipop__addr v4 = ip4(0x0b000000 + i);
            void *got = ipop__fwd_lookup_ip(r->f, &v4);

            g_assert_true(got == NULL || got == B);
            mac_n(mac, i);
            got = ipop__fwd_lookup_mac(r->f, mac);
            g_assert_true(got == NULL || got == B || got == C);
            /* Readers also learn, as the receive path does. */
            ipop__fwd_learn_mac(r->f, mac, C);
        }
        g_atomic_int_inc(&r->passes);
    }
    return NULL;
}

static void test_concurrent(void)
{
    race r = { .f = ipop__fwd_new() };
    GThread *threads[READERS];
    uint8_t mac[6];

    for (uint32_t i = 0; i < STABLE; i++) {
        ipop__addr v4 = ip4(0x0a000000 + i), v6 = ip6_n(i);

        g_assert_cmpint(ipop__fwd_add_ip(r.f, &v4, A), ==, 0);
        g_assert_cmpint(ipop__fwd_add_ip(r.f, &v6, A), ==, 0);
    }
    for (int t = 0; t < READERS; t++)
        threads[t] = g_thread_new("reader", reader, &r);
    while (g_atomic_int_get(&r.started) < READERS)
        g_thread_yield();
    /* Enough rounds, and the readers have been through their keys while
     * the table changed. */
    for (int round = 0; round < WRITER_ROUNDS || g_atomic_int_get(&r.passes) < 2 * READERS;
         round++) {
        for (uint32_t i = 0; i < CHURN; i++) {
            ipop__addr v4 = ip4(0x0b000000 + i);

            g_assert_cmpint(ipop__fwd_add_ip(r.f, &v4, B), ==, 0);
            mac_n(mac, i);
            ipop__fwd_learn_mac(r.f, mac, B);
        }
        g_assert_cmpuint(ipop__fwd_count(r.f), ==, 2 * STABLE + CHURN);
        ipop__fwd_remove_owner(r.f, B);
        g_assert_cmpuint(ipop__fwd_count(r.f), ==, 2 * STABLE);
        if (round % 10 == 0)
            ipop__fwd_remove_owner(r.f, C);
    }
    g_atomic_int_set(&r.stop, 1);
    for (int t = 0; t < READERS; t++)
        g_thread_join(threads[t]);
    g_test_message("%d reader passes", g_atomic_int_get(&r.passes));
    g_assert_cmpint(g_atomic_int_get(&r.passes), >=, 2 * READERS);
    g_assert_cmpuint(ipop__fwd_count(r.f), ==, 2 * STABLE);
    ipop__fwd_free(r.f);
}

/* TAP link-local addresses: first come, at most IPOP__FWD_LL_OWNER_MAX a
 * link (no eviction), given up when the link goes; this node's are held. */
static void test_ll(void)
{
    ipop__fwd *f = ipop__fwd_new();
    int a, b, self;
    uint8_t x[16] = { 0xfe, 0x80 }, y[16] = { 0xfe, 0x80 };

    x[15] = 1;
    g_assert_cmpint(ipop__fwd_claim_ll(f, x, &a), ==, 1);
    g_assert_cmpint(ipop__fwd_claim_ll(f, x, &a), ==, 0);
    g_assert_cmpint(ipop__fwd_claim_ll(f, x, &b), ==, -EEXIST);
    for (int i = 2; i <= IPOP__FWD_LL_OWNER_MAX; i++) {
        x[15] = (uint8_t)i;
        g_assert_cmpint(ipop__fwd_claim_ll(f, x, &a), ==, 1);
    }
    x[15] = 100;
    g_assert_cmpint(ipop__fwd_claim_ll(f, x, &a), ==, -ENOSPC);
    g_assert_cmpint(ipop__fwd_claim_ll(f, x, &b), ==, 1); /* b is not bounded by a */
    g_assert_cmpuint(ipop__fwd_ll_count(f), ==, IPOP__FWD_LL_OWNER_MAX + 1);
    /* this node's: taken from whoever had it, then nobody claims it */
    g_assert_cmpint(ipop__fwd_hold_ll(f, x, &self), ==, 0);
    g_assert_cmpint(ipop__fwd_claim_ll(f, x, &b), ==, -EEXIST);
    /* a link that goes gives its addresses up */
    ipop__fwd_remove_owner(f, &a);
    g_assert_cmpuint(ipop__fwd_ll_count(f), ==, 1);
    y[15] = 1;
    g_assert_cmpint(ipop__fwd_claim_ll(f, y, &b), ==, 1);
    g_assert_cmpint(ipop__fwd_claim_ll(NULL, y, &b), ==, -EINVAL);
    g_assert_cmpint(ipop__fwd_claim_ll(f, NULL, &b), ==, -EINVAL);
    g_assert_cmpint(ipop__fwd_claim_ll(f, y, NULL), ==, -EINVAL);
    ipop__fwd_free(f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/forward/ip4", test_ip4);
    g_test_add_func("/forward/ip6", test_ip6);
    g_test_add_func("/forward/generation", test_generation);
    g_test_add_func("/forward/bad-args", test_bad_args);
    g_test_add_func("/forward/many", test_many);
    g_test_add_func("/forward/mac-learn", test_mac_learn);
    g_test_add_func("/forward/mac-evict", test_mac_evict);
    g_test_add_func("/forward/ll", test_ll);
    g_test_add_func("/forward/concurrent", test_concurrent);
    return g_test_run();
}
