#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# ipopd's /metrics with real traffic: two ipopd in TUN mode in two
# namespaces behind a router, each serving metrics on its own loopback
# (metrics.listen = 127.0.0.1:9464).  The link shows up connected and
# direct; 20 pings through the overlay make a's tx and rx packet and byte
# counters of the link grow by at least 20 (and 20 * 84 bytes), and b's
# likewise; every scrape parses strictly (tests/daemon/promtext.py), and
# `ipopctl metrics` gives the same counters through the control socket.
# Usage: metrics.sh PATH-TO-IPOPD   (root; exits 77 otherwise)
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
URL=http://127.0.0.1:9464/metrics

# read_metrics NS PEER: "up path tx_pkts rx_pkts tx_bytes rx_bytes rtt links_connected"
read_metrics() {
    ip netns exec "$1" python3 "$HERE/metrics-read.py" "$URL" net0 "$2"
}

link_up_in() {
    local m
    m=$(read_metrics "$1" "$2") || return 1
    [ "${m%% *}" = 1 ]
}

main() {
    local ipopd=$1 id_a id_b before after ctl_out
    require_root
    check_ipopd "$ipopd"
    command -v python3 >/dev/null || { echo "SKIP: needs python3"; exit 77; }
    setup_traps
    topology_create
    id_a=$(node_id "$ipopd" "$WORK/a.key") || exit 1
    id_b=$(node_id "$ipopd" "$WORK/b.key") || exit 1
    write_config "$WORK/a.net" tun 10.10.0.1/24 fd10::1/64 "$WORK/a.key" "$UNDER_A" "$id_b" "$UNDER_B"
    write_config "$WORK/b.net" tun 10.10.0.2/24 fd10::2/64 "$WORK/b.key" "$UNDER_B" "$id_a" "$UNDER_A"
    for n in a b; do
        printf '[ipopd]\nmetrics.listen = 127.0.0.1:9464\n\n' | cat - "$WORK/$n.net" >"$WORK/$n.conf"
        "$ipopd" --check --config "$WORK/$n.conf" >/dev/null || fail "ipopd --check refused $n.conf"
    done
    start_daemon "$NS_A" a "$ipopd" "$WORK/a.conf"
    start_daemon "$NS_B" b "$ipopd" "$WORK/b.conf"
    wait_for 20 "a's /metrics showing the link to b up" link_up_in "$NS_A" "$id_b"
    wait_for 20 "b's /metrics showing the link to a up" link_up_in "$NS_B" "$id_a"
    grep -q "metrics and status page on http://127.0.0.1:9464/" "$WORK/a.log" || fail "a did not log its metrics address"
    wait_for 20 "a first ping from a to b over the overlay" ip netns exec "$NS_A" ping -c 1 -W 1 10.10.0.2

    before=$(read_metrics "$NS_A" "$id_b") || fail "a's /metrics does not parse"
    local before_b
    before_b=$(read_metrics "$NS_B" "$id_a") || fail "b's /metrics does not parse"
    log "a before: $before"
    ping_ok "$NS_A" -c 20 -i 0.05 -W 2 10.10.0.2
    after=$(read_metrics "$NS_A" "$id_b") || fail "a's /metrics does not parse"
    local after_b
    after_b=$(read_metrics "$NS_B" "$id_a") || fail "b's /metrics does not parse"
    log "a after:  $after"
    log "b: $before_b -> $after_b"
    # shellcheck disable=SC2086
    set -- $before
    local tx0=$3 rx0=$4 txb0=$5 rxb0=$6
    # shellcheck disable=SC2086
    set -- $after
    [ "$1" = 1 ] && [ "$2" = direct ] || fail "a: link to b not up and direct: $after"
    [ "$8" = 1 ] || fail "a: ipop_links{state=connected} is $8, want 1"
    [ "$7" != - ] || fail "a: no RTT for the link"
    (($3 - tx0 >= 20 && $4 - rx0 >= 20)) || fail "a: packets grew by tx $(($3 - tx0)) rx $(($4 - rx0)), want 20 each"
    (($5 - txb0 >= 20 * 84 && $6 - rxb0 >= 20 * 84)) ||
        fail "a: bytes grew by tx $(($5 - txb0)) rx $(($6 - rxb0)), want 20 * 84 each"
    # shellcheck disable=SC2086
    set -- $before_b
    local btx0=$3 brx0=$4
    # shellcheck disable=SC2086
    set -- $after_b
    (($3 - btx0 >= 20 && $4 - brx0 >= 20)) || fail "b: packets grew by tx $(($3 - btx0)) rx $(($4 - brx0))"

    # The same through the control socket.
    ctl_out=$("$(dirname "$ipopd")/ipopctl" --control "$WORK/a.sock" metrics) || fail "ipopctl metrics failed"
    printf '%s\n' "$ctl_out" | python3 "$HERE/metrics-read.py" - net0 "$id_b" >"$WORK/ctl.read" ||
        fail "ipopctl metrics does not parse"
    # shellcheck disable=SC2046
    set -- $(cat "$WORK/ctl.read")
    [ "$1" = 1 ] || fail "ipopctl metrics: link not up: $(cat "$WORK/ctl.read")"
    log "ipopctl metrics: $(cat "$WORK/ctl.read")"
    log "PASS"
}

main "${1:-}"
