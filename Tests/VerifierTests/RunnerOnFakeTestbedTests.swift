import Foundation
import Libvirt
import PingMonitor
import Synchronization
import XCTest
@testable import Verifier

/// A fault that only this test file knows: what it installs is a journal entry and a mark in
/// a log, so the tests see whether the runner removed it, whatever way the run ended.
final class RecordingFault: Fault {
    static let scenario = ScenarioKind(declaring: "test-recording")
    static let summary = "a test's fault that records its installation and removal"
    static let expectation = ExpectedOutcome.migrates
    /// Every install and removal of every instance, in order.
    static let log = Mutex<[String]>([])
    private let journalID = Mutex<String?>(nil)

    init() {}

    func install(_ context: FaultContext) throws(VerifierError) {
        // A link of a namespace that never exists: its removal can never act outside the test.
        let id = try context.journal.add(scenario: Self.scenario, fault: .linkDown(namespace: "migverify-test-nonexistent", interface: "mark0"))
        journalID.withLock { $0 = id }
        Self.log.withLock { $0.append("installed") }
    }

    func remove(_ context: FaultContext) {
        guard let id = journalID.withLock({ current -> String? in
            defer { current = nil }
            return current
        }) else { return }
        context.journal.strike(id)
        Self.log.withLock { $0.append("removed") }
    }

    func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? { nil }
}

/// The whole runner on ``FakeTestbed``: every phase runs, and every exit path (an error in a
/// later phase, SIGINT, the driver's timeout and stall abort, a failed install) removes what
/// the fault installed and strikes it from the journal.
final class RunnerOnFakeTestbedTests: XCTestCase {
    private var directory: URL!
    private var world: FakeWorld!
    private var interruption: Interruption!
    private var journal: FaultJournal!
    private var recorder: MemoryRecorder!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fake-testbed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        world = FakeWorld()
        interruption = Interruption()
        journal = FaultJournal(path: directory.appendingPathComponent("journal.json").path)
        recorder = MemoryRecorder()
        RecordingFault.log.withLock { $0 = [] }
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func runner(captureDirectory: String? = nil, recorder: (any RunRecorder)? = nil) throws -> ScenarioRunner {
        try ScenarioRunner(testbed: FakeTestbed(world: world), recorder: recorder ?? self.recorder, journal: journal, interruption: interruption,
                           captureDirectory: captureDirectory, catalog: FaultCatalog(FaultCatalog.standard.types + [RecordingFault.self]),
                           pauses: RunPauses(all: 0.01))
    }

    private func parameters(_ scenario: ScenarioKind) -> ScenarioParameters {
        ScenarioParameters(scenario: scenario, memoryMiB: 512, memeaterSizeMiB: 128, dirtyRateMiBPerSecond: 50,
                           endpoints: FakeTestbed(world: world).endpoints, timeoutSeconds: 2, stallTimeoutSeconds: 0.5)
    }

    private func check(_ result: ScenarioResult, _ name: String) -> Check? { result.checks.first { $0.name == name } }

    /// Nothing of perform-fail's firewall is left on either host, and the journal is empty.
    private func assertNothingLeft(file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(world.tables(on: .destination), [], "the firewall table is gone from the destination", file: file, line: line)
        XCTAssertEqual(world.tables(on: .source), [], file: file, line: line)
        XCTAssertEqual(try journal.entries(), [], "nothing left in the journal", file: file, line: line)
    }

    private var phases: [RunPhase] {
        recorder.records.compactMap { if case .phase(let phase) = $0 { return phase } else { return nil } }
    }

    func testALiveRunGoesThroughEveryPhaseAndPassesOnTheFake() throws {
        let result = try runner().run(parameters(.live))
        XCTAssertEqual(result.status, .completed)
        XCTAssertTrue(result.passed, "\(result.failedChecks)")
        XCTAssertEqual(phases, [.preparing, .installing, .migrating, .lookingAtHosts, .lookingAtGuest, .verifyingMemory, .judged])
        XCTAssertEqual(world.state.withLock { $0.guestHost }, .destination)
        XCTAssertEqual(result.figures.convergence, .converged)
        XCTAssertEqual(result.transferredBytes, 4_000, "from the completed job stats")
        XCTAssertNotNil(result.modelComparison)
        assertCheck(check(result, CheckName.noDualRunning), CheckName.noDualRunning, passed: true,
                    says: "on one host at a time: ", "0 failed reads", "0 duplicate ping replies in 100 probes")
        // The hosts' CPU, read through their shells while the call ran: the source's QEMU
        // exited with the landing, the destination's came in.
        let cpu = try XCTUnwrap(result.figures.cpuCost)
        XCTAssertNil(cpu.source.notMeasured, cpu.source.lastFailure ?? "")
        XCTAssertEqual(cpu.source.qemuProcessIDs, [4100])
        XCTAssertEqual(cpu.source.daemonProcessIDs, [3100])
        XCTAssertGreaterThan(cpu.source.qemuCPUSecondsByRole[.vcpu] ?? 0, 0)
        XCTAssertGreaterThan(cpu.source.qemuCPUSecondsByRole[.migration] ?? 0, 0)
        XCTAssertNotNil(cpu.source.exitedQEMUGoneAtMilliseconds, "the source's QEMU was found gone")
        XCTAssertEqual(cpu.destination.qemuProcessIDs, [4200], "the incoming QEMU was found")
        XCTAssertEqual(cpu.destination.failedReadCount, 0, cpu.destination.lastFailure ?? "")
        XCTAssertNotNil(cpu.source.cpuSecondsPerGiB, "per GiB of the completed stats' 4000 bytes")
        XCTAssertTrue(ReportWriter.summaryLine(result).contains("cpu fake-src "), ReportWriter.summaryLine(result))
        XCTAssertNotNil(result.figures.guestDirtyRateDuringMigrationMiBPerSecond, "memeater's counter around the call: \(result.notes)")
        // memeater's history, read after the landing: the fake guest dirties 50 MiB/s throughout.
        XCTAssertEqual(try XCTUnwrap(result.figures.guestDirtyRatePreCopyMiBPerSecond, "\(result.notes)"), 50, accuracy: 1)
        XCTAssertNotNil(result[source: .guestDirtyRatePreCopyMiBPerSecond])
    }

    /// A daemon reports every domain's events: another guest's job-completed event (an
    /// evacuation's) must not become this run's completed job stats, nor its lifecycle events this run's.
    func testAnotherDomainsEventsAreNotTakenForTheGuests() throws {
        world.state.withLock {
            $0.sourceEvents = [.jobCompleted(domainName: "another-guest", stats: JobStats(rawType: 3, fields: [
                                   "time_elapsed": .ulong(99_999), "downtime": .ulong(777), "data_processed": .ulong(1)])),
                               .lifecycle(domainName: "another-guest", kind: .suspended, rawKind: 3, detail: 1)]
        }
        let result = try runner().run(parameters(.live))
        XCTAssertTrue(result.passed, "\(result.failedChecks)")
        XCTAssertEqual(result.migrationMilliseconds, 400, "the fake domain's own completed stats, not another guest's 99999 ms")
        XCTAssertEqual(result.libvirtDowntimeMilliseconds, 20)
        let events = recorder.records.compactMap { record -> EventRecord? in if case .event(let event) = record { return event } else { return nil } }
        XCTAssertFalse(events.contains { $0.description.hasPrefix("another-guest") }, "\(events)")
    }

    func testAGuestRunningOnBothFakeHostsFailsNoDualRunningThroughTheWholeRunner() throws {
        let world = self.world!
        // The destination runs a copy from the call's start while the source still runs it.
        world.state.withLock { $0.onMigrationStart = { world.state.withLock { $0.copyRunsOn = .destination } } }
        let result = try runner().run(parameters(.live))
        XCTAssertEqual(result.status, .completed)
        XCTAssertEqual(result.failedChecks.map(\.name), [CheckName.noDualRunning], "\(result.failedChecks)")
        assertCheck(check(result, CheckName.noDualRunning), CheckName.noDualRunning, passed: false,
                    says: "the guest ran on both hosts: ", "source running (booted) → running (booted), destination running (booted)")
    }

    func testAFailedMigrationOnTheFakePassesNoDualRunning() throws {
        world.state.withLock { $0.script = .fails(message: "internal error: the fake refuses") }
        let result = try runner().run(parameters(.live))
        assertCheck(check(result, CheckName.noDualRunning), CheckName.noDualRunning, passed: true, says: "on one host at a time: ")
    }

    func testAFakeCorruptPageFailsMemoryIntegrityThroughTheWholeRunner() throws {
        world.state.withLock { $0.corruptPages = [7] }
        let result = try runner().run(parameters(.live))
        XCTAssertEqual(Set(result.failedChecks.map(\.name)), [CheckName.memoryIntegrity, CheckName.landingIntact], "\(result.failedChecks)")
        XCTAssertEqual(result.integrityErrors, 1)
    }

    func testPerformFailRemovesItsFirewallAfterTheStallAbort() throws {
        let result = try runner().run(parameters(.performFail))
        XCTAssertEqual(result.status, .completed)
        XCTAssertEqual(check(result, CheckName.faultRemoved)?.passed, true, check(result, CheckName.faultRemoved)?.evidence ?? "")
        XCTAssertEqual(check(result, CheckName.faultActed)?.passed, true, check(result, CheckName.faultActed)?.evidence ?? "")
        XCTAssertEqual(check(result, CheckName.guestOnSource)?.passed, true)
        XCTAssertTrue(world.state.withLock { $0.scripts }.contains { $0.host == .destination && $0.script == "nft -f -" }, "it was installed")
        XCTAssertEqual(world.state.withLock { $0.backgroundStarts }, [.destination], "the migration ports only: no switch-over's echoes to follow")
        XCTAssertNil(result.figures.guestAnswerDelayMilliseconds)
        try assertNothingLeft()
    }

    /// While perform-fail's firewall is in place the journal holds what was installed, typed
    /// (the table and the host), not the command that removes it (issue 24, finding 4).
    func testPerformFailJournalsATypedRecordWhileItsFirewallStands() throws {
        let journal = self.journal!
        let seen = SeenEntries()
        world.state.withLock { $0.onMigrationStart = { seen.entries.withLock { $0 = (try? journal.entries()) ?? [] } } }
        let result = try runner().run(parameters(.performFail))
        XCTAssertEqual(check(result, CheckName.faultRemoved)?.passed, true)
        let destination = JournaledHost(name: "fake-dst", access: .namespace(name: "migverify-fake-destination-nonexistent"))
        XCTAssertEqual(seen.entries.withLock { $0 }.map(\.fault), [.firewallTable(host: destination, table: PortDropFault.tableName)])
        XCTAssertEqual(seen.entries.withLock { $0 }.map(\.scenario), ["perform-fail"])
        try assertNothingLeft()
    }

    func testAnErrorAfterTheMigrationStillRemovesTheFault() throws {
        world.state.withLock { $0.failing = ["connect-after-migration"] }
        let result = try runner().run(parameters(.performFail))
        XCTAssertEqual(result.status, .setupFailed)
        XCTAssertTrue(check(result, CheckName.setup)?.evidence.contains("the fake daemon is gone") ?? false, "\(result.checks)")
        try assertNothingLeft()
    }

    func testABrokenPingCaptureStillRemovesTheFault() throws {
        world.state.withLock { $0.failing = ["ping-finish"] }
        let result = try runner().run(parameters(.performFail))
        XCTAssertEqual(result.status, .setupFailed)
        try assertNothingLeft()
    }

    func testSIGINTDuringTheMigrationAbortsItAndRemovesTheFault() throws {
        let interruption = self.interruption!
        world.state.withLock { $0.onMigrationStart = { interruption.request(SIGINT) } }
        let result = try runner().run(parameters(.performFail))
        XCTAssertEqual(result.status, .interrupted)
        XCTAssertTrue(check(result, CheckName.interrupted)?.evidence.contains("SIGINT") ?? false, "\(result.checks)")
        try assertNothingLeft()
    }

    func testAFailedInstallLeavesNothingInstalledNorJournaled() throws {
        world.state.withLock { $0.failing = ["nft-install"] }
        let result = try runner().run(parameters(.performFail))
        XCTAssertEqual(result.status, .setupFailed)
        try assertNothingLeft()
    }

    func testTheRunnerRemovesAFaultOnEveryExitPath() throws {
        let interruption = self.interruption!
        let paths: [(String, (FakeWorld) -> Void, RunStatus)] = [
            ("a completed run", { _ in }, .completed),
            ("the driver's timeout", { $0.state.withLock { $0.script = .neverCompletes } }, .completed),
            ("an error after the migration", { $0.state.withLock { $0.failing = ["connect-after-migration"] } }, .setupFailed),
            ("a failed migration call", { $0.state.withLock { $0.script = .fails(message: "internal error: the fake refuses") } }, .completed),
            ("SIGINT", { world in world.state.withLock { $0.onMigrationStart = { interruption.request(SIGINT) } } }, .interrupted),
        ]
        for (path, arrange, status) in paths {
            world = FakeWorld()
            arrange(world)
            RecordingFault.log.withLock { $0 = [] }
            let result = try runner().run(parameters(RecordingFault.scenario))
            XCTAssertEqual(result.status, status, path)
            XCTAssertEqual(RecordingFault.log.withLock { $0 }, ["installed", "removed"], path)
            XCTAssertEqual(try journal.entries(), [], path)
        }
    }

    // MARK: the guest's rate while migrated

    private var forwardObservation: Observation? {
        recorder.records.lazy.compactMap { record -> Observation? in
            if case .observation(let observation, .forward) = record { return observation } else { return nil }
        }.first
    }

    private static let counterFailure = "lab step 'memeater stats at 198.18.1.10:7070' failed: the control connection was reset"

    /// memeater's counter cannot be read once the call returned: the rate is not measured, and
    /// the stored observation and the result's notes say which read failed, where, and why.
    func testAGuestRateNotMeasuredAfterTheCallSaysWhyInTheRecordAndTheNotes() throws {
        let world = self.world!
        world.state.withLock { $0.onMigrationStart = { world.state.withLock { $0.memeaterStatsFailure = "the control connection was reset" } } }
        let result = try runner().run(parameters(.live))
        XCTAssertEqual(result.status, .completed)
        XCTAssertNil(result.figures.guestDirtyRateDuringMigrationMiBPerSecond)
        let reason = "memeater's counter could not be read right after the migration call (memeater at 198.18.1.10:7070): " + Self.counterFailure
        XCTAssertEqual(forwardObservation?.memeater.duringMigration, .notLooked(reason))
        XCTAssertTrue(result.notes.contains("the guest's dirty rate while migrated not measured: " + reason), "\(result.notes)")
    }

    func testAGuestRateNotMeasuredBeforeTheCallSaysWhichRead() throws {
        let world = self.world!
        // Failing from the migrating phase until the call starts: only the read before it fails.
        let failsWhileMigrating = TriggeringRecorder(recorder, on: .migrating) {
            world.state.withLock { $0.memeaterStatsFailure = "the control connection was reset" }
        }
        world.state.withLock { $0.onMigrationStart = { world.state.withLock { $0.memeaterStatsFailure = nil } } }
        let result = try runner(recorder: failsWhileMigrating).run(parameters(.live))
        let reason = "memeater's counter could not be read just before the migration call (memeater at 198.18.1.10:7070): " + Self.counterFailure
        XCTAssertEqual(forwardObservation?.memeater.duringMigration, .notLooked(reason))
        XCTAssertTrue(result.notes.contains("the guest's dirty rate while migrated not measured: " + reason), "\(result.notes)")
    }

    /// The rate from the two reads, or every reason it is not known.
    func testTheGuestRateComesFromBothReadsOrSaysWhyNot() {
        typealias Reading = CallWatch.CounterReading
        let before = Reading(pagesDirtied: 100, atMilliseconds: 1_000)
        let after = Reading(pagesDirtied: 356, atMilliseconds: 2_000)
        XCTAssertEqual(CallWatch.guestLoad(before: .seen(before), after: .seen(after), pageSizeBytes: 4096),
                       .seen(GuestLoadDuringMigration(pagesDirtiedBefore: 100, beforeAtMilliseconds: 1_000, pagesDirtiedAfter: 356,
                                                      afterAtMilliseconds: 2_000, pageSizeBytes: 4096)))
        let clockBefore = CallWatch.GuestClockSample(sentAtMilliseconds: 995, receivedAtMilliseconds: 1_000, guestMilliseconds: 5_000)
        let clockAfter = CallWatch.GuestClockSample(sentAtMilliseconds: 2_000, receivedAtMilliseconds: 2_004, guestMilliseconds: 5_850)
        guard case .seen(let clocked) = CallWatch.guestLoad(before: .seen(before), after: .seen(after),
                                                            clock: (.seen(clockBefore), .seen(clockAfter)), pageSizeBytes: 4096) else {
            return XCTFail("both counters read")
        }
        XCTAssertEqual(clocked.guestClock, GuestClockReadings(before: clockBefore, after: clockAfter))
        XCTAssertNil(clocked.guestClockUnreadReason)
        guard case .seen(let unclocked) = CallWatch.guestLoad(before: .seen(before), after: .seen(after),
                                                              clock: (.seen(clockBefore), .notLooked("after: reset")), pageSizeBytes: 4096) else {
            return XCTFail("both counters read")
        }
        XCTAssertNil(unclocked.guestClock, "the guest's clock not read after the call: no lag")
        XCTAssertNil(unclocked.guestClockLag)
        XCTAssertEqual(unclocked.guestClockMissingReason, "after: reset", "why not, as the read said")
        XCTAssertEqual(CallWatch.guestLoad(before: .notLooked("before: broken"), after: .seen(after), pageSizeBytes: 4096),
                       .notLooked("before: broken"))
        XCTAssertEqual(CallWatch.guestLoad(before: .seen(before), after: .notLooked("after: broken"), pageSizeBytes: 4096),
                       .notLooked("after: broken"))
        XCTAssertEqual(CallWatch.guestLoad(before: .notLooked("before: broken"), after: .notLooked("after: broken"), pageSizeBytes: 4096),
                       .notLooked("before: broken; after: broken"))
        XCTAssertEqual(CallWatch.guestLoad(before: .seen(before), after: nil, pageSizeBytes: 4096),
                       .notLooked("memeater's counter was not read after the call: the migration did not land"))
    }

    /// The host's time between the two reads is between the later request's sending less the
    /// earlier reply's arrival and the later reply's arrival less the earlier request's sending;
    /// the guest's clock counted 850 ms of it.
    func testTheGuestClockLagIsTheHostsTimeBetweenTheReadsLessTheGuestsWithinTheRoundTrips() throws {
        let load = GuestLoadDuringMigration(
            pagesDirtiedBefore: 100, beforeAtMilliseconds: 1_000, pagesDirtiedAfter: 356, afterAtMilliseconds: 2_004, pageSizeBytes: 4096,
            guestClock: GuestClockReadings(beforeSentAtMilliseconds: 995, beforeReceivedAtMilliseconds: 1_000, guestBeforeMilliseconds: 5_000,
                                           afterSentAtMilliseconds: 2_000, afterReceivedAtMilliseconds: 2_004, guestAfterMilliseconds: 5_850))
        let lag = try XCTUnwrap(load.guestClockLag)
        XCTAssertEqual(lag.lowerBoundMilliseconds, 150, accuracy: 1e-9)
        XCTAssertEqual(lag.upperBoundMilliseconds, 159, accuracy: 1e-9)
        XCTAssertEqual(lag.estimateMilliseconds, 154.5, accuracy: 1e-9)
    }

    /// Of three reads the one with the shortest round trip bounds the guest's clock closest:
    /// right after a landing the first request may wait for TCP's retransmission.
    func testTheGuestsClockIsTakenFromTheReadWithTheShortestRoundTrip() throws {
        world.state.withLock { $0.clockedReplyDelaysMilliseconds = [400, 0, 200] }
        guard case .seen(let sample) = CallWatch.readGuestClock(FakeMemeater(world: world), clock: RunClock(), when: "now") else {
            return XCTFail("three reads, each with the clock")
        }
        XCTAssertLessThan(sample.roundTripMilliseconds, 200, "the second read, not the first or the last")
        world.state.withLock { $0.guestClockStopMilliseconds = nil }
        XCTAssertEqual(CallWatch.readGuestClock(FakeMemeater(world: world), clock: RunClock(), when: "now"),
                       .notLooked("memeater's stats replies now did not say the guest's clock (a memeater older than guestMonotonicNanoseconds)"))
        world.state.withLock { $0.memeaterStatsFailure = "reset" }
        guard case .notLooked(let failed) = CallWatch.readGuestClock(FakeMemeater(world: world), clock: RunClock(), when: "now") else {
            return XCTFail("a failed read")
        }
        XCTAssertTrue(failed.hasPrefix("memeater's clock could not be read now (memeater at 198.18.1.10:7070): ") && failed.contains("reset"), failed)
    }

    /// memeater's history is kept between the two instants asked; a history that starts after
    /// the call, or a memeater without `history`, is no history, and says why.
    func testTheHistoryIsCutToTheCallOrSaysWhyNot() throws {
        let memeater = FakeMemeater(world: world)
        // The fake's history grows with its clock: wait (bounded by a count of polls) for its sample at 1 000 100 ms.
        var reached = false
        for _ in 0..<10_000 where !reached {
            reached = (try memeater.history().last?.guestMonotonicNanoseconds ?? 0) >= 1_000_100_000_000
            if !reached { usleep(1_000) }
        }
        guard reached else { return XCTFail("the fake's history never reached its sample at 1 000 100 ms") }
        guard case .seen(let kept) = CallWatch.readHistory(memeater, fromGuestMilliseconds: 1_000_050, toGuestMilliseconds: 1_000_150) else {
            return XCTFail("the fake's history starts at 1 000 000 ms of the guest's clock")
        }
        XCTAssertEqual(kept.map(\.guestMonotonicNanoseconds), [1_000_100_000_000])
        guard case .notLooked(let late) = CallWatch.readHistory(memeater, fromGuestMilliseconds: 998_000, toGuestMilliseconds: 1_000_150) else {
            return XCTFail("a history that starts a second after the call")
        }
        XCTAssertTrue(late.hasPrefix("memeater's counter history does not reach back to the call"), late)
        world.state.withLock { $0.guestClockStopMilliseconds = nil }
        guard case .notLooked(let refused) = CallWatch.readHistory(memeater, fromGuestMilliseconds: 0, toGuestMilliseconds: 1) else {
            return XCTFail("a memeater without history")
        }
        XCTAssertTrue(refused.hasPrefix("memeater's counter history could not be read after the landing (memeater at 198.18.1.10:7070): ")
                      && refused.contains("unknown command"), refused)
    }

    /// A live run on the fake testbed whose guest clock stood still 120 ms while it moved: the
    /// lag is measured from memeater's two replies and stored with its bounds.
    func testALiveRunMeasuresHowLongTheGuestsClockStoodStill() throws {
        world.state.withLock { $0.guestClockStopMilliseconds = 120 }
        let result = try runner().run(parameters(.live))
        let lower = try XCTUnwrap(result.figures.guestClockLagLowerBoundMilliseconds)
        let upper = try XCTUnwrap(result.figures.guestClockLagUpperBoundMilliseconds)
        XCTAssertLessThanOrEqual(lower, 120 + 1e-6)
        XCTAssertGreaterThanOrEqual(upper, 120 - 1e-6)
        XCTAssertTrue(result.notes.contains { $0.hasPrefix("the guest's clock stood still ") }, "\(result.notes)")

        world.state.withLock { $0.guestClockStopMilliseconds = nil; $0.guestHost = .source }
        let unsaid = try runner().run(parameters(.live))
        XCTAssertNil(unsaid.figures.guestClockLagLowerBoundMilliseconds)
        XCTAssertNil(unsaid.figures.guestDirtyRatePreCopyMiBPerSecond)
        XCTAssertTrue(unsaid.notes.contains { $0.hasPrefix("the guest's dirty rate during the pre-copy passes not measured: ") }, "\(unsaid.notes)")
        XCTAssertTrue(unsaid.notes.contains { $0.hasPrefix("the guest's clock across the migration not measured: ") }, "\(unsaid.notes)")
    }

    // MARK: the wire

    private func tlsParameters(_ scenario: ScenarioKind = .live) -> ScenarioParameters {
        var parameters = self.parameters(scenario)
        parameters.migration.tls = true
        return parameters
    }

    func testATLSRunIsJudgedOnWhatTheDestinationsMigrationPortsSaw() throws {
        world.state.withLock { $0.streamCapture = WireFixtures.tlsMigration().bytes }
        let encrypted = try runner().run(tlsParameters())
        XCTAssertTrue(encrypted.passed, "\(encrypted.failedChecks)")
        assertCheck(check(encrypted, CheckName.streamEncrypted), CheckName.streamEncrypted, passed: true,
                    says: "3 connections to TCP 49152-49215 on fake-dst carried data, each began with a TLS handshake")
        XCTAssertEqual(world.state.withLock { $0.backgroundStarts }, [.destination, .destination], "tcpdump ran on the destination, twice")
        XCTAssertEqual(world.state.withLock { $0.backgroundStops }, [.destination, .destination])
        var echoes = StreamCaptureSettings()
        echoes.guestAddress = try XCTUnwrap(IPAddress(tlsParameters().endpoints.guestAddress))
        XCTAssertTrue(echoes.hostScript.contains("'host \(tlsParameters().endpoints.guestAddress) and (icmp or icmp6)'"), echoes.hostScript)
        XCTAssertEqual(world.state.withLock { $0.scripts }.filter { $0.host == .destination && $0.script.contains("exec tcpdump") }.map(\.script),
                       [StreamCaptureSettings().hostScript, echoes.hostScript], "the migration ports, then the guest's echoes")
        XCTAssertEqual(encrypted.figures.guestAnswerDelayMilliseconds, 20, "the fake's echoes: a reply 20 ms after the probe")

        world = FakeWorld()
        let clear = try runner().run(tlsParameters())
        XCTAssertEqual(clear.failedChecks.map(\.name), [CheckName.streamEncrypted], "\(clear.failedChecks)")
        assertCheck(check(clear, CheckName.streamEncrypted), CheckName.streamEncrypted, passed: false,
                    says: "in clear: QEVM on 198.18.0.1:41234→198.18.0.2:49152")
    }

    func testATLSRunWhoseCaptureCouldNotRunFailsAsNotMeasured() throws {
        world.state.withLock { $0.tcpdumpFails = StreamCaptureSettings.missingMarker }
        let result = try runner().run(tlsParameters())
        XCTAssertEqual(result.failedChecks.map(\.name), [CheckName.streamEncrypted], "\(result.failedChecks)")
        assertCheck(check(result, CheckName.streamEncrypted), CheckName.streamEncrypted, passed: false,
                    says: "not measured: could not look at the wire: tcpdump is not installed on fake-dst")
    }

    func testARunWithoutTLSNotesItsStreamAndKeepsTheCaptureBesideThePings() throws {
        let result = try runner(captureDirectory: directory.path).run(parameters(.live))
        XCTAssertTrue(result.passed, "\(result.failedChecks)")
        XCTAssertNil(check(result, CheckName.streamEncrypted))
        XCTAssertTrue(result.notes.contains("stream in clear: QEVM on 198.18.0.1:41234→198.18.0.2:49152 (1026 bytes sent)"), "\(result.notes)")
        let path = try XCTUnwrap(result.figures.migrationPortsCapturePath)
        XCTAssertTrue(path.hasPrefix(directory.path + "/") && path.hasSuffix("-live-512MiB-50MiBps-initramfs-migration-ports.pcap"), path)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data(WireFixtures.plainMigration().bytes))
        let echoes = try XCTUnwrap(result.figures.destinationEchoesCapturePath)
        XCTAssertTrue(echoes.hasPrefix(directory.path + "/") && echoes.hasSuffix("-live-512MiB-50MiBps-initramfs-destination-echoes.pcap"), echoes)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: echoes)), Data(WireFixtures.guestAnswering(after: 20_000).bytes))
    }

    func testACaptureNotKeptLeavesNoFile() throws {
        let result = try runner().run(parameters(.live))
        XCTAssertNil(result.figures.migrationPortsCapturePath)
        XCTAssertNil(result.figures.destinationEchoesCapturePath)
        // The files this run's captures wrote, not a listing of the shared temporary directory
        // (other test processes may be capturing at the same time).
        let written = world.state.withLock { $0.backgroundOutputPaths }
        XCTAssertEqual(written.count, 2, "\(written)")
        XCTAssertTrue(written[0].hasSuffix("-migration-ports.pcap") && written[1].hasSuffix("-destination-echoes.pcap"), "\(written)")
        XCTAssertEqual(written.filter { FileManager.default.fileExists(atPath: $0) }, [])
    }

    func testTheCaptureIsStoppedOnEveryExitPath() throws {
        let interruption = self.interruption!
        let paths: [(String, (FakeWorld) -> Void)] = [
            ("a completed run", { _ in }),
            ("the driver's timeout", { $0.state.withLock { $0.script = .neverCompletes } }),
            ("an error after the migration", { $0.state.withLock { $0.failing = ["connect-after-migration"] } }),
            ("a failed migration call", { $0.state.withLock { $0.script = .fails(message: "internal error: the fake refuses") } }),
            ("a capture that could not run", { $0.state.withLock { $0.tcpdumpFails = "tcpdump: any: permission denied" } }),
            ("SIGINT", { world in world.state.withLock { $0.onMigrationStart = { interruption.request(SIGINT) } } }),
        ]
        for (path, arrange) in paths {
            world = FakeWorld()
            arrange(world)
            _ = try runner().run(tlsParameters(RecordingFault.scenario))
            let (starts, stops) = world.state.withLock { ($0.backgroundStarts, $0.backgroundStops) }
            XCTAssertEqual(starts, [.destination, .destination], path)
            XCTAssertEqual(stops, [.destination, .destination], path)
        }
    }

    func testARunThatFailsBeforeTheFaultIsInstalledInstallsNothing() throws {
        interruption.request(SIGTERM)
        let result = try runner().run(parameters(RecordingFault.scenario))
        XCTAssertEqual(result.status, .interrupted)
        XCTAssertEqual(RecordingFault.log.withLock { $0 }, [])
    }

    /// The runner's files name no scenario and branch on no fault type: what a scenario does
    /// is its fault's.
    func testTheRunnerNamesNoScenario() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/Verifier").standardized
        let scenarioNames = ScenarioKind.allCases.map { NSRegularExpression.escapedPattern(for: "\"\($0.rawValue)\"") }
        let pattern = try NSRegularExpression(pattern: #"\.(live|prepareFail|performFail|abort|linkCut|guestLinkCut|dstQEMUKilled|dstAlreadyActive)\b(?!\()"#
            + "|" + scenarioNames.joined(separator: "|") + #"|Fault\.self\s*=="#)
        for file in ["Runner/ScenarioRunner.swift", "Runner/RunPhases.swift", "Runner/CallWatch.swift", "Runner/Gathering.swift",
                     "Core/ResultBuilder.swift"] {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            let found = pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { Range($0.range, in: text).map { text[$0] } }
            XCTAssertEqual(found, [], "\(file) names a scenario")
        }
    }
}

/// Hands every record to `recorder` and runs `action` when `phase` is recorded (the first
/// time only): a test's way to change the fake world at a given phase of a run.
final class TriggeringRecorder: RunRecorder {
    private let recorder: any RunRecorder
    private let trigger: RunPhase
    private let action: Mutex<(@Sendable () -> Void)?>

    init(_ recorder: any RunRecorder, on phase: RunPhase, action: @escaping @Sendable () -> Void) {
        self.recorder = recorder
        trigger = phase
        self.action = Mutex(action)
    }

    func begin(_ parameters: ScenarioParameters, clock: RunClock) { recorder.begin(parameters, clock: clock) }

    func record(_ record: RunRecord) {
        recorder.record(record)
        if case .phase(let phase) = record, phase == trigger {
            action.withLock { action -> (@Sendable () -> Void)? in
                defer { action = nil }
                return action
            }?()
        }
    }

    func finish(_ result: ScenarioResult) -> ScenarioResult { recorder.finish(result) }
}

/// Journal entries seen from inside a run.
private final class SeenEntries: Sendable {
    let entries = Mutex<[FaultJournalEntry]>([])
}
