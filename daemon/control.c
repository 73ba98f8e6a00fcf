/* SPDX-License-Identifier: MIT */
/* The control socket ipopctl talks to: one request line per connection,
 * answered (text or JSON) from the main loop without blocking it. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipopd.h"
#include "parse.h"

#define CONTROL_CLIENTS_MAX 16
#define CONTROL_REQUEST_MAX 256
#define CONTROL_DEADLINE_MS 5000

struct client {
    int fd;
    char in[CONTROL_REQUEST_MAX];
    size_t in_len;
    GString *out;                 /* NULL while the request is being read */
    size_t out_off;
    int64_t deadline;
};

static int control_fd = -1;
static char *control_path;
static GPtrArray *clients;        /* struct client * */

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

/* The SocialVPN network a friend request is for: the one named, else the
 * only one; NULL with the error in out. */
static struct net *friend_net(const char *network, GString *out)
{
    struct net *found = NULL;

    for (size_t i = 0; i < nets->len; i++) {
        struct net *n = net_at(i);
        if (network ? strcmp(n->name, network) != 0 : n->overlay != OVERLAY_SOCIAL)
            continue;
        if (found) {
            g_string_append(out, "error more than one SocialVPN network: name one (--network)\n");
            return NULL;
        }
        found = n;
    }
    if (!found && network)
        g_string_append_printf(out, "error no network %s\n", network);
    else if (!found)
        g_string_append(out, "error no SocialVPN network (overlay = social) here\n");
    else if (found->overlay != OVERLAY_SOCIAL)
        g_string_append_printf(out, "error %s: not a SocialVPN network\n", found->name);
    return found && found->overlay == OVERLAY_SOCIAL ? found : NULL;
}

static void friend_list(struct net *n, GString *out)
{
    g_autoptr(GString) body = g_string_new(NULL);
    ipop_friend_t f = { .size = sizeof(f) };
    int r = 0;

    for (size_t i = 0; n->started && (r = ipop_network_get_friend(n->net, i, &f)) == 0; i++) {
        const char *state = f.request ? "asks you (friend accept)" : f.asked ? "asked, no answer yet"
                            : !strcmp(f.subscription, "both") ? (f.online ? "friend, online" : "friend, offline")
                                                              : "no mutual subscription";
        g_string_append_printf(body, "%-32s %-4s %-24s %.12s %s\n", f.jid, f.subscription, state,
                               f.peer_id[0] ? f.peer_id : "-", f.address[0] ? f.address : "-");
        f.size = sizeof(f);
    }
    if (!n->started || (r < 0 && r != -ENOENT)) {
        g_string_append_printf(out, "error %s: %s\n", n->name, ipop_strerror(n->started ? r : -ENOTCONN));
        return;
    }
    g_string_append(out, "ok\n");
    g_string_append(out, body->str);
}

/* "friend add|remove|accept JID [NETWORK]", "friend list [NETWORK]":
 * ipop_network_friend_*() on the SocialVPN network named, else the only one. */
static void friend_request(const struct control_request *req, GString *out)
{
    struct net *n = friend_net(req->arg2, out);
    int r;

    if (!n)
        return;
    if (!strcmp(req->verb, "list")) {
        friend_list(n, out);
        return;
    }
    if (!n->started)
        r = -ENOTCONN;
    else if (!strcmp(req->verb, "add"))
        r = ipop_network_friend_add(n->net, req->arg);
    else if (!strcmp(req->verb, "accept"))
        r = ipop_network_friend_accept(n->net, req->arg);
    else
        r = ipop_network_friend_remove(n->net, req->arg);
    if (r < 0) {
        g_string_append_printf(out, "error %s: friend %s %s: %s%s\n", n->name, req->verb, req->arg,
                               ipop_strerror(r), r == -ENOENT && !strcmp(req->verb, "accept") ?
                               " (no request from it waits: see ipopctl friend list)" : r == -ENOTCONN ?
                               " (the XMPP session is not up)" : "");
        return;
    }
    log_net(n, "friend %s: %s (ipopctl)", req->arg, req->verb);
    g_string_append_printf(out, "ok\n%s: friend %s %s: done%s\n", n->name, req->verb, req->arg,
                           !strcmp(req->verb, "add") ? " (a request was sent; you are friends once it accepts)" : "");
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
 * "metrics", "accept JID [NETWORK]" or "network-changed [NETWORK]" (parse.c); the
 * answer is "ok\n" and the body, or "error TEXT\n"; then the daemon closes. */
static void answer(const struct control_request *req, GString *out)
{
    switch (req->cmd) {
    case CONTROL_ACCEPT:
        accept_request(req->arg, req->arg2, out);
        break;
    case CONTROL_CHANGED:
        changed_request(req->arg, out);
        break;
    case CONTROL_FRIEND:
        friend_request(req, out);
        break;
    case CONTROL_STATUS:
        g_string_append(out, "ok\n");
        req->json ? control_status_json(out) : status_text(out);
        break;
    case CONTROL_PEERS:
        g_string_append(out, "ok\n");
        req->json ? peers_json(out) : peers_text(out);
        break;
    case CONTROL_METRICS:
        g_string_append(out, "ok\n");
        metrics_text(out);
        break;
    case CONTROL_BAD:
        g_string_append(out, req->error);
        break;
    }
}

/* Requests that change something ("accept", "network-changed") only from
 * root or the user ipopd runs as, by the credentials the kernel took at
 * connect (SO_PEERCRED): the socket is 0600, but one an administrator
 * opened to others answers them status only.  true (and the error in out)
 * when the request is refused. */
static bool refuse_peer(int fd, const struct control_request *req, GString *out)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (!req->changes)
        return false;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof(cred) &&
        (cred.uid == 0 || cred.uid == geteuid()))
        return false;
    g_string_append(out, "error not permitted: only root or ipopd's own user may change anything\n");
    return true;
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
        struct control_request req;
        int r;

        if (len < 0)
            return errno == EAGAIN || errno == EINTR;
        if (len == 0)
            return false;
        cl->in_len += (size_t)len;
        cl->in[cl->in_len] = '\0';
        r = control_line(cl->in, cl->in_len, sizeof(cl->in));
        if (r == 0)
            return true;
        if (r < 0) {
            cl->out = g_string_new("error request too long\n");
        } else {
            control_parse(cl->in, &req);
            cl->out = g_string_new(NULL);
            if (!refuse_peer(cl->fd, &req, cl->out))
                answer(&req, cl->out);
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

void control_expire(int64_t now)
{
    for (size_t i = clients ? clients->len : 0; i-- > 0;) {
        struct client *cl = g_ptr_array_index(clients, i);
        if (cl->deadline <= now) {
            client_free(cl);
            g_ptr_array_remove_index(clients, i);
        }
    }
}

/* Binds the control socket, mode 0600.  A socket file that nobody answers
 * on is a leftover and is replaced; a live one is another ipopd's. */
int control_open(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    mode_t old_mask;
    int fd, probe, r;

    if (!clients)
        clients = g_ptr_array_new();
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

void control_close(void)
{
    for (size_t i = 0; clients && i < clients->len; i++)
        client_free(g_ptr_array_index(clients, i));
    if (clients)
        g_ptr_array_free(clients, TRUE);
    clients = NULL;
    if (control_fd >= 0) {
        close(control_fd);
        unlink(control_path);
    }
    control_fd = -1;
    g_clear_pointer(&control_path, g_free);
}

void control_pollfds(GArray *fds)
{
    g_array_append_val(fds, ((struct pollfd){.fd = control_fd, .events = POLLIN}));
    for (size_t i = 0; clients && i < clients->len; i++) {
        struct client *cl = g_ptr_array_index(clients, i);
        g_array_append_val(fds, ((struct pollfd){.fd = cl->fd, .events = cl->out ? POLLOUT : POLLIN}));
    }
}

void control_dispatch(const struct pollfd *p)
{
    for (size_t i = clients ? clients->len : 0; i-- > 0;) {
        struct client *cl = g_ptr_array_index(clients, i);
        if (p[1 + i].revents && !client_io(cl)) {
            client_free(cl);
            g_ptr_array_remove_index(clients, i);
        }
    }
    if (p[0].revents & POLLIN)
        control_accept();
}

int64_t control_next_deadline(int64_t due)
{
    for (size_t i = 0; clients && i < clients->len; i++) {
        struct client *cl = g_ptr_array_index(clients, i);
        if (cl->deadline < due)
            due = cl->deadline;
    }
    return due;
}
