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
# shellcheck source=group-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/group-lib.sh"

CAST_IO="$SRCDIR/tests/netns/cast-io.py"
ROOM=cast@rooms.ipop.test
GROUP_ADDRESS() { printf '10.23.0.%s/24;fd23::%s/64' "$1" "$1"; }

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
    group_setup "${1:-}" 3 nft
    block_hosts 1 3
    for i in 1 2 3; do
        write_group_config "$i"
    done
    t0=$(date +%s%N)
    group_start 1 2 3
    wait_relayed_1_3
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
