import Foundation
import MigrationModel

// The CPU a migration costs the hosts, from the kernel's per-thread accounting: what the
// host script (``HostInspector/threadCPUScript(processIDs:withTicks:procRoot:)``) printed,
// parsed; each thread's role told by its name; and the readings of one host accumulated
// into what each process and role cost between its first and its last reading. Pure: the
// sampler in the runner feeds it, the tests feed it synthetic readings.

/// What a thread of a QEMU process does, told by its name (`comm`: QEMU names each thread it
/// creates, at most 15 characters). The names are QEMU 10.0's and the older ones of QEMU 7.2,
/// both read from the binaries the lab runs.
public enum ThreadRole: String, Codable, CodingKeyRepresentable, Sendable, CaseIterable {
    /// A vCPU: `CPU 0/KVM`, `CPU 1/TCG`, `ALL CPUs/TCG` (single-threaded TCG), `CPU 0/DUMMY`.
    case vcpu
    /// The migration's own threads: the source's `mig/src/main` (before QEMU 9: `live_migration`),
    /// its return path `mig/src/return` (`return path`) and TLS handshake `mig/src/tls`; the
    /// destination's post-copy threads `mig/dst/listen`, `mig/dst/fault`, `mig/dst/preempt`
    /// (`postcopy/listen`, `fault-default`, `fault-fast`); COLO and snapshots. A pre-copy
    /// destination receives in its main loop (QEMU 10.0 has no `mig/dst/main` yet).
    case migration
    /// Parallel (multifd) channels: `mig/src/send_N`, `mig/dst/recv_N` (`multifdsend_N`, `multifdrecv_N`).
    case multifd
    /// The main loop: the thread whose id is the process id (monitor, device emulation, I/O).
    case mainLoop = "main-loop"
    /// Everything else: iothreads (`IO NAME`), `call_rcu`, thread-pool `worker`s, `vnc_worker`,
    /// the dirty-rate sampler `mig/dirtyrate` (it runs before the migration, not for it).
    case other

    /// The migration threads' names that do not start with `mig/` (QEMU before the rename).
    static let olderMigrationThreadNames: Set<String> = [
        "live_migration", "return path", "postcopy/listen", "fault-default", "fault-fast", "bg_snapshot",
    ]

    /// The role of thread `threadID` named `name` in process `processID`.
    public static func of(threadNamed name: String, threadID: Int32, processID: Int32) -> ThreadRole {
        if threadID == processID { return .mainLoop }
        if isVCPU(name) { return .vcpu }
        if isMultifd(name) { return .multifd }
        if name == "mig/dirtyrate" { return .other }
        if name.hasPrefix("mig/") || olderMigrationThreadNames.contains(name) { return .migration }
        return .other
    }

    /// `CPU N/ACCEL` or `ALL CPUs/ACCEL`.
    private static func isVCPU(_ name: String) -> Bool {
        if name.hasPrefix("ALL CPUs/") { return true }
        guard name.hasPrefix("CPU "), let slash = name.firstIndex(of: "/") else { return false }
        let number = name[name.index(name.startIndex, offsetBy: 4)..<slash]
        return !number.isEmpty && number.allSatisfy(\.isASCII) && number.allSatisfy(\.isNumber)
    }

    /// `mig/src/send_N`, `mig/dst/recv_N` (and `mig/src/recv_N`, an early form), `multifdsend_N`, `multifdrecv_N`.
    private static func isMultifd(_ name: String) -> Bool {
        for prefix in ["mig/src/send_", "mig/dst/recv_", "mig/src/recv_", "multifdsend_", "multifdrecv_"] where name.hasPrefix(prefix) {
            let number = name.dropFirst(prefix.count)
            return !number.isEmpty && number.allSatisfy(\.isASCII) && number.allSatisfy(\.isNumber)
        }
        return false
    }
}

/// One task's CPU time as a line of `/proc/PID/stat` or `/proc/PID/task/TID/stat` shows it.
public struct TaskCPUTime: Sendable, Equatable {
    /// The task's id: the thread id of a thread's line, the process id of a process's line.
    public var id: Int32
    /// Its name (`comm`, field 2), which may hold spaces and parentheses.
    public var name: String
    /// `utime` + `stime` (fields 14 and 15), clock ticks; for a process's line, every thread's
    /// including those that ended.
    public var ticks: UInt64
    /// When the task started (`starttime`, field 22), ticks since boot: tells a reused id apart.
    public var startTicks: UInt64

    public init(id: Int32, name: String, ticks: UInt64, startTicks: UInt64) {
        self.id = id
        self.name = name
        self.ticks = ticks
        self.startTicks = startTicks
    }

    /// Parses a stat line; `nil` when it is not one. The name is what lies between the first
    /// `(` and the last `)`: it may itself contain spaces, `(` and `)`, but the fields after it never do.
    public init?(statLine line: Substring) {
        guard let open = line.firstIndex(of: "("), let close = line.lastIndex(of: ")"), open < close,
              let id = Int32(line[..<open].trimmingCharacters(in: .whitespaces)) else { return nil }
        // After the name: state (field 3) first, so utime (14) is the 12th, stime the 13th, starttime the 20th.
        let fields = line[line.index(after: close)...].split(separator: " ")
        guard fields.count >= 20, let user = UInt64(fields[11]), let system = UInt64(fields[12]),
              let start = UInt64(fields[19]) else { return nil }
        let (sum, overflow) = user.addingReportingOverflow(system)
        guard !overflow else { return nil }
        self.init(id: id, name: String(line[line.index(after: open)..<close]), ticks: sum, startTicks: start)
    }
}

/// One process in one reading: its own line (its total) and each of its threads'.
public struct ProcessCPUTimes: Sendable, Equatable {
    public var process: TaskCPUTime
    public var threads: [TaskCPUTime]

    public init(process: TaskCPUTime, threads: [TaskCPUTime]) {
        self.process = process
        self.threads = threads
    }
}

/// What the host's CPU script printed at one moment: the clock ticks per second (when asked),
/// each process that was there, and the processes asked for that were gone.
///
/// The script prints `ticks N`, then per process `process PID STATLINE` and one
/// `thread PID STATLINE` per thread, or `gone PID`, and last `end`.
public struct CPUTimesReading: Sendable, Equatable {
    /// `getconf CLK_TCK` (`nil`: not asked).
    public var ticksPerSecond: Int?
    public var processes: [ProcessCPUTimes]
    /// Processes asked for whose stat file was gone: they had exited.
    public var goneProcessIDs: [Int32]
    /// Lines that could not be read (a thread name with a line break cuts its line).
    public var unreadableLineCount: Int

    public init(ticksPerSecond: Int?, processes: [ProcessCPUTimes], goneProcessIDs: [Int32] = [], unreadableLineCount: Int = 0) {
        self.ticksPerSecond = ticksPerSecond
        self.processes = processes
        self.goneProcessIDs = goneProcessIDs
        self.unreadableLineCount = unreadableLineCount
    }

    /// Why the script's output cannot be used.
    public struct Unusable: Error, Sendable, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// Parses the script's output; throws when it is cut short (no `end` line) or says
    /// nothing about a process asked for.
    public init(scriptOutput: String, askedFor processIDs: [Int32]) throws(Unusable) {
        var ticks: Int?
        var order: [Int32] = []
        var byProcess: [Int32: ProcessCPUTimes] = [:]
        var gone: [Int32] = []
        var unreadable = 0
        var ended = false
        for line in scriptOutput.split(separator: "\n", omittingEmptySubsequences: true) {
            let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            switch (parts.first, parts.count) {
            case ("end"?, 1):
                ended = true
            case ("ticks"?, 2):
                guard let value = Int(parts[1]), value > 0 else { throw Unusable(reason: "getconf CLK_TCK printed '\(parts[1])'") }
                ticks = value
            case ("gone"?, 2):
                if let pid = Int32(parts[1]) { gone.append(pid) } else { unreadable += 1 }
            case ("process"?, 3):
                guard let pid = Int32(parts[1]), let task = TaskCPUTime(statLine: parts[2]), task.id == pid else {
                    unreadable += 1
                    continue
                }
                if byProcess[pid] == nil { order.append(pid) }
                byProcess[pid] = ProcessCPUTimes(process: task, threads: byProcess[pid]?.threads ?? [])
            case ("thread"?, 3):
                guard let pid = Int32(parts[1]), let task = TaskCPUTime(statLine: parts[2]), byProcess[pid] != nil else {
                    unreadable += 1
                    continue
                }
                byProcess[pid]?.threads.append(task)
            default:
                unreadable += 1
            }
        }
        guard ended else { throw Unusable(reason: "the CPU script's output is cut short (no end line)") }
        let missing = processIDs.filter { byProcess[$0] == nil && !gone.contains($0) }
        guard missing.isEmpty else {
            throw Unusable(reason: "the CPU script said nothing of process \(missing.map(String.init).joined(separator: ", "))")
        }
        self.init(ticksPerSecond: ticks, processes: order.compactMap { byProcess[$0] }, goneProcessIDs: gone,
                  unreadableLineCount: unreadable)
    }
}

/// What a sampled process is to the migration.
public enum SampledProcessKind: String, Codable, Sendable {
    /// A QEMU process of the guest's domain.
    case qemu
    /// A libvirt daemon (`libvirtd`, or the modular `virtqemud`).
    case daemon
}

/// A process a host's sampler reads.
public struct TrackedProcess: Sendable, Equatable {
    public var kind: SampledProcessKind
    /// Started during the sampled window (the destination's incoming QEMU): it counts from 0,
    /// not from its first reading.
    public var startedInWindow: Bool

    public init(kind: SampledProcessKind, startedInWindow: Bool) {
        self.kind = kind
        self.startedInWindow = startedInWindow
    }
}

/// The readings of one host over a migration, accumulated: per process and per thread the
/// first and the last reading. What a thread cost is its last reading less its first; a
/// thread that appeared after its process's first reading (a multifd channel), or whose
/// process started in the window, counts from 0. A process's own line counts the threads
/// that ended too: what it cost beyond its threads' sum is theirs (``HostCPUCost/qemuEndedThreadsCPUSeconds``).
public struct HostCPUAccount: Sendable, Equatable {
    struct ThreadKey: Hashable {
        var id: Int32
        var startTicks: UInt64
    }

    struct ThreadAccount: Equatable {
        var name: String
        var baselineTicks: UInt64
        var lastTicks: UInt64
    }

    struct ProcessAccount: Equatable {
        var kind: SampledProcessKind
        var name: String
        var startTicks: UInt64
        var baselineTicks: UInt64
        var lastTicks: UInt64
        var lastSeenMilliseconds: Double
        var goneAtMilliseconds: Double?
        var threads: [ThreadKey: ThreadAccount]
    }

    /// The host, for the figures (e.g. `src`).
    public var hostName: String
    /// Readings that succeeded; reads that failed (listing the processes or reading their
    /// CPU time), with the last failure.
    public private(set) var sampleCount = 0
    public private(set) var failedReadCount = 0
    public private(set) var lastFailure: String?
    /// The first and the last successful reading, ms on the run clock.
    public private(set) var firstSampleMilliseconds: Double?
    public private(set) var lastSampleMilliseconds: Double?
    /// `getconf CLK_TCK` on the host.
    public private(set) var ticksPerSecond: Int?
    /// Why the host could not be sampled at all (no shell), `nil` when it could.
    public var notSampled: String?
    var processes: [Int32: ProcessAccount] = [:]
    var processOrder: [Int32] = []

    /// An empty account of `hostName`.
    public init(hostName: String, notSampled: String? = nil) {
        self.hostName = hostName
        self.notSampled = notSampled
    }

    /// Counts a read that failed.
    public mutating func recordFailure(_ reason: String) {
        failedReadCount += 1
        lastFailure = reason
    }

    /// Adds `reading`, taken at `atMilliseconds` (after every reading added before it), of the
    /// processes `tracked` names; processes it does not name are ignored.
    public mutating func record(_ reading: CPUTimesReading, tracked: [Int32: TrackedProcess], atMilliseconds at: Double) {
        sampleCount += 1
        if firstSampleMilliseconds == nil { firstSampleMilliseconds = at }
        lastSampleMilliseconds = at
        if let ticks = reading.ticksPerSecond { ticksPerSecond = ticks }
        for pid in reading.goneProcessIDs where processes[pid] != nil && processes[pid]?.goneAtMilliseconds == nil {
            processes[pid]?.goneAtMilliseconds = at
        }
        for seen in reading.processes {
            let pid = seen.process.id
            guard let what = tracked[pid] else { continue }
            guard var account = processes[pid] else {
                processes[pid] = Self.firstAccount(of: seen, kind: what.kind, fromZero: what.startedInWindow, at: at)
                processOrder.append(pid)
                continue
            }
            // Another process under a reused id, or a reading after the one that found it gone: the tracked one has ended.
            guard account.goneAtMilliseconds == nil else { continue }
            guard account.startTicks == seen.process.startTicks else {
                processes[pid]?.goneAtMilliseconds = at
                continue
            }
            account.name = seen.process.name
            account.lastTicks = max(account.lastTicks, seen.process.ticks)
            account.lastSeenMilliseconds = at
            for thread in seen.threads {
                let key = ThreadKey(id: thread.id, startTicks: thread.startTicks)
                if var known = account.threads[key] {
                    known.name = thread.name
                    known.lastTicks = max(known.lastTicks, thread.ticks)
                    account.threads[key] = known
                } else {
                    // Not there at the previous reading: it started since, so all of its time is in the window.
                    account.threads[key] = ThreadAccount(name: thread.name, baselineTicks: 0, lastTicks: thread.ticks)
                }
            }
            processes[pid] = account
        }
    }

    private static func firstAccount(of seen: ProcessCPUTimes, kind: SampledProcessKind, fromZero: Bool, at: Double) -> ProcessAccount {
        var threads: [ThreadKey: ThreadAccount] = [:]
        for thread in seen.threads {
            threads[ThreadKey(id: thread.id, startTicks: thread.startTicks)] =
                ThreadAccount(name: thread.name, baselineTicks: fromZero ? 0 : thread.ticks, lastTicks: thread.ticks)
        }
        return ProcessAccount(kind: kind, name: seen.process.name, startTicks: seen.process.startTicks,
                              baselineTicks: fromZero ? 0 : seen.process.ticks, lastTicks: seen.process.ticks,
                              lastSeenMilliseconds: at, threads: threads)
    }

    /// What the host's processes cost between their first and last readings, in CPU seconds.
    public func cost() -> HostCPUCost {
        var cost = HostCPUCost(hostName: hostName)
        cost.sampleCount = sampleCount
        cost.failedReadCount = failedReadCount
        cost.lastFailure = lastFailure
        cost.firstSampleMilliseconds = firstSampleMilliseconds
        cost.lastSampleMilliseconds = lastSampleMilliseconds
        if let notSampled {
            cost.notMeasured = notSampled
            return cost
        }
        guard let ticks = ticksPerSecond, !processes.isEmpty else {
            cost.notMeasured = sampleCount == 0
                ? "no reading succeeded (\(failedReadCount) failed" + (lastFailure.map { "; last: \($0)" } ?? "") + ")"
                : "no QEMU of the guest and no libvirt daemon was found in \(sampleCount) readings"
            return cost
        }
        func seconds(_ count: UInt64) -> Double { Double(count) / Double(ticks) }
        func delta(_ last: UInt64, _ baseline: UInt64) -> UInt64 { last >= baseline ? last - baseline : 0 }
        var byRole: [ThreadRole: UInt64] = Dictionary(uniqueKeysWithValues: ThreadRole.allCases.map { ($0, 0) })
        var qemuTicks: UInt64 = 0
        var endedTicks: UInt64 = 0
        var daemonTicks: UInt64 = 0
        for pid in processOrder {
            guard let account = processes[pid] else { continue }
            let total = delta(account.lastTicks, account.baselineTicks)
            switch account.kind {
            case .daemon:
                cost.daemonProcessIDs.append(pid)
                daemonTicks += total
            case .qemu:
                cost.qemuProcessIDs.append(pid)
                cost.qemuThreadCount += account.threads.count
                var threadsTotal: UInt64 = 0
                for (key, thread) in account.threads {
                    let spent = delta(thread.lastTicks, thread.baselineTicks)
                    byRole[ThreadRole.of(threadNamed: thread.name, threadID: key.id, processID: pid), default: 0] += spent
                    threadsTotal += spent
                }
                // The process's line also counts the threads that ended; the kernel rounds
                // each thread's share, so a few ticks either way are rounding.
                endedTicks += delta(total, threadsTotal)
                qemuTicks += max(total, threadsTotal)
                if let gone = account.goneAtMilliseconds, cost.exitedQEMUGoneAtMilliseconds == nil {
                    cost.exitedQEMULastSampleMilliseconds = account.lastSeenMilliseconds
                    cost.exitedQEMUGoneAtMilliseconds = gone
                }
            }
        }
        if !cost.qemuProcessIDs.isEmpty {
            cost.qemuCPUSecondsByRole = byRole.mapValues(seconds)
            cost.qemuEndedThreadsCPUSeconds = seconds(endedTicks)
            cost.qemuCPUSeconds = seconds(qemuTicks)
        }
        if !cost.daemonProcessIDs.isEmpty { cost.daemonCPUSeconds = seconds(daemonTicks) }
        cost.totalCPUSeconds = (cost.qemuCPUSeconds ?? 0) + (cost.daemonCPUSeconds ?? 0)
        cost.migrationCPUSeconds = (cost.totalCPUSeconds ?? 0) - (cost.qemuCPUSecondsByRole[.vcpu] ?? 0)
        return cost
    }
}

/// Both hosts' accounts of one migration, as the runner's sampler left them.
public struct MigrationCPUSampling: Sendable, Equatable {
    public var source: HostCPUAccount
    public var destination: HostCPUAccount
    /// The time asked between readings, ms.
    public var intervalMilliseconds: Double
    /// The fault recovered the migration with a second call (post-copy resumed), which was not sampled.
    public var recovered = false

    public init(source: HostCPUAccount, destination: HostCPUAccount, intervalMilliseconds: Double, recovered: Bool = false) {
        self.source = source
        self.destination = destination
        self.intervalMilliseconds = intervalMilliseconds
        self.recovered = recovered
    }

    /// The figures, per GiB of `movedBytes` (`nil` or 0: not known, or nothing moved; `movedSource`
    /// says where the bytes come from).
    public func cost(movedBytes: UInt64?, movedSource: String?) -> MigrationCPUCost {
        let gib = movedBytes.flatMap { $0 > 0 ? Double($0) / 1_073_741_824 : nil }
        func perGiB(_ account: HostCPUAccount) -> HostCPUCost {
            var host = account.cost()
            if let gib, let migration = host.migrationCPUSeconds { host.cpuSecondsPerGiB = migration / gib }
            return host
        }
        let source = perGiB(self.source)
        let destination = perGiB(self.destination)
        return MigrationCPUCost(source: source, destination: destination, sampleIntervalMilliseconds: intervalMilliseconds,
                                movedGiB: gib, movedSource: gib == nil ? nil : movedSource, method: method(source: source, destination: destination))
    }

    /// How the figures were measured, in one sentence.
    private func method(source: HostCPUCost, destination: HostCPUCost) -> String {
        let ticks = self.source.ticksPerSecond ?? self.destination.ticksPerSecond
        var text = "utime+stime of /proc/PID/stat and /proc/PID/task/TID/stat divided by CLK_TCK (\(ticks.map(String.init) ?? "?")), "
            + "read through each host's shell every \(formatNumber(intervalMilliseconds)) ms from just before the migration call until it returned; "
            + "a thread costs its last reading less its first (a thread or QEMU that started in between counts from 0)"
        for host in [source, destination] {
            if let reason = host.notMeasured {
                text += "; \(host.hostName): not measured (\(reason))"
                continue
            }
            text += "; \(host.hostName): \(host.sampleCount) readings"
            if let first = host.firstSampleMilliseconds, let last = host.lastSampleMilliseconds {
                text += " \(formatNumber(first))-\(formatNumber(last)) ms"
                // A shell over ssh may take longer than the interval: say what it was.
                if host.sampleCount > 1 { text += " (one every \(formatNumber(((last - first) / Double(host.sampleCount - 1)).rounded())) ms)" }
            }
            if host.failedReadCount > 0 { text += ", \(host.failedReadCount) failed reads (last: \(host.lastFailure ?? "?"))" }
            if let last = host.exitedQEMULastSampleMilliseconds, let gone = host.exitedQEMUGoneAtMilliseconds {
                text += ", its QEMU last read at \(formatNumber(last)) ms and found gone at \(formatNumber(gone)) ms: "
                    + "what it spent in those \(formatNumber(gone - last)) ms (the switch-over among it) is not counted"
            }
        }
        if recovered { text += "; the recovered migration's second call was not sampled" }
        return text
    }
}
