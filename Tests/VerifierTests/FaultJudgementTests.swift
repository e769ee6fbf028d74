import Foundation
import Libvirt
import XCTest
@testable import Verifier

/// Every fault type's judgement: evidence that passes `fault-acted` and evidence that must
/// fail it — above all a migration that failed for another reason, whose check must fail and
/// show both the error the fault causes and the one libvirt gave.
final class FaultJudgementTests: XCTestCase {
    let qemuMonitorClosed = MigrationEnding.failed(message: Fixtures.qemuMonitorClosed, kind: .operationFailed)

    // MARK: prepare-fail (BogusMigrationURIFault)

    func testPrepareFailActsWhenLibvirtRefusesTheBogusURI() throws {
        let ending = MigrationEnding.failed(
            message: "virDomainMigrateToURI3 failed (uri qemu+tcp://198.18.0.2/system, domain lab-guest): argument unsupported: unsupported scheme foo in migration URI foo://bar [libvirt error 67]",
            kind: .other)
        let evidence = BogusMigrationURIFault.judge(ending)
        XCTAssertEqual(evidence.scenario, .prepareFail)
        XCTAssertTrue(evidence.acted)
        XCTAssertTrue(evidence.errorAsExpected)
        XCTAssertNil(evidence.removed)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: true,
                    says: "libvirt refused the migration URI foo://bar", "unsupported scheme foo")
    }

    func testPrepareFailThatFailedForAnotherReasonFailsFaultActedWithBothErrors() throws {
        let evidence = BogusMigrationURIFault.judge(qemuMonitorClosed)
        XCTAssertFalse(evidence.acted)
        XCTAssertFalse(evidence.errorAsExpected)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false,
                    says: "the fault did not act", "expected libvirt to refuse the migration URI foo://bar (unsupported scheme foo)",
                    "QEMU unexpectedly closed the monitor", "could not open kernel file")
    }

    /// Lines as the lab's source daemon logged them for a refused Prepare over qemu+ssh.
    static let sourceDaemonLog = """
        2026-11-27 09:31:01.400+0000: 13199: debug : qemuMigrationSrcPerformPeer2Peer3:5807 : Prepare3 0x7f2ca40072b0
        2026-11-27 09:31:01.401+0000: 13199: error : virNetClientProgramDispatchError:170 : argument unsupported: unsupported scheme foo in migration URI foo://bar
        2026-11-27 09:31:01.405+0000: 13199: error : virNetSocketReadWire:1778 : End of file while reading data: : Input/output error
        2026-11-27 09:31:01.405+0000: 13199: info : virKeepAliveStop:297 : RPC_KEEPALIVE_STOP: ka=0x562522ded650
        """
    static let endOfFile = MigrationEnding.failed(message: "virDomainMigrateToURI3 to qemu+ssh://root@dst/system failed: "
                                                      + "End of file while reading data: : Input/output error [libvirt error 38]", kind: nil)

    func testDaemonLogErrorsAreTheMessagesOfErrorLines() {
        XCTAssertEqual(DaemonLogErrors.messages(inLog: Self.sourceDaemonLog),
                       ["argument unsupported: unsupported scheme foo in migration URI foo://bar",
                        "End of file while reading data: : Input/output error"])
        XCTAssertEqual(DaemonLogErrors.messages(inLog: "x: 1: error : no function part"), ["no function part"])
        XCTAssertEqual(DaemonLogErrors.messages(inLog: "garbage\n\n"), [])
        XCTAssertTrue(Self.endOfFile.isTransportEndOfFile)
        XCTAssertFalse(MigrationEnding.failed(message: "unable to connect", kind: nil).isTransportEndOfFile)
    }

    func testPrepareFailWithTheTransportsEndOfFileLooksForTheRefusalInTheDaemonLog() throws {
        let logged = DaemonLogErrors(location: "/var/log/libvirt/libvirtd.log on src", messages: DaemonLogErrors.messages(inLog: Self.sourceDaemonLog))
        assertCheck(try Fixtures.faultActed(BogusMigrationURIFault.judge(Self.endOfFile, daemonErrors: .success(logged))), CheckName.faultActed, passed: true,
                    says: "End of file", "which the source daemon logged (/var/log/libvirt/libvirtd.log on src): argument unsupported: unsupported scheme foo")
        let otherError = DaemonLogErrors(location: "log", messages: ["Requested operation is not valid: domain 'g' is already active"])
        assertCheck(try Fixtures.faultActed(BogusMigrationURIFault.judge(Self.endOfFile, daemonErrors: .success(otherError))), CheckName.faultActed, passed: false,
                    says: "expected libvirt to refuse the migration URI foo://bar")
        assertCheck(try Fixtures.faultActed(BogusMigrationURIFault.judge(Self.endOfFile)), CheckName.faultActed, passed: false, says: "End of file")
        let unread = BogusMigrationURIFault.judge(Self.endOfFile, daemonErrors: .failure(DaemonLogUnavailable(reason: "no daemon log file named")))
        assertCheck(try Fixtures.faultActed(unread), CheckName.faultActed, passed: false, says: "was not read: no daemon log file named")
        // A logged refusal does not turn another returned error into this fault's.
        let other = MigrationEnding.failed(message: "operation failed: domain is already active", kind: nil)
        assertCheck(try Fixtures.faultActed(BogusMigrationURIFault.judge(other, daemonErrors: .success(logged))), CheckName.faultActed, passed: false,
                    says: "already active")
    }

    func testPrepareFailThatCompletedFailsFaultActed() throws {
        let evidence = BogusMigrationURIFault.judge(.completed)
        XCTAssertFalse(evidence.acted)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false, says: "got completed")
    }

    // MARK: perform-fail (MigrationPortsDroppedFault)

    func testPerformFailActsWhenTheFirewallDroppedPacketsAndTheJobStalled() throws {
        let ending = MigrationEnding.aborted(reason: "no progress for 15 s", callError: Fixtures.canceledByClient, abortError: nil)
        let evidence = MigrationPortsDroppedFault.judge(droppedPackets: 14, ending: ending, hostName: "dst", removed: true)
        XCTAssertTrue(evidence.acted)
        XCTAssertTrue(evidence.errorAsExpected)
        XCTAssertEqual(evidence.removed, true)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: true,
                    says: "the firewall on dst dropped 14 packets to TCP 49152-49216", "libvirt: aborted by the verifier")
        assertCheck(try Fixtures.faultRemoved(evidence), CheckName.faultRemoved, passed: true, says: "is gone from dst")
    }

    func testPerformFailActsWhenLibvirtCouldNotConnectToTheMigrationPort() throws {
        let ending = MigrationEnding.failed(message: "operation failed: unable to connect to '198.18.0.2:49152': Connection timed out",
                                            kind: .operationFailed)
        let evidence = MigrationPortsDroppedFault.judge(droppedPackets: 7, ending: ending, hostName: "dst", removed: true)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: true, says: "dropped 7 packets", "Connection timed out")
    }

    /// libvirt over qemu+ssh sometimes reports its destination connection's end of file in
    /// place of the connect error (seen 1 run in 9 on the lab; the daemon's log had the timeout).
    func testPerformFailTransportEndOfFileIsTheFaultsOnlyWhenNoByteOfTheGuestWasSent() throws {
        let endOfFile = MigrationEnding.failed(message: "virDomainMigrateToURI3 to qemu+ssh://root@dst/system failed: "
                                                   + "End of file while reading data: : Input/output error [libvirt error 38]", kind: nil)
        let nothingSent = MigrationPortsDroppedFault.judge(droppedPackets: 6, ending: endOfFile, hostName: "dst", removed: true,
                                                           sent: JobTransfer(largestBytes: 0, samples: 30))
        XCTAssertTrue(nothingSent.errorAsExpected)
        assertCheck(try Fixtures.faultActed(nothingSent), CheckName.faultActed, passed: true,
                    says: "dropped 6 packets", "End of file", "sent 0 bytes of the guest in 30 job-stats samples")
        let someSent = MigrationPortsDroppedFault.judge(droppedPackets: 6, ending: endOfFile, hostName: "dst", removed: true,
                                                        sent: JobTransfer(largestBytes: 4096, samples: 30))
        assertCheck(try Fixtures.faultActed(someSent), CheckName.faultActed, passed: false, says: "expected the migration to stall", "End of file")
        let unknown = MigrationPortsDroppedFault.judge(droppedPackets: 6, ending: endOfFile, hostName: "dst", removed: true, sent: nil)
        XCTAssertFalse(unknown.errorAsExpected, "no sample said how much was sent")
        let notDropped = MigrationPortsDroppedFault.judge(droppedPackets: 0, ending: endOfFile, hostName: "dst", removed: true,
                                                          sent: JobTransfer(largestBytes: 0, samples: 30))
        XCTAssertFalse(notDropped.errorAsExpected, "the firewall never saw the migration connection")
        // The source daemon's log, when it was read, decides: the connect to a dropped port...
        let logged = DaemonLogErrors(location: "log on src", messages: ["unable to connect to server at '198.18.0.2:49152': Connection timed out"])
        let connectLogged = MigrationPortsDroppedFault.judge(droppedPackets: 6, ending: endOfFile, hostName: "dst", removed: true,
                                                             sent: JobTransfer(largestBytes: 0, samples: 30), daemonErrors: .success(logged))
        assertCheck(try Fixtures.faultActed(connectLogged), CheckName.faultActed, passed: true,
                    says: "which the source daemon logged (log on src): unable to connect to server at '198.18.0.2:49152'")
        // ...not bytes sent, not a log without it, not a connect to another port.
        let loggedButSent = MigrationPortsDroppedFault.judge(droppedPackets: 6, ending: endOfFile, hostName: "dst", removed: true,
                                                             sent: JobTransfer(largestBytes: 4096, samples: 30), daemonErrors: .success(logged))
        XCTAssertFalse(loggedButSent.errorAsExpected, "the guest's data flowed")
        let logWithoutIt = MigrationPortsDroppedFault.judge(droppedPackets: 6, ending: endOfFile, hostName: "dst", removed: true,
                                                            sent: JobTransfer(largestBytes: 0, samples: 30),
                                                            daemonErrors: .success(DaemonLogErrors(location: "log", messages: ["some other error"])))
        XCTAssertFalse(logWithoutIt.errorAsExpected, "a log that was read and has no failed connect is evidence against")
        let otherPort = DaemonLogErrors(location: "log", messages: ["unable to connect to server at '198.18.0.2:16509': Connection refused"])
        XCTAssertFalse(MigrationPortsDroppedFault.judge(droppedPackets: 6, ending: endOfFile, hostName: "dst", removed: true,
                                                        sent: JobTransfer(largestBytes: 0, samples: 30), daemonErrors: .success(otherPort)).errorAsExpected)
        let unread = MigrationPortsDroppedFault.judge(droppedPackets: 6, ending: endOfFile, hostName: "dst", removed: true,
                                                      sent: JobTransfer(largestBytes: 0, samples: 30),
                                                      daemonErrors: .failure(DaemonLogUnavailable(reason: "no log file")))
        XCTAssertTrue(unread.errorAsExpected, "without the log, 0 bytes sent is the evidence")
        XCTAssertTrue(MigrationPortsDroppedFault.isConnectToADroppedPort("unable to connect to server at '[2001:2::2]:49216': Connection timed out"))
        XCTAssertFalse(MigrationPortsDroppedFault.isConnectToADroppedPort("unable to connect to server at '198.18.0.2:49217': x"))
        XCTAssertFalse(MigrationPortsDroppedFault.isConnectToADroppedPort("unable to connect to server at 'garbage"))
        XCTAssertEqual(JobTransfer(samples: [JobSample(offsetMilliseconds: 1, jobType: "none"),
                                             JobSample(offsetMilliseconds: 2, jobType: "unbounded", dataProcessedBytes: 0),
                                             JobSample(offsetMilliseconds: 3, jobType: "unbounded", dataProcessedBytes: 8192)]),
                       JobTransfer(largestBytes: 8192, samples: 2))
        XCTAssertNil(JobTransfer(samples: [JobSample(offsetMilliseconds: 1, jobType: "none")]))
    }

    func testPerformFailWhoseQEMUClosedTheMonitorAndNothingWasDroppedFailsFaultActedWithBothErrors() throws {
        let evidence = MigrationPortsDroppedFault.judge(droppedPackets: 0, ending: qemuMonitorClosed, hostName: "dst", removed: true)
        XCTAssertFalse(evidence.acted)
        XCTAssertFalse(evidence.errorAsExpected)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false,
                    says: "the fault did not act: the firewall on dst dropped 0 packets to TCP 49152-49216",
                    "expected the migration to stall on the dropped ports",
                    "got failed: \(Fixtures.qemuMonitorClosed)")
    }

    func testPerformFailThatDroppedPacketsButFailedForAnotherReasonFailsFaultActed() throws {
        let evidence = MigrationPortsDroppedFault.judge(droppedPackets: 9, ending: qemuMonitorClosed, hostName: "dst", removed: true)
        XCTAssertTrue(evidence.acted)
        XCTAssertFalse(evidence.errorAsExpected)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false,
                    says: "dropped 9 packets", "expected the migration to stall", "could not open kernel file")
    }

    func testPerformFailWithAnUnknownDropCountOrACompletedMigrationFailsFaultActed() throws {
        let ending = MigrationEnding.aborted(reason: "no progress for 15 s", callError: Fixtures.canceledByClient, abortError: nil)
        let unknown = MigrationPortsDroppedFault.judge(droppedPackets: nil, ending: ending, hostName: "dst", removed: true)
        XCTAssertFalse(unknown.acted)
        assertCheck(try Fixtures.faultActed(unknown), CheckName.faultActed, passed: false, says: "dropped an unknown number of packets")
        let completed = MigrationPortsDroppedFault.judge(droppedPackets: 3, ending: .completedDespiteAbort(reason: "no progress for 15 s"),
                                                         hostName: "dst", removed: true)
        XCTAssertFalse(completed.errorAsExpected)
        assertCheck(try Fixtures.faultActed(completed), CheckName.faultActed, passed: false, says: "got completed while being aborted")
    }

    func testPerformFailRuleLeftInPlaceFailsFaultRemoved() throws {
        let ending = MigrationEnding.aborted(reason: "no progress for 15 s", callError: Fixtures.canceledByClient, abortError: nil)
        let left = MigrationPortsDroppedFault.judge(droppedPackets: 14, ending: ending, hostName: "dst", removed: false)
        assertCheck(try Fixtures.faultRemoved(left), CheckName.faultRemoved, passed: false, says: "is STILL in dst")
        let never = MigrationPortsDroppedFault.judge(droppedPackets: nil, ending: ending, hostName: "dst", removed: nil)
        assertCheck(try Fixtures.faultRemoved(never), CheckName.faultRemoved, passed: false, says: "the rule was never installed")
    }

    // MARK: abort (AbortJobFault)

    /// The call ran from 500 ms to 2900 ms on the run clock.
    func abortOutcome(_ ending: MigrationEnding, faultNote: String? = nil) -> MigrationOutcome {
        Fixtures.outcome(ending, startedAt: 500, wall: 2_400, faultNote: faultNote)
    }

    let operationAborted = MigrationEnding.failed(message: Fixtures.canceledByClient, kind: .operationAborted)

    func testAbortActsWhenTheAbortCallSucceededWhileTheCallRan() throws {
        let call = AbortJobFault.AbortCall(atMilliseconds: 818, durationMilliseconds: 3, error: nil)
        let evidence = AbortJobFault.judge(call, outcome: abortOutcome(operationAborted))
        XCTAssertTrue(evidence.acted)
        XCTAssertTrue(evidence.errorAsExpected)
        XCTAssertEqual(evidence.actedAtMilliseconds, 818)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: true,
                    says: "virDomainAbortJob at 818 ms returned after 3 ms, while the migration call was running",
                    "canceled by client")
    }

    func testAbortWhoseAbortCallFailedFailsFaultActed() throws {
        let call = AbortJobFault.AbortCall(atMilliseconds: 818, durationMilliseconds: 2,
                                           error: "virDomainAbortJob failed: Requested operation is not valid: no job is active on the domain")
        let evidence = AbortJobFault.judge(call, outcome: abortOutcome(operationAborted))
        XCTAssertFalse(evidence.acted)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false,
                    says: "the fault did not act: virDomainAbortJob at 818 ms failed: ", "no job is active")
    }

    func testAbortThatCameAfterTheCallReturnedFailsFaultActed() throws {
        let call = AbortJobFault.AbortCall(atMilliseconds: 3_500, durationMilliseconds: 3, error: nil)
        let evidence = AbortJobFault.judge(call, outcome: abortOutcome(operationAborted))
        XCTAssertFalse(evidence.acted)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false,
                    says: "the fault did not act", "after the migration call had returned")
        // The moment the call returned is not "while it ran" either.
        let atTheEnd = AbortJobFault.AbortCall(atMilliseconds: 2_900, durationMilliseconds: 3, error: nil)
        XCTAssertFalse(AbortJobFault.judge(atTheEnd, outcome: abortOutcome(operationAborted)).acted)
    }

    func testAbortThatNeverCameFailsFaultActedWithTheDriversNote() throws {
        let evidence = AbortJobFault.judge(nil, outcome: abortOutcome(.completed, faultNote: "the migration completed before 8 MiB were transferred"))
        XCTAssertFalse(evidence.acted)
        XCTAssertNil(evidence.actedAtMilliseconds)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false,
                    says: "the job was never aborted: the migration completed before 8 MiB were transferred", "got completed")
    }

    func testAbortWhoseMigrationFailedForAnotherReasonFailsFaultActedWithBothErrors() throws {
        let call = AbortJobFault.AbortCall(atMilliseconds: 818, durationMilliseconds: 3, error: nil)
        let evidence = AbortJobFault.judge(call, outcome: abortOutcome(qemuMonitorClosed))
        XCTAssertTrue(evidence.acted)
        XCTAssertFalse(evidence.errorAsExpected)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false,
                    says: "virDomainAbortJob at 818 ms returned", "expected libvirt's 'operation aborted'", "could not open kernel file")
    }

    func testAbortEndedByTheVerifiersOwnAbortIsNotThisFaultsError() throws {
        let call = AbortJobFault.AbortCall(atMilliseconds: 818, durationMilliseconds: 3, error: nil)
        let ending = MigrationEnding.aborted(reason: "timeout after 120 s", callError: Fixtures.canceledByClient, abortError: nil)
        let evidence = AbortJobFault.judge(call, outcome: abortOutcome(ending))
        XCTAssertFalse(evidence.errorAsExpected)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false, says: "got aborted by the verifier (timeout after 120 s)")
    }

    // MARK: dst-qemu-killed (KillIncomingQEMUFault)

    /// The call ran from 500 ms to 2510 ms on the run clock.
    func killOutcome(_ ending: MigrationEnding, faultNote: String? = nil) -> MigrationOutcome {
        Fixtures.outcome(ending, startedAt: 500, wall: 2_010, faultNote: faultNote)
    }

    let channelError = MigrationEnding.failed(
        message: "virDomainMigrateToURI3 failed (uri qemu+tcp://198.18.0.2/system, domain lab-guest): operation failed: job 'migration out' failed: Channel error: Input/output error [libvirt error 9]",
        kind: .operationFailed)

    func kill(at: Double = 1_235, before: [Int32] = [], incoming: [Int32] = [5151], killed: [Int32] = [5151],
              survivors: [Int32] = [], error: String? = nil) -> KillIncomingQEMUFault.Kill {
        KillIncomingQEMUFault.Kill(atMilliseconds: at, processIDsBefore: before, targetProcessIDs: incoming, killedProcessIDs: killed,
                                   survivors: survivors, error: error)
    }

    func testDstQEMUKilledActsWhenItKilledTheIncomingQEMUWhileTheCallRan() throws {
        let evidence = KillIncomingQEMUFault.judge(kill(), outcome: killOutcome(channelError))
        XCTAssertTrue(evidence.acted)
        XCTAssertTrue(evidence.errorAsExpected)
        XCTAssertEqual(evidence.actedAtMilliseconds, 1_235)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: true,
                    says: "at 1235 ms: incoming qemu 5151 (before the migration: none); killed 5151", "Channel error")
    }

    func testDstQEMUKilledThatKilledNothingFailsFaultActed() throws {
        let evidence = KillIncomingQEMUFault.judge(kill(incoming: [], killed: []), outcome: killOutcome(channelError))
        XCTAssertFalse(evidence.acted)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false, says: "the fault did not act", "killed none")
    }

    func testDstQEMUKilledThatKilledAProcessFromBeforeTheMigrationFailsFaultActed() throws {
        let evidence = KillIncomingQEMUFault.judge(kill(before: [4242], incoming: [4242], killed: [4242]), outcome: killOutcome(channelError))
        XCTAssertFalse(evidence.acted)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false,
                    says: "the fault did not act", "(before the migration: 4242); killed 4242", "not this migration's incoming qemu")
    }

    func testDstQEMUKilledThatKilledAProcessThatWasNotIncomingFailsFaultActed() throws {
        let evidence = KillIncomingQEMUFault.judge(kill(incoming: [5151], killed: [6262]), outcome: killOutcome(channelError))
        XCTAssertFalse(evidence.acted)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false, says: "killed 6262", "not this migration's incoming qemu")
    }

    func testDstQEMUKilledWhoseProcessSurvivedOrCouldNotBeKilledFailsFaultActed() throws {
        let survived = KillIncomingQEMUFault.judge(kill(survivors: [5151]), outcome: killOutcome(channelError))
        XCTAssertFalse(survived.acted)
        assertCheck(try Fixtures.faultActed(survived), CheckName.faultActed, passed: false, says: "still alive: 5151")
        let failed = KillIncomingQEMUFault.judge(kill(incoming: [], killed: [], error: "ps failed: exit 1"), outcome: killOutcome(channelError))
        XCTAssertFalse(failed.acted)
        assertCheck(try Fixtures.faultActed(failed), CheckName.faultActed, passed: false, says: "could not kill: ps failed: exit 1")
    }

    func testDstQEMUKilledAfterTheCallReturnedFailsFaultActed() throws {
        let evidence = KillIncomingQEMUFault.judge(kill(at: 3_000), outcome: killOutcome(channelError))
        XCTAssertFalse(evidence.acted)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false, says: "after the migration call had returned")
    }

    func testDstQEMUKilledWhoseMigrationDidNotFailByItselfFailsFaultActed() throws {
        let completed = KillIncomingQEMUFault.judge(kill(), outcome: killOutcome(.completed))
        XCTAssertTrue(completed.acted)
        XCTAssertFalse(completed.errorAsExpected)
        assertCheck(try Fixtures.faultActed(completed), CheckName.faultActed, passed: false,
                    says: "expected the migration call to fail once its incoming qemu was killed; got completed")
        let verifierAborted = KillIncomingQEMUFault.judge(
            kill(), outcome: killOutcome(.aborted(reason: "no progress for 15 s", callError: Fixtures.canceledByClient, abortError: nil)))
        XCTAssertFalse(verifierAborted.errorAsExpected)
    }

    func testDstQEMUKilledThatNeverKilledFailsFaultActedWithTheDriversNote() throws {
        let evidence = KillIncomingQEMUFault.judge(nil, outcome: killOutcome(channelError, faultNote: "the job never transferred 8 MiB"))
        XCTAssertFalse(evidence.acted)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false, says: "nothing was killed: the job never transferred 8 MiB")
    }

    // MARK: link-cut (DestinationLinkCutFault)

    /// The call ran from 500 ms to 31300 ms on the run clock.
    func linkOutcome(_ ending: MigrationEnding, faultNote: String? = nil) -> MigrationOutcome {
        Fixtures.outcome(ending, startedAt: 500, wall: 30_800, faultNote: faultNote)
    }

    let socketClosed = MigrationEnding.failed(
        message: "virDomainMigrateToURI3 failed (uri qemu+tcp://198.18.0.2/system, domain lab-guest): internal error: client socket is closed [libvirt error 1]",
        kind: .operationFailed)

    func cut(down: Double = 1_400, confirmedDown: Bool = true, restored: Double? = 31_400, upAgain: Bool? = true,
             error: String? = nil) -> DestinationLinkCutFault.Cut {
        DestinationLinkCutFault.Cut(interface: "mgmt-dst", downAtMilliseconds: down, confirmedDown: confirmedDown,
                                    restoredAtMilliseconds: restored, upAgain: upAgain, error: error)
    }

    func testLinkCutActsWhenTheLinkWentDownWhileTheCallRanAndTheDaemonsLostEachOther() throws {
        let evidence = DestinationLinkCutFault.judge(cut(), outcome: linkOutcome(socketClosed), mode: .peerToPeer)
        XCTAssertTrue(evidence.acted)
        XCTAssertTrue(evidence.errorAsExpected)
        XCTAssertEqual(evidence.removed, true)
        XCTAssertEqual(evidence.guestNetwork, .untouched, "the ping check holds the guest network to the downtime limit")
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: true,
                    says: "link-cut (p2p): mgmt-dst down at 1400 ms", "returned at 31300 ms, 29900 ms after the cut",
                    "link down for 30 s in all", "client socket is closed")
        assertCheck(try Fixtures.faultRemoved(evidence), CheckName.faultRemoved, passed: true, says: "mgmt-dst is up again")
    }

    func testLinkCutDirectActsWhenTheJobHungUntilTheVerifierAborted() throws {
        let ending = MigrationEnding.aborted(reason: "no progress for 60 s", callError: Fixtures.canceledByClient, abortError: nil)
        let evidence = DestinationLinkCutFault.judge(cut(), outcome: linkOutcome(ending), mode: .clientManaged)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: true, says: "link-cut (client-managed)", "aborted by the verifier")
    }

    func testLinkCutWhoseLinkNeverReadAsDownFailsFaultActed() throws {
        let evidence = DestinationLinkCutFault.judge(cut(confirmedDown: false), outcome: linkOutcome(socketClosed), mode: .peerToPeer)
        XCTAssertFalse(evidence.acted)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false,
                    says: "the fault did not act", "(but it did not read as down)")
    }

    func testLinkCutWhoseMigrationFailedBecauseQEMUClosedTheMonitorFailsFaultActedWithBothErrors() throws {
        let evidence = DestinationLinkCutFault.judge(cut(), outcome: linkOutcome(qemuMonitorClosed), mode: .peerToPeer)
        XCTAssertTrue(evidence.acted)
        XCTAssertFalse(evidence.errorAsExpected, "a QEMU that closed its monitor is not the daemons losing each other")
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false,
                    says: "mgmt-dst down at 1400 ms", "expected the daemons to lose each other", "QEMU unexpectedly closed the monitor")
    }

    func testLinkCutAcceptsTheDaemonsKeepaliveAndConnectionErrors() {
        for message in ["internal error: connection closed due to keepalive timeout", "Cannot recv data: Connection reset by peer",
                        "operation failed: migration job: Connection timed out"] {
            let evidence = DestinationLinkCutFault.judge(cut(), outcome: linkOutcome(.failed(message: message, kind: .operationFailed)),
                                                         mode: .peerToPeer)
            XCTAssertTrue(evidence.errorAsExpected, message)
        }
        let connection = DestinationLinkCutFault.judge(cut(), outcome: linkOutcome(.failed(message: "End of file while reading data", kind: .connection)),
                                                       mode: .peerToPeer)
        XCTAssertTrue(connection.errorAsExpected)
    }

    func testLinkCutAfterTheCallReturnedFailsFaultActed() throws {
        let evidence = DestinationLinkCutFault.judge(cut(down: 32_000), outcome: linkOutcome(socketClosed), mode: .peerToPeer)
        XCTAssertFalse(evidence.acted)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false, says: "-700 ms after the cut")
    }

    func testLinkCutThatCouldNotCutOrNeverCameFailsFaultActed() throws {
        let failed = DestinationLinkCutFault.judge(cut(confirmedDown: false, restored: nil, upAgain: nil, error: "RTNETLINK answers: Operation not permitted"),
                                                   outcome: linkOutcome(socketClosed), mode: .peerToPeer)
        XCTAssertFalse(failed.acted)
        XCTAssertNil(failed.removed, "nothing was installed, so nothing to remove")
        assertCheck(try Fixtures.faultActed(failed), CheckName.faultActed, passed: false, says: "could not cut: RTNETLINK answers")
        let never = DestinationLinkCutFault.judge(nil, outcome: linkOutcome(.completed, faultNote: "the migration completed before 8 MiB were transferred"),
                                                  mode: .peerToPeer)
        XCTAssertFalse(never.acted)
        XCTAssertFalse(never.errorAsExpected)
        assertCheck(try Fixtures.faultActed(never), CheckName.faultActed, passed: false,
                    says: "the link was never cut: the migration completed before 8 MiB were transferred", "got completed")
    }

    func testLinkCutLinkStillDownFailsFaultRemoved() throws {
        let evidence = DestinationLinkCutFault.judge(cut(upAgain: false), outcome: linkOutcome(socketClosed), mode: .peerToPeer)
        XCTAssertEqual(evidence.removed, false)
        assertCheck(try Fixtures.faultRemoved(evidence), CheckName.faultRemoved, passed: false, says: "mgmt-dst is STILL DOWN")
    }

    /// The link is down until the restore that brought it up: a failed attempt before it
    /// (the link still down) does not end the outage, in the record nor in either fault's
    /// evidence.
    func testTheRestoreInstantIsTheRestoreThatBroughtTheLinkUpNotAFailedAttempt() throws {
        var record = LinkCutRecord(interface: "mgmt-dst", downAtMilliseconds: 1_400, confirmedDown: true)
        record.noteRestore(up: false, atMilliseconds: 2_000)
        XCTAssertEqual(record.upAgain, false)
        XCTAssertEqual(record.restoredAtMilliseconds, 2_000, "still down: the failed attempt is all there is so far")
        record.noteRestore(up: true, atMilliseconds: 31_400)
        XCTAssertEqual(record.upAgain, true)
        XCTAssertEqual(record.restoredAtMilliseconds, 31_400)
        XCTAssertEqual(record.downMilliseconds, 30_000)
        assertCheck(try Fixtures.faultActed(DestinationLinkCutFault.judge(record, outcome: linkOutcome(socketClosed), mode: .peerToPeer)),
                    CheckName.faultActed, passed: true, says: "link down for 30 s in all")

        var guestNetwork = LinkCutRecord(interface: "br0", downAtMilliseconds: 1_400, confirmedDown: true)
        guestNetwork.noteRestore(up: false, atMilliseconds: 1_900)
        guestNetwork.noteRestore(up: true, atMilliseconds: 3_450)
        XCTAssertEqual(GuestNetworkCutFault.judge(guestNetwork, outcome: guestCutOutcome()).guestNetwork,
                       .cut(atMilliseconds: 1_400, milliseconds: 2_050), "the ping check allows the whole outage")
    }

    // MARK: guest-link-cut (GuestNetworkCutFault)

    /// A completed migration from 500 ms to 20500 ms whose job stats were read every 500 ms,
    /// 16 MiB more each time.
    func guestCutOutcome(_ ending: MigrationEnding = .completed, faultNote: String? = nil) -> MigrationOutcome {
        var outcome = Fixtures.outcome(ending, startedAt: 500, wall: 20_000, faultNote: faultNote)
        outcome.samples = stride(from: 1_000.0, through: 20_000, by: 500).map {
            JobSample(offsetMilliseconds: $0, jobType: "unbounded", dataProcessedBytes: UInt64($0 / 500) << 24)
        }
        return outcome
    }

    func guestCut(down: Double = 1_400, confirmedDown: Bool = true, restored: Double? = 3_450, upAgain: Bool? = true,
                  error: String? = nil) -> LinkCutRecord {
        LinkCutRecord(interface: "br0", downAtMilliseconds: down, confirmedDown: confirmedDown,
                      restoredAtMilliseconds: restored, upAgain: upAgain, error: error)
    }

    /// `fault-acted` of a migration that was expected to complete.
    func faultActedOnLanding(_ evidence: FaultEvidence) throws -> Check? {
        var o = try Fixtures.observation(.migrates)
        o.parameters = Fixtures.parameters(evidence.scenario)
        o.fault = evidence
        return Checks.faultActed(o)
    }

    func testGuestLinkCutActsWhenTheJobSentDataWhileTheGuestNetworkWasDown() throws {
        let evidence = GuestNetworkCutFault.judge(guestCut(), outcome: guestCutOutcome())
        XCTAssertTrue(evidence.acted)
        XCTAssertTrue(evidence.errorAsExpected)
        XCTAssertEqual(evidence.removed, true)
        XCTAssertEqual(evidence.guestNetwork, .cut(atMilliseconds: 1_400, milliseconds: 2_050))
        assertCheck(try faultActedOnLanding(evidence), CheckName.faultActed, passed: true,
                    says: "guest-link-cut: br0 down at 1400 ms for 2050 ms", "the job sent at least 48 MiB in 4 job-stats readings while it was down",
                    "the migration completed while the guest network was cut")
        assertCheck(try Fixtures.faultRemoved(evidence), CheckName.faultRemoved, passed: true, says: "br0 is up again")
    }

    func testGuestLinkCutWhoseJobSentNothingDuringTheOutageFailsFaultActed() throws {
        var outcome = guestCutOutcome()
        outcome.samples = outcome.samples.map { sample in
            var frozen = sample
            if sample.offsetMilliseconds >= 1_400 && sample.offsetMilliseconds <= 3_450 { frozen.dataProcessedBytes = 2 << 24 }
            return frozen
        }
        let evidence = GuestNetworkCutFault.judge(guestCut(), outcome: outcome)
        XCTAssertFalse(evidence.acted, "a migration that stalled with the guest network did not show it runs apart from it")
        assertCheck(try faultActedOnLanding(evidence), CheckName.faultActed, passed: false, says: "the job sent at least 0 B")
    }

    func testGuestLinkCutThatNeverReadAsDownClaimsNoOutage() throws {
        let evidence = GuestNetworkCutFault.judge(guestCut(confirmedDown: false), outcome: guestCutOutcome())
        XCTAssertFalse(evidence.acted)
        XCTAssertNil(evidence.guestNetwork, "no outage for the ping check to allow")
        XCTAssertFalse(evidence.evidence.contains("sent"), evidence.evidence)
        assertCheck(try faultActedOnLanding(evidence), CheckName.faultActed, passed: false, says: "br0 down at 1400 ms (but it did not read as down)")
    }

    func testGuestLinkCutWhoseMigrationFailedFailsWithTheError() throws {
        let evidence = GuestNetworkCutFault.judge(guestCut(), outcome: guestCutOutcome(socketClosed))
        XCTAssertFalse(evidence.errorAsExpected)
        assertCheck(try faultActedOnLanding(evidence), CheckName.faultActed, passed: false,
                    says: "expected the migration to complete over the management network", "client socket is closed")
    }

    func testGuestLinkCutThatNeverCutOrStayedDownFails() throws {
        let never = GuestNetworkCutFault.judge(nil, outcome: guestCutOutcome(faultNote: "the migration completed before 8 MiB were transferred"))
        XCTAssertFalse(never.acted)
        XCTAssertNil(never.guestNetwork, "no outage to allow for")
        assertCheck(try faultActedOnLanding(never), CheckName.faultActed, passed: false,
                    says: "the guest network was never cut: the migration completed before 8 MiB")
        let stuck = GuestNetworkCutFault.judge(guestCut(upAgain: false), outcome: guestCutOutcome())
        assertCheck(try Fixtures.faultRemoved(stuck), CheckName.faultRemoved, passed: false, says: "br0 is STILL DOWN")
        let refused = GuestNetworkCutFault.judge(guestCut(confirmedDown: false, restored: nil, upAgain: nil, error: "RTNETLINK answers: Operation not permitted"),
                                                 outcome: guestCutOutcome())
        XCTAssertFalse(refused.acted)
        XCTAssertNil(refused.guestNetwork)
    }

    // MARK: dst-already-active (DestinationOccupantFault)

    let alreadyExists = MigrationEnding.failed(
        message: "virDomainMigrateToURI3 failed (uri qemu+tcp://198.18.0.2/system, domain lab-guest): operation failed: domain 'lab-guest' already exists with uuid \(Fixtures.occupantUUID) [libvirt error 9]",
        kind: .operationFailed)
    let destroyed = (removed: true, note: "destroyed the pre-existing domain; none of it left on qemu+tcp://198.18.0.2/system")

    func testDstAlreadyActiveActsWhenPrepareRefusedTheRunningDomain() throws {
        let evidence = DestinationOccupantFault.judge(before: Fixtures.occupant, ending: alreadyExists, removal: destroyed)
        XCTAssertTrue(evidence.acted)
        XCTAssertTrue(evidence.errorAsExpected)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: true,
                    says: "a domain of the guest's name ran on the destination when the migration was called: uuid \(Fixtures.occupantUUID)",
                    "already exists with uuid")
        assertCheck(try Fixtures.faultRemoved(evidence), CheckName.faultRemoved, passed: true, says: "destroyed the pre-existing domain")
    }

    func testDstAlreadyActiveAcceptsLibvirtsDomainExistsError() {
        let ending = MigrationEnding.failed(message: "domain lab-guest exists", kind: .domainExists)
        XCTAssertTrue(DestinationOccupantFault.judge(before: Fixtures.occupant, ending: ending, removal: destroyed).errorAsExpected)
    }

    func testDstAlreadyActiveWithAnUnrelatedErrorFailsFaultActedWithBothErrors() throws {
        let evidence = DestinationOccupantFault.judge(before: Fixtures.occupant, ending: qemuMonitorClosed, removal: destroyed)
        XCTAssertTrue(evidence.acted)
        XCTAssertFalse(evidence.errorAsExpected)
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false,
                    says: "ran on the destination", "expected Prepare to refuse a domain that is already active", "could not open kernel file")
    }

    func testDstAlreadyActiveWithAnUnrelatedInvalidOperationFailsFaultActed() throws {
        let ending = MigrationEnding.failed(
            message: "virDomainMigrateToURI3 failed (uri qemu+tcp://198.18.0.2/system, domain lab-guest): Requested operation is not valid: domain is not running [libvirt error 55]",
            kind: .operationInvalid)
        let evidence = DestinationOccupantFault.judge(before: Fixtures.occupant, ending: ending, removal: destroyed)
        XCTAssertFalse(evidence.errorAsExpected, "an invalid operation that is not about the running domain is another reason")
        assertCheck(try Fixtures.faultActed(evidence), CheckName.faultActed, passed: false, says: "domain is not running")
    }

    func testDstAlreadyActiveWithoutARunningDomainFailsFaultActed() throws {
        let none = DestinationOccupantFault.judge(before: nil, ending: alreadyExists, removal: nil)
        XCTAssertFalse(none.acted)
        assertCheck(try Fixtures.faultActed(none), CheckName.faultActed, passed: false,
                    says: "the fault did not act: no domain of the guest's name ran on the destination")
        var paused = Fixtures.occupant
        paused.state = Fixtures.pausedMigrating
        XCTAssertFalse(DestinationOccupantFault.judge(before: paused, ending: alreadyExists, removal: destroyed).acted)
    }

    func testDstAlreadyActiveStandInNotRemovedFailsFaultRemoved() throws {
        let never = DestinationOccupantFault.judge(before: Fixtures.occupant, ending: alreadyExists, removal: nil)
        assertCheck(try Fixtures.faultRemoved(never), CheckName.faultRemoved, passed: false, says: "the stand-in domain was never removed")
        let left = DestinationOccupantFault.judge(before: Fixtures.occupant, ending: alreadyExists,
                                                  removal: (removed: false, note: "a domain lab-guest with its uuid is STILL on dst"))
        assertCheck(try Fixtures.faultRemoved(left), CheckName.faultRemoved, passed: false, says: "is STILL on dst")
    }
}
