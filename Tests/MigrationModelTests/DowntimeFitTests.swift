import Foundation
import MigrationModel
import XCTest

/// A sweep whose downtimes follow known downtime parameters: one 125 MiB/s link, the
/// switch-over at 3× it, a fixed 40 ms; migration times follow ``SyntheticSweep/truth``.
enum SyntheticDowntimeSweep {
    static let mib = SyntheticSweep.mib
    static let gib = SyntheticSweep.gib
    static let linkBytesPerSecond = 125 * mib
    static let truth = DowntimeFitParameters(fixedMilliseconds: 40, switchOverBytesPerSecond: 3 * 125 * mib)

    /// 1, 2 and 4 GiB guests at 0–60 MiB/s, `repeats` each; each downtime is multiplied by
    /// 1 + noise × (a fixed value in [-1, 1]). QEMU's expected downtime is the pre-copy model's
    /// (the last pass at the link's rate), as QEMU computes it from the bandwidth it measured.
    static func observations(downtime: DowntimeFitParameters = truth, noise: Double = 0.01, repeats: Int = 2,
                             ratesMiBPerSecond: [Double] = [0, 10, 30, 60]) -> [MigrationObservation] {
        var result: [MigrationObservation] = []
        var draw = 0
        for memoryGiB in [1.0, 2, 4] {
            for rateMiB in ratesMiBPerSecond {
                let cell = "\(Int(memoryGiB))GiB/\(Int(rateMiB))MiBps"
                let prediction = SyntheticSweep.truth.predict(memoryBytes: memoryGiB * gib, dirtySetBytes: memoryGiB * gib / 2,
                                                              pattern: .sequential, dirtyRateBytesPerSecond: rateMiB * mib,
                                                              transferRateBytesPerSecond: linkBytesPerSecond, timeoutSeconds: 120)
                let finalPass = prediction.passes.passBytes.last ?? 0
                for _ in 0..<repeats {
                    draw += 1
                    let wobble = Double((draw * 7919) % 13 - 6) / 6
                    result.append(MigrationObservation(
                        cell: cell, memoryBytes: memoryGiB * gib, dirtySetBytes: memoryGiB * gib / 2,
                        dirtyRateBytesPerSecond: rateMiB * mib, transferRateBytesPerSecond: linkBytesPerSecond, timeoutSeconds: 120,
                        converged: prediction.converges, migrationMilliseconds: prediction.totalMilliseconds,
                        downtimeMilliseconds: downtime.predictMilliseconds(finalPassBytes: finalPass) * (1 + noise * wobble),
                        iterations: prediction.passes.iterations,
                        qemuExpectedDowntimeMilliseconds: prediction.passes.downtimeMilliseconds))
                }
            }
        }
        return result
    }

    /// The pre-copy model fitted to `observations` (what `correlate` hands the downtime model).
    static func preCopy(_ observations: [MigrationObservation]) throws -> PreCopyFitParameters {
        try PreCopyFit.fit(observations).parameters
    }
}

final class DowntimeFitTests: XCTestCase {
    let mib = SyntheticDowntimeSweep.mib

    func assertFinite(_ fit: DowntimeFit, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNoThrow(try JSONEncoder().encode(fit), "a NaN or infinity in the fit", file: file, line: line)
    }

    /// The downtimes' repeat spread is each fitted run's distance from its cell's mean downtime,
    /// computed here by hand; a sweep of single runs has none.
    func testTheDowntimeRepeatSpreadIsEachRunsDistanceFromItsCellsMean() throws {
        let sweep = SyntheticDowntimeSweep.observations(noise: 0.1)
        let fit = try DowntimeFit.fit(sweep, preCopy: SyntheticDowntimeSweep.preCopy(sweep))
        var deviations: [Double] = []
        for cell in Set(fit.observations.map(\.cell)) {
            let downtimes = fit.observations.filter { $0.cell == cell }.map(\.measuredMilliseconds)
            guard downtimes.count >= 2 else { continue }
            let mean = downtimes.reduce(0, +) / Double(downtimes.count)
            deviations += downtimes.map { abs($0 - mean) / $0 * 100 }
        }
        XCTAssertGreaterThan(deviations.count, 4)
        XCTAssertEqual(try XCTUnwrap(fit.heldOut.repeatSpreadPercent), deviations.reduce(0, +) / Double(deviations.count), accuracy: 1e-9)
        let single = SyntheticDowntimeSweep.observations(repeats: 1)
        XCTAssertNil(try DowntimeFit.fit(single, preCopy: SyntheticDowntimeSweep.preCopy(single)).heldOut.repeatSpreadPercent)
    }

    /// Absolute percentage errors of `fit`'s rows in `cell`, in sample and held out.
    func errors(_ fit: DowntimeFit, cell: String) -> (inSample: Double, heldOut: Double) {
        let rows = fit.observations.filter { $0.cell == cell }
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(1, values.count)) }
        return (mean(rows.map { abs($0.predictedMilliseconds - $0.measuredMilliseconds) / $0.measuredMilliseconds * 100 }),
                mean(rows.compactMap { row in row.heldOutPredictedMilliseconds.map { abs($0 - row.measuredMilliseconds) / row.measuredMilliseconds * 100 } }))
    }

    func testASyntheticSweepIsFittedBackToItsDowntimeParameters() throws {
        let sweep = SyntheticDowntimeSweep.observations()
        XCTAssertTrue(sweep.allSatisfy(\.converged), "the fixture converges everywhere")
        let fit = try DowntimeFit.fit(sweep, preCopy: try SyntheticDowntimeSweep.preCopy(sweep))
        let truth = SyntheticDowntimeSweep.truth
        XCTAssertEqual(fit.parameters.fixedMilliseconds, truth.fixedMilliseconds, accuracy: 3, "fixed within 3 ms")
        let rate = try XCTUnwrap(fit.parameters.switchOverBytesPerSecond, "not fixed-only: \(fit.notes)")
        XCTAssertEqual(rate / SyntheticDowntimeSweep.linkBytesPerSecond, 3, accuracy: 0.15, "the switch-over at 3× the link")
        XCTAssertFalse(fit.isFixedOnly)
        XCTAssertEqual(fit.observations.count, sweep.count)
        XCTAssertEqual(fit.exclusions, [])
        XCTAssertEqual(fit.withoutDowntimeCount, 0)
        XCTAssertGreaterThan(fit.rSquared ?? 0, 0.98)
        XCTAssertLessThan(try XCTUnwrap(fit.meanAbsolutePercentageError), 2, "1 % noise")
        XCTAssertEqual(fit.heldOut.folds, 12, "every cell held out once")
        XCTAssertEqual(fit.heldOut.predictions, sweep.count)
        XCTAssertLessThan(try XCTUnwrap(fit.heldOut.meanAbsolutePercentageError), 5)
        XCTAssertTrue(fit.notes.contains { $0.contains("the switch-over copies at") && $0.contains("× the median pre-copy transfer rate (125 MiB/s)") },
                      "\(fit.notes)")
        // QEMU forecasts the last pass at the link's rate: far above the switch-over's pause.
        let qemu = try XCTUnwrap(fit.qemuExpectedDowntime)
        XCTAssertEqual(qemu.observations, sweep.count)
        XCTAssertEqual(qemu.missing, 0)
        let modelHeldOut = try XCTUnwrap(qemu.modelHeldOutMeanAbsolutePercentageError)
        XCTAssertLessThan(modelHeldOut, qemu.meanAbsolutePercentageError, "the model beats expected_downtime")
        let sentence = try XCTUnwrap(fit.limits.first)
        XCTAssertTrue(sentence.hasPrefix("held out, the downtime model is off by \(formatNumber(try XCTUnwrap(fit.heldOut.meanAbsolutePercentageError))) %, "
                                         + "QEMU's expected_downtime by \(formatNumber(qemu.meanAbsolutePercentageError)) %"), sentence)
        assertFinite(fit)
    }

    /// The rate term is what the downtime grows by: a fitted rate off by 3× the truth would
    /// mispredict the longest final passes by tens of milliseconds.
    func testPredictionsFollowTheFinalPass() throws {
        let sweep = SyntheticDowntimeSweep.observations(noise: 0)
        let fit = try DowntimeFit.fit(sweep, preCopy: SyntheticSweep.truth)
        for row in fit.observations {
            let expected = SyntheticDowntimeSweep.truth.predictMilliseconds(finalPassBytes: row.finalPassBytes)
            XCTAssertEqual(row.predictedMilliseconds, expected, accuracy: 0.5, row.cell)
            XCTAssertEqual(row.measuredMilliseconds, expected, accuracy: 1e-6, "the truth's own final pass: \(row.cell)")
        }
        XCTAssertGreaterThan(fit.observations.map(\.finalPassBytes).max() ?? 0, 20 * mib, "the fixture's final passes are not all small")
        XCTAssertEqual(DowntimeFitParameters(fixedMilliseconds: 40, switchOverBytesPerSecond: 100 * mib).predictMilliseconds(finalPassBytes: 50 * mib), 540)
        XCTAssertEqual(DowntimeFitParameters(fixedMilliseconds: 40, switchOverBytesPerSecond: nil).predictMilliseconds(finalPassBytes: 50 * mib), 40)
    }

    /// A cell whose downtime is half the model's: held out (its runs in no fold that predicts
    /// it) it is missed by more than when it pulls on the fit.
    func testAHeldOutCellIsPredictedWithoutItsOwnRuns() throws {
        let offCell = "2GiB/30MiBps"
        let sweep = SyntheticDowntimeSweep.observations(noise: 0).map { observation -> MigrationObservation in
            var changed = observation
            if observation.cell == offCell { changed.downtimeMilliseconds = observation.downtimeMilliseconds.map { $0 / 2 } }
            return changed
        }
        let fit = try DowntimeFit.fit(sweep, preCopy: SyntheticSweep.truth)
        let off = errors(fit, cell: offCell)
        XCTAssertGreaterThan(off.heldOut, off.inSample + 5, "held out it is missed by more: \(off)")
        XCTAssertEqual(off.heldOut, 100, accuracy: 5, "the other cells follow the truth, which predicts twice its downtime")
        // The other cells follow the truth; the off cell, weighed by its small downtime, bends their fit a little.
        let clean = errors(fit, cell: "4GiB/60MiBps")
        XCTAssertLessThan(clean.heldOut, off.heldOut / 3, "\(clean)")
        XCTAssertTrue(fit.limits.contains { $0.hasPrefix("cell \(offCell): downtime off by") }, "\(fit.limits)")
    }

    /// QEMU's error is the mean over the runs that carry its figure, each divided by the measured
    /// downtime (at least 1 ms); the runs without it are counted.
    func testQEMUsErrorIsComputedOverTheRunsThatCarryIt() throws {
        var sweep = SyntheticDowntimeSweep.observations(noise: 0)
        for index in sweep.indices { sweep[index].qemuExpectedDowntimeMilliseconds = nil }
        // Measured 100, 50 and 0.5 ms; QEMU said 150 (50 % off), 50 (0 %) and 2 (1.5 ms over a 1 ms floor: 150 %).
        sweep[2].downtimeMilliseconds = 100
        sweep[2].qemuExpectedDowntimeMilliseconds = 150
        sweep[5].downtimeMilliseconds = 50
        sweep[5].qemuExpectedDowntimeMilliseconds = 50
        sweep[8].downtimeMilliseconds = 0.5
        sweep[8].qemuExpectedDowntimeMilliseconds = 2
        let fit = try DowntimeFit.fit(sweep, preCopy: SyntheticSweep.truth)
        let qemu = try XCTUnwrap(fit.qemuExpectedDowntime)
        XCTAssertEqual(qemu.observations, 3)
        XCTAssertEqual(qemu.missing, sweep.count - 3)
        XCTAssertEqual(qemu.meanAbsolutePercentageError, (50 + 0 + 150) / 3, accuracy: 1e-9)
        // The model's error on the same three runs, by hand from its rows.
        let rows = fit.observations.filter { [2, 5, 8].contains($0.index) }
        let model = rows.map { abs($0.predictedMilliseconds - $0.measuredMilliseconds) / max($0.measuredMilliseconds, 1) * 100 }.reduce(0, +) / 3
        XCTAssertEqual(qemu.modelMeanAbsolutePercentageError, model, accuracy: 1e-9)
        let heldOut = rows.compactMap { row in row.heldOutPredictedMilliseconds.map { abs($0 - row.measuredMilliseconds) / max(row.measuredMilliseconds, 1) * 100 } }
        XCTAssertEqual(heldOut.count, 3)
        XCTAssertEqual(try XCTUnwrap(qemu.modelHeldOutMeanAbsolutePercentageError), heldOut.reduce(0, +) / 3, accuracy: 1e-9)
        XCTAssertTrue(fit.notes.contains { $0.contains("under 1 ms are weighed and scored as 1 ms") }, "\(fit.notes)")
        XCTAssertTrue(fit.limits.first?.contains("(on the 3 run(s) QEMU forecast, the model held out:") ?? false, "\(fit.limits)")

        for index in sweep.indices { sweep[index].qemuExpectedDowntimeMilliseconds = nil }
        let without = try DowntimeFit.fit(sweep, preCopy: SyntheticSweep.truth)
        XCTAssertNil(without.qemuExpectedDowntime)
        XCTAssertTrue(without.notes.contains { $0.hasPrefix("no run carries QEMU's expected_downtime") }, "\(without.notes)")
        XCTAssertTrue(without.limits.first?.contains("QEMU's expected_downtime was not recorded") ?? false, "\(without.limits)")
    }

    func testRunsWithoutADowntimeAreLeftOutAndCounted() throws {
        var sweep = SyntheticDowntimeSweep.observations(noise: 0)
        for index in [0, 1, 7] { sweep[index].downtimeMilliseconds = nil }
        var postCopy = sweep[3]
        postCopy.postCopy = true
        var stuck = sweep[4]
        stuck.converged = false
        stuck.migrationMilliseconds = nil
        sweep += [postCopy, stuck]
        let fit = try DowntimeFit.fit(sweep, preCopy: SyntheticSweep.truth)
        XCTAssertEqual(fit.withoutDowntimeCount, 3)
        XCTAssertEqual(fit.observations.count, sweep.count - 5)
        XCTAssertFalse(fit.observations.contains { [0, 1, 7].contains($0.index) })
        XCTAssertEqual(fit.exclusions.filter { $0.reason == "no downtime was measured" }.map(\.index), [0, 1, 7])
        XCTAssertEqual(fit.exclusions.first { $0.index == sweep.count - 2 }?.reason.contains("post-copy"), true)
        XCTAssertEqual(fit.exclusions.first { $0.index == sweep.count - 1 }?.reason.contains("did not converge"), true)
        XCTAssertTrue(fit.notes.first?.contains("3 converged pre-copy run(s) without a downtime left out; 5 excluded in all") ?? false, "\(fit.notes)")

        let noDowntime = sweep.map { observation -> MigrationObservation in
            var changed = observation
            changed.downtimeMilliseconds = nil
            return changed
        }
        XCTAssertThrowsError(try DowntimeFit.fit(noDowntime, preCopy: SyntheticSweep.truth)) { error in
            XCTAssertEqual(error as? DowntimeFitError, .noMeasuredDowntime(converging: sweep.count - 2))
        }
        XCTAssertThrowsError(try DowntimeFit.fit([], preCopy: SyntheticSweep.truth)) { error in
            XCTAssertEqual(error as? DowntimeFitError, .noObservations)
        }
    }

    /// A run the given pre-copy model does not converge for has no final pass: left out, said.
    func testARunWithoutAFinalPassIsExcluded() throws {
        var sweep = SyntheticDowntimeSweep.observations(noise: 0)
        sweep[0].dirtyRateBytesPerSecond = 200 * mib  // above the link: the model never converges
        let fit = try DowntimeFit.fit(sweep, preCopy: SyntheticSweep.truth)
        XCTAssertEqual(fit.exclusions.map(\.index), [0])
        XCTAssertTrue(fit.exclusions.first?.reason.contains("no final pass") ?? false, "\(fit.exclusions)")
        XCTAssertThrowsError(try DowntimeFit.fit([sweep[0]], preCopy: SyntheticSweep.truth)) { error in
            XCTAssertEqual(error as? DowntimeFitError, .noFinalPass(withDowntime: 1))
        }
    }

    /// With every final pass alike (no dirtying: nothing is left at the last sync) the rate
    /// cannot be told from the fixed cost: a fixed cost only, and the notes say so.
    func testFinalPassesThatDoNotVaryGiveAFixedOnlyModel() throws {
        let sweep = SyntheticDowntimeSweep.observations(noise: 0.05, ratesMiBPerSecond: [0])
        let fit = try DowntimeFit.fit(sweep, preCopy: SyntheticSweep.truth)
        XCTAssertTrue(fit.isFixedOnly)
        XCTAssertNil(fit.parameters.switchOverBytesPerSecond)
        let measured = fit.observations.map(\.measuredMilliseconds)
        XCTAssertEqual(fit.parameters.fixedMilliseconds, 40, accuracy: 3)
        XCTAssertGreaterThanOrEqual(fit.parameters.fixedMilliseconds, measured.min() ?? 0)
        XCTAssertTrue(fit.notes.contains { $0.contains("cannot tell the switch-over rate from the fixed cost") && $0.contains("fixed cost only") },
                      "\(fit.notes)")
        XCTAssertTrue(fit.observations.allSatisfy { $0.predictedMilliseconds == fit.parameters.fixedMilliseconds })
        // Three cells: no fold leaves the pre-copy shape its four cells; said instead of a figure.
        XCTAssertEqual(fit.heldOut.folds, 0)
        XCTAssertNil(fit.heldOut.meanAbsolutePercentageError)
        XCTAssertTrue(fit.heldOut.notes.first?.hasPrefix("no held-out downtime figure: 3 converged pre-copy cell(s)") ?? false, "\(fit.heldOut.notes)")
        XCTAssertTrue(fit.limits.first?.hasPrefix("no held-out downtime figure") ?? false, "\(fit.limits)")
        assertFinite(fit)

        // One cell: however its repeats vary, one cell cannot tell a rate from a fixed cost.
        let oneCell = SyntheticDowntimeSweep.observations(noise: 0.3).filter { $0.cell == "4GiB/60MiBps" }
        let single = try DowntimeFit.fit(oneCell, preCopy: SyntheticSweep.truth)
        XCTAssertTrue(single.isFixedOnly, "\(single.parameters)")
    }

    /// Downtimes that shrink as the final pass grows: the rate term is clamped to none.
    func testADowntimeThatDoesNotGrowWithTheFinalPassIsAFixedCost() throws {
        let sweep = SyntheticDowntimeSweep.observations(noise: 0).map { observation -> MigrationObservation in
            var changed = observation
            changed.downtimeMilliseconds = 200 - (observation.dirtyRateBytesPerSecond / mib)
            return changed
        }
        let fit = try DowntimeFit.fit(sweep, preCopy: SyntheticSweep.truth)
        XCTAssertTrue(fit.isFixedOnly)
        XCTAssertTrue(fit.notes.contains { $0.hasPrefix("a longer final pass did not lengthen the downtime") }, "\(fit.notes)")
        XCTAssertGreaterThan(fit.parameters.fixedMilliseconds, 140)
    }

    /// Observations stored before QEMU's figure was kept still decode, without it.
    func testAnObservationWithoutQEMUsFigureDecodes() throws {
        let observation = SyntheticDowntimeSweep.observations(repeats: 1)[5]
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(observation)) as? [String: Any])
        XCTAssertNotNil(object["qemuExpectedDowntimeMilliseconds"])
        object["qemuExpectedDowntimeMilliseconds"] = nil
        let old = try JSONDecoder().decode(MigrationObservation.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertNil(old.qemuExpectedDowntimeMilliseconds)
        XCTAssertEqual(old.downtimeMilliseconds, observation.downtimeMilliseconds)
    }
}
