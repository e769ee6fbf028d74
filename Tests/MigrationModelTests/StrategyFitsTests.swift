import Foundation
import MigrationModel
import XCTest

final class StrategyFitsTests: XCTestCase {
    /// A second strategy whose copy costs more: a longer setup (a handshake) and a slower
    /// first pass (CPU per byte scanned), on the same links and guests.
    static let tlsTruth = PreCopyFitParameters(setupMilliseconds: 2_500, resumeMilliseconds: 40, dirtyRateFactor: 1.0,
                                               scanMillisecondsPerGiB: 900)

    /// `SyntheticSweep`'s observations made with `parameters`, their cells named after `strategy`.
    func sweep(_ strategy: String, _ parameters: PreCopyFitParameters, repeats: Int = 1) -> [MigrationObservation] {
        SyntheticSweep.observations(parameters: parameters, repeats: repeats).map { observation in
            var copy = observation
            copy.strategy = strategy
            copy.cell = "\(strategy) \(observation.cell)"
            return copy
        }
    }

    func assertRecovers(_ fit: PreCopyFit?, _ truth: PreCopyFitParameters, _ what: String,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let fit = try XCTUnwrap(fit, "\(what) not fitted", file: file, line: line)
        XCTAssertEqual(fit.setupMilliseconds, truth.setupMilliseconds, accuracy: 10, what, file: file, line: line)
        XCTAssertEqual(fit.dirtyRateFactor, truth.dirtyRateFactor, accuracy: 0.02, what, file: file, line: line)
        XCTAssertEqual(fit.scanMillisecondsPerGiB, truth.scanMillisecondsPerGiB, accuracy: 10, what, file: file, line: line)
        XCTAssertLessThan(fit.heldOut.meanAbsolutePercentageError ?? 100, 1, what, file: file, line: line)
    }

    /// Two strategies whose runs follow different constants: each strategy's fit recovers its
    /// own, while one fit over both recovers neither and predicts held-out cells worse.
    func testEachStrategyRecoversItsOwnParametersWhereAPooledFitRecoversNeither() throws {
        let observations = sweep("precopy", SyntheticSweep.truth) + sweep("tls", Self.tlsTruth)
        let fits = StrategyFits.fit(observations)
        XCTAssertEqual(fits.groups.map(\.strategy), ["precopy", "tls"])
        XCTAssertEqual(fits.groups.map(\.indices.count), [observations.count / 2, observations.count / 2])
        XCTAssertTrue(fits.notDescribed.isEmpty)
        try assertRecovers(fits.fitted("precopy"), SyntheticSweep.truth, "precopy")
        try assertRecovers(fits.fitted("tls"), Self.tlsTruth, "tls")
        for group in fits.groups {
            let fit = try XCTUnwrap(group.fitted)
            XCTAssertEqual(Set(fit.observations.map(\.cell) + fit.exclusions.map(\.cell)), Set(group.cells),
                           "\(group.strategy) saw its own cells only")
            XCTAssertTrue(group.cells.allSatisfy { $0.hasPrefix(group.strategy + " ") }, "\(group.cells)")
        }

        // What the grouping prevents: one set of constants for both.
        let pooled = try PreCopyFit.fit(observations)
        let setupOff = [SyntheticSweep.truth, Self.tlsTruth].map { abs(pooled.setupMilliseconds - $0.setupMilliseconds) }
        XCTAssertGreaterThan(setupOff.min() ?? 0, 200, "a pooled fit lands between the strategies: \(pooled.parameters)")
        let pooledMAPE = try XCTUnwrap(pooled.heldOut.meanAbsolutePercentageError)
        XCTAssertGreaterThan(pooledMAPE, 5, "pooled, held-out cells are predicted worse")
    }

    /// Post-copy migrations are listed per strategy and never fitted: adding them (with times
    /// no pre-copy model would give) changes no group's fit.
    func testPostCopyRunsNeverEnterAFit() throws {
        let precopy = sweep("precopy", SyntheticSweep.truth)
        var postCopy = Array(sweep("postcopy", SyntheticSweep.truth).prefix(6))
        for index in postCopy.indices {
            postCopy[index].postCopy = true
            postCopy[index].converged = true
            postCopy[index].migrationMilliseconds = 100_000 + Double(index) * 7_000
        }
        let fits = StrategyFits.fit(postCopy.prefix(3) + precopy + postCopy.suffix(3))
        XCTAssertEqual(fits.groups.map(\.strategy), ["precopy"], "no group for post-copy")
        XCTAssertEqual(fits.groups.first?.indices, Array(3..<(3 + precopy.count)))
        XCTAssertEqual(fits.groups.first?.fit, .success(try PreCopyFit.fit(precopy)), "the same fit as without them")
        XCTAssertEqual(fits.notDescribed.map(\.strategy), ["postcopy"])
        XCTAssertEqual(fits.notDescribed.first?.indices, [0, 1, 2] + Array((3 + precopy.count)..<(6 + precopy.count)))
        XCTAssertEqual(fits.notDescribed.first?.cells.count, Set(postCopy.map(\.cell)).count)
        XCTAssertNil(fits.fitted("postcopy"))
    }

    /// A strategy with fewer cells than parameters says so, and one with as many is fitted but
    /// has no held-out figure (holding one out would leave too few), as for a small sweep.
    func testAStrategyWithTooFewCellsSaysSoWhileTheOthersAreFitted() throws {
        let few = Array(sweep("parallel=4", SyntheticSweep.truth).filter(\.converged).prefix(2))
        let four = Array(sweep("tunnelled", SyntheticSweep.truth).filter(\.converged).prefix(4))
        let fits = StrategyFits.fit(sweep("precopy", SyntheticSweep.truth) + few + four)
        XCTAssertTrue(fits.anyFitted)
        XCTAssertNotNil(fits.fitted("precopy"))
        let parallel = try XCTUnwrap(fits.groups.first { $0.strategy == "parallel=4" })
        XCTAssertEqual(parallel.fit, .failure(.tooFewCells(converging: 2, needed: PreCopyFitParameters.count)))
        let tunnelled = try XCTUnwrap(fits.fitted("tunnelled"))
        XCTAssertNil(tunnelled.heldOut.meanAbsolutePercentageError)
        XCTAssertEqual(tunnelled.heldOut.folds, 0)
        XCTAssertTrue(tunnelled.heldOut.notes.contains { $0.contains("fewer than the 4 parameters") }, "\(tunnelled.heldOut.notes)")
    }

    func testNothingToFitGivesNoGroups() {
        let fits = StrategyFits.fit([])
        XCTAssertEqual(fits, StrategyFits.fit([]))
        XCTAssertTrue(fits.groups.isEmpty && fits.notDescribed.isEmpty)
        XCTAssertFalse(fits.anyFitted)
    }
}
