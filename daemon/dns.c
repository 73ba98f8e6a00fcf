/* SPDX-License-Identifier: MIT */
/* ipopd's DNS answers (see dns.h): parsed and built with libldns.  Only
 * the name, type and class of the one question are read; everything else
 * in a query (other sections, EDNS options) is ignored.  Queries that are
 * not DNS are dropped, never answered: an answer to garbage would make
 * the daemon a reflector. */
#include "dns.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ldns/ldns.h>

uint8_t *dns_suffix_new(const char *text, size_t *len)
{
    ldns_rdf *d;
    uint8_t *wire = NULL;

    if (!text || !text[0] || strlen(text) > DNS_SUFFIX_MAX || strcmp(text, ".") == 0)
        return NULL;
    d = ldns_dname_new_frm_str(text);
    if (!d)
        return NULL;
    ldns_dname2canonical(d);
    wire = malloc(ldns_rdf_size(d));
    if (wire) {
        memcpy(wire, ldns_rdf_data(d), ldns_rdf_size(d));
        *len = ldns_rdf_size(d);
    }
    ldns_rdf_deep_free(d);
    return wire;
}

/* The client's limit on the answer's size. */
static size_t answer_limit(const ldns_pkt *q, size_t outsize)
{
    size_t limit = DNS_UDP_MIN;

    if (ldns_pkt_edns(q) && ldns_pkt_edns_udp_size(q) > DNS_UDP_MIN)
        limit = ldns_pkt_edns_udp_size(q) < DNS_UDP_MAX ? ldns_pkt_edns_udp_size(q) : DNS_UDP_MAX;
    return limit < outsize ? limit : outsize;
}

/* The member's label when qname is exactly one label under suffix:
 * letters, digits and '-' (anything else is no member's name).  Returns
 * false otherwise. */
static bool member_label(const ldns_rdf *qname, const ldns_rdf *suffix, char label[64])
{
    const uint8_t *d = ldns_rdf_data(qname);
    size_t n = d[0];

    if (ldns_dname_label_count(qname) != ldns_dname_label_count(suffix) + 1 || n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = d[1 + i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
        label[i] = (char)c;
    }
    label[n] = '\0';
    return true;
}

/* The answer record: owner as asked (its case kept), the address. */
static ldns_rr *address_rr(const ldns_rr *question, ldns_rr_type type, const char *text)
{
    ldns_rdf *a = ldns_rdf_new_frm_str(type == LDNS_RR_TYPE_A ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA, text);
    ldns_rr *rr;

    if (!a)
        return NULL;
    rr = ldns_rr_new_frm_type(type);
    if (!rr) {
        ldns_rdf_deep_free(a);
        return NULL;
    }
    ldns_rr_set_owner(rr, ldns_rdf_clone(ldns_rr_owner(question)));
    ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
    ldns_rr_set_ttl(rr, DNS_TTL);
    ldns_rr_set_rdf(rr, a, 0);
    return rr;
}

/* The rcode and answer for the question. */
static enum dns_result resolve(const ldns_rr *question, const ldns_rdf *suffix, dns_lookup_fn lookup,
                               void *user_data, ldns_pkt *resp)
{
    ldns_rdf *qname = ldns_rdf_clone(ldns_rr_owner(question));
    ldns_rr_type type = ldns_rr_get_type(question);
    enum dns_result res = DNS_REFUSED;
    char label[64], text[64];
    int family, r;

    ldns_dname2canonical(qname);
    ldns_pkt_set_rcode(resp, LDNS_RCODE_REFUSED);
    if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN ||
        (ldns_dname_compare(qname, suffix) != 0 && !ldns_dname_is_subdomain(qname, suffix)))
        goto out;
    ldns_pkt_set_aa(resp, true);
    ldns_pkt_set_rcode(resp, LDNS_RCODE_NOERROR);
    res = DNS_ANSWERED;
    if (ldns_dname_compare(qname, suffix) == 0)
        goto out; /* the suffix itself: it exists, with no address */
    res = DNS_NXDOMAIN;
    ldns_pkt_set_rcode(resp, LDNS_RCODE_NXDOMAIN);
    if (!member_label(qname, suffix, label))
        goto out;
    family = type == LDNS_RR_TYPE_AAAA ? AF_INET6 : AF_INET;
    r = lookup(label, family, text, sizeof(text), user_data);
    if (r == -ENOENT)
        goto out;
    res = DNS_ANSWERED;
    ldns_pkt_set_rcode(resp, LDNS_RCODE_NOERROR);
    if (r < 0 || (type != LDNS_RR_TYPE_A && type != LDNS_RR_TYPE_AAAA))
        goto out; /* NODATA: the member has no address of that family, or not that type */
    text[sizeof(text) - 1] = '\0';
    {
        ldns_rr *rr = address_rr(question, type, text);
        if (!rr || !ldns_pkt_push_rr(resp, LDNS_SECTION_ANSWER, rr)) {
            ldns_rr_free(rr);
            ldns_pkt_set_rcode(resp, LDNS_RCODE_SERVFAIL);
            res = DNS_ERROR;
        }
    }
out:
    ldns_rdf_deep_free(qname);
    return res;
}

/* Encodes resp into out within limit; when too large, again without
 * records and with TC set.  Returns false when even that does not fit. */
static bool encode(ldns_pkt *resp, size_t limit, uint8_t *out, size_t *outlen)
{
    uint8_t *wire = NULL;
    size_t size = 0;

    if (ldns_pkt2wire(&wire, resp, &size) == LDNS_STATUS_OK && size <= limit)
        goto copy;
    free(wire);
    wire = NULL;
    ldns_rr_list_deep_free(ldns_pkt_answer(resp));
    ldns_pkt_set_answer(resp, ldns_rr_list_new());
    ldns_pkt_set_ancount(resp, 0);
    ldns_pkt_set_tc(resp, true);
    if (ldns_pkt2wire(&wire, resp, &size) != LDNS_STATUS_OK || size > limit) {
        free(wire);
        return false;
    }
copy:
    memcpy(out, wire, size);
    *outlen = size;
    free(wire);
    return true;
}

enum dns_result dns_answer(const uint8_t *q, size_t qlen, const uint8_t *suffix, size_t suffix_len,
                           dns_lookup_fn lookup, void *user_data, uint8_t *out, size_t outsize, size_t *outlen)
{
    ldns_pkt *query = NULL, *resp = NULL;
    ldns_rdf *sfx = NULL;
    enum dns_result res = DNS_DROPPED;
    const ldns_rr *question;

    *outlen = 0;
    /* A header and a question of the root at least; a response is never
     * answered (two servers would answer each other forever). */
    if (!q || qlen < 17 || !suffix || !out || ldns_wire2pkt(&query, q, qlen) != LDNS_STATUS_OK ||
        ldns_pkt_qr(query) || ldns_pkt_qdcount(query) == 0)
        goto out;
    sfx = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, suffix_len, suffix);
    resp = ldns_pkt_new();
    if (!sfx || !resp)
        goto out;
    ldns_pkt_set_id(resp, ldns_pkt_id(query));
    ldns_pkt_set_qr(resp, true);
    ldns_pkt_set_opcode(resp, ldns_pkt_get_opcode(query));
    ldns_pkt_set_rd(resp, ldns_pkt_rd(query));
    ldns_pkt_set_cd(resp, ldns_pkt_cd(query));
    question = ldns_rr_list_rr(ldns_pkt_question(query), 0);
    if (!question || !ldns_rr_owner(question) || !ldns_pkt_push_rr(resp, LDNS_SECTION_QUESTION, ldns_rr_clone(question)))
        goto out;
    if (ldns_pkt_edns(query))
        ldns_pkt_set_edns_udp_size(resp, DNS_UDP_MAX);
    if (ldns_pkt_get_opcode(query) != LDNS_PACKET_QUERY) {
        ldns_pkt_set_rcode(resp, LDNS_RCODE_NOTIMPL);
        res = DNS_ERROR;
    } else if (ldns_pkt_qdcount(query) != 1) {
        ldns_pkt_set_rcode(resp, LDNS_RCODE_FORMERR);
        res = DNS_ERROR;
    } else {
        res = resolve(question, sfx, lookup, user_data, resp);
    }
    if (!encode(resp, answer_limit(query, outsize), out, outlen))
        res = DNS_DROPPED;
out:
    ldns_pkt_free(query);
    ldns_pkt_free(resp);
    ldns_rdf_deep_free(sfx);
    return res;
}
