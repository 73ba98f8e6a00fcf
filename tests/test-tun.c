/* SPDX-License-Identifier: MIT */
/* TUN and TAP devices: open, configure over rtnetlink, and packets both ways
 * through the fd.  Runs in a network namespace of its own, so the devices
 * and addresses meet nothing else on the machine. */
#define _GNU_SOURCE /* unshare() */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <ifaddrs.h>
#include <linux/if_addr.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtnl.h"
#include "testutil.h"
#include "tun-linux.h"

#define WAIT_MS 3000

static ipop__addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t prefix)
{
    return (ipop__addr){ .family = AF_INET, .prefix = prefix, .bytes = { a, b, c, d } };
}

static ipop__addr v6(const char *text, uint8_t prefix)
{
    ipop__addr a = { .family = AF_INET6, .prefix = prefix };

    g_assert_cmpint(inet_pton(AF_INET6, text, a.bytes), ==, 1);
    return a;
}

static void ifreq_ioctl(const char *ifname, unsigned long req, struct ifreq *ifr)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(s, >=, 0);
    memset(ifr, 0, sizeof *ifr);
    g_strlcpy(ifr->ifr_name, ifname, IFNAMSIZ);
    g_assert_cmpint(ioctl(s, req, ifr), ==, 0);
    close(s);
}

static int dev_mtu(const char *ifname)
{
    struct ifreq ifr;

    ifreq_ioctl(ifname, SIOCGIFMTU, &ifr);
    return ifr.ifr_mtu;
}

static bool dev_up(const char *ifname)
{
    struct ifreq ifr;

    ifreq_ioctl(ifname, SIOCGIFFLAGS, &ifr);
    return ifr.ifr_flags & IFF_UP;
}

/* The IPv4 address and netmask of ifname, as getifaddrs() (rtnetlink) sees
 * them; false when it has none. */
static bool dev_ipv4(const char *ifname, struct in_addr *addr, struct in_addr *mask)
{
    struct ifaddrs *list, *i;
    bool found = false;

    g_assert_cmpint(getifaddrs(&list), ==, 0);
    for (i = list; i && !found; i = i->ifa_next) {
        if (strcmp(i->ifa_name, ifname) != 0 || !i->ifa_addr ||
            i->ifa_addr->sa_family != AF_INET)
            continue;
        *addr = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
        *mask = ((struct sockaddr_in *)i->ifa_netmask)->sin_addr;
        found = true;
    }
    freeifaddrs(list);
    return found;
}

/* The flags of addr on ifname from /proc/net/if_inet6, with its prefix
 * length; -1 when it is not there. */
static int dev_ipv6_flags(const char *ifname, const char *addr, unsigned *plen)
{
    struct in6_addr a;
    char want[33], line[256];
    FILE *f = fopen("/proc/net/if_inet6", "r");
    int flags = -1;

    g_assert_nonnull(f);
    g_assert_cmpint(inet_pton(AF_INET6, addr, &a), ==, 1);
    for (int i = 0; i < 16; i++)
        snprintf(want + 2 * i, 3, "%02x", a.s6_addr[i]);
    while (fgets(line, sizeof line, f)) {
        char hex[33], name[IFNAMSIZ + 1];
        unsigned idx, len, scope, fl;

        if (sscanf(line, "%32s %x %x %x %x %16s", hex, &idx, &len, &scope, &fl, name) == 6 &&
            strcmp(hex, want) == 0 && strcmp(name, ifname) == 0) {
            *plen = len;
            flags = (int)fl;
        }
    }
    fclose(f);
    return flags;
}

typedef bool (*match_fn)(const uint8_t *pkt, size_t len, const void *arg);

/* Reads packets from fd until one matches (the kernel also sends its own:
 * router solicitations, MLD, ND); returns its length, or fails after
 * WAIT_MS. */
static size_t read_match(int fd, uint8_t *buf, size_t size, match_fn match, const void *arg)
{
    gint64 deadline = g_get_monotonic_time() + WAIT_MS * 1000;

    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int left = (int)((deadline - g_get_monotonic_time()) / 1000);
        ssize_t n;

        g_assert_cmpint(left, >, 0);
        if (poll(&p, 1, left) <= 0)
            continue; /* the deadline check fails the test */
        n = read(fd, buf, size);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        g_assert_cmpint(n, >, 0);
        if (match(buf, (size_t)n, arg))
            return (size_t)n;
    }
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v & 0xff;
}

/* The Internet checksum (RFC 1071); 0 over data that carries a right one. */
static uint16_t inet_csum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;

    for (size_t i = 0; i + 1 < len; i += 2)
        sum += get16(p + i);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static const char payload[] = "ipop tun test";

/* An IPv4 UDP datagram to dst port 9 carrying payload. */
static bool is_udp4_to(const uint8_t *ip, size_t len, const void *dst)
{
    size_t hl;

    if (len < 20 || ip[0] >> 4 != 4 || ip[9] != IPPROTO_UDP || memcmp(ip + 16, dst, 4) != 0)
        return false;
    hl = (ip[0] & 0xf) * 4u;
    return get16(ip + 2) == len && len >= hl + 8 + sizeof payload &&
           get16(ip + hl + 2) == 9 && memcmp(ip + hl + 8, payload, sizeof payload) == 0;
}

static bool is_udp6_to(const uint8_t *ip, size_t len, const void *dst)
{
    return len >= 40 + 8 + sizeof payload && ip[0] >> 4 == 6 && ip[6] == IPPROTO_UDP &&
           memcmp(ip + 24, dst, 16) == 0 && get16(ip + 40 + 2) == 9 &&
           memcmp(ip + 48, payload, sizeof payload) == 0;
}

#define ECHO_ID 0x1d0f
#define ECHO_SEQ 7

static bool is_echo_reply(const uint8_t *ip, size_t len, const void *arg)
{
    static const uint8_t from[4] = { 10, 77, 0, 1 }, to[4] = { 10, 77, 0, 2 };
    size_t hl;

    if (len < 20 || ip[0] >> 4 != 4 || ip[9] != IPPROTO_ICMP)
        return false;
    hl = (ip[0] & 0xf) * 4u;
    g_assert_cmpuint(len, >=, hl + 8 + sizeof payload);
    g_assert_cmpuint(inet_csum(ip, hl), ==, 0);
    g_assert_cmpmem(ip + 12, 4, from, 4);
    g_assert_cmpmem(ip + 16, 4, to, 4);
    g_assert_cmpuint(ip[hl], ==, 0); /* echo reply */
    g_assert_cmpuint(inet_csum(ip + hl, len - hl), ==, 0);
    g_assert_cmpuint(get16(ip + hl + 4), ==, ECHO_ID);
    g_assert_cmpuint(get16(ip + hl + 6), ==, ECHO_SEQ);
    g_assert_cmpmem(ip + hl + 8, sizeof payload, payload, sizeof payload);
    return true;
}

/* An ICMP echo request from 10.77.0.2 to 10.77.0.1; returns its length. */
static size_t build_echo_request(uint8_t *pkt)
{
    size_t len = 20 + 8 + sizeof payload;
    uint8_t *icmp = pkt + 20;

    memset(pkt, 0, len);
    pkt[0] = 0x45;
    put16(pkt + 2, (uint16_t)len);
    put16(pkt + 4, 0x4242);
    put16(pkt + 6, 0x4000); /* don't fragment */
    pkt[8] = 64;
    pkt[9] = IPPROTO_ICMP;
    memcpy(pkt + 12, (uint8_t[]){ 10, 77, 0, 2 }, 4);
    memcpy(pkt + 16, (uint8_t[]){ 10, 77, 0, 1 }, 4);
    put16(pkt + 10, inet_csum(pkt, 20));
    icmp[0] = 8; /* echo request */
    put16(icmp + 4, ECHO_ID);
    put16(icmp + 6, ECHO_SEQ);
    memcpy(icmp + 8, payload, sizeof payload);
    put16(icmp + 2, inet_csum(icmp, len - 20));
    return len;
}

static void send_udp(int family, const char *dst)
{
    struct sockaddr_storage ss = { 0 };
    socklen_t sl;
    int s = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(s, >=, 0);
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(9);
        g_assert_cmpint(inet_pton(AF_INET, dst, &sin->sin_addr), ==, 1);
        sl = sizeof *sin;
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(9);
        g_assert_cmpint(inet_pton(AF_INET6, dst, &sin6->sin6_addr), ==, 1);
        sl = sizeof *sin6;
    }
    g_assert_cmpint(sendto(s, payload, sizeof payload, 0, (struct sockaddr *)&ss, sl), ==,
                    sizeof payload);
    close(s);
}

static void check_fd_flags(int fd)
{
    g_assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    g_assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

static void test_tun(void)
{
    char ifname[IFNAMSIZ], other[IFNAMSIZ];
    ipop__addr a4 = v4(10, 77, 0, 1, 24), a6 = v6("fd77::1", 64);
    struct in_addr addr, mask;
    uint8_t buf[2048], pkt[128], dst4[4] = { 10, 77, 0, 2 }, dst6[16], mac[6];
    unsigned plen = 0;
    int fd, flags;
    size_t len;

    fd = ipop__tun_open("iptst%d", false, ifname);
    g_assert_cmpint(fd, >=, 0);
    g_assert_true(g_str_has_prefix(ifname, "iptst"));
    g_assert_cmpuint(if_nametoindex(ifname), >, 0);
    check_fd_flags(fd);
    /* The device is attached: a second open of the same name is refused. */
    g_assert_cmpint(ipop__tun_open(ifname, false, other), ==, -EBUSY);

    g_assert_cmpint(ipop__tun_set_mtu(ifname, 1400), ==, 0);
    g_assert_cmpint(dev_mtu(ifname), ==, 1400);
    g_assert_cmpint(ipop__tun_add_addr(ifname, &a4), ==, 0);
    g_assert_cmpint(ipop__tun_add_addr(ifname, &a4), ==, -EEXIST);
    g_assert_cmpint(ipop__tun_add_addr(ifname, &a6), ==, 0);
    g_assert_cmpint(ipop__tun_get_mac(ifname, mac), ==, -EOPNOTSUPP);
    g_assert_false(dev_up(ifname));
    g_assert_cmpint(ipop__tun_set_up(ifname, true), ==, 0);
    g_assert_true(dev_up(ifname));

    g_assert_true(dev_ipv4(ifname, &addr, &mask));
    g_assert_cmphex(ntohl(addr.s_addr), ==, 0x0a4d0001);
    g_assert_cmphex(ntohl(mask.s_addr), ==, 0xffffff00);
    flags = dev_ipv6_flags(ifname, "fd77::1", &plen);
    g_assert_cmpint(flags, >=, 0);
    g_assert_cmpuint(plen, ==, 64);
    g_assert_false(flags & IFA_F_TENTATIVE); /* NODAD made it usable */

    /* Host to device, IPv4 and IPv6. */
    send_udp(AF_INET, "10.77.0.2");
    len = read_match(fd, buf, sizeof buf, is_udp4_to, dst4);
    g_assert_cmpmem(buf + 12, 4, a4.bytes, 4);
    g_assert_cmpuint(inet_csum(buf, 20), ==, 0);
    g_assert_cmpuint(len, <=, 1400);
    g_assert_cmpint(inet_pton(AF_INET6, "fd77::2", dst6), ==, 1);
    send_udp(AF_INET6, "fd77::2");
    read_match(fd, buf, sizeof buf, is_udp6_to, dst6);
    g_assert_cmpmem(buf + 8, 16, a6.bytes, 16);

    /* Device to host: the kernel answers a ping written into the fd. */
    len = build_echo_request(pkt);
    g_assert_cmpint(write(fd, pkt, len), ==, (ssize_t)len);
    read_match(fd, buf, sizeof buf, is_echo_reply, NULL);

    g_assert_cmpint(ipop__tun_set_up(ifname, false), ==, 0);
    g_assert_false(dev_up(ifname));
    close(fd);
    g_assert_cmpuint(if_nametoindex(ifname), ==, 0);
}

/* The MAC of ifname from getifaddrs() (rtnetlink), not from the ioctl that
 * ipop__tun_get_mac() uses. */
static bool dev_mac(const char *ifname, uint8_t mac[6])
{
    struct ifaddrs *list, *i;
    bool found = false;

    g_assert_cmpint(getifaddrs(&list), ==, 0);
    for (i = list; i && !found; i = i->ifa_next) {
        const struct sockaddr_ll *ll = (const void *)i->ifa_addr;

        if (strcmp(i->ifa_name, ifname) != 0 || !ll || ll->sll_family != AF_PACKET ||
            ll->sll_halen != 6)
            continue;
        memcpy(mac, ll->sll_addr, 6);
        found = true;
    }
    freeifaddrs(list);
    return found;
}

static const uint8_t peer_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x78, 0x02 };
static const uint8_t peer_ip[4] = { 10, 78, 0, 2 }, own_ip[4] = { 10, 78, 0, 1 };

static bool is_arp_request(const uint8_t *f, size_t len, const void *own_mac)
{
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    const uint8_t *arp = f + 14;

    if (len < 14 + 28 || get16(f + 12) != 0x0806)
        return false;
    g_assert_cmpmem(f, 6, bcast, 6);
    g_assert_cmpmem(f + 6, 6, own_mac, 6);
    g_assert_cmpuint(get16(arp), ==, 1);      /* Ethernet */
    g_assert_cmphex(get16(arp + 2), ==, 0x0800);
    g_assert_cmpuint(arp[4], ==, 6);
    g_assert_cmpuint(arp[5], ==, 4);
    g_assert_cmpuint(get16(arp + 6), ==, 1);  /* request */
    g_assert_cmpmem(arp + 8, 6, own_mac, 6);
    g_assert_cmpmem(arp + 14, 4, own_ip, 4);
    g_assert_cmpmem(arp + 24, 4, peer_ip, 4);
    return true;
}

static bool is_udp_frame_to_peer(const uint8_t *f, size_t len, const void *arg)
{
    return len >= 14 && get16(f + 12) == 0x0800 && memcmp(f, peer_mac, 6) == 0 &&
           is_udp4_to(f + 14, len - 14, peer_ip);
}

static size_t build_arp_reply(uint8_t *f, const uint8_t own_mac[6])
{
    uint8_t *arp = f + 14;

    memcpy(f, own_mac, 6);
    memcpy(f + 6, peer_mac, 6);
    put16(f + 12, 0x0806);
    put16(arp, 1);
    put16(arp + 2, 0x0800);
    arp[4] = 6;
    arp[5] = 4;
    put16(arp + 6, 2); /* reply */
    memcpy(arp + 8, peer_mac, 6);
    memcpy(arp + 14, peer_ip, 4);
    memcpy(arp + 18, own_mac, 6);
    memcpy(arp + 24, own_ip, 4);
    return 14 + 28;
}

static void test_tap(void)
{
    static const uint8_t zero[6];
    char ifname[IFNAMSIZ];
    ipop__addr a4 = v4(10, 78, 0, 1, 24), a6 = v6("fd78::1", 64);
    uint8_t mac[6], seen[6], buf[2048], frame[64];
    struct in_addr addr, mask;
    unsigned plen = 0;
    size_t len;
    int fd, flags;

    fd = ipop__tun_open("iptap%d", true, ifname);
    g_assert_cmpint(fd, >=, 0);
    g_assert_true(g_str_has_prefix(ifname, "iptap"));
    check_fd_flags(fd);
    g_assert_cmpint(ipop__tun_get_mac(ifname, mac), ==, 0);
    g_assert_true(memcmp(mac, zero, 6) != 0);
    g_assert_false(mac[0] & 1);
    g_assert_true(dev_mac(ifname, seen));
    g_assert_cmpmem(mac, 6, seen, 6);

    g_assert_cmpint(ipop__tun_set_mtu(ifname, 1400), ==, 0);
    g_assert_cmpint(dev_mtu(ifname), ==, 1400);
    g_assert_cmpint(ipop__tun_add_addr(ifname, &a4), ==, 0);
    g_assert_cmpint(ipop__tun_add_addr(ifname, &a6), ==, 0);
    g_assert_cmpint(ipop__tun_set_up(ifname, true), ==, 0);
    g_assert_true(dev_up(ifname));
    g_assert_true(dev_ipv4(ifname, &addr, &mask));
    g_assert_cmphex(ntohl(addr.s_addr), ==, 0x0a4e0001);
    g_assert_cmphex(ntohl(mask.s_addr), ==, 0xffffff00);
    /* Without NODAD, duplicate address detection would keep it tentative
     * (unusable) for a second or more. */
    flags = dev_ipv6_flags(ifname, "fd78::1", &plen);
    g_assert_cmpint(flags, >=, 0);
    g_assert_cmpuint(plen, ==, 64);
    g_assert_false(flags & IFA_F_TENTATIVE);

    /* The kernel asks who has 10.78.0.2 before it can send there... */
    send_udp(AF_INET, "10.78.0.2");
    read_match(fd, buf, sizeof buf, is_arp_request, mac);
    /* ...and sends the waiting datagram once the answer is written in. */
    len = build_arp_reply(frame, mac);
    g_assert_cmpint(write(fd, frame, len), ==, (ssize_t)len);
    read_match(fd, buf, sizeof buf, is_udp_frame_to_peer, NULL);
    g_assert_cmpmem(buf + 6, 6, mac, 6);

    close(fd);
    g_assert_cmpuint(if_nametoindex(ifname), ==, 0);
}

static void test_kernel_name(void)
{
    char ifname[IFNAMSIZ], ifname2[IFNAMSIZ];
    int fd = ipop__tun_open(NULL, false, ifname);
    int fd2 = ipop__tun_open("", true, ifname2);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fd2, >=, 0);
    g_assert_true(g_str_has_prefix(ifname, "ipop"));
    g_assert_true(g_str_has_prefix(ifname2, "ipop"));
    g_assert_cmpstr(ifname, !=, ifname2);
    g_assert_cmpuint(if_nametoindex(ifname), >, 0);
    g_assert_cmpuint(if_nametoindex(ifname2), >, 0);
    close(fd);
    close(fd2);
    g_assert_cmpuint(if_nametoindex(ifname), ==, 0);
}

/* Addresses move: the old one is removed, the new one added, and removing it
 * twice is an error (what a GroupVPN member does after an address conflict). */
static void test_del_addr(void)
{
    char name[IFNAMSIZ];
    ipop__addr a4, b4, a6;
    struct in_addr addr, mask;
    unsigned plen = 0;
    int fd = ipop__tun_open("iptstdel%d", false, name);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ipop__addr_parse("10.79.0.1/24", &a4), ==, 0);
    g_assert_cmpint(ipop__addr_parse("10.79.0.2/24", &b4), ==, 0);
    g_assert_cmpint(ipop__addr_parse("fd79::1/64", &a6), ==, 0);
    g_assert_cmpint(ipop__tun_add_addr(name, &a4), ==, 0);
    g_assert_cmpint(ipop__tun_add_addr(name, &a6), ==, 0);
    g_assert_cmpint(ipop__tun_set_up(name, true), ==, 0);
    /* (removing a primary address removes the secondaries of its subnet
     * too: the old one goes first) */
    g_assert_cmpint(ipop__tun_del_addr(name, &a4), ==, 0);
    g_assert_false(dev_ipv4(name, &addr, &mask));
    g_assert_cmpint(ipop__tun_add_addr(name, &b4), ==, 0);
    g_assert_true(dev_ipv4(name, &addr, &mask));
    g_assert_cmpstr(inet_ntoa(addr), ==, "10.79.0.2");
    g_assert_cmpint(ipop__tun_del_addr(name, &a4), <, 0);
    g_assert_cmpint(dev_ipv6_flags(name, "fd79::1", &plen), >=, 0);
    g_assert_cmpint(ipop__tun_del_addr(name, &a6), ==, 0);
    g_assert_cmpint(dev_ipv6_flags(name, "fd79::1", &plen), ==, -1);
    g_assert_cmpint(ipop__tun_del_addr("nosuchdev0", &b4), <, 0);
    close(fd);
}

/* Whether the kernel has a route to dst: a UDP connect() needs one. */
static bool routed(int family, const char *dst)
{
    struct sockaddr_storage ss = { 0 };
    socklen_t sl;
    int s = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

    g_assert_cmpint(s, >=, 0);
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(9);
        g_assert_cmpint(inet_pton(AF_INET, dst, &sin->sin_addr), ==, 1);
        sl = sizeof *sin;
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(9);
        g_assert_cmpint(inet_pton(AF_INET6, dst, &sin6->sin6_addr), ==, 1);
        sl = sizeof *sin6;
    }
    r = connect(s, (struct sockaddr *)&ss, sl);
    if (r < 0)
        g_assert_cmpint(errno, ==, ENETUNREACH);
    close(s);
    return r == 0;
}

/* A prefix routed into the device (what a SocialVPN's social.subnet
 * needs): the host's packets to it come out of the fd.  Host bits of the
 * prefix are ignored, and a route that exists already is no error. */
static void test_route(void)
{
    char name[IFNAMSIZ];
    ipop__addr a4 = v4(10, 76, 0, 1, 24), r4 = v4(10, 75, 3, 9, 24), r6 = v6("fd75::9", 64);
    ipop__addr a6 = v6("fd76::1", 64), bad = r4;
    uint8_t buf[2048], dst4[4] = { 10, 75, 3, 7 }, dst6[16];
    int fd = ipop__tun_open("iptstrt%d", false, name);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ipop__tun_add_addr(name, &a4), ==, 0);
    g_assert_cmpint(ipop__tun_add_addr(name, &a6), ==, 0);
    g_assert_cmpint(ipop__tun_set_up(name, true), ==, 0);
    g_assert_false(routed(AF_INET, "10.75.3.7"));
    g_assert_false(routed(AF_INET6, "fd75::7"));

    g_assert_cmpint(ipop__tun_add_route(name, &r4), ==, 0);
    g_assert_cmpint(ipop__tun_add_route(name, &r4), ==, 0);
    g_assert_cmpint(ipop__tun_add_route(name, &r6), ==, 0);
    g_assert_true(routed(AF_INET, "10.75.3.7"));
    g_assert_false(routed(AF_INET, "10.75.4.7"));
    send_udp(AF_INET, "10.75.3.7");
    read_match(fd, buf, sizeof buf, is_udp4_to, dst4);
    g_assert_cmpint(inet_pton(AF_INET6, "fd75::7", dst6), ==, 1);
    send_udp(AF_INET6, "fd75::7");
    read_match(fd, buf, sizeof buf, is_udp6_to, dst6);

    g_assert_cmpint(ipop__tun_add_route("iptst-none", &r4), ==, -ENODEV);
    g_assert_cmpint(ipop__tun_add_route(NULL, &r4), ==, -EINVAL);
    g_assert_cmpint(ipop__tun_add_route(name, NULL), ==, -EINVAL);
    bad.prefix = 0;
    g_assert_cmpint(ipop__tun_add_route(name, &bad), ==, -EINVAL);
    bad.prefix = 33;
    g_assert_cmpint(ipop__tun_add_route(name, &bad), ==, -EINVAL);
    close(fd);
    /* The route went with the device. */
    g_assert_false(routed(AF_INET, "10.75.3.7"));
}

static void test_errors(void)
{
    static const char *no_such = "iptst-none";
    char ifname[IFNAMSIZ];
    char name16[IFNAMSIZ + 1];
    ipop__addr a4 = v4(10, 79, 0, 1, 24), bad = a4;
    uint8_t mac[6];

    memset(name16, 'x', IFNAMSIZ);
    name16[IFNAMSIZ] = '\0';
    g_assert_cmpint(ipop__tun_open("a-name-longer-than-ifnamsiz", false, ifname), ==, -EINVAL);
    g_assert_cmpint(ipop__tun_open(name16, true, ifname), ==, -EINVAL);
    g_assert_cmpint(ipop__tun_open("iptst%d", false, NULL), ==, -EINVAL);
    g_assert_cmpint(ipop__tun_open("bad/name", false, ifname), ==, -EINVAL);

    g_assert_cmpint(ipop__tun_set_mtu(no_such, 1400), ==, -ENODEV);
    g_assert_cmpint(ipop__tun_set_mtu(NULL, 1400), ==, -EINVAL);
    g_assert_cmpint(ipop__tun_set_mtu("", 1400), ==, -EINVAL);
    g_assert_cmpint(ipop__tun_set_mtu(name16, 1400), ==, -EINVAL);
    g_assert_cmpint(ipop__tun_set_mtu("lo", 0), ==, -EINVAL);
    g_assert_cmpint(ipop__tun_set_mtu("lo", 67), ==, -EINVAL);
    g_assert_cmpint(ipop__tun_set_mtu("lo", 65536), ==, -EINVAL);

    g_assert_cmpint(ipop__tun_add_addr(no_such, &a4), ==, -ENODEV);
    g_assert_cmpint(ipop__tun_add_addr("lo", NULL), ==, -EINVAL);
    g_assert_cmpint(ipop__tun_add_addr(NULL, &a4), ==, -EINVAL);
    bad.family = 0;
    g_assert_cmpint(ipop__tun_add_addr("lo", &bad), ==, -EINVAL);
    bad = a4;
    bad.prefix = 33;
    g_assert_cmpint(ipop__tun_add_addr("lo", &bad), ==, -EINVAL);
    bad.prefix = 0;
    g_assert_cmpint(ipop__tun_add_addr("lo", &bad), ==, -EINVAL);
    bad = v6("fd79::1", 129);
    g_assert_cmpint(ipop__tun_add_addr("lo", &bad), ==, -EINVAL);

    g_assert_cmpint(ipop__tun_set_up(no_such, true), ==, -ENODEV);
    g_assert_cmpint(ipop__tun_set_up(NULL, true), ==, -EINVAL);
    g_assert_cmpint(ipop__tun_get_mac(no_such, mac), ==, -ENODEV);
    g_assert_cmpint(ipop__tun_get_mac("lo", NULL), ==, -EINVAL);
    g_assert_cmpint(ipop__tun_get_mac(NULL, mac), ==, -EINVAL);
}

/* Reads the monitor until a change of `want` (added or not) arrives, 5 s at most. */
static bool saw(int fd, const ipop__addr *want, bool added)
{
    gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    uint8_t buf[8192] __attribute__((aligned(8)));
    ipop__addr_change ch[16];

    while (g_get_monotonic_time() < end) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        size_t ok = 0;
        if (n <= 0) {
            g_usleep(10000);
            continue;
        }
        ipop__rtnl_parse_addrs(buf, (size_t)n, ch, G_N_ELEMENTS(ch), &ok);
        for (size_t i = 0; i < ok; i++)
            if (ch[i].added == added && ipop__addr_equal_host(&ch[i].addr, want))
                return true;
    }
    return false;
}

/* The address monitor (lib/rtnl.c) sees a real address come and go. */
static void test_address_monitor(void)
{
    char name[IFNAMSIZ];
    ipop__addr a;
    int fd, tun;

    fd = ipop__rtnl_monitor_open();
    g_assert_cmpint(fd, >=, 0);
    tun = ipop__tun_open("netmon0", false, name);
    g_assert_cmpint(tun, >=, 0);
    g_assert_cmpint(ipop__addr_parse("10.77.0.1/24", &a), ==, 0);
    g_assert_cmpint(ipop__tun_add_addr(name, &a), ==, 0);
    g_assert_true(saw(fd, &a, true));
    g_assert_cmpint(ipop__tun_del_addr(name, &a), ==, 0);
    g_assert_true(saw(fd, &a, false));
    g_assert_cmpint(ipop__addr_parse("fd77::1/64", &a), ==, 0);
    g_assert_cmpint(ipop__tun_add_addr(name, &a), ==, 0);
    g_assert_true(saw(fd, &a, true));
    close(tun);
    close(fd);
}

int main(int argc, char **argv)
{
    test_require_root("creates TUN/TAP devices and a network namespace");
    /* A namespace of our own: nothing else sees the devices, and nothing
     * else's addresses or routes get in the way. */
    if (unshare(CLONE_NEWNET) < 0) {
        printf("SKIP: cannot create a network namespace: %s\n", strerror(errno));
        return TEST_SKIP;
    }
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tun/errors", test_errors);
    g_test_add_func("/tun/tun", test_tun);
    g_test_add_func("/tun/tap", test_tap);
    g_test_add_func("/tun/kernel-name", test_kernel_name);
    g_test_add_func("/tun/del-addr", test_del_addr);
    g_test_add_func("/tun/route", test_route);
    g_test_add_func("/tun/address-monitor", test_address_monitor);
    return g_test_run();
}
