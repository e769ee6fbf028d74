import Foundation
import Libvirt
import MemeaterKit
import XCTest
@testable import Verifier

// MARK: fixtures

/// Observations for the checks' tests: one fully valid observation per expectation, which
/// each test changes in exactly one place.
extension Fixtures {
    /// Domain states as libvirt reports them (raw state, raw reason).
    static let runningBooted = DomainStateInfo(rawState: 1, rawReason: 1)
    static let runningMigrated = DomainStateInfo(rawState: 1, rawReason: 2)
    static let pausedMigrating = DomainStateInfo(rawState: 3, rawReason: 2)
    static let shutOffMigrated = DomainStateInfo(rawState: 5, rawReason: 4)
    static let shutOffDestroyed = DomainStateInfo(rawState: 5, rawReason: 2)
    static let shutOffFailed = DomainStateInfo(rawState: 5, rawReason: 6)

    /// The hosts' interfaces without the guest's tap.
    static let hostInterfaces: Set<String> = ["lo", "eth0", "br0"]
    static let guestTap = "vnet0"
    static let guestQEMU = QEMUProcess(pid: 5151, command: "qemu-system-x86", incoming: false)
    static let bootID = "6a1f0c52-93d4-4b8e-b2a7-0c1d2e3f4a5b"
    static let memeaterConnection = "the control connection survived the move (stats answered at 198.18.1.10:7777)"
    /// A migration that failed for a reason no fault causes.
    static let qemuMonitorClosed = "virDomainMigrateToURI3 failed (uri qemu+tcp://198.18.0.2/system, domain lab-guest): internal error: QEMU unexpectedly closed the monitor (vm='lab-guest'): qemu-system-x86_64: could not open kernel file '/var/lib/lab/vmlinuz': No such file or directory [libvirt error 1]"
    /// libvirt's error after the verifier aborted a stalled job.
    static let canceledByClient = "virDomainMigrateToURI3 failed (uri qemu+tcp://198.18.0.2/system, domain lab-guest): operation aborted: job 'migration out' canceled by client [libvirt error 78]"

    /// memeater's `info`, as its control protocol sends it.
    static func controlInfo(pid: Int = 41, bootID: String? = bootID, uptimeSeconds: Double?) throws -> ControlInfo {
        var info = try JSONDecoder().decode(ControlInfo.self, from: Data("""
            {"protocolVersion": 1, "pid": 41, "sizeMiB": 128, "pageSizeBytes": 4096, "pageCount": 32768, "threads": 1,
             "pattern": "random", "bytesPerWrite": 8, "seed": 7}
            """.utf8))
        info.pid = pid
        info.bootId = bootID
        info.uptimeSeconds = uptimeSeconds
        return info
    }

    /// memeater's `stats`.
    static func progressRecord(integrityErrors: UInt64 = 0) throws -> ProgressRecord {
        var record = try JSONDecoder().decode(ProgressRecord.self, from: Data("""
            {"type": "progress", "timestampSeconds": 1700000010, "elapsedSeconds": 130, "windowSeconds": 1,
             "targetPagesPerSecond": 12800, "achievedPagesPerSecond": 12790, "targetMiBPerSecond": 50,
             "achievedMiBPerSecond": 49.96, "pagesDirtied": 1600000, "pagesWritten": 1700000, "pagesVerified": 1600000,
             "integrityErrors": 0, "maxStallMicroseconds": 160000, "paused": false}
            """.utf8))
        record.integrityErrors = integrityErrors
        return record
    }

    /// A page memeater found stale.
    static func badPage(_ page: Int, expected: UInt64, found: UInt64) throws -> BadPage {
        try JSONDecoder().decode(BadPage.self, from: Data("""
            {"page": \(page), "expectedGeneration": \(expected), "foundGeneration": \(found), "foundIndex": \(page),
             "firstBadByteOffset": 8}
            """.utf8))
    }

    /// memeater's `verify-all`.
    static func verification(pagesChecked: UInt64 = 32768, badPages: [BadPage] = []) throws -> VerificationReport {
        var report = try JSONDecoder().decode(VerificationReport.self, from: Data("""
            {"pagesChecked": 0, "badPagesTotal": 0, "elapsedMilliseconds": 85.5, "badPages": []}
            """.utf8))
        report.pagesChecked = pagesChecked
        report.badPagesTotal = UInt64(badPages.count)
        report.badPages = badPages
        return report
    }

    /// A migration call that started at `startedAt` ms on the run clock and returned `wall` ms later.
    static func outcome(_ ending: MigrationEnding, startedAt: Double = 500, wall: Double, faultNote: String? = nil) -> MigrationOutcome {
        MigrationOutcome(ending: ending, startedAtMilliseconds: startedAt, wallMilliseconds: wall, samples: [], failedSampleReads: 0,
                         faultNote: faultNote)
    }

    static func sighting(_ side: Side, _ state: DomainStateInfo?, error: String? = nil) -> DomainSighting {
        DomainSighting(uri: side == .source ? endpoints.sourceURI : endpoints.destinationURI, name: endpoints.domainName,
                       state: state, error: error)
    }

    enum Side { case source, destination }

    /// Both hosts sampled every 100 ms from just before a call that ran from `callStart` for
    /// `wall` ms until after it, and the guest always on one host.
    static func placementTimeline(callStart: Double, wall: Double) -> PlacementTimeline {
        var timeline = PlacementTimeline(intervalMilliseconds: 100)
        timeline.sampleCount = Int(wall / 100) + 4
        timeline.firstSampleMilliseconds = callStart - 2
        timeline.lastSampleMilliseconds = callStart + wall + 300
        return timeline
    }

    /// An observation in which every check of `expectation` passes: `.migrates` is a live
    /// migration that landed; `.staysOnSource` a perform-fail run whose stalled job the
    /// verifier aborted, with the firewall rule removed afterwards. Made with the default
    /// options (no bandwidth limit), kept as today's runner keeps them.
    static func observation(_ expectation: ExpectedOutcome) throws -> Observation {
        let memeater = MemeaterObservation(before: try controlInfo(uptimeSeconds: 120), connection: memeaterConnection,
                                           statsAfter: try progressRecord(), verification: .seen(try verification()),
                                           infoAfter: .seen(try controlInfo(uptimeSeconds: 131)))
        let cleanHost: (String) -> HostSnapshot = {
            HostSnapshot(hostName: $0, qemuProcesses: [], interfaces: hostInterfaces, listeningMigrationPorts: [])
        }
        let hostWithGuest: (String) -> HostSnapshot = {
            HostSnapshot(hostName: $0, qemuProcesses: [guestQEMU], interfaces: hostInterfaces.union([guestTap]), listeningMigrationPorts: [])
        }
        switch expectation {
        case .migrates:
            return Observation(
                expectation: .migrates, parameters: parameters(.live), call: "virDomainMigrateToURI3 (p2p)",
                outcome: outcome(.completed, startedAt: 1_000, wall: 5_000),
                onSource: sighting(.source, nil), onDestination: sighting(.destination, runningMigrated),
                sourceHost: .seen(cleanHost("src")), destinationHost: .seen(hostWithGuest("dst")),
                destinationInterfacesBefore: .seen(hostInterfaces), sourceTaps: [guestTap],
                ping: PingSummary(sent: 12_000, received: 11_990, lost: 10, lossRunCount: 1, longestGapMilliseconds: 140.5,
                                  longestGapLowerBoundMilliseconds: 139.5, longestGapUpperBoundMilliseconds: 141.5, openEnded: false,
                                  timestampPrecision: "nanosecond", duplicates: 0),
                memeater: memeater, console: .read(lineCount: 42, failureLines: []), answersAtEnd: .seen(true), fault: nil,
                placementTimeline: placementTimeline(callStart: 1_000, wall: 5_000), migrationOptions: MigrationOptions())
        case .staysOnSource:
            let ending = MigrationEnding.aborted(reason: "no progress for 15 s", callError: canceledByClient, abortError: nil)
            return Observation(
                expectation: .staysOnSource, parameters: parameters(.performFail), call: "virDomainMigrateToURI3 (p2p)",
                outcome: outcome(ending, startedAt: 1_000, wall: 47_000),
                onSource: sighting(.source, runningBooted), onDestination: sighting(.destination, nil),
                sourceHost: .seen(hostWithGuest("src")), destinationHost: .seen(cleanHost("dst")),
                destinationInterfacesBefore: .seen(hostInterfaces), sourceTaps: [guestTap],
                ping: PingSummary(sent: 50_000, received: 49_998, lost: 2, lossRunCount: 1, longestGapMilliseconds: 12,
                                  longestGapLowerBoundMilliseconds: 11, longestGapUpperBoundMilliseconds: 13, openEnded: false,
                                  timestampPrecision: "nanosecond", duplicates: 0),
                memeater: memeater, console: .read(lineCount: 42, failureLines: []), answersAtEnd: nil,
                fault: FaultEvidence(scenario: .performFail, acted: true, evidence: "the firewall on dst dropped 14 packets to TCP 49152-49216",
                                     errorAsExpected: true, errorEvidence: "libvirt: \(ending.summary)", removed: true,
                                     removalEvidence: "the nft table migverify_fault is gone from dst"),
                placementTimeline: placementTimeline(callStart: 1_000, wall: 47_000), migrationOptions: MigrationOptions())
        case .guestLost:
            let ending = MigrationEnding.failed(message: "virDomainMigrateToURI3 failed: operation failed: domain is not running [libvirt error 9]",
                                                kind: .operationFailed)
            return Observation(
                expectation: .guestLost, parameters: parameters(.srcQEMUKilled), call: "virDomainMigrateToURI3 (p2p)",
                outcome: outcome(ending, startedAt: 1_000, wall: 3_000),
                onSource: sighting(.source, nil), onDestination: sighting(.destination, nil),
                sourceHost: .seen(cleanHost("src")), destinationHost: .seen(cleanHost("dst")),
                destinationInterfacesBefore: .seen(hostInterfaces), sourceTaps: [guestTap],
                ping: PingSummary(sent: 9_000, received: 2_100, lost: 6_900, lossRunCount: 1, longestGapMilliseconds: 6_900,
                                  longestGapLowerBoundMilliseconds: 6_899, longestGapUpperBoundMilliseconds: 6_901, openEnded: true,
                                  timestampPrecision: "nanosecond", duplicates: 0),
                memeater: MemeaterObservation(lostGuestBefore: try controlInfo(uptimeSeconds: 120)), console: .read(lineCount: 3, failureLines: []),
                answersAtEnd: nil,
                fault: FaultEvidence(scenario: .srcQEMUKilled, acted: true, evidence: "at 2100 ms: killed the source qemu 4242",
                                     actedAtMilliseconds: 2_100, errorAsExpected: true, errorEvidence: "libvirt: \(ending.summary)"),
                placementTimeline: placementTimeline(callStart: 1_000, wall: 3_000), migrationOptions: MigrationOptions())
        }
    }

    /// The `fault-acted` check of a valid failure-scenario observation carrying `evidence`.
    static func faultActed(_ evidence: FaultEvidence) throws -> Check? {
        var o = try observation(.staysOnSource)
        o.parameters = parameters(evidence.scenario)
        o.fault = evidence
        return Checks.faultActed(o)
    }

    /// The `fault-removed` check of a valid failure-scenario observation carrying `evidence`.
    static func faultRemoved(_ evidence: FaultEvidence) throws -> Check? {
        var o = try observation(.staysOnSource)
        o.fault = evidence
        return Checks.faultRemoved(o)
    }

    /// The domain that a dst-already-active fault started on the destination.
    static let occupantUUID = "0f1e2d3c-0000-4000-8000-000000000001"
    static let occupantQEMU = QEMUProcess(pid: 4242, command: "qemu-system-x86", incoming: false)
    static var occupant: OccupantSnapshot {
        OccupantSnapshot(uuid: occupantUUID, id: 3, state: runningBooted, qemuProcessIDs: [4242])
    }

    /// A valid dst-already-active observation: the stand-in domain still runs on the
    /// destination, untouched, and is the only thing there of the guest's name.
    static func occupiedObservation() throws -> Observation {
        var o = try observation(.staysOnSource)
        o.parameters = parameters(.dstAlreadyActive)
        o.outcome = outcome(.failed(message: "virDomainMigrateToURI3 failed (uri qemu+tcp://198.18.0.2/system, domain lab-guest): operation failed: domain 'lab-guest' already exists with uuid \(occupantUUID) [libvirt error 9]",
                                    kind: .operationFailed), startedAt: 1_000, wall: 40)
        o.onDestination = sighting(.destination, runningBooted)
        o.faultFindings = FaultFindings(destinationDomain: OccupantObservation(before: occupant, after: occupant))
        let interfaces = hostInterfaces.union([DestinationOccupantFault.tapName])
        o.destinationInterfacesBefore = .seen(interfaces)
        o.destinationHost = .seen(HostSnapshot(hostName: "dst", qemuProcesses: [occupantQEMU], interfaces: interfaces, listeningMigrationPorts: []))
        o.fault = FaultEvidence(scenario: .dstAlreadyActive, acted: true, evidence: "a domain of the guest's name ran on the destination",
                                errorAsExpected: true, errorEvidence: "libvirt: \(o.outcome.ending.summary)", removed: true,
                                removalEvidence: "destroyed the pre-existing domain")
        return o
    }
}

/// Asserts a check's name and verdict, and that its evidence says each of `fragments`.
func assertCheck(_ check: Check?, _ name: String, passed: Bool, says fragments: String...,
                 file: StaticString = #filePath, line: UInt = #line) {
    guard let check else { return XCTFail("no \(name) check", file: file, line: line) }
    XCTAssertEqual(check.name, name, file: file, line: line)
    XCTAssertEqual(check.passed, passed, "\(name) should \(passed ? "pass" : "fail"): \(check.evidence)", file: file, line: line)
    for fragment in fragments {
        XCTAssertTrue(check.evidence.contains(fragment), "\(name) evidence lacks '\(fragment)': \(check.evidence)", file: file, line: line)
    }
}

// MARK: tests

/// Every check: a passing and a failing synthetic observation.
final class ChecksTests: XCTestCase {
    let sourceURI = Fixtures.endpoints.sourceURI
    let destinationURI = Fixtures.endpoints.destinationURI

    // MARK: evaluate

    func testEvaluateListsTheChecksOfALiveMigrationInOrderAndTheValidObservationPassesThemAll() throws {
        let checks = Checks.evaluate(try Fixtures.observation(.migrates))
        XCTAssertEqual(checks.map(\.name), [
            CheckName.migrationOutcome, CheckName.guestOnDestination, CheckName.sourceReleased, CheckName.sourceHostClean,
            CheckName.noDualRunning, CheckName.pingContinuity, CheckName.controlConnection, CheckName.memoryIntegrity, CheckName.noReboot,
            CheckName.guestConsole, CheckName.landingIntact,
        ])
        for check in checks { XCTAssertTrue(check.passed, "\(check.name): \(check.evidence)") }
    }

    func testEvaluateListsTheChecksOfAFailureScenarioInOrderAndTheValidObservationPassesThemAll() throws {
        let checks = Checks.evaluate(try Fixtures.observation(.staysOnSource))
        XCTAssertEqual(checks.map(\.name), [
            CheckName.migrationOutcome, CheckName.faultActed, CheckName.guestOnSource, CheckName.destinationHostClean,
            CheckName.migrationPortFree, CheckName.faultRemoved, CheckName.noDualRunning, CheckName.pingContinuity,
            CheckName.controlConnection, CheckName.memoryIntegrity, CheckName.noReboot, CheckName.guestConsole,
        ])
        for check in checks { XCTAssertTrue(check.passed, "\(check.name): \(check.evidence)") }
    }

    func testEvaluateAddsDestinationDomainUntouchedWhenAFaultPutADomainOnTheDestination() throws {
        let checks = Checks.evaluate(try Fixtures.occupiedObservation())
        XCTAssertEqual(checks.map(\.name), [
            CheckName.migrationOutcome, CheckName.faultActed, CheckName.guestOnSource, CheckName.destinationHostClean,
            CheckName.migrationPortFree, CheckName.destinationDomainUntouched, CheckName.faultRemoved, CheckName.noDualRunning,
            CheckName.pingContinuity, CheckName.controlConnection, CheckName.memoryIntegrity, CheckName.noReboot, CheckName.guestConsole,
        ])
        for check in checks { XCTAssertTrue(check.passed, "\(check.name): \(check.evidence)") }
    }

    func testEvaluateLeavesOutTheConsoleCheckWhenTheConsoleIsUnreadable() throws {
        var o = try Fixtures.observation(.migrates)
        o.console = .unreadable("no host shell")
        let names = Checks.evaluate(o).map(\.name)
        XCTAssertFalse(names.contains(CheckName.guestConsole), "\(names)")
        XCTAssertEqual(names.last, CheckName.landingIntact)
        XCTAssertEqual(names.count, 10)
    }

    func testEvaluateFailsARunWhoseCheckFails() throws {
        var o = try Fixtures.observation(.migrates)
        o.answersAtEnd = .seen(false)
        let failed = Checks.evaluate(o).filter { !$0.passed }.map(\.name)
        XCTAssertEqual(failed, [CheckName.landingIntact])
    }

    // MARK: migration-outcome

    func testMigrationOutcomeOfALiveMigrationPassesOnlyWhenTheCallCompleted() throws {
        var o = try Fixtures.observation(.migrates)
        assertCheck(Checks.migrationOutcome(o), CheckName.migrationOutcome, passed: true,
                    says: "virDomainMigrateToURI3 (p2p) completed after 5000 ms")
        o.outcome.ending = .failed(message: Fixtures.qemuMonitorClosed, kind: .operationFailed)
        assertCheck(Checks.migrationOutcome(o), CheckName.migrationOutcome, passed: false,
                    says: "failed: ", "could not open kernel file")
    }

    func testMigrationOutcomeOfALiveMigrationCompletedWhileBeingAbortedFails() throws {
        var o = try Fixtures.observation(.migrates)
        o.outcome.ending = .completedDespiteAbort(reason: "timeout after 120 s")
        assertCheck(Checks.migrationOutcome(o), CheckName.migrationOutcome, passed: false, says: "completed while being aborted")
    }

    /// A sweep's run that completed as the timeout's abort went out converged (at the
    /// timeout): a result. Not for another abort cause, and not in a plain run.
    func testInASweepACompletionAtTheTimeoutIsAResultButNotAfterAStall() throws {
        var o = try Fixtures.observation(.migrates)
        o.outcome.ending = .completedDespiteAbort(reason: "still running after the 20 s timeout")
        o.outcome.abortCause = .timeout
        o.timeoutIsResult = true
        assertCheck(Checks.migrationOutcome(o), CheckName.migrationOutcome, passed: true, says: "converged at the timeout, a result in a sweep")
        o.outcome.abortCause = .stall
        assertCheck(Checks.migrationOutcome(o), CheckName.migrationOutcome, passed: false, says: "completed while being aborted")
        o.outcome.abortCause = .timeout
        o.timeoutIsResult = false
        assertCheck(Checks.migrationOutcome(o), CheckName.migrationOutcome, passed: false, says: "completed while being aborted")
    }

    /// A sweep's live run that did not converge is judged as a failed migration: it passes
    /// when the job ended failed with libvirt's error, and no fault is asked of it.
    func testANonConvergingSweepRunIsJudgedAsAFailedMigrationWithoutAFault() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.didNotConverge = true
        o.fault = nil
        o.outcome.ending = .aborted(reason: "still running after the 20 s timeout: it did not converge",
                                    callError: "operation aborted: job 'migration out' canceled by client", abortError: nil)
        assertCheck(Checks.migrationOutcome(o), CheckName.migrationOutcome, passed: true, says: "did not converge, a result")
        XCTAssertNil(Checks.faultActed(o), "no fault was injected, so none is judged")
        XCTAssertFalse(Checks.evaluate(o).contains { $0.name == CheckName.faultActed })
        o.outcome.ending = .completed
        assertCheck(Checks.migrationOutcome(o), CheckName.migrationOutcome, passed: false, says: "did not end as failed")
        o.didNotConverge = false
        XCTAssertEqual(Checks.faultActed(o)?.passed, false, "a failure scenario without evidence of its fault still fails fault-acted")
    }

    func testMigrationOutcomeOfALiveMigrationWhoseCallNeverReturnedFails() throws {
        var o = try Fixtures.observation(.migrates)
        o.outcome.ending = .hung(reason: "no progress for 15 s", graceSeconds: 240)
        assertCheck(Checks.migrationOutcome(o), CheckName.migrationOutcome, passed: false, says: "had not returned 240 s later")
    }

    func testMigrationOutcomeOfAFailureScenarioPassesOnlyWhenLibvirtReportedAFailure() throws {
        var o = try Fixtures.observation(.staysOnSource)
        assertCheck(Checks.migrationOutcome(o), CheckName.migrationOutcome, passed: true,
                    says: "libvirt reported failure: aborted by the verifier (no progress for 15 s)", "canceled by client")
        o.outcome.ending = .completed
        assertCheck(Checks.migrationOutcome(o), CheckName.migrationOutcome, passed: false,
                    says: "expected the migration to fail, but it completed")
    }

    func testMigrationOutcomeOfAFailureScenarioFailsWithoutLibvirtsError() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.outcome.ending = .aborted(reason: "no progress for 15 s", callError: nil, abortError: nil)
        assertCheck(Checks.migrationOutcome(o), CheckName.migrationOutcome, passed: false, says: "the call then returned: success")
        o.outcome.ending = .hung(reason: "no progress for 15 s", graceSeconds: 240)
        assertCheck(Checks.migrationOutcome(o), CheckName.migrationOutcome, passed: false, says: "had not returned 240 s later")
    }

    // MARK: guest-on-destination

    func testGuestOnDestinationPassesWhenItRunsThere() throws {
        let o = try Fixtures.observation(.migrates)
        assertCheck(Checks.guestOnDestination(o), CheckName.guestOnDestination, passed: true,
                    says: "lab-guest is running (migrated) on \(destinationURI)")
    }

    func testGuestOnDestinationFailsWhenItIsMissingPausedOrUnreadable() throws {
        var o = try Fixtures.observation(.migrates)
        o.onDestination = Fixtures.sighting(.destination, nil)
        assertCheck(Checks.guestOnDestination(o), CheckName.guestOnDestination, passed: false, says: "no domain lab-guest on \(destinationURI)")
        o.onDestination = Fixtures.sighting(.destination, Fixtures.pausedMigrating)
        assertCheck(Checks.guestOnDestination(o), CheckName.guestOnDestination, passed: false, says: "paused (migrating)")
        o.onDestination = Fixtures.sighting(.destination, Fixtures.runningMigrated, error: "virDomainGetState failed: client socket is closed")
        assertCheck(Checks.guestOnDestination(o), CheckName.guestOnDestination, passed: false, says: "cannot read lab-guest", "client socket is closed")
    }

    // MARK: source-released

    func testSourceReleasedPassesWhenTheSourceDomainIsGone() throws {
        let o = try Fixtures.observation(.migrates)
        assertCheck(Checks.sourceReleased(o), CheckName.sourceReleased, passed: true, says: "no domain lab-guest on \(sourceURI)")
    }

    func testSourceReleasedPassesWhenTheSourceDomainIsShutOffBecauseItMigrated() throws {
        var o = try Fixtures.observation(.migrates)
        o.onSource = Fixtures.sighting(.source, Fixtures.shutOffMigrated)
        assertCheck(Checks.sourceReleased(o), CheckName.sourceReleased, passed: true, says: "shut off (migrated)")
    }

    func testSourceReleasedFailsWhenTheSourceStillHoldsTheGuestPaused() throws {
        var o = try Fixtures.observation(.migrates)
        o.onSource = Fixtures.sighting(.source, Fixtures.pausedMigrating)
        assertCheck(Checks.sourceReleased(o), CheckName.sourceReleased, passed: false, says: "paused (migrating)")
    }

    func testSourceReleasedFailsWhenTheSourceDomainWasShutOffForAnotherReason() throws {
        var o = try Fixtures.observation(.migrates)
        o.onSource = Fixtures.sighting(.source, Fixtures.shutOffDestroyed)
        assertCheck(Checks.sourceReleased(o), CheckName.sourceReleased, passed: false, says: "shut off (destroyed)")
    }

    func testSourceReleasedIsNotMeasuredWhenTheSourceCannotBeRead() throws {
        var o = try Fixtures.observation(.migrates)
        o.onSource = Fixtures.sighting(.source, nil, error: "virConnectOpen failed: connection refused")
        assertCheck(Checks.sourceReleased(o), CheckName.sourceReleased, passed: false, says: "not measured: virConnectOpen failed")
    }

    // MARK: source-host-clean

    func testSourceHostCleanPassesWithoutQEMUOrTap() throws {
        let o = try Fixtures.observation(.migrates)
        assertCheck(Checks.sourceHostClean(o), CheckName.sourceHostClean, passed: true,
                    says: "no qemu process for lab-guest and no tap vnet0 on src")
    }

    func testSourceHostCleanFailsWhenAQEMUIsLeft() throws {
        var o = try Fixtures.observation(.migrates)
        o.sourceHost = .seen(HostSnapshot(hostName: "src", qemuProcesses: [Fixtures.guestQEMU], interfaces: Fixtures.hostInterfaces,
                                          listeningMigrationPorts: []))
        assertCheck(Checks.sourceHostClean(o), CheckName.sourceHostClean, passed: false, says: "qemu left: \(Fixtures.guestQEMU)")
    }

    func testSourceHostCleanFailsWhenTheTapIsLeft() throws {
        var o = try Fixtures.observation(.migrates)
        o.sourceHost = .seen(HostSnapshot(hostName: "src", qemuProcesses: [], interfaces: Fixtures.hostInterfaces.union(["vnet0"]),
                                          listeningMigrationPorts: []))
        assertCheck(Checks.sourceHostClean(o), CheckName.sourceHostClean, passed: false, says: "tap vnet0 left on src")
    }

    func testSourceHostCleanSaysHowLongItWaited() throws {
        var o = try Fixtures.observation(.migrates)
        o.hostsWaitedSeconds = 2.5
        assertCheck(Checks.sourceHostClean(o), CheckName.sourceHostClean, passed: true, says: "(after 2.5 s)")
        o.sourceHost = .seen(HostSnapshot(hostName: "src", qemuProcesses: [Fixtures.guestQEMU], interfaces: Fixtures.hostInterfaces,
                                          listeningMigrationPorts: []))
        assertCheck(Checks.sourceHostClean(o), CheckName.sourceHostClean, passed: false, says: "(still so after 2.5 s)")
    }

    func testSourceHostCleanIsNotMeasuredWhenTheHostWasNotLookedAt() throws {
        var o = try Fixtures.observation(.migrates)
        o.sourceHost = .notLooked("no shell on src: give --source-ssh")
        assertCheck(Checks.sourceHostClean(o), CheckName.sourceHostClean, passed: false, says: "not measured: no shell on src")
    }

    // MARK: guest-on-source

    func testGuestOnSourcePassesWhenItRunsNotPaused() throws {
        let o = try Fixtures.observation(.staysOnSource)
        assertCheck(Checks.guestOnSource(o), CheckName.guestOnSource, passed: true,
                    says: "lab-guest is running (booted) on \(sourceURI) (not paused)")
    }

    func testGuestOnSourceFailsWhenItIsPaused() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.onSource = Fixtures.sighting(.source, Fixtures.pausedMigrating)
        let check = Checks.guestOnSource(o)
        assertCheck(check, CheckName.guestOnSource, passed: false, says: "paused (migrating)")
        XCTAssertFalse(check.evidence.contains("not paused"), check.evidence)
    }

    func testGuestOnSourceFailsWhenItIsGone() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.onSource = Fixtures.sighting(.source, nil)
        assertCheck(Checks.guestOnSource(o), CheckName.guestOnSource, passed: false, says: "no domain lab-guest on \(sourceURI)")
    }

    func testGuestOnSourceFailsWhenTheSourceCannotBeRead() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.onSource = Fixtures.sighting(.source, Fixtures.runningBooted, error: "virDomainGetState failed: client socket is closed")
        let check = Checks.guestOnSource(o)
        assertCheck(check, CheckName.guestOnSource, passed: false, says: "cannot read lab-guest", "client socket is closed")
        XCTAssertFalse(check.evidence.contains("not paused"), check.evidence)
        o.onSource = Fixtures.sighting(.source, nil, error: "virConnectOpen failed: connection refused")
        assertCheck(Checks.guestOnSource(o), CheckName.guestOnSource, passed: false, says: "connection refused")
    }

    func testGuestOnSourceSaysHowLongTheVerifierWaited() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.sourceWaitedSeconds = 3.5
        assertCheck(Checks.guestOnSource(o), CheckName.guestOnSource, passed: true, says: "(not paused) after waiting 3.5 s")
        o.onSource = Fixtures.sighting(.source, Fixtures.pausedMigrating)
        assertCheck(Checks.guestOnSource(o), CheckName.guestOnSource, passed: false, says: "paused (migrating) on \(sourceURI) after waiting 3.5 s")
    }

    // MARK: destination-host-clean

    func testDestinationHostCleanPassesWithNothingLeft() throws {
        let o = try Fixtures.observation(.staysOnSource)
        assertCheck(Checks.destinationHostClean(o), CheckName.destinationHostClean, passed: true,
                    says: "no domain lab-guest on \(destinationURI)", "no qemu process for lab-guest on dst",
                    "no interface that was not there before (3 then, 3 now)")
    }

    func testDestinationHostCleanFailsWhenADomainIsLeft() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.onDestination = Fixtures.sighting(.destination, Fixtures.pausedMigrating)
        assertCheck(Checks.destinationHostClean(o), CheckName.destinationHostClean, passed: false,
                    says: "domain lab-guest exists (paused (migrating))")
    }

    /// The host the guest once left keeps its persistent definition, shut off; a failed
    /// migration back to it (a sweep migrates from wherever the guest is) leaves it as it was,
    /// libvirt only changing its reason to "failed". Seen on the lab in sweep `modes`.
    func testDestinationHostCleanExcludesAnInactiveDefinitionThatWasThereBefore() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.destinationDomainBefore = Fixtures.sighting(.destination, Fixtures.shutOffMigrated)
        o.onDestination = Fixtures.sighting(.destination, Fixtures.shutOffFailed)
        assertCheck(Checks.destinationHostClean(o), CheckName.destinationHostClean, passed: true,
                    says: "only the inactive definition of lab-guest that was there before the migration "
                        + "(shut off (migrated) then, shut off (failed) now)", "no qemu process for lab-guest on dst")
    }

    /// A definition the failed migration made, one it left active, or a fault's occupant it
    /// replaced is left behind, whatever was there before.
    func testDestinationHostCleanFailsOnADefinitionNotThereBeforeOrActiveOrReplaced() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.onDestination = Fixtures.sighting(.destination, Fixtures.shutOffFailed)
        assertCheck(Checks.destinationHostClean(o), CheckName.destinationHostClean, passed: false,
                    says: "domain lab-guest exists (shut off (failed))")
        o.destinationDomainBefore = Fixtures.sighting(.destination, Fixtures.shutOffMigrated)
        o.onDestination = Fixtures.sighting(.destination, Fixtures.pausedMigrating)
        assertCheck(Checks.destinationHostClean(o), CheckName.destinationHostClean, passed: false,
                    says: "domain lab-guest exists (paused (migrating))")
        o.onDestination = Fixtures.sighting(.destination, Fixtures.shutOffMigrated)
        o.destinationDomainBefore = Fixtures.sighting(.destination, Fixtures.runningBooted)
        assertCheck(Checks.destinationHostClean(o), CheckName.destinationHostClean, passed: false,
                    says: "domain lab-guest exists (shut off (migrated))")
        var occupied = try Fixtures.occupiedObservation()
        var replaced = Fixtures.occupant
        replaced.uuid = "00000000-0000-0000-0000-000000000001"
        occupied.faultFindings = FaultFindings(destinationDomain: OccupantObservation(before: Fixtures.occupant, after: replaced))
        occupied.destinationDomainBefore = Fixtures.sighting(.destination, Fixtures.shutOffDestroyed)
        occupied.onDestination = Fixtures.sighting(.destination, Fixtures.shutOffFailed)
        assertCheck(Checks.destinationHostClean(occupied), CheckName.destinationHostClean, passed: false,
                    says: "domain lab-guest exists (shut off (failed))")
    }

    func testDestinationHostCleanFailsWhenAQEMUIsLeft() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.destinationHost = .seen(HostSnapshot(hostName: "dst", qemuProcesses: [QEMUProcess(pid: 5151, command: "qemu-system-x86", incoming: true)],
                                               interfaces: Fixtures.hostInterfaces, listeningMigrationPorts: []))
        assertCheck(Checks.destinationHostClean(o), CheckName.destinationHostClean, passed: false,
                    says: "qemu left: 5151 qemu-system-x86 incoming")
    }

    func testDestinationHostCleanFailsWhenANewInterfaceIsLeft() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.destinationHost = .seen(HostSnapshot(hostName: "dst", qemuProcesses: [], interfaces: Fixtures.hostInterfaces.union(["vnet0"]),
                                               listeningMigrationPorts: []))
        assertCheck(Checks.destinationHostClean(o), CheckName.destinationHostClean, passed: false, says: "new interfaces left: vnet0")
    }

    func testDestinationHostCleanExcludesTheDomainThatRanThereBefore() throws {
        let o = try Fixtures.occupiedObservation()
        assertCheck(Checks.destinationHostClean(o), CheckName.destinationHostClean, passed: true,
                    says: "only the pre-existing domain lab-guest (uuid \(Fixtures.occupantUUID))",
                    "no qemu process for lab-guest on dst besides the pre-existing domain's")
    }

    func testDestinationHostCleanStillFailsOnAQEMUBesidesThePreexistingDomains() throws {
        var o = try Fixtures.occupiedObservation()
        o.destinationHost = .seen(HostSnapshot(hostName: "dst", qemuProcesses: [Fixtures.occupantQEMU, Fixtures.guestQEMU],
                                               interfaces: Fixtures.hostInterfaces.union([DestinationOccupantFault.tapName]),
                                               listeningMigrationPorts: []))
        let check = Checks.destinationHostClean(o)
        assertCheck(check, CheckName.destinationHostClean, passed: false, says: "qemu left: \(Fixtures.guestQEMU)")
        XCTAssertFalse(check.evidence.contains("4242"), check.evidence)
    }

    func testDestinationHostCleanCountsADomainOfAnotherUUIDAsLeftOver() throws {
        var o = try Fixtures.occupiedObservation()
        var replaced = Fixtures.occupant
        replaced.uuid = "0f1e2d3c-0000-4000-8000-000000000002"
        o.faultFindings = FaultFindings(destinationDomain: OccupantObservation(before: Fixtures.occupant, after: replaced))
        assertCheck(Checks.destinationHostClean(o), CheckName.destinationHostClean, passed: false, says: "domain lab-guest exists (running (booted))")
    }

    func testDestinationHostCleanIsNotMeasuredWithoutTheInterfacesOfBefore() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.destinationInterfacesBefore = .notLooked("ip -j link failed")
        assertCheck(Checks.destinationHostClean(o), CheckName.destinationHostClean, passed: false,
                    says: "not measured: the interfaces of dst could not be listed before the migration: ip -j link failed")
    }

    func testDestinationHostCleanIsNotMeasuredWhenTheHostOrDomainCannotBeRead() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.destinationHost = .notLooked("no shell on dst")
        assertCheck(Checks.destinationHostClean(o), CheckName.destinationHostClean, passed: false, says: "not measured: no shell on dst")
        o = try Fixtures.observation(.staysOnSource)
        o.onDestination = Fixtures.sighting(.destination, nil, error: "client socket is closed")
        assertCheck(Checks.destinationHostClean(o), CheckName.destinationHostClean, passed: false, says: "not measured: client socket is closed")
    }

    // MARK: migration-port-free

    func testMigrationPortFreePassesWhenNothingListens() throws {
        let o = try Fixtures.observation(.staysOnSource)
        assertCheck(Checks.migrationPortFree(o), CheckName.migrationPortFree, passed: true, says: "nothing listens on TCP 49152...49215 on dst")
    }

    func testMigrationPortFreeFailsWhenAMigrationPortListens() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.destinationHost = .seen(HostSnapshot(hostName: "dst", qemuProcesses: [], interfaces: Fixtures.hostInterfaces,
                                               listeningMigrationPorts: [49152]))
        assertCheck(Checks.migrationPortFree(o), CheckName.migrationPortFree, passed: false, says: "listening on 49152 on dst")
        o.destinationHost = .notLooked("no shell on dst")
        assertCheck(Checks.migrationPortFree(o), CheckName.migrationPortFree, passed: false, says: "not measured: no shell on dst")
    }

    // MARK: destination-domain-untouched (dst-already-active's own check)

    /// The occupant fault's own check of `o`; `nil` when it makes none.
    private func untouched(_ o: Observation) -> Check? { DestinationOccupantFault.checks(o).first }

    func testTheFaultsOwnCheckComesWithEveryCheckOfItsScenarioOnly() throws {
        let names = Checks.evaluate(try Fixtures.occupiedObservation()).map(\.name)
        XCTAssertTrue(names.contains(CheckName.destinationDomainUntouched), "\(names)")
        XCTAssertEqual(names.firstIndex(of: CheckName.destinationDomainUntouched), names.firstIndex(of: CheckName.migrationPortFree).map { $0 + 1 },
                       "right after the clean-up checks: \(names)")
        var other = try Fixtures.occupiedObservation()
        other.parameters = Fixtures.parameters(.performFail)
        XCTAssertFalse(Checks.evaluate(other).map(\.name).contains(CheckName.destinationDomainUntouched),
                       "perform-fail's fault makes no such check, whatever its findings hold")
    }

    func testDestinationDomainUntouchedPassesForTheSameRunningDomainAndIsAbsentWithoutOne() throws {
        XCTAssertEqual(DestinationOccupantFault.checks(try Fixtures.observation(.staysOnSource)), [])
        assertCheck(untouched(try Fixtures.occupiedObservation()), CheckName.destinationDomainUntouched,
                    passed: true, says: "same domain before and after, still running")
    }

    func testDestinationDomainUntouchedFailsWhenTheDomainIsGoneOrRestarted() throws {
        var o = try Fixtures.occupiedObservation()
        o.faultFindings?.destinationDomain?.after = nil
        assertCheck(untouched(o), CheckName.destinationDomainUntouched, passed: false, says: "is gone")
        var restarted = Fixtures.occupant
        restarted.qemuProcessIDs = [4343]
        o.faultFindings?.destinationDomain?.after = restarted
        assertCheck(untouched(o), CheckName.destinationDomainUntouched, passed: false, says: "qemu 4242 -> 4343")
    }

    // MARK: ping-continuity

    func testPingContinuityOfALiveMigrationPassesUnderTheLimit() throws {
        let o = try Fixtures.observation(.migrates)
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: true,
                    says: "12000 probes, 10 lost in 1 runs, longest gap 140.5 ms (limit 2000 ms)")
    }

    /// Probes the gap's outage held (a paused guest answers its queue on resuming) are in the
    /// evidence; the gap judged is the same.
    func testPingContinuitySaysWhichProbesTheGapHeld() throws {
        var o = try Fixtures.observation(.migrates)
        o.ping.longestGapLateProbes = 1
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: true,
                    says: "12000 probes, 10 lost in 1 runs, longest gap 140.5 ms (1 held through it, answered late) (limit 2000 ms)")
    }

    /// A guest too slow for the probe rate (auto-converge's 99 % throttle under TCG: 10 ms of
    /// CPU a second) answers once a second from a queue of probes seconds old: the gap between
    /// replies is judged, and the evidence says how old the queue was.
    func testPingContinuitySaysWhenTheHeldProbesCameFromAQueue() throws {
        var o = try Fixtures.observation(.migrates)
        o.ping.longestGapMilliseconds = 1060.59
        o.ping.longestGapLowerBoundMilliseconds = 9021.96
        o.ping.longestGapUpperBoundMilliseconds = 9023.97
        o.ping.longestGapLateProbes = 296
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: true,
                    says: "longest gap 1060.59 ms (296 held through it, answered late; they were sent over 9021.96 ms, "
                        + "answered from a queue: outage bounds 9021.96-9023.97 ms) (limit 2000 ms)")
    }

    func testPingContinuityFailsWhenTheGuestNeverAnswered() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.ping.received = 0
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: false,
                    says: "50000 probes sent, 0 replies: the guest never answered")
    }

    /// A pinger that sent nothing saw no gap: that is no continuity shown.
    func testPingContinuityFailsWhenNoProbeWasSent() throws {
        var o = try Fixtures.observation(.migrates)
        o.ping = PingSummary(sent: 0, received: 0, lost: 0, lossRunCount: 0, longestGapMilliseconds: 0,
                             longestGapLowerBoundMilliseconds: 0, longestGapUpperBoundMilliseconds: 0, openEnded: false,
                             timestampPrecision: "nanosecond", duplicates: 0)
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: false, says: "0 probes sent, 0 replies")
    }

    func testPingContinuityFailsWhenTheGuestHadStoppedAnsweringAtTheEnd() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.ping.openEnded = true
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: false,
                    says: "the guest had stopped answering when probing ended")
    }

    func testPingContinuityWithRequireZeroLossFailsOnOneLostProbe() throws {
        var o = try Fixtures.observation(.migrates)
        o.parameters.requireZeroLoss = true
        o.ping.lost = 0
        o.ping.lossRunCount = 0
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: true, says: "12000 probes, 0 lost in 0 runs", "(--require-zero-loss)")
        o.ping.lost = 1
        o.ping.lossRunCount = 1
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: false, says: "1 lost in 1 runs", "(--require-zero-loss)")
    }

    func testPingContinuityOfAGuestNetworkCutAllowsTheOutageAndRequiresItToShow() throws {
        var o = try Fixtures.observation(.migrates)
        o.fault = FaultEvidence(scenario: .guestLinkCut, acted: true, evidence: "br0 down", errorAsExpected: true,
                                errorEvidence: "completed", guestNetwork: .cut(atMilliseconds: 2_250, milliseconds: 2_050))
        // The cut's gap (a few ms after the cut, on the run clock) and the switchover's.
        let cutGap = TimedSpan(startOffsetMilliseconds: 2_260, lengthMilliseconds: 2_300)
        let switchover = TimedSpan(startOffsetMilliseconds: 30_000, lengthMilliseconds: 140.5)
        o.ping.gapsOnRunClock = [cutGap, switchover]
        o.ping.longestGapMilliseconds = 2_300
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: true,
                    says: "the guest network was cut at 2250 ms for 2050 ms: the gap over it 2300 ms (limit 2050 + 2000), the longest other gap 140.5 ms (limit 2000)")
        // The outage does not excuse a long switchover elsewhere.
        o.ping.gapsOnRunClock = [cutGap, TimedSpan(startOffsetMilliseconds: 30_000, lengthMilliseconds: 3_000)]
        o.ping.longestGapMilliseconds = 3_000
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: false, says: "the longest other gap 3000 ms (limit 2000)")
        // A gap over the cut longer than the outage plus the limit fails too.
        o.ping.gapsOnRunClock = [TimedSpan(startOffsetMilliseconds: 2_260, lengthMilliseconds: 4_100), switchover]
        o.ping.longestGapMilliseconds = 4_100
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: false, says: "the gap over it 4100 ms (limit 2050 + 2000)")
        // A cut that never showed in the pings did not reach the guest network, however long another gap is.
        o.ping.gapsOnRunClock = [TimedSpan(startOffsetMilliseconds: 10_000, lengthMilliseconds: 1_500), switchover]
        o.ping.longestGapMilliseconds = 1_500
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: false,
                    says: "the gap over it 0 ms", "the pings never showed it")
    }

    /// The guest's last reply before the outage can come up to a probe interval before the cut
    /// (and the capture's clock is aligned to the run's to a few ms): a gap that begins just
    /// before the cut is the outage, not another gap.
    func testPingContinuityOfAGuestNetworkCutTakesAGapBegunJustBeforeTheCutAsTheOutage() throws {
        var o = try Fixtures.observation(.migrates)
        o.fault = FaultEvidence(scenario: .guestLinkCut, acted: true, evidence: "br0 down", errorAsExpected: true,
                                errorEvidence: "completed", guestNetwork: .cut(atMilliseconds: 2_250, milliseconds: 2_050))
        let switchover = TimedSpan(startOffsetMilliseconds: 30_000, lengthMilliseconds: 140.5)
        for start in [2_249.0, 2_247, 2_200] {
            o.ping.gapsOnRunClock = [TimedSpan(startOffsetMilliseconds: start, lengthMilliseconds: 2_060), switchover]
            o.ping.longestGapMilliseconds = 2_060
            assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: true,
                        says: "the gap over it 2060 ms (limit 2050 + 2000), the longest other gap 140.5 ms")
        }
    }

    func testPingContinuityOfAMigrationLinkCutJudgesTheGapAlthoughTheMigrationFailed() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.fault = FaultEvidence(scenario: .linkCut, acted: true, evidence: "mgmt-dst down", errorAsExpected: true,
                                errorEvidence: "keepalive", guestNetwork: .untouched)
        o.ping.longestGapMilliseconds = 3
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: true,
                    says: "longest gap 3 ms (limit 2000 ms: only the management network was cut, the guest network stayed up)")
        o.ping.longestGapMilliseconds = 2_500
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: false, says: "longest gap 2500 ms", "the guest network stayed up")
        o.fault?.guestNetwork = nil
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: true, says: "the guest answers again after the failure")
    }

    func testPingContinuityOfALiveMigrationFailsWhenTheGapReachesTheLimit() throws {
        var o = try Fixtures.observation(.migrates)
        o.ping.longestGapMilliseconds = 2_500
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: false, says: "longest gap 2500 ms (limit 2000 ms)")
        o.ping.longestGapMilliseconds = 2_000
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: false, says: "longest gap 2000 ms (limit 2000 ms)")
    }

    func testPingContinuityOfAFailureScenarioDoesNotJudgeTheGap() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.ping.longestGapMilliseconds = 30_000
        assertCheck(Checks.pingContinuity(o), CheckName.pingContinuity, passed: true,
                    says: "longest gap 30000 ms", "the guest answers again after the failure")
    }

    // MARK: control-connection

    func testControlConnectionPassesWhenMemeaterAnsweredAfterTheMove() throws {
        let o = try Fixtures.observation(.migrates)
        assertCheck(Checks.controlConnection(o), CheckName.controlConnection, passed: true, says: Fixtures.memeaterConnection)
    }

    func testControlConnectionFailsWhenMemeaterDidNotAnswer() throws {
        var o = try Fixtures.observation(.migrates)
        o.memeater.statsAfter = nil
        o.memeater.connection = "memeater at 198.18.1.10:7777 did not answer: connection refused"
        assertCheck(Checks.controlConnection(o), CheckName.controlConnection, passed: false, says: "did not answer: connection refused")
    }

    // MARK: memory-integrity

    func testMemoryIntegrityPassesWhenEveryPageIsIntact() throws {
        let o = try Fixtures.observation(.migrates)
        assertCheck(Checks.memoryIntegrity(o), CheckName.memoryIntegrity, passed: true,
                    says: "verify-all checked 32768 pages in 85.5 ms: 0 bad; 0 found while dirtying")
    }

    func testMemoryIntegrityFailsOnStalePagesAfterTheMigration() throws {
        var o = try Fixtures.observation(.migrates)
        o.memeater.verification = .seen(try Fixtures.verification(badPages: [try Fixtures.badPage(17, expected: 5, found: 4),
                                                                             try Fixtures.badPage(901, expected: 9, found: 8)]))
        assertCheck(Checks.memoryIntegrity(o), CheckName.memoryIntegrity, passed: false,
                    says: "2 bad", "page 17 expected generation 5 found 4", "page 901 expected generation 9 found 8")
    }

    func testMemoryIntegrityFailsOnErrorsFoundOnlyWhileDirtying() throws {
        var o = try Fixtures.observation(.migrates)
        o.memeater.statsAfter = try Fixtures.progressRecord(integrityErrors: 3)
        assertCheck(Checks.memoryIntegrity(o), CheckName.memoryIntegrity, passed: false, says: "0 bad; 3 found while dirtying")
    }

    func testMemoryIntegrityFailsWhenNoPageWasChecked() throws {
        var o = try Fixtures.observation(.migrates)
        o.memeater.verification = .seen(try Fixtures.verification(pagesChecked: 0))
        assertCheck(Checks.memoryIntegrity(o), CheckName.memoryIntegrity, passed: false, says: "checked 0 pages")
    }

    func testMemoryIntegrityIsNotMeasuredWhenMemeaterCannotBeReached() throws {
        var o = try Fixtures.observation(.migrates)
        o.memeater.statsAfter = nil
        assertCheck(Checks.memoryIntegrity(o), CheckName.memoryIntegrity, passed: false,
                    says: "not measured: memeater cannot be reached: \(Fixtures.memeaterConnection)")
        o = try Fixtures.observation(.migrates)
        o.memeater.verification = .notLooked("memeater verify-all at 198.18.1.10:7777: timed out")
        assertCheck(Checks.memoryIntegrity(o), CheckName.memoryIntegrity, passed: false, says: "not measured: memeater verify-all")
    }

    // MARK: no-reboot

    func testNoRebootPassesForTheSameBootAndProcessWithUptimeGrown() throws {
        let o = try Fixtures.observation(.migrates)
        assertCheck(Checks.noReboot(o), CheckName.noReboot, passed: true,
                    says: "boot id \(Fixtures.bootID) -> \(Fixtures.bootID), memeater pid 41 -> 41, uptime 120 s -> 131 s")
    }

    func testNoRebootFailsWhenTheBootIDChanged() throws {
        var o = try Fixtures.observation(.migrates)
        o.memeater.infoAfter = .seen(try Fixtures.controlInfo(bootID: "11111111-2222-4333-8444-555555555555", uptimeSeconds: 131))
        assertCheck(Checks.noReboot(o), CheckName.noReboot, passed: false, says: "-> 11111111-2222-4333-8444-555555555555")
        o.memeater.infoAfter = .seen(try Fixtures.controlInfo(bootID: nil, uptimeSeconds: 131))
        assertCheck(Checks.noReboot(o), CheckName.noReboot, passed: false, says: "-> ?")
    }

    func testNoRebootFailsWhenMemeatersPIDChanged() throws {
        var o = try Fixtures.observation(.migrates)
        o.memeater.infoAfter = .seen(try Fixtures.controlInfo(pid: 57, uptimeSeconds: 131))
        assertCheck(Checks.noReboot(o), CheckName.noReboot, passed: false, says: "memeater pid 41 -> 57")
    }

    func testNoRebootFailsWhenTheUptimeDidNotGrow() throws {
        var o = try Fixtures.observation(.migrates)
        o.memeater.infoAfter = .seen(try Fixtures.controlInfo(uptimeSeconds: 120))
        assertCheck(Checks.noReboot(o), CheckName.noReboot, passed: false, says: "uptime 120 s -> 120 s")
        o.memeater.infoAfter = .seen(try Fixtures.controlInfo(uptimeSeconds: nil))
        assertCheck(Checks.noReboot(o), CheckName.noReboot, passed: false, says: "uptime 120 s -> -1 s")
    }

    /// Two unknown boot ids are not the same boot: a memeater that cannot say its boot id
    /// gives no evidence that the guest did not reboot.
    func testNoRebootFailsWhenNeitherBootIDIsKnown() throws {
        var o = try Fixtures.observation(.migrates)
        o.memeater.before = try Fixtures.controlInfo(bootID: nil, uptimeSeconds: 120)
        o.memeater.infoAfter = .seen(try Fixtures.controlInfo(bootID: nil, uptimeSeconds: 131))
        assertCheck(Checks.noReboot(o), CheckName.noReboot, passed: false, says: "boot id ? -> ?")
    }

    /// An uptime before the migration that memeater did not report cannot show that it grew.
    func testNoRebootFailsWhenTheUptimeBeforeIsUnknown() throws {
        var o = try Fixtures.observation(.migrates)
        o.memeater.before = try Fixtures.controlInfo(uptimeSeconds: nil)
        assertCheck(Checks.noReboot(o), CheckName.noReboot, passed: false, says: "uptime -1 s -> 131 s")
    }

    func testNoRebootIsNotMeasuredWhenMemeaterCannotBeReached() throws {
        var o = try Fixtures.observation(.migrates)
        o.memeater.statsAfter = nil
        assertCheck(Checks.noReboot(o), CheckName.noReboot, passed: false, says: "not measured: memeater cannot be reached")
    }

    func testNoRebootIsNotMeasuredWithoutInfoAfterTheMigration() throws {
        var o = try Fixtures.observation(.migrates)
        o.memeater.infoAfter = .notLooked("memeater info at 198.18.1.10:7777: connection reset")
        assertCheck(Checks.noReboot(o), CheckName.noReboot, passed: false, says: "not measured: memeater info")
    }

    // MARK: guest-console

    func testGuestConsolePassesWithoutFailureLines() throws {
        let o = try Fixtures.observation(.migrates)
        assertCheck(Checks.guestConsole(o), CheckName.guestConsole, passed: true, says: "no panic, Oops or BUG in 42 new console lines")
    }

    func testGuestConsoleFailsOnFailureLines() throws {
        var o = try Fixtures.observation(.migrates)
        o.console = ConsoleObservation(text: "[ 25.1] virtio_net virtio0: output.0:id 15 is not a head!\r\n[ 26.0] Kernel panic - not syncing: Fatal exception\r\n",
                                       unavailable: nil)
        assertCheck(Checks.guestConsole(o), CheckName.guestConsole, passed: false,
                    says: "2 failure lines: [ 25.1] virtio_net virtio0: output.0:id 15 is not a head! | [ 26.0] Kernel panic")
    }

    func testGuestConsoleMakesNoCheckWhenTheConsoleIsUnreadable() throws {
        var o = try Fixtures.observation(.migrates)
        o.console = ConsoleObservation(text: nil, unavailable: "cannot read the console log: permission denied")
        XCTAssertEqual(o.console, .unreadable("cannot read the console log: permission denied"))
        XCTAssertNil(Checks.guestConsole(o))
    }

    // MARK: landing-intact

    func testLandingIntactPassesOnAllThreeSignals() throws {
        let o = try Fixtures.observation(.migrates)
        assertCheck(Checks.landingIntact(o), CheckName.landingIntact, passed: true,
                    says: "integrity: 0 stale pages", "console: no panic, Oops or BUG",
                    "answers: lab-guest is running (migrated) on \(destinationURI), replied to a ping at the end")
    }

    func testLandingIntactFailsOnStalePages() throws {
        var o = try Fixtures.observation(.migrates)
        o.memeater.verification = .seen(try Fixtures.verification(badPages: [try Fixtures.badPage(17, expected: 5, found: 4)]))
        assertCheck(Checks.landingIntact(o), CheckName.landingIntact, passed: false,
                    says: "stale pages: 1 (integrityErrors)", "(held: console: no panic")
        o = try Fixtures.observation(.migrates)
        o.memeater.statsAfter = try Fixtures.progressRecord(integrityErrors: 2)
        assertCheck(Checks.landingIntact(o), CheckName.landingIntact, passed: false, says: "stale pages: 2 (integrityErrors)")
    }

    func testLandingIntactFailsOnAConsolePanic() throws {
        var o = try Fixtures.observation(.migrates)
        o.console = .read(lineCount: 60, failureLines: ["Kernel panic - not syncing: Fatal exception in interrupt"])
        assertCheck(Checks.landingIntact(o), CheckName.landingIntact, passed: false,
                    says: "console: Kernel panic - not syncing: Fatal exception in interrupt")
    }

    func testLandingIntactFailsWhenTheGuestDoesNotAnswerAtTheEnd() throws {
        var o = try Fixtures.observation(.migrates)
        o.answersAtEnd = .seen(false)
        assertCheck(Checks.landingIntact(o), CheckName.landingIntact, passed: false,
                    says: "guest dead/unreachable: lab-guest is running (migrated) on \(destinationURI), no reply to a ping at the end")
        o.answersAtEnd = nil
        assertCheck(Checks.landingIntact(o), CheckName.landingIntact, passed: false, says: "no reply to a ping at the end")
        o.answersAtEnd = .notLooked("could not ping at the end: not root")
        assertCheck(Checks.landingIntact(o), CheckName.landingIntact, passed: false, says: "could not ping at the end: not root")
    }

    func testLandingIntactFailsWhenTheGuestIsGoneFromTheDestination() throws {
        var o = try Fixtures.observation(.migrates)
        o.onDestination = Fixtures.sighting(.destination, nil)
        assertCheck(Checks.landingIntact(o), CheckName.landingIntact, passed: false,
                    says: "guest dead/unreachable: no domain lab-guest on \(destinationURI)")
    }

    func testLandingIntactFailsWhenIntegrityWasNotMeasured() throws {
        var o = try Fixtures.observation(.migrates)
        o.memeater.verification = .notLooked("memeater did not answer")
        assertCheck(Checks.landingIntact(o), CheckName.landingIntact, passed: false, says: "integrity not measured")
    }

    // MARK: guest-lost

    /// A host whose daemon cannot be read may still run the guest: not measured, not passed.
    func testGuestLostIsNotMeasuredWhenEitherHostCannotBeRead() throws {
        var o = try Fixtures.observation(.guestLost)
        assertCheck(Checks.guestLost(o), CheckName.guestLost, passed: true, says: "source: no domain lab-guest")
        o.onSource = Fixtures.sighting(.source, nil, error: "virConnectOpen failed: connection refused")
        assertCheck(Checks.guestLost(o), CheckName.guestLost, passed: false, says: "not measured: virConnectOpen failed: connection refused")
        o = try Fixtures.observation(.guestLost)
        o.onDestination = Fixtures.sighting(.destination, nil, error: "client socket is closed")
        assertCheck(Checks.guestLost(o), CheckName.guestLost, passed: false, says: "not measured: client socket is closed")
    }

    // MARK: migration-settings-restored

    /// Settings not read before the migration leave nothing to compare the ones after with.
    func testMigrationSettingsRestoredIsNotMeasuredWithoutTheSettingsOfBefore() throws {
        let settings = try QEMUMigrationSettings(
            capabilitiesReply: #"{"return":[{"state":true,"capability":"events"}],"id":"libvirt-12"}"#,
            parametersReply: #"{"return":{"downtime-limit":300},"id":"libvirt-13"}"#)
        var o = try Fixtures.observation(.staysOnSource)
        o.sourceMigrationSettings = MigrationSettingsObservation(before: .notLooked("query-migrate-capabilities failed: timed out"),
                                                                 after: .seen(settings))
        assertCheck(try XCTUnwrap(Checks.migrationSettingsRestored(o)), CheckName.migrationSettingsRestored, passed: false,
                    says: "not measured", "not read before the migration: query-migrate-capabilities failed: timed out")
    }

    // MARK: fault-acted

    func testFaultActedPassesWhenTheFaultActedAndCausedItsError() throws {
        let o = try Fixtures.observation(.staysOnSource)
        assertCheck(Checks.faultActed(o), CheckName.faultActed, passed: true,
                    says: "dropped 14 packets to TCP 49152-49216; libvirt: aborted by the verifier")
    }

    func testFaultActedIsMadeForFailureScenariosAndForLandingsWithAFault() throws {
        var o = try Fixtures.observation(.migrates)
        o.fault = nil
        XCTAssertNil(Checks.faultActed(o), "live has no fault to judge")
        XCTAssertFalse(Checks.evaluate(o).contains { $0.name == CheckName.faultActed })
        o.fault = FaultEvidence(scenario: .guestLinkCut, acted: false, evidence: "the guest network was never cut",
                                errorAsExpected: true, errorEvidence: "completed")
        assertCheck(Checks.faultActed(o), CheckName.faultActed, passed: false, says: "the fault did not act: the guest network was never cut")
        XCTAssertTrue(Checks.evaluate(o).contains { $0.name == CheckName.faultActed }, "guest-link-cut lands and is judged on its fault")
    }

    func testFaultActedFailsWhenTheFaultActedButTheMigrationFailedForAnotherReason() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.fault?.errorAsExpected = false
        o.fault?.errorEvidence = "expected the migration to stall on the dropped ports; got failed: \(Fixtures.qemuMonitorClosed)"
        assertCheck(Checks.faultActed(o), CheckName.faultActed, passed: false,
                    says: "dropped 14 packets", "expected the migration to stall", "could not open kernel file")
    }

    func testFaultActedFailsWhenTheRightErrorCameButTheFaultDidNotAct() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.fault?.acted = false
        let check = Checks.faultActed(o)
        assertCheck(check, CheckName.faultActed, passed: false, says: "libvirt: aborted by the verifier")
        XCTAssertTrue(check?.evidence.hasPrefix("the fault did not act: the firewall on dst") == true, check?.evidence ?? "")
    }

    func testFaultActedIsNotMeasuredWithoutEvidence() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.fault = nil
        assertCheck(Checks.faultActed(o), CheckName.faultActed, passed: false,
                    says: "not measured: the scenario reported no evidence of its fault")
    }

    // MARK: fault-removed

    func testFaultRemovedPassesWhenTheFaultIsGone() throws {
        let o = try Fixtures.observation(.staysOnSource)
        assertCheck(Checks.faultRemoved(o), CheckName.faultRemoved, passed: true, says: "the nft table migverify_fault is gone from dst")
    }

    func testFaultRemovedFailsWhenTheFaultIsStillThere() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.fault?.removed = false
        o.fault?.removalEvidence = "the nft table migverify_fault is STILL in dst"
        assertCheck(Checks.faultRemoved(o), CheckName.faultRemoved, passed: false, says: "STILL in dst")
        o.fault?.removalEvidence = nil
        assertCheck(Checks.faultRemoved(o), CheckName.faultRemoved, passed: false, says: "not removed")
    }

    func testFaultRemovedIsOnlyMadeForAFaultThatInstalledSomething() throws {
        var o = try Fixtures.observation(.staysOnSource)
        o.fault?.removed = nil
        XCTAssertNil(Checks.faultRemoved(o))
        XCTAssertNil(Checks.faultRemoved(try Fixtures.observation(.migrates)))
    }

    // MARK: guest-freeze

    /// A landed run whose guest clock, read 2 ms round trips around the call, stood still
    /// between `lagLowerBound` and `lagLowerBound` + 4 ms, with libvirt's downtime `downtime`
    /// and the pings' longest gap at most `pingGap` ms.
    private func frozen(lagLowerBound: Double, downtime: Double?, pingGap: Double = 110) throws -> Observation {
        var o = try Fixtures.observation(.migrates)
        let guestElapsed = (5_000 - 2) - lagLowerBound
        o.memeater.duringMigration = .seen(GuestLoadDuringMigration(
            pagesDirtiedBefore: 0, beforeAtMilliseconds: 2, pagesDirtiedAfter: 1_000, afterAtMilliseconds: 5_002, pageSizeBytes: 4096,
            guestClock: GuestClockReadings(beforeSentAtMilliseconds: 0, beforeReceivedAtMilliseconds: 2, guestBeforeMilliseconds: 1_000,
                                           afterSentAtMilliseconds: 5_000, afterReceivedAtMilliseconds: 5_002,
                                           guestAfterMilliseconds: 1_000 + guestElapsed)))
        o.libvirtDowntimeMilliseconds = downtime
        o.ping.longestGapUpperBoundMilliseconds = pingGap
        return o
    }

    /// Allowed: max(100, 110) × 1.25 + 20 = 157.5 ms.
    func testGuestFreezePassesWhenTheGuestsClockStoodStillNoLongerThanItWasSeenNotToRun() throws {
        let o = try frozen(lagLowerBound: 98, downtime: 100)
        assertCheck(Checks.guestFreeze(o), CheckName.guestFreeze, passed: true,
                    says: "stood still 100 ms (98–102 ms) against libvirt's downtime 100 ms, the pings' longest gap at most 110 ms",
                    "allowed -20 to 157.5 ms")
        XCTAssertFalse(Checks.guestFreeze(o)?.evidence.contains("beyond libvirt's downtime") ?? true)
        XCTAssertTrue(Checks.evaluate(o).contains { $0.name == CheckName.guestFreeze && $0.passed })
        assertCheck(Checks.guestFreeze(try frozen(lagLowerBound: 157.5, downtime: 100)), CheckName.guestFreeze, passed: true)
        // Under load the destination resumes late: the pings saw it, and the evidence says by how much.
        assertCheck(Checks.guestFreeze(try frozen(lagLowerBound: 440, downtime: 247, pingGap: 460)), CheckName.guestFreeze, passed: true,
                    says: "at least 193 ms beyond libvirt's downtime: the destination's resume after QEMU's switch-over")
    }

    func testGuestFreezeFailsWhenTheGuestFrozeLongerThanSeenOrItsClockRanAhead() throws {
        assertCheck(Checks.guestFreeze(try frozen(lagLowerBound: 158, downtime: 100)), CheckName.guestFreeze, passed: false,
                    says: "longer than it was seen not to run (libvirt's downtime 100 ms, the pings' longest gap at most 110 ms)")
        assertCheck(Checks.guestFreeze(try frozen(lagLowerBound: 400, downtime: 100)), CheckName.guestFreeze, passed: false,
                    says: "stood still 402 ms (400–404 ms)")
        // The longer of the two counts: a long libvirt downtime with a short ping gap.
        assertCheck(Checks.guestFreeze(try frozen(lagLowerBound: 300, downtime: 250, pingGap: 40)), CheckName.guestFreeze, passed: true)
        var unpinged = try frozen(lagLowerBound: 300, downtime: 100, pingGap: 400)
        unpinged.ping.received = 0
        assertCheck(Checks.guestFreeze(unpinged), CheckName.guestFreeze, passed: false, says: "the pings' longest gap not measured")
        assertCheck(Checks.guestFreeze(try frozen(lagLowerBound: -30, downtime: 100)), CheckName.guestFreeze, passed: false,
                    says: "stood still -28 ms (-30–-26 ms): the guest's clock ran ahead of the host's")
        assertCheck(Checks.guestFreeze(try frozen(lagLowerBound: -22, downtime: 100)), CheckName.guestFreeze, passed: true)
    }

    func testGuestFreezeDoesNotPassWithoutTheGuestsClock() throws {
        var o = try frozen(lagLowerBound: 98, downtime: 100)
        guard case .seen(var during)? = o.memeater.duringMigration else { return XCTFail("fixture") }
        during.guestClock = nil
        o.memeater.duringMigration = .seen(during)
        assertCheck(Checks.guestFreeze(o), CheckName.guestFreeze, passed: false, says: "not measured: memeater's replies around the call did not say the guest's clock")
        o.memeater.duringMigration = .notLooked("memeater's counter could not be read right after the migration call: reset")
        assertCheck(Checks.guestFreeze(o), CheckName.guestFreeze, passed: false, says: "not measured: memeater's counter could not be read right after")
        o.memeater.duringMigration = nil
        assertCheck(Checks.guestFreeze(o), CheckName.guestFreeze, passed: false, says: "not measured")
    }

    func testGuestFreezeIsOnlyJudgedForALandingWithLibvirtsDowntime() throws {
        XCTAssertNil(Checks.guestFreeze(try frozen(lagLowerBound: 400, downtime: nil)), "nothing to compare with")
        var failed = try frozen(lagLowerBound: 400, downtime: 100)
        failed.expectation = .staysOnSource
        XCTAssertNil(Checks.guestFreeze(failed))
        // Post-copy: QEMU's downtime ends at the source's switch-over, before the destination ran.
        var postCopy = try frozen(lagLowerBound: 40, downtime: 5, pingGap: 10)
        postCopy.outcome.postCopyStartedAtMilliseconds = 3_000
        XCTAssertNil(Checks.guestFreeze(postCopy))
        postCopy.outcome.postCopyStartedAtMilliseconds = nil
        assertCheck(Checks.guestFreeze(postCopy), CheckName.guestFreeze, passed: false)
    }
}
