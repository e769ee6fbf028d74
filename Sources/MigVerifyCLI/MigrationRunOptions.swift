import ArgumentParser
import Foundation
import MigrationModel
import Verifier

/// How every migration of the matrix is driven and judged, the same in each cell: libvirt's
/// migration settings (``migrationOptions``, the Verifier's `MigrationOptions`), the round
/// trip, the timeouts and the ping limits (``template(endpoints:)``).
struct MigrationRunOptions: ParsableArguments {
    @Flag(name: .customLong("back"), help: "live: after landing, migrate back to the source and check the second landing too (checks prefixed back-).")
    var back = false

    @Option(help: """
        Who drives the migration: p2p (the default: the source's daemon talks to the destination's, \
        VIR_MIGRATE_PEER2PEER, `virsh migrate --p2p`) or client-managed (migverify drives both daemons, \
        `virsh migrate` without --p2p; not virsh's --direct, which is unmanaged direct migration).
        """)
    var migrationMode: MigrationMode?

    /// `--direct`, the old name of `--migration-mode client-managed`: hidden from the help,
    /// still accepted (it is not virsh's `--direct`).
    @Flag(name: .customLong("direct"), help: ArgumentHelp("Old name of --migration-mode client-managed.", visibility: .hidden))
    var direct = false

    @Option(name: .customLong("qemu-max-downtime-ms"), help: """
        Longest switch-over pause QEMU may plan for, in ms (virDomainMigrateSetMaxDowntime; default: QEMU's 300). \
        A setting of the migration, not a check: --max-ping-gap-ms is what the verifier checks.
        """)
    var qemuMaxDowntimeMilliseconds: UInt64?

    @Flag(help: "Throttle the guest's vCPUs when it dirties faster than the copy (auto-converge).")
    var autoConverge = false

    @Flag(help: "Allow post-copy; the verifier switches to it after the first pass.")
    var postcopy = false

    @Option(help: "Parallel (multifd) migration connections, 2-255.")
    var parallelConnections: Int?

    @Option(help: "Compression methods, comma-separated: xbzrle, mt (single stream); zlib, zstd (with --parallel-connections).",
            transform: { try CommaSeparated<String>(parsing: $0) })
    var compression: CommaSeparated<String>?

    @Option(name: .customLong("timeout-seconds"), help: "Abort a migration still running after this many seconds.")
    var timeoutSeconds: Double = 120

    @Option(name: .customLong("stall-timeout-seconds"), help: "Abort a migration that transferred nothing new for this many seconds.")
    var stallTimeoutSeconds: Double = 15

    @Flag(help: "Any lost ping fails the ping check.")
    var requireZeroLoss = false

    @Option(name: .customLong("max-ping-gap-ms"), help: """
        Longest gap between ping replies the live scenario accepts, in ms (default: 2000): a check the verifier \
        makes with pingmon, unlike --qemu-max-downtime-ms, which QEMU is told.
        """)
    var maxPingGapMilliseconds: Double?

    /// `--max-downtime-ms`, the old name of `--max-ping-gap-ms`: hidden from the help, still accepted.
    @Option(name: .customLong("max-downtime-ms"), help: ArgumentHelp("Old name of --max-ping-gap-ms.", visibility: .hidden))
    var oldMaxDowntimeMilliseconds: Double?

    @Option(name: .customLong("ping-interval-microseconds"), help: "pingmon's probe interval in µs.")
    var pingIntervalMicroseconds = 1000

    /// The migration mode asked for: `--migration-mode`, or client-managed for `--direct`.
    var chosenMigrationMode: MigrationMode {
        direct ? .clientManaged : migrationMode ?? .peerToPeer
    }

    /// The longest ping gap the live scenario accepts, in ms: `--max-ping-gap-ms` or its old name.
    var maxPingGap: Double {
        maxPingGapMilliseconds ?? oldMaxDowntimeMilliseconds ?? 2000
    }

    /// The checks that need no other group: an old name against its new one, the ping gap's
    /// bounds. The rest (connections, compression, timeouts) is checked with each run's
    /// parameters (`MigrationOptions.validate()`), when the plan is made.
    func validate() throws {
        if direct, migrationMode == .peerToPeer {
            throw ValidationError("--direct is the old name of --migration-mode client-managed and contradicts --migration-mode p2p")
        }
        if maxPingGapMilliseconds != nil, oldMaxDowntimeMilliseconds != nil {
            throw ValidationError("--max-downtime-ms is the old name of --max-ping-gap-ms: give only --max-ping-gap-ms")
        }
        let gapOption = oldMaxDowntimeMilliseconds != nil ? "--max-downtime-ms (old name of --max-ping-gap-ms)" : "--max-ping-gap-ms"
        guard maxPingGap > 0, maxPingGap <= ScenarioParameters.maximumPingGapMilliseconds else {
            throw ValidationError("\(gapOption) must be more than 0 and at most \(formatNumber(ScenarioParameters.maximumPingGapMilliseconds)), not \(maxPingGap)")
        }
    }

    /// libvirt's migration settings these options ask for; the bandwidth is the matrix's
    /// (`--bandwidth-mib-per-second`), set per cell.
    var migrationOptions: MigrationOptions {
        MigrationOptions(
            mode: chosenMigrationMode, bandwidthMiBPerSecond: nil,
            qemuMaxDowntimeMilliseconds: qemuMaxDowntimeMilliseconds, autoConverge: autoConverge, postCopy: postcopy,
            parallelConnections: parallelConnections,
            compressionMethods: compression?.elements ?? [])
    }

    /// The parameters every run on `endpoints` shares; the matrix's cells set the scenario,
    /// the sizes, the rate, the load, the strategy, the emulator and the guest.
    func template(endpoints: Endpoints) -> ScenarioParameters {
        ScenarioParameters(
            scenario: .live, memoryMiB: 1024, memeaterSizeMiB: 512, dirtyRateMiBPerSecond: 50,
            endpoints: endpoints, migration: migrationOptions, timeoutSeconds: timeoutSeconds,
            stallTimeoutSeconds: stallTimeoutSeconds, requireZeroLoss: requireZeroLoss,
            maxPingDowntimeMilliseconds: maxPingGap, pingIntervalMicroseconds: pingIntervalMicroseconds,
            roundTrip: back)
    }
}
