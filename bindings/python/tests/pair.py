# SPDX-License-Identifier: MIT
"""Two networks in one Python process, signalling handed over in memory
(the Python counterpart of tests/pair.c), and IP packets built by hand."""
from __future__ import annotations

import errno
import os
import socket
import struct
import sys
import threading
import time

# The package lives next to this directory; meson also sets PYTHONPATH.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import ipop  # noqa: E402

PROTO_TEST = 253  # RFC 3692 experimental protocol number: no transport header needed


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4_packet(src: str, dst: str, payload: bytes, proto: int = PROTO_TEST, ident: int = 0) -> bytes:
    """An IPv4 packet with a correct header (checksum included)."""
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0x4000, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return hdr + payload


def parse_ipv4(pkt: bytes):
    """(src, dst, proto, payload), checking version, lengths and checksum."""
    assert pkt[0] == 0x45, f"not a 20-byte IPv4 header: {pkt[:1].hex()}"
    total, = struct.unpack("!H", pkt[2:4])
    assert total == len(pkt), f"total length {total} != {len(pkt)}"
    assert checksum(pkt[:20]) == 0, "bad header checksum"
    return socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20]), pkt[9], pkt[20:]


def ipv6_packet(src: str, dst: str, payload: bytes, proto: int = PROTO_TEST) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), proto, 64, socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + payload


def pattern(seq: int, size: int) -> bytes:
    return struct.pack("!I", seq) + bytes((seq * 7 + i) & 0xFF for i in range(size - 4))


class Node:
    """A network plus what its callbacks saw, behind one condition."""

    def __init__(self, name: str, addr4: str | None, addr6: str | None = None, /, **options):
        self.addr4, self.addr6 = addr4, addr6
        self.cond = threading.Condition()
        self.peer: Node | None = None
        self.events: list[ipop.Event] = []
        self.packets: list[bytes] = []
        self.signal_errors: list[BaseException] = []
        self.callback_threads: set[int] = set()
        addresses = [a for a in (addr4 and addr4 + "/24", addr6 and addr6 + "/64") if a]
        self.net = ipop.Network(name, mode="none", address=addresses, ice_local_address="127.0.0.1",
                                on_signal=self._on_signal, on_event=self._on_event, on_packet=self._on_packet,
                                **options)

    def _on_signal(self, net, peer_id, message):
        self.callback_threads.add(threading.get_ident())
        if self.peer is None or self.peer.net.closed:
            return  # goodbyes to a peer that is gone already
        assert peer_id == self.peer.net.node_id
        try:
            self.peer.net.signal_receive(net.node_id, message)
        except ipop.IpopError as e:
            with self.cond:
                self.signal_errors.append(e)
                self.cond.notify_all()
            raise  # and the binding logs it

    def _on_event(self, net, event):
        self.callback_threads.add(threading.get_ident())
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def _on_packet(self, net, packet):
        self.callback_threads.add(threading.get_ident())
        with self.cond:
            self.packets.append(packet)
            self.cond.notify_all()

    def wait(self, predicate, timeout: float = 15.0) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def last_state(self):
        states = [e for e in self.events if e.type == ipop.EventType.LINK_STATE]
        return states[-1] if states else None

    def wait_state(self, state, timeout: float = 15.0):
        """The last LINK_STATE event once it has `state`, or None."""
        ok = self.wait(lambda: (e := self.last_state()) is not None and e.state == state, timeout)
        return self.last_state() if ok else None


def pair(a: Node, b: Node) -> None:
    a.peer, b.peer = b, a
    a.net.start()
    b.net.start()


def connect(a: Node, b: Node) -> ipop.Link:
    b.net.allow(a.net.node_id)
    link = a.net.connect(b.net.node_id)
    ea = a.wait_state(ipop.LinkState.CONNECTED)
    eb = b.wait_state(ipop.LinkState.CONNECTED, 5)
    if ea is None or eb is None:
        raise AssertionError(f"link did not come up: a={a.last_state()} b={b.last_state()}")
    return link


def send(net: ipop.Network, pkt: bytes, timeout: float = 5.0) -> None:
    """send_packet(), retried while the socket is full (ENOBUFS)."""
    end = time.monotonic() + timeout
    while True:
        try:
            net.send_packet(pkt)
            return
        except ipop.IpopError as e:
            if e.errno != errno.ENOBUFS or time.monotonic() > end:
                raise
            time.sleep(0.001)


def blast(src: Node, dst: Node, count: int, window: int = 32, first_seq: int = 0) -> list[bytes]:
    """Sends `count` IPv4 packets of varied sizes, at most `window` in
    flight, and returns the packets `dst` received (in arrival order)."""
    with dst.cond:
        dst.packets.clear()
    for seq in range(first_seq, first_seq + count):
        size = 64 + (seq * 97) % (ipop.DEFAULT_MTU - 20 - 64 + 1)
        send(src.net, ipv4_packet(src.addr4, dst.addr4, pattern(seq, size), ident=seq))
        sent = seq - first_seq + 1
        if not dst.wait(lambda: sent - len(dst.packets) <= window, 10):
            break
    dst.wait(lambda: len(dst.packets) >= count, 10)
    with dst.cond:
        return list(dst.packets)
