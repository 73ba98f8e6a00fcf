#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# Subnet routes (options routes and accept-routes), GroupVPN with real
# ipopd processes in TUN mode: a private prosody, three members, and a
# "printer" that runs no VPN on a LAN behind member A.
#   - A announces 192.168.77.0/24 (routes); B takes it (accept-routes):
#     the route is on B's ipop0, B pings the printer through A and gets
#     answers, and ipopctl status (text and --json) on B shows the route on
#     its link to A;
#   - C does not take it: no route on its ipop0, and even with a route
#     added by hand its packets go nowhere (the library counts them in
#     no_route);
#   - C sends B packets whose source is inside A's prefix (a raw socket):
#     B drops them, counted in the rx_drops of its link to C (ipopctl
#     status --json), while the same packets from C's own address are
#     delivered;
#   - ipopd --check refuses a prefix with host bits set;
#   - A stops: B's route to the LAN goes from its ipop0.
#
#   rts (prosody 10.99.0.2) -- rtr (router 10.99.0.1, 10.0.N.1) -- rt1..rt3 (10.0.N.2)
#   rt1 lan0 192.168.77.1/24 -- rtp (printer 192.168.77.2/24)
#   overlay: ipop0 10.20.0.N/24
#
# Usage: routes.sh PATH-TO-IPOPD   (root; exits 77 otherwise).  ipopctl is
# taken from the same directory.
#
# The group set-up (prosody, configs, ctl, connected_to) is copied from
# group.sh for now: a shared helper in lib.sh is under way.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NS_R="rtr-$$"
NS_S="rts-$$"
NS_P="rtp-$$"
SERVER=10.99.0.2
XMPP_PORT=5222
ROOM=vpn@rooms.ipop.test
PRINTER=192.168.77.2
LAN=192.168.77.0/24
IPOPD=""
IPOPCTL=""
declare -A ID PID

host_ns() { printf 'rt%s-%s' "$1" "$$"; }

topology() {
    local i
    add_ns "$NS_R"
    add_ns "$NS_S"
    add_ns "$NS_P"
    ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
    link_to_router "$NS_S" eth0 rs 10.99.0.1 "$SERVER"
    for i in 1 2 3; do
        add_ns "$(host_ns "$i")"
        link_to_router "$(host_ns "$i")" eth0 "r$i" "10.0.$i.1" "10.0.$i.2"
    done
    # The LAN behind A: A forwards between it and the overlay; the printer
    # routes everything through A (as a home router would be told to).
    ip -n "$(host_ns 1)" link add lan0 type veth peer name eth0 netns "$NS_P" || fail "veth lan"
    ip -n "$(host_ns 1)" addr add 192.168.77.1/24 dev lan0
    ip -n "$(host_ns 1)" link set lan0 up
    ip -n "$NS_P" addr add "$PRINTER/24" dev eth0
    ip -n "$NS_P" link set eth0 up
    ip -n "$NS_P" route add default via 192.168.77.1
    ip netns exec "$(host_ns 1)" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$(host_ns 1)" sysctl -qw net.ipv4.conf.all.rp_filter=0
    for i in 1 2 3; do
        wait_for 5 "the underlay (host $i to the server)" ip netns exec "$(host_ns "$i")" ping -c 1 -W 1 "$SERVER"
    done
    wait_for 5 "the LAN (A to the printer)" ip netns exec "$(host_ns 1)" ping -c 1 -W 1 "$PRINTER"
}

# write_config N EXTRA_LINE: node N's config.
write_config() {
    local n=$1 extra=$2
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
group.secret-file = $WORK/secret
name = node$n
$extra
EOF
}

ctl() {
    local n=$1
    shift
    "$IPOPCTL" --control "$WORK/n$n.sock" "$@"
}

# json N EXPR: evaluates EXPR (python, with `doc` the status document,
# `net` its first network and `link(peer_id)` the link to that peer) on
# node N's ipopctl status --json and prints the result.
json() {
    local out
    out=$(ctl "$1" status --json) || return 1
    printf '%s' "$out" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
net = doc["networks"][0]
def link(peer):
    return next((l for l in net["links"] if l["peer_id"] == peer), None)
print(eval(sys.argv[1]))' "$2" || fail "ipopctl status --json of node $1 is not the JSON expected: $out"
}

connected_to() { [ "$(json "$1" "(link('$2') or {}).get('state')")" = connected ]; }
all_linked() {
    local i j
    for i in 1 2 3; do
        for j in 1 2 3; do
            [ "$i" = "$j" ] || connected_to "$i" "${ID[$j]}" || return 1
        done
    done
}
has_lan_route() { ip -n "$(host_ns "$1")" route show "$LAN" | grep -q "dev ipop0"; }
no_lan_route() { ! has_lan_route "$@"; }

# spoof N SRC DST COUNT: node N writes COUNT ICMP echo requests from SRC to
# DST through its ipop0 (a raw socket: the kernel takes the header as is).
spoof() {
    ip netns exec "$(host_ns "$1")" python3 - "$2" "$3" "$4" <<'EOF'
import socket, struct, sys
src, dst, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for seq in range(count):
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x7777, seq) + b"routes.sh"
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.sendto(ip + icmp, (dst, 0))
EOF
}

main() {
    local i drops0 drops1 rx0 rx1 no_route0 no_route1 text
    require_root
    require_tools
    use_ipopd "${1:-}"
    setup_traps
    topology
    start_prosody u1:p1 u2:p2 u3:p3 # (lib.sh: stopped at exit)
    printf 'sesame-routes-test-secret-0123456789\n' >"$WORK/secret"
    chmod 600 "$WORK/secret"
    for i in 1 2 3; do
        ID[$i]=$(node_id "$IPOPD" "$WORK/n$i.key") || exit 1
        log "node $i: ${ID[$i]}"
    done

    write_config 1 "routes = 192.168.77.1/24"
    "$IPOPD" --check --config "$WORK/n1.conf" >/dev/null 2>&1 &&
        fail "ipopd --check took routes = 192.168.77.1/24 (host bits set)"
    write_config 1 "routes = $LAN"
    write_config 2 "accept-routes = true"
    write_config 3 ""
    for i in 1 2 3; do
        "$IPOPD" --check --config "$WORK/n$i.conf" >/dev/null || fail "ipopd --check refused n$i.conf"
    done
    ip netns exec "$(host_ns 2)" ping -c 1 -W 1 "$PRINTER" >/dev/null 2>&1 && fail "the printer answers B before ipopd runs"

    for i in 1 2 3; do
        start_daemon "$(host_ns "$i")" "n$i" "$IPOPD" "$WORK/n$i.conf"
        PID[$i]=$!
    done
    wait_for 40 "every member linked with every other (ipopctl status --json)" all_linked

    # B took the route: on its device, in its status, and the printer answers.
    wait_for 10 "the route to $LAN on B's ipop0" has_lan_route 2
    ping_ok "$(host_ns 2)" -c 3 -i 0.2 -W 2 "$PRINTER"
    [ "$(json 2 "link('${ID[1]}')['route_list']")" = "['$LAN']" ] ||
        fail "B's status does not show $LAN on its link to A: $(json 2 "link('${ID[1]}')")"
    [ "$(json 2 "net['routes']")" = 1 ] || fail "B's network does not count 1 route taken"
    text=$(ctl 2 status) || fail "ipopctl status on B failed"
    grep -q "routes: $LAN" <<<"$text" || fail "ipopctl status on B does not show the route: $text"
    grep -q "route $LAN via peer" "$WORK/n2.log" || fail "B did not log the route it took"

    # C did not take it: no route, and a route by hand leads nowhere.
    has_lan_route 3 && fail "C (no accept-routes) has a route to $LAN on its ipop0"
    [ "$(json 3 "link('${ID[1]}')['route_list']")" = "[]" ] || fail "C shows routes on its link to A"
    grep -q "not taken (accept-routes is false)" "$WORK/n3.log" || fail "C did not log that it ignores A's routes"
    ip -n "$(host_ns 3)" route add "$LAN" dev ipop0
    no_route0=$(json 3 "net['no_route']")
    ip netns exec "$(host_ns 3)" ping -c 2 -i 0.2 -W 1 "$PRINTER" >/dev/null 2>&1 &&
        fail "C (no accept-routes) reaches the printer"
    no_route1=$(json 3 "net['no_route']")
    [ "$no_route1" -ge $((no_route0 + 2)) ] ||
        fail "C's packets to the printer were not counted in no_route ($no_route0 -> $no_route1)"
    log "C without accept-routes: no route, its packets to the LAN dropped (no_route $no_route0 -> $no_route1)"

    # Sources inside A's prefix are A's only: from C, B drops them.
    drops0=$(json 2 "link('${ID[3]}')['rx_drops']")
    rx0=$(json 2 "link('${ID[3]}')['rx_packets']")
    spoof 3 10.20.0.3 10.20.0.2 5 || fail "cannot send from C's own address"
    wait_for 5 "B delivering 5 packets from C's own address" \
        sh -c "[ \"\$('$IPOPCTL' --control '$WORK/n2.sock' status --json | python3 -c '
import json, sys
print(next(l for l in json.load(sys.stdin)[\"networks\"][0][\"links\"] if l[\"peer_id\"] == \"${ID[3]}\")[\"rx_packets\"])')\" -ge $((rx0 + 5)) ]"
    drops1=$(json 2 "link('${ID[3]}')['rx_drops']")
    [ "$drops1" -lt $((drops0 + 5)) ] || fail "B dropped C's packets from its own address ($drops0 -> $drops1)"
    drops0=$drops1
    spoof 3 192.168.77.9 10.20.0.2 5 || fail "cannot send from a spoofed address"
    wait_for 5 "B dropping 5 packets from C with a source in A's prefix" \
        sh -c "[ \"\$('$IPOPCTL' --control '$WORK/n2.sock' status --json | python3 -c '
import json, sys
print(next(l for l in json.load(sys.stdin)[\"networks\"][0][\"links\"] if l[\"peer_id\"] == \"${ID[3]}\")[\"rx_drops\"])')\" -ge $((drops0 + 5)) ]"
    log "B: 5 packets from C with source 192.168.77.9 dropped (rx_drops $drops0 -> $(json 2 "link('${ID[3]}')['rx_drops']"))"

    # A leaves: B's route goes with its link.
    stop_daemon "${PID[1]}"
    wait_for 20 "the route to $LAN gone from B's ipop0" no_lan_route 2
    [ "$(json 2 "net['routes']")" = 0 ] || fail "B still counts routes after A left"
    log "PASS"
}

main "$@"
