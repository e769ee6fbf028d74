import Foundation
import Verifier
import XCTest

/// The real `migverify` binary given bad input: one line naming the problem, a non-zero
/// exit, before anything starts. Only libvirt's test driver, a missing unix socket and
/// loopback are reached, so no packet leaves this machine.
final class MigVerifyCLITests: XCTestCase {
    static var binary: String {
        // The test bundle sits beside the products it was built with.
        let testExecutable = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "")
        return testExecutable.deletingLastPathComponent().appendingPathComponent("migverify").path
    }

    private func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.binary), "migverify not built at \(Self.binary)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    /// Sweep input: a malformed matrix file names its line, an unknown sweep id is named with
    /// the ids the database has; each one line and exit 64, before anything runs.
    func testMalformedMatrixFilesAndUnknownSweepIDsExit64() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("migverify-cli-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let yaml = directory.appendingPathComponent("m.yaml").path
        try "memory-mib: [1024, 2111]\ndirty-rate-mib-per-second: 15\nwarp-speed: 9\n".write(toFile: yaml, atomically: true, encoding: .utf8)
        let toml = directory.appendingPathComponent("m.toml").path
        try "memory-mib = [1024]\n\ndirty-rate-mib-per-second = \"fast\"\n".write(toFile: toml, atomically: true, encoding: .utf8)
        let database = directory.appendingPathComponent("r.sqlite").path
        _ = try ResultsStore(path: database)
        let cases: [([String], String)] = [
            (["sweep", "--id", "s1", "--matrix", yaml], "m.yaml:3:"),
            (["sweep", "--id", "s1", "--matrix", yaml], "warp-speed"),
            (["sweep", "--id", "s1", "--matrix", toml], "m.toml:3:"),
            (["run", "--matrix", toml], "m.toml:3:"),
            (["correlate", "nosuch", "--database", database], "unknown sweep id 'nosuch'"),
            (["report", "nosuch", "--database", database, "--output", directory.appendingPathComponent("out").path], "unknown sweep id 'nosuch'"),
        ]
        for (arguments, expected) in cases {
            let outcome = try run(arguments)
            XCTAssertEqual(outcome.status, 64, "\(arguments): \(outcome.stderr)")
            XCTAssertEqual(outcome.stderr.split(separator: "\n").count, 1, "\(arguments): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.contains(expected), "\(arguments): expected '\(expected)' in \(outcome.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("out").path), "nothing written for an unknown id")
    }

    func testBadInputIsOneLineNamingTheProblem() throws {
        let real = ["--guest-address", "127.0.0.1", "--capture-interface", "lo", "--memeater-port", "9"]
        // libvirt's test driver as the destination: one with no domain, one where the guest also runs.
        let fixtures = FileManager.default.temporaryDirectory.appendingPathComponent("migverify-cli-\(getpid())")
        try FileManager.default.createDirectory(at: fixtures, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: fixtures) }
        try "<node/>\n".write(to: fixtures.appendingPathComponent("empty.xml"), atomically: true, encoding: .utf8)
        try """
            <node><domain type="test"><name>test</name><memory>1048576</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain></node>
            """.write(to: fixtures.appendingPathComponent("twin.xml"), atomically: true, encoding: .utf8)
        let emptyDestination = "test://\(fixtures.path)/empty.xml"
        let twinDestination = "test://\(fixtures.path)/twin.xml"
        let cases: [([String], String)] = [
            (["run", "--scenario", "live,bogus"], "--scenario <scenario>': unknown value 'bogus' (known: live, prepare-fail, "),
            (["run", "--memory-mib", "lots"], "--memory-mib <memory-mib>': 'lots' is not a number"),
            (["run", "--guest", "bogus"], "unknown value 'bogus' (known: initramfs, debian11, debian, debian13)"),
            (["sweep", "--memory-mib", "1024"], "migverify sweep needs --id ID"),
            (["correlate", "x", "--database", "/nonexistent/r.sqlite"], "no results database at /nonexistent/r.sqlite"),
            (["run", "--migration-mode", "direct"], "Please provide one of 'p2p' and 'client-managed'"),
            (["run", "--direct", "--migration-mode", "p2p"], "--direct is the old name of --migration-mode client-managed"),
            (["run", "--max-downtime-ms", "0"], "--max-downtime-ms (old name of --max-ping-gap-ms) must be more than 0"),
            (["run", "--memory-mib", "100000000"], "--memory-mib: guest RAM must be between 64 and "),
            (["lab", "up", "--memory-mib", "100000000"], "--memory-mib: guest RAM must be between 64 and "),
            (["lab", "up", "--guest", "windows"], "Please provide one of 'initramfs', 'debian11', 'debian', 'debian13' or 'none'"),
            (["run", "--source-uri", "test:///default"], "real hosts need all of --source-uri, --dest-uri, --domain and --guest-address"),
            (["run", "--source-uri", "test:///default", "--dest-uri", "qemu:///system", "--domain", "test", "--emulator", "qemu-7.2"] + real,
             "--guest, --emulator and --pattern choose the lab's guest, QEMU and memeater"),
            (["run", "--source-uri", "test:///default", "--dest-uri", "qemu:///system", "--domain", "test", "--guest-address", "guest",
              "--capture-interface", "lo"], "--guest-address: target 'guest' is not a numeric IPv4 address or IPv6 address"),
            (["run", "--source-uri", "test:///default", "--dest-uri", emptyDestination, "--domain", "nosuch"] + real,
             "unknown domain 'nosuch' on test:///default"),
            // Real hosts: every check before anything is changed (plan), one line each.
            (["run", "--source-uri", "test:///default", "--dest-uri", emptyDestination, "--domain", "test", "--guest-address", "239.1.1.1",
              "--capture-interface", "lo"], "--guest-address: target 239.1.1.1 is a multicast address, not one host"),
            (["run", "--source-uri", "test:///default", "--dest-uri", "qemu+unix:///system?socket=/run/migverify-no-such.sock", "--domain", "test"] + real,
             "connect to qemu+unix:///system?socket=/run/migverify-no-such.sock: "),
            (["run", "--source-uri", "test:///default", "--dest-uri", twinDestination, "--domain", "test"] + real,
             "domain test also runs on \(twinDestination)"),
            (["run", "--source-uri", "test:///default", "--dest-uri", emptyDestination, "--domain", "test", "--memory-mib", "1024"] + real,
             "--memory-mib 1024: domain test has 2048 MiB on test:///default, and a running guest cannot be resized"),
            (["run", "--source-uri", "qemu+unix:///system?socket=/run/migverify-no-such.sock", "--dest-uri", "test:///default", "--domain", "x"] + real,
             "connect to qemu+unix:///system?socket=/run/migverify-no-such.sock: "),
            (["run", "--source-uri", "test:///default", "--dest-uri", emptyDestination, "--domain", "test"] + real,
             "no memeater answers at 127.0.0.1:9"),
            (["run", "--source-uri", "test:///default", "--dest-uri", "qemu+tcp://dst/system", "--domain", "test", "--scenario", "perform-fail"] + real,
             "--scenario perform-fail needs a shell on the destination: use a qemu+ssh:// --dest-uri or give --dest-ssh USER@HOST"),
            (["run", "--source-uri", "test:///default", "--dest-uri", "qemu:///system", "--domain", "test", "--scenario", "link-cut"] + real,
             "--scenario link-cut runs on the lab only"),
            (["run", "--source-uri", "test:///default", "--dest-uri", "qemu+tcp://dst/system", "--dest-ssh", "root@", "--domain", "test"] + real,
             "--dest-ssh must be [USER@]HOST[:PORT], not 'root@'"),
            // A host or user ssh would read as an option never reaches ssh.
            (["run", "--source-uri", "test:///default", "--dest-uri", "qemu+tcp://dst/system", "--dest-ssh=-oProxyCommand=touch /tmp/x", "--domain", "test"] + real,
             "--dest-ssh must be [USER@]HOST[:PORT], not '-oProxyCommand=touch /tmp/x'"),
            (["run", "--source-uri", "test:///default", "--dest-uri", "qemu+tcp://dst/system", "--source-ssh=-oProxyCommand=id@h", "--domain", "test"] + real,
             "--source-ssh must be [USER@]HOST[:PORT], not '-oProxyCommand=id@h'"),
            (["run", "--source-uri", "test:///default", "--dest-uri", "qemu+tcp://dst/system", "--dest-ssh", "root@h;id", "--domain", "test"] + real,
             "--dest-ssh must be [USER@]HOST[:PORT], not 'root@h;id'"),
            (["run", "--repeat", "0"], "--repeat must be between 1 and 1000, not 0"),
        ]
        for (arguments, expected) in cases {
            let outcome = try run(arguments)
            XCTAssertEqual(outcome.status, 64, "\(arguments): \(outcome.stderr)")
            let lines = outcome.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(arguments): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.hasPrefix("migverify: error: "), outcome.stderr)
            XCTAssertTrue(outcome.stderr.contains(expected), "\(arguments): expected '\(expected)' in \(outcome.stderr)")
            XCTAssertEqual(outcome.stdout, "", "\(arguments)")
        }
    }

    /// A fault journal in a directory anyone can write is refused in one line before anything
    /// is done: `run` exits 2 with no database made, `lab down` exits 1 and leaves a
    /// crash-left lab as it was (issue 24, finding 4).
    func testAFaultJournalOthersCouldWriteStopsRunAndLabDownBeforeAnything() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("migverify-journal-\(getpid())-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let shared = base.appendingPathComponent("shared")
        try FileManager.default.createDirectory(at: shared, withIntermediateDirectories: true)
        XCTAssertEqual(chmod(shared.path, 0o777), 0)
        let journal = shared.appendingPathComponent("faults.json").path
        let expected = "fault journal \(journal) refused: \(shared.path) is writable by group and others (mode 0777); "

        let database = base.appendingPathComponent("results.sqlite").path
        let run = try run(["run", "--fault-journal", journal, "--database", database])
        XCTAssertEqual(run.status, 2, run.stderr)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
        XCTAssertTrue(run.stderr.hasPrefix("migverify run: error: \(expected)"), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: database), "nothing was started")

        let crashed = base.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: crashed.appendingPathComponent("guests"), withIntermediateDirectories: true)
        try "namespace mvj-never-made\n".write(to: crashed.appendingPathComponent("journal"), atomically: true, encoding: .utf8)
        let down = try self.run(["lab", "down", "--state-directory", crashed.path, "--fault-journal", journal,
                                 "--lab-name-prefix", "mvj\(getpid() % 100_000)", "--cache-directory", base.appendingPathComponent("cache").path])
        XCTAssertEqual(down.status, 1, down.stderr)
        XCTAssertEqual(down.stderr.split(separator: "\n").count, 1, down.stderr)
        XCTAssertTrue(down.stderr.hasPrefix("migverify: error: \(expected)"), down.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: crashed.appendingPathComponent("journal").path), "the lab was left as it was")
    }

    /// `lab down` deletes its state directory and stops what its journal names: a directory
    /// that holds no lab journal is refused, one line and exit 64, and left as it was; one
    /// with a journal (a lab left by a crash) is cleaned.
    func testLabDownActsOnlyOnADirectoryHoldingTheLabsJournal() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("migverify-down-\(getpid())-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let stranger = base.appendingPathComponent("not-a-lab")
        try FileManager.default.createDirectory(at: stranger, withIntermediateDirectories: true)
        try "keep me\n".write(to: stranger.appendingPathComponent("precious"), atomically: true, encoding: .utf8)
        // A prefix of our own and a fault journal of our own: no other lab is looked at.
        let isolated = ["--lab-name-prefix", "mvd\(getpid() % 100_000)", "--fault-journal", base.appendingPathComponent("faults.json").path,
                        "--cache-directory", base.appendingPathComponent("cache").path]
        let refused = try run(["lab", "down", "--state-directory", stranger.path] + isolated)
        XCTAssertEqual(refused.status, 64, refused.stderr)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("holds no lab journal"), refused.stderr)
        XCTAssertEqual(try String(contentsOf: stranger.appendingPathComponent("precious"), encoding: .utf8), "keep me\n")

        let file = base.appendingPathComponent("a-file")
        try "x".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try run(["lab", "down", "--state-directory", file.path] + isolated).status, 64)
        XCTAssertTrue(FileManager.default.fileExists(atPath: file.path))

        // A crash-left lab: a journal naming a process long gone and a namespace never made.
        let crashed = base.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: crashed.appendingPathComponent("guests"), withIntermediateDirectories: true)
        try "namespace mvd-never-made\nprocess 2147483646 1 libvirtd-src\n"
            .write(to: crashed.appendingPathComponent("journal"), atomically: true, encoding: .utf8)
        let cleaned = try run(["lab", "down", "--state-directory", crashed.path] + isolated)
        XCTAssertEqual(cleaned.status, 0, cleaned.stdout + cleaned.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: crashed.path), cleaned.stdout)
    }

    /// --json, --junit and --database naming one file, however spelled, is refused before
    /// anything runs: one line, exit 64, the file untouched.
    func testOutputsNamingTheSameFileAreRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("migverify-outputs-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let results = directory.appendingPathComponent("results.json").path
        try "previous\n".write(toFile: results, atomically: true, encoding: .utf8)
        let link = directory.appendingPathComponent("link.json").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: results)
        let fresh = directory.appendingPathComponent("new.xml").path
        let cases: [([String], String)] = [
            (["run", "--json", results, "--junit", results], "--json and --junit name the same file"),
            (["run", "--json", results, "--database", directory.path + "/./sub/../results.json"], "--json and --database name the same file"),
            (["run", "--json", link, "--junit", results], "--json and --junit name the same file"),
            (["run", "--junit", fresh, "--database", directory.path + "//new.xml"], "--junit and --database name the same file"),
            (["sweep", "--id", "s1", "--json", results, "--junit", link], "--json and --junit name the same file"),
        ]
        for (arguments, expected) in cases {
            let outcome = try run(arguments)
            XCTAssertEqual(outcome.status, 64, "\(arguments): \(outcome.stderr)")
            XCTAssertEqual(outcome.stderr.split(separator: "\n").count, 1, outcome.stderr)
            XCTAssertTrue(outcome.stderr.contains(expected), "\(arguments): expected '\(expected)' in \(outcome.stderr)")
        }
        XCTAssertEqual(try String(contentsOfFile: results, encoding: .utf8), "previous\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: fresh))
    }

    /// Finding 5 of issue 24: `report`, `correlate` and `rejudge` only read. On a copy of
    /// the database in a read-only directory (0444 in 0555; the tests may run as root, whom
    /// the modes do not stop, so what counts is what the commands do) they succeed, and the
    /// file keeps its bytes and its modification time, nothing appears beside it (no
    /// journal), and a run another process is still making stays `running`: no reader marks
    /// it interrupted.
    func testTheReadersLeaveAReadOnlyDatabaseAndItsRunningRunAsTheyWere() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("migverify-readers-\(getpid())-\(UUID().uuidString)")
        let frozen = directory.appendingPathComponent("frozen")
        try FileManager.default.createDirectory(at: frozen, withIntermediateDirectories: true)
        defer {
            try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: frozen.path)
            try? FileManager.default.removeItem(at: directory)
        }
        let database = frozen.appendingPathComponent("results.sqlite").path
        do {
            let store = try ResultsStore(path: database)
            let results = SyntheticSweepResults.results()
            try SyntheticSweepResults.store(results, as: "synthetic", in: store)
            _ = try store.beginRun(results[0].parameters, sweepID: "synthetic")  // still running elsewhere
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: database)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: frozen.path)
        // An older modification time, so that any write would show even within the same second.
        let stamp = Date(timeIntervalSince1970: 1_700_000_000)
        XCTAssertEqual(utime(database, [utimbuf(actime: Int(stamp.timeIntervalSince1970), modtime: Int(stamp.timeIntervalSince1970))]), 0)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: database))

        let output = directory.appendingPathComponent("report").path
        for (arguments, expected) in [(["report", "synthetic", "--database", database, "--output", output], "report: "),
                                      (["correlate", "synthetic", "--database", database], "R²"),
                                      (["rejudge", "synthetic", "--database", database], "rejudged 0 of ")] {
            let outcome = try run(arguments)
            XCTAssertEqual(outcome.status, 0, "\(arguments): \(outcome.stderr)")
            XCTAssertTrue(outcome.stdout.contains(expected), "\(arguments): expected '\(expected)' in \(outcome.stdout)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: database)), bytes, "the database's bytes are unchanged")
        let modified = try FileManager.default.attributesOfItem(atPath: database)[.modificationDate] as? Date
        XCTAssertEqual(modified, stamp, "the database was not written")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: frozen.path), ["results.sqlite"], "no journal beside it")
        let statuses = try ResultsStore.openForReading(path: database).runs().map(\.status)
        XCTAssertEqual(statuses.filter { $0 == .running }.count, 1, "the run still being made stays running: \(statuses)")
        XCTAssertFalse(statuses.contains(.interrupted), "\(statuses)")
    }

    /// Finding 7c of issue 24: an --output that cannot be made is one line naming the path
    /// and the reason, not Foundation's error with its user info.
    func testAReportOutputThatCannotBeMadeIsOneLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("migverify-output-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = directory.appendingPathComponent("results.sqlite").path
        try SyntheticSweepResults.store(SyntheticSweepResults.results(), as: "synthetic", in: try ResultsStore(path: database))
        let file = directory.appendingPathComponent("a-file").path
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        for (output, reason) in [(file, "it exists and is not a directory"), (file + "/report", "Not a directory")] {
            let outcome = try run(["report", "synthetic", "--database", database, "--output", output])
            XCTAssertEqual(outcome.status, 2, outcome.stderr)
            XCTAssertEqual(outcome.stderr, "migverify report: error: cannot write \(output): \(reason)\n")
        }
    }

    func testHelpStillPrintsInFull() throws {
        let outcome = try run(["run", "--help"])
        XCTAssertEqual(outcome.status, 0)
        XCTAssertTrue(outcome.stdout.contains("--source-uri"), outcome.stdout)
        XCTAssertTrue(outcome.stdout.contains("--repeat"), outcome.stdout)
        XCTAssertTrue(outcome.stdout.contains("--migration-mode"), outcome.stdout)
        XCTAssertTrue(outcome.stdout.contains("--max-ping-gap-ms"), outcome.stdout)
        XCTAssertTrue(outcome.stdout.contains("--lab-name-prefix"), outcome.stdout)
        XCTAssertFalse(outcome.stdout.contains("--max-downtime-ms"), "hidden old name: \(outcome.stdout)")
        XCTAssertFalse(outcome.stdout.contains("--direct "), "hidden old name: \(outcome.stdout)")
        let lab = try run(["lab", "down", "--help"])
        XCTAssertEqual(lab.status, 0)
        XCTAssertTrue(lab.stdout.contains("--lab-name-prefix"), lab.stdout)
    }

    /// The hidden old names still parse: a bad --repeat after them is the only complaint.
    func testOldOptionNamesAreStillAccepted() throws {
        let outcome = try run(["run", "--direct", "--max-downtime-ms", "500", "--repeat", "0"])
        XCTAssertEqual(outcome.status, 64)
        XCTAssertEqual(outcome.stderr, "migverify: error: --repeat must be between 1 and 1000, not 0\n")
    }
}
