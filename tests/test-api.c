/* SPDX-License-Identifier: MIT */
/* The public API under bad input: every refusal is a clear error code and a
 * log line, never a crash.  Runs under the sanitizers in CI. */
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "message.h"
#include "sigauth.h"
#include "testutil.h"

static GMutex log_lock;
static GString *log_text;

static void capture_log(ipop_log_level_t level, ipop_network_t *net, const char *msg, void *ud)
{
    g_mutex_lock(&log_lock);
    g_string_append_printf(log_text, "%d %s\n", level, msg);
    g_mutex_unlock(&log_lock);
}

static void log_reset(void)
{
    g_mutex_lock(&log_lock);
    g_string_truncate(log_text, 0);
    g_mutex_unlock(&log_lock);
}

static bool log_has(const char *needle)
{
    bool r;

    g_mutex_lock(&log_lock);
    r = strstr(log_text->str, needle) != NULL;
    g_mutex_unlock(&log_lock);
    return r;
}

static ipop_network_t *new_net(void)
{
    ipop_network_t *net = NULL;

    g_assert_cmpint(ipop_network_new(&net, "api"), ==, 0);
    g_assert_nonnull(net);
    return net;
}

static void test_options(void)
{
    ipop_network_t *net = new_net();
    static const char *bad[][2] = {
        { "nonsense", "1" },
        { "mode", "tunnel" },
        { "mode", "" },
        { "address", "10.0.0.1/33" },
        { "address", "10.0.0.300/24" },
        { "address", "fd00::1/129" },
        { "address", "hello" },
        { "address", "" },
        { "mtu", "99999" },
        { "mtu", "1501" },
        { "mtu", "100" },
        { "mtu", "1400x" },
        { "mtu", "-1400" },
        { "ice.stun", "nohost" },
        { "ice.stun", "host:0" },
        { "ice.stun", "host:70000" },
        { "ice.stun", "[::1:3478" },
        { "ice.turn", "stun:u:p@host:3478" },
        { "ice.turn", "turn:host:3478" },
        { "ice.turn", "turn:u:p@host:3478?transport=sctp" },
        { "ice.turn", "turn:u:p@:3478" },
        { "ice.local-address", "10.0.0.1/8" },
        { "ice.local-address", "eth0" },
        { "ice.relay-only", "maybe" },
        { "ice.tcp", "2" },
        { "ice.port-mapping", "maybe" },
        { "ice.port-mapping", "upnp,igd" },
        { "device", "a-name-much-too-long-for-linux" },
        { "device", "../x" },
        { "device.offload", "maybe" },
        { "device.offload", "" },
        { "loop", "fast" },
        { "link.timeout", "0" },
        { "identity.file", "" },
    };
    static const char *good[][2] = {
        { "mode", "none" },
        { "mode", "tun" },
        { "mode", "tap" },
        { "device", "ipop7" },
        { "device.offload", "false" },
        { "device.offload", "true" },
        { "address", "10.9.8.7/16" },
        { "address", "fd00:1::7/64" },
        { "mtu", "1280" },
        { "ice.stun", "127.0.0.1:3478" },
        { "ice.stun", "[::1]:3478" },
        { "ice.stun", "stun.example.test:3478" },
        { "ice.turn", "turn:user:p@ss:word@127.0.0.1:3478?transport=tcp" },
        { "ice.turn", "turn:user:pass@127.0.0.1:3478" },
        { "ice.relay-only", "true" },
        { "ice.relay-only", "false" },
        { "ice.local-address", "127.0.0.1" },
        { "ice.local-address", "::1" },
        { "ice.tcp", "no" },
        { "ice.port-mapping", "true" },
        { "ice.port-mapping", "pcp" },
        { "ice.port-mapping", "upnp,natpmp,pcp" },
        { "ice.port-mapping", "false" },
        { "loop", "thread" },
        { "link.timeout", "45" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        log_reset();
        if (ipop_network_set_option(net, bad[i][0], bad[i][1]) != -EINVAL)
            g_error("option %s=%s was accepted", bad[i][0], bad[i][1]);
        /* the log line names the key */
        if (!log_has(bad[i][0]))
            g_error("no log line names option %s", bad[i][0]);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++)
        if (ipop_network_set_option(net, good[i][0], good[i][1]) != 0)
            g_error("option %s=%s was refused", good[i][0], good[i][1]);
    g_assert_cmpint(ipop_network_set_option(net, NULL, "x"), ==, -EINVAL);
    g_assert_cmpint(ipop_network_set_option(net, "mode", NULL), ==, -EINVAL);
    g_assert_cmpint(ipop_network_set_option(NULL, "mode", "none"), ==, -EINVAL);
    net = ipop_network_free(net);
    g_assert_null(net);
    g_assert_null(ipop_network_free(NULL));
}

/* The whole configuration is checked before start, and a broken rule
 * between options names the option to change, in `why` and in the log. */
static void test_whole_check(void)
{
    ipop_network_t *net = new_net();
    char why[128], tiny[8];

    g_assert_cmpint(ipop_network_check(net, why, sizeof(why)), ==, 0);
    g_assert_cmpstr(why, ==, "");
    g_assert_cmpint(ipop_network_check(net, NULL, 0), ==, 0);
    g_assert_cmpint(ipop_network_check(NULL, why, sizeof(why)), ==, -EINVAL);
    g_assert_cmpint(ipop_network_check(net, NULL, 4), ==, -EINVAL);

    /* Two options that each parse but conflict: SocialVPN translates IP
     * packets, and TAP carries Ethernet frames. */
    g_assert_cmpint(ipop_network_set_option(net, "overlay", "social"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "xmpp.jid", "a@example.test"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "xmpp.password", "x"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "social.subnet", "10.80.0.0/16"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "address", "10.70.0.1/24"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "mode", "tap"), ==, 0);
    log_reset();
    g_assert_cmpint(ipop_network_check(net, why, sizeof(why)), ==, -EINVAL);
    g_assert_true(g_str_has_prefix(why, "mode: "));
    g_assert_true(log_has("option mode: "));
    /* the text is cut to fit, and ends */
    g_assert_cmpint(ipop_network_check(net, tiny, sizeof(tiny)), ==, -EINVAL);
    g_assert_cmpstr(tiny, ==, "mode: o");
    /* start refuses it the same way, before anything starts */
    g_assert_cmpint(ipop_network_start(net), ==, -EINVAL);
    g_assert_null(ipop_network_get_node_id(net));

    /* TAP with an MTU whose frames do not fit a record */
    g_assert_cmpint(ipop_network_set_option(net, "overlay", "none"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "mtu", "1400"), ==, 0);
    g_assert_cmpint(ipop_network_check(net, why, sizeof(why)), ==, -EINVAL);
    g_assert_true(g_str_has_prefix(why, "mtu: 1400 is too large for tap mode"));
    g_assert_cmpint(ipop_network_set_option(net, "mode", "tun"), ==, 0);
    g_assert_cmpint(ipop_network_check(net, why, sizeof(why)), ==, 0);

    /* GroupVPN: a missing key is named */
    g_assert_cmpint(ipop_network_set_option(net, "overlay", "group"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "group.room", "vpn@rooms.example.test"), ==, 0);
    g_assert_cmpint(ipop_network_check(net, why, sizeof(why)), ==, -EINVAL);
    g_assert_cmpstr(why, ==, "group.secret: needed by overlay=group (or group.secret-file, or group.authority)");
    g_assert_cmpint(ipop_network_set_option(net, "group.secret", "s"), ==, 0);
    g_assert_cmpint(ipop_network_check(net, why, sizeof(why)), ==, 0);

    /* With an authority: its certificate is needed, and only in a group. */
    g_assert_cmpint(ipop_network_set_option(net, "group.authority", "ed25519:xyz"), ==, -EINVAL);
    g_assert_cmpint(ipop_network_set_option(net, "group.authority",
                                            "ed25519:ChhuNr1jm8Pf7w3vyWTp4JMeJ0Tg724xVIRB2TOFd9c"), ==, 0);
    g_assert_cmpint(ipop_network_check(net, why, sizeof(why)), ==, -EINVAL);
    g_assert_cmpstr(why, ==, "group.certificate: needed by group.authority");
    g_assert_cmpint(ipop_network_set_option(net, "group.certificate", "/etc/ipop/node.cert"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "group.revocations", "/etc/ipop/group.crl"), ==, 0);
    g_assert_cmpint(ipop_network_check(net, why, sizeof(why)), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "overlay", "none"), ==, 0);
    g_assert_cmpint(ipop_network_check(net, why, sizeof(why)), ==, -EINVAL);
    g_assert_cmpstr(why, ==, "group.authority: only for overlay=group");
    g_assert_cmpint(ipop_network_reload_revocations(net), ==, -ENOTCONN);
    g_assert_cmpint(ipop_network_reload_revocations(NULL), ==, -EINVAL);
    ipop_network_free(net);
}

static void test_lifecycle(void)
{
    ipop_network_t *net = new_net();
    ipop_link_stats_t st = { .size = 4 };

    g_assert_cmpint(ipop_network_new(NULL, "x"), ==, -EINVAL);
    /* before start */
    g_assert_cmpint(ipop_network_stop(net), ==, -EALREADY);
    g_assert_cmpint(ipop_network_connect(net, "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst", NULL), ==,
                    -ENOTCONN);
    g_assert_cmpint(ipop_network_send_packet(net, "x", 1), ==, -ENOTCONN);
    g_assert_cmpint(ipop_network_signal_receive(net, "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst", "ipop2"),
                    ==, -ENOTCONN);
    g_assert_cmpint(ipop_network_get_fd(net), ==, -EINVAL);
    g_assert_cmpint(ipop_network_get_timeout(net), ==, -EINVAL);
    g_assert_cmpint(ipop_network_process(net), ==, -EINVAL);
    g_assert_null(ipop_network_get_device(net));
    g_assert_null(ipop_network_get_link(net, "nobody"));

    g_assert_cmpint(ipop_network_start(net), ==, 0);
    g_assert_cmpint(ipop_network_start(net), ==, -EALREADY);
    g_assert_null(ipop_network_get_device(net)); /* mode none: no device */
    /* configuration is refused while started */
    g_assert_cmpint(ipop_network_set_option(net, "mtu", "1300"), ==, -EBUSY);
    g_assert_cmpint(ipop_network_set_signal_cb(net, NULL, NULL), ==, -EBUSY);
    g_assert_cmpint(ipop_network_set_packet_cb(net, NULL, NULL), ==, -EBUSY);
    g_assert_cmpint(ipop_network_set_event_cb(net, NULL, NULL), ==, -EBUSY);
    /* peers */
    g_assert_cmpint(ipop_network_allow_peer(net, "not-a-node-id"), ==, -EINVAL);
    g_assert_cmpint(ipop_network_allow_peer(net, NULL), ==, -EINVAL);
    g_assert_cmpint(ipop_network_connect(net, "short", NULL), ==, -EINVAL);
    g_assert_cmpint(ipop_network_connect(net, ipop_network_get_node_id(net), NULL), ==, -EINVAL);
    /* links */
    g_assert_cmpint(ipop_link_get_state(NULL), ==, -EINVAL);
    g_assert_null(ipop_link_get_peer_id(NULL));
    g_assert_cmpint(ipop_link_get_stats(NULL, &st), ==, -EINVAL);
    g_assert_cmpint(ipop_link_close(NULL), ==, -EINVAL);
    /* packets */
    g_assert_cmpint(ipop_network_send_packet(net, NULL, 10), ==, -EINVAL);
    g_assert_cmpint(ipop_network_send_packet(NULL, "x", 1), ==, -EINVAL);
    {
        guint8 big[IPOP_MAX_PACKET + 1] = { 0x45 };
        g_assert_cmpint(ipop_network_send_packet(net, big, sizeof(big)), ==, -EMSGSIZE);
        g_assert_cmpint(ipop_network_send_packet(net, big, 40), ==, -EINVAL); /* length fields do not fit */
    }
    g_assert_cmpint(ipop_network_stop(net), ==, 0);
    g_assert_cmpint(ipop_network_stop(net), ==, -EALREADY);
    /* and again */
    g_assert_cmpint(ipop_network_start(net), ==, 0);
    net = ipop_network_free(net); /* stops */
}

typedef struct events {
    GMutex lock;
    int refused, bad;
    int last_error;
} events;

static void on_event(ipop_network_t *net, const ipop_event_t *ev, void *ud)
{
    events *e = ud;

    g_mutex_lock(&e->lock);
    if (ev->type == IPOP_EVENT_PEER_REFUSED)
        e->refused++;
    if (ev->type == IPOP_EVENT_BAD_MESSAGE)
        e->bad++;
    e->last_error = ev->error;
    g_mutex_unlock(&e->lock);
}

static bool wait_count(events *e, int *field, int want)
{
    for (int i = 0; i < 300; i++) {
        g_mutex_lock(&e->lock);
        bool ok = *field >= want;
        g_mutex_unlock(&e->lock);
        if (ok)
            return true;
        g_usleep(10000);
    }
    return false;
}

/* body signed by `from` for `to`, as from's network would send it. */
static char *sealed(ipop_network_t *from, ipop_network_t *to, const char *body)
{
    char *buf = g_malloc(IPOP__SIGNAL_MAX + 1);

    g_strlcpy(buf, body, IPOP__SIGNAL_MAX + 1);
    g_assert_cmpint(ipop__sigauth_seal(from, ipop_network_get_node_id(to), buf, strlen(buf), IPOP__SIGNAL_MAX + 1),
                    >, 0);
    return buf;
}

static void test_bad_signalling(void)
{
    ipop_network_t *net = new_net(), *other = new_net();
    events e = { 0 };
    const char *peer;
    char *msg, *big, *body;
    int bad = 0;

    g_mutex_init(&e.lock);
    g_assert_cmpint(ipop_network_set_event_cb(net, on_event, &e), ==, 0);
    g_assert_cmpint(ipop_network_start(net), ==, 0);
    g_assert_cmpint(ipop_network_start(other), ==, 0);
    peer = ipop_network_get_node_id(other);

    /* sender id that is not a node id */
    log_reset();
    g_assert_cmpint(ipop_network_signal_receive(net, "bogus", "ipop2 offer"), ==, -EINVAL);
    g_assert_true(log_has("refused"));
    bad++;
    g_assert_cmpint(ipop_network_signal_receive(net, NULL, "ipop2 offer"), ==, -EINVAL);
    bad++;
    g_assert_cmpint(ipop_network_signal_receive(net, peer, NULL), ==, -EINVAL);
    bad++;
    /* garbage, truncated, a future version, oversize */
    g_assert_cmpint(ipop_network_signal_receive(net, peer, "\x01\x02garbage\xff"), ==, -EINVAL);
    bad++;
    g_assert_cmpint(ipop_network_signal_receive(net, peer, ""), ==, -EINVAL);
    bad++;
    g_assert_cmpint(ipop_network_signal_receive(net, peer, "ipop2"), ==, -EBADMSG);
    bad++;
    /* signed, but malformed */
    msg = sealed(other, net, "ipop2 offer from=x session=0123456789abcdef ufrag=abcd pwd=");
    g_assert_cmpint(ipop_network_signal_receive(net, peer, msg), ==, -EINVAL);
    bad++;
    g_free(msg);
    /* not signed */
    msg = g_strdup_printf("ipop2 bye from=%s session=0123456789abcdef reason=7", peer);
    g_assert_cmpint(ipop_network_signal_receive(net, peer, msg), ==, -EBADMSG);
    bad++;
    g_free(msg);
    /* version 1, not signed, and a future version */
    msg = g_strdup_printf("ipop1 bye from=%s session=0123456789abcdef reason=7", peer);
    g_assert_cmpint(ipop_network_signal_receive(net, peer, msg), ==, -EPROTONOSUPPORT);
    bad++;
    g_free(msg);
    msg = g_strdup_printf("ipop3 offer from=%s session=0123456789abcdef", peer);
    g_assert_cmpint(ipop_network_signal_receive(net, peer, msg), ==, -EPROTONOSUPPORT);
    bad++;
    g_free(msg);
    big = g_malloc(100000);
    memset(big, 'a', 99999);
    big[99999] = '\0';
    memcpy(big, "ipop2 cand ", 11);
    log_reset();
    g_assert_cmpint(ipop_network_signal_receive(net, peer, big), ==, -EMSGSIZE);
    g_assert_true(log_has("refused"));
    bad++;
    g_free(big);
    g_assert_true(wait_count(&e, &e.bad, bad));
    {
        ipop_network_stats_t ns = { .size = sizeof(ns) };
        g_assert_cmpint(ipop_network_get_stats(net, &ns), ==, 0);
        g_assert_cmpuint(ns.signal_refused, ==, (guint64)bad);
        g_assert_cmpuint(ns.links, ==, 0);
        ns.size = 1;
        g_assert_cmpint(ipop_network_get_stats(net, &ns), ==, -EINVAL);
        g_assert_cmpint(ipop_network_get_stats(NULL, &ns), ==, -EINVAL);
    }

    /* a well-formed message from a peer that is not allowed */
    body = g_strdup_printf("ipop2 bye from=%s session=0123456789abcdef reason=7", peer);
    msg = sealed(other, net, body);
    g_free(body);
    log_reset();
    g_assert_cmpint(ipop_network_signal_receive(net, peer, msg), ==, -EPERM);
    g_assert_true(log_has("not allowed"));
    g_assert_true(wait_count(&e, &e.refused, 1));
    /* a message whose sender field is not the peer it came from */
    g_assert_cmpint(ipop_network_allow_peer(net, peer), ==, 0);
    g_assert_cmpint(ipop_network_signal_receive(net, ipop_network_get_node_id(net), msg), ==, -EBADMSG);
    /* once allowed, a stray bye for an unknown session is accepted and ignored */
    g_assert_cmpint(ipop_network_signal_receive(net, peer, msg), ==, 0);
    g_free(msg);

    net = ipop_network_free(net);
    other = ipop_network_free(other);
    g_mutex_clear(&e.lock);
}

/* Without CAP_NET_ADMIN the device cannot be made: the start is refused
 * with -EPERM and a log line, and the network stays reconfigurable.  As
 * root (as in CI) the check runs in a subprocess that first becomes the
 * user nobody, so that it runs everywhere. */
static void devices_need_root(void)
{
    ipop_network_t *net;
    int r;

    net = new_net();
    g_assert_cmpint(ipop_network_set_option(net, "mode", "tun"), ==, 0);
    log_reset();
    /* -EPERM from TUNSETIFF, or -EACCES where /dev/net/tun is 0600 */
    r = ipop_network_start(net);
    if (r != -EPERM && r != -EACCES)
        g_error("start without rights for a device: %d (%s), not -EPERM or -EACCES", r, ipop_strerror(r));
    g_assert_true(log_has("device"));
    /* the failed start left it stopped and reconfigurable */
    g_assert_cmpint(ipop_network_set_option(net, "mode", "none"), ==, 0);
    g_assert_cmpint(ipop_network_start(net), ==, 0);
    net = ipop_network_free(net);
}

static void test_devices_need_root(void)
{
    if (geteuid() != 0) {
        devices_need_root();
        return;
    }
    if (g_test_subprocess()) {
        g_assert_cmpint(test_drop_root(), ==, 0);
        g_assert_cmpint(geteuid(), !=, 0);
        devices_need_root();
        return;
    }
    g_test_trap_subprocess(NULL, 30 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
    g_test_trap_assert_passed();
}

static void test_tap_mtu(void)
{
    ipop_network_t *net = new_net();

    g_assert_cmpint(ipop_network_set_option(net, "mode", "tap"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "mtu", "1410"), ==, 0);
    log_reset();
    g_assert_cmpint(ipop_network_start(net), ==, -EINVAL);
    g_assert_true(log_has("mtu"));
    net = ipop_network_free(net);
}

/* Generated secrets: their length, form and errors; two differ; a group
 * with one is keyed at once (no Argon2id: the network starts and stops
 * without a derivation's half second of CPU, which test-group shows
 * linking). */
static void test_generate_secret(void)
{
    char a[IPOP_GENERATED_SECRET_LEN + 1], b[IPOP_GENERATED_SECRET_LEN + 1];

    g_assert_cmpint(ipop_generate_secret(a, sizeof(a)), ==, IPOP_GENERATED_SECRET_LEN);
    g_assert_cmpuint(strlen(a), ==, IPOP_GENERATED_SECRET_LEN);
    g_assert_true(g_str_has_prefix(a, "ipop1."));
    g_assert_cmpint(ipop_generate_secret(b, sizeof(b)), ==, IPOP_GENERATED_SECRET_LEN);
    g_assert_cmpstr(a, !=, b);
    g_assert_cmpint(ipop_generate_secret(b, IPOP_GENERATED_SECRET_LEN), ==, -ENOSPC);
    g_assert_cmpint(ipop_generate_secret(NULL, 100), ==, -EINVAL);
}

static void test_strings(void)
{
    g_assert_cmpstr(ipop_version(), ==, IPOP_VERSION);
    g_assert_true(IPOP_CHECK_VERSION(0, 0, 1));
    g_assert_cmpstr(ipop_strerror(0), ==, "success");
    g_assert_cmpstr(ipop_strerror(-EHOSTUNREACH), ==, "no link to the destination");
    g_assert_nonnull(ipop_strerror(-EIO));
    g_assert_nonnull(ipop_strerror(12345678));
    g_assert_cmpstr(ipop_reason_str(IPOP_REASON_FINGERPRINT_MISMATCH), ==, "fingerprint-mismatch");
    g_assert_cmpstr(ipop_reason_str((ipop_reason_t)999), ==, "unknown");
    g_assert_cmpstr(ipop_link_state_str(IPOP_LINK_CONNECTED), ==, "connected");
    g_assert_cmpstr(ipop_link_state_str((ipop_link_state_t)999), ==, "unknown");
    g_assert_cmpstr(ipop_path_type_str(IPOP_PATH_RELAY), ==, "relay");
    g_assert_cmpstr(ipop_path_type_str((ipop_path_type_t)999), ==, "unknown");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    log_text = g_string_new(NULL);
    ipop_set_log_cb(capture_log, IPOP_LOG_DEBUG, NULL);
    g_test_add_func("/api/options", test_options);
    g_test_add_func("/api/check", test_whole_check);
    g_test_add_func("/api/lifecycle", test_lifecycle);
    g_test_add_func("/api/bad-signalling", test_bad_signalling);
    g_test_add_func("/api/devices-need-root", test_devices_need_root);
    g_test_add_func("/api/tap-mtu", test_tap_mtu);
    g_test_add_func("/api/strings", test_strings);
    g_test_add_func("/api/generate-secret", test_generate_secret);
    return g_test_run();
}
