import CMemeater
import XCTest

/// The pacer is driven by a simulated clock: these results are exact, whatever the machine does.
final class PacerTests: XCTestCase {
    private let millisecond: UInt64 = 1_000_000

    /// Runs a worker-like loop on a fake clock: take what is due (up to `batch`), spend
    /// `nanosecondsPerUnit` on each, sleep until the next unit is due but at most one tick.
    private func simulate(
        rate: Double, seconds: Double, nanosecondsPerUnit: UInt64 = 2_000, batch: UInt64 = 256,
        windowNanoseconds: UInt64 = 100_000_000
    ) -> (total: UInt64, perWindow: [UInt64]) {
        var pacer = me_pacer()
        var now: UInt64 = 5_000_000_000
        let start = now
        me_pacer_init(&pacer, rate, now, 100 * millisecond)
        let end = start + UInt64(seconds * 1e9)
        var windows = [UInt64](repeating: 0, count: Int((end - start) / windowNanoseconds))
        var total: UInt64 = 0
        while now < end {
            let due = min(me_pacer_due(&pacer, now), batch)
            if due == 0 {
                // Like the worker: sleep to the next due instant, at most a tick, always forward.
                now = max(now + 1, min(me_pacer_next_due_ns(&pacer), now + millisecond))
                continue
            }
            me_pacer_consume(&pacer, due)
            let window = Int((now - start) / windowNanoseconds)
            if window < windows.count { windows[window] += due }
            total += due
            now += due * nanosecondsPerUnit
        }
        return (total, windows)
    }

    func testLongWindowHoldsTargetExactly() {
        for rate in [1.0, 250.0, 2_560.0, 25_600.0, 100_000.0] {
            let (total, _) = simulate(rate: rate, seconds: 10)
            XCTAssertEqual(Double(total), rate * 10, accuracy: 1.0, "rate \(rate) over 10 s")
        }
    }

    func testShortWindowsHoldTarget() {
        // 25,600 pages/s = 100 MiB/s of 4 KiB pages: every 100 ms window gets 2,560 ± 1.
        let (_, windows) = simulate(rate: 25_600, seconds: 5)
        XCTAssertEqual(windows.count, 50)
        for (index, count) in windows.enumerated() {
            XCTAssertEqual(Double(count), 2_560, accuracy: 1.0, "window \(index)")
        }
    }

    func testRateAboveCapacityRunsFlatOut() {
        // Each unit costs 1 ms of simulated work: at most 1,000 per second however high the target.
        let (total, _) = simulate(rate: 5_000, seconds: 2, nanosecondsPerUnit: 1_000_000, batch: 1)
        XCTAssertEqual(Double(total), 2_000, accuracy: 2)
    }

    func testFreezeIsForgivenNotBurst() {
        var pacer = me_pacer()
        let start: UInt64 = 1_000_000_000
        me_pacer_init(&pacer, 1_000, start, 100 * millisecond)
        XCTAssertEqual(me_pacer_due(&pacer, start + 10 * millisecond), 10)
        me_pacer_consume(&pacer, 10)
        // A 2 s freeze: only the 100 ms allowance is due, the rest is forgiven.
        let afterFreeze = start + 2_010 * millisecond
        XCTAssertEqual(me_pacer_due(&pacer, afterFreeze), 100)
        XCTAssertEqual(pacer.forgiven, 1_900)
        me_pacer_consume(&pacer, 100)
        // And the schedule continues at the set rate from there.
        XCTAssertEqual(me_pacer_due(&pacer, afterFreeze + 50 * millisecond), 50)
    }

    func testUnlimitedIsAlwaysDue() {
        var pacer = me_pacer()
        me_pacer_init(&pacer, 0, 0, 100 * millisecond)
        XCTAssertEqual(me_pacer_due(&pacer, 1), UInt64.max)
        XCTAssertEqual(me_pacer_next_due_ns(&pacer), 0)
    }

    func testNextDueIsAbsolute() {
        var pacer = me_pacer()
        me_pacer_init(&pacer, 4, 0, 100 * millisecond)
        XCTAssertEqual(me_pacer_next_due_ns(&pacer), 250 * millisecond)
        me_pacer_consume(&pacer, 3)
        XCTAssertEqual(me_pacer_next_due_ns(&pacer), 1_000 * millisecond)
    }
}
