/* SPDX-License-Identifier: MIT */
/* Why an XMPP session attempt ended, in words: pure functions over what
 * libstrophe logged and what the attempt saw (see xmpp-why.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "xmpp-why.h"

#define CONNECT_FAILED "connection failed, error "

bool ipop__xmpp_sasl_condition(const char *xml, char *out, size_t size)
{
    const char *p;
    size_t n;

    if (!xml || !g_str_has_prefix(xml, "<failure") || !strstr(xml, "urn:ietf:params:xml:ns:xmpp-sasl") || !size)
        return false;
    out[0] = '\0';
    /* the first child element other than <text/> names the condition */
    for (p = strchr(xml + 1, '<'); p; p = strchr(p + 1, '<')) {
        const char *name = p + 1;
        for (n = 0; g_ascii_isalnum(name[n]) || name[n] == '-' || name[n] == '_'; n++)
            ;
        if (n == 0 || (n == 4 && !strncmp(name, "text", 4)))
            continue;
        if (n == 7 && !strncmp(name, "failure", 7))
            break;
        g_strlcpy(out, name, MIN(n + 1, size));
        break;
    }
    return true;
}

void ipop__xmpp_fingerprint_norm(const char *in, char out[65])
{
    size_t o = 0;

    for (; in && *in && o < 64; in++)
        if (g_ascii_isxdigit(*in))
            out[o++] = g_ascii_tolower(*in);
    out[o] = '\0';
}

/* libstrophe tells a refused password and a refused connection only in its
 * log: a SASL <failure/> as it arrives (debug), then "Cannot authenticate"
 * when no mechanism is left, and "connection failed, error N". */
void ipop__xmpp_why_note(struct ipop__xmpp_attempt *a, const char *area, const char *msg)
{
    if (!area || !msg)
        return;
    if (!strcmp(area, "xmpp") && g_str_has_prefix(msg, "RECV: <failure") &&
        ipop__xmpp_sasl_condition(msg + 6, a->auth_condition, sizeof(a->auth_condition)))
        a->auth_failed = true;
    else if (!strcmp(area, "auth") && strstr(msg, "Cannot authenticate"))
        a->auth_failed = true;
    else if (!strcmp(area, "xmpp") && g_str_has_prefix(msg, CONNECT_FAILED))
        a->connect_error = atoi(msg + strlen(CONNECT_FAILED));
}

static void end_as(ipop__xmpp_end *out, ipop_signal_state_t state, ipop_reason_t reason, const char *condition,
                   const char *fingerprint, bool slow)
{
    *out = (ipop__xmpp_end){ .state = state, .reason = reason, .condition = condition,
                             .fingerprint = fingerprint, .slow = slow };
}

/* The server's words are quoted as the server's. */
void ipop__xmpp_why_ended(const struct ipop__xmpp_attempt *a, bool was_online, int error, const char *stream_cond,
                          const char *stream_text, bool kicked, const char *host, char *text, size_t size,
                          ipop__xmpp_end *out)
{
    const char *cond = stream_cond ? stream_cond : "";

    if (!error && a->connect_error > 0)
        error = a->connect_error;
    if (a->tls_refused) {
        snprintf(text, size, "the server's certificate was refused (%s); its SHA-256 fingerprint is %s: "
                 "if that is your server's, set xmpp.server-fingerprint to it", a->tls_why,
                 a->tls_seen[0] ? a->tls_seen : "unknown");
        end_as(out, IPOP_SIGNAL_TLS_REFUSED, IPOP_REASON_TLS_REFUSED, NULL, a->tls_seen, true);
    } else if (a->auth_failed) {
        snprintf(text, size, "authentication failed (%s)",
                 a->auth_condition[0] ? a->auth_condition : "no mechanism the server offers worked");
        end_as(out, IPOP_SIGNAL_AUTH_FAILED, IPOP_REASON_AUTH_FAILED, a->auth_condition, NULL, true);
    } else if (stream_cond) {
        snprintf(text, size, "the server closed the session%s%s%s%s%s%s", cond[0] ? " (" : "", cond,
                 cond[0] ? ")" : "", stream_text ? ": \"" : "", stream_text ? stream_text : "",
                 stream_text ? "\"" : "");
        end_as(out, IPOP_SIGNAL_SERVER_CLOSED, IPOP_REASON_SERVER_CLOSED, stream_cond, NULL, false);
    } else if (kicked) {
        g_strlcpy(text, "the server did not answer a ping: connecting again", size);
        end_as(out, IPOP_SIGNAL_UNREACHABLE, IPOP_REASON_SERVER_SILENT, NULL, NULL, false);
    } else if (error) {
        snprintf(text, size, "%s %s: %s", was_online ? "connection to" : "cannot connect to", host,
                 g_strerror(error));
        end_as(out, IPOP_SIGNAL_UNREACHABLE, IPOP_REASON_UNREACHABLE, NULL, NULL, false);
    } else {
        snprintf(text, size, "the server %s closed the connection%s", host,
                 was_online ? "" : " before the session was up");
        end_as(out, IPOP_SIGNAL_SERVER_CLOSED, IPOP_REASON_SERVER_CLOSED, NULL, NULL, false);
    }
}
