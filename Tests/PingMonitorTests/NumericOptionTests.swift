import CLITestSupport
import Foundation
@testable import PingMonitorCLI
import XCTest

/// Every numeric option of `pingmon` and `pingmon analyze`, fed -1, 0, NaN, 1e30 and the
/// largest integer, parsed in this process (nothing is sent): each is a clean one-line
/// usage error naming the option (exit 64) or a value the table says is valid; nothing
/// traps. The options come from the binary's `--experimental-dump-help`, so a new option
/// missing from the table fails the test.
final class NumericOptionTests: XCTestCase {
    /// Per option: the probes it accepts (`nil`: not a numeric option).
    static let table: [String: Set<String>?] = [
        "interval-microseconds": [],
        "gap-threshold-milliseconds": ["0"],
        "icmp-identifier": [],
        "max-downtime-ms": ["0"],
        "duration-seconds": [],
        "count": [],
        "linger-milliseconds": ["0"],
        "capture-buffer-mib": [],
        "target": nil, "interface": nil, "target-mac": nil, "save-capture": nil, "allowed-networks": nil,
    ]

    /// What each command needs besides the probed option ("" is the root command).
    static let required: [String: [String]] = [
        "": ["--target", "198.18.13.2"],
        "analyze": ["analyze", "capture.pcap", "--target", "198.18.13.2"],
    ]

    func testEveryNumericOptionIsBoundedWithoutATrap() throws {
        let options = try optionsTakingValues(ofProduct: "pingmon")
        XCTAssertGreaterThan(options.count, 10)
        for (path, name) in options {
            let subcommand = path.joined(separator: " ")
            guard let entry = Self.table[name] else {
                XCTFail("pingmon \(subcommand) --\(name) is not in the table: say which probes it accepts (or nil if not numeric)")
                continue
            }
            guard let accepted = entry else { continue }
            for probe in numericOptionProbes {
                assertProbe(PingMon.self, (Self.required[subcommand] ?? []) + ["--\(name)=\(probe)"], optionName: name,
                            accepted: accepted.contains(probe))
            }
        }
    }
}
