import Foundation
import Lab
import Synchronization
import XCTest
@testable import Verifier

/// A `/proc` of its own for the host CPU scripts: processes and their threads, each with the
/// `stat` and `comm` files the kernel shows, and a network namespace link; the test changes
/// them between readings as a migration would.
final class SyntheticProc: Sendable {
    let root: URL
    /// The namespace `self/ns/net` names: the shell's own.
    static let ownNamespace = "net:[4026531840]"

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("synthetic-proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("self/ns"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("self/ns/net").path,
                                                   withDestinationPath: Self.ownNamespace)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    var path: String { root.path }

    /// A stat line as the kernel writes it: utime and stime are fields 14 and 15, starttime 22.
    static func statLine(_ id: Int32, _ name: String, utime: UInt64, stime: UInt64, startTicks: UInt64) -> String {
        "\(id) (\(name)) S 1 \(id) \(id) 0 -1 4194624 1790 0 3 0 \(utime) \(stime) 0 0 20 0 9 0 \(startTicks) "
            + "2147483648 100000 18446744073709551615 1 1 0 0 0 0 0 4096 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    }

    /// Process `pid` named `name` whose own line (every thread, the ended ones too) shows
    /// `utime`/`stime`; `namespace`: its `ns/net` link (`nil`: unreadable).
    func process(_ pid: Int32, _ name: String, utime: UInt64, stime: UInt64, startTicks: UInt64 = 5_000,
                 namespace: String? = SyntheticProc.ownNamespace) throws {
        let directory = root.appendingPathComponent("\(pid)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("task"), withIntermediateDirectories: true)
        try Self.statLine(pid, name, utime: utime, stime: stime, startTicks: startTicks)
            .write(to: directory.appendingPathComponent("stat"), atomically: true, encoding: .utf8)
        try (name + "\n").write(to: directory.appendingPathComponent("comm"), atomically: true, encoding: .utf8)
        let link = directory.appendingPathComponent("ns/net").path
        if let namespace, (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == nil {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("ns"), withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: namespace)
        }
    }

    /// Thread `tid` of `pid`, named `name`, at `utime`/`stime`.
    func thread(_ tid: Int32, of pid: Int32, _ name: String, utime: UInt64, stime: UInt64, startTicks: UInt64 = 5_000) throws {
        let directory = root.appendingPathComponent("\(pid)/task/\(tid)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Self.statLine(tid, name, utime: utime, stime: stime, startTicks: startTicks)
            .write(to: directory.appendingPathComponent("stat"), atomically: true, encoding: .utf8)
        try (name + "\n").write(to: directory.appendingPathComponent("comm"), atomically: true, encoding: .utf8)
    }

    func removeThread(_ tid: Int32, of pid: Int32) throws {
        try FileManager.default.removeItem(at: root.appendingPathComponent("\(pid)/task/\(tid)"))
    }

    func removeProcess(_ pid: Int32) throws {
        try FileManager.default.removeItem(at: root.appendingPathComponent("\(pid)"))
    }
}

/// A host whose shell is this machine's `sh`, reading a ``SyntheticProc`` instead of `/proc`,
/// with the guest's QEMU processes the test says.
final class SyntheticHost: HostShell {
    let hostName: String
    let proc: SyntheticProc
    let qemu: Mutex<[QEMUProcess]>
    var access: HostAccess { .local }
    private var shell: HostInspector { HostInspector(hostName: hostName, access: .local) }

    init(hostName: String, proc: SyntheticProc, qemu: [QEMUProcess] = []) {
        self.hostName = hostName
        self.proc = proc
        self.qemu = Mutex(qemu)
    }

    /// The product's scripts, with the synthetic tree as their `/proc`.
    func run(_ script: String, step: String, input: String?) throws(VerifierError) -> String {
        try shell.run(script.replacingOccurrences(of: "proc=/proc\n", with: "proc=\(shellQuoted(proc.path))\n"), step: step, input: input)
    }

    func capture(_ script: String, step: String) throws(VerifierError) -> CommandResult { try shell.capture(script, step: step) }
    func qemuProcesses(domainName: String) throws(VerifierError) -> [QEMUProcess] { qemu.withLock { $0 } }
    func startBackground(_ script: String, step: String, standardOutputPath: String) throws(VerifierError) -> any HostProcess {
        throw .environment("no background processes on a synthetic host")
    }
    func kill(processIDs: [Int32]) throws(VerifierError) -> [Int32] { [] }
    func interfaces() throws(VerifierError) -> Set<String> { [] }
    func listeningPorts(in range: ClosedRange<Int>) throws(VerifierError) -> [Int] { [] }
    func fileSize(_ path: String) -> UInt64? { nil }
    func readFile(_ path: String, fromOffset offset: UInt64) -> String? { nil }
}

/// The host CPU scripts run for real on synthetic `/proc` trees (so the scripts are tested,
/// not only the parser), and the sampler's discovery on them.
final class HostCPUTests: XCTestCase {
    let here = HostInspector(hostName: "synthetic", access: .local)
    let qemuPID: Int32 = 4200
    let daemonPID: Int32 = 300

    /// A source QEMU with a main loop, a vCPU, the migration thread, an iothread and a thread
    /// whose name has spaces and parentheses; and a libvirtd.
    func sourceHost() throws -> SyntheticProc {
        let proc = try SyntheticProc()
        try proc.process(qemuPID, "qemu-system-x86", utime: 1_000, stime: 200)
        try proc.thread(4200, of: qemuPID, "qemu-system-x86", utime: 300, stime: 100)
        try proc.thread(4201, of: qemuPID, "CPU 0/KVM", utime: 500, stime: 50)
        try proc.thread(4202, of: qemuPID, "mig/src/main", utime: 10, stime: 5)
        try proc.thread(4203, of: qemuPID, "IO iothread0", utime: 20, stime: 10)
        try proc.thread(4204, of: qemuPID, "x) (CPU 1/KVM", utime: 1, stime: 1)
        try proc.process(daemonPID, "libvirtd", utime: 40, stime: 10)
        try proc.thread(300, of: daemonPID, "libvirtd", utime: 40, stime: 10)
        return proc
    }

    func read(_ proc: SyntheticProc, _ pids: [Int32]) throws -> CPUTimesReading {
        try here.threadCPUTimes(of: pids, withTicks: true, procRoot: proc.path)
    }

    func testTheScriptPrintsEveryThreadAndParsesANameWithSpacesAndParentheses() throws {
        let proc = try sourceHost()
        let reading = try read(proc, [qemuPID, daemonPID, 999])
        XCTAssertGreaterThan(reading.ticksPerSecond ?? 0, 0, "getconf CLK_TCK")
        XCTAssertEqual(reading.goneProcessIDs, [999], "a process without a stat file has exited")
        XCTAssertEqual(reading.unreadableLineCount, 0)
        let qemu = try XCTUnwrap(reading.processes.first { $0.process.id == qemuPID })
        XCTAssertEqual(qemu.process.ticks, 1_200)
        XCTAssertEqual(qemu.process.startTicks, 5_000)
        XCTAssertEqual(qemu.threads.map(\.id).sorted(), [4200, 4201, 4202, 4203, 4204])
        let odd = try XCTUnwrap(qemu.threads.first { $0.id == 4204 })
        XCTAssertEqual(odd.name, "x) (CPU 1/KVM", "the name runs to the last ')'")
        XCTAssertEqual(odd.ticks, 2)
        XCTAssertEqual(ThreadRole.of(threadNamed: odd.name, threadID: odd.id, processID: qemuPID), .other)
    }

    /// Four readings 250 ms apart: threads work, a multifd channel and the return path appear
    /// (counted from 0), the iothread ends (its last ticks fall to "ended"), and last the
    /// QEMU exits; the daemon works throughout.
    func testReadingsOfASyntheticHostGiveEachRoleItsDeltaAndTheExitedQEMU() throws {
        let proc = try sourceHost()
        let pids = [qemuPID, daemonPID]
        let tracked = [qemuPID: TrackedProcess(kind: .qemu, startedInWindow: false),
                       daemonPID: TrackedProcess(kind: .daemon, startedInWindow: false)]
        var account = HostCPUAccount(hostName: "src")
        account.record(try read(proc, pids), tracked: tracked, atMilliseconds: 1_000)

        try proc.thread(4200, of: qemuPID, "qemu-system-x86", utime: 350, stime: 110)  // +60
        try proc.thread(4201, of: qemuPID, "CPU 0/KVM", utime: 590, stime: 60)          // +100
        try proc.thread(4202, of: qemuPID, "mig/src/main", utime: 80, stime: 15)         // +80
        try proc.thread(4204, of: qemuPID, "x) (CPU 1/KVM", utime: 3, stime: 2)          // +3
        try proc.thread(4205, of: qemuPID, "mig/src/send_0", utime: 30, stime: 10, startTicks: 6_000)  // new: 40
        try proc.thread(4206, of: qemuPID, "mig/src/return", utime: 5, stime: 2, startTicks: 6_001)    // new: 7
        try proc.process(qemuPID, "qemu-system-x86", utime: 1_250, stime: 240)           // 1200 + 290
        try proc.process(daemonPID, "libvirtd", utime: 60, stime: 20)
        account.record(try read(proc, pids), tracked: tracked, atMilliseconds: 1_250)

        try proc.removeThread(4203, of: qemuPID)  // ended, after 5 more ticks
        try proc.thread(4200, of: qemuPID, "qemu-system-x86", utime: 355, stime: 115)  // +10
        try proc.thread(4205, of: qemuPID, "mig/src/send_0", utime: 45, stime: 15, startTicks: 6_000)  // +20
        try proc.process(qemuPID, "qemu-system-x86", utime: 1_275, stime: 250)  // 1490 + 5 + 10 + 20
        try proc.process(daemonPID, "libvirtd", utime: 65, stime: 25)
        account.record(try read(proc, pids), tracked: tracked, atMilliseconds: 1_500)

        try proc.removeProcess(qemuPID)
        try proc.process(daemonPID, "libvirtd", utime: 70, stime: 25)
        let last = try read(proc, pids)
        XCTAssertEqual(last.goneProcessIDs, [qemuPID])
        account.record(last, tracked: tracked, atMilliseconds: 1_750)

        let perTick = 1 / Double(try XCTUnwrap(account.ticksPerSecond))
        let cost = account.cost()
        XCTAssertNil(cost.notMeasured)
        XCTAssertEqual(cost.sampleCount, 4)
        XCTAssertEqual(cost.qemuProcessIDs, [qemuPID])
        XCTAssertEqual(cost.daemonProcessIDs, [daemonPID])
        XCTAssertEqual(cost.qemuThreadCount, 7)
        let roles = cost.qemuCPUSecondsByRole
        XCTAssertEqual(try XCTUnwrap(roles[.vcpu]), 100 * perTick, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(roles[.migration]), 87 * perTick, accuracy: 1e-9, "mig/src/main 80 + the return path 7 from 0")
        XCTAssertEqual(try XCTUnwrap(roles[.multifd]), 60 * perTick, accuracy: 1e-9, "a channel that appeared counts from 0")
        XCTAssertEqual(try XCTUnwrap(roles[.mainLoop]), 70 * perTick, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(roles[.other]), 3 * perTick, accuracy: 1e-9, "the iothread's last reading, and the odd name")
        XCTAssertEqual(try XCTUnwrap(cost.qemuEndedThreadsCPUSeconds), 5 * perTick, accuracy: 1e-9, "the iothread's ticks after its last reading")
        XCTAssertEqual(try XCTUnwrap(cost.qemuCPUSeconds), 325 * perTick, accuracy: 1e-9, "the process's own line, last less first")
        XCTAssertEqual(try XCTUnwrap(cost.daemonCPUSeconds), 45 * perTick, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(cost.totalCPUSeconds), 370 * perTick, accuracy: 1e-9)
        XCTAssertEqual(cost.exitedQEMULastSampleMilliseconds, 1_500)
        XCTAssertEqual(cost.exitedQEMUGoneAtMilliseconds, 1_750)

        let figures = MigrationCPUSampling(source: account, destination: HostCPUAccount(hostName: "dst", notSampled: "no shell on the destination"),
                                           intervalMilliseconds: 250)
            .cost(movedBytes: 2 * 1_073_741_824, movedSource: "transferredBytes")
        XCTAssertEqual(try XCTUnwrap(figures.source.migrationCPUSeconds), 270 * perTick, accuracy: 1e-9, "the total less the vCPU's 100")
        XCTAssertEqual(try XCTUnwrap(figures.source.cpuSecondsPerGiB), 270 * perTick / 2, accuracy: 1e-9, "the migration's own CPU per GiB")
        XCTAssertNil(figures.destination.cpuSecondsPerGiB)
        XCTAssertEqual(figures.destination.notMeasured, "no shell on the destination")
        XCTAssertEqual(figures.movedGiB, 2)
        XCTAssertTrue(figures.method.contains("its QEMU last read at 1500 ms and found gone at 1750 ms"), figures.method)
        XCTAssertTrue(figures.method.contains("every 250 ms"), figures.method)
        XCTAssertTrue(figures.method.contains("src: 4 readings 1000-1750 ms (one every 250 ms)"), figures.method)
    }

    func testTheDaemonScriptFindsOnlyTheDaemonsOfTheShellsOwnNamespace() throws {
        let proc = try SyntheticProc()
        try proc.process(300, "libvirtd", utime: 1, stime: 1)
        try proc.process(301, "libvirtd", utime: 1, stime: 1, namespace: "net:[4026532999]")  // another lab host's
        try proc.process(302, "virtqemud", utime: 1, stime: 1)
        try proc.process(303, "bash", utime: 1, stime: 1)
        try proc.process(304, "libvirtd-helper", utime: 1, stime: 1)
        XCTAssertEqual(try here.libvirtDaemonProcessIDs(procRoot: proc.path), [300, 302])

        try proc.process(305, "virtqemud", utime: 1, stime: 1, namespace: nil)
        XCTAssertThrowsError(try here.libvirtDaemonProcessIDs(procRoot: proc.path)) { error in
            XCTAssertTrue("\(error)".contains("libvirt daemon 305"), "\(error)")
        }
    }

    /// Over ssh the scripts run in the login user's shell: bash, or busybox's ash on a small host.
    func testTheScriptsReadTheSameUnderBashAndBusybox() throws {
        let proc = try sourceHost()
        try proc.process(301, "libvirtd", utime: 1, stime: 1, namespace: "net:[4026532999]")
        let pids = [qemuPID, daemonPID, 999]
        let expected = try read(proc, pids)
        for shell in [["bash", "-c"], ["busybox", "sh", "-c"]] where FileManager.default.isExecutableFile(atPath: "/usr/bin/\(shell[0])") {
            let cpu = try CommandRunner.run(shell + [HostInspector.threadCPUScript(processIDs: pids, withTicks: true, procRoot: proc.path)],
                                            step: "read CPU times with \(shell[0])", timeoutSeconds: 10).output
            XCTAssertEqual(try CPUTimesReading(scriptOutput: cpu, askedFor: pids), expected, shell[0])
            let daemons = try CommandRunner.run(shell + [HostInspector.libvirtDaemonScript(procRoot: proc.path)],
                                                step: "list daemons with \(shell[0])", timeoutSeconds: 10).output
            XCTAssertEqual(daemons, "300 libvirtd\n", shell[0])
        }
    }

    func testTheScriptReadsThisTestProcessOnTheRealProc() throws {
        let pid = getpid()
        let reading = try here.threadCPUTimes(of: [pid], withTicks: true)
        let process = try XCTUnwrap(reading.processes.first)
        XCTAssertEqual(process.process.id, pid)
        XCTAssertTrue(process.threads.contains { $0.id == pid }, "the main thread is a task of its own")
        XCTAssertGreaterThan(process.process.ticks, 0, "this process has used some CPU")
    }

    // MARK: the sampler's discovery

    func testTheDestinationSamplerCountsTheIncomingQEMUFromZeroAndLeavesAStandInAlone() throws {
        let proc = try SyntheticProc()
        try proc.process(daemonPID, "libvirtd", utime: 100, stime: 20)
        try proc.thread(300, of: daemonPID, "libvirtd", utime: 100, stime: 20)
        // A domain of the guest's name that ran there before (dst-already-active's stand-in).
        try proc.process(4250, "qemu-system-x86", utime: 900, stime: 100)
        try proc.thread(4250, of: 4250, "qemu-system-x86", utime: 900, stime: 100)
        let standIn = QEMUProcess(pid: 4250, command: "qemu-system-x86", incoming: false)
        let host = SyntheticHost(hostName: "dst", proc: proc, qemu: [standIn])
        let clock = Mutex(0.0)
        let sampler = HostCPUSampler(shell: host, role: .destination, domainName: "lab-guest", intervalMilliseconds: 250) {
            clock.withLock { $0 }
        }
        sampler.sampleOnce(byThread: false)

        // Prepare starts the incoming QEMU.
        try proc.process(4300, "qemu-system-x86", utime: 20, stime: 10)
        try proc.thread(4300, of: 4300, "qemu-system-x86", utime: 15, stime: 5)
        try proc.thread(4301, of: 4300, "mig/dst/recv_0", utime: 5, stime: 5)
        host.qemu.withLock { $0 = [standIn, QEMUProcess(pid: 4300, command: "qemu-system-x86", incoming: true)] }
        clock.withLock { $0 = 250 }
        sampler.sampleOnce(byThread: false)

        try proc.process(4300, "qemu-system-x86", utime: 60, stime: 10)
        try proc.thread(4300, of: 4300, "qemu-system-x86", utime: 50, stime: 5)
        try proc.process(daemonPID, "libvirtd", utime: 110, stime: 20)
        clock.withLock { $0 = 500 }
        sampler.sampleOnce(byThread: false)

        let account = sampler.account
        let perTick = 1 / Double(try XCTUnwrap(account.ticksPerSecond))
        let cost = account.cost()
        XCTAssertEqual(cost.qemuProcessIDs, [4300], "the stand-in that was there first is not the migration's")
        XCTAssertEqual(try XCTUnwrap(cost.qemuCPUSecondsByRole[.mainLoop]), 55 * perTick, accuracy: 1e-9, "from 0: it started in the window")
        XCTAssertEqual(try XCTUnwrap(cost.qemuCPUSecondsByRole[.multifd]), 10 * perTick, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(cost.daemonCPUSeconds), 10 * perTick, accuracy: 1e-9, "the daemon counts from its first reading")
        XCTAssertEqual(cost.sampleCount, 3)
        XCTAssertEqual(cost.failedReadCount, 0, cost.lastFailure ?? "")
    }

    func testTheSourceSamplerTakesTheQEMUThereAtTheStartFromItsFirstReading() throws {
        let proc = try sourceHost()
        let host = SyntheticHost(hostName: "src", proc: proc, qemu: [QEMUProcess(pid: qemuPID, command: "qemu-system-x86", incoming: true)])
        let sampler = HostCPUSampler(shell: host, role: .source, domainName: "lab-guest", intervalMilliseconds: 250) { 0 }
        sampler.sampleOnce(byThread: false)
        try proc.thread(4201, of: qemuPID, "CPU 0/KVM", utime: 600, stime: 50)
        try proc.process(qemuPID, "qemu-system-x86", utime: 1_100, stime: 200)
        sampler.sampleOnce(byThread: false)
        let account = sampler.account
        let cost = account.cost()
        XCTAssertEqual(cost.qemuProcessIDs, [qemuPID], "a source QEMU that once came in (-incoming) is still the guest's")
        XCTAssertEqual(try XCTUnwrap(cost.qemuCPUSecondsByRole[.vcpu]), 100 / Double(try XCTUnwrap(account.ticksPerSecond)), accuracy: 1e-9)
    }

    func testAHostWithNeitherQEMUNorDaemonSaysSo() throws {
        let sampler = HostCPUSampler(shell: SyntheticHost(hostName: "bare", proc: try SyntheticProc()), role: .destination,
                                     domainName: "lab-guest", intervalMilliseconds: 250) { 0 }
        sampler.sampleOnce(byThread: false)
        sampler.sampleOnce(byThread: false)
        let cost = sampler.account.cost()
        XCTAssertEqual(cost.notMeasured, "no QEMU of the guest and no libvirt daemon was found in 2 readings")
        XCTAssertEqual(cost.failedReadCount, 0)
    }

    func testAShellThatPrintsNothingIsAFailedReadNotAFigure() throws {
        let sampler = HostCPUSampler(shell: EmptyShell(), role: .source, domainName: "lab-guest", intervalMilliseconds: 250) { 0 }
        sampler.sampleOnce(byThread: false)
        let cost = sampler.account.cost()
        XCTAssertEqual(cost.failedReadCount, 1)
        XCTAssertTrue(cost.lastFailure?.contains("cut short") == true, cost.lastFailure ?? "")
        XCTAssertTrue(cost.notMeasured?.contains("no reading succeeded") == true, cost.notMeasured ?? "")
        XCTAssertNil(cost.totalCPUSeconds)
    }
}

/// A shell whose scripts print nothing, with one QEMU of the guest.
private struct EmptyShell: HostShell {
    var hostName: String { "empty" }
    var access: HostAccess { .local }
    func run(_ script: String, step: String, input: String?) throws(VerifierError) -> String { "" }
    func capture(_ script: String, step: String) throws(VerifierError) -> CommandResult {
        CommandResult(command: [], exitStatus: 0, output: "", errorOutput: "")
    }
    func qemuProcesses(domainName: String) throws(VerifierError) -> [QEMUProcess] {
        [QEMUProcess(pid: 4100, command: "qemu-system-x86", incoming: false)]
    }
    func startBackground(_ script: String, step: String, standardOutputPath: String) throws(VerifierError) -> any HostProcess {
        throw .environment("no background processes on the empty shell")
    }
    func kill(processIDs: [Int32]) throws(VerifierError) -> [Int32] { [] }
    func interfaces() throws(VerifierError) -> Set<String> { [] }
    func listeningPorts(in range: ClosedRange<Int>) throws(VerifierError) -> [Int] { [] }
    func fileSize(_ path: String) -> UInt64? { nil }
    func readFile(_ path: String, fromOffset offset: UInt64) -> String? { nil }
}
