/* SPDX-License-Identifier: MIT */
/*
 * befriend: makes two XMPP accounts friends the way a user's chat client
 * would: a mutual presence subscription (RFC 6121), then checks that each
 * roster says "both".  For the SocialVPN namespace test.
 *
 *   befriend SERVER PORT USER1:PASS1 USER2:PASS2
 *
 * Accounts are USER@ipop.test (tests/servers/prosody.sh).  The server's
 * certificate is not checked: the test's own server, on its own network.
 * Exit status 0 when both rosters show the mutual subscription.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>
#include <time.h>

#define DOMAIN "ipop.test"

struct client {
    xmpp_ctx_t *ctx;
    xmpp_conn_t *conn;
    char user[128];
    const char *other;           /* the other account's bare JID */
    bool up, failed, mutual;
};

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pump(struct client **cs, int ms)
{
    long long end = now_ms() + ms;

    while (now_ms() < end)
        for (int i = 0; i < 2; i++)
            xmpp_run_once(cs[i]->ctx, 5);
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t ev, int err, xmpp_stream_error_t *se, void *ud)
{
    struct client *c = ud;

    (void)err;
    (void)se;
    if (ev == XMPP_CONN_CONNECT) {
        c->up = true;
        xmpp_send_raw_string(conn, "<presence/>");
    } else {
        c->failed = true;
    }
}

/* The roster answer: is the other account there with subscription both? */
static int on_roster(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    struct client *c = ud;
    xmpp_stanza_t *q = xmpp_stanza_get_child_by_name(st, "query");

    (void)conn;
    for (xmpp_stanza_t *it = q ? xmpp_stanza_get_children(q) : NULL; it; it = xmpp_stanza_get_next(it)) {
        const char *jid = xmpp_stanza_get_attribute(it, "jid");
        const char *sub = xmpp_stanza_get_attribute(it, "subscription");
        if (jid && sub && strcmp(jid, c->other) == 0 && strcmp(sub, "both") == 0)
            c->mutual = true;
    }
    return 0;
}

static bool client_open(struct client *c, const char *userpass, const char *other, const char *server,
                        unsigned short port)
{
    const char *colon = strchr(userpass, ':');
    char jid[192];

    if (!colon || colon == userpass || (size_t)(colon - userpass) >= sizeof(c->user))
        return false;
    memcpy(c->user, userpass, (size_t)(colon - userpass));
    c->other = other;
    snprintf(jid, sizeof(jid), "%s@" DOMAIN "/befriend", c->user);
    c->ctx = xmpp_ctx_new(NULL, NULL);
    c->conn = xmpp_conn_new(c->ctx);
    xmpp_conn_set_jid(c->conn, jid);
    xmpp_conn_set_pass(c->conn, colon + 1);
    xmpp_conn_set_flags(c->conn, XMPP_CONN_FLAG_TRUST_TLS);
    if (xmpp_connect_client(c->conn, server, port, on_conn, c) != XMPP_EOK)
        return false;
    for (int i = 0; i < 1000 && !c->up && !c->failed; i++)
        xmpp_run_once(c->ctx, 10);
    if (!c->up)
        fprintf(stderr, "befriend: %s cannot log in at %s:%u\n", jid, server, port);
    return c->up;
}

static void client_close(struct client *c)
{
    if (!c->ctx)
        return;
    if (c->up) {
        xmpp_disconnect(c->conn);
        for (int i = 0; i < 20; i++)
            xmpp_run_once(c->ctx, 10);
    }
    xmpp_conn_release(c->conn);
    xmpp_ctx_free(c->ctx);
}

static void ask_roster(struct client *c)
{
    xmpp_id_handler_add(c->conn, on_roster, "roster", c);
    xmpp_send_raw_string(c->conn, "<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>");
}

int main(int argc, char **argv)
{
    struct client a = {0}, b = {0}, *both[] = {&a, &b};
    char jid_a[192], jid_b[192];
    int status = 1;

    if (argc != 5 || !strchr(argv[3], ':') || !strchr(argv[4], ':')) {
        fprintf(stderr, "usage: befriend SERVER PORT USER1:PASS1 USER2:PASS2\n");
        return 2;
    }
    snprintf(jid_a, sizeof(jid_a), "%.*s@" DOMAIN, (int)strcspn(argv[3], ":"), argv[3]);
    snprintf(jid_b, sizeof(jid_b), "%.*s@" DOMAIN, (int)strcspn(argv[4], ":"), argv[4]);
    xmpp_initialize();
    if (!client_open(&a, argv[3], jid_b, argv[1], (unsigned short)atoi(argv[2])) ||
        !client_open(&b, argv[4], jid_a, argv[1], (unsigned short)atoi(argv[2])))
        goto out;
    /* Each step waits for the server to pass the last one on. */
    xmpp_send_raw_string(a.conn, "<presence to='%s' type='subscribe'/>", jid_b);
    pump(both, 300);
    xmpp_send_raw_string(b.conn, "<presence to='%s' type='subscribed'/>", jid_a);
    xmpp_send_raw_string(b.conn, "<presence to='%s' type='subscribe'/>", jid_a);
    pump(both, 300);
    xmpp_send_raw_string(a.conn, "<presence to='%s' type='subscribed'/>", jid_b);
    pump(both, 300);
    for (int i = 0; i < 10 && !(a.mutual && b.mutual); i++) {
        ask_roster(&a);
        ask_roster(&b);
        pump(both, 300);
    }
    if (a.mutual && b.mutual)
        status = 0;
    else
        fprintf(stderr, "befriend: no mutual subscription between %s and %s (%s sees it: %s, %s: %s)\n", jid_a,
                jid_b, jid_a, a.mutual ? "yes" : "no", jid_b, b.mutual ? "yes" : "no");
out:
    client_close(&a);
    client_close(&b);
    xmpp_shutdown();
    return status;
}
