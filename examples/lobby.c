/* SPDX-License-Identifier: MIT */
/*
 * lobby: a game-style program on libipop, without root.
 *
 *   lobby server PATH
 *   lobby play PATH NAME ADDR/PREFIX [--local IP] [--players N] [--rounds M] [--tap]
 *
 * The application brings its own signalling channel: a tiny "lobby", a
 * Unix datagram socket at PATH, where players announce themselves and which
 * relays the library's signalling messages between them.  Each player runs
 * one network; the player with the smaller node id opens the link.  Over
 * the overlay the players then exchange chat lines and position updates as
 * UDP datagrams with ipop_udp_* (mode none: no device, no root).
 *
 * With --tap the network is a TAP device instead (root), and the game finds
 * the other players the LAN way: an ordinary UDP broadcast socket on the
 * device, sending "hello" to the subnet's broadcast address.  The lobby
 * still carries the signalling that makes the links.
 *
 * A player exits with status 0 once it heard M chat lines and M position
 * updates from each of the N-1 other players (and kept sending a little
 * longer, so that they hear it too), 1 on error or after 60 s.
 *
 * Lobby datagrams are text: "JOIN name node-id addr4", "PEER name node-id
 * addr4" (from the lobby), "SIG node-id message" (to the lobby: the
 * recipient; from it: the sender).
 */
#define _GNU_SOURCE /* SO_BINDTODEVICE */
#include <arpa/inet.h>
#include <errno.h>
#include <ipop/ipop.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define GAME_PORT 7000
#define MAX_PLAYERS 16
#define MSG_MAX 9000 /* a signalling message is at most 8192 bytes */
#define TICK_MS 200
#define LINGER_MS 1500
#define GIVE_UP_MS 60000

struct player {
    char name[32];
    char id[IPOP_NODE_ID_MAX + 1]; /* empty: known by broadcast only */
    char addr[INET6_ADDRSTRLEN];   /* its virtual address; empty until known */
    struct sockaddr_un sun;        /* lobby side: its socket */
    int chats, positions;          /* player side: heard from it */
};

static struct player players[MAX_PLAYERS];
static int n_players;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* players: datagram callbacks run in the library's thread */

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int unix_socket(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || strlen(path) >= sizeof(sun.sun_path))
        return -1;
    strcpy(sun.sun_path, path);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- the lobby ---- */

static void lobby_send(int fd, const struct sockaddr_un *to, const char *text)
{
    sendto(fd, text, strlen(text), 0, (const struct sockaddr *)to, sizeof(*to));
}

static void lobby_join(int fd, const struct sockaddr_un *from, char *args)
{
    char name[32], id[IPOP_NODE_ID_MAX + 1], addr[INET6_ADDRSTRLEN], line[256];
    struct player *p;

    if (sscanf(args, "%31s %64s %45s", name, id, addr) != 3 || n_players == MAX_PLAYERS)
        return;
    p = &players[n_players];
    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->id, sizeof(p->id), "%s", id);
    snprintf(p->addr, sizeof(p->addr), "%s", addr);
    p->sun = *from;
    printf("lobby: %s joined\n", name);
    fflush(stdout);
    /* Tell the newcomer about everyone, and everyone about the newcomer. */
    for (int i = 0; i < n_players; i++) {
        snprintf(line, sizeof(line), "PEER %.31s %.64s %.45s", players[i].name, players[i].id, players[i].addr);
        lobby_send(fd, from, line);
        snprintf(line, sizeof(line), "PEER %.31s %.64s %.45s", name, id, addr);
        lobby_send(fd, &players[i].sun, line);
    }
    n_players++;
}

static void lobby_relay(int fd, const struct sockaddr_un *from, char *args)
{
    char *msg = strchr(args, ' '), line[MSG_MAX + 100];
    const char *sender = NULL;

    if (!msg)
        return;
    *msg++ = '\0';
    for (int i = 0; i < n_players; i++)
        if (!strcmp(players[i].sun.sun_path, from->sun_path))
            sender = players[i].id;
    for (int i = 0; sender && i < n_players; i++) {
        if (!strcmp(players[i].id, args)) {
            snprintf(line, sizeof(line), "SIG %s %s", sender, msg);
            lobby_send(fd, &players[i].sun, line);
        }
    }
}

static int run_lobby(const char *path)
{
    char buf[MSG_MAX + 100];
    int fd = unix_socket(path);

    if (fd < 0) {
        perror("lobby: socket");
        return 1;
    }
    printf("lobby: open at %s\n", path);
    fflush(stdout);
    for (;;) {
        struct sockaddr_un from;
        socklen_t fromlen = sizeof(from);
        ssize_t n = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from, &fromlen);
        if (n <= 0 || fromlen <= offsetof(struct sockaddr_un, sun_path))
            continue;
        buf[n] = '\0';
        if (!strncmp(buf, "JOIN ", 5))
            lobby_join(fd, &from, buf + 5);
        else if (!strncmp(buf, "SIG ", 4))
            lobby_relay(fd, &from, buf + 4);
    }
}

/* ---- a player ---- */

static struct {
    const char *name;
    bool tap;
    int lobby_fd;            /* connected to the lobby */
    int game_fd;             /* --tap: the broadcast socket on the device */
    char bcast[INET_ADDRSTRLEN];
    ipop_network_t *net;
    ipop_udp_t *sock;        /* mode none */
    int rounds, want_players;
} me = { .lobby_fd = -1, .game_fd = -1 };

/* The library's thread: hand the message to the lobby. */
static void on_signal(ipop_network_t *net, const char *peer_id, const char *message, void *ud)
{
    char *line;

    if (asprintf(&line, "SIG %s %s", peer_id, message) < 0)
        return;
    send(me.lobby_fd, line, strlen(line), 0);
    free(line);
}

/* Finds (or adds) a player by id or by address; called with the lock held. */
static struct player *find_player(const char *id, const char *addr)
{
    for (int i = 0; i < n_players; i++)
        if ((id && !strcmp(players[i].id, id)) || (addr && !strcmp(players[i].addr, addr)))
            return &players[i];
    if (n_players == MAX_PLAYERS)
        return NULL;
    memset(&players[n_players], 0, sizeof(players[0]));
    return &players[n_players++];
}

/* A game datagram: "hello NAME", "chat NAME TEXT" or "pos NAME X Y". */
static void on_game(const char *from, uint16_t port, const char *data, size_t len)
{
    char text[256], name[32];
    struct player *p;

    snprintf(text, sizeof(text), "%.*s", (int)(len < 255 ? len : 255), data);
    if (sscanf(text, "%*s %31s", name) != 1 || !strcmp(name, me.name))
        return; /* our own broadcast comes back to us */
    pthread_mutex_lock(&lock);
    p = find_player(NULL, from);
    if (p && !p->addr[0]) {
        snprintf(p->addr, sizeof(p->addr), "%s", from);
        snprintf(p->name, sizeof(p->name), "%s", name);
        printf("%s: found %s at %s%s\n", me.name, name, from, me.tap ? " by broadcast" : "");
    }
    if (p && !strncmp(text, "chat ", 5)) {
        p->chats++;
        printf("%s: chat from %s (%s:%u): %s\n", me.name, name, from, port, text + 6 + strlen(name));
    } else if (p && !strncmp(text, "pos ", 4)) {
        p->positions++;
    }
    fflush(stdout);
    pthread_mutex_unlock(&lock);
}

static void on_dgram(ipop_udp_t *sock, const char *from, uint16_t port, const void *data, size_t len, void *ud)
{
    on_game(from, port, data, len);
}

static void on_event(ipop_network_t *net, const ipop_event_t *ev, void *ud)
{
    if (ev->type == IPOP_EVENT_LINK_STATE)
        printf("%s: %s\n", me.name, ev->detail);
}

static int game_send(const char *addr, const char *text)
{
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(GAME_PORT) };

    if (!me.tap)
        return ipop_udp_send(me.sock, addr, GAME_PORT, text, strlen(text));
    inet_pton(AF_INET, addr, &to.sin_addr);
    return sendto(me.game_fd, text, strlen(text), 0, (struct sockaddr *)&to, sizeof(to)) < 0 ? -errno : 0;
}

/* --tap: a plain UDP socket on the device, allowed to broadcast. */
static int open_game_socket(void)
{
    struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons(GAME_PORT) };
    const char *dev = ipop_network_get_device(me.net);
    int one = 1, fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || !dev || setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev)) < 0 ||
        bind(fd, (struct sockaddr *)&any, sizeof(any)) < 0) {
        perror("lobby: game socket");
        return -1;
    }
    me.game_fd = fd;
    return 0;
}

static void read_game_socket(void)
{
    char buf[512], from[INET_ADDRSTRLEN];
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    ssize_t n = recvfrom(me.game_fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&sin, &len);

    if (n > 0 && inet_ntop(AF_INET, &sin.sin_addr, from, sizeof(from)))
        on_game(from, ntohs(sin.sin_port), buf, (size_t)n);
}

static void read_lobby(void)
{
    char buf[MSG_MAX + 100], name[32], id[IPOP_NODE_ID_MAX + 1], addr[INET6_ADDRSTRLEN];
    ssize_t n = recv(me.lobby_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

    if (n <= 0)
        return;
    buf[n] = '\0';
    if (!strncmp(buf, "SIG ", 4) && sscanf(buf + 4, "%64s", id) == 1) {
        ipop_network_signal_receive(me.net, id, buf + 5 + strlen(id));
    } else if (!strncmp(buf, "PEER ", 5) && sscanf(buf + 5, "%31s %64s %45s", name, id, addr) == 3) {
        struct player *p;
        printf("%s: %s is in the lobby\n", me.name, name);
        fflush(stdout);
        ipop_network_allow_peer(me.net, id);
        pthread_mutex_lock(&lock);
        p = find_player(id, NULL);
        if (p) {
            snprintf(p->id, sizeof(p->id), "%s", id);
            if (!me.tap) { /* over UDP endpoints the lobby's word is the directory */
                snprintf(p->name, sizeof(p->name), "%s", name);
                snprintf(p->addr, sizeof(p->addr), "%s", addr);
            }
        }
        pthread_mutex_unlock(&lock);
        /* One side opens the link: the smaller node id. */
        if (strcmp(ipop_network_get_node_id(me.net), id) < 0)
            ipop_network_connect(me.net, id, NULL);
    }
}

/* Says hello, and one chat line and one position to each known player. */
static void tick(int round)
{
    char text[128], addrs[MAX_PLAYERS][INET6_ADDRSTRLEN];
    int n = 0;

    if (me.tap) {
        snprintf(text, sizeof(text), "hello %s", me.name);
        game_send(me.bcast, text);
    }
    pthread_mutex_lock(&lock);
    for (int i = 0; i < n_players; i++)
        if (players[i].addr[0])
            snprintf(addrs[n++], sizeof(addrs[0]), "%s", players[i].addr);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++) {
        snprintf(text, sizeof(text), "chat %s hello #%d", me.name, round);
        game_send(addrs[i], text); /* -ENOTCONN until the link is up: the next tick tries again */
        snprintf(text, sizeof(text), "pos %s %d %d", me.name, round * 3, 100 - round);
        game_send(addrs[i], text);
    }
}

static bool heard_everyone(void)
{
    int done = 0;

    pthread_mutex_lock(&lock);
    for (int i = 0; i < n_players; i++)
        if (players[i].chats >= me.rounds && players[i].positions >= me.rounds)
            done++;
    pthread_mutex_unlock(&lock);
    return done >= me.want_players - 1;
}

static int join_lobby(const char *path, const char *addr4)
{
    struct sockaddr_un lobby = { .sun_family = AF_UNIX };
    char own[sizeof(lobby.sun_path)], line[256], host[INET_ADDRSTRLEN];
    const char *slash = strchr(addr4, '/');

    snprintf(own, sizeof(own), "%s.%s", path, me.name);
    snprintf(lobby.sun_path, sizeof(lobby.sun_path), "%s", path);
    me.lobby_fd = unix_socket(own);
    if (me.lobby_fd < 0 || connect(me.lobby_fd, (struct sockaddr *)&lobby, sizeof(lobby)) < 0) {
        perror("lobby: cannot reach the lobby");
        return -1;
    }
    snprintf(host, sizeof(host), "%.*s", slash ? (int)(slash - addr4) : (int)strlen(addr4), addr4);
    snprintf(line, sizeof(line), "JOIN %s %s %s", me.name, ipop_network_get_node_id(me.net), host);
    return send(me.lobby_fd, line, strlen(line), 0) < 0 ? -1 : 0;
}

/* The subnet's broadcast address, from "a.b.c.d/N". */
static int broadcast_of(const char *addr4)
{
    char host[INET_ADDRSTRLEN];
    const char *slash = strchr(addr4, '/');
    struct in_addr a;
    int prefix = slash ? atoi(slash + 1) : 32;

    snprintf(host, sizeof(host), "%.*s", slash ? (int)(slash - addr4) : (int)strlen(addr4), addr4);
    if (inet_pton(AF_INET, host, &a) != 1 || prefix < 1 || prefix > 30)
        return -1;
    a.s_addr = htonl(ntohl(a.s_addr) | (0xffffffffu >> prefix));
    inet_ntop(AF_INET, &a, me.bcast, sizeof(me.bcast));
    return 0;
}

static int set_options(const char *addr4, const char *local)
{
    if (ipop_network_new(&me.net, me.name) < 0 ||
        ipop_network_set_option(me.net, "mode", me.tap ? "tap" : "none") < 0 ||
        ipop_network_set_option(me.net, "address", addr4) < 0 ||
        ipop_network_set_option(me.net, "ice.local-address", local) < 0 ||
        ipop_network_set_signal_cb(me.net, on_signal, NULL) < 0 ||
        ipop_network_set_event_cb(me.net, on_event, NULL) < 0)
        return -1;
    if (me.tap)
        return broadcast_of(addr4);
    return ipop_udp_open(me.net, GAME_PORT, on_dgram, NULL, &me.sock);
}

static int play(const char *path, const char *addr4, const char *local)
{
    long start = now_ms(), next_tick = 0, done_at = 0;
    int r, round = 0;

    if (set_options(addr4, local) < 0) {
        fprintf(stderr, "lobby: bad options\n");
        return 1;
    }
    r = ipop_network_start(me.net);
    if (r < 0) {
        fprintf(stderr, "lobby: cannot start the network: %s\n", ipop_strerror(r));
        return 1;
    }
    if ((me.tap && open_game_socket() < 0) || join_lobby(path, addr4) < 0)
        return 1;
    printf("%s: joined as %.8s, %s\n", me.name, ipop_network_get_node_id(me.net), addr4);
    fflush(stdout);
    while (!done_at || now_ms() < done_at + LINGER_MS) {
        struct pollfd pfd[2] = { { .fd = me.lobby_fd, .events = POLLIN }, { .fd = me.game_fd, .events = POLLIN } };
        if (now_ms() - start > GIVE_UP_MS) {
            fprintf(stderr, "%s: gave up after %d s\n", me.name, GIVE_UP_MS / 1000);
            return 1;
        }
        poll(pfd, me.tap ? 2 : 1, 50);
        if (pfd[0].revents & POLLIN)
            read_lobby();
        if (me.tap && (pfd[1].revents & POLLIN))
            read_game_socket();
        if (now_ms() >= next_tick) {
            tick(++round);
            next_tick = now_ms() + TICK_MS;
        }
        if (!done_at && heard_everyone()) {
            printf("%s: heard from all %d other players\n", me.name, me.want_players - 1);
            fflush(stdout);
            done_at = now_ms();
        }
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: lobby server PATH\n"
                    "       lobby play PATH NAME ADDR/PREFIX [--local IP] [--players N] [--rounds M] [--tap]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *local = "127.0.0.1";
    int r;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && !strcmp(argv[1], "server"))
        return run_lobby(argv[2]);
    if (argc < 5 || strcmp(argv[1], "play") != 0)
        return usage();
    me.name = argv[3];
    me.rounds = 3;
    me.want_players = 2;
    for (int i = 5; i < argc; i++) {
        if (!strcmp(argv[i], "--tap"))
            me.tap = true;
        else if (!strcmp(argv[i], "--local") && i + 1 < argc)
            local = argv[++i];
        else if (!strcmp(argv[i], "--players") && i + 1 < argc)
            me.want_players = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            me.rounds = atoi(argv[++i]);
        else
            return usage();
    }
    if (strlen(me.name) >= sizeof(players[0].name) || strchr(me.name, ' ') || me.want_players < 2 ||
        me.want_players > MAX_PLAYERS || me.rounds < 1)
        return usage();
    r = play(argv[2], argv[4], local);
    /* Close the endpoint first: no datagram callback after this. */
    me.sock = ipop_udp_close(me.sock);
    me.net = ipop_network_free(me.net);
    if (me.game_fd >= 0)
        close(me.game_fd);
    if (me.lobby_fd >= 0)
        close(me.lobby_fd);
    return r;
}
