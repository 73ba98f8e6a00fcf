/* SPDX-License-Identifier: MIT */
/* Fuzzes the pure decisions of the XMPP transport on what strangers write
 * in stanzas: whose word a 'from' attribute is (ipop__xmpp_from_account,
 * checked against libstrophe's xmpp_jid_bare, as xmpp.c compared before),
 * which node a room nickname names, which room a 'from' is of and the
 * name the overlay gets for it, and XML escaping.  The input is up to
 * four strings separated by NUL bytes: from, our JID, our bound JID (or
 * none), a nickname. */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <strophe.h>

#include "xmpp-room.h"

#define ROOM "ipop-net@conference.example.org"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static xmpp_ctx_t *ctx;
static ipop__room *room;

/* xmpp.c before ipop__xmpp_from_account: libstrophe cut the bare JIDs. */
static bool ref_same_bare(const char *a, const char *b)
{
    char *ba = a ? xmpp_jid_bare(ctx, a) : NULL, *bb = b ? xmpp_jid_bare(ctx, b) : NULL;
    bool same = ba && bb && !g_ascii_strcasecmp(ba, bb);

    if (ba)
        xmpp_free(ctx, ba);
    if (bb)
        xmpp_free(ctx, bb);
    return same;
}

static bool ref_from_account(const char *from, const char *jid, const char *bound)
{
    if (!from)
        return true;
    if (strchr(from, '/'))
        return bound && !strcmp(from, bound);
    return ref_same_bare(from, jid) || (bound && ref_same_bare(from, bound));
}

static void check_nick(const char *nick)
{
    char node[IPOP__NODE_ID_LEN + 1];
    const char *rest;

    memset(node, 'x', sizeof(node));
    if (!ipop__xmpp_nick_node(nick, node))
        return;
    if (strlen(node) != IPOP__NODE_ID_LEN || !ipop__node_id_valid(node) || strncmp(nick, node, IPOP__NODE_ID_LEN))
        abort();
    rest = nick + IPOP__NODE_ID_LEN;
    if (*rest) {
        size_t n = strlen(rest + 1);
        if (rest[0] != '~' || n < 1 || n > 16 || strspn(rest + 1, "abcdefghijklmnopqrstuvwxyz0123456789") != n)
            abort();
    }
}

static void check_room(const char *from)
{
    const char *nick = (const char *)1;
    char node[IPOP__NODE_ID_LEN + 1];
    char *canon;

    if (!ipop__room_has(room, from, &nick))
        return;
    if (g_ascii_strncasecmp(from, ROOM, strlen(ROOM)) != 0)
        abort();
    if (nick && (nick != from + strlen(ROOM) + 1 || nick[-1] != '/'))
        abort();
    if (!nick && from[strlen(ROOM)] != '\0')
        abort();
    canon = ipop__room_canon(room, nick);
    if (!!canon != (nick && ipop__xmpp_nick_node(nick, node)))
        abort();
    if (canon && (strncmp(canon, ROOM "/", strlen(ROOM) + 1) || strcmp(canon + strlen(ROOM) + 1, node)))
        abort();
    g_free(canon);
}

/* The escaped text has no markup left and reads back as the original. */
static void check_escape(const char *text)
{
    static const char *const ent[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };
    static const char plain[] = "&<>\"'";
    char *esc = ipop__xml_escape(text);
    GString *back = g_string_new(NULL);

    for (const char *p = esc; *p;) {
        size_t i;
        if (strchr("<>\"'", *p))
            abort();
        if (*p != '&') {
            g_string_append_c(back, *p++);
            continue;
        }
        for (i = 0; i < G_N_ELEMENTS(ent) && strncmp(p, ent[i], strlen(ent[i])); i++)
            ;
        if (i == G_N_ELEMENTS(ent))
            abort();
        g_string_append_c(back, plain[i]);
        p += strlen(ent[i]);
    }
    if (strcmp(back->str, text))
        abort();
    g_string_free(back, TRUE);
    g_free(esc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = g_malloc(size + 1), *s[4] = { NULL, NULL, NULL, NULL };
    size_t n = 0, off = 0;

    if (!ctx) {
        ctx = xmpp_ctx_new(NULL, NULL);
        room = ipop__room_new(ROOM, "nick", "node");
    }
    memcpy(buf, data, size);
    buf[size] = '\0';
    /* from, jid, bound, nick: each up to the next NUL; a missing one is NULL. */
    while (n < 4 && off <= size) {
        s[n++] = buf + off;
        off += strlen(buf + off) + 1;
    }
    if (ipop__xmpp_from_account(s[0], s[1], s[2]) != ref_from_account(s[0], s[1], s[2]))
        abort();
    /* With nothing of ours known, only a missing 'from' is believed. */
    if (ipop__xmpp_from_account(s[0], NULL, NULL))
        abort();
    if (ipop__xmpp_from_account(NULL, s[1], s[2]) != true)
        abort();
    check_nick(s[3] ? s[3] : s[0]);
    check_room(s[0]);
    check_escape(s[0]);
    g_free(buf);
    return 0;
}
