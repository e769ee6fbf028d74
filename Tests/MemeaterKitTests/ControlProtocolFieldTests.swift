import Foundation
import MemeaterKit
import Synchronization
import XCTest

/// Finding 1 of issue 24: every field of every command, sent over a real socket to a server on
/// loopback, out of its range or of the wrong type. Each gets one error reply that names the
/// field and what it may hold; nothing of it runs, and the server goes on serving.
final class ControlProtocolFieldTests: XCTestCase {
    private let token = "0123456789abcdef0123456789abcdef"
    private let stops = StopTally()
    private var server: ControlServer?
    private var engine: DirtyingEngine?

    // The server's region: 4 MiB of 4 KiB pages, every byte written.
    private let mib = "a number from 0 to 4 (unique MiB per second, at most the region's size; 0 = as fast as possible)"
    private let pages = "a number from 0 to 1024 (unique pages per second, at most the region's pages; 0 = as fast as possible)"
    private let page = "an integer from 0 to 1023 (a page of the region)"
    private let offset = "an integer from 0 to 4095 (a byte memeater writes in each page)"
    private let tokenRange = "a string of 16 to 1024 printable ASCII characters without spaces"
    private let commands = "auth, info, stats, set-rate, pause, resume, verify-all, reset-stall, corrupt-page, stop, history"

    override func setUpWithError() throws {
        XCTAssertEqual(SystemInfo.pageSizeBytes, 4096, "the expected ranges assume 4 KiB pages")
        let engine = try DirtyingEngine(configuration: MemeaterConfiguration(sizeMiB: 4, threads: 1, bytesPerWrite: 4096))
        engine.isPaused = true
        let handler = ControlHandler(session: MemeaterSession(engine: engine), access: .token(try ControlToken(token)),
                                     allowsFaultInjection: true, onStop: { [stops] in stops.count.add(1, ordering: .relaxed) })
        let server = try ControlServer(listenAddress: "127.0.0.1", port: 0, handler: handler)
        try server.start()
        self.server = server
        self.engine = engine
    }

    override func tearDown() {
        server?.shutdownServer()
        server = nil
        engine = nil
    }

    private func authenticatedClient() throws -> LoopbackClient {
        let client = try LoopbackClient(port: try XCTUnwrap(server).port)
        XCTAssertEqual(try client.exchange(#"{"command":"auth","token":"\#(token)"}"#)?["ok"] as? Bool, true)
        return client
    }

    /// Sends each line on one authenticated connection and expects exactly `error` (and the
    /// command echoed as `command`) for each, the connection kept.
    private func assertRefused(_ cases: [(line: String, error: String, command: String?)], file: StaticString = #filePath,
                               line testLine: UInt = #line) throws {
        let client = try authenticatedClient()
        defer { client.close() }
        for (line, error, command) in cases {
            let reply = try XCTUnwrap(try client.exchange(line), "\(line): no reply, the connection closed", file: file, line: testLine)
            XCTAssertEqual(reply["ok"] as? Bool, false, line, file: file, line: testLine)
            XCTAssertEqual(reply["error"] as? String, error, line, file: file, line: testLine)
            XCTAssertEqual(reply["command"] as? String, command, line, file: file, line: testLine)
        }
        XCTAssertEqual(try client.exchange(#"{"command":"info"}"#)?["ok"] as? Bool, true, "the connection still serves", file: file, line: testLine)
        assertNothingRan(file: file, line: testLine)
    }

    private func assertNothingRan(file: StaticString = #filePath, line: UInt = #line) {
        guard let engine else { return XCTFail("no engine", file: file, line: line) }
        XCTAssertEqual(engine.targetPagesPerSecond, 0, "no rate was set", file: file, line: line)
        XCTAssertTrue(engine.isPaused, "nothing resumed", file: file, line: line)
        XCTAssertEqual(engine.verifyAll().badPagesTotal, 0, "no page was spoiled", file: file, line: line)
        XCTAssertEqual(stops.count.load(ordering: .relaxed), 0, "nothing stopped memeater", file: file, line: line)
    }

    func testSetRateMiBPerSecondOutOfRangeOrOfTheWrongType() throws {
        let refused = { (value: String) in (#"{"command":"set-rate","mibPerSecond":\#(value)}"#,
                                            "set-rate: mibPerSecond must be \(self.mib), got \(value)", Optional("set-rate")) }
        try assertRefused([
            refused("-1"), refused("-0.000001"), refused("4.000001"), refused("5"), refused("1e19"), refused("4e16"),
            refused("1.7e308"), refused("1e999"), refused("-1e999"), refused("\"2\""), refused("null"), refused("true"),
            (#"{"command":"set-rate","mibPerSecond":[2]}"#, "mibPerSecond must be \(mib), got an array", nil),
            (#"{"command":"set-rate","mibPerSecond":{"value":2}}"#, "mibPerSecond must be \(mib), got an object", nil),
            // NaN and infinities are no JSON.
            (#"{"command":"set-rate","mibPerSecond":NaN}"#,
             #"malformed request: expected one JSON object with a "command" per line (expected a value at byte 38)"#, nil),
            (#"{"command":"set-rate","mibPerSecond":-Infinity}"#,
             #"malformed request: expected one JSON object with a "command" per line (expected a digit at byte 39)"#, nil),
        ])
    }

    func testSetRatePagesPerSecondOutOfRangeOrOfTheWrongType() throws {
        let refused = { (value: String) in (#"{"command":"set-rate","pagesPerSecond":\#(value)}"#,
                                            "set-rate: pagesPerSecond must be \(self.pages), got \(value)", Optional("set-rate")) }
        try assertRefused([
            refused("-1"), refused("1024.5"), refused("1025"), refused("1e19"), refused("18446744073709551616"),
            refused("1e400"), refused("\"100\""), refused("false"), refused("null"),
            (#"{"command":"set-rate"}"#, "set-rate needs exactly one of mibPerSecond or pagesPerSecond", "set-rate"),
            (#"{"command":"set-rate","mibPerSecond":1,"pagesPerSecond":1}"#, "set-rate needs exactly one of mibPerSecond or pagesPerSecond", "set-rate"),
            (#"{"command":"set-rate","pagesPerSecond":1,"page":3}"#, "set-rate takes no page (its fields: mibPerSecond, pagesPerSecond)", "set-rate"),
        ])
    }

    /// The bounds themselves are allowed; `-0` and a number too small for a Double are 0.
    func testSetRateAtItsBoundsIsObeyed() throws {
        let client = try authenticatedClient()
        defer { client.close() }
        let engine = try XCTUnwrap(engine)
        for (line, pagesPerSecond) in [(#"{"command":"set-rate","mibPerSecond":4}"#, 1024.0), (#"{"command":"set-rate","pagesPerSecond":1024}"#, 1024),
                                       (#"{"command":"set-rate","pagesPerSecond":0.5}"#, 0.5), (#"{"command":"set-rate","mibPerSecond":-0}"#, 0),
                                       (#"{"command":"set-rate","pagesPerSecond":1e-400}"#, 0), (#"{"command":"set-rate","pagesPerSecond":-0.0}"#, 0)] {
            XCTAssertEqual(try client.exchange(line)?["ok"] as? Bool, true, line)
            XCTAssertEqual(engine.targetPagesPerSecond, pagesPerSecond, line)
            XCTAssertEqual(engine.targetPagesPerSecond.sign, .plus, "\(line): -0 is stored as 0")
        }
    }

    func testCorruptPageFieldsOutOfRangeOrOfTheWrongType() throws {
        let badPage = { (value: String) in (#"{"command":"corrupt-page","page":\#(value)}"#,
                                            "corrupt-page: page must be \(self.page), got \(value)", Optional("corrupt-page")) }
        let badOffset = { (value: String) in (#"{"command":"corrupt-page","page":3,"byteOffset":\#(value)}"#,
                                              "corrupt-page: byteOffset must be \(self.offset), got \(value)", Optional("corrupt-page")) }
        try assertRefused([
            badPage("-1"), badPage("1024"), badPage("99999999999999999999"), badPage("1e19"), badPage("1.5"),
            badPage("1.0"), badPage("7.7e1"), badPage("\"77\""), badPage("null"), badPage("true"),
            badPage("9223372036854775807"), badPage("-9223372036854775808"),
            (#"{"command":"corrupt-page"}"#, "corrupt-page needs a page: \(page)", "corrupt-page"),
            (#"{"command":"corrupt-page","byteOffset":3}"#, "corrupt-page needs a page: \(page)", "corrupt-page"),
            badOffset("-1"), badOffset("4096"), badOffset("0.5"), badOffset("\"0\""), badOffset("1e3"), badOffset("null"),
            (#"{"command":"corrupt-page","page":3,"mibPerSecond":1}"#, "corrupt-page takes no mibPerSecond (its fields: page, byteOffset)", "corrupt-page"),
        ])
    }

    func testCorruptPageAtItsBoundsIsObeyed() throws {
        let client = try authenticatedClient()
        defer { client.close() }
        for line in [#"{"command":"corrupt-page","page":1023,"byteOffset":4095}"#, #"{"command":"corrupt-page","page":-0}"#] {
            XCTAssertEqual(try client.exchange(line)?["ok"] as? Bool, true, line)
        }
        XCTAssertEqual(try XCTUnwrap(engine).verifyAll().badPages.map(\.page), [0, 1023])
    }

    /// The commands without fields take none.
    func testCommandsWithoutFieldsRefuseEveryField() throws {
        var cases: [(String, String, String?)] = []
        for command in ["info", "stats", "pause", "resume", "verify-all", "reset-stall", "stop"] {
            cases.append((#"{"command":"\#(command)","page":1}"#, "\(command) takes no page (it takes no field)", command))
            cases.append((#"{"command":"\#(command)","token":"\#(token)"}"#, "\(command) takes no token (it takes no field)", command))
            cases.append((#"{"command":"\#(command)","mibPerSecond":0}"#, "\(command) takes no mibPerSecond (it takes no field)", command))
        }
        try assertRefused(cases)
    }

    func testTheCommandFieldItself() throws {
        let huge = String(repeating: "x", count: 60_000)
        let excerpt = String(repeating: "x", count: 60) + "… (60000 characters)"
        try assertRefused([
            (#"{"page":1}"#, #"malformed request: no "command" field"#, nil),
            ("{}", #"malformed request: no "command" field"#, nil),
            (#"{"command":7}"#, "command must be a string, one of \(commands), got 7", nil),
            (#"{"command":null}"#, "command must be a string, one of \(commands), got null", nil),
            (#"{"command":["info"]}"#, "command must be a string, one of \(commands), got an array", nil),
            (#"{"command":""}"#, #"unknown command "" (commands: \#(commands))"#, ""),
            (#"{"command":"\#(huge)"}"#, #"unknown command "\#(excerpt)" (commands: \#(commands))"#, excerpt),
            // Control characters, escaped in the request, are shown escaped: a reply stays one line.
            (#"{"command":"sto\u0000p\n\u001b[2J"}"#, #"unknown command "sto\u{0}p\n\u{1B}[2J" (commands: \#(commands))"#, #"sto\u{0}p\n\u{1B}[2J"#),
            ("{\"command\":\"st\u{1}op\"}", #"malformed request: expected one JSON object with a "command" per line (a raw control character (U+1) in a string: JSON needs it escaped at byte 15)"#, nil),
            (#"{"command":"stop","command":"info"}"#, "malformed request: field command appears twice (a request names each field once)", nil),
            (#"{"command":"info","Command":"stop"}"#, #"unknown field "Command" (a request's fields: command, mibPerSecond, pagesPerSecond, page, byteOffset, token)"#, nil),
        ])
    }

    func testDuplicatedFieldsUnknownFieldsAndDeepNesting() throws {
        let deep = String(repeating: "[", count: 60_000)
        try assertRefused([
            (#"{"command":"set-rate","mibPerSecond":1,"mibPerSecond":2}"#, "malformed request: field mibPerSecond appears twice (a request names each field once)", nil),
            (#"{"command":"corrupt-page","page":1,"page":2}"#, "malformed request: field page appears twice (a request names each field once)", nil),
            (#"{"command":"info","extra":{"a":[1,2,{"b":null}]}}"#, #"unknown field "extra" (a request's fields: command, mibPerSecond, pagesPerSecond, page, byteOffset, token)"#, nil),
            (#"{"command":"info","page":\#(deep)"#, "page must be \(page), got an array", nil),
            (deep, #"malformed request: expected one JSON object with a "command" per line (not a JSON object at byte 1)"#, nil),
            (#"["command","stop"]"#, #"malformed request: expected one JSON object with a "command" per line (not a JSON object at byte 1)"#, nil),
            (#"{"command":"stop"} {"command":"stop"}"#, #"malformed request: expected one JSON object with a "command" per line (text after the object at byte 20)"#, nil),
            (#"{"command":"stop""#, #"malformed request: expected one JSON object with a "command" per line (expected , or } after the value of command at the end of the line)"#, nil),
            (#"{"command":"stop",}"#, #"malformed request: expected one JSON object with a "command" per line (expected a field name at byte 19)"#, nil),
            (#"{"command":"\ud800stop"}"#, #"malformed request: expected one JSON object with a "command" per line (a lone surrogate in a \u escape at byte 19)"#, nil),
        ])
    }

    /// `auth`'s token: each bad one ends the connection with the reason, and lets nothing in.
    func testAuthTokenOutOfRangeOrOfTheWrongType() throws {
        let port = try XCTUnwrap(server).port
        let reason = "authentication failed: wrong or missing token"
        for (line, detail) in [
            (#"{"command":"auth"}"#, "auth needs a token: \(tokenRange)"),
            (#"{"command":"auth","token":""}"#, "auth: token must be \(tokenRange), got a string of 0 bytes"),
            (#"{"command":"auth","token":"0123456789abcde"}"#, "auth: token must be \(tokenRange), got a string of 15 bytes"),
            (#"{"command":"auth","token":"\#(String(repeating: "a", count: 1025))"}"#, "auth: token must be \(tokenRange), got a string of 1025 bytes"),
            (#"{"command":"auth","token":"0123456789abcdef 123"}"#, "auth: token must be \(tokenRange), got a string of 20 bytes"),
            (#"{"command":"auth","token":"0123456789abcdef\u0007"}"#, "auth: token must be \(tokenRange), got a string of 17 bytes"),
            (#"{"command":"auth","token":"0123456789abcdefé"}"#, "auth: token must be \(tokenRange), got a string of 18 bytes"),
            (#"{"command":"auth","token":12345678901234567890}"#, "auth: token must be \(tokenRange), got a number"),
            (#"{"command":"auth","token":null}"#, "auth: token must be \(tokenRange), got null"),
            (#"{"command":"auth","token":["\#(token)"]}"#, "token must be \(tokenRange), got an array"),
            (#"{"command":"auth","token":"\#(token)","page":1}"#, "auth takes no page (its fields: token)"),
        ] {
            let client = try LoopbackClient(port: port)
            defer { client.close() }
            let reply = try XCTUnwrap(try client.exchange(line), line)
            XCTAssertEqual(reply["ok"] as? Bool, false, line)
            // A token in an array is refused before the command is known: not authenticated.
            let expected = line.contains("[") ? ControlHandlerReplies.notAuthenticated : "\(reason) (\(detail))"
            XCTAssertEqual(reply["error"] as? String, expected, line)
            XCTAssertNil(try client.readLine(), "\(line): closed")
        }
        let client = try authenticatedClient()
        defer { client.close() }
        XCTAssertEqual(try client.exchange(#"{"command":"info"}"#)?["ok"] as? Bool, true, "the server still serves")
        assertNothingRan()
    }

    /// A request cut short by the end of the stream does not run: the client is told.
    func testALineWithoutItsNewlineDoesNotRun() throws {
        let client = try authenticatedClient()
        defer { client.close() }
        client.sendRaw(#"{"command":"resume"}"# + "\n" + #"{"command":"stop"}"#)
        XCTAssertEqual(try client.readLine(), #"{"command":"resume","ok":true}"#, "the whole line ran")
        client.shutdownWrite()
        let line = try XCTUnwrap(try client.readLine())
        XCTAssertEqual(line, #"{"error":"the last request has no newline at its end: not run (a request is one line ending in \\n)","ok":false}"#)
        XCTAssertNil(try client.readLine())
        XCTAssertEqual(stops.count.load(ordering: .relaxed), 0, "the stop without its newline did not run")
        try XCTUnwrap(engine).isPaused = true
        // Trailing blanks after the last newline are no request.
        let blank = try authenticatedClient()
        defer { blank.close() }
        blank.sendRaw(" \r\t")
        blank.shutdownWrite()
        XCTAssertNil(try blank.readLine(), "closed without a word")
        assertNothingRan()
    }

    /// A 100 MB line is refused after the first 64 KiB, not buffered; the server goes on.
    func testAHundredMegabyteLineIsRefusedAndTheServerGoesOn() throws {
        let client = try authenticatedClient()
        defer { client.close() }
        let sender = Thread { [client] in
            var line = Array(#"{"command":"stop","x":""#.utf8)
            line += [UInt8](repeating: UInt8(ascii: "a"), count: 100 * 1_048_576)
            client.sendAll(line)
        }
        sender.start()
        let reply = try XCTUnwrap(try client.readLine(), "told before the close")
        XCTAssertEqual(reply, #"{"error":"request line longer than 65536 bytes","ok":false}"#)
        client.shutdown()
        let next = try authenticatedClient()
        defer { next.close() }
        XCTAssertEqual(try next.exchange(#"{"command":"info"}"#)?["ok"] as? Bool, true, "the server still serves")
        assertNothingRan()
    }

    /// Requests in their limits still work after all of that, on one connection.
    func testAValidLineOfEveryCommandIsObeyed() throws {
        let client = try authenticatedClient()
        defer { client.close() }
        for line in [#"{"command":"info"}"#, #"{"command":"stats"}"#, #"{"command":"set-rate","mibPerSecond":2}"#,
                     #"{"command":"pause"}"#, #"{"command":"resume"}"#, #"{"command":"verify-all"}"#, #"{"command":"reset-stall"}"#,
                     #"{"command":"corrupt-page","page":7,"byteOffset":0}"#, #"{"command":"auth","token":"\#(token)"}"#,
                     #"  { "command" : "pause" }  "#,
                     #"{"command":"stop"}"#] {
            XCTAssertEqual(try client.exchange(line)?["ok"] as? Bool, true, line)
        }
        XCTAssertNil(try client.readLine(), "stop closes the connection, then stops memeater")
        XCTAssertEqual(stops.count.load(ordering: .relaxed), 1)
    }
}

/// Replies of the handler the tests compare with.
enum ControlHandlerReplies {
    static let notAuthenticated = #"not authenticated: the first request must be {"command":"auth","token":"…"}"#
}

/// How often the server asked memeater to stop.
private final class StopTally: Sendable {
    let count = Atomic<Int>(0)
}
