#!/usr/bin/env bash
# The main job: install what the lab needs, build, bring up the two-host lab and show it.
# Arguments are passed to `migverify lab up` (e.g. --emulator qemu-7.2, --memory-mib 2111).
source "$(dirname "$0")/lib/common.sh"
require_root
ensure_build_packages
ensure_lab_packages
cd "$REPO_ROOT"
memeater="$(build_static_memeater)"
log "swift build --product migverify"
swift build --product migverify >&2 || die "swift build --product migverify failed"
migverify="$(swift build --show-bin-path)/migverify"
log "migverify lab up $*"
"$migverify" lab up --memeater "$memeater" "$@" || die "migverify lab up failed (see above; 'migverify lab down' removes what was built)"
"$migverify" lab status
