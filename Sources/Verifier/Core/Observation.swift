import Foundation
import Libvirt
import MemeaterKit
import PingMonitor

/// Something the verifier tried to look at: what it saw, or why it could not look. A check
/// of something it could not look at fails and says why ("not measured").
public enum Looked<Value: Sendable>: Sendable {
    /// It looked and saw this.
    case seen(Value)
    /// It could not look, and why.
    case notLooked(String)
}

extension Looked: Equatable where Value: Equatable {}
extension Looked: Codable where Value: Codable {}

/// A domain as one daemon reports it after the migration.
public struct DomainSighting: Sendable, Equatable, Codable {
    /// The daemon.
    public var uri: String
    /// The domain's name.
    public var name: String
    /// Its state; `nil` when the daemon has no such domain.
    public var state: DomainStateInfo?
    /// Why it could not be read (`nil`: it was).
    public var error: String?

    /// Creates a sighting.
    public init(uri: String, name: String, state: DomainStateInfo?, error: String? = nil) {
        self.uri = uri
        self.name = name
        self.state = state
        self.error = error
    }

    /// Running (not paused).
    public var isRunning: Bool { state?.state == .running }

    /// Left by a post-copy migration that failed: a destination reads running but its vCPUs
    /// wait for pages that never come; a source reads paused and holds stale memory.
    public var isStuckInFailedPostCopy: Bool { state?.reason == "post-copy failed" }

    /// One line, e.g. `lab-guest is running (booted) on qemu+tcp://…`.
    public var description: String {
        if let error { return "cannot read \(name) on \(uri): \(error)" }
        guard let state else { return "no domain \(name) on \(uri)" }
        return "\(name) is \(state) on \(uri)"
    }
}

/// What one host's shell showed of the guest: its QEMU processes, interfaces and listeners.
public struct HostSnapshot: Sendable, Equatable, Codable {
    /// The host's name, for evidence.
    public var hostName: String
    /// QEMU processes of the guest's domain.
    public var qemuProcesses: [QEMUProcess]
    /// Every network interface.
    public var interfaces: Set<String>
    /// TCP ports of QEMU's migration range that something listens on.
    public var listeningMigrationPorts: [Int]
    /// The interfaces (taps) of the evacuation's other guests on this host, which its
    /// clean-up checks leave out: they are theirs, not left by this guest (`nil`: a run of
    /// one guest; absent from the JSON then).
    public var otherGuestsInterfaces: Set<String>? = nil
    /// The migration ports the evacuation's other guests' QEMUs listen on here (coming in
    /// beside this guest), which `migration-port-free` leaves out (`nil`: a run of one guest).
    public var otherGuestsListeningPorts: [Int]? = nil
    /// What of the other guests could not be read here, and why (their domain, XML, QEMUs or
    /// the ports' owners): what they hold is then counted as this guest's (`nil`: all read).
    public var otherGuestsUnread: [String]? = nil

    /// Creates a snapshot.
    public init(hostName: String, qemuProcesses: [QEMUProcess], interfaces: Set<String>, listeningMigrationPorts: [Int]) {
        self.hostName = hostName
        self.qemuProcesses = qemuProcesses
        self.interfaces = interfaces
        self.listeningMigrationPorts = listeningMigrationPorts
    }
}

/// What pingmon measured during the run.
public struct PingSummary: Sendable, Equatable, Codable {
    public var sent: Int
    public var received: Int
    public var lost: Int
    /// Runs of consecutive lost probes.
    public var lossRunCount: Int
    /// The longest gap between replies, ms, with its bounds.
    public var longestGapMilliseconds: Double
    public var longestGapLowerBoundMilliseconds: Double
    public var longestGapUpperBoundMilliseconds: Double
    /// The guest had stopped answering when probing ended.
    public var openEnded: Bool
    /// How the timestamps were taken (e.g. `nanosecond` capture timestamps).
    public var timestampPrecision: String
    /// The gaps between replies over pingmon's threshold, on the run clock (set by the
    /// runner, which knows where the capture started on it; empty until then).
    public var gapsOnRunClock: [TimedSpan] = []
    /// Replies beyond the first to the same probe: two running copies of the guest (same
    /// address and MAC on one network) both answer every probe. `nil` in a summary stored
    /// before it was kept.
    public var duplicates: Int?
    /// Probes the longest gap's outage held and answered only after it (a paused guest's
    /// queue): they bound the outage like lost ones. `nil` in a summary stored before it was kept.
    public var longestGapLateProbes: Int?

    /// Creates a summary.
    public init(sent: Int, received: Int, lost: Int, lossRunCount: Int, longestGapMilliseconds: Double,
                longestGapLowerBoundMilliseconds: Double, longestGapUpperBoundMilliseconds: Double, openEnded: Bool,
                timestampPrecision: String, duplicates: Int? = nil, longestGapLateProbes: Int? = nil) {
        self.duplicates = duplicates
        self.longestGapLateProbes = longestGapLateProbes
        self.sent = sent
        self.received = received
        self.lost = lost
        self.lossRunCount = lossRunCount
        self.longestGapMilliseconds = longestGapMilliseconds
        self.longestGapLowerBoundMilliseconds = longestGapLowerBoundMilliseconds
        self.longestGapUpperBoundMilliseconds = longestGapUpperBoundMilliseconds
        self.openEnded = openEnded
        self.timestampPrecision = timestampPrecision
    }

    /// The summary of pingmon's report.
    public init(_ report: PingReport) {
        let analysis = report.analysis
        // pingmon calls the longest gap open-ended at either edge of the capture; only one that
        // runs to its end means the guest had stopped answering (one at its start is the first
        // probes answered late, e.g. a guest's vCPU stalled as probing began).
        let runsToTheEnd = analysis.downtimeStartOffsetMilliseconds.map {
            abs($0 + analysis.longestGapMilliseconds - analysis.observedMilliseconds) < 0.001
        } ?? false
        self.init(sent: analysis.sent, received: analysis.received, lost: analysis.lost, lossRunCount: analysis.lossRunCount,
                  longestGapMilliseconds: analysis.longestGapMilliseconds,
                  longestGapLowerBoundMilliseconds: analysis.downtimeLowerBoundMilliseconds,
                  longestGapUpperBoundMilliseconds: analysis.downtimeUpperBoundMilliseconds,
                  openEnded: analysis.downtimeOpenEnded && runsToTheEnd, timestampPrecision: "\(report.timestampPrecision)",
                  duplicates: analysis.duplicates, longestGapLateProbes: analysis.downtimeLateProbes)
    }
}

/// What one read of the guest's domain on one daemon gave.
public enum PlacementRead: Sendable, Equatable {
    /// The daemon has the domain, in this state.
    case state(DomainStateInfo)
    /// The daemon has no domain of that name.
    case absent
    /// The daemon has a domain of that name that is not the guest (another UUID: e.g.
    /// dst-already-active's stand-in), in this state.
    case another(uuid: String, DomainStateInfo)
    /// The read failed, and why.
    case failed(String)

    /// The domain runs (not paused).
    public var isRunning: Bool {
        if case .state(let info) = self { return info.state == .running }
        return false
    }

    /// e.g. `running (booted)`, `absent`, `unreadable: …`.
    public var description: String {
        switch self {
        case .state(let info): return "\(info)"
        case .absent: return "absent"
        case .another(let uuid, let info): return "another domain of the name (uuid \(uuid)) \(info)"
        case .failed(let error): return "unreadable: \(error)"
        }
    }
}

/// One look at where the guest runs: the source, then the destination, then the source again.
/// The reads are sequential, so a migration can switch over between them: the source read
/// running, the destination then read running too, and yet the two never ran at once. Only a
/// source that ran both before and after the destination's read shows two running copies.
public struct PlacementSample: Sendable, Equatable {
    /// When the destination was read, ms on the run clock.
    public var atMilliseconds: Double
    public var sourceBefore: PlacementRead
    public var destination: PlacementRead
    public var sourceAfter: PlacementRead

    /// Creates a sample.
    public init(atMilliseconds: Double, sourceBefore: PlacementRead, destination: PlacementRead, sourceAfter: PlacementRead) {
        self.atMilliseconds = atMilliseconds
        self.sourceBefore = sourceBefore
        self.destination = destination
        self.sourceAfter = sourceAfter
    }

    /// The guest ran on both hosts at the destination's read (the three-read rule above).
    public var bothRunning: Bool { sourceBefore.isRunning && destination.isRunning && sourceAfter.isRunning }

    /// The reads that failed, and why.
    public var failures: [String] {
        [sourceBefore, destination, sourceAfter].compactMap { if case .failed(let error) = $0 { return error } else { return nil } }
    }

    /// e.g. `source running (booted) → running (booted), destination running (migrated)`.
    public var statesDescription: String {
        "source \(sourceBefore.description) → \(sourceAfter.description), destination \(destination.description)"
    }
}

/// A run of consecutive samples in which the guest ran on both hosts.
public struct DualRunningWindow: Sendable, Equatable, Codable {
    /// The first and the last such sample's destination read, ms on the run clock.
    public var startMilliseconds: Double
    public var endMilliseconds: Double
    /// How many samples saw it.
    public var sampleCount: Int
    /// The states those samples read (each once, at most ``PlacementTimeline/statesKept``).
    public var states: [String]

    /// Creates a window.
    public init(startMilliseconds: Double, endMilliseconds: Double, sampleCount: Int, states: [String]) {
        self.startMilliseconds = startMilliseconds
        self.endMilliseconds = endMilliseconds
        self.sampleCount = sampleCount
        self.states = states
    }
}

/// Where the guest ran while the migration could move it: both daemons' domain state sampled
/// from just before the migration call until the hosts were looked at after it. Kept compact:
/// the counts, the sampled window and the windows in which the guest ran on both hosts.
public struct PlacementTimeline: Sendable, Equatable, Codable {
    /// Samples whose three reads all succeeded.
    public var sampleCount = 0
    /// Reads that failed (a sample makes three), and the last failure.
    public var failedReadCount = 0
    public var lastFailure: String?
    /// The first and the last successful sample's destination read, ms on the run clock.
    public var firstSampleMilliseconds: Double?
    public var lastSampleMilliseconds: Double?
    /// The time asked between samples, ms.
    public var intervalMilliseconds: Double
    /// The windows in which the guest ran on both hosts, in time order.
    public var overlaps: [DualRunningWindow] = []

    /// At most this many distinct states are kept per window.
    public static let statesKept = 3

    /// An empty timeline of samples `intervalMilliseconds` apart.
    public init(intervalMilliseconds: Double) {
        self.intervalMilliseconds = intervalMilliseconds
    }

    /// Counts a read that failed.
    public mutating func recordFailedRead(_ error: String) {
        failedReadCount += 1
        lastFailure = error
    }

    /// Adds `sample` (taken after every sample added before it). A sample with a failed read
    /// counts its failures and is no evidence either way: it neither opens nor closes a window.
    public mutating func record(_ sample: PlacementSample) {
        let failures = sample.failures
        guard failures.isEmpty else {
            failures.forEach { recordFailedRead($0) }
            return
        }
        // The previous successful sample saw both running when the last window ends at it.
        let continuesWindow = overlaps.last.map { $0.endMilliseconds == lastSampleMilliseconds } ?? false
        sampleCount += 1
        if firstSampleMilliseconds == nil { firstSampleMilliseconds = sample.atMilliseconds }
        lastSampleMilliseconds = sample.atMilliseconds
        guard sample.bothRunning else { return }
        let states = sample.statesDescription
        if continuesWindow, var window = overlaps.popLast() {
            window.endMilliseconds = sample.atMilliseconds
            window.sampleCount += 1
            if !window.states.contains(states), window.states.count < Self.statesKept { window.states.append(states) }
            overlaps.append(window)
        } else {
            overlaps.append(DualRunningWindow(startMilliseconds: sample.atMilliseconds, endMilliseconds: sample.atMilliseconds,
                                              sampleCount: 1, states: [states]))
        }
    }
}

/// memeater's unique-page counter read just before the migration call and right after it
/// returned, on the run clock: the guest's own dirtying rate while it was migrated — what
/// auto-converge's throttle, post-copy's page faults and the switch-over's pause cost it.
public struct GuestLoadDuringMigration: Sendable, Equatable, Codable {
    /// The counter just before the call, and when it was read, ms on the run clock.
    public var pagesDirtiedBefore: UInt64
    public var beforeAtMilliseconds: Double
    /// The counter right after the call returned, and when it was read, ms on the run clock.
    public var pagesDirtiedAfter: UInt64
    public var afterAtMilliseconds: Double
    /// The guest's page size, bytes.
    public var pageSizeBytes: Int
    /// The guest's clock around the call (`nil`: not read, ``guestClockUnreadReason`` says why,
    /// or the run was stored before).
    public var guestClock: GuestClockReadings?
    /// Why ``guestClock`` is `nil`: which read failed and how, or that memeater did not say its clock.
    public var guestClockUnreadReason: String?
    /// memeater's counter at each of its progress reports (every 100 ms) from about a second
    /// before the call until right after it landed, on the guest's clock: what the guest did
    /// during the pre-copy passes, read once it could be asked without disturbing them (`nil`:
    /// not read, ``dirtyHistoryUnreadReason`` says why, or the run was stored before).
    public var dirtyHistory: [RateHistorySample]?
    /// Why ``dirtyHistory`` is `nil`.
    public var dirtyHistoryUnreadReason: String?

    /// Two readings of the counter.
    public init(pagesDirtiedBefore: UInt64, beforeAtMilliseconds: Double, pagesDirtiedAfter: UInt64, afterAtMilliseconds: Double,
                pageSizeBytes: Int, guestClock: GuestClockReadings? = nil) {
        self.pagesDirtiedBefore = pagesDirtiedBefore
        self.beforeAtMilliseconds = beforeAtMilliseconds
        self.pagesDirtiedAfter = pagesDirtiedAfter
        self.afterAtMilliseconds = afterAtMilliseconds
        self.pageSizeBytes = pageSizeBytes
        self.guestClock = guestClock
    }

    /// How long the guest's clock stood still across the call (``GuestClockReadings/lag``);
    /// `nil` without both clock readings.
    public var guestClockLag: GuestClockLag? { guestClock?.lag }

    /// Why there is no ``guestClockLag``, for a note or a check that could not judge it.
    public var guestClockMissingReason: String {
        guestClockUnreadReason ?? "memeater's replies around the call did not say the guest's clock"
    }

    /// The span between the two reads, s.
    public var windowSeconds: Double { (afterAtMilliseconds - beforeAtMilliseconds) / 1000 }

    /// Unique pages dirtied per second of wall time over the span, in MiB/s (`nil`: no span, or
    /// the counter went back — another memeater answered).
    public var achievedMiBPerSecond: Double? {
        guard windowSeconds > 0, pagesDirtiedAfter >= pagesDirtiedBefore else { return nil }
        return Double(pagesDirtiedAfter - pagesDirtiedBefore) * Double(pageSizeBytes) / 1_048_576 / windowSeconds
    }
}

/// The guest's clock in memeater's `stats` replies just before the migration call and right
/// after it landed, with when each request was sent and its reply came, ms on the run clock.
public struct GuestClockReadings: Sendable, Equatable, Codable {
    public var beforeSentAtMilliseconds: Double
    public var beforeReceivedAtMilliseconds: Double
    /// The guest's CLOCK_MONOTONIC in the reply, ms.
    public var guestBeforeMilliseconds: Double
    public var afterSentAtMilliseconds: Double
    public var afterReceivedAtMilliseconds: Double
    /// The guest's CLOCK_MONOTONIC in the reply, ms.
    public var guestAfterMilliseconds: Double

    public init(beforeSentAtMilliseconds: Double, beforeReceivedAtMilliseconds: Double, guestBeforeMilliseconds: Double,
                afterSentAtMilliseconds: Double, afterReceivedAtMilliseconds: Double, guestAfterMilliseconds: Double) {
        self.beforeSentAtMilliseconds = beforeSentAtMilliseconds
        self.beforeReceivedAtMilliseconds = beforeReceivedAtMilliseconds
        self.guestBeforeMilliseconds = guestBeforeMilliseconds
        self.afterSentAtMilliseconds = afterSentAtMilliseconds
        self.afterReceivedAtMilliseconds = afterReceivedAtMilliseconds
        self.guestAfterMilliseconds = guestAfterMilliseconds
    }

    /// How long the guest's clock stood still between the two readings: the host's time
    /// between them less the guest's (a paused VM's clock stops, and goes on where it stopped
    /// on the destination). The host's time is at least the later request's sending less the
    /// earlier reply's arrival, and at most the later reply's arrival less the earlier request's sending.
    public var lag: GuestClockLag {
        let guestElapsed = guestAfterMilliseconds - guestBeforeMilliseconds
        return GuestClockLag(lowerBoundMilliseconds: (afterSentAtMilliseconds - beforeReceivedAtMilliseconds) - guestElapsed,
                             upperBoundMilliseconds: (afterReceivedAtMilliseconds - beforeSentAtMilliseconds) - guestElapsed)
    }
}

/// How long the guest's clock stood still, ms: between the bounds, the estimate their middle.
public struct GuestClockLag: Sendable, Equatable, Codable {
    public var lowerBoundMilliseconds: Double
    public var upperBoundMilliseconds: Double

    /// The middle of the bounds, ms.
    public var estimateMilliseconds: Double { (lowerBoundMilliseconds + upperBoundMilliseconds) / 2 }
}

/// What memeater in the guest said before and after the migration.
public struct MemeaterObservation: Sendable, Equatable, Codable {
    /// `info` before the migration.
    public var before: ControlInfo
    /// How the control connection fared across the migration, one line.
    public var connection: String
    /// The progress record after the migration (`nil`: memeater could not be reached).
    public var statsAfter: ProgressRecord?
    /// `verify-all` after the migration, or why it could not be made.
    public var verification: Looked<VerificationReport>
    /// `info` after the migration, or why it could not be read.
    public var infoAfter: Looked<ControlInfo>
    /// memeater's count of bad pages found while dirtying when the run started (a reused
    /// guest's earlier runs are not this run's).
    public var integrityErrorsBefore: UInt64
    /// Its counter around the migration call, or why it was not measured (`nil`: not known,
    /// e.g. stored before the guest's rate was measured; one stored before it could say why
    /// is read as seen: see `StoredCoding.swift`).
    public var duringMigration: Looked<GuestLoadDuringMigration>?

    /// Creates an observation.
    public init(before: ControlInfo, connection: String, statsAfter: ProgressRecord?, verification: Looked<VerificationReport>,
                infoAfter: Looked<ControlInfo>, integrityErrorsBefore: UInt64 = 0) {
        self.integrityErrorsBefore = integrityErrorsBefore
        self.before = before
        self.connection = connection
        self.statsAfter = statsAfter
        self.verification = verification
        self.infoAfter = infoAfter
    }

    /// Nothing after the migration: the guest is lost, memeater with it.
    public init(lostGuestBefore before: ControlInfo) {
        self.init(before: before, connection: "not asked: the guest is lost", statsAfter: nil,
                  verification: .notLooked("the guest is lost"), infoAfter: .notLooked("the guest is lost"))
    }

    /// Stale pages: those of the whole-region verification plus those found before rewrites
    /// while dirtying; `nil` when not measured.
    public var integrityErrors: Int? {
        guard case .seen(let report) = verification else { return nil }
        return Int(report.badPagesTotal) + errorsWhileDirtying
    }

    /// Bad pages found before rewrites while dirtying during this run.
    public var errorsWhileDirtying: Int {
        let after = statsAfter?.integrityErrors ?? 0
        return Int(clamping: after >= integrityErrorsBefore ? after - integrityErrorsBefore : after)
    }
}

/// The guest's console written during the run.
public enum ConsoleObservation: Sendable, Equatable, Codable {
    /// Read: how many lines, and those showing a dead or corrupt kernel.
    case read(lineCount: Int, failureLines: [String])
    /// Could not be read, and why.
    case unreadable(String)

    /// The console text read since the mark, judged.
    public init(text: String?, unavailable: String?) {
        guard let text else {
            self = .unreadable(unavailable ?? "no host shell")
            return
        }
        self = .read(lineCount: text.split(whereSeparator: \.isNewline).count, failureLines: consoleFailureLines(text))
    }

    /// The console was read and shows a dead or corrupt kernel.
    public var showsFailure: Bool {
        if case .read(_, let failureLines) = self { return !failureLines.isEmpty }
        return false
    }
}

/// What identifies a domain a fault put on the destination (dst-already-active's stand-in):
/// it must be the same domain, still running, afterwards.
public struct OccupantSnapshot: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The domain's UUID.
    public var uuid: String
    /// libvirt's id of the running domain (`nil`: not running).
    public var id: UInt32?
    /// Its state.
    public var state: DomainStateInfo
    /// Its QEMU processes on the destination host.
    public var qemuProcessIDs: [Int32]

    /// Creates a snapshot.
    public init(uuid: String, id: UInt32?, state: DomainStateInfo, qemuProcessIDs: [Int32]) {
        self.uuid = uuid
        self.id = id
        self.state = state
        self.qemuProcessIDs = qemuProcessIDs
    }

    public var description: String {
        "uuid \(uuid), id \(id.map(String.init) ?? "none"), \(state), qemu \(qemuProcessIDs.map(String.init).joined(separator: ","))"
    }
}

/// A domain a fault put on the destination before the migration, before and after.
public struct OccupantObservation: Sendable, Equatable, Codable {
    public var before: OccupantSnapshot
    /// `nil`: it is gone.
    public var after: OccupantSnapshot?

    public init(before: OccupantSnapshot, after: OccupantSnapshot?) {
        self.before = before
        self.after = after
    }
}

/// What a fault saw of its own doing after the migration (``Fault/findings(_:)``); its own
/// checks (``Fault/checks(_:)``) judge it, and the clean-up checks leave out what it put there.
public struct FaultFindings: Sendable, Equatable, Codable {
    /// A domain of the guest's name the fault put on the destination before the migration:
    /// `destination-host-clean` allows it and its QEMU.
    public var destinationDomain: OccupantObservation?
    /// When the source resumed the guest after the fault acted, ms on the run clock, from its
    /// lifecycle events (`nil`: not looked for). A source that holds stale memory after a
    /// failed post-copy must never resume: that would run a second, older copy of the guest.
    public var sourceResumesAfterFaultMilliseconds: [Double]?

    public init(destinationDomain: OccupantObservation? = nil, sourceResumesAfterFaultMilliseconds: [Double]? = nil) {
        self.destinationDomain = destinationDomain
        self.sourceResumesAfterFaultMilliseconds = sourceResumesAfterFaultMilliseconds
    }
}

/// QEMU's migration settings on the source: libvirt sets capabilities and parameters for a
/// migration and must put them back when it fails (`qemuMigrationParamsReset`), also after its
/// daemon was restarted, or the guest's next migration, save or dump inherits them.
public struct MigrationSettingsObservation: Sendable, Equatable, Codable {
    /// Read before the migration started.
    public var before: Looked<QEMUMigrationSettings>
    /// Read once the guest ran on the source again after the failure.
    public var after: Looked<QEMUMigrationSettings>

    public init(before: Looked<QEMUMigrationSettings>, after: Looked<QEMUMigrationSettings>) {
        self.before = before
        self.after = after
    }
}

/// Everything the verifier gathered about one migration: the checks are pure functions of it
/// (``Checks/evaluate(_:)``), so each can be tested without a lab.
public struct Observation: Sendable, Equatable, Codable {
    /// What the scenario expects.
    public var expectation: ExpectedOutcome
    /// The run's parameters (limits such as the ping-gap limit come from here).
    public var parameters: ScenarioParameters
    /// How the migration was called, e.g. `virDomainMigrateToURI3 (p2p)`.
    public var call: String
    /// How the migration ended, with its samples and timings.
    public var outcome: MigrationOutcome
    /// The guest as the source and the destination daemon report it after the migration;
    /// `sourceWaitedSeconds`: how long the verifier waited for it to run on the source again.
    public var onSource: DomainSighting
    public var sourceWaitedSeconds: Double
    public var onDestination: DomainSighting
    /// The hosts' shells after the migration; `hostsWaitedSeconds`: how long the verifier
    /// waited for libvirt's clean-up.
    public var sourceHost: Looked<HostSnapshot>
    public var destinationHost: Looked<HostSnapshot>
    public var hostsWaitedSeconds: Double
    /// The destination's interfaces before the migration (what is new was left by it).
    public var destinationInterfacesBefore: Looked<Set<String>>
    /// The guest's domain on the destination before the migration (`nil`: not read — the
    /// migration was meant to land — or stored before it was): an inactive definition there
    /// is the host's, not left by a failed migration.
    public var destinationDomainBefore: DomainSighting?
    /// The guest's taps on the source, from its domain XML before the migration.
    public var sourceTaps: [String]
    /// What the scenario's fault saw of its own doing (`nil`: nothing).
    public var faultFindings: FaultFindings?
    /// pingmon's measurement.
    public var ping: PingSummary
    /// Where the guest ran while the migration could move it (``PlacementSampler``); `nil` in
    /// an observation stored before it was sampled.
    public var placementTimeline: PlacementTimeline?
    /// memeater before and after.
    public var memeater: MemeaterObservation
    /// The guest's console during the run.
    public var console: ConsoleObservation
    /// Whether the guest answered an echo request at the end (asked only when it should run
    /// on the destination), or why it could not be asked.
    public var answersAtEnd: Looked<Bool>?
    /// What the scenario's fault did (`nil`: no fault).
    public var fault: FaultEvidence?
    /// A live migration the verifier's timeout ended while it was still copying, judged as
    /// a failed migration (a sweep's "did not converge" result).
    public var didNotConverge: Bool
    /// A sweep's run: a migration that completed just as the timeout's abort was sent converged,
    /// a result like any other (a plain run fails it: it took longer than the timeout).
    public var timeoutIsResult: Bool
    /// QEMU's migration settings on the source before the migration and after it failed
    /// (`nil`: not read — the guest was meant to leave the source — or stored before they were).
    public var sourceMigrationSettings: MigrationSettingsObservation?
    /// The destination's migration ports as captured during the migration call (`nil`: stored
    /// before they were captured).
    public var migrationStream: Looked<MigrationStreamObservation>?
    /// The guest's echoes on the destination during the migration call (`nil`: not captured,
    /// or stored before they were).
    public var destinationEchoes: Looked<DestinationEchoObservation>?
    /// The options the migration was made with, after the fault's tuning (a mid-stream fault
    /// sets a bandwidth limit when none was given); `nil` in an observation stored before they
    /// were kept.
    public var migrationOptions: MigrationOptions?
    /// The downtime of the completed job as libvirt reported it (QEMU's), ms; `nil`: none
    /// reported, or stored before it was kept.
    public var libvirtDowntimeMilliseconds: Double?

    /// Creates an observation.
    public init(expectation: ExpectedOutcome, parameters: ScenarioParameters, call: String, outcome: MigrationOutcome,
                onSource: DomainSighting, sourceWaitedSeconds: Double = 0, onDestination: DomainSighting,
                sourceHost: Looked<HostSnapshot>, destinationHost: Looked<HostSnapshot>, hostsWaitedSeconds: Double = 0,
                destinationInterfacesBefore: Looked<Set<String>>, sourceTaps: [String], faultFindings: FaultFindings? = nil,
                ping: PingSummary, memeater: MemeaterObservation, console: ConsoleObservation, answersAtEnd: Looked<Bool>?,
                fault: FaultEvidence?, didNotConverge: Bool = false, timeoutIsResult: Bool = false,
                placementTimeline: PlacementTimeline? = nil, migrationStream: Looked<MigrationStreamObservation>? = nil,
                migrationOptions: MigrationOptions? = nil) {
        self.placementTimeline = placementTimeline
        self.migrationStream = migrationStream
        self.migrationOptions = migrationOptions
        self.didNotConverge = didNotConverge
        self.timeoutIsResult = timeoutIsResult
        self.expectation = expectation
        self.parameters = parameters
        self.call = call
        self.outcome = outcome
        self.onSource = onSource
        self.sourceWaitedSeconds = sourceWaitedSeconds
        self.onDestination = onDestination
        self.sourceHost = sourceHost
        self.destinationHost = destinationHost
        self.hostsWaitedSeconds = hostsWaitedSeconds
        self.destinationInterfacesBefore = destinationInterfacesBefore
        self.sourceTaps = sourceTaps
        self.faultFindings = faultFindings
        self.ping = ping
        self.memeater = memeater
        self.console = console
        self.answersAtEnd = answersAtEnd
        self.fault = fault
    }
}
