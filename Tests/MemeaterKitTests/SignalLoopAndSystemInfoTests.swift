import Foundation
import XCTest
@testable import MemeaterKit

/// The report loop's schedule (on a given clock: no waiting) and what memeater reads of the
/// system for `info`.
final class SignalLoopAndSystemInfoTests: XCTestCase {
    /// A report tick that ran late (the guest was frozen for 3.5 intervals) is followed by the
    /// next tick of the grid after it, not by the missed ones in a burst.
    func testTicksMissedWhileFrozenAreSkippedNotBurst() {
        let interval: UInt64 = 1_000_000_000
        XCTAssertEqual(SignalLoop.tickAfter(5_000_000_000, scheduled: 5_000_000_000, intervalNanoseconds: interval), 6_000_000_000,
                       "on time: one interval later")
        XCTAssertEqual(SignalLoop.tickAfter(5_000_000_001, scheduled: 5_000_000_000, intervalNanoseconds: interval), 6_000_000_000)
        XCTAssertEqual(SignalLoop.tickAfter(8_500_000_000, scheduled: 5_000_000_000, intervalNanoseconds: interval), 9_000_000_000,
                       "3.5 intervals late: the ticks at 6, 7 and 8 s are skipped")
        XCTAssertEqual(SignalLoop.tickAfter(9_000_000_000, scheduled: 5_000_000_000, intervalNanoseconds: interval), 10_000_000_000,
                       "a tick exactly on the grid is not due again at once")
    }

    /// The boot id is the kernel's, and the uptime the first figure of /proc/uptime (the
    /// second is the idle time of all CPUs together): read between two reads of the file, it
    /// lies between them.
    func testTheBootIDAndTheUptimeAreTheKernelsOwn() throws {
        let bootID = try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
        XCTAssertEqual(SystemInfo.bootID(), bootID.trimmingCharacters(in: .whitespacesAndNewlines))
        func uptimeFromTheFile() throws -> Double {
            let text = try String(contentsOfFile: "/proc/uptime", encoding: .utf8)
            return try XCTUnwrap(text.split(separator: " ").first.flatMap { Double($0) })
        }
        let before = try uptimeFromTheFile()
        let uptime = try XCTUnwrap(SystemInfo.uptimeSeconds())
        let after = try uptimeFromTheFile()
        XCTAssertGreaterThanOrEqual(uptime, before)
        XCTAssertLessThanOrEqual(uptime, after)
    }
}
