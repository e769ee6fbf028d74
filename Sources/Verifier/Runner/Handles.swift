import Foundation
import Lab
import Libvirt
import MemeaterKit
import PingMonitor

// The handles a ``Testbed`` gives the scenario runner and the faults: one protocol per thing
// the runner talks to. The real types (libvirt's `Connection` and `Domain`, the lab's
// `MemeaterClient`, `PingMonitorRun`, `HostInspector`) conform below; `FakeTestbed` in the
// tests implements them all, so the whole runner runs without libvirt, QEMU or a guest.

/// One libvirt daemon, as the runner uses it. ``Libvirt/Connection`` is the real one.
public protocol Hypervisor: AnyObject, Sendable {
    /// The URI it was opened with.
    var uri: String { get }
    /// The domain named `name`, or `nil` when the daemon has none.
    func guestDomain(named name: String) throws -> (any HypervisorDomain)?
    /// The daemon's libvirt version (`virConnectGetLibVersion`).
    func libvirtVersion() throws -> LibvirtVersion
    /// The hypervisor's version (`virConnectGetVersion`).
    func hypervisorVersion() throws -> LibvirtVersion
    /// Delivers the daemon's domain events to `handler` until the subscription is cancelled.
    func subscribeToDomainEvents(_ handler: @escaping @Sendable (DomainEvent) -> Void) throws -> any DomainEventSubscription
    /// Starts a transient domain from `xml`.
    func startTransientDomain(xml: String) throws -> any HypervisorDomain
}

/// A subscription to a daemon's domain events.
public protocol DomainEventSubscription: Sendable {
    /// Stops the events; idempotent.
    func cancel()
}

/// One domain on one daemon. ``Libvirt/Domain`` is the real one.
public protocol HypervisorDomain: AnyObject, Sendable {
    func uuidString() throws -> String
    /// libvirt's id of the running domain (`nil`: not running).
    func id() -> UInt32?
    func state() throws -> DomainStateInfo
    func isActive() throws -> Bool
    func isPersistent() throws -> Bool
    /// The live domain XML.
    func liveXML() throws -> String
    func destroy() throws
    /// Removes the persistent definition.
    func removeDefinition() throws
    func suspend() throws
    func setMigrationMaxDowntime(milliseconds: UInt64) throws
    /// Pauses a post-copy migration (`virDomainAbortJobFlags` with `VIR_DOMAIN_ABORT_JOB_POSTCOPY`).
    func pausePostCopy() throws
    /// QEMU's migration capabilities and parameters now (through libvirt's QEMU monitor).
    func migrationSettings() throws -> QEMUMigrationSettings
    /// Starts QEMU's own dirty-rate estimate by page sampling over `seconds`.
    func startDirtyRateSampling(seconds: Int) throws
    /// The last dirty-rate estimate (its status says whether it is measured yet).
    func dirtyRate() throws -> DirtyRateReading
    /// The completed job's stats (`VIR_DOMAIN_JOB_STATS_COMPLETED`).
    func completedJobStats() throws -> JobStats
    /// The migration of this domain to `destination` with `options`, not started yet.
    func migration(to destination: any Hypervisor, options: MigrationOptions, migrationURI: String?) -> any MigrationJob
}

/// memeater's control connection in the guest. ``Lab/MemeaterClient`` is the real one.
public protocol MemeaterControl: Sendable {
    /// Where it is connected, for messages.
    var endpoint: String { get }
    func info() throws(LabError) -> ControlInfo
    func stats() throws(LabError) -> ProgressRecord
    /// `stats` with the guest's monotonic clock when memeater answered (`nil`: memeater did not say).
    func clockedStats() throws(LabError) -> (stats: ProgressRecord, guestMonotonicNanoseconds: UInt64?)
    /// The counter at each progress report of the last minutes, on the guest's clock, oldest first.
    func history() throws(LabError) -> [RateHistorySample]
    func verifyAll() throws(LabError) -> VerificationReport
    func setRate(mibPerSecond: Double) throws(LabError)
    func pause() throws(LabError)
    func resume() throws(LabError)
    func resetStall() throws(LabError)
}

/// pingmon probing the guest for one run. ``PingMonitorRun`` is the real one.
public protocol PingRun: Sendable {
    /// Stops probing and returns pingmon's analysis of the whole run; idempotent callers call it once.
    func finish() throws(VerifierError) -> PingReport
}

/// A shell on one host: what the clean-up checks look at and what host-side faults change.
/// ``HostInspector`` is the real one.
public protocol HostShell: Sendable {
    /// The host's role or name, for messages.
    var hostName: String { get }
    /// How the shell is reached (the fault journal stores it to undo a fault on a later start).
    var access: HostAccess { get }
    /// Runs `script`; throws unless it exits 0.
    @discardableResult
    func run(_ script: String, step: String, input: String?) throws(VerifierError) -> String
    /// Runs `script` and returns its result whatever the exit status.
    func capture(_ script: String, step: String) throws(VerifierError) -> CommandResult
    /// The QEMU processes of domain `domainName` in the host's network namespace.
    func qemuProcesses(domainName: String) throws(VerifierError) -> [QEMUProcess]
    /// Sends SIGKILL to `processIDs` and waits up to 5 s; returns those still alive.
    func kill(processIDs: [Int32]) throws(VerifierError) -> [Int32]
    /// The names of the host's network interfaces.
    func interfaces() throws(VerifierError) -> Set<String>
    /// TCP ports in `range` something listens on.
    func listeningPorts(in range: ClosedRange<Int>) throws(VerifierError) -> [Int]
    /// A file's size in bytes (`nil`: missing or unreadable).
    func fileSize(_ path: String) -> UInt64?
    /// A file's contents from byte `offset` on (`nil`: missing or unreadable).
    func readFile(_ path: String, fromOffset offset: UInt64) -> String?
    /// Starts `script` in the background, its standard output written to `standardOutputPath`
    /// on this machine. The script must end when its standard input ends: that is how
    /// ``HostProcess/stop(graceSeconds:)`` tells it to, on any host.
    func startBackground(_ script: String, step: String, standardOutputPath: String) throws(VerifierError) -> any HostProcess
}

/// A script running in the background on a host (``HostShell/startBackground(_:step:standardOutputPath:)``).
/// ``Lab/BackgroundCommand`` is the real one.
public protocol HostProcess: AnyObject, Sendable {
    /// What it has printed on standard error so far.
    var errorOutput: String { get }
    /// Its exit status once it ended; `nil` while it runs.
    var exitStatus: Int32? { get }
    /// Closes its standard input, waits up to `graceSeconds` for it to end, then ends what is
    /// left of it (its own process group only); returns its exit status. Idempotent.
    @discardableResult
    func stop(graceSeconds: Double) -> Int32
}

extension HostShell {
    /// Runs `script` without input; throws unless it exits 0.
    @discardableResult
    public func run(_ script: String, step: String) throws(VerifierError) -> String {
        try run(script, step: step, input: nil)
    }

    /// PIDs of the QEMU processes of domain `domainName`.
    public func qemuProcessIDs(domainName: String) throws(VerifierError) -> [Int32] {
        try qemuProcesses(domainName: domainName).map(\.pid)
    }

    /// PIDs of the QEMU processes of `domainName` started to receive a migration (`-incoming`).
    public func incomingQEMUProcessIDs(domainName: String) throws(VerifierError) -> [Int32] {
        try qemuProcesses(domainName: domainName).filter(\.incoming).map(\.pid)
    }
}

/// A QEMU process of the guest's domain on a host.
public struct QEMUProcess: Codable, Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    /// Its command name (`/proc/PID/comm`), e.g. `qemu-system-x86`.
    public var command: String
    /// Started to receive a migration (`-incoming` on its command line).
    public var incoming: Bool

    public init(pid: Int32, command: String, incoming: Bool) {
        self.pid = pid
        self.command = command
        self.incoming = incoming
    }

    /// `PID command [incoming]`, as the evidence has always shown it.
    public var description: String { "\(pid) \(command)" + (incoming ? " incoming" : "") }

    /// A line of ``HostInspector``'s process script (`PID command [incoming]`); `nil` for another line.
    public init?(scriptLine line: Substring) {
        let fields = line.split(separator: " ")
        guard fields.count >= 2, let pid = Int32(fields[0]) else { return nil }
        self.init(pid: pid, command: String(fields[1]), incoming: fields.dropFirst(2).contains("incoming"))
    }
}

// MARK: the real handles

extension Connection: Hypervisor {
    public func guestDomain(named name: String) throws -> (any HypervisorDomain)? { try domainIfPresent(name: name) }

    public func subscribeToDomainEvents(_ handler: @escaping @Sendable (DomainEvent) -> Void) throws -> any DomainEventSubscription {
        try subscribeDomainEvents(handler)
    }

    public func startTransientDomain(xml: String) throws -> any HypervisorDomain { try createDomain(xml: xml) }
}

extension EventSubscription: DomainEventSubscription {}

extension Domain: HypervisorDomain {
    public func liveXML() throws -> String { try xmlDescription() }
    public func removeDefinition() throws { try undefine() }
    public func startDirtyRateSampling(seconds: Int) throws { try startDirtyRateCalculation(seconds: seconds, mode: .pageSampling) }
    public func completedJobStats() throws -> JobStats { try jobStats(completed: true) }
    public func migrationSettings() throws -> QEMUMigrationSettings { try qemuMigrationSettings() }

    public func migration(to destination: any Hypervisor, options: MigrationOptions, migrationURI: String?) -> any MigrationJob {
        LibvirtMigration(domain: self, target: options.mode == .peerToPeer ? .uri(destination.uri) : (destination as? Connection).map { .connection($0) } ?? .uri(destination.uri),
                         options: options, migrationURI: migrationURI)
    }
}

extension MemeaterClient: MemeaterControl {}
extension BackgroundCommand: HostProcess {}
extension PingMonitorRun: PingRun {}

extension HostShell {
    /// The processes listening on each TCP port in `range` (`ss -Htlnp`): port → process ids.
    /// An evacuation tells the other guests' incoming QEMUs apart by them.
    public func listeningPortOwners(in range: ClosedRange<Int>) throws(VerifierError) -> [Int: Set<Int32>] {
        HostInspector.portOwners(fromSSOutput: try run("ss -Htlnp", step: "list listening TCP ports and their processes", input: nil))
            .filter { range.contains($0.key) }
    }
}
