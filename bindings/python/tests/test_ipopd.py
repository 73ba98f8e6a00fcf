# SPDX-License-Identifier: MIT
"""A Python node and an ipopd node form a GroupVPN through a real prosody
started by the test, and packets from Python arrive at ipopd's link.
ipopd --check refuses what the library's own check refuses, naming the file,
line and key."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import ipop  # noqa: E402
from pair import ipv4_packet  # noqa: E402
import testmain  # noqa: E402

IPOPD = os.environ.get("IPOPD")
IPOPCTL = os.environ.get("IPOPCTL")
PROSODY_SH = os.environ.get("PROSODY_SH")


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipUnless(IPOPD and IPOPCTL and PROSODY_SH and shutil.which("prosody") and shutil.which("openssl"),
                     "needs ipopd, ipopctl, prosody and openssl")
class PythonWithIpopd(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ipop-py-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        subprocess.run(["bash", PROSODY_SH, "start", self.dir, "127.0.0.1", str(self.port), "py:pp", "d:pd"],
                       check=True, capture_output=True)
        with open(os.path.join(self.dir, "fingerprint")) as f:
            self.fp = f.read().strip()
        self.daemon = None

    def tearDown(self):
        if self.daemon:
            self.daemon.terminate()
            self.daemon.wait(10)
        subprocess.run(["bash", PROSODY_SH, "stop", self.dir], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def common(self) -> dict:
        return {"overlay": "group", "xmpp.server": "127.0.0.1", "xmpp.port": str(self.port),
                "xmpp.server-fingerprint": self.fp, "group.room": "py@rooms.ipop.test",
                "group.secret": "from python", "ice.local-address": "127.0.0.1"}

    def status(self) -> dict:
        out = subprocess.run([IPOPCTL, "--control", self.sock, "status", "--json"], check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out)

    def test_link_and_packets(self):
        self.sock = os.path.join(self.dir, "ipopd.sock")
        conf = os.path.join(self.dir, "ipopd.conf")
        opts = dict(self.common(), **{"mode": "none", "address": "10.80.0.2/24", "xmpp.jid": "d@ipop.test",
                                      "xmpp.password": "pd"})
        with open(conf, "w") as f:
            f.write("[net0]\n" + "".join(f"{k} = {v}\n" for k, v in opts.items()))
        self.daemon = subprocess.Popen([IPOPD, "--config", conf, "--control", self.sock],
                                       stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "ipopd.log"), "w"))
        options = dict(self.common(), **{"address": "10.80.0.1/24", "xmpp.jid": "py@ipop.test",
                                         "xmpp.password": "pp"})
        with ipop.Network("py", options=options) as net:
            deadline = time.monotonic() + 30
            link = None
            while time.monotonic() < deadline:
                try:
                    doc = self.status()
                except subprocess.CalledProcessError:
                    time.sleep(0.2)  # the daemon has not opened its control socket yet
                    continue
                links = [l for n in doc["networks"] for l in n["links"] if l["state"] == "connected"]
                if links:
                    link = links[0]
                    break
                time.sleep(0.2)
            self.assertIsNotNone(link, "no connected link on the ipopd side; log: " +
                                 open(os.path.join(self.dir, "ipopd.log")).read()[-2000:])
            self.assertEqual(link["peer_id"], net.node_id)
            peer = net.get_link(self.status()["networks"][0]["node_id"])
            self.assertIsNotNone(peer, "the Python node has no link to ipopd's node id")
            for _ in range(50):
                if peer.state == ipop.LinkState.CONNECTED:
                    break
                time.sleep(0.1)
            self.assertEqual(peer.state, ipop.LinkState.CONNECTED)
            sent = 0
            for i in range(200):
                net.send_packet(ipv4_packet("10.80.0.1", "10.80.0.2", i.to_bytes(4, "big") * 50, ident=i))
                sent += 1
                time.sleep(0.001)
            deadline = time.monotonic() + 10
            rx = 0
            while time.monotonic() < deadline:
                links = [l for n in self.status()["networks"] for l in n["links"] if l["peer_id"] == net.node_id]
                rx = links[0]["rx_packets"] if links else 0
                if rx >= sent:
                    break
                time.sleep(0.2)
            self.assertEqual(rx, sent)
            self.assertEqual(peer.stats().tx_packets, sent)


@unittest.skipUnless(IPOPD, "needs ipopd")
class IpopdCheck(unittest.TestCase):
    """ipopd --check asks the library (ipop_network_check) about the whole
    configuration: a conflict only the library knows is refused before
    anything starts, at the line of the key the library names."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ipop-check-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def check(self, text: str) -> tuple[int, str, str]:
        conf = os.path.join(self.dir, "ipopd.conf")
        with open(conf, "w") as f:
            f.write(text)
        p = subprocess.run([IPOPD, "--check", "--config", conf], capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout, p.stderr.replace(conf, "FILE")

    def test_library_refusal_names_the_key(self):
        # Each option parses; together they do not fit a record: only the
        # library knows the rule.
        rc, out, err = self.check("[net0]\nmode = tap\nsignal.listen = 127.0.0.1:5000\nmtu = 1400\n")
        self.assertEqual(rc, 2, out + err)
        self.assertIn("FILE:4: [net0] mtu: 1400 is too large for tap mode (at most 1396)", err)
        self.assertNotIn("config OK", out)
        rc, out, err = self.check("[net0]\nmode = tap\nsignal.listen = 127.0.0.1:5000\nmtu = 1396\n")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("1 network, config OK", out)

    def test_missing_key_at_the_overlay_line(self):
        conf = ("[office]\nxmpp.jid = a@ipop.test\noverlay = group\nxmpp.password = p\n"
                "group.room = r@rooms.ipop.test\n")
        rc, out, err = self.check(conf)
        self.assertEqual(rc, 2, out + err)
        self.assertIn("FILE:3: [office] group.secret: needed by overlay=group (or group.secret-file, or group.authority)", err)
        rc, out, err = self.check(conf + "group.secret = s\n")
        self.assertEqual(rc, 0, out + err)
        # SocialVPN: an IPv6 address alone is not enough, at its own line
        rc, out, err = self.check("[friends]\noverlay = social\nxmpp.jid = a@ipop.test\nxmpp.password = p\n"
                                  "social.subnet = 10.80.0.0/16\naddress = fd00::1/64\n")
        self.assertEqual(rc, 2, out + err)
        self.assertIn("FILE:6: [friends] address: an IPv4 address is needed by overlay=social", err)

    def test_daemon_rules_stay(self):
        # ipopd's own keys: UDP signalling means nothing with an XMPP overlay
        rc, out, err = self.check("[office]\noverlay = group\nsignal.listen = 127.0.0.1:5000\n"
                                  "xmpp.jid = a@ipop.test\nxmpp.password = p\ngroup.room = r@rooms.ipop.test\n"
                                  "group.secret = s\n")
        self.assertEqual(rc, 2, out + err)
        self.assertIn("FILE:3: [office] signal.listen: not used with overlay = group", err)
        rc, out, err = self.check("[net0]\nmode = none\n")
        self.assertEqual(rc, 2, out + err)
        self.assertIn("[net0]: signal.listen missing", err)


@unittest.skipUnless(IPOPD and hasattr(os, "geteuid") and os.geteuid() == 0, "needs ipopd and root")
class ControlCredentials(unittest.TestCase):
    """ipopd's control socket takes requests that change something only from
    root or ipopd's own user (issue 13, point 10): a socket opened to others
    answers them status, and refuses `network-changed` and `accept`."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ipop-ctl-")
        os.chmod(self.dir, 0o755)
        self.sock = os.path.join(self.dir, "ipopd.sock")
        conf = os.path.join(self.dir, "ipopd.conf")
        with open(conf, "w") as f:
            f.write("[net0]\nmode = none\naddress = 10.81.0.1/24\nsignal.listen = 127.0.0.1:%d\n" % free_port())
        self.log = open(os.path.join(self.dir, "ipopd.log"), "w")
        self.daemon = subprocess.Popen([IPOPD, "--config", conf, "--control", self.sock],
                                       stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not os.path.exists(self.sock):
            time.sleep(0.1)
        self.assertTrue(os.path.exists(self.sock), "ipopd opened no control socket")

    def tearDown(self):
        self.daemon.terminate()
        self.daemon.wait(15)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def ask(self, request: bytes) -> str:
        import socket
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(self.sock)
            s.sendall(request + b"\n")
            out = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return out.decode()
                out += chunk

    def ask_as_nobody(self, requests: list[bytes]) -> list[str]:
        """The answers to each request, asked by uid 65534 in a child process."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                os.setgid(65534)
                os.setuid(65534)
                answers = [self.ask(req).split("\n", 1)[0] for req in requests]
                os.write(w, json.dumps(answers).encode())
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            data = f.read()
        os.waitpid(pid, 0)
        return json.loads(data)

    def test_changes_only_from_root_or_own_user(self):
        self.assertEqual(os.stat(self.sock).st_mode & 0o777, 0o600)
        # As made, others cannot connect at all.
        self.assertEqual(self.ask_as_nobody([]), [])
        # An administrator opens it to others: they get status only.
        os.chmod(self.sock, 0o666)
        answers = self.ask_as_nobody([b"network-changed", b"accept friend@example.org net0", b"status"])
        self.assertTrue(answers[0].startswith("error not permitted"), answers)
        self.assertTrue(answers[1].startswith("error not permitted"), answers)
        self.assertEqual(answers[2], "ok")
        with open(os.path.join(self.dir, "ipopd.log")) as f:
            self.assertNotIn("network changed", f.read())
        # ipopd's own user (root here) may.
        self.assertTrue(self.ask(b"network-changed").startswith("ok"))

if __name__ == "__main__":
    testmain.main()
