import Foundation
import Lab
import MigrationModel
import Synchronization

/// Kills one lab host's libvirt daemon once the migration job transfers, and starts it again
/// afterwards: the machinery of dst-daemon-killed and src-daemon-killed, which differ in the
/// host and in what libvirt makes of it.
///
/// The kill is journaled before it is sent (a killed run leaves an entry whose removal starts
/// the daemon again); the restart strikes the entry once the daemon answers. Lab only: the
/// lab's daemons are per-host `libvirtd`s this process can signal and start; on real hosts it
/// would be `systemctl` over the host's shell.
public final class LibvirtDaemonKill: Sendable {
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

    /// Whether the migration call failed on a closed connection to the killed daemon, with
    /// the line that says so.
    public struct ClosedConnectionError: Sendable, Equatable {
        public var closed: Bool
        public var evidence: String
    }

    private struct State {
        var kill: Kill?
        var journalID: String?
        var restart: Restart?
    }

    /// Whose daemon.
    public let role: HostRole
    let scenario: ScenarioKind
    private let state = Mutex(State())

    /// A kill of `role`'s daemon for `scenario`'s runs.
    public init(role: HostRole, scenario: ScenarioKind) {
        self.role = role
        self.scenario = scenario
    }

    static func refusal(on testbed: any Testbed) -> String? {
        FaultNeeds.lab(testbed, "it SIGKILLs and restarts the lab's per-host libvirtd (on real hosts that would be systemctl over ssh, not done)")
    }

    private func host(_ lab: Lab) -> LabHost { role == .source ? lab.configuration.source : lab.configuration.destination }

    /// What the kill did (`nil`: it never came).
    var kill: Kill? { state.withLock { $0.kill } }

    /// Kills the daemon once the job has transferred ``midStreamTriggerBytes``.
    func midStream(_ context: FaultContext) -> MidStreamFault? {
        guard let lab = context.testbed.lab else { return nil }
        let host = host(lab)
        return MidStreamFault(afterProcessedBytes: midStreamTriggerBytes) { [self] _ in
            let kill = killDaemon(of: host, lab: lab, context: context)
            return kill.error.map { "did not kill libvirtd on \(host.name): \($0)" }
                ?? "SIGKILL sent to libvirtd \(kill.processID.map(String.init) ?? "?") on \(host.name)"
                    + (kill.gone ? "; gone" : "; still alive 5 s later")
        }
    }

    /// Journals the kill, sends SIGKILL and waits up to 5 s for the process to go.
    private func killDaemon(of host: LabHost, lab: Lab, context: FaultContext) -> Kill {
        let at = context.clock.milliseconds()
        guard let pid = lab.daemonProcessID(of: host) else {
            return record(Kill(atMilliseconds: at, processID: nil, gone: false, error: "no libvirtd runs for \(host.name)"))
        }
        do {
            let journalID = try context.journal.add(
                scenario: scenario,
                fault: .daemonKilled(role: role, labNamePrefix: lab.configuration.namePrefix, stateDirectory: lab.configuration.stateDirectory),
                namespace: host.namespace)
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

    /// Starts the daemon again (``Lab/ensureDaemon(of:)``, which waits until it answers) once
    /// the kill was journaled, and strikes the entry once it answers; a later call tries
    /// again while the entry stands (the start failed), and does nothing after it succeeded.
    @discardableResult
    func restart(_ context: FaultContext) -> Restart? {
        state.withLock { current -> Restart? in
            // The entry stays journaled until a start succeeded: nothing to do before a kill and after a start.
            guard current.journalID != nil, let lab = context.testbed.lab else { return current.restart }
            let host = host(lab)
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

    /// libvirt's messages for a connection to a daemon that closed under it: the source's
    /// check of its peer-to-peer connection (`qemuMigrationAnyCompleted`), and the RPC
    /// layer's closed or reset socket.
    public static let closedConnectionMessages = [
        "Lost connection to destination host", "client socket is closed", "End of file while reading data",
        "Connection reset by peer", "Broken pipe",
    ]

    /// Whether the call failed by itself on a closed connection to `daemon`
    /// (``closedConnectionMessages``), not because the verifier aborted it or QEMU's stream failed.
    static func closedConnectionError(_ outcome: MigrationOutcome, daemon: String) -> ClosedConnectionError {
        let ending = outcome.ending
        var closed = false
        if case .failed(let message, _) = ending {
            closed = closedConnectionMessages.contains { message.localizedCaseInsensitiveContains($0) }
        }
        return ClosedConnectionError(
            closed: closed,
            evidence: closed ? "libvirt: \(ending.summary)"
                : "expected the call to fail on its closed connection to \(daemon) (\(closedConnectionMessages.joined(separator: ", "))); got \(ending.summary)")
    }

    /// Acted when it SIGKILLed the running daemon while the migration call was running and
    /// the process was gone; the error is the fault's when `error` says so. Removed when a
    /// daemon runs and answers again under a new PID (the PID it had when the kill missed).
    static func judge(scenario: ScenarioKind, kill: Kill?, restart: Restart?, outcome: MigrationOutcome, hostName: String,
                      error: ClosedConnectionError) -> FaultEvidence {
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
                                 errorAsExpected: error.closed, errorEvidence: error.evidence, removed: removed, removalEvidence: removal)
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
                             errorAsExpected: error.closed, errorEvidence: error.evidence, removed: removed, removalEvidence: removal)
    }
}
