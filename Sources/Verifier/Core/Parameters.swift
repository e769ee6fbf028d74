import Foundation
import Lab
import Libvirt
import MigrationModel

/// A scenario of the migration test case, by its CLI name (`live`, `perform-fail`, ...).
///
/// `live` is the success path; the others inject a fault and check what it left. Each
/// scenario is declared by its fault type (``Fault/scenario``) in the fault's own file, and
/// the known ones are those of ``FaultCatalog/standard``: adding a scenario is adding a fault.
public struct ScenarioKind: RawRepresentable, Hashable, Sendable, Comparable, Codable, CaseIterable, CustomStringConvertible {
    /// The CLI name, also stored in results.
    public let rawValue: String

    /// A known scenario by its CLI name; `nil` for a name no fault of the standard catalog declares.
    public init?(rawValue: String) {
        guard FaultCatalog.standard.type(named: rawValue) != nil else { return nil }
        self.rawValue = rawValue
    }

    /// Declares a scenario; its fault type's file does this once.
    public init(declaring name: String) {
        rawValue = name
    }

    /// Every known scenario, in the catalog's (and the report's) order.
    public static var allCases: [ScenarioKind] { FaultCatalog.standard.types.map { $0.scenario } }

    /// What `migverify run` runs without `--scenario`.
    public static let defaults: [ScenarioKind] = [.live, .prepareFail, .performFail]

    /// Whether the run measures a migration nothing disturbed (only `live`): the pre-copy
    /// fit, the convergence boundary, a sweep cell's statistics and `--back` use these runs
    /// only (guest-link-cut lands too, but its ping gap is the fault's outage).
    public var measuresAnUndisturbedMigration: Bool {
        FaultCatalog.standard.type(named: rawValue)?.measuresAnUndisturbedMigration ?? false
    }

    public var description: String { rawValue }

    public static func < (lhs: ScenarioKind, rhs: ScenarioKind) -> Bool {
        let order = allCases
        return (order.firstIndex(of: lhs) ?? order.count, lhs.rawValue) < (order.firstIndex(of: rhs) ?? order.count, rhs.rawValue)
    }
}

/// Who drives the migration.
public enum MigrationMode: String, CaseIterable, Codable, Sendable {
    /// The source daemon talks to the destination daemon itself (`VIR_MIGRATE_PEER2PEER`,
    /// `virsh migrate --p2p`); `virDomainMigrateToURI3`.
    case peerToPeer = "p2p"
    /// The client drives both daemons (libvirt's "managed direct" migration,
    /// `virDomainMigrate3` without `VIR_MIGRATE_PEER2PEER`); virsh's equivalent is
    /// `virsh migrate` without `--p2p`. This is not virsh's `--direct`, which is unmanaged
    /// direct migration (`VIR_MIGRATE_DIRECT`: the hypervisor alone, no destination daemon).
    case clientManaged = "client-managed"

    /// Decodes a raw value; `direct`, this mode's name in results stored before it was
    /// renamed, is read as ``clientManaged``.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        if text == "direct" {
            self = .clientManaged
        } else if let mode = MigrationMode(rawValue: text) {
            self = mode
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown migration mode '\(text)'")
        }
    }
}

/// How to migrate: every option maps to a libvirt migration flag or typed parameter.
public struct MigrationOptions: Codable, Sendable, Equatable {
    /// Peer-to-peer (default) or client-managed.
    public var mode: MigrationMode
    /// Bandwidth limit in MiB/s (`VIR_MIGRATE_PARAM_BANDWIDTH`); `nil`: libvirt's default (unlimited).
    public var bandwidthMiBPerSecond: UInt64?
    /// The longest switch-over pause QEMU may take, in ms (`virDomainMigrateSetMaxDowntime`);
    /// `nil`: QEMU's default (300 ms).
    public var qemuMaxDowntimeMilliseconds: UInt64?
    /// Throttle the vCPUs when the guest dirties faster than the copy (`VIR_MIGRATE_AUTO_CONVERGE`).
    public var autoConverge: Bool
    /// Allow post-copy (`VIR_MIGRATE_POSTCOPY`); the verifier switches to post-copy once the
    /// first pass has been copied.
    public var postCopy: Bool
    /// Number of parallel (multifd) connections (`VIR_MIGRATE_PARALLEL` +
    /// `VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS`); `nil`: one connection.
    public var parallelConnections: Int?
    /// Compression methods (`VIR_MIGRATE_COMPRESSED` + `VIR_MIGRATE_PARAM_COMPRESSION`),
    /// e.g. `xbzrle`, `zlib`, `zstd`; empty: none.
    public var compressionMethods: [String]
    /// `true`: define the domain persistently on the destination (`VIR_MIGRATE_PERSIST_DEST`;
    /// finish-fail makes its Finish fail that way). Optional, and never `false`, so that the
    /// options of runs stored before it read and write unchanged.
    public var persistOnDestination: Bool?
    /// Bandwidth limit once switched to post-copy, MiB/s (`VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY`;
    /// QEMU's default is unlimited, whatever the pre-copy limit). Optional for the same reason.
    public var postCopyBandwidthMiBPerSecond: UInt64?
    /// `true`: resume a failed post-copy migration (`VIR_MIGRATE_POSTCOPY_RESUME`;
    /// postcopy-link-cut's recovery). Optional for the same reason.
    public var postCopyResume: Bool?
    /// `true`: encrypt the migration stream with TLS (`VIR_MIGRATE_TLS`; both daemons need
    /// `migrate_tls_x509_cert_dir` with certificates). Optional for the same reason.
    public var tls: Bool?
    /// `true`: send the memory through the libvirt daemons' connection instead of a QEMU-to-QEMU
    /// connection (`VIR_MIGRATE_TUNNELLED`, peer-to-peer only). Optional for the same reason.
    public var tunnelled: Bool?

    /// Creates options; the defaults are a plain live peer-to-peer migration.
    public init(mode: MigrationMode = .peerToPeer, bandwidthMiBPerSecond: UInt64? = nil,
                qemuMaxDowntimeMilliseconds: UInt64? = nil, autoConverge: Bool = false, postCopy: Bool = false,
                parallelConnections: Int? = nil, compressionMethods: [String] = []) {
        self.mode = mode
        self.bandwidthMiBPerSecond = bandwidthMiBPerSecond
        self.qemuMaxDowntimeMilliseconds = qemuMaxDowntimeMilliseconds
        self.autoConverge = autoConverge
        self.postCopy = postCopy
        self.parallelConnections = parallelConnections
        self.compressionMethods = compressionMethods
    }

    /// Compression methods QEMU knows for migration.
    public static let knownCompressionMethods: Set<String> = ["xbzrle", "mt", "zlib", "zstd", "qpl", "uadk", "qatzip"]
    /// Methods that only work with parallel (multifd) connections.
    public static let parallelOnlyCompressionMethods: Set<String> = ["zlib", "zstd", "qpl", "uadk", "qatzip"]

    /// The strategy these options amount to, in ``MigrationStrategy``'s words (`precopy`
    /// when none of its knobs is set), e.g. `auto-converge+max-downtime=100`.
    public var strategyLabel: String {
        var words: [String] = []
        if autoConverge { words.append("auto-converge") }
        if postCopy { words.append("postcopy") }
        if let parallelConnections { words.append("parallel=\(parallelConnections)") }
        words += compressionMethods.map { "compression=\($0)" }
        if let qemuMaxDowntimeMilliseconds { words.append("max-downtime=\(qemuMaxDowntimeMilliseconds)") }
        if tls == true { words.append("tls") }
        if tunnelled == true { words.append("tunnelled") }
        if mode == .clientManaged { words.append("client-managed") }
        return words.isEmpty ? "precopy" : words.joined(separator: "+")
    }

    /// The libvirt flags these options stand for (always `VIR_MIGRATE_LIVE`).
    public var libvirtFlags: MigrationFlags {
        var flags: MigrationFlags = [.live]
        if mode == .peerToPeer { flags.insert(.peerToPeer) }
        if autoConverge { flags.insert(.autoConverge) }
        if postCopy { flags.insert(.postCopy) }
        if parallelConnections != nil { flags.insert(.parallel) }
        if !compressionMethods.isEmpty { flags.insert(.compressed) }
        if persistOnDestination == true { flags.insert(.persistOnDestination) }
        if postCopyResume == true { flags.insert(.postCopyResume) }
        if tls == true { flags.insert(.tls) }
        if tunnelled == true { flags.insert(.tunnelled) }
        return flags
    }

    /// The libvirt typed parameters these options stand for, with `migrationURI` as
    /// `VIR_MIGRATE_PARAM_URI` when given (the failure scenarios use it).
    public func libvirtParameters(migrationURI: String? = nil) -> MigrationParameters {
        MigrationParameters(migrationURI: migrationURI, bandwidthMiBPerSecond: bandwidthMiBPerSecond,
                            postCopyBandwidthMiBPerSecond: postCopyBandwidthMiBPerSecond,
                            compressionMethods: compressionMethods,
                            parallelConnections: parallelConnections.map { Int32(clamping: $0) })
    }

    /// Rejects values and combinations that libvirt or QEMU would refuse, in one line each.
    /// The highest bandwidth limit accepted, in MiB/s (about 1 TiB/s).
    public static let maximumBandwidthMiBPerSecond: UInt64 = 1_000_000
    /// The longest switch-over pause QEMU accepts, in ms (its limit is 2000 s).
    public static let maximumQEMUDowntimeMilliseconds: UInt64 = 2_000_000

    public func validate() throws(VerifierError) {
        if let bandwidthMiBPerSecond, !(1...Self.maximumBandwidthMiBPerSecond).contains(bandwidthMiBPerSecond) {
            throw .invalidOptions("--bandwidth-mib-per-second must be between 1 and \(Self.maximumBandwidthMiBPerSecond) (leave it out for no limit), not \(bandwidthMiBPerSecond)")
        }
        if let qemuMaxDowntimeMilliseconds, !(1...Self.maximumQEMUDowntimeMilliseconds).contains(qemuMaxDowntimeMilliseconds) {
            throw .invalidOptions("--qemu-max-downtime-ms must be between 1 and \(Self.maximumQEMUDowntimeMilliseconds), not \(qemuMaxDowntimeMilliseconds)")
        }
        if let parallelConnections, !(2...255).contains(parallelConnections) {
            throw .invalidOptions("--parallel-connections must be between 2 and 255, not \(parallelConnections)")
        }
        for method in compressionMethods where !Self.knownCompressionMethods.contains(method) {
            throw .invalidOptions("unknown compression method '\(method)' (known: \(Self.knownCompressionMethods.sorted().joined(separator: ", ")))")
        }
        if Set(compressionMethods).count != compressionMethods.count {
            throw .invalidOptions("--compression lists a method twice")
        }
        if parallelConnections != nil, let method = compressionMethods.first(where: { ["xbzrle", "mt"].contains($0) }) {
            throw .invalidOptions("--compression \(method) cannot be used with --parallel-connections (QEMU's multifd does not support it)")
        }
        if parallelConnections == nil, let method = compressionMethods.first(where: Self.parallelOnlyCompressionMethods.contains) {
            throw .invalidOptions("--compression \(method) needs --parallel-connections (it is a multifd compression method)")
        }
        if postCopy, !compressionMethods.isEmpty {
            throw .invalidOptions("--postcopy cannot be combined with --compression (QEMU refuses compressed post-copy)")
        }
        if tunnelled == true {
            // libvirt's own refusals (virDomainMigrate3, qemuMigrationSrcBeginPhase), said before any host is touched.
            if mode != .peerToPeer {
                throw .invalidOptions("tunnelled migration needs peer-to-peer mode (libvirt: \"cannot perform tunnelled migration without using peer2peer flag\")")
            }
            if parallelConnections != nil {
                throw .invalidOptions("tunnelled migration cannot use parallel connections (libvirt: VIR_MIGRATE_TUNNELLED and VIR_MIGRATE_PARALLEL are exclusive)")
            }
            if postCopy {
                throw .invalidOptions("tunnelled migration cannot switch to post-copy (libvirt: \"post-copy is not supported with tunnelled migration\")")
            }
        }
    }
}

/// Where the guest lives and how to reach it: the lab's hosts by default, or real hosts.
public struct Endpoints: Codable, Sendable, Equatable {
    /// libvirt URI of the source daemon.
    public var sourceURI: String
    /// libvirt URI of the destination daemon.
    public var destinationURI: String
    /// The domain to migrate.
    public var domainName: String
    /// The guest's IPv4 or IPv6 address (pinged, and where memeater listens).
    public var guestAddress: String
    /// memeater's control port in the guest.
    public var memeaterPort: Int
    /// The interface pings are sent from and captured on (in the client namespace on the lab).
    public var captureInterface: String

    /// The same endpoints with source and destination swapped (the way back).
    public var swapped: Endpoints {
        var other = self
        other.sourceURI = destinationURI
        other.destinationURI = sourceURI
        return other
    }

    /// Creates endpoints.
    public init(sourceURI: String, destinationURI: String, domainName: String, guestAddress: String,
                memeaterPort: Int = 7070, captureInterface: String) {
        self.sourceURI = sourceURI
        self.destinationURI = destinationURI
        self.domainName = domainName
        self.guestAddress = guestAddress
        self.memeaterPort = memeaterPort
        self.captureInterface = captureInterface
    }
}

/// Everything that defines one scenario run. Two runs with equal parameters are the same
/// experiment: a re-run with the same results database skips those already completed.
public struct ScenarioParameters: Codable, Sendable, Equatable {
    public var scenario: ScenarioKind
    /// Guest RAM in MiB (any size, e.g. 2111).
    public var memoryMiB: Int
    /// The region memeater dirties and verifies, in MiB.
    public var memeaterSizeMiB: Int
    /// memeater's target rate of unique pages dirtied, in MiB/s; 0 = as fast as it can.
    public var dirtyRateMiBPerSecond: Double
    /// How memeater picks pages; `nil`: its default, a sequential sweep (left out of the key,
    /// so runs stored before patterns existed keep their key).
    public var memeaterLoad: MemeaterLoad?
    /// Guest kind on the lab (a `GuestKind` raw value: `initramfs`, `debian11`, `debian`
    /// (Debian 12) or `debian13`).
    public var guestKind: String
    /// Emulator short name (`default`, `qemu-7.2`) or path.
    public var emulator: String
    /// Where and what.
    public var endpoints: Endpoints
    /// How to migrate.
    public var migration: MigrationOptions
    /// The verifier aborts a migration still running after this many seconds.
    public var timeoutSeconds: Double
    /// The verifier aborts a migration whose transferred byte count has not grown for this many seconds.
    public var stallTimeoutSeconds: Double
    /// Any lost probe fails the ping check.
    public var requireZeroLoss: Bool
    /// The ping downtime (longest gap) must be under this, in ms (live scenario).
    public var maxPingDowntimeMilliseconds: Double
    /// pingmon's probe interval, in µs.
    public var pingIntervalMicroseconds: Int
    /// Migrate back to the source after landing and check again (live only).
    public var roundTrip: Bool
    /// Which of several runs with otherwise equal parameters this is (`--repeat`), from 1;
    /// `nil`: the only one.
    public var repetition: Int?

    /// Creates parameters.
    public init(scenario: ScenarioKind, memoryMiB: Int, memeaterSizeMiB: Int, dirtyRateMiBPerSecond: Double,
                guestKind: String = "initramfs", emulator: String = "default", endpoints: Endpoints,
                migration: MigrationOptions = MigrationOptions(), timeoutSeconds: Double = 120,
                stallTimeoutSeconds: Double = 15, requireZeroLoss: Bool = false,
                maxPingDowntimeMilliseconds: Double = 2_000, pingIntervalMicroseconds: Int = 1_000, roundTrip: Bool = false) {
        self.scenario = scenario
        self.memoryMiB = memoryMiB
        self.memeaterSizeMiB = memeaterSizeMiB
        self.dirtyRateMiBPerSecond = dirtyRateMiBPerSecond
        self.guestKind = guestKind
        self.emulator = emulator
        self.endpoints = endpoints
        self.migration = migration
        self.timeoutSeconds = timeoutSeconds
        self.stallTimeoutSeconds = stallTimeoutSeconds
        self.requireZeroLoss = requireZeroLoss
        self.maxPingDowntimeMilliseconds = maxPingDowntimeMilliseconds
        self.pingIntervalMicroseconds = pingIntervalMicroseconds
        self.roundTrip = roundTrip
    }

    /// A canonical text of every parameter (JSON with sorted keys): equal parameters give
    /// equal keys. The results database finds completed runs by it.
    public var key: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(self) else { return "\(self)" }
        return String(decoding: data, as: UTF8.self)
    }

    /// A short label, e.g. `live 333 MiB @ 50 MiB/s`.
    public var label: String {
        seriesLabel + (repetition.map { " #\($0)" } ?? "")
    }

    /// The label without the repetition: what repeated runs have in common.
    public var seriesLabel: String {
        "\(scenario.rawValue) \(memoryMiB) MiB @ \(dirtyRateMiBPerSecond == 0 ? "unlimited" : formatNumber(dirtyRateMiBPerSecond) + " MiB/s")"
            + (memeaterLoad.map { " \($0)" } ?? "")
            + (migration.bandwidthMiBPerSecond.map { " bw \($0) MiB/s" } ?? "")
            + (migration.strategyLabel == "precopy" ? "" : " " + migration.strategyLabel)
    }

    /// memeater's page pattern in effect.
    public var effectiveMemeaterLoad: MemeaterLoad { memeaterLoad ?? .sequential }

    /// Rejects impossible values and conflicting options, in one line.
    /// The longest migration timeout (and stall timeout), in seconds: one week.
    public static let maximumTimeoutSeconds = 604_800.0
    /// The longest ping gap the live scenario may be told to accept, in ms: one hour.
    public static let maximumPingGapMilliseconds = 3_600_000.0

    public func validate() throws(VerifierError) {
        guard GuestMemoryRange.realHostBoundsMiB.contains(memoryMiB) else {
            throw .invalidOptions("--memory-mib must be between \(GuestMemoryRange.realHostBoundsMiB.lowerBound) and \(GuestMemoryRange.realHostBoundsMiB.upperBound), not \(memoryMiB)")
        }
        guard memeaterSizeMiB >= 1, memeaterSizeMiB < memoryMiB - 32 else {
            throw .invalidOptions("--memeater-size-mib must be at least 1 and leave 32 MiB of the guest's \(memoryMiB) MiB to its kernel, not \(memeaterSizeMiB)")
        }
        // Upper bounds too: each number is later multiplied into integers that must not overflow.
        let rates = SweepMatrix.fileDirtyRateRangeMiBPerSecond
        guard rates.contains(dirtyRateMiBPerSecond) else {
            throw .invalidOptions("--dirty-rate-mib-per-second must be between 0 (unlimited) and \(formatNumber(rates.upperBound)), not \(dirtyRateMiBPerSecond)")
        }
        guard timeoutSeconds > 0, timeoutSeconds <= Self.maximumTimeoutSeconds else {
            throw .invalidOptions("--timeout-seconds must be more than 0 and at most \(formatNumber(Self.maximumTimeoutSeconds)), not \(timeoutSeconds)")
        }
        guard stallTimeoutSeconds > 0, stallTimeoutSeconds <= Self.maximumTimeoutSeconds else {
            throw .invalidOptions("--stall-timeout-seconds must be more than 0 and at most \(formatNumber(Self.maximumTimeoutSeconds)), not \(stallTimeoutSeconds)")
        }
        guard stallTimeoutSeconds <= timeoutSeconds else {
            throw .invalidOptions("--stall-timeout-seconds (\(formatNumber(stallTimeoutSeconds))) cannot exceed --timeout-seconds (\(formatNumber(timeoutSeconds)))")
        }
        guard maxPingDowntimeMilliseconds > 0, maxPingDowntimeMilliseconds <= Self.maximumPingGapMilliseconds else {
            throw .invalidOptions("--max-ping-gap-ms must be more than 0 and at most \(formatNumber(Self.maximumPingGapMilliseconds)), not \(maxPingDowntimeMilliseconds)")
        }
        guard (1...65_535).contains(endpoints.memeaterPort) else {
            throw .invalidOptions("--memeater-port must be between 1 and 65535, not \(endpoints.memeaterPort)")
        }
        guard (100...1_000_000).contains(pingIntervalMicroseconds) else {
            throw .invalidOptions("--ping-interval-microseconds must be between 100 and 1000000")
        }
        guard endpoints.sourceURI != endpoints.destinationURI else {
            throw .invalidOptions("--source-uri and --dest-uri are the same (\(endpoints.sourceURI)): a migration needs two hosts")
        }
        if roundTrip, !scenario.measuresAnUndisturbedMigration {
            throw .invalidOptions("--back (round trip) only applies to the live scenario, not \(scenario.rawValue)")
        }
        try migration.validate()
    }
}

/// Checks that a lab migration of `guestCount` guests of `requestedMiB` each fits into the
/// host's available memory: on one machine the source's QEMU and the destination's incoming
/// QEMU each hold a guest's RAM, plus `reservePerQEMUMiB` each for QEMU itself; throws a
/// one-line error if not.
public func checkMemoryFits(requestedMiB: Int, guestCount: Int = 1, availableMiB: Int, reservePerQEMUMiB: Int = 256) throws(VerifierError) {
    let neededMiB = 2 * guestCount * (requestedMiB + reservePerQEMUMiB)
    if neededMiB > availableMiB, guestCount > 1 {
        throw .environment("\(guestCount) guests of \(requestedMiB) MiB do not fit: their migrations on this machine run two QEMUs of each, "
                           + "\(neededMiB) MiB with \(reservePerQEMUMiB) MiB each for QEMU, and the host has \(availableMiB) MiB available (MemAvailable)")
    }
    if neededMiB > availableMiB {
        throw .environment("a \(requestedMiB) MiB guest does not fit: its migration on this machine runs two QEMUs of it, "
                           + "\(neededMiB) MiB with \(reservePerQEMUMiB) MiB each for QEMU, and the host has \(availableMiB) MiB available (MemAvailable)")
    }
}

/// The host's `MemAvailable` from `/proc/meminfo`, in MiB, if it can be read.
public func hostAvailableMemoryMiB(meminfo: String? = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) -> Int? {
    guard let meminfo else { return nil }
    for line in meminfo.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
        let fields = line.split(separator: " ")
        if fields.count >= 2, let kib = Int(fields[1]) { return kib / 1024 }
    }
    return nil
}
