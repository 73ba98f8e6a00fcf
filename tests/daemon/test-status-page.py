#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ipopd's metrics and status page (metrics.listen), as a user and a
browser meet them, without root:

  - the config refuses a metrics address off loopback unless
    metrics.allow-remote, and unknown keys of [ipopd];
  - two ipopd (mode none, UDP signalling on loopback) link; the first
    serves /metrics, which parses strictly (promtext.py) and shows the
    link connected, and `ipopctl metrics` says the same;
  - only GET and HEAD, a Host that is an address or localhost, the page's
    own files under a Content-Security-Policy; no descriptor kept per
    connection; forged signalling counted by reason; SIGHUP moves the
    server to a changed metrics.listen; ipopd stops with status 0 (under
    ASan: no leak);
  - Debian's headless chromium loads the page: the peer is in the DOM
    after the script ran;
  - the same page, served with a status.json of 64 members whose names
    are markup, shows them all as text (nothing injected).  Screenshots
    of both stay in OUTDIR.

usage: test-status-page.py IPOPD IPOPCTL OUTDIR
Without chromium: skipped (77), unless root (./run setup installs it)."""
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promtext  # noqa: E402
from daemon import SKIP, Daemon, fail  # noqa: E402

ipopd, ipopctl, outdir = sys.argv[1:4]
base = 21000 + (os.getpid() % 4000) * 4
HTTP_PORT, SIG_A, SIG_B = base, base + 1, base + 2
URL = "http://127.0.0.1:%d" % HTTP_PORT
HOSTILE = '<script>document.title="pwned"</script>'
HOSTILE_IMG = "<img src=x onerror=\"document.title='pwned'\">"


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.geteuid() == 0:
        fail("no chromium: ./run setup installs the Debian package chromium")
    print("SKIP: no chromium (Debian package chromium)")
    sys.exit(SKIP)


def check_config_rules(work):
    """ipopd --check on the [ipopd] section."""
    cases = (
        ("metrics.listen = 0.0.0.0:9464\n", 2, "metrics.allow-remote"),
        ("metrics.listen = 0.0.0.0:9464\nmetrics.allow-remote = true\n", 0, "config OK"),
        ("metrics.listen = [::1]:9464\n", 0, "config OK"),
        ("metrics.listen = localhost:9464\n", 2, "expected IP:PORT"),
        ("mode = tun\n", 2, "holds ipopd's own settings"),
    )
    for section, status, text in cases:
        conf = os.path.join(work, "check.conf")
        with open(conf, "w") as f:
            f.write("[ipopd]\n%s\n[n]\nmode = none\nsignal.listen = 127.0.0.1:%d\n" % (section, SIG_A))
        r = subprocess.run([ipopd, "--check", "--config", conf], capture_output=True, text=True, timeout=20)
        if r.returncode != status or text not in r.stdout + r.stderr:
            fail("--check with %r: exit %d, want %d and %r:\n%s%s" % (section, r.returncode, status, text,
                                                                       r.stdout, r.stderr))


def get(path, method="GET", host=None):
    req = urllib.request.Request(URL + path, method=method)
    if host:
        req.add_header("Host", host)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def scrape():
    status, headers, body = get("/metrics")
    if status != 200 or not headers["Content-Type"].startswith("text/plain; version=0.0.4"):
        fail("/metrics: %d %s" % (status, headers["Content-Type"]))
    try:
        fams = promtext.parse(body.decode("utf-8"))
        promtext.check_ipopd(fams)
    except (promtext.FormatError, UnicodeDecodeError) as e:
        fail("/metrics does not parse: %s\n%s" % (e, body.decode(errors="replace")))
    return fams


def wait_linked(peer, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            fams = scrape()
        except OSError:
            fams = None
        if fams and promtext.value(fams, "ipop_link_up", peer=peer) == 1:
            return fams
        time.sleep(0.2)
    fail("the link to %s is not up in /metrics after %d s" % (peer, timeout))


def check_http():
    for path, ctype in (("/", "text/html"), ("/status.js", "text/javascript"), ("/status.css", "text/css"),
                        ("/status.json", "application/json")):
        status, headers, body = get(path)
        if status != 200 or not headers["Content-Type"].startswith(ctype) or not body:
            fail("%s: %d %s" % (path, status, headers["Content-Type"]))
        if "default-src 'none'" not in headers.get("Content-Security-Policy", ""):
            fail("%s: no Content-Security-Policy" % path)
    if b"http://" in get("/")[2] or b"https://" in get("/status.js")[2]:
        fail("the page refers to something outside ipopd")
    for args, want in (((("/metrics", "POST")), 405), (("/metrics", "GET", "evil.example:%d" % HTTP_PORT), 421),
                       (("/metrics", "GET", "localhost:%d" % HTTP_PORT), 200), (("/nothing",), 404)):
        status = get(*args)[0]
        if status != want:
            fail("%r: %d, want %d" % (args, status, want))
    status, headers, body = get("/metrics", "HEAD")
    if status != 200 or body:
        fail("HEAD /metrics: %d with %d bytes of body" % (status, len(body)))


def check_no_fd_leak(pid):
    """Connections of every kind leave no descriptor behind (libsoup 3.2
    keeps kept-alive connections that the client closes: ipopd answers one
    request per connection)."""
    def fds():
        return len(os.listdir("/proc/%d/fd" % pid))

    before = fds()
    for i in range(150):
        kind = i % 3
        with socket.create_connection(("127.0.0.1", HTTP_PORT), timeout=10) as c:
            if kind == 1:
                c.sendall(b"garbage\r\n\r\n")
            elif kind == 2:
                c.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            try:
                while kind and c.recv(65536):
                    pass
            except TimeoutError:
                fail("ipopd kept a connection open after its answer (it answers one request per connection)")
    time.sleep(0.5)
    after = fds()
    if after > before + 5:
        fail("ipopd holds %d descriptors after 150 connections, %d before" % (after, before))


def check_refusals(peer):
    """Forged signalling datagrams to a's UDP port: refused, counted in
    total and by reason."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        for m in (b"not-a-node-id hello", peer.encode() + b" {not json", peer.encode() + b" x"):
            u.sendto(m, ("127.0.0.1", SIG_A))
    end = time.monotonic() + 10
    while time.monotonic() < end:
        fams = scrape()
        total = promtext.value(fams, "ipop_signal_refused_total", network="vpn")
        by_reason = sum(v for _, l, v in fams["ipop_refused_total"]["samples"] if l["network"] == "vpn")
        if total >= 3 and by_reason >= 3:
            return
        time.sleep(0.2)
    fail("3 forged datagrams: ipop_signal_refused_total %r, ipop_refused_total %r"
         % (total, fams["ipop_refused_total"]["samples"]))


def check_reload_moves(d, conf):
    """SIGHUP with another metrics.listen: served there, no longer here."""
    import signal
    moved = HTTP_PORT + 3
    with open(d.conf, "w") as f:
        f.write(conf.replace("127.0.0.1:%d\n" % HTTP_PORT, "127.0.0.1:%d\n" % moved, 1))
    d.proc.send_signal(signal.SIGHUP)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % moved, timeout=5) as r:
                promtext.parse(r.read().decode())
            break
        except OSError:
            time.sleep(0.2)
    else:
        fail("no metrics on the new address after SIGHUP:\n" + d.read_log())
    try:
        get("/metrics")
        fail("the old metrics address still answers after SIGHUP moved it")
    except OSError:
        pass


def check_ipopctl(d, http_fams):
    r = subprocess.run([ipopctl, "--control", d.control, "metrics"], capture_output=True, timeout=10)
    if r.returncode != 0:
        fail("ipopctl metrics: exit %d: %s" % (r.returncode, r.stderr.decode(errors="replace")))
    try:
        fams = promtext.parse(r.stdout.decode("utf-8"))
        promtext.check_ipopd(fams)
    except (promtext.FormatError, UnicodeDecodeError) as e:
        fail("ipopctl metrics does not parse: %s" % e)
    if set(fams) != set(http_fams):
        fail("ipopctl metrics and /metrics differ in families: %r" % (set(fams) ^ set(http_fams)))


class Dom(HTMLParser):
    """Counts what the test looks for in chromium's --dump-dom."""

    def __init__(self):
        super().__init__()
        self.rows, self.peers, self.elements, self.text = [], [], [], []
        self.ready = False
        self.in_title = False
        self.title = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag == "body" and a.get("data-ready") == "1":
            self.ready = True
        if tag == "tr" and a.get("class") == "member":
            self.rows.append(a.get("data-peer-id"))
        if tag == "g" and a.get("class") == "peer":
            self.peers.append(a.get("data-peer-id"))
        self.in_title = tag == "title" and not self.title

    def handle_endtag(self, tag):
        self.in_title = False

    def handle_data(self, data):
        self.text.append(data)
        if self.in_title:
            self.title += data


def browse(chromium, url, shot, work):
    """Loads url in headless chromium: returns the DOM after the script
    ran, and saves a screenshot to shot."""
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              "--user-data-dir=" + os.path.join(work, "chromium"), "--virtual-time-budget=4000",
              "--window-size=1400,1900"]
    r = subprocess.run(common + ["--dump-dom", url], capture_output=True, timeout=90)
    if r.returncode != 0:
        fail("chromium --dump-dom %s: exit %d: %s" % (url, r.returncode, r.stderr.decode(errors="replace")[-2000:]))
    dom = Dom()
    dom.feed(r.stdout.decode("utf-8", errors="replace"))
    r = subprocess.run(common + ["--screenshot=" + shot, url], capture_output=True, timeout=90)
    if r.returncode != 0 or not os.path.getsize(shot):
        fail("chromium --screenshot %s: exit %d" % (shot, r.returncode))
    return dom


def hostile_status(node_id):
    """64 members; names, ids and addresses that are markup."""
    links = []
    for i in range(64):
        peer = "p%02d" % i + "a" * 49
        name = HOSTILE if i == 0 else HOSTILE_IMG if i == 1 else "member-%02d@example.org" % i
        state = "connected" if i % 9 else "connecting"
        links.append({"peer_id": peer, "name": name, "address": "10.20.%d.%d" % (i // 200, i + 2),
                      "state": state, "reason": "none" if i % 9 else "ice-failed",
                      "path": "relay" if i % 7 == 0 else "host", "remote_path": "host",
                      "relay": links[3]["peer_id"] if i % 11 == 5 else None,
                      "rtt_us": 1000 + 37 * i, "rx_bytes": 1000 * i, "tx_bytes": 900 * i, "rx_packets": i,
                      "tx_packets": i, "rx_drops": 0, "tx_drops": 0, "relayed_packets": 0, "relay_drops": 0})
    return {"version": "test", "networks": [{
        "name": '"><svg onload="document.title=\'pwned\'">', "running": True, "node_id": node_id,
        "device": "ipop0", "mode": "tun", "overlay": "group", "addresses": ["10.20.0.1/16"],
        "signal_refused": 3, "no_route": 0, "relayed_packets": 0, "relay_drops": 0, "links": links,
        "xmpp": HOSTILE}]}


def serve_fixture(files):
    """A loopback HTTP server with files {path: (type, bytes)}; returns
    (server, port)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ctype, body = files.get(self.path.split("?")[0], ("text/plain", None))
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", ctype)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


def page_files():
    """The page's own files, as ipopd serves them."""
    return {p: (get(p)[1]["Content-Type"], get(p)[2]) for p in ("/", "/status.js", "/status.css")}


def check_hostile(chromium, work, files):
    """The page's own files with hostile data, served without CSP: the
    script's escaping alone must hold."""
    files["/status.json"] = ("application/json", json.dumps(hostile_status("self" + "b" * 48)).encode())
    srv, port = serve_fixture(files)
    try:
        dom = browse(chromium, "http://127.0.0.1:%d/" % port, os.path.join(outdir, "status-page-64.png"), work)
    finally:
        srv.shutdown()
    if not dom.ready or len(dom.rows) != 64 or len(set(dom.peers)) != 64:
        fail("64 members: ready %s, %d rows, %d drawn" % (dom.ready, len(dom.rows), len(set(dom.peers))))
    if dom.title != "ipopd status":
        fail("a hostile name ran: the title is %r" % dom.title)
    tags = [t for t, _ in dom.elements]
    if "img" in tags or tags.count("script") != 1 or any("onload" in a or "onerror" in a for _, a in dom.elements):
        fail("a hostile name became markup: %r" % [e for e in dom.elements if e[0] in ("img", "script")])
    text = "".join(dom.text)
    for s in (HOSTILE, HOSTILE_IMG):
        if s not in text:
            fail("%r is not shown as text" % s)


def main():
    promtext.self_test()
    os.makedirs(outdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="ipop-status-page.")
    try:
        check_config_rules(work)
        chromium = find_chromium()
        ids = {}
        for n in ("a", "b"):
            r = subprocess.run([ipopd, "--node-id", os.path.join(work, n + ".key")], capture_output=True,
                               text=True, timeout=20)
            ids[n] = r.stdout.strip()
        conf_a = ("[ipopd]\nmetrics.listen = 127.0.0.1:%d\n\n[vpn]\nmode = none\nidentity.file = %s\n"
                  "signal.listen = 127.0.0.1:%d\nsignal.peers = %s@127.0.0.1:%d\n"
                  % (HTTP_PORT, os.path.join(work, "a.key"), SIG_A, ids["b"], SIG_B))
        conf_b = ("[vpn]\nmode = none\nidentity.file = %s\nsignal.listen = 127.0.0.1:%d\n"
                  "signal.peers = %s@127.0.0.1:%d\n" % (os.path.join(work, "b.key"), SIG_B, ids["a"], SIG_A))
        with Daemon(ipopd, conf_a) as a, Daemon(ipopd, conf_b) as b:
            a.wait_control()
            b.wait_control()
            fams = wait_linked(ids["b"])
            for name, labels, want in (
                    ("ipop_links", {"network": "vpn", "state": "connected"}, 1),
                    ("ipop_network_up", {"network": "vpn"}, 1),
                    ("ipop_link_info", {"peer": ids["b"], "state": "connected", "path": "direct"}, 1),
                    ("ipop_signalling_info", {"transport": "udp", "state": "up"}, 1)):
                if promtext.value(fams, name, **labels) != want:
                    fail("%s%r is %r, want %r" % (name, labels, promtext.value(fams, name, **labels), want))
            if (promtext.value(fams, "ipop_link_rtt_seconds", peer=ids["b"]) or 0) <= 0:
                time.sleep(2)
                if (promtext.value(scrape(), "ipop_link_rtt_seconds", peer=ids["b"]) or 0) <= 0:
                    fail("no RTT for the connected link")
            check_http()
            check_no_fd_leak(a.proc.pid)
            check_refusals(ids["b"])
            check_ipopctl(a, fams)
            shot = os.path.join(outdir, "status-page-live.png")
            dom = browse(chromium, URL + "/", shot, work)
            if not dom.ready or dom.rows != [ids["b"]] or dom.peers != [ids["b"]]:
                fail("the live page does not show the peer: ready %s, rows %r, drawn %r"
                     % (dom.ready, dom.rows, dom.peers))
            if "metrics and status page on %s/" % URL not in a.read_log():
                fail("ipopd did not log where the page is")
            files = page_files()
            check_reload_moves(a, conf_a)
            # A clean stop, also under ASan (leaks) with connections served.
            for d in (a, b):
                d.proc.terminate()
                rc = d.proc.wait(60)
                if rc != 0:
                    fail("ipopd exited with %d after SIGTERM:\n%s" % (rc, d.read_log()[-6000:]))
        check_hostile(chromium, work, files)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("ok: /metrics parses and shows the link; the page shows the peer and 64 hostile names as text; "
          "screenshots in %s" % outdir)


main()
