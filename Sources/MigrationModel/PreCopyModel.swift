import Foundation

/// What the pre-copy model needs. All figures in bytes, bytes per second and milliseconds.
public struct PreCopyModelInput: Codable, Sendable, Equatable {
    /// Bytes the first pass sends (at most the guest RAM; QEMU sends zero pages as short
    /// headers, so for a mostly empty guest the caller may pass the non-zero part).
    public var firstPassBytes: Double
    /// The most memory that can be dirty at once: the guest's written working set (for
    /// memeater, its region). Dirtying saturates at this size.
    public var dirtySetBytes: Double
    /// Unique bytes the guest dirties per second.
    public var dirtyRateBytesPerSecond: Double
    /// Transfer rate of the migration stream.
    public var bandwidthBytesPerSecond: Double
    /// The longest pause QEMU may take to switch over (QEMU's default: 300 ms).
    public var maxDowntimeMilliseconds: Double
    /// Passes after which the model declares no convergence.
    public var maxIterations: Int
    /// How the guest picks the pages it dirties: how many distinct bytes an interval leaves dirty.
    public var pattern: DirtyPattern

    /// Creates an input.
    public init(firstPassBytes: Double, dirtySetBytes: Double, dirtyRateBytesPerSecond: Double,
                bandwidthBytesPerSecond: Double, maxDowntimeMilliseconds: Double = 300, maxIterations: Int = 100,
                pattern: DirtyPattern = .sequential) {
        self.firstPassBytes = firstPassBytes
        self.dirtySetBytes = dirtySetBytes
        self.dirtyRateBytesPerSecond = dirtyRateBytesPerSecond
        self.bandwidthBytesPerSecond = bandwidthBytesPerSecond
        self.maxDowntimeMilliseconds = maxDowntimeMilliseconds
        self.maxIterations = maxIterations
        self.pattern = pattern
    }

    private enum CodingKeys: String, CodingKey {
        case firstPassBytes, dirtySetBytes, dirtyRateBytesPerSecond, bandwidthBytesPerSecond, maxDowntimeMilliseconds,
             maxIterations, pattern
    }

    /// Reads an input; results stored before the pattern existed were sequential.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        firstPassBytes = try c.decode(Double.self, forKey: .firstPassBytes)
        dirtySetBytes = try c.decode(Double.self, forKey: .dirtySetBytes)
        dirtyRateBytesPerSecond = try c.decode(Double.self, forKey: .dirtyRateBytesPerSecond)
        bandwidthBytesPerSecond = try c.decode(Double.self, forKey: .bandwidthBytesPerSecond)
        maxDowntimeMilliseconds = try c.decode(Double.self, forKey: .maxDowntimeMilliseconds)
        maxIterations = try c.decode(Int.self, forKey: .maxIterations)
        pattern = try c.decodeIfPresent(DirtyPattern.self, forKey: .pattern) ?? .sequential
    }
}

/// What the pre-copy model predicts.
public struct PreCopyPrediction: Codable, Sendable, Equatable {
    /// Whether the remaining dirty memory falls under what can be sent within the max downtime.
    public var converges: Bool
    /// Passes over memory before the switch-over (1 = only the first pass), or the passes
    /// made before giving up.
    public var iterations: Int
    /// Time from start to switch-over end, in ms (when it converges).
    public var totalMilliseconds: Double?
    /// Time the guest is paused for the final copy, in ms (when it converges).
    public var downtimeMilliseconds: Double?
    /// Bytes sent in all passes including the final one.
    public var transferredBytes: Double
    /// Bytes sent per pass, the final stop-and-copy last.
    public var passBytes: [Double]
    /// Why it converges or not, in one line.
    public var reason: String
}

/// The textbook pre-copy model: pass 0 copies the memory while the guest dirties pages at
/// a constant rate; every next pass copies what was dirtied during the previous one (never
/// more than the dirty set, and for random and hot-set patterns fewer: see
/// ``DirtyPattern/uniqueDirtiedBytes(dirtyRateBytesPerSecond:dirtySetBytes:seconds:)``); the
/// guest is paused once what is left can be sent within the max downtime.
///
/// It ignores what QEMU adds (zero-page detection, the bitmap syncs, bandwidth ramp-up,
/// device state) and is meant to be read side by side with the measurements, not to judge them.
public enum PreCopyModel {
    /// Predicts the migration for `input`.
    public static func predict(_ input: PreCopyModelInput) -> PreCopyPrediction {
        simulate(input, firstPassExtraSeconds: 0)
    }

    /// The passes of `input`; the first pass lasts `firstPassExtraSeconds` longer than its
    /// bytes take at the bandwidth (the fitted cost of scanning the guest RAM), and the
    /// guest keeps dirtying meanwhile.
    static func simulate(_ input: PreCopyModelInput, firstPassExtraSeconds: Double) -> PreCopyPrediction {
        let bandwidth = input.bandwidthBytesPerSecond
        guard bandwidth > 0, bandwidth.isFinite else {
            return PreCopyPrediction(converges: false, iterations: 0, totalMilliseconds: nil, downtimeMilliseconds: nil,
                                     transferredBytes: 0, passBytes: [], reason: "no bandwidth: nothing can be sent")
        }
        let dirtyRate = input.dirtyRateBytesPerSecond.isFinite ? max(0, input.dirtyRateBytesPerSecond) : 0
        let dirtySet = input.dirtySetBytes.isFinite ? max(0, input.dirtySetBytes) : 0
        let allowedFinalBytes = bandwidth * max(0, input.maxDowntimeMilliseconds) / 1000
        var extraSeconds = firstPassExtraSeconds.isFinite ? max(0, firstPassExtraSeconds) : 0
        var passes: [Double] = []
        var elapsedSeconds = 0.0
        var toSend = input.firstPassBytes.isFinite ? max(0, input.firstPassBytes) : 0
        var previousRemaining = Double.infinity
        while passes.count < max(1, input.maxIterations) {
            let seconds = toSend / bandwidth + extraSeconds
            extraSeconds = 0
            passes.append(toSend)
            elapsedSeconds += seconds
            let remaining = input.pattern.uniqueDirtiedBytes(dirtyRateBytesPerSecond: dirtyRate, dirtySetBytes: dirtySet,
                                                             seconds: seconds)
            if remaining <= allowedFinalBytes {
                let downtimeSeconds = remaining / bandwidth
                passes.append(remaining)
                return PreCopyPrediction(
                    converges: true, iterations: passes.count - 1,
                    totalMilliseconds: (elapsedSeconds + downtimeSeconds) * 1000,
                    downtimeMilliseconds: downtimeSeconds * 1000, transferredBytes: passes.reduce(0, +),
                    passBytes: passes,
                    reason: "after \(passes.count - 1) pass(es) \(formatBytes(remaining)) remain, which fit into "
                        + "\(formatNumber(input.maxDowntimeMilliseconds)) ms at \(formatBytes(bandwidth))/s")
            }
            if remaining >= previousRemaining {
                let why = dirtyRate >= bandwidth
                    ? "the guest dirties \(formatBytes(dirtyRate))/s, not less than the \(formatBytes(bandwidth))/s sent"
                    : "the dirty set (\(formatBytes(dirtySet))) never shrinks below \(formatBytes(allowedFinalBytes)) that fit into \(formatNumber(input.maxDowntimeMilliseconds)) ms"
                return PreCopyPrediction(converges: false, iterations: passes.count, totalMilliseconds: nil,
                                         downtimeMilliseconds: nil, transferredBytes: passes.reduce(0, +),
                                         passBytes: passes, reason: "does not converge: \(why)")
            }
            previousRemaining = remaining
            toSend = remaining
        }
        return PreCopyPrediction(converges: false, iterations: passes.count, totalMilliseconds: nil, downtimeMilliseconds: nil,
                                 transferredBytes: passes.reduce(0, +), passBytes: passes,
                                 reason: "does not converge within \(input.maxIterations) passes")
    }
}

/// One figure predicted by the model next to the measured one.
public struct ModelComparisonRow: Codable, Sendable, Equatable {
    public var figure: String
    public var predicted: Double?
    public var measured: Double?
    /// measured / predicted, when both are known and predicted is not 0.
    public var ratio: Double?
    /// Where the measured figure came from.
    public var measuredSource: String
}

/// The model's prediction and the measurements, side by side.
public struct ModelComparison: Codable, Sendable, Equatable {
    /// The input the prediction was made from, and where its figures came from.
    public var input: PreCopyModelInput
    public var inputSources: [String: String]
    public var prediction: PreCopyPrediction
    public var rows: [ModelComparisonRow]

    /// Builds the comparison from a prediction and the measured figures (any may be `nil`).
    public init(input: PreCopyModelInput, inputSources: [String: String], prediction: PreCopyPrediction,
                measuredConverged: Bool?, measuredMilliseconds: Double?, measuredDowntimeMilliseconds: Double?,
                measuredIterations: Int?, measuredTransferredBytes: Double?, measuredSource: String) {
        self.input = input
        self.inputSources = inputSources
        self.prediction = prediction
        func row(_ figure: String, _ predicted: Double?, _ measured: Double?) -> ModelComparisonRow {
            let ratio: Double? = if let predicted, let measured, predicted != 0 { measured / predicted } else { nil }
            return ModelComparisonRow(figure: figure, predicted: predicted, measured: measured, ratio: ratio,
                                      measuredSource: measuredSource)
        }
        rows = [
            row("converges (1 = yes)", prediction.converges ? 1 : 0, measuredConverged.map { $0 ? 1 : 0 }),
            row("migration time (ms)", prediction.totalMilliseconds, measuredMilliseconds),
            row("downtime (ms)", prediction.downtimeMilliseconds, measuredDowntimeMilliseconds),
            row("iterations", Double(prediction.iterations), measuredIterations.map { Double($0) }),
            row("transferred (MiB)", prediction.transferredBytes / 1_048_576, measuredTransferredBytes.map { $0 / 1_048_576 }),
        ]
    }

    /// A small text table: figure, predicted, measured, ratio.
    public var table: String {
        var lines = ["  model vs measured      predicted     measured    ratio"]
        for row in rows {
            func cell(_ value: Double?) -> String { value.map { formatNumber($0) } ?? "-" }
            lines.append("  " + pad(row.figure, 22) + leftPad(cell(row.predicted), 10) + leftPad(cell(row.measured), 13)
                         + leftPad(row.ratio.map { String(format: "%.2f", $0) } ?? "-", 9))
        }
        lines.append("  model: \(prediction.reason)")
        return lines.joined(separator: "\n")
    }
}
