/* SPDX-License-Identifier: MIT */
/* The network under the links: the STUN and TURN servers (resolved at
 * start; the STUN servers probed, so that new links gather with one that
 * answers), and the host's addresses changing (rtnetlink), after which the
 * links whose path is gone start again. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>
#include <gnutls/crypto.h>

#include "addr.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "rtnl.h"
#include "network.h"
#include "options.h"
#include "overlay.h"
#include "peers.h"
#include "stun.h"
#include "underlay.h"

void ipop__underlay_init(ipop_network_t *net)
{
    net->underlay.mon_fd = -1;
    net->underlay.stun_fd4 = net->underlay.stun_fd6 = -1;
    g_clear_pointer(&net->underlay.stun_agent, g_free);
}

/* ---- the servers' names ---- */

static bool resolve(const char *host, char out[64])
{
    struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res = NULL;
    bool ok;

    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return false;
    ok = getnameinfo(res->ai_addr, res->ai_addrlen, out, 64, NULL, 0, NI_NUMERICHOST) == 0;
    freeaddrinfo(res);
    return ok;
}

int ipop__underlay_resolve(ipop_network_t *net)
{
    unsigned resolved = 0;

    /* One STUN server that does not resolve is skipped, as one that does
     * not answer; none at all is an error. */
    for (guint i = 0; i < net->stun->len; i++) {
        stun_server *s = net->stun->pdata[i];
        if (resolve(s->host, s->ip))
            resolved++;
        else
            s->ip[0] = '\0';
    }
    for (guint i = 0; i < net->stun->len; i++) {
        stun_server *s = net->stun->pdata[i];
        if (!s->ip[0] && resolved == 0) {
            ipop__err(net, "cannot resolve STUN server %s", s->host);
            return -EHOSTUNREACH;
        }
        if (!s->ip[0])
            ipop__warn(net, "cannot resolve STUN server %s: skipped", s->host);
    }
    for (guint i = 0; i < net->turn->len; i++) {
        relay_server *t = net->turn->pdata[i];
        if (!resolve(t->host, t->ip)) {
            ipop__err(net, "cannot resolve TURN server %s", t->host);
            return -EHOSTUNREACH;
        }
    }
    return 0;
}

/* ---- the host's network changing ---- */

static void stun_probe_all(ipop_network_t *net);

void ipop__net_path_suspect(ipop_network_t *net)
{
    ipop__overlay_check_server(net);
}

/* The host addresses now, as NiceAddress*, for ipop__link_lost_base(). */
static GPtrArray *present_addresses(void)
{
    GPtrArray *a = g_ptr_array_new_with_free_func((GDestroyNotify)nice_address_free);
    struct ifaddrs *ifs = NULL;

    if (getifaddrs(&ifs) < 0)
        return a;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        NiceAddress *na;
        if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
            continue;
        na = nice_address_new();
        nice_address_set_from_sockaddr(na, i->ifa_addr);
        g_ptr_array_add(a, na);
    }
    freeifaddrs(ifs);
    return a;
}

/* all: every link starts again (the application said so); otherwise only
 * those whose local address is gone. */
static void network_changed(ipop_network_t *net, bool all)
{
    GPtrArray *links = ipop__peers_links(net), *present = all ? NULL : present_addresses();
    unsigned n = 0;

    for (guint i = 0; i < links->len; i++) {
        ipop_link_t *link = links->pdata[i];
        int state = g_atomic_int_get(&link->state);
        if (state != IPOP_LINK_CONNECTED && state != IPOP_LINK_CONNECTING)
            continue;
        if (all || ipop__link_lost_base(link, present)) {
            ipop__link_restart(link, IPOP_REASON_NETWORK_CHANGED);
            n++;
        }
    }
    ipop__info(net, "network changed%s: %u link%s start%s again", all ? " (application)" : "", n,
               n == 1 ? "" : "s", n == 1 ? "s" : "");
    ipop__overlay_retry_now(net);
    ipop__overlay_check_server(net);
    stun_probe_all(net);
    g_ptr_array_unref(links);
    if (present)
        g_ptr_array_unref(present);
}

static gboolean on_mon_settled(gpointer data)
{
    ipop_network_t *net = data;

    ipop__source_clear(&net->underlay.mon_timer);
    if (net->underlay.mon_lost)
        network_changed(net, false);
    else
        ipop__overlay_retry_now(net); /* only new addresses: failed links may work now */
    net->underlay.mon_lost = false;
    return G_SOURCE_REMOVE;
}

/* Whether an address change concerns the paths of our links: not on our
 * device, not loopback or IPv6 link-local, not inside our subnets. */
static bool relevant_change(ipop_network_t *net, const ipop__addr_change *c)
{
    const uint8_t *b = c->addr.bytes;

    if (net->dev_ifindex && c->ifindex == net->dev_ifindex)
        return false;
    if (c->addr.family == AF_INET && b[0] == 127)
        return false;
    if (c->addr.family == AF_INET6) {
        struct in6_addr v6;
        memcpy(&v6, b, sizeof(v6));
        if (IN6_IS_ADDR_LINKLOCAL(&v6) || IN6_IS_ADDR_LOOPBACK(&v6))
            return false;
    }
    return !ipop__addr_in_subnet(&net->addr4, &c->addr) && !ipop__addr_in_subnet(&net->addr6, &c->addr);
}

static gboolean on_mon(gint fd, GIOCondition cond, gpointer data)
{
    ipop_network_t *net = data;
    uint8_t buf[8192] __attribute__((aligned(8)));
    ipop__addr_change ch[32];
    bool any = false;

    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        int k;
        size_t ok = 0;
        if (n <= 0) {
            if (n < 0 && errno == ENOBUFS) {
                any = net->underlay.mon_lost = true; /* events lost: look at everything */
                continue;
            }
            break;
        }
        k = ipop__rtnl_parse_addrs(buf, (size_t)n, ch, G_N_ELEMENTS(ch), &ok);
        if (k < 0)
            ipop__dbg(net, "address monitor: a malformed netlink message");
        for (size_t i = 0; i < ok; i++) {
            if (!relevant_change(net, &ch[i]))
                continue;
            any = true;
            if (!ch[i].added)
                net->underlay.mon_lost = true;
        }
    }
    /* Addresses come and go in bursts (DHCP, a NAT renumbered): act once it settles. */
    if (any && !net->underlay.mon_timer)
        net->underlay.mon_timer = ipop__net_timeout(net, 300, on_mon_settled, net);
    return G_SOURCE_CONTINUE;
}

static void monitor_start(ipop_network_t *net)
{
    net->underlay.mon_fd = ipop__rtnl_monitor_open();
    if (net->underlay.mon_fd < 0) {
        ipop__warn(net, "cannot watch the host's addresses (%s): links notice a change when they go silent",
                   ipop_strerror(net->underlay.mon_fd));
        return;
    }
    net->underlay.mon_src = g_unix_fd_source_new(net->underlay.mon_fd, G_IO_IN);
    g_source_set_callback(net->underlay.mon_src, (GSourceFunc)(void (*)(void))on_mon, net, NULL);
    g_source_attach(net->underlay.mon_src, net->ctx);
}

static void monitor_stop(ipop_network_t *net)
{
    ipop__source_clear(&net->underlay.mon_src);
    ipop__source_clear(&net->underlay.mon_timer);
    if (net->underlay.mon_fd >= 0)
        close(net->underlay.mon_fd);
    net->underlay.mon_fd = -1;
}

static void do_network_changed(ipop_network_t *net, void *data)
{
    network_changed(net, true);
}

IPOP_EXPORT int ipop_network_changed(ipop_network_t *net)
{
    if (!net)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    ipop__net_post(net, do_network_changed, NULL, NULL);
    return 0;
}

/* ---- STUN servers: which ones answer ---- */

/* A probe unanswered this long marks its server dead; all servers are
 * probed again this often (a dead one may be back, an alive one gone). */
#define STUN_WAIT_MS 1000
#define STUN_REPROBE_MS 30000

static bool stun_sockaddr(const stun_server *s, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, s->ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)s->port);
        *len = sizeof(*v4);
        return true;
    }
    if (inet_pton(AF_INET6, s->ip, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)s->port);
        *len = sizeof(*v6);
        return true;
    }
    return false;
}

static bool same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
}

/* "a.b.c.d:port" or "[v6]:port" */
static void endpoint_str(const struct sockaddr_storage *ss, char *out, size_t size)
{
    char ip[INET6_ADDRSTRLEN];

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const void *)ss;
        inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof(ip));
        g_snprintf(out, size, "%s:%u", ip, ntohs(v4->sin_port));
    } else {
        const struct sockaddr_in6 *v6 = (const void *)ss;
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof(ip));
        g_snprintf(out, size, "[%s]:%u", ip, ntohs(v6->sin6_port));
    }
}

static void stun_probe_all(ipop_network_t *net)
{
    net->underlay.stun_probed = g_get_monotonic_time();
    for (guint i = 0; i < net->stun->len; i++) {
        stun_server *s = net->stun->pdata[i];
        struct sockaddr_storage ss;
        socklen_t len;
        uint8_t req[IPOP__STUN_REQ_MAX];
        size_t n;
        int fd;
        if (!s->ip[0] || !stun_sockaddr(s, &ss, &len))
            continue;
        fd = ss.ss_family == AF_INET ? net->underlay.stun_fd4 : net->underlay.stun_fd6;
        if (fd < 0)
            continue;
        if (s->pending) /* unanswered since the last round */
            ipop__stun_forget(net->underlay.stun_agent, s->txid);
        n = ipop__stun_request(net->underlay.stun_agent, req, sizeof(req), s->txid);
        s->sent_at = g_get_monotonic_time();
        s->pending = n > 0 && sendto(fd, req, n, 0, (struct sockaddr *)&ss, len) == (ssize_t)n;
        if (!s->pending && s->state != STUN_DEAD) {
            ipop__warn(net, "STUN server %s:%u cannot be reached (%s): links use the next one", s->host, s->port,
                       g_strerror(errno));
            s->state = STUN_DEAD;
        }
    }
}

static gboolean on_stun(gint fd, GIOCondition cond, gpointer data)
{
    ipop_network_t *net = data;

    for (int n = 0; n < 64; n++) {
        uint8_t buf[576];
        struct sockaddr_storage from, ss;
        socklen_t flen = sizeof(from), len;
        ssize_t r = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
        if (r < 0)
            break; /* EAGAIN, or an ICMP error for one of the probes: their timeout says */
        for (guint i = 0; i < net->stun->len; i++) {
            stun_server *s = net->stun->pdata[i];
            struct sockaddr_storage mapped;
            char seen[INET6_ADDRSTRLEN + 8] = "";
            if (!s->pending || !stun_sockaddr(s, &ss, &len) || !same_endpoint(&ss, &from) ||
                ipop__stun_is_response(net->underlay.stun_agent, buf, (size_t)r, s->txid, &mapped) != 1)
                continue;
            s->pending = false;
            s->rtt_ms = (guint)((g_get_monotonic_time() - s->sent_at) / 1000);
            if (mapped.ss_family != AF_UNSPEC)
                endpoint_str(&mapped, seen, sizeof(seen));
            if (s->state == STUN_DEAD)
                ipop__info(net, "STUN server %s:%u answers again", s->host, s->port);
            else
                ipop__dbg(net, "STUN server %s:%u answers (%u ms)%s%s", s->host, s->port, s->rtt_ms,
                          seen[0] ? ": this host is seen as " : "", seen);
            s->state = STUN_ALIVE;
        }
    }
    return G_SOURCE_CONTINUE;
}

static gboolean on_stun_timer(gpointer data)
{
    ipop_network_t *net = data;
    gint64 now = g_get_monotonic_time();
    bool died = false;

    for (guint i = 0; i < net->stun->len; i++) {
        stun_server *s = net->stun->pdata[i];
        if (!s->pending || now - s->sent_at < STUN_WAIT_MS * 1000)
            continue;
        s->pending = false;
        ipop__stun_forget(net->underlay.stun_agent, s->txid);
        if (s->state != STUN_DEAD) {
            ipop__warn(net, "STUN server %s:%u does not answer: links use the next one", s->host, s->port);
            s->state = STUN_DEAD;
            died = true;
        }
    }
    if (died && ipop__net_stun_pick(net) >= 0) {
        /* Links still coming up with a dead server gather again. */
        GPtrArray *links = ipop__peers_links(net);
        for (guint i = 0; i < links->len; i++) {
            ipop_link_t *link = links->pdata[i];
            if (link->ice.stun_idx >= 0 && ((stun_server *)net->stun->pdata[link->ice.stun_idx])->state == STUN_DEAD &&
                ((stun_server *)net->stun->pdata[ipop__net_stun_pick(net)])->state != STUN_DEAD)
                ipop__link_regather(link);
        }
        g_ptr_array_unref(links);
    }
    if (now - net->underlay.stun_probed >= STUN_REPROBE_MS * 1000)
        stun_probe_all(net);
    return G_SOURCE_CONTINUE;
}

int ipop__net_stun_pick(ipop_network_t *net)
{
    int unknown = -1, any = -1;

    for (guint i = 0; i < net->stun->len; i++) {
        stun_server *s = net->stun->pdata[i];
        if (!s->ip[0])
            continue;
        if (s->state == STUN_ALIVE)
            return (int)i;
        if (s->state == STUN_UNKNOWN && unknown < 0)
            unknown = (int)i;
        if (any < 0)
            any = (int)i;
    }
    return unknown >= 0 ? unknown : any; /* all dead: the first, it may be back */
}

static int stun_socket(int family, GSource **src, ipop_network_t *net)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    *src = g_unix_fd_source_new(fd, G_IO_IN);
    g_source_set_callback(*src, (GSourceFunc)(void (*)(void))on_stun, net, NULL);
    g_source_attach(*src, net->ctx);
    return fd;
}

static void start_stun_probes(ipop_network_t *net)
{
    bool v4 = false, v6 = false;

    for (guint i = 0; i < net->stun->len; i++) {
        stun_server *s = net->stun->pdata[i];
        s->state = STUN_UNKNOWN;
        s->pending = false;
        v4 |= s->ip[0] && strchr(s->ip, ':') == NULL;
        v6 |= s->ip[0] && strchr(s->ip, ':') != NULL;
    }
    if (net->stun->len == 0)
        return;
    net->underlay.stun_agent = g_new(StunAgent, 1);
    ipop__stun_probe_init(net->underlay.stun_agent);
    if (v4)
        net->underlay.stun_fd4 = stun_socket(AF_INET, &net->underlay.stun_src4, net);
    if (v6)
        net->underlay.stun_fd6 = stun_socket(AF_INET6, &net->underlay.stun_src6, net);
    net->underlay.stun_timer = ipop__net_timeout(net, 250, on_stun_timer, net);
    stun_probe_all(net);
}

static void stop_stun_probes(ipop_network_t *net)
{
    ipop__source_clear(&net->underlay.stun_src4);
    ipop__source_clear(&net->underlay.stun_src6);
    ipop__source_clear(&net->underlay.stun_timer);
    if (net->underlay.stun_fd4 >= 0)
        close(net->underlay.stun_fd4);
    if (net->underlay.stun_fd6 >= 0)
        close(net->underlay.stun_fd6);
    net->underlay.stun_fd4 = net->underlay.stun_fd6 = -1;
    g_clear_pointer(&net->underlay.stun_agent, g_free);
}

/* ---- start and stop ---- */

void ipop__underlay_start(ipop_network_t *net)
{
    monitor_start(net);
    start_stun_probes(net);
}

void ipop__underlay_stop(ipop_network_t *net)
{
    stop_stun_probes(net);
    monitor_stop(net);
}
