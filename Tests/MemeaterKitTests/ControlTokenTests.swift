import Foundation
import MemeaterKit
import XCTest

final class ControlTokenTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("control-token-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func testTokenTextIsChecked() throws {
        XCTAssertNoThrow(try ControlToken(String(repeating: "a", count: 16)))
        for (text, fragment) in [
            ("short", "5 characters, at least 16"),
            (String(repeating: "a", count: 1025), "at most 1024"),
            ("0123456789 abcdef", "printable ASCII without spaces"),
            ("0123456789abcdef\n", "printable ASCII without spaces"),
            ("0123456789abcdefé", "printable ASCII without spaces"),
        ] {
            XCTAssertThrowsError(try ControlToken(text), text) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(text): \(error)")
            }
        }
    }

    func testGeneratedTokensAreLongRandomHex() throws {
        let first = try ControlToken.generate()
        let second = try ControlToken.generate()
        XCTAssertEqual(first.text.count, 2 * ControlToken.generatedByteCount)
        XCTAssertTrue(first.text.allSatisfy { $0.isHexDigit && !$0.isUppercase }, first.text)
        XCTAssertNotEqual(first.text, second.text)
    }

    func testMatchesOnlyTheWholeToken() throws {
        let token = try ControlToken("0123456789abcdef0123456789abcdef")
        XCTAssertTrue(token.matches("0123456789abcdef0123456789abcdef"))
        for candidate in ["0123456789abcdef0123456789abcdeF", "1123456789abcdef0123456789abcdef", "0123456789abcdef",
                          "0123456789abcdef0123456789abcdef0", "", "0123456789abcdef0123456789abcde\u{0}"] {
            XCTAssertFalse(token.matches(candidate), candidate)
        }
    }

    func testDescriptionHidesTheSecret() throws {
        let token = try ControlToken("0123456789abcdef0123456789abcdef")
        XCTAssertFalse("\(token)".contains("0123456789abcdef"))
        XCTAssertEqual("\(token)", "control token (32 characters)")
    }

    func testAWrittenTokenReadsBackFromAPrivateFile() throws {
        let path = "\(directory)/token"
        let token = try ControlToken.generate()
        try token.write(toFile: path)
        let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        XCTAssertEqual(mode, 0o600)
        XCTAssertEqual(try ControlToken.read(fromFile: path).text, token.text)
        // Written over: the old secret is gone, the mode stays private.
        let next = try ControlToken.generate()
        try next.write(toFile: path)
        XCTAssertEqual(try ControlToken.read(fromFile: path).text, next.text)
    }

    func testATokenFileIsItsFirstLineWithoutTrailingSpace() throws {
        let path = "\(directory)/token"
        for contents in ["0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef\n",
                         "0123456789abcdef0123456789abcdef \r\nsecond line\n"] {
            try writePrivate(contents, to: path)
            XCTAssertEqual(try ControlToken.read(fromFile: path).text, "0123456789abcdef0123456789abcdef", contents.debugDescription)
        }
    }

    func testUnfitTokenFilesAreRefusedWithTheirPath() throws {
        let open = "\(directory)/readable-by-others"
        try writePrivate("0123456789abcdef0123456789abcdef\n", to: open)
        XCTAssertEqual(chmod(open, 0o644), 0)
        XCTAssertThrowsError(try ControlToken.read(fromFile: open)) { error in
            XCTAssertEqual(error as? MemeaterError, .tokenFileNotPrivate(path: open, mode: 0o100644))
            XCTAssertEqual("\(error)", "the token file \(open) can be read by others (mode 644): chmod 600 it")
        }
        let missing = "\(directory)/missing"
        XCTAssertThrowsError(try ControlToken.read(fromFile: missing)) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot read the token file \(missing): "), "\(error)")
        }
        XCTAssertEqual(chmod(directory, 0o700), 0)
        XCTAssertThrowsError(try ControlToken.read(fromFile: directory)) { error in
            XCTAssertEqual("\(error)", "cannot read the token file \(directory): not a regular file")
        }
        let short = "\(directory)/short"
        try writePrivate("secret\n", to: short)
        XCTAssertThrowsError(try ControlToken.read(fromFile: short)) { error in
            XCTAssertTrue("\(error)".contains("6 characters, at least 16"), "\(error)")
        }
    }

    private func writePrivate(_ text: String, to path: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]))
    }
}
