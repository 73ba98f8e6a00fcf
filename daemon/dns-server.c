/* SPDX-License-Identifier: MIT */
/* ipopd's DNS server (option dns): UDP port 53 on each overlay address of
 * a network's device, answering NAME.<dns.suffix> from the members' names
 * (ipop_network_resolve()).  The answers themselves are dns.c's.  Runs in
 * the main loop, which calls dns_receive() when a socket is readable; each
 * call reads at most DNS_BURST datagrams so that no sender can hold the
 * loop. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns.h"
#include "ipopd.h"

#define DNS_PORT 53
#define DNS_BURST 32

/* The member's address from the library: -ENODATA when the name is known
 * but has no address of that family (dns.h). */
static int lookup(const char *name, int family, char *buf, size_t size, void *user_data)
{
    struct net *n = user_data;
    char any[64];
    int r = ipop_network_resolve(n->net, name, family, buf, size);

    if (r == 0)
        return 0;
    if (r == -ENOENT && ipop_network_resolve(n->net, name, AF_UNSPEC, any, sizeof(any)) == 0)
        return -ENODATA;
    return -ENOENT;
}

static int bind_dns(struct net *n, int family, const char *addr)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    int fd, one = 1;

    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(DNS_PORT);
        if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
            return -EINVAL;
        len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(DNS_PORT);
        if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
            return -EINVAL;
        len = sizeof(*sin6);
    }
    fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* An IPv6 address may still be tentative (duplicate address detection)
     * right after start: bind anyway, it answers once the address is. */
    if (family == AF_INET6)
        setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    n->dns_sock[family == AF_INET ? 0 : 1] = fd;
    return 0;
}

void dns_start(struct net *n)
{
    static const int families[] = {AF_INET, AF_INET6};
    unsigned bound = 0;

    for (size_t i = 0; i < G_N_ELEMENTS(families); i++) {
        char cidr[64];
        int r;

        if (ipop_network_get_address(n->net, families[i], cidr, sizeof(cidr)) < 0)
            continue;
        cidr[strcspn(cidr, "/")] = '\0';
        r = bind_dns(n, families[i], cidr);
        if (r < 0) {
            log_net(n, "warning: dns: cannot answer on %s%s%s port %d: %s (names under %s are not served there; "
                    "set dns = false to silence this)", families[i] == AF_INET6 ? "[" : "", cidr,
                    families[i] == AF_INET6 ? "]" : "", DNS_PORT, strerror(-r), n->dns_suffix);
            continue;
        }
        bound++;
        log_net(n, "dns: answering NAME.%s on %s%s%s port %d", n->dns_suffix, families[i] == AF_INET6 ? "[" : "",
                cidr, families[i] == AF_INET6 ? "]" : "", DNS_PORT);
    }
    if (!bound)
        log_net(n, "warning: dns: no overlay address to answer on: names under %s are not served", n->dns_suffix);
    else if (n->dns_resolved)
        resolved_register(n);
}

void dns_stop(struct net *n)
{
    for (int i = 0; i < 2; i++) {
        if (n->dns_sock[i] >= 0)
            close(n->dns_sock[i]);
        n->dns_sock[i] = -1;
    }
}

static void count(struct net *n, enum dns_result res)
{
    struct dns_counters *c = &n->dns_count;

    switch (res) {
    case DNS_DROPPED: c->malformed++; break;
    case DNS_ANSWERED: c->answered++; break;
    case DNS_NXDOMAIN: c->nxdomain++; break;
    case DNS_REFUSED: c->refused++; break;
    case DNS_ERROR: c->errors++; break;
    }
}

void dns_receive(struct net *n, int i)
{
    uint8_t q[DNS_UDP_MAX * 4], a[DNS_UDP_MAX];

    for (int k = 0; k < DNS_BURST && n->dns_sock[i] >= 0; k++) {
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof(from);
        ssize_t len = recvfrom(n->dns_sock[i], q, sizeof(q), MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
        enum dns_result res;
        size_t alen = 0;

        if (len < 0)
            return; /* EAGAIN: all read */
        n->dns_count.queries++;
        /* Longer than any query we answer: cut, so not parsed. */
        res = (size_t)len > sizeof(q) ? DNS_DROPPED
                                      : dns_answer(q, (size_t)len, n->dns_suffix_wire, n->dns_suffix_len, lookup, n,
                                                   a, sizeof(a), &alen);
        count(n, res);
        if (alen && sendto(n->dns_sock[i], a, alen, 0, (struct sockaddr *)&from, fromlen) < 0)
            n->dns_count.send_failed++;
    }
}
