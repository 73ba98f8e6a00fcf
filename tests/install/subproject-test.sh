#!/usr/bin/env bash
# libipop as a meson subproject of a tiny parent project (parent/): the
# parent gets ipop_dep, builds app.c with it, and the subproject builds and
# installs nothing but the library: no tests, daemon, examples, benchmarks,
# docs, man pages, systemd units, headers or .pc files.  The parent's
# compiler sees none of libipop's private dependencies' flags.
#
# usage: subproject-test.sh SCRATCHDIR SRCDIR
set -euo pipefail

tmp=$(readlink -f "${1:?usage: subproject-test.sh SCRATCHDIR SRCDIR}")/subproject
srcdir=$(readlink -f "${2:?usage: subproject-test.sh SCRATCHDIR SRCDIR}")
here=$srcdir/tests/install

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

step "subproject: a parent project with libipop in subprojects/"
mkdir -p "$tmp/parent/subprojects"
cp "$here/parent/meson.build" "$here/app.c" "$tmp/parent/"
# A copy of the source tree without build directories, as a wrap would
# unpack it.
(cd "$srcdir" && tar --exclude='./build*' --exclude='./.git' -cf - .) |
    (mkdir "$tmp/parent/subprojects/libipop" && cd "$tmp/parent/subprojects/libipop" && tar -xf -)
meson setup "$tmp/pbuild" "$tmp/parent" --prefix=/usr >"$tmp/setup.log" 2>&1 ||
    { cat "$tmp/setup.log"; fail "meson setup of the parent"; }
meson compile -C "$tmp/pbuild" >"$tmp/compile.log" 2>&1 ||
    { cat "$tmp/compile.log"; fail "the parent does not build"; }

step "subproject: nothing but the library is built"
targets=$(meson introspect --targets "$tmp/pbuild" |
    python3 -c 'import json, sys; print("\n".join(sorted(t["name"] for t in json.load(sys.stdin))))')
echo "$targets" | tr '\n' ' '; echo
for t in $targets; do
    case $t in
        app|ipop|ipop-internal) ;;
        *) fail "the subproject made target '$t'" ;;
    esac
done
tests=$(meson introspect --tests "$tmp/pbuild" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
[[ $tests == 0 ]] || fail "the subproject registered $tests tests in the parent"

step "subproject: the parent's compiler sees only libipop's headers"
cmd=$(python3 -c 'import json, sys
for c in json.load(open(sys.argv[1])):
    if c["file"].endswith("app.c"):
        print(c["command"])' "$tmp/pbuild/compile_commands.json")
echo "$cmd"
[[ -n $cmd ]] || fail "no compile command for app.c"
for bad in glib-2.0 nice gnutls strophe -DXMPP -DIPOP_COMPILATION; do
    [[ $cmd != *"$bad"* ]] || fail "app.c compiles with '$bad' from libipop's private dependencies"
done

step "subproject: the parent's program runs"
"$tmp/pbuild/app" >/dev/null || fail "app exited with $?"

step "subproject: installs only the shared library into the parent"
DESTDIR=$tmp/dest meson install -C "$tmp/pbuild" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "meson install of the parent"; }
installed=$(cd "$tmp/dest" && find . \( -type f -o -type l \) | sort)
echo "$installed"
while read -r f; do
    case $f in
        ./usr/bin/app|./usr/lib/*/libipop.so.0|./usr/lib/*/libipop.so.0.0.0|./usr/lib/*/libipop.so) ;;
        *) fail "the subproject installed $f into the parent" ;;
    esac
done <<<"$installed"
echo "subproject test passed"
