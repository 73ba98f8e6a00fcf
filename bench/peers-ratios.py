#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Ratios of ipopd to the best peer VPN of the same peers.sh run.

Reads result files written by /work/shared/bench/peers.sh --out FILE (one
or more runs each) and prints, per run and as the median over the runs, for
each column: ipopd's value, the best other system's value (the veth
baseline excluded) and the ratio.  Throughput ratios above 1 are better;
setup, RTT and CPU per Gbit/s ratios below 1 are better.  A loss-free UDP
rate that peers.sh reports as "< N" (every rate tried lost more than 1 %)
counts as N, an upper bound, and its ratio is printed with "<".

Usage: bench/peers-ratios.py RESULT.md...
"""
import re
import statistics
import sys

# column: (table key, higher is better)
COLUMNS = [
    ("setup s", False),
    ("TCP 1-stream Mbit/s", True),
    ("TCP 4-stream Mbit/s", True),
    ("RTT avg ms", False),
    ("UDP <=1% loss Mbit/s", True),
    ("CPU % per Gbit/s (1-stream)", False),
]


def number(text):
    m = re.match(r"\s*([0-9]+(?:\.[0-9]+)?)", text or "")
    return float(m.group(1)) if m else None


class Bound(float):
    """An upper bound ("< N" in peers.sh's table)."""


def udp_rate(text):
    m = re.match(r"\s*<\s*([0-9]+(?:\.[0-9]+)?)", text or "")
    return Bound(m.group(1)) if m else number(text)


def parse(path):
    """Yields (title, {system: {column: value}}) per run in the file."""
    run, title, header = None, None, None
    for line in open(path, encoding="utf-8"):
        if line.startswith("## Run "):
            if run:
                yield title, run
            title, run, header = line[3:].strip(), {}, None
            continue
        if run is None or not line.startswith("|"):
            header = None if not line.startswith("|") else header
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "system":
            header = cells
            continue
        if header is None or set(cells[0]) <= set("-"):
            continue
        row = dict(zip(header, cells))
        name = row["system"]
        if name.startswith("none"):
            continue
        vals = run.setdefault(name, {})
        if "setup s" in row:
            vals["setup s"] = number(row["setup s"])
            vals["TCP 1-stream Mbit/s"] = number(row["TCP 1-stream Mbit/s"])
            vals["TCP 4-stream Mbit/s"] = number(row["TCP 4-stream Mbit/s"])
            vals["RTT avg ms"] = number(row["RTT avg ms"])
        for key, cell in row.items():
            if key.startswith("UDP max tested rate"):
                vals["UDP <=1% loss Mbit/s"] = udp_rate(cell)
            if key.startswith("daemon CPU %"):
                cpu = re.match(r"\s*([0-9]+)/([0-9]+)", cell)
                if cpu:
                    vals["cpu"] = float(cpu.group(1)) + float(cpu.group(2))
    if run:
        yield title, run


def ratios(run):
    """{column: (ipopd, best, best system, ratio)} for one run."""
    ours = next((v for k, v in run.items() if k.startswith("ipopd")), None)
    if not ours:
        return {}
    for vals in run.values():
        tcp = vals.get("TCP 1-stream Mbit/s")
        if vals.get("cpu") is not None and tcp:
            vals["CPU % per Gbit/s (1-stream)"] = vals["cpu"] / (tcp / 1000.0)
    out = {}
    for col, higher in COLUMNS:
        mine = ours.get(col)
        others = [(v[col], k) for k, v in run.items() if not k.startswith("ipopd") and v.get(col)]
        if mine is None or not others:
            continue
        best, who = (max if higher else min)(others)
        ratio = mine / best if best else float("inf")
        out[col] = (mine, best, who, Bound(ratio) if isinstance(mine, Bound) else ratio)
    return out


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    per_col = {}
    for path in sys.argv[1:]:
        for title, run in parse(path):
            r = ratios(run)
            if not r:
                print(f"{title}: no ipopd row with numbers (did it come up?)")
                continue
            print(f"{title}:")
            for col, (mine, best, who, ratio) in r.items():
                lt = "<" if isinstance(ratio, Bound) else " "
                print(f"  {col:26} ipopd{lt}{mine:8.2f}  best other {best:8.2f} ({who.split(' (')[0]})  ratio{lt}{ratio:5.2f}")
                per_col.setdefault(col, []).append(ratio)
    if per_col:
        print("median over the runs:")
        for col, _ in COLUMNS:
            if col in per_col:
                vals = per_col[col]
                runs = " ".join(("<" if isinstance(v, Bound) else "") + f"{v:.2f}" for v in vals)
                print(f"  {col:26} {statistics.median(vals):5.2f}  (runs: {runs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
