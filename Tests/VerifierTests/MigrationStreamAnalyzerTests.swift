import Foundation
import PingMonitor
import XCTest
@testable import Verifier

/// The decoding of captured frames into TCP segments, their grouping into connections and the
/// classification of each connection's first bytes, on frames built in memory.
final class MigrationStreamAnalyzerTests: XCTestCase {
    private let ports = 49152...49215

    /// The analyzer fed every frame of `pcap` (parsed back from its bytes).
    private func analyzer(_ pcap: TestPcap) -> MigrationStreamAnalyzer {
        var analyzer = MigrationStreamAnalyzer(ports: ports)
        let linkLayer: LinkLayer
        switch pcap.linkType {
        case .ethernet: linkLayer = .ethernet
        case .linuxCooked: linkLayer = .linuxCooked
        case .linuxCooked2: linkLayer = .linuxCooked2
        }
        func le32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(pcap.bytes[at + $1]) << (8 * $1) } }
        var offset = 24
        while offset + 16 <= pcap.bytes.count {
            let captured = le32(offset + 8)
            let frame = Array(pcap.bytes[(offset + 16)..<(offset + 16 + captured)])
            frame.withUnsafeBytes { analyzer.add(frame: $0, wireLengthBytes: le32(offset + 12), linkLayer: linkLayer) }
            offset += 16 + captured
        }
        XCTAssertEqual(analyzer.undecodedFrames, 0)
        return analyzer
    }

    private func analyzed(_ pcap: TestPcap) throws -> [StreamConnection] { analyzer(pcap).connections().toMigrationPorts }

    // MARK: the classifier

    func testTheFirstBytesOfEachKindOfStream() {
        XCTAssertEqual(MigrationStreamAnalyzer.classify(WireFixtures.qemuStreamStart), .qemuMainStream)
        XCTAssertEqual(MigrationStreamAnalyzer.classify([0x51, 0x45, 0x56, 0x4D]), .qemuMainStream)
        XCTAssertEqual(MigrationStreamAnalyzer.classify(WireFixtures.multifdStart), .multifdChannel)
        XCTAssertEqual(MigrationStreamAnalyzer.classify(WireFixtures.clientHello), .tlsHandshake)
        for minor: UInt8 in 1...3 { XCTAssertEqual(MigrationStreamAnalyzer.classify([0x16, 0x03, minor]), .tlsHandshake, "3.\(minor)") }
    }

    func testBytesThatAreNoneOfThemAreUnknown() {
        for bytes: [UInt8] in [[], [0x51, 0x45, 0x56], [0x51, 0x45, 0x56, 0x4E], [0x44, 0x33, 0x22, 0x11], [0x17, 0x03, 0x03, 0, 1],
                               [0x16, 0x03, 0x04], [0x16, 0x03, 0x00], [0x16, 0x02, 0x01], [0x16, 0x03], Array("GET / HTTP/1.1".utf8)] {
            XCTAssertEqual(MigrationStreamAnalyzer.classify(bytes), .unknown, "\(bytes)")
        }
        XCTAssertTrue(StreamStart.qemuMainStream.isClear)
        XCTAssertTrue(StreamStart.multifdChannel.isClear)
        XCTAssertEqual(StreamStart.allCases.filter(\.isClear), [.qemuMainStream, .multifdChannel])
    }

    // MARK: connections

    func testAPlainMigrationIsOneConnectionBegunWithQEVM() throws {
        let connections = try analyzed(WireFixtures.plainMigration())
        XCTAssertEqual(connections.count, 1)
        let connection = try XCTUnwrap(connections.first)
        XCTAssertEqual(connection.client, "198.18.0.1:41234")
        XCTAssertEqual(connection.server, "198.18.0.2:49152")
        XCTAssertEqual(connection.serverPort, 49152)
        XCTAssertTrue(connection.sawOpening)
        XCTAssertEqual(connection.start, .qemuMainStream)
        XCTAssertEqual(connection.clientToServer.firstBytesHex, "5145564d00000003070000000c636f6e")
        // SYN, ACK, the stream's start, 1000 bytes in one segment, FIN; SYN-ACK back.
        XCTAssertEqual(connection.clientToServer.packets, 5)
        XCTAssertEqual(connection.clientToServer.payloadBytes, UInt64(WireFixtures.qemuStreamStart.count + 1_000))
        XCTAssertEqual(connection.clientToServer.ipBytes, UInt64(5 * 40 + WireFixtures.qemuStreamStart.count + 1_000))
        XCTAssertEqual(connection.serverToClient.packets, 1)
        XCTAssertEqual(connection.serverToClient.payloadBytes, 0)
        XCTAssertTrue(connection.description.contains("198.18.0.1:41234→198.18.0.2:49152: QEVM"), connection.description)
        XCTAssertTrue(connection.description.contains("[51 45 56 4d 00 00 00 03"), connection.description)
    }

    func testEveryLinkTypeAndIPv6GiveTheSameConnections() throws {
        let reference = try analyzed(WireFixtures.multifdPlain(.linuxCooked2))
        XCTAssertEqual(reference.map(\.start), [.qemuMainStream, .multifdChannel, .multifdChannel])
        XCTAssertEqual(try analyzed(WireFixtures.multifdPlain(.ethernet)), reference)
        XCTAssertEqual(try analyzed(WireFixtures.multifdPlain(.linuxCooked)), reference)
        let v6 = try analyzed(WireFixtures.tlsMigration(.ethernet, channels: 2, v6: true))
        XCTAssertEqual(v6.map(\.start), [.tlsHandshake, .tlsHandshake])
        XCTAssertEqual(v6.first?.client, "[2001:db8::1]:41234")
        XCTAssertEqual(v6.first?.server, "[2001:db8::2]:49152")
        XCTAssertEqual(v6.first?.serverToClient.firstBytesHex.prefix(6), "160303")
    }

    func testFirstBytesSplitOverSegmentsAreJoinedInSequenceOrder() throws {
        var pcap = TestPcap(linkType: .linuxCooked2)
        WireFixtures.connection(into: &pcap, clientPort: 41234, first: WireFixtures.qemuStreamStart, splitAt: 2)
        let split = try XCTUnwrap(try analyzed(pcap).first)
        XCTAssertEqual(split.start, .qemuMainStream)
        XCTAssertEqual(split.clientToServer.firstBytesHex.prefix(8), "5145564d")
    }

    func testOutOfOrderAndRetransmittedSegmentsStillGiveTheStreamsStart() throws {
        let client = (WireFixtures.source, UInt16(41234))
        let server = (WireFixtures.destination, WireFixtures.migrationPort)
        var pcap = TestPcap(linkType: .linuxCooked2)
        // An initial sequence number just below the wrap.
        let isn: UInt32 = 0xFFFF_FFFE
        pcap.append(TestSegment(source: client, destination: server, sequence: isn, flags: TestSegment.syn))
        pcap.append(TestSegment(source: server, destination: client, sequence: 7, acknowledgement: isn &+ 1, flags: TestSegment.syn | TestSegment.ack))
        // The second piece arrives first, then the first twice.
        pcap.append(TestSegment(source: client, destination: server, sequence: isn &+ 3, flags: TestSegment.ack, payload: [0x03, 0x01, 0x02, 0x00]))
        pcap.append(TestSegment(source: client, destination: server, sequence: isn &+ 1, flags: TestSegment.ack, payload: [0x16, 0x03]))
        pcap.append(TestSegment(source: client, destination: server, sequence: isn &+ 1, flags: TestSegment.ack, payload: [0x16, 0x03]))
        let connection = try XCTUnwrap(try analyzed(pcap).first)
        XCTAssertEqual(connection.clientToServer.firstBytesHex, "160303010200")
        XCTAssertEqual(connection.start, .tlsHandshake)
    }

    func testAConnectionWithoutItsSYNIsJoinedMidStream() throws {
        var pcap = TestPcap(linkType: .linuxCooked2)
        WireFixtures.connection(into: &pcap, clientPort: 41234, first: WireFixtures.clientHello, withSYN: false)
        let connection = try XCTUnwrap(try analyzed(pcap).first)
        XCTAssertFalse(connection.sawOpening)
        XCTAssertEqual(connection.start, .joinedMidStream)
        // The side on the migration port is taken for the server.
        XCTAssertEqual(connection.server, "198.18.0.2:49152")
        XCTAssertEqual(connection.clientToServer.firstBytesHex.prefix(6), "160301", "the first segment captured, shown as such")
    }

    func testAMissingFirstSegmentIsNotGuessedFromALaterOne() throws {
        let client = (WireFixtures.source, UInt16(41234))
        let server = (WireFixtures.destination, WireFixtures.migrationPort)
        var pcap = TestPcap(linkType: .linuxCooked2)
        pcap.append(TestSegment(source: client, destination: server, sequence: 100, flags: TestSegment.syn))
        // Bytes 4 on: a later segment that happens to hold a ClientHello's look.
        pcap.append(TestSegment(source: client, destination: server, sequence: 105, flags: TestSegment.ack, payload: WireFixtures.clientHello))
        let connection = try XCTUnwrap(try analyzed(pcap).first)
        XCTAssertEqual(connection.start, .firstBytesMissing)
        XCTAssertEqual(connection.clientToServer.firstBytesHex, "")
    }

    func testAConnectionWhoseClientSentNothingHasNoData() throws {
        var pcap = TestPcap(linkType: .linuxCooked2)
        WireFixtures.connection(into: &pcap, clientPort: 41234, first: [], moreBytes: 0)
        let connection = try XCTUnwrap(try analyzed(pcap).first)
        XCTAssertEqual(connection.start, .noData)
        XCTAssertFalse(connection.carriesData)
    }

    func testASnapshotThatCutTheFirstSegmentKeepsOnlyWhatItHolds() throws {
        var pcap = TestPcap(linkType: .linuxCooked2, snapLengthBytes: 20 + 20 + 20 + 2)
        WireFixtures.connection(into: &pcap, clientPort: 41234, first: WireFixtures.qemuStreamStart, moreBytes: 0)
        let connection = try XCTUnwrap(try analyzed(pcap).first)
        XCTAssertEqual(connection.clientToServer.firstBytesHex, "5145")
        XCTAssertEqual(connection.start, .unknown)
        XCTAssertEqual(connection.clientToServer.payloadBytes, UInt64(WireFixtures.qemuStreamStart.count), "lengths come from the IP header")
    }

    func testConnectionsToOtherPortsAreCountedApart() throws {
        var pcap = WireFixtures.plainMigration()
        // The source daemon's connection to dst's libvirtd from an ephemeral port in the range:
        // tcpdump's filter lets it through, but it is no migration connection.
        let client = (WireFixtures.source, UInt16(49170))
        let daemon = (WireFixtures.destination, UInt16(16509))
        pcap.append(TestSegment(source: client, destination: daemon, sequence: 5, flags: TestSegment.syn))
        pcap.append(TestSegment(source: client, destination: daemon, sequence: 6, flags: TestSegment.ack, payload: [0, 0, 0, 28]))
        let connections = analyzer(pcap).connections()
        XCTAssertEqual(connections.toMigrationPorts.map(\.server), ["198.18.0.2:49152"])
        XCTAssertEqual(connections.others, 1)
    }

    func testAFrameSeenAgainOnAnotherInterfaceIsCountedOnce() throws {
        let client = (WireFixtures.source, UInt16(41234))
        let server = (WireFixtures.destination, WireFixtures.migrationPort)
        var pcap = TestPcap(linkType: .linuxCooked2)
        for interface: UInt32 in [3, 4] {  // the bridge port, then the bridge
            pcap.append(TestSegment(source: client, destination: server, sequence: 1, flags: TestSegment.syn, interfaceIndex: interface))
        }
        for interface: UInt32 in [3, 4] {
            pcap.append(TestSegment(source: client, destination: server, sequence: 2, flags: TestSegment.ack,
                                    payload: WireFixtures.qemuStreamStart, interfaceIndex: interface))
        }
        let connection = try XCTUnwrap(try analyzed(pcap).first)
        XCTAssertEqual(connection.clientToServer.packets, 2)
        XCTAssertEqual(connection.clientToServer.payloadBytes, UInt64(WireFixtures.qemuStreamStart.count))
    }

    func testANewSYNOnTheSameEndpointsIsANewConnection() throws {
        var pcap = TestPcap(linkType: .linuxCooked2)
        WireFixtures.connection(into: &pcap, clientPort: 41234, first: WireFixtures.clientHello, clientISN: 10)
        WireFixtures.connection(into: &pcap, clientPort: 41234, first: WireFixtures.qemuStreamStart, clientISN: 50_000)
        XCTAssertEqual(try analyzed(pcap).map(\.start), [.tlsHandshake, .qemuMainStream])
    }

    func testARetransmittedSYNIsTheSameConnection() throws {
        let client = (WireFixtures.source, UInt16(41234))
        let server = (WireFixtures.destination, WireFixtures.migrationPort)
        var pcap = TestPcap(linkType: .linuxCooked2)
        pcap.append(TestSegment(source: client, destination: server, sequence: 77, flags: TestSegment.syn))
        WireFixtures.connection(into: &pcap, clientPort: 41234, first: WireFixtures.clientHello, clientISN: 77)
        let connections = try analyzed(pcap)
        XCTAssertEqual(connections.count, 1)
        XCTAssertEqual(connections.first?.start, .tlsHandshake)
    }

    // MARK: the decoder

    func testMalformedFramesAreNoSegments() {
        let cases: [(String, [UInt8], LinkLayer)] = [
            ("empty", [], .linuxCooked2),
            ("a cooked header only", [0x08, 0x00] + [UInt8](repeating: 0, count: 18), .linuxCooked2),
            ("ARP", [0x08, 0x06] + [UInt8](repeating: 0, count: 46), .linuxCooked2),
            ("UDP", TestPcap.be16(0x0800) + [UInt8](repeating: 0, count: 18) + [0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
                + [UInt8](repeating: 0, count: 8), .linuxCooked2),
            ("a TCP header cut short", TestPcap.be16(0x0800) + [UInt8](repeating: 0, count: 18) + [0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
                + [0, 1, 0, 2], .linuxCooked2),
            ("a later fragment", TestPcap.be16(0x0800) + [UInt8](repeating: 0, count: 18) + [0x45, 0, 0, 40, 0, 0, 0, 0x10, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
                + [UInt8](repeating: 0, count: 20), .linuxCooked2),
            ("an IP header longer than the packet", TestPcap.be16(0x0800) + [UInt8](repeating: 0, count: 18) + [0x4F, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
                + [UInt8](repeating: 0, count: 20), .linuxCooked2),
        ]
        for (name, frame, linkLayer) in cases {
            let segment = frame.withUnsafeBytes { TCPSegmentDecoder.decode($0, wireLengthBytes: frame.count, linkLayer: linkLayer) }
            XCTAssertNil(segment, name)
        }
    }

    func testAnOffloadedPacketWithoutATotalLengthTakesTheFramesLength() throws {
        var pcap = TestPcap(linkType: .ethernet, snapLengthBytes: 100)
        pcap.append(TestSegment(source: (WireFixtures.source, 41234), destination: (WireFixtures.destination, WireFixtures.migrationPort),
                                sequence: 1, flags: TestSegment.ack, payload: [UInt8](repeating: 1, count: 60_000)))
        var frame = Array(pcap.bytes[40...])
        frame[16] = 0  // total length 0, as a segmentation-offloaded packet may say
        frame[17] = 0
        let wire = 14 + 20 + 20 + 60_000
        let segment = try XCTUnwrap(frame.withUnsafeBytes { TCPSegmentDecoder.decode($0, wireLengthBytes: wire, linkLayer: .ethernet) })
        XCTAssertEqual(segment.ipLengthBytes, 60_040)
        XCTAssertEqual(segment.payloadLengthBytes, 60_000)
        XCTAssertEqual(segment.payloadPrefix.count, TCPSegmentDecoder.payloadBytesKept)
    }

    func testVLANTagsAndIPv6ExtensionHeadersAreSkipped() throws {
        // Ethernet with one 802.1Q tag, IPv6 with a hop-by-hop header before TCP.
        let tcp = TestPcap.be16(41234) + TestPcap.be16(49152) + TestPcap.be32(9) + TestPcap.be32(0) + [0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]
            + WireFixtures.clientHello.prefix(6)
        let hopByHop: [UInt8] = [6, 0, 1, 4, 0, 0, 0, 0]
        let ipv6 = [0x60, 0, 0, 0] + TestPcap.be16(UInt16(hopByHop.count + tcp.count)) + [0, 64] + WireFixtures.sourceV6
            + WireFixtures.destinationV6 + hopByHop + tcp
        let frame = [UInt8](repeating: 2, count: 12) + [0x81, 0x00, 0x00, 0x05] + [0x86, 0xDD] + ipv6
        let segment = try XCTUnwrap(frame.withUnsafeBytes { TCPSegmentDecoder.decode($0, wireLengthBytes: frame.count, linkLayer: .ethernet) })
        XCTAssertEqual(segment.destination.port, 49152)
        XCTAssertEqual(segment.payloadPrefix, Array(WireFixtures.clientHello.prefix(6)))
        XCTAssertEqual(segment.source.description, "[2001:db8::1]:41234")
    }
}
