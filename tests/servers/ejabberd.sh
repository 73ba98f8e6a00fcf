#!/usr/bin/env bash
# Starts a private ejabberd (Debian's package) for tests, as prosody.sh does
# a prosody: its own config, certificate, spool, logs, Erlang node name and
# distribution port in DIR, listening on one address only; the system's
# ejabberd and /etc/ejabberd are left alone.  Stock settings where they
# matter to us: the room service (mod_muc) locks a new room until its
# owner configures it, and people's clients get carbons, offline storage
# and an archive.
#   ejabberd.sh start DIR ADDR PORT [USER:PASS ...]   prints the pid; writes DIR/fingerprint
#   ejabberd.sh stop DIR
# The XMPP domain is "ipop.test", the chat rooms "rooms.ipop.test".  The
# pid goes to DIR/prosody.pid, the file tests/prosody.c reads.
set -euo pipefail
# shellcheck source=tests/servers/stop.sh
. "$(dirname "${BASH_SOURCE[0]}")/stop.sh"

cmd=$1 dir=$2

ctl() {
    ejabberdctl --config-dir "$dir" --config "$dir/ejabberd.yml" --ctl-config "$dir/ejabberdctl.cfg" \
        --logs "$dir/log" --spool "$dir/spool" "$@"
}

case $cmd in
start)
    addr=$3 port=$4; shift 4
    mkdir -p "$dir/spool" "$dir/log"
    touch "$dir/inetrc"
    [ -f "$dir/cert.pem" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
        -subj "/CN=ipop.test" -addext "subjectAltName=DNS:ipop.test,DNS:rooms.ipop.test" \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
    cat "$dir/cert.pem" "$dir/key.pem" > "$dir/server.pem"
    openssl x509 -in "$dir/cert.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' \
        | tr 'A-F' 'a-f' > "$dir/fingerprint"
    # The Erlang distribution (ejabberdctl talks to the node over it) on a
    # port of its own, without epmd.
    dist_port=$((port + 10000 > 65000 ? port - 10000 : port + 10000))
    cat > "$dir/ejabberdctl.cfg" <<CFG
ERLANG_NODE=ipoptest$port@localhost
ERL_DIST_PORT=$dist_port
ERL_OPTIONS="-setcookie ipoptest$port"
EJABBERD_CONFIG_PATH=$dir/ejabberd.yml
EJABBERD_PID_PATH=$dir/ejabberd.pid
INET_DIST_INTERFACE=127.0.0.1
CFG
    cat > "$dir/ejabberd.yml" <<CFG
hosts:
  - ipop.test
loglevel: info
log_rotate_count: 0
certfiles:
  - "$dir/server.pem"
define_macro:
  TLS_OPTS: []
listen:
  -
    port: $port
    ip: "$addr"
    module: ejabberd_c2s
    max_stanza_size: 262144
    shaper: none
    access: c2s
    starttls_required: true
acl:
  loopback:
    ip:
      - 127.0.0.0/8
access_rules:
  local:
    allow: all
  c2s:
    allow: all
  muc_create:
    allow: all
auth_method: internal
default_db: mnesia
modules:
  mod_carboncopy: {}
  mod_disco: {}
  mod_mam:
    default: always
  mod_muc:
    host: rooms.ipop.test
    access_create: muc_create
    default_room_options:
      mam: false
  mod_offline: {}
  mod_ping: {}
  mod_roster:
    versioning: false
  mod_stream_mgmt: {}
CFG
    if [ "$(id -u)" = 0 ]; then chown -R ejabberd: "$dir"; chmod 755 "$dir"; fi
    ctl foreground >"$dir/stdout.log" 2>&1 &
    pid=$!
    owner=$PPID
    ( while kill -0 "$owner" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
      if kill -0 "$pid" 2>/dev/null; then
          # shellcheck disable=SC2046 # one word per pid
          stop_pids $(pgrep -f -- "-mnesia dir \"$dir/spool\"" 2>/dev/null) "$pid"
      fi ) >/dev/null 2>&1 </dev/null &
    up=
    for _ in $(seq 300); do
        if (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null; then up=1; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$up" ]; then
        echo "ejabberd did not start; log:" >&2
        cat "$dir/stdout.log" "$dir/log/ejabberd.log" >&2 2>/dev/null || true
        exit 1
    fi
    for up in "$@"; do
        ctl register "${up%%:*}" ipop.test "${up#*:}" >/dev/null
    done
    # the beam process itself: TERM stops it cleanly
    beam=$(pgrep -f -- "-mnesia dir \"$dir/spool\"" | head -1 || true)
    echo "${beam:-$pid}" > "$dir/prosody.pid"
    echo "${beam:-$pid}"
    ;;
stop)
    pids="$(cat "$dir/prosody.pid" 2>/dev/null || true) $(pgrep -f -- "-mnesia dir \"$dir/spool\"" 2>/dev/null || true)"
    # shellcheck disable=SC2086 # one word per pid
    stop_pids $pids
    ;;
esac
