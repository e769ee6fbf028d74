import Foundation
import XCTest
@testable import Lab
import Libvirt

/// The lab for real: namespaces, two libvirt daemons, QEMU guests, live migration.
///
/// The tests use their own namespace prefix and state directory, so they never touch a lab
/// a user brought up with the defaults. Each test brings the lab up once and tears it
/// down in `tearDown`, whatever happened. XCTest runs them one after another.
final class LabIntegrationTests: XCTestCase {
    static let configuration: LabConfiguration = {
        var configuration = LabConfiguration(namePrefix: "mlabt", stateDirectory: "/run/migration-lab-test")
        configuration.bootTimeoutSeconds = 180
        return configuration
    }()
    let lab = Lab(configuration: LabIntegrationTests.configuration)
    /// Guest RAM used by the tests: modest, and not a multiple of 256 MiB on purpose.
    let guestMemoryMiB = 384

    /// The static memeater, built once per test run when no build exists yet.
    static let memeater: Result<String, Error> = {
        if let found = MemeaterBinary.find() { return .success(found) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        return Result { try MemeaterBinary.buildStatic(packageRoot: root) }
    }()

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("the lab needs root") }
        try lab.down()
    }

    override func tearDown() {
        if let run = testRun, run.failureCount + run.unexpectedExceptionCount > 0 {
            print("--- guest console (last 60 lines):\n" + lastLines(lab.guestConsole(), 60))
            for host in lab.configuration.hosts {
                print("--- \(host.name) daemon:\n" + lab.daemons.diagnostics(host))
            }
        }
        XCTAssertEqual((try? lab.down())?.leftovers, [], "lab down left things behind")
        super.tearDown()
    }

    private func upOptions() -> LabUpOptions {
        LabUpOptions(accelerator: .auto, guest: .initramfs, guestMemoryMiB: guestMemoryMiB, memeaterSizeMiB: 128,
                     memeaterPath: try? Self.memeater.get())
    }

    private func bringUp() throws -> LabUpReport {
        do {
            return try lab.up(upOptions())
        } catch {
            XCTFail("lab up failed: \(error)")
            throw error
        }
    }

    private func assertLeftoversOfEachKindAreGone(file: StaticString = #filePath, line: UInt = #line) {
        let configuration = lab.configuration
        XCTAssertEqual(lab.labNamespacesPresent(), [], "namespaces left", file: file, line: line)
        let ipNetns = (try? CommandRunner.run(["ip", "netns", "list"], step: "list namespaces").output) ?? ""
        XCTAssertFalse(ipNetns.contains("\(configuration.namePrefix)-"), "ip netns list: \(ipNetns)", file: file, line: line)
        let stray = ProcessTable.allProcesses().filter { pid in
            guard ProcessTable.isAlive(pid), let commandLine = ProcessTable.commandLine(of: pid) else { return false }
            return commandLine.contains(configuration.stateDirectory + "/")
        }
        XCTAssertEqual(stray.map { ProcessTable.commandLine(of: $0) ?? "" }, [], "libvirtd/qemu/sshd processes left",
                       file: file, line: line)
        let links = (try? CommandRunner.run(["ip", "-o", "link", "show"], step: "list links").output) ?? ""
        for name in Topology.interfaceNames(configuration) {
            XCTAssertFalse(links.contains(" \(name):") || links.contains(" \(name)@"), "interface \(name) in the root namespace",
                           file: file, line: line)
        }
        let mounts = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        XCTAssertFalse(mounts.contains(configuration.stateDirectory), "mounts of the lab left", file: file, line: line)
        XCTAssertFalse(mounts.contains("/run/netns/\(configuration.namePrefix)-"), "netns mounts left", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: configuration.stateDirectory), "state directory left",
                       file: file, line: line)
        XCTAssertEqual(lab.leftovers(), [], file: file, line: line)
    }

    /// Where the guest domain is and in what state, per host.
    private func guestStates() throws -> [String: DomainStateInfo] {
        var states: [String: DomainStateInfo] = [:]
        for host in lab.configuration.hosts {
            let connection = try lab.connect(to: host)
            if let domain = try connection.domainIfPresent(name: lab.configuration.guestName) {
                states[host.name] = try domain.state()
            }
        }
        return states
    }

    private func qemuProcesses(on host: LabHost) -> [Int32] {
        ProcessTable.processes(inNamespace: host.namespace).filter { (ProcessTable.name(of: $0) ?? "").hasPrefix("qemu-system") }
    }

    private func tapExists(on host: LabHost) -> Bool {
        (try? CommandRunner.capture(["ip", "-n", host.namespace, "link", "show", "dev", lab.configuration.guestTapName],
                                    step: "look for the tap").succeeded) ?? false
    }

    private func memeaterBootID() throws -> String? {
        let control = try lab.connectToMemeater(timeoutSeconds: 10)
        let info = try control.info()
        XCTAssertNotNil(info.uptimeSeconds, "memeater info: \(info)")
        return info.bootId
    }

    /// The guest network carries no host address: a machine on it (a probe namespace on the
    /// guest switch, with on-link routes to the management subnets, as a hostile guest could
    /// add) reaches the guest but neither host's libvirtd (IPv4; it listens on no IPv6
    /// address) nor sshd (both families), which answer the client's management interface; and
    /// a host has IPv6 addresses on `lo` and `mgmt0` only (not on its guest bridge, uplink or
    /// the guest's tap).
    private func assertHostsAreUnreachableFromTheGuestNetwork(file: StaticString = #filePath, line: UInt = #line) throws {
        let configuration = lab.configuration
        let probe = "\(configuration.namePrefix)-probe", port = "probe-port"
        try lab.journal.record(.namespace(probe)) // lab down removes it whatever happens here
        defer { _ = try? CommandRunner.capture(["ip", "netns", "delete", probe], step: "delete the probe namespace") }
        let probeAddress = configuration.guestAddress.split(separator: ".").dropLast().joined(separator: ".") + ".77"
        let probeIPv6Address = LabConfiguration.ipv6Address(matching: probeAddress)
        for command in [["ip", "netns", "add", probe], ["ip", "-n", probe, "link", "set", "lo", "up"],
                        ["ip", "-n", configuration.switchNamespace, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", probe],
                        ["ip", "-n", configuration.switchNamespace, "link", "set", port, "master", configuration.switchBridgeName, "up"],
                        ["ip", "-n", probe, "addr", "add", "\(probeAddress)/\(configuration.prefixLength)", "dev", "eth0"],
                        ["ip", "-n", probe, "-6", "addr", "add", "\(probeIPv6Address)/64", "dev", "eth0", "nodad"],
                        ["ip", "-n", probe, "link", "set", "eth0", "up"],
                        ["ip", "-n", probe, "route", "add", "198.18.0.0/24", "dev", "eth0"],
                        ["ip", "-n", probe, "-6", "route", "add", "2001:2::/64", "dev", "eth0"]] {
            try CommandRunner.run(command, step: "set up the guest network probe")
        }
        func reachable(from namespace: String, _ arguments: [String]) throws -> Bool {
            try CommandRunner.capture(["ip", "netns", "exec", namespace] + arguments, step: "probe from \(namespace)",
                                      timeoutSeconds: 20).succeeded
        }
        XCTAssertTrue(try reachable(from: probe, ["ping", "-c", "3", "-W", "1", configuration.guestAddress]),
                      "the probe is on the guest network: the guest answers it", file: file, line: line)
        for host in configuration.hosts {
            for address in [host.address, host.ipv6Address] {
                for service in ["16509", "22"] where !(address == host.ipv6Address && service == "16509") {
                    XCTAssertFalse(try reachable(from: probe, ["nc", "-z", "-w", "2", address, service]),
                                   "\(host.name) \(address) port \(service) answers on the guest network", file: file, line: line)
                    XCTAssertTrue(try reachable(from: configuration.clientNamespace, ["nc", "-z", "-w", "2", address, service]),
                                  "\(host.name) \(address) port \(service) does not answer on the management network", file: file, line: line)
                }
            }
            let addresses = try CommandRunner.run(["ip", "-n", host.namespace, "-o", "addr", "show", "dev", configuration.hostBridgeName],
                                                  step: "list the guest bridge's addresses").output
            XCTAssertEqual(addresses.trimmingCharacters(in: .whitespacesAndNewlines), "",
                           "\(host.name)'s guest bridge has an address", file: file, line: line)
            // `ip -o` lines read "INDEX: DEVICE inet6 ADDRESS ...".
            let ipv6Devices = try CommandRunner.run(["ip", "-n", host.namespace, "-o", "-6", "addr", "show"], step: "list IPv6 addresses")
                .output.split(whereSeparator: \.isNewline).compactMap { $0.split(separator: " ").dropFirst().first.map(String.init) }
            XCTAssertTrue(Set(ipv6Devices).isSubset(of: ["lo", Topology.managementInterfaceName]),
                          "\(host.name) has IPv6 addresses on \(ipv6Devices)", file: file, line: line)
        }
    }

    /// Up → guest on src → ping → live migration src→dst (peer-to-peer, API) → ping → back
    /// dst→src (client-managed, API) → ping → down → nothing left of any kind.
    func testGuestMigratesBothWaysAndDownLeavesNothing() throws {
        let upStart = Date()
        let report = try bringUp()
        print("lab up took \(String(format: "%.1f", Date().timeIntervalSince(upStart))) s: \(report.phaseSeconds)")
        let configuration = lab.configuration
        let source = configuration.source
        let destination = configuration.destination
        XCTAssertTrue(lab.status().isUp)

        XCTAssertEqual(try guestStates().mapValues(\.state), ["src": .running], "guest runs on src only after up")
        // Each host bridge keeps a fixed MAC of its own, whatever ports join: with the guest's
        // tap attached it must not have taken the tap's (fe:54:…), or the other host's bridge
        // drops this host's frames as its own while a migration runs.
        for (index, host) in [source, destination].enumerated() {
            let link = try CommandRunner.capture(["ip", "-n", host.namespace, "-o", "link", "show", "dev", configuration.hostBridgeName],
                                                 step: "read the bridge of \(host.name)")
            XCTAssertTrue(link.output.contains("link/ether 02:6c:61:62:00:0\(index + 1) "), link.output)
        }
        XCTAssertTrue(try lab.pingGuest().answered, "guest answers ping from the client namespace")
        try assertHostsAreUnreachableFromTheGuestNetwork()
        let image = try XCTUnwrap(report.record.guests.first?.image)
        let bootID = report.record.guests.first?.bootID
        XCTAssertNotNil(bootID, "the guest printed its boot id")
        if image.containsMemeater {
            XCTAssertEqual(try memeaterBootID(), bootID, "memeater answers its control protocol from the guest")
        } else {
            XCTFail("no static memeater could be built: \(String(describing: Self.memeater))")
        }

        // A qemu+ssh:// connection through the lab's sshd reaches the other daemon too.
        let overSSH = try lab.connect(to: destination, transport: .ssh)
        XCTAssertEqual(try overSSH.hostname(), "lab-dst")

        // Live migration with the virsh-equivalent call: migrate --live --p2p --persistent --undefinesource.
        let sourceConnection = try lab.connect(to: source)
        let domain = try sourceConnection.lookupDomain(name: configuration.guestName)
        try domain.setMigrationMaxDowntime(milliseconds: 300)
        let started = Date()
        try domain.migrate(toURI: destination.tcpURI,
                           flags: [.live, .peerToPeer, .persistOnDestination, .undefineSource])
        print("migration src→dst took \(String(format: "%.2f", Date().timeIntervalSince(started))) s")

        XCTAssertEqual(try guestStates().mapValues(\.state), ["dst": .running], "after migration the guest runs on dst only")
        XCTAssertEqual(try guestStates()["dst"]?.reason, "migrated")
        XCTAssertEqual(qemuProcesses(on: source), [], "no qemu left on src")
        XCTAssertFalse(tapExists(on: source), "no tap left on src")
        XCTAssertTrue(tapExists(on: destination), "tap on dst")
        try lab.waitForPing(timeoutSeconds: 10)
        let destinationConnection = try lab.connect(to: destination)
        let landed = try destinationConnection.lookupDomain(name: configuration.guestName)
        let completed = try landed.jobStats(completed: true)
        print("completed job on dst: time elapsed \(completed.timeElapsedMilliseconds.map(String.init) ?? "-") ms, "
              + "setup \(completed.setupTimeMilliseconds.map(String.init) ?? "-") ms, "
              + "downtime \(completed.downtimeMilliseconds.map(String.init) ?? "-") ms, "
              + "transferred \(completed.dataProcessedBytes.map(String.init) ?? "-") bytes")
        XCTAssertEqual(completed.type, .completed)
        XCTAssertNotNil(completed.timeElapsedMilliseconds)
        if image.containsMemeater {
            XCTAssertEqual(try memeaterBootID(), bootID, "the guest did not reboot")
        }

        // And back, client-managed (virsh migrate without --p2p): virDomainMigrate3.
        let back = try landed.migrate(to: sourceConnection, flags: [.live, .persistOnDestination, .undefineSource])
        XCTAssertEqual(back.connection.uri, source.tcpURI)
        XCTAssertEqual(try guestStates().mapValues(\.state), ["src": .running], "back on src only")
        XCTAssertEqual(qemuProcesses(on: destination), [], "no qemu left on dst")
        XCTAssertFalse(tapExists(on: destination), "no tap left on dst")
        try lab.waitForPing(timeoutSeconds: 10)

        let down = try lab.down()
        XCTAssertEqual(down.leftovers, [])
        assertLeftoversOfEachKindAreGone()
    }

    /// `lab up` twice is a no-op the second time; SIGKILLed daemons are repaired by `up`
    /// (the guest keeps running); `lab down` after SIGKILL of everything still cleans up.
    func testUpIsIdempotentRepairsKilledDaemonsAndDownSurvivesSIGKILL() throws {
        let first = try bringUp()
        XCTAssertFalse(first.actions.isEmpty)
        let daemons = HostDaemons(configuration: lab.configuration, journal: LabJournal(path: lab.configuration.journalPath))
        let pids = lab.configuration.hosts.map { daemons.daemonPID($0) }
        let second = try lab.up(upOptions())
        XCTAssertEqual(second.actions, [], "the second lab up changed something")
        XCTAssertEqual(lab.configuration.hosts.map { daemons.daemonPID($0) }, pids, "daemons were restarted")
        XCTAssertEqual(second.record.guests.first?.bootID, first.record.guests.first?.bootID)

        // SIGKILL both daemons: up brings them back, and they pick up the running guest.
        for pid in pids.compactMap({ $0 }) { kill(pid, SIGKILL) }
        let deadline = Date().addingTimeInterval(10)
        while pids.compactMap({ $0 }).contains(where: ProcessTable.isAlive), Date() < deadline { usleep(50_000) }
        XCTAssertFalse(lab.status(checkGuest: false).isUp, "status notices the dead daemons")
        let repaired = try lab.up(upOptions())
        XCTAssertTrue(repaired.actions.contains { $0.contains("started libvirtd on src") }, "\(repaired.actions)")
        XCTAssertTrue(repaired.actions.contains { $0.contains("started libvirtd on dst") }, "\(repaired.actions)")
        XCTAssertEqual(try guestStates().mapValues(\.state), ["src": .running], "the guest survived its daemon's death")
        XCTAssertTrue(try lab.pingGuest().answered)

        // Now kill everything the lab runs, as a crash would leave it, and tear down.
        let processes = lab.labProcesses()
        XCTAssertTrue(processes.contains { ProcessTable.name(of: $0) == "libvirtd" })
        XCTAssertTrue(processes.contains { (ProcessTable.name(of: $0) ?? "").hasPrefix("qemu-system") })
        for pid in processes where ProcessTable.name(of: pid) == "libvirtd" || ProcessTable.name(of: pid) == "sshd" {
            kill(pid, SIGKILL)
        }
        let down = try lab.down()
        XCTAssertEqual(down.leftovers, [])
        assertLeftoversOfEachKindAreGone()
        // And down is idempotent.
        XCTAssertEqual(try lab.down().actions, [])
    }

    /// The full Debian 12 guest (systemd, memeater as a service) boots, answers memeater's
    /// control protocol, migrates live with its disk on the hosts' shared directory, and
    /// answers again without having rebooted.
    func testDebianGuestBootsMigratesAndAnswersMemeater() throws {
        guard let memeater = try? Self.memeater.get() else {
            return XCTFail("no static memeater could be built: \(String(describing: Self.memeater))")
        }
        var options = upOptions()
        options.guest = .debian
        options.guestMemoryMiB = 512
        options.memeaterSizeMiB = 64
        options.memeaterPath = memeater
        let started = Date()
        let report: LabUpReport
        do {
            report = try lab.up(options)
        } catch {
            return XCTFail("lab up with the Debian guest failed: \(error)")
        }
        print("lab up (Debian guest) took \(String(format: "%.1f", Date().timeIntervalSince(started))) s: \(report.phaseSeconds)")
        XCTAssertEqual(report.record.guests.first?.kind, .debian)
        XCTAssertTrue(lab.guestConsole().contains("Debian GNU/Linux 12") || lab.guestConsole().contains("systemd"),
                      "the console shows the Debian system booting")
        let bootID = try XCTUnwrap(report.record.guests.first?.bootID)
        XCTAssertEqual(try memeaterBootID(), bootID, "memeater answers from the Debian guest")
        // It boots its own release's kernel, the one debootstrap installed, not the host's.
        let info = try lab.connectToMemeater(timeoutSeconds: 10).info()
        let imageKernel = try XCTUnwrap(report.record.guests.first?.image.kernelRelease)
        XCTAssertEqual(info.kernelRelease, imageKernel, "memeater info: \(info)")
        XCTAssertTrue(info.operatingSystem?.contains("Debian GNU/Linux 12") ?? false, "memeater info: \(info)")

        let source = try lab.connect(to: lab.configuration.source)
        try source.lookupDomain(name: lab.configuration.guestName)
            .migrate(toURI: lab.configuration.destination.tcpURI, flags: [.live, .peerToPeer, .persistOnDestination, .undefineSource])
        XCTAssertEqual(try guestStates().mapValues(\.state), ["dst": .running])
        try lab.waitForPing(timeoutSeconds: 10)
        XCTAssertEqual(try memeaterBootID(), bootID, "the Debian guest did not reboot")
    }
}
