/* SPDX-License-Identifier: MIT */
/*
 * Memory of idle links, through the public API only.
 *
 * One process (the hub) runs one network in mode "none" with N links, as a
 * node with N peers would.  Its peers, N networks with one link each, run
 * in a second process (forked before either touches the library), so that
 * the hub's figures hold its own links only.  Signalling messages travel
 * between the two over a socketpair; ICE gathers on 127.0.0.1 only, so the
 * links run over loopback.  A link counts once ipop_link_get_stats() says
 * CONNECTED (DTLS up) on both ends.
 *
 * Each process reports, at each phase: VmRSS and RssAnon (/proc/self/status),
 * the heap in use by malloc (malloc_info(), all arenas), threads and open
 * fds.  The hub's phases: before any network, after its network started,
 * after all links connected and a few idle seconds (keepalive pings and
 * consent checks run).  The cost of an idle link is the growth between the
 * last two, divided by N.
 *
 * usage: memory [-v] [N [IDLE_SECONDS]]     (default 100 links, 5 s)
 */
#define _GNU_SOURCE
#include <ipop/ipop.h>

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINKS 1000
#define CONNECT_BATCH 20
#define CONNECT_TIMEOUT_S 120
#define MSG_MAX 65536

typedef struct mem {
    long rss_kib, anon_kib, heap_kib, threads, fds;
} mem;

typedef struct proc {
    int fd;                        /* socketpair end to the other process */
    ipop_network_t *nets[MAX_LINKS];
    int n_nets;
    char peer_id[IPOP_NODE_ID_MAX + 1]; /* the spokes: the hub's id */
    atomic_int spoke_ids;          /* the hub: spoke ids received */
    char spoke_id[MAX_LINKS][IPOP_NODE_ID_MAX + 1];
    atomic_bool quit;
    atomic_int child_up;           /* the hub: the spokes said all links are up */
    mem child_mem[3];
    atomic_int child_mem_n;
} proc;

static bool verbose;
static proc P;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

    nanosleep(&ts, NULL);
}

static long status_kib(const char *status, const char *key)
{
    const char *p = strstr(status, key);

    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* Bytes malloc has handed out and not taken back, over all arenas: what
 * the arenas hold from the system (plus mmapped chunks) less their free
 * chunks, from the totals after the last <heap> of malloc_info(). */
static long heap_in_use_kib(void)
{
    char *xml = NULL, *tail;
    size_t len = 0;
    long long current = 0, mmapped = 0, fast = 0, rest = 0;
    FILE *f = open_memstream(&xml, &len);
    const char *p;

    if (!f)
        return -1;
    malloc_info(0, f);
    fclose(f);
    tail = strstr(xml, "</heap>");
    for (char *t = tail; t; t = strstr(t + 1, "</heap>"))
        tail = t;
    if (!tail) {
        free(xml);
        return -1;
    }
    if ((p = strstr(tail, "<total type=\"fast\" count=\"")) && (p = strstr(p, "size=\"")))
        fast = strtoll(p + 6, NULL, 10);
    if ((p = strstr(tail, "<total type=\"rest\" count=\"")) && (p = strstr(p, "size=\"")))
        rest = strtoll(p + 6, NULL, 10);
    if ((p = strstr(tail, "<total type=\"mmap\" count=\"")) && (p = strstr(p, "size=\"")))
        mmapped = strtoll(p + 6, NULL, 10);
    if ((p = strstr(tail, "<system type=\"current\" size=\"")))
        current = strtoll(p + 29, NULL, 10);
    free(xml);
    return (long)((current + mmapped - fast - rest) / 1024);
}

static long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    long n = 0;

    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the one opendir holds */
}

static mem measure(void)
{
    char buf[8192];
    mem m = { -1, -1, -1, -1, -1 };
    FILE *f = fopen("/proc/self/status", "r");

    if (f) {
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = 0;
        fclose(f);
        m.rss_kib = status_kib(buf, "VmRSS:");
        m.anon_kib = status_kib(buf, "RssAnon:");
        m.threads = status_kib(buf, "Threads:");
    }
    m.heap_kib = heap_in_use_kib();
    m.fds = count_fds();
    return m;
}

static void print_mem(const char *who, const char *phase, const mem *m)
{
    printf("| %s | %s | %ld | %ld | %ld | %ld | %ld |\n", who, phase, m->rss_kib, m->anon_kib, m->heap_kib,
           m->threads, m->fds);
    fflush(stdout);
}

/* ---- the socketpair: one message per SOCK_SEQPACKET record ---- */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char buf[MSG_MAX];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || n >= (int)sizeof(buf)) {
        fprintf(stderr, "memory: message too long\n");
        return;
    }
    /* One record per message: no lock needed between callback threads. */
    if (send(P.fd, buf, (size_t)n, MSG_NOSIGNAL) < 0 && !atomic_load(&P.quit))
        fprintf(stderr, "memory: send: %s\n", strerror(errno));
}

/* Copies a node id; false when it does not fit. */
static bool copy_id(char dst[IPOP_NODE_ID_MAX + 1], const char *src)
{
    size_t len = strlen(src);

    if (len > IPOP_NODE_ID_MAX)
        return false;
    memcpy(dst, src, len + 1);
    return true;
}

static ipop_network_t *net_by_id(const char *id)
{
    for (int i = 0; i < P.n_nets; i++)
        if (P.nets[i] && strcmp(ipop_network_get_node_id(P.nets[i]), id) == 0)
            return P.nets[i];
    return NULL;
}

/* "sig TO FROM MESSAGE": hand MESSAGE to our network TO. */
static void deliver(char *rest)
{
    char *to = rest, *from, *msg;
    ipop_network_t *net;
    int r;

    if (!(from = strchr(to, ' ')) || !(msg = strchr(from + 1, ' ')))
        return;
    *from++ = 0;
    *msg++ = 0;
    if (!(net = net_by_id(to)))
        return;
    r = ipop_network_signal_receive(net, from, msg);
    if (r < 0 && r != -ENOTCONN && verbose)
        fprintf(stderr, "signal refused: %s\n", ipop_strerror(r));
}

static void *reader(void *arg)
{
    static char buf[MSG_MAX + 1];
    bool hub = arg != NULL;

    for (;;) {
        ssize_t n = recv(P.fd, buf, MSG_MAX, 0);
        if (n <= 0)
            break;
        buf[n] = 0;
        if (!strncmp(buf, "sig ", 4)) {
            deliver(buf + 4);
        } else if (!strncmp(buf, "quit", 4)) {
            break;
        } else if (hub && !strncmp(buf, "id ", 3)) {
            int i = atomic_load(&P.spoke_ids);
            if (i < MAX_LINKS && copy_id(P.spoke_id[i], buf + 3))
                atomic_store(&P.spoke_ids, i + 1);
        } else if (hub && !strncmp(buf, "mem ", 4)) {
            int i = atomic_load(&P.child_mem_n);
            mem *m = &P.child_mem[i < 3 ? i : 2];
            sscanf(buf + 4, "%ld %ld %ld %ld %ld", &m->rss_kib, &m->anon_kib, &m->heap_kib, &m->threads, &m->fds);
            atomic_store(&P.child_mem_n, i + 1);
        } else if (hub && !strncmp(buf, "up ", 3)) {
            atomic_store(&P.child_up, atoi(buf + 3));
        }
    }
    atomic_store(&P.quit, true);
    return NULL;
}

/* ---- library callbacks ---- */

static void on_log(ipop_log_level_t level, ipop_network_t *net, const char *message, void *user_data)
{
    if (verbose || level <= IPOP_LOG_WARNING)
        fprintf(stderr, "[%d %s] %s\n", (int)getpid(), net ? ipop_network_get_node_id(net) : "-", message);
}

static void on_signal(ipop_network_t *net, const char *peer_id, const char *message, void *user_data)
{
    say("sig %s %s %s", peer_id, ipop_network_get_node_id(net), message);
}

static void on_event(ipop_network_t *net, const ipop_event_t *ev, void *user_data)
{
    if (verbose || (ev->type == IPOP_EVENT_LINK_STATE && ev->state == IPOP_LINK_FAILED))
        fprintf(stderr, "[%d] event %d: %s\n", (int)getpid(), (int)ev->type, ev->detail);
}

static ipop_network_t *make_net(const char *name, const char *addr)
{
    ipop_network_t *net = NULL;
    int r;

    if ((r = ipop_network_new(&net, name)) < 0 ||
        (r = ipop_network_set_option(net, "mode", "none")) < 0 ||
        (r = ipop_network_set_option(net, "address", addr)) < 0 ||
        (r = ipop_network_set_option(net, "ice.local-address", "127.0.0.1")) < 0 ||
        /* Room for a slow run (valgrind): a link that times out fails the run. */
        (r = ipop_network_set_option(net, "link.timeout", "300")) < 0 ||
        (r = ipop_network_set_signal_cb(net, on_signal, NULL)) < 0 ||
        (r = ipop_network_set_event_cb(net, on_event, NULL)) < 0 ||
        (r = ipop_network_start(net)) < 0) {
        fprintf(stderr, "%s: setup failed: %s\n", name, ipop_strerror(r));
        return ipop_network_free(net);
    }
    return net;
}

static bool link_connected(ipop_link_t *link)
{
    ipop_link_stats_t st = { .size = sizeof(st) };

    return link && ipop_link_get_stats(link, &st) == 0 && st.state == IPOP_LINK_CONNECTED;
}

static void stop_all(void)
{
    /* Stop all before freeing any: goodbyes still find their peers. */
    for (int i = 0; i < P.n_nets; i++)
        ipop_network_stop(P.nets[i]);
    for (int i = 0; i < P.n_nets; i++)
        P.nets[i] = ipop_network_free(P.nets[i]);
}

/* ---- the spokes' process ---- */

static void say_mem(void)
{
    mem m = measure();

    say("mem %ld %ld %ld %ld %ld", m.rss_kib, m.anon_kib, m.heap_kib, m.threads, m.fds);
}

static int spokes(int n)
{
    char buf[256];
    pthread_t th;
    ssize_t len;

    say_mem();
    len = recv(P.fd, buf, sizeof(buf) - 1, 0);
    if (len <= 3 || strncmp(buf, "id ", 3))
        return 1;
    buf[len] = 0;
    if (!copy_id(P.peer_id, buf + 3))
        return 1;
    for (int i = 0; i < n; i++) {
        char name[32], addr[32];
        snprintf(name, sizeof(name), "spoke%d", i);
        snprintf(addr, sizeof(addr), "10.%d.%d.%d/8", 100 + (i + 2) / 65536, (i + 2) / 256 % 256, (i + 2) % 256);
        if (!(P.nets[i] = make_net(name, addr)))
            return 1;
        P.n_nets = i + 1;
        if (ipop_network_allow_peer(P.nets[i], P.peer_id) < 0)
            return 1;
    }
    say_mem();
    if (pthread_create(&th, NULL, reader, NULL) != 0)
        return 1;
    for (int i = 0; i < n; i++)
        say("id %s", ipop_network_get_node_id(P.nets[i]));
    /* Report when every spoke's link is up, then once more at quit. */
    for (bool up = false; !atomic_load(&P.quit); sleep_ms(100)) {
        int k = 0;
        for (int i = 0; i < n; i++)
            k += link_connected(ipop_network_get_link(P.nets[i], P.peer_id));
        if (k == n && !up) {
            up = true;
            say("up %d", k);
        }
    }
    say_mem(); /* the links are still up: the hub asked for this with "quit" */
    stop_all();
    pthread_join(th, NULL);
    return 0;
}

/* ---- the hub's process ---- */

typedef struct {
    double t, cpu_ms;
    long switches; /* voluntary context switches: the threads' wakeups */
} cpu_use;

static cpu_use cpu_now(void)
{
    struct rusage ru;
    cpu_use c = { now_s(), 0, 0 };

    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        c.cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
        c.switches = ru.ru_nvcsw;
    }
    return c;
}

static int hub(int n, int idle_s, pid_t child)
{
    static ipop_link_t *links[MAX_LINKS];
    mem m[3];
    cpu_use cpu[2];
    pthread_t th;
    double t0, deadline;
    int ret = 1, up = 0;

    m[0] = measure();
    if (!(P.nets[0] = make_net("hub", "10.100.0.1/8")))
        return 1;
    P.n_nets = 1;
    if (pthread_create(&th, NULL, reader, &P) != 0)
        return 1;
    say("id %s", ipop_network_get_node_id(P.nets[0]));
    deadline = now_s() + CONNECT_TIMEOUT_S;
    while (atomic_load(&P.spoke_ids) < n && now_s() < deadline && !atomic_load(&P.quit))
        sleep_ms(10);
    if (atomic_load(&P.spoke_ids) < n) {
        fprintf(stderr, "the spokes did not start\n");
        goto out;
    }
    m[1] = measure();

    t0 = now_s();
    for (int i = 0; i < n; i += CONNECT_BATCH) {
        int end = i + CONNECT_BATCH < n ? i + CONNECT_BATCH : n;
        for (int j = i; j < end; j++) {
            int r = ipop_network_connect(P.nets[0], P.spoke_id[j], &links[j]);
            if (r < 0) {
                fprintf(stderr, "connect: %s\n", ipop_strerror(r));
                goto out;
            }
        }
        deadline = now_s() + CONNECT_TIMEOUT_S;
        for (int j = i; j < end && now_s() < deadline;) {
            if (link_connected(links[j]))
                j++;
            else
                sleep_ms(10);
        }
    }
    for (int j = 0; j < n; j++)
        up += link_connected(links[j]);
    deadline = now_s() + 10;
    while (atomic_load(&P.child_up) < n && now_s() < deadline)
        sleep_ms(10);
    if (up < n || atomic_load(&P.child_up) < n) {
        fprintf(stderr, "links connected: %d of %d here, %d of %d at the spokes\n", up, n,
                atomic_load(&P.child_up), n);
        goto out;
    }
    printf("%d links connected in %.1f s (batches of %d); idle for %d s\n", n, now_s() - t0, CONNECT_BATCH,
           idle_s);
    /* CPU time and wakeups while idle: the first half of the idle time
     * holds libnice's last checks after ICE completes (it ticks every 20 ms
     * for its idle-timeout, 5 s); the second half is the steady state. */
    sleep_ms(idle_s * 500L);
    cpu[0] = cpu_now();
    sleep_ms(idle_s * 500L);
    cpu[1] = cpu_now();
    up = 0;
    for (int j = 0; j < n; j++)
        up += link_connected(links[j]);
    if (up < n) {
        fprintf(stderr, "after the idle time, %d of %d links are connected\n", up, n);
        goto out;
    }
    m[2] = measure();
    say("quit"); /* the spokes report their memory before they stop */
    for (deadline = now_s() + 5; atomic_load(&P.child_mem_n) < 3 && now_s() < deadline;)
        sleep_ms(10);

    printf("\n| process | phase | VmRSS KiB | RssAnon KiB | heap in use KiB | threads | fds |\n");
    printf("|---|---|---:|---:|---:|---:|---:|\n");
    print_mem("hub", "before any network", &m[0]);
    print_mem("hub", "1 network started", &m[1]);
    print_mem("hub", "links connected, idle", &m[2]);
    if (atomic_load(&P.child_mem_n) >= 3) {
        char phase[64];
        print_mem("spokes", "before any network", &P.child_mem[0]);
        snprintf(phase, sizeof(phase), "%d networks started", n);
        print_mem("spokes", phase, &P.child_mem[1]);
        print_mem("spokes", "links connected, idle", &P.child_mem[2]);
    }
    printf("\nhub, per idle link: %.1f KiB RSS, %.1f KiB anonymous, %.1f KiB heap, %.2f fds\n",
           (double)(m[2].rss_kib - m[1].rss_kib) / n, (double)(m[2].anon_kib - m[1].anon_kib) / n,
           (double)(m[2].heap_kib - m[1].heap_kib) / n, (double)(m[2].fds - m[1].fds) / n);
    printf("hub, total: %ld KiB RSS with %d idle links\n", m[2].rss_kib, n);
    printf("hub, idle (the last %.1f s): %.2f ms of CPU per second (%.1f us/s per link), %.0f wakeups per second\n",
           cpu[1].t - cpu[0].t, (cpu[1].cpu_ms - cpu[0].cpu_ms) / (cpu[1].t - cpu[0].t),
           (cpu[1].cpu_ms - cpu[0].cpu_ms) * 1000 / (cpu[1].t - cpu[0].t) / n,
           (double)(cpu[1].switches - cpu[0].switches) / (cpu[1].t - cpu[0].t));
    if (atomic_load(&P.child_mem_n) >= 3) {
        const mem *c = P.child_mem;
        printf("spokes, per network with one idle link: %.1f KiB RSS (%.1f KiB of it before its link), "
               "%.1f KiB heap\n", (double)(c[2].rss_kib - c[0].rss_kib) / n,
               (double)(c[1].rss_kib - c[0].rss_kib) / n, (double)(c[2].heap_kib - c[0].heap_kib) / n);
    }
    ret = 0;
out:
    say("quit");
    atomic_store(&P.quit, true);
    shutdown(P.fd, SHUT_WR);
    waitpid(child, NULL, 0);
    pthread_join(th, NULL);
    stop_all();
    return ret;
}

int main(int argc, char **argv)
{
    int n = 100, idle_s = 5, argi = 1, sv[2];
    pid_t pid;

    if (argi < argc && !strcmp(argv[argi], "-v")) {
        verbose = true;
        argi++;
    }
    if ((argi < argc && ((n = atoi(argv[argi++])) < 1 || n > MAX_LINKS)) ||
        (argi < argc && ((idle_s = atoi(argv[argi++])) < 0 || idle_s > 3600)) || argi < argc) {
        fprintf(stderr, "usage: %s [-v] [N [IDLE_SECONDS]]\n  N  idle links, 1..%d (default 100)\n"
                "  IDLE_SECONDS  wait after all are up, before measuring (default 5)\n", argv[0], MAX_LINKS);
        return 2;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0) {
        perror("socketpair");
        return 1;
    }
    printf("libipop %s: one network with %d links (hub process), its %d peers in a second process\n",
           ipop_version(), n, n);
    fflush(stdout);
    ipop_set_log_cb(on_log, verbose ? IPOP_LOG_DEBUG : IPOP_LOG_WARNING, NULL);
    /* Fork before either process touches the library's threads. */
    pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        close(sv[0]);
        P.fd = sv[1];
        _exit(spokes(n));
    }
    close(sv[1]);
    P.fd = sv[0];
    return hub(n, idle_s, pid);
}
