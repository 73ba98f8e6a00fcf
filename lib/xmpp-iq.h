/* SPDX-License-Identifier: MIT */
/* What the XMPP transport (xmpp.c) says about itself to the clients and
 * servers around it, so that a person's own chat clients on the same
 * account are not disturbed: the presence (negative priority, RFC 6121
 * 4.7.2.3: messages to the bare JID never come to us; XEP-0115 caps that
 * say "client/bot"), the hints on each signalling message (XEP-0334,
 * XEP-0280: no carbons copies, no archive, no offline storage), and the
 * answers to the queries clients send (XEP-0030 disco#info, XEP-0199 ping,
 * and service-unavailable for anything else, RFC 6120 8.4).  Pure: the
 * transport sends the XML these return. */
#pragma once

#include <strophe.h>

#define IPOP__XMPP_NAME "ipopd"
/* XEP-0115 node: who made the software */
#define IPOP__XMPP_CAPS_NODE "https://github.com/ipop-project/libipop"
/* The child elements that keep a signalling message out of a person's
 * clients and archives: XEP-0334 hints, XEP-0280 private. */
#define IPOP__XMPP_SIGNAL_HINTS                                                                                   \
    "<no-store xmlns='urn:xmpp:hints'/><no-permanent-store xmlns='urn:xmpp:hints'/>"                            \
    "<no-copy xmlns='urn:xmpp:hints'/><private xmlns='urn:xmpp:carbons:2'/>"

/* Our broadcast presence: priority -1, the caps, a status that says what
 * this resource is, and node_id (NULL: none) for friends' nodes.  Newly
 * allocated (g_free). */
char *ipop__xmpp_presence_xml(const char *node_id);
/* The XEP-0115 verification string of what disco#info answers (base64 of
 * a SHA-1).  Newly allocated (g_free). */
char *ipop__xmpp_caps_ver(void);
/* The answer to an iq `st` that no other handler took: for a get or a set,
 * a disco#info result, a ping result, or an error (service-unavailable,
 * or item-not-found for a disco node we do not have); NULL for a result or
 * an error, which are never answered.  Newly allocated (g_free). */
char *ipop__xmpp_iq_answer(xmpp_stanza_t *st);
