/* SPDX-License-Identifier: MIT */
/* What xmpp.c (the connection, its thread and the outgoing queue) and
 * xmpp-stanza.c (what arrives: messages, IQs, presence, rooms) share.
 * Both run in the transport's own thread. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <strophe.h>

#include "message.h"
#include "xmpp.h"

#define RUN_SLICE_MS 10       /* how long one select() in libstrophe may wait */
#define QUEUE_MAX 512         /* stanzas waiting for the connection */
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
/* A dead connection (its NAT mapping gone, the host renumbered) says
 * nothing: a ping to the server every 30 s, answered within 10 s, finds
 * it; one asked for by the links (ipop__xmpp_check) must be answered
 * within 1.5 s. */
#define KEEPALIVE_MS 30000
#define KEEPALIVE_WAIT_MS 10000
#define CHECK_WAIT_MS 1500
/* Room nicknames.  Ours is our node id; when someone holds it already
 * (XEP-0045 7.2.9, a conflict), we join again as node id + '~' + 8 random
 * base32 characters, which nobody can take before us, up to NICK_RETRIES
 * times in a row.  Members read the node id from either form.  Several
 * occupants may claim one node id (a squatter and the real node): a
 * message to that node goes to the newest FANOUT_MAX of them, and only the
 * signalling's own authentication tells which is real. */
#define NICK_SUFFIX_LEN 8
#define NICK_SUFFIX_MAX 16
#define NICK_RETRIES 4
#define OCCUPANTS_MAX 4096    /* occupants remembered per room */
#define FANOUT_MAX 8

typedef struct occupant {
    char node[IPOP__NODE_ID_LEN + 1];
    guint64 seq;               /* order of arrival */
} occupant;

typedef struct room {
    char *room, *nick, *node_id;
    unsigned conflicts;        /* nicknames found taken since we were last in */
    GHashTable *occupants;     /* nick -> occupant*; guarded by the transport's lock */
    guint64 seq;
} room;

struct ipop__xmpp {
    char *jid, *password, *server, *fingerprint, *node_id;
    bool roster;
    unsigned port;
    bool require_tls;
    ipop__xmpp_cb cb;
    void *ud;

    GThread *thread;
    gint stop;
    /* owned by the thread */
    xmpp_ctx_t *ctx;
    xmpp_conn_t *conn;
    xmpp_log_t log;
    bool connecting, online;
    gint64 next_attempt;
    guint backoff_ms;
    int sock;                  /* the connection's socket, or -1 */
    gint64 next_ping;          /* when the next keepalive ping is due */
    gint64 ping_deadline;      /* an answer to ping_id is due by then, or 0 */
    char ping_id[32];
    char roster_id[32];        /* id of our roster query, new each session */
    unsigned pings;
    bool kicked;               /* we cut the connection: connect again at once */
    gint check;                /* a check was asked for (atomic) */

    GMutex lock;               /* guards queue, rooms, online_flag */
    GQueue queue;              /* char*: serialized stanzas */
    GPtrArray *rooms;          /* room* */
    gint online_flag;
};

/* xmpp.c */
void ipop__xmpp_emit(ipop__xmpp *x, ipop__xmpp_event_type type, const char *from, const char *text);
void ipop__xmpp_send_raw(ipop__xmpp *x, const char *xml);
char *ipop__xmpp_presence_xml(const room *r, bool leave);

/* xmpp-stanza.c */
/* The room `from` (room/nick, or the room itself) belongs to, and the nick
 * in it (NULL for the room itself); NULL when it is none of ours.  Under x->lock. */
room *ipop__xmpp_room_of(ipop__xmpp *x, const char *from, const char **nick);

/* libstrophe handlers, registered when the session is up */
int ipop__xmpp_on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud);
int ipop__xmpp_on_iq(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud);
int ipop__xmpp_on_presence(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud);
