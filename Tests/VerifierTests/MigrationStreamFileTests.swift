import Foundation
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
    func error(reading bytes: [UInt8]) throws -> MigrationStreamFileError {
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
        return .empty(path: url.path)
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
        guard case .unreadable(_, let reason) = error else { return XCTFail("\(error)") }
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
