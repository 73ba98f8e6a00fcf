# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# GroupVPN members for the namespace tests: N ipopd behind a router (lib.sh's
# hosts_topology with prefix "ig"), a private prosody, one room, one secret,
# TUN mode; and what the tests ask of them through ipopctl status --json.
# Sourced by group.sh, group-relay.sh and broadcast.sh.
#
#   igs (prosody 10.99.0.2) -- igr (router 10.99.0.1, 10.0.N.1) -- ig1..igN (10.0.N.2)
#
# A test sets ROOM and GROUP_ADDRESS (a command: GROUP_ADDRESS N prints node
# N's "address" value), then calls group_setup and group_start.

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOM=""
GROUP_LINK_TIMEOUT=5
declare -A ID PID

# group_setup IPOPD N [nft]: checks what the test needs (exit 77 without
# it), makes the namespaces of N hosts and the server, starts prosody with
# users u1..uN (passwords p1..pN), writes the secret file and each node's
# identity (ID[i]).  With "nft": nft must be there too.
group_setup() {
    local ipopd=$1 n=$2 i users=()
    require_root
    require_tools
    if [ "${3:-}" = nft ]; then
        command -v nft >/dev/null || { echo "SKIP: needs nft (nftables)"; exit 77; }
    fi
    use_ipopd "$ipopd"
    setup_traps
    hosts_topology ig "$n" server
    for ((i = 1; i <= n; i++)); do
        users+=("u$i:p$i")
    done
    start_prosody "${users[@]}"
    printf 'sesame\n' >"$WORK/secret"
    chmod 600 "$WORK/secret"
    for ((i = 1; i <= n; i++)); do
        ID[$i]=$(node_id "$IPOPD" "$WORK/n$i.key") || exit 1
        log "node $i: ${ID[$i]}"
    done
}

# write_group_config N [LINE...]: node N's config in $WORK/nN.conf, its
# password from a file; LINEs are added (default: the group's secret file).
write_group_config() {
    local n=$1
    shift
    [ $# -gt 0 ] || set -- "group.secret-file = $WORK/secret"
    printf 'p%s\n' "$n" >"$WORK/n$n.pass"
    chmod 600 "$WORK/n$n.pass"
    {
        cat <<EOF
# written by ${0##*/}
[vpn]
mode = tun
device = ipop0
address = $(GROUP_ADDRESS "$n")
identity.file = $WORK/n$n.key
link.timeout = $GROUP_LINK_TIMEOUT
overlay = group
xmpp.jid = u$n@ipop.test
xmpp.password-file = $WORK/n$n.pass
xmpp.server = $SERVER
xmpp.port = $XMPP_PORT
xmpp.server-fingerprint = $(cat "$WORK/xmpp/fingerprint")
group.room = $ROOM
EOF
        printf '%s\n' "$@"
    } >"$WORK/n$n.conf"
}

# group_start N...: starts ipopd of these nodes (PID[N]), each in its host
# namespace with its config, log $WORK/nN.log, control socket $WORK/nN.sock.
group_start() {
    local i
    for i in "$@"; do
        start_daemon "$(host_ns "$i")" "n$i" "$IPOPD" "$WORK/n$i.conf"
        # shellcheck disable=SC2034 # for the test that sources this
        PID[$i]=$!
    done
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

# net_field N FIELD: FIELD of node N's networks, summed; "rx_drops" sums
# their links'.
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

# wait_relayed_1_3: with hosts 1 and 3 blocked (block_hosts 1 3), waits
# until nodes 1 and 3 are linked with node 2 and reach each other through it.
# Generous: under ASan on a loaded machine an XMPP login alone (OpenSSL
# loading its CA bundle) has taken over a minute.
wait_relayed_1_3() {
    wait_for 120 "node 1 linked with node 2" direct 1 "${ID[2]}"
    wait_for 60 "node 3 linked with node 2" direct 3 "${ID[2]}"
    wait_for 60 "node 1 reaching node 3 through node 2 (ipopctl status --json)" relayed_via 1 "${ID[3]}" "${ID[2]}"
    wait_for 30 "node 3 reaching node 1 through node 2" relayed_via 3 "${ID[1]}" "${ID[2]}"
}
