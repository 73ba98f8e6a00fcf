/* SPDX-License-Identifier: MIT */
/* A link's ICE transport: one libnice agent with one stream of one
 * component, its candidates (gathered, signalled, and the peer's that came
 * early), the TURN servers it relays through and its credentials.  The
 * lowest of a link's transports: it calls nothing of the link but the
 * events it was given at the link's creation.  The loop thread only. */
#pragma once

#include <agent.h>
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ipop/ipop.h"
#include "message.h"

/* What the agent tells the link above (fixed when the link is made). */
typedef struct ipop__ice_events {
    /* a datagram on the component, read by libnice */
    void (*datagram)(ipop_link_t *link, const uint8_t *buf, size_t len);
    /* new local candidates, or the end of gathering: to be signalled */
    void (*candidates)(ipop_link_t *link);
    /* the component is CONNECTED or READY (ice.ready tells which) */
    void (*connected)(ipop_link_t *link);
    /* a pair was selected (ice.local_base and the path types are set) */
    void (*selected)(ipop_link_t *link);
    /* the component FAILED */
    void (*failed)(ipop_link_t *link);
} ipop__ice_events;

struct ipop__ice {
    const ipop__ice_events *ev;
    NiceAgent *agent;           /* set and cleared under the link's tx_lock */
    guint stream;
    GPtrArray *pending_cands;   /* remote candidates that came before the offer/answer (bounded) */
    bool pending_done;          /* pending_cands holds the end-of-candidates mark */
    bool checks_held;           /* remote candidates wait in pending_cands while our answer waits */
    GPtrArray *local_cands;     /* local candidates not yet signalled */
    GPtrArray *sent_cands;      /* local candidates signalled in this session */
    bool local_done, local_done_sent;
    bool ready;                 /* ICE's checks are over (READY): the loop may read the socket */
    NiceAddress local_base;     /* the host address under the selected local candidate */
    int stun_idx;               /* the STUN server this session gathers with, or -1 */
    char *ufrag, *pwd;          /* the agent's local credentials, for checks on the direct path */
    gint local_path, remote_path; /* ipop_path_type_t of the selected pair, read from any thread */
    struct ipop__portmap *pm;   /* PCP or NAT-PMP mapping of this session's port, or NULL */
    struct ipop__upnp_map *up;  /* UPnP IGD mapping of the same port (upnp.c), or NULL */
    struct in_addr pm_internal; /* the address and port mapped */
    uint16_t pm_port;
    bool pm_waiting, up_waiting; /* the end of candidates waits for each mapper's first word */
    bool pm_hold;               /* and the offer or answer too (ipop__ice_mapping_pending) */
    gint pm_proto;              /* ipop_port_mapping_t of the PCP or NAT-PMP mapping made, with its address: */
    NiceAddress pm_addr;
    bool up_mapped;             /* the UPnP mapping made, with its address: */
    NiceAddress up_addr;
    gint mapping, remote_mapped; /* the selected pair through mappings (stats), read from any thread */
};

/* With the link: no agent yet. */
void ipop__ice_init(ipop_link_t *link, const ipop__ice_events *ev);
/* A new agent for a new session, gathering candidates (some may be
 * reported from inside this call) with STUN server stun_idx of net->stun
 * (-1: none).  0 or -errno. */
int ipop__ice_start(ipop_link_t *link, int stun_idx);
/* Closes the session's agent (asynchronously: net->closing_agents counts
 * the closes in flight) and forgets its candidates and credentials. */
void ipop__ice_stop(ipop_link_t *link);

/* Sends one datagram through libnice.  Returns what nice_agent_send()
 * does, or -1 without an agent. */
int ipop__ice_send(ipop_link_t *link, const void *data, size_t len);
/* Sends n datagrams, the i-th at base + i * stride of lens[i] bytes, in one
 * call into libnice.  Returns how many it took (-1: none, no agent). */
int ipop__ice_send_many(ipop_link_t *link, const uint8_t *base, size_t stride, const size_t *lens, unsigned n);

/* The local socket of the selected pair, when it is a UDP socket of ours
 * (host, server or peer reflexive: not a TURN relay, not TCP), with the
 * peer's address on that pair in *to; also fetches ice.ufrag and ice.pwd.
 * -1 otherwise. */
int ipop__ice_direct_socket(ipop_link_t *link, struct sockaddr_storage *to);

/* Our credentials, into ufrag and pwd ("" when unknown). */
void ipop__ice_local_credentials(ipop_link_t *link, char *ufrag, size_t ufrag_size, char *pwd, size_t pwd_size);
/* The peer's credentials.  false when libnice refuses them. */
bool ipop__ice_set_remote_credentials(ipop_link_t *link, const char *ufrag, const char *pwd);

/* Whether local candidates, or the end of gathering, are yet to be signalled. */
bool ipop__ice_unsent(const ipop_link_t *link);

/* True while the offer or answer waits for the port mappers' first word
 * (at most their probe time, 500 ms): a mapped address signalled after
 * the peer began its checks comes too late, as the peer drops the pairs
 * it has not checked yet once a first pair (a relay) is nominated. */
bool ipop__ice_mapping_pending(const ipop_link_t *link);
/* Moves up to max local candidates to the signalled ones, copying them
 * into cands; returns how many.  *done: gathering is over and every
 * candidate is signalled with these (marked so). */
unsigned ipop__ice_take_cands(ipop_link_t *link, char (*cands)[IPOP__SIGNAL_CAND_MAX + 1], unsigned max, bool *done);
/* Every candidate signalled so far is to be signalled again (first). */
void ipop__ice_unsend(ipop_link_t *link);

/* The peer's candidates (and its end of candidates) for the agent. */
void ipop__ice_add_remote(ipop_link_t *link, const char (*cands)[IPOP__SIGNAL_CAND_MAX + 1], unsigned n, bool done);
/* The same before the peer's credentials are known: kept for later. */
void ipop__ice_hold_remote(ipop_link_t *link, const char (*cands)[IPOP__SIGNAL_CAND_MAX + 1], unsigned n, bool done);
/* Candidates from a message of our session (candidates, or a repeated
 * offer or answer, which carries every candidate signalled so far): to
 * the agent once the peer's description is applied, held before.  libnice
 * takes a candidate it knows again as an update: only new ones add pairs. */
void ipop__ice_take_remote(ipop_link_t *link, const char (*cands)[IPOP__SIGNAL_CAND_MAX + 1], unsigned n, bool done);
/* Hands what ipop__ice_hold_remote() kept to the agent. */
void ipop__ice_add_held(ipop_link_t *link);
