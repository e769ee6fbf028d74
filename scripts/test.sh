#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs `swift test`.
#   scripts/test.sh           everything (what CI runs)
#   scripts/test.sh --fast    only the tests that need no lab (no namespaces, daemons or guests)
# Further arguments go to `swift test` (e.g. --filter EngineTests).
source "$(dirname "$0")/lib/common.sh"
fast=0
if [ "${1:-}" = "--fast" ]; then fast=1; shift; fi
require_root
ensure_build_packages
# libvirt-dev (from backports) is needed to build at all, so the fast suite installs the lab's packages too.
ensure_lab_packages
cd "$REPO_ROOT"
# The mutation list must still apply to the code it mutates (cheap: no build).
bash scripts/mutation-test.sh --check >&2 || die "scripts/mutations.txt no longer applies: update it with the code"
if [ "$fast" -eq 1 ]; then
    swift build --build-tests >&2 || die "swift build --build-tests failed"
    log "swift test (fast suite: no lab)"
    exec swift test --skip-build $(fast_suite_skips) "$@"
fi
# The guests of the lab and verifier tests carry this memeater.
memeater="$(build_static_memeater)"
export MIGRATION_LAB_MEMEATER="$memeater"
swift build --build-tests >&2 || die "swift build --build-tests failed"
log "swift test"
# XCTest runs test cases one after another: tests that bring up namespaces, daemons
# and guests must not overlap.
exec swift test --skip-build "$@"
