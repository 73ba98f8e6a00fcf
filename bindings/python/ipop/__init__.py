# SPDX-License-Identifier: MIT
"""Python binding of libipop, over ctypes.

    import ipop
    with ipop.Network("a", mode="none", address="10.1.0.1/24",
                      ice_local_address="127.0.0.1",
                      on_signal=..., on_packet=..., on_event=...) as net:
        link = net.connect(peer_id)

Callbacks run on the library's thread (loop="thread", the default) or
inside Network.process() (loop="external").  See README.md.
"""
from ._lib import load_library
from ._types import (DEFAULT_MTU, MAX_MTU, MAX_PACKET, NODE_ID_MAX, Event, EventType, Friend, IpopError, LinkState, LinkStats,
                     LogLevel, NetworkStats, PathType, PortMapping, Reason, SignalState, SignalStatus)
from .network import (GENERATED_SECRET_LEN, OPTION_KEYS, Link, Network, UdpEndpoint, generate_secret, has_udp, link_state_str, log_to_logging,
                      path_type_str, reason_str, set_log_handler, signal_state_str, strerror, version)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MTU", "MAX_MTU", "MAX_PACKET", "NODE_ID_MAX", "OPTION_KEYS",
    "Event", "EventType", "Friend", "IpopError", "Link", "LinkState", "LinkStats", "LogLevel", "Network", "NetworkStats", "PathType", "PortMapping",
    "Reason", "SignalState", "SignalStatus", "UdpEndpoint",
    "GENERATED_SECRET_LEN", "generate_secret", "has_udp", "link_state_str", "load_library", "log_to_logging", "path_type_str", "reason_str",
    "set_log_handler", "signal_state_str", "strerror", "version",
]
