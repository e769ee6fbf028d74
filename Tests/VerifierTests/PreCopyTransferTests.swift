import Foundation
import XCTest
@testable import Verifier

/// The pre-copy transfer rate from the job-stats samples, and `bandwidth-honoured` judging it
/// against the limit at the boundary of its tolerance.
final class PreCopyTransferTests: XCTestCase {
    static let mebibyte: UInt64 = 1_048_576

    /// Samples every 100 ms from 1000 ms: the job transferring at `rateMiB` per second for
    /// `seconds`, then (`switchOverMiB`) one last sample holding the switch-over, which QEMU
    /// sends unlimited.
    static func samples(rateMiB: Double, seconds: Int, switchOverMiB: UInt64 = 600) -> [JobSample] {
        let start: UInt64 = 3 * mebibyte
        var samples = [JobSample(offsetMilliseconds: 900, jobType: "unbounded", dataProcessedBytes: 0, dataTotalBytes: 1_024 * mebibyte)]
        for tenth in 0...(seconds * 10) {
            let bytes = start + UInt64((rateMiB * Double(mebibyte) * Double(tenth) / 10).rounded())
            samples.append(JobSample(offsetMilliseconds: 1_000 + Double(tenth) * 100, jobType: "unbounded", dataProcessedBytes: bytes,
                                     dataTotalBytes: 1_024 * mebibyte, memoryIteration: 1))
        }
        let last = samples.last?.dataProcessedBytes ?? 0
        samples.append(JobSample(offsetMilliseconds: 1_000 + Double(seconds) * 1_000 + 100, jobType: "unbounded",
                                 dataProcessedBytes: last + switchOverMiB * mebibyte, dataTotalBytes: 1_024 * mebibyte, memoryIteration: 3))
        return samples
    }

    /// A landed live migration with a `limit` MiB/s limit whose samples are `samples`.
    static func observation(limit: UInt64?, samples: [JobSample], optionsKept: Bool = true) throws -> Observation {
        var o = try Fixtures.observation(.migrates)
        o.parameters.migration.bandwidthMiBPerSecond = limit
        o.outcome.samples = samples
        o.migrationOptions = optionsKept ? o.parameters.migration : nil
        return o
    }

    func testTheWindowEndsBeforeTheSwitchOverAndBeforeAPostCopySwitch() throws {
        let samples = Self.samples(rateMiB: 48, seconds: 20)
        var outcome = Fixtures.outcome(.completed, startedAt: 900, wall: 21_500)
        outcome.samples = samples
        let transfer = try XCTUnwrap(PreCopyTransfer(outcome: outcome))
        XCTAssertEqual(transfer.startMilliseconds, 1_000, "the first sample that shows the job transferring")
        XCTAssertEqual(transfer.endMilliseconds, 21_000, "the last sample, which may hold the switch-over, is left out")
        XCTAssertEqual(transfer.mibPerSecond, 48, accuracy: 1e-9)
        XCTAssertEqual(transfer.sampleCount, 201)

        outcome.postCopyStartedAtMilliseconds = 6_000
        let precopy = try XCTUnwrap(PreCopyTransfer(outcome: outcome))
        XCTAssertEqual(precopy.endMilliseconds, 6_000, "post-copy has its own bandwidth")
        XCTAssertEqual(precopy.mibPerSecond, 48, accuracy: 1e-9)

        outcome = Fixtures.outcome(.failed(message: "aborted", kind: nil), startedAt: 900, wall: 21_500)
        outcome.samples = Array(samples.dropLast())
        XCTAssertEqual(PreCopyTransfer(outcome: outcome)?.endMilliseconds, 21_000, "a migration that failed had no switch-over: every sample counts")
    }

    func testAtTheLimitPlusTenPercentPlusOneMiBItPassesAndJustAboveItFails() throws {
        // 48 MiB/s × 1.1 + 1 = 53.8 MiB/s allowed.
        let passed = try XCTUnwrap(Checks.bandwidthHonoured(try Self.observation(limit: 48, samples: Self.samples(rateMiB: 53.8, seconds: 20))))
        assertCheck(passed, CheckName.bandwidthHonoured, passed: true,
                    says: "53.8 MiB/s over 20.0 s of pre-copy against a 48 MiB/s limit",
                    "data_processed grew 1076.0 MiB between the job-stats samples at 1.0 s and 21.0 s on the run clock (201 samples; 20.0 s by the run clock)",
                    "allowed at most 53.8 MiB/s")
        let failed = try XCTUnwrap(Checks.bandwidthHonoured(try Self.observation(limit: 48, samples: Self.samples(rateMiB: 53.9, seconds: 20))))
        assertCheck(failed, CheckName.bandwidthHonoured, passed: false,
                    says: "53.9 MiB/s over 20.0 s of pre-copy exceeds the 48 MiB/s limit", "allowed at most 53.8 MiB/s")
        let under = try XCTUnwrap(Checks.bandwidthHonoured(try Self.observation(limit: 48, samples: Self.samples(rateMiB: 30, seconds: 20))))
        XCTAssertTrue(under.passed, "slower than the limit honours it")
    }

    /// libvirt stamps `time_elapsed` once QEMU answered: a read that waited for QEMU is not
    /// shorter than it was.
    func testLibvirtsTimeElapsedMeasuresTheWindowWhenTheSamplesHaveIt() throws {
        var samples = Self.samples(rateMiB: 48, seconds: 10)
        for index in samples.indices { samples[index].timeElapsedMilliseconds = UInt64(samples[index].offsetMilliseconds) - 800 }
        // The window's last read waited 500 ms for QEMU: stamped at 11000 ms on the run clock, answered at 11500.
        samples[samples.count - 2].timeElapsedMilliseconds = 11_500 - 800
        samples[samples.count - 2].dataProcessedBytes = (samples[samples.count - 2].dataProcessedBytes ?? 0) + 24 * Self.mebibyte
        var outcome = Fixtures.outcome(.completed, startedAt: 900, wall: 11_500)
        outcome.samples = samples
        let transfer = try XCTUnwrap(PreCopyTransfer(outcome: outcome))
        XCTAssertEqual(transfer.windowClock, .libvirtTimeElapsed)
        XCTAssertEqual(transfer.windowMilliseconds, 10_500)
        XCTAssertEqual(transfer.mibPerSecond, 48, accuracy: 1e-9, "504 MiB in 10.5 s, not in 10 s")
        XCTAssertTrue(transfer.description.hasSuffix("(101 samples; 10.5 s by libvirt's time_elapsed)"), transfer.description)
    }

    func testTheSwitchOverBurstDoesNotCountAgainstTheLimit() throws {
        let o = try Self.observation(limit: 32, samples: Self.samples(rateMiB: 32, seconds: 3, switchOverMiB: 900))
        let check = try XCTUnwrap(Checks.bandwidthHonoured(o))
        XCTAssertTrue(check.passed, check.evidence)
        XCTAssertTrue(Checks.evaluate(o).contains(check), "evaluate makes it for a run with a limit")
    }

    func testNoLimitNothingMovedOrTooShortAPreCopyMakesNoCheck() throws {
        XCTAssertNil(Checks.bandwidthHonoured(try Self.observation(limit: nil, samples: Self.samples(rateMiB: 80, seconds: 5))))
        XCTAssertNil(Checks.bandwidthHonoured(try Self.observation(limit: 48, samples: [])), "nothing moved")
        let short = Array(Self.samples(rateMiB: 200, seconds: 1).prefix(8))
        XCTAssertNil(Checks.bandwidthHonoured(try Self.observation(limit: 48, samples: short)), "600 ms of pre-copy is QEMU's bursts, not its rate")
        XCTAssertFalse(Checks.evaluate(try Self.observation(limit: nil, samples: Self.samples(rateMiB: 80, seconds: 5)))
            .contains { $0.name == CheckName.bandwidthHonoured })
    }

    func testTheScenariosOwnLimitIsJudgedAndSaidToBeIts() throws {
        var o = try Self.observation(limit: nil, samples: Self.samples(rateMiB: 40, seconds: 5))
        o.migrationOptions?.bandwidthMiBPerSecond = 32
        let check = try XCTUnwrap(Checks.bandwidthHonoured(o))
        assertCheck(check, CheckName.bandwidthHonoured, passed: false, says: "exceeds the 32 MiB/s limit (the scenario's, for its mid-stream fault)")
    }

    func testAnObservationStoredBeforeTheOptionsWereKeptIsNotJudgedOnIt() throws {
        let old = try Self.observation(limit: 48, samples: Self.samples(rateMiB: 60, seconds: 20), optionsKept: false)
        XCTAssertTrue(Checks.unrecorded(old).contains(CheckName.bandwidthHonoured))
        XCTAssertFalse(Checks.unrecorded(try Self.observation(limit: 48, samples: [])).contains(CheckName.bandwidthHonoured))
        let stored = Checks.evaluate(old).filter { $0.name != CheckName.bandwidthHonoured }
        let rejudged = Rejudgement(stored: stored, rejudged: [(leg: .forward, checks: Checks.evaluate(old))],
                                   unrecorded: [.forward: Checks.unrecorded(old)])
        XCTAssertEqual(rejudged.notJudged, [CheckName.bandwidthHonoured])
        XCTAssertTrue(rejudged.changes.isEmpty, "a check the old run never had does not turn its verdict")

        // Decoded from JSON without the key, as an older version stored it.
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: resultsJSONEncoder().encode(old)) as? [String: Any])
        object.removeValue(forKey: "migrationOptions")
        let decoded = try resultsJSONDecoder().decode(Observation.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertNil(decoded.migrationOptions)
        XCTAssertEqual(decoded, old)
    }
}
