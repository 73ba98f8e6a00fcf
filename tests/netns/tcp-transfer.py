#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# One TCP transfer for the namespace tests, with no tool beyond python3:
#   tcp-transfer.py serve PORT READY-FILE [MSS-FILE]   accepts one
#       connection, reads to its end, answers "<sha256> <bytes>\n" and exits
#       (READY-FILE appears once it listens, on IPv4 and IPv6; MSS-FILE gets
#       the accepted connection's TCP_MAXSEG)
#   tcp-transfer.py send HOST PORT FILE     sends FILE and prints the answer
import hashlib
import socket
import sys


def serve(port, ready, mss=None):
    srv = socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=True)
    open(ready, "w").close()
    srv.settimeout(60)
    conn, _ = srv.accept()
    conn.settimeout(60)
    if mss:
        with open(mss, "w") as f:
            f.write(f"{conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)}\n")
    h, n = hashlib.sha256(), 0
    while True:
        data = conn.recv(1 << 16)
        if not data:
            break
        h.update(data)
        n += len(data)
    conn.sendall(f"{h.hexdigest()} {n}\n".encode())
    conn.close()


def send(host, port, path):
    with socket.create_connection((host, port), timeout=60) as s, open(path, "rb") as f:
        while chunk := f.read(1 << 16):
            s.sendall(chunk)
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while data := s.recv(256):
            answer += data
    print(answer.decode().strip())


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    else:
        send(sys.argv[2], int(sys.argv[3]), sys.argv[4])
