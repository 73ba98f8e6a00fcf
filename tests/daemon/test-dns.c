/* SPDX-License-Identifier: MIT */
/* ipopd's DNS answers (daemon/dns.c): real queries built with libldns, as
 * dig or a stub resolver sends them, and the answers read back with it. */
#include <errno.h>
#include <glib.h>
#include <ldns/ldns.h>
#include <string.h>
#include <sys/socket.h>

#include "dns.h"

/* The members: alice (both families), bob (IPv4 only). */
static int lookup(const char *name, int family, char *buf, size_t size, void *user_data)
{
    int *calls = user_data;

    (*calls)++;
    if (g_ascii_strcasecmp(name, "alice") == 0)
        g_strlcpy(buf, family == AF_INET ? "10.9.0.1" : "fd00:9::1", size);
    else if (g_ascii_strcasecmp(name, "bob") == 0 && family == AF_INET)
        g_strlcpy(buf, "10.9.0.2", size);
    else
        return g_ascii_strcasecmp(name, "bob") == 0 ? -ENODATA : -ENOENT;
    return 0;
}

struct result {
    enum dns_result res;
    ldns_pkt *answer; /* NULL when dropped */
    size_t size;
};

/* Sends `name` `type` with id 0x1234 (and EDNS with `edns` bytes when
 * non-zero) to the server of suffix "net0". */
static struct result ask_edns(const char *name, ldns_rr_type type, uint16_t edns)
{
    ldns_rdf *qname = ldns_dname_new_frm_str(name);
    ldns_pkt *q = ldns_pkt_query_new(qname, type, LDNS_RR_CLASS_IN, LDNS_RD);
    uint8_t *wire = NULL, out[DNS_UDP_MAX];
    size_t len = 0, suffix_len = 0, outlen = 0;
    g_autofree uint8_t *suffix = dns_suffix_new("net0", &suffix_len);
    struct result r = {0};
    int calls = 0;

    g_assert_nonnull(suffix);
    g_assert_nonnull(q);
    ldns_pkt_set_id(q, 0x1234);
    if (edns)
        ldns_pkt_set_edns_udp_size(q, edns);
    g_assert_cmpint(ldns_pkt2wire(&wire, q, &len), ==, LDNS_STATUS_OK);
    r.res = dns_answer(wire, len, suffix, suffix_len, lookup, &calls, out, sizeof(out), &outlen);
    r.size = outlen;
    if (outlen) {
        g_assert_cmpint(ldns_wire2pkt(&r.answer, out, outlen), ==, LDNS_STATUS_OK);
        g_assert_cmpuint(ldns_pkt_id(r.answer), ==, 0x1234);
        g_assert_true(ldns_pkt_qr(r.answer));
        g_assert_cmpuint(ldns_pkt_qdcount(r.answer), ==, 1);
    }
    free(wire);
    ldns_pkt_free(q);
    return r;
}

static struct result ask(const char *name, ldns_rr_type type)
{
    return ask_edns(name, type, 0);
}

/* The one answer's address as text, or NULL. */
static char *answer_text(const ldns_pkt *p)
{
    ldns_rr_list *an = ldns_pkt_answer(p);

    if (ldns_rr_list_rr_count(an) != 1)
        return NULL;
    g_assert_cmpuint(ldns_rr_ttl(ldns_rr_list_rr(an, 0)), ==, DNS_TTL);
    return ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(an, 0), 0));
}

static void test_a_aaaa(void)
{
    struct result r = ask("alice.net0", LDNS_RR_TYPE_A);
    char *t;

    g_assert_cmpint(r.res, ==, DNS_ANSWERED);
    g_assert_cmpint(ldns_pkt_get_rcode(r.answer), ==, LDNS_RCODE_NOERROR);
    g_assert_true(ldns_pkt_aa(r.answer));
    g_assert_cmpstr((t = answer_text(r.answer)), ==, "10.9.0.1");
    free(t);
    ldns_pkt_free(r.answer);
    /* case-insensitive, trailing dot or not */
    r = ask("ALICE.Net0.", LDNS_RR_TYPE_AAAA);
    g_assert_cmpint(ldns_pkt_get_rcode(r.answer), ==, LDNS_RCODE_NOERROR);
    g_assert_cmpstr((t = answer_text(r.answer)), ==, "fd00:9::1");
    free(t);
    ldns_pkt_free(r.answer);
}

static void test_nodata_nxdomain(void)
{
    struct result r = ask("bob.net0", LDNS_RR_TYPE_AAAA);

    /* bob exists without IPv6: NODATA, not NXDOMAIN (which would hide his
     * IPv4 address from resolvers that cache it) */
    g_assert_cmpint(r.res, ==, DNS_ANSWERED);
    g_assert_cmpint(ldns_pkt_get_rcode(r.answer), ==, LDNS_RCODE_NOERROR);
    g_assert_cmpuint(ldns_pkt_ancount(r.answer), ==, 0);
    ldns_pkt_free(r.answer);
    r = ask("bob.net0", LDNS_RR_TYPE_MX);
    g_assert_cmpint(ldns_pkt_get_rcode(r.answer), ==, LDNS_RCODE_NOERROR);
    g_assert_cmpuint(ldns_pkt_ancount(r.answer), ==, 0);
    ldns_pkt_free(r.answer);
    for (size_t i = 0; i < 3; i++) {
        const char *names[] = {"carol.net0", "x.alice.net0", "a_b.net0"};
        r = ask(names[i], LDNS_RR_TYPE_A);
        g_assert_cmpint(r.res, ==, DNS_NXDOMAIN);
        g_assert_cmpint(ldns_pkt_get_rcode(r.answer), ==, LDNS_RCODE_NXDOMAIN);
        g_assert_cmpuint(ldns_pkt_ancount(r.answer), ==, 0);
        ldns_pkt_free(r.answer);
    }
    r = ask("net0", LDNS_RR_TYPE_A); /* the suffix exists */
    g_assert_cmpint(ldns_pkt_get_rcode(r.answer), ==, LDNS_RCODE_NOERROR);
    ldns_pkt_free(r.answer);
}

static void test_refused(void)
{
    const char *names[] = {"example.com", "alice.net1", "net0.example.com", "xnet0", "."};

    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        struct result r = ask(names[i], LDNS_RR_TYPE_A);
        g_assert_cmpint(r.res, ==, DNS_REFUSED);
        g_assert_cmpint(ldns_pkt_get_rcode(r.answer), ==, LDNS_RCODE_REFUSED);
        g_assert_cmpuint(ldns_pkt_ancount(r.answer), ==, 0);
        g_assert_false(ldns_pkt_aa(r.answer));
        ldns_pkt_free(r.answer);
    }
}

static void test_edns(void)
{
    struct result r = ask_edns("alice.net0", LDNS_RR_TYPE_A, 4096);
    char *t;

    g_assert_true(ldns_pkt_edns(r.answer));
    g_assert_cmpuint(ldns_pkt_edns_udp_size(r.answer), ==, DNS_UDP_MAX);
    g_assert_cmpstr((t = answer_text(r.answer)), ==, "10.9.0.1");
    free(t);
    ldns_pkt_free(r.answer);
}

/* A long question stays within 512 bytes; an answer that does not fit
 * the room given is cut to its question, with TC (a client asks again
 * over TCP or with a larger EDNS size). */
static void test_size_limit(void)
{
    GString *name = g_string_new("alice");
    size_t suffix_len = 0, len = 0, outlen = 0;
    g_autofree uint8_t *suffix = dns_suffix_new("net0", &suffix_len);
    ldns_pkt *q = ldns_pkt_query_new(ldns_dname_new_frm_str("alice.net0"), LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0);
    uint8_t *wire = NULL, out[DNS_UDP_MAX];
    ldns_pkt *a = NULL;
    struct result r;
    int calls = 0;

    while (name->len < 200)
        g_string_append(name, ".zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
    g_string_append(name, ".net0");
    r = ask(name->str, LDNS_RR_TYPE_A);
    g_assert_nonnull(r.answer);
    g_assert_cmpuint(r.size, <=, DNS_UDP_MIN);
    g_assert_cmpint(ldns_pkt_get_rcode(r.answer), ==, LDNS_RCODE_NXDOMAIN);
    ldns_pkt_free(r.answer);
    g_string_free(name, TRUE);

    g_assert_cmpint(ldns_pkt2wire(&wire, q, &len), ==, LDNS_STATUS_OK);
    g_assert_cmpint(dns_answer(wire, len, suffix, suffix_len, lookup, &calls, out, len + 2, &outlen), ==,
                    DNS_ANSWERED);
    g_assert_cmpuint(outlen, <=, len + 2);
    g_assert_cmpint(ldns_wire2pkt(&a, out, outlen), ==, LDNS_STATUS_OK);
    g_assert_true(ldns_pkt_tc(a));
    g_assert_cmpuint(ldns_pkt_ancount(a), ==, 0);
    /* not even the question fits: nothing */
    g_assert_cmpint(dns_answer(wire, len, suffix, suffix_len, lookup, &calls, out, 12, &outlen), ==, DNS_DROPPED);
    g_assert_cmpuint(outlen, ==, 0);
    ldns_pkt_free(a);
    ldns_pkt_free(q);
    free(wire);
}

static void test_dropped(void)
{
    size_t suffix_len = 0, outlen = 99;
    g_autofree uint8_t *suffix = dns_suffix_new("net0", &suffix_len);
    uint8_t out[DNS_UDP_MAX], junk[64];
    ldns_pkt *q = ldns_pkt_query_new(ldns_dname_new_frm_str("alice.net0"), LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0);
    uint8_t *wire = NULL;
    size_t len = 0;
    int calls = 0;

    memset(junk, 0xff, sizeof(junk));
    g_assert_cmpint(dns_answer(junk, sizeof(junk), suffix, suffix_len, lookup, &calls, out, sizeof(out), &outlen), ==,
                    DNS_DROPPED);
    g_assert_cmpuint(outlen, ==, 0);
    g_assert_cmpint(dns_answer(junk, 3, suffix, suffix_len, lookup, &calls, out, sizeof(out), &outlen), ==, DNS_DROPPED);
    /* a response is never answered */
    ldns_pkt_set_qr(q, true);
    g_assert_cmpint(ldns_pkt2wire(&wire, q, &len), ==, LDNS_STATUS_OK);
    g_assert_cmpint(dns_answer(wire, len, suffix, suffix_len, lookup, &calls, out, sizeof(out), &outlen), ==,
                    DNS_DROPPED);
    g_assert_cmpuint(outlen, ==, 0);
    /* cut in the middle of the question */
    ldns_pkt_set_qr(q, false);
    free(wire);
    g_assert_cmpint(ldns_pkt2wire(&wire, q, &len), ==, LDNS_STATUS_OK);
    g_assert_cmpint(dns_answer(wire, len - 3, suffix, suffix_len, lookup, &calls, out, sizeof(out), &outlen), ==,
                    DNS_DROPPED);
    g_assert_cmpint(calls, ==, 0);
    free(wire);
    ldns_pkt_free(q);
}

static void test_suffix(void)
{
    size_t len;
    uint8_t *s;

    g_assert_null(dns_suffix_new("", &len));
    g_assert_null(dns_suffix_new(".", &len));
    g_assert_null(dns_suffix_new(NULL, &len));
    s = dns_suffix_new("VPN.Example.", &len);
    g_assert_nonnull(s);
    g_assert_cmpuint(len, ==, 13);
    g_assert_cmpmem(s, len, "\3vpn\7example\0", 13);
    free(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dns/a-aaaa", test_a_aaaa);
    g_test_add_func("/dns/nodata-nxdomain", test_nodata_nxdomain);
    g_test_add_func("/dns/refused", test_refused);
    g_test_add_func("/dns/edns", test_edns);
    g_test_add_func("/dns/size-limit", test_size_limit);
    g_test_add_func("/dns/dropped", test_dropped);
    g_test_add_func("/dns/suffix", test_suffix);
    return g_test_run();
}
