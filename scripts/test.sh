#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs `swift test`.
source "$(dirname "$0")/lib/common.sh"
require_root
ensure_build_packages
if declare -F ensure_lab_packages >/dev/null; then ensure_lab_packages; fi
cd "$REPO_ROOT"
# The guests of the lab and verifier tests carry this memeater.
memeater="$(build_static_memeater)"
export MIGRATION_LAB_MEMEATER="$memeater"
swift build --build-tests >&2 || die "swift build --build-tests failed"
log "swift test"
# XCTest runs test cases one after another: tests that bring up namespaces, daemons
# and guests must not overlap.
exec swift test --skip-build "$@"
