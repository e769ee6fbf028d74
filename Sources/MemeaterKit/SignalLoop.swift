import CMemeater

#if canImport(Glibc)
import Glibc
#endif

/// Why a memeater loop ended.
public enum LoopEnd: Sendable, Equatable, CustomStringConvertible {
    /// The run's set duration elapsed.
    case durationElapsed
    /// SIGINT or SIGTERM (its number) stopped it.
    case signal(Int32)
    /// A control client sent `stop`.
    case stopCommand

    public var description: String {
        switch self {
        case .durationElapsed: "duration elapsed"
        case .signal(let number): "signal \(number)"
        case .stopCommand: "stop command"
        }
    }
}

/// The main thread's loop: reports at a fixed interval and reacts to signals, with no other
/// thread involved. SIGINT/SIGTERM stop, SIGUSR1 asks for a summary, SIGUSR2 is the control
/// server's stop. The signals are blocked in every thread and taken with `sigtimedwait`.
public enum SignalLoop {
    static let stopCommandSignal = SIGUSR2

    private static var handledSignals: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGINT, SIGTERM, SIGUSR1, SIGUSR2] { sigaddset(&set, signal) }
        return set
    }

    /// Blocks the loop's signals in the calling thread. Call before starting any thread so all inherit it.
    public static func blockSignals() {
        var set = handledSignals
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Ends `run` from any thread, as a control client's `stop` does.
    public static func requestStop() {
        kill(getpid(), stopCommandSignal)
    }

    /// The next tick once the tick scheduled at `scheduled` ran at `now`: the first instant
    /// of the tick grid (`scheduled` + k × interval) after `now`. Ticks missed while the
    /// process (or guest) was frozen are skipped rather than fired in a burst.
    static func tickAfter(_ now: UInt64, scheduled: UInt64, intervalNanoseconds: UInt64) -> UInt64 {
        var next = scheduled
        while next <= now { next += intervalNanoseconds }
        return next
    }

    /// Calls `tick` every `intervalMilliseconds` (on an absolute schedule) until the duration
    /// elapses or a stop signal arrives; `summaryRequested` runs on SIGUSR1.
    public static func run(
        intervalMilliseconds: Int, durationSeconds: Double?,
        tick: () -> Void, summaryRequested: () -> Void
    ) -> LoopEnd {
        var set = handledSignals
        let intervalNanoseconds = UInt64(max(intervalMilliseconds, 1)) * 1_000_000
        let start = me_monotonic_ns()
        let end = durationSeconds.map { start + UInt64($0 * 1e9) }
        var nextTick = start + intervalNanoseconds
        while true {
            let now = me_monotonic_ns()
            if let end, now >= end { return .durationElapsed }
            if now >= nextTick {
                tick()
                nextTick = tickAfter(now, scheduled: nextTick, intervalNanoseconds: intervalNanoseconds)
                continue
            }
            let wakeAt = min(nextTick, end ?? .max)
            let wait = wakeAt - now
            var timeout = timespec(tv_sec: Int(wait / 1_000_000_000), tv_nsec: Int(wait % 1_000_000_000))
            let signal = sigtimedwait(&set, nil, &timeout)
            switch signal {
            case SIGUSR1: summaryRequested()
            case stopCommandSignal: return .stopCommand
            case SIGINT, SIGTERM: return .signal(signal)
            default: continue // timeout or EINTR
            }
        }
    }
}
