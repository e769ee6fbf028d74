import Foundation
import MigrationModel
import SweepReport

/// The runs of one matrix cell (equal parameters but the repetition) and their statistics.
public struct CellAnalysis: Sendable {
    /// The cell's parameters with no repetition (its identity).
    public var parameters: ScenarioParameters
    /// Its completed runs, in slot order.
    public var runs: [ScenarioResult]
    /// Over the converged runs: libvirt's migration time, libvirt's downtime, the ping gap (ms).
    public var migrationMilliseconds: RepeatStatistics?
    public var libvirtDowntimeMilliseconds: RepeatStatistics?
    public var pingGapMilliseconds: RepeatStatistics?
    /// Over the same converged runs: the dirty rate each achieved, as the model is fed it
    /// (``SweepAnalysis/fedDirtyRateMiBPerSecond(_:)``: during the pre-copy passes when known),
    /// MiB/s: where the report plots the cell; `nil` when none recorded it.
    public var achievedDirtyRateMiBPerSecond: RepeatStatistics?
    /// Runs that converged, of those that had to land.
    public var convergedCount: Int
    /// The prediction of its strategy's fitted model for the cell (its runs' mean achieved rate
    /// and transfer rate); `nil` when its strategy has no fit. Its downtime is the pre-copy
    /// model's, an upper bound: ``predictedDowntimeMilliseconds`` is the prediction.
    public var predicted: FittedPrediction?
    /// The downtime its strategy's downtime model (``DowntimeFit``) predicts at the final pass of
    /// ``predicted``; `nil` when the strategy has no downtime model or the pre-copy model does
    /// not converge for the cell.
    public var predictedDowntimeMilliseconds: Double? = nil

    /// The cell's label, e.g. `live 1024 MiB @ 15 MiB/s`.
    public var label: String { parameters.seriesLabel }
}

/// Where migration stops converging for one memory size and bandwidth (and the other
/// dimensions of the matrix): measured from the sweep's live runs, and predicted by the fit.
public struct BoundaryAnalysis: Sendable {
    /// A live run standing for the group (its rate is not meaningful).
    public var parameters: ScenarioParameters
    /// The highest target rate at which every run converged, MiB/s.
    public var highestConvergingMiBPerSecond: Double?
    /// The lowest target rate at which a run did not converge, MiB/s.
    public var lowestNonConvergingMiBPerSecond: Double?
    /// The boundary of its strategy's fitted model at the group's median transfer rate, MiB/s.
    public var predictedMiBPerSecond: Double?
    /// Why there is no prediction, or what it assumed.
    public var predictionNote: String
}

/// A sweep's stored results, analysed for `migverify correlate` and `migverify report`:
/// statistics over repeats per cell, the pre-copy model fitted to the converging live runs of
/// each strategy, the convergence boundary, the dirty-rate cross-check and the downtime
/// decomposition.
public struct SweepAnalysis: Sendable {
    public var sweep: StoredSweep
    /// The completed runs of one guest that stand for the sweep's slots, in slot order (an
    /// evacuation's runs are in ``evacuations``: many guests at once are not the one migration
    /// the cells, the model and the boundary describe).
    public var results: [ScenarioResult]
    /// The sweep's complete evacuations (`--guest-count`), in slot order, each with its
    /// guests' runs and figures (``evacuations(_:)``).
    public var evacuations: [EvacuationResult]
    /// Slots with no completed run yet (the sweep was interrupted or is still running).
    public var missingSlotCount: Int
    public var cells: [CellAnalysis]
    /// The pre-copy model fitted per strategy (``fitStrategy(_:)``), each with why it has no
    /// fit where it has none, and the post-copy runs no fit takes (`nil`: no live runs).
    public var fits: StrategyFits?
    public var boundaries: [BoundaryAnalysis]

    /// Reads sweep `sweepID` from `store` and analyses it; an unknown id is an invalid option
    /// naming the ids the database has.
    public init(store: ResultsStore, sweepID: String) throws(VerifierError) {
        guard let sweep = try store.sweep(id: sweepID) else {
            let known = try store.sweeps().map(\.id)
            throw .invalidOptions("unknown sweep id '\(sweepID)' in \(store.path)"
                                  + (known.isEmpty ? " (it has no sweeps)" : " (known: \(known.suffix(8).joined(separator: ", ")))"))
        }
        let slots = try store.slots(sweepID: sweepID)
        self.init(sweep: sweep, results: slots.compactMap { $0.isDone ? $0.run?.result : nil },
                  missingSlotCount: slots.filter { !$0.isDone }.count)
    }

    /// Analyses `results` (completed runs) of `sweep`.
    public init(sweep: StoredSweep, results allResults: [ScenarioResult], missingSlotCount: Int = 0) {
        self.sweep = sweep
        evacuations = Self.evacuations(allResults)
        let results = allResults.filter { $0.evacuation == nil }
        self.results = results
        self.missingSlotCount = missingSlotCount
        let live = Self.fitRuns(results)
        let names = Self.fitCellNames(live)
        let observations = live.map { Self.observation($0, cell: names[Self.cellKey($0.parameters)]) }
        let fits = observations.isEmpty ? nil : StrategyFits.fit(observations)
        self.fits = fits
        // Each cell and boundary group is predicted by the fit of its own strategy.
        func parameters(_ run: ScenarioResult) -> PreCopyFitParameters? {
            fits?.fitted(Self.fitStrategy(run.parameters.migration))?.parameters
        }
        func downtime(_ run: ScenarioResult) -> DowntimeFitParameters? {
            fits?.downtimeFitted(Self.fitStrategy(run.parameters.migration))?.parameters
        }
        cells = Self.group(results, by: { Self.cellKey($0.parameters) }).map { runs in
            Self.cell(runs, fit: parameters(runs[0]), downtime: downtime(runs[0]))
        }
        boundaries = Self.group(live, by: { Self.boundaryKey($0.parameters) }).map { runs in
            Self.boundary(runs, fit: parameters(runs[0]))
        }
    }

    /// Whether a pre-copy model was fitted to at least one strategy.
    public var anyFitted: Bool { fits?.anyFitted ?? false }


    // MARK: the pieces

    /// The runs the fits see, in the order of their observations (``StrategyFits/Group/indices``
    /// count in it): runs that measure an undisturbed migration and have a convergence verdict.
    static func fitRuns(_ results: [ScenarioResult]) -> [ScenarioResult] {
        results.filter { $0.parameters.scenario.measuresAnUndisturbedMigration && $0.figures.convergence != nil }
    }

    /// The run behind index `fitIndex` of `group`'s fit (``FitOutlier/index``), named for people:
    /// `run #57 (repeat 2)`.
    static func fitRunName(_ fitIndex: Int, in group: StrategyFits.Group, runs: [ScenarioResult]) -> String {
        guard group.indices.indices.contains(fitIndex), runs.indices.contains(group.indices[fitIndex]) else { return "run ?" }
        let run = runs[group.indices[fitIndex]]
        return "run #\(run.runID.map(String.init) ?? "-")" + (run.parameters.repetition.map { " (repeat \($0))" } ?? "")
    }

    /// A fit's outliers as lines naming their runs: `run #57 (repeat 2), CELL: residual outlier: …`.
    static func outlierLines(_ fit: PreCopyFit, in group: StrategyFits.Group, runs: [ScenarioResult]) -> [String] {
        fit.outliers.map { "\(fitRunName($0.index, in: group, runs: runs)), \($0.cell): \($0.reason)" }
    }

    /// The cell a run belongs to: its parameters without the repetition.
    static func cellKey(_ parameters: ScenarioParameters) -> String {
        var cell = parameters
        cell.repetition = nil
        return cell.key
    }

    /// The strategy a run is fitted with: its strategy label without `max-downtime=MS`.
    ///
    /// Runs of different strategies are fitted apart because the strategy changes the model's
    /// constants: TLS and compression the copy rate and its CPU cost, multifd the rate and the
    /// connections set up, tunnelling and client-managed migration the setup, auto-converge the
    /// guest's rate while copied. The max downtime is different: the model takes it per run (the
    /// switch-over threshold), so `max-downtime=100` runs join the rest of their strategy and
    /// test the model at another threshold. Post-copy runs keep their label and are never
    /// fitted (``StrategyFits``).
    static func fitStrategy(_ migration: MigrationOptions) -> String {
        var options = migration
        options.qemuMaxDowntimeMilliseconds = nil
        return options.strategyLabel
    }

    /// The boundary group of a run: its parameters without rate and repetition.
    static func boundaryKey(_ parameters: ScenarioParameters) -> String {
        var group = parameters
        group.repetition = nil
        group.dirtyRateMiBPerSecond = 0
        return group.key
    }

    /// The names the fit gives the cells of `results` (it holds cells out by name, and its
    /// messages and limits name them to people): the cell's label, with the emulator and guest
    /// kind when the runs vary them, numbered when cells still differ only in a parameter the
    /// label leaves out. Keyed by ``cellKey(_:)``.
    static func fitCellNames(_ results: [ScenarioResult]) -> [String: String] {
        let emulators = Set(results.map(\.parameters.emulator))
        let guestKinds = Set(results.map(\.parameters.guestKind))
        var names: [String: String] = [:]
        var uses: [String: Int] = [:]
        for result in results {
            let key = cellKey(result.parameters)
            guard names[key] == nil else { continue }
            let p = result.parameters
            let label = p.seriesLabel + (emulators.count > 1 ? ", emulator \(p.emulator)" : "")
                + (guestKinds.count > 1 ? ", guest \(p.guestKind)" : "")
            let use = (uses[label] ?? 0) + 1
            uses[label] = use
            names[key] = use == 1 ? label : "\(label) (\(use))"
        }
        return names
    }

    /// The complete evacuations among `results`, grouped by evacuation id in first-seen order:
    /// each with its guests' runs in guest order and ``EvacuationFigures`` of them. An
    /// evacuation missing a guest's run is left out (its figures would be another evacuation's).
    static func evacuations(_ results: [ScenarioResult]) -> [EvacuationResult] {
        group(results.filter { $0.evacuation != nil }, by: { $0.evacuation?.evacuationID ?? "" }).compactMap { runs in
            let ordered = runs.sorted { ($0.evacuation?.guestIndex ?? 0) < ($1.evacuation?.guestIndex ?? 0) }
            guard let membership = ordered.first?.evacuation, membership.guestCount == ordered.count,
                  ordered.enumerated().allSatisfy({ $0.element.evacuation?.guestIndex == $0.offset + 1 }) else { return nil }
            return EvacuationResult(evacuationID: membership.evacuationID, results: ordered,
                                    figures: EvacuationFigures(ordered.map(EvacuationGuestTiming.init)))
        }
    }

    /// Groups in first-seen order.
    static func group<Item>(_ items: [Item], by key: (Item) -> String) -> [[Item]] {
        var order: [String] = []
        var groups: [String: [Item]] = [:]
        for item in items {
            let k = key(item)
            if groups[k] == nil { order.append(k) }
            groups[k, default: []].append(item)
        }
        return order.compactMap { groups[$0] }
    }

    /// The transfer rate R of a run, bytes/s: libvirt's median `memory_bps`, else the limit.
    static func transferRateBytesPerSecond(_ result: ScenarioResult) -> Double {
        if let measured = result.figures.transferRateMiBPerSecond { return measured * 1_048_576 }
        return Double(result.parameters.migration.bandwidthMiBPerSecond ?? 0) * 1_048_576
    }

    /// The dirty rate a run's guest achieved, MiB/s: what memeater achieved before the
    /// migration; under auto-converge the guest's rate while migrated, since QEMU's throttle
    /// lowers the rate the copy races against (the settled rate would predict a
    /// non-convergence the throttle prevents). `nil` when neither was recorded.
    static func measuredDirtyRateMiBPerSecond(_ result: ScenarioResult) -> Double? {
        if result.parameters.migration.autoConverge, let throttled = result.figures.guestDirtyRateDuringMigrationMiBPerSecond {
            return throttled
        }
        return result.achievedDirtyRateMiBPerSecond
    }

    /// The dirty rate the model takes for a run, MiB/s: what the guest dirtied during the
    /// pre-copy passes when memeater's history said it (under TCG dirty tracking slows the
    /// guest, most at unlimited rates), else the measured one, else the target (the fit needs a
    /// number; the report plots no run at a target).
    static func modelDirtyRateMiBPerSecond(_ result: ScenarioResult) -> Double {
        fedDirtyRateMiBPerSecond(result) ?? result.parameters.dirtyRateMiBPerSecond
    }

    /// The measured rate the model is fed, MiB/s: during the pre-copy passes when known, else
    /// ``measuredDirtyRateMiBPerSecond(_:)``; where the report plots a run, so that its point
    /// and the model's curve share one axis.
    static func fedDirtyRateMiBPerSecond(_ result: ScenarioResult) -> Double? {
        result.figures.guestDirtyRatePreCopyMiBPerSecond ?? measuredDirtyRateMiBPerSecond(result)
    }

    /// What the fit sees of a live run; `cell` names its cell (default: its label).
    static func observation(_ result: ScenarioResult, cell: String? = nil) -> MigrationObservation {
        let p = result.parameters
        let mib = 1_048_576.0
        return MigrationObservation(
            cell: cell ?? p.seriesLabel, memoryBytes: Double(p.memoryMiB) * mib, dirtySetBytes: Double(p.memeaterSizeMiB) * mib,
            pattern: p.effectiveMemeaterLoad.dirtyPattern,
            dirtyRateBytesPerSecond: modelDirtyRateMiBPerSecond(result) * mib,
            transferRateBytesPerSecond: transferRateBytesPerSecond(result),
            maxDowntimeMilliseconds: Double(p.migration.qemuMaxDowntimeMilliseconds ?? 300), timeoutSeconds: p.timeoutSeconds,
            converged: result.figures.convergence == .converged, postCopy: p.migration.postCopy,
            migrationMilliseconds: result.migrationMilliseconds, downtimeMilliseconds: result.libvirtDowntimeMilliseconds,
            iterations: result.iterations, transferredBytes: result.transferredBytes.map { Double($0) },
            strategy: fitStrategy(p.migration), qemuExpectedDowntimeMilliseconds: result.figures.qemuExpectedDowntimeMilliseconds)
    }

    static func statistics(_ values: [Double?]) -> RepeatStatistics? {
        try? RepeatStatistics(values.compactMap { $0 })
    }

    static func cell(_ runs: [ScenarioResult], fit: PreCopyFitParameters?, downtime: DowntimeFitParameters? = nil) -> CellAnalysis {
        var parameters = runs[0].parameters
        parameters.repetition = nil
        let converged = runs.filter { $0.figures.convergence == .converged }
        var predicted: FittedPrediction?
        if let fit, parameters.scenario.measuresAnUndisturbedMigration, !parameters.migration.postCopy {
            let observations = runs.map { observation($0) }
            let mean = { (values: [Double]) in values.reduce(0, +) / Double(max(1, values.count)) }
            let first = observations[0]
            predicted = fit.predict(memoryBytes: first.memoryBytes, dirtySetBytes: first.dirtySetBytes, pattern: first.pattern,
                                    dirtyRateBytesPerSecond: mean(observations.map(\.dirtyRateBytesPerSecond)),
                                    transferRateBytesPerSecond: mean(observations.map(\.transferRateBytesPerSecond)),
                                    maxDowntimeMilliseconds: first.maxDowntimeMilliseconds, timeoutSeconds: first.timeoutSeconds)
        }
        // The downtime model copies the pre-copy model's last pass, so it needs a converging one.
        var predictedDowntime: Double?
        if let downtime, let passes = predicted?.passes, passes.converges, let finalPass = passes.passBytes.last {
            predictedDowntime = downtime.predictMilliseconds(finalPassBytes: finalPass)
        }
        return CellAnalysis(parameters: parameters, runs: runs,
                            migrationMilliseconds: statistics(converged.map(\.migrationMilliseconds)),
                            libvirtDowntimeMilliseconds: statistics(converged.map(\.libvirtDowntimeMilliseconds)),
                            pingGapMilliseconds: statistics(converged.map(\.pingDowntimeMilliseconds)),
                            achievedDirtyRateMiBPerSecond: statistics(converged.map(fedDirtyRateMiBPerSecond)),
                            convergedCount: converged.count, predicted: predicted, predictedDowntimeMilliseconds: predictedDowntime)
    }

    static func boundary(_ runs: [ScenarioResult], fit: PreCopyFitParameters?) -> BoundaryAnalysis {
        // Rate 0 is "as fast as memeater can": no bound in MiB/s either way.
        let byRate = Dictionary(grouping: runs.filter { $0.parameters.dirtyRateMiBPerSecond > 0 }, by: \.parameters.dirtyRateMiBPerSecond)
        let converging = byRate.filter { $0.value.allSatisfy { $0.figures.convergence == .converged } }.keys
        let notConverging = byRate.filter { $0.value.contains { $0.figures.convergence == .didNotConverge } }.keys
        let rates = runs.map(transferRateBytesPerSecond).filter { $0 > 0 }.sorted()
        var predicted: Double?
        var note: String
        let p = runs[0].parameters
        if let fit, !rates.isEmpty, !p.migration.postCopy {
            let median = rates[rates.count / 2]
            let explained = PreCopyModel.predictedBoundaryExplained(
                memoryBytes: Double(p.memoryMiB) * 1_048_576, dirtySetBytes: Double(p.memeaterSizeMiB) * 1_048_576,
                pattern: p.effectiveMemeaterLoad.dirtyPattern, transferRateBytesPerSecond: median,
                maxDowntimeMilliseconds: Double(p.migration.qemuMaxDowntimeMilliseconds ?? 300), timeoutSeconds: p.timeoutSeconds, fit: fit)
            switch explained {
            case .rate(let bytesPerSecond):
                predicted = bytesPerSecond / 1_048_576
                note = "fitted model at the median transfer rate \(formatNumber(median / 1_048_576)) MiB/s"
            case .convergesAtEveryRate(let reason):
                note = "converges at every rate: \(reason)"
            case .neverConverges(let reason):
                predicted = 0
                note = "never converges: \(reason)"
            }
        } else {
            note = p.migration.postCopy ? "post-copy always converges: the pre-copy model does not apply"
                : fit == nil ? "no fitted model for \(fitStrategy(p.migration))" : "no transfer rate measured"
        }
        return BoundaryAnalysis(parameters: p, highestConvergingMiBPerSecond: converging.max(),
                                lowestNonConvergingMiBPerSecond: notConverging.min(), predictedMiBPerSecond: predicted, predictionNote: note)
    }
}

// MARK: the text of `migverify correlate`

extension SweepAnalysis {
    /// The fit, per-cell predictions and residuals, the boundary, the dirty-rate cross-check
    /// and the downtime decomposition, as text.
    public var text: String {
        // measured − predicted mean migration time, as a share of the measured.
        func residual(_ cell: CellAnalysis) -> String {
            guard let measured = cell.migrationMilliseconds?.mean, measured > 0, let predicted = cell.predicted?.totalMilliseconds else { return "-" }
            return String(format: "%+.1f %%", (measured - predicted) / measured * 100)
        }
        var lines: [String] = []
        lines.append("sweep \(sweep.id): \(results.count) completed run(s) in \(cells.count) cell(s)"
                     + (missingSlotCount > 0 ? "; \(missingSlotCount) run(s) still missing (resume the sweep to complete it)" : ""))
        if !evacuations.isEmpty {
            let counts = Array(Set(evacuations.map(\.figures.guestCount))).sorted().map(String.init).joined(separator: ", ")
            lines.append("evacuations: \(evacuations.count) complete, of \(counts) guest(s); their runs are not in the cells or the model "
                         + "(`migverify report` plots them against the guest count)")
        }
        lines += modelLines
        lines.append("")
        lines.append("cell                                          runs conv   time ms (mean ± 95% CI)   predicted  residual   downtime ms   predicted   ping gap ms")
        for cell in cells {
            func stat(_ s: RepeatStatistics?) -> String {
                guard let s else { return "-" }
                return formatNumber(s.mean) + (s.confidenceInterval95.map { " ± " + formatNumber($0.halfWidth) } ?? "")
            }
            lines.append(pad(cell.label, 46) + leftPad("\(cell.runs.count)", 4) + leftPad("\(cell.convergedCount)", 5)
                         + leftPad(stat(cell.migrationMilliseconds), 26) + leftPad(cell.predicted?.totalMilliseconds.map(formatNumber) ?? (cell.predicted.map { _ in "no conv." } ?? "-"), 12)
                         + leftPad(residual(cell), 10)
                         + leftPad(stat(cell.libvirtDowntimeMilliseconds), 14) + leftPad(cell.predictedDowntimeMilliseconds.map(formatNumber) ?? "-", 12)
                         + leftPad(stat(cell.pingGapMilliseconds), 14))
        }
        if !boundaries.isEmpty {
            lines.append("")
            lines.append("convergence boundary (dirty rate above which migration does not converge within the timeout)")
            for boundary in boundaries {
                let p = boundary.parameters
                let measured: String = switch (boundary.highestConvergingMiBPerSecond, boundary.lowestNonConvergingMiBPerSecond) {
                case let (low?, high?): "between \(formatNumber(low)) and \(formatNumber(high)) MiB/s"
                case let (low?, nil): "above \(formatNumber(low)) MiB/s (every rate converged)"
                case let (nil, high?): "below \(formatNumber(high)) MiB/s (no rate converged)"
                case (nil, nil): "not measured"
                }
                lines.append("  \(p.memoryMiB) MiB, bandwidth \(p.migration.bandwidthMiBPerSecond.map { "\($0) MiB/s" } ?? "unlimited"), \(p.effectiveMemeaterLoad), \(p.migration.strategyLabel): measured \(measured); predicted "
                             + (boundary.predictedMiBPerSecond.map { "\(formatNumber($0)) MiB/s" } ?? "-") + " (\(boundary.predictionNote))")
            }
        }
        let crossChecked = results.filter { $0.figures.qemuSampledDirtyRateSource != nil || $0.libvirtDirtyRateMiBPerSecond != nil }
        if !crossChecked.isEmpty {
            lines.append("")
            lines.append("dirty rate, MiB/s: memeater achieved | QEMU page sampling (ratio) | job stats memory_dirty_rate (ratio)")
            for result in crossChecked {
                let achieved = result.achievedDirtyRateMiBPerSecond
                func ratio(_ value: Double?) -> String {
                    guard let value, let achieved, achieved > 0 else { return "" }
                    return String(format: " (%.2f)", value / achieved)
                }
                let sampled = result.figures.qemuSampledDirtyRateMiBPerSecond
                lines.append("  #\(result.runID.map(String.init) ?? "-") \(result.parameters.label): \(achieved.map(formatNumber) ?? "-") | "
                             + (sampled.map { formatNumber($0) + ratio($0) } ?? (result.figures.qemuSampledDirtyRateSource ?? "-")) + " | "
                             + (result.libvirtDirtyRateMiBPerSecond.map { formatNumber($0) + ratio($0) } ?? "-")
                             + (result.accel == "tcg" && (sampled ?? 0) > 57 ? "  [TCG: page sampling saturates above ~60 MB/s: a stated limit, not a pass]" : ""))
            }
            if results.contains(where: { $0.accel == "tcg" }) {
                lines.append("  under TCG QEMU's page sampling is valid up to about 60 MB/s and saturates near 119 MB/s; dirty-bitmap mode reads 0 (lab notes): a stated limit")
            }
        }
        // The breakdown explains a migration's own gap: not one a fault's outage makes.
        let decomposed = results.filter {
            $0.parameters.scenario.measuresAnUndisturbedMigration && $0.figures.convergence == .converged && $0.pingDowntimeMilliseconds != nil
        }
        if !decomposed.isEmpty {
            lines.append("")
            lines.append("downtime, ms: ping gap = libvirt downtime + delay to the first announce + the guest's answer delay at the destination "
                         + "+ rest (explained within one probe interval ± \(formatNumber(DowntimeDecomposition.allowanceMilliseconds)) ms)")
            for result in decomposed {
                let outage = result.figures.switchOverOutage
                let longestElsewhere = outage != nil && !result.figures.longestPingGapIsTheSwitchOvers
                let parts = outage.map { span in
                    result.figures.pingGaps.filter { span.contains($0.startOffsetMilliseconds) }.map(\.lengthMilliseconds)
                } ?? []
                let gap = outage?.lengthMilliseconds ?? result.pingDowntimeMilliseconds ?? 0
                let downtime = result.libvirtDowntimeMilliseconds
                let announce = result.figures.announceDelayMilliseconds(libvirtDowntimeMilliseconds: downtime)
                let answer = result.figures.guestAnswerDelayMilliseconds
                let rest = downtime.map {
                    DowntimeDecomposition.restMilliseconds(pingGapMilliseconds: gap, libvirtDowntimeMilliseconds: $0,
                                                           announceDelayMilliseconds: announce, guestAnswerDelayMilliseconds: answer)
                }
                let verdict = rest.map { DowntimeDecomposition.judge(restMilliseconds: $0, probeIntervalMilliseconds: result.figures.probeIntervalMicroseconds.map { $0 / 1000 }) }
                lines.append("  #\(result.runID.map(String.init) ?? "-") \(result.parameters.label): \(formatNumber(gap)) = \(downtime.map(formatNumber) ?? "-") + \(announce.map(formatNumber) ?? "-") + \(answer.map(formatNumber) ?? "-") + \(rest.map(formatNumber) ?? "-")"
                             + (verdict.map { ": " + $0.text } ?? "")
                             + " (gap bounds \(result.figures.pingGapLowerBoundMilliseconds.map(formatNumber) ?? "-")-\(result.figures.pingGapUpperBoundMilliseconds.map(formatNumber) ?? "-")"
                             + ((result.figures.pingGapLateProbes ?? 0) > 0 ? ", \(result.figures.pingGapLateProbes ?? 0) probes held" : "")
                             + (result.figures.probesHeldAtDestination.map { ", \($0) reached the destination before the guest's first reply" } ?? "")
                             + ", probe every \(result.figures.probeIntervalMicroseconds.map { formatNumber($0 / 1000) } ?? "-") ms)"
                             + (longestElsewhere ? "; the longest gap (\(formatNumber(result.pingDowntimeMilliseconds ?? 0)) ms "
                                + "at \(formatNumber(result.figures.pingGapStartOffsetMilliseconds ?? 0)) ms) was not the switch-over's"
                                : parts.count > 1 ? "; one outage split by the guest's reply to a probe carried in its memory: gaps of "
                                + parts.map { formatNumber($0) }.joined(separator: " + ") + " ms" : ""))
            }
        }
        let overheads = results.compactMap(\.figures.overheadMilliseconds).sorted()
        if !overheads.isEmpty {
            lines.append("")
            lines.append("per-run overhead (wall time minus the migration call): median \(formatNumber(overheads[overheads.count / 2] / 1000)) s over \(overheads.count) run(s)")
        }
        return lines.joined(separator: "\n")
    }
}

extension SweepAnalysis {
    /// The model's part of the text: the fit as before for a sweep of one strategy; else one
    /// section per strategy, post-copy ones as not described.
    var modelLines: [String] {
        guard let fits else { return ["model: no live runs, nothing to fit"] }
        if fits.groups.count == 1, fits.notDescribed.isEmpty, let group = fits.groups.first {
            return Self.fitLines(group, title: group.strategy == "precopy" ? "model" : "model, \(group.strategy)", runs: nil,
                                 fitRuns: Self.fitRuns(results))
        }
        var lines: [String] = []
        if fits.groups.isEmpty {
            lines.append("model: not fitted: every live run is post-copy, which the pre-copy model does not describe")
        } else {
            lines.append("model: pre-copy, fitted per strategy (a strategy changes the model's constants; max-downtime=MS is an input of each run)")
        }
        for group in fits.groups {
            lines += Self.fitLines(group, title: "model, \(group.strategy)",
                                   runs: (group.indices.count, group.cells.count), fitRuns: Self.fitRuns(results))
        }
        for set in fits.notDescribed {
            lines.append("model, \(set.strategy): not described by the pre-copy model, not fitted (\(set.indices.count) run(s) in "
                         + "\(set.cells.count) cell(s)): \(StrategyFits.postCopyReason)")
        }
        return lines
    }

    /// One strategy's fit: parameters, R², held-out MAPE, exclusions, notes and limits;
    /// `runs`, when given, the strategy's live runs and cells; `fitRuns` (``fitRuns(_:)``) name
    /// the outliers' runs.
    static func fitLines(_ group: StrategyFits.Group, title: String, runs: (runs: Int, cells: Int)?,
                         fitRuns: [ScenarioResult]) -> [String] {
        let counts = runs.map { " (\($0.runs) live run(s) in \($0.cells) cell(s))" } ?? ""
        var lines: [String] = []
        switch group.fit {
        case .failure(let error):
            lines.append("\(title): not fitted\(counts): \(error.description)")
        case .success(let fit):
            let p = fit.parameters
            lines.append("\(title): pre-copy fitted to \(fit.observations.count) converging run(s)\(runs.map { " of \($0.runs) live run(s) in \($0.cells) cell(s)" } ?? ""): "
                         + "setup \(formatNumber(p.setupMilliseconds)) ms, resume \(formatNumber(p.resumeMilliseconds)) ms, "
                         + "dirty-rate factor \(formatNumber(p.dirtyRateFactor)), RAM scan \(formatNumber(p.scanMillisecondsPerGiB)) ms/GiB")
            lines.append("  R² migration time \(fit.timeRSquared.map { String(format: "%.3f", $0) } ?? "-"), downtime upper bound \(fit.downtimeRSquared.map { String(format: "%.3f", $0) } ?? "-"); "
                         + "held-out MAPE of migration time \(fit.heldOut.meanAbsolutePercentageError.map { String(format: "%.1f %%", $0) } ?? "-") "
                         + "(leave one cell out, \(fit.heldOut.folds) fold(s), \(fit.heldOut.predictions) prediction(s))"
                         + (fit.heldOut.repeatSpreadPercent.map { "; repeats lie \(String(format: "%.1f %%", $0)) from their cell's mean (the floor under any model's MAPE)" } ?? ""))
            // One line per cell and reason, not per run: repeats are excluded for the same reason.
            var excludedRuns: [String: Int] = [:]
            var excludedOrder: [String] = []
            // Outliers get a line of their own, naming the run: each is one run, not a cell.
            let outliers = Set(fit.outliers.map(\.index))
            for exclusion in fit.exclusions where !outliers.contains(exclusion.index) {
                let line = "\(exclusion.cell): \(exclusion.reason)"
                if excludedRuns[line] == nil { excludedOrder.append(line) }
                excludedRuns[line, default: 0] += 1
            }
            for line in excludedOrder {
                let count = excludedRuns[line] ?? 1
                lines.append("  excluded: " + line + (count > 1 ? " (\(count) runs)" : ""))
            }
            lines += outlierLines(fit, in: group, runs: fitRuns).map { "  " + $0 }
            for note in fit.heldOut.notes + fit.notes { lines.append("  note: \(note)") }
            for limit in fit.limits { lines.append("  limit: \(limit)") }
            lines += downtimeLines(group.downtime)
        }
        return lines
    }

    /// The downtime model's block under its strategy's pre-copy fit: the prediction of the
    /// downtime (the pre-copy model's own is an upper bound), its R², its error in sample and
    /// held out beside QEMU's expected_downtime, and the runs it took.
    static func downtimeLines(_ downtime: Result<DowntimeFit, DowntimeFitError>?) -> [String] {
        switch downtime {
        case nil:
            return []
        case .failure(let error)?:
            return ["  downtime model: not fitted: \(error.description); the pre-copy model's downtime is an upper bound, not a prediction"]
        case .success(let fit)?:
            func percent(_ value: Double?) -> String { value.map { String(format: "%.1f %%", $0) } ?? "-" }
            let p = fit.parameters
            let cells = Set(fit.observations.map(\.cell)).count
            let model = p.switchOverBytesPerSecond.map { rate in
                "fixed \(formatNumber(p.fixedMilliseconds)) ms + the final pass at \(formatNumber(rate / 1_048_576)) MiB/s (switch-over rate)"
            } ?? "fixed \(formatNumber(p.fixedMilliseconds)) ms only (no switch-over rate: see note)"
            var lines = ["  downtime model (the downtime prediction; the pre-copy model's downtime is an upper bound): \(model)"]
            let qemu = fit.qemuExpectedDowntime.map { comparison in
                "QEMU's expected_downtime \(percent(comparison.meanAbsolutePercentageError)) on \(comparison.observations) run(s)"
                    // On fewer runs than the model's figure: its error on those same runs too.
                    + (comparison.missing > 0 ? " (the model held out on them \(percent(comparison.modelHeldOutMeanAbsolutePercentageError)))" : "")
            } ?? "QEMU's expected_downtime not recorded"
            lines.append("    R² \(fit.rSquared.map { String(format: "%.3f", $0) } ?? "-"); MAPE against libvirt's downtime: "
                         + "in sample \(percent(fit.meanAbsolutePercentageError)), held out \(percent(fit.heldOut.meanAbsolutePercentageError)) "
                         + "(leave one cell out, \(fit.heldOut.folds) fold(s), \(fit.heldOut.predictions) prediction(s)); \(qemu); "
                         + "n = \(fit.observations.count) run(s) in \(cells) cell(s)"
                         + (fit.heldOut.repeatSpreadPercent.map { "; repeats lie \(percent($0)) from their cell's mean (the floor under any model's MAPE)" } ?? ""))
            // The pre-copy block already lists the runs it excluded; here only what the downtime model leaves out besides.
            var leftOut: [String: Int] = [:]
            var order: [String] = []
            for exclusion in fit.exclusions where exclusion.reason == "no downtime was measured" || exclusion.reason.contains("no final pass") {
                if leftOut[exclusion.reason] == nil { order.append(exclusion.reason) }
                leftOut[exclusion.reason, default: 0] += 1
            }
            for reason in order { lines.append("    left out: \(leftOut[reason] ?? 0) run(s): \(reason)") }
            // A limit that opens with a note (no held-out figure, and why) says it once.
            for note in fit.heldOut.notes + fit.notes where !fit.limits.contains(where: { $0.hasPrefix(note) }) {
                lines.append("    note: \(note)")
            }
            for limit in fit.limits { lines.append("    limit: \(limit)") }
            return lines
        }
    }
}

// MARK: the report's document

extension SweepAnalysis {
    /// The report's values for this sweep; the timelines read the job-stats samples and
    /// events of up to `maximumTimelines` live runs from `store`.
    public func reportDocument(store: ResultsStore, maximumTimelines: Int = 12) throws(VerifierError) -> ReportDocument {
        let first = results.first ?? evacuations.first?.results.first
        let environment = ReportEnvironment(
            accelerator: first?.accel == "kvm" ? .kvm : .tcg, qemuVersion: first?.qemuVersion ?? "unknown",
            libvirtVersion: first?.libvirtVersion ?? "unknown", host: ProcessInfo.processInfo.hostName,
            otherLines: ["sweep created \(iso8601Text(sweep.createdAt)) by: \(sweep.commandLine)"]
                + (first?.accel == "kvm" ? [] : ["accelerator: TCG (KVM not used): timings are software emulation's"]))
        let reportCells = cells.map { cell in
            ReportCell(label: cell.label, parameters: Self.reportParameters(cell.parameters),
                       migrationMilliseconds: Self.reportStatistic(cell.migrationMilliseconds),
                       libvirtDowntimeMilliseconds: Self.reportStatistic(cell.libvirtDowntimeMilliseconds),
                       pingGapMilliseconds: Self.reportStatistic(cell.pingGapMilliseconds),
                       predictedMigrationMilliseconds: cell.predicted?.totalMilliseconds,
                       predictedDowntimeMilliseconds: cell.predictedDowntimeMilliseconds,
                       convergedCount: cell.convergedCount, runCount: cell.runs.count,
                       achievedDirtyRateMiBPerSecond: Self.reportStatistic(cell.achievedDirtyRateMiBPerSecond),
                       failureScenario: Self.failureScenario(cell.parameters))
        }
        var runs = results.map { result -> ReportRun in
            var run = ReportRun(runID: result.runID.map(String.init) ?? "-", cellLabel: result.parameters.seriesLabel,
                      repetition: result.parameters.repetition ?? 1, parameters: Self.reportParameters(result.parameters),
                      direction: result.figures.direction.rawValue, status: result.status.rawValue, passed: result.passed,
                      converged: result.figures.convergence == .converged, iterations: result.iterations ?? result.figures.passes,
                      remainingMiBAtEnd: result.figures.remainingBytesAtEnd.map { Double($0) / 1_048_576 },
                      achievedDirtyRateMiBPerSecond: result.achievedDirtyRateMiBPerSecond,
                      qemuSampledDirtyRateMiBPerSecond: result.figures.qemuSampledDirtyRateMiBPerSecond,
                      qemuSampledDirtyRateLimitNote: result.figures.qemuSampledDirtyRateSource,
                      jobStatsDirtyRateMiBPerSecond: result.libvirtDirtyRateMiBPerSecond,
                      transferRateMiBPerSecond: result.figures.transferRateMiBPerSecond,
                      guestDirtyRateDuringMigrationMiBPerSecond: result.figures.guestDirtyRateDuringMigrationMiBPerSecond,
                      migrationMilliseconds: result.migrationMilliseconds, libvirtDowntimeMilliseconds: result.libvirtDowntimeMilliseconds,
                      pingGapMilliseconds: result.pingDowntimeMilliseconds,
                      pingGapLowerBoundMilliseconds: result.figures.pingGapLowerBoundMilliseconds,
                      pingGapUpperBoundMilliseconds: result.figures.pingGapUpperBoundMilliseconds,
                      announceDelayMilliseconds: result.figures.announceDelayMilliseconds(libvirtDowntimeMilliseconds: result.libvirtDowntimeMilliseconds),
                      overheadMilliseconds: result.figures.overheadMilliseconds, failedChecks: result.failedChecks.map(\.name))
            run.preCopyTransferRateMiBPerSecond = result.figures.preCopyTransferRateMiBPerSecond
            run.passedCheckCount = result.checks.filter(\.passed).count
            run.pingGapLateProbes = result.figures.pingGapLateProbes
            if let outage = result.figures.switchOverOutage,
               outage != result.figures.switchOverPingGap || outage.startOffsetMilliseconds != result.figures.pingGapStartOffsetMilliseconds {
                run.switchOverPingGapMilliseconds = outage.lengthMilliseconds
            }
            if let phases = result.figures.pingGapPhases {
                run.pingGapBeforePauseMilliseconds = phases.beforePauseMilliseconds
                run.guestPausedMilliseconds = phases.pausedMilliseconds
                run.pingGapAfterResumeMilliseconds = phases.afterResumeMilliseconds
            }
            if let lower = result.figures.guestClockLagLowerBoundMilliseconds, let upper = result.figures.guestClockLagUpperBoundMilliseconds {
                run.guestClockLagMilliseconds = (lower + upper) / 2
            }
            run.guestAnswerDelayMilliseconds = result.figures.guestAnswerDelayMilliseconds
            run.probesHeldAtDestination = result.figures.probesHeldAtDestination
            run.hostCPU = result.figures.cpuCost.map { cost in
                [("source", cost.source), ("destination", cost.destination)].map { Self.reportHostCPU($0.1, role: $0.0) }
            } ?? []
            return run
        }
        for index in runs.indices {
            guard let scenario = Self.failureScenario(results[index].parameters) else { continue }
            runs[index].failure = try failureOutcome(results[index], scenario: scenario, store: store)
        }
        var timelines: [ReportTimeline] = []
        for result in results.prefix(maximumTimelines) {
            guard let runID = result.runID else { continue }
            timelines.append(try timeline(result, runID: runID, store: store))
        }
        var notes: [String] = []
        if missingSlotCount > 0 { notes.append("\(missingSlotCount) run(s) of the sweep have no result yet: resume the sweep to complete it") }
        var limits: [String] = []
        var reportFits: [ReportFit] = []
        var unfitted: [ReportUnfittedStrategy] = []
        if let fits {
            // A sweep of one strategy reads as before; with several, each limit names its strategy.
            let single = fits.groups.count == 1 && fits.notDescribed.isEmpty
            for group in fits.groups {
                let runCount = group.indices.count
                switch group.fit {
                case .success(let fit):
                    reportFits.append(reportFit(fit, strategy: group.strategy, runCount: runCount, cellCount: group.cells.count,
                                                downtime: group.downtime))
                    let named = fit.limits + Self.outlierLines(fit, in: group, runs: Self.fitRuns(results))
                    limits += single ? named : named.map { "\(group.strategy): \($0)" }
                case .failure(let error):
                    if single { notes.append("no model fitted: \(error.description)") }
                    unfitted.append(ReportUnfittedStrategy(strategy: group.strategy, runCount: runCount, cellCount: group.cells.count,
                                                           reason: "not fitted: \(error.description)"))
                }
            }
            for set in fits.notDescribed {
                unfitted.append(ReportUnfittedStrategy(strategy: set.strategy, runCount: set.indices.count, cellCount: set.cells.count,
                                                       reason: "not described by the pre-copy model: \(StrategyFits.postCopyReason)"))
                limits.append("\(set.strategy): \(set.indices.count) post-copy run(s) are not described by the pre-copy model and not fitted")
            }
            if fits.groups.isEmpty { notes.append("no model fitted: every live run is post-copy, which the pre-copy model does not describe") }
        } else {
            notes.append("no model fitted: the sweep has no live runs")
        }
        if results.contains(where: { $0.accel == "tcg" }) {
            limits.append("Under TCG QEMU's page-sampling dirty rate is valid up to about 60 MB/s and saturates near 119 MB/s, and dirty-bitmap mode reads 0: a stated limit of the cross-check, not a pass.")
        }
        let probeInterval = results.compactMap(\.figures.probeIntervalMicroseconds).first.map { $0 / 1000 }
        return ReportDocument(
            sweepID: sweep.id, title: "Sweep \(sweep.id)", createdAt: sweep.createdAt, environment: environment, notes: notes,
            pingProbeIntervalMilliseconds: probeInterval, cells: reportCells, runs: runs, fits: reportFits,
            unfittedStrategies: unfitted,
            boundaries: boundaries.map { boundary in
                ReportBoundary(memoryMiB: boundary.parameters.memoryMiB,
                               bandwidthLimitMiBPerSecond: boundary.parameters.migration.bandwidthMiBPerSecond.map { Double($0) },
                               highestConvergingMiBPerSecond: boundary.highestConvergingMiBPerSecond,
                               lowestNonConvergingMiBPerSecond: boundary.lowestNonConvergingMiBPerSecond,
                               predictedMiBPerSecond: boundary.predictedMiBPerSecond)
            },
            timelines: timelines, limits: limits, evacuations: evacuations.map(Self.reportEvacuation))
    }

    /// One evacuation as the report shows it: ``EvacuationFigures`` in the units of the plots,
    /// named by the run of the matrix it ran (a fault guest's scenario, when one has it).
    static func reportEvacuation(_ evacuation: EvacuationResult) -> ReportEvacuation {
        let figures = evacuation.figures
        let named = evacuation.results.first { $0.parameters.scenario != .live } ?? evacuation.results.first
        let landed = evacuation.results.map(EvacuationGuestTiming.init).filter(\.landed)
        return ReportEvacuation(evacuationID: evacuation.evacuationID, cellLabel: named?.parameters.seriesLabel ?? "-",
                                guestCount: figures.guestCount, landedCount: figures.landedCount, passedCount: figures.passedCount,
                                totalSeconds: figures.totalMilliseconds.map { $0 / 1000 },
                                serialSumSeconds: figures.serialSumMilliseconds.map { $0 / 1000 }, speedup: figures.speedup,
                                downtimeMillisecondsMedian: figures.downtimeMillisecondsMedian,
                                downtimeMillisecondsWorst: figures.downtimeMillisecondsWorst,
                                guestDowntimesMilliseconds: landed.compactMap(\.downtimeMilliseconds))
    }

    /// One host's CPU figures as the report shows them, `role` naming it (e.g. `source (src)`).
    static func reportHostCPU(_ host: HostCPUCost, role: String) -> ReportHostCPU {
        var shown = ReportHostCPU(host: "\(role) (\(host.hostName))")
        guard host.notMeasured == nil else { return shown }
        let roles = host.qemuCPUSecondsByRole
        shown.vcpuCPUSeconds = roles[.vcpu]
        shown.migrationThreadsCPUSeconds = roles[.migration]
        shown.multifdCPUSeconds = roles[.multifd]
        shown.mainLoopCPUSeconds = roles[.mainLoop]
        shown.otherThreadsCPUSeconds = roles[.other]
        shown.endedThreadsCPUSeconds = host.qemuEndedThreadsCPUSeconds
        shown.daemonCPUSeconds = host.daemonCPUSeconds
        shown.totalCPUSeconds = host.totalCPUSeconds
        shown.cpuSecondsPerGiB = host.cpuSecondsPerGiB
        if let last = host.exitedQEMULastSampleMilliseconds, let gone = host.exitedQEMUGoneAtMilliseconds {
            shown.uncountedMilliseconds = gone - last
        }
        return shown
    }

    static func reportParameters(_ p: ScenarioParameters) -> ReportCellParameters {
        var additional: [String: String] = ["mode": p.migration.mode.rawValue]
        if p.scenario != .live { additional["scenario"] = p.scenario.rawValue }
        return ReportCellParameters(memoryMiB: p.memoryMiB, memeaterSizeMiB: p.memeaterSizeMiB, pattern: p.effectiveMemeaterLoad.description,
                                    strategy: p.migration.strategyLabel, bandwidthLimitMiBPerSecond: p.migration.bandwidthMiBPerSecond.map { Double($0) },
                                    targetDirtyRateMiBPerSecond: p.dirtyRateMiBPerSecond, emulator: p.emulator, guestKind: p.guestKind,
                                    additional: additional)
    }

    static func reportStatistic(_ s: RepeatStatistics?) -> ReportStatistic {
        guard let s else { return .empty }
        return ReportStatistic(count: s.count, mean: s.mean, median: s.median, standardDeviation: s.standardDeviation,
                               minimum: s.minimum, maximum: s.maximum, confidenceLow: s.confidenceInterval95?.lower,
                               confidenceHigh: s.confidenceInterval95?.upper)
    }

    /// One strategy's fit with a model curve per memory size, bandwidth limit and strategy
    /// label of its cells: predicted time over the sweep's rate range, at the region, pattern,
    /// max downtime and mean transfer rate of that group's live runs.
    func reportFit(_ fit: PreCopyFit, strategy: String, runCount: Int, cellCount: Int,
                   downtime: Result<DowntimeFit, DowntimeFitError>? = nil) -> ReportFit {
        let p = fit.parameters
        let live = results.filter { $0.figures.convergence != nil && !$0.parameters.migration.postCopy }
        // The curve spans the rates the cells are plotted at (an unlimited cell's target is 0): the
        // converged runs' (a run that never landed has no time to plot, and at an unlimited rate its
        // guest's rate before the migration, 1.1-1.4 GiB/s on the lab, stretched the axis past every point).
        let maximumRate = max(1, live.filter { $0.figures.convergence == .converged }.map(Self.modelDirtyRateMiBPerSecond).max() ?? 1)
        let ofStrategy = live.filter { Self.fitStrategy($0.parameters.migration) == strategy }
        // Labels differ within a group only in max-downtime=MS; each has its own curve at its threshold.
        let groups = Self.group(ofStrategy) {
            "\($0.parameters.memoryMiB) \($0.parameters.migration.bandwidthMiBPerSecond.map(String.init) ?? "-") \($0.parameters.migration.strategyLabel)"
        }
        let curves: [ReportFit.Curve] = groups.compactMap { runs in
            let observations = runs.map { Self.observation($0) }
            guard let first = observations.first else { return nil }
            let transfer = observations.map(\.transferRateBytesPerSecond).reduce(0, +) / Double(observations.count)
            let points: [ReportFit.CurvePoint] = (0...40).compactMap { step in
                let rate = maximumRate * 1.1 * Double(step) / 40
                guard let total = p.predict(memoryBytes: first.memoryBytes, dirtySetBytes: first.dirtySetBytes, pattern: first.pattern,
                                            dirtyRateBytesPerSecond: rate * 1_048_576, transferRateBytesPerSecond: transfer,
                                            maxDowntimeMilliseconds: first.maxDowntimeMilliseconds,
                                            timeoutSeconds: first.timeoutSeconds).totalMilliseconds else { return nil }
                return ReportFit.CurvePoint(dirtyRateMiBPerSecond: rate, predictedMilliseconds: total)
            }
            let parameters = runs[0].parameters
            return points.isEmpty ? nil : ReportFit.Curve(memoryMiB: parameters.memoryMiB,
                                                          bandwidthLimitMiBPerSecond: parameters.migration.bandwidthMiBPerSecond.map { Double($0) },
                                                          strategy: parameters.migration.strategyLabel,
                                                          points: points)
        }
        var report = ReportFit(strategy: strategy, runCount: runCount, cellCount: cellCount, fittedRunCount: fit.observations.count, parameters: [
            .init(name: "setup", value: p.setupMilliseconds, unit: "ms"),
            .init(name: "resume", value: p.resumeMilliseconds, unit: "ms"),
            .init(name: "dirty-rate factor", value: p.dirtyRateFactor, unit: "×"),
            .init(name: "RAM scan", value: p.scanMillisecondsPerGiB, unit: "ms/GiB"),
        ], rSquaredMigrationTime: fit.timeRSquared, rSquaredDowntime: fit.downtimeRSquared,
        heldOutMAPEPercent: fit.heldOut.meanAbsolutePercentageError,
        foldDescription: "leave one cell out: \(fit.heldOut.folds) fold(s), \(fit.heldOut.predictions) held-out prediction(s)", curves: curves,
        downtimeModel: (try? downtime?.get()).map(Self.reportDowntimeModel),
        downtimeModelMissingReason: {
            if case .failure(let error)? = downtime { return "not fitted: \(error.description)" }
            return nil
        }())
        report.repeatSpreadPercent = fit.heldOut.repeatSpreadPercent
        return report
    }

    /// A downtime model as the report shows it, its rate in MiB/s.
    static func reportDowntimeModel(_ fit: DowntimeFit) -> ReportDowntimeModel {
        let heldOut = fit.heldOut
        var model = ReportDowntimeModel(
            fixedMilliseconds: fit.parameters.fixedMilliseconds,
            switchOverMiBPerSecond: fit.parameters.switchOverBytesPerSecond.map { $0 / 1_048_576 },
            fittedRunCount: fit.observations.count, cellCount: Set(fit.observations.map(\.cell)).count, rSquared: fit.rSquared,
            inSampleMAPEPercent: fit.meanAbsolutePercentageError, heldOutMAPEPercent: heldOut.meanAbsolutePercentageError,
            foldDescription: heldOut.folds > 0 ? "leave one cell out: \(heldOut.folds) fold(s), \(heldOut.predictions) held-out prediction(s)"
                : heldOut.notes.first ?? "not held out",
            qemuExpectedDowntimeMAPEPercent: fit.qemuExpectedDowntime?.meanAbsolutePercentageError,
            qemuRunCount: fit.qemuExpectedDowntime?.observations ?? 0)
        model.repeatSpreadPercent = heldOut.repeatSpreadPercent
        return model
    }

    /// The failure scenario of a run or cell, `nil` when it measures an undisturbed migration.
    static func failureScenario(_ parameters: ScenarioParameters) -> String? {
        parameters.scenario.measuresAnUndisturbedMigration ? nil : parameters.scenario.rawValue
    }

    /// The checks that look for what a failed migration may leave behind.
    static let cleanUpCheckNames: Set<String> = [CheckName.destinationHostClean, CheckName.sourceHostClean,
                                                  CheckName.migrationPortFree, CheckName.faultRemoved,
                                                  CheckName.migrationSettingsRestored]

    /// How a failure run ended: its expectation, where its first migration's observation
    /// found the guest, what its clean-up checks found left behind.
    func failureOutcome(_ result: ScenarioResult, scenario: String, store: ResultsStore) throws(VerifierError) -> ReportFailureOutcome {
        let expectation: String
        switch FaultCatalog.standard.type(named: scenario)?.expectation {
        case .migrates?: expectation = "lands on the destination"
        case .staysOnSource?: expectation = "stays on the source"
        case .guestLost?: expectation = "guest lost"
        case nil: expectation = "unknown scenario"
        }
        var placement: String?
        if let runID = result.runID {
            // The forward leg is the fault's; a later leg is the plain migration that follows some faults.
            let stored = try store.observations(runID: runID).first { $0.leg == .forward }
            switch stored?.observation {
            case .success(let observation)?:
                placement = "source: \(Self.placement(observation.onSource)); destination: \(Self.placement(observation.onDestination))"
            case .failure(let unreadable)?:
                placement = "unreadable: \(unreadable.description)"
            case nil:
                placement = nil
            }
        }
        let cleanUp = result.checks.filter { Self.cleanUpCheckNames.contains($0.name) }
        let left = cleanUp.filter { !$0.passed }
        let leftovers = cleanUp.isEmpty ? nil : left.isEmpty ? "none"
            : left.map { "\($0.name): \($0.evidence.count <= 160 ? $0.evidence : $0.evidence.prefix(159) + "…")" }.joined(separator: "; ")
        return ReportFailureOutcome(scenario: scenario, expectation: expectation, guestPlacement: placement, leftovers: leftovers)
    }

    /// A domain as one daemon reported it: its state, "none" or why it was unreadable.
    static func placement(_ sighting: DomainSighting) -> String {
        if let error = sighting.error { return "unreadable (\(error))" }
        return sighting.state.map { "\($0)" } ?? "none"
    }

    /// An event's kind, from the description the `event` table stores (`NAME lifecycle KIND
    /// detail N`, `NAME migration-iteration N`, `NAME job-completed`): the table keeps only that
    /// text, so its own format is read back. Returns (kind, text without the domain name).
    static func eventKind(_ description: String, domainName: String) -> (kind: String, text: String) {
        let text = description.hasPrefix(domainName + " ") ? String(description.dropFirst(domainName.count + 1)) : description
        let words = text.split(separator: " ")
        guard let first = words.first else { return ("event", text) }
        if first == "lifecycle", words.count >= 2 { return ("lifecycle \(words[1])", text) }
        return (String(first), text)
    }

    /// One run on its clock: job-stats samples, iteration changes, ping gaps, announces, the
    /// daemons' events, and a failure run's fault: its timed moments, the spans it imposed on
    /// the guest, what its record keeps without a time and which moments are not recorded.
    func timeline(_ result: ScenarioResult, runID: Int64, store: ResultsStore) throws(VerifierError) -> ReportTimeline {
        let samples = try store.jobSamples(runID: runID)
        var marks: [ReportTimeline.IterationMark] = []
        var lastIteration: UInt64?
        for sample in samples {
            if let iteration = sample.memoryIteration, iteration != lastIteration {
                marks.append(.init(milliseconds: sample.offsetMilliseconds, iteration: Int(clamping: iteration)))
                lastIteration = iteration
            }
        }
        let scenario = result.parameters.scenario.rawValue
        let f = result.figures
        var faults: [ReportTimeline.Event] = []
        if let at = f.faultOffsetMilliseconds ?? result.fault?.actedAtMilliseconds {
            faults.append(.init(milliseconds: at, text: "fault acted (\(scenario))"))
        }
        if let at = f.abortOffsetMilliseconds { faults.append(.init(milliseconds: at, text: "verifier aborted the job")) }
        var timeline = ReportTimeline(
            runID: String(runID), label: result.parameters.label,
            samples: samples.map { sample in
                .init(milliseconds: sample.offsetMilliseconds, remainingMiB: sample.dataRemainingBytes.map { Double($0) / 1_048_576 },
                      dirtyRateMiBPerSecond: sample.memoryDirtyRateBytesPerSecond.map { Double($0) / 1_048_576 },
                      transferRateMiBPerSecond: sample.memoryBandwidthBytesPerSecond.map { Double($0) / 1_048_576 },
                      jobType: sample.jobType)
            },
            iterationMarks: marks,
            pingGaps: f.pingGaps.map { .init(startMilliseconds: $0.startOffsetMilliseconds, lengthMilliseconds: $0.lengthMilliseconds) },
            announceFrames: f.announceOffsetsMilliseconds.map { .init(milliseconds: $0, text: "announce") },
            faults: faults, migrationStartMilliseconds: f.migrationStartOffsetMilliseconds, migrationEndMilliseconds: f.migrationEndOffsetMilliseconds,
            failureScenario: Self.failureScenario(result.parameters))
        timeline.postCopySwitchMilliseconds = f.postCopySwitchOffsetMilliseconds
        timeline.hostEvents = try store.events(runID: runID).map { event in
            let (kind, text) = Self.eventKind(event.description, domainName: result.parameters.endpoints.domainName)
            return .init(milliseconds: event.offsetMilliseconds, host: event.host, kind: kind, text: text)
        }
        guard timeline.failureScenario != nil else { return timeline }
        // The runner's phases go to the terminal and tests, not to the database (RunRecorder).
        timeline.notRecorded.append("The verifier's own steps (preparing, installing the fault, migrating, looking at the hosts) "
            + "are not stored with a time.")
        if let fault = result.fault {
            switch fault.guestNetwork {
            case .cut(let at, let milliseconds)?:
                timeline.faultWindows.append(.init(startMilliseconds: at, lengthMilliseconds: milliseconds, text: "guest network cut"))
            case .paused(let at, let milliseconds)?:
                timeline.faultWindows.append(.init(startMilliseconds: at, lengthMilliseconds: milliseconds, text: "guest kept paused"))
            case .mayStall(let at, let milliseconds)?:
                timeline.faultWindows.append(.init(startMilliseconds: at, lengthMilliseconds: milliseconds, text: "guest may stall"))
            case .untouched?, nil:
                break
            }
            timeline.untimedFaultEvidence.append(fault.evidence)
            if let removed = fault.removed {
                timeline.untimedFaultEvidence.append((removed ? "removed: " : "NOT removed: ") + (fault.removalEvidence ?? "no evidence"))
                timeline.notRecorded.append("When the fault was installed and when it was removed are not recorded: the results keep the moment it acted only.")
            }
        } else {
            timeline.notRecorded.append("The run stored no record of its fault.")
        }
        return timeline
    }
}
