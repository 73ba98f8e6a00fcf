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
#include "link.h"

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
void ipop__net_direct_set(ipop_network_t *net, int fd, ipop_link_t *link);
static inline ipop_link_t *ipop__net_direct_get(const ipop_network_t *net, int fd)
{
    return net->direct && fd >= 0 && (guint)fd < net->direct->len ? net->direct->pdata[fd] : NULL;
}
/* A peer signalled one of our automatic addresses as its own. */
void ipop__net_addr_conflict(ipop_network_t *net, ipop_link_t *link, int family);
/* A link heard nothing for a while: the signalling path may be dead too. */
void ipop__net_path_suspect(ipop_network_t *net);
/* The STUN server a new agent should use: the first in the configured
 * order that answers probes, else the first not known dead; -1 for none. */
int ipop__net_stun_pick(ipop_network_t *net);

/* udp.c */
typedef struct ipop__udp_set ipop__udp_set;
bool ipop__udp_deliver(ipop_network_t *net, ipop_link_t *link, const uint8_t *pkt, size_t len);
void ipop__udp_set_free(ipop__udp_set *set);        /* with the network: frees endpoints left open */
uint64_t ipop__udp_rx_drops(ipop_network_t *net);   /* bad datagrams to an open port, for tests */
