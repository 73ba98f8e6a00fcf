/* SPDX-License-Identifier: MIT */
/* ipopd's framing (daemon/parse.c): the signalling datagram, the control
 * socket's request line and its words, as ipopctl and a stranger send them. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "parse.h"

static int split(const char *datagram, size_t len, char **sender, char **message, char *buf)
{
    memcpy(buf, datagram, len);
    buf[len] = '\0';
    return sig_datagram_split(buf, len, sender, message);
}

static void test_datagram(void)
{
    char buf[64], *sender = NULL, *message = NULL;

    g_assert_cmpint(split("abc offer x y", 13, &sender, &message, buf), ==, 0);
    g_assert_cmpstr(sender, ==, "abc");
    g_assert_cmpstr(message, ==, "offer x y");
    /* An empty message is the library's to refuse. */
    g_assert_cmpint(split("abc ", 4, &sender, &message, buf), ==, 0);
    g_assert_cmpstr(message, ==, "");
    /* No sender, no space, a NUL inside: dropped, buf unchanged. */
    g_assert_cmpint(split(" offer", 6, &sender, &message, buf), ==, -EINVAL);
    g_assert_cmpint(split("abcoffer", 8, &sender, &message, buf), ==, -EINVAL);
    g_assert_cmpint(split("abc\0 offer", 10, &sender, &message, buf), ==, -EINVAL);
    g_assert_cmpint(split("abc offer\0x", 11, &sender, &message, buf), ==, -EINVAL);
    g_assert_cmpint(memcmp(buf, "abc offer\0x", 11), ==, 0);
    g_assert_cmpint(split("", 0, &sender, &message, buf), ==, -EINVAL);
}

static void test_line(void)
{
    char in[8];

    strcpy(in, "stat");
    g_assert_cmpint(control_line(in, 4, sizeof(in)), ==, 0);
    strcpy(in, "status\n");
    g_assert_cmpint(control_line(in, 7, sizeof(in)), ==, 1);
    g_assert_cmpstr(in, ==, "status");
    strcpy(in, "peers\r\n");
    g_assert_cmpint(control_line(in, 7, sizeof(in)), ==, 1);
    g_assert_cmpstr(in, ==, "peers");
    strcpy(in, "\r\n");
    g_assert_cmpint(control_line(in, 2, sizeof(in)), ==, 1);
    g_assert_cmpstr(in, ==, "");
    /* Full without a newline: too long. */
    strcpy(in, "statusx");
    g_assert_cmpint(control_line(in, 7, sizeof(in)), ==, -EMSGSIZE);
    /* A NUL hides what follows: it waits, then is too long. */
    memcpy(in, "st\0\n", 5);
    g_assert_cmpint(control_line(in, 4, sizeof(in)), ==, 0);
}

static struct control_request parse(const char *line)
{
    static char buf[256];
    struct control_request req;

    g_strlcpy(buf, line, sizeof(buf));
    control_parse(buf, &req);
    return req;
}

static void test_request(void)
{
    struct control_request r;

    r = parse("status");
    g_assert_cmpint(r.cmd, ==, CONTROL_STATUS);
    g_assert_false(r.json);
    g_assert_false(r.changes);
    r = parse("status json");
    g_assert_cmpint(r.cmd, ==, CONTROL_STATUS);
    g_assert_true(r.json);
    r = parse("peers json");
    g_assert_cmpint(r.cmd, ==, CONTROL_PEERS);
    g_assert_true(r.json);
    r = parse("peers");
    g_assert_cmpint(r.cmd, ==, CONTROL_PEERS);

    r = parse("metrics");
    g_assert_cmpint(r.cmd, ==, CONTROL_METRICS);
    g_assert_false(r.changes);
    g_assert_cmpstr(parse("metrics json").error, ==, "error bad request: metrics\n");
    g_assert_cmpstr(parse("metrics ").error, ==, "error bad request: metrics\n");

    r = parse("accept bob@example.org");
    g_assert_cmpint(r.cmd, ==, CONTROL_ACCEPT);
    g_assert_true(r.changes);
    g_assert_cmpstr(r.arg, ==, "bob@example.org");
    g_assert_null(r.arg2);
    r = parse("accept bob@example.org home");
    g_assert_cmpint(r.cmd, ==, CONTROL_ACCEPT);
    g_assert_cmpstr(r.arg2, ==, "home");
    r = parse("network-changed");
    g_assert_cmpint(r.cmd, ==, CONTROL_CHANGED);
    g_assert_true(r.changes);
    g_assert_null(r.arg);
    r = parse("network-changed home");
    g_assert_cmpstr(r.arg, ==, "home");

    r = parse("friend add bob@example.org");
    g_assert_cmpint(r.cmd, ==, CONTROL_FRIEND);
    g_assert_true(r.changes);
    g_assert_cmpstr(r.verb, ==, "add");
    g_assert_cmpstr(r.arg, ==, "bob@example.org");
    g_assert_null(r.arg2);
    r = parse("friend accept bob@example.org home");
    g_assert_cmpstr(r.verb, ==, "accept");
    g_assert_cmpstr(r.arg2, ==, "home");
    r = parse("friend list");
    g_assert_cmpint(r.cmd, ==, CONTROL_FRIEND);
    g_assert_true(r.changes); /* contacts are private */
    g_assert_null(r.arg);
    g_assert_cmpstr(parse("friend list home").arg2, ==, "home");
    g_assert_cmpint(parse("friend").cmd, ==, CONTROL_BAD);
    g_assert_cmpint(parse("friend add").cmd, ==, CONTROL_BAD);
    g_assert_cmpint(parse("friend list a b").cmd, ==, CONTROL_BAD);
    g_assert_cmpint(parse("friend add a b c").cmd, ==, CONTROL_BAD);
    g_assert_cmpint(parse("friend befriend bob").cmd, ==, CONTROL_BAD);
    g_assert_true(parse("friend befriend bob").changes);

    /* Malformed requests to change something still count as such: a
     * stranger gets "not permitted", never a hint about the syntax. */
    r = parse("accept");
    g_assert_cmpint(r.cmd, ==, CONTROL_BAD);
    g_assert_true(r.changes);
    g_assert_cmpstr(r.error, ==, "error bad request: accept JID [NETWORK]\n");
    g_assert_cmpint(parse("accept  home").cmd, ==, CONTROL_BAD);
    g_assert_cmpint(parse("accept bob ").cmd, ==, CONTROL_BAD);
    g_assert_cmpint(parse("accept a b c").cmd, ==, CONTROL_BAD);
    g_assert_cmpint(parse("accept a b c d e").cmd, ==, CONTROL_BAD);
    r = parse("network-changed a b");
    g_assert_cmpstr(r.error, ==, "error bad request: network-changed [NETWORK]\n");
    g_assert_cmpint(parse("network-changed ").cmd, ==, CONTROL_BAD);
    g_assert_false(parse("accepted x").changes);

    g_assert_cmpstr(parse("status xml").error, ==, "error bad request\n");
    g_assert_cmpstr(parse("status json x").error, ==, "error bad request\n");
    g_assert_cmpstr(parse("status ").error, ==, "error bad request\n");
    g_assert_cmpstr(parse(" ").error, ==, "error bad request\n");
    g_assert_cmpstr(parse("").error, ==, "error unknown request\n");
    g_assert_cmpstr(parse("stop").error, ==, "error unknown request\n");
    g_assert_cmpstr(parse("STATUS").error, ==, "error unknown request\n");
    g_assert_cmpstr(parse("json").error, ==, "error unknown request\n");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/ipopd/parse/datagram", test_datagram);
    g_test_add_func("/ipopd/parse/line", test_line);
    g_test_add_func("/ipopd/parse/request", test_request);
    return g_test_run();
}
