/* SPDX-License-Identifier: MIT */
/* The network and link objects, shared by network.c and link.c. */
#pragma once

#include <agent.h>
#include <glib.h>
#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ipop/ipop.h"
#include "addr.h"
#include "forward.h"
#include "frame.h"
#include "identity.h"
#include "record.h"
#include "offload.h"
#include "message.h"

typedef enum { MODE_NONE, MODE_TUN, MODE_TAP } net_mode;
typedef enum { LOOP_THREAD, LOOP_EXTERNAL, LOOP_GLIB } net_loop;
enum { OVERLAY_NONE, OVERLAY_GROUP, OVERLAY_SOCIAL };

typedef struct relay_server {
    char *host;
    guint port;
    char *user, *pass;
    NiceRelayType type;
    char ip[64]; /* resolved at start */
} relay_server;

enum { STUN_UNKNOWN, STUN_ALIVE, STUN_DEAD };

typedef struct stun_server {
    char *host;
    guint port;
    char ip[64];                /* resolved at start; "" when it did not resolve */
    /* probing (loop thread): which servers answer */
    int state;                  /* STUN_* */
    bool pending;               /* a probe is out */
    uint8_t txid[12];
    gint64 sent_at;
    guint rtt_ms;
} stun_server;

/* Largest DTLS record we send or accept: a frame header and a packet. */
#define REC_MAX (IPOP__FRAME_HDR + IPOP_MAX_PACKET)
/* DTLS datagram size: REC_MAX plus AES-GCM record overhead (37 B).  With
 * UDP (8), IPv6 (40) and a TURN ChannelData header (4) it stays at 1500. */
#define DTLS_MTU 1448
/* Records sent with one ipop__link_send_records() call: their datagrams
 * leave in one nice_agent_send_messages_nonblocking(). */
#define TX_BATCH_MAX 64

struct ipop_link {
    ipop_network_t *net;
    char peer_id[IPOP__NODE_ID_LEN + 1];
    gint state;                 /* ipop_link_state_t, read from any thread */
    gint reason;                /* ipop_reason_t */
    char session[IPOP__SESSION_LEN + 1];
    char dead_session[IPOP__SESSION_LEN + 1]; /* given up by us for a newer one: its offers are stale */
    bool offerer;               /* we opened this session */
    bool controlling;           /* ICE role and DTLS client: the smaller node id */
    bool remote_known;          /* offer or answer received for this session */
    bool in_fwd;                /* our routes point at this link */
    bool ever_connected;
    uint64_t my_seq;            /* the seq of our offer or answer in this session */
    uint64_t peer_seq;          /* the highest seq seen from the peer: older offers are stale */

    NiceAgent *agent;
    guint stream;
    GPtrArray *pending_cands;   /* remote candidates that came before the offer/answer */
    GPtrArray *local_cands;     /* local candidates not yet signalled */
    GPtrArray *sent_cands;      /* local candidates signalled in this session */
    GSource *resend_src;        /* repeats an unanswered offer */
    bool local_done, local_done_sent;
    GSource *flush_src;

    uint8_t remote_fp[32];
    ipop__addr raddr4, raddr6;
    ipop__addr alias4;          /* SocialVPN: the peer's address here, or family 0 */
    char name[128];             /* SocialVPN: the friend's JID */

    gnutls_session_t tls;
    bool tls_done;
    GSource *tls_timer, *timeout_src, *ping_src;
    gint64 last_rx;             /* monotonic time of the last authenticated record */
    unsigned ticks;             /* liveness ticks since DTLS came up */
    bool restarted;             /* this session replaces one whose path was lost */
    bool ice_ready;             /* ICE's checks are over (READY): the loop may read the socket */
    NiceAddress local_base;     /* the host address under the selected local candidate */
    int stun_idx;               /* the STUN server this session gathers with, or -1 */
    ipop_reason_t tls_fail;     /* set by the certificate check */
    GQueue early;               /* GBytes*: handshake datagrams held until a pair is selected */
    const uint8_t *rx_data;     /* the datagram DTLS pulls next */
    size_t rx_len;

    GMutex tx_lock;             /* one DTLS sender at a time */
    /* After the handshake, application data is sealed and opened by
     * record.c (AES-GCM): rec_on and rec_tx under tx_lock, rec_rx in the
     * loop thread; otherwise (another cipher) GnuTLS does the records. */
    bool rec_on;
    ipop__rec rec_tx, rec_rx;
    uint8_t txbuf[REC_MAX];
    /* under tx_lock: datagrams DTLS pushed during ipop__link_send_records() */
    bool tx_batching;
    unsigned tx_batch_n;
    uint8_t *tx_batch;          /* TX_BATCH_MAX datagrams of DTLS_MTU bytes, made on first use */
    size_t tx_batch_len[TX_BATCH_MAX];
    bool no_udp_gso;            /* UDP_SEGMENT failed once on this link: libnice sends all */
    /* The direct path: while DTLS is up over a UDP pair without a relay,
     * the selected pair's socket, sent on (and, in the library's own loops,
     * read) without libnice in between; -1 otherwise.  Set in the loop
     * thread under tx_lock. */
    int direct_fd;
    struct sockaddr_storage direct_to;
    socklen_t direct_to_len;
    char *ice_ufrag, *ice_pwd; /* the agent's local credentials, for checks on the direct path */

    uint32_t ping_seq;
    /* statistics: updated with atomics, read from any thread */
    guint64 tx_packets, tx_bytes, rx_packets, rx_bytes, tx_drops, rx_drops;
    guint rtt_us;
    gint local_path, remote_path;

    /* relay.c: GroupVPN member relay */
    struct ipop__relay_peer *relay; /* made and owned by relay.c (net->relay), or NULL */
    ipop_link_t *via;           /* the member packets to this peer go through now, or NULL (atomic) */
    guint64 relayed_packets, relay_drops; /* packets from this peer this node relayed, or could not */
};

struct ipop_network {
    char *name;
    /* options */
    net_mode mode;
    char *device_opt;
    ipop__addr addr4, addr6;
    int mtu;
    GPtrArray *stun;            /* stun_server* */
    GPtrArray *turn;            /* relay_server* */
    bool relay_only, ice_tcp;
    GPtrArray *local_addrs;     /* char*: host candidates only on these */
    char *identity_file;
    net_loop loop_mode;
    GMainContext *user_ctx;
    guint link_timeout_s;
    bool offload;               /* device.offload: TUN offloads (IFF_VNET_HDR) */

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
    gint quit;                  /* loop=thread: the loop ends (atomic) */
    GThread *thread;
    int epoll_fd;
    GHashTable *epoll_fds;      /* fd -> events, for loop=external */
    GPollFD *ext_fds;           /* loop=external: the context's fds, as many as it has */
    gint ext_cap;
    int timeout_ms;

    int dev_fd;
    char dev_name[16];
    uint8_t dev_mac[6];
    GSource *dev_src;
    unsigned dev_ifindex;
    int mon_fd;                 /* rtnetlink address changes, or -1 */
    GSource *mon_src, *mon_timer;
    bool mon_lost;              /* an address went away since the last check */
    int stun_fd4, stun_fd6;     /* probes to the STUN servers, or -1 */
    GSource *stun_src4, *stun_src6, *stun_timer;
    gint64 stun_probed;         /* when all servers were last probed */
    GMutex mail_lock;           /* work handed to the loop thread */
    GQueue mail;
    GSource *mail_src;

    GMutex lock;                /* guards links and allowed; never held in a callback */
    GHashTable *links;          /* peer id -> ipop_link_t*, never removed until free */
    GPtrArray *link_list;       /* the same links, for flooding */
    struct {                    /* TAP: the last broadcast and multicast frames (under lock) */
        gint64 at;              /* when flooded (monotonic us); 0: empty */
        size_t len, cap;
        uint8_t *frame;
    } held[4];
    unsigned held_next;         /* the slot the next one takes */
    GHashTable *allowed;        /* peer id set */

    ipop__fwd *fwd;
    gint closing_agents;        /* nice_agent_close_async calls in flight (atomic) */

    uint8_t rxbuf[2048];        /* decrypted records; the loop thread only */
    uint8_t devbuf[2048];       /* packets read from the device; the loop thread only */
    struct {                    /* recent host lookups in fwd (route()); the loop thread only */
        ipop__addr dst;
        ipop_link_t *link;      /* NULL: an empty entry */
        uint64_t gen;           /* fwd's IP generation read before the lookup */
    } route_cache[16];
    bool vnet;                  /* the device's packets carry a virtio_net_hdr */
    bool dev_quiet;             /* the last device wakeup read one packet or none */
    uint8_t *gsobuf;            /* vnet: a virtio_net_hdr and up to 64 KB read from the device */
    ipop__gro gro;              /* vnet: segments from the links merged for the device (gro.buf) */
    GSource *gro_src;           /* writes what gro holds once the loop has nothing else to do */
    uint8_t *txb_recs;          /* records from the device, queued for txb_link (TX_BATCH_MAX of REC_MAX) */
    size_t txb_lens[TX_BATCH_MAX];
    unsigned txb_n;
    ipop_link_t *txb_link;
    guint64 no_route, bad_messages;
    uint64_t seq_last;          /* the last seq given to an offer or answer (loop thread) */
    GPtrArray *direct;          /* by fd: the link whose direct path the loop reads itself, or NULL */
    bool serving;               /* the loop is serving the data path (serve_data) */
    bool glib_due;              /* ... and did something that GLib's sources must see */
    struct ipop__drx *drx;      /* buffers for reading them (link.c), made on first use */

    /* signalling over XMPP and the overlay policy (overlay.c) */
    int overlay;                /* OVERLAY_* */
    char *xmpp_jid, *xmpp_password, *xmpp_server, *xmpp_fingerprint;
    unsigned xmpp_port;
    bool xmpp_require_tls;
    char *group_room, *group_secret;
    ipop__addr social_subnet;
    ipop__addr group_subnet4, group_subnet6; /* automatic addresses from the node id */
    bool auto4, auto6;          /* addr4/addr6 were derived, and may move on a conflict */
    unsigned attempt4, attempt6;
    char *social_state_file;
    struct ipop__overlay *ov;

    struct ipop__udp_set *udp;  /* udp.c: UDP endpoints; made by the first ipop_udp_open() */
    struct ipop__relay *relay;  /* relay.c: GroupVPN member relay; made with the network */
};

/* network.c: used by link.c */
GSource *ipop__net_timeout(ipop_network_t *net, guint ms, GSourceFunc fn, void *data);
void ipop__source_clear(GSource **src);
void ipop__net_emit(ipop_network_t *net, const ipop_event_t *ev);
void ipop__net_emit_simple(ipop_network_t *net, ipop_event_type_t type, const char *peer,
                           ipop_link_t *link, ipop_reason_t reason, int error, const char *detail);
void ipop__net_post(ipop_network_t *net, void (*fn)(ipop_network_t *net, void *data), void *data,
                    GDestroyNotify free_fn);
/* Runs fn in the loop thread and waits for it to return. */
void ipop__net_call(ipop_network_t *net, void (*fn)(ipop_network_t *net, void *data), void *data);
void ipop__net_send_signal(ipop_network_t *net, const char *peer, const ipop__msg *m);
void ipop__net_deliver(ipop_network_t *net, ipop_link_t *link, const uint8_t *pkt, size_t len);
/* A link just became CONNECTED (loop thread, no lock held). */
void ipop__net_link_up(ipop_network_t *net, ipop_link_t *link);
/* link.c: reads the link's direct socket until it is empty (or a budget is
 * spent: then it is still readable); the loop calls it when the socket
 * polls readable, instead of libnice's source.  Returns false when it left
 * the socket to libnice's source (a STUN message while ICE still checks). */
bool ipop__link_direct_rx(ipop_link_t *link);
void ipop__net_direct_set(ipop_network_t *net, int fd, ipop_link_t *link);
static inline ipop_link_t *ipop__net_direct_get(const ipop_network_t *net, int fd)
{
    return net->direct && fd >= 0 && (guint)fd < net->direct->len ? net->direct->pdata[fd] : NULL;
}
void ipop__link_drx_free(struct ipop__drx *drx);
/* A peer signalled one of our automatic addresses as its own. */
void ipop__net_addr_conflict(ipop_network_t *net, ipop_link_t *link, int family);
/* A link heard nothing for a while: the signalling path may be dead too. */
void ipop__net_path_suspect(ipop_network_t *net);
/* The STUN server a new agent should use: the first in the configured
 * order that answers probes, else the first not known dead; -1 for none. */
int ipop__net_stun_pick(ipop_network_t *net);

/* link.c */
ipop_link_t *ipop__link_new(ipop_network_t *net, const char *peer_id);
void ipop__link_free(ipop_link_t *link);
int ipop__link_open(ipop_link_t *link);                       /* as offerer, new session */
/* Gives the current session up (goodbye; its offers become stale) and opens a new one. */
int ipop__link_renew(ipop_link_t *link);
/* The path may be gone (nothing heard, or the network changed): a new
 * session with fresh candidates, without passing through FAILED.  For a
 * connected or connecting link only. */
void ipop__link_restart(ipop_link_t *link, ipop_reason_t why);
/* Whether the host address under the link's selected pair is still one of
 * `present` (NiceAddress*); false when the link has no selected pair. */
bool ipop__link_lost_base(ipop_link_t *link, GPtrArray *present);
/* Signalling is back after an outage: repeat what is unanswered now. */
void ipop__link_signalling_back(ipop_link_t *link);
/* A link still coming up whose STUN server turned out dead: a new session
 * that gathers with another. */
void ipop__link_regather(ipop_link_t *link);
void ipop__link_handle(ipop_link_t *link, const ipop__msg *m); /* a message for this link */
void ipop__link_shutdown(ipop_link_t *link, ipop_reason_t reason, bool say_bye);
int ipop__link_send_record(ipop_link_t *link, const uint8_t *rec, size_t len);
/* Sends n data records (at most TX_BATCH_MAX) as ipop__link_send_record()
 * would, with one call into libnice for all their datagrams, and counts
 * them in the link's tx statistics.  The loop thread only.  Returns how
 * many were encrypted and handed on. */
unsigned ipop__link_send_records(ipop_link_t *link, uint8_t *const *recs, const size_t *lens, unsigned n);
int ipop__link_send_packet(ipop_link_t *link, const uint8_t *pkt, size_t len);
/* SocialVPN: route the peer by `alias` (NULL: by its own address) and translate. */
void ipop__link_set_alias(ipop_link_t *link, const ipop__addr *alias, const char *name);
/* Before a packet goes to the peer: a SocialVPN alias destination becomes its address. */
void ipop__link_out_rewrite(ipop_link_t *link, uint8_t *pkt, size_t len);

/* udp.c */
typedef struct ipop__udp_set ipop__udp_set;
bool ipop__udp_deliver(ipop_network_t *net, ipop_link_t *link, const uint8_t *pkt, size_t len);
void ipop__udp_set_free(ipop__udp_set *set);        /* with the network: frees endpoints left open */
uint64_t ipop__udp_rx_drops(ipop_network_t *net);   /* bad datagrams to an open port, for tests */
