# SPDX-License-Identifier: MIT
"""The ctypes mirror of ipop.h against the C compiler's view of it: struct
sizes, field offsets and sizes, enum values (printed by layout.c, built
from the public header), and every enumerator of the header present in the
Python enums."""
from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import ipop  # noqa: E402
from ipop._lib import EventStruct, FriendStruct, LinkStatsStruct, NetworkStatsStruct, SignalStatusStruct, c_enum  # noqa: E402
import testmain  # noqa: E402

STRUCTS = {"ipop_event_t": EventStruct, "ipop_link_stats_t": LinkStatsStruct,
           "ipop_network_stats_t": NetworkStatsStruct, "ipop_signal_status_t": SignalStatusStruct,
           "ipop_friend_t": FriendStruct}
ENUMS = {"IPOP_LINK_": ipop.LinkState, "IPOP_REASON_": ipop.Reason, "IPOP_PATH_": ipop.PathType, "IPOP_PORT_MAPPING_": ipop.PortMapping,
         "IPOP_EVENT_": ipop.EventType, "IPOP_LOG_": ipop.LogLevel, "IPOP_SIGNAL_": ipop.SignalState}
CONSTANTS = {"IPOP_MAX_PACKET": ipop.MAX_PACKET, "IPOP_DEFAULT_MTU": ipop.DEFAULT_MTU, "IPOP_MAX_MTU": ipop.MAX_MTU,
             "IPOP_NODE_ID_MAX": ipop.NODE_ID_MAX}


def helper_output():
    helper = os.environ.get("IPOP_LAYOUT_HELPER")
    if not helper:
        raise unittest.SkipTest("IPOP_LAYOUT_HELPER (the built layout.c) not set; meson sets it")
    out = subprocess.run([helper], check=True, capture_output=True, text=True).stdout
    sizes, fields, consts = {}, {}, {}
    for line in out.splitlines():
        kind, name, *vals = line.split()
        if kind == "sizeof":
            sizes[name] = int(vals[0])
        elif kind == "offsetof":
            struct, field = name.split(".")
            fields.setdefault(struct, {})[field] = (int(vals[0]), int(vals[1]))
        elif kind == "const":
            consts[name] = int(vals[0])
    return sizes, fields, consts


class TestLayout(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sizes, cls.fields, cls.consts = helper_output()

    def test_structs(self):
        for cname, cls in STRUCTS.items():
            with self.subTest(struct=cname):
                self.assertEqual(ctypes.sizeof(cls), self.sizes[cname])
                py = {name: (getattr(cls, name).offset, getattr(cls, name).size) for name, _ in cls._fields_}
                self.assertEqual(py, self.fields[cname])
                # the same order too: a swapped pair of equal fields would pass the offsets test
                self.assertEqual([n for n, _ in cls._fields_],
                                 sorted(self.fields[cname], key=lambda f: self.fields[cname][f][0]))

    def test_enum_size(self):
        for name in ("ipop_link_state_t", "ipop_reason_t", "ipop_path_type_t", "ipop_event_type_t",
                     "ipop_log_level_t", "ipop_signal_state_t"):
            self.assertEqual(self.sizes[name], ctypes.sizeof(c_enum), name)

    def test_values(self):
        for cname, value in self.consts.items():
            with self.subTest(const=cname):
                if cname in CONSTANTS:
                    self.assertEqual(CONSTANTS[cname], value)
                    continue
                prefix = next(p for p in ENUMS if cname.startswith(p))
                self.assertEqual(ENUMS[prefix][cname[len(prefix):]], value)

    def test_header_complete(self):
        """Every enumerator in ipop.h has its Python member, and layout.c
        prints it (so test_values checked its value)."""
        header = os.environ.get("IPOP_HEADER")
        if not header:
            self.skipTest("IPOP_HEADER not set; meson sets it")
        with open(header, encoding="utf-8") as f:
            text = f.read()
        enumerators = re.findall(r"^\s*(IPOP_[A-Z_]+)\s*=\s*\d+,", text, re.M)
        self.assertGreater(len(enumerators), 30)
        for cname in enumerators:
            with self.subTest(enumerator=cname):
                self.assertIn(cname, self.consts, "add it to tests/layout.c")
                prefix = next(p for p in ENUMS if cname.startswith(p))
                self.assertIn(cname[len(prefix):], ENUMS[prefix].__members__)
        for prefix, enum in ENUMS.items():
            for member in enum.__members__:
                self.assertIn(prefix + member, enumerators)
        for cname in CONSTANTS:
            self.assertRegex(text, rf"#define {cname} \d+")
        # the keyword options name keys the header documents
        for key in ipop.OPTION_KEYS:
            self.assertIn(f'"{key}"', text)


if __name__ == "__main__":
    testmain.main()
