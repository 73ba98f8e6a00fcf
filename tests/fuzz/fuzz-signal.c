/* SPDX-License-Identifier: MIT */
/* The signalling state machine under a sequence of messages: each input is
 * decoded into up to MAX_OPS signalling messages (offer, answer, cand, bye,
 * cert, crl; signed by the peer they name, by another key, for another
 * node, too old or too new; replays of earlier ones; garbage), delivered
 * through ipop_network_signal_receive() to one real network (mode none,
 * overlay none, loop=external, ICE on 127.0.0.1 only) from a few peer
 * identities, with turns of the network's loop between them.  After each
 * message:
 *  - a message refused by ipop_network_signal_receive() was counted once
 *    in signal_refused and changed no link (none made, no state, no held
 *    candidate), and one that was accepted was not counted;
 *  - a message not signed by the peer it names (another key, a signature
 *    by another key over the right one, for another node, outside the time
 *    window) and a replay of an accepted one are refused;
 *  - a peer that is not allowed gets no link;
 *  - links not closed stay within link.max, link objects within the peers
 *    that may have one, held candidates within IPOP_PENDING_CANDIDATES_MAX.
 * The network lives for the whole run (a network per input would spend the
 * run starting loops): what it remembers of replays carries over, as it
 * would for a network under a long attack.  group.c's gchal and gproof
 * messages travel through the room, not this entry: fuzz-proof.c covers
 * their parser. */
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "ipop/ipop.h"
#include "link.h"
#include "message.h"
#include "msgauth.h"
#include "network.h"

#define N_PEERS 4     /* 0..2 allowed, 3 not */
#define N_ALLOWED 3
#define LINK_MAX 2    /* fewer than the allowed peers: the cap is reached */
#define MAX_OPS 12    /* messages per input: ICE agents make offers costly */
#define HISTORY 16
#define SCOPE "fuzz"

static ipop_network_t *net;
static ipop__identity *ids[N_PEERS], *wrong;
static uint8_t pks[N_PEERS + 1][IPOP__AUTH_PK_MAX];
static size_t pk_lens[N_PEERS + 1];

static const char *const sessions[4] = { "0123456789abcdef", "fedcba9876543210", "00000000000000aa", "ffffffffffffffff" };

#define CHECK(cond)                                                                                                  \
    do {                                                                                                             \
        if (!(cond)) {                                                                                               \
            fprintf(stderr, "fuzz-signal: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                    \
            abort();                                                                                                 \
        }                                                                                                            \
    } while (0)

static void quiet_log(ipop_log_level_t level, ipop_network_t *n, const char *message, void *user_data)
{
    (void)level, (void)n, (void)message, (void)user_data;
}

static void drop_signal(ipop_network_t *n, const char *peer, const char *message, void *user_data)
{
    (void)n, (void)peer, (void)message, (void)user_data; /* answers go nowhere: the peers are this harness */
}

static void teardown(void)
{
    net = ipop_network_free(net);
    for (int i = 0; i < N_PEERS; i++)
        ipop__identity_free(ids[i]);
    ipop__identity_free(wrong);
}

static void setup(void)
{
    static const char *const opts[][2] = {
        { "mode", "none" }, { "loop", "external" }, { "ice.local-address", "127.0.0.1" },
        { "link.max", "2" }, { "signal.scope", SCOPE },
    };

    ipop_set_log_cb(quiet_log, IPOP_LOG_ERR, NULL);
    CHECK(ipop_network_new(&net, "fuzz") == 0);
    for (size_t i = 0; i < G_N_ELEMENTS(opts); i++)
        CHECK(ipop_network_set_option(net, opts[i][0], opts[i][1]) == 0);
    CHECK(ipop_network_set_signal_cb(net, drop_signal, NULL) == 0);
    CHECK(ipop_network_start(net) == 0);
    for (int i = 0; i <= N_PEERS; i++) {
        ipop__identity **id = i < N_PEERS ? &ids[i] : &wrong;
        CHECK(ipop__identity_load(id, NULL) == 0);
        pk_lens[i] = sizeof(pks[i]);
        CHECK(ipop__identity_public_key(*id, pks[i], &pk_lens[i]) == 0);
    }
    for (int i = 0; i < N_ALLOWED; i++)
        CHECK(ipop_network_allow_peer(net, ipop__identity_node_id(ids[i])) == 0);
    atexit(teardown);
}

/* The input, read a byte at a time; zeros past its end. */
typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader;

static uint8_t take(reader *r)
{
    if (!r->left)
        return 0;
    r->left--;
    return *r->p++;
}

static uint64_t now_ms(void)
{
    return (uint64_t)(g_get_real_time() / 1000);
}

/* A message of `type` from peer `from`, its fields from the input.  The
 * candidates are on 127.0.0.1 only: connectivity checks stay on this host. */
static void build(ipop__msg *m, ipop__msg_type type, const char *from, reader *r)
{
    static const char *const kinds[] = { "host", "srflx", "relay", "prflx" };
    uint8_t b = take(r), flags = take(r);

    memset(m, 0, sizeof(*m));
    m->type = type;
    g_strlcpy(m->node_id, from, sizeof(m->node_id));
    if (ipop__msg_has_session(type))
        g_strlcpy(m->session, sessions[b & 3], sizeof(m->session));
    if (type == IPOP__MSG_OFFER || type == IPOP__MSG_ANSWER) {
        g_strlcpy(m->ufrag, flags & 1 ? "fuzzufrag" : "u", sizeof(m->ufrag));
        g_strlcpy(m->pwd, "fuzzpasswordfuzzpassword", sizeof(m->pwd));
        m->has_fingerprint = !(flags & 2);
        memset(m->fingerprint, take(r), sizeof(m->fingerprint));
        if (flags & 4)
            CHECK(ipop__addr_parse(flags & 8 ? "10.9.0.2/24" : "10.9.0.3/24", &m->addr4) == 0);
        b = take(r);
        m->seq = b == 0xff ? UINT64_MAX : b; /* 0: absent */
    }
    if (type == IPOP__MSG_BYE) {
        m->reason = take(r) % 24;
        return;
    }
    if (type == IPOP__MSG_CERT) {
        snprintf(m->cert, sizeof(m->cert), "ipop-cert1 serial=%u", take(r));
        m->cert_ack = flags & 1;
        m->crl_serial = take(r);
        return;
    }
    if (type == IPOP__MSG_CRL) {
        snprintf(m->crl, sizeof(m->crl), "ipop-crl1 serial=%u", take(r));
        return;
    }
    m->n_cands = (flags >> 4) % (IPOP__SIGNAL_MAX_CANDS + 1);
    m->cands_done = take(r) & 1;
    for (unsigned i = 0; i < m->n_cands; i++) {
        unsigned port = 1 + (take(r) << 8 | take(r)) % 65535, k = take(r);
        snprintf(m->cands[i], sizeof(m->cands[i]), "a=candidate:%u 1 UDP %u 127.0.0.1 %u typ %s%s", k & 7,
                 2013266431u - (k >> 3), port, kinds[k & 3], (k & 3) ? " raddr 127.0.0.1 rport 9" : "");
    }
}

/* How a message is signed (envelope() below). */
enum sign_mode {
    SIGN_GOOD_MAX = 2,   /* 0..2: signed by the peer it names, now or up to 255 s ago */
    SIGN_OTHER_SIG = 3,  /* the peer's public key, a signature by another key */
    SIGN_OTHER_KEY = 4,  /* another key, and a signature by it */
    SIGN_OLD = 5,        /* more than 5 minutes old */
    SIGN_FUTURE = 6,     /* more than 5 minutes ahead */
    SIGN_OTHER_TO = 7,   /* for another node */
};

/* Appends the envelope to `line` (holding the message body). */
static bool envelope(char *line, int from, unsigned mode, uint8_t age, const uint8_t nonce[IPOP__AUTH_NONCE_LEN])
{
    ipop__identity *signer = mode == SIGN_OTHER_SIG || mode == SIGN_OTHER_KEY ? wrong : ids[from];
    int pk = mode == SIGN_OTHER_KEY ? N_PEERS : from;
    uint64_t now = now_ms();
    ipop__auth a = { 0 };
    uint8_t *input;
    int n;

    g_strlcpy(a.to, mode == SIGN_OTHER_TO ? ipop__identity_node_id(ids[from]) : ipop_network_get_node_id(net),
              sizeof(a.to));
    a.ts_ms = mode == SIGN_OLD ? now - IPOP__AUTH_SKEW_MS - 1000 - age * 1000u
            : mode == SIGN_FUTURE ? now + IPOP__AUTH_SKEW_MS + 1000 + age * 1000u
            : now - age * 1000u;
    memcpy(a.nonce, nonce, IPOP__AUTH_NONCE_LEN);
    memcpy(a.pk, pks[pk], pk_lens[pk]);
    a.pk_len = pk_lens[pk];
    input = g_malloc(IPOP__AUTH_INPUT_MAX);
    n = ipop__auth_sign_input(input, IPOP__AUTH_INPUT_MAX, "host:" SCOPE, ipop__identity_node_id(ids[from]), &a, line,
                              strlen(line));
    CHECK(n > 0 && ipop__identity_sign(signer, input, (size_t)n, a.sig) == 0);
    g_free(input);
    return ipop__auth_encode(&a, line, strlen(line), line, IPOP__SIGNAL_MAX + 1) > 0;
}

/* What may change: the link objects, their states, their held candidates. */
typedef struct snapshot {
    uint64_t refused, dropped;
    guint n_links;
    ipop_link_t *link[N_PEERS];
    int state[N_PEERS];
    guint held[N_PEERS];
    bool held_done[N_PEERS];
} snapshot;

static void take_snapshot(snapshot *s)
{
    ipop_network_stats_t st = { .size = sizeof(st) };

    CHECK(ipop_network_get_stats(net, &st) == 0);
    s->refused = st.signal_refused;
    s->dropped = st.candidates_dropped;
    s->n_links = net->link_list->len;
    for (int i = 0; i < N_PEERS; i++) {
        ipop_link_t *l = ipop_network_get_link(net, ipop__identity_node_id(ids[i]));
        s->link[i] = l;
        s->state[i] = l ? ipop_link_get_state(l) : -1;
        s->held[i] = l && l->ice.pending_cands ? l->ice.pending_cands->len : 0;
        s->held_done[i] = l && l->ice.pending_done;
    }
}

/* Bounded whatever came: links open within link.max, objects only for
 * allowed peers, held candidates within the bound (and one end mark). */
static void check_bounds(void)
{
    ipop_network_stats_t st = { .size = sizeof(st) };
    guint open = 0;

    CHECK(ipop_network_get_stats(net, &st) == 0);
    CHECK(st.links <= N_ALLOWED);
    CHECK(ipop_network_get_link(net, ipop__identity_node_id(ids[N_PEERS - 1])) == NULL);
    for (guint i = 0; i < net->link_list->len; i++) {
        ipop_link_t *l = net->link_list->pdata[i];
        open += ipop_link_get_state(l) != IPOP_LINK_CLOSED;
        if (l->ice.pending_cands)
            CHECK(l->ice.pending_cands->len <= IPOP_PENDING_CANDIDATES_MAX + 1);
    }
    CHECK(open <= LINK_MAX);
}

typedef struct sent {
    char *line;
    int from;
    bool accepted;
} sent;

static int deliver(int from, const char *line, bool must_refuse)
{
    snapshot before, after;
    int r;

    take_snapshot(&before);
    r = ipop_network_signal_receive(net, ipop__identity_node_id(ids[from]), line);
    take_snapshot(&after);
    if (must_refuse)
        CHECK(r < 0);
    if (r == 0) {
        CHECK(after.refused == before.refused);
        return r;
    }
    /* Refused: counted once, and nothing else moved (the message was not
     * even posted to the loop, which has not turned since). */
    CHECK(after.refused == before.refused + 1);
    CHECK(after.dropped == before.dropped);
    CHECK(after.n_links == before.n_links);
    for (int i = 0; i < N_PEERS; i++) {
        CHECK(after.link[i] == before.link[i]);
        CHECK(after.state[i] == before.state[i]);
        CHECK(after.held[i] == before.held[i]);
        CHECK(after.held_done[i] == before.held_done[i]);
    }
    return r;
}

static void turn(unsigned n)
{
    while (n--)
        CHECK(ipop_network_process(net) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ipop__msg_type types[] = { IPOP__MSG_OFFER, IPOP__MSG_ANSWER, IPOP__MSG_CAND,
                                            IPOP__MSG_BYE,   IPOP__MSG_CERT,   IPOP__MSG_CRL };
    static uint64_t counter; /* nonces differ between inputs, or every input would be a replay */
    reader rd = { data, size };
    sent hist[HISTORY] = { 0 };
    unsigned n_hist = 0;
    ipop__msg *m;
    char *line;

    if (!net)
        setup();
    m = g_new(ipop__msg, 1);
    line = g_malloc(IPOP__SIGNAL_MAX + 1);
    for (unsigned op = 0; op < MAX_OPS && rd.left; op++) {
        uint8_t b0 = take(&rd), b1 = take(&rd);
        unsigned kind = b0 % 9, mode = (b1 >> 2) & 7;
        int from = b1 & 3, r;
        bool forged = false;

        if (kind < G_N_ELEMENTS(types)) {
            uint8_t nonce[IPOP__AUTH_NONCE_LEN] = { 0 }, age = take(&rd);
            build(m, types[kind], ipop__identity_node_id(ids[from]), &rd);
            counter++;
            memcpy(nonce, &counter, sizeof(counter));
            nonce[15] = b0;
            if (ipop__msg_encode(m, line, IPOP__SIGNAL_BODY_MAX + 1) < 0 || !envelope(line, from, mode, age, nonce))
                continue;
            forged = mode > SIGN_GOOD_MAX;
        } else if (kind == 6) { /* garbage: bytes as they come, maybe after a real start */
            size_t n = take(&rd), at = 0;
            if (b1 & 0x80)
                at = (size_t)snprintf(line, IPOP__SIGNAL_MAX + 1, "ipop2 %s from=%s ",
                                      ipop__msg_type_str(types[b1 % 6]), ipop__identity_node_id(ids[from]));
            for (size_t i = 0; i < n && rd.left; i++)
                line[at++] = (char)(take(&rd) | 1); /* no NUL inside */
            line[at] = '\0';
            forged = true; /* no signature by anyone */
        } else if (kind == 7) { /* a replay of one sent earlier in this input */
            sent *h;
            if (!n_hist)
                continue;
            h = &hist[b1 % n_hist];
            r = deliver(h->from, h->line, h->accepted);
            turn(1 + (b0 >> 7));
            check_bounds();
            continue;
        } else { /* the loop turns a few times */
            turn(1 + (b1 & 7));
            check_bounds();
            continue;
        }
        r = deliver(from, line, forged);
        if (from == N_PEERS - 1)
            CHECK(r < 0); /* not allowed, whatever it carried */
        if (n_hist < HISTORY)
            hist[n_hist++] = (sent){ g_strdup(line), from, r == 0 };
        turn(1 + (b0 >> 7));
        check_bounds();
    }
    for (unsigned i = 0; i < n_hist; i++)
        g_free(hist[i].line);
    g_free(line);
    g_free(m);
    return 0;
}
