import Foundation
import Synchronization

/// Runs the guests of an evacuation at most ``maxConcurrent`` at a time: guest 1 first, the
/// next as soon as a slot frees, each on a thread of its own (a run blocks for as long as its
/// migration takes, so it must not hold one of the dispatch pool's few threads).
public struct EvacuationScheduler: Sendable {
    /// The most guests migrating at once.
    public let maxConcurrent: Int

    /// A scheduler for at most `maxConcurrent` runs at once (at least 1).
    public init(maxConcurrent: Int) throws(VerifierError) {
        guard maxConcurrent >= 1 else { throw .invalidOptions("--max-concurrent must be at least 1, not \(maxConcurrent)") }
        self.maxConcurrent = maxConcurrent
    }

    /// Calls `work` for each guest index `0..<count`, starting them in index order with at
    /// most ``maxConcurrent`` running at once, and returns what each returned, in index order,
    /// once all have returned.
    public func run<Value: Sendable>(count: Int, _ work: @escaping @Sendable (Int) -> Value) -> [Value] {
        guard count > 0 else { return [] }
        let slots = DispatchSemaphore(value: maxConcurrent)
        let finished = DispatchGroup()
        let values = Mutex<[Int: Value]>([:])
        for index in 0..<count {
            slots.wait()
            finished.enter()
            let thread = Thread {
                let value = work(index)
                values.withLock { $0[index] = value }
                slots.signal()
                finished.leave()
            }
            thread.name = "migverify-evacuation-guest-\(index + 1)"
            thread.start()
        }
        finished.wait()
        return values.withLock { stored in (0..<count).compactMap { stored[$0] } }
    }
}

/// The guests that start an evacuation together (its first batch: the first
/// `min(maxConcurrent, count)` guests) make their migration calls together: each waits, after
/// its guest is prepared and its fault installed, until every guest of the batch is ready or
/// has ended early. Guests are prepared one after another (on the lab they share its record
/// and its CPUs), so without this the first guest's migration could be over before the last
/// one's guest is ready, and nothing would overlap.
public final class EvacuationStartLine: @unchecked Sendable {
    /// Guarded by `condition`: the guests of the batch not yet ready (from 1).
    private var waitingFor: Set<Int>
    private let condition = NSCondition()
    /// The longest a ready guest waits for the others.
    public let timeoutSeconds: Double

    /// A start line for guests `1...batchSize`.
    public init(batchSize: Int, timeoutSeconds: Double = 900) {
        waitingFor = Set(1...max(1, batchSize))
        self.timeoutSeconds = timeoutSeconds
    }

    /// Guest `index` is ready: returns once every guest of the batch is ready or gone (at once
    /// for a guest outside the batch, or when `stop()` says so, polled every 0.2 s), or after
    /// ``timeoutSeconds``. Says what it waited for, `nil` when it did not wait.
    public func ready(guest index: Int, stop: () -> Bool = { false }) -> String? {
        condition.lock()
        defer { condition.unlock() }
        guard waitingFor.remove(index) != nil else { return nil }
        condition.broadcast()
        let start = Date()
        while !waitingFor.isEmpty, !stop(), Date().timeIntervalSince(start) < timeoutSeconds {
            condition.wait(until: Date().addingTimeInterval(0.2))
        }
        let waited = String(format: "%.1f s", Date().timeIntervalSince(start))
        if waitingFor.isEmpty { return "waited \(waited) for the other guests of the evacuation to be ready, then started together" }
        return "started after \(waited) without guest(s) \(waitingFor.sorted().map(String.init).joined(separator: ", ")) of the evacuation"
            + (stop() ? " (interrupted)" : ", not ready within \(Int(timeoutSeconds)) s")
    }

    /// Guest `index`'s run ended (before its call, or after): no one waits for it any more.
    public func gone(guest index: Int) {
        condition.lock()
        defer { condition.unlock() }
        if waitingFor.remove(index) != nil { condition.broadcast() }
    }
}
