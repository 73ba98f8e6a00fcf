# SPDX-License-Identifier: MIT
"""Network, Link and UdpEndpoint: the objects of ipop.h."""
from __future__ import annotations

import atexit
import ctypes
import errno
import logging
import os
import socket
import threading
import weakref
from typing import Callable, Iterable

from . import _lib
from ._lib import EventStruct, FriendStruct, LinkStatsStruct, NetworkStatsStruct, SignalStatusStruct, arg, check, lib, text
from ._types import (Event, EventType, Friend, IpopError, LinkState, LinkStats, LogLevel, NetworkStats, PathType, PortMapping,
                     Reason, SignalState, SignalStatus, _enum)

logger = logging.getLogger("ipop")

SignalCallback = Callable[["Network", str, str], None]
PacketCallback = Callable[["Network", bytes], None]
EventCallback = Callable[["Network", Event], None]
LogHandler = Callable[[LogLevel, "Network | None", str], None]
DatagramCallback = Callable[[bytes, "tuple[str, int]"], None]

# The option keys of ipop_network_set_option() that Network() takes as
# keyword arguments, spelled with "_" for "." and "-".
# tests/test_network.py checks this against the keys ipop.h documents.
OPTION_KEYS = ("mode", "device", "device.offload", "address", "mtu", "tap.tagged", "broadcast", "broadcast.rate", "ice.stun", "ice.turn",
               "ice.local-address", "ice.relay-only", "ice.tcp", "ice.port-mapping", "identity.file", "loop", "signal.scope", "link.timeout", "link.max",
               "link.rekey-interval",
               "overlay", "xmpp.jid", "xmpp.password", "xmpp.password-file", "xmpp.server", "xmpp.port",
               "xmpp.require-tls", "xmpp.server-fingerprint", "group.room", "group.secret", "group.secret-file",
               "group.subnet", "group.authority", "group.certificate", "group.revocations",
               "social.subnet", "social.state-file", "dtls.record", "name", "routes", "accept-routes")
_KWARGS = {k.replace(".", "_").replace("-", "_"): k for k in OPTION_KEYS}

# Every network not yet freed, by its C address: the log callback names its
# network with that address, and exit frees what is left.
_live: "weakref.WeakValueDictionary[int, Network]" = weakref.WeakValueDictionary()
# Threads closing networks that were dropped without close(): exit waits.
_closing: set[threading.Thread] = set()
_closing_lock = threading.Lock()


def _close_dropped(net):
    try:
        net.close()
    except BaseException:
        logger.exception("closing a dropped ipop.Network")
    finally:
        with _closing_lock:
            _closing.discard(threading.current_thread())


def _option_values(value) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _option_values(item)]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, os.PathLike):
        return [os.fspath(value)]
    return [str(value)]


def _guarded(what: str, fn, *args):
    """Calls a user callback; an exception is logged, never passed on to C
    (it would have nowhere to go)."""
    try:
        fn(*args)
    except BaseException:  # noqa: B902 - a callback must not take the process down
        logger.exception("exception in ipop %s callback %r", what, fn)


class _Handle:
    """A C object used from several threads: calls in flight are counted so
    that it is freed only once none can still be using it
    (send_packet(), signal_receive() and sendto() come from any thread)."""

    _kind = "object"

    def __init__(self):
        self._h: int | None = None
        self._guard = threading.Condition(threading.Lock())
        self._users = 0

    def _ptr(self) -> int:
        if self._h is None:
            raise ValueError(f"operation on a closed ipop.{self._kind}")
        return self._h

    def _call(self, fname: str, *args, on=None):
        """lib().fname(ptr, *args), ptr being this object's handle or what
        `on()` returns (a link of this network), kept valid for the call."""
        with self._guard:
            ptr = on() if on else self._ptr()
            self._users += 1
        try:
            return getattr(lib(), fname)(ptr, *args)
        finally:
            with self._guard:
                self._users -= 1
                if self._users == 0:
                    self._guard.notify_all()

    def _retire(self) -> int | None:
        """Marks the object closed, waits for the calls in flight and
        returns the handle for the caller to free (None if closed already).
        New calls fail with ValueError from here on, so the wait ends."""
        with self._guard:
            h, self._h = self._h, None
            self._guard.wait_for(lambda: self._users == 0)
        return h


class Network(_Handle):
    """One virtual network this node is a member of (ipop_network_t).

    Options are keyword arguments named after the option keys with "_" for
    "." and "-" (``ice_local_address="127.0.0.1"``, ``link_timeout=3``);
    lists set a key several times, booleans become "true"/"false".  Keys
    this binding does not know go through ``options={"key": value}`` or
    set_option().  Callbacks are set here or with the on_* setters, before
    start:

    - ``on_signal(net, peer_id, message)``: deliver `message` to the peer,
      which passes it to its own ``signal_receive(our_node_id, message)``
    - ``on_packet(net, packet)``: an IP packet (bytes) from the overlay
    - ``on_event(net, event)``: an Event

    With loop="thread" (the default) callbacks run on the library's own
    thread, not the thread that created the network; with loop="external"
    they run inside process().  An exception raised by a callback is logged
    through the ``ipop`` logger and otherwise ignored.

    As a context manager the network starts on entry (unless started) and is
    closed (stopped and freed) on exit.
    """

    _kind = "Network"

    def __init__(self, name: str | None = None, /, *, on_signal: SignalCallback | None = None,
                 on_packet: PacketCallback | None = None, on_event: EventCallback | None = None,
                 options: dict | Iterable[tuple[str, object]] | None = None, **kwargs):
        unknown = [k for k in kwargs if k not in _KWARGS]
        if unknown:
            raise TypeError(f"unknown option {unknown[0]!r} (known: {', '.join(_KWARGS)}; "
                            "other keys go through options= or set_option())")
        super().__init__()
        h = ctypes.c_void_p()
        check(lib().ipop_network_new(ctypes.byref(h), arg(name)), "ipop_network_new")
        self._h = h.value
        self.name = name
        self._thunks: dict[str, object] = {}
        self._links: dict[int, Link] = {}
        self._links_lock = threading.Lock()
        self._udp: set[UdpEndpoint] = set()
        self._in_callback = threading.local()
        self._started = False
        _live[self._h] = self
        try:
            pairs = options.items() if isinstance(options, dict) else (options or ())
            for key, value in pairs:
                self.set_option(key, value)
            for kw, value in kwargs.items():
                if value is not None:
                    self.set_option(_KWARGS[kw], value)
            if on_signal:
                self.on_signal(on_signal)
            if on_packet:
                self.on_packet(on_packet)
            if on_event:
                self.on_event(on_event)
        except BaseException:
            self.close()
            raise

    def __repr__(self):
        state = "closed" if self._h is None else "started" if self._started else "stopped"
        return f"<ipop.Network {self.name!r} {state} node_id={self.node_id if self._h else None!r}>"

    # ---- callback plumbing ----

    def _enter_cb(self):
        d = getattr(self._in_callback, "depth", 0)
        self._in_callback.depth = d + 1

    def _leave_cb(self):
        self._in_callback.depth -= 1

    def _inside_callback(self) -> bool:
        return getattr(self._in_callback, "depth", 0) > 0

    def _trampoline(self, what: str, convert):
        """A C-callable function that converts the C arguments with
        `convert` and calls the user's function.  It holds the network:
        a network being closed by the garbage collector, whose weak
        references are cleared already, still says goodbye through it.
        close() drops it."""
        net = self

        def call(*cargs):
            net._enter_cb()
            try:
                fn, pyargs = convert(net, *cargs)
                _guarded(what, fn, *pyargs)
            except BaseException:
                logger.exception("ipop %s callback: cannot convert its arguments", what)
            finally:
                net._leave_cb()
        return call

    def _set_cb(self, what: str, setter: str, cbtype, fn, convert):
        if fn is not None and not callable(fn):
            raise TypeError(f"{what} callback is not callable")
        thunk = cbtype(self._trampoline(what, lambda net, *a: convert(net, fn, *a))) if fn else cbtype()
        check(self._call(setter, thunk, None), setter)
        # The library calls the thunk until the network is freed: keep it.
        self._thunks[what] = thunk

    def on_signal(self, fn: SignalCallback | None) -> None:
        """Sets the signalling callback ``fn(net, peer_id, message)``."""
        self._set_cb("signal", "ipop_network_set_signal_cb", _lib.SIGNAL_CB, fn,
                     lambda net, fn, _n, peer, msg, _ud: (fn, (net, text(peer), text(msg))))

    def on_packet(self, fn: PacketCallback | None) -> None:
        """Sets the packet callback ``fn(net, packet)`` of mode "none"."""
        self._set_cb("packet", "ipop_network_set_packet_cb", _lib.PACKET_CB, fn,
                     lambda net, fn, _n, p, n, _ud: (fn, (net, ctypes.string_at(p, n))))

    def on_event(self, fn: EventCallback | None) -> None:
        """Sets the event callback ``fn(net, event)``."""
        self._set_cb("event", "ipop_network_set_event_cb", _lib.EVENT_CB, fn,
                     lambda net, fn, _n, ev, _ud: (fn, (net, net._event(ev.contents))))

    def _event(self, ev: EventStruct) -> Event:
        def field(name, default):
            f = getattr(EventStruct, name)
            return getattr(ev, name) if ev.size >= f.offset + f.size else default
        link_ptr = field("link", None)
        peer = text(field("peer_id", None))
        return Event(type=_enum(EventType, ev.type), peer_id=peer,
                     link=self._link(link_ptr) if link_ptr else None,
                     state=_enum(LinkState, field("state", 0)), reason=_enum(Reason, field("reason", 0)),
                     error=field("error", 0), detail=text(field("detail", b"")) or "",
                     signal_state=_enum(SignalState, field("signal_state", 0)))

    def _link(self, ptr: int) -> Link:
        """The one Link object of a C link: events and connect() hand out
        the same object."""
        with self._links_lock:
            link = self._links.get(ptr)
            if link is None:
                link = self._links[ptr] = Link(self, ptr)
            return link

    # ---- configuration and lifecycle ----

    def set_option(self, key: str, value) -> None:
        """ipop_network_set_option(); lists set the key once per item.
        Raises IpopError: EINVAL for an unknown key or bad value, EBUSY once
        started."""
        for v in _option_values(value):
            check(self._call("ipop_network_set_option", arg(key), arg(v)), f"set_option({key!r})")

    def check(self) -> None:
        """ipop_network_check(): the whole configuration, as start() checks
        it.  Raises IpopError EINVAL whose detail names the option to
        change, as "KEY: reason"."""
        why = ctypes.create_string_buffer(256)
        r = self._call("ipop_network_check", why, ctypes.sizeof(why))
        if r < 0:
            raise IpopError(-r, strerror(r), "ipop_network_check", text(why.value) or None)

    def start(self) -> None:
        check(self._call("ipop_network_start"), "ipop_network_start")
        self._started = True

    def _refuse_inside_callback(self, what: str):
        # The library's thread runs Python code only inside callbacks.
        if self._inside_callback():
            raise RuntimeError(f"ipop.Network.{what}() cannot be called from inside a callback of the "
                               "same network")

    def stop(self) -> None:
        """Closes every link and stops the loop; the network may be started
        again.  Not from inside a callback of this network."""
        self._refuse_inside_callback("stop")
        try:
            check(self._call("ipop_network_stop"), "ipop_network_stop")
        finally:
            self._started = False

    def close(self) -> None:
        """Closes the UDP endpoints, stops the network and frees it.  Links
        become unusable.  Idempotent; not from inside a callback of this
        network."""
        if self._h is None:
            return
        self._refuse_inside_callback("close")
        for ep in list(self._udp):
            ep.close()
        if self._started:
            # Links say goodbye while other threads may still use the
            # handle; no callback runs once stop() has returned.
            try:
                self.stop()
            except IpopError:
                pass
        h = self._retire()
        _live.pop(h, None)
        lib().ipop_network_free(h)
        self._thunks.clear()

    def __enter__(self) -> Network:
        if not self._started:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        # Closing waits for the library's thread, and the collector may run
        # on that very thread, or on one holding a lock that thread waits
        # for: close on a thread of its own (the object lives on until then).
        if getattr(self, "_h", None) is None:
            return
        t = threading.Thread(target=_close_dropped, args=(self,), name="ipop-close", daemon=True)
        with _closing_lock:
            _closing.add(t)
        t.start()

    @property
    def started(self) -> bool:
        return self._started

    @property
    def closed(self) -> bool:
        return self._h is None

    @property
    def node_id(self) -> str | None:
        """This node's id; None before start unless identity_file exists."""
        return text(self._call("ipop_network_get_node_id"))

    @property
    def device(self) -> str | None:
        """The TUN/TAP device name once started in mode tun or tap."""
        return text(self._call("ipop_network_get_device"))

    # ---- peers, links, packets ----

    def allow(self, peer_id: str) -> None:
        check(self._call("ipop_network_allow_peer", arg(peer_id)), "ipop_network_allow_peer")

    def connect(self, peer_id: str) -> Link:
        """Opens (or returns) the link to `peer_id`; it comes up
        asynchronously: watch EventType.LINK_STATE events or Link.state."""
        p = ctypes.c_void_p()
        check(self._call("ipop_network_connect", arg(peer_id), ctypes.byref(p)), "ipop_network_connect")
        return self._link(p.value)

    def get_link(self, peer_id: str) -> Link | None:
        p = self._call("ipop_network_get_link", arg(peer_id))
        return self._link(p) if p else None

    def accept_identity(self, friend_jid: str) -> None:
        """SocialVPN: accepts that friend `friend_jid` (a bare JID) now runs
        a node with another node id than the one pinned at first contact
        (refused until then, Reason.IDENTITY_CHANGED).  IpopError ENOENT
        when no change waits for that friend, EINVAL when the network is
        not a SocialVPN, ENOTCONN when not started."""
        check(self._call("ipop_network_accept_identity", arg(friend_jid)), "ipop_network_accept_identity")

    def friend_add(self, jid: str) -> None:
        """SocialVPN: asks `jid` (a bare JID) to be a friend over this
        network's own XMPP session, or accepts its waiting request
        (ipop_network_friend_add).  IpopError EINVAL for a JID that is not
        a bare JID or this node's, or a network that is not a SocialVPN,
        ENOTCONN when not started or the session is not up.  Any thread."""
        check(self._call("ipop_network_friend_add", arg(jid)), "ipop_network_friend_add")

    def friend_accept(self, jid: str) -> None:
        """SocialVPN: accepts the waiting friend request of `jid` and asks
        back.  IpopError ENOENT when none waits; else as friend_add()."""
        check(self._call("ipop_network_friend_accept", arg(jid)), "ipop_network_friend_accept")

    def friend_remove(self, jid: str) -> None:
        """SocialVPN: ends the friendship with `jid`, or refuses its request.
        IpopError ENOENT when it is neither a contact nor asking."""
        check(self._call("ipop_network_friend_remove", arg(jid)), "ipop_network_friend_remove")

    def friends(self) -> list[Friend]:
        """SocialVPN: the roster's contacts and the waiting requests, by JID
        (ipop_network_get_friend).  Any thread."""
        out = []
        while True:
            st = FriendStruct(size=ctypes.sizeof(FriendStruct))
            r = self._call("ipop_network_get_friend", len(out), ctypes.byref(st))
            if r == -errno.ENOENT:
                return out
            check(r, "ipop_network_get_friend")
            out.append(Friend(jid=text(st.jid), subscription=text(st.subscription), asked=bool(st.asked),
                              request=bool(st.request), online=bool(st.online), peer_id=text(st.peer_id),
                              address=text(st.address)))

    def address(self, family: int = socket.AF_INET) -> str | None:
        """This node's current address of `family` (socket.AF_INET or
        AF_INET6) with its prefix, "10.1.0.1/24": the "address" option or
        the one derived from group_subnet (once started; it may move after
        a conflict).  None when there is none.  Any thread."""
        buf = ctypes.create_string_buffer(64)
        r = self._call("ipop_network_get_address", family, buf, len(buf))
        if r == -errno.ENOENT:
            return None
        check(r, "ipop_network_get_address")
        return buf.value.decode()

    def resolve(self, name: str, family: int = 0) -> str | None:
        """The overlay address of the member called `name` (ipop_network_resolve),
        "10.1.0.2", as this node reaches it: this node's own for its own name.
        family: socket.AF_INET, AF_INET6, or 0 (AF_UNSPEC: IPv4 when there is
        one, else IPv6).  None when no member has that name (or no address of
        that family); IpopError EINVAL for a name that is not a DNS label.
        Any thread."""
        if not _lib.has("ipop_network_resolve"):
            raise IpopError(errno.ENOSYS, "the loaded libipop has no ipop_network_resolve", "ipop_network_resolve")
        buf = ctypes.create_string_buffer(64)
        r = self._call("ipop_network_resolve", arg(name), family, buf, len(buf))
        if r == -errno.ENOENT:
            return None
        check(r, "ipop_network_resolve")
        return buf.value.decode()

    def stats(self) -> NetworkStats:
        """The network's counters (ipop_network_get_stats).  Any thread."""
        st = NetworkStatsStruct(size=ctypes.sizeof(NetworkStatsStruct))
        check(self._call("ipop_network_get_stats", ctypes.byref(st)), "ipop_network_get_stats")
        return NetworkStats(st.signal_refused, st.no_route, st.links, st.links_connected,
                            st.relayed_packets, st.relay_drops, st.relay_refused, st.tap_refused_type,
                            st.tap_refused_source, st.tap_refused_mac, st.candidates_dropped,
                            st.broadcast_packets, st.broadcast_dropped, st.too_big, st.too_big_answered,
                            st.routes_refused, st.routes)

    def signal_status(self) -> SignalStatus:
        """The built-in (XMPP) signalling's state (ipop_network_get_signal_status):
        SignalState.NONE without one or before start.  Any thread."""
        if not _lib.has("ipop_network_get_signal_status"):
            raise IpopError(errno.ENOSYS, "the loaded libipop has no ipop_network_get_signal_status",
                            "ipop_network_get_signal_status")
        st = SignalStatusStruct(size=ctypes.sizeof(SignalStatusStruct))
        check(self._call("ipop_network_get_signal_status", ctypes.byref(st)), "ipop_network_get_signal_status")
        return SignalStatus(_enum(SignalState, st.state), _enum(Reason, st.reason), st.since_ms, st.retry_ms,
                            st.failures, text(st.detail) or "", text(st.condition) or "",
                            text(st.fingerprint) or "")

    def signal_receive(self, from_peer_id: str, message: str | bytes) -> None:
        """Delivers a signalling message from a peer.  Any thread."""
        check(self._call("ipop_network_signal_receive", arg(from_peer_id), arg(message)),
              "ipop_network_signal_receive")

    def network_changed(self) -> None:
        """Tells the library that the host's network changed (another Wi-Fi,
        mobile data): every link restarts ICE with fresh candidates and
        failed links are tried again.  Any thread."""
        check(self._call("ipop_network_changed"), "ipop_network_changed")

    def reload_revocations(self) -> bool:
        """Group with an authority: reads the group.revocations file now.
        True when it held a newer revocation list (adopted and passed on;
        the links of revoked members closed), False when not.  Any thread."""
        r = self._call("ipop_network_reload_revocations")
        check(r, "ipop_network_reload_revocations")
        return r == 1

    def send_packet(self, packet: bytes | bytearray | memoryview) -> None:
        """Sends an IP packet (Ethernet frame in mode tap) into the overlay.
        Any thread.  IpopError ENOBUFS means "try again"."""
        data = packet if isinstance(packet, bytes) else bytes(packet)
        check(self._call("ipop_network_send_packet", data, len(data)), "ipop_network_send_packet")

    # ---- loop=external ----

    def fileno(self) -> int:
        """With loop="external", once started: an fd that becomes readable
        when process() has work (for selectors and asyncio's add_reader).
        A new fd after each start."""
        return check(self._call("ipop_network_get_fd"), "ipop_network_get_fd")

    def timeout(self) -> float | None:
        """With loop="external": seconds until process() is due even if
        the fd stays quiet, or None for no deadline."""
        ms = self._call("ipop_network_get_timeout")
        if ms == -1:  # "no deadline", not -EPERM: the call fails only with -EINVAL or -ENOTCONN
            return None
        return check(ms, "ipop_network_get_timeout") / 1000.0

    def process(self) -> None:
        """With loop="external": runs what is due without blocking; the
        callbacks are called from here."""
        check(self._call("ipop_network_process"), "ipop_network_process")

    # ---- UDP endpoints ----

    def udp_open(self, port: int, callback: DatagramCallback) -> UdpEndpoint:
        """Opens a UDP endpoint on `port` of this network's addresses (mode
        "none").  ``callback(data, (from_addr, from_port))`` runs as the
        other callbacks do.  Needs a library with ipop_udp_open()."""
        return UdpEndpoint(self, port, callback)


class Link:
    """A TinCan link to one peer (ipop_link_t).  Owned by its network: valid
    until the network is closed, whatever its state."""

    def __init__(self, net: Network, ptr: int):
        self._net = net
        self._ptr = ptr
        self.peer_id: str | None = text(lib().ipop_link_get_peer_id(ptr))

    def __repr__(self):
        state = self.state.name if not self._net.closed else "freed"
        return f"<ipop.Link to {self.peer_id} {state}>"

    @property
    def network(self) -> Network:
        return self._net

    def _handle(self) -> int:
        self._net._ptr()  # raises once the network is closed
        return self._ptr

    @property
    def state(self) -> LinkState:
        return _enum(LinkState, check(self._net._call("ipop_link_get_state", on=self._handle), "ipop_link_get_state"))

    def stats(self) -> LinkStats:
        st = LinkStatsStruct(size=ctypes.sizeof(LinkStatsStruct))
        check(self._net._call("ipop_link_get_stats", ctypes.byref(st), on=self._handle), "ipop_link_get_stats")
        return LinkStats(state=_enum(LinkState, st.state), reason=_enum(Reason, st.reason),
                         tx_packets=st.tx_packets, tx_bytes=st.tx_bytes, rx_packets=st.rx_packets,
                         rx_bytes=st.rx_bytes, tx_drops=st.tx_drops, rx_drops=st.rx_drops, rtt_us=st.rtt_us,
                         local_path=_enum(PathType, st.local_path), remote_path=_enum(PathType, st.remote_path),
                         peer_id=text(st.peer_id), address=text(st.address), name=text(st.name),
                         relay_id=text(st.relay_id), relayed_packets=st.relayed_packets,
                         relay_drops=st.relay_drops, port_mapping=_enum(PortMapping, st.port_mapping),
                         remote_port_mapping=bool(st.remote_port_mapping), peer_name=text(st.peer_name),
                         routes=st.routes, route_list=tuple(r for r in text(st.route_list).split(",") if r and r != "..."))

    def close(self) -> None:
        """Closes the link and says goodbye; IpopError EALREADY when closed."""
        check(self._net._call("ipop_link_close", on=self._handle), "ipop_link_close")


class UdpEndpoint(_Handle):
    """A UDP endpoint on a network's virtual addresses (ipop_udp_t).
    ``callback(data, (from_addr, from_port))`` as asyncio's
    datagram_received(); sendto() as a socket's."""

    _kind = "UdpEndpoint"

    def __init__(self, net: Network, port: int, callback: DatagramCallback):
        if not _lib.has("ipop_udp_open"):
            raise NotImplementedError("the loaded libipop has no ipop_udp_open()")
        if not callable(callback):
            raise TypeError("callback is not callable")
        if not 0 < port < 65536:
            raise IpopError(errno.EINVAL, _lib.strerror(-errno.EINVAL), "ipop_udp_open")
        super().__init__()
        self._net = net
        self.port = port
        self._in_callback = threading.local()

        def deliver(data, address):
            self._in_callback.depth = getattr(self._in_callback, "depth", 0) + 1
            try:
                callback(data, address)
            finally:
                self._in_callback.depth -= 1

        convert = (lambda n, _s, addr, fport, data, size, _ud:
                   (deliver, (ctypes.string_at(data, size), (text(addr), fport))))
        self._thunk = _lib.UDP_CB(net._trampoline("udp", convert))
        p = ctypes.c_void_p()
        check(net._call("ipop_udp_open", port, self._thunk, None, ctypes.byref(p)), "ipop_udp_open")
        self._h = p.value
        net._udp.add(self)

    def __repr__(self):
        return f"<ipop.UdpEndpoint port {self.port}{' closed' if self._h is None else ''}>"

    def sendto(self, data: bytes | bytearray | memoryview, address: tuple[str, int]) -> None:
        """Sends a datagram to (addr, port) of the overlay.  Any thread."""
        addr, port = address
        data = data if isinstance(data, bytes) else bytes(data)
        check(self._call("ipop_udp_send", arg(addr), port, data, len(data)), "ipop_udp_send")

    def close(self) -> None:
        """Closes the endpoint: its callback is not called again.  Not from
        inside its own callback."""
        if self._h is None:
            return
        if getattr(self._in_callback, "depth", 0):
            raise RuntimeError("ipop.UdpEndpoint.close() cannot be called from inside its own callback")
        lib().ipop_udp_close(self._retire())
        self._net._udp.discard(self)
        self._thunk = None

    def __enter__(self) -> UdpEndpoint:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---- process-wide functions ----

# Every log thunk ever installed: the library may still be calling the old
# one on another thread when ipop_set_log_cb() returns, so none is released.
_log_thunks: list = []


def set_log_handler(handler: LogHandler | None, level: LogLevel = LogLevel.INFO) -> None:
    """Sets the process-wide log handler ``handler(level, net, message)``,
    `net` being the Network or None, and the most verbose level passed to
    it.  None drops all lines (the default).  Called from any thread."""
    if handler is None:
        lib().ipop_set_log_cb(_lib.LOG_CB(), level, None)
        return

    def call(lvl, net_ptr, msg, _ud):
        net = _live.get(net_ptr) if net_ptr else None
        _guarded("log", handler, _enum(LogLevel, lvl), net, text(msg) or "")

    thunk = _lib.LOG_CB(call)
    _log_thunks.append(thunk)
    lib().ipop_set_log_cb(thunk, level, None)


_PY_LEVELS = {LogLevel.ERR: logging.ERROR, LogLevel.WARNING: logging.WARNING, LogLevel.NOTICE: logging.INFO,
              LogLevel.INFO: logging.INFO, LogLevel.DEBUG: logging.DEBUG}


def _to_logging(level, net, message):
    logger.log(_PY_LEVELS.get(level, logging.INFO), "%s%s", f"[{net.name}] " if net and net.name else "",
               message)


def log_to_logging(level: LogLevel = LogLevel.INFO) -> None:
    """Sends the library's log lines to the ``ipop`` logger of the logging
    module (ERR->ERROR, WARNING->WARNING, NOTICE/INFO->INFO, DEBUG->DEBUG)."""
    set_log_handler(_to_logging, level)


GENERATED_SECRET_LEN = 56  # IPOP_GENERATED_SECRET_LEN


def generate_secret() -> str:
    """A new GroupVPN secret (ipop_generate_secret()): "ipop1.", 32 random
    bytes in base64url, "." and a check; members key the group with it at
    once, without the slow derivation a typed secret gets."""
    buf = ctypes.create_string_buffer(GENERATED_SECRET_LEN + 1)
    check(lib().ipop_generate_secret(buf, len(buf)), "ipop_generate_secret")
    return buf.value.decode()


def version() -> str:
    """The run-time library version, "MAJOR.MINOR.PATCH"."""
    return text(lib().ipop_version())


def strerror(err: int) -> str:
    """ipop_strerror() of a negative (or positive) errno value."""
    return _lib.strerror(-abs(err))


def reason_str(reason: int) -> str:
    return text(lib().ipop_reason_str(reason))


def link_state_str(state: int) -> str:
    return text(lib().ipop_link_state_str(state))


def path_type_str(path: int) -> str:
    return text(lib().ipop_path_type_str(path))


def signal_state_str(state: int) -> str:
    return text(lib().ipop_signal_state_str(state))


def has_udp() -> bool:
    """Whether the loaded library has UDP endpoints (ipop_udp_open)."""
    return _lib.has("ipop_udp_open")


@atexit.register
def _at_exit():
    # Library threads must not call into an interpreter that is finalizing.
    if _lib._lib is None:
        return
    for net in list(_live.values()):
        try:
            net.close()
        except Exception:
            pass
    with _closing_lock:
        pending = list(_closing)
    for t in pending:
        t.join()
    _lib._lib.ipop_set_log_cb(_lib.LOG_CB(), LogLevel.ERR, None)
