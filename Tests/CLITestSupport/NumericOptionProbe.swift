import ArgumentParser
import Foundation
import XCTest

/// The values every numeric option of every CLI is fed: each must be a clean one-line usage
/// error naming the option (exit 64) or a value the option's table says is valid; none traps.
public let numericOptionProbes = ["-1", "0", "nan", "1e30", "9223372036854775807"]

/// A product built beside the running test bundle (the bundle sits with the products it was built with).
public func builtProduct(_ name: String) -> URL {
    let testExecutable = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "")
    return testExecutable.deletingLastPathComponent().appendingPathComponent(name)
}

/// (command path, long name) of every option that takes a value, from the built `product`'s
/// `--experimental-dump-help`: the root command has the path `[]`, `help` is left out. Read
/// from the binary, so that an option added later cannot be forgotten by a test's table.
public func optionsTakingValues(ofProduct product: String) throws -> [(path: [String], name: String)] {
    let process = Process()
    process.executableURL = builtProduct(product)
    process.arguments = ["--experimental-dump-help"]
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let root = try XCTUnwrap((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["command"] as? [String: Any])
    var found: [(path: [String], name: String)] = []
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

/// Parses `arguments` with `command` (validate() included) and asserts the outcome: accepted
/// when `accepted`, otherwise one line naming `--optionName`, exit 64. A trap ends the test run.
public func assertProbe<Command: ParsableCommand>(_ command: Command.Type, _ arguments: [String], optionName: String,
                                                  accepted: Bool, file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try command.parseAsRoot(arguments)
        XCTAssertTrue(accepted, "\(arguments) was accepted", file: file, line: line)
    } catch {
        let message = command.message(for: error)
        XCTAssertFalse(accepted, "\(arguments): \(message)", file: file, line: line)
        XCTAssertEqual(command.exitCode(for: error).rawValue, 64, "\(arguments): \(message)", file: file, line: line)
        XCTAssertFalse(message.contains("\n"), "\(arguments): one line: \(message)", file: file, line: line)
        XCTAssertTrue(message.contains("--\(optionName)"), "\(arguments): names the option: \(message)", file: file, line: line)
    }
}
