/* SPDX-License-Identifier: MIT */
/*
 * ipopd: a daemon on libipop's public API.
 *
 * Each group of the config file is one network.  A network with
 * "overlay = group" signals over XMPP, inside the library (GroupVPN: every
 * member of the room that knows the group secret links with every other);
 * so does one with "overlay = social" (SocialVPN: each node links with the
 * roster contacts of mutual subscription, each at an address it picks in
 * social.subnet).  Any other network signals over a UDP socket of the daemon's own
 * ("signal.listen"), one datagram per message: "<sender-node-id> <message>".
 * That channel needs no authentication of its own: a node id is the hash of
 * the node's public key and the library pins the certificate carried in the
 * messages.
 *
 * A Unix socket ("--control") answers ipopctl: one request line per
 * connection, answered from the main loop without blocking it.
 *
 * Files: config.c (command line, config file, --check), sigudp.c (the UDP
 * signalling channel and its reconnect timers), events.c (the library's
 * events, handed to the main thread), control.c (the control socket and its
 * answers), parse.c (the pure framing of datagrams and control requests,
 * fuzzed), main.c (logging, the networks' lifecycle, reload, the main loop).
 *
 * Threads: the library calls the signal, event and log callbacks from its
 * own threads.  The signal callback only reads state that is fixed before
 * start and calls sendto().  The event callback logs and hands link events
 * to the main thread through a pipe, so that only the main thread calls the
 * networks' functions (ipop.h forbids concurrent calls) and only it touches
 * the per-network list of links.  The log callback looks network names up
 * in the table under a mutex; only the main thread changes the table.
 */
#pragma once

#include <glib.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <ipop/ipop.h>

#define EXIT_CONFIG 2
#define RECONNECT_DELAY_MS 2000
#define STATUS_INTERVAL_MS 10000
/* A node id, a space and the longest message the library accepts (8 KiB)
 * fit with room to spare; anything longer is cut and dropped. */
#define DATAGRAM_MAX 16384
#define DEFAULT_CONTROL "/run/ipopd/ipopd.sock"
/* The systemd unit (daemon/ipopd.service) makes it: StateDirectory=ipop. */
#define DEFAULT_STATE_DIR "/var/lib/ipop"
/* Identity changes of SocialVPN friends remembered per network for
 * ipopctl; the oldest go first. */
#define PENDING_MAX 16
/* Refusals counted per reason code for /metrics; codes beyond count as 0
 * ("other"). */
#define REFUSED_REASONS 32

struct peer {
    char *id;
    struct sockaddr_storage addr; /* its signal socket */
    socklen_t addrlen;
    int64_t reconnect_at;         /* monotonic ms, 0: none due */
};

enum overlay {
    OVERLAY_NONE,                 /* ipopd's UDP signalling */
    OVERLAY_GROUP,                /* GroupVPN: the library signals over XMPP */
    OVERLAY_SOCIAL,               /* SocialVPN: likewise, with roster friends */
};

/* A friend that came back with another node id, refused by the library
 * until `ipopctl accept`. */
struct pending {
    char peer_id[IPOP_NODE_ID_MAX + 1]; /* its new node id */
    char *jid;                    /* from the event's text, or NULL */
    char *detail;                 /* the event's text */
};

/* The last refusal of a peer (IPOP_EVENT_PEER_REFUSED): why its link
 * does not come up, for ipopctl.  At most REFUSALS_MAX peers a network. */
#define REFUSALS_MAX 1024
struct refusal {
    ipop_reason_t reason;
    uint64_t count;               /* refusals of this peer so far */
    int64_t last_ms;              /* now_ms() of the last one */
};

struct net {
    unsigned id;                  /* unique in this process: names the network in the event pipe */
    char *name;
    char *canon;                  /* the section's keys and values, to see what a reload changed */
    ipop_network_t *net;
    bool started;
    enum overlay overlay;
    char *state_file;             /* social.state-file, as given or by default */
    char *default_dir;            /* the --state-dir to create at start, when a default is used */
    char *mode;
    GPtrArray *addresses;         /* char *, as configured */
    int sock;                     /* signal.listen, -1 unless bound */
    struct sockaddr_storage listen;
    socklen_t listenlen;
    bool has_listen;
    struct peer *peers;
    size_t n_peers;
    GPtrArray *links;             /* ipop_link_t *, seen in link events; main thread only */
    GPtrArray *pending;           /* struct pending *; main thread only */
    char own_id[IPOP_NODE_ID_MAX + 1];
    uint64_t refused[REFUSED_REASONS]; /* by ipop_reason_t; atomic: the library's threads count */
    GHashTable *refusals;         /* peer id -> struct refusal *; main thread only */
    /* The DNS server of the members' names (dns-server.c, main thread). */
    bool dns;                     /* option dns: answer on the overlay addresses */
    char *dns_suffix;             /* option dns.suffix, else the section's name, lowercased */
    uint8_t *dns_suffix_wire;     /* its canonical wire form (dns_suffix_new()) */
    size_t dns_suffix_len;
    bool dns_resolved;            /* option dns.resolved: register with systemd-resolved */
    int dns_sock[2];              /* IPv4 and IPv6 sockets on the overlay addresses, -1: none */
    struct dns_counters {
        uint64_t queries, answered, nxdomain, refused, errors, malformed, send_failed;
    } dns_count;
};

/* ipopd's own settings: the [ipopd] section of the config file (config.c). */
struct daemon_conf {
    char *metrics_listen;         /* metrics.listen, "IP:PORT", or NULL: no HTTP server */
    bool metrics_allow_remote;    /* metrics.allow-remote: serve on an address that is not loopback */
};

/* The command line (config.c). */
struct options {
    char *config;                 /* --config */
    char *id_file;                /* --node-id */
    char *control;                /* --control, else $IPOPD_CONTROL, else DEFAULT_CONTROL */
    bool control_explicit;        /* given by --control or $IPOPD_CONTROL */
    bool check;                   /* --check */
    bool verbose;                 /* -v */
};

/* main.c */
extern GPtrArray *nets;           /* struct net *; changed by the main thread under nets_lock */
extern GMutex nets_lock;
extern bool verbose;

static inline int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline struct net *net_at(size_t i)
{
    return g_ptr_array_index(nets, i);
}

void __attribute__((format(printf, 2, 3))) log_net(const struct net *n, const char *fmt, ...);
/* Only with -v. */
void __attribute__((format(printf, 2, 3))) debug_net(const struct net *n, const char *fmt, ...);
void on_log(ipop_log_level_t level, ipop_network_t *net, const char *message, void *user_data);
struct net *net_new(const char *name);
void net_free(struct net *n);
void net_list_free(GPtrArray *list);

/* config.c */
/* Returns -1 to go on, else the exit status (after --version, or a usage
 * error, printed).  The strings of o are the caller's to free. */
int parse_command_line(int argc, char **argv, struct options *o);
/* secret.c: --gen-secret prints a new strong group secret; the exit status. */
int print_new_secret(void);
/* Reads FILE into a list of networks, configured but not started.  Prints
 * what is wrong and returns -EINVAL on a bad config. */
int load_config(const char *file, GPtrArray **ret);
/* The [ipopd] section of the last config load_config() accepted. */
const struct daemon_conf *config_daemon(void);
int check_config(const char *file);

/* sigudp.c */
int open_signal_socket(struct net *n);
void on_signal(ipop_network_t *net, const char *peer_id, const char *message, void *user_data);
void receive_signal(struct net *n);
void connect_peer(struct net *n, struct peer *p);
void schedule_reconnect(struct net *n, const char *peer_id, int64_t delay_ms);
void run_timers(int64_t now);
/* The earlier of due and the first reconnect due. */
int64_t next_reconnect(int64_t due);

/* events.c */
int events_open(void);
void events_close(void);
int events_fd(void);
void on_event(ipop_network_t *net, const ipop_event_t *ev, void *user_data);
void drain_events(void);
void remember_link(struct net *n, ipop_link_t *link);
void pending_forget(struct net *n, const char *peer_id, const char *jid);
void log_status(void);

/* dns-server.c: ipopd's DNS server of the members' names (option dns) */
/* Binds the sockets on the network's overlay addresses, after start.
 * A failure is logged, not fatal. */
void dns_start(struct net *n);
void dns_stop(struct net *n);
/* Reads a bounded number of queries from socket i (0: IPv4, 1: IPv6) and
 * answers them. */
void dns_receive(struct net *n, int i);
/* resolved.c: tells systemd-resolved, when it runs, about the server and
 * the suffix for the network's device (option dns.resolved). */
void resolved_register(struct net *n);

/* metrics.c */
/* Library thread: counts refusals by reason. */
void metrics_event(struct net *n, const ipop_event_t *ev);
/* Appends the Prometheus text exposition of every network and link. */
void metrics_text(GString *s);
/* The signalling of a network: "udp" or "xmpp"; "up", "down" or "unknown". */
const char *signal_transport(const struct net *n);
const char *signal_state(const struct net *n);

/* http.c: the metrics and status page over HTTP (libsoup), driven by the
 * main loop. */
int http_configure(const struct daemon_conf *conf);
void http_stop(void);
/* Appends the server's fds to poll and lowers *timeout (ms, -1: none) to
 * its next deadline. */
void http_pollfds(GArray *fds, int *timeout);
/* p: the entries http_pollfds() appended, after poll(). */
void http_dispatch(const struct pollfd *p);
/* A Host header the server answers: an IP address or localhost. */
bool http_host_allowed(const char *host);

/* notify.c */
/* Sends STATE ("READY=1\nSTATUS=...") to systemd over $NOTIFY_SOCKET; 0
 * when there is none, -errno when the datagram did not go. */
int notify_systemd(const char *state);
/* stderr is the journal's stream (sd-daemon(3)): lines carry "<N>". */
bool stderr_is_journal(void);

/* status.c: what ipopctl status and peers print */
/* What `ipopctl status --json` prints, on one line (also the HTTP page's). */
void control_status_json(GString *s);
void status_text(GString *s);
void peers_json(GString *s);
void peers_text(GString *s);

/* control.c */
int control_open(const char *path);
void control_close(void);
/* Appends the fds to poll: the socket, then each client. */
void control_pollfds(GArray *fds);
/* p: the entries control_pollfds() appended, after poll(). */
void control_dispatch(const struct pollfd *p);
void control_expire(int64_t now);
/* The earlier of due and the first client's deadline. */
int64_t control_next_deadline(int64_t due);
