/* SPDX-License-Identifier: MIT */
/* ipopd's framing of what comes from outside: the UDP signalling datagram
 * ("<sender-node-id> <message>") and the control socket's request line.
 * Pure functions, no I/O and no GLib, so that unit tests and fuzzers
 * (tests/fuzz/fuzz-ipopd.c) call them directly. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* buf holds len bytes and a NUL after them.  Cuts it at the first space:
 * 0 with *sender = buf and *message after the space, or -EINVAL (buf
 * unchanged) when it holds a NUL, has no space or starts with one. */
int sig_datagram_split(char *buf, size_t len, char **sender, char **message);

/* in holds len bytes (len < cap) and a NUL after them, as read so far.
 * 1 when a line is complete: it is cut at the newline, a CR before it
 * dropped; 0 when more may come; -EMSGSIZE when in is full (len == cap - 1)
 * without a line.  A NUL before the newline hides it, as in a C string. */
int control_line(char *in, size_t len, size_t cap);

enum control_cmd {
    CONTROL_BAD,                  /* answered with error */
    CONTROL_STATUS,
    CONTROL_PEERS,
    CONTROL_ACCEPT,               /* arg: the JID, arg2: the network or NULL */
    CONTROL_CHANGED,              /* network-changed; arg: the network or NULL */
    CONTROL_METRICS,              /* the Prometheus text format */
    CONTROL_FRIEND,               /* friend add|remove|accept|list; verb: which, arg: the JID (NULL for
                                     list), arg2: the network or NULL */
};

struct control_request {
    enum control_cmd cmd;
    bool json;                    /* status, peers */
    /* The first word is "accept", "network-changed" or "friend", well
     * formed or not: only root or ipopd's own user may send it. */
    bool changes;
    const char *arg, *arg2;
    const char *verb;             /* CONTROL_FRIEND */
    const char *error;            /* CONTROL_BAD: the answer line, with its newline */
};

/* Parses one request line, words split at each single space (as
 * g_strsplit(line, " ", 4) does: the fourth word is the rest), in place. */
void control_parse(char *line, struct control_request *req);
