/* SPDX-License-Identifier: MIT */
/* Signalling over UDP, for networks without an overlay: one datagram per
 * message, "<sender-node-id> <message>", to the peers of signal.peers, and
 * the timers that connect to them again after a failure. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipopd.h"
#include "parse.h"

static const struct peer *find_peer(const struct net *n, const char *id)
{
    for (size_t i = 0; i < n->n_peers; i++)
        if (strcmp(n->peers[i].id, id) == 0)
            return &n->peers[i];
    return NULL;
}

/* Library thread.  Reads only what is fixed before start. */
void on_signal(ipop_network_t *net, const char *peer_id, const char *message, void *user_data)
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

void receive_signal(struct net *n)
{
    char buf[DATAGRAM_MAX + 1];
    ssize_t len;

    for (;;) {
        char *sender, *message;
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
        if (sig_datagram_split(buf, (size_t)len, &sender, &message) < 0) {
            log_net(n, "warning: malformed signal datagram dropped (%zd bytes)", len);
            continue;
        }
        r = ipop_network_signal_receive(n->net, sender, message);
        if (r < 0) /* the library logged it, a few lines at a time: a flood must not flood the log */
            debug_net(n, "signal from %.8s refused: %s", sender, ipop_strerror(r));
    }
}

int open_signal_socket(struct net *n)
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

void schedule_reconnect(struct net *n, const char *peer_id, int64_t delay_ms)
{
    struct peer *p = (struct peer *)find_peer(n, peer_id);

    if (!p)
        return; /* a group member, or a peer allowed by the library but not configured here */
    p->reconnect_at = now_ms() + delay_ms;
    debug_net(n, "link %.8s: reconnecting in %lld ms", peer_id, (long long)delay_ms);
}

void connect_peer(struct net *n, struct peer *p)
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

void run_timers(int64_t now)
{
    for (size_t i = 0; i < nets->len; i++) {
        struct net *n = net_at(i);
        for (size_t j = 0; n->started && j < n->n_peers; j++)
            if (n->peers[j].reconnect_at && n->peers[j].reconnect_at <= now)
                connect_peer(n, &n->peers[j]);
    }
}


int64_t next_reconnect(int64_t due)
{
    for (size_t i = 0; i < nets->len; i++)
        for (size_t j = 0; j < net_at(i)->n_peers; j++)
            if (net_at(i)->peers[j].reconnect_at && net_at(i)->peers[j].reconnect_at < due)
                due = net_at(i)->peers[j].reconnect_at;
    return due;
}
