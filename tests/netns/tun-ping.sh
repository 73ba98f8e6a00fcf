#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# Two ipopd in TUN mode, in two namespaces behind a router: the link comes
# up and IPv4 and IPv6 pings cross the overlay both ways without loss.
# Usage: tun-ping.sh PATH-TO-IPOPD   (root; exits 77 otherwise)
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
run_ping_test "${1:-}" tun
