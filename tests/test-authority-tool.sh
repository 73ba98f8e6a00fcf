#!/bin/sh
# SPDX-License-Identifier: MIT
# ipop-authority as an administrator uses it: init, sign, show, revoke, crl,
# and the refusals that protect the authority (a second init, an unknown
# serial, a tampered certificate, another authority's key).
set -u
tool=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ca=$dir/ca
id_a=abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst
id_b=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { "$@" >"$dir/out" 2>"$dir/err" || fail "$* exited $? ($(cat "$dir/err"))"; }
refused() { if "$@" >"$dir/out" 2>"$dir/err"; then fail "$* was not refused"; fi; }

ok "$tool" --dir "$ca" init
pub=$(cat "$dir/out")
case $pub in ed25519:???????????????????????????????????????????) ;; *) fail "init printed '$pub'" ;; esac
[ "$(cat "$ca/authority.pub")" = "$pub" ] || fail "authority.pub is not the key printed"
[ "$(stat -c %a "$ca/authority.key")" = 600 ] || fail "authority.key is not 0600"
refused "$tool" --dir "$ca" init
grep -q "exists" "$dir/err" || fail "second init: no reason given"

ok "$tool" --dir "$ca" sign --node-id $id_a --name alice --address 10.9.0.2/24 --address fd00::2/64 \
    --route 192.168.5.0/24 --expires 30 --output "$dir/a.cert"
ok "$tool" --dir "$ca" sign --node-id $id_b --name bob --address 10.9.0.3/24
cp "$dir/out" "$dir/b.cert"
grep -q "^ipop-cert1 serial=2 node=$id_b name=bob addr=10.9.0.3/24 route=- " "$dir/b.cert" || fail "b.cert: $(cat "$dir/b.cert")"
ok "$tool" --dir "$ca" show "$dir/a.cert"
for want in "serial: 1" "node id: $id_a" "name: alice" "addresses: 10.9.0.2/24 fd00::2/64" \
            "routes: 192.168.5.0/24" "signature: valid"; do
    grep -qx "$want" "$dir/out" || fail "show a.cert lacks '$want'"
done
ok "$tool" --authority "$pub" show "$dir/a.cert"

# Usage errors and bad values are refused.
refused "$tool" --dir "$ca" sign --node-id short --name x
refused "$tool" --dir "$ca" sign --node-id $id_a --name "two words"
refused "$tool" --dir "$ca" sign --node-id $id_a --name a --address 10.9.0.2
refused "$tool" --dir "$ca" sign --node-id $id_a --name a --expires 0

# A changed byte, or another authority: show says so and exits 1.
sed 's/10.9.0.2/10.9.0.9/' "$dir/a.cert" >"$dir/forged.cert"
refused "$tool" --dir "$ca" show "$dir/forged.cert"
grep -q "signature: INVALID: bad signature" "$dir/out" || fail "forged cert: $(cat "$dir/out")"
ok "$tool" --dir "$dir/other" init
refused "$tool" --dir "$dir/other" show "$dir/a.cert"
grep -q "another authority" "$dir/out" || fail "other authority: $(cat "$dir/out")"

# Revocations and the list.
refused "$tool" --dir "$ca" revoke 99
ok "$tool" --dir "$ca" revoke 1
refused "$tool" --dir "$ca" revoke 1
ok "$tool" --dir "$ca" revoke $id_b
ok "$tool" --dir "$ca" crl --output "$dir/r1.crl"
grep -q "^ipop-crl1 serial=1 .* revoke=1,$id_b sig=" "$dir/r1.crl" || fail "crl: $(cat "$dir/r1.crl")"
ok "$tool" --dir "$ca" show "$dir/r1.crl"
grep -qx "revoked serials: 1" "$dir/out" || fail "show crl: $(cat "$dir/out")"
grep -qx "revoked nodes: $id_b" "$dir/out" || fail "show crl: $(cat "$dir/out")"
grep -qx "signature: valid" "$dir/out" || fail "show crl: $(cat "$dir/out")"
ok "$tool" --dir "$ca" crl
grep -q "^ipop-crl1 serial=2 " "$dir/out" || fail "second list is not serial 2: $(cat "$dir/out")"
refused "$tool" --dir "$dir/other" show "$dir/r1.crl"

[ $fails -eq 0 ] && echo "ok: ipop-authority init, sign, show, revoke, crl"
exit $((fails != 0))
