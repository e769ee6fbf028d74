import Foundation
import Synchronization

/// The sampling loop the placement and host-CPU samplers share: a tick on the caller's thread
/// when started (so a window opens before what it watches, however short), one every interval
/// on a thread of its own, and a last one on the caller's thread when stopped. A tick in flight
/// when stopping is waited for, at most a given time: a read over a cut link or a hung ssh
/// must not hold the run.
final class PeriodicThread: Sendable {
    private let name: String
    private let intervalNanoseconds: UInt64
    private let stopFlag = Atomic<Bool>(false)
    private let started = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    /// - Parameters:
    ///   - name: the thread's name.
    ///   - intervalMilliseconds: time between ticks (at least 1 ms).
    init(name: String, intervalMilliseconds: Double) {
        self.name = name
        intervalNanoseconds = UInt64(max(1, intervalMilliseconds) * 1_000_000)
    }

    /// Ticks here (`byThread` false), then on the thread (`byThread` true) until ``stop(waitSeconds:abandoned:lastTick:)``.
    /// A second call does nothing.
    func start(_ tick: @escaping @Sendable (_ byThread: Bool) -> Void) {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        tick(false)
        let thread = Thread { [self] in
            loop(tick)
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Stops the thread, waiting at most `waitSeconds` for a tick in flight (`abandoned` runs
    /// when it did not end in time: its ticks from then on come too late to keep), then runs
    /// `lastTick` here. Does nothing for a thread never started but marks it stopped. Returns
    /// `false` when it had been stopped before (nothing done).
    @discardableResult
    func stop(waitSeconds: Double, abandoned: () -> Void, lastTick: () -> Void) -> Bool {
        guard !stopFlag.exchange(true, ordering: .acquiringAndReleasing) else { return false }
        if started.load(ordering: .acquiring) {
            if finished.wait(timeout: .now() + waitSeconds) == .timedOut { abandoned() }
            lastTick()
        }
        return true
    }

    private func loop(_ tick: @Sendable (_ byThread: Bool) -> Void) {
        var next = monotonicNanoseconds() + intervalNanoseconds
        while !stopFlag.load(ordering: .acquiring) {
            let before = monotonicNanoseconds()
            if next > before {
                var pause = timespec(tv_sec: Int((next - before) / 1_000_000_000), tv_nsec: Int((next - before) % 1_000_000_000))
                nanosleep(&pause, nil)
            }
            if stopFlag.load(ordering: .acquiring) { break }
            tick(true)
            next += intervalNanoseconds
            let after = monotonicNanoseconds()
            if next < after { next = after }  // fell behind (a slow read): do not burst to catch up
        }
    }
}
