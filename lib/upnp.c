/* SPDX-License-Identifier: MIT */
/* UPnP IGD port mapping (upnp.h) with gupnp-igd's GUPnPSimpleIgd: not its
 * thread variant, which signals from a thread of its own, but the plain
 * object made with the network's context as the thread-default one, so
 * that its SSDP and HTTP sources, its renewal timers and its signals all
 * run on the loop thread.  Every call into it pushes the context again:
 * a request made from a host's thread would otherwise start its HTTP
 * exchange on that thread's default context. */
#include <arpa/inet.h>
#include <libgupnp-igd/gupnp-simple-igd.h>
#include <stdbool.h>
#include <string.h>

#include "log.h"
#include "upnp.h"

#define LEASE_S 3600     /* asked for; gupnp-igd renews at half of it */

struct ipop__upnp {
    ipop_network_t *net;
    GMainContext *ctx;
    GUPnPSimpleIgd *igd;
    GList *maps;         /* ipop__upnp_map* asked for and not freed */
};

struct ipop__upnp_map {
    ipop__upnp *u;
    char ip[INET_ADDRSTRLEN];
    uint16_t port;
    ipop__portmap_fn fn;
    void *data;
    GSource *probe;
    bool told;
    struct in_addr ext_ip; /* the mapping made, if any */
    uint16_t ext_port;
};

static ipop__upnp_map *find(ipop__upnp *u, const char *ip, guint port)
{
    for (GList *l = u->maps; l; l = l->next) {
        ipop__upnp_map *m = l->data;
        if (m->port == port && !strcmp(m->ip, ip))
            return m;
    }
    return NULL;
}

static void tell(ipop__upnp_map *m, ipop_port_mapping_t proto)
{
    m->told = true;
    if (m->probe) {
        g_source_destroy(m->probe);
        g_source_unref(m->probe);
        m->probe = NULL;
    }
    m->fn(m->data, proto, m->ext_ip, m->ext_port);
}

static void on_mapped(GUPnPSimpleIgd *igd, gchar *proto, gchar *external_ip, gchar *replaces, guint external_port,
                      gchar *local_ip, guint local_port, gchar *description, gpointer data)
{
    ipop__upnp *u = data;
    ipop__upnp_map *m = find(u, local_ip, local_port);
    struct in_addr ip;

    if (!m || strcmp(proto, "UDP") != 0)
        return;
    /* the router's own word for its public address: only an IPv4 one that
     * is not unspecified becomes a candidate */
    if (!external_ip || inet_pton(AF_INET, external_ip, &ip) != 1 || ip.s_addr == 0 || external_port == 0 ||
        external_port > 65535) {
        ipop__dbg(u->net, "port mapping: UPnP mapped port %u to an unusable '%s':%u", local_port,
                  external_ip ? external_ip : "", external_port);
        return;
    }
    if (m->told && m->ext_ip.s_addr == ip.s_addr && m->ext_port == external_port)
        return; /* a renewal */
    m->ext_ip = ip;
    m->ext_port = (uint16_t)external_port;
    ipop__dbg(u->net, "port mapping: UPnP mapped port %u to %s:%u", local_port, external_ip, external_port);
    tell(m, IPOP_PORT_MAPPING_UPNP);
}

static void on_error(GUPnPSimpleIgd *igd, GError *error, gchar *proto, guint external_port, gchar *local_ip,
                     guint local_port, gchar *description, gpointer data)
{
    ipop__upnp *u = data;
    ipop__upnp_map *m = find(u, local_ip, local_port);

    ipop__dbg(u->net, "port mapping: UPnP refused port %u: %s", local_port, error ? error->message : "?");
    if (m && !m->told)
        tell(m, IPOP_PORT_MAPPING_NONE);
}

ipop__upnp *ipop__upnp_new(ipop_network_t *net, GMainContext *ctx)
{
    ipop__upnp *u = g_new0(ipop__upnp, 1);

    u->net = net;
    u->ctx = g_main_context_ref(ctx);
    g_main_context_push_thread_default(ctx);
    u->igd = gupnp_simple_igd_new();
    g_main_context_pop_thread_default(ctx);
    g_signal_connect(u->igd, "mapped-external-port", G_CALLBACK(on_mapped), u);
    g_signal_connect(u->igd, "error-mapping-port", G_CALLBACK(on_error), u);
    return u;
}

void ipop__upnp_free(ipop__upnp *u)
{
    if (!u)
        return;
    while (u->maps)
        ipop__upnp_map_free(u->maps->data);
    g_signal_handlers_disconnect_by_data(u->igd, u);
    g_main_context_push_thread_default(u->ctx);
    g_object_unref(u->igd);
    g_main_context_pop_thread_default(u->ctx);
    g_main_context_unref(u->ctx);
    g_free(u);
}

static gboolean on_probe(gpointer p)
{
    ipop__upnp_map *m = p;

    g_source_unref(m->probe);
    m->probe = NULL;
    if (!m->told)
        tell(m, IPOP_PORT_MAPPING_NONE);
    return G_SOURCE_REMOVE;
}

ipop__upnp_map *ipop__upnp_map_new(ipop__upnp *u, struct in_addr internal, uint16_t port, ipop__portmap_fn fn,
                                   void *data)
{
    ipop__upnp_map *m = g_new0(ipop__upnp_map, 1);

    m->u = u;
    inet_ntop(AF_INET, &internal, m->ip, sizeof(m->ip));
    m->port = port;
    m->fn = fn;
    m->data = data;
    u->maps = g_list_prepend(u->maps, m);
    m->probe = g_timeout_source_new(IPOP__PORTMAP_PROBE_MS);
    g_source_set_callback(m->probe, on_probe, m, NULL);
    g_source_attach(m->probe, u->ctx);
    /* external port 0: gupnp-igd asks for the internal one, then others */
    g_main_context_push_thread_default(u->ctx);
    gupnp_simple_igd_add_port(u->igd, "UDP", 0, m->ip, port, LEASE_S, "libipop");
    g_main_context_pop_thread_default(u->ctx);
    return m;
}

void ipop__upnp_map_free(ipop__upnp_map *m)
{
    ipop__upnp *u;

    if (!m)
        return;
    u = m->u;
    u->maps = g_list_remove(u->maps, m);
    g_main_context_push_thread_default(u->ctx);
    gupnp_simple_igd_remove_port_local(u->igd, "UDP", m->ip, m->port);
    g_main_context_pop_thread_default(u->ctx);
    if (m->probe) {
        g_source_destroy(m->probe);
        g_source_unref(m->probe);
    }
    g_free(m);
}
