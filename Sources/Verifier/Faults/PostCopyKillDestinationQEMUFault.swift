import Foundation
import Libvirt
import MigrationModel

/// postcopy-dst-qemu-killed: the migration switches to post-copy after its first pass, and
/// once the guest runs on the destination (fetching the pages it lacks from the source) the
/// destination's QEMU is SIGKILLed. The guest is lost — the destination held its newest
/// state, the source only stale memory — and what must hold is that the source is **never
/// resumed** (that would be a second, older copy of the guest: a split brain) and that the
/// destination keeps nothing of it.
///
/// What libvirt does (libvirt 11.3, `src/qemu/`): the source QEMU's stream breaks and it goes
/// to `postcopy-paused`; `qemuProcessHandleMigrationStatus` → `qemuMigrationSrcPostcopyFailed`
/// leaves the domain `paused (post-copy failed)` (event `suspended`, detail
/// `postcopy-failed`), and `qemuMigrationSrcRestoreDomainState` returns early for that
/// reason, so libvirt itself never resumes it; only destroying it ends it (the verifier
/// discards it after the checks). The destination's domain dies with its QEMU.
public final class PostCopyKillDestinationQEMUFault: Fault {
    public static let scenario = ScenarioKind.postCopyDstQEMUKilled
    public static let summary = "post-copy after the first pass, then the destination QEMU is SIGKILLed while the guest runs there: the guest is lost, the source must stay paused (post-copy failed) and never resume, the destination hold nothing"
    public static let expectation = ExpectedOutcome.guestLost

    /// What the kill found and did (its targets: the incoming QEMU processes).
    public typealias Kill = QEMUKill

    private let killer = QEMUKiller()

    public init() {}

    public static func refusal(on testbed: any Testbed) -> String? { FaultNeeds.destinationShell(testbed) }

    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {
        plan.limitBandwidthForMidStreamFault()
        plan.runPostCopyForFault("the kill")
    }

    public func install(_ context: FaultContext) throws(VerifierError) {
        guard let host = context.destinationHost else {
            throw .invalidOptions("--scenario \(Self.scenario.rawValue) \(FaultNeeds.destinationShell(context.testbed) ?? "needs a shell on the destination")")
        }
        try killer.recordBefore(on: host, domainName: context.parameters.endpoints.domainName)
    }

    public func midStream(_ context: FaultContext) -> MidStreamFault? {
        guard let host = context.destinationHost else { return nil }
        let domainName = context.parameters.endpoints.domainName
        return killer.midStream(on: host, context: context, afterPostCopySwitchMilliseconds: postCopyFaultAfterSwitchMilliseconds,
                                what: "the destination qemu during post-copy",
                                targets: { host throws(VerifierError) in try host.incomingQEMUProcessIDs(domainName: domainName) },
                                select: { incoming, before in incoming.filter { !before.contains($0) } })
    }

    public func findings(_ context: FaultContext) -> FaultFindings? {
        guard let killedAt = killer.kill?.atMilliseconds else { return nil }
        let resumes = context.lifecycleEvents().filter {
            guard $0.host == .source, $0.offsetMilliseconds > killedAt, case .lifecycle(_, .resumed?, _, _) = $0.event else { return false }
            return true
        }
        return FaultFindings(sourceResumesAfterFaultMilliseconds: resumes.map(\.offsetMilliseconds))
    }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        Self.judge(killer.kill, events: context.lifecycleEvents(), outcome: outcome)
    }

    /// Acted when, while the call ran and after the source had handed the guest over to
    /// post-copy (its `suspended (post-copy)` event), it killed the migration's incoming QEMU
    /// and that process is gone; the error is this fault's when the call then failed by itself.
    public static func judge(_ kill: Kill?, events: [SeenDomainEvent], outcome: MigrationOutcome) -> FaultEvidence {
        let failedByItself: Bool
        if case .failed = outcome.ending { failedByItself = true } else { failedByItself = false }
        let errorEvidence = failedByItself ? "libvirt: \(outcome.ending.summary)"
            : "expected the migration call to fail once the destination qemu was killed in post-copy; got \(outcome.ending.summary)"
        guard let kill else {
            return FaultEvidence(scenario: scenario, acted: false,
                                 evidence: "nothing was killed: " + (outcome.faultNote ?? "the job did not reach post-copy"),
                                 errorAsExpected: failedByItself, errorEvidence: errorEvidence)
        }
        let postCopy = events.first(from: .source, .suspended, detail: LifecycleEventDetail.suspendedPostCopy,
                                    within: -Double.infinity...kill.atMilliseconds)
        let list = QEMUKill.list
        let duringJob = kill.atMilliseconds < outcome.endedAtMilliseconds
        let acted = kill.error == nil && !kill.killedProcessIDs.isEmpty && kill.survivors.isEmpty && duringJob && postCopy != nil
        var evidence = "at \(formatNumber(kill.atMilliseconds)) ms: killed the destination qemu \(list(kill.killedProcessIDs)) (before the migration: \(list(kill.processIDsBefore)))"
        evidence += postCopy.map { "; the source had handed the guest over to post-copy (suspended, post-copy) at \(formatNumber($0.offsetMilliseconds)) ms" }
            ?? "; the source never reported post-copy (suspended, post-copy) before the kill: not a post-copy failure"
        if let error = kill.error { evidence += "; could not kill: \(error)" }
        if !kill.survivors.isEmpty { evidence += "; still alive: \(list(kill.survivors))" }
        if !duringJob { evidence += "; after the migration call had returned" }
        return FaultEvidence(scenario: scenario, acted: acted, evidence: evidence, actedAtMilliseconds: kill.atMilliseconds,
                             errorAsExpected: failedByItself, errorEvidence: errorEvidence)
    }

    /// `source-not-resumed`: the source holds the guest paused with reason "post-copy failed"
    /// and never resumed it after the kill (its events).
    public static func checks(_ observation: Observation) -> [Check] {
        let name = CheckName.sourceNotResumed
        if let error = observation.onSource.error { return [.notMeasured(name, because: error)] }
        guard let resumes = observation.faultFindings?.sourceResumesAfterFaultMilliseconds else {
            return [.notMeasured(name, because: "the source's events after the kill were not looked at (the kill never came)")]
        }
        let state = observation.onSource.state
        let heldPaused = state?.state == .paused && state?.reason == "post-copy failed"
        var problems: [String] = []
        if !heldPaused { problems.append("the source is \(state.map { "\($0)" } ?? "gone"), not paused (post-copy failed)") }
        if !resumes.isEmpty { problems.append("the source resumed the guest at \(resumes.map { formatNumber($0) + " ms" }.joined(separator: ", ")): a stale copy ran") }
        return [Check(name: name, passed: problems.isEmpty,
                      evidence: problems.isEmpty ? "\(observation.onSource.description); no resume event from the source after the kill"
                          : problems.joined(separator: "; "))]
    }

    public static func annotate(_ result: inout ScenarioResult, observation: Observation) {
        result.notes.append("the guest was lost, as this scenario expects: its destination QEMU was killed during post-copy; the paused source holds stale memory and is discarded, and the next run boots a fresh guest")
    }
}

extension ScenarioKind {
    /// The destination QEMU is killed during post-copy: the guest is lost, the source must not resume.
    public static let postCopyDstQEMUKilled = ScenarioKind(declaring: "postcopy-dst-qemu-killed")
}
