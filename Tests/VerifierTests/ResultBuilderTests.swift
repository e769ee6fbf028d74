import Foundation
import Libvirt
import XCTest
@testable import Verifier

/// ``ResultBuilder`` derives a result from what the phases measured: pure, so each figure and
/// note is checked here against one change of its inputs.
final class ResultBuilderTests: XCTestCase {
    private func builder(_ observation: Observation, faultType: any Fault.Type = NoFault.self,
                         completed: CompletedJobStats? = nil) throws -> ResultBuilder {
        let ping = try FakePing(world: FakeWorld()).finish()
        return ResultBuilder(
            parameters: observation.parameters, swapped: false, startedAt: Date(timeIntervalSince1970: 1_700_000_000),
            setupActions: ["lab up: nothing to do"],
            baseline: Baseline(accelerator: "tcg", qemuVersion: "10.0.2", qemuVersionSource: "`qemu --version`", libvirtVersion: "11.3.0",
                               sourceTaps: ["vnet0"]),
            load: LoadFigures(targetMiBPerSecond: 50, achievedMiBPerSecond: 49.5, settled: true, guestSystem: "Debian 12, kernel 6.1"),
            qemuDirtyRate: QEMUDirtyRateFigure(mibPerSecond: 48, source: "page sampling"),
            drive: DriveRecord(outcome: observation.outcome, planNotes: ["bandwidth limited"], eventCount: 9, subscriptionErrors: []),
            ping: ping, captureStartMilliseconds: 100, observation: observation, checks: Checks.evaluate(observation),
            completedStats: completed.map { .success($0) } ?? .failure(CompletedJobStats.Missing(reason: "no job-completed event from the source")),
            discardedGuest: nil, faultType: faultType)
    }

    private let completed = CompletedJobStats(
        stats: JobStats(rawType: 3, fields: ["time_elapsed": .ulong(5_100), "downtime": .ulong(42), "setup_time": .ulong(3),
                                             "data_processed": .ulong(700 << 20), "memory_iteration": .ulong(4)]),
        source: "the source daemon's job-completed event (completed job stats)")

    func testALandingTakesLibvirtsCompletedStatsAndSaysWhere() throws {
        let result = try builder(try Fixtures.observation(.migrates), completed: completed).result()
        XCTAssertTrue(result.passed, "\(result.failedChecks)")
        XCTAssertEqual(result.migrationMilliseconds, 5_100)
        XCTAssertEqual(result.libvirtDowntimeMilliseconds, 42)
        XCTAssertEqual(result.transferredBytes, 700 << 20)
        XCTAssertEqual(result.iterations, 4)
        XCTAssertEqual(result[source: .libvirtDowntimeMilliseconds], completed.source)
        XCTAssertEqual(result.figures.convergence, .converged)
        XCTAssertEqual(result.figures.direction, .forward)
        XCTAssertEqual(result.figures.qemuSampledDirtyRateMiBPerSecond, 48)
        XCTAssertEqual(result.guestSystem, "Debian 12, kernel 6.1")
        XCTAssertEqual(result.crossChecks.map(\.figure), [CrossCheck.downtimeFigure, "dirty rate (MiB/s)"])
        XCTAssertNotNil(result.modelComparison, "a run meant to land is compared with the model")
        XCTAssertEqual(result.notes.first, "setup: lab up: nothing to do")
        XCTAssertTrue(result.notes.contains("bandwidth limited"), "\(result.notes)")
    }

    /// The guest's rate while migrated is memeater's counter over the wall time between the
    /// reads around the call, set beside the rate it settled at (49.5 MiB/s here).
    func testTheGuestsRateWhileMigratedIsItsCounterOverTheCallsWallTime() throws {
        var observation = try Fixtures.observation(.migrates)
        // 3 200 pages of 4 KiB = 12.5 MiB in 0.5 s: 25 MiB/s, half the rate before.
        var during = GuestLoadDuringMigration(pagesDirtiedBefore: 10_000, beforeAtMilliseconds: 1_000, pagesDirtiedAfter: 13_200,
                                              afterAtMilliseconds: 1_500, pageSizeBytes: 4096)
        observation.memeater.duringMigration = .seen(during)
        let result = try builder(observation).result()
        XCTAssertEqual(try XCTUnwrap(result.figures.guestDirtyRateDuringMigrationMiBPerSecond), 25, accuracy: 1e-9)
        XCTAssertEqual(result.figures.guestDirtyRateWindowSeconds, 0.5)
        let note = try XCTUnwrap(result.notes.first { $0.hasPrefix("the guest dirtied") })
        XCTAssertTrue(note.contains("25 MiB/s while migrated") && note.contains("50.51 % of the 49.5 MiB/s before"), note)
        XCTAssertFalse(result.notes.contains { $0.contains("dirty rate while migrated not measured") }, "\(result.notes)")
        // A counter that went back (another memeater answered) gives no figure, and says so.
        during.pagesDirtiedAfter = 9_000
        observation.memeater.duringMigration = .seen(during)
        let wentBack = try builder(observation).result()
        XCTAssertNil(wentBack.figures.guestDirtyRateDuringMigrationMiBPerSecond)
        XCTAssertTrue(wentBack.notes.contains("the guest's dirty rate while migrated not measured: memeater's counter went from 10000 to 9000 "
                                              + "pages in 0.5 s (a counter that goes back is another memeater's)"), "\(wentBack.notes)")
        observation.memeater.duringMigration = nil
        XCTAssertFalse(try builder(observation).result().notes.contains { $0.hasPrefix("the guest dirtied") })
    }

    /// A rate that could not be measured after a landing says why, in the notes the terminal,
    /// the JSON and the database show; a migration that did not land expects no rate.
    func testTheGuestsRateWhileMigratedNotMeasuredSaysWhy() throws {
        var landed = try Fixtures.observation(.migrates)
        let reason = "memeater's counter could not be read right after the migration call (memeater at 198.18.1.10:7070): connection reset"
        landed.memeater.duringMigration = .notLooked(reason)
        let result = try builder(landed).result()
        XCTAssertNil(result.figures.guestDirtyRateDuringMigrationMiBPerSecond)
        XCTAssertTrue(result.notes.contains("the guest's dirty rate while migrated not measured: " + reason), "\(result.notes)")
        XCTAssertTrue(ReportWriter.details(result).contains("note: the guest's dirty rate while migrated not measured: "))

        var stayed = try Fixtures.observation(.staysOnSource)
        stayed.memeater.duringMigration = .notLooked("memeater's counter was not read after the call: the migration did not land")
        XCTAssertFalse(try builder(stayed).result().notes.contains { $0.contains("while migrated") })
    }

    /// The probes the longest gap's outage held are a figure (stored in its own column), in
    /// the gap's source and in the summary line beside the lost ones.
    func testProbesHeldThroughTheGapAreAFigureAndSaid() throws {
        var made = try builder(try Fixtures.observation(.migrates))
        XCTAssertEqual(made.result().figures.pingGapLateProbes, 0)
        XCTAssertFalse(ReportWriter.summaryLine(made.result()).contains("held"))
        made.ping.analysis.downtimeLateProbes = 2
        let result = made.result()
        XCTAssertEqual(result.figures.pingGapLateProbes, 2)
        XCTAssertEqual(result.figures.pingDowntimeEstimateMilliseconds, made.ping.analysis.downtimeMilliseconds)
        let source = try XCTUnwrap(result[source: .pingDowntimeMilliseconds])
        XCTAssertTrue(source.hasSuffix(", 2 held through it and answered late"), source)
        XCTAssertTrue(ReportWriter.summaryLine(result).contains("(+2 held, answered late)"), ReportWriter.summaryLine(result))
    }

    /// The guest's answer delay at the destination comes from that host's capture; its instants
    /// go on the run clock (the builder's start, 1 700 000 000 s) only when the host shares this
    /// machine's clock; without a reply the note says why; a failure scenario keeps none.
    func testTheGuestsAnswerDelayAtTheDestinationIsAFigureOnTheRunClockOnlyWhenTheClockIsShared() throws {
        var observation = try Fixtures.observation(.migrates)
        let origin: Int64 = 1_700_000_000_000_000_000
        var echoes = DestinationEchoObservation(guestAddress: "198.18.1.10", firstProbeEpochNanoseconds: origin + 4_500_250_000,
                                                firstProbeSequence: 4_400, firstReplyEpochNanoseconds: origin + 4_523_750_000,
                                                firstReplySequence: 4_400, probesBeforeFirstReply: 23, echoPacketsCaptured: 900)
        echoes.clockIsThisMachines = true
        echoes.hostName = "dst"
        func observed(_ echoes: Looked<DestinationEchoObservation>?) -> Observation {
            var o = observation
            o.destinationEchoes = echoes
            return o
        }
        let shared = try builder(observed(.seen(echoes))).result()
        XCTAssertEqual(try XCTUnwrap(shared.figures.guestAnswerDelayMilliseconds), 23.5, accuracy: 1e-6)
        XCTAssertEqual(shared.figures.probesHeldAtDestination, 23)
        XCTAssertEqual(try XCTUnwrap(shared.figures.destinationFirstProbeOffsetMilliseconds), 4_500.25, accuracy: 1e-3)
        XCTAssertEqual(try XCTUnwrap(shared.figures.destinationFirstReplyOffsetMilliseconds), 4_523.75, accuracy: 1e-3)
        XCTAssertEqual(shared[source: .guestAnswerDelayMilliseconds],
                       "tcpdump on dst (every interface, kernel timestamps): the first echo request to 198.18.1.10 (sequence 4400) to "
                       + "the guest's first reply (sequence 4400), 23 probe(s) held before it")
        echoes.clockIsThisMachines = false
        let remote = try builder(observed(.seen(echoes))).result()
        XCTAssertEqual(try XCTUnwrap(remote.figures.guestAnswerDelayMilliseconds), 23.5, accuracy: 1e-6, "a difference on one clock")
        XCTAssertNil(remote.figures.destinationFirstProbeOffsetMilliseconds, "another machine's clock is not the run clock")
        XCTAssertNil(remote.figures.destinationFirstReplyOffsetMilliseconds)
        XCTAssertTrue(remote[source: .guestAnswerDelayMilliseconds]?.hasSuffix("dst's clock is its own, so its instants are not placed on the run clock") == true)
        echoes.firstReplyEpochNanoseconds = nil
        let unanswered = try builder(observed(.seen(echoes))).result()
        XCTAssertNil(unanswered.figures.guestAnswerDelayMilliseconds)
        XCTAssertTrue(unanswered.notes.contains("the guest's answer delay at the destination not measured: 198.18.1.10 did not answer on the destination while it was captured"),
                      "\(unanswered.notes)")
        let notCaptured = try builder(observed(.notLooked("tcpdump is not installed on dst"))).result()
        XCTAssertNil(notCaptured.figures.guestAnswerDelayMilliseconds)
        XCTAssertTrue(notCaptured.notes.contains("the guest's answer delay at the destination not measured: tcpdump is not installed on dst"),
                      "\(notCaptured.notes)")
        XCTAssertFalse(try builder(observed(nil)).result().notes.contains { $0.contains("answer delay") }, "not asked, nothing said")
        observation = try Fixtures.observation(.staysOnSource)
        echoes.firstReplyEpochNanoseconds = origin + 4_523_750_000
        XCTAssertNil(try builder(observed(.seen(echoes)), faultType: BogusMigrationURIFault.self).result().figures.guestAnswerDelayMilliseconds,
                     "a failure run's echoes are not a switch-over's")
    }

    func testADomainXMLThatCouldNotBeParsedIsSaid() throws {
        var made = try builder(try Fixtures.observation(.migrates))
        made.baseline.descriptionError = "XML error: line 1: premature end of data"
        XCTAssertTrue(made.result().notes.contains("the domain XML could not be parsed: XML error: line 1: premature end of data"))
        XCTAssertFalse(try builder(try Fixtures.observation(.migrates)).result().notes.contains { $0.contains("could not be parsed") })
    }

    func testWithoutCompletedStatsTheCallsWallClockStandsInAndSaysSo() throws {
        let result = try builder(try Fixtures.observation(.migrates)).result()
        XCTAssertEqual(result.migrationMilliseconds, 5_000, "the call's wall time")
        XCTAssertNil(result.libvirtDowntimeMilliseconds)
        XCTAssertEqual(result[source: .migrationMilliseconds],
                       "the verifier's monotonic clock around the migration call (libvirt gave no completed stats: no job-completed event from the source)",
                       "a landing whose stats could not be had says why, not that it did not complete")
    }

    func testAFailedMigrationHasNoModelComparisonNorLibvirtFigures() throws {
        let observation = try Fixtures.observation(.staysOnSource)
        let result = try builder(observation, faultType: MigrationPortsDroppedFault.self, completed: completed).result()
        XCTAssertTrue(result.passed, "\(result.failedChecks)")
        XCTAssertNil(result.modelComparison)
        XCTAssertNil(result.libvirtDowntimeMilliseconds, "completed stats of a migration that did not complete are not its figures")
        XCTAssertNil(result.figures.convergence, "no migration was meant to land")
        XCTAssertTrue(result[source: .migrationMilliseconds]?.hasSuffix("(libvirt gave no completed stats: the migration did not complete)") ?? false,
                      result[source: .migrationMilliseconds] ?? "no source")
        XCTAssertNotNil(result.libvirtError)
        XCTAssertEqual(result.fault, observation.fault)
    }

    func testTheGuestNetworkCutSaysThePingGapHoldsItsOutage() throws {
        var observation = try Fixtures.observation(.migrates)
        observation.parameters = Fixtures.parameters(.guestLinkCut)
        observation.fault = FaultEvidence(scenario: .guestLinkCut, acted: true, evidence: "br0 down", errorAsExpected: true,
                                          errorEvidence: "completed", guestNetwork: .cut(atMilliseconds: 2_000, milliseconds: 2_000))
        let result = try builder(observation, faultType: GuestNetworkCutFault.self).result()
        let downtime = try XCTUnwrap(result.crossChecks.first { $0.figure == CrossCheck.downtimeFigure })
        XCTAssertTrue(downtime.note.contains("the 2000 ms the fault cut the guest network"), downtime.note)
        XCTAssertTrue(result[source: .pingDowntimeMilliseconds]?.hasSuffix("includes the 2000 ms guest network outage the fault made") ?? false)
        let live = try builder(try Fixtures.observation(.migrates)).result()
        XCTAssertFalse(live.crossChecks.contains { $0.note.contains("cut the guest network") }, "only the fault that cut it says so")
    }

    func testTheResultCarriesThePreCopyRateOrSaysWhyALimitWasNotJudged() throws {
        var observation = try Fixtures.observation(.migrates)
        observation.outcome.samples = PreCopyTransferTests.samples(rateMiB: 48, seconds: 20)
        observation.migrationOptions = observation.parameters.migration
        observation.migrationOptions?.bandwidthMiBPerSecond = 48
        let result = try builder(observation).result()
        XCTAssertEqual(try XCTUnwrap(result.figures.preCopyTransferRateMiBPerSecond), 48, accuracy: 1e-9)
        XCTAssertEqual(result.figures.preCopySeconds, 20)

        observation.outcome.samples = Array(PreCopyTransferTests.samples(rateMiB: 48, seconds: 1).prefix(6))
        let short = try builder(observation).result()
        XCTAssertNil(short.figures.preCopyTransferRateMiBPerSecond)
        XCTAssertTrue(short.notes.contains { $0.hasPrefix("bandwidth-honoured not judged against the 48 MiB/s limit: only 300 ms of pre-copy") },
                      "\(short.notes)")
    }

    /// One host sampled twice: the QEMU's vCPU spent 1.5 s and its daemon 0.5 s.
    private func cpuSampling() -> MigrationCPUSampling {
        var account = HostCPUAccount(hostName: "src")
        let tracked: [Int32: TrackedProcess] = [10: TrackedProcess(kind: .qemu, startedInWindow: false),
                                                20: TrackedProcess(kind: .daemon, startedInWindow: false)]
        account.record(ThreadCPUTests.reading([(10, 100, 1, [(10, "qemu", 50), (11, "CPU 0/KVM", 50)]), (20, 10, 1, [])]),
                       tracked: tracked, atMilliseconds: 1_000)
        account.record(ThreadCPUTests.reading([(10, 250, 1, [(10, "qemu", 50), (11, "CPU 0/KVM", 200)]), (20, 60, 1, [])], gone: []),
                       tracked: tracked, atMilliseconds: 5_800)
        return MigrationCPUSampling(source: account, destination: HostCPUAccount(hostName: "dst", notSampled: "no shell on the destination"),
                                    intervalMilliseconds: 250)
    }

    func testTheCPUCostIsPerGiBOfTheBytesTheRunMovedAndShown() throws {
        var made = try builder(try Fixtures.observation(.migrates), completed: completed)
        made.drive.cpu = cpuSampling()
        let result = made.result()
        let cost = try XCTUnwrap(result.figures.cpuCost)
        XCTAssertEqual(cost.source.totalCPUSeconds, 2)
        XCTAssertEqual(cost.source.qemuCPUSecondsByRole[.vcpu], 1.5)
        XCTAssertEqual(try XCTUnwrap(cost.movedGiB), 700.0 / 1_024, accuracy: 1e-12, "transferredBytes: 700 MiB")
        XCTAssertEqual(cost.source.migrationCPUSeconds, 0.5, "the daemon's: the vCPU's 1.5 s are the guest's own work")
        XCTAssertEqual(try XCTUnwrap(cost.source.cpuSecondsPerGiB), 0.5 / (700.0 / 1_024), accuracy: 1e-9)
        XCTAssertEqual(cost.movedSource, "transferredBytes (\(completed.source))")
        XCTAssertEqual(cost.destination.notMeasured, "no shell on the destination")

        let summary = ReportWriter.summaryLine(result)
        XCTAssertTrue(summary.contains("cpu src 2 s (0.73 s/GiB)"), summary)
        let details = ReportWriter.details(result)
        XCTAssertTrue(details.contains("  host cpu s        vCPU migration   multifd main loop     other     ended  libvirtd     total per GiB (less vCPU)\n"
                                       + "  src                1.5         0         0         0         0         0       0.5         2      0.73\n"
                                       + "  dst         not measured: no shell on the destination"), details)
        XCTAssertTrue(details.contains("host cpu: utime+stime of /proc/PID/stat and /proc/PID/task/TID/stat divided by CLK_TCK (100)"), details)

        // A migration that did not complete has no completed stats: the most any sample showed moved.
        var failed = try builder(try Fixtures.observation(.staysOnSource), faultType: MigrationPortsDroppedFault.self)
        failed.drive.outcome.samples = [JobSample(offsetMilliseconds: 1_500, jobType: "unbounded", dataProcessedBytes: 512 << 20, dataTotalBytes: 1 << 30)]
        failed.drive.cpu = cpuSampling()
        let moved = try XCTUnwrap(failed.result().figures.cpuCost)
        XCTAssertEqual(moved.movedGiB, 0.5)
        XCTAssertEqual(moved.source.cpuSecondsPerGiB, 1)
        XCTAssertEqual(moved.movedSource, "the largest data_processed of the job-stats samples (no completed job stats)")
        XCTAssertNil(try builder(try Fixtures.observation(.migrates)).result().figures.cpuCost, "not sampled: no figures")
    }

    /// QEMU's expected downtime is the last forecast of the job still in pre-copy: not the
    /// `downtime` of the completed job (the measured one), not a sample without a value.
    func testQEMUsExpectedDowntimeIsTheLastForecastBeforeTheJobCompleted() throws {
        let samples = [
            JobSample(offsetMilliseconds: 900, jobType: "none", expectedDowntimeMilliseconds: 999),
            JobSample(offsetMilliseconds: 1_000, jobType: "unbounded", memoryIteration: 1, expectedDowntimeMilliseconds: 300),
            JobSample(offsetMilliseconds: 1_100, jobType: "unbounded", memoryIteration: 2, expectedDowntimeMilliseconds: 120),
            JobSample(offsetMilliseconds: 1_200, jobType: "unbounded", memoryIteration: 3),
            JobSample(side: "destination", offsetMilliseconds: 1_250, jobType: "unbounded", expectedDowntimeMilliseconds: 7),
            JobSample(offsetMilliseconds: 1_300, jobType: "completed", memoryIteration: 3, expectedDowntimeMilliseconds: 42),
        ]
        var made = try builder(try Fixtures.observation(.migrates), completed: completed)
        made.drive.outcome.samples = samples
        let result = made.result()
        XCTAssertEqual(result.figures.qemuExpectedDowntimeMilliseconds, 120, "the last forecast, not the completed job's 42 ms")
        XCTAssertEqual(result.libvirtDowntimeMilliseconds, 42)
        let source = try XCTUnwrap(result.figures.qemuExpectedDowntimeSource)
        XCTAssertTrue(source.hasPrefix("libvirt's job stats `downtime` while the job ran (QEMU's expected_downtime) in the last of 3 source sample(s) "
                                       + "of the job in pre-copy (unbounded), at 1100 ms on the run clock, pass 2"), source)
        XCTAssertEqual(SweepAnalysis.observation(result).qemuExpectedDowntimeMilliseconds, 120, "the fit sees it")

        // After a switch to post-copy, only the forecasts before it.
        XCTAssertEqual(QEMUExpectedDowntime(samples: samples, postCopyStartedAtMilliseconds: 1_050).milliseconds, 300)
        XCTAssertEqual(QEMUExpectedDowntime(samples: Array(samples.prefix(2)) + [samples[5]]).milliseconds, 300)
        // None: why.
        let empty = QEMUExpectedDowntime(samples: [])
        XCTAssertNil(empty.milliseconds)
        XCTAssertEqual(empty.source, "not measured: no job-stats sample of the source")
        let ended = QEMUExpectedDowntime(samples: [samples[0], samples[5]])
        XCTAssertNil(ended.milliseconds, "neither a job not started nor a completed one forecasts")
        XCTAssertEqual(ended.source, "not measured: none of the 2 job-stats sample(s) of the source was of the job still in pre-copy (unbounded or bounded)")
        let silent = QEMUExpectedDowntime(samples: [samples[3], samples[5]])
        XCTAssertNil(silent.milliseconds)
        XCTAssertEqual(silent.source, "not measured: libvirt gave no `downtime` in the 1 job-stats sample(s) of the job in pre-copy")
        made.drive.outcome.samples = []
        XCTAssertNil(made.result().figures.qemuExpectedDowntimeMilliseconds)
        XCTAssertEqual(made.result().figures.qemuExpectedDowntimeSource, "not measured: no job-stats sample of the source")
    }
}
