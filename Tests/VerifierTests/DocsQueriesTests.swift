import Foundation
import GRDB
import MigrationModel
import XCTest
@testable import Verifier

/// docs/results-database.md against the schema the store really makes: every table and
/// column is described, and every ```sql block runs on a database written by the fixtures
/// and returns rows.
final class DocsQueriesTests: XCTestCase {
    static let documentURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/results-database.md")

    var directory: URL!
    var store: ResultsStore!
    /// The run `:run` stands for.
    var firstRunID: Int64 = 0

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("verifier-docs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try ResultsStore(path: directory.appendingPathComponent("migverify-results.sqlite").path)
        var results = SyntheticSweepResults.results()
        // One run with the destination's echo capture, as a lab run has it.
        let captured = try XCTUnwrap(results.firstIndex { $0.figures.convergence == .converged })
        results[captured].figures.guestAnswerDelayMilliseconds = 3.5
        results[captured].figures.probesHeldAtDestination = 4
        let stored = try SyntheticSweepResults.store(results, as: "synthetic", in: store)
        // The same matrix again with a slower setup: what a comparison of two sweeps sees.
        var slower = SyntheticSweepResults.truth
        slower.setupMilliseconds += 400
        try SyntheticSweepResults.store(SyntheticSweepResults.results(truth: slower, startedAt: Date(timeIntervalSince1970: 1_760_000_000)),
                                        as: "synthetic-rerun", in: store, createdAt: Date(timeIntervalSince1970: 1_760_000_000))
        firstRunID = try XCTUnwrap(stored.first?.runID)
        try addTimeSeries(runID: firstRunID)
    }

    override func tearDown() {
        store = nil
        try? FileManager.default.removeItem(at: directory)
    }

    /// Job stats, pings, memeater readings and events of one run, as a live run records them.
    func addTimeSeries(runID: Int64) throws {
        let mib: UInt64 = 1_048_576
        for (index, iteration) in [1, 1, 2, 3].enumerated() {
            let offset = 4_050 + Double(index) * 100
            try store.add(JobSample(offsetMilliseconds: offset, jobType: "unbounded", timeElapsedMilliseconds: UInt64(index * 100),
                                    dataProcessedBytes: UInt64(index) * 12 * mib, dataRemainingBytes: UInt64(4 - index) * 100 * mib,
                                    dataTotalBytes: 1024 * mib, memoryDirtyRatePagesPerSecond: 2_500,
                                    memoryDirtyRateBytesPerSecond: 2_500 * 4_096, memoryIteration: UInt64(iteration),
                                    memoryBandwidthBytesPerSecond: 118 * mib, expectedDowntimeMilliseconds: 300,
                                    autoConvergeThrottlePercent: 0), runID: runID)
            try store.add(PingSample(offsetMilliseconds: offset + 10, probesSent: 4_000 + index * 100, repliesReceived: 4_000 + index * 100,
                                     lost: 0, currentGapMilliseconds: 1, longestGapMilliseconds: 1.2), runID: runID)
        }
        for second in 1...3 {
            try store.add(MemeaterReading(offsetMilliseconds: Double(second) * 1_000, memeaterElapsedSeconds: Double(second),
                                          pagesDirtied: UInt64(second) * 2_483, achievedPagesPerSecond: 2_483), runID: runID)
        }
        try store.add(EventRecord(offsetMilliseconds: 4_001, host: "source", description: "migration-iteration 1"), runID: runID)
        try store.add(EventRecord(offsetMilliseconds: 5_800, host: "destination", description: "lifecycle resumed (detail 1)"), runID: runID)
        try store.add(try Fixtures.observation(.migrates), leg: .forward, runID: runID)
    }

    func document() throws -> String {
        try String(contentsOf: Self.documentURL, encoding: .utf8)
    }

    /// The text of every ```sql block, in order.
    static func sqlBlocks(_ markdown: String) -> [String] {
        let fence = try? NSRegularExpression(pattern: "```sql\\n(.*?)```", options: [.dotMatchesLineSeparators])
        let range = NSRange(markdown.startIndex..., in: markdown)
        return (fence?.matches(in: markdown, range: range) ?? []).compactMap { match in
            Range(match.range(at: 1), in: markdown).map { String(markdown[$0]) }
        }
    }

    /// The values the placeholders stand for (see "Queries" in the document).
    var placeholders: [String: (any DatabaseValueConvertible)?] {
        ["sweep": "synthetic", "other_sweep": "synthetic-rerun", "run": firstRunID]
    }

    func testEveryQueryRunsAndReturnsRows() throws {
        let queries = Self.sqlBlocks(try document())
        XCTAssertGreaterThanOrEqual(queries.count, 11, "the document's queries were not all found")
        for query in queries {
            let title = query.split(separator: "\n").first.map(String.init) ?? query
            // Bind only the placeholders the query uses: the shell leaves the others unset too.
            let used = placeholders.filter { query.contains(":\($0.key)") }
            let rows: [Row]
            do {
                rows = try store.database.read { db in
                    try Row.fetchAll(db, sql: query, arguments: StatementArguments(used))
                }
            } catch {
                XCTFail("query failed: \(error)\n\(query)")
                continue
            }
            XCTAssertFalse(rows.isEmpty, "no rows from:\n\(query)")
            guard let columns = rows.first?.columnNames else { continue }
            for column in columns where rows.allSatisfy({ ($0[column] as DatabaseValue).isNull }) {
                XCTFail("column \(column) is NULL in every row (a misspelt column or JSON path?) of the query starting \(title)")
            }
        }
    }

    func testTheQueriesSeeWhatTheFixturesStored() throws {
        let queries = Self.sqlBlocks(try document())
        func rows(startingWith prefix: String, containing marker: String) throws -> [Row] {
            let query = try XCTUnwrap(queries.first { $0.hasPrefix(prefix) && $0.contains(marker) }, "no query with \(marker)")
            let used = placeholders.filter { query.contains(":\($0.key)") }
            return try store.database.read { db in try Row.fetchAll(db, sql: query, arguments: StatementArguments(used)) }
        }
        XCTAssertEqual(try rows(startingWith: "SELECT s.position", containing: "json_extract(s.parametersJSON").count, 48, "one row per slot")
        XCTAssertEqual(try rows(startingWith: "SELECT r.scenario", containing: "meanMigrationMs").count, 24, "one row per cell")
        let stuck = try rows(startingWith: "SELECT r.memoryMiB", containing: "meanRemainingMiB")
        XCTAssertEqual(stuck.count, 3, "the high rate on the slow link, per memory size")
        XCTAssertEqual(stuck.first?["maxPasses"] as Int?, 40)
        let decomposition = try rows(startingWith: "SELECT r.id AS run", containing: "announceDelayMs")
        // The first run's answer delay at the destination comes out of its rest; the others have none.
        XCTAssertEqual(decomposition.first?["answerDelayMs"] as Double?, 3.5)
        XCTAssertEqual(decomposition.first?["restMs"] as Double?, SyntheticSweepResults.restOfGapMilliseconds - 3.5)
        XCTAssertEqual(decomposition.dropFirst().first?["answerDelayMs"] as Double?, nil)
        XCTAssertEqual(decomposition.dropFirst().first?["restMs"] as Double?, SyntheticSweepResults.restOfGapMilliseconds)
        let compared = try rows(startingWith: "WITH cell AS", containing: "timeChangePercent")
        XCTAssertEqual(compared.count, 21 + 3, "every cell of one sweep matches its twin")
        XCTAssertTrue(compared.allSatisfy { ($0["timeChangePercent"] as Double? ?? 1) >= 0 }, "the rerun's setup is slower")
        let stalls = try rows(startingWith: "SELECT r.id AS run", containing: "stallPerThreadMs")
        XCTAssertEqual(stalls.count, 42, "every converged run, one row each")
        for row in stalls {
            let threads: Int? = row["threads"]
            let longest: Double? = row["longestThreadStallMs"]
            let list: String? = row["stallPerThreadMs"]
            XCTAssertEqual(threads, 1, "the fixtures' memeater has one thread")
            XCTAssertEqual(longest.map { String($0) }, list, "one thread: the list is its one stall")
        }
        let overhead = try rows(startingWith: "WITH overhead AS", containing: "medianOverheadSeconds")
        XCTAssertEqual(overhead.first?["runs"] as Int?, 48)
        XCTAssertEqual(try rows(startingWith: "SELECT ROUND(j.offsetMilliseconds", containing: "remainingMiB").count, 4)
    }

    func testEveryTableAndColumnIsDescribed() throws {
        let markdown = try document()
        let schema: [(table: String, columns: [String])] = try store.database.read { db in
            let tables = try String.fetchAll(db, sql: """
                SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations' ORDER BY name
                """)
            return try tables.map { table in (table, try db.columns(in: table).map(\.name)) }
        }
        XCTAssertEqual(schema.count, 10)
        for (table, columns) in schema {
            guard let heading = markdown.range(of: "### `\(table)`") else {
                XCTFail("docs/results-database.md has no section for table \(table)")
                continue
            }
            let rest = markdown[heading.upperBound...]
            let section = rest.range(of: "\n#").map { rest[..<$0.lowerBound] } ?? rest
            for column in columns where !section.contains("`\(column)`") {
                XCTFail("the section of \(table) does not describe column \(column)")
            }
        }
    }
}
