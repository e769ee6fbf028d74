import MemeaterKit
import XCTest

final class EngineTests: XCTestCase {
    private func makeEngine(sizeMiB: Int = 8, threads: Int = 2, pattern: PagePattern = .sequential,
                            rate: DirtyRate = .mibPerSecond(0), bytesPerWrite: Int = 4096) throws -> DirtyingEngine {
        try DirtyingEngine(configuration: MemeaterConfiguration(
            sizeMiB: sizeMiB, rate: rate, threads: threads, pattern: pattern, bytesPerWrite: bytesPerWrite))
    }

    /// Waits (bounded by a count of polls, not asserted on time) until the workers have dirtied `pages`.
    private func waitUntilDirtied(_ engine: DirtyingEngine, pages: UInt64) {
        for _ in 0..<10_000 where engine.statistics().uniquePagesDirtied < pages { usleep(1_000) }
    }

    func testFreshRegionVerifiesClean() throws {
        let engine = try makeEngine()
        let report = engine.verifyAll()
        XCTAssertEqual(report.pagesChecked, UInt64(engine.pageCount))
        XCTAssertEqual(report.badPagesTotal, 0)
        XCTAssertTrue(report.intact)
    }

    func testOneCorruptByteIsReportedWithItsPage() throws {
        let engine = try makeEngine()
        try engine.corruptPage(1_234, byteOffset: 100)
        let report = engine.verifyAll()
        XCTAssertEqual(report.badPagesTotal, 1)
        XCTAssertEqual(report.badPages.map(\.page), [1_234])
        XCTAssertEqual(report.badPages.first?.firstBadByteOffset, 96)
        XCTAssertFalse(report.intact)
    }

    func testDirtyingKeepsEveryPageIntact() throws {
        for pattern in PagePattern.allCases {
            let engine = try makeEngine(pattern: pattern)
            try engine.start()
            waitUntilDirtied(engine, pages: 4_000)
            let whileRunning = engine.verifyAll()
            engine.stop()
            let statistics = engine.statistics()
            XCTAssertGreaterThanOrEqual(statistics.uniquePagesDirtied, 4_000, "\(pattern)")
            XCTAssertGreaterThanOrEqual(statistics.pagesWritten, statistics.uniquePagesDirtied)
            XCTAssertEqual(statistics.integrityErrors, 0, "\(pattern)")
            XCTAssertEqual(whileRunning.badPagesTotal, 0, "verification while workers run, \(pattern)")
            XCTAssertEqual(whileRunning.pagesChecked, UInt64(engine.pageCount))
            XCTAssertEqual(engine.verifyAll().badPagesTotal, 0, "\(pattern)")
        }
    }

    func testCorruptionWhileRunningIsCaught() throws {
        // Sequential with a rate: the corrupted page is either rewritten (and caught by the check
        // before the rewrite) or still corrupt at verification. Either way it is counted.
        let engine = try makeEngine(threads: 2, rate: .mibPerSecond(8))
        try engine.start()
        waitUntilDirtied(engine, pages: 100)
        try engine.corruptPage(700, byteOffset: 16)
        let report = engine.verifyAll()
        engine.stop()
        let caughtWhileDirtying = engine.statistics().integrityErrors
        XCTAssertEqual(report.badPagesTotal + caughtWhileDirtying, 1)
        let found = report.badPages + engine.statistics().badPages
        XCTAssertEqual(found.map(\.page), [700])
    }

    func testPauseStopsDirtying() throws {
        let engine = try makeEngine(threads: 1)
        try engine.start()
        waitUntilDirtied(engine, pages: 100)
        engine.isPaused = true
        usleep(20_000) // let a batch in flight finish
        let paused = engine.statistics().pagesWritten
        usleep(50_000)
        XCTAssertEqual(engine.statistics().pagesWritten, paused)
        engine.isPaused = false
        for _ in 0..<10_000 where engine.statistics().pagesWritten == paused { usleep(1_000) }
        XCTAssertGreaterThan(engine.statistics().pagesWritten, paused)
        engine.stop()
        XCTAssertEqual(engine.statistics().runningWorkers, 0)
    }

    func testPartialPageWritesVerify() throws {
        let engine = try makeEngine(threads: 1, bytesPerWrite: 64)
        try engine.start()
        waitUntilDirtied(engine, pages: 3_000)
        engine.stop()
        XCTAssertEqual(engine.verifyAll().badPagesTotal, 0)
    }

    func testRateCannotExceedRegion() throws {
        let engine = try makeEngine(sizeMiB: 4)
        XCTAssertThrowsError(try engine.setRate(.mibPerSecond(5))) { error in
            XCTAssertEqual(error as? MemeaterError, .rateAboveRegion(ratePagesPerSecond: 1_280, regionPages: 1_024, sizeMiB: 4))
        }
        XCTAssertNoThrow(try engine.setRate(.mibPerSecond(4)))
        XCTAssertEqual(engine.targetPagesPerSecond, 1_024)
    }
}
