/* SPDX-License-Identifier: MIT */
/* What a peer may hand this node: pure checks (admit.h). */
#include "admit.h"

#include <string.h>
#include <sys/socket.h>

#include "bytes.h"

/* ---- member relay ---- */

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* Rendezvous (highest random weight) hashing, lowest wins: the same for
 * (a, b) and (b, a), and for any order of the candidates.  Not secret:
 * short ids are public, and a member that makes itself the pick becomes a
 * relay, which it could offer to be anyway; what it relays it could read
 * and forge as any relay can (doc/security.md). */
static uint64_t score(const uint8_t *lo, const uint8_t *hi, const uint8_t *cand)
{
    return mix64(mix64(mix64(ipop__get64(lo)) ^ ipop__get64(hi)) ^ ipop__get64(cand));
}

int ipop__relay_pick(const uint8_t a[IPOP__ADMIT_ID_LEN], const uint8_t b[IPOP__ADMIT_ID_LEN],
                     const uint8_t *cands, unsigned n)
{
    const uint8_t *lo = memcmp(a, b, IPOP__ADMIT_ID_LEN) <= 0 ? a : b, *hi = lo == a ? b : a;
    int best = -1;
    uint64_t best_score = 0;

    for (unsigned i = 0; i < n; i++) {
        const uint8_t *c = cands + (size_t)i * IPOP__ADMIT_ID_LEN;
        uint64_t s = score(lo, hi, c);
        /* equal scores: the lower id, so that the order does not matter */
        if (best < 0 || s < best_score ||
            (s == best_score && memcmp(c, cands + (size_t)best * IPOP__ADMIT_ID_LEN, IPOP__ADMIT_ID_LEN) < 0)) {
            best = (int)i;
            best_score = s;
        }
    }
    return best;
}

ipop__relayed_verdict ipop__relayed_admit(const uint8_t from[IPOP__ADMIT_ID_LEN], const uint8_t *via,
                                          const uint8_t *pick)
{
    if ((via && !memcmp(from, via, IPOP__ADMIT_ID_LEN)) || (pick && !memcmp(from, pick, IPOP__ADMIT_ID_LEN)))
        return IPOP__RELAYED_DELIVER;
    return IPOP__RELAYED_NOT_RELAY;
}

/* ---- TAP frames ---- */

#define ETH_IPV4 0x0800
#define ETH_ARP 0x0806
#define ETH_IPV6 0x86dd
#define ETH_8021Q 0x8100
#define ETH_8021AD 0x88a8
#define ETH_QINQ_OLD 0x9100
#define TAGS_MAX 2

#define ARP_LEN 28
#define IPV6_HLEN 40
#define EXT_MAX 8 /* extension headers walked before the upper layer */

#define ICMP6 58
#define ND_NS 135
#define ND_NA 136
#define MLD2_REPORT 143
#define OPT_SLLA 1
#define OPT_TLLA 2

void ipop__ll6_from_mac(const uint8_t mac[6], uint8_t out[16])
{
    memset(out, 0, 16);
    out[0] = 0xfe;
    out[1] = 0x80;
    out[8] = mac[0] ^ 0x02;
    out[9] = mac[1];
    out[10] = mac[2];
    out[11] = 0xff;
    out[12] = 0xfe;
    out[13] = mac[3];
    out[14] = mac[4];
    out[15] = mac[5];
}

static bool is_peer4(const ipop__tap_peer *p, const uint8_t *a)
{
    return p->a4.family == AF_INET && !memcmp(p->a4.bytes, a, 4);
}

/* The peer's signalled IPv6 address, or its link-local one: derived from
 * the frame's source MAC, or with claims, any other that is not of
 * modified EUI-64 form (then listed in claims). */
static bool is_peer6(const ipop__tap_peer *p, const uint8_t *smac, const uint8_t *a, ipop__tap_ll *claims)
{
    uint8_t ll[16];

    if (p->a6.family == AF_INET6 && !memcmp(p->a6.bytes, a, 16))
        return true;
    ipop__ll6_from_mac(smac, ll);
    if (!memcmp(ll, a, 16))
        return true;
    if (!claims || a[0] != 0xfe || (a[1] & 0xc0) != 0x80 || (a[11] == 0xff && a[12] == 0xfe))
        return false;
    for (unsigned i = 0; i < claims->n; i++)
        if (!memcmp(claims->addr[i], a, 16))
            return true;
    if (claims->n >= 2)
        return false; /* not reached: a source and one target */
    memcpy(claims->addr[claims->n++], a, 16);
    return true;
}

static bool zero(const uint8_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i])
            return false;
    return true;
}

static ipop__tap_verdict check_arp(const uint8_t *arp, size_t len, const uint8_t *smac, const ipop__tap_peer *p)
{
    uint16_t op;
    const uint8_t *sha = arp + 8, *spa = arp + 14, *tpa = arp + 24;

    if (len < ARP_LEN || ipop__get16(arp) != 1 || ipop__get16(arp + 2) != ETH_IPV4 || arp[4] != 6 || arp[5] != 4)
        return IPOP__TAP_MALFORMED;
    op = ipop__get16(arp + 6);
    if (op != 1 && op != 2)
        return IPOP__TAP_MALFORMED; /* RARP and InARP have no business here */
    if (memcmp(sha, smac, 6) != 0)
        return IPOP__TAP_SPOOF;
    if (is_peer4(p, spa))
        return IPOP__TAP_OK; /* a question (any target), an answer or an announcement of its own */
    /* RFC 5227 probe: nobody learns from sender 0.0.0.0; it may ask only
     * for the peer's own address (a probe for another's would make that
     * one's conflict detection give up its address). */
    if (op == 1 && zero(spa, 4) && is_peer4(p, tpa))
        return IPOP__TAP_OK;
    return IPOP__TAP_SPOOF;
}

static ipop__tap_verdict check_ipv4(const uint8_t *ip, size_t len, const ipop__tap_peer *p)
{
    ipop__addr src, dst;
    size_t ihl;

    if (ipop__ip_src_dst(ip, len, &src, &dst) < 0 || src.family != AF_INET)
        return IPOP__TAP_MALFORMED;
    if (is_peer4(p, src.bytes))
        return IPOP__TAP_OK;
    /* A DHCP client has no address yet: 0.0.0.0, UDP 68 to 67, first
     * fragment (issue 18 carries DHCP over TAP). */
    ihl = (size_t)(ip[0] & 0x0f) * 4;
    if (zero(src.bytes, 4) && ip[9] == 17 && (ipop__get16(ip + 6) & 0x1fff) == 0 &&
        ipop__get16(ip + 2) >= ihl + 8 && ipop__get16(ip + ihl) == 68 && ipop__get16(ip + ihl + 2) == 67)
        return IPOP__TAP_OK;
    return IPOP__TAP_SPOOF;
}

/* The link-layer address options of a neighbour discovery message (opts,
 * len bytes) name only smac; none of them is empty or overruns. */
static ipop__tap_verdict check_nd_opts(const uint8_t *opts, size_t len, const uint8_t *smac, bool unspecified)
{
    while (len) {
        size_t olen;
        if (len < 8 || !opts[1] || (size_t)opts[1] * 8 > len)
            return IPOP__TAP_MALFORMED;
        olen = (size_t)opts[1] * 8;
        if (opts[0] == OPT_SLLA || opts[0] == OPT_TLLA) {
            /* RFC 4861 7.1.1: no source link-layer option from :: */
            if (unspecified || olen != 8 || memcmp(opts + 2, smac, 6) != 0)
                return IPOP__TAP_SPOOF;
        }
        opts += olen;
        len -= olen;
    }
    return IPOP__TAP_OK;
}

/* ICMPv6 from the peer: neighbour solicitations and advertisements about
 * its own addresses only. */
static ipop__tap_verdict check_icmp6(const uint8_t *m, size_t len, const uint8_t *smac, bool unspecified,
                                     const ipop__tap_peer *p, ipop__tap_ll *claims)
{
    if (len < 4)
        return IPOP__TAP_MALFORMED;
    switch (m[0]) {
    case ND_NS:
        if (len < 24)
            return IPOP__TAP_MALFORMED;
        if (unspecified && !is_peer6(p, smac, m + 8, claims))
            return IPOP__TAP_SPOOF; /* duplicate address detection of another's address */
        return check_nd_opts(m + 24, len - 24, smac, unspecified);
    case ND_NA:
        if (len < 24)
            return IPOP__TAP_MALFORMED;
        if (unspecified || !is_peer6(p, smac, m + 8, claims))
            return IPOP__TAP_SPOOF;
        return check_nd_opts(m + 24, len - 24, smac, false);
    case MLD2_REPORT:
        return IPOP__TAP_OK;
    default:
        return unspecified ? IPOP__TAP_SPOOF : IPOP__TAP_OK;
    }
}

static ipop__tap_verdict check_ipv6(const uint8_t *ip, size_t len, const uint8_t *smac, const ipop__tap_peer *p,
                                    ipop__tap_ll *claims)
{
    size_t plen, off = IPV6_HLEN;
    uint8_t next;
    bool unspecified;

    if (len < IPV6_HLEN || ip[0] >> 4 != 6)
        return IPOP__TAP_MALFORMED;
    plen = ipop__get16(ip + 4);
    if (plen + IPV6_HLEN > len)
        return IPOP__TAP_MALFORMED;
    len = plen + IPV6_HLEN; /* without the Ethernet padding */
    unspecified = zero(ip + 8, 16);
    if (!unspecified && !is_peer6(p, smac, ip + 8, claims))
        return IPOP__TAP_SPOOF;
    /* The upper layer, behind hop-by-hop, routing and destination options:
     * a neighbour advertisement hides there as well as anywhere.  A
     * fragment is not neighbour discovery (RFC 6980: receivers drop
     * fragmented ND), so a first fragment ends the walk. */
    next = ip[6];
    for (int i = 0; i <= EXT_MAX; i++) {
        switch (next) {
        case 0:  /* hop-by-hop */
        case 43: /* routing */
        case 60: /* destination options */
            if (i == EXT_MAX || off + 8 > len || off + 8 + (size_t)ip[off + 1] * 8 > len)
                return IPOP__TAP_MALFORMED;
            next = ip[off];
            off += 8 + (size_t)ip[off + 1] * 8;
            continue;
        case 44: /* fragment */
            return unspecified ? IPOP__TAP_SPOOF : IPOP__TAP_OK;
        case ICMP6:
            return check_icmp6(ip + off, len - off, smac, unspecified, p, claims);
        default:
            return unspecified ? IPOP__TAP_SPOOF : IPOP__TAP_OK;
        }
    }
    return IPOP__TAP_MALFORMED;
}

ipop__tap_verdict ipop__tap_check(const uint8_t *frame, size_t len, const ipop__tap_peer *p)
{
    return ipop__tap_check_ll(frame, len, p, NULL);
}

ipop__tap_verdict ipop__tap_check_ll(const uint8_t *frame, size_t len, const ipop__tap_peer *p,
                                     ipop__tap_ll *claims)
{
    static const uint8_t nul[6];
    const uint8_t *smac;
    size_t off = 12;
    uint16_t type;

    if (claims)
        claims->n = 0;
    if (!frame || !p || len < IPOP__ETH_HLEN)
        return IPOP__TAP_MALFORMED;
    smac = frame + 6;
    if ((smac[0] & 1) || !memcmp(smac, nul, 6))
        return IPOP__TAP_MAC;
    type = ipop__get16(frame + off);
    for (int tags = 0; type == ETH_8021Q || type == ETH_8021AD || type == ETH_QINQ_OLD; tags++) {
        if (!p->tagged || tags == TAGS_MAX)
            return IPOP__TAP_TYPE;
        off += 4;
        if (off + 2 > len)
            return IPOP__TAP_MALFORMED;
        type = ipop__get16(frame + off);
    }
    off += 2;
    switch (type) {
    case ETH_ARP:
        return check_arp(frame + off, len - off, smac, p);
    case ETH_IPV4:
        return check_ipv4(frame + off, len - off, p);
    case ETH_IPV6:
        return check_ipv6(frame + off, len - off, smac, p, claims);
    default:
        return IPOP__TAP_TYPE;
    }
}

const char *ipop__tap_verdict_str(ipop__tap_verdict v)
{
    switch (v) {
    case IPOP__TAP_OK: return "ok";
    case IPOP__TAP_MALFORMED: return "malformed";
    case IPOP__TAP_TYPE: return "ethertype not carried";
    case IPOP__TAP_SPOOF: return "address not the peer's";
    case IPOP__TAP_MAC: return "source MAC not the peer's";
    }
    return "?";
}
