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
# shellcheck source=group-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/group-lib.sh"

ROOM=relay@rooms.ipop.test
GROUP_ADDRESS() { printf '10.21.0.%s/24' "$1"; }

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
    group_setup "${1:-}" 3 nft
    block_hosts 1 3
    ip netns exec "$(host_ns 1)" ping -c 1 -W 1 10.0.3.2 >/dev/null 2>&1 && fail "host 1 reaches host 3 through the router"
    for i in 1 2 3; do
        write_group_config "$i"
    done

    t0=$(date +%s%N)
    group_start 1 2 3
    wait_relayed_1_3
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
    unblock_hosts
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
