#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The error texts a user meets point at the real cause: ipopd --check
catches what start would refuse or what cannot work; a failed start says
why in the user's terms; ipopctl says what to do when the control socket
is not theirs.  The device cases need root (each runs in namespaces of its
own); the rest do not.

usage: test-error-texts.py IPOPD IPOPCTL"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Daemon, fail  # noqa: E402

ipopd, ipopctl = sys.argv[1:3]
root = os.geteuid() == 0
secret = subprocess.run([ipopd, "--gen-secret"], capture_output=True, text=True, check=True).stdout.strip()
work = tempfile.mkdtemp(prefix="ipop-errors.")
os.chmod(work, 0o755)
GROUP = ("mode = none\noverlay = group\ngroup.room = r@rooms.ipop.test\ngroup.secret = %s\n"
         "xmpp.jid = a@ipop.test\n" % secret)


def check(name, body, want, unwanted=None):
    path = os.path.join(work, name + ".conf")
    with open(path, "w") as f:
        f.write(body)
    r = subprocess.run([ipopd, "--check", "--config", path], capture_output=True, text=True, timeout=30)
    out = r.stdout + r.stderr
    if r.returncode == 0 or want not in out or (unwanted and unwanted in out):
        fail("%s: exit %d, want non-zero with %r%s:\n%s" % (name, r.returncode, want,
                                                           " and without %r" % unwanted if unwanted else "", out))
    print("%s: %s" % (name, out.strip().splitlines()[-1]))


def start_fails(name, body, want, wrap=(), unwanted="need root"):
    """ipopd with one network that cannot start: the log line says why."""
    path = os.path.join(work, name + ".conf")
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, 0o644)
    cmd = [*wrap, ipopd, "--config", path, "--control", os.path.join(work, name + ".sock")]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=8)
        out = r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:  # it keeps running for the other networks
        out = (e.stdout or b"").decode() + (e.stderr or b"").decode()
    if want not in out or unwanted in out:
        fail("%s: want %r and not %r in:\n%s" % (name, want, unwanted, out))
    print("%s: %s" % (name, [ln for ln in out.splitlines() if want in ln][0]))


try:
    # A password file that does not exist: one line says so, no second
    # line calls the key unknown.
    check("password-file", "[n]\n%sxmpp.password-file = %s/nope\n" % (GROUP, work),
          "cannot read the file: %s/nope" % work, "unknown key")
    # An address without prefix in a group: a /32 that reaches nobody.
    check("no-prefix", "[n]\n%sxmpp.password = p\naddress = 10.9.0.1\n" % GROUP,
          "address: 10.9.0.1 has no prefix length")
    # An identity file that can be neither read nor made.
    check("identity-dir", "[n]\n%sxmpp.password = p\nidentity.file = %s/no/such/dir/id.key\n" % (GROUP, work),
          "identity.file: %s/no/such/dir/id.key does not exist and cannot be made in" % work)
    # Options that contradict each other.
    check("contradict", "[n]\n%sxmpp.password = p\nsignal.listen = 127.0.0.1:4999\n" % GROUP,
          "signal.listen: not used with overlay = group")

    # The DNS server of the names (dns, dns.suffix): needs a device, and a
    # suffix that is a domain name; other dns.* keys are not ipopd's.
    check("dns-mode-none", "[n]\nmode = none\nsignal.listen = 127.0.0.1:4998\ndns = true\n",
          "[n] dns: needs mode tun or tap")
    check("dns-suffix", "[n]\nmode = tun\naddress = 10.9.0.1/24\nsignal.listen = 127.0.0.1:4998\n"
          "dns.suffix = bad..name\n", "[n] dns.suffix: \"bad..name\" is not a domain name")
    check("dns-unknown", "[n]\nmode = tun\naddress = 10.9.0.1/24\nsignal.listen = 127.0.0.1:4998\n"
          "dns.port = 5353\n", "[n] dns.port: unknown key")

    # ipopctl: its version, and a hint when the socket is not the user's.
    r = subprocess.run([ipopctl, "--version"], capture_output=True, text=True, timeout=10)
    if r.returncode != 0 or not r.stdout.startswith("ipopctl ") or len(r.stdout.split()) != 2:
        fail("ipopctl --version: exit %d: %r" % (r.returncode, r.stdout))
    if root:
        with Daemon(ipopd, "[n]\nmode = none\nsignal.listen = 127.0.0.1:%d\n" % (21000 + os.getpid() % 20000)) as d:
            d.wait_control()
            r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", ipopctl,
                                "--control", d.control, "status"], capture_output=True, text=True, timeout=10)
            if r.returncode != 1 or "Permission denied (the control socket is for root and ipopd's user" \
                    not in r.stderr:
                fail("ipopctl as another user: exit %d: %s" % (r.returncode, r.stderr))
            print("ipopctl as nobody: " + r.stderr.strip())
            rc = subprocess.run([ipopctl, "--control", d.control, "status"], capture_output=True).returncode
            if rc != 0:
                fail("ipopctl status of a running network without XMPP: exit %d" % rc)

    if not root:
        print("not root: the start cases skipped")
        sys.exit(0)
    # An identity file this user cannot read, in mode none: not "tun and
    # tap modes need root".
    key = os.path.join(work, "id.key")
    subprocess.run([ipopd, "--node-id", key], capture_output=True, check=True)
    os.chmod(key, 0o600)
    start_fails("identity-unreadable", "[n]\nmode = none\nsignal.listen = 127.0.0.1:%d\nidentity.file = %s\n"
                % (22000 + os.getpid() % 20000, key),
                "cannot open the identity file %s: Permission denied" % key,
                wrap=("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"))
    # One device name for two networks: the second says the name is taken.
    dev = "ipoperr%d" % (os.getpid() % 1000)
    start_fails("device-twice", "".join("[n%d]\nmode = tun\ndevice = %s\naddress = 10.8.%d.1/24\n"
                                        "signal.listen = 127.0.0.1:%d\n" % (i, dev, i, 23000 + i + os.getpid() % 20000)
                                        for i in (1, 2)),
                "cannot start: device busy (the device %s is in use" % dev, wrap=("unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"))
    # No /dev/net/tun (a container without it): say so, not a bare ENOENT.
    start_fails("no-tun", "[n]\nmode = tun\naddress = 10.8.0.1/24\nsignal.listen = 127.0.0.1:%d\n"
                % (24000 + os.getpid() % 20000), "/dev/net/tun is missing: load the tun module",
                wrap=("unshare", "-m", "-n", "sh", "-c", 'ip link set lo up && mount -t tmpfs none /dev/net && exec "$@"', "sh"))
finally:
    shutil.rmtree(work, ignore_errors=True)
print("ok")
