#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that the public API, the symbol file and the documentation agree.

Usage: check-api.py [--srcdir DIR] [--man MAN3DIR]

DIR is the project's source tree (default: two levels above this script).
It fails, naming the symbol and the file, when:

- a function declared with IPOP_EXPORT in include/ipop/*.h has no doc
  comment (/** ... */) right before its declaration;
- the IPOP_EXPORT functions and the global symbols of lib/libipop.sym
  differ, either way;
- a public function has no entry in doc/api.md (the function index: one
  list item "- name(): summary" per function), or is not mentioned in
  doc/embedding.md;
- doc/api.md lists a function that is not public, or a page (api.md,
  embedding.md, getting-started.md) names an ipop_* or IPOP_* identifier that
  no public header declares;
- with --man (the section 3 pages built from the headers, doc/meson.build):
  a public function has no page NAME.3 there, its page sources (.so) a
  page that is missing, or the page it leads to does not describe it.

Standard library only: it runs wherever the tests run, without doxygen.
"""
import argparse
import glob
import os
import re
import sys

# Comments, preprocessor lines (with continuations) and the export macro, in
# one pass, so that IPOP_EXPORT inside a comment or a #define is not taken
# for a declaration.
TOKEN = re.compile(
    r"(?P<comment>/\*.*?\*/|//[^\n]*)"
    r"|(?P<pp>^[ \t]*#(?:[^\n\\]|\\.)*(?:\\\n(?:[^\n\\]|\\.)*)*)"
    r"|(?P<export>\bIPOP_EXPORT\b)",
    re.S | re.M,
)
IDENT = re.compile(r"\b(?:ipop_[a-z0-9][a-z0-9_]*|IPOP_[A-Z0-9][A-Z0-9_]*)\b")
# An index entry of doc/api.md: "- `ipop_x()`: summary" (backticks optional).
INDEX_ENTRY = re.compile(r"^\s*[-*]\s+`?(ipop_[a-z0-9_]+)\(\)`?\s*(?::|—|-{1,2})\s*(?P<summary>.*)$")

DOC_PAGES = ["doc/api.md", "doc/embedding.md", "doc/getting-started.md"]
# Names the pages may use that are not C: the meson variables a parent
# project gets from libipop as a subproject (lib/meson.build).
NOT_C = {"ipop_dep", "ipop_glib_dep"}


class Checker:
    def __init__(self, srcdir):
        self.srcdir = srcdir
        self.errors = []

    def error(self, where, symbol, text):
        self.errors.append(f"{where}: {symbol}: {text}")

    def read(self, rel):
        with open(os.path.join(self.srcdir, rel), encoding="utf-8") as f:
            return f.read()

    # ---- headers ----

    def scan_headers(self):
        """Returns ({function: "file:line"}, {identifiers the headers declare})."""
        functions, names = {}, set()
        headers = sorted(glob.glob(os.path.join(self.srcdir, "include", "ipop", "*.h")))
        if not headers:
            self.error("include/ipop", "*.h", "no public header found")
        for path in headers:
            rel = os.path.relpath(path, self.srcdir)
            text = self.read(rel)
            code = []  # the text outside comments, for the names it declares
            pos = 0
            for m in TOKEN.finditer(text):
                if m.group("comment"):
                    code.append(text[pos:m.start()])
                    pos = m.end()
                    continue
                if m.group("pp"):
                    continue
                self.export(rel, text, m.start(), functions)
            code.append(text[pos:])
            names.update(IDENT.findall("".join(code)))
        # The version header is generated from a template; its names are public.
        tmpl = os.path.join("include", "ipop", "ipop-version.h.in")
        if os.path.exists(os.path.join(self.srcdir, tmpl)):
            names.update(IDENT.findall(self.read(tmpl)))
        return functions, names

    def export(self, rel, text, start, functions):
        line = text.count("\n", 0, start) + 1
        end = text.find(";", start)
        decl = text[start:end if end >= 0 else len(text)]
        m = re.search(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(", decl)
        if not m or "{" in decl:
            self.error(f"{rel}:{line}", "IPOP_EXPORT", "not followed by a function declaration")
            return
        name = m.group(1)
        if name in functions:
            self.error(f"{rel}:{line}", name, f"declared again (first at {functions[name]})")
            return
        functions[name] = f"{rel}:{line}"
        before = text[:start].rstrip()
        if not before.endswith("*/"):
            self.error(f"{rel}:{line}", name, "no doc comment (/** ... */) right before its declaration")
            return
        opening = before.rfind("/*")
        comment = before[opening:]
        if not comment.startswith("/**") or comment.startswith("/***"):
            self.error(f"{rel}:{line}", name, "the comment before it is not a doc comment: write /** ... */")
        elif not comment[3:-2].strip(" \t\n*"):
            self.error(f"{rel}:{line}", name, "its doc comment is empty")

    # ---- the symbol file ----

    def scan_symbols(self, rel="lib/libipop.sym"):
        """Returns {symbol: "file:line"} of the global symbols of every version node."""
        symbols = {}
        text = self.read(rel)
        text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)
        text = re.sub(r"#[^\n]*", "", text)
        scope = None
        for lineno, line in enumerate(text.split("\n"), 1):
            for tok in re.findall(r"[A-Za-z_][A-Za-z0-9_.]*:|[^\s;{}]+|[{};]", line):
                if tok in ("global:", "local:"):
                    scope = tok[:-1]
                elif tok == "}":
                    scope = None
                elif scope == "global" and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tok):
                    if tok in symbols:
                        self.error(f"{rel}:{lineno}", tok, f"listed twice (first at {symbols[tok]})")
                    symbols.setdefault(tok, f"{rel}:{lineno}")
        if not symbols:
            self.error(rel, "global:", "no global symbol found")
        return symbols

    def compare(self, functions, symbols, sym_rel="lib/libipop.sym"):
        for name in sorted(set(functions) - set(symbols)):
            self.error(sym_rel, name, f"declared with IPOP_EXPORT at {functions[name]} but not a global "
                       "symbol here: add it to the newest version node")
        for name in sorted(set(symbols) - set(functions)):
            self.error(symbols[name], name, "a global symbol, but no public header declares it with IPOP_EXPORT")

    # ---- the pages ----

    def check_index(self, functions, rel="doc/api.md"):
        listed = {}
        for lineno, line in enumerate(self.read(rel).split("\n"), 1):
            m = INDEX_ENTRY.match(line)
            if not m:
                continue
            name = m.group(1)
            if name not in functions:
                self.error(f"{rel}:{lineno}", name, "listed, but there is no such public function")
            elif name in listed:
                self.error(f"{rel}:{lineno}", name, f"listed twice (first at line {listed[name]})")
            elif not m.group("summary").strip():
                self.error(f"{rel}:{lineno}", name, "listed without a one-line summary")
            listed.setdefault(name, lineno)
        for name in sorted(set(functions) - set(listed)):
            self.error(rel, name, f"public function ({functions[name]}) with no entry \"- {name}(): summary\"")

    def check_mentioned(self, functions, rel="doc/embedding.md"):
        text = self.read(rel)
        for name in sorted(functions):
            if not re.search(r"\b" + re.escape(name) + r"\b", text):
                self.error(rel, name, f"public function ({functions[name]}) not mentioned")

    def check_names(self, names, functions, rel):
        known = names | set(functions) | NOT_C
        seen = set()
        for lineno, line in enumerate(self.read(rel).split("\n"), 1):
            for name in IDENT.findall(line):
                if name not in known and name not in seen:
                    seen.add(name)
                    self.error(f"{rel}:{lineno}", name, "no public header declares this name")

    def check_man(self, functions, mandir):
        for name in sorted(functions):
            page = os.path.join(mandir, name + ".3")
            if not os.path.exists(page):
                self.error(mandir, name, "no man page " + name + ".3")
                continue
            with open(page, encoding="utf-8") as f:
                text = f.read()
            if text.startswith(".so "):
                target = os.path.join(mandir, os.path.basename(text.split()[1]))
                if not os.path.exists(target):
                    self.error(page, name, "sources a page that is missing: " + target)
                    continue
                with open(target, encoding="utf-8") as f:
                    text = f.read()
            # groff escapes "_" nowhere but may split a name with \f font changes.
            if name not in re.sub(r"\\f[BIRP]", "", text):
                self.error(page, name, "the page does not describe it")

    def run(self):
        functions, names = self.scan_headers()
        symbols = self.scan_symbols()
        if not functions:
            self.error("include/ipop", "IPOP_EXPORT", "no exported function found: is the parser broken?")
        self.compare(functions, symbols)
        present = [rel for rel in DOC_PAGES if os.path.exists(os.path.join(self.srcdir, rel))]
        for rel in sorted(set(DOC_PAGES) - set(present)):
            self.error(rel, "-", "page missing")
        if "doc/api.md" in present:
            self.check_index(functions)
        if "doc/embedding.md" in present:
            self.check_mentioned(functions)
        for rel in present:
            self.check_names(names, functions, rel)
        return functions, symbols


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--srcdir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    ap.add_argument("--man", help="directory of the built section 3 man pages")
    args = ap.parse_args(argv[1:])
    checker = Checker(os.path.normpath(args.srcdir))
    try:
        functions, symbols = checker.run()
        if args.man:
            checker.check_man(functions, args.man)
    except OSError as e:
        print(f"check-api: {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    if checker.errors:
        for e in checker.errors:
            print(e)
        print(f"check-api: {len(checker.errors)} problem(s)")
        return 1
    print(f"check-api: {len(functions)} public functions: documented in the headers, "
          f"exported by lib/libipop.sym ({len(symbols)} symbols), listed in doc/api.md, "
          "described in doc/embedding.md" + (f", with man pages in {args.man}" if args.man else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
