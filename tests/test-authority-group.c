/* SPDX-License-Identifier: MIT */
/* GroupVPN with an authority, over a real prosody started by the test:
 * members with certificates of the group's authority link; a member without
 * one, or showing one that expired, that another authority signed, or that
 * names another node, gets no link and is reported; a member whose
 * revocation list is published loses every link within 10 s while the
 * others keep theirs; a member using an address outside its certificate is
 * refused.  Members run in this process. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "authority.h"
#include "identity.h"
#include "network.h"
#include "sigauth.h"
#include "loop.h"
#include "pair.h"
#include "prosody.h"
#include "testutil.h"

#define ROOM "authority@rooms.ipop.test"

static test_prosody srv;
static char *tmp;
static ipop__authority_secret ca, other_ca;
static char ca_pub[IPOP__AUTHORITY_PUB_TEXT_LEN + 1];
static uint64_t next_serial = 1;

/* ---- what the members logged ---- */

static GMutex log_lock;
static GPtrArray *lines;

static void on_log(ipop_log_level_t level, ipop_network_t *net, const char *line, void *ud)
{
    g_mutex_lock(&log_lock);
    g_ptr_array_add(lines, g_strdup_printf("%s: %s", net ? ipop_network_get_node_id(net) : "-", line));
    g_mutex_unlock(&log_lock);
    if (level <= IPOP_LOG_INFO)
        fprintf(stderr, "[%.8s] %s\n", net ? ipop_network_get_node_id(net) : "-", line);
}

/* Whether a line logged by `at` holds both words. */
static bool logged(node *at, const char *w1, const char *w2)
{
    const char *id = ipop_network_get_node_id(at->net);
    bool found = false;

    g_mutex_lock(&log_lock);
    for (guint i = 0; i < lines->len && !found; i++) {
        const char *l = lines->pdata[i];
        found = g_str_has_prefix(l, id) && strstr(l, w1) && (!w2 || strstr(l, w2));
    }
    g_mutex_unlock(&log_lock);
    return found;
}

static bool wait_logged(node *at, const char *w1, const char *w2, int seconds)
{
    for (int i = 0; i < seconds * 20; i++) {
        if (logged(at, w1, w2))
            return true;
        g_usleep(50000);
    }
    return false;
}

/* ---- members ---- */

/* The node id of the identity file `name` in tmp (created on first use). */
static char *identity(const char *name, char **path)
{
    ipop__identity *id;
    char *node_id;

    *path = g_build_filename(tmp, name, NULL);
    g_assert_cmpint(ipop__identity_load(&id, *path), ==, 0);
    node_id = g_strdup(ipop__identity_node_id(id));
    ipop__identity_free(id);
    return node_id;
}

/* A certificate file for node, signed by s. */
static char *cert_file(const ipop__authority_secret *s, const char *node_id, const char *name, const char *addr,
                       int64_t issued, int64_t expires, uint64_t *serial)
{
    ipop__cert c = { .serial = next_serial++, .issued = issued, .expires = expires };
    char line[IPOP__CERT_MAX + 2], *path = g_strdup_printf("%s/%s-%" G_GUINT64_FORMAT ".cert", tmp, name, c.serial);

    g_strlcpy(c.node_id, node_id, sizeof(c.node_id));
    g_strlcpy(c.name, name, sizeof(c.name));
    g_assert_cmpint(ipop__addr_parse(addr, &c.addrs[0]), ==, 0);
    c.n_addrs = 1;
    g_assert_cmpint(ipop__cert_sign(&c, s, line, sizeof(line) - 1), >, 0);
    strcat(line, "\n");
    g_assert_true(g_file_set_contents(path, line, -1, NULL));
    if (serial)
        *serial = c.serial;
    return path;
}

static char *read_line(const char *path)
{
    char *text = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    return g_strchomp(text);
}

/* A member in the room: with the authority (cert set) or, without it, one
 * that knows only the room's key (what anyone can make of the public key). */
static void member(node *n, const char *user, const char *a4, const char *id_path, const char *cert,
                   const char *revocations)
{
    char *pass = g_strdup_printf("p%s", user);

    node_init(n, user, a4, NULL, "overlay", "group");
    g_assert_cmpint(ipop_network_set_option(n->net, "identity.file", id_path), ==, 0);
    test_prosody_login(&srv, n->net, user, pass);
    g_assert_cmpint(ipop_network_set_option(n->net, "group.room", ROOM), ==, 0);
    if (cert) {
        g_assert_cmpint(ipop_network_set_option(n->net, "group.authority", ca_pub), ==, 0);
        g_assert_cmpint(ipop_network_set_option(n->net, "group.certificate", cert), ==, 0);
    } else {
        char *room_key = g_strconcat("ipop-authority:", ca_pub, NULL);
        g_assert_cmpint(ipop_network_set_option(n->net, "group.secret", room_key), ==, 0);
        g_free(room_key);
    }
    if (revocations)
        g_assert_cmpint(ipop_network_set_option(n->net, "group.revocations", revocations), ==, 0);
    g_free(pass);
}

static int link_state(node *from, node *to)
{
    ipop_link_t *l = ipop_network_get_link(from->net, ipop_network_get_node_id(to->net));
    return l ? ipop_link_get_state(l) : IPOP_LINK_NEW;
}

static bool wait_link(node *from, node *to, int state, int seconds)
{
    for (int i = 0; i < seconds * 20; i++) {
        if (link_state(from, to) == state)
            return true;
        g_usleep(50000);
    }
    return false;
}

static bool wait_not_connected(node *from, node *to, int seconds)
{
    for (int i = 0; i < seconds * 20; i++) {
        if (link_state(from, to) != IPOP_LINK_CONNECTED)
            return true;
        g_usleep(50000);
    }
    return false;
}

/* ---- a member that shows a certificate not its own to give ---- */

typedef struct show {
    const char *to, *cert;
} show;

static void show_in_loop(ipop_network_t *net, void *data)
{
    show *s = data;
    ipop__msg *m = g_new0(ipop__msg, 1);

    m->type = IPOP__MSG_CERT;
    g_strlcpy(m->node_id, ipop_network_get_node_id(net), sizeof(m->node_id));
    g_strlcpy(m->cert, s->cert, sizeof(m->cert));
    ipop__sigauth_send(net, s->to, m); /* signed with its node key, as every message */
    g_free(m);
}

static void show_cert(node *from, node *to, const char *cert_path)
{
    char *line = read_line(cert_path);
    show s = { ipop_network_get_node_id(to->net), line };

    ipop__net_call(from->net, show_in_loop, &s);
    g_free(line);
}

/* ---- the tests ---- */

static void test_own_certificate(void)
{
    char *id_path, *self = identity("own", &id_path), *other_path, *other = identity("own-other", &other_path);
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    struct {
        char *cert;
        const char *addr;
        int err;
    } cases[] = {
        { cert_file(&ca, self, "own", "10.60.0.9/24", now - 20 * 86400, now - 10 * 86400, NULL), NULL, -EKEYEXPIRED },
        { cert_file(&other_ca, self, "own", "10.60.0.9/24", now, now + 86400, NULL), NULL, -EXDEV },
        { cert_file(&ca, other, "own", "10.60.0.9/24", now, now + 86400, NULL), NULL, -EINVAL },
        { cert_file(&ca, self, "own", "10.60.0.9/24", now, now + 86400, NULL), "10.60.0.8", -EADDRNOTAVAIL },
        { cert_file(&ca, self, "own", "10.60.0.9/24", now, now + 86400, NULL), "10.60.0.9", 0 },
        { g_build_filename(tmp, "missing.cert", NULL), NULL, -ENOENT },
    };
    char why[160];
    node n;

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        member(&n, "e", cases[i].addr, id_path, cases[i].cert, NULL);
        g_assert_cmpint(ipop_network_check(n.net, why, sizeof(why)), ==, 0);
        g_assert_cmpint(ipop_network_start(n.net), ==, cases[i].err);
        if (cases[i].err == 0) {
            /* The certificate's address, not another. */
            ipop_network_stop(n.net);
        }
        node_clear(&n);
        g_free(cases[i].cert);
    }
    /* Without an address, the certificate's is used. */
    {
        char *cert = cert_file(&ca, self, "own", "10.60.0.7/24", now, now + 86400, NULL);
        char text[64];
        member(&n, "e", NULL, id_path, cert, NULL);
        g_assert_cmpint(ipop_network_start(n.net), ==, 0);
        g_assert_cmpint(ipop_network_get_address(n.net, AF_INET, text, sizeof(text)), ==, 0);
        g_assert_cmpstr(text, ==, "10.60.0.7/24");
        node_clear(&n);
        g_free(cert);
    }
    /* The certificate names the node: option name may only repeat it. */
    {
        char *cert = cert_file(&ca, self, "Own", "10.60.0.7/24", now, now + 86400, NULL);
        member(&n, "e", NULL, id_path, cert, NULL);
        g_assert_cmpint(ipop_network_set_option(n.net, "name", "other"), ==, 0);
        g_assert_cmpint(ipop_network_start(n.net), ==, -EINVAL);
        g_assert_cmpint(ipop_network_set_option(n.net, "name", "own"), ==, 0);
        g_assert_cmpint(ipop_network_start(n.net), ==, 0);
        node_clear(&n);
        g_free(cert);
    }
    /* The whole-config rules. */
    node_init(&n, "e", NULL, NULL, "overlay", "group");
    g_assert_cmpint(ipop_network_set_option(n.net, "group.authority", "ed25519:short"), ==, -EINVAL);
    g_assert_cmpint(ipop_network_set_option(n.net, "xmpp.jid", "e@ipop.test"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(n.net, "xmpp.password", "pe"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(n.net, "group.room", ROOM), ==, 0);
    g_assert_cmpint(ipop_network_set_option(n.net, "group.certificate", "/x"), ==, 0);
    g_assert_cmpint(ipop_network_check(n.net, why, sizeof(why)), ==, -EINVAL);
    g_assert_cmpstr(why, ==, "group.authority: needed by group.certificate");
    g_assert_cmpint(ipop_network_set_option(n.net, "group.authority", ca_pub), ==, 0);
    g_assert_cmpint(ipop_network_check(n.net, why, sizeof(why)), ==, 0); /* no group.secret needed */
    node_clear(&n);
    g_free(self);
    g_free(other);
    g_free(id_path);
    g_free(other_path);
}

static void test_members(void)
{
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    char *pa, *pb, *pc, *ph, *pm;
    char *ida = identity("a", &pa), *idb = identity("b", &pb), *idc = identity("c", &pc), *idh = identity("h", &ph),
         *idm = identity("m", &pm);
    uint64_t serial_c;
    char *ca_a = cert_file(&ca, ida, "alice", "10.61.0.1/24", now, now + 86400, NULL);
    char *ca_b = cert_file(&ca, idb, "bob", "10.61.0.2/24", now, now + 86400, NULL);
    char *ca_c = cert_file(&ca, idc, "carol", "10.61.0.3/24", now, now + 86400, &serial_c);
    char *ca_m = cert_file(&ca, idm, "mallory", "10.61.0.5/24", now, now + 86400, NULL);
    char *expired_h = cert_file(&ca, idh, "henry", "10.61.0.4/24", now - 20 * 86400, now - 10 * 86400, NULL);
    char *foreign_h = cert_file(&other_ca, idh, "henry", "10.61.0.4/24", now, now + 86400, NULL);
    char *crl_path = g_build_filename(tmp, "revocations.crl", NULL);
    node a, b, c, h, m;
    gint64 t0;
    char h16[17], m16[17], c16[17]; /* reports name members by 16 chars of their id */

    g_strlcpy(h16, idh, sizeof(h16));
    g_strlcpy(m16, idm, sizeof(m16));
    g_strlcpy(c16, idc, sizeof(c16));
    /* Three members with certificates: all link. */
    member(&a, "a", "10.61.0.1", pa, ca_a, crl_path);
    member(&b, "b", "10.61.0.2", pb, ca_b, NULL);
    member(&c, "c", "10.61.0.3", pc, ca_c, NULL);
    t0 = g_get_monotonic_time();
    g_assert_cmpint(ipop_network_start(a.net), ==, 0);
    g_assert_cmpint(ipop_network_start(b.net), ==, 0);
    g_assert_cmpint(ipop_network_start(c.net), ==, 0);
    g_assert_true(wait_link(&a, &b, IPOP_LINK_CONNECTED, 60));
    g_assert_true(wait_link(&a, &c, IPOP_LINK_CONNECTED, 60));
    g_assert_true(wait_link(&b, &c, IPOP_LINK_CONNECTED, 60));
    g_assert_true(wait_link(&b, &a, IPOP_LINK_CONNECTED, 30));
    g_assert_true(wait_link(&c, &a, IPOP_LINK_CONNECTED, 30));
    g_assert_true(wait_link(&c, &b, IPOP_LINK_CONNECTED, 30));
    g_test_message("three certified members linked in %.0f ms", (g_get_monotonic_time() - t0) / 1000.0);
    g_assert_true(logged(&a, "is \"bob\"", NULL));
    /* Their certificates name them: that is the name each signals. */
    {
        char text[64];
        ipop_link_stats_t st = { .size = sizeof(st) };
        g_assert_cmpint(ipop_network_resolve(a.net, "bob", AF_INET, text, sizeof(text)), ==, 0);
        g_assert_cmpstr(text, ==, "10.61.0.2");
        g_assert_cmpint(ipop_network_resolve(b.net, "carol", AF_INET, text, sizeof(text)), ==, 0);
        g_assert_cmpstr(text, ==, "10.61.0.3");
        g_assert_cmpint(ipop_link_get_stats(ipop_network_get_link(c.net, ida), &st), ==, 0);
        g_assert_cmpstr(st.peer_name, ==, "alice");
    }
    a.peer = &b;
    blast(&a, &b, AF_INET, 200);

    /* h has no certificate: its offers are refused, it gets no link. */
    member(&h, "h", "10.61.0.4", ph, NULL, NULL);
    g_assert_cmpint(ipop_network_start(h.net), ==, 0);
    g_assert_true(wait_logged(&a, h16, "refused: no certificate", 30));
    g_assert_true(wait_logged(&b, h16, "refused: no certificate", 30));
    g_assert_true((a.refused_reasons & (1u << IPOP_REASON_NOT_CERTIFIED)) != 0);
    /* Then it shows an expired certificate, one of another authority, and
     * one of another node (c's). */
    show_cert(&h, &a, expired_h);
    g_assert_true(wait_logged(&a, h16, "refused: certificate expired", 10));
    show_cert(&h, &a, foreign_h);
    g_assert_true(wait_logged(&a, h16, "refused: certificate of another authority", 10));
    show_cert(&h, &a, ca_c);
    g_assert_true(wait_logged(&a, h16, "refused: certificate of another node", 10));
    g_assert_cmpint(link_state(&a, &h), !=, IPOP_LINK_CONNECTED);
    g_assert_cmpint(link_state(&b, &h), !=, IPOP_LINK_CONNECTED);
    g_assert_cmpint(link_state(&c, &h), !=, IPOP_LINK_CONNECTED);
    /* No link object at all on the certified side. */
    g_assert_null(ipop_network_get_link(a.net, idh));
    g_assert_null(ipop_network_get_link(b.net, idh));
    node_clear(&h);

    /* m has a certificate for 10.61.0.5 and uses 10.61.0.6: refused. */
    member(&m, "m", "10.61.0.5", pm, ca_m, NULL);
    g_assert_cmpint(ipop_network_start(m.net), ==, 0);
    {
        ipop_network_t *net = m.net;
        g_mutex_lock(&net->lock);
        g_assert_cmpint(ipop__addr_parse("10.61.0.6/24", &net->addr4), ==, 0); /* as a modified program would */
        g_mutex_unlock(&net->lock);
    }
    g_assert_true(wait_logged(&a, m16, "address outside its certificate", 30));
    g_assert_true(wait_logged(&b, m16, "address outside its certificate", 30));
    g_usleep(2 * G_USEC_PER_SEC);
    g_assert_cmpint(link_state(&a, &m), !=, IPOP_LINK_CONNECTED);
    g_assert_cmpint(link_state(&b, &m), !=, IPOP_LINK_CONNECTED);
    node_clear(&m);

    /* m, certified as "mallory", signals b's name: refused and counted,
     * and "bob" stays b's. */
    member(&m, "m", "10.61.0.5", pm, ca_m, NULL);
    g_assert_cmpint(ipop_network_start(m.net), ==, 0);
    g_strlcpy(m.net->own_name, "bob", sizeof(m.net->own_name)); /* as a modified program would (before its first offer) */
    {
        ipop_network_stats_t st = { .size = sizeof(st) };
        char text[64];
        g_assert_true(wait_logged(&a, m16, "name other than its certificate's", 30));
        g_assert_cmpint(ipop_network_get_stats(a.net, &st), ==, 0);
        g_assert_cmpuint(st.signal_refused, >, 0);
        g_assert_cmpint(link_state(&a, &m), !=, IPOP_LINK_CONNECTED);
        g_assert_cmpint(ipop_network_resolve(a.net, "bob", AF_INET, text, sizeof(text)), ==, 0);
        g_assert_cmpstr(text, ==, "10.61.0.2");
    }
    node_clear(&m);

    /* c is revoked: the list is given to a only, as a file.  Every link of
     * c goes within 10 s (b learns of the list from a), a and b keep
     * theirs. */
    {
        ipop__crl l = { .serial = 1, .issued = now, .n_serials = 1, .serials = { serial_c } };
        char line[IPOP__CRL_MAX + 2];
        g_assert_cmpint(ipop__crl_sign(&l, &ca, line, sizeof(line) - 1), >, 0);
        strcat(line, "\n");
        t0 = g_get_monotonic_time();
        g_assert_true(g_file_set_contents(crl_path, line, -1, NULL));
    }
    g_assert_true(wait_not_connected(&a, &c, 10));
    g_assert_true(wait_not_connected(&b, &c, 10));
    g_assert_true(wait_not_connected(&c, &a, 10));
    g_assert_true(wait_not_connected(&c, &b, 10));
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 10 * G_USEC_PER_SEC);
    g_test_message("a revoked member lost every link %.0f ms after the list was published",
                   (g_get_monotonic_time() - t0) / 1000.0);
    g_assert_true(logged(&b, "revocation list 1 adopted", NULL));
    g_assert_true(logged(&b, c16, "refused: certificate revoked"));
    /* and it stays out */
    g_usleep(3 * G_USEC_PER_SEC);
    g_assert_cmpint(link_state(&a, &c), !=, IPOP_LINK_CONNECTED);
    g_assert_cmpint(link_state(&b, &c), !=, IPOP_LINK_CONNECTED);
    g_assert_cmpint(link_state(&a, &b), ==, IPOP_LINK_CONNECTED);
    g_assert_cmpint(link_state(&b, &a), ==, IPOP_LINK_CONNECTED);
    blast(&a, &b, AF_INET, 200);
    /* The same list again changes nothing. */
    g_assert_cmpint(ipop_network_reload_revocations(a.net), ==, 0);
    g_assert_cmpint(ipop_network_reload_revocations(b.net), ==, -ENOENT);

    node_clear(&c);
    node_clear(&b);
    node_clear(&a);
    g_free(ida), g_free(idb), g_free(idc), g_free(idh), g_free(idm);
    g_free(pa), g_free(pb), g_free(pc), g_free(ph), g_free(pm);
    g_free(ca_a), g_free(ca_b), g_free(ca_c), g_free(ca_m), g_free(expired_h), g_free(foreign_h);
    g_free(crl_path);
}

int main(int argc, char **argv)
{
    static const char *const users[] = { "a:pa", "b:pb", "c:pc", "e:pe", "h:ph", "m:pm", NULL };
    int r;

    g_test_init(&argc, &argv, NULL);
    /* libstrophe writes with send() without MSG_NOSIGNAL: a server that
     * closed a session of a member just stopped would kill the test. */
    signal(SIGPIPE, SIG_IGN);
    lines = g_ptr_array_new_with_free_func(g_free);
    ipop_set_log_cb(on_log, IPOP_LOG_DEBUG, NULL);
    test_prosody_start(&srv, users);
    tmp = g_dir_make_tmp("ipop-authority-XXXXXX", NULL);
    g_assert_cmpint(ipop__authority_generate(&ca), ==, 0);
    g_assert_cmpint(ipop__authority_generate(&other_ca), ==, 0);
    ipop__authority_key_format(&ca.pub, ca_pub, sizeof(ca_pub));
    g_test_add_func("/authority-group/own-certificate", test_own_certificate);
    g_test_add_func("/authority-group/members", test_members);
    r = g_test_run();
    test_prosody_free(&srv);
    {
        char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
        g_assert_cmpint(system(cmd), ==, 0);
        g_free(cmd);
    }
    return r;
}
