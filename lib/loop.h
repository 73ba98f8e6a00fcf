/* SPDX-License-Identifier: MIT */
/* The network's loop and the services it gives the modules above it:
 * timers, the mailbox (work handed to the loop thread, with or without
 * waiting), events to the host, signed signalling messages out, and the three
 * ways the loop runs: the library's own thread (loop=thread), the host's
 * loop through an epoll fd, a timeout and a process call (loop=external),
 * or the host's GMainContext (ipop-glib.h).  The library's own loops serve
 * the data path between GLib's poll and dispatch (serve_data): the device
 * and the direct paths' sockets, registered here by fd.
 *
 * The loop calls nothing above it: what it needs from the data path and
 * the policies are the ipop__loop_ops fixed when the network is made. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "ipop/ipop.h"

typedef enum { LOOP_THREAD, LOOP_EXTERNAL, LOOP_GLIB } net_loop;

typedef struct ipop__loop_ops {
    /* the device polls readable (tx.c) */
    void (*device_ready)(ipop_network_t *net);
    /* a direct path's socket polls readable (link.c): false when it left
     * the socket to libnice's source */
    bool (*direct_ready)(ipop_link_t *link);
    /* the sockets that polled readable were served and something was
     * delivered (rx.c: merged segments go to the device) */
    void (*delivered)(ipop_network_t *net);
    /* a signalling message for a peer, when the network's own overlay
     * carries signalling (overlay.c) */
    void (*overlay_send)(ipop_network_t *net, const char *peer, const char *text);
} ipop__loop_ops;

struct ipop__loop {
    const ipop__loop_ops *ops;
    GThread *thread;            /* loop=thread */
    gint quit;                  /* loop=thread: the loop ends (atomic) */
    int epoll_fd;               /* loop=external */
    int kick_fd;                /* loop=external: an eventfd in the epoll set, written when
                                 * another thread hands the loop work */
    GHashTable *epoll_fds;      /* fd -> events, for loop=external */
    GPollFD *ext_fds;           /* loop=external: the context's fds, as many as it has */
    gint ext_cap;
    int timeout_ms;
    GMutex mail_lock;           /* work handed to the loop thread */
    GQueue mail;
    GSource *mail_src;
    bool serving;               /* the loop is serving the data path (serve_data) */
};

/* With the network (ops fixed for its life), and when it is freed. */
void ipop__loop_init(ipop_network_t *net, const ipop__loop_ops *ops);
void ipop__loop_clear(ipop_network_t *net);
/* At start, before anything attaches a source: the context (the host's,
 * or one of our own) and the direct-fd registry. */
void ipop__loop_open(ipop_network_t *net);
/* At start, once the sources are attached: the thread, or the epoll fd.
 * 0 or -errno. */
int ipop__loop_run(ipop_network_t *net);
/* At stop, after the links were closed: waits (bounded) for the ICE
 * agents to close, then ends the thread. */
void ipop__loop_stop(ipop_network_t *net);
/* After stop or a failed start: the mail dropped, the context and the
 * epoll fd released. */
void ipop__loop_close(ipop_network_t *net);
/* Whether the loop is serving the data path right now (it flushes what
 * the data path holds when it is done). */
bool ipop__loop_serving(const ipop_network_t *net);

/* Timers: a source on the network's context, at default priority (work we
 * queue is not background work); ms 0 is an idle source. */
GSource *ipop__net_timeout(ipop_network_t *net, guint ms, GSourceFunc fn, void *data);
void ipop__source_clear(GSource **src);
/* The mailbox: fn runs in the loop thread, later (post) or now, waiting
 * for it (call). */
void ipop__net_post(ipop_network_t *net, void (*fn)(ipop_network_t *net, void *data), void *data,
                    GDestroyNotify free_fn);
void ipop__net_call(ipop_network_t *net, void (*fn)(ipop_network_t *net, void *data), void *data);
/* Events reach the host from the loop, at the top of a dispatch, so that a
 * callback may call back into the library freely. */
void ipop__net_emit_simple(ipop_network_t *net, ipop_event_type_t type, const char *peer,
                           ipop_link_t *link, ipop_reason_t reason, int error, const char *detail);
/* IPOP_EVENT_SIGNAL_STATE: the built-in signalling's new state. */
void ipop__net_emit_signal_state(ipop_network_t *net, ipop_signal_state_t state, ipop_reason_t reason,
                                 const char *detail);
/* A signalling message for a peer, encoded and signed (sigauth.c): to the
 * overlay, or to the host's signal callback. */
void ipop__net_signal_out(ipop_network_t *net, const char *peer, const char *text);

/* The direct-fd registry of the library's own loops: the link whose
 * direct path's socket `fd` is, read by the loop itself; NULL to forget. */
void ipop__net_direct_set(ipop_network_t *net, int fd, ipop_link_t *link);
ipop_link_t *ipop__net_direct_get(const ipop_network_t *net, int fd);
