import Foundation

/// What an evacuation runs: how many guests, how many at once, and which guest the
/// scenario's fault acts on. Checked before anything runs; each error is one line for the CLI.
public struct EvacuationPlan: Sendable, Equatable {
    /// The guests migrated, N ≥ 1.
    public var guestCount: Int
    /// The most migrating at once, 1...N (default: N, all at once).
    public var maxConcurrent: Int
    /// The one guest (from 1) the scenario's fault acts on, the others migrating live beside
    /// it; `nil`: the scenario runs on every guest (a host-wide fault acts on the evacuation).
    public var faultGuest: Int?

    /// A plan; `maxConcurrent` `nil` is all at once.
    public init(guestCount: Int, maxConcurrent: Int? = nil, faultGuest: Int? = nil) {
        self.guestCount = guestCount
        self.maxConcurrent = maxConcurrent ?? guestCount
        self.faultGuest = faultGuest
    }

    /// The most guests of one evacuation: a bound for sanity (each is a thread, a ping and a
    /// memeater connection on this machine).
    public static let maximumGuestCount = 256

    /// Rejects a plan that cannot run, in one line.
    public func validate() throws(VerifierError) {
        guard (1...Self.maximumGuestCount).contains(guestCount) else {
            throw .invalidOptions("--guest-count must be between 1 and \(Self.maximumGuestCount), not \(guestCount)")
        }
        guard (1...guestCount).contains(maxConcurrent) else {
            throw .invalidOptions("--max-concurrent must be between 1 and --guest-count (\(guestCount)), not \(maxConcurrent)")
        }
        if let faultGuest, !(1...guestCount).contains(faultGuest) {
            throw .invalidOptions("--fault-guest must be between 1 and --guest-count (\(guestCount)), not \(faultGuest)")
        }
    }

    /// The plans of the evacuation axis (`--guest-count 1,2,4`): one per guest count N, in
    /// order, each with at most `maxConcurrent` at once capped at N (default: all N) and the
    /// fault on guest `faultGuest`. Rejects, in one line, a count out of range, a K above the
    /// largest N and an I above the smallest N; a single N is checked by ``validate()`` alone,
    /// as before the axis existed.
    public static func plans(guestCounts: [Int], maxConcurrent: Int?, faultGuest: Int?) throws(VerifierError) -> [EvacuationPlan] {
        guard let smallest = guestCounts.min(), let largest = guestCounts.max() else {
            throw .invalidOptions("--guest-count lists no guest count")
        }
        guard guestCounts.count > 1 else {
            let plan = EvacuationPlan(guestCount: largest, maxConcurrent: maxConcurrent, faultGuest: faultGuest)
            try plan.validate()
            return [plan]
        }
        for count in guestCounts { try EvacuationPlan(guestCount: count).validate() }
        if let maxConcurrent, !(1...largest).contains(maxConcurrent) {
            throw .invalidOptions("--max-concurrent must be between 1 and the largest --guest-count (\(largest)), not \(maxConcurrent)")
        }
        if let faultGuest, !(1...smallest).contains(faultGuest) {
            throw .invalidOptions("--fault-guest must be between 1 and the smallest --guest-count (\(smallest)), not \(faultGuest)")
        }
        return guestCounts.map { count in
            EvacuationPlan(guestCount: count, maxConcurrent: maxConcurrent.map { min($0, count) }, faultGuest: faultGuest)
        }
    }

    /// Rejects `scenario` when this plan cannot run it: a fault put on one guest must act on
    /// that guest alone (``Fault/actsOnOneGuest``), or it would hit the others too; on every
    /// guest of several, a host-wide fault must be one they share
    /// (``Fault/sharedInAnEvacuation``), or each guest's run would install and lift it under
    /// the others' migrations.
    public func validate(scenario: ScenarioKind, catalog: FaultCatalog) throws(VerifierError) {
        let type = catalog.type(of: scenario)
        guard faultGuest != nil else {
            guard guestCount > 1, !type.actsOnOneGuest, !type.sharedInAnEvacuation else { return }
            let shared = catalog.types.filter { $0.sharedInAnEvacuation }.map { $0.scenario.rawValue }
            throw .invalidOptions("--scenario \(scenario.rawValue) acts on a whole host and cannot yet be shared by \(guestCount) guests at once"
                                  + " (shared: \(shared.joined(separator: ", "))); put it on one guest with --fault-guest if it acts on one alone")
        }
        // live among them: in a matrix of live and a fault, the live runs are live on every guest.
        guard type.actsOnOneGuest else {
            let oneGuest = catalog.types.filter { $0.actsOnOneGuest && $0.expectation != .migrates }.map { $0.scenario.rawValue }
            throw .invalidOptions("--fault-guest needs a fault that acts on one guest alone (\(oneGuest.joined(separator: ", "))), not \(scenario.rawValue)")
        }
    }

    /// The scenario guest `index` (from 1) runs: the plan's on the fault guest (or on every
    /// guest without one), live on the others.
    public func scenario(ofGuest index: Int, _ scenario: ScenarioKind) -> ScenarioKind {
        guard let faultGuest else { return scenario }
        return index == faultGuest ? scenario : .live
    }
}
