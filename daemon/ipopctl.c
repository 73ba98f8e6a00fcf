/* SPDX-License-Identifier: MIT */
/*
 * ipopctl: asks a running ipopd over its control socket.
 *
 *   ipopctl [--control PATH] status|peers [--json]
 *   ipopctl [--control PATH] metrics
 *   ipopctl [--control PATH] accept JID [--network NAME]
 *   ipopctl [--control PATH] network-changed [--network NAME]
 *   ipopctl [--control PATH] friend add|remove|accept JID [--network NAME]
 *   ipopctl [--control PATH] friend list [--network NAME]
 *
 * The protocol (daemon/control.c, answer()): one request line, "status [json]",
 * "peers [json]", "metrics", "accept JID [NETWORK]", "network-changed [NETWORK]",
 * "friend add|remove|accept JID [NETWORK]" or "friend list [NETWORK]";
 * the daemon answers "ok" and the body, or "error TEXT", and closes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include <ipop/ipop-version.h>

#define DEFAULT_CONTROL "/run/ipopd/ipopd.sock"
#define TIMEOUT_MS 5000
/* Exit statuses (ipopctl.8): status also tells how the networks are. */
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_NOT_RUNNING 3   /* status: a network is not running */
#define EXIT_SIGNALLING 4    /* status: a network's signalling is not up */
/* ipopd reads at most 256 bytes of request. */
#define WORD_MAX 200

static void usage(FILE *f)
{
    fprintf(f, "usage: ipopctl [--control PATH] status|peers [--json]\n"
               "       ipopctl [--control PATH] metrics\n"
               "       ipopctl [--control PATH] accept JID [--network NAME]\n"
               "       ipopctl [--control PATH] network-changed [--network NAME]\n"
               "       ipopctl [--control PATH] friend add|remove|accept JID [--network NAME]\n"
               "       ipopctl [--control PATH] friend list [--network NAME]\n"
               "       ipopctl --version\n"
               "accept: SocialVPN friend JID runs a node with a new identity; link with it again.\n"
               "friend: SocialVPN friends over ipopd's own XMPP session: ask, end, accept a request, list.\n"
               "network-changed: the host moved to another network; links start ICE again now.\n"
               "metrics: the counters in the Prometheus text format, as metrics.listen serves them.\n"
               "status (without --json) exits 0 when every network runs with its signalling up,\n"
               "3 when one is not running, 4 when one's signalling is not up; 1 on any other\n"
               "error, 2 on bad usage.\n"
               "The control socket is PATH, else $IPOPD_CONTROL, else " DEFAULT_CONTROL ".\n");
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A word of the protocol: printable, no space, not too long. */
static bool valid_word(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > WORD_MAX)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return false;
    return true;
}

/* Waits for fd to be ready for `events` until `deadline`; false on timeout. */
static bool wait_fd(int fd, short events, long long deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        long long left = deadline - now_ms();
        int r;

        if (left <= 0)
            return false;
        r = poll(&p, 1, (int)left);
        if (r > 0)
            return true;
        if (r < 0 && errno != EINTR)
            return false;
    }
}

/* A --json answer must be one JSON object: a script reading ipopctl's
 * output gets a document that parses, or an error and exit status 1. */
static bool valid_json(const char *body)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    JsonNode *root;

    if (!json_parser_load_from_data(parser, body, -1, &error)) {
        fprintf(stderr, "ipopctl: ipopd answered JSON that does not parse: %s\n", error->message);
        return false;
    }
    root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        fprintf(stderr, "ipopctl: ipopd answered JSON that is not an object\n");
        return false;
    }
    return true;
}

/* The exit status `status` tells from its JSON answer: 3 when a network
 * is not running, else 4 when one's signalling is not up, else 0. */
static int status_exit(const char *body)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonArray *nets;
    int worst = 0;

    if (!json_parser_load_from_data(parser, body, -1, NULL) || !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
        return EXIT_FAIL;
    nets = json_object_get_array_member(json_node_get_object(json_parser_get_root(parser)), "networks");
    for (guint i = 0; nets && i < json_array_get_length(nets); i++) {
        JsonObject *n = json_array_get_object_element(nets, i);
        JsonNode *sig = n ? json_object_get_member(n, "signalling") : NULL;

        if (!n || !json_object_get_boolean_member_with_default(n, "running", FALSE))
            return EXIT_NOT_RUNNING;
        if (sig && JSON_NODE_HOLDS_OBJECT(sig) &&
            g_strcmp0(json_object_get_string_member_with_default(json_node_get_object(sig), "state", ""), "up"))
            worst = EXIT_SIGNALLING;
    }
    return worst;
}

/* Sends the request, reads the whole answer into *ret (NUL-terminated). */
static int ask(const char *path, const char *request, char **ret)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    long long deadline = now_ms() + TIMEOUT_MS;
    size_t len = 0, cap = 4096, sent = 0, rlen = strlen(request);
    char *buf = NULL;
    int fd, err = 0;

    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        err = -errno;
        goto out;
    }
    while (sent < rlen) {
        ssize_t n = send(fd, request + sent, rlen - sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            err = -errno;
            goto out;
        }
        if (n > 0)
            sent += (size_t)n;
        else if (!wait_fd(fd, POLLOUT, deadline)) {
            err = -ETIMEDOUT;
            goto out;
        }
    }
    buf = malloc(cap);
    for (;;) {
        ssize_t n;

        if (!buf) {
            err = -ENOMEM;
            goto out;
        }
        if (len + 1 >= cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                err = -ENOMEM;
                goto out;
            }
            buf = bigger;
            cap *= 2;
        }
        n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n == 0)
            break;
        if (n > 0) {
            len += (size_t)n;
            continue;
        }
        if (errno != EAGAIN && errno != EINTR) {
            err = -errno;
            goto out;
        }
        if (!wait_fd(fd, POLLIN, deadline)) {
            err = -ETIMEDOUT;
            goto out;
        }
    }
    buf[len] = '\0';
    *ret = buf;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return err;
}

/* "friend VERB [JID]" into request; 0, or the exit status of a usage error. */
static int friend_request(int argc, char **argv, const char *network, bool json, char *request, size_t size)
{
    const char *verb = argc > 0 ? argv[0] : "";
    bool list = strcmp(verb, "list") == 0;
    bool with_jid = !strcmp(verb, "add") || !strcmp(verb, "remove") || !strcmp(verb, "accept");

    if (json || (!list && !with_jid) || argc != (list ? 1 : 2)) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if ((with_jid && !valid_word(argv[1])) || (network && !valid_word(network))) {
        fprintf(stderr, "ipopctl: friend: a JID or network name with a space or control character, "
                        "empty, or longer than %d bytes\n", WORD_MAX);
        return EXIT_USAGE;
    }
    snprintf(request, size, "friend %s%s%s%s%s\n", verb, with_jid ? " " : "", with_jid ? argv[1] : "",
             network ? " " : "", network ? network : "");
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"control", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"network", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *network = NULL, *cmd;
    char request[2 * WORD_MAX + 32], *reply = NULL, *body;
    bool json = false;
    int opt, r, status = 0;

    while ((opt = getopt_long(argc, argv, "c:jn:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'j': json = true; break;
        case 'n': network = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("ipopctl %s\n", IPOP_VERSION); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    cmd = argv[optind];
    if (strcmp(cmd, "accept") == 0) {
        if (optind + 2 != argc || json) {
            usage(stderr);
            return EXIT_USAGE;
        }
        if (!valid_word(argv[optind + 1]) || (network && !valid_word(network))) {
            fprintf(stderr, "ipopctl: accept: a JID or network name with a space or control character, "
                            "empty, or longer than %d bytes\n", WORD_MAX);
            return EXIT_USAGE;
        }
        snprintf(request, sizeof(request), "accept %s%s%s\n", argv[optind + 1], network ? " " : "",
                 network ? network : "");
    } else if (strcmp(cmd, "network-changed") == 0) {
        if (optind + 1 != argc || json) {
            usage(stderr);
            return EXIT_USAGE;
        }
        if (network && !valid_word(network)) {
            fprintf(stderr, "ipopctl: network-changed: a network name with a space or control character, "
                            "empty, or longer than %d bytes\n", WORD_MAX);
            return EXIT_USAGE;
        }
        snprintf(request, sizeof(request), "network-changed%s%s\n", network ? " " : "", network ? network : "");
    } else if (strcmp(cmd, "metrics") == 0 && optind + 1 == argc && !network && !json) {
        snprintf(request, sizeof(request), "metrics\n");
    } else if (strcmp(cmd, "friend") == 0) {
        r = friend_request(argc - optind - 1, argv + optind + 1, network, json, request, sizeof(request));
        if (r)
            return r;
    } else if ((strcmp(cmd, "status") == 0 || strcmp(cmd, "peers") == 0) && optind + 1 == argc && !network) {
        snprintf(request, sizeof(request), "%s%s\n", cmd, json ? " json" : "");
    } else {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!path)
        path = getenv("IPOPD_CONTROL") && *getenv("IPOPD_CONTROL") ? getenv("IPOPD_CONTROL") : DEFAULT_CONTROL;
    r = ask(path, request, &reply);
    if (r < 0) {
        fprintf(stderr, "ipopctl: %s: %s%s\n", path, strerror(-r),
                r == -ENOENT || r == -ECONNREFUSED ? " (is ipopd running? see --control)"
                : r == -EACCES || r == -EPERM ? " (the control socket is for root and ipopd's user: run ipopctl "
                                               "as one of them, or give ipopd's --control a path you may use)"
                : "");
        return EXIT_FAIL;
    }
    /* status: how the networks are, from the JSON form, in the exit status
     * (with --json, the document says it and scripts read it: exit 0) */
    if (strcmp(cmd, "status") == 0 && !json) {
        char *jreply = NULL;
        if (ask(path, "status json\n", &jreply) == 0 && strncmp(jreply, "ok\n", 3) == 0) {
            status = status_exit(jreply + 3);
        } else {
            status = EXIT_FAIL;
        }
        free(jreply);
    }
    body = strchr(reply, '\n');
    if (strncmp(reply, "ok\n", 3) != 0) {
        if (body)
            *body = '\0';
        fprintf(stderr, "ipopctl: ipopd answered: %s\n",
                strncmp(reply, "error ", 6) == 0 ? reply + 6 : "something unexpected");
        free(reply);
        return EXIT_FAIL;
    }
    if (json && !valid_json(body + 1)) {
        free(reply);
        return EXIT_FAIL;
    }
    fputs(body + 1, stdout);
    free(reply);
    return fflush(stdout) == 0 ? status : EXIT_FAIL;
}
