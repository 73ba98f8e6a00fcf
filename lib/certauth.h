/* SPDX-License-Identifier: MIT */
/* GroupVPN with an authority: the network glue of authority.c.  A member
 * holds a certificate signed by the group's authority (group.certificate)
 * and pins the authority's key (group.authority).  Before any link, members
 * exchange certificates in `cert` messages (signed signalling binds each
 * to the sender's node key); a member links only with members whose
 * certificate verifies, names their node id, is in its validity period and
 * is not revoked, and only at the addresses the certificate gives.
 * Revocation lists (group.revocations, and `crl` messages) replace older
 * ones; a newer one is passed on to every certified member, and the links
 * of members it revokes are closed at once.  Loop thread only, except
 * load and free. */
#pragma once

#include <stdbool.h>

#include "ipop/ipop.h"
#include "message.h"

typedef struct ipop__certauth ipop__certauth;

/* At start, once the identity is loaded and before addresses are derived:
 * when group.authority is set, reads and checks this node's certificate
 * (it must verify, be this node's, be valid now; a configured address must
 * be one of its addresses, and without one the certificate's are used),
 * and the revocation list file if there is one.  Makes net->certauth.
 * Returns 0, or -errno after logging what is wrong: -ENOENT, -EINVAL (not
 * a certificate, or another node's), -EXDEV (another authority's),
 * -EBADMSG, -EKEYEXPIRED (expired or not yet valid), -EKEYREVOKED,
 * -EADDRNOTAVAIL (an address outside the certificate). */
int ipop__certauth_load(ipop_network_t *net);
/* Once the loop runs: the once-a-second check (revocation list file,
 * expiries). */
void ipop__certauth_start(ipop_network_t *net);
/* At stop, before the loop stops: no check runs after it. */
void ipop__certauth_stop(ipop_network_t *net);
void ipop__certauth_free(ipop__certauth *ca);

/* Hook of the peers API, before a link is opened to a group member:
 * true when the member's certificate was verified (or the network has no
 * authority); otherwise sends it this node's certificate (at most every
 * few seconds) and returns false: the link opens when its certificate
 * comes. */
bool ipop__certauth_may_link(ipop_network_t *net, const char *peer);
/* Hook of the peers API, for each signalling message that passed signed
 * signalling, before it reaches a link: true when it was taken (cert, crl)
 * or refused (from a member without a valid certificate, or an offer or
 * answer with an address outside it, another name than the one it
 * gives, or a route outside its routes: counted and reported), false when the link may handle it.  An
 * offer or answer without a name gets its certificate's (when that is a
 * valid name, lowercased). */
bool ipop__certauth_filter(ipop_network_t *net, ipop__msg *m);

/* Reads the revocation list file now.  1 when a newer list was adopted, 0
 * when not, -errno.  The loop thread. */
int ipop__certauth_reload(ipop_network_t *net);
