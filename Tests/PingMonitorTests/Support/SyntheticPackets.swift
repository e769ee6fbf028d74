import Foundation
@testable import PingMonitor

/// Builds frames and pcap files with chosen contents and timestamps, written independently of
/// the code under test (byte by byte, as the formats are specified).
enum Synthetic {
    static let prober = IPv4Address(198, 18, 13, 1)
    static let target = IPv4Address(198, 18, 13, 2)
    static let proberMAC = MACAddress(value: 0x02_00_00_00_00_01)
    static let targetMAC = MACAddress(value: 0x52_54_00_12_34_56)
    static let identifier: UInt16 = 0x4242

    /// An Ethernet frame carrying an ICMP echo request (to the target) or reply (from it).
    static func echoFrame(request: Bool, sequence: UInt64, identifier: UInt16 = identifier, intervalMicroseconds: UInt32 = 1_000,
                          pingmonPayload: Bool = true, vlan: UInt16? = nil) -> [UInt8] {
        var icmp: [UInt8] = [request ? 8 : 0, 0, 0, 0]
        icmp += be16(identifier) + be16(UInt16(truncatingIfNeeded: sequence))
        if pingmonPayload {
            icmp += be32(0x504D_4F4E) + be32(intervalMicroseconds) + be64(sequence) + be64(0) + be64(0)
        } else {
            icmp += [UInt8](repeating: 0xAB, count: 32)
        }
        let checksum = internetChecksum(icmp)
        icmp[2] = UInt8(checksum >> 8)
        icmp[3] = UInt8(checksum & 0xFF)
        let source = request ? prober : target
        let destination = request ? target : prober
        var ip: [UInt8] = [0x45, 0] + be16(UInt16(20 + icmp.count)) + [0, 0, 0x40, 0, 64, 1, 0, 0]
        ip += be32(source.value) + be32(destination.value)
        let ipChecksum = internetChecksum(ip)
        ip[10] = UInt8(ipChecksum >> 8)
        ip[11] = UInt8(ipChecksum & 0xFF)
        let (from, to) = request ? (proberMAC, targetMAC) : (targetMAC, proberMAC)
        return ethernet(source: from, destination: to, type: 0x0800, vlan: vlan, payload: ip + icmp)
    }

    /// An ARP (or RARP) frame for IPv4 over Ethernet.
    static func arpFrame(reverse: Bool, operation: UInt16, senderMAC: MACAddress, senderAddress: IPv4Address,
                         targetMAC: MACAddress, targetAddress: IPv4Address) -> [UInt8] {
        var arp: [UInt8] = be16(1) + be16(0x0800) + [6, 4] + be16(operation)
        arp += mac(senderMAC) + be32(senderAddress.value) + mac(targetMAC) + be32(targetAddress.value)
        return ethernet(source: senderMAC, destination: MACAddress(value: 0xFFFF_FFFF_FFFF), type: reverse ? 0x8035 : 0x0806,
                        vlan: nil, payload: arp)
    }

    /// The RARP frame QEMU sends for a guest after migration (self-announce).
    static func qemuRARP(mac guest: MACAddress = targetMAC) -> [UInt8] {
        arpFrame(reverse: true, operation: 3, senderMAC: guest, senderAddress: IPv4Address(value: 0), targetMAC: guest,
                 targetAddress: IPv4Address(value: 0))
    }

    /// A gratuitous ARP announcing the target.
    static func gratuitousARP() -> [UInt8] {
        arpFrame(reverse: false, operation: 1, senderMAC: targetMAC, senderAddress: target, targetMAC: MACAddress(value: 0),
                 targetAddress: target)
    }

    static func ethernet(source: MACAddress, destination: MACAddress, type: UInt16, vlan: UInt16?, payload: [UInt8]) -> [UInt8] {
        var frame = mac(destination) + mac(source)
        if let vlan { frame += be16(0x8100) + be16(vlan) }
        return frame + be16(type) + payload
    }

    /// A classic pcap file (link type Ethernet) with the given records.
    static func pcapFile(_ records: [(timeNanoseconds: Int64, frame: [UInt8])], nanosecond: Bool = true,
                         snapshotLength: UInt32 = 262_144, linkType: UInt32 = 1) -> [UInt8] {
        // Little-endian, as written on x86; the magic tells readers the byte order and resolution.
        var file = le32(nanosecond ? 0xA1B2_3C4D : 0xA1B2_C3D4) + le16(2) + le16(4) + le32(0) + le32(0)
        file += le32(snapshotLength) + le32(linkType)
        for (time, frame) in records {
            let seconds = UInt32(time / 1_000_000_000)
            let fraction = UInt32(time % 1_000_000_000) / (nanosecond ? 1 : 1_000)
            let captured = Array(frame.prefix(Int(snapshotLength)))
            file += le32(seconds) + le32(fraction) + le32(UInt32(captured.count)) + le32(UInt32(frame.count)) + captured
        }
        return file
    }

    /// A pcapng file (little-endian, one Ethernet interface) with the given records:
    /// `tsresol` is the if_tsresol option's value (nil: no option, which means microseconds).
    static func pcapngFile(_ records: [(timeNanoseconds: Int64, frame: [UInt8])], tsresol: UInt8? = 9,
                           linkType: UInt16 = 1, snapshotLength: UInt32 = 262_144) -> [UInt8] {
        func block(_ type: UInt32, _ body: [UInt8]) -> [UInt8] {
            let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
            let length = UInt32(12 + padded.count)
            return le32(type) + le32(length) + padded + le32(length)
        }
        var section = le32(0x1A2B_3C4D) + le16(1) + le16(0) + le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF)
        section += le16(4) + le16(5) + Array("tests".utf8) + [0, 0, 0] + le16(0) + le16(0)
        var interface = le16(linkType) + le16(0) + le32(snapshotLength)
        if let tsresol { interface += le16(9) + le16(1) + [tsresol, 0, 0, 0] }
        interface += le16(0) + le16(0)
        var file = block(0x0A0D_0D0A, section) + block(1, interface)
        // Units of 10^-tsresol s (tsresol at most 9 here).
        let divisor = (0..<(9 - Int(tsresol ?? 6))).reduce(Int64(1)) { value, _ in value * 10 }
        for (time, frame) in records {
            let units = UInt64(time / divisor)
            let captured = Array(frame.prefix(Int(snapshotLength)))
            file += block(6, le32(0) + le32(UInt32(units >> 32)) + le32(UInt32(units & 0xFFFF_FFFF))
                + le32(UInt32(captured.count)) + le32(UInt32(frame.count)) + captured)
        }
        return file
    }

    static let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pingmon-tests-\(getpid())")

    /// Deletes the files `write` made.
    static func removeWrittenFiles() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Writes `bytes` to a new file in a temporary directory; returns its path.
    static func write(_ bytes: [UInt8], name: String) throws -> String {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    static func decode(_ frame: [UInt8], linkLayer: LinkLayer = .ethernet) -> DecodedPacket? {
        frame.withUnsafeBytes { PacketDecoder.decode($0, linkLayer: linkLayer) }
    }

    static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
    static func be32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> UInt32(24 - 8 * $0)) } }
    static func be64(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> UInt64(56 - 8 * $0)) } }
    static func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }
    static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> UInt32(8 * $0)) } }
    static func mac(_ address: MACAddress) -> [UInt8] { (0..<6).map { UInt8(truncatingIfNeeded: address.value >> UInt64(40 - 8 * $0)) } }

    static func internetChecksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index + 1 < bytes.count {
            sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { sum += UInt32(bytes[index]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }
}

/// A probe stream described by its schedule: probe `n` is sent at `start + n * interval` and,
/// unless lost or held, answered `rtt` later.
struct SyntheticStream {
    var start: Int64 = 1_700_000_000_000_000_000
    var intervalNanoseconds: Int64 = 1_000_000
    var rttNanoseconds: Int64 = 50_000
    var count: Int
    var lost: Set<Int> = []
    /// Probes the target held (a paused guest's queue) and answered only when it resumed,
    /// `releaseOffsetNanoseconds` after `start`: one after another in sequence order,
    /// `heldSpacingNanoseconds` apart, as a guest works through its queue.
    var held: Set<Int> = []
    var releaseOffsetNanoseconds: Int64 = 0
    var heldSpacingNanoseconds: Int64 = 1_000
    /// ICMPv6 echo in IPv6 (Synthetic.prober6 to target6) instead of ICMP in IPv4.
    var ipv6 = false

    func sendTime(_ sequence: Int) -> Int64 { start + Int64(sequence) * intervalNanoseconds }

    /// When probe `sequence` is answered; nil when it is lost.
    func replyTime(_ sequence: Int) -> Int64? {
        if lost.contains(sequence) { return nil }
        guard held.contains(sequence) else { return sendTime(sequence) + rttNanoseconds }
        let rank = held.filter { $0 < sequence }.count
        return start + releaseOffsetNanoseconds + Int64(rank) * heldSpacingNanoseconds
    }

    /// Requests and replies in time order.
    var events: [ProbeEvent] {
        var events: [ProbeEvent] = []
        for sequence in 0..<count {
            events.append(.request(UInt64(sequence), at: sendTime(sequence)))
            if let reply = replyTime(sequence) { events.append(.reply(UInt64(sequence), at: reply)) }
        }
        return events.sorted { $0.timeNanoseconds < $1.timeNanoseconds }
    }

    /// The same stream as captured Ethernet frames.
    var records: [(timeNanoseconds: Int64, frame: [UInt8])] {
        events.map { event in
            let interval = UInt32(intervalNanoseconds / 1_000)
            return (event.timeNanoseconds,
                    ipv6 ? Synthetic.echo6Frame(request: event.kind == .request, sequence: event.sequence, intervalMicroseconds: interval)
                         : Synthetic.echoFrame(request: event.kind == .request, sequence: event.sequence, intervalMicroseconds: interval))
        }
    }

    var log: ProbeLog { ProbeLog(events: events, announces: [], nominalIntervalNanoseconds: intervalNanoseconds) }
}
