/* SPDX-License-Identifier: MIT */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
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

int test_drop_root(void)
{
    struct passwd *pw = getpwnam("nobody");

    if (!pw)
        return -ENOENT;
    if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
        return -errno;
    return 0;
}

int test_time_factor(void)
{
    const char *env = getenv("IPOP_TEST_TIME_FACTOR");
    int f = env ? atoi(env) : 1;

    return f >= 1 && f <= 100 ? f : 1;
}

bool test_wait(bool (*cond)(void *data), void *data, int ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * test_time_factor() * 1000;

    while (!cond(data)) {
        if (g_get_monotonic_time() >= end)
            return cond(data);
        g_usleep(10000);
    }
    return true;
}

int test_silent_udp(int *port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        int r = -errno;

        close(fd);
        return r;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

int test_tcp_established(int port)
{
    char line[512];
    int n = 0;
    FILE *f = fopen("/proc/net/tcp", "r");

    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        unsigned lport, rport, state;

        if (sscanf(line, " %*d: %*x:%x %*x:%x %x", &lport, &rport, &state) == 3 && state == 1 &&
            (int)rport == port)
            n++;
    }
    fclose(f);
    return n;
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

