/* SPDX-License-Identifier: MIT */
/* What `ipopctl status` and `ipopctl peers` print, in text and JSON: the
 * networks, their signalling, links, refusals and pending friends, read
 * from the library's getters.  control.c answers the requests with it; the
 * HTTP status page (http.c) serves the same JSON. */
#include <stdio.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "ipopd.h"

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

/* Why a link is not up: its own reason, else the peer's last refusal
 * (a wrong group secret refuses the peer's messages, the link waits);
 * NULL when connected or nothing is known. */
static const char *link_why(const struct net *n, const ipop_link_stats_t *st, const struct refusal **ret)
{
    const struct refusal *r = g_hash_table_lookup(n->refusals, st->peer_id);

    if (ret)
        *ret = r;
    if (st->state == IPOP_LINK_CONNECTED)
        return NULL;
    if (st->reason != IPOP_REASON_NONE)
        return ipop_reason_str(st->reason);
    return r ? ipop_reason_str(r->reason) : NULL;
}

/* "P,P,..." as strings, without the ",..." that says the list was cut. */
static void routes_json(JsonBuilder *b, const char *list)
{
    g_auto(GStrv) parts = g_strsplit(list, ",", -1);

    for (size_t i = 0; parts[i]; i++)
        if (parts[i][0] && strcmp(parts[i], "..."))
            add_str_value(b, parts[i]);
}

static void json_link(JsonBuilder *b, const struct net *n, const char *network, const ipop_link_stats_t *st)
{
    const struct refusal *r;
    const char *why = link_why(n, st, &r);

    json_builder_begin_object(b);
    if (network)
        add_str(b, "network", network);
    add_str(b, "peer_id", st->peer_id);
    add_opt_str(b, "address", st->address);
    /* the member's name (its option "name"), and a SocialVPN friend's JID */
    add_opt_str(b, "name", st->peer_name);
    add_opt_str(b, "jid", st->name);
    add_str(b, "state", ipop_link_state_str(st->state));
    add_str(b, "reason", ipop_reason_str(st->reason));
    /* not connected: why (the reason, else the peer's last refusal) */
    add_str(b, "why", why);
    json_builder_set_member_name(b, "refused");
    if (r) {
        json_builder_begin_object(b);
        add_str(b, "reason", ipop_reason_str(r->reason));
        add_uint(b, "count", r->count);
        add_uint(b, "ago_s", (uint64_t)(now_ms() - r->last_ms) / 1000);
        json_builder_end_object(b);
    } else {
        json_builder_add_null_value(b);
    }
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
    /* subnet routes taken from the peer (accept-routes), as far as the text holds them */
    add_uint(b, "routes", st->routes);
    json_builder_set_member_name(b, "route_list");
    json_builder_begin_array(b);
    routes_json(b, st->route_list);
    json_builder_end_array(b);
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

/* The node's addresses: those configured, then (once running) those the
 * library took by itself (group.subnet, a certificate's), marked so. */
static GPtrArray *own_addresses(struct net *n, GPtrArray **automatic)
{
    GPtrArray *all = g_ptr_array_new_with_free_func(g_free);
    static const int families[] = {AF_INET, AF_INET6};

    *automatic = g_ptr_array_new_with_free_func(g_free);
    for (size_t j = 0; j < n->addresses->len; j++)
        g_ptr_array_add(all, g_strdup(g_ptr_array_index(n->addresses, j)));
    for (size_t f = 0; n->started && f < G_N_ELEMENTS(families); f++) {
        char buf[64];
        bool known = false;

        if (ipop_network_get_address(n->net, families[f], buf, sizeof(buf)) < 0)
            continue;
        for (size_t j = 0; j < all->len; j++)
            known = known || strcmp(g_ptr_array_index(all, j), buf) == 0;
        if (!known) {
            g_ptr_array_add(all, g_strdup(buf));
            g_ptr_array_add(*automatic, g_strdup(buf));
        }
    }
    return all;
}

static bool in_array(GPtrArray *a, const char *s)
{
    for (size_t j = 0; j < a->len; j++)
        if (strcmp(g_ptr_array_index(a, j), s) == 0)
            return true;
    return false;
}

/* The built-in signalling's state; false when the network has none. */
static bool signal_status(struct net *n, ipop_signal_status_t *ss)
{
    *ss = (ipop_signal_status_t){.size = sizeof(*ss)};
    return n->overlay != OVERLAY_NONE && n->started && ipop_network_get_signal_status(n->net, ss) == 0 &&
           ss->state != IPOP_SIGNAL_NONE;
}

static void signal_json(JsonBuilder *b, struct net *n)
{
    ipop_signal_status_t ss;

    json_builder_set_member_name(b, "signalling");
    if (!signal_status(n, &ss)) {
        json_builder_add_null_value(b);
        return;
    }
    json_builder_begin_object(b);
    add_str(b, "transport", "xmpp");
    add_str(b, "state", ipop_signal_state_str(ss.state));
    add_str(b, "reason", ipop_reason_str(ss.reason));
    add_opt_str(b, "detail", ss.detail);
    add_opt_str(b, "condition", ss.condition);
    add_opt_str(b, "fingerprint", ss.fingerprint);
    add_uint(b, "since_s", ss.since_ms / 1000);
    add_uint(b, "retry_in_s", (ss.retry_ms + 999) / 1000);
    add_uint(b, "failures", ss.failures);
    json_builder_end_object(b);
}

static int abbrev_len(GPtrArray *ids, const char *id);

/* Peers refused that have no link: why nothing comes up with them. */
static bool has_link(const struct net *n, const char *peer_id)
{
    for (size_t j = 0; j < n->links->len; j++)
        if (g_strcmp0(ipop_link_get_peer_id(g_ptr_array_index(n->links, j)), peer_id) == 0)
            return true;
    return false;
}

static void refused_json(JsonBuilder *b, const struct net *n)
{
    GHashTableIter it;
    gpointer key, value;

    json_builder_set_member_name(b, "refused_peers");
    json_builder_begin_array(b);
    g_hash_table_iter_init(&it, n->refusals);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        const struct refusal *r = value;
        if (has_link(n, key))
            continue; /* told with its link */
        json_builder_begin_object(b);
        add_str(b, "peer_id", key);
        add_str(b, "reason", ipop_reason_str(r->reason));
        add_uint(b, "count", r->count);
        add_uint(b, "ago_s", (uint64_t)(now_ms() - r->last_ms) / 1000);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

#define REFUSED_LINES 8

static void refused_text(GString *s, const struct net *n, GPtrArray *ids)
{
    GHashTableIter it;
    gpointer key, value;
    unsigned shown = 0, more = 0;

    g_hash_table_iter_init(&it, n->refusals);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        const struct refusal *r = value;
        if (has_link(n, key))
            continue;
        if (shown++ >= REFUSED_LINES) {
            more++;
            continue;
        }
        g_string_append_printf(s, "  refused:   %.*s: %s (%llu times, last %lld s ago)\n",
                               abbrev_len(ids, key), (const char *)key, ipop_reason_str(r->reason),
                               (unsigned long long)r->count, (long long)(now_ms() - r->last_ms) / 1000);
    }
    if (more)
        g_string_append_printf(s, "  refused:   and %u more peers (ipopctl status --json lists them)\n", more);
}

/* The DNS server of the members' names (option dns): null when off. */
static void dns_json(JsonBuilder *b, const struct net *n)
{
    const struct dns_counters *c = &n->dns_count;

    json_builder_set_member_name(b, "dns");
    if (!n->dns) {
        json_builder_add_null_value(b);
        return;
    }
    json_builder_begin_object(b);
    add_str(b, "suffix", n->dns_suffix);
    json_builder_set_member_name(b, "listening");
    json_builder_add_boolean_value(b, n->dns_sock[0] >= 0 || n->dns_sock[1] >= 0);
    add_uint(b, "queries", c->queries);
    add_uint(b, "answered", c->answered);
    add_uint(b, "nxdomain", c->nxdomain);
    add_uint(b, "refused", c->refused);
    add_uint(b, "errors", c->errors);
    add_uint(b, "malformed", c->malformed);
    add_uint(b, "send_failed", c->send_failed);
    json_builder_end_object(b);
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
    {
        GPtrArray *automatic, *all = own_addresses(n, &automatic);

        /* every address the node has; those it took by itself again apart */
        json_builder_set_member_name(b, "addresses");
        json_builder_begin_array(b);
        for (size_t j = 0; j < all->len; j++)
            add_str_value(b, g_ptr_array_index(all, j));
        json_builder_end_array(b);
        json_builder_set_member_name(b, "automatic_addresses");
        json_builder_begin_array(b);
        for (size_t j = 0; j < automatic->len; j++)
            add_str_value(b, g_ptr_array_index(automatic, j));
        json_builder_end_array(b);
        g_ptr_array_unref(all);
        g_ptr_array_unref(automatic);
    }
    if (n->overlay == OVERLAY_SOCIAL) {
        add_str(b, "state_file", n->state_file);
        pending_json(b, n);
    }
    signal_json(b, n);
    refused_json(b, n);
    add_uint(b, "signal_refused", ns.signal_refused);
    add_uint(b, "no_route", ns.no_route);
    add_uint(b, "broadcast_packets", ns.broadcast_packets);
    add_uint(b, "broadcast_dropped", ns.broadcast_dropped);
    add_uint(b, "too_big", ns.too_big);
    add_uint(b, "too_big_answered", ns.too_big_answered);
    add_uint(b, "routes", ns.routes);
    add_uint(b, "routes_refused", ns.routes_refused);
    add_uint(b, "relayed_packets", ns.relayed_packets);
    add_uint(b, "relay_drops", ns.relay_drops);
    dns_json(b, n);
    json_builder_set_member_name(b, "links");
    json_builder_begin_array(b);
    for (size_t j = 0; j < n->links->len; j++) {
        ipop_link_stats_t st;
        if (link_stats(n, j, &st))
            json_link(b, n, NULL, &st);
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

void control_status_json(GString *s)
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

void peers_json(GString *s)
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
                json_link(b, n, n->name, &st);
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

/* Every node id ipopd knows (own and peers', all networks): peer ids are
 * shown by their shortest unambiguous prefix among them, as git does. */
static GPtrArray *known_ids(void)
{
    GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);

    for (size_t i = 0; i < nets->len; i++) {
        struct net *n = net_at(i);
        if (n->own_id[0])
            g_ptr_array_add(ids, g_strdup(n->own_id));
        for (size_t j = 0; j < n->links->len; j++) {
            const char *id = ipop_link_get_peer_id(g_ptr_array_index(n->links, j));
            if (id)
                g_ptr_array_add(ids, g_strdup(id));
        }
    }
    return ids;
}

#define ABBREV_MIN 8

/* The shortest prefix of `id` (at least ABBREV_MIN) no other id shares. */
static int abbrev_len(GPtrArray *ids, const char *id)
{
    size_t len = ABBREV_MIN;

    for (size_t j = 0; j < ids->len; j++) {
        const char *other = g_ptr_array_index(ids, j);
        size_t c = 0;
        if (strcmp(other, id) == 0)
            continue;
        while (id[c] && id[c] == other[c])
            c++;
        len = MAX(len, c + 1);
    }
    return (int)MIN(len, strlen(id));
}

/* One line per link; the name last, as it has no fixed width. */
#define LINK_HEADER "%-12s %-15s %-10s %-15s %9s %12s %12s  %-18s %s\n"

static void link_header(GString *s, const char *prefix)
{
    g_string_append(s, prefix);
    g_string_append_printf(s, LINK_HEADER, "PEER", "ADDRESS", "STATE", "PATH", "RTT", "BYTES IN", "BYTES OUT",
                           "WHY", "NAME");
}

static void link_text(GString *s, const char *prefix, const struct net *n, GPtrArray *ids,
                      const ipop_link_stats_t *st)
{
    char rtt[32], path[32], peer[IPOP_NODE_ID_MAX + 1], name[sizeof(st->peer_name) + sizeof(st->name) + 4];
    const char *why = link_why(n, st, NULL);

    rtt_text(rtt, sizeof(rtt), st->rtt_us);
    /* GroupVPN: a peer reached through another member while the direct
     * link is down shows as "relayed", with the member's id. */
    if (st->relay_id[0])
        snprintf(path, sizeof(path), "member:%.8s", st->relay_id);
    else
        snprintf(path, sizeof(path), "%s%s%s", st->state == IPOP_LINK_CONNECTED ? ipop_path_type_str(st->local_path) : "-",
                 st->state == IPOP_LINK_CONNECTED && mapping_str(st->port_mapping) ? "+" : "",
                 st->state == IPOP_LINK_CONNECTED && mapping_str(st->port_mapping) ? mapping_str(st->port_mapping) : "");
    snprintf(peer, sizeof(peer), "%.*s", abbrev_len(ids, st->peer_id), st->peer_id);
    /* the member's name, then a SocialVPN friend's JID */
    snprintf(name, sizeof(name), "%s%s%s%s", st->peer_name[0] ? st->peer_name : st->name[0] ? "" : "-",
             st->peer_name[0] && st->name[0] ? " (" : "", st->name, st->peer_name[0] && st->name[0] ? ")" : "");
    g_string_append_printf(s, "%s%-12s %-15s %-10s %-15s %9s %12llu %12llu  %-18s %s\n", prefix, peer,
                           st->address[0] ? st->address : "-",
                           st->relay_id[0] ? "relayed" : ipop_link_state_str(st->state), path, rtt,
                           (unsigned long long)st->rx_bytes, (unsigned long long)st->tx_bytes,
                           why ? why : "-", name);
    if (st->routes)
        g_string_append_printf(s, "%s  routes: %s\n", prefix, st->route_list);
}

static void duration_text(char *buf, size_t size, uint64_t s)
{
    if (s < 120)
        snprintf(buf, size, "%llu s", (unsigned long long)s);
    else if (s < 2 * 3600)
        snprintf(buf, size, "%llu min", (unsigned long long)(s / 60));
    else
        snprintf(buf, size, "%llu h", (unsigned long long)(s / 3600));
}

/* "xmpp: authentication failed (not-authorized) for 40 s, retrying in 30 s" */
static void signal_text(GString *s, struct net *n)
{
    ipop_signal_status_t ss;
    char since[32], retry[32];

    if (!signal_status(n, &ss))
        return;
    duration_text(since, sizeof(since), ss.since_ms / 1000);
    duration_text(retry, sizeof(retry), (ss.retry_ms + 999) / 1000);
    g_string_append_printf(s, "  xmpp:      %s for %s", ss.state == IPOP_SIGNAL_UP ? "up" : ss.state ==
                           IPOP_SIGNAL_CONNECTING ? "connecting" : ss.detail, since);
    if (ss.state > IPOP_SIGNAL_UP)
        g_string_append_printf(s, ", %s%s", ss.retry_ms ? "retrying in " : "retrying now", ss.retry_ms ? retry : "");
    g_string_append_c(s, '\n');
}

static const char *overlay_text(enum overlay o)
{
    return o == OVERLAY_GROUP ? "group (XMPP)" : o == OVERLAY_SOCIAL ? "social (XMPP)" : "none (UDP signalling)";
}

void status_text(GString *s)
{
    g_autoptr(GPtrArray) ids = known_ids();

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
        signal_text(s, n);
        {
            GPtrArray *automatic, *all = own_addresses(n, &automatic);

            g_string_append(s, "  addresses:");
            for (size_t j = 0; j < all->len; j++)
                g_string_append_printf(s, " %s%s", (char *)g_ptr_array_index(all, j),
                                       in_array(automatic, g_ptr_array_index(all, j)) ? " (automatic)" : "");
            g_string_append_printf(s, "%s\n", all->len ? "" : " -");
            g_ptr_array_unref(all);
            g_ptr_array_unref(automatic);
        }
        if (n->overlay == OVERLAY_SOCIAL)
            g_string_append_printf(s, "  friends:   pinned in %s\n", n->state_file ? n->state_file : "memory only");
        g_string_append_printf(s, "  links:     %u, %u connected; %llu signalling messages refused\n", ns.links,
                               ns.links_connected, (unsigned long long)ns.signal_refused);
        if (ns.relayed_packets || ns.relay_drops)
            g_string_append_printf(s, "  relayed:   %llu packets between other members (%llu dropped)\n",
                                   (unsigned long long)ns.relayed_packets, (unsigned long long)ns.relay_drops);
        if (n->dns)
            g_string_append_printf(s, "  dns:       NAME.%s%s; %llu queries, %llu malformed\n", n->dns_suffix,
                                   n->dns_sock[0] >= 0 || n->dns_sock[1] >= 0 ? " on the overlay addresses, port 53"
                                                                              : " not served (see the log)",
                                   (unsigned long long)n->dns_count.queries,
                                   (unsigned long long)n->dns_count.malformed);
        refused_text(s, n, ids);
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
                link_text(s, "  ", n, ids, &st);
        }
    }
}

void peers_text(GString *s)
{
    g_autoptr(GPtrArray) ids = known_ids();

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
            link_text(s, prefix, n, ids, &st);
        }
    }
}
