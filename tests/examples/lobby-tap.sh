#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# LAN-style discovery over the overlay in TAP (L2) mode: two lobby players
# in two network namespaces behind a router (tests/netns/lib.sh's
# topology), each with a TAP device.  The lobby (a Unix socket in the
# file system, reachable from both namespaces) carries only the signalling;
# the players find each other with ordinary UDP broadcasts to
# 10.77.255.255 on their TAP device, then chat over unicast UDP.
# Usage: lobby-tap.sh PATH-TO-LOBBY   (root; exits 77 otherwise)
# shellcheck source=../netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../netns/lib.sh"

lobby=${1:?usage: lobby-tap.sh PATH-TO-LOBBY}
require_root
setup_traps
topology_create

# log_reason FILE: the lines of a player's log that say why it failed.
log_reason() {
    { grep -m 3 -E 'Sanitizer|runtime error|^lobby:|gave up|cannot' "$1" || tail -n 3 "$1"; } | tr '\n' '|' | cut -c1-300
}

# wait_exit PID SECONDS NAME: the player must end with status 0 in time
# (a failure quotes the last lines of its log: CI shows only the reason).
wait_exit() {
    local i status
    for ((i = 0; i < $2 * 10; i++)); do
        alive "$1" || break
        sleep 0.1
    done
    alive "$1" && fail "$3 still running after $2 s; its log ends: $(tail -n 2 "$WORK/$3.log" | tr '\n' '|')"
    wait "$1"
    status=$?
    [ "$status" = 0 ] || fail "$3 exited with status $status: $(log_reason "$WORK/$3.log")"
}

"$lobby" server "$WORK/lobby.sock" >"$WORK/server.log" 2>&1 &
DAEMON_PIDS+=("$!")
wait_for 5 "the lobby socket" test -S "$WORK/lobby.sock"

ip netns exec "$NS_A" "$lobby" play "$WORK/lobby.sock" alice 10.77.0.1/16 --tap --local "$UNDER_A" \
    >"$WORK/alice.log" 2>&1 &
pid_a=$!
ip netns exec "$NS_B" "$lobby" play "$WORK/lobby.sock" bob 10.77.0.2/16 --tap --local "$UNDER_B" \
    >"$WORK/bob.log" 2>&1 &
pid_b=$!
wait_exit "$pid_a" 60 alice
wait_exit "$pid_b" 10 bob

grep -q "^alice: found bob at 10.77.0.2 by broadcast" "$WORK/alice.log" || fail "alice did not find bob by broadcast"
grep -q "^bob: found alice at 10.77.0.1 by broadcast" "$WORK/bob.log" || fail "bob did not find alice by broadcast"
grep -q "^alice: chat from bob (10.77.0.2:7000): hello #" "$WORK/alice.log" || fail "alice got no chat from bob"
grep -q "^bob: heard from all 1 other players" "$WORK/bob.log" || fail "bob did not hear alice"
log "alice: $(grep -c '^alice: chat from' "$WORK/alice.log") chat lines; bob: $(grep -c '^bob: chat from' "$WORK/bob.log")"
log PASS
