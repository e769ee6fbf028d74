import Foundation
import Lab

/// tls-untrusted: a TLS migration (`VIR_MIGRATE_TLS`) to a destination whose credentials come
/// from a CA the source does not trust. The fault makes a CA of its own and issues a server
/// certificate for the destination's migration address from it — right name, wrong issuer,
/// so the issuer is the only thing wrong — and puts it, its key and that CA in place of the
/// destination's for the run. The CA goes too because QEMU validates its own certificate
/// against its own CA when libvirt loads the credentials in Prepare ("Our own certificate …
/// failed validation"), which would fail the migration before any handshake. So the
/// destination starts its incoming QEMU, and the source QEMU's TLS client rejects the
/// destination's certificate in the handshake ("The certificate hasn't got a known issuer"):
/// Perform fails, Finish cleans up the destination, and the guest must keep running on the
/// source with nothing left behind.
public final class TLSUntrustedFault: Fault {
    public static let scenario = ScenarioKind.tlsUntrusted
    public static let summary = "a TLS migration to a destination whose credentials come from an untrusted CA fails in the handshake; the guest stays on the source, the destination is clean"
    public static let expectation = ExpectedOutcome.staysOnSource
    /// The common name of the fault's own CA.
    static let untrustedAuthorityName = "migverify untrusted CA"
    /// QEMU's words for a peer certificate whose issuer it does not know (crypto/tlssession.c).
    static let untrustedPhrases = ["hasn't got a known issuer", "is not trusted"]
    /// QEMU's words when a host's own certificate fails against its own CA (crypto/tlscredsx509.c):
    /// a failure in loading the credentials, not in the handshake.
    static let ownCertificatePhrase = "Our own certificate"

    private let credentials = DestinationTLSCredentials(fileNames: ["ca-cert.pem"] + DestinationTLSCredentials.serverFileNames)

    public init() {}

    public static func refusal(on testbed: any Testbed) -> String? { FaultNeeds.destinationShell(testbed) }

    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {
        plan.options.tls = true
        plan.notes.append("encrypted with TLS (VIR_MIGRATE_TLS); the destination presents a certificate from \(Self.untrustedAuthorityName)")
    }

    public func install(_ context: FaultContext) throws(VerifierError) {
        let names = Self.destinationNames(context)
        let replacements: [String: String]
        do {
            replacements = try Self.untrustedServerCredentials(commonName: names.commonName, addresses: names.addresses)
        } catch {
            throw .environment("make a certificate from an untrusted CA for --scenario \(Self.scenario.rawValue): \(error)")
        }
        try credentials.setAside(context, scenario: Self.scenario, replacements: replacements)
    }

    /// The names the source checks the destination's certificate against: the migration
    /// address libvirt gives QEMU as `tls-hostname` (the lab's destination address; on real
    /// hosts the destination URI's host).
    static func destinationNames(_ context: FaultContext) -> (commonName: String, addresses: [String]) {
        if let lab = context.testbed.lab {
            let destination = lab.configuration.destination
            return ("lab-\(destination.name)", [destination.address, destination.ipv6Address])
        }
        let host = URLComponents(string: context.parameters.endpoints.destinationURI)?.host?
            .trimmingCharacters(in: CharacterSet(charactersIn: "[]")) ?? "destination"
        let isAddress = host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
        return (host, isAddress ? [host] : [])
    }

    /// The CA certificate, server key and certificate for the destination's names from a CA
    /// made for this run only, in a temporary directory removed afterwards.
    static func untrustedServerCredentials(commonName: String, addresses: [String]) throws -> [String: String] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("migverify-untrusted-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (authority, _) = try CertificateAuthority.ensure(in: directory, commonName: untrustedAuthorityName)
        try authority.issue(role: .server, commonName: commonName, addresses: addresses,
                            keyPath: "\(directory)/server-key.pem", certificatePath: "\(directory)/server-cert.pem")
        return [
            "ca-cert.pem": try String(contentsOfFile: authority.certificatePath, encoding: .utf8),
            "server-cert.pem": try String(contentsOfFile: "\(directory)/server-cert.pem", encoding: .utf8),
            "server-key.pem": try String(contentsOfFile: "\(directory)/server-key.pem", encoding: .utf8),
        ]
    }

    public func afterMigration(_ context: FaultContext, outcome: MigrationOutcome) { credentials.restore(context) }

    public func remove(_ context: FaultContext) { credentials.restore(context) }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        let removal = credentials.restore(context)
        return Self.judge(replacedIn: credentials.setAsideDirectory, outcome: outcome, removal: removal)
    }

    /// Acted when the stand-ins were in place and the migration failed with QEMU's verdict on
    /// a peer certificate of unknown issuer: the handshake, not anything else, failed it. The
    /// destination failing its own certificate while loading it is not the handshake (the
    /// stand-in CA did not reach it) and does not count.
    public static func judge(replacedIn directory: String?, outcome: MigrationOutcome,
                             removal: (removed: Bool, evidence: String)?) -> FaultEvidence {
        var error = DestinationTLSCredentials.judgeError(
            outcome, phrases: untrustedPhrases,
            expected: "expected the source to reject the destination's certificate in the handshake (\"The certificate hasn't got a known issuer\")")
        if error.asExpected, error.evidence.contains(ownCertificatePhrase) {
            error = (false, "expected the source to reject the destination's certificate in the handshake; the destination failed "
                     + "its own certificate while loading it instead: \(outcome.ending.summary)")
        }
        let evidence = directory.map { "the destination's CA, server certificate and key in \($0) replaced by \(untrustedAuthorityName)'s" }
            ?? "the destination's credentials were not replaced"
        return FaultEvidence(scenario: scenario, acted: directory != nil && error.asExpected,
                             evidence: evidence + (error.asExpected ? "; the source rejected the destination's certificate in the TLS handshake" : ""),
                             errorAsExpected: error.asExpected, errorEvidence: error.evidence,
                             removed: removal?.removed, removalEvidence: removal?.evidence, guestNetwork: .untouched)
    }
}

extension ScenarioKind {
    /// A TLS migration to a destination presenting a certificate from an untrusted CA.
    public static let tlsUntrusted = ScenarioKind(declaring: "tls-untrusted")
}
