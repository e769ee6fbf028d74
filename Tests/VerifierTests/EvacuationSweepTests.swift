import Foundation
import Synchronization
import XCTest
@testable import Verifier

/// The guest counts an evacuation sweep ran, in call order (the fake is `@Sendable`).
final class EvacuationCallLog: Sendable {
    private let state = Mutex<[Int]>([])

    func append(_ guestCount: Int) { state.withLock { $0.append(guestCount) } }
    var guestCounts: [Int] { state.withLock { $0 } }
}

/// `sweep --guest-count 1,2,4`: the slots of evacuations, what a resumed sweep keeps, and the
/// evacuations the analysis and the report read back, with evacuations run by a closure (no hosts).
final class EvacuationSweepTests: XCTestCase {
    var directory: URL!
    var store: ResultsStore!
    private static let origin = Date(timeIntervalSince1970: 1_800_000_000)
    private var origin: Date { Self.origin }

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("evacuation-sweep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try ResultsStore(path: directory.appendingPathComponent("results.sqlite").path)
    }

    override func tearDown() {
        store = nil
        try? FileManager.default.removeItem(at: directory)
    }

    /// Guest `index`'s own parameters, as `EvacuationRunner.parameters(ofGuest:_:)` makes them.
    private static func guestParameters(_ count: Int, _ index: Int, _ run: ScenarioParameters) -> ScenarioParameters {
        var own = run
        own.endpoints.domainName = "guest-\(index)"
        own.endpoints.guestAddress = "198.18.1.\(10 + index)"
        return own
    }

    /// Guest `index`'s result in an evacuation: its call from 100·i ms to 1100·i ms on the wall
    /// clock (a migration of 1000·i ms), landed, with `downtime` ms of ping gap.
    private static func guestResult(_ parameters: ScenarioParameters, index: Int, downtime: Double) -> ScenarioResult {
        var result = FakeSlotRun.completed(parameters)
        result.startedAt = Self.origin
        result.figures.migrationStartOffsetMilliseconds = Double(index) * 100
        result.figures.migrationEndOffsetMilliseconds = Double(index) * 1100
        result.pingDowntimeMilliseconds = downtime
        result.add(Check(name: CheckName.guestOnDestination, passed: true, evidence: "runs on the destination"))
        return result
    }

    /// The downtimes of the guests of an evacuation of `count`, ms: for 4, median 35 and worst 90.
    private static func downtimes(_ count: Int) -> [Double] {
        [1: [20], 2: [15, 45], 4: [40, 10, 30, 90]][count] ?? Array(repeating: 25, count: count)
    }

    /// An evacuation as the CLI's runner stores it: each guest's run through a `StoreRecorder`
    /// of the sweep and the evacuation; guest `interrupted` is stopped by SIGTERM.
    private static func fakeEvacuation(_ slots: EvacuationSlots, store: ResultsStore, sweepID: String, interrupted: Int? = nil) -> EvacuationResult {
        let evacuationID = "evac-\(slots.guestCount)-\(UUID().uuidString.prefix(8))"
        let downtimes = Self.downtimes(slots.guestCount)
        let results = (1...slots.guestCount).map { index -> ScenarioResult in
            let parameters = Self.guestParameters(slots.guestCount, index, slots.parameters)
            var result = index == interrupted ? FakeSlotRun.interrupted(parameters)
                : guestResult(parameters, index: index, downtime: downtimes[index - 1])
            let membership = EvacuationMembership(evacuationID: evacuationID, guestIndex: index, guestCount: slots.guestCount)
            result.evacuation = membership
            let recorder = StoreRecorder(store: store, sweepID: sweepID, evacuation: membership)
            recorder.begin(parameters, clock: RunClock())
            return recorder.finish(result)
        }
        return EvacuationResult(evacuationID: evacuationID, results: results, figures: EvacuationFigures(results.map(EvacuationGuestTiming.init)))
    }

    func testTheLayoutIsEachRunOnEachGuestCountWithOneSlotPerGuestInGuestOrder() throws {
        let runs = try SweepMatrix(memorySizesMiB: [512], dirtyRatesMiBPerSecond: [10, 30]).cells(template: Fixtures.parameters())
        let layout = EvacuationSlots.layout(runs, guestCounts: [1, 2], guestParameters: Self.guestParameters)
        // N first: every run of one guest count follows the last, so a lab fleet is booted once per N.
        XCTAssertEqual(layout.evacuations.map(\.positions), [0..<1, 1..<2, 2..<4, 4..<6])
        XCTAssertEqual(layout.evacuations.map(\.guestCount), [1, 1, 2, 2])
        XCTAssertEqual(layout.evacuations.map(\.parameters.dirtyRateMiBPerSecond), [10, 30, 10, 30])
        XCTAssertEqual(layout.slots.map(\.endpoints.domainName), ["guest-1", "guest-1", "guest-1", "guest-2", "guest-1", "guest-2"])
        XCTAssertEqual(layout.slots.map(\.dirtyRateMiBPerSecond), [10, 30, 10, 10, 30, 30])
    }

    /// Only every guest's completed run, of one evacuation, in guest order, is a complete evacuation.
    func testOnlyACompleteValidEvacuationIsComplete() throws {
        let evacuation = EvacuationSlots(firstPosition: 3, parameters: Fixtures.parameters(), guestCount: 2)
        func slot(_ position: Int, evacuationID: String = "evac-a", guestIndex: Int, guestCount: Int = 2,
                  _ change: (inout ScenarioResult) -> Void = { _ in }) -> SweepSlot {
            var result = Self.guestResult(Self.guestParameters(guestCount, guestIndex, Fixtures.parameters()), index: guestIndex, downtime: 20)
            result.evacuation = EvacuationMembership(evacuationID: evacuationID, guestIndex: guestIndex, guestCount: guestCount)
            change(&result)
            let run = StoredRun(id: Int64(position), status: result.status, parameterKey: result.parameters.key, startedAt: origin,
                                finishedAt: origin, result: result, evacuationID: evacuationID, guestIndex: guestIndex)
            return SweepSlot(position: position, parameters: result.parameters, run: run)
        }
        XCTAssertTrue(evacuation.isComplete([slot(3, guestIndex: 1), slot(4, guestIndex: 2)]))
        XCTAssertFalse(evacuation.isComplete([slot(3, guestIndex: 1)]), "a guest missing")
        XCTAssertFalse(evacuation.isComplete([slot(3, guestIndex: 1), SweepSlot(position: 4, parameters: Fixtures.parameters(), run: nil)]),
                       "a slot with no run")
        XCTAssertFalse(evacuation.isComplete([slot(3, guestIndex: 1), slot(4, evacuationID: "evac-b", guestIndex: 2)]), "two evacuations")
        XCTAssertFalse(evacuation.isComplete([slot(3, guestIndex: 2), slot(4, guestIndex: 1)]), "guests out of order")
        XCTAssertFalse(evacuation.isComplete([slot(3, guestIndex: 1, guestCount: 3), slot(4, guestIndex: 2, guestCount: 3)]),
                       "an evacuation of another guest count")
        XCTAssertFalse(evacuation.isComplete([slot(3, guestIndex: 1), slot(4, guestIndex: 2) { $0.status = .interrupted }]), "interrupted")
        XCTAssertFalse(evacuation.isComplete([slot(3, guestIndex: 1), slot(4, guestIndex: 2) { $0.failSetup(because: "no memeater") }]),
                       "a guest not set up")
        XCTAssertFalse(evacuation.isComplete([slot(3, guestIndex: 1), slot(5, guestIndex: 2)]), "another evacuation's slot")
    }

    /// An interrupted evacuation is run again whole on resume; complete ones are kept; every
    /// guest's run belongs to the sweep, so the analysis finds the evacuations.
    func testAResumedSweepKeepsCompleteEvacuationsAndRunsAnIncompleteOneAgainWhole() throws {
        let store = try XCTUnwrap(self.store)
        let layout = EvacuationSlots.layout([Fixtures.parameters()], guestCounts: [1, 2, 4], guestParameters: Self.guestParameters)
        XCTAssertEqual(layout.slots.count, 7)
        try store.openSweep(id: "evac", kind: .sweep, commandLine: "migverify sweep --id evac --guest-count 1,2,4",
                            definitionJSON: "{}", slots: layout.slots)
        let log = EvacuationCallLog()
        let interrupt = SharedFlag()
        interrupt.set()
        let runner = EvacuationSweepRunner(store: store, sweepID: "evac", evacuations: layout.evacuations, runEvacuation: { [store] slots in
            log.append(slots.guestCount)
            return Self.fakeEvacuation(slots, store: store, sweepID: "evac", interrupted: slots.guestCount == 2 && interrupt.isSet ? 2 : nil)
        }, signal: { SIGTERM })

        let first = try runner.run()
        XCTAssertEqual(log.guestCounts, [1, 2], "the sweep stops at the interrupted evacuation")
        XCTAssertEqual(first.interruptedBy, SIGTERM)
        XCTAssertEqual(try SweepAnalysis(store: store, sweepID: "evac").evacuations.map(\.figures.guestCount), [1],
                       "an evacuation with an interrupted guest is no evacuation of the sweep")

        let resumed = EvacuationSweepRunner(store: store, sweepID: "evac", evacuations: layout.evacuations, runEvacuation: { [store] slots in
            log.append(slots.guestCount)
            return Self.fakeEvacuation(slots, store: store, sweepID: "evac")
        }, signal: { nil })
        let second = try resumed.run()
        XCTAssertEqual(log.guestCounts, [1, 2, 2, 4], "the complete evacuation of 1 is kept, that of 2 runs again whole")
        XCTAssertNil(second.interruptedBy)
        XCTAssertEqual(second.results.count, 7)
        XCTAssertEqual(second.ranCount, 6)
        _ = try resumed.run()
        XCTAssertEqual(log.guestCounts, [1, 2, 2, 4], "nothing left to run")

        let slots = try store.slots(sweepID: "evac")
        XCTAssertTrue(slots.allSatisfy(\.isDone))
        XCTAssertEqual(Set(slots[1...2].compactMap(\.run?.evacuationID)).count, 1, "both guests of 2 from one evacuation")
        XCTAssertEqual(try store.scalar("SELECT COUNT(*) FROM scenarioRun WHERE sweepId = 'evac' AND evacuationId IS NOT NULL"), 1 + 2 + 2 + 4,
                       "every guest's run, the interrupted evacuation's too, is a run of the sweep")

        let analysis = try SweepAnalysis(store: store, sweepID: "evac")
        XCTAssertEqual(analysis.evacuations.map(\.figures.guestCount), [1, 2, 4])
        XCTAssertEqual(analysis.results.count, 0, "an evacuation's runs are not the cells' one-guest runs")
        XCTAssertTrue(analysis.cells.isEmpty)
        XCTAssertTrue(analysis.text.contains("evacuations: 3 complete, of 1, 2, 4 guest(s)"), analysis.text)

        let document = try analysis.reportDocument(store: store)
        let four = try XCTUnwrap(document.evacuations.last)
        XCTAssertEqual(four.guestCount, 4)
        XCTAssertEqual(four.guestDowntimesMilliseconds, [40, 10, 30, 90])
        XCTAssertEqual(four.downtimeMillisecondsMedian, 35)
        XCTAssertEqual(four.downtimeMillisecondsWorst, 90)
        // Calls 100·i → 1100·i ms: the first starts at 100, the last lands at 4400; 1000·(1+2+3+4) ms one after another.
        XCTAssertEqual(try XCTUnwrap(four.totalSeconds), 4.3, accuracy: 1e-6)
        XCTAssertEqual(try XCTUnwrap(four.serialSumSeconds), 10, accuracy: 1e-6)
        XCTAssertEqual(try XCTUnwrap(four.speedup), 10 / 4.3, accuracy: 1e-6)
        XCTAssertEqual(four.passedCount, 4)
    }

    /// Runs are grouped by evacuation id, not by order or by guest count; an evacuation missing
    /// a guest's run is left out; a one-guest run stays in the cells.
    func testEvacuationsAreGroupedByTheirIdInGuestOrder() throws {
        func run(_ evacuationID: String?, guest index: Int, of count: Int, downtime: Double) -> ScenarioResult {
            var result = Self.guestResult(Self.guestParameters(count, index, Fixtures.parameters()), index: index, downtime: downtime)
            result.evacuation = evacuationID.map { EvacuationMembership(evacuationID: $0, guestIndex: index, guestCount: count) }
            return result
        }
        let results = [run("evac-b", guest: 2, of: 2, downtime: 70), run("evac-a", guest: 1, of: 2, downtime: 10),
                       run(nil, guest: 1, of: 1, downtime: 5), run("evac-b", guest: 1, of: 2, downtime: 20),
                       run("evac-a", guest: 2, of: 2, downtime: 30), run("evac-c", guest: 1, of: 3, downtime: 99),
                       run("evac-c", guest: 3, of: 3, downtime: 99), run("evac-d", guest: 1, of: 2, downtime: 99)]
        let analysis = SweepAnalysis(sweep: StoredSweep(id: "s", kind: .sweep, createdAt: origin, commandLine: "", definitionJSON: "{}"),
                                     results: results)
        XCTAssertEqual(analysis.evacuations.map(\.evacuationID), ["evac-b", "evac-a"], "evac-c lacks guest 2, evac-d its last guest")
        XCTAssertEqual(analysis.evacuations.map { $0.results.compactMap(\.evacuation?.guestIndex) }, [[1, 2], [1, 2]])
        XCTAssertEqual(analysis.evacuations.map(\.figures.downtimeMillisecondsWorst), [70, 30])
        XCTAssertEqual(analysis.evacuations.map(\.figures.downtimeMillisecondsMedian), [45, 20])
        XCTAssertEqual(analysis.results.count, 1)
        XCTAssertEqual(analysis.cells.count, 1)
    }
}
