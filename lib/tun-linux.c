/* SPDX-License-Identifier: MIT */
/* Linux TUN/TAP.  The device comes from /dev/net/tun; its MTU, addresses,
 * routes and state are set over rtnetlink (rtnl.c), by the device's index. */
#include "tun-linux.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if_arp.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtnl.h"

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

int ipop__tun_set_mtu(const char *ifname, int mtu)
{
    int idx = ifindex_of(ifname);

    return idx < 0 ? idx : ipop__rtnl_set_mtu((unsigned)idx, mtu);
}

int ipop__tun_set_up(const char *ifname, bool up)
{
    int idx = ifindex_of(ifname);

    return idx < 0 ? idx : ipop__rtnl_set_up((unsigned)idx, up);
}

int ipop__tun_add_addr(const char *ifname, const ipop__addr *a)
{
    int idx = ifindex_of(ifname);

    return idx < 0 ? idx : ipop__rtnl_add_addr((unsigned)idx, a);
}

int ipop__tun_del_addr(const char *ifname, const ipop__addr *a)
{
    int idx = ifindex_of(ifname);

    return idx < 0 ? idx : ipop__rtnl_del_addr((unsigned)idx, a);
}

int ipop__tun_add_route(const char *ifname, const ipop__addr *prefix)
{
    int idx = ifindex_of(ifname);

    return idx < 0 ? idx : ipop__rtnl_add_route((unsigned)idx, prefix);
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
