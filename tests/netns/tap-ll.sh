#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# Two ipopd in TAP mode whose kernels make link-local addresses not derived
# from the MAC (issue 18): a's random (addr_gen_mode 3), b's stable-privacy
# (2, NetworkManager's default).  Neighbour discovery finds each other's
# fe80:: address and ping6 to it crosses the link both ways.  Before the
# link-local table, the neighbour ended FAILED.
# Usage: tap-ll.sh PATH-TO-IPOPD   (root; exits 77 otherwise)
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ipopd=${1:-}
require_root
check_ipopd "$ipopd"
setup_traps
topology_create
ip netns exec "$NS_A" sysctl -qw net.ipv6.conf.default.addr_gen_mode=3
ip netns exec "$NS_B" sysctl -qw net.ipv6.conf.default.stable_secret=2001:db8:1:2:3:4:5:6
ip netns exec "$NS_B" sysctl -qw net.ipv6.conf.default.addr_gen_mode=2
id_a=$(node_id "$ipopd" "$WORK/a.key") || exit 1
id_b=$(node_id "$ipopd" "$WORK/b.key") || exit 1
write_config "$WORK/a.conf" tap 10.10.0.1/24 fd10::1/64 "$WORK/a.key" "$UNDER_A" "$id_b" "$UNDER_B"
write_config "$WORK/b.conf" tap 10.10.0.2/24 fd10::2/64 "$WORK/b.key" "$UNDER_B" "$id_a" "$UNDER_A"
start_daemon "$NS_A" a "$ipopd" "$WORK/a.conf"
start_daemon "$NS_B" b "$ipopd" "$WORK/b.conf"
wait_for 20 "a first ping from a to b over the overlay" ip netns exec "$NS_A" ping -c 1 -W 1 10.10.0.2

ll_of() { ip -n "$1" -6 addr show dev ipop0 scope link | awk '/inet6/ {sub(/\/.*/, "", $2); print $2; exit}'; }
wait_for 20 "a link-local address in a" sh -c "ip -n '$NS_A' -6 addr show dev ipop0 scope link | grep -q inet6"
wait_for 20 "a link-local address in b" sh -c "ip -n '$NS_B' -6 addr show dev ipop0 scope link | grep -q inet6"
ll_a=$(ll_of "$NS_A")
ll_b=$(ll_of "$NS_B")
log "a: $ll_a, b: $ll_b"
# neither is derived from its MAC (no ff:fe in the middle)
case "$ll_a$ll_b" in *ff:fe*) fail "a link-local address of EUI-64 form: the test proves nothing" ;; esac
wait_for 20 "a first ping6 from a to b's link-local address" ip netns exec "$NS_A" ping -6 -c 1 -W 1 "$ll_b%ipop0"
ping_ok "$NS_A" -6 -c 3 -W 2 "$ll_b%ipop0"
ping_ok "$NS_B" -6 -c 3 -W 2 "$ll_a%ipop0"
ip -n "$NS_A" -6 neigh show dev ipop0 | grep -q "^$ll_b .*\(REACHABLE\|STALE\|DELAY\|PROBE\)" ||
    fail "a has no neighbour entry for b's link-local address"
log "ok"
