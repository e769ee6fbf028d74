import Foundation
import MigrationModel

/// src-qemu-killed: once the job is transferring, the source's QEMU — the one running the
/// guest — is SIGKILLed. The guest is lost: nothing can bring it back, and the verdict says
/// so. What must hold is that nothing is left half-done: neither host runs the guest, the
/// destination holds no domain, QEMU or tap of the migration, and the source no QEMU or tap.
///
/// What libvirt does (`src/qemu/qemu_process.c`, `qemu_migration.c`): the source daemon sees
/// its QEMU's monitor close (`qemuProcessHandleMonitorEOF`), stops the domain
/// (`qemuProcessStop`, reason `crashed`; a transient domain is removed), and the migration
/// job fails; peer-to-peer, `qemuMigrationSrcPerformPeer2Peer3` then calls Finish3 on the
/// destination with `cancelled`, and `qemuMigrationDstFinish` kills the incoming QEMU
/// (the destination's own clean-up would also come when the stream broke: the incoming
/// QEMU fails its load, and the domain stops).
public final class KillSourceQEMUFault: Fault {
    public static let scenario = ScenarioKind.srcQEMUKilled
    /// Its act is on this guest alone (`--fault-guest`).
    public static let actsOnOneGuest = true
    public static let summary = "the source QEMU is SIGKILLed once the job transfers: the guest is lost, and neither host may keep a domain, QEMU or tap of it"
    public static let expectation = ExpectedOutcome.guestLost

    /// What the kill found and did (its target: the guest's running QEMU).
    public typealias Kill = QEMUKill

    private let killer = QEMUKiller()

    public init() {}

    public static func refusal(on testbed: any Testbed) -> String? {
        FaultNeeds.sourceShell(testbed)
    }

    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {
        plan.limitBandwidthForMidStreamFault()
    }

    public func install(_ context: FaultContext) throws(VerifierError) {
        guard let host = context.sourceHost else {
            throw .invalidOptions("--scenario \(Self.scenario.rawValue) \(Self.refusal(on: context.testbed) ?? "needs a shell on the source")")
        }
        // The guest's QEMU: the one process the kill may hit.
        try killer.recordBefore(on: host, domainName: context.parameters.endpoints.domainName)
    }

    public func midStream(_ context: FaultContext) -> MidStreamFault? {
        guard let host = context.sourceHost else { return nil }
        let domainName = context.parameters.endpoints.domainName
        return killer.midStream(on: host, context: context, what: "the source qemu",
                                targets: { host throws(VerifierError) in try host.qemuProcessIDs(domainName: domainName) },
                                select: { running, before in running.filter { before.contains($0) } })
    }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        Self.judge(killer.kill, outcome: outcome)
    }

    /// Acted when it killed, while the migration call was running, the QEMU that ran the guest
    /// before the migration, and that process is gone; the error is this fault's when the
    /// migration call then failed by itself (not aborted by the verifier).
    public static func judge(_ kill: Kill?, outcome: MigrationOutcome) -> FaultEvidence {
        let failedByItself: Bool
        if case .failed = outcome.ending { failedByItself = true } else { failedByItself = false }
        let errorEvidence = failedByItself ? "libvirt: \(outcome.ending.summary)"
            : "expected the migration call to fail once the source qemu was killed; got \(outcome.ending.summary)"
        guard let kill else {
            return FaultEvidence(scenario: scenario, acted: false,
                                 evidence: "nothing was killed: " + (outcome.faultNote ?? "the job did not reach the trigger"),
                                 errorAsExpected: failedByItself, errorEvidence: errorEvidence)
        }
        let list = QEMUKill.list
        let duringJob = kill.atMilliseconds < outcome.endedAtMilliseconds
        let acted = kill.error == nil && !kill.killedProcessIDs.isEmpty && kill.killedProcessIDs.allSatisfy(kill.processIDsBefore.contains)
            && kill.survivors.isEmpty && duringJob
        var evidence = "at \(formatNumber(kill.atMilliseconds)) ms: killed the source qemu \(list(kill.killedProcessIDs)) (the guest's before the migration: \(list(kill.processIDsBefore)))"
        if kill.killedProcessIDs.isEmpty { evidence += "; none of them ran any more" }
        if let error = kill.error { evidence += "; could not kill: \(error)" }
        if !kill.survivors.isEmpty { evidence += "; still alive: \(list(kill.survivors))" }
        if !duringJob { evidence += "; after the migration call had returned" }
        return FaultEvidence(scenario: scenario, acted: acted, evidence: evidence, actedAtMilliseconds: kill.atMilliseconds,
                             errorAsExpected: failedByItself, errorEvidence: errorEvidence)
    }

    /// The dead QEMU leaves nothing on the source either.
    public static func checks(_ observation: Observation) -> [Check] { [Checks.sourceHostClean(observation)] }

    public static func annotate(_ result: inout ScenarioResult, observation: Observation) {
        result.notes.append("the guest was lost, as this scenario expects: its source QEMU was killed mid-migration; the next run boots a fresh guest")
    }
}

extension ScenarioKind {
    /// The source QEMU is killed (SIGKILL) once the job is transferring: the guest is lost.
    public static let srcQEMUKilled = ScenarioKind(declaring: "src-qemu-killed")
}
