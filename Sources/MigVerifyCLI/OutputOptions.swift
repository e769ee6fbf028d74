import ArgumentParser
import Foundation
import Lab
import Verifier

/// Where `run` and `sweep` put their results: the results database and the sweep id in it,
/// which earlier runs are reused, the JSON and JUnit files and the ping captures.
struct OutputOptions: ParsableArguments {
    @Option(help: "The id of this run's results (a sweep id: `migverify report ID` reads it; default: run-DATE-TIME). Giving an existing id resumes it.")
    var id: String?

    @Option(help: "Write the results as JSON (one object per scenario run) to this file.")
    var json: String?

    @Option(help: "Write the results as JUnit XML (one testcase per check) to this file.")
    var junit: String?

    @Option(name: .customLong("save-captures"), help: "Keep every run's ping capture in this directory (one pcapng file per run, nanosecond timestamps, named by start time and parameters; `pingmon analyze FILE --target ADDR` reads it again), and beside it each migration call's capture of the destination's migration ports (pcap from tcpdump, 256 bytes of each packet: NAME-migration-ports.pcap).")
    var saveCaptures: String?

    @Option(help: "The results database (SQLite); a re-run with the same database skips runs already completed with the same parameters.")
    var database = "migverify-results.sqlite"

    @Flag(help: "Run every scenario again even when the database has a completed run with the same parameters.")
    var fresh = false

    @Flag(help: "Run again the scenarios whose latest completed run in the database failed a check; reuse those that passed.")
    var retryFailed = false

    /// Refuses a capture directory that is a file, two outputs naming one file and an id
    /// that could not name a file, before anything runs.
    func validate() throws {
        if let saveCaptures {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: saveCaptures, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw ValidationError("--save-captures: \(saveCaptures) is a file, not a directory")
            }
        }
        try Self.refuseSharedOutputs([("--json", json), ("--junit", junit), ("--database", database)])
        if let id, !SweepIdentifier.isValid(id) {
            throw ValidationError("--id must be 1-64 letters, digits, '.', '_' or '-', not '\(id)'")
        }
    }

    /// Refuses two output options naming one file (the same path spelled differently, a
    /// symbolic link or a hard link to it): each write would destroy the other.
    static func refuseSharedOutputs(_ outputs: [(option: String, path: String?)]) throws {
        var seen: [(option: String, identity: String)] = []
        for case let (option, path?) in outputs {
            let identity = fileIdentity(path)
            if let earlier = seen.first(where: { $0.identity == identity }) {
                throw ValidationError("\(earlier.option) and \(option) name the same file (\(path)): give each its own")
            }
            seen.append((option, identity))
        }
    }

    /// What `path` refers to: device and inode when it exists, else its resolved directory
    /// and its name.
    static func fileIdentity(_ path: String) -> String {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        var info = stat()
        // The standardized path too: `a/missing/../f` names f, though the kernel cannot walk it.
        for candidate in [path, url.path] where stat(candidate, &info) == 0 { return "inode \(info.st_dev):\(info.st_ino)" }
        let directory = url.deletingLastPathComponent().path
        guard let resolved = realpath(directory, nil) else { return "path \(url.path)" }
        defer { free(resolved) }
        return "path \(String(cString: resolved))/\(url.lastPathComponent)"
    }

    /// The stored result that stands for `parameters`, with the line that says which run is
    /// reused and why; `nil` when the run must be made (`--fresh`, no completed run, or
    /// `--retry-failed` and it failed). Setup failures and interrupted runs are never results.
    /// A database that cannot be read is an error, not "nothing to reuse".
    func reusable(_ parameters: ScenarioParameters, store: ResultsStore) throws(VerifierError) -> (result: ScenarioResult, line: String)? {
        guard !fresh, let done = try store.completedRun(matching: parameters), var previous = done.result,
              previous.isReusable else { return nil }
        if retryFailed, !previous.passed { return nil }
        previous.reusedFromRunID = done.id
        let verdict = previous.passed ? "it passed" : "it failed \(previous.failedChecks.map(\.name).joined(separator: ", "))"
        let rerun = previous.passed ? "--fresh runs it again" : "--retry-failed or --fresh runs it again"
        return (previous, "reusing run #\(done.id) for \(parameters.label): completed at \(iso8601Text(done.finishedAt ?? done.startedAt)) with the same parameters and \(verdict) (\(rerun))")
    }

    /// Writes `results` to `--json` and `--junit`, each whole or not at all; a failure is a
    /// setup error of `command` (exit 2).
    func writeFiles(_ results: [ScenarioResult], command: SweepKind) throws {
        do {
            // Temporary file and rename: a full disk leaves the previous results whole.
            if let json { try AtomicFile.write(try ReportWriter.json(results), to: json) }
            if let junit { try AtomicFile.write(ReportWriter.junit(results), to: junit) }
        } catch {
            FileHandle.standardError.write(Data("migverify \(command.rawValue): error: cannot write results: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
