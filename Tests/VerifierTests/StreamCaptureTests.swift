import Foundation
import Lab
import PingMonitor
import XCTest
@testable import Verifier

/// A shell on this machine that finds commands in `directory` first: the host script runs as
/// written, with a fake `tcpdump` (or none at all, with `PATH` only `directory`).
struct PathPrefixedShell: HostShell {
    let inner = HostInspector(hostName: "dst", access: .local)
    let directory: String
    var onlyDirectory = false

    var hostName: String { inner.hostName }
    var access: HostAccess { inner.access }
    func run(_ script: String, step: String, input: String?) throws(VerifierError) -> String { try inner.run(script, step: step, input: input) }
    func capture(_ script: String, step: String) throws(VerifierError) -> CommandResult { try inner.capture(script, step: step) }
    func qemuProcesses(domainName: String) throws(VerifierError) -> [QEMUProcess] { try inner.qemuProcesses(domainName: domainName) }
    func kill(processIDs: [Int32]) throws(VerifierError) -> [Int32] { try inner.kill(processIDs: processIDs) }
    func interfaces() throws(VerifierError) -> Set<String> { try inner.interfaces() }
    func listeningPorts(in range: ClosedRange<Int>) throws(VerifierError) -> [Int] { try inner.listeningPorts(in: range) }
    func fileSize(_ path: String) -> UInt64? { inner.fileSize(path) }
    func readFile(_ path: String, fromOffset offset: UInt64) -> String? { inner.readFile(path, fromOffset: offset) }
    func startBackground(_ script: String, step: String, standardOutputPath: String) throws(VerifierError) -> any HostProcess {
        let path = onlyDirectory ? shellQuoted(directory) : "\(shellQuoted(directory)):$PATH"
        return try inner.startBackground("PATH=\(path); export PATH\n" + script, step: step, standardOutputPath: standardOutputPath)
    }
}

/// tcpdump's command line, the host script, and the capture's whole life on this machine with
/// a fake tcpdump: started, listening, stopped (and every process of it gone), read.
final class StreamCaptureTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("stream-capture-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: the command line

    func testTheTcpdumpCommandLine() {
        let settings = StreamCaptureSettings()
        XCTAssertEqual(settings.packetLimit, 8 * 1_048_576 / 272)
        XCTAssertEqual(settings.tcpdumpArguments, ["tcpdump", "-i", "any", "-n", "-U", "--immediate-mode", "-s", "256", "-c", "30840",
                                                   "-w", "-", "tcp portrange 49152-49215"])
        var small = StreamCaptureSettings()
        small.snapLengthBytes = 128
        small.maximumFileBytes = 1_440
        small.ports = 50000...50010
        XCTAssertEqual(small.packetLimit, 10)
        XCTAssertEqual(small.tcpdumpArguments.suffix(6), ["128", "-c", "10", "-w", "-", "tcp portrange 50000-50010"])
        small.guestAddress = IPAddress("2001:2::10")
        XCTAssertEqual(small.tcpdumpArguments.last, "host 2001:2::10 and (icmp or icmp6)", "an echo capture follows the guest only")
        small.maximumFileBytes = 1
        XCTAssertEqual(small.packetLimit, 1, "at least one packet")
    }

    func testTheHostScriptBecomesTcpdumpAndEndsItWhenItsInputEnds() {
        XCTAssertEqual(StreamCaptureSettings().hostScript, """
            command -v tcpdump >/dev/null 2>&1 || { echo 'migverify-capture: tcpdump is not installed' >&2; exit 127; }
            exec 3<&0
            { read -r _ <&3; [ "$(cut -d' ' -f2 /proc/$$/stat 2>/dev/null)" = "(tcpdump)" ] && kill $$; } </dev/null >/dev/null 2>&1 &
            exec tcpdump -i any -n -U --immediate-mode -s 256 -c 30840 -w - 'tcp portrange 49152-49215' </dev/null 3<&-
            """)
    }

    func testTheKernelsDropCountIsReadFromTcpdumpsLastWords() {
        XCTAssertEqual(StreamCapture.droppedByKernel("tcpdump: listening on any\n12 packets captured\n14 packets received by filter\n2 packets dropped by kernel\n"), 2)
        XCTAssertNil(StreamCapture.droppedByKernel("tcpdump: listening on any\n"))
    }

    // MARK: a fake tcpdump

    /// Writes an executable `tcpdump` into the test directory: it writes `capture` to its
    /// standard output, says it listens (unless `listens` is false), and waits; SIGTERM makes
    /// it count its packets and end (unless `ignoresTERM`). It writes its pid to `pid`.
    private func fakeTcpdump(capture: TestPcap, listens: Bool = true, ignoresTERM: Bool = false, failsWith: String? = nil) throws {
        let fixture = directory.appendingPathComponent("fixture.pcap")
        try capture.write(to: fixture)
        let pidFile = directory.appendingPathComponent("pid").path
        var script = "#!/bin/sh\necho $$ > \(shellQuoted(pidFile))\n"
        if let failsWith { script += "echo \(shellQuoted(failsWith)) >&2\nexit 1\n" }
        script += ignoresTERM ? "trap '' TERM\n"
            : "trap 'echo \"6 packets captured\" >&2; echo \"6 packets received by filter\" >&2; echo \"1 packets dropped by kernel\" >&2; exit 0' TERM\n"
        script += "cat \(shellQuoted(fixture.path))\n"
        if listens { script += "echo 'tcpdump: listening on any, link-type LINUX_SLL2 (Linux cooked v2), snapshot length 256 bytes' >&2\n" }
        script += "while :; do sleep 0.05; done\n"
        let path = directory.appendingPathComponent("tcpdump").path
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    }

    /// The fake tcpdump's process id, once it wrote it.
    private func fakePID() throws -> Int32 {
        let text = try String(contentsOfFile: directory.appendingPathComponent("pid").path, encoding: .utf8)
        return try XCTUnwrap(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    private func isAlive(_ pid: Int32) -> Bool {
        // A zombie is gone for our purpose: it runs nothing.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        return !stat.contains(") Z ")
    }

    private var outputPath: String { directory.appendingPathComponent("capture.pcap").path }

    func testACaptureListensThenStopsAndIsRead() throws {
        try fakeTcpdump(capture: WireFixtures.tlsMigration(channels: 2))
        let capture = StreamCapture.start(on: PathPrefixedShell(directory: directory.path), path: outputPath, keep: true)
        let pid = try fakePID()
        XCTAssertTrue(isAlive(pid), "tcpdump runs until stopped")
        let seen = capture.stop()
        XCTAssertFalse(isAlive(pid), "tcpdump is gone once stopped")
        guard case .seen(let stream) = seen else { return XCTFail("\(seen)") }
        XCTAssertEqual(stream.connections.map(\.start), [.tlsHandshake, .tlsHandshake])
        XCTAssertEqual(stream.packetsDroppedByKernel, 1)
        XCTAssertEqual(stream.packetLimit, StreamCaptureSettings().packetLimit)
        XCTAssertEqual(stream.capturePath, outputPath)
        XCTAssertTrue(FileManager.default.fileExists(atPath: outputPath), "kept")
        XCTAssertEqual(capture.stop(), seen, "a second stop returns the same")
    }

    func testACaptureNotKeptIsRemovedOnceRead() throws {
        try fakeTcpdump(capture: WireFixtures.plainMigration())
        let capture = StreamCapture.start(on: PathPrefixedShell(directory: directory.path), path: outputPath, keep: false)
        guard case .seen(let stream) = capture.stop() else { return XCTFail("not read") }
        XCTAssertNil(stream.capturePath)
        XCTAssertEqual(stream.connections.first?.start, .qemuMainStream)
        XCTAssertFalse(FileManager.default.fileExists(atPath: outputPath))
    }

    func testATcpdumpThatIgnoresBeingToldIsKilledWithItsGroup() throws {
        try fakeTcpdump(capture: WireFixtures.plainMigration(), ignoresTERM: true)
        var settings = StreamCaptureSettings()
        settings.stopGraceSeconds = 0.3
        let capture = StreamCapture.start(on: PathPrefixedShell(directory: directory.path), path: outputPath, keep: false, settings: settings)
        let pid = try fakePID()
        let seen = capture.stop()
        XCTAssertFalse(isAlive(pid), "SIGKILL to the capture's own process group")
        guard case .notLooked(let reason) = seen else { return XCTFail("\(seen)") }
        XCTAssertTrue(reason.hasPrefix("tcpdump on dst did not end cleanly (exit status 137)"), reason)
    }

    func testAHostWithoutTcpdumpIsOneLineNamingIt() throws {
        let empty = directory.appendingPathComponent("empty").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let capture = StreamCapture.start(on: PathPrefixedShell(directory: empty, onlyDirectory: true), path: outputPath, keep: true)
        let seen = capture.stop()
        XCTAssertEqual(seen, .notLooked("tcpdump is not installed on dst (this machine): install it (Debian: apt-get install tcpdump) to capture the migration ports (TCP 49152-49215)"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: outputPath), "nothing left of a capture that never ran")
    }

    func testATcpdumpThatCannotCaptureSaysWhy() throws {
        try fakeTcpdump(capture: WireFixtures.plainMigration(),
                        failsWith: "tcpdump: any: You don't have permission to perform this capture on that device")
        let seen = StreamCapture.start(on: PathPrefixedShell(directory: directory.path), path: outputPath, keep: false).stop()
        guard case .notLooked(let reason) = seen else { return XCTFail("\(seen)") }
        XCTAssertEqual(reason, "tcpdump could not capture on dst (this machine), exit status 1: tcpdump: any: You don't have permission to perform this capture on that device")
    }

    func testATcpdumpThatNeverListensIsStoppedAtTheTimeout() throws {
        try fakeTcpdump(capture: WireFixtures.plainMigration(), listens: false)
        var settings = StreamCaptureSettings()
        settings.startTimeoutSeconds = 0.5
        let started = Date()
        let capture = StreamCapture.start(on: PathPrefixedShell(directory: directory.path), path: outputPath, keep: false, settings: settings)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertFalse(isAlive(try fakePID()))
        guard case .notLooked(let reason) = capture.stop() else { return XCTFail("started") }
        XCTAssertTrue(reason.hasPrefix("tcpdump did not start listening within 0.5 s on dst (this machine)"), reason)
    }

    func testAnInterruptionEndsTheWaitForTcpdump() throws {
        try fakeTcpdump(capture: WireFixtures.plainMigration(), listens: false)
        let capture = StreamCapture.start(on: PathPrefixedShell(directory: directory.path), path: outputPath, keep: false) { true }
        guard case .notLooked(let reason) = capture.stop() else { return XCTFail("started") }
        XCTAssertTrue(reason.hasPrefix("the capture was interrupted before tcpdump listened on dst"), reason)
    }

    func testNoShellOnTheDestinationIsSaid() {
        XCTAssertEqual(StreamCapture.start(on: nil, path: outputPath, keep: false).stop(),
                       .notLooked("no shell on the destination host to run tcpdump on: use a qemu+ssh:// URI or --dest-ssh USER@HOST"))
    }

    // MARK: the real tcpdump

    /// The real tcpdump, run as the lab runs it (`ip netns exec`), in a network namespace of
    /// the test's own (`wirecap-test-PID`, loopback only, deleted at the end): three
    /// connections to migration ports, begun as QEMU's stream, a TLS handshake and a multifd
    /// channel, read back from what tcpdump wrote (`-i any`: Linux cooked v2).
    func testARealTcpdumpInANamespaceOfItsOwnSeesHowEachConnectionBegan() throws {
        try XCTSkipUnless(getuid() == 0, "needs root to make a network namespace")
        for tool in ["tcpdump", "nc", "ip", "ping"] {
            try XCTSkipUnless(CommandRunner.locate(tool) != nil, "needs \(tool) (scripts/packages)")
        }
        let namespace = "wirecap-test-\(getpid())"
        try CommandRunner.run(["ip", "netns", "add", namespace], step: "make the test's namespace")
        defer { _ = try? CommandRunner.capture(["ip", "netns", "delete", namespace], step: "delete the test's namespace") }
        try CommandRunner.run(["ip", "-n", namespace, "link", "set", "lo", "up"], step: "loopback up")
        let host = HostInspector(hostName: namespace, access: .namespace(namespace))
        let capture = StreamCapture.start(on: host, path: outputPath, keep: true)
        var echoSettings = StreamCaptureSettings()
        echoSettings.guestAddress = .v4(IPv4Address(127, 0, 0, 1))
        let echoPath = directory.appendingPathComponent("echoes.pcap").path
        let echoCapture = EchoCapture.start(on: host, path: echoPath, keep: true, settings: echoSettings)
        // QEVM + version 3; a TLS record header (0x16 0x03 0x01); the multifd magic + version 1.
        let starts = [(49160, #"QEVM\000\000\000\003\007"#), (49161, #"\026\003\001\002\000\001\000\001\374\003\003"#),
                      (49162, #"\021\042\063\104\000\000\000\001"#)]
        for (port, bytes) in starts {
            try CommandRunner.run(["ip", "netns", "exec", namespace, "sh", "-c",
                                   "nc -l 127.0.0.1 \(port) >/dev/null & sleep 0.3; printf '\(bytes)' | nc -N 127.0.0.1 \(port); wait"],
                                  step: "a connection to \(port)", timeoutSeconds: 20)
        }
        // Three echoes of the "guest", loopback's 127.0.0.1, each seen going out and coming in.
        try CommandRunner.run(["ip", "netns", "exec", namespace, "ping", "-c", "3", "-i", "0.2", "-n", "127.0.0.1"],
                              step: "ping the namespace's loopback", timeoutSeconds: 20)
        let seen = capture.stop()
        guard case .seen(let stream) = seen else { return XCTFail("\(seen)") }
        guard case .seen(let echoes) = echoCapture.stop() else { return XCTFail("\(echoCapture.stop())") }
        XCTAssertEqual(echoes.capturePath, echoPath)
        XCTAssertEqual(echoes.hostName, namespace)
        XCTAssertEqual(echoes.guestAddress, "127.0.0.1")
        XCTAssertEqual(echoes.probesBeforeFirstReply, 1, "\(echoes)")
        XCTAssertEqual(echoes.firstReplySequence, echoes.firstProbeSequence)
        XCTAssertEqual(echoes.echoPacketsCaptured, 6, "3 requests and 3 replies, once each on lo: \(echoes)")
        XCTAssertNotNil(echoes.guestAnswerDelayMilliseconds, "\(echoes)")
        XCTAssertTrue(echoes.clockIsThisMachines, "a lab namespace shares this machine's clock")
        let now = Date().timeIntervalSince1970 * 1e9
        XCTAssertLessThan(abs(Double(try XCTUnwrap(echoes.firstProbeEpochNanoseconds)) - now), 120e9, "kernel timestamps on CLOCK_REALTIME")
        XCTAssertEqual(stream.connections.map(\.serverPort), [49160, 49161, 49162], "\(stream)")
        XCTAssertEqual(stream.connections.map(\.start), [.qemuMainStream, .tlsHandshake, .multifdChannel])
        XCTAssertTrue(stream.connections.allSatisfy(\.sawOpening))
        XCTAssertEqual(stream.connections.first?.clientToServer.firstBytesHex, "5145564d0000000307")
        XCTAssertEqual(stream.connections.first?.server, "127.0.0.1:49160")
        XCTAssertEqual(stream.packetsDroppedByKernel, 0)
        XCTAssertEqual(stream.undecodedFrames, 0, "the echoes are the other capture's")
        XCTAssertEqual(stream.capturePath, outputPath)
        XCTAssertEqual(try CommandRunner.run(["ip", "netns", "pids", namespace], step: "processes left").output, "",
                       "tcpdump and its watcher are gone")
    }

    // MARK: the background command

    func testABackgroundCommandEndsWhenItsInputEndsAndSaysSo() throws {
        let output = directory.appendingPathComponent("out").path
        let command = try BackgroundCommand.start(["sh", "-c", "echo started >&2; read -r line; echo \"read: $line\"; echo ended >&2"],
                                                  step: "test", standardOutputPath: output)
        let deadline = Date().addingTimeInterval(5)
        while !command.errorOutput.contains("started"), Date() < deadline { usleep(10_000) }
        XCTAssertNil(command.exitStatus, "it waits for its input")
        XCTAssertEqual(command.stop(graceSeconds: 5), 0)
        XCTAssertEqual(command.errorOutput, "started\nended\n")
        XCTAssertEqual(try String(contentsOfFile: output, encoding: .utf8), "read: \n")
        let mode = try FileManager.default.attributesOfItem(atPath: output)[.posixPermissions] as? NSNumber
        XCTAssertEqual(mode?.intValue, 0o600)
        XCTAssertEqual(command.stop(graceSeconds: 5), 0, "idempotent")
    }

    func testABackgroundCommandKeepsTheFirstPartOfALongStandardErrorAndEnds() throws {
        let output = directory.appendingPathComponent("out").path
        // 100 000 bytes of 'x' then a marker: more than the limit, so the marker is dropped.
        let command = try BackgroundCommand.start(["sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x >&2; echo END >&2"],
                                                  step: "test", standardOutputPath: output)
        XCTAssertEqual(command.stop(graceSeconds: 5), 0)
        let said = command.errorOutput
        XCTAssertEqual(said.utf8.count, BackgroundCommand.errorOutputLimitBytes)
        XCTAssertTrue(said.allSatisfy { $0 == "x" }, "the first bytes are kept, the last dropped")
    }

    func testABackgroundCommandLeftAloneIsStoppedWhenReleased() throws {
        let pidFile = directory.appendingPathComponent("child").path
        do {
            let command = try BackgroundCommand.start(["sh", "-c", "trap '' TERM; sleep 30 & echo $! > \(shellQuoted(pidFile)); wait"],
                                                      step: "test", standardOutputPath: directory.appendingPathComponent("out").path)
            let deadline = Date().addingTimeInterval(5)
            while !FileManager.default.fileExists(atPath: pidFile), Date() < deadline { usleep(10_000) }
            XCTAssertNil(command.exitStatus)
        }
        let text = try String(contentsOfFile: pidFile, encoding: .utf8)
        let child = try XCTUnwrap(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        let deadline = Date().addingTimeInterval(5)
        while isAlive(child), Date() < deadline { usleep(10_000) }
        XCTAssertFalse(isAlive(child), "the group's other processes go too")
    }

    func testABackgroundCommandRefusesALinkAsItsOutput() throws {
        let target = directory.appendingPathComponent("target").path
        let link = directory.appendingPathComponent("link").path
        try "keep".write(toFile: target, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        XCTAssertThrowsError(try BackgroundCommand.start(["true"], step: "test", standardOutputPath: link)) { error in
            XCTAssertTrue("\(error)".contains("cannot create \(link)"), "\(error)")
        }
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "keep")
    }
}
