import ArgumentParser
import Foundation
@testable import PingMonitor
@testable import PingMonitorCLI
import XCTest

/// `--save-capture`: never through a symbolic link, and the previous file stays whole until
/// the run has a capture to put in its place.
final class SaveCaptureTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pingmon-save-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
        Synthetic.removeWrittenFiles()
    }

    /// A symbolic link as --save-capture is a one-line usage error (exit 64) before anything
    /// runs, and the file it points to is left untouched.
    func testASymbolicLinkIsRefusedAndItsTargetLeftAlone() throws {
        let target = "\(directory)/precious.txt"
        try "precious\n".write(toFile: target, atomically: true, encoding: .utf8)
        let link = "\(directory)/capture.pcap"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        do {
            _ = try PingMon.parseAsRoot(["--target", "198.18.13.2", "--save-capture", link])
            XCTFail("a symbolic link was accepted")
        } catch {
            let message = PingMon.message(for: error)
            XCTAssertEqual(PingMon.exitCode(for: error).rawValue, 64, message)
            XCTAssertFalse(message.contains("\n"), message)
            XCTAssertTrue(message.contains("--save-capture: cannot write capture file \(link): it is a symbolic link"), message)
        }
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "precious\n")
        // The library refuses it too, for any other caller.
        let session = try CaptureSession(file: try Synthetic.write(Synthetic.pcapFile(SyntheticStream(count: 2).records), name: "in.pcap"))
        XCTAssertThrowsError(try session.openWriter(path: link))
        XCTAssertThrowsError(try session.openWriter(path: directory))
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "precious\n")
    }

    /// The previous capture is replaced only by close(); a writer dropped without close()
    /// (the run failed) leaves it, and no partial file behind.
    func testThePreviousCaptureStaysUntilTheNewOneIsComplete() throws {
        let input = try Synthetic.write(Synthetic.pcapFile(SyntheticStream(count: 5).records), name: "source.pcap")
        let path = "\(directory)/capture.pcap"
        try "previous\n".write(toFile: path, atomically: true, encoding: .utf8)

        do {
            let session = try CaptureSession(file: input)
            let writer = try session.openWriter(path: path)
            if case .packet(let packet) = try session.next() { writer.write(packet) }
            XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "previous\n", "not truncated while running")
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "previous\n", "an unfinished run keeps the previous file")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["capture.pcap"], "no partial file left")

        let session = try CaptureSession(file: input)
        let writer = try session.openWriter(path: path)
        var written = 0
        while case .packet(let packet) = try session.next() {
            writer.write(packet)
            written += 1
        }
        try writer.close()
        XCTAssertEqual(written, 10)
        let report = try CaptureFileAnalysis.analyze(path: path, target: Synthetic.target)
        XCTAssertEqual(report.packetsCaptured, 10)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int, 0o644)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["capture.pcap"])
    }
}
