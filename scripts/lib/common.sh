# Shared shell helpers for the two README commands. Source, do not run.
# Every package the project uses is checked on every run and installed when missing,
# so a fresh Debian 12 machine and a long-lived one take the same path.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="$PATH:/opt/swift/usr/bin"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

require_root() {
    [ "$(id -u)" -eq 0 ] || die "run as root: the lab needs network namespaces, libvirt daemons and raw sockets"
}

APT_UPDATED=0
apt_update_once() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
        APT_UPDATED=1
    fi
}

# ensure_packages [-t SUITE] PKG...: installs the packages that are not installed yet.
ensure_packages() {
    local suite=""
    if [ "${1:-}" = "-t" ]; then suite="$2"; shift 2; fi
    local missing=()
    local package
    for package in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$package")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    apt_update_once
    log "installing ${missing[*]}${suite:+ from $suite}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${suite:+-t "$suite"} "${missing[@]}" >&2 \
        || die "apt-get install ${missing[*]} failed"
}

# Installs every package named in scripts/packages/*.list (one per line, # comments).
# Each component keeps its own list; suites other than the release's are set up by
# the component's own scripts/lib/*.sh (e.g. the lab's backports).
ensure_build_packages() {
    command -v swift >/dev/null || die "swift is not on PATH (expected under /opt/swift/usr/bin)"
    local list packages=()
    for list in "$REPO_ROOT"/scripts/packages/*.list; do
        while read -r line; do
            line="${line%%#*}"
            [ -n "${line// /}" ] && packages+=($line)
        done <"$list"
    done
    ensure_packages "${packages[@]}"
}

# Components add their own helpers as scripts/lib/NAME.sh; load them all.
for component in "$REPO_ROOT"/scripts/lib/*.sh; do
    [ "$(basename "$component")" = common.sh ] || source "$component"
done

# The test classes that bring up namespaces, libvirt daemons or guests. The fast suite
# (`scripts/test.sh --fast`, the mutation tests) is every other test.
LAB_TEST_CLASSES=(LabScenarioTests LabFaultScenarioTests LabIntegrationTests LiveNamespaceTests)
fast_suite_skips() {
    local class
    for class in "${LAB_TEST_CLASSES[@]}"; do printf -- '--skip %s ' "$class"; done
}

# Builds every product in debug; the static memeater for guests is built separately (build_static_memeater).
build_all() {
    log "swift build"
    (cd "$REPO_ROOT" && swift build >&2) || die "swift build failed"
}

# Builds the fully static memeater that runs inside a minimal guest (glibc, no shared
# libraries needed) and prints the path of a stripped copy, small enough for an initramfs.
build_static_memeater() {
    log "swift build memeater (static, release)"
    (cd "$REPO_ROOT" && swift build -c release --product memeater -Xswiftc -static-executable \
        --scratch-path .build-static >&2) || die "static build of memeater failed"
    strip -o "$REPO_ROOT/.build-static/memeater-guest" "$REPO_ROOT/.build-static/release/memeater" \
        || die "strip of the static memeater failed"
    echo "$REPO_ROOT/.build-static/memeater-guest"
}
