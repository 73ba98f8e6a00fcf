# SPDX-License-Identifier: MIT
"""Enums, value types and the exception of the binding.

The numbers mirror include/ipop/ipop.h; tests/test_layout.py checks them
against a program compiled from that header.
"""
from __future__ import annotations

import dataclasses
import enum
import typing

if typing.TYPE_CHECKING:
    from .network import Link

MAX_PACKET = 1410
DEFAULT_MTU = 1342  # outer packets within 1440 bytes over IPv6, 1460 over IPv4
MAX_MTU = 1500  # the largest "mtu" (tun, none); above MAX_PACKET answered with ICMP too big
NODE_ID_MAX = 64


class LinkState(enum.IntEnum):
    NEW = 0
    CONNECTING = 1
    CONNECTED = 2
    FAILED = 3
    CLOSED = 4


class Reason(enum.IntEnum):
    NONE = 0
    ICE_FAILED = 1
    CONSENT_LOST = 2
    DTLS_FAILED = 3
    FINGERPRINT_MISMATCH = 4
    PEER_NOT_ALLOWED = 5
    PEER_CLOSED = 6
    LOCAL_CLOSED = 7
    TIMEOUT = 8
    BAD_MESSAGE = 9
    DEVICE_ERROR = 10
    SUPERSEDED = 11
    NOT_AUTHENTICATED = 12
    IDENTITY_CHANGED = 13
    PATH_LOST = 14
    NETWORK_CHANGED = 15
    NOT_CERTIFIED = 16
    ADDRESS_IN_USE = 17
    REKEY_FAILED = 18
    # the signalling transport (EventType.SIGNAL_STATE, Network.signal_status())
    AUTH_FAILED = 19
    NAME_NOT_RESOLVED = 20
    UNREACHABLE = 21
    TLS_REFUSED = 22
    SERVER_CLOSED = 23
    SERVER_SILENT = 24
    NAME_IN_USE = 25


class PathType(enum.IntEnum):
    UNKNOWN = 0
    HOST = 1
    SRFLX = 2
    PRFLX = 3
    RELAY = 4
    MEMBER = 5  # GroupVPN: through another member, LinkStats.relay_id


class PortMapping(enum.IntEnum):
    """ipop_port_mapping_t: the protocol of a port mapping on a path."""
    NONE = 0
    UPNP = 1
    NATPMP = 2
    PCP = 3


class EventType(enum.IntEnum):
    LINK_STATE = 1
    PEER_REFUSED = 2
    DEVICE_ERROR = 3
    BAD_MESSAGE = 4
    SIGNAL_STATE = 5  # the built-in (XMPP) signalling changed state: Event.signal_state, reason, detail


class SignalState(enum.IntEnum):
    NONE = 0
    CONNECTING = 1
    UP = 2
    AUTH_FAILED = 3
    UNREACHABLE = 4
    TLS_REFUSED = 5
    SERVER_CLOSED = 6


class LogLevel(enum.IntEnum):
    ERR = 3
    WARNING = 4
    NOTICE = 5
    INFO = 6
    DEBUG = 7


def _enum(cls, value):
    """A member of `cls`, or the plain int when a newer library sends a
    value this binding does not know yet."""
    try:
        return cls(value)
    except ValueError:
        return int(value)


class IpopError(OSError):
    """A negative errno returned by the library.

    `errno` is the positive errno value (compare with the errno module),
    `strerror` the text of ipop_strerror(), `function` the C function that
    failed, `detail` what the library said more (ipop_network_check(): the
    option to change, as "KEY: reason"), or None.
    """

    def __init__(self, errno: int, strerror: str, function: str | None = None, detail: str | None = None):
        super().__init__(errno, strerror)
        self.function = function
        self.detail = detail

    def __str__(self):
        s = super().__str__()
        if self.detail:
            s = f"{s}: {self.detail}"
        return f"{self.function}: {s}" if self.function else s


@dataclasses.dataclass(frozen=True)
class Event:
    """An event of a network, copied out of the library's ipop_event_t."""

    type: EventType
    peer_id: str | None
    link: Link | None
    state: LinkState
    reason: Reason
    error: int  # a negative errno value, or 0
    detail: str
    signal_state: SignalState = SignalState.NONE  # for EventType.SIGNAL_STATE: the new state


@dataclasses.dataclass(frozen=True)
class LinkStats:
    """A copy of ipop_link_stats_t."""

    state: LinkState
    reason: Reason
    tx_packets: int
    tx_bytes: int
    rx_packets: int
    rx_bytes: int
    tx_drops: int
    rx_drops: int
    rtt_us: int
    local_path: PathType
    remote_path: PathType
    peer_id: str
    address: str = ""
    name: str = ""
    relay_id: str = ""  # GroupVPN: the member packets go through while the direct link is down
    relayed_packets: int = 0  # packets from this peer that this node relayed to another member
    relay_drops: int = 0  # packets from this peer that this node could not relay
    port_mapping: PortMapping = PortMapping.NONE  # the local end is a mapping of this node's router
    remote_port_mapping: bool = False  # the remote end is a mapping of the peer's router
    peer_name: str = ""  # the peer's name (its option "name"), NAME-XXXXXX when it lost a conflict
    routes: int = 0  # subnet routes taken from the peer (accept-routes) and sent to it
    route_list: tuple = ()  # those routes ("192.168.77.0/24", ...), as many as the C struct holds


@dataclasses.dataclass(frozen=True)
class SignalStatus:
    """A copy of ipop_signal_status_t: the built-in signalling's state."""

    state: SignalState
    reason: Reason
    since_ms: int  # how long the state has lasted
    retry_ms: int  # when not up: until the next attempt (0: under way)
    failures: int  # attempts failed in a row
    detail: str  # the state in words ("" when up)
    condition: str  # the server's condition ("not-authorized"), or ""
    fingerprint: str  # TLS_REFUSED: the SHA-256 fingerprint the server showed


@dataclasses.dataclass(frozen=True)
class NetworkStats:
    """A copy of ipop_network_stats_t."""

    signal_refused: int  # signalling messages refused: malformed, unauthenticated, replayed, not allowed
    no_route: int  # packets from the host (device or send_packet) with no link to their destination
    links: int  # links known, in any state
    links_connected: int  # links connected now
    relayed_packets: int  # GroupVPN: packets this node relayed between two other members
    relay_drops: int  # GroupVPN: packets to relay that this node dropped
    relay_refused: int = 0  # GroupVPN: RELAYED frames not from the origin's relay, dropped
    tap_refused_type: int = 0  # TAP: frames of an Ethernet type not carried
    tap_refused_source: int = 0  # TAP: frames whose IP, ARP or NDP source or target is not the peer's
    tap_refused_mac: int = 0  # TAP: frames whose source MAC belongs to another link or this node
    candidates_dropped: int = 0  # remote ICE candidates dropped before the offer or answer
    broadcast_packets: int = 0  # tun, none: broadcast and multicast packets sent to every member
    broadcast_dropped: int = 0  # tun, none: broadcast and multicast packets over broadcast.rate, dropped
    too_big: int = 0  # tun: device packets larger than their link carries, dropped
    too_big_answered: int = 0  # of too_big: answered with ICMP fragmentation needed / packet too big
    routes_refused: int = 0  # tun: subnet routes announced by peers and not taken
    routes: int = 0  # tun: subnet routes taken from peers now (accept-routes)


@dataclasses.dataclass(frozen=True)
class Friend:
    """A copy of ipop_friend_t: a SocialVPN contact, or someone asking to be one."""

    jid: str  # the bare JID
    subscription: str  # RFC 6121: "none", "to", "from" or "both" (friends: both)
    asked: bool  # this node asked it for a subscription; no answer yet
    request: bool  # it asks this node: Network.friend_accept()
    online: bool  # its node is online now
    peer_id: str  # its node id pinned at first contact, "" before
    address: str  # its IPv4 address here, "" before
