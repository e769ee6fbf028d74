/// An IPv4 address, held as the 32-bit value in host byte order (198.18.10.2 is 0xC6120A02).
public struct IPv4Address: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// The address as a number: the first octet in the top byte.
    public var value: UInt32

    /// The address with this numeric value (first octet in the top byte).
    public init(value: UInt32) {
        self.value = value
    }

    /// Parses a dotted quad such as `198.18.10.2`; nil for anything else (names are not resolved,
    /// so that giving a target never causes DNS traffic).
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let octet = UInt32(part), octet <= 255 else { return nil }
            value = value << 8 | octet
        }
        self.value = value
    }

    /// Reads four bytes in network order.
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Why this address cannot be probed as a host (unspecified, broadcast, multicast or
    /// reserved class E); nil for a unicast address.
    public var notUnicastReason: String? {
        switch value >> 24 {
        case _ where value == 0: "the unspecified address"
        case _ where value == UInt32.max: "the broadcast address"
        case 224...239: "a multicast address"
        case 240...255: "a reserved (class E) address"
        default: nil
        }
    }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
    }

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.value < rhs.value }
}

/// An IPv4 network in CIDR form, such as `198.18.0.0/15`.
public struct IPv4Network: Hashable, Sendable, CustomStringConvertible {
    /// The first address of the network (host bits cleared).
    public var address: IPv4Address
    /// Length of the network prefix in bits, 0 to 32.
    public var prefixLength: Int

    /// The network `address/prefixLength`; host bits of `address` are cleared.
    public init(address: IPv4Address, prefixLength: Int) {
        let length = max(0, min(32, prefixLength))
        self.prefixLength = length
        self.address = IPv4Address(value: address.value & IPv4Network.mask(length))
    }

    /// Parses `A.B.C.D/N` (a bare address means /32); nil when malformed.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let address = IPv4Address(String(parts[0])) else { return nil }
        var length = 32
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), (0...32).contains(parsed), parts[1].allSatisfy(\.isNumber) else { return nil }
            length = parsed
        }
        self.init(address: address, prefixLength: length)
    }

    /// True when `candidate` lies inside this network.
    public func contains(_ candidate: IPv4Address) -> Bool {
        candidate.value & IPv4Network.mask(prefixLength) == address.value
    }

    public var description: String { "\(address)/\(prefixLength)" }

    /// The networks the project's own tests, benchmarks and lab send to: the benchmarking
    /// range 198.18.0.0/15 (RFC 2544) and loopback. Not a default of pingmon, which probes
    /// whatever unicast address its user names; `--allowed-networks` can opt into a limit.
    public static let projectTestNetworks: [IPv4Network] = [
        IPv4Network(address: IPv4Address(198, 18, 0, 0), prefixLength: 15),
        IPv4Network(address: IPv4Address(127, 0, 0, 0), prefixLength: 8),
    ]

    private static func mask(_ length: Int) -> UInt32 {
        length == 0 ? 0 : UInt32.max << UInt32(32 - length)
    }
}

/// A 48-bit Ethernet (MAC) address.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The six octets, first octet in the top byte of the low 48 bits.
    public var value: UInt64

    /// The address with this numeric value (only the low 48 bits are kept).
    public init(value: UInt64) {
        self.value = value & 0xFFFF_FFFF_FFFF
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (or with `-`); nil when malformed.
    public init?(_ text: String) {
        let parts = text.split(whereSeparator: { $0 == ":" || $0 == "-" })
        guard parts.count == 6 else { return nil }
        var value: UInt64 = 0
        for part in parts {
            guard part.count == 2, let octet = UInt8(part, radix: 16) else { return nil }
            value = value << 8 | UInt64(octet)
        }
        self.value = value
    }

    public var description: String {
        (0..<6).map { index in
            let octet = UInt8(truncatingIfNeeded: value >> UInt64(40 - 8 * index))
            let digits = String(octet, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined(separator: ":")
    }
}

/// An IPv6 address, held as two 64-bit halves in host byte order (`2001:2::1` is high
/// 0x2001_0002_0000_0000, low 1).
public struct IPv6Address: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// The first 64 bits: the first byte on the wire in the top byte.
    public var high: UInt64
    /// The last 64 bits.
    public var low: UInt64

    /// The address with these halves (first byte on the wire in the top byte of `high`).
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The address of 16 bytes in network order; nil unless exactly 16 are given.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        high = bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        low = bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The eight 16-bit groups, first on the wire first.
    public var groups: [UInt16] {
        (0..<8).map { index in
            let half = index < 4 ? high : low
            return UInt16(truncatingIfNeeded: half >> UInt64(48 - 16 * (index % 4)))
        }
    }

    /// The 16 bytes in network order.
    public var bytes: [UInt8] {
        (0..<16).map { index in UInt8(truncatingIfNeeded: (index < 8 ? high : low) >> UInt64(56 - 8 * (index % 8))) }
    }

    /// Parses the text forms of RFC 4291 section 2.2: eight groups of one to four hex digits,
    /// `::` for one or more groups of zeros, and a dotted quad as the last 32 bits
    /// (`::ffff:198.18.0.1`). nil for anything else, including a zone (`fe80::1%eth0`) and
    /// brackets; names are not resolved.
    public init?(_ text: String) {
        guard !text.isEmpty, text.utf8.count <= 45 else { return nil }
        var halves: [String] = []
        if let gap = text.firstRange(of: "::") {
            halves = [String(text[..<gap.lowerBound]), String(text[gap.upperBound...])]
            guard !halves[1].contains("::") else { return nil }
        } else {
            halves = [text]
        }
        func parseGroups(_ part: String, allowIPv4Tail: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            var groups: [UInt16] = []
            for (index, field) in fields.enumerated() {
                if index == fields.count - 1, allowIPv4Tail, field.contains(".") {
                    guard let ipv4 = IPv4Address(String(field)) else { return nil }
                    groups += [UInt16(ipv4.value >> 16), UInt16(ipv4.value & 0xFFFF)]
                    continue
                }
                guard (1...4).contains(field.count), field.allSatisfy(\.isHexDigit), field.allSatisfy(\.isASCII),
                      let group = UInt16(field, radix: 16) else { return nil }
                groups.append(group)
            }
            return groups
        }
        var groups: [UInt16]
        if halves.count == 2 {
            guard let head = parseGroups(halves[0], allowIPv4Tail: false),
                  let tail = parseGroups(halves[1], allowIPv4Tail: true), head.count + tail.count <= 7 else { return nil }
            groups = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard let all = parseGroups(text, allowIPv4Tail: true), all.count == 8 else { return nil }
            groups = all
        }
        high = groups[0..<4].reduce(0) { $0 << 16 | UInt64($1) }
        low = groups[4..<8].reduce(0) { $0 << 16 | UInt64($1) }
    }

    /// The IPv4 address of an IPv4-mapped address (`::ffff:0:0/96`, RFC 4291 section 2.5.5.2),
    /// nil for any other.
    public var mappedIPv4Address: IPv4Address? {
        high == 0 && low >> 32 == 0xFFFF ? IPv4Address(value: UInt32(truncatingIfNeeded: low)) : nil
    }

    /// True for a link-local unicast address (fe80::/10), which has a meaning only on one link:
    /// pingmon takes that link to be its interface.
    public var isLinkLocal: Bool { high >> 54 == 0x3FA }

    /// Why this address cannot be probed as a host (unspecified or multicast); nil for a
    /// unicast address. IPv4-mapped addresses are unicast here; ``PingConfiguration/checkTarget(_:allowedNetworks:)``
    /// refuses them separately.
    public var notUnicastReason: String? {
        if high == 0 && low == 0 { return "the unspecified address" }
        if high >> 56 == 0xFF { return "a multicast address" }
        return nil
    }

    /// The text form of RFC 5952: lower case, no leading zeros, the longest run of two or more
    /// zero groups (the first of equal runs) as `::`, and IPv4-mapped addresses as `::ffff:a.b.c.d`.
    public var description: String {
        if let ipv4 = mappedIPv4Address { return "::ffff:\(ipv4)" }
        let groups = self.groups
        var bestStart = -1, bestLength = 0, index = 0
        while index < 8 {
            guard groups[index] == 0 else { index += 1; continue }
            var end = index
            while end < 8 && groups[end] == 0 { end += 1 }
            if end - index > bestLength { bestStart = index; bestLength = end - index }
            index = end
        }
        func text(_ range: Range<Int>) -> String { groups[range].map { String($0, radix: 16) }.joined(separator: ":") }
        guard bestLength >= 2 else { return text(0..<8) }
        return text(0..<bestStart) + "::" + text(bestStart + bestLength..<8)
    }

    public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool { (lhs.high, lhs.low) < (rhs.high, rhs.low) }
}

/// An IPv6 prefix in CIDR form, such as `2001:2::/48`.
public struct IPv6Network: Hashable, Sendable, CustomStringConvertible {
    /// The first address of the prefix (host bits cleared).
    public var address: IPv6Address
    /// Length of the prefix in bits, 0 to 128.
    public var prefixLength: Int

    /// The prefix `address/prefixLength`; host bits of `address` are cleared.
    public init(address: IPv6Address, prefixLength: Int) {
        let length = max(0, min(128, prefixLength))
        self.prefixLength = length
        let (highMask, lowMask) = IPv6Network.masks(length)
        self.address = IPv6Address(high: address.high & highMask, low: address.low & lowMask)
    }

    /// Parses `ADDRESS/N` (a bare address means /128); nil when malformed.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let address = IPv6Address(String(parts[0])) else { return nil }
        var length = 128
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let parsed = Int(parts[1]),
                  (0...128).contains(parsed) else { return nil }
            length = parsed
        }
        self.init(address: address, prefixLength: length)
    }

    /// True when `candidate` lies inside this prefix.
    public func contains(_ candidate: IPv6Address) -> Bool {
        let (highMask, lowMask) = IPv6Network.masks(prefixLength)
        return candidate.high & highMask == address.high && candidate.low & lowMask == address.low
    }

    public var description: String { "\(address)/\(prefixLength)" }

    private static func masks(_ length: Int) -> (UInt64, UInt64) {
        func mask(_ bits: Int) -> UInt64 { bits <= 0 ? 0 : bits >= 64 ? UInt64.max : UInt64.max << UInt64(64 - bits) }
        return (mask(length), mask(length - 64))
    }
}

/// The address family of a target.
public enum IPFamily: String, Sendable, Equatable, Codable {
    /// IPv4: probed with ICMP echo.
    case ipv4
    /// IPv6: probed with ICMPv6 echo.
    case ipv6
}

/// An IPv4 or an IPv6 address: what pingmon probes and what its captures are filtered on.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible, Codable {
    /// An IPv4 address.
    case v4(IPv4Address)
    /// An IPv6 address.
    case v6(IPv6Address)

    /// Parses a dotted quad (`198.18.0.10`) or an IPv6 address in RFC 4291 text form
    /// (`2001:2::10`); nil for anything else. Names are not resolved.
    public init?(_ text: String) {
        if let ipv4 = IPv4Address(text) {
            self = .v4(ipv4)
        } else if let ipv6 = IPv6Address(text) {
            self = .v6(ipv6)
        } else {
            return nil
        }
    }

    public var family: IPFamily {
        switch self {
        case .v4: .ipv4
        case .v6: .ipv6
        }
    }

    /// The IPv4 address, nil for an IPv6 one.
    public var ipv4: IPv4Address? {
        if case .v4(let address) = self { return address }
        return nil
    }

    /// The IPv6 address, nil for an IPv4 one.
    public var ipv6: IPv6Address? {
        if case .v6(let address) = self { return address }
        return nil
    }

    /// Why this address cannot be probed as a host; nil for a unicast address.
    public var notUnicastReason: String? {
        switch self {
        case .v4(let address): address.notUnicastReason
        case .v6(let address): address.notUnicastReason
        }
    }

    public var description: String {
        switch self {
        case .v4(let address): address.description
        case .v6(let address): address.description
        }
    }
}

/// An IPv4 network or an IPv6 prefix, as `--allowed-networks` takes them.
public enum IPNetwork: Hashable, Sendable, CustomStringConvertible {
    /// An IPv4 network.
    case v4(IPv4Network)
    /// An IPv6 prefix.
    case v6(IPv6Network)

    /// Parses `198.18.0.0/15` or `2001:2::/48` (a bare address is one host); nil when malformed.
    public init?(_ text: String) {
        if let network = IPv4Network(text) {
            self = .v4(network)
        } else if let network = IPv6Network(text) {
            self = .v6(network)
        } else {
            return nil
        }
    }

    /// True when `candidate` lies inside this network (never for an address of the other family).
    public func contains(_ candidate: IPAddress) -> Bool {
        switch (self, candidate) {
        case (.v4(let network), .v4(let address)): network.contains(address)
        case (.v6(let network), .v6(let address)): network.contains(address)
        default: false
        }
    }

    public var description: String {
        switch self {
        case .v4(let network): network.description
        case .v6(let network): network.description
        }
    }

    /// The networks the project's own tests, benchmarks and lab send to, for both families:
    /// 198.18.0.0/15 (RFC 2544) and 2001:2::/48 (RFC 5180), the benchmarking ranges, and
    /// loopback (127.0.0.0/8, ::1). Not a default of pingmon; `--allowed-networks` can opt in.
    public static let projectTestNetworks: [IPNetwork] = IPv4Network.projectTestNetworks.map(IPNetwork.v4) + [
        .v6(IPv6Network(address: IPv6Address(high: 0x2001_0002_0000_0000, low: 0), prefixLength: 48)),
        .v6(IPv6Network(address: IPv6Address(high: 0, low: 1), prefixLength: 128)),
    ]
}

extension IPv4Address: CodableAsText {
    public static let textKind = "an IPv4 address"
}

extension MACAddress: CodableAsText {
    public static let textKind = "a MAC address"
}

extension IPv6Address: CodableAsText {
    public static let textKind = "an IPv6 address"
}

extension IPAddress: CodableAsText {
    public static let textKind = "an IP address"
}

/// A value written in JSON as its text: decoded with `init?(_:)`, encoded as its `description`.
public protocol CodableAsText: Codable, CustomStringConvertible {
    init?(_ text: String)
    /// What the text must be, for the decoding error ("an IPv4 address").
    static var textKind: String { get }
}

extension CodableAsText {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not \(Self.textKind): \(text)"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
