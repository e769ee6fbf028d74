import MigrationModel
import XCTest

final class PredictedBoundaryTests: XCTestCase {
    let mib = 1_048_576.0
    let fit = SyntheticSweep.truth

    func converges(_ rate: Double, dirtySetBytes: Double = 2048 * 1_048_576.0) -> Bool {
        fit.predict(memoryBytes: 4096 * mib, dirtySetBytes: dirtySetBytes, pattern: .sequential, dirtyRateBytesPerSecond: rate,
                    transferRateBytesPerSecond: 125 * mib, timeoutSeconds: 60).converges
    }

    func testConvergesJustBelowTheBoundaryAndNotJustAbove() throws {
        let boundary = try XCTUnwrap(PreCopyModel.predictedBoundary(memoryBytes: 4096 * mib, dirtySetBytes: 2048 * mib, pattern: .sequential,
                                                                   transferRateBytesPerSecond: 125 * mib, timeoutSeconds: 60, fit: fit))
        XCTAssertGreaterThan(boundary, 0)
        XCTAssertLessThan(boundary, 125 * mib / fit.dirtyRateFactor, "below R / factor")
        XCTAssertTrue(converges(boundary * 0.99))
        XCTAssertFalse(converges(boundary * 1.01))
    }

    func testASmallDirtySetConvergesAtEveryRate() {
        // 20 MiB fit into 300 ms at 125 MiB/s (37.5 MiB).
        let set = 20 * mib
        XCTAssertNil(PreCopyModel.predictedBoundary(memoryBytes: 4096 * mib, dirtySetBytes: set, pattern: .sequential,
                                                    transferRateBytesPerSecond: 125 * mib, timeoutSeconds: 60, fit: fit))
        guard case let .convergesAtEveryRate(reason) = PreCopyModel.predictedBoundaryExplained(
            memoryBytes: 4096 * mib, dirtySetBytes: set, pattern: .sequential, transferRateBytesPerSecond: 125 * mib,
            timeoutSeconds: 60, fit: fit) else { return XCTFail("a boundary for a set that fits in the downtime") }
        XCTAssertTrue(reason.contains("max downtime"), reason)
    }

    func testATimeoutShorterThanTheFirstPassNeverConverges() {
        XCTAssertEqual(PreCopyModel.predictedBoundary(memoryBytes: 4096 * mib, dirtySetBytes: 2048 * mib, pattern: .sequential,
                                                      transferRateBytesPerSecond: 125 * mib, timeoutSeconds: 5, fit: fit), 0)
    }

    func testAHotSetMovesTheBoundaryUp() throws {
        func boundary(_ pattern: DirtyPattern) throws -> Double {
            try XCTUnwrap(PreCopyModel.predictedBoundary(memoryBytes: 4096 * mib, dirtySetBytes: 2048 * mib, pattern: pattern,
                                                         transferRateBytesPerSecond: 125 * mib, timeoutSeconds: 60, fit: fit))
        }
        XCTAssertGreaterThan(try boundary(.hotSet(fraction: 0.1, probability: 0.9)), try boundary(.sequential))
    }

    /// QEMU switches over once what is left fits into its max downtime: a longer allowed pause
    /// lets a faster-dirtying guest converge, so the boundary moves up with it.
    func testALongerMaxDowntimeMovesTheBoundaryUp() throws {
        func boundary(maxDowntimeMilliseconds: Double) throws -> Double {
            try XCTUnwrap(PreCopyModel.predictedBoundary(memoryBytes: 4096 * mib, dirtySetBytes: 2048 * mib, pattern: .sequential,
                                                         transferRateBytesPerSecond: 125 * mib,
                                                         maxDowntimeMilliseconds: maxDowntimeMilliseconds, timeoutSeconds: 60, fit: fit))
        }
        let atDefault = try boundary(maxDowntimeMilliseconds: 300)
        let atTwoSeconds = try boundary(maxDowntimeMilliseconds: 2_000)
        XCTAssertGreaterThan(atTwoSeconds, atDefault * 1.01)
        func converges(_ rate: Double, maxDowntimeMilliseconds: Double) -> Bool {
            fit.predict(memoryBytes: 4096 * mib, dirtySetBytes: 2048 * mib, pattern: .sequential, dirtyRateBytesPerSecond: rate,
                        transferRateBytesPerSecond: 125 * mib, maxDowntimeMilliseconds: maxDowntimeMilliseconds, timeoutSeconds: 60).converges
        }
        XCTAssertTrue(converges(atTwoSeconds * 0.99, maxDowntimeMilliseconds: 2_000), "the boundary is the one of its own max downtime")
        XCTAssertFalse(converges(atTwoSeconds * 1.01, maxDowntimeMilliseconds: 2_000))
        XCTAssertFalse(converges(atTwoSeconds * 0.99, maxDowntimeMilliseconds: 300), "which the default would not reach")
    }
}

final class BoundaryBisectionTests: XCTestCase {
    let mib = 1_048_576.0

    /// Runs the bisection against a threshold; returns the bracket and the rates measured in order.
    func run(_ bisection: BoundaryBisection, threshold: Double) -> (BoundaryBracket?, [Double]) {
        var results: [Double: Bool] = [:]
        var measured: [Double] = []
        for _ in 0..<100 {
            switch bisection.next(results: results) {
            case let .measure(rate):
                XCTAssertNil(results[rate], "asked twice for \(rate)")
                measured.append(rate)
                results[rate] = rate < threshold
            case let .finished(bracket):
                return (bracket, measured)
            }
        }
        return (nil, measured)
    }

    func testConvergesOnTheThresholdWithinTheBudget() throws {
        let bisection = try BoundaryBisection(lowBytesPerSecond: 0, highBytesPerSecond: 1024 * mib, stepBudget: 12,
                                              resolutionBytesPerSecond: mib)
        let (bracket, measured) = run(bisection, threshold: 123.4 * mib)
        let found = try XCTUnwrap(bracket)
        XCTAssertEqual(measured.first, 1024 * mib, "the high end is measured first")
        XCTAssertLessThanOrEqual(measured.count, 12)
        XCTAssertEqual(found.stepsUsed, measured.count)
        let low = try XCTUnwrap(found.highestConvergingBytesPerSecond)
        let high = try XCTUnwrap(found.lowestNonConvergingBytesPerSecond)
        XCTAssertLessThan(low, 123.4 * mib)
        XCTAssertGreaterThanOrEqual(high, 123.4 * mib)
        XCTAssertLessThanOrEqual(high - low, mib, "within the resolution: \(found.reason)")
        XCTAssertFalse(found.lowAssumed)
    }

    func testTheBudgetStopsIt() throws {
        let bisection = try BoundaryBisection(lowBytesPerSecond: 0, highBytesPerSecond: 1024 * mib, stepBudget: 4)
        let (bracket, measured) = run(bisection, threshold: 123.4 * mib)
        // 1024 (the high end), 512, 256, 128: none converge, so the low end is still the assumed 0.
        XCTAssertEqual(measured, [1024 * mib, 512 * mib, 256 * mib, 128 * mib])
        XCTAssertEqual(bracket?.highestConvergingBytesPerSecond, 0)
        XCTAssertEqual(bracket?.lowAssumed, true)
        XCTAssertEqual(bracket?.lowestNonConvergingBytesPerSecond, 128 * mib)
        XCTAssertTrue(bracket?.reason.contains("budget") == true)
    }

    func testAResumedSweepAsksForTheSameNextRate() throws {
        let bisection = try BoundaryBisection(lowBytesPerSecond: 10 * mib, highBytesPerSecond: 500 * mib, stepBudget: 20)
        let (_, measured) = run(bisection, threshold: 77 * mib)
        // Stored results of the first five runs, in any order (a dictionary), give the sixth rate again.
        let stored = Dictionary(uniqueKeysWithValues: measured.prefix(5).map { ($0, $0 < 77 * mib) })
        let decoded = try JSONDecoder().decode([Double: Bool].self, from: JSONEncoder().encode(stored))
        XCTAssertEqual(bisection.next(results: decoded), .measure(rateBytesPerSecond: measured[5]))
        XCTAssertEqual(bisection.next(results: stored), bisection.next(results: stored))
    }

    func testEndsOutsideTheRangeAreSaid() throws {
        let bisection = try BoundaryBisection(lowBytesPerSecond: 10 * mib, highBytesPerSecond: 500 * mib, stepBudget: 20)
        guard case let .finished(above) = bisection.next(results: [500 * mib: true]) else { return XCTFail("high converged") }
        XCTAssertNil(above.lowestNonConvergingBytesPerSecond)
        guard case let .finished(below) = bisection.next(results: [10 * mib: false]) else { return XCTFail("low did not converge") }
        XCTAssertNil(below.highestConvergingBytesPerSecond)
        XCTAssertThrowsError(try BoundaryBisection(lowBytesPerSecond: 5, highBytesPerSecond: 5, stepBudget: 3))
        XCTAssertThrowsError(try BoundaryBisection(lowBytesPerSecond: 0, highBytesPerSecond: 5, stepBudget: 0))
    }
}
