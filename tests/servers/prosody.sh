#!/usr/bin/env bash
# Starts a private prosody for tests: its own config, certificate, data and
# port, listening on one address only, with a multi-user chat component.
#   prosody.sh start DIR ADDR PORT [USER:PASS ...]   prints the pid; writes DIR/fingerprint
#   prosody.sh stop DIR
# The XMPP domain is "ipop.test", the chat rooms "rooms.ipop.test".
# IPOP_PROSODY_VARIANT=stock: the room service with prosody's defaults (a
# new room stays locked until its owner configures it, XEP-0045 10.1), and
# what a real server runs for people's clients: message carbons, offline
# storage, the message archive.
set -euo pipefail
# shellcheck source=tests/servers/stop.sh
. "$(dirname "${BASH_SOURCE[0]}")/stop.sh"

cmd=$1 dir=$2

as_prosody() {
    if [ "$(id -u)" = 0 ]; then runuser -u prosody -- "$@"; else "$@"; fi
}

case $cmd in
start)
    addr=$3 port=$4; shift 4
    mkdir -p "$dir/data"
    # A restart keeps the certificate: clients pin it.
    [ -f "$dir/cert.pem" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
        -subj "/CN=ipop.test" -addext "subjectAltName=DNS:ipop.test,DNS:rooms.ipop.test" \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
    openssl x509 -in "$dir/cert.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' \
        | tr 'A-F' 'a-f' > "$dir/fingerprint"
    if [ "${IPOP_PROSODY_VARIANT:-}" = stock ]; then
        modules='modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "presence"; "ping"; "carbons"; "offline"; "mam" }
modules_disabled = { "s2s"; "limits"; "c2s_timeout" }
archive_expires_after = "1d"'
        muc_settings=''
    else
        modules='modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "presence"; "ping" }
modules_disabled = { "s2s"; "limits"; "offline"; "c2s_timeout" }'
        muc_settings='    restrict_room_creation = false
    muc_room_default_public = false
    muc_room_locking = false'
    fi
    cat > "$dir/prosody.cfg.lua" <<CFG
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
interfaces = { "$addr" }
local_interfaces = { "$addr" }
c2s_ports = { $port }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
network_settings = { nagle = false }
admins = { }
$modules
c2s_require_encryption = true
allow_registration = false
authentication = "internal_plain"
log = { { levels = { min = "info" }, to = "file", filename = "$dir/prosody.log" } }
certificates = "$dir"
ssl = { key = "$dir/key.pem"; certificate = "$dir/cert.pem" }
VirtualHost "ipop.test"
    ssl = { key = "$dir/key.pem"; certificate = "$dir/cert.pem" }
Component "rooms.ipop.test" "muc"
    ssl = { key = "$dir/key.pem"; certificate = "$dir/cert.pem" }
$muc_settings
CFG
    if [ "$(id -u)" = 0 ]; then chown -R prosody: "$dir"; chmod 755 "$dir"; fi
    for up in "$@"; do
        as_prosody prosodyctl --config "$dir/prosody.cfg.lua" register "${up%%:*}" ipop.test "${up#*:}" >/dev/null
    done
    as_prosody prosody -F --config "$dir/prosody.cfg.lua" >"$dir/stdout.log" 2>&1 &
    pid=$!
    # Watchdog: the server goes when whoever started it goes, even when a
    # test aborts before it can say stop.  Only then: once this server has
    # stopped, the pid file may already name the next one started in $dir.
    owner=$PPID
    ( while kill -0 "$owner" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
      if kill -0 "$pid" 2>/dev/null; then
          stop_pids "$(cat "$dir/prosody.pid" 2>/dev/null || true)" "$pid"
      fi ) >/dev/null 2>&1 </dev/null &
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null; then echo "$pid"; exit 0; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "prosody did not start; log:" >&2
    cat "$dir/stdout.log" "$dir/prosody.log" >&2 2>/dev/null || true
    exit 1
    ;;
stop)
    # The pid file may not be written yet just after start (a loaded
    # machine): the command line names the config too.  TERM, then KILL
    # after 10 s, so that the port is free when this returns.
    pids="$(cat "$dir/prosody.pid" 2>/dev/null || true) $(pgrep -f -- "--config $dir/prosody.cfg.lua" 2>/dev/null || true)"
    # shellcheck disable=SC2086 # one word per pid
    stop_pids $pids
    ;;
esac
