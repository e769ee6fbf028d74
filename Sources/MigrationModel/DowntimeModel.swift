import Foundation

/// The constants of the downtime model: downtime = fixed + final pass / switch-over rate.
///
/// The pre-copy model's own downtime (its last pass at the transfer rate, plus resume) is an
/// upper bound: QEMU's switch-over is not held to the bandwidth limit, so on a limited link
/// the guest is paused far shorter than the last pass takes at the limit. Here the bytes of
/// that last pass are copied at a rate of their own, fitted, and what does not grow with them
/// (device state, the switch-over's handshakes, the resume on the destination) is one fixed cost.
public struct DowntimeFitParameters: Codable, Sendable, Equatable {
    /// Device state, switch-over and resume: the part of the downtime that does not grow
    /// with the memory left, ms (≥ 0).
    public var fixedMilliseconds: Double
    /// The rate the switch-over copies the memory left at; `nil` in a fixed-only model (the
    /// final passes did not vary enough to tell the rate from the fixed cost, or a longer
    /// final pass did not lengthen the downtime).
    public var switchOverBytesPerSecond: Double?

    /// The number of fitted constants (fixed cost and rate).
    public static let count = 2

    /// Creates parameters.
    public init(fixedMilliseconds: Double, switchOverBytesPerSecond: Double?) {
        self.fixedMilliseconds = fixedMilliseconds
        self.switchOverBytesPerSecond = switchOverBytesPerSecond
    }

    /// The downtime when `finalPassBytes` are left at the last sync, ms.
    public func predictMilliseconds(finalPassBytes: Double) -> Double {
        let fixed = fixedMilliseconds.isFinite ? max(0, fixedMilliseconds) : 0
        let bytes = finalPassBytes.isFinite ? max(0, finalPassBytes) : 0
        guard let rate = switchOverBytesPerSecond, rate.isFinite, rate > 0 else { return fixed }
        return fixed + bytes / rate * 1000
    }
}

/// One run the downtime model was fitted to: its final pass, the downtime measured, and the
/// downtime predicted in sample, held out and by QEMU.
public struct FittedDowntime: Codable, Sendable, Equatable {
    /// Position in the input.
    public var index: Int
    /// Its matrix cell (held out with the cell's other runs).
    public var cell: String
    /// The pre-copy model's last pass for it, under the pre-copy parameters given, bytes.
    public var finalPassBytes: Double
    /// libvirt's downtime.
    public var measuredMilliseconds: Double
    /// The fitted model's downtime.
    public var predictedMilliseconds: Double
    /// The downtime predicted with its cell held out (the pre-copy shape and the downtime model
    /// refitted without it); `nil` when no fold predicted it (too few cells, or the refitted
    /// pre-copy model does not converge for it).
    public var heldOutPredictedMilliseconds: Double?
    /// QEMU's `expected_downtime` for it, when recorded.
    public var qemuExpectedMilliseconds: Double?
}

/// QEMU's `expected_downtime` against the measured downtime, beside the model's error on the
/// same runs.
public struct ExpectedDowntimeComparison: Codable, Sendable, Equatable {
    /// Fitted runs that carry QEMU's figure (the rest are not in these means).
    public var observations: Int
    /// Fitted runs without it.
    public var missing: Int
    /// QEMU's mean absolute percentage error over those runs.
    public var meanAbsolutePercentageError: Double
    /// The downtime model's held-out error over the same runs (`nil`: no held-out figure).
    public var modelHeldOutMeanAbsolutePercentageError: Double?
    /// The downtime model's in-sample error over the same runs.
    public var modelMeanAbsolutePercentageError: Double
}

/// Why no downtime model can be fitted, in one line each.
public enum DowntimeFitError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nothing was given to fit.
    case noObservations
    /// No converged pre-copy run has a measured downtime.
    case noMeasuredDowntime(converging: Int)
    /// The pre-copy model converges for none of the runs with a downtime: no final pass to copy.
    case noFinalPass(withDowntime: Int)

    /// The reason, in one line.
    public var description: String {
        switch self {
        case .noObservations:
            "no observations to fit the downtime model to"
        case let .noMeasuredDowntime(converging):
            "none of the \(converging) converged pre-copy run(s) has a measured downtime"
        case let .noFinalPass(count):
            "the pre-copy model converges for none of the \(count) run(s) with a measured downtime: no final pass to copy"
        }
    }
}

/// The downtime model fitted to a sweep's converged pre-copy runs that have a measured
/// downtime: downtime = fixed + the pre-copy model's last pass / the switch-over's own rate.
///
/// It is the downtime prediction; the pre-copy model's downtime (``PreCopyFit``) stays an upper bound.
public struct DowntimeFit: Codable, Sendable, Equatable {
    /// The pre-copy model whose last pass the downtime model copies.
    public var preCopyParameters: PreCopyFitParameters
    /// The fitted constants.
    public var parameters: DowntimeFitParameters
    /// The runs fitted, predicted beside measured (in sample, held out, by QEMU).
    public var observations: [FittedDowntime]
    /// Runs left out, and why (not converged, post-copy, no downtime, no final pass).
    public var exclusions: [FitExclusion]
    /// Converged pre-copy runs left out because libvirt reported no downtime for them.
    public var withoutDowntimeCount: Int
    /// R² of the downtime (`nil` when it does not vary or for fewer than two runs).
    public var rSquared: Double?
    /// In-sample mean absolute percentage error, e.g. `8.5` for 8.5 %.
    public var meanAbsolutePercentageError: Double?
    /// Leave-one-cell-out validation.
    public var heldOut: HeldOutValidation
    /// QEMU's `expected_downtime` against the measured downtime (`nil`: no run carries it).
    public var qemuExpectedDowntime: ExpectedDowntimeComparison?
    /// Plain sentences: how well it predicts, beside QEMU, and where it fails.
    public var limits: [String]
    /// How the fit was made, and what it could not use.
    public var notes: [String]

    /// Whether the model is a fixed cost only (no switch-over rate).
    public var isFixedOnly: Bool { parameters.switchOverBytesPerSecond == nil }

    /// Relative errors divide by the measured downtime, but by at least this much: a
    /// downtime of a fraction of a millisecond would otherwise outweigh every other run.
    public static let relativeErrorFloorMilliseconds = 1.0
    /// The final passes must spread at least this much (standard deviation over mean) to
    /// tell the switch-over rate from the fixed cost.
    public static let minimumFinalPassSpread = 0.1

    /// Fits the downtime model to the converged pre-copy runs among `observations` that have
    /// a measured downtime, taking their final passes from the pre-copy model under `preCopy`.
    ///
    /// Method: fixed cost and 1 / rate enter linearly, so they are solved exactly by
    /// non-negative weighted least squares relative to the measured downtime (each residual
    /// divided by it, as in the MAPE). Held out: each cell with a downtime in turn, the
    /// pre-copy shape refitted without it (from `preCopy`), then the downtime model on the
    /// other cells' runs, and the cell predicted.
    public static func fit(_ observations: [MigrationObservation],
                           preCopy: PreCopyFitParameters) throws(DowntimeFitError) -> DowntimeFit {
        guard !observations.isEmpty else { throw .noObservations }
        var exclusions: [FitExclusion] = []
        // Every converged pre-copy run shapes the pre-copy model of a fold, with a downtime or not.
        var preCopyUsable: [MigrationObservation] = []
        var candidates: [(index: Int, observation: MigrationObservation)] = []
        var withoutDowntime = 0
        for (index, observation) in observations.enumerated() {
            if let reason = PreCopyFit.exclusionReason(observation) {
                exclusions.append(FitExclusion(index: index, cell: observation.cell, reason: reason))
                continue
            }
            preCopyUsable.append(observation)
            guard observation.downtimeMilliseconds != nil else {
                withoutDowntime += 1
                exclusions.append(FitExclusion(index: index, cell: observation.cell, reason: "no downtime was measured"))
                continue
            }
            candidates.append((index, observation))
        }
        guard !candidates.isEmpty else { throw .noMeasuredDowntime(converging: preCopyUsable.count) }
        var rows: [Row] = []
        for candidate in candidates {
            guard let row = Row(candidate.observation, index: candidate.index, preCopy: preCopy) else {
                exclusions.append(FitExclusion(index: candidate.index, cell: candidate.observation.cell,
                                               reason: "the pre-copy model does not converge for it: no final pass to copy"))
                continue
            }
            rows.append(row)
        }
        guard !rows.isEmpty else { throw .noFinalPass(withDowntime: candidates.count) }
        exclusions.sort { $0.index < $1.index }

        let solved = solve(rows)
        let parameters = solved.parameters
        let cells = PreCopyFit.orderedCells(rows.map(\.observation))
        var notes = ["fitted \(rows.count) run(s) with a measured downtime in \(cells.count) cell(s); "
                     + "\(withoutDowntime) converged pre-copy run(s) without a downtime left out; \(exclusions.count) excluded in all"]
        if let fallback = solved.fixedOnlyReason { notes.append(fallback) }
        if let rate = parameters.switchOverBytesPerSecond {
            let transfer = rows.map(\.observation.transferRateBytesPerSecond).sorted()
            let median = transfer[transfer.count / 2]
            let ratio = rate / median
            notes.append("the switch-over copies at \(formatBytes(rate))/s, \(formatNumber(ratio))× the median "
                         + "pre-copy transfer rate (\(formatBytes(median))/s)"
                         + (ratio > 1 ? ": faster than the passes, since QEMU does not hold the switch-over to the bandwidth limit" : ""))
        }
        if rows.contains(where: { $0.measuredMilliseconds < relativeErrorFloorMilliseconds }) {
            notes.append("downtimes under \(formatNumber(relativeErrorFloorMilliseconds)) ms are weighed and scored as "
                         + "\(formatNumber(relativeErrorFloorMilliseconds)) ms: their relative error would swamp the rest")
        }

        let heldOut = validate(rows, preCopyUsable: preCopyUsable, around: preCopy)
        let fitted = rows.map { row in
            FittedDowntime(index: row.index, cell: row.observation.cell, finalPassBytes: row.finalPassBytes,
                           measuredMilliseconds: row.measuredMilliseconds,
                           predictedMilliseconds: parameters.predictMilliseconds(finalPassBytes: row.finalPassBytes),
                           heldOutPredictedMilliseconds: heldOut.predictions[row.index],
                           qemuExpectedMilliseconds: row.observation.qemuExpectedDowntimeMilliseconds)
        }
        let rSquared = PreCopyFit.rSquared(fitted.map { ($0.measuredMilliseconds, $0.predictedMilliseconds) })
        let inSample = meanAbsolutePercentageError(fitted.map { ($0.measuredMilliseconds, $0.predictedMilliseconds) })
        let comparison = compareWithQEMU(fitted)
        if comparison == nil {
            notes.append("no run carries QEMU's expected_downtime (runs stored before it was kept): no comparison with QEMU")
        }
        let limits = describeLimits(fitted: fitted, heldOut: heldOut.validation, comparison: comparison, inSample: inSample)
        return DowntimeFit(preCopyParameters: preCopy, parameters: parameters, observations: fitted, exclusions: exclusions,
                           withoutDowntimeCount: withoutDowntime, rSquared: rSquared, meanAbsolutePercentageError: inSample,
                           heldOut: heldOut.validation, qemuExpectedDowntime: comparison, limits: limits, notes: notes)
    }

    /// One run the model is fitted to: its final pass under some pre-copy parameters.
    struct Row {
        let index: Int
        let observation: MigrationObservation
        let finalPassBytes: Double
        let measuredMilliseconds: Double

        /// `nil` when the run has no downtime or the pre-copy model does not converge for it.
        init?(_ observation: MigrationObservation, index: Int, preCopy: PreCopyFitParameters) {
            guard let measured = observation.downtimeMilliseconds else { return nil }
            // A run the model converges for only after the timeout still has a last pass: its bytes are what counts here.
            let passes = preCopy.predict(observation).passes
            guard passes.converges, let last = passes.passBytes.last, last.isFinite else { return nil }
            self.index = index
            self.observation = observation
            finalPassBytes = max(0, last)
            measuredMilliseconds = measured
        }

        /// 1 / scale²: residuals relative to the measured downtime, as in the MAPE.
        var weight: Double {
            let scale = max(measuredMilliseconds, DowntimeFit.relativeErrorFloorMilliseconds)
            return 1 / (scale * scale)
        }
    }

    /// The non-negative weighted least-squares fit of `rows`, and why it is fixed-only when it is.
    static func solve(_ rows: [Row]) -> (parameters: DowntimeFitParameters, fixedOnlyReason: String?) {
        // x in MiB keeps the normal equations well scaled; the slope is ms per MiB.
        let mib = 1_048_576.0
        var sw = 0.0, sx = 0.0, sxx = 0.0, sm = 0.0, sxm = 0.0
        for row in rows {
            let w = row.weight
            let x = row.finalPassBytes / mib
            sw += w
            sx += w * x
            sxx += w * x * x
            sm += w * row.measuredMilliseconds
            sxm += w * x * row.measuredMilliseconds
        }
        let fixedOnly = sw > 0 ? sm / sw : 0
        func fixed(_ reason: String) -> (DowntimeFitParameters, String?) {
            (DowntimeFitParameters(fixedMilliseconds: max(0, fixedOnly), switchOverBytesPerSecond: nil), reason)
        }
        let finals = rows.map(\.finalPassBytes)
        let mean = finals.reduce(0, +) / Double(finals.count)
        let deviation = (finals.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(finals.count)).squareRoot()
        let cellCount = PreCopyFit.orderedCells(rows.map(\.observation)).count
        guard cellCount >= 2, mean > 0, deviation / mean >= minimumFinalPassSpread else {
            let spread = mean > 0 ? "varies by \(formatNumber(deviation / mean * 100)) % (standard deviation over mean)" : "is 0 throughout"
            return fixed("the pre-copy model's final pass \(spread) over \(cellCount) cell(s), which cannot tell the switch-over rate "
                         + "from the fixed cost (at least \(formatNumber(minimumFinalPassSpread * 100)) % over two cells needed): "
                         + "fitted as a fixed cost only, \(formatNumber(max(0, fixedOnly))) ms")
        }
        // The unconstrained solution; when it breaks a bound, the best on the bounds (the cost is convex).
        let determinant = sw * sxx - sx * sx
        var intercept = 0.0
        var slope = 0.0
        if determinant > 0 {
            slope = (sw * sxm - sx * sm) / determinant
            intercept = (sm - slope * sx) / sw
        }
        if !(determinant > 0) || intercept < 0 || slope < 0 {
            func cost(_ a: Double, _ b: Double) -> Double {
                rows.reduce(0) { total, row in
                    let residual = row.measuredMilliseconds - a - b * row.finalPassBytes / mib
                    return total + row.weight * residual * residual
                }
            }
            let throughZero = sxx > 0 ? max(0, sxm / sxx) : 0
            (intercept, slope) = cost(0, throughZero) < cost(fixedOnly, 0) ? (0, throughZero) : (fixedOnly, 0)
        }
        guard slope > 0, slope.isFinite else {
            return fixed("a longer final pass did not lengthen the downtime (the best rate term is 0): "
                         + "fitted as a fixed cost only, \(formatNumber(max(0, fixedOnly))) ms")
        }
        return (DowntimeFitParameters(fixedMilliseconds: max(0, intercept), switchOverBytesPerSecond: 1000 * mib / slope), nil)
    }

    /// Mean absolute percentage error over (measured, predicted) pairs, the measured at least
    /// ``relativeErrorFloorMilliseconds``; `nil` for none.
    static func meanAbsolutePercentageError(_ pairs: [(measured: Double, predicted: Double)]) -> Double? {
        guard !pairs.isEmpty else { return nil }
        let errors = pairs.map { abs($0.predicted - $0.measured) / max($0.measured, relativeErrorFloorMilliseconds) * 100 }
        return errors.reduce(0, +) / Double(errors.count)
    }

    /// Leave-one-cell-out over the cells of `rows`: the pre-copy shape refitted from `full`
    /// without the cell (on every converged pre-copy run, with a downtime or not), the downtime
    /// model fitted to the other cells' rows under it, the cell's rows predicted. The
    /// held-out predictions are keyed by ``Row/index``.
    static func validate(_ rows: [Row], preCopyUsable: [MigrationObservation],
                         around full: PreCopyFitParameters) -> (validation: HeldOutValidation, predictions: [Int: Double]) {
        let cells = PreCopyFit.orderedCells(rows.map(\.observation))
        let preCopyCells = PreCopyFit.orderedCells(preCopyUsable).count
        var missing: [String] = []
        if preCopyCells <= PreCopyFitParameters.count {
            missing.append("\(preCopyCells) converged pre-copy cell(s): holding one out leaves fewer than the "
                           + "\(PreCopyFitParameters.count) the pre-copy shape needs")
        }
        if cells.count <= DowntimeFitParameters.count {
            missing.append("\(cells.count) cell(s) with a downtime: holding one out leaves fewer than the "
                           + "\(DowntimeFitParameters.count) the downtime model needs")
        }
        let spread = PreCopyFit.repeatSpreadPercent(rows.map { ($0.observation.cell, $0.measuredMilliseconds) })
        guard missing.isEmpty else {
            return (HeldOutValidation(folds: 0, predictions: 0, meanAbsolutePercentageError: nil, unpredictedCells: [],
                                    notes: ["no held-out downtime figure: " + missing.joined(separator: "; ")], repeatSpreadPercent: spread), [:])
        }
        var predictions: [Int: Double] = [:]
        var pairs: [(Double, Double)] = []
        var unpredicted: [String] = []
        for cell in cells {
            let shape = FitObjective(preCopyUsable.filter { $0.cell != cell }).minimize(start: full)
            let training = rows.filter { $0.observation.cell != cell }.compactMap { Row($0.observation, index: $0.index, preCopy: shape) }
            guard !training.isEmpty else {
                unpredicted.append(cell)
                continue
            }
            let model = solve(training).parameters
            for row in rows where row.observation.cell == cell {
                guard let heldOut = Row(row.observation, index: row.index, preCopy: shape) else {
                    if unpredicted.last != cell { unpredicted.append(cell) }
                    continue
                }
                let predicted = model.predictMilliseconds(finalPassBytes: heldOut.finalPassBytes)
                predictions[row.index] = predicted
                pairs.append((row.measuredMilliseconds, predicted))
            }
        }
        var notes: [String] = []
        if !unpredicted.isEmpty {
            notes.append("held out, the refitted pre-copy model has no final pass (no convergence) for: \(unpredicted.joined(separator: ", "))")
        }
        return (HeldOutValidation(folds: cells.count, predictions: pairs.count, meanAbsolutePercentageError: meanAbsolutePercentageError(pairs),
                                unpredictedCells: unpredicted, notes: notes, repeatSpreadPercent: spread), predictions)
    }

    /// QEMU's error over the fitted runs that carry its figure, beside the model's on them.
    static func compareWithQEMU(_ fitted: [FittedDowntime]) -> ExpectedDowntimeComparison? {
        let withQEMU = fitted.filter { $0.qemuExpectedMilliseconds?.isFinite ?? false }
        guard let qemu = meanAbsolutePercentageError(withQEMU.compactMap { row in row.qemuExpectedMilliseconds.map { (row.measuredMilliseconds, $0) } }),
              let model = meanAbsolutePercentageError(withQEMU.map { ($0.measuredMilliseconds, $0.predictedMilliseconds) }) else { return nil }
        let heldOut = withQEMU.compactMap { row in row.heldOutPredictedMilliseconds.map { (row.measuredMilliseconds, $0) } }
        return ExpectedDowntimeComparison(
            observations: withQEMU.count, missing: fitted.count - withQEMU.count, meanAbsolutePercentageError: qemu,
            // Only when every run QEMU forecast was predicted held out: a subset would compare other runs.
            modelHeldOutMeanAbsolutePercentageError: heldOut.count == withQEMU.count ? meanAbsolutePercentageError(heldOut) : nil,
            modelMeanAbsolutePercentageError: model)
    }

    /// The sentences on how well the model predicts, beside QEMU, and the cells it misses.
    static func describeLimits(fitted: [FittedDowntime], heldOut: HeldOutValidation, comparison: ExpectedDowntimeComparison?,
                               inSample: Double?) -> [String] {
        var limits: [String] = []
        if let heldOutError = heldOut.meanAbsolutePercentageError {
            var sentence = "held out, the downtime model is off by \(formatNumber(heldOutError)) %"
            if let comparison {
                sentence += ", QEMU's expected_downtime by \(formatNumber(comparison.meanAbsolutePercentageError)) %"
                if comparison.missing > 0 || comparison.modelHeldOutMeanAbsolutePercentageError == nil {
                    sentence += " (on the \(comparison.observations) run(s) QEMU forecast, the model "
                        + (comparison.modelHeldOutMeanAbsolutePercentageError.map { "held out: \(formatNumber($0)) %)" }
                           ?? "was not predicted held out for all of them)")
                }
            } else {
                sentence += "; QEMU's expected_downtime was not recorded for these runs"
            }
            limits.append(sentence)
        } else {
            limits.append((heldOut.notes.first ?? "no held-out downtime figure")
                          + (inSample.map { "; in sample the downtime model is off by \(formatNumber($0)) %" } ?? "")
                          + (comparison.map { ", QEMU's expected_downtime by \(formatNumber($0.meanAbsolutePercentageError)) %" } ?? ""))
        }
        // Cells the held-out prediction misses by far more than the rest.
        let scored = fitted.compactMap { row in
            row.heldOutPredictedMilliseconds.map { (row.cell, abs($0 - row.measuredMilliseconds) / max(row.measuredMilliseconds, relativeErrorFloorMilliseconds) * 100) }
        }
        if let overall = heldOut.meanAbsolutePercentageError {
            var order: [String] = []
            var errors: [String: [Double]] = [:]
            for (cell, error) in scored {
                if errors[cell] == nil { order.append(cell) }
                errors[cell, default: []].append(error)
            }
            for cell in order {
                let values = errors[cell] ?? []
                let cellError = values.reduce(0, +) / Double(max(1, values.count))
                if cellError > 25, cellError > 2 * overall {
                    limits.append("cell \(cell): downtime off by \(formatNumber(cellError)) % held out (\(formatNumber(overall)) % over all cells)")
                }
            }
        }
        return limits
    }
}
