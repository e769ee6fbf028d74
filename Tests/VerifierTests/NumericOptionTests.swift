import ArgumentParser
import Foundation
@testable import MigVerifyCLI
import XCTest

/// Every numeric option of every `migverify` command, fed -1, 0, NaN, 1e30 and the largest
/// integer, parsed and validated in this process (no lab, no host is reached): each is a
/// clean one-line usage error naming the option (exit 64) or a value the table says is
/// valid; nothing traps. The options come from the binary's `--experimental-dump-help`, so
/// a new option missing from the table fails the test.
final class NumericOptionTests: XCTestCase {
    static let probes = ["-1", "0", "nan", "1e30", "9223372036854775807"]

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
        "accel": nil, "cache-directory": nil, "emulator": nil, "fault-journal": nil, "guest": nil, "lab-name-prefix": nil,
        "memeater": nil, "pattern": nil, "state-directory": nil, "compare": nil, "output": nil, "capture-interface": nil,
        "compression": nil, "database": nil, "dest-ssh": nil, "dest-uri": nil, "domain": nil, "guest-address": nil, "id": nil,
        "json": nil, "junit": nil, "save-captures": nil, "memeater-token-file": nil, "matrix": nil, "migration-mode": nil, "scenario": nil, "source-ssh": nil, "source-uri": nil,
        "strategy": nil,
    ]

    /// What each command needs besides the probed option.
    static let required: [String: [String]] = [
        "sweep": ["--id", "s1"],
        "report": ["s1", "--output", "/nonexistent/migverify-report"],
    ]

    func testEveryNumericOptionIsBoundedWithoutATrap() throws {
        let options = try dumpedOptions()
        XCTAssertGreaterThan(options.count, 20)
        for (command, name) in options {
            guard let entry = Self.table[name] else {
                XCTFail("migverify \(command.joined(separator: " ")) --\(name) is not in the table: say which probes it accepts (or nil if not numeric)")
                continue
            }
            guard let accepted = entry else { continue }
            // `sweep` takes run's options (the same struct, the same validate()): probed once, under run.
            if command == ["sweep"], options.contains(where: { $0.0 == ["run"] && $0.1 == name }) { continue }
            for probe in Self.probes {
                let arguments = command + (Self.required[command.joined(separator: " ")] ?? []) + ["--\(name)=\(probe)"]
                do {
                    _ = try Migverify.parseAsRoot(arguments)
                    XCTAssertTrue(accepted.contains(probe), "\(arguments) was accepted")
                } catch {
                    let message = Migverify.message(for: error)
                    XCTAssertFalse(accepted.contains(probe), "\(arguments): \(message)")
                    XCTAssertEqual(Migverify.exitCode(for: error).rawValue, 64, "\(arguments): \(message)")
                    XCTAssertFalse(message.contains("\n"), "\(arguments): one line: \(message)")
                    XCTAssertTrue(message.contains("--\(name)"), "\(arguments): names the option: \(message)")
                }
            }
        }
    }

    /// (command path, long name) of every option that takes a value, from the built binary's
    /// `--experimental-dump-help`.
    private func dumpedOptions() throws -> [([String], String)] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: MigVerifyCLITests.binary)
        process.arguments = ["--experimental-dump-help"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let root = try XCTUnwrap((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["command"] as? [String: Any])
        var found: [([String], String)] = []
        func collect(_ command: [String: Any], path: [String]) {
            for argument in command["arguments"] as? [[String: Any]] ?? [] where argument["kind"] as? String == "option" {
                let names = argument["names"] as? [[String: Any]] ?? []
                if let long = names.first(where: { $0["kind"] as? String == "long" })?["name"] as? String { found.append((path, long)) }
            }
            for subcommand in command["subcommands"] as? [[String: Any]] ?? [] {
                guard let name = subcommand["commandName"] as? String, name != "help" else { continue }
                collect(subcommand, path: path + [name])
            }
        }
        collect(root, path: [])
        return found
    }
}
