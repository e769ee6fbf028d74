import Foundation
import Lab
import MemeaterKit
import XCTest

/// The one memeater client against a real `memeater serve` on 127.0.0.1 (a free port chosen
/// by memeater, a token in a 0600 file, fault injection allowed), stopped at the end of each test.
final class MemeaterClientTests: XCTestCase {
    private var servers: [Process] = []
    private var server: Process? { servers.first }
    private var port = 0
    private var directory = ""
    private var tokenFile = ""
    private var token: ControlToken?

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("memeater-client-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        tokenFile = "\(directory)/token"
        let token = try ControlToken.generate()
        try token.write(toFile: tokenFile)
        self.token = token
        port = try launchServer(["--token-file", tokenFile, "--allow-fault-injection"])
    }

    /// Starts `memeater serve` (16 MiB, loopback, JSON reports) with `arguments` added and
    /// returns the port it announced; it is stopped in tearDown.
    private func launchServer(_ arguments: [String]) throws -> Int {
        let testExecutable = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "")
        let binary = testExecutable.deletingLastPathComponent().appendingPathComponent("memeater")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw XCTSkip("memeater is not built at \(binary.path)")
        }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--size-mib", "16", "--port", "0", "--bind", "127.0.0.1", "--threads", "2",
                             "--json", "--report-interval-milliseconds", "50"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        servers.append(process)
        // The first line announces the port; the rest is drained so memeater never blocks on it.
        let handle = output.fileHandleForReading
        var line = Data()
        while let byte = try handle.read(upToCount: 1), let first = byte.first, first != UInt8(ascii: "\n") { line.append(first) }
        Thread { while !handle.availableData.isEmpty {} }.start()
        let announced = try XCTUnwrap(JSONSerialization.jsonObject(with: line) as? [String: Any], String(decoding: line, as: UTF8.self))
        return try XCTUnwrap(announced["port"] as? Int)
    }

    override func tearDown() {
        for server in servers where server.isRunning {
            server.terminate()
            server.waitUntilExit()
        }
        servers = []
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func client(timeoutSeconds: Double = 5) throws -> MemeaterClient {
        try MemeaterClient(namespace: nil, address: "127.0.0.1", port: port, token: token, timeoutSeconds: timeoutSeconds)
    }

    func testEveryCommandOverOneConnection() throws {
        let memeater = try client()
        XCTAssertEqual(memeater.endpoint, "127.0.0.1:\(port)")
        let info = try memeater.info()
        XCTAssertEqual(info.protocolVersion, controlProtocolVersion)
        XCTAssertEqual(info.sizeMiB, 16)
        XCTAssertEqual(info.pageCount, 4_096)
        XCTAssertEqual(info.pid, Int(server?.processIdentifier ?? -1))

        try memeater.setRate(mibPerSecond: 4)
        try memeater.resume()
        var stats = try memeater.stats()
        for _ in 0..<200 where stats.pagesDirtied < 500 {
            usleep(20_000)
            stats = try memeater.stats()
        }
        XCTAssertGreaterThanOrEqual(stats.pagesDirtied, 500)
        XCTAssertEqual(stats.targetMiBPerSecond, 4)
        XCTAssertFalse(stats.paused)
        try memeater.pause()
        try memeater.resetStall()
        // stats is the latest progress record, written every 50 ms.
        var paused = try memeater.stats().paused
        for _ in 0..<100 where !paused {
            usleep(20_000)
            paused = try memeater.stats().paused
        }
        XCTAssertTrue(paused)

        XCTAssertEqual(try memeater.verifyAll().badPagesTotal, 0)
        try memeater.corruptPage(77)
        let verification = try memeater.verifyAll()
        XCTAssertEqual(verification.badPagesTotal, 1)
        XCTAssertEqual(verification.badPages.first?.page, 77)

        let reply = try memeater.send(ControlRequest(command: .stop))
        XCTAssertTrue(reply.ok)
        XCTAssertEqual(reply.command, "stop")
        server?.waitUntilExit()
        XCTAssertEqual(server?.terminationStatus, 1, "memeater exits 1 after finding the corrupted page")
    }

    func testARefusalIsAnErrorWithMemeatersMessage() throws {
        let memeater = try client()
        XCTAssertThrowsError(try memeater.setRate(mibPerSecond: -3)) { error in
            let error = error as? LabError
            XCTAssertEqual(error?.step, "memeater set-rate at 127.0.0.1:\(port)")
            XCTAssertTrue(error?.reason.hasPrefix("memeater said: ") == true, "\(String(describing: error))")
            XCTAssertTrue(error?.reason.contains("set-rate: mibPerSecond must be a number from 0 to 16 ") == true, "\(String(describing: error))")
        }
        XCTAssertThrowsError(try memeater.corruptPage(99_999)) { error in
            XCTAssertTrue((error as? LabError)?.reason.contains("corrupt-page: page must be an integer from 0 to 4095 (a page of the region), got 99999") == true, "\(error)")
        }
        XCTAssertEqual(try memeater.info().sizeMiB, 16, "the connection still serves after refusals")
    }

    /// A client that sends a command this memeater does not know (a newer client, or a typo)
    /// gets an error reply on the same connection, which stays open.
    func testAnUnknownCommandGetsAnErrorReplyNotADroppedConnection() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(connected, 0)
        func exchange(_ line: String) throws -> ControlReply {
            let bytes = Array((line + "\n").utf8)
            XCTAssertEqual(Glibc.send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)), bytes.count)
            var reply: [UInt8] = []
            var byte: UInt8 = 0
            while recv(fd, &byte, 1, 0) == 1, byte != UInt8(ascii: "\n") { reply.append(byte) }
            return try JSONDecoder().decode(ControlReply.self, from: Data(reply))
        }
        XCTAssertEqual(try exchange(encodeLine(ControlRequest.auth(try XCTUnwrap(token)))).ok, true)
        let unknown = try exchange(#"{"command":"defragment"}"#)
        XCTAssertFalse(unknown.ok)
        XCTAssertEqual(unknown.command, "defragment")
        XCTAssertEqual(unknown.error?.hasPrefix(#"unknown command "defragment" (commands: "#), true, unknown.error ?? "-")
        let info = try exchange(#"{"command":"info"}"#)
        XCTAssertTrue(info.ok)
        XCTAssertEqual(info.info?.sizeMiB, 16)
    }

    // MARK: the token, the connection limit, fault injection

    func testWithoutTheRightTokenNothingRuns() throws {
        let wrong = try ControlToken.generate()
        XCTAssertThrowsError(try MemeaterClient(namespace: nil, address: "127.0.0.1", port: port, token: wrong)) { error in
            let error = error as? LabError
            XCTAssertEqual(error?.step, "memeater auth at 127.0.0.1:\(port)")
            XCTAssertEqual(error?.reason, "memeater said: authentication failed: wrong or missing token")
        }
        for request in [ControlRequest(command: .stop), ControlRequest(command: .resume)] {
            // No token at all: connecting works, the first request is refused and the connection closed.
            let anonymous = try MemeaterClient(namespace: nil, address: "127.0.0.1", port: port, token: nil)
            XCTAssertThrowsError(try anonymous.send(request)) { error in
                XCTAssertTrue((error as? LabError)?.reason.hasPrefix("memeater said: not authenticated") == true, "\(error)")
            }
            // Closed (or reset, when the request raced the close): the connection serves no more.
            XCTAssertThrowsError(try anonymous.info()) { error in
                XCTAssertEqual((error as? LabError)?.step, "memeater info at 127.0.0.1:\(port)", "\(error)")
            }
        }
        // Neither the stop nor the resume ran: memeater is paused and keeps serving the right token.
        let memeater = try client()
        XCTAssertTrue(try memeater.stats().paused)
        try memeater.setRate(mibPerSecond: 4)
        try memeater.resume()
        var stats = try memeater.stats()
        for _ in 0..<200 where stats.pagesDirtied < 300 {
            usleep(20_000)
            stats = try memeater.stats()
        }
        XCTAssertGreaterThanOrEqual(stats.pagesDirtied, 300)
        XCTAssertTrue(server?.isRunning == true, "the refused stop did not stop memeater")
    }

    func testCorruptPageNeedsFaultInjectionAtServe() throws {
        XCTAssertEqual(try client().info().faultInjectionAllowed, true)
        let strictPort = try launchServer(["--token-file", tokenFile])
        let strict = try MemeaterClient(namespace: nil, address: "127.0.0.1", port: strictPort, token: token)
        let info = try strict.info()
        XCTAssertEqual(info.faultInjectionAllowed, false)
        XCTAssertEqual(info.tokenRequired, true)
        XCTAssertThrowsError(try strict.corruptPage(77)) { error in
            XCTAssertTrue((error as? LabError)?.reason.contains("started without --allow-fault-injection") == true, "\(error)")
        }
        XCTAssertEqual(try strict.verifyAll().badPagesTotal, 0, "no page was spoiled")
    }

    func testAConnectionPastTheLimitIsRefused() throws {
        let limitedPort = try launchServer(["--token-file", tokenFile, "--max-connections", "1"])
        let held = try MemeaterClient(namespace: nil, address: "127.0.0.1", port: limitedPort, token: token)
        XCTAssertThrowsError(try MemeaterClient(namespace: nil, address: "127.0.0.1", port: limitedPort, token: token)) { error in
            XCTAssertEqual((error as? LabError)?.reason, "memeater said: too many connections: this memeater serves at most 1 at once")
        }
        XCTAssertEqual(try held.info().sizeMiB, 16, "the held connection still serves")
    }

    func testAMemeaterWithoutAuthNeedsNoToken() throws {
        let openPort = try launchServer(["--no-auth"])
        XCTAssertEqual(try MemeaterClient(namespace: nil, address: "127.0.0.1", port: openPort, token: nil).info().tokenRequired, false)
        XCTAssertEqual(try MemeaterClient(namespace: nil, address: "127.0.0.1", port: openPort, token: token).info().sizeMiB, 16,
                       "a client that presents a token works too")
    }

    func testConnectionFailuresNameTheEndpoint() throws {
        let closedPort = try unusedPort()
        XCTAssertThrowsError(try MemeaterClient(namespace: nil, address: "127.0.0.1", port: closedPort, token: token, timeoutSeconds: 2)) { error in
            XCTAssertEqual((error as? LabError)?.step, "connect to memeater at 127.0.0.1:\(closedPort)")
            XCTAssertEqual((error as? LabError)?.reason, "Connection refused")
        }
        XCTAssertThrowsError(try MemeaterClient(namespace: nil, address: "::1", port: closedPort, token: token, timeoutSeconds: 2)) { error in
            XCTAssertEqual((error as? LabError)?.step, "connect to memeater at [::1]:\(closedPort)", "IPv6 in brackets")
        }
        XCTAssertThrowsError(try MemeaterClient(namespace: nil, address: "guest", port: port, token: token)) { error in
            XCTAssertTrue((error as? LabError)?.reason.contains("not a numeric IPv4 or IPv6 address: guest") == true, "\(error)")
        }
        XCTAssertThrowsError(try MemeaterClient(namespace: "memeater-client-test-no-such-namespace", address: "127.0.0.1", port: port,
                                                token: token)) { error in
            let error = error as? LabError
            XCTAssertEqual(error?.step, "connect to memeater at 127.0.0.1:\(port) from memeater-client-test-no-such-namespace")
            XCTAssertTrue(error?.reason.contains("/run/netns/memeater-client-test-no-such-namespace") == true, "\(String(describing: error))")
        }
    }

    func testASilentPeerTimesOut() throws {
        // A listener that accepts (in the kernel) but never answers.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 1) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        XCTAssertTrue(listening)
        let silentPort = Int(UInt16(bigEndian: address.sin_port))
        let memeater = try MemeaterClient(namespace: nil, address: "127.0.0.1", port: silentPort, token: nil, timeoutSeconds: 0.3)
        let start = Date()
        XCTAssertThrowsError(try memeater.info()) { error in
            XCTAssertEqual((error as? LabError)?.step, "memeater info at 127.0.0.1:\(silentPort)")
            XCTAssertTrue((error as? LabError)?.reason.contains("timed out") == true, "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
    }

    /// A loopback port that was free a moment ago (bound, read, closed).
    private func unusedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw XCTSkip("cannot bind a loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
