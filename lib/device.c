/* SPDX-License-Identifier: MIT */
/* The network's TUN or TAP device: opened and configured from the options. */
#include <net/if.h>
#include <unistd.h>

#include "device.h"
#include "log.h"
#include "network.h"
#include "tun-linux.h"

/* Device offloads (device.offload): the device hands over TCP
 * super-segments, split in tx.c.  A kernel without them still gives one
 * packet per read behind a virtio_net_hdr, which works the same way. */
static int open_vnet(ipop_network_t *net, char name[IFNAMSIZ])
{
    int fd = ipop__tun_open_vnet(net->device_opt, net->mode == MODE_TAP, name), r;

    if (fd < 0)
        return fd;
    r = ipop__tun_set_offload(fd);
    if (r < 0)
        ipop__warn(net, "device %s: no offloads: %s", name, ipop_strerror(r));
    net->vnet = true;
    return fd;
}

int ipop__device_open(ipop_network_t *net)
{
    char name[IFNAMSIZ];
    int fd, r;

    if (net->mode != MODE_NONE && net->offload)
        fd = open_vnet(net, name);
    else
        fd = ipop__tun_open(net->device_opt, net->mode == MODE_TAP, name);
    if (fd < 0) {
        ipop__err(net, "cannot open a %s device: %s", net->mode == MODE_TAP ? "tap" : "tun", ipop_strerror(fd));
        return fd;
    }
    g_strlcpy(net->dev_name, name, sizeof(net->dev_name));
    net->dev_fd = fd;
    net->dev_ifindex = if_nametoindex(name);
    r = ipop__tun_set_mtu(name, net->mtu);
    if (r == 0 && net->addr4.family)
        r = ipop__tun_add_addr(name, &net->addr4);
    if (r == 0 && net->addr6.family)
        r = ipop__tun_add_addr(name, &net->addr6);
    if (r == 0 && net->mode == MODE_TAP)
        r = ipop__tun_get_mac(name, net->dev_mac);
    if (r == 0)
        r = ipop__tun_set_up(name, true);
    if (r < 0) {
        ipop__err(net, "cannot configure device %s: %s", name, ipop_strerror(r));
        return r;
    }
    ipop__info(net, "device %s up, mtu %d%s", name, net->mtu, net->vnet ? ", offloads" : "");
    /* Friends live at addresses of social.subnet: the kernel must send it into the device. */
    if (net->overlay == OVERLAY_SOCIAL && (r = ipop__tun_add_route(name, &net->social_subnet)) < 0)
        ipop__warn(net, "cannot route social.subnet into device %s: %s", name, ipop_strerror(r));
    return 0;
}

void ipop__device_close(ipop_network_t *net)
{
    if (net->dev_fd >= 0)
        close(net->dev_fd); /* the kernel removes the device with its last fd */
    net->dev_fd = -1;
    net->vnet = false;
    net->dev_name[0] = '\0';
}
