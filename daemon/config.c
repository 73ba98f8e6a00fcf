/* SPDX-License-Identifier: MIT */
/* ipopd's command line and config file: each [group] is one network,
 * created and configured here (not started).  What the library would
 * refuse at start is found here by its own check (ipop_network_check), and
 * reported with the file and line; ipopd adds only the rules of its own
 * keys (signal.*) and of its defaults. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns.h"
#include "ipopd.h"

static const char *state_dir = DEFAULT_STATE_DIR;
/* The [ipopd] section of the config last accepted. */
static struct daemon_conf daemon_conf;
/* The section of ipopd's own settings; every other one is a network. */
#define DAEMON_SECTION "ipopd"

struct config {
    const char *file;
    GKeyFile *kf;
    char **lines;                 /* the file's text, for line numbers */
};

/* GKeyFile does not say where a key was: find its line ourselves.  The
 * last occurrence counts, as GKeyFile keeps the last value.  Without a key:
 * the group's header.  0 when not found. */
static unsigned config_line(const struct config *c, const char *group, const char *key)
{
    g_autofree char *group_cur = NULL;
    unsigned found = 0;

    for (unsigned i = 0; c->lines && c->lines[i]; i++) {
        const char *s = c->lines[i];
        const char *eq;
        size_t klen;

        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '[') {
            const char *end = strchr(s, ']');
            g_free(group_cur);
            group_cur = end ? g_strndup(s + 1, (size_t)(end - s - 1)) : NULL;
            if (!key && group_cur && strcmp(group_cur, group) == 0)
                found = i + 1;
            continue;
        }
        if (!key || !group_cur || strcmp(group_cur, group) != 0 || *s == '#' || !(eq = strchr(s, '=')))
            continue;
        klen = (size_t)(eq - s);
        while (klen && (s[klen - 1] == ' ' || s[klen - 1] == '\t'))
            klen--;
        if (klen == strlen(key) && memcmp(s, key, klen) == 0)
            found = i + 1;
    }
    return found;
}

/* GKeyFile's parse errors quote the bad line: find it for its number. */
static unsigned config_quoted_line(const struct config *c, const char *message)
{
    const char *open = strstr(message, "\xe2\x80\x9c"), *close; /* “ ... ” */
    g_autofree char *quoted = NULL;

    if (!open || !(close = strstr(open + 3, "\xe2\x80\x9d")))
        return 0;
    quoted = g_strndup(open + 3, (size_t)(close - open - 3));
    for (unsigned i = 0; c->lines && c->lines[i]; i++)
        if (strcmp(c->lines[i], quoted) == 0)
            return i + 1;
    return 0;
}

/* "ipopd: FILE:LINE: [group] key: message", with what is known. */
static void __attribute__((format(printf, 5, 6)))
config_error(const struct config *c, unsigned line, const char *group, const char *key, const char *fmt, ...)
{
    char msg[512], where[64] = "";
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line == 0 && group)
        line = config_line(c, group, key);
    if (line)
        snprintf(where, sizeof(where), "%u:", line);
    if (group && key)
        fprintf(stderr, "ipopd: %s:%s [%s] %s: %s\n", c->file, where, group, key, msg);
    else if (group)
        fprintf(stderr, "ipopd: %s:%s [%s]: %s\n", c->file, where, group, msg);
    else
        fprintf(stderr, "ipopd: %s:%s %s\n", c->file, where, msg);
}

/* Parses "IP:PORT" or "[IPv6]:PORT" (numeric only, port 1..65535). */
static int parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    const char *colon = strrchr(s, ':');
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_DGRAM,
        .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
    };
    struct addrinfo *ai = NULL;
    char host[INET6_ADDRSTRLEN + 2];
    size_t hlen;
    char *end;
    long port;

    if (!colon || colon == s)
        return -EINVAL;
    hlen = (size_t)(colon - s);
    if (s[0] == '[') {
        if (hlen < 3 || s[hlen - 1] != ']')
            return -EINVAL;
        s++;
        hlen -= 2;
    } else if (memchr(s, ':', hlen)) {
        return -EINVAL; /* IPv6 without brackets: the port is ambiguous */
    }
    if (hlen >= sizeof(host))
        return -EINVAL;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 1 || port > 65535)
        return -EINVAL;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai)
        return -EINVAL;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static int parse_listen(const struct config *c, struct net *n, const char *key)
{
    g_autofree char *value = g_key_file_get_string(c->kf, n->name, key, NULL);

    if (!value || parse_hostport(value, &n->listen, &n->listenlen) < 0) {
        config_error(c, 0, n->name, key, "expected IP:PORT or [IPv6]:PORT, got \"%s\"", value ? value : "");
        return -EINVAL;
    }
    n->has_listen = true;
    return 0;
}

static int parse_peers(const struct config *c, struct net *n, const char *key)
{
    gsize count = 0;
    g_auto(GStrv) items = g_key_file_get_string_list(c->kf, n->name, key, &count, NULL);

    n->peers = g_new0(struct peer, count);
    for (gsize i = 0; i < count; i++) {
        char *item = g_strstrip(items[i]);
        char *at = strrchr(item, '@');
        struct peer *p = &n->peers[n->n_peers];
        int r;

        if (!at || at == item) {
            config_error(c, 0, n->name, key, "\"%s\": expected NODEID@IP:PORT", item);
            return -EINVAL;
        }
        *at = '\0';
        r = ipop_network_allow_peer(n->net, item);
        if (r < 0) {
            config_error(c, 0, n->name, key, "\"%s\": not a node id (%s)", item, ipop_strerror(r));
            return r;
        }
        if (parse_hostport(at + 1, &p->addr, &p->addrlen) < 0) {
            config_error(c, 0, n->name, key, "\"%s\": expected IP:PORT or [IPv6]:PORT after '@'", at + 1);
            return -EINVAL;
        }
        for (size_t j = 0; j < n->n_peers; j++) {
            if (strcmp(n->peers[j].id, item) == 0) {
                config_error(c, 0, n->name, key, "peer %s listed twice", item);
                return -EINVAL;
            }
        }
        p->id = g_strdup(item);
        n->n_peers++;
    }
    return 0;
}

/* Passes a library key on, once per item of a ';'-separated list. */
static int set_library_option(const struct config *c, struct net *n, const char *key)
{
    gsize count = 0;
    g_auto(GStrv) items = g_key_file_get_string_list(c->kf, n->name, key, &count, NULL);
    const char *empty[] = {"", NULL};
    const char *const *values = count ? (const char *const *)items : empty;

    for (size_t i = 0; values[i]; i++) {
        int r = ipop_network_set_option(n->net, key, values[i]);

        if (r == -EINVAL) {
            /* Secrets stay out of the log. */
            bool secret = strstr(key, "password") || strcmp(key, "group.secret") == 0;
            /* the library logged why (a file it cannot read, a bad value, an unknown key) */
            config_error(c, 0, n->name, key, "not accepted: \"%s\" (the line above says why)",
                         secret ? "..." : values[i]);
            return r;
        }
        if (r < 0) {
            config_error(c, 0, n->name, key, "%s", ipop_strerror(r));
            return r;
        }
        if (strcmp(key, "address") == 0)
            g_ptr_array_add(n->addresses, g_strdup(values[i]));
        else if (strcmp(key, "mode") == 0) {
            g_free(n->mode);
            n->mode = g_strdup(values[i]);
        } else if (strcmp(key, "overlay") == 0) {
            n->overlay = strcmp(values[i], "group") == 0    ? OVERLAY_GROUP
                         : strcmp(values[i], "social") == 0 ? OVERLAY_SOCIAL
                                                            : OVERLAY_NONE;
        } else if (strcmp(key, "social.state-file") == 0) {
            g_free(n->state_file);
            n->state_file = g_strdup(values[i]);
        }
    }
    return 0;
}

static bool has_key(const struct config *c, const struct net *n, const char *key)
{
    return g_key_file_has_key(c->kf, n->name, key, NULL);
}

/* Keys of one overlay that mean nothing to the other: a sign of a section
 * half changed from one to the other. */
static int check_foreign_keys(const struct config *c, struct net *n, const char *prefix, const char *overlay)
{
    g_auto(GStrv) keys = g_key_file_get_keys(c->kf, n->name, NULL, NULL);

    for (size_t i = 0; keys && keys[i]; i++) {
        if (g_str_has_prefix(keys[i], prefix)) {
            config_error(c, 0, n->name, keys[i], "not used with overlay = %s", overlay);
            return -EINVAL;
        }
    }
    return 0;
}

/* A file name of the state directory for network n, or NULL when the
 * network's name does not make a safe one. */
static char *state_path(const struct net *n, const char *suffix)
{
    for (const char *p = n->name; *p; p++)
        if (!g_ascii_isalnum(*p) && !strchr("._-", *p))
            return NULL;
    if (n->name[0] == '.' || !n->name[0])
        return NULL;
    return g_strdup_printf("%s/%s%s", state_dir, n->name, suffix);
}

/* A SocialVPN pins each friend's node id, so a node needs an identity
 * that survives restarts, and a place for the pins: both default to files
 * of the state directory. */
static int social_defaults(const struct config *c, struct net *n)
{
    static const char *const defaults[][2] = {
        {"identity.file", ".key"},
        {"social.state-file", ".friends"},
    };

    for (size_t i = 0; i < G_N_ELEMENTS(defaults); i++) {
        g_autofree char *path = NULL;
        int r;

        if (has_key(c, n, defaults[i][0]))
            continue;
        path = state_path(n, defaults[i][1]);
        if (!path) {
            config_error(c, 0, n->name, defaults[i][0],
                         "missing, and the network's name is no file name for a default under %s: set it",
                         state_dir);
            return -EINVAL;
        }
        r = ipop_network_set_option(n->net, defaults[i][0], path);
        if (r < 0) {
            config_error(c, 0, n->name, defaults[i][0], "default %s: %s", path, ipop_strerror(r));
            return r;
        }
        if (strcmp(defaults[i][0], "social.state-file") == 0)
            n->state_file = g_strdup(path);
        g_free(n->default_dir);
        n->default_dir = g_strdup(state_dir);
    }
    return 0;
}

/* The library's check of the whole configuration, before anything
 * starts.  Its text names the key to change ("KEY: reason"); when that key
 * is not in the file (a key an overlay needs), the line of "overlay" is
 * the one to look at. */
static int check_library(const struct config *c, struct net *n)
{
    char why[256];
    const char *colon;
    g_autofree char *key = NULL;
    unsigned line;

    if (ipop_network_check(n->net, why, sizeof(why)) == 0)
        return 0;
    colon = strstr(why, ": ");
    if (!colon) {
        config_error(c, 0, n->name, NULL, "%s", why[0] ? why : "refused by the library");
        return -EINVAL;
    }
    key = g_strndup(why, (size_t)(colon - why));
    line = config_line(c, n->name, key);
    if (!line)
        line = config_line(c, n->name, "overlay");
    config_error(c, line, n->name, key, "%s", colon + 2);
    return -EINVAL;
}

/* What start would refuse or what cannot work, caught by --check too: an
 * address without a prefix in a group (a /32 reaches no member), an
 * identity file that cannot be read, or cannot be made where it is. */
static int check_usable(const struct config *c, struct net *n)
{
    g_autofree char *id = g_key_file_get_string(c->kf, n->name, "identity.file", NULL);

    for (size_t j = 0; j < n->addresses->len; j++) {
        const char *a = g_ptr_array_index(n->addresses, j);
        if (strchr(a, '/') || n->overlay != OVERLAY_GROUP)
            continue;
        config_error(c, config_line(c, n->name, "address"), n->name, "address",
                     "%s has no prefix length: as a /32 it reaches no member; write the group's subnet, "
                     "such as %s/24", a, a);
        return -EINVAL;
    }
    if (id && id[0]) {
        g_autofree char *dir = g_path_get_dirname(id);
        bool exists = access(id, F_OK) == 0;
        int err = exists ? (access(id, R_OK) < 0 ? errno : 0) : (access(dir, W_OK | X_OK) < 0 ? errno : 0);

        if (err) {
            config_error(c, config_line(c, n->name, "identity.file"), n->name, "identity.file",
                         exists ? "%s cannot be read: %s" : "%s does not exist and cannot be made in %s: %s",
                         id, exists ? strerror(err) : dir, strerror(err));
            return -EINVAL;
        }
    }
    return 0;
}

/* ipopd's own rules for a network of the library's XMPP overlays: its UDP
 * signalling keys mean nothing there, nor the keys of the other overlay. */
static int check_overlay(const struct config *c, struct net *n)
{
    bool social = n->overlay == OVERLAY_SOCIAL;
    const char *name = social ? "social" : "group";

    if (n->has_listen || n->n_peers) {
        const char *key = n->has_listen ? "signal.listen" : "signal.peers";
        config_error(c, 0, n->name, key, "not used with overlay = %s (the library signals over XMPP)", name);
        return -EINVAL;
    }
    if (check_foreign_keys(c, n, social ? "group." : "social.", name) < 0)
        return -EINVAL;
    return social ? social_defaults(c, n) : 0;
}

/* dns (default: true in modes tun and tap), dns.suffix (default: the
 * section's name, when it is a domain name) and dns.resolved (default
 * true: register with systemd-resolved when it runs).  The server answers on the
 * overlay addresses of the device: mode none has none. */
static int dns_options(const struct config *c, struct net *n)
{
    g_autoptr(GError) error = NULL;
    bool device = n->mode && strcmp(n->mode, "none") != 0;
    bool explicit = has_key(c, n, "dns");
    g_autofree char *suffix = g_key_file_get_string(c->kf, n->name, "dns.suffix", NULL);

    n->dns = device;
    n->dns_resolved = true;
    if (has_key(c, n, "dns.resolved")) {
        n->dns_resolved = g_key_file_get_boolean(c->kf, n->name, "dns.resolved", &error);
        if (error) {
            config_error(c, 0, n->name, "dns.resolved", "expected true or false");
            return -EINVAL;
        }
    }
    if (explicit) {
        n->dns = g_key_file_get_boolean(c->kf, n->name, "dns", &error);
        if (error) {
            config_error(c, 0, n->name, "dns", "expected true or false");
            return -EINVAL;
        }
    }
    if (n->dns && !device) {
        config_error(c, 0, n->name, "dns", "needs mode tun or tap (the server answers on the device's addresses)");
        return -EINVAL;
    }
    g_free(n->dns_suffix);
    n->dns_suffix = g_ascii_strdown(suffix ? g_strstrip(suffix) : n->name, -1);
    free(n->dns_suffix_wire);
    n->dns_suffix_wire = dns_suffix_new(n->dns_suffix, &n->dns_suffix_len);
    if (n->dns_suffix_wire || !n->dns)
        return 0;
    if (suffix) {
        config_error(c, 0, n->name, "dns.suffix", "\"%s\" is not a domain name", suffix);
        return -EINVAL;
    }
    if (explicit) {
        config_error(c, 0, n->name, "dns", "the network's name is no domain name: set dns.suffix");
        return -EINVAL;
    }
    n->dns = false; /* by default only: the section's name cannot be a suffix */
    return 0;
}

static int load_group(const struct config *c, struct net *n)
{
    g_auto(GStrv) keys = g_key_file_get_keys(c->kf, n->name, NULL, NULL);
    GString *canon = g_string_new(NULL);
    int r = ipop_network_new(&n->net, n->name);

    if (r < 0) {
        config_error(c, 0, n->name, NULL, "cannot create the network: %s", ipop_strerror(r));
        goto out;
    }
    /* ipopd asks the home router for port mappings unless told not to */
    ipop_network_set_option(n->net, "ice.port-mapping", "true");
    for (size_t i = 0; keys && keys[i]; i++) {
        const char *key = keys[i];
        g_autofree char *raw = g_key_file_get_value(c->kf, n->name, key, NULL);

        g_string_append_printf(canon, "%s=%s\n", key, raw ? raw : "");
        if (raw)
            explicit_bzero(raw, strlen(raw));
        if (strcmp(key, "signal.listen") == 0)
            r = parse_listen(c, n, key);
        else if (strcmp(key, "signal.peers") == 0)
            r = parse_peers(c, n, key);
        else if (strcmp(key, "signal.scope") == 0)
            r = set_library_option(c, n, key); /* what the library signs for */
        else if (strcmp(key, "dns") == 0 || strcmp(key, "dns.suffix") == 0 || strcmp(key, "dns.resolved") == 0)
            r = 0; /* ipopd's own: dns_options() reads them */
        else if (g_str_has_prefix(key, "signal.") || g_str_has_prefix(key, "dns.")) {
            config_error(c, 0, n->name, key, "unknown key");
            r = -EINVAL;
        } else
            r = set_library_option(c, n, key);
        if (r < 0)
            goto out;
    }
    r = check_library(c, n);
    if (r < 0)
        goto out;
    r = dns_options(c, n);
    if (r < 0)
        goto out;
    r = check_usable(c, n);
    if (r < 0)
        goto out;
    if (n->overlay != OVERLAY_NONE) {
        r = check_overlay(c, n);
        goto out;
    }
    r = -EINVAL;
    if (!n->has_listen) {
        config_error(c, 0, n->name, NULL,
                     "signal.listen missing (the UDP address peers send signalling to), "
                     "or set overlay = group or social");
        goto out;
    }
    for (size_t i = 0; i < n->n_peers; i++) {
        if (n->peers[i].addr.ss_family != n->listen.ss_family) {
            config_error(c, 0, n->name, "signal.peers", "%s: not the address family of signal.listen",
                         n->peers[i].id);
            goto out;
        }
    }
    r = 0;
out:
    n->canon = g_string_free(canon, FALSE);
    return r;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    return ss->ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* [ipopd]: metrics.listen, metrics.allow-remote.  The page and the metrics
 * name every member and its addresses to whoever reaches them, without a
 * password: loopback only, unless allowed in so many words. */
static int load_daemon_section(const struct config *c, struct daemon_conf *dc)
{
    const char *g = DAEMON_SECTION;
    g_auto(GStrv) keys = g_key_file_get_keys(c->kf, g, NULL, NULL);
    g_autoptr(GError) error = NULL;
    struct sockaddr_storage ss;
    socklen_t len;

    for (size_t i = 0; keys && keys[i]; i++) {
        if (strcmp(keys[i], "metrics.listen") != 0 && strcmp(keys[i], "metrics.allow-remote") != 0) {
            config_error(c, 0, g, keys[i], "unknown key: [%s] holds ipopd's own settings (metrics.listen, "
                         "metrics.allow-remote), not a network", g);
            return -EINVAL;
        }
    }
    if (g_key_file_has_key(c->kf, g, "metrics.allow-remote", NULL)) {
        dc->metrics_allow_remote = g_key_file_get_boolean(c->kf, g, "metrics.allow-remote", &error);
        if (error) {
            config_error(c, 0, g, "metrics.allow-remote", "expected true or false");
            return -EINVAL;
        }
    }
    if (!g_key_file_has_key(c->kf, g, "metrics.listen", NULL))
        return 0;
    dc->metrics_listen = g_key_file_get_string(c->kf, g, "metrics.listen", NULL);
    if (!dc->metrics_listen || parse_hostport(dc->metrics_listen, &ss, &len) < 0) {
        config_error(c, 0, g, "metrics.listen", "expected IP:PORT or [IPv6]:PORT, got \"%s\"",
                     dc->metrics_listen ? dc->metrics_listen : "");
        return -EINVAL;
    }
    if (!is_loopback(&ss) && !dc->metrics_allow_remote) {
        config_error(c, 0, g, "metrics.listen", "%s is not a loopback address: the status page and metrics show "
                     "every member and address, without a password; set metrics.allow-remote = true to serve "
                     "them there anyway", dc->metrics_listen);
        return -EINVAL;
    }
    return 0;
}

const struct daemon_conf *config_daemon(void)
{
    return &daemon_conf;
}

/* Reads FILE into a list of networks, configured but not started.  Prints
 * what is wrong and returns -EINVAL on a bad config. */
int load_config(const char *file, GPtrArray **ret)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    g_auto(GStrv) groups = NULL;
    g_auto(GStrv) lines = NULL;
    GPtrArray *list = NULL;
    struct config c = {.file = file, .kf = kf};
    struct daemon_conf dc = {0};
    gsize count = 0;

    if (!g_file_get_contents(file, &text, NULL, &error)) {
        fprintf(stderr, "ipopd: %s\n", error->message);
        return -EINVAL;
    }
    lines = g_strsplit(text, "\n", -1);
    c.lines = lines;
    if (!g_key_file_load_from_data(kf, text, (gsize)-1, G_KEY_FILE_NONE, &error)) {
        config_error(&c, config_quoted_line(&c, error->message), NULL, NULL, "%s", error->message);
        return -EINVAL;
    }
    groups = g_key_file_get_groups(kf, &count);
    if (count == 0 || (count == 1 && strcmp(groups[0], DAEMON_SECTION) == 0)) {
        config_error(&c, 0, NULL, NULL, "no network: add a group such as [net0]");
        return -EINVAL;
    }
    if (g_key_file_has_group(kf, DAEMON_SECTION) && load_daemon_section(&c, &dc) < 0) {
        g_free(dc.metrics_listen);
        return -EINVAL;
    }
    list = g_ptr_array_new();
    for (gsize i = 0; i < count; i++) {
        struct net *n;

        if (strcmp(groups[i], DAEMON_SECTION) == 0)
            continue;
        n = net_new(groups[i]);

        g_ptr_array_add(list, n);
        if (load_group(&c, n) < 0) {
            net_list_free(list);
            g_free(dc.metrics_listen);
            return -EINVAL;
        }
    }
    explicit_bzero(text, strlen(text));
    g_free(daemon_conf.metrics_listen);
    daemon_conf = dc;
    *ret = list;
    return 0;
}

/* --check: the config loads and every option is accepted; nothing starts. */
int check_config(const char *config)
{
    GPtrArray *list = NULL;

    if (load_config(config, &list) < 0)
        return EXIT_CONFIG;
    /* The rules between keys, as a start checks them; warnings (a weak
     * group secret) are logged. */
    for (guint i = 0; i < list->len; i++) {
        char why[200];
        if (ipop_network_check(((struct net *)list->pdata[i])->net, why, sizeof(why)) < 0) {
            net_list_free(list);
            return EXIT_CONFIG;
        }
    }
    printf("%s: %u network%s, config OK\n", config, list->len, list->len == 1 ? "" : "s");
    net_list_free(list);
    return 0;
}

int parse_command_line(int argc, char **argv, struct options *o)
{
    g_autofree char *state = NULL;
    gboolean version = FALSE, debug = FALSE, check = FALSE, gen_secret = FALSE;
    GOptionEntry entries[] = {
        {"config", 'c', 0, G_OPTION_ARG_FILENAME, &o->config, "Run the networks of config FILE", "FILE"},
        {"check", 0, 0, G_OPTION_ARG_NONE, &check, "With --config: check the config, start nothing", NULL},
        {"control", 0, 0, G_OPTION_ARG_FILENAME, &o->control,
         "Control socket for ipopctl (default $IPOPD_CONTROL, else " DEFAULT_CONTROL ")", "PATH"},
        {"state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state,
         "Default place of SocialVPN identities and friends (default " DEFAULT_STATE_DIR ")", "DIR"},
        {"node-id", 0, 0, G_OPTION_ARG_FILENAME, &o->id_file,
         "Create FILE (if missing) with a new identity, print its node id", "FILE"},
        {"gen-secret", 0, 0, G_OPTION_ARG_NONE, &gen_secret, "Print a new strong group.secret and exit", NULL},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &debug, "Log debug messages", NULL},
        {"version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the versions and exit", NULL},
        {NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- IP-over-P2P VPN daemon");
    g_autoptr(GError) error = NULL;
    const char *env = getenv("IPOPD_CONTROL");

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_summary(ctx, "Each [group] of the config file is one network.  See ipopd(8), "
                                      "ipopd.conf(5) and ipopctl(8).");
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "ipopd: %s (try --help)\n", error->message);
        return EXIT_CONFIG;
    }
    o->control_explicit = o->control || (env && *env);
    if (version) {
        printf("ipopd %s (libipop %s)\n", IPOP_VERSION, ipop_version());
        return 0;
    }
    if (gen_secret)
        return print_new_secret();
    if (argc > 1 || (!o->config == !o->id_file) || (check && !o->config)) {
        fprintf(stderr, "ipopd: give one of --config FILE or --node-id FILE (try --help)\n");
        return EXIT_CONFIG;
    }
    o->verbose = debug;
    o->check = check;
    /* Lives as long as the program: the networks' default files are made
     * of it. */
    if (state)
        state_dir = g_steal_pointer(&state);
    if (!o->control)
        o->control = g_strdup(env && *env ? env : DEFAULT_CONTROL);
    return -1;
}
