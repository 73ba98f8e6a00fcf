#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/ping-cpu.sh - idle round-trip time through two ipopd, and the CPU
# their loop threads spend per ping, for one or more builds in turn.
#
#   sudo bench/ping-cpu.sh [-r ROUNDS] [-n PINGS] IPOPD [IPOPD...]
#
# Two network namespaces on one veth pair (10.9.0.1, 10.9.0.2), one ipopd
# in each, TUN mode, UDP signalling (no XMPP server), overlay 172.31.0.1-2.
# Per round and build: `ping -c PINGS -i 0.01` (the peers.sh interval) and
# the loop threads' run time from /proc/PID/task/TID/schedstat, divided by
# the pings.  The builds alternate within each round, so a machine that
# slows down or speeds up meanwhile affects them alike: compare the builds
# of one round, not rounds.  Everything is removed at exit.
set -u
ROUNDS=3 PINGS=300
while getopts r:n: o; do
    case $o in
    r) ROUNDS=$OPTARG ;;
    n) PINGS=$OPTARG ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-r ROUNDS] [-n PINGS] IPOPD [IPOPD...]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$0: needs root (network namespaces, TUN)" >&2; exit 77; }
W=$(mktemp -d) PIDS=()

down() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    PIDS=()
    ip netns del pc-a 2>/dev/null
    ip netns del pc-b 2>/dev/null
}
trap 'down; rm -rf "$W"' EXIT

# up IPOPD: the two namespaces and daemons, until a ping crosses
up() {
    local ipopd=$1 a b
    down
    ip netns add pc-a && ip netns add pc-b || exit 1
    ip -n pc-a link set lo up
    ip -n pc-b link set lo up
    ip -n pc-a link add eth0 type veth peer name eth0 netns pc-b
    ip -n pc-a addr add 10.9.0.1/24 dev eth0
    ip -n pc-b addr add 10.9.0.2/24 dev eth0
    ip -n pc-a link set eth0 up
    ip -n pc-b link set eth0 up
    a=$("$ipopd" --node-id "$W/a.key") && b=$("$ipopd" --node-id "$W/b.key") || exit 1
    conf a 172.31.0.1 10.9.0.1 "$b" 10.9.0.2
    conf b 172.31.0.2 10.9.0.2 "$a" 10.9.0.1
    ip netns exec pc-a "$ipopd" --config "$W/a.conf" 2>"$W/a.log" &
    PIDS+=($!)
    ip netns exec pc-b "$ipopd" --config "$W/b.conf" 2>"$W/b.log" &
    PIDS+=($!)
    for _ in $(seq 100); do
        ip netns exec pc-a ping -c 1 -W 1 172.31.0.2 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "$ipopd: no ping over the overlay" >&2
    tail -n 5 "$W/a.log" "$W/b.log" >&2
    exit 1
}

conf() {
    cat >"$W/$1.conf" <<EOC
[n]
mode = tun
device = ipop0
address = $2/24
identity.file = $W/$1.key
ice.local-address = $3
signal.listen = $3:5000
signal.peers = $4@$5:5000
EOC
}

# ns of the loop thread (ipop-net) of ipopd PID, run time so far
loop_ns() {
    local tid
    tid=$(ps -L -o tid= -o comm= -p "$1" | awk '$2 == "ipop-net" { print $1 }')
    awk '{ print $1 }' "/proc/$1/task/$tid/schedstat"
}

echo "| round | ipopd | RTT min/avg/max ms | loop CPU per ping, a / b (us) |"
echo "|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
    for ipopd in "$@"; do
        up "$ipopd"
        sleep 3 # past ICE's last checks
        pa=$(pgrep -f "^$ipopd --config $W/a.conf" | head -n 1)
        pb=$(pgrep -f "^$ipopd --config $W/b.conf" | head -n 1)
        a0=$(loop_ns "$pa") b0=$(loop_ns "$pb")
        rtt=$(ip netns exec pc-a ping -n -q -c "$PINGS" -i 0.01 172.31.0.2 | grep -o 'rtt[^=]*= [0-9./]*' | awk '{ print $NF }')
        a1=$(loop_ns "$pa") b1=$(loop_ns "$pb")
        echo "| $r | $ipopd | ${rtt%/*} | $(( (a1 - a0) / PINGS / 1000 )) / $(( (b1 - b0) / PINGS / 1000 )) |"
    done
done
