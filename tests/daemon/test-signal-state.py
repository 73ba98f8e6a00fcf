#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What a user sees when XMPP signalling does not work, against a real
prosody: a wrong password, a server that is not there, a JID domain that
does not resolve, a self-signed server without its fingerprint pinned.
Each is told once, promptly, at the default log level, with the words a
user needs (the fingerprint and the option to put it in); `ipopctl
status` shows it per network ("xmpp: authentication failed
(not-authorized) for 4 s, retrying in 6 s") and exits 4; --json carries
the state; a network whose session is up shows "up" and exits 0.

usage: test-signal-state.py IPOPD IPOPCTL SRCDIR"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promtext  # noqa: E402
from daemon import SKIP, Daemon, fail  # noqa: E402

ipopd, ipopctl, srcdir = sys.argv[1:4]
if not shutil.which("prosody"):
    print("no prosody: skipped")
    sys.exit(SKIP)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ctl(d, *args):
    r = subprocess.run([ipopctl, "--control", d.control, *args], capture_output=True, timeout=10)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def net(name, jid, password, port, extra=""):
    return ("[%s]\nmode = none\noverlay = group\ngroup.room = r@rooms.ipop.test\ngroup.secret = %s\n"
            "xmpp.jid = %s\nxmpp.password = %s\nxmpp.server = 127.0.0.1\nxmpp.port = %d\n%s\n"
            % (name, SECRET, jid, password, port, extra))


SECRET = subprocess.run([ipopd, "--gen-secret"], capture_output=True, text=True, check=True).stdout.strip()


ARGON_WAIT = 6  # both derive their group key (Argon2id) before joining the room


FACTOR = int(os.environ.get("IPOP_TEST_TIME_FACTOR", "1") or "1")  # 3 under the sanitizers


def wait_state(d, name, want, timeout):
    """The network's "signalling" member once its state is `want`."""
    end = time.monotonic() + timeout * FACTOR
    sig = None
    while time.monotonic() < end:
        rc, out, err = ctl(d, "status", "--json")
        for n in json.loads(out)["networks"] if out else []:
            if n["name"] == name:
                sig = n["signalling"]
        if sig and sig["state"] == want:
            return sig
        time.sleep(0.1)
    fail("%s: signalling %r after %d s, want %s\n%s" % (name, sig, timeout, want, d.read_log()))


work = tempfile.mkdtemp(prefix="ipop-sig.")
os.chmod(work, 0o711)
xdir = os.path.join(work, "xmpp")
port = free_port()
r = subprocess.run(["bash", os.path.join(srcdir, "tests/servers/prosody.sh"), "start", xdir, "127.0.0.1",
                    str(port), "alice:right", "bob:right"], capture_output=True, text=True, timeout=60)
if r.returncode != 0:
    fail("prosody did not start: %s" % r.stderr)
try:
    with open(os.path.join(xdir, "fingerprint")) as f:
        fp = f.read().strip()
    pin = "xmpp.server-fingerprint = %s" % fp
    closed = free_port()  # nobody listens there
    mport = free_port()
    config = ("[ipopd]\nmetrics.listen = 127.0.0.1:%d\n\n" % mport + net("wrongpw", "alice@ipop.test", "wrong", port, pin)
              + net("noserver", "alice@ipop.test", "right", closed, pin)
              + net("nodns", "alice@no-such-domain.invalid", "right", 5222, pin).replace(
                  "xmpp.server = 127.0.0.1\nxmpp.port = 5222\n", "")
              + net("selfsigned", "alice@ipop.test", "right", port))
    t0 = time.monotonic()
    with Daemon(ipopd, config) as d:
        d.wait_control()
        sig = wait_state(d, "wrongpw", "auth-failed", 5)
        if sig["reason"] != "auth-failed" or sig["condition"] != "not-authorized":
            fail("wrong password: %r" % sig)
        sig = wait_state(d, "noserver", "unreachable", 5)
        if sig["reason"] != "unreachable" or "Connection refused" not in sig["detail"]:
            fail("no server: %r" % sig)
        sig = wait_state(d, "nodns", "unreachable", 5)
        if sig["reason"] != "name-not-resolved" or "no-such-domain.invalid does not resolve" not in sig["detail"]:
            fail("domain that does not resolve: %r" % sig)
        sig = wait_state(d, "selfsigned", "tls-refused", 5)
        if sig["fingerprint"] != fp:
            fail("self-signed: fingerprint %r, want %s" % (sig, fp))
        print("all four told within %.1f s" % (time.monotonic() - t0))
        # /metrics tells the same states
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5) as r:
            fams = promtext.parse(r.read().decode())
        promtext.check_ipopd(fams)
        for name, state in (("wrongpw", "auth-failed"), ("noserver", "unreachable"), ("nodns", "unreachable"),
                            ("selfsigned", "tls-refused")):
            if promtext.value(fams, "ipop_signalling_info", network=name, transport="xmpp", state=state) != 1:
                fail("/metrics: %s is not %s: %r" % (name, state, fams.get("ipop_signalling_info")))
        # Retries go on quietly: ten more seconds, still one line each.
        time.sleep(10)
        log = d.read_log()
        for name, text in (("wrongpw", "XMPP: authentication failed (not-authorized); retrying in"),
                           ("noserver", "XMPP: cannot connect to 127.0.0.1: Connection refused"),
                           ("nodns", "XMPP: the server's name no-such-domain.invalid does not resolve"),
                           ("selfsigned", "its SHA-256 fingerprint is %s: if that is your server's, set "
                                          "xmpp.server-fingerprint to it" % fp)):
            lines = [ln for ln in log.splitlines() if name in ln and text in ln]
            if len(lines) != 1:
                fail("%s: %d lines with %r, want 1:\n%s" % (name, len(lines), text, log))
        # Slow back-off on a refused password: 5 s, 10 s, ... so at most 3
        # attempts in these 12 s.
        sig = wait_state(d, "wrongpw", "auth-failed", 1)
        if not 1 <= sig["failures"] <= 3:
            fail("wrong password: %d attempts in ~12 s, want at most 3 (5 s doubling)" % sig["failures"])
        rc, out, err = ctl(d, "status")
        if rc != 4:
            fail("ipopctl status exit %d, want 4 (signalling not up):\n%s%s" % (rc, out, err))
        m = re.search(r"network wrongpw: running\n(?:.*\n)*?  xmpp:      authentication failed \(not-authorized\) "
                      r"for (\d+) s, retrying (?:in \d+ s|now)\n", out)
        if not m or int(m.group(1)) < 10:
            fail("ipopctl status does not show the failed authentication:\n" + out)
        if "xmpp:      the server's name no-such-domain.invalid does not resolve" not in out:
            fail("ipopctl status does not show the name:\n" + out)
        if " Received SIGTERM" in log:
            fail("a server's text read as ours:\n" + log)
    # A network whose session comes up: "up", exit 0; then the server goes
    # away with its own words, quoted as its own.
    # Two members with different group secrets: each shows the other's link
    # not up and why; the node's own automatic address is shown.
    other = SECRET[::-1]
    config = (net("good", "bob@ipop.test", "right", port, pin + "\ngroup.subnet = 10.77.0.0/24\n"
                  "ice.local-address = 127.0.0.1")
              + net("other", "alice@ipop.test", "right", port, pin + "\nice.local-address = 127.0.0.1").replace(
                  SECRET, other))
    with Daemon(ipopd, config) as d:
        d.wait_control()
        wait_state(d, "good", "up", 10)
        wait_state(d, "other", "up", 10)
        time.sleep(ARGON_WAIT)
        rc, out, err = ctl(d, "status")
        if rc != 0 or "  xmpp:      up for " not in out:
            fail("ipopctl status with the sessions up: exit %d\n%s%s" % (rc, out, err))
        if not re.search(r"network good: running\n(?:.*\n)*?  addresses: 10\.77\.0\.\d+/24 \(automatic\)\n", out):
            fail("the automatic address is not shown:\n" + out)
        # why nothing comes up with the member of the other secret: named by
        # the shortest prefix of its id that is unambiguous (at least 8)
        ids = {n["name"]: n["node_id"] for n in json.loads(ctl(d, "status", "--json")[1])["networks"]}
        if not re.search(r"network good: running\n(?:.*\n)*?  refused:   %s: not-authenticated \(\d+ times, "
                         r"last \d+ s ago\)\n" % ids["other"][:8], out):
            fail("the refused member is not shown with its reason:\n" + out)
        doc = json.loads(ctl(d, "status", "--json")[1])
        if not any(r["peer_id"] == ids["other"] and r["reason"] == "not-authenticated" and r["count"] >= 1
                   for r in [n for n in doc["networks"] if n["name"] == "good"][0]["refused_peers"]):
            fail("refused_peers in --json: %r" % doc)
        good = [n for n in doc["networks"] if n["name"] == "good"][0]
        if not good["automatic_addresses"] or good["automatic_addresses"] != good["addresses"]:
            fail("automatic address in --json: %r" % good)
        subprocess.run(["bash", os.path.join(srcdir, "tests/servers/prosody.sh"), "stop", xdir], timeout=30)
        # The server's words, quoted as the server's (not "Received SIGTERM"
        # as if ipopd had got the signal); then it is not there any more.
        wait_state(d, "good", "unreachable", 10)
        log = d.read_log()
        if 'XMPP: the server closed the session (system-shutdown): "Received SIGTERM"' not in log:
            fail("the server's shutdown is not told as the server's:\n" + log)
        rc, out, err = ctl(d, "status")
        if rc != 4 or "xmpp:      cannot connect to 127.0.0.1: Connection refused for " not in out:
            fail("ipopctl status after the server left: exit %d\n%s" % (rc, out))
finally:
    subprocess.run(["bash", os.path.join(srcdir, "tests/servers/prosody.sh"), "stop", xdir],
                   capture_output=True, timeout=30)
    shutil.rmtree(work, ignore_errors=True)
print("ok")
