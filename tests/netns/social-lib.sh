# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# SocialVPN nodes for the namespace tests: three ipopd behind a router
# (lib.sh's hosts_topology), a private prosody with users sa, sb and sc,
# TUN mode; every node calls itself 10.70.0.1/24 (OWN) and sees each friend at an
# address it picks in its own social.subnet 10.71.0.0/24 (SUBNET).  Friends are made as
# a chat client would (befriend, tests/netns/befriend.c) or with ipopctl.
# Sourced by social.sh and social-broadcast.sh.
#
#   Ps (prosody 10.99.0.2) -- Pr (router 10.99.0.1, 10.0.N.1) -- P1..P3 (10.0.N.2)

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OWN=10.70.0.1
SUBNET=10.71.0.0/24
BEFRIEND=""
declare -A PID
USERS=(x sa sb sc) # node N is user ${USERS[N]}, password pN

# social_setup PREFIX IPOPD BEFRIEND: checks what the test needs (exit 77
# without it), makes the namespaces (prefix PREFIX) and starts prosody.
social_setup() {
    require_root
    require_tools
    use_ipopd "${2:-}"
    BEFRIEND=${3:-}
    [ -x "$BEFRIEND" ] || fail "usage: ${0##*/} PATH-TO-IPOPD PATH-TO-BEFRIEND"
    setup_traps
    hosts_topology "$1" 3 server
    start_prosody sa:p1 sb:p2 sc:p3
}

# befriend N M: users of nodes N and M subscribe to each other's presence.
befriend() {
    ip netns exec "$(host_ns "$1")" "$BEFRIEND" "$SERVER" "$XMPP_PORT" "${USERS[$1]}:p$1" "${USERS[$2]}:p$2" ||
        fail "befriend ${USERS[$1]} ${USERS[$2]} failed"
    log "${USERS[$1]} and ${USERS[$2]} are friends"
}

# write_social_config N [IDENTITY_LINE]: node N's config.  Without an
# identity line, the identity and the friends' pins take ipopd's defaults
# under --state-dir.
write_social_config() {
    local n=$1 identity_line=${2:-}
    printf 'p%s\n' "$n" >"$WORK/n$n.pass"
    chmod 600 "$WORK/n$n.pass"
    cat >"$WORK/n$n.conf" <<EOF
# written by ${0##*/}
[social]
mode = tun
device = ipop0
address = $OWN/24
link.timeout = 10
overlay = social
social.subnet = $SUBNET
xmpp.jid = ${USERS[$n]}@ipop.test
xmpp.password-file = $WORK/n$n.pass
xmpp.server = $SERVER
xmpp.port = $XMPP_PORT
xmpp.server-fingerprint = $(cat "$WORK/xmpp/fingerprint")
$identity_line
EOF
}

# start_node N: ipopd of node N, state in $WORK/state-N, log appended to
# $WORK/nN.log (a restart keeps the earlier lines).
start_node() {
    local n=$1
    "$IPOPD" --check --config "$WORK/n$n.conf" --state-dir "$WORK/state-$n" >/dev/null ||
        fail "ipopd --check refused n$n.conf"
    ip netns exec "$(host_ns "$n")" "$IPOPD" -v --config "$WORK/n$n.conf" --state-dir "$WORK/state-$n" \
        --control "$WORK/n$n.sock" 2>>"$WORK/n$n.log" &
    # shellcheck disable=SC2034 # for the test that sources this
    PID[$n]=$!
    DAEMON_PIDS+=("$!")
}

# link_field N JID FIELD: FIELD (address, peer_id, state) of node N's
# connected link to friend JID, as ipopctl status --json shows it; nothing
# when there is none.  Fails the test when the answer is not the JSON
# expected.
link_field() {
    local json
    json=$(ctl "$1" status --json) || return 1 # not listening yet
    printf '%s' "$json" | python3 -c '
import json, sys
jid, field = sys.argv[1], sys.argv[2]
for net in json.load(sys.stdin)["networks"]:
    for link in net["links"]:
        if link.get("jid") == jid and link["state"] == "connected":
            print(link[field])
' "$2" "$3" || fail "ipopctl status --json of node $1 is not the JSON expected: $json"
}

# net_field N FIELD: a member of node N's network in ipopctl status --json.
net_field() {
    local json
    json=$(ctl "$1" status --json) || fail "ipopctl status --json of node $1 failed"
    printf '%s' "$json" | python3 -c '
import json, sys
print(json.dumps(json.load(sys.stdin)["networks"][0][sys.argv[1]]))' "$2" ||
        fail "ipopctl status --json of node $1 has no $2: $json"
}

linked() { [ -n "$(link_field "$1" "$2" address)" ]; }
# linked_to N JID ID: node N's connected link to JID goes to node id ID.
linked_to() { [ "$(link_field "$1" "$2" peer_id)" = "$3" ]; }
# any_link N JID: node N knows a link to JID, in any state.
any_link() {
    local json rc=0
    json=$(ctl "$1" status --json) || fail "ipopctl status --json of node $1 failed"
    printf '%s' "$json" | python3 -c '
import json, sys
sys.exit(0 if any(l.get("jid") == sys.argv[1] for n in json.load(sys.stdin)["networks"] for l in n["links"]) else 3)' "$2" ||
        rc=$?
    # 3: no such link; anything else but 0: not the JSON expected
    [ "$rc" = 0 ] || [ "$rc" = 3 ] || fail "ipopctl status --json of node $1 is not the JSON expected: $json"
    [ "$rc" = 0 ]
}

rx_packets() {
    local json
    json=$(ip -n "$(host_ns "$1")" -s -j link show dev ipop0) || fail "no ipop0 on node $1"
    printf '%s' "$json" | python3 -c '
import json, sys
print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])' || fail "ip -s -j link show of node $1: $json"
}
