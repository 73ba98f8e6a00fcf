/* SPDX-License-Identifier: MIT */
/* The metrics and status page: libsoup's HTTP server on a GMainContext of
 * its own, iterated by ipopd's main loop (its fds join the poll set), so
 * that every request is answered in the main thread, which alone reads
 * the networks' lists of links.
 *
 *   /             the status page (status.html, status.js, status.css:
 *                 compiled in as a GResource; nothing from elsewhere)
 *   /status.json  what `ipopctl status --json` prints
 *   /metrics      the Prometheus text format (metrics.c)
 *
 * Only GET and HEAD.  The Host header must be an IP address or
 * "localhost": a page of another site whose name an attacker resolves to
 * 127.0.0.1 (DNS rebinding) gets no answer. */
#include <errno.h>
#include <string.h>

#include <gio/gio.h>
#include <libsoup/soup.h>

#include "ipopd.h"

#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " \
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static SoupServer *server;
static GMainContext *http_ctx;
static char *serving;               /* the address served, as configured */
static GArray *gpolls;              /* GPollFD of the last http_pollfds() */
static int max_priority;

static const struct {
    const char *path, *resource, *type;
} assets[] = {
    {"/", "/org/ipop/ipopd/status.html", "text/html; charset=utf-8"},
    {"/status.js", "/org/ipop/ipopd/status.js", "text/javascript; charset=utf-8"},
    {"/status.css", "/org/ipop/ipopd/status.css", "text/css; charset=utf-8"},
};

/* "127.0.0.1", "[::1]:9464", "localhost:9464": an address or localhost,
 * with a port or not. */
bool http_host_allowed(const char *host)
{
    g_autofree char *name = NULL;
    const char *end;

    if (!host || !*host)
        return false;
    if (host[0] == '[') {
        end = strchr(host, ']');
        if (!end || (end[1] && end[1] != ':'))
            return false;
        name = g_strndup(host + 1, (size_t)(end - host - 1));
        return strchr(name, ':') && g_hostname_is_ip_address(name);
    }
    end = strchr(host, ':');
    name = end ? g_strndup(host, (size_t)(end - host)) : g_strdup(host);
    if (end && strchr(end + 1, ':'))
        return false;
    return g_ascii_strcasecmp(name, "localhost") == 0 || g_hostname_is_ip_address(name);
}

static void respond(SoupServerMessage *msg, guint status, const char *type, const char *body, gsize len)
{
    SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);

    /* One request per connection: libsoup 3.2 (Debian 12) leaks a kept-alive
     * connection, socket included, that the client closes while idle
     * (fixed upstream in 3.3: "server-connection: fix dep cycle and
     * connection leak"); a scrape every few seconds would use up the fds. */
    soup_message_headers_replace(h, "Connection", "close");
    soup_message_headers_replace(h, "Cache-Control", "no-store");
    soup_message_headers_replace(h, "X-Content-Type-Options", "nosniff");
    soup_message_headers_replace(h, "Referrer-Policy", "no-referrer");
    soup_message_headers_replace(h, "Content-Security-Policy", CSP);
    soup_server_message_set_status(msg, status, NULL);
    soup_server_message_set_response(msg, type, SOUP_MEMORY_COPY, body, len);
}

static void respond_text(SoupServerMessage *msg, guint status, const char *text)
{
    respond(msg, status, "text/plain; charset=utf-8", text, strlen(text));
}

static bool serve_asset(SoupServerMessage *msg, const char *path)
{
    for (size_t i = 0; i < G_N_ELEMENTS(assets); i++) {
        g_autoptr(GBytes) data = NULL;
        gsize len;
        const char *bytes;

        if (strcmp(path, assets[i].path) != 0)
            continue;
        data = g_resources_lookup_data(assets[i].resource, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
        if (!data) {
            respond_text(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "asset missing from this build\n");
            return true;
        }
        bytes = g_bytes_get_data(data, &len);
        respond(msg, SOUP_STATUS_OK, assets[i].type, bytes, len);
        return true;
    }
    return false;
}

static void on_request(SoupServer *srv, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
    const char *method = soup_server_message_get_method(msg);
    const char *host = soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Host");
    g_autoptr(GString) body = NULL;

    (void)srv;
    (void)query;
    (void)data;
    if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD) {
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", "GET, HEAD");
        respond_text(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        return;
    }
    if (!http_host_allowed(host)) {
        respond_text(msg, SOUP_STATUS_MISDIRECTED_REQUEST,
                     "the Host header must be an IP address or localhost (see metrics.listen in ipopd.conf(5))\n");
        return;
    }
    if (serve_asset(msg, path))
        return;
    body = g_string_new(NULL);
    if (strcmp(path, "/metrics") == 0) {
        metrics_text(body);
        respond(msg, SOUP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8", body->str, body->len);
    } else if (strcmp(path, "/status.json") == 0) {
        control_status_json(body);
        respond(msg, SOUP_STATUS_OK, "application/json", body->str, body->len);
    } else {
        respond_text(msg, SOUP_STATUS_NOT_FOUND, "not found: try / or /metrics\n");
    }
}

/* libsoup 3.1.2 to 3.3.x keep a reference to each accepted socket that
 * nothing drops (fixed in 3.4: "soup-listener: Plug a leak"): dropped here,
 * once per socket, when its connection starts its first request. */
static void on_request_started(SoupServer *srv, SoupServerMessage *msg, gpointer data)
{
    GSocket *sock = soup_server_message_get_socket(msg);

    (void)srv;
    (void)data;
    if (!sock || g_object_get_data(G_OBJECT(sock), "ipopd-leak-dropped"))
        return;
    g_object_set_data(G_OBJECT(sock), "ipopd-leak-dropped", GINT_TO_POINTER(1));
    g_object_unref(sock);
}

static bool soup_leaks_sockets(void)
{
    unsigned v = soup_get_major_version() * 10000 + soup_get_minor_version() * 100 + soup_get_micro_version();

    return v >= 30102 && v < 30400;
}

/* Splits "IP:PORT" or "[IPv6]:PORT" (config.c checked it). */
static GSocketAddress *listen_address(const char *spec)
{
    const char *colon = strrchr(spec, ':');
    g_autofree char *host = NULL;
    guint64 port;

    if (!colon || !g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &port, NULL))
        return NULL;
    if (spec[0] == '[')
        host = g_strndup(spec + 1, (size_t)(colon - spec - 2));
    else
        host = g_strndup(spec, (size_t)(colon - spec));
    return g_inet_socket_address_new_from_string(host, (guint)port);
}

void http_stop(void)
{
    if (server) {
        soup_server_disconnect(server);
        g_clear_object(&server);
    }
    if (http_ctx) {
        /* What the disconnect left to do (closing sockets) runs now. */
        while (g_main_context_iteration(http_ctx, FALSE))
            ;
        g_main_context_release(http_ctx);
        g_clear_pointer(&http_ctx, g_main_context_unref);
    }
    g_clear_pointer(&serving, g_free);
    if (gpolls)
        g_array_set_size(gpolls, 0);
}

/* Serves on conf->metrics_listen, or stops serving when it is NULL.  An
 * address that cannot be bound is logged; ipopd runs on without it. */
int http_configure(const struct daemon_conf *conf)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketAddress) addr = NULL;

    if (g_strcmp0(serving, conf->metrics_listen) == 0)
        return 0;
    http_stop();
    if (!conf->metrics_listen)
        return 0;
    if (!gpolls)
        gpolls = g_array_new(FALSE, TRUE, sizeof(GPollFD));
    addr = listen_address(conf->metrics_listen);
    if (!addr) {
        log_net(NULL, "error: metrics.listen %s: not an address", conf->metrics_listen);
        return -EINVAL;
    }
    http_ctx = g_main_context_new();
    g_main_context_acquire(http_ctx);
    g_main_context_push_thread_default(http_ctx);
    server = soup_server_new("server-header", "ipopd", NULL);
    soup_server_add_handler(server, NULL, on_request, NULL, NULL);
    if (soup_leaks_sockets())
        g_signal_connect(server, "request-started", G_CALLBACK(on_request_started), NULL);
    if (!soup_server_listen(server, addr, 0, &error)) {
        g_main_context_pop_thread_default(http_ctx);
        log_net(NULL, "error: metrics.listen %s: %s", conf->metrics_listen, error->message);
        http_stop();
        return -EADDRNOTAVAIL;
    }
    g_main_context_pop_thread_default(http_ctx);
    serving = g_strdup(conf->metrics_listen);
    log_net(NULL, "metrics and status page on http://%s/", serving);
    return 0;
}

/* GLib's poll records are struct pollfd on Unix (g_poll() is poll()). */
G_STATIC_ASSERT(sizeof(GPollFD) == sizeof(struct pollfd));

void http_pollfds(GArray *fds, int *timeout)
{
    int t = -1, n;

    if (!http_ctx)
        return;
    g_main_context_prepare(http_ctx, &max_priority);
    for (;;) {
        n = g_main_context_query(http_ctx, max_priority, &t, (GPollFD *)gpolls->data, (int)gpolls->len);
        if ((guint)n <= gpolls->len)
            break;
        g_array_set_size(gpolls, (guint)n);
    }
    g_array_set_size(gpolls, (guint)n);
    for (int i = 0; i < n; i++) {
        GPollFD *g = &g_array_index(gpolls, GPollFD, i);
        g_array_append_val(fds, ((struct pollfd){.fd = g->fd, .events = (short)g->events}));
    }
    if (t >= 0 && (*timeout < 0 || t < *timeout))
        *timeout = t;
}

void http_dispatch(const struct pollfd *p)
{
    if (!http_ctx)
        return;
    for (guint i = 0; i < gpolls->len; i++)
        g_array_index(gpolls, GPollFD, i).revents = (gushort)p[i].revents;
    g_main_context_push_thread_default(http_ctx);
    if (g_main_context_check(http_ctx, max_priority, (GPollFD *)gpolls->data, (int)gpolls->len))
        g_main_context_dispatch(http_ctx);
    g_main_context_pop_thread_default(http_ctx);
}
