import Foundation
import Lab
import MigrationModel

/// guest-link-cut: once the job is transferring, the guest network's switch (the lab's
/// `br0`) is set down for ``outageSeconds`` and set up again, earlier if the migration call
/// returns first. The migration stream runs on the management network, so the migration must
/// complete; the pings lost in the outage are the fault's, not the migration's downtime.
public final class GuestNetworkCutFault: Fault {
    public static let scenario = ScenarioKind.guestLinkCut
    public static let summary = "the lab's guest network is set down for 2 s once the job transfers; the migration must complete, and only those 2 s of pings may be lost on top of the downtime limit"
    public static let expectation = ExpectedOutcome.migrates
    /// How long the guest network stays down, s.
    public static let outageSeconds: Double = 2

    private let link = SwitchLinkCut(scenario: scenario)

    public init() {}

    public static func refusal(on testbed: any Testbed) -> String? {
        FaultNeeds.lab(testbed, "it cuts the guest network in the lab's switch")
    }

    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {
        // The outage must fall inside the transfer, and the transfer must go on through it.
        plan.limitBandwidthForMidStreamFault()
    }

    public func midStream(_ context: FaultContext) -> MidStreamFault? {
        guard let lab = context.testbed.lab else { return nil }
        let switchNamespace = lab.configuration.switchNamespace
        let bridge = lab.configuration.switchBridgeName
        return MidStreamFault(afterProcessedBytes: midStreamTriggerBytes) { [link] _ in
            let note = link.cut(interface: bridge, in: switchNamespace, context: context)
            DispatchQueue.global().asyncAfter(deadline: .now() + Self.outageSeconds) { link.restore(context) }
            return note + " for \(formatNumber(Self.outageSeconds)) s"
        }
    }

    public func afterMigration(_ context: FaultContext, outcome: MigrationOutcome) { link.restore(context) }
    public func remove(_ context: FaultContext) { link.restore(context) }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        Self.judge(link.restore(context), outcome: outcome)
    }

    /// The ping gap holds the outage, which is not the migration's downtime: said in the
    /// downtime cross-check and in the ping figure's source.
    public static func annotate(_ result: inout ScenarioResult, observation: Observation) {
        guard case .cut(_, let outage)? = observation.fault?.guestNetwork else { return }
        let outageText = formatNumber(outage)
        for index in result.crossChecks.indices where result.crossChecks[index].figure == CrossCheck.downtimeFigure {
            result.crossChecks[index].note = "the ping gap includes the \(outageText) ms the fault cut the guest network: it is not the migration's downtime"
        }
        result[source: .pingDowntimeMilliseconds] = (result[source: .pingDowntimeMilliseconds] ?? "pingmon")
            + "; includes the \(outageText) ms guest network outage the fault made"
    }

    /// Acted when the guest network read as down while the job ran and the job sent data
    /// while it was down (the migration does not use the guest network); the outcome is as
    /// expected when the migration completed. What was sent is counted from job-stats
    /// readings taken within the outage only: a lower bound.
    public static func judge(_ cut: LinkCutRecord?, outcome: MigrationOutcome) -> FaultEvidence {
        let ending = outcome.ending
        let completed = ending.migrated
        let errorEvidence = completed ? "the migration completed while the guest network was cut: \(ending.summary)"
            : "expected the migration to complete over the management network; got \(ending.summary)"
        guard let cut else {
            return FaultEvidence(scenario: scenario, acted: false,
                                 evidence: "the guest network was never cut: " + (outcome.faultNote ?? "the job did not reach the trigger"),
                                 errorAsExpected: completed, errorEvidence: errorEvidence)
        }
        let returned = outcome.endedAtMilliseconds
        let wasCut = cut.error == nil && cut.confirmedDown && cut.downAtMilliseconds < returned
        var evidence = "guest-link-cut: \(cut.interface) down at \(formatNumber(cut.downAtMilliseconds)) ms"
            + (cut.confirmedDown ? "" : " (but it did not read as down)")
        if let down = cut.downMilliseconds { evidence += " for \(formatNumber(down)) ms" }
        var sentDuringOutage: UInt64 = 0
        if wasCut {
            let outageEnd = min(cut.restoredAtMilliseconds ?? returned, returned)
            let during = outcome.samples
                .filter { $0.offsetMilliseconds >= cut.downAtMilliseconds && $0.offsetMilliseconds <= outageEnd }
                .compactMap(\.dataProcessedBytes)
            sentDuringOutage = (during.max() ?? 0) - (during.min() ?? 0)
            evidence += "; the job sent at least \(formatBytes(Double(sentDuringOutage))) in \(during.count) job-stats readings while it was down"
        }
        evidence += "; the migration call returned at \(formatNumber(returned)) ms"
        if let error = cut.error { evidence += "; could not cut: \(error)" }
        let outage = cut.downMilliseconds ?? max(0, returned - cut.downAtMilliseconds)
        return FaultEvidence(
            scenario: scenario, acted: wasCut && sentDuringOutage > 0, evidence: evidence, actedAtMilliseconds: cut.downAtMilliseconds,
            errorAsExpected: completed, errorEvidence: errorEvidence,
            removed: cut.error != nil ? nil : cut.upAgain == true, removalEvidence: cut.removalEvidence,
            guestNetwork: wasCut ? .cut(atMilliseconds: cut.downAtMilliseconds, milliseconds: outage) : nil)
    }
}

extension ScenarioKind {
    /// The guest network is cut in the lab's switch for a few seconds while the job is
    /// transferring; the migration, on the management network, must complete.
    public static let guestLinkCut = ScenarioKind(declaring: "guest-link-cut")
}
