import Foundation

/// Where a sweep is, for a progress display: which slot runs, how many are done and an
/// estimate of the time left.
public struct SweepProgress: Sendable, Equatable {
    /// The slot now running, from 1.
    public var current: Int
    /// Slots in the sweep.
    public var total: Int
    /// Slots with a result (stored earlier or made now).
    public var done: Int
    /// What the current slot runs.
    public var label: String
    /// The mean wall time of the slots run so far in this process times the slots left, in
    /// seconds; `nil` before the first one finished.
    public var etaSeconds: Double?
}

/// How a sweep ended.
public struct SweepOutcome: Sendable {
    /// The result standing for every slot that has one, in slot order.
    public var results: [ScenarioResult]
    /// Slots run now (not taken from the database).
    public var ranCount: Int
    /// Slots taken from earlier runs.
    public var reusedCount: Int
    /// SIGINT/SIGTERM stopped it.
    public var interruptedBy: Int32?
    /// A run could not be set up: the sweep stopped there (the error, in one line).
    public var setupError: String?
}

/// Runs the slots of a stored sweep that have no result yet, in order, and records which
/// run stands for which slot: a re-run after SIGINT or a crash continues where it stopped,
/// with nothing run twice and nothing missing. An interrupted or unset-up run is never a
/// result, so its slot is run again.
public final class SweepRunner: Sendable {
    /// The database holding the sweep.
    public let store: ResultsStore
    /// The sweep.
    public let sweepID: String
    /// Runs one slot and returns its result as stored in `store` (with its `runID`: what the
    /// run's recorder returned from `finish`).
    private let runSlot: @Sendable (ScenarioParameters) -> ScenarioResult
    /// The signal that stopped a run, if any.
    private let signal: @Sendable () -> Int32?

    /// Creates a runner for sweep `sweepID` in `store` whose slots `runner` runs under `policy`
    /// (a sweep keeps the guest where it is and takes non-convergence as a result).
    public convenience init(store: ResultsStore, runner: ScenarioRunner, sweepID: String, policy: RunPolicy) {
        self.init(store: store, sweepID: sweepID, runSlot: { runner.run($0, policy: policy) },
                  signal: { runner.interruption.signal })
    }

    /// Creates a runner whose slots `runSlot` runs (tests run slots without a lab this way).
    public init(store: ResultsStore, sweepID: String, runSlot: @escaping @Sendable (ScenarioParameters) -> ScenarioResult,
                signal: @escaping @Sendable () -> Int32?) {
        self.store = store
        self.sweepID = sweepID
        self.runSlot = runSlot
        self.signal = signal
    }

    /// Runs what is left. `reuse` may offer a stored result for a slot (a plain `run` reuses
    /// completed runs of equal parameters from any earlier run); `onProgress` is called
    /// before each slot runs; `onResult` after each slot got its result (run or reused).
    /// `extend` is asked for more slots once every slot has a result (a bisection's next
    /// rates, derived from the results so far); the sweep ends when it returns none.
    public func run(reuse: (ScenarioParameters) -> (result: ScenarioResult, runID: Int64)? = { _ in nil },
                    extend: ([SweepSlot]) throws(VerifierError) -> [ScenarioParameters] = { _ in [] },
                    onProgress: (SweepProgress) -> Void = { _ in },
                    onResult: (ScenarioResult, _ reused: Bool) -> Void = { _, _ in }) throws(VerifierError) -> SweepOutcome {
        var outcome = SweepOutcome(results: [], ranCount: 0, reusedCount: 0)
        var slots = try store.slots(sweepID: sweepID)
        var spentSeconds = 0.0
        var done = slots.filter(\.isDone).count
        var index = 0
        while true {
            if index == slots.count {
                // Read again: extend derives the next slots from the results, including those made now.
                slots = try store.slots(sweepID: sweepID)
                var known = Set(slots.map(\.parameters.key))
                // A slot asked for twice is one experiment: added (and run) once.
                let more = try extend(slots).filter { known.insert($0.key).inserted }
                if more.isEmpty { break }
                _ = try store.appendSlots(sweepID: sweepID, more)
                slots = try store.slots(sweepID: sweepID)
                continue
            }
            let slot = slots[index]
            index += 1
            if slot.isDone, let result = slot.run?.result {
                outcome.results.append(result)
                continue
            }
            if let reused = reuse(slot.parameters) {
                try store.assign(runID: reused.runID, sweepID: sweepID, position: slot.position)
                var result = reused.result
                result.reusedFromRunID = reused.runID
                outcome.results.append(result)
                outcome.reusedCount += 1
                done += 1
                onResult(result, true)
                continue
            }
            let eta = outcome.ranCount == 0 ? nil : spentSeconds / Double(outcome.ranCount) * Double(slots.count - done)
            onProgress(SweepProgress(current: index, total: slots.count, done: done, label: slot.parameters.label, etaSeconds: eta))
            let started = Date()
            let result = runSlot(slot.parameters)
            spentSeconds += Date().timeIntervalSince(started)
            outcome.ranCount += 1
            if let runID = result.runID { try store.assign(runID: runID, sweepID: sweepID, position: slot.position) }
            onResult(result, false)
            switch result.status {
            case .completed:
                outcome.results.append(result)
                done += 1
            case .interrupted, .running:  // a run that did not end (never returned by a runner) is no result either
                outcome.interruptedBy = signal() ?? SIGINT
                return outcome
            case .setupFailed:
                outcome.setupError = result.setupError ?? "the run could not be set up"
                return outcome
            }
        }
        return outcome
    }
}
