import Foundation

/// tls-missing-cert: a TLS migration (`VIR_MIGRATE_TLS`) to a destination that has no server
/// certificate. Its `server-cert.pem` and `server-key.pem` are set aside for the run, so the
/// destination's QEMU cannot make its TLS credentials when libvirt adds them in Prepare
/// (`qemuMigrationDstPrepareAny` → `qemuMigrationParamsEnableTLS` → `object-add
/// tls-creds-x509`, which loads the files): Prepare fails, the incoming QEMU is destroyed, and
/// the guest must keep running on the source with nothing left on the destination.
public final class TLSMissingCertificateFault: Fault {
    public static let scenario = ScenarioKind.tlsMissingCertificate
    public static let summary = "a TLS migration to a destination without its server certificate fails in Prepare; the guest stays on the source, the destination is clean"
    public static let expectation = ExpectedOutcome.staysOnSource

    private let credentials = DestinationTLSCredentials(fileNames: DestinationTLSCredentials.serverFileNames)

    public init() {}

    public static func refusal(on testbed: any Testbed) -> String? { FaultNeeds.destinationShell(testbed) }

    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {
        plan.options.tls = true
        plan.notes.append("encrypted with TLS (VIR_MIGRATE_TLS); the destination's server certificate and key are set aside")
    }

    public func install(_ context: FaultContext) throws(VerifierError) {
        try credentials.setAside(context, scenario: Self.scenario)
    }

    public func afterMigration(_ context: FaultContext, outcome: MigrationOutcome) { credentials.restore(context) }

    public func remove(_ context: FaultContext) { credentials.restore(context) }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        let removal = credentials.restore(context)
        return Self.judge(setAsideFrom: credentials.setAsideDirectory, outcome: outcome, removal: removal)
    }

    /// Acted when the credentials were set aside and the migration failed naming the missing
    /// `server-cert.pem` (QEMU's "Unable to access credentials …/server-cert.pem"): only the
    /// destination loads a server certificate, and it does so in Prepare.
    public static func judge(setAsideFrom directory: String?, outcome: MigrationOutcome,
                             removal: (removed: Bool, evidence: String)?) -> FaultEvidence {
        let error = DestinationTLSCredentials.judgeError(
            outcome, phrases: ["server-cert.pem"],
            expected: "expected the destination to fail loading its missing server-cert.pem in Prepare")
        let evidence = directory.map { "server-cert.pem and server-key.pem set aside from \($0) on the destination" }
            ?? "the destination's server credentials were not set aside"
        return FaultEvidence(scenario: scenario, acted: directory != nil && error.asExpected,
                             evidence: evidence + (error.asExpected ? "; the destination could not load them" : ""),
                             errorAsExpected: error.asExpected, errorEvidence: error.evidence,
                             removed: removal?.removed, removalEvidence: removal?.evidence, guestNetwork: .untouched)
    }
}

extension ScenarioKind {
    /// A TLS migration to a destination without its server certificate.
    public static let tlsMissingCertificate = ScenarioKind(declaring: "tls-missing-cert")
}
