# SPDX-License-Identifier: MIT
"""The binding covers the public API: every function ipop.h exports is
declared and called by the package, every option key ipop.h documents is a
keyword of Network() (and works as one), and the calls added for that
(accept_identity, address, stats) behave as the header says."""
from __future__ import annotations

import errno
import os
import re
import socket
import time
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import ipop  # noqa: E402
from ipop import _lib  # noqa: E402

PACKAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ipop")
# Not for Python: a GLib main context cannot be handed over through ctypes
# in any useful way (ipop-glib.h is not in ipop.h either).
NOT_BOUND: set[str] = set()


def header() -> str:
    path = os.environ.get("IPOP_HEADER") or os.path.join(PACKAGE, "..", "..", "..", "include", "ipop", "ipop.h")
    with open(path) as f:
        return f.read()


def exported_functions(text: str) -> set[str]:
    return set(re.findall(r"IPOP_EXPORT\b[^;(]*?\b(ipop_[a-z0-9_]+)\s*\(", text))


def documented_option_keys(text: str) -> set[str]:
    """The keys in the comment of ipop_network_set_option(): each list item
    starts with its keys ("- "mode":", "- "xmpp.server", "xmpp.port":"), and
    keys named later in an item have a section ("xmpp.password")."""
    comment = text[:text.index("ipop_network_set_option(")]
    comment = comment[comment.rindex("/**"):]
    keys = set()
    for line in comment.splitlines():
        m = re.match(r'\s*\*\s+-\s+(.*)', line)
        if m:
            head = re.match(r'((?:"[a-z.\-]+"(?:,\s*|\s+or\s+)?)+):', m.group(1))
            if head:
                keys.update(re.findall(r'"([a-z.\-]+)"', head.group(1)))
        keys.update(re.findall(r'"((?:ice|xmpp|group|social|device|identity|link)\.[a-z\-]+)"', line))
    return keys


def package_source() -> str:
    out = []
    for name in sorted(os.listdir(PACKAGE)):
        if name.endswith(".py"):
            with open(os.path.join(PACKAGE, name)) as f:
                out.append(f.read())
    return "\n".join(out)


# A value each option takes in a network of mode "none" that is not started.
VALUES = {
    "mode": "none", "device": "ipoptest0", "device_offload": False, "address": ["10.1.0.1/24", "fd01::1/64"],
    "mtu": 1300, "ice_stun": "127.0.0.1:3478", "ice_turn": "turn:u:p@127.0.0.1:3478?transport=udp",
    "ice_local_address": "127.0.0.1", "ice_relay_only": False, "ice_tcp": False,
    "ice_port_mapping": "natpmp,pcp",
    "identity_file": "/nonexistent/ipop-test.key", "loop": "external", "signal_scope": "lobby-1", "link_timeout": 10, "link_max": 64, "link_rekey_interval": 300, "dtls_record": "gnutls", "tap_tagged": True,
    "broadcast": False, "broadcast_rate": 50,
    "overlay": "none", "xmpp_jid": "a@example.org", "xmpp_password": "pw",
    "xmpp_password_file": None, "xmpp_server": "127.0.0.1", "xmpp_port": 5222,
    "xmpp_require_tls": True, "xmpp_server_fingerprint": "00" * 32, "group_room": "vpn@rooms.example.org",
    "group_secret": "s3cret", "group_secret_file": None, "group_subnet": "10.2.0.0/16",
    "social_subnet": "10.3.0.0/16", "social_state_file": "/nonexistent/friends",
    "group_authority": "ed25519:" + "A" * 43, "group_certificate": "/nonexistent/node.cert",
    "group_revocations": "/nonexistent/group.crl", "name": "web-1",
    "routes": "192.168.77.0/24, fd77::/64", "accept_routes": True,
}


class TestCoverage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # The *-file options read their file at once.
        cls.tmp = tempfile.TemporaryDirectory()
        for kw in ("xmpp_password_file", "group_secret_file"):
            path = os.path.join(cls.tmp.name, kw)
            with open(path, "w") as f:
                f.write("s3cret\n")
            VALUES[kw] = path

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_every_function_is_bound(self):
        funcs = exported_functions(header())
        self.assertGreater(len(funcs), 30, "the header parse found too few functions")
        declared = set(_lib._PROTOTYPES) | set(_lib._OPTIONAL)
        src = package_source()
        missing = sorted(f for f in funcs - NOT_BOUND if f not in declared)
        self.assertEqual(missing, [], "ipop.h functions without a prototype in ipop/_lib.py")
        unused = sorted(f for f in funcs - NOT_BOUND if len(re.findall(rf'\b{f}\b', src)) < 2)
        self.assertEqual(unused, [], "ipop.h functions declared but never called by the package")

    def test_every_option_key_is_a_keyword(self):
        keys = documented_option_keys(header())
        self.assertIn("mode", keys)
        self.assertIn("xmpp.password-file", keys)
        self.assertEqual(sorted(keys - set(ipop.OPTION_KEYS)), [], "ipop.h keys Network() does not take")
        self.assertEqual(sorted(set(ipop.OPTION_KEYS) - keys), [], "keywords ipop.h does not document")
        self.assertEqual(sorted(VALUES), sorted(k.replace(".", "_").replace("-", "_") for k in ipop.OPTION_KEYS))

    def test_every_keyword_works(self):
        for kw, value in VALUES.items():
            with self.subTest(kw=kw):
                try:
                    net = ipop.Network("kw", **{kw: value})
                except TypeError as e:
                    self.fail(f"Network({kw}=...) raised TypeError: {e}")
                net.close()
        # All at once, as a config would (minus the overlay's own checks).
        net = ipop.Network("all", **VALUES)
        net.close()


class TestPackage(unittest.TestCase):
    def test_generate_secret(self):
        a, b = ipop.generate_secret(), ipop.generate_secret()
        self.assertEqual(len(a), ipop.GENERATED_SECRET_LEN)
        self.assertTrue(a.startswith("ipop1."))
        self.assertNotEqual(a, b)
        net = ipop.Network("gen")
        net.set_option("group.secret", a)
        net.close()

    def test_version(self):
        """The package's version (pyproject.toml reads it) is the library's."""
        expected = os.environ.get("IPOP_EXPECT_VERSION")
        if not expected:
            self.skipTest("IPOP_EXPECT_VERSION not set; meson sets it")
        self.assertEqual(ipop.__version__, expected)


class TestCalls(unittest.TestCase):
    def test_address(self):
        with ipop.Network("addr", mode="none", address=["10.1.0.1/24", "fd01::1/64"]) as net:
            self.assertEqual(net.address(), "10.1.0.1/24")
            self.assertEqual(net.address(socket.AF_INET6), "fd01::1/64")
        with ipop.Network("noaddr", mode="none") as net:
            self.assertIsNone(net.address())
            with self.assertRaises(ipop.IpopError) as cm:
                net.address(12345)
            self.assertEqual(cm.exception.errno, errno.EINVAL)

    def test_stats(self):
        with ipop.Network("stats", mode="none", ice_local_address="127.0.0.1") as net:
            st = net.stats()
            self.assertIsInstance(st, ipop.NetworkStats)
            self.assertEqual((st.links, st.links_connected, st.signal_refused), (0, 0, 0))
            try:  # a message that is no signalling message: refused and counted
                net.signal_receive("b" * 52, "not a message")
            except ipop.IpopError:
                pass
            net.connect("a" * 52)
            st = net.stats()
            self.assertEqual(st.links, 1)
            self.assertGreaterEqual(st.signal_refused, 1)

    def test_signal_status(self):
        """An XMPP server that is not there: told once as an event
        (SIGNAL_STATE, UNREACHABLE) and by signal_status(), within a second."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # closed again below: nobody listens
        events = []
        net = ipop.Network("sig", mode="none", overlay="group", group_room="r@rooms.ipop.test",
                           group_secret="x" * 40, xmpp_jid="a@ipop.test", xmpp_password="p",
                           xmpp_server="127.0.0.1", xmpp_port=str(port), on_event=lambda _net, ev: events.append(ev))
        try:
            self.assertEqual(net.signal_status().state, ipop.SignalState.NONE)
            net.start()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and net.signal_status().state != ipop.SignalState.UNREACHABLE:
                time.sleep(0.05)
            st = net.signal_status()
            self.assertEqual((st.state, st.reason), (ipop.SignalState.UNREACHABLE, ipop.Reason.UNREACHABLE))
            self.assertIn("Connection refused", st.detail)
            self.assertGreaterEqual(st.failures, 1)
            time.sleep(2)  # more attempts: no more events for the same problem
            sig = [e for e in events if e.type == ipop.EventType.SIGNAL_STATE]
            self.assertEqual([e.signal_state for e in sig],
                             [ipop.SignalState.CONNECTING, ipop.SignalState.UNREACHABLE], sig)
            self.assertEqual(sig[1].reason, ipop.Reason.UNREACHABLE)
            self.assertGreater(net.signal_status().failures, 1)
            self.assertEqual(ipop.signal_state_str(ipop.SignalState.AUTH_FAILED), "auth-failed")
            self.assertEqual(ipop.reason_str(ipop.Reason.NAME_NOT_RESOLVED), "name-not-resolved")
            net.stop()
            self.assertEqual(net.signal_status().state, ipop.SignalState.NONE)
        finally:
            net.close()

    def test_accept_identity(self):
        net = ipop.Network("acc", mode="none")
        try:
            with self.assertRaises(ipop.IpopError) as cm:
                net.accept_identity("bob@example.org")
            self.assertIn(cm.exception.errno, (errno.ENOTCONN, errno.EINVAL))
        finally:
            net.close()
        with ipop.Network("acc", mode="none") as net:
            with self.assertRaises(ipop.IpopError) as cm:
                net.accept_identity("bob@example.org")
            self.assertEqual(cm.exception.errno, errno.EINVAL, "not a SocialVPN: EINVAL, as ipop.h says")


    def test_friends(self):
        net = ipop.Network("fr", mode="none", overlay="social", xmpp_jid="a@example.org", xmpp_password="pw",
                           social_subnet="10.61.0.0/24")
        try:
            for call in (lambda: net.friend_add("bob@example.org"), lambda: net.friend_accept("bob@example.org"),
                         lambda: net.friend_remove("bob@example.org"), net.friends):
                with self.assertRaises(ipop.IpopError) as cm:
                    call()
                self.assertEqual(cm.exception.errno, errno.ENOTCONN, "not started: ENOTCONN, as ipop.h says")
        finally:
            net.close()
        with ipop.Network("fr", mode="none") as net:
            with self.assertRaises(ipop.IpopError) as cm:
                net.friends()
            self.assertEqual(cm.exception.errno, errno.EINVAL, "not a SocialVPN: EINVAL")
        self.assertEqual(ipop.Friend("a@b", "both", False, False, True, "x", "10.61.0.2").subscription, "both")


if __name__ == "__main__":
    unittest.main()
