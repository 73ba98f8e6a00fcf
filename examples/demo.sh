#!/bin/bash
# SPDX-License-Identifier: MIT
# libipop demo: a GroupVPN of three nodes, each in its own network
# namespace behind its own NAT, that find each other through an XMPP room
# and link directly (ICE through the NATs, DTLS), then ping each other
# across the overlay.  A private prosody (XMPP) and a coturn (STUN only) run
# on the "internet" side.  Everything it makes (namespaces, keys, configs,
# processes) is removed when it ends, however it ends.
#
#                      dm-srv: prosody, STUN 100.64.0.2
#                               |
#                    dm-inet (the "internet", 100.64.N.1)
#          /                    |                     \
#   dm-nat1 (masq 100.64.1.2)  dm-nat2 (100.64.2.2)   dm-nat3 (100.64.3.2)
#          |                    |                     |
#   dm-h1 192.168.1.2       dm-h2 192.168.2.2      dm-h3 192.168.3.2
#   overlay: ipop0 10.30.0.1/24 ... 10.30.0.3/24, one room, one secret
#
# Usage: sudo examples/demo.sh PATH-TO-IPOPD   (ipopctl is taken from the
# same directory)
set -u

IPOPD=${1:-}
SUFFIX=$$
SERVER=100.64.0.2
NODES=(1 2 3)
NAMESPACES=()
PIDS=()
WORK=""
SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() {
    printf 'demo: %s\n' "$*" >&2
    exit 1
}
nsname() { printf 'dm-%s-%s' "$1" "$SUFFIX"; }

cleanup() {
    local status=$? pid ns i
    trap - EXIT INT TERM
    step "cleaning up"
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    [ -n "$WORK" ] && [ -d "$WORK/xmpp" ] && bash "$SRCDIR/tests/servers/prosody.sh" stop "$WORK/xmpp"
    for ns in "${NAMESPACES[@]}"; do
        # The servers and anything else left in our own namespaces.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -TERM "$pid" 2>/dev/null
        done
    done
    sleep 0.3
    for ns in "${NAMESPACES[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null
        done
        ip netns del "$ns" 2>/dev/null
    done
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

# wire A IF_A ADDR_A B IF_B ADDR_B: a veth pair between namespaces A and B.
wire() {
    ip -n "$1" link add "$2" type veth peer name "$5" netns "$4" || die "veth $1-$4"
    ip -n "$1" addr add "$3/24" dev "$2"
    ip -n "$4" addr add "$6/24" dev "$5"
    ip -n "$1" link set "$2" up
    ip -n "$4" link set "$5" up
}

for tool in ip nft prosody turnserver openssl runuser ping; do
    command -v "$tool" >/dev/null || die "needs $tool (./run setup installs it)"
done
if [ -z "$IPOPD" ] || [ ! -x "$IPOPD" ]; then
    die "usage: $0 PATH-TO-IPOPD"
fi
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, NAT and TUN devices)"
IPOPD=$(realpath "$IPOPD")
IPOPCTL=$(dirname "$IPOPD")/ipopctl
[ -x "$IPOPCTL" ] || die "no ipopctl next to $IPOPD"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ipop-demo.XXXXXX") || exit 1
chmod 711 "$WORK" # prosody and coturn run as their own users

step "underlay: three hosts, each behind its own NAT, and the servers on the 'internet'"
INET=$(nsname inet)
SRV=$(nsname srv)
ns "$INET"
ns "$SRV"
ip netns exec "$INET" sysctl -qw net.ipv4.ip_forward=1
wire "$INET" srv 100.64.0.1 "$SRV" eth0 "$SERVER"
ip -n "$SRV" route add default via 100.64.0.1
for n in "${NODES[@]}"; do
    nat=$(nsname "nat$n")
    host=$(nsname "h$n")
    ns "$nat"
    ns "$host"
    wire "$INET" "nat$n" "100.64.$n.1" "$nat" wan "100.64.$n.2"
    wire "$nat" lan "192.168.$n.1" "$host" eth0 "192.168.$n.2"
    ip -n "$nat" route add default via "100.64.$n.1"
    ip -n "$host" route add default via "192.168.$n.1"
    ip netns exec "$nat" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$nat" nft -f - <<EOF || die "nftables in $nat"
table ip nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan" masquerade
    }
}
table ip filter {
    # Unsolicited packets to the NAT are dropped before conntrack confirms
    # an entry for them: an entry would take the port mapping that this
    # host's own packets to that peer need, and hole punching would fail.
    chain input {
        type filter hook input priority filter; policy accept;
        iifname "wan" ct state new drop
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        iifname "lan" accept
        ct state established,related accept
    }
}
EOF
    echo "host $n: 192.168.$n.2 behind NAT $nat (public 100.64.$n.2)"
done
wait_for 5 ip netns exec "$(nsname h1)" ping -c 1 -W 1 "$SERVER" || die "the underlay does not work"
if ip netns exec "$(nsname h1)" ping -c 1 -W 1 192.168.2.2 >/dev/null 2>&1; then
    die "host 1 reaches host 2's private address: the NATs are not in the way"
fi
echo "every host reaches the servers; no host reaches another's private address"

step "servers: prosody (XMPP, $SERVER:5222) and coturn (STUN only, $SERVER:3478)"
mkdir "$WORK/xmpp"
ip netns exec "$SRV" bash "$SRCDIR/tests/servers/prosody.sh" start "$WORK/xmpp" "$SERVER" 5222 \
    node1:pw1 node2:pw2 node3:pw3 >/dev/null || die "prosody did not start"
mkdir "$WORK/stun"
cat >"$WORK/stun/turnserver.conf" <<EOF
listening-ip=$SERVER
listening-port=3478
stun-only
no-cli
no-tls
no-dtls
fingerprint
pidfile=$WORK/stun/turnserver.pid
log-file=$WORK/stun/turnserver.log
simple-log
EOF
chown -R turnserver: "$WORK/stun"
ip netns exec "$SRV" runuser -u turnserver -- turnserver -c "$WORK/stun/turnserver.conf" >/dev/null 2>&1 &
PIDS+=("$!")
FINGERPRINT=$(cat "$WORK/xmpp/fingerprint")
echo "prosody runs, its certificate pinned by SHA-256 $FINGERPRINT"

step "configs: overlay = group, same room and secret, no peer addresses anywhere"
printf 'the demo secret\n' >"$WORK/secret"
chmod 600 "$WORK/secret"
for n in "${NODES[@]}"; do
    cat >"$WORK/node$n.conf" <<EOF
[demo]
mode = tun
device = ipop0
address = 10.30.0.$n/24
identity.file = $WORK/node$n.key
ice.stun = $SERVER:3478
overlay = group
xmpp.jid = node$n@ipop.test
xmpp.password = pw$n
xmpp.server = $SERVER
xmpp.server-fingerprint = $FINGERPRINT
group.room = demo@rooms.ipop.test
group.secret-file = $WORK/secret
EOF
    "$IPOPD" --check --config "$WORK/node$n.conf" >/dev/null || die "ipopd --check refused node$n.conf"
done
cat "$WORK/node1.conf"

step "starting ipopd on the three hosts (their logs are prefixed 1|, 2|, 3|)"
T0=$(date +%s%N)
for n in "${NODES[@]}"; do
    # $! is ipopd itself: ip netns exec replaces itself with the command.
    ip netns exec "$(nsname "h$n")" "$IPOPD" --config "$WORK/node$n.conf" --control "$WORK/node$n.sock" \
        2> >(sed -u "s/^/    $n| /" >&2) &
    PIDS+=("$!")
done

# linked N: node N shows two connected links.
linked() {
    [ "$("$IPOPCTL" --control "$WORK/node$1.sock" status --json | grep -o '"state":"connected"' | wc -l)" -ge 2 ]
}
step "waiting for every node to link with both others (at most 30 s)"
for n in "${NODES[@]}"; do
    wait_for 30 linked "$n" || die "node $n did not link with the others; see the logs above"
done
echo "all links up after $((($(date +%s%N) - T0) / 1000000)) ms"

for n in "${NODES[@]}"; do
    step "ipopctl status on node $n"
    "$IPOPCTL" --control "$WORK/node$n.sock" status
done

step "pings across the overlay, every node to every other"
for n in "${NODES[@]}"; do
    for m in "${NODES[@]}"; do
        [ "$n" = "$m" ] && continue
        printf 'node %s -> 10.30.0.%s: ' "$n" "$m"
        out=$(ip netns exec "$(nsname "h$n")" ping -c 3 -i 0.2 -W 2 "10.30.0.$m") || die "ping from node $n to node $m failed"
        printf '%s\n' "$out" | grep -E 'packets transmitted'
        printf '%s\n' "$out" | grep -q ' 0% packet loss' || die "ping from node $n to node $m lost packets"
    done
done

step "the demo worked: three nodes behind three NATs, one GroupVPN"
