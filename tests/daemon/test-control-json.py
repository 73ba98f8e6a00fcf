#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ipopctl status --json and peers --json give documents that parse, with
the members scripts read, also when a name is not UTF-8: its bad bytes
become U+FFFD and the rest of the name stays as written.  Malformed
request lines get their error answer.

usage: test-control-json.py IPOPD IPOPCTL   (no root needed)"""
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Daemon, fail  # noqa: E402

ipopd, ipopctl = sys.argv[1:3]

# A network name with a byte that is not UTF-8 and a two-byte character.
config = b"[net\xff\xc3\xa9]\nmode = none\nsignal.listen = 127.0.0.1:%d\n" % (20000 + os.getpid() % 20000)


def ctl(d, *args):
    r = subprocess.run([ipopctl, "--control", d.control, *args], capture_output=True, timeout=10)
    if r.returncode != 0:
        fail("ipopctl %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.decode(errors="replace")))
    return r.stdout


with Daemon(ipopd, config) as d:
    d.wait_control()
    raw = ctl(d, "status", "--json")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        fail("status --json is not UTF-8 JSON (%s): %r" % (e, raw))
    nets = doc["networks"]
    if len(nets) != 1:
        fail("one network expected: %r" % doc)
    n = nets[0]
    if n["name"] != "net\ufffd\u00e9":
        fail("name %r, want 'net\\ufffd\\u00e9'" % n["name"])
    for key, want in (("running", True), ("mode", "none"), ("overlay", "none"), ("device", None),
                      ("addresses", []), ("links", []), ("signal_refused", 0)):
        if n.get(key, "missing") != want:
            fail("%s is %r, want %r in %r" % (key, n.get(key, "missing"), want, n))
    if len(n["node_id"]) != 52:
        fail("node_id %r" % n["node_id"])
    if doc["version"] == "" or not raw.endswith(b"}\n"):
        fail("version or end of document: %r" % raw)
    peers = json.loads(ctl(d, "peers", "--json"))
    if peers != {"peers": []}:
        fail("peers --json: %r" % peers)
    # The request line as ipopctl does not send it (daemon/parse.c): each
    # answered with its error, the daemon still answering afterwards.
    for req, want in ((b"status xml\n", b"error bad request\n"),
                      (b"status json\r\n", b"ok\n{"),
                      (b"stop\n", b"error unknown request\n"),
                      (b"network-changed a b\n", b"error bad request: network-changed [NETWORK]\n"),
                      (b"accept\n", b"error bad request: accept JID [NETWORK]\n"),
                      (b"metrics json\n", b"error bad request: metrics\n"),
                      (b"metrics\n", b"ok\n# HELP ipop_build_info "),
                      (b"x" * 255, b"error request too long\n")):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.settimeout(10)
            c.connect(d.control)
            c.sendall(req)
            got = b""
            while chunk := c.recv(65536):
                got += chunk
        if not got.startswith(want):
            fail("request %r: answer %r, want %r" % (req[:40], got[:200], want))
    ctl(d, "status")
print("ok: status --json and peers --json parse; a non-UTF-8 name shows as %r" % n["name"])
