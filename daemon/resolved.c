/* SPDX-License-Identifier: MIT */
/* Tells systemd-resolved, when it runs, that the network's device has a
 * DNS server for dns.suffix: its overlay addresses (SetLinkDNS), for that
 * domain only (SetLinkDomains with a routing-only domain,
 * SetLinkDefaultRoute false), as Tailscale does on Linux.  Over GLib's
 * GDBus on the system bus ($DBUS_SYSTEM_BUS_ADDRESS, else the standard
 * socket).  resolved forgets the settings when the device goes: nothing to
 * undo at stop.  Main thread, at start: each call waits at most 1 s. */
#include <arpa/inet.h>
#include <gio/gio.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "ipopd.h"

#define RESOLVE1 "org.freedesktop.resolve1"
#define CALL_TIMEOUT_MS 1000

static GVariant *call(GDBusConnection *bus, const char *dest, const char *path, const char *iface,
                      const char *method, GVariant *args, const GVariantType *reply, GError **error)
{
    return g_dbus_connection_call_sync(bus, dest, path, iface, method, args, reply, G_DBUS_CALL_FLAGS_NONE,
                                       CALL_TIMEOUT_MS, NULL, error);
}

static bool resolved_running(GDBusConnection *bus)
{
    g_autoptr(GVariant) r = call(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                 "NameHasOwner", g_variant_new("(s)", RESOLVE1), G_VARIANT_TYPE("(b)"), NULL);
    gboolean owned = FALSE;

    if (r)
        g_variant_get(r, "(b)", &owned);
    return owned;
}

/* a(iay): the addresses the server answers on. */
static GVariant *server_addresses(struct net *n)
{
    static const int families[] = {AF_INET, AF_INET6};
    GVariantBuilder b;

    g_variant_builder_init(&b, G_VARIANT_TYPE("a(iay)"));
    for (int i = 0; i < 2; i++) {
        char cidr[64];
        uint8_t bytes[16];

        if (n->dns_sock[i] < 0 || ipop_network_get_address(n->net, families[i], cidr, sizeof(cidr)) < 0)
            continue;
        cidr[strcspn(cidr, "/")] = '\0';
        if (inet_pton(families[i], cidr, bytes) != 1)
            continue;
        g_variant_builder_add(&b, "(i@ay)", families[i],
                              g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, bytes, families[i] == AF_INET ? 4 : 16, 1));
    }
    return g_variant_builder_end(&b);
}

static int manager_call(GDBusConnection *bus, const char *method, GVariant *args, GError **error)
{
    g_autoptr(GVariant) r = call(bus, RESOLVE1, "/org/freedesktop/resolve1", RESOLVE1 ".Manager", method, args,
                                 NULL, error);
    return r ? 0 : -1;
}

void resolved_register(struct net *n)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusConnection) bus = NULL;
    const char *dev = ipop_network_get_device(n->net);
    unsigned ifindex = dev ? if_nametoindex(dev) : 0;
    GVariantBuilder domains;

    if (!ifindex || (n->dns_sock[0] < 0 && n->dns_sock[1] < 0))
        return;
    bus = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, &error);
    if (!bus || !resolved_running(bus)) {
        debug_net(n, "dns: systemd-resolved is not running%s%s: not registered with it", error ? ": " : "",
                  error ? error->message : "");
        return;
    }
    g_variant_builder_init(&domains, G_VARIANT_TYPE("a(sb)"));
    g_variant_builder_add(&domains, "(sb)", n->dns_suffix, TRUE); /* routing only: "~suffix" */
    if (manager_call(bus, "SetLinkDNS", g_variant_new("(i@a(iay))", (int32_t)ifindex, server_addresses(n)),
                     &error) < 0 ||
        manager_call(bus, "SetLinkDomains", g_variant_new("(ia(sb))", (int32_t)ifindex, &domains), &error) < 0) {
        log_net(n, "warning: dns: systemd-resolved refused the server for %s on %s: %s (resolvectl dns and "
                "resolvectl domain do it by hand)", n->dns_suffix, dev, error->message);
        return;
    }
    /* Only names under the suffix go to ipopd, whatever resolved's default
     * for a link with a routing domain; older resolved lack the call. */
    if (manager_call(bus, "SetLinkDefaultRoute", g_variant_new("(ib)", (int32_t)ifindex, FALSE), &error) < 0)
        debug_net(n, "dns: SetLinkDefaultRoute: %s", error->message);
    log_net(n, "dns: registered with systemd-resolved: names under %s go to this node's server on %s", n->dns_suffix,
            dev);
}
