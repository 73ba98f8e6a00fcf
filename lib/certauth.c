/* SPDX-License-Identifier: MIT */
/* GroupVPN with an authority (see certauth.h): certificates exchanged and
 * checked before links, revocation lists adopted and passed on, links of
 * revoked or expired members closed. */
#include "certauth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authority.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "network.h"
#include "names.h"
#include "peers.h"
#include "sigauth.h"

#define PEERS_MAX 4096                    /* members remembered */
#define HELLO_EVERY_US (3 * G_USEC_PER_SEC) /* a request for a member's certificate at most this often */
#define REPLY_EVERY_US (G_USEC_PER_SEC / 2) /* an answer to one member at most this often */
#define TELL_EVERY_US (60 * G_USEC_PER_SEC) /* "no certificate" reported per member at most this often */
#define TICK_MS 1000
#define FILE_MAX (IPOP__CRL_MAX + 2)

G_STATIC_ASSERT(IPOP__CERT_MAX == IPOP__SIGNAL_CERT_MAX);
G_STATIC_ASSERT(IPOP__CRL_MAX == IPOP__SIGNAL_CRL_MAX);

typedef enum { PEER_UNKNOWN, PEER_CERTIFIED, PEER_REFUSED } peer_state;

typedef struct peer {
    peer_state state;
    ipop__cert cert;             /* CERTIFIED: its certificate; REFUSED: the refused one, if it decoded */
    int err;                     /* REFUSED: why */
    gint64 hello_at;             /* when we last asked for its certificate with ours (monotonic) */
    gint64 reply_at;             /* when we last answered its request */
    gint64 told_at;              /* when we last reported a refusal of its messages (tell()) */
    int told_err;                /* and which */
} peer;

struct ipop__certauth {
    ipop_network_t *net;
    ipop__authority_key key;
    char cert_text[IPOP__CERT_MAX + 1];
    ipop__cert cert;             /* ours */
    bool own_bad;                /* ours is revoked or expired: no links */
    char *crl_file;
    struct stat crl_stat;        /* of the file when last read */
    bool crl_read;
    ipop__crl crl;               /* the newest list, serial 0 when none */
    char crl_text[IPOP__CRL_MAX + 1];
    GHashTable *peers;           /* node id -> peer */
    GSource *tick;
};

static int64_t now_s(void)
{
    return g_get_real_time() / G_USEC_PER_SEC;
}

static const char *why(int err)
{
    switch (err) {
    case -ENOENT: return "no certificate";
    case -EINVAL: return "not a certificate";
    case -EXDEV: return "certificate of another authority";
    case -EBADMSG: return "certificate with a bad signature";
    case -EACCES: return "certificate of another node";
    case -ESTALE: return "certificate expired";
    case -EAGAIN: return "certificate not yet valid";
    case -EKEYREVOKED: return "certificate revoked";
    case -EADDRNOTAVAIL: return "address outside its certificate";
    case -EPERM: return "name other than its certificate's";
    case -ENETUNREACH: return "route outside its certificate";
    default: return "certificate refused";
    }
}

/* A whole small file, NUL-terminated.  Returns its length or -errno. */
static int read_small(const char *path, char *buf, size_t size, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), r;
    size_t len = 0;
    ssize_t n;

    if (fd < 0)
        return -errno;
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -EINVAL;
    }
    while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) != 0) {
        if (n < 0 && errno != EINTR) {
            close(fd);
            return -EIO;
        }
        if (n > 0)
            len += (size_t)n;
    }
    r = len + 1 >= size ? -EMSGSIZE : (int)len;
    close(fd);
    buf[len] = '\0';
    return r;
}

/* A certificate line, checked for `node` now: 0 or the refusal. */
static int check_cert(ipop__certauth *ca, const char *text, const char *node, ipop__cert *c)
{
    int r = ipop__cert_verify(c, text, strlen(text), &ca->key);

    if (r == 0)
        r = ipop__cert_check(c, node, now_s());
    if (r == 0 && ca->crl.serial && ipop__crl_revokes(&ca->crl, c))
        r = -EKEYREVOKED;
    return r;
}

/* ---- start ---- */

static int own_addresses(ipop_network_t *net, ipop__certauth *ca)
{
    const ipop__addr *have[2] = { &net->addr4, &net->addr6 };

    for (int i = 0; i < 2; i++) {
        if (have[i]->family && !ipop__cert_allows_addr(&ca->cert, have[i])) {
            char text[64];
            ipop__addr_format(have[i], text, sizeof(text));
            ipop__err(net, "address %s is not one of this node's certificate (group.certificate)", text);
            return -EADDRNOTAVAIL;
        }
    }
    /* Without a configured address, the certificate's first of each family. */
    for (unsigned i = 0; i < ca->cert.n_addrs; i++) {
        ipop__addr *a = ca->cert.addrs[i].family == AF_INET ? &net->addr4 : &net->addr6;
        if (!a->family)
            *a = ca->cert.addrs[i];
    }
    return 0;
}

static int load_crl_file(ipop__certauth *ca, bool at_start);

/* The certificate's name (when it is a valid name) is this node's: the
 * option "name" may only repeat it. */
static int own_name(ipop_network_t *net, ipop__certauth *ca)
{
    char name[IPOP__NAME_MAX + 1];

    if (!ca->cert.name[0] || ipop__name_normalize(ca->cert.name, name) < 0)
        return 0;
    if (net->name_opt[0] && strcmp(net->name_opt, name)) {
        ipop__err(net, "option name %s: this node's certificate (group.certificate) names it %s", net->name_opt,
                  name);
        return -EINVAL;
    }
    g_strlcpy(net->own_name, name, sizeof(net->own_name));
    return 0;
}

/* The option "routes" may announce only what the certificate allows. */
static int own_routes(ipop_network_t *net, ipop__certauth *ca)
{
    char text[64] = "";

    for (unsigned i = 0; i < net->n_routes_opt; i++)
        if (!ipop__cert_allows_route(&ca->cert, &net->routes_opt[i])) {
            ipop__addr_format(&net->routes_opt[i], text, sizeof(text));
            ipop__err(net, "option routes: %s is not inside a route of this node's certificate (group.certificate)",
                      text);
            return -EINVAL;
        }
    return 0;
}

static int load_own(ipop_network_t *net, ipop__certauth *ca)
{
    struct stat st;
    int r = read_small(net->group_certificate, ca->cert_text, sizeof(ca->cert_text), &st);

    if (r < 0) {
        ipop__err(net, "group.certificate %s: %s", net->group_certificate, ipop_strerror(r));
        return r == -EMSGSIZE ? -EINVAL : r;
    }
    g_strchomp(ca->cert_text);
    r = check_cert(ca, ca->cert_text, net->node_id, &ca->cert);
    if (r == -EACCES)
        ipop__err(net, "group.certificate %s is for node %s, and this node is %s: sign one for this node "
                  "(ipop-authority sign --node-id %s)", net->group_certificate, ca->cert.node_id, net->node_id,
                  net->node_id);
    else if (r < 0)
        ipop__err(net, "group.certificate %s: %s", net->group_certificate, why(r));
    if (r == -ESTALE || r == -EAGAIN)
        r = -EKEYEXPIRED;
    if (r == -EACCES)
        r = -EINVAL; /* -EACCES means a device right to ipop_network_start()'s callers */
    if (r == 0)
        r = own_name(net, ca);
    if (r == 0)
        r = own_routes(net, ca);
    return r < 0 ? r : own_addresses(net, ca);
}

void ipop__certauth_free(ipop__certauth *ca)
{
    if (!ca)
        return;
    g_hash_table_unref(ca->peers);
    g_free(ca->crl_file);
    g_free(ca);
}

/* Without group.secret, group.c's room authentication is keyed with the
 * authority's public key: it proves nothing (the key is public), and needs
 * not to: the certificates are the proof. */
static void derive_secret(ipop_network_t *net)
{
    if (net->group_secret && !net->group_secret_derived)
        return;
    g_free(net->group_secret);
    net->group_secret = g_strconcat("ipop-authority:", net->group_authority, NULL);
    net->group_secret_derived = true;
}

int ipop__certauth_load(ipop_network_t *net)
{
    ipop__certauth *ca;
    int r;

    g_clear_pointer(&net->certauth, ipop__certauth_free);
    if (!net->group_authority || net->overlay != OVERLAY_GROUP)
        return 0;
    derive_secret(net);
    ca = g_new0(ipop__certauth, 1);
    ca->net = net;
    ca->peers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    ca->crl_file = g_strdup(net->group_revocations);
    r = ipop__authority_key_parse(net->group_authority, &ca->key);
    if (r == 0 && ca->crl_file)
        r = load_crl_file(ca, true); /* before our own: it may revoke it */
    if (r == 0)
        r = load_own(net, ca);
    if (r < 0) {
        ipop__certauth_free(ca);
        return r;
    }
    ipop__info(net, "group authority %s: this node is \"%s\", certificate %" G_GUINT64_FORMAT, ca->key.id,
               ca->cert.name, ca->cert.serial);
    net->certauth = ca;
    return 0;
}

/* ---- messages out ---- */

/* Our certificate: a request for the member's (ack false: it answers with
 * its own), or the answer to one (ack true: no answer to it).  Each kind
 * is rate-limited per member, and an answer never asks again, so two
 * members cannot keep each other busy. */
static void send_hello(ipop__certauth *ca, const char *node, peer *p, bool ack)
{
    gint64 now = g_get_monotonic_time(), *at = ack ? &p->reply_at : &p->hello_at;
    ipop__msg *m;

    if (ca->own_bad || (*at && now - *at < (ack ? REPLY_EVERY_US : HELLO_EVERY_US)))
        return;
    *at = now;
    m = g_new0(ipop__msg, 1);
    m->type = IPOP__MSG_CERT;
    g_strlcpy(m->node_id, ca->net->node_id, sizeof(m->node_id));
    g_strlcpy(m->cert, ca->cert_text, sizeof(m->cert));
    m->cert_ack = ack;
    m->crl_serial = ca->crl.serial;
    ipop__sigauth_send(ca->net, node, m);
    g_free(m);
}

static void send_crl(ipop__certauth *ca, const char *node)
{
    ipop__msg *m;

    if (!ca->crl.serial)
        return;
    m = g_new0(ipop__msg, 1);
    m->type = IPOP__MSG_CRL;
    g_strlcpy(m->node_id, ca->net->node_id, sizeof(m->node_id));
    g_strlcpy(m->crl, ca->crl_text, sizeof(m->crl));
    ipop__sigauth_send(ca->net, node, m);
    g_free(m);
}

/* ---- members ---- */

static peer *peer_get(ipop__certauth *ca, const char *node)
{
    peer *p = g_hash_table_lookup(ca->peers, node);

    if (p || g_hash_table_size(ca->peers) >= PEERS_MAX)
        return p;
    p = g_new0(peer, 1);
    g_hash_table_insert(ca->peers, g_strdup(node), p);
    return p;
}

static void report(ipop__certauth *ca, const char *node, int err, const char *name)
{
    char detail[200];

    snprintf(detail, sizeof(detail), "group member %.16s%s%s%s refused: %s", node, name ? " (" : "",
             name ? name : "", name ? ")" : "", why(err));
    ipop__peers_refused(ca->net, node, IPOP_EVENT_PEER_REFUSED, IPOP_REASON_NOT_CERTIFIED, err, detail);
}

/* A member lost its certificate (revoked, expired): its link closes now. */
static void cut(ipop__certauth *ca, const char *node, peer *p, int err)
{
    ipop_link_t *link = ipop__peers_link(ca->net, node);

    p->state = PEER_REFUSED;
    p->err = err;
    report(ca, node, err, p->cert.name);
    if (link)
        ipop__link_shutdown(link, IPOP_REASON_NOT_CERTIFIED, true);
}

static void cut_all(ipop__certauth *ca, int err)
{
    GPtrArray *links = ipop__peers_links(ca->net);

    ipop__err(ca->net, "this node's certificate %" G_GUINT64_FORMAT " is %s: every link closes",
              ca->cert.serial, err == -EKEYREVOKED ? "revoked" : "expired");
    ca->own_bad = true;
    for (guint i = 0; i < links->len; i++)
        ipop__link_shutdown(links->pdata[i], IPOP_REASON_NOT_CERTIFIED, true);
    g_ptr_array_unref(links);
}

/* After a newer list or at a tick: members (and we) whose certificate
 * is revoked or expired lose their links. */
static void recheck(ipop__certauth *ca)
{
    int64_t now = now_s();
    GHashTableIter it;
    gpointer k, v;
    int r;

    if (!ca->own_bad) {
        r = ipop__cert_check(&ca->cert, ca->net->node_id, now);
        if (r == 0 && ca->crl.serial && ipop__crl_revokes(&ca->crl, &ca->cert))
            r = -EKEYREVOKED;
        if (r < 0)
            cut_all(ca, r);
    }
    g_hash_table_iter_init(&it, ca->peers);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        peer *p = v;
        if (p->state != PEER_CERTIFIED)
            continue;
        r = ipop__cert_check(&p->cert, k, now);
        if (r == 0 && ca->crl.serial && ipop__crl_revokes(&ca->crl, &p->cert))
            r = -EKEYREVOKED;
        if (r < 0)
            cut(ca, k, p, r);
    }
}

/* ---- revocation lists ---- */

/* A list from `from` (a member, or NULL for the file).  1 when adopted. */
static int adopt(ipop__certauth *ca, const char *text, const char *from)
{
    ipop__crl *l = g_new(ipop__crl, 1);
    GHashTableIter it;
    gpointer k, v;
    int r = ipop__crl_decode(l, text, strlen(text));

    /* Cheap checks first: an older or equal list costs no signature check. */
    if (r == 0 && l->serial <= ca->crl.serial) {
        r = 0;
        goto out;
    }
    r = r < 0 ? r : ipop__crl_verify(l, text, strlen(text), &ca->key);
    if (r < 0) {
        ipop__warn(ca->net, "revocation list from %.16s refused: %s", from ? from : ca->crl_file,
                   r == -EXDEV ? "another authority's" : r == -EBADMSG ? "bad signature" : "malformed");
        if (from)
            __atomic_fetch_add(&ca->net->bad_messages, 1, __ATOMIC_RELAXED);
        goto out;
    }
    ipop__info(ca->net, "revocation list %" G_GUINT64_FORMAT " adopted (from %.16s): %u serials, %u nodes",
               l->serial, from ? from : "the file", l->n_serials, l->n_nodes);
    ca->crl = *l;
    g_strlcpy(ca->crl_text, text, sizeof(ca->crl_text));
    recheck(ca);
    /* Passed on to every certified member: one member with the file is
     * enough for the whole group. */
    g_hash_table_iter_init(&it, ca->peers);
    while (g_hash_table_iter_next(&it, &k, &v))
        if (((peer *)v)->state == PEER_CERTIFIED && (!from || strcmp(k, from) != 0))
            send_crl(ca, k);
    r = 1;
out:
    g_free(l);
    return r;
}

static int load_crl_file(ipop__certauth *ca, bool at_start)
{
    char *text = g_malloc(FILE_MAX + 1);
    struct stat st;
    int r = read_small(ca->crl_file, text, FILE_MAX + 1, &st);

    if (r == -ENOENT && at_start) {
        ipop__info(ca->net, "group.revocations %s does not exist yet: it is read when it does", ca->crl_file);
        r = 0;
        goto out;
    }
    if (r < 0)
        goto out;
    if (ca->crl_read && st.st_ino == ca->crl_stat.st_ino && st.st_size == ca->crl_stat.st_size &&
        st.st_mtim.tv_sec == ca->crl_stat.st_mtim.tv_sec && st.st_mtim.tv_nsec == ca->crl_stat.st_mtim.tv_nsec) {
        r = 0; /* unchanged */
        goto out;
    }
    ca->crl_stat = st;
    ca->crl_read = true;
    g_strchomp(text);
    r = adopt(ca, text, NULL);
    if (r < 0 && at_start)
        ipop__err(ca->net, "group.revocations %s holds no revocation list of this authority", ca->crl_file);
    else if (r < 0)
        r = 0; /* a list being rewritten, or a wrong one: the one we hold stays */
out:
    g_free(text);
    return r;
}

int ipop__certauth_reload(ipop_network_t *net)
{
    ipop__certauth *ca = net->certauth;

    if (!ca || !ca->crl_file)
        return -ENOENT;
    ca->crl_read = false;
    return load_crl_file(ca, false);
}

/* ---- the hooks ---- */

bool ipop__certauth_may_link(ipop_network_t *net, const char *node)
{
    ipop__certauth *ca = net->certauth;
    peer *p;

    if (!ca)
        return true;
    if (ca->own_bad)
        return false;
    p = peer_get(ca, node);
    if (!p)
        return false;
    if (p->state == PEER_CERTIFIED)
        return true;
    if (p->state == PEER_UNKNOWN)
        send_hello(ca, node, p, false);
    return false;
}

static void on_cert(ipop__certauth *ca, const ipop__msg *m, peer *p)
{
    ipop__cert c;
    bool was = p->state == PEER_CERTIFIED;
    int r = check_cert(ca, m->cert, m->node_id, &c);

    if (r < 0) {
        /* Reported once per certificate, not once per message. */
        if (p->state != PEER_REFUSED || p->cert.serial != c.serial || p->err != r)
            report(ca, m->node_id, r, c.serial ? c.name : NULL);
        if (was)
            cut(ca, m->node_id, p, r);
        p->state = PEER_REFUSED;
        p->cert = c;
        p->err = r;
        return;
    }
    p->state = PEER_CERTIFIED;
    p->cert = c;
    if (!m->cert_ack)
        send_hello(ca, m->node_id, p, true); /* it asked for ours */
    if (m->crl_serial < ca->crl.serial)
        send_crl(ca, m->node_id);
    if (was)
        return;
    ipop__info(ca->net, "group member %.8s is \"%s\" (certificate %" G_GUINT64_FORMAT ")", m->node_id, c.name,
               c.serial);
    /* The room said it is there (it is allowed): link now. */
    ipop__peers_connect(ca->net, m->node_id, NULL);
}

/* Whether a refusal of a member's message is news: another than the last
 * reported, or that one over a minute ago. */
static bool news(peer *p, int err)
{
    return !p->told_at || g_get_monotonic_time() - p->told_at >= TELL_EVERY_US || p->told_err != err;
}

/* Refusals repeated by a member's resent messages: reported once a minute
 * (a refusal for another reason at once). */
static void tell(ipop__certauth *ca, const char *node, peer *p, int err)
{
    if (!news(p, err))
        return;
    p->told_at = g_get_monotonic_time();
    p->told_err = err;
    report(ca, node, err, p->state == PEER_CERTIFIED ? p->cert.name : NULL);
}

/* As tell(), and counted (signal_refused) even when not reported. */
static void tell_counted(ipop__certauth *ca, const char *node, peer *p, int err)
{
    if (!news(p, err))
        __atomic_fetch_add(&ca->net->bad_messages, 1, __ATOMIC_RELAXED);
    else
        tell(ca, node, p, err);
}

/* An offer or answer: its addresses must be the certificate's. */
static bool addresses_ok(ipop__certauth *ca, const ipop__msg *m, peer *p)
{
    if ((m->addr4.family && !ipop__cert_allows_addr(&p->cert, &m->addr4)) ||
        (m->addr6.family && !ipop__cert_allows_addr(&p->cert, &m->addr6))) {
        tell(ca, m->node_id, p, -EADDRNOTAVAIL);
        return false;
    }
    return true;
}

/* An offer or answer: each route it announces lies inside one of the
 * certificate's. */
static bool routes_ok(ipop__certauth *ca, const ipop__msg *m, peer *p)
{
    for (unsigned i = 0; i < m->n_routes; i++)
        if (!ipop__cert_allows_route(&p->cert, &m->routes[i])) {
            __atomic_fetch_add(&ca->net->routes_refused, 1, __ATOMIC_RELAXED);
            tell_counted(ca, m->node_id, p, -ENETUNREACH);
            return false;
        }
    return true;
}

/* An offer or answer: a certificate that names its member (a valid name,
 * lowercased) gives the only name it may signal, and the name of one that
 * signals none. */
static bool name_ok(ipop__certauth *ca, ipop__msg *m, peer *p)
{
    char name[IPOP__NAME_MAX + 1];

    if (!p->cert.name[0] || ipop__name_normalize(p->cert.name, name) < 0)
        return true; /* nothing to match: its own name stands */
    if (!m->name[0]) {
        g_strlcpy(m->name, name, sizeof(m->name));
        return true;
    }
    if (strcmp(m->name, name)) {
        tell_counted(ca, m->node_id, p, -EPERM);
        return false;
    }
    return true;
}

bool ipop__certauth_filter(ipop_network_t *net, ipop__msg *m)
{
    ipop__certauth *ca = net->certauth;
    bool authority_msg = m->type == IPOP__MSG_CERT || m->type == IPOP__MSG_CRL;
    peer *p;

    if (!ca)
        return authority_msg; /* nothing of ours: dropped */
    p = peer_get(ca, m->node_id);
    if (!p)
        return true; /* too many members to remember: refuse rather than forget */
    if (m->type == IPOP__MSG_CRL) {
        adopt(ca, m->crl, m->node_id);
        return true;
    }
    if (ca->own_bad)
        return true;
    if (m->type == IPOP__MSG_CERT) {
        on_cert(ca, m, p);
        return true;
    }
    if (p->state != PEER_CERTIFIED) {
        if (p->state == PEER_UNKNOWN && m->type == IPOP__MSG_OFFER) {
            tell(ca, m->node_id, p, -ENOENT);
            send_hello(ca, m->node_id, p, false); /* ask for its certificate: ours may have come first */
        }
        return true;
    }
    if (m->type == IPOP__MSG_OFFER || m->type == IPOP__MSG_ANSWER)
        return !addresses_ok(ca, m, p) || !name_ok(ca, m, p) || !routes_ok(ca, m, p);
    return false;
}

/* ---- the tick ---- */

static gboolean on_tick(gpointer data)
{
    ipop__certauth *ca = data;

    if (ca->crl_file)
        load_crl_file(ca, false);
    recheck(ca);
    return G_SOURCE_CONTINUE;
}

void ipop__certauth_start(ipop_network_t *net)
{
    if (net->certauth)
        net->certauth->tick = ipop__net_timeout(net, TICK_MS, on_tick, net->certauth);
}

static void detach(ipop_network_t *net, void *data)
{
    if (net->certauth)
        ipop__source_clear(&net->certauth->tick);
}

void ipop__certauth_stop(ipop_network_t *net)
{
    if (net->certauth)
        ipop__net_call(net, detach, NULL);
}

static void reload_in_loop(ipop_network_t *net, void *data)
{
    *(int *)data = ipop__certauth_reload(net);
}

IPOP_EXPORT int ipop_network_reload_revocations(ipop_network_t *net)
{
    int r = -ENOENT;

    if (!net)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    ipop__net_call(net, reload_in_loop, &r);
    return r;
}
