#!/bin/sh
# Builds the pingmon-analyze libFuzzer harness (coverage and AddressSanitizer on PingMonitor and
# the harness) in .build-fuzz, writes the seed corpus and fuzzes for SECONDS (default 300).
# Not part of .ci/run: it takes minutes. Usage: fuzz/pingmon-analyze/run.sh [SECONDS] [libFuzzer flags...]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scratch="$root/.build-fuzz"
seconds=${1:-300}
[ $# -gt 0 ] && shift
export PATH="$PATH:/opt/swift/usr/bin"
cd "$root"

# The library and its dependencies, instrumented; only objects, linked by hand below so that
# libFuzzer's main is the only one.
swift build --scratch-path "$scratch" --target PingMonitor \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing -Xcc -fsanitize=fuzzer-no-link,address
debug="$scratch/debug"
objects=$(find "$debug/PingMonitor.build" "$debug/Histogram.build" "$debug/RealModule.build" "$debug/_NumericsShims.build" \
    -name '*.o' 2>/dev/null)
swiftc -sanitize=fuzzer,address -parse-as-library -g \
    -I "$debug/Modules" -I "$debug" -Xcc -fmodule-map-file="$root/Sources/CPcap/module.modulemap" \
    -Xcc -fmodule-map-file="$root/.build-fuzz/checkouts/swift-numerics/Sources/_NumericsShims/include/module.modulemap" \
    "$here/Harness.swift" $objects -lpcap -o "$scratch/pingmon-analyze-fuzzer"

corpus="$scratch/corpus/pingmon-analyze"
seeds="$scratch/seeds/pingmon-analyze"
mkdir -p "$corpus" "$scratch/crashes"
python3 "$here/make-seeds.py" "$seeds"
# -rss_limit_mb and -timeout turn unbounded memory and hangs into findings too.
# Swift's own backtracer and ASan both catch the trap; ASan's report is the one libFuzzer expects.
export SWIFT_BACKTRACE=enable=no
exec "$scratch/pingmon-analyze-fuzzer" "$corpus" "$seeds" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -artifact_prefix="$scratch/crashes/" -print_final_stats=1 "$@"
