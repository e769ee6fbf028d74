#if canImport(Glibc)
import Glibc
#endif

/// Everything a live run needs. `validate()` checks it without sending or capturing anything.
public struct PingConfiguration: Sendable, Equatable {
    /// Shortest probe interval accepted, in microseconds. pingmon is built for 100 µs and up;
    /// shorter intervals are best effort (`sender.lateProbes` says whether they were kept).
    public static let minimumIntervalMicroseconds = 20
    /// Longest probe interval accepted, in microseconds (1 s).
    public static let maximumIntervalMicroseconds = 1_000_000

    /// The probed address, IPv4 or IPv6 (a link-local IPv6 address is taken on `interface`).
    public var target: IPAddress
    /// The interface to send from and capture on.
    public var interface: String
    /// Time between probes, in microseconds.
    public var intervalMicroseconds: Int
    /// Stop sending after this many seconds (nil: no limit).
    public var durationSeconds: Double?
    /// Stop after this many probes (nil: no limit).
    public var count: Int?
    /// Write every captured packet to this pcap file (nanosecond timestamps when offered).
    public var saveCapturePath: String?
    /// After the last probe, keep capturing this long for late replies, in milliseconds.
    public var lingerMilliseconds: Int
    /// List gaps between replies longer than this, in milliseconds (nil: 5 intervals).
    public var gapThresholdMilliseconds: Double?
    /// The target's MAC, to keep only its ARP/RARP frames (nil: learned from its replies).
    public var targetMAC: MACAddress?
    /// ICMP identifier of the probes (nil: random).
    public var identifier: UInt16?
    /// Kernel capture buffer, in bytes.
    public var captureBufferBytes: Int
    /// When set, the target must lie in one of these networks (an opt-in safety net); nil:
    /// any unicast address, the one the user names.
    public var allowedNetworks: [IPNetwork]?
    /// The checks that decide the verdict.
    public var verdict: VerdictCriteria

    public init(target: IPAddress, interface: String, intervalMicroseconds: Int = 1_000, durationSeconds: Double? = nil,
                count: Int? = nil, saveCapturePath: String? = nil, lingerMilliseconds: Int = 250,
                gapThresholdMilliseconds: Double? = nil, targetMAC: MACAddress? = nil, identifier: UInt16? = nil,
                captureBufferBytes: Int = 32 << 20, allowedNetworks: [IPNetwork]? = nil,
                verdict: VerdictCriteria = VerdictCriteria()) {
        self.target = target
        self.interface = interface
        self.intervalMicroseconds = intervalMicroseconds
        self.durationSeconds = durationSeconds
        self.count = count
        self.saveCapturePath = saveCapturePath
        self.lingerMilliseconds = lingerMilliseconds
        self.gapThresholdMilliseconds = gapThresholdMilliseconds
        self.targetMAC = targetMAC
        self.identifier = identifier
        self.captureBufferBytes = captureBufferBytes
        self.allowedNetworks = allowedNetworks
        self.verdict = verdict
    }

    /// A target pingmon can probe: any unicast address, inside `allowedNetworks` when a
    /// limit was asked for (nil: no limit). Refused: for IPv4 the unspecified, broadcast,
    /// multicast and class E addresses; for IPv6 `::`, multicast (ff00::/8) and IPv4-mapped
    /// addresses (::ffff:0:0/96). A link-local IPv6 address (fe80::/10) is accepted: pingmon
    /// always sends from one interface, which is its zone.
    public static func checkTarget(_ target: IPAddress, allowedNetworks: [IPNetwork]?) throws(PingMonitorError) {
        if case .v6(let address) = target, address.mappedIPv4Address != nil { throw .targetIPv4Mapped(target: address) }
        if let reason = target.notUnicastReason { throw .targetNotUnicast(target: target, reason: reason) }
        if let allowedNetworks, !allowedNetworks.contains(where: { $0.contains(target) }) {
            throw .targetNotAllowed(target: target, allowed: allowedNetworks)
        }
    }

    /// Checks every setting, and that the interface exists in this network namespace.
    public func validate() throws {
        try Self.checkTarget(target, allowedNetworks: allowedNetworks)
        guard (Self.minimumIntervalMicroseconds...Self.maximumIntervalMicroseconds).contains(intervalMicroseconds) else {
            throw PingMonitorError.intervalOutOfRange(microseconds: intervalMicroseconds, minimum: Self.minimumIntervalMicroseconds,
                                                      maximum: Self.maximumIntervalMicroseconds)
        }
        if let durationSeconds, !(durationSeconds > 0 && durationSeconds <= Self.maximumDurationSeconds) {
            throw PingMonitorError.invalidSetting(name: "duration", value: "\(durationSeconds) s",
                                                  expected: "must be more than 0 and at most \(Int(Self.maximumDurationSeconds)) seconds")
        }
        if let count, !(1...Self.maximumCount).contains(count) {
            throw PingMonitorError.invalidSetting(name: "count", value: "\(count)", expected: "must be between 1 and \(Self.maximumCount) probes")
        }
        guard (0...60_000).contains(lingerMilliseconds) else {
            throw PingMonitorError.invalidSetting(name: "linger", value: "\(lingerMilliseconds) ms", expected: "must be between 0 and 60000 ms")
        }
        try Self.checkMilliseconds(gapThresholdMilliseconds, name: "gap threshold")
        guard (1 << 16...1 << 30).contains(captureBufferBytes) else {
            throw PingMonitorError.invalidSetting(name: "capture buffer", value: "\(captureBufferBytes) bytes", expected: "must be between 64 KiB and 1 GiB")
        }
        try Self.checkMilliseconds(verdict.maximumDowntimeMilliseconds, name: "maximum downtime")
        try Self.checkInterfaceExists(interface)
    }

    /// The longest run: one year (its nanoseconds fit in `Int64` many times over).
    public static let maximumDurationSeconds = 31_536_000.0
    /// The most probes of one run (2^40: a year at the shortest interval is less); sequence
    /// arithmetic stays far from overflow.
    public static let maximumCount = 1 << 40
    /// The longest time setting in milliseconds (gap threshold, maximum downtime): one day,
    /// so that its nanoseconds fit in `Int64`.
    public static let maximumMillisecondsSetting = 86_400_000.0

    /// Throws `invalidSetting` unless `milliseconds` is absent or within 0...one day (NaN is not).
    public static func checkMilliseconds(_ milliseconds: Double?, name: String) throws(PingMonitorError) {
        guard let milliseconds else { return }
        guard milliseconds >= 0, milliseconds <= maximumMillisecondsSetting else {
            throw .invalidSetting(name: name, value: "\(milliseconds) ms", expected: "must be between 0 and \(Int(maximumMillisecondsSetting)) ms")
        }
    }

    /// Throws `interfaceNotFound` unless this network namespace has an interface of that name.
    public static func checkInterfaceExists(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count < Int(IFNAMSIZ), if_nametoindex(name) != 0 else {
            throw PingMonitorError.interfaceNotFound(name)
        }
    }

    /// Parses a target given on a command line: a numeric IPv4 or IPv6 address. An IPv6
    /// address with a zone (`fe80::1%eth0`) is refused with its own message: the zone is the
    /// interface pingmon is given.
    public static func parseTarget(_ text: String) throws(PingMonitorError) -> IPAddress {
        if let address = IPAddress(text) { return address }
        if let zone = text.firstIndex(of: "%"), IPv6Address(String(text[..<zone])) != nil { throw .targetHasZone(text) }
        throw .invalidTarget(text)
    }
}
