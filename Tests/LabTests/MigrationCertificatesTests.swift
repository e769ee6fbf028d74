import Foundation
import XCTest
@testable import Lab

/// The lab's certificates, made with the real certtool: each host's server certificate
/// verifies against the lab CA and names the host's migration address; one from another CA
/// does not.
final class CertificateAuthorityTests: XCTestCase {
    func verifies(_ certificate: String, against authority: String) throws -> Bool {
        try CommandRunner.capture(["certtool", "--verify", "--load-ca-certificate", authority, "--infile", certificate], step: "verify").succeeded
    }

    func testLabCertificatesVerifyAndTheUntrustedOneDoesNot() throws {
        guard CommandRunner.locate("certtool") != nil else { throw XCTSkip("certtool (gnutls-bin) is not installed; scripts/test.sh installs it") }
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("lab-pki-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let configuration = LabConfiguration(stateDirectory: state)
        var actions: [String] = []
        try MigrationCertificates(configuration: configuration).ensure(actions: &actions)
        XCTAssertEqual(actions.count, 1 + configuration.hosts.count, "\(actions)")
        let destination = configuration.migrationTLSDirectory(configuration.destination)
        for name in MigrationCertificates.fileNames {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(destination)/\(name)"), name)
        }
        XCTAssertTrue(try verifies("\(destination)/server-cert.pem", against: "\(destination)/ca-cert.pem"))
        XCTAssertTrue(try verifies("\(configuration.migrationTLSDirectory(configuration.source))/client-cert.pem", against: "\(destination)/ca-cert.pem"))
        let info = try CommandRunner.run(["certtool", "-i", "--infile", "\(destination)/server-cert.pem"], step: "read").output
        XCTAssertTrue(info.contains(configuration.destination.address) && info.contains("TLS WWW Server"), info)
        var again: [String] = []
        try MigrationCertificates(configuration: configuration).ensure(actions: &again)
        XCTAssertEqual(again, [], "made once")

        let (other, _) = try CertificateAuthority.ensure(in: "\(state)/other-ca", commonName: "another CA")
        try other.issue(role: .server, commonName: "lab-dst", addresses: [configuration.destination.address],
                        keyPath: "\(state)/other-key.pem", certificatePath: "\(state)/other-cert.pem")
        XCTAssertTrue(try verifies("\(state)/other-cert.pem", against: other.certificatePath))
        XCTAssertFalse(try verifies("\(state)/other-cert.pem", against: "\(destination)/ca-cert.pem"), "another CA's certificate is not trusted")
    }
}

