import CMemeater
import XCTest

final class PageStampTests: XCTestCase {
    private let pageBytes = 4096
    private let seed: UInt64 = 77

    private func withPage(_ body: (UnsafeMutableRawPointer) -> Void) {
        let page = UnsafeMutableRawPointer.allocate(byteCount: pageBytes, alignment: 64)
        defer { page.deallocate() }
        page.initializeMemory(as: UInt8.self, repeating: 0, count: pageBytes)
        body(page)
    }

    func testStampedPageChecksClean() {
        withPage { page in
            me_stamp_page(page, 12, 3, seed, pageBytes)
            XCTAssertTrue(me_check_page(page, 12, 3, seed, pageBytes, true, nil))
            XCTAssertTrue(me_check_page(page, 12, 3, seed, pageBytes, false, nil))
        }
    }

    func testEveryByteFlipIsFoundByTheFullCheck() {
        withPage { page in
            for offset in stride(from: 0, to: pageBytes, by: 61) {
                me_stamp_page(page, 5, 9, seed, pageBytes)
                page.storeBytes(of: page.load(fromByteOffset: offset, as: UInt8.self) ^ 1, toByteOffset: offset, as: UInt8.self)
                var bad = me_bad_page()
                XCTAssertFalse(me_check_page(page, 5, 9, seed, pageBytes, true, &bad), "flip at \(offset)")
                XCTAssertEqual(Int(bad.first_bad_offset), offset / 8 * 8)
                XCTAssertEqual(bad.page, 5)
                XCTAssertEqual(bad.expected_generation, 9)
            }
        }
    }

    /// A corruption anywhere in what was written is found: each byte offset of a whole page in
    /// turn, and of a short write, flipped alone, fails the full check at its word.
    func testAFlipAtEveryByteOffsetOfAPageIsFoundAtItsWord() {
        withPage { page in
            for bytesPerWrite in [pageBytes, 64] {
                var missed: [Int] = []
                var misplaced: [Int] = []
                for offset in 0..<bytesPerWrite {
                    me_stamp_page(page, 5, 9, seed, bytesPerWrite)
                    page.storeBytes(of: page.load(fromByteOffset: offset, as: UInt8.self) ^ 0x80, toByteOffset: offset, as: UInt8.self)
                    var bad = me_bad_page()
                    if me_check_page(page, 5, 9, seed, bytesPerWrite, true, &bad) {
                        missed.append(offset)
                    } else if Int(bad.first_bad_offset) != offset / 8 * 8 {
                        misplaced.append(offset)
                    }
                }
                XCTAssertEqual(missed, [], "flips the full check of a \(bytesPerWrite)-byte write did not see")
                XCTAssertEqual(misplaced, [], "flips reported at another word")
            }
        }
    }

    func testStalePageIsReportedWithItsGeneration() {
        withPage { page in
            me_stamp_page(page, 8, 4, seed, pageBytes)
            var bad = me_bad_page()
            // The bookkeeping says generation 5 was written; the page still holds 4: a lost write.
            XCTAssertFalse(me_check_page(page, 8, 5, seed, pageBytes, false, &bad))
            XCTAssertEqual(bad.found_generation, 4)
            XCTAssertEqual(bad.expected_generation, 5)
            XCTAssertEqual(bad.found_index, 8)
        }
    }

    func testForeignPageIsReportedWithItsIndex() {
        withPage { page in
            me_stamp_page(page, 1_000, 2, seed, pageBytes)
            var bad = me_bad_page()
            XCTAssertFalse(me_check_page(page, 999, 2, seed, pageBytes, false, &bad))
            XCTAssertEqual(bad.found_index, 1_000)
        }
    }

    func testQuickCheckSeesTheLastWord() {
        withPage { page in
            me_stamp_page(page, 3, 1, seed, 256)
            page.storeBytes(of: UInt64(0), toByteOffset: 248, as: UInt64.self)
            XCTAssertFalse(me_check_page(page, 3, 1, seed, 256, false, nil))
        }
    }

    func testEveryWriteChangesEveryWordAndLeavesNoZeroPage() {
        withPage { page in
            me_stamp_page(page, 42, 10, seed, pageBytes)
            let before = Array(UnsafeRawBufferPointer(start: page, count: pageBytes).bindMemory(to: UInt64.self))
            me_stamp_page(page, 42, 11, seed, pageBytes)
            let after = Array(UnsafeRawBufferPointer(start: page, count: pageBytes).bindMemory(to: UInt64.self))
            let unchanged = zip(before, after).enumerated().filter { $0.offset != 1 && $0.offset != 0 && $0.element.0 == $0.element.1 }
            XCTAssertTrue(unchanged.isEmpty, "words unchanged by a rewrite: \(unchanged.map(\.offset))")
            XCTAssertFalse(after.contains(0), "no zero word")
            XCTAssertLessThan(Set(after).count, after.count + 1)
            XCTAssertGreaterThan(Set(after).count, after.count - 2, "payload words are distinct: nothing to compress")
        }
    }

    func testOnlyTheRequestedBytesAreWritten() {
        withPage { page in
            me_stamp_page(page, 1, 1, seed, 64)
            let tail = UnsafeRawBufferPointer(start: page + 64, count: pageBytes - 64)
            XCTAssertTrue(tail.allSatisfy { $0 == 0 })
        }
    }
}
