import Foundation
@testable import MemeaterKit
import Synchronization
import XCTest

/// The control server in this process on loopback, with a token: who gets in, how many, and where it listens.
final class ControlServerTests: XCTestCase {
    private let token = "0123456789abcdef0123456789abcdef"
    private let stops = StopCounter()
    private var server: ControlServer?

    override func tearDown() {
        server?.shutdownServer()
        server = nil
    }

    /// A server on a paused 4 MiB region, holding a token.
    private func startServer(address: String = "127.0.0.1", maximumConnections: Int = 8,
                             authenticationTimeoutSeconds: Double = 10) throws -> (ControlServer, DirtyingEngine) {
        let engine = try DirtyingEngine(configuration: MemeaterConfiguration(sizeMiB: 4, threads: 1, bytesPerWrite: 4096))
        engine.isPaused = true
        let handler = ControlHandler(session: MemeaterSession(engine: engine), access: .token(try ControlToken(token)),
                                     allowsFaultInjection: true, onStop: { [stops] in stops.count.add(1, ordering: .relaxed) })
        let server = try ControlServer(listenAddress: address, port: 0, handler: handler, maximumConnections: maximumConnections,
                                       authenticationTimeoutSeconds: authenticationTimeoutSeconds)
        try server.start()
        self.server = server
        return (server, engine)
    }

    func testWithoutTheTokenNothingRunsAndTheConnectionCloses() throws {
        let (server, engine) = try startServer()
        for opening in [#"{"command":"stop"}"#, #"{"command":"resume"}"#,
                        #"{"command":"auth","token":"0123456789abcdef0123456789abcdeX"}"#] {
            let client = try LoopbackClient(port: server.port)
            defer { client.close() }
            let reply = try client.exchange(opening)
            XCTAssertEqual(reply?["ok"] as? Bool, false, opening)
            XCTAssertNil(try client.readLine(), "\(opening): the connection is closed after one reply")
        }
        XCTAssertEqual(stops.count.load(ordering: .relaxed), 0, "stop with a wrong token did not stop memeater")
        XCTAssertTrue(engine.isPaused, "resume with a wrong token did not resume")
    }

    func testTheRightTokenIsObeyed() throws {
        let (server, engine) = try startServer()
        let client = try LoopbackClient(port: server.port)
        defer { client.close() }
        XCTAssertEqual(try client.exchange(#"{"command":"auth","token":"\#(token)"}"#)?["ok"] as? Bool, true)
        XCTAssertEqual(try client.exchange(#"{"command":"resume"}"#)?["ok"] as? Bool, true)
        XCTAssertFalse(engine.isPaused)
        XCTAssertEqual(try client.exchange(#"{"command":"stop"}"#)?["ok"] as? Bool, true)
        XCTAssertNil(try client.readLine())
        XCTAssertEqual(stops.count.load(ordering: .relaxed), 1)
    }

    func testOneConnectionMoreThanTheLimitIsRefusedWithAReply() throws {
        let (server, _) = try startServer(maximumConnections: 2)
        // Held: two authenticated connections; they fill the server for good.
        let first = try LoopbackClient(port: server.port)
        defer { first.close() }
        XCTAssertEqual(try first.exchange(#"{"command":"auth","token":"\#(token)"}"#)?["ok"] as? Bool, true)
        let second = try LoopbackClient(port: server.port)
        defer { second.close() }
        XCTAssertEqual(try second.exchange(#"{"command":"auth","token":"\#(token)"}"#)?["ok"] as? Bool, true)
        let third = try LoopbackClient(port: server.port)
        defer { third.close() }
        let refusal = try XCTUnwrap(try third.readLine(), "the connection past the limit is told")
        let reply = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(refusal.utf8)) as? [String: Any])
        XCTAssertEqual(reply["ok"] as? Bool, false)
        XCTAssertEqual(reply["error"] as? String, "too many connections: this memeater serves at most 2 at once")
        XCTAssertNil(try third.readLine(), "and closed, not queued")
        XCTAssertEqual(try first.exchange(#"{"command":"info"}"#)?["ok"] as? Bool, true, "the held connections still work")
        XCTAssertEqual(try second.exchange(#"{"command":"info"}"#)?["ok"] as? Bool, true)

        // A freed slot is served again (the server notices the close on its own thread: poll, bounded).
        first.close()
        var served = false
        for _ in 0..<200 where !served {
            let next = try LoopbackClient(port: server.port)
            defer { next.close() }
            // A refused connection may be reset under the request: that is "not yet" too.
            served = (try? next.exchange(#"{"command":"auth","token":"\#(token)"}"#))??["ok"] as? Bool == true
            if !served { usleep(10_000) }
        }
        XCTAssertTrue(served, "a slot freed by a closed connection is used again")
    }

    /// A full server makes room for a new connection by dropping the oldest one that has not
    /// authenticated (told why), not by refusing the newcomer.
    func testAFullServerDropsItsOldestUnauthenticatedConnectionForANewOne() throws {
        let (server, _) = try startServer(maximumConnections: 2)
        let authenticated = try LoopbackClient(port: server.port)
        defer { authenticated.close() }
        XCTAssertEqual(try authenticated.exchange(#"{"command":"auth","token":"\#(token)"}"#)?["ok"] as? Bool, true)
        // Half a request and no more: admitted at once (the server defers a connection that
        // sends nothing by about a second), never authenticated.
        let silent = try LoopbackClient(port: server.port)
        defer { silent.close() }
        silent.sendRaw("{")
        waitUntil("the silent connection is admitted") { server.heldConnections.count == 2 }
        let newcomer = try LoopbackClient(port: server.port)
        defer { newcomer.close() }
        XCTAssertEqual(try newcomer.exchange(#"{"command":"auth","token":"\#(token)"}"#)?["ok"] as? Bool, true, "served, not refused")
        let line = try XCTUnwrap(try silent.readLine(), "the silent one is told why")
        XCTAssertTrue(line.contains("not authenticated yet and the server is full"), line)
        XCTAssertNil(try silent.readLine(), "and closed")
        XCTAssertEqual(try authenticated.exchange(#"{"command":"info"}"#)?["ok"] as? Bool, true, "the authenticated one is kept")
    }

    /// Finding 3 of issue 24: clients that connect, never authenticate and reconnect as soon
    /// as they are dropped (twice as many as the server's slots, from the verifier's own
    /// address) do not lock the verifier out: it is served at each of 10 attempts.
    func testClientsThatNeverAuthenticateAndReconnectDoNotLockTheVerifierOut() throws {
        let (server, _) = try startServer(maximumConnections: 4)
        let attackers = Attackers(port: server.port, count: 8)
        defer { attackers.stop(server: server) }
        attackers.start()
        // Let them fill the server first: dropped ones show that the server has taken them in.
        let filled = Date().addingTimeInterval(15)
        while attackers.drops.load(ordering: .relaxed) < 8 && Date() < filled { usleep(1_000) }
        XCTAssertGreaterThanOrEqual(attackers.drops.load(ordering: .relaxed), 8, "the attackers reached the server")
        var served = 0
        var failures: [String] = []
        for attempt in 1...10 {
            do {
                let client = try LoopbackClient(port: server.port)
                defer { client.close() }
                let auth = try client.exchange(#"{"command":"auth","token":"\#(token)"}"#)
                let info = try client.exchange(#"{"command":"info"}"#)
                if auth?["ok"] as? Bool == true && info?["ok"] as? Bool == true {
                    served += 1
                } else {
                    failures.append("\(attempt): \(String(describing: auth?["error"] ?? "closed"))")
                }
            } catch {
                failures.append("\(attempt): \(error)")
            }
        }
        XCTAssertEqual(served, 10, "served at every attempt; not: \(failures)")

    }

    /// A client reconnecting in a loop leaves no thread behind: the server's threads are
    /// detached, so an ended one frees its stack (joinable threads never joined kept theirs
    /// mapped, two mappings each, until memeater ran out of them).
    func testConnectionsThatComeAndGoLeaveNoThreadStacksBehind() throws {
        let (server, _) = try startServer()
        func mappings() throws -> Int {
            // Read to the end: /proc files report a size of 0.
            let handle = try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/self/maps"))
            defer { try? handle.close() }
            return try XCTUnwrap(handle.readToEnd()).filter { $0 == UInt8(ascii: "\n") }.count
        }
        func comeAndGo(_ count: Int) throws {
            for _ in 0..<count {
                let client = try LoopbackClient(port: server.port)
                XCTAssertEqual(try client.exchange(#"{"command":"info"}"#)?["ok"] as? Bool, false)
                client.close()
            }
            // Each connection's thread has let it go (and ends right after).
            waitUntil("every connection is let go") { server.heldConnections.isEmpty }
        }
        // Warm up glibc's stack cache and the test's own allocations first.
        try comeAndGo(20)
        let before = try mappings()
        try comeAndGo(400)
        let after = try mappings()
        XCTAssertLessThan(after - before, 100, "400 connections that came and went left \(after - before) more mappings")
    }

    func testTheConnectionTableDisplacesTheOldestSilentUnauthenticatedOne() {
        let a: [UInt8] = [127, 0, 0, 1]
        let b: [UInt8] = [127, 0, 0, 2]
        var table = ControlConnectionTable(capacity: 4, unauthenticatedPerPeer: 3)
        XCTAssertEqual(table.admit(peer: b, authenticated: false), .admitted(id: 1, displacing: nil))
        XCTAssertTrue(table.markAuthenticated(1))
        for id in 2...4 { XCTAssertEqual(table.admit(peer: a, authenticated: false), .admitted(id: UInt64(id), displacing: nil)) }
        // Peer a holds three unauthenticated: a fourth from it displaces its oldest silent one.
        XCTAssertTrue(table.markSpoken(2))
        XCTAssertEqual(table.admit(peer: a, authenticated: false), .admitted(id: 5, displacing: 3), "2 has spoken: 3 goes first")
        // Full, and b under its own limit: the oldest silent unauthenticated of any peer goes.
        XCTAssertEqual(table.admit(peer: b, authenticated: false), .admitted(id: 6, displacing: 4))
        // Bytes waiting count as speaking too.
        XCTAssertEqual(table.admit(peer: b, authenticated: false) { $0.id == 5 }, .admitted(id: 7, displacing: 6))
        XCTAssertFalse(table.markAuthenticated(6), "a displaced one is gone")
        // With only spoken ones left, the oldest goes.
        XCTAssertEqual(table.admit(peer: b, authenticated: false) { _ in true }, .admitted(id: 8, displacing: 2))
        for id: UInt64 in [5, 7, 8] { XCTAssertTrue(table.markAuthenticated(id)) }
        XCTAssertEqual(table.admit(peer: a, authenticated: false), .refused, "all four authenticated: refused")
        XCTAssertEqual(table.entries.map(\.id), [1, 5, 7, 8])

        // One peer holds at most three unauthenticated ones, however much room there is.
        var roomy = ControlConnectionTable(capacity: 8, unauthenticatedPerPeer: 3)
        for id in 1...3 { XCTAssertEqual(roomy.admit(peer: a, authenticated: false), .admitted(id: UInt64(id), displacing: nil)) }
        XCTAssertEqual(roomy.admit(peer: b, authenticated: false), .admitted(id: 4, displacing: nil))
        XCTAssertEqual(roomy.admit(peer: a, authenticated: false), .admitted(id: 5, displacing: 1))
        XCTAssertTrue(roomy.markAuthenticated(2))
        XCTAssertEqual(roomy.admit(peer: a, authenticated: false), .admitted(id: 6, displacing: nil), "an authenticated one does not count")

        // A newcomer whose bytes arrived with it counts as spoken from the start.
        var small = ControlConnectionTable(capacity: 2, unauthenticatedPerPeer: 3)
        XCTAssertEqual(small.admit(peer: a, authenticated: false, speaking: true), .admitted(id: 1, displacing: nil))
        XCTAssertEqual(small.admit(peer: a, authenticated: false), .admitted(id: 2, displacing: nil))
        XCTAssertEqual(small.admit(peer: a, authenticated: false), .admitted(id: 3, displacing: 2))
    }

    func testAClientThatNeverAuthenticatesIsClosed() throws {
        let (server, _) = try startServer(authenticationTimeoutSeconds: 0.2)
        let client = try LoopbackClient(port: server.port)
        defer { client.close() }
        let line = try XCTUnwrap(try client.readLine(), "told why before the close")
        XCTAssertTrue(line.contains("not authenticated within 0.2 s"), line)
        XCTAssertNil(try client.readLine())
    }

    func testAnAuthenticatedClientMayStayIdle() throws {
        let (server, _) = try startServer(authenticationTimeoutSeconds: 0.2)
        let idle = try LoopbackClient(port: server.port)
        defer { idle.close() }
        XCTAssertEqual(try idle.exchange(#"{"command":"auth","token":"\#(token)"}"#)?["ok"] as? Bool, true)
        // A later client that never authenticates is dropped after the timeout; by then the
        // authenticated one has been idle longer than that, and must still be served.
        let late = try LoopbackClient(port: server.port)
        defer { late.close() }
        XCTAssertNotNil(try late.readLine())
        XCTAssertNil(try late.readLine())
        XCTAssertEqual(try idle.exchange(#"{"command":"info"}"#)?["ok"] as? Bool, true)
    }

    func testABoundServerIsNotReachedOnAnotherAddress() throws {
        let (server, _) = try startServer(address: "127.0.0.2")
        XCTAssertEqual(server.listenAddress, "127.0.0.2")
        XCTAssertThrowsError(try LoopbackClient(port: server.port, address: "127.0.0.1")) { error in
            XCTAssertEqual((error as? LoopbackClient.Failure)?.code, ECONNREFUSED, "\(error)")
        }
        let client = try LoopbackClient(port: server.port, address: "127.0.0.2")
        defer { client.close() }
        XCTAssertEqual(try client.exchange(#"{"command":"auth","token":"\#(token)"}"#)?["ok"] as? Bool, true)
    }

    /// `::` (serve's default with a token) takes IPv6 and IPv4 clients; `::1` only IPv6 ones.
    func testAnIPv6ServerOnEveryAddressServesIPv4ClientsToo() throws {
        let (server, _) = try startServer(address: "::")
        for address in ["::1", "127.0.0.1"] {
            let client = try LoopbackClient(port: server.port, address: address)
            defer { client.close() }
            XCTAssertEqual(try client.exchange(#"{"command":"auth","token":"\#(token)"}"#)?["ok"] as? Bool, true, address)
        }
        server.shutdownServer()
        let (loopback6, _) = try startServer(address: "::1")
        XCTAssertThrowsError(try LoopbackClient(port: loopback6.port, address: "127.0.0.1")) { error in
            XCTAssertEqual((error as? LoopbackClient.Failure)?.code, ECONNREFUSED, "\(error)")
        }
        let client = try LoopbackClient(port: loopback6.port, address: "::1")
        defer { client.close() }
        XCTAssertEqual(try client.exchange(#"{"command":"info"}"#)?["ok"] as? Bool, false, "not authenticated yet")
    }

    func testSocketAddressesParseBothFamiliesAndNothingElse() {
        XCTAssertEqual(SocketAddress(numericHost: "198.18.0.10", port: 7070)?.description, "198.18.0.10:7070")
        XCTAssertEqual(SocketAddress(numericHost: "2001:2::10", port: 7070)?.description, "[2001:2::10]:7070")
        XCTAssertEqual(SocketAddress(numericHost: "::", port: 1)?.isIPv6Unspecified, true)
        XCTAssertEqual(SocketAddress(numericHost: "::1", port: 1)?.isIPv6Unspecified, false)
        XCTAssertEqual(SocketAddress(numericHost: "::1", port: 1)?.family, AF_INET6)
        for bad in ["", "host", "198.18.0", "2001:2::10::1", "[::1]", "198.18.0.10:7070"] {
            XCTAssertNil(SocketAddress(numericHost: bad, port: 7070), bad)
        }
        XCTAssertNil(SocketAddress(numericHost: "::1", port: 65_536))
        XCTAssertNil(SocketAddress(numericHost: "::1", port: -1))
    }

    func testSettingsOutOfRangeAreRefused() throws {
        let engine = try DirtyingEngine(configuration: MemeaterConfiguration(sizeMiB: 4, threads: 1, bytesPerWrite: 4096))
        let handler = ControlHandler(session: MemeaterSession(engine: engine), access: .open, onStop: {})
        XCTAssertThrowsError(try ControlServer(listenAddress: "127.0.0.1", port: 0, handler: handler, maximumConnections: 0)) { error in
            XCTAssertEqual("\(error)", "invalid control server setting: the connection limit must be 1-256, got 0")
        }
        XCTAssertThrowsError(try ControlServer(listenAddress: "127.0.0.1", port: 0, handler: handler, authenticationTimeoutSeconds: 0))
    }
}

/// Clients that connect, never send a byte, and reconnect as soon as the server drops them.
private final class Attackers: @unchecked Sendable {
    let port: Int
    let count: Int
    /// Connections the server ended so far (refused, displaced or timed out).
    let drops = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    private let group = DispatchGroup()
    /// The connections they hold now, to end them at the stop (a connection the server had
    /// not yet accepted is not ended by its shutdown).
    private let holding = Mutex<[ObjectIdentifier: LoopbackClient]>([:])

    init(port: Int, count: Int) {
        self.port = port
        self.count = count
    }

    func start() {
        for _ in 0..<count {
            group.enter()
            Thread.detachNewThread { [self] in
                defer { group.leave() }
                while !stopped.load(ordering: .relaxed) {
                    guard let client = try? LoopbackClient(port: port) else { usleep(1_000); continue }
                    holding.withLock { $0[ObjectIdentifier(client)] = client }
                    if stopped.load(ordering: .relaxed) { client.shutdown() }
                    // Wait for the drop (the refusal or displacement line, then the end).
                    while (try? client.readLine()) != nil {}
                    _ = holding.withLock { $0.removeValue(forKey: ObjectIdentifier(client)) }
                    client.close()
                    if !stopped.load(ordering: .relaxed) { drops.add(1, ordering: .relaxed) }
                }
            }
        }
    }

    /// Stops them: the server's shutdown ends every connection they hold.
    func stop(server: ControlServer) {
        stopped.store(true, ordering: .relaxed)
        server.shutdownServer()
        holding.withLock { for client in $0.values { client.shutdown() } }
        _ = group.wait(timeout: .now() + 15)
    }
}

/// How often the server asked memeater to stop.
private final class StopCounter: Sendable {
    let count = Atomic<Int>(0)
}
