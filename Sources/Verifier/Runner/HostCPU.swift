import Foundation
import Lab
import MigrationModel
import Synchronization

// What a migration costs the hosts' CPU: the scripts that read the kernel's per-thread CPU
// time and find the libvirt daemons (run through a host's shell like every other look at a
// host), and the sampler that reads both hosts while the migration runs. The readings are
// accumulated by the pure ``HostCPUAccount``.

extension HostInspector {
    /// The script printing the CPU time of every thread of `processIDs`, read under
    /// `procRoot` (`/proc`; the tests give a tree of their own): `ticks N` (`getconf CLK_TCK`,
    /// when `withTicks`), then per process `process PID STATLINE` (its `/proc/PID/stat`, which
    /// also counts the threads that ended) and `thread PID STATLINE` per thread
    /// (`/proc/PID/task/TID/stat`), or `gone PID` when the process has exited; last `end`.
    /// Reads with the shell's own `read` and `printf`: no process is started per file.
    static func threadCPUScript(processIDs: [Int32], withTicks: Bool, procRoot: String = "/proc") -> String {
        """
            proc=\(shellQuoted(procRoot))
            \(withTicks ? "echo \"ticks $(getconf CLK_TCK)\"" : ":")
            for p in \(processIDs.map(String.init).joined(separator: " ")); do
              if { read -r line < "$proc/$p/stat"; } 2>/dev/null; then
                printf 'process %s %s\\n' "$p" "$line"
                for t in "$proc/$p"/task/[0-9]*; do
                  { read -r line < "$t/stat"; } 2>/dev/null && printf 'thread %s %s\\n' "$p" "$line"
                done
              else
                echo "gone $p"
              fi
            done
            echo end
            """
    }

    /// The script listing `PID NAME` of the libvirt daemons (`libvirtd`, or the modular
    /// `virtqemud` that runs QEMU) in the shell's own network namespace, read under
    /// `procRoot`: on the lab every host's daemon shares one process table, and each runs in
    /// its host's namespace. A daemon whose namespace cannot be read prints `unreadable PID`.
    static func libvirtDaemonScript(procRoot: String = "/proc") -> String {
        """
            proc=\(shellQuoted(procRoot))
            me=$(readlink "$proc/self/ns/net")
            for d in "$proc"/[0-9]*; do
              { read -r name < "$d/comm"; } 2>/dev/null || continue
              case "$name" in libvirtd|virtqemud) ;; *) continue ;; esac
              ns=$(readlink "$d/ns/net" 2>/dev/null) || { echo "unreadable ${d##*/}"; continue; }
              [ "$ns" = "$me" ] && echo "${d##*/} $name"
            done
            true
            """
    }
}

extension HostShell {
    /// The CPU time of every thread of `processIDs` now (``HostInspector/threadCPUScript(processIDs:withTicks:procRoot:)``),
    /// read under `procRoot` (the tests give a tree of their own).
    public func threadCPUTimes(of processIDs: [Int32], withTicks: Bool, procRoot: String = "/proc") throws(VerifierError) -> CPUTimesReading {
        let output = try run(HostInspector.threadCPUScript(processIDs: processIDs, withTicks: withTicks, procRoot: procRoot),
                             step: "read the CPU time of processes \(processIDs.map(String.init).joined(separator: ", "))")
        do {
            return try CPUTimesReading(scriptOutput: output, askedFor: processIDs)
        } catch {
            throw .environment("read the CPU time of processes \(processIDs.map(String.init).joined(separator: ", ")) on \(hostName): \(error.reason)")
        }
    }

    /// The PIDs of the libvirt daemons in the host's network namespace (``HostInspector/libvirtDaemonScript(procRoot:)``),
    /// read under `procRoot`.
    public func libvirtDaemonProcessIDs(procRoot: String = "/proc") throws(VerifierError) -> [Int32] {
        let lines = try run(HostInspector.libvirtDaemonScript(procRoot: procRoot), step: "list the libvirt daemons").split(separator: "\n")
        if let unreadable = lines.first(where: { $0.hasPrefix("unreadable ") }) {
            throw .environment("cannot tell which network namespace libvirt daemon \(unreadable.dropFirst(11)) on \(hostName) is in: reach the host as root")
        }
        return lines.compactMap { line in line.split(separator: " ").first.flatMap { Int32($0) } }
    }
}

/// Reads, at a fixed interval, the CPU time of one host's processes that take part in a
/// migration: the guest's QEMU and the libvirt daemons. The source's QEMU and the daemons
/// are found when sampling starts; the destination's incoming QEMU (`-incoming`, started in
/// Prepare) is looked for at every reading until it is there, and counts from 0. The source's
/// QEMU exits in Confirm, so its last reading is the last before it exited.
///
/// The first reading is taken on the caller's thread (so the window starts before the
/// migration call), the others on a thread of its own, the last on ``stop()``'s caller. A
/// reading that fails is counted, not fatal.
public final class HostCPUSampler: Sendable {
    private struct State {
        var account: HostCPUAccount
        var tracked: [Int32: TrackedProcess] = [:]
        /// The guest's QEMU processes on the host when sampling started (`nil`: not listed yet).
        var qemuAtStart: Set<Int32>?
        var daemonsFound = false
        var threadAbandoned = false
        var stopped = false
    }

    private let shell: any HostShell
    private let role: HostRole
    private let domainName: String
    private let now: @Sendable () -> Double
    private let state: Mutex<State>
    private let thread: PeriodicThread

    /// How long ``stop()`` waits for a reading in flight (a shell over ssh may hang up to its
    /// 30 s timeout); the run goes on without that reading.
    static let stopWaitSeconds = 10.0

    /// - Parameters:
    ///   - shell: the host's shell.
    ///   - role: the host's part in this migration (the source's QEMU is there from the
    ///     start; the destination's appears).
    ///   - domainName: the guest's domain.
    ///   - intervalMilliseconds: time between readings (at least 1 ms).
    ///   - now: the run clock, ms.
    public init(shell: any HostShell, role: HostRole, domainName: String, intervalMilliseconds: Double,
                now: @escaping @Sendable () -> Double) {
        self.shell = shell
        self.role = role
        self.domainName = domainName
        thread = PeriodicThread(name: "migverify-cpu-\(role.rawValue)", intervalMilliseconds: intervalMilliseconds)
        self.now = now
        state = Mutex(State(account: HostCPUAccount(hostName: shell.hostName)))
    }

    /// Takes the first reading here, then reads on a thread of its own.
    public func start() {
        thread.start { [self] byThread in sampleOnce(byThread: byThread) }
    }

    /// Stops the thread (waiting at most ``stopWaitSeconds``), takes a last reading here and
    /// returns the account. Idempotent; a sampler never started returns an empty account.
    @discardableResult
    public func stop() -> HostCPUAccount {
        let first = thread.stop(waitSeconds: Self.stopWaitSeconds, abandoned: {
            state.withLock {
                $0.threadAbandoned = true
                $0.account.recordFailure("a reading still pending after \(formatNumber(Self.stopWaitSeconds)) s when sampling stopped")
            }
        }, lastTick: { sampleOnce(byThread: false) })
        if first { state.withLock { $0.stopped = true } }
        return account
    }

    /// The account so far.
    public var account: HostCPUAccount { state.withLock { $0.account } }

    /// One reading: finds what is still to be found, then reads the CPU time of what is tracked.
    func sampleOnce(byThread: Bool) {
        let (tracked, withTicks, discoveryFailures) = discover()
        var failures = discoveryFailures
        var reading: CPUTimesReading?
        if tracked.isEmpty {
            // Nothing found to read yet: a reading of nothing, so the figures can say so.
            if failures.isEmpty { reading = CPUTimesReading(ticksPerSecond: nil, processes: []) }
        } else {
            do { reading = try shell.threadCPUTimes(of: tracked.keys.sorted(), withTicks: withTicks) } catch { failures.append(error.description) }
        }
        let at = now()
        state.withLock { state in
            // Readings are kept in time order, and the account stop() returned stays as it was.
            guard !state.stopped, !(byThread && state.threadAbandoned) else { return }
            failures.forEach { state.account.recordFailure($0) }
            if let reading { state.account.record(reading, tracked: tracked, atMilliseconds: at) }
        }
    }

    /// Lists the daemons (until once done) and the guest's QEMU processes (the source's once,
    /// when sampling starts; the destination's at every reading until its incoming QEMU is
    /// there); returns what to read, whether to ask for the clock ticks, and what failed.
    private func discover() -> (tracked: [Int32: TrackedProcess], withTicks: Bool, failures: [String]) {
        var failures: [String] = []
        let (daemonsFound, qemuAtStart, tracked) = state.withLock { ($0.daemonsFound, $0.qemuAtStart, $0.tracked) }
        var found: [Int32: TrackedProcess] = [:]
        var listedAtStart: Set<Int32>?
        if !daemonsFound {
            do {
                for pid in try shell.libvirtDaemonProcessIDs() { found[pid] = TrackedProcess(kind: .daemon, startedInWindow: false) }
            } catch {
                failures.append(error.description)
            }
        }
        let hasIncoming = tracked.values.contains { $0.kind == .qemu && $0.startedInWindow }
        if qemuAtStart == nil || (role == .destination && !hasIncoming) {
            do {
                let qemu = try shell.qemuProcesses(domainName: domainName)
                if let atStart = qemuAtStart {
                    // A QEMU started for this migration: it counts from 0.
                    for process in qemu where process.incoming && !atStart.contains(process.pid) {
                        found[process.pid] = TrackedProcess(kind: .qemu, startedInWindow: true)
                    }
                } else {
                    listedAtStart = Set(qemu.map(\.pid))
                    // The source's QEMU runs the guest; one already on the destination (a
                    // stand-in of the guest's name) is not the migration's.
                    if role == .source { for process in qemu { found[process.pid] = TrackedProcess(kind: .qemu, startedInWindow: false) } }
                }
            } catch {
                failures.append(error.description)
            }
        }
        return state.withLock { state in
            if !daemonsFound, found.values.contains(where: { $0.kind == .daemon }) { state.daemonsFound = true }
            if state.qemuAtStart == nil, let listedAtStart { state.qemuAtStart = listedAtStart }
            state.tracked.merge(found) { known, _ in known }
            return (state.tracked, state.account.ticksPerSecond == nil, failures)
        }
    }
}

/// Both hosts' ``HostCPUSampler``s of one migration; a host without a shell is not sampled.
final class MigrationCPUSampler: Sendable {
    let intervalMilliseconds: Double
    private let source: HostCPUSampler?
    private let destination: HostCPUSampler?

    init(sourceHost: (any HostShell)?, destinationHost: (any HostShell)?, domainName: String, intervalMilliseconds: Double,
         now: @escaping @Sendable () -> Double) {
        self.intervalMilliseconds = intervalMilliseconds
        source = sourceHost.map { HostCPUSampler(shell: $0, role: .source, domainName: domainName, intervalMilliseconds: intervalMilliseconds, now: now) }
        destination = destinationHost.map {
            HostCPUSampler(shell: $0, role: .destination, domainName: domainName, intervalMilliseconds: intervalMilliseconds, now: now)
        }
    }

    func start() {
        source?.start()
        destination?.start()
    }

    /// Stops both; idempotent.
    @discardableResult
    func stop() -> MigrationCPUSampling {
        MigrationCPUSampling(source: source?.stop() ?? HostCPUAccount(hostName: "source", notSampled: "no shell on the source"),
                             destination: destination?.stop() ?? HostCPUAccount(hostName: "destination", notSampled: "no shell on the destination"),
                             intervalMilliseconds: intervalMilliseconds)
    }
}
