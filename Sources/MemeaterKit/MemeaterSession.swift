import CMemeater
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One run of memeater: the engine plus the bookkeeping that turns its counters into rates.
/// Shared by the one-shot `run` and the `serve` control mode.
public final class MemeaterSession: Sendable {
    public let engine: DirtyingEngine
    private let startedNanoseconds: UInt64
    private let cpuSecondsAtStart: Double
    private let window: Mutex<(previous: RateWindow, latest: ProgressRecord?)>
    private let lastVerification = Mutex<VerificationReport?>(nil)
    private let stopped = Mutex<(nanoseconds: UInt64, cpuSeconds: Double)?>(nil)
    private let rateHistory = Mutex(RateHistory())

    public init(engine: DirtyingEngine) {
        self.engine = engine
        let now = me_monotonic_ns()
        startedNanoseconds = now
        cpuSecondsAtStart = processCPUSeconds()
        window = Mutex((RateWindow(uniquePages: engine.statistics().uniquePagesDirtied, monotonicNanoseconds: now), nil))
    }

    /// Seconds of dirtying: since the session started, until `stopDirtying()` if it was called.
    public var elapsedSeconds: Double {
        let end = stopped.withLock { $0 }?.nanoseconds ?? me_monotonic_ns()
        return Double(end - startedNanoseconds) / 1e9
    }

    /// Stops the workers and ends the measured duration and CPU time, so that a later
    /// verification does not dilute the achieved rate.
    public func stopDirtying() {
        engine.stop()
        stopped.withLock { $0 = $0 ?? (me_monotonic_ns(), processCPUSeconds()) }
    }

    /// Verifies every page now and remembers the result: its bad pages count as integrity errors
    /// until the next verification.
    @discardableResult
    public func verifyAll() -> VerificationReport {
        let report = engine.verifyAll()
        lastVerification.withLock { $0 = report }
        return report
    }

    /// Bad pages seen while dirtying plus those of the latest whole-region verification.
    private func integrityErrors(_ statistics: EngineStatistics) -> UInt64 {
        statistics.integrityErrors + (lastVerification.withLock { $0 }?.badPagesTotal ?? 0)
    }

    /// Reads the counters, measures the rate since the previous sample and remembers the result.
    @discardableResult
    public func sample() -> ProgressRecord {
        let statistics = engine.statistics()
        let now = me_monotonic_ns()
        let current = RateWindow(uniquePages: statistics.uniquePagesDirtied, monotonicNanoseconds: now)
        return window.withLock { state in
            let achieved = current.pagesPerSecond(since: state.previous)
            let target = engine.targetPagesPerSecond
            let record = ProgressRecord(
                timestampSeconds: wallClockSeconds(),
                elapsedSeconds: Double(now - startedNanoseconds) / 1e9,
                windowSeconds: Double(now - state.previous.monotonicNanoseconds) / 1e9,
                targetPagesPerSecond: target,
                achievedPagesPerSecond: achieved,
                targetMiBPerSecond: mibPerSecond(pagesPerSecond: target, pageSizeBytes: engine.pageSizeBytes),
                achievedMiBPerSecond: mibPerSecond(pagesPerSecond: achieved, pageSizeBytes: engine.pageSizeBytes),
                pagesDirtied: statistics.uniquePagesDirtied,
                pagesWritten: statistics.pagesWritten,
                pagesVerified: statistics.pagesVerified,
                integrityErrors: integrityErrors(statistics),
                maxStallMicroseconds: statistics.maxStallMicroseconds,
                maxStallMicrosecondsPerThread: statistics.maxStallMicrosecondsPerThread,
                paused: engine.isPaused
            )
            state = (current, record)
            rateHistory.withLock { $0.append(RateHistorySample(guestMonotonicNanoseconds: now, pagesDirtied: current.uniquePages)) }
            return record
        }
    }

    /// The counter at each of the last samples (see ``RateHistory``), oldest first.
    public func history() -> [RateHistorySample] {
        rateHistory.withLock { $0.samples }
    }

    /// The most recent sample, or a fresh one when none was taken yet.
    public func latestProgress() -> ProgressRecord {
        window.withLock { $0.latest } ?? sample()
    }

    /// The whole run so far, with the latest whole-region verification if one was made.
    public func summary() -> RunSummary {
        let statistics = engine.statistics()
        let duration = elapsedSeconds
        let configuration = engine.configuration
        let pageSize = engine.pageSizeBytes
        let achievedPages = duration > 0 ? Double(statistics.uniquePagesDirtied) / duration : 0
        let target = engine.targetPagesPerSecond
        return RunSummary(
            sizeMiB: configuration.sizeMiB,
            pageSizeBytes: pageSize,
            bytesPerWrite: configuration.bytesPerWrite,
            threads: configuration.threads,
            pattern: configuration.pattern,
            seed: configuration.seed,
            targetMiBPerSecond: mibPerSecond(pagesPerSecond: target, pageSizeBytes: pageSize),
            targetPagesPerSecond: target,
            achievedMiBPerSecond: mibPerSecond(pagesPerSecond: achievedPages, pageSizeBytes: pageSize),
            achievedPagesPerSecond: achievedPages,
            pagesDirtied: statistics.uniquePagesDirtied,
            pagesWritten: statistics.pagesWritten,
            pagesVerified: statistics.pagesVerified,
            integrityErrors: integrityErrors(statistics),
            maxStallMicroseconds: statistics.maxStallMicroseconds,
            maxStallMicrosecondsPerThread: statistics.maxStallMicrosecondsPerThread,
            durationSeconds: duration,
            cpuSeconds: (stopped.withLock { $0 }?.cpuSeconds ?? processCPUSeconds()) - cpuSecondsAtStart,
            lastVerification: lastVerification.withLock { $0 },
            badPages: statistics.badPages
        )
    }
}

/// User plus system CPU time of this process, in seconds.
public func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}
