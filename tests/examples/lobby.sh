#!/bin/bash
# SPDX-License-Identifier: MIT
# Three lobby players in mode none on loopback (no root): they meet in the
# example's own Unix-socket lobby, link to each other, and every player
# hears chat lines and positions from both others over ipop_udp_*.
# Usage: lobby.sh PATH-TO-LOBBY
set -u
lobby=${1:?usage: lobby.sh PATH-TO-LOBBY}
work=$(mktemp -d "${TMPDIR:-/tmp}/ipop-lobby.XXXXXX") || exit 1
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$work"/*.out; do echo "== $f" >&2; cat "$f" >&2; done; exit 1; }

"$lobby" server "$work/lobby.sock" >"$work/server.out" 2>&1 &
pids+=("$!")
for i in $(seq 50); do [ -S "$work/lobby.sock" ] && break; sleep 0.1; done
[ -S "$work/lobby.sock" ] || fail "the lobby did not open its socket"

players=(alice:10.77.0.1/16 bob:10.77.0.2/16 carol:10.77.0.3/16)
player_pids=()
for p in "${players[@]}"; do
    "$lobby" play "$work/lobby.sock" "${p%%:*}" "${p#*:}" --players 3 --rounds 3 >"$work/${p%%:*}.out" 2>&1 &
    player_pids+=("$!")
done
for i in "${!player_pids[@]}"; do
    wait "${player_pids[$i]}" || fail "player ${players[$i]%%:*} exited with status $?"
done
for me in alice bob carol; do
    grep -q "^$me: heard from all 2 other players" "$work/$me.out" || fail "$me did not hear everyone"
    for other in alice bob carol; do
        [ "$me" = "$other" ] && continue
        grep -qE "^$me: chat from $other \(10\.77\.0\.[123]:7000\): hello #" "$work/$me.out" ||
            fail "$me got no chat line from $other"
    done
done
grep -q "lobby: carol joined" "$work/server.out" || fail "the lobby did not see carol"
sed -n '1,12p' "$work/alice.out"
echo PASS
