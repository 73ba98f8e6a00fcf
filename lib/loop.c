/* SPDX-License-Identifier: MIT */
/* The network's loop and its services (loop.h): timers, the mailbox,
 * events, signalling out, the three loop modes and the direct-fd registry. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "link.h"
#include "log.h"
#include "loop.h"
#include "network.h"

/* ---- timers ---- */

GSource *ipop__net_timeout(ipop_network_t *net, guint ms, GSourceFunc fn, void *data)
{
    GSource *src = ms ? g_timeout_source_new(ms) : g_idle_source_new();

    /* Work we queue is not background work: at idle priority it waits for
     * as long as any socket source of libnice's stays ready. */
    g_source_set_priority(src, G_PRIORITY_DEFAULT);
    g_source_set_callback(src, fn, data, NULL);
    g_source_attach(src, net->ctx);
    return src;
}

void ipop__source_clear(GSource **src)
{
    if (*src) {
        g_source_destroy(*src);
        g_source_unref(*src);
        *src = NULL;
    }
}

/* ---- the mailbox: work handed to the loop thread ---- */

/* loop=external: the host sleeps in poll() on the epoll fd, with the
 * timeout it was given at the end of its last ipop_network_process(), and
 * owns nothing of ours meanwhile.  Work handed over since (a post, or a
 * call that ran on the spot and armed a timer or attached a source) may
 * change both: the kick fd, in the epoll set, wakes the host so that it
 * comes back to ipop_network_process() and learns them.  GLib's own
 * wake-up does not do it: GLib signals it only while another thread owns
 * the context, and the host owns it only inside ipop_network_process(). */
static void kick(ipop_network_t *net)
{
    int fd = g_atomic_int_get(&net->loop.kick_fd);
    uint64_t one = 1;

    /* EAGAIN only when the counter is full: the host is woken already */
    if (fd >= 0 && write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        ipop__dbg(net, "loop: cannot wake the host: %s", g_strerror(errno));
}

/* At the top of ipop_network_process(): what was kicked is about to be seen. */
static void kick_drain(ipop_network_t *net)
{
    uint64_t n;

    if (net->loop.kick_fd >= 0)
        (void)!read(net->loop.kick_fd, &n, sizeof(n));
}

typedef void (*mail_fn)(ipop_network_t *net, void *data);
typedef struct mail {
    mail_fn fn;
    void *data;
    GDestroyNotify free;
} mail;

static gboolean on_mail(gpointer p)
{
    ipop_network_t *net = p;
    struct ipop__loop *l = &net->loop;
    GQueue q = G_QUEUE_INIT;
    mail *m;

    g_mutex_lock(&l->mail_lock);
    q = l->mail;
    g_queue_init(&l->mail);
    g_source_unref(l->mail_src);
    l->mail_src = NULL;
    g_mutex_unlock(&l->mail_lock);
    while ((m = g_queue_pop_head(&q))) {
        m->fn(net, m->data);
        if (m->free)
            m->free(m->data);
        g_free(m);
    }
    return G_SOURCE_REMOVE;
}

void ipop__net_post(ipop_network_t *net, void (*fn)(ipop_network_t *net, void *data), void *data,
                    GDestroyNotify free_fn)
{
    struct ipop__loop *l = &net->loop;
    mail *m = g_new(mail, 1);

    m->fn = fn;
    m->data = data;
    m->free = free_fn;
    g_mutex_lock(&l->mail_lock);
    g_queue_push_tail(&l->mail, m);
    if (!l->mail_src && net->ctx) {
        l->mail_src = g_idle_source_new();
        g_source_set_priority(l->mail_src, G_PRIORITY_DEFAULT);
        g_source_set_callback(l->mail_src, on_mail, net, NULL);
        g_source_attach(l->mail_src, net->ctx);
    }
    g_mutex_unlock(&l->mail_lock);
    if (net->loop_mode == LOOP_EXTERNAL)
        kick(net);
    else if (net->ctx)
        g_main_context_wakeup(net->ctx);
}

static void drop_mail(ipop_network_t *net)
{
    struct ipop__loop *l = &net->loop;
    mail *m;

    g_mutex_lock(&l->mail_lock);
    ipop__source_clear(&l->mail_src);
    while ((m = g_queue_pop_head(&l->mail))) {
        if (m->free)
            m->free(m->data);
        g_free(m);
    }
    g_mutex_unlock(&l->mail_lock);
}

/* Runs fn in the loop thread and waits for it. */
typedef struct call {
    GMutex lock;
    GCond cond;
    bool done;
    mail_fn fn;
    void *data;
} call;

static void run_call(ipop_network_t *net, void *p)
{
    call *c = p;

    c->fn(net, c->data);
    g_mutex_lock(&c->lock);
    c->done = true;
    g_cond_signal(&c->cond);
    g_mutex_unlock(&c->lock);
}

void ipop__net_call(ipop_network_t *net, void (*fn)(ipop_network_t *net, void *data), void *data)
{
    call c = { .fn = fn, .data = data };

    if (g_main_context_is_owner(net->ctx)) {
        fn(net, data);
        return;
    }
    /* The library's own thread owns its context from its first moment:
     * never take it from under it.  A host loop may be borrowed while idle. */
    if (net->loop_mode != LOOP_THREAD && g_main_context_acquire(net->ctx)) {
        fn(net, data);
        g_main_context_release(net->ctx);
        /* what fn armed is news to a host asleep on our fd */
        if (net->loop_mode == LOOP_EXTERNAL)
            kick(net);
        return;
    }
    g_mutex_init(&c.lock);
    g_cond_init(&c.cond);
    ipop__net_post(net, run_call, &c, NULL);
    g_mutex_lock(&c.lock);
    while (!c.done)
        g_cond_wait(&c.cond, &c.lock);
    g_mutex_unlock(&c.lock);
    g_mutex_clear(&c.lock);
    g_cond_clear(&c.cond);
}

/* ---- events and signalling out ---- */

typedef struct event_copy {
    ipop_event_t ev;
    char *peer, *detail;
} event_copy;

static void event_copy_free(gpointer p)
{
    event_copy *e = p;
    g_free(e->peer);
    g_free(e->detail);
    g_free(e);
}

static void emit_now(ipop_network_t *net, void *p)
{
    event_copy *e = p;

    if (net->event_cb)
        net->event_cb(net, &e->ev, net->event_ud);
}

void ipop__net_emit_simple(ipop_network_t *net, ipop_event_type_t type, const char *peer,
                           ipop_link_t *link, ipop_reason_t reason, int error, const char *detail)
{
    event_copy *e;

    if (!net->event_cb)
        return;
    e = g_new0(event_copy, 1);
    e->peer = g_strdup(peer);
    e->detail = g_strdup(detail ? detail : "");
    e->ev.size = sizeof(e->ev);
    e->ev.type = type;
    e->ev.peer_id = e->peer;
    e->ev.link = link;
    e->ev.state = link ? (ipop_link_state_t)g_atomic_int_get(&link->state) : IPOP_LINK_NEW;
    e->ev.reason = reason;
    e->ev.error = error;
    e->ev.detail = e->detail;
    ipop__net_post(net, emit_now, e, event_copy_free);
}

void ipop__net_emit_signal_state(ipop_network_t *net, ipop_signal_state_t state, ipop_reason_t reason,
                                 const char *detail)
{
    event_copy *e;

    if (!net->event_cb)
        return;
    e = g_new0(event_copy, 1);
    e->detail = g_strdup(detail ? detail : "");
    e->ev.size = sizeof(e->ev);
    e->ev.type = IPOP_EVENT_SIGNAL_STATE;
    e->ev.signal_state = state;
    e->ev.reason = reason;
    e->ev.detail = e->detail;
    ipop__net_post(net, emit_now, e, event_copy_free);
}

void ipop__net_signal_out(ipop_network_t *net, const char *peer, const char *text)
{
    if (net->ov)
        net->loop.ops->overlay_send(net, peer, text);
    else if (net->signal_cb)
        net->signal_cb(net, peer, text, net->signal_ud);
}

/* ---- the data path, served by the loop ---- */

void ipop__net_direct_set(ipop_network_t *net, int fd, ipop_link_t *link)
{
    if (!net->direct || fd < 0)
        return;
    if ((guint)fd >= net->direct->len)
        g_ptr_array_set_size(net->direct, fd + 1); /* new entries NULL */
    net->direct->pdata[fd] = link;
}

ipop_link_t *ipop__net_direct_get(const ipop_network_t *net, int fd)
{
    return net->direct && fd >= 0 && (guint)fd < net->direct->len ? net->direct->pdata[fd] : NULL;
}

bool ipop__loop_serving(const ipop_network_t *net)
{
    return net->loop.serving;
}

/* After a poll of the context's fds: the data path is served here rather
 * than by dispatching through GLib.  The device (our source) and each
 * direct path's socket (libnice's source, which would read it through its
 * own receive path) are read at once, and their entries cleared, so that
 * GLib does not dispatch those sources.  An fd in error is left to its
 * source.  Returns true when that was all there was to do: no other fd
 * ready, and nothing done that GLib's sources must see (data frames only). */
static bool serve_data(ipop_network_t *net, GPollFD *fds, int n)
{
    const ipop__loop_ops *ops = net->loop.ops;
    bool delivered = false, others = false;

    net->loop.serving = true;
    net->glib_due = false;
    for (int i = 0; i < n; i++) {
        ipop_link_t *link;
        if (!fds[i].revents)
            continue;
        if (!(fds[i].revents & G_IO_IN) || (fds[i].revents & (G_IO_ERR | G_IO_HUP | G_IO_NVAL))) {
            others = true;
        } else if (net->dev_src && fds[i].fd == net->dev_fd) {
            ops->device_ready(net);
            fds[i].revents = 0;
        } else if ((link = ipop__net_direct_get(net, fds[i].fd))) {
            delivered = true;
            if (ops->direct_ready(link))
                fds[i].revents = 0;
            else
                others = true; /* libnice's source reads the rest */
        } else {
            others = true;
        }
    }
    /* What the sockets gave is all there is for now: merged TCP segments
     * go to the device without waiting for an idle turn of the loop. */
    if (delivered)
        ops->delivered(net);
    net->loop.serving = false;
    return !others && !net->glib_due;
}

/* ---- loop=thread ---- */

/* GLib's iteration (prepare, query, poll, check, dispatch) with the data
 * path served between the poll and the check. */
static gpointer loop_thread(gpointer p)
{
    ipop_network_t *net = p;
    GPollFD stack[64], *fds = stack;
    gint cap = G_N_ELEMENTS(stack);

    g_main_context_push_thread_default(net->ctx);
    g_main_context_acquire(net->ctx);
    while (!g_atomic_int_get(&net->loop.quit)) {
        gint prio, timeout, n;
        gint64 deadline;

        g_main_context_prepare(net->ctx, &prio);
        while ((n = g_main_context_query(net->ctx, prio, &timeout, fds, cap)) > cap) {
            if (fds != stack)
                g_free(fds);
            cap = n;
            fds = g_new(GPollFD, cap);
        }
        /* While only the data path is ready, it is served without a turn
         * of GLib's (sources attached by this thread meanwhile would not
         * wake the poll: serve_data() tells when that may have happened). */
        deadline = timeout < 0 ? -1 : g_get_monotonic_time() + (gint64)timeout * 1000;
        while (g_poll(fds, (guint)n, timeout) > 0 && serve_data(net, fds, n)) {
            if (deadline >= 0) {
                gint64 left = deadline - g_get_monotonic_time();
                if (left <= 0)
                    break;
                timeout = (gint)((left + 999) / 1000);
            }
        }
        if (g_main_context_check(net->ctx, prio, fds, n))
            g_main_context_dispatch(net->ctx);
    }
    if (fds != stack)
        g_free(fds);
    g_main_context_release(net->ctx);
    g_main_context_pop_thread_default(net->ctx);
    return NULL;
}

static void loop_quit(ipop_network_t *net)
{
    g_atomic_int_set(&net->loop.quit, 1);
    g_main_context_wakeup(net->ctx);
}

/* ---- loop=external ---- */

/* Mirrors the context's fds into the epoll set. */
static void sync_epoll(ipop_network_t *net, GPollFD *fds, int n)
{
    struct ipop__loop *l = &net->loop;
    GHashTable *now = g_hash_table_new(NULL, NULL);
    GHashTableIter it;
    gpointer key, val;

    for (int i = 0; i < n; i++) {
        guint32 ev = ((fds[i].events & G_IO_IN) ? EPOLLIN : 0) | ((fds[i].events & G_IO_OUT) ? EPOLLOUT : 0) |
                     ((fds[i].events & G_IO_PRI) ? EPOLLPRI : 0);
        gpointer old = g_hash_table_lookup(l->epoll_fds, GINT_TO_POINTER(fds[i].fd + 1));
        guint32 merged = ev | GPOINTER_TO_UINT(g_hash_table_lookup(now, GINT_TO_POINTER(fds[i].fd + 1)));
        struct epoll_event e = { .events = merged, .data.fd = fds[i].fd };
        g_hash_table_insert(now, GINT_TO_POINTER(fds[i].fd + 1), GUINT_TO_POINTER(merged));
        if (!old)
            epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, fds[i].fd, &e);
        else if (GPOINTER_TO_UINT(old) != merged)
            epoll_ctl(l->epoll_fd, EPOLL_CTL_MOD, fds[i].fd, &e);
    }
    g_hash_table_iter_init(&it, l->epoll_fds);
    while (g_hash_table_iter_next(&it, &key, &val))
        if (!g_hash_table_contains(now, key))
            epoll_ctl(l->epoll_fd, EPOLL_CTL_DEL, GPOINTER_TO_INT(key) - 1, NULL);
    g_hash_table_unref(l->epoll_fds);
    l->epoll_fds = now;
}

/* One non-blocking pass over the context: prepare, query, poll(0), check,
 * dispatch; the fds and the timeout of the query are kept for the host. */
static void iterate_once(ipop_network_t *net)
{
    struct ipop__loop *l = &net->loop;
    GPollFD *fds;
    gint prio, timeout, n;
    gboolean ready;

    ready = g_main_context_prepare(net->ctx, &prio);
    /* Each link brings sockets of its own: the table grows with them. */
    while ((n = g_main_context_query(net->ctx, prio, &timeout, l->ext_fds, l->ext_cap)) > l->ext_cap) {
        l->ext_cap = MAX(n, 2 * l->ext_cap);
        l->ext_fds = g_renew(GPollFD, l->ext_fds, l->ext_cap);
    }
    fds = l->ext_fds;
    if (g_poll(fds, (guint)n, 0) > 0)
        (void)serve_data(net, fds, n);
    sync_epoll(net, fds, n);
    l->timeout_ms = ready ? 0 : timeout;
    if (g_main_context_check(net->ctx, prio, fds, n))
        g_main_context_dispatch(net->ctx);
}

IPOP_EXPORT int ipop_network_process(ipop_network_t *net)
{
    if (!net || net->loop_mode != LOOP_EXTERNAL)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    /* Another thread may hold the context for a moment (a call such as
     * ipop_network_connect() runs its work directly when it can). */
    for (int i = 0; !g_main_context_acquire(net->ctx); i++) {
        if (i == 10000)
            return -EBUSY;
        g_usleep(100);
    }
    /* Before the pass: a kick that comes during it wakes the host again. */
    kick_drain(net);
    iterate_once(net); /* dispatch what is ready */
    iterate_once(net); /* and learn the fds and deadline that follow */
    g_main_context_release(net->ctx);
    return 0;
}

IPOP_EXPORT int ipop_network_get_fd(ipop_network_t *net)
{
    if (!net || net->loop_mode != LOOP_EXTERNAL)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    return net->loop.epoll_fd;
}

IPOP_EXPORT int ipop_network_get_timeout(ipop_network_t *net)
{
    if (!net || net->loop_mode != LOOP_EXTERNAL)
        return -EINVAL;
    if (!g_atomic_int_get(&net->running))
        return -ENOTCONN;
    return net->loop.timeout_ms;
}

/* ---- the loop's life ---- */

void ipop__loop_init(ipop_network_t *net, const ipop__loop_ops *ops)
{
    net->loop.ops = ops;
    net->loop.epoll_fd = -1;
    net->loop.kick_fd = -1;
    net->loop.timeout_ms = -1;
    g_mutex_init(&net->loop.mail_lock);
    g_queue_init(&net->loop.mail);
}

void ipop__loop_clear(ipop_network_t *net)
{
    g_mutex_clear(&net->loop.mail_lock);
}

void ipop__loop_open(ipop_network_t *net)
{
    if (net->loop_mode == LOOP_GLIB)
        net->ctx = g_main_context_ref(net->user_ctx);
#if GLIB_CHECK_VERSION(2, 72, 0)
    /* A source attached by any thread (libnice's included) signals GLib's
     * wake-up fd, which is in the host's epoll set, even when no thread
     * owns the context: the host polls outside ipop_network_process(). */
    else if (net->loop_mode == LOOP_EXTERNAL)
        net->ctx = g_main_context_new_with_flags(G_MAIN_CONTEXT_FLAGS_OWNERLESS_POLLING);
#endif
    else
        net->ctx = g_main_context_new();
    /* The loops of our own (thread, external) read direct paths themselves;
     * a host's GMainContext leaves them to libnice's sources. */
    if (net->loop_mode != LOOP_GLIB)
        net->direct = g_ptr_array_new();
}

int ipop__loop_run(ipop_network_t *net)
{
    struct ipop__loop *l = &net->loop;

    if (net->loop_mode == LOOP_THREAD) {
        g_atomic_int_set(&l->quit, 0);
        l->thread = g_thread_try_new("ipop-net", loop_thread, net, NULL);
        if (!l->thread)
            return -EAGAIN;
    } else if (net->loop_mode == LOOP_EXTERNAL) {
        struct epoll_event e = { .events = EPOLLIN };
        int kfd;

        l->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        l->epoll_fds = g_hash_table_new(NULL, NULL);
        if (l->epoll_fd < 0)
            return -errno;
        kfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (kfd < 0)
            return -errno;
        e.data.fd = kfd;
        if (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, kfd, &e) < 0) {
            int r = -errno;
            close(kfd);
            return r;
        }
        g_atomic_int_set(&l->kick_fd, kfd);
        g_main_context_acquire(net->ctx);
        iterate_once(net);
        g_main_context_release(net->ctx);
    }
    return 0;
}

static gboolean on_stop_poll(gpointer p)
{
    ipop_network_t *net = p;

    if (g_atomic_int_get(&net->closing_agents) == 0) {
        loop_quit(net);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean on_stop_deadline(gpointer p)
{
    ipop_network_t *net = p;

    ipop__warn(net, "%d ICE agents did not close in time", g_atomic_int_get(&net->closing_agents));
    if (net->loop_mode == LOOP_THREAD)
        loop_quit(net);
    g_atomic_int_set(&net->closing_agents, 0);
    return G_SOURCE_REMOVE;
}

static void quit_when_closed(ipop_network_t *net, void *data)
{
    GSource **srcs = data;

    srcs[0] = ipop__net_timeout(net, 5, on_stop_poll, net);
    srcs[1] = ipop__net_timeout(net, 3000, on_stop_deadline, net);
}

void ipop__loop_stop(ipop_network_t *net)
{
    GSource *srcs[2] = { NULL, NULL };

    if (net->loop_mode == LOOP_THREAD) {
        /* TURN allocations are released by the agents' close; give them a
         * moment, bounded, then end the thread. */
        ipop__net_call(net, quit_when_closed, srcs);
        g_thread_join(net->loop.thread);
        net->loop.thread = NULL;
    } else {
        gint64 deadline = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
        while (g_atomic_int_get(&net->closing_agents) > 0 && g_get_monotonic_time() < deadline) {
            if (!g_main_context_iteration(net->ctx, FALSE))
                g_usleep(2000);
        }
        g_atomic_int_set(&net->closing_agents, 0);
    }
    ipop__source_clear(&srcs[0]);
    ipop__source_clear(&srcs[1]);
}

void ipop__loop_close(ipop_network_t *net)
{
    struct ipop__loop *l = &net->loop;

    drop_mail(net);
    g_clear_pointer(&net->ctx, g_main_context_unref);
    g_clear_pointer(&net->direct, g_ptr_array_unref);
    if (l->epoll_fd >= 0)
        close(l->epoll_fd);
    l->epoll_fd = -1;
    if (l->kick_fd >= 0) {
        int kfd = l->kick_fd;
        g_atomic_int_set(&l->kick_fd, -1);
        close(kfd);
    }
    g_clear_pointer(&l->epoll_fds, g_hash_table_unref);
    g_clear_pointer(&l->ext_fds, g_free);
    l->ext_cap = 0;
}
