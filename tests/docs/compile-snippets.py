#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compiles (and runs) the C examples of the documentation.

Usage: compile-snippets.py --cc WORD [--cc WORD...] --include DIR... --lib LIBIPOP.so PAGE.md...

A ```c block is checked when the line before its fence is one of:

    <!-- compile -->          compiled and linked against libipop
    <!-- compile and run -->  also run; it must exit 0 within 60 s

Each such block is a whole translation unit.  A block that includes
<glib.h> or <ipop/ipop-glib.h> gets GLib's flags from pkg-config.  Blocks
without a marker are fragments and are not checked.  The script fails when
the pages hold no marked block at all: a check of nothing passes nothing.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

MARK = re.compile(r"^<!--\s*compile(?P<run>\s+and\s+run)?\s*-->\s*$")
WARNINGS = ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror",
            "-Werror=implicit-function-declaration", "-Werror=strict-prototypes"]


def snippets(path):
    """Yields (line of the fence, run?, code) for each marked block of a page."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        m = MARK.match(lines[i].strip())
        if m and i + 1 < len(lines) and lines[i + 1].strip() == "```c":
            start = i + 2
            end = start
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            yield start + 1, bool(m.group("run")), "\n".join(lines[start:end]) + "\n"
            i = end
        elif m:
            yield i + 1, None, None  # a marker not followed by a ```c fence
        i += 1


def glib_flags():
    pkg = shutil.which("pkg-config")
    if not pkg:
        return None
    r = subprocess.run([pkg, "--cflags", "--libs", "glib-2.0"], capture_output=True, text=True)
    return r.stdout.split() if r.returncode == 0 else None


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cc", action="append", required=True, help="one word of the compiler command")
    ap.add_argument("--include", action="append", default=[], help="a directory holding ipop/ipop.h")
    ap.add_argument("--lib", required=True, help="path of the libipop shared library just built")
    ap.add_argument("pages", nargs="+")
    args = ap.parse_args(argv[1:])

    failures, checked = 0, 0
    libdir = os.path.dirname(os.path.abspath(args.lib))
    with tempfile.TemporaryDirectory(prefix="ipop-snippets-") as tmp:
        for page in args.pages:
            name = os.path.basename(page)
            for line, run, code in snippets(page):
                where = f"{name}:{line}"
                if code is None:
                    print(f"{where}: <!-- compile --> not followed by a ```c block")
                    failures += 1
                    continue
                checked += 1
                src = os.path.join(tmp, f"snippet-{checked}.c")
                exe = os.path.join(tmp, f"snippet-{checked}")
                with open(src, "w", encoding="utf-8") as f:
                    f.write(f'#line {line} "{name}"\n' + code)
                cmd = args.cc + WARNINGS + [f"-I{d}" for d in args.include] + [src, "-o", exe, args.lib,
                                                                              f"-Wl,-rpath,{libdir}"]
                if re.search(r"#include\s*<(glib\.h|ipop/ipop-glib\.h)>", code):
                    flags = glib_flags()
                    if flags is None:
                        print(f"{where}: needs GLib, but pkg-config does not know glib-2.0")
                        failures += 1
                        continue
                    cmd += flags
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    print(f"{where}: does not compile:\n{r.stdout}{r.stderr}")
                    failures += 1
                    continue
                if not run:
                    print(f"{where}: compiles")
                    continue
                try:
                    r = subprocess.run([exe], capture_output=True, text=True, timeout=60)
                except subprocess.TimeoutExpired:
                    print(f"{where}: still running after 60 s")
                    failures += 1
                    continue
                if r.returncode != 0:
                    print(f"{where}: exited with {r.returncode}:\n{r.stdout}{r.stderr}")
                    failures += 1
                else:
                    print(f"{where}: compiles and runs")
    if checked == 0:
        print("compile-snippets: no block marked <!-- compile --> in " + ", ".join(args.pages))
        return 1
    print(f"compile-snippets: {checked} block(s), {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
