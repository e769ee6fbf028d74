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
