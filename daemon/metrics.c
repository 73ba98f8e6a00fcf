/* SPDX-License-Identifier: MIT */
/* ipopd's counters in the Prometheus text exposition format (version
 * 0.0.4): what ipop_network_get_stats() and ipop_link_get_stats() give, the
 * links counted by state, and the refusals counted by reason from the
 * library's events.  Served on /metrics (http.c) and by `ipopctl metrics`
 * (control.c).  Main thread, but metrics_event(), which runs in the
 * library's threads. */
#include <string.h>

#include "ipopd.h"

/* What one scrape reads of a network, read once so that every family
 * shows the same moment. */
struct net_snap {
    struct net *n;
    ipop_network_stats_t ns;
    GArray *links; /* ipop_link_stats_t, one per peer */
};

/* Library thread: each refusal the library reports is counted by its
 * reason (the network's total, signal_refused, also counts the few it
 * does not report). */
void metrics_event(struct net *n, const ipop_event_t *ev)
{
    unsigned r;

    if (ev->type != IPOP_EVENT_PEER_REFUSED && ev->type != IPOP_EVENT_BAD_MESSAGE)
        return;
    r = (unsigned)ev->reason < REFUSED_REASONS ? (unsigned)ev->reason : 0;
    __atomic_fetch_add(&n->refused[r], 1, __ATOMIC_RELAXED);
}

/* A label value: UTF-8 (bad bytes become U+FFFD), with backslash, double
 * quote and newline escaped as the format says.  Names and JIDs come from
 * the network. */
static void label_value(GString *s, const char *v)
{
    g_autofree char *valid = g_utf8_make_valid(v ? v : "", -1);

    for (const char *p = valid; *p; p++) {
        if (*p == '\\')
            g_string_append(s, "\\\\");
        else if (*p == '"')
            g_string_append(s, "\\\"");
        else if (*p == '\n')
            g_string_append(s, "\\n");
        else
            g_string_append_c(s, *p);
    }
}

static void family(GString *s, const char *name, const char *type, const char *help)
{
    g_string_append_printf(s, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{network="...",peer="..."[,k="v"]...} value.  extra: NULL-ended
 * pairs of label names and values. */
static void sample(GString *s, const char *name, const struct net *n, const char *peer, const char *const *extra,
                   const char *value)
{
    g_string_append_printf(s, "%s{network=\"", name);
    label_value(s, n->name);
    g_string_append_c(s, '"');
    if (peer) {
        g_string_append(s, ",peer=\"");
        label_value(s, peer);
        g_string_append_c(s, '"');
    }
    for (size_t i = 0; extra && extra[i]; i += 2) {
        g_string_append_printf(s, ",%s=\"", extra[i]);
        label_value(s, extra[i + 1]);
        g_string_append_c(s, '"');
    }
    g_string_append_printf(s, "} %s\n", value);
}

static void sample_u64(GString *s, const char *name, const struct net *n, const char *peer,
                       const char *const *extra, uint64_t v)
{
    char buf[32];

    g_snprintf(buf, sizeof(buf), "%" G_GUINT64_FORMAT, v);
    sample(s, name, n, peer, extra, buf);
}

/* The link's path as a person reads it: direct (host, srflx, prflx),
 * relay (TURN), member (another member of the group), or none. */
static const char *path_of(const ipop_link_stats_t *st)
{
    if (st->relay_id[0])
        return "member";
    if (st->state != IPOP_LINK_CONNECTED)
        return "none";
    return st->local_path == IPOP_PATH_RELAY || st->remote_path == IPOP_PATH_RELAY ? "relay" : "direct";
}

/* The signalling transport of a network: ipopd's UDP socket, or the
 * library's XMPP session (ipop_network_get_signal_status()). */
const char *signal_transport(const struct net *n)
{
    return n->overlay == OVERLAY_NONE ? "udp" : "xmpp";
}

const char *signal_state(const struct net *n)
{
    if (!n->started)
        return "down";
    if (n->overlay == OVERLAY_NONE)
        return n->sock >= 0 ? "up" : "down";
    {
        ipop_signal_status_t ss = {.size = sizeof(ss)};

        if (ipop_network_get_signal_status(n->net, &ss) < 0)
            return "unknown";
        return ipop_signal_state_str(ss.state);
    }
}

static void snap_take(struct net_snap *sn, struct net *n)
{
    sn->n = n;
    sn->ns = (ipop_network_stats_t){.size = sizeof(sn->ns)};
    if (n->started)
        ipop_network_get_stats(n->net, &sn->ns);
    sn->links = g_array_new(FALSE, TRUE, sizeof(ipop_link_stats_t));
    for (size_t i = 0; i < n->links->len; i++) {
        ipop_link_stats_t st = {.size = sizeof(st)};
        bool seen = false;

        if (ipop_link_get_stats(g_ptr_array_index(n->links, i), &st) < 0)
            continue;
        /* One series per peer: a second link object to the same peer
         * (never seen, but possible) would make a duplicate. */
        for (size_t j = 0; j < sn->links->len && !seen; j++)
            seen = strcmp(g_array_index(sn->links, ipop_link_stats_t, j).peer_id, st.peer_id) == 0;
        if (!seen)
            g_array_append_val(sn->links, st);
    }
}

#define LINKS(sn, st)                                                                                       \
    for (size_t _k = 0; _k < (sn)->links->len && ((st) = &g_array_index((sn)->links, ipop_link_stats_t, _k)); \
         _k++)

static void network_families(GString *s, const struct net_snap *snaps, size_t count)
{
    static const ipop_link_state_t states[] = {IPOP_LINK_NEW, IPOP_LINK_CONNECTING, IPOP_LINK_CONNECTED,
                                               IPOP_LINK_FAILED, IPOP_LINK_CLOSED};

    family(s, "ipop_network_info", "gauge", "A network of this ipopd: its node id, mode, overlay and device.");
    for (size_t i = 0; i < count; i++) {
        const struct net *n = snaps[i].n;
        const char *dev = n->started ? ipop_network_get_device(n->net) : NULL;
        const char *extra[] = {"node_id", n->own_id, "mode", n->mode ? n->mode : "none",
                               "overlay", n->overlay == OVERLAY_GROUP ? "group" :
                                          n->overlay == OVERLAY_SOCIAL ? "social" : "none",
                               "device", dev ? dev : "", NULL};
        sample(s, "ipop_network_info", n, NULL, extra, "1");
    }
    family(s, "ipop_network_up", "gauge", "1 when the network runs, 0 when it did not start.");
    for (size_t i = 0; i < count; i++)
        sample(s, "ipop_network_up", snaps[i].n, NULL, NULL, snaps[i].n->started ? "1" : "0");
    family(s, "ipop_signalling_info", "gauge",
           "The signalling transport of the network (udp: ipopd's socket; xmpp: the library's session) and its "
           "state (udp: up or down; xmpp: as ipop_signal_state_str() names it, e.g. up, auth-failed, unreachable).");
    for (size_t i = 0; i < count; i++) {
        const char *extra[] = {"transport", signal_transport(snaps[i].n), "state", signal_state(snaps[i].n), NULL};
        sample(s, "ipop_signalling_info", snaps[i].n, NULL, extra, "1");
    }
    family(s, "ipop_links", "gauge", "Links of the network by state.");
    for (size_t i = 0; i < count; i++) {
        const ipop_link_stats_t *st;
        uint64_t by[G_N_ELEMENTS(states)] = {0};

        LINKS(&snaps[i], st) {
            if ((unsigned)st->state < G_N_ELEMENTS(by))
                by[st->state]++;
        }
        for (size_t j = 0; j < G_N_ELEMENTS(states); j++) {
            const char *extra[] = {"state", ipop_link_state_str(states[j]), NULL};
            sample_u64(s, "ipop_links", snaps[i].n, NULL, extra, by[j]);
        }
    }
    family(s, "ipop_links_through_member", "gauge",
           "GroupVPN: peers reached through another member while the direct link is down.");
    for (size_t i = 0; i < count; i++) {
        const ipop_link_stats_t *st;
        uint64_t member = 0;

        LINKS(&snaps[i], st)
            member += st->relay_id[0] != 0;
        sample_u64(s, "ipop_links_through_member", snaps[i].n, NULL, NULL, member);
    }
}

static void refusal_families(GString *s, const struct net_snap *snaps, size_t count)
{
    family(s, "ipop_signal_refused_total", "counter",
           "Signalling messages refused: malformed, unauthenticated, replayed, not allowed.");
    for (size_t i = 0; i < count; i++)
        sample_u64(s, "ipop_signal_refused_total", snaps[i].n, NULL, NULL, snaps[i].ns.signal_refused);
    family(s, "ipop_refused_total", "counter",
           "Peers and signalling messages refused, by the reason of the library's event.");
    for (size_t i = 0; i < count; i++) {
        for (unsigned r = 0; r < REFUSED_REASONS; r++) {
            uint64_t v = __atomic_load_n(&snaps[i].n->refused[r], __ATOMIC_RELAXED);
            const char *extra[] = {"reason", r ? ipop_reason_str((ipop_reason_t)r) : "other", NULL};

            /* Reasons that never happened stay out: there are many. */
            if (v)
                sample_u64(s, "ipop_refused_total", snaps[i].n, NULL, extra, v);
        }
    }
}

static void drop_families(GString *s, const struct net_snap *snaps, size_t count)
{
    family(s, "ipop_dropped_packets_total", "counter",
           "Packets the network dropped, by reason: no-route (no link to the destination), relay-no-link "
           "(a member's packet to relay, no link onwards), relay-forged (a relayed packet not from the member "
           "relaying for its origin), tap-type, tap-source, tap-mac (TAP frames refused), broadcast-rate (broadcast "
           "and multicast packets over broadcast.rate).");
    for (size_t i = 0; i < count; i++) {
        const ipop_network_stats_t *ns = &snaps[i].ns;
        const struct {
            const char *reason;
            uint64_t v;
        } drops[] = {
            {"no-route", ns->no_route},         {"relay-no-link", ns->relay_drops},
            {"relay-forged", ns->relay_refused}, {"tap-type", ns->tap_refused_type},
            {"tap-source", ns->tap_refused_source}, {"tap-mac", ns->tap_refused_mac},
            {"broadcast-rate", ns->broadcast_dropped}, {"too-big", ns->too_big},
        };
        for (size_t j = 0; j < G_N_ELEMENTS(drops); j++) {
            const char *extra[] = {"reason", drops[j].reason, NULL};
            sample_u64(s, "ipop_dropped_packets_total", snaps[i].n, NULL, extra, drops[j].v);
        }
    }
    family(s, "ipop_relayed_packets_total", "counter", "GroupVPN: packets this node relayed between two other members.");
    for (size_t i = 0; i < count; i++)
        sample_u64(s, "ipop_relayed_packets_total", snaps[i].n, NULL, NULL, snaps[i].ns.relayed_packets);
    family(s, "ipop_broadcast_packets_total", "counter",
           "Broadcast and multicast packets from the host sent to every member (modes tun and none).");
    for (size_t i = 0; i < count; i++)
        sample_u64(s, "ipop_broadcast_packets_total", snaps[i].n, NULL, NULL, snaps[i].ns.broadcast_packets);
    family(s, "ipop_candidates_dropped_total", "counter",
           "Remote ICE candidates dropped: more came before the offer or answer than a session holds.");
    for (size_t i = 0; i < count; i++)
        sample_u64(s, "ipop_candidates_dropped_total", snaps[i].n, NULL, NULL, snaps[i].ns.candidates_dropped);
}

/* The DNS server of the members' names (option dns, dns-server.c): its
 * counters change in the main thread, which also runs this. */
static void dns_families(GString *s, const struct net_snap *snaps, size_t count)
{
    family(s, "ipop_dns_queries_total", "counter",
           "Datagrams to the DNS server of the members' names (option dns), by result: answered (an address or "
           "no data), nxdomain, refused (outside dns.suffix), error, malformed (dropped, not answered).");
    for (size_t i = 0; i < count; i++) {
        const struct dns_counters *c = &snaps[i].n->dns_count;
        const struct {
            const char *result;
            uint64_t v;
        } results[] = {
            {"answered", c->answered}, {"nxdomain", c->nxdomain}, {"refused", c->refused},
            {"error", c->errors},      {"malformed", c->malformed},
        };
        if (!snaps[i].n->dns)
            continue;
        for (size_t j = 0; j < G_N_ELEMENTS(results); j++) {
            const char *extra[] = {"result", results[j].result, NULL};
            sample_u64(s, "ipop_dns_queries_total", snaps[i].n, NULL, extra, results[j].v);
        }
    }
}

static void link_info(GString *s, const struct net_snap *snaps, size_t count)
{
    family(s, "ipop_link_info", "gauge",
           "A link: its state, why it is not up, its path (direct, relay: TURN, member: through the member named "
           "by relay, none), the candidate types, the peer's address and name.");
    for (size_t i = 0; i < count; i++) {
        const ipop_link_stats_t *st;

        LINKS(&snaps[i], st) {
            const char *extra[] = {"state", ipop_link_state_str(st->state), "reason", ipop_reason_str(st->reason),
                                   "path", path_of(st), "local_candidate", ipop_path_type_str(st->local_path),
                                   "remote_candidate", ipop_path_type_str(st->remote_path), "relay", st->relay_id,
                                   "address", st->address, "name", st->name, NULL};
            sample(s, "ipop_link_info", snaps[i].n, st->peer_id, extra, "1");
        }
    }
    family(s, "ipop_link_up", "gauge", "1 when the link is connected (or reached through a member), else 0.");
    for (size_t i = 0; i < count; i++) {
        const ipop_link_stats_t *st;

        LINKS(&snaps[i], st)
            sample(s, "ipop_link_up", snaps[i].n, st->peer_id, NULL,
                   st->state == IPOP_LINK_CONNECTED || st->relay_id[0] ? "1" : "0");
    }
    family(s, "ipop_link_rtt_seconds", "gauge", "Smoothed round-trip time of the link; absent while unknown.");
    for (size_t i = 0; i < count; i++) {
        const ipop_link_stats_t *st;

        LINKS(&snaps[i], st) {
            char v[32];

            if (!st->rtt_us)
                continue;
            g_snprintf(v, sizeof(v), "%.6f", st->rtt_us / 1e6);
            sample(s, "ipop_link_rtt_seconds", snaps[i].n, st->peer_id, NULL, v);
        }
    }
}

/* A per-link counter in both directions. */
static void link_counter(GString *s, const struct net_snap *snaps, size_t count, const char *name,
                         const char *help, size_t rx_off, size_t tx_off)
{
    family(s, name, "counter", help);
    for (size_t i = 0; i < count; i++) {
        const ipop_link_stats_t *st;

        LINKS(&snaps[i], st) {
            const char *rx[] = {"direction", "rx", NULL}, *tx[] = {"direction", "tx", NULL};

            sample_u64(s, name, snaps[i].n, st->peer_id, rx, *(const uint64_t *)((const char *)st + rx_off));
            sample_u64(s, name, snaps[i].n, st->peer_id, tx, *(const uint64_t *)((const char *)st + tx_off));
        }
    }
}

static void link_families(GString *s, const struct net_snap *snaps, size_t count)
{
    link_info(s, snaps, count);
    link_counter(s, snaps, count, "ipop_link_packets_total", "Packets received and delivered (rx) or sent (tx).",
                 offsetof(ipop_link_stats_t, rx_packets), offsetof(ipop_link_stats_t, tx_packets));
    link_counter(s, snaps, count, "ipop_link_bytes_total", "Bytes received and delivered (rx) or sent (tx).",
                 offsetof(ipop_link_stats_t, rx_bytes), offsetof(ipop_link_stats_t, tx_bytes));
    link_counter(s, snaps, count, "ipop_link_dropped_packets_total",
                 "Packets dropped: received (rx: bad frame, spoofed source) or not sent (tx: too big, link not up, "
                 "send error).",
                 offsetof(ipop_link_stats_t, rx_drops), offsetof(ipop_link_stats_t, tx_drops));
    family(s, "ipop_link_relayed_packets_total", "counter",
           "GroupVPN: packets from this peer that this node relayed to another member (ok) or could not "
           "(dropped: no link to the destination).");
    for (size_t i = 0; i < count; i++) {
        const ipop_link_stats_t *st;

        LINKS(&snaps[i], st) {
            sample_u64(s, "ipop_link_relayed_packets_total", snaps[i].n, st->peer_id,
                       (const char *const[]){"result", "ok", NULL}, st->relayed_packets);
            sample_u64(s, "ipop_link_relayed_packets_total", snaps[i].n, st->peer_id,
                       (const char *const[]){"result", "dropped", NULL}, st->relay_drops);
        }
    }
}

void metrics_text(GString *s)
{
    g_autofree struct net_snap *snaps = g_new0(struct net_snap, nets->len + 1);
    size_t count = nets->len;

    for (size_t i = 0; i < count; i++)
        snap_take(&snaps[i], net_at(i));
    family(s, "ipop_build_info", "gauge", "The versions of ipopd and of the libipop it runs on.");
    g_string_append(s, "ipop_build_info{ipopd=\"");
    label_value(s, IPOP_VERSION);
    g_string_append(s, "\",libipop=\"");
    label_value(s, ipop_version());
    g_string_append(s, "\"} 1\n");
    network_families(s, snaps, count);
    refusal_families(s, snaps, count);
    drop_families(s, snaps, count);
    dns_families(s, snaps, count);
    link_families(s, snaps, count);
    for (size_t i = 0; i < count; i++)
        g_array_free(snaps[i].links, TRUE);
}
