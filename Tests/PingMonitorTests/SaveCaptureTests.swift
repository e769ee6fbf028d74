import ArgumentParser
import CPcap
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
        let link = "\(directory)/capture.pcapng"
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
        let path = "\(directory)/capture.pcapng"
        try "previous\n".write(toFile: path, atomically: true, encoding: .utf8)

        do {
            let session = try CaptureSession(file: input)
            let writer = try session.openWriter(path: path)
            if case .packet(let packet) = try session.next() { writer.write(packet) }
            XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "previous\n", "not truncated while running")
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "previous\n", "an unfinished run keeps the previous file")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["capture.pcapng"], "no partial file left")

        let session = try CaptureSession(file: input)
        let writer = try session.openWriter(path: path)
        var written = 0
        while case .packet(let packet) = try session.next() {
            writer.write(packet)
            written += 1
        }
        try writer.close()
        XCTAssertEqual(written, 10)
        let report = try CaptureFileAnalysis.analyze(path: path, target: .v4(Synthetic.target))
        XCTAssertEqual(report.packetsCaptured, 10)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int, 0o644)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["capture.pcapng"])
    }

    /// Copies every packet of `input` through the save path, as a live run does.
    private func save(_ input: String, to path: String) throws {
        let session = try CaptureSession(file: input)
        let writer = try session.openWriter(path: path)
        while case .packet(let packet) = try session.next() { writer.write(packet) }
        try writer.close()
    }

    /// The saved capture is pcapng, and libpcap reads from it exactly the packets (bytes,
    /// original lengths, nanoseconds) and the link type and snapshot length of the source.
    func testTheSavedCaptureIsPcapngWithEveryPacketUnchanged() throws {
        var stream = SyntheticStream(count: 300, lost: Set(100...139))
        stream.start += 987  // nanoseconds that a microsecond file would lose
        var records = stream.records
        records.append((stream.start + 120 * 1_000_000 + 1, Synthetic.qemuRARP()))
        records.sort { $0.timeNanoseconds < $1.timeNanoseconds }
        let input = try Synthetic.write(Synthetic.pcapFile(records, snapshotLength: 70), name: "save-source.pcap")
        let path = "\(directory)/run.pcapng"
        try save(input, to: path)

        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(Array(bytes.prefix(4)), [0x0A, 0x0D, 0x0D, 0x0A], "a pcapng section header")
        let layout = try PcapngLayout(bytes: bytes)
        XCTAssertEqual(layout.interfaceOptions[9], [9], "nanosecond timestamps")
        XCTAssertEqual(layout.blocks.count, 2 + records.count)
        let original = try LibpcapFile.read(input)
        let saved = try LibpcapFile.read(path)
        XCTAssertEqual(saved.dataLinkType, DLT_EN10MB)
        XCTAssertEqual(saved.snapshotLength, 70)
        XCTAssertEqual(saved.packets.count, records.count)
        XCTAssertEqual(saved.packets, original.packets)
        XCTAssertTrue(saved.packets.contains { $0.originalLength > $0.bytes.count }, "cut packets keep their original length")

        let fromPcap = try CaptureFileAnalysis.analyze(path: input, target: .v4(Synthetic.target))
        let fromPcapng = try CaptureFileAnalysis.analyze(path: path, target: .v4(Synthetic.target))
        XCTAssertEqual(fromPcapng.analysis, fromPcap.analysis)
        XCTAssertEqual(fromPcapng.timestampPrecision, .nano)
        XCTAssertEqual(fromPcapng.analysis.lost, 40)
    }

    /// Raw IP captures: libpcap's DLT_RAW (12 on Linux) is stored as LINKTYPE_RAW (101), as
    /// pcap_dump does; written as 12 it would read back as another link type.
    func testARawIPCaptureIsSavedAsLinktypeRaw() throws {
        let stream = SyntheticStream(count: 50, lost: [10])
        let records = stream.records.map { ($0.timeNanoseconds, Array($0.frame.dropFirst(14))) }
        let input = try Synthetic.write(Synthetic.pcapFile(records, linkType: 101), name: "raw.pcap")
        let path = "\(directory)/raw.pcapng"
        try save(input, to: path)
        let layout = try PcapngLayout(bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        XCTAssertEqual(Array(layout.blocks[1].body.prefix(2)), [101, 0])
        XCTAssertEqual(try LibpcapFile.read(path).dataLinkType, DLT_RAW)
        let report = try CaptureFileAnalysis.analyze(path: path, target: .v4(Synthetic.target))
        XCTAssertEqual(report.linkLayer, .rawIP)
        XCTAssertEqual(report.analysis, try CaptureFileAnalysis.analyze(path: input, target: .v4(Synthetic.target)).analysis)
        XCTAssertEqual(report.analysis.lost, 1)
    }

    /// A microsecond capture is saved with microsecond units (if_tsresol 6), not padded out
    /// to nanoseconds it never had.
    func testAMicrosecondCaptureIsSavedInMicroseconds() throws {
        let stream = SyntheticStream(count: 40, lost: [5])
        let input = try Synthetic.write(Synthetic.pcapFile(stream.records, nanosecond: false), name: "us-source.pcap")
        let path = "\(directory)/us.pcapng"
        try save(input, to: path)
        let layout = try PcapngLayout(bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        XCTAssertEqual(layout.interfaceOptions[9], [6])
        XCTAssertEqual(try LibpcapFile.read(path).packets, try LibpcapFile.read(input).packets)
    }

    /// A write that fails (here: the disk is full) is reported by close(), naming the file,
    /// and leaves no file behind.
    func testAFailedWriteIsReportedByCloseAndLeavesNothing() throws {
        let writer = try CaptureFileWriter(path: "\(directory)/full.pcapng",
                                           interface: PcapngInterface(linkType: 1, snapshotLength: 100, resolution: .nano))
        // Swap the temporary file for /dev/full under the writer: every flush now fails.
        let full = open("/dev/full", O_WRONLY)
        XCTAssertGreaterThanOrEqual(full, 0)
        defer { close(full) }
        let descriptor = try XCTUnwrap(openDescriptors(of: writer.temporaryPath).first)
        XCTAssertEqual(dup2(full, descriptor), descriptor)
        for index in 0..<200 {
            [UInt8](repeating: 7, count: 100).withUnsafeBytes { writer.write(timeNanoseconds: Int64(index), bytes: $0, originalLength: 100) }
        }
        XCTAssertThrowsError(try writer.close()) { error in
            guard case PingMonitorError.captureFileWriteFailed(let path, let message) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "\(self.directory)/full.pcapng")
            XCTAssertTrue(message.contains("No space left on device"), message)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), [], "neither the capture nor its temporary file")
    }

    /// This process's descriptors open on `path`.
    private func openDescriptors(of path: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.compactMap { Int32($0) }.filter { descriptor in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(descriptor)")) == path
        }
    }
}
