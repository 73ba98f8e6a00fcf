#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# TAP: a neighbour asked for before the link is up is found when it comes up.
#
# a pings b's overlay addresses (IPv4 and IPv6) while b's ipopd is not even
# running: a's kernel sends its ARP request and neighbour solicitation, and
# they reach no link.  Its retransmission time is set to 120 s here, so the
# kernel does not ask again while the test runs; the pings (waiting up to
# 60 s) are answered only if ipopd hands the requests it kept to the link
# when b comes up.  Without that, a user's first ping in mode tap waits for
# the kernel's next try (1 s by default).
# Usage: tap-early.sh PATH-TO-IPOPD   (root; exits 77 otherwise)
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ipopd=${1:-}
require_root
check_ipopd "$ipopd"
setup_traps
topology_create

id_a=$(node_id "$ipopd" "$WORK/a.key") || exit 1
id_b=$(node_id "$ipopd" "$WORK/b.key") || exit 1
write_config "$WORK/a.conf" tap 10.10.0.1/24 fd10::1/64 "$WORK/a.key" "$UNDER_A" "$id_b" "$UNDER_B"
write_config "$WORK/b.conf" tap 10.10.0.2/24 fd10::2/64 "$WORK/b.key" "$UNDER_B" "$id_a" "$UNDER_A"

start_daemon "$NS_A" a "$ipopd" "$WORK/a.conf"
wait_for 20 "ipop0 with 10.10.0.1 and fd10::1 in a" sh -c \
    "ip -n '$NS_A' addr show dev ipop0 | grep -q 'inet 10.10.0.1/24' &&
     ip -n '$NS_A' addr show dev ipop0 | grep -q 'inet6 fd10::1/64'"
# One try each, then silence for two minutes (the counts keep the kernel
# from giving up on the entry before that).
ip netns exec "$NS_A" sysctl -qw net.ipv4.neigh.ipop0.retrans_time_ms=120000 \
    net.ipv6.neigh.ipop0.retrans_time_ms=120000 || fail "cannot set the neighbour retransmission time"

ip netns exec "$NS_A" ping -c 1 -W 60 10.10.0.2 >"$WORK/ping4.out" 2>&1 &
ping4=$!
ip netns exec "$NS_A" ping -6 -c 1 -W 60 fd10::2 >"$WORK/ping6.out" 2>&1 &
ping6=$!
# The requests are out, and went nowhere: b does not run yet.
wait_for 10 "a's kernel to ask for 10.10.0.2 and fd10::2" sh -c \
    "ip -n '$NS_A' neigh show dev ipop0 10.10.0.2 | grep -q INCOMPLETE &&
     ip -n '$NS_A' -6 neigh show dev ipop0 fd10::2 | grep -q INCOMPLETE"
log "a asked for b's addresses; starting b"

start_daemon "$NS_B" b "$ipopd" "$WORK/b.conf"
wait_for 20 "the link in a's log" grep -q "ipopd: link to ${id_b:0:8} connected" "$WORK/a.log"

wait "$ping4" || { cat "$WORK/ping4.out" >&2; fail "the IPv4 ping asked before the link was up was not answered"; }
wait "$ping6" || { cat "$WORK/ping6.out" >&2; fail "the IPv6 ping asked before the link was up was not answered"; }
grep -E 'rtt|packets' "$WORK/ping4.out" "$WORK/ping6.out" >&2
check_arp
log "PASS"
