/* SPDX-License-Identifier: MIT */
/* Whose word a stanza's 'from' is (ipop__xmpp_from_account): RFC 6121
 * believes roster results and pushes only from our own account.  The
 * forged-roster tests of test-xmpp.c show it against a real server; these
 * are the cases one by one, without one. */
#include <glib.h>

#include "xmpp-room.h"
#include "xmpp.h"

#define JID "alice@example.org"
#define BOUND "alice@example.org/ipop-k7f3q2m9x4c8"

static void test_from_account(void)
{
    /* The server's own answers carry no 'from', or our bare JID. */
    g_assert_true(ipop__xmpp_from_account(NULL, JID, BOUND));
    g_assert_true(ipop__xmpp_from_account(JID, JID, BOUND));
    g_assert_true(ipop__xmpp_from_account("Alice@EXAMPLE.org", JID, BOUND));
    /* The JID we logged in with may name a resource; the bare part counts. */
    g_assert_true(ipop__xmpp_from_account(JID, JID "/laptop", NULL));
    /* Before binding, from the bound JID's bare part when jid is unknown. */
    g_assert_true(ipop__xmpp_from_account(JID, NULL, BOUND));
    /* Our full JID, compared byte for byte (the bound JID is the
     * server's own spelling); no other resource of our account. */
    g_assert_true(ipop__xmpp_from_account(BOUND, JID, BOUND));
    g_assert_false(ipop__xmpp_from_account(JID "/ipop-other", JID, BOUND));
    g_assert_false(ipop__xmpp_from_account("ALICE@example.org/ipop-k7f3q2m9x4c8", JID, BOUND));
    g_assert_false(ipop__xmpp_from_account(BOUND, JID, NULL));
    /* Strangers, the domain, prefixes and extensions of our JID. */
    g_assert_false(ipop__xmpp_from_account("mallory@example.org", JID, BOUND));
    g_assert_false(ipop__xmpp_from_account("mallory@evil.example/x", JID, BOUND));
    g_assert_false(ipop__xmpp_from_account("example.org", JID, BOUND));
    g_assert_false(ipop__xmpp_from_account("alice@example.or", JID, BOUND));
    g_assert_false(ipop__xmpp_from_account("alice@example.org.evil", JID, BOUND));
    g_assert_false(ipop__xmpp_from_account("", JID, BOUND));
    g_assert_false(ipop__xmpp_from_account(JID, NULL, NULL));
}

/* What a refused password looks like as libstrophe logs it (RFC 6120 6.5):
 * the condition is the first child that is not <text/>. */
static void test_sasl_condition(void)
{
    char c[16];

    g_assert_true(ipop__xmpp_sasl_condition(
        "<failure xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\"><not-authorized/></failure>", c, sizeof(c)));
    g_assert_cmpstr(c, ==, "not-authorized");
    g_assert_true(ipop__xmpp_sasl_condition("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><text xml:lang='en'>"
                                            "Bad password</text><disabled/></failure>", c, sizeof(c)));
    g_assert_cmpstr(c, ==, "disabled");
    g_assert_true(ipop__xmpp_sasl_condition("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><text>x</text>"
                                            "<credentials-expired/></failure>", c, sizeof(c)));
    g_assert_cmpstr(c, ==, "credentials-exp"); /* cut to fit */
    g_assert_true(ipop__xmpp_sasl_condition("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>", c, sizeof(c)));
    g_assert_cmpstr(c, ==, "");
    g_assert_false(ipop__xmpp_sasl_condition("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", c, sizeof(c)));
    g_assert_false(ipop__xmpp_sasl_condition("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>", c, sizeof(c)));
    g_assert_false(ipop__xmpp_sasl_condition(NULL, c, sizeof(c)));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xmpp/from-account", test_from_account);
    g_test_add_func("/xmpp/sasl-condition", test_sasl_condition);
    return g_test_run();
}
