import Foundation
import MigrationModel

/// dst-qemu-killed: once the job is transferring, the destination's incoming QEMU of this
/// migration is killed (SIGKILL); the migration must fail, the guest stay on the source and
/// the destination be clean.
public final class KillIncomingQEMUFault: Fault {
    public static let scenario = ScenarioKind.dstQEMUKilled
    /// Its act is on this guest alone (`--fault-guest`).
    public static let actsOnOneGuest = true
    public static let summary = "the incoming QEMU is SIGKILLed once the job transfers"
    public static let expectation = ExpectedOutcome.staysOnSource

    /// What the kill found and did (its targets: the incoming QEMU processes).
    public typealias Kill = QEMUKill

    private let killer = QEMUKiller()

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
        try killer.recordBefore(on: host, domainName: context.parameters.endpoints.domainName)
    }

    public func midStream(_ context: FaultContext) -> MidStreamFault? {
        guard let host = context.destinationHost else { return nil }
        let domainName = context.parameters.endpoints.domainName
        return killer.midStream(on: host, context: context, what: "incoming qemu",
                                targets: { host throws(VerifierError) in try host.incomingQEMUProcessIDs(domainName: domainName) },
                                select: { incoming, before in incoming.filter { !before.contains($0) } })
    }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        Self.judge(killer.kill, outcome: outcome)
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
        let list = QEMUKill.list
        let duringJob = kill.atMilliseconds < outcome.endedAtMilliseconds
        // A process that ran before the migration, or that is not `-incoming`, is not this migration's QEMU.
        let foreign = kill.killedProcessIDs.filter { kill.processIDsBefore.contains($0) || !kill.targetProcessIDs.contains($0) }
        let acted = kill.error == nil && !kill.killedProcessIDs.isEmpty && foreign.isEmpty && kill.survivors.isEmpty && duringJob
        var evidence = "at \(formatNumber(kill.atMilliseconds)) ms: incoming qemu \(list(kill.targetProcessIDs)) (before the migration: \(list(kill.processIDsBefore))); killed \(list(kill.killedProcessIDs))"
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
