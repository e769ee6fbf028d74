import Foundation
import GRDB
import Libvirt
import Synchronization
import XCTest
@testable import MigVerifyCLI
@testable import Verifier

/// Resume: only a completed run is a result; setup failures and interrupted runs are run
/// again, `--retry-failed` reruns failed ones, the newest completed run is the one reused.
final class ResumeTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("verifier-resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    var path: String { directory.appendingPathComponent("results.sqlite").path }

    func store(_ result: ScenarioResult, in store: ResultsStore) throws -> Int64 {
        let id = try store.beginRun(result.parameters)
        try store.finishRun(id, result: result)
        return id
    }

    /// The result options of `migverify run --database PATH` plus `arguments`.
    func runResultOptions(_ arguments: [String] = []) throws -> OutputOptions {
        try RunCommand.parse(["--database", path] + arguments).outputs
    }

    func testASetupFailureIsStoredButNeverReused() throws {
        let results = try ResultsStore(path: path)
        var failed = Fixtures.result(checks: [Check(name: CheckName.setup, passed: false, evidence: "no static memeater")])
        failed.status = .setupFailed
        let id = try store(failed, in: results)
        XCTAssertEqual(try results.runs().first { $0.id == id }?.status, .setupFailed)
        XCTAssertNil(try results.completedRun(matching: failed.parameters))
        XCTAssertNil(try runResultOptions().reusable(failed.parameters, store: results), "a setup error is never a result")
    }

    func testASetupFailureStoredAsCompletedByAnOlderVersionIsNotReusedEither() throws {
        let results = try ResultsStore(path: path)
        let old = Fixtures.result(checks: [Check(name: CheckName.setup, passed: false, evidence: "no static memeater")])
        XCTAssertEqual(old.status, .completed, "what the old runner wrote")
        _ = try store(old, in: results)
        XCTAssertNotNil(try results.completedRun(matching: old.parameters))
        XCTAssertNil(try runResultOptions().reusable(old.parameters, store: results))
    }

    func testAnInterruptedRunIsNeverReused() throws {
        let results = try ResultsStore(path: path)
        var interrupted = Fixtures.result(checks: [Check(name: CheckName.interrupted, passed: false, evidence: "SIGINT")])
        interrupted.status = .interrupted
        _ = try store(interrupted, in: results)
        XCTAssertEqual(try results.runs().map(\.status), [.interrupted])
        XCTAssertNil(try runResultOptions().reusable(interrupted.parameters, store: results))
    }

    func testRunsAreListedInTheOrderTheyStarted() throws {
        let results = try ResultsStore(path: path)
        let first = try store(Fixtures.result(checks: [Check(name: "a", passed: true, evidence: "")]), in: results)
        let second = try results.beginRun(Fixtures.parameters())
        let third = try store(Fixtures.result(.prepareFail, checks: [Check(name: "b", passed: false, evidence: "")]), in: results)
        XCTAssertEqual(try results.runs().map(\.id), [first, second, third])
        XCTAssertEqual(try results.runs().map(\.status), [.completed, .running, .completed])
    }

    func testTheNewestCompletedRunIsReusedAndTheLineSaysWhichAndWhy() throws {
        let results = try ResultsStore(path: path)
        let passed = Fixtures.result(checks: [Check(name: "memory-integrity", passed: true, evidence: "0 bad")])
        let failed = Fixtures.result(checks: [Check(name: "memory-integrity", passed: false, evidence: "3 bad")])
        _ = try store(failed, in: results)
        let newest = try store(passed, in: results)
        let reused = try XCTUnwrap(try runResultOptions().reusable(passed.parameters, store: results))
        XCTAssertEqual(reused.result.reusedFromRunID, newest)
        XCTAssertTrue(reused.line.hasPrefix("reusing run #\(newest) "), reused.line)
        XCTAssertTrue(reused.line.contains("it passed"), reused.line)
        XCTAssertNil(try runResultOptions(["--fresh"]).reusable(passed.parameters, store: results))
    }

    func testRetryFailedRerunsAFailedRunAndReusesAPassedOne() throws {
        let results = try ResultsStore(path: path)
        let failed = Fixtures.result(.prepareFail, checks: [Check(name: CheckName.faultActed, passed: false, evidence: "0 packets")])
        _ = try store(failed, in: results)
        let plain = try XCTUnwrap(try runResultOptions().reusable(failed.parameters, store: results), "without the flag a failed run is a result")
        XCTAssertTrue(plain.line.contains("it failed fault-acted") && plain.line.contains("--retry-failed"), plain.line)
        XCTAssertNil(try runResultOptions(["--retry-failed"]).reusable(failed.parameters, store: results))
        let passed = Fixtures.result(checks: [Check(name: "memory-integrity", passed: true, evidence: "0 bad")])
        _ = try store(passed, in: results)
        XCTAssertNotNil(try runResultOptions(["--retry-failed"]).reusable(passed.parameters, store: results))
    }
}

final class RecorderTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("verifier-recorder-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    func testEveryRecordIsStoredBeforeTheResultAndOnTheRunClock() throws {
        let store = try ResultsStore(path: directory.appendingPathComponent("r.sqlite").path)
        let recorder = StoreRecorder(store: store)
        let clock = RunClock()
        recorder.begin(Fixtures.parameters(), clock: clock)
        for index in 0..<200 {
            recorder.record(.jobSample(JobSample(offsetMilliseconds: Double(index), jobType: "unbounded"), migrationStartMilliseconds: 0))
        }
        recorder.record(.memeater(MemeaterReading(offsetMilliseconds: 5, memeaterElapsedSeconds: 1, pagesDirtied: 10, achievedPagesPerSecond: 3)))
        recorder.record(.step("not stored"))
        let result = recorder.finish(Fixtures.result(checks: [Check(name: "memory-integrity", passed: true, evidence: "0 bad")]))
        let runID = try XCTUnwrap(result.runID)
        XCTAssertEqual(try store.jobSamples(runID: runID).count, 200)
        XCTAssertEqual(try store.memeaterReadings(runID: runID).first?.pagesDirtied, 10)
        XCTAssertTrue(result.passed)
        XCTAssertNil(result.checks.first { $0.name == CheckName.resultsStored })
        let stored = try XCTUnwrap(store.runs().first)
        XCTAssertEqual(stored.startedAt.timeIntervalSince1970, clock.startedAt.timeIntervalSince1970, accuracy: 0.001,
                       "the run's wall-clock start is the clock's")
    }

    func testAFailedStoreWriteFailsTheVerdictInsteadOfScrollingBy() throws {
        let store = try ResultsStore(path: directory.appendingPathComponent("r.sqlite").path)
        let recorder = StoreRecorder(store: store)
        recorder.begin(Fixtures.parameters(), clock: RunClock())
        try store.database.write { try $0.execute(sql: "DROP TABLE pingSample") }
        recorder.record(.pingSample(PingSample(offsetMilliseconds: 1, probesSent: 1, repliesReceived: 1, lost: 0,
                                               currentGapMilliseconds: 0, longestGapMilliseconds: 0)))
        let result = recorder.finish(Fixtures.result(checks: [Check(name: "memory-integrity", passed: true, evidence: "0 bad")]))
        XCTAssertFalse(result.passed)
        let stored = try XCTUnwrap(result.checks.first { $0.name == CheckName.resultsStored })
        XCTAssertFalse(stored.passed)
        XCTAssertTrue(stored.evidence.contains("insert ping sample"), stored.evidence)
    }

    /// Finding 7i of issue 24: every lost write is counted (it used to stop at 5), and only
    /// the first reasons are shown.
    func testEveryFailedStoreWriteIsCountedAndTheEvidenceStaysShort() throws {
        let store = try ResultsStore(path: directory.appendingPathComponent("r.sqlite").path)
        let recorder = StoreRecorder(store: store)
        recorder.begin(Fixtures.parameters(), clock: RunClock())
        try store.database.write { try $0.execute(sql: "DROP TABLE pingSample") }
        for index in 0..<20 {
            recorder.record(.pingSample(PingSample(offsetMilliseconds: Double(index), probesSent: index, repliesReceived: index, lost: 0,
                                                   currentGapMilliseconds: 0, longestGapMilliseconds: 0)))
        }
        let result = recorder.finish(Fixtures.result(checks: [Check(name: "memory-integrity", passed: true, evidence: "0 bad")]))
        let stored = try XCTUnwrap(result.checks.first { $0.name == CheckName.resultsStored })
        XCTAssertTrue(stored.evidence.hasPrefix("20 write(s) to \(store.path) failed: "), stored.evidence)
        XCTAssertEqual(stored.evidence.components(separatedBy: "insert ping sample").count - 1, 2, "two reasons shown: \(stored.evidence)")
        XCTAssertTrue(stored.evidence.hasSuffix("; …"), stored.evidence)
    }

    func testTheClockStampsMillisecondsSinceItsStart() {
        let clock = RunClock(originNanoseconds: 1_000_000_000, startedAt: Date(timeIntervalSince1970: 0))
        XCTAssertEqual(clock.milliseconds(at: 1_250_000_000), 250)
        XCTAssertEqual(clock.milliseconds(at: 999_000_000), -1, "a moment before the start is negative, not a wrapped number")
    }
}

final class InterruptionTests: XCTestCase {
    func testAnInterruptionAbortsTheRunningJob() {
        let fake = FakeMigration(completeAfterReads: nil, progressing: true)
        let interruption = Interruption()
        var driver = MigrationDriver(timeoutSeconds: 60, stallTimeoutSeconds: 60, sampleIntervalMilliseconds: 10)
        driver.interruption = { interruption.signal.map { "interrupted by \(signalName($0))" } }
        // The signal arrives once the job is transferring (its third stats read), not after a guessed delay.
        let outcome = driver.run(fake, clock: RunClock()) { sample in
            if (sample.dataProcessedBytes ?? 0) >= 3_000 { interruption.request(SIGINT) }
        }
        guard case .aborted(let reason, let callError, _) = outcome.ending else {
            return XCTFail("expected an abort, got \(outcome.ending.summary)")
        }
        XCTAssertEqual(reason, "interrupted by SIGINT")
        XCTAssertTrue(callError?.contains("canceled by client") ?? false)
        XCTAssertTrue(fake.aborted)
        XCTAssertEqual(Interruption.exitStatus(for: SIGINT), 130)
        XCTAssertEqual(Interruption.exitStatus(for: SIGTERM), 143)
    }

    func testCheckThrowsOnlyAfterASignal() {
        let interruption = Interruption()
        XCTAssertNoThrow(try interruption.check(while: "x"))
        interruption.request(SIGTERM)
        interruption.request(SIGINT)
        XCTAssertThrowsError(try interruption.check(while: "migrating")) { error in
            XCTAssertEqual(error as? VerifierError, .interrupted(signal: SIGTERM, step: "migrating"), "the first signal counts")
        }
    }
}
