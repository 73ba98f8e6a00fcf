/* SPDX-License-Identifier: MIT */
/*
 * ipopd: a thin daemon on libipop's public API.
 *
 * Each group of the config file is one network.  Signalling travels over a
 * UDP socket of the daemon's own ("signal.listen"), one datagram per message:
 * "<sender-node-id> <message>".  The channel needs no authentication of its
 * own: a node id is the hash of the node's public key and the library pins
 * the certificate carried in the messages.  XMPP comes later.
 *
 * Threads: the library calls the signal, event and log callbacks from its
 * own threads.  The signal callback only reads state that is fixed before
 * start and calls sendto().  The event callback logs and hands the events
 * the daemon acts on to the main thread through a pipe, so that only the main
 * thread calls the network's functions (ipop.h forbids concurrent calls).
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
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
#include <time.h>
#include <unistd.h>

#include <ipop/ipop.h>

#define EXIT_CONFIG 2
#define RECONNECT_DELAY_MS 2000
#define STATUS_INTERVAL_MS 10000
/* A node id, a space and the longest message the library accepts (8 KiB)
 * fit with room to spare; anything longer is cut and dropped. */
#define DATAGRAM_MAX 16384

struct peer {
    char *id;
    struct sockaddr_storage addr; /* its signal socket */
    socklen_t addrlen;
    int64_t reconnect_at;         /* monotonic ms, 0: none due */
};

struct net {
    char *name;
    ipop_network_t *net;
    int sock;                     /* signal.listen, -1 until bound */
    struct sockaddr_storage listen;
    socklen_t listenlen;
    bool has_listen;
    struct peer *peers;
    size_t n_peers;
    char own_id[IPOP_NODE_ID_MAX + 1];
};

/* What the event callback passes to the main thread: fits in PIPE_BUF, so
 * each write is atomic. */
struct link_event {
    size_t net_idx;
    ipop_link_state_t state;
    ipop_reason_t reason;
    char peer_id[IPOP_NODE_ID_MAX + 1];
};

static struct net *nets;
static size_t n_nets;
static bool verbose;
static int event_pipe[2] = {-1, -1};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *net_name(ipop_network_t *net)
{
    for (size_t i = 0; i < n_nets; i++)
        if (nets[i].net == net)
            return nets[i].name;
    return NULL;
}

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

static void on_log(ipop_log_level_t level, ipop_network_t *net, const char *message, void *user_data)
{
    const char *prefix = level <= IPOP_LOG_ERR ? "error: " : level == IPOP_LOG_WARNING ? "warning: " : "";
    const char *name = net ? net_name(net) : NULL;

    if (name)
        fprintf(stderr, "ipopd[%s]: %s%s\n", name, prefix, message);
    else
        fprintf(stderr, "ipopd: %s%s\n", prefix, message);
}

/* ---- configuration ---- */

static void __attribute__((format(printf, 4, 5)))
config_error(const char *file, const char *group, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (group && key)
        fprintf(stderr, "ipopd: %s: [%s] %s: %s\n", file, group, key, msg);
    else if (group)
        fprintf(stderr, "ipopd: %s: [%s]: %s\n", file, group, msg);
    else
        fprintf(stderr, "ipopd: %s: %s\n", file, msg);
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

static int parse_listen(const char *file, struct net *n, GKeyFile *kf, const char *key)
{
    g_autofree char *value = g_key_file_get_string(kf, n->name, key, NULL);

    if (!value || parse_hostport(value, &n->listen, &n->listenlen) < 0) {
        config_error(file, n->name, key, "expected IP:PORT or [IPv6]:PORT, got \"%s\"", value ? value : "");
        return -EINVAL;
    }
    n->has_listen = true;
    return 0;
}

static int parse_peers(const char *file, struct net *n, GKeyFile *kf, const char *key)
{
    gsize count = 0;
    g_auto(GStrv) items = g_key_file_get_string_list(kf, n->name, key, &count, NULL);

    n->peers = g_new0(struct peer, count);
    for (gsize i = 0; i < count; i++) {
        char *item = g_strstrip(items[i]);
        char *at = strrchr(item, '@');
        struct peer *p = &n->peers[n->n_peers];
        int r;

        if (!at || at == item) {
            config_error(file, n->name, key, "\"%s\": expected NODEID@IP:PORT", item);
            return -EINVAL;
        }
        *at = '\0';
        r = ipop_network_allow_peer(n->net, item);
        if (r < 0) {
            config_error(file, n->name, key, "\"%s\": not a node id (%s)", item, ipop_strerror(r));
            return r;
        }
        if (parse_hostport(at + 1, &p->addr, &p->addrlen) < 0) {
            config_error(file, n->name, key, "\"%s\": expected IP:PORT or [IPv6]:PORT after '@'", at + 1);
            return -EINVAL;
        }
        for (size_t j = 0; j < n->n_peers; j++) {
            if (strcmp(n->peers[j].id, item) == 0) {
                config_error(file, n->name, key, "peer %s listed twice", item);
                return -EINVAL;
            }
        }
        p->id = g_strdup(item);
        n->n_peers++;
    }
    return 0;
}

/* Passes a library key on, once per item of a ';'-separated list. */
static int set_library_option(const char *file, struct net *n, GKeyFile *kf, const char *key)
{
    gsize count = 0;
    g_auto(GStrv) items = g_key_file_get_string_list(kf, n->name, key, &count, NULL);
    const char *empty[] = {"", NULL};
    const char *const *values = count ? (const char *const *)items : empty;

    for (size_t i = 0; values[i]; i++) {
        int r = ipop_network_set_option(n->net, key, values[i]);

        if (r == -EINVAL) {
            config_error(file, n->name, key, "unknown key or bad value \"%s\"", values[i]);
            return r;
        }
        if (r < 0) {
            config_error(file, n->name, key, "%s", ipop_strerror(r));
            return r;
        }
    }
    return 0;
}

static int load_group(const char *file, GKeyFile *kf, struct net *n)
{
    g_auto(GStrv) keys = g_key_file_get_keys(kf, n->name, NULL, NULL);
    int r = ipop_network_new(&n->net, n->name);

    if (r < 0) {
        config_error(file, n->name, NULL, "cannot create the network: %s", ipop_strerror(r));
        return r;
    }
    for (size_t i = 0; keys && keys[i]; i++) {
        const char *key = keys[i];

        if (strcmp(key, "signal.listen") == 0)
            r = parse_listen(file, n, kf, key);
        else if (strcmp(key, "signal.peers") == 0)
            r = parse_peers(file, n, kf, key);
        else if (g_str_has_prefix(key, "signal.")) {
            config_error(file, n->name, key, "unknown key");
            r = -EINVAL;
        } else
            r = set_library_option(file, n, kf, key);
        if (r < 0)
            return r;
    }
    if (!n->has_listen) {
        config_error(file, n->name, "signal.listen", "missing (the UDP address peers send signalling to)");
        return -EINVAL;
    }
    for (size_t i = 0; i < n->n_peers; i++) {
        if (n->peers[i].addr.ss_family != n->listen.ss_family) {
            config_error(file, n->name, "signal.peers", "%s: not the address family of signal.listen",
                         n->peers[i].id);
            return -EINVAL;
        }
    }
    return 0;
}

static int load_config(const char *file)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) groups = NULL;
    gsize count = 0;

    if (!g_key_file_load_from_file(kf, file, G_KEY_FILE_NONE, &error)) {
        config_error(file, NULL, NULL, "%s", error->message);
        return -EINVAL;
    }
    groups = g_key_file_get_groups(kf, &count);
    if (count == 0) {
        config_error(file, NULL, NULL, "no network: add a group such as [net0]");
        return -EINVAL;
    }
    nets = g_new0(struct net, count);
    for (gsize i = 0; i < count; i++) {
        struct net *n = &nets[n_nets++];

        n->name = g_strdup(groups[i]);
        n->sock = -1;
        if (load_group(file, kf, n) < 0)
            return -EINVAL;
    }
    return 0;
}

/* ---- signalling ---- */

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
        if (r < 0)
            log_net(n, "warning: signal from %.8s refused: %s", buf, ipop_strerror(r));
    }
}

static int open_signal_socket(struct net *n)
{
    char host[NI_MAXHOST], port[NI_MAXSERV];

    getnameinfo((struct sockaddr *)&n->listen, n->listenlen, host, sizeof(host), port, sizeof(port),
                NI_NUMERICHOST | NI_NUMERICSERV);
    n->sock = socket(n->listen.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (n->sock < 0 || bind(n->sock, (struct sockaddr *)&n->listen, n->listenlen) < 0) {
        log_net(n, "error: signal.listen %s port %s: %s", host, port, strerror(errno));
        return -errno;
    }
    debug_net(n, "signalling on %s port %s", host, port);
    return 0;
}

/* ---- events ---- */

/* Library thread: log, and pass what needs a call on the network to the
 * main thread. */
static void on_event(ipop_network_t *net, const ipop_event_t *ev, void *user_data)
{
    struct net *n = user_data;
    const char *peer = ev->peer_id ? ev->peer_id : "-";
    const char *detail = ev->detail ? ev->detail : "";
    const char *sep = detail[0] ? ": " : "";
    struct link_event le = {.net_idx = (size_t)(n - nets), .state = ev->state, .reason = ev->reason};

    switch (ev->type) {
    case IPOP_EVENT_LINK_STATE:
        /* The library logs the details of a state change itself. */
        if (!verbose)
            sep = detail = "";
        if (ev->reason != IPOP_REASON_NONE)
            log_net(n, "link %.8s: %s (%s)%s%s", peer, ipop_link_state_str(ev->state),
                    ipop_reason_str(ev->reason), sep, detail);
        else
            log_net(n, "link %.8s: %s%s%s", peer, ipop_link_state_str(ev->state), sep, detail);
        break;
    case IPOP_EVENT_PEER_REFUSED:
        /* The library has logged it already, with the details. */
        debug_net(n, "peer %.8s refused (%s)%s%s", peer, ipop_reason_str(ev->reason), sep,
                detail);
        return;
    case IPOP_EVENT_DEVICE_ERROR:
        log_net(n, "error: device: %s%s%s", ipop_strerror(ev->error), sep, detail);
        return;
    case IPOP_EVENT_BAD_MESSAGE:
        debug_net(n, "bad message from %.8s: %s%s%s", peer, ipop_strerror(ev->error), sep,
                detail);
        return;
    default:
        debug_net(n, "event %d%s%s", (int)ev->type, sep, detail);
        return;
    }
    if (!ev->peer_id || strlen(ev->peer_id) > IPOP_NODE_ID_MAX)
        return;
    if (ev->state != IPOP_LINK_CONNECTED && ev->state != IPOP_LINK_FAILED && ev->state != IPOP_LINK_CLOSED)
        return;
    strcpy(le.peer_id, ev->peer_id);
    if (write(event_pipe[1], &le, sizeof(le)) != (ssize_t)sizeof(le))
        log_net(n, "warning: event for %.8s lost: %s", peer, strerror(errno));
}

static void schedule_reconnect(struct net *n, const char *peer_id, int64_t delay_ms)
{
    struct peer *p = (struct peer *)find_peer(n, peer_id);

    if (!p)
        return; /* a peer allowed by the library but not configured here */
    p->reconnect_at = now_ms() + delay_ms;
    debug_net(n, "link %.8s: reconnecting in %lld ms", peer_id, (long long)delay_ms);
}

static void handle_link_event(const struct link_event *le)
{
    struct net *n;
    ipop_link_t *link;

    if (le->net_idx >= n_nets)
        return;
    n = &nets[le->net_idx];
    link = ipop_network_get_link(n->net, le->peer_id);
    if (le->state == IPOP_LINK_CONNECTED) {
        ipop_link_stats_t st = {.size = sizeof(st)};
        const char *path = "unknown";

        if (link && ipop_link_get_stats(link, &st) == 0)
            path = ipop_path_type_str(st.local_path);
        log_net(NULL, "link to %.8s connected (%s)", le->peer_id, path);
        return;
    }
    /* Our own close (stop, ipop_link_close) is not retried; a peer's
     * goodbye or any failure is. */
    if (le->state == IPOP_LINK_FAILED ||
        (le->state == IPOP_LINK_CLOSED && le->reason == IPOP_REASON_PEER_CLOSED))
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
    r = ipop_network_connect(n->net, p->id, NULL);
    if (r < 0) {
        log_net(n, "warning: connect to %.8s: %s", p->id, ipop_strerror(r));
        p->reconnect_at = now_ms() + RECONNECT_DELAY_MS;
    }
}

static void run_timers(int64_t now)
{
    for (size_t i = 0; i < n_nets; i++)
        for (size_t j = 0; j < nets[i].n_peers; j++)
            if (nets[i].peers[j].reconnect_at && nets[i].peers[j].reconnect_at <= now)
                connect_peer(&nets[i], &nets[i].peers[j]);
}

static int next_timeout(int64_t now, int64_t status_at)
{
    int64_t due = verbose ? status_at : INT64_MAX;

    for (size_t i = 0; i < n_nets; i++)
        for (size_t j = 0; j < nets[i].n_peers; j++)
            if (nets[i].peers[j].reconnect_at && nets[i].peers[j].reconnect_at < due)
                due = nets[i].peers[j].reconnect_at;
    if (due == INT64_MAX)
        return -1;
    return due <= now ? 0 : (int)MIN(due - now, 60000);
}

static void log_status(void)
{
    for (size_t i = 0; i < n_nets; i++) {
        for (size_t j = 0; j < nets[i].n_peers; j++) {
            ipop_link_t *link = ipop_network_get_link(nets[i].net, nets[i].peers[j].id);
            ipop_link_stats_t st = {.size = sizeof(st)};

            if (!link || ipop_link_get_stats(link, &st) < 0)
                continue;
            debug_net(&nets[i], "status %.8s: %s %s/%s rtt %u us, tx %llu pkts %llu B (%llu drops), "
                      "rx %llu pkts %llu B (%llu drops)", nets[i].peers[j].id, ipop_link_state_str(st.state),
                      ipop_path_type_str(st.local_path), ipop_path_type_str(st.remote_path), st.rtt_us,
                      (unsigned long long)st.tx_packets, (unsigned long long)st.tx_bytes,
                      (unsigned long long)st.tx_drops, (unsigned long long)st.rx_packets,
                      (unsigned long long)st.rx_bytes, (unsigned long long)st.rx_drops);
        }
    }
}

/* ---- lifecycle ---- */

static int start_net(struct net *n)
{
    const char *id;
    const char *dev;
    int r;

    ipop_network_set_signal_cb(n->net, on_signal, n);
    ipop_network_set_event_cb(n->net, on_event, n);
    r = ipop_network_start(n->net);
    if (r < 0) {
        log_net(n, "error: cannot start: %s%s", ipop_strerror(r),
                r == -EPERM || r == -EACCES ? " (tun and tap modes need root or CAP_NET_ADMIN)" : "");
        return r;
    }
    id = ipop_network_get_node_id(n->net);
    g_strlcpy(n->own_id, id ? id : "", sizeof(n->own_id));
    dev = ipop_network_get_device(n->net);
    log_net(n, "node %s started%s%s", n->own_id, dev ? ", device " : "", dev ? dev : "");
    for (size_t i = 0; i < n->n_peers; i++)
        connect_peer(n, &n->peers[i]);
    return 0;
}

static void free_nets(void)
{
    /* All networks first: until the last is gone, the log callback may
     * look up names in the table. */
    for (size_t i = 0; i < n_nets; i++)
        nets[i].net = ipop_network_free(nets[i].net);
    for (size_t i = 0; i < n_nets; i++) {
        if (nets[i].sock >= 0)
            close(nets[i].sock);
        for (size_t j = 0; j < nets[i].n_peers; j++)
            g_free(nets[i].peers[j].id);
        g_free(nets[i].peers);
        g_free(nets[i].name);
    }
    g_free(nets);
    nets = NULL;
    n_nets = 0;
}

static int main_loop(int sigfd)
{
    size_t nfds = n_nets + 2;
    g_autofree struct pollfd *fds = g_new0(struct pollfd, nfds);
    int64_t status_at = now_ms() + STATUS_INTERVAL_MS;

    fds[0] = (struct pollfd){.fd = sigfd, .events = POLLIN};
    fds[1] = (struct pollfd){.fd = event_pipe[0], .events = POLLIN};
    for (size_t i = 0; i < n_nets; i++)
        fds[i + 2] = (struct pollfd){.fd = nets[i].sock, .events = POLLIN};
    for (;;) {
        int64_t now = now_ms();

        if (poll(fds, nfds, next_timeout(now, status_at)) < 0) {
            if (errno == EINTR)
                continue;
            log_net(NULL, "error: poll: %s", strerror(errno));
            return 1;
        }
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo si;

            if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                log_net(NULL, "%s: stopping", strsignal((int)si.ssi_signo));
                return 0;
            }
        }
        if (fds[1].revents & POLLIN)
            drain_events();
        for (size_t i = 0; i < n_nets; i++)
            if (fds[i + 2].revents & POLLIN)
                receive_signal(&nets[i]);
        now = now_ms();
        run_timers(now);
        if (verbose && now >= status_at) {
            log_status();
            status_at = now + STATUS_INTERVAL_MS;
        }
    }
}

static int run(const char *config)
{
    sigset_t mask;
    int sigfd = -1;
    int status = 1;
    size_t started = 0;

    if (load_config(config) < 0) {
        free_nets();
        return EXIT_CONFIG;
    }
    /* Block the signals before the library starts threads, which inherit
     * the mask, so that only the signalfd sees them. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0 || pipe2(event_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        log_net(NULL, "error: %s", strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < n_nets; i++)
        if (open_signal_socket(&nets[i]) < 0)
            goto out;
    for (; started < n_nets; started++)
        if (start_net(&nets[started]) < 0)
            goto out;
    status = main_loop(sigfd);
out:
    /* Stop says goodbye to the peers and removes the devices. */
    for (size_t i = 0; i < started; i++)
        ipop_network_stop(nets[i].net);
    free_nets();
    if (sigfd >= 0)
        close(sigfd);
    for (int i = 0; i < 2; i++)
        if (event_pipe[i] >= 0)
            close(event_pipe[i]);
    return status;
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
    gboolean version = FALSE, debug = FALSE;
    GOptionEntry entries[] = {
        {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config, "Run the networks of config FILE", "FILE"},
        {"node-id", 0, 0, G_OPTION_ARG_FILENAME, &id_file,
         "Create FILE (if missing) with a new identity, print its node id", "FILE"},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &debug, "Log debug messages", NULL},
        {"version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the versions and exit", NULL},
        {NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- IP-over-P2P VPN daemon");
    g_autoptr(GError) error = NULL;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_summary(ctx, "Each [group] of the config file is one network.  See doc/ipopd.md.");
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "ipopd: %s (try --help)\n", error->message);
        return EXIT_CONFIG;
    }
    if (version) {
        printf("ipopd %s (libipop %s)\n", IPOP_VERSION, ipop_version());
        return 0;
    }
    if (argc > 1 || (!config == !id_file)) {
        fprintf(stderr, "ipopd: give one of --config FILE or --node-id FILE (try --help)\n");
        return EXIT_CONFIG;
    }
    verbose = debug;
    /* --node-id is a command whose output is the id: only problems are
     * worth a log line there. */
    ipop_set_log_cb(on_log, debug ? IPOP_LOG_DEBUG : id_file ? IPOP_LOG_WARNING : IPOP_LOG_INFO, NULL);
    if (id_file)
        return print_node_id(id_file);
    return run(config);
}
