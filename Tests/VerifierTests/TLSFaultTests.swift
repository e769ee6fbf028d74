import Foundation
import Lab
import Libvirt
import XCTest
@testable import Verifier

/// tls-missing-cert and tls-untrusted: each acts only with its own error (the missing server
/// certificate in Prepare, the unknown issuer in the handshake), and what they set aside on
/// the destination comes back, also by the journal's script alone.
final class TLSFaultTests: XCTestCase {
    func outcome(_ ending: MigrationEnding, logged: [String]? = nil) -> MigrationOutcome {
        var outcome = Fixtures.outcome(ending, startedAt: 500, wall: 1_200)
        outcome.sourceDaemonErrors = logged.map { .success(DaemonLogErrors(location: "/var/log/libvirt/libvirtd.log on src", messages: $0)) }
        return outcome
    }

    let missing = MigrationEnding.failed(
        message: "virDomainMigrateToURI3 failed: internal error: unable to execute QEMU command 'object-add': Unable to access credentials /run/lab/hosts/dst/pki/qemu/server-cert.pem: No such file or directory [libvirt error 1]",
        kind: nil)
    let untrusted = MigrationEnding.failed(
        message: "virDomainMigrateToURI3 failed: operation failed: job 'migration out' failed: The certificate hasn't got a known issuer [libvirt error 9]",
        kind: .operationFailed)
    let unrelated = MigrationEnding.failed(message: "virDomainMigrateToURI3 failed: Connection refused [libvirt error 38]", kind: nil)
    let restored = (removed: true, evidence: "the destination's server-cert.pem and server-key.pem back in /d on dst")

    func testAMissingServerCertificateActsOnlyWithItsOwnError() throws {
        let evidence = TLSMissingCertificateFault.judge(setAsideFrom: "/d", outcome: outcome(missing), removal: restored)
        XCTAssertTrue(evidence.acted && evidence.errorAsExpected)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: true, says: "set aside from /d", "server-cert.pem")
        assertCheck(try Fixtures.faultRemoved(evidence), CheckName.faultRemoved, passed: true, says: "back in /d")
        XCTAssertFalse(TLSMissingCertificateFault.judge(setAsideFrom: "/d", outcome: outcome(untrusted), removal: restored).acted,
                       "another TLS failure is not this fault's")
        XCTAssertFalse(TLSMissingCertificateFault.judge(setAsideFrom: nil, outcome: outcome(missing), removal: nil).acted,
                       "nothing set aside: the error is not the fault's doing")
        XCTAssertFalse(TLSMissingCertificateFault.judge(setAsideFrom: "/d", outcome: outcome(.completed), removal: restored).acted)
    }

    func testAnUntrustedCertificateActsOnlyWithTheHandshakesError() throws {
        let evidence = TLSUntrustedFault.judge(replacedIn: "/d", outcome: outcome(untrusted), removal: restored)
        XCTAssertTrue(evidence.acted)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: true, says: "migverify untrusted CA", "known issuer")
        let generic = TLSUntrustedFault.judge(replacedIn: "/d", outcome: outcome(unrelated), removal: restored)
        XCTAssertFalse(generic.acted)
        assertCheck(try Fixtures.faultActed(generic), CheckName.faultActed, passed: false, says: "expected the source to reject")
        // libvirt may return its connection's error while the handshake's is in the source daemon's log.
        let logged = TLSUntrustedFault.judge(replacedIn: "/d", outcome: outcome(unrelated, logged: ["The certificate hasn't got a known issuer"]),
                                             removal: restored)
        XCTAssertTrue(logged.acted && logged.errorEvidence.contains("the source daemon logged"), logged.errorEvidence)
        XCTAssertFalse(TLSUntrustedFault.judge(replacedIn: "/d", outcome: outcome(missing), removal: restored).acted)
        // What happened when only the server certificate was replaced: the destination's own check in Prepare.
        let ownCheck = MigrationEnding.failed(
            message: "virDomainMigrateToURI3 failed: internal error: unable to execute QEMU command 'object-add': Our own certificate /d/server-cert.pem failed validation against /d/ca-cert.pem: The certificate hasn't got a known issuer [libvirt error 1]",
            kind: nil)
        let prepare = TLSUntrustedFault.judge(replacedIn: "/d", outcome: outcome(ownCheck), removal: restored)
        XCTAssertFalse(prepare.acted, prepare.errorEvidence)
        XCTAssertTrue(prepare.errorEvidence.contains("its own certificate while loading it"), prepare.errorEvidence)
    }

    func testBothAskForTLSAndExpectTheGuestOnTheSource() {
        for type in [TLSMissingCertificateFault.self, TLSUntrustedFault.self] as [any Fault.Type] {
            XCTAssertEqual(type.expectation, .staysOnSource)
            XCTAssertNotNil(FaultCatalog.standard.type(named: type.scenario.rawValue))
        }
    }

    /// The set-aside and the journal's restore script, run with sh on a real directory.
    func testTheRestoreScriptPutsTheOriginalsBackOverAStandInAndIsIdempotent() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tls-fault-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let stash = "\(directory)/\(DestinationTLSCredentials.stashName)"
        try FileManager.default.createDirectory(atPath: stash, withIntermediateDirectories: true)
        for name in ["ca-cert.pem"] + DestinationTLSCredentials.serverFileNames {
            try "original \(name)".write(toFile: "\(stash)/\(name)", atomically: true, encoding: .utf8)
            try "stand-in".write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8)
        }
        let script = DestinationTLSCredentials.restoreScript(directory: directory)
        XCTAssertTrue(try CommandRunner.capture(["sh", "-c", script], step: "restore").succeeded)
        for name in ["ca-cert.pem"] + DestinationTLSCredentials.serverFileNames {
            XCTAssertEqual(try String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8), "original \(name)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: stash))
        XCTAssertTrue(try CommandRunner.capture(["sh", "-c", script], step: "restore again").succeeded, "nothing set aside: nothing to do")
    }
}

/// tls-untrusted's stand-in: the destination's names, from a CA of its own that the lab's CA
/// does not vouch for (the real certtool).
final class UntrustedCredentialsTests: XCTestCase {
    func testTheStandInNamesTheDestinationAndIsNotTrusted() throws {
        guard CommandRunner.locate("certtool") != nil else { throw XCTSkip("certtool (gnutls-bin) is not installed; scripts/test.sh installs it") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("untrusted-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (lab, _) = try CertificateAuthority.ensure(in: directory, commonName: "migration lab CA")
        let standIn = try TLSUntrustedFault.untrustedServerCredentials(commonName: "lab-dst", addresses: ["198.18.0.2"])
        XCTAssertTrue(try XCTUnwrap(standIn["server-key.pem"]).contains("PRIVATE KEY"))
        XCTAssertEqual(Set(standIn.keys), ["ca-cert.pem", "server-cert.pem", "server-key.pem"])
        try XCTUnwrap(standIn["ca-cert.pem"]).write(toFile: "\(directory)/stand-in-ca.pem", atomically: true, encoding: .utf8)
        try XCTUnwrap(standIn["server-cert.pem"]).write(toFile: "\(directory)/stand-in.pem", atomically: true, encoding: .utf8)
        let info = try CommandRunner.run(["certtool", "-i", "--infile", "\(directory)/stand-in.pem"], step: "read").output
        XCTAssertTrue(info.contains("198.18.0.2") && info.contains(TLSUntrustedFault.untrustedAuthorityName), "right name, its own issuer")
        XCTAssertFalse(try CommandRunner.capture(["certtool", "--verify", "--load-ca-certificate", lab.certificatePath,
                                                  "--infile", "\(directory)/stand-in.pem"], step: "verify").succeeded)
        XCTAssertTrue(try CommandRunner.capture(["certtool", "--verify", "--load-ca-certificate", "\(directory)/stand-in-ca.pem",
                                                 "--infile", "\(directory)/stand-in.pem"], step: "verify").succeeded,
                      "the destination's own check passes: only the source's fails")
    }
}

/// The strategy words of issue 22 map to their flags, and libvirt's refusals come first.
final class MigrationStrategyWordTests: XCTestCase {
    func options(_ text: String) throws -> MigrationOptions {
        var options = MigrationOptions()
        try MigrationStrategy(parsing: text).apply(to: &options)
        return options
    }

    func testTLSTunnelledAndClientManagedMapToTheirFlags() throws {
        XCTAssertTrue(try options("tls").libvirtFlags.isSuperset(of: [.tls, .live, .peerToPeer]))
        XCTAssertTrue(try options("tunnelled").libvirtFlags.isSuperset(of: [.tunnelled, .peerToPeer]))
        XCTAssertFalse(try options("client-managed").libvirtFlags.contains(.peerToPeer))
        for text in ["tls", "tunnelled", "client-managed", "parallel=4+tls", "tls+tunnelled"] {
            XCTAssertEqual(try options(text).strategyLabel, text)
        }
        XCTAssertEqual(try options("precopy").strategyLabel, "precopy")
    }

    func testWhatLibvirtRefusesIsRefusedInOneLine() throws {
        for (text, says) in [("tunnelled+parallel=4", "parallel"), ("tunnelled+postcopy", "post-copy"), ("tunnelled+client-managed", "peer-to-peer")] {
            XCTAssertThrowsError(try options(text).validate(), text) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(says) && !message.contains("\n"), message)
            }
        }
        XCTAssertNoThrow(try options("tls+tunnelled").validate())
    }
}
