/* SPDX-License-Identifier: MIT */
/* Splitting TUN super-segments (TSO done in software) and finishing
 * checksums the kernel left to the device.  The virtio_net_hdr layout and
 * the segmentation rules follow the kernel's tcp_gso_segment(): every
 * segment gets the headers of the super-segment, its own sequence number,
 * IPv4 id (+1 per segment) and lengths; CWR only on the first, FIN and PSH
 * only on the last; all checksums computed afresh. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/virtio_net.h>
#include <stdbool.h>
#include <string.h>

#include "bytes.h"
#include "offload.h"

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

typedef struct vnet_hdr {
    uint8_t flags, gso_type;
    uint16_t hdr_len, gso_size, csum_start, csum_offset;
} vnet_hdr;

static void vnet_parse(const uint8_t *buf, vnet_hdr *h)
{
    h->flags = buf[0];
    h->gso_type = buf[1];
    memcpy(&h->hdr_len, buf + 2, 2);
    memcpy(&h->gso_size, buf + 4, 2);
    memcpy(&h->csum_start, buf + 6, 2);
    memcpy(&h->csum_offset, buf + 8, 2);
}

/* VIRTIO_NET_HDR_F_NEEDS_CSUM on one packet: the field at
 * csum_start + csum_offset holds the pseudo-header sum; add the rest. */
static int finish_csum(uint8_t *pkt, size_t len, const vnet_hdr *h)
{
    size_t start = h->csum_start, at = start + h->csum_offset;
    uint16_t c;

    if (start >= len || at + 2 > len)
        return -EINVAL;
    c = ipop__csum_finish(ipop__csum_add(0, pkt + start, len - start));
    ipop__put16(pkt + at, c ? c : 0xffff); /* 0 would mean "no checksum" to UDP */
    return 0;
}

/* The IP and TCP headers of a super-segment of the given type. */
static int parse_tcp(ipop__gso *g, const uint8_t *pkt, size_t len, int type)
{
    size_t doff;

    if (len < 1)
        return -EINVAL;
    if (type == VIRTIO_NET_HDR_GSO_TCPV4) {
        if (len < 20 || pkt[0] >> 4 != 4 || (pkt[0] & 0x0f) < 5)
            return -EINVAL;
        g->l4off = (size_t)(pkt[0] & 0x0f) * 4;
        if (ipop__get16(pkt + 2) != len || g->l4off > len)
            return -EINVAL;
        if (pkt[9] != IPPROTO_TCP || (ipop__get16(pkt + 6) & 0x3fff) != 0)
            return -EPROTONOSUPPORT; /* not TCP, or a fragment */
        g->ip_id = ipop__get16(pkt + 4);
    } else {
        if (len < 40 || pkt[0] >> 4 != 6 || (size_t)ipop__get16(pkt + 4) + 40 != len)
            return -EINVAL;
        if (pkt[6] != IPPROTO_TCP)
            return -EPROTONOSUPPORT; /* extension headers are not split here */
        g->l4off = 40;
        g->v6 = 1;
    }
    if (g->l4off + 20 > len)
        return -EINVAL;
    doff = (size_t)(pkt[g->l4off + 12] >> 4) * 4;
    if (doff < 20 || g->l4off + doff > len)
        return -EINVAL;
    g->hlen = g->l4off + doff;
    g->seq = ipop__get32(pkt + g->l4off + 4);
    g->flags = pkt[g->l4off + 13];
    return 0;
}

/* TAP: the frame's type must be the IP version of the GSO type. */
static bool l2_type_ok(const uint8_t *frame, size_t l2, bool v6)
{
    return l2 == 0 || ipop__get16(frame + l2 - 2) == (v6 ? 0x86dd : 0x0800);
}

int ipop__gso_begin_l2(ipop__gso *g, uint8_t *buf, size_t len, size_t l2)
{
    vnet_hdr h;
    int type, r;

    if (!g || !buf || len < IPOP__VNET_HLEN || (l2 != 0 && l2 != IPOP__ETH_HLEN))
        return -EINVAL;
    memset(g, 0, sizeof(*g));
    vnet_parse(buf, &h);
    g->pkt = buf + IPOP__VNET_HLEN;
    g->len = len - IPOP__VNET_HLEN;
    g->l2 = l2;
    if (g->len == 0)
        return -EINVAL;
    type = h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    if (type == VIRTIO_NET_HDR_GSO_NONE) {
        if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
            r = finish_csum(buf + IPOP__VNET_HLEN, g->len, &h);
            if (r < 0)
                return r;
        }
        g->count = 1;
        return 1;
    }
    if (type != VIRTIO_NET_HDR_GSO_TCPV4 && type != VIRTIO_NET_HDR_GSO_TCPV6)
        return -EPROTONOSUPPORT;
    if (h.gso_size == 0 || g->len <= l2)
        return -EINVAL;
    if (!l2_type_ok(g->pkt, l2, type == VIRTIO_NET_HDR_GSO_TCPV6))
        return -EPROTONOSUPPORT;
    r = parse_tcp(g, g->pkt + l2, g->len - l2, type);
    if (r < 0)
        return r;
    g->l4off += l2;
    g->hlen += l2;
    if (g->hlen == g->len)
        return -EINVAL; /* nothing to segment */
    g->gso = 1;
    g->mss = h.gso_size;
    g->count = (unsigned)((g->len - g->hlen + g->mss - 1) / g->mss);
    return (int)g->count;
}

int ipop__gso_begin(ipop__gso *g, uint8_t *buf, size_t len)
{
    return ipop__gso_begin_l2(g, buf, len, 0);
}

/* The TCP checksum of a segment: pseudo-header, TCP header, payload. */
static uint16_t tcp_csum(const uint8_t *ip, size_t l4off, size_t seglen, bool v6)
{
    size_t l4len = seglen - l4off;
    uint32_t sum;

    if (v6)
        sum = ipop__csum_add(0, ip + 8, 32);
    else
        sum = ipop__csum_add(0, ip + 12, 8);
    sum += IPPROTO_TCP + (uint32_t)(l4len & 0xffff) + (uint32_t)(l4len >> 16);
    sum = ipop__csum_add(sum, ip + l4off, l4len);
    return ipop__csum_finish(sum);
}

int ipop__gso_next(ipop__gso *g, uint8_t *out, size_t cap)
{
    size_t pl, seglen;
    uint8_t *ip, *th;
    uint8_t flags;

    if (g->index >= g->count)
        return 0;
    if (!g->gso) {
        if (g->len > cap)
            return -EMSGSIZE;
        memcpy(out, g->pkt, g->len);
        g->index++;
        return (int)g->len;
    }
    pl = g->len - g->hlen - g->off;
    if (pl > g->mss)
        pl = g->mss;
    seglen = g->hlen + pl;
    if (seglen > cap)
        return -EMSGSIZE;
    memcpy(out, g->pkt, g->hlen);
    memcpy(out + g->hlen, g->pkt + g->hlen + g->off, pl);
    ip = out + g->l2;
    if (g->v6) {
        ipop__put16(ip + 4, (uint16_t)(seglen - g->l2 - 40));
    } else {
        ipop__put16(ip + 2, (uint16_t)(seglen - g->l2));
        ipop__put16(ip + 4, (uint16_t)(g->ip_id + g->index));
        ipop__put16(ip + 10, 0);
        ipop__put16(ip + 10, ipop__csum_finish(ipop__csum_add(0, ip, g->l4off - g->l2)));
    }
    th = out + g->l4off;
    ipop__put32(th + 4, g->seq + (uint32_t)g->off);
    flags = g->flags;
    if (g->index + 1 < g->count)
        flags &= (uint8_t)~(TCP_FIN | TCP_PSH);
    if (g->index > 0)
        flags &= (uint8_t)~TCP_CWR;
    th[13] = flags;
    ipop__put16(th + 16, 0);
    ipop__put16(th + 16, tcp_csum(ip, g->l4off - g->l2, seglen - g->l2, g->v6));
    g->off += pl;
    g->index++;
    return (int)seglen;
}

/* ---- GRO: merging segments for the device ---- */

#define TCP_ACK 0x10

/* The headers of a TCP segment that may start or join a merge: IPv4
 * without options or fragments, or IPv6 with TCP next; only ACK, maybe
 * PSH; some payload.  Returns the TCP header offset, or 0. */
static size_t gro_l4off(const uint8_t *pkt, size_t len, size_t *hlen)
{
    size_t l4off, doff;

    if (len < 40)
        return 0;
    if (pkt[0] == 0x45) {
        if (ipop__get16(pkt + 2) != len || pkt[9] != IPPROTO_TCP || (ipop__get16(pkt + 6) & 0x3fff) != 0)
            return 0;
        l4off = 20;
    } else if (pkt[0] >> 4 == 6 && len >= 60) {
        if ((size_t)ipop__get16(pkt + 4) + 40 != len || pkt[6] != IPPROTO_TCP)
            return 0;
        l4off = 40;
    } else {
        return 0;
    }
    doff = (size_t)(pkt[l4off + 12] >> 4) * 4;
    if (doff < 20 || l4off + doff >= len || (pkt[l4off + 13] & ~(TCP_ACK | TCP_PSH)) != 0 ||
        !(pkt[l4off + 13] & TCP_ACK))
        return 0;
    *hlen = l4off + doff;
    return l4off;
}

static int gro_start(ipop__gro *g, const uint8_t *pkt, size_t len)
{
    size_t hlen, l4off;
    const uint8_t *ip = pkt + g->l2;

    if (len <= g->l2 || !(l4off = gro_l4off(ip, len - g->l2, &hlen)) || !l2_type_ok(pkt, g->l2, l4off == 40))
        return 0;
    memcpy(g->buf + IPOP__VNET_HLEN, pkt, len);
    g->len = len;
    g->l4off = l4off;
    g->hlen = hlen;
    g->mss = len - g->l2 - hlen;
    g->next_seq = ipop__get32(ip + l4off + 4) + (uint32_t)g->mss;
    g->segs = 1;
    g->v6 = l4off == 40;
    g->closed = (ip[l4off + 13] & TCP_PSH) != 0;
    return 1;
}

/* The same link header (TAP: addresses and type), the same flow and the
 * same header but for the fields that differ from segment to segment: IPv4
 * length, id and checksum; IPv6 payload length; TCP sequence number,
 * flags, window and checksum. */
static bool gro_same(const ipop__gro *g, const uint8_t *pkt)
{
    const uint8_t *f = g->buf + IPOP__VNET_HLEN, *p = f + g->l2, *ip = pkt + g->l2;
    const uint8_t *th = ip + g->l4off, *pth = p + g->l4off;

    if (memcmp(f, pkt, g->l2) != 0)
        return false;
    if (g->v6) {
        if (memcmp(p, ip, 4) != 0 || memcmp(p + 6, ip + 6, 34) != 0)
            return false;
    } else if (p[1] != ip[1] || memcmp(p + 6, ip + 6, 4) != 0 || memcmp(p + 12, ip + 12, 8) != 0) {
        return false;
    }
    /* ports; the ACK number; data offset; options */
    return memcmp(th, pth, 4) == 0 && memcmp(th + 8, pth + 8, 5) == 0 &&
           memcmp(th + 20, pth + 20, g->hlen - g->l4off - 20) == 0;
}

int ipop__gro_add(ipop__gro *g, const uint8_t *pkt, size_t len)
{
    size_t hlen, pl;
    const uint8_t *ip = pkt + g->l2;
    uint8_t *f, *th;

    if (!g->len)
        return gro_start(g, pkt, len);
    if (g->closed || len <= g->l2 || gro_l4off(ip, len - g->l2, &hlen) != g->l4off || hlen != g->hlen ||
        !gro_same(g, pkt))
        return 0;
    pl = len - g->l2 - hlen;
    if (pl > g->mss || ipop__get32(ip + g->l4off + 4) != g->next_seq ||
        g->len - g->l2 + pl - (g->v6 ? 40 : 0) > 65535)
        return 0;
    f = g->buf + IPOP__VNET_HLEN;
    memcpy(f + g->len, ip + hlen, pl);
    g->len += pl;
    g->next_seq += (uint32_t)pl;
    g->segs++;
    th = f + g->l2 + g->l4off;
    th[13] |= ip[g->l4off + 13] & TCP_PSH;
    memcpy(th + 14, ip + g->l4off + 14, 2); /* the latest window */
    if (pl < g->mss || (ip[g->l4off + 13] & TCP_PSH))
        g->closed = 1;
    return 1;
}

size_t ipop__gro_finish(ipop__gro *g)
{
    uint8_t *p = g->buf + IPOP__VNET_HLEN + g->l2, *th = p + g->l4off;
    size_t total = g->len, len = total - g->l2, l4len = len - g->l4off;
    uint16_t v;
    uint32_t sum;

    if (!total)
        return 0;
    memset(g->buf, 0, IPOP__VNET_HLEN);
    g->len = 0;
    if (g->segs == 1)
        return IPOP__VNET_HLEN + total; /* as it came, checksums and all */
    if (g->v6) {
        ipop__put16(p + 4, (uint16_t)(len - 40));
        sum = ipop__csum_add(0, p + 8, 32);
    } else {
        ipop__put16(p + 2, (uint16_t)len);
        ipop__put16(p + 10, 0);
        ipop__put16(p + 10, ipop__csum_finish(ipop__csum_add(0, p, 20)));
        sum = ipop__csum_add(0, p + 12, 8);
    }
    /* NEEDS_CSUM: the field holds the pseudo-header sum, not complemented. */
    sum += IPPROTO_TCP + (uint32_t)(l4len & 0xffff) + (uint32_t)(l4len >> 16);
    ipop__put16(th + 16, (uint16_t)~ipop__csum_finish(sum));
    g->buf[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    g->buf[1] = g->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
    v = (uint16_t)(g->l2 + g->hlen); /* offsets count from the frame's start */
    memcpy(g->buf + 2, &v, 2);
    v = (uint16_t)g->mss;
    memcpy(g->buf + 4, &v, 2);
    v = (uint16_t)(g->l2 + g->l4off);
    memcpy(g->buf + 6, &v, 2);
    v = 16;
    memcpy(g->buf + 8, &v, 2);
    return IPOP__VNET_HLEN + total;
}
