/// One JSON line of progress, written every report interval.
public struct ProgressRecord: Sendable, Codable, Equatable {
    public var type = "progress"
    /// CLOCK_REALTIME, seconds since the epoch.
    public var timestampSeconds: Double
    /// Seconds since the run started (monotonic).
    public var elapsedSeconds: Double
    /// Length of the window the achieved rates were measured over.
    public var windowSeconds: Double
    public var targetPagesPerSecond: Double
    public var achievedPagesPerSecond: Double
    public var targetMiBPerSecond: Double
    public var achievedMiBPerSecond: Double
    /// Unique pages dirtied since start.
    public var pagesDirtied: UInt64
    public var pagesWritten: UInt64
    public var pagesVerified: UInt64
    public var integrityErrors: UInt64
    /// Largest gap between two loop iterations of any worker since start or `reset-stall`.
    public var maxStallMicroseconds: UInt64
    /// Each worker thread's own largest gap, in worker order; `nil` from a memeater that
    /// predates it (the field is then absent from the JSON).
    public var maxStallMicrosecondsPerThread: [UInt64]?
    public var paused: Bool
}

/// The last line memeater prints with `--json`: the whole run in one object.
public struct RunSummary: Sendable, Codable, Equatable {
    public var type = "summary"
    public var sizeMiB: Int
    public var pageSizeBytes: Int
    public var bytesPerWrite: Int
    public var threads: Int
    public var pattern: PagePattern
    public var seed: UInt64
    /// 0 means unlimited.
    public var targetMiBPerSecond: Double
    public var targetPagesPerSecond: Double
    /// Unique pages dirtied per second over the whole run, in MiB/s.
    public var achievedMiBPerSecond: Double
    public var achievedPagesPerSecond: Double
    public var pagesDirtied: UInt64
    public var pagesWritten: UInt64
    public var pagesVerified: UInt64
    /// Bad pages found while dirtying plus those found by the latest whole-region verification.
    public var integrityErrors: UInt64
    /// Largest gap between two loop iterations of any worker.
    public var maxStallMicroseconds: UInt64
    /// Each worker thread's own largest gap, in worker order.
    public var maxStallMicrosecondsPerThread: [UInt64]
    public var durationSeconds: Double
    /// CPU time (user + system) the process used while dirtying (region set-up and final verification excluded), in seconds.
    public var cpuSeconds: Double
    /// The latest whole-region verification (in `run`, the final one), when one ran.
    public var lastVerification: VerificationReport?
    /// The first bad pages seen while dirtying.
    public var badPages: [BadPage]
}

/// Achieved rate over a window, from two counter readings.
public struct RateWindow: Sendable, Equatable {
    public var uniquePages: UInt64
    public var monotonicNanoseconds: UInt64

    public init(uniquePages: UInt64, monotonicNanoseconds: UInt64) {
        self.uniquePages = uniquePages
        self.monotonicNanoseconds = monotonicNanoseconds
    }

    /// Unique pages per second between `earlier` and `self`; 0 for an empty window.
    public func pagesPerSecond(since earlier: RateWindow) -> Double {
        guard monotonicNanoseconds > earlier.monotonicNanoseconds, uniquePages >= earlier.uniquePages else { return 0 }
        return Double(uniquePages - earlier.uniquePages) / (Double(monotonicNanoseconds - earlier.monotonicNanoseconds) / 1e9)
    }
}

extension RunSummary {
    /// Human-readable summary, a few lines.
    public var humanDescription: String {
        var lines = [
            "memeater: \(sizeMiB) MiB region, \(threads) thread(s), \(pattern.rawValue) pattern, \(bytesPerWrite) bytes per page write",
            "  target   \(targetPagesPerSecond == 0 ? "unlimited" : "\(format(targetMiBPerSecond)) MiB/s (\(format(targetPagesPerSecond)) pages/s)")",
            "  achieved \(format(achievedMiBPerSecond)) MiB/s (\(format(achievedPagesPerSecond)) unique pages/s) over \(format(durationSeconds)) s",
            "  pages dirtied \(pagesDirtied), written \(pagesWritten), verified \(pagesVerified)",
            "  max stall \(maxStallMicroseconds) µs\(perThreadStallText), CPU \(format(cpuSeconds)) s",
        ]
        if let final = lastVerification {
            lines.append("  last verification: \(final.pagesChecked) pages checked, \(final.badPagesTotal) bad, \(format(final.elapsedMilliseconds)) ms")
        }
        let verdict = integrityErrors == 0 ? "INTACT: every page held what was last written" : "INTEGRITY FAILURE: \(integrityErrors) bad page(s)"
        lines.append("  \(verdict)")
        for bad in (badPages + (lastVerification?.badPages ?? [])).prefix(8) {
            lines.append("    page \(bad.page): expected generation \(bad.expectedGeneration), found generation \(bad.foundGeneration) index \(bad.foundIndex), first bad byte \(bad.firstBadByteOffset)")
        }
        return lines.joined(separator: "\n")
    }
}

extension RunSummary {
    /// `" (per thread 120/4100/95 µs)"` when more than one thread ran, else nothing.
    var perThreadStallText: String {
        guard maxStallMicrosecondsPerThread.count > 1 else { return "" }
        return " (per thread \(maxStallMicrosecondsPerThread.map(String.init).joined(separator: "/")) µs)"
    }
}

private func format(_ value: Double) -> String {
    let rounded = (value * 100).rounded() / 100
    return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
}
