import Foundation
import MigrationModel
import Synchronization

/// dst-qemu-killed: once the job is transferring, the destination's incoming QEMU of this
/// migration is killed (SIGKILL); the migration must fail, the guest stay on the source and
/// the destination be clean.
public final class KillIncomingQEMUFault: Fault {
    public static let scenario = ScenarioKind.dstQEMUKilled
    public static let summary = "the incoming QEMU is SIGKILLed once the job transfers"
    public static let expectation = ExpectedOutcome.staysOnSource

    /// What the kill found and did.
    public struct Kill: Sendable, Equatable {
        /// When, ms on the run clock.
        public var atMilliseconds: Double
        /// QEMU processes of the domain on the destination before the migration.
        public var processIDsBefore: [Int32]
        /// Incoming QEMU processes of the domain at the moment of the kill.
        public var incomingProcessIDs: [Int32]
        /// The processes killed.
        public var killedProcessIDs: [Int32]
        /// Those still alive 5 s later.
        public var survivors: [Int32]
        /// Why it could not kill (`nil`: it could).
        public var error: String?

        public init(atMilliseconds: Double, processIDsBefore: [Int32], incomingProcessIDs: [Int32], killedProcessIDs: [Int32],
                    survivors: [Int32], error: String?) {
            self.atMilliseconds = atMilliseconds
            self.processIDsBefore = processIDsBefore
            self.incomingProcessIDs = incomingProcessIDs
            self.killedProcessIDs = killedProcessIDs
            self.survivors = survivors
            self.error = error
        }
    }

    private struct State {
        var processIDsBefore: [Int32] = []
        var kill: Kill?
    }

    private let state = Mutex(State())

    public init() {}

    public static func refusal(on testbed: any Testbed) -> String? { FaultNeeds.destinationShell(testbed) }

    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {
        plan.limitBandwidthForMidStreamFault()
    }

    public func install(_ context: FaultContext) throws(VerifierError) {
        guard let host = context.destinationHost else {
            throw .invalidOptions("--scenario \(Self.scenario.rawValue) \(FaultNeeds.destinationShell(context.testbed) ?? "needs a shell on the destination")")
        }
        // What runs before the migration is not this migration's QEMU.
        let before = try host.qemuProcessIDs(domainName: context.parameters.endpoints.domainName)
        state.withLock { $0.processIDsBefore = before }
    }

    public func midStream(_ context: FaultContext) -> MidStreamFault? {
        guard let host = context.destinationHost else { return nil }
        let domainName = context.parameters.endpoints.domainName
        return MidStreamFault(afterProcessedBytes: midStreamTriggerBytes) { [self] _ in
            let at = context.clock.milliseconds()
            let before = state.withLock { $0.processIDsBefore }
            var kill = Kill(atMilliseconds: at, processIDsBefore: before, incomingProcessIDs: [], killedProcessIDs: [], survivors: [], error: nil)
            do {
                kill.incomingProcessIDs = try host.incomingQEMUProcessIDs(domainName: domainName)
                kill.killedProcessIDs = kill.incomingProcessIDs.filter { !before.contains($0) }
                kill.survivors = try host.kill(processIDs: kill.killedProcessIDs)
            } catch {
                kill.error = "\(error)"
            }
            state.withLock { $0.kill = kill }
            return kill.killedProcessIDs.isEmpty ? "no incoming qemu of \(domainName) on \(host.hostName) to kill"
                : "SIGKILL sent to incoming qemu \(kill.killedProcessIDs.map(String.init).joined(separator: ", ")) on \(host.hostName)"
                    + (kill.survivors.isEmpty ? "; gone" : "; still alive after 5 s: \(kill.survivors.map(String.init).joined(separator: ", "))")
        }
    }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        Self.judge(state.withLock { $0.kill }, outcome: outcome)
    }

    /// Acted when it killed, while the migration call was running, a QEMU that was started
    /// for this migration (`-incoming`, not there before it) and that process is gone; the
    /// error is this fault's when the migration call then failed by itself.
    public static func judge(_ kill: Kill?, outcome: MigrationOutcome) -> FaultEvidence {
        let failedByItself: Bool
        if case .failed = outcome.ending { failedByItself = true } else { failedByItself = false }
        guard let kill else {
            return FaultEvidence(scenario: scenario, acted: false,
                                 evidence: "nothing was killed: " + (outcome.faultNote ?? "the job did not reach the trigger"),
                                 errorAsExpected: false, errorEvidence: "expected the migration to fail after the kill; got \(outcome.ending.summary)")
        }
        let list: ([Int32]) -> String = { $0.isEmpty ? "none" : $0.map(String.init).joined(separator: ", ") }
        let duringJob = kill.atMilliseconds < outcome.endedAtMilliseconds
        // A process that ran before the migration, or that is not `-incoming`, is not this migration's QEMU.
        let foreign = kill.killedProcessIDs.filter { kill.processIDsBefore.contains($0) || !kill.incomingProcessIDs.contains($0) }
        let acted = kill.error == nil && !kill.killedProcessIDs.isEmpty && foreign.isEmpty && kill.survivors.isEmpty && duringJob
        var evidence = "at \(formatNumber(kill.atMilliseconds)) ms: incoming qemu \(list(kill.incomingProcessIDs)) (before the migration: \(list(kill.processIDsBefore))); killed \(list(kill.killedProcessIDs))"
        if !foreign.isEmpty { evidence += "; \(list(foreign)) is not this migration's incoming qemu (it ran before the migration, or is not -incoming)" }
        if let error = kill.error { evidence += "; could not kill: \(error)" }
        if !kill.survivors.isEmpty { evidence += "; still alive: \(list(kill.survivors))" }
        if !duringJob { evidence += "; after the migration call had returned" }
        return FaultEvidence(
            scenario: scenario, acted: acted, evidence: evidence, actedAtMilliseconds: kill.atMilliseconds,
            errorAsExpected: failedByItself,
            errorEvidence: failedByItself ? "libvirt: \(outcome.ending.summary)"
                : "expected the migration call to fail once its incoming qemu was killed; got \(outcome.ending.summary)")
    }
}

extension ScenarioKind {
    /// The incoming QEMU on the destination is killed (SIGKILL) once the job is transferring.
    public static let dstQEMUKilled = ScenarioKind(declaring: "dst-qemu-killed")
}
