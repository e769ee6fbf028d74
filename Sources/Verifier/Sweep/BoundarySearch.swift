import Foundation
import MigrationModel

/// The measured convergence boundary of a sweep (`--find-boundary STEPS`): for every group
/// of live slots that differ only in dirty rate, a bisection between the group's lowest and
/// highest positive rate, one more migration at a time. It is derived from the stored slots
/// alone, so a resumed sweep asks for the same next rates.
public enum BoundarySearch {
    /// The slot to run next, of the first group whose bisection is not finished (one group
    /// after the other, so that the guest of one memory size serves all its steps): empty
    /// when every bisection is finished or waits for results of slots not yet run.
    public static func nextSlots(_ slots: [SweepSlot], stepBudget: Int) -> [ScenarioParameters] {
        guard stepBudget >= 1 else { return [] }
        let live = slots.filter { $0.parameters.scenario.measuresAnUndisturbedMigration }
        for group in SweepAnalysis.group(live, by: { SweepAnalysis.boundaryKey($0.parameters) }) {
            guard group.allSatisfy(\.isDone) else { continue }
            let rates = group.map(\.parameters.dirtyRateMiBPerSecond).filter { $0 > 0 }
            guard let low = rates.min(), let high = rates.max(), low < high,
                  let bisection = try? BoundaryBisection(lowBytesPerSecond: low, highBytesPerSecond: high, stepBudget: stepBudget) else { continue }
            // A rate converged when every run at it converged.
            var results: [Double: Bool] = [:]
            for slot in group {
                let converged = slot.run?.result?.figures.convergence == .converged
                results[slot.parameters.dirtyRateMiBPerSecond] = (results[slot.parameters.dirtyRateMiBPerSecond] ?? true) && converged
            }
            if case .measure(let rate) = bisection.next(results: results) {
                var parameters = group[0].parameters
                parameters.dirtyRateMiBPerSecond = rate
                parameters.repetition = nil
                return [parameters]
            }
        }
        return []
    }
}
