/* SPDX-License-Identifier: MIT */
/* XMPP transport (libstrophe) for signalling.  libstrophe resolves names and
 * connects blocking and is not thread-safe, so each transport runs a thread
 * of its own that alone touches libstrophe; other threads queue stanzas and
 * receive events through a callback, called from that thread. */
#pragma once

#include <stdbool.h>

#include <glib.h>

#include "ipop/ipop.h"
#include "message.h"

#define IPOP__XMPP_NS_SIGNAL "urn:ipop:signal:1"
#define IPOP__XMPP_NS_NODE "urn:ipop:node:1"

typedef struct ipop__xmpp ipop__xmpp;

typedef struct ipop__xmpp_config {
    const char *jid;          /* user@domain (a resource is added) */
    const char *password;
    const char *server;       /* NULL: the JID's domain */
    unsigned port;            /* 0: 5222 */
    bool require_tls;
    const char *fingerprint;  /* 64 hex digits: pin the server's certificate */
    const char *resource;     /* the resource to ask for */
    const char *node_id;      /* said in our broadcast presence (friends see it), or NULL */
    bool roster;              /* fetch and follow the roster */
} ipop__xmpp_config;

typedef enum ipop__xmpp_event_type {
    IPOP__XMPP_ONLINE = 1,   /* session up (again) */
    IPOP__XMPP_OFFLINE,      /* connection lost or refused; `text` says why */
    IPOP__XMPP_SIGNAL,       /* a signalling payload from `from` */
    IPOP__XMPP_PRESENCE,     /* `from` became available or not; `node` its node id if it said */
    IPOP__XMPP_ROOM_ERROR,   /* joining a room failed for good; `from` says who said so, `text` why */
    IPOP__XMPP_ROSTER,       /* roster item `from` (bare JID) has subscription `text` ("remove" when gone) */
    IPOP__XMPP_REFUSED,      /* a stanza from `from` was ignored on purpose (forged or out of place): `text` */
    IPOP__XMPP_STATE,        /* the connection's state changed (or, `repeat`, a problem lasts): `state`,
                              * `reason`, `text` in words, `condition`, `fingerprint` */
    IPOP__XMPP_SUBSCRIPTION, /* bare JID `from` asks for or withdraws a subscription (RFC 6121 3): `text` is
                                subscribe, subscribed, unsubscribe or unsubscribed */
} ipop__xmpp_event_type;

/* In a room, occupants are named by node id: an occupant's `from` is
 * room/NODE-ID whatever its nickname (see ipop__xmpp_nick_node), and a
 * signal sent to room/NODE-ID reaches the occupants that claim that node
 * id.  Only the signalling's own authentication tells the real one. */
typedef struct ipop__xmpp_event {
    ipop__xmpp_event_type type;
    const char *from;        /* full JID */
    const char *node;        /* node id from the presence, or NULL */
    const char *text;        /* payload, or a reason */
    const char *ts, *nonce, *mac; /* authentication attributes of a payload, or NULL */
    bool available;
    /* IPOP__XMPP_STATE */
    ipop_signal_state_t state;
    ipop_reason_t reason;
    const char *condition;   /* the server's condition ("not-authorized", "system-shutdown"), or NULL */
    const char *fingerprint; /* tls-refused: the SHA-256 fingerprint the server showed, or NULL */
    gint64 since;            /* monotonic time (us) the state began */
    gint64 retry_at;         /* monotonic time (us) of the next attempt, or 0 */
    unsigned failures;       /* attempts failed in a row (up: before it came up) */
    bool repeat;             /* the same problem still: a summary, every 10 minutes */
    bool quiet;              /* the same problem again: only the numbers (failures, retry_at) moved */
    bool asked;              /* IPOP__XMPP_ROSTER: our subscription request waits for an answer (ask) */
} ipop__xmpp_event;

typedef void (*ipop__xmpp_cb)(void *user_data, const ipop__xmpp_event *ev);

/* Starts the transport's thread, which connects and keeps reconnecting with
 * backoff.  Returns 0 or -errno. */
int ipop__xmpp_start(ipop__xmpp **ret, const ipop__xmpp_config *cfg, ipop__xmpp_cb cb, void *user_data);
/* Sends what is queued, says goodbye, disconnects and ends the thread. */
void ipop__xmpp_stop(ipop__xmpp *x);

/* Thread-safe.  Queue a signalling payload for `to`; dropped while offline
 * (the link layer repeats what matters).  Returns 0 or -ENOTCONN. */
int ipop__xmpp_send_signal(ipop__xmpp *x, const char *to, const char *text, const char *ts, const char *nonce,
                           const char *mac);
/* Thread-safe.  Asks the server for an answer within 1.5 s, and connects
 * again when none comes (a connection through a NAT that lost its mapping
 * looks alive but carries nothing).  The transport also pings the server
 * every 30 s by itself. */
void ipop__xmpp_check(ipop__xmpp *x);
/* Thread-safe.  Joins a multi-user room as room/nick, saying our node id
 * in the presence.  Remembered: joined again after a reconnect.  When the
 * nickname is taken, joins again as node_id~RANDOM (up to 4 times in a
 * row), and reports IPOP__XMPP_ROOM_ERROR when that or anything else fails. */
void ipop__xmpp_join_room(ipop__xmpp *x, const char *room, const char *nick, const char *node_id);
/* Thread-safe.  Queues a stanza of the caller's making (well-formed,
 * escaped), sent once as it is.  Returns 0, or -ENOTCONN while offline
 * (nothing is queued then). */
int ipop__xmpp_send_xml(ipop__xmpp *x, const char *xml);
