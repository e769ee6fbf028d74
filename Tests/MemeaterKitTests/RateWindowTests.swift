import MemeaterKit
import XCTest

/// The achieved rate memeater reports: unique pages over a window of its monotonic clock.
final class RateWindowTests: XCTestCase {
    func testRateIsUniquePagesPerSecondOfTheWindow() {
        let earlier = RateWindow(uniquePages: 10_000, monotonicNanoseconds: 7_000_000_000)
        let later = RateWindow(uniquePages: 11_280, monotonicNanoseconds: 7_250_000_000)
        XCTAssertEqual(later.pagesPerSecond(since: earlier), 5_120, accuracy: 1e-9, "1280 pages in 250 ms")
        XCTAssertEqual(mibPerSecond(pagesPerSecond: 5_120, pageSizeBytes: 4_096), 20, accuracy: 1e-9)
    }

    func testAnEmptyOrBackwardWindowIsZero() {
        let reading = RateWindow(uniquePages: 5, monotonicNanoseconds: 100)
        XCTAssertEqual(reading.pagesPerSecond(since: reading), 0)
        XCTAssertEqual(RateWindow(uniquePages: 9, monotonicNanoseconds: 50).pagesPerSecond(since: reading), 0)
        XCTAssertEqual(RateWindow(uniquePages: 1, monotonicNanoseconds: 200).pagesPerSecond(since: reading), 0)
    }
}

/// The run summary's achieved rate counts unique pages, the rate memeater is asked to keep.
final class RunSummaryTests: XCTestCase {
    func testTheAchievedRateOfARunCountsUniquePagesNotRepeatWrites() throws {
        // Unlimited over 256 pages: the sweep comes round many times a second, so most writes are repeats.
        let engine = try DirtyingEngine(configuration: MemeaterConfiguration(sizeMiB: 1, rate: .mibPerSecond(0), threads: 1))
        let session = MemeaterSession(engine: engine)
        try engine.start()
        for _ in 0..<10_000 where engine.statistics().pagesWritten < 20 * UInt64(engine.pageCount) { usleep(1_000) }
        session.stopDirtying()
        let summary = session.summary()
        XCTAssertGreaterThan(summary.pagesWritten, summary.pagesDirtied, "repeat writes happened")
        XCTAssertEqual(summary.achievedPagesPerSecond * summary.durationSeconds, Double(summary.pagesDirtied),
                       accuracy: 1e-6 * Double(summary.pagesDirtied))
    }
}
