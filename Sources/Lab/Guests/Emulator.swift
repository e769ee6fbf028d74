import Foundation

/// Which `qemu-system-x86_64` runs the guest: the system's (QEMU 10 from
/// bookworm-backports), the private QEMU 7.2 (which loses dirty pages under TCG; kept as
/// the reproducer) or any binary given by path.
public enum EmulatorChoice: Sendable, Equatable, Codable, CustomStringConvertible {
    /// `/usr/bin/qemu-system-x86_64`.
    case system
    /// bookworm's QEMU 7.2, extracted from its .deb files into the lab's cache.
    case qemu72
    /// A `qemu-system-x86_64` at this path.
    case path(String)

    /// Parses a command-line name: `default`, `qemu-7.2`, or a path.
    public init(name: String) throws {
        switch name {
        case "default", "system", "qemu-10": self = .system
        case "qemu-7.2", "qemu72", "7.2": self = .qemu72
        default:
            guard name.hasPrefix("/") else {
                throw LabError(step: "choose the emulator",
                               reason: "unknown emulator '\(name)': use default, qemu-7.2 or the path of a qemu-system-x86_64")
            }
            self = .path(name)
        }
    }

    /// The short name shown in status and results.
    public var name: String {
        switch self {
        case .system: return "default"
        case .qemu72: return "qemu-7.2"
        case .path(let path): return path
        }
    }

    public var description: String { name }

    /// The binary, providing the private QEMU 7.2 first when it is chosen and missing.
    public func binaryPath(cacheDirectory: String, actions: inout [String]) throws -> String {
        switch self {
        case .system:
            guard let path = CommandRunner.locate("qemu-system-x86_64") else {
                throw LabError(step: "find the emulator", reason: "qemu-system-x86_64 is not installed (qemu-system-x86)")
            }
            return path
        case .qemu72:
            return try PrivateQEMU72(cacheDirectory: cacheDirectory).ensure(actions: &actions)
        case .path(let path):
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw LabError(step: "find the emulator", reason: "\(path) is not an executable")
            }
            return path
        }
    }

    /// The version the binary prints (`QEMU emulator version 10.0.2 (...)` → `10.0.2`).
    public static func version(of binary: String) -> String? {
        guard let result = try? CommandRunner.capture([binary, "--version"], step: "read the QEMU version", timeoutSeconds: 20),
              result.succeeded,
              let line = result.output.split(whereSeparator: \.isNewline).first(where: { $0.contains("version") }) else { return nil }
        let words = line.split(separator: " ")
        guard let index = words.firstIndex(of: "version"), index + 1 < words.count else { return nil }
        return String(words[index + 1])
    }
}

/// bookworm's QEMU 7.2 kept as a private binary: the .debs of qemu-system-x86 and the
/// files it loads (modules, ROMs, BIOS) are extracted into one folder of the cache, and
/// Debian's build finds them relative to its own binary.
struct PrivateQEMU72 {
    let cacheDirectory: String
    var directory: String { "\(cacheDirectory)/emulators/qemu-7.2" }
    var binary: String { "\(directory)/usr/bin/qemu-system-x86_64" }

    /// Whether the emulator has been extracted completely.
    var isPresent: Bool {
        FileManager.default.isExecutableFile(atPath: binary) && FileManager.default.fileExists(atPath: "\(directory)/.complete")
    }

    func ensure(actions: inout [String]) throws -> String {
        if isPresent { return binary }
        let step = "provide the private QEMU 7.2 emulator"
        func newest(_ package: String, prefix: String) throws -> String? {
            let policy = try CommandRunner.run(["apt-cache", "policy", package], step: step).output
            return policy.split(whereSeparator: \.isNewline).map { $0.replacingOccurrences(of: "***", with: "") }
                .compactMap { $0.split(separator: " ").first.map(String.init) }
                .first { $0.hasPrefix(prefix) }
        }
        var version = try newest("qemu-system-x86", prefix: "1:7.2")
        if version == nil {
            try CommandRunner.run(["apt-get", "update", "-qq"], step: step, timeoutSeconds: 300)
            version = try newest("qemu-system-x86", prefix: "1:7.2")
        }
        guard let version else {
            throw LabError(step: step, reason: "apt-cache policy qemu-system-x86 lists no 7.2 version (is bookworm configured?)")
        }
        // Each package pinned to its own newest 7.2 version (arch:all packages such as
        // qemu-system-data carry no binNMU suffix), plus bookworm's BIOS and NIC ROMs, which
        // Debian's 7.2 finds relative to its own binary.
        var packages = ["qemu-system-x86=\(version)"]
        for package in ["qemu-system-data", "qemu-system-common", "qemu-utils"] {
            guard let own = try newest(package, prefix: "1:7.2") else {
                throw LabError(step: step, reason: "apt-cache policy \(package) lists no 7.2 version")
            }
            packages.append("\(package)=\(own)")
        }
        if let seabios = try newest("seabios", prefix: "1.16.2") { packages.append("seabios=\(seabios)") }
        if let ipxe = try newest("ipxe-qemu", prefix: "1.0.0+git-2019") { packages.append("ipxe-qemu=\(ipxe)") }
        let fileManager = FileManager.default
        let work = "\(cacheDirectory)/emulators/download-\(getpid())"
        try? fileManager.removeItem(atPath: work)
        try fileManager.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? fileManager.removeItem(atPath: work) }
        try CommandRunner.run(["sh", "-c", "cd \(shellQuoted(work)) && apt-get download -q " + packages.map(shellQuoted).joined(separator: " ")],
                              step: step, timeoutSeconds: 600)
        try? fileManager.removeItem(atPath: directory)
        try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for deb in try fileManager.contentsOfDirectory(atPath: work) where deb.hasSuffix(".deb") {
            try CommandRunner.run(["dpkg", "-x", "\(work)/\(deb)", directory], step: step, timeoutSeconds: 120)
        }
        guard fileManager.isExecutableFile(atPath: binary) else {
            throw LabError(step: step, reason: "extracted the packages, but \(binary) is missing")
        }
        try version.write(toFile: "\(directory)/.complete", atomically: true, encoding: .utf8)
        actions.append("extracted QEMU \(version) into \(directory)")
        return binary
    }
}
