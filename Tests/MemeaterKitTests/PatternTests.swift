import CMemeater
import XCTest

final class PatternTests: XCTestCase {
    private func draws(_ pattern: me_pattern, pages: UInt64, count: Int, seed: UInt64,
                       hotFraction: Double = 0.1, hotProbability: Double = 0.9) -> [UInt64] {
        var chooser = me_chooser()
        me_chooser_init(&chooser, pattern, pages, hotFraction, hotProbability, seed)
        return (0..<count).map { _ in me_chooser_next(&chooser) }
    }

    func testSequentialSweepsInOrderAndWraps() {
        XCTAssertEqual(draws(ME_PATTERN_SEQUENTIAL, pages: 5, count: 12, seed: 9), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1])
    }

    func testRandomCoversTheRegionAndStaysInside() {
        let pages: UInt64 = 1_000
        let picked = draws(ME_PATTERN_RANDOM, pages: pages, count: 20_000, seed: 42)
        XCTAssertTrue(picked.allSatisfy { $0 < pages })
        XCTAssertEqual(Set(picked).count, Int(pages), "20 draws per page must reach every page")
        // Roughly uniform: each tenth of the region gets 10% ± 1.5%.
        var tenths = [Int](repeating: 0, count: 10)
        for page in picked { tenths[Int(page * 10 / pages)] += 1 }
        for share in tenths { XCTAssertEqual(Double(share) / 20_000, 0.1, accuracy: 0.015) }
    }

    func testHotSetTakesItsShareOfWrites() {
        let pages: UInt64 = 10_000
        let picked = draws(ME_PATTERN_HOTSET, pages: pages, count: 50_000, seed: 7, hotFraction: 0.05, hotProbability: 0.8)
        XCTAssertTrue(picked.allSatisfy { $0 < pages })
        let hot = picked.filter { $0 < 500 }.count
        XCTAssertEqual(Double(hot) / 50_000, 0.8, accuracy: 0.01)
        XCTAssertTrue(picked.contains { $0 >= 500 }, "cold pages are written too")
    }

    /// The hot set is the promised fraction of the region in distinct pages, every one of them
    /// written, and takes the promised share of the writes; the rest spread over the cold pages.
    func testTheHotSetTouchesItsFractionOfTheRegionAndTakesItsShareOfTheWrites() {
        let pages: UInt64 = 10_000
        let writes = 100_000
        let picked = draws(ME_PATTERN_HOTSET, pages: pages, count: writes, seed: 11, hotFraction: 0.05, hotProbability: 0.8)
        let hot = picked.filter { $0 < 500 }
        XCTAssertEqual(Set(hot).count, 500, "80,000 writes reach each of the 500 hot pages")
        XCTAssertEqual(Double(hot.count) / Double(writes), 0.8, accuracy: 0.01)
        // 20,000 writes over 9,500 cold pages, uniformly: 9,500 × (1 − e^(−20,000/9,500)) ≈ 8,343 distinct.
        let cold = Set(picked.filter { $0 >= 500 })
        XCTAssertEqual(Double(cold.count), 8_343, accuracy: 170)
        XCTAssertLessThan(picked.max() ?? 0, pages)
    }

    func testSeedsReproduce() {
        for pattern in [ME_PATTERN_RANDOM, ME_PATTERN_HOTSET] {
            let first = draws(pattern, pages: 100_000, count: 1_000, seed: 1234)
            XCTAssertEqual(first, draws(pattern, pages: 100_000, count: 1_000, seed: 1234))
            XCTAssertNotEqual(first, draws(pattern, pages: 100_000, count: 1_000, seed: 1235))
        }
    }
}
