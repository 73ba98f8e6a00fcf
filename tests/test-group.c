/* SPDX-License-Identifier: MIT */
/* GroupVPN over a real prosody started by the test: members that know the
 * group secret link, one that does not is refused, one that leaves is
 * disconnected, and links live through a restart of the server. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <strophe.h>

#include <gnutls/crypto.h>

#include "addr.h"
#include "dtls.h"
#include "forward.h"
#include "frame.h"
#include "identity.h"
#include "link.h"
#include "msgauth.h"
#include "network.h"
#include "proof.h"
#include "group.h"
#include "identity.h"
#include "network.h"
#include "overlay.h"
#include "pair.h"
#include "prosody.h"
#include "testutil.h"

/* Waits are upper bounds, generous for a loaded machine and the sanitizers:
 * a test goes on as soon as the condition holds.  The 15 s for a departed
 * member is the requirement itself. */

static test_prosody srv;
static const char *dir;
static int port;

static void member(node *n, const char *user, const char *pass, const char *a4, const char *secret)
{
    node_init(n, user, a4, NULL, "overlay", "group");
    test_prosody_login(&srv, n->net, user, pass);
    g_assert_cmpint(ipop_network_set_option(n->net, "group.room", "vpn@rooms.ipop.test"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(n->net, "group.secret", secret), ==, 0);
}

/* A member whose ICE candidates are only on `ice_addr` (127.0.0.1 or ::1). */
static void member_on(node *n, const char *user, const char *pass, const char *a4, const char *ice_addr)
{
    node_init(n, user, a4, NULL, "ice.local-address", ice_addr);
    g_assert_cmpint(ipop_network_set_option(n->net, "overlay", "group"), ==, 0);
    test_prosody_login(&srv, n->net, user, pass);
    g_assert_cmpint(ipop_network_set_option(n->net, "group.room", "vpn@rooms.ipop.test"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(n->net, "group.secret", "sesame"), ==, 0);
}

static int link_state(node *from, node *to)
{
    ipop_link_t *l = ipop_network_get_link(from->net, ipop_network_get_node_id(to->net));
    return l ? ipop_link_get_state(l) : IPOP_LINK_NEW;
}

static bool wait_link(node *from, node *to, int state, int seconds)
{
    for (int i = 0; i < seconds * 20 * test_time_factor(); i++) {
        if (link_state(from, to) == state)
            return true;
        g_usleep(50000);
    }
    return false;
}

static int refused(node *n)
{
    int r;

    g_mutex_lock(&n->lock);
    r = n->refused;
    g_mutex_unlock(&n->lock);
    return r;
}

/* a and b share a generated secret (ipop_generate_secret(): keyed at once,
 * without Argon2id); c has the same text with one character changed,
 * which is no generated secret (its check fails), so it is stretched with
 * Argon2id into another key and c is refused. */
static void test_group(void)
{
    node a, b, c, d;
    gint64 t0;
    char secret[IPOP_GENERATED_SECRET_LEN + 1], near[IPOP_GENERATED_SECRET_LEN + 1];

    g_assert_cmpint(ipop_generate_secret(secret, sizeof(secret)), ==, IPOP_GENERATED_SECRET_LEN);
    memcpy(near, secret, sizeof(near));
    near[10] = near[10] == 'x' ? 'y' : 'x';
    member(&a, "a", "pa", "10.40.0.1", secret);
    member(&b, "b", "pb", "10.40.0.2", secret);
    a.peer = &b; /* blast() reads addresses through peer only in name */
    b.peer = &a;
    t0 = g_get_monotonic_time();
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    g_assert_cmpint(ipop_network_start(b.net), ==, 0);
    g_assert_true(wait_link(&a, &b, IPOP_LINK_CONNECTED, 60));
    g_assert_true(wait_link(&b, &a, IPOP_LINK_CONNECTED, 30));
    g_test_message("two members linked over XMPP in %.0f ms", (g_get_monotonic_time() - t0) / 1000.0);
    blast(&a, &b, AF_INET, 500);
    blast(&b, &a, AF_INET, 500);

    /* c is in the room but does not know the secret */
    member(&c, "c", "pc", "10.40.0.3", near);
    g_assert_cmpint(ipop_network_start(c.net), ==, 0);
    for (int i = 0; i < 1200 && (refused(&a) == 0 || refused(&b) == 0 || refused(&c) == 0); i++)
        g_usleep(50000);
    /* each side refuses the other's messages, with that reason */
    g_assert_cmpint(refused(&a), >, 0);
    g_assert_cmpint(refused(&b), >, 0);
    g_assert_cmpint(refused(&c), >, 0);
    g_assert_cmpint(c.reason, ==, IPOP_REASON_NOT_AUTHENTICATED);
    g_assert_cmpint(link_state(&a, &c), !=, IPOP_LINK_CONNECTED);
    g_assert_cmpint(link_state(&b, &c), !=, IPOP_LINK_CONNECTED);
    node_clear(&c);

    /* The server goes away for a while: the link stays up and carries traffic. */
    test_prosody_stop(&srv);
    {
        /* Ten seconds without a server, traffic flowing all along: every
         * packet arrives (blast() asserts it). */
        gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        int rounds = 0;
        while (g_get_monotonic_time() < end) {
            blast(&a, &b, AF_INET, 200);
            blast(&b, &a, AF_INET, 200);
            rounds++;
        }
        g_test_message("%d x 2 x %d packets crossed while the server was down", rounds, N_PACKETS);
    }
    g_assert_cmpint(link_state(&a, &b), ==, IPOP_LINK_CONNECTED);
    test_prosody_restart(&srv);
    /* A member that joins after the restart links with the others. */
    member(&d, "d", "pd", "10.40.0.4", secret);
    g_assert_cmpint(ipop_network_start(d.net), ==, 0);
    g_assert_true(wait_link(&d, &a, IPOP_LINK_CONNECTED, 90));
    g_assert_true(wait_link(&d, &b, IPOP_LINK_CONNECTED, 90));
    d.peer = &a;
    blast(&d, &a, AF_INET, 200);
    g_assert_cmpint(link_state(&a, &b), ==, IPOP_LINK_CONNECTED);

    /* b leaves the room: the others drop their links to it. */
    t0 = g_get_monotonic_time();
    g_assert_cmpint(ipop_network_stop(b.net), ==, 0);
    g_assert_true(wait_link(&a, &b, IPOP_LINK_CLOSED, 15));
    g_assert_true(wait_link(&d, &b, IPOP_LINK_CLOSED, 15));
    g_test_message("a member that left was disconnected after %.0f ms", (g_get_monotonic_time() - t0) / 1000.0);

    node_clear(&d);
    node_clear(&b);
    node_clear(&a);
}

/* ---- hostile XMPP clients in the room ---- */

#define ROOM "vpn@rooms.ipop.test"

typedef struct hostile {
    xmpp_ctx_t *ctx;
    xmpp_conn_t *conn;
    bool up, failed;
    GPtrArray *got;              /* the signalling lines it received */
} hostile;

static void hostile_conn(xmpp_conn_t *conn, xmpp_conn_event_t ev, int err, xmpp_stream_error_t *se, void *ud)
{
    hostile *h = ud;

    if (ev == XMPP_CONN_CONNECT)
        h->up = true;
    else
        h->failed = true;
}

/* Keeps every signalling line that reaches the occupant. */
static int hostile_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    hostile *h = ud;
    xmpp_stanza_t *ipop = xmpp_stanza_get_child_by_name(st, "ipop");
    char *text = ipop ? xmpp_stanza_get_text(ipop) : NULL;

    if (text) {
        g_ptr_array_add(h->got, g_strdup(text));
        xmpp_free(h->ctx, text);
    }
    return 1;
}

static void hostile_pump(hostile *h, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;

    while (g_get_monotonic_time() < end)
        xmpp_run_once(h->ctx, 10);
}

/* Connects as e@ipop.test/RESOURCE and joins the room as `nick`. */
static void hostile_join(hostile *h, const char *resource, const char *nick)
{
    char *jid = g_strdup_printf("e@ipop.test/%s", resource);
    char *join = g_strdup_printf("<presence to='" ROOM "/%s'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
                                 nick);

    xmpp_initialize();
    h->got = g_ptr_array_new_with_free_func(g_free);
    h->ctx = xmpp_ctx_new(NULL, NULL);
    h->conn = xmpp_conn_new(h->ctx);
    xmpp_conn_set_jid(h->conn, jid);
    xmpp_conn_set_pass(h->conn, "pe");
    xmpp_conn_set_flags(h->conn, XMPP_CONN_FLAG_TRUST_TLS);
    xmpp_handler_add(h->conn, hostile_message, NULL, "message", NULL, h);
    g_assert_cmpint(xmpp_connect_client(h->conn, "127.0.0.1", (unsigned short)port, hostile_conn, h), ==, XMPP_EOK);
    for (int i = 0; i < 500 && !h->up && !h->failed; i++)
        xmpp_run_once(h->ctx, 10);
    g_assert_true(h->up);
    xmpp_send_raw(h->conn, join, strlen(join));
    hostile_pump(h, 300);
    g_free(join);
    g_free(jid);
}

static void hostile_leave(hostile *h)
{
    xmpp_disconnect(h->conn);
    hostile_pump(h, 200);
    xmpp_conn_release(h->conn);
    xmpp_ctx_free(h->ctx);
    g_ptr_array_unref(h->got);
}

static void hostile_send(hostile *h, const char *to_node, const char *text)
{
    char *esc = g_markup_escape_text(text, -1);
    char *xml = g_strdup_printf("<message to='" ROOM "/%s' type='chat'><ipop xmlns='urn:ipop:signal:1' ts='' nonce='' "
                                "mac=''>%s</ipop></message>", to_node, esc);
    xmpp_send_raw(h->conn, xml, strlen(xml));
    g_free(xml);
    g_free(esc);
    hostile_pump(h, 100);
}

/* A line as a node that knows the format signs it: its own key, for `to`. */
static char *sign_as(ipop__identity *id, const char *to, const char *body)
{
    ipop__auth a = { 0 };
    uint8_t *input = g_malloc(IPOP__AUTH_INPUT_MAX);
    char *out = g_malloc(IPOP__SIGNAL_MAX + 1);
    int n;

    g_strlcpy(a.to, to, sizeof(a.to));
    a.ts_ms = (uint64_t)(g_get_real_time() / 1000);
    gnutls_rnd(GNUTLS_RND_NONCE, a.nonce, sizeof(a.nonce));
    a.pk_len = sizeof(a.pk);
    g_assert_cmpint(ipop__identity_public_key(id, a.pk, &a.pk_len), ==, 0);
    n = ipop__auth_sign_input(input, IPOP__AUTH_INPUT_MAX, "group:" ROOM, ipop__identity_node_id(id), &a, body,
                              strlen(body));
    g_assert_cmpint(n, >, 0);
    g_assert_cmpint(ipop__identity_sign(id, input, (size_t)n, a.sig), ==, 0);
    g_assert_cmpint(ipop__auth_encode(&a, body, strlen(body), out, IPOP__SIGNAL_MAX + 1), >, 0);
    g_free(input);
    return out;
}

static guint64 refused_count(node *n)
{
    ipop_network_stats_t st = { .size = sizeof(st) };

    g_assert_cmpint(ipop_network_get_stats(n->net, &st), ==, 0);
    return st.signal_refused;
}

static guint32 links_of(node *n)
{
    ipop_network_stats_t st = { .size = sizeof(st) };

    g_assert_cmpint(ipop_network_get_stats(n->net, &st), ==, 0);
    return st.links;
}

/* What reached an occupant that proved nothing: challenges, and proofs
 * (when it asked), never an offer, a candidate, an ICE credential or an
 * address. */
static void assert_nothing_spent(hostile *h, guint *chals)
{
    *chals = 0;
    for (guint i = 0; i < h->got->len; i++) {
        const char *line = h->got->pdata[i];
        g_assert_true(g_str_has_prefix(line, "ipop2 gchal ") || g_str_has_prefix(line, "ipop2 gproof "));
        g_assert_null(strstr(line, "ufrag="));
        g_assert_null(strstr(line, "pwd="));
        g_assert_null(strstr(line, "cand="));
        g_assert_null(strstr(line, "addr4="));
        g_assert_null(strstr(line, "addr6="));
        *chals += g_str_has_prefix(line, "ipop2 gchal ");
    }
}

/* Occupants with node-id nicknames and no secret: before, every member
 * made a link object, an ICE agent and offers every 2 s for each, with its
 * ICE credentials and addresses.  Now: a challenge, repeated with backoff. */
static void test_occupant_flood(void)
{
    static const char *const fakes[] = {
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        "cccccccccccccccccccccccccccccccccccccccccccccccccccc",
    };
    hostile h[3] = { 0 };
    node a, b;
    gint64 t0;
    guint chals;

    member(&a, "a", "pa", "10.41.0.1", "sesame");
    member(&b, "b", "pb", "10.41.0.2", "sesame");
    a.peer = &b;
    b.peer = &a;
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    g_assert_cmpint(ipop_network_start(b.net), ==, 0);
    g_assert_true(wait_link(&a, &b, IPOP_LINK_CONNECTED, 60));
    g_assert_true(wait_link(&b, &a, IPOP_LINK_CONNECTED, 30));

    for (int i = 0; i < 3; i++) {
        char res[16];
        snprintf(res, sizeof(res), "h%d", i);
        hostile_join(&h[i], res, fakes[i]);
    }
    /* 15 s in the room: the challenges come at 0, 2, 6 and 14 s (every 2 s
     * would be 8), from each member */
    t0 = g_get_monotonic_time();
    while (g_get_monotonic_time() - t0 < 15 * G_USEC_PER_SEC)
        for (int i = 0; i < 3; i++)
            hostile_pump(&h[i], 100);
    for (int i = 0; i < 3; i++) {
        assert_nothing_spent(&h[i], &chals);
        g_test_message("occupant %d got %u challenges and nothing else in 15 s", i, chals);
        g_assert_cmpuint(chals, >=, 2);     /* one from each member at least */
        g_assert_cmpuint(chals, <=, 2 * 5); /* with backoff, not every 2 s */
    }
    /* no link objects (so no ICE agents) for them: only the member's */
    g_assert_cmpuint(links_of(&a), ==, 1);
    g_assert_cmpuint(links_of(&b), ==, 1);
    g_assert_null(ipop_network_get_link(a.net, fakes[0]));
    g_assert_cmpint(link_state(&a, &b), ==, IPOP_LINK_CONNECTED);
    blast(&a, &b, AF_INET, 300);
    for (int i = 0; i < 3; i++)
        hostile_leave(&h[i]);
    node_clear(&b);
    node_clear(&a);
}

/* An occupant that knows the signalling format (it has a key and signs)
 * but not the secret: its wrong proof and its offers are refused, it gets
 * no link; what it can capture (a member's proof for its challenge) lets
 * it test guesses of the secret only at Argon2id's speed. */
static void test_hostile(void)
{
    char *path = g_build_filename(dir, "hostile.pem", NULL), *line, *body;
    ipop__identity *id = NULL;
    ipop__proof_msg chal = { .type = IPOP__PROOF_CHAL }, proof = { .type = IPOP__PROOF_PROOF }, got;
    const char *me, *a_id;
    hostile h = { 0 };
    node a, b;
    guint64 before;
    gboolean captured = FALSE;
    guint chals;

    member(&a, "a", "pa", "10.45.0.1", "sesame");
    member(&b, "b", "pb", "10.45.0.2", "sesame");
    a.peer = &b;
    b.peer = &a;
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    g_assert_cmpint(ipop_network_start(b.net), ==, 0);
    g_assert_true(wait_link(&a, &b, IPOP_LINK_CONNECTED, 60));
    a_id = ipop_network_get_node_id(a.net);

    g_assert_cmpint(ipop__identity_load(&id, path), ==, 0);
    me = ipop__identity_node_id(id);
    hostile_join(&h, "signer", me);
    before = refused_count(&a);

    /* It challenges a, as a member would: a answers with its proof. */
    g_strlcpy(chal.from, me, sizeof(chal.from));
    gnutls_rnd(GNUTLS_RND_NONCE, chal.mine, sizeof(chal.mine));
    body = g_malloc(1024);
    g_assert_cmpint(ipop__proof_encode(&chal, body, 1024), >, 0);
    line = sign_as(id, a_id, body);
    hostile_send(&h, a_id, line);
    g_free(line);
    for (int i = 0; i < 100 && !captured; i++) {
        hostile_pump(&h, 100);
        for (guint k = 0; k < h.got->len && !captured; k++) {
            const char *l = h.got->pdata[k];
            if (g_str_has_prefix(l, "ipop2 gproof ") && strstr(l, a_id))
                captured = ipop__proof_decode(&got, l, strcspn(l, " ") + strlen(l) - strcspn(l, " ") -
                                                           strlen(strstr(l, " to="))) == 0;
        }
    }
    g_assert_true(captured);
    g_assert_cmpmem(got.yours, sizeof(got.yours), chal.mine, sizeof(chal.mine));

    /* The offline attack on what it captured: one Argon2id per guess. */
    {
        static const char *const guesses[] = { "guess", "password", "sesame" };
        uint8_t key[IPOP__PROOF_KEY_LEN], mac[IPOP__PROOF_MAC_LEN];
        gint64 t0 = g_get_monotonic_time();
        int found = -1;

        for (int i = 0; i < 3; i++) {
            g_assert_cmpint(ipop__proof_key(guesses[i], strlen(guesses[i]), ROOM, key), ==, 0);
            ipop__proof_mac(key, ROOM, a_id, me, chal.mine, got.mine, mac);
            if (!memcmp(mac, got.mac, sizeof(mac)))
                found = i;
        }
        g_assert_cmpint(found, ==, 2); /* what was captured does test guesses ... */
        g_test_message("an occupant tests %.2f guesses/s of the secret on one core against a captured proof "
                       "(Argon2id t=%u m=%u MiB)", 3 / ((g_get_monotonic_time() - t0) / 1e6), IPOP__PROOF_KDF_T,
                       IPOP__PROOF_KDF_M_KIB / 1024);
    }

    /* It answers a's challenge with a wrong proof: refused, no link. */
    for (int i = 0; i < 50; i++) {
        hostile_pump(&h, 100);
        assert_nothing_spent(&h, &chals);
        if (chals)
            break;
    }
    g_assert_cmpuint(chals, >, 0);
    for (guint k = 0; k < h.got->len; k++) {
        const char *l = h.got->pdata[k];
        if (g_str_has_prefix(l, "ipop2 gchal ") && strstr(l, a_id)) {
            ipop__proof_msg c;
            g_assert_cmpint(ipop__proof_decode(&c, l, strlen(l) - strlen(strstr(l, " to="))), ==, 0);
            memcpy(proof.yours, c.mine, sizeof(proof.yours));
        }
    }
    {
        uint8_t wrong[IPOP__PROOF_KEY_LEN];
        g_assert_cmpint(ipop__proof_key("guess", 5, ROOM, wrong), ==, 0);
        g_strlcpy(proof.from, me, sizeof(proof.from));
        memcpy(proof.mine, chal.mine, sizeof(proof.mine));
        ipop__proof_mac(wrong, ROOM, me, a_id, proof.yours, proof.mine, proof.mac);
    }
    g_assert_cmpint(ipop__proof_encode(&proof, body, 1024), >, 0);
    line = sign_as(id, a_id, body);
    hostile_send(&h, a_id, line);
    g_free(line);
    /* and an offer-like line, signed: refused before any proof */
    g_snprintf(body, 1024, "ipop2 bye from=%s session=0123456789abcdef reason=6", me);
    line = sign_as(id, a_id, body);
    hostile_send(&h, a_id, line);
    g_free(line);
    /* and a line it did not sign (the old format) */
    hostile_send(&h, a_id, "ipop1 bye");
    for (int i = 0; i < 100 && refused_count(&a) < before + 3; i++)
        g_usleep(50000);
    g_assert_cmpuint(refused_count(&a), >=, before + 3);
    g_assert_true(a.refused_reasons & (1u << IPOP_REASON_NOT_AUTHENTICATED));
    g_assert_null(ipop_network_get_link(a.net, me));
    g_assert_cmpuint(links_of(&a), ==, 1);
    assert_nothing_spent(&h, &chals);

    /* and a keeps working */
    g_assert_cmpint(link_state(&a, &b), ==, IPOP_LINK_CONNECTED);
    blast(&a, &b, AF_INET, 300);
    hostile_leave(&h);
    g_free(body);
    ipop__identity_free(id);
    g_free(path);
    node_clear(&b);
    node_clear(&a);
}

/* A member (it knows the secret) claims another member's address: the
 * claim is refused and reported; the holder keeps its routes and traffic. */
static void test_address_claim(void)
{
    node a, b, c;
    ipop__addr addr_a;
    ipop_link_t *ba;

    member(&a, "a", "pa", "10.46.0.1", "sesame");
    member(&b, "b", "pb", "10.46.0.2", "sesame");
    a.peer = &b;
    b.peer = &a;
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    g_assert_cmpint(ipop_network_start(b.net), ==, 0);
    g_assert_true(wait_link(&a, &b, IPOP_LINK_CONNECTED, 60));
    g_assert_true(wait_link(&b, &a, IPOP_LINK_CONNECTED, 30));
    blast(&b, &a, AF_INET, 300);

    /* c takes a's address */
    member(&c, "c", "pc", "10.46.0.1", "sesame");
    g_assert_cmpint(ipop_network_start(c.net), ==, 0);
    g_assert_true(wait_link(&b, &c, IPOP_LINK_CONNECTED, 60));
    /* each refuses on its own time: wait for both */
    for (int i = 0; i < 200 && !(b.refused_reasons & a.refused_reasons & (1u << IPOP_REASON_ADDRESS_IN_USE)); i++)
        g_usleep(50000);
    g_assert_true(b.refused_reasons & (1u << IPOP_REASON_ADDRESS_IN_USE));
    g_assert_true(a.refused_reasons & (1u << IPOP_REASON_ADDRESS_IN_USE)); /* its own address */
    /* b still routes a's address to a, and traffic reaches a */
    g_assert_cmpint(ipop__addr_parse("10.46.0.1", &addr_a), ==, 0);
    ba = ipop_network_get_link(b.net, ipop_network_get_node_id(a.net));
    g_assert_true(ipop__fwd_lookup_ip(b.net->fwd, &addr_a) == ba);
    g_assert_cmpint(link_state(&b, &a), ==, IPOP_LINK_CONNECTED);
    blast(&b, &a, AF_INET, 300);
    blast(&a, &b, AF_INET, 300);
    /* packets from c with a's address as source are not taken at b */
    {
        guint8 pkt[200];
        size_t n = build_packet(pkt, AF_INET, "10.46.0.1", "10.46.0.2", 7, sizeof(pkt));
        guint got;
        g_mutex_lock(&b.lock);
        got = b.received;
        g_mutex_unlock(&b.lock);
        for (int i = 0; i < 20; i++)
            ipop_network_send_packet(c.net, pkt, n);
        g_usleep(500000);
        g_mutex_lock(&b.lock);
        g_assert_cmpuint(b.received, ==, got);
        g_mutex_unlock(&b.lock);
    }
    node_clear(&c);
    node_clear(&b);
    node_clear(&a);
}

static void want_resolve(node *at, const char *name, const char *addr)
{
    char buf[64];

    g_assert_cmpint(ipop_network_resolve(at->net, name, AF_UNSPEC, buf, sizeof(buf)), ==, 0);
    g_assert_cmpstr(buf, ==, addr);
}

static void peer_name(node *at, node *of, char out[64])
{
    ipop_link_stats_t st = { .size = sizeof(st) };

    g_assert_cmpint(ipop_link_get_stats(ipop_network_get_link(at->net, ipop_network_get_node_id(of->net)), &st), ==, 0);
    g_strlcpy(out, st.peer_name, 64);
}

/* Names: every member resolves the others by the name they signal; when
 * two claim one name, the smaller node id keeps it, the other is known as
 * NAME-<6 chars of its node id> everywhere, and each member reports it. */
static void test_names(void)
{
    node a, b, c, *won, *lost;
    node *all[] = { &a, &b, &c };
    char buf[64], tagged[64], shown[64];

    member(&a, "a", "pa", "10.49.0.1", "sesame");
    member(&b, "b", "pb", "10.49.0.2", "sesame");
    member(&c, "c", "pc", "10.49.0.3", "sesame");
    g_assert_cmpint(ipop_network_set_option(a.net, "name", "Web"), ==, 0); /* any case: lowercased */
    g_assert_cmpint(ipop_network_set_option(b.net, "name", "db"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(c.net, "name", "web"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(c.net, "name", "-web"), ==, -EINVAL);
    g_assert_cmpint(ipop_network_set_option(c.net, "name", "web.example"), ==, -EINVAL);
    for (int i = 0; i < 3; i++)
        g_assert_cmpint(ipop_network_start(all[i]->net), ==, 0);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (i != j)
                g_assert_true(wait_link(all[i], all[j], IPOP_LINK_CONNECTED, 60));
    won = strcmp(ipop_network_get_node_id(a.net), ipop_network_get_node_id(c.net)) < 0 ? &a : &c;
    lost = won == &a ? &c : &a;
    snprintf(tagged, sizeof(tagged), "web-%.6s", ipop_network_get_node_id(lost->net));

    for (int i = 0; i < 3; i++) {
        node *n = all[i];
        want_resolve(n, "db", "10.49.0.2");
        want_resolve(n, "WEB", won->addr4);
        want_resolve(n, tagged, lost->addr4);
        g_assert_cmpint(ipop_network_resolve(n->net, "mail", AF_UNSPEC, buf, sizeof(buf)), ==, -ENOENT);
        g_assert_cmpint(ipop_network_resolve(n->net, "db", AF_INET6, buf, sizeof(buf)), ==, -ENOENT);
    }
    /* what a peer's status shows */
    peer_name(&b, lost, shown);
    g_assert_cmpstr(shown, ==, tagged);
    peer_name(&b, won, shown);
    g_assert_cmpstr(shown, ==, "web");
    peer_name(won, lost, shown);
    g_assert_cmpstr(shown, ==, tagged);
    peer_name(lost, &b, shown);
    g_assert_cmpstr(shown, ==, "db");
    /* reported: by the observer, the winner and the loser alike */
    for (int i = 0; i < 3; i++)
        for (int t = 0; t < 100 && !(all[i]->refused_reasons & (1u << IPOP_REASON_NAME_IN_USE)); t++)
            g_usleep(50000);
    g_assert_true(b.refused_reasons & (1u << IPOP_REASON_NAME_IN_USE));
    g_assert_true(won->refused_reasons & (1u << IPOP_REASON_NAME_IN_USE));
    g_assert_true(lost->refused_reasons & (1u << IPOP_REASON_NAME_IN_USE));
    /* the API's refusals */
    g_assert_cmpint(ipop_network_resolve(b.net, "db", AF_INET, buf, 9), ==, -ENOSPC); /* "10.49.0.2" needs 10 */
    g_assert_cmpint(ipop_network_resolve(b.net, "db", AF_INET, buf, 10), ==, 0);
    g_assert_cmpint(ipop_network_resolve(b.net, "-db", AF_INET, buf, sizeof(buf)), ==, -EINVAL);
    g_assert_cmpint(ipop_network_resolve(b.net, "db", 12345, buf, sizeof(buf)), ==, -EINVAL);
    g_assert_cmpint(ipop_network_resolve(NULL, "db", AF_INET, buf, sizeof(buf)), ==, -EINVAL);

    /* the winner leaves: the name goes to the one left */
    node_clear(won);
    for (int t = 0; t < 600 * test_time_factor(); t++) {
        if (ipop_network_resolve(b.net, "web", AF_INET, buf, sizeof(buf)) == 0 && !strcmp(buf, lost->addr4))
            break;
        g_usleep(50000);
    }
    want_resolve(&b, "web", lost->addr4);
    node_clear(lost);
    node_clear(&b);
}

/* Automatic addresses: derived from the node id; on a conflict the larger
 * node id moves, and the link comes back with the new address. */
static void test_auto_address(void)
{
    char *path_x = g_build_filename(dir, "x.pem", NULL), *path_y = g_build_filename(dir, "y.pem", NULL);
    ipop__identity *ix = NULL, *iy = NULL;
    ipop__addr subnet, first, second;
    char text[64], first_text[64], now[64];
    node x, y;

    g_assert_cmpint(ipop__identity_load(&ix, path_x), ==, 0);
    g_assert_cmpint(ipop__identity_load(&iy, path_y), ==, 0);
    if (strcmp(ipop__identity_node_id(ix), ipop__identity_node_id(iy)) < 0) { /* x must be the larger */
        char *t = path_x;
        path_x = path_y;
        path_y = t;
        ipop__identity *ti = ix;
        ix = iy;
        iy = ti;
    }
    g_assert_cmpint(ipop__addr_parse("10.42.0.0/24", &subnet), ==, 0);
    ipop__group_auto_addr(&subnet, ipop__identity_node_id(ix), 0, &first);
    ipop__group_auto_addr(&subnet, ipop__identity_node_id(ix), 1, &second);
    g_assert_false(ipop__addr_equal_host(&first, &second));
    g_assert_cmpint(first.prefix, ==, 24);
    g_assert_cmpint(first.bytes[3], !=, 0);
    g_assert_cmpint(first.bytes[3], !=, 255);
    ipop__addr_format(&first, first_text, sizeof(first_text));

    /* y takes x's first choice as its static address */
    member(&y, "e", "pe", NULL, "sesame");
    g_assert_cmpint(ipop_network_set_option(y.net, "identity.file", path_y), ==, 0);
    g_assert_cmpint(ipop_network_set_option(y.net, "address", first_text), ==, 0);
    member(&x, "a", "pa", NULL, "sesame");
    g_assert_cmpint(ipop_network_set_option(x.net, "identity.file", path_x), ==, 0);
    g_assert_cmpint(ipop_network_set_option(x.net, "group.subnet", "10.42.0.0/24"), ==, 0);
    g_assert_cmpint(ipop_network_get_address(x.net, AF_INET, now, sizeof(now)), ==, -ENOENT);
    g_assert_cmpint(ipop_network_start(x.net), ==, 0);
    g_assert_cmpint(ipop_network_get_address(x.net, AF_INET, now, sizeof(now)), ==, 0);
    g_assert_cmpstr(now, ==, first_text);
    g_assert_cmpint(ipop_network_get_address(x.net, AF_INET6, now, sizeof(now)), ==, -ENOENT);
    g_assert_cmpint(ipop_network_start(y.net), ==, 0);
    /* x moves to its second choice, and the link is up with it */
    ipop__addr_format(&second, text, sizeof(text));
    for (int i = 0; i < 1200; i++) {
        ipop_network_get_address(x.net, AF_INET, now, sizeof(now));
        if (!strcmp(now, text) && link_state(&x, &y) == IPOP_LINK_CONNECTED && link_state(&y, &x) == IPOP_LINK_CONNECTED)
            break;
        g_usleep(50000);
    }
    g_assert_cmpstr(now, ==, text);
    g_assert_true(wait_link(&y, &x, IPOP_LINK_CONNECTED, 30));
    {
        char *bare = g_strndup(text, strcspn(text, "/"));
        x.addr4 = bare;
        y.addr4 = g_strndup(first_text, strcspn(first_text, "/"));
        x.peer = &y;
        y.peer = &x;
        blast(&y, &x, AF_INET, 300);
        blast(&x, &y, AF_INET, 300);
        g_free((char *)y.addr4);
        g_free(bare);
    }
    node_clear(&x);
    node_clear(&y);
    ipop__identity_free(ix);
    ipop__identity_free(iy);
    g_free(path_x);
    g_free(path_y);
}

/* A peer that goes silent (its loop stalls: nothing it gets is answered)
 * makes a link that is used fail (an idle link notices nothing: nothing to
 * tell, doc/scale.md); when it is back, the link comes back by itself, with
 * no call from the host. */
static void test_silent_peer(void)
{
    node a, b;
    ipop_link_stats_t st = { .size = sizeof(st) };
    bool failed = false;

    member(&a, "a", "pa", "10.43.0.1", "sesame");
    member(&b, "b", "pb", "10.43.0.2", "sesame");
    a.peer = &b;
    b.peer = &a;
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    g_assert_cmpint(ipop_network_start(b.net), ==, 0);
    g_assert_true(wait_link(&a, &b, IPOP_LINK_CONNECTED, 60));
    g_main_context_invoke(b.net->ctx, stall_loop, GUINT_TO_POINTER(15000));
    {
        guint8 pkt[100];
        size_t len = build_packet(pkt, AF_INET, "10.43.0.1", "10.43.0.2", 1, sizeof(pkt));
        g_assert_cmpint(ipop_network_send_packet(a.net, pkt, len), ==, 0);
    }
    for (int i = 0; i < 40 * 20 && !failed; i++) {
        failed = link_state(&a, &b) == IPOP_LINK_FAILED;
        g_usleep(50000);
    }
    g_assert_true(failed);
    ipop_link_get_stats(ipop_network_get_link(a.net, ipop_network_get_node_id(b.net)), &st);
    g_test_message("link failed: %s", ipop_reason_str(st.reason));
    g_assert_true(wait_link(&a, &b, IPOP_LINK_CONNECTED, 90));
    g_assert_true(wait_link(&b, &a, IPOP_LINK_CONNECTED, 30));
    blast(&a, &b, AF_INET, 300);
    node_clear(&b);
    node_clear(&a);
}

/* ---- member relay ---- */

static ipop_link_stats_t stats_of(node *from, node *to)
{
    ipop_link_stats_t st = { .size = sizeof(st) };
    ipop_link_t *l = ipop_network_get_link(from->net, ipop_network_get_node_id(to->net));

    if (l)
        g_assert_cmpint(ipop_link_get_stats(l, &st), ==, 0);
    return st;
}

/* from's count of packets it relayed for `to`, once it stopped moving: the
 * relay counts a packet after it passed it on, so the receiver may have it
 * a moment before the count does. */
static guint64 settled_relayed(node *from, node *to)
{
    guint64 last = stats_of(from, to).relayed_packets, now;

    for (int i = 0; i < 100 * test_time_factor(); i++) {
        g_usleep(20000);
        now = stats_of(from, to).relayed_packets;
        if (now == last)
            return now;
        last = now;
    }
    return last;
}

/* from reaches to through member via, as its stats say. */
static bool relayed_by(node *from, node *to, node *via)
{
    ipop_link_stats_t st = stats_of(from, to);

    return st.state != IPOP_LINK_CONNECTED && st.local_path == IPOP_PATH_MEMBER &&
           st.remote_path == IPOP_PATH_MEMBER && !strcmp(st.relay_id, ipop_network_get_node_id(via->net));
}

/* a and c have no address family in common (ICE only on 127.0.0.1, only on
 * ::1), so their link cannot come up; b has both, and links with each.
 * Packets between a and c go through b, in both directions; b counts them;
 * a packet that a sends with another member's source address is dropped at
 * c and counted there; forged relay frames (to nobody, back to the sender,
 * RELAYED in a member's name) are dropped and counted by b. */
static void test_member_relay(void)
{
    node a, b, c;
    ipop_link_stats_t st, ab0, cb0;
    ipop_network_stats_t ns = { .size = sizeof(ns) };
    guint8 pkt[200];
    guint64 drops_before, received_before, b_drops;
    gint64 t0;
    int i;

    member_on(&a, "a", "pa", "10.44.0.1", "127.0.0.1");
    member_on(&b, "b", "pb", "10.44.0.2", "127.0.0.1");
    g_assert_cmpint(ipop_network_set_option(b.net, "ice.local-address", "::1"), ==, 0);
    member_on(&c, "c", "pc", "10.44.0.3", "::1");
    /* the direct link gives up sooner than by default: the test need not wait 30 s */
    g_assert_cmpint(ipop_network_set_option(a.net, "link.timeout", "5"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(c.net, "link.timeout", "5"), ==, 0);
    t0 = g_get_monotonic_time();
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    g_assert_cmpint(ipop_network_start(b.net), ==, 0);
    g_assert_cmpint(ipop_network_start(c.net), ==, 0);
    /* Three XMPP logins at once: under ASan (slow unwinding on every
     * malloc) OpenSSL's loading of the CA bundle alone took over a minute. */
    g_assert_true(wait_link(&a, &b, IPOP_LINK_CONNECTED, 150));
    g_assert_true(wait_link(&c, &b, IPOP_LINK_CONNECTED, 60));
    for (i = 0; i < 60 * 20 && !(relayed_by(&a, &c, &b) && relayed_by(&c, &a, &b)); i++)
        g_usleep(50000);
    st = stats_of(&a, &c);
    g_test_message("a to c: %s (%s), path %s via %.8s, after %.0f ms", ipop_link_state_str(st.state),
                   ipop_reason_str(st.reason), ipop_path_type_str(st.local_path), st.relay_id,
                   (g_get_monotonic_time() - t0) / 1000.0);
    g_assert_true(relayed_by(&a, &c, &b));
    g_assert_true(relayed_by(&c, &a, &b));
    /* the direct link really did not come up: ICE failed or timed out */
    g_assert_cmpint(st.state, !=, IPOP_LINK_CONNECTED);
    g_assert_cmpstr(ipop_path_type_str(IPOP_PATH_MEMBER), ==, "member");
    /* links that are up say nothing of relays */
    st = stats_of(&a, &b);
    g_assert_cmpstr(st.relay_id, ==, "");
    g_assert_cmpint(st.local_path, !=, IPOP_PATH_MEMBER);

    /* for the record: the same blast direct (a to b) and relayed (a to c) */
    a.peer = &b;
    t0 = g_get_monotonic_time();
    blast(&a, &b, AF_INET, 0);
    g_test_message("a to b, direct: %.0f packets/s", N_PACKETS * 1e6 / (double)(g_get_monotonic_time() - t0));
    ab0 = stats_of(&b, &a);
    cb0 = stats_of(&b, &c);
    ab0.relayed_packets = settled_relayed(&b, &a);
    cb0.relayed_packets = settled_relayed(&b, &c);
    a.peer = &c;
    c.peer = &a;
    t0 = g_get_monotonic_time();
    blast(&a, &c, AF_INET, 0); /* every packet arrives, intact (sizes 64 to IPOP_DEFAULT_MTU) */
    g_test_message("a to c, through b: %.0f packets/s", N_PACKETS * 1e6 / (double)(g_get_monotonic_time() - t0));
    blast(&c, &a, AF_INET, 0);
    /* counted as traffic between a and c, relayed by b */
    g_assert_cmpuint(stats_of(&a, &c).tx_packets, >=, N_PACKETS);
    g_assert_cmpuint(stats_of(&c, &a).rx_packets, >=, N_PACKETS);
    g_assert_cmpuint(stats_of(&c, &a).tx_packets, >=, N_PACKETS);
    g_assert_cmpuint(stats_of(&a, &c).rx_packets, >=, N_PACKETS);
    g_assert_cmpuint(settled_relayed(&b, &a) - ab0.relayed_packets, ==, N_PACKETS);
    g_assert_cmpuint(settled_relayed(&b, &c) - cb0.relayed_packets, ==, N_PACKETS);
    g_assert_cmpint(ipop_network_get_stats(b.net, &ns), ==, 0);
    g_assert_cmpuint(ns.relayed_packets, >=, 2 * N_PACKETS);
    b_drops = ns.relay_drops;
    g_test_message("b relayed %llu packets, dropped %llu", (unsigned long long)ns.relayed_packets,
                   (unsigned long long)b_drops);
    /* b is not reached through anyone: it only relays */
    g_assert_cmpuint(stats_of(&b, &a).rx_packets, ==, ab0.rx_packets);

    /* a sends as if it were b: b relays it (b cannot know), c drops it */
    drops_before = stats_of(&c, &a).rx_drops;
    g_mutex_lock(&c.lock);
    received_before = c.received;
    g_mutex_unlock(&c.lock);
    build_packet(pkt, AF_INET, "10.44.0.2", "10.44.0.3", 7, sizeof(pkt));
    g_assert_cmpint(ipop_network_send_packet(a.net, pkt, sizeof(pkt)), ==, 0);
    for (i = 0; i < 200 && stats_of(&c, &a).rx_drops == drops_before; i++)
        g_usleep(50000);
    g_assert_cmpuint(stats_of(&c, &a).rx_drops, ==, drops_before + 1);
    g_mutex_lock(&c.lock);
    g_assert_cmpuint(c.received, ==, received_before);
    g_mutex_unlock(&c.lock);

    /* Frames a member could forge on its own link to b (a, here, through the
     * internal send call): each is dropped and counted, none delivered. */
    {
        ipop_link_t *ab = ipop_network_get_link(a.net, ipop_network_get_node_id(b.net));
        uint8_t id_a[8], id_c[8], nobody[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, rec[300];
        ipop_link_stats_t ba0 = stats_of(&b, &a);
        guint64 b_rx = stats_of(&b, &c).rx_packets;
        int n;

        g_assert_cmpint(ipop__short_id(ipop_network_get_node_id(a.net), id_a), ==, 0);
        g_assert_cmpint(ipop__short_id(ipop_network_get_node_id(c.net), id_c), ==, 0);
        build_packet(pkt, AF_INET, "10.44.0.1", "10.44.0.3", 8, sizeof(pkt));
        /* RELAY to a node b does not know, and back to a itself: b cannot relay */
        n = ipop__frame_put_relay(rec, sizeof(rec), IPOP__FRAME_RELAY, nobody, pkt, sizeof(pkt));
        g_assert_cmpint(ipop__dtls_send_record(ab, rec, (size_t)n), ==, 0);
        n = ipop__frame_put_relay(rec, sizeof(rec), IPOP__FRAME_RELAY, id_a, pkt, sizeof(pkt));
        g_assert_cmpint(ipop__dtls_send_record(ab, rec, (size_t)n), ==, 0);
        for (i = 0; i < 200 && stats_of(&b, &a).relay_drops < ba0.relay_drops + 2; i++)
            g_usleep(50000);
        g_assert_cmpuint(stats_of(&b, &a).relay_drops, ==, ba0.relay_drops + 2);
        g_assert_cmpuint(stats_of(&b, &a).relayed_packets, ==, ba0.relayed_packets);
        /* RELAYED as if c had sent it through a: b's own link to c is up, so
         * b takes nothing from c through anyone (and a RELAYED frame is
         * never relayed on) */
        build_packet(pkt, AF_INET, "10.44.0.3", "10.44.0.2", 9, sizeof(pkt));
        n = ipop__frame_put_relay(rec, sizeof(rec), IPOP__FRAME_RELAYED, id_c, pkt, sizeof(pkt));
        g_assert_cmpint(ipop__dtls_send_record(ab, rec, (size_t)n), ==, 0);
        /* RELAYED naming a, the sender itself */
        n = ipop__frame_put_relay(rec, sizeof(rec), IPOP__FRAME_RELAYED, id_a, pkt, sizeof(pkt));
        g_assert_cmpint(ipop__dtls_send_record(ab, rec, (size_t)n), ==, 0);
        for (i = 0; i < 200 && stats_of(&b, &a).rx_drops < ba0.rx_drops + 2; i++)
            g_usleep(50000);
        g_assert_cmpuint(stats_of(&b, &a).rx_drops, ==, ba0.rx_drops + 2);
        g_assert_cmpuint(stats_of(&b, &c).rx_packets, ==, b_rx);
        g_assert_cmpuint(stats_of(&b, &a).rx_packets, ==, ba0.rx_packets);
    }

    node_clear(&c);
    node_clear(&b);
    node_clear(&a);
}

/* A member forging RELAYED frames (issue 13, point 5): a and c cannot
 * link directly and go through b; d is linked with b and c, not with a.
 * d names a as the origin of RELAYED frames on its own link to c: before,
 * c delivered them as a's packets (a's direct link was down); now c takes
 * a's relayed packets only from b, the member both pick, and drops and
 * counts d's (relay_refused).  b's relaying goes on. */
static void test_forged_relayed(void)
{
    node a, b, c, d;
    ipop_network_stats_t ns0 = { .size = sizeof(ns0) }, ns = { .size = sizeof(ns) };
    ipop_link_t *dc;
    uint8_t id_a[8], rec[300];
    guint8 pkt[200];
    ipop_link_stats_t ca0, cd0;
    guint64 received0;
    int i, n;

    member_on(&a, "a", "pa", "10.45.0.1", "127.0.0.1");
    member_on(&b, "b", "pb", "10.45.0.2", "127.0.0.1");
    g_assert_cmpint(ipop_network_set_option(b.net, "ice.local-address", "::1"), ==, 0);
    member_on(&c, "c", "pc", "10.45.0.3", "::1");
    member_on(&d, "d", "pd", "10.45.0.4", "::1");
    g_assert_cmpint(ipop_network_set_option(a.net, "link.timeout", "5"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(c.net, "link.timeout", "5"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(d.net, "link.timeout", "5"), ==, 0);
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    g_assert_cmpint(ipop_network_start(b.net), ==, 0);
    g_assert_cmpint(ipop_network_start(c.net), ==, 0);
    g_assert_cmpint(ipop_network_start(d.net), ==, 0);
    g_assert_true(wait_link(&a, &b, IPOP_LINK_CONNECTED, 150));
    g_assert_true(wait_link(&c, &b, IPOP_LINK_CONNECTED, 60));
    g_assert_true(wait_link(&c, &d, IPOP_LINK_CONNECTED, 60));
    for (i = 0; i < 60 * 20 && !(relayed_by(&a, &c, &b) && relayed_by(&c, &a, &b)); i++)
        g_usleep(50000);
    g_assert_true(relayed_by(&a, &c, &b));
    g_assert_true(relayed_by(&c, &a, &b));

    /* d's forgery: a packet from a's address, "relayed from a". */
    g_assert_cmpint(ipop_network_get_stats(c.net, &ns0), ==, 0);
    ca0 = stats_of(&c, &a);
    cd0 = stats_of(&c, &d);
    g_mutex_lock(&c.lock);
    received0 = c.received;
    g_mutex_unlock(&c.lock);
    dc = ipop_network_get_link(d.net, ipop_network_get_node_id(c.net));
    g_assert_cmpint(ipop__short_id(ipop_network_get_node_id(a.net), id_a), ==, 0);
    build_packet(pkt, AF_INET, "10.45.0.1", "10.45.0.3", 5, sizeof(pkt));
    n = ipop__frame_put_relay(rec, sizeof(rec), IPOP__FRAME_RELAYED, id_a, pkt, sizeof(pkt));
    for (i = 0; i < 3; i++)
        g_assert_cmpint(ipop__dtls_send_record(dc, rec, (size_t)n), ==, 0);
    for (i = 0; i < 200 && stats_of(&c, &d).rx_drops < cd0.rx_drops + 3; i++)
        g_usleep(50000);
    g_assert_cmpuint(stats_of(&c, &d).rx_drops, ==, cd0.rx_drops + 3);
    g_assert_cmpint(ipop_network_get_stats(c.net, &ns), ==, 0);
    g_assert_cmpuint(ns.relay_refused, ==, ns0.relay_refused + 3);
    g_assert_cmpuint(stats_of(&c, &a).rx_packets, ==, ca0.rx_packets);
    g_mutex_lock(&c.lock);
    g_assert_cmpuint(c.received, ==, received0);
    g_mutex_unlock(&c.lock);

    /* The genuine relay still carries a's packets to c, and back. */
    a.peer = &c;
    c.peer = &a;
    blast(&a, &c, AF_INET, 300);
    blast(&c, &a, AF_INET, 300);
    g_assert_cmpint(ipop_network_get_stats(c.net, &ns), ==, 0);
    g_assert_cmpuint(ns.relay_refused, ==, ns0.relay_refused + 3);

    node_clear(&d);
    node_clear(&c);
    node_clear(&b);
    node_clear(&a);
}

/* ---- stopping the overlay while its sweep runs ---- */

/* ipop_network_stop() stops the overlay from the host's thread right after
 * the links said goodbye, while the loop's thread runs the overlay's sweep
 * once a second.  The overlay must not be freed under a sweep in progress.
 * The log line of a departed member comes from inside the sweep: it holds
 * the sweep there while the test stops the overlay. */
static struct {
    GMutex lock;
    GCond cond;
    ipop_network_t *net;        /* whose sweep to hold */
    bool in_sweep;              /* the sweep is held in the log callback */
    bool stopped;               /* ipop__overlay_stop() returned */
    bool done;                  /* the callback returned to the sweep */
    bool freed_under_sweep;     /* ... after ipop__overlay_stop() returned */
} race;

static void race_log(ipop_log_level_t level, ipop_network_t *net, const char *line, void *ud)
{
    gint64 end = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;

    if (net != race.net || !g_str_has_prefix(line, "group member ") || !g_str_has_suffix(line, " left"))
        return;
    g_mutex_lock(&race.lock);
    race.in_sweep = true;
    g_cond_broadcast(&race.cond);
    /* With the stop waiting for the sweep, this waits the 2 s out. */
    while (!race.stopped && g_cond_wait_until(&race.cond, &race.lock, end))
        ;
    race.freed_under_sweep = race.stopped;
    race.done = true;
    g_cond_broadcast(&race.cond);
    g_mutex_unlock(&race.lock);
}

static void test_stop_during_sweep(void)
{
    node a, b;
    gint64 end;

    member(&a, "a", "pa", "10.44.0.1", "sesame");
    member(&b, "b", "pb", "10.44.0.2", "sesame");
    a.peer = &b;
    b.peer = &a;
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    g_assert_cmpint(ipop_network_start(b.net), ==, 0);
    g_assert_true(wait_link(&a, &b, IPOP_LINK_CONNECTED, 60));
    race.net = a.net;
    ipop_set_log_cb(race_log, IPOP_LOG_INFO, NULL);
    /* b leaves: a's sweep drops it 5 s later, and is held there */
    g_assert_cmpint(ipop_network_stop(b.net), ==, 0);
    end = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    g_mutex_lock(&race.lock);
    while (!race.in_sweep && g_cond_wait_until(&race.cond, &race.lock, end))
        ;
    g_assert_true(race.in_sweep);
    g_mutex_unlock(&race.lock);

    ipop__overlay_stop(a.net); /* what ipop_network_stop() does after the goodbyes */
    g_mutex_lock(&race.lock);
    race.stopped = true;
    g_cond_broadcast(&race.cond);
    end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (!race.done && g_cond_wait_until(&race.cond, &race.lock, end))
        ;
    g_assert_true(race.done);
    g_assert_false(race.freed_under_sweep);
    g_mutex_unlock(&race.lock);
    test_log_to_stderr(IPOP_LOG_INFO);

    /* the network stops and frees cleanly without its overlay */
    node_clear(&b);
    node_clear(&a);
}

int main(int argc, char **argv)
{
    static const char *const users[] = { "a:pa", "b:pb", "c:pc", "d:pd", "e:pe", NULL };
    int r;

    g_test_init(&argc, &argv, NULL);
    test_log_to_stderr(IPOP_LOG_INFO);
    test_prosody_start(&srv, users);
    dir = srv.dir;
    port = srv.port;
    g_test_add_func("/group/members", test_group);
    g_test_add_func("/group/hostile", test_hostile);
    g_test_add_func("/group/occupant-flood", test_occupant_flood);
    g_test_add_func("/group/address-claim", test_address_claim);
    g_test_add_func("/group/names", test_names);
    g_test_add_func("/group/auto-address", test_auto_address);
    g_test_add_func("/group/silent-peer", test_silent_peer);
    g_test_add_func("/group/member-relay", test_member_relay);
    g_test_add_func("/group/forged-relayed", test_forged_relayed);
    g_test_add_func("/group/stop-during-sweep", test_stop_during_sweep);
    r = g_test_run();
    test_prosody_free(&srv);
    return r;
}
