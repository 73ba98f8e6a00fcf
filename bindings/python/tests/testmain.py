# SPDX-License-Identifier: MIT
"""unittest.main() for meson: a test that skipped something exits 77
(meson's "skipped"), not 0, so that ./run lists it and, as root, fails on it
(unittest alone reports skips as OK)."""
import sys
import unittest


def main(verbosity: int = 2) -> None:
    prog = unittest.main(verbosity=verbosity, exit=False)
    result = prog.result
    if not result.wasSuccessful():
        sys.exit(1)
    if result.testsRun == 0:
        print("FAIL: no test ran")
        sys.exit(1)
    if result.skipped:
        for test, why in result.skipped:
            print("SKIP: %s: %s" % (test.id(), why))
        sys.exit(77)
    sys.exit(0)
