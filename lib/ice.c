/* SPDX-License-Identifier: MIT */
/* A link's ICE transport (ice.h): the libnice agent of one session, its
 * host addresses, STUN and TURN servers, and the candidates on both sides.
 * What the agent reports goes to the link through the events it was made
 * with.  The loop thread only. */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "link.h"
#include "log.h"
#include "message.h"
#include "network.h"
#include "options.h"
#include "portmap.h"
#include "upnp.h"

#define SOCKET_BUF (4 * 1024 * 1024)
/* The type preference of the server-reflexive candidates we make from
 * port mappings (UPnP IGD, PCP, NAT-PMP): libnice's own for its UPnP ones
 * (NICE_CANDIDATE_TYPE_PREF_NAT_ASSISTED, private in libnice 0.1.21).
 * Above plain srflx (100) and far above relays (30 and 20). */
#define PREF_NAT_ASSISTED 105

void ipop__ice_init(ipop_link_t *link, const ipop__ice_events *ev)
{
    link->ice.ev = ev;
    link->ice.stun_idx = -1;
}

/* ---- what the agent reports ---- */

static ipop_path_type_t path_type(NiceCandidateType t)
{
    switch (t) {
    case NICE_CANDIDATE_TYPE_HOST: return IPOP_PATH_HOST;
    case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE: return IPOP_PATH_SRFLX;
    case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE: return IPOP_PATH_PRFLX;
    case NICE_CANDIDATE_TYPE_RELAYED: return IPOP_PATH_RELAY;
    }
    return IPOP_PATH_UNKNOWN;
}

static void on_selected_pair(NiceAgent *agent, guint stream, guint comp, NiceCandidate *local,
                             NiceCandidate *remote, gpointer data)
{
    ipop_link_t *link = data;

    int mapping = IPOP_PORT_MAPPING_NONE;

    /* a peer-reflexive local end at a mapping's address: the peer reached
     * us through it (libnice never knew the mapping as a candidate) */
    if (link->ice.pm_proto && nice_address_equal(&local->addr, &link->ice.pm_addr))
        mapping = link->ice.pm_proto;
    else if (link->ice.up_mapped && nice_address_equal(&local->addr, &link->ice.up_addr))
        mapping = IPOP_PORT_MAPPING_UPNP;
    g_atomic_int_set(&link->ice.mapping, mapping);
    g_atomic_int_set(&link->ice.remote_mapped, remote->type == NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE &&
                                                  (remote->priority >> 24) == PREF_NAT_ASSISTED);
    link->ice.local_base = local->base_addr;
    g_atomic_int_set(&link->ice.local_path, path_type(local->type));
    g_atomic_int_set(&link->ice.remote_path, path_type(remote->type));
    ipop__dbg(link->net, "link to %s: selected pair %s/%s", ipop__link_tag(link->peer_id),
              ipop_path_type_str(path_type(local->type)), ipop_path_type_str(path_type(remote->type)));
    link->ice.ev->selected(link);
}

static void on_component_state(NiceAgent *agent, guint stream, guint comp, guint state, gpointer data)
{
    ipop_link_t *link = data;

    ipop__dbg(link->net, "link to %s: ICE %s", ipop__link_tag(link->peer_id), nice_component_state_to_string(state));
    if (state == NICE_COMPONENT_STATE_CONNECTED || state == NICE_COMPONENT_STATE_READY) {
        link->ice.ready = state == NICE_COMPONENT_STATE_READY;
        link->ice.ev->connected(link);
    } else if (state == NICE_COMPONENT_STATE_FAILED) {
        link->ice.ev->failed(link);
    }
}

static void on_new_candidate(NiceAgent *agent, NiceCandidate *cand, gpointer data)
{
    ipop_link_t *link = data;
    gchar *sdp = nice_agent_generate_local_candidate_sdp(agent, cand);

    if (!sdp)
        return;
    ipop__dbg(link->net, "link to %s: local candidate %s", ipop__link_tag(link->peer_id), sdp);
    if (strlen(sdp) <= IPOP__SIGNAL_CAND_MAX)
        g_ptr_array_add(link->ice.local_cands, sdp);
    else
        g_free(sdp);
    link->ice.ev->candidates(link);
}

static void on_gathering_done(NiceAgent *agent, guint stream, gpointer data)
{
    ipop_link_t *link = data;

    link->ice.local_done = true;
    link->ice.ev->candidates(link);
}

static void on_recv(NiceAgent *agent, guint stream, guint comp, guint len, gchar *buf, gpointer data)
{
    ipop_link_t *link = data;
    GSource *cur = g_main_current_source();

    /* libnice's socket source does not run nested: without this GLib
     * takes its fd out of the poll set and puts it back around every
     * dispatch, two wakeups of the context per datagram. */
    if (cur && !g_source_get_can_recurse(cur))
        g_source_set_can_recurse(cur, TRUE);
    link->ice.ev->datagram(link, (const uint8_t *)buf, len);
}

/* ---- the agent ---- */

static void tune_sockets(ipop_link_t *link)
{
    GPtrArray *socks = nice_agent_get_sockets(link->ice.agent, link->ice.stream, 1);
    int size = SOCKET_BUF;

    for (guint i = 0; socks && i < socks->len; i++) {
        int fd = g_socket_get_fd(socks->pdata[i]);
        /* FORCE lets root go past net.core.[rw]mem_max; others get the cap. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    }
    if (socks)
        g_ptr_array_unref(socks);
}

/* Host candidates: every address that is up, except loopback, IPv6
 * link-local, our own device, and anything inside our virtual subnets (a
 * path through the overlay itself would carry the link inside itself).
 * Returns how many were added; with none, libnice picks its own. */
static unsigned add_host_addresses(NiceAgent *agent, ipop_network_t *net)
{
    struct ifaddrs *ifs = NULL;
    unsigned n = 0;

    if (getifaddrs(&ifs) < 0)
        return 0;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        ipop__addr a = { 0 };
        NiceAddress na;
        if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        if (net->dev_name[0] && !strcmp(i->ifa_name, net->dev_name))
            continue;
        if (i->ifa_addr->sa_family == AF_INET) {
            a.family = AF_INET;
            memcpy(a.bytes, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            const struct in6_addr *v6 = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
            if (IN6_IS_ADDR_LINKLOCAL(v6))
                continue;
            a.family = AF_INET6;
            memcpy(a.bytes, v6, 16);
        } else {
            continue;
        }
        if (ipop__addr_in_subnet(&net->addr4, &a) || ipop__addr_in_subnet(&net->addr6, &a))
            continue;
        nice_address_init(&na);
        nice_address_set_from_sockaddr(&na, i->ifa_addr);
        if (nice_agent_add_local_address(agent, &na))
            n++;
    }
    freeifaddrs(ifs);
    return n;
}

/* ---- UPnP IGD, PCP and NAT-PMP: a candidate libnice does not know ---- */

/* The mapper's word: a mapping becomes a server-reflexive candidate that
 * we signal ourselves.  libnice cannot be given a local candidate, and
 * needs none: the peer checks the mapped address, the router forwards to
 * our host candidate's socket, libnice answers there, and our own checks
 * learn the mapped address as a peer-reflexive local candidate. */
static void add_mapping(ipop_link_t *link, ipop_port_mapping_t proto, struct in_addr ip, uint16_t port)
{
    struct ipop__ice *ice = &link->ice;
    GSList *cands;

    if (proto == IPOP_PORT_MAPPING_NONE || !ice->agent) {
        ice->ev->candidates(link);
        return;
    }
    cands = nice_agent_get_local_candidates(ice->agent, ice->stream, 1);
    for (GSList *l = cands; l; l = l->next) {
        NiceCandidate *c = l->data;
        char base[NICE_ADDRESS_STRING_LEN];
        if (c->type != NICE_CANDIDATE_TYPE_HOST || c->transport != NICE_CANDIDATE_TRANSPORT_UDP ||
            nice_address_get_port(&c->addr) == 0 || !nice_address_ip_version(&c->addr) ||
            nice_address_ip_version(&c->addr) != 4)
            continue;
        {
            struct sockaddr_in sin;
            nice_address_copy_to_sockaddr(&c->addr, (struct sockaddr *)&sin);
            if (sin.sin_addr.s_addr != ice->pm_internal.s_addr || ntohs(sin.sin_port) != ice->pm_port)
                continue;
        }
        nice_address_to_string(&c->addr, base);
        if (proto == IPOP_PORT_MAPPING_UPNP) {
            nice_address_set_ipv4(&ice->up_addr, ntohl(ip.s_addr));
            nice_address_set_port(&ice->up_addr, port);
            ice->up_mapped = true;
        } else {
            nice_address_set_ipv4(&ice->pm_addr, ntohl(ip.s_addr));
            nice_address_set_port(&ice->pm_addr, port);
            g_atomic_int_set(&ice->pm_proto, proto);
        }
        g_ptr_array_add(ice->local_cands,
                        g_strdup_printf("a=candidate:M%u 1 UDP %u %s %u typ srflx raddr %s rport %u", (unsigned)proto,
                                        (guint32)PREF_NAT_ASSISTED << 24 | (c->priority & 0xffffff), inet_ntoa(ip),
                                        port, base, ice->pm_port));
        ipop__info(link->net, "link to %s: %s mapped %s:%u to %s:%u", ipop__link_tag(link->peer_id),
                   proto == IPOP_PORT_MAPPING_UPNP  ? "UPnP"
                   : proto == IPOP_PORT_MAPPING_PCP ? "PCP"
                                                    : "NAT-PMP",
                   base, ice->pm_port, inet_ntoa(ip), port);
        break;
    }
    g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
    ice->ev->candidates(link);
}

/* Each mapper's word: the first one (a mapping, or none within its probe
 * time) lets the end of candidates go. */
/* A gateway that gave this network no mapping (silent for the whole probe
 * time, as a cloud VM's; its port 5351 closed; or refusing) is not waited
 * for again by the network's later links: they still ask, and signal a
 * mapping made later as a candidate of its own.  A mapping clears it.
 * (A closed port's ICMP answer is rate-limited by the gateway: a later
 * link's question may go unanswered for the whole probe time.) */
static void note_mapper(ipop_link_t *link, ipop_port_mapping_t proto)
{
    link->net->mapping_silent = proto == IPOP_PORT_MAPPING_NONE;
}

static void on_portmap(void *data, ipop_port_mapping_t proto, struct in_addr ip, uint16_t port)
{
    ipop_link_t *link = data;

    link->ice.pm_waiting = false;
    note_mapper(link, proto);
    add_mapping(link, proto, ip, port);
}

static void on_upnp(void *data, ipop_port_mapping_t proto, struct in_addr ip, uint16_t port)
{
    ipop_link_t *link = data;

    link->ice.up_waiting = false;
    note_mapper(link, proto);
    add_mapping(link, proto, ip, port);
}

bool ipop__ice_mapping_pending(const ipop_link_t *link)
{
    return link->ice.pm_hold && (link->ice.pm_waiting || link->ice.up_waiting);
}

/* Asks the router (UPnP IGD through the network's client; PCP, else
 * NAT-PMP) for the host candidate on the interface towards the default
 * gateway, in the background. */
static void start_mapping(ipop_link_t *link)
{
    struct ipop__ice *ice = &link->ice;
    ipop_network_t *net = link->net;
    GSList *cands;

    if (!(net->port_mapping & IPOP__PM_ALL) || net->relay_only)
        return;
    if (net->port_mapping & (IPOP__PM_NATPMP | IPOP__PM_PCP)) {
        if (ipop__portmap_new(&ice->pm, net, net->ctx, net->port_mapping, on_portmap, link, &ice->pm_internal) < 0)
            return;
    } else if (!net->upnp || ipop__portmap_internal(&ice->pm_internal) < 0) {
        return;
    }
    cands = nice_agent_get_local_candidates(ice->agent, ice->stream, 1);
    for (GSList *l = cands; l; l = l->next) {
        NiceCandidate *c = l->data;
        struct sockaddr_storage ss;
        if (c->type != NICE_CANDIDATE_TYPE_HOST || c->transport != NICE_CANDIDATE_TRANSPORT_UDP ||
            nice_address_ip_version(&c->addr) != 4)
            continue;
        nice_address_copy_to_sockaddr(&c->addr, (struct sockaddr *)&ss);
        if (((struct sockaddr_in *)&ss)->sin_addr.s_addr == ice->pm_internal.s_addr) {
            ice->pm_port = nice_address_get_port(&c->addr);
            break;
        }
    }
    g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
    if (!ice->pm_port) {
        g_clear_pointer(&ice->pm, ipop__portmap_free);
        return;
    }
    ice->pm_hold = !net->mapping_silent;
    if (ice->pm) {
        ice->pm_waiting = true;
        ipop__portmap_map(ice->pm, ice->pm_port);
    }
    if (net->upnp && (net->port_mapping & IPOP__PM_UPNP)) {
        ice->up_waiting = true;
        ice->up = ipop__upnp_map_new(net->upnp, ice->pm_internal, ice->pm_port, on_upnp, link);
    }
}

int ipop__ice_start(ipop_link_t *link, int stun_idx)
{
    ipop_network_t *net = link->net;
    struct ipop__ice *ice = &link->ice;
    NiceAgent *agent;
    gboolean ok;

    /* No consent freshness from libnice: on the direct path the library
     * reads the socket itself and libnice would never see the answers to
     * its checks.  The link's own liveness replaces it: authenticated
     * pings inside DTLS, and ICE is started again after 2.5 s without a
     * record (link.c), which stops sending to a peer that no longer
     * answers sooner than consent freshness's 30 s. */
    agent = nice_agent_new_full(net->ctx, NICE_COMPATIBILITY_RFC5245, NICE_AGENT_OPTION_ICE_TRICKLE);
    if (!agent)
        return -ENOMEM;
    /* libnice's own UPnP client stays off: it runs in a thread of its own
     * (gupnp-igd's thread variant) and reports from there, while the link
     * is the loop thread's.  The network's client (upnp.c) asks instead
     * (doc/architecture.md, "Port mapping"). */
    g_object_set(agent, "upnp", FALSE,
                 "controlling-mode", link->controlling, "ice-tcp", net->ice_tcp,
                 "force-relay", net->relay_only, NULL);
    /* libnice takes one STUN server per agent: the first that answers. */
    ice->stun_idx = stun_idx;
    if (ice->stun_idx >= 0) {
        stun_server *s = net->stun->pdata[ice->stun_idx];
        g_object_set(agent, "stun-server", s->ip, "stun-server-port", s->port, NULL);
    }
    for (guint i = 0; i < net->local_addrs->len; i++) {
        NiceAddress addr;
        if (nice_address_set_from_string(&addr, net->local_addrs->pdata[i]))
            nice_agent_add_local_address(agent, &addr);
    }
    if (net->local_addrs->len == 0)
        add_host_addresses(agent, net);
    ice->stream = nice_agent_add_stream(agent, 1);
    if (ice->stream == 0) {
        g_object_unref(agent);
        return -ENOMEM;
    }
    nice_agent_set_stream_name(agent, ice->stream, "application");
    for (guint i = 0; i < net->turn->len; i++) {
        relay_server *t = net->turn->pdata[i];
        nice_agent_set_relay_info(agent, ice->stream, 1, t->ip, t->port, t->user, t->pass, t->type);
    }
    g_signal_connect(agent, "component-state-changed", G_CALLBACK(on_component_state), link);
    g_signal_connect(agent, "new-candidate-full", G_CALLBACK(on_new_candidate), link);
    g_signal_connect(agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), link);
    g_signal_connect(agent, "new-selected-pair-full", G_CALLBACK(on_selected_pair), link);
    nice_agent_attach_recv(agent, ice->stream, 1, net->ctx, on_recv, link);

    ice->local_cands = g_ptr_array_new_with_free_func(g_free);
    ice->sent_cands = g_ptr_array_new_with_free_func(g_free);
    ice->pending_cands = g_ptr_array_new_with_free_func(g_free);
    ice->local_done = ice->local_done_sent = ice->pending_done = false;
    ice->ready = false;
    ice->pm_waiting = ice->up_waiting = ice->up_mapped = ice->pm_hold = ice->checks_held = false;
    ice->pm_port = 0;
    g_atomic_int_set(&ice->pm_proto, IPOP_PORT_MAPPING_NONE);
    g_mutex_lock(&link->tx_lock);
    ice->agent = agent;
    g_mutex_unlock(&link->tx_lock);
    /* Candidates may be reported from inside this call: they are queued.
     * Whatever libnice starts here runs on the thread-default context of
     * this moment: make it ours. */
    g_main_context_push_thread_default(net->ctx);
    ok = nice_agent_gather_candidates(agent, ice->stream);
    g_main_context_pop_thread_default(net->ctx);
    if (!ok) {
        ipop__warn(net, "link to %s: gathering candidates failed", ipop__link_tag(link->peer_id));
        return -EIO;
    }
    tune_sockets(link);
    start_mapping(link);
    return 0;
}

static void on_agent_closed(GObject *src, GAsyncResult *res, gpointer data)
{
    ipop_network_t *net = data;

    g_object_unref(src);
    g_atomic_int_add(&net->closing_agents, -1);
}

static void on_recv_closing(NiceAgent *agent, guint stream, guint comp, guint len, gchar *buf, gpointer data)
{
    /* an agent being closed: what still comes is read and dropped */
}

void ipop__ice_stop(ipop_link_t *link)
{
    ipop_network_t *net = link->net;
    NiceAgent *agent;

    g_clear_pointer(&link->ice.ufrag, g_free);
    g_clear_pointer(&link->ice.pwd, g_free);
    g_clear_pointer(&link->ice.pm, ipop__portmap_free); /* deletes the mapping */
    g_clear_pointer(&link->ice.up, ipop__upnp_map_free); /* and the UPnP one */
    link->ice.pm_waiting = link->ice.up_waiting = link->ice.up_mapped = false;
    g_atomic_int_set(&link->ice.mapping, IPOP_PORT_MAPPING_NONE);
    g_atomic_int_set(&link->ice.remote_mapped, 0);
    g_mutex_lock(&link->tx_lock);
    agent = link->ice.agent;
    link->ice.agent = NULL;
    g_mutex_unlock(&link->tx_lock);
    if (agent) {
        g_signal_handlers_disconnect_by_data(agent, link);
        /* Until the close completes (TURN allocations are released, which
         * takes seconds when the server is gone), datagrams still come in:
         * without a callback libnice leaves them queued, the socket stays
         * readable and the loop spins. */
        nice_agent_attach_recv(agent, link->ice.stream, 1, net->ctx, on_recv_closing, NULL);
        g_atomic_int_inc(&net->closing_agents);
        /* The close completes on the thread-default context: make it ours
         * (a host loop calling in has its own default). */
        g_main_context_push_thread_default(net->ctx);
        nice_agent_close_async(agent, on_agent_closed, net);
        g_main_context_pop_thread_default(net->ctx);
    }
    g_clear_pointer(&link->ice.local_cands, g_ptr_array_unref);
    g_clear_pointer(&link->ice.sent_cands, g_ptr_array_unref);
    g_clear_pointer(&link->ice.pending_cands, g_ptr_array_unref);
    g_atomic_int_set(&link->ice.local_path, IPOP_PATH_UNKNOWN);
    g_atomic_int_set(&link->ice.remote_path, IPOP_PATH_UNKNOWN);
}

/* ---- sending ---- */

int ipop__ice_send(ipop_link_t *link, const void *data, size_t len)
{
    return link->ice.agent ? nice_agent_send(link->ice.agent, link->ice.stream, 1, (guint)len, data) : -1;
}

int ipop__ice_send_many(ipop_link_t *link, const uint8_t *base, size_t stride, const size_t *lens, unsigned n)
{
    NiceOutputMessage msgs[64];
    GOutputVector vecs[64];
    int sent = 0;

    if (!link->ice.agent)
        return -1;
    for (unsigned first = 0; first < n; first += G_N_ELEMENTS(msgs)) {
        unsigned k = MIN(n - first, G_N_ELEMENTS(msgs));
        int r;

        for (unsigned i = 0; i < k; i++) {
            vecs[i].buffer = base + (size_t)(first + i) * stride;
            vecs[i].size = lens[first + i];
            msgs[i].buffers = &vecs[i];
            msgs[i].n_buffers = 1;
        }
        r = nice_agent_send_messages_nonblocking(link->ice.agent, link->ice.stream, 1, msgs, k, NULL, NULL);
        if (r < 0)
            return sent ? sent : r;
        sent += r;
        if ((unsigned)r < k)
            break;
    }
    return sent;
}

int ipop__ice_direct_socket(ipop_link_t *link, struct sockaddr_storage *to)
{
    NiceAgent *agent = link->ice.agent;
    NiceCandidate *local = NULL, *remote = NULL;
    GSocket *sock;
    int fd;

    if (!agent || !nice_agent_get_selected_pair(agent, link->ice.stream, 1, &local, &remote) ||
        local->type == NICE_CANDIDATE_TYPE_RELAYED || local->transport != NICE_CANDIDATE_TRANSPORT_UDP ||
        !(sock = nice_agent_get_selected_socket(agent, link->ice.stream, 1)))
        return -1;
    fd = g_socket_get_fd(sock);
    g_object_unref(sock); /* the agent keeps it open until it is closed */
    if (fd < 0)
        return -1;
    memset(to, 0, sizeof(*to));
    nice_address_copy_to_sockaddr(&remote->addr, (struct sockaddr *)to);
    if (!link->ice.ufrag)
        nice_agent_get_local_credentials(agent, link->ice.stream, &link->ice.ufrag, &link->ice.pwd);
    return fd;
}

/* ---- credentials and candidates ---- */

void ipop__ice_local_credentials(ipop_link_t *link, char *ufrag, size_t ufrag_size, char *pwd, size_t pwd_size)
{
    gchar *u = NULL, *p = NULL;

    nice_agent_get_local_credentials(link->ice.agent, link->ice.stream, &u, &p);
    g_strlcpy(ufrag, u ? u : "", ufrag_size);
    g_strlcpy(pwd, p ? p : "", pwd_size);
    g_free(u);
    g_free(p);
}

bool ipop__ice_set_remote_credentials(ipop_link_t *link, const char *ufrag, const char *pwd)
{
    return nice_agent_set_remote_credentials(link->ice.agent, link->ice.stream, ufrag, pwd);
}

bool ipop__ice_unsent(const ipop_link_t *link)
{
    return link->ice.local_cands->len > 0 ||
           (link->ice.local_done && !link->ice.pm_waiting && !link->ice.up_waiting && !link->ice.local_done_sent);
}

unsigned ipop__ice_take_cands(ipop_link_t *link, char (*cands)[IPOP__SIGNAL_CAND_MAX + 1], unsigned max, bool *done)
{
    GPtrArray *local = link->ice.local_cands;
    unsigned n = 0;

    while (n < max && local->len > 0) {
        g_strlcpy(cands[n++], local->pdata[0], IPOP__SIGNAL_CAND_MAX + 1);
        g_ptr_array_add(link->ice.sent_cands, g_ptr_array_steal_index(local, 0));
    }
    *done = link->ice.local_done && !link->ice.pm_waiting && !link->ice.up_waiting && local->len == 0;
    if (*done)
        link->ice.local_done_sent = true;
    return n;
}

void ipop__ice_unsend(ipop_link_t *link)
{
    for (guint i = link->ice.sent_cands->len; i > 0; i--)
        g_ptr_array_insert(link->ice.local_cands, 0, g_ptr_array_steal_index(link->ice.sent_cands, i - 1));
    link->ice.local_done_sent = false;
}

/* n candidate lines, the i-th at lines + i * stride. */
static void add_cands(ipop_link_t *link, const char *lines, size_t stride, unsigned n, bool done)
{
    GSList *list = NULL;

    for (unsigned i = 0; i < n; i++) {
        const char *line = lines + i * stride;
        NiceCandidate *c = nice_agent_parse_remote_candidate_sdp(link->ice.agent, link->ice.stream, line);
        if (c) {
            ipop__dbg(link->net, "link to %s: remote candidate %s", ipop__link_tag(link->peer_id), line);
            list = g_slist_prepend(list, c);
        } else
            ipop__dbg(link->net, "link to %s: ignored candidate '%s'", ipop__link_tag(link->peer_id), line);
    }
    if (list) {
        nice_agent_set_remote_candidates(link->ice.agent, link->ice.stream, 1, list);
        g_slist_free_full(list, (GDestroyNotify)nice_candidate_free);
    }
    if (done)
        nice_agent_peer_candidate_gathering_done(link->ice.agent, link->ice.stream);
}

void ipop__ice_add_remote(ipop_link_t *link, const char (*cands)[IPOP__SIGNAL_CAND_MAX + 1], unsigned n, bool done)
{
    add_cands(link, cands[0], sizeof(cands[0]), n, done);
}

/* Held until the offer or answer, at most IPOP_PENDING_CANDIDATES_MAX of
 * them (libnice takes 25 remote candidates per component anyway): a peer
 * that sends candidates without end before it answers fills nothing. */
void ipop__ice_hold_remote(ipop_link_t *link, const char (*cands)[IPOP__SIGNAL_CAND_MAX + 1], unsigned n, bool done)
{
    GPtrArray *held = link->ice.pending_cands;

    for (unsigned i = 0; i < n; i++) {
        if (held->len < IPOP_PENDING_CANDIDATES_MAX)
            g_ptr_array_add(held, g_strdup(cands[i]));
        else
            __atomic_fetch_add(&link->net->cands_dropped, 1, __ATOMIC_RELAXED);
    }
    if (done && !link->ice.pending_done) {
        g_ptr_array_add(held, g_strdup("")); /* an end-of-candidates mark, beyond the bound */
        link->ice.pending_done = true;
    }
}

void ipop__ice_take_remote(ipop_link_t *link, const char (*cands)[IPOP__SIGNAL_CAND_MAX + 1], unsigned n, bool done)
{
    if (n == 0 && !done)
        return;
    if (link->remote_known && !link->ice.checks_held)
        ipop__ice_add_remote(link, cands, n, done);
    else
        ipop__ice_hold_remote(link, cands, n, done);
}

void ipop__ice_add_held(ipop_link_t *link)
{
    link->ice.checks_held = false;
    for (guint i = 0; i < link->ice.pending_cands->len; i++) {
        const char *c = link->ice.pending_cands->pdata[i];
        if (*c == '\0')
            nice_agent_peer_candidate_gathering_done(link->ice.agent, link->ice.stream);
        else
            add_cands(link, c, 0, 1, false);
    }
    g_ptr_array_set_size(link->ice.pending_cands, 0);
    link->ice.pending_done = false;
}
