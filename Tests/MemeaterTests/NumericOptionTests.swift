import ArgumentParser
import Foundation
@testable import Memeater
import XCTest

/// Every numeric option of `memeater`, fed -1, 0, NaN, 1e30 and the largest integer: each is
/// a clean one-line usage error naming the option (exit 64) or a value the table says is
/// valid; nothing traps. The options come from the command's own `--experimental-dump-help`,
/// so a new option missing from the table fails the test.
final class NumericOptionTests: XCTestCase {
    static let probes = ["-1", "0", "nan", "1e30", "9223372036854775807"]

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
        let options = try dumpedOptions()
        XCTAssertFalse(options.isEmpty)
        for (subcommand, name) in options {
            guard let entry = Self.table[name] else {
                XCTFail("memeater \(subcommand) --\(name) is not in the table: say which probes it accepts (or nil if not numeric)")
                continue
            }
            guard let accepted = entry else { continue }
            // `serve` shares run's region options (the same struct, the same validate()): probed once, under run.
            if subcommand == "serve", options.contains(where: { $0 == ("run", name) }) { continue }
            var base = [subcommand]
            for (other, value) in Self.required[subcommand] ?? [:] where other != name { base += ["--\(other)", value] }
            base += Self.requiredFlags[subcommand] ?? []
            for probe in Self.probes {
                let arguments = base + ["--\(name)=\(probe)"]
                do {
                    _ = try Memeater.parseAsRoot(arguments)
                    XCTAssertTrue(accepted.contains(probe), "\(arguments) was accepted")
                } catch {
                    XCTAssertFalse(accepted.contains(probe), "\(arguments): \(Memeater.message(for: error))")
                    let message = Memeater.message(for: error)
                    XCTAssertEqual(Memeater.exitCode(for: error).rawValue, 64, "\(arguments): \(message)")
                    XCTAssertFalse(message.contains("\n"), "\(arguments): one line: \(message)")
                    XCTAssertTrue(message.contains("--\(name)"), "\(arguments): names the option: \(message)")
                }
            }
        }
    }

    /// (subcommand, long name) of every option that takes a value, from the built binary's
    /// `--experimental-dump-help`.
    private func dumpedOptions() throws -> [(String, String)] {
        let testExecutable = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "")
        let process = Process()
        process.executableURL = testExecutable.deletingLastPathComponent().appendingPathComponent("memeater")
        process.arguments = ["--experimental-dump-help"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let root = try XCTUnwrap((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["command"] as? [String: Any])
        var found: [(String, String)] = []
        for subcommand in root["subcommands"] as? [[String: Any]] ?? [] {
            let name = subcommand["commandName"] as? String ?? ""
            for argument in subcommand["arguments"] as? [[String: Any]] ?? [] where argument["kind"] as? String == "option" {
                let names = argument["names"] as? [[String: Any]] ?? []
                if let long = names.first(where: { $0["kind"] as? String == "long" })?["name"] as? String { found.append((name, long)) }
            }
        }
        return found
    }
}
