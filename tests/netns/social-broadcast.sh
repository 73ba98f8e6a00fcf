#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# Broadcast and multicast in a SocialVPN (option "broadcast", on by
# default; ipop.h: "goes to every connected member (SocialVPN: every
# connected friend)", IPv4 only, never sent on by whoever receives it).
# Real ipopd processes, a private prosody, three users: sa and sb are
# friends, sb and sc are friends, sa and sc are not (nor in each other's
# roster).  Every node calls itself 10.70.0.1/24.  A program on each node
# listens on ipop0 (tests/netns/cast-io.py: UDP 9999 and mDNS joined to
# 224.0.0.251), and one node at a time sends, as programs do, a datagram
# to 10.70.0.255 (its subnet's broadcast address), one to 255.255.255.255
# and an mDNS query to 224.0.0.251:
#   - a sends: b's program gets each exactly once, from the address b sees
#     sa at (its social.subnet alias); c, no friend of a's, gets nothing
#     (its program nothing, its ipop0 no packet), though b, c's friend, got
#     them: b sends nothing on (its broadcast_packets stays 0);
#   - b sends: a's and c's programs each get each exactly once, from the
#     address each sees sb at;
#   - c sends: b gets each once, a nothing.
#
#   ibs (prosody 10.99.0.2) -- ibr (router 10.99.0.1, 10.0.N.1) -- ib1..ib3 (10.0.N.2)
#
# Usage: social-broadcast.sh PATH-TO-IPOPD PATH-TO-BEFRIEND   (root; exits
# 77 otherwise).  ipopctl is taken from ipopd's directory.
# shellcheck source=social-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/social-lib.sh"

CAST_IO="$SRCDIR/tests/netns/cast-io.py"
KINDS=("bcast %s subnet" "bcast %s limited" "mdns4 %s query")

# count N LINE: how many times the program on node N wrote LINE.
count() { grep -cxF "$2" "$WORK/r$1.txt"; }
lines() { wc -l <"$WORK/r$1.txt"; }

# got_all N SOURCE: the program on node N got every kind from SOURCE.
got_all() {
    local k
    for k in "${KINDS[@]}"; do
        # shellcheck disable=SC2059 # the kinds are formats
        [ "$(count "$1" "$(printf "$k" "$2")")" -ge 1 ] || return 1
    done
}

# exactly_once N SOURCE WHO: after a moment for a second copy, were there
# one, node N got every kind from SOURCE once.
exactly_once() {
    local k line
    for k in "${KINDS[@]}"; do
        # shellcheck disable=SC2059
        line=$(printf "$k" "$2")
        [ "$(count "$1" "$line")" = 1 ] || fail "node $1 got \"$line\" ($3) $(count "$1" "$line") times"
    done
}

# send N: node N's program sends the broadcasts and the mDNS query.
send() {
    log "node $1 (${USERS[$1]}) sends to 10.70.0.255, 255.255.255.255 and 224.0.0.251"
    ip netns exec "$(host_ns "$1")" python3 "$CAST_IO" send ipop0 "$OWN" - 10.70.0.255 ||
        fail "node $1 could not send its broadcasts"
}

sent() { net_field "$1" broadcast_packets; }

main() {
    local i t0 ab ba bc cb rx before_a before_c lines_before
    social_setup ib "${1:-}" "${2:-}"
    befriend 1 2
    befriend 2 3
    for i in 1 2 3; do
        write_social_config "$i"
    done
    t0=$(date +%s%N)
    for i in 1 2 3; do
        start_node "$i"
    done
    wait_for 60 "a linked with sb" linked 1 sb@ipop.test
    wait_for 30 "b linked with sa" linked 2 sa@ipop.test
    wait_for 30 "b linked with sc" linked 2 sc@ipop.test
    wait_for 30 "c linked with sb" linked 3 sb@ipop.test
    log "friends linked after $((($(date +%s%N) - t0) / 1000000)) ms"
    any_link 1 sc@ipop.test && fail "a has a link to sc, who is no friend"
    any_link 3 sa@ipop.test && fail "c has a link to sa, who is no friend"
    ab=$(link_field 1 sb@ipop.test address)
    ba=$(link_field 2 sa@ipop.test address)
    bc=$(link_field 2 sc@ipop.test address)
    cb=$(link_field 3 sb@ipop.test address)
    log "a sees sb at $ab; b sees sa at $ba and sc at $bc; c sees sb at $cb"

    for i in 1 2 3; do
        ip netns exec "$(host_ns "$i")" python3 "$CAST_IO" recv ipop0 "$WORK/r$i.txt" 2>"$WORK/r$i.log" &
    done
    for i in 1 2 3; do
        wait_for 5 "the receiver on node $i" test -e "$WORK/r$i.txt.ready"
    done

    # a to its friend b; c, b's friend but not a's, gets nothing.
    rx=$(rx_packets 3)
    send 1
    wait_for 5 "b's program getting a's broadcasts and mDNS query" got_all 2 "$ba"
    sleep 0.5
    exactly_once 2 "$ba" "from a"
    [ "$(lines 2)" = 3 ] || fail "b's program got more than a's three datagrams: $(tr '\n' ';' <"$WORK/r2.txt")"
    [ "$(lines 3)" = 0 ] || fail "c, no friend of a's, got a's broadcasts: $(tr '\n' ';' <"$WORK/r3.txt")"
    [ "$(rx_packets 3)" = "$rx" ] || fail "c's ipop0 received $(($(rx_packets 3) - rx)) packets from a's broadcasts"
    [ "$(sent 1)" -ge 3 ] || fail "a counted $(sent 1) broadcast packets, not 3"
    [ "$(sent 2)" = 0 ] || fail "b sent a's broadcasts on ($(sent 2) broadcast packets)"
    log "a's broadcasts reached b once each, not c"

    # b to both its friends.
    before_a=$(lines 1)
    send 2
    wait_for 5 "a's program getting b's broadcasts" got_all 1 "$ab"
    wait_for 5 "c's program getting b's broadcasts" got_all 3 "$cb"
    sleep 0.5
    exactly_once 1 "$ab" "from b"
    exactly_once 3 "$cb" "from b"
    [ "$(lines 1)" = $((before_a + 3)) ] || fail "a's program got more than b's three datagrams"
    [ "$(lines 3)" = 3 ] || fail "c's program got more than b's three datagrams"
    [ "$(sent 2)" -ge 3 ] || fail "b counted $(sent 2) broadcast packets, not 3"
    log "b's broadcasts reached a and c once each"

    # c to its friend b; a, no friend of c's, gets nothing.
    rx=$(rx_packets 1)
    before_a=$(lines 1)
    lines_before=$(lines 2)
    before_c=$(sent 3)
    send 3
    wait_for 5 "b's program getting c's broadcasts" got_all 2 "$bc"
    sleep 0.5
    exactly_once 2 "$bc" "from c"
    [ "$(lines 2)" = $((lines_before + 3)) ] || fail "b's program got more than c's three datagrams"
    [ "$(lines 1)" = "$before_a" ] || fail "a, no friend of c's, got c's broadcasts: $(tail -n +$((before_a + 1)) "$WORK/r1.txt" | tr '\n' ';')"
    [ "$(rx_packets 1)" = "$rx" ] || fail "a's ipop0 received $(($(rx_packets 1) - rx)) packets from c's broadcasts"
    [ "$(sent 3)" -ge $((before_c + 3)) ] || fail "c counted $(($(sent 3) - before_c)) broadcast packets, not 3"
    for i in 1 2 3; do
        [ "$(net_field "$i" broadcast_dropped)" = 0 ] || fail "node $i dropped broadcasts over the rate"
    done
    log "c's broadcasts reached b once each, not a"
    log "PASS"
}

main "$@"
