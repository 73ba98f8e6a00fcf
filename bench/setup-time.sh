#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# Setup time of a GroupVPN: from starting two ipopd to the first ping reply
# through the overlay, on one LAN with a private prosody.
#
#   bench/setup-time.sh PATH-TO-IPOPD [RUNS]     (root; default 10 runs)
#
#   bsa (10.0.0.1) --+
#   bsb (10.0.0.2) --+-- br0 in bsw
#   bss (10.0.0.3, prosody) --+
#   overlay: ipop0 10.20.0.1/24 and 10.20.0.2/24, TUN mode
#
# Each run: a ping from a to 10.20.0.2 every 10 ms is already going (the
# overlay subnet is routed into lo until ipop0 exists, so the pings are
# sent and lost); then both ipopd start at once.  The time is the ping's
# own timestamp (-D) of the first reply minus the start time.  Prints
# each run, the median, and the timeline of the median run from both logs
# (ipopd -v, each line stamped as it arrives).  Identities exist before
# the first run, and prosody runs throughout: the time is a restart's.
# shellcheck source=../tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/netns/lib.sh"

SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NS_SW="bsw-$$"
NS_A="bsa-$$"
NS_B="bsb-$$"
NS_S="bss-$$"
SERVER=10.0.0.3
XMPP_PORT=5222
IPOPD=""
RUNS=10

setup_lan() {
    local ns addr i=0
    add_ns "$NS_SW"
    ip -n "$NS_SW" link add br0 type bridge
    ip -n "$NS_SW" link set br0 up
    for ns in "$NS_A" "$NS_B" "$NS_S"; do
        i=$((i + 1))
        addr=10.0.0.$i
        add_ns "$ns"
        ip -n "$ns" link add eth0 type veth peer name "p$i" netns "$NS_SW" || fail "veth $ns"
        ip -n "$NS_SW" link set "p$i" master br0 up
        ip -n "$ns" addr add "$addr/24" dev eth0
        ip -n "$ns" link set eth0 up
    done
    # Before ipop0 exists, the overlay goes nowhere (no error for ping).
    ip -n "$NS_A" route add 10.20.0.0/16 dev lo
    wait_for 5 "the LAN" ip netns exec "$NS_A" ping -c 1 -W 1 "$SERVER"
    wait_for 5 "the LAN" ip netns exec "$NS_B" ping -c 1 -W 1 "$SERVER"
}

start_prosody() {
    chmod 711 "$WORK"
    mkdir "$WORK/xmpp"
    ip netns exec "$NS_S" bash "$SRCDIR/tests/servers/prosody.sh" start "$WORK/xmpp" "$SERVER" "$XMPP_PORT" \
        u1:p1 u2:p2 >"$WORK/prosody-start.out" 2>&1 || {
        cat "$WORK/prosody-start.out" >&2
        fail "prosody did not start"
    }
}

stop_prosody() {
    [ -d "$WORK/xmpp" ] && bash "$SRCDIR/tests/servers/prosody.sh" stop "$WORK/xmpp"
}

write_config() {
    local n=$1
    cat >"$WORK/n$n.conf" <<EOF
[vpn]
mode = tun
device = ipop0
address = 10.20.0.$n/24
identity.file = $WORK/n$n.key
overlay = group
xmpp.jid = u$n@ipop.test
xmpp.password = p$n
xmpp.server = $SERVER
xmpp.port = $XMPP_PORT
xmpp.server-fingerprint = $(cat "$WORK/xmpp/fingerprint")
group.room = bench@rooms.ipop.test
group.secret = bench
EOF
}

# Stamps each line with the wall clock (the clock of ping -D).
stamp() {
    local line
    while IFS= read -r line; do
        printf '%s %s\n' "$EPOCHREALTIME" "$line"
    done
}

# run N: one measurement, in RESULT (milliseconds).  Not in a subshell:
# the daemons must be this shell's children, for the cleanup.
run() {
    local n=$1 ping_pid t0 t1 pa pb
    ip netns exec "$NS_A" ping -D -n -i 0.01 -c 1 -w 30 10.20.0.2 >"$WORK/ping.$n" 2>&1 &
    ping_pid=$!
    sleep 0.3 # ping is sending
    t0=$EPOCHREALTIME
    ip netns exec "$NS_A" "$IPOPD" -v --config "$WORK/n1.conf" --control "$WORK/n1.sock" \
        </dev/null >/dev/null 2> >(stamp >"$WORK/a.$n.log") &
    pa=$!
    ip netns exec "$NS_B" "$IPOPD" -v --config "$WORK/n2.conf" --control "$WORK/n2.sock" \
        </dev/null >/dev/null 2> >(stamp >"$WORK/b.$n.log") &
    pb=$!
    DAEMON_PIDS+=("$pa" "$pb")
    wait "$ping_pid" || { cat "$WORK/ping.$n" "$WORK/a.$n.log" >&2; fail "run $n: no ping reply within 30 s"; }
    t1=$(sed -n 's/^\[\([0-9.]*\)\] .* bytes from .*/\1/p' "$WORK/ping.$n" | head -n 1)
    [ -n "$t1" ] || fail "run $n: no reply line in $(cat "$WORK/ping.$n")"
    echo "$t0" >"$WORK/t0.$n"
    stop_daemon "$pa"
    stop_daemon "$pb"
    # Both have left the room before the next run.
    sleep 0.5
    RESULT=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d\n", (b - a) * 1000 + 0.5 }')
}

# timeline N: both logs of run N up to the first ping reply, times
# relative to the start.
timeline() {
    local n=$1
    {
        sed 's/^\([0-9.]*\) /\1 a: /' "$WORK/a.$n.log"
        sed 's/^\([0-9.]*\) /\1 b: /' "$WORK/b.$n.log"
        sed -n 's/^\[\([0-9.]*\)\] \(.* bytes from .*\)/\1 a: ping: \2/p' "$WORK/ping.$n" | head -n 1
    } | sort -n -k1,1 | awk -v t0="$(cat "$WORK/t0.$n")" '
        { t = $1; $1 = ""; printf "%7.1f ms %s\n", (t - t0) * 1000, $0 }
        / ping: / { exit }'
}

main() {
    local i ms times=() median_run sorted
    require_root
    for t in prosody openssl runuser; do
        command -v "$t" >/dev/null || { echo "SKIP: needs $t"; exit 77; }
    done
    check_ipopd "${1:-}"
    IPOPD=$(realpath "$1")
    RUNS=${2:-10}
    setup_traps
    CLEANUP_HOOKS+=(stop_prosody)
    NAMESPACES=()
    setup_lan
    start_prosody
    node_id "$IPOPD" "$WORK/n1.key" >/dev/null || exit 1
    node_id "$IPOPD" "$WORK/n2.key" >/dev/null || exit 1
    write_config 1
    write_config 2
    for ((i = 1; i <= RUNS; i++)); do
        run "$i"
        ms=$RESULT
        times+=("$ms")
        printf 'run %2d: %5d ms\n' "$i" "$ms"
    done
    sorted=$(printf '%s\n' "${times[@]}" | sort -n)
    printf 'median: %d ms over %d runs (min %d, max %d)\n' \
        "$(printf '%s\n' "$sorted" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2 + 0.5) }')" \
        "$RUNS" "$(printf '%s\n' "$sorted" | head -n 1)" "$(printf '%s\n' "$sorted" | tail -n 1)"
    # The run closest to the median, as a's log saw it.
    median_run=1
    for ((i = 1; i <= RUNS; i++)); do
        [ "${times[i - 1]}" = "$(printf '%s\n' "$sorted" | sed -n "$(((RUNS + 1) / 2))p")" ] && median_run=$i
    done
    echo "timeline of run $median_run (ipopd -v of a and b, to the first reply):"
    timeline "$median_run"
}

main "$@"
