#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Broadcast and multicast over an overlay device, as programs use them.

  cast-io.py recv DEV OUT   receives on DEV, until killed: UDP port 9999
      (broadcasts) and mDNS (UDP 5353) joined to 224.0.0.251 and ff02::fb
      on DEV; one line per datagram in OUT: "KIND SOURCE PAYLOAD", where
      KIND is bcast, mdns4 or mdns6.  OUT.ready appears once every socket
      is set up.
  cast-io.py send DEV ADDR4 ADDR6 SUBNET-BROADCAST   sends from ADDR4 and
      ADDR6 on DEV: "subnet" to SUBNET-BROADCAST:9999 and "limited" to
      255.255.255.255:9999 (SO_BROADCAST), and an mDNS query for
      _services._dns-sd._udp.local to 224.0.0.251:5353 and [ff02::fb]:5353
      (ADDR6 "-": no IPv6, for SocialVPN, whose friends are IPv4 only).
"""
import select
import socket
import struct
import sys

MDNS4, MDNS6, PORT_MDNS, PORT_BCAST = "224.0.0.251", "ff02::fb", 5353, 9999


def mdns_query():
    """A DNS query (RFC 6762): _services._dns-sd._udp.local PTR, QU bit clear."""
    name = b"".join(bytes([len(p)]) + p for p in b"_services._dns-sd._udp.local".split(b".")) + b"\0"
    return struct.pack("!6H", 0, 0, 1, 0, 0, 0) + name + struct.pack("!2H", 12, 1)


def kind_of(port, family, payload):
    if port == PORT_BCAST:
        return "bcast", payload.decode(errors="replace")
    return ("mdns4" if family == socket.AF_INET else "mdns6"), "query" if payload == mdns_query() else "other"


def recv(dev, out):
    ifindex = socket.if_nametoindex(dev)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    b.bind(("", PORT_BCAST))
    m4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    m4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    m4.bind(("", PORT_MDNS))
    m4.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                  socket.inet_aton(MDNS4) + socket.inet_aton("0.0.0.0") + struct.pack("@i", ifindex))
    m6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    m6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    m6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    m6.bind(("", PORT_MDNS))
    m6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                  socket.inet_pton(socket.AF_INET6, MDNS6) + struct.pack("@I", ifindex))
    socks = {b: PORT_BCAST, m4: PORT_MDNS, m6: PORT_MDNS}
    with open(out, "a", buffering=1) as f:
        open(out + ".ready", "w").close()
        while True:
            for s in select.select(list(socks), [], [])[0]:
                data, addr = s.recvfrom(2048)
                kind, what = kind_of(socks[s], s.family, data)
                f.write(f"{kind} {addr[0]} {what}\n")


def send(dev, addr4, addr6, subnet_bcast):
    ifindex = socket.if_nametoindex(dev)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
    b.bind((addr4, 0))
    b.sendto(b"subnet", (subnet_bcast, PORT_BCAST))
    b.sendto(b"limited", ("255.255.255.255", PORT_BCAST))
    m4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    m4.bind((addr4, 0))
    m4.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(addr4))
    m4.sendto(mdns_query(), (MDNS4, PORT_MDNS))
    if addr6 == "-":
        return
    m6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    m6.bind((addr6, 0))
    m6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
    m6.sendto(mdns_query(), (MDNS6, PORT_MDNS, 0, ifindex))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "recv":
        recv(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 6 and sys.argv[1] == "send":
        send(*sys.argv[2:])
    else:
        sys.exit(__doc__)
