import CLITestSupport
import Foundation
@testable import MigVerifyCLI
import XCTest

/// Every numeric option of every `migverify` command, fed -1, 0, NaN, 1e30 and the largest
/// integer, parsed and validated in this process (no lab, no host is reached): each is a
/// clean one-line usage error naming the option (exit 64) or a value the table says is
/// valid; nothing traps. The options come from the binary's `--experimental-dump-help`, so
/// a new option missing from the table fails the test.
final class NumericOptionTests: XCTestCase {
    /// Per option: the probes it accepts (`nil`: not a numeric option).
    static let table: [String: Set<String>?] = [
        "memory-mib": [], "memeater-size-mib": [],
        "dirty-rate-mib-per-second": ["0"],  // 0: unlimited
        "bandwidth-mib-per-second": [],
        "find-boundary": [], "repeat": [],
        "max-ping-gap-ms": [], "max-downtime-ms": [],
        "memeater-port": [], "parallel-connections": [], "ping-interval-microseconds": [],
        "qemu-max-downtime-ms": [], "timeout-seconds": [], "stall-timeout-seconds": [],
        "timelines": ["0"],  // 0: no timelines drawn
        "guest-count": [], "max-concurrent": [], "fault-guest": [],
        "accel": nil, "cache-directory": nil, "emulator": nil, "fault-journal": nil, "guest": nil, "lab-name-prefix": nil,
        "memeater": nil, "pattern": nil, "state-directory": nil, "compare": nil, "output": nil, "capture-interface": nil,
        "compression": nil, "database": nil, "dest-ssh": nil, "dest-uri": nil, "domain": nil, "guest-address": nil, "id": nil,
        "json": nil, "junit": nil, "save-captures": nil, "memeater-token-file": nil, "matrix": nil, "migration-mode": nil, "scenario": nil, "source-daemon-log": nil, "source-ssh": nil, "source-uri": nil,
        "strategy": nil,
    ]

    /// What each command needs besides the probed option.
    static let required: [String: [String]] = [
        "sweep": ["--id", "s1"],
        "report": ["s1", "--output", "/nonexistent/migverify-report"],
    ]

    func testEveryNumericOptionIsBoundedWithoutATrap() throws {
        let options = try optionsTakingValues(ofProduct: "migverify")
        XCTAssertGreaterThan(options.count, 20)
        for (command, name) in options {
            guard let entry = Self.table[name] else {
                XCTFail("migverify \(command.joined(separator: " ")) --\(name) is not in the table: say which probes it accepts (or nil if not numeric)")
                continue
            }
            guard let accepted = entry else { continue }
            // `sweep` composes run's option groups (the same types, the same checks): probed once, under run.
            if command == ["sweep"], options.contains(where: { $0.path == ["run"] && $0.name == name }) { continue }
            for probe in numericOptionProbes {
                assertProbe(Migverify.self, command + (Self.required[command.joined(separator: " ")] ?? []) + ["--\(name)=\(probe)"],
                            optionName: name, accepted: accepted.contains(probe))
            }
        }
    }
}
