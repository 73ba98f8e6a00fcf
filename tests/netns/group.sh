#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# GroupVPN with real ipopd processes: a private prosody on the "public" side
# of a router, four members in four host namespaces (each in its own subnet
# behind the router), TUN mode, one room, one secret.
#   - every member pings every other over the overlay, and shows the others'
#     names (option name) in ipopctl status --json;
#   - a fifth node with the wrong secret gets no link, and its log shows that
#     it refuses the members (and they refuse it);
#   - SIGHUP with an unchanged config keeps the links up;
#   - a member stopped with SIGTERM disappears from the others' connected
#     links (ipopctl status --json) within 15 s.
#
#   igs (prosody 10.99.0.2) -- igr (router 10.99.0.1, 10.0.N.1) -- ig1..ig5 (10.0.N.2)
#   overlay: ipop0 10.20.0.N/24
#
# Usage: group.sh PATH-TO-IPOPD   (root; exits 77 otherwise).  ipopctl is
# taken from the same directory.
# shellcheck source=group-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/group-lib.sh"

ROOM=vpn@rooms.ipop.test
GROUP_LINK_TIMEOUT=10
GROUP_ADDRESS() { printf '10.20.0.%s/24' "$1"; }

# connected_peers N: the peer ids node N's ipopd shows with a connected link,
# one a line.  Fails the test when the answer is not valid JSON.
connected_peers() {
    local json
    json=$(ctl "$1" status --json) || return 1 # not listening yet
    printf '%s' "$json" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
for net in doc["networks"]:
    for link in net["links"]:
        if link["state"] == "connected":
            print(link["peer_id"])
' || fail "ipopctl status --json of node $1 is not the JSON expected: $json"
}

# refused N: signalling messages node N's network refused.
refused() {
    local json
    json=$(ctl "$1" status --json) || fail "ipopctl status --json of node $1 failed"
    printf '%s' "$json" | python3 -c '
import json, sys
print(sum(n["signal_refused"] for n in json.load(sys.stdin)["networks"]))' ||
        fail "ipopctl status --json of node $1 is not the JSON expected: $json"
}

# connected_to N PEER: node N shows a connected link to PEER.
# (not "connected_peers | grep -q": grep may quit before python3 has written
# all, whose broken pipe then fails the JSON check)
connected_to() {
    local peers
    peers=$(connected_peers "$1") || return 1
    grep -qx "$2" <<<"$peers"
}
not_connected_to() { ! connected_to "$@"; }
all_linked() {
    local i j
    for i in 1 2 3 4; do
        for j in 1 2 3 4; do
            [ "$i" = "$j" ] || connected_to "$i" "${ID[$j]}" || return 1
        done
    done
}
refused_some() { [ "$(refused "$1")" -gt 0 ]; }

main() {
    local i j t0 t_first t_all t_stop
    group_setup "${1:-}" 5
    if ip netns exec "$(host_ns 1)" ping -c 1 -W 1 10.20.0.2 >/dev/null 2>&1; then
        fail "10.20.0.2 answers before ipopd runs"
    fi
    for i in 1 2 3 4; do
        write_group_config "$i" "name = node$i" "group.secret-file = $WORK/secret"
        "$IPOPD" --check --config "$WORK/n$i.conf" >/dev/null || fail "ipopd --check refused n$i.conf"
    done
    write_group_config 5 "name = node5" "group.secret = open sesame"

    t0=$(date +%s%N)
    group_start 1 2 3 4
    wait_for 30 "a first overlay ping from node 1 to node 2" \
        ip netns exec "$(host_ns 1)" ping -c 1 -W 1 10.20.0.2
    t_first=$((($(date +%s%N) - t0) / 1000000))
    wait_for 40 "every member linked with every other (ipopctl status --json)" all_linked
    t_all=$((($(date +%s%N) - t0) / 1000000))
    log "first overlay ping after ${t_first} ms; all 12 links connected after ${t_all} ms"
    ctl 1 status >&2 || fail "ipopctl status failed"
    names=$(ctl 1 status --json | python3 -c '
import json, sys
print(" ".join(sorted(l["name"] or "-" for n in json.load(sys.stdin)["networks"] for l in n["links"])))') ||
        fail "ipopctl status --json of node 1 failed"
    [ "$names" = "node2 node3 node4" ] || fail "node 1 shows its peers named '$names', not node2 node3 node4"
    ctl 1 peers >/dev/null || fail "ipopctl peers failed"

    for i in 1 2 3 4; do
        for j in 1 2 3 4; do
            [ "$i" = "$j" ] && continue
            ping_ok "$(host_ns "$i")" -c 2 -i 0.2 -W 2 "10.20.0.$j"
        done
    done
    grep -q "GroupVPN over XMPP" "$WORK/n1.log" || fail "node 1 did not log that it signals over XMPP"

    # The node with the wrong secret: every side refuses the other.
    group_start 5
    wait_for 30 "node 5 logging a refusal" grep -q "refused" "$WORK/n5.log"
    for i in 1 2 3 4; do
        wait_for 30 "node $i refusing node 5's messages" refused_some "$i"
    done
    grep "refused" "$WORK/n5.log" | head -n 2 >&2
    for i in 1 2 3 4; do
        not_connected_to "$i" "${ID[5]}" || fail "node $i has a connected link to node 5 (wrong secret)"
    done
    [ -z "$(connected_peers 5)" ] || fail "node 5 (wrong secret) has connected links: $(connected_peers 5)"
    ip netns exec "$(host_ns 5)" ping -c 1 -W 1 10.20.0.1 >/dev/null 2>&1 &&
        fail "node 5 (wrong secret) reaches 10.20.0.1"
    log "node 5 with the wrong secret: no link, refusals on both sides"

    # SIGHUP with an unchanged config: the network keeps running.
    kill -HUP "${PID[1]}"
    wait_for 5 "node 1 reloading" grep -q "reload: 1 unchanged, 0 stopped, 0 to start" "$WORK/n1.log"
    for j in 2 3 4; do
        connected_to 1 "${ID[$j]}" || fail "node 1 lost its link to node $j on SIGHUP"
    done
    ping_ok "$(host_ns 1)" -c 2 -i 0.2 -W 2 10.20.0.2

    # A member leaves: SIGTERM, exit 0, device gone, the others drop it.
    t0=$(date +%s%N)
    stop_daemon "${PID[4]}"
    ! ip -n "$(host_ns 4)" link show ipop0 >/dev/null 2>&1 || fail "ipop0 still exists after node 4 stopped"
    for i in 1 2 3; do
        wait_for 15 "node $i dropping its link to node 4" not_connected_to "$i" "${ID[4]}"
    done
    t_stop=$((($(date +%s%N) - t0) / 1000000))
    log "the others dropped node 4 ${t_stop} ms after its SIGTERM"
    [ ! -e "$WORK/n4.sock" ] || fail "node 4 left its control socket behind"
    connected_to 1 "${ID[2]}" || fail "node 1 lost its link to node 2 when node 4 left"
    log "PASS"
}

main "$@"
