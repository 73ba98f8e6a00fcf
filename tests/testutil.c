/* SPDX-License-Identifier: MIT */
#include "testutil.h"

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
