/* SPDX-License-Identifier: MIT */
/*
 * ipopd: a thin daemon on libipop's public API.
 *
 * Each group of the config file is one network.  A network with
 * "overlay = group" signals over XMPP, inside the library (GroupVPN: every
 * member of the room that knows the group secret links with every other);
 * so does one with "overlay = social" (SocialVPN: each node links with the
 * roster contacts of mutual subscription, each at an address it picks in
 * social.subnet).  Any other network signals over a UDP socket of the daemon's own
 * ("signal.listen"), one datagram per message: "<sender-node-id> <message>".
 * That channel needs no authentication of its own: a node id is the hash of
 * the node's public key and the library pins the certificate carried in the
 * messages.
 *
 * A Unix socket ("--control") answers ipopctl: one request line per
 * connection, answered from the main loop without blocking it.
 *
 * Threads: the library calls the signal, event and log callbacks from its
 * own threads.  The signal callback only reads state that is fixed before
 * start and calls sendto().  The event callback logs and hands link events
 * to the main thread through a pipe, so that only the main thread calls the
 * networks' functions (ipop.h forbids concurrent calls) and only it touches
 * the per-network list of links.  The log callback looks network names up
 * in the table under a mutex; only the main thread changes the table.
 */
#define _GNU_SOURCE /* pipe2, accept4 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <glib.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ipop/ipop.h>

#define EXIT_CONFIG 2
#define RECONNECT_DELAY_MS 2000
#define STATUS_INTERVAL_MS 10000
/* A node id, a space and the longest message the library accepts (8 KiB)
 * fit with room to spare; anything longer is cut and dropped. */
#define DATAGRAM_MAX 16384
#define DEFAULT_CONTROL "/run/ipopd.sock"
#define CONTROL_CLIENTS_MAX 16
#define CONTROL_REQUEST_MAX 256
#define CONTROL_DEADLINE_MS 5000
/* The systemd unit (examples/ipopd.service) makes it: StateDirectory=ipop. */
#define DEFAULT_STATE_DIR "/var/lib/ipop"
/* Identity changes of SocialVPN friends remembered per network for
 * ipopctl; the oldest go first. */
#define PENDING_MAX 16

struct peer {
    char *id;
    struct sockaddr_storage addr; /* its signal socket */
    socklen_t addrlen;
    int64_t reconnect_at;         /* monotonic ms, 0: none due */
};

enum overlay {
    OVERLAY_NONE,                 /* ipopd's UDP signalling */
    OVERLAY_GROUP,                /* GroupVPN: the library signals over XMPP */
    OVERLAY_SOCIAL,               /* SocialVPN: likewise, with roster friends */
};

/* A friend that came back with another node id, refused by the library
 * until `ipopctl accept`. */
struct pending {
    char peer_id[IPOP_NODE_ID_MAX + 1]; /* its new node id */
    char *jid;                    /* from the event's text, or NULL */
    char *detail;                 /* the event's text */
};

struct net {
    unsigned id;                  /* unique in this process: names the network in the event pipe */
    char *name;
    char *canon;                  /* the section's keys and values, to see what a reload changed */
    ipop_network_t *net;
    bool started;
    enum overlay overlay;
    char *state_file;             /* social.state-file, as given or by default */
    char *social_subnet;          /* social.subnet, as given */
    char *default_dir;            /* the --state-dir to create at start, when a default is used */
    char *mode;
    GPtrArray *addresses;         /* char *, as configured */
    int sock;                     /* signal.listen, -1 unless bound */
    struct sockaddr_storage listen;
    socklen_t listenlen;
    bool has_listen;
    struct peer *peers;
    size_t n_peers;
    GPtrArray *links;             /* ipop_link_t *, seen in link events; main thread only */
    GPtrArray *pending;           /* struct pending *; main thread only */
    char own_id[IPOP_NODE_ID_MAX + 1];
};

/* What the event callback passes to the main thread: fits in PIPE_BUF, so
 * each write is atomic.  A link event, or (refused) a friend's identity
 * change. */
struct link_event {
    unsigned net_id;
    ipop_link_t *link;
    ipop_link_state_t state;
    ipop_reason_t reason;
    bool refused;
    char peer_id[IPOP_NODE_ID_MAX + 1];
    char detail[256];
};

struct client {
    int fd;
    char in[CONTROL_REQUEST_MAX];
    size_t in_len;
    GString *out;                 /* NULL while the request is being read */
    size_t out_off;
    int64_t deadline;
};

static GPtrArray *nets;           /* struct net *; changed by the main thread under nets_lock */
static GMutex nets_lock;
static unsigned next_net_id = 1;
static bool verbose;
static const char *state_dir = DEFAULT_STATE_DIR;
static int event_pipe[2] = {-1, -1};
static int control_fd = -1;
static char *control_path;
static GPtrArray *clients;        /* struct client * */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct net *net_at(size_t i)
{
    return g_ptr_array_index(nets, i);
}

/* ---- logging ---- */

static void vlog_line(const char *net, const char *fmt, va_list ap)
{
    char line[1024];

    vsnprintf(line, sizeof(line), fmt, ap);
    /* One fprintf per line: stdio locks the stream, so lines from the
     * library's threads do not interleave. */
    if (net)
        fprintf(stderr, "ipopd[%s]: %s\n", net, line);
    else
        fprintf(stderr, "ipopd: %s\n", line);
}

static void __attribute__((format(printf, 2, 3))) log_net(const struct net *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog_line(n ? n->name : NULL, fmt, ap);
    va_end(ap);
}

static void __attribute__((format(printf, 2, 3))) debug_net(const struct net *n, const char *fmt, ...)
{
    va_list ap;

    if (!verbose)
        return;
    va_start(ap, fmt);
    vlog_line(n ? n->name : NULL, fmt, ap);
    va_end(ap);
}

/* Any thread. */
static void on_log(ipop_log_level_t level, ipop_network_t *net, const char *message, void *user_data)
{
    const char *prefix = level <= IPOP_LOG_ERR ? "error: " : level == IPOP_LOG_WARNING ? "warning: " : "";
    char name[128] = "";

    (void)user_data;
    if (net && nets) {
        g_mutex_lock(&nets_lock);
        for (size_t i = 0; i < nets->len; i++)
            if (net_at(i)->net == net)
                g_strlcpy(name, net_at(i)->name, sizeof(name));
        g_mutex_unlock(&nets_lock);
    }
    if (name[0])
        fprintf(stderr, "ipopd[%s]: %s%s\n", name, prefix, message);
    else
        fprintf(stderr, "ipopd: %s%s\n", prefix, message);
}

/* ---- networks: creation and freeing ---- */

static void pending_free(void *p)
{
    struct pending *pd = p;

    g_free(pd->jid);
    g_free(pd->detail);
    g_free(pd);
}

static struct net *net_new(const char *name)
{
    struct net *n = g_new0(struct net, 1);

    n->id = next_net_id++;
    n->name = g_strdup(name);
    n->sock = -1;
    n->addresses = g_ptr_array_new_with_free_func(g_free);
    n->links = g_ptr_array_new();
    n->pending = g_ptr_array_new_with_free_func(pending_free);
    return n;
}

/* Stops (goodbye to the peers, device removed) and frees.  Not under
 * nets_lock: the library's threads may log while it stops. */
static void net_free(struct net *n)
{
    if (!n)
        return;
    ipop_network_free(n->net);
    if (n->sock >= 0)
        close(n->sock);
    for (size_t j = 0; j < n->n_peers; j++)
        g_free(n->peers[j].id);
    g_free(n->peers);
    if (n->canon) /* it holds the secrets of the section */
        explicit_bzero(n->canon, strlen(n->canon));
    g_free(n->canon);
    g_free(n->mode);
    g_ptr_array_free(n->addresses, TRUE);
    g_ptr_array_free(n->links, TRUE);
    g_ptr_array_free(n->pending, TRUE);
    g_free(n->state_file);
    g_free(n->social_subnet);
    g_free(n->default_dir);
    g_free(n->name);
    g_free(n);
}

static void net_list_free(GPtrArray *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->len; i++)
        net_free(g_ptr_array_index(list, i));
    g_ptr_array_free(list, TRUE);
}

/* ---- configuration ---- */

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
            config_error(c, 0, n->name, key, "unknown key or bad value \"%s\"", secret ? "..." : values[i]);
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
        } else if (strcmp(key, "social.subnet") == 0) {
            g_free(n->social_subnet);
            n->social_subnet = g_strdup(values[i]);
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

static bool has_ipv4_address(const struct net *n)
{
    for (size_t i = 0; i < n->addresses->len; i++) {
        const char *a = g_ptr_array_index(n->addresses, i);
        if (!strchr(a, ':'))
            return true;
    }
    return false;
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

/* What the library would refuse only at start, refused before anything
 * starts, with the file and line. */
static int check_overlay(const struct config *c, struct net *n)
{
    static const char *const group_needs[][2] = {
        {"xmpp.jid", NULL},
        {"xmpp.password", "xmpp.password-file"},
        {"group.room", NULL},
        {"group.secret", "group.secret-file"},
    };
    static const char *const social_needs[][2] = {
        {"xmpp.jid", NULL},
        {"xmpp.password", "xmpp.password-file"},
        {"social.subnet", NULL},
    };
    bool social = n->overlay == OVERLAY_SOCIAL;
    const char *name = social ? "social" : "group";
    const char *const(*needed)[2] = social ? social_needs : group_needs;
    size_t n_needed = social ? G_N_ELEMENTS(social_needs) : G_N_ELEMENTS(group_needs);
    unsigned line = config_line(c, n->name, "overlay");

    if (n->has_listen || n->n_peers) {
        const char *key = n->has_listen ? "signal.listen" : "signal.peers";
        config_error(c, 0, n->name, key, "not used with overlay = %s (the library signals over XMPP)", name);
        return -EINVAL;
    }
    for (size_t i = 0; i < n_needed; i++) {
        if (has_key(c, n, needed[i][0]) || (needed[i][1] && has_key(c, n, needed[i][1])))
            continue;
        if (needed[i][1])
            config_error(c, line, n->name, needed[i][0], "missing: overlay = %s needs it or %s", name,
                         needed[i][1]);
        else
            config_error(c, line, n->name, needed[i][0], "missing: overlay = %s needs it", name);
        return -EINVAL;
    }
    if (check_foreign_keys(c, n, social ? "group." : "social.", name) < 0)
        return -EINVAL;
    if (!social)
        return 0;
    if (!has_ipv4_address(n)) {
        config_error(c, has_key(c, n, "address") ? 0 : line, n->name, "address",
                     "overlay = social needs an IPv4 address of this node's own, e.g. 10.70.0.1/24");
        return -EINVAL;
    }
    if (n->mode && strcmp(n->mode, "tap") == 0) {
        config_error(c, 0, n->name, "mode", "overlay = social translates IP packets: use tun or none");
        return -EINVAL;
    }
    return social_defaults(c, n);
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
        else if (g_str_has_prefix(key, "signal.")) {
            config_error(c, 0, n->name, key, "unknown key");
            r = -EINVAL;
        } else
            r = set_library_option(c, n, key);
        if (r < 0)
            goto out;
    }
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

/* Reads FILE into a list of networks, configured but not started.  Prints
 * what is wrong and returns -EINVAL on a bad config. */
static int load_config(const char *file, GPtrArray **ret)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    g_auto(GStrv) groups = NULL;
    g_auto(GStrv) lines = NULL;
    GPtrArray *list = NULL;
    struct config c = {.file = file, .kf = kf};
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
    if (count == 0) {
        config_error(&c, 0, NULL, NULL, "no network: add a group such as [net0]");
        return -EINVAL;
    }
    list = g_ptr_array_new();
    for (gsize i = 0; i < count; i++) {
        struct net *n = net_new(groups[i]);

        g_ptr_array_add(list, n);
        if (load_group(&c, n) < 0) {
            net_list_free(list);
            return -EINVAL;
        }
    }
    explicit_bzero(text, strlen(text));
    *ret = list;
    return 0;
}

/* ---- signalling over UDP (networks without an overlay) ---- */

static const struct peer *find_peer(const struct net *n, const char *id)
{
    for (size_t i = 0; i < n->n_peers; i++)
        if (strcmp(n->peers[i].id, id) == 0)
            return &n->peers[i];
    return NULL;
}

/* Library thread.  Reads only what is fixed before start. */
static void on_signal(ipop_network_t *net, const char *peer_id, const char *message, void *user_data)
{
    struct net *n = user_data;
    const struct peer *p = find_peer(n, peer_id);
    g_autofree char *datagram = NULL;
    size_t len;

    (void)net;
    if (!p || !n->own_id[0]) {
        debug_net(n, "no signal address for peer %.8s: message dropped", peer_id);
        return;
    }
    datagram = g_strdup_printf("%s %s", n->own_id, message);
    len = strlen(datagram);
    if (sendto(n->sock, datagram, len, MSG_DONTWAIT, (const struct sockaddr *)&p->addr, p->addrlen) < 0)
        log_net(n, "warning: signal to %.8s: %s", peer_id, strerror(errno));
}

static void receive_signal(struct net *n)
{
    char buf[DATAGRAM_MAX + 1];
    ssize_t len;

    for (;;) {
        char *space;
        int r;

        len = recv(n->sock, buf, DATAGRAM_MAX, MSG_TRUNC | MSG_DONTWAIT);
        if (len < 0) {
            if (errno != EAGAIN && errno != EINTR)
                log_net(n, "warning: signal socket: %s", strerror(errno));
            return;
        }
        if (len > DATAGRAM_MAX) {
            log_net(n, "warning: signal datagram of %zd bytes dropped (too long)", len);
            continue;
        }
        buf[len] = '\0';
        space = strchr(buf, ' ');
        if ((size_t)len != strlen(buf) || !space || space == buf) {
            log_net(n, "warning: malformed signal datagram dropped (%zd bytes)", len);
            continue;
        }
        *space = '\0';
        r = ipop_network_signal_receive(n->net, buf, space + 1);
        if (r < 0) /* the library logged it, a few lines at a time: a flood must not flood the log */
            debug_net(n, "signal from %.8s refused: %s", buf, ipop_strerror(r));
    }
}

static int open_signal_socket(struct net *n)
{
    char host[NI_MAXHOST], port[NI_MAXSERV];
    int err;

    getnameinfo((struct sockaddr *)&n->listen, n->listenlen, host, sizeof(host), port, sizeof(port),
                NI_NUMERICHOST | NI_NUMERICSERV);
    n->sock = socket(n->listen.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (n->sock < 0 || bind(n->sock, (struct sockaddr *)&n->listen, n->listenlen) < 0) {
        err = errno;
        log_net(n, "error: signal.listen %s port %s: %s", host, port, strerror(err));
        if (n->sock >= 0)
            close(n->sock);
        n->sock = -1;
        return -err;
    }
    debug_net(n, "signalling on %s port %s", host, port);
    return 0;
}

/* ---- events ---- */

/* Library thread: log, and pass link events to the main thread. */
static void on_event(ipop_network_t *net, const ipop_event_t *ev, void *user_data)
{
    struct net *n = user_data;
    const char *peer = ev->peer_id ? ev->peer_id : "-";
    const char *detail = ev->detail ? ev->detail : "";
    const char *sep = detail[0] ? ": " : "";
    struct link_event le = {.net_id = n->id, .link = ev->link, .state = ev->state, .reason = ev->reason};

    (void)net;
    switch (ev->type) {
    case IPOP_EVENT_LINK_STATE:
        /* The library logs state changes itself, at level info. */
        if (ev->reason != IPOP_REASON_NONE)
            debug_net(n, "link %.8s: %s (%s)%s%s", peer, ipop_link_state_str(ev->state),
                    ipop_reason_str(ev->reason), sep, detail);
        else
            debug_net(n, "link %.8s: %s%s%s", peer, ipop_link_state_str(ev->state), sep, detail);
        break;
    case IPOP_EVENT_PEER_REFUSED:
        /* The library has logged it already, with the details. */
        debug_net(n, "peer %.8s refused (%s)%s%s", peer, ipop_reason_str(ev->reason), sep, detail);
        if (ev->reason != IPOP_REASON_IDENTITY_CHANGED)
            return;
        /* Kept for ipopctl, which says how to accept it. */
        le.refused = true;
        g_strlcpy(le.detail, detail, sizeof(le.detail));
        break;
    case IPOP_EVENT_DEVICE_ERROR:
        log_net(n, "error: device: %s%s%s", ipop_strerror(ev->error), sep, detail);
        return;
    case IPOP_EVENT_BAD_MESSAGE:
        debug_net(n, "bad message from %.8s: %s%s%s", peer, ipop_strerror(ev->error), sep, detail);
        return;
    default:
        debug_net(n, "event %d%s%s", (int)ev->type, sep, detail);
        return;
    }
    if (!ev->peer_id || strlen(ev->peer_id) > IPOP_NODE_ID_MAX)
        return;
    strcpy(le.peer_id, ev->peer_id);
    if (write(event_pipe[1], &le, sizeof(le)) != (ssize_t)sizeof(le))
        log_net(n, "warning: event for %.8s lost: %s", peer, strerror(errno));
}

static struct net *find_net_by_id(unsigned id)
{
    for (size_t i = 0; i < nets->len; i++)
        if (net_at(i)->id == id)
            return net_at(i);
    return NULL;
}

static void schedule_reconnect(struct net *n, const char *peer_id, int64_t delay_ms)
{
    struct peer *p = (struct peer *)find_peer(n, peer_id);

    if (!p)
        return; /* a group member, or a peer allowed by the library but not configured here */
    p->reconnect_at = now_ms() + delay_ms;
    debug_net(n, "link %.8s: reconnecting in %lld ms", peer_id, (long long)delay_ms);
}

static void remember_link(struct net *n, ipop_link_t *link)
{
    if (!link)
        return;
    for (size_t i = 0; i < n->links->len; i++)
        if (g_ptr_array_index(n->links, i) == link)
            return;
    g_ptr_array_add(n->links, link);
}

/* The library's text: "friend JID has a new node id ...".  NULL when it
 * does not read so. */
static char *jid_of_detail(const char *detail)
{
    const char *end;

    if (!g_str_has_prefix(detail, "friend ") || !(end = strchr(detail + 7, ' ')) || end == detail + 7)
        return NULL;
    return g_strndup(detail + 7, (size_t)(end - detail - 7));
}

/* Forgets the identity changes of a node id (it linked: accepted), or of
 * a JID (accepted through ipopctl). */
static void pending_forget(struct net *n, const char *peer_id, const char *jid)
{
    for (size_t i = n->pending->len; i-- > 0;) {
        struct pending *pd = g_ptr_array_index(n->pending, i);
        if ((peer_id && strcmp(pd->peer_id, peer_id) == 0) || (jid && pd->jid && strcmp(pd->jid, jid) == 0))
            g_ptr_array_remove_index(n->pending, i);
    }
}

static void pending_add(struct net *n, const struct link_event *le)
{
    struct pending *pd = g_new0(struct pending, 1);

    pending_forget(n, le->peer_id, NULL);
    g_strlcpy(pd->peer_id, le->peer_id, sizeof(pd->peer_id));
    pd->detail = g_strdup(le->detail);
    pd->jid = jid_of_detail(le->detail);
    if (pd->jid)
        pending_forget(n, NULL, pd->jid); /* only the latest node id of a friend waits */
    if (n->pending->len >= PENDING_MAX)
        g_ptr_array_remove_index(n->pending, 0);
    g_ptr_array_add(n->pending, pd);
    log_net(n, "%s: to accept it, ipopctl accept %s --network %s", pd->jid ? pd->jid : le->peer_id,
            pd->jid ? pd->jid : "JID", n->name);
}

static void handle_link_event(const struct link_event *le)
{
    /* A network freed by a reload leaves its last events behind: dropped. */
    struct net *n = find_net_by_id(le->net_id);

    if (!n)
        return;
    if (le->refused) {
        pending_add(n, le);
        return;
    }
    remember_link(n, le->link);
    if (le->state == IPOP_LINK_CONNECTED) {
        pending_forget(n, le->peer_id, NULL);
        ipop_link_stats_t st = {.size = sizeof(st)};
        const char *path = "unknown";

        if (le->link && ipop_link_get_stats(le->link, &st) == 0)
            path = ipop_path_type_str(st.local_path);
        {
            /* "... (host), sb@example.org at 10.71.0.45" */
            g_autofree char *who = g_strdup_printf("%s%s%s%s", st.name[0] || st.address[0] ? ", " : "", st.name,
                                                   st.name[0] && st.address[0] ? " " : "",
                                                   st.address[0] ? "at " : "");
            log_net(NULL, "link to %.8s connected (%s)%s%s", le->peer_id, path, who, st.address);
        }
        return;
    }
    /* Our own close (stop, ipop_link_close) is not retried; a peer's
     * goodbye or any failure is. */
    if (le->state == IPOP_LINK_FAILED || (le->state == IPOP_LINK_CLOSED && le->reason == IPOP_REASON_PEER_CLOSED))
        schedule_reconnect(n, le->peer_id, RECONNECT_DELAY_MS);
}

static void drain_events(void)
{
    struct link_event le;

    while (read(event_pipe[0], &le, sizeof(le)) == (ssize_t)sizeof(le))
        handle_link_event(&le);
}

static void connect_peer(struct net *n, struct peer *p)
{
    ipop_link_t *link = ipop_network_get_link(n->net, p->id);
    int state = link ? ipop_link_get_state(link) : IPOP_LINK_NEW;
    int r;

    p->reconnect_at = 0;
    /* The peer may have opened the link again in the meantime. */
    if (state == IPOP_LINK_CONNECTING || state == IPOP_LINK_CONNECTED)
        return;
    r = ipop_network_connect(n->net, p->id, &link);
    if (r < 0) {
        log_net(n, "warning: connect to %.8s: %s", p->id, ipop_strerror(r));
        p->reconnect_at = now_ms() + RECONNECT_DELAY_MS;
        return;
    }
    remember_link(n, link);
}

static void run_timers(int64_t now)
{
    for (size_t i = 0; i < nets->len; i++) {
        struct net *n = net_at(i);
        for (size_t j = 0; n->started && j < n->n_peers; j++)
            if (n->peers[j].reconnect_at && n->peers[j].reconnect_at <= now)
                connect_peer(n, &n->peers[j]);
    }
}

static void log_status(void)
{
    for (size_t i = 0; i < nets->len; i++) {
        struct net *n = net_at(i);

        for (size_t j = 0; j < n->links->len; j++) {
            ipop_link_stats_t st = {.size = sizeof(st)};

            if (ipop_link_get_stats(g_ptr_array_index(n->links, j), &st) < 0)
                continue;
            debug_net(n, "status %.8s: %s %s/%s rtt %u us, tx %llu pkts %llu B (%llu drops), "
                      "rx %llu pkts %llu B (%llu drops)", st.peer_id, ipop_link_state_str(st.state),
                      ipop_path_type_str(st.local_path), ipop_path_type_str(st.remote_path), st.rtt_us,
                      (unsigned long long)st.tx_packets, (unsigned long long)st.tx_bytes,
                      (unsigned long long)st.tx_drops, (unsigned long long)st.rx_packets,
                      (unsigned long long)st.rx_bytes, (unsigned long long)st.rx_drops);
        }
    }
}

/* ---- lifecycle ---- */

/* Adds a route to the IPv4 `subnet` ("A.B.C.D/N") through device `dev`,
 * over rtnetlink.  An existing one is fine. */
static int add_route(const char *dev, const char *subnet)
{
    struct {
        struct nlmsghdr nh;
        struct rtmsg rt;
        char attrs[64];
    } req = {
        .nh = {.nlmsg_type = RTM_NEWROUTE, .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
               .nlmsg_seq = 1},
        .rt = {.rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN, .rtm_protocol = RTPROT_BOOT,
               .rtm_scope = RT_SCOPE_LINK, .rtm_type = RTN_UNICAST},
    };
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    char addr[INET_ADDRSTRLEN], reply[512];
    const char *slash = strchr(subnet, '/');
    uint32_t ifindex = if_nametoindex(dev);
    struct in_addr dst;
    struct rtattr *rta;
    ssize_t len;
    int fd, r = 0;

    if (!slash || (size_t)(slash - subnet) >= sizeof(addr) || !ifindex)
        return -EINVAL;
    memcpy(addr, subnet, (size_t)(slash - subnet));
    addr[slash - subnet] = '\0';
    if (inet_pton(AF_INET, addr, &dst) != 1)
        return -EINVAL;
    req.rt.rtm_dst_len = (unsigned char)atoi(slash + 1);
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.rt));
    rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
    rta->rta_type = RTA_DST;
    rta->rta_len = RTA_LENGTH(sizeof(dst));
    memcpy(RTA_DATA(rta), &dst, sizeof(dst));
    req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
    rta = (struct rtattr *)((char *)&req + req.nh.nlmsg_len);
    rta->rta_type = RTA_OIF;
    rta->rta_len = RTA_LENGTH(sizeof(ifindex));
    memcpy(RTA_DATA(rta), &ifindex, sizeof(ifindex));
    req.nh.nlmsg_len += RTA_ALIGN(rta->rta_len);
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return -errno;
    if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0 ||
        (len = recv(fd, reply, sizeof(reply), 0)) < 0) {
        r = -errno;
    } else {
        const struct nlmsghdr *nh = (const struct nlmsghdr *)reply;
        if (!NLMSG_OK(nh, (size_t)len) || nh->nlmsg_type != NLMSG_ERROR)
            r = -EPROTO;
        else
            r = ((const struct nlmsgerr *)NLMSG_DATA(nh))->error;
    }
    close(fd);
    return r == -EEXIST ? 0 : r;
}

static int start_net(struct net *n)
{
    const char *id;
    const char *dev;
    int r;

    if (n->overlay == OVERLAY_NONE && (r = open_signal_socket(n)) < 0)
        return r;
    if (n->overlay == OVERLAY_NONE)
        ipop_network_set_signal_cb(n->net, on_signal, n);
    /* The default files of a SocialVPN live there; private: they are an
     * identity key and a list of friends. */
    if (n->default_dir && g_mkdir_with_parents(n->default_dir, 0700) < 0) {
        r = -errno;
        log_net(n, "error: state directory %s: %s (see --state-dir)", n->default_dir, strerror(-r));
        return r;
    }
    ipop_network_set_event_cb(n->net, on_event, n);
    r = ipop_network_start(n->net);
    if (r < 0) {
        log_net(n, "error: cannot start: %s%s", ipop_strerror(r),
                r == -EPERM || r == -EACCES ? " (tun and tap modes need root or CAP_NET_ADMIN)" : "");
        return r;
    }
    n->started = true;
    id = ipop_network_get_node_id(n->net);
    g_strlcpy(n->own_id, id ? id : "", sizeof(n->own_id));
    dev = ipop_network_get_device(n->net);
    log_net(n, "node %s started%s%s%s", n->own_id, dev ? ", device " : "", dev ? dev : "",
            n->overlay == OVERLAY_GROUP ? ", GroupVPN over XMPP" :
            n->overlay == OVERLAY_SOCIAL ? ", SocialVPN over XMPP" : "");
    if (n->state_file)
        log_net(n, "friends' node ids pinned in %s", n->state_file);
    /* Friends live at addresses of social.subnet: the kernel must send
     * that subnet into the device. */
    if (dev && n->social_subnet && (r = add_route(dev, n->social_subnet)) < 0)
        log_net(n, "warning: route to social.subnet %s through %s: %s", n->social_subnet, dev, strerror(-r));
    for (size_t i = 0; i < n->n_peers; i++)
        connect_peer(n, &n->peers[i]);
    return 0;
}

/* Stops and frees the networks, and takes them out of the table.  They
 * stay in it while they stop, so that their last log lines carry their
 * names. */
static void remove_nets(GPtrArray *gone)
{
    /* Stop all first: each says goodbye to its peers. */
    for (size_t i = 0; i < gone->len; i++) {
        struct net *n = g_ptr_array_index(gone, i);
        if (n->started)
            ipop_network_stop(n->net);
    }
    for (size_t i = 0; i < gone->len; i++) {
        struct net *n = g_ptr_array_index(gone, i);
        ipop_network_t *net = n->net;

        ipop_network_free(net); /* no callback of it runs after this */
        g_mutex_lock(&nets_lock);
        n->net = NULL;
        g_ptr_array_remove(nets, n);
        g_mutex_unlock(&nets_lock);
        net_free(n);
    }
    g_ptr_array_set_size(gone, 0);
}

/* Adds the networks of `fresh` to the table and starts them.  Returns the
 * first error; with keep_going, starts the others anyway. */
static int add_nets(GPtrArray *fresh, bool keep_going)
{
    int status = 0;

    g_mutex_lock(&nets_lock);
    for (size_t i = 0; i < fresh->len; i++)
        g_ptr_array_add(nets, g_ptr_array_index(fresh, i));
    g_mutex_unlock(&nets_lock);
    for (size_t i = 0; i < fresh->len; i++) {
        int r = start_net(g_ptr_array_index(fresh, i));
        if (r < 0 && status == 0)
            status = r;
        if (r < 0 && !keep_going)
            break;
    }
    g_ptr_array_set_size(fresh, 0);
    return status;
}

static struct net *find_net_by_name(GPtrArray *list, const char *name)
{
    for (size_t i = 0; i < list->len; i++) {
        struct net *n = g_ptr_array_index(list, i);
        if (strcmp(n->name, name) == 0)
            return n;
    }
    return NULL;
}

/* SIGHUP: networks whose section is unchanged keep running; the others
 * stop, and the changed and new ones start.  A bad config changes nothing. */
static void reload(const char *file)
{
    GPtrArray *fresh = NULL;
    g_autoptr(GPtrArray) gone = g_ptr_array_new();
    g_autoptr(GPtrArray) start = g_ptr_array_new();
    unsigned kept = 0;

    log_net(NULL, "reloading %s", file);
    if (load_config(file, &fresh) < 0) {
        log_net(NULL, "error: %s: bad config, keeping the running one", file);
        return;
    }
    for (size_t i = 0; i < nets->len; i++) {
        struct net *old = net_at(i);
        struct net *nw = find_net_by_name(fresh, old->name);

        if (nw && old->started && strcmp(old->canon, nw->canon) == 0) {
            g_ptr_array_remove(fresh, nw);
            net_free(nw);
            kept++;
        } else {
            g_ptr_array_add(gone, old);
        }
    }
    for (size_t i = 0; i < fresh->len; i++)
        g_ptr_array_add(start, g_ptr_array_index(fresh, i));
    g_ptr_array_free(fresh, TRUE);
    log_net(NULL, "reload: %u unchanged, %u stopped, %u to start", kept, gone->len, start->len);
    remove_nets(gone);
    if (add_nets(start, true) < 0)
        log_net(NULL, "warning: reload: some networks did not start (ipopctl status shows which)");
}

/* ---- control socket ---- */

static void json_str(GString *s, const char *v)
{
    bool utf8 = v && g_utf8_validate(v, -1, NULL);

    if (!v) {
        g_string_append(s, "null");
        return;
    }
    g_string_append_c(s, '"');
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        switch (*p) {
        case '"': g_string_append(s, "\\\""); break;
        case '\\': g_string_append(s, "\\\\"); break;
        case '\n': g_string_append(s, "\\n"); break;
        case '\r': g_string_append(s, "\\r"); break;
        case '\t': g_string_append(s, "\\t"); break;
        default:
            /* Invalid UTF-8 would make the document invalid: such bytes
             * become the code points of the same value. */
            if (*p < 0x20 || *p == 0x7f || (*p >= 0x80 && !utf8))
                g_string_append_printf(s, "\\u%04x", *p);
            else
                g_string_append_c(s, (char)*p);
        }
    }
    g_string_append_c(s, '"');
}

static const char *overlay_str(enum overlay o)
{
    return o == OVERLAY_GROUP ? "group" : o == OVERLAY_SOCIAL ? "social" : "none";
}

/* A string member, null when empty. */
static void json_opt_str(GString *s, const char *v)
{
    json_str(s, v && v[0] ? v : NULL);
}

static void json_link(GString *s, const char *network, const ipop_link_stats_t *st)
{
    g_string_append(s, "{");
    if (network) {
        g_string_append(s, "\"network\":");
        json_str(s, network);
        g_string_append(s, ",");
    }
    g_string_append(s, "\"peer_id\":");
    json_str(s, st->peer_id);
    g_string_append(s, ",\"address\":");
    json_opt_str(s, st->address);
    g_string_append(s, ",\"name\":");
    json_opt_str(s, st->name);
    g_string_append(s, ",\"state\":");
    json_str(s, ipop_link_state_str(st->state));
    g_string_append(s, ",\"reason\":");
    json_str(s, ipop_reason_str(st->reason));
    g_string_append(s, ",\"path\":");
    json_str(s, ipop_path_type_str(st->local_path));
    g_string_append(s, ",\"remote_path\":");
    json_str(s, ipop_path_type_str(st->remote_path));
    /* GroupVPN: the member packets go through while the direct link is down */
    g_string_append(s, ",\"relay\":");
    json_opt_str(s, st->relay_id);
    g_string_append_printf(s, ",\"rtt_us\":%u,\"rx_bytes\":%llu,\"tx_bytes\":%llu,\"rx_packets\":%llu,"
                           "\"tx_packets\":%llu,\"rx_drops\":%llu,\"tx_drops\":%llu,"
                           "\"relayed_packets\":%llu,\"relay_drops\":%llu}",
                           st->rtt_us, (unsigned long long)st->rx_bytes, (unsigned long long)st->tx_bytes,
                           (unsigned long long)st->rx_packets, (unsigned long long)st->tx_packets,
                           (unsigned long long)st->rx_drops, (unsigned long long)st->tx_drops,
                           (unsigned long long)st->relayed_packets, (unsigned long long)st->relay_drops);
}

/* The stats of the i-th known link of n; false when it has none. */
static bool link_stats(struct net *n, size_t i, ipop_link_stats_t *st)
{
    *st = (ipop_link_stats_t){.size = sizeof(*st)};
    if (ipop_link_get_stats(g_ptr_array_index(n->links, i), st) < 0)
        return false;
    return true;
}

static void pending_json(GString *s, const struct net *n)
{
    g_string_append(s, ",\"pending_identities\":[");
    for (size_t j = 0; j < n->pending->len; j++) {
        const struct pending *pd = g_ptr_array_index(n->pending, j);

        g_string_append(s, j ? ",{\"peer_id\":" : "{\"peer_id\":");
        json_str(s, pd->peer_id);
        g_string_append(s, ",\"name\":");
        json_str(s, pd->jid);
        g_string_append(s, ",\"detail\":");
        json_str(s, pd->detail);
        g_string_append(s, "}");
    }
    g_string_append(s, "]");
}

static void status_json(GString *s)
{
    g_string_append(s, "{\"version\":");
    json_str(s, ipop_version());
    g_string_append(s, ",\"networks\":[");
    for (size_t i = 0; i < nets->len; i++) {
        struct net *n = net_at(i);
        ipop_network_stats_t ns = {.size = sizeof(ns)};
        bool first = true;

        ipop_network_get_stats(n->net, &ns);
        g_string_append(s, i ? ",{\"name\":" : "{\"name\":");
        json_str(s, n->name);
        g_string_append_printf(s, ",\"running\":%s,\"node_id\":", n->started ? "true" : "false");
        json_str(s, n->own_id[0] ? n->own_id : NULL);
        g_string_append(s, ",\"device\":");
        json_str(s, n->started ? ipop_network_get_device(n->net) : NULL);
        g_string_append(s, ",\"mode\":");
        json_str(s, n->mode ? n->mode : "none");
        g_string_append(s, ",\"overlay\":");
        json_str(s, overlay_str(n->overlay));
        g_string_append(s, ",\"addresses\":[");
        for (size_t j = 0; j < n->addresses->len; j++) {
            if (j)
                g_string_append_c(s, ',');
            json_str(s, g_ptr_array_index(n->addresses, j));
        }
        g_string_append(s, "]");
        if (n->overlay == OVERLAY_SOCIAL) {
            g_string_append(s, ",\"state_file\":");
            json_str(s, n->state_file);
            pending_json(s, n);
        }
        g_string_append_printf(s, ",\"signal_refused\":%llu,\"no_route\":%llu,\"relayed_packets\":%llu,"
                               "\"relay_drops\":%llu,\"links\":[",
                               (unsigned long long)ns.signal_refused, (unsigned long long)ns.no_route,
                               (unsigned long long)ns.relayed_packets, (unsigned long long)ns.relay_drops);
        for (size_t j = 0; j < n->links->len; j++) {
            ipop_link_stats_t st;
            if (!link_stats(n, j, &st))
                continue;
            if (!first)
                g_string_append_c(s, ',');
            first = false;
            json_link(s, NULL, &st);
        }
        g_string_append(s, "]}");
    }
    g_string_append(s, "]}\n");
}

static void peers_json(GString *s)
{
    bool first = true;

    g_string_append(s, "{\"peers\":[");
    for (size_t i = 0; i < nets->len; i++) {
        struct net *n = net_at(i);
        for (size_t j = 0; j < n->links->len; j++) {
            ipop_link_stats_t st;
            if (!link_stats(n, j, &st))
                continue;
            if (!first)
                g_string_append_c(s, ',');
            first = false;
            json_link(s, n->name, &st);
        }
    }
    g_string_append(s, "]}\n");
}

static void rtt_text(char *buf, size_t size, uint32_t rtt_us)
{
    if (rtt_us == 0)
        g_strlcpy(buf, "-", size);
    else
        snprintf(buf, size, "%.1fms", rtt_us / 1000.0);
}

/* One line per link; the name last, as it has no fixed width. */
#define LINK_HEADER "%-52s %-15s %-10s %-15s %9s %12s %12s  %s\n"

static void link_header(GString *s, const char *prefix)
{
    g_string_append(s, prefix);
    g_string_append_printf(s, LINK_HEADER, "PEER", "ADDRESS", "STATE", "PATH", "RTT", "BYTES IN", "BYTES OUT",
                           "NAME");
}

static void link_text(GString *s, const char *prefix, const ipop_link_stats_t *st)
{
    char rtt[32], path[32];

    rtt_text(rtt, sizeof(rtt), st->rtt_us);
    /* GroupVPN: a peer reached through another member while the direct
     * link is down shows as "relayed", with the member's id. */
    if (st->relay_id[0])
        snprintf(path, sizeof(path), "member:%.8s", st->relay_id);
    else
        g_strlcpy(path, st->state == IPOP_LINK_CONNECTED ? ipop_path_type_str(st->local_path) : "-", sizeof(path));
    g_string_append_printf(s, "%s%-52s %-15s %-10s %-15s %9s %12llu %12llu  %s\n", prefix, st->peer_id,
                           st->address[0] ? st->address : "-",
                           st->relay_id[0] ? "relayed" : ipop_link_state_str(st->state), path, rtt,
                           (unsigned long long)st->rx_bytes, (unsigned long long)st->tx_bytes,
                           st->name[0] ? st->name : "-");
}

static const char *overlay_text(enum overlay o)
{
    return o == OVERLAY_GROUP ? "group (XMPP)" : o == OVERLAY_SOCIAL ? "social (XMPP)" : "none (UDP signalling)";
}

static void status_text(GString *s)
{
    for (size_t i = 0; i < nets->len; i++) {
        struct net *n = net_at(i);
        ipop_network_stats_t ns = {.size = sizeof(ns)};
        const char *dev = n->started ? ipop_network_get_device(n->net) : NULL;

        ipop_network_get_stats(n->net, &ns);
        g_string_append_printf(s, "%snetwork %s: %s\n", i ? "\n" : "", n->name,
                               n->started ? "running" : "not running (see the log)");
        g_string_append_printf(s, "  node id:   %s\n", n->own_id[0] ? n->own_id : "-");
        g_string_append_printf(s, "  device:    %s (mode %s)\n", dev ? dev : "-", n->mode ? n->mode : "none");
        g_string_append_printf(s, "  overlay:   %s\n", overlay_text(n->overlay));
        g_string_append(s, "  addresses:");
        for (size_t j = 0; j < n->addresses->len; j++)
            g_string_append_printf(s, " %s", (char *)g_ptr_array_index(n->addresses, j));
        g_string_append_printf(s, "%s\n", n->addresses->len ? "" : " -");
        if (n->overlay == OVERLAY_SOCIAL)
            g_string_append_printf(s, "  friends:   pinned in %s\n", n->state_file ? n->state_file : "memory only");
        g_string_append_printf(s, "  links:     %u, %u connected; %llu signalling messages refused\n", ns.links,
                               ns.links_connected, (unsigned long long)ns.signal_refused);
        if (ns.relayed_packets || ns.relay_drops)
            g_string_append_printf(s, "  relayed:   %llu packets between other members (%llu dropped)\n",
                                   (unsigned long long)ns.relayed_packets, (unsigned long long)ns.relay_drops);
        for (size_t j = 0; j < n->pending->len; j++) {
            const struct pending *pd = g_ptr_array_index(n->pending, j);
            g_string_append_printf(s, "  refused:   %s\n", pd->detail);
            if (pd->jid)
                g_string_append_printf(s, "             to accept: ipopctl accept %s --network %s\n", pd->jid,
                                       n->name);
        }
        if (n->links->len)
            link_header(s, "  ");
        for (size_t j = 0; j < n->links->len; j++) {
            ipop_link_stats_t st;
            if (link_stats(n, j, &st))
                link_text(s, "  ", &st);
        }
    }
}

static void peers_text(GString *s)
{
    g_string_append_printf(s, "%-12s ", "NETWORK");
    link_header(s, "");
    for (size_t i = 0; i < nets->len; i++) {
        struct net *n = net_at(i);
        for (size_t j = 0; j < n->links->len; j++) {
            ipop_link_stats_t st;
            char prefix[64];
            if (!link_stats(n, j, &st))
                continue;
            snprintf(prefix, sizeof(prefix), "%-12s ", n->name);
            link_text(s, prefix, &st);
        }
    }
}

/* "accept JID [NETWORK]": ipop_network_accept_identity() on the network
 * named, else on every SocialVPN network (accepted where a change waits). */
static void accept_request(const char *jid, const char *network, GString *out)
{
    g_autoptr(GString) done = g_string_new(NULL);
    int err = -ENOENT;
    bool any = false;

    for (size_t i = 0; i < nets->len; i++) {
        struct net *n = net_at(i);
        int r;

        if (network ? strcmp(n->name, network) != 0 : n->overlay != OVERLAY_SOCIAL)
            continue;
        any = true;
        r = n->started ? ipop_network_accept_identity(n->net, jid) : -ENOTCONN;
        if (r == 0) {
            pending_forget(n, NULL, jid);
            log_net(n, "friend %s: new node id accepted (ipopctl)", jid);
            g_string_append_printf(done, "%s: accepted the new node id of %s\n", n->name, jid);
        } else if (err == -ENOENT) {
            err = r; /* a more telling error wins over "nothing waiting" */
        }
    }
    if (done->len) {
        g_string_append(out, "ok\n");
        g_string_append(out, done->str);
    } else if (!any && network) {
        g_string_append_printf(out, "error no network %s\n", network);
    } else if (!any) {
        g_string_append(out, "error no SocialVPN network (overlay = social) here\n");
    } else if (err == -ENOENT) {
        g_string_append_printf(out, "error %s: no identity change waiting for acceptance (%s)\n", jid,
                               ipop_strerror(err));
    } else if (err == -EINVAL) {
        g_string_append_printf(out, "error %s: not a SocialVPN network (%s)\n", network ? network : "-",
                               ipop_strerror(err));
    } else {
        g_string_append_printf(out, "error %s: %s\n", jid, ipop_strerror(err));
    }
}

/* "network-changed [NETWORK]": ipop_network_changed() on the network named,
 * else on every started one (a hook of the host's network manager calls it). */
static void changed_request(const char *network, GString *out)
{
    g_autoptr(GString) done = g_string_new(NULL);
    bool any = false;

    for (size_t i = 0; i < nets->len; i++) {
        struct net *n = net_at(i);
        int r;

        if (network && strcmp(n->name, network) != 0)
            continue;
        any = true;
        r = n->started ? ipop_network_changed(n->net) : -ENOTCONN;
        if (r == 0) {
            log_net(n, "the host's network changed (ipopctl): links start again");
            g_string_append_printf(done, "%s: links start again\n", n->name);
        } else {
            g_string_append_printf(done, "%s: %s\n", n->name, ipop_strerror(r));
        }
    }
    if (!any && network) {
        g_string_append_printf(out, "error no network %s\n", network);
    } else {
        g_string_append(out, "ok\n");
        g_string_append(out, done->str);
    }
}

/* The protocol: one request line, "status [json]", "peers [json]",
 * "accept JID [NETWORK]" or "network-changed [NETWORK]"; the answer is
 * "ok\n" and the body, or "error TEXT\n"; then the daemon closes. */
static void answer(const char *request, GString *out)
{
    g_auto(GStrv) words = g_strsplit(request, " ", 4);
    guint count = g_strv_length(words);
    const char *cmd = count ? words[0] : "";
    bool json = count == 2 && strcmp(words[1], "json") == 0;

    if (strcmp(cmd, "accept") == 0) {
        if (count < 2 || count > 3 || !words[1][0] || (count == 3 && !words[2][0]))
            g_string_append(out, "error bad request: accept JID [NETWORK]\n");
        else
            accept_request(words[1], count == 3 ? words[2] : NULL, out);
    } else if (strcmp(cmd, "network-changed") == 0) {
        if (count > 2 || (count == 2 && !words[1][0]))
            g_string_append(out, "error bad request: network-changed [NETWORK]\n");
        else
            changed_request(count == 2 ? words[1] : NULL, out);
    } else if (count > 2 || (count == 2 && !json)) {
        g_string_append(out, "error bad request\n");
    } else if (strcmp(cmd, "status") == 0) {
        g_string_append(out, "ok\n");
        json ? status_json(out) : status_text(out);
    } else if (strcmp(cmd, "peers") == 0) {
        g_string_append(out, "ok\n");
        json ? peers_json(out) : peers_text(out);
    } else {
        g_string_append(out, "error unknown request\n");
    }
}

static void client_free(struct client *cl)
{
    close(cl->fd);
    if (cl->out)
        g_string_free(cl->out, TRUE);
    g_free(cl);
}

static void control_accept(void)
{
    for (;;) {
        int fd = accept4(control_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        struct client *cl;

        if (fd < 0)
            return; /* EAGAIN, or a client that went away already */
        if (clients->len >= CONTROL_CLIENTS_MAX) {
            close(fd);
            continue;
        }
        cl = g_new0(struct client, 1);
        cl->fd = fd;
        cl->deadline = now_ms() + CONTROL_DEADLINE_MS;
        g_ptr_array_add(clients, cl);
    }
}

/* Reads or writes what it can; returns false when the client is done. */
static bool client_io(struct client *cl)
{
    if (!cl->out) {
        ssize_t len = recv(cl->fd, cl->in + cl->in_len, sizeof(cl->in) - 1 - cl->in_len, 0);
        char *nl;

        if (len < 0)
            return errno == EAGAIN || errno == EINTR;
        if (len == 0)
            return false;
        cl->in_len += (size_t)len;
        cl->in[cl->in_len] = '\0';
        nl = strchr(cl->in, '\n');
        if (!nl) {
            if (cl->in_len < sizeof(cl->in) - 1)
                return true;
            cl->out = g_string_new("error request too long\n");
        } else {
            *nl = '\0';
            if (nl > cl->in && nl[-1] == '\r')
                nl[-1] = '\0';
            cl->out = g_string_new(NULL);
            answer(cl->in, cl->out);
        }
    }
    while (cl->out_off < cl->out->len) {
        ssize_t len = send(cl->fd, cl->out->str + cl->out_off, cl->out->len - cl->out_off, MSG_NOSIGNAL);
        if (len < 0)
            return errno == EAGAIN || errno == EINTR;
        cl->out_off += (size_t)len;
    }
    return false;
}

static void clients_expire(int64_t now)
{
    for (size_t i = clients->len; i-- > 0;) {
        struct client *cl = g_ptr_array_index(clients, i);
        if (cl->deadline <= now) {
            client_free(cl);
            g_ptr_array_remove_index(clients, i);
        }
    }
}

/* Binds the control socket, mode 0600.  A socket file that nobody answers
 * on is a leftover and is replaced; a live one is another ipopd's. */
static int control_open(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    mode_t old_mask;
    int fd, probe, r;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        log_net(NULL, "error: control socket %s: path too long", path);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            log_net(NULL, "error: control socket %s: exists and is not a socket", path);
            return -EEXIST;
        }
        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        r = probe >= 0 ? connect(probe, (struct sockaddr *)&sa, sizeof(sa)) : -1;
        if (probe >= 0)
            close(probe);
        if (r == 0) {
            log_net(NULL, "error: control socket %s: another ipopd answers there (use --control)", path);
            return -EADDRINUSE;
        }
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    /* Created with mode 0600 from the start: no window for others. */
    old_mask = umask(0177);
    r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old_mask);
    if (r < 0 || chmod(path, 0600) < 0 || listen(fd, CONTROL_CLIENTS_MAX) < 0) {
        r = -errno;
        log_net(NULL, "error: control socket %s: %s", path, strerror(-r));
        close(fd);
        return r;
    }
    control_fd = fd;
    control_path = g_strdup(path);
    return 0;
}

static void control_close(void)
{
    for (size_t i = 0; clients && i < clients->len; i++)
        client_free(g_ptr_array_index(clients, i));
    if (clients)
        g_ptr_array_set_size(clients, 0);
    if (control_fd >= 0) {
        close(control_fd);
        unlink(control_path);
    }
    control_fd = -1;
    g_clear_pointer(&control_path, g_free);
}

/* ---- main loop ---- */

static int next_timeout(int64_t now, int64_t status_at)
{
    int64_t due = verbose ? status_at : INT64_MAX;

    for (size_t i = 0; i < nets->len; i++)
        for (size_t j = 0; j < net_at(i)->n_peers; j++)
            if (net_at(i)->peers[j].reconnect_at && net_at(i)->peers[j].reconnect_at < due)
                due = net_at(i)->peers[j].reconnect_at;
    for (size_t i = 0; i < clients->len; i++) {
        struct client *cl = g_ptr_array_index(clients, i);
        if (cl->deadline < due)
            due = cl->deadline;
    }
    if (due == INT64_MAX)
        return -1;
    return due <= now ? 0 : (int)MIN(due - now, 60000);
}

/* Returns the exit status: 0 after SIGINT or SIGTERM. */
static int main_loop(int sigfd, const char *config)
{
    int64_t status_at = now_ms() + STATUS_INTERVAL_MS;
    g_autoptr(GArray) fds = g_array_new(FALSE, TRUE, sizeof(struct pollfd));

    for (;;) {
        /* Rebuilt at each turn: reloads and clients change the set. */
        size_t first_net, first_client;
        struct pollfd *p;
        int64_t now = now_ms();

        g_array_set_size(fds, 0);
        g_array_append_val(fds, ((struct pollfd){.fd = sigfd, .events = POLLIN}));
        g_array_append_val(fds, ((struct pollfd){.fd = event_pipe[0], .events = POLLIN}));
        g_array_append_val(fds, ((struct pollfd){.fd = control_fd, .events = POLLIN}));
        first_net = fds->len;
        for (size_t i = 0; i < nets->len; i++)
            g_array_append_val(fds, ((struct pollfd){.fd = net_at(i)->sock, .events = POLLIN}));
        first_client = fds->len;
        for (size_t i = 0; i < clients->len; i++) {
            struct client *cl = g_ptr_array_index(clients, i);
            g_array_append_val(fds, ((struct pollfd){.fd = cl->fd, .events = cl->out ? POLLOUT : POLLIN}));
        }
        p = (struct pollfd *)fds->data;
        if (poll(p, fds->len, next_timeout(now, status_at)) < 0) {
            if (errno == EINTR)
                continue;
            log_net(NULL, "error: poll: %s", strerror(errno));
            return 1;
        }
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;

            if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGHUP) {
                    reload(config);
                    continue; /* the table changed under the fds */
                }
                log_net(NULL, "%s: stopping", strsignal((int)si.ssi_signo));
                return 0;
            }
        }
        if (p[1].revents & POLLIN)
            drain_events();
        for (size_t i = 0; i < nets->len; i++)
            if (p[first_net + i].revents & POLLIN)
                receive_signal(net_at(i));
        for (size_t i = clients->len; i-- > 0;) {
            struct client *cl = g_ptr_array_index(clients, i);
            if (p[first_client + i].revents && !client_io(cl)) {
                client_free(cl);
                g_ptr_array_remove_index(clients, i);
            }
        }
        if (p[2].revents & POLLIN)
            control_accept();
        now = now_ms();
        clients_expire(now);
        run_timers(now);
        if (verbose && now >= status_at) {
            log_status();
            status_at = now + STATUS_INTERVAL_MS;
        }
    }
}

static int run(const char *config, const char *control, bool control_explicit)
{
    GPtrArray *fresh = NULL, *all;
    sigset_t mask;
    int sigfd = -1;
    int status = 1;

    nets = g_ptr_array_new();
    clients = g_ptr_array_new();
    if (load_config(config, &fresh) < 0) {
        status = EXIT_CONFIG;
        goto out;
    }
    /* Block the signals before the library starts threads, which inherit
     * the mask, so that only the signalfd sees them. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0 || pipe2(event_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        log_net(NULL, "error: %s", strerror(errno));
        goto out;
    }
    if (control_open(control) < 0) {
        if (control_explicit)
            goto out;
        log_net(NULL, "warning: running without a control socket (ipopctl will not reach this ipopd)");
    }
    if (add_nets(fresh, false) < 0)
        goto out;
    status = main_loop(sigfd, config);
out:
    control_close();
    /* Stop says goodbye to the peers and removes the devices. */
    all = g_ptr_array_copy(nets, NULL, NULL);
    remove_nets(all);
    g_ptr_array_free(all, TRUE);
    net_list_free(fresh);
    g_ptr_array_free(nets, TRUE);
    g_ptr_array_free(clients, TRUE);
    nets = clients = NULL;
    if (sigfd >= 0)
        close(sigfd);
    for (int i = 0; i < 2; i++)
        if (event_pipe[i] >= 0)
            close(event_pipe[i]);
    return status;
}

/* --check: the config loads and every option is accepted; nothing starts. */
static int check_config(const char *config)
{
    GPtrArray *list = NULL;

    if (load_config(config, &list) < 0)
        return EXIT_CONFIG;
    printf("%s: %u network%s, config OK\n", config, list->len, list->len == 1 ? "" : "s");
    net_list_free(list);
    return 0;
}

/* --node-id: through the public API only, as any host would. */
static int print_node_id(const char *path)
{
    ipop_network_t *net = NULL;
    const char *id;
    int r = ipop_network_new(&net, "node-id");

    if (r == 0)
        r = ipop_network_set_option(net, "identity.file", path);
    if (r == 0)
        r = ipop_network_start(net);
    if (r < 0) {
        fprintf(stderr, "ipopd: %s: %s\n", path, ipop_strerror(r));
        ipop_network_free(net);
        return 1;
    }
    id = ipop_network_get_node_id(net);
    if (id)
        printf("%s\n", id);
    else
        fprintf(stderr, "ipopd: %s: no node id\n", path);
    ipop_network_free(net);
    return id ? 0 : 1;
}

int main(int argc, char **argv)
{
    g_autofree char *config = NULL;
    g_autofree char *id_file = NULL;
    g_autofree char *control = NULL;
    g_autofree char *state = NULL;
    gboolean version = FALSE, debug = FALSE, check = FALSE;
    GOptionEntry entries[] = {
        {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config, "Run the networks of config FILE", "FILE"},
        {"check", 0, 0, G_OPTION_ARG_NONE, &check, "With --config: check the config, start nothing", NULL},
        {"control", 0, 0, G_OPTION_ARG_FILENAME, &control,
         "Control socket for ipopctl (default $IPOPD_CONTROL, else " DEFAULT_CONTROL ")", "PATH"},
        {"state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state,
         "Default place of SocialVPN identities and friends (default " DEFAULT_STATE_DIR ")", "DIR"},
        {"node-id", 0, 0, G_OPTION_ARG_FILENAME, &id_file,
         "Create FILE (if missing) with a new identity, print its node id", "FILE"},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &debug, "Log debug messages", NULL},
        {"version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the versions and exit", NULL},
        {NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- IP-over-P2P VPN daemon");
    g_autoptr(GError) error = NULL;
    const char *env = getenv("IPOPD_CONTROL");
    bool control_explicit;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_summary(ctx, "Each [group] of the config file is one network.  See ipopd(8), "
                                      "ipopd.conf(5) and ipopctl(8).");
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "ipopd: %s (try --help)\n", error->message);
        return EXIT_CONFIG;
    }
    control_explicit = control || (env && *env);
    if (version) {
        printf("ipopd %s (libipop %s)\n", IPOP_VERSION, ipop_version());
        return 0;
    }
    if (argc > 1 || (!config == !id_file) || (check && !config)) {
        fprintf(stderr, "ipopd: give one of --config FILE or --node-id FILE (try --help)\n");
        return EXIT_CONFIG;
    }
    verbose = debug;
    if (state)
        state_dir = state;
    /* --node-id and --check are commands whose output is the answer: only
     * problems are worth a log line there. */
    ipop_set_log_cb(on_log, debug ? IPOP_LOG_DEBUG : (id_file || check) ? IPOP_LOG_WARNING : IPOP_LOG_INFO, NULL);
    if (id_file)
        return print_node_id(id_file);
    if (check)
        return check_config(config);
    if (!control)
        control = g_strdup(env && *env ? env : DEFAULT_CONTROL);
    return run(config, control, control_explicit);
}
