import Foundation
import XCTest
@testable import PingMonitor

/// What the `pingmon analyze` fuzzer (fuzz/pingmon-analyze) found, kept: each crashing input
/// as it was found (Fixtures/fuzz-crashes), the same defect built on purpose from a
/// synthetic capture, and crafted timestamps. Every one is a report or a typed error, never a trap.
final class FuzzRegressionTests: XCTestCase {
    override class func tearDown() {
        Synthetic.removeWrittenFiles()
        super.tearDown()
    }

    /// The inputs libFuzzer saved, analysed as the harness does (both option sets).
    func testTheFuzzersCrashingInputsAreAnalysedWithoutATrap() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz-crashes")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".pcap") }.sorted()
        XCTAssertEqual(files.count, 4, "\(files)")
        for file in files {
            for options in [OfflineAnalysisOptions(), OfflineAnalysisOptions(intervalMicroseconds: 1_000, gapThresholdMilliseconds: 0)] {
                let report = try CaptureFileAnalysis.analyze(path: directory.appendingPathComponent(file).path, target: .v4(Synthetic.target), options: options)
                XCTAssertTrue(report.analysis.downtimeMilliseconds.isFinite, file)
                XCTAssertNoThrow(try JSONEncoder().encode(report), file)
            }
        }
    }

    /// A probe of sequence UInt64.max was taken for the analyzer's "no more requests" mark
    /// (an index out of range).
    func testAProbeOfTheLargestSequenceIsNotTakenForTheEndOfTheList() throws {
        var records = SyntheticStream(count: 10).records
        records.append((records[records.count - 1].timeNanoseconds + 1_000_000, Synthetic.echoFrame(request: true, sequence: UInt64.max)))
        let analysis = try analyze(records, name: "sequence-max.pcap")
        XCTAssertEqual(analysis.received, 10)
        XCTAssertEqual(analysis.sent, Int.max, "the count saturates")
    }

    /// A hole of nearly 2^64 sequences made the lost and missing counts overflow when one
    /// more probe was counted after it.
    func testAHugeSequenceHoleSaturatesTheCounts() throws {
        var records = SyntheticStream(count: 10).records
        let last = records[records.count - 1].timeNanoseconds
        records.append((last + 1_000_000, Synthetic.echoFrame(request: true, sequence: 0xFF00_0000_0000_000C)))
        records.append((last + 2_000_000, Synthetic.echoFrame(request: true, sequence: 0xFF00_0000_0000_000D)))
        let analysis = try analyze(records, name: "hole.pcap")
        XCTAssertEqual(analysis.lost, Int.max)
        XCTAssertEqual(analysis.requestsMissingFromCapture, Int.max)
    }

    /// A reply far ahead in sequence made both bounds of its gap Int64.max, and their sum overflowed.
    func testGapBoundsClampedToTheLargestTimeStillGiveADowntime() throws {
        var records = SyntheticStream(count: 10).records
        let last = records[records.count - 1].timeNanoseconds
        records.append((last + 1_000_000, Synthetic.echoFrame(request: false, sequence: 0x0400_0000_0000_000E)))
        let analysis = try analyze(records, name: "bounds.pcap")
        XCTAssertTrue(analysis.downtimeMilliseconds.isFinite)
        XCTAssertTrue(analysis.downtimeUpperBoundMilliseconds.isFinite)
        XCTAssertLessThanOrEqual(analysis.downtimeLowerBoundMilliseconds, analysis.downtimeUpperBoundMilliseconds)
    }

    /// A payload interval no pingmon sends (over a second) is not taken as the nominal interval.
    func testAnImplausiblePayloadIntervalIsIgnored() throws {
        let stream = SyntheticStream(count: 10)
        let records = stream.events.map { event in
            (event.timeNanoseconds, Synthetic.echoFrame(request: event.kind == .request, sequence: event.sequence, intervalMicroseconds: 4_244_634_647))
        }
        let analysis = try analyze(records, name: "interval.pcap")
        XCTAssertEqual(analysis.intervalSource, "measured")
        XCTAssertEqual(analysis.intervalMicroseconds, 1_000)
    }

    /// Capture times are accepted from 1970 to 2100 only, so that no sum or difference of
    /// two can overflow.
    func testPacketTimesOutside1970To2100AreRejected() {
        XCTAssertEqual(CaptureSession.nanoseconds(seconds: 1, subsecond: 2, scale: 1_000), 1_000_002_000)
        XCTAssertEqual(CaptureSession.nanoseconds(seconds: CaptureSession.latestTimestampSeconds, subsecond: 999_999_999, scale: 1),
                       CaptureSession.latestTimestampSeconds * 1_000_000_000 + 999_999_999)
        XCTAssertNil(CaptureSession.nanoseconds(seconds: -1, subsecond: 0, scale: 1))
        XCTAssertNil(CaptureSession.nanoseconds(seconds: CaptureSession.latestTimestampSeconds + 1, subsecond: 0, scale: 1))
        XCTAssertNil(CaptureSession.nanoseconds(seconds: 0, subsecond: 1_000_000_000, scale: 1))
        XCTAssertNil(CaptureSession.nanoseconds(seconds: 0, subsecond: 1_000_000, scale: 1_000))
        XCTAssertNil(CaptureSession.nanoseconds(seconds: 0, subsecond: -1, scale: 1))
        XCTAssertNil(CaptureSession.nanoseconds(seconds: Int64.max, subsecond: Int64.max, scale: 1_000))
    }

    /// A classic pcap record dated 2106 is a typed error naming the packet.
    func testAPcapRecordBeyond2100IsATypedError() throws {
        var records = SyntheticStream(count: 5).records
        records.append((Int64(UInt32.max) * 1_000_000_000, Synthetic.echoFrame(request: true, sequence: 5)))
        let path = try Synthetic.write(Synthetic.pcapFile(records), name: "2106.pcap")
        assertTimestampError(path, packetsRead: 10)
    }

    /// A pcapng interface whose if_tsoffset moves every time past 2100 (libpcap adds it to
    /// the seconds) is a typed error, not wrapped arithmetic.
    func testAPcapngTimeOffsetBeyond2100IsATypedError() throws {
        let frames = SyntheticStream(count: 3).records
        let path = try Synthetic.write(Self.pcapng(frames, offsetSeconds: 1 << 40), name: "offset.pcapng")
        assertTimestampError(path, packetsRead: 0)
        let negative = try Synthetic.write(Self.pcapng(frames, offsetSeconds: -(1 << 40)), name: "negative-offset.pcapng")
        assertTimestampError(negative, packetsRead: 0)
    }

    private func assertTimestampError(_ path: String, packetsRead expected: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try CaptureFileAnalysis.analyze(path: path, target: .v4(Synthetic.target)), file: file, line: line) { error in
            guard case PingMonitorError.captureFileReadFailed(_, let packetsRead, let message) = error else {
                return XCTFail("unexpected \(error)", file: file, line: line)
            }
            XCTAssertEqual(packetsRead, expected, file: file, line: line)
            XCTAssertTrue(message.contains("outside 1970 to 2100"), message, file: file, line: line)
        }
    }

    private func analyze(_ records: [(timeNanoseconds: Int64, frame: [UInt8])], name: String) throws -> PingAnalysis {
        let path = try Synthetic.write(Synthetic.pcapFile(records), name: name)
        let report = try CaptureFileAnalysis.analyze(path: path, target: .v4(Synthetic.target))
        XCTAssertNoThrow(try JSONEncoder().encode(report))
        return report.analysis
    }

    /// A little-endian pcapng file: section header, one Ethernet interface with nanosecond
    /// resolution and `if_tsoffset` (option 14), and one enhanced packet block per frame
    /// (times written relative to the offset, as the format says).
    static func pcapng(_ records: [(timeNanoseconds: Int64, frame: [UInt8])], offsetSeconds: Int64) -> [UInt8] {
        func block(_ type: UInt32, _ body: [UInt8]) -> [UInt8] {
            let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
            let length = UInt32(12 + padded.count)
            return Synthetic.le32(type) + Synthetic.le32(length) + padded + Synthetic.le32(length)
        }
        func le64(_ value: UInt64) -> [UInt8] { Synthetic.le32(UInt32(truncatingIfNeeded: value)) + Synthetic.le32(UInt32(truncatingIfNeeded: value >> 32)) }
        var file = block(0x0A0D_0D0A, Synthetic.le32(0x1A2B_3C4D) + Synthetic.le16(1) + Synthetic.le16(0) + le64(UInt64.max))
        let options = Synthetic.le16(9) + Synthetic.le16(1) + [9, 0, 0, 0]  // if_tsresol: 10^-9
            + Synthetic.le16(14) + Synthetic.le16(8) + le64(UInt64(bitPattern: offsetSeconds))
            + Synthetic.le16(0) + Synthetic.le16(0)
        file += block(1, Synthetic.le16(1) + Synthetic.le16(0) + Synthetic.le32(262_144) + options)
        for (time, frame) in records {
            let units = UInt64(time % 1_000_000_000_000)  // small, whatever the offset: it decides
            file += block(6, Synthetic.le32(0) + Synthetic.le32(UInt32(units >> 32)) + Synthetic.le32(UInt32(truncatingIfNeeded: units))
                          + Synthetic.le32(UInt32(frame.count)) + Synthetic.le32(UInt32(frame.count)) + frame)
        }
        return file
    }
}
