# SPDX-License-Identifier: MIT
"""A strict reader of the Prometheus text exposition format, version 0.0.4
(https://prometheus.io/docs/instrumenting/exposition_formats/), for the
tests of ipopd's /metrics: anything a scraper could read differently, or
refuse, is an error here.  Plus ipopd's own rules: every family named
ipop_*, with HELP and TYPE before its samples."""
import math
import re

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class FormatError(Exception):
    pass


def _label_value(line, i):
    """Reads a quoted label value from line[i] (the opening quote); returns
    (value, index after the closing quote)."""
    if line[i:i + 1] != '"':
        raise FormatError("label value not quoted: %r" % line)
    out = []
    i += 1
    while True:
        if i >= len(line):
            raise FormatError("label value not closed: %r" % line)
        c = line[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            nxt = line[i + 1:i + 2]
            if nxt not in ("\\", '"', "n"):
                raise FormatError("bad escape \\%s in %r" % (nxt, line))
            out.append("\n" if nxt == "n" else nxt)
            i += 2
            continue
        out.append(c)
        i += 1


def _labels(line, i):
    """Reads {a="b",...} from line[i] ('{'); returns (dict, index after '}')."""
    labels = {}
    i += 1
    if line[i:i + 1] == "}":
        return labels, i + 1
    while True:
        eq = line.find("=", i)
        if eq < 0:
            raise FormatError("label without '=': %r" % line)
        name = line[i:eq]
        if not LABEL.match(name) or name.startswith("__"):
            raise FormatError("bad label name %r in %r" % (name, line))
        if name in labels:
            raise FormatError("label %s twice in %r" % (name, line))
        labels[name], i = _label_value(line, eq + 1)
        if line[i:i + 1] == "}":
            return labels, i + 1
        if line[i:i + 1] != ",":
            raise FormatError("expected ',' or '}' at %d in %r" % (i, line))
        i += 1


def _value(text, line):
    if text in ("NaN", "+Inf", "-Inf"):
        return float(text.replace("+", ""))
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise FormatError("bad value %r in %r" % (text, line))
    return float(text)


def parse(text):
    """Returns {family: {"type", "help", "samples": [(name, labels, value)]}}.
    Raises FormatError on anything not strictly right."""
    if not text.endswith("\n"):
        raise FormatError("the last line does not end with a newline")
    families = {}
    current = None
    closed = set()
    series = set()
    for line in text[:-1].split("\n"):
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.match(name):
                    raise FormatError("bad metric name in %r" % line)
                fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
                if name in closed or (current != name and fam["samples"]):
                    raise FormatError("%s: %s after its samples or after another family" % (name, parts[1]))
                if current != name and current is not None:
                    closed.add(current)
                current = name
                key = parts[1].lower()
                if fam[key] is not None:
                    raise FormatError("%s: second %s line" % (name, parts[1]))
                rest = parts[3] if len(parts) == 4 else ""
                if key == "type":
                    if rest not in TYPES:
                        raise FormatError("%s: unknown type %r" % (name, rest))
                    if fam["samples"]:
                        raise FormatError("%s: TYPE after samples" % name)
                elif re.search(r"\\[^\\n]", rest):
                    raise FormatError("%s: bad escape in HELP" % name)
                fam[key] = rest
            continue
        m = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)
        if not m:
            raise FormatError("bad sample line %r" % line)
        name, i = m.group(0), m.end()
        labels = {}
        if line[i:i + 1] == "{":
            labels, i = _labels(line, i)
        if line[i:i + 1] != " ":
            raise FormatError("no space before the value in %r" % line)
        fields = line[i + 1:].split(" ")
        if len(fields) not in (1, 2) or (len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1])):
            raise FormatError("bad value or timestamp in %r" % line)
        value = _value(fields[0], line)
        if name != current:
            if current is not None:
                closed.add(current)
            if name in closed:
                raise FormatError("%s: its samples are not together" % name)
            current = name
        fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            raise FormatError("series twice: %r" % line)
        series.add(key)
        if fam["type"] == "counter" and (value < 0 or math.isnan(value)):
            raise FormatError("counter below zero: %r" % line)
        fam["samples"].append((name, labels, value))
    return families


def check_ipopd(families):
    """ipopd's own rules on top of the format."""
    for name, fam in families.items():
        if not name.startswith("ipop_"):
            raise FormatError("%s: not an ipop_ metric" % name)
        if fam["type"] is None or not fam["help"]:
            raise FormatError("%s: no TYPE or no HELP" % name)
        if fam["type"] == "counter" and not name.endswith("_total"):
            raise FormatError("%s: a counter not named *_total" % name)
        for _, labels, _ in fam["samples"]:
            if name != "ipop_build_info" and "network" not in labels:
                raise FormatError("%s: a sample without network=: %r" % (name, labels))


def value(families, name, **labels):
    """The value of the one sample of family name whose labels include
    labels; None when there is none."""
    found = [v for _, l, v in families.get(name, {"samples": []})["samples"]
             if all(l.get(k) == w for k, w in labels.items())]
    if len(found) > 1:
        raise FormatError("%s %r: %d samples" % (name, labels, len(found)))
    return found[0] if found else None


def self_test():
    """The reader refuses what it must: checked before it judges ipopd."""
    good = '# HELP a_total x\n# TYPE a_total counter\na_total{n="q\\"\\\\\\n"} 1\n'
    fam = parse(good)
    assert fam["a_total"]["samples"][0][1]["n"] == 'q"\\\n', fam
    bad = [
        "a 1",                                   # no final newline
        'a{n="x} 1\n',                           # unclosed value
        'a{n="\\t"} 1\n',                        # bad escape
        'a{n="1",n="2"} 1\n',                    # label twice
        "a 1\na 2\n",                            # series twice
        "a 1\nb 1\na{x=\"1\"} 1\n",              # family split
        "# TYPE a counter\na -1\n",              # negative counter
        "a one\n",                               # bad value
        "a 1\n# TYPE a gauge\n",                 # TYPE after samples
        "# TYPE a gauges\n",                     # unknown type
        'a{__x="1"} 1\n',                        # reserved label
    ]
    for b in bad:
        try:
            parse(b)
        except FormatError:
            continue
        raise AssertionError("the reader accepted %r" % b)
