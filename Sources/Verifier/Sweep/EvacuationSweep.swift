import Foundation

/// One evacuation a sweep asks for (`migverify sweep --guest-count 1,2,4`): a run of its
/// matrix on N guests, standing for N consecutive slots of the sweep, guest 1 first, each
/// holding that guest's own parameters.
public struct EvacuationSlots: Sendable, Equatable {
    /// The slot of guest 1; guest I's is `firstPosition + I - 1`.
    public var firstPosition: Int
    /// The run of the matrix the evacuation runs (on guest 1's testbed).
    public var parameters: ScenarioParameters
    /// N, the guests it migrates.
    public var guestCount: Int

    /// Creates the slots of one evacuation.
    public init(firstPosition: Int, parameters: ScenarioParameters, guestCount: Int) {
        self.firstPosition = firstPosition
        self.parameters = parameters
        self.guestCount = guestCount
    }

    /// The positions of its guests' slots.
    public var positions: Range<Int> { firstPosition..<(firstPosition + guestCount) }

    /// The evacuations of `runs` over `guestCounts` (for each N in turn, each run: on the lab
    /// a fleet of N guests is booted once for all the runs and repeats of its N) and the
    /// sweep's slots they stand for, in order: for each, N slots whose parameters are
    /// `guestParameters(N, I, run)` for guest I from 1.
    public static func layout(_ runs: [ScenarioParameters], guestCounts: [Int],
                              guestParameters: (_ guestCount: Int, _ guestIndex: Int, ScenarioParameters) -> ScenarioParameters)
        -> (evacuations: [EvacuationSlots], slots: [ScenarioParameters]) {
        var evacuations: [EvacuationSlots] = []
        var slots: [ScenarioParameters] = []
        for count in guestCounts where count >= 1 {
            for run in runs {
                evacuations.append(EvacuationSlots(firstPosition: slots.count, parameters: run, guestCount: count))
                slots += (1...count).map { guestParameters(count, $0, run) }
            }
        }
        return (evacuations, slots)
    }

    /// Whether `slots` (this evacuation's, in position order) hold one complete, valid
    /// evacuation: a reusable run (``ScenarioResult/isReusable``) of every guest, in guest
    /// order, all of one evacuation of ``guestCount`` guests. Anything less (a guest missing,
    /// interrupted or not set up, runs of two evacuations) is run again whole.
    public func isComplete(_ slots: [SweepSlot]) -> Bool {
        guard slots.map(\.position) == Array(positions) else { return false }
        var evacuationID: String?
        for (offset, slot) in slots.enumerated() {
            guard slot.isDone, let result = slot.run?.result, result.isReusable, let membership = result.evacuation,
                  membership.guestIndex == offset + 1, membership.guestCount == guestCount,
                  evacuationID == nil || evacuationID == membership.evacuationID else { return false }
            evacuationID = membership.evacuationID
        }
        return true
    }
}

/// Runs the evacuations of a stored sweep that have no complete result yet, in order, and
/// records which guest's run stands for which slot: a re-run after SIGINT or a crash keeps
/// every complete evacuation and runs any other again whole (``EvacuationSlots/isComplete(_:)``),
/// so an evacuation's figures never mix guests of two evacuations.
public final class EvacuationSweepRunner: Sendable {
    /// The database holding the sweep.
    public let store: ResultsStore
    /// The sweep.
    public let sweepID: String
    /// Its evacuations, in slot order.
    public let evacuations: [EvacuationSlots]
    /// Runs one evacuation and returns its guests' results as stored (each with its `runID`).
    private let runEvacuation: @Sendable (EvacuationSlots) throws(VerifierError) -> EvacuationResult
    /// The signal that stopped a run, if any.
    private let signal: @Sendable () -> Int32?

    /// Creates a runner for the `evacuations` of sweep `sweepID` in `store`; `runEvacuation`
    /// runs one (tests run them without hosts this way).
    public init(store: ResultsStore, sweepID: String, evacuations: [EvacuationSlots],
                runEvacuation: @escaping @Sendable (EvacuationSlots) throws(VerifierError) -> EvacuationResult,
                signal: @escaping @Sendable () -> Int32?) {
        self.store = store
        self.sweepID = sweepID
        self.evacuations = evacuations
        self.runEvacuation = runEvacuation
        self.signal = signal
    }

    /// Runs what is left. `onProgress` is called before each evacuation runs, `onEvacuation`
    /// after it ran. A guest's interrupted run stops the sweep (``SweepOutcome/interruptedBy``),
    /// as does one that could not be set up (``SweepOutcome/setupError``): the evacuation is
    /// then incomplete and runs again whole when the sweep is resumed.
    public func run(onProgress: (SweepProgress) -> Void = { _ in },
                    onEvacuation: (EvacuationResult) -> Void = { _ in }) throws(VerifierError) -> SweepOutcome {
        var outcome = SweepOutcome(results: [], ranCount: 0, reusedCount: 0)
        let slots = try store.slots(sweepID: sweepID)
        func stored(_ evacuation: EvacuationSlots) -> [SweepSlot] { slots.filter { evacuation.positions.contains($0.position) } }
        var done = evacuations.filter { $0.isComplete(stored($0)) }.count
        var spentSeconds = 0.0
        var ranEvacuations = 0
        for (index, evacuation) in evacuations.enumerated() {
            let kept = stored(evacuation)
            if evacuation.isComplete(kept) {
                outcome.results += kept.compactMap { $0.run?.result }
                continue
            }
            let eta = ranEvacuations == 0 ? nil : spentSeconds / Double(ranEvacuations) * Double(evacuations.count - done)
            onProgress(SweepProgress(current: index + 1, total: evacuations.count, done: done,
                                     label: "\(evacuation.parameters.label), \(evacuation.guestCount) guest(s)", etaSeconds: eta))
            let started = Date()
            let result = try runEvacuation(evacuation)
            spentSeconds += Date().timeIntervalSince(started)
            ranEvacuations += 1
            outcome.ranCount += result.results.count
            for guest in result.results {
                guard let runID = guest.runID, let guestIndex = guest.evacuation?.guestIndex,
                      guestIndex >= 1, guestIndex <= evacuation.guestCount else { continue }
                try store.assign(runID: runID, sweepID: sweepID, position: evacuation.firstPosition + guestIndex - 1)
            }
            onEvacuation(result)
            outcome.results += result.results.filter { $0.status == .completed }
            if result.results.contains(where: { $0.status == .interrupted || $0.status == .running }) {
                outcome.interruptedBy = signal() ?? SIGINT
                return outcome
            }
            if let unset = result.results.first(where: { $0.status == .setupFailed }) {
                outcome.setupError = unset.setupError ?? "guest \(unset.evacuation?.guestIndex ?? 0)'s run could not be set up"
                return outcome
            }
            done += 1
        }
        return outcome
    }
}
