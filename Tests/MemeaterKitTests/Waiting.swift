import Foundation
import XCTest

extension XCTestCase {
    /// Polls `condition` every millisecond until it holds; fails the test after `timeoutSeconds`
    /// (a bound far beyond the wait, not a measurement: the tests wait for what they need).
    func waitUntil(_ what: String, timeoutSeconds: Double = 10, file: StaticString = #filePath, line: UInt = #line,
                   _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while !condition() {
            guard Date() < deadline else { return XCTFail("not within \(timeoutSeconds) s: \(what)", file: file, line: line) }
            usleep(1_000)
        }
    }
}
