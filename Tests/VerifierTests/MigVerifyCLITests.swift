import Foundation
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

    func testBadInputIsOneLineNamingTheProblem() throws {
        let real = ["--guest-address", "127.0.0.1", "--capture-interface", "lo", "--memeater-port", "9"]
        let cases: [([String], String)] = [
            (["run", "--scenario", "bogus"], "unknown scenario 'bogus'"),
            (["run", "--memory-mib", "lots"], "--memory-mib: 'lots' is not a number"),
            (["run", "--source-uri", "test:///default"], "real hosts need all of --source-uri, --dest-uri, --domain and --guest-address"),
            (["run", "--source-uri", "test:///default", "--dest-uri", "qemu:///system", "--domain", "test", "--emulator", "qemu-7.2"] + real,
             "--guest and --emulator choose the lab's guest and QEMU"),
            (["run", "--source-uri", "test:///default", "--dest-uri", "qemu:///system", "--domain", "test", "--guest-address", "guest",
              "--capture-interface", "lo"], "--guest-address must be an IPv4 address, not 'guest'"),
            (["run", "--source-uri", "test:///default", "--dest-uri", "qemu:///system", "--domain", "nosuch"] + real,
             "unknown domain 'nosuch' on test:///default"),
            (["run", "--source-uri", "qemu+unix:///system?socket=/run/migverify-no-such.sock", "--dest-uri", "test:///default", "--domain", "x"] + real,
             "connect to qemu+unix:///system?socket=/run/migverify-no-such.sock: "),
            (["run", "--source-uri", "test:///default", "--dest-uri", "qemu:///system", "--domain", "test"] + real,
             "no memeater answers at 127.0.0.1:9"),
            (["run", "--source-uri", "test:///default", "--dest-uri", "qemu+tcp://dst/system", "--domain", "test", "--scenario", "perform-fail"] + real,
             "--scenario perform-fail needs a shell on the destination: use a qemu+ssh:// --dest-uri or give --dest-ssh USER@HOST"),
            (["run", "--source-uri", "test:///default", "--dest-uri", "qemu:///system", "--domain", "test", "--scenario", "link-cut"] + real,
             "--scenario link-cut runs on the lab only"),
            (["run", "--source-uri", "test:///default", "--dest-uri", "qemu+tcp://dst/system", "--dest-ssh", "root@", "--domain", "test"] + real,
             "--dest-ssh must be [USER@]HOST[:PORT], not 'root@'"),
            (["run", "--repeat", "0"], "--repeat must be at least 1, not 0"),
        ]
        for (arguments, expected) in cases {
            let outcome = try run(arguments)
            XCTAssertNotEqual(outcome.status, 0, "\(arguments)")
            let lines = outcome.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(arguments): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.hasPrefix("migverify: error: "), outcome.stderr)
            XCTAssertTrue(outcome.stderr.contains(expected), "\(arguments): expected '\(expected)' in \(outcome.stderr)")
            XCTAssertEqual(outcome.stdout, "", "\(arguments)")
        }
    }

    func testHelpStillPrintsInFull() throws {
        let outcome = try run(["run", "--help"])
        XCTAssertEqual(outcome.status, 0)
        XCTAssertTrue(outcome.stdout.contains("--source-uri"), outcome.stdout)
        XCTAssertTrue(outcome.stdout.contains("--repeat"), outcome.stdout)
    }
}
