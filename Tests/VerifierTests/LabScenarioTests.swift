import Foundation
import Lab
import Libvirt
import Synchronization
import XCTest
@testable import Verifier

/// The scenarios for real: the lab's two libvirt daemons, QEMU under TCG, the initramfs
/// guest with memeater. The lab uses its own prefix and state directory (so it never
/// touches a lab brought up by hand or by the lab's tests), comes up once for the class and
/// is torn down in the class tearDown whatever happened. Tests run in name order.
final class LabScenarioTests: XCTestCase {
    static let harness = LabScenarioHarness(namePrefix: "mlabv", stateDirectory: "/run/migration-lab-verifier", sshDaemons: true)
    static var lab: Lab { harness.lab }

    /// Guest RAM: odd on purpose (not a multiple of 256 MiB), small for TCG on 2 cores.
    let memoryMiB = 333

    override class func setUp() {
        super.setUp()
        harness.start()
    }

    override class func tearDown() {
        harness.shutDown()
        super.tearDown()
    }

    override func setUpWithError() throws {
        try Self.harness.requireReady()
    }

    override func tearDown() {
        if let run = testRun, run.failureCount > 0 { Self.harness.printConsoleTail() }
        super.tearDown()
    }

    func parameters(_ scenario: ScenarioKind, rate: Double = 30) -> ScenarioParameters {
        Self.harness.parameters(scenario, memoryMiB: memoryMiB, rate: rate)
    }

    func run(_ parameters: ScenarioParameters, at actions: [RunPhase: @Sendable () -> Void] = [:]) throws -> ScenarioResult {
        try Self.harness.run(parameters, at: actions)
    }

    func check(_ result: ScenarioResult, _ name: String) -> Check? { result.checks.first { $0.name == name } }

    func assertAllPassed(_ result: ScenarioResult, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(result.passed, "failed checks: \(result.failedChecks)", file: file, line: line)
        XCTAssertFalse(result.checks.isEmpty, file: file, line: line)
    }

    func test1PrepareFailLeavesTheGuestOnTheSourceAndTheDestinationClean() throws {
        let result = try run(parameters(.prepareFail))
        assertAllPassed(result)
        for name in [CheckName.migrationOutcome, CheckName.guestOnSource, CheckName.destinationHostClean, CheckName.migrationPortFree,
                     CheckName.pingContinuity, CheckName.memoryIntegrity, CheckName.noReboot, CheckName.controlConnection] {
            XCTAssertNotNil(check(result, name), "missing check \(name)")
        }
        XCTAssertNotNil(result.libvirtError, "libvirt's message is shown")
        XCTAssertEqual(check(result, CheckName.faultActed)?.passed, true, "the bogus URI made it fail: \(result.fault.map { "\($0)" } ?? "no evidence")")
        XCTAssertEqual(result.integrityErrors, 0)
        XCTAssertEqual(result.accel, "tcg")
        let stored = try XCTUnwrap(Self.harness.store?.completedRun(matching: result.parameters))
        XCTAssertEqual(stored.result?.checks, result.checks)
    }

    func test2PerformFailIsAbortedByTheVerifierAndCleansUp() throws {
        let result = try run(parameters(.performFail))
        assertAllPassed(result)
        let outcome = try XCTUnwrap(check(result, CheckName.migrationOutcome))
        // The lab's hosts give up a connect whose SYNs are dropped after 7 s (tcp_syn_retries 2),
        // usually before the verifier's stall timeout; either way it was the dropped connection.
        XCTAssertTrue(outcome.evidence.contains("Connection timed out") || outcome.evidence.contains("aborted by the verifier"), outcome.evidence)
        XCTAssertEqual(check(result, CheckName.faultActed)?.passed, true, "the firewall dropped the migration's packets")
        XCTAssertFalse(result.fault?.evidence.contains("dropped 0 packets") ?? true, result.fault?.evidence ?? "no fault evidence")
        XCTAssertEqual(check(result, CheckName.faultRemoved)?.passed, true)
        // The fault is gone from the destination namespace.
        let tables = try CommandRunner.capture(["ip", "netns", "exec", Self.lab.configuration.destination.namespace, "nft", "list", "tables"],
                                               step: "list nft tables")
        XCTAssertFalse(tables.output.contains("migverify_fault"))
    }

    func test3LiveMigrationAtAnOddSizeUnderLoadLandsIntact() throws {
        let result = try run(parameters(.live))
        assertAllPassed(result)
        XCTAssertEqual(result.integrityErrors, 0)
        // The busybox initramfs has no os-release; its kernel is Debian's, as memeater in it says.
        XCTAssertTrue(result.guestSystem?.hasPrefix("no /etc/os-release, kernel ") ?? false, result.guestSystem ?? "no guest system")
        XCTAssertEqual(result.achievedDirtyRateMiBPerSecond ?? 0, 30, accuracy: 3, "memeater settled at the target before migrating")
        XCTAssertGreaterThan(result.migrationMilliseconds ?? 0, 0, "libvirt's completed job stats were read")
        XCTAssertGreaterThan(result.libvirtDowntimeMilliseconds ?? 0, 0)
        XCTAssertGreaterThan(result.transferredBytes ?? 0, 0)
        XCTAssertNotNil(result.pingDowntimeMilliseconds)
        XCTAssertGreaterThan(result.jobSampleCount, 0)
        XCTAssertNotNil(result.modelComparison)
        // The destination's capture followed the probes: they reached it within the switch-over's
        // ping gap, and the guest's first reply left it before the pinger saw it (causality on
        // one clock: a wrong clock mapping or a wrong packet breaks it).
        let gap = try XCTUnwrap(result.figures.switchOverPingGap, "\(result.figures.pingGaps)")
        let firstProbe = try XCTUnwrap(result.figures.destinationFirstProbeOffsetMilliseconds, "\(result.notes)")
        let firstReply = try XCTUnwrap(result.figures.destinationFirstReplyOffsetMilliseconds)
        XCTAssertGreaterThan(firstProbe, gap.startOffsetMilliseconds, "no probe reached the destination before the guest stopped answering")
        XCTAssertLessThanOrEqual(firstReply, gap.startOffsetMilliseconds + gap.lengthMilliseconds, "the reply left the destination before the pinger saw it")
        XCTAssertEqual(try XCTUnwrap(result.figures.guestAnswerDelayMilliseconds), firstReply - firstProbe, accuracy: 0.01)
        XCTAssertGreaterThan(try XCTUnwrap(result.figures.probesHeldAtDestination), 0)
        let runID = try XCTUnwrap(result.runID)
        XCTAssertEqual(try Self.harness.store?.jobSamples(runID: runID).count, result.jobSampleCount, "every sample is in the database")
        XCTAssertGreaterThan(try Self.harness.store?.pingSamples(runID: runID).count ?? 0, 0)
        // JSON and JUnit of the real result.
        let data = try ReportWriter.json([result])
        let object = try XCTUnwrap((try JSONSerialization.jsonObject(with: data) as? [[String: Any]])?.first)
        XCTAssertEqual(object["memoryMiB"] as? Int, memoryMiB)
        XCTAssertEqual(ReportWriter.junit([result]).components(separatedBy: "<testcase ").count - 1, result.checks.count)
    }

    func test4ChecksCanFailACorruptedPageAndTheWrongHostAndLeftovers() throws {
        let lab = Self.lab
        let configuration = lab.configuration
        // After landing, the source's copy of the guest (shut off, "migrated") is started
        // again, paused, while the hosts are looked at: a QEMU process and its tap are left on
        // the source, and the source is not released. Paused, it sends nothing onto the
        // lab's network. Then memeater corrupts page 7 just before its verification.
        let started = Mutex<Domain?>(nil)
        let result = try run(parameters(.live), at: [
            .lookingAtHosts: {
                do {
                    let domain = try lab.connect(to: configuration.source).lookupDomain(name: configuration.guestName)
                    try domain.start(paused: true)
                    started.withLock { $0 = domain }
                } catch {
                    XCTFail("could not start the source's copy of \(configuration.guestName) paused: \(error)")
                }
            },
            .lookingAtGuest: { try? started.withLock { $0 }?.destroy() },
            .verifyingMemory: {
                do { try lab.connectToMemeater(timeoutSeconds: 5).corruptPage(7) } catch { XCTFail("could not corrupt page 7: \(error)") }
            },
        ])
        XCTAssertFalse(result.passed)
        XCTAssertEqual(check(result, CheckName.sourceReleased)?.passed, false)
        XCTAssertTrue(check(result, CheckName.sourceReleased)?.evidence.contains("paused") ?? false,
                      check(result, CheckName.sourceReleased)?.evidence ?? "")
        let sourceClean = try XCTUnwrap(check(result, CheckName.sourceHostClean))
        XCTAssertFalse(sourceClean.passed)
        XCTAssertTrue(sourceClean.evidence.contains("qemu left") && sourceClean.evidence.contains("tap \(configuration.guestTapName) left"),
                      sourceClean.evidence)
        XCTAssertEqual(check(result, CheckName.memoryIntegrity)?.passed, false)
        XCTAssertTrue(check(result, CheckName.memoryIntegrity)?.evidence.contains("page 7") ?? false)
        XCTAssertGreaterThanOrEqual(result.integrityErrors ?? 0, 1)
        // Everything else still held: the failures are the probes', not the migration's.
        // (landing-intact combines the integrity check with the console and liveness, so it fails with it.)
        XCTAssertEqual(Set(result.failedChecks.map(\.name)), [CheckName.memoryIntegrity, CheckName.landingIntact,
                                                             CheckName.sourceReleased, CheckName.sourceHostClean])
        XCTAssertTrue(check(result, CheckName.landingIntact)?.evidence.contains("stale pages") ?? false)
    }

    /// Real-host mode, run as a user would on real hosts: `migverify run` from the client
    /// side with the hosts' `qemu+ssh://` URIs, the domain, the guest address and memeater's
    /// token file only. The
    /// lab is just the hosts here: no namespace is named, host checks and the firewall
    /// fault go over ssh, pings and memeater go from the current namespace (the client's).
    func test5RealHostModeRunsTheTestCaseThroughURIsAndSSH() throws {
        let configuration = Self.lab.configuration
        let captures = Self.harness.databaseDirectory.appendingPathComponent("captures").path
        let objects = try runAsRealHosts(sourceURI: configuration.sshURI(configuration.source),
                                         destinationURI: configuration.sshURI(configuration.destination),
                                         guestAddress: configuration.guestAddress, scenarios: "prepare-fail,perform-fail,live",
                                         resultsName: "real-hosts", extraArguments: ["--save-captures", captures])
        XCTAssertEqual(objects.map { $0["scenario"] as? String }, ["prepare-fail", "perform-fail", "live"])
        for object in objects {
            XCTAssertEqual(object["passed"] as? Bool, true)
            XCTAssertEqual(object["memoryMiB"] as? Int, memoryMiB, "the domain's own RAM is the default")
            XCTAssertEqual(object["integrityErrors"] as? Int, 0)
        }
        func evidence(_ scenario: String, _ check: String) -> String {
            let object = objects.first { $0["scenario"] as? String == scenario }
            let checks = object?["checks"] as? [[String: Any]] ?? []
            return checks.first { $0["name"] as? String == check }?["evidence"] as? String ?? "(no \(check) check)"
        }
        // The host-side checks looked over ssh, at the hosts the URIs name.
        let sshHost = "on destination (ssh root@\(configuration.destination.address))"
        XCTAssertTrue(evidence("perform-fail", CheckName.destinationHostClean).contains("no qemu process for \(configuration.guestName) \(sshHost)"),
                      evidence("perform-fail", CheckName.destinationHostClean))
        XCTAssertTrue(evidence("perform-fail", CheckName.migrationPortFree).contains(sshHost), evidence("perform-fail", CheckName.migrationPortFree))
        XCTAssertTrue(evidence("live", CheckName.sourceHostClean).contains("no tap \(configuration.guestTapName)"), evidence("live", CheckName.sourceHostClean))
        XCTAssertTrue(evidence("live", CheckName.guestConsole).contains("new console lines"), "the console file named in the domain XML was read over ssh")
        // Over qemu+ssh libvirt returns its destination connection's end of file instead of
        // the refusal (always, on the lab): the check found the refusal in the source daemon's log.
        let refusal = evidence("prepare-fail", CheckName.faultActed)
        XCTAssertTrue(refusal.contains("unsupported scheme foo"), refusal)
        let fault = objects.first { $0["scenario"] as? String == "perform-fail" }?["fault"] as? [String: Any] ?? [:]
        XCTAssertEqual(fault["acted"] as? Bool, true, "\(fault)")
        XCTAssertEqual(fault["removed"] as? Bool, true, "\(fault)")
        XCTAssertTrue((fault["evidence"] as? String)?.contains("firewall on destination") ?? false, "\(fault)")
        let tables = try CommandRunner.capture(["ip", "netns", "exec", configuration.destination.namespace, "nft", "list", "tables"],
                                               step: "list nft tables")
        XCTAssertFalse(tables.output.contains("migverify_fault"), "the fault installed over ssh is gone")

        // Over ssh the destination's clock is taken as its own: the answer delay (one clock's
        // difference) is kept, its instants are not put on the run clock.
        let liveFigures = objects.first { $0["scenario"] as? String == "live" }?["figures"] as? [String: Any] ?? [:]
        XCTAssertNotNil(liveFigures["guestAnswerDelayMilliseconds"] as? Double, "\(liveFigures)")
        XCTAssertNil(liveFigures["destinationFirstProbeOffsetMilliseconds"] as? Double, "\(liveFigures)")
        XCTAssertNotNil(liveFigures["pingGapStartOffsetMilliseconds"] as? Double, "the run clock's figures are there")

        // Every run kept its capture, and pingmon analyze re-derives the run's ping figures from it.
        let pingmon = URL(fileURLWithPath: MigVerifyCLITests.binary).deletingLastPathComponent().appendingPathComponent("pingmon").path
        for object in objects {
            let figures = object["figures"] as? [String: Any] ?? [:]
            let path = try XCTUnwrap(figures["pingCapturePath"] as? String, "\(figures)")
            XCTAssertTrue(path.hasPrefix(captures + "/") && path.hasSuffix(".pcapng"), path)
            let analysis = try CommandRunner.capture([pingmon, "analyze", path, "--target", configuration.guestAddress, "--json"],
                                                     step: "pingmon analyze \(path)")
            let line = try XCTUnwrap(analysis.output.split(separator: "\n").last, analysis.transcript)
            let again = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            XCTAssertEqual(again["lost"] as? Int, object["pingLost"] as? Int, path)
            XCTAssertEqual(again["longestGapMilliseconds"] as? Double, object["pingDowntimeMilliseconds"] as? Double, path)
            XCTAssertEqual(again["downtimeMilliseconds"] as? Double, figures["pingDowntimeEstimateMilliseconds"] as? Double, path)
        }
    }

    /// The clean-up checks of a failed migration FAIL on what is left behind: a process
    /// posing as the guest's QEMU that listens on a migration port and a new interface on the
    /// destination, and the guest paused on the source. Everything else holds.
    func test6CleanUpChecksFailOnLeftoversAndAPausedSource() throws {
        let lab = Self.lab
        let configuration = lab.configuration
        let undo = Mutex<(@Sendable () -> Void)?>(nil)
        let result = try run(parameters(.prepareFail), at: [
            .lookingAtHosts: {
                let undoHost = Self.leaveBehind(in: configuration.destination.namespace, domainName: configuration.guestName,
                                                port: ScenarioRunner.migrationPorts.lowerBound, interface: "migvprobe0")
                let guest = try? lab.connect(to: configuration.source).lookupDomain(name: configuration.guestName)
                do { try guest?.suspend() } catch { XCTFail("could not pause the guest on the source: \(error)") }
                undo.withLock {
                    $0 = {
                        undoHost()
                        try? guest?.resume()
                    }
                }
            },
            .lookingAtGuest: { undo.withLock { $0 }?() },
        ])
        XCTAssertEqual(Set(result.failedChecks.map(\.name)), [CheckName.guestOnSource, CheckName.destinationHostClean, CheckName.migrationPortFree],
                       "\(result.failedChecks)")
        let destinationClean = try XCTUnwrap(check(result, CheckName.destinationHostClean))
        XCTAssertTrue(destinationClean.evidence.contains("qemu left") && destinationClean.evidence.contains("new interfaces left: migvprobe0"),
                      destinationClean.evidence)
        XCTAssertTrue(check(result, CheckName.migrationPortFree)?.evidence.contains("listening on \(ScenarioRunner.migrationPorts.lowerBound)") ?? false)
        XCTAssertTrue(check(result, CheckName.guestOnSource)?.evidence.contains("paused") ?? false,
                      check(result, CheckName.guestOnSource)?.evidence ?? "")
    }

    /// `migration-outcome` FAILs a live migration that did not complete: slowed to 8 MiB/s,
    /// it is aborted by the verifier's 2 s timeout, and the guest stays on the source.
    func test7MigrationOutcomeFailsALiveMigrationThatWasAborted() throws {
        var slow = parameters(.live)
        slow.migration.bandwidthMiBPerSecond = 8
        slow.timeoutSeconds = 2
        slow.stallTimeoutSeconds = 2
        let result = try run(slow)
        let outcome = try XCTUnwrap(check(result, CheckName.migrationOutcome))
        XCTAssertFalse(outcome.passed)
        XCTAssertTrue(outcome.evidence.contains("aborted by the verifier"), outcome.evidence)
        XCTAssertEqual(check(result, CheckName.guestOnDestination)?.passed, false)
        XCTAssertEqual(check(result, CheckName.landingIntact)?.passed, false)
        XCTAssertEqual(result.integrityErrors, 0, "the guest stayed on the source, intact")
        XCTAssertEqual(try Self.lab.guestLocation()?.host.name, Self.lab.configuration.source.name)
    }

    /// perform-fail against a destination that refuses the domain for another reason (a
    /// domain of the guest's name already runs there, so Prepare fails): the migration
    /// fails, but not because of the firewall, and `fault-acted` FAILs with both errors.
    func test8PerformFailThatFailsForAnotherReasonFailsFaultActed() throws {
        // The stand-in domain of dst-already-active, started once perform-fail's firewall
        // rule is in place, just before the migration call.
        let occupant = DestinationOccupantFault()
        let lab = Self.lab
        let context = Mutex<FaultContext?>(nil)
        let performFail = parameters(.performFail)
        let result = try run(performFail, at: [
            .migrating: {
                do {
                    let made = try FaultContext(lab: lab, parameters: performFail)
                    context.withLock { $0 = made }
                    try occupant.install(made)
                } catch {
                    XCTFail("could not start a domain on the destination: \(error)")
                }
            },
        ])
        context.withLock { $0 }.map(occupant.remove)
        let acted = try XCTUnwrap(check(result, CheckName.faultActed))
        XCTAssertFalse(acted.passed, acted.evidence)
        XCTAssertTrue(acted.evidence.contains("dropped 0 packets"), acted.evidence)
        XCTAssertTrue(acted.evidence.contains("expected the migration to stall"), "the error this fault causes is shown: \(acted.evidence)")
        XCTAssertTrue(acted.evidence.contains("already"), "and libvirt's error: \(acted.evidence)")
        XCTAssertEqual(check(result, CheckName.migrationOutcome)?.passed, true, "the migration did fail")
        XCTAssertEqual(check(result, CheckName.guestOnSource)?.passed, true)
        XCTAssertEqual(check(result, CheckName.faultRemoved)?.passed, true, "the firewall rule is gone")
        XCTAssertFalse(result.passed)
        let destination = try Self.lab.connect(to: Self.lab.configuration.destination)
        XCTAssertNil(try destination.domainIfPresent(name: Self.lab.configuration.guestName), "the probe's domain is gone")
    }

    /// SIGINT in the middle of perform-fail (the firewall rule is in place and the job is
    /// stalled): migverify aborts the job, removes the rule, records the run as interrupted
    /// and exits 130; nothing is left on the destination, and the next run passes.
    func test9SIGINTDuringPerformFailLeavesNothingBehindAndTheNextRunPasses() throws {
        let configuration = Self.lab.configuration
        let destination = configuration.destination.namespace
        let database = Self.harness.databaseDirectory.appendingPathComponent("interrupted-perform-fail.sqlite").path
        let journal = Self.harness.databaseDirectory.appendingPathComponent("interrupted-journal.json").path
        let arguments = labRunArguments(scenario: "perform-fail", database: database, journal: journal)
        let interrupted = try startMigverify(arguments)
        try waitUntil("the firewall rule is in \(destination)", process: interrupted.process) {
            let tables = try? CommandRunner.capture(["ip", "netns", "exec", destination, "nft", "list", "tables"], step: "list nft tables")
            return tables?.output.contains(PortDropFault.tableName) ?? false
        }
        // Into the stalled migration call, not the set-up around it.
        try waitUntil("the migration has started", process: interrupted.process) {
            interrupted.output().contains("perform-fail \(memoryMiB) MiB @ 30 MiB/s: migrating")
        }
        interrupted.process.signal(SIGINT)
        interrupted.process.waitUntilExit()
        print(interrupted.output())
        XCTAssertEqual(interrupted.process.terminationStatus, 130, "SIGINT exits 130")
        XCTAssertTrue(interrupted.output().contains("recorded as interrupted"), "it says so")
        assertNothingLeftOnTheDestination()
        XCTAssertEqual(try FaultJournal(path: journal).entries(), [], "the journal holds nothing")
        XCTAssertEqual(try ResultsStore(path: database).runs().map(\.status), [.interrupted])

        let next = try startMigverify(arguments)
        next.process.waitUntilExit()
        print(next.output())
        XCTAssertEqual(next.process.terminationStatus, 0, "the next run passes")
        XCTAssertFalse(next.output().contains("reusing run"), "the interrupted run was not reused")
        XCTAssertEqual(try ResultsStore(path: database).runs().map(\.status), [.interrupted, .completed])
    }

    /// SIGTERM while dst-already-active has its stand-in domain on the destination: the
    /// domain is destroyed, migverify exits 143, and the next run passes.
    func test10SIGTERMDuringDestinationAlreadyActiveRemovesTheStandInAndTheNextRunPasses() throws {
        let configuration = Self.lab.configuration
        let database = Self.harness.databaseDirectory.appendingPathComponent("interrupted-occupant.sqlite").path
        let journal = Self.harness.databaseDirectory.appendingPathComponent("interrupted-occupant-journal.json").path
        let arguments = labRunArguments(scenario: "dst-already-active", database: database, journal: journal)
        let interrupted = try startMigverify(arguments)
        // migverify brings the lab up itself when it is not (this test may run first).
        try waitUntil("a stand-in domain runs on the destination", process: interrupted.process) {
            guard let destination = try? Self.lab.connect(to: configuration.destination) else { return false }
            // The stand-in, not the guest (which a previous run may have left on dst).
            guard let domain = (try? destination.domainIfPresent(name: configuration.guestName)) ?? nil,
                  let info = try? domain.info() else { return false }
            return info.memoryKiB / 1024 == UInt64(DestinationOccupantFault.memoryMiB)
        }
        interrupted.process.signal(SIGTERM)
        interrupted.process.waitUntilExit()
        print(interrupted.output())
        XCTAssertEqual(interrupted.process.terminationStatus, 143, "SIGTERM exits 143")
        assertNothingLeftOnTheDestination()
        XCTAssertEqual(try FaultJournal(path: journal).entries(), [])
        XCTAssertEqual(try ResultsStore(path: database).runs().map(\.status), [.interrupted])

        let next = try startMigverify(arguments)
        next.process.waitUntilExit()
        print(next.output())
        XCTAssertEqual(next.process.terminationStatus, 0, "the next run passes")
    }

    /// A small real sweep (2 sizes × 3 rates × 2 repeats at 48 MiB/s, the highest rate above
    /// the bandwidth so that it cannot converge) is interrupted once with SIGINT and resumed: every slot ends with one
    /// completed run, none twice, none missing; non-convergence is a result; correlate runs
    /// and the report holds every plot with its data series.
    func test11SweepInterruptedAndResumedThenReported() throws {
        let configuration = Self.lab.configuration
        let database = Self.harness.databaseDirectory.appendingPathComponent("sweep.sqlite").path
        let journal = Self.harness.databaseDirectory.appendingPathComponent("sweep-journal.json").path
        let sizes = [memoryMiB, 400]
        let arguments = ["sweep", "--id", "lab-sweep", "--lab-name-prefix", configuration.namePrefix,
                         "--state-directory", configuration.stateDirectory, "--memory-mib", sizes.map(String.init).joined(separator: ","),
                         "--memeater-size-mib", "128", "--dirty-rate-mib-per-second", "3,10,60", "--repeat", "2",
                         "--bandwidth-mib-per-second", "48", "--timeout-seconds", "10", "--stall-timeout-seconds", "8", "--database", database, "--fault-journal", journal]
        let interrupted = try startMigverify(arguments)
        try waitUntil("three runs are done", process: interrupted.process) { interrupted.output().contains("3/12 done") }
        interrupted.process.signal(SIGINT)
        interrupted.process.waitUntilExit()
        print(interrupted.output())
        XCTAssertEqual(interrupted.process.terminationStatus, 130, "SIGINT exits 130")
        XCTAssertTrue(interrupted.output().contains("--id lab-sweep` with the same options resumes"), "it says how to resume")

        let resumed = try startMigverify(arguments)
        resumed.process.waitUntilExit()
        print(resumed.output())
        XCTAssertEqual(resumed.process.terminationStatus, 0, "the resumed sweep completes and passes")
        XCTAssertTrue(resumed.output().contains("resuming"), "it resumed the stored sweep")

        let store = try ResultsStore(path: database)
        let slots = try store.slots(sweepID: "lab-sweep")
        XCTAssertEqual(slots.count, 12)
        XCTAssertTrue(slots.allSatisfy(\.isDone), "every slot has a completed run")
        XCTAssertEqual(Set(slots.compactMap(\.run?.id)).count, 12, "no run stands for two slots")
        XCTAssertEqual(Set(slots.map(\.parameters.key)).count, 12, "no slot twice")
        let runs = try store.runs()
        XCTAssertEqual(runs.filter { $0.status == .interrupted }.count, 1, "the interrupted run is kept, as interrupted")
        XCTAssertEqual(runs.filter { $0.status == .completed }.count, 12, "each slot was completed exactly once")
        let results = slots.compactMap(\.run?.result)
        XCTAssertTrue(results.filter { $0.parameters.dirtyRateMiBPerSecond == 60 }.allSatisfy { $0.figures.convergence == .didNotConverge },
                      "dirtying faster than the bandwidth does not converge, and that is a result")
        XCTAssertTrue(results.filter { $0.parameters.dirtyRateMiBPerSecond == 3 }.allSatisfy { $0.figures.convergence == .converged })
        XCTAssertTrue(results.contains { $0.figures.direction == .reverse }, "the guest went back and forth between cells")
        XCTAssertTrue(results.allSatisfy { ($0.figures.overheadMilliseconds ?? -1) > 0 }, "every run's overhead was measured")

        let correlate = try startMigverify(["correlate", "lab-sweep", "--database", database])
        let correlateStatus = correlate.process.waitUntilExit()
        print(correlate.output())
        XCTAssertTrue([0, 1].contains(correlateStatus), "correlate answers (1: the model could not be fitted, with the reason)")
        XCTAssertFalse(correlate.output().lowercased().contains("nan"), "no NaN in the analysis")
        XCTAssertTrue(correlate.output().contains("convergence boundary"))

        let output = Self.harness.databaseDirectory.appendingPathComponent("sweep-report")
        let report = try startMigverify(["report", "lab-sweep", "--database", database, "--output", output.path])
        XCTAssertEqual(report.process.waitUntilExit(), 0, report.output())
        let html = try String(contentsOf: output.appendingPathComponent("report.html"), encoding: .utf8)
        for size in sizes {
            XCTAssertTrue(html.contains("<title>\(size) MiB measured</title>"), "the migration-time plot holds the \(size) MiB series")
        }
        for plot in ["migration-time-gnuplot_plot_1", "downtime-gnuplot_plot_1", "timeline-[0-9]+-[0-9]+-gnuplot_plot_1"] {
            XCTAssertNotNil(html.range(of: plot, options: .regularExpression), "\(plot): the plot is drawn with its data series")
        }
        XCTAssertFalse(html.contains("<script src"), "self-contained")
        let csv = try String(contentsOf: output.appendingPathComponent("runs.csv"), encoding: .utf8)
        XCTAssertEqual(csv.split(whereSeparator: \.isNewline).count, 13, "one CSV row per run and a header")
    }

    /// Real-host mode over IPv6, as test5 over IPv4: the hosts' `qemu+ssh://[2001:2::N]`
    /// URIs and the guest's IPv6 address; pings are ICMPv6, memeater's control connection and
    /// the host checks and firewall fault go over IPv6.
    func test12RealHostModeOverIPv6() throws {
        let configuration = Self.lab.configuration
        let objects = try runAsRealHosts(sourceURI: configuration.sshIPv6URI(configuration.source),
                                         destinationURI: configuration.sshIPv6URI(configuration.destination),
                                         guestAddress: configuration.guestIPv6Address, scenarios: "perform-fail,live",
                                         resultsName: "real-hosts-ipv6")
        XCTAssertEqual(objects.map { $0["scenario"] as? String }, ["perform-fail", "live"])
        for object in objects {
            XCTAssertEqual(object["passed"] as? Bool, true)
            XCTAssertEqual(object["integrityErrors"] as? Int, 0)
            let checks = object["checks"] as? [[String: Any]] ?? []
            let ping = checks.first { $0["name"] as? String == CheckName.pingContinuity }?["evidence"] as? String ?? ""
            XCTAssertTrue(ping.contains("probes"), ping)
            let control = checks.first { $0["name"] as? String == CheckName.controlConnection }?["evidence"] as? String ?? ""
            XCTAssertTrue(control.contains("[\(configuration.guestIPv6Address)]:\(configuration.memeaterPort)"), control)
        }
        let live = objects.first { $0["scenario"] as? String == "live" }
        XCTAssertEqual((live?["pingLost"] as? Int).map { $0 >= 0 }, true, "pinged over ICMPv6")
        let fault = objects.first { $0["scenario"] as? String == "perform-fail" }?["fault"] as? [String: Any] ?? [:]
        XCTAssertEqual(fault["acted"] as? Bool, true, "\(fault)")
        XCTAssertTrue((fault["evidence"] as? String)?.contains("firewall on destination (ssh root@[\(configuration.destination.ipv6Address)])") ?? false,
                      "the fault went over ssh to the IPv6 address: \(fault)")
    }

    /// Runs `migverify run` as a user would on real hosts: from the client's namespace with
    /// the hosts' URIs, the domain, `guestAddress` and the token file memeater in the guest was
    /// started with (0600), the guest first put back on the source, fresh. Asserts that it
    /// exited 0 and returns the runs of its JSON file (`<resultsName>.json` beside the database).
    func runAsRealHosts(sourceURI: String, destinationURI: String, guestAddress: String, scenarios: String,
                        resultsName: String, extraArguments: [String] = [],
                        file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        let configuration = Self.lab.configuration
        _ = try LabTarget(lab: Self.lab, memeaterPath: MemeaterBinary.find()).prepareGuest(parameters(.live), placement: .sourceOnly) { print("[lab] \($0)") }
        let json = Self.harness.databaseDirectory.appendingPathComponent("\(resultsName).json").path
        let command = ["ip", "netns", "exec", configuration.clientNamespace, MigVerifyCLITests.binary, "run",
                       "--source-uri", sourceURI, "--dest-uri", destinationURI,
                       "--domain", configuration.guestName, "--guest-address", guestAddress,
                       "--memeater-token-file", configuration.memeaterTokenPath,
                       "--scenario", scenarios, "--dirty-rate-mib-per-second", "30",
                       "--stall-timeout-seconds", "20", "--timeout-seconds", "90",
                       "--database", Self.harness.databaseDirectory.appendingPathComponent("\(resultsName).sqlite").path,
                       "--json", json] + extraArguments
        let outcome = try CommandRunner.capture(command, step: "migverify run on the lab as real hosts (\(guestAddress))", timeoutSeconds: 600)
        print(outcome.transcript)
        XCTAssertEqual(outcome.exitStatus, 0, "every check passed", file: file, line: line)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [[String: Any]],
                             file: file, line: line)
    }

    /// The issue's done-when command on the lab: three guests (`lab-guest-1…3`, booted for it)
    /// migrate live at once, then `dst-qemu-killed` on guest 2 while 1 and 3 migrate live
    /// beside it. Every guest's run is stored under its evacuation with all its checks passed:
    /// the live guests landed intact, guest 2 stays on the source intact with nothing of it on
    /// the destination (its own fault killed its incoming QEMU). Their calls overlapped.
    /// Afterwards the one-guest lab is back (the next test boots `lab-guest`).
    func test13HostEvacuationOfThreeGuestsAndTheFailureOfOne() throws {
        let database = Self.harness.databaseDirectory.appendingPathComponent("evacuation.sqlite").path
        let journal = Self.harness.databaseDirectory.appendingPathComponent("evacuation-journal.json").path
        // Three TCG guests migrating at once on two cores: one may be silent past the 2 s default
        // (CI once saw 2257 ms, 1136 probes held and answered late). This test is about the
        // evacuation — landings, the one failure, the clean-up — so the gap limit is widened; the
        // one-guest tests judge the default.
        let arguments = labRunArguments(scenario: "live,dst-qemu-killed", database: database, journal: journal)
            .replacingRate(with: "10") + ["--guest-count", "3", "--fault-guest", "2", "--max-ping-gap-ms", "10000"]
        let run = try startMigverify(arguments)
        let status = run.process.waitUntilExit()
        print(run.output())
        XCTAssertEqual(status, 0, "every guest's every check passed")
        XCTAssertTrue(run.output().contains("at most 3 migrating at once") || run.output().contains("at most 2 migrating at once"),
                      "the evacuation's figures say how many overlapped")

        let store = try ResultsStore(path: database)
        let evacuations = Set(try store.runs().compactMap(\.evacuationID))
        XCTAssertEqual(evacuations.count, 2, "one evacuation per scenario")
        for evacuation in evacuations {
            let runs = try store.runs(evacuationID: evacuation)
            for run in runs {
                let name = try XCTUnwrap(run.result?.parameters.endpoints.domainName)
                let events = try store.events(runID: run.id)
                XCTAssertFalse(events.isEmpty, "\(name)'s daemons' events were recorded")
                XCTAssertTrue(events.allSatisfy { $0.description.hasPrefix(name + " ") }, "only \(name)'s own events: \(events.map(\.description))")
            }
            let results = runs.compactMap(\.result)
            XCTAssertEqual(results.map { $0.evacuation?.guestIndex }, [1, 2, 3])
            XCTAssertEqual(results.map(\.parameters.endpoints.domainName), ["lab-guest-1", "lab-guest-2", "lab-guest-3"])
            XCTAssertEqual(Set(results.map(\.parameters.endpoints.guestAddress)).count, 3, "each guest its own address")
            for result in results { assertAllPassed(result) }
            let figures = EvacuationFigures(results.map(EvacuationGuestTiming.init))
            XCTAssertGreaterThanOrEqual(figures.peakConcurrentMigrations, 2, "the guests' migration calls overlapped")
            let scenarios = results.map(\.parameters.scenario)
            if scenarios.contains(.dstQEMUKilled) {
                XCTAssertEqual(scenarios, [.live, .dstQEMUKilled, .live], "the fault acts on guest 2 alone")
                XCTAssertEqual(figures.landedCount, 2)
                let failed = results[1]
                XCTAssertEqual(check(failed, CheckName.guestOnSource)?.passed, true, "guest 2 stays on the source")
                XCTAssertEqual(check(failed, CheckName.destinationHostClean)?.passed, true, "nothing of guest 2 on the destination")
                XCTAssertEqual(check(failed, CheckName.faultActed)?.passed, true,
                               "its own fault caused its failure: \(check(failed, CheckName.faultActed)?.evidence ?? "-")")
            } else {
                XCTAssertEqual(figures.landedCount, 3, "every guest landed")
            }
        }
        let record = try XCTUnwrap(Self.lab.currentRecord())
        XCTAssertEqual(record.guests.map(\.name), ["lab-guest-1", "lab-guest-2", "lab-guest-3"], "lab.json records the three guests")
    }

    func labRunArguments(scenario: String, database: String, journal: String) -> [String] {
        let configuration = Self.lab.configuration
        return ["run", "--lab-name-prefix", configuration.namePrefix, "--state-directory", configuration.stateDirectory,
                "--scenario", scenario, "--memory-mib", String(memoryMiB), "--guest", "initramfs", "--memeater-size-mib", "128",
                "--dirty-rate-mib-per-second", "30", "--stall-timeout-seconds", "20", "--timeout-seconds", "90",
                "--database", database, "--fault-journal", journal]
    }

    /// No domain of the guest's name, no QEMU of it and no fault table on the destination.
    func assertNothingLeftOnTheDestination(file: StaticString = #filePath, line: UInt = #line) {
        let configuration = Self.lab.configuration
        let host = HostInspector(hostName: "dst", access: .namespace(configuration.destination.namespace))
        XCTAssertEqual(try host.qemuProcesses(domainName: configuration.guestName), [], "no qemu of the guest on dst", file: file, line: line)
        let tables = try? host.run("nft list tables", step: "list nft tables")
        XCTAssertFalse(tables?.contains(PortDropFault.tableName) ?? true, "no fault table on dst", file: file, line: line)
        let destination = try? Self.lab.connect(to: configuration.destination)
        XCTAssertNil((try? destination?.domainIfPresent(name: configuration.guestName)) ?? nil, "no domain of the guest on dst",
                     file: file, line: line)
    }

    /// `migverify` started with `arguments`, its output going to a file. Spawned and reaped
    /// with posix_spawn/waitpid: Foundation's Process was seen to leave the child a zombie and
    /// never return from waitUntilExit() in this long-lived test process.
    func startMigverify(_ arguments: [String]) throws -> (process: SpawnedProcess, output: () -> String) {
        let log = Self.harness.databaseDirectory.appendingPathComponent("migverify-\(UUID().uuidString).log")
        let process = try SpawnedProcess(MigVerifyCLITests.binary, arguments, outputPath: log.path)
        return (process, { (try? String(contentsOf: log, encoding: .utf8)) ?? "" })
    }

    /// Polls `condition` every 0.2 s for up to 10 minutes; fails when `process` ended first.
    func waitUntil(_ what: String, process: SpawnedProcess, _ condition: () -> Bool) throws {
        for _ in 0..<3000 {
            if condition() { return }
            guard process.isRunning else { throw WaitFailed(text: "migverify ended (exit \(process.terminationStatus)) before \(what)") }
            usleep(200_000)
        }
        throw WaitFailed(text: "timed out waiting until \(what)")
    }

    struct WaitFailed: Error, CustomStringConvertible {
        let text: String
        var description: String { text }
    }

    /// Starts, in a lab host's namespace, a process posing as QEMU of `domainName` (a copy of
    /// the static memeater named `qemu-system-x86_64`, `-name guest=NAME,...` as its argv[0])
    /// that listens on TCP `port`, and adds a tap; returns what removes both.
    static func leaveBehind(in namespace: String, domainName: String, port: Int, interface: String) -> @Sendable () -> Void {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mlabv-posing-\(getpid())-\(namespace)")
        let fake = directory.appendingPathComponent("qemu-system-x86_64").path
        let process = Process()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(atPath: fake)
            try FileManager.default.copyItem(atPath: try XCTUnwrap(MemeaterBinary.find()), toPath: fake)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["ip", "netns", "exec", namespace, "bash", "-c",
                                 // A stand-in listener only: no token, on every address of the host's namespace, as QEMU's incoming side.
                                 "exec -a 'qemu-system-x86_64 -name guest=\(domainName),debug-threads=on' \(fake) serve --size-mib 1 --port \(port) --no-auth --bind 0.0.0.0"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            try CommandRunner.run(["ip", "netns", "exec", namespace, "ip", "tuntap", "add", "dev", interface, "mode", "tap"], step: "add \(interface)")
            // Wait for the listener, so that the check cannot race its start.
            var listening = false
            for _ in 0..<100 where !listening {
                listening = try CommandRunner.capture(["ip", "netns", "exec", namespace, "ss", "-Htln"], step: "ss").output.contains(":\(port) ")
                if !listening { usleep(50_000) }
            }
            if !listening { XCTFail("the process posing as QEMU never listened on \(port) in \(namespace)") }
        } catch {
            XCTFail("could not leave things behind in \(namespace): \(error)")
        }
        return {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            _ = try? CommandRunner.capture(["ip", "netns", "exec", namespace, "ip", "tuntap", "del", "dev", interface, "mode", "tap"], step: "delete \(interface)")
            try? FileManager.default.removeItem(at: directory)
        }
    }
}

private extension [String] {
    /// These arguments with `--dirty-rate-mib-per-second`'s value replaced.
    func replacingRate(with rate: String) -> [String] {
        guard let index = firstIndex(of: "--dirty-rate-mib-per-second"), index + 1 < count else { return self }
        var arguments = self
        arguments[index + 1] = rate
        return arguments
    }
}

/// A child process started with posix_spawn, its stdout and stderr going to one file.
final class SpawnedProcess {
    let pid: pid_t
    private var status: Int32?

    init(_ executable: String, _ arguments: [String], outputPath: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child = pid_t()
        let result = posix_spawn(&child, executable, &actions, nil, argv, environ)
        guard result == 0 else { throw SpawnError(text: "posix_spawn \(executable): \(String(cString: strerror(result)))") }
        pid = child
    }

    struct SpawnError: Error, CustomStringConvertible {
        let text: String
        var description: String { text }
    }

    /// Whether it still runs (reaps it once it ended).
    var isRunning: Bool {
        if status != nil { return false }
        var raw: Int32 = 0
        if waitpid(pid, &raw, WNOHANG) == pid { status = raw; return false }
        return true
    }

    func signal(_ number: Int32) { kill(pid, number) }

    /// Waits for it to end; returns its exit status (128 + N when signal N killed it).
    @discardableResult
    func waitUntilExit() -> Int32 {
        if status == nil {
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) == -1, errno == EINTR {}
            status = raw
        }
        return terminationStatus
    }

    var terminationStatus: Int32 {
        guard let raw = status else { return -1 }
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }
}
