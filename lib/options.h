/* SPDX-License-Identifier: MIT */
/* The network's options (options.c): one table of keys, each with its
 * parser, and the check of the whole configuration that start runs. */
#pragma once

#include <agent.h>
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "ipop/ipop.h"

typedef enum { MODE_NONE, MODE_TUN, MODE_TAP } net_mode;
enum { OVERLAY_NONE, OVERLAY_GROUP, OVERLAY_SOCIAL };

typedef struct relay_server {
    char *host;
    guint port;
    char *user, *pass;
    NiceRelayType type;
    char ip[64]; /* resolved at start */
} relay_server;

enum { STUN_UNKNOWN, STUN_ALIVE, STUN_DEAD };

typedef struct stun_server {
    char *host;
    guint port;
    char ip[64];                /* resolved at start; "" when it did not resolve */
    /* probing (loop thread): which servers answer */
    int state;                  /* STUN_* */
    bool pending;               /* a probe is out */
    uint8_t txid[16];           /* its transaction id (cookie included: libnice's StunTransactionId) */
    gint64 sent_at;
    guint rtt_ms;
} stun_server;

/* With the network: the defaults.  When it is freed: the values (secrets
 * wiped). */
void ipop__options_init(ipop_network_t *net);
void ipop__options_free(ipop_network_t *net);
/* The whole configuration, as ipop_network_check() checks it; logs the
 * reason too.  0 or -EINVAL. */
int ipop__options_check(ipop_network_t *net, char *why, size_t why_size);
