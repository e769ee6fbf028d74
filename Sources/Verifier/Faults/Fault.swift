import Foundation
import Lab
import Libvirt

/// What a scenario expects the migration to do.
public enum ExpectedOutcome: String, Codable, Sendable, Equatable {
    /// The guest lands on the destination.
    case migrates
    /// The migration fails and the guest keeps running on the source; nothing is left behind.
    case staysOnSource
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

/// What a fault works with: the run's hosts, connections and clock.
public struct FaultContext: Sendable {
    /// Where the run happens.
    public let testbed: any Testbed
    /// The run.
    public let parameters: ScenarioParameters
    /// The daemons (opened before the migration).
    public let source: Connection
    public let destination: Connection
    /// Shell access to the hosts, if any.
    public let sourceHost: HostInspector?
    public let destinationHost: HostInspector?
    /// The run's clock.
    public let clock: RunClock
    /// Where installed faults are journaled, so that a later start removes what an
    /// interrupted run left.
    public let journal: FaultJournal
    /// Test probes.
    public let probes: CheckProbes
    /// Progress lines.
    public let recorder: any RunRecorder
}

/// A scenario's fault: what it needs, how it is installed and removed, what it does while
/// the migration runs, how it tunes the driver, what outcome it expects, and how it proves
/// it acted. One type per scenario (``FaultCatalog``); the runner knows none of them.
///
/// Faults are reference types: the mid-stream action runs on the driver's thread and
/// records what it did for ``evidence(_:outcome:)``; implementations guard that state.
public protocol Fault: AnyObject, Sendable {
    /// The scenario this fault makes.
    static var scenario: ScenarioKind { get }
    /// What the migration is expected to do.
    static var expectation: ExpectedOutcome { get }
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
    /// A domain of the guest's name that the fault put on the destination before the
    /// migration, which the clean-up checks must find untouched (and not count as left over).
    var preexistingDestinationDomain: OccupantSnapshot? { get }
    /// After the hosts were looked at: what the fault did, judged against the migration's
    /// ending; removes whatever it still has installed (idempotent) and says so.
    func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence?
    /// Removes what it installed; idempotent, safe from any thread and after an interruption.
    func remove(_ context: FaultContext)
}

extension Fault {
    public static func refusal(on testbed: any Testbed) -> String? { nil }
    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {}
    public func install(_ context: FaultContext) throws(VerifierError) {}
    public func midStream(_ context: FaultContext) -> MidStreamFault? { nil }
    public func afterMigration(_ context: FaultContext, outcome: MigrationOutcome) {}
    public var preexistingDestinationDomain: OccupantSnapshot? { nil }
    public func remove(_ context: FaultContext) {}
}

/// Every fault type, one per scenario.
public enum FaultCatalog {
    /// The fault types; adding a scenario is adding its type here.
    public static let types: [any Fault.Type] = [
        NoFault.self, BogusMigrationURIFault.self, MigrationPortsDroppedFault.self, AbortJobFault.self, DestinationLinkCutFault.self,
        GuestNetworkCutFault.self, KillIncomingQEMUFault.self, DestinationOccupantFault.self,
    ]

    /// The fault type of `scenario`.
    public static func type(of scenario: ScenarioKind) -> any Fault.Type {
        types.first { $0.scenario == scenario } ?? NoFault.self
    }

    /// Why `scenario` cannot run on `testbed`, one line; `nil` when it can.
    public static func refusal(_ scenario: ScenarioKind, on testbed: any Testbed) -> String? {
        type(of: scenario).refusal(on: testbed).map { "--scenario \(scenario.rawValue) \($0)" }
    }
}

/// The live scenario: no fault; the guest must land on the destination.
public final class NoFault: Fault {
    public static let scenario = ScenarioKind.live
    public static let expectation = ExpectedOutcome.migrates
    public init() {}
    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? { nil }
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

    static func lab(_ testbed: any Testbed, _ reason: String) -> String? {
        testbed.lab == nil ? "runs on the lab only: \(reason)" : nil
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
