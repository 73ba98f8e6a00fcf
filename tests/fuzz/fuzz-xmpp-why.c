/* SPDX-License-Identifier: MIT */
/* Fuzzes why an XMPP session attempt ended, in words (lib/xmpp-why.c):
 * the SASL <failure/> parser on what a server sends, the notes taken from
 * libstrophe's log lines (which quote the server), the fingerprint of a
 * certificate, and the texts made when an attempt ends from all of that
 * and the server's stream error.  No crash, every output NUL-terminated
 * within its buffer, no text longer than its buffer.
 *
 * Input: 4 bytes (flags, the text buffer's size, an errno, the condition
 * buffer's size), then up to four strings separated by NUL bytes: a log
 * message, a host, the certificate's "why" and fingerprint, the stream
 * error's text. */
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xmpp-why.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define F_TLS 0x01
#define F_ONLINE 0x02
#define F_KICKED 0x04
#define F_STREAM 0x08
#define F_STREAM_TEXT 0x10
#define F_RECV 0x20      /* the message as libstrophe logs a stanza received */
#define F_CONNECT 0x40   /* as it logs a failed connect */
#define F_AUTH 0x80      /* in its "auth" area */

static bool terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

static void check_fingerprint(const char *in)
{
    char *fp = malloc(65);

    ipop__xmpp_fingerprint_norm(in, fp);
    if (!terminated(fp, 65))
        abort();
    for (const char *p = fp; *p; p++)
        if (!g_ascii_isdigit(*p) && !(*p >= 'a' && *p <= 'f'))
            abort();
    free(fp);
}

/* The parser alone, into a buffer of exactly `size` bytes (ASan sees a
 * byte written past it). */
static void check_sasl(const char *xml, size_t size)
{
    char *out = malloc(size ? size : 1);

    if (ipop__xmpp_sasl_condition(xml, out, size) && (!size || !terminated(out, size)))
        abort();
    free(out);
}

static bool within(const char *p, const void *base, size_t size)
{
    return p >= (const char *)base && p < (const char *)base + size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ipop__xmpp_attempt a = { 0 };
    char *s[4] = { NULL }, *msg, *text, cond[64];
    const char *area;
    ipop__xmpp_end e;
    uint8_t flags;
    size_t text_size, cond_size, n = 0;
    int error;

    if (size < 4)
        return 0;
    flags = data[0];
    text_size = 1 + data[1] * 3;           /* 1 to 766 bytes */
    error = data[2] % 140;                 /* errno values and a few beyond */
    cond_size = data[3] % 80;
    /* the strings, each NUL-terminated on the heap at its own length */
    for (size_t i = 4, start = 4; i <= size && n < 4; i++) {
        if (i == size || data[i] == '\0') {
            s[n++] = g_strndup((const char *)data + start, i - start);
            start = i + 1;
        }
    }
    for (; n < 4; n++)
        s[n] = g_strdup("");

    check_sasl(s[0], cond_size);
    check_fingerprint(s[0]);
    msg = flags & F_RECV ? g_strconcat("RECV: ", s[0], NULL)
          : flags & F_CONNECT ? g_strconcat("connection failed, error ", s[0], NULL)
                              : g_strdup(s[0]);
    area = flags & F_AUTH ? "auth" : "xmpp";
    ipop__xmpp_why_note(&a, area, msg);
    if (!terminated(a.auth_condition, sizeof(a.auth_condition)))
        abort();
    if (flags & F_TLS) {
        a.tls_refused = true;
        g_strlcpy(a.tls_why, s[2], sizeof(a.tls_why));
        ipop__xmpp_fingerprint_norm(s[2] + strlen(s[2]) / 2, a.tls_seen);
    }
    g_strlcpy(cond, s[3], sizeof(cond)); /* as stream_condition cuts it */

    text = malloc(text_size);
    ipop__xmpp_why_ended(&a, flags & F_ONLINE, error, flags & F_STREAM ? cond : NULL,
                         flags & F_STREAM_TEXT ? s[3] : NULL, flags & F_KICKED, s[1], text, text_size, &e);
    if (!terminated(text, text_size) || strlen(text) >= text_size)
        abort();
    if (e.condition && !within(e.condition, &a, sizeof(a)) && e.condition != cond)
        abort();
    if (e.fingerprint && e.fingerprint != a.tls_seen)
        abort();
    if (e.state < IPOP_SIGNAL_AUTH_FAILED || e.state > IPOP_SIGNAL_SERVER_CLOSED || e.slow != (a.tls_refused || a.auth_failed))
        abort();
    free(text);
    g_free(msg);
    for (n = 0; n < 4; n++)
        g_free(s[n]);
    return 0;
}
