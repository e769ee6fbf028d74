import Foundation

/// The guest operating systems the lab can boot.
public enum GuestKind: String, Sendable, Codable, CaseIterable {
    /// Debian's kernel with a busybox initramfs that carries the static memeater.
    case initramfs
    /// A full Debian 12 guest (debootstrap into a disk image, systemd, memeater service).
    case debian
}

/// The Debian kernel the guests boot (not the host's kernel).
public struct GuestKernel: Sendable, Codable, Equatable {
    /// The kernel release, e.g. `6.1.0-56-amd64`.
    public var release: String
    /// The kernel image, e.g. `/boot/vmlinuz-6.1.0-56-amd64`.
    public var imagePath: String
    /// The kernel's module tree, e.g. `/lib/modules/6.1.0-56-amd64`.
    public var modulesDirectory: String

    /// The newest Debian kernel installed in /boot that has its modules (from the
    /// `linux-image-amd64` package).
    public static func installed() throws -> GuestKernel {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/boot")) ?? []
        let releases = names.filter { $0.hasPrefix("vmlinuz-") }.map { String($0.dropFirst("vmlinuz-".count)) }
            .filter { FileManager.default.fileExists(atPath: "/lib/modules/\($0)/kernel") }
            .sorted { $0.compare($1, options: .numeric) == .orderedAscending }
        guard let release = releases.last else {
            throw LabError(step: "find the guest kernel",
                           reason: "no /boot/vmlinuz-* with modules in /lib/modules (install linux-image-amd64)")
        }
        return GuestKernel(release: release, imagePath: "/boot/vmlinuz-\(release)",
                           modulesDirectory: "/lib/modules/\(release)")
    }
}

/// A bootable guest image: kernel, initrd and (for the Debian guest) a disk.
public struct GuestImage: Sendable, Codable, Equatable {
    public var kind: GuestKind
    public var kernelPath: String
    public var initrdPath: String
    /// The root disk of the Debian guest; `nil` for the initramfs guest.
    public var diskPath: String?
    /// The digest of every input: the image is rebuilt when it changes.
    public var inputsDigest: String
    /// The kernel release inside.
    public var kernelRelease: String
    /// Whether memeater is in the image (it is started by the guest's init when present).
    public var containsMemeater: Bool
}

/// Markers the guest prints on its serial console; the lab waits for them.
public enum GuestConsoleMarker {
    /// Printed when networking and memeater are up: `LAB-GUEST-READY ip=… bootid=…`.
    public static let ready = "LAB-GUEST-READY"
    /// Printed by the accelerator probe boot just before it powers off.
    public static let probeOK = "LAB-ACCEL-PROBE-OK"
    /// Printed when memeater is absent from the image.
    public static let noMemeater = "LAB-GUEST-NO-MEMEATER"
}

/// Builds (and caches) the minimal initramfs guest.
struct InitramfsGuestBuilder {
    let configuration: LabConfiguration
    /// The fully static memeater to put into the image, if there is one yet.
    let memeaterPath: String?
    var busyboxPath = "/bin/busybox"

    /// virtio-net and its dependencies, in load order (Debian's 6.1 kernel has them as modules).
    static let modules = ["failover", "net_failover", "virtio_ring", "virtio", "virtio_pci_modern_dev",
                          "virtio_pci_legacy_dev", "virtio_pci", "virtio_net"]

    /// The guest's /init: mounts, loads virtio-net, configures eth0 from the kernel command
    /// line (`lab.ip=ADDR/LEN`, `lab.ip6=ADDR/LEN`), announces itself with a gratuitous ARP, starts memeater in
    /// control mode (`lab.memeater_port`, `lab.memeater_size_mib`, the page pattern of
    /// ``MemeaterLoad/kernelArguments``, the control token of `lab.memeater_token` through a
    /// 0600 file, fault injection allowed for the lab's checks) and reports ready.
    static let initScript = #"""
    #!/bin/busybox sh
    /bin/busybox mkdir -p /proc /sys /dev /tmp /run /sbin /usr/bin /usr/sbin
    /bin/busybox --install -s
    export PATH=/bin:/sbin:/usr/bin:/usr/sbin
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev 2>/dev/null
    exec >/dev/console 2>&1 </dev/null
    echo "lab-guest: init started, kernel $(uname -r)"
    \#(GuestWorkloadScript.loadArgumentsFunction)
    for word in $(cat /proc/cmdline); do
        case "$word" in
            lab.ip=*) address="${word#lab.ip=}" ;;
            lab.ip6=*) address6="${word#lab.ip6=}" ;;
            lab.memeater_port=*) memeater_port="${word#lab.memeater_port=}" ;;
            lab.memeater_size_mib=*) memeater_size="${word#lab.memeater_size_mib=}" ;;
            lab.memeater_rate_mib_per_second=*) memeater_rate="${word#lab.memeater_rate_mib_per_second=}" ;;
            lab.memeater_token=*) memeater_token="${word#lab.memeater_token=}" ;;
            lab.probe=1) probe=1 ;;
        esac
    done
    if [ "$probe" = 1 ]; then
        echo "LAB-ACCEL-PROBE-OK"
        poweroff -f
    fi
    hostname lab-guest
    for module in failover net_failover virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_net; do
        [ -f "/lib/modules/$module.ko" ] && insmod "/lib/modules/$module.ko"
    done
    ip link set lo up
    tries=0
    while ! ip link show eth0 >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -gt 100 ]; then echo "LAB-GUEST-FAILED no eth0"; break; fi
        sleep 0.1
    done
    # The IPv6 address without DAD (its 1 s wait would hold back the first packets).
    [ -n "$address6" ] && echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad
    ip link set eth0 up
    [ -n "$address" ] && ip addr add "$address" dev eth0
    [ -n "$address6" ] && ip -6 addr add "$address6" dev eth0
    # Announce the guest's MAC on the switch (a stale entry from an earlier run would
    # otherwise swallow replies until it ages out).
    [ -n "$address" ] && arping -U -c 2 -I eth0 "${address%/*}" >/dev/null 2>&1 &
    if [ -x /bin/memeater ] && [ -n "$memeater_port" ] && [ -z "$memeater_token" ]; then
        # memeater serves nobody without a token: say so instead of waiting for a port that never opens.
        echo "LAB-GUEST-FAILED no lab.memeater_token on the kernel command line"
    fi
    if [ -x /bin/memeater ] && [ -n "$memeater_port" ] && [ -n "$memeater_token" ]; then
        # The token goes to memeater in a file only root reads, not on its command line (ps).
        ( umask 077; printf '%s\n' "$memeater_token" > /run/memeater.token )
        unset memeater_token
        set -- serve --port "$memeater_port" --size-mib "${memeater_size:-64}" --token-file /run/memeater.token --allow-fault-injection
        [ -n "$memeater_rate" ] && set -- "$@" --rate-mib-per-second "$memeater_rate"
        # The page pattern (lab.memeater_pattern and its hot-set shares); words, no spaces.
        set -- "$@" $(memeater_load_arguments $(cat /proc/cmdline))
        # Not restarted when it exits: a fresh memeater would hide lost pages.
        ( /bin/memeater "$@"; echo "LAB-GUEST-MEMEATER-EXITED status=$?" ) &
        echo "lab-guest: memeater $* started"
        # Ready means memeater listens (it first fills its region, which takes a while
        # under TCG): wait for its socket in /proc/net/tcp or tcp6 (state 0A = LISTEN).
        port_hex=$(printf '%04X' "$memeater_port")
        while ! grep -qsE ":$port_hex [0-9A-F]+:0000 0A" /proc/net/tcp /proc/net/tcp6; do
            sleep 0.2
        done
    else
        echo "LAB-GUEST-NO-MEMEATER"
    fi
    echo "LAB-GUEST-READY ip=${address%/*} bootid=$(cat /proc/sys/kernel/random/boot_id)"
    while true; do
        wait
        sleep 60
    done
    """#

    /// Returns the cached image for the current inputs, building it when missing.
    func ensure(actions: inout [String]) throws -> GuestImage {
        let step = "build the initramfs guest"
        let kernel = try GuestKernel.installed()
        guard FileManager.default.isExecutableFile(atPath: busyboxPath) else {
            throw LabError(step: step, reason: "\(busyboxPath) missing (install busybox-static)")
        }
        var moduleFiles: [String] = []
        for module in Self.modules {
            guard let path = findModule(module, in: kernel.modulesDirectory) else {
                throw LabError(step: step, reason: "module \(module) not found under \(kernel.modulesDirectory)")
            }
            moduleFiles.append(path)
        }
        let memeater = memeaterPath.flatMap { FileManager.default.isExecutableFile(atPath: $0) ? $0 : nil }
        let hashed = [kernel.imagePath, busyboxPath] + moduleFiles + (memeater.map { [$0] } ?? [])
        let digest = try inputsDigest(files: hashed, extra: Self.initScript + kernel.release)
        let imageDirectory = "\(configuration.cacheDirectory)/images/initramfs-\(digest.prefix(16))"
        let image = GuestImage(kind: .initramfs, kernelPath: "\(imageDirectory)/vmlinuz",
                               initrdPath: "\(imageDirectory)/initrd.img", diskPath: nil, inputsDigest: digest,
                               kernelRelease: kernel.release, containsMemeater: memeater != nil)
        let fileManager = FileManager.default
        let files = [image.kernelPath, image.initrdPath]
        // Existence is not enough: an interrupted build or copy leaves files that look complete.
        if ImageManifest.isIntact(files, in: imageDirectory) { return image }
        let build = "\(configuration.cacheDirectory)/images/build-\(getpid())"
        try fileManager.createDirectory(atPath: imageDirectory, withIntermediateDirectories: true)
        ImageManifest.invalidate(in: imageDirectory)
        try makeInitramfs(at: image.initrdPath, initScript: Self.initScript, busyboxPath: busyboxPath,
                          modules: Array(zip(Self.modules, moduleFiles)),
                          extraFiles: memeater.map { [($0, "bin/memeater")] } ?? [], workDirectory: build, step: step)
        try copyIntoPlace(kernel.imagePath, image.kernelPath)
        try ImageManifest.record(files, in: imageDirectory)
        actions.append("built initramfs guest \(imageDirectory) (memeater \(memeater != nil ? "included" : "absent"))")
        return image
    }
}

/// Copies `source` to a temporary name beside `destination`, then renames it there: a copy
/// cut short never has the final name.
func copyIntoPlace(_ source: String, _ destination: String) throws {
    let partial = destination + ".partial"
    try? FileManager.default.removeItem(atPath: partial)
    try FileManager.default.copyItem(atPath: source, toPath: partial)
    guard rename(partial, destination) == 0 else {
        throw LabError(step: "copy \(source) to \(destination)", reason: "rename: \(String(cString: strerror(errno)))")
    }
}

/// Writes a gzip'ed newc cpio with busybox, `/init`, the given modules (as
/// `/lib/modules/NAME.ko`, decompressed) and extra files (source path, path in the image).
func makeInitramfs(at output: String, initScript: String, busyboxPath: String, modules: [(name: String, path: String)],
                   extraFiles: [(source: String, target: String)], workDirectory build: String, step: String) throws {
    let fileManager = FileManager.default
    try? fileManager.removeItem(atPath: build)
    defer { try? fileManager.removeItem(atPath: build) }
    let root = "\(build)/root"
    for sub in ["bin", "sbin", "dev", "proc", "sys", "tmp", "run", "lib/modules", "etc", "newroot"] {
        try fileManager.createDirectory(atPath: "\(root)/\(sub)", withIntermediateDirectories: true)
    }
    try fileManager.copyItem(atPath: busyboxPath, toPath: "\(root)/bin/busybox")
    try initScript.write(toFile: "\(root)/init", atomically: true, encoding: .utf8)
    try fileManager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(root)/init")
    for (source, target) in extraFiles {
        try fileManager.copyItem(atPath: source, toPath: "\(root)/\(target)")
    }
    for (module, path) in modules {
        let target = "\(root)/lib/modules/\(module).ko"
        if path.hasSuffix(".ko.xz") {
            try CommandRunner.run(["sh", "-c", "xz -dc \(shellQuoted(path)) > \(shellQuoted(target))"], step: step)
        } else if path.hasSuffix(".ko.zst") {
            try CommandRunner.run(["sh", "-c", "zstd -qdc \(shellQuoted(path)) > \(shellQuoted(target))"], step: step)
        } else {
            try fileManager.copyItem(atPath: path, toPath: target)
        }
    }
    try CommandRunner.run(["mknod", "-m", "600", "\(root)/dev/console", "c", "5", "1"], step: step)
    try CommandRunner.run(["sh", "-c", "cd \(shellQuoted(root)) && find . | cpio -o -H newc --quiet | gzip -1 > ../initrd.img"],
                          step: step, timeoutSeconds: 300)
    try? fileManager.removeItem(atPath: output)
    try fileManager.moveItem(atPath: "\(build)/initrd.img", toPath: output)
}

/// The path of a kernel module (`NAME.ko`, `.ko.xz` or `.ko.zst`) under a module tree.
func findModule(_ name: String, in directory: String) -> String? {
    guard let enumerator = FileManager.default.enumerator(atPath: "\(directory)/kernel") else { return nil }
    for case let relative as String in enumerator {
        let file = (relative as NSString).lastPathComponent
        if file == "\(name).ko" || file == "\(name).ko.xz" || file == "\(name).ko.zst" {
            return "\(directory)/kernel/\(relative)"
        }
    }
    return nil
}

/// SHA-256 over the contents of `files` plus `extra`, as hex (via `sha256sum`).
func inputsDigest(files: [String], extra: String) throws -> String {
    let listing = files.isEmpty ? "" :
        try CommandRunner.run(["sha256sum"] + files, step: "hash image inputs", timeoutSeconds: 120).output
    let combined = try CommandRunner.run(["sha256sum"], step: "hash image inputs", input: listing + extra).output
    return String(combined.prefix { $0 != " " })
}
