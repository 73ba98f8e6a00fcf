/* SPDX-License-Identifier: MIT */
/* GroupVPN membership proofs (lib/proof.c): the proof messages' codec, the
 * group key's derivation, the proof, the secret-strength estimate, and the
 * guess rate an attacker gets against a captured proof, before (one HMAC
 * per guess, the old key) and now (one Argon2id per guess). */
#include <argon2.h>
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/resource.h>

#include <gnutls/crypto.h>

#include "ipop/ipop.h"
#include "proof.h"
#include "testutil.h"

#define ROOM "vpn@rooms.ipop.test"
static const char *const A = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst";
static const char *const B = "bbcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst";

static void test_codec(void)
{
    ipop__proof_msg m = { .type = IPOP__PROOF_PROOF }, d;
    char buf[512];
    int n;

    g_strlcpy(m.from, A, sizeof(m.from));
    memset(m.mine, 0xab, sizeof(m.mine));
    memset(m.yours, 0x01, sizeof(m.yours));
    memset(m.mac, 0xfe, sizeof(m.mac));
    n = ipop__proof_encode(&m, buf, sizeof(buf));
    g_assert_cmpint(n, >, 0);
    g_assert_true(g_str_has_prefix(buf, "ipop2 gproof from="));
    g_assert_true(ipop__proof_is(buf, (size_t)n));
    g_assert_cmpint(ipop__proof_decode(&d, buf, (size_t)n), ==, 0);
    g_assert_cmpmem(&d, sizeof(d), &m, sizeof(m));
    /* strict: cut, extended, upper-case hex, another key order */
    g_assert_cmpint(ipop__proof_decode(&d, buf, (size_t)n - 1), ==, -EINVAL);
    buf[n] = ' ';
    g_assert_cmpint(ipop__proof_decode(&d, buf, (size_t)n + 1), ==, -EINVAL);
    buf[n - 1] = 'E';
    g_assert_cmpint(ipop__proof_decode(&d, buf, (size_t)n), ==, -EINVAL);
    g_assert_cmpint(ipop__proof_decode(&d, "ipop2 gchal n=00 from=x", 23), ==, -EINVAL);
    g_assert_cmpint(ipop__proof_encode(&m, buf, 20), ==, -EMSGSIZE);
    m.type = IPOP__PROOF_CHAL;
    n = ipop__proof_encode(&m, buf, sizeof(buf));
    g_assert_cmpint(ipop__proof_decode(&d, buf, (size_t)n), ==, 0);
    g_assert_cmpint(d.type, ==, IPOP__PROOF_CHAL);
    g_assert_cmpmem(d.mine, sizeof(d.mine), m.mine, sizeof(m.mine));
    g_assert_false(ipop__proof_is("ipop2 offer from=", 17));
}

/* The group key is Argon2id with the documented parameters, salted with
 * the room: one guess costs at least 64 MiB and 3 passes. */
static void test_key(void)
{
    uint8_t key[IPOP__PROOF_KEY_LEN], want[IPOP__PROOF_KEY_LEN], other[IPOP__PROOF_KEY_LEN], salt[32];
    const char label[] = "ipop-group-key-v2:" ROOM;
    struct rusage before, after;

    G_STATIC_ASSERT(IPOP__PROOF_KDF_M_KIB >= 65536);
    G_STATIC_ASSERT(IPOP__PROOF_KDF_T >= 3);
    getrusage(RUSAGE_SELF, &before);
    g_assert_cmpint(ipop__proof_key("sesame", 6, ROOM, key), ==, 0);
    getrusage(RUSAGE_SELF, &after);
    gnutls_hash_fast(GNUTLS_DIG_SHA256, label, strlen(label), salt);
    g_assert_cmpint(argon2id_hash_raw(3, 65536, 1, "sesame", 6, salt, sizeof(salt), want, sizeof(want)), ==, ARGON2_OK);
    g_assert_cmpmem(key, sizeof(key), want, sizeof(want));
    /* the derivation really touched its 64 MiB (the peak resident size is
     * at least that, unless an earlier test of this process reached it) */
    g_assert_cmpint(after.ru_maxrss, >=, 64 * 1024);
    g_assert_cmpint(ipop__proof_key("sesame", 6, "other@rooms.ipop.test", other), ==, 0);
    g_assert_cmpint(memcmp(key, other, sizeof(key)), !=, 0);
}

/* An authority's group: the key is SHA-256 of the label, the room, a NUL
 * and the public value (doc/protocol.md), bound to the room. */
static void test_key_public(void)
{
    static const char in[] = "ipop-group-key-public-v2:" ROOM "\0ipop-authority:ed25519:abc";
    uint8_t key[IPOP__PROOF_KEY_LEN], want[IPOP__PROOF_KEY_LEN], other[IPOP__PROOF_KEY_LEN];

    ipop__proof_key_public("ipop-authority:ed25519:abc", ROOM, key);
    gnutls_hash_fast(GNUTLS_DIG_SHA256, in, sizeof(in) - 1, want);
    g_assert_cmpmem(key, sizeof(key), want, sizeof(want));
    ipop__proof_key_public("ipop-authority:ed25519:abc", "other@rooms.ipop.test", other);
    g_assert_cmpint(memcmp(key, other, sizeof(key)), !=, 0);
}

/* Generated secrets: the form round-trips, the check refuses a changed
 * character, nothing typed parses, and the key is SHA-256 over the room
 * and the 32 bytes (no Argon2id). */
static void test_generated(void)
{
    static const char label[] = "ipop-group-key-generated-v2:" ROOM;
    uint8_t raw[IPOP__PROOF_GEN_RAW], back[IPOP__PROOF_GEN_RAW], key[IPOP__PROOF_KEY_LEN], want[IPOP__PROOF_KEY_LEN];
    uint8_t in[sizeof(label) + IPOP__PROOF_GEN_RAW], other[IPOP__PROOF_KEY_LEN];
    char text[IPOP__PROOF_GEN_LEN + 1], bad[IPOP__PROOF_GEN_LEN + 1];

    for (size_t i = 0; i < sizeof(raw); i++)
        raw[i] = (uint8_t)(i * 37 + 5);
    ipop__proof_secret_format(raw, text);
    g_assert_cmpuint(strlen(text), ==, IPOP__PROOF_GEN_LEN);
    g_assert_true(g_str_has_prefix(text, "ipop1."));
    g_assert_true(ipop__proof_secret_parse(text, back));
    g_assert_cmpmem(raw, sizeof(raw), back, sizeof(back));
    /* every single changed character is caught (the 43rd of the bytes
     * carries 2 bits that must be zero, the others break the check) */
    for (size_t i = 0; i < IPOP__PROOF_GEN_LEN; i++) {
        memcpy(bad, text, sizeof(bad));
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        g_assert_false(ipop__proof_secret_parse(bad, back));
    }
    g_assert_false(ipop__proof_secret_parse("", back));
    g_assert_false(ipop__proof_secret_parse("q3Vb0_Zk9XwLr-2mTQn7cJ5yH8sPdAfGi4uE1oKtWxM", back));
    g_assert_false(ipop__proof_secret_parse("ipop1.ThisIsMyVeryLongPasswordThatIsEasyToGuess1.aaaaaa", back));
    memcpy(bad, text, sizeof(bad));
    bad[IPOP__PROOF_GEN_LEN - 1] = '\0';
    g_assert_false(ipop__proof_secret_parse(bad, back));
    g_assert_cmpuint(ipop__proof_secret_bits(text), >=, IPOP__PROOF_STRONG_BITS);

    ipop__proof_key_generated(raw, ROOM, key);
    memcpy(in, label, sizeof(label)); /* and its NUL */
    memcpy(in + sizeof(label), raw, sizeof(raw));
    gnutls_hash_fast(GNUTLS_DIG_SHA256, in, sizeof(in), want);
    g_assert_cmpmem(key, sizeof(key), want, sizeof(want));
    ipop__proof_key_generated(raw, "other@rooms.ipop.test", other);
    g_assert_cmpint(memcmp(key, other, sizeof(key)), !=, 0);
}

static void test_mac(void)
{
    uint8_t key[IPOP__PROOF_KEY_LEN] = { 1 }, na[16] = { 2 }, nb[16] = { 3 }, m1[32], m2[32];

    ipop__proof_mac(key, ROOM, A, B, nb, na, m1);
    /* bound to who proves to whom, the room, and both nonces */
    ipop__proof_mac(key, ROOM, B, A, nb, na, m2);
    g_assert_cmpint(memcmp(m1, m2, 32), !=, 0);
    ipop__proof_mac(key, "x@rooms.ipop.test", A, B, nb, na, m2);
    g_assert_cmpint(memcmp(m1, m2, 32), !=, 0);
    ipop__proof_mac(key, ROOM, A, B, na, nb, m2);
    g_assert_cmpint(memcmp(m1, m2, 32), !=, 0);
    ipop__proof_mac(key, ROOM, A, B, nb, na, m2);
    g_assert_cmpmem(m1, 32, m2, 32);
}

static void test_secret_bits(void)
{
    g_assert_cmpuint(ipop__proof_secret_bits(""), ==, 0);
    g_assert_cmpuint(ipop__proof_secret_bits("sesame"), <, IPOP__PROOF_STRONG_BITS);
    g_assert_cmpuint(ipop__proof_secret_bits("Summer2024!"), <, IPOP__PROOF_STRONG_BITS);
    g_assert_cmpuint(ipop__proof_secret_bits("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), <, IPOP__PROOF_STRONG_BITS);
    g_assert_cmpuint(ipop__proof_secret_bits("abcdefghijklmnopqrstuvwxyz0123456789"), <, IPOP__PROOF_STRONG_BITS);
    /* what ipopd --gen-secret makes: 32 random bytes, base64url */
    g_assert_cmpuint(ipop__proof_secret_bits("q3Vb0_Zk9XwLr-2mTQn7cJ5yH8sPdAfGi4uE1oKtWxM"), >=, IPOP__PROOF_STRONG_BITS);
}

/* What an occupant captures (a member's proof for its own challenge) and
 * how fast it tests guesses against it, the way an attacker would: derive
 * the key from the guess, compute the proof, compare.  Before: the key was
 * one HMAC of the secret; now: Argon2id. */
static void test_guess_rate(void)
{
    uint8_t key[IPOP__PROOF_KEY_LEN], mac[32], captured[32], na[16], nb[16];
    const char *guesses[] = { "password", "123456", "letmein", "sesame" };
    double before_rate, after_rate;
    gint64 t0, n = 0;

    gnutls_rnd(GNUTLS_RND_NONCE, na, sizeof(na));
    gnutls_rnd(GNUTLS_RND_NONCE, nb, sizeof(nb));
    /* the member's proof, as it travels */
    g_assert_cmpint(ipop__proof_key("sesame", 6, ROOM, key), ==, 0);
    ipop__proof_mac(key, ROOM, A, B, nb, na, captured);

    /* before: key = HMAC-SHA256(secret, label), then the message HMAC */
    t0 = g_get_monotonic_time();
    while (g_get_monotonic_time() - t0 < G_USEC_PER_SEC / 2) {
        for (int i = 0; i < 1000; i++, n++) {
            gnutls_hmac_fast(GNUTLS_MAC_SHA256, guesses[i & 3], strlen(guesses[i & 3]), "ipop-group-key-v1:" ROOM,
                             strlen("ipop-group-key-v1:" ROOM), key);
            gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, 32, "ipop-group-v1 a message of some length", 38, mac);
        }
    }
    before_rate = n / ((g_get_monotonic_time() - t0) / 1e6);

    /* now: one Argon2id per guess */
    t0 = g_get_monotonic_time();
    for (int i = 0; i < 4; i++) {
        g_assert_cmpint(ipop__proof_key(guesses[i], strlen(guesses[i]), ROOM, key), ==, 0);
        ipop__proof_mac(key, ROOM, A, B, nb, na, mac);
        g_assert_cmpint(memcmp(mac, captured, 32) == 0, ==, i == 3); /* only the right guess matches */
    }
    after_rate = 4 / ((g_get_monotonic_time() - t0) / 1e6);
    g_test_message("guesses of the group secret per second on one core against a captured message: "
                   "before (HMAC key) %.0f, now (Argon2id t=%u, %u MiB) %.2f (%.0f ms per guess)",
                   before_rate, IPOP__PROOF_KDF_T, IPOP__PROOF_KDF_M_KIB / 1024, after_rate, 1000 / after_rate);
}

static int weak_lines;

static void count_weak(ipop_log_level_t level, ipop_network_t *net, const char *line, void *ud)
{
    if (level == IPOP_LOG_WARNING && strstr(line, "group.secret is weak") && strstr(line, "offline"))
        weak_lines++;
}

/* A weak secret gets a warning naming the risk, from ipop_network_check()
 * (ipopd --check) and from every start; a generated one does not. */
static void test_weak_warning(void)
{
    static const char *const keys[][2] = {
        { "overlay", "group" }, { "xmpp.jid", "a@ipop.test" }, { "xmpp.password", "pa" },
        { "group.room", ROOM },
    };
    ipop_network_t *net = NULL;

    ipop_set_log_cb(count_weak, IPOP_LOG_DEBUG, NULL);
    g_assert_cmpint(ipop_network_new(&net, "weak"), ==, 0);
    for (guint i = 0; i < G_N_ELEMENTS(keys); i++)
        g_assert_cmpint(ipop_network_set_option(net, keys[i][0], keys[i][1]), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "group.secret", "sesame"), ==, 0);
    g_assert_cmpint(ipop_network_check(net, NULL, 0), ==, 0);
    g_assert_cmpint(weak_lines, ==, 1);
    g_assert_cmpint(ipop_network_set_option(net, "group.secret", "q3Vb0_Zk9XwLr-2mTQn7cJ5yH8sPdAfGi4uE1oKtWxM"), ==, 0);
    g_assert_cmpint(ipop_network_check(net, NULL, 0), ==, 0);
    g_assert_cmpint(weak_lines, ==, 1);
    net = ipop_network_free(net);
    test_log_to_stderr(IPOP_LOG_INFO);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/proof/codec", test_codec);
    g_test_add_func("/proof/key", test_key);
    g_test_add_func("/proof/key-public", test_key_public);
    g_test_add_func("/proof/generated", test_generated);
    g_test_add_func("/proof/mac", test_mac);
    g_test_add_func("/proof/secret-bits", test_secret_bits);
    g_test_add_func("/proof/guess-rate", test_guess_rate);
    g_test_add_func("/proof/weak-secret-warning", test_weak_warning);
    return g_test_run();
}
