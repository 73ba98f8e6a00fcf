#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs doc/xmpp-walkthrough.md: every command of it, in order, each on its
"machine" (a network namespace), and checks what the doc says one sees.

The doc's convention (written for this script):
  <!-- walk: section=NAME -->          the blocks after it belong to NAME
  <!-- walk: machine=M[,M2..] ATTRS --> applies to the next fenced block:
    a ```sh block is run with bash -e on each machine named;
    file=PATH     the block is the content of PATH (written, not run);
    capture=WORD  the stripped output is remembered: WORD in later blocks
                  is replaced by it (a value the person copies by hand);
    retry=S       rerun until it succeeds (and matches) within S seconds;
    expect=RE     its output must match RE (Python re, multiline; repeatable);
  A ```text block right after a run block is what it shows: each of its
  lines must be a line of the output, node ids and numbers aside.
    vary="m2: a=b c=d; m3: ..."  the block also applies to m2 with those
                  replacements (the doc says "on beta the same with ...").
  Every ```sh block must carry a walk comment: none is left unrun.

What the script substitutes, and nothing else: each machine has its own
root ROOT, and /etc/, /var/, /run/ in the doc's commands and files become
ROOT/etc/ and so on; `systemctl enable --now|restart|start X` starts X as
its unit would, in the background of the namespace (no systemd there);
prosodyctl and ejabberdctl get ROOT's config; prosody's main config is
Debian's own /etc/prosody/prosody.cfg.lua with its paths moved to ROOT.

Order: the prosody, group and social sections in full; then prosody stops
(the members' ipopd run on), the ejabberd section runs on a fresh xmpp
machine, and alpha and beta,
with their configs rewritten by the doc's block for the new fingerprint, log
in to it and link (ipopctl status: xmpp up, beta connected; a ping).

Usage: walkthrough.py SRCDIR BUILDDIR  (root; exits 77 otherwise)
"""
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SERVER = "203.0.113.10"
MACHINES = ["xmpp", "alpha", "beta", "gamma", "alice", "bob"]
T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:5.1f}s] {msg}", flush=True)


def skip(why):
    print("SKIP:", why)
    sys.exit(77)


def parse(path):
    """The steps of the doc: (section, attrs, lang, text, line)."""
    steps, section, pending, end = [], None, None, -10
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"<!-- walk: (.*) -->$", line.strip())
        if m:
            attrs = {}
            for word in shlex.split(m.group(1)):
                k, _, v = word.partition("=")
                attrs.setdefault(k, []).append(v)
            if "section" in attrs:
                section = attrs["section"][0]
            else:
                pending = (attrs, i + 1)
        elif line.startswith("```") and len(line) > 3:
            lang = line[3:].strip()
            start = i
            body = []
            i += 1
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            text = "\n".join(body) + "\n"
            if pending:
                steps.append((section, pending[0], lang, text, pending[1]))
                end = i
            elif lang == "text" and steps and steps[-1][2] == "sh" and start - end <= 2:
                # what the command just before shows: every line of it is
                # in the output, ids and numbers aside
                steps[-1][1].setdefault("expect", []).extend(shown(b) for b in body if b.strip())
            elif lang == "sh":
                sys.exit(f"{path}:{i}: a sh block without a walk comment")
            pending = None
        i += 1
    return steps


def shown(line):
    """A regex for a line of sample output: node ids (letters with
    digits) and numbers stand for any."""
    words = []
    for w in line.split():
        if re.fullmatch(r"[a-z2-7]{8,}", w) and re.search(r"[0-9]", w):
            words.append(r"[a-z2-7]+")
        else:
            words.append("[0-9]+".join(re.escape(x) for x in re.split(r"[0-9]+", w)))
    return r"^\s*" + r"\s+".join(words) + r"\s*$"


def variants(attrs, text):
    """(machine, text) for each machine the step applies to."""
    out = [(m, text) for m in attrs.get("machine", [""])[0].split(",")]
    for vary in attrs.get("vary", []):
        for part in vary.split(";"):
            m, _, subs = part.partition(":")
            t = text
            for sub in subs.split():
                a, _, b = sub.partition("=")
                if a not in t:
                    sys.exit(f"vary: {a!r} is not in the block for {m.strip()}")
                t = t.replace(a, b)
            out.append((m.strip(), t))
    return out


class Walk:
    def __init__(self, src, build):
        self.src, self.build = src, build
        self.work = tempfile.mkdtemp(prefix="ipop-walk.")
        os.chmod(self.work, 0o711)
        self.ns = {}
        self.captured = {}
        self.words = set()  # every capture= of the doc
        self.tag = str(os.getpid())

    def sh(self, *args, check=True):
        return subprocess.run(args, check=check, capture_output=True, text=True)

    def root(self, m):
        return os.path.join(self.work, m)

    def topology(self):
        r = f"wr-{self.tag}"
        self.sh("ip", "netns", "add", r)
        self.ns["router"] = r
        self.sh("ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for n, m in enumerate(MACHINES):
            ns = f"w{m}-{self.tag}"
            self.sh("ip", "netns", "add", ns)
            self.ns[m] = ns
            self.sh("ip", "-n", ns, "link", "set", "lo", "up")
            self.sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"r{n}", "netns", r)
            gw, me = (("203.0.113.1", SERVER) if m == "xmpp" else (f"10.0.{n}.1", f"10.0.{n}.2"))
            self.sh("ip", "-n", r, "addr", "add", gw + "/24", "dev", f"r{n}")
            self.sh("ip", "-n", r, "link", "set", f"r{n}", "up")
            self.sh("ip", "-n", ns, "addr", "add", me + "/24", "dev", "eth0")
            self.sh("ip", "-n", ns, "link", "set", "eth0", "up")
            self.sh("ip", "-n", ns, "route", "add", "default", "via", gw)

    def make_root(self, m):
        """What the packages would have installed on machine m."""
        root = self.root(m)
        if os.path.exists(root):
            shutil.rmtree(root)
        for d in ["etc", "var/lib", "var/log", "run"]:
            os.makedirs(os.path.join(root, d), mode=0o755)
        os.chmod(root, 0o755)
        if m == "xmpp":
            for d in ["etc/prosody/certs", "etc/prosody/conf.d", "etc/ejabberd"]:
                os.makedirs(os.path.join(root, d), mode=0o755)
            for d, user in [("var/lib/prosody", "prosody"), ("var/log/prosody", "prosody"),
                            ("run/prosody", "prosody"), ("var/lib/ejabberd", "ejabberd"),
                            ("var/log/ejabberd", "ejabberd")]:
                os.makedirs(os.path.join(root, d), mode=0o750)
                shutil.chown(os.path.join(root, d), user, user)
            cfg = open("/etc/prosody/prosody.cfg.lua").read()
            for p in ["/run/prosody", "/var/log/prosody"]:
                cfg = cfg.replace(p, root + p)
            cfg = f'data_path = "{root}/var/lib/prosody"\n' + cfg
            with open(f"{root}/etc/prosody/prosody.cfg.lua", "w") as f:
                f.write(cfg)
            with open(f"{root}/etc/ejabberd/ejabberdctl.cfg", "w") as f:
                f.write(f"ERLANG_NODE=ejabberd{self.tag}@localhost\n"
                        f"ERL_OPTIONS=\"-setcookie walk{self.tag}\"\n"
                        f"EJABBERD_CONFIG_PATH={root}/etc/ejabberd/ejabberd.yml\n"
                        "INET_DIST_INTERFACE=127.0.0.1\n")
            open(f"{root}/etc/ejabberd/inetrc", "w").close()

    def prelude(self, m):
        root = self.root(m)
        bindir = os.path.join(self.build, "daemon")
        ejctl = (f"/usr/sbin/ejabberdctl --config-dir {root}/etc/ejabberd --config {root}/etc/ejabberd/ejabberd.yml "
                 f"--ctl-config {root}/etc/ejabberd/ejabberdctl.cfg --logs {root}/var/log/ejabberd "
                 f"--spool {root}/var/lib/ejabberd")
        return f"""
export PATH={bindir}:$PATH IPOPD_CONTROL={root}/run/ipopd/ipopd.sock
ROOT={root}
prosodyctl() {{ runuser -u prosody -- /usr/bin/prosodyctl --config $ROOT/etc/prosody/prosody.cfg.lua "$@"; }}
ejabberdctl() {{ runuser -u ejabberd -- {ejctl} "$@"; }}
port_open() {{ (exec 3<>/dev/tcp/{SERVER}/5222) 2>/dev/null; }}
wait_until() {{ local i; for ((i = 0; i < $1 * 10; i++)); do "${{@:2}}" && return 0; sleep 0.1; done; echo "timed out: ${{*:2}}" >&2; return 1; }}
stop_unit() {{
    [ -f $ROOT/run/$1.unit-pid ] || return 0
    local pid; pid=$(cat $ROOT/run/$1.unit-pid); rm -f $ROOT/run/$1.unit-pid
    kill "$pid" 2>/dev/null; wait_until 15 eval "! kill -0 $pid 2>/dev/null"
}}
systemctl() {{
    local verb=$1 unit=${{@: -1}}
    case $verb in enable|start|restart) ;; *) echo "walk: systemctl $*: not handled" >&2; return 1 ;; esac
    stop_unit $unit
    case $unit in
    prosody)
        setsid runuser -u prosody -- prosody -F --config $ROOT/etc/prosody/prosody.cfg.lua \\
            >$ROOT/var/log/prosody.out 2>&1 </dev/null & echo $! >$ROOT/run/prosody.unit-pid
        wait_until 15 port_open ;;
    ejabberd)
        chown -R ejabberd: $ROOT/etc/ejabberd
        setsid runuser -u ejabberd -- {ejctl} foreground >$ROOT/var/log/ejabberd.out 2>&1 </dev/null &
        echo $! >$ROOT/run/ejabberd.unit-pid
        wait_until 40 port_open && wait_until 20 ejabberdctl status >/dev/null ;;
    ipopd)
        mkdir -p $ROOT/run/ipopd $ROOT/var/lib/ipop
        ipopd --check --config $ROOT/etc/ipop/ipopd.conf >/dev/null
        setsid ipopd --config $ROOT/etc/ipop/ipopd.conf --state-dir $ROOT/var/lib/ipop \\
            >>$ROOT/var/log/ipopd.log 2>&1 </dev/null & echo $! >$ROOT/run/ipopd.unit-pid
        wait_until 15 eval "ipopctl status --json >/dev/null 2>&1" ;;
    *) echo "walk: unit $unit unknown" >&2; return 1 ;;
    esac
}}
"""

    def moved(self, m, text):
        root = self.root(m)
        text = re.sub(r"(?<![\w./])/(etc|var|run)/", lambda x: f"{root}/{x.group(1)}/", text)
        for word, value in self.captured.items():
            text = text.replace(word, value)
        for word in self.words:
            if word in text:
                self.fail(f"{word} is used before a step captured it")
        return text

    def run(self, m, script, attrs, line):
        retry = float(attrs.get("retry", ["0"])[0]) * float(os.environ.get("IPOP_TEST_TIME_FACTOR", "1"))
        deadline = time.monotonic() + retry
        while True:
            p = subprocess.run(["ip", "netns", "exec", self.ns[m], "bash", "-e", "-c", self.prelude(m) + script],
                               capture_output=True, text=True, timeout=120)
            ok = p.returncode == 0 and all(re.search(e, p.stdout, re.M) for e in attrs.get("expect", []))
            if ok or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        for out in (p.stdout, p.stderr):
            if out.strip():
                print(re.sub(r"(?m)^", f"  {m}| ", out.rstrip()))
        if not ok:
            missing = [e for e in attrs.get("expect", []) if not re.search(e, p.stdout, re.M)]
            self.fail(f"line {line} on {m}: exit {p.returncode}; no line of the output matches {missing}")
        return p.stdout

    def step(self, attrs, lang, text, line):
        for m, t in variants(attrs, text):
            t = self.moved(m, t)
            if "file" in attrs:
                path = self.moved(m, attrs["file"][0])
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(t)
                os.chmod(path, 0o644)
                log(f"{m}: wrote {attrs['file'][0]}")
            elif lang == "sh":
                log(f"{m}: line {line}: {t.strip().splitlines()[0]}")
                out = self.run(m, t, attrs, line)
                if "capture" in attrs:
                    self.captured[attrs["capture"][0]] = out.strip()
            else:
                self.fail(f"line {line}: a walk comment on a {lang} block without file=")

    def fail(self, msg):
        log("FAIL: " + msg)
        for m in MACHINES:
            for f in ["var/log/ipopd.log", "var/log/prosody/prosody.log", "var/log/ejabberd/ejabberd.log"]:
                p = os.path.join(self.root(m), f)
                if os.path.exists(p):
                    print(f"===== {m}: {f} (tail) =====")
                    print("".join(open(p, errors="replace").readlines()[-40:]))
        raise SystemExit(1)

    def stop_all(self, machines):
        for m in machines:
            for unit in ["ipopd", "prosody", "ejabberd"]:
                if os.path.exists(os.path.join(self.root(m), "run", unit + ".unit-pid")):
                    subprocess.run(["ip", "netns", "exec", self.ns[m], "bash", "-c",
                                    self.prelude(m) + f"stop_unit {unit}"], capture_output=True, timeout=60)

    def cleanup(self):
        for ns in self.ns.values():
            pids = self.sh("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except OSError:
                    pass
            self.sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(self.work, ignore_errors=True)


def main():
    src, build = sys.argv[1], sys.argv[2]
    doc = os.path.join(src, "doc", "xmpp-walkthrough.md")
    steps = parse(doc)  # a malformed doc fails even where the rest skips
    if os.geteuid() != 0:
        skip("needs root")
    for tool in ["ip", "prosody", "prosodyctl", "ejabberdctl", "openssl", "runuser", "ping"]:
        if not shutil.which(tool):
            skip(f"needs {tool}")
    if not os.path.exists("/etc/prosody/prosody.cfg.lua") or not os.path.exists("/dev/net/tun"):
        skip("needs Debian's prosody config and /dev/net/tun")
    # meson's timeout sends SIGTERM: the cleanup below still runs
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    w = Walk(src, build)
    w.words = {a["capture"][0] for _, a, _, _, _ in steps if "capture" in a}
    try:
        w.topology()
        for m in MACHINES:
            w.make_root(m)
        for section, attrs, lang, text, line in steps:
            if section != "ejabberd":
                w.step(attrs, lang, text, line)
        log("prosody walk done; now ejabberd")
        w.stop_all(["xmpp"])  # the members' ipopd run on
        w.make_root("xmpp")
        for section, attrs, lang, text, line in steps:
            if section == "ejabberd":
                w.step(attrs, lang, text, line)
        # alpha and beta meet on ejabberd: their configs from the doc's
        # block, with the new fingerprint, and the doc's start command.
        for section, attrs, lang, text, line in steps:
            if section == "group" and attrs.get("file") == ["/etc/ipop/ipopd.conf"]:
                w.step({"file": attrs["file"], "machine": ["alpha"],
                        "vary": [v for v in attrs["vary"][0].split(";") if v.strip().startswith("beta:")]},
                       lang, text, line)
        for m in ["alpha", "beta"]:
            w.run(m, "systemctl restart ipopd", {}, 0)
        w.run("alpha", "ipopctl status", {"retry": ["40"], "expect": ["xmpp: +up", r"10\.20\.0\.2 +connected"]}, 0)
        w.run("alpha", "ping -c 1 10.20.0.2", {}, 0)
        log("PASS")
    finally:
        w.cleanup()


if __name__ == "__main__":
    main()
