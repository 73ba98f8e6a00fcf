/* SPDX-License-Identifier: MIT */
/* lib/upnp.c: the UPnP IGD client runs on the context it was given, never
 * on the default one or a thread of its own; without a router (none
 * answers SSDP here) a mapping's owner hears NONE once, after the 500 ms
 * probe time and not much later; a map freed before it is told is never
 * told; freeing the client with its maps gone leaves nothing behind. */
#include <arpa/inet.h>
#include <glib.h>

#include "upnp.h"

typedef struct heard {
    int calls;
    ipop_port_mapping_t proto;
    gint64 at;
} heard;

static void on_map(void *data, ipop_port_mapping_t proto, struct in_addr ip, uint16_t port)
{
    heard *h = data;

    h->calls++;
    h->proto = proto;
    h->at = g_get_monotonic_time();
}

static void iterate(GMainContext *ctx, guint ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;

    while (g_get_monotonic_time() < end)
        if (!g_main_context_iteration(ctx, FALSE))
            g_usleep(2000);
}

static void test_probe(void)
{
    GMainContext *ctx = g_main_context_new();
    struct in_addr lo = { htonl(INADDR_LOOPBACK) };
    heard kept = { 0 }, dropped = { 0 };
    ipop__upnp *u = ipop__upnp_new(NULL, ctx);
    gint64 t0 = g_get_monotonic_time();
    ipop__upnp_map *m = ipop__upnp_map_new(u, lo, 40001, on_map, &kept);
    ipop__upnp_map *gone = ipop__upnp_map_new(u, lo, 40002, on_map, &dropped);

    /* the default context running is not enough: nothing of it is there */
    iterate(NULL, 700);
    g_assert_cmpint(kept.calls, ==, 0);
    ipop__upnp_map_free(gone);
    iterate(ctx, 300);
    g_assert_cmpint(kept.calls, ==, 1);
    if (kept.proto == IPOP_PORT_MAPPING_NONE) /* what a host without a router hears */
        g_assert_cmpint(kept.at - t0, >=, 500 * 1000);
    else
        g_assert_cmpint(kept.proto, ==, IPOP_PORT_MAPPING_UPNP); /* a LAN with an IGD */
    iterate(ctx, 200);
    g_assert_cmpint(kept.calls, ==, 1);
    g_assert_cmpint(dropped.calls, ==, 0);
    ipop__upnp_map_free(m);
    ipop__upnp_free(u);
    iterate(ctx, 50);
    g_assert_cmpint(kept.calls, ==, 1);
    g_main_context_unref(ctx);
}

/* On its own context, iterated promptly, the probe ends near 500 ms. */
static void test_probe_time(void)
{
    GMainContext *ctx = g_main_context_new();
    struct in_addr lo = { htonl(INADDR_LOOPBACK) };
    heard h = { 0 };
    ipop__upnp *u = ipop__upnp_new(NULL, ctx);
    gint64 t0 = g_get_monotonic_time();
    ipop__upnp_map *m = ipop__upnp_map_new(u, lo, 40003, on_map, &h);

    while (h.calls == 0 && g_get_monotonic_time() - t0 < 3 * G_USEC_PER_SEC)
        g_main_context_iteration(ctx, TRUE);
    g_assert_cmpint(h.calls, ==, 1);
    if (h.proto == IPOP_PORT_MAPPING_NONE) {
        g_assert_cmpint(h.at - t0, >=, 500 * 1000);
        g_assert_cmpint(h.at - t0, <, 900 * 1000);
    }
    ipop__upnp_map_free(m);
    ipop__upnp_free(u);
    g_main_context_unref(ctx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/upnp/probe", test_probe);
    g_test_add_func("/upnp/probe-time", test_probe_time);
    return g_test_run();
}
