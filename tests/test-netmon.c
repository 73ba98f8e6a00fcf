/* SPDX-License-Identifier: MIT */
/* The rtnetlink address-change parser (pure, lib/rtnl.c).  The monitor socket seeing
 * real addresses come and go is tested in test-tun.c (root). */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <string.h>

#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "rtnl.h"

/* Appends one RTM_NEWADDR/RTM_DELADDR message with the given attributes
 * (type, length of the address, or 0 for none) to buf; returns the new length. */
static size_t put_msg(uint8_t *buf, size_t off, int type, int family, unsigned prefix, unsigned ifindex,
                      const void *local, size_t local_len, const void *address, size_t address_len)
{
    struct nlmsghdr *h = (struct nlmsghdr *)(buf + off);
    struct ifaddrmsg *ifa = NLMSG_DATA(h);
    size_t len = NLMSG_LENGTH(sizeof(*ifa));

    memset(h, 0, NLMSG_SPACE(sizeof(*ifa)));
    h->nlmsg_type = (unsigned short)type;
    ifa->ifa_family = (unsigned char)family;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_index = ifindex;
    if (address) {
        struct rtattr *rta = (struct rtattr *)(buf + off + NLMSG_ALIGN(len));
        rta->rta_type = IFA_ADDRESS;
        rta->rta_len = (unsigned short)RTA_LENGTH(address_len);
        memcpy(RTA_DATA(rta), address, address_len);
        len = NLMSG_ALIGN(len) + RTA_ALIGN(rta->rta_len);
    }
    if (local) {
        struct rtattr *rta = (struct rtattr *)(buf + off + NLMSG_ALIGN(len));
        rta->rta_type = IFA_LOCAL;
        rta->rta_len = (unsigned short)RTA_LENGTH(local_len);
        memcpy(RTA_DATA(rta), local, local_len);
        len = NLMSG_ALIGN(len) + RTA_ALIGN(rta->rta_len);
    }
    h->nlmsg_len = (unsigned)len;
    return off + NLMSG_ALIGN(len);
}

static void test_parse(void)
{
    uint8_t buf[1024] __attribute__((aligned(8)));
    ipop__addr_change ch[4];
    uint8_t v4[4] = { 192, 168, 7, 9 }, peer4[4] = { 10, 0, 0, 1 }, v6[16] = { 0xfd, 0, [15] = 5 };
    size_t len = 0, ok = 0;
    char text[64];

    len = put_msg(buf, len, RTM_NEWADDR, AF_INET, 24, 3, v4, 4, v4, 4);
    len = put_msg(buf, len, RTM_DELADDR, AF_INET6, 64, 4, NULL, 0, v6, 16);
    /* a point-to-point address: IFA_LOCAL is ours, IFA_ADDRESS the peer's */
    len = put_msg(buf, len, RTM_NEWADDR, AF_INET, 32, 5, v4, 4, peer4, 4);
    /* a link message in between is skipped */
    {
        struct nlmsghdr *h = (struct nlmsghdr *)(buf + len);
        memset(h, 0, NLMSG_SPACE(sizeof(struct ifinfomsg)));
        h->nlmsg_type = RTM_NEWLINK;
        h->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
        len += NLMSG_SPACE(sizeof(struct ifinfomsg));
    }
    g_assert_cmpint(ipop__rtnl_parse_addrs(buf, len, ch, 4, &ok), ==, 3);
    g_assert_cmpuint(ok, ==, 3);
    g_assert_true(ch[0].added);
    g_assert_cmpuint(ch[0].ifindex, ==, 3);
    g_assert_cmpint(ch[0].addr.family, ==, AF_INET);
    g_assert_cmpuint(ch[0].addr.prefix, ==, 24);
    g_assert_cmpmem(ch[0].addr.bytes, 4, v4, 4);
    g_assert_false(ch[1].added);
    g_assert_cmpint(ch[1].addr.family, ==, AF_INET6);
    g_assert_cmpmem(ch[1].addr.bytes, 16, v6, 16);
    g_assert_cmpmem(ch[2].addr.bytes, 4, v4, 4);
    inet_ntop(AF_INET, ch[2].addr.bytes, text, sizeof(text));
    g_assert_cmpstr(text, ==, "192.168.7.9");

    /* the same bytes one off alignment (the parser copies, libmnl does not) */
    {
        uint8_t *odd = g_malloc(len + 1);
        memcpy(odd + 1, buf, len);
        g_assert_cmpint(ipop__rtnl_parse_addrs(odd + 1, len, ch, 4, &ok), ==, 3);
        g_assert_cmpmem(ch[1].addr.bytes, 16, v6, 16);
        g_free(odd);
    }

    /* more changes than room: the first ones, counted as parsed */
    g_assert_cmpint(ipop__rtnl_parse_addrs(buf, len, ch, 1, &ok), ==, 1);
    g_assert_cmpuint(ok, ==, 1);
    /* no buffer at all, or empty */
    g_assert_cmpint(ipop__rtnl_parse_addrs(buf, 0, ch, 4, &ok), ==, 0);
}

static void test_malformed(void)
{
    uint8_t buf[512] __attribute__((aligned(8))), good[4] = { 10, 1, 2, 3 };
    ipop__addr_change ch[4];
    size_t len, ok = 99;
    struct nlmsghdr *h = (struct nlmsghdr *)buf;

    /* a good message, then a header claiming more than there is */
    len = put_msg(buf, 0, RTM_NEWADDR, AF_INET, 8, 1, good, 4, NULL, 0);
    put_msg(buf, len, RTM_NEWADDR, AF_INET, 8, 1, good, 4, NULL, 0);
    ((struct nlmsghdr *)(buf + len))->nlmsg_len = 4000;
    g_assert_cmpint(ipop__rtnl_parse_addrs(buf, len + 64, ch, 4, &ok), ==, -EINVAL);
    g_assert_cmpuint(ok, ==, 1);
    /* truncated header */
    g_assert_cmpint(ipop__rtnl_parse_addrs(buf, 7, ch, 4, &ok), ==, -EINVAL);
    g_assert_cmpuint(ok, ==, 0);
    /* a length below the header's own */
    len = put_msg(buf, 0, RTM_NEWADDR, AF_INET, 8, 1, good, 4, NULL, 0);
    h->nlmsg_len = 8;
    g_assert_cmpint(ipop__rtnl_parse_addrs(buf, len, ch, 4, NULL), ==, -EINVAL);
    /* an address attribute of the wrong size for the family */
    len = put_msg(buf, 0, RTM_NEWADDR, AF_INET6, 64, 1, good, 4, NULL, 0);
    g_assert_cmpint(ipop__rtnl_parse_addrs(buf, len, ch, 4, NULL), ==, -EINVAL);
    /* a prefix longer than the address */
    len = put_msg(buf, 0, RTM_NEWADDR, AF_INET, 33, 1, good, 4, NULL, 0);
    g_assert_cmpint(ipop__rtnl_parse_addrs(buf, len, ch, 4, NULL), ==, -EINVAL);
    /* an attribute running past the message */
    len = put_msg(buf, 0, RTM_NEWADDR, AF_INET, 8, 1, good, 4, NULL, 0);
    ((struct rtattr *)(buf + NLMSG_SPACE(sizeof(struct ifaddrmsg))))->rta_len = 200;
    g_assert_cmpint(ipop__rtnl_parse_addrs(buf, len, ch, 4, NULL), ==, -EINVAL);
    /* the message ends inside its last attribute: libmnl would read on
     * into the alignment padding */
    len = put_msg(buf, 0, RTM_NEWADDR, AF_INET, 8, 1, good, 4, NULL, 0);
    h->nlmsg_len -= 2;
    g_assert_cmpint(ipop__rtnl_parse_addrs(buf, len, ch, 4, NULL), ==, -EINVAL);
    /* bytes left after the last attribute that make no attribute */
    len = put_msg(buf, 0, RTM_NEWADDR, AF_INET, 8, 1, good, 4, NULL, 0);
    memset(buf + len, 0, 8);
    h->nlmsg_len += 3;
    g_assert_cmpint(ipop__rtnl_parse_addrs(buf, len + 8, ch, 4, NULL), ==, -EINVAL);
    /* a length past 2 GiB (libmnl's own check compares it as int) */
    len = put_msg(buf, 0, RTM_NEWLINK, AF_INET, 8, 1, NULL, 0, NULL, 0);
    h->nlmsg_len = 0x80000010u;
    g_assert_cmpint(ipop__rtnl_parse_addrs(buf, len, ch, 4, NULL), ==, -EINVAL);
    /* another family, or no address at all: nothing, no error */
    len = put_msg(buf, 0, RTM_NEWADDR, AF_PACKET, 0, 1, NULL, 0, NULL, 0);
    g_assert_cmpint(ipop__rtnl_parse_addrs(buf, len, ch, 4, NULL), ==, 0);
    len = put_msg(buf, 0, RTM_DELADDR, AF_INET, 8, 1, NULL, 0, NULL, 0);
    g_assert_cmpint(ipop__rtnl_parse_addrs(buf, len, ch, 4, NULL), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/netmon/parse", test_parse);
    g_test_add_func("/netmon/malformed", test_malformed);
    return g_test_run();
}
