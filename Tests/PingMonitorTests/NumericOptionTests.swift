import ArgumentParser
import Foundation
@testable import PingMonitorCLI
import XCTest

/// Every numeric option of `pingmon` and `pingmon analyze`, fed -1, 0, NaN, 1e30 and the
/// largest integer, parsed in this process (nothing is sent): each is a clean one-line
/// usage error naming the option (exit 64) or a value the table says is valid; nothing
/// traps. The options come from the binary's `--experimental-dump-help`, so a new option
/// missing from the table fails the test.
final class NumericOptionTests: XCTestCase {
    static let probes = ["-1", "0", "nan", "1e30", "9223372036854775807"]

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
        let options = try dumpedOptions()
        XCTAssertGreaterThan(options.count, 10)
        for (subcommand, name) in options {
            guard let entry = Self.table[name] else {
                XCTFail("pingmon \(subcommand) --\(name) is not in the table: say which probes it accepts (or nil if not numeric)")
                continue
            }
            guard let accepted = entry else { continue }
            for probe in Self.probes {
                let arguments = (Self.required[subcommand] ?? []) + ["--\(name)=\(probe)"]
                do {
                    _ = try PingMon.parseAsRoot(arguments)
                    XCTAssertTrue(accepted.contains(probe), "\(arguments) was accepted")
                } catch {
                    let message = PingMon.message(for: error)
                    XCTAssertFalse(accepted.contains(probe), "\(arguments): \(message)")
                    XCTAssertEqual(PingMon.exitCode(for: error).rawValue, 64, "\(arguments): \(message)")
                    XCTAssertFalse(message.contains("\n"), "\(arguments): one line: \(message)")
                    XCTAssertTrue(message.contains("--\(name)"), "\(arguments): names the option: \(message)")
                }
            }
        }
    }

    /// (subcommand, long name) of every option that takes a value, from the built binary's
    /// `--experimental-dump-help`; "" is the root command.
    private func dumpedOptions() throws -> [(String, String)] {
        let testExecutable = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "")
        let process = Process()
        process.executableURL = testExecutable.deletingLastPathComponent().appendingPathComponent("pingmon")
        process.arguments = ["--experimental-dump-help"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let root = try XCTUnwrap((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["command"] as? [String: Any])
        var found: [(String, String)] = []
        func collect(_ command: [String: Any], name: String) {
            for argument in command["arguments"] as? [[String: Any]] ?? [] where argument["kind"] as? String == "option" {
                let names = argument["names"] as? [[String: Any]] ?? []
                if let long = names.first(where: { $0["kind"] as? String == "long" })?["name"] as? String { found.append((name, long)) }
            }
        }
        collect(root, name: "")
        for subcommand in root["subcommands"] as? [[String: Any]] ?? [] where subcommand["commandName"] as? String != "help" {
            collect(subcommand, name: subcommand["commandName"] as? String ?? "")
        }
        return found
    }
}
