import Foundation
import GRDB
import Synchronization
import XCTest
@testable import MigVerifyCLI
@testable import Verifier

/// What a fake `runSlot` was asked to run, in order (it is called from the runner's thread,
/// but the closure must be `@Sendable`).
final class SlotCallLog: Sendable {
    private let state = Mutex<[ScenarioParameters]>([])

    /// Records a call.
    func append(_ parameters: ScenarioParameters) { state.withLock { $0.append(parameters) } }
    /// Every call so far.
    var calls: [ScenarioParameters] { state.withLock { $0 } }
    /// Calls so far with these parameters.
    func count(of parameters: ScenarioParameters) -> Int { state.withLock { $0.filter { $0.key == parameters.key }.count } }
}

/// A flag a test flips while a `@Sendable` closure reads it.
final class SharedFlag: Sendable {
    private let state = Mutex(false)

    var isSet: Bool { state.withLock { $0 } }
    func set() { state.withLock { $0 = true } }
}

/// A slot's result as a lab would produce it, without a lab: stored through the same
/// recorder the CLI uses, so it has a run id and a row in `scenarioRun`.
enum FakeSlotRun {
    /// A completed, passing live run with plausible figures for `parameters`.
    static func completed(_ parameters: ScenarioParameters) -> ScenarioResult {
        var result = ScenarioResult(parameters: parameters, accel: "tcg", qemuVersion: "10.0.2", libvirtVersion: "11.3.0")
        result.add(Check(name: CheckName.memoryIntegrity, passed: true, evidence: "0 stale pages of \(parameters.memeaterSizeMiB * 256)"))
        result.migrationMilliseconds = 1_500 + Double(parameters.memoryMiB) * 2 + parameters.dirtyRateMiBPerSecond * 10
        result.libvirtDowntimeMilliseconds = 45
        result.pingDowntimeMilliseconds = 60
        result.achievedDirtyRateMiBPerSecond = parameters.dirtyRateMiBPerSecond * 0.98
        result.figures.convergence = .converged
        result.figures.transferRateMiBPerSecond = 118
        result.finishedAt = result.startedAt.addingTimeInterval(9)
        return result
    }

    /// Runs `result` through a ``StoreRecorder`` for `sweepID` (begin, then finish) and
    /// returns it with its run id.
    static func stored(_ result: ScenarioResult, store: ResultsStore, sweepID: String) -> ScenarioResult {
        let recorder = StoreRecorder(store: store, sweepID: sweepID)
        recorder.begin(result.parameters, clock: RunClock())
        return recorder.finish(result)
    }

    /// A run SIGINT stopped.
    static func interrupted(_ parameters: ScenarioParameters) -> ScenarioResult {
        var result = ScenarioResult(parameters: parameters, accel: "tcg", qemuVersion: "10.0.2", libvirtVersion: "11.3.0")
        result.status = .interrupted
        result.add(Check(name: CheckName.interrupted, passed: false, evidence: "SIGTERM while migrating"))
        return result
    }

    /// A run that could not be set up.
    static func setupFailed(_ parameters: ScenarioParameters, evidence: String) -> ScenarioResult {
        var result = ScenarioResult(parameters: parameters, accel: "tcg", qemuVersion: "10.0.2", libvirtVersion: "11.3.0")
        result.status = .setupFailed
        result.failSetup(because: evidence)
        return result
    }
}

/// `SweepRunner` and the sweep tables of `ResultsStore`, with slots run by a closure (no lab).
final class SweepTests: XCTestCase {
    var directory: URL!
    var store: ResultsStore!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("verifier-sweep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try ResultsStore(path: directory.appendingPathComponent("results.sqlite").path)
    }

    override func tearDown() {
        store = nil
        try? FileManager.default.removeItem(at: directory)
    }

    /// 2 memory sizes × 3 rates, in the order `SweepMatrix` gives.
    func sixSlots() throws -> [ScenarioParameters] {
        let slots = try SweepMatrix(memorySizesMiB: [512, 1024], dirtyRatesMiBPerSecond: [10, 30, 60])
            .cells(template: Fixtures.parameters())
        XCTAssertEqual(slots.count, 6)
        return slots
    }

    @discardableResult
    func open(_ id: String, _ slots: [ScenarioParameters]) throws -> Bool {
        try store.openSweep(id: id, kind: .sweep, commandLine: "migverify sweep --id \(id)", definitionJSON: "{}", slots: slots)
    }

    /// Status of every stored run, by id.
    func storedStatuses() throws -> [Int64: RunStatus] {
        Dictionary(uniqueKeysWithValues: try store.runs().map { ($0.id, $0.status) })
    }

    // MARK: resume

    func testAnInterruptedSweepResumesWithExactlyTheSlotsLeftAndKeepsTheInterruptedRunAsNoResult() throws {
        let slots = try sixSlots()
        XCTAssertTrue(try open("resume", slots))
        let log = SlotCallLog()
        let store = store!
        let runner = SweepRunner(store: store, sweepID: "resume", runSlot: { parameters in
            log.append(parameters)
            let interruptNow = parameters.key == slots[3].key && log.count(of: slots[3]) == 1
            let result = interruptNow ? FakeSlotRun.interrupted(parameters) : FakeSlotRun.completed(parameters)
            return FakeSlotRun.stored(result, store: store, sweepID: "resume")
        }, signal: { SIGTERM })

        let first = try runner.run()
        XCTAssertEqual(first.interruptedBy, SIGTERM, "the signal source says which signal stopped it")
        XCTAssertNil(first.setupError)
        XCTAssertEqual(first.results.map(\.parameters.key), slots.prefix(3).map(\.key), "the interrupted run is not a result")
        XCTAssertEqual(first.ranCount, 4)
        XCTAssertEqual(log.calls.map(\.key), slots.prefix(4).map(\.key), "nothing runs after the interruption")
        let interruptedRunID = try XCTUnwrap(try store.runs().first { $0.status == .interrupted }?.id)
        XCTAssertFalse(try store.slots(sweepID: "resume")[3].isDone)

        let second = try runner.run()
        XCTAssertNil(second.interruptedBy)
        XCTAssertEqual(second.ranCount, 3)
        XCTAssertEqual(Array(log.calls.dropFirst(4)).map(\.key), slots.suffix(3).map(\.key),
                       "the re-run makes exactly the interrupted slot and the two after it")
        XCTAssertEqual(second.results.map(\.parameters.key), slots.map(\.key), "all six results, in slot order")
        XCTAssertEqual(second.results.prefix(3).map(\.runID), first.results.map(\.runID), "the first three are the runs stored before")

        let stored = try store.slots(sweepID: "resume")
        let statuses = try storedStatuses()
        XCTAssertTrue(stored.allSatisfy(\.isDone))
        for slot in stored {
            let runID = try XCTUnwrap(slot.run?.id, "slot \(slot.position) has a run")
            XCTAssertEqual(statuses[runID], .completed, "slot \(slot.position)")
            XCTAssertEqual(slot.run?.parameterKey, slot.parameters.key, "slot \(slot.position) stands for a run of its own parameters")
        }
        XCTAssertEqual(Set(stored.compactMap(\.run?.id)).count, 6, "six distinct runs")
        XCTAssertEqual(statuses[interruptedRunID], .interrupted, "the interrupted run stays in scenarioRun as it was")
        XCTAssertFalse(stored.contains { $0.run?.id == interruptedRunID }, "and stands for no slot")
        XCTAssertEqual(statuses.count, 7)
        XCTAssertEqual(try store.scalar("SELECT COUNT(*) FROM scenarioRun WHERE sweepId = 'resume' AND status = 'completed'"), 6)

        let third = try runner.run()
        XCTAssertEqual(third.ranCount, 0, "a finished sweep runs nothing again")
        XCTAssertEqual(third.results.map(\.runID), second.results.map(\.runID))
        for slot in slots { XCTAssertEqual(log.count(of: slot), slot.key == slots[3].key ? 2 : 1, slot.label) }
    }

    func testASetupFailureStopsTheSweepWithItsErrorAndIsNoResult() throws {
        let slots = try sixSlots()
        try open("setup", slots)
        let log = SlotCallLog()
        let store = store!
        let setupWorks = SharedFlag()
        let runner = SweepRunner(store: store, sweepID: "setup", runSlot: { parameters in
            log.append(parameters)
            let broken = parameters.key == slots[1].key && !setupWorks.isSet
            let result = broken ? FakeSlotRun.setupFailed(parameters, evidence: "no static memeater in the guest image")
                : FakeSlotRun.completed(parameters)
            return FakeSlotRun.stored(result, store: store, sweepID: "setup")
        }, signal: { nil })

        let outcome = try runner.run()
        XCTAssertEqual(outcome.setupError, "no static memeater in the guest image")
        XCTAssertNil(outcome.interruptedBy)
        XCTAssertEqual(outcome.results.map(\.parameters.key), [slots[0].key])
        XCTAssertEqual(log.calls.count, 2, "the sweep stops at the run it could not set up")
        let stored = try store.slots(sweepID: "setup")
        XCTAssertFalse(stored[1].isDone)
        XCTAssertEqual(stored[1].run?.status, .setupFailed)

        setupWorks.set()
        let resumed = try runner.run()
        XCTAssertNil(resumed.setupError)
        XCTAssertEqual(resumed.results.count, 6)
        XCTAssertEqual(log.count(of: slots[1]), 2, "the slot is run again once it can be set up")
        XCTAssertEqual(try store.slots(sweepID: "setup")[1].run?.status, .completed)
    }

    // MARK: openSweep

    func testOpeningAnExistingSweepWithAnotherSlotListIsRefusedAndTheSameListResumes() throws {
        let slots = try sixSlots()
        XCTAssertTrue(try open("matrix-a", slots), "a new id creates the sweep")
        XCTAssertFalse(try open("matrix-a", slots), "the same list resumes it")
        XCTAssertThrowsError(try open("matrix-a", Array(slots.dropLast()))) { error in
            guard case .invalidOptions(let message)? = error as? VerifierError else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("'matrix-a'"), message)
            XCTAssertTrue(message.contains("6 runs stored, 5 asked"), message)
        }
        var changed = slots
        changed[2].dirtyRateMiBPerSecond = 45
        XCTAssertThrowsError(try open("matrix-a", changed)) { error in
            guard case .invalidOptions(let message)? = error as? VerifierError else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("'matrix-a'") && message.contains("differ from run 3"), message)
        }
        XCTAssertEqual(try store.slots(sweepID: "matrix-a").map(\.parameters.key), slots.map(\.key), "a refused open changes nothing")
    }

    // MARK: extend

    func testExtendRunsAnAppendedSlotExactlyOnce() throws {
        let slots = Array(try sixSlots().prefix(2))
        try open("extend", slots)
        var extra = slots[1]
        extra.dirtyRateMiBPerSecond = 45
        let log = SlotCallLog()
        let store = store!
        let runner = SweepRunner(store: store, sweepID: "extend", runSlot: { parameters in
            log.append(parameters)
            return FakeSlotRun.stored(FakeSlotRun.completed(parameters), store: store, sweepID: "extend")
        }, signal: { nil })
        var askedWith: [Int] = []
        let outcome = try runner.run(extend: { known in
            askedWith.append(known.count)
            XCTAssertTrue(known.allSatisfy(\.isDone), "extend is asked only once every slot has a result")
            return known.count == 2 ? [extra] : []
        })
        XCTAssertEqual(log.count(of: extra), 1)
        XCTAssertEqual(outcome.results.map(\.parameters.key), (slots + [extra]).map(\.key))
        XCTAssertEqual(askedWith, [2, 3], "asked again after the appended slot ran, then the sweep ends")
        XCTAssertEqual(try store.slots(sweepID: "extend").count, 3)
        XCTAssertFalse(try open("extend", slots), "the matrix resumes with the appended slot kept")
        XCTAssertThrowsError(try open("extend", slots + [extra]), "an appended slot is not part of the matrix")
        XCTAssertEqual(try store.slots(sweepID: "extend").count, 3)
    }

    func testExtendReturningKnownSlotsDoesNotLoop() throws {
        let slots = Array(try sixSlots().prefix(2))
        try open("extend-known", slots)
        let log = SlotCallLog()
        let store = store!
        let runner = SweepRunner(store: store, sweepID: "extend-known", runSlot: { parameters in
            log.append(parameters)
            return FakeSlotRun.stored(FakeSlotRun.completed(parameters), store: store, sweepID: "extend-known")
        }, signal: { nil })
        var asked = 0
        let outcome = try runner.run(extend: { known in
            asked += 1
            return asked > 5 ? [] : [known[0].parameters]  // the guard only ends a broken runner's loop
        })
        XCTAssertEqual(asked, 1, "a known slot is no new slot: the sweep ends")
        XCTAssertEqual(log.calls.count, 2)
        XCTAssertEqual(outcome.results.count, 2)
        XCTAssertEqual(try store.slots(sweepID: "extend-known").count, 2)
    }

    func testExtendReturningTheSameNewSlotTwiceAddsItOnce() throws {
        let slots = Array(try sixSlots().prefix(2))
        try open("extend-twice", slots)
        var extra = slots[1]
        extra.dirtyRateMiBPerSecond = 45
        let log = SlotCallLog()
        let store = store!
        let runner = SweepRunner(store: store, sweepID: "extend-twice", runSlot: { parameters in
            log.append(parameters)
            return FakeSlotRun.stored(FakeSlotRun.completed(parameters), store: store, sweepID: "extend-twice")
        }, signal: { nil })
        let outcome = try runner.run(extend: { known in known.count == 2 ? [extra, extra] : [] })
        XCTAssertEqual(log.count(of: extra), 1, "one experiment, one run")
        XCTAssertEqual(outcome.results.count, 3)
        XCTAssertEqual(try store.slots(sweepID: "extend-twice").count, 3)
    }

    // MARK: reuse

    func testAPlainRunReusesAnEarlierCompletedRunForItsSlot() throws {
        let slots = try sixSlots()
        let earlier = FakeSlotRun.stored(FakeSlotRun.completed(slots[2]), store: store, sweepID: "an-earlier-run")
        let earlierRunID = try XCTUnwrap(earlier.runID)
        try store.openSweep(id: "plain", kind: .run, commandLine: "migverify run", definitionJSON: "{}", slots: slots)
        let outputs = try RunCommand.parse(["--database", store.path]).outputs
        let log = SlotCallLog()
        let store = store!
        let runner = SweepRunner(store: store, sweepID: "plain", runSlot: { parameters in
            log.append(parameters)
            return FakeSlotRun.stored(FakeSlotRun.completed(parameters), store: store, sweepID: "plain")
        }, signal: { nil })
        var reusedFlags: [Bool] = []
        // What `migverify run` passes (MatrixSession.reuse): the newest completed run of equal parameters.
        let outcome = try runner.run(reuse: { parameters in
            guard let reused = try? outputs.reusable(parameters, store: store), let runID = reused.result.reusedFromRunID else { return nil }
            return (reused.result, runID)
        }, onResult: { _, reused in reusedFlags.append(reused) })

        XCTAssertEqual(outcome.reusedCount, 1)
        XCTAssertEqual(outcome.ranCount, 5)
        XCTAssertEqual(log.count(of: slots[2]), 0, "the reused slot is not run")
        XCTAssertEqual(reusedFlags, [false, false, true, false, false, false])
        XCTAssertEqual(outcome.results[2].reusedFromRunID, earlierRunID)
        let stored = try store.slots(sweepID: "plain")
        XCTAssertEqual(stored[2].run?.id, earlierRunID, "the slot stands for the reused run")
        XCTAssertTrue(stored[2].isDone)
        XCTAssertEqual(try runner.run(reuse: { _ in XCTFail("a done slot asks for no reuse"); return nil }).reusedCount, 0,
                       "once assigned, the reused run is the slot's stored result")
    }
}
