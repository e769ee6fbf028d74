import Foundation

/// One measured migration of a sweep, as the fit reads it.
public struct MigrationObservation: Codable, Sendable, Equatable {
    /// The matrix cell: all repeats of one cell share it (held out together when validating).
    public var cell: String
    /// Guest RAM.
    public var memoryBytes: Double
    /// memeater's region: the most the guest dirties, and the non-zero memory the first pass sends.
    public var dirtySetBytes: Double
    /// How memeater picks its pages.
    public var pattern: DirtyPattern
    /// memeater's achieved rate of unique bytes per one-second window.
    public var dirtyRateBytesPerSecond: Double
    /// The migration stream's rate (R), from libvirt's job statistics.
    public var transferRateBytesPerSecond: Double
    /// QEMU's max downtime (its default: 300 ms).
    public var maxDowntimeMilliseconds: Double
    /// The verifier's timeout: a migration still running then is aborted (did not converge).
    public var timeoutSeconds: Double
    /// Whether the migration completed.
    public var converged: Bool
    /// Whether it switched to post-copy (the pre-copy model does not describe it).
    public var postCopy: Bool
    /// Measured migration time.
    public var migrationMilliseconds: Double?
    /// Downtime libvirt reported.
    public var downtimeMilliseconds: Double?
    /// QEMU's own forecast of the downtime (`expected_downtime`, libvirt's job stats while the
    /// job was still in pre-copy), to set beside ``DowntimeFit``'s; `nil` when not recorded
    /// (observations stored before it was kept lack the key).
    public var qemuExpectedDowntimeMilliseconds: Double?
    /// Passes libvirt reported.
    public var iterations: Int?
    /// Bytes libvirt reported as transferred.
    public var transferredBytes: Double?
    /// The strategy group it is fitted in (``StrategyFits``), e.g. `precopy`, `tls`,
    /// `parallel=4`: migrations of different groups are fitted apart, since the strategy
    /// changes the model's constants. The caller names the group.
    public var strategy: String

    /// Creates an observation.
    public init(cell: String, memoryBytes: Double, dirtySetBytes: Double, pattern: DirtyPattern = .sequential,
                dirtyRateBytesPerSecond: Double, transferRateBytesPerSecond: Double, maxDowntimeMilliseconds: Double = 300,
                timeoutSeconds: Double, converged: Bool, postCopy: Bool = false, migrationMilliseconds: Double?,
                downtimeMilliseconds: Double? = nil, iterations: Int? = nil, transferredBytes: Double? = nil,
                strategy: String = "precopy", qemuExpectedDowntimeMilliseconds: Double? = nil) {
        self.cell = cell
        self.memoryBytes = memoryBytes
        self.dirtySetBytes = dirtySetBytes
        self.pattern = pattern
        self.dirtyRateBytesPerSecond = dirtyRateBytesPerSecond
        self.transferRateBytesPerSecond = transferRateBytesPerSecond
        self.maxDowntimeMilliseconds = maxDowntimeMilliseconds
        self.timeoutSeconds = timeoutSeconds
        self.converged = converged
        self.postCopy = postCopy
        self.migrationMilliseconds = migrationMilliseconds
        self.downtimeMilliseconds = downtimeMilliseconds
        self.iterations = iterations
        self.transferredBytes = transferredBytes
        self.strategy = strategy
        self.qemuExpectedDowntimeMilliseconds = qemuExpectedDowntimeMilliseconds
    }

    /// Dirty rate over transfer rate (0 when the transfer rate is not positive).
    public var dirtyToTransferRatio: Double {
        transferRateBytesPerSecond > 0 && transferRateBytesPerSecond.isFinite ? dirtyRateBytesPerSecond / transferRateBytesPerSecond : 0
    }
}

/// Why the fit cannot be made, in one line each.
public enum PreCopyFitError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nothing was given to fit.
    case noObservations
    /// A transfer rate that is zero, negative or not finite.
    case invalidTransferRate(cell: String, bytesPerSecond: Double)
    /// Another figure of an observation that is negative or not finite.
    case invalidObservation(cell: String, field: String, value: Double)
    /// The guest dirtied at least as fast as the link sent in every observation.
    case dirtyRateNotBelowTransferRate(observations: Int)
    /// No observation is a converged pre-copy migration with a measured time.
    case noConvergingObservations(excluded: Int)
    /// Fewer converging cells than fitted parameters.
    case tooFewCells(converging: Int, needed: Int)

    public var description: String {
        switch self {
        case .noObservations:
            "no observations to fit"
        case let .invalidTransferRate(cell, rate):
            "cell \(cell): transfer rate \(formatNumber(rate)) B/s is not a positive finite number"
        case let .invalidObservation(cell, field, value):
            "cell \(cell): \(field) \(formatNumber(value)) is not a finite number ≥ 0"
        case let .dirtyRateNotBelowTransferRate(count):
            "the dirty rate is not below the transfer rate in any of the \(count) observations: nothing converges by pre-copy to fit"
        case let .noConvergingObservations(excluded):
            "none of the \(excluded) observations is a converged pre-copy migration with a measured time"
        case let .tooFewCells(converging, needed):
            "\(converging) converging cell(s), fewer than the \(needed) fitted parameters: sweep more memory sizes, rates or transfer rates"
        }
    }
}

/// Why a statistic cannot be computed.
public enum RepeatStatisticsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No finite value among `count` given.
    case noFiniteValues(count: Int)

    public var description: String {
        switch self {
        case let .noFiniteValues(count): "no finite value among the \(count) given"
        }
    }
}
