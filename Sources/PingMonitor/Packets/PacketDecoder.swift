/// The link-layer framing of captured packets (the capture's data link type).
public enum LinkLayer: String, Sendable, Equatable, Codable {
    /// Ethernet II, optionally with 802.1Q/802.1ad tags (DLT_EN10MB; also Linux loopback).
    case ethernet
    /// Linux "cooked" capture v1, as on the `any` device (DLT_LINUX_SLL).
    case linuxCooked
    /// Linux "cooked" capture v2 (DLT_LINUX_SLL2).
    case linuxCooked2
    /// Bare IP packets, as on tun devices (DLT_RAW, DLT_IPV4): the version nibble tells IPv4
    /// from IPv6.
    case rawIP
    /// BSD loopback: a 4-byte address family before the packet (DLT_NULL).
    case null
}

/// An ICMP echo request or reply (ICMP over IPv4, or ICMPv6).
public struct EchoPacket: Sendable, Equatable {
    /// True for an echo request (ICMP type 8, ICMPv6 type 128), false for an echo reply (0, 129).
    public var isRequest: Bool
    public var source: IPAddress
    public var destination: IPAddress
    public var identifier: UInt16
    /// The 16-bit ICMP sequence number.
    public var sequence16: UInt16
    /// pingmon's payload, when the packet carries one (and the capture kept enough of it).
    public var probe: ProbePayload?
    /// Link-layer source address, when the framing has one.
    public var linkSource: MACAddress?
}

/// An ARP or RARP packet for IPv4 over Ethernet.
public struct ARPPacket: Sendable, Equatable {
    /// True for RARP (ethertype 0x8035), false for ARP (0x0806).
    public var isReverse: Bool
    public var operation: UInt16
    public var senderHardware: MACAddress
    public var senderAddress: IPv4Address
    public var targetHardware: MACAddress
    public var targetAddress: IPv4Address
    /// Link-layer source address, when the framing has one.
    public var linkSource: MACAddress?
}

/// An ICMPv6 Neighbor Advertisement (type 136, RFC 4861 section 4.4). Sent unsolicited (the
/// S flag clear), it announces where `targetAddress` now is: an IPv6 guest's counterpart of a
/// gratuitous ARP, which a Linux guest sends when asked to announce itself after a migration.
public struct NeighborAdvertisement: Sendable, Equatable {
    public var source: IPv6Address
    public var destination: IPv6Address
    /// The address being advertised.
    public var targetAddress: IPv6Address
    /// The R flag: the sender is a router.
    public var isRouter: Bool
    /// The S flag: an answer to a Neighbor Solicitation; clear in an unsolicited announcement.
    public var isSolicited: Bool
    /// The O flag: caches should replace an entry they hold.
    public var isOverride: Bool
    /// The Target Link-Layer Address option (type 2), when present as a 6-byte MAC.
    public var targetLinkLayerAddress: MACAddress?
    /// Link-layer source address, when the framing has one.
    public var linkSource: MACAddress?
}

/// What the decoder recognises; everything else is ignored.
public enum DecodedPacket: Sendable, Equatable {
    /// An ICMP or ICMPv6 echo request or reply.
    case echo(EchoPacket)
    /// An IPv4 ARP or RARP packet (e.g. the guest's announcement after a migration).
    case arp(ARPPacket)
    /// An ICMPv6 Neighbor Advertisement (an IPv6 guest's announcement).
    case neighborAdvertisement(NeighborAdvertisement)
}

/// Decodes captured frames. Every read is bounds-checked against the captured length: a
/// truncated or malformed frame yields nil, never a crash.
public enum PacketDecoder {
    static let etherTypeIPv4 = LinkFrame.etherTypeIPv4
    static let etherTypeARP = LinkFrame.etherTypeARP
    static let etherTypeRARP = LinkFrame.etherTypeRARP
    static let etherTypeIPv6 = LinkFrame.etherTypeIPv6
    /// Bytes of the fixed IPv6 header.
    static let ipv6HeaderLength = 40
    /// IPv6 next header of ICMPv6.
    static let nextHeaderICMPv6: UInt8 = 58

    /// Decodes one captured frame; nil when it is not an ICMP or ICMPv6 echo, an IPv4 ARP/RARP
    /// packet or an ICMPv6 Neighbor Advertisement.
    public static func decode(_ frame: UnsafeRawBufferPointer, linkLayer: LinkLayer) -> DecodedPacket? {
        let bytes = ByteReader(frame)
        guard let link = LinkFrame.parse(bytes, linkLayer: linkLayer) else { return nil }
        let (etherType, offset, linkSource) = (link.etherType, link.networkOffset, link.linkSource)
        switch etherType {
        case etherTypeIPv4:
            return decodeIPv4(bytes, at: offset, linkSource: linkSource).map(DecodedPacket.echo)
        case etherTypeIPv6:
            return decodeIPv6(bytes, at: offset, linkSource: linkSource)
        case etherTypeARP, etherTypeRARP:
            return decodeARP(bytes, at: offset, isReverse: etherType == etherTypeRARP, linkSource: linkSource).map(DecodedPacket.arp)
        default:
            return nil
        }
    }

    private static func decodeIPv4(_ bytes: ByteReader, at start: Int, linkSource: MACAddress?) -> EchoPacket? {
        guard let versionAndLength = bytes.u8(at: start), versionAndLength >> 4 == 4 else { return nil }
        let headerLength = Int(versionAndLength & 0x0F) * 4
        guard headerLength >= 20, let totalLength = bytes.u16(at: start + 2), Int(totalLength) >= headerLength + 8,
              let fragment = bytes.u16(at: start + 6), fragment & 0x1FFF == 0,  // only first fragments carry the ICMP header
              let proto = bytes.u8(at: start + 9), proto == 1,
              let source = bytes.ipv4(at: start + 12), let destination = bytes.ipv4(at: start + 16) else { return nil }
        let icmp = start + headerLength
        guard let type = bytes.u8(at: icmp), type == 8 || type == 0, let code = bytes.u8(at: icmp + 1), code == 0,
              let identifier = bytes.u16(at: icmp + 4), let sequence = bytes.u16(at: icmp + 6) else { return nil }
        // The payload ends at the IP packet's end or at the captured length, whichever is first.
        let payloadStart = icmp + 8
        let payloadEnd = min(start + Int(totalLength), bytes.count)
        let probe = payloadEnd > payloadStart ? ProbePayload.decode(bytes, at: payloadStart, end: payloadEnd) : nil
        return EchoPacket(isRequest: type == 8, source: .v4(source), destination: .v4(destination), identifier: identifier,
                          sequence16: sequence, probe: probe, linkSource: linkSource)
    }

    /// An IPv6 packet whose fixed header is followed directly by ICMPv6 (next header 58): packets
    /// with extension headers are not followed (pingmon's probes and the kernel's replies have none).
    private static func decodeIPv6(_ bytes: ByteReader, at start: Int, linkSource: MACAddress?) -> DecodedPacket? {
        guard let version = bytes.u8(at: start), version >> 4 == 6,
              let payloadLength = bytes.u16(at: start + 4), payloadLength > 0,  // 0: a jumbogram, not ours
              let nextHeader = bytes.u8(at: start + 6), nextHeader == nextHeaderICMPv6,
              let hopLimit = bytes.u8(at: start + 7),
              let source = bytes.ipv6(at: start + 8), let destination = bytes.ipv6(at: start + 24) else { return nil }
        let icmp = start + ipv6HeaderLength
        // The message ends at the packet's end or at the captured length, whichever is first.
        let end = min(icmp + Int(payloadLength), bytes.count)
        return decodeICMPv6(bytes, at: icmp, end: end, source: source, destination: destination, hopLimit: hopLimit,
                            linkSource: linkSource)
    }

    /// An ICMPv6 message in `start..<end` (an IPv6 packet's payload, or what an ICMPv6 raw socket
    /// reads: the kernel strips the IPv6 header there). `hopLimit` is nil when unknown (a socket
    /// read); a Neighbor Advertisement then is not decoded, since RFC 4861 requires 255.
    static func decodeICMPv6(_ bytes: ByteReader, at start: Int, end: Int, source: IPv6Address, destination: IPv6Address,
                             hopLimit: UInt8?, linkSource: MACAddress?) -> DecodedPacket? {
        guard end - start >= 8, end <= bytes.count, let type = bytes.u8(at: start), let code = bytes.u8(at: start + 1),
              code == 0 else { return nil }
        switch type {
        case 128, 129:
            guard let identifier = bytes.u16(at: start + 4), let sequence = bytes.u16(at: start + 6) else { return nil }
            let payloadStart = start + 8
            let probe = end > payloadStart ? ProbePayload.decode(bytes, at: payloadStart, end: end) : nil
            return .echo(EchoPacket(isRequest: type == 128, source: .v6(source), destination: .v6(destination), identifier: identifier,
                                    sequence16: sequence, probe: probe, linkSource: linkSource))
        case 136:
            guard hopLimit == 255, end - start >= 24, let flags = bytes.u8(at: start + 4),
                  let target = bytes.ipv6(at: start + 8) else { return nil }
            // Options, 8-byte units: a zero length makes the whole message invalid (RFC 4861 4.6).
            var targetLinkLayerAddress: MACAddress?
            var option = start + 24
            while option + 2 <= end, let kind = bytes.u8(at: option), let units = bytes.u8(at: option + 1) {
                guard units > 0 else { return nil }
                let length = Int(units) * 8
                guard option + length <= end else { break }
                if kind == 2, units == 1, targetLinkLayerAddress == nil { targetLinkLayerAddress = bytes.mac(at: option + 2) }
                option += length
            }
            return .neighborAdvertisement(NeighborAdvertisement(
                source: source, destination: destination, targetAddress: target, isRouter: flags & 0x80 != 0,
                isSolicited: flags & 0x40 != 0, isOverride: flags & 0x20 != 0, targetLinkLayerAddress: targetLinkLayerAddress,
                linkSource: linkSource))
        default:
            return nil
        }
    }

    private static func decodeARP(_ bytes: ByteReader, at start: Int, isReverse: Bool, linkSource: MACAddress?) -> ARPPacket? {
        guard let hardwareType = bytes.u16(at: start), hardwareType == 1,
              let protocolType = bytes.u16(at: start + 2), protocolType == etherTypeIPv4,
              bytes.u8(at: start + 4) == 6, bytes.u8(at: start + 5) == 4,
              let operation = bytes.u16(at: start + 6),
              let senderHardware = bytes.mac(at: start + 8), let senderAddress = bytes.ipv4(at: start + 14),
              let targetHardware = bytes.mac(at: start + 18), let targetAddress = bytes.ipv4(at: start + 24) else { return nil }
        return ARPPacket(isReverse: isReverse, operation: operation, senderHardware: senderHardware, senderAddress: senderAddress,
                         targetHardware: targetHardware, targetAddress: targetAddress, linkSource: linkSource)
    }
}

/// Bounds-checked big-endian reads from a captured frame.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var count: Int { bytes.count }

    func u8(at offset: Int) -> UInt8? {
        offset >= 0 && offset < bytes.count ? bytes[offset] : nil
    }

    func u16(at offset: Int) -> UInt16? {
        guard offset >= 0, offset + 2 <= bytes.count else { return nil }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    func u32(at offset: Int) -> UInt32? {
        guard offset >= 0, offset + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for index in offset..<offset + 4 { value = value << 8 | UInt32(bytes[index]) }
        return value
    }

    func u64(at offset: Int) -> UInt64? {
        guard offset >= 0, offset + 8 <= bytes.count else { return nil }
        var value: UInt64 = 0
        for index in offset..<offset + 8 { value = value << 8 | UInt64(bytes[index]) }
        return value
    }

    func ipv4(at offset: Int) -> IPv4Address? {
        u32(at: offset).map(IPv4Address.init(value:))
    }

    func ipv6(at offset: Int) -> IPv6Address? {
        guard let high = u64(at: offset), let low = u64(at: offset + 8) else { return nil }
        return IPv6Address(high: high, low: low)
    }

    /// Bytes `start..<end`, clamped to the frame.
    func slice(_ start: Int, _ end: Int) -> [UInt8] {
        let from = max(0, start)
        let to = min(end, bytes.count)
        return from < to ? Array(bytes[from..<to]) : []
    }

    func mac(at offset: Int) -> MACAddress? {
        guard offset >= 0, offset + 6 <= bytes.count else { return nil }
        var value: UInt64 = 0
        for index in offset..<offset + 6 { value = value << 8 | UInt64(bytes[index]) }
        return MACAddress(value: value)
    }
}
