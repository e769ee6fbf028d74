import Foundation
import GRDB
import Libvirt
import XCTest
@testable import Verifier

/// What the previous version (54eda83, before the result schema was declared once) wrote:
/// its `--json` output and a results database, checked in under Fixtures/ (the database as
/// an SQL dump of the file it made), and the results that made them.
enum PreviousVersionFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    /// `ReportWriter.json` of ``storedResults()`` as the previous version wrote it.
    static let resultsJSON = directory.appendingPathComponent("results-made-by-54eda83.json")
    /// The database the previous version made: sweep `old-sweep` with run 1 (live, converged,
    /// with every time series), run 2 (setup failed, no figures), run 3 (prepare-fail with its
    /// fault), and run 4 left `running` by a process that died.
    static let storeSQL = directory.appendingPathComponent("store-made-by-54eda83.sql")

    /// The results of sweep `old-sweep`, as stored (run ids 1–3), made as the previous
    /// version's fixtures made them.
    static func storedResults() throws -> [ScenarioResult] {
        var converged = try XCTUnwrap(SyntheticSweepResults.results().first)
        converged.notes = ["memeater's rate settled"]
        converged.figureSources = ["accel": "the domain XML"]
        var setupFailed = Fixtures.result(checks: [Check(name: CheckName.setup, passed: false, evidence: "lab guest: no static memeater")])
        setupFailed.status = .setupFailed
        setupFailed.migrationMilliseconds = nil
        setupFailed.libvirtDowntimeMilliseconds = nil
        setupFailed.pingDowntimeMilliseconds = nil
        setupFailed.pingLost = nil
        setupFailed.integrityErrors = nil
        setupFailed.parameters.dirtyRateMiBPerSecond = 51
        setupFailed.dirtyRateMiBPerSecond = 51
        var prepareFail = Fixtures.result(.prepareFail, checks: [
            Check(name: CheckName.migrationOutcome, passed: true, evidence: "libvirt reported failure"),
            Check(name: CheckName.faultActed, passed: true, evidence: "the bogus URI was refused"),
        ])
        prepareFail.fault = FaultEvidence(scenario: .prepareFail, acted: true, evidence: "bogus URI", errorAsExpected: true,
                                          errorEvidence: "libvirt: unable to connect", removed: nil)
        prepareFail.libvirtError = "unable to connect"
        return [converged, setupFailed, prepareFail].enumerated().map { index, result in
            var stored = result
            stored.runID = Int64(index + 1)
            stored.sweepID = "old-sweep"
            return stored
        }
    }

    /// Writes the previous version's database to `path` (a new file).
    static func makeDatabase(at path: String) throws {
        let dump = try String(contentsOf: storeSQL, encoding: .utf8)
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in try db.execute(sql: dump) }
    }
}

/// The result's JSON contract and the database schema, declared once: what older versions
/// wrote still reads, and what this one writes is what they wrote.
final class ResultSchemaTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("verifier-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    var path: String { directory.appendingPathComponent("results.sqlite").path }

    // MARK: the JSON contract

    func testTheResultJSONIsByteForByteWhatThePreviousVersionWrote() throws {
        let written = try ReportWriter.json(try PreviousVersionFixtures.storedResults())
        let previous = try Data(contentsOf: PreviousVersionFixtures.resultsJSON)
        XCTAssertEqual(String(decoding: written, as: UTF8.self), String(decoding: previous, as: UTF8.self))
    }

    func testEveryKeyOfAResultWithoutFiguresIsThereAsNull() throws {
        let setupFailed = try PreviousVersionFixtures.storedResults()[1]
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: resultsJSONEncoder().encode(setupFailed)) as? [String: Any])
        let nullKeys = ["migrationMilliseconds", "libvirtDowntimeMilliseconds", "pingDowntimeMilliseconds", "pingLost", "integrityErrors",
                        "fault", "libvirtError", "achievedDirtyRateMiBPerSecond", "libvirtDirtyRateMiBPerSecond", "setupMilliseconds",
                        "transferredBytes", "iterations", "maxStallMicroseconds", "maxStallMicrosecondsPerThread", "modelComparison",
                        "reusedFromRunID", "guestSystem"]
        for key in nullKeys {
            XCTAssertTrue(object[key] is NSNull, "\(key) is \(String(describing: object[key])), not null")
        }
        let valueKeys = ["scenario", "memoryMiB", "dirtyRateMiBPerSecond", "passed", "checks", "accel", "qemuVersion", "libvirtVersion",
                         "status", "parameters", "startedAt", "finishedAt", "jobSampleCount", "crossChecks", "figureSources", "notes",
                         "figures", "sweepID", "runID"]
        XCTAssertEqual(Set(object.keys), Set(nullKeys + valueKeys), "every key of the contract, and no other")
        XCTAssertEqual(object["status"] as? String, "setup-failed")
    }

    /// Decoded and encoded again, the previous version's JSON is the same text (dates are
    /// kept to the millisecond, so the values are compared as JSON).
    func testResultsThePreviousVersionWroteDecodeToWhatItEncoded() throws {
        let previous = try Data(contentsOf: PreviousVersionFixtures.resultsJSON)
        let decoded = try resultsJSONDecoder().decode([ScenarioResult].self, from: previous)
        XCTAssertEqual(decoded.map(\.runID), [1, 2, 3])
        XCTAssertEqual(decoded.map(\.status), [.completed, .setupFailed, .completed])
        XCTAssertEqual(String(decoding: try ReportWriter.json(decoded), as: UTF8.self), String(decoding: previous, as: UTF8.self))
    }

    /// A result from before `status`, `fault`, `figures`, `sweepID` and `guestSystem` existed,
    /// with the client-managed mode under its old name `direct`.
    func testAResultFromBeforeTheLaterFieldsDecodesWithTheirDefaults() throws {
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: resultsJSONEncoder().encode(Fixtures.result(checks: []))) as? [String: Any])
        for key in ["status", "fault", "figures", "sweepID", "guestSystem", "runID", "reusedFromRunID", "modelComparison",
                    "maxStallMicrosecondsPerThread", "setupError"] {
            object.removeValue(forKey: key)
        }
        var parameters = try XCTUnwrap(object["parameters"] as? [String: Any])
        var migration = try XCTUnwrap(parameters["migration"] as? [String: Any])
        migration["mode"] = "direct"
        parameters["migration"] = migration
        object["parameters"] = parameters
        let old = try resultsJSONDecoder().decode(ScenarioResult.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertEqual(old.status, .completed, "results stored before status existed were completed")
        XCTAssertNil(old.fault)
        XCTAssertEqual(old.figures, MigrationFigures())
        XCTAssertEqual(old.figures.direction, .forward)
        XCTAssertNil(old.sweepID)
        XCTAssertNil(old.guestSystem)
        XCTAssertNil(old.setupError)
        XCTAssertEqual(old.parameters.migration.mode, .clientManaged)
        XCTAssertEqual(old.pingLost, 3, "the figures it had are kept")
    }

    /// A result stored before the host CPU figures and the pre-copy rate has neither, and
    /// one that has them reads back as written.
    func testTheHostCPUAndPreCopyFiguresAreAbsentFromOldResultsAndRoundTrip() throws {
        let previous = try resultsJSONDecoder().decode([ScenarioResult].self, from: Data(contentsOf: PreviousVersionFixtures.resultsJSON))
        for result in previous {
            XCTAssertNil(result.figures.cpuCost)
            XCTAssertNil(result.figures.preCopyTransferRateMiBPerSecond)
            XCTAssertNil(result.figures.preCopySeconds)
        }
        var result = Fixtures.result(checks: [Check(name: CheckName.bandwidthHonoured, passed: true, evidence: "48.3 MiB/s")])
        var source = HostCPUCost(hostName: "src")
        source.qemuCPUSecondsByRole = [.vcpu: 2.5, .migration: 1.25, .multifd: 0, .mainLoop: 0.5, .other: 0.01]
        source.qemuCPUSeconds = 4.26
        source.totalCPUSeconds = 4.46
        source.exitedQEMUGoneAtMilliseconds = 25_012
        var destination = HostCPUCost(hostName: "dst")
        destination.notMeasured = "no shell on the destination"
        result.figures.cpuCost = MigrationCPUCost(source: source, destination: destination, sampleIntervalMilliseconds: 250, movedGiB: 2,
                                                  movedSource: "transferredBytes", method: "utime+stime")
        result.figures.preCopyTransferRateMiBPerSecond = 48.3
        let json = try resultsJSONEncoder().encode(result)
        XCTAssertTrue(String(decoding: json, as: UTF8.self).contains(#""qemuCPUSecondsByRole" : {"#), "roles by name, not as pairs")
        XCTAssertEqual(try resultsJSONDecoder().decode(ScenarioResult.self, from: json), result)
    }

    /// QEMU's expected downtime is absent from results stored before it was kept, and reads
    /// back as written.
    func testQEMUsExpectedDowntimeIsAbsentFromOldResultsAndRoundTrips() throws {
        let previous = try resultsJSONDecoder().decode([ScenarioResult].self, from: Data(contentsOf: PreviousVersionFixtures.resultsJSON))
        XCTAssertEqual(previous.count, 3)
        for result in previous {
            XCTAssertNil(result.figures.qemuExpectedDowntimeMilliseconds)
            XCTAssertNil(result.figures.qemuExpectedDowntimeSource)
        }
        var result = Fixtures.result(checks: [])
        result.figures.qemuExpectedDowntimeMilliseconds = 120
        result.figures.qemuExpectedDowntimeSource = "job stats"
        let json = try resultsJSONEncoder().encode(result)
        XCTAssertTrue(String(decoding: json, as: UTF8.self).contains(#""qemuExpectedDowntimeMilliseconds" : 120"#))
        XCTAssertEqual(try resultsJSONDecoder().decode(ScenarioResult.self, from: json), result)
    }

    func testTheDirectionIsTypedAndKeepsItsJSONValue() throws {
        var figures = MigrationFigures()
        figures.direction = .reverse
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: resultsJSONEncoder().encode(figures)) as? [String: Any])
        XCTAssertEqual(object["direction"] as? String, "reverse")
        XCTAssertEqual(try resultsJSONDecoder().decode(MigrationFigures.self, from: resultsJSONEncoder().encode(figures)).direction, .reverse)
    }

    func testASetupFailureCarriesItsErrorTypedBesideItsCheck() throws {
        var result = Fixtures.result(checks: [])
        result.failSetup(because: "no static memeater in the guest image")
        XCTAssertEqual(result.setupError, "no static memeater in the guest image")
        XCTAssertEqual(result.checks, [Check(name: CheckName.setup, passed: false, evidence: "no static memeater in the guest image")])
        XCTAssertFalse(result.passed)
        let decoded = try resultsJSONDecoder().decode(ScenarioResult.self, from: resultsJSONEncoder().encode(result))
        XCTAssertEqual(decoded.setupError, result.setupError)
    }

    func testAnEventRecordMadeFromLibvirtsEventSaysWhatTheRunnerAlwaysStored() {
        XCTAssertEqual(EventRecord(offsetMilliseconds: 1, host: "source", event: .migrationIteration(domainName: "g", iteration: 2)).description,
                       "g migration-iteration 2")
        XCTAssertEqual(EventRecord(offsetMilliseconds: 1, host: "destination",
                                   event: .lifecycle(domainName: "g", kind: nil, rawKind: 42, detail: 3)).description,
                       "g lifecycle kind 42 detail 3")
        XCTAssertEqual(EventRecord(offsetMilliseconds: 1, host: "source", event: .jobCompleted(domainName: "g", stats: JobStats(rawType: 3, fields: [:]))).description,
                       "g job-completed")
    }

    // MARK: the database

    func testADatabaseThePreviousVersionMadeOpensReadOnlyAndReadsWithoutBeingWritten() throws {
        try PreviousVersionFixtures.makeDatabase(at: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let store = try ResultsStore.openForReading(path: path)
        XCTAssertEqual(try store.runs().map(\.status), [.completed, .setupFailed, .completed, .running],
                       "a reader marks nothing: run 4's process may still be running")
        XCTAssertEqual(try ReportWriter.json(try store.runs().compactMap(\.result)), try Data(contentsOf: PreviousVersionFixtures.resultsJSON),
                       "each run's result as the previous version stored it")
        let slots = try store.slots(sweepID: "old-sweep")
        XCTAssertEqual(slots.map(\.isDone), [true, false, true])
        XCTAssertEqual(try store.sweep(id: "old-sweep")?.kind, .sweep)
        XCTAssertEqual(try store.jobSamples(runID: 1).map(\.dataRemainingBytes), [9_000_000])
        XCTAssertEqual(try store.pingSamples(runID: 1).map(\.probesSent), [4_000])
        XCTAssertEqual(try store.events(runID: 1).map(\.description), ["lab-guest migration-iteration 1", "lab-guest lifecycle resumed detail 1"])
        XCTAssertEqual(try store.memeaterReadings(runID: 1).map(\.pagesDirtied), [2_483])
        XCTAssertEqual(try store.threadStalls(runID: 1).count, 1)
        XCTAssertEqual(try store.checks(runID: 3).map(\.name), [CheckName.migrationOutcome, CheckName.faultActed])
        XCTAssertEqual(try store.observations(runID: 1), [], "the previous version stored no observation")
        XCTAssertThrowsError(try store.beginRun(Fixtures.parameters()), "a reader does not write")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before, "the file is untouched")
    }

    func testADatabaseThePreviousVersionMadeIsMigratedWhenOpenedForWriting() throws {
        try PreviousVersionFixtures.makeDatabase(at: path)
        let store = try ResultsStore(path: path)
        XCTAssertEqual(try store.runs().map(\.status), [.completed, .setupFailed, .completed, .interrupted],
                       "the run left running by a process that died")
        XCTAssertEqual(try store.scalar("SELECT COUNT(*) FROM grdb_migrations"), 7)
        XCTAssertEqual(try store.scalar("SELECT COUNT(*) FROM scenarioRun WHERE evacuationId IS NULL AND guestIndex IS NULL"), 4,
                       "v7: the runs stored before it were each of one guest alone")
        XCTAssertEqual(try store.runs().map(\.evacuationID), [nil, nil, nil, nil])
        XCTAssertEqual(try store.scalar("SELECT COUNT(*) FROM scenarioRun WHERE pingGapLateProbes IS NULL"), 4,
                       "v6's column is unknown for the runs stored before it")
        try store.add(try Fixtures.observation(.migrates), leg: .forward, runID: 1)
        XCTAssertEqual(try store.observations(runID: 1).map(\.leg), [.forward])
        let id = try store.beginRun(Fixtures.parameters(rate: 99))
        XCTAssertEqual(id, 5)
        XCTAssertEqual(try store.finishRun(id, result: Fixtures.result(checks: [])).runID, 5)
    }

    func testEveryColumnOfEveryRecordIsInTheMigratedSchemaAndTheOtherWayRound() throws {
        let store = try ResultsStore(path: path)
        let runID = try store.beginRun(Fixtures.parameters())
        var result = try PreviousVersionFixtures.storedResults()[0]
        result.fault = FaultEvidence(scenario: .live, acted: true, evidence: "e", errorAsExpected: true, errorEvidence: "e")
        try store.finishRun(runID, result: result)
        try store.database.read { db in
            let row = try XCTUnwrap(try ScenarioRunRow.fetchOne(db, key: runID))
            XCTAssertEqual(Set(try row.databaseDictionary.keys), Set(try db.columns(in: "scenarioRun").map(\.name)))
            for table in ["checkResult", "memeaterThreadStall", "observation", "sweepSlot", "sweep"] {
                XCTAssertFalse(try db.columns(in: table).isEmpty, table)
            }
        }
    }

    func testACounterAboveWhatSQLiteHoldsIsStoredAsItsLargestIntegerNotATrap() throws {
        let store = try ResultsStore(path: path)
        let runID = try store.beginRun(Fixtures.parameters())
        try store.add(JobSample(offsetMilliseconds: 1.5, jobType: "unbounded", dataRemainingBytes: .max, memoryIteration: 3), runID: runID)
        try store.add(MemeaterReading(offsetMilliseconds: 2, memeaterElapsedSeconds: 1, pagesDirtied: .max, achievedPagesPerSecond: 0.25),
                      runID: runID)
        let sample = try XCTUnwrap(try store.jobSamples(runID: runID).first)
        XCTAssertEqual(sample.dataRemainingBytes, UInt64(Int64.max))
        XCTAssertEqual(sample.memoryIteration, 3)
        XCTAssertNil(sample.dataTotalBytes)
        XCTAssertEqual(sample.offsetMilliseconds, 1.5)
        XCTAssertEqual(try store.memeaterReadings(runID: runID).first?.pagesDirtied, UInt64(Int64.max))
        XCTAssertEqual(try store.memeaterReadings(runID: runID).first?.achievedPagesPerSecond, 0.25)
    }

    // MARK: the observation

    /// Every kind of value an observation holds, each once.
    static func observationsOfEveryKind() throws -> [Observation] {
        var failed = try Fixtures.observation(.staysOnSource)
        failed.outcome.samples = [JobSample(offsetMilliseconds: 600, jobType: "unbounded", dataProcessedBytes: 5, dataTotalBytes: 9)]
        failed.outcome.abortedAtMilliseconds = 15_000
        failed.outcome.abortCause = .stall
        failed.outcome.sourceDaemonErrors = .success(DaemonLogErrors(location: "/var/log/libvirtd.log on src", messages: ["refused"]))
        failed.outcome.faultInjectedAtMilliseconds = 700
        failed.sourceHost = .notLooked("no shell on the source host")
        failed.console = .unreadable("no console log")
        failed.fault?.guestNetwork = .untouched
        failed.memeater.duringMigration = .notLooked("memeater's counter was not read after the call: the migration did not land")
        var landed = try Fixtures.observation(.migrates)
        landed.outcome.ending = .completedDespiteAbort(reason: "timeout")
        landed.outcome.sourceDaemonErrors = .failure(DaemonLogUnavailable(reason: "rotated"))
        landed.answersAtEnd = .notLooked("could not ping at the end")
        landed.fault = FaultEvidence(scenario: .guestLinkCut, acted: true, evidence: "cut", errorAsExpected: true, errorEvidence: "none",
                                     guestNetwork: .cut(atMilliseconds: 1_200, milliseconds: 800))
        landed.ping.gapsOnRunClock = [TimedSpan(startOffsetMilliseconds: 1_190, lengthMilliseconds: 812.5)]
        landed.memeater.verification = .notLooked("memeater cannot be reached")
        landed.memeater.statsAfter = nil
        landed.placementTimeline?.recordFailedRead("qemu+tcp://198.18.0.2/system: client socket is closed")
        landed.placementTimeline?.overlaps = [DualRunningWindow(startMilliseconds: 3_000, endMilliseconds: 3_200, sampleCount: 3,
                                                                states: ["source running (booted) → running (booted), destination running (migrated)"])]
        landed.ping.duplicates = 2
        landed.memeater.duringMigration = .seen(Self.guestLoad)
        var hung = try Fixtures.observation(.staysOnSource)
        hung.outcome.ending = .hung(reason: "stalled", graceSeconds: 60)
        hung.didNotConverge = true
        hung.timeoutIsResult = true
        var failedByItself = try Fixtures.occupiedObservation()
        failedByItself.onDestination.error = "cannot read"
        return [try Fixtures.observation(.migrates), failed, landed, hung, failedByItself]
    }

    func testAnObservationRoundTripsThroughJSON() throws {
        for observation in try Self.observationsOfEveryKind() {
            let json = try resultsJSONEncoder(pretty: false).encode(observation)
            let decoded = try resultsJSONDecoder().decode(Observation.self, from: json)
            XCTAssertEqual(decoded, observation, String(decoding: json, as: UTF8.self))
            XCTAssertEqual(Checks.evaluate(decoded), Checks.evaluate(observation))
        }
    }

    private static let guestLoad = GuestLoadDuringMigration(pagesDirtiedBefore: 10_000, beforeAtMilliseconds: 1_000, pagesDirtiedAfter: 13_200,
                                                            afterAtMilliseconds: 1_500, pageSizeBytes: 4096)

    /// The guest's rate while migrated was stored bare before it could say why it was not
    /// measured: such an observation still reads, as seen; one that is neither shape does not.
    func testAGuestRateStoredBeforeItCouldSayWhyReadsAsSeen() throws {
        var observation = try Fixtures.observation(.migrates)
        observation.memeater.duringMigration = .seen(Self.guestLoad)
        let today = try XCTUnwrap(JSONSerialization.jsonObject(with: try resultsJSONEncoder(pretty: false).encode(observation)) as? [String: Any])
        func stored(_ during: Any) throws -> Data {
            var object = today
            var memeater = try XCTUnwrap(object["memeater"] as? [String: Any])
            memeater["duringMigration"] = during
            object["memeater"] = memeater
            return try JSONSerialization.data(withJSONObject: object)
        }
        let bare = try XCTUnwrap(JSONSerialization.jsonObject(with: try resultsJSONEncoder(pretty: false).encode(Self.guestLoad)))
        XCTAssertEqual(try resultsJSONDecoder().decode(Observation.self, from: try stored(bare)), observation)
        XCTAssertThrowsError(try resultsJSONDecoder().decode(Observation.self, from: try stored(["pages": 3])))
        var unknown = observation
        unknown.memeater.duringMigration = nil
        var withoutKey = today
        var memeater = try XCTUnwrap(withoutKey["memeater"] as? [String: Any])
        memeater["duringMigration"] = nil
        withoutKey["memeater"] = memeater
        XCTAssertEqual(try resultsJSONDecoder().decode(Observation.self, from: try JSONSerialization.data(withJSONObject: withoutKey)), unknown,
                       "stored before the rate was measured")
    }

    func testTheRecorderStoresEachLegsObservationWithTheRun() throws {
        let store = try ResultsStore(path: path)
        let recorder = StoreRecorder(store: store, sweepID: "s")
        let observations = try Self.observationsOfEveryKind()
        recorder.begin(Fixtures.parameters(), clock: RunClock())
        recorder.record(.observation(observations[0], leg: .forward))
        recorder.record(.observation(observations[2], leg: .back))
        let result = recorder.finish(Fixtures.result(checks: [Check(name: "a", passed: true, evidence: "looked")]))
        let runID = try XCTUnwrap(result.runID, "finish returns the result as stored, with its run id")
        XCTAssertEqual(result.sweepID, "s")
        XCTAssertEqual(try store.run(id: runID)?.result, result)
        let stored = try store.observations(runID: runID)
        XCTAssertEqual(stored.map(\.leg), [.forward, .back])
        XCTAssertEqual(stored.map(\.observation), [.success(observations[0]), .success(observations[2])])
        let reader = try ResultsStore.openForReading(path: path)
        XCTAssertEqual(try reader.observations(runID: runID), stored, "a reader sees the same")
    }

    func testAnUnreadableStoredObservationIsReportedNotThrown() throws {
        let store = try ResultsStore(path: path)
        let runID = try store.beginRun(Fixtures.parameters())
        try store.add(try Fixtures.observation(.migrates), leg: .forward, runID: runID)
        try store.database.write { db in try db.execute(sql: "UPDATE observation SET observationJSON = '{}'") }
        guard case .failure(let error)? = try store.observations(runID: runID).first?.observation else {
            return XCTFail("an observation that does not decode is reported as such")
        }
        XCTAssertTrue(error.description.hasPrefix("the forward observation of run #\(runID) is unreadable"), error.description)
    }
}
