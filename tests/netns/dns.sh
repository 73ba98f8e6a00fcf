#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# ipopd's DNS server of the members' names (option dns), as a user asks it
# with dig: three ipopd members named node1..node3 (UDP signalling, TUN
# mode, IPv4 and IPv6 overlay addresses), each in its own namespace behind
# a router.  From node 1's namespace, its own server on its overlay address
# answers:
#   - node2.net0 A and AAAA with node 2's overlay addresses, NODE3.Net0 with
#     node 3's, node1.net0 with its own;
#   - nobody.net0: NXDOMAIN; example.com: REFUSED;
#   - a garbage datagram gets no answer and is counted as malformed
#     (ipopctl status --json, dns.malformed);
# node 2 asks node 1's server across the overlay; node 3, whose port 53 is
# taken, logs it and runs on.  With FAKE-RESOLVED (tests/netns/fake-resolved.c)
# on a private bus as node 1's system bus, node 1 registers its server and
# "~net0" for ipop0 with it, as with systemd-resolved; the others, without a
# bus, only note it in their debug log.
#
#   idr (router, 10.0.N.1) -- id1..id3 (10.0.N.2), overlay ipop0 10.30.0.N/24 fd30::N/64
#
# Usage: dns.sh PATH-TO-IPOPD [FAKE-RESOLVED]   (root; exits 77 otherwise).
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FAKE_RESOLVED=""
BUS_PID=""
RESOLVED_PID=""
declare -A ID

write_dns_config() {
    local n=$1 peers="" j
    for j in 1 2 3; do
        [ "$j" = "$n" ] || peers="$peers${peers:+;}${ID[$j]}@10.0.$j.2:5000"
    done
    cat >"$WORK/n$n.conf" <<EOF
# written by ${0##*/}
[net0]
mode = tun
device = ipop0
address = 10.30.0.$n/24;fd30::$n/64
identity.file = $WORK/n$n.key
link.timeout = 10
signal.listen = 10.0.$n.2:5000
signal.peers = $peers
name = node$n
EOF
}

# dig_in NS ARGS...: dig with one try and a short wait.
dig_in() {
    local ns=$1
    shift
    ip netns exec "$ns" dig +tries=1 +time=2 "$@"
}

# expect_short NS SERVER NAME TYPE ADDRESS: dig +short gives ADDRESS.
expect_short() {
    local got
    got=$(dig_in "$1" +short "@$2" "$3" "$4") || fail "dig @$2 $3 $4 failed: $got"
    [ "$got" = "$5" ] || fail "dig @$2 $3 $4 answered '$got', not $5"
    log "dig @$2 $3 $4: $got"
}

# expect_status NS SERVER NAME STATUS: the answer's status (NXDOMAIN, ...).
expect_status() {
    local out
    out=$(dig_in "$1" "@$2" "$3" A) || true
    grep -q "status: $4," <<<"$out" || {
        printf '%s\n' "$out" >&2
        fail "dig @$2 $3 did not answer $4"
    }
    log "dig @$2 $3: $4"
}

resolves() {
    [ "$(dig_in "$(host_ns 1)" +short @10.30.0.1 "$1" A 2>/dev/null)" = "$2" ]
}

# The stand-in resolved on a bus of its own: $WORK/bus, its calls in
# $WORK/resolved.out.
start_fake_resolved() {
    dbus-daemon --session --nofork --nopidfile --address="unix:path=$WORK/bus" 2>"$WORK/dbus.log" &
    BUS_PID=$!
    CLEANUP_HOOKS+=(stop_fake_resolved)
    wait_for 5 "dbus-daemon listening" test -S "$WORK/bus"
    "$1" "unix:path=$WORK/bus" >"$WORK/resolved.out" 2>"$WORK/resolved.err" &
    RESOLVED_PID=$!
    wait_for 5 "the fake resolved owning its name" grep -qx ready "$WORK/resolved.out"
}

stop_fake_resolved() {
    [ -n "${RESOLVED_PID:-}" ] && kill "$RESOLVED_PID" 2>/dev/null
    [ -n "${BUS_PID:-}" ] && kill "$BUS_PID" 2>/dev/null
    return 0
}

check_resolved_calls() {
    local idx
    idx=$(ip -n "$(host_ns 1)" -o link show ipop0 | cut -d: -f1)
    for want in "SetLinkDNS $idx 2:10.30.0.1 10:fd30::1" "SetLinkDomains $idx net0:true" \
        "SetLinkDefaultRoute $idx false"; do
        grep -qx "$want" "$WORK/resolved.out" || {
            cat "$WORK/resolved.out" >&2
            fail "node 1 did not call resolved's $want"
        }
    done
    grep -q "dns: registered with systemd-resolved" "$WORK/n1.log" || fail "node 1 did not log its registration"
    ! grep -q "warning: dns: systemd-resolved" "$WORK/n2.log" || fail "node 2, without a bus, warned about resolved"
    log "resolved (stand-in) got: $(grep -v ready "$WORK/resolved.out" | tr '\n' ';')"
}

dns_counter() {
    ctl 1 status --json | python3 -c '
import json, sys
print(json.load(sys.stdin)["networks"][0]["dns"][sys.argv[1]])' "$1"
}

main() {
    local i squatter
    require_root
    command -v dig >/dev/null || { log "SKIP: no dig (bind9-dnsutils)"; exit 77; }
    use_ipopd "${1:-}"
    FAKE_RESOLVED=${2:-}
    setup_traps
    hosts_topology id 3
    for i in 1 2 3; do
        ID[$i]=$(node_id "$IPOPD" "$WORK/n$i.key") || exit 1
    done
    # Port 53 of node 3's overlay address taken before ipopd binds it.
    ip netns exec "$(host_ns 3)" python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND: the address comes with ipopd
s.bind(("10.30.0.3", 53))
open(sys.argv[1], "w").close()
time.sleep(120)' "$WORK/squatting" &
    squatter=$!
    wait_for 5 "port 53 of 10.30.0.3 taken" test -e "$WORK/squatting"
    [ -z "$FAKE_RESOLVED" ] || start_fake_resolved "$FAKE_RESOLVED"
    for i in 1 2 3; do
        write_dns_config "$i"
        # node 1 alone has a system bus (the stand-in's)
        if [ "$i" = 1 ] && [ -n "$FAKE_RESOLVED" ]; then
            DBUS_SYSTEM_BUS_ADDRESS="unix:path=$WORK/bus" start_daemon "$(host_ns "$i")" "n$i" "$IPOPD" "$WORK/n$i.conf"
        else
            DBUS_SYSTEM_BUS_ADDRESS="unix:path=$WORK/no-bus" start_daemon "$(host_ns "$i")" "n$i" "$IPOPD" \
                "$WORK/n$i.conf"
        fi
    done
    wait_for 10 "node 1 answering on 10.30.0.1 port 53" \
        grep -q "dns: answering NAME.net0 on 10.30.0.1 port 53" "$WORK/n1.log"
    wait_for 10 "node 3 logging that port 53 is taken" \
        grep -q "warning: dns: cannot answer on 10.30.0.3 port 53: Address already in use" "$WORK/n3.log"
    # Names are known once the links are up (they come with the offers).
    wait_for 30 "node2.net0 resolving at node 1" resolves node2.net0 10.30.0.2
    wait_for 30 "node3.net0 resolving at node 1" resolves node3.net0 10.30.0.3

    expect_short "$(host_ns 1)" 10.30.0.1 node2.net0 A 10.30.0.2
    expect_short "$(host_ns 1)" 10.30.0.1 node2.net0 AAAA fd30::2
    expect_short "$(host_ns 1)" 10.30.0.1 NODE3.Net0 A 10.30.0.3
    expect_short "$(host_ns 1)" 10.30.0.1 node1.net0 A 10.30.0.1
    # the IPv6 socket (its address may take a moment: duplicate address detection)
    wait_for 10 "node 1 answering on [fd30::1]" \
        ip netns exec "$(host_ns 1)" dig +tries=1 +time=1 +short @fd30::1 node2.net0 AAAA
    expect_short "$(host_ns 1)" fd30::1 node2.net0 AAAA fd30::2
    expect_status "$(host_ns 1)" 10.30.0.1 nobody.net0 NXDOMAIN
    expect_status "$(host_ns 1)" 10.30.0.1 example.com REFUSED
    # across the overlay: node 2 asks node 1's server (names are known from
    # the offers, before the links carry packets: wait for the link)
    wait_for 20 "an overlay ping from node 2 to node 1" \
        ip netns exec "$(host_ns 2)" ping -c 1 -W 1 10.30.0.1
    expect_short "$(host_ns 2)" 10.30.0.1 node3.net0 A 10.30.0.3

    # garbage: no answer, counted
    ip netns exec "$(host_ns 1)" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
s.sendto(b"\xff" * 40, ("10.30.0.1", 53))
try:
    s.recv(600)
    raise SystemExit("an answer to garbage")
except socket.timeout:
    pass' || fail "node 1 answered a garbage datagram"
    [ "$(dns_counter malformed)" -ge 1 ] || fail "ipopctl status --json does not count the garbage as malformed"
    [ "$(dns_counter nxdomain)" -ge 1 ] || fail "ipopctl status --json counts no NXDOMAIN"
    ctl 1 status | grep "dns:" >&2
    kill "$squatter"
    [ -z "$FAKE_RESOLVED" ] || check_resolved_calls
    log "PASS"
}

main "$@"
