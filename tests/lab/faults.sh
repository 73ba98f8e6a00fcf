#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# Faults on linked pairs in the NAT lab (lab.sh), each asserted: two ipopd
# nodes (GroupVPN over the lab's prosody, STUN and TURN from its coturn)
# behind port-restricted NATs (a direct path; symmetric NATs, a relayed
# path, for the TURN case), a fault applied, and the overlay must work
# again within the bound the NAT issue (#4) sets:
#   peer-restart     b stopped (SIGTERM) and started again: back within 5 s
#                    of the start
#   silent-peer      b's NAT cut off the internet for 20 s: a's link FAILED
#                    within 15 s, with a reason; back by itself within 45 s
#                    of the path returning
#   address-change   b's NAT gets a new public address: back within 5 s
#   host-address     b's own LAN address changes: back within 5 s, b's
#                    first restart for network-changed (its address monitor)
#   network-changed  b's NAT renumbered, then `ipopctl network-changed` on
#                    b (what a mobile host's network manager does): back
#                    within 5 s, b's first restart for network-changed (the
#                    path-lost restart after 2.5 s of silence would make
#                    the bound alone)
#   loss-delay       5 % loss and 50 ms delay each way on both NATs'
#                    uplinks (delayline.py: this kernel has no sch_netem):
#                    the link comes up within 60 s, 100 overlay pings see
#                    the fault (rtt >= 100 ms, some lost) and 256 KiB of
#                    TCP go through it intact
#   turn-restart     (relayed pair, checked) coturn stopped (checked gone)
#                    and started again: the link down within 30 s, back
#                    within 30 s of coturn's start
#   dead-stun        the first of two STUN servers never answers (packets
#                    to it dropped, and counted: it was tried): the link
#                    still comes up direct (srflx, not relayed) within 5 s
#   router-restart   (a behind a symmetric NAT with miniupnpd, b behind a
#                    plain symmetric one: direct through a's PCP mapping,
#                    checked) the router restarts and forgets its mappings
#                    and connection tracking: back within 15 s, through a
#                    new mapping (the restarted router got its request)
#                    within 20 s
# Prints one line per fault with what was measured; --doc FILE also writes
# them as markdown (doc/faults.md).
# Usage: faults.sh [--doc FILE] [--only 'F ...'] PATH-TO-IPOPD.  Root only
# (77 otherwise).
# shellcheck source=lab.sh
. "$(dirname "${BASH_SOURCE[0]}")/lab.sh"

ONLY=""
DOC=""
RESULTS=()
FAILED=0

note() {
    lab_log "$*"
    RESULTS+=("$*")
}

fail_note() {
    note "$1: FAILED: ${*:2}"
    FAILED=1
}

# ping_within SECONDS HOST ADDR: prints the ms until ADDR answered from HOST, or fails.
ping_within() {
    local t0
    t0=$(lab_now_ms)
    lab_exec "$2" ping -q -c 1 -i 0.2 -w "$1" "$3" >/dev/null 2>&1 || return 1
    echo $(($(lab_now_ms) - t0))
}

# back_within NAME SECONDS T0 HOST ADDR: asserts ADDR answers from HOST
# within SECONDS of T0 (ms); notes how long it took.
back_within() {
    local name=$1 limit=$2 t0=$3 took node=${4%%-*}a
    if ping_within $((limit + 5)) "$4" "$5" >/dev/null; then
        took=$(($(lab_now_ms) - t0))
        if ((took <= limit * 1000)); then
            note "$name: overlay back after $took ms (at most $limit s; a: $(link_paths "$node" | cut -d' ' -f2-3))"
        else
            fail_note "$name" "overlay back only after $took ms (at most $limit s)"
        fi
    else
        fail_note "$name" "no overlay ping within $((limit + 5)) s (a: $(link_paths "$node"))"
    fi
}

# state_reason NODE: the state and reason of NODE's first link.
state_reason() {
    local json
    json=$("$IPOPCTL" --control "$LAB_WORK/$1.sock" status --json) || lab_fail "ipopctl status --json of $1 failed"
    printf '%s' "$json" | python3 -c '
import json, sys
links = [l for n in json.load(sys.stdin)["networks"] for l in n["links"]]
print("%s %s" % (links[0]["state"], links[0]["reason"]) if links else "none -")
' || lab_fail "ipopctl status --json of $1 is not the JSON expected: $json"
}

failed_with_reason() {
    case $(state_reason "$1") in
    "failed none" | "failed None") return 1 ;;
    "failed "*) return 0 ;;
    esac
    return 1
}

not_connected() { ! connected "$1"; }

# log_lines NODE: how many lines NODE's log has now.
log_lines() { wc -l <"$LAB_WORK/$1.log"; }

# restart_reason NODE FROM: the reason of the first restart of a link
# ("link to ... connecting (REASON)") that NODE logged after line FROM.
restart_reason() {
    tail -n +"$(($2 + 1))" "$LAB_WORK/$1.log" | grep -o 'link to [a-z0-9]* connecting ([a-z-]*)' | head -n 1 |
        sed 's/.*(\(.*\))/\1/'
}

# restarted_for NAME NODE FROM: asserts that NODE's first restart after log
# line FROM was for network-changed: what only the feature does (without
# it the link still comes back, by the path-lost restart after 2.5 s of
# silence, well within the 5 s bound).
restarted_for() {
    local why
    why=$(restart_reason "$2" "$3")
    if [ "$why" = network-changed ]; then
        note "$1: b restarted its link for network-changed"
    else
        fail_note "$1" "b's first restart was for '${why:-nothing}', not network-changed"
    fi
}

# pair NAME TYPE K: NATs K and K+1 of TYPE, hosts NAME-a and NAME-b, nodes
# NAMEa and NAMEb (overlay 10.40.0.1 and .2) in room NAME; waits for the link.
pair() {
    local name=$1 type=$2 k=$3 t
    lab_nat "nat$k" "$k" "$type"
    lab_nat "nat$((k + 1))" "$((k + 1))" "$type"
    lab_host "${name}-a" "nat$k" "$k" 1
    lab_host "${name}-b" "nat$((k + 1))" "$((k + 1))" 1
    write_config "${name}a" 1 "${name}a" "$name"
    write_config "${name}b" 2 "${name}b" "$name"
    if [ -n "${PAIR_STUN_FIRST:-}" ]; then
        sed -i "s|^ice.stun = |ice.stun = $PAIR_STUN_FIRST;|" "$LAB_WORK/${name}a.conf" "$LAB_WORK/${name}b.conf"
    fi
    start_node "${name}-a" "${name}a"
    start_node "${name}-b" "${name}b"
    eval "PID_${name}b=\$!"
    lab_wait 20 has_overlay "${name}-a" || lab_fail "$name: no overlay device"
    t=$(ping_within 30 "${name}-a" 10.40.0.2) || lab_fail "$name ($type): no link"
    lab_log "$name ($type): linked, first ping after ${t} ms; a: $(link_paths "${name}a")"
}

# renumber_nat K: NAT K's public address 10.201.K.2 becomes 10.201.K.3.
renumber_nat() {
    # The new address comes first and takes over when the old one goes
    # (without promote_secondaries, removing a primary address removes the
    # secondaries of its subnet too, and the NAT would be left with none).
    # Masquerade forgets the old address's mappings.
    lab_exec "nat$1" sysctl -qw "net.ipv4.conf.wan.promote_secondaries=1" || lab_fail "renumber nat$1: sysctl"
    ip -n "$(lab_nsname "nat$1")" addr add "10.201.$1.3/24" dev wan || lab_fail "renumber nat$1: new address"
    ip -n "$(lab_nsname "nat$1")" addr del "10.201.$1.2/24" dev wan || lab_fail "renumber nat$1: old address"
    ip -n "$(lab_nsname "nat$1")" route replace default via "10.201.$1.1" || lab_fail "renumber nat$1: route"
}

# tcp_through FROM TO ADDR BYTES: sends BYTES random bytes over TCP from
# host FROM to ADDR on host TO; prints the ms they took once they arrived
# intact, or fails.
tcp_through() {
    local from=$1 to=$2 addr=$3 bytes=$4 t0
    lab_exec "$to" timeout 120 python3 -c '
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5201)); s.listen(1); print("listening", flush=True)
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
print(n, h.hexdigest(), flush=True)
' "$addr" >"$LAB_WORK/tcp-rx.txt" 2>&1 &
    LAB_PIDS+=("$!")
    lab_wait 5 grep -q listening "$LAB_WORK/tcp-rx.txt" || return 1
    head -c "$bytes" /dev/urandom >"$LAB_WORK/tcp-tx.bin"
    t0=$(lab_now_ms)
    lab_exec "$from" timeout 120 python3 -c '
import socket, sys
c = socket.create_connection((sys.argv[1], 5201), timeout=100)
c.sendall(open(sys.argv[2], "rb").read()); c.close()
' "$addr" "$LAB_WORK/tcp-tx.bin" || return 1
    lab_wait 100 bash -c "[ \$(wc -l <'$LAB_WORK/tcp-rx.txt') -ge 2 ]" || return 1
    [ "$(tail -n 1 "$LAB_WORK/tcp-rx.txt")" = "$bytes $(sha256sum "$LAB_WORK/tcp-tx.bin" | cut -d' ' -f1)" ] ||
        return 1
    echo $(($(lab_now_ms) - t0))
}

want() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

write_doc() {
    local file=$1 started=$2 line
    {
        cat <<'EOF'
# NAT lab: faults survived

This file is written by `tests/lab/faults.sh --doc` (meson test
`lab-faults`, suite `lab`, asserts the same bounds); do not edit it by hand.
Each fault is applied to a fresh pair of `ipopd` nodes in the NAT lab
(tests/lab/lab.sh; [connectivity.md](connectivity.md) describes it): a
GroupVPN over a private prosody, STUN and TURN at a private coturn, each
node behind its own port-restricted NAT (symmetric NATs for the TURN case,
so that the link is relayed).  Times are measured with overlay pings (one
every 0.2 s) from the moment the fault ends or is applied.

| fault | what is done | bound |
|---|---|---|
| peer-restart | b stopped (SIGTERM) and started again | overlay back within 5 s of the start |
| silent-peer | b's NAT cut off the internet for 20 s | a's link FAILED with a reason within 15 s; back by itself within 45 s of the path returning |
| address-change | b's NAT gets a new public address | back within 5 s |
| host-address | b's own LAN address changes | back within 5 s; b restarts for network-changed (not path-lost) |
| network-changed | b's NAT renumbered, then `ipopctl network-changed` on b | back within 5 s; b restarts for network-changed (not path-lost) |
| loss-delay | 5 % loss and 50 ms delay each way on both NATs' uplinks (tests/lab/delayline.py) | link up within 60 s; 100 pings: rtt >= 100 ms, some lost; 256 KiB over TCP arrive intact |
| turn-restart | coturn stopped and started again under a relayed link | link down within 30 s; back within 30 s of coturn's start |
| dead-stun | the first of two STUN servers never answers (its packets dropped) | linked direct (srflx) within 5 s |
| router-restart | a's router (miniupnpd, PCP) restarts and forgets its mappings and connection tracking | back within 15 s; through a new mapping, asked of the restarted router, within 20 s |

EOF
        printf 'Run of %s by `tests/lab/faults.sh --doc %s %s`:\n\n' "$started" "$file" "$IPOPD_ARG"
        for line in "${RESULTS[@]}"; do
            printf -- '- %s\n' "$line"
        done
        cat <<'EOF'

How the library gets there: a link that sends and hears nothing back for
2.5 s (it probes with pings from 1 s on; an idle link sends nothing and
notices at its next send) starts ICE again with a fresh agent and a new offer, without
going through FAILED; at the same moment the XMPP connection is checked
with a ping to the server and made again when no answer comes within
1.5 s (a connection through a renumbered NAT looks alive but carries
nothing); an rtnetlink monitor restarts links whose local address went
away; `ipop_network_changed()` (ipopctl network-changed) restarts every
link at once.  A restarted link that is not up within 9 s goes FAILED
(path-lost), and the overlays keep trying it (1 s, doubling to 30 s).
STUN servers are probed, and links gather with the first that answers.
EOF
    } >"$file"
}

main() {
    local t t0 k out loss min
    local started
    started=$(date -u '+%Y-%m-%d %H:%M UTC')
    while [ $# -gt 1 ]; do
        case $1 in
        --only) ONLY=$2; shift 2 ;;
        --doc) DOC=$2; shift 2 ;;
        *) break ;;
        esac
    done
    IPOPD_ARG=${1:-}
    lab_require
    [ -x "${1:-}" ] || { lab_log "usage: ${0##*/} [--doc FILE] [--only 'F ...'] PATH-TO-IPOPD"; exit 2; }
    IPOPD=$(realpath "$1")
    IPOPCTL=$(dirname "$IPOPD")/ipopctl
    lab_init
    lab_internet
    lab_prosody da:pw-da db:pw-db sa:pw-sa sb:pw-sb ea:pw-ea eb:pw-eb ha:pw-ha hb:pw-hb na:pw-na nb:pw-nb \
        la:pw-la lb:pw-lb ra:pw-ra rb:pw-rb ta:pw-ta tb:pw-tb ma:pw-ma mb:pw-mb
    lab_coturn

    if want peer-restart; then
        pair d port-restricted 1
        stop_node "$PID_db"
        lab_wait 20 not_connected da || fail_note peer-restart "a still shows the link connected 20 s after b stopped"
        t0=$(lab_now_ms)
        start_node d-b db
        back_within peer-restart 5 "$t0" d-a 10.40.0.2
    fi

    if want silent-peer; then
        pair s port-restricted 3
        lab_exec inet nft -f - <<'EOF'
table ip cut {
    chain forward {
        type filter hook forward priority filter - 20; policy accept;
        iifname "n4" drop
        oifname "n4" drop
    }
}
EOF
        t0=$(lab_now_ms)
        if lab_wait 15 failed_with_reason sa; then
            note "silent-peer: a's link failed $(($(lab_now_ms) - t0)) ms after b's path was cut ($(state_reason sa))"
        else
            fail_note silent-peer "a's link not failed with a reason 15 s after b's path was cut ($(state_reason sa))"
        fi
        t=$((20 - ($(lab_now_ms) - t0) / 1000))
        ((t > 0)) && sleep "$t"
        lab_exec inet nft delete table ip cut
        back_within silent-peer 45 "$(lab_now_ms)" s-a 10.40.0.2
    fi

    if want address-change; then
        pair e port-restricted 5
        renumber_nat 6
        back_within address-change 5 "$(lab_now_ms)" e-a 10.40.0.2
    fi

    if want host-address; then
        pair h port-restricted 11
        k=$(log_lines hb)
        lab_exec h-b sysctl -qw net.ipv4.conf.eth0.promote_secondaries=1 || lab_fail "host-address: sysctl"
        ip -n "$(lab_nsname h-b)" addr add 10.202.12.9/24 dev eth0 || lab_fail "host-address: new address"
        ip -n "$(lab_nsname h-b)" addr del 10.202.12.2/24 dev eth0 || lab_fail "host-address: old address"
        ip -n "$(lab_nsname h-b)" route replace default via 10.202.12.1 || lab_fail "host-address: route"
        back_within host-address 5 "$(lab_now_ms)" h-a 10.40.0.2
        restarted_for host-address hb "$k"
    fi

    if want network-changed; then
        pair n port-restricted 13
        k=$(log_lines nb)
        renumber_nat 14
        t0=$(lab_now_ms)
        "$IPOPCTL" --control "$LAB_WORK/nb.sock" network-changed >/dev/null ||
            fail_note network-changed "ipopctl network-changed failed"
        back_within network-changed 5 "$t0" n-a 10.40.0.2
        restarted_for network-changed nb "$k"
    fi

    if want loss-delay; then
        lab_nat nat7 7 port-restricted
        lab_nat nat8 8 port-restricted
        lab_host l-a nat7 7 1
        lab_host l-b nat8 8 1
        # What comes in from either NAT goes through the delay line
        # (table 100), and on from its far side by the main table.
        lab_exec inet python3 "$LAB_DIR/delayline.py" dl-in dl-out 50 5 7 >"$LAB_WORK/delayline.log" 2>&1 &
        LAB_PIDS+=("$!")
        lab_wait 5 grep -q ready "$LAB_WORK/delayline.log" || lab_fail "delayline.py did not start"
        lab_exec inet sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.dl-out.rp_filter=0 ||
            lab_fail "loss-delay: rp_filter"
        ip -n "$(lab_nsname inet)" link set dl-in up || lab_fail "loss-delay: dl-in up"
        ip -n "$(lab_nsname inet)" link set dl-out up || lab_fail "loss-delay: dl-out up"
        ip -n "$(lab_nsname inet)" route add default dev dl-in table 100 || lab_fail "loss-delay: route table 100"
        for k in 7 8; do
            ip -n "$(lab_nsname inet)" rule add iif "n$k" lookup 100 || lab_fail "loss-delay: rule for n$k"
        done
        write_config la 1 la l
        write_config lb 2 lb l
        t0=$(lab_now_ms)
        start_node l-a la
        start_node l-b lb
        lab_wait 20 has_overlay l-a
        if ping_within 60 l-a 10.40.0.2 >/dev/null; then
            note "loss-delay: first ping $(($(lab_now_ms) - t0)) ms after start ($(link_paths la | cut -d' ' -f2-4) us rtt)"
            # The fault is in effect: 50 ms each way puts every round trip
            # at 100 ms or more, and at 5 % loss each way, 100 pings all
            # answered would happen once in ~30000 runs.
            out=$(lab_exec l-a ping -q -c 100 -i 0.05 -W 2 -w 30 10.40.0.2)
            loss=$(printf '%s\n' "$out" | grep -o '[0-9.]*% packet loss' | cut -d% -f1)
            min=$(printf '%s\n' "$out" | sed -n 's|^rtt min/avg/max/mdev = \([0-9.]*\)/.*|\1|p')
            note "loss-delay: 100 overlay pings: ${loss:-?} % lost, rtt min ${min:-?} ms"
            [ -n "$min" ] && [ "${min%.*}" -ge 100 ] || fail_note loss-delay "round trips under 100 ms: the delay is not in effect"
            [ -n "$loss" ] && [ "$loss" != 0 ] || fail_note loss-delay "no ping lost: the loss is not in effect"
            if t=$(tcp_through l-a l-b 10.40.0.2 262144); then
                note "loss-delay: 256 KiB over TCP through the link arrived intact in $t ms"
            else
                fail_note loss-delay "256 KiB over TCP did not arrive intact ($(cat "$LAB_WORK/tcp-rx.txt"))"
            fi
        else
            fail_note loss-delay "no overlay ping within 60 s"
        fi
    fi

    if want turn-restart; then
        pair r symmetric 9
        # The fault must hit what it means to: a link through coturn...
        t=$(link_paths ra)
        # shellcheck disable=SC2046
        [ "$(kind $(echo "$t" | cut -d' ' -f2-3))" = relay ] ||
            lab_fail "turn-restart: the link is not relayed before the fault ($t)"
        k=$(cat "$LAB_WORK/turn/turn.pid") || lab_fail "turn-restart: no coturn pid file"
        kill -TERM "$k" || lab_fail "turn-restart: coturn ($k) could not be signalled"
        # ...and coturn gone, its relays with it
        lab_wait 5 bash -c "! kill -0 $k 2>/dev/null" || lab_fail "turn-restart: coturn ($k) still runs 5 s after SIGTERM"
        t0=$(lab_now_ms)
        if lab_wait 30 not_connected ra; then
            note "turn-restart: a's relayed link went down $(($(lab_now_ms) - t0)) ms after coturn stopped"
        else
            fail_note turn-restart "a's relayed link still connected 30 s after coturn stopped"
        fi
        lab_coturn
        back_within turn-restart 30 "$(lab_now_ms)" r-a 10.40.0.2
    fi
    if want router-restart && command -v miniupnpd >/dev/null; then
        # a behind a symmetric NAT whose router maps ports (miniupnpd, PCP),
        # b behind a plain symmetric NAT: direct only through a's mapping
        lab_nat nat17 17 symmetric "$LAB_WAN_PUBLIC"
        lab_nat nat18 18 symmetric
        lab_miniupnpd nat17 natpmp
        lab_host m-a nat17 17 1
        lab_host m-b nat18 18 1
        write_config ma 1 ma m
        write_config mb 2 mb m
        echo "ice.port-mapping = pcp" >>"$LAB_WORK/ma.conf"
        start_node m-a ma
        start_node m-b mb
        lab_wait 20 has_overlay m-a || lab_fail "router-restart: no overlay device"
        ping_within 30 m-a 10.40.0.2 >/dev/null || lab_fail "router-restart: no link"
        sleep 2
        [ "$(mapping_of ma)" = pcp ] || lab_fail "router-restart: a's path is not through its PCP mapping before the fault ($(link_paths ma))"
        # the router restarts: its mappings and its connection tracking are gone
        lab_miniupnpd_stop nat17
        # (without its lease file, which would give the mappings back)
        rm -f "$LAB_WORK/nat17-upnp/leases"
        t0=$(lab_now_ms)
        lab_miniupnpd nat17 natpmp
        back_within router-restart 15 "$t0" m-a 10.40.0.2
        # and through a mapping again: one the restarted router made (its
        # log starts empty at the restart), not a path that lost it
        if lab_wait 20 bash -c "[ \"\$(\"$IPOPCTL\" --control \"$LAB_WORK/ma.sock\" status --json | grep -o '\"port_mapping\": *\"pcp\"')\" ]" &&
            grep -q "PCP request received from 10.202.17.2" "$LAB_WORK/nat17-upnp/miniupnpd.log"; then
            note "router-restart: a's path runs through a new PCP mapping again $(($(lab_now_ms) - t0)) ms after the restart"
        else
            fail_note router-restart "a's path not through a new PCP mapping 20 s after the restart ($(link_paths ma), mapping $(mapping_of ma); the router's log: $(grep -c 'PCP request' "$LAB_WORK/nat17-upnp/miniupnpd.log") PCP requests)"
        fi
    fi
    if want dead-stun; then
        # 10.200.0.2:3999: the server's address, a port where nothing
        # answers, not even with ICMP (a closed port would say so at once)
        lab_exec srv nft -f - <<'EOF' || lab_fail "dead-stun: nft refused the drop rule"
table ip deadstun {
    chain input {
        type filter hook input priority filter; policy accept;
        udp dport 3999 counter drop
    }
}
EOF
        t0=$(lab_now_ms)
        PAIR_STUN_FIRST=$LAB_SRV:3999 pair t port-restricted 15
        t=$(($(lab_now_ms) - t0))
        case $(link_paths ta) in
        "connected srflx srflx "*)
            if ((t <= 5000)); then
                note "dead-stun: linked direct (srflx) $t ms after the pair's set-up began"
            else
                fail_note dead-stun "linked direct only after $t ms"
            fi ;;
        *) fail_note dead-stun "not direct: $(link_paths ta)" ;;
        esac
        lab_exec srv nft list table ip deadstun | grep -q 'counter packets [1-9]' ||
            fail_note dead-stun "nothing was sent to the dead STUN server: the fault was not tried"
    fi
    printf '%s\n' "${RESULTS[@]}"
    [ -n "$DOC" ] && write_doc "$DOC" "$started" && lab_log "wrote $DOC"
    [ "$FAILED" = 0 ] || lab_fail "a fault was not survived (see above)"
    lab_log "done: every fault survived"
}

main "$@"
