/* SPDX-License-Identifier: MIT */
/* The network object: its options, its running state, and the state of
 * each module that serves it, as sub-structs declared by those modules
 * (loop.h, tx.h, rx.h, underlay.h).  Fields not in a sub-struct are shared
 * by several modules; the comments say who writes them. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "ipop/ipop.h"
#include "addr.h"
#include "admit.h"
#include "forward.h"
#include "frame.h"
#include "identity.h"
#include "loop.h"
#include "options.h"
#include "rx.h"
#include "tx.h"
#include "underlay.h"


struct ipop_network {
    char *name;
    /* options (options.c): set before start, read-only while running */
    net_mode mode;
    char *device_opt;
    ipop__addr addr4, addr6;    /* also written by autoaddr.c, under lock */
    int mtu;
    GPtrArray *stun;            /* stun_server* */
    GPtrArray *turn;            /* relay_server* */
    bool relay_only, ice_tcp;
    unsigned port_mapping;      /* IPOP__PM_* protocols asked for ("ice.port-mapping") */
    struct ipop__upnp *upnp;    /* upnp.c: the UPnP IGD client while running, when asked for (loop thread) */
    bool mapping_silent;        /* the mappers' last word was none: later links do not hold their
                                 * offers for them (ice.c, loop thread) */
    GPtrArray *local_addrs;     /* char*: host candidates only on these */
    char *identity_file;
    net_loop loop_mode;
    GMainContext *user_ctx;
    guint link_timeout_s;
    guint link_max;             /* link.max: links not closed, at most */
    gint64 link_max_logged;     /* when a refusal by link.max was last logged */
    guint rekey_interval_s;      /* link.rekey-interval: a link's keys are renewed this often */
    bool offload;               /* device.offload: TUN offloads (IFF_VNET_HDR) */
    bool gnutls_records;        /* dtls.record=gnutls: GnuTLS seals and opens the data, not record.c */
    bool tap_tagged;            /* tap.tagged: 802.1Q/802.1ad tagged frames from peers (checked inside) */
    bool broadcast;             /* broadcast: tun and none modes carry broadcast and multicast to every member */
    unsigned broadcast_rate;    /* broadcast.rate: of those, packets a second at most (as many in a burst) */

    ipop_signal_cb signal_cb;
    void *signal_ud;
    char *signal_scope;         /* signal.scope: what host-carried signalling is signed for */
    struct ipop__sigauth *sigauth; /* sigauth.c: signs and verifies signalling; made at start */
    ipop_packet_cb packet_cb;
    void *packet_ud;
    ipop_event_cb event_cb;
    void *event_ud;

    /* running */
    gint running;               /* read from any thread */
    ipop__identity *id;
    char node_id[IPOP__NODE_ID_LEN + 1];
    GMainContext *ctx;
    struct ipop__loop loop;     /* loop.c */
    GPtrArray *direct;          /* loop.c, by fd: the link whose direct path the loop reads itself, or NULL */
    bool glib_due;              /* the loop is serving data, and something was done that GLib's sources must see */
    struct ipop__drx *drx;      /* buffers for reading direct paths (link.c), made on first use */
    gint closing_agents;        /* nice_agent_close_async calls in flight (atomic) */

    /* the device (device.c) */
    int dev_fd;
    char dev_name[16];
    uint8_t dev_mac[6];
    GSource *dev_src;           /* tx.c reads it */
    unsigned dev_ifindex;
    bool vnet;                  /* the device's packets carry a virtio_net_hdr */

    struct ipop__tx tx;         /* tx.c */
    struct ipop__rx rx;         /* rx.c */
    struct ipop__underlay underlay; /* underlay.c */

    GMutex lock;                /* guards links, allowed, addresses, held frames; never held in a callback */
    const struct ipop__link_ops *link_ops; /* peers.c: every link is made with them (fixed by network.c) */
    const struct ipop__peers_gate *peers_gate; /* peers.c: admits links and messages (fixed by network.c) */
    GHashTable *links;          /* peer id -> ipop_link_t*, never removed until free */
    GPtrArray *link_list;       /* the same links, for flooding */
    GHashTable *allowed;        /* peer id set */

    ipop__fwd *fwd;
    uint8_t rxbuf[2048];        /* decrypted records; the loop thread only */
    guint64 no_route, bad_messages;
    guint64 tap_refused[5];     /* rx.c: TAP frames refused, by ipop__tap_verdict (atomics) */
    guint64 relay_refused;      /* relay.c: RELAYED frames not from this node's relay for the origin */
    guint64 cands_dropped;      /* ice.c: remote candidates beyond what is held before the offer */
    guint64 bcast_sent, bcast_limited; /* tx.c: broadcast and multicast packets sent to every member, or over broadcast.rate */
    guint64 too_big, too_big_answered; /* tx.c: device packets above their link's MTU, dropped; of them answered with ICMP */
    uint64_t seq_last;          /* the last seq given to an offer or answer (loop thread) */
    gint64 offer_pace;          /* link.c: the pace of new offers (GCRA theoretical arrival time, us) */

    /* signalling over XMPP and the overlay policy (overlay.c) */
    int overlay;                /* OVERLAY_* */
    char *xmpp_jid, *xmpp_password, *xmpp_server, *xmpp_fingerprint;
    unsigned xmpp_port;
    bool xmpp_require_tls;
    char *group_room, *group_secret;
    /* GroupVPN with an authority (certauth.c): the options, and the state made at start */
    char *group_authority, *group_certificate, *group_revocations;
    bool group_secret_derived;  /* group_secret was made from group_authority at start (no group.secret) */
    struct ipop__certauth *certauth;
    ipop__addr social_subnet;
    ipop__addr group_subnet4, group_subnet6; /* automatic addresses from the node id */
    bool auto4, auto6;          /* addr4/addr6 were derived, and may move on a conflict (autoaddr.c) */
    unsigned attempt4, attempt6;
    gint64 addr_since4, addr_since6; /* when the automatic address was taken (monotonic us; 0: moving) */
    char *social_state_file;
    struct ipop__overlay *ov;
    /* overlay.c: the XMPP transport's state, under lock (ipop_network_get_signal_status) */
    struct ipop__sigstatus {
        ipop_signal_state_t state;
        ipop_reason_t reason;
        gint64 since, retry_at;   /* monotonic us */
        unsigned failures;
        char detail[256], condition[64], fingerprint[96];
    } sig;

    struct ipop__udp_set *udp;  /* udp.c: UDP endpoints; made by the first ipop_udp_open() */
    struct ipop__relay *relay;  /* relay.c: GroupVPN member relay; made with the network */

    /* names.c: option "name" (canonical, "" unset), the name in effect
     * (set at start: the option, the certificate's, or the default), and
     * the claims of the peers' names, under lock */
    char name_opt[64], own_name[64];
    bool own_name_told;         /* a peer with a smaller node id claims own_name: reported */
    GHashTable *names;          /* name -> GPtrArray of ipop_link_t* that signalled it */

    /* routes.c: option "routes" (announced in offers and answers), option
     * "accept-routes", the accepted routes (made at start), and the
     * announced prefixes not taken (atomic) */
    ipop__addr routes_opt[IPOP__SIGNAL_ROUTES_MAX];
    unsigned n_routes_opt;
    bool accept_routes;
    struct ipop__rtab *rtab;
    guint64 routes_refused;
};

/* The largest packet (TAP: frame) the host may send or receive. */
static inline int ipop__net_max_packet(const ipop_network_t *net)
{
    return net->mode == MODE_TAP ? net->mtu + IPOP__ETH_HLEN : net->mtu;
}
