#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that the calls between lib/ files keep to the layers.

Reads, with nm, which object file of the ipop-internal static library
refers to a symbol (a function) that another of its object files defines,
which gives a graph of lib/ files, and finds its cycles (strongly connected
components).  It fails when:
  - the file that defines ipop_network_new (the top: the public object) is
    in a cycle;
  - a cycle has a file outside the data path (tx, rx, relay, udp), or more
    than three files.
doc/architecture.md ("Layers") says why: calls go downward, and an upcall
is a function pointer fixed when the lower object is made
(ipop__link_ops, ipop__loop_ops), never a call to a file above.

  check-layers.py [--nm NM] [--graph] LIBRARY.a | OBJECT.o...
"""
import argparse
import os
import subprocess
import sys

TOP = 'ipop_network_new'
DATA_PATH = {'tx', 'rx', 'relay', 'udp'}
MAX_CYCLE = 3


def module(name):
    """addr.c.o (meson's object name) -> addr"""
    base = os.path.basename(name)
    for suffix in ('.o', '.obj'):
        if base.endswith(suffix):
            base = base[:-len(suffix)]
    return base[:-2] if base.endswith('.c') else base


def read_symbols(nm, paths):
    """{module: defined global symbols}, {module: undefined symbols}"""
    defs, uses = {}, {}
    for path in paths:
        out = subprocess.run([nm, path], check=True, capture_output=True, text=True).stdout
        current = module(path)
        for line in out.splitlines():
            if line.endswith(':'):            # an archive's member: "addr.c.o:"
                current = module(line[:-1])
                continue
            parts = line.split()
            if not parts or current is None:
                continue
            defs.setdefault(current, set())
            uses.setdefault(current, set())
            if len(parts) == 2 and parts[0] == 'U':
                uses[current].add(parts[1])
            elif len(parts) == 3 and parts[1] in 'TDBRVWG':  # global text and data
                defs[current].add(parts[2])
    return defs, uses


def call_graph(defs, uses):
    """{module: {callee module: [symbols]}}"""
    where = {}
    for mod, syms in defs.items():
        for s in syms:
            where[s] = mod
    graph = {mod: {} for mod in defs}
    for mod, syms in uses.items():
        for s in sorted(syms):
            callee = where.get(s)
            if callee and callee != mod:
                graph[mod].setdefault(callee, []).append(s)
    return graph, where


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(1000, 10 * len(graph)))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def short_cycles(graph, comp, most=5):
    """Up to `most` of the shortest cycles in a component, each a list of
    modules (first == last): the calls to look at first."""
    inside = set(comp)
    found = {}
    for start in comp:
        prev, queue = {start: None}, [start]
        for v in queue:                   # breadth first, back to start
            if start in graph[v]:
                path, x = [], v
                while x is not None:
                    path.append(x)
                    x = prev[x]
                cyc = path[::-1] + [start]        # start -> ... -> v -> start
                key = frozenset(zip(cyc, cyc[1:]))
                found.setdefault(key, cyc)
                break
            for w in graph[v]:
                if w in inside and w not in prev:
                    prev[w] = v
                    queue.append(w)
    return sorted(found.values(), key=lambda c: (len(c), c))[:most]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--nm', default=os.environ.get('NM', 'nm'))
    ap.add_argument('--graph', action='store_true', help='print every file and the files it calls')
    ap.add_argument('objects', nargs='+', help='the ipop-internal static library, or its object files')
    args = ap.parse_args()

    defs, uses = read_symbols(args.nm, args.objects)
    graph, where = call_graph(defs, uses)
    if len(graph) < 10 or TOP not in where:
        print(f'check-layers: expected the lib/ objects with {TOP}, read {len(graph)} files', file=sys.stderr)
        return 2
    if args.graph:
        for mod in sorted(graph):
            print(f'{mod}.c -> ' + ', '.join(f'{c}.c' for c in sorted(graph[mod])))

    errors = []
    top = where[TOP]
    for comp in cycles(graph):
        why = []
        if top in comp:
            why.append(f'{top}.c defines {TOP} (the top) and must be in no cycle')
        outside = [m for m in comp if m not in DATA_PATH]
        if outside:
            why.append('outside the data path (' + ', '.join(sorted(DATA_PATH)) + '): ' +
                       ', '.join(f'{m}.c' for m in outside))
        if len(comp) > MAX_CYCLE:
            why.append(f'{len(comp)} files, more than {MAX_CYCLE}')
        if not why:
            print('check-layers: allowed cycle in the data path: ' + ', '.join(f'{m}.c' for m in comp))
            continue
        lines = ['a call cycle among ' + ', '.join(f'{m}.c' for m in comp) + ': ' + '; '.join(why),
                 '  its shortest cycles:']
        for cyc in short_cycles(graph, comp):
            lines.append('    ' + ' -> '.join(f'{m}.c' for m in cyc))
            for caller, callee in zip(cyc, cyc[1:]):
                lines.append(f'        {caller}.c -> {callee}.c: ' + ', '.join(graph[caller][callee]))
        errors.append('\n'.join(lines))

    for e in errors:
        print('check-layers: ' + e, file=sys.stderr)
    if errors:
        print('check-layers: calls go downward; an upcall is a function pointer fixed at creation '
              '(doc/architecture.md, "Layers")', file=sys.stderr)
        return 1
    edges = sum(len(c) for c in graph.values())
    print(f'check-layers: {len(graph)} files, {edges} calls between files, no forbidden cycle')
    return 0


if __name__ == '__main__':
    sys.exit(main())
