import Foundation

/// Builds (and caches) a full Debian guest of one release (11, 12 or 13): debootstrap
/// (minbase + systemd + the release's `linux-image-amd64`) into an ext4 filesystem in a qcow2
/// disk, with memeater as a systemd service. It boots its own release's kernel (taken from
/// the debootstrapped root) with a small busybox initramfs that loads that kernel's virtio
/// and ext4 modules and switches to the disk.
///
/// Each guest start uses a fresh copy-on-write overlay of the cached disk in the state
/// directory, so the cached image is never written to.
struct DebianGuestBuilder {
    let configuration: LabConfiguration
    let memeaterPath: String?
    /// The release to debootstrap.
    var release: DebianRelease
    var busyboxPath = "/bin/busybox"

    /// Packages added to debootstrap's minbase (the same names in bullseye, bookworm and
    /// trixie); `linux-image-amd64` is the release's kernel the guest boots.
    static let packages = ["systemd-sysv", "udev", "kmod", "iproute2", "iputils-ping", "iputils-arping", "linux-image-amd64"]
    /// Size of the guest's root filesystem (sparse: the qcow2 holds only what is written).
    static let diskSize = "2048M"
    /// Modules the boot initramfs loads before switching to the disk, with what
    /// `modules.dep` says they need; built-in ones and optional ones the kernel lacks are skipped.
    static let bootModules = InitramfsGuestBuilder.modules + [
        .required("virtio_blk"), .optional("crc16"), .optional("mbcache"), .optional("jbd2"),
        .optional("crc32c_generic"), .required("ext4"),
    ]
    /// The file in the image directory that names the kernel release inside.
    static let kernelReleaseFileName = "kernel-release"

    /// The guest kind this release is.
    var kind: GuestKind {
        GuestKind.allCases.first { $0.debianRelease == release } ?? .debian
    }

    /// debootstrap's download cache for this release (one per suite).
    var debootstrapCacheDirectory: String { "\(configuration.cacheDirectory)/debootstrap-\(release.rawValue)" }

    /// Everything that decides the image besides busybox and memeater (hashed with them into
    /// the cache key): the suite, the packages (with the kernel's), the modules, scripts,
    /// units and disk size. The kernel release debootstrap installs is recorded in the image.
    var recipe: String {
        (["suite \(release.rawValue)", Self.bootInitScript, Self.setupScript, Self.readyScript, Self.diskSize]
         + Self.packages + Self.bootModules.map { "\($0.name)\($0.optional ? "?" : "")" } + Self.units.map(\.text))
            .joined(separator: "\n")
    }

    /// The boot initramfs: load virtio (net and block) and ext4, mount /dev/vda, switch_root.
    static let bootInitScript = #"""
    #!/bin/busybox sh
    /bin/busybox --install -s /bin
    export PATH=/bin
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev
    exec >/dev/console 2>&1 </dev/null
    echo "lab-guest: boot initramfs, kernel $(uname -r)"
    # The modules, in load order (written when the image was built, for its kernel).
    for module in $(cat /lib/modules/load-order); do
        insmod "/lib/modules/$module.ko" || echo "lab-guest: insmod $module failed"
    done
    for word in $(cat /proc/cmdline); do
        [ "$word" = lab.probe=1 ] && { echo "LAB-ACCEL-PROBE-OK"; poweroff -f; }
    done
    tries=0
    while [ ! -b /dev/vda ]; do
        tries=$((tries + 1))
        [ "$tries" -gt 100 ] && { echo "LAB-GUEST-FAILED no /dev/vda"; sleep 5; poweroff -f; }
        sleep 0.1
    done
    mount -t ext4 -o rw /dev/vda /newroot || { echo "LAB-GUEST-FAILED cannot mount /dev/vda"; sleep 5; poweroff -f; }
    umount /proc /sys
    mount --move /dev /newroot/dev 2>/dev/null || umount /dev
    exec switch_root /newroot /sbin/init
    """#

    /// Runs before memeater: reads the lab's settings from the kernel command line (port,
    /// size and page pattern into `/run/lab-guest.env`), copies the control token from the
    /// firmware configuration entry (`qemu_fw_cfg`, loaded by the boot initramfs) into the
    /// 0600 file `/run/memeater.token`, configures eth0, announces the guest with a gratuitous ARP.
    static let setupScript = #"""
    #!/bin/sh
    \#(GuestWorkloadScript.loadArgumentsFunction)
    \#(GuestWorkloadScript.takeTokenFunction)
    \#(GuestWorkloadScript.bindArgumentsFunction)
    for word in $(cat /proc/cmdline); do
        case "$word" in
            lab.ip=*) address="${word#lab.ip=}" ;;
            lab.ip6=*) address6="${word#lab.ip6=}" ;;
            lab.memeater_port=*) port="${word#lab.memeater_port=}" ;;
            lab.memeater_size_mib=*) size="${word#lab.memeater_size_mib=}" ;;
        esac
    done
    # memeater reads its token from a file only root reads; without one it refuses to start.
    memeater_take_token || echo "LAB-GUEST-FAILED no memeater token in the firmware configuration (\#(GuestDomainDefinition.memeaterTokenFirmwareEntry))" > /dev/ttyS0
    # MEMEATER_LOAD_ARGS is quoted for the shell that sources the file (lab-guest-ready);
    # the unit expands it unbraced, so systemd splits it into words.
    # MEMEATER_BIND_ARGS: memeater listens only on the guest network's addresses.
    printf 'MEMEATER_PORT=%s\nMEMEATER_SIZE_MIB=%s\nMEMEATER_LOAD_ARGS="%s"\nMEMEATER_BIND_ARGS="%s"\n' "${port:-7070}" "${size:-64}" \
        "$(memeater_load_arguments $(cat /proc/cmdline))" "$(memeater_bind_arguments $(cat /proc/cmdline))" > /run/lab-guest.env
    ip link set lo up
    # The IPv6 address without DAD (its 1 s wait would hold back the first packets).
    [ -n "$address6" ] && echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad
    ip link set eth0 up
    [ -n "$address" ] && ip addr add "$address" dev eth0
    [ -n "$address6" ] && ip -6 addr add "$address6" dev eth0 nodad
    [ -n "$address" ] && (arping -U -c 2 -I eth0 "${address%/*}" >/dev/null 2>&1 &)
    exit 0
    """#

    /// Waits until memeater listens, then prints the ready marker on the serial console.
    static let readyScript = #"""
    #!/bin/sh
    . /run/lab-guest.env
    port_hex=$(printf '%04X' "$MEMEATER_PORT")
    while ! grep -qsE ":$port_hex [0-9A-F]+:0000 0A" /proc/net/tcp /proc/net/tcp6; do sleep 0.2; done
    address=$(ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
    echo "LAB-GUEST-READY ip=$address bootid=$(cat /proc/sys/kernel/random/boot_id)" > /dev/ttyS0
    """#

    static let units: [(name: String, text: String)] = [
        ("lab-guest-setup.service", """
            [Unit]
            Description=Lab guest network and memeater settings from the kernel command line
            DefaultDependencies=no
            After=systemd-udevd.service sys-subsystem-net-devices-eth0.device
            Wants=sys-subsystem-net-devices-eth0.device
            Before=network.target memeater.service

            [Service]
            Type=oneshot
            RemainAfterExit=yes
            ExecStart=/usr/local/sbin/lab-guest-setup

            [Install]
            WantedBy=multi-user.target

            """),
        ("memeater.service", """
            [Unit]
            Description=memeater in control mode (never restarted: a fresh one would hide lost pages)
            After=lab-guest-setup.service
            Requires=lab-guest-setup.service

            [Service]
            EnvironmentFile=/run/lab-guest.env
            ExecStart=/usr/local/bin/memeater serve --port ${MEMEATER_PORT} --size-mib ${MEMEATER_SIZE_MIB} $MEMEATER_LOAD_ARGS $MEMEATER_BIND_ARGS --token-file /run/memeater.token --allow-fault-injection
            Restart=no
            StandardOutput=journal+console
            StandardError=journal+console

            [Install]
            WantedBy=multi-user.target

            """),
        ("lab-guest-ready.service", """
            [Unit]
            Description=Report the lab guest ready on the serial console
            After=memeater.service
            Requires=memeater.service

            [Service]
            Type=oneshot
            ExecStart=/usr/local/sbin/lab-guest-ready

            [Install]
            WantedBy=multi-user.target

            """),
    ]

    /// The Debian mirror the machine already uses (from its bookworm source entry).
    static func configuredMirror() throws -> String {
        if let text = try? String(contentsOfFile: "/etc/apt/sources.list.d/debian.sources", encoding: .utf8) {
            for stanza in text.components(separatedBy: "\n\n") {
                let lines = stanza.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                guard let suites = lines.first(where: { $0.hasPrefix("Suites:") }),
                      suites.split(separator: " ").contains("bookworm"),
                      let uris = lines.first(where: { $0.hasPrefix("URIs:") }),
                      let uri = uris.split(separator: " ").dropFirst().first else { continue }
                return String(uri)
            }
        }
        if let text = try? String(contentsOfFile: "/etc/apt/sources.list", encoding: .utf8) {
            for line in text.split(whereSeparator: \.isNewline) {
                let words = line.split(separator: " ")
                if words.count >= 3, words[0] == "deb", words[2] == "bookworm" { return String(words[1]) }
            }
        }
        throw LabError(step: "find the Debian mirror", reason: "no bookworm entry in /etc/apt/sources.list(.d)")
    }

    func ensure(actions: inout [String]) throws -> GuestImage {
        let step = "build the \(kind.summary) guest"
        guard let memeater = memeaterPath, FileManager.default.isExecutableFile(atPath: memeater) else {
            throw LabError(step: step, reason: "the Debian guest needs the static memeater (build it first: build_static_memeater)")
        }
        let digest = try inputsDigest(files: [busyboxPath, memeater], extra: recipe)
        let imageDirectory = "\(configuration.cacheDirectory)/images/\(kind.rawValue)-\(digest.prefix(16))"
        func image(kernelRelease: String) -> GuestImage {
            GuestImage(kind: kind, kernelPath: "\(imageDirectory)/vmlinuz", initrdPath: "\(imageDirectory)/initrd.img",
                       diskPath: "\(imageDirectory)/disk.qcow2", inputsDigest: digest,
                       kernelRelease: kernelRelease, containsMemeater: true)
        }
        let releasePath = "\(imageDirectory)/\(Self.kernelReleaseFileName)"
        let files = ["vmlinuz", "initrd.img", "disk.qcow2", Self.kernelReleaseFileName].map { "\(imageDirectory)/\($0)" }
        // Existence is not enough: an interrupted build or copy leaves files that look complete.
        if ImageManifest.isIntact(files, in: imageDirectory),
           let recorded = try? String(contentsOfFile: releasePath, encoding: .utf8),
           case let kernelRelease = recorded.trimmingCharacters(in: .whitespacesAndNewlines), !kernelRelease.isEmpty {
            return image(kernelRelease: kernelRelease)
        }
        let fileManager = FileManager.default
        let work = "\(configuration.cacheDirectory)/images/build-\(kind.rawValue)-\(getpid())"
        try? fileManager.removeItem(atPath: work)
        defer { try? fileManager.removeItem(atPath: work) }
        let root = "\(work)/root"
        try fileManager.createDirectory(atPath: work, withIntermediateDirectories: true)
        try fileManager.createDirectory(atPath: debootstrapCacheDirectory, withIntermediateDirectories: true)
        try CommandRunner.run(["debootstrap", "--variant=minbase", "--cache-dir=\(debootstrapCacheDirectory)",
                               "--include=\(Self.packages.joined(separator: ","))", release.rawValue, root,
                               try Self.configuredMirror()],
                              step: "\(step): debootstrap \(release.rawValue)", timeoutSeconds: 3600)
        // The release's own kernel and its modules, from the root just made.
        let kernel = try GuestKernel.newest(inRoot: root)
        let moduleFiles = try resolveModules(Self.bootModules, in: kernel, step: step)

        func write(_ text: String, to path: String, mode: Int = 0o644) throws {
            let full = root + path
            try fileManager.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try? fileManager.removeItem(atPath: full)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
            try fileManager.setAttributes([.posixPermissions: mode], ofItemAtPath: full)
        }
        try write("lab-guest\n", to: "/etc/hostname")
        try write("/dev/vda / ext4 rw,relatime 0 1\n", to: "/etc/fstab")
        try write("", to: "/etc/machine-id")
        try write(Self.setupScript, to: "/usr/local/sbin/lab-guest-setup", mode: 0o755)
        try write(Self.readyScript, to: "/usr/local/sbin/lab-guest-ready", mode: 0o755)
        try fileManager.createDirectory(atPath: "\(root)/usr/local/bin", withIntermediateDirectories: true)
        try? fileManager.removeItem(atPath: "\(root)/usr/local/bin/memeater")
        try fileManager.copyItem(atPath: memeater, toPath: "\(root)/usr/local/bin/memeater")
        let wants = "\(root)/etc/systemd/system/multi-user.target.wants"
        try fileManager.createDirectory(atPath: wants, withIntermediateDirectories: true)
        for (name, text) in Self.units {
            try write(text, to: "/etc/systemd/system/\(name)")
            try? fileManager.removeItem(atPath: "\(wants)/\(name)")
            try fileManager.createSymbolicLink(atPath: "\(wants)/\(name)", withDestinationPath: "/etc/systemd/system/\(name)")
        }
        // Nothing in the guest waits for a network that the lab configures itself.
        for unit in ["systemd-networkd-wait-online.service", "apt-daily.timer", "apt-daily-upgrade.timer"] {
            try? fileManager.removeItem(atPath: "\(root)/etc/systemd/system/\(unit)")
            try? fileManager.createSymbolicLink(atPath: "\(root)/etc/systemd/system/\(unit)", withDestinationPath: "/dev/null")
        }
        try? fileManager.removeItem(atPath: "\(root)/var/cache/apt/archives")
        try fileManager.createDirectory(atPath: "\(root)/var/cache/apt/archives/partial", withIntermediateDirectories: true)
        // The kernel package's own initramfs (initramfs-tools) is never booted: the lab's is.
        for name in try fileManager.contentsOfDirectory(atPath: "\(root)/boot") where name.hasPrefix("initrd.img") {
            try fileManager.removeItem(atPath: "\(root)/boot/\(name)")
        }

        let raw = "\(work)/disk.raw"
        try CommandRunner.run(["mkfs.ext4", "-q", "-F", "-L", "lab-guest", "-d", root, raw, Self.diskSize],
                              step: "\(step): mkfs.ext4", timeoutSeconds: 600)
        try fileManager.createDirectory(atPath: imageDirectory, withIntermediateDirectories: true)
        ImageManifest.invalidate(in: imageDirectory)
        let built = image(kernelRelease: kernel.release)
        // Converted in the work directory (same file system), then renamed: a cut-short
        // conversion never has the final name.
        let disk = "\(work)/disk.qcow2"
        try CommandRunner.run(["qemu-img", "convert", "-O", "qcow2", raw, disk],
                              step: "\(step): qemu-img convert", timeoutSeconds: 600)
        guard let diskPath = built.diskPath, rename(disk, diskPath) == 0 else {
            throw LabError(step: step, reason: "cannot move \(disk) to \(built.diskPath ?? "?"): \(String(cString: strerror(errno)))")
        }
        try makeInitramfs(at: built.initrdPath, initScript: Self.bootInitScript, busyboxPath: busyboxPath,
                          modules: moduleFiles, extraFiles: [], workDirectory: "\(work)/initramfs", step: step)
        try copyIntoPlace(kernel.imagePath, built.kernelPath)
        do {
            try AtomicFile.write(kernel.release + "\n", to: releasePath)
        } catch {
            throw LabError(step: step, reason: "\(error)")
        }
        try ImageManifest.record(files, in: imageDirectory)
        actions.append("built \(kind.summary) guest \(imageDirectory) (kernel \(kernel.release))")
        return built
    }
}
