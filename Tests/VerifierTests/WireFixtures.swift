import Foundation
import PingMonitor
@testable import Verifier

// Crafted captures of the migration ports: a tiny writer of classic pcap files with Linux
// cooked v2 (what `tcpdump -i any` writes) or Ethernet frames, carrying IPv4 or IPv6 TCP.

/// The link types the writer frames packets in (`LINKTYPE_` numbers).
enum TestLinkType: UInt32 {
    case ethernet = 1
    case linuxCooked = 113
    case linuxCooked2 = 276
}

/// One TCP segment to write.
struct TestSegment {
    var source: (address: [UInt8], port: UInt16)
    var destination: (address: [UInt8], port: UInt16)
    var sequence: UInt32
    var acknowledgement: UInt32 = 0
    var flags: UInt8
    var payload: [UInt8] = []
    /// The interface index Linux cooked v2 records.
    var interfaceIndex: UInt32 = 2

    static let syn: UInt8 = 0x02
    static let ack: UInt8 = 0x10
    static let psh: UInt8 = 0x08
    static let fin: UInt8 = 0x01
}

/// A classic pcap file built in memory.
struct TestPcap {
    var linkType: TestLinkType
    var snapLengthBytes: UInt32 = 256
    private(set) var bytes: [UInt8] = []
    private var seconds: UInt32 = 1_767_225_600

    init(linkType: TestLinkType, snapLengthBytes: UInt32 = 256) {
        self.linkType = linkType
        self.snapLengthBytes = snapLengthBytes
        bytes = Self.le32(0xA1B2_C3D4) + Self.le16(2) + Self.le16(4) + Self.le32(0) + Self.le32(0) + Self.le32(snapLengthBytes)
            + Self.le32(linkType.rawValue)
    }

    /// Appends `segment`, framed, cut to the snapshot length, a second after the packet before.
    mutating func append(_ segment: TestSegment) {
        seconds += 1
        append(frame: frame(ip(segment, v6: segment.source.address.count == 16), interfaceIndex: segment.interfaceIndex),
               seconds: seconds, microseconds: 0)
    }

    /// Appends an ICMP (IPv4) or ICMPv6 echo request or reply from `source` to `destination`,
    /// captured `microseconds` into the second after the last TCP segment's (the time is the
    /// caller's: a capture on several interfaces holds one packet at several moments).
    mutating func appendEcho(request: Bool, from source: [UInt8], to destination: [UInt8], sequence: UInt16, microseconds: UInt32,
                             interfaceIndex: UInt32 = 2) {
        let v6 = source.count == 16
        let type: UInt8 = v6 ? (request ? 128 : 129) : (request ? 8 : 0)
        let icmp = [type, 0, 0, 0] + Self.be16(0x4d56) + Self.be16(sequence) + [UInt8](repeating: 0x61, count: 16)
        let packet = v6 ? [0x60, 0, 0, 0] + Self.be16(UInt16(icmp.count)) + [58, 64] + source + destination + icmp
            : [0x45, 0] + Self.be16(UInt16(20 + icmp.count)) + [0, 1, 0x40, 0, 64, 1, 0, 0] + source + destination + icmp
        append(frame: frame(packet, interfaceIndex: interfaceIndex), seconds: seconds + 1, microseconds: microseconds)
    }

    private mutating func append(frame: [UInt8], seconds: UInt32, microseconds: UInt32) {
        let kept = Array(frame.prefix(Int(snapLengthBytes)))
        bytes += Self.le32(seconds) + Self.le32(microseconds) + Self.le32(UInt32(kept.count)) + Self.le32(UInt32(frame.count)) + kept
    }

    /// The time `appendEcho` stamps at `microseconds`, ns since the epoch.
    func echoTimeNanoseconds(microseconds: UInt32) -> Int64 {
        (Int64(seconds) + 1) * 1_000_000_000 + Int64(microseconds) * 1_000
    }

    func write(to url: URL) throws { try Data(bytes).write(to: url) }

    private func frame(_ packet: [UInt8], interfaceIndex: UInt32) -> [UInt8] {
        let etherType: UInt16 = packet.first.map { $0 >> 4 == 6 } == true ? 0x86DD : 0x0800
        switch linkType {
        case .ethernet:
            return [0x52, 0x54, 0, 0, 0, 2, 0x52, 0x54, 0, 0, 0, 1] + Self.be16(etherType) + packet
        case .linuxCooked:
            return Self.be16(0) + Self.be16(1) + Self.be16(6) + [0x52, 0x54, 0, 0, 0, 1, 0, 0] + Self.be16(etherType) + packet
        case .linuxCooked2:
            return Self.be16(etherType) + [0, 0] + Self.be32(interfaceIndex) + Self.be16(1) + [0, 6]
                + [0x52, 0x54, 0, 0, 0, 1, 0, 0] + packet
        }
    }

    private func ip(_ segment: TestSegment, v6: Bool) -> [UInt8] {
        let tcp = Self.be16(segment.source.port) + Self.be16(segment.destination.port) + Self.be32(segment.sequence)
            + Self.be32(segment.acknowledgement) + [0x50, segment.flags] + Self.be16(65_535) + [0, 0, 0, 0] + segment.payload
        if v6 {
            return [0x60, 0, 0, 0] + Self.be16(UInt16(tcp.count)) + [6, 64] + segment.source.address + segment.destination.address + tcp
        }
        return [0x45, 0] + Self.be16(UInt16(20 + tcp.count)) + [0, 1, 0x40, 0, 64, 6, 0, 0] + segment.source.address
            + segment.destination.address + tcp
    }

    static func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }
    static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8((value >> (8 * $0)) & 0xFF) } }
    static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
    static func be32(_ value: UInt32) -> [UInt8] { (0..<4).reversed().map { UInt8((value >> (8 * $0)) & 0xFF) } }
}

/// Conversations of a migration on the wire, written into a ``TestPcap``.
enum WireFixtures {
    /// `pcap` written to a new file in `directory` and read back as dst's capture.
    static func read(_ pcap: TestPcap, in directory: URL, packetLimit: Int? = nil) throws -> MigrationStreamObservation {
        let url = directory.appendingPathComponent("capture-\(UUID().uuidString).pcap")
        try pcap.write(to: url)
        return try MigrationStreamFile.analyze(path: url.path, ports: 49152...49215, hostName: "dst", packetLimit: packetLimit)
    }

    /// `pcap` written to a new file in `directory` and read back as dst's capture of `guest`'s echoes.
    static func readEchoes(_ pcap: TestPcap, of guest: IPAddress, in directory: URL, packetLimit: Int? = nil) throws -> DestinationEchoObservation {
        let url = directory.appendingPathComponent("echoes-\(UUID().uuidString).pcap")
        try pcap.write(to: url)
        return try DestinationEchoFile.analyze(path: url.path, guestAddress: guest, hostName: "dst", sharesClock: true, packetLimit: packetLimit)
    }

    static let guest: [UInt8] = [198, 18, 1, 10]
    static let client: [UInt8] = [198, 18, 1, 2]

    /// The fake guest (198.18.1.10) answering the first probe that reached it `microseconds` later.
    static func guestAnswering(after microseconds: UInt32) -> TestPcap {
        var pcap = TestPcap(linkType: .linuxCooked2)
        pcap.appendEcho(request: true, from: client, to: guest, sequence: 500, microseconds: 1_000)
        pcap.appendEcho(request: false, from: guest, to: client, sequence: 500, microseconds: 1_000 + microseconds)
        return pcap
    }

    static let source: [UInt8] = [198, 18, 0, 1]
    static let destination: [UInt8] = [198, 18, 0, 2]
    static let sourceV6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
    static let destinationV6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [2]
    static let migrationPort: UInt16 = 49152

    /// The first bytes of QEMU's main stream in clear: `QEVM`, version 3, then a section.
    static let qemuStreamStart: [UInt8] = [0x51, 0x45, 0x56, 0x4D, 0, 0, 0, 3, 0x07, 0, 0, 0, 0x0c] + Array("configuration".utf8)
    /// A multifd channel's initial packet in clear: magic, version 1, a UUID, the channel id.
    static let multifdStart: [UInt8] = [0x11, 0x22, 0x33, 0x44, 0, 0, 0, 1] + [UInt8](repeating: 0xab, count: 16) + [1]
    /// A TLS ClientHello record header and the start of the hello.
    static let clientHello: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03] + [UInt8](repeating: 0x5a, count: 32)
    /// A TLS ServerHello.
    static let serverHello: [UInt8] = [0x16, 0x03, 0x03, 0x00, 0x7a, 0x02, 0x00, 0x00, 0x76, 0x03, 0x03] + [UInt8](repeating: 0x33, count: 32)

    /// A whole connection from `clientPort` to the migration port: handshake, the client's
    /// `first` bytes (split at `splitAt` when given), `moreBytes` of data after them, an
    /// answer `answer` from the server, and the close.
    static func connection(into pcap: inout TestPcap, clientPort: UInt16, first: [UInt8], splitAt: Int? = nil, moreBytes: Int = 1_000,
                           answer: [UInt8] = [], v6: Bool = false, withSYN: Bool = true, clientISN: UInt32 = 1_000,
                           serverISN: UInt32 = 900_000) {
        let client = (v6 ? sourceV6 : source, clientPort)
        let server = (v6 ? destinationV6 : destination, migrationPort)
        if withSYN {
            pcap.append(TestSegment(source: client, destination: server, sequence: clientISN, flags: TestSegment.syn))
            pcap.append(TestSegment(source: server, destination: client, sequence: serverISN, acknowledgement: clientISN &+ 1,
                                    flags: TestSegment.syn | TestSegment.ack))
            pcap.append(TestSegment(source: client, destination: server, sequence: clientISN &+ 1, acknowledgement: serverISN &+ 1,
                                    flags: TestSegment.ack))
        }
        var sequence = clientISN &+ 1
        let pieces: [[UInt8]] = splitAt.map { [Array(first.prefix($0)), Array(first.dropFirst($0))] } ?? [first]
        for piece in pieces where !piece.isEmpty {
            pcap.append(TestSegment(source: client, destination: server, sequence: sequence, acknowledgement: serverISN &+ 1,
                                    flags: TestSegment.ack | TestSegment.psh, payload: piece))
            sequence &+= UInt32(piece.count)
        }
        if !answer.isEmpty {
            pcap.append(TestSegment(source: server, destination: client, sequence: serverISN &+ 1, acknowledgement: sequence,
                                    flags: TestSegment.ack | TestSegment.psh, payload: answer))
        }
        var left = moreBytes
        while left > 0 {
            let count = min(left, 1_200)
            pcap.append(TestSegment(source: client, destination: server, sequence: sequence, acknowledgement: serverISN &+ 1,
                                    flags: TestSegment.ack, payload: [UInt8](repeating: 0xee, count: count)))
            sequence &+= UInt32(count)
            left -= count
        }
        pcap.append(TestSegment(source: client, destination: server, sequence: sequence, acknowledgement: serverISN &+ 1,
                                flags: TestSegment.fin | TestSegment.ack))
    }

    /// A plain migration: one main stream in clear.
    static func plainMigration(_ linkType: TestLinkType = .linuxCooked2) -> TestPcap {
        var pcap = TestPcap(linkType: linkType)
        connection(into: &pcap, clientPort: 41234, first: qemuStreamStart)
        return pcap
    }

    /// A multifd migration in clear: the main stream and two channels.
    static func multifdPlain(_ linkType: TestLinkType = .linuxCooked2) -> TestPcap {
        var pcap = TestPcap(linkType: linkType)
        connection(into: &pcap, clientPort: 41234, first: qemuStreamStart)
        connection(into: &pcap, clientPort: 41236, first: multifdStart)
        connection(into: &pcap, clientPort: 41238, first: multifdStart)
        return pcap
    }

    /// A TLS migration with `channels` connections, every one beginning with a ClientHello;
    /// `clearChannel`: one more connection, in clear.
    static func tlsMigration(_ linkType: TestLinkType = .linuxCooked2, channels: Int = 3, clearChannel: [UInt8]? = nil,
                             v6: Bool = false) -> TestPcap {
        var pcap = TestPcap(linkType: linkType)
        for index in 0..<channels {
            connection(into: &pcap, clientPort: 41234 + UInt16(2 * index), first: clientHello, answer: serverHello, v6: v6)
        }
        if let clearChannel { connection(into: &pcap, clientPort: 41300, first: clearChannel, v6: v6) }
        return pcap
    }
}
