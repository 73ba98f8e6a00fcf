/* SPDX-License-Identifier: MIT */
/*
 * A host with its own poll() loop (option loop=external): the library runs
 * no thread of its own.  The host polls the fd of each network, wakes up by
 * the earliest deadline, and calls ipop_network_process(), inside which
 * every callback runs.  Two networks in one process, no root: "a" sends
 * pings to "b", b answers each from inside its datagram callback, and the
 * program ends (status 0) when a has heard ROUNDS pongs.
 */
#include <errno.h>
#include <ipop/ipop.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PORT 4100
#define ROUNDS 20
#define DEADLINE_MS 30000

static ipop_network_t *net[2];
static ipop_udp_t *sock[2];
static int pongs;

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Called inside ipop_network_process() of the sender: hand the message to
 * the other network (allowed from any thread, and from a callback). */
static void on_signal(ipop_network_t *from, const char *peer, const char *msg, void *ud)
{
    ipop_network_signal_receive(net[from == net[0]], ipop_network_get_node_id(from), msg);
}

static void on_ping(ipop_udp_t *s, const char *from, uint16_t port, const void *data, size_t len, void *ud)
{
    char reply[64];

    snprintf(reply, sizeof(reply), "pong%.*s", len > 4 ? (int)(len - 4) : 0, (const char *)data + 4);
    ipop_udp_send(s, from, port, reply, strlen(reply)); /* answer from inside the callback */
}

static void on_pong(ipop_udp_t *s, const char *from, uint16_t port, const void *data, size_t len, void *ud)
{
    printf("a: %.*s from %s:%u\n", (int)len, (const char *)data, from, port);
    pongs++;
}

static int setup(int i, const char *name, const char *addr, ipop_udp_cb cb)
{
    if (ipop_network_new(&net[i], name) < 0 || ipop_network_set_option(net[i], "loop", "external") < 0 ||
        ipop_network_set_option(net[i], "address", addr) < 0 ||
        ipop_network_set_option(net[i], "ice.local-address", "127.0.0.1") < 0 ||
        ipop_network_set_signal_cb(net[i], on_signal, NULL) < 0 || ipop_udp_open(net[i], PORT, cb, NULL, &sock[i]) < 0)
        return -1;
    return ipop_network_start(net[i]);
}

/* One turn of the host's loop: wait on both networks' fds until the
 * earliest deadline, theirs or the host's own (host_ms, -1 for none), then
 * let both run.  No cap: a network's fd wakes the host whenever there is
 * work, also when another thread handed it over (on_signal() below). */
static int turn(int host_ms)
{
    struct pollfd pfd[2];
    int timeout = host_ms;

    for (int i = 0; i < 2; i++) {
        int t = ipop_network_get_timeout(net[i]);
        pfd[i] = (struct pollfd){ .fd = ipop_network_get_fd(net[i]), .events = POLLIN };
        if (t >= 0 && (timeout < 0 || t < timeout))
            timeout = t;
    }
    if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
        return -1;
    for (int i = 0; i < 2; i++)
        if (ipop_network_process(net[i]) < 0)
            return -1;
    return 0;
}

int main(void)
{
    long start = now_ms(), next_ping = 0;
    int sent = 0, r = 1;

    if (setup(0, "a", "10.98.0.1/24", on_pong) < 0 || setup(1, "b", "10.98.0.2/24", on_ping) < 0)
        goto out;
    ipop_network_allow_peer(net[1], ipop_network_get_node_id(net[0]));
    if (ipop_network_connect(net[0], ipop_network_get_node_id(net[1]), NULL) < 0)
        goto out;
    while (pongs < ROUNDS && now_ms() - start < DEADLINE_MS) {
        /* the host's own deadlines: the next ping, and the program's end */
        long until = sent < ROUNDS + 10 ? next_ping : start + DEADLINE_MS;
        if (turn(until > now_ms() ? (int)(until - now_ms()) : 0) < 0)
            goto out;
        /* A ping every 50 ms; until the link is up the send says -ENOTCONN. */
        if (now_ms() >= next_ping && sent < ROUNDS + 10) {
            char ping[32];
            snprintf(ping, sizeof(ping), "ping %d", sent);
            if (ipop_udp_send(sock[0], "10.98.0.2", PORT, ping, strlen(ping)) == 0)
                sent++;
            next_ping = now_ms() + 50;
        }
    }
    r = pongs >= ROUNDS ? 0 : 1;
    printf("%d pings, %d pongs\n", sent, pongs);
out:
    /* Stop both before freeing either: a stopping network says goodbye to
     * the other through on_signal(). */
    for (int i = 0; i < 2; i++) {
        ipop_udp_close(sock[i]);
        if (net[i])
            ipop_network_stop(net[i]);
    }
    for (int i = 0; i < 2; i++)
        ipop_network_free(net[i]);
    return r;
}
