import Foundation
import Libvirt
import XCTest
@testable import Verifier

/// dst-daemon-killed's judgement on synthetic endings: the kill while the call ran with
/// libvirt's closed connection passes `fault-acted`; a kill that never came, missed, came
/// after the call returned or was followed by another error fails it; `fault-removed` wants
/// the daemon running and answering again as a new process.
final class KillDestinationDaemonFaultTests: XCTestCase {
    typealias Tested = KillDestinationDaemonFault

    /// The call ran from 500 ms to 2510 ms on the run clock.
    func outcome(_ ending: MigrationEnding, faultNote: String? = nil) -> MigrationOutcome {
        Fixtures.outcome(ending, startedAt: 500, wall: 2_010, faultNote: faultNote)
    }

    /// Peer-to-peer: the source daemon's check of its connection to the destination daemon
    /// (`qemuMigrationAnyCompleted`).
    let lostConnection = MigrationEnding.failed(
        message: "virDomainMigrateToURI3 failed (uri qemu+tcp://198.18.0.2/system, domain lab-guest): operation failed: Lost connection to destination host [libvirt error 9]",
        kind: .operationFailed)
    /// Client-managed: Finish3 over the verifier's own connection to the dead daemon.
    let socketClosed = MigrationEnding.failed(
        message: "virDomainMigrate3 failed (uri qemu+tcp://198.18.0.2/system, domain lab-guest): internal error: client socket is closed [libvirt error 1]",
        kind: .operationFailed)
    /// The incoming QEMU's stream failed: another fault's error.
    let channelError = MigrationEnding.failed(
        message: "virDomainMigrateToURI3 failed (uri qemu+tcp://198.18.0.2/system, domain lab-guest): operation failed: job 'migration out' failed: Channel error: Input/output error [libvirt error 9]",
        kind: .operationFailed)

    func kill(at: Double = 1_235, pid: Int32? = 4100, gone: Bool = true, error: String? = nil) -> Tested.Kill {
        Tested.Kill(atMilliseconds: at, processID: pid, gone: gone, error: error)
    }

    func restart(pid: Int32? = 4200, error: String? = nil) -> Tested.Restart {
        Tested.Restart(atMilliseconds: 4_100, durationMilliseconds: 1_580, processID: pid, error: error)
    }

    func judge(_ kill: Tested.Kill?, _ ending: MigrationEnding, restart: Tested.Restart? = nil, faultNote: String? = nil) -> FaultEvidence {
        Tested.judge(kill, restart: restart ?? self.restart(), outcome: outcome(ending, faultNote: faultNote), hostName: "dst")
    }

    // MARK: acted

    func testActsWhenItKilledTheRunningDaemonWhileTheCallRanAndTheSourceLostItsConnection() throws {
        let evidence = judge(kill(), lostConnection)
        XCTAssertEqual(evidence.scenario, .dstDaemonKilled)
        XCTAssertTrue(evidence.acted)
        XCTAssertTrue(evidence.errorAsExpected)
        XCTAssertEqual(evidence.actedAtMilliseconds, 1_235)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: true,
                    says: "libvirtd on dst pid 4100 SIGKILLed at 1235 ms, gone; the migration call returned at 2510 ms, 1275 ms later",
                    "Lost connection to destination host")
        assertCheck(try Fixtures.faultRemoved(evidence), CheckName.faultRemoved, passed: true,
                    says: "libvirtd on dst runs again as pid 4200 and answers (at 4100 ms, start took 1580 ms)")
    }

    /// What the lab's source daemon returned and logged (peer-to-peer): the close of its dead
    /// connection stands in for `qemuMigrationAnyCompleted`'s finding, which the evidence quotes.
    func testTheClosedSocketIsThisFaultsErrorAndTheEvidenceQuotesTheLoggedLostConnection() throws {
        let returned = MigrationEnding.failed(
            message: "virDomainMigrateToURI3 to qemu+tcp://198.18.0.2/system failed (uri qemu+tcp://198.18.0.1/system, domain lab-guest): internal error: client socket is closed [libvirt error 1]",
            kind: .operationFailed)
        var logged = outcome(returned)
        logged.sourceDaemonErrors = .success(DaemonLogErrors(location: "libvirtd.log on src", messages: DaemonLogErrors.messages(inLog: """
            2026-12-06 11:48:56.424+0000: 20375: error : virNetSocketReadWire:1782 : End of file while reading data: Input/output error
            2026-12-06 11:48:56.424+0000: 20380: error : qemuMigrationAnyCompleted:2121 : operation failed: Lost connection to destination host
            2026-12-06 11:48:56.437+0000: 20380: error : virNetClientSendInternal:2171 : internal error: client socket is closed
            """)))
        let evidence = Tested.judge(kill(), restart: restart(), outcome: logged, hostName: "dst")
        XCTAssertTrue(evidence.acted && evidence.errorAsExpected)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: true, says: "client socket is closed",
                    "the source daemon logged before it (libvirtd.log on src): operation failed: Lost connection to destination host")
        // Without the log the closed socket alone is still this fault's error.
        XCTAssertTrue(judge(kill(), returned).errorAsExpected)
    }

    func testClientManagedFinishOnTheClosedConnectionIsThisFaultsError() throws {
        let evidence = judge(kill(), socketClosed)
        XCTAssertTrue(evidence.errorAsExpected)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: true, says: "client socket is closed")
    }

    // MARK: not acted

    func testADaemonThatWasNeverKilledFailsFaultActedWithTheDriversNote() throws {
        let evidence = Tested.judge(nil, restart: nil, outcome: outcome(lostConnection, faultNote: "the job never transferred 8 MiB"), hostName: "dst")
        XCTAssertFalse(evidence.acted)
        XCTAssertNil(evidence.removed, "nothing was killed, nothing to start again")
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false,
                    says: "the fault did not act: the daemon was never killed: the job never transferred 8 MiB")
        XCTAssertNil(try Fixtures.faultRemoved(evidence))
    }

    func testAKillThatFoundNoDaemonOrCouldNotSignalFailsFaultActed() throws {
        let none = judge(kill(pid: nil, gone: false, error: "no libvirtd runs for dst"), lostConnection)
        XCTAssertFalse(none.acted)
        assertCheck(try Fixtures.faultActed(none), CheckName.faultActed, passed: false, says: "the fault did not act", "no libvirtd runs for dst")
        let refused = judge(kill(gone: false, error: "kill(4100, SIGKILL): Operation not permitted"), lostConnection)
        XCTAssertFalse(refused.acted)
        assertCheck(try Fixtures.faultActed(refused), CheckName.faultActed, passed: false, says: "Operation not permitted")
    }

    func testADaemonStillAliveAfterTheSignalFailsFaultActedAndNeedsNoNewProcess() throws {
        let evidence = judge(kill(gone: false), lostConnection)
        XCTAssertFalse(evidence.acted)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false, says: "still alive 5 s later")
        // The kill missed: the daemon that still runs (same PID) is what must answer.
        let samePID = judge(kill(gone: false), lostConnection, restart: restart(pid: 4100))
        assertCheck(try Fixtures.faultRemoved(samePID), CheckName.faultRemoved, passed: true, says: "runs again as pid 4100")
    }

    func testAKillAfterTheCallReturnedFailsFaultActed() throws {
        let evidence = judge(kill(at: 3_000), lostConnection)
        XCTAssertFalse(evidence.acted)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false,
                    says: "SIGKILLed at 3000 ms", "after the migration call had returned (at 2510 ms)")
    }

    // MARK: the wrong error

    func testAnotherErrorAVerifierAbortOrACompletedMigrationIsNotThisFaultsError() throws {
        let qemuFailed = judge(kill(), channelError)
        XCTAssertTrue(qemuFailed.acted)
        XCTAssertFalse(qemuFailed.errorAsExpected)
        assertCheck(try Fixtures.faultActed(qemuFailed), CheckName.faultActed, passed: false,
                    says: "expected the call to fail on its closed connection to the destination daemon", "Channel error")
        let aborted = judge(kill(), .aborted(reason: "no progress for 15 s", callError: Fixtures.canceledByClient, abortError: nil))
        XCTAssertFalse(aborted.errorAsExpected)
        assertCheck(try Fixtures.faultActed(aborted), CheckName.faultActed, passed: false, says: "got aborted by the verifier (no progress for 15 s)")
        let completed = judge(kill(), .completed)
        XCTAssertFalse(completed.errorAsExpected)
        assertCheck(try Fixtures.faultActed(completed), CheckName.faultActed, passed: false, says: "got completed")
    }

    // MARK: removed

    func testADaemonNotStartedAgainOrStillTheKilledProcessFailsFaultRemoved() throws {
        let failed = judge(kill(), lostConnection, restart: restart(pid: nil, error: "lab step 'start libvirt daemon on dst' failed: exit status 1"))
        XCTAssertEqual(failed.removed, false)
        assertCheck(try Fixtures.faultRemoved(failed), CheckName.faultRemoved, passed: false,
                    says: "libvirtd on dst was not started again (no process): lab step 'start libvirt daemon on dst' failed")
        let same = judge(kill(), lostConnection, restart: restart(pid: 4100))
        assertCheck(try Fixtures.faultRemoved(same), CheckName.faultRemoved, passed: false, says: "answers as pid 4100, the process that was killed")
        let noPID = judge(kill(), lostConnection, restart: restart(pid: nil))
        assertCheck(try Fixtures.faultRemoved(noPID), CheckName.faultRemoved, passed: false, says: "its pid file names no running libvirtd")
    }

    // MARK: where it runs

    func testItRunsOnTheLabOnlyAndSaysSoInOneLine() {
        let fake = FakeTestbed(world: FakeWorld())
        let refusal = FaultCatalog.standard.refusal(.dstDaemonKilled, on: fake)
        XCTAssertEqual(refusal?.hasPrefix("--scenario dst-daemon-killed runs on the lab only: it SIGKILLs and restarts the lab's per-host libvirtd"), true,
                       refusal ?? "not refused")
        XCTAssertFalse(refusal?.contains("\n") ?? true)
        XCTAssertEqual(ScenarioKind(rawValue: "dst-daemon-killed"), .dstDaemonKilled, "the catalog lists it")
        XCTAssertEqual(KillDestinationDaemonFault.expectation, .staysOnSource)
    }
}
