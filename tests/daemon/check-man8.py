#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ipopd(8) and ipopctl(8) list every option and command that exists: the
long options ipopd --help prints, the long options of ipopctl's getopt
table (daemon/ipopctl.c) and the commands of its usage; the overlays ipopd
runs.  Also: the bash completion offers every ipopctl command and option.

usage: check-man8.py IPOPD IPOPCTL SRCDIR"""
import re
import subprocess
import sys

ipopd, ipopctl, srcdir = sys.argv[1:4]


def man_text(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return re.sub(r"\\f[BIRP]", "", text).replace("\\-", "-")


errors = []
ipopd_man = man_text(srcdir + "/daemon/ipopd.8")
ipopctl_man = man_text(srcdir + "/daemon/ipopctl.8")
with open(srcdir + "/daemon/ipopctl.bash-completion", encoding="utf-8") as f:
    completion = f.read()

help_text = subprocess.run([ipopd, "--help"], capture_output=True, text=True, check=True).stdout
ipopd_opts = sorted(set(re.findall(r"(?<![\w-])--([a-z][a-z-]*)", help_text)))
if len(ipopd_opts) < 6:
    errors.append(f"ipopd --help: too few options parsed: {ipopd_opts}")
for opt in ipopd_opts:
    if "--" + opt not in ipopd_man:
        errors.append(f"ipopd(8) does not list --{opt}")
for overlay in ("overlay = group", "overlay = social"):
    if overlay not in ipopd_man:
        errors.append(f"ipopd(8) does not describe {overlay}")

with open(srcdir + "/daemon/ipopctl.c", encoding="utf-8") as f:
    source = f.read()
table = source[source.index("struct option options[]"):]
table = table[:table.index("};")]
ctl_opts = re.findall(r'\{"([a-z-]+)",', table)
usage = subprocess.run([ipopctl, "--help"], capture_output=True, text=True, check=True).stdout
commands = set()
for line in usage.splitlines():
    m = re.match(r"\s*(?:usage:\s*)?ipopctl \[--control PATH\] (\S+)", line)
    if m:
        commands.update(m.group(1).split("|"))
if not {"status", "peers"} <= commands or len(ctl_opts) < 3:
    errors.append(f"ipopctl: parse failed: options {ctl_opts}, commands {sorted(commands)}")
for opt in ctl_opts:
    if "--" + opt not in ipopctl_man:
        errors.append(f"ipopctl(8) does not list --{opt}")
    if "--" + opt not in completion:
        errors.append(f"the bash completion does not offer --{opt}")
for cmd in sorted(commands):
    if not re.search(r"^\.B[IR]? " + re.escape(cmd) + r"\b", ipopctl_man, re.M):
        errors.append(f"ipopctl(8) does not describe the command {cmd}")
    if not re.search(r"\b" + re.escape(cmd) + r"\b", completion):
        errors.append(f"the bash completion does not offer {cmd}")

for e in errors:
    print(e)
if errors:
    sys.exit(1)
print(f"ipopd(8): {len(ipopd_opts)} options; ipopctl(8): {len(ctl_opts)} options, commands {sorted(commands)}; "
      "completion offers them all")
