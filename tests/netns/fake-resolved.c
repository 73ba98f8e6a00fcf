/* SPDX-License-Identifier: MIT */
/* A stand-in for systemd-resolved on a private bus (dns.sh): owns
 * org.freedesktop.resolve1 and prints each SetLinkDNS, SetLinkDomains and
 * SetLinkDefaultRoute call it gets, one line each, as
 *   SetLinkDNS IFINDEX FAMILY:ADDRESS...
 *   SetLinkDomains IFINDEX DOMAIN:ROUTING-ONLY...
 *   SetLinkDefaultRoute IFINDEX true|false
 * Usage: fake-resolved BUS-ADDRESS (prints "ready" once the name is owned). */
#include <arpa/inet.h>
#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

static const char xml[] =
    "<node><interface name='org.freedesktop.resolve1.Manager'>"
    "<method name='SetLinkDNS'><arg type='i' direction='in'/><arg type='a(iay)' direction='in'/></method>"
    "<method name='SetLinkDomains'><arg type='i' direction='in'/><arg type='a(sb)' direction='in'/></method>"
    "<method name='SetLinkDefaultRoute'><arg type='i' direction='in'/><arg type='b' direction='in'/></method>"
    "</interface></node>";

static void on_call(GDBusConnection *c, const char *sender, const char *path, const char *iface, const char *method,
                    GVariant *args, GDBusMethodInvocation *inv, void *user_data)
{
    GString *line = g_string_new(method);
    GVariantIter *it = NULL;
    int32_t ifindex;

    (void)c, (void)sender, (void)path, (void)iface, (void)user_data;
    if (g_strcmp0(method, "SetLinkDNS") == 0) {
        int32_t family;
        GVariant *bytes;

        g_variant_get(args, "(ia(iay))", &ifindex, &it);
        g_string_append_printf(line, " %d", ifindex);
        while (g_variant_iter_next(it, "(i@ay)", &family, &bytes)) {
            char text[INET6_ADDRSTRLEN] = "?";
            gsize n;
            const void *p = g_variant_get_fixed_array(bytes, &n, 1);

            if (n == (family == AF_INET ? 4u : 16u))
                inet_ntop(family, p, text, sizeof(text));
            g_string_append_printf(line, " %d:%s", family, text);
            g_variant_unref(bytes);
        }
    } else if (g_strcmp0(method, "SetLinkDomains") == 0) {
        const char *domain;
        gboolean routing;

        g_variant_get(args, "(ia(sb))", &ifindex, &it);
        g_string_append_printf(line, " %d", ifindex);
        while (g_variant_iter_next(it, "(&sb)", &domain, &routing))
            g_string_append_printf(line, " %s:%s", domain, routing ? "true" : "false");
    } else {
        gboolean on;

        g_variant_get(args, "(ib)", &ifindex, &on);
        g_string_append_printf(line, " %d %s", ifindex, on ? "true" : "false");
    }
    if (it)
        g_variant_iter_free(it);
    printf("%s\n", line->str);
    fflush(stdout);
    g_string_free(line, TRUE);
    g_dbus_method_invocation_return_value(inv, NULL);
}

static void on_name(GDBusConnection *c, const char *name, void *user_data)
{
    (void)c, (void)name, (void)user_data;
    printf("ready\n");
    fflush(stdout);
}

static void on_lost(GDBusConnection *c, const char *name, void *user_data)
{
    (void)c, (void)user_data;
    fprintf(stderr, "fake-resolved: lost %s\n", name);
    exit(1);
}

int main(int argc, char **argv)
{
    static const GDBusInterfaceVTable vtable = {.method_call = on_call};
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusNodeInfo) info = g_dbus_node_info_new_for_xml(xml, NULL);
    GDBusConnection *bus;

    if (argc != 2)
        return 2;
    bus = g_dbus_connection_new_for_address_sync(argv[1], G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                 G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);
    if (!bus || !g_dbus_connection_register_object(bus, "/org/freedesktop/resolve1", info->interfaces[0], &vtable,
                                                   NULL, NULL, &error)) {
        fprintf(stderr, "fake-resolved: %s\n", error->message);
        return 1;
    }
    g_bus_own_name_on_connection(bus, "org.freedesktop.resolve1", G_BUS_NAME_OWNER_FLAGS_NONE, on_name, on_lost,
                                 NULL, NULL);
    for (;;)
        g_main_context_iteration(NULL, TRUE);
}
