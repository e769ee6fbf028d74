import Foundation
import XCTest

/// Runs the real `memeater` binary, as a user or the verifier would.
final class MemeaterCLITests: XCTestCase {
    private var binary: URL {
        // The test bundle sits beside the products it was built with.
        let testExecutable = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "")
        return testExecutable.deletingLastPathComponent().appendingPathComponent("memeater")
    }

    private struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
        var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }
        var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
    }

    private func launch(_ arguments: [String]) throws -> (Process, Pipe, Pipe) {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: binary.path), "memeater not built at \(binary.path)")
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return (process, out, err)
    }

    private func run(_ arguments: [String]) throws -> Outcome {
        let (process, out, err) = try launch(arguments)
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                       stderr: String(decoding: stderr, as: UTF8.self))
    }

    func testBadInputGivesOneLineAndNonZeroExit() throws {
        let cases: [([String], String)] = [
            (["run", "--size-mib", "0", "--duration-seconds", "1"], "--size-mib must be between 1 and 16777216 MiB, got 0"),
            (["run", "--size-mib", "16", "--rate-mib-per-second", "-5"], "--rate-mib-per-second must be between 0.0 and 1048576.0 MiB/s, got -5.0"),
            (["run", "--size-mib", "16", "--rate-mib-per-second", "fast"], "'fast' is invalid for '--rate-mib-per-second"),
            (["run", "--size-mib", "16", "--rate-mib-per-second", "17"], "exceeds what a 16 MiB region of 4096 pages can dirty uniquely in one second"),
            (["run", "--size-mib", "16", "--pattern", "zigzag"], "'zigzag' is invalid for '--pattern"),
            (["run", "--size-mib", "16", "--threads", "0"], "--threads must be between 1 and 4096 threads, got 0"),
            (["run", "--size-mib", "16", "--bytes-per-page-write", "100"], "bytes per page write 100"),
            (["run", "--size-mib", "16", "--rate-mib-per-second", "1", "--rate-pages-per-second", "1"], "not both"),
            (["run", "--size-mib", "16777216", "--duration-seconds", "1"], "larger than the"),
            (["serve", "--size-mib", "16", "--port", "70000", "--no-auth"], "--port must be between 0 and 65535, got 70000"),
            (["serve", "--size-mib", "16", "--port", "0"], "serve needs a token: --token-file PATH (or --token TEXT); --no-auth serves without one"),
            (["serve", "--size-mib", "16", "--port", "0", "--token", "0123456789abcdef", "--token-file", "/nonexistent"], "not both"),
            (["serve", "--size-mib", "16", "--port", "0", "--token", "0123456789abcdef", "--no-auth"], "exclude each other"),
            (["serve", "--size-mib", "16", "--port", "0", "--token", "secret"], "6 characters, at least 16"),
            (["serve", "--size-mib", "16", "--port", "0", "--no-auth", "--max-connections", "0"], "--max-connections must be 1-256, got 0"),
            (["serve", "--size-mib", "16", "--port", "0", "--no-auth", "--auth-timeout-seconds", "0"], "--auth-timeout-seconds must be more than 0 and at most 3600 seconds, got 0.0"),
            (["serve", "--size-mib", "16", "--port", "0", "--token-file", "/nonexistent/token"],
             "cannot read the token file /nonexistent/token: No such file or directory"),
            (["run"], "Missing expected argument '--size-mib"),
            (["explode"], "Unexpected argument 'explode'"),
        ]
        for (arguments, fragment) in cases {
            let outcome = try run(arguments)
            XCTAssertNotEqual(outcome.status, 0, "\(arguments)")
            XCTAssertEqual(outcome.stderrLines.count, 1, "\(arguments): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.hasPrefix("memeater: error: "), "\(arguments): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.contains(fragment), "\(arguments): \(outcome.stderr)")
            XCTAssertEqual(outcome.stdout, "", "\(arguments)")
        }
    }

    /// Finding 7e of issue 24: an address that is none is a usage error, exit 64 like the
    /// other bad options, not the exit 1 of a bind that failed.
    func testABindAddressThatIsNoneIsAUsageError() throws {
        for junk in ["junk", "198.18.0", "[::1]", "localhost"] {
            let outcome = try run(["serve", "--size-mib", "4", "--port", "0", "--no-auth", "--bind", junk])
            XCTAssertEqual(outcome.status, 64, "\(junk): \(outcome.stderr)")
            XCTAssertEqual(outcome.stderrLines, ["memeater: error: --bind must be a numeric IPv4 or IPv6 address (e.g. 198.18.1.10, 2001:2::10, ::), not '\(junk)'"])
        }
    }

    func testPortInUseIsRefused() throws {
        let holder = try TCPTestSocket.listen()
        defer { holder.close() }
        let outcome = try run(["serve", "--size-mib", "4", "--no-auth", "--bind", "127.0.0.1", "--port", String(holder.port)])
        XCTAssertEqual(outcome.status, 1)
        XCTAssertEqual(outcome.stderrLines, ["memeater: error: TCP port \(holder.port) is already in use"])
    }

    func testRunPrintsJSONProgressAndSummaryLast() throws {
        let outcome = try run(["run", "--size-mib", "16", "--rate-mib-per-second", "8", "--threads", "2",
                               "--pattern", "random", "--duration-seconds", "0.5", "--json"])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        let lines = outcome.stdoutLines
        XCTAssertGreaterThanOrEqual(lines.count, 2)
        let progress = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        XCTAssertEqual(progress["type"] as? String, "progress")
        for key in ["timestampSeconds", "targetPagesPerSecond", "achievedPagesPerSecond", "targetMiBPerSecond",
                    "achievedMiBPerSecond", "pagesVerified", "integrityErrors", "maxStallMicroseconds"] {
            XCTAssertNotNil(progress[key], "progress lacks \(key)")
        }
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as? [String: Any])
        XCTAssertEqual(summary["type"] as? String, "summary")
        XCTAssertEqual(summary["sizeMiB"] as? Int, 16)
        XCTAssertEqual(summary["targetMiBPerSecond"] as? Double, 8)
        XCTAssertEqual(summary["integrityErrors"] as? Int, 0)
        for key in ["achievedMiBPerSecond", "pagesDirtied", "maxStallMicroseconds", "durationSeconds"] {
            XCTAssertNotNil(summary[key], "summary lacks \(key)")
        }
        XCTAssertGreaterThan(summary["pagesDirtied"] as? Int ?? 0, 0)
        let verification = try XCTUnwrap(summary["lastVerification"] as? [String: Any])
        XCTAssertEqual(verification["pagesChecked"] as? Int, 4096)
        XCTAssertEqual(verification["badPagesTotal"] as? Int, 0)
        // Two threads: each one's stall, in the JSON and in the human summary (on stderr with --json).
        let perThread = try XCTUnwrap(summary["maxStallMicrosecondsPerThread"] as? [Int], "summary lacks the per-thread stall")
        XCTAssertEqual(perThread.count, 2)
        XCTAssertEqual(summary["maxStallMicroseconds"] as? Int, perThread.max())
        XCTAssertEqual((progress["maxStallMicrosecondsPerThread"] as? [Int])?.count, 2, "progress lacks the per-thread stall")
        let stallLine = try XCTUnwrap(outcome.stderrLines.first { $0.contains("max stall") }, outcome.stderr)
        XCTAssertTrue(stallLine.contains("max stall \(perThread.max()!) µs (per thread \(perThread[0])/\(perThread[1]) µs)"), stallLine)
    }

    func testOneThreadsRunReportsOneStall() throws {
        let outcome = try run(["run", "--size-mib", "4", "--rate-mib-per-second", "1", "--duration-seconds", "0.2"])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        let stallLine = try XCTUnwrap(outcome.stdoutLines.first { $0.contains("max stall") }, outcome.stdout)
        XCTAssertFalse(stallLine.contains("per thread"), stallLine)
    }

    func testSIGINTStopsWithSummary() throws {
        let (process, out, _) = try launch(["run", "--size-mib", "8", "--rate-mib-per-second", "4", "--json"])
        let reader = LineReader(out.fileHandleForReading)
        XCTAssertNotNil(reader.nextLine(), "a first progress line")
        process.interrupt()
        var last: String?
        while let line = reader.nextLine() { last = line }
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertTrue(last?.contains(#""type":"summary""#) == true, last ?? "no output")
    }

    func testControlProtocolEndToEnd() throws {
        // --token here (the tests of the client use --token-file).
        let token = "0123456789abcdef0123456789abcdef"
        let (process, out, _) = try launch(["serve", "--size-mib", "16", "--port", "0", "--bind", "127.0.0.1", "--token", token,
                                            "--threads", "2", "--json", "--report-interval-milliseconds", "50"])
        defer { if process.isRunning { process.terminate() } }
        let reader = LineReader(out.fileHandleForReading)
        let listening = try XCTUnwrap(reader.nextLine())
        let announced = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(listening.utf8)) as? [String: Any])
        let port = try XCTUnwrap(announced["port"] as? Int)
        XCTAssertEqual(announced["address"] as? String, "127.0.0.1")
        XCTAssertEqual(announced["tokenRequired"] as? Bool, true)
        XCTAssertEqual(announced["maxConnections"] as? Int, 8)
        XCTAssertEqual(announced["faultInjection"] as? Bool, false)
        let client = try TCPTestSocket.connect(port: port)
        defer { client.close() }

        func request(_ line: String) throws -> [String: Any] {
            try client.send(line + "\n")
            let reply = try XCTUnwrap(client.readLine(), "no reply to \(line)")
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any])
        }

        XCTAssertEqual(try request(#"{"command":"auth","token":"\#(token)"}"#)["ok"] as? Bool, true)
        let corrupt = try request(#"{"command":"corrupt-page","page":1}"#)
        XCTAssertEqual(corrupt["ok"] as? Bool, false, "no fault injection without --allow-fault-injection")

        XCTAssertEqual(try request(#"{"command":"set-rate","mibPerSecond":4}"#)["ok"] as? Bool, true)
        XCTAssertEqual(try request(#"{"command":"resume"}"#)["ok"] as? Bool, true)
        var stats: [String: Any] = [:]
        for _ in 0..<200 {
            stats = try XCTUnwrap(try request(#"{"command":"stats"}"#)["stats"] as? [String: Any])
            if (stats["pagesDirtied"] as? Int ?? 0) > 500 { break }
            usleep(20_000)
        }
        XCTAssertGreaterThan(stats["pagesDirtied"] as? Int ?? 0, 500)
        XCTAssertEqual(stats["targetMiBPerSecond"] as? Double, 4)
        XCTAssertEqual(stats["paused"] as? Bool, false)

        let garbage = try request("this is not json")
        XCTAssertEqual(garbage["ok"] as? Bool, false)
        XCTAssertNotNil(garbage["error"] as? String)
        let unknown = try request(#"{"command":"rm -rf /"}"#)
        XCTAssertEqual(unknown["ok"] as? Bool, false)

        let verification = try XCTUnwrap(try request(#"{"command":"verify-all"}"#)["verification"] as? [String: Any])
        XCTAssertEqual(verification["badPagesTotal"] as? Int, 0)
        XCTAssertEqual(verification["pagesChecked"] as? Int, 4096)

        XCTAssertEqual(try request(#"{"command":"stop"}"#)["ok"] as? Bool, true)
        var last: String?
        while let line = reader.nextLine() { last = line }
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertTrue(last?.contains(#""type":"summary""#) == true, last ?? "no output")
    }

    /// Issue 24 finding 3: the lab binds the guest's memeater to its IPv4 and IPv6 guest
    /// addresses, so --bind repeats: one listener per address, one port, nothing elsewhere.
    func testRepeatedBindListensOnEachAddressOnOnePortAndNowhereElse() throws {
        let token = "0123456789abcdef0123456789abcdef"
        let (process, out, _) = try launch(["serve", "--size-mib", "4", "--port", "0", "--bind", "127.0.0.1", "--bind", "127.0.0.2",
                                            "--token", token, "--json"])
        defer { if process.isRunning { process.terminate() } }
        let reader = LineReader(out.fileHandleForReading)
        var announced: [[String: Any]] = []
        for _ in 0..<2 {
            let line = try XCTUnwrap(reader.nextLine())
            announced.append(try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]))
        }
        XCTAssertEqual(announced.compactMap { $0["address"] as? String }, ["127.0.0.1", "127.0.0.2"])
        let port = try XCTUnwrap(announced[0]["port"] as? Int)
        XCTAssertEqual(announced[1]["port"] as? Int, port, "the second listener takes the port the kernel chose for the first")
        for host: in_addr_t in [0x7f00_0001, 0x7f00_0002] {
            let client = try TCPTestSocket.connect(port: port, host: host)
            defer { client.close() }
            try client.send(#"{"command":"auth","token":"\#(token)"}"# + "\n" + #"{"command":"info"}"# + "\n")
            XCTAssertTrue(try client.readLine()?.contains(#""ok":true"#) ?? false)
            XCTAssertTrue(try client.readLine()?.contains(#""sizeMiB":4"#) ?? false)
        }
        XCTAssertThrowsError(try TCPTestSocket.connect(port: port, host: 0x7f00_0003), "not bound to 127.0.0.3")
    }

    func testARepeatedOrFailingBindIsRefused() throws {
        let twice = try run(["serve", "--size-mib", "4", "--port", "0", "--no-auth", "--bind", "127.0.0.1", "--bind", "127.0.0.1"])
        XCTAssertEqual(twice.status, 64)
        XCTAssertEqual(twice.stderrLines, ["memeater: error: --bind 127.0.0.1 is given twice"])
        let holder = try TCPTestSocket.listen()
        defer { holder.close() }
        // The first address listens, the second's port is taken: nothing is served.
        let busy = try run(["serve", "--size-mib", "4", "--no-auth", "--bind", "127.0.0.2", "--bind", "127.0.0.1", "--port", String(holder.port)])
        XCTAssertEqual(busy.status, 1)
        XCTAssertEqual(busy.stderrLines, ["memeater: error: TCP port \(holder.port) is already in use"])
        XCTAssertEqual(busy.stdout, "")
    }

    func testWithoutAuthServeListensOnLoopbackOnly() throws {
        let (process, out, _) = try launch(["serve", "--size-mib", "4", "--port", "0", "--no-auth", "--json"])
        defer { if process.isRunning { process.terminate() } }
        let listening = try XCTUnwrap(LineReader(out.fileHandleForReading).nextLine())
        let announced = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(listening.utf8)) as? [String: Any])
        XCTAssertEqual(announced["address"] as? String, "127.0.0.1", "--no-auth without --bind stays on this machine")
        XCTAssertEqual(announced["tokenRequired"] as? Bool, false)
    }

    func testATokenFileOthersCanReadIsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("memeater-token-\(UUID().uuidString)").path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("0123456789abcdef0123456789abcdef\n".utf8),
                                                    attributes: [.posixPermissions: 0o644]))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let outcome = try run(["serve", "--size-mib", "4", "--port", "0", "--bind", "127.0.0.1", "--token-file", path])
        XCTAssertEqual(outcome.status, 1)
        XCTAssertEqual(outcome.stderrLines, ["memeater: error: the token file \(path) can be read by others (mode 644): chmod 600 it"])
        XCTAssertEqual(outcome.stdout, "")
    }

    func testHelpDocumentsUnits() throws {
        let outcome = try run(["run", "--help"])
        XCTAssertEqual(outcome.status, 0)
        for option in ["--size-mib", "--rate-mib-per-second", "--rate-pages-per-second", "--threads", "--pattern",
                       "--duration-seconds", "--bytes-per-page-write", "--report-interval-milliseconds", "--json",
                       "--lock-memory", "--huge-pages", "--seed"] {
            XCTAssertTrue(outcome.stdout.contains(option), "help lacks \(option)")
        }
        XCTAssertTrue(outcome.stdout.contains("in MiB"))
        XCTAssertTrue(outcome.stdout.contains("in seconds"))
    }
}

/// Reads lines from a pipe, blocking.
final class LineReader {
    private let handle: FileHandle
    private var buffer = Data()
    init(_ handle: FileHandle) { self.handle = handle }

    func nextLine() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                return line
            }
            let chunk = handle.availableData
            if chunk.isEmpty { return buffer.isEmpty ? nil : String(decoding: buffer, as: UTF8.self) }
            buffer.append(chunk)
        }
    }
}

/// A minimal blocking TCP socket on loopback for the tests.
struct TCPTestSocket {
    let descriptor: Int32
    let port: Int

    struct Failure: Error, CustomStringConvertible { let description: String }

    private static func loopback(port: Int, host: in_addr_t = 0x7f00_0001) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = host.bigEndian
        return address
    }

    /// Listens on an ephemeral loopback port (to hold a port busy).
    static func listen() throws -> TCPTestSocket {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && Glibc.listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard fd >= 0, ok else { throw Failure(description: "cannot listen on loopback") }
        return TCPTestSocket(descriptor: fd, port: Int(UInt16(bigEndian: address.sin_port)))
    }

    /// Connects to `host` (an IPv4 address in host byte order; 127.0.0.1 by default).
    static func connect(port: Int, host: in_addr_t = 0x7f00_0001) throws -> TCPTestSocket {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = loopback(port: port, host: host)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, result == 0 else {
            let code = errno
            if fd >= 0 { Glibc.close(fd) }
            throw Failure(description: "cannot connect to \(host >> 24).\((host >> 16) & 0xff).\((host >> 8) & 0xff).\(host & 0xff):\(port): \(String(cString: strerror(code)))")
        }
        return TCPTestSocket(descriptor: fd, port: port)
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard Glibc.send(descriptor, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else {
            throw Failure(description: "send failed")
        }
    }

    /// Reads one reply line byte by byte (replies are short).
    func readLine() throws -> String? {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while recv(descriptor, &byte, 1, 0) == 1 {
            if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
        return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }

    func close() { Glibc.close(descriptor) }
}
