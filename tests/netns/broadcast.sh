#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# Broadcast and multicast in mode tun (option "broadcast", on by default)
# with real ipopd processes: a GroupVPN of three members, where the router
# drops everything between node 1 and node 3, so node 1 reaches node 2
# directly and node 3 through node 2 (member relay).  Node 1 sends, as
# programs do, a UDP datagram to its subnet's broadcast address, one to
# 255.255.255.255, and an mDNS query to 224.0.0.251 and to ff02::fb:
#   - a program on node 2 and one on node 3, listening on ipop0 (joined to
#     the mDNS groups), each get every one of them exactly once, from node
#     1's own overlay address;
#   - node 1 counts them (broadcast_packets in ipopctl status --json);
#     nodes 2 and 3 send nothing on (theirs stays 0), node 2 relays each
#     one once to node 3, and no link anywhere dropped a packet (nothing
#     came back to node 1, nothing reached node 3 twice).
#
#   igs (prosody 10.99.0.2) -- igr (router 10.99.0.1, 10.0.N.1) -- ig1..ig3 (10.0.N.2)
#   overlay: ipop0 10.23.0.N/24, fd23::N/64; igr drops 10.0.1.0/24 <-> 10.0.3.0/24
#
# Usage: broadcast.sh PATH-TO-IPOPD   (root; exits 77 otherwise).  ipopctl
# is taken from the same directory.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CAST_IO="$SRCDIR/tests/netns/cast-io.py"
NS_R="igr-$$"
NS_S="igs-$$"
SERVER=10.99.0.2
XMPP_PORT=5222
ROOM=cast@rooms.ipop.test
IPOPD=""
IPOPCTL=""
declare -A ID

host_ns() { printf 'ig%s-%s' "$1" "$$"; }

topology() {
    local i
    add_ns "$NS_R"
    add_ns "$NS_S"
    ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
    link_to_router "$NS_S" eth0 rs 10.99.0.1 "$SERVER"
    for i in 1 2 3; do
        add_ns "$(host_ns "$i")"
        link_to_router "$(host_ns "$i")" eth0 "r$i" "10.0.$i.1" "10.0.$i.2"
    done
    for i in 1 2 3; do
        wait_for 5 "the underlay (host $i to the server)" ip netns exec "$(host_ns "$i")" ping -c 1 -W 1 "$SERVER"
    done
    ip netns exec "$NS_R" nft -f - <<EOF || fail "nft refused the rules"
table inet casttest {
    chain forward {
        type filter hook forward priority 0; policy accept;
        ip saddr 10.0.1.0/24 ip daddr 10.0.3.0/24 drop
        ip saddr 10.0.3.0/24 ip daddr 10.0.1.0/24 drop
    }
}
EOF
}

start_prosody() {
    chmod 711 "$WORK"
    mkdir "$WORK/xmpp"
    ip netns exec "$NS_S" bash "$SRCDIR/tests/servers/prosody.sh" start "$WORK/xmpp" "$SERVER" "$XMPP_PORT" \
        u1:p1 u2:p2 u3:p3 >"$WORK/prosody-start.log" 2>&1 || {
        cat "$WORK/prosody-start.log" >&2
        fail "prosody did not start"
    }
    [ -s "$WORK/xmpp/fingerprint" ] || fail "prosody.sh wrote no fingerprint"
}

stop_prosody() {
    [ -d "$WORK/xmpp" ] && bash "$SRCDIR/tests/servers/prosody.sh" stop "$WORK/xmpp"
}

write_cast_config() {
    local n=$1
    printf 'p%s\n' "$n" >"$WORK/n$n.pass"
    chmod 600 "$WORK/n$n.pass"
    cat >"$WORK/n$n.conf" <<EOF
# written by ${0##*/}
[vpn]
mode = tun
device = ipop0
address = 10.23.0.$n/24;fd23::$n/64
identity.file = $WORK/n$n.key
link.timeout = 5
overlay = group
xmpp.jid = u$n@ipop.test
xmpp.password-file = $WORK/n$n.pass
xmpp.server = $SERVER
xmpp.port = $XMPP_PORT
xmpp.server-fingerprint = $(cat "$WORK/xmpp/fingerprint")
group.room = $ROOM
group.secret-file = $WORK/secret
EOF
}

ctl() {
    local n=$1
    shift
    "$IPOPCTL" --control "$WORK/n$n.sock" "$@"
}

# link_field N PEER FIELD: FIELD of node N's link to PEER ("none": no link).
link_field() {
    local json
    json=$(ctl "$1" status --json) || return 1 # not listening yet
    printf '%s' "$json" | python3 -c '
import json, sys
peer, field = sys.argv[1], sys.argv[2]
for net in json.load(sys.stdin)["networks"]:
    for link in net["links"]:
        if link["peer_id"] == peer:
            v = link[field]
            print("null" if v is None else v)
            sys.exit(0)
print("none")
' "$2" "$3" || fail "ipopctl status --json of node $1 is not the JSON expected: $json"
}

# net_field N FIELD: FIELD of node N's network; "rx_drops" sums its links'.
net_field() {
    local json
    json=$(ctl "$1" status --json) || fail "ipopctl status --json of node $1 failed"
    printf '%s' "$json" | python3 -c '
import json, sys
f = sys.argv[1]
nets = json.load(sys.stdin)["networks"]
print(sum(sum(l[f] for l in n["links"]) if f == "rx_drops" else n[f] for n in nets))' "$2" ||
        fail "ipopctl status --json of node $1 has no $2: $json"
}

relayed_via() { [ "$(link_field "$1" "$2" relay)" = "$3" ] && [ "$(link_field "$1" "$2" path)" = member ]; }
direct() { [ "$(link_field "$1" "$2" state)" = connected ] && [ "$(link_field "$1" "$2" relay)" = null ]; }

# count N LINE: how many times receiver N wrote LINE.
count() { grep -cxF "$2" "$WORK/r$1.txt"; }
got_all() {
    local line
    for line in "bcast 10.23.0.1 subnet" "bcast 10.23.0.1 limited" "mdns4 10.23.0.1 query" "mdns6 fd23::1 query"; do
        [ "$(count "$1" "$line")" -ge 1 ] || return 1
    done
}

main() {
    local i t0 line sent relayed0 relayed
    require_root
    require_tools
    command -v nft >/dev/null || { echo "SKIP: needs nft (nftables)"; exit 77; }
    check_ipopd "${1:-}"
    IPOPD=$(realpath "$1")
    IPOPCTL=$(dirname "$IPOPD")/ipopctl
    [ -x "$IPOPCTL" ] || fail "no ipopctl next to $IPOPD"
    setup_traps
    CLEANUP_HOOKS+=(stop_prosody)
    topology
    start_prosody

    printf 'sesame\n' >"$WORK/secret"
    chmod 600 "$WORK/secret"
    for i in 1 2 3; do
        ID[$i]=$(node_id "$IPOPD" "$WORK/n$i.key") || exit 1
        write_cast_config "$i"
    done
    t0=$(date +%s%N)
    for i in 1 2 3; do
        start_daemon "$(host_ns "$i")" "n$i" "$IPOPD" "$WORK/n$i.conf"
    done
    wait_for 60 "node 1 linked with node 2" direct 1 "${ID[2]}"
    wait_for 30 "node 3 linked with node 2" direct 3 "${ID[2]}"
    wait_for 30 "node 1 reaching node 3 through node 2" relayed_via 1 "${ID[3]}" "${ID[2]}"
    log "links up, node 3 through node 2, after $((($(date +%s%N) - t0) / 1000000)) ms"

    for i in 1 2 3; do
        ip netns exec "$(host_ns "$i")" python3 "$CAST_IO" recv ipop0 "$WORK/r$i.txt" 2>"$WORK/r$i.log" &
    done
    for i in 1 2 3; do
        wait_for 5 "the receiver on node $i" test -e "$WORK/r$i.txt.ready"
    done
    relayed0=$(net_field 2 relayed_packets)
    ip netns exec "$(host_ns 1)" python3 "$CAST_IO" send ipop0 10.23.0.1 fd23::1 10.23.0.255 ||
        fail "node 1 could not send its broadcasts"
    for i in 2 3; do
        wait_for 5 "node $i's program getting both broadcasts and both mDNS queries" got_all "$i"
    done
    sleep 0.5 # for a second copy, were there one
    for line in "bcast 10.23.0.1 subnet" "bcast 10.23.0.1 limited" "mdns4 10.23.0.1 query" "mdns6 fd23::1 query"; do
        for i in 2 3; do
            [ "$(count "$i" "$line")" = 1 ] || fail "node $i got \"$line\" $(count "$i" "$line") times"
        done
        # node 1's own kernel loops one copy back to its program, no more
        [ "$(count 1 "$line")" -le 1 ] || fail "node 1 got its own \"$line\" $(count 1 "$line") times"
    done
    sent=$(net_field 1 broadcast_packets)
    [ "$sent" -ge 4 ] || fail "node 1 counted $sent broadcast packets, not 4"
    for i in 2 3; do
        [ "$(net_field "$i" broadcast_packets)" = 0 ] || fail "node $i sent broadcasts on: $(net_field "$i" broadcast_packets)"
    done
    relayed=$(($(net_field 2 relayed_packets) - relayed0))
    [ "$relayed" = "$sent" ] || fail "node 2 relayed $relayed packets for node 1's $sent broadcasts"
    for i in 1 2 3; do
        [ "$(net_field "$i" rx_drops)" = 0 ] || fail "node $i's links dropped $(net_field "$i" rx_drops) packets"
        [ "$(net_field "$i" broadcast_dropped)" = 0 ] || fail "node $i dropped broadcasts over the rate"
    done
    log "node 1 sent $sent broadcast and multicast packets: each reached nodes 2 and 3 once (node 3 through node 2)"
    log "PASS"
}

main "$@"
