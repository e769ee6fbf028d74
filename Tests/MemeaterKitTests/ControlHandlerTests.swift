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

    func testStopIsAcknowledged() throws {
        let handler = try makeHandler()
        let (reply, stop) = try send(handler, #"{"command":"stop"}"#)
        XCTAssertTrue(reply.ok)
        XCTAssertTrue(stop)
    }
}
