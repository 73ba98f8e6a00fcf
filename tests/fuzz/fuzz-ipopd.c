/* SPDX-License-Identifier: MIT */
/* Fuzzes ipopd's framing (daemon/parse.c) with each input taken both as a
 * signalling datagram from anyone who can reach signal.listen and as the
 * bytes a local client writes to the control socket.  A datagram is
 * refused untouched or cut into a non-empty sender without spaces and the
 * rest; a request is parsed as the daemon's words were before parse.c
 * (g_strsplit, here the reference), and only "accept" and
 * "network-changed" count as changes. */
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

#define DATAGRAM_MAX 16384 /* as ipopd.h */
#define REQUEST_MAX 256    /* as control.c */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_datagram(const uint8_t *data, size_t size)
{
    char *buf, *sender, *message;
    size_t len = size > DATAGRAM_MAX ? DATAGRAM_MAX : size;

    buf = malloc(len + 1);
    if (!buf)
        abort();
    memcpy(buf, data, len);
    buf[len] = '\0';
    if (sig_datagram_split(buf, len, &sender, &message) < 0) {
        if (memcmp(buf, data, len) != 0)
            abort();
        goto out;
    }
    if (sender != buf || !sender[0] || strchr(sender, ' ') || memchr(data, '\0', len))
        abort();
    if (message != buf + strlen(sender) + 1 || strlen(message) != len - strlen(sender) - 1 ||
        memcmp(message, data + strlen(sender) + 1, strlen(message)) != 0)
        abort();
out:
    free(buf);
}

/* What control.c decided with g_strsplit before parse.c. */
static void reference(const char *line, struct control_request *want)
{
    g_auto(GStrv) words = g_strsplit(line, " ", 4);
    guint count = g_strv_length(words);
    const char *cmd = count ? words[0] : "";
    bool json = count == 2 && strcmp(words[1], "json") == 0;

    *want = (struct control_request){.cmd = CONTROL_BAD};
    want->changes = strcmp(cmd, "accept") == 0 || strcmp(cmd, "network-changed") == 0 || strcmp(cmd, "friend") == 0;
    if (strcmp(cmd, "friend") == 0) {
        const char *verb = count >= 2 ? words[1] : "";
        if (!strcmp(verb, "list") ? count <= 3 && (count < 3 || words[2][0])
                                  : (!strcmp(verb, "add") || !strcmp(verb, "remove") || !strcmp(verb, "accept")) &&
                                        count >= 3 && words[2][0] &&
                                        (count < 4 || (words[3][0] && !strchr(words[3], ' '))))
            want->cmd = CONTROL_FRIEND;
    } else if (strcmp(cmd, "accept") == 0) {
        if (!(count < 2 || count > 3 || !words[1][0] || (count == 3 && !words[2][0])))
            want->cmd = CONTROL_ACCEPT;
    } else if (strcmp(cmd, "network-changed") == 0) {
        if (!(count > 2 || (count == 2 && !words[1][0])))
            want->cmd = CONTROL_CHANGED;
    } else if (strcmp(cmd, "metrics") == 0) {
        if (count == 1)
            want->cmd = CONTROL_METRICS;
    } else if (!(count > 2 || (count == 2 && !json))) {
        if (strcmp(cmd, "status") == 0)
            want->cmd = CONTROL_STATUS;
        else if (strcmp(cmd, "peers") == 0)
            want->cmd = CONTROL_PEERS;
        want->json = json && want->cmd != CONTROL_BAD;
    }
}

static void check_request(const uint8_t *data, size_t size)
{
    char in[REQUEST_MAX], copy[REQUEST_MAX];
    size_t len = size > REQUEST_MAX - 1 ? REQUEST_MAX - 1 : size;
    struct control_request req, want;
    int r;

    memcpy(in, data, len);
    in[len] = '\0';
    r = control_line(in, len, sizeof(in));
    if (r == 0 && len == REQUEST_MAX - 1)
        abort(); /* a full buffer must be refused, never waited on */
    if (r < 0 && (len != REQUEST_MAX - 1 || memchr(data, '\n', strnlen((const char *)data, len))))
        abort();
    if (r <= 0)
        return;
    if (strchr(in, '\n') || strlen(in) >= len)
        abort();
    memcpy(copy, in, strlen(in) + 1);
    reference(copy, &want);
    control_parse(in, &req);
    if (req.cmd != want.cmd || req.changes != want.changes || req.json != want.json)
        abort();
    if ((req.cmd == CONTROL_BAD) != (req.error != NULL))
        abort();
    if (req.cmd == CONTROL_ACCEPT && (!req.arg || !req.arg[0] || strchr(req.arg, ' ') ||
                                      (req.arg2 && (!req.arg2[0] || strchr(req.arg2, ' ')))))
        abort();
    if (req.cmd == CONTROL_FRIEND && (!req.verb || (req.arg && (!req.arg[0] || strchr(req.arg, ' '))) ||
                                      (req.arg2 && (!req.arg2[0] || strchr(req.arg2, ' ')))))
        abort();
    if (req.cmd == CONTROL_CHANGED && req.arg && (!req.arg[0] || strchr(req.arg, ' ')))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_datagram(data, size);
    check_request(data, size);
    return 0;
}
