/* SPDX-License-Identifier: MIT */
/* rtnetlink through libmnl (rtnl.h): device requests, each on a socket of
 * its own and answered by an ACK, and the address watch with its parser. */
#include "rtnl.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define REQ_MAX 256
#define ACK_TIMEOUT_S 5
/* an answer to one request: its ACK, or an error quoting the request */
#define ANS_MAX 8192
/* An address message is ~80 bytes (the address twice, its label, cache
 * info, flags): larger ones are not what the kernel sends. */
#define ADDR_MSG_MAX 1024

/* ---- requests ---- */

typedef struct req {
    union {
        struct nlmsghdr h;
        uint8_t buf[REQ_MAX];
    } u;
    bool full; /* an attribute did not fit */
} req;

static struct nlmsghdr *req_begin(req *m, uint16_t type, uint16_t flags)
{
    struct nlmsghdr *nlh;

    memset(m, 0, sizeof(*m));
    nlh = mnl_nlmsg_put_header(m->u.buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    return nlh;
}

static void req_attr(req *m, uint16_t type, const void *data, size_t len)
{
    if (!mnl_attr_put_check(&m->u.h, sizeof(m->u.buf), type, len, data))
        m->full = true;
}

/* Sends the request and waits for its answer: 0 for an ACK, the kernel's
 * error otherwise. */
static int talk(req *m)
{
    static uint32_t next_seq;
    union {
        struct nlmsghdr h;
        uint8_t buf[ANS_MAX];
    } ans;
    struct timeval tv = { .tv_sec = ACK_TIMEOUT_S };
    struct mnl_socket *nl;
    uint32_t seq, portid;
    int r;

    if (m->full)
        return -ENOBUFS;
    nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!nl)
        return -errno;
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
        setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
        r = -errno;
        goto out;
    }
    portid = mnl_socket_get_portid(nl);
    seq = __atomic_add_fetch(&next_seq, 1, __ATOMIC_RELAXED);
    m->u.h.nlmsg_seq = seq;
    if (mnl_socket_sendto(nl, m->u.buf, m->u.h.nlmsg_len) < 0) {
        r = -errno;
        goto out;
    }
    do {
        ssize_t n = mnl_socket_recvfrom(nl, ans.buf, sizeof(ans.buf));

        if (n < 0 && errno == EINTR) {
            r = MNL_CB_OK;
            continue;
        }
        if (n < 0) {
            r = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
            goto out;
        }
        /* MNL_CB_STOP at the ACK; an error answer sets errno */
        r = mnl_cb_run(ans.buf, (size_t)n, seq, portid, NULL, NULL);
        if (r == MNL_CB_ERROR) {
            r = errno ? -errno : -EBADMSG;
            goto out;
        }
    } while (r == MNL_CB_OK);
    r = 0;
out:
    mnl_socket_close(nl);
    return r;
}

/* RTM_NEWLINK on an existing device changes it (ip link set). */
static struct ifinfomsg *link_req(req *m, unsigned ifindex)
{
    struct nlmsghdr *nlh = req_begin(m, RTM_NEWLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = (int)ifindex;
    return ifi;
}

int ipop__rtnl_set_mtu(unsigned ifindex, int mtu)
{
    uint32_t v = (uint32_t)mtu;
    req m;

    if (ifindex == 0 || mtu < 68 || mtu > 65535) /* IPv4's minimum, the largest IP packet */
        return -EINVAL;
    link_req(&m, ifindex);
    req_attr(&m, IFLA_MTU, &v, sizeof(v));
    return talk(&m);
}

int ipop__rtnl_set_up(unsigned ifindex, bool up)
{
    struct ifinfomsg *ifi;
    req m;

    if (ifindex == 0)
        return -EINVAL;
    ifi = link_req(&m, ifindex);
    ifi->ifi_flags = up ? IFF_UP : 0;
    ifi->ifi_change = IFF_UP;
    return talk(&m);
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

/* An RTM_NEWADDR or RTM_DELADDR request for `a`, with IFA_LOCAL. */
static int addr_req(req *m, uint16_t type, uint16_t flags, unsigned ifindex, const ipop__addr *a)
{
    struct ifaddrmsg *ifa;
    size_t len = addr_len(a);

    if (len == 0 || ifindex == 0)
        return -EINVAL;
    ifa = mnl_nlmsg_put_extra_header(req_begin(m, type, flags), sizeof(*ifa));
    ifa->ifa_family = (uint8_t)a->family;
    ifa->ifa_prefixlen = a->prefix;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = ifindex;
    /* No duplicate address detection: usable at once, not tentative. */
    ifa->ifa_flags = a->family == AF_INET6 ? IFA_F_NODAD : 0;
    req_attr(m, IFA_LOCAL, a->bytes, len);
    return 0;
}

int ipop__rtnl_add_addr(unsigned ifindex, const ipop__addr *a)
{
    req m;
    int r = addr_req(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, a);

    if (r < 0)
        return r;
    req_attr(&m, IFA_ADDRESS, a->bytes, addr_len(a));
    if (a->family == AF_INET && a->prefix < 31) {
        uint8_t brd[4];
        uint32_t host = UINT32_MAX >> a->prefix;

        for (int i = 0; i < 4; i++)
            brd[i] = a->bytes[i] | (uint8_t)(host >> (24 - 8 * i));
        req_attr(&m, IFA_BROADCAST, brd, sizeof(brd));
    }
    return talk(&m);
}

int ipop__rtnl_del_addr(unsigned ifindex, const ipop__addr *a)
{
    req m;
    int r = addr_req(&m, RTM_DELADDR, 0, ifindex, a);

    return r < 0 ? r : talk(&m);
}

/* RTM_NEWROUTE or RTM_DELROUTE of prefix through the device, main table. */
static int route_req(unsigned ifindex, const ipop__addr *prefix, uint16_t type, uint16_t flags)
{
    struct rtmsg *rt;
    uint8_t dst[16] = { 0 };
    uint32_t oif = ifindex;
    size_t len = addr_len(prefix);
    req m;

    if (len == 0 || ifindex == 0)
        return -EINVAL;
    /* The kernel refuses a destination with host bits set. */
    for (unsigned i = 0; i < len; i++) {
        unsigned bits = prefix->prefix > 8 * i ? prefix->prefix - 8 * i : 0;

        dst[i] = bits >= 8 ? prefix->bytes[i] : (uint8_t)(prefix->bytes[i] & (0xff00 >> bits));
    }
    rt = mnl_nlmsg_put_extra_header(req_begin(&m, type, flags), sizeof(*rt));
    rt->rtm_family = (uint8_t)prefix->family;
    rt->rtm_dst_len = prefix->prefix;
    rt->rtm_table = RT_TABLE_MAIN;
    rt->rtm_protocol = RTPROT_BOOT;
    rt->rtm_scope = type == RTM_NEWROUTE ? RT_SCOPE_LINK : RT_SCOPE_NOWHERE; /* a delete matches any scope */
    rt->rtm_type = RTN_UNICAST;
    req_attr(&m, RTA_DST, dst, len);
    req_attr(&m, RTA_OIF, &oif, sizeof(oif));
    return talk(&m);
}

int ipop__rtnl_add_route(unsigned ifindex, const ipop__addr *prefix)
{
    int r = route_req(ifindex, prefix, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);

    return r == -EEXIST ? 0 : r;
}

int ipop__rtnl_del_route(unsigned ifindex, const ipop__addr *prefix)
{
    return route_req(ifindex, prefix, RTM_DELROUTE, 0);
}

/* ---- the address watch ---- */

/* A plain socket bound to the address groups: the caller polls it and
 * closes it, and no request ever goes out on it. */
int ipop__rtnl_monitor_open(void)
{
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR };
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);

    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* What the attributes of one address message gave. */
typedef struct addr_attrs {
    size_t alen;                 /* the family's address length */
    const uint8_t *local, *address;
    const uint8_t *tail;         /* the message's end */
    const uint8_t *end;          /* past the last attribute read */
    bool bad;
} addr_attrs;

static int on_addr_attr(const struct nlattr *attr, void *data)
{
    addr_attrs *at = data;
    uint16_t type = mnl_attr_get_type(attr);

    /* libmnl lets an attribute reach into the message's padding */
    if ((const uint8_t *)attr + mnl_attr_get_len(attr) > at->tail) {
        at->bad = true;
        return MNL_CB_ERROR;
    }
    at->end = (const uint8_t *)attr + MNL_ALIGN(mnl_attr_get_len(attr));
    if (type != IFA_LOCAL && type != IFA_ADDRESS)
        return MNL_CB_OK;
    if (mnl_attr_get_payload_len(attr) != at->alen) {
        at->bad = true;
        return MNL_CB_ERROR;
    }
    if (type == IFA_LOCAL)
        at->local = mnl_attr_get_payload(attr);
    else
        at->address = mnl_attr_get_payload(attr);
    return MNL_CB_OK;
}

/* One RTM_NEWADDR/RTM_DELADDR message (aligned, its length checked).
 * Returns 1 with *c filled, 0 when it names no address of a known family,
 * -EINVAL when malformed. */
static int parse_addr_msg(const struct nlmsghdr *h, ipop__addr_change *c)
{
    const struct ifaddrmsg *ifa;
    addr_attrs at = { .tail = (const uint8_t *)h + h->nlmsg_len };

    if (mnl_nlmsg_get_payload_len(h) < sizeof(*ifa))
        return -EINVAL;
    ifa = mnl_nlmsg_get_payload(h);
    if (ifa->ifa_family == AF_INET)
        at.alen = 4;
    else if (ifa->ifa_family == AF_INET6)
        at.alen = 16;
    else
        return 0;
    if (ifa->ifa_prefixlen > at.alen * 8)
        return -EINVAL;
    at.end = mnl_nlmsg_get_payload_offset(h, sizeof(*ifa));
    if (mnl_attr_parse(h, sizeof(*ifa), on_addr_attr, &at) == MNL_CB_ERROR || at.bad)
        return -EINVAL;
    /* libmnl stops quietly at an attribute that runs past the message:
     * anything left unread is a malformed message, not the end of one. */
    if (at.end < at.tail)
        return -EINVAL;
    /* IFA_LOCAL is the address itself on point-to-point links. */
    if (!at.local)
        at.local = at.address;
    if (!at.local)
        return 0;
    memset(c, 0, sizeof(*c));
    c->added = h->nlmsg_type == RTM_NEWADDR;
    c->ifindex = ifa->ifa_index;
    c->addr.family = ifa->ifa_family;
    c->addr.prefix = ifa->ifa_prefixlen;
    memcpy(c->addr.bytes, at.local, at.alen);
    return 1;
}

int ipop__rtnl_parse_addrs(const uint8_t *buf, size_t len, ipop__addr_change *out, size_t max, size_t *n_ok)
{
    size_t n = 0;
    int r = 0;

    while (len > 0) {
        /* an aligned copy: the buffer may start anywhere */
        union {
            struct nlmsghdr h;
            uint8_t raw[ADDR_MSG_MAX];
        } m;

        /* the lengths checked here: libmnl's mnl_nlmsg_ok() compares them
         * as int, and a length past 2 GiB would pass it */
        if (len < sizeof(m.h)) {
            r = -EINVAL;
            break;
        }
        memcpy(&m.h, buf, sizeof(m.h));
        if (m.h.nlmsg_len < sizeof(m.h) || m.h.nlmsg_len > len) {
            r = -EINVAL;
            break;
        }
        if (m.h.nlmsg_type == RTM_NEWADDR || m.h.nlmsg_type == RTM_DELADDR) {
            ipop__addr_change c;
            int k = -EINVAL;

            if (m.h.nlmsg_len <= sizeof(m)) {
                memcpy(&m, buf, m.h.nlmsg_len);
                /* libmnl walks attributes up to the aligned end */
                memset(m.raw + m.h.nlmsg_len, 0, MNL_ALIGN(m.h.nlmsg_len) - m.h.nlmsg_len);
                k = parse_addr_msg(&m.h, &c);
            }
            if (k < 0) {
                r = k;
                break;
            }
            if (k > 0 && n < max)
                out[n++] = c;
        }
        if (MNL_ALIGN(m.h.nlmsg_len) >= len)
            break;
        buf += MNL_ALIGN(m.h.nlmsg_len);
        len -= MNL_ALIGN(m.h.nlmsg_len);
    }
    if (n_ok)
        *n_ok = n;
    return r < 0 ? r : (int)n;
}
