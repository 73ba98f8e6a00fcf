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

#include <json-glib/json-glib.h>

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

static const char *overlay_str(enum overlay o)
{
    return o == OVERLAY_GROUP ? "group" : o == OVERLAY_SOCIAL ? "social" : "none";
}

/* A string value, or null.  Names and ids can come from the network:
 * bytes that are not UTF-8 become U+FFFD so the document stays valid. */
static void add_str_value(JsonBuilder *b, const char *v)
{
    if (!v) {
        json_builder_add_null_value(b);
    } else if (g_utf8_validate(v, -1, NULL)) {
        json_builder_add_string_value(b, v);
    } else {
        g_autofree char *valid = g_utf8_make_valid(v, -1);
        json_builder_add_string_value(b, valid);
    }
}

static void add_str(JsonBuilder *b, const char *member, const char *v)
{
    json_builder_set_member_name(b, member);
    add_str_value(b, v);
}

/* A string member, null when empty. */
static void add_opt_str(JsonBuilder *b, const char *member, const char *v)
{
    add_str(b, member, v && v[0] ? v : NULL);
}

static void add_uint(JsonBuilder *b, const char *member, uint64_t v)
{
    json_builder_set_member_name(b, member);
    json_builder_add_int_value(b, v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

/* The protocol of a port mapping on a path (ice.port-mapping), NULL: none. */
static const char *mapping_str(ipop_port_mapping_t m)
{
    return m == IPOP_PORT_MAPPING_UPNP ? "upnp" : m == IPOP_PORT_MAPPING_NATPMP ? "natpmp"
         : m == IPOP_PORT_MAPPING_PCP  ? "pcp"  : NULL;
}

static void json_link(JsonBuilder *b, const char *network, const ipop_link_stats_t *st)
{
    json_builder_begin_object(b);
    if (network)
        add_str(b, "network", network);
    add_str(b, "peer_id", st->peer_id);
    add_opt_str(b, "address", st->address);
    add_opt_str(b, "name", st->name);
    add_str(b, "state", ipop_link_state_str(st->state));
    add_str(b, "reason", ipop_reason_str(st->reason));
    add_str(b, "path", ipop_path_type_str(st->local_path));
    add_str(b, "remote_path", ipop_path_type_str(st->remote_path));
    /* GroupVPN: the member packets go through while the direct link is down */
    add_opt_str(b, "relay", st->relay_id);
    /* the path through a port mapping of this node's router, and the peer's */
    add_str(b, "port_mapping", mapping_str(st->port_mapping));
    json_builder_set_member_name(b, "remote_port_mapping");
    json_builder_add_boolean_value(b, st->remote_port_mapping != 0);
    add_uint(b, "rtt_us", st->rtt_us);
    add_uint(b, "rx_bytes", st->rx_bytes);
    add_uint(b, "tx_bytes", st->tx_bytes);
    add_uint(b, "rx_packets", st->rx_packets);
    add_uint(b, "tx_packets", st->tx_packets);
    add_uint(b, "rx_drops", st->rx_drops);
    add_uint(b, "tx_drops", st->tx_drops);
    add_uint(b, "relayed_packets", st->relayed_packets);
    add_uint(b, "relay_drops", st->relay_drops);
    json_builder_end_object(b);
}

/* The stats of the i-th known link of n; false when it has none. */
static bool link_stats(struct net *n, size_t i, ipop_link_stats_t *st)
{
    *st = (ipop_link_stats_t){.size = sizeof(*st)};
    if (ipop_link_get_stats(g_ptr_array_index(n->links, i), st) < 0)
        return false;
    return true;
}

static void pending_json(JsonBuilder *b, const struct net *n)
{
    json_builder_set_member_name(b, "pending_identities");
    json_builder_begin_array(b);
    for (size_t j = 0; j < n->pending->len; j++) {
        const struct pending *pd = g_ptr_array_index(n->pending, j);

        json_builder_begin_object(b);
        add_str(b, "peer_id", pd->peer_id);
        add_str(b, "name", pd->jid);
        add_str(b, "detail", pd->detail);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static void network_json(JsonBuilder *b, struct net *n)
{
    ipop_network_stats_t ns = {.size = sizeof(ns)};

    ipop_network_get_stats(n->net, &ns);
    json_builder_begin_object(b);
    add_str(b, "name", n->name);
    json_builder_set_member_name(b, "running");
    json_builder_add_boolean_value(b, n->started);
    add_str(b, "node_id", n->own_id[0] ? n->own_id : NULL);
    add_str(b, "device", n->started ? ipop_network_get_device(n->net) : NULL);
    add_str(b, "mode", n->mode ? n->mode : "none");
    add_str(b, "overlay", overlay_str(n->overlay));
    json_builder_set_member_name(b, "addresses");
    json_builder_begin_array(b);
    for (size_t j = 0; j < n->addresses->len; j++)
        add_str_value(b, g_ptr_array_index(n->addresses, j));
    json_builder_end_array(b);
    if (n->overlay == OVERLAY_SOCIAL) {
        add_str(b, "state_file", n->state_file);
        pending_json(b, n);
    }
    add_uint(b, "signal_refused", ns.signal_refused);
    add_uint(b, "no_route", ns.no_route);
    add_uint(b, "relayed_packets", ns.relayed_packets);
    add_uint(b, "relay_drops", ns.relay_drops);
    json_builder_set_member_name(b, "links");
    json_builder_begin_array(b);
    for (size_t j = 0; j < n->links->len; j++) {
        ipop_link_stats_t st;
        if (link_stats(n, j, &st))
            json_link(b, NULL, &st);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
}

/* Appends the document b holds, on one line. */
static void json_finish(JsonBuilder *b, GString *s)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);

    json_generator_set_root(gen, root);
    json_generator_to_gstring(gen, s);
    g_string_append_c(s, '\n');
}

static void status_json(GString *s)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    add_str(b, "version", ipop_version());
    json_builder_set_member_name(b, "networks");
    json_builder_begin_array(b);
    for (size_t i = 0; i < nets->len; i++)
        network_json(b, net_at(i));
    json_builder_end_array(b);
    json_builder_end_object(b);
    json_finish(b, s);
}

static void peers_json(GString *s)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "peers");
    json_builder_begin_array(b);
    for (size_t i = 0; i < nets->len; i++) {
        struct net *n = net_at(i);
        for (size_t j = 0; j < n->links->len; j++) {
            ipop_link_stats_t st;
            if (link_stats(n, j, &st))
                json_link(b, n->name, &st);
        }
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    json_finish(b, s);
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
        snprintf(path, sizeof(path), "%s%s%s", st->state == IPOP_LINK_CONNECTED ? ipop_path_type_str(st->local_path) : "-",
                 st->state == IPOP_LINK_CONNECTED && mapping_str(st->port_mapping) ? "+" : "",
                 st->state == IPOP_LINK_CONNECTED && mapping_str(st->port_mapping) ? mapping_str(st->port_mapping) : "");
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
 * "accept JID [NETWORK]" or "network-changed [NETWORK]" (parse.c); the
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
    case CONTROL_STATUS:
        g_string_append(out, "ok\n");
        req->json ? status_json(out) : status_text(out);
        break;
    case CONTROL_PEERS:
        g_string_append(out, "ok\n");
        req->json ? peers_json(out) : peers_text(out);
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
