import Foundation
import Libvirt
import XCTest
@testable import Verifier

/// `stream-encrypted` on crafted captures: the check a TLS run gets, the note every other run
/// gets, and what a run stored before the capture existed is spared on rejudge.
final class StreamEncryptedTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("stream-encrypted-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// A landed live migration whose options ask for TLS (or not), and whose capture is `pcap`.
    private func observation(_ pcap: TestPcap?, tls: Bool = true, tunnelled: Bool = false) throws -> Observation {
        var o = try Fixtures.observation(.migrates)
        o.parameters.migration.tls = tls ? true : nil
        o.parameters.migration.tunnelled = tunnelled ? true : nil
        o.migrationStream = try pcap.map { .seen(try WireFixtures.read($0, in: directory)) }
        return o
    }

    func testAPlainMigrationFailsForTLS() throws {
        let check = Checks.streamEncrypted(try observation(WireFixtures.plainMigration()))
        assertCheck(check, CheckName.streamEncrypted, passed: false,
                    says: "in clear: QEVM on 198.18.0.1:41234→198.18.0.2:49152 (1 connection carried data: ", "[51 45 56 4d 00 00 00 03", "6 packets captured on TCP 49152-49215 on dst")
    }

    func testAMultifdMigrationInClearFailsNamingEveryChannel() throws {
        let check = Checks.streamEncrypted(try observation(WireFixtures.multifdPlain()))
        assertCheck(check, CheckName.streamEncrypted, passed: false,
                    says: "in clear: QEVM on 198.18.0.1:41234→198.18.0.2:49152, multifd magic on 198.18.0.1:41236→198.18.0.2:49152, multifd magic on 198.18.0.1:41238→198.18.0.2:49152")
    }

    func testATLSMigrationPassesWithEachConnectionAsEvidence() throws {
        let check = Checks.streamEncrypted(try observation(WireFixtures.tlsMigration()))
        assertCheck(check, CheckName.streamEncrypted, passed: true,
                    says: "3 connections to TCP 49152-49215 on dst carried data, each began with a TLS handshake",
                    "198.18.0.1:41234→198.18.0.2:49152: TLS handshake [16 03 01 02 00 01 00 01 fc 03 03", "answered [16 03 03 00 7a 02",
                    "1043 payload bytes sent", "198.18.0.1:41238→198.18.0.2:49152")
        XCTAssertTrue(try XCTUnwrap(check).evidence.contains("Ethernet") == false)
        assertCheck(Checks.streamEncrypted(try observation(WireFixtures.tlsMigration(.ethernet, v6: true))), CheckName.streamEncrypted,
                    passed: true, says: "[2001:db8::1]:41234→[2001:db8::2]:49152")
    }

    func testATLSMigrationWithOneConnectionInClearFails() throws {
        for clear in [WireFixtures.qemuStreamStart, WireFixtures.multifdStart] {
            let check = Checks.streamEncrypted(try observation(WireFixtures.tlsMigration(clearChannel: clear)))
            assertCheck(check, CheckName.streamEncrypted, passed: false, says: "in clear: ", "on 198.18.0.1:41300→198.18.0.2:49152",
                        "(4 connections carried data: ")
        }
        let unknown = Checks.streamEncrypted(try observation(WireFixtures.tlsMigration(clearChannel: Array("GET / HTTP/1.1\r\n".utf8))))
        assertCheck(unknown, CheckName.streamEncrypted, passed: false,
                    says: "not begun with a TLS handshake: 198.18.0.1:41300→198.18.0.2:49152 (unknown bytes)")
    }

    func testAnEmptyCaptureFailsForTLS() throws {
        let check = Checks.streamEncrypted(try observation(TestPcap(linkType: .linuxCooked2)))
        assertCheck(check, CheckName.streamEncrypted, passed: false,
                    says: "no connection to TCP 49152-49215 on dst carried data, though the migration completed", "not shown to be encrypted",
                    "0 packets captured")
        // Connections that carried nothing are not a stream either.
        var handshakesOnly = TestPcap(linkType: .linuxCooked2)
        WireFixtures.connection(into: &handshakesOnly, clientPort: 41234, first: [], moreBytes: 0)
        assertCheck(Checks.streamEncrypted(try observation(handshakesOnly)), CheckName.streamEncrypted, passed: false,
                    says: "no connection to TCP 49152-49215 on dst carried data")
    }

    func testACaptureJoinedMidStreamFails() throws {
        var pcap = TestPcap(linkType: .linuxCooked2)
        WireFixtures.connection(into: &pcap, clientPort: 41234, first: WireFixtures.clientHello, withSYN: false)
        let check = Checks.streamEncrypted(try observation(pcap))
        assertCheck(check, CheckName.streamEncrypted, passed: false, says: "not begun with a TLS handshake", "joined mid-stream")
    }

    func testACaptureThatCouldNotRunFailsAsNotMeasured() throws {
        var o = try observation(nil)
        o.migrationStream = .notLooked("tcpdump is not installed on dst (ssh root@dst.example): install it (Debian: apt-get install tcpdump) to capture the migration ports")
        assertCheck(Checks.streamEncrypted(o), CheckName.streamEncrypted, passed: false,
                    says: "not measured: could not look at the wire: tcpdump is not installed on dst")
        XCTAssertTrue(Checks.evaluate(o).contains { $0.name == CheckName.streamEncrypted && !$0.passed })
        XCTAssertNil(Checks.migrationStreamNote(o), "the check says why")
    }

    func testARunWithoutTLSIsNotJudgedButNoted() throws {
        let plain = try observation(WireFixtures.plainMigration(), tls: false)
        XCTAssertNil(Checks.streamEncrypted(plain))
        XCTAssertFalse(Checks.evaluate(plain).contains { $0.name == CheckName.streamEncrypted })
        XCTAssertEqual(Checks.migrationStreamNote(plain), "stream in clear: QEVM on 198.18.0.1:41234→198.18.0.2:49152 (1026 bytes sent)")
        var unseen = plain
        unseen.migrationStream = .notLooked("tcpdump is not installed on dst")
        XCTAssertEqual(Checks.migrationStreamNote(unseen), "migration stream not captured: tcpdump is not installed on dst")
    }

    func testATunnelledRunIsNotJudgedAndTheNoteSaysWhy() throws {
        let tunnelled = try observation(TestPcap(linkType: .linuxCooked2), tls: true, tunnelled: true)
        XCTAssertNil(Checks.streamEncrypted(tunnelled))
        let note = try XCTUnwrap(Checks.migrationStreamNote(tunnelled))
        XCTAssertTrue(note.contains("tunnelled through the libvirt daemons' connection"), note)
        XCTAssertTrue(note.contains("0 connections there carried data"), note)
    }

    func testAMigrationThatSentNothingIsNotJudged() throws {
        var refused = try observation(TestPcap(linkType: .linuxCooked2))
        refused.expectation = .staysOnSource
        refused.outcome = Fixtures.outcome(.failed(message: "unsupported scheme foo in migration URI foo://bar", kind: .operationFailed), wall: 30)
        XCTAssertNil(Checks.streamEncrypted(refused))
        XCTAssertEqual(Checks.migrationStreamNote(refused),
                       "stream-encrypted not judged: nothing was sent (no connection to TCP 49152-49215 on dst carried data and libvirt reported no byte sent)")
        // Once libvirt reports bytes sent, an empty capture is judged (and fails).
        refused.outcome.samples = [JobSample(side: "source", offsetMilliseconds: 10, jobType: "unbounded", dataProcessedBytes: 8_388_608)]
        assertCheck(Checks.streamEncrypted(refused), CheckName.streamEncrypted, passed: false, says: "though libvirt sent 8388608 bytes")
        // A failed migration whose stream was seen is judged on it.
        refused.outcome.samples = []
        refused.migrationStream = .seen(try WireFixtures.read(WireFixtures.tlsMigration(), in: directory))
        assertCheck(Checks.streamEncrypted(refused), CheckName.streamEncrypted, passed: true, says: "each began with a TLS handshake")
    }

    func testAnObservationStoredBeforeTheCaptureIsSparedOnRejudge() throws {
        let old = try observation(nil)
        XCTAssertTrue(Checks.unrecorded(old).contains(CheckName.streamEncrypted))
        assertCheck(Checks.streamEncrypted(old), CheckName.streamEncrypted, passed: false, says: "not measured", "stored before the check existed")
        XCTAssertFalse(Checks.unrecorded(try observation(WireFixtures.tlsMigration())).contains(CheckName.streamEncrypted))
        XCTAssertFalse(Checks.unrecorded(try observation(nil, tls: false)).contains(CheckName.streamEncrypted), "no TLS: no such check to spare")
        // Through rejudge's comparison: the stored run had no such check, so it is left out.
        let rejudged = Rejudgement(stored: [], rejudged: [(leg: .forward, checks: Checks.evaluate(old))],
                                   unrecorded: [.forward: Checks.unrecorded(old)])
        XCTAssertFalse(rejudged.changes.contains { $0.name == CheckName.streamEncrypted }, "\(rejudged.changes)")
    }

    func testTheObservationKeepsTheCaptureThroughJSON() throws {
        let o = try observation(WireFixtures.multifdPlain())
        let decoded = try resultsJSONDecoder().decode(Observation.self, from: try resultsJSONEncoder().encode(o))
        XCTAssertEqual(decoded, o)
        XCTAssertEqual(decoded.migrationStream, o.migrationStream)
    }
}
