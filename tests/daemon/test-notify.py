#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ipopd tells systemd it is ready (Type=notify) when it is: the test makes
the datagram socket systemd would, hands it over in $NOTIFY_SOCKET, and
checks that READY=1 arrives, that what it promises holds at that moment
(the control socket answers; as root, the TUN device exists in its
namespace with its address), and that STOPPING=1 comes at SIGTERM.  Also
with an abstract socket ("@name").

usage: test-notify.py IPOPD IPOPCTL   (the device part needs root)"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Daemon, fail  # noqa: E402

ipopd, ipopctl = sys.argv[1:3]
port = 20000 + os.getpid() % 20000


def receive(sock, timeout, d):
    """The next datagram, as a dict of its KEY=VALUE lines."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(4096)
    except socket.timeout:
        fail("no datagram on NOTIFY_SOCKET within %d s:\n%s" % (timeout, d.read_log()))
    return dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)


def notify_socket(abstract):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = "ipopd-test-notify-%d" % os.getpid()
        s.bind("\0" + name)
        return s, "@" + name, None
    path = "/tmp/ipopd-test-notify-%d.sock" % os.getpid()
    if os.path.exists(path):
        os.unlink(path)
    s.bind(path)
    return s, path, path


def run(config, abstract, wrap=(), check=None):
    sock, address, path = notify_socket(abstract)
    try:
        with Daemon(ipopd, config, env={"NOTIFY_SOCKET": address}, wrap=wrap) as d:
            msg = receive(sock, 20, d)
            if msg.get("READY") != "1":
                fail("first message is not READY=1: %r" % msg)
            # At READY=1 the promises hold: nothing is waited for here.
            out = subprocess.run([ipopctl, "--control", d.control, "status", "--json"],
                                 capture_output=True, timeout=10)
            if out.returncode != 0:
                fail("READY=1 came before the control socket answered: %s" % out.stderr.decode())
            nets = json.loads(out.stdout)["networks"]
            if not nets or not all(n["running"] for n in nets):
                fail("READY=1 with networks not running: %r" % nets)
            if msg.get("STATUS") != "%d of %d networks running" % (len(nets), len(nets)):
                fail("STATUS=%r" % msg.get("STATUS"))
            if check:
                check(nets)
            d.proc.send_signal(signal.SIGTERM)
            msg = receive(sock, 15, d)
            if msg.get("STOPPING") != "1":
                fail("at SIGTERM: %r, want STOPPING=1" % msg)
            if d.proc.wait(15) != 0:
                fail("ipopd exited with %d" % d.proc.returncode)
    finally:
        sock.close()
        if path:
            os.unlink(path)
    print("ok: READY=1 (%s socket), STOPPING=1" % ("abstract" if abstract else "path"))


none_config = "[plain]\nmode = none\nsignal.listen = 127.0.0.1:%d\n" % port
run(none_config, abstract=False)
run(none_config, abstract=True)

# As root: the device exists, with its address, when READY=1 arrives.
if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
    print("SKIP part: the TUN device check needs root and /dev/net/tun")
    sys.exit(0)
ns = "ipopd-notify-%d" % os.getpid()
subprocess.run(["ip", "netns", "add", ns], check=True)
try:
    subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
    tun_config = ("[vpn]\nmode = tun\ndevice = ipopready0\naddress = 10.99.0.1/24\n"
                  "signal.listen = 127.0.0.1:%d\n" % port)

    def device_up(nets):
        if nets[0]["device"] != "ipopready0":
            fail("device %r" % nets[0]["device"])
        out = subprocess.run(["ip", "-n", ns, "-o", "addr", "show", "dev", "ipopready0"],
                             capture_output=True, text=True)
        if out.returncode != 0 or "10.99.0.1/24" not in out.stdout:
            fail("READY=1 before the device had its address: %s%s" % (out.stdout, out.stderr))
        print("ok: at READY=1 ipopready0 exists with 10.99.0.1/24")

    run(tun_config, abstract=False, wrap=["ip", "netns", "exec", ns], check=device_up)
finally:
    subprocess.run(["ip", "netns", "del", ns])
