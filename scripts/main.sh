#!/usr/bin/env bash
# The main job: install what is needed, build, bring up the two-host lab and run the
# migration test case (live migration under load, clean-up after Prepare and Perform
# failures), print the verdict table and write the report (results/report-ID/report.html).
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
# Every run is a sweep with an id: the report below is made from it. `--id ID` among the
# arguments wins (giving an existing id resumes it).
id="main-$(date -u +%Y%m%d-%H%M%S)"
previous=""
for argument in "$@"; do
    [ "$previous" = "--id" ] && id="$argument"
    case "$argument" in --id=*) id="${argument#--id=}" ;; esac
    previous="$argument"
done
log "migverify run --id $id $*"
# The run's exit status is the verdict: 0 only if every check passed. The lab stays up
# for inspection, idle (memeater paused: `migverify lab status`); `migverify lab down` removes it.
status=0
"$migverify" run --id "$id" --database results/migverify.sqlite --json results/migverify.json \
    --junit results/migverify-junit.xml "$@" || status=$?
if [ "$status" -ne 64 ]; then
    # Bad input (64) made no sweep; anything else, even an interrupted run, has one to report.
    log "migverify report $id"
    "$migverify" report "$id" --database results/migverify.sqlite --output "results/report-$id" \
        || log "the report could not be written (the verdict above stands)"
fi
exit "$status"
