import Foundation

/// Where the fitted model puts the convergence boundary of one configuration.
public enum PredictedBoundary: Codable, Sendable, Equatable {
    /// Converges within the timeout below this dirty rate, not above it.
    case rate(bytesPerSecond: Double)
    /// Converges at every dirty rate, and why.
    case convergesAtEveryRate(reason: String)
    /// Does not converge in time even with an idle guest, and why.
    case neverConverges(reason: String)
}

extension PreCopyModel {
    /// The dirty rate (memeater's unique rate) above which the fitted model no longer
    /// converges within the timeout; `nil` when it converges at every rate (for example a
    /// dirty set that fits within the max downtime), 0 when it never converges. See
    /// ``predictedBoundaryExplained(memoryBytes:dirtySetBytes:pattern:transferRateBytesPerSecond:maxDowntimeMilliseconds:timeoutSeconds:fit:)``
    /// for the reason.
    public static func predictedBoundary(memoryBytes: Double, dirtySetBytes: Double, pattern: DirtyPattern,
                                         transferRateBytesPerSecond: Double, maxDowntimeMilliseconds: Double = 300,
                                         timeoutSeconds: Double, fit: PreCopyFitParameters) -> Double? {
        switch predictedBoundaryExplained(memoryBytes: memoryBytes, dirtySetBytes: dirtySetBytes, pattern: pattern,
                                          transferRateBytesPerSecond: transferRateBytesPerSecond,
                                          maxDowntimeMilliseconds: maxDowntimeMilliseconds, timeoutSeconds: timeoutSeconds, fit: fit) {
        case let .rate(bytesPerSecond): bytesPerSecond
        case .convergesAtEveryRate: nil
        case .neverConverges: 0
        }
    }

    /// The convergence boundary by bisection on the fitted model (which converges less as
    /// the rate grows), with the reason when there is none.
    public static func predictedBoundaryExplained(memoryBytes: Double, dirtySetBytes: Double, pattern: DirtyPattern,
                                                  transferRateBytesPerSecond: Double, maxDowntimeMilliseconds: Double = 300,
                                                  timeoutSeconds: Double, fit: PreCopyFitParameters) -> PredictedBoundary {
        func prediction(_ rate: Double) -> FittedPrediction {
            fit.predict(memoryBytes: memoryBytes, dirtySetBytes: dirtySetBytes, pattern: pattern, dirtyRateBytesPerSecond: rate,
                        transferRateBytesPerSecond: transferRateBytesPerSecond, maxDowntimeMilliseconds: maxDowntimeMilliseconds,
                        timeoutSeconds: timeoutSeconds)
        }
        let idle = prediction(0)
        guard idle.converges else { return .neverConverges(reason: "even an idle guest does not: \(idle.reason)") }
        // Far above every rate that matters, each pass finds the whole dirty set dirty.
        let ceiling = 1e6 * max(transferRateBytesPerSecond.isFinite ? transferRateBytesPerSecond : 0, dirtySetBytes, 1)
        var high = max(transferRateBytesPerSecond.isFinite ? transferRateBytesPerSecond : 1, 1)
        while prediction(high).converges {
            if high >= ceiling {
                return .convergesAtEveryRate(reason: "the whole dirty set (\(formatBytes(dirtySetBytes))) is sent within the max downtime "
                                             + "(\(formatNumber(maxDowntimeMilliseconds)) ms) and the timeout at any rate")
            }
            high *= 4
        }
        var low = 0.0
        for _ in 0..<200 where high - low > 1e-9 * high {
            let middle = (low + high) / 2
            if prediction(middle).converges { low = middle } else { high = middle }
        }
        return .rate(bytesPerSecond: (low + high) / 2)
    }
}

/// Why a bisection cannot start.
public enum BoundaryBisectionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The rate bracket is not finite with 0 ≤ low < high.
    case invalidRange(lowBytesPerSecond: Double, highBytesPerSecond: Double)
    /// A step budget below 1.
    case invalidBudget(Int)

    public var description: String {
        switch self {
        case let .invalidRange(low, high):
            "bisection range \(formatNumber(low))-\(formatNumber(high)) B/s: need finite 0 ≤ low < high"
        case let .invalidBudget(steps):
            "bisection budget of \(steps) step(s): need at least 1"
        }
    }
}

/// The measured convergence boundary of a sweep, found by bisection.
///
/// Pure and deterministic: it replays the bisection from `low` and `high` over the results
/// so far, so a resumed sweep derives the same next rate from its stored results. The
/// first step measures `high` (it must not converge for there to be a boundary below it);
/// `low` is assumed to converge unless a result says otherwise.
public struct BoundaryBisection: Codable, Sendable, Equatable {
    /// A rate that converges (assumed).
    public var lowBytesPerSecond: Double
    /// A rate that should not converge (measured first).
    public var highBytesPerSecond: Double
    /// The most migrations to run.
    public var stepBudget: Int
    /// Stop when the bracket is this narrow.
    public var resolutionBytesPerSecond: Double

    /// The next thing to do.
    public enum Step: Sendable, Equatable {
        /// Run a migration at this dirty rate and add its result.
        case measure(rateBytesPerSecond: Double)
        /// Done: the boundary lies in the bracket.
        case finished(BoundaryBracket)
    }

    /// Creates a bisection; rejects an empty range or budget.
    public init(lowBytesPerSecond: Double, highBytesPerSecond: Double, stepBudget: Int,
                resolutionBytesPerSecond: Double = 0) throws(BoundaryBisectionError) {
        guard lowBytesPerSecond.isFinite, highBytesPerSecond.isFinite, lowBytesPerSecond >= 0, lowBytesPerSecond < highBytesPerSecond else {
            throw .invalidRange(lowBytesPerSecond: lowBytesPerSecond, highBytesPerSecond: highBytesPerSecond)
        }
        guard stepBudget >= 1 else { throw .invalidBudget(stepBudget) }
        self.lowBytesPerSecond = lowBytesPerSecond
        self.highBytesPerSecond = highBytesPerSecond
        self.stepBudget = stepBudget
        self.resolutionBytesPerSecond = resolutionBytesPerSecond.isFinite ? max(0, resolutionBytesPerSecond) : 0
    }

    /// The next rate to measure, or the final bracket, given the results so far (rate →
    /// converged). Results off the bisection's path are not used.
    public func next(results: [Double: Bool]) -> Step {
        func result(at rate: Double) -> Bool? {
            if let exact = results[rate] { return exact }
            return results.first { abs($0.key - rate) <= 1e-9 * max(abs(rate), 1) }?.value
        }
        if result(at: lowBytesPerSecond) == false {
            return .finished(BoundaryBracket(highestConvergingBytesPerSecond: nil, lowestNonConvergingBytesPerSecond: lowBytesPerSecond,
                                             lowAssumed: false, stepsUsed: 0,
                                             reason: "the low rate \(formatNumber(lowBytesPerSecond)) B/s did not converge: the boundary is below the range"))
        }
        guard let highConverged = result(at: highBytesPerSecond) else { return .measure(rateBytesPerSecond: highBytesPerSecond) }
        if highConverged {
            return .finished(BoundaryBracket(highestConvergingBytesPerSecond: highBytesPerSecond, lowestNonConvergingBytesPerSecond: nil,
                                             lowAssumed: false, stepsUsed: 1,
                                             reason: "the high rate \(formatNumber(highBytesPerSecond)) B/s converged: the boundary is above the range"))
        }
        var low = lowBytesPerSecond
        var high = highBytesPerSecond
        var stepsUsed = 1
        var lowMeasured = result(at: lowBytesPerSecond) != nil
        while true {
            let reason: String? = if high - low <= resolutionBytesPerSecond { "the bracket is within the resolution" }
                else if stepsUsed >= stepBudget { "the budget of \(stepBudget) step(s) is spent" }
                else { nil }
            let middle = low + (high - low) / 2
            let splittable = middle > low && middle < high
            if let stop = reason ?? (splittable ? nil : "the bracket cannot be split further") {
                return .finished(BoundaryBracket(highestConvergingBytesPerSecond: low, lowestNonConvergingBytesPerSecond: high,
                                                 lowAssumed: !lowMeasured, stepsUsed: stepsUsed, reason: stop))
            }
            guard let converged = result(at: middle) else { return .measure(rateBytesPerSecond: middle) }
            stepsUsed += 1
            if converged {
                low = middle
                lowMeasured = true
            } else {
                high = middle
            }
        }
    }
}

/// Where the measured boundary lies.
public struct BoundaryBracket: Codable, Sendable, Equatable {
    /// The highest rate that converged (`nil` when even the low rate did not).
    public var highestConvergingBytesPerSecond: Double?
    /// The lowest rate that did not converge (`nil` when even the high rate converged).
    public var lowestNonConvergingBytesPerSecond: Double?
    /// Whether the converging end is the assumed low rate, never measured.
    public var lowAssumed: Bool
    /// Migrations on the bisection's path.
    public var stepsUsed: Int
    /// Why the bisection stopped.
    public var reason: String
}
