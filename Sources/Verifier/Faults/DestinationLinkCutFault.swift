import Foundation
import Lab
import Libvirt
import MigrationModel
import Synchronization

/// link-cut: once the job is transferring, the destination's uplink is set down in the lab's
/// switch; peer-to-peer, libvirt's keepalive ends the job (about 30 s); client-managed, the
/// job hangs until the link returns, so the verifier aborts at its stall timeout and restores
/// the link 5 s later. The link is restored before the hosts are looked at.
public final class DestinationLinkCutFault: Fault {
    public static let scenario = ScenarioKind.linkCut
    public static let expectation = ExpectedOutcome.staysOnSource
    /// The smallest stall timeout, s: longer than libvirt's keepalive (5 s x 5).
    public static let stallTimeoutSeconds: Double = 60

    /// What happened to the link.
    public struct Cut: Sendable, Equatable {
        /// The switch port.
        public var interface: String
        /// When it was set down, ms on the run clock.
        public var downAtMilliseconds: Double
        /// Whether it read as down right after.
        public var confirmedDown: Bool
        /// When it was set up again, ms on the run clock (`nil`: not yet).
        public var restoredAtMilliseconds: Double?
        /// Whether it read as up after the restore.
        public var upAgain: Bool?
        /// Why it could not be cut (`nil`: it was).
        public var error: String?

        public init(interface: String, downAtMilliseconds: Double, confirmedDown: Bool, restoredAtMilliseconds: Double? = nil,
                    upAgain: Bool? = nil, error: String? = nil) {
            self.interface = interface
            self.downAtMilliseconds = downAtMilliseconds
            self.confirmedDown = confirmedDown
            self.restoredAtMilliseconds = restoredAtMilliseconds
            self.upAgain = upAgain
            self.error = error
        }
    }

    private struct State {
        var link: LinkCutFault?
        var journalID: String?
        var cut: Cut?
    }

    private let state = Mutex(State())

    public init() {}

    public static func refusal(on testbed: any Testbed) -> String? {
        FaultNeeds.lab(testbed, "it cuts the destination's uplink in the lab's switch; on real hosts that would also cut the verifier off")
    }

    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {
        plan.limitBandwidthForMidStreamFault()
        let asked = context.parameters.stallTimeoutSeconds
        plan.driver.stallTimeoutSeconds = max(asked, Self.stallTimeoutSeconds)
        plan.driver.timeoutSeconds = max(context.parameters.timeoutSeconds, plan.driver.stallTimeoutSeconds + 30)
        plan.driver.abortGraceSeconds = 120
        plan.driver.abortStuckAfterSeconds = 5
        plan.driver.onAbortStuck = { [self] in
            guard restore(context) != nil else { return "the link was not cut" }
            let cut = state.withLock { $0.cut }
            return "restored \(cut?.interface ?? "the link"): \(cut?.upAgain == true ? "up" : "STILL DOWN")"
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
        let port = lab.configuration.destination.switchPortName
        return MidStreamFault(afterProcessedBytes: midStreamTriggerBytes) { [self] _ in
            let at = context.clock.milliseconds()
            let journalID: String
            do {
                // Never a fault that a killed run could leave unrecorded.
                journalID = try context.journal.add(scenario: Self.scenario, what: "\(port) down in \(switchNamespace)",
                                                    removal: .localCommand(["ip", "-n", switchNamespace, "link", "set", port, "up"]),
                                                    namespace: switchNamespace)
            } catch {
                state.withLock { $0.cut = Cut(interface: port, downAtMilliseconds: at, confirmedDown: false, error: "not cut: \(error)") }
                return "did not cut the link: \(error)"
            }
            do {
                let link = try LinkCutFault.cut(namespace: switchNamespace, interface: port)
                let cut = Cut(interface: port, downAtMilliseconds: at, confirmedDown: !link.isUp())
                state.withLock { $0 = State(link: link, journalID: journalID, cut: cut) }
                return "set \(port) down in \(switchNamespace)" + (cut.confirmedDown ? "" : ", but it still reads as up")
            } catch {
                state.withLock { $0 = State(link: nil, journalID: journalID, cut: Cut(interface: port, downAtMilliseconds: at, confirmedDown: false, error: "\(error)")) }
                context.journal.strike(journalID)
                return "could not cut the link: \(error)"
            }
        }
    }

    /// Sets the link up again (idempotent); returns the cut, or `nil` when there was none.
    @discardableResult
    private func restore(_ context: FaultContext) -> Cut? {
        let (link, journalID, cut) = state.withLock { ($0.link, $0.journalID, $0.cut) }
        guard let link, var cut else { return nil }
        if cut.upAgain == true { return cut }
        let up = link.restore()
        cut.restoredAtMilliseconds = context.clock.milliseconds()
        cut.upAgain = up
        state.withLock { $0.cut = cut }
        if up, let journalID { context.journal.strike(journalID) }
        return cut
    }

    public func afterMigration(_ context: FaultContext, outcome: MigrationOutcome) { restore(context) }
    public func remove(_ context: FaultContext) { restore(context) }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        Self.judge(restore(context) ?? state.withLock { $0.cut }, outcome: outcome, mode: context.parameters.migration.mode)
    }

    /// Acted when the link read as down while the migration call was running; the error is
    /// this fault's when the connection between the daemons broke (keepalive, closed
    /// socket) or the job hung until the verifier aborted it.
    public static func judge(_ cut: Cut?, outcome: MigrationOutcome, mode: MigrationMode) -> FaultEvidence {
        let ending = outcome.ending
        let errorAsExpected: Bool
        switch ending {
        case .aborted, .hung: errorAsExpected = true
        case .failed(let message, let kind):
            // "socket is closed", not "closed": "QEMU unexpectedly closed the monitor" is another failure.
            errorAsExpected = kind == .connection || ["socket is closed", "keepalive", "connection", "timed out"].contains { message.localizedCaseInsensitiveContains($0) }
        case .completed, .completedDespiteAbort: errorAsExpected = false
        }
        let errorEvidence = errorAsExpected ? "libvirt: \(ending.summary)"
            : "expected the daemons to lose each other (keepalive, closed connection) or the job to hang; got \(ending.summary)"
        guard let cut else {
            return FaultEvidence(scenario: scenario, acted: false,
                                 evidence: "the link was never cut: " + (outcome.faultNote ?? "the job did not reach the trigger"),
                                 errorAsExpected: errorAsExpected, errorEvidence: errorEvidence)
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
            removed: cut.error != nil ? nil : cut.upAgain == true,
            removalEvidence: cut.upAgain == true ? "\(cut.interface) is up again" : "\(cut.interface) is STILL DOWN")
    }
}
