#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# Setup time of a GroupVPN: from starting two ipopd to the first ping reply
# through the overlay, on one LAN with a private prosody.
#
#   bench/setup-time.sh PATH-TO-IPOPD [RUNS]     (root; default 10 runs)
#   bench/setup-time.sh PATH-TO-IPOPD RUNS MEMBERS [secret|authority]
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
#
# With MEMBERS (3-60), group formation: MEMBERS ipopd on the same bridge
# (10.0.0.1..N, prosody at 10.0.0.254), all started at once; the time is
# until every member has logged "link to ... connected" for each of the
# others (all N(N-1)/2 pairs linked, both ends), from the stamped logs.
# "secret" (the default): a typed group secret, so each member derives its
# Argon2id key (64 MiB, t=3) at start; "generated": a secret from
# `ipopd --gen-secret`, keyed at once (no Argon2id); "authority": each
# member holds a certificate of a group authority (ipop-authority next to
# ipopd): no secret, no Argon2id.
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
MEMBERS=2
KIND=secret

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
    MEMBERS=${3:-2}
    KIND=${4:-secret}
    if [ "$MEMBERS" != 2 ]; then
        group_main
        return
    fi
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

# ---- group formation: MEMBERS members ----

setup_group_lan() {
    local i ns addr
    add_ns "$NS_SW"
    ip -n "$NS_SW" link add br0 type bridge
    ip -n "$NS_SW" link set br0 up
    for ((i = 1; i <= MEMBERS + 1; i++)); do
        ns="bm$i-$$" addr=10.0.0.$i
        ((i > MEMBERS)) && ns=$NS_S addr=$SERVER
        add_ns "$ns"
        ip -n "$ns" link add eth0 type veth peer name "p$i" netns "$NS_SW" || fail "veth $ns"
        ip -n "$NS_SW" link set "p$i" master br0 up
        ip -n "$ns" addr add "$addr/24" dev eth0
        ip -n "$ns" link set eth0 up
    done
    for ((i = 1; i <= MEMBERS; i++)); do
        wait_for 5 "the LAN" ip netns exec "bm$i-$$" ping -c 1 -W 1 "$SERVER"
    done
}

write_group_config() {
    local i=$1 authority=$2
    {
        printf '[vpn]\nmode = tun\ndevice = ipop0\naddress = 10.20.0.%s/24\n' "$i"
        printf 'identity.file = %s\noverlay = group\n' "$WORK/m$i.key"
        printf 'xmpp.jid = u%s@ipop.test\nxmpp.password = p%s\n' "$i" "$i"
        printf 'xmpp.server = %s\nxmpp.port = %s\n' "$SERVER" "$XMPP_PORT"
        printf 'xmpp.server-fingerprint = %s\n' "$(cat "$WORK/xmpp/fingerprint")"
        printf 'group.room = bench@rooms.ipop.test\nlink.max = 64\n'
        if [ "$KIND" = authority ]; then
            printf 'group.authority = %s\ngroup.certificate = %s\n' "$authority" "$WORK/m$i.cert"
        else
            printf 'group.secret = %s\n' "$(cat "$WORK/secret")"
        fi
    } >"$WORK/m$i.conf"
}

# group_run N: one formation, in RESULT (ms); fails after 60 s.
group_run() {
    local n=$1 i t t0 pid pids=() deadline linked last
    t0=$EPOCHREALTIME
    for ((i = 1; i <= MEMBERS; i++)); do
        ip netns exec "bm$i-$$" "$IPOPD" -v --config "$WORK/m$i.conf" --control "$WORK/m$i.sock" \
            </dev/null >/dev/null 2> >(stamp >"$WORK/m$i.$n.log") &
        pids+=($!)
    done
    DAEMON_PIDS+=("${pids[@]}")
    deadline=$((SECONDS + 60))
    while :; do
        linked=0
        for ((i = 1; i <= MEMBERS; i++)); do
            [ "$(grep -o 'ipopd: link to [a-z0-9]* connected' "$WORK/m$i.$n.log" | sort -u | wc -l)" -ge $((MEMBERS - 1)) ] &&
                linked=$((linked + 1))
        done
        [ "$linked" = "$MEMBERS" ] && break
        ((SECONDS < deadline)) || fail "run $n: only $linked of $MEMBERS members linked to all others within 60 s"
        sleep 0.2
    done
    # When the last pair came up: the latest first "connected" line of any
    # member for any peer.
    last=0
    for ((i = 1; i <= MEMBERS; i++)); do
        t=$(awk '/ipopd: link to [a-z0-9]* connected/ { if (!seen[$5]++) print $1 }' "$WORK/m$i.$n.log" | sort -n | tail -n 1)
        last=$(awk -v a="$last" -v b="$t" 'BEGIN { print (b > a) ? b : a }')
    done
    FIRST_KEY=$(awk '/group key derived/ { print $1; exit }' "$WORK/m1.$n.log")
    for pid in "${pids[@]}"; do
        stop_daemon "$pid"
    done
    DAEMON_PIDS=()
    sleep 1 # all have left the room
    RESULT=$(awk -v a="$t0" -v b="$last" 'BEGIN { printf "%d\n", (b - a) * 1000 + 0.5 }')
    [ -z "$FIRST_KEY" ] || FIRST_KEY=$(awk -v a="$t0" -v b="$FIRST_KEY" 'BEGIN { printf "%d\n", (b - a) * 1000 + 0.5 }')
}

group_main() {
    local i id users=() authority="" times=() sorted tool=""
    ((MEMBERS >= 3 && MEMBERS <= 60)) || { echo "MEMBERS: 2, or 3-60"; exit 2; }
    case $KIND in secret | generated | authority) ;; *) echo "secret, generated or authority, not $KIND"; exit 2 ;; esac
    SERVER=10.0.0.254
    setup_traps
    CLEANUP_HOOKS+=(stop_prosody)
    NAMESPACES=()
    setup_group_lan
    for ((i = 1; i <= MEMBERS; i++)); do
        users+=("u$i:p$i")
    done
    chmod 711 "$WORK"
    mkdir "$WORK/xmpp"
    ip netns exec "$NS_S" bash "$SRCDIR/tests/servers/prosody.sh" start "$WORK/xmpp" "$SERVER" "$XMPP_PORT" \
        "${users[@]}" >"$WORK/prosody-start.out" 2>&1 || {
        cat "$WORK/prosody-start.out" >&2
        fail "prosody did not start"
    }
    if [ "$KIND" = generated ]; then
        "$IPOPD" --gen-secret >"$WORK/secret" || fail "ipopd --gen-secret"
    else
        head -c 24 /dev/urandom | base64 >"$WORK/secret" # strong (no warning), but typed: Argon2id
    fi
    if [ "$KIND" = authority ]; then
        tool=$(dirname "$IPOPD")/ipop-authority
        [ -x "$tool" ] || fail "no ipop-authority next to $IPOPD"
        authority=$("$tool" --dir "$WORK/ca" init) || fail "ipop-authority init"
    fi
    for ((i = 1; i <= MEMBERS; i++)); do
        id=$(node_id "$IPOPD" "$WORK/m$i.key") || exit 1
        if [ "$KIND" = authority ]; then
            "$tool" --dir "$WORK/ca" sign --node-id "$id" --name "m$i" --address "10.20.0.$i/24" \
                --output "$WORK/m$i.cert" >/dev/null || fail "ipop-authority sign m$i"
        fi
        write_group_config "$i" "$authority"
    done
    for ((i = 1; i <= RUNS; i++)); do
        group_run "$i"
        times+=("$RESULT")
        printf 'run %2d: %5d ms until all %d pairs linked%s\n' "$i" "$RESULT" $((MEMBERS * (MEMBERS - 1) / 2)) \
            "${FIRST_KEY:+ (group key of m1 derived at $FIRST_KEY ms)}"
    done
    sorted=$(printf '%s\n' "${times[@]}" | sort -n)
    printf 'median: %d ms over %d runs (min %d, max %d), %d members, %s\n' \
        "$(printf '%s\n' "$sorted" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2 + 0.5) }')" \
        "$RUNS" "$(printf '%s\n' "$sorted" | head -n 1)" "$(printf '%s\n' "$sorted" | tail -n 1)" "$MEMBERS" "$KIND"
}

main "$@"
