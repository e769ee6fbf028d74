import Foundation

/// The guest RAM sizes a lab on this machine can migrate: at least ``minimumMiB``, and at
/// most what lets two QEMUs of that size run at once, since during a migration the source's
/// QEMU and the destination's incoming QEMU both hold the guest's RAM on the one machine.
///
/// Both `migverify lab up` and the lab path of `migverify run` check `--memory-mib` with it.
/// A guest on real hosts is not bounded by this machine's memory (see ``realHostBoundsMiB``).
public struct GuestMemoryRange: Sendable, Equatable {
    /// The smallest guest RAM the lab's guests boot with memeater in, in MiB.
    public static let minimumMiB = 64
    /// What the machine keeps besides the two guests' RAM, in MiB: 512 MiB for the host
    /// (its kernel, two libvirt daemons, two sshd, pingmon and the verifier) and 256 MiB per
    /// QEMU for what QEMU allocates beyond guest RAM (TCG's translation cache, device models).
    public static let hostReserveMiB = 512 + 2 * 256
    /// A sanity bound for guests on real hosts, whose RAM this machine does not hold: 64 MiB
    /// to 1 TiB.
    public static let realHostBoundsMiB: ClosedRange<Int> = minimumMiB...1_048_576

    /// The machine's `MemTotal`, in MiB.
    public let hostMemTotalMiB: Int

    /// The range for a machine with `hostMemTotalMiB` of RAM (`MemTotal`).
    public init(hostMemTotalMiB: Int) {
        self.hostMemTotalMiB = hostMemTotalMiB
    }

    /// The largest guest: (`MemTotal` − ``hostReserveMiB``) / 2, in MiB.
    public var maximumMiB: Int { (hostMemTotalMiB - Self.hostReserveMiB) / 2 }

    /// The sizes that fit, in MiB; `nil` when not even a ``minimumMiB`` guest fits twice.
    public var rangeMiB: ClosedRange<Int>? {
        maximumMiB >= Self.minimumMiB ? Self.minimumMiB...maximumMiB : nil
    }

    /// Whether a guest of `memoryMiB` fits.
    public func contains(_ memoryMiB: Int) -> Bool {
        rangeMiB?.contains(memoryMiB) ?? false
    }

    /// Throws a one-line error naming the range and why, unless a guest of `memoryMiB` fits.
    public func check(_ memoryMiB: Int) throws(GuestMemoryOutOfRange) {
        if !contains(memoryMiB) { throw GuestMemoryOutOfRange(requestedMiB: memoryMiB, range: self) }
    }

    /// The range of this machine, from `MemTotal` in `meminfo` (default: `/proc/meminfo`);
    /// `nil` if it cannot be read.
    public static func ofThisMachine(
        meminfo: String? = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
    ) -> GuestMemoryRange? {
        guard let meminfo else { return nil }
        for line in meminfo.split(separator: "\n") where line.hasPrefix("MemTotal:") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, let kib = Int(fields[1]) { return GuestMemoryRange(hostMemTotalMiB: kib / 1024) }
        }
        return nil
    }
}

/// A guest too small, or too large for two QEMUs of its size to fit on this machine.
public struct GuestMemoryOutOfRange: Error, Sendable, Equatable, CustomStringConvertible {
    /// The guest RAM asked for, in MiB.
    public var requestedMiB: Int
    /// The range it is outside of.
    public var range: GuestMemoryRange

    /// One line: the range, the size asked for, and how the range follows from the machine.
    public var description: String {
        let why = "a migration on the lab runs two QEMUs of the guest's size on this machine, which has "
            + "\(range.hostMemTotalMiB) MiB (MemTotal) less \(GuestMemoryRange.hostReserveMiB) MiB kept for the host and QEMU's overhead"
        guard let bounds = range.rangeMiB else {
            return "no guest of \(requestedMiB) MiB or any other size fits: \(why)"
        }
        return "guest RAM must be between \(bounds.lowerBound) and \(bounds.upperBound) MiB on this machine, "
            + "not \(requestedMiB) MiB: \(why)"
    }
}
