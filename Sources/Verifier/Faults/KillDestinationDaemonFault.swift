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
    public static let migratesAgainAfterwards = true

    public typealias Kill = LibvirtDaemonKill.Kill
    public typealias Restart = LibvirtDaemonKill.Restart

    private let daemon = LibvirtDaemonKill(role: .destination, scenario: scenario)

    public init() {}

    public static func refusal(on testbed: any Testbed) -> String? { LibvirtDaemonKill.refusal(on: testbed) }

    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {
        plan.limitBandwidthForMidStreamFault()
        // The clean-up wait stays the default (15 s): it starts once the daemon answers again
        // (``afterMigration(_:outcome:)``), and its recovery took well under a second on the lab.
    }

    public func midStream(_ context: FaultContext) -> MidStreamFault? { daemon.midStream(context) }
    public func afterMigration(_ context: FaultContext, outcome: MigrationOutcome) { daemon.restart(context) }
    public func remove(_ context: FaultContext) { daemon.restart(context) }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        let restart = daemon.restart(context)
        return Self.judge(daemon.kill, restart: restart, outcome: outcome, hostName: context.testbed.lab?.configuration.destination.name ?? "dst")
    }

    /// The source's own finding (`qemuMigrationAnyCompleted`) that its peer-to-peer
    /// connection to the destination daemon is gone.
    static let lostConnection = "Lost connection to destination host"

    /// Acted when it SIGKILLed the destination's running daemon while the migration call
    /// was running and the process was gone; the error is this fault's when the call then
    /// failed by itself with a closed connection to the destination daemon
    /// (``LibvirtDaemonKill/closedConnectionMessages``), not when the verifier aborted it or
    /// QEMU's stream failed first; the evidence adds the source daemon's logged "Lost
    /// connection to destination host" when the call returned another of them. Removed when
    /// a daemon runs and answers again under a new PID (the PID it had when the kill missed).
    public static func judge(_ kill: Kill?, restart: Restart?, outcome: MigrationOutcome, hostName: String) -> FaultEvidence {
        var error = LibvirtDaemonKill.closedConnectionError(outcome, daemon: "the destination daemon")
        // The returned message is often the close of the source's dead connection; the cause is logged first.
        if error.closed, case .success(let logged)? = outcome.sourceDaemonErrors, !(outcome.ending.libvirtMessage ?? "").contains(lostConnection),
           let lost = logged.messages.first(where: { $0.contains(lostConnection) }) {
            error.evidence += "; the source daemon logged before it (\(logged.location)): \(lost)"
        }
        return LibvirtDaemonKill.judge(scenario: scenario, kill: kill, restart: restart, outcome: outcome, hostName: hostName, error: error)
    }
}

extension ScenarioKind {
    /// The destination's libvirt daemon is SIGKILLed once the job is transferring, and
    /// started again when the migration call returns.
    public static let dstDaemonKilled = ScenarioKind(declaring: "dst-daemon-killed")
}
