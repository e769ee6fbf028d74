import Foundation
import Lab
import Libvirt
import MigrationModel

/// link-cut: once the job is transferring, the destination's management link (the network
/// of the daemons and the migration stream) is set down in the lab's switch, while the guest
/// network stays up: the guest on the source must answer throughout. Peer-to-peer, libvirt's
/// keepalive ends the job (about 30 s); client-managed, the job hangs until the link returns,
/// so the verifier aborts at its stall timeout and restores the link 5 s later. The link is
/// restored before the hosts are looked at.
public final class DestinationLinkCutFault: Fault {
    public static let scenario = ScenarioKind.linkCut
    public static let summary = "the destination's management link, which carries the migration, is set down in the lab's switch once the job transfers, restored afterwards; the guest network stays up, so the guest must answer throughout"
    public static let expectation = ExpectedOutcome.staysOnSource
    /// The smallest stall timeout, s: longer than libvirt's keepalive (5 s x 5).
    public static let stallTimeoutSeconds: Double = 60

    /// What happened to the link.
    public typealias Cut = LinkCutRecord

    private let link = SwitchLinkCut(scenario: scenario)

    public init() {}

    public static func refusal(on testbed: any Testbed) -> String? {
        FaultNeeds.lab(testbed, "it cuts the destination's management link in the lab's switch; on real hosts that would also cut the verifier off")
    }

    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {
        plan.limitBandwidthForMidStreamFault()
        let asked = context.parameters.stallTimeoutSeconds
        plan.driver.stallTimeoutSeconds = max(asked, Self.stallTimeoutSeconds)
        plan.driver.timeoutSeconds = max(context.parameters.timeoutSeconds, plan.driver.stallTimeoutSeconds + 30)
        plan.driver.abortGraceSeconds = 120
        plan.driver.abortStuckAfterSeconds = 5
        plan.driver.onAbortStuck = { [self] in
            guard let cut = link.restore(context) else { return "the link was not cut" }
            return "restored \(cut.interface): \(cut.upAgain == true ? "up" : "STILL DOWN")"
        }
        // After a cut link the destination daemon notices the dead peer only by its own
        // keepalive (about 30 s): give its clean-up that long.
        plan.cleanUpWaitSeconds = 45
        if plan.driver.stallTimeoutSeconds != asked {
            plan.notes.append("stall timeout raised to \(formatNumber(plan.driver.stallTimeoutSeconds)) s for link-cut, so that libvirt's keepalive (not the verifier) ends a peer-to-peer job")
        }
    }

    public func midStream(_ context: FaultContext) -> MidStreamFault? {
        guard let lab = context.testbed.lab else { return nil }
        let switchNamespace = lab.configuration.switchNamespace
        let port = lab.configuration.destination.managementSwitchPortName
        return MidStreamFault(afterProcessedBytes: midStreamTriggerBytes) { [link] _ in
            link.cut(interface: port, in: switchNamespace, context: context)
        }
    }

    public func afterMigration(_ context: FaultContext, outcome: MigrationOutcome) { link.restore(context) }
    public func remove(_ context: FaultContext) { link.restore(context) }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        Self.judge(link.restore(context), outcome: outcome, mode: context.parameters.migration.mode)
    }

    /// Whether the migration ended the way a lost link ends it: the connection between the
    /// daemons broke (keepalive, closed socket) or the job hung until the verifier aborted it.
    static func endedOnTheLostLink(_ ending: MigrationEnding) -> Bool {
        switch ending {
        case .aborted, .hung: return true
        case .failed(let message, let kind):
            // "socket is closed", not "closed": "QEMU unexpectedly closed the monitor" is another failure.
            return kind == .connection || ["socket is closed", "keepalive", "connection", "timed out"].contains { message.localizedCaseInsensitiveContains($0) }
        case .completed, .completedDespiteAbort: return false
        }
    }

    /// Acted when the link read as down while the migration call was running; the error is
    /// this fault's when the connection between the daemons broke (keepalive, closed
    /// socket) or the job hung until the verifier aborted it.
    public static func judge(_ cut: Cut?, outcome: MigrationOutcome, mode: MigrationMode) -> FaultEvidence {
        let ending = outcome.ending
        let errorAsExpected = endedOnTheLostLink(ending)
        let errorEvidence = errorAsExpected ? "libvirt: \(ending.summary)"
            : "expected the daemons to lose each other (keepalive, closed connection) or the job to hang; got \(ending.summary)"
        guard let cut else {
            return FaultEvidence(scenario: scenario, acted: false,
                                 evidence: "the link was never cut: " + (outcome.faultNote ?? "the job did not reach the trigger"),
                                 errorAsExpected: errorAsExpected, errorEvidence: errorEvidence, guestNetwork: .untouched)
        }
        let duringJob = cut.downAtMilliseconds < outcome.endedAtMilliseconds
        let acted = cut.error == nil && cut.confirmedDown && duringJob
        let returned = outcome.endedAtMilliseconds
        var evidence = "link-cut (\(mode.rawValue)): \(cut.interface) down at \(formatNumber(cut.downAtMilliseconds)) ms"
            + (cut.confirmedDown ? "" : " (but it did not read as down)")
            + "; the migration call returned at \(formatNumber(returned)) ms, \(formatNumber(returned - cut.downAtMilliseconds)) ms after the cut"
        if let restored = cut.restoredAtMilliseconds {
            evidence += "; link down for \(formatNumber((restored - cut.downAtMilliseconds) / 1000)) s in all"
        }
        if let error = cut.error { evidence += "; could not cut: \(error)" }
        return FaultEvidence(
            scenario: scenario, acted: acted, evidence: evidence, actedAtMilliseconds: cut.downAtMilliseconds,
            errorAsExpected: errorAsExpected, errorEvidence: errorEvidence,
            removed: cut.error != nil ? nil : cut.upAgain == true, removalEvidence: cut.removalEvidence, guestNetwork: .untouched)
    }
}

extension ScenarioKind {
    /// The destination's management link (daemons, migration stream) is cut in the lab's
    /// switch once the job is transferring, and restored afterwards; the guest network stays up.
    public static let linkCut = ScenarioKind(declaring: "link-cut")
}
