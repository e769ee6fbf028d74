import Foundation
import Lab
import MigrationModel
import Synchronization
import XCTest
@testable import Verifier

/// The mid-stream and destination faults for real, plus the QEMU 7.2 reproducer, on a lab of
/// their own (prefix `mlabw`, state `/run/migration-lab-verifier-faults`): it comes up once
/// for the class and is torn down in the class tearDown whatever happened. Tests run in name
/// order; the QEMU 7.2 run is last because it replaces the guest.
final class LabFaultScenarioTests: XCTestCase {
    static let harness = LabScenarioHarness(namePrefix: "mlabw", stateDirectory: "/run/migration-lab-verifier-faults")
    static var lab: Lab { harness.lab }

    /// Guest RAM: small for TCG on 2 cores; any MiB size is a multiple of 256 KiB, so the
    /// QEMU 7.2 bug applies to it.
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

    func parameters(_ scenario: ScenarioKind, rate: Double = 30, emulator: String = "default") -> ScenarioParameters {
        Self.harness.parameters(scenario, memoryMiB: memoryMiB, rate: rate, emulator: emulator)
    }

    func run(_ parameters: ScenarioParameters, at actions: [RunPhase: @Sendable () -> Void] = [:]) throws -> ScenarioResult {
        try Self.harness.run(parameters, at: actions)
    }

    func check(_ result: ScenarioResult, _ name: String) -> Check? { result.checks.first { $0.name == name } }

    func assertFailureScenarioPassed(_ result: ScenarioResult, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(result.passed, "failed checks: \(result.failedChecks)", file: file, line: line)
        for name in [CheckName.migrationOutcome, CheckName.guestOnSource, CheckName.destinationHostClean, CheckName.migrationPortFree,
                     CheckName.pingContinuity, CheckName.memoryIntegrity, CheckName.noReboot, CheckName.guestConsole] {
            XCTAssertNotNil(check(result, name), "missing check \(name)", file: file, line: line)
        }
        XCTAssertNotNil(result.libvirtError, "libvirt's message is shown", file: file, line: line)
        XCTAssertEqual(check(result, CheckName.faultActed)?.passed, true, "the fault caused the failure: \(result.fault.map { "\($0)" } ?? "no evidence")",
                       file: file, line: line)
        XCTAssertEqual(result.integrityErrors, 0, file: file, line: line)
    }

    func test1AbortMidStreamLeavesTheGuestOnTheSource() throws {
        let result = try run(parameters(.abort))
        assertFailureScenarioPassed(result)
        let evidence = result.fault?.evidence ?? "no fault evidence"
        XCTAssertTrue(evidence.hasPrefix("virDomainAbortJob at") && evidence.contains("while the migration call was running"), evidence)
        let acted = try XCTUnwrap(result.fault?.actedAtMilliseconds)
        XCTAssertEqual(result.figures.faultOffsetMilliseconds ?? -1, acted, accuracy: 50, "the driver's moment and the fault's agree on the run clock")
    }

    func test2DestinationAlreadyActiveFailsAndLeavesThatDomainUntouched() throws {
        let result = try run(parameters(.dstAlreadyActive))
        assertFailureScenarioPassed(result)
        XCTAssertEqual(check(result, CheckName.destinationDomainUntouched)?.passed, true)
        XCTAssertEqual(check(result, CheckName.faultRemoved)?.passed, true, "the pre-existing domain was removed")
        let destination = try Self.lab.connect(to: Self.lab.configuration.destination)
        XCTAssertNil(try destination.domainIfPresent(name: Self.lab.configuration.guestName))
    }

    func test3TheUntouchedCheckFailsWhenTheDestinationDomainWasDisturbed() throws {
        // The stand-in domain is paused while the hosts are looked at.
        let lab = Self.lab
        let result = try run(parameters(.dstAlreadyActive), at: [
            .lookingAtHosts: {
                do {
                    try lab.connect(to: lab.configuration.destination).lookupDomain(name: lab.configuration.guestName).suspend()
                } catch {
                    XCTFail("could not pause the destination's domain: \(error)")
                }
            },
        ])
        XCTAssertFalse(result.passed)
        let untouched = try XCTUnwrap(check(result, CheckName.destinationDomainUntouched))
        XCTAssertFalse(untouched.passed)
        XCTAssertTrue(untouched.evidence.contains("paused"), untouched.evidence)
        XCTAssertEqual(Set(result.failedChecks.map(\.name)), [CheckName.destinationDomainUntouched])
        let destination = try Self.lab.connect(to: Self.lab.configuration.destination)
        XCTAssertNil(try destination.domainIfPresent(name: Self.lab.configuration.guestName), "removed even after a failed check")
    }

    func test4KilledDestinationQEMUFailsTheMigrationAndCleansUp() throws {
        let result = try run(parameters(.dstQEMUKilled))
        assertFailureScenarioPassed(result)
        XCTAssertEqual(result.fault?.acted, true, "an incoming qemu was killed and is gone: \(result.fault?.evidence ?? "-")")
        XCTAssertNotNil(result.figures.faultOffsetMilliseconds, "while the job transferred")
        XCTAssertTrue(result.fault?.evidence.contains("killed") ?? false, result.fault?.evidence ?? "no fault evidence")
    }

    func test5LinkCutPeerToPeerFailsAfterKeepaliveAndTheLinkIsRestored() throws {
        let result = try run(parameters(.linkCut))
        assertFailureScenarioPassed(result)
        XCTAssertEqual(check(result, CheckName.faultRemoved)?.passed, true)
        XCTAssertTrue(result.fault?.evidence.hasPrefix("link-cut (p2p): mgmt-dst down") ?? false, result.fault?.evidence ?? "no fault evidence")
        // Only the management network was cut: the guest on the source answered throughout.
        let ping = try XCTUnwrap(check(result, CheckName.pingContinuity))
        XCTAssertTrue(ping.passed && ping.evidence.contains("the guest network stayed up"), ping.evidence)
        let configuration = Self.lab.configuration
        XCTAssertTrue(LinkCutFault(namespace: configuration.switchNamespace, interface: configuration.destination.managementSwitchPortName).isUp())
    }

    /// The guest network goes down for 2 s while the job transfers: the migration, on the
    /// management network, goes on and lands; the pings lost are the cut's.
    func test5aGuestNetworkCutDuringTheMigrationDoesNotStopIt() throws {
        let result = try run(parameters(.guestLinkCut))
        XCTAssertTrue(result.passed, "failed checks: \(result.failedChecks)")
        let acted = try XCTUnwrap(check(result, CheckName.faultActed))
        XCTAssertTrue(acted.passed && acted.evidence.hasPrefix("guest-link-cut: br0 down at"), acted.evidence)
        let ping = try XCTUnwrap(check(result, CheckName.pingContinuity))
        XCTAssertTrue(ping.passed && ping.evidence.contains("the guest network was cut at") && ping.evidence.contains("the gap over it"), ping.evidence)
        XCTAssertEqual(check(result, CheckName.guestOnDestination)?.passed, true)
        XCTAssertEqual(check(result, CheckName.faultRemoved)?.passed, true)
        XCTAssertEqual(result.integrityErrors, 0)
        let configuration = Self.lab.configuration
        XCTAssertTrue(LinkCutFault(namespace: configuration.switchNamespace, interface: configuration.switchBridgeName).isUp())
    }

    /// Direct (client-managed) link-cut, opt-in (`MIGVERIFY_SLOW_LAB_TESTS=1`; about 2
    /// minutes): libvirt hangs until the link returns, so the verifier aborts at the stall
    /// timeout (60 s) and restores the link 5 s later. It measures and reports the timings;
    /// it asserts that the link came back and the guest runs on exactly one host.
    func test5bLinkCutDirectHangsUntilTheLinkReturnsAndIsReportedWithTimings() throws {
        guard ProcessInfo.processInfo.environment["MIGVERIFY_SLOW_LAB_TESTS"] == "1" else {
            throw XCTSkip("opt-in: MIGVERIFY_SLOW_LAB_TESTS=1")
        }
        var direct = parameters(.linkCut)
        direct.migration.mode = .clientManaged
        let result = try run(direct)
        XCTAssertEqual(check(result, CheckName.faultRemoved)?.passed, true)
        let configuration = Self.lab.configuration
        XCTAssertTrue(LinkCutFault(namespace: configuration.switchNamespace, interface: configuration.destination.managementSwitchPortName).isUp())
        let source = try Self.lab.connect(to: configuration.source)
        let destination = try Self.lab.connect(to: configuration.destination)
        let running = try [source, destination].filter { try $0.domainIfPresent(name: configuration.guestName)?.isActive() ?? false }
        XCTAssertEqual(running.count, 1, "the guest runs on exactly one host")
        print("link-cut direct: \(result.fault?.evidence ?? "-") | " + result.notes.filter { $0.hasPrefix("abort") || $0.hasPrefix("migration:") }
            .joined(separator: " | "))
    }

    func test5cLiveRoundTripChecksBothLandings() throws {
        var roundTrip = parameters(.live)
        roundTrip.roundTrip = true
        let result = try run(roundTrip)
        XCTAssertTrue(result.passed, "failed checks: \(result.failedChecks)")
        for name in [CheckName.migrationOutcome, CheckName.guestOnDestination, CheckName.sourceReleased, CheckName.sourceHostClean,
                     CheckName.memoryIntegrity, CheckName.noReboot, CheckName.landingIntact] {
            XCTAssertNotNil(check(result, name), "missing \(name)")
            XCTAssertNotNil(check(result, "back-" + name), "missing back-\(name)")
        }
        XCTAssertTrue(check(result, "back-" + CheckName.guestOnDestination)?.evidence.contains("198.18.0.1") ?? false,
                      "the second landing is on the source host")
        XCTAssertTrue(result.notes.contains { $0.hasPrefix("back: migration ") }, "\(result.notes)")
    }

    /// The issue's odd larger size (2111 MiB) under the same load; memeater's region stays
    /// 128 MiB so the run stays short.
    func test5dLiveAtALargerOddSizeLandsIntact() throws {
        var large = parameters(.live)
        large.memoryMiB = 2111
        let result = try run(large)
        XCTAssertTrue(result.passed, "failed checks: \(result.failedChecks)")
        XCTAssertEqual(result.memoryMiB, 2111)
        XCTAssertEqual(result.integrityErrors, 0)
        XCTAssertEqual(check(result, CheckName.landingIntact)?.passed, true)
    }

    /// The real bug: bookworm's QEMU 7.2 under TCG loses dirty pages during migration when
    /// RAM is a multiple of 256 KiB. With memeater dirtying as fast as it can, the migration
    /// "completes" although it should not converge; the verifier must FAIL the landing and
    /// say why (stale pages, or a dead/unreachable guest with its console's panic lines).
    ///
    /// The loss is intermittent (bench/qemu72: 2 of 20 runs at 50 MiB/s landed clean; CI once
    /// saw a clean unlimited run too), so up to three migrations are made: one must be caught,
    /// and one that passes must have passed honestly (every page verified, the guest alive).
    func test6QEMU72LosesDirtyPagesAndTheVerifierCatchesIt() throws {
        var attempts: [ScenarioResult] = []
        while attempts.count < 3 {
            let attempt = try run(parameters(.live, rate: 0, emulator: "qemu-7.2"))
            XCTAssertTrue(attempt.qemuVersion.hasPrefix("7.2"), attempt.qemuVersion)
            attempts.append(attempt)
            if !attempt.passed { break }
            XCTAssertEqual(attempt.integrityErrors, 0, "a 7.2 landing that passed was verified: \(attempt.checks)")
            XCTAssertEqual(check(attempt, CheckName.landingIntact)?.passed, true)
            print("QEMU 7.2 attempt \(attempts.count) landed clean: \(check(attempt, CheckName.landingIntact)?.evidence ?? "")")
        }
        let result = try XCTUnwrap(attempts.last)
        XCTAssertFalse(result.passed, "QEMU 7.2 must not pass \(attempts.count) times in a row: \(result.checks)")
        // Unlimited: memeater's whole region every second (128 MiB/s at most), read over 1.2 s spans.
        XCTAssertGreaterThan(result.achievedDirtyRateMiBPerSecond ?? 0, 0, "the unlimited rate was measured")
        XCTAssertFalse(result.notes.contains { $0.contains("did not settle") }, "\(result.notes)")
        XCTAssertEqual(check(result, CheckName.migrationOutcome)?.passed, true,
                       "the 7.2 migration 'completes' (it should not converge): \(check(result, CheckName.migrationOutcome)?.evidence ?? "")")
        let landing = try XCTUnwrap(check(result, CheckName.landingIntact))
        XCTAssertFalse(landing.passed)
        let stale = (result.integrityErrors ?? 0) > 0
        let dead = landing.evidence.contains("guest dead/unreachable")
        let panicLines = check(result, CheckName.guestConsole)?.passed == false
        XCTAssertTrue(stale || dead || panicLines, "caught for one of the three reasons: \(landing.evidence)")
        if stale { XCTAssertEqual(check(result, CheckName.memoryIntegrity)?.passed, false) }
        print("QEMU 7.2 verdict: integrityErrors \(result.integrityErrors.map(String.init) ?? "null"); landing: \(landing.evidence)")
    }

    /// The destination's libvirt daemon is SIGKILLed while the job transfers and started again
    /// when the call returns: the migration fails, the guest stays on the source, the restarted
    /// daemon stops the incoming QEMU (libvirt's `qemuProcessRecoverMigrationIn`: an incoming
    /// migration still in Prepare) and removes its domain, and the daemon runs again as a new process.
    func test7KilledDestinationDaemonFailsTheMigrationAndIsRestarted() throws {
        let lab = Self.lab
        let destination = lab.configuration.destination
        let before = Mutex<Int32?>(nil)
        let result = try run(parameters(.dstDaemonKilled), at: [.migrating: { before.withLock { $0 = $0 ?? lab.daemonProcessID(of: destination) } }])
        let killed = try XCTUnwrap(before.withLock { $0 }, "the destination's daemon ran when the migration started")
        let fault = try XCTUnwrap(result.fault)
        print("dst-daemon-killed: \(fault.evidence) | \(fault.errorEvidence) | \(fault.removalEvidence ?? "-") | "
              + "\(check(result, CheckName.destinationHostClean)?.evidence ?? "-")")
        assertFailureScenarioPassed(result)
        XCTAssertTrue(fault.acted && fault.evidence.contains("pid \(killed) SIGKILLed at") && fault.evidence.contains(", gone;"), fault.evidence)
        XCTAssertNotNil(result.figures.faultOffsetMilliseconds, "while the job transferred")
        XCTAssertNotNil(fault.actedAtMilliseconds)
        XCTAssertEqual(check(result, CheckName.faultRemoved)?.passed, true, fault.removalEvidence ?? "no removal evidence")
        let running = try XCTUnwrap(lab.daemonProcessID(of: destination), "libvirtd runs again on \(destination.name)")
        XCTAssertNotEqual(running, killed, "a new process")
        XCTAssertTrue(fault.removalEvidence?.contains("runs again as pid \(running) and answers") ?? false, fault.removalEvidence ?? "-")
        // The restarted daemon held nothing of the incoming migration: it stopped the incoming
        // QEMU itself, which had outlived the killed daemon; and a plain migration right after passed.
        XCTAssertEqual(check(result, CheckName.migrationSettingsRestored)?.passed, true,
                       check(result, CheckName.migrationSettingsRestored)?.evidence ?? "not checked")
        assertMigratedAgain(result)
        let qemuLog = try String(contentsOfFile: lab.configuration.hostDirectory(destination) + "/log/qemu/\(lab.configuration.guestName).log",
                                 encoding: .utf8)
        XCTAssertTrue(qemuLog.contains("shutting down, reason=daemon") && qemuLog.contains("from pid \(running) (libvirtd)"),
                      String(qemuLog.suffix(600)))

        // What an interrupted run leaves journaled: its removal step starts the killed daemon
        // again, as lab up would have, and leaves a running one alone.
        let record = InstalledFault.daemonKilled(role: .destination, labNamePrefix: lab.configuration.namePrefix,
                                                 stateDirectory: lab.configuration.stateDirectory)
        let step = record.removal(in: LeftoverRemovalContext(connect: { _ in throw LabError(step: "connect", reason: "not needed") }, lab: lab))
        XCTAssertEqual(step, .localCommand(lab.daemonStartCommand(of: destination)))
        XCTAssertEqual(Glibc.kill(running, SIGKILL), 0)
        let deadline = Date().addingTimeInterval(5)
        while ProcessTable.isAlive(running), Date() < deadline { usleep(10_000) }
        XCTAssertNil(lab.daemonProcessID(of: destination), "killed")
        let removal = FaultJournal.remove(step) { _ in throw LabError(step: "connect", reason: "not needed") }
        let daemonsInNamespace = ProcessTable.processes(inNamespace: destination.namespace).filter { ProcessTable.name(of: $0) == "libvirtd" }
        XCTAssertTrue(removal.removed, removal.line + " | libvirtd processes in \(destination.namespace): \(daemonsInNamespace) | daemon-start.log: "
                      + String(((try? String(contentsOfFile: lab.configuration.hostDirectory(destination) + "/daemon-start.log",
                                             encoding: .utf8)) ?? "unreadable").suffix(1200))
                      + " | libvirtd.log errors: " + (((try? String(contentsOfFile: lab.configuration.daemonLogPath(destination), encoding: .utf8)) ?? "unreadable")
                          .split(whereSeparator: \.isNewline).filter { $0.contains(" error : ") && !$0.contains("dmidecode") }.suffix(4).joined(separator: " / ")))
        let started = try XCTUnwrap(lab.daemonProcessID(of: destination), "the removal step started libvirtd on \(destination.name)")
        XCTAssertNotEqual(started, running)
        XCTAssertTrue(FaultJournal.remove(step) { _ in throw LabError(step: "connect", reason: "not needed") }.removed)
        XCTAssertEqual(lab.daemonProcessID(of: destination), started, "a running daemon is left alone")
        // The command does not wait for the daemon to answer: the test does, then lab up's own
        // check finds it as the lab's (its configuration, answering) and leaves it running.
        var answered: Error? = LabError(step: "connect", reason: "not tried")
        let answerDeadline = Date().addingTimeInterval(60)
        while answered != nil, Date() < answerDeadline {
            do { _ = try lab.connect(to: destination); answered = nil } catch { answered = error; usleep(250_000) }
        }
        XCTAssertNil(answered, "the started daemon answers")
        XCTAssertEqual(try lab.ensureDaemon(of: destination), [])
        XCTAssertEqual(lab.daemonProcessID(of: destination), started)
    }

    /// Every way users migrate lands with every check passing (issue 22): TLS with the lab's
    /// certificates, tunnelled through the daemons, multifd with and without compression,
    /// xbzrle, auto-converge, a max-downtime and the seed's client-managed path.
    func test14EveryMigrationStrategyLandsWithEveryCheck() throws {
        for text in ["tls", "tunnelled", "parallel=4", "parallel=4+compression=zstd", "compression=xbzrle", "auto-converge",
                     "max-downtime=100", "client-managed"] {
            var p = parameters(.live)
            try MigrationStrategy(parsing: text).apply(to: &p.migration)
            let result = try run(p)
            print("strategy \(text): passed \(result.passed), migration \(result.migrationMilliseconds.map { formatNumber($0) } ?? "-") ms, "
                  + "ping downtime \(result.pingDowntimeMilliseconds.map { formatNumber($0) } ?? "-") ms")
            XCTAssertTrue(result.passed, "\(text): failed checks: \(result.failedChecks)")
            XCTAssertEqual(result.parameters.migration.strategyLabel, text)
            XCTAssertEqual(result.integrityErrors, 0, text)
            // What the wire showed: a TLS handshake and no QEMU framing for tls, QEMU's framing in
            // clear for the others, nothing on the migration ports when tunnelled.
            let streamNote = result.notes.first { $0.hasPrefix("stream in clear") || $0.hasPrefix("migration stream") } ?? "no stream note"
            switch text {
            case "tls":
                let encrypted = check(result, CheckName.streamEncrypted)
                XCTAssertEqual(encrypted?.passed, true, encrypted?.evidence ?? "no stream-encrypted check")
                XCTAssertTrue(encrypted?.evidence.contains("TLS") ?? false, encrypted?.evidence ?? "-")
            case "tunnelled":
                XCTAssertNil(check(result, CheckName.streamEncrypted))
                XCTAssertFalse(streamNote.hasPrefix("stream in clear"), streamNote)
            default:
                XCTAssertNil(check(result, CheckName.streamEncrypted), "judged for TLS runs only")
                XCTAssertTrue(streamNote.hasPrefix("stream in clear: QEVM on "), "\(text): \(streamNote)")
                if text.hasPrefix("parallel") { XCTAssertTrue(streamNote.contains("multifd magic"), streamNote) }
            }
        }
    }

    /// A TLS migration to a destination without its server certificate fails in Prepare; one
    /// to a destination presenting an untrusted CA's certificate fails in the handshake. Each
    /// shows its own error, leaves the guest on the source and puts the certificates back.
    func test15TLSFaultsShowTheirErrorAndPutTheCertificatesBack() throws {
        let directory = Self.lab.configuration.migrationTLSDirectory(Self.lab.configuration.destination)
        let original = try String(contentsOfFile: directory + "/server-cert.pem", encoding: .utf8)
        for (scenario, error) in [(ScenarioKind.tlsMissingCertificate, "server-cert.pem"), (.tlsUntrusted, "known issuer")] {
            let result = try run(parameters(scenario))
            let fault = try XCTUnwrap(result.fault, scenario.rawValue)
            print("\(scenario): \(fault.evidence) | \(fault.errorEvidence) | \(fault.removalEvidence ?? "-")")
            assertFailureScenarioPassed(result)
            XCTAssertTrue(fault.errorEvidence.contains(error), fault.errorEvidence)
            XCTAssertEqual(check(result, CheckName.faultRemoved)?.passed, true, fault.removalEvidence ?? "-")
            XCTAssertEqual(try String(contentsOfFile: directory + "/server-cert.pem", encoding: .utf8), original, "\(scenario): the certificate is back")
            XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/" + DestinationTLSCredentials.stashName))
            XCTAssertEqual(check(result, CheckName.migrationSettingsRestored)?.passed, true,
                           check(result, CheckName.migrationSettingsRestored)?.evidence ?? "not checked")
        }
    }

    /// The plain migration after a fault that must leave the hosts able to migrate landed and passed.
    func assertMigratedAgain(_ result: ScenarioResult, file: StaticString = #filePath, line: UInt = #line) {
        for name in [CheckName.migrationOutcome, CheckName.guestOnDestination, CheckName.sourceHostClean, CheckName.memoryIntegrity,
                     CheckName.landingIntact] {
            let again = check(result, MigrationLeg.again.checkNamePrefix + name)
            XCTAssertEqual(again?.passed, true, "again-\(name): \(again?.evidence ?? "missing")", file: file, line: line)
        }
    }

    /// The source's libvirt daemon is SIGKILLed while the job transfers and started again when
    /// the call returns: the call fails on its closed connection, the guest keeps running on
    /// the source (`qemuProcessRecoverMigrationOut` cancels QEMU's migration), the destination
    /// is clean (the incoming domain died with the source daemon's connection), the source
    /// QEMU's migration settings are as before, and a plain migration right after passes.
    func test8KilledSourceDaemonLeavesTheGuestOnTheSourceAndTheNextMigrationPasses() throws {
        let lab = Self.lab
        let source = lab.configuration.source
        let before = Mutex<Int32?>(nil)
        let result = try run(parameters(.srcDaemonKilled), at: [.migrating: { before.withLock { $0 = $0 ?? lab.daemonProcessID(of: source) } }])
        let killed = try XCTUnwrap(before.withLock { $0 }, "the source's daemon ran when the migration started")
        let fault = try XCTUnwrap(result.fault)
        print("src-daemon-killed: \(fault.evidence) | \(fault.errorEvidence) | \(fault.removalEvidence ?? "-") | "
              + "\(check(result, CheckName.migrationSettingsRestored)?.evidence ?? "-")")
        assertFailureScenarioPassed(result)
        XCTAssertTrue(fault.acted && fault.evidence.contains("pid \(killed) SIGKILLed at") && fault.evidence.contains(", gone;"), fault.evidence)
        XCTAssertEqual(check(result, CheckName.faultRemoved)?.passed, true, fault.removalEvidence ?? "no removal evidence")
        let running = try XCTUnwrap(lab.daemonProcessID(of: source), "libvirtd runs again on \(source.name)")
        XCTAssertNotEqual(running, killed, "a new process")
        XCTAssertEqual(check(result, CheckName.migrationSettingsRestored)?.passed, true,
                       check(result, CheckName.migrationSettingsRestored)?.evidence ?? "not checked")
        assertMigratedAgain(result)
    }

    /// The destination fails in Finish (its save of the persistent definition meets a
    /// directory): the source had paused for the switch-over, so every page was sent; the
    /// guest runs on the source again, intact, and the destination holds nothing.
    func test9FinishFailureLeavesTheGuestRunningOnTheSource() throws {
        let lab = Self.lab
        let result = try run(parameters(.finishFail))
        let fault = try XCTUnwrap(result.fault)
        print("finish-fail: \(fault.evidence) | \(fault.errorEvidence) | \(fault.removalEvidence ?? "-")")
        assertFailureScenarioPassed(result)
        XCTAssertTrue(fault.evidence.contains("the source paused for the switch-over (suspended, migrated) at"), fault.evidence)
        XCTAssertTrue(result.libvirtError?.contains("\(lab.configuration.guestName).xml") ?? false, result.libvirtError ?? "no error")
        XCTAssertEqual(check(result, CheckName.faultRemoved)?.passed, true, fault.removalEvidence ?? "no removal evidence")
        let path = FinishFailFault.definitionPath(domainName: lab.configuration.guestName, testbed: LabTarget(lab: lab))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "\(path) removed")
        XCTAssertEqual(check(result, CheckName.migrationSettingsRestored)?.passed, true,
                       check(result, CheckName.migrationSettingsRestored)?.evidence ?? "not checked")
    }

    /// The source QEMU is SIGKILLed while the job transfers: the guest is lost, the verdict
    /// says so, and neither host keeps a domain, QEMU or tap of it (the next run boots a fresh guest).
    func test10KilledSourceQEMULosesTheGuestAndLeavesNothingBehind() throws {
        let lab = Self.lab
        let result = try run(parameters(.srcQEMUKilled))
        let fault = try XCTUnwrap(result.fault)
        print("src-qemu-killed: \(fault.evidence) | \(fault.errorEvidence) | \(check(result, CheckName.guestLost)?.evidence ?? "-")")
        XCTAssertTrue(result.passed, "failed checks: \(result.failedChecks)")
        for name in [CheckName.migrationOutcome, CheckName.faultActed, CheckName.guestLost, CheckName.destinationHostClean,
                     CheckName.migrationPortFree, CheckName.sourceHostClean] {
            XCTAssertEqual(check(result, name)?.passed, true, "\(name): \(check(result, name)?.evidence ?? "missing")")
        }
        XCTAssertNil(check(result, CheckName.memoryIntegrity), "a lost guest has no memory to verify")
        XCTAssertTrue(result.notes.contains { $0.contains("the guest was lost, as this scenario expects") }, "\(result.notes)")
        for host in [lab.configuration.source, lab.configuration.destination] {
            let domain = try lab.connect(to: host).domainIfPresent(name: lab.configuration.guestName)
            XCTAssertFalse(try domain?.isActive() ?? false, "no running domain on \(host.name)")
        }
    }

    /// Post-copy under a load pre-copy cannot converge (memeater unlimited over 128 MiB at
    /// 32 MiB/s): the driver switches after the first pass, the guest lands with every live
    /// check passing, and the verdict says when the switch came, how long post-copy lasted,
    /// the pages fetched on demand and the guest's longest stall.
    func test11PostCopyLandsWhatPreCopyCannotAndTheVerdictShowsItsPhase() throws {
        var p = parameters(.live, rate: 0)
        p.migration.postCopy = true
        p.migration.bandwidthMiBPerSecond = 32
        let result = try run(p)
        let note = result.notes.first { $0.hasPrefix("post-copy: switched at") } ?? "no post-copy note"
        print("postcopy: \(note)")
        XCTAssertTrue(result.passed, "failed checks: \(result.failedChecks)")
        let switched = try XCTUnwrap(result.figures.postCopySwitchOffsetMilliseconds, "the driver switched")
        let start = try XCTUnwrap(result.figures.migrationStartOffsetMilliseconds)
        XCTAssertGreaterThan(switched, start)
        XCTAssertGreaterThan(result.figures.postCopyMilliseconds ?? 0, 0)
        XCTAssertNotNil(result.figures.postCopyRequests, "completed job stats memory_postcopy_requests")
        XCTAssertTrue(note.contains("pages fetched on demand") && note.contains("the guest's longest stall"), note)
        XCTAssertEqual(result.integrityErrors, 0)
    }

    /// The destination QEMU is killed during post-copy: the guest is lost, the source holds
    /// it paused (post-copy failed) and never resumes it, the destination keeps nothing.
    func test12PostCopyDestinationQEMUKilledLeavesTheSourcePausedNeverResumed() throws {
        let result = try run(parameters(.postCopyDstQEMUKilled))
        let fault = try XCTUnwrap(result.fault)
        print("postcopy-dst-qemu-killed: \(fault.evidence) | \(fault.errorEvidence) | \(check(result, CheckName.sourceNotResumed)?.evidence ?? "-")")
        XCTAssertTrue(result.passed, "failed checks: \(result.failedChecks)")
        for name in [CheckName.migrationOutcome, CheckName.faultActed, CheckName.guestLost, CheckName.destinationHostClean,
                     CheckName.migrationPortFree, CheckName.sourceNotResumed, CheckName.noDualRunning] {
            XCTAssertEqual(check(result, name)?.passed, true, "\(name): \(check(result, name)?.evidence ?? "missing")")
        }
        XCTAssertTrue(fault.evidence.contains("(suspended, post-copy) at"), fault.evidence)
        XCTAssertNotNil(result.figures.postCopySwitchOffsetMilliseconds)
    }

    /// The migration link is cut during post-copy: the first call fails on the lost
    /// connection, both sides read post-copy failed, and once the link is back the verifier
    /// resumes the migration: the guest lands with every page verified, nothing left on the
    /// source. libvirt 11.3.0's destination daemon crashes in the resume's Prepare (a NULL fd
    /// dereferenced in `qemuProcessIncomingDefNew`): there the run must FAIL and say so, and
    /// the daemon must run again afterwards.
    func test13PostCopyLinkCutIsRecoveredAndTheGuestLandsIntact() throws {
        let lab = Self.lab
        let result = try run(parameters(.postCopyLinkCut))
        let fault = try XCTUnwrap(result.fault)
        print("postcopy-link-cut: \(fault.evidence) | \(fault.errorEvidence) | \(check(result, CheckName.pingContinuity)?.evidence ?? "-")")
        XCTAssertTrue(fault.acted, "cut in post-copy, the first call failed on the lost connection: \(fault.evidence)")
        XCTAssertTrue(fault.errorEvidence.contains("(both post-copy failed)"), fault.errorEvidence)
        if result.libvirtVersion == "11.3.0" {
            XCTAssertFalse(result.passed)
            XCTAssertTrue(fault.errorEvidence.contains("libvirtd on \(lab.configuration.destination.name) died during the resume")
                          && fault.errorEvidence.contains("started again as pid"), fault.errorEvidence)
            XCTAssertEqual(check(result, CheckName.faultActed)?.passed, false)
            XCTAssertNotNil(lab.daemonProcessID(of: lab.configuration.destination), "the destination daemon runs again")
            XCTAssertTrue(result.notes.contains { $0.contains("the guest was discarded after this run") }, "\(result.notes)")
            return
        }
        XCTAssertTrue(result.passed, "failed checks: \(result.failedChecks)")
        for name in [CheckName.migrationOutcome, CheckName.faultActed, CheckName.guestOnDestination, CheckName.sourceReleased,
                     CheckName.sourceHostClean, CheckName.faultRemoved, CheckName.memoryIntegrity, CheckName.landingIntact, CheckName.noDualRunning] {
            XCTAssertEqual(check(result, name)?.passed, true, "\(name): \(check(result, name)?.evidence ?? "missing")")
        }
        XCTAssertTrue(fault.errorEvidence.contains("(both post-copy failed)") && fault.errorEvidence.contains("resumed with VIR_MIGRATE_POSTCOPY_RESUME"),
                      fault.errorEvidence)
        XCTAssertEqual(result.integrityErrors, 0)
    }
}
