#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A delay line with loss, for the lab: this kernel has no sch_netem.

Opens two TUN devices, IN and OUT.  Every packet the kernel routes into IN
is held for DELAY ms and then written to OUT, where the kernel receives it
and routes it on, unless it is one of the LOSS percent dropped (a seeded
generator: runs repeat).  faults.sh steers the traffic of chosen
interfaces of the lab's router into IN with a policy route.

Usage: delayline.py IN OUT DELAY_MS LOSS_PERCENT SEED
Prints "ready" once both devices exist, and the counts when it ends
(SIGTERM).
"""
import collections
import fcntl
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main():
    if len(sys.argv) != 6:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    in_name, out_name = sys.argv[1], sys.argv[2]
    delay = float(sys.argv[3]) / 1000.0
    loss = float(sys.argv[4]) / 100.0
    rng = random.Random(int(sys.argv[5]))
    fd_in, fd_out = open_tun(in_name), open_tun(out_name)
    held = collections.deque()  # (due, packet): one delay for all, so FIFO
    counts = {"in": 0, "dropped": 0, "out": 0}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("ready", flush=True)
    while not stop:
        now = time.monotonic()
        while held and held[0][0] <= now:
            try:
                os.write(fd_out, held.popleft()[1])
                counts["out"] += 1
            except OSError:
                counts["dropped"] += 1
        timeout = max(0.0, held[0][0] - now) if held else 0.5
        try:
            ready, _, _ = select.select([fd_in], [], [], timeout)
        except InterruptedError:
            continue
        if not ready:
            continue
        for _ in range(256):
            try:
                pkt = os.read(fd_in, 65536)
            except BlockingIOError:
                break
            counts["in"] += 1
            if rng.random() < loss:
                counts["dropped"] += 1
                continue
            held.append((time.monotonic() + delay, pkt))
    print("in %(in)d dropped %(dropped)d out %(out)d" % counts, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
