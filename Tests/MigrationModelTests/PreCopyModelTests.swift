import MigrationModel
import XCTest

final class PreCopyModelTests: XCTestCase {
    let mib = 1_048_576.0

    func testIdleGuestConvergesAfterTheFirstPass() {
        let prediction = PreCopyModel.predict(PreCopyModelInput(firstPassBytes: 1024 * mib, dirtySetBytes: 0,
                                                                dirtyRateBytesPerSecond: 0, bandwidthBytesPerSecond: 1024 * mib))
        XCTAssertTrue(prediction.converges)
        XCTAssertEqual(prediction.iterations, 1)
        XCTAssertEqual(prediction.totalMilliseconds ?? 0, 1000, accuracy: 0.001)
        XCTAssertEqual(prediction.downtimeMilliseconds ?? -1, 0, accuracy: 0.001)
    }

    func testGeometricSeriesOfPasses() {
        // 1000 MiB at 100 MiB/s while dirtying 50 MiB/s: passes of 1000, 500, 250, 125, 62.5, 31.25 (> 30 MiB
        // that fit in 300 ms), 15.625 -> stop-and-copy of 15.625 MiB.
        let prediction = PreCopyModel.predict(PreCopyModelInput(firstPassBytes: 1000 * mib, dirtySetBytes: 4000 * mib,
                                                                dirtyRateBytesPerSecond: 50 * mib, bandwidthBytesPerSecond: 100 * mib,
                                                                maxDowntimeMilliseconds: 300))
        XCTAssertTrue(prediction.converges)
        XCTAssertEqual(prediction.passBytes.map { $0 / mib }, [1000, 500, 250, 125, 62.5, 31.25, 15.625])
        XCTAssertEqual(prediction.iterations, 6)
        XCTAssertEqual(prediction.downtimeMilliseconds ?? 0, 156.25, accuracy: 0.001)
        XCTAssertEqual(prediction.totalMilliseconds ?? 0, (1000 + 500 + 250 + 125 + 62.5 + 31.25 + 15.625) * 10, accuracy: 0.001)
    }

    func testDirtyingFasterThanTheLinkNeverConverges() {
        let prediction = PreCopyModel.predict(PreCopyModelInput(firstPassBytes: 1024 * mib, dirtySetBytes: 512 * mib,
                                                                dirtyRateBytesPerSecond: 200 * mib, bandwidthBytesPerSecond: 100 * mib))
        XCTAssertFalse(prediction.converges)
        XCTAssertNil(prediction.totalMilliseconds)
        XCTAssertTrue(prediction.reason.contains("does not converge"), prediction.reason)
        // The whole 512 MiB set is dirty again after every pass: the model stops as soon as
        // what is left no longer shrinks, instead of running passes to its iteration limit.
        XCTAssertEqual(prediction.passBytes.map { $0 / mib }, [1024, 512])
        XCTAssertEqual(prediction.iterations, 2)
        XCTAssertTrue(prediction.reason.contains("not less than"), prediction.reason)
    }

    func testSmallDirtySetConvergesEvenAtAHighRate() {
        // The guest rewrites only 20 MiB, far faster than the link: the dirty set caps what is left.
        let prediction = PreCopyModel.predict(PreCopyModelInput(firstPassBytes: 512 * mib, dirtySetBytes: 20 * mib,
                                                                dirtyRateBytesPerSecond: 1000 * mib, bandwidthBytesPerSecond: 100 * mib))
        XCTAssertTrue(prediction.converges)
        XCTAssertEqual(prediction.downtimeMilliseconds ?? 0, 200, accuracy: 0.001)
    }

    func testNoBandwidthIsSaidSo() {
        let prediction = PreCopyModel.predict(PreCopyModelInput(firstPassBytes: mib, dirtySetBytes: 0, dirtyRateBytesPerSecond: 0,
                                                                bandwidthBytesPerSecond: 0))
        XCTAssertFalse(prediction.converges)
        XCTAssertTrue(prediction.reason.contains("no bandwidth"))
    }

    func testComparisonPutsPredictedNextToMeasured() {
        let input = PreCopyModelInput(firstPassBytes: 100 * mib, dirtySetBytes: 0, dirtyRateBytesPerSecond: 0, bandwidthBytesPerSecond: 100 * mib)
        let comparison = ModelComparison(input: input, inputSources: [:], prediction: PreCopyModel.predict(input),
                                         measuredConverged: true, measuredMilliseconds: 1500, measuredDowntimeMilliseconds: nil,
                                         measuredIterations: 2, measuredTransferredBytes: 110 * mib, measuredSource: "libvirt")
        let time = comparison.rows.first { $0.figure == "migration time (ms)" }
        XCTAssertEqual(time?.predicted ?? 0, 1000, accuracy: 0.001)
        XCTAssertEqual(time?.measured, 1500)
        XCTAssertEqual(time?.ratio ?? 0, 1.5, accuracy: 0.001)
        XCTAssertNil(comparison.rows.first { $0.figure == "downtime (ms)" }?.ratio, "0 predicted: no ratio")
        XCTAssertTrue(comparison.table.contains("migration time (ms)"))
    }
}
