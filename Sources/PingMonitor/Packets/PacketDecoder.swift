/// The link-layer framing of captured packets (the capture's data link type).
public enum LinkLayer: String, Sendable, Equatable, Codable {
    /// Ethernet II, optionally with 802.1Q/802.1ad tags (DLT_EN10MB; also Linux loopback).
    case ethernet
    /// Linux "cooked" capture v1, as on the `any` device (DLT_LINUX_SLL).
    case linuxCooked
    /// Linux "cooked" capture v2 (DLT_LINUX_SLL2).
    case linuxCooked2
    /// Bare IPv4 packets, as on tun devices (DLT_RAW, DLT_IPV4).
    case rawIP
    /// BSD loopback: a 4-byte address family before the packet (DLT_NULL).
    case null
}

/// An ICMP echo request or reply.
public struct EchoPacket: Sendable, Equatable {
    /// True for an echo request (type 8), false for an echo reply (type 0).
    public var isRequest: Bool
    public var source: IPv4Address
    public var destination: IPv4Address
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

/// What the decoder recognises; everything else is ignored.
public enum DecodedPacket: Sendable, Equatable {
    case echo(EchoPacket)
    case arp(ARPPacket)
}

/// Decodes captured frames. Every read is bounds-checked against the captured length: a
/// truncated or malformed frame yields nil, never a crash.
public enum PacketDecoder {
    static let etherTypeIPv4: UInt16 = 0x0800
    static let etherTypeARP: UInt16 = 0x0806
    static let etherTypeRARP: UInt16 = 0x8035
    static let etherTypeVLAN: UInt16 = 0x8100
    static let etherTypeQinQ: UInt16 = 0x88A8

    /// Decodes one captured frame; nil when it is not an ICMP echo or an IPv4 ARP/RARP packet.
    public static func decode(_ frame: UnsafeRawBufferPointer, linkLayer: LinkLayer) -> DecodedPacket? {
        let bytes = ByteReader(frame)
        var offset = 0
        var etherType: UInt16
        var linkSource: MACAddress?
        switch linkLayer {
        case .ethernet:
            guard let source = bytes.mac(at: 6), var type = bytes.u16(at: 12) else { return nil }
            linkSource = source
            offset = 14
            // At most two tags (802.1ad outer, 802.1Q inner).
            for _ in 0..<2 where type == etherTypeVLAN || type == etherTypeQinQ {
                guard let inner = bytes.u16(at: offset + 2) else { return nil }
                type = inner
                offset += 4
            }
            etherType = type
        case .linuxCooked:
            guard let hardwareType = bytes.u16(at: 2), let addressLength = bytes.u16(at: 4), let type = bytes.u16(at: 14) else { return nil }
            if hardwareType == 1, addressLength == 6 { linkSource = bytes.mac(at: 6) }
            etherType = type
            offset = 16
        case .linuxCooked2:
            guard let type = bytes.u16(at: 0), let hardwareType = bytes.u16(at: 8), let addressLength = bytes.u8(at: 11) else { return nil }
            if hardwareType == 1, addressLength == 6 { linkSource = bytes.mac(at: 12) }
            etherType = type
            offset = 20
        case .rawIP:
            etherType = etherTypeIPv4
        case .null:
            // The family is in the capturing host's byte order; AF_INET is 2 everywhere.
            guard let family = bytes.u32(at: 0), family == 2 || family == 0x0200_0000 else { return nil }
            etherType = etherTypeIPv4
            offset = 4
        }
        switch etherType {
        case etherTypeIPv4:
            return decodeIPv4(bytes, at: offset, linkSource: linkSource).map(DecodedPacket.echo)
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
        return EchoPacket(isRequest: type == 8, source: source, destination: destination, identifier: identifier,
                          sequence16: sequence, probe: probe, linkSource: linkSource)
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

    func mac(at offset: Int) -> MACAddress? {
        guard offset >= 0, offset + 6 <= bytes.count else { return nil }
        var value: UInt64 = 0
        for index in offset..<offset + 6 { value = value << 8 | UInt64(bytes[index]) }
        return MACAddress(value: value)
    }
}
