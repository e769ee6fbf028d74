import Foundation
import GRDB

/// The results database's schema, as the migrations that made it: each as shipped, never
/// changed (an older database is brought up to date by the ones it has not run). Each table's
/// row is a record in `StoreRecords.swift`; a test checks that both agree.
enum SchemaMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try createScenarioRun(db)
            try createCheckAndSampleTables(db)
        }
        migrator.registerMigration("v2: memeater readings", migrate: v2)
        migrator.registerMigration("v3: sweeps and analysis figures", migrate: v3)
        migrator.registerMigration("v4: memeater stall per thread", migrate: v4)
        migrator.registerMigration("v5: observations", migrate: v5)
        migrator.registerMigration("v6: held ping probes", migrate: v6)
        migrator.registerMigration("v7: evacuations", migrate: v7)
        return migrator
    }

    /// v1: one row per run, with its parameters and figures.
    private static func createScenarioRun(_ db: Database) throws {
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
    }

    /// v1: the checks and the time series of a run.
    private static func createCheckAndSampleTables(_ db: Database) throws {
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

    /// v2: memeater readings: memeater readings while the rate settles.
    private static func v2(_ db: Database) throws {
        try db.create(table: "memeaterSample") { t in
            t.autoIncrementedPrimaryKey("id")
            t.belongsTo("run", inTable: "scenarioRun").notNull()
            t.column("offsetMilliseconds", .double).notNull()
            t.column("memeaterElapsedSeconds", .double).notNull()
            t.column("pagesDirtied", .integer).notNull()
            t.column("achievedPagesPerSecond", .double).notNull()
        }
    }

    /// v3: sweeps and analysis figures: sweeps, their slots, and the analysis figures of a run.
    private static func v3(_ db: Database) throws {
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

    /// v4: memeater stall per thread: each memeater worker's longest stall.
    private static func v4(_ db: Database) throws {
        try db.create(table: "memeaterThreadStall") { t in
            t.belongsTo("run", inTable: "scenarioRun").notNull()
            t.column("thread", .integer).notNull()
            t.column("maxStallMicroseconds", .integer).notNull()
            t.primaryKey(["runId", "thread"])
        }
    }

    /// v5: observations: the observation of each leg of a run, for `rejudge`.
    private static func v5(_ db: Database) throws {
        try db.create(table: "observation") { t in
            t.autoIncrementedPrimaryKey("id")
            t.belongsTo("run", inTable: "scenarioRun").notNull()
            // `forward`: the run's migration; `back`: `--back`'s migration back.
            t.column("leg", .text).notNull()
            t.column("observationJSON", .text).notNull()
            t.uniqueKey(["runId", "leg"])
        }
    }

    /// v6: held ping probes: the probes the longest ping gap's outage held and answered late.
    private static func v6(_ db: Database) throws {
        try db.alter(table: "scenarioRun") { t in
            t.add(column: "pingGapLateProbes", .integer)
        }
    }

    /// v7: evacuations: the evacuation a run was one guest of, and which guest (`NULL`: a run
    /// of one guest alone, as every run before evacuations).
    private static func v7(_ db: Database) throws {
        try db.alter(table: "scenarioRun") { t in
            t.add(column: "evacuationId", .text).indexed()
            t.add(column: "guestIndex", .integer)
        }
    }
}
