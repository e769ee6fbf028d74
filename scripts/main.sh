#!/usr/bin/env bash
# The main job: install what is needed, build, bring up the two-host lab and run the
# migration test case (live migration under load, clean-up after Prepare and Perform
# failures), print the verdict table and write the report.
# Arguments go to `migverify run` (e.g. --memory-mib 1024,2111 --dirty-rate-mib-per-second 50).
source "$(dirname "$0")/lib/common.sh"
require_root
ensure_build_packages
ensure_lab_packages
cd "$REPO_ROOT"
memeater="$(build_static_memeater)"
log "swift build --product migverify"
swift build --product migverify >&2 || die "swift build --product migverify failed"
migverify="$(swift build --show-bin-path)/migverify"
mkdir -p results
# `migverify run` brings the lab up itself (idempotent) with this memeater in the guest.
export MIGRATION_LAB_MEMEATER="$memeater"
log "migverify run $*"
# The run's exit status is the verdict: 0 only if every check passed. The lab stays up
# for inspection (`migverify lab status`); `migverify lab down` removes it.
exec "$migverify" run --database results/migverify.sqlite --json results/migverify.json \
    --junit results/migverify-junit.xml "$@"
