/* SPDX-License-Identifier: MIT */
/* The multi-user rooms (XEP-0045) of an XMPP transport (xmpp.c): our
 * nickname in each (the node id, or the node id and a random suffix when
 * someone holds it), the occupants by node id, what a room presence
 * means, and whom a message for a node goes to; and the XML escaping both
 * use.  No I/O: the transport sends the XML these return, from its thread,
 * and its lock guards the rooms. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <strophe.h>

#include "message.h" /* IPOP__NODE_ID_LEN */

typedef struct ipop__room ipop__room;

/* What a room presence means, worked out under the transport's lock and
 * acted on after it. */
typedef struct ipop__room_news {
    char *from;                /* room/NODE-ID that came or went, or NULL */
    bool available;
    char node[IPOP__NODE_ID_LEN + 1];
    char *error;               /* our join failed for good: why */
    char *note;                /* to log */
    char *send;                /* a presence to send (a join under another nickname), or NULL */
    char *unlock;              /* we created the room: the iq that makes it an instant room, or NULL */
    unsigned rejoin_ms;        /* join again after this long (a room locked by its creator), or 0 */
} ipop__room_news;

void ipop__room_news_clear(ipop__room_news *news);

/* A room to join as room_jid/nick, saying node_id in the presence. */
ipop__room *ipop__room_new(const char *room_jid, const char *nick, const char *node_id);
void ipop__room_free(gpointer room); /* a GDestroyNotify */
/* Whether `from` (room/nick, or the room itself) is of this room; *nick
 * is then the nickname in it, NULL for the room itself. */
bool ipop__room_has(const ipop__room *r, const char *from, const char **nick);
/* An occupant's name as the overlay knows it, room/NODE-ID (newly
 * allocated), or NULL when the nickname is no node's. */
char *ipop__room_canon(const ipop__room *r, const char *nick);
/* Our presence to join the room, or to leave it.  Newly allocated. */
char *ipop__room_presence_xml(const ipop__room *r, bool leave);
/* A new session: the occupants are forgotten (the room tells them again)
 * and the presence that joins is returned.  Newly allocated. */
char *ipop__room_rejoin(ipop__room *r);
/* A presence from the room itself (nick NULL) or from room/nick.
 * Occupants are tracked by nickname and reported by node id, present
 * while any occupant claims it; a nickname of ours found taken is
 * recovered from (news->send) up to 4 times in a row.  A room we created
 * (XEP-0045 10.1.1, status 201) is locked until its owner configures it:
 * news->unlock asks for an instant room (10.1.2).  A room another creator
 * still holds locked (item-not-found) is joined again after
 * news->rejoin_ms, a few times, before that is reported. */
void ipop__room_presence(ipop__room *r, const char *nick, xmpp_stanza_t *st, const char *type,
                         ipop__room_news *news);
/* Whether `id` is that of our instant-room request to this room. */
bool ipop__room_unlock_id(const ipop__room *r, const char *id);
/* The answer to our instant-room request: an error is reported in
 * news->error. */
void ipop__room_unlock_answer(ipop__room *r, xmpp_stanza_t *st, const char *type, ipop__room_news *news);
/* The full JIDs a message to room/NODE-ID goes to: the newest occupants
 * (at most 8) that claim that node id; NULL when none does yet. */
GPtrArray *ipop__room_fanout(const ipop__room *r, const char *node);

/* The node id a room nickname stands for: NODE-ID, or NODE-ID~SUFFIX
 * (1 to 16 of a-z 0-9) when the plain one was taken.  Pure. */
bool ipop__xmpp_nick_node(const char *nick, char node[IPOP__NODE_ID_LEN + 1]);

/* RFC 6121 2.1.3 and 2.1.6: whether what comes `from` there is our own
 * account's word (roster results and pushes): no 'from', our bare JID
 * (`jid`'s or `bound`'s, local part and domain without case, as the server
 * prepares them) or exactly our full JID `bound` (NULL before binding).
 * Anyone else can address our full JID with anything.  Pure. */
bool ipop__xmpp_from_account(const char *from, const char *jid, const char *bound);

/* Writes `text` escaped for XML character data and attributes; the caller
 * frees the result with g_free.  Pure. */
char *ipop__xml_escape(const char *text);
