/* SPDX-License-Identifier: MIT */
/* Member names, the pure part (lib/name.c): what a name may be, the name
 * made from a host name, and the conflict rule's shown form. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "names.h"

#define ID_A "aaaaaaq2rstuvwxyz234567abcdefghijklmnopqrstuvwxyz2345"
#define ID_B "bbbbbbq2rstuvwxyz234567abcdefghijklmnopqrstuvwxyz2345"

static void test_valid(void)
{
    static const char *good[] = { "a", "web-1", "0", "x-y-z", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
    static const char *bad[] = { "", "-a", "a-", "a.b", "a_b", "a b", "\xc3\xa9",
                                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
    char out[IPOP__NAME_MAX + 1];

    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_assert_true(ipop__name_valid(good[i]));
        g_assert_cmpint(ipop__name_normalize(good[i], out), ==, 0);
        g_assert_cmpstr(out, ==, good[i]);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_false(ipop__name_valid(bad[i]));
        g_assert_cmpint(ipop__name_normalize(bad[i], out), ==, -EINVAL);
        g_assert_cmpstr(out, ==, "");
    }
    g_assert_false(ipop__name_valid(NULL));
    g_assert_cmpint(ipop__name_normalize(NULL, out), ==, -EINVAL);
    /* what users write: any case; on the wire only the canonical form */
    g_assert_false(ipop__name_valid("A"));
    g_assert_cmpint(ipop__name_normalize("Web-EU-1", out), ==, 0);
    g_assert_cmpstr(out, ==, "web-eu-1");
}

static void test_from_host(void)
{
    static const struct { const char *host, *name; } cases[] = {
        { "Alice-Laptop.example.org", "alice-laptop" },
        { "db_1", "db-1" },
        { "-x-", "x" },
        { "__", "" },
        { "", "" },
        { ".example", "" },
        { "node 7", "node-7" },
    };
    char out[IPOP__NAME_MAX + 1], host[300];

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        ipop__name_from_host(cases[i].host, out);
        g_assert_cmpstr(out, ==, cases[i].name);
    }
    /* long host names are cut to a valid name */
    memset(host, 'h', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    host[62] = '-';
    ipop__name_from_host(host, out);
    g_assert_cmpuint(strlen(out), ==, 62);
    g_assert_true(ipop__name_valid(out));
}

static void test_conflict_rule(void)
{
    char out[IPOP__NAME_MAX + 1];
    char long_name[IPOP__NAME_MAX + 1];

    /* the smaller node id keeps the name, whichever order they came in */
    g_assert_true(ipop__name_wins(ID_A, ID_B));
    g_assert_false(ipop__name_wins(ID_B, ID_A));
    g_assert_false(ipop__name_wins(ID_A, ID_A));
    ipop__name_tagged("bob", ID_B, out);
    g_assert_cmpstr(out, ==, "bob-bbbbbb");
    /* the tagged form stays a name: cut, no "--" */
    memset(long_name, 'n', IPOP__NAME_MAX);
    long_name[IPOP__NAME_MAX] = '\0';
    long_name[IPOP__NAME_BASE_MAX - 1] = '-';
    ipop__name_tagged(long_name, ID_B, out);
    g_assert_cmpuint(strlen(out), ==, IPOP__NAME_BASE_MAX - 1 + 1 + IPOP__NAME_TAG);
    g_assert_true(ipop__name_valid(out));
    g_assert_true(g_str_has_suffix(out, "n-bbbbbb"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/names/valid", test_valid);
    g_test_add_func("/names/from-host", test_from_host);
    g_test_add_func("/names/conflict-rule", test_conflict_rule);
    return g_test_run();
}
