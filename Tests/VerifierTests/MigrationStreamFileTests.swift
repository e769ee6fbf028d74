import Foundation
import PingMonitor
import XCTest
@testable import Verifier

/// Capture files of the migration ports, written in the test and read back with libpcap.
final class MigrationStreamFileTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("stream-file-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func read(_ pcap: TestPcap, packetLimit: Int? = nil) throws -> MigrationStreamObservation {
        try WireFixtures.read(pcap, in: directory, packetLimit: packetLimit)
    }

    /// The error reading `bytes` as a capture file gives.
    func error(reading bytes: [UInt8]) throws -> CaptureFileError {
        let url = directory.appendingPathComponent("bad-\(UUID().uuidString).pcap")
        try Data(bytes).write(to: url)
        do {
            _ = try MigrationStreamFile.analyze(path: url.path, ports: 49152...49215, hostName: "dst")
        } catch {
            XCTAssertFalse(error.description.contains("\n"), "one line: \(error)")
            XCTAssertTrue(error.description.contains(url.path), "names the file: \(error)")
            return error
        }
        XCTFail("read \(bytes.count) bytes of a bad file without an error")
        return .empty(path: url.path, capture: "")
    }

    /// The guest's echoes on the destination: the first probe's and the first reply's
    /// earliest sighting over the host's interfaces, the probes held before the reply; other
    /// hosts' echoes and the migration's own segments leave them alone.
    func testTheGuestsFirstProbeAndFirstReplyOnTheDestinationAreTakenFromItsCapture() throws {
        for (guest, client, other) in [([UInt8]([198, 18, 1, 10]), [UInt8]([198, 18, 1, 2]), [UInt8]([198, 18, 1, 11])),
                                        (WireFixtures.destinationV6, WireFixtures.sourceV6, WireFixtures.sourceV6.dropLast() + [9])] {
            var pcap = TestPcap(linkType: .linuxCooked2)
            // Another host's echoes before the guest's: not the guest's.
            pcap.appendEcho(request: true, from: client, to: other, sequence: 90, microseconds: 1_000)
            pcap.appendEcho(request: false, from: other, to: client, sequence: 90, microseconds: 1_100)
            // Probes 100-102 reach the host (uplink, bridge, tap) and wait for the guest.
            for (sequence, at) in [(UInt16(100), UInt32(10_000)), (101, 11_000), (102, 12_000)] {
                for (interface, delay) in [(UInt32(4), UInt32(0)), (5, 20), (6, 40)] {
                    pcap.appendEcho(request: true, from: client, to: guest, sequence: sequence, microseconds: at + delay, interfaceIndex: interface)
                }
            }
            // The guest answers 100 first, 25.5 ms after it arrived (tap, bridge, uplink), then the rest.
            for (interface, delay) in [(UInt32(6), UInt32(0)), (5, 20), (4, 40)] {
                pcap.appendEcho(request: false, from: guest, to: client, sequence: 100, microseconds: 35_500 + delay, interfaceIndex: interface)
            }
            pcap.appendEcho(request: true, from: client, to: guest, sequence: 103, microseconds: 36_000)
            pcap.appendEcho(request: false, from: guest, to: client, sequence: 101, microseconds: 36_100)
            let echoes = try WireFixtures.readEchoes(pcap, of: try XCTUnwrap(address(guest)), in: directory, packetLimit: 17)
            XCTAssertEqual(echoes.firstProbeEpochNanoseconds, pcap.echoTimeNanoseconds(microseconds: 10_000))
            XCTAssertEqual(echoes.firstProbeSequence, 100)
            XCTAssertEqual(echoes.firstReplyEpochNanoseconds, pcap.echoTimeNanoseconds(microseconds: 35_500))
            XCTAssertEqual(echoes.firstReplySequence, 100)
            XCTAssertEqual(echoes.probesBeforeFirstReply, 3, "distinct probes, each seen on three interfaces")
            XCTAssertEqual(echoes.echoPacketsCaptured, 9 + 3 + 2)
            XCTAssertEqual(try XCTUnwrap(echoes.guestAnswerDelayMilliseconds), 25.5, accuracy: 1e-9)
            XCTAssertNil(echoes.answerDelayMissingReason)
            XCTAssertEqual(echoes.hostName, "dst")
            XCTAssertTrue(echoes.clockIsThisMachines)
            XCTAssertFalse(echoes.packetLimitReached, "16 packets, under the limit of 17")
        }
    }

    private func address(_ bytes: [UInt8]) -> IPAddress? {
        bytes.count == 4 ? .v4(IPv4Address(bytes[0], bytes[1], bytes[2], bytes[3])) : IPv6Address(bytes: bytes).map(IPAddress.v6)
    }

    /// A probe the source delivered into the guest's memory before the switch-over is answered
    /// on the destination before any probe reaches it (seen on the lab over ssh): that reply is
    /// not the answer to the probes waiting there, and the delay runs to the first reply after them.
    func testAReplyToAProbeCarriedInTheGuestsMemoryDoesNotEndTheAnswerDelay() throws {
        let guest: [UInt8] = [198, 18, 1, 10], client: [UInt8] = [198, 18, 1, 2]
        let address = try XCTUnwrap(address(guest))
        var pcap = TestPcap(linkType: .linuxCooked2)
        pcap.appendEcho(request: false, from: guest, to: client, sequence: 40, microseconds: 2_000)
        pcap.appendEcho(request: false, from: guest, to: client, sequence: 40, microseconds: 2_020, interfaceIndex: 5)
        for (sequence, at) in [(UInt16(95), UInt32(9_000)), (96, 10_000), (97, 11_000)] {
            pcap.appendEcho(request: true, from: client, to: guest, sequence: sequence, microseconds: at)
        }
        pcap.appendEcho(request: false, from: guest, to: client, sequence: 95, microseconds: 30_000)
        pcap.appendEcho(request: true, from: client, to: guest, sequence: 98, microseconds: 31_000)
        let echoes = try WireFixtures.readEchoes(pcap, of: address, in: directory)
        XCTAssertEqual(echoes.firstProbeSequence, 95)
        XCTAssertEqual(echoes.firstReplySequence, 95)
        XCTAssertEqual(try XCTUnwrap(echoes.guestAnswerDelayMilliseconds), 21, accuracy: 1e-9)
        XCTAssertEqual(echoes.probesBeforeFirstReply, 3)
        XCTAssertEqual(echoes.repliesBeforeFirstProbe, 1, "one carried probe, its reply seen on two interfaces")
        XCTAssertEqual(echoes.echoPacketsCaptured, 7)

        var carriedOnly = TestPcap(linkType: .linuxCooked2)
        carriedOnly.appendEcho(request: false, from: guest, to: client, sequence: 40, microseconds: 2_000)
        carriedOnly.appendEcho(request: true, from: client, to: guest, sequence: 95, microseconds: 9_000)
        let unanswered = try WireFixtures.readEchoes(carriedOnly, of: address, in: directory)
        XCTAssertNil(unanswered.guestAnswerDelayMilliseconds)
        XCTAssertEqual(unanswered.answerDelayMissingReason, "198.18.1.10 did not answer on the destination after the first probe "
                       + "reached it (only 1 reply(ies) before, to probes carried in its memory) while it was captured")
    }

    /// A guest that never answered there, or no probe at all, leaves the delay unmeasured and says why.
    func testAGuestThatNeverAnsweredOnTheDestinationHasNoAnswerDelay() throws {
        let guest: [UInt8] = [198, 18, 1, 10]
        let address = try XCTUnwrap(address(guest))
        var pcap = TestPcap(linkType: .linuxCooked2)
        pcap.appendEcho(request: true, from: [198, 18, 1, 2], to: [198, 18, 1, 11], sequence: 7, microseconds: 1_000)
        let none = try WireFixtures.readEchoes(pcap, of: address, in: directory, packetLimit: 1)
        XCTAssertNil(none.guestAnswerDelayMilliseconds)
        XCTAssertEqual(none.answerDelayMissingReason, "no probe to 198.18.1.10 reached the destination while it was captured "
                       + "(the capture stopped at its packet limit)")
        pcap.appendEcho(request: true, from: [198, 18, 1, 2], to: guest, sequence: 7, microseconds: 5_000)
        let unanswered = try WireFixtures.readEchoes(pcap, of: address, in: directory)
        XCTAssertNil(unanswered.guestAnswerDelayMilliseconds)
        XCTAssertEqual(unanswered.probesBeforeFirstReply, 1)
        XCTAssertEqual(unanswered.answerDelayMissingReason, "198.18.1.10 did not answer on the destination while it was captured")
    }

    func testEachMigrationReadsBackFromItsFile() throws {
        let plain = try read(WireFixtures.plainMigration())
        XCTAssertEqual(plain.connections.map(\.start), [.qemuMainStream])
        XCTAssertEqual(plain.packetsCaptured, 6)
        XCTAssertEqual(plain.hostName, "dst")
        XCTAssertEqual(plain.summary, "stream in clear: QEVM on 198.18.0.1:41234→198.18.0.2:49152 (1026 bytes sent)")
        XCTAssertEqual(try read(WireFixtures.multifdPlain(.ethernet)).connections.map(\.start), [.qemuMainStream, .multifdChannel, .multifdChannel])
        let tls = try read(WireFixtures.tlsMigration(.linuxCooked))
        XCTAssertEqual(tls.connections.map(\.start), [.tlsHandshake, .tlsHandshake, .tlsHandshake])
        XCTAssertTrue(tls.summary.hasPrefix("migration stream: TLS on 198.18.0.1:41234→198.18.0.2:49152"), tls.summary)
    }

    func testAnEmptyCaptureHasNoConnections() throws {
        let empty = try read(TestPcap(linkType: .linuxCooked2))
        XCTAssertEqual(empty.packetsCaptured, 0)
        XCTAssertEqual(empty.connections, [])
        XCTAssertEqual(empty.summary, "migration stream: no connection to TCP 49152-49215 on dst carried data (0 packets captured on TCP 49152-49215 on dst)")
    }

    func testACaptureAtItsLimitSaysSo() throws {
        let limited = try read(WireFixtures.plainMigration(), packetLimit: 6)
        XCTAssertTrue(limited.limitReached)
        XCTAssertTrue(limited.coverage.contains("stopped at its limit of 6 packets"), limited.coverage)
        XCTAssertFalse(try read(WireFixtures.plainMigration(), packetLimit: 7).limitReached)
    }

    func testATruncatedFileIsAOneLineError() throws {
        let whole = WireFixtures.plainMigration().bytes
        let error = try self.error(reading: Array(whole.dropLast(30)))
        guard case .unreadable(_, _, let reason) = error else { return XCTFail("\(error)") }
        XCTAssertTrue(reason.contains("damaged after 5 packets"), reason)
        XCTAssertTrue(error.description.hasPrefix("migration-port capture: "), error.description)
    }

    func testACorruptOrEmptyFileIsAOneLineError() throws {
        let notACapture = try error(reading: Array("this is no capture file at all".utf8))
        guard case .unreadable = notACapture else { return XCTFail("\(notACapture)") }
        let noHeader = try error(reading: [])
        guard case .empty = noHeader else { return XCTFail("\(noHeader)") }
        XCTAssertTrue(noHeader.description.contains("is empty"), noHeader.description)
        let halfHeader = try error(reading: Array(WireFixtures.plainMigration().bytes.prefix(12)))
        guard case .unreadable = halfHeader else { return XCTFail("\(halfHeader)") }
    }

    func testAMissingFileIsAOneLineError() {
        let path = directory.appendingPathComponent("never-written.pcap").path
        XCTAssertThrowsError(try MigrationStreamFile.analyze(path: path, ports: 49152...49215, hostName: "dst")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(path) && !text.contains("\n"), text)
        }
    }
}
