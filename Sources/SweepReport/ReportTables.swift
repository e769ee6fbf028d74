import Foundation

/// A table as plain text cells, rendered alike into HTML and Markdown, so both formats
/// show the same figures.
public struct ReportTable: Sendable, Equatable {
    /// The section heading.
    public var title: String
    /// A sentence under the heading; empty for none.
    public var explanation: String
    public var headers: [String]
    public var rows: [[String]]

    public init(title: String, explanation: String = "", headers: [String], rows: [[String]]) {
        self.title = title
        self.explanation = explanation
        self.headers = headers
        self.rows = rows
    }
}

/// The headline figures and tables of a document. Pure.
public enum ReportTables {
    /// "name: value" lines for the top of the report. Convergence is counted over live runs
    /// only: a failure run is not meant to land, so it is counted as handled (every check
    /// passed) or not.
    public static func headline(_ document: ReportDocument) -> [(name: String, value: String)] {
        let runs = document.runs
        let live = document.liveRuns
        let failures = document.failureRuns
        var lines: [(name: String, value: String)] = [
            ("cells", failures.isEmpty ? String(document.cells.count)
                : "\(document.liveCells.count) live, \(document.failureCells.count) failure"),
            ("runs", String(runs.count)),
            ("passed", "\(runs.filter(\.passed).count) of \(runs.count)"),
            ("converged", live.isEmpty ? "no live runs" : "\(live.filter(\.converged).count) of \(live.count) live runs"),
        ]
        if !failures.isEmpty {
            let unhandled = failures.filter { !$0.passed }
            lines.append(("failure runs", "\(failures.count): \(failures.count - unhandled.count) handled"
                + (unhandled.isEmpty ? "" : ", \(unhandled.count) not (\(unhandled.map { "#\($0.runID)" }.joined(separator: ", ")))")))
        }
        let fits = document.fits
        if fits.isEmpty {
            lines.append(("model", "none fitted (no R², no MAPE)"))
        } else if document.hasSingleFit, let fit = fits.first {
            lines.append(("R² migration time", ReportFormat.number(fit.rSquaredMigrationTime, decimals: 3)))
            lines.append(("R² downtime", ReportFormat.number(fit.rSquaredDowntime, decimals: 3)))
            lines.append(("held-out MAPE", fit.heldOutMAPEPercent.map { "\(ReportFormat.number($0)) %" } ?? "–"))
            if let downtime = fit.downtimeModel { lines.append(("held-out downtime MAPE", downtimeHeadline(downtime))) }
        } else {
            // Each strategy's own figures, named: no pooled figure stands for strategies the model describes differently.
            func each(_ figure: (ReportFit) -> String) -> String { fits.map { "\($0.strategy) \(figure($0))" }.joined(separator: "; ") }
            lines.append(("model", "one per strategy: \(fits.count) of \(fits.count + document.unfittedStrategies.count) fitted (see Model fit per strategy)"))
            lines.append(("R² migration time", each { ReportFormat.number($0.rSquaredMigrationTime, decimals: 3) }))
            lines.append(("R² downtime", each { ReportFormat.number($0.rSquaredDowntime, decimals: 3) }))
            lines.append(("held-out MAPE", each { $0.heldOutMAPEPercent.map { "\(ReportFormat.number($0)) %" } ?? "–" }))
            if fits.contains(where: { $0.downtimeModel != nil }) {
                lines.append(("held-out downtime MAPE", each { $0.downtimeModel.map(downtimeHeadline) ?? "–" }))
            }
        }
        return lines
    }

    /// The downtime model's held-out error beside QEMU's, e.g. `12.5 % (QEMU's expected_downtime 48 %)`.
    static func downtimeHeadline(_ model: ReportDowntimeModel) -> String {
        (model.heldOutMAPEPercent.map { "\(ReportFormat.number($0)) %" } ?? "–")
            + (model.qemuExpectedDowntimeMAPEPercent.map { " (QEMU's expected_downtime \(ReportFormat.number($0)) %)" } ?? "")
    }

    /// What the downtime rows say, under the model table.
    public static let downtimeModelExplanation = "The downtime model is the downtime prediction: a fixed cost (device state, "
        + "switch-over, resume) plus the pre-copy model's last pass at the switch-over's own rate, which QEMU does not hold to the "
        + "bandwidth limit; R² downtime is the pre-copy model's, whose downtime (the last pass at the transfer rate) is an upper "
        + "bound. QEMU's expected_downtime is its forecast in the last job-stats sample before the switch-over."

    /// The downtime model's rows of the one-model table (name, value, unit).
    static func downtimeRows(_ fit: ReportFit) -> [[String]] {
        guard let model = fit.downtimeModel else {
            return fit.downtimeModelMissingReason.map { [["downtime model", "–", $0]] } ?? []
        }
        return [
            ["downtime model: fixed", ReportFormat.number(model.fixedMilliseconds, decimals: 3), "ms"],
            ["downtime model: switch-over rate", model.switchOverMiBPerSecond.map { ReportFormat.number($0, decimals: 3) } ?? "– (fixed only)", "MiB/s"],
            ["downtime model: R²", ReportFormat.number(model.rSquared, decimals: 3), ""],
            ["downtime model: MAPE in sample", ReportFormat.number(model.inSampleMAPEPercent), "%"],
            ["downtime model: held-out MAPE", ReportFormat.number(model.heldOutMAPEPercent), "% (\(model.foldDescription))"],
            ["downtime: repeats from their cell's mean", ReportFormat.number(model.repeatSpreadPercent), "% (the floor under any model's MAPE)"],
            ["QEMU expected_downtime: MAPE", ReportFormat.number(model.qemuExpectedDowntimeMAPEPercent), "% (\(model.qemuRunCount) run(s))"],
            ["downtime model: runs", String(model.fittedRunCount), "in \(model.cellCount) cell(s)"],
        ]
    }

    /// The live cells: statistics over each cell's converged runs. Failure scenarios have
    /// none and are in ``failures(_:)``.
    public static func cells(_ document: ReportDocument) -> ReportTable {
        ReportTable(
            title: "Cells",
            explanation: "Live migrations: mean [95% CI] (n) over each cell's converged runs; times in milliseconds, rates "
                + "in MiB/s; achieved is the dirty rate the plots put the cell at.",
            headers: ["cell", "memory MiB", "memeater MiB", "pattern", "strategy", "bandwidth MiB/s", "target dirty MiB/s",
                      "achieved dirty MiB/s", "emulator", "guest", "migration ms", "median", "sd", "libvirt downtime ms",
                      "ping gap ms", "predicted ms", "predicted downtime ms", "converged"],
            rows: document.liveCells.map { cell in
                let parameters = cell.parameters
                return [cell.label, String(parameters.memoryMiB), String(parameters.memeaterSizeMiB), parameters.pattern,
                        parameters.strategy, ReportFormat.bandwidth(parameters.bandwidthLimitMiBPerSecond),
                        ReportFormat.dirtyRateTarget(parameters.targetDirtyRateMiBPerSecond),
                        ReportFormat.statistic(cell.achievedDirtyRateMiBPerSecond), parameters.emulator, parameters.guestKind,
                        ReportFormat.statistic(cell.migrationMilliseconds),
                        ReportFormat.number(cell.migrationMilliseconds.median),
                        ReportFormat.number(cell.migrationMilliseconds.standardDeviation),
                        ReportFormat.statistic(cell.libvirtDowntimeMilliseconds),
                        ReportFormat.statistic(cell.pingGapMilliseconds),
                        ReportFormat.number(cell.predictedMigrationMilliseconds),
                        ReportFormat.number(cell.predictedDowntimeMilliseconds),
                        "\(cell.convergedCount)/\(cell.runCount)"]
            })
    }

    /// The failure scenarios, one row per cell: its runs, whether each was handled (every
    /// check passed), the checks, where the guest was found and what was left behind. `nil`
    /// when the sweep ran no failure scenario.
    public static func failures(_ document: ReportDocument) -> ReportTable? {
        let runs = document.failureRuns
        guard !runs.isEmpty else { return nil }
        // Runs of one cell share their parameters; the label alone may not tell cells apart
        // (it leaves out e.g. the guest kind), so the parameters that vary are shown too.
        var groups: [(parameters: ReportCellParameters, runs: [ReportRun])] = []
        for run in runs {
            if let index = groups.firstIndex(where: { $0.parameters == run.parameters }) {
                groups[index].runs.append(run)
            } else {
                groups.append((run.parameters, [run]))
            }
        }
        let varying = Set(groups.flatMap { group in group.parameters.namedValues.map(\.name) }).filter { name in
            Set(groups.map { group in group.parameters.namedValues.first { $0.name == name }?.value ?? "" }).count > 1
        }
        // One text when the runs agree, else each run's own, so none is credited with another's.
        func perRun(_ runs: [ReportRun], _ text: (ReportRun) -> String) -> String {
            let texts = runs.map(text)
            return Set(texts).count <= 1 ? texts.first ?? "–" : zip(runs, texts).map { "#\($0.runID) \($1)" }.joined(separator: "; ")
        }
        return ReportTable(
            title: "Failure scenarios",
            explanation: "Runs that inject a fault: handled means every check passed. The guest's place is what the daemons "
                + "reported after the migration; leftovers are what the clean-up checks found (none when they all passed).",
            headers: ["scenario", "parameters", "expected", "runs", "outcome", "checks passed", "checks failed",
                      "guest ended up", "leftovers"],
            rows: groups.map { group in
                let handled = group.runs.filter(\.passed).count
                let first = group.runs[0].failure
                let parameters = group.parameters.namedValues.filter { varying.contains($0.name) && $0.name != "scenario" }
                let failed = group.runs.flatMap { run in run.failedChecks.map { "#\(run.runID) \($0)" } }
                return [first?.scenario ?? group.runs[0].cellLabel,
                        parameters.isEmpty ? "–" : parameters.map { "\($0.name) \($0.value)" }.joined(separator: ", "),
                        first?.expectation ?? "–",
                        group.runs.map { "#\($0.runID)" }.joined(separator: ", "),
                        handled == group.runs.count ? "handled" : "\(handled) of \(group.runs.count) handled",
                        String(group.runs.map(\.passedCheckCount).reduce(0, +)),
                        failed.isEmpty ? "none" : failed.joined(separator: ", "),
                        perRun(group.runs) { $0.failure?.guestPlacement ?? "not recorded" },
                        perRun(group.runs) { $0.failure?.leftovers ?? "not checked" }]
            })
    }

    public static func runs(_ document: ReportDocument) -> ReportTable {
        ReportTable(
            title: "Runs",
            headers: ["run", "cell", "rep", "direction", "status", "passed", "converged", "iterations", "remaining MiB",
                      "achieved dirty MiB/s", "while migrated MiB/s", "transfer MiB/s", "pre-copy MiB/s", "migration ms", "libvirt downtime ms", "ping gap ms",
                      "ping gap bounds ms", "announce delay ms", "overhead ms", "failed checks"],
            rows: document.runs.map { run in
                [run.runID, run.cellLabel, String(run.repetition), run.direction, run.status, run.passed ? "yes" : "no",
                 run.converged ? "yes" : "no", run.iterations.map(String.init) ?? "–", ReportFormat.number(run.remainingMiBAtEnd),
                 ReportFormat.number(run.achievedDirtyRateMiBPerSecond), ReportFormat.number(run.guestDirtyRateDuringMigrationMiBPerSecond),
                 ReportFormat.number(run.transferRateMiBPerSecond), ReportFormat.number(run.preCopyTransferRateMiBPerSecond),
                 ReportFormat.number(run.migrationMilliseconds), ReportFormat.number(run.libvirtDowntimeMilliseconds),
                 ReportFormat.number(run.pingGapMilliseconds),
                 "\(ReportFormat.number(run.pingGapLowerBoundMilliseconds))–\(ReportFormat.number(run.pingGapUpperBoundMilliseconds))"
                     + ((run.pingGapLateProbes ?? 0) > 0 ? " (\(run.pingGapLateProbes ?? 0) held)" : ""),
                 ReportFormat.number(run.announceDelayMilliseconds), ReportFormat.number(run.overheadMilliseconds),
                 run.failedChecks.isEmpty ? "none" : run.failedChecks.joined(separator: ", ")]
            })
    }

    /// How the host CPU figures were measured, under their table.
    public static let hostCPUExplanation = "CPU seconds each migration cost the hosts: utime+stime of /proc/PID/stat and "
        + "/proc/PID/task/TID/stat over CLK_TCK, read through each host's shell every 250 ms from just before the migration "
        + "call until it returned; each thread's last reading less its first, by its name (vCPU `CPU n/KVM`, migration "
        + "`mig/src/main` and its return path, multifd `mig/src/send_n` / `mig/dst/recv_n`, the main loop, other); ended: "
        + "threads that ended between readings. The source's QEMU exits in Confirm: what it spent after its last reading "
        + "(uncounted ms, the switch-over among it) is not in its figures. Per GiB: QEMU and daemon over the GiB the run moved."

    /// The host CPU of every run that measured it; `nil` when none did.
    public static func hostCPU(_ document: ReportDocument) -> ReportTable? {
        let rows = document.runs.flatMap { run in
            run.hostCPU.map { host in
                [run.runID, host.host, ReportFormat.number(host.vcpuCPUSeconds, decimals: 2),
                 ReportFormat.number(host.migrationThreadsCPUSeconds, decimals: 2), ReportFormat.number(host.multifdCPUSeconds, decimals: 2),
                 ReportFormat.number(host.mainLoopCPUSeconds, decimals: 2), ReportFormat.number(host.otherThreadsCPUSeconds, decimals: 2),
                 ReportFormat.number(host.endedThreadsCPUSeconds, decimals: 2), ReportFormat.number(host.daemonCPUSeconds, decimals: 2),
                 ReportFormat.number(host.totalCPUSeconds, decimals: 2), ReportFormat.number(host.cpuSecondsPerGiB, decimals: 2),
                 ReportFormat.number(host.uncountedMilliseconds, decimals: 0)]
            }
        }
        guard !rows.isEmpty else { return nil }
        return ReportTable(title: "Host CPU per run", explanation: hostCPUExplanation,
                           headers: ["run", "host", "vCPU s", "migration s", "multifd s", "main loop s", "other s", "ended s",
                                     "libvirt daemon s", "total s", "s per GiB less vCPU", "uncounted ms"],
                           rows: rows)
    }

    /// The fit's quality and parameters: one model as a list of figures, several strategies as
    /// one row each (``fitPerStrategy(_:)``); `nil` when a sweep of one strategy has no fit
    /// (the document's notes say why) or has no live runs.
    public static func fit(_ document: ReportDocument) -> ReportTable? {
        guard document.hasSingleFit, let fit = document.fits.first else {
            return document.fits.count + document.unfittedStrategies.count > 1 ? fitPerStrategy(document) : nil
        }
        let quality: [[String]] = [
            ["R² migration time", ReportFormat.number(fit.rSquaredMigrationTime, decimals: 3), ""],
            ["R² downtime", ReportFormat.number(fit.rSquaredDowntime, decimals: 3), ""],
            ["held-out MAPE", ReportFormat.number(fit.heldOutMAPEPercent), "%"],
            ["repeats from their cell's mean", ReportFormat.number(fit.repeatSpreadPercent), "% (the floor under any model's MAPE)"],
        ]
        let downtime = downtimeRows(fit)
        return ReportTable(
            title: "Model fit",
            explanation: (fit.strategy == "precopy" ? "" : "Strategy \(fit.strategy). ") + "Held out: \(fit.foldDescription)."
                + (downtime.isEmpty ? "" : " " + downtimeModelExplanation),
            headers: ["parameter", "value", "unit"],
            rows: quality + fit.parameters.map { [$0.name, ReportFormat.number($0.value, decimals: 3), $0.unit] } + downtime)
    }

    /// Why the model is fitted per strategy, under its table.
    public static let perStrategyExplanation = "One pre-copy model per strategy, each fitted to that strategy's converged "
        + "live runs only: TLS, compression and multifd change the copy rate and its CPU cost, tunnelling and client-managed "
        + "migration the setup, auto-converge throttles the guest (its runs are modelled at the rate while migrated), so one set "
        + "of constants would describe none of them. max-downtime=MS joins its strategy's group: the model takes the max "
        + "downtime per run. Post-copy runs are not described by the pre-copy model and are not fitted."

    /// One row per strategy of the sweep's live runs: its runs and cells, the fitted parameters,
    /// R², held-out MAPE; a strategy without a fit says why. `nil` when there is none.
    public static func fitPerStrategy(_ document: ReportDocument) -> ReportTable? {
        guard !document.fits.isEmpty || !document.unfittedStrategies.isEmpty else { return nil }
        var parameterColumns: [(name: String, unit: String)] = []
        for parameter in document.fits.flatMap(\.parameters) where !parameterColumns.contains(where: { $0.name == parameter.name }) {
            parameterColumns.append((parameter.name, parameter.unit))
        }
        // The downtime model's columns only when a strategy has one: a document without keeps its table.
        let withDowntime = document.fits.contains { $0.downtimeModel != nil }
        func downtimeColumns(_ fit: ReportFit?) -> [String] {
            guard withDowntime else { return [] }
            guard let model = fit?.downtimeModel else { return ["–", "–", "–", "–", "–"] }
            return [ReportFormat.number(model.fixedMilliseconds, decimals: 3),
                    model.switchOverMiBPerSecond.map { ReportFormat.number($0, decimals: 3) } ?? "– (fixed only)",
                    ReportFormat.number(model.rSquared, decimals: 3), ReportFormat.number(model.heldOutMAPEPercent),
                    ReportFormat.number(model.qemuExpectedDowntimeMAPEPercent)]
        }
        let fitted = document.fits.map { fit -> [String] in
            [fit.strategy, String(fit.runCount), String(fit.cellCount), String(fit.fittedRunCount)]
                + parameterColumns.map { column in
                    ReportFormat.number(fit.parameters.first { $0.name == column.name }?.value, decimals: 3)
                }
                + [ReportFormat.number(fit.rSquaredMigrationTime, decimals: 3), ReportFormat.number(fit.rSquaredDowntime, decimals: 3),
                   ReportFormat.number(fit.heldOutMAPEPercent)] + downtimeColumns(fit) + [fit.foldDescription]
        }
        let unfitted = document.unfittedStrategies.map { strategy -> [String] in
            [strategy.strategy, String(strategy.runCount), String(strategy.cellCount), "0"]
                + parameterColumns.map { _ in "–" } + ["–", "–", "–"] + downtimeColumns(nil) + [strategy.reason]
        }
        return ReportTable(
            title: "Model fit per strategy",
            explanation: perStrategyExplanation + (withDowntime ? " " + downtimeModelExplanation : ""),
            headers: ["strategy", "runs", "cells", "fitted runs"] + parameterColumns.map { "\($0.name) \($0.unit)" }
                + ["R² migration time", "R² downtime", "held-out MAPE %"]
                + (withDowntime ? ["downtime fixed ms", "switch-over MiB/s", "downtime model R²", "downtime held-out MAPE %",
                                   "expected_downtime MAPE %"] : [])
                + ["held out, or why not fitted"],
            rows: fitted + unfitted)
    }

    /// The evacuations, one row per run of the matrix and guest count N (by N): how many
    /// evacuations, the median over them of the total time, the serial sum and the speedup,
    /// the median and the worst downtime over all their landed guests, and the guests that
    /// failed a check; `nil` when the sweep has no evacuation.
    public static func evacuations(_ document: ReportDocument) -> ReportTable? {
        guard !document.evacuations.isEmpty else { return nil }
        var rows: [[String]] = []
        for group in ReportPlots.evacuationGroups(document.evacuations) {
            for count in Set(group.evacuations.map(\.guestCount)).sorted() {
                let ofCount = group.evacuations.filter { $0.guestCount == count }
                let downtimes = ofCount.flatMap(\.guestDowntimesMilliseconds)
                let guests = ofCount.reduce(0) { $0 + $1.guestCount }
                let failed = ofCount.reduce(0) { $0 + $1.guestCount - $1.passedCount }
                rows.append([ofCount[0].cellLabel, String(count), String(ofCount.count),
                             ReportFormat.number(median(ofCount.compactMap(\.totalSeconds)), decimals: 2),
                             ReportFormat.number(median(ofCount.compactMap(\.serialSumSeconds)), decimals: 2),
                             ReportFormat.ratio(median(ofCount.compactMap(\.speedup))),
                             ReportFormat.number(median(downtimes)), ReportFormat.number(downtimes.max()),
                             "\(failed) of \(guests)"])
            }
        }
        return ReportTable(
            title: "Evacuations by guest count",
            explanation: "N guests migrated from one host at once: total time from the first migration start to the last "
                + "landing, and the serial sum of the landed guests' migration times, in seconds (medians over the evacuations of "
                + "that N); downtime is each landed guest's longest ping gap in milliseconds, median and worst over all of them.",
            headers: ["cell", "guests N", "evacuations", "total s", "serial sum s", "speedup", "downtime median ms",
                      "downtime worst ms", "failed guests"],
            rows: rows)
    }

    /// The middle value, or the mean of the two middle ones (`nil`: no values). MigrationModel's
    /// own is not imported: this target renders plain values and depends on nothing.
    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    public static func boundaries(_ document: ReportDocument) -> ReportTable {
        ReportTable(
            title: "Convergence boundary",
            headers: ["memory MiB", "bandwidth MiB/s", "highest converging MiB/s", "lowest non-converging MiB/s",
                      "predicted MiB/s"],
            rows: document.boundaries.map { boundary in
                [String(boundary.memoryMiB), ReportFormat.bandwidth(boundary.bandwidthLimitMiBPerSecond),
                 ReportFormat.number(boundary.highestConvergingMiBPerSecond),
                 ReportFormat.number(boundary.lowestNonConvergingMiBPerSecond),
                 ReportFormat.number(boundary.predictedMiBPerSecond)]
            })
    }

    public static func downtimeDecomposition(_ document: ReportDocument) -> ReportTable {
        let decompositions = document.runs.compactMap {
            DowntimeDecomposition(run: $0, probeIntervalMilliseconds: document.pingProbeIntervalMilliseconds)
        }
        return ReportTable(
            title: "Downtime decomposition",
            explanation: "ping gap (the switch-over's: the gap over libvirt's pause events, which is not always the longest) "
                + "= libvirt downtime + announce delay + the guest's answer delay at the destination + the rest, which is "
                + "explained when it lies within one probe interval (\(ReportFormat.number(document.pingProbeIntervalMilliseconds)) ms) "
                + "± \(ReportFormat.number(DowntimeDecomposition.allowanceMilliseconds)) ms: the probe not yet sent when the guest "
                + "was back, and the reply's way. The answer delay is the destination's capture: from the first probe reaching "
                + "its host to the guest's first reply leaving it, on that host's clock alone (probes held: those that reached "
                + "it before); without it the rest holds it. Runs missing the gap, the downtime or the announce are left out "
                + "(\(document.runs.count - decompositions.count) of \(document.runs.count)). "
                + "The guest's clock: how long it stood still, by the guest's own clock against the host's (guest-freeze). "
                + "On the run clock the gap splits at libvirt's events of the switch-over: before the source's suspended "
                + "event, paused until the destination's resumed event, and after it until the first reply (the three add up "
                + "to the gap).",
            headers: ["run", "ping gap ms", "libvirt downtime ms", "guest's clock stood still ms", "announce delay ms",
                      "answer delay at destination ms", "probes held", "rest ms", "before pause ms", "paused ms", "after resume ms", "verdict"],
            rows: decompositions.map { item in
                [item.runID, ReportFormat.number(item.pingGapMilliseconds), ReportFormat.number(item.libvirtDowntimeMilliseconds),
                 ReportFormat.number(item.guestClockLagMilliseconds),
                 ReportFormat.number(item.announceDelayMilliseconds), ReportFormat.number(item.guestAnswerDelayMilliseconds),
                 item.probesHeldAtDestination.map(String.init) ?? "–", ReportFormat.number(item.restMilliseconds),
                 ReportFormat.number(item.beforePauseMilliseconds), ReportFormat.number(item.pausedMilliseconds),
                 ReportFormat.number(item.afterResumeMilliseconds), item.verdict.text]
            })
    }

    public static func dirtyRateCrossCheck(_ document: ReportDocument) -> ReportTable {
        ReportTable(
            title: "Dirty-rate cross-check",
            explanation: "memeater's achieved rate against QEMU's page sampling and libvirt's job stats; ratios are "
                + "other/achieved, agreement is \(DirtyRateCrossCheck.agreementRange.lowerBound)–"
                + "\(DirtyRateCrossCheck.agreementRange.upperBound).",
            headers: ["run", "achieved MiB/s", "QEMU sampled MiB/s", "QEMU/achieved", "job stats MiB/s",
                      "job stats/achieved", "QEMU figure"],
            rows: document.runs.map { run in
                let check = DirtyRateCrossCheck(run: run, accelerator: document.environment.accelerator)
                return [run.runID, ReportFormat.number(check.achievedMiBPerSecond), ReportFormat.number(check.qemuSampledMiBPerSecond),
                        ReportFormat.ratio(check.qemuRatio), ReportFormat.number(check.jobStatsMiBPerSecond),
                        ReportFormat.ratio(check.jobStatsRatio), check.qemuVerdict.text]
            })
    }

    /// The matched cells of a comparison; the first column numbers them as the ratio plot does.
    public static func comparison(_ comparison: SweepComparison) -> ReportTable {
        func flag(_ metric: MetricComparison) -> String {
            switch metric.confidenceIntervalsOverlap {
            case .some(false): return "DIFFERS (CIs apart)"
            case .some(true): return "within CIs"
            case .none: return "no CI"
            }
        }
        let differing = comparison.differingParameters.isEmpty ? "none" : comparison.differingParameters.joined(separator: ", ")
        return ReportTable(
            title: "Comparison: \(comparison.otherSweepID) / \(comparison.thisSweepID)",
            explanation: "Cells matched on every parameter except those the sweeps differ in (\(differing)). Ratio is "
                + "other/this of the means; DIFFERS where the two 95% confidence intervals do not overlap.",
            headers: ["#", "cell (this)", "cell (other)", "migration ms this", "other", "ratio", "flag",
                      "libvirt downtime ms this", "other", "ratio", "flag", "ping gap ms this", "other", "ratio", "flag"],
            rows: comparison.matched.enumerated().map { index, match in
                [String(index + 1), match.this.label, match.other.label,
                 ReportFormat.statistic(match.this.migrationMilliseconds), ReportFormat.statistic(match.other.migrationMilliseconds),
                 ReportFormat.ratio(match.migrationTime.ratio), flag(match.migrationTime),
                 ReportFormat.statistic(match.this.libvirtDowntimeMilliseconds),
                 ReportFormat.statistic(match.other.libvirtDowntimeMilliseconds),
                 ReportFormat.ratio(match.libvirtDowntime.ratio), flag(match.libvirtDowntime),
                 ReportFormat.statistic(match.this.pingGapMilliseconds), ReportFormat.statistic(match.other.pingGapMilliseconds),
                 ReportFormat.ratio(match.pingGap.ratio), flag(match.pingGap)]
            })
    }

    /// Cells found in one sweep only.
    public static func unmatched(_ comparison: SweepComparison) -> ReportTable {
        let rows = comparison.onlyInThis.map { ["only in \(comparison.thisSweepID)", $0.label] }
            + comparison.onlyInOther.map { ["only in \(comparison.otherSweepID)", $0.label] }
        return ReportTable(title: "Cells in one sweep only", headers: ["where", "cell"], rows: rows)
    }
}
