import ArgumentParser
import Foundation
import MemeaterKit
import Lab
@testable import MigVerifyCLI
import Verifier
import XCTest

/// `migverify` commands parsed in this process: typed options, comma lists, the hidden old
/// option names, and `validate()` rejecting bad input in one line (exit 64) without
/// reaching a host or the lab.
final class CommandLineParsingTests: XCTestCase {
    /// The message and exit code `command` gives `arguments`; a test failure if it parses.
    private func rejection<Command: ParsableCommand>(_ command: Command.Type, _ arguments: [String],
                                                     file: StaticString = #filePath, line: UInt = #line) -> (message: String, code: Int32) {
        do {
            _ = try Command.parse(arguments)
            XCTFail("\(arguments) parsed, expected an error", file: file, line: line)
            return ("", 0)
        } catch {
            return (Command.message(for: error), Command.exitCode(for: error).rawValue)
        }
    }

    private func assertRejected<Command: ParsableCommand>(_ command: Command.Type, _ arguments: [String],
                                                          naming fragments: [String],
                                                          file: StaticString = #filePath, line: UInt = #line) {
        let (message, code) = rejection(command, arguments, file: file, line: line)
        XCTAssertEqual(code, 64, "\(arguments): \(message)", file: file, line: line)
        XCTAssertFalse(message.contains("\n"), "one line: \(message)", file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(message.contains(fragment), "\(arguments): expected '\(fragment)' in \(message)", file: file, line: line)
        }
    }

    /// `migverify run` rejects `arguments` in one line naming every fragment, with exit 64.
    private func assertRejected(_ arguments: [String], naming fragments: [String],
                                file: StaticString = #filePath, line: UInt = #line) {
        assertRejected(RunCommand.self, arguments, naming: fragments, file: file, line: line)
    }

    /// The matrix `migverify run arguments` plans (validate() made it).
    private func matrix(_ arguments: [String]) throws -> SweepMatrix {
        try XCTUnwrap(try RunCommand.parse(arguments).plan).matrix
    }

    // MARK: typed values

    func testEnumOptionsParseToTheirValues() throws {
        let defaults = try RunCommand.parse([])
        XCTAssertEqual(try matrix([]).scenarios, ScenarioKind.defaults)
        XCTAssertNil(defaults.matrix.guest)
        XCTAssertEqual(defaults.migration.chosenMigrationMode, .peerToPeer)
        XCTAssertEqual(defaults.migration.maxPingGap, 2000)
        XCTAssertEqual(try matrix([]).dirtyRatesMiBPerSecond, [50])

        let command = try RunCommand.parse(["--guest", "debian", "--migration-mode", "client-managed"])
        XCTAssertEqual(command.matrix.guest?.elements, [.debian])
        XCTAssertEqual(command.migration.chosenMigrationMode, .clientManaged)
        XCTAssertEqual(try RunCommand.parse(["--migration-mode", "p2p"]).migration.chosenMigrationMode, .peerToPeer)
    }

    func testTheDefaultRunIsTheTestCasesWholeProcedureAndQuickIsOneSize() throws {
        // 2048 MiB first, then 1024 and 2111, on two guest OSes, each live, prepare-fail and perform-fail.
        let procedure = try matrix([])
        XCTAssertEqual(procedure.memorySizesMiB, [2048, 1024, 2111])
        XCTAssertEqual(procedure.guestKinds, ["initramfs", "debian"])
        let cells = try procedure.cells(template: Fixtures.parameters())
        XCTAssertEqual(cells.count, 18)
        XCTAssertEqual(cells.prefix(4).map { "\($0.guestKind) \($0.memoryMiB) \($0.scenario.rawValue)" },
                       ["initramfs 2048 live", "initramfs 2048 prepare-fail", "initramfs 2048 perform-fail", "initramfs 1024 live"])
        let quick = try matrix(["--quick"])
        XCTAssertEqual(quick.memorySizesMiB, [1024])
        XCTAssertEqual(quick.guestKinds, ["initramfs"])
        XCTAssertEqual(try matrix(["--quick", "--memory-mib", "2111"]).memorySizesMiB, [2111], "an explicit size wins")
        XCTAssertEqual(try matrix(["--guest", "all"]).guestKinds, GuestKind.allCases.map(\.rawValue))
        let sweep = try XCTUnwrap(try SweepCommand.parse(["--id", "s1"]).plan).matrix
        XCTAssertEqual(sweep.memorySizesMiB, [1024], "a sweep's other dimensions multiply it: one size unless asked")
        XCTAssertEqual(sweep.guestKinds, ["initramfs"])
    }

    func testAnUnknownEnumValueIsNamedWithTheKnownOnes() {
        assertRejected(["--guest", "bogus"], naming: ["'bogus'", "--guest", "initramfs, debian"])
        // virsh's name for the mode is not ours: `direct` is not a mode.
        assertRejected(["--migration-mode", "direct"], naming: ["'direct'", "'p2p'", "'client-managed'"])
        assertRejected(LabCommand.Up.self, ["--guest", "windows"], naming: ["'windows'", "'initramfs'", "'debian'", "'none'"])
    }

    func testEveryGuestKindParsesAndAllIsTheFourKinds() throws {
        let all = try RunCommand.parse(["--guest", "all"])
        XCTAssertEqual(all.matrix.guest?.elements, [.initramfs, .debian11, .debian, .debian13])
        XCTAssertEqual(try XCTUnwrap(all.plan).matrix.guestKinds, ["initramfs", "debian11", "debian", "debian13"])
        XCTAssertEqual(try RunCommand.parse(["--guest", "debian11,debian13"]).matrix.guest?.elements, [.debian11, .debian13])
        XCTAssertEqual(try matrix(["--guest", "debian12"]).guestKinds, ["debian"], "the alias is stored as debian")
        XCTAssertEqual(try matrix([]).guestKinds, ["initramfs", "debian"], "the main job's default")
        for kind in GuestKind.allCases {
            XCTAssertEqual(try LabCommand.Up.parse(["--guest", kind.rawValue]).guest.kind, kind)
        }
        XCTAssertEqual(try LabCommand.Up.parse(["--guest", "debian12"]).guest.kind, .debian)
        assertRejected(["--guest", "debian10"], naming: ["'debian10'", "initramfs, debian11, debian, debian13"])
    }

    func testLabUpGuestNoneMeansNoGuest() throws {
        XCTAssertNil(try LabCommand.Up.parse(["--guest", "none"]).guest.kind)
        XCTAssertEqual(try LabCommand.Up.parse(["--guest", "debian"]).guest.kind, .debian)
        XCTAssertEqual(try LabCommand.Up.parse([]).guest.kind, .initramfs)
    }

    // MARK: comma-separated lists

    func testCommaListsParseEveryValueInOrder() throws {
        let command = try RunCommand.parse(["--scenario", "live, abort,link-cut", "--memory-mib", "1024,2111",
                                            "--dirty-rate-mib-per-second", "0,12.5"])
        XCTAssertEqual(command.matrix.scenario?.elements, [.live, .abort, .linkCut])
        XCTAssertEqual(command.matrix.memoryMiB?.elements, [1024, 2111])
        XCTAssertEqual(command.matrix.dirtyRateMiBPerSecond?.elements, [0, 12.5])

        XCTAssertEqual(try CommaSeparated<Int>(parsing: " 1 , 2 ").elements, [1, 2])
        XCTAssertEqual(CommaSeparated<ScenarioKind>(argument: "live,dst-qemu-killed")?.elements, [.live, .dstQEMUKilled])
        XCTAssertNil(CommaSeparated<ScenarioKind>(argument: "live,nope"))
        XCTAssertEqual(CommaSeparated(ScenarioKind.defaults).defaultValueDescription, "live,prepare-fail,perform-fail")
        XCTAssertEqual(CommaSeparated<ScenarioKind>.allValueStrings, ScenarioKind.allCases.map(\.rawValue))
    }

    /// Finding 7f of issue 24: an empty entry (a stray comma) is refused in one line, not
    /// dropped without a word; a list of nothing but commas has no value at all.
    func testAnEmptyListEntryIsRefused() throws {
        assertRejected(["--memory-mib", "1024,"], naming: ["--memory-mib", "value 2 of 2 is empty (a stray comma?)"])
        assertRejected(["--scenario", "live,,abort"], naming: ["--scenario", "value 2 of 3 is empty"])
        assertRejected(["--compression", ",,"], naming: ["--compression", "no value given"])
        assertRejected(["--parallel-connections", "4", "--compression", "zstd,"], naming: ["--compression", "value 2 of 2 is empty"])
        XCTAssertThrowsError(try CommaSeparated<Int>(parsing: ",1")) { error in
            XCTAssertEqual(error as? CommaSeparatedError, .emptyValue(position: 1, of: 2))
        }
        let compressed = try RunCommand.parse(["--parallel-connections", "4", "--compression", "zstd, zlib"])
        XCTAssertEqual(compressed.migration.migrationOptions.compressionMethods, ["zstd", "zlib"])
    }

    func testABadListValueIsNamedInOneLine() {
        assertRejected(["--scenario", "live,bogus"],
                       naming: ["--scenario", "unknown value 'bogus'"] + ScenarioKind.allCases.map(\.rawValue))
        assertRejected(["--memory-mib", "1024,lots"], naming: ["--memory-mib", "'lots' is not a number"])
        assertRejected(["--dirty-rate-mib-per-second", "fast"], naming: ["--dirty-rate-mib-per-second", "'fast' is not a number"])
        assertRejected(["--scenario", ","], naming: ["--scenario", "no value given"])
        XCTAssertThrowsError(try CommaSeparated<ScenarioKind>(parsing: "abort,x")) { error in
            XCTAssertEqual(error as? CommaSeparatedError,
                           .invalidValue("x", known: ScenarioKind.allCases.map(\.rawValue), expectsNumber: false))
        }
    }

    // MARK: hidden old names

    func testOldOptionNamesStillWorkButAreHidden() throws {
        let direct = try RunCommand.parse(["--direct"])
        XCTAssertEqual(direct.migration.chosenMigrationMode, .clientManaged)
        XCTAssertEqual(try RunCommand.parse(["--direct", "--migration-mode", "client-managed"]).migration.chosenMigrationMode, .clientManaged)
        let old = try RunCommand.parse(["--max-downtime-ms", "500", "--quick"])
        XCTAssertEqual(old.migration.maxPingGap, 500)
        XCTAssertEqual(try RunCommand.parse(["--max-ping-gap-ms", "750"]).migration.maxPingGap, 750)

        // The runs carry them as before: the same parameters, so the same results-database keys.
        let runs = try XCTUnwrap(old.plan).runs
        XCTAssertEqual(runs.map(\.maxPingDowntimeMilliseconds), [500, 500, 500])
        let directRuns = try XCTUnwrap(direct.plan).runs
        XCTAssertTrue(directRuns.allSatisfy { $0.migration.mode == .clientManaged && !$0.migration.libvirtFlags.contains(.peerToPeer) })

        let help = RunCommand.helpMessage(columns: 200)
        XCTAssertFalse(help.contains("--direct "), help)
        XCTAssertFalse(help.contains("--max-downtime-ms"), help)
        XCTAssertTrue(help.contains("--migration-mode"), help)
        XCTAssertTrue(help.contains("--max-ping-gap-ms"), help)
        XCTAssertTrue(help.contains("--qemu-max-downtime-ms"), help)
        let hidden = RunCommand.helpMessage(includeHidden: true, columns: 200)
        XCTAssertTrue(hidden.contains("--direct"), hidden)
        XCTAssertTrue(hidden.contains("--max-downtime-ms"), hidden)
    }

    func testAnOldNameTogetherWithItsNewNameIsRejected() {
        assertRejected(["--direct", "--migration-mode", "p2p"], naming: ["--direct", "--migration-mode"])
        assertRejected(["--max-downtime-ms", "500", "--max-ping-gap-ms", "600"], naming: ["--max-downtime-ms", "--max-ping-gap-ms"])
    }

    // MARK: validate()

    func testValidateRejectsBadInputInOneLineWithoutReachingAHost() {
        // Unreachable on purpose: validate() must not connect, look up routes or ssh.
        let hosts = ["--domain", "guest", "--guest-address", "192.0.2.10"]
        let real = ["--source-uri", "qemu+ssh://root@src.invalid/system", "--dest-uri", "qemu+ssh://root@dst.invalid/system"] + hosts
        let tcp = ["--source-uri", "qemu+tcp://src.invalid/system", "--dest-uri", "qemu+tcp://dst.invalid/system"] + hosts
        let cases: [([String], [String])] = [
            (["--repeat", "0"], ["--repeat must be between 1 and 1000, not 0"]),
            (["--repeat", "1000000000"], ["--repeat must be between 1 and 1000, not 1000000000"]),
            (["--id", "../x"], ["--id must be 1-64 letters, digits"]),
            (["--pattern", "zigzag"], ["--pattern", "'zigzag'"]),
            (["--strategy", "turbo"], ["--strategy", "'turbo'"]),
            (["--matrix", "/nonexistent/m.yaml"], ["/nonexistent/m.yaml"]),
            (["--matrix", "/nonexistent/m.yaml", "--memory-mib", "1024"], ["--memory-mib cannot be given with --matrix"]),
            (["--back", "--scenario", "abort,prepare-fail"], ["--back", "no live"]),
            (["--source-uri", "test:///default"], ["real hosts need all of --source-uri, --dest-uri, --domain and --guest-address"]),
            (real + ["--guest", "debian"], ["--guest, --emulator and --pattern choose the lab's guest, QEMU and memeater"]),
            (real + ["--emulator", "qemu-7.2"], ["--guest, --emulator and --pattern choose the lab's guest, QEMU and memeater"]),
            (Array(real.dropLast()) + ["guest"], ["--guest-address: target 'guest' is not a numeric IPv4 address or IPv6 address"]),
            (real + ["--dest-ssh", "root@"], ["--dest-ssh must be [USER@]HOST[:PORT], not 'root@'"]),
            (real + ["--memeater-token-file", "/nonexistent/token"],
             ["--memeater-token-file: cannot read the token file /nonexistent/token: No such file or directory"]),
            (["--memeater-token-file", "/nonexistent/token"], ["real hosts need all of --source-uri, --dest-uri, --domain and --guest-address"]),
            (real + ["--source-ssh", "src:99999"], ["--source-ssh must be [USER@]HOST[:PORT]"]),
            (real + ["--scenario", "link-cut"], ["--scenario link-cut runs on the lab only"]),
            (tcp + ["--scenario", "live,perform-fail"], ["--scenario perform-fail needs a shell on the destination"]),
            (tcp + ["--scenario", "dst-qemu-killed"], ["--scenario dst-qemu-killed needs a shell on the destination"]),
            (real + ["--memory-mib", "2000000"], ["--memory-mib must be between 64 and 1048576, not 2000000"]),
            (["--source-uri", "test:///default", "--dest-uri", "test:///default", "--domain", "test", "--guest-address", "127.0.0.1"],
             ["are the same"]),
            (["--parallel-connections", "1"], ["--parallel-connections must be between 2 and 255"]),
            (["--compression", "zstd"], ["needs --parallel-connections"]),
            (["--postcopy", "--compression", "xbzrle"], ["--postcopy"]),
            (["--bandwidth-mib-per-second", "0"], ["--bandwidth-mib-per-second", "'0'", "unlimited"]),
            (["--dirty-rate-mib-per-second", "50,-1"], ["--dirty-rate-mib-per-second must be between 0 (unlimited) and 100000"]),
            (["--memory-mib", "1024", "--memeater-size-mib", "1000"], ["--memeater-size-mib"]),
            (["--stall-timeout-seconds", "200"], ["cannot exceed --timeout-seconds"]),
            (["--ping-interval-microseconds", "10"], ["--ping-interval-microseconds"]),
            (["--max-ping-gap-ms", "0"], ["--max-ping-gap-ms must be more than 0 and at most 3600000"]),
            (["--max-downtime-ms=-5"], ["--max-downtime-ms (old name of --max-ping-gap-ms) must be more than 0"]),
            (["--emulator", "bogus"], ["unknown emulator 'bogus'"]),
            (["--memory-mib", "1024,32"], ["--memory-mib", "guest RAM must be between 64 and", "not 32 MiB", "MemTotal"]),
            (["--memory-mib", "100000000"], ["--memory-mib", "not 100000000 MiB", "two QEMUs"]),
        ]
        for (arguments, fragments) in cases {
            assertRejected(arguments, naming: fragments)
        }
        // Complete real-host options pass validate(): the hosts are only reached when the command runs (RunPlan.resolve).
        XCTAssertNoThrow(try RunCommand.parse(real))
        XCTAssertNoThrow(try RunCommand.parse(tcp + ["--memory-mib", "64", "--scenario", "live,prepare-fail,abort"]))
        XCTAssertNoThrow(try RunCommand.parse(real + ["--memory-mib", "500000", "--memeater-size-mib", "1024"]))
    }

    /// IPv6 guests too: an IPv6 --guest-address passes validation and reaches the endpoints.
    /// A zone, a name or an address no host answers on is refused in one line, as pingmon would.
    func testAnIPv6GuestAddressIsAccepted() throws {
        let real = ["--source-uri", "qemu+ssh://root@src.invalid/system", "--dest-uri", "qemu+ssh://root@dst.invalid/system",
                    "--domain", "guest", "--guest-address", "2001:db8::10"]
        let hosts = try XCTUnwrap(try RunCommand.parse(real).hosts.remoteHosts(interface: { _ in "lo" }))
        XCTAssertEqual(hosts.endpoints.guestAddress, "2001:db8::10")
        for (bad, why) in [("fe80::1%eth0", "has a zone"), ("2001:db8::10::1", "is not a numeric IPv4 address or IPv6 address"),
                           ("guest.example.invalid", "is not a numeric"), ("::ffff:198.18.1.10", "IPv4-mapped"), ("ff02::1", "multicast")] {
            assertRejected(Array(real.dropLast()) + [bad], naming: ["--guest-address: target", why])
        }
    }

    func testTheMemeaterTokenFileGoesToTheRealHostsOnly() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("memeater-token-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let token = try ControlToken.generate()
        try token.write(toFile: path)
        let real = ["--source-uri", "qemu+ssh://root@src.invalid/system", "--dest-uri", "qemu+ssh://root@dst.invalid/system",
                    "--domain", "guest", "--guest-address", "192.0.2.10", "--memeater-token-file", path]
        let hosts = try XCTUnwrap(try RunCommand.parse(real).hosts.remoteHosts(interface: { _ in "lo" }))
        XCTAssertEqual(hosts.memeaterToken?.text, token.text)
        XCTAssertFalse(String(describing: hosts.endpoints).contains(token.text), "the endpoints, which the results store keeps, hold no token")
        let without = try XCTUnwrap(try RunCommand.parse(Array(real.dropLast(2))).hosts.remoteHosts(interface: { _ in "lo" }))
        XCTAssertNil(without.memeaterToken)
        XCTAssertEqual(chmod(path, 0o644), 0)
        assertRejected(real, naming: ["--memeater-token-file: the token file \(path) can be read by others (mode 644): chmod 600 it"])
    }

    func testLabUpValidatesItsMemoryWithTheSameRange() throws {
        assertRejected(LabCommand.Up.self, ["--memory-mib", "32"], naming: ["--memory-mib", "guest RAM must be between 64 and"])
        assertRejected(LabCommand.Up.self, ["--memory-mib", "100000000"], naming: ["--memory-mib", "not 100000000 MiB"])
        XCTAssertEqual(try LabCommand.Up.parse(["--memory-mib", "2111"]).memoryMiB, 2111)
        guard let range = GuestMemoryRange.ofThisMachine()?.rangeMiB else { throw XCTSkip("no MemTotal on this machine") }
        // The largest guest that fits is accepted by both commands, one more MiB by neither.
        XCTAssertNoThrow(try LabCommand.Up.parse(["--memory-mib", String(range.upperBound)]))
        XCTAssertNoThrow(try RunCommand.parse(["--memory-mib", String(range.upperBound)]))
        assertRejected(LabCommand.Up.self, ["--memory-mib", String(range.upperBound + 1)], naming: ["not \(range.upperBound + 1) MiB"])
        assertRejected(["--memory-mib", String(range.upperBound + 1)], naming: ["not \(range.upperBound + 1) MiB"])
    }

    func testLabGuestMemoryCheckUsesTheGivenRange() {
        let small = GuestMemoryRange(hostMemTotalMiB: 4096)  // (4096 - 1024) / 2 = 1536
        XCTAssertNoThrow(try validateLabGuestMemory([64, 1536], range: small))
        XCTAssertThrowsError(try validateLabGuestMemory([1024, 1537], range: small)) { error in
            let message = (error as? ValidationError)?.message ?? ""
            XCTAssertTrue(message.hasPrefix("--memory-mib: guest RAM must be between 64 and 1536 MiB on this machine, not 1537 MiB"), message)
        }
        // Without MemTotal only the sanity bound applies.
        XCTAssertNoThrow(try validateLabGuestMemory([500_000], range: nil))
        XCTAssertThrowsError(try validateLabGuestMemory([63], range: nil))
    }

    // MARK: lab location

    func testLabLocationOptionsAreSharedByLabAndRun() throws {
        let location = ["--state-directory", "/run/x", "--cache-directory", "/var/cache/x", "--lab-name-prefix", "mlabx"]
        let run = try RunCommand.parse(location)
        let status = try LabCommand.Status.parse(location)
        let up = try LabCommand.Up.parse(location)
        for configuration in [run.lab.configuration, status.location.lab.configuration, up.location.lab.configuration] {
            XCTAssertEqual(configuration.stateDirectory, "/run/x")
            XCTAssertEqual(configuration.cacheDirectory, "/var/cache/x")
            XCTAssertEqual(configuration.namePrefix, "mlabx")
            XCTAssertEqual(configuration.source.namespace, "mlabx-src")
        }
        XCTAssertEqual(try LabCommand.Down.parse([]).location.lab.configuration, LabConfiguration())
        XCTAssertEqual(try RunCommand.parse([]).lab.configuration, LabConfiguration())
    }

    /// `lab up` refuses a state directory that is not a lab's (it would put its journal there,
    /// and `lab down` would then delete the directory): parsed only, nothing runs.
    func testLabUpRefusesAStateDirectoryThatIsNotALabs() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lab-up-state-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "keep\n".write(to: directory.appendingPathComponent("precious"), atomically: true, encoding: .utf8)
        assertRejected(LabCommand.Up.self, ["--state-directory", directory.path, "--guest", "none"],
                       naming: ["--state-directory: \(directory.path) holds no lab journal"])
        assertRejected(LabCommand.Down.self, ["--state-directory", directory.path], naming: ["holds no lab journal"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["precious"])
        // A lab's own directory (its journal, even empty) and a missing one are fine.
        try Data().write(to: directory.appendingPathComponent("journal"))
        XCTAssertNoThrow(try LabCommand.Up.parse(["--state-directory", directory.path, "--guest", "none"]))
        XCTAssertNoThrow(try LabCommand.Up.parse(["--state-directory", directory.path + "/missing", "--guest", "none"]))
    }
}
