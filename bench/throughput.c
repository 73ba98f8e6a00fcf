/* SPDX-License-Identifier: MIT */
/*
 * Throughput of one link, through the public API only.
 *
 * Two networks in mode "none" live in this one process, each on its own
 * library thread.  Their signalling callbacks hand every message straight to
 * the other network, so the link comes up over loopback: ICE host
 * candidates, then DTLS.  Both networks gather candidates on 127.0.0.1 only
 * (option ice.local-address), so the link stays on loopback whatever other
 * interfaces the machine has, and ICE has one pair to check: it comes up in
 * a few milliseconds instead of ~1 s.  Then the main thread sends IPv4 packets from a
 * (10.9.0.1) to b (10.9.0.2) as fast as ipop_network_send_packet() takes
 * them, for a number of seconds per packet size, and b's packet callback
 * counts what arrives.
 *
 * usage: throughput [SECONDS [SIZE...]]      (default: 5 seconds, 1400 and 64)
 *
 * Besides packets per wall-clock second it reports packets per CPU-second:
 * packets received divided by the CPU time (user + system, getrusage) the
 * whole process spent in the run, sender, both library threads and the
 * kernel's loopback work together.  That is the packet rate one core could
 * carry at this cost, whatever else the machine was doing.
 *
 * Prints one line per size, then the same as markdown table rows.
 */
#include <ipop/ipop.h>

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define ADDR_A "10.9.0.1"
#define ADDR_B "10.9.0.2"
#define MAX_SIZES 8
#define CONNECT_TIMEOUT_S 30.0
#define IP_HDR 20
#define UDP_HDR 8
/* Offset of the run number inside the UDP payload, so that late packets of
 * one run are not counted in the next. */
#define TAG_OFF (IP_HDR + UDP_HDR)

typedef struct node {
    ipop_network_t *net;
    struct node *peer;
    const char *name;
    atomic_bool connected;
    atomic_bool failed;
} node;

typedef struct result {
    size_t size;
    double seconds;
    double cpu_s;                     /* user + system time of the process in the run */
    unsigned long long sent, received, retries, errors;
} result;

static atomic_uint run_tag;           /* the run being counted */
static atomic_ullong received;        /* packets of that run that arrived */
static atomic_ullong received_other;  /* anything else that arrived */
static bool verbose;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* User + system CPU time of the whole process (all threads), in seconds. */
static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void sleep_us(long us)
{
    struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

    nanosleep(&ts, NULL);
}

static void on_log(ipop_log_level_t level, ipop_network_t *net, const char *message, void *user_data)
{
    (void)net;
    (void)user_data;
    if (verbose || level <= IPOP_LOG_WARNING)
        fprintf(stderr, "[ipop %d] %s\n", (int)level, message);
}

/* A message for the peer: deliver it to the other network, from inside
 * this callback, which the API allows. */
static void on_signal(ipop_network_t *net, const char *peer_id, const char *message, void *user_data)
{
    node *n = user_data;
    int r;

    (void)peer_id;
    r = ipop_network_signal_receive(n->peer->net, ipop_network_get_node_id(net), message);
    if (r < 0 && r != -ENOTCONN) /* -ENOTCONN: the peer stopped first */
        fprintf(stderr, "%s -> %s: signal refused: %s\n", n->name, n->peer->name, ipop_strerror(r));
}

static void on_event(ipop_network_t *net, const ipop_event_t *ev, void *user_data)
{
    node *n = user_data;

    (void)net;
    if (ev->type != IPOP_EVENT_LINK_STATE) {
        fprintf(stderr, "%s: event %d: %s\n", n->name, (int)ev->type, ev->detail);
        return;
    }
    if (verbose)
        fprintf(stderr, "%s: link %s (%s)\n", n->name, ipop_link_state_str(ev->state),
                ipop_reason_str(ev->reason));
    if (ev->state == IPOP_LINK_CONNECTED)
        atomic_store(&n->connected, true);
    else if (ev->state == IPOP_LINK_FAILED || ev->state == IPOP_LINK_CLOSED)
        atomic_store(&n->failed, true);
}

static void on_packet(ipop_network_t *net, const void *packet, size_t len, void *user_data)
{
    const unsigned char *p = packet;

    (void)net;
    (void)user_data;
    if (len > TAG_OFF && p[TAG_OFF] == (unsigned char)atomic_load_explicit(&run_tag, memory_order_relaxed))
        atomic_fetch_add_explicit(&received, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&received_other, 1, memory_order_relaxed);
}

static int setup_node(node *n, const char *name, const char *addr, node *peer)
{
    int r;

    n->name = name;
    n->peer = peer;
    if ((r = ipop_network_new(&n->net, name)) < 0 ||
        (r = ipop_network_set_option(n->net, "mode", "none")) < 0 ||
        (r = ipop_network_set_option(n->net, "address", addr)) < 0 ||
        (r = ipop_network_set_option(n->net, "ice.local-address", "127.0.0.1")) < 0 ||
        (r = ipop_network_set_signal_cb(n->net, on_signal, n)) < 0 ||
        (r = ipop_network_set_event_cb(n->net, on_event, n)) < 0 ||
        (r = ipop_network_set_packet_cb(n->net, on_packet, n)) < 0 ||
        (r = ipop_network_start(n->net)) < 0)
        fprintf(stderr, "%s: setup failed: %s\n", name, ipop_strerror(r));
    return r;
}

static uint16_t ip_checksum(const unsigned char *h, size_t len)
{
    uint32_t sum = 0;

    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)h[i] << 8 | h[i + 1];
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* An IPv4/UDP packet of `size` bytes from ADDR_A to ADDR_B (UDP checksum 0:
 * none, as IPv4 allows). */
static void make_packet(unsigned char *p, size_t size, unsigned tag)
{
    const unsigned char src[4] = { 10, 9, 0, 1 }, dst[4] = { 10, 9, 0, 2 };
    uint16_t csum, udp_len = (uint16_t)(size - IP_HDR);

    memset(p, 0, size);
    p[0] = 0x45;                        /* version 4, header 5 words */
    p[2] = (unsigned char)(size >> 8);  /* total length */
    p[3] = (unsigned char)size;
    p[6] = 0x40;                        /* don't fragment */
    p[8] = 64;                          /* TTL */
    p[9] = 17;                          /* UDP */
    memcpy(p + 12, src, 4);
    memcpy(p + 16, dst, 4);
    csum = ip_checksum(p, IP_HDR);
    p[10] = (unsigned char)(csum >> 8);
    p[11] = (unsigned char)csum;
    p[IP_HDR + 0] = 0x9c;               /* source port 40000 */
    p[IP_HDR + 1] = 0x40;
    p[IP_HDR + 2] = 0x9c;               /* destination port 40001 */
    p[IP_HDR + 3] = 0x41;
    p[IP_HDR + 4] = (unsigned char)(udp_len >> 8);
    p[IP_HDR + 5] = (unsigned char)udp_len;
    p[TAG_OFF] = (unsigned char)tag;
}

/* Sends packets of `size` bytes for `seconds`, then waits for the tail to
 * arrive.  Returns 0, or -1 when the link stopped taking packets. */
static int run_once(node *a, result *res, size_t size, double seconds, unsigned tag)
{
    unsigned char pkt[IPOP_MAX_PACKET];
    unsigned long long last, consecutive_errors = 0;
    double start, end, quiet_since, cpu0;
    int r, last_error = 0;

    memset(res, 0, sizeof(*res));
    res->size = size;
    make_packet(pkt, size, tag);
    atomic_store(&run_tag, tag);
    atomic_store(&received, 0);

    cpu0 = cpu_s();
    start = now_s();
    end = start + seconds;
    while (now_s() < end) {
        /* Check the clock only every few packets: it is not free. */
        for (int i = 0; i < 64; i++) {
            r = ipop_network_send_packet(a->net, pkt, size);
            if (r == 0) {
                res->sent++;
                consecutive_errors = 0;
            } else if (r == -ENOBUFS || r == -EAGAIN) {
                res->retries++;
                sched_yield();
            } else {
                res->errors++;
                last_error = r;
                if (++consecutive_errors > 100000) {
                    fprintf(stderr, "send keeps failing: %s\n", ipop_strerror(r));
                    return -1;
                }
                sleep_us(10);
            }
        }
    }
    res->seconds = now_s() - start;

    /* Let what is in flight arrive: until nothing new for 200 ms, at most 2 s. */
    last = atomic_load(&received);
    quiet_since = now_s();
    for (double until = now_s() + 2.0; now_s() < until;) {
        sleep_us(20000);
        unsigned long long cur = atomic_load(&received);
        if (cur != last) {
            last = cur;
            quiet_since = now_s();
        } else if (now_s() - quiet_since >= 0.2) {
            break;
        }
    }
    res->received = atomic_load(&received);
    /* The tail's CPU time counts too: it is work for packets counted. */
    res->cpu_s = cpu_s() - cpu0;
    if (res->errors)
        fprintf(stderr, "%llu sends failed (last: %s)\n", res->errors, ipop_strerror(last_error));
    return 0;
}

/* Packets received per CPU-second of the process. */
static double per_cpu_s(const result *r)
{
    return r->cpu_s > 0 ? r->received / r->cpu_s : 0;
}

static void print_result(const result *r)
{
    double loss = r->sent ? 100.0 * (double)(r->sent - (r->received < r->sent ? r->received : r->sent)) / r->sent : 0;

    printf("%5zu B: sent %10.0f pkt/s, received %10.0f pkt/s, %8.1f Mbit/s received, loss %5.2f %%"
           " (%llu sent, %llu received, %llu ENOBUFS retries, %.1f s)\n",
           r->size, r->sent / r->seconds, r->received / r->seconds,
           r->received * (double)r->size * 8 / r->seconds / 1e6, loss,
           r->sent, r->received, r->retries, r->seconds);
    printf("%5zu B: %.2f CPU-seconds (%.2f cores busy): %.0f pkt per CPU-second, %.1f Mbit per CPU-second\n",
           r->size, r->cpu_s, r->cpu_s / r->seconds, per_cpu_s(r), per_cpu_s(r) * (double)r->size * 8 / 1e6);
    fflush(stdout);
}

static void print_table(const result *res, int n)
{
    printf("\n| packet size (B) | sent (pkt/s) | received (pkt/s) | received (Mbit/s) | loss (%%) "
           "| cores busy | pkt per CPU-second |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++) {
        const result *r = &res[i];
        double loss = r->sent ? 100.0 * (double)(r->sent - (r->received < r->sent ? r->received : r->sent)) / r->sent : 0;

        printf("| %zu | %.0f | %.0f | %.1f | %.2f | %.2f | %.0f |\n", r->size, r->sent / r->seconds,
               r->received / r->seconds, r->received * (double)r->size * 8 / r->seconds / 1e6, loss,
               r->cpu_s / r->seconds, per_cpu_s(r));
    }
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [-v] [SECONDS [SIZE...]]\n"
            "  SECONDS  how long to send per packet size (default 5)\n"
            "  SIZE     packet sizes in bytes, %d..%d (default 1400 64)\n",
            argv0, TAG_OFF + 1, IPOP_DEFAULT_MTU);
}

int main(int argc, char **argv)
{
    node a = { 0 }, b = { 0 };
    size_t sizes[MAX_SIZES] = { 1400, 64 };
    result res[MAX_SIZES];
    int n_sizes = 2, n_done = 0, ret = 1, argi = 1;
    double seconds = 5, deadline;
    ipop_link_t *link = NULL;

    if (argi < argc && strcmp(argv[argi], "-v") == 0) {
        verbose = true;
        argi++;
    }
    if (argi < argc) {
        char *end;
        seconds = strtod(argv[argi], &end);
        if (*end || !(seconds > 0 && seconds <= 3600)) {
            usage(argv[0]);
            return 2;
        }
        argi++;
    }
    if (argi < argc) {
        for (n_sizes = 0; argi < argc && n_sizes < MAX_SIZES; argi++, n_sizes++) {
            char *end;
            long s = strtol(argv[argi], &end, 10);
            if (*end || s <= TAG_OFF || s > IPOP_DEFAULT_MTU) {
                usage(argv[0]);
                return 2;
            }
            sizes[n_sizes] = (size_t)s;
        }
        if (argi < argc) {
            usage(argv[0]);
            return 2;
        }
    }

    ipop_set_log_cb(on_log, verbose ? IPOP_LOG_DEBUG : IPOP_LOG_WARNING, NULL);
    printf("libipop %s, two networks in one process, mode none, loopback; %.0f s per size\n",
           ipop_version(), seconds);
    if (setup_node(&a, "a", ADDR_A "/24", &b) < 0 || setup_node(&b, "b", ADDR_B "/24", &a) < 0)
        goto out;

    double t0 = now_s();
    int r = ipop_network_allow_peer(b.net, ipop_network_get_node_id(a.net));
    if (r >= 0)
        r = ipop_network_connect(a.net, ipop_network_get_node_id(b.net), &link);
    if (r < 0) {
        fprintf(stderr, "connect: %s\n", ipop_strerror(r));
        goto out;
    }
    deadline = t0 + CONNECT_TIMEOUT_S;
    while (!(atomic_load(&a.connected) && atomic_load(&b.connected))) {
        if (atomic_load(&a.failed) || atomic_load(&b.failed) || now_s() > deadline) {
            fprintf(stderr, "the link did not come up (a: %s, b: %s)\n",
                    atomic_load(&a.connected) ? "connected" : "not connected",
                    atomic_load(&b.connected) ? "connected" : "not connected");
            goto out;
        }
        sleep_us(1000);
    }
    printf("link up in %.0f ms\n", (now_s() - t0) * 1000);

    for (int i = 0; i < n_sizes; i++) {
        if (run_once(&a, &res[i], sizes[i], seconds, (unsigned)(i + 1)) < 0)
            goto out;
        print_result(&res[i]);
        n_done++;
    }
    if (link) {
        ipop_link_stats_t st = { .size = sizeof(st) };
        if (ipop_link_get_stats(link, &st) == 0)
            printf("a's link: %llu packets sent, %llu not sent, path %s/%s, rtt %u us\n",
                   (unsigned long long)st.tx_packets, (unsigned long long)st.tx_drops,
                   ipop_path_type_str(st.local_path), ipop_path_type_str(st.remote_path), st.rtt_us);
    }
    if (atomic_load(&received_other))
        printf("(%llu packets arrived after their run ended)\n", (unsigned long long)atomic_load(&received_other));
    print_table(res, n_done);
    ret = 0;
    for (int i = 0; i < n_done; i++)
        if (res[i].received == 0) {
            fprintf(stderr, "nothing arrived with %zu-byte packets\n", res[i].size);
            ret = 1;
        }
out:
    /* Stop both before freeing either: stopping says goodbye to the peer
     * through on_signal, which must still find it. */
    if (a.net)
        ipop_network_stop(a.net);
    if (b.net)
        ipop_network_stop(b.net);
    a.net = ipop_network_free(a.net);
    b.net = ipop_network_free(b.net);
    return ret;
}
