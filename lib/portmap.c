/* SPDX-License-Identifier: MIT */
/* Port mapping with PCP and NAT-PMP (portmap.h): one socket connected to
 * the gateway's port 5351, a retransmission timer, a renewal timer.  PCP
 * first; a router that answers it with "unsupported version" (RFC 6887 9),
 * or refuses it, is asked with NAT-PMP. */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <glib-unix.h>

#include "log.h"
#include "pcp.h"
#include "portmap.h"

#define FIRST_RTO_MS 250 /* RFC 6886 3.1, RFC 6887 8.1.1 */
#define TRIES 5          /* 250 + 500 + 1000 + 2000 + 4000 ms, then silence */
#define LIFETIME_S 3600  /* asked for; renewed at half of what is granted */

struct ipop__portmap {
    ipop_network_t *net;
    GMainContext *ctx;
    unsigned mask;
    ipop__portmap_fn fn;
    void *data;
    int fd;
    GSource *io, *timer, *probe;
    struct in_addr internal;
    uint16_t port;            /* the internal port, 0 before map() */
    int proto;                /* IPOP__PM_PCP or _NATPMP: the one being asked */
    unsigned tries, rto_ms;
    uint8_t nonce[IPOP__PCP_NONCE_LEN];
    bool mapped, told;
    struct in_addr ext_ip;    /* the mapping made */
    uint16_t ext_port;
    struct in_addr pmp_ip;    /* NAT-PMP: the public address answer */
    bool have_ip;
    uint16_t pmp_port;        /* NAT-PMP: the mapping answer */
    uint32_t pmp_lifetime;
};

/* The default IPv4 gateway, from /proc/net/route. */
static int default_gateway(struct in_addr *gw)
{
    char line[256], ifname[64];
    unsigned dest, gate, flags;
    FILE *f = fopen("/proc/net/route", "re");
    int r = -ENETUNREACH;

    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%63s %x %x %x", ifname, &dest, &gate, &flags) == 4 && dest == 0 && (flags & 0x2)) {
            gw->s_addr = gate; /* the file holds it in network order, as hex */
            r = 0;
            break;
        }
    }
    fclose(f);
    return r;
}

static void send_request(ipop__portmap *pm, uint32_t lifetime)
{
    uint8_t buf[IPOP__PCP_MAP_LEN];
    const uint8_t *ip = (const uint8_t *)&pm->internal;

    if (pm->proto == IPOP__PM_PCP) {
        ipop__pcp_map_request(buf, ip, pm->nonce, pm->port, pm->mapped ? (const uint8_t *)&pm->ext_ip : NULL,
                              pm->ext_port, lifetime);
        (void)send(pm->fd, buf, IPOP__PCP_MAP_LEN, MSG_DONTWAIT | MSG_NOSIGNAL);
        return;
    }
    if (!pm->have_ip && lifetime) {
        ipop__natpmp_addr_request(buf);
        (void)send(pm->fd, buf, IPOP__NATPMP_ADDR_LEN, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    ipop__natpmp_map_request(buf, pm->port, pm->ext_port, lifetime);
    (void)send(pm->fd, buf, IPOP__NATPMP_MAP_LEN, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void clear_source(GSource **s)
{
    if (*s) {
        g_source_destroy(*s);
        g_source_unref(*s);
        *s = NULL;
    }
}

static void arm(ipop__portmap *pm, GSource **slot, unsigned ms, GSourceFunc fn)
{
    clear_source(slot);
    *slot = g_timeout_source_new(ms);
    g_source_set_callback(*slot, fn, pm, NULL);
    g_source_attach(*slot, pm->ctx);
}

static void tell(ipop__portmap *pm, ipop_port_mapping_t proto)
{
    pm->told = true;
    clear_source(&pm->probe);
    pm->fn(pm->data, proto, pm->ext_ip, pm->ext_port);
}

static gboolean on_probe(gpointer p)
{
    ipop__portmap *pm = p;

    g_source_unref(pm->probe);
    pm->probe = NULL;
    if (!pm->told)
        tell(pm, IPOP_PORT_MAPPING_NONE);
    return G_SOURCE_REMOVE;
}

static gboolean on_timer(gpointer p);

/* (Re)starts asking with pm->proto, from the first timeout. */
static void ask(ipop__portmap *pm)
{
    pm->tries = 1;
    pm->rto_ms = FIRST_RTO_MS;
    send_request(pm, LIFETIME_S);
    arm(pm, &pm->timer, pm->rto_ms, on_timer);
}

static gboolean on_timer(gpointer p)
{
    ipop__portmap *pm = p;

    g_source_unref(pm->timer);
    pm->timer = NULL;
    if (pm->mapped && pm->tries == 0) { /* the renewal is due */
        ask(pm);
        return G_SOURCE_REMOVE;
    }
    if (pm->tries >= TRIES) {
        if (pm->proto == IPOP__PM_PCP && (pm->mask & IPOP__PM_NATPMP)) {
            pm->proto = IPOP__PM_NATPMP; /* a router that never spoke PCP */
            ask(pm);
        }
        return G_SOURCE_REMOVE; /* silence: a router with neither, or none at all */
    }
    pm->tries++;
    pm->rto_ms *= 2;
    send_request(pm, LIFETIME_S);
    arm(pm, &pm->timer, pm->rto_ms, on_timer);
    return G_SOURCE_REMOVE;
}

static void refused(ipop__portmap *pm, const ipop__pcp_answer *a)
{
    if (a)
        ipop__dbg(pm->net, "port mapping: %s refused with result %d", a->version ? "PCP" : "NAT-PMP", a->result);
    else
        ipop__dbg(pm->net, "port mapping: the gateway's port %d is closed", IPOP__PCP_PORT);
    clear_source(&pm->timer);
    if (pm->proto == IPOP__PM_PCP && (pm->mask & IPOP__PM_NATPMP)) {
        pm->proto = IPOP__PM_NATPMP;
        ask(pm);
    } else if (!pm->told) {
        tell(pm, IPOP_PORT_MAPPING_NONE);
    }
}

static void granted(ipop__portmap *pm, const uint8_t *ext_ip, uint16_t ext_port, uint32_t lifetime)
{
    bool changed = !pm->mapped || ext_port != pm->ext_port || memcmp(ext_ip, &pm->ext_ip, 4) != 0;
    unsigned half = MAX(lifetime / 2, 30u);

    memcpy(&pm->ext_ip, ext_ip, 4);
    pm->ext_port = ext_port;
    pm->mapped = true;
    pm->tries = 0; /* the next timer renews */
    arm(pm, &pm->timer, MIN(half, 24u * 3600) * 1000, on_timer);
    ipop__dbg(pm->net, "port mapping: %s mapped port %u to %s:%u for %u s", pm->proto == IPOP__PM_PCP ? "PCP" : "NAT-PMP",
              pm->port, inet_ntoa(pm->ext_ip), pm->ext_port, lifetime);
    if (changed)
        tell(pm, pm->proto == IPOP__PM_PCP ? IPOP_PORT_MAPPING_PCP : IPOP_PORT_MAPPING_NATPMP);
}

static void handle(ipop__portmap *pm, const uint8_t *buf, size_t len)
{
    ipop__pcp_answer a;

    if (ipop__pcp_parse(buf, len, &a) < 0 || pm->port == 0)
        return;
    if (a.result != 0) {
        if ((pm->proto == IPOP__PM_PCP) == (a.version == 2) || a.result == IPOP__PCP_UNSUPP_VERSION)
            refused(pm, &a);
        return;
    }
    if (pm->proto == IPOP__PM_PCP) {
        if (a.version == 2 && !memcmp(a.nonce, pm->nonce, sizeof(a.nonce)) && a.internal_port == pm->port)
            granted(pm, a.external_ip, a.external_port, a.lifetime);
        return; /* otherwise not the answer to our request */
    }
    if (a.version != 0)
        return;
    /* NAT-PMP tells the address and the port in two answers */
    if (a.opcode == 0) {
        memcpy(&pm->pmp_ip, a.external_ip, 4);
        pm->have_ip = true;
    } else if (a.internal_port == pm->port) {
        pm->pmp_port = a.external_port;
        pm->pmp_lifetime = a.lifetime;
    }
    if (pm->have_ip && pm->pmp_port)
        granted(pm, (const uint8_t *)&pm->pmp_ip, pm->pmp_port, pm->pmp_lifetime);
}

static gboolean on_readable(gint fd, GIOCondition cond, gpointer p)
{
    ipop__portmap *pm = p;
    uint8_t buf[IPOP__PCP_MAX];

    /* a bounded number per wakeup: a flood from the gateway costs little */
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && errno == ECONNREFUSED) {
            /* ICMP port unreachable: nothing listens on 5351, no need to
             * wait for the probe time (every gateway but a mapping one) */
            refused(pm, NULL);
            break;
        }
        if (n < 0)
            break;
        handle(pm, buf, (size_t)n);
    }
    return G_SOURCE_CONTINUE;
}

int ipop__portmap_new(ipop__portmap **ret, ipop_network_t *net, GMainContext *ctx, unsigned mask,
                      ipop__portmap_fn fn, void *data, struct in_addr *internal)
{
    struct sockaddr_in gw = { .sin_family = AF_INET, .sin_port = htons(IPOP__PCP_PORT) }, me;
    socklen_t len = sizeof(me);
    ipop__portmap *pm;
    int fd, r;

    mask &= IPOP__PM_NATPMP | IPOP__PM_PCP;
    if (!mask)
        return -EINVAL;
    r = default_gateway(&gw.sin_addr);
    if (r < 0)
        return r;
    /* connected: the kernel passes on only what the gateway's port 5351 sends */
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&gw, sizeof(gw)) < 0 || getsockname(fd, (struct sockaddr *)&me, &len) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    pm = g_new0(ipop__portmap, 1);
    pm->net = net;
    pm->ctx = ctx;
    pm->mask = mask;
    pm->fn = fn;
    pm->data = data;
    pm->fd = fd;
    pm->internal = me.sin_addr;
    pm->proto = (mask & IPOP__PM_PCP) ? IPOP__PM_PCP : IPOP__PM_NATPMP;
    gnutls_rnd(GNUTLS_RND_NONCE, pm->nonce, sizeof(pm->nonce));
    pm->io = g_unix_fd_source_new(fd, G_IO_IN);
    g_source_set_callback(pm->io, (GSourceFunc)(void (*)(void))on_readable, pm, NULL);
    g_source_attach(pm->io, ctx);
    *internal = me.sin_addr;
    *ret = pm;
    return 0;
}

int ipop__portmap_internal(struct in_addr *internal)
{
    struct sockaddr_in gw = { .sin_family = AF_INET, .sin_port = htons(IPOP__PCP_PORT) }, me;
    socklen_t len = sizeof(me);
    int fd, r;

    r = default_gateway(&gw.sin_addr);
    if (r < 0)
        return r;
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* connect() on UDP sends nothing: it only picks the route and source */
    r = connect(fd, (struct sockaddr *)&gw, sizeof(gw)) < 0 || getsockname(fd, (struct sockaddr *)&me, &len) < 0 ? -errno : 0;
    close(fd);
    if (r == 0)
        *internal = me.sin_addr;
    return r;
}

void ipop__portmap_map(ipop__portmap *pm, uint16_t internal_port)
{
    if (!pm || pm->port)
        return;
    pm->port = internal_port;
    ask(pm);
    arm(pm, &pm->probe, IPOP__PORTMAP_PROBE_MS, on_probe);
}

void ipop__portmap_free(ipop__portmap *pm)
{
    if (!pm)
        return;
    if (pm->mapped)
        send_request(pm, 0); /* delete it (RFC 6887 15, RFC 6886 3.4) */
    clear_source(&pm->io);
    clear_source(&pm->timer);
    clear_source(&pm->probe);
    close(pm->fd);
    g_free(pm);
}
