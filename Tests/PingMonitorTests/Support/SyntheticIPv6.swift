import Foundation
@testable import PingMonitor

/// IPv6 frames built byte by byte from RFC 8200 (the header), RFC 4443 (ICMPv6 echo) and
/// RFC 4861 (Neighbor Advertisement), independently of the code under test. The addresses are
/// in the IPv6 benchmarking range 2001:2::/48 (RFC 5180).
extension Synthetic {
    static let prober6 = IPv6Address(high: 0x2001_0002_0000_0000, low: 1)
    static let target6 = IPv6Address(high: 0x2001_0002_0000_0000, low: 2)

    /// The 16 bytes of an IPv6 address in network order.
    static func bytes(_ address: IPv6Address) -> [UInt8] { be64(address.high) + be64(address.low) }

    /// An IPv6 packet: the 40-byte fixed header and `payload`.
    static func ipv6Packet(source: IPv6Address, destination: IPv6Address, nextHeader: UInt8 = 58, hopLimit: UInt8 = 64,
                           payloadLength: UInt16? = nil, payload: [UInt8]) -> [UInt8] {
        [0x60, 0, 0, 0] + be16(payloadLength ?? UInt16(payload.count)) + [nextHeader, hopLimit]
            + bytes(source) + bytes(destination) + payload
    }

    /// An ICMPv6 message with its checksum over the pseudo-header (RFC 8200 section 8.1).
    static func icmpv6(type: UInt8, code: UInt8 = 0, body: [UInt8], source: IPv6Address, destination: IPv6Address) -> [UInt8] {
        var message = [type, code, 0, 0] + body
        let pseudo = bytes(source) + bytes(destination) + be32(UInt32(message.count)) + [0, 0, 0, 58]
        let checksum = internetChecksum(pseudo + message)
        message[2] = UInt8(checksum >> 8)
        message[3] = UInt8(checksum & 0xFF)
        return message
    }

    /// The ICMPv6 echo request (to the target) or reply (from it) of probe `sequence`, with
    /// pingmon's payload or 32 other bytes, as an IPv6 packet.
    static func echo6Packet(request: Bool, sequence: UInt64, identifier: UInt16 = identifier, intervalMicroseconds: UInt32 = 1_000,
                            pingmonPayload: Bool = true, target: IPv6Address = target6) -> [UInt8] {
        var body = be16(identifier) + be16(UInt16(truncatingIfNeeded: sequence))
        if pingmonPayload {
            body += be32(0x504D_4F4E) + be32(intervalMicroseconds) + be64(sequence) + be64(0) + be64(0)
        } else {
            body += [UInt8](repeating: 0xAB, count: 32)
        }
        let (source, destination) = request ? (prober6, target) : (target, prober6)
        let message = icmpv6(type: request ? 128 : 129, body: body, source: source, destination: destination)
        return ipv6Packet(source: source, destination: destination, payload: message)
    }

    /// The same as an Ethernet frame (ethertype 0x86DD), optionally 802.1Q-tagged.
    static func echo6Frame(request: Bool, sequence: UInt64, identifier: UInt16 = identifier, intervalMicroseconds: UInt32 = 1_000,
                           pingmonPayload: Bool = true, vlan: UInt16? = nil) -> [UInt8] {
        let packet = echo6Packet(request: request, sequence: sequence, identifier: identifier, intervalMicroseconds: intervalMicroseconds,
                                 pingmonPayload: pingmonPayload)
        let (from, to) = request ? (proberMAC, targetMAC) : (targetMAC, proberMAC)
        return ethernet(source: from, destination: to, type: 0x86DD, vlan: vlan, payload: packet)
    }

    /// A Neighbor Advertisement for `advertised` from the target's MAC, to all nodes (ff02::1),
    /// with the Target Link-Layer Address option unless `linkLayerOption` is false.
    static func neighborAdvertisement6Packet(advertised: IPv6Address = target6, solicited: Bool = false, hopLimit: UInt8 = 255,
                                             linkLayerOption: Bool = true, mac: MACAddress = targetMAC) -> [UInt8] {
        let allNodes = IPv6Address(high: 0xFF02_0000_0000_0000, low: 1)
        // R = 0, S as given, O = 1 (an announcement replaces cached entries).
        var body: [UInt8] = [(solicited ? 0x40 : 0) | 0x20, 0, 0, 0] + bytes(advertised)
        if linkLayerOption { body += [2, 1] + Synthetic.mac(mac) }
        let message = icmpv6(type: 136, body: body, source: advertised, destination: allNodes)
        return ipv6Packet(source: advertised, destination: allNodes, hopLimit: hopLimit, payload: message)
    }

    static func neighborAdvertisement6Frame(advertised: IPv6Address = target6, solicited: Bool = false, hopLimit: UInt8 = 255,
                                            mac: MACAddress = targetMAC) -> [UInt8] {
        ethernet(source: mac, destination: MACAddress(value: 0x33_33_00_00_00_01), type: 0x86DD, vlan: nil,
                 payload: neighborAdvertisement6Packet(advertised: advertised, solicited: solicited, hopLimit: hopLimit, mac: mac))
    }

    /// Linux cooked v1 (SLL): packet type, ARPHRD_ETHER, address length 6, address padded to 8, protocol.
    static func sll(protocol type: UInt16, source: MACAddress, payload: [UInt8]) -> [UInt8] {
        [0, 4, 0, 1, 0, 6] + mac(source) + [0, 0] + be16(type) + payload
    }

    /// Linux cooked v2 (SLL2): protocol, reserved, interface index, ARPHRD_ETHER, packet type,
    /// address length 6, address padded to 8.
    static func sll2(protocol type: UInt16, source: MACAddress, payload: [UInt8]) -> [UInt8] {
        be16(type) + [0, 0] + be32(2) + be16(1) + [4, 6] + mac(source) + [0, 0] + payload
    }
}
