/* SPDX-License-Identifier: MIT */
/* Option dtls.record: the data records sealed and opened by GnuTLS's own
 * record layer ("gnutls", the fallback) instead of record.c ("own", the
 * default).  Two networks in one process link and move packets of every
 * size both ways with the fallback on both ends, and with one end on each
 * layer: both write standard DTLS 1.2 records, so the ends need not agree. */
#include <errno.h>
#include <glib.h>
#include <sys/socket.h>

#include "link.h"
#include "pair.h"
#include "testutil.h"

/* Which layer each end's link took after the handshake (record.c: rec_on). */
static void assert_layers(node *a, node *b, bool a_own, bool b_own)
{
    ipop_link_t *la = ipop_network_get_link(a->net, ipop_network_get_node_id(b->net));
    ipop_link_t *lb = ipop_network_get_link(b->net, ipop_network_get_node_id(a->net));

    g_assert_nonnull(la);
    g_assert_nonnull(lb);
    g_mutex_lock(&la->tx_lock);
    g_assert_cmpint(la->dtls.rec_on, ==, a_own);
    g_mutex_unlock(&la->tx_lock);
    g_mutex_lock(&lb->tx_lock);
    g_assert_cmpint(lb->dtls.rec_on, ==, b_own);
    g_mutex_unlock(&lb->tx_lock);
}

static void run_pair(const char *a_layer, const char *b_layer, const char *a4, const char *b4, const char *a6,
                     const char *b6)
{
    node a, b;

    node_init(&a, "a", a4, a6, "dtls.record", a_layer);
    node_init(&b, "b", b4, b6, "dtls.record", b_layer);
    pair_start(&a, &b);
    connect_pair(&a, &b);
    assert_layers(&a, &b, g_str_equal(a_layer, "own"), g_str_equal(b_layer, "own"));
    blast(&a, &b, AF_INET, 0);
    blast(&b, &a, AF_INET, 0);
    blast(&a, &b, AF_INET6, IPOP_DEFAULT_MTU);
    blast(&b, &a, AF_INET6, 0);
    node_clear(&a);
    node_clear(&b);
}

static void test_gnutls_both(void)
{
    run_pair("gnutls", "gnutls", "10.44.0.1", "10.44.0.2", "fd44::1", "fd44::2");
}

static void test_mixed(void)
{
    /* a (the smaller node id decides who is DTLS client) on either layer */
    run_pair("gnutls", "own", "10.45.0.1", "10.45.0.2", "fd45::1", "fd45::2");
    run_pair("own", "gnutls", "10.46.0.1", "10.46.0.2", "fd46::1", "fd46::2");
}

static void test_option(void)
{
    ipop_network_t *net = NULL;

    g_assert_cmpint(ipop_network_new(&net, "o"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "dtls.record", "own"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "dtls.record", "gnutls"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "dtls.record", "GnuTLS"), ==, -EINVAL);
    g_assert_cmpint(ipop_network_set_option(net, "dtls.record", ""), ==, -EINVAL);
    net = ipop_network_free(net);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dtls-record/option", test_option);
    g_test_add_func("/dtls-record/gnutls-both", test_gnutls_both);
    g_test_add_func("/dtls-record/mixed", test_mixed);
    return g_test_run();
}
