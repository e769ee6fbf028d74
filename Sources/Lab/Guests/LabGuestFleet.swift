import Foundation

/// The guests of a lab with several (a host evacuation): guest I of N is `lab-guest-I` at
/// 198.18.1.(10+I) with its own MAC, tap, console log and memeater token (these follow from
/// its name); one guest alone stays `lab-guest` at 198.18.1.10, as always. Each guest's
/// configuration drives the lab's one-guest code (its domain XML, its memeater, its ping).
public enum LabGuestFleet {
    /// The most guests the guest network has addresses for: 198.18.1.11 to .99, below the
    /// client's 198.18.1.100.
    public static let maximumGuestCount = 89

    /// The lab's configuration for guest `index` (from 1) of `count`: `base` itself when
    /// `count` is 1; otherwise `lab-guest-INDEX`, its address, MAC and tap.
    public static func configuration(_ base: LabConfiguration, guest index: Int, of count: Int) -> LabConfiguration {
        count > 1 ? member(base, index: index) : base
    }

    /// The configuration of the guest named `name` (as ``GuestRecord/name`` records it):
    /// `base` for its own guest, `lab-guest-I` for guest I of a fleet; another name keeps
    /// `base`'s addresses under that name.
    public static func configuration(_ base: LabConfiguration, named name: String) -> LabConfiguration {
        let prefix = "\(base.guestName)-"
        if name.hasPrefix(prefix), let index = Int(name.dropFirst(prefix.count)), (1...maximumGuestCount).contains(index) {
            return member(base, index: index)
        }
        var named = base
        named.guestName = name
        return named
    }

    /// Guest `index` (from 1) of a fleet: `lab-guest-INDEX`, its address, MAC and tap.
    private static func member(_ base: LabConfiguration, index: Int) -> LabConfiguration {
        var guest = base
        guest.guestName = "\(base.guestName)-\(index)"
        guest.guestAddress = "198.18.1.\(10 + index)"
        guest.guestMACAddress = String(format: "52:54:00:c6:12:%02x", 0x0a + index)
        guest.guestTapName = "labtap\(index)"
        return guest
    }

    /// The recorded guests that belong to `fleet` (kept, if they are as asked) and the names of
    /// the others (a lab up with another guest count removes them).
    static func sort(recorded: [GuestRecord], into fleet: [LabConfiguration]) -> (members: [GuestRecord], others: [String]) {
        let names = Set(fleet.map(\.guestName))
        return (recorded.filter { names.contains($0.name) }, recorded.filter { !names.contains($0.name) }.map(\.name))
    }

    /// The configurations of all `count` guests, guest 1 first.
    public static func configurations(_ base: LabConfiguration, count: Int) -> [LabConfiguration] {
        (1...max(1, count)).map { configuration(base, guest: $0, of: count) }
    }

    /// The most guests of `guestMiB` this machine can migrate all at once: each needs two
    /// QEMUs of its size (source and incoming) with 256 MiB of QEMU's own each, beside the
    /// 512 MiB kept for the host (``GuestMemoryRange/hostReserveMiB`` for one guest), and the
    /// guest network's addresses bound it too.
    public static func maximumGuestCount(guestMiB: Int, range: GuestMemoryRange) -> Int {
        let perGuestMiB = 2 * (guestMiB + 256)
        let forGuestsMiB = range.hostMemTotalMiB - (GuestMemoryRange.hostReserveMiB - 2 * 256)
        return min(maximumGuestCount, max(0, forGuestsMiB / perGuestMiB))
    }

    /// Throws a one-line error unless `count` guests of `guestMiB` fit on this machine at once.
    public static func check(count: Int, guestMiB: Int, range: GuestMemoryRange) throws(GuestFleetTooLarge) {
        let most = maximumGuestCount(guestMiB: guestMiB, range: range)
        guard (1...max(1, most)).contains(count), most >= 1 else {
            throw GuestFleetTooLarge(requestedCount: count, guestMiB: guestMiB, maximumCount: most, hostMemTotalMiB: range.hostMemTotalMiB)
        }
    }
}

/// More lab guests than this machine can migrate at once, or than the guest network has addresses for.
public struct GuestFleetTooLarge: Error, Sendable, Equatable, CustomStringConvertible {
    public var requestedCount: Int
    public var guestMiB: Int
    /// The most that fit (0: not even one).
    public var maximumCount: Int
    public var hostMemTotalMiB: Int

    /// One line: how many fit and why.
    public var description: String {
        "--guest-count must be between 1 and \(maximumCount) for guests of \(guestMiB) MiB on this machine, not \(requestedCount): "
            + "each guest's migration runs two QEMUs of its size (with 256 MiB each for QEMU) beside 512 MiB for the host, of "
            + "\(hostMemTotalMiB) MiB (MemTotal), and the guest network has addresses for \(LabGuestFleet.maximumGuestCount)"
    }
}
