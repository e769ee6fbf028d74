import CMemeater
import Foundation
import MemeaterKit
import XCTest

final class ControlHandlerTests: XCTestCase {
    /// A handler on a paused 4 MiB region; by default open (as `--no-auth`) and with fault
    /// injection allowed, so that each test looks at one thing.
    private func makeHandler(access: ControlAccess = .open, allowsFaultInjection: Bool = true) throws -> ControlHandler {
        let engine = try DirtyingEngine(configuration: MemeaterConfiguration(sizeMiB: 4, threads: 1, bytesPerWrite: 4096))
        engine.isPaused = true
        return ControlHandler(session: MemeaterSession(engine: engine), access: access, allowsFaultInjection: allowsFaultInjection,
                              onStop: {})
    }

    /// One line on a connection that has authenticated (or needs not): the reply and whether it stops memeater.
    private func send(_ handler: ControlHandler, _ line: String) throws -> (ControlReply, Bool) {
        var state = ControlConnectionState(access: .open)
        let (reply, then) = try send(handler, line, connection: &state)
        XCTAssertNotEqual(then, .close, line)
        return (reply, then == .stop)
    }

    private func send(_ handler: ControlHandler, _ line: String,
                      connection state: inout ControlConnectionState) throws -> (ControlReply, ControlAfterReply) {
        let (text, then) = handler.reply(toLine: line[...], connection: &state)
        XCTAssertFalse(text.contains("\n"), "a reply is one line")
        return (try JSONDecoder().decode(ControlReply.self, from: Data(text.utf8)), then)
    }

    private let token = "0123456789abcdef0123456789abcdef"

    func testRequestsChangeTheEngine() throws {
        let handler = try makeHandler()
        let engine = handler.session.engine
        XCTAssertTrue(try send(handler, #"{"command":"set-rate","mibPerSecond":2}"#).0.ok)
        XCTAssertEqual(engine.targetPagesPerSecond, 512)
        XCTAssertTrue(try send(handler, #"{"command":"set-rate","pagesPerSecond":100}"#).0.ok)
        XCTAssertEqual(engine.targetPagesPerSecond, 100)
        XCTAssertTrue(try send(handler, #"{"command":"resume"}"#).0.ok)
        XCTAssertFalse(engine.isPaused)
        XCTAssertTrue(try send(handler, #"{"command":"pause"}"#).0.ok)
        XCTAssertTrue(engine.isPaused)
        let info = try send(handler, #"{"command":"info"}"#).0.info
        XCTAssertEqual(info?.sizeMiB, 4)
        XCTAssertEqual(info?.pageCount, 1_024)
        XCTAssertNotNil(info?.bootId)
        // The OS and kernel memeater runs on (here: this machine's Debian), for the run's results.
        XCTAssertTrue(info?.operatingSystem?.contains("Debian") ?? false, "\(info?.operatingSystem ?? "nil")")
        XCTAssertEqual(info?.kernelRelease, SystemInfo.kernelRelease())
        XCTAssertFalse(info?.kernelRelease?.isEmpty ?? true)
        let stats = try send(handler, #"{"command":"stats"}"#).0.stats
        XCTAssertEqual(stats?.targetPagesPerSecond, 100)
        XCTAssertEqual(stats?.paused, true)
    }

    /// `stats` says the guest's monotonic clock when it answered (the verifier's clock lag across
    /// a migration): read now, not the latest progress sample's time; other replies do not.
    func testStatsSaysTheMonotonicClockWhenItAnswered() throws {
        let handler = try makeHandler()
        let before = me_monotonic_ns()
        let first = try XCTUnwrap(try send(handler, #"{"command":"stats"}"#).0.guestMonotonicNanoseconds)
        usleep(20_000)
        let second = try XCTUnwrap(try send(handler, #"{"command":"stats"}"#).0.guestMonotonicNanoseconds)
        let after = me_monotonic_ns()
        XCTAssertGreaterThanOrEqual(first, before)
        XCTAssertGreaterThanOrEqual(second - first, 20_000_000, "each reply reads the clock anew")
        XCTAssertLessThanOrEqual(second, after)
        XCTAssertNil(try send(handler, #"{"command":"info"}"#).0.guestMonotonicNanoseconds)
    }

    /// `history` returns the counter as each progress sample read it, oldest first and on the
    /// guest's clock: the pages dirtied between two samples are the guest's work between them.
    func testHistoryReturnsTheCounterAtEachSample() throws {
        let handler = try makeHandler()
        let session = handler.session
        try session.engine.start()
        defer { session.stopDirtying() }
        XCTAssertEqual(try send(handler, #"{"command":"history"}"#).0.history, [], "no sample taken yet")
        let before = me_monotonic_ns()
        session.sample()
        XCTAssertTrue(try send(handler, #"{"command":"set-rate","pagesPerSecond":400}"#).0.ok)
        XCTAssertTrue(try send(handler, #"{"command":"resume"}"#).0.ok)
        let resumed = me_monotonic_ns()
        waitUntil("the workers dirtied, 300 ms after the resume") {
            session.engine.statistics().uniquePagesDirtied > 0 && me_monotonic_ns() - resumed >= 300_000_000
        }
        session.sample()
        XCTAssertTrue(try send(handler, #"{"command":"pause"}"#).0.ok)
        let paused = session.sample()
        let (reply, _) = try send(handler, #"{"command":"history"}"#)
        let history = try XCTUnwrap(reply.history)
        XCTAssertEqual(history.count, 3)
        XCTAssertEqual(history.map(\.pagesDirtied).first, 0)
        XCTAssertEqual(history.last?.pagesDirtied, paused.pagesDirtied)
        XCTAssertGreaterThan(paused.pagesDirtied, 0, "the workers dirtied while resumed")
        XCTAssertEqual(Double(history[1].pagesDirtied), Double(history[2].pagesDirtied), accuracy: 40, "paused right after the second sample")
        XCTAssertGreaterThanOrEqual(history[0].guestMonotonicNanoseconds, before)
        XCTAssertGreaterThanOrEqual(history[1].guestMonotonicNanoseconds - history[0].guestMonotonicNanoseconds, 300_000_000)
        XCTAssertLessThanOrEqual(history[2].guestMonotonicNanoseconds, try XCTUnwrap(reply.guestMonotonicNanoseconds))
    }

    /// The ring keeps the newest samples in order once full.
    func testRateHistoryKeepsTheNewestInOrder() {
        var history = RateHistory(capacity: 3)
        for index in 1...5 { history.append(RateHistorySample(guestMonotonicNanoseconds: UInt64(index), pagesDirtied: UInt64(10 * index))) }
        XCTAssertEqual(history.samples.map(\.guestMonotonicNanoseconds), [3, 4, 5])
        XCTAssertEqual(history.samples.map(\.pagesDirtied), [30, 40, 50])
        var short = RateHistory(capacity: 3)
        short.append(RateHistorySample(guestMonotonicNanoseconds: 7, pagesDirtied: 1))
        XCTAssertEqual(short.samples.map(\.guestMonotonicNanoseconds), [7])
    }

    func testVerifyAllReportsInjectedCorruption() throws {
        let handler = try makeHandler()
        XCTAssertEqual(try send(handler, #"{"command":"verify-all"}"#).0.verification?.badPagesTotal, 0)
        XCTAssertTrue(try send(handler, #"{"command":"corrupt-page","page":77,"byteOffset":40}"#).0.ok)
        let verification = try send(handler, #"{"command":"verify-all"}"#).0.verification
        XCTAssertEqual(verification?.badPagesTotal, 1)
        XCTAssertEqual(verification?.badPages.first?.page, 77)
        XCTAssertEqual(try send(handler, #"{"command":"stats"}"#).0.stats?.integrityErrors, 1)
    }

    func testBadRequestsGetAnErrorAndChangeNothing() throws {
        let handler = try makeHandler()
        for (line, fragment) in [
            ("garbage", "malformed request"),
            (#"{"cmd":"stats"}"#, #"unknown field "cmd""#),
            (#"{"command":"format-disk"}"#, #"unknown command "format-disk""#),
            (#"{"command":"set-rate"}"#, "exactly one of"),
            (#"{"command":"set-rate","mibPerSecond":1,"pagesPerSecond":1}"#, "exactly one of"),
            (#"{"command":"set-rate","mibPerSecond":-3}"#, "set-rate: mibPerSecond must be a number from 0 to 4 "),
            (#"{"command":"set-rate","mibPerSecond":5}"#, "0 = as fast as possible), got 5"),
            // Beyond Int.max once in pages/s: refused in one line, not a crash of the server.
            (#"{"command":"set-rate","pagesPerSecond":1e19}"#, "set-rate: pagesPerSecond must be a number from 0 to 1024 "),
            (#"{"command":"set-rate","mibPerSecond":4e16}"#, "got 4e16"),
            (#"{"command":"set-rate","pagesPerSecond":1.7e308}"#, "got 1.7e308"),
            (#"{"command":"corrupt-page"}"#, "corrupt-page needs a page: an integer from 0 to 1023"),
            (#"{"command":"corrupt-page","page":99999}"#, "corrupt-page: page must be an integer from 0 to 1023 (a page of the region), got 99999"),
        ] {
            let (reply, stop) = try send(handler, line)
            XCTAssertFalse(reply.ok, line)
            XCTAssertFalse(stop, line)
            XCTAssertTrue(reply.error?.contains(fragment) == true, "\(line): \(reply.error ?? "no error")")
        }
        XCTAssertEqual(handler.session.engine.targetPagesPerSecond, 0)
    }

    func testUnknownCommandIsNamedAndTheHandlerKeepsServing() throws {
        let handler = try makeHandler()
        let (reply, stop) = try send(handler, #"{"command":"format-disk","page":3}"#)
        XCTAssertFalse(reply.ok)
        XCTAssertFalse(stop)
        XCTAssertEqual(reply.error?.hasPrefix(#"unknown command "format-disk" (commands: auth, info, stats, "#), true, reply.error ?? "-")
        XCTAssertEqual(reply.command, "format-disk", "the reply echoes the unknown command")
        // A command of the wrong JSON type is malformed, not unknown.
        XCTAssertEqual(try send(handler, #"{"command":7}"#).0.error?.hasPrefix("command must be a string, one of auth, info"), true)
        XCTAssertTrue(try send(handler, #"{"command":"info"}"#).0.ok, "the next request is served")
        // Decoding names the command in a typed error.
        XCTAssertThrowsError(try ControlRequest.decode(line: #"{"command":"rm -rf /"}"#[...], limits: handler.limits)) { error in
            XCTAssertEqual(error as? ControlRequestError, .unknownCommand("rm -rf /"))
        }
    }

    /// The commands' raw values are the wire strings of protocol version 1.
    func testCommandsAreTheWireStrings() {
        XCTAssertEqual(ControlCommand.allCases.map(\.rawValue),
                       ["auth", "info", "stats", "set-rate", "pause", "resume", "verify-all", "reset-stall", "corrupt-page", "stop",
                        "history"])
        XCTAssertEqual(controlProtocolVersion, 3)
    }

    /// Every request a client encodes reads back the same through the server's decoder; the
    /// commands that need an argument are refused without it.
    func testRequestsRoundTrip() throws {
        let limits = try makeHandler().limits
        var requests = ControlCommand.allCases.filter(\.fields.isEmpty).map { ControlRequest(command: $0) }
        requests += [ControlRequest(command: .setRate, mibPerSecond: 2.5), ControlRequest(command: .setRate, pagesPerSecond: 100),
                     ControlRequest(command: .corruptPage, page: 77, byteOffset: 40), ControlRequest(command: .auth, token: token)]
        for request in requests {
            let line = encodeLine(request)
            XCTAssertEqual(try ControlRequest.decode(line: line[...], limits: limits), request, line)
        }
        for command in ControlCommand.allCases where !command.fields.isEmpty {
            let line = encodeLine(ControlRequest(command: command))
            XCTAssertThrowsError(try ControlRequest.decode(line: line[...], limits: limits), line)
        }
    }

    /// Old clients and servers sent and read `command` as a plain string, the lab's untyped client
    /// built its lines with `JSONSerialization` (sorted keys). Lines must be byte-identical both ways.
    func testWireFormatMatchesTheStringForm() throws {
        let limits = try makeHandler().limits
        struct StringRequest: Codable, Equatable {
            var command: String
            var mibPerSecond: Double?
            var pagesPerSecond: Double?
            var page: Int?
            var byteOffset: Int?
            var token: String?
        }
        let pairs: [(ControlRequest, StringRequest, String)] = [
            (ControlRequest(command: .info), StringRequest(command: "info"), #"{"command":"info"}"#),
            (ControlRequest(command: .stats), StringRequest(command: "stats"), #"{"command":"stats"}"#),
            (ControlRequest(command: .setRate, mibPerSecond: 2), StringRequest(command: "set-rate", mibPerSecond: 2),
             #"{"command":"set-rate","mibPerSecond":2}"#),
            (ControlRequest(command: .setRate, pagesPerSecond: 100), StringRequest(command: "set-rate", pagesPerSecond: 100),
             #"{"command":"set-rate","pagesPerSecond":100}"#),
            (ControlRequest(command: .pause), StringRequest(command: "pause"), #"{"command":"pause"}"#),
            (ControlRequest(command: .resume), StringRequest(command: "resume"), #"{"command":"resume"}"#),
            (ControlRequest(command: .verifyAll), StringRequest(command: "verify-all"), #"{"command":"verify-all"}"#),
            (ControlRequest(command: .resetStall), StringRequest(command: "reset-stall"), #"{"command":"reset-stall"}"#),
            (ControlRequest(command: .corruptPage, page: 77, byteOffset: 40), StringRequest(command: "corrupt-page", page: 77, byteOffset: 40),
             #"{"byteOffset":40,"command":"corrupt-page","page":77}"#),
            (ControlRequest(command: .stop), StringRequest(command: "stop"), #"{"command":"stop"}"#),
            (ControlRequest(command: .auth, token: token), StringRequest(command: "auth", token: token),
             #"{"command":"auth","token":"0123456789abcdef0123456789abcdef"}"#),
        ]
        for (typed, string, line) in pairs {
            XCTAssertEqual(encodeLine(typed), line)
            XCTAssertEqual(encodeLine(string), line)
            XCTAssertEqual(try ControlRequest.decode(line: line[...], limits: limits), typed, line)
            XCTAssertEqual(try JSONDecoder().decode(StringRequest.self, from: Data(encodeLine(typed).utf8)), string, line)
        }
        // The untyped client's lines (JSONSerialization, sorted keys, numbers as Double).
        let untyped = try JSONSerialization.data(withJSONObject: ["command": "set-rate", "mibPerSecond": 2.0] as [String: Any],
                                                 options: [.sortedKeys])
        XCTAssertEqual(try ControlRequest.decode(line: String(decoding: untyped, as: UTF8.self)[...], limits: limits),
                       ControlRequest(command: .setRate, mibPerSecond: 2))
        // Replies keep the command as the string the request carried.
        let handler = try makeHandler()
        var state = ControlConnectionState(access: .open)
        let (text, _) = handler.reply(toLine: #"{"command":"reset-stall"}"#[...], connection: &state)
        XCTAssertEqual(text, #"{"command":"reset-stall","ok":true}"#)
    }

    // MARK: the stats reply's per-thread stall

    /// The stats reply of a two-thread memeater carries one stall per thread, and reads back the same.
    func testTheStatsReplyCarriesEachThreadsStall() throws {
        let engine = try DirtyingEngine(configuration: MemeaterConfiguration(sizeMiB: 4, threads: 2, bytesPerWrite: 4096))
        engine.isPaused = true
        let handler = ControlHandler(session: MemeaterSession(engine: engine), access: .open, onStop: {})
        var state = ControlConnectionState(access: .open)
        let (text, _) = handler.reply(toLine: #"{"command":"stats"}"#[...], connection: &state)
        XCTAssertTrue(text.contains(#""maxStallMicrosecondsPerThread":[0,0]"#), text)
        let stats = try XCTUnwrap(try JSONDecoder().decode(ControlReply.self, from: Data(text.utf8)).stats)
        XCTAssertEqual(stats.maxStallMicrosecondsPerThread, [0, 0])
    }

    /// What a client reads is what memeater sent, field for field, with the per-thread list
    /// and (from a memeater older than it) without: then the list is empty.
    func testAProgressRecordRoundTripsWithAndWithoutThePerThreadStall() throws {
        let line = #"{"achievedMiBPerSecond":50,"achievedPagesPerSecond":12800,"elapsedSeconds":3.5,"integrityErrors":0,"#
            + #""maxStallMicroseconds":41000,"maxStallMicrosecondsPerThread":[1200,41000,980],"pagesDirtied":44800,"#
            + #""pagesVerified":44800,"pagesWritten":44800,"paused":false,"targetMiBPerSecond":50,"#
            + #""targetPagesPerSecond":12800,"timestampSeconds":1760000000.5,"type":"progress","windowSeconds":0.1}"#
        let record = try JSONDecoder().decode(ProgressRecord.self, from: Data(line.utf8))
        XCTAssertEqual(record.maxStallMicrosecondsPerThread, [1_200, 41_000, 980])
        XCTAssertEqual(record.maxStallMicroseconds, 41_000)
        XCTAssertEqual(record.pagesDirtied, 44_800)
        XCTAssertEqual(encodeLine(record), line, "encoded back byte for byte")

        let older = line.replacingOccurrences(of: #""maxStallMicrosecondsPerThread":[1200,41000,980],"#, with: "")
        XCTAssertNotEqual(older, line)
        let fromOlder = try JSONDecoder().decode(ProgressRecord.self, from: Data(older.utf8))
        XCTAssertNil(fromOlder.maxStallMicrosecondsPerThread)
        XCTAssertEqual(fromOlder.maxStallMicroseconds, 41_000)
        var expected = record
        expected.maxStallMicrosecondsPerThread = nil
        XCTAssertEqual(fromOlder, expected, "every other field as sent")
        // A whole stats reply from an older memeater decodes too.
        let reply = try JSONDecoder().decode(ControlReply.self, from: Data(#"{"badPages":[],"command":"stats","ok":true,"stats":\#(older)}"#.utf8))
        XCTAssertEqual(reply.stats, expected)
    }

    func testStopIsAcknowledged() throws {
        let handler = try makeHandler()
        let (reply, stop) = try send(handler, #"{"command":"stop"}"#)
        XCTAssertTrue(reply.ok)
        XCTAssertTrue(stop)
    }

    // MARK: authentication and fault injection

    func testATokenServerObeysNothingBeforeAuth() throws {
        let handler = try makeHandler(access: .token(try ControlToken(token)))
        let engine = handler.session.engine
        for line in [#"{"command":"stop"}"#, #"{"command":"resume"}"#, #"{"command":"set-rate","mibPerSecond":2}"#,
                     #"{"command":"corrupt-page","page":3}"#, #"{"command":"format-disk"}"#, "garbage"] {
            var state = ControlConnectionState(access: handler.access)
            XCTAssertFalse(state.isAuthenticated)
            let (reply, then) = try send(handler, line, connection: &state)
            XCTAssertFalse(reply.ok, line)
            XCTAssertEqual(then, .close, "\(line): one error reply, then the connection closes")
            XCTAssertNil(reply.command, "\(line): the refusal names no command, so none seems to have run")
            XCTAssertTrue(reply.error?.hasPrefix("not authenticated") == true, "\(line): \(reply.error ?? "no error")")
            XCTAssertFalse(state.isAuthenticated)
        }
        XCTAssertTrue(engine.isPaused, "resume before auth did not run")
        XCTAssertEqual(engine.targetPagesPerSecond, 0, "set-rate before auth did not run")
        XCTAssertEqual(engine.verifyAll().badPagesTotal, 0, "corrupt-page before auth did not run")
    }

    func testAWrongOrMissingTokenClosesTheConnection() throws {
        let handler = try makeHandler(access: .token(try ControlToken(token)))
        for line in [#"{"command":"auth","token":"0123456789abcdef0123456789abcdeF"}"#,  // last character differs
                     #"{"command":"auth","token":"0123456789abcdef0123456789abcdef0"}"#, // one character more
                     #"{"command":"auth","token":"0123456789abcdef"}"#,                  // a prefix
                     #"{"command":"auth","token":""}"#, #"{"command":"auth"}"#] {
            var state = ControlConnectionState(access: handler.access)
            let (reply, then) = try send(handler, line, connection: &state)
            XCTAssertFalse(reply.ok, line)
            XCTAssertEqual(reply.command, "auth")
            XCTAssertEqual(reply.error?.hasPrefix("authentication failed: wrong or missing token"), true, "\(line): \(reply.error ?? "-")")
            XCTAssertEqual(then, .close, line)
            XCTAssertFalse(state.isAuthenticated, line)
        }
    }

    func testTheRightTokenOpensTheConnection() throws {
        let handler = try makeHandler(access: .token(try ControlToken(token)))
        var state = ControlConnectionState(access: handler.access)
        let (reply, then) = try send(handler, #"{"command":"auth","token":"\#(token)"}"#, connection: &state)
        XCTAssertTrue(reply.ok)
        XCTAssertEqual(reply.command, "auth")
        XCTAssertNil(reply.error)
        XCTAssertEqual(then, .serveNext)
        XCTAssertTrue(state.isAuthenticated)
        XCTAssertTrue(try send(handler, #"{"command":"resume"}"#, connection: &state).0.ok)
        XCTAssertFalse(handler.session.engine.isPaused)
        let (unknown, afterUnknown) = try send(handler, #"{"command":"format-disk"}"#, connection: &state)
        XCTAssertFalse(unknown.ok)
        XCTAssertEqual(afterUnknown, .serveNext, "after auth a bad request is refused and the connection stays")
        let info = try XCTUnwrap(try send(handler, #"{"command":"info"}"#, connection: &state).0.info)
        XCTAssertEqual(info.tokenRequired, true)
        XCTAssertEqual(info.faultInjectionAllowed, true)
        XCTAssertEqual(try send(handler, #"{"command":"stop"}"#, connection: &state).1, .stop)
    }

    func testAnOpenServerNeedsNoAuthButAcceptsOne() throws {
        let handler = try makeHandler(access: .open)
        var state = ControlConnectionState(access: handler.access)
        XCTAssertTrue(state.isAuthenticated)
        XCTAssertTrue(try send(handler, #"{"command":"auth","token":"any-token-at-all-0123"}"#, connection: &state).0.ok)
        // A token that cannot be one is refused even here, and the connection stays.
        let (refusal, then) = try send(handler, #"{"command":"auth","token":"short"}"#, connection: &state)
        XCTAssertEqual(refusal.error?.hasPrefix("auth: token must be a string of 16 to 1024 printable ASCII characters"), true, refusal.error ?? "-")
        XCTAssertEqual(then, .serveNext)
        XCTAssertEqual(try send(handler, #"{"command":"info"}"#, connection: &state).0.info?.tokenRequired, false)
    }

    func testCorruptPageIsRefusedWithoutFaultInjection() throws {
        let handler = try makeHandler(allowsFaultInjection: false)
        let (reply, stop) = try send(handler, #"{"command":"corrupt-page","page":77}"#)
        XCTAssertFalse(reply.ok)
        XCTAssertFalse(stop)
        XCTAssertEqual(reply.command, "corrupt-page")
        XCTAssertTrue(reply.error?.contains("--allow-fault-injection") == true, reply.error ?? "no error")
        XCTAssertEqual(try send(handler, #"{"command":"verify-all"}"#).0.verification?.badPagesTotal, 0, "no page was spoiled")
        XCTAssertEqual(try send(handler, #"{"command":"info"}"#).0.info?.faultInjectionAllowed, false)
    }
}
