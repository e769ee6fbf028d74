import Foundation
import Synchronization

/// What a SIGKILL of the guest's QEMU on one host found and did: dst-qemu-killed,
/// src-qemu-killed and postcopy-dst-qemu-killed share it (``QEMUKiller``).
public struct QEMUKill: Sendable, Equatable {
    /// When, ms on the run clock.
    public var atMilliseconds: Double
    /// The domain's QEMU processes on that host before the migration.
    public var processIDsBefore: [Int32]
    /// What the fault looked for at the moment of the kill: the incoming QEMU processes on
    /// the destination, the running one on the source.
    public var targetProcessIDs: [Int32]
    /// The processes killed.
    public var killedProcessIDs: [Int32]
    /// Those still alive 5 s later.
    public var survivors: [Int32]
    /// Why it could not kill (`nil`: it could).
    public var error: String?

    public init(atMilliseconds: Double, processIDsBefore: [Int32], targetProcessIDs: [Int32] = [], killedProcessIDs: [Int32] = [],
                survivors: [Int32] = [], error: String? = nil) {
        self.atMilliseconds = atMilliseconds
        self.processIDsBefore = processIDsBefore
        self.targetProcessIDs = targetProcessIDs
        self.killedProcessIDs = killedProcessIDs
        self.survivors = survivors
        self.error = error
    }

    /// Process IDs as a list for evidence ("none" when empty).
    static func list(_ ids: [Int32]) -> String { ids.isEmpty ? "none" : ids.map(String.init).joined(separator: ", ") }
}

/// Kills the guest's QEMU on one host once the job is transferring: notes the domain's QEMU
/// processes before the migration (``recordBefore(on:domainName:)``, from the fault's
/// install), then at the trigger finds its targets and SIGKILLs those of them the fault's
/// `select` keeps (an incoming QEMU that was not there before; the source's own QEMU).
final class QEMUKiller: Sendable {
    private struct State {
        var processIDsBefore: [Int32] = []
        var kill: QEMUKill?
    }

    private let state = Mutex(State())

    /// What the kill did (`nil`: it never came).
    var kill: QEMUKill? { state.withLock { $0.kill } }

    /// Notes the domain's QEMU processes on `host` now: what runs before the migration.
    func recordBefore(on host: any HostShell, domainName: String) throws(VerifierError) {
        let before = try host.qemuProcessIDs(domainName: domainName)
        state.withLock { $0.processIDsBefore = before }
    }

    /// The mid-stream fault: `targets` finds the candidates on `host`, `select` picks those to
    /// kill from them and the processes of before; `what` names them in the note.
    func midStream(on host: any HostShell, context: FaultContext, afterPostCopySwitchMilliseconds: Double? = nil, what: String,
                   targets: @escaping @Sendable (any HostShell) throws(VerifierError) -> [Int32],
                   select: @escaping @Sendable (_ targets: [Int32], _ before: [Int32]) -> [Int32]) -> MidStreamFault {
        let domainName = context.parameters.endpoints.domainName
        return MidStreamFault(afterProcessedBytes: midStreamTriggerBytes, afterPostCopySwitchMilliseconds: afterPostCopySwitchMilliseconds) { [self] _ in
            let before = state.withLock { $0.processIDsBefore }
            var kill = QEMUKill(atMilliseconds: context.clock.milliseconds(), processIDsBefore: before)
            do {
                kill.targetProcessIDs = try targets(host)
                kill.killedProcessIDs = select(kill.targetProcessIDs, before)
                kill.survivors = try host.kill(processIDs: kill.killedProcessIDs)
            } catch {
                kill.error = "\(error)"
            }
            state.withLock { $0.kill = kill }
            return kill.killedProcessIDs.isEmpty ? "no \(what) of \(domainName) on \(host.hostName) to kill"
                : "SIGKILL sent to \(what) \(QEMUKill.list(kill.killedProcessIDs)) on \(host.hostName)"
                    + (kill.survivors.isEmpty ? "; gone" : "; still alive after 5 s: \(QEMUKill.list(kill.survivors))")
        }
    }
}
