#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SPDX-License-Identifier: MIT
# Two ipopd in TAP mode, in two namespaces behind a router: ARP and IPv6
# neighbour discovery cross the link (a learns b's real MAC), and IPv4 and
# IPv6 pings cross the overlay both ways without loss.
# Usage: tap-ping.sh PATH-TO-IPOPD   (root; exits 77 otherwise)
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
run_ping_test "${1:-}" tap
