import Foundation

/// A plot the report will draw: its gnuplot script and what it shows.
public struct PlannedPlot: Sendable, Equatable {
    /// The file stem (`plots/<name>.svg`) and the id prefix in the HTML.
    public var name: String
    /// One sentence under the plot.
    public var caption: String
    /// The titles of its series, in plotting order.
    public var seriesTitles: [String]
    /// Parts of the plot left out, each with why (e.g. no model curve without a fit).
    public var notes: [String]
    /// The gnuplot script.
    public var script: String
}

/// A plot the report leaves out, and why: a plot without data is not drawn empty.
public struct OmittedPlot: Sendable, Equatable {
    public var name: String
    public var reason: String
}

/// Turns a document into gnuplot scripts. Pure: it runs nothing.
public enum ReportPlots {
    /// More timelines than this make the page unreadable; the rest are listed as left out.
    public static let defaultMaximumTimelines = 12

    /// The plots of `document`, and those left out with their reasons, in page order.
    public static func plan(for document: ReportDocument,
                            maximumTimelines: Int = defaultMaximumTimelines) -> (plots: [PlannedPlot], omitted: [OmittedPlot]) {
        var plots: [PlannedPlot] = []
        var omitted: [OmittedPlot] = []
        // Strategies side by side only where the sweep has more than one.
        let strategyPlot = Set(document.liveCells.map(\.parameters.strategy)).count > 1 ? strategies(document) : nil
        // The Evacuation section's plots only where the sweep has evacuations.
        let evacuationPlots = document.evacuations.isEmpty ? [] : [evacuationTime(document), evacuationDowntime(document)]
        for outcome in [migrationTime(document), downtime(document), downtimeDecomposition(document), convergenceBoundary(document)]
            + (strategyPlot.map { [$0] } ?? [])
            + evacuationPlots {
            switch outcome {
            case .drawn(let plot): plots.append(plot)
            case .omitted(let omission): omitted.append(omission)
            }
        }
        for (index, timeline) in document.timelines.enumerated() {
            let name = "timeline-\(index + 1)-\(fileSafe(timeline.runID))"
            guard index < maximumTimelines else {
                omitted.append(OmittedPlot(name: name, reason: "Timeline of run \(timeline.runID) left out: "
                    + "at most \(maximumTimelines) timelines are drawn."))
                continue
            }
            switch self.timeline(timeline, name: name) {
            case .drawn(let plot): plots.append(plot)
            case .omitted(let omission): omitted.append(omission)
            }
        }
        return (plots, omitted)
    }

    enum Outcome {
        case drawn(PlannedPlot)
        case omitted(OmittedPlot)
    }

    // MARK: - Migration time and downtime over dirty rate

    /// Cells grouped into series: one per memory size (and bandwidth, when the sweep has
    /// more than one; and strategy, when it has more than one, since each strategy has its own
    /// model curve), ordered by memory size.
    struct CellGroup {
        var memoryMiB: Int
        var bandwidthLimitMiBPerSecond: Double?
        /// `nil` when the sweep's live cells share one strategy.
        var strategy: String?
        var title: String
        var cells: [ReportCell]
    }

    static func cellGroups(_ cells: [ReportCell]) -> [CellGroup] {
        let bandwidths = Set(cells.map(\.parameters.bandwidthLimitMiBPerSecond))
        let showBandwidth = bandwidths.count > 1
        let strategies = orderedUnique(cells.map(\.parameters.strategy))
        let showStrategy = strategies.count > 1
        var groups: [CellGroup] = []
        for cell in cells {
            let memory = cell.parameters.memoryMiB
            let bandwidth = cell.parameters.bandwidthLimitMiBPerSecond
            let strategy = showStrategy ? cell.parameters.strategy : nil
            if let index = groups.firstIndex(where: {
                $0.memoryMiB == memory && $0.bandwidthLimitMiBPerSecond == bandwidth && $0.strategy == strategy
            }) {
                groups[index].cells.append(cell)
            } else {
                let title = "\(memory) MiB" + (showBandwidth ? ", \(bandwidthText(bandwidth))" : "") + (strategy.map { ", \($0)" } ?? "")
                groups.append(CellGroup(memoryMiB: memory, bandwidthLimitMiBPerSecond: bandwidth, strategy: strategy, title: title, cells: [cell]))
            }
        }
        return groups.sorted {
            ($0.memoryMiB, $0.bandwidthLimitMiBPerSecond ?? .infinity, strategies.firstIndex(of: $0.strategy ?? "") ?? 0)
                < ($1.memoryMiB, $1.bandwidthLimitMiBPerSecond ?? .infinity, strategies.firstIndex(of: $1.strategy ?? "") ?? 0)
        }
    }

    /// The model curve drawn beside `group`'s cells: from the fit of their strategy.
    static func curve(for group: CellGroup, in fits: [ReportFit]) -> ReportFit.Curve? {
        fits.flatMap(\.curves).first { curve in
            curve.memoryMiB == group.memoryMiB && curve.bandwidthLimitMiBPerSecond == group.bandwidthLimitMiBPerSecond
                && (group.strategy == nil || curve.strategy == nil || curve.strategy == group.strategy)
        }
    }

    /// Rows "rate mean low high" for one statistic of `cells`, sorted by rate. The rate is the
    /// one the guest achieved (the model curve's x), never the target: an unlimited cell's
    /// target is 0. A cell without a mean or without an achieved rate is left out, one without
    /// an error bar gets a bar of zero length.
    static func statisticRows(_ cells: [ReportCell], _ statistic: (ReportCell) -> ReportStatistic) -> [[Double]] {
        cells.compactMap { cell -> [Double]? in
            let value = statistic(cell)
            guard let mean = value.mean, let rate = cell.achievedDirtyRateMiBPerSecond.mean else { return nil }
            let bar = value.errorBar
            return [rate, mean, bar?.low ?? mean, bar?.high ?? mean]
        }.sorted { $0[0] < $1[0] }
    }

    /// `cells` split by target: those with a rate limit, and those whose target was unlimited
    /// (target 0), which the plots mark apart.
    static func byTarget(_ cells: [ReportCell]) -> (limited: [ReportCell], unlimited: [ReportCell]) {
        (cells.filter { $0.parameters.targetDirtyRateMiBPerSecond > 0 }, cells.filter { $0.parameters.targetDirtyRateMiBPerSecond <= 0 })
    }

    /// The note for cells that have a figure to plot (`plotted`) but no achieved rate to plot it at.
    static func unplacedNote(_ cells: [ReportCell], plotted: (ReportCell) -> Bool) -> [String] {
        let unplaced = cells.filter { plotted($0) && $0.achievedDirtyRateMiBPerSecond.mean == nil }
        guard !unplaced.isEmpty else { return [] }
        return ["\(unplaced.count) cell(s) not plotted: no achieved dirty rate was recorded for their runs "
            + "(\(unplaced.map(\.label).joined(separator: ", "))); the target is no stand-in, 0 meaning unlimited."]
    }

    static let achievedRateCaption = "Each point sits at the dirty rate the guest achieved (memeater's, mean over the runs "
        + "behind it; under auto-converge the rate while migrated), the rate the model curve is drawn over; the targets are in "
        + "the Cells table, and cells whose target was unlimited are triangles."

    static func errorBarLegend(_ cells: [ReportCell]) -> String {
        let counts = cells.map(\.migrationMilliseconds.count)
        let smallest = counts.min() ?? 0
        return smallest >= ReportStatistic.minimumCountForConfidenceBars
            ? "Error bars are 95% confidence intervals of the mean."
            : "Error bars are 95% confidence intervals where a cell has at least \(ReportStatistic.minimumCountForConfidenceBars) runs, min/max otherwise."
    }

    static func migrationTime(_ document: ReportDocument) -> Outcome {
        let name = "migration-time"
        var script = GnuplotScript()
        script.set("set title \(GnuplotScript.quoted("Migration time vs dirty rate — \(document.sweepID)")) noenhanced")
        script.set("set xlabel 'dirty rate the guest achieved (MiB/s)'")
        script.set("set ylabel 'migration time (ms)'")
        script.set("set yrange [0:*]")
        script.set("set xrange [0:*]")
        script.set(pointsOffTheFrame)
        let cells = document.liveCells
        var notes = unplacedNote(cells) { $0.migrationMilliseconds.mean != nil }
        let groups = cellGroups(cells)
        for (index, group) in groups.enumerated() {
            let color = index + 1
            let split = byTarget(group.cells)
            script.addSeries(title: "\(group.title) measured", rows: statisticRows(split.limited, \.migrationMilliseconds),
                             clause: "using 1:2:3:4 with yerrorbars lc \(color) pt 7 ps 0.8")
            script.addSeries(title: "\(group.title) measured, target unlimited",
                             rows: statisticRows(split.unlimited, \.migrationMilliseconds),
                             clause: "using 1:2:3:4 with yerrorbars lc \(color) pt 9 ps 1.2")
        }
        if !document.fits.isEmpty {
            for (index, group) in groups.enumerated() {
                guard let curve = curve(for: group, in: document.fits), !curve.points.isEmpty else {
                    notes.append(group.strategy.map { "No model curve for \(group.title): strategy \($0) has no fitted model for these cells (see Model fit per strategy)." }
                                 ?? "No model curve for \(group.title): the fit has no points for this memory size.")
                    continue
                }
                let rows = curve.points.map { [$0.dirtyRateMiBPerSecond, $0.predictedMilliseconds] }.sorted { $0[0] < $1[0] }
                script.addSeries(title: "\(group.title) model", rows: rows, clause: "using 1:2 with lines lc \(index + 1) dt 2 lw 1.5")
            }
        } else {
            notes.append("No model curve: no model was fitted to this sweep.")
        }
        guard !script.isEmpty else {
            return .omitted(OmittedPlot(name: name, reason: "Migration time is not plotted: no live cell has a mean migration time "
                + "at a recorded achieved dirty rate."))
        }
        let perStrategy = groups.contains { $0.strategy != nil }
        return .drawn(PlannedPlot(name: name, caption: "Migration time over the dirty rate the guest achieved, one series per "
            + "memory size" + (perStrategy ? " and strategy, each strategy's curve from its own fit" : "") + ". " + achievedRateCaption + " " + errorBarLegend(cells),
            seriesTitles: script.seriesTitles, notes: notes, script: script.text))
    }

    static func downtime(_ document: ReportDocument) -> Outcome {
        let name = "downtime"
        var script = GnuplotScript()
        script.set("set title \(GnuplotScript.quoted("Downtime vs dirty rate — \(document.sweepID)")) noenhanced")
        script.set("set xlabel 'dirty rate the guest achieved (MiB/s)'")
        script.set("set ylabel 'downtime (ms)'")
        script.set("set yrange [0:*]")
        script.set("set xrange [0:*]")
        script.set(pointsOffTheFrame)
        let cells = document.liveCells
        for (index, group) in cellGroups(cells).enumerated() {
            let split = byTarget(group.cells)
            script.addSeries(title: "\(group.title) ping gap", rows: statisticRows(split.limited, \.pingGapMilliseconds),
                             clause: "using 1:2:3:4 with yerrorbars lc \(index + 1) pt 7 ps 0.8")
            script.addSeries(title: "\(group.title) libvirt downtime",
                             rows: statisticRows(split.limited, \.libvirtDowntimeMilliseconds),
                             clause: "using 1:2:3:4 with yerrorbars lc \(index + 1) pt 4 ps 0.8")
            script.addSeries(title: "\(group.title) ping gap, target unlimited", rows: statisticRows(split.unlimited, \.pingGapMilliseconds),
                             clause: "using 1:2:3:4 with yerrorbars lc \(index + 1) pt 9 ps 1.2")
            script.addSeries(title: "\(group.title) libvirt downtime, target unlimited",
                             rows: statisticRows(split.unlimited, \.libvirtDowntimeMilliseconds),
                             clause: "using 1:2:3:4 with yerrorbars lc \(index + 1) pt 8 ps 1.2")
        }
        guard !script.isEmpty else {
            return .omitted(OmittedPlot(name: name, reason: "Downtime is not plotted: no live cell has a ping gap or a libvirt "
                + "downtime at a recorded achieved dirty rate."))
        }
        return .drawn(PlannedPlot(name: name, caption: "Ping gap (filled circles) and libvirt's downtime (squares) over "
            + "the dirty rate the guest achieved, per memory size. " + achievedRateCaption + " " + errorBarLegend(cells),
            seriesTitles: script.seriesTitles,
            notes: unplacedNote(cells) { $0.pingGapMilliseconds.mean != nil || $0.libvirtDowntimeMilliseconds.mean != nil },
            script: script.text))
    }

    // MARK: - Downtime decomposition

    /// Each decomposed run's ping gap as a bar of its parts, laid end to end from the last
    /// reply before the gap: libvirt's downtime, the announce delay (negative when the announce
    /// came before the downtime's end: the bar then runs back), the guest's answer delay at
    /// the destination and the rest, with the gap's measured length marked.
    static func downtimeDecomposition(_ document: ReportDocument) -> Outcome {
        let name = "downtime-decomposition"
        let decomposed = document.runs.compactMap { run in
            DowntimeDecomposition(run: run, probeIntervalMilliseconds: document.pingProbeIntervalMilliseconds).map { (run, $0) }
        }
        guard !decomposed.isEmpty else {
            return .omitted(OmittedPlot(name: name, reason: "The downtime decomposition is not plotted: no run has a ping gap, "
                + "a libvirt downtime and an announce delay."))
        }
        let rows = decomposed.enumerated().map { (row: $0.offset + 1, run: $0.element.0, part: $0.element.1) }
        func bar(from start: Double, to end: Double, row: Int) -> [Double] {
            Self.bar(from: start, to: end, y: Double(row), halfHeight: 0.35)
        }
        var script = GnuplotScript()
        // A row per run: bars stay readable with many runs.
        script.set(GnuplotScript.terminal(heightPixels: max(450, 200 + 30 * rows.count)))
        script.set("set title \(GnuplotScript.quoted("Downtime decomposition — \(document.sweepID)")) noenhanced")
        script.set("set xlabel 'ms from the last reply before the switch-over gap'")
        script.set("set yrange [0.4:\(Double(rows.count) + 0.6)]")
        // Each row says which run and what it migrated: a sweep's cells and guests differ in their gaps.
        let tics = rows.map {
            let label = "run \($0.part.runID) (\($0.run.parameters.memoryMiB) MiB, \($0.run.parameters.guestKind))"
            return "\(GnuplotScript.quoted(label)) \($0.row)"
        }.joined(separator: ", ")
        script.set("set ytics (\(tics)) nomirror noenhanced")
        script.set("set style fill solid 0.6 border")
        // The key beside the plot, all five entries (below it, gnuplot drops those that do not
        // fit); narrower than gnuplot reckons its text.
        script.set("set key outside right top vertical width -6")
        script.addSeries(title: "libvirt downtime", rows: rows.map { bar(from: 0, to: $0.part.libvirtDowntimeMilliseconds, row: $0.row) },
                         clause: "using 1:2:3:4:5:6 with boxxyerror lc rgb '#1f77b4'")
        script.addSeries(title: "announce delay", rows: rows.map {
            let end = $0.part.libvirtDowntimeMilliseconds
            return bar(from: end, to: end + $0.part.announceDelayMilliseconds, row: $0.row)
        }, clause: "using 1:2:3:4:5:6 with boxxyerror lc rgb '#9467bd'")
        script.addSeries(title: "answer delay (destination)", rows: rows.compactMap { item in
            let start = item.part.libvirtDowntimeMilliseconds + item.part.announceDelayMilliseconds
            return item.part.guestAnswerDelayMilliseconds.map { bar(from: start, to: start + $0, row: item.row) }
        }, clause: "using 1:2:3:4:5:6 with boxxyerror lc rgb '#ff7f0e'")
        script.addSeries(title: "rest", rows: rows.map {
            bar(from: $0.part.pingGapMilliseconds - $0.part.restMilliseconds, to: $0.part.pingGapMilliseconds, row: $0.row)
        }, clause: "using 1:2:3:4:5:6 with boxxyerror lc rgb '#7f7f7f'")
        script.addSeries(title: "ping gap (measured)", rows: rows.map { [$0.part.pingGapMilliseconds, Double($0.row)] },
                         clause: "using 1:2 with points pt 2 ps 2 lw 2 lc rgb '#d62728'")
        let unmeasured = rows.filter { $0.part.guestAnswerDelayMilliseconds == nil }.map(\.part.runID)
        return .drawn(PlannedPlot(name: name, caption: "Each run's switch-over ping gap (cross) as its parts laid end to end: "
            + "libvirt's downtime, the announce delay, the guest's answer delay at the destination (its capture) and the rest, "
            + "which is explained within one probe interval ± \(ReportFormat.number(DowntimeDecomposition.allowanceMilliseconds)) ms. "
            + "A negative announce delay (the announce came before libvirt's downtime ended) runs back over the downtime.",
            seriesTitles: script.seriesTitles,
            notes: unmeasured.isEmpty ? [] : ["No answer delay at the destination was measured for run(s) "
                + unmeasured.joined(separator: ", ") + ": their rest holds it."],
            script: script.text))
    }

    // MARK: - Convergence boundary

    static func convergenceBoundary(_ document: ReportDocument) -> Outcome {
        let name = "convergence-boundary"
        var script = GnuplotScript()
        script.set("set title \(GnuplotScript.quoted("Convergence boundary — \(document.sweepID)")) noenhanced")
        script.set("set xlabel 'guest memory (MiB)'")
        script.set("set ylabel 'dirty rate (MiB/s)'")
        script.set("set yrange [0:*]")
        // Room around the outermost sizes and above the highest bracket, so no bar end sits on the frame.
        script.set("set offsets graph 0.05, graph 0.05, graph 0.05, 0")
        var bandwidths: [Double?] = []
        for boundary in document.boundaries where !bandwidths.contains(boundary.bandwidthLimitMiBPerSecond) {
            bandwidths.append(boundary.bandwidthLimitMiBPerSecond)
        }
        var notes: [String] = []
        for (index, bandwidth) in bandwidths.enumerated() {
            let boundaries = document.boundaries.filter { $0.bandwidthLimitMiBPerSecond == bandwidth }
                .sorted { $0.memoryMiB < $1.memoryMiB }
            let bandwidthTitle = bandwidthText(bandwidth)
            let bracketRows = boundaries.compactMap { boundary -> [Double]? in
                guard let low = boundary.highestConvergingMiBPerSecond,
                      let high = boundary.lowestNonConvergingMiBPerSecond else { return nil }
                return [Double(boundary.memoryMiB), (low + high) / 2, low, high]
            }
            script.addSeries(title: "measured bracket, \(bandwidthTitle)", rows: bracketRows,
                             clause: "using 1:2:3:4 with yerrorbars lc \(index + 1) pt 1")
            let oneSided = boundaries.filter { ($0.highestConvergingMiBPerSecond == nil) != ($0.lowestNonConvergingMiBPerSecond == nil) }
            if !oneSided.isEmpty {
                notes.append("\(oneSided.count) boundary(ies) at \(bandwidthTitle) have only one measured side and are in the table only.")
            }
            let predictedRows = boundaries.compactMap { boundary in
                boundary.predictedMiBPerSecond.map { [Double(boundary.memoryMiB), $0] }
            }
            script.addSeries(title: "predicted, \(bandwidthTitle)", rows: predictedRows,
                             clause: "using 1:2 with linespoints lc \(index + 1) dt 2 pt 6")
        }
        guard !script.isEmpty else {
            let reason = document.boundaries.isEmpty
                ? "The convergence boundary is not plotted: the sweep found no boundary (no cell stopped converging)."
                : "The convergence boundary is not plotted: no boundary has both measured sides or a prediction."
            return .omitted(OmittedPlot(name: name, reason: reason))
        }
        return .drawn(PlannedPlot(name: name, caption: "Highest converging to lowest non-converging dirty rate "
            + "(bar), and the model's prediction, over guest memory, per bandwidth limit.",
            seriesTitles: script.seriesTitles, notes: notes, script: script.text))
    }

    // MARK: - Timelines

    static func timeline(_ timeline: ReportTimeline, name: String) -> Outcome {
        if timeline.failureScenario != nil { return failureTimeline(timeline, name: name) }
        let remaining = timeline.samples.compactMap { sample in sample.remainingMiB.map { [sample.milliseconds, $0] } }
        let dirty = timeline.samples.compactMap { sample in sample.dirtyRateMiBPerSecond.map { [sample.milliseconds, $0] } }
        let transfer = timeline.samples.compactMap { sample in sample.transferRateMiBPerSecond.map { [sample.milliseconds, $0] } }
        guard !(remaining.isEmpty && dirty.isEmpty && transfer.isEmpty) else {
            return .omitted(OmittedPlot(name: name, reason: "Timeline of run \(timeline.runID) is not plotted: "
                + "it has no job-stats samples."))
        }
        // Vertical marks span the y1 axis: its top is fixed so impulses and gap rectangles reach it.
        let top = max(remaining.map { $0[1] }.max() ?? 0, 1) * 1.05
        var script = GnuplotScript()
        script.set("set title \(GnuplotScript.quoted("Run \(timeline.runID) — \(timeline.label)")) noenhanced")
        script.set("set xlabel 'time (ms)'")
        script.set("set ylabel 'remaining memory (MiB)'")
        script.set("set y2label 'rate (MiB/s)'")
        script.set("set yrange [0:\(top)]")
        script.set("set y2range [0:*]")
        script.set("set ytics nomirror")
        script.set("set y2tics")
        script.set("set style fill transparent solid 0.25 noborder")
        // Eight series: a key beside the plot would take half its width.
        script.set("set key below horizontal")
        let gapRows = timeline.pingGaps.map { gap in
            [gap.startMilliseconds + gap.lengthMilliseconds / 2, top / 2,
             gap.startMilliseconds, gap.startMilliseconds + gap.lengthMilliseconds, 0, top]
        }
        script.addSeries(title: "ping gaps", rows: gapRows, clause: "using 1:2:3:4:5:6 with boxxyerror lc rgb '#d62728'")
        script.addSeries(title: "remaining memory (MiB)", rows: remaining, clause: "using 1:2 axes x1y1 with lines lw 2 lc rgb '#1f77b4'")
        script.addSeries(title: "dirty rate (MiB/s)", rows: dirty, clause: "using 1:2 axes x1y2 with lines lc rgb '#ff7f0e'")
        script.addSeries(title: "transfer rate (MiB/s)", rows: transfer, clause: "using 1:2 axes x1y2 with lines lc rgb '#2ca02c'")
        script.addSeries(title: "iteration starts", rows: timeline.iterationMarks.map { [$0.milliseconds, top, Double($0.iteration)] },
                         clause: "using 1:2 with impulses dt 3 lw 1.5 lc rgb '#555555'")
        let migrationMarks = [timeline.migrationStartMilliseconds, timeline.migrationEndMilliseconds].compactMap { $0 }
        script.addSeries(title: "migration start/end", rows: migrationMarks.map { [$0, top] },
                         clause: "using 1:2 with impulses lw 2 lc rgb '#000000'")
        let announceKinds = orderedUnique(timeline.announceFrames.map(\.text)).joined(separator: ", ")
        script.addSeries(title: "announce frames (\(announceKinds))", rows: timeline.announceFrames.map { [$0.milliseconds, top] },
                         clause: "using 1:2 with impulses dt 2 lw 2 lc rgb '#9467bd'")
        let faultTexts = orderedUnique(timeline.faults.map(\.text)).joined(separator: "; ")
        script.addSeries(title: "faults: \(shortened(faultTexts, to: 60))", rows: timeline.faults.map { [$0.milliseconds, top] },
                         clause: "using 1:2 with impulses lw 2 lc rgb '#e377c2'")
        return .drawn(PlannedPlot(name: name, caption: "Run \(timeline.runID) (\(timeline.label)): remaining memory (left "
            + "axis), dirty and transfer rate (right axis), ping gaps shaded, and vertical marks for iterations, "
            + "announce frames and faults.", seriesTitles: script.seriesTitles, notes: [], script: script.text))
    }

    /// The lanes of a failure run's timeline, bottom to top, at y = 1, 2, ...
    enum FailureLane: Int, CaseIterable {
        case destinationEvents = 1, sourceEvents, ping, fault, job, call

        var title: String {
            switch self {
            case .destinationEvents: return "destination events"
            case .sourceEvents: return "source events"
            case .ping: return "ping gaps"
            case .fault: return "fault"
            case .job: return "job (source)"
            case .call: return "migration call"
            }
        }

        var y: Double { Double(rawValue) }
    }

    /// A failure run as lanes of what happened on its clock: the migration call, the job's
    /// type at each job-stats reading, the fault's timed moments and the spans it imposed on
    /// the guest, the ping gaps, and each daemon's events; remaining memory on the right axis
    /// when a sample read any. A part with nothing recorded is named in the notes, as is what
    /// the run keeps without a time (e.g. a packet counter read after the call).
    static func failureTimeline(_ timeline: ReportTimeline, name: String) -> Outcome {
        let scenario = timeline.failureScenario ?? "failure"
        func bar(from start: Double, to end: Double, lane: FailureLane) -> [Double] {
            Self.bar(from: start, to: end, y: lane.y, halfHeight: 0.3)
        }
        let barClause = "using 1:2:3:4:5:6 with boxxyerror"
        var script = GnuplotScript()
        script.set("set title \(GnuplotScript.quoted("Run \(timeline.runID) — \(timeline.label)")) noenhanced")
        script.set("set xlabel 'time on the run clock (ms)'")
        script.set("set yrange [0.4:\(Double(FailureLane.allCases.count) + 0.6)]")
        let tics = FailureLane.allCases.map { "\(GnuplotScript.quoted($0.title)) \($0.rawValue)" }.joined(separator: ", ")
        script.set("set ytics (\(tics)) nomirror")
        // A gap of a few ms is narrower than a pixel: the border keeps it visible as a line.
        script.set("set style fill transparent solid 0.35 border")
        // Browsers set the key's text wider than gnuplot reckons: more than three columns run off the canvas.
        script.set("set key below horizontal maxcols 3")
        var notes: [String] = []

        if let start = timeline.migrationStartMilliseconds, let end = timeline.migrationEndMilliseconds {
            script.addSeries(title: "migration call", rows: [bar(from: start, to: end, lane: .call)],
                             clause: "\(barClause) lc rgb '#000000'")
        } else {
            let ends = [timeline.migrationStartMilliseconds, timeline.migrationEndMilliseconds].compactMap { $0 }
            script.addSeries(title: "migration call (one end recorded)", rows: ends.map { [$0, FailureLane.call.y] },
                             clause: "using 1:2 with points pt 2 ps 1.5 lc rgb '#000000'")
            notes.append(ends.isEmpty ? "No migration call was recorded on the run clock."
                : "Only one end of the migration call was recorded.")
        }
        script.addSeries(title: "post-copy switch", rows: timeline.postCopySwitchMilliseconds.map { [[$0, FailureLane.call.y]] } ?? [],
                         clause: "using 1:2 with points pt 13 ps 1.5 lc rgb '#17becf'")

        let jobTypes = orderedUnique(timeline.samples.compactMap(\.jobType))
        for (index, jobType) in jobTypes.enumerated() {
            let rows = timeline.samples.filter { $0.jobType == jobType }.map { [$0.milliseconds, FailureLane.job.y] }
            script.addSeries(title: "job \(jobType)", rows: rows, clause: "using 1:2 with points pt 5 ps 0.5 \(jobTypeColor(jobType, index: index))")
        }
        if timeline.samples.isEmpty {
            notes.append("No job-stats sample was recorded.")
        } else if jobTypes.isEmpty {
            notes.append("The job-stats samples carry no job type.")
        }

        for (index, text) in orderedUnique(timeline.faults.map(\.text)).enumerated() {
            let rows = timeline.faults.filter { $0.text == text }.map { [$0.milliseconds, FailureLane.fault.y] }
            script.addSeries(title: text, rows: rows, clause: "using 1:2 with points pt \([9, 2, 11, 3][index % 4]) ps 1.8 lw 2 lc rgb '#e377c2'")
        }
        for text in orderedUnique(timeline.faultWindows.map(\.text)) {
            let rows = timeline.faultWindows.filter { $0.text == text }.map {
                bar(from: $0.startMilliseconds, to: $0.startMilliseconds + $0.lengthMilliseconds, lane: .fault)
            }
            script.addSeries(title: text, rows: rows, clause: "\(barClause) lc rgb '#e377c2'")
        }
        if timeline.faults.isEmpty && timeline.faultWindows.isEmpty {
            notes.append("No timed moment of the fault was recorded.")
        }
        notes += timeline.untimedFaultEvidence.map { "The fault's record, stored without a time: \($0)" }
        notes += timeline.notRecorded

        script.addSeries(title: "ping gaps", rows: timeline.pingGaps.map {
            bar(from: $0.startMilliseconds, to: $0.startMilliseconds + $0.lengthMilliseconds, lane: .ping)
        }, clause: "\(barClause) lc rgb '#d62728'")
        if timeline.pingGaps.isEmpty { notes.append("No ping gap over pingmon's threshold was recorded.") }

        let kinds = orderedUnique(timeline.hostEvents.map(\.kind))
        for (index, kind) in kinds.enumerated() {
            let rows = timeline.hostEvents.filter { $0.kind == kind }.map { event in
                [event.milliseconds, event.host == "destination" ? FailureLane.destinationEvents.y : FailureLane.sourceEvents.y]
            }
            script.addSeries(title: kind, rows: rows,
                             clause: "using 1:2 with points pt \([7, 9, 11, 13, 4, 6, 8, 10, 12, 1, 2, 3][index % 12]) ps 1.2 lc \(index + 1)")
        }
        if timeline.hostEvents.isEmpty { notes.append("No libvirt event was recorded.") }

        let remaining = timeline.samples.compactMap { sample in sample.remainingMiB.map { [sample.milliseconds, $0] } }
        if remaining.contains(where: { $0[1] > 0 }) {
            script.set("set y2label 'remaining memory (MiB)'")
            script.set("set y2range [0:*]")
            script.set("set y2tics")
            script.addSeries(title: "remaining memory (MiB)", rows: remaining,
                             clause: "using 1:2 axes x1y2 with lines lw 1.5 lc rgb '#1f77b4'")
        } else if !remaining.isEmpty {
            notes.append("Remaining memory is not drawn: every job-stats sample read 0 MiB.")
        }

        guard !script.isEmpty else {
            return .omitted(OmittedPlot(name: name, reason: "Timeline of run \(timeline.runID) is not plotted: nothing was "
                + "recorded on its clock."))
        }
        return .drawn(PlannedPlot(name: name, caption: "Run \(timeline.runID) (\(timeline.label)), \(scenario): what "
            + "happened on the run clock, by lane — the migration call, libvirt's job type at each job-stats reading, the "
            + "fault's timed moments, the ping gaps, each daemon's events — with remaining memory on the right axis when a "
            + "reading had any.", seriesTitles: script.seriesTitles, notes: notes, script: script.text))
    }

    /// The colour of a job type, the same in every run: what a phase looks like is learnt once.
    static func jobTypeColor(_ jobType: String, index: Int) -> String {
        switch jobType {
        case "none": return "lc rgb '#7f7f7f'"
        case "bounded", "unbounded": return "lc rgb '#2ca02c'"
        case "completed": return "lc rgb '#1f77b4'"
        case "failed": return "lc rgb '#d62728'"
        case "cancelled": return "lc rgb '#ff7f0e'"
        default: return "lc \(index + 1)"
        }
    }

    // MARK: - Compare

    /// The ratio plot of a comparison, or why there is none.
    static func comparisonRatios(_ comparison: SweepComparison) -> Outcome {
        let name = "compare-ratios"
        guard !comparison.matched.isEmpty else {
            return .omitted(OmittedPlot(name: name, reason: "No ratio plot: no cell of one sweep matches a cell of the other."))
        }
        var script = GnuplotScript()
        script.set("set title \(GnuplotScript.quoted("\(comparison.otherSweepID) / \(comparison.thisSweepID) per matched cell")) noenhanced")
        script.set("set xlabel 'matched cell (number in the comparison table)'")
        script.set("set ylabel 'ratio other / this'")
        script.set("set xtics 1")
        script.set("set yrange [0:*]")
        script.set("set xrange [0.5:\(Double(comparison.matched.count) + 0.5)]")
        func rows(_ metric: (MatchedCells) -> MetricComparison) -> [[Double]] {
            comparison.matched.enumerated().compactMap { index, match in
                metric(match).ratio.map { [Double(index + 1), $0] }
            }
        }
        script.addSeries(title: "equal (ratio 1)", rows: [[0.5, 1], [Double(comparison.matched.count) + 0.5, 1]],
                         clause: "using 1:2 with lines dt 2 lc rgb '#7f7f7f'")
        script.addSeries(title: "migration time ratio", rows: rows(\.migrationTime), clause: "using 1:2 with points pt 7 ps 1.2")
        script.addSeries(title: "libvirt downtime ratio", rows: rows(\.libvirtDowntime), clause: "using 1:2 with points pt 5 ps 1.2")
        script.addSeries(title: "ping gap ratio", rows: rows(\.pingGap), clause: "using 1:2 with points pt 9 ps 1.2")
        return .drawn(PlannedPlot(name: name, caption: "Ratio other/this of the mean migration time, libvirt downtime and ping gap "
            + "per matched cell; the numbers are those of the comparison table.",
            seriesTitles: script.seriesTitles, notes: [], script: script.text))
    }

    // MARK: - Strategies side by side

    /// What each strategy cost, for a sweep whose cells differ in the strategy alone: per
    /// strategy, the mean over its runs of the migration's own CPU per GiB on the source and on
    /// the destination (bars, left axis) and the mean migration time of its runs that landed
    /// (points, right axis). A strategy none of whose runs landed has no point, and the caption
    /// names it.
    static func strategies(_ document: ReportDocument) -> Outcome {
        let name = "strategies"
        let strategies = orderedUnique(document.liveCells.map(\.parameters.strategy))
        guard strategies.count >= 2 else {
            return .omitted(OmittedPlot(name: name, reason: "Strategies are not compared: the sweep has one strategy."))
        }
        let otherParameters = Set(document.liveCells.map { cell in
            cell.parameters.namedValues.filter { $0.name != "strategy" }.map { "\($0.name)=\($0.value)" }
        })
        guard otherParameters.count == 1 else {
            return .omitted(OmittedPlot(name: name, reason: "Strategies are not plotted side by side: the cells differ in more than the strategy."))
        }
        func mean(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.reduce(0, +) / Double(values.count) }
        var sourceRows: [[Double]] = []
        var destinationRows: [[Double]] = []
        var timeRows: [[Double]] = []
        var neverLanded: [String] = []
        for (index, strategy) in strategies.enumerated() {
            // Bars either side of the strategy's tic, in hundredths so the positions print exactly.
            let x = Double(index + 1)
            let left = Double(index * 100 + 82) / 100, right = Double(index * 100 + 118) / 100
            let runs = document.liveRuns.filter { $0.parameters.strategy == strategy }
            if let source = mean(runs.compactMap { $0.hostCPU.first?.cpuSecondsPerGiB }) { sourceRows.append([left, source]) }
            if let destination = mean(runs.compactMap { $0.hostCPU.dropFirst().first?.cpuSecondsPerGiB }) {
                destinationRows.append([right, destination])
            }
            if let time = mean(runs.filter(\.converged).compactMap(\.migrationMilliseconds)) {
                timeRows.append([x, time / 1000])
            } else {
                neverLanded.append(strategy)
            }
        }
        var script = GnuplotScript()
        script.set("set title \(GnuplotScript.quoted("Strategies — \(document.sweepID)")) noenhanced")
        script.set("set xrange [0.4:\(Double(strategies.count) + 0.6)]")
        let tics = strategies.enumerated().map { "\(GnuplotScript.quoted($0.element)) \($0.offset + 1)" }.joined(separator: ", ")
        script.set("set xtics (\(tics)) rotate by -30 noenhanced")
        script.set("set ylabel 'migration CPU per GiB moved (s, less vCPU)'")
        script.set("set y2label 'migration time of runs that landed (s)'")
        script.set("set ytics nomirror")
        script.set("set y2tics")
        script.set("set yrange [0:*]")
        script.set("set y2range [0:*]")
        script.set("set boxwidth 0.34")
        script.set("set style fill solid 0.6")
        script.addSeries(title: "source CPU s/GiB", rows: sourceRows, clause: "using 1:2 with boxes lc 1")
        script.addSeries(title: "destination CPU s/GiB", rows: destinationRows, clause: "using 1:2 with boxes lc 2")
        script.addSeries(title: "migration time (s)", rows: timeRows, clause: "using 1:2 axes x1y2 with points pt 7 ps 1.5 lc 7")
        guard !script.isEmpty else {
            return .omitted(OmittedPlot(name: name, reason: "Strategies are not plotted: no run has CPU figures or landed."))
        }
        var notes: [String] = []
        if !neverLanded.isEmpty { notes.append("No migration time for \(neverLanded.joined(separator: ", ")): none of its runs landed.") }
        return .drawn(PlannedPlot(name: name, caption: "Per strategy, means over its runs: the migration's own CPU per GiB moved "
            + "(QEMU less its vCPU threads, and libvirtd) on the source and the destination, and the migration time of the runs that landed.",
            seriesTitles: script.seriesTitles, notes: notes, script: script.text))
    }

    // MARK: - Evacuations against the guest count

    /// The name every evacuation plot starts with: the page shows them in its Evacuation section.
    static let evacuationPlotPrefix = "evacuation-"

    /// Evacuations grouped into series: one per run of the matrix (its label the series'
    /// suffix, only when the sweep has more than one), in first-seen order.
    static func evacuationGroups(_ evacuations: [ReportEvacuation]) -> [(suffix: String, evacuations: [ReportEvacuation])] {
        let labels = orderedUnique(evacuations.map(\.cellLabel))
        return labels.map { label in
            (labels.count > 1 ? ", \(label)" : "", evacuations.filter { $0.cellLabel == label })
        }
    }

    /// Rows "N value" of each evacuation with a value, by N (then value).
    static func guestCountRows(_ evacuations: [ReportEvacuation], _ value: (ReportEvacuation) -> Double?) -> [[Double]] {
        byGuestCount(evacuations.compactMap { evacuation in value(evacuation).map { [Double(evacuation.guestCount), $0] } })
    }

    /// Rows "N value" sorted by N, then value.
    static func byGuestCount(_ rows: [[Double]]) -> [[Double]] {
        rows.sorted { first, second in first[0] != second[0] ? first[0] < second[0] : first[1] < second[1] }
    }

    /// The line through an evacuation series: one point per N, the mean of that N's
    /// evacuations (`smooth unique`), so repeats of one N are not joined to each other.
    static let evacuationMeanLine = "using 1:2 smooth unique with lines"

    /// The settings both evacuation plots share: N on x, a tic at each N the sweep ran.
    static func evacuationAxes(_ script: inout GnuplotScript, _ document: ReportDocument, title: String, ylabel: String) {
        script.set("set title \(GnuplotScript.quoted("\(title) — \(document.sweepID)")) noenhanced")
        script.set("set xlabel 'guests evacuated at once (N)'")
        script.set("set ylabel \(GnuplotScript.quoted(ylabel))")
        let counts = Set(document.evacuations.map(\.guestCount)).sorted()
        script.set("set xtics (\(counts.map(String.init).joined(separator: ", ")))")
        script.set("set yrange [0:*]")
        // Room around the smallest and largest N, so no point sits on the frame.
        script.set("set offsets graph 0.05, graph 0.05, graph 0.05, 0")
    }

    /// Each evacuation's total time (first migration start to last landing) and the serial
    /// sum of its landed guests' migration times, in seconds, over N.
    static func evacuationTime(_ document: ReportDocument) -> Outcome {
        let name = evacuationPlotPrefix + "time"
        var script = GnuplotScript()
        evacuationAxes(&script, document, title: "Evacuation time vs guests", ylabel: "time (s)")
        for (index, group) in evacuationGroups(document.evacuations).enumerated() {
            script.addSeries(title: "evacuation total (s)\(group.suffix)", rows: guestCountRows(group.evacuations, \.totalSeconds),
                             clause: "using 1:2 with points lc \(index + 1) pt 7 ps 0.9",
                             companion: "\(evacuationMeanLine) lc \(index + 1)")
            script.addSeries(title: "serial sum of migration times (s)\(group.suffix)",
                             rows: guestCountRows(group.evacuations, \.serialSumSeconds),
                             clause: "using 1:2 with points lc \(index + 1) pt 6 ps 0.9",
                             companion: "\(evacuationMeanLine) lc \(index + 1) dt 2")
        }
        guard !script.isEmpty else {
            return .omitted(OmittedPlot(name: name, reason: "Evacuation time is not plotted: no evacuation had a guest land."))
        }
        return .drawn(PlannedPlot(name: name, caption: "Per evacuation, over the number of guests N migrated at once: the total "
            + "time from the first guest's migration start to the last guest's landing (filled circles), and the landed guests' "
            + "migration times added up, what migrating them one after another would take (open circles, dashed); their ratio "
            + "is the speedup in the table. Where an N ran more than once, its line goes through the mean of its evacuations.",
            seriesTitles: script.seriesTitles, notes: [], script: script.text))
    }

    /// Each landed guest's downtime (its longest ping gap) and, per evacuation, the median and
    /// the worst over its guests, in milliseconds, over N.
    static func evacuationDowntime(_ document: ReportDocument) -> Outcome {
        let name = evacuationPlotPrefix + "downtime"
        var script = GnuplotScript()
        evacuationAxes(&script, document, title: "Per-guest downtime vs guests", ylabel: "downtime (ms)")
        for (index, group) in evacuationGroups(document.evacuations).enumerated() {
            let guestRows: [[Double]] = group.evacuations.flatMap { evacuation -> [[Double]] in
                let count = Double(evacuation.guestCount)
                return evacuation.guestDowntimesMilliseconds.map { downtime in [count, downtime] }
            }
            script.addSeries(title: "each guest's downtime (ms)\(group.suffix)", rows: byGuestCount(guestRows),
                             clause: "using 1:2 with points lc \(index + 1) pt 1 ps 0.8")
            script.addSeries(title: "median downtime (ms)\(group.suffix)",
                             rows: guestCountRows(group.evacuations, \.downtimeMillisecondsMedian),
                             clause: "using 1:2 with points lc \(index + 1) pt 7 ps 0.9",
                             companion: "\(evacuationMeanLine) lc \(index + 1)")
            script.addSeries(title: "worst downtime (ms)\(group.suffix)",
                             rows: guestCountRows(group.evacuations, \.downtimeMillisecondsWorst),
                             clause: "using 1:2 with points lc \(index + 1) pt 9 ps 1.1",
                             companion: "\(evacuationMeanLine) lc \(index + 1) dt 2")
        }
        guard !script.isEmpty else {
            return .omitted(OmittedPlot(name: name, reason: "Per-guest downtime is not plotted: no landed guest had a ping gap measured."))
        }
        let unlanded = document.evacuations.reduce(0) { $0 + $1.guestCount - $1.landedCount }
        return .drawn(PlannedPlot(name: name, caption: "Over the number of guests N migrated at once: each landed guest's downtime "
            + "(its longest ping gap; crosses) and, per evacuation, the median over its guests (filled circles) and the worst "
            + "(triangles, dashed); where an N ran more than once, a line goes through the mean of its evacuations.", seriesTitles: script.seriesTitles,
            notes: unlanded > 0 ? ["\(unlanded) guest(s) did not land and have no downtime here (see the failed guests in the table)."] : [],
            script: script.text))
    }

    // MARK: - Helpers

    /// Room beyond the largest rate and y, so that no point sits on the frame: every run of a
    /// sweep at one rate would otherwise be drawn on its right edge. None before 0 (gnuplot
    /// would widen the axis to negative rates).
    static let pointsOffTheFrame = "set offsets 0, graph 0.05, graph 0.05, 0"

    /// A horizontal bar at height `y` for `boxxyerror`: x centre, y, x from, x to, y from, y to.
    /// A bar may run backwards (`end` before `start`): its ends are ordered.
    static func bar(from start: Double, to end: Double, y: Double, halfHeight: Double) -> [Double] {
        [(start + end) / 2, y, min(start, end), max(start, end), y - halfHeight, y + halfHeight]
    }

    static func bandwidthText(_ bandwidth: Double?) -> String {
        bandwidth.map { "\(ReportFormat.number($0)) MiB/s" } ?? "unlimited"
    }

    /// `text` reduced to letters, digits, '-' and '_', for file names.
    static func fileSafe(_ text: String) -> String {
        let mapped = text.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "_" }
        return String(String(mapped).prefix(40))
    }

    static func orderedUnique(_ texts: [String]) -> [String] {
        var seen = Set<String>()
        return texts.filter { seen.insert($0).inserted }
    }

    static func shortened(_ text: String, to length: Int) -> String {
        text.count <= length ? text : String(text.prefix(length - 1)) + "…"
    }
}
