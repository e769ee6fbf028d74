import Foundation

/// The middle value of `values`, or the mean of the two middle ones; `nil` for no values.
public func median(_ values: [Double]) -> Double? {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return nil }
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// Summary of the repeats of one measurement, in the unit of the values given.
public struct RepeatStatistics: Codable, Sendable, Equatable {
    /// Finite values used.
    public var count: Int
    /// Values dropped because they were NaN or infinite.
    public var droppedNonFiniteCount: Int
    public var mean: Double
    public var median: Double
    /// Sample standard deviation (n − 1); `nil` for one value.
    public var standardDeviation: Double?
    public var minimum: Double
    public var maximum: Double
    /// 95 % confidence interval of the mean (Student t); `nil` for one value.
    public var confidenceInterval95: ConfidenceInterval?
    /// What was dropped or could not be computed, in plain sentences.
    public var notes: [String]

    /// A confidence interval: `mean ± halfWidth`.
    public struct ConfidenceInterval: Codable, Sendable, Equatable {
        public var lower: Double
        public var upper: Double
        public var halfWidth: Double
    }

    /// Summarises `values`, dropping non-finite ones (and saying so).
    public init(_ values: [Double]) throws(RepeatStatisticsError) {
        let finite = values.filter(\.isFinite).sorted()
        guard let first = finite.first, let last = finite.last else { throw .noFiniteValues(count: values.count) }
        count = finite.count
        droppedNonFiniteCount = values.count - finite.count
        notes = droppedNonFiniteCount > 0 ? ["dropped \(droppedNonFiniteCount) non-finite value(s) of \(values.count)"] : []
        minimum = first
        maximum = last
        let n = Double(finite.count)
        mean = finite.reduce(0, +) / n
        median = MigrationModel.median(finite) ?? first
        guard finite.count >= 2 else {
            standardDeviation = nil
            confidenceInterval95 = nil
            notes.append("one value: no spread and no confidence interval")
            return
        }
        let mean = mean
        let deviation = (finite.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)).squareRoot()
        standardDeviation = deviation
        let halfWidth = Self.studentT95(degreesOfFreedom: finite.count - 1) * deviation / n.squareRoot()
        confidenceInterval95 = ConfidenceInterval(lower: mean - halfWidth, upper: mean + halfWidth, halfWidth: halfWidth)
    }

    /// Two-sided 95 % quantile of Student's t: a table up to 30 degrees of freedom, then the
    /// normal quantile with its first two Cornish-Fisher corrections, which tends to 1.96 for
    /// large n (within 0.001 of the exact value from 30 degrees on).
    public static func studentT95(degreesOfFreedom: Int) -> Double {
        let table: [Double] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                               2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                               2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
        guard degreesOfFreedom >= 1 else { return .infinity }
        if degreesOfFreedom <= table.count { return table[degreesOfFreedom - 1] }
        let z = 1.959964
        let freedom = Double(degreesOfFreedom)
        let z3 = z * z * z
        let z5 = z3 * z * z
        return z + (z3 + z) / (4 * freedom) + (5 * z5 + 16 * z3 + 3 * z) / (96 * freedom * freedom)
    }
}
