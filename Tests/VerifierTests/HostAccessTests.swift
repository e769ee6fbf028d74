import Foundation
import Lab
import Libvirt
import XCTest
@testable import Verifier

/// How the verifier reaches hosts: URIs to ssh, domain XML to console and taps, and the
/// host scripts run for real on this machine.
final class HostAccessTests: XCTestCase {
    func testSSHURIsGiveTheirUserHostPortKeyAndCommand() {
        XCTAssertEqual(HostAccess.implied(by: "qemu+ssh://root@src.example:2222/system?keyfile=/k/id&command=/opt/ssh"),
                       .ssh(SSHDestination(user: "root", host: "src.example", port: 2222, keyFile: "/k/id", sshCommand: "/opt/ssh")))
        XCTAssertEqual(HostAccess.implied(by: "qemu+ssh://dst/system"), .ssh(SSHDestination(host: "dst")))
        // libssh transports take no `command=`: ssh is run plainly.
        XCTAssertEqual(HostAccess.implied(by: "qemu+libssh2://root@h/system?command=/x"), .ssh(SSHDestination(user: "root", host: "h")))
        XCTAssertEqual(HostAccess.implied(by: "qemu:///system"), .local)
        XCTAssertNil(HostAccess.implied(by: "qemu+tcp://198.18.0.1/system"))
        XCTAssertNil(HostAccess.implied(by: "qemu+tls://host/system"))
    }

    func testSSHDestinationsParseAndBuildABatchModeCommand() throws {
        XCTAssertEqual(SSHDestination.parse("root@h:2200"), SSHDestination(user: "root", host: "h", port: 2200))
        XCTAssertEqual(SSHDestination.parse("h"), SSHDestination(host: "h"))
        XCTAssertEqual(SSHDestination.parse("root@[fe80::1%eth0]:22"), SSHDestination(user: "root", host: "fe80::1%eth0", port: 22))
        XCTAssertEqual(SSHDestination.parse("[::1]"), SSHDestination(host: "::1"))
        XCTAssertEqual(SSHDestination.parse("ops.user@198.18.0.7")?.description, "ops.user@198.18.0.7")
        XCTAssertEqual(SSHDestination.parse("[::1]:2")?.description, "[::1]:2")
        for bad in ["", "@h", "h:0", "h:port", "root@", "a b", "h/x", "-oProxyCommand=touch /tmp/x", "root@-oProxyCommand=id",
                    "-l@h", "h;id", "h$(id)", "[::1", "[h]", "[::1]x", "r\u{0D4E};id@h", "h\u{0D4E};id", "h\nx"] {
            XCTAssertNil(SSHDestination.parse(bad), bad)
        }
        let command = SSHDestination(user: "root", host: "h", port: 2200, keyFile: "/k", sshCommand: "/w").command("ss -Htln")
        XCTAssertEqual(command, ["/w", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", "2200", "-i", "/k", "-l", "root", "--", "h", "ss -Htln"])
        XCTAssertNil(HostAccess.implied(by: "qemu+ssh://-oProxyCommand=id/system"))
        XCTAssertEqual(HostAccess.namespace("mlab-dst").command("true"), ["ip", "netns", "exec", "mlab-dst", "sh", "-c", "true"])
    }

    /// A word stays bare only when all its scalars are safe ASCII: a scalar that combines
    /// with the next (U+0D4E before `;id`) must not smuggle a `;` through as a "letter".
    func testShellQuotingQuotesEverythingOutsideASafeASCIISet() throws {
        XCTAssertEqual(shellQuoted("/var/lib/x_1.img"), "/var/lib/x_1.img")
        XCTAssertEqual(shellQuoted("a=b,c@d:e%f+g-h"), "a=b,c@d:e%f+g-h")
        XCTAssertEqual(shellQuoted("\u{0D4E};id"), "'\u{0D4E};id'")
        XCTAssertEqual(shellQuoted("guest\u{0D4E};id"), "'guest\u{0D4E};id'")
        XCTAssertEqual(shellQuoted("é"), "'é'")
        XCTAssertEqual(shellQuoted(""), "''")
        XCTAssertEqual(shellQuoted("it's"), "'it'\\''s'")
        XCTAssertEqual(shellQuoted("a\"b"), "'a\"b'")
        XCTAssertEqual(shellQuoted("$(id)"), "'$(id)'")
        // And sh agrees: each word comes back as itself, nothing runs.
        for word in ["\u{0D4E};id", "it's", "", "a\"b", "$(id) `id` \\n", "x\ny"] {
            let echoed = try CommandRunner.run(["sh", "-c", "printf %s " + shellQuoted(word)], step: "echo a quoted word").output
            XCTAssertEqual(echoed, word, word)
        }
    }

    func testConsoleFileAndTapsAreReadFromTheDomainXML() {
        let xml = """
            <domain type='qemu'><name>g</name><devices>
              <interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='br0'/><target dev='vnet7'/><model type='virtio'/></interface>
              <interface type='network'><target dev="vnet8"/></interface>
              <serial type='file'><source path='/var/log/g.console'/><target type='isa-serial' port='0'/></serial>
              <console type='file'><source path='/var/log/g.console'/><target type='serial' port='0'/></console>
            </devices></domain>
            """
        XCTAssertEqual(((try? DomainDescription(xml: xml))?.interfaceTargets ?? []), ["vnet7", "vnet8"])
        XCTAssertEqual((try? DomainDescription(xml: xml))?.consoleLogPath, "/var/log/g.console")
        let logged = "<domain><devices><serial type='pty'><source path='/dev/pts/3'/><log file='/var/log/libvirt/qemu/g-serial0.log' append='on'/></serial></devices></domain>"
        XCTAssertEqual((try? DomainDescription(xml: logged))?.consoleLogPath, "/var/log/libvirt/qemu/g-serial0.log")
        XCTAssertNil((try? DomainDescription(xml: "<domain><devices><serial type='pty'><source path='/dev/pts/3'/></serial></devices></domain>"))?.consoleLogPath,
                     "a pty console is not a file")
    }

    /// A process that looks like QEMU to the host script (its `comm` and `-name guest=...`),
    /// found, told apart from other domains, and killed, on this machine through `sh`.
    func testQEMUProcessesOfADomainAreFoundAndKilledByTheHostScript() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hostaccess-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fake = directory.appendingPathComponent("qemu-system-x86_64").path
        try FileManager.default.copyItem(atPath: "/bin/sleep", toPath: fake)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "exec -a 'qemu-system-x86_64 -name guest=hostaccess-\(getpid()),debug-threads=on' \(fake) 60"]
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let host = HostInspector(hostName: "this machine", access: .local)
        let name = "hostaccess-\(getpid())"
        var found: [Int32] = []
        for _ in 0..<50 where found.isEmpty {
            found = try host.qemuProcessIDs(domainName: name)
            if found.isEmpty { usleep(20_000) }
        }
        XCTAssertEqual(found, [process.processIdentifier])
        XCTAssertEqual(try host.qemuProcessIDs(domainName: name + "x"), [], "another domain's name does not match")
        XCTAssertEqual(try host.incomingQEMUProcessIDs(domainName: name), [], "no -incoming on its command line")
        XCTAssertEqual(try host.kill(processIDs: found), [], "gone")
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)
        XCTAssertEqual(try host.qemuProcessIDs(domainName: name), [])
        XCTAssertEqual(try host.kill(processIDs: []), [], "nothing to kill is not an error")
    }

    func testInterfacesPortsAndFilesAreReadThroughTheHostShell() throws {
        let host = HostInspector(hostName: "this machine", access: .local)
        XCTAssertTrue(try host.interfaces().contains("lo"))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hostaccess-file-\(getpid())").path
        try "first\nsecond\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        XCTAssertEqual(host.fileSize(file), 13)
        XCTAssertEqual(host.readFile(file, fromOffset: 6), "second\n")
        XCTAssertNil(host.fileSize(file + ".missing"))
        XCTAssertEqual(HostInspector.ports(fromSSOutput: "LISTEN 0 1 198.18.0.2:49152 0.0.0.0:*\nLISTEN 0 4096 [::]:22 [::]:*\n"), [49152, 22])
    }

    func testAFailingHostCommandIsATypedErrorNamingTheHostAndAccess() {
        let host = HostInspector(hostName: "dst", access: .namespace("migverify-no-such-namespace"))
        XCTAssertThrowsError(try host.interfaces()) { error in
            let text = (error as? VerifierError)?.description ?? ""
            XCTAssertTrue(text.contains("on dst (namespace migverify-no-such-namespace)"), text)
            XCTAssertTrue(text.contains("Cannot open network namespace"), "ip's standard error says why: \(text)")
        }
    }

    /// Repeated runs are summarised: how often the series failed and which checks.
    func testRepeatedRunsAreSummarisedAsAFailureRate() throws {
        var results: [ScenarioResult] = []
        for repetition in 1...4 {
            var result = Fixtures.result(checks: [Check(name: CheckName.landingIntact, passed: repetition == 2, evidence: "")])
            result.parameters.repetition = repetition
            result.integrityErrors = repetition == 3 ? nil : (repetition == 2 ? 0 : 1000 * repetition)
            results.append(result)
        }
        XCTAssertEqual(results.map(\.parameters.label).last, "live 333 MiB @ 50 MiB/s #4")
        let lines = ReportWriter.seriesSummaries(results)
        XCTAssertEqual(lines, ["SERIES live 333 MiB @ 50 MiB/s: failed in 3 of 4 runs (75%); failed checks: landing-intact 3×; stale pages found in 2 of 3 runs where memeater could verify (1000-4000 pages)"])
        XCTAssertTrue(ReportWriter.verdictTable(results).contains(lines[0]))
        XCTAssertEqual(ReportWriter.seriesSummaries([results[0]]), [], "one run is no series")
        let runs = try SweepMatrix(scenarios: [.live, .prepareFail], memorySizesMiB: [333], dirtyRatesMiBPerSecond: [50],
                                   repeatCount: 3).cells(template: Fixtures.parameters())
        XCTAssertEqual(runs.map(\.label), ["live 333 MiB @ 50 MiB/s #1", "live 333 MiB @ 50 MiB/s #2", "live 333 MiB @ 50 MiB/s #3",
                                           "prepare-fail 333 MiB @ 50 MiB/s #1", "prepare-fail 333 MiB @ 50 MiB/s #2", "prepare-fail 333 MiB @ 50 MiB/s #3"])
        XCTAssertEqual(Set(runs.map(\.key)).count, 6, "each repetition is its own run in the database")
        XCTAssertFalse(Fixtures.parameters().key.contains("repetition"), "a single run's key is as before --repeat existed")
    }
}
