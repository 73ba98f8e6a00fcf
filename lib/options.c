/* SPDX-License-Identifier: MIT */
/* The network's options: one table of keys, each with the function that
 * parses and sets its value, and the check of the whole configuration
 * (what no single key can tell: the keys an overlay needs, an MTU too
 * large for TAP), which ipop_network_check() offers and start runs. */
#include <errno.h>
#include <stdarg.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipop/ipop-glib.h"
#include "log.h"
#include "network.h"
#include "options.h"
#include "portmap.h"
#include "authority.h"
#include "names.h"
#include "proof.h"
#include "routes.h"

/* ---- value parsers ---- */

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

static void set_str(char **field, const char *value)
{
    if (*field)
        memset(*field, 0, strlen(*field));
    g_free(*field);
    *field = g_strdup(value);
}

/* ---- the keys ---- */

typedef struct option option;
/* Parses value and sets the option: NULL, or why the value is refused
 * (o->expected when the setter has nothing more precise to say). */
typedef const char *(*option_set)(ipop_network_t *net, const option *o, const char *value);

struct option {
    const char *key;
    option_set set;
    size_t field;         /* offset of the field, for the generic setters */
    unsigned min, max;    /* set_uint */
    const char *expected; /* what a value must be */
    bool secret;          /* the value is never logged */
};

#define FIELD(f) offsetof(ipop_network_t, f)
#define AT(net, o, type) ((type *)((char *)(net) + (o)->field))

static const char *set_bool(ipop_network_t *net, const option *o, const char *v)
{
    return parse_bool(v, AT(net, o, bool)) ? NULL : o->expected;
}

static const char *set_uint(ipop_network_t *net, const option *o, const char *v)
{
    return parse_uint(v, o->min, o->max, AT(net, o, unsigned)) ? NULL : o->expected;
}

static const char *set_string(ipop_network_t *net, const option *o, const char *v)
{
    set_str(AT(net, o, char *), v);
    return NULL;
}

static const char *set_path(ipop_network_t *net, const option *o, const char *v)
{
    return *v ? set_string(net, o, v) : o->expected;
}

/* A secret from a file: its first line, without the line end. */
static const char *set_secret_file(ipop_network_t *net, const option *o, const char *path)
{
    gchar *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return "cannot read the file";
    text[strcspn(text, "\r\n")] = '\0';
    if (!*text) {
        g_free(text);
        return "the file is empty";
    }
    set_str(AT(net, o, char *), text);
    memset(text, 0, strlen(text));
    g_free(text);
    return NULL;
}

static const char *set_mode(ipop_network_t *net, const option *o, const char *v)
{
    if (!strcmp(v, "none"))
        net->mode = MODE_NONE;
    else if (!strcmp(v, "tun"))
        net->mode = MODE_TUN;
    else if (!strcmp(v, "tap"))
        net->mode = MODE_TAP;
    else
        return o->expected;
    return NULL;
}

static const char *set_device(ipop_network_t *net, const option *o, const char *v)
{
    if (!*v || strlen(v) >= IFNAMSIZ || strchr(v, '/') || strchr(v, ' '))
        return o->expected;
    return set_string(net, o, v);
}

static const char *set_address(ipop_network_t *net, const option *o, const char *v)
{
    ipop__addr a;

    if (ipop__addr_parse(v, &a) < 0)
        return o->expected;
    if (a.family == AF_INET)
        net->addr4 = a;
    else
        net->addr6 = a;
    return NULL;
}

static const char *set_mtu(ipop_network_t *net, const option *o, const char *v)
{
    unsigned n;

    if (!parse_uint(v, o->min, o->max, &n))
        return o->expected;
    net->mtu = (int)n;
    return NULL;
}

static const char *add_stun(ipop_network_t *net, const option *o, const char *v)
{
    stun_server *s = g_new0(stun_server, 1);

    if (!parse_hostport(v, &s->host, &s->port)) {
        stun_free(s);
        return o->expected;
    }
    g_ptr_array_add(net->stun, s);
    return NULL;
}

static const char *add_turn(ipop_network_t *net, const option *o, const char *v)
{
    relay_server *t = parse_turn(v);

    if (!t)
        return o->expected;
    g_ptr_array_add(net->turn, t);
    return NULL;
}

static const char *add_local_address(ipop_network_t *net, const option *o, const char *v)
{
    ipop__addr a;

    if (ipop__addr_parse(v, &a) < 0 || strchr(v, '/'))
        return o->expected;
    g_ptr_array_add(net->local_addrs, g_strdup(v));
    return NULL;
}

static const char *set_identity_file(ipop_network_t *net, const option *o, const char *v)
{
    if (!*v)
        return o->expected;
    set_string(net, o, v);
    /* The node id is known before start when the file exists. */
    g_clear_pointer(&net->id, ipop__identity_free);
    net->node_id[0] = '\0';
    if (access(v, F_OK) == 0) {
        if (ipop__identity_load(&net->id, v) < 0)
            return "cannot read the identity file";
        g_strlcpy(net->node_id, ipop__identity_node_id(net->id), sizeof(net->node_id));
    }
    return NULL;
}

static const char *set_loop(ipop_network_t *net, const option *o, const char *v)
{
    if (!strcmp(v, "thread"))
        net->loop_mode = net->user_ctx ? LOOP_GLIB : LOOP_THREAD;
    else if (!strcmp(v, "external"))
        net->loop_mode = LOOP_EXTERNAL;
    else
        return o->expected;
    return NULL;
}

static const char *set_record(ipop_network_t *net, const option *o, const char *v)
{
    if (!strcmp(v, "own"))
        net->gnutls_records = false;
    else if (!strcmp(v, "gnutls"))
        net->gnutls_records = true;
    else
        return o->expected;
    return NULL;
}

static const char *set_overlay(ipop_network_t *net, const option *o, const char *v)
{
    if (!strcmp(v, "none"))
        net->overlay = OVERLAY_NONE;
    else if (!strcmp(v, "group"))
        net->overlay = OVERLAY_GROUP;
    else if (!strcmp(v, "social"))
        net->overlay = OVERLAY_SOCIAL;
    else
        return o->expected;
    return NULL;
}

static const char *set_jid(ipop_network_t *net, const option *o, const char *v)
{
    const char *at = strchr(v, '@');

    if (!at || at == v || !at[1] || strchr(at + 1, '@') || strchr(v, '/') || strpbrk(v, " <>'\"&"))
        return o->expected;
    return set_string(net, o, v);
}

static const char *set_server(ipop_network_t *net, const option *o, const char *v)
{
    if (!*v || strpbrk(v, " /"))
        return o->expected;
    return set_string(net, o, v);
}

static const char *set_fingerprint(ipop_network_t *net, const option *o, const char *v)
{
    size_t digits = 0;

    for (const char *p = v; *p; p++) {
        if (g_ascii_isxdigit(*p))
            digits++;
        else if (*p != ':')
            return o->expected;
    }
    return digits == 64 ? set_string(net, o, v) : o->expected;
}

static const char *set_room(ipop_network_t *net, const option *o, const char *v)
{
    const char *at = strchr(v, '@');

    if (!at || at == v || !at[1] || strchr(v, '/') || strpbrk(v, " <>'\"&"))
        return o->expected;
    return set_string(net, o, v);
}

static const char *set_group_subnet(ipop_network_t *net, const option *o, const char *v)
{
    ipop__addr a;

    if (ipop__addr_parse(v, &a) < 0 || !strchr(v, '/') ||
        (a.family == AF_INET ? a.prefix < 8 || a.prefix > 30 : a.prefix < 8 || a.prefix > 120))
        return o->expected;
    if (a.family == AF_INET)
        net->group_subnet4 = a;
    else
        net->group_subnet6 = a;
    return NULL;
}

static const char *set_authority(ipop_network_t *net, const option *o, const char *v)
{
    ipop__authority_key k;

    if (ipop__authority_key_parse(v, &k) < 0)
        return o->expected;
    return set_string(net, o, v);
}

static const char *set_social_subnet(ipop_network_t *net, const option *o, const char *v)
{
    ipop__addr a;

    if (ipop__addr_parse(v, &a) < 0 || a.family != AF_INET || a.prefix < 8 || a.prefix > 30)
        return o->expected;
    net->social_subnet = a;
    return NULL;
}

static const char *set_scope(ipop_network_t *net, const option *o, const char *v)
{
    if (strlen(v) > 256 || strpbrk(v, "\n\r"))
        return o->expected;
    return set_string(net, o, v);
}

/* "true", "false", or a comma-separated list of upnp, natpmp, pcp. */
static const char *set_port_mapping(ipop_network_t *net, const option *o, const char *v)
{
    g_auto(GStrv) items = NULL;
    unsigned mask = 0;

    if (!strcmp(v, "true") || !strcmp(v, "false")) {
        /* UPnP only when named (SSDP multicast at start, and the 500 ms
         * wait where no router answers): see "ice.port-mapping" in ipop.h */
        net->port_mapping = v[0] == 't' ? IPOP__PM_NATPMP | IPOP__PM_PCP : 0;
        return NULL;
    }
    items = g_strsplit(v, ",", 4);
    for (size_t i = 0; items[i]; i++) {
        const char *w = g_strstrip(items[i]);
        if (!strcmp(w, "upnp"))
            mask |= IPOP__PM_UPNP;
        else if (!strcmp(w, "natpmp"))
            mask |= IPOP__PM_NATPMP;
        else if (!strcmp(w, "pcp"))
            mask |= IPOP__PM_PCP;
        else
            return o->expected;
    }
    net->port_mapping = mask;
    return NULL;
}

static const char *set_name(ipop_network_t *net, const option *o, const char *v)
{
    char name[IPOP__NAME_MAX + 1];

    if (ipop__name_normalize(v, name) < 0)
        return o->expected;
    g_strlcpy(net->name_opt, name, sizeof(net->name_opt));
    return NULL;
}

/* Each value adds its prefixes to the list (as ipopd's ';' lists and the
 * Python binding's lists give them, one a call); "" clears it. */
static const char *set_routes(ipop_network_t *net, const option *o, const char *v)
{
    ipop__addr r[IPOP__ROUTES_MAX];
    unsigned n;

    if (ipop__routes_parse(v, strlen(v), r, IPOP__ROUTES_MAX, &n) < 0)
        return o->expected;
    if (n == 0) {
        net->n_routes_opt = 0;
        return NULL;
    }
    if (net->n_routes_opt + n > IPOP__ROUTES_MAX)
        return o->expected;
    for (unsigned i = 0; i < n; i++)
        for (unsigned k = 0; k < net->n_routes_opt; k++)
            if (ipop__prefix_same(&r[i], &net->routes_opt[k]))
                return o->expected;
    memcpy(net->routes_opt + net->n_routes_opt, r, sizeof(r[0]) * n);
    net->n_routes_opt += n;
    return NULL;
}

static const option options[] = {
    { "mode", set_mode, 0, 0, 0, "expected none, tun or tap", false },
    { "device", set_device, FIELD(device_opt), 0, 0, "not a device name", false },
    { "device.offload", set_bool, FIELD(offload), 0, 0, "expected true or false", false },
    { "tap.tagged", set_bool, FIELD(tap_tagged), 0, 0, "expected true or false", false },
    { "broadcast", set_bool, FIELD(broadcast), 0, 0, "expected true or false", false },
    { "broadcast.rate", set_uint, FIELD(broadcast_rate), 1, 1000000, "expected packets a second from 1 to 1000000",
      false },
    { "address", set_address, 0, 0, 0, "expected an IPv4 or IPv6 address with prefix", false },
    { "mtu", set_mtu, 0, 576, IPOP_MAX_MTU, "expected a number from 576 to 1500", false },
    { "ice.stun", add_stun, 0, 0, 0, "expected host:port", false },
    { "ice.turn", add_turn, 0, 0, 0, "expected turn:user:pass@host:port?transport=udp|tcp", false },
    { "ice.local-address", add_local_address, 0, 0, 0, "expected an IPv4 or IPv6 address without prefix", false },
    { "ice.relay-only", set_bool, FIELD(relay_only), 0, 0, "expected true or false", false },
    { "ice.tcp", set_bool, FIELD(ice_tcp), 0, 0, "expected true or false", false },
    { "identity.file", set_identity_file, FIELD(identity_file), 0, 0, "empty path", false },
    { "loop", set_loop, 0, 0, 0, "expected thread or external", false },
    { "signal.scope", set_scope, FIELD(signal_scope), 0, 0, "expected at most 256 characters on one line", false },
    { "link.timeout", set_uint, FIELD(link_timeout_s), 1, 3600, "expected seconds from 1 to 3600", false },
    { "link.max", set_uint, FIELD(link_max), 1, 65535, "expected a number of links from 1 to 65535", false },
    { "link.rekey-interval", set_uint, FIELD(rekey_interval_s), 1, 600, "expected seconds from 1 to 600", false },
    { "dtls.record", set_record, 0, 0, 0, "expected own or gnutls", false },
    { "overlay", set_overlay, 0, 0, 0, "expected none, group or social", false },
    { "xmpp.jid", set_jid, FIELD(xmpp_jid), 0, 0, "expected user@domain", false },
    { "xmpp.password", set_string, FIELD(xmpp_password), 0, 0, NULL, true },
    { "xmpp.password-file", set_secret_file, FIELD(xmpp_password), 0, 0, NULL, false },
    { "xmpp.server", set_server, FIELD(xmpp_server), 0, 0, "expected a host name or address", false },
    { "xmpp.port", set_uint, FIELD(xmpp_port), 1, 65535, "expected a port number", false },
    { "xmpp.require-tls", set_bool, FIELD(xmpp_require_tls), 0, 0, "expected true or false", false },
    { "xmpp.server-fingerprint", set_fingerprint, FIELD(xmpp_fingerprint), 0, 0,
      "expected a SHA-256 fingerprint in hex", false },
    { "group.room", set_room, FIELD(group_room), 0, 0, "expected room@service", false },
    { "group.secret", set_path, FIELD(group_secret), 0, 0, "empty secret", true },
    { "group.secret-file", set_secret_file, FIELD(group_secret), 0, 0, NULL, false },
    { "group.authority", set_authority, FIELD(group_authority), 0, 0,
      "expected the authority's public key, ed25519: and 43 characters (ipop-authority init)", false },
    { "group.certificate", set_path, FIELD(group_certificate), 0, 0, "empty path", false },
    { "group.revocations", set_path, FIELD(group_revocations), 0, 0, "empty path", false },
    { "group.subnet", set_group_subnet, 0, 0, 0,
      "expected an IPv4 subnet from /8 to /30, or an IPv6 one from /8 to /120", false },
    { "social.subnet", set_social_subnet, 0, 0, 0, "expected an IPv4 subnet from /8 to /30", false },
    { "social.state-file", set_path, FIELD(social_state_file), 0, 0, "empty path", false },
    { "name", set_name, 0, 0, 0,
      "expected a DNS label: 1 to 63 letters, digits or '-', not starting or ending with '-'", false },
    { "routes", set_routes, 0, 0, 0,
      "expected at most 64 prefixes (separated by ',' or spaces) with their host bits zero, no default route",
      false },
    { "accept-routes", set_bool, FIELD(accept_routes), 0, 0, "expected true or false", false },
    { "ice.port-mapping", set_port_mapping, 0, 0, 0, "expected true, false, or a list of upnp, natpmp, pcp", false },
};

static void log_refusal(ipop_network_t *net, const char *key, const char *value, const char *why)
{
    ipop__err(net, "option %s: %s%s%s", key, why, value ? ": " : "", value ? value : "");
}

IPOP_EXPORT int ipop_network_set_option(ipop_network_t *net, const char *key, const char *value)
{
    if (!net || !key)
        return -EINVAL;
    if (g_atomic_int_get(&net->running))
        return -EBUSY;
    if (!value) {
        log_refusal(net, key, NULL, "no value");
        return -EINVAL;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(options); i++) {
        const option *o = &options[i];
        const char *why;
        if (strcmp(key, o->key) != 0)
            continue;
        why = o->set(net, o, value);
        if (!why && o->field == FIELD(group_secret))
            net->group_secret_derived = false; /* the host's own secret from now on */
        if (!why)
            return 0;
        log_refusal(net, key, o->secret ? NULL : value, why);
        return -EINVAL;
    }
    log_refusal(net, key, NULL, "unknown option");
    return -EINVAL;
}

/* ---- the whole configuration ---- */

/* A rule is broken: why says which, as "KEY: reason".  Returns false. */
G_GNUC_PRINTF(3, 4) static bool broken(char *why, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return false;
}

/* The rules between keys: false, with "KEY: reason" in why, when one is
 * broken; KEY is the key to change. */
static bool check_all(ipop_network_t *net, char *why, size_t size)
{
    const char *overlay = net->overlay == OVERLAY_SOCIAL ? "social" : "group";
    int mtu = net->mtu ? net->mtu : net->mode == MODE_TAP ? IPOP_DEFAULT_MTU - IPOP__ETH_HLEN : IPOP_DEFAULT_MTU;

    if (net->mode == MODE_TAP && mtu + IPOP__ETH_HLEN > IPOP_MAX_PACKET)
        return broken(why, size, "mtu: %d is too large for tap mode (at most %d)", mtu,
                        IPOP_MAX_PACKET - IPOP__ETH_HLEN);
    if (net->mode != MODE_TUN && (net->n_routes_opt || net->accept_routes))
        return broken(why, size, "%s: only for mode=tun", net->n_routes_opt ? "routes" : "accept-routes");
    if (net->group_authority && net->overlay != OVERLAY_GROUP)
        return broken(why, size, "group.authority: only for overlay=group");
    if (net->overlay == OVERLAY_NONE)
        return true;
    if (!net->xmpp_jid)
        return broken(why, size, "xmpp.jid: needed by overlay=%s", overlay);
    if (!net->xmpp_password)
        return broken(why, size, "xmpp.password: needed by overlay=%s (or xmpp.password-file)", overlay);
    if (net->overlay == OVERLAY_SOCIAL) {
        if (!net->social_subnet.family)
            return broken(why, size, "social.subnet: needed by overlay=social");
        if (!net->addr4.family)
            return broken(why, size, "address: an IPv4 address is needed by overlay=social");
        if (net->mode == MODE_TAP)
            return broken(why, size, "mode: overlay=social translates IP packets: use tun or none: tap");
        return true;
    }
    if (!net->group_room)
        return broken(why, size, "group.room: needed by overlay=group");
    if (!net->group_authority && (net->group_certificate || net->group_revocations))
        return broken(why, size, "group.authority: needed by group.%s",
                      net->group_certificate ? "certificate" : "revocations");
    if (net->group_authority && !net->group_certificate)
        return broken(why, size, "group.certificate: needed by group.authority");
    if ((!net->group_secret || net->group_secret_derived) && !net->group_authority)
        return broken(why, size, "group.secret: needed by overlay=group (or group.secret-file, or group.authority)");
    return true;
}

/* A weak group secret works, but whoever is in the room (or runs the
 * XMPP server) and captures one membership proof can guess it offline. */
static void warn_weak_secret(ipop_network_t *net)
{
    unsigned bits;

    if (net->overlay != OVERLAY_GROUP || !net->group_secret)
        return;
    bits = ipop__proof_secret_bits(net->group_secret);
    if (bits < IPOP__PROOF_STRONG_BITS)
        ipop__warn(net, "group.secret is weak (about %u bits, fewer than %u): anyone in the room, or the XMPP "
                   "server, who captures one membership proof can guess it offline, at the cost of one Argon2id "
                   "derivation (64 MiB) per guess; use a generated one (ipopd --gen-secret)", bits,
                   IPOP__PROOF_STRONG_BITS);
}

int ipop__options_check(ipop_network_t *net, char *why, size_t why_size)
{
    char text[160] = "";

    if (check_all(net, text, sizeof(text))) {
        if (why && why_size)
            why[0] = '\0';
        warn_weak_secret(net);
        return 0;
    }
    if (why && why_size)
        g_strlcpy(why, text, why_size);
    ipop__err(net, "option %s", text);
    return -EINVAL;
}

IPOP_EXPORT int ipop_network_check(ipop_network_t *net, char *why, size_t why_size)
{
    if (why && why_size)
        why[0] = '\0';
    if (!net || (!why && why_size))
        return -EINVAL;
    return ipop__options_check(net, why, why_size);
}

/* ---- the other settings ---- */

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

/* ---- with the network ---- */

void ipop__options_init(ipop_network_t *net)
{
    net->stun = g_ptr_array_new_with_free_func(stun_free);
    net->turn = g_ptr_array_new_with_free_func(relay_free);
    net->local_addrs = g_ptr_array_new_with_free_func(g_free);
    net->link_timeout_s = 30;
    net->link_max = 256;
    net->rekey_interval_s = 600;
    net->offload = true;
    net->broadcast = true;
    net->broadcast_rate = IPOP_BROADCAST_RATE;
    net->xmpp_require_tls = true;
}

void ipop__options_free(ipop_network_t *net)
{
    g_ptr_array_unref(net->stun);
    g_ptr_array_unref(net->turn);
    g_ptr_array_unref(net->local_addrs);
    if (net->user_ctx)
        g_main_context_unref(net->user_ctx);
    g_free(net->device_opt);
    g_free(net->identity_file);
    set_str(&net->xmpp_password, NULL);
    set_str(&net->group_secret, NULL);
    g_free(net->xmpp_jid);
    g_free(net->xmpp_server);
    g_free(net->xmpp_fingerprint);
    g_free(net->group_room);
    g_free(net->group_authority);
    g_free(net->group_certificate);
    g_free(net->group_revocations);
    g_free(net->social_state_file);
    g_free(net->signal_scope);
}
