# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# bench/ipopd.sh - adapter for /work/shared/bench/peers.sh (--adapter FILE):
# the row "ipopd", our own daemon, as a GroupVPN in TUN mode.
#
#   sudo PB_IPOPD=/work/main/build-j/daemon/ipopd \
#     /work/shared/bench/peers.sh --adapter /work/main/bench/ipopd.sh --only baseline,ipopd
#
# Follows the adapter contract at the top of the harness's adapters.sh:
#   nodes  "s a b": pb-s runs the rendezvous, pb-a and pb-b run ipopd.
#   prep   (untimed) node identities, the prosody folder (certificate, config,
#          users a and b, made by tests/servers/prosody.sh), the ipopd configs
#          and, with --nat, a coturn config.
#   start  (timed: the setup time runs from `start s` to the first overlay
#          ping) s: prosody (and, with --nat, coturn as the STUN server), in
#          the foreground via `daemon`, waited for until they listen;
#          a, b: ipopd --config.  So the setup time includes the XMPP server's
#          start, both logins over TLS, the MUC join, the group-secret
#          exchange (a secret from ipopd --gen-secret: no Argon2id), ICE
#          (with STUN under --nat) and DTLS.
#   stop   nothing beyond the harness's kill by PID.
#
# Signalling is GroupVPN (overlay = group) over the prosody on pb-s; the
# certificate is pinned with xmpp.server-fingerprint.  Overlay 172.31.0.1/24
# and 172.31.0.2/24 on device pbipop-a / pbipop-b, MTU: ipopd's default (1400).
# Candidates are gathered on the host's eth0 address only (ice.local-address),
# so the TUN device itself never becomes a candidate.
#
# The ipopd binary: $PB_IPOPD, else ../build/daemon/ipopd next to this file.
# Needs: prosody (Debian package prosody, which also makes the prosody user),
# openssl, setpriv (util-linux); with --nat also turnserver (coturn).

_PB_IPOPD_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PB_IPOPD=${PB_IPOPD:-$_PB_IPOPD_HERE/../build/daemon/ipopd}
PB_IPOPD_XMPP_PORT=5222
PB_IPOPD_STUN_PORT=3478

sys_ipopd() {
  local n=${2:-} src=$_PB_IPOPD_HERE/.. c v
  case $1 in
    info)
      v=$("$PB_IPOPD" --version 2>/dev/null | head -n1 | sed 's/^ipopd *//')
      # The library offers AES-128-GCM and AES-256-GCM over DTLS 1.2 (lib/dtls.c);
      # GnuTLS's default priority puts AES-128-GCM first, which is what both
      # ends settle on here (`ipopd -v`: "DTLS with ... up: AES-128-GCM").
      c="DTLS 1.2, AES-128-GCM (of AES-128/256-GCM offered), ECDSA certs pinned by node id"
      echo "ipopd (GroupVPN, tun)|${v:-?}|$c|XMPP (prosody) on pb-s$( ((NAT)) && echo ", coturn STUN on pb-s"); ICE/libnice, one loop thread per network" ;;
    nodes) echo "s a b" ;;
    prep)
      [[ -x $PB_IPOPD ]] || { echo "no ipopd at $PB_IPOPD (set PB_IPOPD)"; return 1; }
      need prosody prosodyctl openssl setpriv runuser || return 1
      id prosody >/dev/null 2>&1 || { echo "no prosody user (Debian package prosody)"; return 1; }
      if ((NAT)); then need turnserver || return 1; fi
      # prosody runs as its own user and must reach $D/xmpp: traverse only.
      chmod 711 "$D" "$(dirname "$D")" || return 1
      mkdir -p "$D/xmpp" || return 1
      # prosody.sh writes the certificate, fingerprint and config and registers
      # the users; it also starts a prosody, which we stop again: the timed one
      # is started in `start s`, in the foreground, under the harness.
      on s bash "$src/tests/servers/prosody.sh" start "$D/xmpp" "${PUB[s]}" "$PB_IPOPD_XMPP_PORT" \
        a:pass-a b:pass-b >"$D/prosody-prep.log" 2>&1 || { tail -n 3 "$D/prosody-prep.log"; echo "prosody.sh start failed"; return 1; }
      bash "$src/tests/servers/prosody.sh" stop "$D/xmpp"
      wait_for 10 eval "! listening s t $PB_IPOPD_XMPP_PORT" || { echo "the prep prosody did not stop"; return 1; }
      [[ -s $D/xmpp/fingerprint ]] || { echo "prosody.sh wrote no fingerprint"; return 1; }
      "$PB_IPOPD" --gen-secret >"$D/secret" || { echo "ipopd --gen-secret failed"; return 1; }
      for n in a b; do
        "$PB_IPOPD" --node-id "$D/$n.key" >"$D/$n.id" || { echo "ipopd --node-id failed"; return 1; }
        cat >"$D/$n.conf" <<EOC
# written by bench/ipopd.sh for peers.sh
[bench]
mode = tun
device = pbipop-$n
address = ${OV[$n]}/24
identity.file = $D/$n.key
ice.local-address = $(on "$n" ip -4 -o addr show dev eth0 | awk '{ sub(/\/.*/, "", $4); print $4 }')
$( ((NAT)) && echo "ice.stun = ${PUB[s]}:$PB_IPOPD_STUN_PORT")
overlay = group
xmpp.jid = $n@ipop.test
xmpp.password = pass-$n
xmpp.server = ${PUB[s]}
xmpp.port = $PB_IPOPD_XMPP_PORT
xmpp.server-fingerprint = $(cat "$D/xmpp/fingerprint")
group.room = bench@rooms.ipop.test
group.secret-file = $D/secret
EOC
        "$PB_IPOPD" --check --config "$D/$n.conf" >/dev/null || { echo "ipopd --check refused $n.conf"; return 1; }
      done
      if ((NAT)); then
        cat >"$D/turnserver.conf" <<EOC
listening-ip=${PUB[s]}
listening-port=$PB_IPOPD_STUN_PORT
stun-only
no-cli
no-tls
no-dtls
fingerprint
pidfile=$D/turn.pid
log-file=stdout
simple-log
EOC
      fi ;;
    start)
      case $n in
        s)
          if ((NAT)); then
            daemon s ipopd-coturn turnserver -c "$D/turnserver.conf"
            wait_for 10 listening s u "$PB_IPOPD_STUN_PORT" || { echo "coturn does not listen"; return 1; }
          fi
          daemon s ipopd-prosody setpriv --reuid=prosody --regid=prosody --init-groups \
            prosody -F --config "$D/xmpp/prosody.cfg.lua"
          wait_for 10 listening s t "$PB_IPOPD_XMPP_PORT" || { echo "prosody does not listen"; return 1; } ;;
        *)
          daemon "$n" "ipopd-$n" "$PB_IPOPD" --config "$D/$n.conf" --control "$D/$n.sock" ;;
      esac ;;
    *) ;;
  esac
}
