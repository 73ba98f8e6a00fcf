#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SocialVPN with real ipopd processes: a private prosody on the "public"
# side of a router, three nodes (users sa, sb, sc) in three host namespaces
# behind it, TUN mode.  sa and sb are friends (mutual presence
# subscriptions, made by a plain XMPP client: befriend), sb and sc become
# friends with ipopctl alone (friend add on b, friend list and friend
# accept on c), sa and sc are not.  Every node calls itself 10.70.0.1/24 and sees each friend at an
# address it picks in its own social.subnet 10.71.0.0/24.
#   - each node routes social.subnet into its ipop0 (the library adds the
#     route);
#   - a pings b at the address `ipopctl status --json` on a shows for sb,
#     b pings c likewise (and back);
#   - a has no link to c, c none to a, and no address of a's subnet but b's
#     reaches c (c's device receives nothing);
#   - c comes back with a new identity file: b refuses it (log, ipopctl
#     status), `ipopctl accept sc@ipop.test` on b, and b pings c again.
#
#   iss (prosody 10.99.0.2) -- isr (router 10.99.0.1, 10.0.N.1) -- is1..is3 (10.0.N.2)
#
# Usage: social.sh PATH-TO-IPOPD PATH-TO-BEFRIEND   (root; exits 77
# otherwise).  ipopctl is taken from ipopd's directory.
# shellcheck source=social-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/social-lib.sh"

friend_add() { ctl "$1" friend add "$2" >/dev/null 2>&1; }

# friend_listed N JID TEXT: ipopctl friend list on node N shows JID with TEXT.
friend_listed() { ctl "$1" friend list 2>/dev/null | grep "^$2 " | grep -q "$3"; }

# pending_for N JID: node N waits for an accept of JID's new node id.
pending_for() {
    local ids
    ids=$(net_field "$1" pending_identities) || return 1
    grep -q "\"$2\"" <<<"$ids"
}

main() {
    local i t0 ab ba bc cb bc2 reached id_c id_c2 rx_before rx_after no_route_before no_route_after out
    social_setup is "${1:-}" "${2:-}"

    if ip netns exec "$(host_ns 1)" ping -c 1 -W 1 10.71.0.1 >/dev/null 2>&1; then
        fail "10.71.0.1 answers before ipopd runs"
    fi
    befriend 1 2

    # a and b take the default identity and state files of --state-dir.
    write_social_config 1
    write_social_config 2
    write_social_config 3 "identity.file = $WORK/n3.key"
    id_c=$(node_id "$IPOPD" "$WORK/n3.key") || exit 1
    t0=$(date +%s%N)
    for i in 1 2 3; do
        start_node "$i"
    done
    # b and c make friends through their own ipopd: no other client
    wait_for 30 "b's XMPP session up" friend_add 2 sc@ipop.test
    wait_for 30 "c listing sb's request" friend_listed 3 sb@ipop.test "asks you"
    out=$(ctl 3 friend accept nobody@ipop.test 2>&1) && fail "ipopctl friend accept nobody@ipop.test succeeded"
    printf '%s\n' "$out" | grep -q "no request from it waits" || fail "ipopctl friend accept nobody: '$out'"
    out=$(ctl 3 friend add 'not a jid' 2>&1) && fail "ipopctl friend add with a space succeeded"
    ctl 3 friend accept sb@ipop.test || fail "ipopctl friend accept sb@ipop.test on c failed"
    wait_for 30 "b listing sc as a friend" friend_listed 2 sc@ipop.test "both"
    ctl 2 friend list >&2
    wait_for 30 "a linked with sb" linked 1 sb@ipop.test
    wait_for 30 "b linked with sa" linked 2 sa@ipop.test
    wait_for 30 "b linked with sc" linked 2 sc@ipop.test
    wait_for 30 "c linked with sb" linked 3 sb@ipop.test
    log "all friends linked after $((($(date +%s%N) - t0) / 1000000)) ms"
    for i in 1 2 3; do
        ip -n "$(host_ns "$i")" route show "$SUBNET" | grep -q "dev ipop0" ||
            fail "node $i has no route to social.subnet $SUBNET through ipop0: $(ip -n "$(host_ns "$i")" route)"
    done
    [ -s "$WORK/state-1/social.key" ] || fail "a's default identity file $WORK/state-1/social.key is missing"
    grep -q "^sb@ipop.test " "$WORK/state-1/social.friends" || fail "a's default state file does not pin sb"
    [ "$(stat -c %a "$WORK/state-1")" = 700 ] || fail "the state directory is not mode 0700"

    ab=$(link_field 1 sb@ipop.test address)
    ba=$(link_field 2 sa@ipop.test address)
    bc=$(link_field 2 sc@ipop.test address)
    cb=$(link_field 3 sb@ipop.test address)
    log "a sees sb at $ab; b sees sa at $ba and sc at $bc; c sees sb at $cb"
    for addr in "$ab" "$ba" "$bc" "$cb"; do
        case $addr in 10.71.0.*) ;; *) fail "a friend's address $addr is not in $SUBNET" ;; esac
    done
    [ "$ba" != "$bc" ] || fail "b sees sa and sc at the same address $ba"
    [ "$(link_field 2 sc@ipop.test peer_id)" = "$id_c" ] || fail "b's link to sc is not to c's node id"
    ctl 2 status >&2 || fail "ipopctl status failed"
    ctl 2 peers | grep -q "$bc .*sc@ipop.test" || fail "ipopctl peers on b does not show sc at $bc"

    ping_ok "$(host_ns 1)" -c 3 -i 0.2 -W 2 "$ab"
    ping_ok "$(host_ns 2)" -c 3 -i 0.2 -W 2 "$ba"
    ping_ok "$(host_ns 2)" -c 3 -i 0.2 -W 2 "$bc"
    ping_ok "$(host_ns 3)" -c 3 -i 0.2 -W 2 "$cb"

    # a and c are not friends: no link either way, and nothing a sends into
    # its subnet reaches c.  The sweep does reach a's overlay (no_route).
    any_link 1 sc@ipop.test && fail "a has a link to sc"
    any_link 3 sa@ipop.test && fail "c has a link to sa"
    rx_before=$(rx_packets 3)
    no_route_before=$(net_field 1 no_route)
    for i in $(seq 1 254); do
        [ "10.71.0.$i" = "$ab" ] && continue
        ip netns exec "$(host_ns 1)" ping -c 1 -W 1 "10.71.0.$i" >/dev/null 2>&1 && touch "$WORK/reached.$i" &
    done
    wait_jobs_but_daemons
    reached=("$WORK"/reached.*)
    [ -e "${reached[0]}" ] && fail "a reached 10.71.0.{${reached[*]##*.}}"
    rx_after=$(rx_packets 3)
    no_route_after=$(net_field 1 no_route)
    [ "$no_route_after" -ge $((no_route_before + 253)) ] ||
        fail "a's overlay saw only $((no_route_after - no_route_before)) of the 253 pings (no_route)"
    [ "$rx_after" = "$rx_before" ] || fail "c's ipop0 received $((rx_after - rx_before)) packets during a's sweep"
    any_link 1 sc@ipop.test && fail "a has a link to sc"
    log "a: 253 addresses of its subnet tried, none answered, c's device received nothing"

    # c comes back with a new identity: b refuses it until accepted.
    stop_daemon "${PID[3]}"
    write_social_config 3 "identity.file = $WORK/n3-new.key"
    id_c2=$(node_id "$IPOPD" "$WORK/n3-new.key") || exit 1
    [ "$id_c2" != "$id_c" ] || fail "the new identity has the old node id"
    start_node 3
    wait_for 30 "b refusing c's new node id (ipopctl status)" pending_for 2 sc@ipop.test
    grep -q "friend sc@ipop.test has a new node id" "$WORK/n2.log" || fail "b's log does not show the refusal"
    out=$(ctl 2 status) || fail "ipopctl status on b failed"
    printf '%s\n' "$out" | grep -E "refused:|to accept:" >&2
    printf '%s\n' "$out" | grep -q "to accept: ipopctl accept sc@ipop.test" ||
        fail "ipopctl status on b does not say how to accept sc"
    # A quiet window (stretched like every wait, so that it means as much
    # under the sanitizers): c keeps trying, neither side links.
    sleep $((2 * ${IPOP_TEST_TIME_FACTOR:-1}))
    linked_to 2 sc@ipop.test "$id_c2" && fail "b linked with c's new node id before accepting it"
    linked 3 sb@ipop.test && fail "c (new node id) linked with sb before b accepted it"

    out=$(ctl 2 accept nobody@ipop.test 2>&1) && fail "ipopctl accept nobody@ipop.test succeeded"
    printf '%s\n' "$out" | grep -q "no identity change waiting" || fail "ipopctl accept nobody: '$out'"
    out=$(ctl 1 accept sc@ipop.test 2>&1) && fail "ipopctl accept sc@ipop.test on a succeeded"
    out=$(ctl 2 accept sc@ipop.test --network nosuch 2>&1) && fail "accept on a network that does not exist"
    printf '%s\n' "$out" | grep -q "no network nosuch" || fail "ipopctl accept --network nosuch: '$out'"
    ctl 2 accept sc@ipop.test --network social || fail "ipopctl accept sc@ipop.test on b failed"
    wait_for 30 "b linked with c's new node id" linked_to 2 sc@ipop.test "$id_c2"
    wait_for 30 "c linked with sb again" linked 3 sb@ipop.test
    pending_for 2 sc@ipop.test && fail "b still lists sc's identity change after accepting it"
    bc2=$(link_field 2 sc@ipop.test address)
    cb=$(link_field 3 sb@ipop.test address)
    log "after the accept, b sees sc at $bc2 (before: $bc)"
    ping_ok "$(host_ns 2)" -c 3 -i 0.2 -W 2 "$bc2"
    ping_ok "$(host_ns 3)" -c 3 -i 0.2 -W 2 "$cb"
    grep -q "^sc@ipop.test $id_c2 " "$WORK/state-2/social.friends" || fail "b's state file does not pin c's new id"
    log "PASS"
}

# Waits for the background pings, not for the daemons (also children).
wait_jobs_but_daemons() {
    local pid
    for pid in $(jobs -p); do
        [[ " ${DAEMON_PIDS[*]} " == *" $pid "* ]] || wait "$pid"
    done
}

main "$@"
