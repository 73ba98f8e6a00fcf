/* SPDX-License-Identifier: MIT */
/* The public network object: options, lifecycle, the loop (the library's
 * thread, the host's GLib context, or the host's own loop through an epoll
 * fd), the signalling pump, and the packet path between the device or the
 * application and the links. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <glib-unix.h>
#include <gnutls/crypto.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ipop/ipop-glib.h"
#include "internal.h"
#include "log.h"
#include "netmon.h"
#include "offload.h"
#include "overlay.h"
#include "peers.h"
#include "relay.h"
#include "sigauth.h"
#include "rewrite.h"
#include "stun.h"
#include "tun-linux.h"

void ipop__identity_set_verify(gnutls_certificate_credentials_t cred);

#define DEV_BURST 64 /* device reads per wakeup, so links and timers get their turn */
#define DEV_BURST_PACKETS 256 /* and packets sent, when a read gives many (TUN offloads) */
/* A virtio_net_hdr and the largest IPv6 packet (a payload length of 64 KB). */
#define GSOBUF_SIZE (IPOP__VNET_HLEN + IPOP__ETH_HLEN + 40 + 65535)

/* ---- small helpers ---- */

GSource *ipop__net_timeout(ipop_network_t *net, guint ms, GSourceFunc fn, void *data)
{
    GSource *src = ms ? g_timeout_source_new(ms) : g_idle_source_new();

    /* Work we queue is not background work: at idle priority it waits for
     * as long as any socket source of libnice's stays ready. */
    g_source_set_priority(src, G_PRIORITY_DEFAULT);
    g_source_set_callback(src, fn, data, NULL);
    g_source_attach(src, net->ctx);
    return src;
}

void ipop__source_clear(GSource **src)
{
    if (*src) {
        g_source_destroy(*src);
        g_source_unref(*src);
        *src = NULL;
    }
}

static bool parse_bool(const char *v, bool *out)
{
    if (!g_ascii_strcasecmp(v, "true") || !strcmp(v, "1") || !g_ascii_strcasecmp(v, "yes")) {
        *out = true;
        return true;
    }
    if (!g_ascii_strcasecmp(v, "false") || !strcmp(v, "0") || !g_ascii_strcasecmp(v, "no")) {
        *out = false;
        return true;
    }
    return false;
}

static bool parse_uint(const char *v, unsigned min, unsigned max, unsigned *out)
{
    guint64 n;

    if (!g_ascii_string_to_unsigned(v, 10, min, max, &n, NULL))
        return false;
    *out = (unsigned)n;
    return true;
}

/* "host:port" or "[v6]:port". */
static bool parse_hostport(const char *v, char **host, guint *port)
{
    const char *colon;
    unsigned p;

    if (v[0] == '[') {
        const char *end = strchr(v, ']');
        if (!end || end[1] != ':' || end == v + 1)
            return false;
        if (!parse_uint(end + 2, 1, 65535, &p))
            return false;
        *host = g_strndup(v + 1, (gsize)(end - v - 1));
    } else {
        colon = strrchr(v, ':');
        if (!colon || colon == v || memchr(v, ':', (size_t)(colon - v)))
            return false;
        if (!parse_uint(colon + 1, 1, 65535, &p))
            return false;
        *host = g_strndup(v, (gsize)(colon - v));
    }
    *port = p;
    return true;
}

static void relay_free(gpointer p)
{
    relay_server *t = p;
    g_free(t->host);
    g_free(t->user);
    if (t->pass)
        memset(t->pass, 0, strlen(t->pass));
    g_free(t->pass);
    g_free(t);
}

static void stun_free(gpointer p)
{
    stun_server *s = p;
    g_free(s->host);
    g_free(s);
}

/* "turn:user:pass@host:port?transport=udp|tcp" */
static relay_server *parse_turn(const char *v)
{
    relay_server *t;
    const char *at, *colon, *q;
    char *hostport;
    bool ok;

    if (!g_str_has_prefix(v, "turn:"))
        return NULL;
    v += 5;
    at = strrchr(v, '@');
    colon = strchr(v, ':');
    if (!at || !colon || colon > at || colon == v)
        return NULL;
    t = g_new0(relay_server, 1);
    t->user = g_strndup(v, (gsize)(colon - v));
    t->pass = g_strndup(colon + 1, (gsize)(at - colon - 1));
    t->type = NICE_RELAY_TYPE_TURN_UDP;
    q = strchr(at + 1, '?');
    hostport = q ? g_strndup(at + 1, (gsize)(q - at - 1)) : g_strdup(at + 1);
    ok = parse_hostport(hostport, &t->host, &t->port);
    g_free(hostport);
    if (ok && q) {
        if (!strcmp(q, "?transport=udp"))
            t->type = NICE_RELAY_TYPE_TURN_UDP;
        else if (!strcmp(q, "?transport=tcp"))
            t->type = NICE_RELAY_TYPE_TURN_TCP;
        else
            ok = false;
    }
    if (!ok) {
        relay_free(t);
        return NULL;
    }
    return t;
}

static bool resolve(const char *host, char out[64])
{
    struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res = NULL;
    bool ok;

    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return false;
    ok = getnameinfo(res->ai_addr, res->ai_addrlen, out, 64, NULL, 0, NI_NUMERICHOST) == 0;
    freeaddrinfo(res);
    return ok;
}

/* ---- the mailbox: work handed to the loop thread ---- */

typedef void (*mail_fn)(ipop_network_t *net, void *data);
typedef struct mail {
    mail_fn fn;
    void *data;
    GDestroyNotify free;
} mail;

static gboolean on_mail(gpointer p)
{
    ipop_network_t *net = p;
    GQueue q = G_QUEUE_INIT;
    mail *m;

    g_mutex_lock(&net->mail_lock);
    q = net->mail;
    g_queue_init(&net->mail);
    g_source_unref(net->mail_src);
    net->mail_src = NULL;
    g_mutex_unlock(&net->mail_lock);
    while ((m = g_queue_pop_head(&q))) {
        m->fn(net, m->data);
        if (m->free)
            m->free(m->data);
        g_free(m);
    }
    return G_SOURCE_REMOVE;
}

static void post(ipop_network_t *net, mail_fn fn, void *data, GDestroyNotify free_fn)
{
    mail *m = g_new(mail, 1);

    m->fn = fn;
    m->data = data;
    m->free = free_fn;
    g_mutex_lock(&net->mail_lock);
    g_queue_push_tail(&net->mail, m);
    if (!net->mail_src && net->ctx) {
        net->mail_src = g_idle_source_new();
        g_source_set_priority(net->mail_src, G_PRIORITY_DEFAULT);
        g_source_set_callback(net->mail_src, on_mail, net, NULL);
        g_source_attach(net->mail_src, net->ctx);
    }
    g_mutex_unlock(&net->mail_lock);
    /* GLib wakes a context only when some thread owns it; a host that polls
     * our fd (loop=external) owns it only inside ipop_network_process(). */
    if (net->ctx)
        g_main_context_wakeup(net->ctx);
}

void ipop__net_post(ipop_network_t *net, void (*fn)(ipop_network_t *net, void *data), void *data,
                    GDestroyNotify free_fn)
{
    post(net, fn, data, free_fn);
}

static void drop_mail(ipop_network_t *net)
{
    mail *m;

    g_mutex_lock(&net->mail_lock);
    ipop__source_clear(&net->mail_src);
    while ((m = g_queue_pop_head(&net->mail))) {
        if (m->free)
            m->free(m->data);
        g_free(m);
    }
    g_mutex_unlock(&net->mail_lock);
}

/* Runs fn in the loop thread and waits for it. */
typedef struct call {
    GMutex lock;
    GCond cond;
    bool done;
    mail_fn fn;
    void *data;
} call;

static void run_call(ipop_network_t *net, void *p)
{
    call *c = p;

    c->fn(net, c->data);
    g_mutex_lock(&c->lock);
    c->done = true;
    g_cond_signal(&c->cond);
    g_mutex_unlock(&c->lock);
}

void ipop__net_call(ipop_network_t *net, void (*fn)(ipop_network_t *net, void *data), void *data)
{
    call c = { .fn = fn, .data = data };

    if (g_main_context_is_owner(net->ctx)) {
        fn(net, data);
        return;
    }
    /* The library's own thread owns its context from its first moment:
     * never take it from under it.  A host loop may be borrowed while idle. */
    if (net->loop_mode != LOOP_THREAD && g_main_context_acquire(net->ctx)) {
        fn(net, data);
        g_main_context_release(net->ctx);
        return;
    }
    g_mutex_init(&c.lock);
    g_cond_init(&c.cond);
    post(net, run_call, &c, NULL);
    g_mutex_lock(&c.lock);
    while (!c.done)
        g_cond_wait(&c.cond, &c.lock);
    g_mutex_unlock(&c.lock);
    g_mutex_clear(&c.lock);
    g_cond_clear(&c.cond);
}

/* ---- events ---- */

typedef struct event_copy {
    ipop_event_t ev;
    char *peer, *detail;
} event_copy;

static void event_copy_free(gpointer p)
{
    event_copy *e = p;
    g_free(e->peer);
    g_free(e->detail);
    g_free(e);
}

static void emit_now(ipop_network_t *net, void *p)
{
    event_copy *e = p;

    if (net->event_cb)
        net->event_cb(net, &e->ev, net->event_ud);
}

/* Events always reach the host from the loop, at the top of a dispatch, so
 * that a callback may call back into the library freely. */
void ipop__net_emit_simple(ipop_network_t *net, ipop_event_type_t type, const char *peer,
                           ipop_link_t *link, ipop_reason_t reason, int error, const char *detail)
{
    event_copy *e;

    if (!net->event_cb)
        return;
    e = g_new0(event_copy, 1);
    e->peer = g_strdup(peer);
    e->detail = g_strdup(detail ? detail : "");
    e->ev.size = sizeof(e->ev);
    e->ev.type = type;
    e->ev.peer_id = e->peer;
    e->ev.link = link;
    e->ev.state = link ? (ipop_link_state_t)g_atomic_int_get(&link->state) : IPOP_LINK_NEW;
    e->ev.reason = reason;
    e->ev.error = error;
    e->ev.detail = e->detail;
    post(net, emit_now, e, event_copy_free);
}

void ipop__net_send_signal(ipop_network_t *net, const char *peer, const ipop__msg *m)
{
    char *buf = g_malloc(IPOP__SIGNAL_MAX + 1);
    int n = ipop__msg_encode(m, buf, IPOP__SIGNAL_MAX + 1);

    if (n >= 0)
        n = ipop__sigauth_seal(net, peer, buf, (size_t)n, IPOP__SIGNAL_MAX + 1); /* signed for peer */

    if (n < 0)
        ipop__err(net, "cannot encode a %s message: %s", ipop__msg_type_str(m->type), ipop_strerror(n));
    else if (net->ov)
        ipop__overlay_send(net, peer, buf);
    else if (net->signal_cb)
        net->signal_cb(net, peer, buf, net->signal_ud);
    g_free(buf);
}

/* ---- options ---- */

IPOP_EXPORT int ipop_network_new(ipop_network_t **ret, const char *name)
{
    ipop_network_t *net;

    if (!ret)
        return -EINVAL;
    net = g_new0(ipop_network_t, 1);
    net->name = g_strdup(name ? name : "ipop");
    net->stun = g_ptr_array_new_with_free_func(stun_free);
    net->turn = g_ptr_array_new_with_free_func(relay_free);
    net->local_addrs = g_ptr_array_new_with_free_func(g_free);
    net->link_timeout_s = 30;
    net->offload = true;
    net->xmpp_require_tls = true;
    net->dev_fd = -1;
    net->mon_fd = -1;
    net->stun_fd4 = net->stun_fd6 = -1;
    net->epoll_fd = -1;
    net->timeout_ms = -1;
    g_mutex_init(&net->lock);
    g_mutex_init(&net->mail_lock);
    g_queue_init(&net->mail);
    net->links = g_hash_table_new(g_str_hash, g_str_equal);
    net->link_list = g_ptr_array_new();
    net->allowed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    net->relay = ipop__relay_new();
    *ret = net;
    return 0;
}

static int bad_option(ipop_network_t *net, const char *key, const char *value, const char *why)
{
    ipop__err(net, "option %s: %s%s%s", key, why, value ? ": " : "", value ? value : "");
    return -EINVAL;
}

static void set_str(char **field, const char *value)
{
    if (*field)
        memset(*field, 0, strlen(*field));
    g_free(*field);
    *field = g_strdup(value);
}

/* A secret from a file: its first line, without the line end. */
static int read_secret(ipop_network_t *net, const char *key, const char *path, char **field)
{
    gchar *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return bad_option(net, key, path, "cannot read the file");
    text[strcspn(text, "\r\n")] = '\0';
    if (!*text) {
        g_free(text);
        return bad_option(net, key, path, "the file is empty");
    }
    set_str(field, text);
    memset(text, 0, strlen(text));
    g_free(text);
    return 0;
}

static int set_overlay_option(ipop_network_t *net, const char *key, const char *value)
{
    unsigned n;
    bool b;

    if (!strcmp(key, "overlay")) {
        if (!strcmp(value, "none"))
            net->overlay = OVERLAY_NONE;
        else if (!strcmp(value, "group"))
            net->overlay = OVERLAY_GROUP;
        else if (!strcmp(value, "social"))
            net->overlay = OVERLAY_SOCIAL;
        else
            return bad_option(net, key, value, "expected none, group or social");
    } else if (!strcmp(key, "xmpp.jid")) {
        const char *at = strchr(value, '@');
        if (!at || at == value || !at[1] || strchr(at + 1, '@') || strchr(value, '/') || strpbrk(value, " <>'\"&"))
            return bad_option(net, key, value, "expected user@domain");
        set_str(&net->xmpp_jid, value);
    } else if (!strcmp(key, "xmpp.password")) {
        set_str(&net->xmpp_password, value);
    } else if (!strcmp(key, "xmpp.password-file")) {
        return read_secret(net, key, value, &net->xmpp_password);
    } else if (!strcmp(key, "xmpp.server")) {
        if (!*value || strpbrk(value, " /"))
            return bad_option(net, key, value, "expected a host name or address");
        set_str(&net->xmpp_server, value);
    } else if (!strcmp(key, "xmpp.port")) {
        if (!parse_uint(value, 1, 65535, &n))
            return bad_option(net, key, value, "expected a port number");
        net->xmpp_port = n;
    } else if (!strcmp(key, "xmpp.require-tls")) {
        if (!parse_bool(value, &b))
            return bad_option(net, key, value, "expected true or false");
        net->xmpp_require_tls = b;
    } else if (!strcmp(key, "xmpp.server-fingerprint")) {
        size_t digits = 0;
        for (const char *p = value; *p; p++) {
            if (g_ascii_isxdigit(*p))
                digits++;
            else if (*p != ':')
                return bad_option(net, key, value, "expected a SHA-256 fingerprint in hex");
        }
        if (digits != 64)
            return bad_option(net, key, value, "expected a SHA-256 fingerprint in hex");
        set_str(&net->xmpp_fingerprint, value);
    } else if (!strcmp(key, "group.room")) {
        const char *at = strchr(value, '@');
        if (!at || at == value || !at[1] || strchr(value, '/') || strpbrk(value, " <>'\"&"))
            return bad_option(net, key, value, "expected room@service");
        set_str(&net->group_room, value);
    } else if (!strcmp(key, "group.secret")) {
        if (!*value)
            return bad_option(net, key, NULL, "empty secret");
        set_str(&net->group_secret, value);
    } else if (!strcmp(key, "group.secret-file")) {
        return read_secret(net, key, value, &net->group_secret);
    } else if (!strcmp(key, "group.subnet")) {
        ipop__addr a;
        if (ipop__addr_parse(value, &a) < 0 || !strchr(value, '/') ||
            (a.family == AF_INET ? a.prefix < 8 || a.prefix > 30 : a.prefix < 8 || a.prefix > 120))
            return bad_option(net, key, value, "expected an IPv4 subnet from /8 to /30, or an IPv6 one from /8 to /120");
        if (a.family == AF_INET)
            net->group_subnet4 = a;
        else
            net->group_subnet6 = a;
    } else if (!strcmp(key, "social.subnet")) {
        ipop__addr a;
        if (ipop__addr_parse(value, &a) < 0 || a.family != AF_INET || a.prefix < 8 || a.prefix > 30)
            return bad_option(net, key, value, "expected an IPv4 subnet from /8 to /30");
        net->social_subnet = a;
    } else if (!strcmp(key, "social.state-file")) {
        if (!*value)
            return bad_option(net, key, value, "empty path");
        set_str(&net->social_state_file, value);
    } else {
        return bad_option(net, key, NULL, "unknown option");
    }
    return 0;
}

static int check_overlay(ipop_network_t *net)
{
    if (net->overlay == OVERLAY_NONE)
        return 0;
    if (!net->xmpp_jid)
        return bad_option(net, "xmpp.jid", NULL, "needed by overlay=group");
    if (!net->xmpp_password)
        return bad_option(net, "xmpp.password", NULL, "needed by overlay=group");
    if (net->overlay == OVERLAY_SOCIAL) {
        if (!net->social_subnet.family)
            return bad_option(net, "social.subnet", NULL, "needed by overlay=social");
        if (!net->addr4.family)
            return bad_option(net, "address", NULL, "an IPv4 address is needed by overlay=social");
        if (net->mode == MODE_TAP)
            return bad_option(net, "mode", "tap", "overlay=social translates IP packets: use tun or none");
        return 0;
    }
    if (!net->group_room)
        return bad_option(net, "group.room", NULL, "needed by overlay=group");
    if (!net->group_secret)
        return bad_option(net, "group.secret", NULL, "needed by overlay=group");
    return 0;
}

IPOP_EXPORT int ipop_network_set_option(ipop_network_t *net, const char *key, const char *value)
{
    ipop__addr a;
    unsigned n;
    bool b;

    if (!net || !key)
        return -EINVAL;
    if (g_atomic_int_get(&net->running))
        return -EBUSY;
    if (!value)
        return bad_option(net, key, NULL, "no value");

    if (!strcmp(key, "mode")) {
        if (!strcmp(value, "none"))
            net->mode = MODE_NONE;
        else if (!strcmp(value, "tun"))
            net->mode = MODE_TUN;
        else if (!strcmp(value, "tap"))
            net->mode = MODE_TAP;
        else
            return bad_option(net, key, value, "expected none, tun or tap");
    } else if (!strcmp(key, "device")) {
        if (!*value || strlen(value) >= IFNAMSIZ || strchr(value, '/') || strchr(value, ' '))
            return bad_option(net, key, value, "not a device name");
        g_free(net->device_opt);
        net->device_opt = g_strdup(value);
    } else if (!strcmp(key, "device.offload")) {
        if (!parse_bool(value, &b))
            return bad_option(net, key, value, "expected true or false");
        net->offload = b;
    } else if (!strcmp(key, "address")) {
        if (ipop__addr_parse(value, &a) < 0)
            return bad_option(net, key, value, "expected an IPv4 or IPv6 address with prefix");
        if (a.family == AF_INET)
            net->addr4 = a;
        else
            net->addr6 = a;
    } else if (!strcmp(key, "mtu")) {
        if (!parse_uint(value, 576, IPOP_MAX_PACKET, &n))
            return bad_option(net, key, value, "expected a number from 576 to 1410");
        net->mtu = (int)n;
    } else if (!strcmp(key, "ice.stun")) {
        stun_server *s = g_new0(stun_server, 1);
        if (!parse_hostport(value, &s->host, &s->port)) {
            stun_free(s);
            return bad_option(net, key, value, "expected host:port");
        }
        g_ptr_array_add(net->stun, s);
    } else if (!strcmp(key, "ice.turn")) {
        relay_server *t = parse_turn(value);
        if (!t)
            return bad_option(net, key, value, "expected turn:user:pass@host:port?transport=udp|tcp");
        g_ptr_array_add(net->turn, t);
    } else if (!strcmp(key, "ice.local-address")) {
        if (ipop__addr_parse(value, &a) < 0 || strchr(value, '/'))
            return bad_option(net, key, value, "expected an IPv4 or IPv6 address without prefix");
        g_ptr_array_add(net->local_addrs, g_strdup(value));
    } else if (!strcmp(key, "ice.relay-only")) {
        if (!parse_bool(value, &b))
            return bad_option(net, key, value, "expected true or false");
        net->relay_only = b;
    } else if (!strcmp(key, "ice.tcp")) {
        if (!parse_bool(value, &b))
            return bad_option(net, key, value, "expected true or false");
        net->ice_tcp = b;
    } else if (!strcmp(key, "identity.file")) {
        if (!*value)
            return bad_option(net, key, value, "empty path");
        g_free(net->identity_file);
        net->identity_file = g_strdup(value);
        /* The node id is known before start when the file exists. */
        g_clear_pointer(&net->id, ipop__identity_free);
        net->node_id[0] = '\0';
        if (access(value, F_OK) == 0) {
            int r = ipop__identity_load(&net->id, value);
            if (r < 0)
                return bad_option(net, key, value, "cannot read the identity file");
            g_strlcpy(net->node_id, ipop__identity_node_id(net->id), sizeof(net->node_id));
        }
    } else if (!strcmp(key, "loop")) {
        if (!strcmp(value, "thread"))
            net->loop_mode = net->user_ctx ? LOOP_GLIB : LOOP_THREAD;
        else if (!strcmp(value, "external"))
            net->loop_mode = LOOP_EXTERNAL;
        else
            return bad_option(net, key, value, "expected thread or external");
    } else if (!strcmp(key, "signal.scope")) {
        if (strlen(value) > 256 || strpbrk(value, "\n\r"))
            return bad_option(net, key, value, "expected at most 256 characters on one line");
        set_str(&net->signal_scope, value);
    } else if (!strcmp(key, "link.timeout")) {
        if (!parse_uint(value, 1, 3600, &n))
            return bad_option(net, key, value, "expected seconds from 1 to 3600");
        net->link_timeout_s = n;
    } else if (g_str_has_prefix(key, "xmpp.") || g_str_has_prefix(key, "group.") || g_str_has_prefix(key, "social.") ||
               !strcmp(key, "overlay")) {
        return set_overlay_option(net, key, value);
    } else {
        return bad_option(net, key, NULL, "unknown option");
    }
    return 0;
}

IPOP_EXPORT int ipop_network_set_glib_context(ipop_network_t *net, GMainContext *context)
{
    if (!net)
        return -EINVAL;
    if (g_atomic_int_get(&net->running))
        return -EBUSY;
    if (net->user_ctx)
        g_main_context_unref(net->user_ctx);
    net->user_ctx = context ? g_main_context_ref(context) : NULL;
    net->loop_mode = context ? LOOP_GLIB : LOOP_THREAD;
    return 0;
}

IPOP_EXPORT int ipop_network_set_signal_cb(ipop_network_t *net, ipop_signal_cb cb, void *user_data)
{
    if (!net)
        return -EINVAL;
    if (g_atomic_int_get(&net->running))
        return -EBUSY;
    net->signal_cb = cb;
    net->signal_ud = user_data;
    return 0;
}

IPOP_EXPORT int ipop_network_set_packet_cb(ipop_network_t *net, ipop_packet_cb cb, void *user_data)
{
    if (!net)
        return -EINVAL;
    if (g_atomic_int_get(&net->running))
        return -EBUSY;
    net->packet_cb = cb;
    net->packet_ud = user_data;
    return 0;
}

IPOP_EXPORT int ipop_network_set_event_cb(ipop_network_t *net, ipop_event_cb cb, void *user_data)
{
    if (!net)
        return -EINVAL;
    if (g_atomic_int_get(&net->running))
        return -EBUSY;
    net->event_cb = cb;
    net->event_ud = user_data;
    return 0;
}

/* ---- the packet path ---- */

static int max_packet(ipop_network_t *net)
{
    return net->mode == MODE_TAP ? net->mtu + IPOP__ETH_HLEN : net->mtu;
}

static bool from_peer(const ipop_link_t *link, const ipop__addr *src)
{
    return (link->raddr4.family && ipop__addr_equal_host(&link->raddr4, src)) ||
           (link->raddr6.family && ipop__addr_equal_host(&link->raddr6, src));
}

/* Writes what net->gro holds to the device. */
static void gro_flush(ipop_network_t *net)
{
    size_t n = ipop__gro_finish(&net->gro);

    if (n && write(net->dev_fd, net->gro.buf, n) != (ssize_t)n)
        ipop__dbg(net, "device %s: a write failed: %s", net->dev_name, g_strerror(errno));
}

static gboolean on_gro_idle(gpointer data)
{
    ipop_network_t *net = data;

    gro_flush(net);
    g_source_unref(net->gro_src);
    net->gro_src = NULL;
    return G_SOURCE_REMOVE;
}

/* Device offloads, towards the device: consecutive in-order segments of one
 * TCP flow are merged (GRO) and written as one super-segment when a packet
 * that does not fit comes, when the merge is full, or when the loop has
 * nothing more to do (an idle source: it runs once the sockets are read
 * dry).  Anything else is written at once behind a zeroed virtio_net_hdr
 * (one whole packet, checksums done).  Returns false when a write failed. */
static bool gro_push(ipop_network_t *net, const uint8_t *pkt, size_t len)
{
    static const uint8_t vnet_none[IPOP__VNET_HLEN];
    struct iovec iov[2] = { { (void *)vnet_none, sizeof(vnet_none) }, { (void *)pkt, len } };

    if (net->gro.buf) {
        if (ipop__gro_add(&net->gro, pkt, len) || (gro_flush(net), ipop__gro_add(&net->gro, pkt, len))) {
            if (!net->gro_src && !net->serving) { /* serve_data() flushes at its end */
                net->gro_src = g_idle_source_new();
                g_source_set_priority(net->gro_src, G_PRIORITY_DEFAULT_IDLE);
                g_source_set_callback(net->gro_src, on_gro_idle, net, NULL);
                g_source_attach(net->gro_src, net->ctx);
            }
            return true;
        }
    }
    return writev(net->dev_fd, iov, 2) == (ssize_t)(len + sizeof(vnet_none));
}

/* A packet that came out of a link: checked against the peer's addresses,
 * then handed to the device or the application. */
void ipop__net_deliver(ipop_network_t *net, ipop_link_t *link, const uint8_t *pkt, size_t len)
{
    ipop__addr src, dst;

    if (net->mode == MODE_TAP) {
        const uint8_t *dmac, *smac;
        uint16_t type;
        int r;
        if (ipop__eth_parse(pkt, len, &dmac, &smac, &type) < 0 || (smac[0] & 1))
            goto drop;
        r = ipop__eth_ip_sender(pkt, len, &src);
        if (r < 0 || (r == 1 && !from_peer(link, &src)))
            goto drop;
        ipop__fwd_learn_mac(net->fwd, smac, link);
    } else if (ipop__ip_src_dst(pkt, len, &src, &dst) < 0 || !from_peer(link, &src)) {
        goto drop;
    } else if (link->alias4.family) {
        /* SocialVPN: the friend appears here at its alias (IPv4 only). */
        if (src.family != AF_INET)
            goto drop;
        ipop__ip4_rewrite((uint8_t *)pkt, len, true, link->alias4.bytes);
    }
    if (net->mode == MODE_NONE) {
        net->glib_due = true; /* the application's callbacks may call in */
        if (ipop__udp_deliver(net, link, pkt, len))
            return; /* for a UDP endpoint: delivered or dropped, and counted, by udp.c */
    } else if (net->vnet) {
        if (!gro_push(net, pkt, len))
            goto drop;
    } else if (write(net->dev_fd, pkt, len) != (ssize_t)len) {
        goto drop;
    }
    /* Counted before the callback, so that a host the callback wakes sees it. */
    __atomic_fetch_add(&link->rx_packets, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&link->rx_bytes, len, __ATOMIC_RELAXED);
    if (net->mode == MODE_NONE && net->packet_cb)
        net->packet_cb(net, pkt, len, net->packet_ud);
    return;
drop:
    __atomic_fetch_add(&link->rx_drops, 1, __ATOMIC_RELAXED);
}

/* TAP: broadcast and multicast frames are kept for a while (the last few,
 * HELD_US), so that a link coming up gets those it missed.  The kernel
 * asks for a new peer's MAC (ARP, IPv6 neighbour solicitation) as soon as
 * something is sent to it, which is before the link is up; unanswered, it
 * asks again only after its retransmission time (1 s by default), and
 * the first packets wait that long.  Under net->lock. */
#define HELD_US (5 * G_USEC_PER_SEC)

static void hold_flood(ipop_network_t *net, const uint8_t *frame, size_t len)
{
    __typeof__(net->held[0]) *h = &net->held[net->held_next];

    if (net->mode != MODE_TAP || len < IPOP__ETH_HLEN || !(frame[0] & 1))
        return; /* unknown unicast is not kept: a stale copy is no answer to anything */
    if (h->cap < len) {
        g_free(h->frame);
        h->cap = MAX(len, (size_t)max_packet(net));
        h->frame = g_malloc(h->cap);
    }
    memcpy(h->frame, frame, len);
    h->len = len;
    h->at = g_get_monotonic_time();
    net->held_next = (net->held_next + 1) % G_N_ELEMENTS(net->held);
}

static void held_clear(ipop_network_t *net)
{
    g_mutex_lock(&net->lock);
    for (guint i = 0; i < G_N_ELEMENTS(net->held); i++) {
        g_clear_pointer(&net->held[i].frame, g_free);
        net->held[i].at = 0;
        net->held[i].len = net->held[i].cap = 0;
    }
    net->held_next = 0;
    g_mutex_unlock(&net->lock);
}

void ipop__net_link_up(ipop_network_t *net, ipop_link_t *link)
{
    gint64 now = g_get_monotonic_time();
    unsigned sent = 0;

    if (net->mode != MODE_TAP)
        return;
    g_mutex_lock(&net->lock);
    /* oldest first, as they were sent */
    for (guint k = 0; k < G_N_ELEMENTS(net->held); k++) {
        __typeof__(net->held[0]) *h = &net->held[(net->held_next + k) % G_N_ELEMENTS(net->held)];
        if (h->at && now - h->at < HELD_US && ipop__link_send_packet(link, h->frame, h->len) == 0)
            sent++;
    }
    g_mutex_unlock(&net->lock);
    if (sent)
        ipop__dbg(net, "link to %.8s: %u recent broadcast frames sent that it missed", link->peer_id, sent);
}

/* Sends to every connected link (TAP broadcast, multicast, unknown unicast). */
static int flood(ipop_network_t *net, const uint8_t *pkt, size_t len)
{
    int sent = 0;

    g_mutex_lock(&net->lock);
    hold_flood(net, pkt, len);
    for (guint i = 0; i < net->link_list->len; i++) {
        ipop_link_t *link = net->link_list->pdata[i];
        if (g_atomic_int_get(&link->state) == IPOP_LINK_CONNECTED && ipop__link_send_packet(link, pkt, len) == 0)
            sent++;
        else if (ipop__relay_via(link) && ipop__relay_send(link, pkt, len) == 0)
            sent++; /* a member reached through another */
    }
    g_mutex_unlock(&net->lock);
    return sent ? 0 : -EHOSTUNREACH;
}

/* The owner of a host address in the forwarding table.  The loop thread
 * asks a small cache first: a packet after a quiet spell finds the table's
 * lock, hash chain and entry cold (several microseconds of cache misses on
 * an idle ping's path), and one cache entry in the network costs one.  An
 * entry stands while the table's generation is the one read before its
 * lookup; links are never freed while the network lives. */
static ipop_link_t *lookup_ip(ipop_network_t *net, const ipop__addr *dst, bool loop)
{
    uint64_t gen;
    ipop_link_t *link;
    __typeof__(net->route_cache[0]) *e;

    if (!loop)
        return ipop__fwd_lookup_ip(net->fwd, dst);
    gen = ipop__fwd_ip_gen(net->fwd);
    e = &net->route_cache[dst->bytes[dst->family == AF_INET ? 3 : 15] % G_N_ELEMENTS(net->route_cache)];
    if (e->link && e->gen == gen && ipop__addr_equal_host(&e->dst, dst))
        return e->link;
    link = ipop__fwd_lookup_ip(net->fwd, dst);
    if (link) {
        e->dst = *dst;
        e->link = link;
        e->gen = gen;
    }
    return link;
}

/* Where a packet goes: *ret is its link, or NULL to flood (TAP).  `loop`:
 * called on the loop thread (route_cache may be used). */
static int route(ipop_network_t *net, const uint8_t *pkt, size_t len, ipop_link_t **ret, bool loop)
{
    ipop__addr src, dst;
    const uint8_t *dmac, *smac;
    uint16_t type;

    *ret = NULL;
    if (net->mode == MODE_TAP) {
        if (ipop__eth_parse(pkt, len, &dmac, &smac, &type) < 0)
            return -EINVAL;
        if (!(dmac[0] & 1))
            *ret = ipop__fwd_lookup_mac(net->fwd, dmac);
        return 0; /* NULL: flood */
    }
    if (ipop__ip_src_dst(pkt, len, &src, &dst) < 0)
        return -EINVAL;
    *ret = lookup_ip(net, &dst, loop);
    if (!*ret)
        *ret = ipop__relay_lookup(net, &dst); /* a member reached through another */
    return *ret ? 0 : -EHOSTUNREACH;
}

IPOP_EXPORT int ipop_network_send_packet(ipop_network_t *net, const void *packet, size_t len)
{
    ipop_link_t *link;
    int r;

    if (!net || !packet || len == 0)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    if (len > (size_t)max_packet(net))
        return -EMSGSIZE;
    r = route(net, packet, len, &link, false);
    if (r < 0)
        return r;
    if (!link)
        return flood(net, packet, len);
    if (ipop__relay_via(link))
        return ipop__relay_send(link, packet, len);
    return ipop__link_send_packet(link, packet, len);
}

/* ---- from the device to the links, in batches ---- */

/* Sends the records queued for one link: one UDP GSO send or one libnice call. */
static void tx_flush(ipop_network_t *net)
{
    uint8_t *recs[TX_BATCH_MAX];

    if (net->txb_n == 0)
        return;
    for (unsigned i = 0; i < net->txb_n; i++)
        recs[i] = net->txb_recs + (size_t)i * REC_MAX;
    ipop__link_send_records(net->txb_link, recs, net->txb_lens, net->txb_n);
    net->txb_n = 0;
    net->txb_link = NULL;
}

/* Where the next packet for link goes (after a frame header's room):
 * what is queued for another link, or a full batch, leaves first. */
static uint8_t *tx_slot(ipop_network_t *net, ipop_link_t *link)
{
    if (net->txb_n && (net->txb_link != link || net->txb_n == TX_BATCH_MAX))
        tx_flush(net);
    net->txb_link = link;
    return net->txb_recs + (size_t)net->txb_n * REC_MAX + IPOP__FRAME_HDR;
}

/* Queues the packet of len bytes just written at tx_slot(). */
static void tx_queue(ipop_network_t *net, size_t len)
{
    uint8_t *rec = net->txb_recs + (size_t)net->txb_n * REC_MAX;

    rec[0] = IPOP__FRAME_DATA;
    ipop__link_out_rewrite(net->txb_link, rec + IPOP__FRAME_HDR, len);
    net->txb_lens[net->txb_n++] = len + IPOP__FRAME_HDR;
}

/* Device offloads: a read gave a virtio_net_hdr and a packet (TAP: a
 * frame), or a TCP super-segment that goes out as MTU-sized packets.
 * Returns the number of packets queued. */
static int on_device_vnet(ipop_network_t *net, size_t n)
{
    ipop_link_t *link;
    ipop__gso g;
    int count = ipop__gso_begin_l2(&g, net->gsobuf, n, net->mode == MODE_TAP ? IPOP__ETH_HLEN : 0), queued = 0, len;

    if (count < 0) {
        ipop__dbg(net, "device %s: dropped a packet: %s", net->dev_name, ipop_strerror(count));
        __atomic_fetch_add(&net->no_route, 1, __ATOMIC_RELAXED);
        return 0;
    }
    /* Every segment has the super-segment's addresses: one lookup. */
    if ((!g.gso && g.len > (size_t)max_packet(net)) || route(net, g.pkt, g.len, &link, true) < 0) {
        __atomic_fetch_add(&net->no_route, 1, __ATOMIC_RELAXED);
        return 0;
    }
    if (!link) {
        /* TAP: broadcast, multicast or a MAC not learned yet: to every link */
        tx_flush(net); /* in order */
        while ((len = ipop__gso_next(&g, net->devbuf, (size_t)max_packet(net))) > 0) {
            flood(net, net->devbuf, (size_t)len);
            queued++;
        }
        return queued;
    }
    if (ipop__relay_via(link)) {
        /* GroupVPN member relay: segment by segment through the member */
        tx_flush(net); /* in order */
        while ((len = ipop__gso_next(&g, net->devbuf, (size_t)max_packet(net))) > 0) {
            ipop__relay_send(link, net->devbuf, (size_t)len);
            queued++;
        }
    } else {
        while ((len = ipop__gso_next(&g, tx_slot(net, link), (size_t)max_packet(net))) > 0) {
            tx_queue(net, (size_t)len);
            queued++;
        }
    }
    if (len < 0) {
        ipop__dbg(net, "device %s: a segment larger than the MTU: %s", net->dev_name, ipop_strerror(len));
        __atomic_fetch_add(&link->tx_drops, (guint64)(count - queued), __ATOMIC_RELAXED);
    }
    return queued;
}

static gboolean on_device(gint fd, GIOCondition cond, gpointer data)
{
    ipop_network_t *net = data;
    uint8_t *pkt = net->devbuf;
    ipop_link_t *link;
    int sent = 0;

    if (cond & (G_IO_ERR | G_IO_HUP | G_IO_NVAL)) {
        ipop__err(net, "device %s failed", net->dev_name);
        ipop__net_emit_simple(net, IPOP_EVENT_DEVICE_ERROR, NULL, NULL, IPOP_REASON_DEVICE_ERROR, -EIO,
                              "the device reported an error");
        net->dev_src = NULL; /* returning REMOVE drops the loop's reference */
        return G_SOURCE_REMOVE;
    }
    int reads = 0;

    for (int i = 0; i < DEV_BURST && sent < DEV_BURST_PACKETS; i++) {
        ssize_t n;
        /* The first packet after a quiet spell leaves at once, not after
         * the read that finds the device empty: a lone packet (a ping, a
         * request) is not held up.  Under load, reads come in bursts and
         * leave in batches. */
        if (reads == 1 && net->dev_quiet)
            tx_flush(net);
        if (net->vnet) {
            n = read(fd, net->gsobuf, GSOBUF_SIZE);
            if (n <= 0)
                break;
            reads++;
            sent += on_device_vnet(net, (size_t)n);
            continue;
        }
        n = read(fd, pkt, sizeof(net->devbuf));
        if (n <= 0)
            break;
        reads++;
        if (n > max_packet(net) || route(net, pkt, (size_t)n, &link, true) < 0) {
            __atomic_fetch_add(&net->no_route, 1, __ATOMIC_RELAXED);
            continue;
        }
        if (!link) {
            tx_flush(net); /* in order */
            flood(net, pkt, (size_t)n);
            continue;
        }
        if (ipop__relay_via(link)) {
            tx_flush(net); /* in order */
            ipop__relay_send(link, pkt, (size_t)n);
            continue;
        }
        memcpy(tx_slot(net, link), pkt, (size_t)n);
        tx_queue(net, (size_t)n);
        sent++;
    }
    tx_flush(net);
    net->dev_quiet = reads <= 1;
    return G_SOURCE_CONTINUE;
}

/* Device offloads (device.offload): the device hands over TCP
 * super-segments, split in on_device_vnet().  A kernel without them still
 * gives one packet per read behind a virtio_net_hdr, which works the same
 * way. */
static int open_dev_vnet(ipop_network_t *net, char name[IFNAMSIZ])
{
    bool tap = net->mode == MODE_TAP;
    int fd = ipop__tun_open_vnet(net->device_opt, tap, name), r;

    if (fd < 0)
        return fd;
    r = ipop__tun_set_offload(fd);
    if (r < 0)
        ipop__warn(net, "device %s: no offloads: %s", name, ipop_strerror(r));
    net->gsobuf = g_malloc(GSOBUF_SIZE);
    net->gro.buf = g_malloc(IPOP__GRO_BUF);
    net->gro.l2 = tap ? IPOP__ETH_HLEN : 0;
    net->vnet = true;
    return fd;
}

static int open_device(ipop_network_t *net)
{
    char name[IFNAMSIZ];
    int fd, r;

    if (net->mode != MODE_NONE && net->offload)
        fd = open_dev_vnet(net, name);
    else
        fd = ipop__tun_open(net->device_opt, net->mode == MODE_TAP, name);
    if (fd < 0) {
        ipop__err(net, "cannot open a %s device: %s", net->mode == MODE_TAP ? "tap" : "tun", ipop_strerror(fd));
        return fd;
    }
    g_strlcpy(net->dev_name, name, sizeof(net->dev_name));
    net->dev_fd = fd;
    net->dev_ifindex = if_nametoindex(name);
    r = ipop__tun_set_mtu(name, net->mtu);
    if (r == 0 && net->addr4.family)
        r = ipop__tun_add_addr(name, &net->addr4);
    if (r == 0 && net->addr6.family)
        r = ipop__tun_add_addr(name, &net->addr6);
    if (r == 0 && net->mode == MODE_TAP)
        r = ipop__tun_get_mac(name, net->dev_mac);
    if (r == 0)
        r = ipop__tun_set_up(name, true);
    if (r < 0) {
        ipop__err(net, "cannot configure device %s: %s", name, ipop_strerror(r));
        return r;
    }
    ipop__info(net, "device %s up, mtu %d%s", name, net->mtu, net->vnet ? ", offloads" : "");
    return 0;
}

static void close_device(ipop_network_t *net)
{
    ipop__source_clear(&net->dev_src);
    if (net->dev_fd >= 0)
        close(net->dev_fd); /* the kernel removes the device with its last fd */
    net->dev_fd = -1;
    ipop__source_clear(&net->gro_src); /* what it would have written is lost with the device */
    g_clear_pointer(&net->gro.buf, g_free);
    net->gro.len = 0;
    net->vnet = false;
    g_clear_pointer(&net->gsobuf, g_free);
    g_clear_pointer(&net->txb_recs, g_free);
    net->txb_n = 0;
    net->txb_link = NULL;
    net->dev_name[0] = '\0';
}

/* ---- the host's network changing ---- */

static void stun_probe_all(ipop_network_t *net);

void ipop__net_path_suspect(ipop_network_t *net)
{
    ipop__overlay_check_server(net);
}

/* The host addresses now, as NiceAddress*, for ipop__link_lost_base(). */
static GPtrArray *present_addresses(void)
{
    GPtrArray *a = g_ptr_array_new_with_free_func((GDestroyNotify)nice_address_free);
    struct ifaddrs *ifs = NULL;

    if (getifaddrs(&ifs) < 0)
        return a;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        NiceAddress *na;
        if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
            continue;
        na = nice_address_new();
        nice_address_set_from_sockaddr(na, i->ifa_addr);
        g_ptr_array_add(a, na);
    }
    freeifaddrs(ifs);
    return a;
}

static GPtrArray *links_snapshot(ipop_network_t *net)
{
    GPtrArray *links;

    g_mutex_lock(&net->lock);
    links = g_ptr_array_copy(net->link_list, NULL, NULL);
    g_mutex_unlock(&net->lock);
    return links;
}

/* all: every link starts again (the application said so); otherwise only
 * those whose local address is gone. */
static void network_changed(ipop_network_t *net, bool all)
{
    GPtrArray *links = links_snapshot(net), *present = all ? NULL : present_addresses();
    unsigned n = 0;

    for (guint i = 0; i < links->len; i++) {
        ipop_link_t *link = links->pdata[i];
        int state = g_atomic_int_get(&link->state);
        if (state != IPOP_LINK_CONNECTED && state != IPOP_LINK_CONNECTING)
            continue;
        if (all || ipop__link_lost_base(link, present)) {
            ipop__link_restart(link, IPOP_REASON_NETWORK_CHANGED);
            n++;
        }
    }
    ipop__info(net, "network changed%s: %u link%s start%s again", all ? " (application)" : "", n,
               n == 1 ? "" : "s", n == 1 ? "s" : "");
    ipop__overlay_retry_now(net);
    ipop__overlay_check_server(net);
    stun_probe_all(net);
    g_ptr_array_unref(links);
    if (present)
        g_ptr_array_unref(present);
}

static gboolean on_mon_settled(gpointer data)
{
    ipop_network_t *net = data;

    ipop__source_clear(&net->mon_timer);
    if (net->mon_lost)
        network_changed(net, false);
    else
        ipop__overlay_retry_now(net); /* only new addresses: failed links may work now */
    net->mon_lost = false;
    return G_SOURCE_REMOVE;
}

/* Whether an address change concerns the paths of our links: not on our
 * device, not loopback or IPv6 link-local, not inside our subnets. */
static bool relevant_change(ipop_network_t *net, const ipop__addr_change *c)
{
    const uint8_t *b = c->addr.bytes;

    if (net->dev_ifindex && c->ifindex == net->dev_ifindex)
        return false;
    if (c->addr.family == AF_INET && b[0] == 127)
        return false;
    if (c->addr.family == AF_INET6) {
        struct in6_addr v6;
        memcpy(&v6, b, sizeof(v6));
        if (IN6_IS_ADDR_LINKLOCAL(&v6) || IN6_IS_ADDR_LOOPBACK(&v6))
            return false;
    }
    return !ipop__addr_in_subnet(&net->addr4, &c->addr) && !ipop__addr_in_subnet(&net->addr6, &c->addr);
}

static gboolean on_mon(gint fd, GIOCondition cond, gpointer data)
{
    ipop_network_t *net = data;
    uint8_t buf[8192] __attribute__((aligned(8)));
    ipop__addr_change ch[32];
    bool any = false;

    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        int k;
        size_t ok = 0;
        if (n <= 0) {
            if (n < 0 && errno == ENOBUFS) {
                any = net->mon_lost = true; /* events lost: look at everything */
                continue;
            }
            break;
        }
        k = ipop__netmon_parse(buf, (size_t)n, ch, G_N_ELEMENTS(ch), &ok);
        if (k < 0)
            ipop__dbg(net, "address monitor: a malformed netlink message");
        for (size_t i = 0; i < ok; i++) {
            if (!relevant_change(net, &ch[i]))
                continue;
            any = true;
            if (!ch[i].added)
                net->mon_lost = true;
        }
    }
    /* Addresses come and go in bursts (DHCP, a NAT renumbered): act once it settles. */
    if (any && !net->mon_timer)
        net->mon_timer = ipop__net_timeout(net, 300, on_mon_settled, net);
    return G_SOURCE_CONTINUE;
}

static void start_monitor(ipop_network_t *net)
{
    net->mon_fd = ipop__netmon_open();
    if (net->mon_fd < 0) {
        ipop__warn(net, "cannot watch the host's addresses (%s): links notice a change when they go silent",
                   ipop_strerror(net->mon_fd));
        return;
    }
    net->mon_src = g_unix_fd_source_new(net->mon_fd, G_IO_IN);
    g_source_set_callback(net->mon_src, (GSourceFunc)(void (*)(void))on_mon, net, NULL);
    g_source_attach(net->mon_src, net->ctx);
}

static void stop_monitor(ipop_network_t *net)
{
    ipop__source_clear(&net->mon_src);
    ipop__source_clear(&net->mon_timer);
    if (net->mon_fd >= 0)
        close(net->mon_fd);
    net->mon_fd = -1;
}

static void do_network_changed(ipop_network_t *net, void *data)
{
    network_changed(net, true);
}

IPOP_EXPORT int ipop_network_changed(ipop_network_t *net)
{
    if (!net)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    post(net, do_network_changed, NULL, NULL);
    return 0;
}

/* ---- STUN servers: which ones answer ---- */

/* A probe unanswered this long marks its server dead; all servers are
 * probed again this often (a dead one may be back, an alive one gone). */
#define STUN_WAIT_MS 1000
#define STUN_REPROBE_MS 30000

static bool stun_sockaddr(const stun_server *s, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, s->ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)s->port);
        *len = sizeof(*v4);
        return true;
    }
    if (inet_pton(AF_INET6, s->ip, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)s->port);
        *len = sizeof(*v6);
        return true;
    }
    return false;
}

static bool same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
}

static void stun_probe_all(ipop_network_t *net)
{
    net->stun_probed = g_get_monotonic_time();
    for (guint i = 0; i < net->stun->len; i++) {
        stun_server *s = net->stun->pdata[i];
        struct sockaddr_storage ss;
        socklen_t len;
        uint8_t req[IPOP__STUN_HDR];
        int fd;
        if (!s->ip[0] || !stun_sockaddr(s, &ss, &len))
            continue;
        fd = ss.ss_family == AF_INET ? net->stun_fd4 : net->stun_fd6;
        if (fd < 0)
            continue;
        gnutls_rnd(GNUTLS_RND_NONCE, s->txid, sizeof(s->txid));
        ipop__stun_request(req, s->txid);
        s->sent_at = g_get_monotonic_time();
        s->pending = sendto(fd, req, sizeof(req), 0, (struct sockaddr *)&ss, len) == (ssize_t)sizeof(req);
        if (!s->pending && s->state != STUN_DEAD) {
            ipop__warn(net, "STUN server %s:%u cannot be reached (%s): links use the next one", s->host, s->port,
                       g_strerror(errno));
            s->state = STUN_DEAD;
        }
    }
}

static gboolean on_stun(gint fd, GIOCondition cond, gpointer data)
{
    ipop_network_t *net = data;

    for (int n = 0; n < 64; n++) {
        uint8_t buf[576];
        struct sockaddr_storage from, ss;
        socklen_t flen = sizeof(from), len;
        ssize_t r = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
        if (r < 0)
            break; /* EAGAIN, or an ICMP error for one of the probes: their timeout says */
        for (guint i = 0; i < net->stun->len; i++) {
            stun_server *s = net->stun->pdata[i];
            if (!s->pending || !stun_sockaddr(s, &ss, &len) || !same_endpoint(&ss, &from) ||
                ipop__stun_is_response(buf, (size_t)r, s->txid) != 1)
                continue;
            s->pending = false;
            s->rtt_ms = (guint)((g_get_monotonic_time() - s->sent_at) / 1000);
            if (s->state == STUN_DEAD)
                ipop__info(net, "STUN server %s:%u answers again", s->host, s->port);
            else
                ipop__dbg(net, "STUN server %s:%u answers (%u ms)", s->host, s->port, s->rtt_ms);
            s->state = STUN_ALIVE;
        }
    }
    return G_SOURCE_CONTINUE;
}

static gboolean on_stun_timer(gpointer data)
{
    ipop_network_t *net = data;
    gint64 now = g_get_monotonic_time();
    bool died = false;

    for (guint i = 0; i < net->stun->len; i++) {
        stun_server *s = net->stun->pdata[i];
        if (!s->pending || now - s->sent_at < STUN_WAIT_MS * 1000)
            continue;
        s->pending = false;
        if (s->state != STUN_DEAD) {
            ipop__warn(net, "STUN server %s:%u does not answer: links use the next one", s->host, s->port);
            s->state = STUN_DEAD;
            died = true;
        }
    }
    if (died && ipop__net_stun_pick(net) >= 0) {
        /* Links still coming up with a dead server gather again. */
        g_mutex_lock(&net->lock);
        GPtrArray *links = g_ptr_array_copy(net->link_list, NULL, NULL);
        g_mutex_unlock(&net->lock);
        for (guint i = 0; i < links->len; i++) {
            ipop_link_t *link = links->pdata[i];
            if (link->stun_idx >= 0 && ((stun_server *)net->stun->pdata[link->stun_idx])->state == STUN_DEAD &&
                ((stun_server *)net->stun->pdata[ipop__net_stun_pick(net)])->state != STUN_DEAD)
                ipop__link_regather(link);
        }
        g_ptr_array_unref(links);
    }
    if (now - net->stun_probed >= STUN_REPROBE_MS * 1000)
        stun_probe_all(net);
    return G_SOURCE_CONTINUE;
}

int ipop__net_stun_pick(ipop_network_t *net)
{
    int unknown = -1, any = -1;

    for (guint i = 0; i < net->stun->len; i++) {
        stun_server *s = net->stun->pdata[i];
        if (!s->ip[0])
            continue;
        if (s->state == STUN_ALIVE)
            return (int)i;
        if (s->state == STUN_UNKNOWN && unknown < 0)
            unknown = (int)i;
        if (any < 0)
            any = (int)i;
    }
    return unknown >= 0 ? unknown : any; /* all dead: the first, it may be back */
}

static int stun_socket(int family, GSource **src, ipop_network_t *net)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    *src = g_unix_fd_source_new(fd, G_IO_IN);
    g_source_set_callback(*src, (GSourceFunc)(void (*)(void))on_stun, net, NULL);
    g_source_attach(*src, net->ctx);
    return fd;
}

static void start_stun_probes(ipop_network_t *net)
{
    bool v4 = false, v6 = false;

    for (guint i = 0; i < net->stun->len; i++) {
        stun_server *s = net->stun->pdata[i];
        s->state = STUN_UNKNOWN;
        s->pending = false;
        v4 |= s->ip[0] && strchr(s->ip, ':') == NULL;
        v6 |= s->ip[0] && strchr(s->ip, ':') != NULL;
    }
    if (net->stun->len == 0)
        return;
    if (v4)
        net->stun_fd4 = stun_socket(AF_INET, &net->stun_src4, net);
    if (v6)
        net->stun_fd6 = stun_socket(AF_INET6, &net->stun_src6, net);
    net->stun_timer = ipop__net_timeout(net, 250, on_stun_timer, net);
    stun_probe_all(net);
}

static void stop_stun_probes(ipop_network_t *net)
{
    ipop__source_clear(&net->stun_src4);
    ipop__source_clear(&net->stun_src6);
    ipop__source_clear(&net->stun_timer);
    if (net->stun_fd4 >= 0)
        close(net->stun_fd4);
    if (net->stun_fd6 >= 0)
        close(net->stun_fd6);
    net->stun_fd4 = net->stun_fd6 = -1;
}

/* ---- automatic addresses ---- */

static void readdress(ipop_network_t *net, void *p)
{
    int family = GPOINTER_TO_INT(p);
    ipop__addr old = family == AF_INET ? net->addr4 : net->addr6, next;
    char text[64];
    GPtrArray *links;

    if (!g_atomic_int_get(&net->running))
        return;
    if (family == AF_INET)
        ipop__group_auto_addr(&net->group_subnet4, net->node_id, ++net->attempt4, &next);
    else
        ipop__group_auto_addr(&net->group_subnet6, net->node_id, ++net->attempt6, &next);
    /* The old address goes first: removing a primary IPv4 address removes
     * the secondaries of its subnet with it. */
    if (net->dev_name[0] && (ipop__tun_del_addr(net->dev_name, &old) < 0 || ipop__tun_add_addr(net->dev_name, &next) < 0))
        ipop__err(net, "cannot move device %s to its new address", net->dev_name);
    g_mutex_lock(&net->lock);
    if (family == AF_INET)
        net->addr4 = next;
    else
        net->addr6 = next;
    links = g_ptr_array_copy(net->link_list, NULL, NULL);
    g_mutex_unlock(&net->lock);
    ipop__addr_format(&next, text, sizeof(text));
    ipop__warn(net, "address conflict settled: this node moves to %s", text);
    /* Peers learn the new address from new sessions. */
    for (guint i = 0; i < links->len; i++) {
        int state = g_atomic_int_get(&((ipop_link_t *)links->pdata[i])->state);
        if (state == IPOP_LINK_CONNECTING || state == IPOP_LINK_CONNECTED)
            ipop__link_renew(links->pdata[i]);
    }
    g_ptr_array_unref(links);
}

/* The larger node id moves: both sides compute the same answer. */
void ipop__net_addr_conflict(ipop_network_t *net, ipop_link_t *link, int family)
{
    ipop__warn(net, "peer %.8s signalled our %s address as its own", link->peer_id, family == AF_INET ? "IPv4" : "IPv6");
    if (strcmp(net->node_id, link->peer_id) > 0)
        post(net, readdress, GINT_TO_POINTER(family), NULL);
}

IPOP_EXPORT int ipop_network_get_address(ipop_network_t *net, int family, char *buf, size_t size)
{
    ipop__addr a;

    if (!net || !buf || size == 0 || (family != AF_INET && family != AF_INET6))
        return -EINVAL;
    g_mutex_lock(&net->lock);
    a = family == AF_INET ? net->addr4 : net->addr6;
    g_mutex_unlock(&net->lock);
    if (!a.family)
        return -ENOENT;
    return ipop__addr_format(&a, buf, size) < 0 ? -ENOSPC : 0;
}

/* ---- the loop ---- */

/* After a poll of the context's fds: the data path is served here rather
 * than by dispatching through GLib.  The device (our source) and each
 * direct path's socket (libnice's source, which would read it through its
 * own receive path) are read at once, and their entries cleared, so that
 * GLib does not dispatch those sources.  An fd in error is left to its
 * source.  Returns true when that was all there was to do: no other fd
 * ready, and nothing done that GLib's sources must see (data frames only). */
static bool serve_data(ipop_network_t *net, GPollFD *fds, int n)
{
    bool delivered = false, others = false;

    net->serving = true;
    net->glib_due = false;
    for (int i = 0; i < n; i++) {
        ipop_link_t *link;
        if (!fds[i].revents)
            continue;
        if (!(fds[i].revents & G_IO_IN) || (fds[i].revents & (G_IO_ERR | G_IO_HUP | G_IO_NVAL))) {
            others = true;
        } else if (net->dev_src && fds[i].fd == net->dev_fd) {
            on_device(net->dev_fd, G_IO_IN, net);
            fds[i].revents = 0;
        } else if ((link = ipop__net_direct_get(net, fds[i].fd))) {
            delivered = true;
            if (ipop__link_direct_rx(link))
                fds[i].revents = 0;
            else
                others = true; /* libnice's source reads the rest */
        } else {
            others = true;
        }
    }
    /* What the sockets gave is all there is for now: merged TCP segments
     * go to the device without waiting for an idle turn of the loop. */
    if (delivered)
        gro_flush(net);
    net->serving = false;
    return !others && !net->glib_due;
}

void ipop__net_direct_set(ipop_network_t *net, int fd, ipop_link_t *link)
{
    if (!net->direct || fd < 0)
        return;
    if ((guint)fd >= net->direct->len)
        g_ptr_array_set_size(net->direct, fd + 1); /* new entries NULL */
    net->direct->pdata[fd] = link;
}

/* loop=thread: GLib's iteration (prepare, query, poll, check, dispatch)
 * with the data path served between the poll and the check. */
static gpointer loop_thread(gpointer p)
{
    ipop_network_t *net = p;
    GPollFD stack[64], *fds = stack;
    gint cap = G_N_ELEMENTS(stack);

    g_main_context_push_thread_default(net->ctx);
    g_main_context_acquire(net->ctx);
    while (!g_atomic_int_get(&net->quit)) {
        gint prio, timeout, n;
        gint64 deadline;

        g_main_context_prepare(net->ctx, &prio);
        while ((n = g_main_context_query(net->ctx, prio, &timeout, fds, cap)) > cap) {
            if (fds != stack)
                g_free(fds);
            cap = n;
            fds = g_new(GPollFD, cap);
        }
        /* While only the data path is ready, it is served without a turn
         * of GLib's (sources attached by this thread meanwhile would not
         * wake the poll: serve_data() tells when that may have happened). */
        deadline = timeout < 0 ? -1 : g_get_monotonic_time() + (gint64)timeout * 1000;
        while (g_poll(fds, (guint)n, timeout) > 0 && serve_data(net, fds, n)) {
            if (deadline >= 0) {
                gint64 left = deadline - g_get_monotonic_time();
                if (left <= 0)
                    break;
                timeout = (gint)((left + 999) / 1000);
            }
        }
        if (g_main_context_check(net->ctx, prio, fds, n))
            g_main_context_dispatch(net->ctx);
    }
    if (fds != stack)
        g_free(fds);
    g_main_context_release(net->ctx);
    g_main_context_pop_thread_default(net->ctx);
    return NULL;
}

static void loop_quit(ipop_network_t *net)
{
    g_atomic_int_set(&net->quit, 1);
    g_main_context_wakeup(net->ctx);
}

/* loop=external: mirror the context's fds into the epoll set. */
static void sync_epoll(ipop_network_t *net, GPollFD *fds, int n)
{
    GHashTable *now = g_hash_table_new(NULL, NULL);
    GHashTableIter it;
    gpointer key, val;

    for (int i = 0; i < n; i++) {
        guint32 ev = ((fds[i].events & G_IO_IN) ? EPOLLIN : 0) | ((fds[i].events & G_IO_OUT) ? EPOLLOUT : 0) |
                     ((fds[i].events & G_IO_PRI) ? EPOLLPRI : 0);
        gpointer old = g_hash_table_lookup(net->epoll_fds, GINT_TO_POINTER(fds[i].fd + 1));
        guint32 merged = ev | GPOINTER_TO_UINT(g_hash_table_lookup(now, GINT_TO_POINTER(fds[i].fd + 1)));
        struct epoll_event e = { .events = merged, .data.fd = fds[i].fd };
        g_hash_table_insert(now, GINT_TO_POINTER(fds[i].fd + 1), GUINT_TO_POINTER(merged));
        if (!old)
            epoll_ctl(net->epoll_fd, EPOLL_CTL_ADD, fds[i].fd, &e);
        else if (GPOINTER_TO_UINT(old) != merged)
            epoll_ctl(net->epoll_fd, EPOLL_CTL_MOD, fds[i].fd, &e);
    }
    g_hash_table_iter_init(&it, net->epoll_fds);
    while (g_hash_table_iter_next(&it, &key, &val))
        if (!g_hash_table_contains(now, key))
            epoll_ctl(net->epoll_fd, EPOLL_CTL_DEL, GPOINTER_TO_INT(key) - 1, NULL);
    g_hash_table_unref(net->epoll_fds);
    net->epoll_fds = now;
}

/* One non-blocking pass over the context: prepare, query, poll(0), check,
 * dispatch; the fds and the timeout of the query are kept for the host. */
static void iterate_once(ipop_network_t *net)
{
    GPollFD *fds;
    gint prio, timeout, n;
    gboolean ready;

    ready = g_main_context_prepare(net->ctx, &prio);
    /* Each link brings sockets of its own: the table grows with them. */
    while ((n = g_main_context_query(net->ctx, prio, &timeout, net->ext_fds, net->ext_cap)) > net->ext_cap) {
        net->ext_cap = MAX(n, 2 * net->ext_cap);
        net->ext_fds = g_renew(GPollFD, net->ext_fds, net->ext_cap);
    }
    fds = net->ext_fds;
    if (g_poll(fds, (guint)n, 0) > 0)
        (void)serve_data(net, fds, n);
    sync_epoll(net, fds, n);
    net->timeout_ms = ready ? 0 : timeout;
    if (g_main_context_check(net->ctx, prio, fds, n))
        g_main_context_dispatch(net->ctx);
}

IPOP_EXPORT int ipop_network_process(ipop_network_t *net)
{
    if (!net || net->loop_mode != LOOP_EXTERNAL)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    /* Another thread may hold the context for a moment (a call such as
     * ipop_network_connect() runs its work directly when it can). */
    for (int i = 0; !g_main_context_acquire(net->ctx); i++) {
        if (i == 10000)
            return -EBUSY;
        g_usleep(100);
    }
    iterate_once(net); /* dispatch what is ready */
    iterate_once(net); /* and learn the fds and deadline that follow */
    g_main_context_release(net->ctx);
    return 0;
}

IPOP_EXPORT int ipop_network_get_fd(ipop_network_t *net)
{
    if (!net || net->loop_mode != LOOP_EXTERNAL)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    return net->epoll_fd;
}

IPOP_EXPORT int ipop_network_get_timeout(ipop_network_t *net)
{
    if (!net || net->loop_mode != LOOP_EXTERNAL)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    return net->timeout_ms;
}

/* ---- lifecycle ---- */

static int resolve_servers(ipop_network_t *net)
{
    unsigned resolved = 0;

    /* One STUN server that does not resolve is skipped, as one that does
     * not answer; none at all is an error. */
    for (guint i = 0; i < net->stun->len; i++) {
        stun_server *s = net->stun->pdata[i];
        if (resolve(s->host, s->ip))
            resolved++;
        else
            s->ip[0] = '\0';
    }
    for (guint i = 0; i < net->stun->len; i++) {
        stun_server *s = net->stun->pdata[i];
        if (!s->ip[0] && resolved == 0) {
            ipop__err(net, "cannot resolve STUN server %s", s->host);
            return -EHOSTUNREACH;
        }
        if (!s->ip[0])
            ipop__warn(net, "cannot resolve STUN server %s: skipped", s->host);
    }
    for (guint i = 0; i < net->turn->len; i++) {
        relay_server *t = net->turn->pdata[i];
        if (!resolve(t->host, t->ip)) {
            ipop__err(net, "cannot resolve TURN server %s", t->host);
            return -EHOSTUNREACH;
        }
    }
    return 0;
}

static void cleanup_runtime(ipop_network_t *net)
{
    held_clear(net);
    stop_stun_probes(net);
    stop_monitor(net);
    close_device(net);
    drop_mail(net);
    g_clear_pointer(&net->ctx, g_main_context_unref);
    g_clear_pointer(&net->direct, g_ptr_array_unref);
    g_clear_pointer(&net->drx, ipop__link_drx_free);
    if (net->epoll_fd >= 0)
        close(net->epoll_fd);
    net->epoll_fd = -1;
    g_clear_pointer(&net->epoll_fds, g_hash_table_unref);
    g_clear_pointer(&net->ext_fds, g_free);
    net->ext_cap = 0;
    g_clear_pointer(&net->fwd, ipop__fwd_free);
}

IPOP_EXPORT int ipop_network_start(ipop_network_t *net)
{
    int r;

    if (!net)
        return -EINVAL;
    if (g_atomic_int_get(&net->running))
        return -EALREADY;
    if (!net->mtu)
        net->mtu = net->mode == MODE_TAP ? IPOP_DEFAULT_MTU - IPOP__ETH_HLEN : IPOP_DEFAULT_MTU;
    if (max_packet(net) > IPOP_MAX_PACKET) {
        ipop__err(net, "option mtu: %d is too large for tap mode (at most %d)", net->mtu,
                  IPOP_MAX_PACKET - IPOP__ETH_HLEN);
        return -EINVAL;
    }
    if (!net->id) {
        r = ipop__identity_load(&net->id, net->identity_file);
        if (r < 0) {
            ipop__err(net, "cannot load or create the identity%s%s: %s", net->identity_file ? " " : "",
                      net->identity_file ? net->identity_file : "", ipop_strerror(r));
            return r;
        }
        g_strlcpy(net->node_id, ipop__identity_node_id(net->id), sizeof(net->node_id));
    }
    ipop__identity_set_verify(ipop__identity_credentials(net->id));
    r = ipop__sigauth_start(net);
    if (r < 0)
        return r;
    r = check_overlay(net);
    if (r < 0)
        return r;
    /* GroupVPN: addresses not given are derived from the node id. */
    net->auto4 = !net->addr4.family && net->group_subnet4.family;
    net->auto6 = !net->addr6.family && net->group_subnet6.family;
    if (net->auto4)
        ipop__group_auto_addr(&net->group_subnet4, net->node_id, net->attempt4, &net->addr4);
    if (net->auto6)
        ipop__group_auto_addr(&net->group_subnet6, net->node_id, net->attempt6, &net->addr6);
    r = resolve_servers(net);
    if (r < 0)
        return r;

    net->ctx = net->loop_mode == LOOP_GLIB ? g_main_context_ref(net->user_ctx) : g_main_context_new();
    net->fwd = ipop__fwd_new();
    /* The loops of our own (thread, external) read direct paths themselves;
     * a host's GMainContext leaves them to libnice's sources. */
    if (net->loop_mode != LOOP_GLIB)
        net->direct = g_ptr_array_new();
    if (net->mode != MODE_NONE) {
        r = open_device(net);
        if (r < 0)
            goto fail;
        net->txb_recs = g_malloc((size_t)TX_BATCH_MAX * REC_MAX);
        net->dev_src = g_unix_fd_source_new(net->dev_fd, G_IO_IN | G_IO_ERR | G_IO_HUP);
        g_source_set_callback(net->dev_src, (GSourceFunc)(void (*)(void))on_device, net, NULL);
        g_source_set_can_recurse(net->dev_src, TRUE);
        g_source_attach(net->dev_src, net->ctx);
    }
    start_monitor(net);
    start_stun_probes(net);
    g_atomic_int_set(&net->running, 1);
    if (net->loop_mode == LOOP_THREAD) {
        g_atomic_int_set(&net->quit, 0);
        net->thread = g_thread_try_new("ipop-net", loop_thread, net, NULL);
        if (!net->thread) {
            r = -EAGAIN;
            goto fail;
        }
    } else if (net->loop_mode == LOOP_EXTERNAL) {
        net->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        net->epoll_fds = g_hash_table_new(NULL, NULL);
        if (net->epoll_fd < 0) {
            r = -errno;
            goto fail;
        }
        g_main_context_acquire(net->ctx);
        iterate_once(net);
        g_main_context_release(net->ctx);
    }
    if (net->overlay != OVERLAY_NONE) {
        r = ipop__overlay_start(net);
        if (r < 0) {
            ipop__err(net, "cannot start XMPP signalling: %s", ipop_strerror(r));
            ipop_network_stop(net);
            return r;
        }
    }
    ipop__info(net, "network %s started, node id %s", net->name, net->node_id);
    return 0;
fail:
    g_atomic_int_set(&net->running, 0);
    cleanup_runtime(net);
    return r;
}

static void close_all(ipop_network_t *net, void *data)
{
    g_mutex_lock(&net->lock);
    GPtrArray *links = g_ptr_array_copy(net->link_list, NULL, NULL);
    g_mutex_unlock(&net->lock);
    for (guint i = 0; i < links->len; i++)
        ipop__link_shutdown(links->pdata[i], IPOP_REASON_LOCAL_CLOSED, true);
    g_ptr_array_unref(links);
    ipop__relay_reset(net); /* here, in the loop thread: no relay survives a stop */
    close_device(net);
}

static gboolean on_stop_poll(gpointer p)
{
    ipop_network_t *net = p;

    if (g_atomic_int_get(&net->closing_agents) == 0) {
        loop_quit(net);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean on_stop_deadline(gpointer p)
{
    ipop_network_t *net = p;

    ipop__warn(net, "%d ICE agents did not close in time", g_atomic_int_get(&net->closing_agents));
    if (net->loop_mode == LOOP_THREAD)
        loop_quit(net);
    g_atomic_int_set(&net->closing_agents, 0);
    return G_SOURCE_REMOVE;
}

static void quit_when_closed(ipop_network_t *net, void *data)
{
    GSource **srcs = data;

    srcs[0] = ipop__net_timeout(net, 5, on_stop_poll, net);
    srcs[1] = ipop__net_timeout(net, 3000, on_stop_deadline, net);
}

IPOP_EXPORT int ipop_network_stop(ipop_network_t *net)
{
    GSource *srcs[2] = { NULL, NULL };

    if (!net)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -EALREADY;
    ipop__net_call(net, close_all, NULL);
    g_atomic_int_set(&net->running, 0);
    ipop__overlay_stop(net); /* after the goodbyes: they leave through it */
    /* Derived addresses are derived again at the next start. */
    if (net->auto4)
        memset(&net->addr4, 0, sizeof(net->addr4));
    if (net->auto6)
        memset(&net->addr6, 0, sizeof(net->addr6));
    net->auto4 = net->auto6 = false;
    if (net->loop_mode == LOOP_THREAD) {
        /* TURN allocations are released by the agents' close; give them a
         * moment, bounded, then end the thread. */
        ipop__net_call(net, quit_when_closed, srcs);
        g_thread_join(net->thread);
        net->thread = NULL;
    } else {
        gint64 deadline = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
        while (g_atomic_int_get(&net->closing_agents) > 0 && g_get_monotonic_time() < deadline) {
            if (!g_main_context_iteration(net->ctx, FALSE))
                g_usleep(2000);
        }
        g_atomic_int_set(&net->closing_agents, 0);
    }
    ipop__source_clear(&srcs[0]);
    ipop__source_clear(&srcs[1]);
    cleanup_runtime(net);
    ipop__info(net, "network %s stopped", net->name);
    return 0;
}

IPOP_EXPORT ipop_network_t *ipop_network_free(ipop_network_t *net)
{
    if (!net)
        return NULL;
    if (g_atomic_int_get(&net->running))
        ipop_network_stop(net);
    for (guint i = 0; i < net->link_list->len; i++)
        ipop__link_free(net->link_list->pdata[i]);
    g_ptr_array_unref(net->link_list);
    g_hash_table_unref(net->links);
    g_hash_table_unref(net->allowed);
    g_ptr_array_unref(net->stun);
    g_ptr_array_unref(net->turn);
    g_ptr_array_unref(net->local_addrs);
    ipop__identity_free(net->id);
    ipop__sigauth_free(net->sigauth);
    g_free(net->signal_scope);
    ipop__udp_set_free(net->udp);
    ipop__relay_free(net->relay);
    if (net->user_ctx)
        g_main_context_unref(net->user_ctx);
    g_mutex_clear(&net->lock);
    g_mutex_clear(&net->mail_lock);
    g_free(net->device_opt);
    g_free(net->identity_file);
    set_str(&net->xmpp_password, NULL);
    set_str(&net->group_secret, NULL);
    g_free(net->xmpp_jid);
    g_free(net->xmpp_server);
    g_free(net->xmpp_fingerprint);
    g_free(net->group_room);
    g_free(net->social_state_file);
    g_free(net->name);
    g_free(net);
    return NULL;
}

IPOP_EXPORT const char *ipop_network_get_node_id(ipop_network_t *net)
{
    return net && net->node_id[0] ? net->node_id : NULL;
}

IPOP_EXPORT const char *ipop_network_get_device(ipop_network_t *net)
{
    return net && net->dev_name[0] ? net->dev_name : NULL;
}

/* ---- peers and links ---- */

/* The peers API: what the policies (overlay, group, social, relay,
 * underlay) use to say who may link and to reach the links, instead of
 * the network's lock and fields.  Declared in peers.h. */

int ipop__peers_allow(ipop_network_t *net, const char *peer_id)
{
    if (!peer_id || !ipop__node_id_valid(peer_id))
        return -EINVAL;
    g_mutex_lock(&net->lock);
    g_hash_table_add(net->allowed, g_strdup(peer_id));
    g_mutex_unlock(&net->lock);
    return 0;
}

void ipop__peers_disallow(ipop_network_t *net, const char *peer_id)
{
    g_mutex_lock(&net->lock);
    g_hash_table_remove(net->allowed, peer_id);
    g_mutex_unlock(&net->lock);
}

bool ipop__peers_allowed(ipop_network_t *net, const char *peer_id)
{
    bool allowed;

    g_mutex_lock(&net->lock);
    allowed = g_hash_table_contains(net->allowed, peer_id);
    g_mutex_unlock(&net->lock);
    return allowed;
}

ipop_link_t *ipop__peers_link(ipop_network_t *net, const char *peer_id)
{
    ipop_link_t *link;

    g_mutex_lock(&net->lock);
    link = g_hash_table_lookup(net->links, peer_id);
    g_mutex_unlock(&net->lock);
    return link;
}

GPtrArray *ipop__peers_links(ipop_network_t *net)
{
    GPtrArray *links;

    g_mutex_lock(&net->lock);
    links = g_ptr_array_sized_new(net->link_list->len);
    for (guint i = 0; i < net->link_list->len; i++)
        g_ptr_array_add(links, net->link_list->pdata[i]);
    g_mutex_unlock(&net->lock);
    return links;
}

IPOP_EXPORT int ipop_network_allow_peer(ipop_network_t *net, const char *peer_id)
{
    if (!net)
        return -EINVAL;
    return ipop__peers_allow(net, peer_id);
}

/* In the loop thread: the link of a peer, created on first use. */
static ipop_link_t *link_for(ipop_network_t *net, const char *peer_id)
{
    ipop_link_t *link;

    g_mutex_lock(&net->lock);
    link = g_hash_table_lookup(net->links, peer_id);
    if (!link) {
        link = ipop__link_new(net, peer_id);
        g_hash_table_insert(net->links, link->peer_id, link);
        g_ptr_array_add(net->link_list, link);
    }
    g_mutex_unlock(&net->lock);
    return link;
}

typedef struct connect_req {
    const char *peer;
    ipop_link_t *link;
    int r;
} connect_req;

static void do_connect(ipop_network_t *net, void *p)
{
    connect_req *req = p;
    int state;

    req->link = link_for(net, req->peer);
    state = g_atomic_int_get(&req->link->state);
    req->r = 0;
    if (state != IPOP_LINK_CONNECTING && state != IPOP_LINK_CONNECTED)
        req->r = ipop__link_open(req->link);
}

/* The loop thread: allows the peer and opens a link unless one is up or
 * coming up. */
int ipop__peers_connect(ipop_network_t *net, const char *peer_id, ipop_link_t **ret)
{
    connect_req req = { .peer = peer_id };
    int r;

    r = ipop__peers_allow(net, peer_id);
    if (r < 0)
        return r;
    do_connect(net, &req);
    if (req.r < 0)
        return req.r;
    if (ret)
        *ret = req.link;
    return 0;
}

IPOP_EXPORT int ipop_network_connect(ipop_network_t *net, const char *peer_id, ipop_link_t **ret)
{
    connect_req req = { .peer = peer_id };
    int r;

    if (!net || !peer_id)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    if (!strcmp(peer_id, net->node_id)) {
        ipop__err(net, "cannot link to this node itself");
        return -EINVAL;
    }
    r = ipop_network_allow_peer(net, peer_id);
    if (r < 0)
        return r;
    ipop__net_call(net, do_connect, &req);
    if (req.r < 0)
        return req.r;
    if (ret)
        *ret = req.link;
    return 0;
}

IPOP_EXPORT ipop_link_t *ipop_network_get_link(ipop_network_t *net, const char *peer_id)
{

    if (!net || !peer_id)
        return NULL;
    return ipop__peers_link(net, peer_id);
}

static void handle_msg(ipop_network_t *net, void *p)
{
    ipop__msg *m = p;

    if (!g_atomic_int_get(&net->running))
        return;
    ipop__link_handle(link_for(net, m->node_id), m);
}

static void refuse(ipop_network_t *net, const char *from, ipop_event_type_t type, ipop_reason_t reason, int err,
                   const char *what)
{
    char detail[160];

    snprintf(detail, sizeof(detail), "signalling message from %.16s refused: %s", from ? from : "(none)", what);
    ipop__peers_refused(net, from, type, reason, err, detail);
}

void ipop__peers_refused(ipop_network_t *net, const char *from, ipop_event_type_t type, ipop_reason_t reason,
                         int err, const char *detail)
{
    __atomic_fetch_add(&net->bad_messages, 1, __ATOMIC_RELAXED);
    ipop__warn(net, "%s", detail);
    ipop__net_emit_simple(net, type, from, NULL, reason, err, detail);
}

int ipop__peers_signal(ipop_network_t *net, const char *from_peer_id, const char *message)
{
    return ipop_network_signal_receive(net, from_peer_id, message);
}

IPOP_EXPORT int ipop_network_signal_receive(ipop_network_t *net, const char *from_peer_id, const char *message)
{
    ipop__msg *m;
    int r;

    if (!net)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    if (!from_peer_id || !ipop__node_id_valid(from_peer_id)) {
        refuse(net, NULL, IPOP_EVENT_BAD_MESSAGE, IPOP_REASON_BAD_MESSAGE, -EINVAL, "sender is not a node id");
        return -EINVAL;
    }
    if (!message) {
        refuse(net, from_peer_id, IPOP_EVENT_BAD_MESSAGE, IPOP_REASON_BAD_MESSAGE, -EINVAL, "no message");
        return -EINVAL;
    }
    m = g_new(ipop__msg, 1);
    /* Verified, checked and decoded, or refused (counted, reported, logged). */
    r = ipop__sigauth_open(net, from_peer_id, message, m);
    if (r < 0) {
        g_free(m);
        return r;
    }
    post(net, handle_msg, m, g_free);
    return 0;
}

IPOP_EXPORT int ipop_network_get_stats(ipop_network_t *net, ipop_network_stats_t *stats)
{
    ipop_network_stats_t s;
    size_t n;

    if (!net || !stats || stats->size < sizeof(size_t))
        return -EINVAL;
    memset(&s, 0, sizeof(s));
    n = MIN(stats->size, sizeof(s));
    s.size = n;
    s.signal_refused = __atomic_load_n(&net->bad_messages, __ATOMIC_RELAXED);
    s.no_route = __atomic_load_n(&net->no_route, __ATOMIC_RELAXED);
    g_mutex_lock(&net->lock);
    for (guint i = 0; i < net->link_list->len; i++) {
        s.links++;
        if (g_atomic_int_get(&((ipop_link_t *)net->link_list->pdata[i])->state) == IPOP_LINK_CONNECTED)
            s.links_connected++;
    }
    g_mutex_unlock(&net->lock);
    ipop__relay_totals(net, &s.relayed_packets, &s.relay_drops);
    memcpy(stats, &s, n);
    return 0;
}

typedef struct accept_req {
    const char *jid;
    int r;
} accept_req;

static void do_accept(ipop_network_t *net, void *p)
{
    accept_req *req = p;
    req->r = ipop__overlay_accept(net, req->jid);
}

IPOP_EXPORT int ipop_network_accept_identity(ipop_network_t *net, const char *friend_jid)
{
    accept_req req = { .jid = friend_jid, .r = -EINVAL };

    if (!net || !friend_jid || net->overlay != OVERLAY_SOCIAL)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    ipop__net_call(net, do_accept, &req);
    return req.r;
}
