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
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NS_R="igr-$$"
NS_S="igs-$$"
SERVER=10.99.0.2
XMPP_PORT=5222
ROOM=vpn@rooms.ipop.test
IPOPD=""
IPOPCTL=""
declare -A ID PID

host_ns() { printf 'ig%s-%s' "$1" "$$"; }

topology() {
    local i
    add_ns "$NS_R"
    add_ns "$NS_S"
    ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
    link_to_router "$NS_S" eth0 rs 10.99.0.1 "$SERVER"
    for i in 1 2 3 4 5; do
        add_ns "$(host_ns "$i")"
        link_to_router "$(host_ns "$i")" eth0 "r$i" "10.0.$i.1" "10.0.$i.2"
    done
    for i in 1 2 3 4 5; do
        wait_for 5 "the underlay (host $i to the server)" ip netns exec "$(host_ns "$i")" ping -c 1 -W 1 "$SERVER"
    done
}

# The prosody of the test, in its own namespace; stopped by the cleanup
# (and killed with everything else left in our namespaces).
start_prosody() {
    # prosody runs as its own user and must reach its directory.
    chmod 711 "$WORK"
    mkdir "$WORK/xmpp"
    ip netns exec "$NS_S" bash "$SRCDIR/tests/servers/prosody.sh" start "$WORK/xmpp" "$SERVER" "$XMPP_PORT" \
        u1:p1 u2:p2 u3:p3 u4:p4 u5:p5 >"$WORK/prosody-start.log" 2>&1 || {
        cat "$WORK/prosody-start.log" >&2
        fail "prosody did not start"
    }
    [ -s "$WORK/xmpp/fingerprint" ] || fail "prosody.sh wrote no fingerprint"
}

stop_prosody() {
    [ -d "$WORK/xmpp" ] && bash "$SRCDIR/tests/servers/prosody.sh" stop "$WORK/xmpp"
}

# config N SECRET_LINE: node N's config; the password comes from a file.
write_group_config() {
    local n=$1 secret_line=$2
    printf 'p%s\n' "$n" >"$WORK/n$n.pass"
    chmod 600 "$WORK/n$n.pass"
    cat >"$WORK/n$n.conf" <<EOF
# written by ${0##*/}
[vpn]
mode = tun
device = ipop0
address = 10.20.0.$n/24
identity.file = $WORK/n$n.key
link.timeout = 10
overlay = group
xmpp.jid = u$n@ipop.test
xmpp.password-file = $WORK/n$n.pass
xmpp.server = $SERVER
xmpp.port = $XMPP_PORT
xmpp.server-fingerprint = $(cat "$WORK/xmpp/fingerprint")
group.room = $ROOM
name = node$n
$secret_line
EOF
}

ctl() {
    local n=$1
    shift
    "$IPOPCTL" --control "$WORK/n$n.sock" "$@"
}

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
    require_root
    require_tools
    check_ipopd "${1:-}"
    IPOPD=$(realpath "$1")
    IPOPCTL=$(dirname "$IPOPD")/ipopctl
    [ -x "$IPOPCTL" ] || fail "no ipopctl next to $IPOPD"
    setup_traps
    CLEANUP_HOOKS+=(stop_prosody)
    topology
    start_prosody

    if ip netns exec "$(host_ns 1)" ping -c 1 -W 1 10.20.0.2 >/dev/null 2>&1; then
        fail "10.20.0.2 answers before ipopd runs"
    fi
    printf 'sesame\n' >"$WORK/secret"
    chmod 600 "$WORK/secret"
    for i in 1 2 3 4 5; do
        ID[$i]=$(node_id "$IPOPD" "$WORK/n$i.key") || exit 1
        log "node $i: ${ID[$i]}"
    done
    for i in 1 2 3 4; do
        write_group_config "$i" "group.secret-file = $WORK/secret"
        "$IPOPD" --check --config "$WORK/n$i.conf" >/dev/null || fail "ipopd --check refused n$i.conf"
    done
    write_group_config 5 "group.secret = open sesame"

    t0=$(date +%s%N)
    for i in 1 2 3 4; do
        start_daemon "$(host_ns "$i")" "n$i" "$IPOPD" "$WORK/n$i.conf"
        PID[$i]=$!
    done
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
    start_daemon "$(host_ns 5)" n5 "$IPOPD" "$WORK/n5.conf"
    PID[5]=$!
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
