import Foundation
import XCTest
@testable import Verifier

/// The sweep's boundary search: derived from stored slots alone, one next rate per group.
final class BoundarySearchTests: XCTestCase {
    /// A slot at `rate` MiB/s of `memoryMiB`, done with `convergence` (`nil`: not run yet).
    func slot(_ position: Int, memoryMiB: Int = 333, rate: Double, convergence: Convergence?) -> SweepSlot {
        let parameters = Fixtures.parameters(memoryMiB: memoryMiB, rate: rate)
        var run: StoredRun?
        if let convergence {
            var result = ScenarioResult(parameters: parameters, accel: "tcg", qemuVersion: "10", libvirtVersion: "11")
            result.figures.convergence = convergence
            run = StoredRun(id: Int64(position + 1), status: .completed, parameterKey: parameters.key, startedAt: Date(),
                            finishedAt: Date(), result: result)
        }
        return SweepSlot(position: position, parameters: parameters, run: run)
    }

    /// The threshold the synthetic guest has: rates above it do not converge.
    let threshold = 37.0

    func converges(_ rate: Double) -> Convergence { rate <= threshold ? .converged : .didNotConverge }

    func testBisectsBetweenTheLowestAndHighestRateUntilTheBudgetIsSpent() {
        var slots = [slot(0, rate: 10, convergence: .converged), slot(1, rate: 80, convergence: .didNotConverge)]
        var asked: [Double] = []
        while let next = BoundarySearch.nextSlots(slots, stepBudget: 4).first {
            XCTAssertNil(next.repetition)
            asked.append(next.dirtyRateMiBPerSecond)
            slots.append(slot(slots.count, rate: next.dirtyRateMiBPerSecond, convergence: converges(next.dirtyRateMiBPerSecond)))
            XCTAssertLessThan(asked.count, 10, "the search ends")
        }
        XCTAssertEqual(asked, [45, 27.5, 36.25], "midpoints of the bracket, narrowed by each result (high measured first counts as step 1)")
        let converging = slots.filter { $0.run?.result?.figures.convergence == .converged }.map(\.parameters.dirtyRateMiBPerSecond).max()
        let failing = slots.filter { $0.run?.result?.figures.convergence == .didNotConverge }.map(\.parameters.dirtyRateMiBPerSecond).min()
        XCTAssertEqual(converging, 36.25)
        XCTAssertEqual(failing, 45)
    }

    func testWaitsForUnfinishedSlotsAndSkipsGroupsWithOneRate() {
        XCTAssertEqual(BoundarySearch.nextSlots([slot(0, rate: 10, convergence: .converged), slot(1, rate: 80, convergence: nil)],
                                                stepBudget: 3), [], "a rate of the group has no result yet")
        XCTAssertEqual(BoundarySearch.nextSlots([slot(0, rate: 10, convergence: .converged)], stepBudget: 3), [], "one rate: nothing to bisect")
        XCTAssertEqual(BoundarySearch.nextSlots([slot(0, rate: 10, convergence: .converged), slot(1, rate: 80, convergence: .converged)],
                                                stepBudget: 3), [], "every rate converged: the boundary is above the range")
    }

    func testEachMemorySizeIsItsOwnGroupAndARepeatThatFailedCountsAgainstItsRate() {
        let slots = [
            slot(0, memoryMiB: 333, rate: 10, convergence: .converged), slot(1, memoryMiB: 333, rate: 10, convergence: .didNotConverge),
            slot(2, memoryMiB: 333, rate: 80, convergence: .didNotConverge),
            slot(3, memoryMiB: 500, rate: 10, convergence: .converged), slot(4, memoryMiB: 500, rate: 80, convergence: .didNotConverge),
        ]
        let next = BoundarySearch.nextSlots(slots, stepBudget: 3)
        XCTAssertEqual(next.map(\.memoryMiB), [500], "333 MiB: one run at the low rate did not converge, so the boundary is below the range")
        XCTAssertEqual(next.map(\.dirtyRateMiBPerSecond), [45])
    }

    /// A rate converges only when every run at it converged: one that did not, followed by a
    /// repeat that did, leaves the rate non-converging, so the bisection goes below it.
    func testARateWhoseLastRepeatConvergedAfterOneThatDidNotIsNotConverging() {
        let slots = [
            slot(0, rate: 10, convergence: .converged), slot(1, rate: 80, convergence: .didNotConverge),
            slot(2, rate: 45, convergence: .didNotConverge), slot(3, rate: 45, convergence: .converged),
        ]
        XCTAssertEqual(BoundarySearch.nextSlots(slots, stepBudget: 4).map(\.dirtyRateMiBPerSecond), [27.5],
                       "45 MiB/s failed once: the next rate is below it, not above")
        let inOtherOrder = [slots[0], slots[1], slot(2, rate: 45, convergence: .converged), slot(3, rate: 45, convergence: .didNotConverge)]
        XCTAssertEqual(BoundarySearch.nextSlots(inOtherOrder, stepBudget: 4).map(\.dirtyRateMiBPerSecond), [27.5],
                       "whichever repeat came last")
    }
}
