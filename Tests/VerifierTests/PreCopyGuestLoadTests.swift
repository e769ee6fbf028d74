import MemeaterKit
@testable import Verifier
import XCTest

/// The guest's rate during the pre-copy passes, from memeater's counter history on the run clock.
final class PreCopyGuestLoadTests: XCTestCase {
    /// The guest's clock read 5000 ms when the run clock read 1000 ms (sent at 999, back at 1001).
    private let clock = GuestClockReadings(beforeSentAtMilliseconds: 999, beforeReceivedAtMilliseconds: 1001, guestBeforeMilliseconds: 5000,
                                           afterSentAtMilliseconds: 4000, afterReceivedAtMilliseconds: 4002, guestAfterMilliseconds: 7800)

    /// A history every 100 ms of the guest's clock from 4000 to 7800 ms: 100 pages per 100 ms
    /// (4 KiB pages: 3.90625 MiB/s) until guest 6000 ms (run clock 2000), then 300 per 100 ms.
    private func history() -> [RateHistorySample] {
        var pages: UInt64 = 0
        return stride(from: 4000, through: 7800, by: 100).map { (milliseconds: Int) in
            defer { pages += milliseconds < 6000 ? 100 : 300 }
            return RateHistorySample(guestMonotonicNanoseconds: UInt64(milliseconds) * 1_000_000, pagesDirtied: pages)
        }
    }

    func testTheRateOverThePreCopyAndEachPassIsTheCountersOnTheRunClock() throws {
        // The call at 1000 ms, pass 2 from 2000 ms, pass 3 from 2500 ms, the pause at 3000 ms.
        let load = try PreCopyGuestLoad.measure(history: history(), clock: clock, pageSizeBytes: 4096, callStartMilliseconds: 1000,
                                                switchOverMilliseconds: 3000, switchOverSource: "the pause",
                                                iterationStarts: [(1, 1100), (2, 2000), (3, 2500)]).get()
        let slow = 100.0 * 10 * 4096 / 1_048_576
        XCTAssertEqual(load.passes.map(\.iteration), [1, 2, 3])
        XCTAssertEqual(load.passes[0].startMilliseconds, 1000, "the first pass starts with the call")
        XCTAssertEqual(load.passes[0].mibPerSecond, slow, accuracy: 1e-9)
        XCTAssertEqual(load.passes[1].mibPerSecond, 3 * slow, accuracy: 1e-9)
        XCTAssertEqual(load.passes[2].endMilliseconds, 3000, "the last pass ends at the switch-over")
        XCTAssertEqual(load.passes[2].mibPerSecond, 3 * slow, accuracy: 1e-9)
        XCTAssertEqual(load.mibPerSecond, 2 * slow, accuracy: 1e-9, "1 s slow, 1 s three times as fast")
        // A pass shorter than the samples resolve has no rate of its own; it still counts in the whole.
        let short = try PreCopyGuestLoad.measure(history: history(), clock: clock, pageSizeBytes: 4096, callStartMilliseconds: 1000,
                                                 switchOverMilliseconds: 3000, switchOverSource: "the pause",
                                                 iterationStarts: [(1, 1100), (2, 2000), (3, 2800)]).get()
        XCTAssertEqual(short.passes.map(\.iteration), [1, 2])
        XCTAssertEqual(short.mibPerSecond, 2 * slow, accuracy: 1e-9)
        XCTAssertTrue(load.source.hasSuffix("from the call to the pause"), load.source)
    }

    /// Between two samples the counter is interpolated: a span that starts mid-window counts
    /// its share.
    func testASpanBetweenSamplesIsInterpolated() throws {
        let load = try PreCopyGuestLoad.measure(history: history(), clock: clock, pageSizeBytes: 4096, callStartMilliseconds: 1050,
                                                switchOverMilliseconds: 1150, switchOverSource: "x", iterationStarts: []).get()
        XCTAssertEqual(load.mibPerSecond, 100.0 * 10 * 4096 / 1_048_576, accuracy: 1e-9)
        XCTAssertEqual(load.passes, [])
    }

    /// A history that does not cover the pre-copy is no figure, and says so.
    func testAHistoryThatDoesNotSpanThePreCopyIsNoFigure() {
        let short = Array(history().prefix(15))  // to guest 5400 ms: run clock 1400
        guard case .failure(let missing) = PreCopyGuestLoad.measure(history: short, clock: clock, pageSizeBytes: 4096,
                                                                     callStartMilliseconds: 1000, switchOverMilliseconds: 3000,
                                                                     switchOverSource: "x", iterationStarts: []) else {
            return XCTFail("the history ends before the switch-over")
        }
        XCTAssertTrue(missing.reason.contains("does not span the pre-copy 1000–3000 ms"), missing.reason)
        guard case .failure = PreCopyGuestLoad.measure(history: history(), clock: clock, pageSizeBytes: 4096, callStartMilliseconds: 3000,
                                                       switchOverMilliseconds: 3000, switchOverSource: "x", iterationStarts: []) else {
            return XCTFail("no span")
        }
    }

    func testIterationStartsAreTheFirstSampleOfEachValue() {
        let starts = PreCopyGuestLoad.iterationStarts([(nil, 10), (0, 20), (1, 30), (1, 40), (2, 50), (2, 60), (4, 70), (3, 80)])
        XCTAssertEqual(starts.map(\.iteration), [1, 2, 4])
        XCTAssertEqual(starts.map(\.milliseconds), [30, 50, 70])
    }
}
