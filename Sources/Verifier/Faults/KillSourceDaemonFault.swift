import Foundation
import Lab
import MigrationModel

/// src-daemon-killed: once the job is transferring, the source's libvirt daemon — the one
/// that drives a peer-to-peer migration — is SIGKILLed; right after the migration call
/// returns (and in ``remove(_:)`` on every other way out) it is started again. The migration
/// must fail, the guest keep running on the source with no migration setting left on its
/// QEMU, the destination be clean, and a plain migration right after must pass.
///
/// What libvirt does (`src/qemu/qemu_process.c`, `qemu_migration.c`):
/// - The verifier's call runs on its connection to the source daemon: the killed daemon's
///   socket closes under it, and the call returns the RPC layer's "End of file while reading
///   data" or "client socket is closed".
/// - QEMU outlives its daemon and goes on sending. The destination daemon tied the incoming
///   domain to the source daemon's connection in Prepare (`qemuProcessAutoDestroyAdd` with
///   that connection, in `qemuMigrationDstPrepareAny`); the connection closes with the killed
///   daemon, and the close callback (`qemuProcessAutoDestroy`) kills the incoming QEMU and
///   removes the transient domain. The source QEMU's stream then fails, and QEMU keeps
///   running the guest (pre-copy never paused it, unless it was already switching over).
/// - The restarted source daemon reconnects to its QEMU (`qemuProcessReconnect`) and finds
///   the outgoing job in its status XML: `qemuProcessRecoverMigrationOut`, phase `perform3`,
///   cancels what is left of QEMU's migration (`qemuMigrationSrcCancel`) and resumes the
///   vCPUs if the migration had paused them; `qemuProcessRecoverMigration` then puts back
///   the migration capabilities and parameters saved when the job began
///   (`qemuMigrationParamsReset`) — the `migration-settings-restored` check queries them.
///
/// Lab only, like dst-daemon-killed (``LibvirtDaemonKill``).
public final class KillSourceDaemonFault: Fault {
    public static let scenario = ScenarioKind.srcDaemonKilled
    public static let summary = "the source's libvirt daemon is SIGKILLed once the job transfers and started again when the call returns; the guest stays on the source with no migration setting left on its QEMU, the destination holds nothing, and a plain migration right after passes"
    public static let expectation = ExpectedOutcome.staysOnSource
    public static let migratesAgainAfterwards = true

    private let daemon = LibvirtDaemonKill(role: .source, scenario: scenario)

    public init() {}

    public static func refusal(on testbed: any Testbed) -> String? { LibvirtDaemonKill.refusal(on: testbed) }

    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {
        plan.limitBandwidthForMidStreamFault()
    }

    public func midStream(_ context: FaultContext) -> MidStreamFault? { daemon.midStream(context) }
    public func afterMigration(_ context: FaultContext, outcome: MigrationOutcome) { daemon.restart(context) }
    public func remove(_ context: FaultContext) { daemon.restart(context) }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        let restart = daemon.restart(context)
        return Self.judge(daemon.kill, restart: restart, outcome: outcome, hostName: context.testbed.lab?.configuration.source.name ?? "src")
    }

    /// Acted when it SIGKILLed the source's running daemon while the migration call was
    /// running and the process was gone; the error is this fault's when the call then failed
    /// on its closed connection to the source daemon (``LibvirtDaemonKill/closedConnectionMessages``).
    public static func judge(_ kill: LibvirtDaemonKill.Kill?, restart: LibvirtDaemonKill.Restart?, outcome: MigrationOutcome,
                             hostName: String) -> FaultEvidence {
        LibvirtDaemonKill.judge(scenario: scenario, kill: kill, restart: restart, outcome: outcome, hostName: hostName,
                                error: LibvirtDaemonKill.closedConnectionError(outcome, daemon: "the source daemon"))
    }
}

extension ScenarioKind {
    /// The source's libvirt daemon is SIGKILLed once the job is transferring, and started
    /// again when the migration call returns.
    public static let srcDaemonKilled = ScenarioKind(declaring: "src-daemon-killed")
}
