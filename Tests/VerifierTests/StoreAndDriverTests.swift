import Foundation
import Libvirt
import Synchronization
import XCTest
@testable import Verifier

final class ResultsStoreTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("verifier-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    var path: String { directory.appendingPathComponent("results.sqlite").path }

    /// A completed run whose stored result no longer decodes is an error naming the run, in
    /// every reader: taken for "no result", it would silently be run again.
    func testAnUnreadableStoredResultIsAnErrorNotAMissingResult() throws {
        let store = try ResultsStore(path: path)
        let parameters = Fixtures.parameters()
        try store.openSweep(id: "s", kind: .sweep, commandLine: "test", definitionJSON: "{}", slots: [parameters])
        let id = try store.beginRun(parameters, sweepID: "s")
        try store.finishRun(id, result: Fixtures.result(checks: [Check(name: "a", passed: true, evidence: "looked")]))
        try store.assign(runID: id, sweepID: "s", position: 0)
        XCTAssertTrue(try store.slots(sweepID: "s")[0].isDone)
        try store.database.write { db in try db.execute(sql: "UPDATE scenarioRun SET resultJSON = '{' WHERE id = ?", arguments: [id]) }
        for (what, read) in [("completedRun", { _ = try store.completedRun(matching: parameters) }),
                             ("runs", { _ = try store.runs() }), ("slots", { _ = try store.slots(sweepID: "s") })] as [(String, () throws -> Void)] {
            XCTAssertThrowsError(try read(), what) { error in
                XCTAssertTrue("\(error)".contains("run #\(id) has an unreadable result"), "\(what): \(error)")
            }
        }
    }

    func testRunIsStoredAsItIsProducedAndFoundAgainByItsParameters() throws {
        let store = try ResultsStore(path: path)
        let parameters = Fixtures.parameters()
        let id = try store.beginRun(parameters)
        try store.add(JobSample(offsetMilliseconds: 100, jobType: "unbounded", dataProcessedBytes: 10, dataTotalBytes: 100), runID: id)
        try store.add(JobSample(offsetMilliseconds: 200, jobType: "unbounded", dataProcessedBytes: 90, memoryIteration: 2), runID: id)
        try store.add(PingSample(offsetMilliseconds: 100, probesSent: 100, repliesReceived: 99, lost: 1,
                                 currentGapMilliseconds: 1, longestGapMilliseconds: 40), runID: id)
        try store.add(EventRecord(offsetMilliseconds: 150, host: "source", description: "migration-iteration 2"), runID: id)
        // Samples are in the database before the run is finished: a crash now loses nothing measured.
        XCTAssertEqual(try ResultsStore(path: path).jobSamples(runID: id).count, 2)
        XCTAssertNil(try store.completedRun(matching: parameters), "a run in progress is not completed")

        var result = Fixtures.result(checks: [Check(name: "memory-integrity", passed: true, evidence: "0 bad")])
        result.figures.pingGapLateProbes = 4
        try store.finishRun(id, result: result)
        let found = try XCTUnwrap(try store.completedRun(matching: parameters))
        XCTAssertEqual(found.id, id)
        XCTAssertEqual(found.status, .completed)
        XCTAssertEqual(found.result?.checks, result.checks)
        XCTAssertEqual(found.result?.runID, id)
        XCTAssertEqual(found.result?.pingDowntimeMilliseconds, 140.5)
        XCTAssertNil(try store.completedRun(matching: Fixtures.parameters(rate: 60)), "other parameters: not the same run")

        XCTAssertEqual(try store.jobSamples(runID: id).map(\.dataProcessedBytes), [10, 90])
        XCTAssertEqual(try store.jobSamples(runID: id).last?.memoryIteration, 2)
        XCTAssertEqual(try store.pingSamples(runID: id).first?.lost, 1)
        XCTAssertEqual(try store.events(runID: id).first?.description, "migration-iteration 2")
        XCTAssertEqual(try store.scalar("SELECT COUNT(*) FROM checkResult WHERE runId = ?", arguments: [id]), 1)
        XCTAssertEqual(try store.scalar("SELECT memoryMiB FROM scenarioRun WHERE id = ?", arguments: [id]), 333)
        XCTAssertEqual(try store.scalar("SELECT pingLost FROM scenarioRun WHERE id = ?", arguments: [id]), 3)
        XCTAssertEqual(try store.scalar("SELECT pingGapLateProbes FROM scenarioRun WHERE id = ?", arguments: [id]), 4)
        XCTAssertEqual(found.result?.figures.pingGapLateProbes, 4)
        XCTAssertEqual(try store.scalar("SELECT migrationMilliseconds FROM scenarioRun WHERE id = ?", arguments: [id]), 1234)
    }

    func testARunLeftRunningByADeadProcessIsMarkedInterruptedAndNotReused() throws {
        let id: Int64
        do {
            let store = try ResultsStore(path: path)
            id = try store.beginRun(Fixtures.parameters())
        }
        let reopened = try ResultsStore(path: path)
        XCTAssertEqual(try reopened.runs().map(\.status), [.interrupted])
        XCTAssertEqual(try reopened.runs().first?.id, id)
        XCTAssertNil(try reopened.completedRun(matching: Fixtures.parameters()))
    }

    func testUnopenableDatabaseIsOneClearError() {
        do {
            _ = try ResultsStore(path: "/proc/no-such-dir/results.sqlite")
            XCTFail("expected an error")
        } catch {
            XCTAssertTrue(error.description.hasPrefix("results database /proc/no-such-dir/results.sqlite:"), error.description)
        }
    }
}

/// A migration that the test controls: it moves `processed` forward on each stats read
/// until `completeAfterReads`, or never; abort makes perform fail.
final class FakeMigration: MigrationJob, @unchecked Sendable {
    let lock = NSLock()
    var reads = 0
    var aborted = false
    var postCopyStarted = false
    let completeAfterReads: Int?
    let progressing: Bool
    let abortUnblocks: Bool
    let done = DispatchSemaphore(value: 0)

    init(completeAfterReads: Int?, progressing: Bool, abortUnblocks: Bool = true) {
        self.completeAfterReads = completeAfterReads
        self.progressing = progressing
        self.abortUnblocks = abortUnblocks
    }

    func perform() throws {
        done.wait()
        lock.lock(); defer { lock.unlock() }
        if aborted {
            throw LibvirtError(call: "virDomainMigrateToURI3", uri: "fake://", domainName: "g", code: 54, errorDomain: 10,
                               message: "operation aborted: migration out job: canceled by client")
        }
    }

    func abort() throws {
        lock.lock()
        aborted = true
        lock.unlock()
        if abortUnblocks { done.signal() }
    }

    func stats() throws -> JobStats {
        lock.lock(); defer { lock.unlock() }
        reads += 1
        if let completeAfterReads, reads == completeAfterReads { done.signal() }
        let processed = progressing ? UInt64(reads) * 1_000 : 0
        return JobStats(rawType: 2, fields: ["data_processed": .ulong(processed), "data_total": .ulong(100_000),
                                             "data_remaining": .ulong(100_000 - processed), "memory_iteration": .ulong(UInt64(reads / 3)),
                                             "memory_dirty_rate": .ulong(10), "memory_page_size": .ulong(4096)])
    }

    func startPostCopy() throws {
        lock.lock(); defer { lock.unlock() }
        postCopyStarted = true
    }
}

final class MigrationDriverTests: XCTestCase {
    func testCompletedMigrationIsSampledEvery10Milliseconds() {
        let fake = FakeMigration(completeAfterReads: 8, progressing: true)
        let seen = Mutex(0)
        let driver = MigrationDriver(timeoutSeconds: 30, stallTimeoutSeconds: 30, sampleIntervalMilliseconds: 10)
        let outcome = driver.run(fake, clock: RunClock()) { _ in seen.withLock { $0 += 1 } }
        XCTAssertEqual(outcome.ending, .completed)
        XCTAssertGreaterThanOrEqual(outcome.samples.count, 7)
        XCTAssertEqual(seen.withLock { $0 }, outcome.samples.count)
        XCTAssertNil(outcome.abortedAtMilliseconds)
        XCTAssertEqual(outcome.samples.first?.dataTotalBytes, 100_000)
        XCTAssertEqual(outcome.samples.first?.memoryDirtyRateBytesPerSecond, 40_960)
        XCTAssertTrue(outcome.samples.map(\.offsetMilliseconds) == outcome.samples.map(\.offsetMilliseconds).sorted())
    }

    func testStalledMigrationIsAbortedByTheStallTimeout() {
        let fake = FakeMigration(completeAfterReads: nil, progressing: false)
        let outcome = MigrationDriver(timeoutSeconds: 60, stallTimeoutSeconds: 0.3, sampleIntervalMilliseconds: 10).run(fake, clock: RunClock())
        guard case .aborted(let reason, let callError, let abortError) = outcome.ending else {
            return XCTFail("expected an abort, got \(outcome.ending)")
        }
        XCTAssertTrue(reason.contains("no data transferred"), reason)
        XCTAssertTrue(callError?.contains("canceled by client") ?? false, "\(callError ?? "nil")")
        XCTAssertNil(abortError)
        XCTAssertTrue(fake.aborted)
        XCTAssertNotNil(outcome.abortedAtMilliseconds)
        XCTAssertFalse(outcome.ending.migrated)
        XCTAssertEqual(outcome.ending.libvirtMessage, callError)
    }

    func testNonConvergingMigrationIsAbortedByTheOverallTimeout() {
        let fake = FakeMigration(completeAfterReads: nil, progressing: true)
        let outcome = MigrationDriver(timeoutSeconds: 0.3, stallTimeoutSeconds: 0.3, sampleIntervalMilliseconds: 10).run(fake, clock: RunClock())
        guard case .aborted(let reason, _, _) = outcome.ending else { return XCTFail("expected an abort, got \(outcome.ending)") }
        XCTAssertTrue(reason.contains("did not converge"), reason)
    }

    func testAMigrationCallThatDoesNotReturnAfterAbortIsReportedAsHung() {
        let fake = FakeMigration(completeAfterReads: nil, progressing: false, abortUnblocks: false)
        var driver = MigrationDriver(timeoutSeconds: 0.2, stallTimeoutSeconds: 0.2, sampleIntervalMilliseconds: 10,
                                     abortGraceSeconds: 0.2)
        driver.abortWaitReason = "the connect timeout"
        let waits = Mutex<[String]>([])
        driver.onAbortWait = { reason, secondsLeft in waits.withLock { $0.append("\(reason), \(secondsLeft) s left") } }
        let outcome = driver.run(fake, clock: RunClock())
        guard case .hung = outcome.ending else { return XCTFail("expected hung, got \(outcome.ending)") }
        XCTAssertTrue(outcome.ending.summary.contains("had not returned"))
        XCTAssertEqual(waits.withLock { $0 }.first, "the connect timeout, 1 s left", "the wait is said, with what is left")
        fake.done.signal()  // let the migration thread end
    }

    func testPostCopyIsStartedOnceTheFirstPassIsDone() {
        let fake = FakeMigration(completeAfterReads: 12, progressing: true)
        let outcome = MigrationDriver(timeoutSeconds: 30, stallTimeoutSeconds: 30, sampleIntervalMilliseconds: 10,
                                      switchToPostCopy: true).run(fake, clock: RunClock())
        XCTAssertEqual(outcome.ending, .completed)
        XCTAssertTrue(fake.postCopyStarted)
        XCTAssertNotNil(outcome.postCopyStartedAtMilliseconds)
    }

    func testMidStreamFaultIsInjectedOnceWhenTheJobIsTransferringAndCanAbortIt() {
        let fake = FakeMigration(completeAfterReads: nil, progressing: true)
        let injections = Mutex(0)
        var driver = MigrationDriver(timeoutSeconds: 30, stallTimeoutSeconds: 30, sampleIntervalMilliseconds: 10)
        driver.midStreamFault = MidStreamFault(afterProcessedBytes: 5_000) { job in
            injections.withLock { $0 += 1 }
            try? job.abort()
            return "aborted"
        }
        let outcome = driver.run(fake, clock: RunClock())
        XCTAssertEqual(injections.withLock { $0 }, 1)
        XCTAssertEqual(outcome.faultNote, "aborted")
        XCTAssertNotNil(outcome.faultInjectedAtMilliseconds)
        // The abort came from the fault, not from the driver's timeouts: libvirt's error is the ending.
        guard case .failed(let message, _) = outcome.ending else { return XCTFail("expected failed, got \(outcome.ending)") }
        XCTAssertTrue(message.contains("canceled by client"), message)
        XCTAssertNil(outcome.abortedAtMilliseconds)
        XCTAssertGreaterThanOrEqual(outcome.samples.compactMap(\.dataProcessedBytes).max() ?? 0, 5_000)
    }

    func testMidStreamFaultThatNeverTriggersSaysSo() {
        let fake = FakeMigration(completeAfterReads: 3, progressing: true)
        var driver = MigrationDriver(timeoutSeconds: 30, stallTimeoutSeconds: 30, sampleIntervalMilliseconds: 10)
        driver.midStreamFault = MidStreamFault(afterProcessedBytes: 1 << 30) { _ in "should not run" }
        let outcome = driver.run(fake, clock: RunClock())
        XCTAssertEqual(outcome.ending, .completed)
        XCTAssertNil(outcome.faultInjectedAtMilliseconds)
        XCTAssertTrue(outcome.faultNote?.hasPrefix("not injected") ?? false, "\(outcome.faultNote ?? "nil")")
    }

    func testProgressLineShowsPhasePercentRemainingDirtyRateAndIteration() {
        let sample = JobSample(offsetMilliseconds: 1500, jobType: "unbounded", dataProcessedBytes: 50 << 20,
                               dataRemainingBytes: 50 << 20, dataTotalBytes: 100 << 20, memoryDirtyRateBytesPerSecond: 10 << 20,
                               memoryIteration: 2)
        XCTAssertEqual(sample.progressLine(), "   1.5 s, pass 2,  50.0% transferred, remaining 50 MiB, dirty 10 MiB/s")
        XCTAssertTrue(JobSample(offsetMilliseconds: 0, jobType: "unbounded").progressLine().contains("setup"))
        XCTAssertTrue(sample.progressLine(sinceMilliseconds: 1000).hasPrefix("   0.5 s,"), "counts from the migration call's start")
    }
}

/// The job-stats sampler against libvirt's own test driver: it has a running domain
/// `test` but no job stats, so every read fails with "not supported" — and the sampler
/// must count those reads and keep going, not crash or stop.
final class SamplerOnTestDriverTests: XCTestCase {
    func testSamplerCountsUnsupportedReadsAgainstTheTestDriver() throws {
        let connection = try Connection(uri: "test:///default")
        let domain = try connection.lookupDomain(name: "test")
        XCTAssertTrue(try domain.isActive())
        let sampler = JobStatsSampler(intervalMilliseconds: 10, read: { try domain.jobStats() })
        sampler.start()
        // Its own reads, waited for (a fixed sleep flakes on a busy machine).
        let deadline = Date().addingTimeInterval(30)
        while sampler.failedReads.count < 5, Date() < deadline { usleep(1_000) }
        let samples = sampler.stop()
        XCTAssertEqual(samples.count, 0)
        let failed = sampler.failedReads
        XCTAssertGreaterThanOrEqual(failed.count, 5)
        XCTAssertTrue(failed.lastError?.contains("virDomainGetJobStats") ?? false, "\(failed.lastError ?? "nil")")
        XCTAssertNil(sampler.lastProgressNanoseconds)
    }

    func testMigratingOnTheTestDriverFailsWithATypedError() throws {
        let source = try Connection(uri: "test:///default")
        let destination = try Connection(uri: "test:///default")
        let domain = try source.lookupDomain(name: "test")
        let job = LibvirtMigration(domain: domain, destination: destination, options: MigrationOptions(mode: .clientManaged))
        let outcome = MigrationDriver(timeoutSeconds: 10, stallTimeoutSeconds: 10, sampleIntervalMilliseconds: 10).run(job, clock: RunClock())
        guard case .failed(let message, _) = outcome.ending else { return XCTFail("expected failure, got \(outcome.ending)") }
        XCTAssertTrue(message.contains("virDomainMigrate3"), message)
        XCTAssertTrue(message.contains("test:///default"), message)
    }
}

final class ConsoleFailureLineTests: XCTestCase {
    func testPanicLinesAreFoundOneByOneInACRLFConsole() {
        let console = "[    1.0] virtio_net virtio0 eth0: up\r\n[   25.1] virtio_net virtio0: output.0:id 15 is not a head!\r\n"
            + "[   26.0] Kernel panic - not syncing: Fatal exception\r\nLAB-GUEST-READY\r\n"
        XCTAssertEqual(consoleFailureLines(console), ["[   25.1] virtio_net virtio0: output.0:id 15 is not a head!",
                                                      "[   26.0] Kernel panic - not syncing: Fatal exception"])
        XCTAssertEqual(consoleFailureLines("all fine\r\nLAB-GUEST-READY\n"), [])
    }
}

final class OccupantCheckTests: XCTestCase {
    let running = DomainStateInfo(rawState: 1, rawReason: 1)
    var before: OccupantSnapshot {
        OccupantSnapshot(uuid: "0f1e2d3c-0000-4000-8000-000000000001", id: 3, state: running, qemuProcessIDs: [4242])
    }

    func testTheSameRunningDomainPasses() {
        let check = DestinationOccupantFault.untouchedCheck(before: before, after: before)
        XCTAssertTrue(check.passed, check.evidence)
        XCTAssertEqual(check.name, CheckName.destinationDomainUntouched)
    }

    func testEveryChangeFailsTheCheckAndIsNamed() {
        var other = before
        other.uuid = "0f1e2d3c-0000-4000-8000-000000000002"
        XCTAssertTrue(DestinationOccupantFault.untouchedCheck(before: before, after: other).evidence.contains("UUID"))
        XCTAssertFalse(DestinationOccupantFault.untouchedCheck(before: before, after: other).passed)
        var restarted = before
        restarted.id = 4
        restarted.qemuProcessIDs = [4343]
        let restart = DestinationOccupantFault.untouchedCheck(before: before, after: restarted)
        XCTAssertFalse(restart.passed)
        XCTAssertTrue(restart.evidence.contains("id 3 -> 4") && restart.evidence.contains("qemu 4242 -> 4343"), restart.evidence)
        var paused = before
        paused.state = DomainStateInfo(rawState: 3, rawReason: 1)
        let pausedCheck = DestinationOccupantFault.untouchedCheck(before: before, after: paused)
        XCTAssertFalse(pausedCheck.passed)
        XCTAssertTrue(pausedCheck.evidence.contains("paused"), pausedCheck.evidence)
        let gone = DestinationOccupantFault.untouchedCheck(before: before, after: nil)
        XCTAssertFalse(gone.passed)
        XCTAssertTrue(gone.evidence.contains("gone"), gone.evidence)
    }
}
