/* SPDX-License-Identifier: MIT */
/* Signed signalling for a network (see sigauth.h).  Sealing runs wherever
 * the network sends (its loop thread); opening wherever the host or a pump
 * delivers (any thread): the replay state has a lock of its own. */
#include "sigauth.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <string.h>

#include "identity.h"
#include "log.h"
#include "loop.h"
#include "message.h"
#include "msgauth.h"
#include "network.h"

#define PEERS_PRUNE 1024         /* peers remembered before the idle ones are let go */
#define PEERS_MAX 8192           /* peers remembered at most */
#define LOG_PERIOD_US (10 * G_USEC_PER_SEC)
#define LOG_BURST 10             /* refusals logged per period */

struct ipop__sigauth {
    char *scope;
    uint8_t pk[IPOP__AUTH_PK_MAX];
    size_t pk_len;
    GMutex lock;                 /* guards what follows */
    GHashTable *peers;           /* node id -> ipop__replay */
    gint64 log_since;            /* start of the logging period (monotonic) */
    unsigned logged, unlogged;   /* refusals logged and not logged in it */
};

char *ipop__sigauth_scope(ipop_network_t *net)
{
    if (net->overlay == OVERLAY_GROUP)
        return g_strconcat("group:", net->group_room ? net->group_room : "", NULL);
    if (net->overlay == OVERLAY_SOCIAL)
        return g_strdup("social");
    return g_strconcat("host:", net->signal_scope ? net->signal_scope : "", NULL);
}

void ipop__sigauth_free(ipop__sigauth *sa)
{
    if (!sa)
        return;
    g_hash_table_unref(sa->peers);
    g_mutex_clear(&sa->lock);
    g_free(sa->scope);
    g_free(sa);
}

int ipop__sigauth_start(ipop_network_t *net)
{
    ipop__sigauth *sa, *old = net->sigauth;
    int r;

    sa = g_new0(ipop__sigauth, 1);
    sa->scope = ipop__sigauth_scope(net);
    sa->pk_len = sizeof(sa->pk);
    r = ipop__identity_public_key(net->id, sa->pk, &sa->pk_len);
    if (r < 0 || strlen(sa->scope) > IPOP__AUTH_SCOPE_MAX) {
        g_free(sa->scope);
        g_free(sa);
        return r < 0 ? r : -EINVAL;
    }
    if (old && !strcmp(old->scope, sa->scope) && old->pk_len == sa->pk_len && !memcmp(old->pk, sa->pk, sa->pk_len)) {
        g_free(sa->scope);
        g_free(sa);
        return 0; /* the same key and scope: what was seen stays seen */
    }
    g_mutex_init(&sa->lock);
    sa->peers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    net->sigauth = sa;
    ipop__sigauth_free(old);
    return 0;
}

static uint64_t now_ms(void)
{
    return (uint64_t)(g_get_real_time() / 1000);
}

int ipop__sigauth_seal(ipop_network_t *net, const char *peer, char *buf, size_t len, size_t size)
{
    ipop__sigauth *sa = net->sigauth;
    ipop__auth a = { 0 };
    uint8_t *input;
    int n, r;

    if (!sa || !ipop__node_id_valid(peer))
        return -EINVAL;
    memcpy(a.to, peer, IPOP__NODE_ID_LEN);
    a.ts_ms = now_ms();
    if (gnutls_rnd(GNUTLS_RND_NONCE, a.nonce, sizeof(a.nonce)) < 0)
        return -EIO;
    memcpy(a.pk, sa->pk, sa->pk_len);
    a.pk_len = sa->pk_len;
    input = g_malloc(IPOP__AUTH_INPUT_MAX);
    n = ipop__auth_sign_input(input, IPOP__AUTH_INPUT_MAX, sa->scope, net->node_id, &a, buf, len);
    r = n < 0 ? n : ipop__identity_sign(net->id, input, (size_t)n, a.sig);
    g_free(input);
    return r < 0 ? r : ipop__auth_encode(&a, buf, len, buf, size);
}

void ipop__sigauth_send(ipop_network_t *net, const char *peer, const ipop__msg *m)
{
    char *buf = g_malloc(IPOP__SIGNAL_MAX + 1);
    int n = ipop__msg_encode(m, buf, IPOP__SIGNAL_MAX + 1);

    if (n >= 0)
        n = ipop__sigauth_seal(net, peer, buf, (size_t)n, IPOP__SIGNAL_MAX + 1); /* signed for peer */
    if (n < 0)
        ipop__err(net, "cannot encode a %s message: %s", ipop__msg_type_str(m->type), ipop_strerror(n));
    else
        ipop__net_signal_out(net, peer, buf);
    g_free(buf);
}

/* Counted, reported, and logged unless many were logged lately: a flood
 * of forged messages must not become a flood of log lines. */
static int refuse(ipop_network_t *net, const char *from, ipop_event_type_t type, ipop_reason_t reason, int err,
                  const char *what)
{
    ipop__sigauth *sa = net->sigauth;
    gint64 now = g_get_monotonic_time();
    unsigned quiet = 0;
    bool log = true;
    char detail[160];

    snprintf(detail, sizeof(detail), "signalling message from %.16s refused: %s", from, what);
    __atomic_fetch_add(&net->bad_messages, 1, __ATOMIC_RELAXED);
    if (sa) {
        g_mutex_lock(&sa->lock);
        if (now - sa->log_since >= LOG_PERIOD_US) {
            quiet = sa->unlogged;
            sa->log_since = now;
            sa->logged = sa->unlogged = 0;
        }
        log = sa->logged < LOG_BURST;
        if (log)
            sa->logged++;
        else
            sa->unlogged++;
        g_mutex_unlock(&sa->lock);
    }
    if (quiet)
        ipop__warn(net, "%u more signalling messages refused and not logged", quiet);
    if (log)
        ipop__warn(net, "%s", detail);
    ipop__net_emit_simple(net, type, from, NULL, reason, err, detail);
    return err;
}

static int refuse_bad(ipop_network_t *net, const char *from, int err, const char *what)
{
    return refuse(net, from, IPOP_EVENT_BAD_MESSAGE, IPOP_REASON_BAD_MESSAGE, err, what);
}

static int refuse_auth(ipop_network_t *net, const char *from, int err, const char *what)
{
    return refuse(net, from, IPOP_EVENT_BAD_MESSAGE, IPOP_REASON_NOT_AUTHENTICATED, err, what);
}

/* Lets go of peers not heard from within the window: everything they sent
 * is out of it, so nothing they sent can be accepted again.  Under lock. */
static void prune(ipop__sigauth *sa, uint64_t now)
{
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, sa->peers);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (((ipop__replay *)v)->newest_ms + IPOP__AUTH_SKEW_MS < now)
            g_hash_table_iter_remove(&it);
}

/* 0 and remembered, or -ESTALE (-EALREADY: replayed), or -ENOBUFS. */
static int replay_record(ipop__sigauth *sa, const char *from, const ipop__auth *a, uint64_t now, bool commit)
{
    ipop__replay *w;
    int r;

    g_mutex_lock(&sa->lock);
    w = g_hash_table_lookup(sa->peers, from);
    r = w ? ipop__replay_check(w, a->ts_ms, a->nonce) : 0;
    if (r == 0 && commit) {
        if (!w && g_hash_table_size(sa->peers) >= PEERS_PRUNE)
            prune(sa, now);
        if (!w && g_hash_table_size(sa->peers) >= PEERS_MAX) {
            r = -ENOBUFS; /* refuse rather than forget what was seen */
        } else {
            if (!w) {
                w = g_new0(ipop__replay, 1);
                g_hash_table_insert(sa->peers, g_strdup(from), w);
            }
            ipop__replay_add(w, now, a->ts_ms, a->nonce);
        }
    }
    g_mutex_unlock(&sa->lock);
    return r;
}

static const char *replay_text(int r)
{
    return r == -EALREADY ? "replayed" : r == -ENOBUFS ? "too many peers to remember" : "older than one already seen";
}

/* The envelope: for this node, in time, not seen, signed by `from`. */
static int verify(ipop_network_t *net, const char *from, const ipop__auth *a, const char *body, size_t body_len,
                  uint64_t now)
{
    ipop__sigauth *sa = net->sigauth;
    uint8_t *input;
    int n, r;

    r = ipop__auth_check(a, net->node_id, now);
    if (r == -EBADMSG)
        return refuse_auth(net, from, r, "signed for another node");
    if (r < 0)
        return refuse_auth(net, from, r, "its time is more than 5 minutes from ours (replayed, or a clock is wrong)");
    r = replay_record(sa, from, a, now, false); /* cheap, before the costly check */
    if (r < 0)
        return refuse_auth(net, from, -ESTALE, replay_text(r));
    input = g_malloc(IPOP__AUTH_INPUT_MAX);
    n = ipop__auth_sign_input(input, IPOP__AUTH_INPUT_MAX, sa->scope, from, a, body, body_len);
    r = n < 0 ? n : ipop__identity_verify(from, a->pk, a->pk_len, input, (size_t)n, a->sig);
    g_free(input);
    if (r < 0)
        return refuse_auth(net, from, -EBADMSG, "bad signature (another key, node or scope)");
    return 0;
}

int ipop__sigauth_open(ipop_network_t *net, const char *from, const char *message, bool allowed, ipop__msg *m)
{
    size_t len = strnlen(message, IPOP__SIGNAL_MAX + 1), body_len = 0;
    uint64_t now = now_ms();
    ipop__auth a;
    int r;

    if (!net->sigauth)
        return refuse_bad(net, from, -ENOTCONN, "not started");
    r = len > IPOP__SIGNAL_MAX ? -EMSGSIZE : ipop__auth_decode(&a, message, len, &body_len);
    if (r == -EBADMSG)
        return refuse_auth(net, from, r, "not signed");
    if (r < 0)
        return refuse_bad(net, from, r,
                          r == -EPROTONOSUPPORT ? "another protocol version (version 1 is not signed)" : ipop_strerror(r));
    r = verify(net, from, &a, message, body_len, now);
    if (r < 0)
        return r;
    r = ipop__msg_decode(m, message, body_len);
    if (r == 0 && strcmp(m->node_id, from) != 0)
        r = -EINVAL;
    if (r < 0)
        return refuse_bad(net, from, r, ipop_strerror(r));
    if (!allowed)
        return refuse(net, from, IPOP_EVENT_PEER_REFUSED, IPOP_REASON_PEER_NOT_ALLOWED, -EPERM, "peer not allowed");
    /* Only now, for an allowed peer, is anything remembered. */
    r = replay_record(net->sigauth, from, &a, now, true);
    if (r < 0)
        return refuse_auth(net, from, -ESTALE, replay_text(r));
    return 0;
}

int ipop__sigauth_check(ipop_network_t *net, const char *from, const char *message, size_t *body_len)
{
    size_t len = strnlen(message, IPOP__SIGNAL_MAX + 1);
    ipop__auth a;
    int r;

    if (!net->sigauth)
        return refuse_bad(net, from, -ENOTCONN, "not started");
    r = len > IPOP__SIGNAL_MAX ? -EMSGSIZE : ipop__auth_decode(&a, message, len, body_len);
    if (r == -EBADMSG)
        return refuse_auth(net, from, r, "not signed");
    if (r < 0)
        return refuse_bad(net, from, r, ipop_strerror(r));
    /* Nothing is remembered: the message is bound to nonces of both sides,
     * and one of them is the receiver's own. */
    return verify(net, from, &a, message, *body_len, now_ms());
}
