# SPDX-License-Identifier: MIT
"""Loading libipop.so.0 and declaring the C prototypes of ipop.h."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import threading

from ._types import NODE_ID_MAX, IpopError

c_int, c_char_p, c_void_p, c_size_t = ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t
c_uint16, c_uint32, c_uint64 = ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64
# C enums are ints on every ABI this library builds for.
c_enum = ctypes.c_int


class EventStruct(ctypes.Structure):
    """ipop_event_t, field for field."""

    _fields_ = [
        ("size", c_size_t),
        ("type", c_enum),
        ("peer_id", c_char_p),
        ("link", c_void_p),
        ("state", c_enum),
        ("reason", c_enum),
        ("error", c_int),
        ("detail", c_char_p),
        ("signal_state", c_enum),
    ]


class SignalStatusStruct(ctypes.Structure):
    """ipop_signal_status_t, field for field."""

    _fields_ = [
        ("size", c_size_t),
        ("state", c_enum),
        ("reason", c_enum),
        ("since_ms", c_uint64),
        ("retry_ms", c_uint64),
        ("failures", c_uint32),
        ("detail", ctypes.c_char * 256),
        ("condition", ctypes.c_char * 64),
        ("fingerprint", ctypes.c_char * 96),
    ]


class LinkStatsStruct(ctypes.Structure):
    """ipop_link_stats_t, field for field."""

    _fields_ = [
        ("size", c_size_t),
        ("state", c_enum),
        ("reason", c_enum),
        ("tx_packets", c_uint64),
        ("tx_bytes", c_uint64),
        ("rx_packets", c_uint64),
        ("rx_bytes", c_uint64),
        ("tx_drops", c_uint64),
        ("rx_drops", c_uint64),
        ("rtt_us", c_uint32),
        ("local_path", c_enum),
        ("remote_path", c_enum),
        ("peer_id", ctypes.c_char * (NODE_ID_MAX + 1)),
        ("address", ctypes.c_char * 48),
        ("name", ctypes.c_char * 128),
        ("relay_id", ctypes.c_char * (NODE_ID_MAX + 1)),
        ("relayed_packets", c_uint64),
        ("relay_drops", c_uint64),
        ("port_mapping", ctypes.c_int),
        ("remote_port_mapping", ctypes.c_int32),
        ("peer_name", ctypes.c_char * 64),
        ("routes", c_uint32),
        ("route_list", ctypes.c_char * 256),
    ]


class FriendStruct(ctypes.Structure):
    """ipop_friend_t, field for field."""

    _fields_ = [
        ("size", c_size_t),
        ("jid", ctypes.c_char * 256),
        ("subscription", ctypes.c_char * 8),
        ("asked", c_int),
        ("request", c_int),
        ("online", c_int),
        ("peer_id", ctypes.c_char * (NODE_ID_MAX + 1)),
        ("address", ctypes.c_char * 48),
    ]


class NetworkStatsStruct(ctypes.Structure):
    """ipop_network_stats_t, field for field."""

    _fields_ = [
        ("size", c_size_t),
        ("signal_refused", c_uint64),
        ("no_route", c_uint64),
        ("links", c_uint32),
        ("links_connected", c_uint32),
        ("relayed_packets", c_uint64),
        ("relay_drops", c_uint64),
        ("relay_refused", c_uint64),
        ("tap_refused_type", c_uint64),
        ("tap_refused_source", c_uint64),
        ("tap_refused_mac", c_uint64),
        ("candidates_dropped", c_uint64),
        ("broadcast_packets", c_uint64),
        ("broadcast_dropped", c_uint64),
        ("too_big", c_uint64),
        ("too_big_answered", c_uint64),
        ("routes_refused", c_uint64),
        ("routes", c_uint32),
    ]


# Callback types.  Strings arrive as c_char_p, which ctypes copies into
# bytes before the Python function runs: the library's strings are valid
# only during the call.
SIGNAL_CB = ctypes.CFUNCTYPE(None, c_void_p, c_char_p, c_char_p, c_void_p)
PACKET_CB = ctypes.CFUNCTYPE(None, c_void_p, c_void_p, c_size_t, c_void_p)
EVENT_CB = ctypes.CFUNCTYPE(None, c_void_p, ctypes.POINTER(EventStruct), c_void_p)
LOG_CB = ctypes.CFUNCTYPE(None, c_enum, c_void_p, c_char_p, c_void_p)
UDP_CB = ctypes.CFUNCTYPE(None, c_void_p, c_char_p, c_uint16, c_void_p, c_size_t, c_void_p)

# name: (restype, argtypes).  restype c_int means "-errno on failure".
_PROTOTYPES = {
    "ipop_network_new": (c_int, [ctypes.POINTER(c_void_p), c_char_p]),
    "ipop_network_free": (c_void_p, [c_void_p]),
    "ipop_network_set_option": (c_int, [c_void_p, c_char_p, c_char_p]),
    "ipop_network_check": (c_int, [c_void_p, c_char_p, c_size_t]),
    "ipop_network_start": (c_int, [c_void_p]),
    "ipop_network_stop": (c_int, [c_void_p]),
    "ipop_network_get_node_id": (c_char_p, [c_void_p]),
    "ipop_network_get_device": (c_char_p, [c_void_p]),
    "ipop_network_set_signal_cb": (c_int, [c_void_p, SIGNAL_CB, c_void_p]),
    "ipop_network_signal_receive": (c_int, [c_void_p, c_char_p, c_char_p]),
    "ipop_network_allow_peer": (c_int, [c_void_p, c_char_p]),
    "ipop_network_connect": (c_int, [c_void_p, c_char_p, ctypes.POINTER(c_void_p)]),
    "ipop_network_get_link": (c_void_p, [c_void_p, c_char_p]),
    "ipop_network_accept_identity": (c_int, [c_void_p, c_char_p]),
    "ipop_network_get_address": (c_int, [c_void_p, c_int, c_char_p, c_size_t]),
    "ipop_network_get_stats": (c_int, [c_void_p, ctypes.POINTER(NetworkStatsStruct)]),
    "ipop_network_set_packet_cb": (c_int, [c_void_p, PACKET_CB, c_void_p]),
    "ipop_network_send_packet": (c_int, [c_void_p, c_char_p, c_size_t]),
    "ipop_network_set_event_cb": (c_int, [c_void_p, EVENT_CB, c_void_p]),
    "ipop_network_get_fd": (c_int, [c_void_p]),
    "ipop_network_get_timeout": (c_int, [c_void_p]),
    "ipop_network_process": (c_int, [c_void_p]),
    "ipop_link_get_state": (c_int, [c_void_p]),
    "ipop_link_get_peer_id": (c_char_p, [c_void_p]),
    "ipop_link_get_stats": (c_int, [c_void_p, ctypes.POINTER(LinkStatsStruct)]),
    "ipop_link_close": (c_int, [c_void_p]),
    "ipop_set_log_cb": (None, [LOG_CB, c_enum, c_void_p]),
    "ipop_strerror": (c_char_p, [c_int]),
    "ipop_reason_str": (c_char_p, [c_enum]),
    "ipop_link_state_str": (c_char_p, [c_enum]),
    "ipop_path_type_str": (c_char_p, [c_enum]),
    "ipop_version": (c_char_p, []),
    "ipop_generate_secret": (c_int, [c_char_p, c_size_t]),
}

# Symbols of newer releases: declared when the loaded library has them.
_OPTIONAL = {
    "ipop_udp_open": (c_int, [c_void_p, c_uint16, UDP_CB, c_void_p, ctypes.POINTER(c_void_p)]),
    "ipop_udp_send": (c_int, [c_void_p, c_char_p, c_uint16, c_char_p, c_size_t]),
    "ipop_udp_close": (c_void_p, [c_void_p]),
    "ipop_network_changed": (c_int, [c_void_p]),
    "ipop_network_reload_revocations": (c_int, [c_void_p]),
    "ipop_network_resolve": (c_int, [c_void_p, c_char_p, c_int, c_char_p, c_size_t]),
    "ipop_network_get_signal_status": (c_int, [c_void_p, ctypes.POINTER(SignalStatusStruct)]),
    "ipop_signal_state_str": (c_char_p, [c_enum]),
    "ipop_network_friend_add": (c_int, [c_void_p, c_char_p]),
    "ipop_network_friend_accept": (c_int, [c_void_p, c_char_p]),
    "ipop_network_friend_remove": (c_int, [c_void_p, c_char_p]),
    "ipop_network_get_friend": (c_int, [c_void_p, c_size_t, c_void_p]),
}

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None


def _candidates(path):
    if path:
        yield path
    env = os.environ.get("IPOP_LIBRARY")
    if env:
        yield env
    yield "libipop.so.0"  # the dynamic loader's search path: an installed library
    libdir = _pkg_config_libdir()
    if libdir:  # installed into a prefix ld.so does not search (PKG_CONFIG_PATH)
        yield os.path.join(libdir, "libipop.so.0")
    found = ctypes.util.find_library("ipop")
    if found:
        yield found


def _pkg_config_libdir() -> str | None:
    """libdir of ipop.pc, where pkg-config finds it; None otherwise."""
    try:
        out = subprocess.run(["pkg-config", "--variable=libdir", "ipop"], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def load_library(path: str | os.PathLike | None = None) -> ctypes.CDLL:
    """Loads libipop once and returns it.

    Tried in order: `path`, the environment variable IPOP_LIBRARY,
    "libipop.so.0" through the dynamic loader, libipop.so.0 in the libdir
    of pkg-config's ipop.pc (an install into another prefix, found through
    PKG_CONFIG_PATH), ctypes.util.find_library("ipop").
    A later call with another path does not replace a library already loaded.
    """
    global _lib
    with _lock:
        if _lib is not None:
            return _lib
        errors = []
        for cand in _candidates(os.fspath(path) if path else None):
            try:
                lib = ctypes.CDLL(cand)
            except OSError as e:
                errors.append(f"{cand}: {e}")
                continue
            _declare(lib)
            _lib = lib
            return lib
        raise OSError("cannot load libipop (set IPOP_LIBRARY to its path): " + "; ".join(errors))


def _declare(lib):
    for name, (res, args) in _PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    for name, (res, args) in _OPTIONAL.items():
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype, fn.argtypes = res, args


def lib() -> ctypes.CDLL:
    return _lib if _lib is not None else load_library()


def has(name: str) -> bool:
    """Whether the loaded library exports `name`."""
    return getattr(lib(), name, None) is not None


def text(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", "replace")


def arg(s) -> bytes | None:
    """A str, bytes or path argument as the char * the library takes."""
    if s is None or isinstance(s, bytes):
        return s
    if isinstance(s, os.PathLike):
        return os.fsencode(s)
    return str(s).encode("utf-8")


def strerror(err: int) -> str:
    return text(lib().ipop_strerror(err))


def check(r: int, function: str) -> int:
    """Returns r, or raises IpopError for a negative errno."""
    if r < 0:
        raise IpopError(-r, strerror(r), function)
    return r
