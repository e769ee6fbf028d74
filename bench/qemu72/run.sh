#!/usr/bin/env bash
# How often the verifier catches QEMU 7.2 losing dirty pages at a moderate dirty rate (lab
# notes: bookworm's QEMU 7.2 under TCG loses pages when guest RAM is a multiple of 256 KiB;
# at 50 MiB/s only some migrations land corrupt). `migverify run --repeat N` of `live`,
# 1024 MiB, memeater at 50 MiB/s: first with `--emulator qemu-7.2`, then with the default
# QEMU 10 as the control, which must pass every run.
# Not part of the test suite. Needs root. It runs a lab of its own (prefix mq72, state
# /run/migration-lab-q72), removed on exit; results go to results/bench-qemu72/, and a
# re-run resumes a series from its database.
#
#   bash bench/qemu72/run.sh [RUNS [CONTROL_RUNS]]   # default 20 runs on 7.2, 10 on QEMU 10; about 45 s per run under TCG
source "$(dirname "$0")/../../scripts/lib/common.sh"
require_root
runs="${1:-20}"
control_runs="${2:-10}"
ensure_build_packages
ensure_lab_packages
cd "$REPO_ROOT"
export MIGRATION_LAB_MEMEATER="$(build_static_memeater)"
swift build --product migverify >&2 || die "swift build --product migverify failed"
migverify="$(swift build --show-bin-path)/migverify"
state=/run/migration-lab-q72
out=results/bench-qemu72
mkdir -p "$out"
trap '"$migverify" lab down --state-directory "$state" >/dev/null 2>&1 || true' EXIT
for emulator in qemu-7.2 default; do
    count="$runs"; [ "$emulator" = default ] && count="$control_runs"
    log "$count runs of live with --emulator $emulator"
    # Exit status 1 (a check failed) is the expected outcome on QEMU 7.2: keep going.
    "$migverify" run --scenario live --emulator "$emulator" --memory-mib 1024 --dirty-rate-mib-per-second 50 \
        --repeat "$count" --state-directory "$state" --lab-name-prefix mq72 \
        --database "$out/$emulator.sqlite" --json "$out/$emulator.json" > "$out/$emulator.txt" || true
    grep -E '^(SERIES|VERDICT)' "$out/$emulator.txt" || tail -n 3 "$out/$emulator.txt"
done
