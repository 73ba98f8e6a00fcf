# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Helpers for the namespace tests: a topology of two hosts behind a router,
# ipopd instances inside it, bounded waits, and a cleanup that runs on any
# exit.  Sourced by every script here.  Tests with more hosts and an XMPP
# server: hosts_topology, start_prosody, use_ipopd and ctl at the end (and
# group-lib.sh for GroupVPN members).
#
#   ipa-$$ (host a)                ipr-$$ (router)               ipb-$$ (host b)
#   eth0 10.0.1.2/24 ---- veth ---- ra 10.0.1.1  rb 10.0.2.1 ---- veth ---- eth0 10.0.2.2/24
#
# Names carry the shell's pid so that runs (and a crashed earlier run) never
# collide.  Only the namespaces, processes and files made here are touched.

set -u

NS_A="ipa-$$"
NS_B="ipb-$$"
NS_R="ipr-$$"
UNDER_A=10.0.1.2
UNDER_B=10.0.2.2
WORK=""
DAEMON_PIDS=()
NAMESPACES=()
CLEANUP_HOOKS=() # commands the cleanup runs first (a test's own servers)
FAILED=0

# alive PID: the process runs (a zombie, not yet waited for, does not).
alive() {
    [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

# fail MESSAGE: fails the test.  Called in a subshell (inside $(...) or
# a pipeline, as the JSON helpers are), exit would end only that subshell
# and the check would pass on whatever it printed: there it signals the
# script's own shell too, whose USR1 trap fails the test.
# FAIL lines go to the script's own stderr even from a check whose output
# wait_for sends to /dev/null.
exec {FAIL_FD}>&2
fail() {
    log "FAIL: $*" 2>&"$FAIL_FD"
    FAILED=1
    [ "$BASHPID" = "$$" ] || kill -USR1 "$$"
    exit 1
}
trap 'fail "a check in a subshell failed (see the FAIL line above)"' USR1

# Exits 77 (skipped, for meson) unless this can work here.
require_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "SKIP: needs root"
        exit 77
    fi
    if [ ! -c /dev/net/tun ]; then
        echo "SKIP: needs /dev/net/tun"
        exit 77
    fi
    command -v ip >/dev/null || { echo "SKIP: needs iproute2"; exit 77; }
    command -v ping >/dev/null || { echo "SKIP: needs ping"; exit 77; }
}

# Prints what helps to understand a failure: daemon logs, then the state of
# each namespace.
dump_diagnostics() {
    local f ns
    for f in "$WORK"/*.log; do
        [ -e "$f" ] || continue
        echo "===== $(basename "$f") ====="
        cat "$f"
    done
    for ns in "${NAMESPACES[@]}"; do
        echo "===== namespace $ns ====="
        ip -n "$ns" -br addr 2>&1
        ip -n "$ns" route 2>&1
        ip -n "$ns" -6 route 2>&1
        ip -n "$ns" neigh 2>&1
    done
} >&2

# Runs on every exit: stops the daemons started here, deletes the
# namespaces made here, removes the work directory.
cleanup() {
    local status=$? pid ns i
    trap - EXIT INT TERM
    if [ "$status" != 0 ] && [ "$status" != 77 ]; then
        FAILED=1
    fi
    if [ "$FAILED" = 1 ] && [ -n "$WORK" ]; then
        dump_diagnostics
    fi
    for pid in "${CLEANUP_HOOKS[@]}"; do
        $pid 2>/dev/null
    done
    for pid in "${DAEMON_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${DAEMON_PIDS[@]}"; do
        for ((i = 0; i < 50; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for ns in "${NAMESPACES[@]}"; do
        # Anything still running inside our own namespaces is ours too.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null
        done
        ip netns del "$ns" 2>/dev/null
    done
    [ -n "$WORK" ] && rm -rf "$WORK"
    exit "$status"
}

setup_traps() {
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/ipop-netns.XXXXXX") || exit 1
}

# wait_for SECONDS WHAT COMMAND...: runs COMMAND every 0.2 s until it
# succeeds; fails the test after SECONDS.
wait_for() {
    # IPOP_TEST_TIME_FACTOR (./run sets 3 for the ASan+UBSan run, whose
    # daemons start several times slower) stretches every wait; the plain
    # run holds the bounds as written.
    local seconds=$(($1 * ${IPOP_TEST_TIME_FACTOR:-1})) what=$2 deadline pid
    shift 2
    deadline=$(($(date +%s%N) / 1000000 + seconds * 1000))
    until "$@" >/dev/null 2>&1; do
        for pid in "${DAEMON_PIDS[@]}"; do
            alive "$pid" || fail "ipopd (pid $pid) exited while waiting for $what"
        done
        if [ $(($(date +%s%N) / 1000000)) -ge "$deadline" ]; then
            fail "timed out after ${seconds}s waiting for $what"
        fi
        sleep 0.2
    done
}

add_ns() {
    ip netns add "$1" || fail "cannot create namespace $1"
    NAMESPACES+=("$1")
    ip -n "$1" link set lo up
}

# Two hosts in different subnets behind a router that forwards between them.
topology_create() {
    add_ns "$NS_R"
    add_ns "$NS_A"
    add_ns "$NS_B"
    ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
    ip -n "$NS_A" link add eth0 type veth peer name ra netns "$NS_R" || fail "veth a"
    ip -n "$NS_B" link add eth0 type veth peer name rb netns "$NS_R" || fail "veth b"
    ip -n "$NS_R" addr add 10.0.1.1/24 dev ra
    ip -n "$NS_R" addr add 10.0.2.1/24 dev rb
    ip -n "$NS_R" link set ra up
    ip -n "$NS_R" link set rb up
    ip -n "$NS_A" addr add "$UNDER_A/24" dev eth0
    ip -n "$NS_B" addr add "$UNDER_B/24" dev eth0
    ip -n "$NS_A" link set eth0 up
    ip -n "$NS_B" link set eth0 up
    ip -n "$NS_A" route add default via 10.0.1.1
    ip -n "$NS_B" route add default via 10.0.2.1
    wait_for 5 "the underlay (a to b through the router)" \
        ip netns exec "$NS_A" ping -c 1 -W 1 "$UNDER_B"
}

# node_id IPOPD FILE: creates the identity FILE and prints its node id.
node_id() {
    local id
    id=$("$1" --node-id "$2") || fail "ipopd --node-id $2 failed"
    [ -n "$id" ] || fail "ipopd --node-id $2 printed nothing"
    printf '%s\n' "$id"
}

# write_config FILE MODE ADDR4 ADDR6 IDENTITY LISTEN PEER_ID PEER_ADDR
write_config() {
    cat >"$1" <<EOF
# written by ${0##*/}
[net0]
mode = $2
device = ipop0
address = $3;$4
identity.file = $5
link.timeout = 10
signal.listen = $6:5000
signal.peers = $7@$8:5000
EOF
}

# start_daemon NS NAME IPOPD CONFIG: starts ipopd in namespace NS, its log
# in $WORK/NAME.log, its control socket $WORK/NAME.sock.
start_daemon() {
    ip netns exec "$1" "$3" -v --config "$4" --control "$WORK/$2.sock" 2>"$WORK/$2.log" &
    DAEMON_PIDS+=("$!")
}

# stop_daemon PID: SIGTERM, then expects exit status 0 within 15 s (a clean
# stop says goodbye over XMPP and lets the ICE agents close, each bounded;
# under the sanitizers on a loaded machine it took more than 5 s).  The
# daemon is no longer watched by wait_for.
stop_daemon() {
    local pid=$1 i status limit=$((15 * ${IPOP_TEST_TIME_FACTOR:-1}))
    kill -TERM "$pid" 2>/dev/null || fail "daemon $pid is not running"
    for ((i = 0; i < limit * 10; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        # Where it hangs, for whoever reads the log (gdb is optional).
        command -v gdb >/dev/null && timeout 60 gdb -p "$pid" -batch -ex "thread apply all bt 25" >&2 2>/dev/null
        fail "daemon $pid did not exit within $limit s of SIGTERM"
    fi
    wait "$pid"
    status=$?
    local left=() p
    for p in "${DAEMON_PIDS[@]}"; do
        [ "$p" = "$pid" ] || left+=("$p")
    done
    DAEMON_PIDS=("${left[@]}")
    [ "$status" = 0 ] || fail "daemon $pid exited with status $status after SIGTERM"
}

# ping_ok NS ARGS...: pings from NS and fails the test unless every reply
# came back.
ping_ok() {
    local ns=$1 out
    shift
    log "ping $* (from $ns)"
    if ! out=$(ip netns exec "$ns" ping "$@" 2>&1); then
        printf '%s\n' "$out" >&2
        fail "ping $* from $ns failed"
    fi
    printf '%s\n' "$out" | grep -E 'packets transmitted|rtt' >&2
    printf '%s\n' "$out" | grep -q ' 0% packet loss' || fail "ping $* from $ns lost packets"
}

# check_ipopd IPOPD: the path given is an executable.
check_ipopd() {
    if [ -z "${1:-}" ] || [ ! -x "$1" ]; then
        log "usage: ${0##*/} PATH-TO-IPOPD"
        exit 2
    fi
}

# The whole two-node test, for MODE tun or tap.
run_ping_test() {
    local ipopd=$1 mode=$2 id_a id_b pid_a pid_b t0
    require_root
    check_ipopd "$ipopd"
    setup_traps
    topology_create

    # The overlay subnet must not be reachable without ipopd, or the
    # pings below would prove nothing.
    if ip netns exec "$NS_A" ping -c 1 -W 1 10.10.0.2 >/dev/null 2>&1; then
        fail "10.10.0.2 answers before ipopd runs"
    fi

    id_a=$(node_id "$ipopd" "$WORK/a.key") || exit 1
    id_b=$(node_id "$ipopd" "$WORK/b.key") || exit 1
    [ "$id_a" != "$id_b" ] || fail "two identities got the same node id"
    [ "$(node_id "$ipopd" "$WORK/a.key")" = "$id_a" ] || fail "node id of an existing identity changed"
    log "node a: $id_a"
    log "node b: $id_b"
    write_config "$WORK/a.conf" "$mode" 10.10.0.1/24 fd10::1/64 "$WORK/a.key" "$UNDER_A" "$id_b" "$UNDER_B"
    write_config "$WORK/b.conf" "$mode" 10.10.0.2/24 fd10::2/64 "$WORK/b.key" "$UNDER_B" "$id_a" "$UNDER_A"

    t0=$SECONDS
    start_daemon "$NS_A" a "$ipopd" "$WORK/a.conf"
    pid_a=$!
    start_daemon "$NS_B" b "$ipopd" "$WORK/b.conf"
    pid_b=$!

    wait_for 20 "ipop0 with 10.10.0.1 in a" sh -c \
        "ip -n '$NS_A' -4 addr show dev ipop0 | grep -q 'inet 10.10.0.1/24'"
    wait_for 20 "ipop0 with 10.10.0.2 in b" sh -c \
        "ip -n '$NS_B' -4 addr show dev ipop0 | grep -q 'inet 10.10.0.2/24'"
    wait_for 20 "a first ping from a to b over the overlay" \
        ip netns exec "$NS_A" ping -c 1 -W 1 10.10.0.2
    log "overlay ping answered $((SECONDS - t0)) s after the daemons started"
    grep -q "ipopd: link to ${id_b:0:8} connected" "$WORK/a.log" || fail "a did not report the link as connected"
    grep -q "ipopd: link to ${id_a:0:8} connected" "$WORK/b.log" || fail "b did not report the link as connected"

    ping_ok "$NS_A" -c 5 -W 2 10.10.0.2
    ping_ok "$NS_B" -c 5 -W 2 10.10.0.1

    # IPv6 addresses may stay tentative (DAD) for a moment after start.
    wait_for 20 "a first IPv6 ping from a to b" \
        ip netns exec "$NS_A" ping -6 -c 1 -W 1 fd10::2
    ping_ok "$NS_A" -6 -c 5 -W 2 fd10::2
    ping_ok "$NS_B" -6 -c 5 -W 2 fd10::1

    if [ "$mode" = tap ]; then
        check_arp
    fi

    # A clean stop: exit status 0 and the device gone.
    stop_daemon "$pid_a"
    stop_daemon "$pid_b"
    DAEMON_PIDS=()
    ! ip -n "$NS_A" link show ipop0 >/dev/null 2>&1 || fail "ipop0 still exists in a after ipopd stopped"
    ! ip -n "$NS_B" link show ipop0 >/dev/null 2>&1 || fail "ipop0 still exists in b after ipopd stopped"
    log "PASS"
}

# TAP: a resolved b's overlay address by ARP over the link, to b's MAC.
check_arp() {
    local mac_b neigh
    mac_b=$(ip -n "$NS_B" link show dev ipop0 | awk '/link\/ether/ { print $2 }')
    [ -n "$mac_b" ] || fail "no MAC on b's ipop0 (is it a TAP device?)"
    neigh=$(ip -n "$NS_A" neigh show dev ipop0 10.10.0.2)
    log "a: neigh $neigh; b's ipop0: $mac_b"
    printf '%s\n' "$neigh" | grep -q "lladdr $mac_b" ||
        fail "a's neighbour entry for 10.10.0.2 ('$neigh') is not b's MAC $mac_b"
}

# require_tools: exits 77 (skipped) without what the XMPP tests need.
require_tools() {
    local t
    for t in prosody openssl runuser python3; do
        command -v "$t" >/dev/null || { echo "SKIP: needs $t"; exit 77; }
    done
    id prosody >/dev/null 2>&1 || { echo "SKIP: needs the prosody user (Debian package prosody)"; exit 77; }
}

# link_to_router NS IFNAME ROUTER_IF ROUTER_ADDR HOST_ADDR: a veth subnet
# between NS and the router namespace $NS_R, with NS routing through it.
link_to_router() {
    ip -n "$1" link add "$2" type veth peer name "$3" netns "$NS_R" || fail "veth $1"
    ip -n "$NS_R" addr add "$4/24" dev "$3"
    ip -n "$NS_R" link set "$3" up
    ip -n "$1" addr add "$5/24" dev "$2"
    ip -n "$1" link set "$2" up
    ip -n "$1" route add default via "$4"
}

# ---- N hosts behind a router, with a private prosody (GroupVPN, SocialVPN) ----
#
#   Ps-$$ (prosody 10.99.0.2) -- Pr-$$ (router 10.99.0.1, 10.0.N.1) -- P1-$$..PN-$$ (10.0.N.2)
#
# P is the test's prefix of two letters (ig, is, id), N counted from 1.

SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SERVER=10.99.0.2
XMPP_PORT=5222
HOST_PREFIX=""
IPOPD=""
IPOPCTL=""

host_ns() { printf '%s%s-%s' "$HOST_PREFIX" "$1" "$$"; }

# hosts_topology PREFIX N [server]: a router, N hosts each in its own
# subnet behind it and, with "server", the server's namespace on the
# router's public side.  Waits until every host reaches the server (without
# one: until host 1 reaches every other host).
hosts_topology() {
    local i n=$2
    HOST_PREFIX=$1
    NS_R="${1}r-$$"
    NS_S="${1}s-$$"
    add_ns "$NS_R"
    ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
    if [ "${3:-}" = server ]; then
        add_ns "$NS_S"
        link_to_router "$NS_S" eth0 rs 10.99.0.1 "$SERVER"
    fi
    for ((i = 1; i <= n; i++)); do
        add_ns "$(host_ns "$i")"
        link_to_router "$(host_ns "$i")" eth0 "r$i" "10.0.$i.1" "10.0.$i.2"
    done
    for ((i = 1; i <= n; i++)); do
        if [ "${3:-}" = server ]; then
            wait_for 5 "the underlay (host $i to the server)" ip netns exec "$(host_ns "$i")" ping -c 1 -W 1 "$SERVER"
        elif [ "$i" != 1 ]; then
            wait_for 5 "the underlay (host 1 to host $i)" ip netns exec "$(host_ns 1)" ping -c 1 -W 1 "10.0.$i.2"
        fi
    done
}

# block_hosts I J: the router forwards nothing between hosts I and J, either
# way, until unblock_hosts.
block_hosts() {
    ip netns exec "$NS_R" nft -f - <<EOF || fail "nft refused the rules"
table inet ipopblock {
    chain forward {
        type filter hook forward priority 0; policy accept;
        ip saddr 10.0.$1.0/24 ip daddr 10.0.$2.0/24 drop
        ip saddr 10.0.$2.0/24 ip daddr 10.0.$1.0/24 drop
    }
}
EOF
}

unblock_hosts() { ip netns exec "$NS_R" nft delete table inet ipopblock || fail "cannot remove the nft table"; }

# start_prosody USER:PASS...: the test's prosody (tests/servers/prosody.sh)
# in the server's namespace, with these accounts at ipop.test; its
# certificate's fingerprint in $WORK/xmpp/fingerprint.  The cleanup stops it
# (and kills anything left in our namespaces).
start_prosody() {
    CLEANUP_HOOKS+=(stop_prosody)
    chmod 711 "$WORK" # prosody runs as its own user and must reach its directory
    mkdir "$WORK/xmpp"
    ip netns exec "$NS_S" bash "$SRCDIR/tests/servers/prosody.sh" start "$WORK/xmpp" "$SERVER" "$XMPP_PORT" \
        "$@" >"$WORK/prosody-start.log" 2>&1 || {
        cat "$WORK/prosody-start.log" >&2
        fail "prosody did not start"
    }
    [ -s "$WORK/xmpp/fingerprint" ] || fail "prosody.sh wrote no fingerprint"
}

stop_prosody() {
    [ -d "$WORK/xmpp" ] && bash "$SRCDIR/tests/servers/prosody.sh" stop "$WORK/xmpp"
}

# use_ipopd PATH: IPOPD, and IPOPCTL from the same directory.
use_ipopd() {
    check_ipopd "${1:-}"
    IPOPD=$(realpath "$1")
    IPOPCTL=$(dirname "$IPOPD")/ipopctl
    [ -x "$IPOPCTL" ] || fail "no ipopctl next to $IPOPD"
}

# ctl N ARGS...: ipopctl on node N's control socket ($WORK/nN.sock).
ctl() {
    local n=$1
    shift
    "$IPOPCTL" --control "$WORK/n$n.sock" "$@"
}
