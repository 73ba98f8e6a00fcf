/* SPDX-License-Identifier: MIT */
/* ipopd's lifecycle: logging, the table of networks, start, reload
 * (SIGHUP), stop, and the main loop. */
#define _GNU_SOURCE /* strsignal */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ipopd.h"

GPtrArray *nets;
GMutex nets_lock;
bool verbose;
static unsigned next_net_id = 1;

/* ---- logging ---- */

/* Under systemd with stderr connected to the journal, each line starts
 * with its syslog priority, "<3>" to "<7>" (sd-daemon(3)), so that
 * `journalctl -p warning -u ipopd` finds the warnings and errors.  Set
 * once in main(), before any thread. */
static bool journal;

/* The priority of a line of ipopd's own: its "error: " or "warning: " prefix
 * says it. */
static int line_priority(const char *line)
{
    if (g_str_has_prefix(line, "error: "))
        return IPOP_LOG_ERR;
    if (g_str_has_prefix(line, "warning: "))
        return IPOP_LOG_WARNING;
    return IPOP_LOG_INFO;
}

/* One fprintf per line: stdio locks the stream, so lines from the
 * library's threads do not interleave. */
static void emit(int priority, const char *net, const char *prefix, const char *text)
{
    char level[8] = "";

    if (journal)
        snprintf(level, sizeof(level), "<%d>", priority);
    if (net)
        fprintf(stderr, "%sipopd[%s]: %s%s\n", level, net, prefix, text);
    else
        fprintf(stderr, "%sipopd: %s%s\n", level, prefix, text);
}

static void vlog_line(int priority, const char *net, const char *fmt, va_list ap)
{
    char line[1024];

    vsnprintf(line, sizeof(line), fmt, ap);
    emit(priority >= 0 ? priority : line_priority(line), net, "", line);
}

void __attribute__((format(printf, 2, 3))) log_net(const struct net *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog_line(-1, n ? n->name : NULL, fmt, ap);
    va_end(ap);
}

void __attribute__((format(printf, 2, 3))) debug_net(const struct net *n, const char *fmt, ...)
{
    va_list ap;

    if (!verbose)
        return;
    va_start(ap, fmt);
    vlog_line(IPOP_LOG_DEBUG, n ? n->name : NULL, fmt, ap);
    va_end(ap);
}

/* Any thread.  The library's levels are syslog's priorities. */
void on_log(ipop_log_level_t level, ipop_network_t *net, const char *message, void *user_data)
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
    emit(level < IPOP_LOG_ERR ? IPOP_LOG_ERR : level > IPOP_LOG_DEBUG ? IPOP_LOG_DEBUG : (int)level,
         name[0] ? name : NULL, prefix, message);
}

/* Tells systemd (Type=notify) where ipopd is; logs when the datagram did
 * not go, since systemd would then wait for it in vain. */
static void notify_state(const char *state)
{
    int r = notify_systemd(state);

    if (r < 0)
        log_net(NULL, "warning: $NOTIFY_SOCKET: %s", strerror(-r));
}

/* READY=1 with a status line: systemctl status shows it. */
static void notify_ready(void)
{
    unsigned running = 0;
    g_autofree char *state = NULL;

    for (size_t i = 0; i < nets->len; i++)
        running += net_at(i)->started;
    state = g_strdup_printf("READY=1\nSTATUS=%u of %u networks running", running, nets->len);
    notify_state(state);
}

/* ---- networks: creation and freeing ---- */

static void pending_free(void *p)
{
    struct pending *pd = p;

    g_free(pd->jid);
    g_free(pd->detail);
    g_free(pd);
}

struct net *net_new(const char *name)
{
    struct net *n = g_new0(struct net, 1);

    n->id = next_net_id++;
    n->name = g_strdup(name);
    n->sock = -1;
    n->dns_sock[0] = n->dns_sock[1] = -1;
    n->addresses = g_ptr_array_new_with_free_func(g_free);
    n->links = g_ptr_array_new();
    n->pending = g_ptr_array_new_with_free_func(pending_free);
    n->refusals = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return n;
}

/* Stops (goodbye to the peers, device removed) and frees.  Not under
 * nets_lock: the library's threads may log while it stops. */
void net_free(struct net *n)
{
    if (!n)
        return;
    ipop_network_free(n->net);
    if (n->sock >= 0)
        close(n->sock);
    dns_stop(n);
    g_free(n->dns_suffix);
    free(n->dns_suffix_wire);
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
    g_hash_table_destroy(n->refusals);
    g_free(n->state_file);
    g_free(n->default_dir);
    g_free(n->name);
    g_free(n);
}

void net_list_free(GPtrArray *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->len; i++)
        net_free(g_ptr_array_index(list, i));
    g_ptr_array_free(list, TRUE);
}

/* ---- lifecycle ---- */

/* The value of `key` in the network's section, as configured, or NULL. */
static char *config_value(const struct net *n, const char *key)
{
    g_autofree char *prefix = g_strdup_printf("%s=", key);

    for (const char *p = n->canon; p && *p;) {
        const char *end = strchrnul(p, '\n');
        if (g_str_has_prefix(p, prefix))
            return g_strndup(p + strlen(prefix), (size_t)(end - p) - strlen(prefix));
        p = *end ? end + 1 : end;
    }
    return NULL;
}

/* What to do about a start that failed, by its error and the mode. */
static char *start_hint(const struct net *n, int r)
{
    bool device = n->mode && strcmp(n->mode, "none") != 0;
    g_autofree char *dev = config_value(n, "device");
    g_autofree char *id = config_value(n, "identity.file");

    if (device && r == -EBUSY)
        return g_strdup_printf(" (the device %s is in use, by another network of this or another ipopd, or "
                               "another program: give each network its own device name)", dev ? dev : "");
    if (device && r == -ENOENT && access("/dev/net/tun", F_OK) < 0)
        return g_strdup(" (/dev/net/tun is missing: load the tun module with modprobe tun, or in a container "
                        "give it the device)");
    if ((r == -EPERM || r == -EACCES) && device)
        return g_strdup(" (tun and tap modes need root or CAP_NET_ADMIN)");
    if ((r == -EPERM || r == -EACCES) && id && access(id, R_OK) < 0)
        return g_strdup_printf(" (identity.file %s cannot be read by this user)", id);
    if (r == -EPERM || r == -EACCES)
        return g_strdup(" (a file named in the config cannot be read or written by this user)");
    return NULL;
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
        g_autofree char *hint = start_hint(n, r);
        log_net(n, "error: cannot start: %s%s", r == -EBUSY && hint ? "device busy" : ipop_strerror(r),
                hint ? hint : "");
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
    if (n->dns)
        dns_start(n);
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
    notify_state("RELOADING=1");
    if (load_config(file, &fresh) < 0) {
        log_net(NULL, "error: %s: bad config, keeping the running one", file);
        notify_ready();
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
    http_configure(config_daemon()); /* restarts the server when [ipopd] changed */
    remove_nets(gone);
    if (add_nets(start, true) < 0)
        log_net(NULL, "warning: reload: some networks did not start (ipopctl status shows which)");
    notify_ready();
}

/* ---- main loop ---- */

static int next_timeout(int64_t now, int64_t status_at)
{
    int64_t due = verbose ? status_at : INT64_MAX;

    due = next_reconnect(due);
    due = control_next_deadline(due);
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
        size_t first_net, first_dns, first_control, first_http;
        struct pollfd *p;
        int64_t now = now_ms();
        int timeout = next_timeout(now, status_at);

        g_array_set_size(fds, 0);
        g_array_append_val(fds, ((struct pollfd){.fd = sigfd, .events = POLLIN}));
        g_array_append_val(fds, ((struct pollfd){.fd = events_fd(), .events = POLLIN}));
        first_net = fds->len;
        for (size_t i = 0; i < nets->len; i++)
            g_array_append_val(fds, ((struct pollfd){.fd = net_at(i)->sock, .events = POLLIN}));
        first_dns = fds->len;
        for (size_t i = 0; i < nets->len; i++)
            for (int j = 0; j < 2; j++)
                g_array_append_val(fds, ((struct pollfd){.fd = net_at(i)->dns_sock[j], .events = POLLIN}));
        first_control = fds->len;
        control_pollfds(fds);
        first_http = fds->len;
        http_pollfds(fds, &timeout);
        p = (struct pollfd *)fds->data;
        if (poll(p, fds->len, timeout) < 0) {
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
        for (size_t i = 0; i < nets->len; i++)
            for (int j = 0; j < 2; j++)
                if (p[first_dns + 2 * i + (size_t)j].revents & POLLIN)
                    dns_receive(net_at(i), j);
        control_dispatch(p + first_control);
        http_dispatch(p + first_http);
        now = now_ms();
        control_expire(now);
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
    int sigfd = -1, r;
    int status = 1;

    nets = g_ptr_array_new();
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
    r = sigfd < 0 ? -errno : events_open();
    if (r < 0) {
        log_net(NULL, "error: %s", strerror(-r));
        goto out;
    }
    /* The default socket's directory: systemd makes it (RuntimeDirectory=);
     * by hand, ipopd does. */
    if (!control_explicit) {
        g_autofree char *dir = g_path_get_dirname(control);
        if (g_mkdir_with_parents(dir, 0755) < 0)
            log_net(NULL, "warning: %s: %s", dir, strerror(errno));
    }
    if (control_open(control) < 0) {
        if (control_explicit)
            goto out;
        log_net(NULL, "warning: running without a control socket (ipopctl will not reach this ipopd)");
    }
    if (add_nets(fresh, false) < 0)
        goto out;
    /* Not fatal: the networks run on without their page. */
    http_configure(config_daemon());
    /* Every network started: devices exist, with their addresses, and the
     * control socket answers.  Units ordered after ipopd can use them. */
    notify_ready();
    status = main_loop(sigfd, config);
    notify_state("STOPPING=1");
out:
    http_stop();
    control_close();
    /* Stop says goodbye to the peers and removes the devices. */
    all = g_ptr_array_copy(nets, NULL, NULL);
    remove_nets(all);
    g_ptr_array_free(all, TRUE);
    net_list_free(fresh);
    g_ptr_array_free(nets, TRUE);
    nets = NULL;
    if (sigfd >= 0)
        close(sigfd);
    events_close();
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
    struct options o = {0};
    int status = parse_command_line(argc, argv, &o);

    if (status >= 0)
        goto out;
    verbose = o.verbose;
    journal = stderr_is_journal();
    /* --node-id and --check are commands whose output is the answer: only
     * problems are worth a log line there. */
    ipop_set_log_cb(on_log, verbose ? IPOP_LOG_DEBUG : (o.id_file || o.check) ? IPOP_LOG_WARNING : IPOP_LOG_INFO,
                    NULL);
    if (o.id_file)
        status = print_node_id(o.id_file);
    else if (o.check)
        status = check_config(o.config);
    else
        status = run(o.config, o.control, o.control_explicit);
out:
    g_free(o.config);
    g_free(o.id_file);
    g_free(o.control);
    return status;
}
