import Foundation
import Lab
import Libvirt

/// What a scenario expects the migration to do.
public enum ExpectedOutcome: String, Codable, Sendable, Equatable {
    /// The guest lands on the destination.
    case migrates
    /// The migration fails and the guest keeps running on the source; nothing is left behind.
    case staysOnSource
    /// The guest is lost (a QEMU holding it died): it runs on neither host, the destination
    /// holds nothing half-started, and a source holding stale memory is not resumed.
    case guestLost
}

/// What a fault did, judged from what was seen, and whether it was removed. Stored with the
/// result (JSON key `fault`); the `fault-acted` and `fault-removed` checks read it.
public struct FaultEvidence: Codable, Sendable, Equatable {
    /// The scenario whose fault this is.
    public var scenario: ScenarioKind
    /// The fault did what it is for while the migration job was active (its own evidence,
    /// e.g. packets dropped on the migration ports, the abort call succeeding mid-job).
    public var acted: Bool
    /// What was seen of the fault, one line.
    public var evidence: String
    /// When it acted, ms on the run clock (`nil`: it never did, or it acts before the call).
    public var actedAtMilliseconds: Double?
    /// The migration's error is the kind this fault causes.
    public var errorAsExpected: Bool
    /// The error this fault causes, and the error libvirt gave, one line.
    public var errorEvidence: String
    /// Whether what the fault installed is gone again (`nil`: it installs nothing).
    public var removed: Bool?
    /// What the removal did or found, one line.
    public var removalEvidence: String?
    /// What the fault did to the guest network, for `ping-continuity` (`nil`: the fault
    /// says nothing about it).
    public var guestNetwork: GuestNetworkEffect?

    /// Creates evidence.
    public init(scenario: ScenarioKind, acted: Bool, evidence: String, actedAtMilliseconds: Double? = nil,
                errorAsExpected: Bool, errorEvidence: String, removed: Bool? = nil, removalEvidence: String? = nil,
                guestNetwork: GuestNetworkEffect? = nil) {
        self.scenario = scenario
        self.acted = acted
        self.evidence = evidence
        self.actedAtMilliseconds = actedAtMilliseconds
        self.errorAsExpected = errorAsExpected
        self.errorEvidence = errorEvidence
        self.removed = removed
        self.removalEvidence = removalEvidence
        self.guestNetwork = guestNetwork
    }
}

/// What a fault did to the guest network (the lab keeps it apart from the management network).
public enum GuestNetworkEffect: Codable, Sendable, Equatable {
    /// The fault cut only the management network: the guest network stayed up, so the guest
    /// must answer pings throughout, even though the migration fails.
    case untouched
    /// The guest network was down from `atMilliseconds` (run clock) for `milliseconds`: the
    /// ping gap over that window is the fault's, not the migration's downtime.
    case cut(atMilliseconds: Double, milliseconds: Double)
    /// libvirt kept the guest paused from `atMilliseconds` (run clock) for `milliseconds`, as
    /// its events show (finish-fail: from the switch-over until Confirm resumed it on the
    /// source after the destination's failed Finish): the ping gap over that window is the
    /// failure's cost, reported beside the limit.
    case paused(atMilliseconds: Double, milliseconds: Double)
    /// The guest may have stalled from `atMilliseconds` for `milliseconds` (postcopy-link-cut:
    /// running on the destination in post-copy, it waits for every page it lacks until the
    /// migration is resumed): a gap over that window may last it plus the limit, but need not show.
    case mayStall(atMilliseconds: Double, milliseconds: Double)
}

/// How a migration is driven: options, the migration URI, the driver's timeouts and its
/// mid-stream fault. Each fault tunes it for its scenario; `notes` say what it changed.
public struct MigrationPlan: Sendable {
    /// libvirt options.
    public var options: MigrationOptions
    /// `VIR_MIGRATE_PARAM_URI`, when a fault gives one.
    public var migrationURI: String?
    /// The driver (timeouts, abort grace, mid-stream fault).
    public var driver: MigrationDriver
    /// How long the clean-up checks of a failed migration wait for libvirt's clean-up, s.
    public var cleanUpWaitSeconds: Double
    /// What the tuning changed, for the report.
    public var notes: [String]

    /// The plan `parameters` ask for, before any fault tuned it.
    public init(parameters: ScenarioParameters) {
        options = parameters.migration
        migrationURI = nil
        driver = MigrationDriver(timeoutSeconds: parameters.timeoutSeconds, stallTimeoutSeconds: parameters.stallTimeoutSeconds,
                                 switchToPostCopy: parameters.migration.postCopy)
        cleanUpWaitSeconds = 15
        notes = []
    }
}

/// A domain event as the run saw it: when on the run clock, and from which daemon.
public struct SeenDomainEvent: Sendable, Equatable {
    public var offsetMilliseconds: Double
    public var host: HostRole
    public var event: DomainEvent

    public init(offsetMilliseconds: Double, host: HostRole, event: DomainEvent) {
        self.offsetMilliseconds = offsetMilliseconds
        self.host = host
        self.event = event
    }
}

/// The switch-over in libvirt's lifecycle events: the destination's first `resumed` and the
/// source's last `suspended` before it, on the run clock.
public struct GuestPauseEvents: Sendable, Equatable {
    public var suspendedOffsetMilliseconds: Double
    public var resumedOffsetMilliseconds: Double

    /// The pause in `events` (`nil`: no destination `resumed`, or no source `suspended` before it).
    public init?(_ events: [SeenDomainEvent]) {
        func kind(_ event: SeenDomainEvent) -> LifecycleEventKind? {
            if case .lifecycle(_, let kind, _, _) = event.event { return kind }
            return nil
        }
        guard let resumed = events.first(where: { $0.host == .destination && kind($0) == .resumed }) else { return nil }
        let before = events.filter { $0.host == .source && $0.offsetMilliseconds <= resumed.offsetMilliseconds }
        guard let suspended = before.last(where: { kind($0) == .suspended }) else { return nil }
        suspendedOffsetMilliseconds = suspended.offsetMilliseconds
        resumedOffsetMilliseconds = resumed.offsetMilliseconds
    }
}

/// What a fault works with: the run's hosts, connections and clock.
public struct FaultContext: Sendable {
    /// Where the run happens.
    public let testbed: any Testbed
    /// The run.
    public let parameters: ScenarioParameters
    /// The daemons (opened before the migration).
    public let source: any Hypervisor
    public let destination: any Hypervisor
    /// Shell access to the hosts, if any.
    public let sourceHost: (any HostShell)?
    public let destinationHost: (any HostShell)?
    /// The run's clock.
    public let clock: RunClock
    /// Where installed faults are journaled, so that a later start removes what an
    /// interrupted run left.
    public let journal: FaultJournal
    /// Progress lines.
    public let recorder: any RunRecorder
    /// The lifecycle events both daemons sent so far in this migration (a fault proves by
    /// them in which phase it acted).
    public let lifecycleEvents: @Sendable () -> [SeenDomainEvent]
    /// The host-wide faults the guests of an evacuation share (`nil`: a run of one guest,
    /// whose fault is its own).
    public let sharedFaults: SharedFaultInstallations?

    /// Creates a context.
    public init(testbed: any Testbed, parameters: ScenarioParameters, source: any Hypervisor, destination: any Hypervisor,
                sourceHost: (any HostShell)?, destinationHost: (any HostShell)?, clock: RunClock, journal: FaultJournal,
                recorder: any RunRecorder, lifecycleEvents: @escaping @Sendable () -> [SeenDomainEvent] = { [] },
                sharedFaults: SharedFaultInstallations? = nil) {
        self.lifecycleEvents = lifecycleEvents
        self.sharedFaults = sharedFaults
        self.testbed = testbed
        self.parameters = parameters
        self.source = source
        self.destination = destination
        self.sourceHost = sourceHost
        self.destinationHost = destinationHost
        self.clock = clock
        self.journal = journal
        self.recorder = recorder
    }
}

/// A scenario's fault: its name and help, what it needs, how it is installed and removed,
/// what it does while the migration runs, how it tunes the driver, what outcome it expects,
/// what it sees of its own afterwards, its own checks, and how it proves it acted. One type
/// per scenario, in one file of `Faults/` (``FaultCatalog``); the runner knows none of them.
///
/// Faults are reference types: the mid-stream action runs on the driver's thread and
/// records what it did for ``evidence(_:outcome:)``; implementations guard that state.
public protocol Fault: AnyObject, Sendable {
    /// The scenario this fault makes (its CLI name).
    static var scenario: ScenarioKind { get }
    /// One line for `migverify run --help`: what the fault does and what must hold.
    static var summary: String { get }
    /// What the migration is expected to do.
    static var expectation: ExpectedOutcome { get }
    /// Whether its runs measure a migration nothing disturbed (the model, the boundary,
    /// sweep statistics and `--back` take only those). Default: no.
    static var measuresAnUndisturbedMigration: Bool { get }
    /// Whether a run may start with the guest on the configured destination (the hosts then
    /// swap roles, a sweep's way back). Faults that act on the configured destination may
    /// not. Default: no.
    static var runsOnEitherHost: Bool { get }
    /// Whether a plain live migration follows a run of this fault (the guest having stayed on
    /// the source), its checks added with the prefix `again-`: the fault must leave the hosts
    /// able to migrate (a restarted daemon, settings put back). Default: no.
    static var migratesAgainAfterwards: Bool { get }
    /// What the fault does touches its own guest only (its URI, its job, its QEMUs), never a
    /// host as a whole: in an evacuation it may act on one guest (`--fault-guest`) while the
    /// others migrate beside it. Default: `false` (a firewall, a link, a daemon is every guest's).
    static var actsOnOneGuest: Bool { get }
    /// A host-wide fault that guests migrating at once share (installed once, removed by the
    /// last, ``SharedFaultInstallations``), so that it may act on a whole evacuation.
    /// Default: `false` (an evacuation refuses a host-wide fault that is not shared).
    static var sharedInAnEvacuation: Bool { get }
    /// Why the fault cannot run on `testbed` (needs the lab, or a shell on a host), one
    /// line; `nil` when it can.
    static func refusal(on testbed: any Testbed) -> String?
    /// A fresh fault for one run.
    init()

    /// Tunes the plan for this scenario (migration URI, bandwidth, timeouts).
    func tune(_ plan: inout MigrationPlan, context: FaultContext)
    /// Installs what must be in place before the migration starts (journaled); idempotent.
    func install(_ context: FaultContext) throws(VerifierError)
    /// The action to run once the job is transferring, if any.
    func midStream(_ context: FaultContext) -> MidStreamFault?
    /// Right after the migration call returned: measures what must be measured now and
    /// lifts what would hide the hosts from the checks (a cut link, a firewall rule).
    func afterMigration(_ context: FaultContext, outcome: MigrationOutcome)
    /// Right after ``afterMigration(_:outcome:)``: a fault whose scenario recovers the
    /// migration (postcopy-link-cut resumes a failed post-copy) does so and returns the
    /// recovering call's outcome, which the checks then judge (the first call's ending is the
    /// fault's evidence). `nil`: nothing to recover.
    func recover(_ context: FaultContext, after outcome: MigrationOutcome, plan: MigrationPlan) -> MigrationOutcome?
    /// While the hosts are looked at after the migration (again on every look until libvirt's
    /// clean-up settles; the last one counts): what the fault sees of its own doing, e.g. the
    /// domain it put on the destination. `nil`: nothing.
    func findings(_ context: FaultContext) -> FaultFindings?
    /// After the hosts were looked at: what the fault did, judged against the migration's
    /// ending; removes whatever it still has installed (idempotent) and says so.
    func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence?
    /// Removes what it installed; idempotent, safe from any thread and after an interruption.
    func remove(_ context: FaultContext)

    /// The fault's own checks, pure functions of the observation (so `rejudge` re-makes them),
    /// in report order after the clean-up checks. Default: none.
    static func checks(_ observation: Observation) -> [Check]
    /// Notes and figure sources the fault adds to the result (e.g. that the ping gap holds
    /// its outage). Default: none.
    static func annotate(_ result: inout ScenarioResult, observation: Observation)
}

extension Fault {
    public static var measuresAnUndisturbedMigration: Bool { false }
    public static var runsOnEitherHost: Bool { false }
    public static var migratesAgainAfterwards: Bool { false }
    public static var actsOnOneGuest: Bool { false }
    public static var sharedInAnEvacuation: Bool { false }
    public static func refusal(on testbed: any Testbed) -> String? { nil }
    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {}
    public func install(_ context: FaultContext) throws(VerifierError) {}
    public func midStream(_ context: FaultContext) -> MidStreamFault? { nil }
    public func afterMigration(_ context: FaultContext, outcome: MigrationOutcome) {}
    public func recover(_ context: FaultContext, after outcome: MigrationOutcome, plan: MigrationPlan) -> MigrationOutcome? { nil }
    public func findings(_ context: FaultContext) -> FaultFindings? { nil }
    public func remove(_ context: FaultContext) {}
    public static func checks(_ observation: Observation) -> [Check] { [] }
    public static func annotate(_ result: inout ScenarioResult, observation: Observation) {}
}

/// The fault types a runner knows, one per scenario.
public struct FaultCatalog: Sendable {
    /// The fault types, in report order.
    public let types: [any Fault.Type]

    /// A catalog of `types`; two of one scenario are a programming error.
    public init(_ types: [any Fault.Type]) {
        precondition(Set(types.map { $0.scenario.rawValue }).count == types.count, "two faults declare one scenario")
        self.types = types
    }

    /// Every scenario this tool runs; adding a scenario is adding its fault type here.
    public static let standard = FaultCatalog([
        NoFault.self, BogusMigrationURIFault.self, MigrationPortsDroppedFault.self, AbortJobFault.self, DestinationLinkCutFault.self,
        GuestNetworkCutFault.self, KillIncomingQEMUFault.self, DestinationOccupantFault.self, KillDestinationDaemonFault.self,
        KillSourceDaemonFault.self, KillSourceQEMUFault.self, FinishFailFault.self,
        PostCopyKillDestinationQEMUFault.self, PostCopyLinkCutFault.self, TLSMissingCertificateFault.self, TLSUntrustedFault.self,
    ])

    /// The fault type of the scenario named `name`, if any.
    public func type(named name: String) -> (any Fault.Type)? {
        types.first { $0.scenario.rawValue == name }
    }

    /// The fault type of `scenario`; one this catalog does not know has no fault (and
    /// ``refusal(_:on:)`` refuses to run it).
    public func type(of scenario: ScenarioKind) -> any Fault.Type {
        type(named: scenario.rawValue) ?? NoFault.self
    }

    /// Why `scenario` cannot run on `testbed` (or is unknown here), one line; `nil` when it can.
    public func refusal(_ scenario: ScenarioKind, on testbed: any Testbed) -> String? {
        guard let type = type(named: scenario.rawValue) else {
            return "--scenario \(scenario.rawValue): no such scenario (known: \(types.map { $0.scenario.rawValue }.joined(separator: ", ")))"
        }
        return type.refusal(on: testbed).map { "--scenario \(scenario.rawValue) \($0)" }
    }

    /// `--scenario`'s help: every scenario with its one line, the defaults named.
    public var scenarioHelp: String {
        let defaults = ScenarioKind.defaults.map(\.rawValue).joined(separator: ", ")
        let each = types.map { "\($0.scenario.rawValue) (\($0.summary))" }.joined(separator: "; ")
        return "Scenarios, comma-separated (default: \(defaults)): \(each). The mid-stream faults limit the bandwidth to "
            + "\(midStreamBandwidthMiBPerSecond) MiB/s unless --bandwidth-mib-per-second is given."
    }
}

/// The live scenario: no fault; the guest must land on the destination.
public final class NoFault: Fault {
    public static let scenario = ScenarioKind.live
    public static let summary = "live migration under memeater's load; the guest must land on the destination intact, the ping under the limit"
    public static let expectation = ExpectedOutcome.migrates
    public static let measuresAnUndisturbedMigration = true
    public static let runsOnEitherHost = true
    public static let actsOnOneGuest = true
    public init() {}
    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? { nil }
}

extension ScenarioKind {
    /// Live migration under load; the guest must land on the destination intact.
    public static let live = ScenarioKind(declaring: "live")
}

// MARK: shared pieces

/// Bytes transferred after which a mid-stream fault (abort, link cut, killed QEMU) acts.
public let midStreamTriggerBytes: UInt64 = 8 << 20
/// The bandwidth limit used for mid-stream faults when none is given, in MiB/s.
public let midStreamBandwidthMiBPerSecond: UInt64 = 32

/// The one-line refusals of faults that need a host's shell or the lab.
enum FaultNeeds {
    static func destinationShell(_ testbed: any Testbed) -> String? {
        testbed.host(.destination) == nil
            ? "needs a shell on the destination: use a qemu+ssh:// --dest-uri or give --dest-ssh USER@HOST" : nil
    }

    static func sourceShell(_ testbed: any Testbed) -> String? {
        testbed.host(.source) == nil
            ? "needs a shell on the source: use a qemu+ssh:// --source-uri or give --source-ssh USER@HOST" : nil
    }

    static func lab(_ testbed: any Testbed, _ reason: String) -> String? {
        testbed.lab == nil ? "runs on the lab only: \(reason)" : nil
    }
}

/// How long after the driver's switch to post-copy the post-copy faults act, ms: the handover
/// (the source's `suspended (post-copy)`) came about 90 ms after the request on the lab.
let postCopyFaultAfterSwitchMilliseconds = 1_000.0
/// The post-copy bandwidth the post-copy faults set when none is given, MiB/s: QEMU's
/// post-copy default is unlimited, and on the lab the rest of memory then followed the
/// handover within 250 ms, before any fault could land in post-copy.
let postCopyFaultBandwidthMiBPerSecond: UInt64 = 8

extension MigrationPlan {
    /// The post-copy faults need post-copy running when they act: allows it (the driver
    /// switches after the first pass) and limits its bandwidth, unless the run already does;
    /// `action` names what must find post-copy running, for the note.
    mutating func runPostCopyForFault(_ action: String) {
        if options.postCopyBandwidthMiBPerSecond == nil {
            options.postCopyBandwidthMiBPerSecond = postCopyFaultBandwidthMiBPerSecond
            notes.append("post-copy bandwidth limited to \(postCopyFaultBandwidthMiBPerSecond) MiB/s (VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY) so that \(action) finds post-copy running")
        }
        if !options.postCopy {
            options.postCopy = true
            driver.switchToPostCopy = true
            notes.append("post-copy allowed (VIR_MIGRATE_POSTCOPY); the verifier switches once the first pass is done")
        }
    }
}

extension Array where Element == SeenDomainEvent {
    /// The first lifecycle event of `kind` from `host` within `window` (run clock, ms), with
    /// `detail` when given.
    func first(from host: HostRole, _ kind: LifecycleEventKind, detail: Int32? = nil,
               within window: ClosedRange<Double> = -Double.infinity...Double.infinity) -> SeenDomainEvent? {
        first {
            guard $0.host == host, window.contains($0.offsetMilliseconds), case .lifecycle(_, kind?, _, let seen) = $0.event else { return false }
            return detail.map { $0 == seen } ?? true
        }
    }
}

extension MigrationPlan {
    /// A mid-stream fault must hit a migration that is still transferring: at full speed a
    /// small guest may be across before the first job-stats sample.
    mutating func limitBandwidthForMidStreamFault() {
        guard options.bandwidthMiBPerSecond == nil else { return }
        options.bandwidthMiBPerSecond = midStreamBandwidthMiBPerSecond
        notes.append("bandwidth limited to \(midStreamBandwidthMiBPerSecond) MiB/s so that the fault hits a running transfer (no --bandwidth-mib-per-second given)")
    }
}

extension MigrationOutcome {
    /// The migration's error as one line ("no error: it completed" when it did not fail).
    var errorLine: String {
        switch ending {
        case .completed, .completedDespiteAbort: return "no error: the migration \(ending.summary)"
        default: return "libvirt: \(ending.summary)"
        }
    }

    /// When the migration call returned (or the driver stopped waiting), ms on the run clock.
    var endedAtMilliseconds: Double { startedAtMilliseconds + wallMilliseconds }
}
