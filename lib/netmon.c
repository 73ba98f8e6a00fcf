/* SPDX-License-Identifier: MIT */
/* Address changes from rtnetlink: RTM_NEWADDR and RTM_DELADDR. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "netmon.h"

int ipop__netmon_open(void)
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

/* One RTM_NEWADDR/RTM_DELADDR payload.  Returns 1 with *c filled, 0 when
 * it names no address of a known family, -EINVAL when malformed. */
static int parse_addr_msg(const struct nlmsghdr *h, ipop__addr_change *c)
{
    const struct ifaddrmsg *ifa;
    const uint8_t *p, *end;
    const uint8_t *local = NULL, *address = NULL;
    size_t alen;

    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
        return -EINVAL;
    ifa = NLMSG_DATA(h);
    if (ifa->ifa_family == AF_INET)
        alen = 4;
    else if (ifa->ifa_family == AF_INET6)
        alen = 16;
    else
        return 0;
    if (ifa->ifa_prefixlen > alen * 8)
        return -EINVAL;
    p = (const uint8_t *)ifa + NLMSG_ALIGN(sizeof(*ifa));
    end = (const uint8_t *)h + h->nlmsg_len;
    while (p < end) {
        struct rtattr rta;
        if ((size_t)(end - p) < sizeof(rta))
            return -EINVAL;
        memcpy(&rta, p, sizeof(rta));
        if (rta.rta_len < sizeof(rta) || rta.rta_len > (size_t)(end - p))
            return -EINVAL;
        if ((rta.rta_type == IFA_LOCAL || rta.rta_type == IFA_ADDRESS) && rta.rta_len - sizeof(rta) != alen)
            return -EINVAL;
        if (rta.rta_type == IFA_LOCAL)
            local = p + RTA_LENGTH(0);
        else if (rta.rta_type == IFA_ADDRESS)
            address = p + RTA_LENGTH(0);
        if (RTA_ALIGN(rta.rta_len) >= (size_t)(end - p))
            break;
        p += RTA_ALIGN(rta.rta_len);
    }
    /* IFA_LOCAL is the address itself on point-to-point links. */
    if (!local)
        local = address;
    if (!local)
        return 0;
    memset(c, 0, sizeof(*c));
    c->added = h->nlmsg_type == RTM_NEWADDR;
    c->ifindex = ifa->ifa_index;
    c->addr.family = ifa->ifa_family;
    c->addr.prefix = ifa->ifa_prefixlen;
    memcpy(c->addr.bytes, local, alen);
    return 1;
}

int ipop__netmon_parse(const uint8_t *buf, size_t len, ipop__addr_change *out, size_t max, size_t *n_ok)
{
    size_t n = 0;
    int r = 0;

    while (len > 0) {
        struct nlmsghdr h;
        if (len < sizeof(h)) {
            r = -EINVAL;
            break;
        }
        memcpy(&h, buf, sizeof(h));
        if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len) {
            r = -EINVAL;
            break;
        }
        if (h.nlmsg_type == RTM_NEWADDR || h.nlmsg_type == RTM_DELADDR) {
            /* aligned copy: the buffer may start anywhere */
            union { struct nlmsghdr h; uint8_t raw[512]; } m;
            ipop__addr_change c;
            int k;
            if (h.nlmsg_len > sizeof(m)) {
                r = -EINVAL;
                break;
            }
            memcpy(&m, buf, h.nlmsg_len);
            k = parse_addr_msg(&m.h, &c);
            if (k < 0) {
                r = k;
                break;
            }
            if (k > 0 && n < max)
                out[n++] = c;
        }
        if (NLMSG_ALIGN(h.nlmsg_len) >= len)
            break;
        buf += NLMSG_ALIGN(h.nlmsg_len);
        len -= NLMSG_ALIGN(h.nlmsg_len);
    }
    if (n_ok)
        *n_ok = n;
    return r < 0 ? r : (int)n;
}
