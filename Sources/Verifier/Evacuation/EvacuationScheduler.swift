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
