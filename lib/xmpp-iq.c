/* SPDX-License-Identifier: MIT */
/* What the XMPP transport says about itself (see xmpp-iq.h). */
#include "xmpp-iq.h"

#include <glib.h>
#include <string.h>

#include "xmpp-room.h" /* ipop__xml_escape */
#include "xmpp.h"      /* the namespaces */

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_CAPS "http://jabber.org/protocol/caps"
#define NS_PING "urn:xmpp:ping"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

/* XEP-0030 identity: an automated client, not a person's */
#define IDENTITY_CATEGORY "client"
#define IDENTITY_TYPE "bot"

/* The features disco#info lists, sorted as XEP-0115 5.1 orders them
 * (by octets). */
static const char *const features[] = {
    NS_CAPS, NS_DISCO_INFO, IPOP__XMPP_NS_NODE, IPOP__XMPP_NS_SIGNAL, NS_PING,
};

char *ipop__xmpp_caps_ver(void)
{
    GString *s = g_string_new(IDENTITY_CATEGORY "/" IDENTITY_TYPE "//" IPOP__XMPP_NAME "<");
    guint8 digest[20];
    gsize len = sizeof(digest);
    GChecksum *sha1 = g_checksum_new(G_CHECKSUM_SHA1);

    for (size_t i = 0; i < G_N_ELEMENTS(features); i++)
        g_string_append_printf(s, "%s<", features[i]);
    g_checksum_update(sha1, (const guchar *)s->str, s->len);
    g_checksum_get_digest(sha1, digest, &len);
    g_checksum_free(sha1);
    g_string_free(s, TRUE);
    return g_base64_encode(digest, len);
}

char *ipop__xmpp_presence_xml(const char *node_id)
{
    char *ver = ipop__xmpp_caps_ver(), *node = NULL, *xml;

    if (node_id) {
        char *eid = ipop__xml_escape(node_id);
        node = g_strdup_printf("<node xmlns='" IPOP__XMPP_NS_NODE "' id='%s'/>", eid);
        g_free(eid);
    }
    /* RFC 6121 4.7.2.3: with a negative priority the server never hands
     * us a message sent to the bare JID; it goes to the person's clients,
     * or is stored for them when none is online. */
    xml = g_strdup_printf("<presence><priority>-1</priority><status>" IPOP__XMPP_NAME " VPN node (libipop), not "
                          "a chat client</status><c xmlns='" NS_CAPS "' hash='sha-1' node='" IPOP__XMPP_CAPS_NODE
                          "' ver='%s'/>%s</presence>", ver, node ? node : "");
    g_free(ver);
    g_free(node);
    return xml;
}

/* <iq type='T' id='ID' to='FROM'> with the request's id and sender escaped. */
static GString *answer_head(xmpp_stanza_t *st, const char *type)
{
    const char *id = xmpp_stanza_get_id(st), *from = xmpp_stanza_get_from(st);
    char *eid = ipop__xml_escape(id ? id : ""), *efrom = from ? ipop__xml_escape(from) : NULL;
    GString *s = g_string_new(NULL);

    g_string_printf(s, "<iq type='%s' id='%s'", type, eid);
    if (efrom)
        g_string_append_printf(s, " to='%s'", efrom);
    g_string_append_c(s, '>');
    g_free(eid);
    g_free(efrom);
    return s;
}

static char *error_answer(xmpp_stanza_t *st, const char *type, const char *condition)
{
    GString *s = answer_head(st, "error");

    g_string_append_printf(s, "<error type='%s'><%s xmlns='" NS_STANZAS "'/></error></iq>", type, condition);
    return g_string_free(s, FALSE);
}

static char *disco_answer(xmpp_stanza_t *st, xmpp_stanza_t *q)
{
    const char *node = xmpp_stanza_get_attribute(q, "node");
    char *ver, *ours, *enode;
    GString *s;
    bool known;

    if (node) {
        /* XEP-0115 6.2: the node#ver of our caps; no other node here */
        ver = ipop__xmpp_caps_ver();
        ours = g_strdup_printf(IPOP__XMPP_CAPS_NODE "#%s", ver);
        known = !strcmp(node, ours);
        g_free(ver);
        g_free(ours);
        if (!known)
            return error_answer(st, "cancel", "item-not-found");
    }
    s = answer_head(st, "result");
    g_string_append(s, "<query xmlns='" NS_DISCO_INFO "'");
    if (node) {
        enode = ipop__xml_escape(node);
        g_string_append_printf(s, " node='%s'", enode);
        g_free(enode);
    }
    g_string_append(s, "><identity category='" IDENTITY_CATEGORY "' type='" IDENTITY_TYPE "' name='"
                       IPOP__XMPP_NAME "'/>");
    for (size_t i = 0; i < G_N_ELEMENTS(features); i++)
        g_string_append_printf(s, "<feature var='%s'/>", features[i]);
    g_string_append(s, "</query></iq>");
    return g_string_free(s, FALSE);
}

char *ipop__xmpp_iq_answer(xmpp_stanza_t *st)
{
    const char *type = xmpp_stanza_get_type(st);
    xmpp_stanza_t *q;

    if (!type || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0))
        return NULL; /* RFC 6120 8.2.3: results and errors are never answered */
    if (!strcmp(type, "get") && (q = xmpp_stanza_get_child_by_name_and_ns(st, "query", NS_DISCO_INFO)))
        return disco_answer(st, q);
    if (!strcmp(type, "get") && xmpp_stanza_get_child_by_name_and_ns(st, "ping", NS_PING)) {
        GString *s = answer_head(st, "result");
        g_string_append(s, "</iq>");
        return g_string_free(s, FALSE);
    }
    /* RFC 6120 8.4: a payload we do not understand */
    return error_answer(st, "cancel", "service-unavailable");
}
