import Foundation
import MigrationModel
import XCTest

final class DirtyPatternTests: XCTestCase {
    let mib = 1_048_576.0

    func testSequentialIsRateTimesTimeCappedAtTheSet() {
        XCTAssertEqual(DirtyPattern.sequential.uniqueDirtiedBytes(dirtyRateBytesPerSecond: 10 * mib, dirtySetBytes: 100 * mib, seconds: 3), 30 * mib)
        XCTAssertEqual(DirtyPattern.sequential.uniqueDirtiedBytes(dirtyRateBytesPerSecond: 10 * mib, dirtySetBytes: 100 * mib, seconds: 30), 100 * mib)
    }

    func testRandomAndHotSetDirtyFewerUniqueBytesThanSequential() {
        let sequential = DirtyPattern.sequential.uniqueDirtiedBytes(dirtyRateBytesPerSecond: 50 * mib, dirtySetBytes: 512 * mib, seconds: 5)
        let random = DirtyPattern.random.uniqueDirtiedBytes(dirtyRateBytesPerSecond: 50 * mib, dirtySetBytes: 512 * mib, seconds: 5)
        let hot = DirtyPattern.hotSet(fraction: 0.1, probability: 0.9)
            .uniqueDirtiedBytes(dirtyRateBytesPerSecond: 50 * mib, dirtySetBytes: 512 * mib, seconds: 5)
        XCTAssertEqual(sequential, 250 * mib)
        // Random: five independent windows of 50 of 512 MiB each: 512 · (1 − (462/512)^5).
        XCTAssertEqual(random, 512 * mib * (1 - pow(462.0 / 512, 5)), accuracy: 1)
        XCTAssertLessThan(random, sequential)
        XCTAssertLessThan(hot, random, "the hot set is rewritten every window")
        XCTAssertGreaterThan(hot, 50 * mib, "at least one window's worth")
    }

    func testRandomWithAFewWritesIsLikeSequential() {
        // D·t ≪ S: repeats are rare.
        let random = DirtyPattern.random.uniqueDirtiedBytes(dirtyRateBytesPerSecond: mib, dirtySetBytes: 4096 * mib, seconds: 3)
        XCTAssertEqual(random / (3 * mib), 1, accuracy: 0.001)
        // Within one window memeater's pacing counts unique pages: exactly D·t for every pattern.
        for pattern in [DirtyPattern.random, .hotSet(fraction: 0.1, probability: 0.9)] {
            XCTAssertEqual(pattern.uniqueDirtiedBytes(dirtyRateBytesPerSecond: 40 * mib, dirtySetBytes: 512 * mib, seconds: 0.5),
                           20 * mib, accuracy: 0.001 * mib, "\(pattern)")
        }
    }

    func testLongIntervalsTendToTheWholeSetAndNothingIsNaN() {
        for pattern in [DirtyPattern.sequential, .random, .hotSet(fraction: 0.1, probability: 0.9), .hotSet(fraction: 0.2, probability: 1)] {
            let long = pattern.uniqueDirtiedBytes(dirtyRateBytesPerSecond: 100 * mib, dirtySetBytes: 512 * mib, seconds: 10_000)
            XCTAssertLessThanOrEqual(long, 512 * mib + 1, "\(pattern)")
            for (rate, set, seconds) in [(0.0, 512 * mib, 1.0), (mib, 0, 1), (mib, mib, 0), (.nan, mib, 1), (mib, .infinity, 1), (mib, mib, .nan)] {
                let value = pattern.uniqueDirtiedBytes(dirtyRateBytesPerSecond: rate, dirtySetBytes: set, seconds: seconds)
                XCTAssertTrue(value.isFinite, "\(pattern) \(rate) \(set) \(seconds)")
            }
        }
        let wholeHot = DirtyPattern.hotSet(fraction: 0.5, probability: 1)
            .uniqueDirtiedBytes(dirtyRateBytesPerSecond: 100 * mib, dirtySetBytes: 512 * mib, seconds: 1000)
        XCTAssertEqual(wholeHot, 256 * mib, accuracy: mib, "writes that only hit the hot set never dirty the rest")
    }

    func testTheModelConvergesSoonerWithAHotSet() {
        // 2 GiB at 100 MiB/s, 80 MiB/s dirtied: sequential never gets under 30 MiB; a hot set keeps rewriting the same pages.
        func input(_ pattern: DirtyPattern) -> PreCopyModelInput {
            PreCopyModelInput(firstPassBytes: 2048 * mib, dirtySetBytes: 2048 * mib, dirtyRateBytesPerSecond: 80 * mib,
                              bandwidthBytesPerSecond: 100 * mib, pattern: pattern)
        }
        let sequential = PreCopyModel.predict(input(.sequential))
        let hot = PreCopyModel.predict(input(.hotSet(fraction: 0.01, probability: 0.99)))
        XCTAssertLessThan(hot.passBytes[1], sequential.passBytes[1])
        XCTAssertLessThan(hot.transferredBytes, sequential.transferredBytes)
    }

    func testOldInputsWithoutAPatternDecodeAsSequential() throws {
        let json = #"{"firstPassBytes":1,"dirtySetBytes":2,"dirtyRateBytesPerSecond":3,"bandwidthBytesPerSecond":4,"maxDowntimeMilliseconds":300,"maxIterations":100}"#
        let input = try JSONDecoder().decode(PreCopyModelInput.self, from: Data(json.utf8))
        XCTAssertEqual(input.pattern, .sequential)
        let hot = PreCopyModelInput(firstPassBytes: 1, dirtySetBytes: 2, dirtyRateBytesPerSecond: 3, bandwidthBytesPerSecond: 4,
                                    pattern: .hotSet(fraction: 0.1, probability: 0.9))
        XCTAssertEqual(try JSONDecoder().decode(PreCopyModelInput.self, from: JSONEncoder().encode(hot)), hot)
    }
}
