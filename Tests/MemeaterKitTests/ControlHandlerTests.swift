import Foundation
import MemeaterKit
import XCTest

final class ControlHandlerTests: XCTestCase {
    private func makeHandler() throws -> ControlHandler {
        let engine = try DirtyingEngine(configuration: MemeaterConfiguration(sizeMiB: 4, threads: 1, bytesPerWrite: 4096))
        engine.isPaused = true
        return ControlHandler(session: MemeaterSession(engine: engine), onStop: {})
    }

    private func send(_ handler: ControlHandler, _ line: String) throws -> (ControlReply, Bool) {
        let (text, stop) = handler.reply(toLine: line[...])
        XCTAssertFalse(text.contains("\n"), "a reply is one line")
        return (try JSONDecoder().decode(ControlReply.self, from: Data(text.utf8)), stop)
    }

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
        let stats = try send(handler, #"{"command":"stats"}"#).0.stats
        XCTAssertEqual(stats?.targetPagesPerSecond, 100)
        XCTAssertEqual(stats?.paused, true)
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
            (#"{"cmd":"stats"}"#, "malformed request"),
            (#"{"command":"format-disk"}"#, #"unknown command "format-disk""#),
            (#"{"command":"set-rate"}"#, "exactly one of"),
            (#"{"command":"set-rate","mibPerSecond":1,"pagesPerSecond":1}"#, "exactly one of"),
            (#"{"command":"set-rate","mibPerSecond":-3}"#, "negative"),
            (#"{"command":"set-rate","mibPerSecond":5}"#, "exceeds"),
            (#"{"command":"corrupt-page"}"#, "needs a page"),
            (#"{"command":"corrupt-page","page":99999}"#, "outside the region"),
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
        XCTAssertEqual(reply.error, #"unknown command "format-disk""#)
        XCTAssertEqual(reply.command, "format-disk", "the reply echoes the unknown command")
        // A command of the wrong JSON type is malformed, not unknown.
        XCTAssertEqual(try send(handler, #"{"command":7}"#).0.error?.hasPrefix("malformed request"), true)
        XCTAssertTrue(try send(handler, #"{"command":"info"}"#).0.ok, "the next request is served")
        // Decoding names the command in a typed error, not a DecodingError.
        XCTAssertThrowsError(try JSONDecoder().decode(ControlRequest.self, from: Data(#"{"command":"rm -rf /"}"#.utf8))) { error in
            XCTAssertEqual(error as? UnknownControlCommand, UnknownControlCommand(command: "rm -rf /"))
        }
    }

    /// The commands' raw values are the wire strings of protocol version 1.
    func testCommandsAreTheWireStrings() {
        XCTAssertEqual(ControlCommand.allCases.map(\.rawValue),
                       ["info", "stats", "set-rate", "pause", "resume", "verify-all", "reset-stall", "corrupt-page", "stop"])
        XCTAssertEqual(controlProtocolVersion, 1)
    }

    func testRequestsRoundTrip() throws {
        var requests = ControlCommand.allCases.map { ControlRequest(command: $0) }
        requests += [ControlRequest(command: .setRate, mibPerSecond: 2.5), ControlRequest(command: .setRate, pagesPerSecond: 100),
                     ControlRequest(command: .corruptPage, page: 77, byteOffset: 40)]
        for request in requests {
            let line = encodeLine(request)
            XCTAssertEqual(try JSONDecoder().decode(ControlRequest.self, from: Data(line.utf8)), request, line)
        }
    }

    /// Old clients and servers sent and read `command` as a plain string, the lab's untyped client
    /// built its lines with `JSONSerialization` (sorted keys). Lines must be byte-identical both ways.
    func testWireFormatMatchesTheStringForm() throws {
        struct StringRequest: Codable, Equatable {
            var command: String
            var mibPerSecond: Double?
            var pagesPerSecond: Double?
            var page: Int?
            var byteOffset: Int?
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
        ]
        for (typed, string, line) in pairs {
            XCTAssertEqual(encodeLine(typed), line)
            XCTAssertEqual(encodeLine(string), line)
            XCTAssertEqual(try JSONDecoder().decode(ControlRequest.self, from: Data(line.utf8)), typed, line)
            XCTAssertEqual(try JSONDecoder().decode(StringRequest.self, from: Data(encodeLine(typed).utf8)), string, line)
        }
        // The untyped client's lines (JSONSerialization, sorted keys, numbers as Double).
        let untyped = try JSONSerialization.data(withJSONObject: ["command": "set-rate", "mibPerSecond": 2.0] as [String: Any],
                                                 options: [.sortedKeys])
        XCTAssertEqual(try JSONDecoder().decode(ControlRequest.self, from: untyped), ControlRequest(command: .setRate, mibPerSecond: 2))
        // Replies keep the command as the string the request carried.
        let handler = try makeHandler()
        let (text, _) = handler.reply(toLine: #"{"command":"reset-stall"}"#[...])
        XCTAssertEqual(text, #"{"command":"reset-stall","ok":true}"#)
    }

    func testStopIsAcknowledged() throws {
        let handler = try makeHandler()
        let (reply, stop) = try send(handler, #"{"command":"stop"}"#)
        XCTAssertTrue(reply.ok)
        XCTAssertTrue(stop)
    }
}
