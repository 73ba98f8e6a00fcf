/* SPDX-License-Identifier: MIT */
/* Subnet routes: the prefix list parser (lib/route.c), the table of
 * accepted routes (lib/routes.c: longest prefix, the tie rule, limits),
 * routes in offers (lib/message.c) and in certificates (lib/authority.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <glib.h>

#include "authority.h"
#include "message.h"
#include "routes.h"

#define ID_A "aaaaaaq2rstuvwxyz234567abcdefghijklmnopqrstuvwxyz234"
#define ID_B "bbbbbbq2rstuvwxyz234567abcdefghijklmnopqrstuvwxyz234"
#define ID_C "ccccccq2rstuvwxyz234567abcdefghijklmnopqrstuvwxyz234"

static ipop__addr P(const char *text)
{
    ipop__addr a;

    g_assert_cmpint(ipop__addr_parse(text, &a), ==, 0);
    return a;
}

static int parse(const char *text, ipop__addr *out, unsigned max, unsigned *n)
{
    return ipop__routes_parse(text, strlen(text), out, max, n);
}

static void test_parse(void)
{
    ipop__addr r[IPOP__ROUTES_MAX];
    char text[256];
    unsigned n = 99;

    g_assert_cmpint(parse("192.168.77.0/24", r, 8, &n), ==, 0);
    g_assert_cmpuint(n, ==, 1);
    g_assert_cmpint(r[0].family, ==, AF_INET);
    g_assert_cmpint(r[0].prefix, ==, 24);
    g_assert_cmpint(parse(" 10.0.0.0/8,fd77::/64  172.16.0.0/12 ,\t192.0.2.1/32 ", r, 8, &n), ==, 0);
    g_assert_cmpuint(n, ==, 4);
    g_assert_cmpint(ipop__routes_format(r, n, text, sizeof(text)), >, 0);
    g_assert_cmpstr(text, ==, "10.0.0.0/8,fd77::/64,172.16.0.0/12,192.0.2.1/32");
    g_assert_cmpint(parse("", r, 8, &n), ==, 0);
    g_assert_cmpuint(n, ==, 0);
    g_assert_cmpint(parse(" , ", r, 8, &n), ==, 0);
    g_assert_cmpuint(n, ==, 0);

    static const char *bad[] = {
        "192.168.77.1/24",     /* host bits set */
        "fd77::1/64",          /* host bits set */
        "192.168.77.0",        /* no prefix */
        "0.0.0.0/0",           /* the default route: exit nodes, not here */
        "::/0",
        "10.0.0.0/33",
        "fd77::/129",
        "10.0.0.0/8,10.0.0.0/8", /* twice */
        "10.0.0.0/8;fd77::/64",
        "10.0.0/8",
        "10.0.0.0/-1",
        "10.0.0.0/",
        "/8",
        "banana/8",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        n = 99;
        g_assert_cmpint(parse(bad[i], r, 8, &n), ==, -EINVAL);
        g_assert_cmpuint(n, ==, 0);
    }
    g_assert_cmpint(parse("10.0.0.0/8,10.1.0.0/16,10.2.0.0/16", r, 2, &n), ==, -E2BIG);
    g_assert_cmpint(ipop__routes_parse(NULL, 0, r, 2, &n), ==, -EINVAL);
    /* not NUL-terminated: only len bytes are read */
    g_assert_cmpint(ipop__routes_parse("10.0.0.0/8XXXX", 10, r, 2, &n), ==, 0);
    g_assert_cmpuint(n, ==, 1);
    g_assert_cmpint(ipop__routes_format(r, 1, text, 5), ==, -ENOSPC);
}

static void test_relations(void)
{
    ipop__addr a = P("10.1.0.0/16"), b = P("10.0.0.0/8"), c = P("10.2.0.0/16"), d = P("fd00::/8");

    g_assert_true(ipop__prefix_within(&a, &b));
    g_assert_false(ipop__prefix_within(&b, &a));
    g_assert_true(ipop__prefix_within(&a, &a));
    g_assert_true(ipop__prefix_overlap(&a, &b));
    g_assert_true(ipop__prefix_overlap(&b, &a));
    g_assert_false(ipop__prefix_overlap(&a, &c));
    g_assert_false(ipop__prefix_overlap(&a, &d));
    g_assert_true(ipop__prefix_same(&a, &a));
    g_assert_false(ipop__prefix_same(&a, &c));
}

static int owner_a, owner_b, owner_c; /* their addresses are the owners */

static void test_longest_prefix(void)
{
    ipop__rtab *t = ipop__rtab_new(8, 16);
    ipop__addr wide = P("192.168.0.0/16"), narrow = P("192.168.77.0/24"), host = P("192.168.77.9/32"),
               other = P("192.168.1.5/32"), outside = P("10.0.0.1/32"), v6 = P("fd77::/64"), v6h = P("fd77::5/128");

    g_assert_null(ipop__rtab_lookup(t, &host)); /* empty */
    g_assert_cmpint(ipop__rtab_add(t, &owner_b, ID_B, &wide, NULL), ==, 1);
    g_assert_cmpint(ipop__rtab_add(t, &owner_c, ID_C, &narrow, NULL), ==, 1);
    g_assert_cmpint(ipop__rtab_add(t, &owner_c, ID_C, &v6, NULL), ==, 1);
    g_assert_cmpint(ipop__rtab_add(t, &owner_c, ID_C, &narrow, NULL), ==, -EEXIST);
    g_assert_true(ipop__rtab_lookup(t, &host) == &owner_c);  /* /24 beats /16, whatever the node ids */
    g_assert_true(ipop__rtab_lookup(t, &other) == &owner_b);
    g_assert_null(ipop__rtab_lookup(t, &outside));
    g_assert_true(ipop__rtab_lookup(t, &v6h) == &owner_c);
    g_assert_cmpuint(ipop__rtab_count(t), ==, 3);

    /* the narrow route goes: its addresses fall back to the wide one */
    ipop__addr gone[8];
    g_assert_cmpuint(ipop__rtab_remove_owner(t, &owner_c, gone, 8), ==, 2);
    g_assert_true(ipop__prefix_same(&gone[0], &narrow) || ipop__prefix_same(&gone[1], &narrow));
    g_assert_true(ipop__rtab_lookup(t, &host) == &owner_b);
    g_assert_null(ipop__rtab_lookup(t, &v6h));
    ipop__rtab_free(t);
}

/* Equal prefixes from two members: the smaller node id, in whatever order
 * they came; the prefix stays on the device until the last goes. */
static void test_tie(void)
{
    for (int order = 0; order < 2; order++) {
        ipop__rtab *t = ipop__rtab_new(8, 16);
        ipop__addr p = P("192.168.77.0/24"), host = P("192.168.77.2/32"), shown[4], gone[4];
        char rival[IPOP__NODE_ID_LEN + 1] = "";

        if (order == 0) {
            g_assert_cmpint(ipop__rtab_add(t, &owner_b, ID_B, &p, NULL), ==, 1);
            g_assert_cmpint(ipop__rtab_add(t, &owner_a, ID_A, &p, rival), ==, 0);
            g_assert_cmpstr(rival, ==, ID_B);
        } else {
            g_assert_cmpint(ipop__rtab_add(t, &owner_a, ID_A, &p, NULL), ==, 1);
            g_assert_cmpint(ipop__rtab_add(t, &owner_b, ID_B, &p, rival), ==, 0);
            g_assert_cmpstr(rival, ==, ID_A);
        }
        g_assert_true(ipop__rtab_lookup(t, &host) == &owner_a);
        g_assert_cmpuint(ipop__rtab_of(t, &owner_a, shown, 4), ==, 1);
        g_assert_cmpuint(ipop__rtab_of(t, &owner_b, shown, 4), ==, 0); /* it lost: nothing in effect */
        /* the winner leaves: the other takes over, and the prefix stays */
        g_assert_cmpuint(ipop__rtab_remove_owner(t, &owner_a, gone, 4), ==, 0);
        g_assert_true(ipop__rtab_lookup(t, &host) == &owner_b);
        g_assert_cmpuint(ipop__rtab_of(t, &owner_b, shown, 4), ==, 1);
        g_assert_cmpuint(ipop__rtab_remove_owner(t, &owner_b, gone, 4), ==, 1);
        g_assert_true(ipop__prefix_same(&gone[0], &p));
        g_assert_null(ipop__rtab_lookup(t, &host));
        ipop__rtab_free(t);
    }
}

static void test_limits(void)
{
    ipop__rtab *t = ipop__rtab_new(IPOP__ROUTES_MAX, 100);
    ipop__addr p;
    char text[64];
    int r;

    for (unsigned i = 0; i < IPOP__ROUTES_MAX; i++) {
        snprintf(text, sizeof(text), "10.%u.0.0/16", i);
        g_assert_cmpint(ipop__rtab_add(t, &owner_a, ID_A, (p = P(text), &p), NULL), ==, 1);
    }
    p = P("10.200.0.0/16");
    g_assert_cmpint(ipop__rtab_add(t, &owner_a, ID_A, &p, NULL), ==, -ENOSPC); /* per member */
    for (unsigned i = 0; i < 100 - IPOP__ROUTES_MAX; i++) {
        snprintf(text, sizeof(text), "172.16.%u.0/24", i);
        g_assert_cmpint(ipop__rtab_add(t, &owner_b, ID_B, (p = P(text), &p), NULL), ==, 1);
    }
    p = P("192.168.0.0/16");
    r = ipop__rtab_add(t, &owner_c, ID_C, &p, NULL); /* in all */
    g_assert_cmpint(r, ==, -ENOSPC);
    g_assert_cmpuint(ipop__rtab_count(t), ==, 100);
    g_assert_cmpint(ipop__rtab_add(t, NULL, ID_C, &p, NULL), ==, -EINVAL);
    ipop__rtab_free(t);
}

static void fill_offer(ipop__msg *m)
{
    memset(m, 0, sizeof(*m));
    m->type = IPOP__MSG_OFFER;
    g_strlcpy(m->node_id, ID_A, sizeof(m->node_id));
    g_strlcpy(m->session, "0123456789abcdef", sizeof(m->session));
    g_strlcpy(m->ufrag, "uf", sizeof(m->ufrag));
    g_strlcpy(m->pwd, "passwordpasswordpassword", sizeof(m->pwd));
    m->has_fingerprint = true;
}

static void test_message(void)
{
    ipop__msg m, back;
    char buf[IPOP__SIGNAL_BODY_MAX + 1], text[64];
    int n;

    fill_offer(&m);
    m.n_routes = 2;
    m.routes[0] = P("192.168.77.0/24");
    m.routes[1] = P("fd77::/64");
    n = ipop__msg_encode(&m, buf, sizeof(buf));
    g_assert_cmpint(n, >, 0);
    g_assert_nonnull(strstr(buf, " routes=192.168.77.0/24%2Cfd77::/64"));
    g_assert_cmpint(ipop__msg_decode(&back, buf, (size_t)n), ==, 0);
    g_assert_true(ipop__msg_equal(&m, &back));

    /* the most there may be, all IPv6 /128: still fits an offer */
    fill_offer(&m);
    m.n_routes = IPOP__SIGNAL_ROUTES_MAX;
    for (unsigned i = 0; i < m.n_routes; i++) {
        snprintf(text, sizeof(text), "fd77:ffff:ffff:ffff:ffff:ffff:ffff:%x/128", 0xff00 + i);
        m.routes[i] = P(text);
    }
    n = ipop__msg_encode(&m, buf, sizeof(buf));
    g_assert_cmpint(n, >, 0);
    g_assert_cmpint(ipop__msg_decode(&back, buf, (size_t)n), ==, 0);
    g_assert_cmpuint(back.n_routes, ==, IPOP__SIGNAL_ROUTES_MAX);

    /* what an encoder refuses: host bits, the default route */
    fill_offer(&m);
    m.n_routes = 1;
    m.routes[0] = P("192.168.77.1/24");
    g_assert_cmpint(ipop__msg_encode(&m, buf, sizeof(buf)), ==, -EINVAL);
    m.routes[0] = P("0.0.0.0/0");
    g_assert_cmpint(ipop__msg_encode(&m, buf, sizeof(buf)), ==, -EINVAL);
    /* and routes in a message that does not carry them */
    fill_offer(&m);
    m.type = IPOP__MSG_CAND;
    m.cands_done = true;
    m.ufrag[0] = m.pwd[0] = '\0';
    m.has_fingerprint = false;
    m.n_routes = 1;
    m.routes[0] = P("192.168.77.0/24");
    g_assert_cmpint(ipop__msg_encode(&m, buf, sizeof(buf)), ==, -EINVAL);

    /* what a decoder refuses */
    fill_offer(&m);
    n = ipop__msg_encode(&m, buf, sizeof(buf));
    g_assert_cmpint(n, >, 0);
    static const char *bad[] = { " routes=", " routes=192.168.77.1/24", " routes=0.0.0.0/0",
                                 " routes=10.0.0.0/8%2C10.0.0.0/8", " routes=10.0.0.0/8 routes=10.1.0.0/16",
                                 " routes=10.0.0.0/8%00" };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        char line[sizeof(buf) + 64];
        snprintf(line, sizeof(line), "%s%s", buf, bad[i]);
        g_assert_cmpint(ipop__msg_decode(&back, line, strlen(line)), <, 0);
    }
    {
        GString *many = g_string_new(buf);
        g_string_append(many, " routes=");
        for (unsigned i = 0; i <= IPOP__SIGNAL_ROUTES_MAX; i++)
            g_string_append_printf(many, "%s10.%u.0.0/16", i ? "%2C" : "", i);
        g_assert_cmpint(ipop__msg_decode(&back, many->str, many->len), <, 0);
        g_string_free(many, TRUE);
    }
}

static void test_certificate(void)
{
    ipop__cert c = { .n_routes = 2 };
    ipop__addr in = P("192.168.77.0/24"), same = P("192.168.0.0/16"), wider = P("192.0.0.0/8"),
               out = P("10.0.0.0/8"), v6 = P("fd77:1::/64");

    c.routes[0] = P("192.168.0.0/16");
    c.routes[1] = P("fd77::/16");
    g_assert_true(ipop__cert_allows_route(&c, &in));
    g_assert_true(ipop__cert_allows_route(&c, &same));
    g_assert_false(ipop__cert_allows_route(&c, &wider));
    g_assert_false(ipop__cert_allows_route(&c, &out));
    g_assert_true(ipop__cert_allows_route(&c, &v6));
    c.n_routes = 0;
    g_assert_false(ipop__cert_allows_route(&c, &in));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/routes/parse", test_parse);
    g_test_add_func("/routes/relations", test_relations);
    g_test_add_func("/routes/longest-prefix", test_longest_prefix);
    g_test_add_func("/routes/tie", test_tie);
    g_test_add_func("/routes/limits", test_limits);
    g_test_add_func("/routes/message", test_message);
    g_test_add_func("/routes/certificate", test_certificate);
    return g_test_run();
}
