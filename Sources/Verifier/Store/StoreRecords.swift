import Foundation
import GRDB

// The rows of the results database as GRDB records: each column is declared once, as a
// property, and written with the record's insert or update. The migrations in
// ResultsStore.swift are the schema's history (an old database is brought up to date by
// them) and stay as they were shipped; `DocsQueriesTests` checks that every column below
// exists in the migrated schema by writing and reading each table.

extension RunStatus: DatabaseValueConvertible {}

/// One row of `scenarioRun`: the run's parameters (written when it starts), its verdict and
/// figures (when it ends) and the whole result as JSON. Every figure is `NULL` when it was
/// not measured.
struct ScenarioRunRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "scenarioRun"

    /// The run id; `nil` until inserted.
    var id: Int64?
    var status: RunStatus
    var parameterKey: String
    var scenario: String
    var memoryMiB: Int
    var memeaterSizeMiB: Int
    var dirtyRateMiBPerSecond: Double
    var guestKind: String
    var emulator: String
    var sourceURI: String
    var destinationURI: String
    var domainName: String
    var guestAddress: String
    var migrationMode: MigrationMode
    var bandwidthMiBPerSecond: Int64?
    var qemuMaxDowntimeMilliseconds: Int64?
    var autoConverge: Bool
    var postCopy: Bool
    var parallelConnections: Int?
    /// Compression methods, comma-separated; empty: none.
    var compression: String
    var timeoutSeconds: Double
    var stallTimeoutSeconds: Double
    var requireZeroLoss: Bool
    var maxPingDowntimeMilliseconds: Double
    var pingIntervalMicroseconds: Int
    var roundTrip: Bool
    var sweepId: String?
    /// The evacuation the run was one guest of, and which guest, from 1 (`nil`: one guest alone).
    var evacuationId: String?
    var guestIndex: Int?
    var memeaterPattern: String?
    var strategy: String?
    var startedAt: Date
    var finishedAt: Date?
    // The verdict and figures, once the run ended.
    var passed: Bool?
    var accel: String?
    var qemuVersion: String?
    var libvirtVersion: String?
    var migrationMilliseconds: Double?
    var libvirtDowntimeMilliseconds: Double?
    var pingDowntimeMilliseconds: Double?
    var pingLost: Int?
    var integrityErrors: Int?
    var achievedDirtyRateMiBPerSecond: Double?
    var libvirtDirtyRateMiBPerSecond: Double?
    var setupMilliseconds: Double?
    var transferredBytes: Int64?
    var iterations: Int?
    var maxStallMicroseconds: Int64?
    var libvirtError: String?
    var direction: MigrationDirection?
    var convergence: Convergence?
    var passes: Int?
    var remainingBytesAtEnd: Int64?
    var transferRateMiBPerSecond: Double?
    var pingGapLowerBoundMilliseconds: Double?
    var pingGapUpperBoundMilliseconds: Double?
    var announceDelayMilliseconds: Double?
    var pingGapLateProbes: Int?
    var qemuSampledDirtyRateMiBPerSecond: Double?
    var overheadMilliseconds: Double?
    /// The whole result (``ScenarioResult``) as JSON.
    var resultJSON: String?

    /// The columns queries filter and sort on.
    enum Columns {
        static let id = Column(CodingKeys.id)
        static let status = Column(CodingKeys.status)
        static let parameterKey = Column(CodingKeys.parameterKey)
        static let evacuationId = Column(CodingKeys.evacuationId)
        static let guestIndex = Column(CodingKeys.guestIndex)
    }

    /// The row of a run that starts now: every parameter, status `running`.
    init(starting parameters: ScenarioParameters, startedAt: Date, sweepID: String?, evacuation: EvacuationMembership? = nil) {
        let migration = parameters.migration
        let endpoints = parameters.endpoints
        status = .running
        parameterKey = parameters.key
        scenario = parameters.scenario.rawValue
        memoryMiB = parameters.memoryMiB
        memeaterSizeMiB = parameters.memeaterSizeMiB
        dirtyRateMiBPerSecond = parameters.dirtyRateMiBPerSecond
        guestKind = parameters.guestKind
        emulator = parameters.emulator
        sourceURI = endpoints.sourceURI
        destinationURI = endpoints.destinationURI
        domainName = endpoints.domainName
        guestAddress = endpoints.guestAddress
        migrationMode = migration.mode
        bandwidthMiBPerSecond = migration.bandwidthMiBPerSecond.map { Int64(clamping: $0) }
        qemuMaxDowntimeMilliseconds = migration.qemuMaxDowntimeMilliseconds.map { Int64(clamping: $0) }
        autoConverge = migration.autoConverge
        postCopy = migration.postCopy
        parallelConnections = migration.parallelConnections
        compression = migration.compressionMethods.joined(separator: ",")
        timeoutSeconds = parameters.timeoutSeconds
        stallTimeoutSeconds = parameters.stallTimeoutSeconds
        requireZeroLoss = parameters.requireZeroLoss
        maxPingDowntimeMilliseconds = parameters.maxPingDowntimeMilliseconds
        pingIntervalMicroseconds = parameters.pingIntervalMicroseconds
        roundTrip = parameters.roundTrip
        sweepId = sweepID
        evacuationId = evacuation?.evacuationID
        guestIndex = evacuation?.guestIndex
        memeaterPattern = parameters.effectiveMemeaterLoad.description
        strategy = migration.strategyLabel
        self.startedAt = startedAt
    }

    /// Takes the verdict and figures of the ended run's `result`, stored whole as `resultJSON`.
    mutating func takeResult(_ result: ScenarioResult, json: String) {
        status = result.status
        finishedAt = result.finishedAt
        passed = result.passed
        accel = result.accel
        qemuVersion = result.qemuVersion
        libvirtVersion = result.libvirtVersion
        migrationMilliseconds = result.migrationMilliseconds
        libvirtDowntimeMilliseconds = result.libvirtDowntimeMilliseconds
        pingDowntimeMilliseconds = result.pingDowntimeMilliseconds
        pingLost = result.pingLost
        integrityErrors = result.integrityErrors
        achievedDirtyRateMiBPerSecond = result.achievedDirtyRateMiBPerSecond
        libvirtDirtyRateMiBPerSecond = result.libvirtDirtyRateMiBPerSecond
        setupMilliseconds = result.setupMilliseconds
        transferredBytes = result.transferredBytes.map { Int64(clamping: $0) }
        iterations = result.iterations
        maxStallMicroseconds = result.maxStallMicroseconds.map { Int64(clamping: $0) }
        libvirtError = result.libvirtError
        let figures = result.figures
        direction = figures.direction
        convergence = figures.convergence
        passes = figures.passes
        remainingBytesAtEnd = figures.remainingBytesAtEnd.map { Int64(clamping: $0) }
        transferRateMiBPerSecond = figures.transferRateMiBPerSecond
        pingGapLowerBoundMilliseconds = figures.pingGapLowerBoundMilliseconds
        pingGapUpperBoundMilliseconds = figures.pingGapUpperBoundMilliseconds
        pingGapLateProbes = figures.pingGapLateProbes
        announceDelayMilliseconds = figures.announceDelayMilliseconds(libvirtDowntimeMilliseconds: result.libvirtDowntimeMilliseconds)
        qemuSampledDirtyRateMiBPerSecond = figures.qemuSampledDirtyRateMiBPerSecond
        overheadMilliseconds = figures.overheadMilliseconds
        resultJSON = json
    }
}

/// One row of `checkResult`: a check of a run, at its place in the run's list.
struct CheckRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "checkResult"

    var id: Int64?
    var runId: Int64
    /// Order within the run, from 0.
    var position: Int
    var name: String
    var passed: Bool
    var evidence: String

    enum Columns {
        static let runId = Column(CodingKeys.runId)
        static let position = Column(CodingKeys.position)
    }

    /// The row of `check`, the `position`-th of run `runID`.
    init(_ check: Check, position: Int, runID: Int64) {
        runId = runID
        self.position = position
        name = check.name
        passed = check.passed
        evidence = check.evidence
    }

    /// The check it stores.
    var check: Check { Check(name: name, passed: passed, evidence: evidence) }
}

/// One row of `memeaterThreadStall`: one memeater worker's longest stall in a run.
struct MemeaterThreadStallRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "memeaterThreadStall"

    var runId: Int64
    /// The worker, from 0.
    var thread: Int
    var maxStallMicroseconds: Int64

    enum Columns {
        static let runId = Column(CodingKeys.runId)
        static let thread = Column(CodingKeys.thread)
    }
}

/// One row of `observation`: what the checks of one migration of a run judged, as JSON.
struct ObservationRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "observation"

    var id: Int64?
    var runId: Int64
    var leg: MigrationLeg
    /// The ``Observation`` as JSON (``resultsJSONEncoder(pretty:)``, compact).
    var observationJSON: String

    enum Columns {
        static let runId = Column(CodingKeys.runId)
        static let leg = Column(CodingKeys.leg)
    }
}

/// Where a sweep's slot came from.
enum SlotOrigin: String, Codable {
    /// A run of the sweep's matrix.
    case matrix
    /// Appended by the boundary search (`--find-boundary`).
    case boundary
}

/// One row of `sweepSlot`: a run a sweep asks for, and the run that stands for it.
struct SweepSlotRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "sweepSlot"

    var sweepId: String
    /// Place in the sweep, from 0.
    var position: Int
    var parameterKey: String
    /// The slot's parameters (``ScenarioParameters``) as JSON with sorted keys.
    var parametersJSON: String
    var runId: Int64?
    var origin: SlotOrigin

    enum Columns {
        static let sweepId = Column(CodingKeys.sweepId)
        static let position = Column(CodingKeys.position)
        static let runId = Column(CodingKeys.runId)
        static let origin = Column(CodingKeys.origin)
    }
}

extension StoredSweep: FetchableRecord, PersistableRecord {
    /// The table of its rows.
    public static let databaseTableName = "sweep"
}

// MARK: the time series

extension JobSample: FetchableRecord, TableRecord {
    /// The table of its rows.
    public static let databaseTableName = "jobSample"
}

extension PingSample: FetchableRecord, TableRecord {
    /// The table of its rows.
    public static let databaseTableName = "pingSample"
}

extension EventRecord: FetchableRecord, TableRecord {
    /// The table of its rows.
    public static let databaseTableName = "event"
}

extension MemeaterReading: FetchableRecord, TableRecord {
    /// The table of its rows.
    public static let databaseTableName = "memeaterSample"
}

/// A time-series record (a job sample, a ping sample, an event, a memeater reading) as the
/// row of its table: its own columns and `runId`.
///
/// The record's columns are its `Codable` keys, written through JSON rather than GRDB's
/// record encoder: that encoder converts a `UInt64` with `Int64(_:)`, which traps above
/// `Int64.max`, and libvirt's and memeater's counters are external data. Here such a value is
/// stored as `Int64.max`, as SQLite's integers end there.
struct RunTimeSeriesRow<Record: Encodable & TableRecord>: PersistableRecord {
    static var databaseTableName: String { Record.databaseTableName }

    var runID: Int64
    var record: Record

    func encode(to container: inout PersistenceContainer) throws {
        container["runId"] = runID
        for (column, value) in try Self.columns(of: record) { container[column] = value }
    }

    /// The keys of `record`'s JSON object and their values, in key order.
    static func columns(of record: Record) throws -> [(column: String, value: DatabaseValue)] {
        let json = try resultsJSONEncoder(pretty: false).encode(record)
        return try JSONDecoder().decode([String: ColumnValue].self, from: json)
            .sorted { $0.key < $1.key }
            .map { ($0.key, $0.value.databaseValue) }
    }

    /// One value of a flat JSON object, as SQLite stores it.
    private struct ColumnValue: Decodable {
        var databaseValue: DatabaseValue

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                databaseValue = .null
            } else if let flag = try? container.decode(Bool.self) {
                databaseValue = flag.databaseValue
            } else if let integer = try? container.decode(Int64.self) {
                databaseValue = integer.databaseValue
            } else if let large = try? container.decode(UInt64.self) {
                databaseValue = Int64(clamping: large).databaseValue
            } else if let real = try? container.decode(Double.self) {
                databaseValue = real.databaseValue
            } else {
                // A string, or something a column cannot hold (a nested value): that fails here.
                databaseValue = try container.decode(String.self).databaseValue
            }
        }
    }
}
