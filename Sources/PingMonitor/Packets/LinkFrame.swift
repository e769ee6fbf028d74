/// What a captured frame's link-layer header says: the type of the packet it carries, where
/// that packet starts, and (where the framing holds them) the sender's MAC address and the
/// capturing interface. Shared by every decoder of captured frames (ICMP echoes, TCP segments),
/// so each reads only its own protocol.
public struct LinkFrame: Sendable, Equatable {
    /// The EtherType of the carried packet (raw IP and BSD loopback give IPv4's or IPv6's).
    public var etherType: UInt16
    /// Where the carried packet starts in the frame, bytes.
    public var networkOffset: Int
    /// The sender's MAC address (Ethernet; Linux cooked when its address is one).
    public var linkSource: MACAddress?
    /// The interface the frame was captured on (Linux cooked v2 only).
    public var interfaceIndex: UInt32?

    public static let etherTypeIPv4: UInt16 = 0x0800
    public static let etherTypeARP: UInt16 = 0x0806
    public static let etherTypeRARP: UInt16 = 0x8035
    public static let etherTypeVLAN: UInt16 = 0x8100
    public static let etherTypeQinQ: UInt16 = 0x88A8
    public static let etherTypeIPv6: UInt16 = 0x86DD

    /// The link-layer header of `bytes` framed as `linkLayer`: Ethernet (with up to two VLAN
    /// tags), Linux cooked v1 and v2, raw IP, BSD loopback. `nil` when the frame is too short
    /// or a loopback family is neither IPv4 nor IPv6.
    static func parse(_ bytes: ByteReader, linkLayer: LinkLayer) -> LinkFrame? {
        switch linkLayer {
        case .ethernet:
            guard let source = bytes.mac(at: 6), var type = bytes.u16(at: 12) else { return nil }
            var offset = 14
            // At most two tags (802.1ad outer, 802.1Q inner).
            for _ in 0..<2 where type == etherTypeVLAN || type == etherTypeQinQ {
                guard let inner = bytes.u16(at: offset + 2) else { return nil }
                type = inner
                offset += 4
            }
            return LinkFrame(etherType: type, networkOffset: offset, linkSource: source)
        case .linuxCooked:
            guard let hardwareType = bytes.u16(at: 2), let addressLength = bytes.u16(at: 4), let type = bytes.u16(at: 14) else { return nil }
            return LinkFrame(etherType: type, networkOffset: 16, linkSource: hardwareType == 1 && addressLength == 6 ? bytes.mac(at: 6) : nil)
        case .linuxCooked2:
            guard let type = bytes.u16(at: 0), let index = bytes.u32(at: 4), let hardwareType = bytes.u16(at: 8),
                  let addressLength = bytes.u8(at: 11) else { return nil }
            return LinkFrame(etherType: type, networkOffset: 20, linkSource: hardwareType == 1 && addressLength == 6 ? bytes.mac(at: 12) : nil,
                             interfaceIndex: index)
        case .rawIP:
            guard let version = bytes.u8(at: 0) else { return nil }
            return LinkFrame(etherType: version >> 4 == 6 ? etherTypeIPv6 : etherTypeIPv4, networkOffset: 0)
        case .null:
            // The family is in the capturing host's byte order; AF_INET is 2 everywhere, AF_INET6
            // 10 on Linux and 24, 28 or 30 on the BSDs and macOS.
            guard let stored = bytes.u32(at: 0) else { return nil }
            let family = stored > 0xFFFF ? stored.byteSwapped : stored
            switch family {
            case 2: return LinkFrame(etherType: etherTypeIPv4, networkOffset: 4)
            case 10, 24, 28, 30: return LinkFrame(etherType: etherTypeIPv6, networkOffset: 4)
            default: return nil
            }
        }
    }
}
