/* SPDX-License-Identifier: MIT */
/* Why an XMPP session attempt ended, in words (pure): what an attempt
 * learned from libstrophe's log and the certificate check, and the state,
 * reason and text told when it ended.  xmpp.c feeds it; nothing here
 * touches a connection. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "ipop/ipop.h"

/* What one attempt learned before it failed; cleared at each attempt. */
struct ipop__xmpp_attempt {
    bool auth_failed, tls_refused;
    int connect_error;         /* errno of a failed TCP connect, which libstrophe only logs */
    char auth_condition[64];
    char tls_why[128];
    char tls_seen[65];         /* the fingerprint of the certificate refused */
};

/* How an attempt or a session ended (ipop__xmpp_why_ended). */
typedef struct ipop__xmpp_end {
    ipop_signal_state_t state;
    ipop_reason_t reason;
    const char *condition;     /* into the attempt or the stream condition given, or NULL */
    const char *fingerprint;   /* into the attempt, or NULL */
    bool slow;                 /* a refused password or certificate: the slow back-off */
} ipop__xmpp_end;

/* The condition of a SASL <failure/> (RFC 6120 6.5), from the text of the
 * element ("<failure xmlns=...><not-authorized/>...</failure>"), into
 * `out` (cut to fit).  false when the text is no SASL failure. */
bool ipop__xmpp_sasl_condition(const char *xml, char *out, size_t size);
/* A SHA-256 fingerprint as 64 lower-case hex digits at most: every other
 * character dropped (colons, spaces).  `in` may be NULL (gives ""). */
void ipop__xmpp_fingerprint_norm(const char *in, char out[65]);
/* Notes in `a` what one line of libstrophe's log (its area and message)
 * says about the attempt: a SASL <failure/> received, "Cannot
 * authenticate", a failed TCP connect and its errno. */
void ipop__xmpp_why_note(struct ipop__xmpp_attempt *a, const char *area, const char *msg);
/* Why the attempt `a` or the session ended, as a state: `error` the errno
 * libstrophe gave (0: none), `stream_cond` the condition of the server's
 * stream error ("" when it named none) or NULL when there was no stream
 * error, `stream_text` its text or NULL, `kicked` when we cut the
 * connection ourselves (no answer to a ping), `host` the server's name.
 * The text goes into `text` (cut to fit, `size` > 0). */
void ipop__xmpp_why_ended(const struct ipop__xmpp_attempt *a, bool was_online, int error, const char *stream_cond,
                          const char *stream_text, bool kicked, const char *host, char *text, size_t size,
                          ipop__xmpp_end *out);
