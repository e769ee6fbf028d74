import CMemeater
import XCTest

/// Each worker's stall figure, driven on a simulated clock: no worker thread runs, the test
/// tells the engine when each worker's loop came round (as the worker does with the monotonic
/// clock), so the results are exact whatever the machine does.
final class StallTests: XCTestCase {
    private let millisecond: UInt64 = 1_000_000
    private let microsecond: UInt64 = 1_000
    private var engine: OpaquePointer!

    override func setUpWithError() throws {
        var config = me_config(size_bytes: 1 << 20, workers: 4, pattern: ME_PATTERN_SEQUENTIAL, hot_fraction: 0,
                               hot_probability: 0, seed: 7, bytes_per_write: 64, lock_memory: false,
                               hugepages: ME_HUGEPAGES_DEFAULT)
        var message = [CChar](repeating: 0, count: 256)
        let created = me_engine_create(&config, &message, message.count)
        engine = try XCTUnwrap(created, message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    }

    override func tearDown() {
        if let engine { me_engine_destroy(engine) }
        engine = nil
    }

    /// The total and each worker's max stall, from one reading, in ns.
    private func stalls(capacity: Int = 4) -> (total: UInt64, perWorker: [UInt64]) {
        var stats = me_stats()
        var workers = [me_worker_stats](repeating: me_worker_stats(max_stall_ns: UInt64.max), count: capacity)
        me_engine_stats_per_worker(engine, &stats, &workers, UInt32(capacity))
        return (stats.max_stall_ns, workers.map(\.max_stall_ns))
    }

    /// Worker `w` comes round every 1 ms + `w` µs (so that every slot differs), for `iterations`
    /// rounds from `clocks`; `late` delays one worker's loop once by the given gap instead.
    private func run(_ clocks: inout [UInt64], iterations: Int, late: (worker: Int, iteration: Int, gap: UInt64)? = nil) -> [UInt64] {
        var counted: [UInt64] = []
        for iteration in 0..<iterations {
            for worker in clocks.indices {
                let isLate = late.map { $0.worker == worker && $0.iteration == iteration } ?? false
                clocks[worker] += isLate ? late!.gap : millisecond + UInt64(worker) * microsecond
                counted.append(me_engine_note_iteration(engine, UInt32(worker), clocks[worker]))
            }
        }
        return counted
    }

    func testAStallInOneWorkerShowsInThatWorkersSlotOnly() {
        XCTAssertEqual(me_engine_worker_count(engine), 4)
        var clocks = [UInt64](repeating: 5_000_000_000, count: 4)
        let counted = run(&clocks, iterations: 100, late: (worker: 2, iteration: 50, gap: 40 * millisecond))
        XCTAssertEqual(counted.prefix(4), [0, 0, 0, 0], "a worker's first iteration only sets its clock")
        XCTAssertEqual(counted.filter { $0 == 40 * millisecond }.count, 1, "the late iteration's gap is counted once")
        let (total, perWorker) = stalls()
        XCTAssertEqual(perWorker, [1_000 * microsecond, 1_001 * microsecond, 40 * millisecond, 1_003 * microsecond])
        XCTAssertEqual(total, 40 * millisecond, "the total is the largest worker's")
    }

    func testResetClearsEveryWorkerAndTheNextGapCountsAgain() {
        var clocks = [UInt64](repeating: 5_000_000_000, count: 4)
        _ = run(&clocks, iterations: 10, late: (worker: 1, iteration: 5, gap: 25 * millisecond))
        XCTAssertEqual(stalls().perWorker[1], 25 * millisecond)
        me_engine_reset_max_stall(engine)
        XCTAssertEqual(stalls().total, 0)
        XCTAssertEqual(stalls().perWorker, [0, 0, 0, 0])
        // After the reset the measurement starts again from each worker's last iteration.
        _ = run(&clocks, iterations: 3, late: (worker: 3, iteration: 1, gap: 7 * millisecond))
        let (total, perWorker) = stalls()
        XCTAssertEqual(perWorker, [1_000 * microsecond, 1_001 * microsecond, 1_002 * microsecond, 7 * millisecond])
        XCTAssertEqual(total, 7 * millisecond)
    }

    func testAShortArrayGetsTheFirstWorkersAndTheTotalStillCoversAll() {
        var clocks = [UInt64](repeating: 5_000_000_000, count: 4)
        _ = run(&clocks, iterations: 4, late: (worker: 3, iteration: 2, gap: 9 * millisecond))
        let (total, perWorker) = stalls(capacity: 2)
        XCTAssertEqual(perWorker, [1_000 * microsecond, 1_001 * microsecond])
        XCTAssertEqual(total, 9 * millisecond)
        var stats = me_stats()
        me_engine_stats(engine, &stats)
        XCTAssertEqual(stats.max_stall_ns, 9 * millisecond, "me_engine_stats gives the same total")
    }

    func testAClockThatDoesNotAdvanceOrAnUnknownWorkerCountsNothing() {
        XCTAssertEqual(me_engine_note_iteration(engine, 0, 8_000 * millisecond), 0)
        XCTAssertEqual(me_engine_note_iteration(engine, 0, 7_000 * millisecond), 0, "backwards")
        XCTAssertEqual(me_engine_note_iteration(engine, 0, 7_000 * millisecond), 0, "the same instant")
        XCTAssertEqual(me_engine_note_iteration(engine, 0, 7_002 * millisecond), 2 * millisecond)
        XCTAssertEqual(me_engine_note_iteration(engine, 4, 9_000 * millisecond), 0, "no worker 4")
        XCTAssertEqual(stalls().perWorker, [2 * millisecond, 0, 0, 0])
    }
}
