import MemeaterKit
import XCTest

final class ConfigurationTests: XCTestCase {
    private func validate(_ configuration: MemeaterConfiguration, available: Int? = nil) -> MemeaterError? {
        do {
            try configuration.validate(pageSizeBytes: 4096, availableMemoryBytes: available)
            return nil
        } catch {
            return error
        }
    }

    func testOddSizesAreFine() {
        XCTAssertNil(validate(MemeaterConfiguration(sizeMiB: 2111, rate: .mibPerSecond(50), bytesPerWrite: 4096)))
        XCTAssertEqual(MemeaterConfiguration(sizeMiB: 2111).pageCount(pageSizeBytes: 4096), 540_416)
    }

    func testBadInputIsNamed() {
        XCTAssertEqual(validate(MemeaterConfiguration(sizeMiB: 0)), .sizeNotPositive(sizeMiB: 0))
        XCTAssertEqual(validate(MemeaterConfiguration(sizeMiB: 100), available: 50 * bytesPerMiB),
                       .sizeAboveAvailableMemory(sizeMiB: 100, availableMiB: 50))
        XCTAssertEqual(validate(MemeaterConfiguration(sizeMiB: 10, rate: .mibPerSecond(-1))), .rateInvalid("-1.0 MiB/s is negative"))
        XCTAssertEqual(validate(MemeaterConfiguration(sizeMiB: 10, rate: .mibPerSecond(10.5))),
                       .rateAboveRegion(ratePagesPerSecond: 2_688, regionPages: 2_560, sizeMiB: 10))
        XCTAssertNil(validate(MemeaterConfiguration(sizeMiB: 10, rate: .mibPerSecond(10), bytesPerWrite: 4096)))
        XCTAssertEqual(validate(MemeaterConfiguration(sizeMiB: 10, threads: 0, bytesPerWrite: 4096)),
                       .threadsInvalid(threads: 0, regionPages: 2_560))
        XCTAssertEqual(validate(MemeaterConfiguration(sizeMiB: 10, bytesPerWrite: 12)),
                       .bytesPerWriteInvalid(bytes: 12, pageSizeBytes: 4096))
        XCTAssertEqual(validate(MemeaterConfiguration(sizeMiB: 10, pattern: .hotset, hotFraction: 1.5, bytesPerWrite: 4096)),
                       .hotSetInvalid(fraction: 1.5, probability: 0.9))
    }

    func testRateConversions() {
        XCTAssertEqual(DirtyRate.mibPerSecond(50).pagesPerSecond(pageSizeBytes: 4096), 12_800)
        XCTAssertEqual(DirtyRate.pagesPerSecond(256).pagesPerSecond(pageSizeBytes: 4096), 256)
        XCTAssertEqual(mibPerSecond(pagesPerSecond: 12_800, pageSizeBytes: 4096), 50)
        XCTAssertTrue(DirtyRate.mibPerSecond(0).isUnlimited)
    }
}
