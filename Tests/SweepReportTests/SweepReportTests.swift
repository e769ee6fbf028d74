import Foundation
import XCTest
@testable import SweepReport

/// Renders synthetic sweeps with the real gnuplot and reads the files back. No lab, no network.
final class SweepReportTests: XCTestCase {
    // MARK: - The written report

    func testReportIsSelfContainedAndHoldsEveryPlotWithItsSeries() throws {
        let document = ReportFixtures.document()
        let files = try SweepReportRenderer(document: document).write(to: ReportFixtures.outputDirectory(for: self))
        let html = try ReportFixtures.read(files.html)

        XCTAssertEqual(files.html.lastPathComponent, "report.html")
        XCTAssertEqual(InlineSVG.externalReferences(in: html), [], "only SVG namespace declarations may name an address")
        XCTAssertFalse(html.lowercased().contains("<script"))
        XCTAssertFalse(html.lowercased().contains("<link"))
        XCTAssertEqual(InlineSVG.loadedReferences(in: html), [], "nothing is loaded: no src, no external href or url()")
        XCTAssertGreaterThan(html.occurrences(of: "href='#"), 0, "gnuplot's in-document symbol references are kept")
        XCTAssertFalse(html.contains("<?xml"), "the XML prolog is stripped from inlined SVG")
        XCTAssertFalse(html.contains("<!DOCTYPE svg"))

        let plan = ReportPlots.plan(for: document)
        XCTAssertEqual(plan.plots.map(\.name), ["migration-time", "downtime", "downtime-decomposition", "convergence-boundary",
                                                "timeline-1-r1", "timeline-2-r12"])
        XCTAssertEqual(plan.omitted, [])
        for plot in plan.plots {
            let figure = try XCTUnwrap(html.figure(named: plot.name), "figure \(plot.name) is inlined")
            XCTAssertTrue(figure.contains("<svg"), plot.name)
            let inspection = SVGInspection(figure)
            XCTAssertEqual(inspection.titles, plot.seriesTitles, "every series of \(plot.name) is drawn, in order")
            XCTAssertTrue(FileManager.default.fileExists(atPath: files.markdown.deletingLastPathComponent()
                .appendingPathComponent("plots/\(plot.name).svg").path), plot.name)
        }
        XCTAssertEqual(files.plots.count, plan.plots.count)

        // Two series per memory size: measured and model.
        let timeTitles = try XCTUnwrap(plan.plots.first).seriesTitles
        XCTAssertEqual(timeTitles, ["512 MiB measured", "1024 MiB measured", "512 MiB model", "1024 MiB model"])
        let timelineTitles = plan.plots[4].seriesTitles
        XCTAssertEqual(timelineTitles, ["ping gaps", "remaining memory (MiB)", "dirty rate (MiB/s)", "transfer rate (MiB/s)",
                                        "iteration starts", "migration start/end", "announce frames (RARP, GARP)",
                                        "faults: link delay 20 ms"])
    }

    func testPlottedPointsMatchTheCells() throws {
        var document = ReportFixtures.document()
        // One cell less for 1024 MiB, so the two series differ in length.
        document.cells.removeAll { $0.label == ReportFixtures.label(memoryMiB: 1024, rate: 200) }
        let files = try SweepReportRenderer(document: document).write(to: ReportFixtures.outputDirectory(for: self))
        let svg = try ReportFixtures.read(try XCTUnwrap(files.plots.first { $0.lastPathComponent == "migration-time.svg" }))
        let inspection = SVGInspection(svg)
        // One symbol per cell plus the key's sample.
        XCTAssertEqual(inspection.pointPositions(inSeries: "512 MiB measured").count, 3 + 1)
        XCTAssertEqual(inspection.pointPositions(inSeries: "1024 MiB measured").count, 2 + 1)
    }

    /// A sweep run at one rate (the main job's) has every point at the largest x: the rate
    /// plots leave room beyond it, so the points are not drawn on the frame's right edge.
    func testTheRatePlotsLeaveRoomBeyondTheLargestRate() throws {
        let plots = ReportPlots.plan(for: ReportFixtures.document()).plots
        for name in ["migration-time", "downtime"] {
            let plot = try XCTUnwrap(plots.first { $0.name == name }, name)
            XCTAssertTrue(plot.script.contains("\nset offsets 0, graph 0.05, graph 0.05, 0\n"), "\(name): \(plot.script)")
        }
    }

    /// The data blocks of a gnuplot script by the title of the series that plots them.
    func seriesRows(_ script: String) -> [String: [[Double]]] {
        var blocks: [String: [[Double]]] = [:]
        var name: String?
        var rows: [[Double]] = []
        for line in script.components(separatedBy: "\n") {
            if line.hasSuffix(" << EOD") {
                name = String(line.dropLast(" << EOD".count))
                rows = []
            } else if line == "EOD", let block = name {
                blocks[block] = rows
                name = nil
            } else if name != nil {
                rows.append(line.split(separator: " ").compactMap { Double($0) })
            }
        }
        var series: [String: [[Double]]] = [:]
        let clause = try! NSRegularExpression(pattern: #"(\$D[0-9]+) [^\n]*? title '((?:[^']|'')*)' noenhanced"#)
        for match in clause.matches(in: script, range: NSRange(script.startIndex..., in: script)) {
            guard let block = Range(match.range(at: 1), in: script), let title = Range(match.range(at: 2), in: script) else { continue }
            series[String(script[title]).replacingOccurrences(of: "''", with: "'")] = blocks[String(script[block])]
        }
        return series
    }

    /// Rows "rate mean min max" as a plot of `statistic` must hold them for `cells` of two
    /// runs each (too few for a confidence interval: the bars span min to max), at the rate
    /// each cell achieved.
    func expectedRows(_ cells: [ReportCell], _ statistic: (ReportCell) -> ReportStatistic) -> [[Double]] {
        cells.compactMap { cell in
            let value = statistic(cell)
            guard let mean = value.mean, let minimum = value.minimum, let maximum = value.maximum,
                  let achieved = cell.achievedDirtyRateMiBPerSecond.mean else { return nil }
            return [achieved, mean, minimum, maximum]
        }.sorted { $0[0] < $1[0] }
    }

    /// The error bar is the 95 % CI from three values on, min to max below that (the CI of
    /// two values is ±12.7 standard errors), whichever is known when the other is not.
    func testTheErrorBarIsTheConfidenceIntervalFromThreeValuesOnAndMinToMaxBelow() throws {
        let three = ReportStatistic(count: 3, mean: 10, minimum: 8, maximum: 13, confidenceLow: 7, confidenceHigh: 12)
        let bar = try XCTUnwrap(three.errorBar)
        XCTAssertEqual([bar.low, bar.high], [7, 12])
        XCTAssertEqual(bar.kind, .confidence95)
        var two = three
        two.count = 2
        let twoBar = try XCTUnwrap(two.errorBar)
        XCTAssertEqual([twoBar.low, twoBar.high], [8, 13])
        XCTAssertEqual(twoBar.kind, .minimumMaximum)
        XCTAssertEqual(ReportStatistic(count: 2, mean: 10, confidenceLow: 7, confidenceHigh: 12).errorBar?.kind, .confidence95)
        XCTAssertNil(ReportStatistic(count: 1, mean: 10).errorBar)
    }

    /// Every series is drawn from the column its title names: the fixture's migration time,
    /// libvirt downtime and ping gap differ in every cell, so a series fed from a neighbouring
    /// column shows.
    func testEachPlotSeriesHoldsTheNumbersOfTheColumnItNames() throws {
        let document = ReportFixtures.document()
        let plots = ReportPlots.plan(for: document).plots
        let time = seriesRows(try XCTUnwrap(plots.first { $0.name == "migration-time" }).script)
        let downtime = seriesRows(try XCTUnwrap(plots.first { $0.name == "downtime" }).script)
        for memory in ReportFixtures.memorySizesMiB {
            let cells = document.cells.filter { $0.parameters.memoryMiB == memory }
            XCTAssertEqual(time["\(memory) MiB measured"], expectedRows(cells, \.migrationMilliseconds))
            XCTAssertEqual(downtime["\(memory) MiB libvirt downtime"], expectedRows(cells, \.libvirtDowntimeMilliseconds))
            XCTAssertEqual(downtime["\(memory) MiB ping gap"], expectedRows(cells, \.pingGapMilliseconds))
            let curve = try XCTUnwrap(document.fits.first?.curves.first { $0.memoryMiB == memory })
            XCTAssertEqual(time["\(memory) MiB model"], curve.points.map { [$0.dirtyRateMiBPerSecond, $0.predictedMilliseconds] })
        }
        XCTAssertNotEqual(downtime["512 MiB libvirt downtime"], downtime["512 MiB ping gap"], "the fixture tells the columns apart")
        XCTAssertFalse(document.cells.contains { $0.achievedDirtyRateMiBPerSecond.mean == $0.parameters.targetDirtyRateMiBPerSecond },
                       "the fixture tells the achieved rate from the target")

        let boundary = seriesRows(try XCTUnwrap(plots.first { $0.name == "convergence-boundary" }).script)
        XCTAssertEqual(boundary["measured bracket, unlimited"], [[512, 650, 600, 700], [1024, 600, 550, 650]])
        XCTAssertEqual(boundary["predicted, unlimited"], [[512, 650], [1024, 610]])

        let timeline = seriesRows(try XCTUnwrap(plots.first { $0.name == "timeline-1-r1" }).script)
        let samples = try XCTUnwrap(document.timelines.first).samples
        XCTAssertEqual(timeline["remaining memory (MiB)"], samples.map { [$0.milliseconds, $0.remainingMiB ?? -1] })
        XCTAssertEqual(timeline["dirty rate (MiB/s)"], samples.map { [$0.milliseconds, $0.dirtyRateMiBPerSecond ?? -1] })
        XCTAssertEqual(timeline["transfer rate (MiB/s)"], samples.map { [$0.milliseconds, $0.transferRateMiBPerSecond ?? -1] })
    }

    // MARK: - What is plotted is what happened (issue 25)

    /// A cell whose target was unlimited (target 0) sits at the rate its guest achieved, in a
    /// series of its own mark, on the axis the model curve is drawn over: a 1300 MiB cell that
    /// took 4.2 s at 720 MiB/s is at x = 720, not at 0. A cell with no achieved rate is left
    /// out and named, not put at its target.
    func testAnUnlimitedCellIsPlottedAtTheRateItsGuestAchievedWithItsOwnMark() throws {
        var document = ReportFixtures.document()
        let unlimited = ReportFixtures.parameters(memoryMiB: 512, rate: 0)
        document.cells.append(ReportCell(
            label: "live 512 MiB @ unlimited", parameters: unlimited,
            migrationMilliseconds: ReportFixtures.statistic(mean: 4_200, halfWidth: 100),
            libvirtDowntimeMilliseconds: ReportFixtures.statistic(mean: 61, halfWidth: 4),
            pingGapMilliseconds: ReportFixtures.statistic(mean: 83, halfWidth: 6),
            convergedCount: 2, runCount: 2, achievedDirtyRateMiBPerSecond: ReportFixtures.statistic(mean: 720, halfWidth: 10)))
        document.cells.append(ReportCell(
            label: "live 1024 MiB @ 30 MiB/s, rate not recorded", parameters: ReportFixtures.parameters(memoryMiB: 1024, rate: 30),
            migrationMilliseconds: ReportFixtures.statistic(mean: 2_500, halfWidth: 50),
            libvirtDowntimeMilliseconds: .empty, pingGapMilliseconds: .empty, convergedCount: 2, runCount: 2))
        let plots = ReportPlots.plan(for: document).plots
        let plot = try XCTUnwrap(plots.first { $0.name == "migration-time" })
        let time = seriesRows(plot.script)
        XCTAssertEqual(time["512 MiB measured, target unlimited"], [[720, 4_200, 4_150, 4_250]])
        XCTAssertEqual(time["512 MiB measured"], expectedRows(Array(document.cells.prefix(3)), \.migrationMilliseconds),
                       "the limited cells keep their own series")
        XCTAssertNil(time["1024 MiB measured, target unlimited"], "no empty series")
        let measured = time.filter { $0.key.contains("measured") }.values.flatMap { $0 }
        XCTAssertFalse(measured.contains { $0[0] == 0 || $0[0] == 30 }, "no point at a target: \(measured)")
        let curve = try XCTUnwrap(time["512 MiB model"])
        XCTAssertEqual(curve, try XCTUnwrap(document.fits.first?.curves.first { $0.memoryMiB == 512 }).points.map {
            [$0.dirtyRateMiBPerSecond, $0.predictedMilliseconds]
        }, "the model curve is drawn over the same dirty-rate axis the points use")
        XCTAssertTrue(plot.script.contains("set xlabel 'dirty rate the guest achieved (MiB/s)'"), plot.script)
        XCTAssertTrue(plot.notes.contains { $0.contains("1 cell(s) not plotted") && $0.contains("rate not recorded") }, "\(plot.notes)")
        let downtime = seriesRows(try XCTUnwrap(plots.first { $0.name == "downtime" }).script)
        XCTAssertEqual(downtime["512 MiB ping gap, target unlimited"], [[720, 83, 80, 86]])
        XCTAssertEqual(downtime["512 MiB libvirt downtime, target unlimited"], [[720, 61, 59, 63]])

        let html = try ReportFixtures.read(SweepReportRenderer(document: document).write(to: ReportFixtures.outputDirectory(for: self)).html)
        let figure = try XCTUnwrap(html.figure(named: "migration-time"))
        XCTAssertTrue(SVGInspection(figure).titles.contains("512 MiB measured, target unlimited"), "gnuplot drew the series")
        let cellsTable = try XCTUnwrap(html.components(separatedBy: "<h2>Cells</h2>").last?.components(separatedBy: "</table>").first)
        XCTAssertTrue(cellsTable.contains("<td>unlimited</td><td>720 [710, 730] (n=2)</td>"),
                      "the table names the target unlimited and shows the achieved rate the point sits at")
    }

    /// A failure run's timeline is drawn as lanes of what happened, with the numbers that were
    /// stored: the call, the job's type at each reading, the fault's acted moment and the
    /// verifier's abort, the span it cut the guest's network, the ping gaps and each daemon's
    /// events. Remaining memory that stayed 0 is said, not drawn as a flat line; what the fault
    /// keeps without a time (its drop counter, its removal) and what was not recorded are in
    /// the caption.
    func testAFailureRunsTimelineShowsTheFaultsMomentsAndSaysWhatWasNotRecorded() throws {
        let timeline = ReportFixtures.failureTimeline()
        guard case .drawn(let plot) = ReportPlots.timeline(timeline, name: "timeline-1-f1") else {
            return XCTFail("a failure run whose samples read 0 remaining is still drawn")
        }
        let rows = seriesRows(plot.script)
        let fault = Double(ReportPlots.FailureLane.fault.rawValue)
        XCTAssertEqual(rows["fault acted (perform-fail)"], [[2_100, fault]])
        XCTAssertEqual(rows["verifier aborted the job"], [[9_000, fault]])
        XCTAssertEqual(rows["guest network cut"], [[6_325, fault, 6_000, 6_650, fault - 0.3, fault + 0.3]])
        let call = Double(ReportPlots.FailureLane.call.rawValue)
        XCTAssertEqual(rows["migration call"], [[(1_735 + 11_528) / 2, call, 1_735, 11_528, call - 0.3, call + 0.3]])
        let job = Double(ReportPlots.FailureLane.job.rawValue)
        XCTAssertEqual(rows["job none"], [[1_700, job]])
        XCTAssertEqual(rows["job unbounded"], [[1_800, job], [1_900, job]])
        XCTAssertEqual(rows["job failed"], [[2_400, job], [9_500, job]])
        let ping = Double(ReportPlots.FailureLane.ping.rawValue)
        XCTAssertEqual(rows["ping gaps"], [[1_593.75, ping, 1_580, 1_607.5, ping - 0.3, ping + 0.3],
                                           [6_350, ping, 6_000, 6_700, ping - 0.3, ping + 0.3]])
        let source = Double(ReportPlots.FailureLane.sourceEvents.rawValue)
        let destination = Double(ReportPlots.FailureLane.destinationEvents.rawValue)
        XCTAssertEqual(rows["lifecycle started"], [[2_372, destination]])
        XCTAssertEqual(rows["migration-iteration"], [[3_000, source]])
        XCTAssertEqual(rows["lifecycle stopped"], [[11_513, destination]])
        XCTAssertNil(rows["remaining memory (MiB)"], "0 remaining throughout is said, not drawn")
        XCTAssertTrue(plot.notes.contains("Remaining memory is not drawn: every job-stats sample read 0 MiB."), "\(plot.notes)")
        XCTAssertTrue(plot.notes.contains { $0.contains("dropped 6 packets") }, "the drop counter is in the caption: \(plot.notes)")
        XCTAssertTrue(plot.notes.contains { $0.contains("removed: the nft table") }, "\(plot.notes)")
        XCTAssertTrue(plot.notes.contains("When the fault was installed and when it was removed are not recorded."), "\(plot.notes)")

        let document = ReportFixtures.mixedDocument()
        let html = try ReportFixtures.read(SweepReportRenderer(document: document).write(to: ReportFixtures.outputDirectory(for: self)).html)
        let figure = try XCTUnwrap(html.figure(named: "timeline-3-f3"))
        let drawn = ReportPlots.plan(for: document).plots.first { $0.name == "timeline-3-f3" }
        XCTAssertEqual(SVGInspection(figure).titles, drawn?.seriesTitles, "gnuplot drew every lane's series")
        XCTAssertTrue(figure.contains("dropped 6 packets"), "the caption carries the fault's record")

        // A remaining memory that was not 0 is drawn, on the right axis; nothing recorded at all is said.
        var moving = timeline
        moving.samples[2].remainingMiB = 900
        guard case .drawn(let movingPlot) = ReportPlots.timeline(moving, name: "timeline-1-f1") else { return XCTFail("drawn") }
        XCTAssertEqual(seriesRows(movingPlot.script)["remaining memory (MiB)"], [[1_700, 0], [1_800, 0], [1_900, 900], [2_400, 0], [9_500, 0]])
        let empty = ReportTimeline(runID: "f9", label: "prepare-fail", samples: [], failureScenario: "prepare-fail")
        guard case .omitted(let omission) = ReportPlots.timeline(empty, name: "timeline-9-f9") else { return XCTFail("nothing to draw") }
        XCTAssertTrue(omission.reason.contains("nothing was recorded on its clock"), omission.reason)
        var callOnly = empty
        callOnly.migrationStartMilliseconds = 7_234
        callOnly.migrationEndMilliseconds = 7_253
        guard case .drawn(let callPlot) = ReportPlots.timeline(callOnly, name: "timeline-9-f9") else { return XCTFail("drawn") }
        for said in ["No job-stats sample was recorded.", "No timed moment of the fault was recorded.",
                     "No ping gap over pingmon's threshold was recorded.", "No libvirt event was recorded."] {
            XCTAssertTrue(callPlot.notes.contains(said), "\(said) in \(callPlot.notes)")
        }
    }

    /// Failure scenarios have a table of their own, which lists their runs; the cells table
    /// keeps the live cells only (a failure cell has no time statistics to show).
    func testFailureScenariosHaveTheirOwnTableAndTheCellsTableKeepsTheLiveCells() throws {
        let document = ReportFixtures.mixedDocument()
        let cells = ReportTables.cells(document)
        XCTAssertEqual(cells.rows.map { $0[0] }, ReportFixtures.cells().map(\.label))
        XCTAssertFalse(cells.rows.contains { $0.contains { $0.contains("fail") } }, "no failure cell among the cells")

        let failures = try XCTUnwrap(ReportTables.failures(document))
        XCTAssertEqual(failures.headers, ["scenario", "parameters", "expected", "runs", "outcome", "checks passed", "checks failed",
                                          "guest ended up", "leftovers"])
        XCTAssertEqual(failures.rows, [
            ["prepare-fail", "–", "stays on the source", "#f1, #f2", "1 of 2 handled", "19", "#f2 destination-host-clean",
             "source: running (migrated); destination: none", "#f1 none; #f2 destination-host-clean: qemu process 4242 of lab-guest on dst"],
            ["perform-fail", "–", "stays on the source", "#f3", "handled", "10", "none",
             "source: running (migrated); destination: none", "none"],
        ])
        XCTAssertNil(ReportTables.failures(ReportFixtures.document()), "a sweep of live runs has no failure table")

        let directory = try ReportFixtures.outputDirectory(for: self)
        let files = try SweepReportRenderer(document: document).write(to: directory)
        let html = try ReportFixtures.read(files.html)
        let cellsSection = try XCTUnwrap(html.components(separatedBy: "<h2>Cells</h2>").last?.components(separatedBy: "</table>").first)
        XCTAssertFalse(cellsSection.contains("n=0"), "no empty failure columns in the cells table")
        XCTAssertFalse(cellsSection.contains("prepare-fail"))
        let failureSection = try XCTUnwrap(html.components(separatedBy: "<h2>Failure scenarios</h2>").last?.components(separatedBy: "</table>").first)
        for run in ["#f1, #f2", "#f3"] { XCTAssertTrue(failureSection.contains(run), run) }
        XCTAssertTrue(try ReportFixtures.read(files.markdown).contains("## Failure scenarios"))
        XCTAssertFalse(ReportPlots.plan(for: document).plots.first { $0.name == "migration-time" }?.seriesTitles.contains { $0.contains("fail") } ?? true)
    }

    /// The headline counts convergence over live runs only and failure runs as handled or not.
    func testTheHeadlineCountsConvergenceOverLiveRunsAndFailureRunsAsHandled() {
        var document = ReportFixtures.mixedDocument()
        document.runs[0].converged = false
        var headline = Dictionary(uniqueKeysWithValues: ReportTables.headline(document).map { ($0.name, $0.value) })
        let live = ReportFixtures.runs().count
        XCTAssertEqual(headline["converged"], "\(live - 1) of \(live) live runs")
        XCTAssertEqual(headline["failure runs"], "3: 2 handled, 1 not (#f2)")
        XCTAssertEqual(headline["cells"], "6 live, 2 failure")
        XCTAssertEqual(headline["runs"], String(live + 3))

        document.runs = document.runs.map { run in var run = run; run.passed = true; return run }
        headline = Dictionary(uniqueKeysWithValues: ReportTables.headline(document).map { ($0.name, $0.value) })
        XCTAssertEqual(headline["failure runs"], "3: 3 handled")
        document.runs = document.failureRuns
        headline = Dictionary(uniqueKeysWithValues: ReportTables.headline(document).map { ($0.name, $0.value) })
        XCTAssertEqual(headline["converged"], "no live runs")
        let liveOnly = Dictionary(uniqueKeysWithValues: ReportTables.headline(ReportFixtures.document()).map { ($0.name, $0.value) })
        XCTAssertNil(liveOnly["failure runs"])
        XCTAssertEqual(liveOnly["converged"], "\(live) of \(live) live runs")
    }

    /// A run whose every figure is a different number, and a cell whose every statistic is.
    func documentWithDistinctFigures() -> ReportDocument {
        var document = ReportFixtures.document()
        var run = ReportRun(runID: "r7", cellLabel: "one cell", repetition: 3,
                            parameters: ReportCellParameters(memoryMiB: 1536, memeaterSizeMiB: 768, pattern: "random", strategy: "postcopy",
                                                             bandwidthLimitMiBPerSecond: 96, targetDirtyRateMiBPerSecond: 52.5,
                                                             emulator: "qemu-7.2", guestKind: "debian-12"),
                            direction: "src→dst", status: "completed", passed: false, converged: true, iterations: 11,
                            remainingMiBAtEnd: 1.25, achievedDirtyRateMiBPerSecond: 2.25, qemuSampledDirtyRateMiBPerSecond: 3.25,
                            qemuSampledDirtyRateLimitNote: "capped", jobStatsDirtyRateMiBPerSecond: 4.25, transferRateMiBPerSecond: 5.25,
                            guestDirtyRateDuringMigrationMiBPerSecond: 6.25, migrationMilliseconds: 7.25, libvirtDowntimeMilliseconds: 8.25,
                            pingGapMilliseconds: 9.25, pingGapLowerBoundMilliseconds: 10.25, pingGapUpperBoundMilliseconds: 11.25,
                            announceDelayMilliseconds: 12.25, overheadMilliseconds: 13.25, failedChecks: ["ping-continuity", "no-reboot"])
        run.preCopyTransferRateMiBPerSecond = 14.25
        run.pingGapLateProbes = 19
        run.guestClockLagMilliseconds = 20.25
        run.pingGapBeforePauseMilliseconds = 21.5
        run.guestPausedMilliseconds = 22.5
        run.pingGapAfterResumeMilliseconds = 23.5
        run.guestAnswerDelayMilliseconds = 24.25
        run.probesHeldAtDestination = 25
        run.hostCPU = [ReportHostCPU(host: "source (src)", totalCPUSeconds: 15.25, cpuSecondsPerGiB: 16.25),
                       ReportHostCPU(host: "destination (dst)", totalCPUSeconds: 17.25, cpuSecondsPerGiB: 18.25)]
        document.runs = [run]
        func statistic(_ base: Double) -> ReportStatistic {
            ReportStatistic(count: Int(base), mean: base + 0.5, median: base + 0.25, standardDeviation: base + 0.125, minimum: base - 0.5,
                            maximum: base + 1.5, confidenceLow: base - 0.25, confidenceHigh: base + 1.25)
        }
        document.cells = [ReportCell(label: "one cell", parameters: run.parameters, migrationMilliseconds: statistic(100),
                                     libvirtDowntimeMilliseconds: statistic(200), pingGapMilliseconds: statistic(300),
                                     predictedMigrationMilliseconds: 400.5, predictedDowntimeMilliseconds: 500.5,
                                     convergedCount: 6, runCount: 7, achievedDirtyRateMiBPerSecond: statistic(600))]
        return document
    }

    /// The decomposition table puts each figure under its header, the guest's clock beside libvirt's downtime.
    func testTheDowntimeDecompositionTableShowsEachFigureUnderItsHeader() throws {
        let table = ReportTables.downtimeDecomposition(documentWithDistinctFigures())
        let row = try XCTUnwrap(table.rows.first)
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: zip(table.headers, row)).filter { $0.key != "run" && $0.key != "verdict" },
                       ["ping gap ms": "9.2", "libvirt downtime ms": "8.2", "guest's clock stood still ms": "20.2",
                        "announce delay ms": "12.2", "answer delay at destination ms": "24.2", "probes held": "25", "rest ms": "-35.5",
                        "before pause ms": "21.5", "paused ms": "22.5", "after resume ms": "23.5"])
    }

    /// Each CSV field sits under its own header: every figure of the run and of the cell is
    /// a different number, so a field written into a neighbour's column shows.
    func testEveryCSVFieldIsTheFigureItsHeaderNames() throws {
        let document = documentWithDistinctFigures()
        let runs = try parseCSV(ReportCSV.runs(document))
        XCTAssertEqual(runs.count, 2)
        let run = Dictionary(uniqueKeysWithValues: zip(runs[0], runs[1]))
        XCTAssertEqual(run.count, runs[0].count, "no header twice")
        let expectedRun = [
            "run_id": "r7", "cell_label": "one cell", "repetition": "3", "memory_mib": "1536", "memeater_size_mib": "768",
            "pattern": "random", "strategy": "postcopy", "bandwidth_limit_mib_per_second": "96.0",
            "target_dirty_rate_mib_per_second": "52.5", "emulator": "qemu-7.2", "guest_kind": "debian-12", "direction": "src→dst",
            "status": "completed", "passed": "false", "converged": "true", "iterations": "11", "remaining_mib_at_end": "1.25",
            "achieved_dirty_rate_mib_per_second": "2.25", "qemu_sampled_dirty_rate_mib_per_second": "3.25",
            "qemu_sampled_dirty_rate_limit_note": "capped", "job_stats_dirty_rate_mib_per_second": "4.25",
            "transfer_rate_mib_per_second": "5.25", "guest_dirty_rate_during_migration_mib_per_second": "6.25",
            "migration_milliseconds": "7.25", "libvirt_downtime_milliseconds": "8.25", "ping_gap_milliseconds": "9.25",
            "ping_gap_lower_bound_milliseconds": "10.25", "ping_gap_upper_bound_milliseconds": "11.25",
            "announce_delay_milliseconds": "12.25", "overhead_milliseconds": "13.25", "failed_checks": "ping-continuity;no-reboot",
            "pre_copy_transfer_rate_mib_per_second": "14.25", "source_cpu_seconds": "15.25", "source_cpu_seconds_per_gib": "16.25",
            "destination_cpu_seconds": "17.25", "destination_cpu_seconds_per_gib": "18.25", "ping_gap_late_probes": "19",
            "guest_clock_lag_milliseconds": "20.25", "guest_answer_delay_milliseconds": "24.25", "probes_held_at_destination": "25",
        ]
        XCTAssertEqual(run, expectedRun)

        let cells = try parseCSV(ReportCSV.cells(document))
        XCTAssertEqual(cells.count, 2)
        let cell = Dictionary(uniqueKeysWithValues: zip(cells[0], cells[1]))
        XCTAssertEqual(cell.count, cells[0].count, "no header twice")
        var expectedCell = [
            "cell_label": "one cell", "memory_mib": "1536", "memeater_size_mib": "768", "pattern": "random", "strategy": "postcopy",
            "bandwidth_limit_mib_per_second": "96.0", "target_dirty_rate_mib_per_second": "52.5", "emulator": "qemu-7.2",
            "guest_kind": "debian-12", "predicted_migration_milliseconds": "400.5", "predicted_downtime_milliseconds": "500.5",
            "converged_count": "6", "run_count": "7",
        ]
        for (quantity, base) in [("migration_milliseconds", 100.0), ("libvirt_downtime_milliseconds", 200), ("ping_gap_milliseconds", 300),
                                 ("achieved_dirty_rate_mib_per_second", 600)] {
            expectedCell["\(quantity)_count"] = String(Int(base))
            for (column, value) in [("mean", base + 0.5), ("median", base + 0.25), ("sd", base + 0.125), ("min", base - 0.5),
                                    ("max", base + 1.5), ("ci95_low", base - 0.25), ("ci95_high", base + 1.25)] {
                expectedCell["\(quantity)_\(column)"] = String(value)
            }
        }
        XCTAssertEqual(cell, expectedCell)
    }

    func testCSVHasOneQuotedRowPerRunAndPerCell() throws {
        let document = ReportFixtures.document()
        let files = try SweepReportRenderer(document: document).write(to: ReportFixtures.outputDirectory(for: self))
        let runs = try parseCSV(ReportFixtures.read(files.runsCSV))
        XCTAssertEqual(runs.count, document.runs.count + 1, "header plus one row per run")
        XCTAssertEqual(runs[0].first, "run_id")
        XCTAssertTrue(runs.allSatisfy { $0.count == runs[0].count }, "every row has as many fields as the header")
        let labelColumn = try XCTUnwrap(runs[0].firstIndex(of: "cell_label"))
        XCTAssertEqual(runs[1][labelColumn], "512 MiB, 50 MiB/s")
        XCTAssertTrue(try ReportFixtures.read(files.runsCSV).contains("\"512 MiB, 50 MiB/s\""), "a label with a comma is quoted")
        let bandwidthColumn = try XCTUnwrap(runs[0].firstIndex(of: "bandwidth_limit_mib_per_second"))
        XCTAssertEqual(runs[1][bandwidthColumn], "", "unlimited is an empty field, not 0")

        let cells = try parseCSV(ReportFixtures.read(files.cellsCSV))
        XCTAssertEqual(cells.count, document.cells.count + 1)
        XCTAssertTrue(cells.allSatisfy { $0.count == cells[0].count })
    }

    func testMarkdownCarriesTheFitQualityAndLinksThePlots() throws {
        let files = try SweepReportRenderer(document: ReportFixtures.document())
            .write(to: ReportFixtures.outputDirectory(for: self))
        let markdown = try ReportFixtures.read(files.markdown)
        XCTAssertTrue(markdown.contains("R² migration time | 0.987"), markdown)
        XCTAssertTrue(markdown.contains("MAPE"))
        XCTAssertTrue(markdown.contains("leave-one-rate-out, 3 folds"))
        for plot in files.plots {
            XCTAssertTrue(markdown.contains("(plots/\(plot.lastPathComponent))"), plot.lastPathComponent)
        }
        XCTAssertTrue(markdown.contains("| 512 MiB, 50 MiB/s |"), "the cells table is in the summary")
    }

    func testTheHostCPUOfEachRunIsATableInBothFormatsAndColumnsOfTheCSV() throws {
        var document = ReportFixtures.document()
        XCTAssertNil(ReportTables.hostCPU(document), "no run measured it: no table")
        document.runs[0].preCopyTransferRateMiBPerSecond = 47.9
        document.runs[0].hostCPU = [
            ReportHostCPU(host: "source (src)", vcpuCPUSeconds: 2.5, migrationThreadsCPUSeconds: 1.25, multifdCPUSeconds: 0,
                          mainLoopCPUSeconds: 0.5, otherThreadsCPUSeconds: 0.01, endedThreadsCPUSeconds: 0, daemonCPUSeconds: 0.2,
                          totalCPUSeconds: 4.46, cpuSecondsPerGiB: 2.23, uncountedMilliseconds: 180),
            ReportHostCPU(host: "destination (dst)"),
        ]
        let table = try XCTUnwrap(ReportTables.hostCPU(document))
        XCTAssertEqual(table.rows.count, 2)
        XCTAssertEqual(table.rows[0], [document.runs[0].runID, "source (src)", "2.50", "1.25", "0", "0.50", "0.01", "0", "0.20",
                                       "4.46", "2.23", "180"])
        XCTAssertEqual(table.rows[1].dropFirst(2).allSatisfy { $0 == "–" }, true, "not measured is a dash, not 0")

        let files = try SweepReportRenderer(document: document).write(to: ReportFixtures.outputDirectory(for: self))
        for text in [try ReportFixtures.read(files.html), try ReportFixtures.read(files.markdown)] {
            XCTAssertTrue(text.contains("Host CPU per run"))
            XCTAssertTrue(text.contains("utime+stime of /proc/PID/stat"))
        }
        let runs = try parseCSV(ReportFixtures.read(files.runsCSV))
        let header = runs[0]
        XCTAssertEqual(runs[1][try XCTUnwrap(header.firstIndex(of: "source_cpu_seconds_per_gib"))], "2.23")
        XCTAssertEqual(runs[1][try XCTUnwrap(header.firstIndex(of: "destination_cpu_seconds"))], "")
        XCTAssertEqual(runs[1][try XCTUnwrap(header.firstIndex(of: "pre_copy_transfer_rate_mib_per_second"))], "47.9")
    }

    /// A sweep of strategies on one cell shape: per strategy the means of its runs' CPU per GiB
    /// on each host (bars) and of the migration time of the runs that landed (points, right
    /// axis); a strategy that never landed has no point and is named.
    func testStrategiesSideBySideHoldTheMeansOfTheirRuns() throws {
        var document = ReportFixtures.document()
        let base = ReportFixtures.parameters(memoryMiB: 1024, rate: 100)
        func parameters(_ strategy: String) -> ReportCellParameters {
            var parameters = base
            parameters.strategy = strategy
            return parameters
        }
        let strategies = ["precopy", "tls", "postcopy"]
        document.cells = strategies.map { strategy in
            ReportCell(label: strategy, parameters: parameters(strategy), migrationMilliseconds: .empty, libvirtDowntimeMilliseconds: .empty,
                       pingGapMilliseconds: .empty, predictedMigrationMilliseconds: nil, predictedDowntimeMilliseconds: nil,
                       convergedCount: 0, runCount: 2)
        }
        func run(_ strategy: String, _ index: Int, converged: Bool, milliseconds: Double, source: Double, destination: Double) -> ReportRun {
            var run = ReportRun(runID: "\(strategy)-\(index)", cellLabel: strategy, repetition: index, parameters: parameters(strategy),
                                direction: "lab-src→lab-dst", status: "completed", passed: true, converged: converged,
                                migrationMilliseconds: milliseconds)
            run.hostCPU = [ReportHostCPU(host: "source (src)", cpuSecondsPerGiB: source),
                           ReportHostCPU(host: "destination (dst)", cpuSecondsPerGiB: destination)]
            return run
        }
        document.runs = [
            run("precopy", 1, converged: false, milliseconds: 121_000, source: 6, destination: 1),
            run("precopy", 2, converged: false, milliseconds: 121_000, source: 8, destination: 3),
            run("tls", 1, converged: true, milliseconds: 20_000, source: 9, destination: 4),
            run("tls", 2, converged: false, milliseconds: 121_000, source: 11, destination: 6),
            run("postcopy", 1, converged: true, milliseconds: 14_000, source: 3, destination: 2),
            run("postcopy", 2, converged: true, milliseconds: 16_000, source: 5, destination: 2),
        ]
        let plot = try XCTUnwrap(ReportPlots.plan(for: document).plots.first { $0.name == "strategies" })
        XCTAssertEqual(plot.seriesTitles, ["source CPU s/GiB", "destination CPU s/GiB", "migration time (s)"])
        XCTAssertTrue(plot.script.contains("$D1 << EOD\n0.82 7.0\n1.82 10.0\n2.82 4.0\nEOD"), plot.script)
        XCTAssertTrue(plot.script.contains("$D2 << EOD\n1.18 2.0\n2.18 5.0\n3.18 2.0\nEOD"), plot.script)
        XCTAssertTrue(plot.script.contains("$D3 << EOD\n2.0 20.0\n3.0 15.0\nEOD"), "landed runs only: \(plot.script)")
        XCTAssertTrue(plot.script.contains("set xtics ('precopy' 1, 'tls' 2, 'postcopy' 3)"), plot.script)
        XCTAssertEqual(plot.notes, ["No migration time for precopy: none of its runs landed."])
        let files = try SweepReportRenderer(document: document).write(to: ReportFixtures.outputDirectory(for: self))
        XCTAssertNotNil(try ReportFixtures.read(files.html).figure(named: "strategies"), "drawn by the real gnuplot and inlined")

        // Cells that differ in more than the strategy are not set side by side.
        document.cells[1].parameters.memoryMiB = 2048
        XCTAssertTrue(ReportPlots.plan(for: document).omitted.contains { $0.name == "strategies" })
        // One strategy: no such plot, and nothing to say about it.
        XCTAssertFalse(ReportPlots.plan(for: ReportFixtures.document()).plots.contains { $0.name == "strategies" })
    }

    /// A sweep of two fitted strategies and a post-copy one: the model table has a row per
    /// strategy holding that strategy's own fit (runs, cells, parameters, R², MAPE), the
    /// post-copy row says it is not described; the headline names each strategy's figures; and
    /// each strategy's cells are plotted beside the curve of their own fit.
    func testEachStrategysFitHasItsRowItsHeadlineFiguresAndItsCurve() throws {
        var document = ReportFixtures.document()
        func cells(_ strategy: String, slower factor: Double) -> [ReportCell] {
            ReportFixtures.cells().map { cell in
                var copy = cell
                copy.label += " \(strategy)"
                copy.parameters.strategy = strategy
                copy.migrationMilliseconds.mean = (cell.migrationMilliseconds.mean ?? 0) * factor
                return copy
            }
        }
        document.cells = cells("precopy", slower: 1) + cells("tls", slower: 3) + cells("postcopy", slower: 0.5)
        var precopy = ReportFixtures.fit
        (precopy.strategy, precopy.runCount, precopy.cellCount, precopy.fittedRunCount) = ("precopy", 12, 6, 12)
        precopy.curves = precopy.curves.map { curve in
            var copy = curve
            copy.strategy = "precopy"
            return copy
        }
        let tls = ReportFit(
            strategy: "tls", runCount: 12, cellCount: 6, fittedRunCount: 10,
            parameters: [.init(name: "link bandwidth", value: 301.25, unit: "MiB/s"), .init(name: "fixed overhead", value: 2_500, unit: "ms")],
            rSquaredMigrationTime: 0.944, rSquaredDowntime: nil, heldOutMAPEPercent: 7.5, foldDescription: "leave one cell out, 6 fold(s)",
            curves: ReportFixtures.memorySizesMiB.map { memory in
                ReportFit.Curve(memoryMiB: memory, strategy: "tls", points: [.init(dirtyRateMiBPerSecond: 0, predictedMilliseconds: Double(memory) * 6),
                                                                             .init(dirtyRateMiBPerSecond: 200, predictedMilliseconds: Double(memory) * 7)])
            })
        document.fits = [precopy, tls]
        document.unfittedStrategies = [ReportUnfittedStrategy(strategy: "postcopy", runCount: 12, cellCount: 6,
                                                              reason: "not described by the pre-copy model: post-copy")]

        let table = try XCTUnwrap(ReportTables.fit(document))
        XCTAssertEqual(table.title, "Model fit per strategy")
        XCTAssertEqual(table.headers, ["strategy", "runs", "cells", "fitted runs", "link bandwidth MiB/s", "fixed overhead ms",
                                       "R² migration time", "R² downtime", "held-out MAPE %", "held out, or why not fitted"])
        XCTAssertEqual(table.rows, [
            ["precopy", "12", "6", "12", "905.500", "120", "0.987", "0.912", "4.2", "leave-one-rate-out, 3 folds"],
            ["tls", "12", "6", "10", "301.250", "2500", "0.944", "–", "7.5", "leave one cell out, 6 fold(s)"],
            ["postcopy", "12", "6", "0", "–", "–", "–", "–", "–", "not described by the pre-copy model: post-copy"],
        ])
        let headline = Dictionary(ReportTables.headline(document).map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        XCTAssertEqual(headline["model"], "one per strategy: 2 of 3 fitted (see Model fit per strategy)")
        XCTAssertEqual(headline["held-out MAPE"], "precopy 4.2 %; tls 7.5 %")
        XCTAssertEqual(headline["R² migration time"], "precopy 0.987; tls 0.944")

        let plot = try XCTUnwrap(ReportPlots.plan(for: document).plots.first { $0.name == "migration-time" })
        let time = seriesRows(plot.script)
        for memory in ReportFixtures.memorySizesMiB {
            for fit in [precopy, tls] {
                let curve = try XCTUnwrap(fit.curves.first { $0.memoryMiB == memory })
                XCTAssertEqual(time["\(memory) MiB, \(fit.strategy) model"], curve.points.map { [$0.dirtyRateMiBPerSecond, $0.predictedMilliseconds] },
                               "\(fit.strategy)'s cells beside \(fit.strategy)'s curve")
            }
            XCTAssertNil(time["\(memory) MiB, postcopy model"])
            XCTAssertTrue(plot.notes.contains("No model curve for \(memory) MiB, postcopy: strategy postcopy has no fitted model for these cells (see Model fit per strategy)."),
                          "\(plot.notes)")
        }
        let files = try SweepReportRenderer(document: document).write(to: ReportFixtures.outputDirectory(for: self))
        let html = try ReportFixtures.read(files.html)
        XCTAssertTrue(html.contains("<h2>Model fit per strategy</h2>"))
        XCTAssertTrue(html.contains("<td>tls</td><td>12</td><td>6</td><td>10</td><td>301.250</td>"), "the tls row in the page")
        XCTAssertTrue(try ReportFixtures.read(files.markdown).contains("| tls | 12 | 6 | 10 | 301.250 | 2500 | 0.944 |"))
    }

    /// A sweep of one strategy keeps the one-model table and headline it always had.
    func testASingleStrategysFitReadsAsOneModel() throws {
        let document = ReportFixtures.document()
        XCTAssertTrue(document.hasSingleFit)
        let table = try XCTUnwrap(ReportTables.fit(document))
        XCTAssertEqual(table.title, "Model fit")
        XCTAssertEqual(table.explanation, "Held out: leave-one-rate-out, 3 folds.")
        XCTAssertEqual(table.rows.first, ["R² migration time", "0.987", ""])
        XCTAssertEqual(ReportTables.headline(document).map(\.name).suffix(3), ["R² migration time", "R² downtime", "held-out MAPE"])
        XCTAssertEqual(try XCTUnwrap(ReportPlots.plan(for: document).plots.first).seriesTitles,
                       ["512 MiB measured", "1024 MiB measured", "512 MiB model", "1024 MiB model"], "no strategy in the titles")
        var unfitted = document
        unfitted.fits = []
        unfitted.unfittedStrategies = [ReportUnfittedStrategy(strategy: "tls", runCount: 6, cellCount: 2, reason: "not fitted: 2 cells")]
        XCTAssertNil(ReportTables.fit(unfitted), "one strategy without a fit: the page's sentence, as before")
        XCTAssertEqual(ReportTables.headline(unfitted).last?.value, "none fitted (no R², no MAPE)")
    }

    /// The downtime model sits where the pre-copy model's figures are: rows of the one-model
    /// table (said to be the prediction, the pre-copy R² downtime a bound), columns of the
    /// per-strategy table, and its held-out error beside QEMU's in the headline and the page.
    func testTheDowntimeModelIsShownBesideTheFitAndQEMUsExpectedDowntime() throws {
        var document = ReportFixtures.document()
        let model = ReportDowntimeModel(fixedMilliseconds: 41.25, switchOverMiBPerSecond: 375.5, fittedRunCount: 24, cellCount: 12,
                                        rSquared: 0.981, inSampleMAPEPercent: 3.25, heldOutMAPEPercent: 6.75,
                                        foldDescription: "leave one cell out: 12 fold(s), 24 held-out prediction(s)",
                                        qemuExpectedDowntimeMAPEPercent: 48.5, qemuRunCount: 20)
        var withSpread = model
        withSpread.repeatSpreadPercent = 12.25
        document.fits[0].downtimeModel = withSpread
        document.fits[0].repeatSpreadPercent = 4.5
        let table = try XCTUnwrap(ReportTables.fit(document))
        XCTAssertTrue(table.rows.contains(["repeats from their cell's mean", "4.5", "% (the floor under any model's MAPE)"]), "\(table.rows)")
        XCTAssertEqual(table.title, "Model fit")
        XCTAssertTrue(table.explanation.hasPrefix("Held out: leave-one-rate-out, 3 folds. The downtime model is the downtime prediction"), table.explanation)
        XCTAssertTrue(table.explanation.contains("R² downtime is the pre-copy model's, whose downtime (the last pass at the transfer rate) is an upper bound"),
                      table.explanation)
        XCTAssertEqual(Array(table.rows.suffix(8)), [
            ["downtime model: fixed", "41.250", "ms"],
            ["downtime model: switch-over rate", "375.500", "MiB/s"],
            ["downtime model: R²", "0.981", ""],
            ["downtime model: MAPE in sample", "3.2", "%"],
            ["downtime model: held-out MAPE", "6.8", "% (leave one cell out: 12 fold(s), 24 held-out prediction(s))"],
            ["downtime: repeats from their cell's mean", "12.2", "% (the floor under any model's MAPE)"],
            ["QEMU expected_downtime: MAPE", "48.5", "% (20 run(s))"],
            ["downtime model: runs", "24", "in 12 cell(s)"],
        ])
        let headline = Dictionary(ReportTables.headline(document).map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        XCTAssertEqual(headline["held-out downtime MAPE"], "6.8 % (QEMU's expected_downtime 48.5 %)")
        let files = try SweepReportRenderer(document: document).write(to: ReportFixtures.outputDirectory(for: self))
        let html = try ReportFixtures.read(files.html)
        XCTAssertTrue(html.contains("<td>downtime model: held-out MAPE</td><td>6.8</td>"), "the page shows it")
        XCTAssertTrue(try ReportFixtures.read(files.markdown).contains("| QEMU expected_downtime: MAPE | 48.5 | % (20 run(s)) |"))

        // Fixed only; and a strategy beside it without one: columns for both, dashes where none.
        var fixedOnly = model
        fixedOnly.switchOverMiBPerSecond = nil
        document.fits[0].downtimeModel = fixedOnly
        XCTAssertTrue(try XCTUnwrap(ReportTables.fit(document)).rows.contains(["downtime model: switch-over rate", "– (fixed only)", "MiB/s"]))
        var tls = ReportFixtures.fit
        tls.strategy = "tls"
        tls.downtimeModelMissingReason = "not fitted: none of the 12 converged pre-copy run(s) has a measured downtime"
        document.fits.append(tls)
        let perStrategy = try XCTUnwrap(ReportTables.fit(document))
        XCTAssertEqual(perStrategy.title, "Model fit per strategy")
        XCTAssertEqual(Array(perStrategy.headers.suffix(6)), ["downtime fixed ms", "switch-over MiB/s", "downtime model R²", "downtime held-out MAPE %",
                                                               "expected_downtime MAPE %", "held out, or why not fitted"])
        XCTAssertEqual(Array(perStrategy.rows[0].suffix(6).prefix(5)), ["41.250", "– (fixed only)", "0.981", "6.8", "48.5"])
        XCTAssertEqual(Array(perStrategy.rows[1].suffix(6).prefix(5)), ["–", "–", "–", "–", "–"])
        let perStrategyHeadline = Dictionary(ReportTables.headline(document).map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        XCTAssertEqual(perStrategyHeadline["held-out downtime MAPE"], "precopy 6.8 % (QEMU's expected_downtime 48.5 %); tls –")

        // A single fit without a downtime model says why in its table.
        var missing = ReportFixtures.document()
        missing.fits[0].downtimeModelMissingReason = "not fitted: no downtime"
        XCTAssertEqual(try XCTUnwrap(ReportTables.fit(missing)).rows.last, ["downtime model", "–", "not fitted: no downtime"])
        XCTAssertNil(Dictionary(ReportTables.headline(missing).map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })["held-out downtime MAPE"])
    }

    // MARK: - What is left out, and said

    func testWithoutAFitTheModelCurveIsLeftOutAndSaid() throws {
        var document = ReportFixtures.document()
        document.fits = []
        let plan = ReportPlots.plan(for: document)
        let timePlot = try XCTUnwrap(plan.plots.first { $0.name == "migration-time" })
        XCTAssertEqual(timePlot.seriesTitles, ["512 MiB measured", "1024 MiB measured"])
        XCTAssertFalse(timePlot.script.contains("model"))

        let files = try SweepReportRenderer(document: document).write(to: ReportFixtures.outputDirectory(for: self))
        let html = try ReportFixtures.read(files.html)
        let figure = try XCTUnwrap(html.figure(named: "migration-time"))
        XCTAssertEqual(SVGInspection(figure).titles, ["512 MiB measured", "1024 MiB measured"])
        XCTAssertTrue(figure.contains("No model curve: no model was fitted to this sweep."))
        XCTAssertTrue(html.contains("No model was fitted to this sweep"))
        XCTAssertTrue(try ReportFixtures.read(files.markdown).contains("No model curve: no model was fitted to this sweep."))
    }

    func testEmptyPlotsAreOmittedWithAReasonNotDrawnEmpty() throws {
        var document = ReportFixtures.document()
        document.boundaries = []
        document.timelines.append(ReportTimeline(runID: "r5", label: "no samples", samples: []))
        let plan = ReportPlots.plan(for: document)
        XCTAssertFalse(plan.plots.contains { $0.name == "convergence-boundary" })
        XCTAssertEqual(plan.omitted.map(\.name), ["convergence-boundary", "timeline-3-r5"])

        let files = try SweepReportRenderer(document: document).write(to: ReportFixtures.outputDirectory(for: self))
        let html = try ReportFixtures.read(files.html)
        XCTAssertNil(html.figure(named: "convergence-boundary"))
        XCTAssertTrue(html.contains("The convergence boundary is not plotted: the sweep found no boundary"))
        XCTAssertTrue(html.contains("Timeline of run r5 is not plotted: it has no job-stats samples."))
        XCTAssertEqual(files.omittedPlots.count, 2)
    }

    func testTimelinesBeyondTheMaximumAreListedNotDrawn() {
        var document = ReportFixtures.document()
        document.timelines = (1...5).map { ReportFixtures.timeline(runID: "r\($0)", label: "run \($0)") }
        let plan = ReportPlots.plan(for: document, maximumTimelines: 3)
        XCTAssertEqual(plan.plots.filter { $0.name.hasPrefix("timeline-") }.count, 3)
        XCTAssertEqual(plan.omitted.map(\.name), ["timeline-4-r4", "timeline-5-r5"])
    }

    // MARK: - Evacuations

    /// A sweep with evacuations gets an Evacuation section: time and downtime against N, each
    /// series holding the figures it names, and the table by guest count.
    func testEvacuationsHaveTheirSectionWithBothPlotsAndATableByGuestCount() throws {
        var document = ReportFixtures.document()
        document.evacuations = ReportFixtures.evacuations()
        let plan = ReportPlots.plan(for: document)
        XCTAssertEqual(plan.plots.map(\.name), ["migration-time", "downtime", "downtime-decomposition", "convergence-boundary",
                                                "evacuation-time", "evacuation-downtime", "timeline-1-r1", "timeline-2-r12"])
        let time = try XCTUnwrap(plan.plots.first { $0.name == "evacuation-time" })
        XCTAssertEqual(time.seriesTitles, ["evacuation total (s)", "serial sum of migration times (s)"])
        XCTAssertEqual(seriesRows(time.script)["evacuation total (s)"], [[1, 10], [2, 12], [4, 16], [4, 18]])
        XCTAssertEqual(seriesRows(time.script)["serial sum of migration times (s)"], [[1, 10], [2, 21], [4, 44], [4, 46]])
        XCTAssertTrue(time.script.contains("set xtics (1, 2, 4)"), time.script)
        let downtime = try XCTUnwrap(plan.plots.first { $0.name == "evacuation-downtime" })
        XCTAssertEqual(downtime.seriesTitles, ["each guest's downtime (ms)", "median downtime (ms)", "worst downtime (ms)"])
        XCTAssertEqual(seriesRows(downtime.script)["median downtime (ms)"], [[1, 20], [2, 40], [4, 30], [4, 35]])
        XCTAssertEqual(seriesRows(downtime.script)["worst downtime (ms)"], [[1, 20], [2, 50], [4, 60], [4, 90]])
        XCTAssertEqual(seriesRows(downtime.script)["each guest's downtime (ms)"],
                       [[1, 20], [2, 30], [2, 50], [4, 10], [4, 20], [4, 25], [4, 30], [4, 35], [4, 40], [4, 60], [4, 90]])
        // N = 4 ran twice: its two evacuations are points, and each series' line goes through
        // their mean (one point per N), never from one repeat to the other.
        for (plot, title) in [(time, "evacuation total (s)"), (time, "serial sum of migration times (s)"),
                              (downtime, "median downtime (ms)"), (downtime, "worst downtime (ms)")] {
            let lines = plot.script.components(separatedBy: "\n")
            let titled = try XCTUnwrap(lines.first { $0.contains("title '\(title)'") }, title)
            let block = try XCTUnwrap(titled.split(separator: " ").first { $0.hasPrefix("$D") }, titled)
            let drawn = lines.filter { $0.hasPrefix("plot \(block) ") || $0.hasPrefix("     \(block) ") }
            XCTAssertEqual(drawn.count, 2, "\(title): its points and its line: \(drawn)")
            XCTAssertTrue(titled.contains("with points"), titled)
            XCTAssertTrue(drawn.contains { $0.contains("smooth unique with lines") && $0.contains("notitle") }, "\(title): \(drawn)")
        }
        XCTAssertFalse(time.script.contains("linespoints") || downtime.script.contains("linespoints"),
                       "a line drawn through the rows joins N = 4's two evacuations to each other")

        let table = try XCTUnwrap(ReportTables.evacuations(document))
        XCTAssertEqual(table.headers, ["cell", "guests N", "evacuations", "total s", "serial sum s", "speedup", "downtime median ms",
                                       "downtime worst ms", "failed guests"])
        // N = 4: totals 16, 18 → 17; sums 44, 46 → 45; speedups 2.75, 2.56 → 2.65; the 8 guests' downtimes → 32.5 and 90.
        XCTAssertEqual(table.rows, [["live 1024 MiB @ 50 MiB/s", "1", "1", "10", "10", "1.00×", "20", "20", "0 of 1"],
                                    ["live 1024 MiB @ 50 MiB/s", "2", "1", "12", "21", "1.75×", "40", "50", "0 of 2"],
                                    ["live 1024 MiB @ 50 MiB/s", "4", "2", "17", "45", "2.65×", "32.5", "90", "1 of 8"]])

        let files = try SweepReportRenderer(document: document).write(to: ReportFixtures.outputDirectory(for: self))
        let html = try ReportFixtures.read(files.html)
        let section = try XCTUnwrap(html.range(of: "<h2>Evacuation</h2>"))
        for plot in [time, downtime] {
            let figure = try XCTUnwrap(html.figure(named: plot.name), plot.name)
            XCTAssertEqual(SVGInspection(figure).titles, plot.seriesTitles, "every series of \(plot.name) is drawn")
            let at = try XCTUnwrap(html.range(of: "<figure id=\"plot-\(plot.name)\">"))
            XCTAssertTrue(at.lowerBound > section.lowerBound, "\(plot.name) sits in the Evacuation section, not under Plots")
            XCTAssertTrue(files.plots.contains { $0.lastPathComponent == "\(plot.name).svg" })
        }
        XCTAssertTrue(html.contains("<h3>Evacuations by guest count</h3>"))
        XCTAssertTrue(html.contains("<td>32.5</td>"))
        let markdown = try ReportFixtures.read(files.markdown)
        XCTAssertTrue(markdown.contains("## Evacuation\n"))
        XCTAssertTrue(markdown.contains("(plots/evacuation-downtime.svg)"))
        XCTAssertTrue(markdown.contains("| live 1024 MiB @ 50 MiB/s | 4 | 2 | 17 | 45 | 2.65× | 32.5 | 90 | 1 of 8 |"))
    }

    /// Without evacuations the report has no Evacuation section and no evacuation plot.
    func testWithoutEvacuationsTheReportHasNoEvacuationSectionOrPlot() throws {
        let document = ReportFixtures.document()
        XCTAssertNil(ReportTables.evacuations(document))
        XCTAssertFalse(ReportPlots.plan(for: document).plots.contains { $0.name.hasPrefix("evacuation") })
        let directory = try ReportFixtures.outputDirectory(for: self)
        let files = try SweepReportRenderer(document: document).write(to: directory)
        let html = try ReportFixtures.read(files.html)
        XCTAssertFalse(html.contains("Evacuation"))
        XCTAssertFalse(try ReportFixtures.read(files.markdown).contains("Evacuation"))
        let plots = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("plots").path)
        XCTAssertFalse(plots.contains { $0.hasPrefix("evacuation") }, "\(plots)")
    }

    /// Evacuations none of whose guests landed: both plots are left out, said in the section.
    func testEvacuationsWithoutALandingAreSaidNotDrawnEmpty() throws {
        var document = ReportFixtures.document()
        document.evacuations = [ReportEvacuation(evacuationID: "evac-x", cellLabel: "live 1024 MiB @ 50 MiB/s", guestCount: 2, landedCount: 0,
                                                 passedCount: 0, totalSeconds: nil, serialSumSeconds: nil, speedup: nil,
                                                 downtimeMillisecondsMedian: nil, downtimeMillisecondsWorst: nil, guestDowntimesMilliseconds: [])]
        let plan = ReportPlots.plan(for: document)
        XCTAssertEqual(plan.omitted.map(\.name), ["evacuation-time", "evacuation-downtime"])
        let html = try ReportFixtures.read(try SweepReportRenderer(document: document).write(to: ReportFixtures.outputDirectory(for: self)).html)
        let section = try XCTUnwrap(html.range(of: "<h2>Evacuation</h2>"))
        let said = try XCTUnwrap(html.range(of: "Evacuation time is not plotted: no evacuation had a guest land."))
        XCTAssertTrue(said.lowerBound > section.lowerBound)
        XCTAssertTrue(html.contains("<td>2 of 2</td>"))
    }

    // MARK: - Escaping

    func testTextFromTheDocumentIsEscapedEverywhere() throws {
        var document = ReportFixtures.document()
        let hostile = "<script>alert('x')</script> & \"quoted\" | [link](http://evil.example)"
        document.title = hostile
        document.notes = [hostile]
        document.cells[0].label = hostile
        document.runs[0].cellLabel = hostile
        document.runs[0].failedChecks = [hostile]
        document.timelines[0].label = hostile
        document.timelines[0].faults = [.init(milliseconds: 300, text: hostile)]
        let files = try SweepReportRenderer(document: document).write(to: ReportFixtures.outputDirectory(for: self))
        let html = try ReportFixtures.read(files.html)
        XCTAssertFalse(html.lowercased().contains("<script"), "no script element reaches the page")
        XCTAssertTrue(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;"))
        // The address in the label is text, escaped, but still text: it is not a reference
        // the page loads, yet the check must see it.
        XCTAssertEqual(InlineSVG.externalReferences(in: html).filter { !$0.hasPrefix("http://evil") }, [])
        XCTAssertEqual(InlineSVG.loadedReferences(in: html), [])

        let markdown = try ReportFixtures.read(files.markdown)
        XCTAssertFalse(markdown.lowercased().contains("<script"))
        XCTAssertTrue(markdown.contains("&lt;script&gt;"))
        XCTAssertTrue(markdown.contains("\\| \\[link\\]"), "pipes and brackets cannot break a Markdown table or make a link")

        let runs = try parseCSV(ReportFixtures.read(files.runsCSV))
        XCTAssertEqual(runs[1][1], hostile, "CSV keeps the text exactly, quoted")
    }

    /// Finding 7b of issue 24: a text cell a spreadsheet would take for a formula (`=`, `+`,
    /// `-`, `@`, a tab or a carriage return first) is written with a `'` before it; numbers,
    /// negative ones too, stay numbers.
    func testCSVTextThatLooksLikeAFormulaIsDefused() throws {
        var document = ReportFixtures.document()
        document.runs[0].cellLabel = "=HYPERLINK(\"http://evil.example\",\"x\")"
        document.runs[0].failedChecks = ["@SUM(A1)"]
        document.runs[1].cellLabel = "-2+3+cmd|' /C calc'!A0"
        document.runs[1].parameters.emulator = "+1"
        document.runs[2].parameters.pattern = "\tsequential"
        document.runs[0].remainingMiBAtEnd = -12.5
        document.cells[0].label = "+cell"
        let files = try SweepReportRenderer(document: document).write(to: ReportFixtures.outputDirectory(for: self))
        let runs = try parseCSV(ReportFixtures.read(files.runsCSV))
        let column = { (name: String) in try XCTUnwrap(runs[0].firstIndex(of: name)) }
        XCTAssertEqual(runs[1][try column("cell_label")], "'=HYPERLINK(\"http://evil.example\",\"x\")")
        XCTAssertEqual(runs[1][try column("failed_checks")], "'@SUM(A1)")
        XCTAssertEqual(runs[2][try column("cell_label")], "'-2+3+cmd|' /C calc'!A0")
        XCTAssertEqual(runs[2][try column("emulator")], "+1", "a number stays a number")
        XCTAssertEqual(runs[3][try column("pattern")], "'\tsequential")
        XCTAssertEqual(runs[1][try column("remaining_mib_at_end")], "-12.5", "a negative number stays a number")
        XCTAssertEqual(runs[1][try column("run_id")], document.runs[0].runID, "plain text is left alone")
        let cells = try parseCSV(ReportFixtures.read(files.cellsCSV))
        XCTAssertEqual(cells[1][0], "'+cell")
        XCTAssertEqual(ReportFormat.csvField("-inf"), "'-inf", "not a finite number: text")
        XCTAssertEqual(ReportFormat.csvField("-0.25"), "-0.25")
        XCTAssertEqual(ReportFormat.csvField("1e-3"), "1e-3")
    }

    /// Finding 7a of issue 24: a `plots` symbolic link in the output directory is refused,
    /// not followed (the plots would land wherever it points); nothing is written through it.
    func testAPlotsSymbolicLinkInTheOutputIsRefused() throws {
        let output = try ReportFixtures.outputDirectory(for: self)
        let elsewhere = try ReportFixtures.outputDirectory(for: self)
        let link = output.appendingPathComponent("plots")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: elsewhere)
        XCTAssertThrowsError(try SweepReportRenderer(document: ReportFixtures.document()).write(to: output)) { error in
            XCTAssertEqual("\(error)", "cannot write \(link.path): it is a symbolic link; the plots go only into a directory of the report's own (remove the link)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: elsewhere.path), [], "nothing written where the link points")
    }

    /// Finding 7c of issue 24: a report that cannot be written says where and why in one
    /// line, not Foundation's whole error.
    func testAnUnwritableOutputIsOneLineWithThePathAndTheReason() throws {
        let output = try ReportFixtures.outputDirectory(for: self)
        let file = output.appendingPathComponent("a-file")
        try "x".write(to: file, atomically: true, encoding: .utf8)
        let below = file.appendingPathComponent("report")
        XCTAssertThrowsError(try SweepReportRenderer(document: ReportFixtures.document()).write(to: below)) { error in
            XCTAssertEqual("\(error)", "cannot write \(below.appendingPathComponent("plots").path): Not a directory")
        }
        XCTAssertEqual(ReportError.reason(of: CocoaError(.fileWriteFileExists, userInfo: [NSUnderlyingErrorKey: POSIXError(.EEXIST)])),
                       "it exists and is not a directory")
        XCTAssertEqual(ReportError.reason(of: POSIXError(.EACCES)), "Permission denied")
    }

    func testInlineSVGRejectsScriptsAndExternalReferences() {
        let withScript = "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"
        XCTAssertThrowsError(try InlineSVG.inlinable(withScript, plot: "p", idPrefix: "p-")) { error in
            XCTAssertEqual(error as? ReportError, .unusableSVG(plot: "p", reason: "it holds a script"))
        }
        let withImage = "<svg xmlns=\"http://www.w3.org/2000/svg\"><image href=\"https://example.com/a.png\"/></svg>"
        XCTAssertThrowsError(try InlineSVG.inlinable(withImage, plot: "p", idPrefix: "p-")) { error in
            XCTAssertEqual(error as? ReportError,
                           .unusableSVG(plot: "p", reason: "it loads href=\"https://example.com/a.png\""))
        }
        let withStyleURL = "<svg><rect style=\"fill: url(https://example.com/p.svg)\"/></svg>"
        XCTAssertThrowsError(try InlineSVG.inlinable(withStyleURL, plot: "p", idPrefix: "p-"))
        let urlOnlyAsText = "<svg><text>see https://example.com</text><rect clip-path=\"url(#c1)\"/></svg>"
        XCTAssertNoThrow(try InlineSVG.inlinable(urlOnlyAsText, plot: "p", idPrefix: "p-"))
        let plain = "<?xml version=\"1.0\"?>\n<!DOCTYPE svg>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
            + "xmlns:xlink=\"http://www.w3.org/1999/xlink\"><g id=\"gpPt0\"/><use xlink:href='#gpPt0'/></svg>\n"
        XCTAssertEqual(try InlineSVG.inlinable(plain, plot: "p", idPrefix: "p-"),
                       "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\">"
                       + "<g id=\"p-gpPt0\"/><use xlink:href='#p-gpPt0'/></svg>")
    }

    // MARK: - Compare

    func testComparisonFlagsOnlyCellsWhoseConfidenceIntervalsDoNotOverlap() throws {
        let this = ReportFixtures.document(sweepID: "kvm-sweep")
        var other = ReportFixtures.document(sweepID: "tcg-sweep", emulator: "qemu-tcg")
        let apartLabel = ReportFixtures.label(memoryMiB: 512, rate: 100)
        let overlappingLabel = ReportFixtures.label(memoryMiB: 1024, rate: 50)
        for index in other.cells.indices {
            let statistic = other.cells[index].migrationMilliseconds
            guard let mean = statistic.mean else { continue }
            if other.cells[index].label == apartLabel {
                // CI ±50 each: 200 ms apart leaves a gap between the intervals.
                other.cells[index].migrationMilliseconds = ReportFixtures.statistic(mean: mean + 200, halfWidth: 50)
            } else if other.cells[index].label == overlappingLabel {
                // 60 ms apart: the intervals [m-50, m+50] and [m+10, m+110] overlap.
                other.cells[index].migrationMilliseconds = ReportFixtures.statistic(mean: mean + 60, halfWidth: 50)
            }
        }
        // One cell only in each sweep.
        other.cells.removeAll { $0.label == ReportFixtures.label(memoryMiB: 1024, rate: 200) }
        var extra = other.cells[0]
        extra.label = "2048 MiB, 50 MiB/s"
        extra.parameters.memoryMiB = 2048
        other.cells.append(extra)

        let comparison = SweepComparison(this: this, other: other)
        XCTAssertEqual(comparison.differingParameters, ["emulator"])
        XCTAssertEqual(comparison.matched.count, 5)
        XCTAssertEqual(comparison.onlyInThis.map(\.label), ["1024 MiB, 200 MiB/s"])
        XCTAssertEqual(comparison.onlyInOther.map(\.label), ["2048 MiB, 50 MiB/s"])
        let flagged = comparison.matched.filter(\.migrationTime.exceedsConfidenceIntervals).map(\.this.label)
        XCTAssertEqual(flagged, [apartLabel])
        let overlapping = try XCTUnwrap(comparison.matched.first { $0.this.label == overlappingLabel })
        XCTAssertEqual(overlapping.migrationTime.confidenceIntervalsOverlap, true)
        XCTAssertGreaterThan(try XCTUnwrap(overlapping.migrationTime.ratio), 1)
        let apart = try XCTUnwrap(comparison.matched.first { $0.this.label == apartLabel })
        let thisMean = try XCTUnwrap(apart.this.migrationMilliseconds.mean)
        XCTAssertEqual(try XCTUnwrap(apart.migrationTime.ratio), (thisMean + 200) / thisMean, accuracy: 1e-9)
        XCTAssertEqual(apart.pingGap.ratio, 1)
        XCTAssertFalse(apart.pingGap.exceedsConfidenceIntervals)

        let files = try SweepReportRenderer(document: this, compare: other).write(to: ReportFixtures.outputDirectory(for: self))
        let html = try ReportFixtures.read(files.html)
        XCTAssertEqual(html.occurrences(of: "DIFFERS (CIs apart)"), 1)
        XCTAssertTrue(html.contains("only in tcg-sweep"))
        let ratioFigure = try XCTUnwrap(html.figure(named: "compare-ratios"))
        XCTAssertEqual(SVGInspection(ratioFigure).titles,
                       ["equal (ratio 1)", "migration time ratio", "libvirt downtime ratio", "ping gap ratio"])
        XCTAssertEqual(SVGInspection(ratioFigure).pointPositions(inSeries: "migration time ratio").count, 5 + 1)
        let markdown = try ReportFixtures.read(files.markdown)
        XCTAssertEqual(markdown.occurrences(of: "DIFFERS (CIs apart)"), 1)
        XCTAssertTrue(markdown.contains("plots/compare-ratios.svg"))
    }

    func testMissingConfidenceIntervalsAreNeitherFlaggedNorCalledOverlapping() {
        let metric = MetricComparison(this: ReportStatistic(count: 1, mean: 100), other: ReportStatistic(count: 1, mean: 300))
        XCTAssertEqual(metric.ratio, 3)
        XCTAssertNil(metric.confidenceIntervalsOverlap)
        XCTAssertFalse(metric.exceedsConfidenceIntervals)
    }

    // MARK: - Derived figures

    func testDowntimeDecompositionJudgesTheRestAgainstOneProbeIntervalAndTheAllowance() throws {
        var run = ReportFixtures.runs()[0]
        run.pingGapMilliseconds = 45
        run.libvirtDowntimeMilliseconds = 30
        run.announceDelayMilliseconds = 8
        let within = try XCTUnwrap(DowntimeDecomposition(run: run, probeIntervalMilliseconds: 10))
        XCTAssertEqual(within.restMilliseconds, 7)
        XCTAssertNil(within.guestAnswerDelayMilliseconds)
        XCTAssertEqual(within.verdict, .withinOneProbeInterval)
        // One interval + 2 ms is explained; a tenth more is not.
        run.pingGapMilliseconds = 50
        XCTAssertEqual(DowntimeDecomposition(run: run, probeIntervalMilliseconds: 10)?.verdict, .withinOneProbeInterval)
        run.pingGapMilliseconds = 50.1
        guard case .unexplained(let excess)? = DowntimeDecomposition(run: run, probeIntervalMilliseconds: 10)?.verdict else {
            return XCTFail("a rest of 12.1 ms with a 10 ms interval is unexplained")
        }
        XCTAssertEqual(excess, 0.1, accuracy: 1e-9)
        run.pingGapMilliseconds = 60
        XCTAssertEqual(DowntimeDecomposition(run: run, probeIntervalMilliseconds: 10)?.verdict,
                       .unexplained(excessMilliseconds: 10))
        // The destination's answer delay is a part of its own: the rest is what is left beside it.
        run.guestAnswerDelayMilliseconds = 15
        run.probesHeldAtDestination = 14
        let withAnswer = try XCTUnwrap(DowntimeDecomposition(run: run, probeIntervalMilliseconds: 10))
        XCTAssertEqual(withAnswer.restMilliseconds, 7)
        XCTAssertEqual(withAnswer.guestAnswerDelayMilliseconds, 15)
        XCTAssertEqual(withAnswer.probesHeldAtDestination, 14)
        XCTAssertEqual(withAnswer.verdict, .withinOneProbeInterval)
        run.guestAnswerDelayMilliseconds = nil
        // Up to 2 ms short of its parts is the parts' rounding; more is a disagreement.
        run.pingGapMilliseconds = 36
        XCTAssertEqual(DowntimeDecomposition(run: run, probeIntervalMilliseconds: 10)?.verdict, .withinOneProbeInterval)
        run.pingGapMilliseconds = 35.9
        XCTAssertEqual(DowntimeDecomposition(run: run, probeIntervalMilliseconds: 10)?.verdict, .gapShorterThanParts)
        run.pingGapMilliseconds = 20
        XCTAssertEqual(DowntimeDecomposition(run: run, probeIntervalMilliseconds: 10)?.verdict, .gapShorterThanParts)
        XCTAssertEqual(DowntimeDecomposition(run: run, probeIntervalMilliseconds: nil)?.verdict, .gapShorterThanParts)
        run.pingGapMilliseconds = 45
        XCTAssertEqual(DowntimeDecomposition(run: run, probeIntervalMilliseconds: nil)?.verdict, .probeIntervalUnknown)
        run.announceDelayMilliseconds = nil
        XCTAssertNil(DowntimeDecomposition(run: run, probeIntervalMilliseconds: 10))
    }

    /// The decomposition plot lays each run's parts end to end from the gap's start, each
    /// series holding its own figure (every one distinct), the answer delay only where measured.
    func testTheDecompositionPlotLaysEachRunsPartsEndToEnd() throws {
        var document = ReportFixtures.document()
        var measured = ReportFixtures.runs()[0]
        measured.runID = "r1"
        measured.switchOverPingGapMilliseconds = nil
        measured.pingGapMilliseconds = 131
        measured.libvirtDowntimeMilliseconds = 110
        measured.announceDelayMilliseconds = -1.5
        measured.guestAnswerDelayMilliseconds = 21.75
        var unmeasured = measured
        unmeasured.runID = "r2"
        unmeasured.pingGapMilliseconds = 90
        unmeasured.libvirtDowntimeMilliseconds = 60
        unmeasured.announceDelayMilliseconds = 2
        unmeasured.guestAnswerDelayMilliseconds = nil
        var undecomposed = measured
        undecomposed.runID = "r3"
        undecomposed.libvirtDowntimeMilliseconds = nil
        document.runs = [measured, unmeasured, undecomposed]
        guard case .drawn(let plot) = ReportPlots.downtimeDecomposition(document) else { return XCTFail("not drawn") }
        let rows = seriesRows(plot.script)
        XCTAssertEqual(rows["libvirt downtime"], [[55, 1, 0, 110, 0.65, 1.35], [30, 2, 0, 60, 1.65, 2.35]])
        XCTAssertEqual(rows["announce delay"], [[109.25, 1, 108.5, 110, 0.65, 1.35], [61, 2, 60, 62, 1.65, 2.35]])
        XCTAssertEqual(rows["answer delay (destination)"], [[119.375, 1, 108.5, 130.25, 0.65, 1.35]])
        XCTAssertEqual(rows["rest"], [[130.625, 1, 130.25, 131, 0.65, 1.35], [76, 2, 62, 90, 1.65, 2.35]])
        XCTAssertEqual(rows["ping gap (measured)"], [[131, 1], [90, 2]])
        let what = "\(measured.parameters.memoryMiB) MiB, \(measured.parameters.guestKind)"
        XCTAssertTrue(plot.script.contains("set ytics ('run r1 (\(what))' 1, 'run r2 (\(what))' 2)"), plot.script)
        XCTAssertEqual(plot.notes, ["No answer delay at the destination was measured for run(s) r2: their rest holds it."])
        document.runs = [undecomposed]
        guard case .omitted = ReportPlots.downtimeDecomposition(document) else { return XCTFail("drawn without a decomposition") }
    }

    func testQEMUSampledRateAboveTheTCGCeilingIsAStatedLimitNotAPass() {
        var run = ReportFixtures.runs()[0]
        run.achievedDirtyRateMiBPerSecond = 200
        run.qemuSampledDirtyRateMiBPerSecond = 190
        XCTAssertEqual(DirtyRateCrossCheck(run: run, accelerator: .kvm).qemuVerdict, .agrees)
        XCTAssertEqual(DirtyRateCrossCheck(run: run, accelerator: .kvm).qemuRatio, 0.95)
        if case .statedLimit = DirtyRateCrossCheck(run: run, accelerator: .tcg).qemuVerdict {} else {
            XCTFail("190 MiB/s from QEMU under TCG is beyond what it can sample")
        }
        run.qemuSampledDirtyRateLimitNote = "TCG samples at most ~60 MB/s"
        run.parameters.emulator = "qemu-tcg"
        XCTAssertEqual(DirtyRateCrossCheck(run: run, accelerator: .kvm).qemuVerdict, .statedLimit("TCG samples at most ~60 MB/s"))
        run.qemuSampledDirtyRateMiBPerSecond = 40
        run.achievedDirtyRateMiBPerSecond = 41
        XCTAssertEqual(DirtyRateCrossCheck(run: run, accelerator: .tcg).qemuVerdict, .agrees, "below the ceiling TCG is judged")
        run.qemuSampledDirtyRateMiBPerSecond = 10
        XCTAssertEqual(DirtyRateCrossCheck(run: run, accelerator: .tcg).qemuVerdict, .differs)
        run.qemuSampledDirtyRateMiBPerSecond = nil
        XCTAssertEqual(DirtyRateCrossCheck(run: run, accelerator: .tcg).qemuVerdict, .notMeasured)
    }

    // MARK: - gnuplot

    func testMissingGnuplotIsOneTypedLineAndNothingIsWritten() throws {
        let emptyDirectory = try ReportFixtures.outputDirectory(for: self)
        let output = emptyDirectory.appendingPathComponent("report")
        let renderer = SweepReportRenderer(document: ReportFixtures.document(),
                                           gnuplot: GnuplotRunner(searchPath: [emptyDirectory.path]))
        XCTAssertThrowsError(try renderer.write(to: output)) { error in
            XCTAssertEqual(error as? ReportError, .gnuplotNotFound(searchPath: [emptyDirectory.path]))
            XCTAssertEqual("\(error)", "gnuplot not found: install gnuplot-nox")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
    }

    func testGnuplotFailureNamesThePlotAndCarriesItsStandardError() throws {
        let scratch = try ReportFixtures.outputDirectory(for: self)
        XCTAssertThrowsError(try GnuplotRunner().render(script: GnuplotScript.terminal + "\nplot $missing using 1:2\n",
                                                        plot: "broken", scratchDirectory: scratch)) { error in
            guard case let .gnuplotFailed(plot, exitStatus, standardError) = error as? ReportError else {
                return XCTFail("expected gnuplotFailed, got \(error)")
            }
            XCTAssertEqual(plot, "broken")
            XCTAssertNotEqual(exitStatus, 0)
            XCTAssertTrue(standardError.contains("missing"), "gnuplot's own words: \(standardError)")
            XCTAssertTrue("\(error)".hasPrefix("plot 'broken': gnuplot exited with status"))
        }
    }

    func testGnuplotRunningTooLongIsKilled() throws {
        let scratch = try ReportFixtures.outputDirectory(for: self)
        let started = Date()
        XCTAssertThrowsError(try GnuplotRunner(timeoutSeconds: 0.3).render(script: "pause 30\n", plot: "slow",
                                                                           scratchDirectory: scratch)) { error in
            guard case .gnuplotTimedOut(plot: "slow", seconds: 0.3, standardError: _) = error as? ReportError else {
                return XCTFail("expected gnuplotTimedOut, got \(error)")
            }
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
    }

    // MARK: - Helpers

    /// A strict RFC 4180 reader: quoted fields, doubled quotes, CRLF records.
    private func parseCSV(_ text: String) throws -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var field = ""
        var inQuotes = false
        var characters = Array(text)[...]
        while let character = characters.popFirst() {
            if inQuotes {
                if character == "\"" {
                    if characters.first == "\"" { field.append("\""); characters.removeFirst() } else { inQuotes = false }
                } else {
                    field.append(character)
                }
            } else if character == "\"" {
                XCTAssertTrue(field.isEmpty, "a quote starts a field or is doubled inside one")
                inQuotes = true
            } else if character == "," {
                record.append(field)
                field = ""
            } else if character == "\r\n" {
                record.append(field)
                records.append(record)
                record = []
                field = ""
            } else {
                XCTAssertFalse(character == "\n" || character == "\r", "records end with CRLF")
                field.append(character)
            }
        }
        XCTAssertFalse(inQuotes, "every quoted field is closed")
        XCTAssertTrue(record.isEmpty && field.isEmpty, "the last record ends with CRLF")
        return records
    }
}
