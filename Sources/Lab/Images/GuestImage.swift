import Foundation

/// The guest operating systems the lab can boot.
///
/// The raw values are what results, sweep matrices, image directories and `lab.json` store;
/// `debian` is Debian 12 (its name from before there were other Debian guests), and
/// `debian12` is accepted for it on input (``init(name:)``).
public enum GuestKind: String, Sendable, Codable, CaseIterable {
    /// The host's Debian kernel with a busybox initramfs that carries the static memeater.
    case initramfs
    /// A full Debian 11 (bullseye) guest with its own kernel (5.10).
    case debian11
    /// A full Debian 12 (bookworm) guest with its own kernel (6.1).
    case debian
    /// A full Debian 13 (trixie) guest with its own kernel (6.12).
    case debian13

    /// The Debian release of a full Debian guest (debootstrap, systemd, a disk); `nil` for
    /// the initramfs guest.
    public var debianRelease: DebianRelease? {
        switch self {
        case .initramfs: return nil
        case .debian11: return .bullseye
        case .debian: return .bookworm
        case .debian13: return .trixie
        }
    }

    /// What the guest is, in words: "busybox initramfs", "Debian 11 (bullseye)".
    public var summary: String {
        debianRelease.map { "Debian \($0.version) (\($0.rawValue))" } ?? "busybox initramfs"
    }

    /// Other names accepted on input, by the kind they stand for.
    public static let aliases: [String: GuestKind] = ["debian12": .debian]

    /// The kind a name or alias (``aliases``) stands for: `debian12` is `debian`.
    public init?(name: String) {
        guard let kind = GuestKind(rawValue: name) ?? Self.aliases[name] else { return nil }
        self = kind
    }
}

/// A Debian release a full Debian guest is debootstrapped from, by its suite name.
public enum DebianRelease: String, Sendable, Codable, CaseIterable {
    /// Debian 11.
    case bullseye
    /// Debian 12.
    case bookworm
    /// Debian 13.
    case trixie

    /// The release's number: 11, 12, 13.
    public var version: Int {
        switch self {
        case .bullseye: return 11
        case .bookworm: return 12
        case .trixie: return 13
        }
    }
}

/// A Debian kernel a guest boots: the host's (initramfs guest) or the one installed in a
/// Debian guest's own root (each Debian guest boots its release's kernel).
public struct GuestKernel: Sendable, Codable, Equatable {
    /// The kernel release, e.g. `6.1.0-56-amd64`.
    public var release: String
    /// The kernel image, e.g. `/boot/vmlinuz-6.1.0-56-amd64`.
    public var imagePath: String
    /// The kernel's module tree, e.g. `/lib/modules/6.1.0-56-amd64`.
    public var modulesDirectory: String

    /// The newest Debian kernel installed in the host's /boot that has its modules (from the
    /// `linux-image-amd64` package).
    public static func installed() throws -> GuestKernel {
        try newest(inRoot: "")
    }

    /// The newest kernel in `ROOT/boot` that has its modules in `ROOT/lib/modules` (`""`: the
    /// host; a debootstrapped root: that system's own kernel).
    public static func newest(inRoot root: String) throws -> GuestKernel {
        let boot = "\(root)/boot"
        // No /boot at all is the missing package below; a /boot that cannot be read says why.
        var names: [String] = []
        if FileManager.default.fileExists(atPath: boot) {
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: boot)
            } catch {
                throw LabError(step: "find the guest kernel", reason: "cannot read \(boot): \(error)")
            }
        }
        guard let release = newestRelease(vmlinuzNames: names, hasModules: {
            FileManager.default.fileExists(atPath: "\(root)/lib/modules/\($0)/modules.dep")
        }) else {
            throw LabError(step: "find the guest kernel",
                           reason: "no \(root)/boot/vmlinuz-* with modules in \(root)/lib/modules (install linux-image-amd64)")
        }
        return GuestKernel(release: release, imagePath: "\(root)/boot/vmlinuz-\(release)",
                           modulesDirectory: "\(root)/lib/modules/\(release)")
    }

    /// The newest release among `vmlinuz-RELEASE` file names whose modules exist, by numeric
    /// comparison (`6.1.0-10` after `6.1.0-9`).
    static func newestRelease(vmlinuzNames names: [String], hasModules: (String) -> Bool) -> String? {
        names.filter { $0.hasPrefix("vmlinuz-") }.map { String($0.dropFirst("vmlinuz-".count)) }
            .filter(hasModules)
            .max { $0.compare($1, options: .numeric) == .orderedAscending }
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
