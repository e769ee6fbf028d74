import Foundation
import Lab
import MigrationModel
import Synchronization

/// dst-daemon-killed: once the job is transferring, the destination's libvirt daemon is
/// SIGKILLed; right after the migration call returns (and in ``remove(_:)`` on every other
/// way out) it is started again. The migration must fail, the guest keep running on the
/// source, and the restarted daemon must leave the destination clean.
///
/// What libvirt does (libvirt's `src/qemu/qemu_migration.c` and `qemu_process.c`):
/// - Peer-to-peer, the source daemon holds its own connection to the destination daemon
///   (`dconn` in `qemuMigrationSrcPerformPeer2Peer`). When that connection closes, its close
///   callback `qemuMigrationSrcConnectionClosed` wakes the job, and
///   `qemuMigrationSrcWaitForCompletion` → `qemuMigrationAnyCompleted` finds
///   `virConnectIsAlive(dconn)` false: "operation failed: Lost connection to destination
///   host", and the source cancels QEMU's migration. `qemuMigrationSrcPerformPeer2Peer3`
///   keeps that error, calls Finish3 over the dead connection (an RPC error, which does not
///   replace it), and Confirm3 with `cancelled` keeps the guest running on the source
///   (`qemuMigrationSrcConfirmPhase`; `qemuMigrationSrcRestoreDomainState` resumes it if the
///   switchover had paused it). Then the last
///   reference to `dconn` goes (`g_autoptr` in `qemuMigrationSrcPerformPeer2Peer`), and its
///   close, outside any saved error, fails on the closed socket: the call returns "internal
///   error: client socket is closed" (on the lab every time; the source daemon's log has
///   `qemuMigrationAnyCompleted`'s "Lost connection to destination host" first, which the
///   evidence quotes when it can read it). Client-managed, the verifier's own connection
///   to the destination breaks instead: the client's Finish3 fails on it ("client socket
///   is closed"), and the client's Confirm3 keeps the guest on the source.
/// - The incoming QEMU outlives its daemon (paused, `-incoming`). The restarted daemon reads
///   the domain's status XML and reconnects to it (`qemuProcessReconnectAll` →
///   `qemuProcessReconnect`, one thread per domain, which may still run when the daemon
///   already answers); `qemuProcessRecoverJob` → `qemuProcessRecoverMigration` →
///   `qemuProcessRecoverMigrationIn` returns -1 for an incoming job still in phase
///   `prepare` (no Finish ever reached this daemon): "Killing unfinished incoming migration".
///   `qemuProcessReconnect`'s error path then stops the domain (`qemuProcessStop` with
///   `VIR_QEMU_PROCESS_STOP_MIGRATED`, reason `daemon`; `crashed` or `unknown` when the QEMU
///   had already gone and its monitor could not be reached) and removes the transient
///   domain (`qemuDomainRemoveInactive`), and its tap goes with the QEMU. libvirt's other
///   path, `qemuMigrationDstErrorReport` (the saved error of an incoming migration whose
///   QEMU died, restored when the Finish call arrives at `qemuMigrationDstFinish`), is not
///   taken: no Finish reaches the restarted daemon, since the source sent its Finish3 over
///   the dead connection, so the error the migration call returns is the source's own.
///
/// So nothing is left on the destination once the restarted daemon has reconnected; the
/// clean-up checks wait for that (the plan's `cleanUpWaitSeconds`, counted after the daemon
/// answers again). On the lab the incoming QEMU logged its broken stream
/// (`check_section_footer: Read section footer failed: -5`) and stayed, and the restarted
/// daemon stopped it about 0.4 s after the kill ("shutting down, reason=daemon",
/// "terminating on signal 15 from pid NEW (libvirtd)" in its log). Lab only: the lab's
/// daemons are per-host `libvirtd`s this process can signal and start; on real hosts it
/// would be `systemctl` over the host's shell.
public final class KillDestinationDaemonFault: Fault {
    public static let scenario = ScenarioKind.dstDaemonKilled
    public static let summary = "the destination's libvirt daemon is SIGKILLed once the job transfers and started again when the call returns; the guest stays on the source, and the restarted daemon must leave nothing of the incoming migration"
    public static let expectation = ExpectedOutcome.staysOnSource

    /// What the kill found and did.
    public struct Kill: Sendable, Equatable {
        /// When the daemon was signalled, ms on the run clock.
        public var atMilliseconds: Double
        /// The daemon's PID just before (`nil`: none ran).
        public var processID: Int32?
        /// Whether that process was gone within 5 s of the signal.
        public var gone: Bool
        /// Why it could not kill (`nil`: it could).
        public var error: String?

        public init(atMilliseconds: Double, processID: Int32?, gone: Bool, error: String? = nil) {
            self.atMilliseconds = atMilliseconds
            self.processID = processID
            self.gone = gone
            self.error = error
        }
    }

    /// What starting the daemon again found.
    public struct Restart: Sendable, Equatable {
        /// When it answered again (or the start gave up), ms on the run clock.
        public var atMilliseconds: Double
        /// How long the start took, ms.
        public var durationMilliseconds: Double
        /// The running daemon's PID afterwards (`nil`: none runs).
        public var processID: Int32?
        /// Why it could not be started or does not answer (`nil`: it answers).
        public var error: String?

        public init(atMilliseconds: Double, durationMilliseconds: Double, processID: Int32?, error: String? = nil) {
            self.atMilliseconds = atMilliseconds
            self.durationMilliseconds = durationMilliseconds
            self.processID = processID
            self.error = error
        }
    }

    private struct State {
        var kill: Kill?
        var journalID: String?
        var restart: Restart?
    }

    private let state = Mutex(State())

    public init() {}

    public static func refusal(on testbed: any Testbed) -> String? {
        FaultNeeds.lab(testbed, "it SIGKILLs and restarts the lab's per-host libvirtd (on real hosts that would be systemctl over ssh, not done)")
    }

    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {
        plan.limitBandwidthForMidStreamFault()
        // The clean-up wait stays the default (15 s): it starts once the daemon answers again
        // (``afterMigration(_:outcome:)``), and its recovery took well under a second on the lab.
    }

    public func midStream(_ context: FaultContext) -> MidStreamFault? {
        guard let lab = context.testbed.lab else { return nil }
        let host = lab.configuration.destination
        return MidStreamFault(afterProcessedBytes: midStreamTriggerBytes) { [self] _ in
            let kill = killDaemon(of: host, lab: lab, context: context)
            return kill.error.map { "did not kill libvirtd on \(host.name): \($0)" }
                ?? "SIGKILL sent to libvirtd \(kill.processID.map(String.init) ?? "?") on \(host.name)"
                    + (kill.gone ? "; gone" : "; still alive 5 s later")
        }
    }

    /// Journals the kill (a killed run leaves an entry whose removal starts the daemon
    /// again), sends SIGKILL and waits up to 5 s for the process to go.
    private func killDaemon(of host: LabHost, lab: Lab, context: FaultContext) -> Kill {
        let at = context.clock.milliseconds()
        guard let pid = lab.daemonProcessID(of: host) else {
            return record(Kill(atMilliseconds: at, processID: nil, gone: false, error: "no libvirtd runs for \(host.name)"))
        }
        do {
            let journalID = try context.journal.add(
                scenario: Self.scenario, what: "libvirtd of \(host.name) (pid \(pid)) SIGKILLed",
                removal: .localCommand(lab.daemonStartCommand(of: host)), namespace: host.namespace)
            state.withLock { $0.journalID = journalID }
        } catch {
            return record(Kill(atMilliseconds: at, processID: pid, gone: false, error: "not killed, the kill could not be journaled: \(error)"))
        }
        guard Glibc.kill(pid, SIGKILL) == 0 else {
            return record(Kill(atMilliseconds: at, processID: pid, gone: false, error: "kill(\(pid), SIGKILL): \(String(cString: strerror(errno)))"))
        }
        let deadline = context.clock.milliseconds() + 5_000
        while ProcessTable.isAlive(pid), context.clock.milliseconds() < deadline { usleep(10_000) }
        return record(Kill(atMilliseconds: at, processID: pid, gone: !ProcessTable.isAlive(pid)))
    }

    private func record(_ kill: Kill) -> Kill {
        state.withLock { $0.kill = kill }
        return kill
    }

    public func afterMigration(_ context: FaultContext, outcome: MigrationOutcome) { restart(context) }
    public func remove(_ context: FaultContext) { restart(context) }

    /// Starts the daemon again (``Lab/ensureDaemon(of:)``, which waits until it answers) once
    /// the kill was journaled, and strikes the entry once it answers; a later call tries
    /// again while the entry stands (the start failed), and does nothing after it succeeded.
    @discardableResult
    private func restart(_ context: FaultContext) -> Restart? {
        state.withLock { current -> Restart? in
            // The entry stays journaled until a start succeeded: nothing to do before a kill and after a start.
            guard current.journalID != nil, let lab = context.testbed.lab else { return current.restart }
            let host = lab.configuration.destination
            let start = context.clock.milliseconds()
            var made = Restart(atMilliseconds: start, durationMilliseconds: 0, processID: nil)
            do {
                _ = try lab.ensureDaemon(of: host)
            } catch {
                made.error = "\(error)".split(whereSeparator: \.isNewline).first.map(String.init) ?? "\(error)"
            }
            made.atMilliseconds = context.clock.milliseconds()
            made.durationMilliseconds = made.atMilliseconds - start
            made.processID = lab.daemonProcessID(of: host)
            if made.error == nil, made.processID != nil, let journalID = current.journalID {
                context.journal.strike(journalID)
                current.journalID = nil
            }
            current.restart = made
            return made
        }
    }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        let restart = restart(context)
        let kill = state.withLock { $0.kill }
        return Self.judge(kill, restart: restart, outcome: outcome, hostName: context.testbed.lab?.configuration.destination.name ?? "dst")
    }

    /// The source's own finding (`qemuMigrationAnyCompleted`) that its peer-to-peer
    /// connection to the destination daemon is gone.
    static let lostConnection = "Lost connection to destination host"

    /// libvirt's messages for a connection to the destination daemon that closed under it:
    /// the source's check of its peer-to-peer connection (`qemuMigrationAnyCompleted`), and
    /// the RPC layer's closed or reset socket (Finish3 over the dead connection, or its close).
    public static let closedConnectionMessages = [
        lostConnection, "client socket is closed", "End of file while reading data",
        "Connection reset by peer", "Broken pipe",
    ]

    /// Acted when it SIGKILLed the destination's running daemon while the migration call
    /// was running and the process was gone; the error is this fault's when the call then
    /// failed by itself with a closed connection to the destination daemon
    /// (``closedConnectionMessages``), not when the verifier aborted it or QEMU's stream
    /// failed first; the evidence adds the source daemon's logged "Lost connection to
    /// destination host" when the call returned another of them. Removed when a daemon runs
    /// and answers again under a new PID (the PID it had when the kill missed).
    public static func judge(_ kill: Kill?, restart: Restart?, outcome: MigrationOutcome, hostName: String) -> FaultEvidence {
        let ending = outcome.ending
        var closed = false
        if case .failed(let message, _) = ending {
            closed = closedConnectionMessages.contains { message.localizedCaseInsensitiveContains($0) }
        }
        var errorEvidence = closed ? "libvirt: \(ending.summary)"
            : "expected the call to fail on its closed connection to the destination daemon (\(closedConnectionMessages.joined(separator: ", "))); got \(ending.summary)"
        // The returned message is often the close of the source's dead connection; the cause is logged first.
        if closed, case .success(let logged)? = outcome.sourceDaemonErrors, !(ending.libvirtMessage ?? "").contains(lostConnection),
           let lost = logged.messages.first(where: { $0.contains(lostConnection) }) {
            errorEvidence += "; the source daemon logged before it (\(logged.location)): \(lost)"
        }
        // A daemon that was killed must run again as a new process; one the kill missed must still run.
        let killedPID = kill?.gone == true ? kill?.processID : nil
        let removed = restart.map { $0.error == nil && $0.processID != nil && $0.processID != killedPID }
        let removal = restart.map { restart in
            let pid = restart.processID.map { "pid \($0)" } ?? "no process"
            if let error = restart.error { return "libvirtd on \(hostName) was not started again (\(pid)): \(error)" }
            if restart.processID == nil { return "libvirtd on \(hostName) answered, but its pid file names no running libvirtd" }
            if restart.processID == killedPID { return "libvirtd on \(hostName) answers as \(pid), the process that was killed" }
            return "libvirtd on \(hostName) runs again as \(pid) and answers (at \(formatNumber(restart.atMilliseconds)) ms, start took \(formatNumber(restart.durationMilliseconds)) ms)"
        }
        guard let kill else {
            return FaultEvidence(scenario: scenario, acted: false,
                                 evidence: "the daemon was never killed: " + (outcome.faultNote ?? "the job did not reach the trigger"),
                                 errorAsExpected: closed, errorEvidence: errorEvidence, removed: removed, removalEvidence: removal)
        }
        let returned = outcome.endedAtMilliseconds
        let duringJob = kill.atMilliseconds < returned
        let acted = kill.error == nil && kill.processID != nil && kill.gone && duringJob
        var evidence = "libvirtd on \(hostName) pid \(kill.processID.map(String.init) ?? "none") SIGKILLed at \(formatNumber(kill.atMilliseconds)) ms"
        if let error = kill.error {
            evidence = "libvirtd on \(hostName) (pid \(kill.processID.map(String.init) ?? "none")) at \(formatNumber(kill.atMilliseconds)) ms: \(error)"
        } else {
            evidence += kill.gone ? ", gone" : ", still alive 5 s later"
        }
        evidence += duringJob ? "; the migration call returned at \(formatNumber(returned)) ms, \(formatNumber(returned - kill.atMilliseconds)) ms later"
            : "; after the migration call had returned (at \(formatNumber(returned)) ms)"
        return FaultEvidence(scenario: scenario, acted: acted, evidence: evidence, actedAtMilliseconds: kill.atMilliseconds,
                             errorAsExpected: closed, errorEvidence: errorEvidence, removed: removed, removalEvidence: removal)
    }
}

extension ScenarioKind {
    /// The destination's libvirt daemon is SIGKILLed once the job is transferring, and
    /// started again when the migration call returns.
    public static let dstDaemonKilled = ScenarioKind(declaring: "dst-daemon-killed")
}
