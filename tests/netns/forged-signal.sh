#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# Forged datagrams to ipopd's UDP signalling (issue 13, attack 4): two ipopd
# in TUN mode with a link up; a third host (the router between them) sends
# b's signal.listen port offers "from" a with seq=2^64-1: unsigned (protocol
# version 1, as the attack was), version 2 without a signature, and one with
# an envelope that a did not sign.  b refuses and counts each (ipopctl
# status --json: signal_refused), the link stays up (pings without loss, no
# new session), and when a starts a new session (restart of a) it is
# answered: a's offers did not become stale.
# Usage: forged-signal.sh PATH-TO-IPOPD   (root; exits 77 otherwise)
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IPOPD=${1:-}
require_root
check_ipopd "$IPOPD"
IPOPCTL=$(dirname "$IPOPD")/ipopctl
[ -x "$IPOPCTL" ] || fail "no ipopctl next to $IPOPD"
command -v python3 >/dev/null || { echo "SKIP: needs python3"; exit 77; }
setup_traps
topology_create

refused_b() {
    "$IPOPCTL" --control "$WORK/b.sock" status --json | python3 -c '
import json, sys
print(sum(n["signal_refused"] for n in json.load(sys.stdin)["networks"]))'
}

# send_forged ID_A ID_B: from the router, three forged offers to b's port.
send_forged() {
    ip netns exec "$NS_R" python3 - "$1" "$2" "$UNDER_B" <<'PY'
import os, socket, sys
a, b, host = sys.argv[1:4]
body = ("offer from=%s session=0123456789abcdef ufrag=evil pwd=evilpasswordevilpassword fp=%s "
        "seq=18446744073709551615 end=1") % (a, "ee" * 32)
b64 = lambda n: "A" * n
forged = [
    "ipop1 " + body,                               # the attack as it was
    "ipop2 " + body,                               # no envelope
    "ipop2 %s to=%s ts=%d nonce=%s pk=%s sig=%s" % (  # an envelope a did not sign
        body, b, int(__import__("time").time() * 1000), os.urandom(16).hex(), b64(122), b64(86)),
]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for f in forged:
    s.sendto(("%s %s" % (a, f)).encode(), (host, 5000))
PY
}

id_a=$(node_id "$IPOPD" "$WORK/a.key") || exit 1
id_b=$(node_id "$IPOPD" "$WORK/b.key") || exit 1
write_config "$WORK/a.conf" tun 10.10.0.1/24 fd10::1/64 "$WORK/a.key" "$UNDER_A" "$id_b" "$UNDER_B"
write_config "$WORK/b.conf" tun 10.10.0.2/24 fd10::2/64 "$WORK/b.key" "$UNDER_B" "$id_a" "$UNDER_A"
start_daemon "$NS_A" a "$IPOPD" "$WORK/a.conf"
pid_a=$!
start_daemon "$NS_B" b "$IPOPD" "$WORK/b.conf"
pid_b=$!
wait_for 20 "a first ping from a to b over the overlay" ip netns exec "$NS_A" ping -c 1 -W 1 10.10.0.2
# b logs its link's "connected" a moment after a's ping may already pass:
# count b's sessions only once b has logged the first one.
wait_for 10 "b to log its link connected" grep -q "connected" "$WORK/b.log"
before=$(refused_b)
# the library's line for each session that came up (not ipopd's periodic
# status lines, which say "connected" too)
sessions=$(grep -c "link to [a-z0-9]* connected$" "$WORK/b.log")

send_forged "$id_a" "$id_b"
wait_for 5 "b to count three refused messages" sh -c "[ \$('$IPOPCTL' --control '$WORK/b.sock' status --json |
    python3 -c 'import json,sys; print(sum(n[\"signal_refused\"] for n in json.load(sys.stdin)[\"networks\"]))') -ge $((before + 3)) ]"
log "b refused $(($(refused_b) - before)) forged messages"
grep -q "refused" "$WORK/b.log" || fail "b did not log a refusal"
ping_ok "$NS_A" -c 5 -W 2 10.10.0.2
ping_ok "$NS_B" -c 5 -W 2 10.10.0.1
[ "$(grep -c "link to [a-z0-9]* connected$" "$WORK/b.log")" = "$sessions" ] || fail "b's link went down and up again"

# a starts again (a new session, a higher seq): b answers it.
stop_daemon "$pid_a"
start_daemon "$NS_A" a "$IPOPD" "$WORK/a.conf"
pid_a=$!
wait_for 20 "a ping from a to b after a restarted" ip netns exec "$NS_A" ping -c 1 -W 1 10.10.0.2
ping_ok "$NS_A" -c 5 -W 2 10.10.0.2
stop_daemon "$pid_a"
stop_daemon "$pid_b"
DAEMON_PIDS=()
log "PASS"
