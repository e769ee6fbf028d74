import Foundation
import GRDB

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
    /// e.g. `lifecycle stopped (detail 3)`, `migration-iteration 2`.
    public var description: String

    /// Creates a record.
    public init(offsetMilliseconds: Double, host: String, description: String) {
        self.offsetMilliseconds = offsetMilliseconds
        self.host = host
        self.description = description
    }
}

/// A scenario run as stored: its parameters, figures and verdict.
public struct StoredRun: Sendable, Equatable {
    public var id: Int64
    /// `running` while it runs, `completed` once its result is stored, `setup-failed` when it
    /// could not be set up, `interrupted` when SIGINT/SIGTERM stopped it or a later open found
    /// it still running (the process died). Only `completed` runs are ever reused.
    public var status: String
    public var parameterKey: String
    public var startedAt: Date
    public var finishedAt: Date?
    /// The full result, once completed.
    public var result: ScenarioResult?
}

/// A sweep's kind: made by `migverify sweep`, or the matrix of a plain `migverify run`.
public enum SweepKind: String, Codable, Sendable {
    /// Made by `migverify sweep`.
    case sweep
    /// The matrix of a plain `migverify run`.
    case run
}

/// A sweep as stored.
public struct StoredSweep: Sendable, Equatable {
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
    public var isDone: Bool { run?.status == "completed" && run?.result != nil }
}

/// The results database (SQLite through GRDB): one row per scenario run with every
/// parameter, version, the accelerator and every figure; the checks; and the job-stats,
/// ping and event time series. Everything is written as it is produced, so a crash loses
/// nothing already measured.
public final class ResultsStore: Sendable {
    /// The database file.
    public let path: String
    let database: DatabaseQueue  // internal: tests break it on purpose

    /// Opens (creating if needed) the database at `path`, migrates its schema, and marks
    /// runs left `running` by a process that died as `interrupted`.
    public init(path: String) throws(VerifierError) {
        self.path = path
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            database = try DatabaseQueue(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
            try database.write { db in
                try db.execute(sql: "UPDATE scenarioRun SET status = 'interrupted' WHERE status = 'running'")
            }
        } catch {
            throw .store(path: path, reason: "\(error)")
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "scenarioRun") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("status", .text).notNull()
                t.column("parameterKey", .text).notNull().indexed()
                t.column("scenario", .text).notNull()
                t.column("memoryMiB", .integer).notNull()
                t.column("memeaterSizeMiB", .integer).notNull()
                t.column("dirtyRateMiBPerSecond", .double).notNull()
                t.column("guestKind", .text).notNull()
                t.column("emulator", .text).notNull()
                t.column("sourceURI", .text).notNull()
                t.column("destinationURI", .text).notNull()
                t.column("domainName", .text).notNull()
                t.column("guestAddress", .text).notNull()
                t.column("migrationMode", .text).notNull()
                t.column("bandwidthMiBPerSecond", .integer)
                t.column("qemuMaxDowntimeMilliseconds", .integer)
                t.column("autoConverge", .boolean).notNull()
                t.column("postCopy", .boolean).notNull()
                t.column("parallelConnections", .integer)
                t.column("compression", .text).notNull()
                t.column("timeoutSeconds", .double).notNull()
                t.column("stallTimeoutSeconds", .double).notNull()
                t.column("requireZeroLoss", .boolean).notNull()
                t.column("maxPingDowntimeMilliseconds", .double).notNull()
                t.column("pingIntervalMicroseconds", .integer).notNull()
                t.column("roundTrip", .boolean).notNull()
                t.column("startedAt", .datetime).notNull()
                t.column("finishedAt", .datetime)
                t.column("passed", .boolean)
                t.column("accel", .text)
                t.column("qemuVersion", .text)
                t.column("libvirtVersion", .text)
                t.column("migrationMilliseconds", .double)
                t.column("libvirtDowntimeMilliseconds", .double)
                t.column("pingDowntimeMilliseconds", .double)
                t.column("pingLost", .integer)
                t.column("integrityErrors", .integer)
                t.column("achievedDirtyRateMiBPerSecond", .double)
                t.column("libvirtDirtyRateMiBPerSecond", .double)
                t.column("setupMilliseconds", .double)
                t.column("transferredBytes", .integer)
                t.column("iterations", .integer)
                t.column("maxStallMicroseconds", .integer)
                t.column("libvirtError", .text)
                t.column("resultJSON", .text)
            }
            try db.create(table: "checkResult") { t in
                t.autoIncrementedPrimaryKey("id")
                t.belongsTo("run", inTable: "scenarioRun").notNull()
                t.column("position", .integer).notNull()
                t.column("name", .text).notNull()
                t.column("passed", .boolean).notNull()
                t.column("evidence", .text).notNull()
            }
            try db.create(table: "jobSample") { t in
                t.autoIncrementedPrimaryKey("id")
                t.belongsTo("run", inTable: "scenarioRun").notNull()
                t.column("side", .text).notNull()
                t.column("offsetMilliseconds", .double).notNull()
                t.column("jobType", .text).notNull()
                t.column("timeElapsedMilliseconds", .integer)
                t.column("dataProcessedBytes", .integer)
                t.column("dataRemainingBytes", .integer)
                t.column("dataTotalBytes", .integer)
                t.column("memoryDirtyRatePagesPerSecond", .integer)
                t.column("memoryDirtyRateBytesPerSecond", .integer)
                t.column("memoryIteration", .integer)
                t.column("memoryBandwidthBytesPerSecond", .integer)
                t.column("expectedDowntimeMilliseconds", .integer)
                t.column("autoConvergeThrottlePercent", .integer)
            }
            try db.create(table: "pingSample") { t in
                t.autoIncrementedPrimaryKey("id")
                t.belongsTo("run", inTable: "scenarioRun").notNull()
                t.column("offsetMilliseconds", .double).notNull()
                t.column("probesSent", .integer).notNull()
                t.column("repliesReceived", .integer).notNull()
                t.column("lost", .integer).notNull()
                t.column("currentGapMilliseconds", .double).notNull()
                t.column("longestGapMilliseconds", .double).notNull()
            }
            try db.create(table: "event") { t in
                t.autoIncrementedPrimaryKey("id")
                t.belongsTo("run", inTable: "scenarioRun").notNull()
                t.column("offsetMilliseconds", .double).notNull()
                t.column("host", .text).notNull()
                t.column("description", .text).notNull()
            }
        }
        migrator.registerMigration("v2: memeater readings") { db in
            try db.create(table: "memeaterSample") { t in
                t.autoIncrementedPrimaryKey("id")
                t.belongsTo("run", inTable: "scenarioRun").notNull()
                t.column("offsetMilliseconds", .double).notNull()
                t.column("memeaterElapsedSeconds", .double).notNull()
                t.column("pagesDirtied", .integer).notNull()
                t.column("achievedPagesPerSecond", .double).notNull()
            }
        }
        migrator.registerMigration("v3: sweeps and analysis figures") { db in
            try db.create(table: "sweep") { t in
                t.primaryKey("id", .text)
                t.column("kind", .text).notNull()
                t.column("createdAt", .datetime).notNull()
                t.column("commandLine", .text).notNull()
                t.column("definitionJSON", .text).notNull()
            }
            try db.create(table: "sweepSlot") { t in
                t.column("sweepId", .text).notNull().references("sweep")
                t.column("position", .integer).notNull()
                t.column("parameterKey", .text).notNull()
                t.column("parametersJSON", .text).notNull()
                t.column("runId", .integer).references("scenarioRun")
                // `matrix`: a run of the sweep's matrix; `boundary`: appended by the boundary search.
                t.column("origin", .text).notNull().defaults(to: "matrix")
                t.primaryKey(["sweepId", "position"])
            }
            try db.alter(table: "scenarioRun") { t in
                t.add(column: "sweepId", .text)
                t.add(column: "memeaterPattern", .text)
                t.add(column: "strategy", .text)
                t.add(column: "direction", .text)
                t.add(column: "convergence", .text)
                t.add(column: "passes", .integer)
                t.add(column: "remainingBytesAtEnd", .integer)
                t.add(column: "transferRateMiBPerSecond", .double)
                t.add(column: "pingGapLowerBoundMilliseconds", .double)
                t.add(column: "pingGapUpperBoundMilliseconds", .double)
                t.add(column: "announceDelayMilliseconds", .double)
                t.add(column: "qemuSampledDirtyRateMiBPerSecond", .double)
                t.add(column: "overheadMilliseconds", .double)
            }
        }
        migrator.registerMigration("v4: memeater stall per thread") { db in
            try db.create(table: "memeaterThreadStall") { t in
                t.belongsTo("run", inTable: "scenarioRun").notNull()
                t.column("thread", .integer).notNull()
                t.column("maxStallMicroseconds", .integer).notNull()
                t.primaryKey(["runId", "thread"])
            }
        }
        return migrator
    }

    private func write<T>(_ what: String, _ body: (Database) throws -> T) throws(VerifierError) -> T {
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

    /// Records that a run starts, with all its parameters (and the sweep it is made for);
    /// returns its id.
    public func beginRun(_ parameters: ScenarioParameters, startedAt: Date = Date(), sweepID: String? = nil) throws(VerifierError) -> Int64 {
        try write("insert run") { db in
            let m = parameters.migration
            let e = parameters.endpoints
            try db.execute(sql: """
                INSERT INTO scenarioRun (status, parameterKey, scenario, memoryMiB, memeaterSizeMiB, dirtyRateMiBPerSecond,
                  guestKind, emulator, sourceURI, destinationURI, domainName, guestAddress, migrationMode,
                  bandwidthMiBPerSecond, qemuMaxDowntimeMilliseconds, autoConverge, postCopy, parallelConnections,
                  compression, timeoutSeconds, stallTimeoutSeconds, requireZeroLoss, maxPingDowntimeMilliseconds,
                  pingIntervalMicroseconds, roundTrip, startedAt)
                VALUES ('running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [
                    parameters.key, parameters.scenario.rawValue, parameters.memoryMiB, parameters.memeaterSizeMiB,
                    parameters.dirtyRateMiBPerSecond, parameters.guestKind, parameters.emulator, e.sourceURI,
                    e.destinationURI, e.domainName, e.guestAddress, m.mode.rawValue,
                    m.bandwidthMiBPerSecond.map { Int64(clamping: $0) }, m.qemuMaxDowntimeMilliseconds.map { Int64(clamping: $0) },
                    m.autoConverge, m.postCopy, m.parallelConnections, m.compressionMethods.joined(separator: ","),
                    parameters.timeoutSeconds, parameters.stallTimeoutSeconds, parameters.requireZeroLoss,
                    parameters.maxPingDowntimeMilliseconds, parameters.pingIntervalMicroseconds, parameters.roundTrip,
                    startedAt,
                ])
            let id = db.lastInsertedRowID
            try db.execute(sql: "UPDATE scenarioRun SET sweepId = ?, memeaterPattern = ?, strategy = ? WHERE id = ?",
                           arguments: [sweepID, parameters.effectiveMemeaterLoad.description, m.strategyLabel, id])
            return id
        }
    }

    /// Stores a job-stats sample of run `runID`.
    public func add(_ sample: JobSample, runID: Int64) throws(VerifierError) {
        try write("insert job sample") { db in
            try db.execute(sql: """
                INSERT INTO jobSample (runId, side, offsetMilliseconds, jobType, timeElapsedMilliseconds, dataProcessedBytes,
                  dataRemainingBytes, dataTotalBytes, memoryDirtyRatePagesPerSecond, memoryDirtyRateBytesPerSecond,
                  memoryIteration, memoryBandwidthBytesPerSecond, expectedDowntimeMilliseconds, autoConvergeThrottlePercent)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [
                    runID, sample.side, sample.offsetMilliseconds, sample.jobType,
                    sample.timeElapsedMilliseconds.map { Int64(clamping: $0) }, sample.dataProcessedBytes.map { Int64(clamping: $0) },
                    sample.dataRemainingBytes.map { Int64(clamping: $0) }, sample.dataTotalBytes.map { Int64(clamping: $0) },
                    sample.memoryDirtyRatePagesPerSecond.map { Int64(clamping: $0) },
                    sample.memoryDirtyRateBytesPerSecond.map { Int64(clamping: $0) },
                    sample.memoryIteration.map { Int64(clamping: $0) }, sample.memoryBandwidthBytesPerSecond.map { Int64(clamping: $0) },
                    sample.expectedDowntimeMilliseconds.map { Int64(clamping: $0) },
                    sample.autoConvergeThrottlePercent.map { Int64(clamping: $0) },
                ])
        }
    }

    /// Stores a ping sample of run `runID`.
    public func add(_ sample: PingSample, runID: Int64) throws(VerifierError) {
        try write("insert ping sample") { db in
            try db.execute(sql: """
                INSERT INTO pingSample (runId, offsetMilliseconds, probesSent, repliesReceived, lost, currentGapMilliseconds,
                  longestGapMilliseconds) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [runID, sample.offsetMilliseconds, sample.probesSent, sample.repliesReceived, sample.lost,
                                 sample.currentGapMilliseconds, sample.longestGapMilliseconds])
        }
    }

    /// Stores a memeater reading of run `runID`.
    public func add(_ reading: MemeaterReading, runID: Int64) throws(VerifierError) {
        try write("insert memeater reading") { db in
            try db.execute(sql: """
                INSERT INTO memeaterSample (runId, offsetMilliseconds, memeaterElapsedSeconds, pagesDirtied, achievedPagesPerSecond)
                VALUES (?, ?, ?, ?, ?)
                """, arguments: [runID, reading.offsetMilliseconds, reading.memeaterElapsedSeconds,
                                 Int64(clamping: reading.pagesDirtied), reading.achievedPagesPerSecond])
        }
    }

    /// The memeater readings of a run, in order.
    public func memeaterReadings(runID: Int64) throws(VerifierError) -> [MemeaterReading] {
        try read("read memeater readings") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM memeaterSample WHERE runId = ? ORDER BY id", arguments: [runID]).map { row in
                MemeaterReading(offsetMilliseconds: row["offsetMilliseconds"], memeaterElapsedSeconds: row["memeaterElapsedSeconds"],
                                pagesDirtied: UInt64(clamping: row["pagesDirtied"] as Int64), achievedPagesPerSecond: row["achievedPagesPerSecond"])
            }
        }
    }

    /// Stores a domain event of run `runID`.
    public func add(_ event: EventRecord, runID: Int64) throws(VerifierError) {
        try write("insert event") { db in
            try db.execute(sql: "INSERT INTO event (runId, offsetMilliseconds, host, description) VALUES (?, ?, ?, ?)",
                           arguments: [runID, event.offsetMilliseconds, event.host, event.description])
        }
    }

    /// Stores the finished result of run `runID`: its figures, checks and full JSON, with the
    /// result's status (`completed`, `setup-failed` or `interrupted`).
    public func finishRun(_ runID: Int64, result: ScenarioResult) throws(VerifierError) {
        var result = result
        result.runID = runID
        let json: String
        do {
            json = String(decoding: try resultsJSONEncoder(pretty: false).encode(result), as: UTF8.self)
        } catch {
            throw .store(path: path, reason: "encode result: \(error)")
        }
        try write("store result") { db in
            try db.execute(sql: """
                UPDATE scenarioRun SET status = ?, finishedAt = ?, passed = ?, accel = ?, qemuVersion = ?,
                  libvirtVersion = ?, migrationMilliseconds = ?, libvirtDowntimeMilliseconds = ?, pingDowntimeMilliseconds = ?,
                  pingLost = ?, integrityErrors = ?, achievedDirtyRateMiBPerSecond = ?, libvirtDirtyRateMiBPerSecond = ?,
                  setupMilliseconds = ?, transferredBytes = ?, iterations = ?, maxStallMicroseconds = ?, libvirtError = ?,
                  resultJSON = ?
                WHERE id = ?
                """, arguments: [
                    result.status.rawValue, result.finishedAt, result.passed, result.accel, result.qemuVersion, result.libvirtVersion,
                    result.migrationMilliseconds, result.libvirtDowntimeMilliseconds, result.pingDowntimeMilliseconds,
                    result.pingLost, result.integrityErrors, result.achievedDirtyRateMiBPerSecond,
                    result.libvirtDirtyRateMiBPerSecond, result.setupMilliseconds,
                    result.transferredBytes.map { Int64(clamping: $0) }, result.iterations,
                    result.maxStallMicroseconds.map { Int64(clamping: $0) }, result.libvirtError, json, runID,
                ])
            let f = result.figures
            try db.execute(sql: """
                UPDATE scenarioRun SET direction = ?, convergence = ?, passes = ?, remainingBytesAtEnd = ?,
                  transferRateMiBPerSecond = ?, pingGapLowerBoundMilliseconds = ?, pingGapUpperBoundMilliseconds = ?,
                  announceDelayMilliseconds = ?, qemuSampledDirtyRateMiBPerSecond = ?, overheadMilliseconds = ?
                WHERE id = ?
                """, arguments: [
                    f.direction, f.convergence?.rawValue, f.passes, f.remainingBytesAtEnd.map { Int64(clamping: $0) },
                    f.transferRateMiBPerSecond, f.pingGapLowerBoundMilliseconds, f.pingGapUpperBoundMilliseconds,
                    f.announceDelayMilliseconds(libvirtDowntimeMilliseconds: result.libvirtDowntimeMilliseconds),
                    f.qemuSampledDirtyRateMiBPerSecond, f.overheadMilliseconds, runID,
                ])
            try db.execute(sql: "DELETE FROM checkResult WHERE runId = ?", arguments: [runID])
            for (position, check) in result.checks.enumerated() {
                try db.execute(sql: "INSERT INTO checkResult (runId, position, name, passed, evidence) VALUES (?, ?, ?, ?, ?)",
                               arguments: [runID, position, check.name, check.passed, check.evidence])
            }
            try db.execute(sql: "DELETE FROM memeaterThreadStall WHERE runId = ?", arguments: [runID])
            for (thread, stall) in (result.maxStallMicrosecondsPerThread ?? []).enumerated() {
                try db.execute(sql: "INSERT INTO memeaterThreadStall (runId, thread, maxStallMicroseconds) VALUES (?, ?, ?)",
                               arguments: [runID, thread, Int64(clamping: stall)])
            }
        }
    }

    /// Each memeater worker thread's longest stall in run `runID`, µs, in thread order (empty:
    /// not measured).
    public func threadStalls(runID: Int64) throws(VerifierError) -> [UInt64] {
        try read("read memeater thread stalls") { db in
            try Int64.fetchAll(db, sql: "SELECT maxStallMicroseconds FROM memeaterThreadStall WHERE runId = ? ORDER BY thread",
                               arguments: [runID]).map { UInt64(clamping: $0) }
        }
    }

    /// The most recent completed run with exactly these parameters, if any (with
    /// `passedOnly`: the most recent one, if it passed). Runs that could not be set up or
    /// were interrupted are never results and never returned.
    public func completedRun(matching parameters: ScenarioParameters, passedOnly: Bool = false) throws(VerifierError) -> StoredRun? {
        try read("find completed run") { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT id, status, parameterKey, startedAt, finishedAt, resultJSON, passed FROM scenarioRun
                WHERE parameterKey = ? AND status = 'completed' ORDER BY id DESC LIMIT 1
                """, arguments: [parameters.key]) else { return nil }
            if passedOnly, row["passed"] as Bool? != true { return nil }
            return try Self.storedRun(row)
        }
    }

    /// Every run, oldest first.
    public func runs() throws(VerifierError) -> [StoredRun] {
        try read("list runs") { db in
            try Row.fetchAll(db, sql: "SELECT id, status, parameterKey, startedAt, finishedAt, resultJSON FROM scenarioRun ORDER BY id")
                .map { try Self.storedRun($0) }
        }
    }

    private static func storedRun(_ row: Row) throws -> StoredRun {
        try storedRun(row, id: row["id"])
    }

    /// A run from a row holding its `status`, `parameterKey`, `startedAt`, `finishedAt` and
    /// `resultJSON`. A result that cannot be decoded is an error, not a run without result:
    /// otherwise a completed run would silently be run again.
    private static func storedRun(_ row: Row, id: Int64) throws -> StoredRun {
        var result: ScenarioResult?
        if let json: String = row["resultJSON"] {
            do {
                result = try resultsJSONDecoder().decode(ScenarioResult.self, from: Data(json.utf8))
            } catch {
                throw UnreadableResult(runID: id, reason: "\(error)")
            }
        }
        return StoredRun(id: id, status: row["status"], parameterKey: row["parameterKey"],
                         startedAt: row["startedAt"], finishedAt: row["finishedAt"], result: result)
    }

    /// A stored result that no longer decodes (a newer or damaged database).
    private struct UnreadableResult: Error, CustomStringConvertible {
        var runID: Int64
        var reason: String
        var description: String { "run #\(runID) has an unreadable result: \(reason)" }
    }

    /// The job-stats samples of a run, in order.
    public func jobSamples(runID: Int64) throws(VerifierError) -> [JobSample] {
        try read("read job samples") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM jobSample WHERE runId = ? ORDER BY id", arguments: [runID]).map { row in
                func unsigned(_ column: String) -> UInt64? { (row[column] as Int64?).map { UInt64(clamping: $0) } }
                return JobSample(side: row["side"], offsetMilliseconds: row["offsetMilliseconds"], jobType: row["jobType"],
                                 timeElapsedMilliseconds: unsigned("timeElapsedMilliseconds"),
                                 dataProcessedBytes: unsigned("dataProcessedBytes"),
                                 dataRemainingBytes: unsigned("dataRemainingBytes"), dataTotalBytes: unsigned("dataTotalBytes"),
                                 memoryDirtyRatePagesPerSecond: unsigned("memoryDirtyRatePagesPerSecond"),
                                 memoryDirtyRateBytesPerSecond: unsigned("memoryDirtyRateBytesPerSecond"),
                                 memoryIteration: unsigned("memoryIteration"),
                                 memoryBandwidthBytesPerSecond: unsigned("memoryBandwidthBytesPerSecond"),
                                 expectedDowntimeMilliseconds: unsigned("expectedDowntimeMilliseconds"),
                                 autoConvergeThrottlePercent: unsigned("autoConvergeThrottlePercent"))
            }
        }
    }

    /// The ping samples of a run, in order.
    public func pingSamples(runID: Int64) throws(VerifierError) -> [PingSample] {
        try read("read ping samples") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM pingSample WHERE runId = ? ORDER BY id", arguments: [runID]).map { row in
                PingSample(offsetMilliseconds: row["offsetMilliseconds"], probesSent: row["probesSent"],
                           repliesReceived: row["repliesReceived"], lost: row["lost"],
                           currentGapMilliseconds: row["currentGapMilliseconds"], longestGapMilliseconds: row["longestGapMilliseconds"])
            }
        }
    }

    /// The events of a run, in order.
    public func events(runID: Int64) throws(VerifierError) -> [EventRecord] {
        try read("read events") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM event WHERE runId = ? ORDER BY id", arguments: [runID]).map { row in
                EventRecord(offsetMilliseconds: row["offsetMilliseconds"], host: row["host"], description: row["description"])
            }
        }
    }

    // MARK: sweeps

    /// Opens sweep `id` with `slots` (its runs, in order): creates it when new; when it exists,
    /// its stored matrix slots must be these (a re-run resumes it; slots a boundary search
    /// appended are kept), or the call fails naming the difference. Returns whether it was created.
    @discardableResult
    public func openSweep(id: String, kind: SweepKind, commandLine: String, definitionJSON: String,
                          slots: [ScenarioParameters], createdAt: Date = Date()) throws(VerifierError) -> Bool {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var encoded: [(key: String, json: String)] = []
        for parameters in slots {
            do {
                encoded.append((parameters.key, String(decoding: try encoder.encode(parameters), as: UTF8.self)))
            } catch {
                throw .store(path: path, reason: "encode the parameters of \(parameters.label): \(error)")
            }
        }
        let stored = try read("read sweep \(id)") { db in
            try String.fetchAll(db, sql: "SELECT parameterKey FROM sweepSlot WHERE sweepId = ? AND origin = 'matrix' ORDER BY position",
                                arguments: [id])
        }
        let exists = try read("read sweep \(id)") { db in try Bool.fetchOne(db, sql: "SELECT 1 FROM sweep WHERE id = ?", arguments: [id]) } ?? false
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
            try db.execute(sql: "INSERT INTO sweep (id, kind, createdAt, commandLine, definitionJSON) VALUES (?, ?, ?, ?, ?)",
                           arguments: [id, kind.rawValue, createdAt, commandLine, definitionJSON])
            for (position, slot) in encoded.enumerated() {
                try db.execute(sql: "INSERT INTO sweepSlot (sweepId, position, parameterKey, parametersJSON) VALUES (?, ?, ?, ?)",
                               arguments: [id, position, slot.key, slot.json])
            }
        }
        return true
    }

    /// Adds slots at the end of sweep `id` (a bisection's next rate); returns their positions.
    public func appendSlots(sweepID: String, _ slots: [ScenarioParameters]) throws(VerifierError) -> [Int] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try write("extend sweep \(sweepID)") { db in
            var next = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(position) + 1, 0) FROM sweepSlot WHERE sweepId = ?", arguments: [sweepID]) ?? 0
            var positions: [Int] = []
            for parameters in slots {
                try db.execute(sql: "INSERT INTO sweepSlot (sweepId, position, parameterKey, parametersJSON, origin) VALUES (?, ?, ?, ?, 'boundary')",
                               arguments: [sweepID, next, parameters.key, String(decoding: try encoder.encode(parameters), as: UTF8.self)])
                positions.append(next)
                next += 1
            }
            return positions
        }
    }

    /// Records that run `runID` stands for slot `position` of sweep `sweepID`.
    public func assign(runID: Int64, sweepID: String, position: Int) throws(VerifierError) {
        try write("assign run \(runID) to sweep \(sweepID)") { db in
            try db.execute(sql: "UPDATE sweepSlot SET runId = ? WHERE sweepId = ? AND position = ?", arguments: [runID, sweepID, position])
        }
    }

    /// Sweep `id`, or `nil` when the database has none of that id.
    public func sweep(id: String) throws(VerifierError) -> StoredSweep? {
        try read("read sweep \(id)") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM sweep WHERE id = ?", arguments: [id]).map(Self.storedSweep)
        }
    }

    /// Every sweep, oldest first.
    public func sweeps() throws(VerifierError) -> [StoredSweep] {
        try read("list sweeps") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM sweep ORDER BY createdAt, id").map(Self.storedSweep)
        }
    }

    private static func storedSweep(_ row: Row) -> StoredSweep {
        StoredSweep(id: row["id"], kind: SweepKind(rawValue: row["kind"]) ?? .sweep, createdAt: row["createdAt"],
                    commandLine: row["commandLine"], definitionJSON: row["definitionJSON"])
    }

    /// The slots of sweep `id`, in order, each with the run that stands for it, if any.
    public func slots(sweepID: String) throws(VerifierError) -> [SweepSlot] {
        let rows = try read("read the slots of sweep \(sweepID)") { db in
            try Row.fetchAll(db, sql: """
                SELECT s.position, s.parametersJSON, s.runId, r.status, r.startedAt, r.finishedAt, r.parameterKey, r.resultJSON
                FROM sweepSlot s LEFT JOIN scenarioRun r ON r.id = s.runId
                WHERE s.sweepId = ? ORDER BY s.position
                """, arguments: [sweepID])
        }
        var slots: [SweepSlot] = []
        for row in rows {
            let json: String = row["parametersJSON"]
            let parameters: ScenarioParameters
            do {
                parameters = try JSONDecoder().decode(ScenarioParameters.self, from: Data(json.utf8))
            } catch {
                throw .store(path: path, reason: "slot \(row["position"] as Int? ?? -1) of sweep \(sweepID) has unreadable parameters: \(error)")
            }
            var run: StoredRun?
            if let runID: Int64 = row["runId"] {
                do {
                    run = try Self.storedRun(row, id: runID)
                } catch {
                    throw .store(path: path, reason: "slot \(row["position"] as Int? ?? -1) of sweep \(sweepID): \(error)")
                }
            }
            slots.append(SweepSlot(position: row["position"], parameters: parameters, run: run))
        }
        return slots
    }

    /// Runs a read-only SQL query and returns the first column of the first row as a
    /// 64-bit integer (for tests and reports).
    public func scalar(_ sql: String, arguments: [Int64] = []) throws(VerifierError) -> Int64? {
        try read("query") { db in try Int64.fetchOne(db, sql: sql, arguments: StatementArguments(arguments)) }
    }
}
