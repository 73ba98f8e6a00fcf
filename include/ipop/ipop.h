/* SPDX-License-Identifier: MIT */
/**
 * @file ipop.h
 * @brief libipop: user-defined peer-to-peer virtual private networks.
 *
 * A node creates one ipop_network_t per virtual network it belongs to, sets
 * options, starts it, and then links to peers.  Each link ("TinCan link") is a
 * UDP path found by ICE (host, server-reflexive or relayed candidates) and
 * secured by DTLS 1.2 with both certificates pinned to the SHA-256
 * fingerprints carried in signalling.
 *
 * Conventions
 * -----------
 * - Every function that can fail returns an int: 0 (or a positive value) on
 *   success, a negative errno value on failure.  ipop_strerror() names it.
 * - Objects are configured, then started.  Setters return -EBUSY once the
 *   network is started, unless their documentation says otherwise.
 * - The library never writes to stdout or stderr; it logs through the
 *   callback set with ipop_set_log_cb().
 *
 * Threads and loops
 * -----------------
 * By default each started network runs its own thread, and every callback of
 * that network (signal, packet, event) is called from it.  A host that owns
 * its loop sets the option "loop" to "external" before start and then drives
 * the network with ipop_network_get_fd(), ipop_network_get_timeout() and
 * ipop_network_process(); callbacks are then called from inside
 * ipop_network_process().  GLib hosts can attach the network to their own
 * GMainContext with ipop/ipop-glib.h.
 *
 * ipop_network_send_packet() and ipop_network_signal_receive() may be called
 * from any thread, including from inside a callback of this or another
 * network.  Callbacks are never called with an internal lock held.  The other
 * functions must not be called concurrently on the same network.
 *
 * Lifetimes
 * ---------
 * An ipop_link_t belongs to its network and stays valid until the network is
 * freed, whatever its state; ipop_link_close() closes it but does not free it.
 * Strings passed to callbacks are valid only during the call.
 */
#ifndef IPOP_IPOP_H
#define IPOP_IPOP_H

#include <stddef.h>
#include <stdint.h>

#include <ipop/ipop-version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(IPOP_COMPILATION)
#define IPOP_EXPORT __attribute__((visibility("default")))
#else
#define IPOP_EXPORT
#endif

/** One virtual network this node is a member of. */
typedef struct ipop_network ipop_network_t;
/** One TinCan link to one peer. Owned by its network. */
typedef struct ipop_link ipop_link_t;

/** Largest packet (IP packet in tun/none mode, Ethernet frame without FCS
 * in tap mode) a link carries.  ipop_network_send_packet() refuses larger
 * ones with -EMSGSIZE. */
#define IPOP_MAX_PACKET 1410
/** Device MTU used when the option "mtu" is not set (tap mode: 14 less,
 * the Ethernet header).  The largest packet whose outer packet keeps within
 * 1440 bytes over IPv6 and 1460 over IPv4 (common cloud underlays), however
 * it travels: 1440 - 98 bytes of overhead in the worst case (IPv6 40, UDP
 * 8, TURN ChannelData 4, DTLS record header 13, AES-GCM explicit nonce 8
 * and tag 16, member relay frame header 9); direct over IPv4 a packet
 * takes 66 more bytes (doc/architecture.md, "MTU"). */
#define IPOP_DEFAULT_MTU 1342
/** Largest device MTU (option "mtu", modes tun and none).  Packets above
 * what their link carries (IPOP_MAX_PACKET; 8 bytes less through a member
 * relay) are answered into the device with ICMP "fragmentation needed"
 * (IPv4 with DF set; others are dropped) or ICMPv6 "packet too big", and
 * counted (ipop_network_stats_t.too_big). */
#define IPOP_MAX_MTU 1500
/** Broadcast and multicast packets a second (and in a burst) that a
 * network sends to every member when the option "broadcast.rate" is not set. */
#define IPOP_BROADCAST_RATE 100
/** Longest node id, without the terminating NUL. */
#define IPOP_NODE_ID_MAX 64

/** Link states, as returned by ipop_link_get_state(). */
typedef enum ipop_link_state {
    IPOP_LINK_NEW = 0,        /**< created, nothing sent yet */
    IPOP_LINK_CONNECTING = 1, /**< signalling, ICE checks or DTLS handshake under way */
    IPOP_LINK_CONNECTED = 2,  /**< DTLS established: packets flow */
    IPOP_LINK_FAILED = 3,     /**< gave up; the reason says why */
    IPOP_LINK_CLOSED = 4,     /**< closed by this side or by the peer */
} ipop_link_state_t;

/** Machine-readable reasons carried by events and link statistics. */
typedef enum ipop_reason {
    IPOP_REASON_NONE = 0,
    IPOP_REASON_ICE_FAILED = 1,           /**< no candidate pair worked */
    IPOP_REASON_CONSENT_LOST = 2,         /**< ICE failed after the link's DTLS session was up (rare: libnice's
                                               consent freshness is off; a peer that stops answering is found
                                               by the link's own pings, IPOP_REASON_PATH_LOST) */
    IPOP_REASON_DTLS_FAILED = 3,          /**< the DTLS handshake failed for another reason */
    IPOP_REASON_FINGERPRINT_MISMATCH = 4, /**< the peer's certificate is not the one signalled */
    IPOP_REASON_PEER_NOT_ALLOWED = 5,     /**< a message came from a peer that is not allowed */
    IPOP_REASON_PEER_CLOSED = 6,          /**< the peer said goodbye */
    IPOP_REASON_LOCAL_CLOSED = 7,         /**< ipop_link_close() or ipop_network_stop() */
    IPOP_REASON_TIMEOUT = 8,              /**< the link did not come up in time */
    IPOP_REASON_BAD_MESSAGE = 9,          /**< a signalling message could not be parsed */
    IPOP_REASON_DEVICE_ERROR = 10,        /**< the TUN/TAP device failed */
    IPOP_REASON_SUPERSEDED = 11,          /**< replaced by a newer session with the same peer */
    IPOP_REASON_NOT_AUTHENTICATED = 12,   /**< a signalling message not signed by the node it names, signed for
                                               another node or scope, replayed or out of time; or a group message
                                               without a valid proof of the group secret */
    IPOP_REASON_IDENTITY_CHANGED = 13,    /**< a SocialVPN friend came with another node id than the pinned one */
    IPOP_REASON_PATH_LOST = 14,           /**< nothing heard from the peer for 2.5 s: ICE gathers and starts again */
    IPOP_REASON_NETWORK_CHANGED = 15,     /**< ipop_network_changed(), or a local address went away: ICE starts again */
    IPOP_REASON_NOT_CERTIFIED = 16,       /**< group with an authority: the member has no valid certificate (none,
                                               another authority's or node's, expired, revoked), or used an
                                               address its certificate does not give; the event's error says which */
    IPOP_REASON_ADDRESS_IN_USE = 17,      /**< a peer claimed a virtual address that this node or another connected
                                               peer holds: the claim is refused (IPOP_EVENT_PEER_REFUSED) */
    IPOP_REASON_REKEY_FAILED = 18,        /**< the link's keys could not be renewed in place (the peer did not answer
                                               in time, or the session cannot export keys): a new session starts */
    /* Reasons of the signalling transport (IPOP_EVENT_SIGNAL_STATE, ipop_signal_status_t): */
    IPOP_REASON_AUTH_FAILED = 19,         /**< the XMPP server refused the account's password (SASL failure, such
                                               as "not-authorized"), or no mechanism both sides know */
    IPOP_REASON_NAME_NOT_RESOLVED = 20,   /**< the XMPP server's name (xmpp.server, else the JID's domain) does
                                               not resolve */
    IPOP_REASON_UNREACHABLE = 21,         /**< the XMPP server could not be reached: connection refused, timed
                                               out, no route, or the connection broke */
    IPOP_REASON_TLS_REFUSED = 22,         /**< the XMPP server's certificate did not verify and is not the one
                                               pinned with "xmpp.server-fingerprint" */
    IPOP_REASON_SERVER_CLOSED = 23,       /**< the XMPP server closed the stream (a stream error such as
                                               "system-shutdown" or "conflict", or without one) */
    IPOP_REASON_SERVER_SILENT = 24,       /**< the XMPP server stopped answering pings: the connection is cut
                                               and made again */
    IPOP_REASON_NAME_IN_USE = 25,         /**< a peer signalled a name (option "name") that a member with a
                                               smaller node id (this node, or another peer) claims too: the
                                               peer is shown and resolved as NAME-<the first 6 characters of
                                               its node id> (IPOP_EVENT_PEER_REFUSED, error -EEXIST, once per
                                               claim; its link is not touched).  Also reported when the
                                               smaller node id is a peer's and the name this node's */
} ipop_reason_t;

/** Candidate types of a selected ICE pair. */
typedef enum ipop_path_type {
    IPOP_PATH_UNKNOWN = 0,
    IPOP_PATH_HOST = 1,  /**< direct, host address */
    IPOP_PATH_SRFLX = 2, /**< server-reflexive (learned through STUN) */
    IPOP_PATH_PRFLX = 3, /**< peer-reflexive (learned during checks) */
    IPOP_PATH_RELAY = 4, /**< relayed through a TURN server */
    IPOP_PATH_MEMBER = 5, /**< GroupVPN: through another member of the group, named by
                               ipop_link_stats_t.relay_id, while the direct link is down */
} ipop_path_type_t;

/** The protocol that made a port mapping on a home router (option
 * "ice.port-mapping"). */
typedef enum ipop_port_mapping {
    IPOP_PORT_MAPPING_NONE = 0,   /**< no mapping on the path */
    IPOP_PORT_MAPPING_UPNP = 1,   /**< UPnP IGD */
    IPOP_PORT_MAPPING_NATPMP = 2, /**< NAT-PMP (RFC 6886) */
    IPOP_PORT_MAPPING_PCP = 3,    /**< PCP MAP (RFC 6887) */
} ipop_port_mapping_t;

/** Event types passed to the event callback. */
typedef enum ipop_event_type {
    IPOP_EVENT_LINK_STATE = 1,   /**< a link changed state; `state` and `reason` say how */
    IPOP_EVENT_PEER_REFUSED = 2, /**< a peer was refused; `reason` says why */
    IPOP_EVENT_DEVICE_ERROR = 3, /**< the TUN/TAP device failed; `error` is a -errno */
    IPOP_EVENT_BAD_MESSAGE = 4,  /**< a signalling message was dropped; `error` is a -errno */
    IPOP_EVENT_SIGNAL_STATE = 5, /**< the built-in (XMPP) signalling changed state: `signal_state` and
                                      `reason` say how, `detail` says it in words (the server's own text
                                      quoted as the server's).  Reported at each change, not at each
                                      attempt; ipop_network_get_signal_status() tells the state now */
} ipop_event_type_t;

/** States of the built-in (XMPP) signalling transport. */
typedef enum ipop_signal_state {
    IPOP_SIGNAL_NONE = 0,          /**< no built-in signalling (the host carries it), or not started */
    IPOP_SIGNAL_CONNECTING = 1,    /**< the first connection is under way */
    IPOP_SIGNAL_UP = 2,            /**< the session is up: signalling flows */
    IPOP_SIGNAL_AUTH_FAILED = 3,   /**< the server refused the password (IPOP_REASON_AUTH_FAILED); retried
                                        with a back-off from 5 s doubling to 5 min */
    IPOP_SIGNAL_UNREACHABLE = 4,   /**< the server's name does not resolve (IPOP_REASON_NAME_NOT_RESOLVED),
                                        it cannot be reached or the connection was lost
                                        (IPOP_REASON_UNREACHABLE, IPOP_REASON_SERVER_SILENT); retried */
    IPOP_SIGNAL_TLS_REFUSED = 5,   /**< the server's certificate was refused (IPOP_REASON_TLS_REFUSED): the
                                        status's `fingerprint` is the one seen; retried as after an
                                        authentication failure */
    IPOP_SIGNAL_SERVER_CLOSED = 6, /**< the server closed the session (IPOP_REASON_SERVER_CLOSED); retried */
} ipop_signal_state_t;

/** An event.  Valid only during the callback. */
typedef struct ipop_event {
    size_t size;             /**< sizeof(ipop_event_t) of the library; fields may be added at the end */
    ipop_event_type_t type;  /**< what happened */
    const char *peer_id;     /**< the peer concerned, or NULL */
    ipop_link_t *link;       /**< the link concerned, or NULL */
    ipop_link_state_t state; /**< for IPOP_EVENT_LINK_STATE: the new state */
    ipop_reason_t reason;    /**< why, or IPOP_REASON_NONE */
    int error;               /**< a -errno value, or 0 */
    const char *detail;      /**< human-readable text, never NULL */
    ipop_signal_state_t signal_state; /**< for IPOP_EVENT_SIGNAL_STATE: the new state */
} ipop_event_t;

/** The state of a network's built-in signalling.  Set `size` to
 * sizeof(ipop_signal_status_t) before calling
 * ipop_network_get_signal_status(); the library fills at most that many
 * bytes.  Fields may be added at the end. */
typedef struct ipop_signal_status {
    size_t size;                 /**< set by the caller: sizeof(ipop_signal_status_t) */
    ipop_signal_state_t state;   /**< the state now */
    ipop_reason_t reason;        /**< why, for a state other than IPOP_SIGNAL_UP; IPOP_REASON_NONE otherwise */
    uint64_t since_ms;           /**< how long the state has lasted, in milliseconds */
    uint64_t retry_ms;           /**< when not up: milliseconds until the next attempt (0: under way) */
    uint32_t failures;           /**< attempts failed in a row (0 once up) */
    char detail[256];            /**< the state in words, e.g. "authentication failed (not-authorized)"
                                      or "the server closed the session: Received SIGTERM"; "" when up */
    char condition[64];          /**< the server's condition, e.g. "not-authorized", "system-shutdown";
                                      "" when none */
    char fingerprint[96];        /**< IPOP_SIGNAL_TLS_REFUSED: the SHA-256 fingerprint of the certificate
                                      the server showed, as "xmpp.server-fingerprint" takes it */
} ipop_signal_status_t;

/** Link statistics.  Set `size` to sizeof(ipop_link_stats_t) before calling
 * ipop_link_get_stats(); the library fills at most that many bytes.  Fields
 * may be added at the end. */
typedef struct ipop_link_stats {
    size_t size;                     /**< set by the caller: sizeof(ipop_link_stats_t) */
    ipop_link_state_t state;         /**< the link's state now */
    ipop_reason_t reason;            /**< why the link failed or closed */
    uint64_t tx_packets;             /**< packets sent to the peer */
    uint64_t tx_bytes;               /**< bytes sent to the peer */
    uint64_t rx_packets;             /**< packets received and delivered */
    uint64_t rx_bytes;               /**< bytes received and delivered */
    uint64_t tx_drops;               /**< packets not sent (too big, link not up, send error) */
    uint64_t rx_drops;               /**< packets received and dropped (bad frame, spoofed source) */
    uint32_t rtt_us;                 /**< smoothed round-trip time in microseconds, 0 if unknown */
    ipop_path_type_t local_path;     /**< type of the local candidate of the selected pair */
    ipop_path_type_t remote_path;    /**< type of the remote candidate of the selected pair */
    char peer_id[IPOP_NODE_ID_MAX + 1]; /**< the peer's node id */
    char address[48];                /**< the peer's IPv4 virtual address as this node reaches it, "" if none */
    char name[128];                  /**< SocialVPN: the friend's JID; "" otherwise */
    char relay_id[IPOP_NODE_ID_MAX + 1]; /**< GroupVPN: the member that packets to and from the peer go
                                          through while the direct link is down (local_path and
                                          remote_path are then IPOP_PATH_MEMBER); "" when direct */
    uint64_t relayed_packets;        /**< packets from this peer that this node relayed to another member */
    uint64_t relay_drops;            /**< packets from this peer to relay that this node could not
                                          (no connected link to the destination) */
    ipop_port_mapping_t port_mapping; /**< the selected pair's local end is a port mapping that this
                                           node's router made, and by which protocol (IPOP_PORT_MAPPING_NONE:
                                           it is not) */
    int32_t remote_port_mapping;     /**< 1 when the selected pair's remote end is a port mapping of the
                                          peer's router (its candidate says so), else 0 */
    char peer_name[64];              /**< the peer's name (its option "name", signalled with its offers and
                                          answers), as ipop_network_resolve() knows it: NAME-<6 characters
                                          of its node id> when a member with a smaller node id claims the
                                          same name; "" when the peer signals none (an older version) */
    uint32_t routes;                 /**< subnet routes this node took from the peer's announcement (option
                                          "accept-routes") and sends to it: those of its prefixes that no
                                          member with a smaller node id announces too */
    char route_list[256];            /**< those routes as "P,P", e.g. "192.168.77.0/24,fd77::/64", as many as
                                          fit, then ",..." */
} ipop_link_stats_t;

/** Statistics of a network.  Set `size` to sizeof(ipop_network_stats_t)
 * before calling ipop_network_get_stats(). */
typedef struct ipop_network_stats {
    size_t size;               /**< set by the caller: sizeof(ipop_network_stats_t) */
    uint64_t signal_refused;   /**< signalling messages refused: malformed, unauthenticated, replayed, not allowed */
    uint64_t no_route;         /**< packets from the host (the device, ipop_network_send_packet()) with
                                    no link to their destination */
    uint32_t links;            /**< links known, in any state */
    uint32_t links_connected;  /**< links connected now */
    uint64_t relayed_packets;  /**< GroupVPN: packets this node relayed between two other members */
    uint64_t relay_drops;      /**< GroupVPN: packets to relay that this node dropped */
    uint64_t relay_refused;    /**< GroupVPN: RELAYED frames dropped because they did not come from the
                                    member relaying for their origin (a member forging another's packets) */
    uint64_t tap_refused_type; /**< TAP: frames from peers of an Ethernet type not carried (802.1Q and
                                    802.1ad tags unless "tap.tagged", PPPoE, MPLS, LLC, ...) */
    uint64_t tap_refused_source; /**< TAP: frames from peers whose IP source, ARP or neighbour discovery
                                      sender, target or link-layer address is not the peer's, or malformed */
    uint64_t tap_refused_mac;  /**< TAP: frames from peers whose source MAC belongs to another link or to
                                    this node, is multicast or zero, or would exceed the peer's MACs */
    uint64_t candidates_dropped; /**< remote ICE candidates dropped: more came before the offer or answer
                                      than a session holds (IPOP_PENDING_CANDIDATES_MAX) */
    uint64_t broadcast_packets; /**< modes tun and none: broadcast and multicast packets from the host sent
                                     to every member (options "broadcast", "broadcast.rate") */
    uint64_t broadcast_dropped; /**< modes tun and none: broadcast and multicast packets from the host
                                     dropped, over "broadcast.rate" */
    uint64_t too_big;          /**< mode tun: packets from the device larger than their link carries
                                    (an "mtu" above IPOP_MAX_PACKET, or a member relay's 8 bytes), dropped */
    uint64_t too_big_answered; /**< of too_big: those answered into the device with ICMP "fragmentation
                                    needed" or ICMPv6 "packet too big" (rate-limited; IPv4 only with DF) */
    uint64_t routes_refused;   /**< mode tun: subnet routes announced by peers and not taken: overlapping
                                    this network's own addresses, over IPOP_ROUTES_MAX, or (group.authority)
                                    outside the peer's certificate (then its whole offer is refused) */
    uint32_t routes;           /**< mode tun: subnet routes taken from peers now (option "accept-routes") */
} ipop_network_stats_t;

/** Subnet routes one member may announce (option "routes"). */
#define IPOP_ROUTES_MAX 64
/** Subnet routes a network takes from its peers in all (option
 * "accept-routes"); more are counted in ipop_network_stats_t.routes_refused. */
#define IPOP_ROUTES_TOTAL_MAX 1024

/** Remote candidates a link holds for a session whose offer or answer has
 * not come yet (candidates may arrive first); more are dropped and counted
 * in ipop_network_stats_t.candidates_dropped. */
#define IPOP_PENDING_CANDIDATES_MAX 64

/** Log levels (syslog's numbers). */
typedef enum ipop_log_level {
    IPOP_LOG_ERR = 3,
    IPOP_LOG_WARNING = 4,
    IPOP_LOG_NOTICE = 5,
    IPOP_LOG_INFO = 6,
    IPOP_LOG_DEBUG = 7,
} ipop_log_level_t;

/** Called with a signalling message that the host must deliver to peer
 * `peer_id` (through ipop_network_signal_receive() on the peer's side).
 * `message` is one line of printable ASCII, at most 8192 bytes, signed by
 * this node for `peer_id` (doc/protocol.md): the host carries it as it is. */
typedef void (*ipop_signal_cb)(ipop_network_t *net, const char *peer_id, const char *message, void *user_data);
/** Called with each packet that arrived from the overlay, in mode "none". */
typedef void (*ipop_packet_cb)(ipop_network_t *net, const void *packet, size_t len, void *user_data);
/** Called with each event of a network. */
typedef void (*ipop_event_cb)(ipop_network_t *net, const ipop_event_t *event, void *user_data);
/** Called with each log line.  `net` is NULL for lines not tied to a network. */
typedef void (*ipop_log_cb)(ipop_log_level_t level, ipop_network_t *net, const char *message, void *user_data);

/** Creates a network object named `name` (a label used in logs; may be
 * NULL).  On success stores it in *ret and returns 0; on failure leaves *ret
 * untouched and returns -EINVAL or -ENOMEM. */
IPOP_EXPORT int ipop_network_new(ipop_network_t **ret, const char *name);

/** Stops (as ipop_network_stop()) and frees a network and all its links.
 * Accepts NULL.  Returns NULL.  Must not be called from inside one of the
 * network's own callbacks. */
IPOP_EXPORT ipop_network_t *ipop_network_free(ipop_network_t *net);

/** Sets option `key` to `value` (a string, as in ipopd's config file).
 * Returns -EINVAL for an unknown key or a bad value (and logs the key),
 * -EBUSY once started.  Keys:
 *  - "mode": "none" (default: packets through callbacks, no root), "tun", "tap"
 *  - "device": device name (default: chosen by the kernel, e.g. ipop0)
 *  - "device.offload": "true" (default) or "false": in modes tun and tap,
 *    let the kernel hand over TCP super-segments (tap: Ethernet frames) of
 *    up to 64 KB and unfinished checksums (device offloads, IFF_VNET_HDR),
 *    which the library splits into MTU-sized packets, and write merged ones
 *    back: far fewer reads and writes per byte.  Ignored in mode none
 *  - "tap.tagged": "true" or "false" (default false): in mode tap, carry
 *    frames from peers with up to two 802.1Q or 802.1ad VLAN tags (the
 *    frame inside is checked as an untagged one); otherwise such frames
 *    are dropped and counted (ipop_network_stats_t.tap_refused_type), as
 *    are every Ethernet type but ARP, IPv4 and IPv6
 *  - "broadcast": "true" (default) or "false": in modes tun and none, a
 *    packet from the host to the IPv4 limited broadcast (255.255.255.255),
 *    to the broadcast address of this node's IPv4 subnet (its "address"
 *    prefix, up to /30), or to an IPv4 or IPv6 multicast group (IPv6: of
 *    link-local scope or wider) goes to every connected member (SocialVPN:
 *    every connected friend), so that discovery by broadcast, mDNS or SSDP
 *    works without mode tap.  Only a packet whose source is this node's own
 *    address of its family goes (receivers accept nothing else), and no
 *    IGMP.  A member delivers it to its host and never sends it on, nor
 *    back.  With "false" such packets are dropped and counted in no_route.
 *    SocialVPN rewrites the source to the receiver's address for the
 *    sender, not the destination: a subnet broadcast reaches a friend's
 *    programs only when the friend's own "address" is in the same subnet
 *    (the limited broadcast and multicast reach them whatever it is)
 *  - "broadcast.rate": packets a second, 1 to 1000000 (default
 *    IPOP_BROADCAST_RATE, and as many in a burst), that "broadcast" sends
 *    at most, each to every member; more are dropped and counted
 *    (ipop_network_stats_t.broadcast_dropped)
 *  - "address": an IPv4 or IPv6 address with prefix, e.g. "10.10.0.1/24";
 *    may be set once per family
 *  - "mtu": device MTU, 576..IPOP_MAX_MTU (1500; tap mode: up to
 *    IPOP_MAX_PACKET - 14) (default IPOP_DEFAULT_MTU, 1342: outer packets
 *    of at most 1440 bytes over IPv6, 1460 over IPv4).  TCP SYNs through
 *    the device get their MSS lowered to what a link carries (mtu - 40,
 *    IPv4; mtu - 60, IPv6); larger packets than a link carries are
 *    answered with ICMP "too big" (IPOP_MAX_MTU)
 *  - "ice.stun": "host:port"; may be given several times: the network
 *    probes them (a STUN Binding request each, again every 30 s and when
 *    the network changes) and each new link gathers with the first, in
 *    the order given, that answers; one that stops answering is skipped
 *    (links still coming up with it gather again)
 *  - "ice.turn": "turn:user:pass@host:port?transport=udp|tcp"; several
 *    allowed, all used at once (a dead one adds no candidate)
 *  - "ice.local-address": an IP address (no prefix) to gather host
 *    candidates on; several allowed; default: every interface but loopback
 *  - "ice.relay-only": "true" or "false": use only relayed candidates
 *  - "ice.port-mapping": "true", "false" (the default), or a comma-separated
 *    list of "upnp", "natpmp" and "pcp" ("true" is "natpmp,pcp"): ask the
 *    home router for a port mapping of each link's UDP port, so that a
 *    peer reaches this node directly even behind a symmetric NAT.  PCP,
 *    falling back to NAT-PMP, on the default gateway's port 5351; UPnP IGD
 *    only when named (it is looked for with SSDP multicast on every
 *    interface when the network starts, and where no router answers, each
 *    session's end of candidates waits the 500 ms), then asked over HTTP.
 *    A mapped address becomes a candidate of higher priority than a relay;
 *    a router that does not answer costs no setup time (asked in parallel
 *    with gathering, given up after 500 ms).  Mappings last an hour, are
 *    renewed at half time and deleted when the link's session ends.  Off by
 *    default in the library: a host program opening ports on the user's
 *    router is a choice its author makes (ipopd turns it on)
 *  - "ice.tcp": "true" or "false" (default false): ICE-TCP candidates
 *  - "identity.file": path of the node key and certificate, created (mode
 *    0600) when missing; without it the identity lives in memory only.  An
 *    existing file must be a regular file (not a symbolic link) owned by the
 *    effective user, with no permission for group or others: anything else
 *    is refused, with a log line naming the fix (e.g. "chmod 600 FILE")
 *  - "loop": "thread" (default: the library's own thread) or "external"
 *    (the host drives it with ipop_network_process())
 *  - "link.timeout": seconds for a link to come up before it fails (default 30)
 *  - "link.max": links (not closed) this network keeps at most, 1 to 65535
 *    (default 256); a link beyond it, or a closed one that a message would
 *    open again, is refused (counted in signal_refused, reported as
 *    IPOP_EVENT_PEER_REFUSED with error -ENOSPC)
 *  - "link.rekey-interval": seconds from 1 to 600 (default 600) after which
 *    a link's record keys are renewed, without a packet lost; they are also
 *    renewed before a key seals 2^24 records.  A peer that does not complete
 *    a renewal within the interval plus 5 to 60 s gets a new session
 *    (IPOP_REASON_REKEY_FAILED)
 *  - "dtls.record": "own" (default) or "gnutls": who seals and opens the
 *    data records once the DTLS handshake is done: the library's own
 *    record layer (AES-GCM, batched, faster) or GnuTLS's (the fallback,
 *    should the own one ever be in doubt).  Both put standard DTLS 1.2
 *    records on the wire, so the two ends need not agree
 *  - "name": this node's name in the network, a DNS label: 1 to 63
 *    letters, digits and '-', not starting or ending with '-' (letters are
 *    lowercased; anything else is refused with -EINVAL).  It travels in
 *    the node's signed offers and answers, and the peers resolve it to
 *    this node's address (ipop_network_resolve()).  Default: the host
 *    name's first label made into one (the local part of "xmpp.jid" for
 *    overlay "social"); under a "group.authority" whose certificate for
 *    this node names it, that name (then "name" may only repeat it, or
 *    ipop_network_start() fails with -EINVAL), and a peer whose
 *    certificate names it may signal only that name.  When two members
 *    claim one name, the smaller node id keeps it and each other is known
 *    as NAME-<the first 6 characters of its node id>
 *    (IPOP_REASON_NAME_IN_USE)
 *  - "routes": mode tun: the networks behind this node that it announces
 *    to its peers, e.g. "192.168.77.0/24, fd77::/64": at most
 *    IPOP_ROUTES_MAX IPv4 or IPv6 prefixes, separated by ',' and/or
 *    spaces, each with its host bits zero and a length from 1 (no default
 *    route), none twice (anything else is refused with -EINVAL).  Each
 *    call adds to the list; "" clears it.  They travel in the node's signed offers and answers.  The
 *    host forwards between the device and those networks itself
 *    (net.ipv4.ip_forward), and the hosts there need a route back to the
 *    network's addresses through this node.  Under a "group.authority",
 *    each must lie inside a route of this node's certificate
 *    (ipop-authority sign --route), or ipop_network_start() fails with
 *    -EINVAL; a peer announcing one outside its certificate has its offers
 *    and answers refused (IPOP_EVENT_PEER_REFUSED, -ENETUNREACH)
 *  - "accept-routes": mode tun: "true" or "false" (default false): take
 *    the routes peers announce ("routes"): each goes on the device
 *    (through rtnetlink, in the main table) while the announcing link is
 *    connected, packets to it go to that peer, and packets from it are
 *    accepted from that peer only (any other peer's are dropped and
 *    counted in its link's rx_drops).  Where announcements overlap, the
 *    longest prefix wins; of equal ones, the peer with the smaller node
 *    id's (both reported in the log).  A prefix that overlaps this
 *    network's own addresses (the subnets of "address", "group.subnet",
 *    "social.subnet"), and routes beyond IPOP_ROUTES_MAX a peer or
 *    IPOP_ROUTES_TOTAL_MAX in all, are not taken and are counted
 *    (ipop_network_stats_t.routes_refused).  With "false", announced
 *    routes are ignored: a peer reaches nothing but its own addresses
 *  - "signal.scope": with overlay "none", the name every signalling message
 *    of this network is signed for and checked against (default empty; at
 *    most 256 characters): the same on every node of the network, and
 *    different for networks that share an identity.  Overlays sign for
 *    their own scope (the room, or SocialVPN)
 *
 * Signalling over XMPP (instead of the signal callback), GroupVPN and
 * SocialVPN:
 *  - "overlay": "none" (default: the host carries signalling), "group" or
 *    "social"
 *  - "xmpp.jid": `user@domain`; "xmpp.password" or "xmpp.password-file"
 *  - "xmpp.server", "xmpp.port": where to connect (default: the JID's
 *    domain, port 5222)
 *  - "xmpp.require-tls": "true" (default) or "false" (logs a warning: a
 *    man in the middle can strip STARTTLS and read the password)
 *  - "xmpp.server-fingerprint": SHA-256 of the server's certificate (hex,
 *    colons allowed): accept that certificate even though it does not verify
 *  - "group.room": the multi-user room, e.g. "vpn@rooms.example.org"
 *  - "group.secret" or "group.secret-file": the secret every member knows;
 *    the XMPP server never sees it.  Needed unless "group.authority" is set.
 *    A secret made by ipop_generate_secret() is used as it is (256 random
 *    bits); any other is stretched with Argon2id (64 MiB, about half a
 *    second, on a thread of its own, before the first membership proof),
 *    so that each guess of a weak one costs an attacker as much
 *  - "group.authority": the public key of the group's authority,
 *    "ed25519:" and 43 characters (what `ipop-authority init` prints).
 *    Members then link only with members holding a valid certificate of
 *    that authority (their node id, not expired, not revoked), and accept
 *    from each only the addresses its certificate gives; a member refused
 *    is reported (IPOP_EVENT_PEER_REFUSED, IPOP_REASON_NOT_CERTIFIED, the
 *    error saying why).  Needs "group.certificate".  Without
 *    "group.secret", the room's messages are authenticated with a key made
 *    from the authority's public key (not secret: the certificates are
 *    the proof)
 *  - "group.certificate": the file holding this node's certificate (one
 *    line, from `ipop-authority sign`).  ipop_network_start() fails when it
 *    does not verify, is another node's (-EINVAL), expired (-EKEYEXPIRED),
 *    revoked (-EKEYREVOKED), or when an "address" is not one of it
 *    (-EADDRNOTAVAIL); without an "address", the certificate's are used
 *  - "group.revocations": a file holding the authority's revocation list
 *    (from `ipop-authority crl`), read at start (it may not exist yet) and
 *    again within a second of each change, or at
 *    ipop_network_reload_revocations().  A newer list (larger serial) also
 *    comes from other members, and each member passes it on; the links of
 *    a member it revokes close at once, and this node's own when it is
 *    revoked
 *  - "group.subnet": an IPv4 (/8 to /30) or IPv6 (/8 to /120) subnet, once
 *    per family: without an "address" of that family, the node takes one
 *    derived from its node id; when a peer signals the same one, the node
 *    with the larger node id moves to its next choice (static addresses
 *    never move: keep them apart from automatic ones)
 *  - "social.subnet": IPv4 subnet (/8 to /30) from which each friend gets
 *    an address here; needs an IPv4 "address" of this node's own; in mode
 *    tun the library routes it into the device (a failure is a warning)
 *  - "social.state-file": where friends' node ids are pinned at first
 *    contact (without it, pins last until the network is freed)
 */
IPOP_EXPORT int ipop_network_set_option(ipop_network_t *net, const char *key, const char *value);

/** Checks the whole configuration, as ipop_network_start() does first: the
 * rules no single option can tell, such as the keys an "overlay" needs or
 * an "mtu" too large for mode tap.  Returns 0, or -EINVAL with the first
 * broken rule in `why` as "KEY: reason", KEY being the option to change
 * (also logged).  `why` (why_size bytes, the text cut to fit) may be NULL
 * when why_size is 0.  Does not load the identity or resolve servers. */
IPOP_EXPORT int ipop_network_check(ipop_network_t *net, char *why, size_t why_size);

/** Group with an authority: reads the "group.revocations" file now (it is
 * also read within a second of each change).  Returns 1 when it held a
 * newer list than the one in force (adopted, passed on to the members,
 * and the links of the members it revokes closed), 0 when not (the same
 * or an older list, or one that does not verify: logged), -ENOENT when
 * the network has no authority or no such file, -ENOTCONN when not
 * started, -EINVAL for a NULL network. */
IPOP_EXPORT int ipop_network_reload_revocations(ipop_network_t *net);

/** Checks the configuration (ipop_network_check(): -EINVAL), loads or
 * creates the identity, opens the device (modes tun and tap) and starts
 * the network's loop.  Returns -EALREADY if started, -EPERM or
 * -EACCES without the rights for a device, another -errno otherwise.  A
 * failed start leaves the network stopped and reconfigurable. */
IPOP_EXPORT int ipop_network_start(ipop_network_t *net);

/** Closes every link (saying goodbye to the peers), removes the device and
 * stops the loop.  Returns -EALREADY if not started.  Links stay valid (in
 * state IPOP_LINK_CLOSED) until the network is freed.  The network may be
 * started again.  Must not be called from inside one of the network's own
 * callbacks.  The signal callback may still be called during the call (the
 * goodbyes), so what it uses must outlive it. */
IPOP_EXPORT int ipop_network_stop(ipop_network_t *net);

/** Returns this node's id: a stable printable string derived from its public
 * key.  Available after start, or earlier when "identity.file" names an
 * existing file.  NULL before then. */
IPOP_EXPORT const char *ipop_network_get_node_id(ipop_network_t *net);

/** Returns the name of the TUN/TAP device once started in tun or tap mode,
 * NULL otherwise. */
IPOP_EXPORT const char *ipop_network_get_device(ipop_network_t *net);

/** Sets the callback that hands out signalling messages.  Without one,
 * messages are dropped and no link can come up.  -EBUSY once started. */
IPOP_EXPORT int ipop_network_set_signal_cb(ipop_network_t *net, ipop_signal_cb cb, void *user_data);

/** Delivers a signalling message that arrived from `from_peer_id`.  May be
 * called from any thread.  The message's signature is verified against
 * `from_peer_id` (the hash of the public key it carries) before anything
 * else is done with it.  Returns 0 when the message was accepted for
 * processing, -EINVAL for a malformed message (-EPROTONOSUPPORT for
 * another protocol version, such as the unsigned version 1, -EMSGSIZE for
 * an oversize one), -EBADMSG when it is not signed by `from_peer_id` or
 * was signed for another node or "signal.scope", -ESTALE when it was seen
 * before (a replay) or its time is more than 5 minutes from this host's
 * clock, -EPERM when the peer is not allowed, -ENOTCONN when the network is
 * not started.  A refused message changes nothing; each refusal is counted
 * (signal_refused), reported as an event (IPOP_EVENT_BAD_MESSAGE, reason
 * IPOP_REASON_NOT_AUTHENTICATED for -EBADMSG and -ESTALE) and logged (at
 * most a few lines per 10 s). */
IPOP_EXPORT int ipop_network_signal_receive(ipop_network_t *net, const char *from_peer_id, const char *message);

/** Allows `peer_id` to link with this node.  Offers from other peers are
 * refused with IPOP_EVENT_PEER_REFUSED.  May be called at any time.
 * Returns -EINVAL for an id that is not a node id. */
IPOP_EXPORT int ipop_network_allow_peer(ipop_network_t *net, const char *peer_id);

/** Opens a link to `peer_id` (which it also allows), or returns the
 * existing one.  The link comes up asynchronously: watch
 * IPOP_EVENT_LINK_STATE.  A link that failed or closed is started again.
 * `ret` may be NULL.  Returns -ENOTCONN when the network is not started,
 * -ENOSPC when a new link, or a closed one started again, would exceed the
 * option "link.max". */
IPOP_EXPORT int ipop_network_connect(ipop_network_t *net, const char *peer_id, ipop_link_t **ret);

/** SocialVPN: accepts that friend `friend_jid` (a bare JID) now runs a
 * node with another node id than the one pinned at first contact; until
 * then its links are refused with IPOP_REASON_IDENTITY_CHANGED.  Returns
 * 0, -ENOENT when no change is waiting for that friend, -EEXIST when the
 * new node id is another friend's (a friend that announces another's node
 * id is refused with IPOP_REASON_PEER_NOT_ALLOWED and never takes that
 * friend's link), -EINVAL when the network is not a SocialVPN, -ENOTCONN
 * when not started. */
IPOP_EXPORT int ipop_network_accept_identity(ipop_network_t *net, const char *friend_jid);

/** Longest JID ipop_friend_t holds (RFC 7622 allows more; longer ones are
 * refused by ipop_network_friend_add() and cut in the list). */
#define IPOP_JID_MAX 255

/** SocialVPN: one contact of the roster, or someone asking to be one. */
typedef struct ipop_friend {
    size_t size;                   /**< set by the caller: sizeof(ipop_friend_t) */
    char jid[IPOP_JID_MAX + 1];    /**< the bare JID */
    char subscription[8];          /**< RFC 6121: "none", "to", "from" or "both" (friends: both) */
    int asked;                     /**< 1: this node asked it for a subscription; no answer yet */
    int request;                   /**< 1: it asks this node for a subscription: ipop_network_friend_accept() */
    int online;                    /**< 1: its node is online now (said its node id) */
    char peer_id[IPOP_NODE_ID_MAX + 1]; /**< its node id pinned at first contact, "" before */
    char address[48];              /**< its IPv4 address here (in "social.subnet"), "" before */
} ipop_friend_t;

/** SocialVPN: asks `jid` (a bare JID, user\@domain) to be a friend over
 * this network's own XMPP session, so that no other XMPP client is needed:
 * a presence subscription request (RFC 6121 3.1), answered by the other
 * side's ipop_network_friend_accept() or any XMPP client; when `jid` asked
 * first, this accepts it.  Its own request to this node is accepted on its
 * own once this node asked.  Friends (subscription "both") link as soon as
 * both nodes are online.  May be called from any thread.  Returns 0,
 * -EINVAL for a JID that is not a bare JID of at most IPOP_JID_MAX bytes
 * or this node's own, or a network that is not a SocialVPN, -ENOTCONN when
 * not started or the XMPP session is not up. */
IPOP_EXPORT int ipop_network_friend_add(ipop_network_t *net, const char *jid);

/** SocialVPN: accepts the friend request of `jid` (listed with `request`
 * set), and asks it back, which makes a friendship.  Returns 0, -ENOENT
 * when no request from `jid` waits, and as ipop_network_friend_add(). */
IPOP_EXPORT int ipop_network_friend_accept(ipop_network_t *net, const char *jid);

/** SocialVPN: ends the friendship with `jid`, or refuses its request: the
 * contact leaves the roster (RFC 6121 2.5: the server cancels both
 * subscriptions) and the link to its node closes.  Its pinned node id is
 * kept (a friend again later must come with the same node).  Returns 0,
 * -ENOENT when `jid` is neither a contact nor asking, and as
 * ipop_network_friend_add(). */
IPOP_EXPORT int ipop_network_friend_remove(ipop_network_t *net, const char *jid);

/** SocialVPN: copies the contact at `index` (0, 1, ...; ordered by JID)
 * into `ret`, whose `size` the caller sets: the roster as the server last
 * said it, and the requests waiting.  The list may change between calls.
 * May be called from any thread.  Returns 0, -ENOENT past the end, -EINVAL
 * for NULL, a size smaller than a size_t, or a network that is not a
 * SocialVPN, -ENOTCONN when not started. */
IPOP_EXPORT int ipop_network_get_friend(ipop_network_t *net, size_t index, ipop_friend_t *ret);

/** Tells the library that the host's network changed (another Wi-Fi,
 * mobile data instead of Wi-Fi, a VPN underneath coming or going): every
 * link gathers candidates again and restarts ICE (its state goes
 * CONNECTING with IPOP_REASON_NETWORK_CHANGED, then CONNECTED again),
 * failed links are tried again at once, and the XMPP connection is
 * checked.  Without this call the library still notices: it watches the
 * host's addresses, and a link that hears nothing for 2.5 s starts again by
 * itself; the call saves that wait.  May be called from any thread.
 * Returns 0, -EINVAL for NULL, -ENOTCONN when not started. */
IPOP_EXPORT int ipop_network_changed(ipop_network_t *net);

/** Writes the network's current address of `family` (AF_INET or
 * AF_INET6), with prefix, into `buf`: the "address" option, or the one
 * derived from "group.subnet" (valid once started; it may move after a
 * conflict), or, without either, the first of the family in this node's
 * "group.certificate".  May be called from any thread.  Returns 0, -ENOENT when
 * there is none, -ENOSPC when `buf` is too small, -EINVAL. */
IPOP_EXPORT int ipop_network_get_address(ipop_network_t *net, int family, char *buf, size_t size);

/** Writes the overlay address of the member named `name` (a name as
 * option "name" takes it, any case; or NAME-XXXXXX for a member that lost
 * NAME in a conflict, as ipop_link_stats_t.peer_name shows it) into `buf`
 * as text without prefix, e.g. "10.10.0.2": this node's own for its own
 * name, else the address of the peer that signalled it, as this node
 * reaches it (a SocialVPN friend: its IPv4 address here, in
 * "social.subnet").  `family`: AF_INET, AF_INET6, or AF_UNSPEC (IPv4 when
 * there is one, else IPv6).  Peers whose link is closed are not known.
 * May be called from any thread.  Returns 0, -ENOENT when no member has
 * that name (or no address of that family), -ENOSPC when `buf` (`size`
 * bytes) is too small, -EINVAL for NULL, a name that is not a DNS label
 * or another family. */
IPOP_EXPORT int ipop_network_resolve(ipop_network_t *net, const char *name, int family, char *buf, size_t size);

/** Copies the network's statistics into `stats`, whose `size` field the
 * caller sets.  May be called from any thread.  Returns -EINVAL for NULL
 * or a size smaller than a size_t. */
IPOP_EXPORT int ipop_network_get_stats(ipop_network_t *net, ipop_network_stats_t *stats);

/** Copies the state of the network's built-in (XMPP) signalling into
 * `status`, whose `size` field the caller sets.  State IPOP_SIGNAL_NONE
 * when the network has no built-in signalling or is not started.  May be
 * called from any thread.  Returns 0, or -EINVAL for NULL or a size smaller
 * than the first two fields. */
IPOP_EXPORT int ipop_network_get_signal_status(ipop_network_t *net, ipop_signal_status_t *status);

/** Returns the link to `peer_id`, or NULL. */
IPOP_EXPORT ipop_link_t *ipop_network_get_link(ipop_network_t *net, const char *peer_id);

/** Sets the callback that receives packets in mode "none".  -EBUSY once
 * started. */
IPOP_EXPORT int ipop_network_set_packet_cb(ipop_network_t *net, ipop_packet_cb cb, void *user_data);

/** Sends an IP packet (modes none and tun) or an Ethernet frame (mode tap)
 * into the overlay, to the link of its destination.  May be called from any
 * thread.  Returns 0 once handed to the link, -EMSGSIZE above
 * IPOP_MAX_PACKET (or the MTU), -EINVAL for a packet that does not parse,
 * -EHOSTUNREACH when no link serves the destination, -ENOTCONN when that
 * link is not connected (in a GroupVPN: and no other member relays to its
 * peer; see ipop_link_stats_t.relay_id), -ENOBUFS when the socket is full
 * or the link's key has sealed all it may until its renewal completes (both
 * pass: try again).  A broadcast or multicast packet (option "broadcast")
 * goes to every connected member: 0 when at least one took it,
 * -EHOSTUNREACH when none did, -ENOBUFS over "broadcast.rate". */
IPOP_EXPORT int ipop_network_send_packet(ipop_network_t *net, const void *packet, size_t len);

/** Sets the event callback.  -EBUSY once started. */
IPOP_EXPORT int ipop_network_set_event_cb(ipop_network_t *net, ipop_event_cb cb, void *user_data);

/** With option loop=external: a file descriptor that becomes readable
 * when ipop_network_process() has work.  Valid after start.  Returns the fd
 * or -EINVAL (wrong loop mode) or -ENOTCONN (not started). */
IPOP_EXPORT int ipop_network_get_fd(ipop_network_t *net);

/** With option loop=external: milliseconds until ipop_network_process()
 * must be called even if the fd stays quiet; -1 means no deadline (never
 * -EPERM).  Returns the timeout, or -EINVAL/-ENOTCONN as
 * ipop_network_get_fd(). */
IPOP_EXPORT int ipop_network_get_timeout(ipop_network_t *net);

/** With option loop=external: runs what is due without blocking.  Returns 0,
 * -EINVAL/-ENOTCONN as ipop_network_get_fd(), or -EBUSY when another thread
 * kept the network's loop for more than a second. */
IPOP_EXPORT int ipop_network_process(ipop_network_t *net);

/** Returns a link's state (an ipop_link_state_t) or -EINVAL for NULL.  May
 * be called from any thread. */
IPOP_EXPORT int ipop_link_get_state(ipop_link_t *link);

/** Returns the peer id of a link, or NULL for NULL.  May be called from any
 * thread. */
IPOP_EXPORT const char *ipop_link_get_peer_id(ipop_link_t *link);

/** Copies a link's statistics into `stats`, whose `size` field the caller
 * sets.  May be called from any thread.  Returns -EINVAL for NULL or a size
 * smaller than the first two fields. */
IPOP_EXPORT int ipop_link_get_stats(ipop_link_t *link, ipop_link_stats_t *stats);

/** Closes a link and says goodbye to the peer.  The link object stays valid.
 * Returns -EALREADY when it is closed already. */
IPOP_EXPORT int ipop_link_close(ipop_link_t *link);

/** A UDP endpoint on this node's virtual addresses, for applications in
 * mode "none" that want datagrams rather than IP packets. */
typedef struct ipop_udp ipop_udp_t;

/** Called with each datagram that arrived for an endpoint's port.
 * `from_addr` is the sender's virtual address as text ("10.1.0.2" or
 * "fd00::2").  Called from the network's loop, with no lock held. */
typedef void (*ipop_udp_cb)(ipop_udp_t *sock, const char *from_addr, uint16_t from_port, const void *data,
                            size_t len, void *user_data);

/** Opens a UDP endpoint on `port` (1..65535) of the network's addresses
 * (option "address", IPv4 and IPv6).  Datagrams to that port no longer reach
 * the packet callback but `cb`.  Mode "none" only; before or after start.
 * May be called from any thread.  Returns 0, -EINVAL (bad argument, or not
 * mode none), -EADDRINUSE (port taken).
 *
 * Only whole datagrams to one of the network's own addresses are taken:
 * fragments (IPv4 MF or offset, any IPv6 extension header) and ports with
 * no endpoint go to the packet callback as before.  A datagram for an
 * endpoint whose headers do not hold together (UDP length, IPv4 header
 * checksum) or whose UDP checksum is wrong (or absent in IPv6; IPv4 allows
 * 0 for none) is dropped and counted in the link's rx_drops.
 * ipop_network_free() frees the endpoints still open. */
IPOP_EXPORT int ipop_udp_open(ipop_network_t *net, uint16_t port, ipop_udp_cb cb, void *user_data,
                              ipop_udp_t **ret);

/** Sends a datagram from the endpoint to `to_addr`:`to_port`, building
 * the IPv4 or IPv6 and UDP headers (checksums included).  May be called
 * from any thread.  Returns 0, -EINVAL (bad address or argument, or no own
 * address of that family), -EMSGSIZE (larger than the link MTU allows),
 * or what ipop_network_send_packet() returns. */
IPOP_EXPORT int ipop_udp_send(ipop_udp_t *sock, const char *to_addr, uint16_t to_port, const void *data,
                              size_t len);

/** Closes an endpoint; after it returns, its callback is not called again.
 * May be called from any thread: when the endpoint's callback is running in
 * another thread, it waits for that call to return (so the caller must not
 * hold anything that callback waits for).  From inside the endpoint's own
 * callback it returns at once, and the endpoint is freed when the callback
 * returns.  The endpoint must not be used (ipop_udp_send()) after or during
 * its close.  Accepts NULL.  Returns NULL. */
IPOP_EXPORT ipop_udp_t *ipop_udp_close(ipop_udp_t *sock);

/** Sets the process-wide log callback and the most verbose level passed to
 * it (default IPOP_LOG_INFO).  NULL drops all log lines (the default). */
IPOP_EXPORT void ipop_set_log_cb(ipop_log_cb cb, ipop_log_level_t max_level, void *user_data);

/** Returns a text for a negative errno value from this library (never NULL). */
IPOP_EXPORT const char *ipop_strerror(int err);

/** Returns a text for a reason code (never NULL): "fingerprint-mismatch". */
IPOP_EXPORT const char *ipop_reason_str(ipop_reason_t reason);

/** Returns a text for a link state (never NULL): "connected". */
IPOP_EXPORT const char *ipop_link_state_str(ipop_link_state_t state);

/** Returns a text for a signalling state (never NULL): "auth-failed". */
IPOP_EXPORT const char *ipop_signal_state_str(ipop_signal_state_t state);

/** Returns a text for a path type (never NULL): "host", "srflx", "relay". */
IPOP_EXPORT const char *ipop_path_type_str(ipop_path_type_t type);

/** The length of a secret made by ipop_generate_secret(), without its NUL. */
#define IPOP_GENERATED_SECRET_LEN 56

/** Writes a new GroupVPN secret into buf (at least
 * IPOP_GENERATED_SECRET_LEN + 1 bytes): "ipop1.", 32 random bytes in
 * base64url, "." and a 4-byte check, NUL-terminated, safe in a config
 * file.  Such a secret has nothing to guess, so members key the group
 * with it at once, without the slow derivation a typed one gets (see
 * "group.secret").  Returns IPOP_GENERATED_SECRET_LEN, -EINVAL for a NULL
 * buf, -ENOSPC when size is too small, -EIO when no random bytes could be
 * had. */
IPOP_EXPORT int ipop_generate_secret(char *buf, size_t size);

/** Returns the run-time library version, "MAJOR.MINOR.MICRO". */
IPOP_EXPORT const char *ipop_version(void);

#ifdef __cplusplus
}
#endif

#endif
