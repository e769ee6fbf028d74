import Foundation
import MigrationModel
import XCTest

/// One noisy run must not bend the fit (issue 25): outliers are named, and left out only where
/// their cell's other repeats agree with the model.
final class RobustFitTests: XCTestCase {
    /// The tolerances the noise-free sweep meets (``PreCopyFitTests/testNoiseFreeSweepRecoversTheParameters``).
    func recovers(_ parameters: PreCopyFitParameters) -> Bool {
        let truth = SyntheticSweep.truth
        return abs(parameters.setupMilliseconds - truth.setupMilliseconds) <= 5
            && abs(parameters.resumeMilliseconds - truth.resumeMilliseconds) <= 2
            && abs(parameters.dirtyRateFactor - truth.dirtyRateFactor) <= 0.01
            && abs(parameters.scanMillisecondsPerGiB - truth.scanMillisecondsPerGiB) <= 3
    }

    /// `sweep` with the time of the runs at `indices` multiplied by `factor`.
    func scaled(_ sweep: [MigrationObservation], _ indices: [Int], by factor: Double) -> [MigrationObservation] {
        var copy = sweep
        for index in indices { copy[index].migrationMilliseconds = copy[index].migrationMilliseconds.map { $0 * factor } }
        return copy
    }

    /// The positions of the runs of `cell`, in order.
    func runs(of cell: String, in sweep: [MigrationObservation]) -> [Int] {
        sweep.indices.filter { sweep[$0].cell == cell }
    }

    func testOneDoubledRunIsLeftOutNamedAndTheFitRecoversTheParameters() throws {
        let clean = SyntheticSweep.observations(repeats: 3)
        // A short migration: the fit weighs relative errors, so a slow short run pulls hardest.
        let cell = "1GiB/10MiBps/1000MiBps"
        let repeats = runs(of: cell, in: clean)
        XCTAssertEqual(repeats.count, 3)
        XCTAssertTrue(repeats.allSatisfy { clean[$0].converged }, "the fixture's cell converges")
        let doubled = repeats[1]
        let sweep = scaled(clean, [doubled], by: 2)

        let naive = try PreCopyFit.fit(sweep, robust: false)
        XCTAssertFalse(recovers(naive.parameters), "the doubled run bends a plain least-squares fit: \(naive.parameters)")
        let fit = try PreCopyFit.fit(sweep)
        XCTAssertTrue(recovers(fit.parameters), "left out, it no longer bends the fit: \(fit.parameters)")

        let outlier = try XCTUnwrap(fit.outliers.first)
        XCTAssertEqual(fit.outliers.count, 1, "\(fit.outliers)")
        XCTAssertEqual(outlier.index, doubled)
        XCTAssertEqual(outlier.cell, cell)
        XCTAssertTrue(outlier.leftOut)
        let measured = try XCTUnwrap(sweep[doubled].migrationMilliseconds)
        XCTAssertEqual(outlier.measuredMilliseconds, measured)
        XCTAssertEqual(outlier.predictedMilliseconds ?? 0, measured / 2, accuracy: measured * 0.005, "predicted by the fit without it")
        XCTAssertTrue(outlier.reason.hasPrefix("residual outlier: measured \(formatNumber(measured)) ms, predicted "), outlier.reason)
        XCTAssertTrue(outlier.reason.contains("(+100 %), while its cell's other repeat(s) are within 1 %; left out of the fit"), outlier.reason)
        XCTAssertEqual(fit.leftOutOutliers, [outlier])

        // Left out: an exclusion of its own, not in the rows, R² or the held-out predictions.
        XCTAssertEqual(fit.exclusions.first { $0.index == doubled }?.reason, outlier.reason)
        XCTAssertFalse(fit.observations.contains { $0.index == doubled })
        XCTAssertEqual(fit.observations.count + fit.exclusions.count, sweep.count)
        XCTAssertEqual(fit.exclusions.map(\.index), fit.exclusions.map(\.index).sorted(), "exclusions in input order")
        XCTAssertEqual(fit.heldOut.folds, Set(sweep.filter(\.converged).map(\.cell)).count, "its cell is still held out")
        XCTAssertEqual(fit.heldOut.predictions, fit.observations.count, "held out, the cell's other repeats are predicted, not the outlier")
        XCTAssertLessThan(fit.heldOut.meanAbsolutePercentageError ?? 100, 1)
        XCTAssertGreaterThan(fit.timeRSquared ?? 0, 0.999)
        XCTAssertTrue(fit.limits.contains { $0.hasPrefix("1 run(s) left out of the fit as residual outlier(s) (\(cell))") }, "\(fit.limits)")
        XCTAssertTrue(fit.notes.contains { $0.contains("(1 as residual outlier(s))") }, "\(fit.notes)")

        // Without robustness the same run is named, but kept.
        XCTAssertEqual(naive.outliers.map(\.index), [doubled])
        XCTAssertEqual(naive.outliers.first?.leftOut, false)
        XCTAssertTrue(naive.outliers.first?.reason.hasSuffix("kept: robust fitting is off") ?? false, "\(naive.outliers)")
        XCTAssertTrue(naive.observations.contains { $0.index == doubled })
    }

    /// Noise within what repeats show (±8 % here) flags nothing, and the fit is the plain one.
    func testCleanDataFlagsNothingAndTheFitIsThePlainOne() throws {
        for sweep in [SyntheticSweep.observations(repeats: 1), SyntheticSweep.observations(noise: 0.08, repeats: 3)] {
            let fit = try PreCopyFit.fit(sweep)
            XCTAssertEqual(fit.outliers, [], "\(fit.outliers.map(\.reason))")
            XCTAssertEqual(fit, try PreCopyFit.fit(sweep, robust: false), "nothing left out: the fit is unchanged")
            XCTAssertFalse(fit.limits.contains { $0.contains("outlier") || $0.contains("stand far") }, "\(fit.limits)")
        }
    }

    /// Two repeats that disagree wildly: the model cannot tell which is right, so neither is
    /// left out (that would drop the cell); both are named as kept.
    func testACellWhoseRepeatsDisagreeWildlyIsNotDroppedWhole() throws {
        let clean = SyntheticSweep.observations(repeats: 2)
        let cell = "2GiB/10MiBps/125MiBps"
        let repeats = runs(of: cell, in: clean)
        XCTAssertEqual(repeats.count, 2)
        var sweep = scaled(clean, [repeats[0]], by: 2.5)
        sweep = scaled(sweep, [repeats[1]], by: 0.4)
        let fit = try PreCopyFit.fit(sweep)
        XCTAssertEqual(fit.outliers.map(\.index), repeats, "both stand far from the model: \(fit.outliers.map(\.reason))")
        XCTAssertTrue(fit.outliers.allSatisfy { !$0.leftOut && $0.reason.contains("other repeat(s) stand off too") }, "\(fit.outliers)")
        XCTAssertEqual(fit.observations.filter { $0.cell == cell }.count, 2, "the cell is fitted whole")
        XCTAssertTrue(fit.limits.contains { $0.hasPrefix("2 run(s) stand far from the model but stay in the fit (\(cell))") }, "\(fit.limits)")

        // A cell of one run is never left out either.
        let single = SyntheticSweep.observations(repeats: 1)
        let only = try XCTUnwrap(runs(of: "4GiB/30MiBps/125MiBps", in: single).first)
        let singleFit = try PreCopyFit.fit(scaled(single, [only], by: 2))
        XCTAssertEqual(singleFit.outliers.map(\.index), [only])
        XCTAssertEqual(singleFit.outliers.first?.leftOut, false)
        XCTAssertTrue(singleFit.outliers.first?.reason.hasSuffix("kept: the only run of its cell, and a cell is never left out") ?? false,
                      "\(singleFit.outliers)")
    }

    /// One slow repeat in each of many cells: at most 1 run in 8 is left out, the farthest.
    func testAtMostTheAllowedShareIsLeftOut() throws {
        let clean = SyntheticSweep.observations(repeats: 3)
        let converged = clean.indices.filter { clean[$0].converged }
        // The first repeat of 16 converging cells, each 1.4 to 2.9 times slower: more than the share.
        let cells = PreCopyFitCells.ordered(converged.map { clean[$0].cell }).prefix(16)
        let slowed = cells.enumerated().map { (order: $0.offset, index: runs(of: $0.element, in: clean)[0]) }
        var sweep = clean
        for entry in slowed {
            sweep = scaled(sweep, [entry.index], by: 1.4 + 0.1 * Double(entry.order))
        }
        let fit = try PreCopyFit.fit(sweep)
        let allowed = converged.count / PreCopyFit.outlierShareDenominator
        XCTAssertLessThan(allowed, slowed.count, "the fixture has more outliers than the share")
        XCTAssertEqual(fit.leftOutOutliers.count, allowed, "\(fit.outliers.map(\.reason))")
        XCTAssertEqual(fit.leftOutOutliers.map(\.index), slowed.suffix(allowed).map(\.index), "the slowest are left out")
        XCTAssertTrue(fit.outliers.filter { !$0.leftOut }.allSatisfy { $0.reason.contains("at most \(allowed) of the") },
                      "\(fit.outliers.filter { !$0.leftOut }.map(\.reason))")
        XCTAssertEqual(fit.observations.count, converged.count - allowed)
    }
}

/// Cells in order of first appearance.
enum PreCopyFitCells {
    static func ordered(_ cells: [String]) -> [String] {
        var seen = Set<String>()
        return cells.filter { seen.insert($0).inserted }
    }
}
