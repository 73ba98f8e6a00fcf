#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fails when Doxygen warned while making the API reference.

Usage: check-doxygen-log.py WARNINGS-LOG

Doxygen writes one warning per line ("file:line: warning: text"), for
example for a public name without a doc comment.  Doxygen creates the log
even when it has nothing to say, so a missing log means the reference was
not built, which is a failure too.
"""
import sys


def main(argv):
    if len(argv) != 2:
        print("usage: check-doxygen-log.py WARNINGS-LOG", file=sys.stderr)
        return 2
    path = argv[1]
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [line.rstrip("\n") for line in f if line.strip()]
    except OSError as e:
        print(f"{path}: cannot read Doxygen's warnings log: {e.strerror}", file=sys.stderr)
        return 1
    if lines:
        print(f"Doxygen warned {len(lines)} time(s) while making the API reference ({path}):")
        for line in lines:
            print(f"  {line}")
        print("Document each name in its header with a /** ... */ comment.")
        return 1
    print(f"{path}: no warnings")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
