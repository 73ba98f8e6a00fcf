/* SPDX-License-Identifier: MIT */
/* Whose word a stanza's 'from' is (ipop__xmpp_from_account): RFC 6121
 * believes roster results and pushes only from our own account.  The
 * forged-roster tests of test-xmpp.c show it against a real server; these
 * are the cases one by one, without one.  Also the pure words of
 * xmpp-why.c: the SASL condition, the log notes, and the texts told when
 * a session attempt ends (ipopctl status and the log show them). */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "xmpp-room.h"
#include "xmpp-why.h"
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

/* What libstrophe's log says about an attempt, line by line, as on_log
 * hands it over. */
static void test_why_note(void)
{
    struct ipop__xmpp_attempt a = { 0 };

    ipop__xmpp_why_note(&a, "xmpp", "SENT: <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    ipop__xmpp_why_note(&a, "conn", "connection failed, error 111");
    g_assert_false(a.auth_failed);
    g_assert_cmpint(a.connect_error, ==, 0);
    ipop__xmpp_why_note(&a, "xmpp", "RECV: <failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>"
                                    "</failure>");
    g_assert_true(a.auth_failed);
    g_assert_cmpstr(a.auth_condition, ==, "not-authorized");
    a = (struct ipop__xmpp_attempt){ 0 };
    ipop__xmpp_why_note(&a, "xmpp", "RECV: <failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    g_assert_false(a.auth_failed);
    ipop__xmpp_why_note(&a, "auth", "Cannot authenticate with known methods");
    g_assert_true(a.auth_failed);
    g_assert_cmpstr(a.auth_condition, ==, "");
    ipop__xmpp_why_note(&a, "xmpp", "connection failed, error 111");
    g_assert_cmpint(a.connect_error, ==, 111);
    ipop__xmpp_why_note(&a, NULL, NULL);
}

static void test_fingerprint_norm(void)
{
    char fp[65];

    ipop__xmpp_fingerprint_norm("AB:cd:0F", fp);
    g_assert_cmpstr(fp, ==, "abcd0f");
    ipop__xmpp_fingerprint_norm(NULL, fp);
    g_assert_cmpstr(fp, ==, "");
    ipop__xmpp_fingerprint_norm("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef:FF", fp);
    g_assert_cmpstr(fp, ==, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
}

/* The texts a user reads in `ipopctl status` and the log when a session
 * attempt ends, one per cause, in the order the causes are weighed. */
static void test_why_ended(void)
{
    struct ipop__xmpp_attempt a = { 0 };
    ipop__xmpp_end e;
    char text[512], small[12];

    /* a refused certificate outweighs everything else the attempt saw */
    a.tls_refused = a.auth_failed = true;
    g_strlcpy(a.tls_why, "it is not the one pinned with xmpp.server-fingerprint", sizeof(a.tls_why));
    g_strlcpy(a.tls_seen, "ab12", sizeof(a.tls_seen));
    ipop__xmpp_why_ended(&a, false, ECONNRESET, "conflict", "x", false, "example.org", text, sizeof(text), &e);
    g_assert_cmpstr(text, ==, "the server's certificate was refused (it is not the one pinned with "
                              "xmpp.server-fingerprint); its SHA-256 fingerprint is ab12: if that is your "
                              "server's, set xmpp.server-fingerprint to it");
    g_assert_cmpint(e.state, ==, IPOP_SIGNAL_TLS_REFUSED);
    g_assert_cmpint(e.reason, ==, IPOP_REASON_TLS_REFUSED);
    g_assert_null(e.condition);
    g_assert_cmpstr(e.fingerprint, ==, "ab12");
    g_assert_true(e.slow);
    a.tls_seen[0] = '\0';
    ipop__xmpp_why_ended(&a, false, 0, NULL, NULL, false, "example.org", text, sizeof(text), &e);
    g_assert_true(strstr(text, "its SHA-256 fingerprint is unknown: "));

    a = (struct ipop__xmpp_attempt){ .auth_failed = true };
    ipop__xmpp_why_ended(&a, false, 0, NULL, NULL, false, "example.org", text, sizeof(text), &e);
    g_assert_cmpstr(text, ==, "authentication failed (no mechanism the server offers worked)");
    g_strlcpy(a.auth_condition, "not-authorized", sizeof(a.auth_condition));
    ipop__xmpp_why_ended(&a, false, 0, NULL, NULL, true, "example.org", text, sizeof(text), &e);
    g_assert_cmpstr(text, ==, "authentication failed (not-authorized)");
    g_assert_cmpint(e.state, ==, IPOP_SIGNAL_AUTH_FAILED);
    g_assert_cmpint(e.reason, ==, IPOP_REASON_AUTH_FAILED);
    g_assert_cmpstr(e.condition, ==, "not-authorized");
    g_assert_null(e.fingerprint);
    g_assert_true(e.slow);

    /* the server's stream error, its words quoted */
    a = (struct ipop__xmpp_attempt){ 0 };
    ipop__xmpp_why_ended(&a, true, 0, "system-shutdown", "Received SIGTERM", false, "example.org", text,
                         sizeof(text), &e);
    g_assert_cmpstr(text, ==, "the server closed the session (system-shutdown): \"Received SIGTERM\"");
    g_assert_cmpint(e.state, ==, IPOP_SIGNAL_SERVER_CLOSED);
    g_assert_cmpint(e.reason, ==, IPOP_REASON_SERVER_CLOSED);
    g_assert_cmpstr(e.condition, ==, "system-shutdown");
    g_assert_false(e.slow);
    ipop__xmpp_why_ended(&a, true, 0, "", NULL, false, "example.org", text, sizeof(text), &e);
    g_assert_cmpstr(text, ==, "the server closed the session");

    /* we cut it: the server did not answer a ping */
    ipop__xmpp_why_ended(&a, true, ECONNRESET, NULL, NULL, true, "example.org", text, sizeof(text), &e);
    g_assert_cmpstr(text, ==, "the server did not answer a ping: connecting again");
    g_assert_cmpint(e.state, ==, IPOP_SIGNAL_UNREACHABLE);
    g_assert_cmpint(e.reason, ==, IPOP_REASON_SERVER_SILENT);
    g_assert_null(e.condition);

    /* an errno, from libstrophe or only from its log */
    ipop__xmpp_why_ended(&a, true, ECONNRESET, NULL, NULL, false, "example.org", text, sizeof(text), &e);
    g_assert_cmpstr(text, ==, "connection to example.org: Connection reset by peer");
    g_assert_cmpint(e.reason, ==, IPOP_REASON_UNREACHABLE);
    a.connect_error = ECONNREFUSED;
    ipop__xmpp_why_ended(&a, false, 0, NULL, NULL, false, "127.0.0.1", text, sizeof(text), &e);
    g_assert_cmpstr(text, ==, "cannot connect to 127.0.0.1: Connection refused");
    g_assert_cmpint(e.state, ==, IPOP_SIGNAL_UNREACHABLE);

    /* nothing said: closed */
    a = (struct ipop__xmpp_attempt){ 0 };
    ipop__xmpp_why_ended(&a, false, 0, NULL, NULL, false, "example.org", text, sizeof(text), &e);
    g_assert_cmpstr(text, ==, "the server example.org closed the connection before the session was up");
    g_assert_cmpint(e.state, ==, IPOP_SIGNAL_SERVER_CLOSED);
    g_assert_null(e.condition);
    ipop__xmpp_why_ended(&a, true, 0, NULL, NULL, false, "example.org", text, sizeof(text), &e);
    g_assert_cmpstr(text, ==, "the server example.org closed the connection");

    /* cut to fit the buffer */
    ipop__xmpp_why_ended(&a, true, 0, NULL, NULL, true, "example.org", small, sizeof(small), &e);
    g_assert_cmpstr(small, ==, "the server ");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xmpp/from-account", test_from_account);
    g_test_add_func("/xmpp/sasl-condition", test_sasl_condition);
    g_test_add_func("/xmpp/why-note", test_why_note);
    g_test_add_func("/xmpp/fingerprint-norm", test_fingerprint_norm);
    g_test_add_func("/xmpp/why-ended", test_why_ended);
    return g_test_run();
}
