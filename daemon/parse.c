/* SPDX-License-Identifier: MIT */
/* ipopd's framing of network and control input: see parse.h. */
#include <errno.h>
#include <string.h>

#include "parse.h"

#define CONTROL_WORDS_MAX 4

int sig_datagram_split(char *buf, size_t len, char **sender, char **message)
{
    char *space = strchr(buf, ' ');

    if (len != strlen(buf) || !space || space == buf)
        return -EINVAL;
    *space = '\0';
    *sender = buf;
    *message = space + 1;
    return 0;
}

int control_line(char *in, size_t len, size_t cap)
{
    char *nl = strchr(in, '\n');

    if (!nl)
        return len < cap - 1 ? 0 : -EMSGSIZE;
    *nl = '\0';
    if (nl > in && nl[-1] == '\r')
        nl[-1] = '\0';
    return 1;
}

/* Splits line at each space into at most max words, the last one the rest;
 * an empty line has none. */
static size_t split_words(char *line, char **words, size_t max)
{
    size_t n = 0;

    if (!line[0])
        return 0;
    words[n++] = line;
    while (n < max) {
        char *space = strchr(words[n - 1], ' ');
        if (!space)
            break;
        *space = '\0';
        words[n++] = space + 1;
    }
    return n;
}

/* "friend add|remove|accept JID [NETWORK]", "friend list [NETWORK]":
 * the contacts are private, so any of them is a request that changes. */
static void friend_parse(char **words, size_t count, struct control_request *req)
{
    const char *verb = count >= 2 ? words[1] : "";
    bool list = strcmp(verb, "list") == 0;

    req->changes = true;
    if (list && count <= 3 && (count < 3 || words[2][0])) {
        req->cmd = CONTROL_FRIEND;
        req->verb = verb;
        req->arg2 = count == 3 ? words[2] : NULL;
    } else if (!list && (!strcmp(verb, "add") || !strcmp(verb, "remove") || !strcmp(verb, "accept")) &&
               count >= 3 && words[2][0] && (count < 4 || (words[3][0] && !strchr(words[3], ' ')))) {
        req->cmd = CONTROL_FRIEND;
        req->verb = verb;
        req->arg = words[2];
        req->arg2 = count == 4 ? words[3] : NULL;
    } else {
        req->error = "error bad request: friend add|remove|accept JID [NETWORK], friend list [NETWORK]\n";
    }
}

void control_parse(char *line, struct control_request *req)
{
    char *words[CONTROL_WORDS_MAX];
    size_t count = split_words(line, words, CONTROL_WORDS_MAX);
    const char *cmd = count ? words[0] : "";
    bool json = count == 2 && strcmp(words[1], "json") == 0;

    *req = (struct control_request){.cmd = CONTROL_BAD};
    if (strcmp(cmd, "accept") == 0) {
        req->changes = true;
        if (count < 2 || count > 3 || !words[1][0] || (count == 3 && !words[2][0])) {
            req->error = "error bad request: accept JID [NETWORK]\n";
        } else {
            req->cmd = CONTROL_ACCEPT;
            req->arg = words[1];
            req->arg2 = count == 3 ? words[2] : NULL;
        }
    } else if (strcmp(cmd, "network-changed") == 0) {
        req->changes = true;
        if (count > 2 || (count == 2 && !words[1][0])) {
            req->error = "error bad request: network-changed [NETWORK]\n";
        } else {
            req->cmd = CONTROL_CHANGED;
            req->arg = count == 2 ? words[1] : NULL;
        }
    } else if (strcmp(cmd, "metrics") == 0) {
        req->cmd = count == 1 ? CONTROL_METRICS : CONTROL_BAD;
        req->error = count == 1 ? NULL : "error bad request: metrics\n";
    } else if (strcmp(cmd, "friend") == 0) {
        friend_parse(words, count, req);
    } else if (count > 2 || (count == 2 && !json)) {
        req->error = "error bad request\n";
    } else if (strcmp(cmd, "status") == 0 || strcmp(cmd, "peers") == 0) {
        req->cmd = cmd[0] == 's' ? CONTROL_STATUS : CONTROL_PEERS;
        req->json = json;
    } else {
        req->error = "error unknown request\n";
    }
}
