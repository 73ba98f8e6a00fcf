#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Classifies the NAT in front of a host, in the spirit of RFC 4787/5780.

  natcheck.py server ADDR1 ADDR2 PORT1 PORT2
      (on the public side) answers each UDP datagram on ADDR1:PORT1 with the
      address it came from ("ip:port"), from the same socket; for a datagram
      "probe", it also sends "from-port" from ADDR1:PORT2 and "from-addr"
      from ADDR2:PORT1 to that address.  Also answers on ADDR1:PORT2 and
      ADDR2:PORT1 (for the mapping test).
  natcheck.py client ADDR1 ADDR2 PORT1 PORT2
      (on a host) from one local port: asks ADDR1:PORT1, ADDR1:PORT2 and
      ADDR2:PORT1 what they see (mapping), then sends "probe" to ADDR1:PORT1
      and listens for the other two (filtering).  Prints one line:
      "mapping=independent|dependent|none filtering=any|address|address-port|none"
"""
import select
import socket
import sys
import time


def server(a1, a2, p1, p2):
    main = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    main.bind((a1, p1))
    other_port = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other_port.bind((a1, p2))
    other_addr = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other_addr.bind((a2, p1))
    socks = [main, other_port, other_addr]
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select(socks, [], [])
        for s in ready:
            data, peer = s.recvfrom(2048)
            s.sendto(("%s:%d" % peer).encode(), peer)
            if s is main and data == b"probe":
                other_port.sendto(b"from-port", peer)
                other_addr.sendto(b"from-addr", peer)


def ask(sock, dest, payload, wait=1.0):
    """Sends payload to dest (up to 3 times) and returns the answers seen."""
    got = []
    for _ in range(3):
        sock.sendto(payload, dest)
        deadline = time.monotonic() + wait / 3
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([sock], [], [], left)
            if not r:
                break
            data, src = sock.recvfrom(2048)
            got.append((data.decode(errors="replace"), src))
        if got:
            # Collect the rest of a probe's answers for a moment more.
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                r, _, _ = select.select([sock], [], [], end - time.monotonic())
                if not r:
                    break
                data, src = sock.recvfrom(2048)
                got.append((data.decode(errors="replace"), src))
            return got
    return got


def client(a1, a2, p1, p2):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 0))
    seen = []
    for dest in [(a1, p1), (a1, p2), (a2, p1)]:
        answers = [d for d, src in ask(sock, dest, b"map") if src == dest]
        seen.append(answers[0] if answers else None)
    if None in seen:
        print("mapping=none filtering=none local=%d seen=%s" % (sock.getsockname()[1], seen))
        return
    mapping = "independent" if len(set(seen)) == 1 else "dependent"
    # A fresh socket: nothing but the probe has left it.
    sock2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock2.bind(("0.0.0.0", 0))
    got = {d for d, _ in ask(sock2, (a1, p1), b"probe", wait=1.5)}
    if "from-addr" in got:
        filtering = "any"
    elif "from-port" in got:
        filtering = "address"
    else:
        filtering = "address-port"
    print("mapping=%s filtering=%s seen=%s" % (mapping, filtering, ",".join(seen)))


if __name__ == "__main__":
    role, a1, a2, p1, p2 = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    (server if role == "server" else client)(a1, a2, p1, p2)
