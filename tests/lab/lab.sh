# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# NAT traversal lab: shell functions that build, in network namespaces, a
# public "internet" router, servers on its public side (prosody for XMPP,
# coturn for STUN and TURN over UDP and TCP, a NAT classifier) and hosts,
# each behind a NAT namespace of a chosen type made with nftables.
# Sourced by matrix.sh; see doc/connectivity.md for what each NAT type is
# and how it is built.
#
#              srv: prosody 10.200.0.2:5222, coturn 10.200.0.2:3478 (udp+tcp),
#                   natcheck 10.200.0.2:4000/4001 and 10.200.0.3:4000
#                         | 10.200.0.1
#                   inet (router, the "internet")
#          10.201.K.1 /            \ 10.201.L.1
#   natK: wan 10.201.K.2          natL: wan 10.201.L.2       (nftables: the NAT type)
#         br0 10.202.K.1                br0 10.202.L.1       (a bridge: hosts on one LAN)
#          |        |                    |
#   hK1 10.202.K.2  hK2 10.202.K.3      hL1 10.202.L.2
#
# Every name carries LAB_TAG (the pid of the shell) so that runs never
# collide; only namespaces, processes and files made here are touched, and
# lab_cleanup (an EXIT trap set by lab_init) removes them all.

set -u

LAB_TAG="lb$$"
LAB_WORK=""
LAB_SRV=10.200.0.2
LAB_SRV2=10.200.0.3
LAB_XMPP_PORT=5222
LAB_TURN_PORT=3478
LAB_TURN_USER=lab
LAB_TURN_PASS=labpass
LAB_CHECK_PORT1=4000
LAB_CHECK_PORT2=4001
LAB_NAMESPACES=()
IPOPD=""   # set by the script that sources this: ipopd, and ipopctl next to it
IPOPCTL=""
LAB_PIDS=()
LAB_FAILED=0
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_SRCDIR=$(cd "$LAB_DIR/../.." && pwd)

lab_log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

# lab_fail MESSAGE: fails the test, from a subshell too (see netns/lib.sh's fail).
exec {LAB_FAIL_FD}>&2  # (seen even from a check whose output is thrown away)
lab_fail() {
    lab_log "FAIL: $*" 2>&"$LAB_FAIL_FD"
    LAB_FAILED=1
    [ "$BASHPID" = "$$" ] || kill -USR1 "$$"
    exit 1
}
trap 'lab_fail "a check in a subshell failed (see the FAIL line above)"' USR1

lab_alive() {
    [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# lab_now_ms: a monotonic-enough clock in milliseconds.
lab_now_ms() { echo $(($(date +%s%N) / 1000000)); }

# lab_stamp: copies stdin to stdout, each line prefixed with the time of
# day in ms (to read how long each step of a link setup took).
lab_stamp() {
    python3 -u -c '
import sys, time
for line in sys.stdin:
    t = time.time()
    sys.stdout.write("%s.%03d %s" % (time.strftime("%H:%M:%S", time.localtime(t)), int(t * 1000) % 1000, line))
'
}

# lab_wait SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds;
# returns 1 after SECONDS.
lab_wait() {
    local deadline
    deadline=$(($(lab_now_ms) + $1 * 1000))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$(lab_now_ms)" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}

# lab_require: exits 77 (skipped, for meson) unless the lab can be built here.
lab_require() {
    local t
    if [ "$(id -u)" != 0 ]; then
        echo "SKIP: needs root (network namespaces, nftables, TUN devices)"
        exit 77
    fi
    [ -c /dev/net/tun ] || { echo "SKIP: needs /dev/net/tun"; exit 77; }
    for t in ip nft ping prosody prosodyctl turnserver openssl runuser python3; do
        command -v "$t" >/dev/null || { echo "SKIP: needs $t"; exit 77; }
    done
    id prosody >/dev/null 2>&1 || { echo "SKIP: needs the prosody user (package prosody)"; exit 77; }
    id turnserver >/dev/null 2>&1 || { echo "SKIP: needs the turnserver user (package coturn)"; exit 77; }
}

lab_dump() {
    local f ns
    for f in "$LAB_WORK"/*.log "$LAB_WORK"/turn/turn.log; do
        [ -e "$f" ] || continue
        echo "===== $f (last 60 lines) ====="
        tail -n 60 "$f"
    done
    for ns in "${LAB_NAMESPACES[@]}"; do
        case $ns in *nat*) ;; *) continue ;; esac
        echo "===== $ns ruleset ====="
        ip netns exec "$ns" nft list ruleset 2>&1
    done
} >&2

# lab_cleanup: the EXIT trap.  Stops what was started here, deletes the
# namespaces made here (and kills what is left inside them), removes the
# work directory.
lab_cleanup() {
    local status=$? pid ns i
    trap - EXIT INT TERM
    if [ "$status" != 0 ] && [ "$status" != 77 ]; then
        LAB_FAILED=1
    fi
    if [ "$LAB_FAILED" = 1 ] && [ -n "$LAB_WORK" ] && [ -z "${LAB_NO_DUMP:-}" ]; then
        lab_dump
    fi
    [ -n "$LAB_WORK" ] && [ -f "$LAB_WORK/xmpp/prosody.pid" ] &&
        bash "$LAB_SRCDIR/tests/servers/prosody.sh" stop "$LAB_WORK/xmpp" 2>/dev/null
    for pid in "${LAB_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${LAB_PIDS[@]}"; do
        for ((i = 0; i < 30; i++)); do
            lab_alive "$pid" || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        lab_reap "$pid" || echo "lab: $pid stuck: alive 10 s after SIGKILL" >&2
    done
    for ns in "${LAB_NAMESPACES[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null
        done
        ip netns del "$ns" 2>/dev/null
    done
    [ -n "$LAB_WORK" ] && [ -z "${LAB_KEEP:-}" ] && rm -rf "$LAB_WORK"
    exit "$status"
}

# lab_init: checks, traps, the work directory.
lab_init() {
    lab_require
    trap lab_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    LAB_WORK=$(mktemp -d "${TMPDIR:-/tmp}/ipop-lab.XXXXXX") || exit 1
    chmod 711 "$LAB_WORK" # prosody and coturn run as their own users
}

# lab_ns NAME: the namespace $LAB_TAG-NAME, loopback up, deleted at exit.
lab_ns() {
    local ns="$LAB_TAG-$1"
    ip netns add "$ns" || lab_fail "cannot create namespace $ns"
    LAB_NAMESPACES+=("$ns")
    ip -n "$ns" link set lo up
}

# lab_nsname NAME: the full name of the lab's namespace NAME.
lab_nsname() { printf '%s-%s' "$LAB_TAG" "$1"; }

# lab_exec NAME COMMAND...: runs COMMAND in the lab's namespace NAME.
lab_exec() {
    local ns
    ns=$(lab_nsname "$1")
    shift
    ip netns exec "$ns" "$@"
}

# lab_ns_del NAME: deletes the lab's namespace NAME now (and kills what runs in it).
lab_ns_del() {
    local ns pid left=() n
    ns=$(lab_nsname "$1")
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
        kill -KILL "$pid" 2>/dev/null
    done
    ip netns del "$ns" 2>/dev/null
    for n in "${LAB_NAMESPACES[@]}"; do
        [ "$n" = "$ns" ] || left+=("$n")
    done
    LAB_NAMESPACES=("${left[@]}")
}

# lab_internet: the public router, and the server namespace behind it.
lab_internet() {
    lab_ns inet
    lab_ns srv
    lab_exec inet sysctl -qw net.ipv4.ip_forward=1
    ip -n "$(lab_nsname srv)" link add eth0 type veth peer name srv netns "$(lab_nsname inet)" ||
        lab_fail "veth srv"
    ip -n "$(lab_nsname inet)" addr add 10.200.0.1/24 dev srv
    ip -n "$(lab_nsname inet)" link set srv up
    ip -n "$(lab_nsname srv)" addr add "$LAB_SRV/24" dev eth0
    ip -n "$(lab_nsname srv)" addr add "$LAB_SRV2/24" dev eth0
    ip -n "$(lab_nsname srv)" link set eth0 up
    ip -n "$(lab_nsname srv)" route add default via 10.200.0.1
}

# lab_prosody USER:PASS...: prosody on the server (domain ipop.test, rooms
# on rooms.ipop.test); its certificate fingerprint in $LAB_WORK/xmpp/fingerprint.
lab_prosody() {
    mkdir -p "$LAB_WORK/xmpp"
    lab_exec srv bash "$LAB_SRCDIR/tests/servers/prosody.sh" start "$LAB_WORK/xmpp" "$LAB_SRV" "$LAB_XMPP_PORT" \
        "$@" >"$LAB_WORK/prosody-start.log" 2>&1 || {
        cat "$LAB_WORK/prosody-start.log" >&2
        lab_fail "prosody did not start"
    }
    [ -s "$LAB_WORK/xmpp/fingerprint" ] || lab_fail "prosody.sh wrote no fingerprint"
}

lab_tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# lab_coturn: coturn on the server: STUN and TURN on UDP and TCP port 3478,
# long-term credentials $LAB_TURN_USER:$LAB_TURN_PASS, relays on $LAB_SRV.
lab_coturn() {
    mkdir -p "$LAB_WORK/turn"
    cat >"$LAB_WORK/turn/turnserver.conf" <<EOF
listening-ip=$LAB_SRV
relay-ip=$LAB_SRV
listening-port=$LAB_TURN_PORT
min-port=49160
max-port=49999
realm=ipop.test
lt-cred-mech
user=$LAB_TURN_USER:$LAB_TURN_PASS
fingerprint
no-cli
no-tls
no-dtls
no-multicast-peers
pidfile=$LAB_WORK/turn/turn.pid
log-file=$LAB_WORK/turn/turn.log
simple-log
EOF
    chown -R turnserver: "$LAB_WORK/turn"
    ip netns exec "$(lab_nsname srv)" runuser -u turnserver -- turnserver -c "$LAB_WORK/turn/turnserver.conf" \
        >/dev/null 2>&1 &
    LAB_PIDS+=("$!")
    lab_wait 5 lab_exec srv bash -c "exec 3<>/dev/tcp/$LAB_SRV/$LAB_TURN_PORT" || lab_fail "coturn did not listen"
}

# lab_natcheck_server: the NAT classifier's server side (natcheck.py).
lab_natcheck_server() {
    ip netns exec "$(lab_nsname srv)" python3 "$LAB_DIR/natcheck.py" server "$LAB_SRV" "$LAB_SRV2" \
        "$LAB_CHECK_PORT1" "$LAB_CHECK_PORT2" >"$LAB_WORK/natcheck-server.log" 2>&1 &
    LAB_PIDS+=("$!")
    lab_wait 5 grep -q ready "$LAB_WORK/natcheck-server.log" || lab_fail "natcheck server did not start"
}

# lab_natcheck HOST: prints what the classifier sees from HOST
# ("mapping=... filtering=...").
lab_natcheck() {
    lab_exec "$1" timeout 20 python3 "$LAB_DIR/natcheck.py" client "$LAB_SRV" "$LAB_SRV2" \
        "$LAB_CHECK_PORT1" "$LAB_CHECK_PORT2"
}

# The nftables ruleset of a NAT of TYPE (see doc/connectivity.md):
#   full-cone         endpoint-independent mapping and filtering
#   addr-restricted   endpoint-independent mapping, address-dependent filtering
#   port-restricted   endpoint-independent mapping, address+port-dependent filtering
#   symmetric         endpoint-dependent mapping (random port per destination),
#                     address+port-dependent filtering
#   udp-blocked       a firewall (with NAT): no UDP at all; only TCP to the
#                     server (XMPP 5222 and TURN 3478) goes out
lab_nat_ruleset() {
    local type=$1 masq="masquerade" fwd_out="iifname \"br0\" oifname \"wan\" accept" extra_fwd="ct status dnat accept"
    local sets="" pre="" track=""
    case $type in
    full-cone | addr-restricted)
        # mapping: public port -> (private address . private port), learnt
        # from each outgoing UDP packet after masquerade chose its port.
        # Conntrack's masquerade keeps a mapping endpoint-independent (it
        # keeps the source port unless that would clash); the map lets a
        # first packet from anyone else reach the host.
        sets="
    map mapping {
        type inet_service : ipv4_addr . inet_service
        flags dynamic, timeout
        timeout 120s
    }
    set contacted {
        type inet_service . ipv4_addr
        flags dynamic, timeout
        timeout 120s
    }"
        track="
    chain track {
        type filter hook postrouting priority srcnat + 10; policy accept;
        oifname \"wan\" meta l4proto udp ct direction original update @mapping { ct reply proto-dst : ct original ip saddr . ct original proto-src }
        oifname \"wan\" meta l4proto udp ct direction original update @contacted { ct reply proto-dst . ip daddr }
    }"
        if [ "$type" = full-cone ]; then
            pre="iifname \"wan\" meta l4proto udp dnat ip addr . port to udp dport map @mapping"
        else
            pre="iifname \"wan\" meta l4proto udp udp dport . ip saddr @contacted dnat ip addr . port to udp dport map @mapping"
        fi
        extra_fwd="ct status dnat accept"
        ;;
    port-restricted) ;;
    symmetric) masq="masquerade fully-random" ;;
    udp-blocked)
        fwd_out="iifname \"br0\" oifname \"wan\" ip daddr $LAB_SRV tcp dport { $LAB_XMPP_PORT, $LAB_TURN_PORT } accept"
        ;;
    *) lab_fail "unknown NAT type $type" ;;
    esac
    cat <<EOF
table ip lab {
$sets
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        $pre
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan" $masq
    }
$track
    # Unsolicited packets to the NAT itself are dropped before conntrack
    # confirms an entry for them: such an entry would take the port mapping
    # the host's own packets to that peer need (examples/demo.sh).
    chain input {
        type filter hook input priority filter; policy accept;
        iifname "wan" ct state new drop
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        $fwd_out
        ct state established,related accept
        $extra_fwd
    }
}
EOF
}

# lab_nat NAME K TYPE [WAN]: the NAT namespace NAME, public address
# WAN.K.2 (the internet's side WAN.K.1; WAN is 10.201 unless given), LAN
# 10.202.K.0/24 on bridge br0 (10.202.K.1), with a ruleset of TYPE.
lab_nat() {
    local name=$1 k=$2 type=$3 wan=${4:-10.201} ns inet
    lab_ns "$name"
    ns=$(lab_nsname "$name")
    inet=$(lab_nsname inet)
    lab_exec "$name" sysctl -qw net.ipv4.ip_forward=1
    ip -n "$ns" link add wan type veth peer name "n$k" netns "$inet" || lab_fail "veth $name"
    ip -n "$inet" addr add "$wan.$k.1/24" dev "n$k"
    ip -n "$inet" link set "n$k" up
    ip -n "$ns" addr add "$wan.$k.2/24" dev wan
    ip -n "$ns" link set wan up
    ip -n "$ns" route add default via "$wan.$k.1"
    ip -n "$ns" link add br0 type bridge
    ip -n "$ns" addr add "10.202.$k.1/24" dev br0
    ip -n "$ns" link set br0 up
    # Bridged traffic between hosts of one LAN must not meet the NAT rules.
    lab_exec "$name" sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null
    lab_nat_ruleset "$type" >"$LAB_WORK/$name.nft"
    lab_exec "$name" nft -f "$LAB_WORK/$name.nft" || lab_fail "nftables ruleset $type in $name"
}

# The public side of a NAT that runs miniupnpd: miniupnpd maps nothing on
# an address it calls private or reserved (10/8, 100.64/10, the
# documentation ranges...), so these NATs take 100.201.K.2, outside all of
# them (and, like every lab address, inside the namespaces only).
LAB_WAN_PUBLIC=100.201

# lab_miniupnpd NAME PROTOS [refuse]: miniupnpd on the NAT namespace NAME
# (made by lab_nat with $LAB_WAN_PUBLIC), speaking PROTOS ("upnp",
# "natpmp" for NAT-PMP and PCP, which miniupnpd switches together, or
# "upnp natpmp"); with "refuse", its permission rules deny every mapping.
# Its nftables table (inet miniupnpd: the chains it fills, hooked just
# before the lab's own), config, lease file and log are its own, in
# $LAB_WORK/NAME-upnp; the pid goes to LAB_PIDS and to NAME-upnp/pid.
lab_miniupnpd() {
    local name=$1 protos=$2 refuse=${3:-} dir="$LAB_WORK/$1-upnp" upnp=no natpmp=no rule
    mkdir -p "$dir"
    case " $protos " in *" upnp "*) upnp=yes ;; esac
    case " $protos " in *" natpmp "*) natpmp=yes ;; esac
    rule="allow 1024-65535 10.202.0.0/16 1024-65535"
    [ "$refuse" = refuse ] && rule="deny 0-65535 0.0.0.0/0 0-65535"
    if ! lab_exec "$name" nft list table inet miniupnpd >/dev/null 2>&1; then
        lab_exec "$name" nft -f - <<'EOF2' || lab_fail "miniupnpd's nftables table in $name"
table inet miniupnpd {
    chain forward {
        type filter hook forward priority filter - 1; policy accept;
        jump miniupnpd
    }
    chain miniupnpd {
    }
    chain prerouting {
        type nat hook prerouting priority dstnat - 1; policy accept;
        jump prerouting_miniupnpd
    }
    chain prerouting_miniupnpd {
    }
    chain postrouting {
        type nat hook postrouting priority srcnat - 1; policy accept;
        jump postrouting_miniupnpd
    }
    chain postrouting_miniupnpd {
    }
}
EOF2
    fi
    cat >"$dir/miniupnpd.conf" <<EOF2
ext_ifname=wan
listening_ip=br0
http_port=0
enable_upnp=$upnp
enable_natpmp=$natpmp
secure_mode=yes
system_uptime=no
notify_interval=60
min_lifetime=120
max_lifetime=86400
upnp_table_name=miniupnpd
upnp_nat_table_name=miniupnpd
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
lease_file=$dir/leases
uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d0$(printf '%02x' $((RANDOM % 256)))
$rule
deny 0-65535 0.0.0.0/0 0-65535
EOF2
    # In a mount namespace of its own with /dev/null on /dev/console: with
    # no syslog daemon, its syslog() falls back to the console (LOG_CONS),
    # and a refused PCP MAP makes it try every port with a log line each,
    # some 65,000 lines a request, that once flooded the machine's
    # console.  Its log keeps the first few of those lines and a count.
    ip netns exec "$(lab_nsname "$name")" unshare -m --propagation private \
        sh -c 'mount --bind /dev/null /dev/console && exec "$@"' sh \
        miniupnpd -d -f "$dir/miniupnpd.conf" -P "$dir/miniupnpd.pid" \
        > >(python3 -u -c '
import re, sys
n = 0
for line in sys.stdin:
    if re.search(r"permission rule .* matched", line):
        n += 1
        if n > 3:
            continue
    sys.stdout.write(line)
if n > 3:
    print("(%d permission-rule lines in all)" % n)
' >"$dir/miniupnpd.log") 2>&1 &
    LAB_PIDS+=("$!")
    echo "$!" >"$dir/pid"
    if [ "$natpmp" = yes ]; then
        lab_wait 5 lab_exec "$name" bash -c "ss -Hlun | grep -q ':5351 '" || lab_fail "miniupnpd in $name: no NAT-PMP/PCP port"
    else
        lab_wait 5 lab_exec "$name" bash -c "ss -Hltn | grep -q miniupnpd || ss -Hltnp | grep -q miniupnpd" ||
            lab_fail "miniupnpd in $name did not start"
    fi
}

# lab_miniupnpd_stop NAME: stops NAME's miniupnpd (SIGTERM: it removes its
# rules, as a router's restart forgets its mappings).
lab_miniupnpd_stop() {
    local pid left=() p i
    pid=$(cat "$LAB_WORK/$1-upnp/pid")
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        lab_alive "$pid" || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    lab_reap "$pid" || lab_fail "miniupnpd $pid stuck: alive 10 s after SIGKILL"
    for p in "${LAB_PIDS[@]}"; do
        [ "$p" = "$pid" ] || left+=("$p")
    done
    LAB_PIDS=("${left[@]}")
    # what a router that lost power forgets: every mapping (its lease file
    # too, or miniupnpd puts them back) and its connection tracking
    rm -f "$LAB_WORK/$1-upnp/leases"
    lab_exec "$1" nft flush chain inet miniupnpd miniupnpd 2>/dev/null
    lab_exec "$1" nft flush chain inet miniupnpd prerouting_miniupnpd 2>/dev/null
    lab_exec "$1" nft flush chain inet miniupnpd postrouting_miniupnpd 2>/dev/null
    lab_exec "$1" conntrack -F 2>/dev/null
    true
}

# lab_host NAME NAT K J: the host namespace NAME on NAT's LAN, address
# 10.202.K.(J+1), default route via the NAT.
lab_host() {
    local name=$1 nat=$2 k=$3 j=$4 ns
    lab_ns "$name"
    ns=$(lab_nsname "$name")
    ip -n "$ns" link add eth0 type veth peer name "h$j" netns "$(lab_nsname "$nat")" || lab_fail "veth $name"
    ip -n "$(lab_nsname "$nat")" link set "h$j" master br0
    ip -n "$(lab_nsname "$nat")" link set "h$j" up
    ip -n "$ns" addr add "10.202.$k.$((j + 1))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "10.202.$k.1"
    lab_wait 5 lab_exec "$name" ping -c 1 -W 1 -w 2 "10.202.$k.1" || lab_fail "$name does not reach its NAT"
}

# lab_expect_nat HOST TYPE: runs the classifier from HOST and fails unless
# the NAT in front behaves as TYPE.  Prints the classifier's line.
lab_expect_nat() {
    local host=$1 type=$2 got want
    got=$(lab_natcheck "$host") || lab_fail "natcheck from $host failed: $got"
    case $type in
    full-cone) want="mapping=independent filtering=any" ;;
    addr-restricted) want="mapping=independent filtering=address" ;;
    port-restricted) want="mapping=independent filtering=address-port" ;;
    symmetric) want="mapping=dependent filtering=address-port" ;;
    udp-blocked) want="mapping=none filtering=none" ;;
    esac
    case $got in
    "$want"*) ;;
    *) lab_fail "the NAT in front of $host should be $type ($want) but natcheck says: $got" ;;
    esac
    if [ "$type" = udp-blocked ]; then
        lab_exec "$host" bash -c "exec 3<>/dev/tcp/$LAB_SRV/$LAB_TURN_PORT" ||
            lab_fail "$host ($type) cannot reach TURN over TCP"
    fi
    printf '%s\n' "$got"
}

# ---- ipopd nodes (GroupVPN over the lab's prosody; STUN and TURN at its coturn)
# A node NODE has its files in $LAB_WORK: NODE.conf, NODE.key, NODE.sock,
# NODE.log (time-stamped).  Its XMPP user must have been given to lab_prosody
# as NODE:pw-NODE.

# link_paths NODE: "state path remote_path rtt_us" of NODE's first link.
# A node that does not answer, or answers with something else than the JSON
# expected, fails the test: checks such as "not connected" must not pass
# on a broken ipopctl.
link_paths() {
    local json
    json=$("$IPOPCTL" --control "$LAB_WORK/$1.sock" status --json) || lab_fail "ipopctl status --json of $1 failed"
    printf '%s' "$json" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
links = [l for n in doc["networks"] for l in n["links"]]
conn = [l for l in links if l["state"] == "connected"]
l = (conn or links or [None])[0]
print("none - - -" if l is None else "%s %s %s %s" % (l["state"], l["path"], l["remote_path"], l["rtt_us"]))
' || lab_fail "ipopctl status --json of $1 is not the JSON expected: $json"
}

# mapping_of NODE: "upnp", "natpmp", "pcp" or "-": the mapping on NODE's
# end of its first link's path (ipopctl status --json).
mapping_of() {
    "$IPOPCTL" --control "$LAB_WORK/$1.sock" status --json | python3 -c '
import json, sys
links = [l for n in json.load(sys.stdin)["networks"] for l in n["links"]]
print((links[0].get("port_mapping") or "-") if links else "-")'
}

has_overlay() { lab_exec "$1" ip -4 addr show dev ipop0 2>/dev/null | grep -q 'inet 10.40.0.'; }

connected() { [ "$(link_paths "$1" | cut -d' ' -f1)" = connected ]; }

# kind PATH REMOTE_PATH: relay when either end of the selected pair is a
# relayed candidate, else host when both are host candidates, else direct.
kind() {
    if [ "$1" = relay ] || [ "$2" = relay ]; then
        echo relay
    elif [ "$1" = host ] && [ "$2" = host ]; then
        echo host
    else
        echo direct
    fi
}

# write_config NODE INDEX USER ROOM: NODE's config (overlay address 10.40.0.INDEX).
write_config() {
    local node=$1 idx=$2 user=$3 room=$4 turn
    turn="turn:$LAB_TURN_USER:$LAB_TURN_PASS@$LAB_SRV:$LAB_TURN_PORT"
    cat >"$LAB_WORK/$node.conf" <<EOF
# written by ${0##*/}
[lab]
mode = tun
device = ipop0
address = 10.40.0.$idx/24
identity.file = $LAB_WORK/$node.key
link.timeout = 10
ice.stun = $LAB_SRV:$LAB_TURN_PORT
ice.turn = $turn?transport=udp;$turn?transport=tcp
overlay = group
xmpp.jid = $user@ipop.test
xmpp.password = pw-$user
xmpp.server = $LAB_SRV
xmpp.port = $LAB_XMPP_PORT
xmpp.server-fingerprint = $(cat "$LAB_WORK/xmpp/fingerprint")
group.room = $room@rooms.ipop.test
group.secret = lab secret
EOF
    "$IPOPD" --check --config "$LAB_WORK/$node.conf" >/dev/null || lab_fail "ipopd --check refused $node.conf"
}

start_node() {
    local host=$1 node=$2
    # Not through lab_exec: a function run in the background is a subshell,
    # and $! must be ipopd itself (ip netns exec execs it) for signals.
    ip netns exec "$(lab_nsname "$host")" "$IPOPD" -v --config "$LAB_WORK/$node.conf" \
        --control "$LAB_WORK/$node.sock" 2> >(lab_stamp >"$LAB_WORK/$node.log") &
    LAB_PIDS+=("$!")
}

# lab_reap PID: waits for PID, a child that was sent SIGKILL or has ended,
# and sets LAB_REAPED to its status; returns 1 without waiting when it is
# still alive 10 s later (stuck in the kernel): a bare wait would hang.
lab_reap() {
    local i
    for ((i = 0; i < 100; i++)); do
        lab_alive "$1" || break
        sleep 0.1
    done
    lab_alive "$1" && return 1
    LAB_REAPED=0
    wait "$1" 2>/dev/null || LAB_REAPED=$?
    return 0
}

# lab_stacks PID: where each thread of PID waits, to stderr: kernel state
# and stack, and the user-space frames (gdb, when installed).  A thread
# blocked on a lock, a join or a condition, and the main thread, are also
# summed up in one "stuck:" line each (what CI's summary shows).
lab_stacks() {
    local pid=$1 t
    for t in /proc/"$pid"/task/*; do
        [ -d "$t" ] || continue
        echo "thread ${t##*/} $(awk '/^State:/ {print $2}' "$t/status" 2>/dev/null) wchan $(cat "$t/wchan" 2>/dev/null)" \
            "kernel: $(head -n 4 "$t/stack" 2>/dev/null | awk '{print $2}' | tr '\n' ' ')"
    done >&2
    command -v gdb >/dev/null || { echo "(no gdb: no user-space frames)" >&2; return 0; }
    timeout -s KILL 30 gdb -p "$pid" -batch -nx -ex 'thread apply all bt 20' 2>/dev/null |
        python3 -c '
import re, sys
threads, cur = [], None
for line in sys.stdin:
    sys.stderr.write(line)
    m = re.match(r"Thread (\d+) .*?\(LWP (\d+)\)(?: \"([^\"]*)\")?", line)
    if m:
        cur = [m.group(1), m.group(3) or "", []]
        threads.append(cur)
        continue
    m = re.match(r"#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(", line)
    if m and cur:
        cur[2].append(m.group(1))
for num, name, frames in threads:
    chain = "<".join(f for f in frames if not f.startswith("??"))[:170]
    if num == "1" or re.search(r"join|cond_wait|lock|futex|sem_wait", chain):
        sys.stderr.write("stuck: thread %s %s: %s\n" % (num, name, chain))
'
}

# stop_node PID: SIGTERM; ipopd must exit by itself with status 0 within
# 5 s (times IPOP_TEST_TIME_FACTOR), a clean stop, or the test fails.  One
# that does not is shown where it waits (lab_stacks), then killed; one that
# outlives SIGKILL (stuck in the kernel) fails the test without being
# waited for, so the test ends in its own time either way.
stop_node() {
    local pid=$1 i left=() p status killed=false
    kill -TERM "$pid" 2>/dev/null || lab_fail "ipopd $pid is not running"
    for ((i = 0; i < 50 * ${IPOP_TEST_TIME_FACTOR:-1}; i++)); do
        lab_alive "$pid" || break
        sleep 0.1
    done
    if lab_alive "$pid"; then
        echo "ipopd $pid still running $((5 * ${IPOP_TEST_TIME_FACTOR:-1})) s after SIGTERM; where it waits:" >&2
        lab_stacks "$pid"
        kill -KILL "$pid" 2>/dev/null
        killed=true
    fi
    lab_reap "$pid" || lab_fail "ipopd $pid stuck: alive 10 s after SIGKILL, in $(cat "/proc/$pid/wchan" 2>/dev/null)"
    status=$LAB_REAPED
    for p in "${LAB_PIDS[@]}"; do
        [ "$p" = "$pid" ] || left+=("$p")
    done
    LAB_PIDS=("${left[@]}")
    ! $killed || lab_fail "ipopd $pid did not exit within $((5 * ${IPOP_TEST_TIME_FACTOR:-1})) s of SIGTERM"
    [ "$status" = 0 ] || lab_fail "ipopd $pid exited with status $status after SIGTERM"
}

