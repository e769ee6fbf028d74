import ArgumentParser
import Foundation
import PingMonitor

#if canImport(Glibc)
import Glibc
#endif

/// Printing the results, and the exit statuses.
enum Output {
    /// A check requested with --require-zero-loss or --max-downtime-ms failed.
    static let checkFailed = ExitCode(1)
    /// The run or the analysis could not be done.
    static let runtimeFailure = ExitCode(2)

    /// Runs `body`; a `PingMonitorError` becomes one line on standard error and exit status 2.
    static func exitOnFailure<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as PingMonitorError {
            standardError("pingmon: error: \(error.description)\n")
            throw runtimeFailure
        }
    }

    /// Prints the summary (and the JSON line), then ends with the verdict's exit status.
    static func emit(_ report: PingReport, json: Bool) throws {
        if json {
            standardError(report.humanSummary + "\n")
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let data = try encoder.encode(report)
            standardOutput(String(decoding: data, as: UTF8.self) + "\n")
        } else {
            standardOutput(report.humanSummary + "\n")
        }
        if !report.verdict.passed { throw checkFailed }
    }

    static func standardOutput(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func standardError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// The live status line on standard error: rewritten in place on a terminal (5 times a
/// second), one line every 5 seconds otherwise.
final class StatusLine {
    private let timer: any DispatchSourceTimer
    private let isTerminal: Bool

    init(session: PingSession) {
        isTerminal = isatty(STDERR_FILENO) == 1
        timer = DispatchSource.makeTimerSource(queue: .global())
        let terminal = isTerminal
        let period: DispatchTimeInterval = terminal ? .milliseconds(200) : .seconds(5)
        timer.schedule(deadline: .now() + period, repeating: period)
        timer.setEventHandler {
            let line = session.status().line
            Output.standardError(terminal ? "\r\u{1B}[K" + line : line + "\n")
        }
        timer.resume()
    }

    /// Stops updating and leaves the terminal on a fresh line.
    func finish() {
        timer.cancel()
        if isTerminal { Output.standardError("\r\u{1B}[K") }
    }
}
