import Foundation
import MemeaterKit
import XCTest
@testable import Verifier

/// The guest's stall as the run's figures keep it: the largest of memeater's worker threads,
/// and each thread's own, from memeater's `stats` through the JSON, the database and the
/// summary line.
final class StallFigureTests: XCTestCase {
    /// memeater's `stats` after the migration; `perThread` nil: a memeater older than the figure.
    private func stats(maxStall: UInt64, perThread: [UInt64]?) throws -> ProgressRecord {
        let field = perThread.map { #""maxStallMicrosecondsPerThread": [\#($0.map(String.init).joined(separator: ","))],"# } ?? ""
        return try JSONDecoder().decode(ProgressRecord.self, from: Data("""
            {"type": "progress", "timestampSeconds": 1700000010, "elapsedSeconds": 130, "windowSeconds": 1,
             "targetPagesPerSecond": 12800, "achievedPagesPerSecond": 12790, "targetMiBPerSecond": 50,
             "achievedMiBPerSecond": 49.96, "pagesDirtied": 1600000, "pagesWritten": 1700000, "pagesVerified": 1600000,
             "integrityErrors": 0, "maxStallMicroseconds": \(maxStall), \(field) "paused": false}
            """.utf8))
    }

    private func result(perThread: [UInt64]?, maxStall: UInt64 = 41_000) throws -> ScenarioResult {
        var result = Fixtures.result(checks: [Check(name: "memory-integrity", passed: true, evidence: "0 bad")])
        result.recordStall(from: try stats(maxStall: maxStall, perThread: perThread))
        return result
    }

    func testEachThreadsStallIsTakenFromMemeatersStats() throws {
        let result = try result(perThread: [12_000, 41_000, 980, 30_500])
        XCTAssertEqual(result.maxStallMicroseconds, 41_000)
        XCTAssertEqual(result.maxStallMicrosecondsPerThread, [12_000, 41_000, 980, 30_500])
        XCTAssertEqual(result[source: .maxStallMicroseconds]?.hasPrefix("memeater: largest gap"), true)
        XCTAssertEqual(result[source: .maxStallMicrosecondsPerThread]?.contains("each of its 4 worker threads"), true,
                       result[source: .maxStallMicrosecondsPerThread] ?? "no source")
    }

    func testAnOlderMemeaterGivesTheLargestStallOnly() throws {
        let result = try result(perThread: nil)
        XCTAssertEqual(result.maxStallMicroseconds, 41_000)
        XCTAssertNil(result.maxStallMicrosecondsPerThread, "not measured, not an empty list")
        XCTAssertEqual(result[source: .maxStallMicrosecondsPerThread]?.hasPrefix("not measured"), true)
    }

    func testNoStatsNoStallFigures() throws {
        var result = try result(perThread: [5, 6])
        result.recordStall(from: nil)
        XCTAssertNil(result.maxStallMicroseconds)
        XCTAssertNil(result.maxStallMicrosecondsPerThread)
        XCTAssertNil(result[source: .maxStallMicroseconds])
        XCTAssertNil(result[source: .maxStallMicrosecondsPerThread])
    }

    func testTheJSONCarriesEachThreadsStallAndNullWhenNotMeasured() throws {
        let measured = try result(perThread: [1_200, 41_000])
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: try ReportWriter.json([measured])) as? [[String: Any]]).first
        XCTAssertEqual(object?["maxStallMicrosecondsPerThread"] as? [Int], [1_200, 41_000])
        XCTAssertEqual(try resultsJSONDecoder().decode([ScenarioResult].self, from: try ReportWriter.json([measured])), [measured])

        let unmeasured = try result(perThread: nil)
        let data = try ReportWriter.json([unmeasured])
        let plain = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [[String: Any]]).first
        XCTAssertTrue(plain?["maxStallMicrosecondsPerThread"] is NSNull, "written as null, not left out")
        // A result stored before the field existed reads back without it.
        let text = String(decoding: data, as: UTF8.self)
        let older = text.replacingOccurrences(of: #""maxStallMicrosecondsPerThread" : null,"#, with: "")
        XCTAssertNotEqual(older, text)
        XCTAssertEqual(try resultsJSONDecoder().decode([ScenarioResult].self, from: Data(older.utf8)), [unmeasured])
    }

    func testTheDatabaseHasOneRowPerThreadInOrder() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("verifier-stall-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try ResultsStore(path: directory.appendingPathComponent("results.sqlite").path)
        let id = try store.beginRun(Fixtures.parameters())
        try store.finishRun(id, result: try result(perThread: [12_000, 41_000, 980]))
        XCTAssertEqual(try store.threadStalls(runID: id), [12_000, 41_000, 980])
        XCTAssertEqual(try store.scalar("SELECT maxStallMicroseconds FROM scenarioRun WHERE id = ?", arguments: [id]), 41_000)
        XCTAssertEqual(try store.scalar("SELECT maxStallMicroseconds FROM memeaterThreadStall WHERE runId = ? AND thread = 1",
                                        arguments: [id]), 41_000)
        XCTAssertEqual(try store.completedRun(matching: Fixtures.parameters())?.result?.maxStallMicrosecondsPerThread,
                       [12_000, 41_000, 980])
        // Stored again (as a finished run is when its result changes): replaced, not added to.
        try store.finishRun(id, result: try result(perThread: [7, 8], maxStall: 8))
        XCTAssertEqual(try store.threadStalls(runID: id), [7, 8])
        try store.finishRun(id, result: try result(perThread: nil))
        XCTAssertEqual(try store.threadStalls(runID: id), [], "not measured: no rows")
    }

    func testTheSummaryLineShowsEachThreadsStallWhenMoreThanOneRan() throws {
        let line = ReportWriter.summaryLine(try result(perThread: [12_000, 15_400, 9_000, 30_000]))
        XCTAssertTrue(line.contains(", stall 12/15.4/9/30 ms per thread,"), line)
        for perThread in [[41_000], nil] as [[UInt64]?] {
            let single = ReportWriter.summaryLine(try result(perThread: perThread))
            XCTAssertFalse(single.contains("stall"), "one thread (or an older memeater): \(single)")
        }
    }
}
