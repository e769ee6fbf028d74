import Foundation
import XCTest
@testable import Lab

/// Files that must never be half-written or trusted half-written: atomic replacement, and
/// the content hashes that decide whether a cached guest image is reused.
final class FileSafetyTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("lab-files-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The file gets the mode asked for, not the one the replaced file had: a file someone
    /// made world-writable does not stay so (issue 24, finding 4).
    func testAtomicWriteReplacesTheWholeFileWithTheModeAskedFor() throws {
        let path = "\(directory)/lab.json"
        try AtomicFile.write("first\n", to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "first\n")
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int, 0o644)
        chmod(path, 0o666)
        try AtomicFile.write("second, longer\n", to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "second, longer\n")
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int, 0o644, "not inherited")
        try AtomicFile.write("third\n", to: path, mode: 0o600)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int, 0o600)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["lab.json"], "no temporary file left")
    }

    /// A write that cannot happen leaves the previous file as it was (here: no directory to
    /// put the temporary file in; a full disk fails the same way, before the rename).
    func testAFailedWriteLeavesThePreviousFileAndATypedError() throws {
        XCTAssertThrowsError(try AtomicFile.write("x", to: "\(directory)/missing/lab.json")) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot write \(directory)/missing/lab.json: mkstemp: "), "\(error)")
        }
    }

    func testACachedImageIsReusedOnlyWithEveryHashIntact() throws {
        let kernel = "\(directory)/vmlinuz", initrd = "\(directory)/initrd.img"
        try Data(repeating: 7, count: 10_000).write(to: URL(fileURLWithPath: kernel))
        try Data(repeating: 9, count: 20_000).write(to: URL(fileURLWithPath: initrd))
        let files = [kernel, initrd]
        XCTAssertFalse(ImageManifest.isIntact(files, in: directory), "no manifest: not trusted")
        try ImageManifest.record(files, in: directory)
        XCTAssertTrue(ImageManifest.isIntact(files, in: directory))

        // Truncated, as an interrupted copy leaves it.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: initrd))
        try handle.truncate(atOffset: 12_345)
        try handle.close()
        XCTAssertFalse(ImageManifest.isIntact(files, in: directory))

        // Same size, one byte altered.
        try ImageManifest.record(files, in: directory)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: kernel))
        bytes[5_000] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: kernel))
        XCTAssertFalse(ImageManifest.isIntact(files, in: directory))

        // Missing file, invalidated manifest.
        try ImageManifest.record(files, in: directory)
        ImageManifest.invalidate(in: directory)
        XCTAssertFalse(ImageManifest.isIntact(files, in: directory))
        try ImageManifest.record(files, in: directory)
        try FileManager.default.removeItem(atPath: kernel)
        XCTAssertFalse(ImageManifest.isIntact(files, in: directory))
    }

    func testManifestTextIsSha256sumFormat() throws {
        let hash = String(repeating: "ab", count: 32)
        let manifest = try XCTUnwrap(ImageManifest(sha256sumOutput: "\(hash)  /c/images/x/vmlinuz\n\(hash) *initrd.img\n"))
        XCTAssertEqual(manifest.digests, ["vmlinuz": hash, "initrd.img": hash])
        XCTAssertEqual(manifest.text, "\(hash)  initrd.img\n\(hash)  vmlinuz\n")
        XCTAssertNil(ImageManifest(sha256sumOutput: "nothash  file\n"))
        XCTAssertNil(ImageManifest(sha256sumOutput: ""))
    }
}
