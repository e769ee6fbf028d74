import Foundation
import Libvirt
import MigrationModel
import Synchronization

/// abort: the verifier aborts the job (`virDomainAbortJob`) once it is transferring; the
/// migration must fail with libvirt's "operation aborted" and the guest stay on the source.
public final class AbortJobFault: Fault {
    public static let scenario = ScenarioKind.abort
    /// Its act is on this guest alone (`--fault-guest`).
    public static let actsOnOneGuest = true
    public static let summary = "the verifier aborts the job once it transfers"
    public static let expectation = ExpectedOutcome.staysOnSource

    /// What the abort call did.
    public struct AbortCall: Sendable, Equatable {
        /// When it was made, ms on the run clock.
        public var atMilliseconds: Double
        /// How long it took, ms.
        public var durationMilliseconds: Double
        /// Its error (`nil`: it succeeded).
        public var error: String?

        public init(atMilliseconds: Double, durationMilliseconds: Double, error: String?) {
            self.atMilliseconds = atMilliseconds
            self.durationMilliseconds = durationMilliseconds
            self.error = error
        }
    }

    private let call = Mutex<AbortCall?>(nil)

    public init() {}

    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {
        plan.limitBandwidthForMidStreamFault()
    }

    public func midStream(_ context: FaultContext) -> MidStreamFault? {
        MidStreamFault(afterProcessedBytes: midStreamTriggerBytes) { [self] job in
            let start = monotonicNanoseconds()
            var failure: String?
            do { try job.abort() } catch { failure = MigrationDriver.message(error) }
            let made = AbortCall(atMilliseconds: context.clock.milliseconds(at: start),
                                 durationMilliseconds: Double(monotonicNanoseconds() - start) / 1e6, error: failure)
            call.withLock { $0 = made }
            return "virDomainAbortJob " + (failure.map { "failed: \($0)" } ?? "returned") + " after \(formatNumber(made.durationMilliseconds)) ms"
        }
    }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        Self.judge(call.withLock { $0 }, outcome: outcome)
    }

    /// Acted when the abort call succeeded while the migration call was still running; the
    /// error is this fault's when libvirt reports the job as aborted.
    public static func judge(_ call: AbortCall?, outcome: MigrationOutcome) -> FaultEvidence {
        let ending = outcome.ending
        var aborted = false
        if case .failed(let message, let kind) = ending {
            aborted = kind == .operationAborted || message.localizedCaseInsensitiveContains("abort")
                || message.localizedCaseInsensitiveContains("cancel")
        }
        let acted: Bool
        let evidence: String
        if let call {
            let duringJob = call.atMilliseconds < outcome.endedAtMilliseconds
            acted = call.error == nil && duringJob
            evidence = "virDomainAbortJob at \(formatNumber(call.atMilliseconds)) ms "
                + (call.error.map { "failed: \($0)" } ?? "returned after \(formatNumber(call.durationMilliseconds)) ms")
                + (duringJob ? ", while the migration call was running" : ", after the migration call had returned")
        } else {
            acted = false
            evidence = "the job was never aborted: " + (outcome.faultNote ?? "it did not reach the trigger")
        }
        return FaultEvidence(
            scenario: scenario, acted: acted, evidence: evidence, actedAtMilliseconds: call?.atMilliseconds,
            errorAsExpected: aborted,
            errorEvidence: aborted ? "libvirt: \(ending.summary)" : "expected libvirt's 'operation aborted'; got \(ending.summary)")
    }
}

extension ScenarioKind {
    /// The verifier aborts the job (`virDomainAbortJob`) once it is transferring.
    public static let abort = ScenarioKind(declaring: "abort")
}
