import Foundation

/// Builds (and caches) the minimal initramfs guest.
struct InitramfsGuestBuilder {
    let configuration: LabConfiguration
    /// The fully static memeater to put into the image, if there is one yet.
    let memeaterPath: String?
    var busyboxPath = "/bin/busybox"

    /// virtio-net and what it needs, in load order (Debian's kernels have them as modules);
    /// ``KernelModuleTree/loadOrder(for:)`` adds what `modules.dep` says they need besides.
    /// `virtio_pci_modern_dev` and `virtio_pci_legacy_dev` appeared after 5.10.
    static let modules: [BootModule] = [
        .optional("failover"), .optional("net_failover"), .required("virtio_ring"), .required("virtio"),
        .optional("virtio_pci_modern_dev"), .optional("virtio_pci_legacy_dev"), .required("virtio_pci"), .required("virtio_net"),
        // The firmware configuration entries in sysfs: memeater's token comes that way.
        .required("qemu_fw_cfg"),
    ]

    /// The guest's /init: mounts, loads virtio-net, configures eth0 from the kernel command
    /// line (`lab.ip=ADDR/LEN`, `lab.ip6=ADDR/LEN`), announces itself with a gratuitous ARP, starts memeater in
    /// control mode (`lab.memeater_port`, `lab.memeater_size_mib`, the page pattern of
    /// ``MemeaterLoad/kernelArguments``, the control token from the firmware configuration
    /// entry through a 0600 file, fault injection allowed for the lab's checks) and reports ready.
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
    \#(GuestWorkloadScript.takeTokenFunction)
    \#(GuestWorkloadScript.bindArgumentsFunction)
    for word in $(cat /proc/cmdline); do
        case "$word" in
            lab.ip=*) address="${word#lab.ip=}" ;;
            lab.ip6=*) address6="${word#lab.ip6=}" ;;
            lab.memeater_port=*) memeater_port="${word#lab.memeater_port=}" ;;
            lab.memeater_size_mib=*) memeater_size="${word#lab.memeater_size_mib=}" ;;
            lab.memeater_rate_mib_per_second=*) memeater_rate="${word#lab.memeater_rate_mib_per_second=}" ;;
            lab.probe=1) probe=1 ;;
        esac
    done
    if [ "$probe" = 1 ]; then
        echo "LAB-ACCEL-PROBE-OK"
        poweroff -f
    fi
    hostname lab-guest
    # The modules, in load order (written when the image was built, for its kernel).
    for module in $(cat /lib/modules/load-order); do
        insmod "/lib/modules/$module.ko" || echo "lab-guest: insmod $module failed"
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
    if [ -x /bin/memeater ] && [ -n "$memeater_port" ] && ! memeater_take_token; then
        # memeater serves nobody without a token: say so instead of waiting for a port that never opens.
        echo "LAB-GUEST-FAILED no memeater token in the firmware configuration (\#(GuestDomainDefinition.memeaterTokenFirmwareEntry))"
        memeater_port=
    fi
    if [ -x /bin/memeater ] && [ -n "$memeater_port" ]; then
        # The token goes to memeater in a file only root reads, not on its command line (ps).
        set -- serve --port "$memeater_port" --size-mib "${memeater_size:-64}" --token-file /run/memeater.token --allow-fault-injection
        # Only on the guest network's addresses, not on every address of the guest.
        set -- "$@" $(memeater_bind_arguments $(cat /proc/cmdline))
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
        let moduleFiles = try resolveModules(Self.modules, in: kernel, step: step)
        let memeater = memeaterPath.flatMap { FileManager.default.isExecutableFile(atPath: $0) ? $0 : nil }
        let hashed = [kernel.imagePath, busyboxPath] + moduleFiles.map(\.path) + (memeater.map { [$0] } ?? [])
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
                          modules: moduleFiles,
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

/// The module files of `modules` for `kernel`, in load order (``KernelModuleTree``).
/// - Throws: ``LabError`` naming the module a required one is missing.
func resolveModules(_ modules: [BootModule], in kernel: GuestKernel, step: String) throws -> [(name: String, path: String)] {
    do {
        return try KernelModuleTree.read(directory: kernel.modulesDirectory).loadOrder(for: modules)
    } catch let error as ModuleResolutionError {
        throw LabError(step: step, reason: error.description)
    }
}

/// Writes a gzip'ed newc cpio with busybox, `/init`, the given modules (as
/// `/lib/modules/NAME.ko`, decompressed, with their names in load order in
/// `/lib/modules/load-order`) and extra files (source path, path in the image).
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
        try installModule(from: path, to: "\(root)/lib/modules/\(module).ko", step: step)
    }
    try modules.map { "\($0.name)\n" }.joined().write(toFile: "\(root)/lib/modules/load-order", atomically: true, encoding: .utf8)
    try CommandRunner.run(["mknod", "-m", "600", "\(root)/dev/console", "c", "5", "1"], step: step)
    try CommandRunner.run(["sh", "-c", "cd \(shellQuoted(root)) && find . | cpio -o -H newc --quiet | gzip -1 > ../initrd.img"],
                          step: step, timeoutSeconds: 300)
    try? fileManager.removeItem(atPath: output)
    try fileManager.moveItem(atPath: "\(build)/initrd.img", toPath: output)
}

/// SHA-256 over the contents of `files` plus `extra`, as hex (via `sha256sum`).
func inputsDigest(files: [String], extra: String) throws -> String {
    let listing = files.isEmpty ? "" :
        try CommandRunner.run(["sha256sum"] + files, step: "hash image inputs", timeoutSeconds: 120).output
    let combined = try CommandRunner.run(["sha256sum"], step: "hash image inputs", input: listing + extra).output
    return String(combined.prefix { $0 != " " })
}
