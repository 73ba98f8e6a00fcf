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

static void json_link(JsonBuilder *b, const struct net *n, const char *network, const ipop_link_stats_t *st)
{
    const struct refusal *r;
    const char *why = link_why(n, st, &r);

    json_builder_begin_object(b);
    if (network)
        add_str(b, "network", network);
    add_str(b, "peer_id", st->peer_id);
    add_opt_str(b, "address", st->address);
    add_opt_str(b, "name", st->name);
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
    add_uint(b, "relayed_packets", ns.relayed_packets);
    add_uint(b, "relay_drops", ns.relay_drops);
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
    char rtt[32], path[32], peer[IPOP_NODE_ID_MAX + 1];
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
    g_string_append_printf(s, "%s%-12s %-15s %-10s %-15s %9s %12llu %12llu  %-18s %s\n", prefix, peer,
                           st->address[0] ? st->address : "-",
                           st->relay_id[0] ? "relayed" : ipop_link_state_str(st->state), path, rtt,
                           (unsigned long long)st->rx_bytes, (unsigned long long)st->tx_bytes,
                           why ? why : "-", st->name[0] ? st->name : "-");
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

static void status_text(GString *s)
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

static void peers_text(GString *s)
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

/* The SocialVPN network a friend request is for: the one named, else the
 * only one; NULL with the error in out. */
static struct net *friend_net(const char *network, GString *out)
{
    struct net *found = NULL;

    for (size_t i = 0; i < nets->len; i++) {
        struct net *n = net_at(i);
        if (network ? strcmp(n->name, network) != 0 : n->overlay != OVERLAY_SOCIAL)
            continue;
        if (found) {
            g_string_append(out, "error more than one SocialVPN network: name one (--network)\n");
            return NULL;
        }
        found = n;
    }
    if (!found && network)
        g_string_append_printf(out, "error no network %s\n", network);
    else if (!found)
        g_string_append(out, "error no SocialVPN network (overlay = social) here\n");
    else if (found->overlay != OVERLAY_SOCIAL)
        g_string_append_printf(out, "error %s: not a SocialVPN network\n", found->name);
    return found && found->overlay == OVERLAY_SOCIAL ? found : NULL;
}

static void friend_list(struct net *n, GString *out)
{
    g_autoptr(GString) body = g_string_new(NULL);
    ipop_friend_t f = { .size = sizeof(f) };
    int r = 0;

    for (size_t i = 0; n->started && (r = ipop_network_get_friend(n->net, i, &f)) == 0; i++) {
        const char *state = f.request ? "asks you (friend accept)" : f.asked ? "asked, no answer yet"
                            : !strcmp(f.subscription, "both") ? (f.online ? "friend, online" : "friend, offline")
                                                              : "no mutual subscription";
        g_string_append_printf(body, "%-32s %-4s %-24s %.12s %s\n", f.jid, f.subscription, state,
                               f.peer_id[0] ? f.peer_id : "-", f.address[0] ? f.address : "-");
        f.size = sizeof(f);
    }
    if (!n->started || (r < 0 && r != -ENOENT)) {
        g_string_append_printf(out, "error %s: %s\n", n->name, ipop_strerror(n->started ? r : -ENOTCONN));
        return;
    }
    g_string_append(out, "ok\n");
    g_string_append(out, body->str);
}

/* "friend add|remove|accept JID [NETWORK]", "friend list [NETWORK]":
 * ipop_network_friend_*() on the SocialVPN network named, else the only one. */
static void friend_request(const struct control_request *req, GString *out)
{
    struct net *n = friend_net(req->arg2, out);
    int r;

    if (!n)
        return;
    if (!strcmp(req->verb, "list")) {
        friend_list(n, out);
        return;
    }
    if (!n->started)
        r = -ENOTCONN;
    else if (!strcmp(req->verb, "add"))
        r = ipop_network_friend_add(n->net, req->arg);
    else if (!strcmp(req->verb, "accept"))
        r = ipop_network_friend_accept(n->net, req->arg);
    else
        r = ipop_network_friend_remove(n->net, req->arg);
    if (r < 0) {
        g_string_append_printf(out, "error %s: friend %s %s: %s%s\n", n->name, req->verb, req->arg,
                               ipop_strerror(r), r == -ENOENT && !strcmp(req->verb, "accept") ?
                               " (no request from it waits: see ipopctl friend list)" : r == -ENOTCONN ?
                               " (the XMPP session is not up)" : "");
        return;
    }
    log_net(n, "friend %s: %s (ipopctl)", req->arg, req->verb);
    g_string_append_printf(out, "ok\n%s: friend %s %s: done%s\n", n->name, req->verb, req->arg,
                           !strcmp(req->verb, "add") ? " (a request was sent; you are friends once it accepts)" : "");
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
 * "metrics", "accept JID [NETWORK]" or "network-changed [NETWORK]" (parse.c); the
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
    case CONTROL_FRIEND:
        friend_request(req, out);
        break;
    case CONTROL_STATUS:
        g_string_append(out, "ok\n");
        req->json ? control_status_json(out) : status_text(out);
        break;
    case CONTROL_PEERS:
        g_string_append(out, "ok\n");
        req->json ? peers_json(out) : peers_text(out);
        break;
    case CONTROL_METRICS:
        g_string_append(out, "ok\n");
        metrics_text(out);
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
