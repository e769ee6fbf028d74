import Foundation
import Libvirt
import Synchronization
import XCTest
@testable import Verifier

/// A migration whose answers the test scripts: the bytes transferred at each stats read,
/// what the abort call does and how the migration call returns after it. Counts the
/// driver's requests so a test can pin how often each was made.
final class ScriptedMigration: MigrationJob, Sendable {
    /// What the migration call does once the job is aborted.
    enum AfterAbort {
        /// Returns libvirt's "canceled by client" error at once.
        case failsAtOnce
        /// Returns success at once: the job completed at the moment it was aborted.
        case succeedsAtOnce
        /// Keeps blocking until ``letTheCallReturn()`` (a blocked connect, a firewall).
        case blocksUntilReleased
    }

    private struct Requests {
        var reads = 0
        var aborts = 0
        var postCopySwitches = 0
    }

    private let requests = Mutex(Requests())
    private let callMayReturn = DispatchSemaphore(value: 0)
    /// `data_processed` at the n-th stats read (from 1).
    let processedBytesAtRead: @Sendable (Int) -> UInt64
    let afterAbort: AfterAbort
    /// Thrown by the abort call, which still takes effect (as when libvirt's reply is lost).
    let abortCallError: (any Error)?

    init(afterAbort: AfterAbort = .failsAtOnce, abortCallError: (any Error)? = nil,
         processedBytesAtRead: @escaping @Sendable (Int) -> UInt64) {
        self.afterAbort = afterAbort
        self.abortCallError = abortCallError
        self.processedBytesAtRead = processedBytesAtRead
    }

    var abortRequests: Int { requests.withLock { $0.aborts } }
    var postCopyRequests: Int { requests.withLock { $0.postCopySwitches } }

    /// Lets a blocked migration call return (with the abort's error when it was aborted).
    func letTheCallReturn() { callMayReturn.signal() }

    func perform() throws {
        callMayReturn.wait()
        if abortRequests > 0, afterAbort != .succeedsAtOnce {
            throw LibvirtError(call: "virDomainMigrateToURI3", uri: "fake://", domainName: "g", code: 54, errorDomain: 10,
                               message: "operation aborted: migration out job: canceled by client")
        }
    }

    func abort() throws {
        requests.withLock { $0.aborts += 1 }
        if afterAbort != .blocksUntilReleased { callMayReturn.signal() }
        if let abortCallError { throw abortCallError }
    }

    func stats() throws -> JobStats {
        let read = requests.withLock { requests in
            requests.reads += 1
            return requests.reads
        }
        // Three reads per pass: the second pass starts at the sixth read.
        return JobStats(rawType: 2, fields: ["data_processed": .ulong(processedBytesAtRead(read)),
                                             "memory_iteration": .ulong(UInt64(read / 3))])
    }

    func startPostCopy() throws {
        requests.withLock { $0.postCopySwitches += 1 }
    }
}

/// The driver's behaviours the tests in StoreAndDriverTests.swift leave open: how often and
/// when it switches to post-copy, the stuck-abort action, the rarer endings and abort
/// causes, and that every moment is on the run's clock.
final class MigrationDriverEndingTests: XCTestCase {
    private struct AbortCallFailed: Error, CustomStringConvertible {
        var description: String { "the daemon's reply was lost" }
    }

    func testPostCopyIsAskedForOnceAtTheFirstSamplePastTheFirstPass() {
        let job = ScriptedMigration { UInt64($0) * 1_000 }
        var driver = MigrationDriver(timeoutSeconds: 30, stallTimeoutSeconds: 30, sampleIntervalMilliseconds: 10,
                                     switchToPostCopy: true)
        let enoughSamples = Mutex(false)
        driver.interruption = { enoughSamples.withLock { $0 } ? "enough samples" : nil }
        let outcome = driver.run(job, clock: RunClock()) { sample in
            if (sample.memoryIteration ?? 0) >= 4 { enoughSamples.withLock { $0 = true } }
        }
        XCTAssertEqual(job.postCopyRequests, 1, "passes 2, 3 and 4 all qualify; the switch is asked for once")
        XCTAssertEqual(outcome.abortCause, .interruption)
        let firstPastTheFirstPass = outcome.samples.first { ($0.memoryIteration ?? 0) >= 2 }
        XCTAssertNotNil(firstPastTheFirstPass)
        XCTAssertEqual(outcome.postCopyStartedAtMilliseconds, firstPastTheFirstPass?.offsetMilliseconds)
    }

    func testNoPostCopySwitchUnlessAskedFor() {
        let job = ScriptedMigration { UInt64($0) * 1_000 }
        var driver = MigrationDriver(timeoutSeconds: 30, stallTimeoutSeconds: 30, sampleIntervalMilliseconds: 10)
        let enoughSamples = Mutex(false)
        driver.interruption = { enoughSamples.withLock { $0 } ? "enough samples" : nil }
        let outcome = driver.run(job, clock: RunClock()) { sample in
            if (sample.memoryIteration ?? 0) >= 3 { enoughSamples.withLock { $0 = true } }
        }
        XCTAssertEqual(job.postCopyRequests, 0)
        XCTAssertNil(outcome.postCopyStartedAtMilliseconds)
    }

    func testAStuckAbortRunsTheStuckActionOnceAndSaysWhenTheCallReturned() {
        let job = ScriptedMigration(afterAbort: .blocksUntilReleased) { _ in 0 }
        let actions = Mutex(0)
        let driver = MigrationDriver(timeoutSeconds: 30, stallTimeoutSeconds: 0.1, sampleIntervalMilliseconds: 10,
                                     abortGraceSeconds: 5, abortStuckAfterSeconds: 0.1) {
            actions.withLock { $0 += 1 }
            job.letTheCallReturn()  // as lifting the injected fault ends the blocked connect
            return "lifted the firewall"
        }
        let outcome = driver.run(job, clock: RunClock())
        XCTAssertEqual(actions.withLock { $0 }, 1)
        guard case .aborted(_, let callError, _) = outcome.ending else { return XCTFail("expected an abort, got \(outcome.ending)") }
        XCTAssertTrue(callError?.contains("canceled by client") ?? false, "\(callError ?? "nil")")
        let note = outcome.abortNote ?? ""
        XCTAssertTrue(note.hasPrefix("the call had not returned 0.1 s after the abort; at "), note)
        XCTAssertTrue(note.contains(" ms: lifted the firewall; it returned at "), note)
        XCTAssertTrue(note.hasSuffix(" ms"), note)
        XCTAssertEqual(outcome.abortCause, .stall)
    }

    func testAnAbortThatStaysStuckAfterTheActionIsHungAndSaysSo() {
        let job = ScriptedMigration(afterAbort: .blocksUntilReleased) { _ in 0 }
        let driver = MigrationDriver(timeoutSeconds: 30, stallTimeoutSeconds: 0.1, sampleIntervalMilliseconds: 10,
                                     abortGraceSeconds: 0.3, abortStuckAfterSeconds: 0.1) { "lifted nothing" }
        let outcome = driver.run(job, clock: RunClock())
        defer { job.letTheCallReturn() }  // let the migration thread end
        guard case .hung(_, let grace) = outcome.ending else { return XCTFail("expected hung, got \(outcome.ending)") }
        XCTAssertEqual(grace, 0.3)
        XCTAssertTrue(outcome.abortNote?.hasSuffix("lifted nothing; it still had not returned") ?? false,
                      "\(outcome.abortNote ?? "nil")")
    }

    func testTheStuckActionIsNotRunWhenTheCallReturnsInTimeOrItWouldComeAfterTheGraceTime() {
        let actions = Mutex(0)
        let countAction: @Sendable () -> String = {
            actions.withLock { $0 += 1 }
            return "acted"
        }
        let returning = ScriptedMigration(afterAbort: .failsAtOnce) { _ in 0 }
        let inTime = MigrationDriver(timeoutSeconds: 30, stallTimeoutSeconds: 0.1, sampleIntervalMilliseconds: 10,
                                     abortGraceSeconds: 5, abortStuckAfterSeconds: 2, onAbortStuck: countAction)
            .run(returning, clock: RunClock())
        XCTAssertNil(inTime.abortNote)
        let blocked = ScriptedMigration(afterAbort: .blocksUntilReleased) { _ in 0 }
        defer { blocked.letTheCallReturn() }
        let pastGrace = MigrationDriver(timeoutSeconds: 30, stallTimeoutSeconds: 0.1, sampleIntervalMilliseconds: 10,
                                        abortGraceSeconds: 0.2, abortStuckAfterSeconds: 0.2, onAbortStuck: countAction)
            .run(blocked, clock: RunClock())
        guard case .hung = pastGrace.ending else { return XCTFail("expected hung, got \(pastGrace.ending)") }
        XCTAssertNil(pastGrace.abortNote)
        XCTAssertEqual(actions.withLock { $0 }, 0)
    }

    func testAStallAfterProgressSaysTheTransferredBytesStoppedGrowing() {
        let job = ScriptedMigration { read in UInt64(min(read, 3)) * 1_000 }
        let outcome = MigrationDriver(timeoutSeconds: 30, stallTimeoutSeconds: 0.2, sampleIntervalMilliseconds: 10)
            .run(job, clock: RunClock())
        guard case .aborted(let reason, _, _) = outcome.ending else { return XCTFail("expected an abort, got \(outcome.ending)") }
        XCTAssertEqual(reason, "transferred bytes did not grow for 0.2 s (stalled)")
        XCTAssertEqual(outcome.abortCause, .stall)
        XCTAssertFalse(outcome.didNotConverge)
        XCTAssertEqual(job.abortRequests, 1)
    }

    func testTheOverallTimeoutIsCausedTimeoutAndDidNotConverge() {
        let job = ScriptedMigration { UInt64($0) * 1_000 }
        let outcome = MigrationDriver(timeoutSeconds: 0.2, stallTimeoutSeconds: 30, sampleIntervalMilliseconds: 10)
            .run(job, clock: RunClock())
        XCTAssertEqual(outcome.abortCause, .timeout)
        XCTAssertTrue(outcome.didNotConverge)
    }

    func testAMigrationThatCompletesWhileBeingAbortedIsCompletedDespiteAbort() {
        let job = ScriptedMigration(afterAbort: .succeedsAtOnce) { _ in 0 }
        let outcome = MigrationDriver(timeoutSeconds: 30, stallTimeoutSeconds: 0.1, sampleIntervalMilliseconds: 10)
            .run(job, clock: RunClock())
        XCTAssertEqual(outcome.ending, .completedDespiteAbort(reason: "no data transferred in 0.1 s (stalled)"))
        XCTAssertTrue(outcome.ending.migrated)
        XCTAssertNotNil(outcome.abortedAtMilliseconds)
    }

    func testAFailingAbortCallIsReportedBesideTheCallsError() {
        let job = ScriptedMigration(abortCallError: AbortCallFailed()) { _ in 0 }
        let outcome = MigrationDriver(timeoutSeconds: 30, stallTimeoutSeconds: 0.1, sampleIntervalMilliseconds: 10)
            .run(job, clock: RunClock())
        guard case .aborted(_, let callError, let abortError) = outcome.ending else {
            return XCTFail("expected an abort, got \(outcome.ending)")
        }
        XCTAssertEqual(abortError, "the daemon's reply was lost")
        XCTAssertTrue(callError?.contains("canceled by client") ?? false, "\(callError ?? "nil")")
        XCTAssertTrue(outcome.ending.summary.hasSuffix("; abort call: the daemon's reply was lost"), outcome.ending.summary)
    }

    func testEveryMomentIsOnTheRunsClock() {
        // A run that started 5 s before the migration: its clock, not a new one, stamps the outcome.
        let clock = RunClock(originNanoseconds: monotonicNanoseconds() - 5_000_000_000, startedAt: Date().addingTimeInterval(-5))
        let job = ScriptedMigration { UInt64($0) * 1_000 }
        var driver = MigrationDriver(timeoutSeconds: 0.3, stallTimeoutSeconds: 30, sampleIntervalMilliseconds: 10)
        driver.midStreamFault = MidStreamFault(afterProcessedBytes: 2_000) { _ in "injected" }
        let outcome = driver.run(job, clock: clock)
        XCTAssertGreaterThanOrEqual(outcome.startedAtMilliseconds, 5_000)
        XCTAssertLessThan(outcome.wallMilliseconds, 5_000, "the wall time counts from the migration call, not the run")
        XCTAssertGreaterThanOrEqual(outcome.samples.first?.offsetMilliseconds ?? 0, outcome.startedAtMilliseconds)
        XCTAssertGreaterThan(outcome.faultInjectedAtMilliseconds ?? 0, outcome.startedAtMilliseconds)
        XCTAssertGreaterThan(outcome.abortedAtMilliseconds ?? 0, outcome.faultInjectedAtMilliseconds ?? .infinity)
        XCTAssertEqual(outcome.faultNote, "injected")
    }
}
