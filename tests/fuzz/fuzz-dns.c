/* SPDX-License-Identifier: MIT */
/* Fuzzes ipopd's DNS answers (daemon/dns.c) with each input taken as a
 * datagram to port 53 of an overlay address, from anyone on the overlay.
 * Properties: no crash; an answer only to a query libldns parses, never to
 * a response; the answer parses, carries the query's id and QR, fits the
 * query's limit (512 bytes without EDNS); a name outside the suffix is
 * REFUSED and looks nothing up. */
#include <errno.h>
#include <ldns/ldns.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int lookup(const char *name, int family, char *buf, size_t size, void *user_data)
{
    bool *called = user_data;

    *called = true;
    if (strlen(name) < 1 || strlen(name) > 63)
        abort(); /* one label, as dns.h promises */
    if (name[0] == 'a')
        return snprintf(buf, size, family == AF_INET ? "10.0.0.1" : "fd00::1") > 0 ? 0 : -EIO;
    if (name[0] == 'b')
        return -ENODATA;
    if (name[0] == 'c')
        return snprintf(buf, size, "not an address") > 0 ? 0 : -EIO; /* SERVFAIL, not a crash */
    return -ENOENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *suffix;
    static size_t suffix_len;
    uint8_t out[DNS_UDP_MAX];
    size_t outlen = 0, limit = DNS_UDP_MIN;
    ldns_pkt *q = NULL, *a = NULL;
    bool called = false, parsed;
    enum dns_result res;

    if (!suffix && !(suffix = dns_suffix_new("net0", &suffix_len)))
        abort();
    res = dns_answer(data, size, suffix, suffix_len, lookup, &called, out, sizeof(out), &outlen);
    parsed = ldns_wire2pkt(&q, data, size) == LDNS_STATUS_OK;
    if (res == DNS_DROPPED) {
        if (outlen)
            abort();
        goto out;
    }
    if (!parsed || ldns_pkt_qr(q) || !outlen || ldns_wire2pkt(&a, out, outlen) != LDNS_STATUS_OK)
        abort();
    if (ldns_pkt_edns(q) && ldns_pkt_edns_udp_size(q) > DNS_UDP_MIN)
        limit = ldns_pkt_edns_udp_size(q) < DNS_UDP_MAX ? ldns_pkt_edns_udp_size(q) : DNS_UDP_MAX;
    if (ldns_pkt_id(a) != ldns_pkt_id(q) || !ldns_pkt_qr(a) || outlen > limit)
        abort();
    if (res == DNS_REFUSED) {
        if (ldns_pkt_get_rcode(a) != LDNS_RCODE_REFUSED || called || ldns_pkt_ancount(a))
            abort();
    } else if (res != DNS_ERROR && ldns_pkt_qdcount(q) == 1) {
        /* answered: the name is the suffix or under it */
        ldns_rdf *sfx = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, suffix_len, suffix);
        ldns_rdf *name = ldns_rdf_clone(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(q), 0)));

        ldns_dname2canonical(name);
        if (ldns_dname_compare(name, sfx) != 0 && !ldns_dname_is_subdomain(name, sfx))
            abort();
        ldns_rdf_deep_free(sfx);
        ldns_rdf_deep_free(name);
    }
out:
    ldns_pkt_free(q);
    ldns_pkt_free(a);
    return 0;
}
