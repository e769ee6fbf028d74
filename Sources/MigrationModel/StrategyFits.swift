import Foundation

/// The pre-copy model fitted once per migration strategy.
///
/// One set of constants cannot describe every strategy: TLS and compression cost CPU per byte
/// and change the effective copy rate, multifd sets up more connections and copies in parallel,
/// auto-converge throttles the guest while it is copied. Pooled, such runs pull the constants
/// towards a mean that describes none of them, so each strategy (``MigrationObservation/strategy``)
/// gets its own fit, R² and held-out error. Post-copy migrations are fitted by none: they switch
/// to the destination after the first pass, which the pre-copy model does not describe.
public struct StrategyFits: Sendable, Equatable {
    /// The fit of one strategy's pre-copy migrations.
    public struct Group: Sendable, Equatable {
        /// The strategy its observations share.
        public var strategy: String
        /// Where its observations are in the input, in order. The fit's own indices
        /// (``FittedObservation/index``, ``FitExclusion/index``) count within the group.
        public var indices: [Int]
        /// Its cells, in order of first appearance (converging or not).
        public var cells: [String]
        /// The fit, or why there is none (e.g. fewer cells than fitted parameters).
        public var fit: Result<PreCopyFit, PreCopyFitError>
        /// The downtime model on the pre-copy fit's final passes, or why there is none (e.g. no
        /// downtime measured); `nil` when there is no pre-copy fit to take the passes from. Its
        /// indices count within the group, like the fit's.
        public var downtime: Result<DowntimeFit, DowntimeFitError>? = nil

        /// The fit when there is one.
        public var fitted: PreCopyFit? { try? fit.get() }
        /// The downtime model when there is one.
        public var downtimeFitted: DowntimeFit? { try? downtime?.get() }
    }

    /// Post-copy migrations of one strategy, which no pre-copy fit takes.
    public struct NotDescribed: Sendable, Equatable {
        public var strategy: String
        /// Where they are in the input, in order.
        public var indices: [Int]
        /// Their cells, in order of first appearance.
        public var cells: [String]
    }

    /// Why the pre-copy model does not describe post-copy migrations, in one clause.
    public static let postCopyReason = "post-copy switches to the destination after the first pass and fetches the rest on demand"

    /// One per strategy of pre-copy migrations, in order of first appearance.
    public var groups: [Group]
    /// One per strategy of post-copy migrations, in order of first appearance.
    public var notDescribed: [NotDescribed]

    /// Fits each strategy's pre-copy observations apart (the pre-copy model, then the downtime
    /// model on its final passes) and sets the post-copy ones aside.
    public static func fit(_ observations: [MigrationObservation]) -> StrategyFits {
        var order: [String] = []
        var members: [String: [Int]] = [:]
        var postCopyOrder: [String] = []
        var postCopyMembers: [String: [Int]] = [:]
        for (index, observation) in observations.enumerated() {
            if observation.postCopy {
                if postCopyMembers[observation.strategy] == nil { postCopyOrder.append(observation.strategy) }
                postCopyMembers[observation.strategy, default: []].append(index)
            } else {
                if members[observation.strategy] == nil { order.append(observation.strategy) }
                members[observation.strategy, default: []].append(index)
            }
        }
        let groups = order.map { strategy -> Group in
            let indices = members[strategy] ?? []
            let inGroup = indices.map { observations[$0] }
            let fit = Result { () throws(PreCopyFitError) -> PreCopyFit in try PreCopyFit.fit(inGroup) }
            let downtime = (try? fit.get()).map { preCopy in
                Result { () throws(DowntimeFitError) -> DowntimeFit in try DowntimeFit.fit(inGroup, preCopy: preCopy.parameters) }
            }
            return Group(strategy: strategy, indices: indices, cells: PreCopyFit.orderedCells(inGroup), fit: fit, downtime: downtime)
        }
        let notDescribed = postCopyOrder.map { strategy -> NotDescribed in
            let indices = postCopyMembers[strategy] ?? []
            return NotDescribed(strategy: strategy, indices: indices, cells: PreCopyFit.orderedCells(indices.map { observations[$0] }))
        }
        return StrategyFits(groups: groups, notDescribed: notDescribed)
    }

    /// The fit of `strategy`; `nil` when it has none (not fitted, post-copy, not in the sweep).
    public func fitted(_ strategy: String) -> PreCopyFit? {
        groups.first { $0.strategy == strategy }?.fitted
    }

    /// The downtime model of `strategy`; `nil` when it has none.
    public func downtimeFitted(_ strategy: String) -> DowntimeFit? {
        groups.first { $0.strategy == strategy }?.downtimeFitted
    }

    /// Whether at least one strategy was fitted.
    public var anyFitted: Bool { groups.contains { $0.fitted != nil } }
}
