#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# Two ipopd in TUN mode with a device MTU (1500) larger than a link
# carries (1410, IPOP_MAX_PACKET): a ping with DF set that is too big gets
# ICMP "fragmentation needed" (IPv6: "packet too big") with mtu 1410 back
# from ipopd, the kernel learns it, and a ping of 1410 bytes goes through;
# a TCP transfer works both ways, its SYNs' MSS clamped to 1410 - 40 (the
# receiver's accepted socket shows it), and ipopctl status counts the
# answers.
# Usage: tun-mtu.sh PATH-TO-IPOPD   (root; exits 77 otherwise)
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PORT=5401

# too_big NS DST SIZE WANT: a ping of SIZE bytes of payload with DF set
# from NS to DST fails, and its output says WANT (the MTU told).
too_big() {
    local out
    out=$(ip netns exec "$1" ping -c 1 -W 2 -M do -s "$3" "$2" 2>&1) &&
        fail "a ping of $3 bytes from $1 to $2 went through a link of 1410: $out"
    log "$1 -> $2, $3 bytes: $(echo "$out" | grep -i mtu | head -1)"
    echo "$out" | grep -Eq "$4" || fail "a ping of $3 bytes from $1 to $2 did not say '$4': $out"
}

# transfer FROM-NS TO-NS TO-ADDR MSS-MAX: 2 MB from FROM-NS to TO-ADDR,
# compared; the receiver's MSS is at most MSS-MAX.
transfer() {
    local from=$1 to=$2 addr=$3 ready=$WORK/ready.$PORT mss=$WORK/mss.$PORT answer pid
    ip netns exec "$to" python3 "$HERE/tcp-transfer.py" serve "$PORT" "$ready" "$mss" &
    pid=$!
    wait_for 10 "the TCP server in $to" test -e "$ready"
    answer=$(timeout 60 ip netns exec "$from" python3 "$HERE/tcp-transfer.py" send "$addr" "$PORT" "$WORK/data") ||
        fail "TCP transfer from $from to $addr failed"
    wait "$pid" || fail "the TCP server in $to failed"
    [ "$answer" = "$WANT" ] || fail "TCP transfer to $addr: got '$answer', sent '$WANT'"
    log "$from -> $addr: $answer, the receiver's MSS $(cat "$mss")"
    # without clamping: 1460 - 12 (timestamps) over IPv4, 1440 - 12 over IPv6
    [ "$(cat "$mss")" -le "$4" ] || fail "TCP from $from to $addr: MSS $(cat "$mss"), above $4: not clamped"
    PORT=$((PORT + 1))
}

main() {
    local ipopd=${1:-} ipopctl id_a id_b json
    require_root
    command -v python3 >/dev/null || { echo "SKIP: needs python3"; exit 77; }
    check_ipopd "$ipopd"
    ipopctl=$(dirname "$ipopd")/ipopctl
    [ -x "$ipopctl" ] || fail "no ipopctl next to $ipopd"
    setup_traps
    topology_create

    id_a=$(node_id "$ipopd" "$WORK/a.key") || exit 1
    id_b=$(node_id "$ipopd" "$WORK/b.key") || exit 1
    write_config "$WORK/a.conf" tun 10.10.0.1/24 fd10::1/64 "$WORK/a.key" "$UNDER_A" "$id_b" "$UNDER_B"
    write_config "$WORK/b.conf" tun 10.10.0.2/24 fd10::2/64 "$WORK/b.key" "$UNDER_B" "$id_a" "$UNDER_A"
    echo "mtu = 1500" >>"$WORK/a.conf"
    echo "mtu = 1500" >>"$WORK/b.conf"
    echo "device.offload = false" >>"$WORK/b.conf" # b reads one packet at a time, a with offloads
    start_daemon "$NS_A" a "$ipopd" "$WORK/a.conf"
    start_daemon "$NS_B" b "$ipopd" "$WORK/b.conf"
    wait_for 20 "a first ping from a to b over the overlay" ip netns exec "$NS_A" ping -c 1 -W 1 10.10.0.2
    wait_for 20 "a first IPv6 ping from a to b" ip netns exec "$NS_A" ping -6 -c 1 -W 1 fd10::2
    [ "$(ip netns exec "$NS_A" cat /sys/class/net/ipop0/mtu)" = 1500 ] || fail "ipop0 in a is not at mtu 1500"

    # TCP first, before any ICMP answer has taught the kernels a path MTU
    # (which would lower the MSS they offer by itself)
    head -c $((2 << 20)) /dev/urandom >"$WORK/data" || fail "cannot write the test data"
    WANT="$(sha256sum <"$WORK/data" | cut -d' ' -f1) $((2 << 20))"
    transfer "$NS_A" "$NS_B" 10.10.0.2 1370
    transfer "$NS_B" "$NS_A" 10.10.0.1 1370
    transfer "$NS_A" "$NS_B" fd10::2 1350
    transfer "$NS_B" "$NS_A" fd10::1 1350

    # 1472 + 28 = 1500 bytes: answered by ipopd a, then known to a's kernel
    too_big "$NS_A" 10.10.0.2 1472 "mtu ?= ?1410"
    too_big "$NS_A" 10.10.0.2 1472 "mtu ?= ?1410"
    ip netns exec "$NS_A" ping -c 1 -W 2 -M do -s 1382 10.10.0.2 >/dev/null ||
        fail "a ping of 1410 bytes from a to b did not go through"
    too_big "$NS_B" fd10::1 1452 "mtu ?= ?1410"
    ip netns exec "$NS_B" ping -6 -c 1 -W 2 -M do -s 1362 fd10::1 >/dev/null ||
        fail "an IPv6 ping of 1410 bytes from b to a did not go through"

    json=$("$ipopctl" --control "$WORK/a.sock" status --json) || fail "ipopctl status --json of a failed"
    log "a: $(echo "$json" | grep -o '"too_big[a-z_]*":[0-9]*' | tr '\n' ' ')"
    echo "$json" | grep -q '"too_big_answered":[1-9]' || fail "a counted no ICMP answer: $json"
    log "PASS"
}

main "$@"
