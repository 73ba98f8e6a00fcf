/* SPDX-License-Identifier: MIT */
/* Helpers shared by the test programs. */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "ipop/ipop.h"

#define TEST_SKIP 77

/* Sends the library's log lines to stderr with a prefix (the test's own
 * output, not the library's). */
void test_log_to_stderr(ipop_log_level_t max_level);

/* Exits with 77 and a reason unless running as root. */
void test_require_root(const char *why);

/* Becomes the user nobody (groups, gid, uid): a root test that must see
 * what an unprivileged process sees.  Returns 0 or -errno. */
int test_drop_root(void);

/* How much slower than a plain build this run is: IPOP_TEST_TIME_FACTOR
 * (./run sets 3 for the ASan+UBSan run), 1 when unset.  Bounds on waits
 * are multiplied by it; bounds that assert a speed are not. */
int test_time_factor(void);

/* Polls cond(data) every 10 ms until it holds, for at most ms times
 * test_time_factor(); returns whether it held. */
bool test_wait(bool (*cond)(void *data), void *data, int ms);

/* A UDP socket bound on 127.0.0.1 that nobody reads: a server that is
 * there but silent (a closed port would answer with ICMP).  Returns the fd
 * (close it when done) and sets *port, or -errno. */
int test_silent_udp(int *port);

/* Established TCP connections (of this network namespace, IPv4) to port
 * `port`, or -errno. */
int test_tcp_established(int port);

/* A port free for both UDP and TCP on 127.0.0.1 right now, or -1. */
int test_free_port(void);

/* Fails the test with a message (no abort: a clean exit status 1). */
#define test_fail(...) do { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)
#define test_check(cond) do { if (!(cond)) test_fail("%s", #cond); } while (0)
#define test_check_int(a, op, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (!(a_ op b_)) test_fail("%s %s %s (%lld vs %lld)", #a, #op, #b, a_, b_); } while (0)
