import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Libvirt
import PingMonitor
import XCTest
@testable import Verifier

final class ParameterTests: XCTestCase {
    func testOptionsMapToLibvirtFlagsAndParameters() {
        let plain = MigrationOptions()
        XCTAssertEqual(plain.libvirtFlags, [.live, .peerToPeer])
        XCTAssertEqual(plain.libvirtParameters(), MigrationParameters())

        let all = MigrationOptions(mode: .clientManaged, bandwidthMiBPerSecond: 100, qemuMaxDowntimeMilliseconds: 50,
                                   autoConverge: true, postCopy: false, parallelConnections: 4, compressionMethods: ["zstd"])
        XCTAssertEqual(all.libvirtFlags, [.live, .autoConverge, .parallel, .compressed])
        XCTAssertFalse(all.libvirtFlags.contains(.peerToPeer))
        let parameters = all.libvirtParameters(migrationURI: "foo://bar")
        XCTAssertEqual(parameters.migrationURI, "foo://bar")
        XCTAssertEqual(parameters.bandwidthMiBPerSecond, 100)
        XCTAssertEqual(parameters.parallelConnections, 4)
        XCTAssertEqual(parameters.compressionMethods, ["zstd"])
        XCTAssertTrue(MigrationOptions(postCopy: true).libvirtFlags.contains(.postCopy))
    }

    /// `--save-captures` names each run's capture by start time and parameters, as pcapng.
    func testCaptureFileNamesArePcapng() {
        var parameters = Fixtures.parameters(.live, memoryMiB: 2_048, rate: 50)
        parameters.repetition = 3
        XCTAssertEqual(ScenarioRunner.captureFileName(parameters, startedAt: Date(timeIntervalSince1970: 1_795_000_000)),
                       "20261118T110640Z-live-2048MiB-50MiBps-\(parameters.guestKind)-3.pcapng")
    }

    func testClientManagedModeReadsItsOldStoredName() throws {
        let decoder = JSONDecoder()
        XCTAssertEqual(try decoder.decode([MigrationMode].self, from: Data(#"["direct","client-managed","p2p"]"#.utf8)),
                       [.clientManaged, .clientManaged, .peerToPeer])
        XCTAssertEqual(String(decoding: try JSONEncoder().encode([MigrationMode.clientManaged]), as: UTF8.self), #"["client-managed"]"#)
        XCTAssertThrowsError(try decoder.decode([MigrationMode].self, from: Data(#"["unmanaged"]"#.utf8)))
        // Options stored before the rename still decode.
        let stored = #"{"mode":"direct","autoConverge":false,"postCopy":false,"compressionMethods":[]}"#
        XCTAssertEqual(try decoder.decode(MigrationOptions.self, from: Data(stored.utf8)), MigrationOptions(mode: .clientManaged))
    }

    func assertInvalid(_ body: () throws -> Void, contains fragment: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        do {
            try body()
            XCTFail("expected a validation error containing '\(fragment)'", file: file, line: line)
        } catch let error as VerifierError {
            XCTAssertTrue(error.description.contains(fragment), "\(error.description)", file: file, line: line)
            XCTAssertFalse(error.description.contains("\n"), "one line: \(error.description)", file: file, line: line)
        } catch {
            XCTFail("expected a VerifierError, got \(error)", file: file, line: line)
        }
    }

    func testConflictingOptionsAreRejectedInOneLine() {
        assertInvalid({ try MigrationOptions(parallelConnections: 4, compressionMethods: ["xbzrle"]).validate() }, contains: "xbzrle")
        assertInvalid({ try MigrationOptions(compressionMethods: ["zstd"]).validate() }, contains: "needs --parallel-connections")
        assertInvalid({ try MigrationOptions(postCopy: true, compressionMethods: ["xbzrle"]).validate() }, contains: "--postcopy")
        assertInvalid({ try MigrationOptions(compressionMethods: ["lzma"]).validate() }, contains: "unknown compression")
        assertInvalid({ try MigrationOptions(parallelConnections: 1).validate() }, contains: "between 2 and 255")
        assertInvalid({ try MigrationOptions(bandwidthMiBPerSecond: 0).validate() }, contains: "between 1 and 1000000")
        assertInvalid({ try MigrationOptions(qemuMaxDowntimeMilliseconds: UInt64.max).validate() }, contains: "between 1 and 2000000")

        var same = Fixtures.parameters()
        same.endpoints.destinationURI = same.endpoints.sourceURI
        assertInvalid({ try same.validate() }, contains: "the same")
        var back = Fixtures.parameters(.prepareFail)
        back.roundTrip = true
        assertInvalid({ try back.validate() }, contains: "--back")
        var stall = Fixtures.parameters()
        stall.stallTimeoutSeconds = 200
        assertInvalid({ try stall.validate() }, contains: "cannot exceed")
        for kind in ScenarioKind.allCases { XCTAssertNoThrow(try Fixtures.parameters(kind).validate(), "\(kind)") }
        assertInvalid({ try Fixtures.parameters(rate: -1).validate() }, contains: "dirty-rate")
        var memeater = Fixtures.parameters()
        memeater.memeaterSizeMiB = 320
        assertInvalid({ try memeater.validate() }, contains: "--memeater-size-mib")
        XCTAssertNoThrow(try Fixtures.parameters().validate())
    }

    func testMemoryLargerThanTheHostIsRejected() {
        XCTAssertNoThrow(try checkMemoryFits(requestedMiB: 1024, availableMiB: 4096))
        assertInvalid({ try checkMemoryFits(requestedMiB: 4000, availableMiB: 4096) }, contains: "does not fit")
        // One guest of 2000 MiB fits into 4096 MiB, but a migration holds it twice.
        assertInvalid({ try checkMemoryFits(requestedMiB: 2000, availableMiB: 4096) }, contains: "runs two QEMUs of it, 4512 MiB")
        XCTAssertNoThrow(try checkMemoryFits(requestedMiB: 1792, availableMiB: 4096))
        // An evacuation's guests migrate at once: 3 × 2 × (512 + 256) = 4608 MiB.
        XCTAssertNoThrow(try checkMemoryFits(requestedMiB: 512, guestCount: 3, availableMiB: 4608))
        assertInvalid({ try checkMemoryFits(requestedMiB: 512, guestCount: 3, availableMiB: 4607) },
                      contains: "3 guests of 512 MiB do not fit: their migrations on this machine run two QEMUs of each, 4608 MiB")
        XCTAssertEqual(hostAvailableMemoryMiB(meminfo: "MemTotal: 100 kB\nMemAvailable:    2097152 kB\n"), 2048)
        XCTAssertNil(hostAvailableMemoryMiB(meminfo: "garbage"))
    }

    func testRunsExpandInOrderWithoutDuplicatesAndEqualParametersGiveEqualKeys() throws {
        let runs = try SweepMatrix(scenarios: [.live, .prepareFail], memorySizesMiB: [333, 1024, 333],
                                   dirtyRatesMiBPerSecond: [50]).cells(template: Fixtures.parameters())
        XCTAssertEqual(runs.map(\.scenario), [.live, .prepareFail, .live, .prepareFail])
        XCTAssertEqual(runs.map(\.memoryMiB), [333, 333, 1024, 1024])
        XCTAssertEqual(runs[2].memeaterSizeMiB, 512)
        XCTAssertEqual(Fixtures.parameters().key, Fixtures.parameters().key)
        XCTAssertNotEqual(Fixtures.parameters().key, Fixtures.parameters(rate: 51).key)
        XCTAssertEqual(Fixtures.parameters().label, "live 333 MiB @ 50 MiB/s")
        XCTAssertEqual(Fixtures.parameters(rate: 0).label, "live 333 MiB @ unlimited")
    }
}

final class ResultTests: XCTestCase {
    func testPassedOnlyWhenEveryCheckPassedAndThereIsOne() {
        var result = Fixtures.result(checks: [])
        XCTAssertFalse(result.passed, "no checks: nothing was shown")
        result.add(Check(name: "a", passed: true, evidence: "looked"))
        XCTAssertTrue(result.passed)
        result.add(.notMeasured("b", because: "no access"))
        XCTAssertFalse(result.passed)
        XCTAssertEqual(result.failedChecks.map(\.name), ["b"])
        XCTAssertEqual(result.failedChecks.first?.evidence, "not measured: no access")
    }

    func testJSONHasEveryContractFieldAndNullForUnmeasuredFigures() throws {
        var result = Fixtures.result(checks: [Check(name: "memory-integrity", passed: true, evidence: "0 of 32768 pages bad")])
        result.pingDowntimeMilliseconds = nil
        let data = try ReportWriter.json([result])
        let array = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        let object = try XCTUnwrap(array.first)
        for key in ["scenario", "memoryMiB", "dirtyRateMiBPerSecond", "passed", "checks", "migrationMilliseconds",
                    "libvirtDowntimeMilliseconds", "pingDowntimeMilliseconds", "pingLost", "integrityErrors", "accel",
                    "qemuVersion", "libvirtVersion"] {
            XCTAssertTrue(object.keys.contains(key), "missing \(key)")
        }
        XCTAssertTrue(object["pingDowntimeMilliseconds"] is NSNull)
        XCTAssertEqual(object["scenario"] as? String, "live")
        XCTAssertEqual(object["memoryMiB"] as? Int, 333)
        XCTAssertEqual(object["pingLost"] as? Int, 3)
        let checks = try XCTUnwrap(object["checks"] as? [[String: Any]])
        XCTAssertEqual(checks.first?["name"] as? String, "memory-integrity")
        XCTAssertEqual(checks.first?["passed"] as? Bool, true)
        XCTAssertEqual(checks.first?["evidence"] as? String, "0 of 32768 pages bad")
        // Round trip.
        let decoded = try resultsJSONDecoder().decode([ScenarioResult].self, from: data)
        XCTAssertEqual(decoded, [result])
    }

    func testJUnitHasOneTestcasePerCheckAndFailuresCarryEvidence() throws {
        let result = Fixtures.result(checks: [
            Check(name: "guest-on-destination", passed: true, evidence: "running on dst"),
            Check(name: "memory-integrity", passed: false, evidence: "2 of 100 pages bad: page 7 <expected 3>"),
        ])
        let xml = ReportWriter.junit([result, Fixtures.result(.prepareFail, checks: [Check(name: "x", passed: true, evidence: "e & f")])])
        XCTAssertEqual(xml.components(separatedBy: "<testcase ").count - 1, 3)
        XCTAssertEqual(xml.components(separatedBy: "<failure ").count - 1, 1)
        XCTAssertTrue(xml.contains(#"<testsuites name="migverify" tests="3" failures="1""#))
        XCTAssertTrue(xml.contains("page 7 &lt;expected 3&gt;"))
        XCTAssertTrue(xml.contains("e &amp; f"))
        XCTAssertTrue(xml.contains(#"time="12.500""#))
        // Well-formed XML.
        let document = try XMLDocument(xmlString: xml)
        XCTAssertEqual(try document.nodes(forXPath: "//testcase").count, 3)
        XCTAssertEqual(try document.nodes(forXPath: "//testcase[@name='memory-integrity']/failure").count, 1)
    }

    func testXMLEscapingDropsForbiddenControlCharacters() {
        XCTAssertEqual(xmlEscaped("a\u{01}b\"<'>"), "ab&quot;&lt;&apos;&gt;")
    }

    func testVerdictTableShowsEveryCheckAndTheOverallVerdict() {
        let pass = Fixtures.result(checks: [Check(name: "guest-on-destination", passed: true, evidence: "running on dst")])
        let fail = Fixtures.result(.prepareFail, checks: [Check(name: "migration-outcome", passed: false, evidence: "it succeeded")])
        let table = ReportWriter.verdictTable([pass, fail])
        XCTAssertTrue(table.contains("live 333 MiB @ 50 MiB/s on initramfs: PASS, 1 checks\n  PASS  guest-on-destination  running on dst"), table)
        XCTAssertTrue(table.contains(": FAIL, 1 of 1 checks failed\n  FAIL  migration-outcome     it succeeded"), table)
        XCTAssertTrue(table.contains("VERDICT: FAIL (1 of 2 scenario run(s) failed, 1 of 2 checks)"), table)
        XCTAssertTrue(ReportWriter.verdictTable([pass]).contains("VERDICT: PASS (1 scenario run(s), 1 checks)"))
        XCTAssertTrue(ReportWriter.verdictTable([]).contains("VERDICT: FAIL"), "nothing run is not a pass")
        XCTAssertTrue(ReportWriter.summaryLine(pass).contains("downtime libvirt 120 ms / ping 140.5 ms, "))
        var clocked = pass
        clocked.figures.guestClockLagLowerBoundMilliseconds = 110
        clocked.figures.guestClockLagUpperBoundMilliseconds = 116
        XCTAssertTrue(ReportWriter.summaryLine(clocked).contains("downtime libvirt 120 ms / ping 140.5 ms / guest's clock 113 ms, "),
                      ReportWriter.summaryLine(clocked))
    }

    func testVerdictTableFitsA100ColumnTerminalAndKeepsEverythingWithoutAWidth() {
        let long = String(repeating: "evidence ", count: 40)
        let results = [Fixtures.result(checks: [Check(name: CheckName.destinationDomainUntouched, passed: true, evidence: long),
                                                Check(name: CheckName.pingContinuity, passed: false, evidence: "short")])]
        let narrow = ReportWriter.verdictTable(results, width: 100)
        let tooWide = narrow.split(separator: "\n").filter { $0.count > 100 }
        XCTAssertEqual(tooWide, [], narrow)
        XCTAssertTrue(narrow.contains("  PASS  destination-domain-untouched  evidence evidence"), narrow)
        XCTAssertTrue(narrow.contains("…"), "the long evidence is shortened")
        XCTAssertTrue(narrow.contains("  FAIL  ping-continuity               short"), narrow)
        XCTAssertTrue(narrow.contains("\n    "), "the summary line is wrapped, continuation indented")
        XCTAssertTrue(ReportWriter.verdictTable(results).contains(long), "no width: evidence whole")
    }
}

/// The switch-over on the run clock: libvirt's lifecycle events split the longest ping gap.
final class PingGapPhasesTests: XCTestCase {
    private func lifecycle(_ host: HostRole, _ kind: LifecycleEventKind, at offset: Double) -> SeenDomainEvent {
        SeenDomainEvent(offsetMilliseconds: offset, host: host, event: .lifecycle(domainName: "g", kind: kind, rawKind: kind.rawValue, detail: 1))
    }

    func testThePauseIsTheSourcesLastSuspendBeforeTheDestinationsFirstResume() throws {
        let events = [lifecycle(.destination, .started, at: 10), lifecycle(.source, .suspended, at: 50), lifecycle(.source, .resumed, at: 60),
                      lifecycle(.source, .suspended, at: 100), lifecycle(.destination, .resumed, at: 222),
                      lifecycle(.source, .suspended, at: 300), lifecycle(.destination, .resumed, at: 400)]
        let pause = try XCTUnwrap(GuestPauseEvents(events))
        XCTAssertEqual(pause.suspendedOffsetMilliseconds, 100)
        XCTAssertEqual(pause.resumedOffsetMilliseconds, 222)
        XCTAssertNil(GuestPauseEvents([lifecycle(.source, .suspended, at: 100)]), "no resume on the destination")
        XCTAssertNil(GuestPauseEvents([lifecycle(.destination, .resumed, at: 100), lifecycle(.source, .suspended, at: 150)]),
                     "no suspend before the resume")
    }

    /// Gap 90 → 290; suspended at 100, resumed at 222, announce at 221: 10 + 122 + 68 = 200.
    func testTheGapSplitsAtThePauseAndTheResume() throws {
        var figures = MigrationFigures()
        figures.pingGapStartOffsetMilliseconds = 90
        figures.pingGaps = [TimedSpan(startOffsetMilliseconds: 20, lengthMilliseconds: 8), TimedSpan(startOffsetMilliseconds: 90, lengthMilliseconds: 200)]
        figures.sourceSuspendedOffsetMilliseconds = 100
        figures.destinationResumedOffsetMilliseconds = 222
        figures.announceOffsetsMilliseconds = [30, 221]
        let phases = try XCTUnwrap(figures.pingGapPhases)
        XCTAssertEqual(phases, PingGapPhases(beforePauseMilliseconds: 10, pausedMilliseconds: 122, afterResumeMilliseconds: 68,
                                             announceAfterResumeMilliseconds: -1))
        figures.destinationResumedOffsetMilliseconds = 300
        XCTAssertNil(figures.pingGapPhases, "a resume after the gap ended is not this gap's")
        figures.destinationResumedOffsetMilliseconds = nil
        XCTAssertNil(figures.pingGapPhases)
    }

    /// A longer gap during the pre-copy (a starved guest answered late) is not the switch-over's:
    /// the gap over the pause is split and announced from, and without the events the longest stands in.
    func testTheSwitchOverGapIsTheOneOverThePauseNotTheLongest() throws {
        var figures = MigrationFigures()
        figures.pingGapStartOffsetMilliseconds = 10
        figures.pingGaps = [TimedSpan(startOffsetMilliseconds: 10, lengthMilliseconds: 300), TimedSpan(startOffsetMilliseconds: 500, lengthMilliseconds: 200)]
        figures.sourceSuspendedOffsetMilliseconds = 510
        figures.destinationResumedOffsetMilliseconds = 632
        figures.announceOffsetsMilliseconds = [631, 700]
        XCTAssertEqual(figures.switchOverPingGap, TimedSpan(startOffsetMilliseconds: 500, lengthMilliseconds: 200))
        XCTAssertEqual(try XCTUnwrap(figures.pingGapPhases),
                       PingGapPhases(beforePauseMilliseconds: 10, pausedMilliseconds: 122, afterResumeMilliseconds: 68,
                                     announceAfterResumeMilliseconds: -1))
        XCTAssertEqual(try XCTUnwrap(figures.announceDelayMilliseconds(libvirtDowntimeMilliseconds: 100)), 31, accuracy: 1e-9)
        XCTAssertFalse(figures.longestPingGapIsTheSwitchOvers, "the longest came before the pause")
        figures.sourceSuspendedOffsetMilliseconds = nil
        XCTAssertEqual(figures.switchOverPingGap, TimedSpan(startOffsetMilliseconds: 10, lengthMilliseconds: 300), "no events: the longest")
        XCTAssertTrue(figures.longestPingGapIsTheSwitchOvers)
    }

    /// The lab's run 29 of sweep c3: the resumed guest answered a probe carried in its memory
    /// (39.3 ms into the outage), then nothing for 75.5 ms until the announce. Without the
    /// destination's capture, pingmon's upper bound on the longest gap (115 ms) reaching back
    /// into the switch-over's gap joins them; a bound that does not reach back leaves them apart.
    func testAGapSplitByAReplyToACarriedProbeIsOneOutage() throws {
        var figures = MigrationFigures()
        figures.pingGaps = [TimedSpan(startOffsetMilliseconds: 21_753.1, lengthMilliseconds: 39.32),
                            TimedSpan(startOffsetMilliseconds: 21_792.45, lengthMilliseconds: 75.45),
                            TimedSpan(startOffsetMilliseconds: 21_876.5, lengthMilliseconds: 42.6)]
        figures.pingGapStartOffsetMilliseconds = 21_792.45
        figures.sourceSuspendedOffsetMilliseconds = 21_754
        figures.destinationResumedOffsetMilliseconds = 21_790
        figures.probeIntervalMicroseconds = 1000
        figures.pingGapUpperBoundMilliseconds = 114.98
        XCTAssertEqual(figures.switchOverPingGap?.startOffsetMilliseconds, 21_753.1)
        let joined = TimedSpan(startOffsetMilliseconds: 21_753.1, lengthMilliseconds: 21_792.45 + 75.45 - 21_753.1)
        XCTAssertEqual(try XCTUnwrap(figures.switchOverOutage).lengthMilliseconds, joined.lengthMilliseconds, accuracy: 1e-9,
                       "from the pause's gap to the longest's end (its bound reaches back to 21752.92)")
        XCTAssertTrue(figures.longestPingGapIsTheSwitchOvers)
        figures.pingGapUpperBoundMilliseconds = 75.9
        XCTAssertEqual(figures.switchOverOutage, figures.pingGaps.first, "its bounds are its own: a second outage")
        XCTAssertFalse(figures.longestPingGapIsTheSwitchOvers)
        figures.pingGapUpperBoundMilliseconds = 114.98 - 39.32 + 3.5
        XCTAssertEqual(figures.switchOverOutage, figures.pingGaps.first, "reaches back only to 3.5 ms after the switch-over's gap began")
        // The destination's capture decides when it is on the run clock: the first reply after a probe arrived there.
        figures.destinationFirstReplyOffsetMilliseconds = 21_867.9
        XCTAssertEqual(try XCTUnwrap(figures.switchOverOutage).lengthMilliseconds, joined.lengthMilliseconds, accuracy: 1e-9)
        figures.destinationFirstReplyOffsetMilliseconds = 21_792.4
        XCTAssertEqual(figures.switchOverOutage, figures.pingGaps.first, "the guest answered the waiting probes first")
    }

    /// The lab's run 15 of sweep b3: the switch-over's gap (180.1 ms) is the longest, the reply
    /// to a carried probe ends it, and the probes that reached the destination waited 47.4 ms
    /// more (lost, not late, so pingmon's bounds are the first gap's): the destination's first
    /// reply after them joins the two.
    func testTheDestinationsFirstReplyJoinsAGapAfterTheLongest() throws {
        var figures = MigrationFigures()
        figures.pingGaps = [TimedSpan(startOffsetMilliseconds: 6_505.7, lengthMilliseconds: 6),
                            TimedSpan(startOffsetMilliseconds: 6_523.2, lengthMilliseconds: 180.1),
                            TimedSpan(startOffsetMilliseconds: 6_703.3, lengthMilliseconds: 47.4),
                            TimedSpan(startOffsetMilliseconds: 6_764.8, lengthMilliseconds: 51.4)]
        figures.pingGapStartOffsetMilliseconds = 6_523.2
        figures.pingGapUpperBoundMilliseconds = 181
        figures.sourceSuspendedOffsetMilliseconds = 6_526.9
        figures.destinationResumedOffsetMilliseconds = 6_707.3
        XCTAssertEqual(figures.switchOverOutage, figures.pingGaps[1], "without the destination's capture: the gap alone")
        figures.destinationFirstReplyOffsetMilliseconds = 6_750.59
        let outage = try XCTUnwrap(figures.switchOverOutage)
        XCTAssertEqual(outage.startOffsetMilliseconds, 6_523.2)
        XCTAssertEqual(outage.lengthMilliseconds, 6_703.3 + 47.4 - 6_523.2, accuracy: 1e-9, "180.1 + the reply + 47.4, not the gap after")
        XCTAssertTrue(figures.longestPingGapIsTheSwitchOvers)
    }
}

/// ping-continuity's "stopped answering when probing ended" is the trailing edge only.
final class PingSummaryEdgeTests: XCTestCase {
    private func summary(_ events: [ProbeEvent]) throws -> PingSummary {
        let analysis = PingAnalyzer.analyze(ProbeLog(events: events, nominalIntervalNanoseconds: 1_000_000))
        let report = PingReport(mode: .live, target: try PingConfiguration.parseTarget("198.18.1.10"), interface: "up0", captureFile: nil,
                                icmpIdentifier: 1, linkLayer: .ethernet, timestampPrecision: .nano, timestampSource: "synthetic",
                                analysis: analysis, packetsCaptured: events.count, packetsIgnored: 0, sender: nil, capture: nil,
                                verdict: Verdict(passed: true, checks: [], failures: []), warnings: [])
        return PingSummary(report)
    }

    /// 100 probes 1 ms apart; `answer` says when probe N's reply comes (nil: never).
    private func probes(_ answer: (Int64, Int64) -> Int64?) -> [ProbeEvent] {
        (0..<100).flatMap { sequence -> [ProbeEvent] in
            let sent = Int64(sequence) * 1_000_000
            return [.request(UInt64(sequence), at: sent)] + (answer(Int64(sequence), sent).map { [.reply(UInt64(sequence), at: $0)] } ?? [])
        }
    }

    func testTheFirstProbesAnsweredLateAreNotAGuestThatStoppedAnswering() throws {
        // The first 9 probes are held until 9 ms (a stalled vCPU as probing began), the rest answered at once.
        let leading = try summary(probes { sequence, sent in sequence < 9 ? 9_000_000 + sequence * 1_000 : sent + 100_000 })
        XCTAssertGreaterThan(leading.longestGapMilliseconds, 8)
        XCTAssertFalse(leading.openEnded, "the gap is at the capture's start")
        // The last 20 probes never answered: the guest stopped answering.
        let trailing = try summary(probes { sequence, sent in sequence < 80 ? sent + 100_000 : nil })
        XCTAssertTrue(trailing.openEnded)
    }
}
