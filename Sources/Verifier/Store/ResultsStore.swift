import Foundation
import GRDB
import Libvirt

/// One job-stats reading taken during a migration (see ``JobStatsSampler``).
public struct JobSample: Codable, Sendable, Equatable {
    /// Which side was read: `source` (the outgoing job).
    public var side: String
    /// Milliseconds since the run started, on the run's monotonic clock (``RunClock``).
    public var offsetMilliseconds: Double
    /// libvirt's job type (`bounded`, `unbounded`, `none`, ...).
    public var jobType: String
    /// libvirt's `time_elapsed`, ms.
    public var timeElapsedMilliseconds: UInt64?
    /// libvirt's `data_processed`, bytes.
    public var dataProcessedBytes: UInt64?
    /// libvirt's `data_remaining`, bytes.
    public var dataRemainingBytes: UInt64?
    /// libvirt's `data_total`, bytes.
    public var dataTotalBytes: UInt64?
    /// libvirt's `memory_dirty_rate`, pages/s.
    public var memoryDirtyRatePagesPerSecond: UInt64?
    /// `memory_dirty_rate` × `memory_page_size`, bytes/s.
    public var memoryDirtyRateBytesPerSecond: UInt64?
    /// libvirt's `memory_iteration`.
    public var memoryIteration: UInt64?
    /// libvirt's `memory_bps`, bytes/s.
    public var memoryBandwidthBytesPerSecond: UInt64?
    /// libvirt's `downtime` while running: the expected downtime, ms.
    public var expectedDowntimeMilliseconds: UInt64?
    /// libvirt's `auto_converge_throttle`, percent.
    public var autoConvergeThrottlePercent: UInt64?

    /// Creates a sample.
    public init(side: String = "source", offsetMilliseconds: Double, jobType: String,
                timeElapsedMilliseconds: UInt64? = nil, dataProcessedBytes: UInt64? = nil,
                dataRemainingBytes: UInt64? = nil, dataTotalBytes: UInt64? = nil,
                memoryDirtyRatePagesPerSecond: UInt64? = nil, memoryDirtyRateBytesPerSecond: UInt64? = nil,
                memoryIteration: UInt64? = nil, memoryBandwidthBytesPerSecond: UInt64? = nil,
                expectedDowntimeMilliseconds: UInt64? = nil, autoConvergeThrottlePercent: UInt64? = nil) {
        self.side = side
        self.offsetMilliseconds = offsetMilliseconds
        self.jobType = jobType
        self.timeElapsedMilliseconds = timeElapsedMilliseconds
        self.dataProcessedBytes = dataProcessedBytes
        self.dataRemainingBytes = dataRemainingBytes
        self.dataTotalBytes = dataTotalBytes
        self.memoryDirtyRatePagesPerSecond = memoryDirtyRatePagesPerSecond
        self.memoryDirtyRateBytesPerSecond = memoryDirtyRateBytesPerSecond
        self.memoryIteration = memoryIteration
        self.memoryBandwidthBytesPerSecond = memoryBandwidthBytesPerSecond
        self.expectedDowntimeMilliseconds = expectedDowntimeMilliseconds
        self.autoConvergeThrottlePercent = autoConvergeThrottlePercent
    }

    /// Fraction of the data transferred, 0...100, when libvirt reported total and processed.
    public var percentTransferred: Double? {
        guard let total = dataTotalBytes, total > 0, let processed = dataProcessedBytes else { return nil }
        return min(100, Double(processed) / Double(total) * 100)
    }
}

/// One reading of pingmon's live status during a scenario run.
public struct PingSample: Codable, Sendable, Equatable {
    /// Milliseconds since the run started, on the run's monotonic clock.
    public var offsetMilliseconds: Double
    public var probesSent: Int
    public var repliesReceived: Int
    public var lost: Int
    /// Time since the last reply, ms.
    public var currentGapMilliseconds: Double
    /// Longest time without replies so far, ms.
    public var longestGapMilliseconds: Double

    /// Creates a sample.
    public init(offsetMilliseconds: Double, probesSent: Int, repliesReceived: Int, lost: Int,
                currentGapMilliseconds: Double, longestGapMilliseconds: Double) {
        self.offsetMilliseconds = offsetMilliseconds
        self.probesSent = probesSent
        self.repliesReceived = repliesReceived
        self.lost = lost
        self.currentGapMilliseconds = currentGapMilliseconds
        self.longestGapMilliseconds = longestGapMilliseconds
    }
}

/// A domain event seen during a scenario run (lifecycle, migration iteration).
public struct EventRecord: Codable, Sendable, Equatable {
    /// Milliseconds since the run started, on the run's monotonic clock.
    public var offsetMilliseconds: Double
    /// The host whose daemon sent it (`source`, `destination`).
    public var host: String
    /// e.g. `lab-guest lifecycle stopped detail 3`, `lab-guest migration-iteration 2`.
    public var description: String

    /// Creates a record.
    public init(offsetMilliseconds: Double, host: String, description: String) {
        self.offsetMilliseconds = offsetMilliseconds
        self.host = host
        self.description = description
    }

    /// The record of libvirt's `event` from the daemon of `host`, described as the `event`
    /// table has always had it (`NAME lifecycle KIND detail N`, `NAME migration-iteration N`,
    /// `NAME job-completed`).
    public init(offsetMilliseconds: Double, host: String, event: DomainEvent) {
        let description: String
        switch event {
        case .lifecycle(let name, let kind, let rawKind, let detail):
            description = "\(name) lifecycle \(kind.map { "\($0)" } ?? "kind \(rawKind)") detail \(detail)"
        case .migrationIteration(let name, let iteration):
            description = "\(name) migration-iteration \(iteration)"
        case .jobCompleted(let name, _):
            description = "\(name) job-completed"
        }
        self.init(offsetMilliseconds: offsetMilliseconds, host: host, description: description)
    }
}

/// A scenario run as stored: its parameters, figures and verdict.
public struct StoredRun: Sendable, Equatable {
    public var id: Int64
    /// `running` while it runs, `completed` once its result is stored, `setup-failed` when it
    /// could not be set up, `interrupted` when SIGINT/SIGTERM stopped it or a later open found
    /// it still running (the process died). Only `completed` runs are ever reused.
    public var status: RunStatus
    public var parameterKey: String
    public var startedAt: Date
    public var finishedAt: Date?
    /// The full result, once completed.
    public var result: ScenarioResult?
    /// The evacuation the run was one guest of, and which guest (`nil`: one guest alone).
    public var evacuationID: String? = nil
    public var guestIndex: Int? = nil
}

extension StoredRun {
    /// The run of `row`. A result that cannot be decoded is an error, not a run without
    /// result: otherwise a completed run would silently be run again.
    init(_ row: ScenarioRunRow) throws(StoredDataUnreadable) {
        let id = row.id ?? -1
        if let json = row.resultJSON {
            do {
                result = try resultsJSONDecoder().decode(ScenarioResult.self, from: Data(json.utf8))
            } catch {
                throw StoredDataUnreadable(description: "run #\(id) has an unreadable result: \(error)")
            }
        }
        self.id = id
        status = row.status
        parameterKey = row.parameterKey
        startedAt = row.startedAt
        finishedAt = row.finishedAt
        evacuationID = row.evacuationId
        guestIndex = row.guestIndex
    }
}

/// Something stored that no longer decodes (written by a newer version, or damaged): which
/// run and what, in one line.
public struct StoredDataUnreadable: Error, Sendable, Equatable, CustomStringConvertible {
    /// What could not be read, e.g. `run #12 has an unreadable result: ...`.
    public var description: String
}

/// A sweep's kind: made by `migverify sweep`, or the matrix of a plain `migverify run`.
public enum SweepKind: String, Codable, Sendable {
    /// Made by `migverify sweep`.
    case sweep
    /// The matrix of a plain `migverify run`.
    case run
}

/// A sweep as stored (a row of `sweep`).
public struct StoredSweep: Codable, Sendable, Equatable {
    public var id: String
    public var kind: SweepKind
    public var createdAt: Date
    /// The command that created it.
    public var commandLine: String
    /// Its definition (matrix and options) as JSON.
    public var definitionJSON: String
}

/// One run a sweep asks for, and the stored run that stands for it, if any.
public struct SweepSlot: Sendable, Equatable {
    /// Its place in the sweep, from 0.
    public var position: Int
    public var parameters: ScenarioParameters
    /// The run made (or reused) for it; only a `completed` one is a result.
    public var run: StoredRun?

    /// Whether a result stands for the slot (a completed run).
    public var isDone: Bool { run?.status == .completed && run?.result != nil }
}

/// An observation of one migration of a run as stored (see ``RunRecord/observation(_:leg:)``).
public struct StoredObservation: Sendable, Equatable {
    /// The run.
    public var runID: Int64
    /// Which of its migrations.
    public var leg: MigrationLeg
    /// The observation, or why the stored one does not decode.
    public var observation: Result<Observation, StoredDataUnreadable>
}

/// The results database (SQLite through GRDB): one row per scenario run with every
/// parameter, version, the accelerator and every figure; the checks; the job-stats, ping,
/// memeater and event time series; and what the checks judged (the observations), so that
/// `migverify rejudge` can judge a run again. Everything is written as it is produced, so a
/// crash loses nothing already measured. The rows are the records of StoreRecords.swift.
public final class ResultsStore: Sendable {
    /// The database file.
    public let path: String
    let database: DatabaseQueue  // internal: tests break it on purpose
    /// Opened by ``openForReading(path:)``: every write is refused (on a migrated copy in
    /// memory it would be lost with the copy).
    public let isReadOnly: Bool

    /// Opens (creating if needed) the database at `path`, migrates its schema, and marks
    /// runs left `running` by a process that died as `interrupted`.
    public init(path: String) throws(VerifierError) {
        self.path = path
        isReadOnly = false
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            database = try DatabaseQueue(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
            try database.write { db in
                _ = try ScenarioRunRow.filter(ScenarioRunRow.Columns.status == RunStatus.running)
                    .updateAll(db, ScenarioRunRow.Columns.status.set(to: RunStatus.interrupted))
            }
        } catch {
            throw .store(path: path, reason: "\(error)")
        }
    }

    private init(readingAt path: String, database: DatabaseQueue) {
        self.path = path
        self.database = database
        isReadOnly = true
    }

    /// Opens the existing database at `path` for reading only: the file is never written (a
    /// run in another process may be writing it, and a run it shows `running` stays so). A
    /// database an older version made is migrated in a copy in memory, so it reads like a
    /// current one. A missing file is an error.
    public static func openForReading(path: String) throws(VerifierError) -> ResultsStore {
        do {
            var configuration = Configuration()
            configuration.readonly = true
            configuration.busyMode = .timeout(10)
            let file = try DatabaseQueue(path: path, configuration: configuration)
            if try file.read({ db in try migrator.hasCompletedMigrations(db) }) {
                return ResultsStore(readingAt: path, database: file)
            }
            let copy = try DatabaseQueue()
            try file.backup(to: copy)
            try migrator.migrate(copy)
            return ResultsStore(readingAt: path, database: copy)
        } catch {
            throw .store(path: path, reason: "\(error)")
        }
    }

    private static var migrator: DatabaseMigrator { SchemaMigrations.migrator }

    private func write<T>(_ what: String, _ body: (Database) throws -> T) throws(VerifierError) -> T {
        guard !isReadOnly else { throw .store(path: path, reason: "\(what): the database was opened for reading only") }
        do {
            return try database.write(body)
        } catch {
            throw .store(path: path, reason: "\(what): \(error)")
        }
    }

    private func read<T>(_ what: String, _ body: (Database) throws -> T) throws(VerifierError) -> T {
        do {
            return try database.read(body)
        } catch {
            throw .store(path: path, reason: "\(what): \(error)")
        }
    }

    // MARK: runs

    /// Records that a run starts, with all its parameters (and the sweep it is made for, and
    /// the evacuation it is one guest of); returns its id.
    public func beginRun(_ parameters: ScenarioParameters, startedAt: Date = Date(), sweepID: String? = nil,
                         evacuation: EvacuationMembership? = nil) throws(VerifierError) -> Int64 {
        try write("insert run") { db in
            try ScenarioRunRow(starting: parameters, startedAt: startedAt, sweepID: sweepID, evacuation: evacuation).insert(db)
            return db.lastInsertedRowID
        }
    }

    /// Stores a job-stats sample of run `runID`.
    public func add(_ sample: JobSample, runID: Int64) throws(VerifierError) {
        try write("insert job sample") { db in try RunTimeSeriesRow(runID: runID, record: sample).insert(db) }
    }

    /// Stores a ping sample of run `runID`.
    public func add(_ sample: PingSample, runID: Int64) throws(VerifierError) {
        try write("insert ping sample") { db in try RunTimeSeriesRow(runID: runID, record: sample).insert(db) }
    }

    /// Stores a memeater reading of run `runID`.
    public func add(_ reading: MemeaterReading, runID: Int64) throws(VerifierError) {
        try write("insert memeater reading") { db in try RunTimeSeriesRow(runID: runID, record: reading).insert(db) }
    }

    /// Stores a domain event of run `runID`.
    public func add(_ event: EventRecord, runID: Int64) throws(VerifierError) {
        try write("insert event") { db in try RunTimeSeriesRow(runID: runID, record: event).insert(db) }
    }

    /// Stores what the checks of the `leg` migration of run `runID` judged (replacing an
    /// earlier one of the same leg).
    public func add(_ observation: Observation, leg: MigrationLeg, runID: Int64) throws(VerifierError) {
        let json: String
        do {
            json = String(decoding: try resultsJSONEncoder(pretty: false).encode(observation), as: UTF8.self)
        } catch {
            throw .store(path: path, reason: "encode the \(leg.rawValue) observation of run \(runID): \(error)")
        }
        try write("insert the \(leg.rawValue) observation of run \(runID)") { db in
            try ObservationRow(runId: runID, leg: leg, observationJSON: json).insert(db, onConflict: .replace)
        }
    }

    /// Stores the finished result of run `runID`: its figures, checks and full JSON, with the
    /// result's status (`completed`, `setup-failed` or `interrupted`). Returns the result as
    /// stored (with its `runID`).
    @discardableResult
    public func finishRun(_ runID: Int64, result: ScenarioResult) throws(VerifierError) -> ScenarioResult {
        var result = result
        result.runID = runID
        let json: String
        do {
            json = String(decoding: try resultsJSONEncoder(pretty: false).encode(result), as: UTF8.self)
        } catch {
            throw .store(path: path, reason: "encode the result of run \(runID): \(error)")
        }
        try write("store the result of run \(runID)") { db in
            guard var row = try ScenarioRunRow.fetchOne(db, key: runID) else {
                throw StoredDataUnreadable(description: "there is no run #\(runID) to store a result for")
            }
            row.takeResult(result, json: json)
            try row.update(db)
            try CheckRow.filter(CheckRow.Columns.runId == runID).deleteAll(db)
            for (position, check) in result.checks.enumerated() {
                try CheckRow(check, position: position, runID: runID).insert(db)
            }
            try MemeaterThreadStallRow.filter(MemeaterThreadStallRow.Columns.runId == runID).deleteAll(db)
            for (thread, stall) in (result.maxStallMicrosecondsPerThread ?? []).enumerated() {
                try MemeaterThreadStallRow(runId: runID, thread: thread, maxStallMicroseconds: Int64(clamping: stall)).insert(db)
            }
        }
        return result
    }

    /// Each memeater worker thread's longest stall in run `runID`, µs, in thread order (empty:
    /// not measured).
    public func threadStalls(runID: Int64) throws(VerifierError) -> [UInt64] {
        try read("read memeater thread stalls") { db in
            try MemeaterThreadStallRow.filter(MemeaterThreadStallRow.Columns.runId == runID)
                .order(MemeaterThreadStallRow.Columns.thread).fetchAll(db)
                .map { UInt64(clamping: $0.maxStallMicroseconds) }
        }
    }

    /// The most recent completed run with exactly these parameters, if any (with
    /// `passedOnly`: the most recent one, if it passed). Runs that could not be set up or
    /// were interrupted are never results and never returned.
    public func completedRun(matching parameters: ScenarioParameters, passedOnly: Bool = false) throws(VerifierError) -> StoredRun? {
        try read("find completed run") { db in
            let columns = ScenarioRunRow.Columns.self
            guard let row = try ScenarioRunRow
                .filter(columns.parameterKey == parameters.key && columns.status == RunStatus.completed)
                .order(columns.id.desc).fetchOne(db) else { return nil }
            if passedOnly, row.passed != true { return nil }
            return try StoredRun(row)
        }
    }

    /// Every run, oldest first.
    public func runs() throws(VerifierError) -> [StoredRun] {
        try read("list runs") { db in
            try ScenarioRunRow.order(ScenarioRunRow.Columns.id).fetchAll(db).map { row throws in try StoredRun(row) }
        }
    }

    /// The runs of evacuation `evacuationID`, in guest order (empty: no such evacuation).
    public func runs(evacuationID: String) throws(VerifierError) -> [StoredRun] {
        try read("list the runs of evacuation \(evacuationID)") { db in
            let columns = ScenarioRunRow.Columns.self
            return try ScenarioRunRow.filter(columns.evacuationId == evacuationID).order(columns.guestIndex, columns.id).fetchAll(db)
                .map { row throws in try StoredRun(row) }
        }
    }

    /// Run `id`, or `nil` when the database has no such run.
    public func run(id: Int64) throws(VerifierError) -> StoredRun? {
        try read("read run \(id)") { db in
            try ScenarioRunRow.fetchOne(db, key: id).map { row throws in try StoredRun(row) }
        }
    }

    /// The checks of run `id` as stored, in order (none before it ended).
    public func checks(runID: Int64) throws(VerifierError) -> [Check] {
        try read("read the checks of run \(runID)") { db in
            try CheckRow.filter(CheckRow.Columns.runId == runID).order(CheckRow.Columns.position).fetchAll(db).map(\.check)
        }
    }

    /// The observations stored for run `runID`, forward leg first; none for a run recorded
    /// before observations were stored. One that does not decode is returned as such.
    public func observations(runID: Int64) throws(VerifierError) -> [StoredObservation] {
        let rows = try read("read the observations of run \(runID)") { db in
            try ObservationRow.filter(ObservationRow.Columns.runId == runID).fetchAll(db)
        }
        let decoder = resultsJSONDecoder()
        return rows.sorted { $0.leg.order < $1.leg.order }.map { row in
            let observation: Result<Observation, StoredDataUnreadable>
            do {
                observation = .success(try decoder.decode(Observation.self, from: Data(row.observationJSON.utf8)))
            } catch {
                observation = .failure(StoredDataUnreadable(description: "the \(row.leg.rawValue) observation of run #\(runID) is unreadable: \(error)"))
            }
            return StoredObservation(runID: runID, leg: row.leg, observation: observation)
        }
    }

    /// The job-stats samples of a run, in order.
    public func jobSamples(runID: Int64) throws(VerifierError) -> [JobSample] {
        try read("read job samples") { db in try Self.timeSeries(JobSample.self, runID: runID, db) }
    }

    /// The ping samples of a run, in order.
    public func pingSamples(runID: Int64) throws(VerifierError) -> [PingSample] {
        try read("read ping samples") { db in try Self.timeSeries(PingSample.self, runID: runID, db) }
    }

    /// The events of a run, in order.
    public func events(runID: Int64) throws(VerifierError) -> [EventRecord] {
        try read("read events") { db in try Self.timeSeries(EventRecord.self, runID: runID, db) }
    }

    /// The memeater readings of a run, in order.
    public func memeaterReadings(runID: Int64) throws(VerifierError) -> [MemeaterReading] {
        try read("read memeater readings") { db in try Self.timeSeries(MemeaterReading.self, runID: runID, db) }
    }

    /// The rows of a time-series table of run `runID`, in the order they were written.
    private static func timeSeries<Record: FetchableRecord & TableRecord>(_ type: Record.Type, runID: Int64,
                                                                          _ db: Database) throws -> [Record] {
        try Record.filter(Column("runId") == runID).order(Column("id")).fetchAll(db)
    }

    // MARK: sweeps

    /// Opens sweep `id` with `slots` (its runs, in order): creates it when new; when it exists,
    /// its stored matrix slots must be these (a re-run resumes it; slots a boundary search
    /// appended are kept), or the call fails naming the difference. Returns whether it was created.
    @discardableResult
    public func openSweep(id: String, kind: SweepKind, commandLine: String, definitionJSON: String,
                          slots: [ScenarioParameters], createdAt: Date = Date()) throws(VerifierError) -> Bool {
        var encoded: [(key: String, json: String)] = []
        for parameters in slots {
            encoded.append((parameters.key, try parametersJSON(parameters)))
        }
        let columns = SweepSlotRow.Columns.self
        let stored = try read("read sweep \(id)") { db in
            try SweepSlotRow.filter(columns.sweepId == id && columns.origin == SlotOrigin.matrix.rawValue)
                .order(columns.position).fetchAll(db).map(\.parameterKey)
        }
        let exists = try read("read sweep \(id)") { db in try StoredSweep.exists(db, key: id) }
        if exists {
            let asked = encoded.map(\.key)
            // Slots appended by a boundary search are not the matrix's: they are left out here.
            guard stored == asked else {
                let firstDifference = zip(stored, asked).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset ?? min(stored.count, asked.count)
                throw .invalidOptions("sweep '\(id)' exists in \(path) with a different matrix (\(stored.count) runs stored, \(asked.count) asked; they differ from run \(firstDifference + 1)): "
                                      + "give the same options to resume it, or another --id")
            }
            return false
        }
        try write("create sweep \(id)") { db in
            try StoredSweep(id: id, kind: kind, createdAt: createdAt, commandLine: commandLine, definitionJSON: definitionJSON).insert(db)
            for (position, slot) in encoded.enumerated() {
                try SweepSlotRow(sweepId: id, position: position, parameterKey: slot.key, parametersJSON: slot.json, runId: nil,
                                 origin: .matrix).insert(db)
            }
        }
        return true
    }

    /// Adds slots at the end of sweep `id` (a bisection's next rate); returns their positions.
    public func appendSlots(sweepID: String, _ slots: [ScenarioParameters]) throws(VerifierError) -> [Int] {
        var encoded: [(key: String, json: String)] = []
        for parameters in slots {
            encoded.append((parameters.key, try parametersJSON(parameters)))
        }
        let columns = SweepSlotRow.Columns.self
        return try write("extend sweep \(sweepID)") { db in
            let last = try SweepSlotRow.filter(columns.sweepId == sweepID).select(max(columns.position), as: Int.self).fetchOne(db)
            let first = (last ?? -1) + 1
            for (offset, slot) in encoded.enumerated() {
                try SweepSlotRow(sweepId: sweepID, position: first + offset, parameterKey: slot.key, parametersJSON: slot.json,
                                 runId: nil, origin: .boundary).insert(db)
            }
            return Array(first..<(first + encoded.count))
        }
    }

    /// `parameters` as a slot stores them: JSON with sorted keys.
    private func parametersJSON(_ parameters: ScenarioParameters) throws(VerifierError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return String(decoding: try encoder.encode(parameters), as: UTF8.self)
        } catch {
            throw .store(path: path, reason: "encode the parameters of \(parameters.label): \(error)")
        }
    }

    /// Records that run `runID` stands for slot `position` of sweep `sweepID`.
    public func assign(runID: Int64, sweepID: String, position: Int) throws(VerifierError) {
        let columns = SweepSlotRow.Columns.self
        let changed = try write("assign run \(runID) to sweep \(sweepID)") { db in
            try SweepSlotRow.filter(columns.sweepId == sweepID && columns.position == position)
                .updateAll(db, columns.runId.set(to: runID))
        }
        guard changed == 1 else {
            throw .store(path: path, reason: "assign run \(runID) to sweep \(sweepID): the sweep has no slot \(position)")
        }
    }

    /// Sweep `id`, or `nil` when the database has none of that id.
    public func sweep(id: String) throws(VerifierError) -> StoredSweep? {
        try read("read sweep \(id)") { db in try StoredSweep.fetchOne(db, key: id) }
    }

    /// Every sweep, oldest first.
    public func sweeps() throws(VerifierError) -> [StoredSweep] {
        try read("list sweeps") { db in try StoredSweep.order(Column("createdAt"), Column("id")).fetchAll(db) }
    }

    /// The slots of sweep `id`, in order, each with the run that stands for it, if any.
    public func slots(sweepID: String) throws(VerifierError) -> [SweepSlot] {
        let columns = SweepSlotRow.Columns.self
        let (rows, runs) = try read("read the slots of sweep \(sweepID)") { db in
            let rows = try SweepSlotRow.filter(columns.sweepId == sweepID).order(columns.position).fetchAll(db)
            let runs = try ScenarioRunRow.fetchAll(db, keys: Set(rows.compactMap(\.runId)))
            return (rows, Dictionary(runs.compactMap { row in row.id.map { ($0, row) } }, uniquingKeysWith: { first, _ in first }))
        }
        var slots: [SweepSlot] = []
        for row in rows {
            let parameters: ScenarioParameters
            do {
                parameters = try JSONDecoder().decode(ScenarioParameters.self, from: Data(row.parametersJSON.utf8))
            } catch {
                throw .store(path: path, reason: "slot \(row.position) of sweep \(sweepID) has unreadable parameters: \(error)")
            }
            var run: StoredRun?
            if let runID = row.runId, let runRow = runs[runID] {
                do {
                    run = try StoredRun(runRow)
                } catch {
                    throw .store(path: path, reason: "slot \(row.position) of sweep \(sweepID): \(error)")
                }
            }
            slots.append(SweepSlot(position: row.position, parameters: parameters, run: run))
        }
        return slots
    }

    /// Runs a read-only SQL query and returns the first column of the first row as a
    /// 64-bit integer (for tests and reports).
    public func scalar(_ sql: String, arguments: [Int64] = []) throws(VerifierError) -> Int64? {
        try read("query") { db in try Int64.fetchOne(db, sql: sql, arguments: StatementArguments(arguments)) }
    }
}
