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

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let address = IPv4Address(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an IPv4 address: \(text)"))
        }
        self = address
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
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

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let address = MACAddress(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a MAC address: \(text)"))
        }
        self = address
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
