import Foundation
import Lab
import Libvirt
import MigrationModel
import Synchronization

/// postcopy-link-cut: the migration switches to post-copy after its first pass, and once the
/// guest runs on the destination the destination's management link — the daemons' connection
/// and the migration stream — is cut in the lab's switch. Post-copy cannot be cleaned up,
/// only recovered: both sides must report post-copy failed, and once the link is back the
/// verifier resumes the migration (`VIR_MIGRATE_POSTCOPY_RESUME`); the guest must land with
/// every page verified by memeater and nothing left on the source.
///
/// What libvirt does (libvirt 11.3, `src/qemu/`): a cut link is silent, so QEMU's stream
/// does not fail for minutes, but the source daemon's keepalive to the destination daemon
/// ends the migration call (about 30 s, "Lost connection to destination host" in
/// `qemuMigrationAnyCompleted`), and the source is marked post-copy failed
/// (`qemuMigrationSrcPostcopyFailed`: paused, post-copy failed). Both keep their migration
/// job. The verifier then pauses the post-copy migration on the source (`virDomainAbortJobFlags`
/// with `VIR_DOMAIN_ABORT_JOB_POSTCOPY`: QEMU's `migrate-pause`, which closes its stream),
/// restores the link — the destination's QEMU then sees the stream close and goes to
/// post-copy paused (`qemuMigrationDstPostcopyFailed`: running, post-copy failed) — and calls
/// `virDomainMigrateToURI3` again with `VIR_MIGRATE_POSTCOPY|VIR_MIGRATE_POSTCOPY_RESUME`
/// (`qemuMigrationSrcBeginResume`, `qemuMigrationDstPrepareResume`,
/// `qemuMigrationSrcPerformResume`), which returns when the rest of memory has arrived. Lab only.
public final class PostCopyLinkCutFault: Fault {
    public static let scenario = ScenarioKind.postCopyLinkCut
    public static let summary = "post-copy after the first pass, then the destination's management link is cut; both sides must report post-copy failed, and once the link is back the verifier resumes the migration (VIR_MIGRATE_POSTCOPY_RESUME): the guest must land with every page verified, nothing left on the source"
    public static let expectation = ExpectedOutcome.migrates

    /// What the recovery saw and did, ms on the run clock.
    public struct Recovery: Sendable, Equatable {
        /// The first call's ending, one line.
        public var firstEnding: String
        /// Whether the first call failed by itself on the lost connection (keepalive, closed socket).
        public var firstFailedOnTheLink: Bool
        /// When `migrate-pause` was asked on the source, and what it said when it failed.
        public var pausedAtMilliseconds: Double?
        public var pauseError: String?
        /// The states both daemons reported before the resume (after the link was back).
        public var sourceState: String?
        public var destinationState: String?
        /// Both read as post-copy failed (source paused, destination running).
        public var bothPostCopyFailed: Bool
        /// When the resuming call started and what it ended with.
        public var resumedAtMilliseconds: Double?
        public var resumeEnding: String?
        /// The destination's libvirt daemon died during the resume (and was started again so
        /// that the hosts can be looked at), with the kernel's record of its crash if any.
        public var destinationDaemonDied: String?

        public init(firstEnding: String, firstFailedOnTheLink: Bool, pausedAtMilliseconds: Double? = nil, pauseError: String? = nil,
                    sourceState: String? = nil, destinationState: String? = nil, bothPostCopyFailed: Bool = false,
                    resumedAtMilliseconds: Double? = nil, resumeEnding: String? = nil) {
            self.firstEnding = firstEnding
            self.firstFailedOnTheLink = firstFailedOnTheLink
            self.pausedAtMilliseconds = pausedAtMilliseconds
            self.pauseError = pauseError
            self.sourceState = sourceState
            self.destinationState = destinationState
            self.bothPostCopyFailed = bothPostCopyFailed
            self.resumedAtMilliseconds = resumedAtMilliseconds
            self.resumeEnding = resumeEnding
        }
    }

    /// How long the recovery waits for both sides to read post-copy failed, s.
    static let stateWaitSeconds = 60.0

    private let link = SwitchLinkCut(scenario: scenario)
    private let recovery = Mutex<Recovery?>(nil)

    public init() {}

    public static func refusal(on testbed: any Testbed) -> String? {
        FaultNeeds.lab(testbed, "it cuts the destination's management link in the lab's switch; on real hosts that would also cut the verifier off")
    }

    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {
        plan.limitBandwidthForMidStreamFault()
        plan.runPostCopyForFault("the cut")
        // libvirt's keepalive (5 s x 5), not the verifier's stall abort (refused in post-copy), ends the first call.
        plan.driver.stallTimeoutSeconds = max(context.parameters.stallTimeoutSeconds, DestinationLinkCutFault.stallTimeoutSeconds)
        plan.driver.timeoutSeconds = max(context.parameters.timeoutSeconds, plan.driver.stallTimeoutSeconds + 30)
    }

    public func midStream(_ context: FaultContext) -> MidStreamFault? {
        guard let lab = context.testbed.lab else { return nil }
        let switchNamespace = lab.configuration.switchNamespace
        let port = lab.configuration.destination.managementSwitchPortName
        return MidStreamFault(afterProcessedBytes: midStreamTriggerBytes, afterPostCopySwitchMilliseconds: postCopyFaultAfterSwitchMilliseconds) { [link] _ in
            link.cut(interface: port, in: switchNamespace, context: context)
        }
    }

    /// Pauses the source's post-copy, restores the link, waits for both sides to read
    /// post-copy failed, and resumes the migration; `nil` (the link restored) when there is
    /// nothing to recover: no cut, or the first call did not fail.
    public func recover(_ context: FaultContext, after outcome: MigrationOutcome, plan: MigrationPlan) -> MigrationOutcome? {
        var made = Recovery(firstEnding: outcome.ending.summary,
                            firstFailedOnTheLink: DestinationLinkCutFault.endedOnTheLostLink(outcome.ending))
        defer { recovery.withLock { $0 = made } }
        guard case .failed = outcome.ending else { link.restore(context); return nil }
        let crashesBefore = Self.libvirtdCrashLines().lines.count
        let name = context.parameters.endpoints.domainName
        do {
            guard let domain = try context.source.guestDomain(named: name) else { throw VerifierError.environment("no domain \(name) on the source") }
            made.pausedAtMilliseconds = context.clock.milliseconds()
            try domain.pausePostCopy()
        } catch {
            made.pauseError = "\(error)"
        }
        link.restore(context)
        let (states, destination) = waitForPostCopyFailed(context, name: name)
        made.sourceState = states.source
        made.destinationState = states.destination
        made.bothPostCopyFailed = states.both
        guard let destination else {
            made.resumeEnding = "not resumed: the destination daemon could not be reached (\(states.destination ?? "not read"))"
            return nil
        }
        let domain: any HypervisorDomain
        do {
            guard let found = try context.source.guestDomain(named: name) else { throw VerifierError.environment("no domain \(name) on the source") }
            domain = found
        } catch {
            made.resumeEnding = "not resumed: \(error)"
            return nil
        }
        var options = plan.options
        options.postCopyResume = true
        options.postCopyBandwidthMiBPerSecond = nil
        var driver = plan.driver
        driver.switchToPostCopy = false
        driver.midStreamFault = nil
        made.resumedAtMilliseconds = context.clock.milliseconds()
        let start = made.resumedAtMilliseconds ?? 0
        context.recorder.record(.step("resuming the post-copy migration (VIR_MIGRATE_POSTCOPY_RESUME)"))
        let resumed = driver.run(domain.migration(to: destination, options: options, migrationURI: plan.migrationURI), clock: context.clock) { sample in
            context.recorder.record(.jobSample(sample, migrationStartMilliseconds: start))
        }
        made.resumeEnding = resumed.ending.summary
        if !resumed.ending.migrated { made.destinationDaemonDied = restartDeadDestinationDaemon(context, before: crashesBefore) }
        return resumed
    }

    /// libvirt 11.3's destination daemon dies in the resume's Prepare: `qemuMigrationDstPrepareResume`
    /// passes no fd to `qemuMigrationDstPrepare`, and `qemuProcessIncomingDefNew` dereferences
    /// it (a NULL read, SIGSEGV). When the destination daemon is gone after a failed resume,
    /// this says so, with the kernel's lines of the crash, and starts it again, so that the
    /// hosts can be looked at and the lab is usable; `nil` when it still runs.
    private func restartDeadDestinationDaemon(_ context: FaultContext, before: Int) -> String? {
        guard let lab = context.testbed.lab else { return nil }
        let host = lab.configuration.destination
        guard lab.daemonProcessID(of: host) == nil else { return nil }
        let kernel = Self.libvirtdCrashLines()
        let crash = kernel.unread.map { "; the kernel log was not read: \($0)" }
            ?? kernel.lines.dropFirst(before).last.map { "; the kernel logged: \($0)" } ?? ""
        let restart: String
        do {
            _ = try lab.ensureDaemon(of: host)
            restart = "started again as pid \(lab.daemonProcessID(of: host).map(String.init) ?? "?")"
        } catch {
            restart = "could not be started again: \(error)"
        }
        return "libvirtd on \(host.name) died during the resume\(crash); \(restart)"
    }

    /// The kernel's lines about a crashed libvirt daemon thread, oldest first (`dmesg`), or
    /// why the kernel log could not be read.
    static func libvirtdCrashLines() -> (lines: [String], unread: String?) {
        let output: CommandResult
        do { output = try CommandRunner.capture(["dmesg"], step: "read the kernel log", timeoutSeconds: 10) } catch {
            return ([], "\(error)")
        }
        guard output.succeeded else { return ([], "dmesg exited \(output.exitStatus): \(output.errorOutput.prefix(200))") }
        let lines = output.output.split(whereSeparator: \.isNewline).map(String.init)
            .filter { $0.contains("libvirtd") && $0.contains("segfault") }
            .map { $0.replacingOccurrences(of: #"^\[\s*[0-9.]+\]\s*"#, with: "", options: .regularExpression) }
        return (lines, nil)
    }

    /// Polls both daemons (a fresh connection to the destination: the old one crossed the
    /// cut) until the source reads paused and the destination running, both "post-copy failed".
    private func waitForPostCopyFailed(_ context: FaultContext, name: String) -> (states: (source: String?, destination: String?, both: Bool), destination: (any Hypervisor)?) {
        let deadline = context.clock.milliseconds() + Self.stateWaitSeconds * 1000
        var last: (source: String?, destination: String?, both: Bool) = (nil, nil, false)
        var destination: (any Hypervisor)?
        /// A domain's state, or what kept it from being read, as evidence.
        func read(_ daemon: (any Hypervisor)?, unreachable: String) -> (state: DomainStateInfo?, text: String) {
            guard let daemon else { return (nil, unreachable) }
            do {
                guard let state = try daemon.guestDomain(named: name)?.state() else { return (nil, "no domain \(name)") }
                return (state, "\(state)")
            } catch {
                return (nil, "not read: \(error)")
            }
        }
        var connectError = "not connected"
        repeat {
            if destination == nil {
                do { destination = try context.testbed.connect(context.parameters.endpoints.destinationURI) } catch { connectError = "not connected: \(error)" }
            }
            let source = read(context.source, unreachable: "no connection")
            let incoming = read(destination, unreachable: connectError)
            last = (source.text, incoming.text,
                    source.state?.state == .paused && source.state?.reason == "post-copy failed" && incoming.state?.reason == "post-copy failed")
            if last.both { break }
            Thread.sleep(forTimeInterval: 0.25)
        } while context.clock.milliseconds() < deadline
        return (last, destination)
    }

    public func remove(_ context: FaultContext) { link.restore(context) }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        Self.judge(link.restore(context), recovery: recovery.withLock { $0 }, events: context.lifecycleEvents(), outcome: outcome)
    }

    /// Acted when the link read as down while the first call ran, after the source had
    /// handed the guest over to post-copy (`suspended (post-copy)`), and the first call then
    /// failed on the lost connection; the ending is this fault's when both sides then read
    /// post-copy failed and the resuming call completed. The guest may stall from the cut
    /// until the resumed migration ended: the ping gap over that window is allowed it.
    public static func judge(_ cut: LinkCutRecord?, recovery: Recovery?, events: [SeenDomainEvent], outcome: MigrationOutcome) -> FaultEvidence {
        guard let cut else {
            return FaultEvidence(scenario: scenario, acted: false,
                                 evidence: "the link was never cut: " + (outcome.faultNote ?? "the job did not reach post-copy"),
                                 errorAsExpected: false, errorEvidence: "nothing to recover")
        }
        let handover = events.first(from: .source, .suspended, detail: LifecycleEventDetail.suspendedPostCopy,
                                    within: -Double.infinity...cut.downAtMilliseconds)
        let firstFailed = recovery?.firstFailedOnTheLink ?? false
        let acted = cut.error == nil && cut.confirmedDown && handover != nil && firstFailed
        var evidence = "\(cut.interface) down at \(formatNumber(cut.downAtMilliseconds)) ms" + (cut.confirmedDown ? "" : " (but it did not read as down)")
        evidence += handover.map { ", \(formatNumber(cut.downAtMilliseconds - $0.offsetMilliseconds)) ms after the source handed the guest over to post-copy (suspended, post-copy)" }
            ?? "; the source never reported post-copy (suspended, post-copy) before the cut"
        if let recovery {
            evidence += "; the first call: \(recovery.firstEnding)" + (firstFailed ? "" : " (not the lost connection)")
        }
        if let restored = cut.restoredAtMilliseconds { evidence += "; link restored at \(formatNumber(restored)) ms" }
        if let error = cut.error { evidence += "; could not cut: \(error)" }
        var errorAsExpected = false
        var errorEvidence = "expected both sides to read post-copy failed and the resumed migration to complete"
        if let recovery {
            let completed = outcome.ending == .completed && recovery.resumedAtMilliseconds != nil
            errorAsExpected = recovery.bothPostCopyFailed && completed
            errorEvidence = "before the resume: source \(recovery.sourceState ?? "not read"), destination \(recovery.destinationState ?? "not read")"
                + (recovery.bothPostCopyFailed ? " (both post-copy failed)" : " (not both post-copy failed)")
            if let error = recovery.pauseError { errorEvidence += "; migrate-pause on the source failed: \(error)" }
            errorEvidence += recovery.resumedAtMilliseconds.map { "; resumed with VIR_MIGRATE_POSTCOPY_RESUME at \(formatNumber($0)) ms: \(recovery.resumeEnding ?? "no call")" }
                ?? "; " + (recovery.resumeEnding ?? "not resumed")
            if let died = recovery.destinationDaemonDied { errorEvidence += "; " + died }
        }
        let stall: GuestNetworkEffect = .mayStall(atMilliseconds: cut.downAtMilliseconds, milliseconds: max(0, outcome.endedAtMilliseconds - cut.downAtMilliseconds))
        return FaultEvidence(scenario: scenario, acted: acted, evidence: evidence, actedAtMilliseconds: cut.downAtMilliseconds,
                             errorAsExpected: errorAsExpected, errorEvidence: errorEvidence,
                             removed: cut.error != nil ? nil : cut.upAgain == true, removalEvidence: cut.removalEvidence, guestNetwork: stall)
    }
}

extension ScenarioKind {
    /// The migration link is cut during post-copy, and the migration resumed once it is back.
    public static let postCopyLinkCut = ScenarioKind(declaring: "postcopy-link-cut")
}
