#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# Two ipopd in TUN (or TAP) mode, a with device offloads (device.offload =
# true, the default), b without (false): TCP transfers of 8 MB cross the
# overlay both ways, over IPv4 and IPv6, and arrive byte for byte (SHA-256
# and length compared).  a's kernel hands over TCP super-segments (TAP:
# super-frames) that the library splits, and a merges the segments that
# come from b before it writes them to its device; b reads and writes one
# packet at a time.
# Usage: tun-tcp.sh PATH-TO-IPOPD [tun|tap]   (root; exits 77 otherwise)
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PORT=5301

# transfer FROM-NS TO-NS TO-ADDR: sends $WORK/data from FROM-NS to a server
# in TO-NS and compares what arrived.
transfer() {
    local from=$1 to=$2 addr=$3 ready=$WORK/ready.$PORT answer pid
    ip netns exec "$to" python3 "$HERE/tcp-transfer.py" serve "$PORT" "$ready" &
    pid=$!
    wait_for 10 "the TCP server in $to" test -e "$ready"
    answer=$(timeout 120 ip netns exec "$from" python3 "$HERE/tcp-transfer.py" send "$addr" "$PORT" "$WORK/data") ||
        fail "TCP transfer from $from to $addr failed"
    wait "$pid" || fail "the TCP server in $to failed"
    log "$from -> $addr: $answer"
    [ "$answer" = "$WANT" ] || fail "TCP transfer to $addr: got '$answer', sent '$WANT'"
    PORT=$((PORT + 1))
}

# per_packet NS tx|rx: ipop0's bytes per packet in that direction (0 when
# it saw none), logged.
per_packet() {
    local bytes packets
    bytes=$(ip netns exec "$1" cat "/sys/class/net/ipop0/statistics/$2_bytes") || fail "no $2_bytes of ipop0 in $1"
    packets=$(ip netns exec "$1" cat "/sys/class/net/ipop0/statistics/$2_packets") || fail "no $2_packets of ipop0 in $1"
    log "$1: ipop0 $2 $bytes bytes in $packets packets"
    if [ "$packets" -gt 0 ]; then
        echo $((bytes / packets))
    else
        echo 0
    fi
}

# check_super_segments NS more|fewer: the kernel counts a super-segment as
# one packet; more bytes per packet than the MTU on ipop0's TX side shows
# that the kernel handed super-segments over (TSO), on its RX side that
# ipopd wrote merged ones (GRO): the offloads were used, not merely asked
# for.  "fewer": more than none, and no more than the MTU, either way.
check_super_segments() {
    local dir size max
    # the largest packet the device takes: its MTU (TAP: and the link header)
    max=$(ip netns exec "$1" cat /sys/class/net/ipop0/mtu) || fail "no MTU of ipop0 in $1"
    [ "$MODE" = tap ] && max=$((max + 14))
    for dir in tx rx; do
        size=$(per_packet "$1" "$dir") || exit 1
        if [ "$2" = more ] && [ "$size" -le "$max" ]; then
            fail "ipop0 in $1: $size bytes per $dir packet, no TCP super-segments"
        elif [ "$2" = fewer ] && { [ "$size" -eq 0 ] || [ "$size" -gt "$max" ]; }; then
            fail "ipop0 in $1, without offloads: $size bytes per $dir packet"
        fi
    done
    # For the record: with UDP GSO the underlay, too, carries fewer, larger packets.
    log "$1: eth0 sent $(ip netns exec "$1" cat /sys/class/net/eth0/statistics/tx_bytes) bytes in" \
        "$(ip netns exec "$1" cat /sys/class/net/eth0/statistics/tx_packets) packets"
}

main() {
    local ipopd=${1:-} id_a id_b
    MODE=${2:-tun}
    require_root
    command -v python3 >/dev/null || { echo "SKIP: needs python3"; exit 77; }
    command -v sha256sum >/dev/null || { echo "SKIP: needs sha256sum"; exit 77; }
    check_ipopd "$ipopd"
    setup_traps
    topology_create

    id_a=$(node_id "$ipopd" "$WORK/a.key") || exit 1
    id_b=$(node_id "$ipopd" "$WORK/b.key") || exit 1
    case $MODE in tun | tap) ;; *) log "unknown mode $MODE"; exit 2 ;; esac
    write_config "$WORK/a.conf" "$MODE" 10.10.0.1/24 fd10::1/64 "$WORK/a.key" "$UNDER_A" "$id_b" "$UNDER_B"
    write_config "$WORK/b.conf" "$MODE" 10.10.0.2/24 fd10::2/64 "$WORK/b.key" "$UNDER_B" "$id_a" "$UNDER_A"
    echo "device.offload = true" >>"$WORK/a.conf"
    echo "device.offload = false" >>"$WORK/b.conf"
    start_daemon "$NS_A" a "$ipopd" "$WORK/a.conf"
    start_daemon "$NS_B" b "$ipopd" "$WORK/b.conf"
    wait_for 20 "a first ping from a to b over the overlay" \
        ip netns exec "$NS_A" ping -c 1 -W 1 10.10.0.2
    wait_for 20 "a first IPv6 ping from a to b" \
        ip netns exec "$NS_A" ping -6 -c 1 -W 1 fd10::2
    grep -q "device ipop0 up, mtu [0-9]*, offloads" "$WORK/a.log" || fail "ipopd a did not open its device with offloads"
    grep -q "device ipop0 up, mtu [0-9]*$" "$WORK/b.log" || fail "ipopd b opened its device with offloads"

    head -c $((8 << 20)) /dev/urandom >"$WORK/data" || fail "cannot write the test data"
    WANT="$(sha256sum <"$WORK/data" | cut -d' ' -f1) $((8 << 20))"
    transfer "$NS_A" "$NS_B" 10.10.0.2
    transfer "$NS_B" "$NS_A" 10.10.0.1
    transfer "$NS_A" "$NS_B" fd10::2
    transfer "$NS_B" "$NS_A" fd10::1
    check_super_segments "$NS_A" more
    check_super_segments "$NS_B" fewer
    log "PASS"
}

main "$@"
