/* SPDX-License-Identifier: MIT */
/* What the XMPP transport answers and says about itself (xmpp-iq.c), case
 * by case without a server: disco#info with a bot identity, ping, an
 * error for anything else, never an answer to an answer; hostile ids and
 * senders stay escaped; the caps hash is XEP-0115's.  test-interop.c and
 * python-slixmpp show the same against real servers and clients. */
#include <glib.h>
#include <string.h>
#include <strophe.h>

#include "xmpp-iq.h"

static xmpp_ctx_t *ctx;

static char *answer(const char *xml)
{
    xmpp_stanza_t *st = xmpp_stanza_new_from_string(ctx, xml);
    char *out;

    g_assert_nonnull(st);
    out = ipop__xmpp_iq_answer(st);
    xmpp_stanza_release(st);
    return out;
}

static void test_disco(void)
{
    char *a = answer("<iq type='get' id='d1' from='bob@example.org/phone'><query "
                     "xmlns='http://jabber.org/protocol/disco#info'/></iq>");

    g_assert_nonnull(strstr(a, "type='result' id='d1' to='bob@example.org/phone'"));
    g_assert_nonnull(strstr(a, "<identity category='client' type='bot' name='ipopd'/>"));
    g_assert_nonnull(strstr(a, "<feature var='http://jabber.org/protocol/disco#info'/>"));
    g_free(a);
    /* our caps node answers the same; another node is not ours */
    {
        char *ver = ipop__xmpp_caps_ver(), *q;
        q = g_strdup_printf("<iq type='get' id='d2'><query xmlns='http://jabber.org/protocol/disco#info' "
                            "node='%s#%s'/></iq>", IPOP__XMPP_CAPS_NODE, ver);
        a = answer(q);
        g_assert_nonnull(strstr(a, "type='result'"));
        g_assert_nonnull(strstr(a, ver));
        g_free(a);
        g_free(q);
        g_free(ver);
    }
    a = answer("<iq type='get' id='d3'><query xmlns='http://jabber.org/protocol/disco#info' node='x'/></iq>");
    g_assert_nonnull(strstr(a, "type='error'"));
    g_assert_nonnull(strstr(a, "<item-not-found"));
    g_free(a);
}

static void test_others(void)
{
    char *a = answer("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>");

    g_assert_cmpstr(a, ==, "<iq type='result' id='p'></iq>");
    g_free(a);
    /* RFC 6120 8.4: what we do not understand, get or set */
    a = answer("<iq type='set' id='v'><query xmlns='jabber:iq:version'/></iq>");
    g_assert_nonnull(strstr(a, "type='error' id='v'"));
    g_assert_nonnull(strstr(a, "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"));
    g_free(a);
    a = answer("<iq type='get' id='e'/>");
    g_assert_nonnull(strstr(a, "service-unavailable"));
    g_free(a);
    /* never an answer to an answer: no ping-pong of errors */
    g_assert_null(answer("<iq type='result' id='r'/>"));
    g_assert_null(answer("<iq type='error' id='r'/>"));
    g_assert_null(answer("<iq id='r'/>"));
    /* hostile id and sender stay attribute values */
    a = answer("<iq type='get' id='a&apos;&gt;&lt;x/&gt;' from='m&apos;@e'><q xmlns='u'/></iq>");
    g_assert_nonnull(strstr(a, "id='a&apos;&gt;&lt;x/&gt;' to='m&apos;@e'"));
    g_free(a);
}

static void test_presence(void)
{
    char *p = ipop__xmpp_presence_xml("k7f3q2m9"), *ver = ipop__xmpp_caps_ver();

    /* RFC 6121 4.7.2.3: messages to the bare JID never come to us */
    g_assert_nonnull(strstr(p, "<priority>-1</priority>"));
    g_assert_nonnull(strstr(p, ver));
    g_assert_nonnull(strstr(p, "id='k7f3q2m9'"));
    g_free(p);
    p = ipop__xmpp_presence_xml(NULL);
    g_assert_null(strstr(p, "urn:ipop:node:1"));
    g_free(p);
    /* XEP-0115 5.1: base64 of the SHA-1 of "client/bot//ipopd<" and the
     * sorted features each followed by "<" (computed with Python's
     * hashlib for these five features) */
    g_assert_cmpstr(ver, ==, "XWwCZoH3zkRT5Ia4d/mBkbqfg/M=");
    g_free(ver);
}

int main(int argc, char **argv)
{
    int r;

    g_test_init(&argc, &argv, NULL);
    xmpp_initialize();
    ctx = xmpp_ctx_new(NULL, NULL);
    g_test_add_func("/xmpp-iq/disco", test_disco);
    g_test_add_func("/xmpp-iq/others", test_others);
    g_test_add_func("/xmpp-iq/presence", test_presence);
    r = g_test_run();
    xmpp_ctx_free(ctx);
    return r;
}
