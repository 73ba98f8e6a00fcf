/* SPDX-License-Identifier: MIT */
/* Linux TUN/TAP.  The device comes from /dev/net/tun; its MTU, addresses,
 * routes and state are set over rtnetlink: one request per call, then its
 * ACK, whose error field is the call's result. */
#include "tun-linux.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define NL_REQ_MAX 256
#define NL_ACK_TIMEOUT_S 5

/* A request under construction; every part starts NLMSG_ALIGNed. */
typedef struct nl_req {
    union {
        struct nlmsghdr hdr;
        uint8_t buf[NL_REQ_MAX];
    } u;
    bool overflow;
} nl_req;

static int check_name(const char *ifname)
{
    size_t n;

    if (!ifname)
        return -EINVAL;
    n = strnlen(ifname, IFNAMSIZ);
    return n == 0 || n >= IFNAMSIZ ? -EINVAL : 0;
}

static int ifindex_of(const char *ifname)
{
    unsigned idx;
    int r = check_name(ifname);

    if (r < 0)
        return r;
    idx = if_nametoindex(ifname);
    if (idx == 0)
        return errno > 0 ? -errno : -ENODEV;
    return idx > INT_MAX ? -ERANGE : (int)idx;
}

static int open_dev(const char *name, short flags, char ifname[IFNAMSIZ])
{
    struct ifreq ifr = { 0 };
    int fd;

    if (!ifname)
        return -EINVAL;
    if (!name || !*name)
        name = "ipop%d";
    else if (check_name(name) < 0)
        return -EINVAL;
    memcpy(ifr.ifr_name, name, strlen(name) + 1);
    ifr.ifr_flags = flags | IFF_NO_PI;

    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int r = -errno;

        close(fd);
        return r;
    }
    memcpy(ifname, ifr.ifr_name, IFNAMSIZ);
    ifname[IFNAMSIZ - 1] = '\0';
    return fd;
}

int ipop__tun_open(const char *name, bool tap, char ifname[IFNAMSIZ])
{
    return open_dev(name, tap ? IFF_TAP : IFF_TUN, ifname);
}

int ipop__tun_open_vnet(const char *name, bool tap, char ifname[IFNAMSIZ])
{
    int fd = open_dev(name, (tap ? IFF_TAP : IFF_TUN) | IFF_VNET_HDR, ifname), size = sizeof(struct virtio_net_hdr);

    /* 10 bytes is the kernel's default; say so, in case that ever moves. */
    if (fd >= 0 && ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) {
        int r = -errno;

        close(fd);
        return r;
    }
    return fd;
}

int ipop__tun_set_offload(int fd)
{
    /* Checksums left to us, TCP segmentation for IPv4 and IPv6 (with ECN's
     * CWR); no UFO or USO: UDP stays one packet per read. */
    unsigned flags = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;

    return ioctl(fd, TUNSETOFFLOAD, flags) < 0 ? -errno : 0;
}

static void nl_begin(nl_req *m, uint16_t type, uint16_t flags)
{
    memset(m, 0, sizeof *m);
    m->u.hdr.nlmsg_len = NLMSG_HDRLEN;
    m->u.hdr.nlmsg_type = type;
    m->u.hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
}

/* Appends len zeroed bytes (padded to alignment); NULL when full. */
static void *nl_append(nl_req *m, size_t len)
{
    size_t off = NLMSG_ALIGN(m->u.hdr.nlmsg_len);

    if (m->overflow || NLMSG_ALIGN(len) > sizeof m->u.buf - off) {
        m->overflow = true;
        return NULL;
    }
    m->u.hdr.nlmsg_len = off + NLMSG_ALIGN(len);
    return m->u.buf + off;
}

static void nl_attr(nl_req *m, uint16_t type, const void *data, size_t len)
{
    struct rtattr *rta = nl_append(m, RTA_LENGTH(len));

    if (!rta)
        return;
    rta->rta_type = type;
    rta->rta_len = RTA_LENGTH(len);
    memcpy(RTA_DATA(rta), data, len);
}

/* Looks for the answer to request seq among the messages in buf (len
 * bytes, aligned as a struct nlmsghdr): its error, 0 for an ACK; 1 when buf
 * does not hold it. */
static int find_ack(const uint8_t *buf, size_t len, uint32_t seq)
{
    size_t off = 0;

    while (off + NLMSG_HDRLEN <= len) {
        const struct nlmsghdr *h = (const struct nlmsghdr *)(buf + off);
        const struct nlmsgerr *e;

        if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > len - off)
            return 1;
        if (h->nlmsg_seq == seq && h->nlmsg_type == NLMSG_ERROR) {
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof *e))
                return -EBADMSG;
            e = NLMSG_DATA(h);
            return e->error > 0 ? -e->error : e->error;
        }
        off += NLMSG_ALIGN(h->nlmsg_len);
    }
    return 1;
}

/* The error of the kernel's answer to request seq: 0 for an ACK. */
static int nl_wait_ack(int fd, uint32_t seq)
{
    union {
        struct nlmsghdr hdr;
        uint8_t buf[8192];
    } u;
    int r = 1;

    do {
        struct sockaddr_nl from;
        socklen_t fromlen = sizeof from;
        ssize_t n = recvfrom(fd, u.buf, sizeof u.buf, MSG_TRUNC,
                             (struct sockaddr *)&from, &fromlen);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
        if ((size_t)n > sizeof u.buf)
            return -EMSGSIZE;
        if (fromlen != sizeof from || from.nl_pid != 0)
            continue; /* only the kernel answers */
        r = find_ack(u.buf, (size_t)n, seq);
    } while (r > 0);
    return r;
}

static int nl_talk(nl_req *m)
{
    static uint32_t next_seq;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    struct timeval tv = { .tv_sec = NL_ACK_TIMEOUT_S };
    uint32_t seq;
    int fd, r;

    if (m->overflow)
        return -ENOBUFS;
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return -errno;
    seq = __atomic_add_fetch(&next_seq, 1, __ATOMIC_RELAXED);
    m->u.hdr.nlmsg_seq = seq;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        r = -errno;
        goto out;
    }
    if (sendto(fd, m->u.buf, m->u.hdr.nlmsg_len, 0,
               (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        r = -errno;
        goto out;
    }
    r = nl_wait_ack(fd, seq);
out:
    close(fd);
    return r;
}

/* RTM_NEWLINK on an existing device changes it (ip link set). */
static struct ifinfomsg *link_req(nl_req *m, int idx)
{
    struct ifinfomsg *ifi;

    nl_begin(m, RTM_NEWLINK, 0);
    ifi = nl_append(m, sizeof *ifi);
    if (ifi) {
        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = idx;
    }
    return ifi;
}

int ipop__tun_set_mtu(const char *ifname, int mtu)
{
    nl_req m;
    uint32_t v = (uint32_t)mtu;
    int idx;

    if (mtu < 68 || mtu > 65535) /* IPv4's minimum, the largest IP packet */
        return -EINVAL;
    idx = ifindex_of(ifname);
    if (idx < 0)
        return idx;
    link_req(&m, idx);
    nl_attr(&m, IFLA_MTU, &v, sizeof v);
    return nl_talk(&m);
}

int ipop__tun_set_up(const char *ifname, bool up)
{
    struct ifinfomsg *ifi;
    nl_req m;
    int idx = ifindex_of(ifname);

    if (idx < 0)
        return idx;
    ifi = link_req(&m, idx);
    if (ifi) {
        ifi->ifi_flags = up ? IFF_UP : 0;
        ifi->ifi_change = IFF_UP;
    }
    return nl_talk(&m);
}

/* Address length of a, or 0 when a is not a usable interface address.
 * Prefix 0 is refused: it would route everything into the device, and it
 * is what a forgotten field looks like. */
static size_t addr_len(const ipop__addr *a)
{
    if (!a)
        return 0;
    if (a->family == AF_INET && a->prefix >= 1 && a->prefix <= 32)
        return 4;
    if (a->family == AF_INET6 && a->prefix >= 1 && a->prefix <= 128)
        return 16;
    return 0;
}

/* Starts an RTM_NEWADDR or RTM_DELADDR request for `a` on `ifname`.
 * Returns 0 or -errno. */
static int addr_begin(nl_req *m, uint16_t type, uint16_t flags, const char *ifname, const ipop__addr *a)
{
    struct ifaddrmsg *ifa;
    size_t len = addr_len(a);
    int idx;

    if (len == 0)
        return -EINVAL;
    idx = ifindex_of(ifname);
    if (idx < 0)
        return idx;
    nl_begin(m, type, flags);
    ifa = nl_append(m, sizeof *ifa);
    if (ifa) {
        ifa->ifa_family = (uint8_t)a->family;
        ifa->ifa_prefixlen = a->prefix;
        ifa->ifa_scope = RT_SCOPE_UNIVERSE;
        ifa->ifa_index = (uint32_t)idx;
        /* No duplicate address detection: usable at once, not tentative. */
        ifa->ifa_flags = a->family == AF_INET6 ? IFA_F_NODAD : 0;
    }
    nl_attr(m, IFA_LOCAL, a->bytes, len);
    return 0;
}

int ipop__tun_add_addr(const char *ifname, const ipop__addr *a)
{
    nl_req m;
    int r = addr_begin(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifname, a);

    if (r < 0)
        return r;
    nl_attr(&m, IFA_ADDRESS, a->bytes, addr_len(a));
    if (a->family == AF_INET && a->prefix < 31) {
        uint8_t brd[4];
        uint32_t host = UINT32_MAX >> a->prefix;

        for (int i = 0; i < 4; i++)
            brd[i] = a->bytes[i] | (uint8_t)(host >> (24 - 8 * i));
        nl_attr(&m, IFA_BROADCAST, brd, sizeof brd);
    }
    return nl_talk(&m);
}

int ipop__tun_del_addr(const char *ifname, const ipop__addr *a)
{
    nl_req m;
    int r = addr_begin(&m, RTM_DELADDR, 0, ifname, a);

    return r < 0 ? r : nl_talk(&m);
}

int ipop__tun_add_route(const char *ifname, const ipop__addr *prefix)
{
    struct rtmsg *rt;
    uint8_t dst[16];
    uint32_t oif;
    size_t len = addr_len(prefix);
    nl_req m;
    int idx, r;

    if (len == 0)
        return -EINVAL;
    idx = ifindex_of(ifname);
    if (idx < 0)
        return idx;
    /* The kernel refuses a destination with host bits set. */
    memset(dst, 0, sizeof dst);
    for (unsigned i = 0; i < len; i++) {
        unsigned bits = prefix->prefix > 8 * i ? prefix->prefix - 8 * i : 0;

        dst[i] = bits >= 8 ? prefix->bytes[i] : (uint8_t)(prefix->bytes[i] & (0xff00 >> bits));
    }
    oif = (uint32_t)idx;
    nl_begin(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
    rt = nl_append(&m, sizeof *rt);
    if (rt) {
        rt->rtm_family = (uint8_t)prefix->family;
        rt->rtm_dst_len = prefix->prefix;
        rt->rtm_table = RT_TABLE_MAIN;
        rt->rtm_protocol = RTPROT_BOOT;
        rt->rtm_scope = RT_SCOPE_LINK;
        rt->rtm_type = RTN_UNICAST;
    }
    nl_attr(&m, RTA_DST, dst, len);
    nl_attr(&m, RTA_OIF, &oif, sizeof oif);
    r = nl_talk(&m);
    return r == -EEXIST ? 0 : r;
}

int ipop__tun_get_mac(const char *ifname, uint8_t mac[6])
{
    struct ifreq ifr = { 0 };
    int fd, r;

    if (!mac || check_name(ifname) < 0)
        return -EINVAL;
    memcpy(ifr.ifr_name, ifname, strlen(ifname) + 1);
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
        r = -errno;
    else if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
        r = -EOPNOTSUPP; /* a TUN device has no link-layer address */
    else {
        memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
        r = 0;
    }
    close(fd);
    return r;
}
