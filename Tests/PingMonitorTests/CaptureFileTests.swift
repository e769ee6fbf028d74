import XCTest
@testable import PingMonitor

/// Offline analysis of synthetic pcap files through the real libpcap reader, and of broken files.
final class CaptureFileTests: XCTestCase {
    override class func tearDown() {
        Synthetic.removeWrittenFiles()
        super.tearDown()
    }

    private let millisecond: Int64 = 1_000_000

    func testNanosecondFileGivesExactFigures() throws {
        var stream = SyntheticStream(count: 2_000, lost: Set(500...699))
        stream.start += 123  // a timestamp that only nanosecond resolution keeps
        var records = stream.records
        records.append((stream.start + 650 * millisecond, Synthetic.qemuRARP()))
        records.append((stream.start + 651 * millisecond, Synthetic.gratuitousARP()))
        records.sort { $0.timeNanoseconds < $1.timeNanoseconds }
        let path = try Synthetic.write(Synthetic.pcapFile(records), name: "outage-ns.pcap")

        let report = try CaptureFileAnalysis.analyze(path: path, target: .v4(Synthetic.target))
        let result = report.analysis
        XCTAssertEqual(report.timestampPrecision, .nano)
        XCTAssertEqual(report.linkLayer, .ethernet)
        XCTAssertEqual(report.icmpIdentifier, Synthetic.identifier)
        XCTAssertEqual(report.packetsCaptured, records.count)
        XCTAssertEqual(result.startEpochNanoseconds, stream.start)
        XCTAssertEqual(result.sent, 2_000)
        XCTAssertEqual(result.received, 1_800)
        XCTAssertEqual(result.lost, 200)
        XCTAssertEqual(result.longestGapMilliseconds, 201)
        XCTAssertEqual(result.downtimeMilliseconds, 200)
        XCTAssertEqual(result.downtimeLowerBoundMilliseconds, 199)
        XCTAssertEqual(result.downtimeUpperBoundMilliseconds, 201)
        XCTAssertEqual(result.intervalMicroseconds, 1_000)
        XCTAssertEqual(result.intervalSource, "payload")
        XCTAssertEqual(result.announceFrames.map(\.kind), [.rarp, .gratuitousARP])
        XCTAssertEqual(result.announceFrames.first?.offsetMilliseconds, 650)
        XCTAssertEqual(result.repliesResumedAfterFirstAnnounceMilliseconds, 50.05)
        // The same log analysed directly gives the same figures: the file path loses nothing.
        var direct = stream.log
        direct.announces = [
            AnnounceFrame(kind: .rarp, timeNanoseconds: stream.start + 650 * millisecond, sourceMAC: Synthetic.targetMAC),
            AnnounceFrame(kind: .gratuitousARP, timeNanoseconds: stream.start + 651 * millisecond, sourceMAC: Synthetic.targetMAC),
        ]
        XCTAssertEqual(result, PingAnalyzer.analyze(direct))
    }

    func testMicrosecondFileIsReportedAsMicrosecond() throws {
        let stream = SyntheticStream(count: 100, lost: [50])
        let path = try Synthetic.write(Synthetic.pcapFile(stream.records, nanosecond: false), name: "us.pcap")
        let report = try CaptureFileAnalysis.analyze(path: path, target: .v4(Synthetic.target))
        XCTAssertEqual(report.timestampPrecision, .micro)
        XCTAssertEqual(report.analysis.lost, 1)
        XCTAssertEqual(report.analysis.longestGapMilliseconds, 2)
        XCTAssertEqual(report.analysis.downtimeMilliseconds, 1, "midpoint of 0 and 2 ms")
        XCTAssertTrue(report.timestampSource.contains("microsecond"), report.timestampSource)
    }

    func testShortSnapshotStillCountsProbes() throws {
        // 60 bytes keep the ICMP header but only 18 payload bytes: the 64-bit sequence survives.
        let stream = SyntheticStream(count: 300, lost: Set(10...19))
        let path = try Synthetic.write(Synthetic.pcapFile(stream.records, snapshotLength: 60), name: "short.pcap")
        let result = try CaptureFileAnalysis.analyze(path: path, target: .v4(Synthetic.target)).analysis
        XCTAssertEqual(result.sent, 300)
        XCTAssertEqual(result.lost, 10)
    }

    func testOtherTargetGivesNothing() throws {
        let stream = SyntheticStream(count: 10)
        let path = try Synthetic.write(Synthetic.pcapFile(stream.records), name: "other.pcap")
        let report = try CaptureFileAnalysis.analyze(path: path, target: .v4(IPv4Address(198, 18, 13, 9)))
        XCTAssertEqual(report.analysis.sent, 0)
        XCTAssertEqual(report.packetsIgnored, 20)
        XCTAssertEqual(report.warnings, ["no ICMP echo request to 198.18.13.9 in \(path)"])
    }

    func testTruncatedFileIsATypedError() throws {
        let whole = Synthetic.pcapFile(SyntheticStream(count: 50).records)
        let path = try Synthetic.write(Array(whole.dropLast(30)), name: "truncated.pcap")
        XCTAssertThrowsError(try CaptureFileAnalysis.analyze(path: path, target: .v4(Synthetic.target))) { error in
            guard case PingMonitorError.captureFileReadFailed(let failedPath, let packetsRead, let message) = error else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual(failedPath, path)
            XCTAssertEqual(packetsRead, 99)
            XCTAssertTrue(message.contains("truncated"), message)
        }
    }

    func testGarbageEmptyAndMissingFilesAreTypedErrors() throws {
        var generator = SplitMix(seed: 11)
        let garbage = try Synthetic.write((0..<4_096).map { _ in UInt8.random(in: 0...255, using: &generator) }, name: "garbage.pcap")
        let empty = try Synthetic.write([], name: "empty.pcap")
        let headerOnly = try Synthetic.write(Array(Synthetic.pcapFile([]).prefix(10)), name: "header.pcap")
        for path in [garbage, empty, headerOnly, "/nonexistent/pingmon/missing.pcap"] {
            XCTAssertThrowsError(try CaptureFileAnalysis.analyze(path: path, target: .v4(Synthetic.target)), path) { error in
                guard case PingMonitorError.captureFileOpenFailed(let failedPath, let message) = error else {
                    return XCTFail("unexpected error \(error) for \(path)")
                }
                XCTAssertEqual(failedPath, path)
                XCTAssertFalse(message.isEmpty)
                XCTAssertFalse((error as? PingMonitorError)?.description.contains("\n") ?? true, "one line")
            }
        }
    }

    func testReportJSONHasTheContractKeys() throws {
        let stream = SyntheticStream(count: 100, lost: [50])
        let path = try Synthetic.write(Synthetic.pcapFile(stream.records), name: "contract.pcap")
        let report = try CaptureFileAnalysis.analyze(path: path, target: .v4(Synthetic.target))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(report)
        XCTAssertFalse(String(decoding: data, as: UTF8.self).contains("\n"), "one line")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        for key in ["sent", "received", "lost", "downtimeMilliseconds", "downtimeLowerBoundMilliseconds", "downtimeUpperBoundMilliseconds",
                    "longestGapMilliseconds", "intervalMicroseconds", "timestampPrecision", "announceFrames", "repliesResumedAfterFirstAnnounceMilliseconds",
                    "sender", "capture"] {
            XCTAssertNotNil(object[key], "missing key \(key)")
        }
        XCTAssertEqual(object["timestampPrecision"] as? String, "nano")
        let summary = try JSONDecoder().decode(PingResultSummary.self, from: data)
        XCTAssertEqual(summary.sent, 100)
        XCTAssertEqual(summary.lost, 1)
        XCTAssertEqual(summary.downtimeMilliseconds, 1)
        XCTAssertEqual(summary.longestGapMilliseconds, 2)
        XCTAssertEqual(summary.timestampPrecision, .nano)
    }

    /// The same packets in a pcap and in a pcapng file (built here byte by byte, independently
    /// of pingmon's writer) give the same figures, at nanosecond and at microsecond resolution.
    func testPcapAndPcapngOfTheSamePacketsGiveTheSameFigures() throws {
        var stream = SyntheticStream(count: 1_000, lost: Set(300...379).union([700]))
        stream.start += 321
        var records = stream.records
        records.append((stream.start + 330 * millisecond + 5, Synthetic.qemuRARP()))
        records.append((stream.start + 331 * millisecond + 7, Synthetic.gratuitousARP()))
        records.sort { $0.timeNanoseconds < $1.timeNanoseconds }
        let nanoPcap = try CaptureFileAnalysis.analyze(path: try Synthetic.write(Synthetic.pcapFile(records), name: "same.pcap"),
                                                       target: .v4(Synthetic.target))
        let nanoPcapng = try CaptureFileAnalysis.analyze(path: try Synthetic.write(Synthetic.pcapngFile(records), name: "same.pcapng"),
                                                         target: .v4(Synthetic.target))
        XCTAssertEqual(nanoPcapng.analysis, nanoPcap.analysis)
        XCTAssertEqual(nanoPcapng.packetsCaptured, records.count)
        XCTAssertEqual(nanoPcapng.icmpIdentifier, nanoPcap.icmpIdentifier)
        XCTAssertEqual(nanoPcapng.timestampPrecision, .nano)
        XCTAssertEqual(nanoPcapng.analysis.lost, 81)

        let microPcap = try CaptureFileAnalysis.analyze(
            path: try Synthetic.write(Synthetic.pcapFile(records, nanosecond: false), name: "same-us.pcap"), target: .v4(Synthetic.target))
        for tsresol in [6, nil] as [UInt8?] {
            let microPcapng = try CaptureFileAnalysis.analyze(
                path: try Synthetic.write(Synthetic.pcapngFile(records, tsresol: tsresol), name: "same-us-\(tsresol ?? 0).pcapng"),
                target: .v4(Synthetic.target))
            XCTAssertEqual(microPcapng.analysis, microPcap.analysis, "if_tsresol \(tsresol.map(String.init) ?? "absent")")
            XCTAssertEqual(microPcapng.timestampPrecision, .micro)
        }
        XCTAssertNotEqual(microPcap.analysis, nanoPcap.analysis, "the resolutions differ, so the comparison above can fail")
    }

    /// A pcapng file's precision is its first interface's if_tsresol, said as such in the
    /// summary (it once read "unknownsecond precision").
    func testPcapngPrecisionIsReadFromItsInterface() throws {
        let records = SyntheticStream(count: 20).records
        for (tsresol, expected, phrase) in [(UInt8(9), TimestampPrecision.nano, "timestamps of nanosecond precision"),
                                            (6, .micro, "timestamps of microsecond precision"),
                                            (3, .unknown, "neither micro- nor nanoseconds")] {
            let path = try Synthetic.write(Synthetic.pcapngFile(records, tsresol: tsresol), name: "resolution-\(tsresol).pcapng")
            let report = try CaptureFileAnalysis.analyze(path: path, target: .v4(Synthetic.target))
            XCTAssertEqual(report.timestampPrecision, expected, "if_tsresol \(tsresol)")
            XCTAssertTrue(report.humanSummary.contains(phrase), report.humanSummary)
            XCTAssertFalse(report.humanSummary.contains("unknownsecond"), report.humanSummary)
            XCTAssertTrue(report.timestampSource.contains("pcapng"), report.timestampSource)
        }
        let pcap = try CaptureFileAnalysis.analyze(path: try Synthetic.write(Synthetic.pcapFile(records), name: "resolution.pcap"),
                                                   target: .v4(Synthetic.target))
        XCTAssertTrue(pcap.timestampSource.hasSuffix("(pcap, nanosecond resolution)"), pcap.timestampSource)
    }

    /// The pcapng prefix reader takes big-endian sections, skips blocks before the interface,
    /// and gives `.unknown` (never a trap) for damaged or cut prefixes.
    func testPcapngPrecisionOfOddAndDamagedPrefixes() throws {
        func be32(_ value: UInt32) -> [UInt8] { Synthetic.be32(value) }
        let section = be32(0x0A0D_0D0A) + be32(28) + be32(0x1A2B_3C4D) + [0, 1, 0, 0] + [UInt8](repeating: 0xFF, count: 8) + be32(28)
        let other = be32(0x0000_0BAD) + be32(16) + [1, 2, 3, 4] + be32(16)  // a custom block to skip
        let interface = be32(1) + be32(32) + [0, 1, 0, 0] + be32(65_535) + [0, 9, 0, 1, 9, 0, 0, 0] + [0, 0, 0, 0] + be32(32)
        XCTAssertEqual(CaptureSession.pcapngPrecision(section + other + interface), .nano)
        let whole = Synthetic.pcapngFile(SyntheticStream(count: 3).records)
        XCTAssertEqual(CaptureSession.pcapngPrecision(whole), .nano)
        for cut in [0, 4, 11, 12, 40, 60] {
            XCTAssertEqual(CaptureSession.pcapngPrecision(Array(whole.prefix(cut))), .unknown, "cut at \(cut)")
        }
        var badLength = whole
        badLength[4] = 0x1D  // section length not a multiple of 4
        XCTAssertEqual(CaptureSession.pcapngPrecision(badLength), .unknown)
        var hugeOption = section + interface
        hugeOption[section.count + 18] = 0xFF  // if_tsresol claims 65281 bytes
        hugeOption[section.count + 19] = 0x01
        XCTAssertEqual(CaptureSession.pcapngPrecision(hugeOption), .unknown)
        var generator = SplitMix(seed: 5)
        for _ in 0..<200 {
            let noise = (0..<Int.random(in: 0...96, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = CaptureSession.pcapngPrecision(Array(whole.prefix(40)) + noise)
        }
    }
}
