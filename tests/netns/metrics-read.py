#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Scrapes ipopd's /metrics, reads it with the strict parser of
tests/daemon/promtext.py (a format error fails), and prints what
metrics.sh compares for one link:
  up path tx_packets rx_packets tx_bytes rx_bytes rtt_seconds links_connected
usage: metrics-read.py URL NETWORK PEER   (or "-" for URL: read stdin)"""
import os
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemon"))
import promtext  # noqa: E402

url, network, peer = sys.argv[1:4]
if url == "-":
    text = sys.stdin.read()
else:
    with urllib.request.urlopen(url, timeout=10) as r:
        ctype = r.headers["Content-Type"]
        if not ctype.startswith("text/plain; version=0.0.4"):
            sys.exit("metrics-read: Content-Type %r" % ctype)
        text = r.read().decode("utf-8")
try:
    fams = promtext.parse(text)
    promtext.check_ipopd(fams)
except promtext.FormatError as e:
    sys.exit("metrics-read: %s" % e)


def v(name, **labels):
    x = promtext.value(fams, name, network=network, **labels)
    return "-" if x is None else ("%d" % x if x == int(x) else "%g" % x)


info = [l for _, l, _ in fams["ipop_link_info"]["samples"] if l["peer"] == peer and l["network"] == network]
print(v("ipop_link_up", peer=peer), info[0]["path"] if info else "-",
      v("ipop_link_packets_total", peer=peer, direction="tx"), v("ipop_link_packets_total", peer=peer, direction="rx"),
      v("ipop_link_bytes_total", peer=peer, direction="tx"), v("ipop_link_bytes_total", peer=peer, direction="rx"),
      v("ipop_link_rtt_seconds", peer=peer), v("ipop_links", state="connected"))
