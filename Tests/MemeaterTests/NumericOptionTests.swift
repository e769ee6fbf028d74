import CLITestSupport
import Foundation
@testable import Memeater
import XCTest

/// Every numeric option of `memeater`, fed -1, 0, NaN, 1e30 and the largest integer: each is
/// a clean one-line usage error naming the option (exit 64) or a value the table says is
/// valid; nothing traps. The options come from the command's own `--experimental-dump-help`,
/// so a new option missing from the table fails the test.
final class NumericOptionTests: XCTestCase {
    /// Per option: the probes it accepts (`nil`: not a numeric option).
    static let table: [String: Set<String>?] = [
        "size-mib": [],
        "rate-mib-per-second": ["0"],
        "rate-pages-per-second": ["0"],
        "threads": [],
        "hot-fraction": [],
        "hot-probability": ["0"],
        "seed": ["0", "9223372036854775807"],
        "bytes-per-page-write": [],
        "report-interval-milliseconds": [],
        "duration-seconds": ["0"],
        "port": ["0"],
        "max-connections": [],
        "auth-timeout-seconds": [],
        "pattern": nil, "huge-pages": nil, "bind": nil, "token-file": nil, "token": nil,
    ]

    /// What each subcommand needs besides the probed option.
    static let required: [String: [String: String]] = [
        "run": ["size-mib": "16"],
        "serve": ["size-mib": "16", "port": "0"],
    ]

    /// Flags each subcommand needs (serve refuses to start without a token or --no-auth).
    static let requiredFlags: [String: [String]] = ["serve": ["--no-auth"]]

    func testEveryNumericOptionIsBoundedWithoutATrap() throws {
        let options = try optionsTakingValues(ofProduct: "memeater")
        XCTAssertFalse(options.isEmpty)
        for (path, name) in options {
            let subcommand = path.joined(separator: " ")
            guard let entry = Self.table[name] else {
                XCTFail("memeater \(subcommand) --\(name) is not in the table: say which probes it accepts (or nil if not numeric)")
                continue
            }
            guard let accepted = entry else { continue }
            // `serve` shares run's region options (the same struct, the same validate()): probed once, under run.
            if subcommand == "serve", options.contains(where: { $0.path == ["run"] && $0.name == name }) { continue }
            var base = path
            for (other, value) in Self.required[subcommand] ?? [:] where other != name { base += ["--\(other)", value] }
            base += Self.requiredFlags[subcommand] ?? []
            for probe in numericOptionProbes {
                assertProbe(Memeater.self, base + ["--\(name)=\(probe)"], optionName: name, accepted: accepted.contains(probe))
            }
        }
    }
}
