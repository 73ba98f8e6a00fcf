#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Under systemd with stderr on the journal ($JOURNAL_STREAM names that
stream), every ipopd line starts with its syslog priority, "<N>"
(sd-daemon(3)), so `journalctl -p warning` finds the warnings; with
stderr elsewhere, lines are plain.  The test points $JOURNAL_STREAM at the
file it gives ipopd as stderr, and provokes a warning: a $NOTIFY_SOCKET
that does not exist.

usage: test-journal.py IPOPD"""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Daemon, fail  # noqa: E402

ipopd = sys.argv[1]
port = 20000 + os.getpid() % 20000
config = "[plain]\nmode = none\nsignal.listen = 127.0.0.1:%d\n" % port
missing = "/nonexistent/notify.sock"


def run(journal):
    env = {"NOTIFY_SOCKET": missing}
    d = Daemon(ipopd, config, env=env, stream_env=journal)
    try:
        d.wait_control()
        time.sleep(0.3)
        d.proc.send_signal(signal.SIGTERM)
        d.proc.wait(15)
        return d.read_log().splitlines()
    finally:
        d.stop()


lines = run(journal=True)
if not lines:
    fail("no log lines")
for line in lines:
    if not re.match(r"<[0-7]>ipopd(\[[^]]*\])?: ", line):
        fail("a line without its priority: %r (all: %r)" % (line, lines))
want = [("<4>", "warning: $NOTIFY_SOCKET"), ("<6>", "started")]
for prio, text in want:
    if not any(line.startswith(prio) and text in line for line in lines):
        fail("no %s line with %r in %r" % (prio, text, lines))
print("ok: journal lines carry priorities, e.g. %r" % [l for l in lines if l.startswith("<4>")][0])

lines = run(journal=False)
if any(line.startswith("<") for line in lines):
    fail("priority prefix without the journal: %r" % lines)
print("ok: plain lines when stderr is not the journal")
