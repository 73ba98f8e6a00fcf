/* SPDX-License-Identifier: MIT */
/* The smallest embedding, no root: two networks in one process, signalling
 * handed straight from one to the other, one datagram each way. */
#include <ipop/ipop.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static ipop_network_t *net[2];
static atomic_int got;

static void on_signal(ipop_network_t *from, const char *peer, const char *msg, void *ud)
{
    ipop_network_signal_receive(net[from == net[0]], ipop_network_get_node_id(from), msg);
}

static void on_dgram(ipop_udp_t *s, const char *from, uint16_t port, const void *data, size_t len, void *ud)
{
    printf("%s got \"%.*s\" from %s:%u\n", (const char *)ud, (int)len, (const char *)data, from, port);
    atomic_fetch_add(&got, 1);
}

int main(void)
{
    const char *name[2] = { "a", "b" }, *addr[2] = { "10.99.0.1/24", "10.99.0.2/24" };
    const char *to[2] = { "10.99.0.2", "10.99.0.1" }, *text[2] = { "hello from a", "hello from b" };
    ipop_udp_t *sock[2];
    int sent[2] = { 0, 0 };

    for (int i = 0; i < 2; i++)
        if (ipop_network_new(&net[i], name[i]) < 0 || ipop_network_set_option(net[i], "address", addr[i]) < 0 ||
            ipop_network_set_option(net[i], "ice.local-address", "127.0.0.1") < 0 ||
            ipop_network_set_signal_cb(net[i], on_signal, NULL) < 0 ||
            ipop_udp_open(net[i], 4000, on_dgram, (void *)name[i], &sock[i]) < 0 ||
            ipop_network_start(net[i]) < 0)
            return 1;
    ipop_network_allow_peer(net[1], ipop_network_get_node_id(net[0]));
    if (ipop_network_connect(net[0], ipop_network_get_node_id(net[1]), NULL) < 0)
        return 1;
    /* Send once each side's link is up (-ENOTCONN until then); wait for both. */
    for (int t = 0; t < 300 && atomic_load(&got) < 2; t++) {
        for (int i = 0; i < 2; i++)
            if (!sent[i])
                sent[i] = ipop_udp_send(sock[i], to[i], 4000, text[i], 12) == 0;
        usleep(100000);
    }
    /* Stop both before freeing either: a stopping network says goodbye to the other. */
    for (int i = 0; i < 2; i++) {
        ipop_udp_close(sock[i]);
        ipop_network_stop(net[i]);
    }
    for (int i = 0; i < 2; i++)
        ipop_network_free(net[i]);
    return atomic_load(&got) == 2 ? 0 : 1;
}
