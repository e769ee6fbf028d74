#!/usr/bin/env bash
# pingmon benchmarks: accuracy against injected outages side by side with iputils ping and
# fping, the highest probe rate sustained for 30 s, and offline analysis throughput.
# Outages of two kinds: dropped probes (icmp_echo_ignore_all) and queued ones (a user-space
# responder, responder.py, paused with SIGSTOP and resumed: the requests are answered late).
# Not part of the test suite. Needs root: it makes its own network namespaces (pmb-<pid>-a/b,
# 198.18.14.0/24 on a veth pair; nothing in the root namespace) and deletes them on exit.
#
#   bash bench/pingmon/run.sh            # everything (about 10 minutes on 2 vCPUs); accuracy under stress-ng --cpu N
#   bash bench/pingmon/run.sh --quick    # one repeat, fewer outage lengths, 10 s rate runs
#   bash bench/pingmon/run.sh --kinds queue --prefix pmq   # only queued outages, namespaces pmq-<pid>-a/b
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/opt/swift/usr/bin"

[ "$(id -u)" -eq 0 ] || { echo "error: run as root (network namespaces, raw sockets, capture)" >&2; exit 1; }
for tool in ip ping fping stress-ng python3 chrt; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing (scripts/packages/pingmon.list names its package)" >&2; exit 1; }
done

echo "building pingmon (release)" >&2
swift build -c release --scratch-path .build-pingmon --product pingmon >&2
exec python3 bench/pingmon/bench.py --pingmon "$PWD/.build-pingmon/release/pingmon" "$@"
