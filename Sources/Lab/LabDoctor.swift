import Foundation

/// One finding of `lab doctor`.
public struct DoctorFinding: Sendable, Codable {
    /// What was checked.
    public var check: String
    /// `ok`, `warning` or `missing`.
    public var verdict: Verdict
    /// What was found, in one line.
    public var detail: String

    public enum Verdict: String, Sendable, Codable {
        /// Present and usable.
        case ok
        /// Usable, but with a known issue or a fallback (e.g. no KVM: TCG).
        case warning
        /// Absent: the lab needs it.
        case missing
    }
}

extension Lab {
    /// The Debian packages the lab uses (installed by scripts/lib/lab.sh).
    public static let requiredPackages = [
        "qemu-system-x86", "qemu-utils", "seabios", "ipxe-qemu", "libvirt-daemon", "libvirt-daemon-driver-qemu",
        "libvirt-clients", "libvirt-dev", "linux-image-amd64", "busybox-static", "cpio", "iproute2", "nftables",
        "iputils-ping", "openssh-server", "openssh-client", "debootstrap", "e2fsprogs", "xz-utils",
        // The verifier captures the destination's migration ports with it (stream-encrypted).
        "tcpdump",
        // certtool: the lab's CA and each host's migration certificates (TLS).
        "gnutls-bin",
    ]

    /// What this machine can do for the lab: packages, versions and their known issues,
    /// KVM, the guest kernel, memeater, the private QEMU 7.2.
    public func doctor() -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        func add(_ check: String, _ verdict: DoctorFinding.Verdict, _ detail: String) {
            findings.append(DoctorFinding(check: check, verdict: verdict, detail: detail))
        }
        add("root", getuid() == 0 ? .ok : .missing, getuid() == 0 ? "running as root" : "the lab needs root")
        for package in Self.requiredPackages {
            let result = try? CommandRunner.capture(["dpkg-query", "-W", "-f=${Status} ${Version}", package],
                                                    step: "look up \(package)")
            let words = result?.output.split(separator: " ") ?? []
            if result?.succeeded == true, words.count >= 4, words[2] == "installed" {
                add("package \(package)", .ok, String(words[3]))
            } else {
                add("package \(package)", .missing, "not installed (scripts/lib/lab.sh ensure_lab_packages installs it)")
            }
        }
        let sources = ((try? FileManager.default.contentsOfDirectory(atPath: "/etc/apt/sources.list.d")) ?? [])
            .map { "/etc/apt/sources.list.d/\($0)" } + ["/etc/apt/sources.list"]
        let backports = sources.contains { (try? String(contentsOfFile: $0, encoding: .utf8))?.contains("bookworm-backports") ?? false }
        add("apt suite bookworm-backports", backports ? .ok : .missing,
            backports ? "configured" : "not configured (needed for QEMU 10 and libvirt 11)")

        if let qemu = CommandRunner.locate("qemu-system-x86_64"), let version = EmulatorChoice.version(of: qemu) {
            let old = version.hasPrefix("7.") || version.hasPrefix("8.")
            add("QEMU (default emulator)", old ? .warning : .ok,
                "\(version) at \(qemu)" + (old ? "; known issue: under TCG this QEMU loses dirty pages during migration when guest RAM is a multiple of 256 KiB (fixed in 9.x)" : ""))
        } else {
            add("QEMU (default emulator)", .missing, "qemu-system-x86_64 not found")
        }
        let private72 = PrivateQEMU72(cacheDirectory: configuration.cacheDirectory)
        add("QEMU 7.2 (emulator qemu-7.2)", private72.isPresent ? .ok : .warning,
            private72.isPresent ? "\(EmulatorChoice.version(of: private72.binary) ?? "?") at \(private72.binary); known issue: loses dirty pages under TCG (the bug the verifier must catch)"
                : "not extracted yet; `lab up --emulator qemu-7.2` provides it")
        if let libvirtd = try? CommandRunner.capture(["libvirtd", "--version"], step: "read the libvirt version"), libvirtd.succeeded {
            add("libvirt", .ok, libvirtd.output.trimmingCharacters(in: .whitespacesAndNewlines))
        } else {
            add("libvirt", .missing, "libvirtd not found")
        }

        let kvmExists = FileManager.default.fileExists(atPath: "/dev/kvm")
        let flags = AcceleratorProbe.virtualisationFlags()
        add("/dev/kvm", kvmExists ? .ok : .warning,
            (kvmExists ? "present" : "absent") + "; CPU flags: \(flags.isEmpty ? "none" : flags); KVM modules: \(AcceleratorProbe.kvmModules())")
        let probeCache = FileManager.default.contents(atPath: AcceleratorProbe(configuration: configuration).cachePath)
            .flatMap { try? JSONDecoder().decode(AcceleratorProbe.Cache.self, from: $0) } ?? [:]
        if probeCache.isEmpty {
            add("accelerator", .warning, "not probed yet; `lab up` boots the guest kernel under KVM for a bounded time and falls back to TCG")
        }
        for (key, decision) in probeCache.sorted(by: { $0.key < $1.key }) {
            let emulator = key.split(separator: "|").prefix(2).joined(separator: " ")
            add("accelerator for \(emulator)", decision.accelerator == .kvm ? .ok : .warning,
                "\(decision.accelerator.rawValue): \(decision.reason)")
        }
        if let kernel = try? GuestKernel.installed() {
            add("initramfs guest kernel", .ok, "\(kernel.release) (\(kernel.imagePath)); the Debian guests boot their own release's kernel")
        } else {
            add("initramfs guest kernel", .missing, "no Debian kernel in /boot (linux-image-amd64)")
        }
        add("busybox (static)", FileManager.default.isExecutableFile(atPath: "/bin/busybox") ? .ok : .missing, "/bin/busybox")
        if let memeater = MemeaterBinary.find() {
            add("memeater (static)", .ok, memeater)
        } else {
            add("memeater (static)", .warning, "no static build found; scripts/main.sh builds it (build_static_memeater)")
        }
        let status = labNamespacesPresent()
        add("lab", .ok, status.isEmpty ? "not up" : "namespaces present: \(status.joined(separator: ", "))")
        return findings
    }
}
