import Foundation
import Synchronization
import XCTest
@testable import Verifier

/// A fake migration that records when each guest's started and ended, and the most that ran
/// at once: the scheduler's limit is read off what actually overlapped. Each guest holds its
/// slot until every guest of its batch of `batch` (guests 0..<batch, batch..<2·batch, …) has
/// started, so guests that may overlap do, whatever the machine's load.
private final class OverlapRecorder: @unchecked Sendable {
    struct State {
        var running = 0
        var started = 0
        var mostAtOnce = 0
        var spans: [Int: (start: Int, end: Int)] = [:]
        var tick = 0
    }
    private let condition = NSCondition()
    private var current = State()
    private let batch: Int
    private let total: Int

    init(batch: Int, total: Int) {
        self.batch = batch
        self.total = total
    }

    var state: State {
        condition.lock()
        defer { condition.unlock() }
        return current
    }

    /// Migrates guest `index`: holds a slot until its batch has started (10 s at most: a
    /// scheduler that never starts them fails the test's assertions, not the test run).
    func migrate(_ index: Int) -> Int {
        condition.lock()
        current.running += 1
        current.started += 1
        current.mostAtOnce = max(current.mostAtOnce, current.running)
        current.tick += 1
        current.spans[index] = (current.tick, -1)
        condition.broadcast()
        let batchStarted = min(total, (index / batch + 1) * batch)
        let deadline = Date().addingTimeInterval(10)
        while current.started < batchStarted, condition.wait(until: deadline) {}
        current.running -= 1
        current.tick += 1
        let ended = current.tick
        current.spans[index]?.end = ended
        condition.unlock()
        return index * 10
    }
}

final class EvacuationSchedulerTests: XCTestCase {
    func testAtMostKRunAtOnceAndAllRun() throws {
        let recorder = OverlapRecorder(batch: 2, total: 5)
        let values = try EvacuationScheduler(maxConcurrent: 2).run(count: 5) { recorder.migrate($0) }
        XCTAssertEqual(values, [0, 10, 20, 30, 40], "every guest ran, results in guest order")
        let state = recorder.state
        XCTAssertEqual(state.mostAtOnce, 2, "two at a time: never more, and the slots were used")
        XCTAssertEqual(state.spans.count, 5)
        XCTAssertTrue(state.spans.values.allSatisfy { $0.end > $0.start })
    }

    func testOneAtATimeIsSerial() throws {
        let recorder = OverlapRecorder(batch: 1, total: 3)
        _ = try EvacuationScheduler(maxConcurrent: 1).run(count: 3) { recorder.migrate($0) }
        let state = recorder.state
        XCTAssertEqual(state.mostAtOnce, 1)
        // Guest 2 started only after guest 1 ended, guest 3 after guest 2.
        for index in 1..<3 {
            XCTAssertGreaterThan(try XCTUnwrap(state.spans[index]).start, try XCTUnwrap(state.spans[index - 1]).end)
        }
    }

    func testAllAtOnceOverlap() throws {
        let recorder = OverlapRecorder(batch: 4, total: 4)
        _ = try EvacuationScheduler(maxConcurrent: 4).run(count: 4) { recorder.migrate($0) }
        let state = recorder.state
        XCTAssertEqual(state.mostAtOnce, 4, "K = N: every guest migrates at once")
        let latestStart = state.spans.values.map(\.start).max() ?? 0
        let earliestEnd = state.spans.values.map(\.end).min() ?? 0
        XCTAssertLessThan(latestStart, earliestEnd, "the last started before the first ended")
    }

    func testNoGuestsAndInvalidLimit() throws {
        XCTAssertEqual(try EvacuationScheduler(maxConcurrent: 3).run(count: 0) { $0 }, [])
        XCTAssertThrowsError(try EvacuationScheduler(maxConcurrent: 0))
    }
}

final class EvacuationFiguresTests: XCTestCase {
    private let origin = Date(timeIntervalSince1970: 1_800_000_000)

    private func guest(_ index: Int, startMilliseconds: Double, endMilliseconds: Double, downtime: Double?, landed: Bool = true,
                       ports: [Int] = []) -> EvacuationGuestTiming {
        EvacuationGuestTiming(guestIndex: index, landed: landed, passed: landed,
                              migrationStart: origin.addingTimeInterval(startMilliseconds / 1000),
                              migrationEnd: origin.addingTimeInterval(endMilliseconds / 1000),
                              downtimeMilliseconds: downtime, migrationPorts: ports)
    }

    /// Worked by hand: calls 100→1100, 150→2150, 300→1800 and 200→5200 (guest 4 failed).
    /// Landed times 1000, 2000, 1500 → median 1500, worst 2000, sum 4500; total 100→2150 = 2050;
    /// speedup 4500 / 2050; downtimes 30, 50, 10 → median 30, worst 50 (the failed guest's
    /// 900 is not a landing's downtime); ports 49152, 49153, 49154 (49153 twice).
    func testHandComputedEvacuation() {
        let figures = EvacuationFigures([
            guest(1, startMilliseconds: 100, endMilliseconds: 1100, downtime: 30, ports: [49152]),
            guest(2, startMilliseconds: 150, endMilliseconds: 2150, downtime: 50, ports: [49153]),
            guest(3, startMilliseconds: 300, endMilliseconds: 1800, downtime: 10, ports: [49154, 49153]),
            guest(4, startMilliseconds: 200, endMilliseconds: 5200, downtime: 900, landed: false, ports: []),
        ])
        XCTAssertEqual(figures.guestCount, 4)
        XCTAssertEqual(figures.landedCount, 3)
        XCTAssertEqual(figures.passedCount, 3)
        XCTAssertEqual(try XCTUnwrap(figures.totalMilliseconds), 2050, accuracy: 0.01)
        XCTAssertEqual(try XCTUnwrap(figures.migrationMillisecondsMedian), 1500, accuracy: 0.01)
        XCTAssertEqual(try XCTUnwrap(figures.migrationMillisecondsWorst), 2000, accuracy: 0.01)
        XCTAssertEqual(try XCTUnwrap(figures.serialSumMilliseconds), 4500, accuracy: 0.01)
        XCTAssertEqual(try XCTUnwrap(figures.speedup), 4500.0 / 2050.0, accuracy: 1e-6)
        XCTAssertEqual(figures.downtimeMillisecondsMedian, 30)
        XCTAssertEqual(figures.downtimeMillisecondsWorst, 50)
        XCTAssertEqual(figures.migrationPorts, [49152, 49153, 49154])
        XCTAssertEqual(figures.peakConcurrentMigrations, 4, "all four calls run from 300 to 1100 ms")
    }

    /// Calls 0→1000 and 1000→2000 touch but do not overlap; a third 500→1500 overlaps both
    /// (2 at once, never 3); a call that never returned is not counted.
    func testPeakConcurrencyCountsOverlappingCallsOnly() {
        let serial = EvacuationFigures([guest(1, startMilliseconds: 0, endMilliseconds: 1000, downtime: 20),
                                        guest(2, startMilliseconds: 1000, endMilliseconds: 2000, downtime: 20)])
        XCTAssertEqual(serial.peakConcurrentMigrations, 1)
        XCTAssertTrue(serial.summaryLines.contains { $0.contains("at most 1 migrating at once") }, "\(serial.summaryLines)")
        let chained = EvacuationFigures([guest(1, startMilliseconds: 0, endMilliseconds: 1000, downtime: 20),
                                         guest(2, startMilliseconds: 1000, endMilliseconds: 2000, downtime: 20),
                                         guest(3, startMilliseconds: 500, endMilliseconds: 1500, downtime: 20)])
        XCTAssertEqual(chained.peakConcurrentMigrations, 2)
        var unreturned = guest(2, startMilliseconds: 0, endMilliseconds: 1000, downtime: 20)
        unreturned.migrationEnd = nil
        XCTAssertEqual(EvacuationFigures([guest(1, startMilliseconds: 0, endMilliseconds: 1000, downtime: 20), unreturned]).peakConcurrentMigrations, 1)
        XCTAssertEqual(EvacuationFigures([]).peakConcurrentMigrations, 0)
    }

    func testEvenCountMedianAndNoLanding() {
        let two = EvacuationFigures([
            guest(1, startMilliseconds: 0, endMilliseconds: 1000, downtime: 20),
            guest(2, startMilliseconds: 0, endMilliseconds: 3000, downtime: 40),
        ])
        XCTAssertEqual(two.migrationMillisecondsMedian, 2000)
        XCTAssertEqual(two.downtimeMillisecondsMedian, 30)
        XCTAssertEqual(two.speedup, 4000.0 / 3000.0)

        let none = EvacuationFigures([guest(1, startMilliseconds: 0, endMilliseconds: 1000, downtime: 20, landed: false)])
        XCTAssertEqual(none.landedCount, 0)
        XCTAssertNil(none.totalMilliseconds)
        XCTAssertNil(none.serialSumMilliseconds)
        XCTAssertNil(none.speedup)
        XCTAssertNil(none.downtimeMillisecondsWorst)
    }

    /// Each guest's call is read on its own run clock and placed by its `startedAt`.
    func testTimingFromResult() throws {
        let endpoints = Endpoints(sourceURI: "a", destinationURI: "b", domainName: "lab-guest-2", guestAddress: "198.18.1.12", captureInterface: "up0")
        var result = ScenarioResult(parameters: ScenarioParameters(scenario: .live, memoryMiB: 512, memeaterSizeMiB: 128, dirtyRateMiBPerSecond: 10,
                                                                   endpoints: endpoints),
                                    accel: "kvm", qemuVersion: "x", libvirtVersion: "y", startedAt: origin)
        result.figures.migrationStartOffsetMilliseconds = 500
        result.figures.migrationEndOffsetMilliseconds = 1750
        result.pingDowntimeMilliseconds = 42
        result.add(Check(name: CheckName.guestOnDestination, passed: true, evidence: "runs"))
        result.evacuation = EvacuationMembership(evacuationID: "evac-x", guestIndex: 2, guestCount: 3, migrationPorts: [49160])
        let timing = EvacuationGuestTiming(result)
        XCTAssertEqual(timing.guestIndex, 2)
        XCTAssertTrue(timing.landed)
        XCTAssertEqual(timing.migrationStart, origin.addingTimeInterval(0.5))
        XCTAssertEqual(try XCTUnwrap(timing.migrationMilliseconds), 1250, accuracy: 0.01)
        XCTAssertEqual(timing.downtimeMilliseconds, 42)
        XCTAssertEqual(timing.migrationPorts, [49160])
        result.checks = [Check(name: CheckName.guestOnDestination, passed: false, evidence: "gone")]
        XCTAssertFalse(EvacuationGuestTiming(result).landed)
    }

    /// A one-guest result's JSON has no `evacuation` key: the single-guest contract is unchanged.
    func testOneGuestJSONHasNoEvacuationKey() throws {
        let endpoints = Endpoints(sourceURI: "a", destinationURI: "b", domainName: "lab-guest", guestAddress: "198.18.1.12", captureInterface: "up0")
        var result = ScenarioResult(parameters: ScenarioParameters(scenario: .live, memoryMiB: 512, memeaterSizeMiB: 128, dirtyRateMiBPerSecond: 10,
                                                                   endpoints: endpoints),
                                    accel: "kvm", qemuVersion: "x", libvirtVersion: "y", startedAt: origin)
        let plain = String(decoding: try resultsJSONEncoder().encode(result), as: UTF8.self)
        XCTAssertFalse(plain.contains("evacuation"))
        result.evacuation = EvacuationMembership(evacuationID: "evac-x", guestIndex: 1, guestCount: 2)
        let data = try resultsJSONEncoder().encode(result)
        XCTAssertEqual(try resultsJSONDecoder().decode(ScenarioResult.self, from: data).evacuation, result.evacuation)
    }
}

/// Each guest's run is stored as a run of its own, tied to the others by the evacuation id.
final class EvacuationStoreTests: XCTestCase {
    private var path: String!

    override func setUpWithError() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("evacuation-\(UUID().uuidString).sqlite").path
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: path)
    }

    func testRunsOfAnEvacuationAreFoundInGuestOrderAndOthersAreNot() throws {
        let store = try ResultsStore(path: path)
        let alone = try store.beginRun(Fixtures.parameters(rate: 1))
        // Guest 2 starts before guest 1 (the scheduler's order is not the stored order).
        let second = try store.beginRun(Fixtures.parameters(rate: 2), evacuation: EvacuationMembership(evacuationID: "evac-a", guestIndex: 2, guestCount: 2))
        let first = try store.beginRun(Fixtures.parameters(rate: 3), evacuation: EvacuationMembership(evacuationID: "evac-a", guestIndex: 1, guestCount: 2))
        _ = try store.beginRun(Fixtures.parameters(rate: 4), evacuation: EvacuationMembership(evacuationID: "evac-b", guestIndex: 1, guestCount: 1))
        var result = Fixtures.result(checks: [])
        result.evacuation = EvacuationMembership(evacuationID: "evac-a", guestIndex: 1, guestCount: 2, migrationPorts: [49152])
        try store.finishRun(first, result: result)

        let runs = try store.runs(evacuationID: "evac-a")
        XCTAssertEqual(runs.map(\.id), [first, second])
        XCTAssertEqual(runs.map(\.guestIndex), [1, 2])
        XCTAssertEqual(runs.first?.result?.evacuation?.migrationPorts, [49152], "the membership is in the stored result too")
        XCTAssertEqual(try store.run(id: alone)?.evacuationID, nil)
        XCTAssertEqual(try store.runs(evacuationID: "evac-none"), [])
        XCTAssertEqual(try store.scalar("SELECT COUNT(*) FROM scenarioRun WHERE evacuationId = 'evac-b' AND guestIndex = 1"), 1)
    }

    func testTheStoreRecorderMarksEachRunWithItsGuest() throws {
        let store = try ResultsStore(path: path)
        let membership = EvacuationMembership(evacuationID: "evac-r", guestIndex: 3, guestCount: 3)
        let recorder = StoreRecorder(store: store, evacuation: membership)
        recorder.begin(Fixtures.parameters(), clock: RunClock())
        _ = recorder.finish(Fixtures.result(checks: []))
        XCTAssertEqual(try store.runs(evacuationID: "evac-r").map(\.guestIndex), [3])
    }
}

/// Whole evacuations on the fake testbed: each guest a world of its own (its domain, its
/// address, its ping and memeater), every guest's run checked as a one-guest run is.
final class EvacuationOnFakeTestbedTests: XCTestCase {
    private var directory: URL!
    private var worlds: [FakeWorld] = []
    private var journal: FaultJournal!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fake-evacuation-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        journal = FaultJournal(path: directory.appendingPathComponent("journal.json").path)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// An evacuation of `plan`'s guests, each in a world of its own, or all in one (`oneWorld`:
    /// the hosts' firewalls are then shared, as on real hosts).
    private func evacuation(_ plan: EvacuationPlan, oneWorld: Bool = false,
                            recorder: (@Sendable (EvacuationMembership) -> any RunRecorder)? = nil) throws -> EvacuationRunner {
        let shared = FakeWorld()
        worlds = (0..<plan.guestCount).map { _ in oneWorld ? shared : FakeWorld() }
        return try EvacuationRunner(plan: plan, guests: worlds.enumerated().map { FakeTestbed(world: $1, guest: $0 + 1) },
                                    recorder: recorder ?? { _ in MemoryRecorder() }, journal: journal, interruption: Interruption(),
                                    pauses: RunPauses(all: 0.01))
    }

    private func parameters(_ scenario: ScenarioKind) -> ScenarioParameters {
        ScenarioParameters(scenario: scenario, memoryMiB: 512, memeaterSizeMiB: 128, dirtyRateMiBPerSecond: 50,
                           endpoints: FakeTestbed(world: FakeWorld()).endpoints, timeoutSeconds: 2, stallTimeoutSeconds: 0.5)
    }

    private func check(_ result: ScenarioResult, _ name: String) -> Check? { result.checks.first { $0.name == name } }

    /// When guest 2's migration starts, its destination holds guests 1 and 3 with their taps
    /// (vnet1, vnet3), and `also` changes its world further.
    private func whenGuest2Migrates(also: @escaping @Sendable (inout FakeWorld.State) -> Void) {
        let faulted = worlds[1]
        faulted.state.withLock {
            $0.onMigrationStart = {
                faulted.state.withLock {
                    $0.otherGuestsOnDestination = ["fake-guest-1": "vnet1", "fake-guest-3": "vnet3"]
                    also(&$0)
                }
            }
        }
    }

    func testThreeGuestsLiveAtOnceEachLandAndPass() throws {
        let evacuation = try self.evacuation(EvacuationPlan(guestCount: 3))
        let outcome = try evacuation.run(parameters(.live), evacuationID: "evac-test")
        XCTAssertEqual(outcome.results.count, 3)
        for (offset, result) in outcome.results.enumerated() {
            XCTAssertTrue(result.passed, "guest \(offset + 1): \(result.failedChecks)")
            XCTAssertEqual(result.evacuation, EvacuationMembership(evacuationID: "evac-test", guestIndex: offset + 1, guestCount: 3,
                                                                   migrationPorts: [49152]))
            XCTAssertEqual(result.parameters.endpoints.domainName, "fake-guest-\(offset + 1)")
            XCTAssertEqual(result.parameters.endpoints.guestAddress, "198.18.1.\(11 + offset)")
            XCTAssertEqual(worlds[offset].state.withLock { $0.guestHost }, .destination, "guest \(offset + 1) landed")
        }
        XCTAssertTrue(outcome.passed)
        XCTAssertEqual(outcome.figures.landedCount, 3)
        XCTAssertEqual(outcome.figures.migrationPorts, [49152], "the fake's capture shows one stream to 49152")
        XCTAssertNotNil(outcome.figures.totalMilliseconds)
        // All at once: the three calls overlapped.
        let timings = outcome.results.map(EvacuationGuestTiming.init)
        let latestStart = try XCTUnwrap(timings.compactMap(\.migrationStart).max())
        let earliestEnd = try XCTUnwrap(timings.compactMap(\.migrationEnd).min())
        XCTAssertLessThan(latestStart, earliestEnd, "K = N: every call started before the first returned")
    }

    /// Guest 3 takes a second longer to prepare than the others (a guest that boots): the
    /// first two wait for it at the start line, so all three calls still run at once.
    func testGuestsPreparedAtDifferentTimesStartTheirCallsTogether() throws {
        let evacuation = try self.evacuation(EvacuationPlan(guestCount: 3))
        worlds[2].state.withLock { $0.prepareSeconds = 1.5 }
        let outcome = try evacuation.run(parameters(.live))
        XCTAssertTrue(outcome.passed, "\(outcome.results.map(\.failedChecks))")
        XCTAssertEqual(outcome.figures.peakConcurrentMigrations, 3, "the calls overlapped although guest 3 was ready last")
    }

    func testTheStartLineWaitsForTheBatchOnlyAndNotForAGuestThatEnded() {
        // Its own timeout far beyond the wait below: only guest 2's end may release guest 1.
        let line = EvacuationStartLine(batchSize: 2, timeoutSeconds: 600)
        XCTAssertNil(line.ready(guest: 3), "a guest after the first batch starts at once")
        let releasedAt = Mutex<Date?>(nil)
        let released = DispatchSemaphore(value: 0)
        let first = Thread {
            _ = line.ready(guest: 1)
            releasedAt.withLock { $0 = Date() }
            released.signal()
        }
        first.start()
        XCTAssertEqual(released.wait(timeout: .now() + 0.5), .timedOut, "guest 1 waits for guest 2")
        let goneAt = Date()
        line.gone(guest: 2)
        XCTAssertEqual(released.wait(timeout: .now() + 60), .success, "guest 2's end releases guest 1")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(releasedAt.withLock { $0 }), goneAt, "released by guest 2's end")
        XCTAssertNil(line.ready(guest: 1), "once through, a second leg does not wait")
        let interrupted = EvacuationStartLine(batchSize: 2, timeoutSeconds: 60).ready(guest: 1) { true }
        XCTAssertTrue(interrupted?.contains("without guest(s) 2 of the evacuation (interrupted)") ?? false, interrupted ?? "nil")
        let timedOut = EvacuationStartLine(batchSize: 3, timeoutSeconds: 0.3).ready(guest: 2)
        XCTAssertTrue(timedOut?.contains("without guest(s) 1, 3 of the evacuation, not ready within 0 s") ?? false, timedOut ?? "nil")
    }

    func testOneAtATimeTheCallsDoNotOverlap() throws {
        let outcome = try evacuation(EvacuationPlan(guestCount: 3, maxConcurrent: 1)).run(parameters(.live))
        XCTAssertTrue(outcome.passed, "\(outcome.results.map(\.failedChecks))")
        let timings = outcome.results.map(EvacuationGuestTiming.init)
        for index in 1..<3 {
            XCTAssertGreaterThanOrEqual(try XCTUnwrap(timings[index].migrationStart), try XCTUnwrap(timings[index - 1].migrationEnd))
        }
        XCTAssertGreaterThan(try XCTUnwrap(outcome.figures.totalMilliseconds), try XCTUnwrap(outcome.figures.serialSumMilliseconds) * 0.99)
    }

    /// The fault on guest 2 of 3: it stays on the source and passes its failure checks, the
    /// others land live beside it and pass.
    func testAFaultOnOneGuestLeavesItOnTheSourceAndTheOthersLand() throws {
        let evacuation = try self.evacuation(EvacuationPlan(guestCount: 3, faultGuest: 2))
        // The failed guest's destination also holds the others, landed or coming in, and their taps.
        whenGuest2Migrates { $0.otherGuestsListeningOnDestination = ["fake-guest-3": 49153] }
        let outcome = try evacuation.run(parameters(.prepareFail))
        XCTAssertEqual(outcome.results.map(\.parameters.scenario), [.live, .prepareFail, .live])
        XCTAssertEqual(worlds.map { $0.state.withLock { $0.guestHost } }, [.destination, .source, .destination])
        for result in outcome.results { XCTAssertTrue(result.passed, "\(result.parameters.endpoints.domainName): \(result.failedChecks)") }
        XCTAssertEqual(check(outcome.results[1], CheckName.guestOnSource)?.passed, true)
        let clean = try XCTUnwrap(check(outcome.results[1], CheckName.destinationHostClean))
        XCTAssertTrue(clean.passed, clean.evidence)
        XCTAssertTrue(clean.evidence.contains("besides the evacuation's other guests' vnet1, vnet3"), clean.evidence)
        let port = try XCTUnwrap(check(outcome.results[1], CheckName.migrationPortFree))
        XCTAssertTrue(port.passed, port.evidence)
        XCTAssertTrue(port.evidence.contains("besides the evacuation's other guests' QEMUs on 49153"), port.evidence)
        XCTAssertEqual(outcome.figures.landedCount, 2)
        XCTAssertEqual(outcome.figures.passedCount, 3)
    }

    /// An other guest whose domain cannot be read counts against the failed guest (its tap is
    /// not left out), and the evidence says what was not read and why.
    func testAnOtherGuestThatCannotBeReadIsNamedInTheCleanUpEvidence() throws {
        let evacuation = try self.evacuation(EvacuationPlan(guestCount: 3, faultGuest: 2))
        whenGuest2Migrates { $0.unreadableOtherGuests = ["fake-guest-3"] }
        let outcome = try evacuation.run(parameters(.prepareFail))
        let clean = try XCTUnwrap(check(outcome.results[1], CheckName.destinationHostClean))
        XCTAssertFalse(clean.passed, "fake-guest-3's tap cannot be told apart from a leftover: \(clean.evidence)")
        XCTAssertTrue(clean.evidence.contains("new interfaces left: vnet3"), clean.evidence)
        XCTAssertTrue(clean.evidence.contains("not read of the other guests: fake-guest-3's interfaces on "), clean.evidence)
        XCTAssertTrue(clean.evidence.contains("the fake daemon errs"), clean.evidence)
    }

    /// perform-fail during an evacuation acts on every guest: each stays on the source, the
    /// destination is clean, nothing is left in the journal. (One world: the guests share the
    /// destination host and its firewall.)
    func testPerformFailOnTheWholeEvacuationLeavesEveryGuestOnTheSource() throws {
        let outcome = try evacuation(EvacuationPlan(guestCount: 3), oneWorld: true).run(parameters(.performFail))
        XCTAssertEqual(worlds.map { $0.state.withLock { $0.guestHost } }, [.source, .source, .source])
        for result in outcome.results {
            XCTAssertTrue(result.passed, "\(result.failedChecks)")
            XCTAssertEqual(check(result, CheckName.guestOnSource)?.passed, true)
            XCTAssertEqual(check(result, CheckName.destinationHostClean)?.passed, true)
            let acted = try XCTUnwrap(check(result, CheckName.faultActed))
            XCTAssertTrue(acted.evidence.contains("the firewall is shared by the evacuation's guests: the count is theirs together"), acted.evidence)
        }
        XCTAssertEqual(worlds.map { $0.tables(on: .destination) }, [[], [], []])
        XCTAssertEqual(try journal.entries(), [])
        XCTAssertEqual(outcome.figures.landedCount, 0)
        XCTAssertNil(outcome.figures.totalMilliseconds)
    }

    /// On hosts the guests share, perform-fail's firewall is installed once for the
    /// evacuation and removed once, after the last guest's migration: no guest's firewall is
    /// lifted under another's migration.
    /// A guest's run alone (no evacuation) counts every new interface on the destination, as always.
    func testARunOfOneGuestStillCountsEveryNewInterface() throws {
        let world = FakeWorld()
        world.state.withLock {
            $0.onMigrationStart = {
                world.state.withLock {
                    $0.otherGuestsOnDestination = ["fake-guest-3": "vnet3"]
                    $0.otherGuestsListeningOnDestination = ["fake-guest-3": 49153]
                }
            }
        }
        let recorder = MemoryRecorder()
        let runner = try ScenarioRunner(testbed: FakeTestbed(world: world), recorder: recorder, journal: journal, interruption: Interruption(),
                                        pauses: RunPauses(all: 0.01))
        let result = runner.run(parameters(.prepareFail))
        let clean = try XCTUnwrap(check(result, CheckName.destinationHostClean))
        XCTAssertFalse(clean.passed)
        XCTAssertTrue(clean.evidence.contains("new interfaces left: vnet3"), clean.evidence)
        let port = try XCTUnwrap(check(result, CheckName.migrationPortFree))
        XCTAssertFalse(port.passed)
        XCTAssertTrue(port.evidence.hasPrefix("listening on 49153 on fake-dst"), port.evidence)
        // Its observation is as a one-guest run's always was: no other guests' interfaces in it.
        let observations = recorder.records.compactMap { record -> Observation? in
            if case .observation(let observation, _) = record { return observation } else { return nil }
        }
        guard case .seen(let destination)? = observations.first?.destinationHost else { return XCTFail("the destination was looked at") }
        XCTAssertNil(destination.otherGuestsInterfaces)
        XCTAssertNil(destination.otherGuestsListeningPorts)
    }

    func testPerformFailSharesOneFirewallAcrossTheGuests() throws {
        let outcome = try evacuation(EvacuationPlan(guestCount: 3), oneWorld: true).run(parameters(.performFail))
        let world = worlds[0]
        let scripts = world.state.withLock { $0.scripts }.filter { $0.host == .destination && $0.script == "nft -f -" }
        XCTAssertEqual(scripts.count, 1, "installed once for the three guests")
        XCTAssertEqual(world.state.withLock { $0.guestHost }, .source)
        for result in outcome.results {
            XCTAssertEqual(check(result, CheckName.faultRemoved)?.passed, true, check(result, CheckName.faultRemoved)?.evidence ?? "")
            XCTAssertEqual(check(result, CheckName.faultActed)?.passed, true, check(result, CheckName.faultActed)?.evidence ?? "")
        }
        XCTAssertEqual(world.tables(on: .destination), [])
        XCTAssertEqual(try journal.entries(), [])
    }

    func testEachGuestIsStoredAsARunOfTheEvacuation() throws {
        let store = try ResultsStore(path: directory.appendingPathComponent("results.sqlite").path)
        let outcome = try evacuation(EvacuationPlan(guestCount: 2), recorder: { StoreRecorder(store: store, evacuation: $0) })
            .run(parameters(.live))
        let runs = try store.runs(evacuationID: outcome.evacuationID)
        XCTAssertEqual(runs.map(\.guestIndex), [1, 2])
        XCTAssertEqual(runs.map(\.status), [.completed, .completed])
        XCTAssertEqual(runs.compactMap(\.result?.parameters.endpoints.domainName), ["fake-guest-1", "fake-guest-2"])
        XCTAssertEqual(outcome.results.map(\.runID), runs.map(\.id))
    }

    func testPlansThatCannotRunAreRefusedInOneLine() throws {
        func refusal(_ plan: EvacuationPlan, _ scenario: ScenarioKind = .dstQEMUKilled) -> String {
            do {
                try plan.validate()
                try plan.validate(scenario: scenario, catalog: .standard)
                return ""
            } catch {
                return error.description
            }
        }
        XCTAssertEqual(refusal(EvacuationPlan(guestCount: 0)), "--guest-count must be between 1 and 256, not 0")
        XCTAssertEqual(refusal(EvacuationPlan(guestCount: 257, maxConcurrent: 1)), "--guest-count must be between 1 and 256, not 257")
        XCTAssertEqual(refusal(EvacuationPlan(guestCount: 2, maxConcurrent: 3)), "--max-concurrent must be between 1 and --guest-count (2), not 3")
        XCTAssertEqual(refusal(EvacuationPlan(guestCount: 2, maxConcurrent: 0)), "--max-concurrent must be between 1 and --guest-count (2), not 0")
        XCTAssertEqual(refusal(EvacuationPlan(guestCount: 3, faultGuest: 4)), "--fault-guest must be between 1 and --guest-count (3), not 4")
        XCTAssertEqual(refusal(EvacuationPlan(guestCount: 3, faultGuest: 0)), "--fault-guest must be between 1 and --guest-count (3), not 0")
        XCTAssertTrue(refusal(EvacuationPlan(guestCount: 3, faultGuest: 1), .performFail).hasPrefix("--fault-guest needs a fault that acts on one guest alone ("))
        XCTAssertEqual(refusal(EvacuationPlan(guestCount: 3, faultGuest: 1), .live), "", "live beside a fault in the matrix: live on every guest")
        XCTAssertTrue(refusal(EvacuationPlan(guestCount: 3, faultGuest: 1), .linkCut).hasSuffix("not link-cut"))
        XCTAssertEqual(refusal(EvacuationPlan(guestCount: 3, faultGuest: 3)), "")
        XCTAssertEqual(refusal(EvacuationPlan(guestCount: 3), .performFail), "", "without --fault-guest a shared host-wide fault acts on the evacuation")
        XCTAssertEqual(refusal(EvacuationPlan(guestCount: 3), .prepareFail), "", "a one-guest fault may act on every guest")
        XCTAssertTrue(refusal(EvacuationPlan(guestCount: 3), .linkCut).hasPrefix("--scenario link-cut acts on a whole host and cannot yet be shared by 3 guests at once (shared: perform-fail)"))
        XCTAssertEqual(refusal(EvacuationPlan(guestCount: 1), .linkCut), "", "one guest: as a run of one guest")
        XCTAssertEqual(EvacuationPlan(guestCount: 3).maxConcurrent, 3, "all at once by default")
        XCTAssertThrowsError(try EvacuationRunner(plan: EvacuationPlan(guestCount: 2), guests: [FakeTestbed(world: FakeWorld())], recorder: { _ in MemoryRecorder() }))
    }
}

final class SharedFaultInstallationsTests: XCTestCase {
    /// Installed by the first holder, removed once by the last; an earlier holder's release
    /// waits for that removal and reports it.
    func testTheLastHolderRemovesAndTheOthersWaitForIt() throws {
        let shared = SharedFaultInstallations()
        let installs = Mutex(0)
        let removals = Mutex(0)
        func install() -> String {
            installs.withLock { $0 += 1 }
            return "rule"
        }
        XCTAssertEqual(try shared.acquire("perform-fail on dst") { install() }, "rule")
        XCTAssertEqual(try shared.acquire("perform-fail on dst") { install() }, "rule")
        XCTAssertEqual(installs.withLock { $0 }, 1)

        let firstReleased = Mutex<Bool?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let removed = shared.release("perform-fail on dst") { (_: String) -> Bool in
                removals.withLock { $0 += 1 }
                return true
            }
            firstReleased.withLock { $0 = removed }
            done.signal()
        }.start()
        XCTAssertEqual(done.wait(timeout: .now() + 0.2), .timedOut, "the first release waits while another guest holds the rule")
        XCTAssertEqual(removals.withLock { $0 }, 0)
        let lastReleased = shared.release("perform-fail on dst") { (_: String) -> Bool in
            removals.withLock { $0 += 1 }
            return true
        }
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(lastReleased, true)
        XCTAssertEqual(firstReleased.withLock { $0 }, true, "the waiting holder reports the last one's removal")
        XCTAssertEqual(removals.withLock { $0 }, 1, "removed once")
        XCTAssertNil(shared.release("perform-fail on dst") { (_: String) in true }, "no longer held")
        // Held again after it was removed: installed again.
        _ = try shared.acquire("perform-fail on dst") { install() }
        XCTAssertEqual(installs.withLock { $0 }, 2)
        XCTAssertEqual(shared.installCount, 2)
    }
}

/// In an evacuation the destination holds the other guests' taps: `destination-host-clean`
/// of a guest that failed leaves those out, and only those.
final class EvacuationCleanUpCheckTests: XCTestCase {
    private func check(otherGuests: Set<String>?) -> Check {
        var snapshot = HostSnapshot(hostName: "dst", qemuProcesses: [], interfaces: ["lo", "br-guest", "labtap1", "labtap3"], listeningMigrationPorts: [])
        snapshot.otherGuestsInterfaces = otherGuests
        return Checks.destinationHostClean(sighting: DomainSighting(uri: "qemu+tcp://dst/system", name: "lab-guest-2", state: nil),
                                           host: .seen(snapshot), interfacesBefore: .seen(["lo", "br-guest"]), occupant: nil,
                                           domainName: "lab-guest-2", waitedSeconds: 0)
    }

    func testTheOtherGuestsTapsAreLeftOutAndOnlyThose() {
        let passed = check(otherGuests: ["labtap1", "labtap3"])
        XCTAssertTrue(passed.passed, passed.evidence)
        XCTAssertTrue(passed.evidence.contains("besides the evacuation's other guests' labtap1, labtap3"), passed.evidence)
        let partly = check(otherGuests: ["labtap1"])
        XCTAssertFalse(partly.passed)
        XCTAssertTrue(partly.evidence.contains("new interfaces left: labtap3"), partly.evidence)
        let alone = check(otherGuests: nil)
        XCTAssertFalse(alone.passed, "a run of one guest: every new interface counts, as always")
        XCTAssertTrue(alone.evidence.contains("new interfaces left: labtap1, labtap3"), alone.evidence)
        XCTAssertFalse(check(otherGuests: []).evidence.contains("besides"), "no other guest: the evidence as always")
    }

    /// A snapshot of a run of one guest encodes as before: no `otherGuestsInterfaces` key.
    func testAOneGuestSnapshotEncodesAsBefore() throws {
        let snapshot = HostSnapshot(hostName: "dst", qemuProcesses: [], interfaces: ["lo"], listeningMigrationPorts: [])
        XCTAssertFalse(String(decoding: try resultsJSONEncoder().encode(snapshot), as: UTF8.self).contains("otherGuests"))
    }
}

final class EvacuationPortCheckTests: XCTestCase {
    func testSSProcessColumnsAreReadPerPort() {
        let output = """
            LISTEN 0 1 198.18.0.2:49152 0.0.0.0:* users:(("qemu-system-x86",pid=812,fd=31))
            LISTEN 0 1 [2001:2::2]:49153 [::]:* users:(("qemu-system-x86",pid=813,fd=30),("qemu-system-x86",pid=814,fd=30))
            LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=90,fd=3))
            LISTEN 0 5 0.0.0.0:7070 0.0.0.0:*
            """
        XCTAssertEqual(HostInspector.portOwners(fromSSOutput: output), [49152: [812], 49153: [813, 814], 22: [90], 7070: []])
    }

    func testOnlyTheOtherGuestsPortsAreLeftOut() {
        func check(_ listening: [Int], others: [Int]?) -> Check {
            var snapshot = HostSnapshot(hostName: "dst", qemuProcesses: [], interfaces: [], listeningMigrationPorts: listening)
            snapshot.otherGuestsListeningPorts = others
            return Checks.migrationPortFree(host: .seen(snapshot), waitedSeconds: 0)
        }
        XCTAssertTrue(check([49152, 49153], others: [49152, 49153]).passed)
        let mine = check([49152, 49153], others: [49152])
        XCTAssertFalse(mine.passed)
        XCTAssertTrue(mine.evidence.hasPrefix("listening on 49153 on dst besides the evacuation's other guests' QEMUs on 49152"), mine.evidence)
        XCTAssertFalse(check([49152], others: nil).passed, "one guest: every listener counts")
        XCTAssertEqual(check([], others: nil).evidence, "nothing listens on TCP 49152...49215 on dst (ss -tln)", "one guest: the evidence as always")
    }
}
