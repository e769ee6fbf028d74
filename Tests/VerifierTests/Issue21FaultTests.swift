import Foundation
import Libvirt
import XCTest
@testable import Verifier

/// src-daemon-killed's judgement: the kill of the source's daemon while the call ran, with the
/// call failing on its closed connection, acts; the verifier's own abort or a kill after the
/// call does not.
final class KillSourceDaemonFaultTests: XCTestCase {
    typealias Tested = KillSourceDaemonFault

    func outcome(_ ending: MigrationEnding) -> MigrationOutcome { Fixtures.outcome(ending, startedAt: 500, wall: 2_010) }

    /// What the verifier's call over its connection to the killed daemon returns.
    let endOfFile = MigrationEnding.failed(
        message: "virDomainMigrateToURI3 failed (uri qemu+tcp://198.18.0.1/system, domain lab-guest): End of file while reading data: Input/output error [libvirt error 38]",
        kind: .operationFailed)
    let kill = LibvirtDaemonKill.Kill(atMilliseconds: 1_235, processID: 4100, gone: true)
    let restart = LibvirtDaemonKill.Restart(atMilliseconds: 4_100, durationMilliseconds: 1_580, processID: 4200)

    func testActsWhenTheSourceDaemonDiedUnderTheCall() throws {
        let evidence = Tested.judge(kill, restart: restart, outcome: outcome(endOfFile), hostName: "src")
        XCTAssertEqual(evidence.scenario, .srcDaemonKilled)
        XCTAssertTrue(evidence.acted && evidence.errorAsExpected)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: true,
                    says: "libvirtd on src pid 4100 SIGKILLed at 1235 ms, gone", "End of file while reading data")
        assertCheck(try Fixtures.faultRemoved(evidence), CheckName.faultRemoved, passed: true, says: "libvirtd on src runs again as pid 4200")
    }

    func testTheVerifiersOwnAbortOrAKillAfterTheCallIsNotThisFault() throws {
        let aborted = MigrationEnding.aborted(reason: "no progress for 15 s", callError: "operation aborted: migration out job: canceled by client",
                                              abortError: nil)
        let evidence = Tested.judge(kill, restart: restart, outcome: outcome(aborted), hostName: "src")
        XCTAssertFalse(evidence.errorAsExpected)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false, says: "expected the call to fail on its closed connection to the source daemon")
        var late = kill
        late.atMilliseconds = 3_000
        XCTAssertFalse(Tested.judge(late, restart: restart, outcome: outcome(endOfFile), hostName: "src").acted, "after the call had returned")
        XCTAssertFalse(Tested.judge(kill, restart: LibvirtDaemonKill.Restart(atMilliseconds: 4_100, durationMilliseconds: 10, processID: 4100),
                                    outcome: outcome(endOfFile), hostName: "src").removed ?? true, "the killed process is not a restart")
    }

    func testItIsFollowedByAPlainMigrationAndRunsOnTheLabOnly() {
        XCTAssertTrue(Tested.migratesAgainAfterwards)
        XCTAssertTrue(KillDestinationDaemonFault.migratesAgainAfterwards)
        XCTAssertEqual(Tested.expectation, .staysOnSource)
        let refusal = FaultCatalog.standard.refusal(.srcDaemonKilled, on: FakeTestbed(world: FakeWorld()))
        XCTAssertTrue(refusal?.contains("runs on the lab only") ?? false, refusal ?? "not refused")
    }
}

/// finish-fail's judgement: it acted only when the source had paused for the switch-over
/// (every page sent) before the call failed naming the definition file; a failure before
/// the switch-over (Perform) fails `fault-acted`.
final class FinishFailFaultTests: XCTestCase {
    let blocker = FinishFailFault.Blocker(path: "/run/lab/hosts/dst/etc/qemu/lab-guest.xml")
    let persistError = MigrationEnding.failed(
        message: "virDomainMigrateToURI3 failed (uri qemu+tcp://198.18.0.1/system, domain lab-guest): cannot rename file '/etc/libvirt/qemu/lab-guest.xml.new' as '/etc/libvirt/qemu/lab-guest.xml': Is a directory [libvirt error 38]",
        kind: .operationFailed)

    func outcome(_ ending: MigrationEnding) -> MigrationOutcome { Fixtures.outcome(ending, startedAt: 500, wall: 4_500) }

    func event(_ at: Double, _ host: HostRole, _ kind: LifecycleEventKind, _ detail: Int32) -> SeenDomainEvent {
        SeenDomainEvent(offsetMilliseconds: at, host: host, event: .lifecycle(domainName: "lab-guest", kind: kind, rawKind: kind.rawValue, detail: detail))
    }

    var finishEvents: [SeenDomainEvent] {
        [event(600, .destination, .started, 1), event(4_700, .destination, .stopped, LifecycleEventDetail.stoppedFailed),
         event(4_650, .source, .suspended, LifecycleEventDetail.suspendedMigrated), event(4_990, .source, .resumed, 1)]
    }

    func judge(_ events: [SeenDomainEvent], _ ending: MigrationEnding, blocker: FinishFailFault.Blocker? = nil) -> FaultEvidence {
        FinishFailFault.judge(blocker ?? self.blocker, events: events, outcome: outcome(ending), domainName: "lab-guest",
                              removal: (true, "directory removed"))
    }

    func testAFailedSaveAfterTheSwitchOverActsInFinish() throws {
        let evidence = judge(finishEvents, persistError)
        XCTAssertTrue(evidence.acted && evidence.errorAsExpected)
        XCTAssertEqual(evidence.actedAtMilliseconds, 4_650)
        XCTAssertEqual(evidence.guestNetwork, .paused(atMilliseconds: 4_650, milliseconds: 340), "from the switch-over until the source resumed it")
        XCTAssertEqual(judge(finishEvents.filter { !($0.host == .source && $0.offsetMilliseconds == 4_990) }, persistError).guestNetwork, .untouched,
                       "without the resume event every gap is held to the limit")
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: true,
                    says: "the source paused for the switch-over (suspended, migrated) at 4650 ms, so every page was sent: the failure came in Finish",
                    "the destination stopped its domain (stopped, failed) at 4700 ms", "lab-guest.xml")
    }

    func testAFailureBeforeTheSwitchOverIsPerformNotFinish() throws {
        let noSwitchOver = finishEvents.filter { $0.host != .source }
        let evidence = judge(noSwitchOver, persistError)
        XCTAssertFalse(evidence.acted)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false, says: "the migration failed before Finish (in Perform)")
        // A pause for a post-copy switch is not pre-copy's switch-over, and one after the call returned does not count.
        XCTAssertFalse(judge([event(4_650, .source, .suspended, LifecycleEventDetail.suspendedPostCopy)], persistError).acted)
        XCTAssertFalse(judge([event(5_100, .source, .suspended, LifecycleEventDetail.suspendedMigrated)], persistError).acted)
        // The switch-over happened, but the migration failed for another reason.
        let other = judge(finishEvents, .failed(message: "operation failed: job 'migration out' failed: Channel error", kind: .operationFailed))
        XCTAssertFalse(other.errorAsExpected)
        XCTAssertFalse(judge(finishEvents, persistError, blocker: FinishFailFault.Blocker(path: blocker.path, error: "exists")).acted)
    }

    /// The ping over the pause libvirt's events show may last the pause plus the limit; a
    /// longer gap, or one elsewhere over the limit, fails; a pause the pings never showed fails.
    func testThePingGapOverTheSourcesPauseIsJudgedAgainstThePausePlusTheLimit() throws {
        var observation = try Fixtures.observation(.staysOnSource)
        observation.parameters = Fixtures.parameters(.finishFail)
        observation.parameters.maxPingDowntimeMilliseconds = 500
        observation.fault = judge(finishEvents, persistError)
        let pauseGap = TimedSpan(startOffsetMilliseconds: 4_660, lengthMilliseconds: 600)
        func ping(_ gaps: [TimedSpan]) -> Check {
            observation.ping.gapsOnRunClock = gaps
            observation.ping.longestGapMilliseconds = gaps.map(\.lengthMilliseconds).max() ?? 0
            return Checks.pingContinuity(observation)
        }
        assertCheck(ping([pauseGap]), CheckName.pingContinuity, passed: true,
                    says: "libvirt kept the guest paused", "at 4650 ms for 340 ms: the gap over it 600 ms (limit 340 + 500)")
        assertCheck(ping([TimedSpan(startOffsetMilliseconds: 4_660, lengthMilliseconds: 900)]), CheckName.pingContinuity, passed: false, says: "900 ms")
        assertCheck(ping([pauseGap, TimedSpan(startOffsetMilliseconds: 9_000, lengthMilliseconds: 700)]), CheckName.pingContinuity, passed: false,
                    says: "the longest other gap 700 ms (limit 500)")
        assertCheck(ping([]), CheckName.pingContinuity, passed: false, says: "the pause never showed in the pings")
    }

    func testTheBlockedPathIsTheLabHostsOwnOrLibvirtsDefault() {
        XCTAssertEqual(FinishFailFault.definitionPath(domainName: "g", testbed: FakeTestbed(world: FakeWorld())), "/etc/libvirt/qemu/g.xml")
        XCTAssertEqual(FinishFailFault.expectation, .staysOnSource)
    }
}

/// src-qemu-killed and the `guest-lost` expectation: the guest's own QEMU killed while the
/// call ran acts; `guest-lost` fails when either host still runs the guest or it answered at
/// the end; a lost guest is not judged on memory, connection or console.
final class KillSourceQEMUFaultTests: XCTestCase {
    let failed = MigrationEnding.failed(message: "operation failed: domain is not running", kind: .operationFailed)

    func testKillingTheGuestsQEMUWhileTheCallRanActs() {
        let outcome = Fixtures.outcome(failed, startedAt: 500, wall: 2_000)
        let kill = KillSourceQEMUFault.Kill(atMilliseconds: 1_200, processIDsBefore: [4242], targetProcessIDs: [4242], killedProcessIDs: [4242])
        let evidence = KillSourceQEMUFault.judge(kill, outcome: outcome)
        XCTAssertTrue(evidence.acted && evidence.errorAsExpected, evidence.evidence)
        var survived = kill
        survived.survivors = [4242]
        XCTAssertFalse(KillSourceQEMUFault.judge(survived, outcome: outcome).acted)
        var late = kill
        late.atMilliseconds = 2_600
        XCTAssertFalse(KillSourceQEMUFault.judge(late, outcome: outcome).acted)
        let none = KillSourceQEMUFault.Kill(atMilliseconds: 1_200, processIDsBefore: [4242])
        XCTAssertFalse(KillSourceQEMUFault.judge(none, outcome: outcome).acted)
        XCTAssertFalse(KillSourceQEMUFault.judge(kill, outcome: Fixtures.outcome(.completed, startedAt: 500, wall: 2_000)).errorAsExpected)
    }

    func testAGuestLostObservationPassesAndIsJudgedOnNeitherHostRunningIt() throws {
        let observation = try Fixtures.observation(.guestLost)
        let checks = Checks.evaluate(observation)
        XCTAssertEqual(checks.filter { !$0.passed }.map(\.name), [], "\(checks)")
        XCTAssertEqual(checks.map(\.name), [CheckName.migrationOutcome, CheckName.faultActed, CheckName.guestLost, CheckName.destinationHostClean,
                                            CheckName.migrationPortFree, CheckName.sourceHostClean, CheckName.noDualRunning])
        var stillRuns = observation
        stillRuns.onSource = DomainSighting(uri: "qemu+tcp://198.18.0.1/system", name: "lab-guest", state: DomainStateInfo(rawState: 1, rawReason: 1))
        assertCheck(Checks.guestLost(stillRuns), CheckName.guestLost, passed: false, says: "the guest runs, although its QEMU died")
        var answers = observation
        answers.ping.openEnded = false
        assertCheck(Checks.guestLost(answers), CheckName.guestLost, passed: false, says: "the guest answered pings at the end of the run")
        var leftover = observation
        leftover.sourceHost = .seen(HostSnapshot(hostName: "src", qemuProcesses: [QEMUProcess(pid: 4242, command: "qemu-system-x86", incoming: false)],
                                                 interfaces: [], listeningMigrationPorts: []))
        XCTAssertEqual(Checks.evaluate(leftover).first { $0.name == CheckName.sourceHostClean }?.passed, false)
    }
}

/// `migration-settings-restored`: QEMU's capabilities and parameters after a failed migration
/// against those before it, parsed from QMP's replies.
final class MigrationSettingsRestoredTests: XCTestCase {
    let capabilities = #"{"return":[{"state":false,"capability":"xbzrle"},{"state":true,"capability":"events"},{"state":false,"capability":"postcopy-ram"}],"id":"libvirt-12"}"#
    let parameters = #"{"return":{"downtime-limit":300,"max-bandwidth":134217728,"tls-creds":"","block-bitmap-mapping":[]},"id":"libvirt-13"}"#

    func testQMPRepliesParseIntoComparableSettings() throws {
        let settings = try QEMUMigrationSettings(capabilitiesReply: capabilities, parametersReply: parameters)
        XCTAssertEqual(settings.capabilities, ["xbzrle": false, "events": true, "postcopy-ram": false])
        XCTAssertEqual(settings.parameters["max-bandwidth"], "134217728")
        XCTAssertEqual(settings.parameters["tls-creds"], #""""#)
        XCTAssertEqual(settings.parameters["block-bitmap-mapping"], "[]")
        XCTAssertThrowsError(try QEMUMigrationSettings(capabilitiesReply: #"{"error":{"class":"GenericError"}}"#, parametersReply: parameters))
        XCTAssertThrowsError(try QEMUMigrationSettings(capabilitiesReply: capabilities, parametersReply: "not json"))
    }

    func testSettingsLeftAfterTheFailureFailTheCheck() throws {
        let before = try QEMUMigrationSettings(capabilitiesReply: capabilities, parametersReply: parameters)
        var observation = try Fixtures.observation(.staysOnSource)
        observation.sourceMigrationSettings = MigrationSettingsObservation(before: .seen(before), after: .seen(before))
        assertCheck(try XCTUnwrap(Checks.migrationSettingsRestored(observation)), CheckName.migrationSettingsRestored, passed: true,
                    says: "as before the migration (3 capabilities, on: events; 4 parameters)")
        XCTAssertTrue(Checks.evaluate(observation).contains { $0.name == CheckName.migrationSettingsRestored })
        var after = before
        after.capabilities["postcopy-ram"] = true
        after.parameters["max-bandwidth"] = "33554432"
        observation.sourceMigrationSettings = MigrationSettingsObservation(before: .seen(before), after: .seen(after))
        assertCheck(try XCTUnwrap(Checks.migrationSettingsRestored(observation)), CheckName.migrationSettingsRestored, passed: false,
                    says: "capability postcopy-ram off → on; parameter max-bandwidth 134217728 → 33554432")
        observation.sourceMigrationSettings = MigrationSettingsObservation(before: .seen(before), after: .notLooked("the guest does not run"))
        assertCheck(try XCTUnwrap(Checks.migrationSettingsRestored(observation)), CheckName.migrationSettingsRestored, passed: false,
                    says: "not read after the failure: the guest does not run")
        observation.sourceMigrationSettings = nil
        XCTAssertNil(Checks.migrationSettingsRestored(observation), "not read: no check (a landing, or stored before it existed)")
    }
}

/// postcopy-dst-qemu-killed: acts only when the kill came after the source handed the guest
/// over to post-copy; `source-not-resumed` fails on a source that runs again or resumed.
final class PostCopyKillDestinationQEMUFaultTests: XCTestCase {
    typealias Tested = PostCopyKillDestinationQEMUFault
    let failed = MigrationEnding.failed(message: "operation failed: domain is not running", kind: .operationFailed)
    let kill = PostCopyKillDestinationQEMUFault.Kill(atMilliseconds: 3_000, processIDsBefore: [], targetProcessIDs: [5150], killedProcessIDs: [5150])

    func lifecycle(_ at: Double, _ kind: LifecycleEventKind, _ detail: Int32) -> SeenDomainEvent {
        SeenDomainEvent(offsetMilliseconds: at, host: .source, event: .lifecycle(domainName: "lab-guest", kind: kind, rawKind: kind.rawValue, detail: detail))
    }

    func testAKillDuringPostCopyActsAndOneBeforeItDoesNot() throws {
        let outcome = Fixtures.outcome(failed, startedAt: 500, wall: 4_000)
        let handedOver = [lifecycle(2_100, .suspended, LifecycleEventDetail.suspendedPostCopy)]
        let evidence = Tested.judge(kill, events: handedOver, outcome: outcome)
        XCTAssertTrue(evidence.acted && evidence.errorAsExpected, evidence.evidence)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: true,
                    says: "killed the destination qemu 5150", "(suspended, post-copy) at 2100 ms")
        let preCopyPause = [lifecycle(2_100, .suspended, LifecycleEventDetail.suspendedMigrated)]
        assertCheck(try Fixtures.faultActed(Tested.judge(kill, events: preCopyPause, outcome: outcome)), CheckName.faultActed, passed: false,
                    says: "never reported post-copy")
        XCTAssertFalse(Tested.judge(kill, events: [lifecycle(3_500, .suspended, LifecycleEventDetail.suspendedPostCopy)], outcome: outcome).acted,
                       "handed over only after the kill")
        XCTAssertEqual(Tested.expectation, .guestLost)
    }

    func testTheSourceMustStayPausedWithPostCopyFailedAndNeverResume() throws {
        var observation = try Fixtures.observation(.guestLost)
        observation.parameters = Fixtures.parameters(.postCopyDstQEMUKilled)
        let pausedPostCopyFailed = DomainStateInfo(rawState: 3, rawReason: 13)
        XCTAssertEqual(pausedPostCopyFailed.reason, "post-copy failed")
        observation.onSource = DomainSighting(uri: "qemu+tcp://198.18.0.1/system", name: "lab-guest", state: pausedPostCopyFailed)
        observation.faultFindings = FaultFindings(sourceResumesAfterFaultMilliseconds: [])
        let checks = Checks.evaluate(observation)
        XCTAssertEqual(checks.first { $0.name == CheckName.sourceNotResumed }?.passed, true, "\(checks)")
        XCTAssertEqual(checks.first { $0.name == CheckName.guestLost }?.passed, true, "a paused source is not running")
        observation.faultFindings = FaultFindings(sourceResumesAfterFaultMilliseconds: [3_400])
        assertCheck(Tested.checks(observation).first, CheckName.sourceNotResumed, passed: false, says: "the source resumed the guest at 3400 ms")
        observation.faultFindings = FaultFindings(sourceResumesAfterFaultMilliseconds: [])
        observation.onSource.state = DomainStateInfo(rawState: 3, rawReason: 2)
        assertCheck(Tested.checks(observation).first, CheckName.sourceNotResumed, passed: false, says: "not paused (post-copy failed)")
        observation.faultFindings = nil
        assertCheck(Tested.checks(observation).first, CheckName.sourceNotResumed, passed: false, says: "not looked at")
    }

    /// The driver injects a fault that waits for post-copy only once it switched, and that long after.
    func testAMidStreamFaultCanWaitForThePostCopySwitch() {
        let fault = MidStreamFault(afterProcessedBytes: 8, afterPostCopySwitchMilliseconds: 1_000) { _ in "" }
        XCTAssertFalse(fault.isDue(processedBytes: 100, switchedAt: nil, now: 9_000), "no switch yet")
        XCTAssertFalse(fault.isDue(processedBytes: 100, switchedAt: 8_500, now: 9_000), "too soon after it")
        XCTAssertTrue(fault.isDue(processedBytes: 100, switchedAt: 8_000, now: 9_000))
        XCTAssertFalse(fault.isDue(processedBytes: 4, switchedAt: 8_000, now: 9_000))
        XCTAssertTrue(MidStreamFault(afterProcessedBytes: 8) { _ in "" }.isDue(processedBytes: 8, switchedAt: nil, now: 0))
    }
}

/// The verdict of a post-copy landing says when the switch came, how long post-copy lasted,
/// the pages fetched on demand and the guest's longest stall.
final class PostCopyFiguresTests: XCTestCase {
    func testAPostCopyLandingReportsItsPhase() throws {
        var observation = try Fixtures.observation(.migrates)
        observation.parameters.migration.postCopy = true
        observation.outcome.postCopyStartedAtMilliseconds = 3_000
        observation.outcome.samples = [
            JobSample(side: "source", offsetMilliseconds: 2_000, jobType: "unbounded", timeElapsedMilliseconds: 1_000, dataProcessedBytes: 1,
                      dataRemainingBytes: 1, dataTotalBytes: 2, memoryDirtyRatePagesPerSecond: nil, memoryDirtyRateBytesPerSecond: nil,
                      memoryIteration: 1, memoryBandwidthBytesPerSecond: nil, expectedDowntimeMilliseconds: nil, autoConvergeThrottlePercent: nil),
            JobSample(side: "source", offsetMilliseconds: 3_000, jobType: "unbounded", timeElapsedMilliseconds: 2_000, dataProcessedBytes: 2,
                      dataRemainingBytes: 1, dataTotalBytes: 2, memoryDirtyRatePagesPerSecond: nil, memoryDirtyRateBytesPerSecond: nil,
                      memoryIteration: 2, memoryBandwidthBytesPerSecond: nil, expectedDowntimeMilliseconds: nil, autoConvergeThrottlePercent: nil),
        ]
        let completed = CompletedJobStats(stats: JobStats(rawType: 3, fields: ["time_elapsed": .ulong(5_000), "memory_postcopy_requests": .ulong(812)]),
                                          source: "the job-completed event")
        let ping = try FakePing(world: FakeWorld()).finish()
        let result = ResultBuilder(
            parameters: observation.parameters, swapped: false, startedAt: Date(timeIntervalSince1970: 1_700_000_000), setupActions: [],
            baseline: Baseline(accelerator: "tcg", qemuVersion: "10.0.2", qemuVersionSource: "-", libvirtVersion: "11.3.0", sourceTaps: []),
            load: LoadFigures(targetMiBPerSecond: 0, achievedMiBPerSecond: 300, settled: true, guestSystem: nil), qemuDirtyRate: nil,
            drive: DriveRecord(outcome: observation.outcome, planNotes: [], eventCount: 0, subscriptionErrors: []),
            ping: ping, captureStartMilliseconds: 0, observation: observation, checks: [], completedStats: .success(completed),
            discardedGuest: nil, faultType: NoFault.self).result()
        XCTAssertEqual(result.figures.postCopySwitchOffsetMilliseconds, 3_000)
        XCTAssertEqual(result.figures.postCopyMilliseconds, 3_000, "from the switch until the call returned at 6000 ms")
        XCTAssertEqual(result.figures.postCopyRequests, 812)
        let note = result.notes.first { $0.hasPrefix("post-copy:") } ?? "none"
        XCTAssertEqual(note, "post-copy: switched at 3000 ms, 2000 ms into the call (pass 2); the post-copy phase lasted 3000 ms until the call returned; "
                       + "812 pages fetched on demand (completed job stats memory_postcopy_requests); the guest's longest stall 160 ms (memeater's workers, over the whole migration)")
        observation.outcome.postCopyStartedAtMilliseconds = nil
        XCTAssertNil(try Fixtures.observation(.migrates).outcome.postCopyStartedAtMilliseconds)
    }
}

/// A fault only these tests know: the migration fails at once (the fake's script), and the
/// fault asks for a plain migration afterwards, which the fake then lets complete.
final class FailsThenMigratesAgainFault: Fault {
    static let scenario = ScenarioKind(declaring: "test-fails-then-again")
    static let summary = "a test's failure after which a plain migration must pass"
    static let expectation = ExpectedOutcome.staysOnSource
    static let migratesAgainAfterwards = true
    /// The fake world of the running test.
    nonisolated(unsafe) static var world: FakeWorld?

    init() {}

    func install(_ context: FaultContext) throws(VerifierError) {
        Self.world?.state.withLock { $0.script = .fails(message: "internal error: the test's fault") }
    }

    func afterMigration(_ context: FaultContext, outcome: MigrationOutcome) {
        Self.world?.state.withLock { $0.script = .completes(afterReads: 2) }
    }

    func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        FaultEvidence(scenario: Self.scenario, acted: true, evidence: "failed the call", errorAsExpected: true, errorEvidence: "libvirt: \(outcome.ending.summary)")
    }
}

/// The runner's part of issue 21 on the fake testbed: the plain migration after a fault that
/// must leave the hosts able to migrate, and the source QEMU's migration settings compared
/// before and after a failure.
final class MigrateAgainAndSettingsOnFakeTests: XCTestCase {
    private var world: FakeWorld!
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fake-again-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        world = FakeWorld()
        FailsThenMigratesAgainFault.world = world
    }

    override func tearDownWithError() throws {
        FailsThenMigratesAgainFault.world = nil
        try? FileManager.default.removeItem(at: directory)
    }

    private func run(_ scenario: ScenarioKind) throws -> ScenarioResult {
        let runner = try ScenarioRunner(testbed: FakeTestbed(world: world), recorder: MemoryRecorder(),
                                        journal: FaultJournal(path: directory.appendingPathComponent("journal.json").path), interruption: Interruption(),
                                        catalog: FaultCatalog(FaultCatalog.standard.types + [FailsThenMigratesAgainFault.self]), pauses: RunPauses(all: 0.01))
        return runner.run(ScenarioParameters(scenario: scenario, memoryMiB: 512, memeaterSizeMiB: 128, dirtyRateMiBPerSecond: 50,
                                             endpoints: FakeTestbed(world: world).endpoints, timeoutSeconds: 2, stallTimeoutSeconds: 0.5))
    }

    func testAFaultThatAsksForItIsFollowedByAPlainMigrationCheckedLikeALanding() throws {
        let result = try run(FailsThenMigratesAgainFault.scenario)
        XCTAssertTrue(result.passed, "\(result.failedChecks)")
        XCTAssertEqual(result.checks.first { $0.name == CheckName.guestOnSource }?.passed, true, "the failure kept the guest on the source")
        for name in [CheckName.migrationOutcome, CheckName.guestOnDestination, CheckName.memoryIntegrity, CheckName.landingIntact] {
            XCTAssertEqual(result.checks.first { $0.name == "again-" + name }?.passed, true, "again-\(name): \(result.checks.map(\.name))")
        }
        XCTAssertTrue(result.notes.contains { $0.hasPrefix("again: migration ") }, "\(result.notes)")
        XCTAssertEqual(world.state.withLock { $0.guestHost }, .destination, "the plain migration moved it")
        XCTAssertFalse(try run(.live).checks.contains { $0.name.hasPrefix("again-") }, "a plain live run has no second leg")
    }

    func testSettingsLeftSetByAFailedMigrationFailTheCheck() throws {
        let result = try run(.prepareFail)
        XCTAssertEqual(result.checks.first { $0.name == CheckName.migrationSettingsRestored }?.passed, true, "\(result.checks)")
        let world = self.world!
        world.state.withLock {
            $0.onMigrationStart = { world.state.withLock { $0.migrationSettings.capabilities["postcopy-ram"] = true } }
        }
        let left = try run(.prepareFail)
        assertCheck(left.checks.first { $0.name == CheckName.migrationSettingsRestored }, CheckName.migrationSettingsRestored, passed: false,
                    says: "left set on the source QEMU after the failure: capability postcopy-ram off → on")
    }
}

/// postcopy-link-cut's judgement: the cut must come in post-copy, the first call fail on the
/// lost connection, both sides read post-copy failed and the resumed call complete.
final class PostCopyLinkCutFaultTests: XCTestCase {
    let cut = LinkCutRecord(interface: "mgmt-dst", downAtMilliseconds: 3_000, confirmedDown: true)
    let handedOver = [SeenDomainEvent(offsetMilliseconds: 2_100, host: .source,
                                      event: .lifecycle(domainName: "lab-guest", kind: .suspended, rawKind: 3, detail: LifecycleEventDetail.suspendedPostCopy))]
    var recovery: PostCopyLinkCutFault.Recovery {
        PostCopyLinkCutFault.Recovery(firstEnding: "failed: operation failed: Lost connection to destination host", firstFailedOnTheLink: true,
                                      pausedAtMilliseconds: 33_000, sourceState: "paused (post-copy failed)",
                                      destinationState: "running (post-copy failed)", bothPostCopyFailed: true,
                                      resumedAtMilliseconds: 34_000, resumeEnding: "completed")
    }

    func testARecoveredPostCopyActsAndItsStallIsAllowed() throws {
        let outcome = Fixtures.outcome(.completed, startedAt: 34_000, wall: 6_000)
        let evidence = PostCopyLinkCutFault.judge(cut, recovery: recovery, events: handedOver, outcome: outcome)
        XCTAssertTrue(evidence.acted && evidence.errorAsExpected, evidence.evidence + " | " + evidence.errorEvidence)
        XCTAssertEqual(evidence.guestNetwork, .mayStall(atMilliseconds: 3_000, milliseconds: 37_000))
        XCTAssertTrue(evidence.errorEvidence.contains("(both post-copy failed)"), evidence.errorEvidence)
        var notBoth = recovery
        notBoth.bothPostCopyFailed = false
        XCTAssertFalse(PostCopyLinkCutFault.judge(cut, recovery: notBoth, events: handedOver, outcome: outcome).errorAsExpected)
        XCTAssertFalse(PostCopyLinkCutFault.judge(cut, recovery: recovery, events: [], outcome: outcome).acted, "a cut in pre-copy")
        XCTAssertFalse(PostCopyLinkCutFault.judge(cut, recovery: recovery, events: handedOver,
                                                  outcome: Fixtures.outcome(.failed(message: "x", kind: .operationFailed), startedAt: 34_000, wall: 6_000)).errorAsExpected,
                       "a resume that failed")
        XCTAssertEqual(PostCopyLinkCutFault.expectation, .migrates)
    }

    func testAStallUnderTheWindowPlusTheLimitPassesEvenWhenItNeverShowed() throws {
        var observation = try Fixtures.observation(.migrates)
        observation.parameters = Fixtures.parameters(.postCopyLinkCut)
        observation.parameters.maxPingDowntimeMilliseconds = 500
        observation.fault = FaultEvidence(scenario: .postCopyLinkCut, acted: true, evidence: "", errorAsExpected: true, errorEvidence: "",
                                          guestNetwork: .mayStall(atMilliseconds: 3_000, milliseconds: 2_000))
        observation.ping.gapsOnRunClock = [TimedSpan(startOffsetMilliseconds: 3_100, lengthMilliseconds: 2_200)]
        observation.ping.longestGapMilliseconds = 2_200
        assertCheck(Checks.pingContinuity(observation), CheckName.pingContinuity, passed: true, says: "the guest may have stalled")
        observation.ping.gapsOnRunClock = []
        observation.ping.longestGapMilliseconds = 0
        assertCheck(Checks.pingContinuity(observation), CheckName.pingContinuity, passed: true, says: "the gap over it 0 ms")
        observation.ping.gapsOnRunClock = [TimedSpan(startOffsetMilliseconds: 3_100, lengthMilliseconds: 2_600)]
        observation.ping.longestGapMilliseconds = 2_600
        assertCheck(Checks.pingContinuity(observation), CheckName.pingContinuity, passed: false, says: "2600 ms")
    }
}

/// A destination left running by a failed post-copy is not a landed guest.
final class FailedPostCopyDestinationTests: XCTestCase {
    func testGuestOnDestinationFailsADestinationStuckInAFailedPostCopy() throws {
        var observation = try Fixtures.observation(.migrates)
        XCTAssertEqual(Checks.guestOnDestination(observation).passed, true)
        observation.onDestination.state = DomainStateInfo(rawState: 1, rawReason: 11)
        XCTAssertEqual(observation.onDestination.state?.reason, "post-copy failed")
        assertCheck(Checks.guestOnDestination(observation), CheckName.guestOnDestination, passed: false,
                    says: "a failed post-copy, its vCPUs wait for pages that never come")
    }
}
