import Foundation
import XCTest
@testable import Verifier

/// The pure part of the host CPU figures: thread names to roles, stat lines, the script's
/// output, and readings accumulated into what each process and role cost.
final class ThreadCPUTests: XCTestCase {
    func testQEMUsThreadNamesOfVersion10And7Point2HaveTheirRoles() {
        let expected: [(String, ThreadRole)] = [
            ("CPU 0/KVM", .vcpu), ("CPU 15/TCG", .vcpu), ("ALL CPUs/TCG", .vcpu), ("CPU 1/DUMMY", .vcpu),
            ("mig/src/main", .migration), ("mig/src/return", .migration), ("mig/src/tls", .migration),
            ("mig/dst/listen", .migration), ("mig/dst/fault", .migration), ("mig/dst/preempt", .migration),
            ("mig/snapshot", .migration), ("live_migration", .migration), ("return path", .migration),
            ("postcopy/listen", .migration), ("fault-default", .migration), ("fault-fast", .migration),
            ("mig/src/send_0", .multifd), ("mig/src/send_15", .multifd), ("mig/dst/recv_3", .multifd),
            ("multifdsend_0", .multifd), ("multifdrecv_7", .multifd),
            ("IO iothread0", .other), ("call_rcu", .other), ("worker", .other), ("vnc_worker", .other),
            ("mig/dirtyrate", .other), ("CPU x/KVM", .other), ("CPU /KVM", .other), ("multifdsend_", .other),
            ("qemu-system-x86", .other),
        ]
        for (name, role) in expected {
            XCTAssertEqual(ThreadRole.of(threadNamed: name, threadID: 11, processID: 10), role, name)
        }
        XCTAssertEqual(ThreadRole.of(threadNamed: "qemu-system-x86", threadID: 10, processID: 10), .mainLoop)
        XCTAssertEqual(ThreadRole.of(threadNamed: "CPU 0/KVM", threadID: 10, processID: 10), .mainLoop, "the main thread is the main loop, whatever its name")
    }

    func testAStatLineIsReadFromItsLastParenthesis() throws {
        let line = SyntheticProc.statLine(77, "a) S 1 2 (b", utime: 1_234, stime: 56, startTicks: 9_999)
        let task = try XCTUnwrap(TaskCPUTime(statLine: Substring(line.dropLast())))
        XCTAssertEqual(task, TaskCPUTime(id: 77, name: "a) S 1 2 (b", ticks: 1_290, startTicks: 9_999))
        XCTAssertNil(TaskCPUTime(statLine: "77 (cut short) S 1 2 3"), "too few fields")
        XCTAssertNil(TaskCPUTime(statLine: "x (name) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"), "no id")
        XCTAssertNil(TaskCPUTime(statLine: "77 no parentheses S 1"))
    }

    func testTheScriptsOutputMustEndAndAnswerForEveryProcessAskedFor() throws {
        let stat = SyntheticProc.statLine(10, "qemu", utime: 5, stime: 5, startTicks: 1).dropLast()
        let thread = SyntheticProc.statLine(11, "CPU 0/KVM", utime: 3, stime: 1, startTicks: 2).dropLast()
        let reading = try CPUTimesReading(scriptOutput: "ticks 100\nprocess 10 \(stat)\nthread 10 \(thread)\nthread 10 garbage\ngone 12\nend\n",
                                          askedFor: [10, 12])
        XCTAssertEqual(reading.ticksPerSecond, 100)
        XCTAssertEqual(reading.processes.map(\.process.id), [10])
        XCTAssertEqual(reading.processes.first?.threads.map(\.name), ["CPU 0/KVM"])
        XCTAssertEqual(reading.goneProcessIDs, [12])
        XCTAssertEqual(reading.unreadableLineCount, 1)
        XCTAssertThrowsError(try CPUTimesReading(scriptOutput: "ticks 100\nprocess 10 \(stat)\n", askedFor: [10]), "no end line")
        XCTAssertThrowsError(try CPUTimesReading(scriptOutput: "ticks 100\nend\n", askedFor: [10]), "nothing of 10")
        XCTAssertThrowsError(try CPUTimesReading(scriptOutput: "ticks 0\nend\n", askedFor: []), "no clock")
    }

    // MARK: the account

    static func reading(_ processes: [(pid: Int32, total: UInt64, start: UInt64, threads: [(Int32, String, UInt64)])],
                        gone: [Int32] = []) -> CPUTimesReading {
        CPUTimesReading(ticksPerSecond: 100, processes: processes.map { process in
            ProcessCPUTimes(process: TaskCPUTime(id: process.pid, name: "qemu-system-x86", ticks: process.total, startTicks: process.start),
                            threads: process.threads.map { TaskCPUTime(id: $0.0, name: $0.1, ticks: $0.2, startTicks: process.start) })
        }, goneProcessIDs: gone)
    }

    func testAProcessStartedInTheWindowCountsFromZeroAndAnUntrackedOneNotAtAll() throws {
        var account = HostCPUAccount(hostName: "dst")
        let tracked = [20: TrackedProcess(kind: .qemu, startedInWindow: true)] as [Int32: TrackedProcess]
        account.record(Self.reading([(20, 30, 1, [(20, "qemu", 20), (21, "mig/dst/recv_0", 10)]),
                                     (99, 500, 1, [(99, "qemu", 500)])]), tracked: tracked, atMilliseconds: 0)
        account.record(Self.reading([(20, 80, 1, [(20, "qemu", 60), (21, "mig/dst/recv_0", 20)])]), tracked: tracked, atMilliseconds: 250)
        let cost = account.cost()
        XCTAssertEqual(cost.qemuProcessIDs, [20])
        XCTAssertEqual(cost.qemuCPUSeconds, 0.8)
        XCTAssertEqual(cost.qemuCPUSecondsByRole[.mainLoop], 0.6)
        XCTAssertEqual(cost.qemuCPUSecondsByRole[.multifd], 0.2)
        XCTAssertEqual(cost.qemuCPUSecondsByRole[.vcpu], 0, "every role is there")
        XCTAssertNil(cost.daemonCPUSeconds, "no daemon was seen")
        XCTAssertEqual(cost.totalCPUSeconds, 0.8)
    }

    func testAnotherProcessUnderAReusedIDEndsTheTrackedOne() {
        var account = HostCPUAccount(hostName: "src")
        let tracked = [30: TrackedProcess(kind: .qemu, startedInWindow: false)] as [Int32: TrackedProcess]
        account.record(Self.reading([(30, 100, 1, [(30, "qemu", 100)])]), tracked: tracked, atMilliseconds: 0)
        account.record(Self.reading([(30, 150, 1, [(30, "qemu", 150)])]), tracked: tracked, atMilliseconds: 250)
        account.record(Self.reading([(30, 7, 2, [(30, "bash", 7)])]), tracked: tracked, atMilliseconds: 500)
        account.record(Self.reading([(30, 9, 2, [(30, "bash", 9)])]), tracked: tracked, atMilliseconds: 750)
        let cost = account.cost()
        XCTAssertEqual(cost.qemuCPUSeconds, 0.5)
        XCTAssertEqual(cost.exitedQEMULastSampleMilliseconds, 250)
        XCTAssertEqual(cost.exitedQEMUGoneAtMilliseconds, 500)
    }

    func testAHostWithoutReadingsSaysWhyItIsNotMeasured() {
        var failed = HostCPUAccount(hostName: "src")
        failed.recordFailure("ssh: connect to host src port 22: Connection refused")
        XCTAssertEqual(failed.cost().notMeasured, "no reading succeeded (1 failed; last: ssh: connect to host src port 22: Connection refused)")
        var empty = HostCPUAccount(hostName: "src")
        empty.record(CPUTimesReading(ticksPerSecond: 100, processes: []), tracked: [:], atMilliseconds: 0)
        XCTAssertEqual(empty.cost().notMeasured, "no QEMU of the guest and no libvirt daemon was found in 1 readings")
        XCTAssertEqual(HostCPUAccount(hostName: "src", notSampled: "no shell on the source").cost().notMeasured, "no shell on the source")
    }

    func testNothingMovedGivesNoPerGiBFigure() {
        var account = HostCPUAccount(hostName: "src")
        let tracked = [30: TrackedProcess(kind: .daemon, startedInWindow: false)] as [Int32: TrackedProcess]
        account.record(Self.reading([(30, 100, 1, [])]), tracked: tracked, atMilliseconds: 0)
        account.record(Self.reading([(30, 150, 1, [])]), tracked: tracked, atMilliseconds: 250)
        let sampling = MigrationCPUSampling(source: account, destination: account, intervalMilliseconds: 250, recovered: true)
        let none = sampling.cost(movedBytes: 0, movedSource: "transferredBytes")
        XCTAssertNil(none.source.cpuSecondsPerGiB)
        XCTAssertNil(none.movedGiB)
        XCTAssertEqual(none.source.daemonCPUSeconds, 0.5)
        XCTAssertTrue(none.method.contains("the recovered migration's second call was not sampled"), none.method)
        XCTAssertEqual(sampling.cost(movedBytes: 536_870_912, movedSource: "x").source.cpuSecondsPerGiB, 1, "0.5 s over half a GiB")
    }
}
