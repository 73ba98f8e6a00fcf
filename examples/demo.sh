#!/bin/bash
# SPDX-License-Identifier: MIT
# libipop demo: two nodes in separate network namespaces, in different
# subnets behind a router, join one virtual network with ipopd (TUN mode)
# and ping each other across it.  Everything it makes (namespaces, keys,
# configs, processes) is removed when it ends, however it ends.
#
#   demo-a (10.0.1.2) ---- demo-r (router) ---- demo-b (10.0.2.2)
#   overlay: ipop0 10.10.0.1/24, fd10::1        ipop0 10.10.0.2/24, fd10::2
#
# Usage: sudo examples/demo.sh PATH-TO-IPOPD
set -u

IPOPD=${1:-}
NS_A="demo-a-$$"
NS_B="demo-b-$$"
NS_R="demo-r-$$"
NAMESPACES=()
PIDS=()
WORK=""

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() {
    printf 'demo: %s\n' "$*" >&2
    exit 1
}

cleanup() {
    local status=$? pid ns
    trap - EXIT INT TERM
    step "cleaning up"
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    for ns in "${NAMESPACES[@]}"; do
        ip netns del "$ns" 2>/dev/null
    done
    sleep 0.3 # lets the log prefixers print the daemons' last lines
    [ -n "$WORK" ] && rm -rf "$WORK"
    echo "removed namespaces ${NAMESPACES[*]} and $WORK"
    exit "$status"
}

# wait_for SECONDS COMMAND...: retries COMMAND until it succeeds, at most SECONDS.
wait_for() {
    local seconds=$1 i
    shift
    for ((i = 0; i < seconds * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

# ns NAME: a namespace with loopback up, deleted at exit.
ns() {
    ip netns add "$1" || die "cannot create namespace $1"
    NAMESPACES+=("$1")
    ip -n "$1" link set lo up
}

if [ -z "$IPOPD" ] || [ ! -x "$IPOPD" ]; then
    die "usage: $0 PATH-TO-IPOPD"
fi
[ "$(id -u)" = 0 ] || die "needs root (network namespaces and TUN devices)"
IPOPD=$(realpath "$IPOPD")
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ipop-demo.XXXXXX") || exit 1

step "underlay: $NS_A (10.0.1.2) and $NS_B (10.0.2.2) behind router $NS_R"
ns "$NS_R"
ns "$NS_A"
ns "$NS_B"
ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
ip -n "$NS_A" link add eth0 type veth peer name ra netns "$NS_R"
ip -n "$NS_B" link add eth0 type veth peer name rb netns "$NS_R"
ip -n "$NS_R" addr add 10.0.1.1/24 dev ra
ip -n "$NS_R" addr add 10.0.2.1/24 dev rb
ip -n "$NS_R" link set ra up
ip -n "$NS_R" link set rb up
ip -n "$NS_A" addr add 10.0.1.2/24 dev eth0
ip -n "$NS_B" addr add 10.0.2.2/24 dev eth0
ip -n "$NS_A" link set eth0 up
ip -n "$NS_B" link set eth0 up
ip -n "$NS_A" route add default via 10.0.1.1
ip -n "$NS_B" route add default via 10.0.2.1
wait_for 5 ip netns exec "$NS_A" ping -c 1 -W 1 10.0.2.2 || die "the underlay does not work"
echo "a reaches b through the router; 10.10.0.0/24 is routed nowhere yet"

step "identities: ipopd --node-id"
ID_A=$("$IPOPD" --node-id "$WORK/a.key") || die "ipopd --node-id failed"
ID_B=$("$IPOPD" --node-id "$WORK/b.key") || die "ipopd --node-id failed"
echo "a: $ID_A"
echo "b: $ID_B"

# config NAME ADDR4 ADDR6 LISTEN PEER_ID PEER_ADDR
config() {
    cat >"$WORK/$1.conf" <<EOF
[net0]
mode = tun
device = ipop0
address = $2;$3
identity.file = $WORK/$1.key
link.timeout = 10
signal.listen = $4:5000
signal.peers = $5@$6:5000
EOF
}
config a 10.10.0.1/24 fd10::1/64 10.0.1.2 "$ID_B" 10.0.2.2
config b 10.10.0.2/24 fd10::2/64 10.0.2.2 "$ID_A" 10.0.1.2
step "config of a ($WORK/a.conf)"
cat "$WORK/a.conf"

step "starting ipopd in both namespaces (their logs are prefixed a| and b|)"
# $! is ipopd itself: ip netns exec replaces itself with the command.
ip netns exec "$NS_A" "$IPOPD" --config "$WORK/a.conf" 2> >(tee "$WORK/a.log" | sed -u 's/^/    a| /' >&2) &
PIDS+=("$!")
ip netns exec "$NS_B" "$IPOPD" --config "$WORK/b.conf" 2> >(tee "$WORK/b.log" | sed -u 's/^/    b| /' >&2) &
PIDS+=("$!")

step "waiting for the link (at most 20 s)"
if ! wait_for 20 grep -q "link to ${ID_B:0:8} connected" "$WORK/a.log"; then
    die "the link did not come up; see the logs above"
fi
ip -n "$NS_A" -br addr show dev ipop0

step "ping from a to b across the overlay"
ip netns exec "$NS_A" ping -c 3 -W 2 10.10.0.2 || die "ping a -> b failed"

step "ping from b to a across the overlay"
ip netns exec "$NS_B" ping -c 3 -W 2 10.10.0.1 || die "ping b -> a failed"

step "IPv6 ping from a to b"
wait_for 10 ip netns exec "$NS_A" ping -6 -c 1 -W 1 fd10::2
ip netns exec "$NS_A" ping -6 -c 3 -W 2 fd10::2 || die "IPv6 ping a -> b failed"

step "the demo worked"
