/* SPDX-License-Identifier: MIT */
/* Two networks in one process, linked through the real stack, with
 * signalling delivered in memory: the harness of the link tests. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "ipop/ipop.h"

#define N_PACKETS 10000
#define WINDOW 64

typedef struct node {
    ipop_network_t *net;
    struct node *peer;
    const char *addr4, *addr6;
    GMutex lock;
    GCond cond;
    int state;                    /* last link state seen in an event */
    ipop_reason_t reason;         /* its reason */
    guint state_reasons;          /* 1 << reason of every link state event seen */
    guint failures;               /* link state events to FAILED */
    int refused;                  /* IPOP_EVENT_PEER_REFUSED seen */
    guint refused_reasons;        /* 1 << reason of each refusal */
    int bad_messages;
    guint received;               /* packets that arrived intact */
    guint corrupt;
    guint dups;                   /* intact packets that arrived a second time */
    guint bad_headers;            /* intact payload under an IP header other than the one sent */
    int expect_family;            /* set by blast(): the header every packet must carry */
    const char *expect_src, *expect_dst;
    guint8 *seen;                 /* per sequence number */
    bool forge_fp;                /* corrupt the fingerprint in our outgoing messages */
    bool mute;                    /* hold our outgoing messages back */
    GPtrArray *held;              /* messages held back while muted */
    int signal_errors;
    guint answers_sent;           /* answers delivered to the peer (not held) */
    guint8 last[1600];            /* the last packet that arrived */
    size_t last_len;
    guint window;                 /* packets in flight in blast() to this node; 0: WINDOW */
} node;

void node_init(node *n, const char *name, const char *a4, const char *a6, const char *extra_key,
               const char *extra_val);
void node_clear(node *n);
void pair_start(node *a, node *b);
/* Waits until the node's last link event has `state`, at most `seconds`
 * times test_time_factor(); false after that. */
bool wait_state(node *n, int state, int seconds);
void connect_pair(node *a, node *b);
/* Sends N_PACKETS (len 0: sizes 64..IPOP_DEFAULT_MTU) and asserts all arrive intact,
 * each once, under the IP header they were sent with. */
void blast(node *from, node *to, int family, size_t len);
size_t build_packet(guint8 *buf, int family, const char *src, const char *dst, guint32 seq, size_t len);
void set_mute(node *n, bool mute);
/* A GSourceFunc that blocks the loop it runs on for GPOINTER_TO_UINT(data)
 * milliseconds: the node stays silent, nothing it gets is answered.  For
 * g_main_context_invoke() on a network's context. */
gboolean stall_loop(gpointer data);
/* Whether a link of node n (a node *) was reported path-lost; for
 * test_wait(). */
bool path_lost_seen(void *n);
void release_held(node *n);
