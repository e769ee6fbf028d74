import MigrationModel
import XCTest

final class RepeatStatisticsTests: XCTestCase {
    func testHandComputedValues() throws {
        let statistics = try RepeatStatistics([4, 1, 3, 2])
        XCTAssertEqual(statistics.count, 4)
        XCTAssertEqual(statistics.mean, 2.5)
        XCTAssertEqual(statistics.median, 2.5)
        XCTAssertEqual(statistics.standardDeviation ?? 0, 1.290994, accuracy: 1e-6)
        XCTAssertEqual(statistics.minimum, 1)
        XCTAssertEqual(statistics.maximum, 4)
        let interval = try XCTUnwrap(statistics.confidenceInterval95)
        XCTAssertEqual(interval.halfWidth, 3.182 * 1.290994 / 2, accuracy: 1e-5)
        XCTAssertEqual(interval.lower, 2.5 - interval.halfWidth, accuracy: 1e-12)
        XCTAssertEqual(interval.upper, 2.5 + interval.halfWidth, accuracy: 1e-12)
        XCTAssertEqual(try RepeatStatistics([5, 1, 3]).median, 3)
    }

    func testOneValueHasNoIntervalAndSaysWhy() throws {
        let statistics = try RepeatStatistics([7])
        XCTAssertNil(statistics.confidenceInterval95)
        XCTAssertNil(statistics.standardDeviation)
        XCTAssertEqual(statistics.mean, 7)
        XCTAssertTrue(statistics.notes.contains { $0.contains("one value") })
    }

    func testNonFiniteValuesAreDroppedAndCounted() throws {
        let statistics = try RepeatStatistics([1, .nan, 3, .infinity])
        XCTAssertEqual(statistics.count, 2)
        XCTAssertEqual(statistics.droppedNonFiniteCount, 2)
        XCTAssertEqual(statistics.mean, 2)
        XCTAssertTrue(statistics.notes.contains { $0.contains("2 non-finite") })
        XCTAssertThrowsError(try RepeatStatistics([.nan])) { error in
            XCTAssertEqual(error as? RepeatStatisticsError, .noFiniteValues(count: 1))
        }
        XCTAssertThrowsError(try RepeatStatistics([]))
    }

    func testStudentTFromTableToNormal() {
        XCTAssertEqual(RepeatStatistics.studentT95(degreesOfFreedom: 1), 12.706)
        XCTAssertEqual(RepeatStatistics.studentT95(degreesOfFreedom: 30), 2.042)
        XCTAssertEqual(RepeatStatistics.studentT95(degreesOfFreedom: 40), 2.021, accuracy: 0.001)
        XCTAssertEqual(RepeatStatistics.studentT95(degreesOfFreedom: 120), 1.980, accuracy: 0.001)
        XCTAssertEqual(RepeatStatistics.studentT95(degreesOfFreedom: 100_000), 1.960, accuracy: 0.001)
    }
}
