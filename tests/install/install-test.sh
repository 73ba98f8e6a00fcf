#!/usr/bin/env bash
# Installs libipop into a temporary prefix and builds a program against it
# the way a user would: with pkg-config alone.  Also checks what the shared
# library exports (exactly lib/libipop.sym's symbols) and its soname.
#
# usage: install-test.sh BUILDDIR SRCDIR
#   BUILDDIR  the meson build directory running this test (scratch files go
#             under it)
#   SRCDIR    the source tree, configured afresh with --prefix in a scratch
#             build: a prefix baked in at configure time is what ends up in
#             ipop.pc, and the running build may carry sanitizer options an
#             outside program would not link against.
set -euo pipefail

builddir=$(readlink -f "${1:?usage: install-test.sh BUILDDIR SRCDIR}")
srcdir=$(readlink -f "${2:?usage: install-test.sh BUILDDIR SRCDIR}")
here=$srcdir/tests/install

tmp=$(mktemp -d "$builddir/install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

step "configure and install into $prefix"
# With the daemon, for its units, completion and rpath; docs off (the docs
# suite builds them).
meson setup "$tmp/build" "$srcdir" --prefix="$prefix" -Drpath=true \
    -Dtests=false -Ddaemon=true -Dexamples=false -Dbench=false -Dfuzzing=disabled -Ddocs=disabled \
    >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; fail "meson setup"; }
meson install -C "$tmp/build" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "meson install"; }

pc=$(find "$prefix" -name ipop.pc -print -quit)
[[ -n $pc ]] || fail "no ipop.pc installed"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
echo "ipop.pc: ${pc#"$prefix"/}"

libdir=$(pkg-config --variable=libdir ipop)
includedir=$(pkg-config --variable=includedir ipop)
[[ $libdir == "$prefix"/* ]] || fail "ipop.pc's libdir $libdir is outside the prefix"

step "installed files"
for h in ipop.h ipop-glib.h ipop-version.h; do
    [[ -f $includedir/ipop/$h ]] || fail "missing header $includedir/ipop/$h"
done
for f in libipop.so libipop.so.0; do
    [[ -e $libdir/$f ]] || fail "missing $libdir/$f"
done
lib=$(readlink -f "$libdir/libipop.so")

step "soname"
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
[[ $soname == libipop.so.0 ]] || fail "soname is '$soname', want libipop.so.0"
echo "$soname"

step "exported symbols against lib/libipop.sym"
# Every name inside a version node, "local: *;" aside.
grep -E '^[[:space:]]*[A-Za-z_][A-Za-z0-9_]*;[[:space:]]*$' "$srcdir/lib/libipop.sym" |
    tr -d ' \t;' | sort -u >"$tmp/want"
# Dynamic symbols defined by the library; the version nodes themselves are
# absolute symbols (A), not functions.
nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' >"$tmp/have-versioned"
sed 's/@.*//' "$tmp/have-versioned" | sort -u >"$tmp/have"
if ! diff -u "$tmp/want" "$tmp/have" >"$tmp/sym.diff"; then
    echo "(- listed in libipop.sym but not exported, + exported but not listed)"
    cat "$tmp/sym.diff"
    fail "exported symbols differ from lib/libipop.sym"
fi
unversioned=$(grep -v '@IPOP_' "$tmp/have-versioned" || true)
[[ -z $unversioned ]] || fail "exported without a version node: $unversioned"
echo "$(wc -l <"$tmp/have") symbols, all versioned"

step "pkg-config --cflags: our include directory and nothing else"
# The public header needs only libc: the private dependencies' include
# directories and macros (GLib, libnice, GnuTLS, libstrophe) must not reach
# the user's compiler (pkgconf adds Requires.private Cflags to --cflags).
cflags=$(pkg-config --cflags ipop)
echo "ipop: $cflags"
for word in $cflags; do
    [[ $word == "-I$includedir" ]] || fail "pkg-config --cflags ipop has '$word' besides -I$includedir"
done
[[ -z $(pkg-config --print-requires-private ipop) ]] ||
    fail "ipop.pc has Requires.private: $(pkg-config --print-requires-private ipop)"
glib_cflags=$(pkg-config --cflags ipop-glib)
echo "ipop-glib: $glib_cflags"
[[ $glib_cflags == *glib-2.0* ]] || fail "pkg-config --cflags ipop-glib lacks GLib's directories"
[[ $(pkg-config --libs ipop-glib) == *-lipop*-lglib-2.0* ]] ||
    fail "pkg-config --libs ipop-glib: $(pkg-config --libs ipop-glib)"

step "build an outside program with pkg-config"
cc=${CC:-cc}
cflags=$(pkg-config --cflags ipop)
libs=$(pkg-config --libs ipop)
echo "$cc app.c $cflags $libs"
# shellcheck disable=SC2086  # word splitting of pkg-config's output is wanted
"$cc" -std=c99 -Wall -Wextra -Werror -o "$tmp/app" "$here/app.c" $cflags $libs ||
    fail "app.c does not build against the installed library"

# The headers also compile as C++ (extern "C"), and ipop-glib.h with GLib's
# flags added.
if command -v c++ >/dev/null; then
    # shellcheck disable=SC2086
    echo '#include <ipop/ipop.h>' | c++ -x c++ -fsyntax-only -Wall -Werror $cflags - ||
        fail "ipop.h does not compile as C++"
fi
# shellcheck disable=SC2086
printf '#include <ipop/ipop-glib.h>\nint main(void) { return ipop_network_set_glib_context(NULL, g_main_context_default()) == 0; }\n' |
    "$cc" -x c -Wall -Werror -o "$tmp/glib-app" - $(pkg-config --cflags --libs ipop-glib) ||
    fail "a program on ipop-glib.h does not build with pkg-config ipop-glib"

step "run it"
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
resolved=$(ldd "$tmp/app" | awk '$1 ~ /^libipop\.so/ { print $3 }')
[[ $resolved == "$libdir"/* ]] || fail "app loads libipop from '$resolved', not the prefix"
"$tmp/app" || fail "app exited with $?"

step "ipopd: units, completion, man pages, rpath"
unset LD_LIBRARY_PATH
for f in lib/systemd/system/ipopd.service lib/systemd/system/ipopd@.service \
         share/bash-completion/completions/ipopctl share/man/man8/ipopd.8 share/man/man8/ipopctl.8; do
    [[ -f $prefix/$f ]] || fail "not installed: $f ($(cd "$prefix" && find . -type f | sort | tr '\n' ' '))"
done
grep -q "^ExecStart=$prefix/bin/ipopd " "$prefix/lib/systemd/system/ipopd.service" ||
    fail "ipopd.service does not start $prefix/bin/ipopd"
grep -q "^Type=notify$" "$prefix/lib/systemd/system/ipopd.service" || fail "ipopd.service is not Type=notify"
runpath=$(readelf -d "$prefix/bin/ipopd" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
[[ $runpath == "$libdir" ]] || fail "-Drpath=true: ipopd's RUNPATH is '$runpath', want $libdir"
"$prefix/bin/ipopd" --version >/dev/null || fail "installed ipopd does not run without LD_LIBRARY_PATH"
bash -c ". '$prefix/share/bash-completion/completions/ipopctl' && complete -p ipopctl" >/dev/null ||
    fail "the bash completion does not load"
echo "units, completion, man pages installed; ipopd runs through its rpath"

step "python binding: pip install, then it loads the installed libipop"
# Offline: no build isolation (it would fetch setuptools); setuptools and
# wheel come from the system (Debian python3-setuptools, python3-wheel),
# seen through --system-site-packages.  The source is copied: setuptools
# builds in the tree it is given.
py=/usr/bin/python3
if $py -c 'import venv, setuptools, wheel' 2>/dev/null && $py -m venv --system-site-packages "$tmp/venv" 2>/dev/null; then
    cp -r "$srcdir/bindings/python" "$tmp/pysrc"
    rm -rf "$tmp/pysrc/tests"
    "$tmp/venv/bin/pip" install --no-index --no-build-isolation "$tmp/pysrc" >"$tmp/pip.log" 2>&1 ||
        { cat "$tmp/pip.log"; fail "pip install ./bindings/python"; }
    # Not on ld.so's path: found through ipop.pc (PKG_CONFIG_PATH, as set above).
    got=$(cd "$tmp" && env -u IPOP_LIBRARY -u PYTHONPATH "$tmp/venv/bin/python" -c '
import ipop
print(ipop.version(), ipop.__version__, ipop.__file__)')
    echo "$got"
    read -r libv pyv file <<<"$got"
    [[ $libv == "$(pkg-config --modversion ipop)" && $pyv == "$libv" ]] ||
        fail "the pip-installed binding loaded libipop $libv (package $pyv), want $(pkg-config --modversion ipop)"
    [[ $file == "$tmp/venv/"* ]] || fail "ipop imported from $file, not the venv"
else
    echo "SKIP part: no python3 venv with setuptools and wheel (Debian: python3-venv python3-setuptools python3-wheel)"
fi

"$here/subproject-test.sh" "$tmp" "$srcdir"
echo "install test passed"
