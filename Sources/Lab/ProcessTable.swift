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

    /// Whether the process exists and is not a zombie.
    public static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let closing = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: closing)...].split(separator: " ").first
        return state != "Z" && state != "X"
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
