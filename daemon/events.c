/* SPDX-License-Identifier: MIT */
/* The library's events: logged in its threads, link events handed to the
 * main thread through a pipe (the networks' functions and their lists of
 * links and pending identities are the main thread's alone). */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ipopd.h"

/* What the event callback passes to the main thread: fits in PIPE_BUF, so
 * each write is atomic.  A link event, or (refused) a friend's identity
 * change. */
struct link_event {
    unsigned net_id;
    ipop_link_t *link;
    ipop_link_state_t state;
    ipop_reason_t reason;
    bool refused;
    char peer_id[IPOP_NODE_ID_MAX + 1];
    char detail[256];
};

static int event_pipe[2] = {-1, -1};

int events_open(void)
{
    return pipe2(event_pipe, O_CLOEXEC | O_NONBLOCK) < 0 ? -errno : 0;
}

void events_close(void)
{
    for (int i = 0; i < 2; i++) {
        if (event_pipe[i] >= 0)
            close(event_pipe[i]);
        event_pipe[i] = -1;
    }
}

int events_fd(void)
{
    return event_pipe[0];
}

/* Library thread: log, and pass link events to the main thread. */
void on_event(ipop_network_t *net, const ipop_event_t *ev, void *user_data)
{
    struct net *n = user_data;
    const char *peer = ev->peer_id ? ev->peer_id : "-";
    const char *detail = ev->detail ? ev->detail : "";
    const char *sep = detail[0] ? ": " : "";
    struct link_event le = {.net_id = n->id, .link = ev->link, .state = ev->state, .reason = ev->reason};

    (void)net;
    metrics_event(n, ev);
    switch (ev->type) {
    case IPOP_EVENT_LINK_STATE:
        /* The library logs state changes itself, at level info. */
        if (ev->reason != IPOP_REASON_NONE)
            debug_net(n, "link %.8s: %s (%s)%s%s", peer, ipop_link_state_str(ev->state),
                    ipop_reason_str(ev->reason), sep, detail);
        else
            debug_net(n, "link %.8s: %s%s%s", peer, ipop_link_state_str(ev->state), sep, detail);
        break;
    case IPOP_EVENT_PEER_REFUSED:
        /* The library has logged it already, with the details. */
        debug_net(n, "peer %.8s refused (%s)%s%s", peer, ipop_reason_str(ev->reason), sep, detail);
        /* Kept for ipopctl: why the peer's link is not up, and for an
         * identity change how to accept it. */
        le.refused = true;
        g_strlcpy(le.detail, detail, sizeof(le.detail));
        break;
    case IPOP_EVENT_DEVICE_ERROR:
        log_net(n, "error: device: %s%s%s", ipop_strerror(ev->error), sep, detail);
        return;
    case IPOP_EVENT_SIGNAL_STATE:
        /* The library has logged it (once per problem); ipopctl status shows it. */
        debug_net(n, "signalling: %s (%s)%s%s", ipop_signal_state_str(ev->signal_state),
                  ipop_reason_str(ev->reason), sep, detail);
        return;
    case IPOP_EVENT_BAD_MESSAGE:
        debug_net(n, "bad message from %.8s: %s%s%s", peer, ipop_strerror(ev->error), sep, detail);
        return;
    default:
        debug_net(n, "event %d%s%s", (int)ev->type, sep, detail);
        return;
    }
    if (!ev->peer_id || strlen(ev->peer_id) > IPOP_NODE_ID_MAX)
        return;
    strcpy(le.peer_id, ev->peer_id);
    /* A flood of refusals (counted by the library anyway) may fill the
     * pipe: lost quietly; a link event lost is worth a line. */
    if (write(event_pipe[1], &le, sizeof(le)) != (ssize_t)sizeof(le) && !le.refused)
        log_net(n, "warning: event for %.8s lost: %s", peer, strerror(errno));
}

static struct net *find_net_by_id(unsigned id)
{
    for (size_t i = 0; i < nets->len; i++)
        if (net_at(i)->id == id)
            return net_at(i);
    return NULL;
}

void remember_link(struct net *n, ipop_link_t *link)
{
    if (!link)
        return;
    for (size_t i = 0; i < n->links->len; i++)
        if (g_ptr_array_index(n->links, i) == link)
            return;
    g_ptr_array_add(n->links, link);
}

/* The library's text: "friend JID has a new node id ...".  NULL when it
 * does not read so. */
static char *jid_of_detail(const char *detail)
{
    const char *end;

    if (!g_str_has_prefix(detail, "friend ") || !(end = strchr(detail + 7, ' ')) || end == detail + 7)
        return NULL;
    return g_strndup(detail + 7, (size_t)(end - detail - 7));
}

/* Forgets the identity changes of a node id (it linked: accepted), or of
 * a JID (accepted through ipopctl). */
void pending_forget(struct net *n, const char *peer_id, const char *jid)
{
    for (size_t i = n->pending->len; i-- > 0;) {
        struct pending *pd = g_ptr_array_index(n->pending, i);
        if ((peer_id && strcmp(pd->peer_id, peer_id) == 0) || (jid && pd->jid && strcmp(pd->jid, jid) == 0))
            g_ptr_array_remove_index(n->pending, i);
    }
}

static void pending_add(struct net *n, const struct link_event *le)
{
    struct pending *pd = g_new0(struct pending, 1);

    pending_forget(n, le->peer_id, NULL);
    g_strlcpy(pd->peer_id, le->peer_id, sizeof(pd->peer_id));
    pd->detail = g_strdup(le->detail);
    pd->jid = jid_of_detail(le->detail);
    if (pd->jid)
        pending_forget(n, NULL, pd->jid); /* only the latest node id of a friend waits */
    if (n->pending->len >= PENDING_MAX)
        g_ptr_array_remove_index(n->pending, 0);
    g_ptr_array_add(n->pending, pd);
    log_net(n, "%s: to accept it, ipopctl accept %s --network %s", pd->jid ? pd->jid : le->peer_id,
            pd->jid ? pd->jid : "JID", n->name);
}

static void refusal_add(struct net *n, const struct link_event *le)
{
    struct refusal *r = g_hash_table_lookup(n->refusals, le->peer_id);

    if (!r) {
        if (g_hash_table_size(n->refusals) >= REFUSALS_MAX)
            return;
        r = g_new0(struct refusal, 1);
        g_hash_table_insert(n->refusals, g_strdup(le->peer_id), r);
    }
    r->reason = le->reason;
    r->count++;
    r->last_ms = now_ms();
}

static void handle_link_event(const struct link_event *le)
{
    /* A network freed by a reload leaves its last events behind: dropped. */
    struct net *n = find_net_by_id(le->net_id);

    if (!n)
        return;
    if (le->refused) {
        refusal_add(n, le);
        if (le->reason == IPOP_REASON_IDENTITY_CHANGED)
            pending_add(n, le);
        return;
    }
    remember_link(n, le->link);
    if (le->state == IPOP_LINK_CONNECTED) {
        pending_forget(n, le->peer_id, NULL);
        ipop_link_stats_t st = {.size = sizeof(st)};
        const char *path = "unknown";

        if (le->link && ipop_link_get_stats(le->link, &st) == 0)
            path = ipop_path_type_str(st.local_path);
        {
            /* "... (host), sb@example.org at 10.71.0.45" */
            g_autofree char *who = g_strdup_printf("%s%s%s%s", st.name[0] || st.address[0] ? ", " : "", st.name,
                                                   st.name[0] && st.address[0] ? " " : "",
                                                   st.address[0] ? "at " : "");
            log_net(NULL, "link to %.8s connected (%s)%s%s", le->peer_id, path, who, st.address);
        }
        return;
    }
    /* Our own close (stop, ipop_link_close) is not retried; a peer's
     * goodbye or any failure is. */
    if (le->state == IPOP_LINK_FAILED || (le->state == IPOP_LINK_CLOSED && le->reason == IPOP_REASON_PEER_CLOSED))
        schedule_reconnect(n, le->peer_id, RECONNECT_DELAY_MS);
}

void drain_events(void)
{
    struct link_event le;

    while (read(event_pipe[0], &le, sizeof(le)) == (ssize_t)sizeof(le))
        handle_link_event(&le);
}

void log_status(void)
{
    for (size_t i = 0; i < nets->len; i++) {
        struct net *n = net_at(i);

        for (size_t j = 0; j < n->links->len; j++) {
            ipop_link_stats_t st = {.size = sizeof(st)};

            if (ipop_link_get_stats(g_ptr_array_index(n->links, j), &st) < 0)
                continue;
            debug_net(n, "status %.8s: %s %s/%s rtt %u us, tx %llu pkts %llu B (%llu drops), "
                      "rx %llu pkts %llu B (%llu drops)", st.peer_id, ipop_link_state_str(st.state),
                      ipop_path_type_str(st.local_path), ipop_path_type_str(st.remote_path), st.rtt_us,
                      (unsigned long long)st.tx_packets, (unsigned long long)st.tx_bytes,
                      (unsigned long long)st.tx_drops, (unsigned long long)st.rx_packets,
                      (unsigned long long)st.rx_bytes, (unsigned long long)st.rx_drops);
        }
    }
}
