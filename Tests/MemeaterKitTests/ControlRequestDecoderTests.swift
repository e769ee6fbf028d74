import Foundation
import MemeaterKit
import XCTest

/// The request decoder and the line framer on their own, without a socket.
final class ControlRequestDecoderTests: XCTestCase {
    private let limits = ControlRequestLimits(pageCount: 1024, pageSizeBytes: 4096, bytesPerWrite: 4096)

    /// Whatever the clients send (``encodeLine(_:)`` of a ``ControlRequest``) reads back as sent.
    func testEveryRequestTheClientsEncodeIsDecodedAsSent() throws {
        let token = "0123456789abcdef0123456789abcdef"
        var requests = ControlCommand.allCases.filter { $0.fields.isEmpty }.map { ControlRequest(command: $0) }
        requests += [ControlRequest(command: .setRate, mibPerSecond: 2.5), ControlRequest(command: .setRate, mibPerSecond: 0),
                     ControlRequest(command: .setRate, pagesPerSecond: 100), ControlRequest(command: .setRate, pagesPerSecond: 1024),
                     ControlRequest(command: .corruptPage, page: 77, byteOffset: 40), ControlRequest(command: .corruptPage, page: 0),
                     ControlRequest(command: .auth, token: token)]
        for request in requests {
            let line = encodeLine(request)
            XCTAssertEqual(try ControlRequest.decode(line: line[...], limits: limits), request, line)
        }
    }

    func testEscapesAndWhitespaceAreJSONs() throws {
        XCTAssertEqual(try ControlRequest.decode(line: "\t{ \"command\" :\r\"st\\u006fp\" }  ", limits: limits), ControlRequest(command: .stop))
        XCTAssertEqual(try ControlRequest.decode(line: #"{"command":"set-rate","pagesPerSecond":1E+2}"#, limits: limits),
                       ControlRequest(command: .setRate, pagesPerSecond: 100))
        XCTAssertThrowsError(try ControlRequest.decode(line: #"{"command":"\ud83d\ude00\/\"\\\b\f\n\r\t"}"#, limits: limits)) { error in
            XCTAssertEqual(error as? ControlRequestError, .unknownCommand(#"😀/"\\u{8}\u{C}\n\r\t"#))
        }
        for (line, reason) in [(#"{"command":"\x"}"#, "an invalid escape at byte 14"), (#"{"command":"\u12"}"#, #"a \u escape needs four hex digits at byte 17"#),
                               (#"{"command":"\udc00"}"#, #"a lone surrogate in a \u escape at byte 19"#), (#"{"command":01}"#, "expected , or } after the value of command at byte 13"),
                               (#"{"command":1.}"#, "expected a digit after the decimal point at byte 14"), (#"{"command":tru}"#, "expected a value at byte 12"),
                               ("", "an empty line at the end of the line"), (#"{"command""#, "expected : after \"command\" at the end of the line")] {
            XCTAssertThrowsError(try ControlRequest.decode(line: line[...], limits: limits), line) { error in
                XCTAssertEqual(error as? ControlRequestError, .malformed(reason), line)
            }
        }
    }

    func testTheFramerSplitsLinesAndBoundsThem() {
        var framer = ControlLineFramer(maximumLineBytes: 16)
        framer.append(Array("{\"a\":1}\r\n\n  \r\n{\"b\"".utf8))
        XCTAssertEqual(framer.next(), .line(#"{"a":1}"#))
        XCTAssertEqual(framer.next(), .needMore, "blank lines are skipped")
        XCTAssertTrue(framer.hasUnterminatedRequest)
        framer.append(Array(":2}\n".utf8))
        XCTAssertEqual(framer.next(), .line(#"{"b":2}"#))
        XCTAssertFalse(framer.hasUnterminatedRequest)
        framer.append(Array(" \t\r".utf8))
        XCTAssertFalse(framer.hasUnterminatedRequest, "blanks are no request")

        var exact = ControlLineFramer(maximumLineBytes: 16)
        exact.append(Array((String(repeating: "x", count: 16) + "\n").utf8))
        XCTAssertEqual(exact.next(), .line(String(repeating: "x", count: 16)[...]), "a line of exactly the limit is read")
        exact.append(Array((String(repeating: "y", count: 17) + "\n").utf8))
        XCTAssertEqual(exact.next(), .tooLong, "one byte more is not, newline or not")
        var unending = ControlLineFramer(maximumLineBytes: 16)
        unending.append(Array(String(repeating: "z", count: 16).utf8))
        XCTAssertEqual(unending.next(), .needMore)
        unending.append([UInt8(ascii: "z")])
        XCTAssertEqual(unending.next(), .tooLong, "known too long before the newline comes")
        XCTAssertEqual(ControlLineFramer.maximumLineBytes, 65_536)
    }

    /// Many lines in one read come out in order, the partial one after them kept whole; the
    /// lines taken are dropped in bulk (moving the rest for each line made this quadratic).
    func testManyLinesInOneReadComeOutInOrder() {
        var framer = ControlLineFramer()
        framer.append(Array((0..<20_000).map { "\($0)\n" }.joined().utf8) + Array("{\"par".utf8))
        for number in 0..<20_000 {
            guard case .line(let line) = framer.next(), line == "\(number)" else { return XCTFail("line \(number)") }
        }
        XCTAssertEqual(framer.next(), .needMore)
        XCTAssertEqual(Array(framer.pending), Array("{\"par".utf8))
        framer.append(Array("tial\":1}\n".utf8))
        XCTAssertEqual(framer.next(), .line(#"{"partial":1}"#))
        XCTAssertFalse(framer.hasUnterminatedRequest)
    }
}
