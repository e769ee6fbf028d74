import Foundation

/// Reads and signals processes through /proc, by PID and start time.
public enum ProcessTable {
    /// The kernel start time of a process (clock ticks since boot, field 22 of
    /// /proc/PID/stat), or `nil` when it does not exist.
    public static func startTime(of pid: Int32) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let closing = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: closing)...].split(separator: " ")
        // After the command name: state is field 3, so start time (22) is index 19 here.
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// User plus system CPU time of a process so far, in clock ticks (fields 14 and 15 of
    /// /proc/PID/stat), and its resident memory in bytes (field 24); `nil` when it is gone.
    public static func usage(of pid: Int32) -> (cpuTicks: UInt64, residentBytes: UInt64)? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let closing = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: closing)...].split(separator: " ")
        // After the command name, field N of the man page is at index N - 3.
        guard fields.count > 21, let user = UInt64(fields[11]), let system = UInt64(fields[12]),
              let residentPages = UInt64(fields[21]) else { return nil }
        return (user + system, residentPages * UInt64(max(1, sysconf(Int32(_SC_PAGESIZE)))))
    }

    /// CPU use of each of `pids` over `seconds` of wall time (100 = one core busy), and its
    /// resident memory; processes gone meanwhile are left out.
    public static func cpuUse(of pids: [Int32], overSeconds seconds: Double) -> [ProcessUsage] {
        let ticksPerSecond = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))
        let before = pids.compactMap { pid in usage(of: pid).map { (pid, $0.cpuTicks) } }
        let started = Date()
        Thread.sleep(forTimeInterval: seconds)
        let elapsed = Date().timeIntervalSince(started)
        return before.compactMap { pid, ticks in
            guard let now = usage(of: pid), now.cpuTicks >= ticks else { return nil }
            return ProcessUsage(pid: pid, name: name(of: pid) ?? "?",
                                cpuPercent: (Double(now.cpuTicks - ticks) / ticksPerSecond / elapsed * 1000).rounded() / 10,
                                residentMiB: Int(now.residentBytes >> 20))
        }
    }

    /// Whether the process exists and is not a zombie. A SIGKILLed multi-threaded process
    /// (libvirtd) shows its leader as a zombie before its other threads have exited; until
    /// they have, its files — listening sockets, pid-file locks — are still open, so it counts
    /// as alive while `/proc/PID/task` lists any thread besides the leader.
    public static func isAlive(_ pid: Int32) -> Bool {
        isAlive(pid, procRoot: "/proc")
    }

    /// ``isAlive(_:)`` over a procfs mounted at `procRoot` (a directory tree in tests).
    static func isAlive(_ pid: Int32, procRoot: String) -> Bool {
        guard let stat = try? String(contentsOfFile: "\(procRoot)/\(pid)/stat", encoding: .utf8),
              let closing = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: closing)...].split(separator: " ").first
        guard state == "Z" || state == "X" else { return true }
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "\(procRoot)/\(pid)/task")) ?? []
        return threads.contains { $0 != String(pid) }
    }

    /// Whether `pid` is still the process recorded with `startTime`.
    public static func isSameProcess(_ pid: Int32, startTime: UInt64) -> Bool {
        isAlive(pid) && self.startTime(of: pid) == startTime
    }

    /// The command line of a process, words joined by spaces.
    public static func commandLine(of pid: Int32) -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return nil }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
    }

    /// The short command name (`comm`).
    public static func name(of pid: Int32) -> String? {
        (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Every PID currently in /proc.
    public static func allProcesses() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
    }

    /// Processes whose command line contains `marker` (this process excluded).
    public static func processes(commandLineContaining marker: String) -> [Int32] {
        let me = getpid()
        return allProcesses().filter { pid in
            pid != me && isAlive(pid) && (commandLine(of: pid)?.contains(marker) ?? false)
        }
    }

    /// The processes inside a network namespace (what `ip netns pids` prints).
    public static func processes(inNamespace name: String) -> [Int32] {
        namespaceProcessesByInode(name)
    }

    private static func namespaceProcessesByInode(_ name: String) -> [Int32] {
        var info = stat()
        guard stat("/run/netns/\(name)", &info) == 0 else { return [] }
        let me = getpid()
        return allProcesses().filter { pid in
            var processInfo = stat()
            guard pid != me, stat("/proc/\(pid)/ns/net", &processInfo) == 0 else { return false }
            return processInfo.st_ino == info.st_ino && processInfo.st_dev == info.st_dev && isAlive(pid)
        }
    }

    /// Sends SIGTERM, waits up to `graceSeconds`, then SIGKILLs what is left and waits for
    /// it to go. Returns the PIDs that were still alive afterwards (normally none).
    @discardableResult
    public static func terminate(_ pids: [Int32], graceSeconds: Double = 3) -> [Int32] {
        let targets = pids.filter(isAlive)
        guard !targets.isEmpty else { return [] }
        for pid in targets { kill(pid, SIGTERM) }
        var deadline = Date().addingTimeInterval(graceSeconds)
        while Date() < deadline, targets.contains(where: isAlive) { usleep(50_000) }
        let stubborn = targets.filter(isAlive)
        for pid in stubborn { kill(pid, SIGKILL) }
        deadline = Date().addingTimeInterval(5)
        while Date() < deadline, stubborn.contains(where: isAlive) { usleep(50_000) }
        return stubborn.filter(isAlive)
    }
}

/// One process's share of the CPU over a short window, and its memory.
public struct ProcessUsage: Sendable, Codable, Equatable {
    public var pid: Int32
    public var name: String
    /// CPU time over the window per wall time, in percent of one core.
    public var cpuPercent: Double
    /// Resident memory, in MiB.
    public var residentMiB: Int
}
