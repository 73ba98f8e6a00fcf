#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# GroupVPN member relay with real ipopd processes: three members, where the
# router drops everything between node 1 and node 3 (nftables), so their
# direct link cannot come up, but both reach node 2 and the server.
#   - node 1 pings node 3 and back: the packets go through node 2;
#   - `ipopctl status --json` on nodes 1 and 3 names node 2 as the relay
#     (path "member"), node 2 counts what it relayed;
#   - once the router lets 1 and 3 talk, their direct link comes up (the
#     library keeps trying it) and the status says so.
#
#   igs (prosody 10.99.0.2) -- igr (router 10.99.0.1, 10.0.N.1) -- ig1..ig3 (10.0.N.2)
#   overlay: ipop0 10.21.0.N/24; igr drops 10.0.1.0/24 <-> 10.0.3.0/24
#
# Usage: group-relay.sh PATH-TO-IPOPD   (root; exits 77 otherwise).  ipopctl
# is taken from the same directory.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NS_R="igr-$$"
NS_S="igs-$$"
SERVER=10.99.0.2
XMPP_PORT=5222
ROOM=relay@rooms.ipop.test
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
}

# The router forwards nothing between hosts 1 and 3, either way.
block_1_3() {
    ip netns exec "$NS_R" nft -f - <<EOF || fail "nft refused the rules"
table inet relaytest {
    chain forward {
        type filter hook forward priority 0; policy accept;
        ip saddr 10.0.1.0/24 ip daddr 10.0.3.0/24 drop
        ip saddr 10.0.3.0/24 ip daddr 10.0.1.0/24 drop
    }
}
EOF
}

unblock_1_3() { ip netns exec "$NS_R" nft delete table inet relaytest || fail "cannot remove the nft table"; }

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

write_relay_config() {
    local n=$1
    printf 'p%s\n' "$n" >"$WORK/n$n.pass"
    chmod 600 "$WORK/n$n.pass"
    cat >"$WORK/n$n.conf" <<EOF
# written by ${0##*/}
[vpn]
mode = tun
device = ipop0
address = 10.21.0.$n/24
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

# link_field N PEER FIELD: FIELD of node N's link to PEER in ipopctl status
# --json ("none" without such a link, "null" for a null value).
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

# net_field N FIELD: FIELD of node N's network.
net_field() {
    local json
    json=$(ctl "$1" status --json) || fail "ipopctl status --json of node $1 failed"
    printf '%s' "$json" | python3 -c '
import json, sys
print(sum(n[sys.argv[1]] for n in json.load(sys.stdin)["networks"]))' "$2" ||
        fail "ipopctl status --json of node $1 has no $2: $json"
}

relayed_via() { [ "$(link_field "$1" "$2" relay)" = "$3" ] && [ "$(link_field "$1" "$2" path)" = member ]; }
direct() { [ "$(link_field "$1" "$2" state)" = connected ] && [ "$(link_field "$1" "$2" relay)" = null ]; }

# rtt NS ADDR: the average RTT in ms of 20 pings.
rtt() {
    ip netns exec "$1" ping -c 20 -i 0.05 -W 2 "$2" | sed -n 's|^rtt [^=]*= [^/]*/\([^/]*\)/.*|\1|p'
}

# tcp_rate FROM_NS TO_NS ADDR: TCP throughput in Mbit/s from FROM_NS to an
# iperf3 server in TO_NS at ADDR, over 3 s.  Only with IPOP_RELAY_BENCH=1.
tcp_rate() {
    local spid out
    ip netns exec "$2" iperf3 -s -1 -B "$3" >/dev/null 2>&1 &
    spid=$!
    sleep 0.5
    out=$(ip netns exec "$1" iperf3 -c "$3" -t 3 -J 2>/dev/null)
    wait "$spid" 2>/dev/null
    printf '%s' "$out" | python3 -c '
import json, sys
try:
    print("%.0f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6))
except Exception:
    print("?")'
}

# bench LABEL: round-trip times and TCP throughput, direct 1->2, and 1->3.
bench() {
    [ "${IPOP_RELAY_BENCH:-0}" = 1 ] && command -v iperf3 >/dev/null || return 0
    log "$1: 1->2 (direct) rtt $(rtt "$(host_ns 1)" 10.21.0.2) ms, $(tcp_rate "$(host_ns 1)" "$(host_ns 2)" 10.21.0.2) Mbit/s TCP"
    log "$1: 1->3 rtt $(rtt "$(host_ns 1)" 10.21.0.3) ms, $(tcp_rate "$(host_ns 1)" "$(host_ns 3)" 10.21.0.3) Mbit/s TCP"
}

main() {
    local i t0 relayed
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
    block_1_3
    ip netns exec "$(host_ns 1)" ping -c 1 -W 1 10.0.3.2 >/dev/null 2>&1 && fail "host 1 reaches host 3 through the router"
    start_prosody

    printf 'sesame\n' >"$WORK/secret"
    chmod 600 "$WORK/secret"
    for i in 1 2 3; do
        ID[$i]=$(node_id "$IPOPD" "$WORK/n$i.key") || exit 1
        log "node $i: ${ID[$i]}"
        write_relay_config "$i"
    done

    t0=$(date +%s%N)
    for i in 1 2 3; do
        start_daemon "$(host_ns "$i")" "n$i" "$IPOPD" "$WORK/n$i.conf"
    done
    # Generous: under ASan on a loaded machine an XMPP login alone (OpenSSL
    # loading its CA bundle) has taken over a minute.
    wait_for 120 "node 1 linked with node 2" direct 1 "${ID[2]}"
    wait_for 60 "node 3 linked with node 2" direct 3 "${ID[2]}"
    wait_for 60 "node 1 reaching node 3 through node 2 (ipopctl status --json)" relayed_via 1 "${ID[3]}" "${ID[2]}"
    wait_for 30 "node 3 reaching node 1 through node 2" relayed_via 3 "${ID[1]}" "${ID[2]}"
    log "relay via node 2 in place $((($(date +%s%N) - t0) / 1000000)) ms after the daemons started"
    [ "$(link_field 1 "${ID[3]}" state)" != connected ] || fail "node 1's direct link to node 3 is up through a blocked router"
    ctl 1 status >&2 || fail "ipopctl status failed"
    ctl 1 status | grep -q "relayed *member:${ID[2]:0:8}" || fail "ipopctl status (text) of node 1 does not name node 2 as relay"

    ping_ok "$(host_ns 1)" -c 10 -i 0.2 -W 2 10.21.0.3
    ping_ok "$(host_ns 3)" -c 10 -i 0.2 -W 2 10.21.0.1
    relayed=$(net_field 2 relayed_packets)
    [ "$relayed" -ge 40 ] || fail "node 2 relayed $relayed packets, expected at least 40 (20 pings each way)"
    [ "$(link_field 2 "${ID[1]}" relayed_packets)" -ge 20 ] || fail "node 2 counts no packets relayed for node 1"
    log "node 2 relayed $relayed packets; $(net_field 2 relay_drops) dropped"
    log "RTT 1->2 (direct): $(rtt "$(host_ns 1)" 10.21.0.2) ms; 1->3 (through 2): $(rtt "$(host_ns 1)" 10.21.0.3) ms"
    bench "1-3 relayed by 2"

    # The router lets 1 and 3 talk: the direct link comes up by itself
    # (tried again with backoff, at most 30 s apart) and takes the traffic.
    unblock_1_3
    t0=$(date +%s%N)
    wait_for 60 "node 1's direct link to node 3" direct 1 "${ID[3]}"
    wait_for 10 "node 3's direct link to node 1" direct 3 "${ID[1]}"
    log "direct link 1-3 up $((($(date +%s%N) - t0) / 1000000)) ms after the router let it"
    relayed=$(net_field 2 relayed_packets)
    ping_ok "$(host_ns 1)" -c 10 -i 0.2 -W 2 10.21.0.3
    [ "$(net_field 2 relayed_packets)" = "$relayed" ] || fail "node 2 still relays between 1 and 3 after their link came up"
    bench "1-3 direct"
    log "PASS"
}

main "$@"
