import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import Lab
import Libvirt
import PingMonitor

/// Fast tests of the lab's pieces that need no namespaces or daemons.
final class LabUnitTests: XCTestCase {
    func testDefaultAddressesStayInsideTheLabRange() throws {
        let configuration = LabConfiguration()
        let addresses = [configuration.clientAddress, configuration.clientGuestNetworkAddress, configuration.guestAddress,
                         configuration.source.address, configuration.destination.address]
        XCTAssertEqual(Set(addresses).count, addresses.count, "addresses must differ")
        // Two networks: the hosts only on the management network, the guest only on the guest network.
        let management = try XCTUnwrap(IPNetwork("198.18.0.0/24")), guests = try XCTUnwrap(IPNetwork("198.18.1.0/24"))
        for host in configuration.hosts {
            XCTAssertTrue(management.contains(try XCTUnwrap(IPAddress(host.address))), host.address)
        }
        XCTAssertTrue(management.contains(try XCTUnwrap(IPAddress(configuration.clientAddress))))
        XCTAssertTrue(guests.contains(try XCTUnwrap(IPAddress(configuration.guestAddress))))
        XCTAssertTrue(guests.contains(try XCTUnwrap(IPAddress(configuration.clientGuestNetworkAddress))))
        let management6 = try XCTUnwrap(IPNetwork("2001:2::/64")), guests6 = try XCTUnwrap(IPNetwork("2001:2:0:1::/64"))
        for text in configuration.hosts.map(\.ipv6Address) + [configuration.clientIPv6Address] {
            XCTAssertTrue(management6.contains(try XCTUnwrap(IPAddress(text))), text)
        }
        for text in [configuration.guestIPv6Address, configuration.clientGuestNetworkIPv6Address] {
            XCTAssertTrue(guests6.contains(try XCTUnwrap(IPAddress(text))), text)
        }
        XCTAssertNotEqual(configuration.source.hostUUID, configuration.destination.hostUUID)
        XCTAssertEqual(Set(configuration.namespaces).count, 4)
        XCTAssertTrue(configuration.namespaces.allSatisfy { $0.hasPrefix("\(configuration.namePrefix)-") })
        XCTAssertEqual(configuration.source.tcpURI, "qemu+tcp://198.18.0.1/system")
        XCTAssertTrue(configuration.sshURI(configuration.destination).hasPrefix("qemu+ssh://root@198.18.0.2/system?command="))
    }

    private func sampleImage(kind: GuestKind = .initramfs) -> GuestImage {
        GuestImage(kind: kind, kernelPath: "/cache/vmlinuz", initrdPath: "/cache/initrd.img",
                   diskPath: kind == .debian ? "/cache/debian.qcow2" : nil, inputsDigest: "abc",
                   kernelRelease: "6.1.0-56-amd64", containsMemeater: true)
    }

    func testDomainXMLForTCGWithOddMemorySize() {
        let lab = Lab()
        let definition = lab.guestDefinition(image: sampleImage(), memoryMiB: 2111, memeaterSizeMiB: 1024,
                                             emulatorPath: "/usr/bin/qemu-system-x86_64", accelerator: .tcg)
        let xml = definition.xml()
        XCTAssertTrue(xml.contains("<domain type='qemu'>"), xml)
        XCTAssertTrue(xml.contains("<memory unit='MiB'>2111</memory>"), xml)
        XCTAssertTrue(xml.contains("qemu64"), xml)
        XCTAssertTrue(xml.contains("<mac address='\(lab.configuration.guestMACAddress)'/>"), xml)
        XCTAssertTrue(xml.contains("<source bridge='br-guest'/>"), xml)
        XCTAssertTrue(xml.contains("<target dev='labtap0'/>"), xml)
        XCTAssertTrue(xml.contains("append='on'"), xml)
        XCTAssertTrue(xml.contains("<emulator>/usr/bin/qemu-system-x86_64</emulator>"), xml)
        XCTAssertTrue(xml.contains("lab.ip=198.18.1.10/24"), xml)
        XCTAssertTrue(xml.contains("lab.ip6=2001:2:0:1::10/64"), xml)
        XCTAssertTrue(xml.contains("lab.memeater_size_mib=1024"), xml)
        XCTAssertFalse(xml.contains("<disk"), "the initramfs guest has no disk")
        let parsed = try? XMLDocument(xmlString: xml)
        XCTAssertNotNil(parsed, "the domain XML must be well-formed")
    }

    func testDomainXMLForKVMAndDebianGuest() {
        let lab = Lab()
        let xml = lab.guestDefinition(image: sampleImage(kind: .debian), memoryMiB: 1024, memeaterSizeMiB: 512,
                                      emulatorPath: "/x/qemu", accelerator: .kvm).xml()
        XCTAssertTrue(xml.contains("<domain type='kvm'>"))
        XCTAssertTrue(xml.contains("host-passthrough"))
        XCTAssertTrue(xml.contains("<source file='/cache/debian.qcow2'/>"))
        XCTAssertTrue(xml.contains("root=/dev/vda"))
    }

    func testEmulatorNames() throws {
        XCTAssertEqual(try EmulatorChoice(name: "default"), .system)
        XCTAssertEqual(try EmulatorChoice(name: "qemu-7.2"), .qemu72)
        XCTAssertEqual(try EmulatorChoice(name: "/opt/qemu/bin/qemu-system-x86_64"), .path("/opt/qemu/bin/qemu-system-x86_64"))
        XCTAssertThrowsError(try EmulatorChoice(name: "qemu-9")) { error in
            XCTAssertTrue("\(error)".contains("unknown emulator 'qemu-9'"), "\(error)")
        }
    }

    func testGuestMemoryRangeLetsTwoGuestsFitIntoTheMachine() throws {
        // 24 GiB: (24576 - 1024 reserve) / 2.
        let large = GuestMemoryRange(hostMemTotalMiB: 24_576)
        XCTAssertEqual(GuestMemoryRange.hostReserveMiB, 1024)
        XCTAssertEqual(large.maximumMiB, 11_776)
        XCTAssertEqual(large.rangeMiB, 64...11_776)
        XCTAssertTrue(large.contains(64))
        XCTAssertTrue(large.contains(11_776))
        XCTAssertFalse(large.contains(11_777))
        XCTAssertFalse(large.contains(63))
        XCTAssertNoThrow(try large.check(2111))
        XCTAssertEqual(GuestMemoryRange(hostMemTotalMiB: 4097).maximumMiB, 1536, "rounded down")

        XCTAssertThrowsError(try large.check(20_000)) { error in
            let text = "\(error)"
            XCTAssertEqual(error as? GuestMemoryOutOfRange, GuestMemoryOutOfRange(requestedMiB: 20_000, range: large))
            XCTAssertTrue(text.hasPrefix("guest RAM must be between 64 and 11776 MiB on this machine, not 20000 MiB: "), text)
            XCTAssertTrue(text.contains("two QEMUs"), text)
            XCTAssertTrue(text.contains("24576 MiB (MemTotal) less 1024 MiB"), text)
            XCTAssertFalse(text.contains("\n"), text)
        }

        // Too little memory for even two of the smallest guests: no range, every size refused.
        let tiny = GuestMemoryRange(hostMemTotalMiB: 1100)
        XCTAssertNil(tiny.rangeMiB)
        XCTAssertFalse(tiny.contains(64))
        XCTAssertThrowsError(try tiny.check(64)) { error in
            XCTAssertTrue("\(error)".hasPrefix("no guest of 64 MiB or any other size fits"), "\(error)")
        }
        XCTAssertNil(GuestMemoryRange(hostMemTotalMiB: 0).rangeMiB)
        XCTAssertEqual(GuestMemoryRange(hostMemTotalMiB: 1024 + 128).rangeMiB, 64...64)

        XCTAssertEqual(GuestMemoryRange.ofThisMachine(meminfo: "MemTotal:       24684092 kB\nMemFree: 1 kB\n")?.hostMemTotalMiB, 24_105)
        XCTAssertNil(GuestMemoryRange.ofThisMachine(meminfo: "MemAvailable: 100 kB\n"))
        XCTAssertNil(GuestMemoryRange.ofThisMachine(meminfo: nil))
        XCTAssertNotNil(GuestMemoryRange.ofThisMachine(), "/proc/meminfo has MemTotal")
        XCTAssertEqual(GuestMemoryRange.realHostBoundsMiB, 64...1_048_576)
    }

    func testJournalRoundTrip() throws {
        let directory = NSTemporaryDirectory() + "lab-journal-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = LabJournal(path: directory + "/journal")
        let records: [LabResource] = [.namespace("mlab-src"), .process(pid: 42, startTime: 12345, label: "libvirtd-src"),
                                      .directory("/run/libvirt")]
        for record in records { try journal.record(record) }
        XCTAssertEqual(journal.resources(), records)
        XCTAssertEqual(LabJournal(path: directory + "/missing").resources(), [])
    }

    func testFailedCommandNamesStepCommandAndOutput() {
        XCTAssertThrowsError(try CommandRunner.run(["sh", "-c", "echo something broke >&2; exit 3"], step: "demonstrate a failure")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("demonstrate a failure"), text)
            XCTAssertTrue(text.contains("exit status 3"), text)
            XCTAssertTrue(text.contains("sh -c"), text)
            XCTAssertTrue(text.contains("something broke"), text)
        }
        XCTAssertThrowsError(try CommandRunner.run(["no-such-command-here"], step: "run a missing tool")) { error in
            XCTAssertTrue("\(error)".contains("not found"), "\(error)")
        }
    }

    func testCommandTimeoutKillsTheCommand() {
        let start = Date()
        XCTAssertThrowsError(try CommandRunner.run(["sleep", "30"], step: "sleep too long", timeoutSeconds: 0.5)) { error in
            XCTAssertTrue("\(error)".contains("timed out"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
    }

    func testCommandThatLeavesADaemonBehindStillReturns() throws {
        // Foundation's Process would wait for the background sleep; the lab's runner must not.
        let result = try CommandRunner.run(["sh", "-c", "sleep 5 >/dev/null 2>&1 & echo started"], step: "start a daemon",
                                           timeoutSeconds: 10)
        XCTAssertTrue(result.output.contains("started"))
    }

    /// A SIGKILLed libvirtd shows its leader as a zombie while its other threads still hold its
    /// listening sockets; a daemon started then cannot listen, so the process is not gone yet.
    func testAZombieLeaderIsAliveUntilItsLastThreadHasExited() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("proc-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        func process(_ pid: Int32, state: String, threads: [Int32]) throws {
            try FileManager.default.createDirectory(atPath: "\(root)/\(pid)/task", withIntermediateDirectories: true)
            try "\(pid) (libvirtd) \(state) 1 \(pid) \(pid) 0 -1 4194560\n".write(toFile: "\(root)/\(pid)/stat", atomically: true, encoding: .utf8)
            for thread in threads { try FileManager.default.createDirectory(atPath: "\(root)/\(pid)/task/\(thread)", withIntermediateDirectories: true) }
        }
        try process(100, state: "Z", threads: [100, 101])
        try process(200, state: "Z", threads: [200])
        try process(300, state: "S", threads: [300, 301])
        try process(400, state: "X", threads: [400, 402])
        XCTAssertTrue(ProcessTable.isAlive(100, procRoot: root), "leader a zombie, thread 101 still exiting")
        XCTAssertFalse(ProcessTable.isAlive(200, procRoot: root), "a zombie whose threads are all gone")
        XCTAssertTrue(ProcessTable.isAlive(300, procRoot: root))
        XCTAssertTrue(ProcessTable.isAlive(400, procRoot: root))
        XCTAssertFalse(ProcessTable.isAlive(500, procRoot: root), "no such process")
        XCTAssertTrue(ProcessTable.isAlive(getpid()), "this test, through the real /proc")
    }

    func testCommandInputIsPassed() throws {
        XCTAssertEqual(try CommandRunner.run(["cat"], step: "echo input", input: "hello\n").output, "hello\n")
    }

    func testStandardOutputAndStandardErrorAreKeptApart() throws {
        let result = try CommandRunner.run(["sh", "-c", "echo data; echo warning >&2; echo more"], step: "print on both")
        XCTAssertEqual(result.output, "data\nmore\n")
        XCTAssertEqual(result.errorOutput, "warning\n")
        XCTAssertEqual(result.transcript, "data\nmore\nstandard error:\nwarning\n")
        XCTAssertThrowsError(try CommandRunner.run(["sh", "-c", "echo partial; echo 'it broke' >&2; exit 2"], step: "fail")) { error in
            let lab = error as? LabError
            XCTAssertEqual(lab?.output, "partial\n")
            XCTAssertEqual(lab?.errorOutput, "it broke\n")
            XCTAssertTrue("\(error)".hasSuffix("  output:\n    partial\n    \n  standard error:\n    it broke\n    "), "\(error)")
        }
        XCTAssertThrowsError(try CommandRunner.run(["sh", "-c", "echo 'still waiting' >&2; sleep 30"], step: "hang", timeoutSeconds: 0.5)) { error in
            XCTAssertEqual((error as? LabError)?.errorOutput, "still waiting\n", "a timeout keeps standard error too")
        }
    }

    /// Megabytes on both pipes, standard error first, with megabytes of input: a runner that
    /// read one pipe to its end before the other, or wrote all input before reading, would
    /// wait forever on a full pipe.
    func testLargeOutputOnBothPipesAndLargeInputDoNotDeadlock() throws {
        let start = Date()
        let script = "head -c 2000000 /dev/zero | tr '\\0' e >&2; head -c 3000000 /dev/zero | tr '\\0' o; cat"
        let input = String(repeating: "i", count: 1_000_000)
        let result = try CommandRunner.run(["sh", "-c", script], step: "flood both pipes", timeoutSeconds: 30, input: input)
        XCTAssertEqual(result.errorOutput.utf8.count, 2_000_000)
        XCTAssertTrue(result.errorOutput.allSatisfy { $0 == "e" })
        XCTAssertEqual(result.output.utf8.count, 4_000_000)
        XCTAssertEqual(result.output.prefix(3_000_000).filter { $0 == "o" }.count, 3_000_000)
        XCTAssertTrue(result.output.hasSuffix(input))
        XCTAssertLessThan(Date().timeIntervalSince(start), 20)
    }

    /// The lab's own domain XML, read back through the parser: what the verifier and
    /// `waitForGuestReady` take from a live domain.
    func testTheLabDomainXMLReadsBackThroughTheParser() throws {
        let lab = Lab()
        let xml = lab.guestDefinition(image: sampleImage(), memoryMiB: 2111, memeaterSizeMiB: 1024,
                                      emulatorPath: "/usr/bin/qemu-system-x86_64", accelerator: .tcg).xml()
        let description = try DomainDescription(xml: xml)
        XCTAssertEqual(description.accelerator, "qemu")
        XCTAssertEqual(description.name, lab.configuration.guestName)
        XCTAssertEqual(description.memoryKiB, 2111 * 1024)
        XCTAssertEqual(description.interfaceTargets, [lab.configuration.guestTapName])
        XCTAssertEqual(description.consoleLogPath, lab.configuration.guestConsoleLogPath)
        XCTAssertEqual(description.kernelParameter("lab.ip"), "198.18.1.10/24")
        XCTAssertEqual(Lab.memeaterSizeMiB(inDomainXML: xml), 1024)
        let kvm = lab.guestDefinition(image: sampleImage(kind: .debian), memoryMiB: 1024, memeaterSizeMiB: 512,
                                      emulatorPath: "/x/qemu", accelerator: .kvm).xml()
        XCTAssertEqual(try DomainDescription(xml: kvm).accelerator, "kvm")
        XCTAssertEqual(Lab.memeaterSizeMiB(inDomainXML: kvm), 512)
        // Only the kernel command line counts, and only a whole parameter.
        XCTAssertNil(Lab.memeaterSizeMiB(inDomainXML: "<domain><name>lab.memeater_size_mib=64</name></domain>"))
        XCTAssertNil(Lab.memeaterSizeMiB(inDomainXML: "<domain><os><cmdline>xlab.memeater_size_mib=64</cmdline></os></domain>"))
        XCTAssertNil(Lab.memeaterSizeMiB(inDomainXML: "<domain><os><cmdline>lab.memeater_size_mib=lots</cmdline></os></domain>"))
        XCTAssertEqual(Lab.memeaterSizeMiB(inDomainXML: "<domain><os><cmdline>a lab.memeater_size_mib=64 b</cmdline></os></domain>"), 64)
        XCTAssertNil(Lab.memeaterSizeMiB(inDomainXML: "<domain><os><cmdline>lab.memeater_size_mib=64"), "unparsable XML")
    }

    func testDebianMirrorComesFromTheConfiguredSourceEntry() throws {
        let mirror = try DebianGuestBuilder.configuredMirror()
        XCTAssertTrue(mirror.hasPrefix("http://") || mirror.hasPrefix("https://") || mirror.hasPrefix("file:"), mirror)
    }
}

/// When the guest's memeater must be rebuilt before a run.
final class MemeaterBinaryTests: XCTestCase {
    func testABinaryOlderThanAnyOfMemeatersSourcesIsStale() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("memeater-binary-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let files = FileManager.default
        for directory in ["Sources/CMemeater/include", "Sources/MemeaterKit", "Sources/Memeater", "Sources/Verifier"] {
            try files.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true)
        }
        let binary = "\(root)/memeater"
        let sources = ["Package.swift", "Sources/CMemeater/include/memeater.h", "Sources/MemeaterKit/Engine.swift", "Sources/Memeater/main.swift"]
        for path in sources + ["Sources/Verifier/Other.swift"] { XCTAssertTrue(files.createFile(atPath: "\(root)/\(path)", contents: Data())) }
        XCTAssertTrue(files.createFile(atPath: binary, contents: Data()))
        func setDate(_ path: String, _ seconds: TimeInterval) throws {
            try files.setAttributes([.modificationDate: Date(timeIntervalSince1970: seconds)], ofItemAtPath: path)
        }
        for path in sources + ["Sources/Verifier/Other.swift"] { try setDate("\(root)/\(path)", 1_000) }
        try setDate(binary, 2_000)
        XCTAssertFalse(MemeaterBinary.isOlderThanSources(binary, packageRoot: root))
        try setDate("\(root)/Sources/Verifier/Other.swift", 3_000)
        XCTAssertFalse(MemeaterBinary.isOlderThanSources(binary, packageRoot: root), "another target's change does not matter")
        for path in sources {
            try setDate("\(root)/\(path)", 3_000)
            XCTAssertTrue(MemeaterBinary.isOlderThanSources(binary, packageRoot: root), path)
            try setDate("\(root)/\(path)", 1_000)
        }
        XCTAssertTrue(MemeaterBinary.isOlderThanSources("\(root)/missing", packageRoot: root), "no binary: build it")
    }
}

/// The lab's defaults send only to the project's own networks.
final class LabAddressTests: XCTestCase {
    func testEveryDefaultAddressOfTheLabIsInTheBenchmarkingRange() throws {
        let configuration = LabConfiguration()
        let addresses = [configuration.source.address, configuration.destination.address, configuration.clientAddress,
                         configuration.clientGuestNetworkAddress, configuration.guestAddress]
        for text in addresses {
            let address = try XCTUnwrap(IPv4Address(text), text)
            XCTAssertTrue(IPv4Network.projectTestNetworks[0].contains(address), "\(text) is outside 198.18.0.0/15")
        }
        let benchmarking6 = try XCTUnwrap(IPNetwork("2001:2::/48"))
        let addresses6 = [configuration.source.ipv6Address, configuration.destination.ipv6Address,
                          configuration.clientIPv6Address, configuration.clientGuestNetworkIPv6Address, configuration.guestIPv6Address]
        XCTAssertEqual(addresses6, ["2001:2::1", "2001:2::2", "2001:2::100", "2001:2:0:1::100", "2001:2:0:1::10"])
        for text in addresses6 {
            let address = try XCTUnwrap(IPAddress(text), text)
            XCTAssertTrue(benchmarking6.contains(address), "\(text) is outside 2001:2::/48")
        }
        XCTAssertEqual(configuration.sshIPv6URI(configuration.source).prefix(30), "qemu+ssh://root@[2001:2::1]/sy")
    }
}

/// What `lab status` says the lab's processes use.
final class ProcessUsageTests: XCTestCase {
    func testUsageIsReadFromProcAndAGoneProcessIsLeftOut() throws {
        let own = try XCTUnwrap(ProcessTable.usage(of: getpid()))
        XCTAssertGreaterThan(own.residentBytes, 1 << 20, "this test process holds more than 1 MiB")
        XCTAssertNil(ProcessTable.usage(of: Int32.max), "no such process")
        let measured = ProcessTable.cpuUse(of: [getpid(), Int32.max], overSeconds: 0.05)
        XCTAssertEqual(measured.map(\.pid), [getpid()])
        let usage = try XCTUnwrap(measured.first)
        XCTAssertGreaterThanOrEqual(usage.cpuPercent, 0)
        XCTAssertEqual(usage.name, ProcessTable.name(of: getpid()))
    }
}

/// A lab built with an older network layout is recognised, so that `lab up` rebuilds it
/// instead of adding the new networks next to the old addresses.
final class LabLayoutTests: XCTestCase {
    func testALabJSONOfAnotherLayoutOrVersionIsRecognisedAndTheCurrentOneIsNot() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lab-layout-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lab = Lab(configuration: LabConfiguration(namePrefix: "mlabu", stateDirectory: directory, cacheDirectory: directory))
        XCTAssertNil(lab.builtWithAnotherLayout(), "no lab.json: nothing to rebuild")

        var record = LabRecord(configuration: lab.configuration, emulatorName: "default", emulatorPath: "/usr/bin/qemu-system-x86_64",
                               emulatorVersion: nil, accelerator: AcceleratorDecision(accelerator: .tcg, reason: "test", cached: false),
                               daemons: [:], guests: [], updatedAt: Date(timeIntervalSince1970: 1_700_000_000),
                               networkLayout: LabRecord.currentNetworkLayout)
        func write(_ record: LabRecord) throws {
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            try encoder.encode(record).write(to: URL(fileURLWithPath: lab.configuration.statusPath))
        }
        try write(record)
        XCTAssertNil(lab.builtWithAnotherLayout())
        record.networkLayout = nil
        try write(record)
        XCTAssertEqual(lab.builtWithAnotherLayout(), "network layout 1, this version builds 2")
        // The single-network version's lab.json: the same record without the management fields.
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        var old = try XCTUnwrap(JSONSerialization.jsonObject(with: try encoder.encode(record)) as? [String: Any])
        var oldConfiguration = try XCTUnwrap(old["configuration"] as? [String: Any])
        for key in ["clientGuestNetworkAddress", "managementSwitchBridgeName"] { oldConfiguration[key] = nil }
        for host in ["source", "destination"] {
            var fields = try XCTUnwrap(oldConfiguration[host] as? [String: Any])
            fields["managementSwitchPortName"] = nil
            oldConfiguration[host] = fields
        }
        old["configuration"] = oldConfiguration
        try JSONSerialization.data(withJSONObject: old).write(to: URL(fileURLWithPath: lab.configuration.statusPath))
        XCTAssertEqual(lab.builtWithAnotherLayout(), "its \(lab.configuration.statusPath) is not this version's")

        // No lab.json: nothing to rebuild while the lab has made nothing; a layout unknown once it has.
        try FileManager.default.removeItem(atPath: lab.configuration.statusPath)
        XCTAssertTrue(FileManager.default.createFile(atPath: lab.configuration.journalPath, contents: nil))
        XCTAssertNil(lab.builtWithAnotherLayout())
        try lab.journal.record(.namespace("mlabu-src"))
        XCTAssertEqual(lab.builtWithAnotherLayout(), "it has no \(lab.configuration.statusPath) (a lab up that did not finish): its layout is unknown")
    }
}
