/* SPDX-License-Identifier: MIT */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static void log_line(ipop_log_level_t level, ipop_network_t *net, const char *msg, void *ud)
{
    static const char *names[] = { [3] = "err", [4] = "warn", [5] = "notice", [6] = "info", [7] = "debug" };
    fprintf(stderr, "[ipop %s] %s\n", level >= 3 && level <= 7 ? names[level] : "?", msg);
}

void test_log_to_stderr(ipop_log_level_t max_level)
{
    const char *env = getenv("IPOP_TEST_DEBUG");
    ipop_set_log_cb(log_line, env && *env ? IPOP_LOG_DEBUG : max_level, NULL);
}

void test_require_root(const char *why)
{
    if (geteuid() != 0) {
        printf("SKIP: needs root: %s\n", why);
        exit(TEST_SKIP);
    }
}

/* A port that is free for both UDP and TCP on loopback right now. */
int test_free_port(void)
{
    for (int tries = 0; tries < 50; tries++) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof(sa);
        int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0), port = -1;
        if (bind(u, (struct sockaddr *)&sa, sizeof(sa)) == 0 && getsockname(u, (struct sockaddr *)&sa, &sl) == 0 &&
            bind(t, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            port = ntohs(sa.sin_port);
        close(u);
        close(t);
        if (port > 0)
            return port;
    }
    return -1;
}

