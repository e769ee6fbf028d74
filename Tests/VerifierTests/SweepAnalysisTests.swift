import Foundation
import MigrationModel
import SweepReport
import XCTest
@testable import Verifier

/// A sweep's results generated from known pre-copy parameters: 3 memory sizes × 4 target
/// rates × 2 links × 2 repeats, live, with every figure the analysis reads. The highest
/// rate does not converge on the slow link (the model says so, and the run says so).
enum SyntheticSweepResults {
    static let mib = 1_048_576.0
    static let truth = PreCopyFitParameters(setupMilliseconds: 800, resumeMilliseconds: 40, dirtyRateFactor: 1.3,
                                            scanMillisecondsPerGiB: 150)
    static let memorySizesMiB = [1024, 2048, 4096]
    static let convergingRatesMiBPerSecond: [Double] = [10, 30, 60]
    /// Above the slow link once the factor applies (1.3 × 110 × 0.97 > 118): does not converge there.
    static let highRateMiBPerSecond = 110.0
    /// The bandwidth limit (a parameter, so each link is a cell of its own) and the transfer
    /// rate libvirt measured under it.
    static let links: [(limitMiBPerSecond: UInt64, measuredMiBPerSecond: Double)] = [(125, 118), (1000, 940)]
    static let repeatCount = 2
    /// memeater's achieved rate over its target.
    static let achievedOverTarget = 0.97
    /// The delay from the end of libvirt's downtime to the first announce, and the rest of the ping gap, ms.
    static let announceDelayMilliseconds = 20.0
    static let restOfGapMilliseconds = 5.0

    /// The runs, in the order a sweep makes them; `truth` changes the truth, `migration` the
    /// strategy (the runs follow the truth at its max downtime).
    static func results(truth: PreCopyFitParameters = truth, startedAt: Date = Date(timeIntervalSince1970: 1_750_000_000),
                        migration: (inout MigrationOptions) -> Void = { _ in }) -> [ScenarioResult] {
        var results: [ScenarioResult] = []
        for memoryMiB in memorySizesMiB {
            for link in links {
                for rate in convergingRatesMiBPerSecond + [highRateMiBPerSecond] {
                    for repetition in 1...repeatCount {
                        var parameters = Fixtures.parameters(memoryMiB: memoryMiB, rate: rate)
                        parameters.memeaterSizeMiB = memoryMiB / 2
                        parameters.migration.bandwidthMiBPerSecond = link.limitMiBPerSecond
                        parameters.repetition = repetition
                        migration(&parameters.migration)
                        let achieved = rate * achievedOverTarget
                        let prediction = truth.predict(
                            memoryBytes: Double(memoryMiB) * mib, dirtySetBytes: Double(parameters.memeaterSizeMiB) * mib,
                            pattern: .sequential, dirtyRateBytesPerSecond: achieved * mib,
                            transferRateBytesPerSecond: link.measuredMiBPerSecond * mib,
                            maxDowntimeMilliseconds: Double(parameters.migration.qemuMaxDowntimeMilliseconds ?? 300),
                            timeoutSeconds: parameters.timeoutSeconds)
                        // Repeats differ by ±2 %, time and downtime in opposite directions: a spread, no bias.
                        let wobble = repetition == 1 ? 0.02 : -0.02
                        results.append(result(parameters, prediction: prediction, wobble: wobble, achievedMiBPerSecond: achieved,
                                              transferRateMiBPerSecond: link.measuredMiBPerSecond,
                                              startedAt: startedAt.addingTimeInterval(Double(results.count) * 60)))
                    }
                }
            }
        }
        return results
    }

    static func result(_ parameters: ScenarioParameters, prediction: FittedPrediction, wobble: Double, achievedMiBPerSecond: Double,
                       transferRateMiBPerSecond: Double, startedAt: Date) -> ScenarioResult {
        var result = ScenarioResult(parameters: parameters, accel: "kvm", qemuVersion: "10.0.2", libvirtVersion: "11.3.0", startedAt: startedAt)
        result.achievedDirtyRateMiBPerSecond = achievedMiBPerSecond
        result.libvirtDirtyRateMiBPerSecond = achievedMiBPerSecond * 1.2
        result.figures.qemuSampledDirtyRateMiBPerSecond = achievedMiBPerSecond * 1.1
        result.figures.qemuSampledDirtyRateSource = "libvirt dirty-rate calculation, page sampling over 1 s"
        result.figures.transferRateMiBPerSecond = transferRateMiBPerSecond
        result.figures.probeIntervalMicroseconds = 1_000
        result.figures.migrationStartOffsetMilliseconds = 4_000
        result.figures.overheadMilliseconds = 25_000 + Double(parameters.memoryMiB)
        result.add(Check(name: CheckName.memoryIntegrity, passed: true, evidence: "0 stale pages of \(parameters.memeaterSizeMiB * 256)"))
        if prediction.converges, let total = prediction.totalMilliseconds, let downtime = prediction.downtimeMilliseconds {
            let migration = total * (1 + wobble)
            let libvirtDowntime = downtime * (1 - wobble)
            result.figures.convergence = .converged
            result.migrationMilliseconds = migration
            result.libvirtDowntimeMilliseconds = libvirtDowntime
            result.iterations = prediction.passes.iterations
            result.figures.passes = prediction.passes.iterations
            result.transferredBytes = UInt64(prediction.passes.transferredBytes)
            result.figures.migrationEndOffsetMilliseconds = 4_000 + migration
            // The gap starts when the guest stops; the first announce follows its resume.
            let gapStart = 4_000 + migration - libvirtDowntime
            let gap = libvirtDowntime + announceDelayMilliseconds + restOfGapMilliseconds
            result.pingDowntimeMilliseconds = gap
            result.pingLost = Int(gap) - 1  // one probe a millisecond
            result.figures.pingGapStartOffsetMilliseconds = gapStart
            result.figures.pingGapLowerBoundMilliseconds = gap - 1
            result.figures.pingGapUpperBoundMilliseconds = gap + 1
            result.figures.pingGaps = [TimedSpan(startOffsetMilliseconds: gapStart, lengthMilliseconds: gap)]
            result.figures.announceOffsetsMilliseconds = [gapStart + libvirtDowntime + announceDelayMilliseconds]
            result.add(Check(name: CheckName.migrationOutcome, passed: true, evidence: "migrated in \(formatNumber(migration)) ms"))
        } else {
            result.figures.convergence = .didNotConverge
            result.figures.passes = 40
            result.iterations = 40
            result.figures.remainingBytesAtEnd = UInt64(Double(parameters.memeaterSizeMiB) * 0.4 * mib)
            result.figures.abortOffsetMilliseconds = 4_000 + parameters.timeoutSeconds * 1_000
            result.figures.migrationEndOffsetMilliseconds = 4_000 + parameters.timeoutSeconds * 1_000 + 300
            result.libvirtError = "operation aborted: migration out job: canceled by client"
            result.add(Check(name: CheckName.migrationOutcome, passed: false,
                             evidence: "did not converge within \(formatNumber(parameters.timeoutSeconds)) s: 40 passes, "
                                 + "\(formatNumber(Double(parameters.memeaterSizeMiB) * 0.4)) MiB remaining"))
        }
        // memeater's one thread stalled for the switch-over plus one 1 ms tick.
        let stall = UInt64(((result.libvirtDowntimeMilliseconds ?? 0) + 1) * 1_000)
        result.maxStallMicroseconds = stall
        result.maxStallMicrosecondsPerThread = [stall]
        result.finishedAt = startedAt.addingTimeInterval(((result.migrationMilliseconds ?? 120_000) + 25_000) / 1_000)
        return result
    }

    /// Stores `results` as sweep `sweepID` (runs through beginRun/finishRun, one slot each, in
    /// order) and returns them with their run ids.
    @discardableResult
    static func store(_ results: [ScenarioResult], as sweepID: String, in store: ResultsStore,
                      createdAt: Date = Date(timeIntervalSince1970: 1_750_000_000)) throws -> [ScenarioResult] {
        try store.openSweep(id: sweepID, kind: .sweep, commandLine: "migverify sweep --id \(sweepID) --matrix synthetic.yaml",
                            definitionJSON: "{}", slots: results.map(\.parameters), createdAt: createdAt)
        var stored: [ScenarioResult] = []
        for (position, result) in results.enumerated() {
            let runID = try store.beginRun(result.parameters, startedAt: result.startedAt, sweepID: sweepID)
            var withID = result
            withID.runID = runID
            withID.sweepID = sweepID
            try store.finishRun(runID, result: withID)
            try store.assign(runID: runID, sweepID: sweepID, position: position)
            stored.append(withID)
        }
        return stored
    }

    static let sweep = StoredSweep(id: "synthetic", kind: .sweep, createdAt: Date(timeIntervalSince1970: 1_750_000_000),
                                   commandLine: "migverify sweep --id synthetic", definitionJSON: "{}")
}

extension SweepAnalysis {
    /// The fit of a sweep whose live runs are of one strategy (`nil` for several), as the tests of such sweeps read it.
    var onlyFit: Result<PreCopyFit, PreCopyFitError>? { fits?.groups.count == 1 ? fits?.groups.first?.fit : nil }
}

final class SweepAnalysisTests: XCTestCase {
    func testTheHostCPUFiguresReachTheReportByRoleWithTheUncountedTime() {
        var host = HostCPUCost(hostName: "src")
        host.qemuCPUSecondsByRole = [.vcpu: 2.5, .migration: 1.25, .multifd: 0.75, .mainLoop: 0.5, .other: 0.01]
        host.qemuEndedThreadsCPUSeconds = 0.02
        host.daemonCPUSeconds = 0.2
        host.totalCPUSeconds = 5.23
        host.cpuSecondsPerGiB = 2.6
        host.exitedQEMULastSampleMilliseconds = 24_800
        host.exitedQEMUGoneAtMilliseconds = 25_012
        XCTAssertEqual(SweepAnalysis.reportHostCPU(host, role: "source"),
                       ReportHostCPU(host: "source (src)", vcpuCPUSeconds: 2.5, migrationThreadsCPUSeconds: 1.25, multifdCPUSeconds: 0.75,
                                     mainLoopCPUSeconds: 0.5, otherThreadsCPUSeconds: 0.01, endedThreadsCPUSeconds: 0.02, daemonCPUSeconds: 0.2,
                                     totalCPUSeconds: 5.23, cpuSecondsPerGiB: 2.6, uncountedMilliseconds: 212))
        host.notMeasured = "no shell on the source"
        XCTAssertEqual(SweepAnalysis.reportHostCPU(host, role: "source"), ReportHostCPU(host: "source (src)"), "not measured: every figure a dash")
    }

    /// A number that is not one, as the text would print it (`formatNumber`, `%f`, Swift's description).
    func assertNoNonFiniteNumbers(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        let pattern = try? NSRegularExpression(pattern: #"(?i)(?<![a-z])-?(nan|inf|infinity)(?![a-z])"#)
        let match = pattern?.firstMatch(in: text, range: NSRange(text.startIndex..., in: text))
        XCTAssertNil(match.flatMap { Range($0.range, in: text).map { String(text[$0]) } }, "a non-finite number in:\n\(text)", file: file, line: line)
    }

    // MARK: a full synthetic sweep

    func testTheFitRecoversTheParametersTheSweepWasMadeWith() throws {
        let results = SyntheticSweepResults.results()
        let notConverging = results.filter { $0.figures.convergence == .didNotConverge }
        XCTAssertEqual(Set(notConverging.map { "\($0.parameters.dirtyRateMiBPerSecond)@\($0.parameters.migration.bandwidthMiBPerSecond ?? 0)" }),
                       ["110.0@125"], "the fixture is what the test assumes: only the high rate on the slow link does not converge")
        let analysis = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: results)
        guard case .success(let fit)? = analysis.onlyFit else { return XCTFail("not fitted: \(String(describing: analysis.onlyFit))") }
        let truth = SyntheticSweepResults.truth
        XCTAssertEqual(fit.setupMilliseconds, truth.setupMilliseconds, accuracy: 150)
        XCTAssertEqual(fit.resumeMilliseconds, truth.resumeMilliseconds, accuracy: 10)
        XCTAssertEqual(fit.dirtyRateFactor, truth.dirtyRateFactor, accuracy: 0.1)
        XCTAssertEqual(fit.scanMillisecondsPerGiB, truth.scanMillisecondsPerGiB, accuracy: 60)
        XCTAssertGreaterThan(fit.timeRSquared ?? 0, 0.9)
        XCTAssertEqual(fit.heldOut.folds, 21, "every converging cell is held out once")
        let mape = try XCTUnwrap(fit.heldOut.meanAbsolutePercentageError)
        XCTAssertLessThan(mape, 5, "held-out MAPE with 2 % noise")
        XCTAssertEqual(fit.exclusions.count, notConverging.count, "the runs that did not converge are left out of the fit")
    }

    func testCellsHaveStatisticsOverTheirRepeatsAndAPrediction() throws {
        let analysis = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: SyntheticSweepResults.results())
        XCTAssertEqual(analysis.cells.count, 3 * 2 * 4)
        for cell in analysis.cells {
            XCTAssertEqual(cell.runs.count, 2, cell.label)
            XCTAssertNil(cell.parameters.repetition, "a cell is its parameters without the repetition")
            let slowLinkHighRate = cell.parameters.dirtyRateMiBPerSecond == SyntheticSweepResults.highRateMiBPerSecond
                && cell.parameters.migration.bandwidthMiBPerSecond == 125
            if slowLinkHighRate {
                XCTAssertEqual(cell.convergedCount, 0, cell.label)
                XCTAssertNil(cell.migrationMilliseconds, "no time over runs that did not converge: \(cell.label)")
                XCTAssertEqual(cell.predicted?.converges, false, "the fitted model agrees: \(cell.label)")
                continue
            }
            XCTAssertEqual(cell.convergedCount, 2, cell.label)
            let time = try XCTUnwrap(cell.migrationMilliseconds, cell.label)
            XCTAssertEqual(time.count, 2)
            let interval = try XCTUnwrap(time.confidenceInterval95, cell.label)
            XCTAssertLessThan(interval.lower, time.mean)
            XCTAssertGreaterThan(interval.upper, time.mean)
            XCTAssertEqual(cell.libvirtDowntimeMilliseconds?.count, 2)
            XCTAssertEqual(cell.pingGapMilliseconds?.count, 2)
            // ±2 % around the truth: the mean is the truth's prediction.
            let runs = cell.runs
            let truth = SyntheticSweepResults.truth.predict(SweepAnalysis.observation(runs[0]))
            XCTAssertEqual(time.mean, try XCTUnwrap(truth.totalMilliseconds), accuracy: 0.001 * time.mean, cell.label)
            let predicted = try XCTUnwrap(cell.predicted?.totalMilliseconds, cell.label)
            XCTAssertEqual(predicted, time.mean, accuracy: 0.1 * time.mean, "the fitted prediction is near the mean: \(cell.label)")
        }
    }

    func testBoundariesAreBracketedByTheMeasuredRates() throws {
        let analysis = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: SyntheticSweepResults.results())
        XCTAssertEqual(analysis.boundaries.count, 3 * 2, "one per memory size and link")
        for boundary in analysis.boundaries {
            let label = "\(boundary.parameters.memoryMiB) MiB, bw \(boundary.parameters.migration.bandwidthMiBPerSecond ?? 0)"
            if boundary.parameters.migration.bandwidthMiBPerSecond == 125 {
                XCTAssertEqual(boundary.highestConvergingMiBPerSecond, 60, label)
                XCTAssertEqual(boundary.lowestNonConvergingMiBPerSecond, 110, label)
                let predicted = try XCTUnwrap(boundary.predictedMiBPerSecond, "\(label): \(boundary.predictionNote)")
                XCTAssertGreaterThan(predicted, 60, label)
                XCTAssertLessThan(predicted, 110, label)
            } else {
                XCTAssertEqual(boundary.highestConvergingMiBPerSecond, 110, label)
                XCTAssertNil(boundary.lowestNonConvergingMiBPerSecond, label)
            }
        }
    }

    /// The predicted boundary of a group is the model's at the group's own max downtime
    /// (`--max-downtime`, QEMU's switch-over limit), not at QEMU's default.
    func testThePredictedBoundaryUsesTheGroupsMaxDowntime() throws {
        let group = SyntheticSweepResults.results().filter {
            $0.parameters.memoryMiB == 1024 && $0.parameters.migration.bandwidthMiBPerSecond == 125
        }
        let truth = SyntheticSweepResults.truth
        let atDefault = try XCTUnwrap(SweepAnalysis.boundary(group, fit: truth).predictedMiBPerSecond)
        let longer = group.map { result -> ScenarioResult in
            var copy = result
            copy.parameters.migration.qemuMaxDowntimeMilliseconds = 2_000
            return copy
        }
        let analysed = SweepAnalysis.boundary(longer, fit: truth)
        let atTwoSeconds = try XCTUnwrap(analysed.predictedMiBPerSecond, analysed.predictionNote)
        let mib = SyntheticSweepResults.mib
        let expected = try XCTUnwrap(PreCopyModel.predictedBoundary(
            memoryBytes: 1024 * mib, dirtySetBytes: 512 * mib, pattern: .sequential, transferRateBytesPerSecond: 118 * mib,
            maxDowntimeMilliseconds: 2_000, timeoutSeconds: group[0].parameters.timeoutSeconds, fit: truth))
        XCTAssertEqual(atTwoSeconds, expected / mib, accuracy: 0.01)
        XCTAssertGreaterThan(atTwoSeconds, atDefault * 1.01, "a longer allowed pause lets a faster guest converge")
    }

    /// Only undisturbed migrations describe the pre-copy model: runs of fault scenarios in the
    /// same sweep (an abort, a cut management link, a cut guest network) are left out of the
    /// fit and of the measured boundary, however their times and outcomes read.
    func testTheFitAndTheBoundaryTakeOnlyUndisturbedMigrations() throws {
        let live = SyntheticSweepResults.results()
        var disturbed: [ScenarioResult] = []
        for (scenario, result) in zip([ScenarioKind.abort, .linkCut, .guestLinkCut], live.filter { $0.figures.convergence == .converged }.prefix(3)) {
            var run = result
            run.parameters.scenario = scenario
            if scenario == .guestLinkCut {
                // It lands, 2 s of outage later.
                run.migrationMilliseconds = (run.migrationMilliseconds ?? 0) * 2 + 2_000
            } else {
                run.figures.convergence = .didNotConverge
                run.migrationMilliseconds = nil
            }
            disturbed.append(run)
        }
        let analysis = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: live + disturbed)
        let liveOnly = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: live)
        guard case .success(let fit)? = analysis.onlyFit, case .success(let liveFit)? = liveOnly.onlyFit else {
            return XCTFail("not fitted: \(String(describing: analysis.onlyFit))")
        }
        XCTAssertEqual(fit.observations.count + fit.exclusions.count, live.count, "the fit saw the live runs only")
        XCTAssertEqual(fit.parameters, liveFit.parameters)
        XCTAssertEqual(fit.heldOut, liveFit.heldOut)
        XCTAssertEqual(analysis.boundaries.map(\.lowestNonConvergingMiBPerSecond), liveOnly.boundaries.map(\.lowestNonConvergingMiBPerSecond),
                       "a run cut short by its fault is no bound on convergence")
        XCTAssertEqual(analysis.boundaries.map(\.highestConvergingMiBPerSecond), liveOnly.boundaries.map(\.highestConvergingMiBPerSecond))
        XCTAssertEqual(analysis.cells.count, liveOnly.cells.count + disturbed.count, "the fault runs are cells of their own, shown, not fitted")
    }

    func testAnUnlimitedRateThatDidNotConvergeIsNoBoundaryAtZero() throws {
        // Rate 0 is "as fast as memeater can": the highest rate, not the lowest.
        var results = SyntheticSweepResults.results().filter { $0.parameters.memoryMiB == 1024 && $0.parameters.migration.bandwidthMiBPerSecond == 125 }
        let stuck = try XCTUnwrap(results.first { $0.figures.convergence == .didNotConverge })
        var unlimited = stuck
        unlimited.parameters.dirtyRateMiBPerSecond = 0
        results.append(unlimited)
        let analysis = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: results)
        XCTAssertEqual(analysis.boundaries.count, 1)
        XCTAssertEqual(analysis.boundaries.first?.lowestNonConvergingMiBPerSecond, 110)
        XCTAssertTrue(analysis.text.contains("between 60 and 110 MiB/s"), analysis.text)
    }

    /// The decomposition line takes the guest's answer delay at the destination out of the rest,
    /// and judges what is left against one probe interval ± 2 ms.
    func testTheCorrelateDecompositionTakesTheAnswerDelayOutOfTheRest() throws {
        var results = SyntheticSweepResults.results()
        let index = try XCTUnwrap(results.firstIndex { $0.figures.convergence == .converged })
        let label = "  #\(results[index].runID.map(String.init) ?? "-") \(results[index].parameters.label): "
        let before = try XCTUnwrap(SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: results).text
            .split(separator: "\n").first { $0.hasPrefix(label) && $0.contains(" = ") })
        XCTAssertTrue(before.contains(" + 20 + - + 5: unexplained: 2 ms beyond one probe interval + 2 ms"), String(before))
        results[index].figures.guestAnswerDelayMilliseconds = 3.5
        results[index].figures.probesHeldAtDestination = 4
        let after = try XCTUnwrap(SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: results).text
            .split(separator: "\n").first { $0.hasPrefix(label) && $0.contains(" = ") })
        XCTAssertTrue(after.contains(" + 20 + 3.5 + 1.5: within one probe interval ± 2 ms"), String(after))
        XCTAssertTrue(after.contains(", 4 reached the destination before the guest's first reply"), String(after))
    }

    func testTheCorrelateTextShowsTheFitItsValidationAndTheCrossChecks() {
        let analysis = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: SyntheticSweepResults.results())
        let text = analysis.text
        XCTAssertTrue(text.contains("R² migration time 0.9"), text)
        XCTAssertTrue(text.contains("held-out MAPE"), text)
        XCTAssertTrue(text.contains("21 fold(s)"), text)
        XCTAssertTrue(text.contains("measured between 60 and 110 MiB/s"), text)
        XCTAssertTrue(text.contains("(1.10) | "), "QEMU's sampled rate over memeater's: \(text)")
        XCTAssertTrue(text.contains("(1.20)"), "job stats over memeater's: \(text)")
        XCTAssertTrue(text.contains("+ 20 + - + 5: "), "the announce delay, no answer delay measured, and the rest of the gap: \(text)")
        XCTAssertFalse(text.contains("{\""), "cells are named by label, not by their JSON key: \(text)")
        XCTAssertTrue(text.contains("excluded: live 1024 MiB @ 110 MiB/s bw 125 MiB/s: did not converge: no migration time to fit (2 runs)"),
                      "one line per excluded cell, naming it: \(text)")
        assertNoNonFiniteNumbers(text)
    }

    /// One run of a cell twice as slow as its repeat and the model (issue 25): the fit leaves it
    /// out and stays where the clean sweep puts it; correlate and the report name the run by its
    /// id, its repeat and its cell, with the measured and predicted times. Two fault runs come
    /// first, so the fit's index of the run is not its position among the results.
    func testAResidualOutlierIsLeftOutAndNamedByItsRun() throws {
        let live = SyntheticSweepResults.results()
        let slow = try XCTUnwrap(live.firstIndex {
            $0.parameters.memoryMiB == 1024 && $0.parameters.migration.bandwidthMiBPerSecond == 1000
                && $0.parameters.dirtyRateMiBPerSecond == 10 && $0.parameters.repetition == 2
        })
        var slowed = live
        let measured = try XCTUnwrap(live[slow].migrationMilliseconds) * 2
        slowed[slow].migrationMilliseconds = measured
        let disturbed = live.prefix(2).map { result -> ScenarioResult in
            var run = result
            run.parameters.scenario = .abort
            run.figures.convergence = .didNotConverge
            run.migrationMilliseconds = nil
            return run
        }
        let store = try temporaryStore()
        let stored = try SyntheticSweepResults.store(disturbed + slowed, as: "synthetic", in: store)
        let runID = try XCTUnwrap(stored[disturbed.count + slow].runID)
        let analysis = try SweepAnalysis(store: store, sweepID: "synthetic")
        let clean = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: live)
        guard case .success(let fit)? = analysis.onlyFit, case .success(let cleanFit)? = clean.onlyFit else {
            return XCTFail("not fitted: \(String(describing: analysis.onlyFit))")
        }
        XCTAssertEqual(fit.leftOutOutliers.count, 1, "\(fit.outliers)")
        // Removing one −2 % repeat moves the fit a little; keeping the slow run moved it 76 ms.
        XCTAssertEqual(fit.setupMilliseconds, cleanFit.setupMilliseconds, accuracy: 15, "the slow run does not bend the setup")
        XCTAssertEqual(fit.dirtyRateFactor, cleanFit.dirtyRateFactor, accuracy: 0.01)
        XCTAssertEqual(fit.scanMillisecondsPerGiB, cleanFit.scanMillisecondsPerGiB, accuracy: 5)
        let runs = SweepAnalysis.fitRuns(analysis.results)
        let names = SweepAnalysis.fitCellNames(runs)
        let naive = try PreCopyFit.fit(runs.map { SweepAnalysis.observation($0, cell: names[SweepAnalysis.cellKey($0.parameters)]) },
                                       robust: false)
        XCTAssertGreaterThan(abs(naive.setupMilliseconds - cleanFit.setupMilliseconds), 50, "kept, it would: \(naive.parameters)")

        let cell = "live 1024 MiB @ 10 MiB/s bw 1000 MiB/s"
        let named = "run #\(runID) (repeat 2), \(cell): residual outlier: measured \(formatNumber(measured)) ms, predicted "
        let text = analysis.text
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("  " + named) }, "correlate names the run:\n\(text)")
        XCTAssertTrue(line.hasSuffix("left out of the fit"), String(line))
        XCTAssertTrue(line.contains("(+96 %), while its cell's other repeat(s) are within 2 %"), "twice its repeat's −2 %: \(line)")
        XCTAssertFalse(text.contains("excluded: \(cell)"), "one run, not its cell: \(text)")
        XCTAssertTrue(text.contains("limit: 1 run(s) left out of the fit as residual outlier(s) (\(cell))"), text)

        let document = try analysis.reportDocument(store: store)
        XCTAssertTrue(document.limits.contains { $0.hasPrefix(named) && $0.hasSuffix("left out of the fit") }, "\(document.limits)")
        XCTAssertEqual(document.fits.first?.fittedRunCount, fit.observations.count)
        XCTAssertFalse(clean.text.contains("residual outlier"), "the clean sweep names none")
    }

    // MARK: the downtime model (issue 25, part 2)

    /// The switch-over at 3× the slow link's measured rate (on both links: QEMU does not hold it to the limit), 40 ms fixed.
    static let downtimeTruth = DowntimeFitParameters(fixedMilliseconds: 40, switchOverBytesPerSecond: 3 * 118 * SyntheticSweepResults.mib)
    static let tlsDowntimeTruth = DowntimeFitParameters(fixedMilliseconds: 90, switchOverBytesPerSecond: 150 * SyntheticSweepResults.mib)

    /// `results` with libvirt's downtime from `downtime` at the last pass of `truth` (±2 % between
    /// repeats) and QEMU's forecast that last pass at the transfer rate, as QEMU computes it.
    static func withDowntimes(_ results: [ScenarioResult], downtime: DowntimeFitParameters = downtimeTruth,
                              truth: PreCopyFitParameters = SyntheticSweepResults.truth) -> [ScenarioResult] {
        results.map { result in
            guard result.figures.convergence == .converged else { return result }
            var changed = result
            let passes = truth.predict(SweepAnalysis.observation(result)).passes
            let wobble = result.parameters.repetition == 1 ? 0.02 : -0.02
            changed.libvirtDowntimeMilliseconds = downtime.predictMilliseconds(finalPassBytes: passes.passBytes.last ?? 0) * (1 + wobble)
            changed.figures.qemuExpectedDowntimeMilliseconds = passes.downtimeMilliseconds
            return changed
        }
    }

    /// Each strategy gets its own downtime model next to its pre-copy fit, recovers its own
    /// constants, predicts its cells' downtime and is what correlate and the report show as the
    /// downtime prediction, beside QEMU's expected_downtime.
    func testTheDowntimeModelIsFittedPerStrategyAndIsTheDowntimePrediction() throws {
        let precopy = Self.withDowntimes(SyntheticSweepResults.results())
        let tls = Self.withDowntimes(SyntheticSweepResults.results(truth: Self.tlsTruth) { $0.tls = true }, downtime: Self.tlsDowntimeTruth,
                                     truth: Self.tlsTruth)
        let analysis = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: precopy + tls)
        let fits = try XCTUnwrap(analysis.fits)
        func converged(_ results: [ScenarioResult]) -> (runs: Int, cells: Int) {
            let landed = results.filter { $0.figures.convergence == .converged }
            return (landed.count, Set(landed.map { SweepAnalysis.cellKey($0.parameters) }).count)
        }
        XCTAssertEqual(converged(precopy).runs, 42, "the fixture: 6 of 48 pre-copy runs do not converge")
        for (strategy, truth, runs) in [("precopy", Self.downtimeTruth, precopy), ("tls", Self.tlsDowntimeTruth, tls)] {
            let downtime = try XCTUnwrap(fits.downtimeFitted(strategy), strategy)
            XCTAssertEqual(downtime.preCopyParameters, fits.fitted(strategy)?.parameters, "on its own strategy's pre-copy fit")
            XCTAssertEqual(downtime.parameters.fixedMilliseconds, truth.fixedMilliseconds, accuracy: 5, strategy)
            let rate = try XCTUnwrap(downtime.parameters.switchOverBytesPerSecond, strategy)
            let truthRate = try XCTUnwrap(truth.switchOverBytesPerSecond)
            XCTAssertEqual(rate / truthRate, 1, accuracy: 0.05, strategy)
            XCTAssertEqual(downtime.observations.count, converged(runs).runs, "the converged runs: \(strategy)")
            XCTAssertEqual(downtime.heldOut.folds, converged(runs).cells, strategy)
            let heldOut = try XCTUnwrap(downtime.heldOut.meanAbsolutePercentageError, strategy)
            XCTAssertLessThan(heldOut, 5, strategy)
            let qemu = try XCTUnwrap(downtime.qemuExpectedDowntime, strategy)
            XCTAssertEqual(qemu.observations, converged(runs).runs, strategy)
            XCTAssertGreaterThan(qemu.meanAbsolutePercentageError, heldOut, "QEMU forecasts the last pass at the link's rate: \(strategy)")
        }
        for cell in analysis.cells where cell.convergedCount > 0 {
            let measured = try XCTUnwrap(cell.libvirtDowntimeMilliseconds?.mean, cell.label)
            let predicted = try XCTUnwrap(cell.predictedDowntimeMilliseconds, cell.label)
            XCTAssertEqual(predicted, measured, accuracy: 0.05 * measured + 1, "the downtime model's prediction: \(cell.label)")
        }

        let text = analysis.text
        let precopyFit = try XCTUnwrap(fits.downtimeFitted("precopy"))
        let lines = text.split(separator: "\n").map(String.init)
        let header = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("  downtime model (the downtime prediction; the pre-copy model's downtime is an upper bound): ") }, text)
        XCTAssertTrue(lines[header].hasSuffix("fixed \(formatNumber(precopyFit.parameters.fixedMilliseconds)) ms + the final pass at "
                                              + "\(formatNumber(try XCTUnwrap(precopyFit.parameters.switchOverBytesPerSecond) / 1_048_576)) MiB/s (switch-over rate)"),
                      lines[header])
        let figures = lines[header + 1]
        XCTAssertTrue(figures.contains("held out \(String(format: "%.1f %%", try XCTUnwrap(precopyFit.heldOut.meanAbsolutePercentageError))) (leave one cell out, 21 fold(s), 42 prediction(s))"), figures)
        XCTAssertTrue(figures.contains("QEMU's expected_downtime \(String(format: "%.1f %%", try XCTUnwrap(precopyFit.qemuExpectedDowntime).meanAbsolutePercentageError)) on 42 run(s)"), figures)
        XCTAssertTrue(figures.hasSuffix("n = 42 run(s) in 21 cell(s); repeats lie "
                                        + "\(String(format: "%.1f %%", try XCTUnwrap(precopyFit.heldOut.repeatSpreadPercent))) from their cell's mean "
                                        + "(the floor under any model's MAPE)"), figures)
        XCTAssertTrue(lines.contains { $0.hasPrefix("    limit: held out, the downtime model is off by") }, text)
        XCTAssertTrue(text.contains("R² migration time 0.9"), text)
        XCTAssertTrue(text.contains(", downtime upper bound "), "the pre-copy model's downtime R² says what it is: \(text)")
        // The cells table's predicted downtime is the downtime model's.
        let cell = try XCTUnwrap(analysis.cells.first { $0.convergedCount > 0 })
        let row = try XCTUnwrap(lines.first { $0.hasPrefix(cell.label) })
        XCTAssertTrue(row.contains(" " + formatNumber(try XCTUnwrap(cell.predictedDowntimeMilliseconds)) + " "), row)
        XCTAssertFalse(row.contains(" " + formatNumber(try XCTUnwrap(cell.predicted?.downtimeMilliseconds)) + " "), "not the pre-copy bound: \(row)")
        assertNoNonFiniteNumbers(text)

        let document = try analysis.reportDocument(store: try temporaryStore())
        for fit in document.fits {
            let model = try XCTUnwrap(fit.downtimeModel, fit.strategy)
            let fitted = try XCTUnwrap(fits.downtimeFitted(fit.strategy))
            XCTAssertEqual(model.fixedMilliseconds, fitted.parameters.fixedMilliseconds)
            XCTAssertEqual(model.switchOverMiBPerSecond, fitted.parameters.switchOverBytesPerSecond.map { $0 / 1_048_576 })
            XCTAssertEqual(model.heldOutMAPEPercent, fitted.heldOut.meanAbsolutePercentageError)
            XCTAssertEqual(model.qemuExpectedDowntimeMAPEPercent, fitted.qemuExpectedDowntime?.meanAbsolutePercentageError)
            XCTAssertEqual(model.qemuRunCount, fitted.observations.count)
            XCTAssertEqual(model.fittedRunCount, converged(fit.strategy == "tls" ? tls : precopy).runs)
        }
        XCTAssertEqual(document.cells.map(\.predictedDowntimeMilliseconds), analysis.cells.map(\.predictedDowntimeMilliseconds))
        let table = try XCTUnwrap(ReportTables.fit(document))
        let heldOutColumn = try XCTUnwrap(table.headers.firstIndex(of: "downtime held-out MAPE %"))
        XCTAssertEqual(table.rows.first?[heldOutColumn], ReportFormat.number(precopyFit.heldOut.meanAbsolutePercentageError))
        let headline = Dictionary(ReportTables.headline(document).map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        XCTAssertTrue(headline["held-out downtime MAPE"]?.hasPrefix("precopy ") ?? false, "\(headline)")
    }

    /// Results stored before QEMU's figure and without libvirt's downtime: the downtime model
    /// says why it has none, and the comparison with QEMU why it is missing.
    func testWithoutDowntimesTheDowntimeModelSaysWhyItIsMissing() throws {
        let withoutDowntime = SyntheticSweepResults.results().map { result -> ScenarioResult in
            var changed = result
            changed.libvirtDowntimeMilliseconds = nil
            return changed
        }
        let analysis = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: withoutDowntime)
        XCTAssertTrue(analysis.text.contains("  downtime model: not fitted: none of the 42 converged pre-copy run(s) has a measured downtime; "
                                             + "the pre-copy model's downtime is an upper bound, not a prediction"), analysis.text)
        XCTAssertTrue(analysis.cells.allSatisfy { $0.predictedDowntimeMilliseconds == nil })
        let document = try analysis.reportDocument(store: try temporaryStore())
        XCTAssertNil(document.fits.first?.downtimeModel)
        let table = try XCTUnwrap(ReportTables.fit(document))
        XCTAssertEqual(table.rows.last, ["downtime model", "–", "not fitted: none of the 42 converged pre-copy run(s) has a measured downtime"])

        let oldResults = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: SyntheticSweepResults.results())
        XCTAssertTrue(oldResults.text.contains("QEMU's expected_downtime not recorded"), oldResults.text)
    }

    func testFitCellsHaveUniqueReadableNamesWhenTheLabelLeavesADifferenceOut() {
        let base = SyntheticSweepResults.results().prefix(2)
        var otherEmulator = Array(base)
        for index in otherEmulator.indices { otherEmulator[index].parameters.emulator = "qemu-7.2" }
        var otherTimeout = Array(base)
        for index in otherTimeout.indices { otherTimeout[index].parameters.timeoutSeconds = 60 }
        let names = SweepAnalysis.fitCellNames(Array(base) + otherEmulator + otherTimeout)
        XCTAssertEqual(names.count, 3, "three cells")
        XCTAssertEqual(Set(names.values).count, 3, "three names: \(names.values.sorted())")
        XCTAssertEqual(Set(names.values), ["live 1024 MiB @ 10 MiB/s bw 125 MiB/s, emulator default",
                                           "live 1024 MiB @ 10 MiB/s bw 125 MiB/s, emulator qemu-7.2",
                                           "live 1024 MiB @ 10 MiB/s bw 125 MiB/s, emulator default (2)"])
    }

    // MARK: one fit per strategy (issue 22)

    /// A TLS copy that costs more: a handshake in the setup, CPU per byte in the first pass.
    static let tlsTruth = PreCopyFitParameters(setupMilliseconds: 2_500, resumeMilliseconds: 40, dirtyRateFactor: 1.0,
                                               scanMillisecondsPerGiB: 900)

    /// Which strategies share a fit: max-downtime=MS is an input of the model per run, so it
    /// joins the rest of its strategy; every other word changes the constants and keeps its own.
    func testTheFitStrategyDropsOnlyTheMaxDowntime() throws {
        func strategy(_ text: String) throws -> String {
            var options = MigrationOptions()
            try MigrationStrategy(parsing: text).apply(to: &options)
            return SweepAnalysis.fitStrategy(options)
        }
        XCTAssertEqual(try strategy("precopy"), "precopy")
        XCTAssertEqual(try strategy("max-downtime=100"), "precopy")
        XCTAssertEqual(try strategy("auto-converge+max-downtime=100"), "auto-converge")
        XCTAssertEqual(try strategy("tls"), "tls")
        XCTAssertEqual(try strategy("tls+parallel=4"), try strategy("parallel=4+tls"), "one name whatever the order of the words")
        XCTAssertEqual(try strategy("parallel=4+compression=zstd"), "parallel=4+compression=zstd")
        XCTAssertNotEqual(try strategy("parallel=4"), try strategy("parallel=8"))
        XCTAssertEqual(try strategy("tunnelled"), "tunnelled")
        XCTAssertEqual(try strategy("client-managed"), "client-managed")
        XCTAssertEqual(try strategy("postcopy+max-downtime=50"), "postcopy")
    }

    /// A sweep of pre-copy (some cells at max-downtime=100) and TLS runs that follow different
    /// constants: each strategy is fitted to its own runs and recovers its own constants, each
    /// cell is predicted by its own strategy's fit, correlate prints a section per strategy,
    /// and the report's table holds each strategy's numbers. A pooled fit would predict neither.
    func testEachStrategyIsFittedToItsOwnRunsAndPredictsItsOwnCells() throws {
        let precopy = SyntheticSweepResults.results()
        let shortDowntime = SyntheticSweepResults.results { $0.qemuMaxDowntimeMilliseconds = 100 }
        let tls = SyntheticSweepResults.results(truth: Self.tlsTruth) { $0.tls = true }
        let all = precopy + tls + shortDowntime
        let analysis = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: all)
        let fits = try XCTUnwrap(analysis.fits)
        XCTAssertEqual(fits.groups.map(\.strategy), ["precopy", "tls"], "max-downtime=100 is fitted with precopy")
        XCTAssertEqual(fits.groups.map(\.indices.count), [precopy.count + shortDowntime.count, tls.count])
        XCTAssertTrue(fits.notDescribed.isEmpty)
        for (strategy, truth) in [("precopy", SyntheticSweepResults.truth), ("tls", Self.tlsTruth)] {
            let fit = try XCTUnwrap(fits.fitted(strategy), strategy)
            XCTAssertEqual(fit.setupMilliseconds, truth.setupMilliseconds, accuracy: 150, strategy)
            XCTAssertEqual(fit.dirtyRateFactor, truth.dirtyRateFactor, accuracy: 0.1, strategy)
            XCTAssertEqual(fit.scanMillisecondsPerGiB, truth.scanMillisecondsPerGiB, accuracy: 60, strategy)
            XCTAssertLessThan(try XCTUnwrap(fit.heldOut.meanAbsolutePercentageError, strategy), 5, strategy)
        }
        for cell in analysis.cells where cell.convergedCount > 0 {
            let measured = try XCTUnwrap(cell.migrationMilliseconds?.mean, cell.label)
            let predicted = try XCTUnwrap(cell.predicted?.totalMilliseconds, cell.label)
            XCTAssertEqual(predicted, measured, accuracy: 0.1 * measured, "predicted by its own strategy's fit: \(cell.label)")
        }
        // What the grouping prevents: one set of constants for both misses the TLS runs.
        func meanError(_ fit: PreCopyFit, _ observations: [MigrationObservation]) -> Double {
            let errors = observations.compactMap { observation -> Double? in
                guard let measured = observation.migrationMilliseconds, observation.converged else { return nil }
                return abs((fit.parameters.predict(observation).totalMilliseconds ?? 0) - measured) / measured * 100
            }
            return errors.reduce(0, +) / Double(max(1, errors.count))
        }
        let tlsObservations = tls.map { SweepAnalysis.observation($0) }
        let pooled = try PreCopyFit.fit(all.map { SweepAnalysis.observation($0) })
        XCTAssertLessThan(meanError(try XCTUnwrap(fits.fitted("tls")), tlsObservations), 3)
        XCTAssertGreaterThan(meanError(pooled, tlsObservations), 10, "pooled, the TLS runs are mispredicted: \(pooled.parameters)")

        let text = analysis.text
        XCTAssertTrue(text.contains("model: pre-copy, fitted per strategy"), text)
        for group in fits.groups {
            let fit = try XCTUnwrap(group.fitted)
            let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("model, \(group.strategy): ") }, text)
            XCTAssertTrue(line.contains("pre-copy fitted to \(fit.observations.count) converging run(s) of \(group.indices.count) live run(s) "
                                        + "in \(group.cells.count) cell(s): setup \(formatNumber(fit.setupMilliseconds)) ms"), String(line))
        }
        XCTAssertTrue(analysis.anyFitted)

        let document = try analysis.reportDocument(store: try temporaryStore())
        XCTAssertEqual(document.fits.map(\.strategy), ["precopy", "tls"])
        XCTAssertEqual(document.unfittedStrategies, [])
        let table = try XCTUnwrap(ReportTables.fit(document))
        XCTAssertEqual(table.title, "Model fit per strategy")
        for (row, group) in zip(table.rows, fits.groups) {
            let fit = try XCTUnwrap(group.fitted)
            func column(_ header: String) throws -> String { row[try XCTUnwrap(table.headers.firstIndex(of: header), header)] }
            XCTAssertEqual(try column("strategy"), group.strategy)
            XCTAssertEqual(try column("runs"), String(group.indices.count))
            XCTAssertEqual(try column("cells"), String(group.cells.count))
            XCTAssertEqual(try column("fitted runs"), String(fit.observations.count))
            XCTAssertEqual(try column("setup ms"), ReportFormat.number(fit.setupMilliseconds, decimals: 3))
            XCTAssertEqual(try column("dirty-rate factor ×"), ReportFormat.number(fit.dirtyRateFactor, decimals: 3))
            XCTAssertEqual(try column("RAM scan ms/GiB"), ReportFormat.number(fit.scanMillisecondsPerGiB, decimals: 3))
            XCTAssertEqual(try column("R² migration time"), ReportFormat.number(fit.timeRSquared, decimals: 3))
            XCTAssertEqual(try column("held-out MAPE %"), ReportFormat.number(fit.heldOut.meanAbsolutePercentageError))
        }
        // Each cell group's model curve comes from its own strategy's fit, at its own max downtime.
        for fit in document.fits {
            XCTAssertEqual(Set(fit.curves.compactMap(\.strategy)), fit.strategy == "precopy" ? ["precopy", "max-downtime=100"] : ["tls"])
        }
    }

    /// Post-copy runs are listed as not described by the pre-copy model and never fitted, however
    /// many cells they have: the pre-copy fit is the one made without them.
    func testPostCopyRunsAreListedAndNeverFitted() throws {
        let precopy = SyntheticSweepResults.results()
        // Post-copy lands every cell, sooner than pre-copy could: nothing a pre-copy fit should see.
        let postCopy = SyntheticSweepResults.results { $0.postCopy = true }.map { result -> ScenarioResult in
            var landed = result
            landed.figures.convergence = .converged
            landed.migrationMilliseconds = 1_000 + Double(landed.parameters.memoryMiB)
            landed.libvirtDowntimeMilliseconds = 5
            return landed
        }
        let analysis = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: precopy + postCopy)
        let fits = try XCTUnwrap(analysis.fits)
        XCTAssertEqual(fits.groups.map(\.strategy), ["precopy"])
        XCTAssertEqual(fits.groups.first?.fit, SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: precopy).onlyFit,
                       "the pre-copy fit is the one without the post-copy runs")
        XCTAssertEqual(fits.notDescribed.map(\.strategy), ["postcopy"])
        XCTAssertEqual(fits.notDescribed.first?.indices.count, postCopy.count)
        XCTAssertEqual(fits.notDescribed.first?.cells.count, 24)
        for cell in analysis.cells where cell.parameters.migration.postCopy {
            XCTAssertNil(cell.predicted, "no pre-copy prediction for \(cell.label)")
        }
        XCTAssertTrue(analysis.text.contains("model, postcopy: not described by the pre-copy model, not fitted (\(postCopy.count) run(s) in 24 cell(s))"),
                      analysis.text)
        let document = try analysis.reportDocument(store: try temporaryStore())
        XCTAssertEqual(document.fits.map(\.strategy), ["precopy"])
        XCTAssertEqual(document.unfittedStrategies.map(\.strategy), ["postcopy"])
        XCTAssertEqual(document.unfittedStrategies.first?.runCount, postCopy.count)
        XCTAssertTrue(document.unfittedStrategies.first?.reason.hasPrefix("not described by the pre-copy model") ?? false)

        // A sweep of post-copy alone has no model, and says why.
        let alone = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: postCopy)
        XCTAssertFalse(alone.anyFitted)
        XCTAssertTrue(alone.text.contains("model: not fitted: every live run is post-copy, which the pre-copy model does not describe"), alone.text)
    }

    /// A strategy with too few cells says so in its section while the others are fitted; a
    /// sweep of one strategy reads as it always did.
    func testAStrategyWithTooFewCellsSaysSoAndOneStrategyReadsAsBefore() throws {
        let precopy = SyntheticSweepResults.results()
        let tls = Array(SyntheticSweepResults.results { $0.tls = true }.prefix(4))  // two cells of two repeats
        let analysis = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: precopy + tls)
        XCTAssertTrue(analysis.text.contains("model, tls: not fitted (4 live run(s) in 2 cell(s)): "
                                             + PreCopyFitError.tooFewCells(converging: 2, needed: 4).description), analysis.text)
        XCTAssertTrue(analysis.anyFitted)
        for cell in analysis.cells where cell.parameters.migration.tls == true {
            XCTAssertNil(cell.predicted, "no fit of its own, no prediction: \(cell.label)")
        }
        let document = try analysis.reportDocument(store: try temporaryStore())
        XCTAssertEqual(document.unfittedStrategies, [ReportUnfittedStrategy(
            strategy: "tls", runCount: 4, cellCount: 2, reason: "not fitted: " + PreCopyFitError.tooFewCells(converging: 2, needed: 4).description)])

        let one = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: precopy).text
        XCTAssertTrue(one.contains("\nmodel: pre-copy fitted to 42 converging run(s): setup "), one)
        XCTAssertFalse(one.contains("per strategy"), one)
        XCTAssertFalse(one.contains("model, "), one)
    }

    // MARK: degenerate sweeps

    func assertNotFitted(_ results: [ScenarioResult], because expected: PreCopyFitError, file: StaticString = #filePath, line: UInt = #line) {
        let analysis = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: results)
        guard case .failure(let error)? = analysis.onlyFit else {
            return XCTFail("expected no fit, got \(String(describing: analysis.onlyFit))", file: file, line: line)
        }
        XCTAssertEqual(error, expected, file: file, line: line)
        XCTAssertTrue(analysis.text.contains("model: not fitted: \(expected.description)"), analysis.text, file: file, line: line)
        assertNoNonFiniteNumbers(analysis.text, file: file, line: line)
        XCTAssertLessThan(analysis.text.split(separator: "\n").map(\.count).max() ?? 0, 400, "no line carries a JSON key: \(analysis.text)",
                          file: file, line: line)
    }

    /// Under auto-converge the model races the copy against the throttled guest's rate while
    /// migrated; every other strategy against the rate the guest settled at before.
    func testAutoConvergeRunsAreModelledAtTheThrottledRate() throws {
        var run = try XCTUnwrap(SyntheticSweepResults.results().first)
        run.achievedDirtyRateMiBPerSecond = 100
        run.figures.guestDirtyRateDuringMigrationMiBPerSecond = 30
        XCTAssertEqual(SweepAnalysis.observation(run).dirtyRateBytesPerSecond, 100 * 1_048_576)
        run.parameters.migration.autoConverge = true
        XCTAssertEqual(SweepAnalysis.observation(run).dirtyRateBytesPerSecond, 30 * 1_048_576)
        run.figures.guestDirtyRateDuringMigrationMiBPerSecond = nil
        XCTAssertEqual(SweepAnalysis.observation(run).dirtyRateBytesPerSecond, 100 * 1_048_576, "no reading: the settled rate")
    }

    /// The guest's rate during the pre-copy passes, when memeater's history said it, is what the
    /// model races the copy against (and where the report plots the run), whatever the strategy.
    func testThePreCopyRateIsFedToTheModelWhenMeasured() throws {
        var run = try XCTUnwrap(SyntheticSweepResults.results().first)
        run.achievedDirtyRateMiBPerSecond = 100
        run.figures.guestDirtyRateDuringMigrationMiBPerSecond = 30
        run.figures.guestDirtyRatePreCopyMiBPerSecond = 42
        XCTAssertEqual(SweepAnalysis.observation(run).dirtyRateBytesPerSecond, 42 * 1_048_576)
        run.parameters.migration.autoConverge = true
        XCTAssertEqual(SweepAnalysis.observation(run).dirtyRateBytesPerSecond, 42 * 1_048_576)
        let cell = SweepAnalysis.cell([run, run], fit: nil)
        XCTAssertEqual(cell.achievedDirtyRateMiBPerSecond?.mean, 42, "the cell is plotted at the rate the model took")
    }

    /// The model curve spans the rates of the runs plotted (the converged ones), not those of
    /// a run that never landed however fast its guest dirtied.
    func testTheModelCurveSpansTheConvergedRunsRates() throws {
        var results = SyntheticSweepResults.results()
        let stuck = try XCTUnwrap(results.firstIndex { $0.figures.convergence == .didNotConverge })
        results[stuck].achievedDirtyRateMiBPerSecond = 5000
        let analysis = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: results)
        let fit = try XCTUnwrap(try analysis.reportDocument(store: temporaryStore()).fits.first)
        let fastest = try XCTUnwrap(results.filter { $0.figures.convergence == .converged }.map(SweepAnalysis.modelDirtyRateMiBPerSecond).max())
        let widest = try XCTUnwrap(fit.curves.flatMap(\.points).map(\.dirtyRateMiBPerSecond).max())
        XCTAssertEqual(widest, fastest * 1.1, accuracy: 1e-6)
    }

    func testOneRunIsNotFittedAndSaysWhy() throws {
        let one = try XCTUnwrap(SyntheticSweepResults.results().first)
        assertNotFitted([one], because: .tooFewCells(converging: 1, needed: 4))
        let analysis = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: [one])
        XCTAssertNil(analysis.cells.first?.migrationMilliseconds?.confidenceInterval95, "one value has no interval")
        XCTAssertNil(analysis.cells.first?.predicted)
    }

    func testASweepWhereNothingConvergedIsNotFitted() {
        let stuck = SyntheticSweepResults.results().map { result -> ScenarioResult in
            var stuck = result
            stuck.figures.convergence = .didNotConverge
            stuck.migrationMilliseconds = nil
            stuck.libvirtDowntimeMilliseconds = nil
            stuck.pingDowntimeMilliseconds = nil
            return stuck
        }
        assertNotFitted(stuck, because: .noConvergingObservations(excluded: stuck.count))
        let analysis = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: stuck)
        XCTAssertTrue(analysis.boundaries.allSatisfy { $0.highestConvergingMiBPerSecond == nil && $0.lowestNonConvergingMiBPerSecond == 10 })
        XCTAssertTrue(analysis.text.contains("below 10 MiB/s (no rate converged)"), analysis.text)
    }

    func testADirtyRateAtOrAboveTheTransferRateEverywhereIsNotFitted() {
        let flooded = SyntheticSweepResults.results().map { result -> ScenarioResult in
            var flooded = result
            let transfer = flooded.figures.transferRateMiBPerSecond ?? 0
            flooded.achievedDirtyRateMiBPerSecond = transfer * (flooded.parameters.repetition == 1 ? 1 : 1.5)
            flooded.figures.convergence = .didNotConverge
            flooded.migrationMilliseconds = nil
            return flooded
        }
        assertNotFitted(flooded, because: .dirtyRateNotBelowTransferRate(observations: flooded.count))
    }

    func testARunWithNoTransferRateIsNotFittedWithAReadableMessage() {
        var results = SyntheticSweepResults.results()
        results[0].figures.transferRateMiBPerSecond = nil
        results[0].parameters.migration.bandwidthMiBPerSecond = nil
        let analysis = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: results)
        guard case .failure(.invalidTransferRate(let cell, _))? = analysis.onlyFit else {
            return XCTFail("expected an invalid transfer rate, got \(String(describing: analysis.onlyFit))")
        }
        XCTAssertTrue(cell.contains("1024 MiB @ 10 MiB/s"), "the cell is named so that a person finds it: \(cell)")
        assertNoNonFiniteNumbers(analysis.text)
    }

    // MARK: the report's document

    func testTheReportDocumentMapsTheStoredCellsRunsAndFit() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("verifier-analysis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try ResultsStore(path: directory.appendingPathComponent("results.sqlite").path)
        let results = SyntheticSweepResults.results()
        let stored = try SyntheticSweepResults.store(results, as: "synthetic", in: store)
        let firstRunID = try XCTUnwrap(stored.first?.runID)
        for (offset, iteration) in [(4_100.0, UInt64(1)), (4_600, 1), (5_100, 2)] {
            try store.add(JobSample(offsetMilliseconds: offset, jobType: "unbounded", dataRemainingBytes: 64 * 1_048_576,
                                    memoryDirtyRateBytesPerSecond: 10 * 1_048_576, memoryIteration: iteration,
                                    memoryBandwidthBytesPerSecond: 118 * 1_048_576), runID: firstRunID)
        }
        // One more slot that never ran: the document says the sweep is incomplete.
        var missing = results[0].parameters
        missing.repetition = 3
        _ = try store.appendSlots(sweepID: "synthetic", [missing])

        let analysis = try SweepAnalysis(store: store, sweepID: "synthetic")
        XCTAssertEqual(analysis.missingSlotCount, 1)
        XCTAssertEqual(analysis.results.map(\.runID), stored.map(\.runID))
        let document = try analysis.reportDocument(store: store)

        XCTAssertEqual(document.sweepID, "synthetic")
        XCTAssertEqual(document.environment.accelerator, .kvm)
        XCTAssertTrue(document.notes.contains { $0.hasPrefix("1 run(s) of the sweep have no result yet") }, "\(document.notes)")
        XCTAssertEqual(document.cells.map(\.label), analysis.cells.map(\.label))
        let firstCell = try XCTUnwrap(document.cells.first)
        XCTAssertEqual(firstCell.runCount, 2)
        XCTAssertEqual(firstCell.convergedCount, 2)
        XCTAssertEqual(firstCell.migrationMilliseconds.count, 2)
        XCTAssertEqual(firstCell.migrationMilliseconds.mean ?? 0, analysis.cells[0].migrationMilliseconds?.mean ?? -1, accuracy: 1e-9)
        XCTAssertNotNil(firstCell.migrationMilliseconds.confidenceLow)
        XCTAssertEqual(firstCell.parameters.bandwidthLimitMiBPerSecond, 125)
        XCTAssertEqual(firstCell.predictedMigrationMilliseconds, analysis.cells[0].predicted?.totalMilliseconds)

        XCTAssertEqual(document.runs.map(\.runID), stored.map { $0.runID.map(String.init) ?? "?" })
        let stuckRun = try XCTUnwrap(document.runs.first { !$0.converged })
        XCTAssertEqual(stuckRun.failedChecks, [CheckName.migrationOutcome])
        XCTAssertNotNil(stuckRun.remainingMiBAtEnd)
        let landed = try XCTUnwrap(document.runs.first)
        XCTAssertEqual(landed.announceDelayMilliseconds ?? 0, SyntheticSweepResults.announceDelayMilliseconds, accuracy: 1e-6)
        XCTAssertEqual(landed.repetition, 1)

        XCTAssertEqual(document.fits.count, 1, "a sweep of one strategy has one fit")
        XCTAssertEqual(document.unfittedStrategies, [])
        let fit = try XCTUnwrap(document.fits.first)
        guard case .success(let analysed)? = analysis.onlyFit else { return XCTFail("not fitted") }
        XCTAssertEqual(fit.strategy, "precopy")
        XCTAssertEqual(fit.runCount, results.count)
        XCTAssertEqual(fit.cellCount, analysis.cells.count)
        XCTAssertEqual(fit.fittedRunCount, analysed.observations.count)
        XCTAssertEqual(fit.parameters.map(\.name), ["setup", "resume", "dirty-rate factor", "RAM scan"])
        XCTAssertEqual(fit.parameters.map(\.value), [analysed.setupMilliseconds, analysed.resumeMilliseconds,
                                                     analysed.dirtyRateFactor, analysed.scanMillisecondsPerGiB])
        XCTAssertEqual(fit.rSquaredMigrationTime, analysed.timeRSquared)
        XCTAssertEqual(fit.heldOutMAPEPercent, analysed.heldOut.meanAbsolutePercentageError)
        XCTAssertEqual(Set(fit.curves.map(\.memoryMiB)), Set(SyntheticSweepResults.memorySizesMiB))
        XCTAssertEqual(fit.curves.count, 6, "one model curve per memory size and bandwidth limit (each has its own transfer rate)")
        XCTAssertEqual(Set(fit.curves.map(\.bandwidthLimitMiBPerSecond)).count, 2)

        XCTAssertEqual(document.boundaries.count, 6)
        XCTAssertEqual(document.boundaries.first?.highestConvergingMiBPerSecond, 60)
        XCTAssertEqual(document.boundaries.first?.lowestNonConvergingMiBPerSecond, 110)
        XCTAssertEqual(document.timelines.count, 12, "at most 12 timelines by default")
        let timeline = try XCTUnwrap(document.timelines.first)
        XCTAssertEqual(timeline.runID, String(firstRunID))
        XCTAssertEqual(timeline.samples.count, 3)
        XCTAssertEqual(timeline.iterationMarks.map(\.iteration), [1, 2])
        XCTAssertEqual(timeline.announceFrames.count, 1)
    }

    // MARK: what the report plots is what happened (issue 25)

    func temporaryStore() throws -> ResultsStore {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("verifier-analysis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        return try ResultsStore(path: directory.appendingPathComponent("results.sqlite").path)
    }

    /// A cell is placed at the dirty rate its converged runs achieved, the rate the model
    /// curve is drawn over: an unlimited cell (target 0) at what its guest reached, an
    /// auto-converge cell at the throttled rate while migrated, a cell none of whose runs
    /// converged nowhere; and the curve reaches the highest of them.
    func testACellIsPlacedAtTheRateItsConvergedRunsAchievedNotAtItsTarget() throws {
        var results = SyntheticSweepResults.results()
        let mib = SyntheticSweepResults.mib
        func landed(rate: Double, achieved: Double, repetition: Int, autoConverge: Bool = false, throttled: Double? = nil) -> ScenarioResult {
            var parameters = Fixtures.parameters(memoryMiB: 1024, rate: rate)
            parameters.memeaterSizeMiB = 512
            parameters.migration.bandwidthMiBPerSecond = 1000
            parameters.migration.autoConverge = autoConverge
            parameters.repetition = repetition
            let prediction = SyntheticSweepResults.truth.predict(
                memoryBytes: 1024 * mib, dirtySetBytes: 512 * mib, pattern: .sequential, dirtyRateBytesPerSecond: (throttled ?? achieved) * mib,
                transferRateBytesPerSecond: 940 * mib, maxDowntimeMilliseconds: 300, timeoutSeconds: parameters.timeoutSeconds)
            var result = SyntheticSweepResults.result(parameters, prediction: prediction, wobble: 0, achievedMiBPerSecond: achieved,
                                                      transferRateMiBPerSecond: 940, startedAt: Date(timeIntervalSince1970: 1_760_000_000))
            result.figures.guestDirtyRateDuringMigrationMiBPerSecond = throttled
            return result
        }
        results += [landed(rate: 0, achieved: 296, repetition: 1), landed(rate: 0, achieved: 304, repetition: 2),
                    landed(rate: 50, achieved: 49, repetition: 1, autoConverge: true, throttled: 20),
                    landed(rate: 50, achieved: 51, repetition: 2, autoConverge: true, throttled: 24)]
        let analysis = SweepAnalysis(sweep: SyntheticSweepResults.sweep, results: results)
        let document = try analysis.reportDocument(store: try temporaryStore())

        let unlimited = try XCTUnwrap(document.cells.first { $0.parameters.targetDirtyRateMiBPerSecond == 0 })
        XCTAssertEqual(unlimited.achievedDirtyRateMiBPerSecond.mean, 300)
        XCTAssertEqual(unlimited.achievedDirtyRateMiBPerSecond.count, 2)
        let autoConverge = try XCTUnwrap(document.cells.first { $0.parameters.strategy.contains("auto-converge") })
        XCTAssertEqual(autoConverge.achievedDirtyRateMiBPerSecond.mean, 22, "the throttled rate the model races against")
        for cell in document.cells where cell.parameters.targetDirtyRateMiBPerSecond > 0 && !cell.parameters.strategy.contains("auto-converge") {
            if cell.convergedCount == 0 {
                XCTAssertEqual(cell.achievedDirtyRateMiBPerSecond.count, 0, "\(cell.label): no converged run, no point")
            } else {
                let achieved = try XCTUnwrap(cell.achievedDirtyRateMiBPerSecond.mean, cell.label)
                XCTAssertEqual(achieved, cell.parameters.targetDirtyRateMiBPerSecond * SyntheticSweepResults.achievedOverTarget,
                               accuracy: 1e-9, cell.label)
            }
        }
        XCTAssertTrue(document.cells.contains { $0.convergedCount == 0 }, "the sweep has a cell that never converged")
        let curve = try XCTUnwrap(document.fits.first?.curves.first { $0.memoryMiB == 1024 && $0.bandwidthLimitMiBPerSecond == 1000 })
        XCTAssertGreaterThanOrEqual(curve.points.map(\.dirtyRateMiBPerSecond).max() ?? 0, 304, "the curve reaches the unlimited cell")
        XCTAssertTrue(document.cells.allSatisfy { $0.failureScenario == nil })
    }

    /// A failure run reaches the report as what its records say: its fault's acted moment and
    /// the verifier's abort on the run clock, the job type of each sample, the daemons' events
    /// by kind and host, the fault's untimed record (its drop counter, its removal) and what is
    /// not timed; its outcome from its checks and its stored observation.
    func testAFailureRunReachesTheReportWithItsFaultsMomentsPlacementAndLeftovers() throws {
        let store = try temporaryStore()
        var live = SyntheticSweepResults.results()[0]
        live.parameters.endpoints = Fixtures.endpoints
        var failure = ScenarioResult(parameters: Fixtures.parameters(.performFail, memoryMiB: 1024), accel: "kvm",
                                     qemuVersion: "10.0.2", libvirtVersion: "11.3.0", startedAt: Date(timeIntervalSince1970: 1_750_000_600))
        failure.add(Check(name: CheckName.migrationOutcome, passed: true, evidence: "libvirt reported failure"))
        failure.add(Check(name: CheckName.guestOnSource, passed: true, evidence: "lab-guest is running on src"))
        failure.add(Check(name: CheckName.destinationHostClean, passed: false, evidence: "qemu process 4242 of lab-guest on dst"))
        failure.add(Check(name: CheckName.migrationPortFree, passed: true, evidence: "nothing listens"))
        failure.fault = FaultEvidence(scenario: .performFail, acted: true, evidence: "the firewall on dst dropped 6 packets to TCP 49152-49216",
                                      actedAtMilliseconds: 2_100, errorAsExpected: true, errorEvidence: "unable to connect",
                                      removed: true, removalEvidence: "the nft table migverify_fault is gone from dst")
        failure.figures.abortOffsetMilliseconds = 9_000
        failure.figures.migrationStartOffsetMilliseconds = 1_735
        failure.figures.migrationEndOffsetMilliseconds = 11_528
        failure.figures.pingGaps = [TimedSpan(startOffsetMilliseconds: 1_580, lengthMilliseconds: 27.5)]
        let stored = try SyntheticSweepResults.store([live, failure], as: "mixed", in: store)
        let runID = try XCTUnwrap(stored[1].runID)
        for (offset, type) in [(1_736.0, "none"), (1_836, "unbounded"), (2_436, "failed")] {
            try store.add(JobSample(offsetMilliseconds: offset, jobType: type, dataRemainingBytes: 0), runID: runID)
        }
        try store.add(EventRecord(offsetMilliseconds: 2_372, host: "destination", description: "lab-guest lifecycle started detail 1"), runID: runID)
        try store.add(EventRecord(offsetMilliseconds: 3_000, host: "source", description: "lab-guest migration-iteration 1"), runID: runID)
        try store.add(Fixtures.observation(.staysOnSource), leg: .forward, runID: runID)

        let document = try SweepAnalysis(store: store, sweepID: "mixed").reportDocument(store: store)
        XCTAssertEqual(document.cells.map(\.failureScenario), [nil, "perform-fail"])
        XCTAssertNil(document.runs[0].failure, "a live run has no failure outcome")
        let run = document.runs[1]
        XCTAssertEqual(run.failure, ReportFailureOutcome(scenario: "perform-fail", expectation: "stays on the source",
                                                         guestPlacement: "source: running (booted); destination: none",
                                                         leftovers: "destination-host-clean: qemu process 4242 of lab-guest on dst"))
        XCTAssertEqual(run.passedCheckCount, 3)

        let timeline = try XCTUnwrap(document.timelines.first { $0.runID == String(runID) })
        XCTAssertEqual(timeline.failureScenario, "perform-fail")
        XCTAssertEqual(timeline.faults, [.init(milliseconds: 2_100, text: "fault acted (perform-fail)"),
                                         .init(milliseconds: 9_000, text: "verifier aborted the job")])
        XCTAssertEqual(timeline.samples.map(\.jobType), ["none", "unbounded", "failed"])
        XCTAssertEqual(timeline.hostEvents, [
            .init(milliseconds: 2_372, host: "destination", kind: "lifecycle started", text: "lifecycle started detail 1"),
            .init(milliseconds: 3_000, host: "source", kind: "migration-iteration", text: "migration-iteration 1"),
        ])
        XCTAssertEqual(timeline.untimedFaultEvidence, ["the firewall on dst dropped 6 packets to TCP 49152-49216",
                                                       "removed: the nft table migverify_fault is gone from dst"])
        XCTAssertEqual(timeline.notRecorded.count, 2)
        XCTAssertTrue(timeline.notRecorded[0].contains("steps"), timeline.notRecorded[0])
        XCTAssertTrue(timeline.notRecorded[1].contains("installed and when it was removed"), timeline.notRecorded[1])
        XCTAssertEqual(timeline.migrationStartMilliseconds, 1_735)
        XCTAssertNil(document.timelines.first?.failureScenario, "the live run keeps the progress timeline")
    }
}
