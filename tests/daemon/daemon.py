# SPDX-License-Identifier: MIT
"""Helpers for the tests that run a real ipopd and ipopctl without root:
a scratch directory, a config file, the daemon started and stopped."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


class Daemon:
    """ipopd with one config file, its own control socket, its log in a
    file.  Stopped (SIGTERM, then SIGKILL) by stop() or on leaving a with."""

    def __init__(self, ipopd, config, env=None, args=(), wrap=(), stream_env=False):
        """stream_env: $JOURNAL_STREAM names the log file, as systemd names
        the journal's stream."""
        self.dir = tempfile.mkdtemp(prefix="ipopd-test.")
        self.conf = os.path.join(self.dir, "ipopd.conf")
        with open(self.conf, "wb") as f:
            f.write(config if isinstance(config, bytes) else config.encode())
        self.control = os.path.join(self.dir, "control.sock")
        self.log_path = os.path.join(self.dir, "ipopd.log")
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.pop("NOTIFY_SOCKET", None)
        full_env.pop("JOURNAL_STREAM", None)
        full_env.update(env or {})
        if stream_env:
            st = os.fstat(self.log.fileno())
            full_env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        self.proc = subprocess.Popen(
            [*wrap, ipopd, "--config", self.conf, "--control", self.control, *args],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=full_env)

    def wait_control(self, timeout=10):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if os.path.exists(self.control):
                return
            if self.proc.poll() is not None:
                fail("ipopd exited with %d:\n%s" % (self.proc.returncode, self.read_log()))
            time.sleep(0.05)
        fail("no control socket after %d s:\n%s" % (timeout, self.read_log()))

    def read_log(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
