import Foundation
import XCTest
@testable import Verifier

extension Fixtures {
    /// A landed live migration whose data fails `ping-continuity` with today's checks (a gap
    /// of 5 s against the 2 s limit) and passes everything else.
    static func observationWithALongPingGap() throws -> Observation {
        var observation = try observation(.migrates)
        observation.ping.longestGapMilliseconds = 5_000
        return observation
    }

    /// The checks a run stored when its checks said every expectation held.
    static func allPassing() throws -> [Check] {
        Checks.evaluate(try observation(.migrates))
    }
}

/// The comparison of stored checks with today's, one thing changed per case.
final class RejudgementTests: XCTestCase {
    func testAChangedVerdictIsListedWithTheOldAndNewVerdictAndTodaysEvidence() throws {
        let stored = try Fixtures.allPassing()
        XCTAssertTrue(stored.allSatisfy(\.passed))
        let rejudgement = Rejudgement(stored: stored, rejudged: [(.forward, Checks.evaluate(try Fixtures.observationWithALongPingGap()))])
        XCTAssertEqual(rejudgement.changes.map(\.name), [CheckName.pingContinuity])
        let change = try XCTUnwrap(rejudgement.changes.first)
        XCTAssertEqual(change.storedPassed, true)
        XCTAssertEqual(change.rejudgedPassed, false)
        XCTAssertTrue(change.line.hasPrefix("ping-continuity: PASS → FAIL: "), change.line)
        XCTAssertTrue(change.line.contains("longest gap 5000 ms (limit 2000 ms)"), change.line)
        XCTAssertTrue(rejudgement.storedPassed)
        XCTAssertFalse(rejudgement.rejudgedPassed)
        XCTAssertEqual(rejudgement.checks.count, stored.count)
    }

    func testTheSameObservationJudgedTheSameIsNoChange() throws {
        let rejudgement = Rejudgement(stored: try Fixtures.allPassing(), rejudged: [(.forward, try Fixtures.allPassing())])
        XCTAssertEqual(rejudgement.changes, [])
        XCTAssertTrue(rejudgement.storedPassed && rejudgement.rejudgedPassed)
    }

    func testTheRunnersOwnChecksAndALegWithoutObservationAreKeptAsStored() throws {
        let runnerChecks = [
            Check.notMeasured("back-" + CheckName.migrationOutcome, because: "the forward migration did not complete"),
            Check(name: CheckName.resultsStored, passed: false, evidence: "1 write(s) failed"),
            Check(name: CheckName.interrupted, passed: false, evidence: "interrupted by SIGINT after the checks"),
        ]
        let rejudgement = Rejudgement(stored: try Fixtures.allPassing() + runnerChecks, rejudged: [(.forward, try Fixtures.allPassing())])
        XCTAssertEqual(rejudgement.changes, [], "neither is an observation's check: none was dropped")
        XCTAssertFalse(rejudgement.rejudgedPassed, "and they still fail the run")
        XCTAssertEqual(rejudgement.checks.suffix(3), runnerChecks[...])
    }

    func testTheBackLegIsComparedUnderItsPrefix() throws {
        let back = try Fixtures.allPassing().map { Check(name: "back-" + $0.name, passed: $0.passed, evidence: $0.evidence) }
        let rejudgement = Rejudgement(stored: try Fixtures.allPassing() + back, rejudged: [
            (.forward, try Fixtures.allPassing()), (.back, Checks.evaluate(try Fixtures.observationWithALongPingGap())),
        ])
        XCTAssertEqual(rejudgement.changes.map(\.name), ["back-" + CheckName.pingContinuity])
        XCTAssertEqual(rejudgement.checks.map(\.name), try Fixtures.allPassing().map(\.name) + back.map(\.name))
    }

    func testACheckTodaysChecksAddOrNoLongerMakeIsAChange() throws {
        var stored = try Fixtures.allPassing()
        let console = try XCTUnwrap(stored.firstIndex { $0.name == CheckName.guestConsole })
        stored.remove(at: console)
        stored.append(Check(name: "retired-check", passed: true, evidence: "looked"))
        let rejudgement = Rejudgement(stored: stored, rejudged: [(.forward, try Fixtures.allPassing())])
        XCTAssertEqual(rejudgement.changes.map(\.line), [
            "guest-console: — → PASS: no panic, Oops or BUG in 42 new console lines",
            "retired-check: PASS → —",
        ])
        XCTAssertTrue(rejudgement.rejudgedPassed)
    }

    func testACheckWhoseDataAnOldObservationLacksIsNotJudgedNorAChange() throws {
        let old = try NoDualRunningTests.observationStoredBeforeTheSampler()
        let storedThen = Checks.evaluate(old).filter { $0.name != CheckName.noDualRunning }
        let back = storedThen.map { Check(name: "back-" + $0.name, passed: $0.passed, evidence: $0.evidence) }
        let rejudgement = Rejudgement(stored: storedThen + back, rejudged: [(.forward, Checks.evaluate(old)), (.back, Checks.evaluate(old))],
                                      unrecorded: [.forward: Checks.unrecorded(old), .back: Checks.unrecorded(old)])
        XCTAssertEqual(rejudgement.changes, [])
        XCTAssertEqual(rejudgement.notJudged, [CheckName.noDualRunning, "back-" + CheckName.noDualRunning])
        XCTAssertTrue(rejudgement.storedPassed && rejudgement.rejudgedPassed, "a check that could not look does not fail an old run")
        XCTAssertEqual(rejudgement.checks.map(\.name), storedThen.map(\.name) + back.map(\.name))
    }

    func testACheckTheRunStoredIsJudgedEvenWhenItsDataIsMissing() throws {
        let old = try NoDualRunningTests.observationStoredBeforeTheSampler()
        let stored = try Fixtures.allPassing()
        let rejudgement = Rejudgement(stored: stored, rejudged: [(.forward, Checks.evaluate(old))], unrecorded: [.forward: Checks.unrecorded(old)])
        XCTAssertEqual(rejudgement.changes.map(\.line), ["no-dual-running: PASS → FAIL: not measured: not sampled (stored before the check existed)"])
        XCTAssertEqual(rejudgement.notJudged, [])
    }

    func testARunWithoutStoredChecksHasNoStoredVerdict() throws {
        let rejudgement = Rejudgement(stored: [], rejudged: [(.forward, try Fixtures.allPassing())])
        XCTAssertFalse(rejudgement.storedPassed)
        XCTAssertTrue(rejudgement.rejudgedPassed)
        XCTAssertEqual(rejudgement.changes.count, try Fixtures.allPassing().count)
    }
}

/// `Rejudge` on stored runs: what it reads, which runs it takes and what it prints.
final class RejudgeTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("verifier-rejudge-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    var path: String { directory.appendingPathComponent("results.sqlite").path }

    /// Records a run as the runner does: begin, the observation of each leg, finish with `checks`.
    static func record(_ observations: [(Observation, MigrationLeg)], checks: [Check], in store: ResultsStore,
                       sweepID: String? = nil) -> ScenarioResult {
        let recorder = StoreRecorder(store: store, sweepID: sweepID)
        recorder.begin(Fixtures.parameters(), clock: RunClock())
        for (observation, leg) in observations { recorder.record(.observation(observation, leg: leg)) }
        var result = Fixtures.result(checks: [])
        for check in checks { result.add(check) }
        return recorder.finish(result)
    }

    func testAStoredObservationThatTodaysChecksFailChangesTheVerdict() throws {
        let store = try ResultsStore(path: path)
        let stored = Self.record([(try Fixtures.observationWithALongPingGap(), .forward)], checks: try Fixtures.allPassing(), in: store)
        let runID = try XCTUnwrap(stored.runID)
        XCTAssertTrue(stored.passed, "what the run stored then")
        let runs = try Rejudge.rejudge(.run(runID), in: store)
        XCTAssertEqual(runs.map(\.changed), [true])
        let lines = Rejudge.report(runs)
        XCTAssertEqual(lines.count, 3, lines.joined(separator: "\n"))
        XCTAssertEqual(lines[0], "run #\(runID) live 333 MiB @ 50 MiB/s: PASS → FAIL, 1 check changed")
        XCTAssertTrue(lines[1].hasPrefix("  ping-continuity: PASS → FAIL: 12000 probes"), lines[1])
        XCTAssertEqual(lines[2], "rejudged 1 of 1 run: 1 with a changed verdict, 0 unchanged")
    }

    func testAnUnchangedRunSaysSo() throws {
        let store = try ResultsStore(path: path)
        let runID = try XCTUnwrap(Self.record([(try Fixtures.observation(.migrates), .forward)], checks: try Fixtures.allPassing(), in: store).runID)
        XCTAssertEqual(Rejudge.report(try Rejudge.rejudge(.run(runID), in: store)), [
            "run #\(runID) live 333 MiB @ 50 MiB/s: unchanged, PASS (\(try Fixtures.allPassing().count) checks)",
            "rejudged 1 of 1 run: 0 with a changed verdict, 1 unchanged",
        ])
    }

    func testARunStoredBeforeNoDualRunningExistedIsUnchangedAndSaysWhatWasNotJudged() throws {
        let store = try ResultsStore(path: path)
        let old = try NoDualRunningTests.observationStoredBeforeTheSampler()
        let storedThen = Checks.evaluate(old).filter { $0.name != CheckName.noDualRunning }
        let runID = try XCTUnwrap(Self.record([(old, .forward)], checks: storedThen, in: store).runID)
        XCTAssertEqual(Rejudge.report(try Rejudge.rejudge(.run(runID), in: store)), [
            "run #\(runID) live 333 MiB @ 50 MiB/s: unchanged, PASS (\(storedThen.count) checks); not judged: no-dual-running (stored before the check existed)",
            "rejudged 1 of 1 run: 0 with a changed verdict, 1 unchanged",
        ])
    }

    func testEveryRunOfASweepIsRejudgedAndThoseWithoutObservationAreListedNotRejudged() throws {
        let store = try ResultsStore(path: path)
        let parameters = [Fixtures.parameters(rate: 10), Fixtures.parameters(rate: 20), Fixtures.parameters(rate: 30)]
        try store.openSweep(id: "mixed", kind: .sweep, commandLine: "test", definitionJSON: "{}", slots: parameters)
        let changed = Self.record([(try Fixtures.observationWithALongPingGap(), .forward)], checks: try Fixtures.allPassing(), in: store)
        let old = try store.beginRun(parameters[1])
        try store.finishRun(old, result: Fixtures.result(checks: try Fixtures.allPassing()))
        try store.assign(runID: try XCTUnwrap(changed.runID), sweepID: "mixed", position: 0)
        try store.assign(runID: old, sweepID: "mixed", position: 1)
        try store.assign(runID: old, sweepID: "mixed", position: 2)  // a plain run's reuse: the same run stands for two slots
        let runs = try Rejudge.rejudge(try Rejudge.target("mixed", in: store), in: store)
        XCTAssertEqual(runs.map(\.runID), [changed.runID, old], "slot order, each run once")
        let lines = Rejudge.report(runs)
        XCTAssertEqual(lines.filter { $0.hasSuffix(": not rejudged: no stored observation") }, ["run #\(old) live 333 MiB @ 50 MiB/s: not rejudged: no stored observation"])
        XCTAssertEqual(lines.last, "rejudged 1 of 2 runs: 1 with a changed verdict, 0 unchanged; 1 not rejudged "
                       + "(1 recorded without an observation, e.g. by a version before it was stored)")
    }

    func testTheRunsOfADatabaseThePreviousVersionMadeAreListedNotRejudged() throws {
        try PreviousVersionFixtures.makeDatabase(at: path)
        let store = try ResultsStore.openForReading(path: path)
        let runs = try Rejudge.rejudge(try Rejudge.target("old-sweep", in: store), in: store)
        XCTAssertEqual(runs.map(\.runID), [1, 2, 3])
        XCTAssertEqual(runs.map(\.outcome), Array(repeating: .failure(.init(reason: "no stored observation")), count: 3))
        XCTAssertEqual(Rejudge.report(runs).last, "rejudged 0 of 3 runs: 0 with a changed verdict, 0 unchanged; 3 not rejudged "
                       + "(3 recorded without an observation, e.g. by a version before it was stored)")
        XCTAssertEqual(try Rejudge.rejudge(.run(4), in: store).first?.lines, ["run #4 (running, no result): not rejudged: no stored observation"])
    }

    func testAnIdNamesASweepFirstThenARunAndHashAlwaysARun() throws {
        try PreviousVersionFixtures.makeDatabase(at: path)
        let store = try ResultsStore(path: path)
        try store.openSweep(id: "2", kind: .run, commandLine: "test", definitionJSON: "{}", slots: [])
        XCTAssertEqual(try Rejudge.target("old-sweep", in: store), .sweep("old-sweep"))
        XCTAssertEqual(try Rejudge.target("1", in: store), .run(1))
        XCTAssertEqual(try Rejudge.target("2", in: store), .sweep("2"))
        XCTAssertEqual(try Rejudge.target("#2", in: store), .run(2))
        for (id, message) in [("99", "has no run #99 and no sweep '99'"), ("#99", "has no run #99"), ("nosuch", "has no sweep 'nosuch'")] {
            XCTAssertThrowsError(try Rejudge.target(id, in: store), id) { error in
                guard case .invalidOptions(let text)? = error as? VerifierError else { return XCTFail("\(error)") }
                XCTAssertTrue(text.contains(message), text)
                XCTAssertFalse(text.contains("\n"), text)
            }
        }
    }
}

/// `migverify rejudge` as a user runs it: what it prints and its exit status.
final class RejudgeCLITests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("migverify-rejudge-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func rejudge(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: MigVerifyCLITests.binary)
        process.arguments = ["rejudge"] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    func testBadInputIsOneLineAndExit64() throws {
        let database = directory.appendingPathComponent("r.sqlite").path
        let notADatabase = directory.appendingPathComponent("notes.txt").path
        try "not SQLite\n".write(toFile: notADatabase, atomically: true, encoding: .utf8)
        _ = try ResultsStore(path: database)
        let cases: [([String], String)] = [
            (["1", "--database", directory.appendingPathComponent("missing.sqlite").path], "no results database at"),
            (["7", "--database", database], "has no run #7 and no sweep '7'"),
            (["nosuch", "--database", database], "has no sweep 'nosuch'"),
            (["1", "--database", notADatabase], "results database \(notADatabase)"),
            ([], "Missing expected argument"),
        ]
        for (arguments, expected) in cases {
            let outcome = try rejudge(arguments)
            XCTAssertEqual(outcome.status, 64, "\(arguments): \(outcome.stderr)")
            XCTAssertEqual(outcome.stderr.split(separator: "\n").count, 1, "\(arguments): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.contains(expected), "\(arguments): expected '\(expected)' in \(outcome.stderr)")
        }
    }

    func testADatabaseThePreviousVersionMadeIsReadNotWrittenAndExits0() throws {
        let database = directory.appendingPathComponent("old.sqlite").path
        try PreviousVersionFixtures.makeDatabase(at: database)
        let before = try Data(contentsOf: URL(fileURLWithPath: database))
        let outcome = try rejudge(["old-sweep", "--database", database])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertEqual(outcome.stdout.split(separator: "\n").filter { $0.hasSuffix("not rejudged: no stored observation") }.count, 3, outcome.stdout)
        XCTAssertTrue(outcome.stdout.contains("rejudged 0 of 3 runs"), outcome.stdout)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: database)), before, "the database is only read")
    }

    func testAChangedVerdictExits1AndAnUnchangedOne0() throws {
        let database = directory.appendingPathComponent("r.sqlite").path
        let store = try ResultsStore(path: database)
        let changed = try XCTUnwrap(RejudgeTests.record([(try Fixtures.observationWithALongPingGap(), .forward)],
                                                        checks: try Fixtures.allPassing(), in: store).runID)
        let unchanged = try XCTUnwrap(RejudgeTests.record([(try Fixtures.observation(.migrates), .forward)],
                                                          checks: try Fixtures.allPassing(), in: store).runID)
        let outcome = try rejudge(["\(changed)", "--database", database])
        XCTAssertEqual(outcome.status, 1, outcome.stderr)
        XCTAssertTrue(outcome.stdout.contains("run #\(changed) live 333 MiB @ 50 MiB/s: PASS → FAIL, 1 check changed\n  ping-continuity: PASS → FAIL: "),
                      outcome.stdout)
        XCTAssertEqual(outcome.stderr, "")
        let same = try rejudge(["#\(unchanged)", "--database", database])
        XCTAssertEqual(same.status, 0, same.stderr)
        XCTAssertTrue(same.stdout.contains("unchanged, PASS"), same.stdout)
    }
}
