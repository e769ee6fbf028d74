/// An endpoint of a TCP connection.
public struct TCPEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: Int

    public init(address: IPAddress, port: Int) {
        self.address = address
        self.port = port
    }

    /// `198.18.0.1:41234`, `[2001:db8::1]:49152`.
    public var description: String {
        if case .v6 = address { return "[\(address)]:\(port)" }
        return "\(address):\(port)"
    }
}

/// One TCP segment as captured: who sent it to whom, where it sits in the sender's stream,
/// how long it was on the wire and the payload bytes the capture kept of it.
public struct TCPSegment: Sendable, Equatable {
    public var source: TCPEndpoint
    public var destination: TCPEndpoint
    /// The sequence number of its first byte (of the SYN itself for a SYN).
    public var sequence: UInt32
    public var flags: TCPFlags
    /// The IP packet's length from its header (total length; IPv6: payload length + 40), bytes.
    public var ipLengthBytes: Int
    /// Payload bytes on the wire: the IP length minus the IP and TCP headers.
    public var payloadLengthBytes: Int
    /// The payload bytes the capture kept, at most ``TCPSegmentDecoder/payloadBytesKept``
    /// (fewer when the snapshot length cut the packet).
    public var payloadPrefix: [UInt8]
    /// The interface the packet was captured on (Linux cooked v2 says; `nil`: unknown).
    public var interfaceIndex: UInt32?

    public init(source: TCPEndpoint, destination: TCPEndpoint, sequence: UInt32, flags: TCPFlags, ipLengthBytes: Int,
                payloadLengthBytes: Int, payloadPrefix: [UInt8], interfaceIndex: UInt32? = nil) {
        self.source = source
        self.destination = destination
        self.sequence = sequence
        self.flags = flags
        self.ipLengthBytes = ipLengthBytes
        self.payloadLengthBytes = payloadLengthBytes
        self.payloadPrefix = payloadPrefix
        self.interfaceIndex = interfaceIndex
    }
}

/// TCP header flags.
public struct TCPFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let fin = TCPFlags(rawValue: 0x01)
    public static let syn = TCPFlags(rawValue: 0x02)
    public static let rst = TCPFlags(rawValue: 0x04)
    public static let ack = TCPFlags(rawValue: 0x10)
}

/// Decodes captured frames into TCP segments: Ethernet (with up to two VLAN tags), Linux
/// cooked v1 and v2 (what `tcpdump -i any` writes), raw IP and BSD loopback; IPv4 (first
/// fragments only) and IPv6 (past hop-by-hop, routing, destination-options and first-fragment
/// headers). Every read is bounds-checked: a short or malformed frame gives `nil`, never a crash.
public enum TCPSegmentDecoder {
    /// Payload bytes kept of each segment: enough for any stream's first bytes.
    public static let payloadBytesKept = 16

    static let etherTypeIPv4 = LinkFrame.etherTypeIPv4
    static let etherTypeIPv6 = LinkFrame.etherTypeIPv6
    static let protocolTCP: UInt8 = 6

    /// The TCP segment in `frame`, or `nil` when it holds none. `wireLengthBytes` is the
    /// frame's length on the wire (the capture header's `len`): the IP length when a
    /// segmentation-offloaded packet's header says 0.
    public static func decode(_ frame: UnsafeRawBufferPointer, wireLengthBytes: Int, linkLayer: LinkLayer) -> TCPSegment? {
        let bytes = ByteReader(frame)
        guard let link = LinkFrame.parse(bytes, linkLayer: linkLayer) else { return nil }
        let (etherType, offset, interfaceIndex) = (link.etherType, link.networkOffset, link.interfaceIndex)
        let ip: IPPacketFacts?
        switch etherType {
        case etherTypeIPv4: ip = ipv4(bytes, at: offset, wireLength: wireLengthBytes - offset)
        case etherTypeIPv6: ip = ipv6(bytes, at: offset)
        default: return nil
        }
        guard let ip else { return nil }
        return tcp(bytes, ip: ip, ipStart: offset, interfaceIndex: interfaceIndex)
    }

    /// What the IP header says: the addresses, the packet's length and where TCP starts.
    typealias IPPacketFacts = (source: IPAddress, destination: IPAddress, length: Int, tcpStart: Int)

    /// An IPv4 packet carrying TCP whose offset is 0 (later fragments carry no TCP header).
    private static func ipv4(_ bytes: ByteReader, at start: Int, wireLength: Int) -> IPPacketFacts? {
        guard let versionAndLength = bytes.u8(at: start), versionAndLength >> 4 == 4 else { return nil }
        let headerLength = Int(versionAndLength & 0x0F) * 4
        guard headerLength >= 20, let stated = bytes.u16(at: start + 2), let fragment = bytes.u16(at: start + 6),
              fragment & 0x1FFF == 0, bytes.u8(at: start + 9) == protocolTCP,
              let source = bytes.u32(at: start + 12), let destination = bytes.u32(at: start + 16) else { return nil }
        // Total length 0: a segmentation-offloaded packet; its length is the frame's.
        let length = stated == 0 ? wireLength : Int(stated)
        guard length >= headerLength else { return nil }
        return (.v4(IPv4Address(value: source)), .v4(IPv4Address(value: destination)), length, start + headerLength)
    }

    /// An IPv6 packet whose TCP header follows the fixed header and any extension headers
    /// that do not end the way to it (a later fragment does).
    private static func ipv6(_ bytes: ByteReader, at start: Int) -> IPPacketFacts? {
        guard let version = bytes.u8(at: start), version >> 4 == 6, let payloadLength = bytes.u16(at: start + 4),
              payloadLength > 0, var next = bytes.u8(at: start + 6),
              let sourceHigh = bytes.u64(at: start + 8), let sourceLow = bytes.u64(at: start + 16),
              let destinationHigh = bytes.u64(at: start + 24), let destinationLow = bytes.u64(at: start + 32) else { return nil }
        var header = start + 40
        for _ in 0..<8 where next != protocolTCP {
            switch next {
            case 0, 43, 60:  // hop-by-hop, routing, destination options: (length + 1) × 8 bytes
                guard let following = bytes.u8(at: header), let units = bytes.u8(at: header + 1) else { return nil }
                next = following
                header += (Int(units) + 1) * 8
            case 44:  // fragment: 8 bytes; only the first fragment holds the TCP header
                guard let following = bytes.u8(at: header), let offsetAndFlags = bytes.u16(at: header + 2),
                      offsetAndFlags & 0xFFF8 == 0 else { return nil }
                next = following
                header += 8
            default:
                return nil
            }
        }
        guard next == protocolTCP else { return nil }
        let length = 40 + Int(payloadLength)
        guard header <= start + length else { return nil }
        return (.v6(IPv6Address(high: sourceHigh, low: sourceLow)), .v6(IPv6Address(high: destinationHigh, low: destinationLow)),
                length, header)
    }

    private static func tcp(_ bytes: ByteReader, ip: IPPacketFacts,
                            ipStart: Int, interfaceIndex: UInt32?) -> TCPSegment? {
        let start = ip.tcpStart
        guard let sourcePort = bytes.u16(at: start), let destinationPort = bytes.u16(at: start + 2),
              let sequence = bytes.u32(at: start + 4), let offsetByte = bytes.u8(at: start + 12),
              let flags = bytes.u8(at: start + 13) else { return nil }
        let headerLength = Int(offsetByte >> 4) * 4
        let ipEnd = ipStart + ip.length
        guard headerLength >= 20, start + headerLength <= ipEnd else { return nil }
        let payloadStart = start + headerLength
        let capturedEnd = min(ipEnd, bytes.count)
        let kept = payloadStart < capturedEnd ? bytes.slice(payloadStart, min(capturedEnd, payloadStart + payloadBytesKept)) : []
        return TCPSegment(source: TCPEndpoint(address: ip.source, port: Int(sourcePort)),
                          destination: TCPEndpoint(address: ip.destination, port: Int(destinationPort)),
                          sequence: sequence, flags: TCPFlags(rawValue: flags), ipLengthBytes: ip.length,
                          payloadLengthBytes: ipEnd - payloadStart, payloadPrefix: kept, interfaceIndex: interfaceIndex)
    }
}
