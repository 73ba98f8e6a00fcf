# SPDX-License-Identifier: MIT
"""The Python binding over the real library: two networks in one process
linked over loopback, errors as exceptions, callbacks, cleanup."""
from __future__ import annotations

import asyncio
import dataclasses
import errno
import gc
import logging
import os
import re
import socket
import struct
import threading
import time
import types
import unittest
import weakref

from pair import Node, blast, connect, ipv4_packet, ipv6_packet, pair, parse_ipv4, send, pattern
import testmain

import ipop
from ipop.network import _live


class TestLibrary(unittest.TestCase):
    def test_version(self):
        v = ipop.version()
        self.assertRegex(v, r"^\d+\.\d+\.\d+$")
        expected = os.environ.get("IPOP_EXPECT_VERSION")
        if expected:
            self.assertEqual(v, expected)

    def test_texts(self):
        self.assertEqual(ipop.reason_str(ipop.Reason.FINGERPRINT_MISMATCH), "fingerprint-mismatch")
        self.assertEqual(ipop.reason_str(ipop.Reason.NOT_CERTIFIED), "not-certified")
        self.assertEqual(ipop.link_state_str(ipop.LinkState.CONNECTED), "connected")
        self.assertEqual(ipop.path_type_str(ipop.PathType.RELAY), "relay")
        self.assertEqual(ipop.strerror(-errno.EINVAL), "invalid argument")
        self.assertEqual(ipop.strerror(errno.EINVAL), "invalid argument")


class TestErrors(unittest.TestCase):
    def assertIpopError(self, err, fn, *args, **kwargs):
        with self.assertRaises(ipop.IpopError) as cm:
            fn(*args, **kwargs)
        e = cm.exception
        self.assertIsInstance(e, OSError)
        self.assertEqual(e.errno, err, f"{e} is not {errno.errorcode[err]}")
        self.assertEqual(e.strerror, ipop.strerror(-err))
        self.assertIn(e.strerror, str(e))
        return e

    def test_bad_options(self):
        with ipop.Network("e", mode="none") as net:
            pass
        net = ipop.Network("e")
        try:
            e = self.assertIpopError(errno.EINVAL, net.set_option, "no-such-key", "1")
            self.assertIn("no-such-key", str(e))
            self.assertIpopError(errno.EINVAL, net.set_option, "mode", "bogus")
            self.assertIpopError(errno.EINVAL, net.set_option, "mtu", 99999)
            self.assertIpopError(errno.EINVAL, net.set_option, "address", "10.0.0.300/24")
            self.assertIpopError(errno.EINVAL, net.set_option, "ice.relay-only", "maybe")
            net.set_option("ice.relay-only", False)  # booleans become "false"
            net.set_option("link.timeout", 5)  # numbers become text
            # keys renewed at most every 600 s: a longer interval is refused
            self.assertIpopError(errno.EINVAL, net.set_option, "link.rekey-interval", 601)
            self.assertIpopError(errno.EINVAL, net.set_option, "link.rekey-interval", 0)
            net.set_option("link.rekey-interval", 600)
            self.assertIpopError(errno.EINVAL, net.set_option, "tap.tagged", "maybe")
            net.set_option("tap.tagged", True)
        finally:
            net.close()
        # and as a keyword
        net = ipop.Network("e", link_rekey_interval=2)
        net.close()
        self.assertIpopError(errno.EINVAL, ipop.Network, "e", link_rekey_interval=3600)

    def test_check_names_the_key(self):
        # overlay=social needs an IPv4 address of this node's own: the
        # check names "address", before anything starts.
        net = ipop.Network("c", mode="none")
        try:
            net.check()
            net.set_option("overlay", "social")
            net.set_option("xmpp.jid", "a@example.test")
            net.set_option("xmpp.password", "x")
            net.set_option("social.subnet", "10.80.0.0/16")
            e = self.assertIpopError(errno.EINVAL, net.check)
            self.assertTrue(e.detail.startswith("address: "), e.detail)
            self.assertIn("address: ", str(e))
            self.assertIpopError(errno.EINVAL, net.start)
            net.set_option("address", "10.70.0.1/24")
            net.check()
        finally:
            net.close()

    def test_constructor(self):
        before = set(_live)
        # a bad value: the half-made network is freed, the error is EINVAL
        self.assertIpopError(errno.EINVAL, ipop.Network, "e", mode="bogus")
        self.assertIpopError(errno.EINVAL, ipop.Network, "e", options={"nope": "1"})
        with self.assertRaises(TypeError):
            ipop.Network("e", no_such_option=1)
        with self.assertRaises(TypeError):
            ipop.Network("e", on_packet="not callable")
        gc.collect()
        self.assertEqual(set(_live), before)

    def test_authority_keywords(self):
        key = "ed25519:ChhuNr1jm8Pf7w3vyWTp4JMeJ0Tg724xVIRB2TOFd9c"
        net = ipop.Network("e", mode="none", overlay="group", xmpp_jid="e@ipop.test", xmpp_password="p",
                           group_room="vpn@rooms.ipop.test", group_authority=key)
        try:
            # an authority needs this node's certificate, and no secret
            e = self.assertIpopError(errno.EINVAL, net.check)
            self.assertTrue(e.detail.startswith("group.certificate: "), e.detail)
            net.set_option("group.certificate", "/etc/ipop/node.cert")
            net.set_option("group.revocations", "/etc/ipop/group.crl")
            net.check()
            self.assertIpopError(errno.EINVAL, net.set_option, "group.authority", "ed25519:short")
            self.assertIpopError(errno.ENOTCONN, net.reload_revocations)
        finally:
            net.close()
        net = ipop.Network("e", mode="none", overlay="group", xmpp_jid="e@ipop.test", xmpp_password="p",
                           group_room="vpn@rooms.ipop.test", group_authority=key,
                           group_certificate="/x.cert", group_revocations="/x.crl")
        net.close()
        self.assertEqual(ipop.Reason.NOT_CERTIFIED.value, 16)

    def test_state_errors(self):
        net = ipop.Network("e", mode="none", address="10.30.0.1/24", ice_local_address="127.0.0.1")
        try:
            peer = "a" * 52
            self.assertIsNone(net.node_id)  # no identity before start
            self.assertIpopError(errno.ENOTCONN, net.connect, peer)
            self.assertIpopError(errno.ENOTCONN, net.send_packet, ipv4_packet("10.30.0.1", "10.30.0.2", b"x" * 8))
            self.assertIpopError(errno.ENOTCONN, net.signal_receive, peer, "hello")
            self.assertIpopError(errno.EALREADY, net.stop)
            self.assertIpopError(errno.EINVAL, net.fileno)  # loop=thread
            net.start()
            self.assertTrue(net.started)
            self.assertRegex(net.node_id, r"^[a-z2-7]+$")
            self.assertIsNone(net.device)  # mode none has no device
            self.assertIpopError(errno.EALREADY, net.start)
            self.assertIpopError(errno.EBUSY, net.set_option, "mtu", 1300)
            self.assertIpopError(errno.EBUSY, net.on_packet, lambda n, p: None)
            self.assertIpopError(errno.EINVAL, net.allow, "not a node id!")
            self.assertIpopError(errno.EINVAL, net.send_packet, b"garbage")
            self.assertIpopError(errno.EINVAL, net.send_packet, b"")
            big = ipv4_packet("10.30.0.1", "10.30.0.2", bytes(ipop.DEFAULT_MTU))
            self.assertIpopError(errno.EMSGSIZE, net.send_packet, big)
            self.assertIpopError(errno.EHOSTUNREACH, net.send_packet, ipv4_packet("10.30.0.1", "10.30.0.9", b"x" * 8))
            self.assertIpopError(errno.EINVAL, net.signal_receive, peer, "not a signalling message")
            self.assertIsNone(net.get_link(peer))
            net.stop()
            self.assertFalse(net.started)
            net.start()  # a stopped network starts again
        finally:
            net.close()
        self.assertTrue(net.closed)
        net.close()  # idempotent
        with self.assertRaises(ValueError):
            net.node_id
        with self.assertRaises(ValueError):
            net.start()


class TestPair(unittest.TestCase):
    def setUp(self):
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.net.close()

    def node(self, *args, **kwargs) -> Node:
        n = Node(*args, **kwargs)
        self.nodes.append(n)
        return n

    def test_names(self):
        a = self.node("a", "10.32.0.1", "fd32::1", name="Alpha")
        b = self.node("b", "10.32.0.2", "fd32::2", name="bravo")
        pair(a, b)
        link = connect(a, b)
        self.assertEqual(a.net.resolve("bravo"), "10.32.0.2")
        self.assertEqual(a.net.resolve("BRAVO", socket.AF_INET6), "fd32::2")
        self.assertEqual(b.net.resolve("alpha"), "10.32.0.1")
        self.assertEqual(a.net.resolve("alpha"), "10.32.0.1")  # its own
        self.assertIsNone(a.net.resolve("charlie"))
        self.assertEqual(link.stats().peer_name, "bravo")
        with self.assertRaises(ipop.IpopError) as cm:
            a.net.resolve("-bravo")
        self.assertEqual(cm.exception.errno, errno.EINVAL)

    def test_packets(self):
        a = self.node("a", "10.31.0.1", "fd31::1")
        b = self.node("b", "10.31.0.2", "fd31::2")
        pair(a, b)
        self.assertNotEqual(a.net.node_id, b.net.node_id)
        link = connect(a, b)

        # the events: same Link object as connect()'s, typed fields
        ev = a.last_state()
        self.assertIsInstance(ev, ipop.Event)
        self.assertIs(ev.type, ipop.EventType.LINK_STATE)
        self.assertIs(ev.state, ipop.LinkState.CONNECTED)
        self.assertIs(ev.link, link)
        self.assertEqual(ev.peer_id, b.net.node_id)
        self.assertIsInstance(ev.detail, str)
        self.assertEqual(ev.error, 0)
        self.assertIn(ipop.LinkState.CONNECTING, [e.state for e in a.events if e.type == ipop.EventType.LINK_STATE])
        eb = b.last_state()
        self.assertIs(eb.link, b.net.get_link(a.net.node_id))
        self.assertEqual(eb.link.peer_id, a.net.node_id)
        self.assertIs(a.net.get_link(b.net.node_id), link)
        self.assertIs(a.net.connect(b.net.node_id), link)  # the existing one
        self.assertIs(link.state, ipop.LinkState.CONNECTED)
        self.assertIs(link.network, a.net)
        # callbacks ran on the library's threads, not on this one
        self.assertNotIn(threading.get_ident(), a.callback_threads | b.callback_threads)

        # both ways, every packet intact, headers as sent
        n = 300
        for src, dst in ((a, b), (b, a)):
            got = blast(src, dst, n)
            self.assertEqual(len(got), n)
            seqs = set()
            for pkt in got:
                s, d, proto, payload = parse_ipv4(pkt)
                self.assertEqual((s, d, proto), (src.addr4, dst.addr4, 253))
                seq, = struct.unpack("!I", payload[:4])
                self.assertEqual(payload, pattern(seq, len(payload)))
                seqs.add(seq)
            self.assertEqual(seqs, set(range(n)))

        # IPv6 through the same link; a bytearray is taken too
        with b.cond:
            b.packets.clear()
        send(a.net, bytearray(ipv6_packet(a.addr6, b.addr6, b"six" * 10)))
        self.assertTrue(b.wait(lambda: len(b.packets) == 1))
        self.assertEqual(b.packets[0][40:], b"six" * 10)

        st = link.stats()
        self.assertTrue(dataclasses.is_dataclass(st))
        self.assertIsInstance(st, ipop.LinkStats)
        self.assertIs(st.state, ipop.LinkState.CONNECTED)
        self.assertIs(st.reason, ipop.Reason.NONE)
        self.assertEqual(st.tx_packets, n + 1)
        self.assertEqual(st.rx_packets, n)
        self.assertGreater(st.tx_bytes, st.tx_packets * 64)
        self.assertEqual(st.rx_drops, 0)
        self.assertIs(st.local_path, ipop.PathType.HOST)
        self.assertIs(st.remote_path, ipop.PathType.HOST)
        self.assertEqual(st.peer_id, b.net.node_id)

        # A source that is not the sender's address is dropped on arrival
        # and counted, never delivered.
        lb = b.net.get_link(a.net.node_id)
        before = lb.stats().rx_drops
        with b.cond:
            b.packets.clear()
        send(a.net, ipv4_packet("10.31.0.66", b.addr4, b"spoofed!"))
        self.assertTrue(b.wait(lambda: lb.stats().rx_drops > before, 5))
        self.assertEqual(lb.stats().rx_drops, before + 1)
        self.assertEqual(b.packets, [])

        # closing says goodbye: the peer sees its link closed by the peer
        link.close()
        self.assertIs(link.state, ipop.LinkState.CLOSED)
        eb = b.wait_state(ipop.LinkState.CLOSED, 5)
        self.assertIsNotNone(eb)
        self.assertIs(eb.reason, ipop.Reason.PEER_CLOSED)
        with self.assertRaises(ipop.IpopError) as cm:
            link.close()
        self.assertEqual(cm.exception.errno, errno.EALREADY)
        with self.assertRaises(ipop.IpopError) as cm:
            a.net.send_packet(ipv4_packet(a.addr4, b.addr4, b"x" * 8))
        self.assertEqual(cm.exception.errno, errno.EHOSTUNREACH)

        # and it comes up again
        self.assertIs(connect(a, b), link)
        self.assertEqual(len(blast(a, b, 20)), 20)

    def test_network_changed(self):
        a = self.node("a", "10.35.0.1")
        b = self.node("b", "10.35.0.2")
        pair(a, b)
        link = connect(a, b)
        a.net.network_changed()
        # the link starts again (CONNECTING, network-changed) and comes back
        self.assertTrue(a.wait(lambda: any(e.type == ipop.EventType.LINK_STATE and
                                           e.reason is ipop.Reason.NETWORK_CHANGED for e in a.events), 5))
        self.assertIsNotNone(a.wait_state(ipop.LinkState.CONNECTED, 10))
        self.assertTrue(a.wait(lambda: link.state is ipop.LinkState.CONNECTED, 10))
        self.assertEqual(len(blast(a, b, 20)), 20)

    def test_gnutls_records(self):
        """dtls_record="gnutls" (GnuTLS's own record layer) on one end, the
        library's own on the other: the link comes up and packets cross
        both ways; a value other than own or gnutls is refused."""
        with self.assertRaises(ipop.IpopError):
            ipop.Network("x", dtls_record="openssl")
        a = self.node("a", "10.37.0.1", dtls_record="gnutls")
        b = self.node("b", "10.37.0.2", dtls_record="own")
        pair(a, b)
        connect(a, b)
        self.assertEqual(len(blast(a, b, 20)), 20)
        self.assertEqual(len(blast(b, a, 20)), 20)

    def test_not_allowed(self):
        a = self.node("a", "10.32.0.1", link_timeout=3)
        b = self.node("b", "10.32.0.2")
        pair(a, b)
        # b never allows a: b refuses, a's signal callback raises (EPERM
        # from signal_receive), the binding logs it, a times out.
        with self.assertLogs("ipop", level="ERROR") as logs:
            a.net.connect(b.net.node_id)
            ev = a.wait_state(ipop.LinkState.FAILED, 10)
        self.assertIsNotNone(ev)
        self.assertIs(ev.reason, ipop.Reason.TIMEOUT)
        self.assertTrue(any("exception in ipop signal callback" in r.getMessage() for r in logs.records))
        self.assertTrue(any(r.exc_info and isinstance(r.exc_info[1], ipop.IpopError) for r in logs.records))
        with a.cond:
            self.assertGreaterEqual(len(a.signal_errors), 1)
            self.assertEqual(a.signal_errors[0].errno, errno.EPERM)
        refused = [e for e in b.events if e.type == ipop.EventType.PEER_REFUSED]
        self.assertGreaterEqual(len(refused), 1)
        self.assertIs(refused[0].reason, ipop.Reason.PEER_NOT_ALLOWED)
        self.assertEqual(refused[0].peer_id, a.net.node_id)
        self.assertIsNone(b.net.get_link(a.net.node_id))

    def test_callback_exception(self):
        """A callback that raises does not take the process or the network
        down: the next packets still arrive."""
        a = self.node("a", "10.33.0.1")
        b = self.node("b", "10.33.0.2")
        seen = []

        def flaky(net, packet):
            seen.append(packet)
            if len(seen) % 2:
                raise ValueError("odd packet")
            b._on_packet(net, packet)

        b.net.on_packet(flaky)
        pair(a, b)
        connect(a, b)
        with self.assertLogs("ipop", level="ERROR") as logs:
            for i in range(6):
                send(a.net, ipv4_packet(a.addr4, b.addr4, pattern(i, 40)))
            self.assertTrue(b.wait(lambda: len(b.packets) == 3))
        errors = [r for r in logs.records if r.exc_info and isinstance(r.exc_info[1], ValueError)]
        self.assertEqual(len(errors), 3)
        self.assertIn("packet", errors[0].getMessage())
        self.assertEqual(len(seen), 6)

    def test_close_inside_callback(self):
        """close() and stop() from a callback would join the library's thread
        from itself: refused with RuntimeError."""
        a = self.node("a", "10.34.0.1")
        b = self.node("b", "10.34.0.2")
        refusals = []

        def on_event(net, event):
            for what in (net.stop, net.close):
                try:
                    what()
                except RuntimeError as e:
                    refusals.append(e)
            a._on_event(net, event)

        a.net.on_event(on_event)
        pair(a, b)
        connect(a, b)
        self.assertGreaterEqual(len(refusals), 2)
        self.assertFalse(a.net.closed)
        self.assertIs(a.net.get_link(b.net.node_id).state, ipop.LinkState.CONNECTED)

    def test_context_manager(self):
        b = self.node("b", "10.35.0.2")
        a = Node("a", "10.35.0.1")
        b.peer, a.peer = a, b
        b.net.start()
        with self.assertRaises(KeyError):
            with a.net as net:
                self.assertIs(net, a.net)
                self.assertTrue(net.started)
                link = connect(a, b)
                raise KeyError("leaves the block")
        # closed on the way out, even by an exception
        self.assertTrue(a.net.closed)
        self.assertNotIn(id(a.net), [id(n) for n in _live.values()])
        with self.assertRaises(ValueError):
            link.state
        with self.assertRaises(ValueError):
            a.net.send_packet(b"x")
        # the peer was told goodbye
        eb = b.wait_state(ipop.LinkState.CLOSED, 5)
        self.assertIsNotNone(eb)
        self.assertIs(eb.reason, ipop.Reason.PEER_CLOSED)
        # and nothing keeps the Python objects alive
        ref = weakref.ref(a.net)
        b.peer = None
        del a, net, link
        gc.collect()
        self.assertIsNone(ref())

    def test_dropped_network_is_freed(self):
        """A started network nobody closes is closed and freed after the
        garbage collector finds it, its library thread ended."""
        tasks = len(os.listdir("/proc/self/task"))
        net = ipop.Network("gc", mode="none", ice_local_address="127.0.0.1")
        net.start()
        self.assertGreater(len(os.listdir("/proc/self/task")), tasks)  # the library's thread
        ref = weakref.ref(net)
        del net
        gc.collect()  # closes it on a thread of its own
        for _ in range(100):
            if ref() is None and len(os.listdir("/proc/self/task")) == tasks:
                break
            time.sleep(0.05)
        self.assertIsNone(ref())
        self.assertEqual(len(os.listdir("/proc/self/task")), tasks)

    def test_dropped_says_goodbye(self):
        """A linked network dropped without close(), its last reference
        let go inside one of its callbacks: the collector closes it (on a
        thread of its own, never the library's) and the peer is told."""
        b = self.node("b", "10.37.0.2")
        holder = [ipop.Network("a", mode="none", address="10.37.0.1/24", ice_local_address="127.0.0.1")]
        a = holder[0]
        ref = weakref.ref(a)
        dropped = threading.Event()

        def on_event(net, event):
            if event.type == ipop.EventType.LINK_STATE and event.state == ipop.LinkState.CONNECTED:
                holder.clear()
                dropped.set()

        a.on_signal(lambda net, peer, msg: b.net.signal_receive(net.node_id, msg))
        a.on_event(on_event)
        b.peer = types.SimpleNamespace(net=a)
        a.start()
        b.net.start()
        b.net.allow(a.node_id)
        a.connect(b.net.node_id)
        a_id = a.node_id
        del a
        self.assertTrue(dropped.wait(15))
        b.peer = None
        self.assertIsNotNone(ref())  # callbacks and links hold it: a cycle
        gc.collect()
        eb = b.wait_state(ipop.LinkState.CLOSED, 10)
        self.assertIsNotNone(eb, b.events)
        self.assertIs(eb.reason, ipop.Reason.PEER_CLOSED)
        self.assertEqual(eb.peer_id, a_id)
        for _ in range(100):
            if ref() is None:
                break
            time.sleep(0.05)
            gc.collect()
        self.assertIsNone(ref())

    def test_external_loop_asyncio(self):
        """One side on loop=external, driven by asyncio through fileno(),
        timeout() and process(); the other on the library's thread."""
        a = self.node("a", "10.36.0.1", loop="external")
        b = self.node("b", "10.36.0.2")
        pair(a, b)
        fd = a.net.fileno()
        self.assertIsInstance(fd, int)
        self.assertGreaterEqual(fd, 0)
        t = a.net.timeout()
        self.assertTrue(t is None or t >= 0)
        with self.assertRaises(ipop.IpopError) as cm:
            b.net.process()
        self.assertEqual(cm.exception.errno, errno.EINVAL)

        async def drive(stop: asyncio.Event):
            loop = asyncio.get_running_loop()
            timer = None

            def run():
                nonlocal timer
                a.net.process()
                if timer:
                    timer.cancel()
                    timer = None
                t = a.net.timeout()
                # the network's own deadline, no cap: work from the other
                # side's thread wakes this one through the fd
                if t is not None:
                    timer = loop.call_later(t, run)

            loop.add_reader(fd, run)
            run()
            try:
                await stop.wait()
            finally:
                loop.remove_reader(fd)
                if timer:
                    timer.cancel()

        async def main():
            stop = asyncio.Event()
            driver = asyncio.create_task(drive(stop))
            try:
                b.net.allow(a.net.node_id)
                link = a.net.connect(b.net.node_id)
                for _ in range(300):
                    if link.state == ipop.LinkState.CONNECTED and b.last_state() and \
                            b.last_state().state == ipop.LinkState.CONNECTED:
                        break
                    await asyncio.sleep(0.05)
                self.assertIs(link.state, ipop.LinkState.CONNECTED)
                for i in range(50):
                    send(a.net, ipv4_packet(a.addr4, b.addr4, pattern(i, 100)))
                    send(b.net, ipv4_packet(b.addr4, a.addr4, pattern(i, 100)))
                for _ in range(200):
                    if len(a.packets) == 50 and len(b.packets) == 50:
                        break
                    await asyncio.sleep(0.05)
            finally:
                stop.set()
                await driver

        asyncio.run(main())
        self.assertEqual(len(a.packets), 50)
        self.assertEqual(len(b.packets), 50)
        # a's callbacks ran inside process(), on this thread
        self.assertEqual(a.callback_threads, {threading.get_ident()})


class TestLog(unittest.TestCase):
    def tearDown(self):
        ipop.set_log_handler(None)

    def test_handler(self):
        lines = []
        ipop.set_log_handler(lambda level, net, msg: lines.append((level, net, msg)), ipop.LogLevel.DEBUG)
        with ipop.Network("logged", mode="none", ice_local_address="127.0.0.1") as net:
            node_id = net.node_id
        started = [l for l in lines if "started" in l[2]]
        self.assertEqual(len(started), 1, lines)
        level, lnet, msg = started[0]
        self.assertIsInstance(level, ipop.LogLevel)
        self.assertIs(lnet, net)
        self.assertIn(node_id, msg)
        # a bad option is logged with its key, not tied to... its network
        lines.clear()
        n2 = ipop.Network("n2")
        with self.assertRaises(ipop.IpopError):
            n2.set_option("mtu", "12")
        self.assertTrue(any("mtu" in m and l == ipop.LogLevel.ERR and ln is n2 for l, ln, m in lines), lines)
        n2.close()
        # None drops everything
        ipop.set_log_handler(None)
        lines.clear()
        with ipop.Network("quiet", mode="none", ice_local_address="127.0.0.1"):
            pass
        self.assertEqual(lines, [])

    def test_level(self):
        lines = []
        ipop.set_log_handler(lambda level, net, msg: lines.append(level), ipop.LogLevel.ERR)
        with ipop.Network("quiet", mode="none", ice_local_address="127.0.0.1"):
            pass
        self.assertEqual(lines, [])  # "started" is INFO

    def test_to_logging(self):
        ipop.log_to_logging(ipop.LogLevel.INFO)
        with self.assertLogs("ipop", level="INFO") as logs:
            with ipop.Network("pylog", mode="none", ice_local_address="127.0.0.1"):
                pass
        self.assertTrue(any(re.search(r"^\[pylog\] network pylog started", r.getMessage()) for r in logs.records),
                        [r.getMessage() for r in logs.records])

    def test_handler_exception(self):
        def bad(level, net, msg):
            raise RuntimeError("handler failed")
        ipop.set_log_handler(bad, ipop.LogLevel.DEBUG)
        with self.assertLogs("ipop", level="ERROR") as logs:
            with ipop.Network("x", mode="none", ice_local_address="127.0.0.1"):
                pass
        self.assertTrue(all(isinstance(r.exc_info[1], RuntimeError) for r in logs.records))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    testmain.main()
