#!/bin/sh
# Builds the memeater-control libFuzzer harness (coverage and AddressSanitizer on MemeaterKit,
# its C core and the harness) in .build-fuzz, writes the seed corpus and fuzzes for SECONDS
# (default 300). Not part of .ci/run: it takes minutes.
# Usage: fuzz/memeater-control/run.sh [SECONDS] [libFuzzer flags...]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scratch="$root/.build-fuzz"
seconds=${1:-300}
[ $# -gt 0 ] && shift
export PATH="$PATH:/opt/swift/usr/bin"
cd "$root"

# The library and its C core, instrumented; only objects, linked by hand below so that
# libFuzzer's main is the only one.
swift build --scratch-path "$scratch" --target MemeaterKit \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing -Xcc -fsanitize=fuzzer-no-link,address
debug="$scratch/debug"
objects=$(find "$debug/MemeaterKit.build" "$debug/CMemeater.build" -name '*.o')
swiftc -sanitize=fuzzer,address -parse-as-library -g \
    -I "$debug/Modules" -I "$debug" -Xcc -fmodule-map-file="$debug/CMemeater.build/module.modulemap" \
    -Xcc -I"$root/Sources/CMemeater/include" \
    "$here/Harness.swift" $objects -o "$scratch/memeater-control-fuzzer"

corpus="$scratch/corpus/memeater-control"
seeds="$scratch/seeds/memeater-control"
mkdir -p "$corpus" "$scratch/crashes"
python3 "$here/make-seeds.py" "$seeds"
# -rss_limit_mb and -timeout turn unbounded memory and hangs into findings too; -max_len lets
# an input pass the 64 KiB line limit. The dictionary holds the protocol's words.
export SWIFT_BACKTRACE=enable=no
exec "$scratch/memeater-control-fuzzer" "$corpus" "$seeds" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=70000 -dict="$here/control.dict" -artifact_prefix="$scratch/crashes/memeater-control-" -print_final_stats=1 "$@"
