import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// What a finished child process left.
struct ProcessResult {
    var status: Int32
    var standardOutput: String
    var standardError: String

    /// The last non-empty line of standard output.
    var lastLine: String { standardOutput.split(separator: "\n").last.map(String.init) ?? "" }

    /// The last line of standard output parsed as a JSON object.
    func json() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(lastLine.utf8))
        return try XCTUnwrap(object as? [String: Any], "last line is not a JSON object: \(lastLine)")
    }
}

/// A child process whose output goes to temporary files (no pipe can fill up and stall it).
final class ChildProcess {
    private let process = Process()
    private let outputURL: URL
    private let errorURL: URL

    init(_ executable: String, _ arguments: [String]) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("pingmon-child-\(getpid())-\(UUID().uuidString)")
        outputURL = base.appendingPathExtension("out")
        errorURL = base.appendingPathExtension("err")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: outputURL)
        process.standardError = try FileHandle(forWritingTo: errorURL)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var processIdentifier: Int32 { process.processIdentifier }

    /// Sends `signal` to the child (here: `ip netns exec`, which execs the program, so the same process).
    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Waits for the child, at most `timeoutSeconds` (then kills it), and returns what it left.
    func wait(timeoutSeconds: Double = 120) -> ProcessResult {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        process.waitUntilExit()
        let output = (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
        let error = (try? String(contentsOf: errorURL, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: outputURL)
        try? FileManager.default.removeItem(at: errorURL)
        return ProcessResult(status: process.terminationStatus, standardOutput: output, standardError: error)
    }
}

enum Processes {
    /// Runs a program to the end.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], timeoutSeconds: Double = 120) throws -> ProcessResult {
        try ChildProcess(executable, arguments).wait(timeoutSeconds: timeoutSeconds)
    }

    /// Looks a program up on PATH (and the sbin directories, where ip and nft live).
    static func which(_ name: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The `pingmon` built beside this test bundle (`swift build --build-tests` builds both).
    static func pingmon() throws -> String {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        // On Linux the bundle is an executable in the build directory; elsewhere inside a .xctest.
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("pingmon").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw TestSetupError("pingmon is not built next to the tests (\(executable.path)); build with `swift build --build-tests`")
    }

    /// Seconds since the epoch as nanoseconds (CLOCK_REALTIME, the clock of capture timestamps).
    static func realtimeNanoseconds() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}

/// A test could not set up what it needs; the message says what.
struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Numbers out of JSONSerialization's output, whatever numeric type it chose.
extension Dictionary where Key == String, Value == Any {
    func int(_ key: String) -> Int? { (self[key] as? NSNumber)?.intValue }
    func int64(_ key: String) -> Int64? { (self[key] as? NSNumber)?.int64Value }
    func double(_ key: String) -> Double? { (self[key] as? NSNumber)?.doubleValue }
}
