# The lab's packages: QEMU 10 + libvirt 11 from bookworm-backports, the guest kernel,
# busybox and the tools the lab drives; plus the private QEMU 7.2 emulator on demand.
# Sourced by common.sh; needs its helpers (log, die, ensure_packages, apt_update_once).

LAB_BACKPORTS_SUITE="bookworm-backports"
# Where the private QEMU 7.2 is extracted (see docs/lab.md, "Emulators").
LAB_QEMU72_DIR="${LAB_QEMU72_DIR:-/var/cache/migration-lab/emulators/qemu-7.2}"

# Adds bookworm-backports to the machine's existing Debian source entry (the one whose
# suites include "bookworm" and whose URI ends in /debian). The mirror is whatever that
# entry already names. Idempotent: does nothing when the suite is already configured.
ensure_backports_source() {
    local deb822=/etc/apt/sources.list.d/debian.sources
    local oneline=/etc/apt/sources.list
    if grep -rqsE "^[^#]*\b${LAB_BACKPORTS_SUITE}\b" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        return 0
    fi
    if [ -f "$deb822" ] && grep -qE '^Suites:.*\bbookworm\b' "$deb822"; then
        log "adding $LAB_BACKPORTS_SUITE to the Debian entry in $deb822"
        # Only the stanza that carries the plain "bookworm" suite (not -security) is changed.
        awk -v suite="$LAB_BACKPORTS_SUITE" '
            /^Suites:/ {
                n = split($0, words, /[ \t]+/); plain = 0
                for (i = 2; i <= n; i++) if (words[i] == "bookworm") plain = 1
                if (plain) { print $0 " " suite; next }
            }
            { print }
        ' "$deb822" >"$deb822.lab-new" && mv "$deb822.lab-new" "$deb822" \
            || die "could not add $LAB_BACKPORTS_SUITE to $deb822"
    elif [ -f "$oneline" ] && grep -qE '^deb\s+\S+\s+bookworm\s' "$oneline"; then
        log "adding $LAB_BACKPORTS_SUITE next to the Debian entry in $oneline"
        # Same mirror and components as the existing "deb MIRROR bookworm COMPONENTS" line.
        local entry
        entry="$(grep -E '^deb\s+\S+\s+bookworm\s' "$oneline" | head -n1 | sed -E "s/\sbookworm\s/ ${LAB_BACKPORTS_SUITE} /")"
        printf '%s\n' "$entry" >>"$oneline" || die "could not append to $oneline"
    else
        die "no Debian bookworm source entry found in $deb822 or $oneline: cannot add $LAB_BACKPORTS_SUITE"
    fi
    APT_UPDATED=0
}

# Prints the installed version of a package, or nothing.
lab_installed_version() {
    { dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null || true; } | awk '/install ok installed/ {print $4}'
}

# Installs (and keeps installed) everything the lab needs. Safe to run on every run.
ensure_lab_packages() {
    ensure_backports_source
    # QEMU 10 + libvirt 11 from backports. ensure_packages only installs what is missing,
    # so a machine that already has bookworm's 7.2 / 9.0 is moved to backports explicitly.
    local backports=(qemu-system-x86 qemu-system-common qemu-system-data qemu-utils seabios ipxe-qemu
        libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev)
    local qemu_version libvirt_version
    qemu_version="$(lab_installed_version qemu-system-x86)"
    libvirt_version="$(lab_installed_version libvirt-daemon)"
    if { [ -n "$qemu_version" ] && dpkg --compare-versions "$qemu_version" lt 1:10; } ||
        { [ -n "$libvirt_version" ] && dpkg --compare-versions "$libvirt_version" lt 11; }; then
        apt_update_once
        log "moving QEMU ($qemu_version) and libvirt ($libvirt_version) to $LAB_BACKPORTS_SUITE"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            -t "$LAB_BACKPORTS_SUITE" "${backports[@]}" >&2 \
            || die "apt-get install -t $LAB_BACKPORTS_SUITE ${backports[*]} failed"
    fi
    ensure_packages -t "$LAB_BACKPORTS_SUITE" "${backports[@]}"
    # The guest kernel (Debian's, not the host's), the initramfs guest's userland, the
    # tools that build the topology and images, sshd for qemu+ssh:// URIs, tcpdump, which
    # captures the destination's migration ports (stream-encrypted), and certtool, which makes
    # the lab's CA and each host's certificates (every `lab up`).
    ensure_packages linux-image-amd64 busybox-static cpio xz-utils zstd kmod \
        iproute2 nftables iputils-ping openssh-server openssh-client netcat-openbsd tcpdump gnutls-bin \
        debootstrap e2fsprogs util-linux procps ca-certificates
}

# Provides the private QEMU 7.2 emulator (bookworm's own qemu-system-x86, extracted from
# its .deb files beside its modules, ROMs and BIOS) and prints the path of its binary.
# The version is pinned to the newest 7.2 that bookworm offers (apt-cache policy).
ensure_qemu72_emulator() {
    local binary="$LAB_QEMU72_DIR/usr/bin/qemu-system-x86_64"
    if [ -x "$binary" ] && [ -f "$LAB_QEMU72_DIR/.complete" ]; then
        echo "$binary"; return 0
    fi
    apt_update_once
    local version
    version="$(apt-cache policy qemu-system-x86 | awk '/^ +(\*\*\* )?[0-9]+:7\.2/ {sub(/\*\*\*/, ""); print $1; exit}')"
    [ -n "$version" ] || die "no QEMU 7.2 version of qemu-system-x86 in apt-cache policy (is bookworm configured?)"
    # Each package pinned to its own newest 7.2 version (arch:all packages carry no binNMU
    # suffix), plus bookworm's BIOS and NIC ROMs, found relative to the private binary.
    lab_newest() { apt-cache policy "$1" | awk -v prefix="$2" '{sub(/\*\*\*/, "")} index($1, prefix) == 1 {print $1; exit}'; }
    local work package own
    work="$(mktemp -d /tmp/migration-lab-qemu72.XXXXXX)"
    chmod 755 "$work"  # apt downloads as _apt
    log "downloading QEMU $version (private emulator) into $LAB_QEMU72_DIR"
    local packages=("qemu-system-x86=$version")
    for package in qemu-system-data qemu-system-common qemu-utils; do
        own="$(lab_newest "$package" "1:7.2")"
        [ -n "$own" ] || { rm -rf "$work"; die "no 7.2 version of $package in apt-cache policy"; }
        packages+=("$package=$own")
    done
    own="$(lab_newest seabios 1.16.2)"; [ -n "$own" ] && packages+=("seabios=$own")
    own="$(lab_newest ipxe-qemu 1.0.0+git-2019)"; [ -n "$own" ] && packages+=("ipxe-qemu=$own")
    (cd "$work" && apt-get download -q "${packages[@]}" >&2) \
        || { rm -rf "$work"; die "apt-get download ${packages[*]} failed"; }
    rm -rf "$LAB_QEMU72_DIR"
    mkdir -p "$LAB_QEMU72_DIR"
    local deb
    for deb in "$work"/*.deb; do
        dpkg -x "$deb" "$LAB_QEMU72_DIR" || { rm -rf "$work"; die "dpkg -x $deb failed"; }
    done
    rm -rf "$work"
    [ -x "$binary" ] || die "QEMU 7.2 extracted, but $binary is missing"
    echo "$version" >"$LAB_QEMU72_DIR/.complete"
    echo "$binary"
}
