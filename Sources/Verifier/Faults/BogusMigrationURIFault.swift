import Foundation

/// prepare-fail: the migration is given a bogus migration URI (`foo://bar`, as in the
/// original test case), so Prepare fails on the destination; the guest must stay on the
/// source and the destination's incoming QEMU must be gone.
public final class BogusMigrationURIFault: Fault {
    public static let scenario = ScenarioKind.prepareFail
    /// Its act is on this guest alone (`--fault-guest`).
    public static let actsOnOneGuest = true
    public static let summary = "the invalid migration URI foo://bar makes Prepare fail; the guest stays on the source, the destination is clean"
    public static let expectation = ExpectedOutcome.staysOnSource
    /// The bogus migration URI.
    public static let uri = "foo://bar"

    public init() {}

    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {
        plan.migrationURI = Self.uri
    }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        Self.judge(outcome.ending, daemonErrors: outcome.sourceDaemonErrors)
    }

    /// Acted when libvirt refused the migration for its URI's scheme: the bogus URI, not
    /// something else, made it fail. When libvirt's error is the end of file of its
    /// connection to the destination (qemu+ssh, see ``DaemonLogMark``), the refusal is looked
    /// up in what the source daemon logged (`daemonErrors`; when its log could not be read,
    /// the evidence says why).
    public static func judge(_ ending: MigrationEnding,
                             daemonErrors: Result<DaemonLogErrors, DaemonLogUnavailable>? = nil) -> FaultEvidence {
        func namesTheURI(_ message: String) -> Bool { message.contains("scheme foo") || message.contains(uri) }
        var refusedForTheURI = false
        var logged = ""
        if case .failed(let message, _) = ending {
            refusedForTheURI = namesTheURI(message)
            if !refusedForTheURI, ending.isTransportEndOfFile {
                switch daemonErrors {
                case .success(let errors):
                    if let refusal = errors.messages.first(where: namesTheURI) {
                        refusedForTheURI = true
                        logged = "; libvirt returned its connection's end of file in place of the refusal, which the source daemon logged"
                            + " (\(errors.location)): \(refusal)"
                    }
                case .failure(let unavailable): logged = " (the source daemon's log, where the refusal would be, was not read: \(unavailable.reason))"
                case nil: break
                }
            }
        }
        let expected = "expected libvirt to refuse the migration URI \(uri) (unsupported scheme foo)"
        return FaultEvidence(
            scenario: scenario, acted: refusedForTheURI,
            evidence: refusedForTheURI ? "libvirt refused the migration URI \(uri)" : "the migration URI \(uri) was passed, but libvirt's error does not name it",
            errorAsExpected: refusedForTheURI,
            errorEvidence: refusedForTheURI ? "libvirt: \(ending.summary)\(logged)" : "\(expected); got \(ending.summary)\(logged)")
    }
}

extension ScenarioKind {
    /// An invalid migration URI (`foo://bar`) makes Prepare fail.
    public static let prepareFail = ScenarioKind(declaring: "prepare-fail")
}
