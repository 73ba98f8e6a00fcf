#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Copies libipop's section 3 man pages out of Doxygen's man output: the
pages of the headers (ipop.h.3, ...), the structs, and one per public name
(ipop_*, IPOP_*).  Doxygen also makes a link page per struct member
(size.3, error.3, state.3, ...); installed, those would shadow the system's
pages of the same name, so they are left out, and so is a link page whose
target Doxygen did not write (an enum tag's ".so man3/noname.3").
tests/docs/check-api.py --man checks that every function keeps its page.

usage: select-man.py DOXYGEN-MAN3-DIR OUTPUT-DIR"""
import os
import re
import shutil
import sys

KEEP = re.compile(r"^(ipop|IPOP)[A-Za-z0-9_.-]*\.3$")


def main(src, dest):
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    kept = sorted(n for n in os.listdir(src) if KEEP.match(n))
    for name in list(kept):
        with open(os.path.join(src, name), encoding="utf-8") as f:
            first = f.readline().strip()
        if first.startswith(".so ") and os.path.basename(first[4:]) not in kept:
            kept.remove(name)
    for name in kept:
        shutil.copyfile(os.path.join(src, name), os.path.join(dest, name))
    if not any(n == "ipop.h.3" for n in kept):
        sys.exit("select-man: no ipop.h.3 in " + src)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
