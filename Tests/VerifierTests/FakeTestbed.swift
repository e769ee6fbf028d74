import Foundation
import Lab
import Libvirt
import MemeaterKit
import PingMonitor
import Synchronization
import XCTest
@testable import Verifier

// A testbed made of fakes (swift-nio's EmbeddedChannel habit): two daemons, two hosts' shells,
// memeater and pingmon, all in memory, sharing one `FakeWorld`. The whole `ScenarioRunner`
// runs on it in milliseconds, so the tests can take every exit path of a run (an error in
// any phase, SIGINT, the driver's timeout) and check what is left behind.

/// How the fake migration goes.
enum FakeMigrationScript: Sendable {
    /// It completes on the `reads`-th job-stats read (unless the destination's firewall drops
    /// the migration ports: then it stalls, as a real one does).
    case completes(afterReads: Int)
    /// It transfers but never completes: only the driver's timeout ends it.
    case neverCompletes
    /// The call fails at once with libvirt's `message`.
    case fails(message: String)
}

/// The state the fakes share, which a test sets up and reads back.
final class FakeWorld: Sendable {
    struct State {
        /// Where the guest runs (`nil`: nowhere).
        var guestHost: HostRole? = .source
        /// A second running copy of the guest (same name and UUID), e.g. on the destination
        /// while the source still runs: what `no-dual-running` must catch.
        var copyRunsOn: HostRole?
        var script: FakeMigrationScript = .completes(afterReads: 4)
        /// nftables tables per host (`inet NAME`).
        var tables: [HostRole: Set<String>] = [:]
        /// The shell scripts each host ran, in order.
        var scripts: [(host: HostRole, script: String)] = []
        /// Steps that fail, by name: `connect-after-migration`, `ping-finish`, `nft-install`.
        var failing: Set<String> = []
        /// When set, memeater's `stats` fails with this reason (a control connection that broke).
        var memeaterStatsFailure: String?
        /// How long the guest's clock stands still while it moves, ms: memeater's clock lags the
        /// host's by it once the guest runs on the destination (`nil`: memeater does not say its clock).
        var guestClockStopMilliseconds: Double? = 0
        /// How long memeater's next clocked `stats` replies take, ms, one per reply (then none).
        var clockedReplyDelaysMilliseconds: [Double] = []
        /// Runs on the migration thread when the call starts (e.g. a SIGINT).
        var onMigrationStart: (@Sendable () -> Void)?
        /// Other guests of an evacuation running on the destination: domain name → its tap there
        /// (their domains answer by name, their taps are among the destination's interfaces).
        var otherGuestsOnDestination: [String: String] = [:]
        /// The migration port each other guest's incoming QEMU listens on at the destination
        /// (its QEMU's pid is 6000 + the port).
        var otherGuestsListeningOnDestination: [String: Int] = [:]
        /// Events the source daemon delivers as soon as a subscription is made (a daemon
        /// reports every domain's events, e.g. the other guests' of an evacuation).
        var sourceEvents: [DomainEvent] = []
        /// How long preparing the guest takes, in seconds (a guest that boots).
        var prepareSeconds: Double = 0
        /// Other guests whose domain lookup fails on the destination (a daemon that errs).
        var unreadableOtherGuests: Set<String> = []
        /// Connections opened so far.
        var connections = 0
        var corruptPages: [Int] = []
        /// What tcpdump on the destination captures (a pcap file's bytes), or what it says when
        /// it cannot run (its standard error: `tcpdumpFails`).
        var streamCapture: [UInt8] = WireFixtures.plainMigration().bytes
        /// What tcpdump writes when it follows the guest's echoes (its filter names ICMP): a probe
        /// that reached the destination and the guest's reply 20 ms later.
        var echoCapture: [UInt8] = WireFixtures.guestAnswering(after: 20_000).bytes
        var tcpdumpFails: String?
        /// Background processes started and stopped, per host.
        var backgroundStarts: [HostRole] = []
        /// Where each background command's output went (the capture file), in start order.
        var backgroundOutputPaths: [String] = []
        var backgroundStops: [HostRole] = []
        /// The host CPU scripts' readings so far, per host: each adds CPU time to every thread.
        var cpuReadings: [HostRole: Int] = [:]
        /// QEMU's migration settings on the source (a test changes them to play a daemon that left them set).
        var migrationSettings = QEMUMigrationSettings(capabilities: ["events": true, "postcopy-ram": false],
                                                      parameters: ["max-bandwidth": "0", "downtime-limit": "300"])
    }

    let state = Mutex(State())

    static let sourceURI = "fake+tcp://198.18.0.1/system"
    static let destinationURI = "fake+tcp://198.18.0.2/system"

    func host(of uri: String) -> HostRole { uri == Self.destinationURI ? .destination : .source }
    func fails(_ step: String) -> Bool { state.withLock { $0.failing.contains(step) } }
    func tables(on host: HostRole) -> Set<String> { state.withLock { $0.tables[host] ?? [] } }
}

/// The fake testbed: the runner sees two daemons, two shells, a guest with memeater, a ping.
struct FakeTestbed: Testbed {
    let world: FakeWorld
    /// Guest `guest` of an evacuation (its own domain name and address), `nil`: the one guest.
    var guest: Int? = nil
    var endpoints: Endpoints {
        Endpoints(sourceURI: FakeWorld.sourceURI, destinationURI: FakeWorld.destinationURI, domainName: guest.map { "fake-guest-\($0)" } ?? "fake-guest",
                  guestAddress: "198.18.1.\(10 + (guest ?? 0))", captureInterface: "up0")
    }
    var clientNamespace: String? { nil }
    var lab: Lab? { nil }
    var emulatorVersion: (version: String, source: String)? { ("10.0.2", "the fake") }

    func host(_ role: HostRole) -> (any HostShell)? { FakeHost(role: role, world: world) }

    func connect(_ uri: String) throws(VerifierError) -> any Hypervisor {
        let opened = world.state.withLock { state -> Int in
            state.connections += 1
            return state.connections
        }
        // The runner opens source and destination first, then the destination again after the migration.
        if opened > 2, world.fails("connect-after-migration") {
            throw .environment("connect to \(uri): the fake daemon is gone")
        }
        return FakeHypervisor(uri: uri, world: world)
    }

    func startPing(intervalMicroseconds: Int, saveCapturePath: String?, clock: RunClock,
                   onSample: @escaping @Sendable (PingSample) -> Void) throws(VerifierError) -> any PingRun {
        FakePing(world: world)
    }

    func guestAnswersEcho() throws(VerifierError) -> Bool { world.state.withLock { $0.guestHost != nil } }

    func prepareGuest(_ parameters: ScenarioParameters, placement: GuestPlacement,
                      progress: @escaping @Sendable (String) -> Void) throws(VerifierError) -> PreparedGuest {
        let (host, prepareSeconds) = world.state.withLock { ($0.guestHost, $0.prepareSeconds) }
        if prepareSeconds > 0 { Thread.sleep(forTimeInterval: prepareSeconds) }
        return PreparedGuest(actions: ["the fake guest runs"], host: placement == .eitherHost && host == .destination ? .destination : .source)
    }

    func discardGuest() -> String? { nil }
    func idleGuest() -> String? { nil }
    func connectMemeater(timeoutSeconds: Double) throws(LabError) -> any MemeaterControl { FakeMemeater(world: world) }
    func consoleMark(description: DomainDescription?) -> ConsoleMark { ConsoleMark(files: [], unavailable: "the fake has no console") }
    func console(since mark: ConsoleMark) -> String? { nil }
    func sourceDaemonLogMark() -> DaemonLogMark? { nil }
}

final class FakeHypervisor: Hypervisor {
    let uri: String
    let world: FakeWorld
    init(uri: String, world: FakeWorld) {
        self.uri = uri
        self.world = world
    }

    func guestDomain(named name: String) throws -> (any HypervisorDomain)? {
        let host = world.host(of: uri)
        if host == .destination, world.state.withLock({ $0.unreadableOtherGuests.contains(name) }) {
            throw LibvirtError(call: "virDomainLookupByName", uri: uri, domainName: name, code: 1, errorDomain: 0, message: "the fake daemon errs")
        }
        if host == .destination, let tap = world.state.withLock({ $0.otherGuestsOnDestination[name] }) {
            return FakeDomain(world: world, host: host, name: name, tap: tap)
        }
        let runsHere = world.state.withLock { $0.guestHost == host || $0.copyRunsOn == host }
        return runsHere ? FakeDomain(world: world, host: host) : nil
    }

    func libvirtVersion() throws -> LibvirtVersion { LibvirtVersion(major: 11, minor: 3, release: 0) }
    func hypervisorVersion() throws -> LibvirtVersion { LibvirtVersion(major: 10, minor: 0, release: 2) }
    func subscribeToDomainEvents(_ handler: @escaping @Sendable (DomainEvent) -> Void) throws -> any DomainEventSubscription {
        if world.host(of: uri) == .source {
            for event in world.state.withLock({ $0.sourceEvents }) { handler(event) }
        }
        return FakeSubscription()
    }
    func startTransientDomain(xml: String) throws -> any HypervisorDomain {
        throw LibvirtError(call: "virDomainCreateXML", uri: uri, domainName: nil, code: 3, errorDomain: 0, message: "the fake starts no domains")
    }
}

struct FakeSubscription: DomainEventSubscription {
    func cancel() {}
}

final class FakeDomain: HypervisorDomain {
    let world: FakeWorld
    let host: HostRole
    let stateInfo: DomainStateInfo
    let uuid: String
    let name: String
    let tap: String
    init(world: FakeWorld, host: HostRole, state: DomainStateInfo = FakeDomain.running, uuid: String = FakeDomain.guestUUID,
         name: String = "fake-guest", tap: String = "vnet0") {
        self.world = world
        self.host = host
        self.stateInfo = state
        self.uuid = uuid
        self.name = name
        self.tap = tap
    }

    static let running = DomainStateInfo(rawState: 1, rawReason: 1)
    static let guestUUID = "0f1e2d3c-0000-4000-8000-00000000fa6e"
    func uuidString() throws -> String { uuid }
    func id() -> UInt32? { 7 }
    func state() throws -> DomainStateInfo { stateInfo }
    func isActive() throws -> Bool { true }
    func isPersistent() throws -> Bool { true }
    func liveXML() throws -> String {
        "<domain type='qemu'><name>\(name)</name><devices><interface type='ethernet'><target dev='\(tap)'/></interface></devices></domain>"
    }
    func destroy() throws {}
    func removeDefinition() throws {}
    func suspend() throws {}
    func setMigrationMaxDowntime(milliseconds: UInt64) throws {}
    func pausePostCopy() throws {}
    func migrationSettings() throws -> QEMUMigrationSettings { world.state.withLock { $0.migrationSettings } }
    func startDirtyRateSampling(seconds: Int) throws {}
    func dirtyRate() throws -> DirtyRateReading {
        throw LibvirtError(call: "virDomainGetJobStats", uri: nil, domainName: "fake-guest", code: 84, errorDomain: 0, message: "the fake does not sample")
    }
    func completedJobStats() throws -> JobStats {
        JobStats(rawType: 3, fields: ["time_elapsed": .ulong(400), "downtime": .ulong(20), "data_processed": .ulong(4_000)])
    }
    func migration(to destination: any Hypervisor, options: MigrationOptions, migrationURI: String?) -> any MigrationJob {
        FakeMigrationJob(world: world, migrationURI: migrationURI)
    }
}

/// The fake migration: follows the world's script; the destination's firewall stalls it.
final class FakeMigrationJob: MigrationJob, @unchecked Sendable {
    // @unchecked: every mutable field is behind `lock`.
    private let lock = NSLock()
    private let world: FakeWorld
    private let migrationURI: String?
    private var reads = 0
    private var aborted = false
    private let done = DispatchSemaphore(value: 0)

    init(world: FakeWorld, migrationURI: String?) {
        self.world = world
        self.migrationURI = migrationURI
    }

    private var stalled: Bool { world.tables(on: .destination).contains(PortDropFault.tableName) }

    func perform() throws {
        let (script, onStart) = world.state.withLock { ($0.script, $0.onMigrationStart) }
        onStart?()
        if let migrationURI, migrationURI.hasPrefix("foo:") {
            throw LibvirtError(call: "virDomainMigrateToURI3", uri: FakeWorld.sourceURI, domainName: "fake-guest", code: 27, errorDomain: 10,
                               message: "invalid argument: unsupported scheme 'foo' in migration URI \(migrationURI)")
        }
        if case .fails(let message) = script {
            throw LibvirtError(call: "virDomainMigrateToURI3", uri: FakeWorld.sourceURI, domainName: "fake-guest", code: 1, errorDomain: 10, message: message)
        }
        done.wait()
        lock.lock(); defer { lock.unlock() }
        if aborted {
            throw LibvirtError(call: "virDomainMigrateToURI3", uri: FakeWorld.sourceURI, domainName: "fake-guest", code: 54, errorDomain: 10,
                               message: "operation aborted: migration out job: canceled by client")
        }
        world.state.withLock { $0.guestHost = .destination }
    }

    func abort() throws {
        lock.lock()
        aborted = true
        lock.unlock()
        done.signal()
    }

    func stats() throws -> JobStats {
        let stalled = self.stalled
        let script = world.state.withLock { $0.script }
        lock.lock(); defer { lock.unlock() }
        reads += 1
        if !stalled, case .completes(let after) = script, reads == after { done.signal() }
        let processed = stalled ? 0 : UInt64(reads) * (4 << 20)
        return JobStats(rawType: 2, fields: ["data_processed": .ulong(processed), "data_total": .ulong(1 << 30),
                                             "data_remaining": .ulong((1 << 30) - processed), "memory_iteration": .ulong(1)])
    }

    func startPostCopy() throws {}
}

/// A host's shell: QEMU of the guest where it runs, its tap, and an nftables that keeps tables.
struct FakeHost: HostShell {
    let role: HostRole
    let world: FakeWorld
    var hostName: String { role == .source ? "fake-src" : "fake-dst" }
    /// A namespace that never exists: a journaled removal can never act outside the fake.
    var access: HostAccess { .namespace("migverify-fake-\(role.rawValue)-nonexistent") }

    @discardableResult
    func run(_ script: String, step: String, input: String?) throws(VerifierError) -> String {
        let result = try capture(script, step: step, input: input)
        guard result.succeeded else { throw .environment("\(step) on \(hostName): exit \(result.exitStatus)") }
        return result.output
    }

    func capture(_ script: String, step: String) throws(VerifierError) -> CommandResult {
        try capture(script, step: step, input: nil)
    }

    private func capture(_ script: String, step: String, input: String?) throws(VerifierError) -> CommandResult {
        let table = PortDropFault.tableName
        let exitStatus: Int32 = world.state.withLock { state in
            state.scripts.append((role, script))
            switch script {
            case "nft -f -":
                guard !state.failing.contains("nft-install"), let input, input.contains("table inet \(table)") else { return 1 }
                state.tables[role, default: []].insert(table)
                return 0
            case "nft delete table inet \(table)":
                return state.tables[role, default: []].remove(table) == nil ? 1 : 0
            case "nft list table inet \(table)", "nft -j list table inet \(table)":
                return state.tables[role, default: []].contains(table) ? 0 : 1
            default:
                return 0
            }
        }
        if script == "ss -Htlnp", role == .destination {
            let lines = world.state.withLock { $0.otherGuestsListeningOnDestination.values.sorted() }
                .map { "LISTEN 0 1 198.18.0.2:\($0) 0.0.0.0:* users:((\"qemu-system-x86\",pid=\(6000 + $0),fd=31))" }
            return CommandResult(command: ["sh", "-c", script], exitStatus: 0, output: lines.joined(separator: "\n"), errorOutput: "")
        }
        let output = script.hasPrefix("nft -j") && exitStatus == 0
            ? #"{"nftables": [{"rule": {"family": "inet", "table": "\#(table)", "chain": "input", "expr": [{"counter": {"packets": 3, "bytes": 180}}, {"drop": null}]}}]}"#
            : hostCPUOutput(script) ?? ""
        return CommandResult(command: ["sh", "-c", script], exitStatus: exitStatus, output: output, errorOutput: "")
    }

    var qemuPID: Int32 { role == .source ? 4100 : 4200 }
    var daemonPID: Int32 { role == .source ? 3100 : 3200 }

    /// What the host CPU scripts print here: the host's libvirtd, and the guest's QEMU while it
    /// runs here (else `gone`), every thread 1-5 ticks further at each reading.
    private func hostCPUOutput(_ script: String) -> String? {
        if script.contains("libvirtd|virtqemud") { return "\(daemonPID) libvirtd\n" }
        guard script.contains("echo end"),
              let loop = script.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("for p in ") }) else { return nil }
        let pids = (loop.split(separator: ";").first ?? "").split(separator: " ").dropFirst(3).compactMap { Int32($0) }
        let (reading, qemu) = world.state.withLock { state -> (UInt64, Int32?) in
            state.cpuReadings[role, default: 0] += 1
            return (UInt64(state.cpuReadings[role] ?? 0), state.guestHost == role ? qemuPID : nil)
        }
        var output = script.contains("getconf CLK_TCK") ? "ticks 100\n" : ""
        for pid in pids {
            let threads: [(id: Int32, name: String, ticks: UInt64)]
            if pid == daemonPID {
                threads = [(pid, "libvirtd", 3)]
            } else if pid == qemu {
                threads = [(pid, "qemu-system-x86", 2), (pid + 1, "CPU 0/KVM", 5), (pid + 2, role == .source ? "mig/src/main" : "mig/dst/listen", 1)]
            } else {
                output += "gone \(pid)\n"
                continue
            }
            output += "process \(pid) " + SyntheticProc.statLine(pid, threads[0].name, utime: threads.map(\.ticks).reduce(0, +) * reading,
                                                                stime: 0, startTicks: 100)
            for thread in threads {
                output += "thread \(pid) " + SyntheticProc.statLine(thread.id, thread.name, utime: thread.ticks * reading, stime: 0, startTicks: 100)
            }
        }
        return output + "end\n"
    }

    /// The guest's QEMU where it runs; on the destination it came in by migration (`-incoming`).
    func qemuProcesses(domainName: String) throws(VerifierError) -> [QEMUProcess] {
        if role == .destination, let port = world.state.withLock({ $0.otherGuestsListeningOnDestination[domainName] }) {
            return [QEMUProcess(pid: Int32(6000 + port), command: "qemu-system-x86", incoming: true)]
        }
        return world.state.withLock { $0.guestHost } == role ? [QEMUProcess(pid: qemuPID, command: "qemu-system-x86", incoming: role == .destination)] : []
    }

    func kill(processIDs: [Int32]) throws(VerifierError) -> [Int32] { [] }
    func interfaces() throws(VerifierError) -> Set<String> {
        Set(["lo", "mgmt0", "br-guest"]).union(world.state.withLock { $0.guestHost } == role ? ["vnet0"] : [])
            .union(role == .destination ? world.state.withLock { Set($0.otherGuestsOnDestination.values) } : [])
    }
    func listeningPorts(in range: ClosedRange<Int>) throws(VerifierError) -> [Int] {
        role == .destination ? world.state.withLock { $0.otherGuestsListeningOnDestination.values.sorted() } : []
    }
    func fileSize(_ path: String) -> UInt64? { nil }
    func readFile(_ path: String, fromOffset offset: UInt64) -> String? { nil }

    /// tcpdump on the fake host: writes the world's capture at once and listens, or fails
    /// as the world says.
    func startBackground(_ script: String, step: String, standardOutputPath: String) throws(VerifierError) -> any HostProcess {
        let (capture, failure) = world.state.withLock { state in
            state.backgroundStarts.append(role)
            state.backgroundOutputPaths.append(standardOutputPath)
            state.scripts.append((role, script))
            return (script.contains("icmp") ? state.echoCapture : state.streamCapture, state.tcpdumpFails)
        }
        do { try Data(capture).write(to: URL(fileURLWithPath: standardOutputPath)) } catch {
            throw .environment("the fake cannot write \(standardOutputPath): \(error)")
        }
        return FakeHostProcess(role: role, world: world, failure: failure)
    }
}

/// A background process on a fake host: "listening" from the start (or ended, failing), and
/// counting its stop in the world.
final class FakeHostProcess: HostProcess {
    let role: HostRole
    let world: FakeWorld
    private let state: Mutex<(said: String, status: Int32?, stopped: Bool)>

    init(role: HostRole, world: FakeWorld, failure: String?) {
        self.role = role
        self.world = world
        state = Mutex(failure.map { ($0, 1, false) }
            ?? ("tcpdump: listening on any, link-type LINUX_SLL2 (Linux cooked v2), snapshot length 256 bytes\n", nil, false))
    }

    var errorOutput: String { state.withLock { $0.said } }
    var exitStatus: Int32? { state.withLock { $0.status } }

    func stop(graceSeconds: Double) -> Int32 {
        let (status, first) = state.withLock { state -> (Int32, Bool) in
            let first = !state.stopped
            state.stopped = true
            if let status = state.status { return (status, first) }
            state.said += "7 packets captured\n7 packets received by filter\n0 packets dropped by kernel\n"
            state.status = 0
            return (0, first)
        }
        if first { world.state.withLock { $0.backgroundStops.append(role) } }
        return status
    }
}

/// memeater in the fake guest: dirties at exactly the rate asked, on a clock of its own.
final class FakeMemeater: MemeaterControl {
    let world: FakeWorld
    private let started = Date()
    private let rate = Mutex(50.0)
    init(world: FakeWorld) { self.world = world }

    var endpoint: String { "198.18.1.10:7070" }
    func info() throws(LabError) -> ControlInfo { try decoded { try Fixtures.controlInfo(uptimeSeconds: 100 + Date().timeIntervalSince(started)) } }
    func clockedStats() throws(LabError) -> (stats: ProgressRecord, guestMonotonicNanoseconds: UInt64?) {
        let stats = try stats()
        let delay = world.state.withLock { $0.clockedReplyDelaysMilliseconds.isEmpty ? 0 : $0.clockedReplyDelaysMilliseconds.removeFirst() }
        let (stop, host) = world.state.withLock { ($0.guestClockStopMilliseconds, $0.guestHost) }
        guard let stop else { return (stats, nil) }
        let guestMilliseconds = 1_000_000 + Date().timeIntervalSince(started) * 1000 - (host == .destination ? stop : 0)
        usleep(UInt32(delay * 1000))
        return (stats, UInt64(guestMilliseconds * 1e6))
    }
    /// The counter every 100 ms of the guest's clock since it started, at the rate asked (the
    /// clock the same as ``clockedStats()``'s); without a guest clock, the refusal of a memeater
    /// that predates `history`.
    func history() throws(LabError) -> [RateHistorySample] {
        let (stop, host) = world.state.withLock { ($0.guestClockStopMilliseconds, $0.guestHost) }
        guard let stop else { throw LabError(step: "memeater history at \(endpoint)", reason: "memeater said: unknown command \"history\"") }
        let nowMilliseconds = Date().timeIntervalSince(started) * 1000 - (host == .destination ? stop : 0)
        let pagesPerMillisecond = rate.withLock { $0 } * 256 / 1000
        return stride(from: 0.0, through: nowMilliseconds, by: 100).map { milliseconds in
            RateHistorySample(guestMonotonicNanoseconds: UInt64((1_000_000 + milliseconds) * 1e6),
                              pagesDirtied: UInt64(milliseconds * pagesPerMillisecond))
        }
    }
    func stats() throws(LabError) -> ProgressRecord {
        if let failure = world.state.withLock({ $0.memeaterStatsFailure }) {
            throw LabError(step: "memeater stats at \(endpoint)", reason: failure)
        }
        let elapsed = Date().timeIntervalSince(started)
        var record = try decoded { try Fixtures.progressRecord() }
        record.elapsedSeconds = elapsed
        record.pagesDirtied = UInt64(elapsed * rate.withLock { $0 } * 256)
        return record
    }
    func verifyAll() throws(LabError) -> VerificationReport {
        let corrupt = world.state.withLock { $0.corruptPages }
        return try decoded { try Fixtures.verification(badPages: try corrupt.map { try Fixtures.badPage($0, expected: 9, found: 8) }) }
    }
    func setRate(mibPerSecond: Double) throws(LabError) { rate.withLock { $0 = mibPerSecond } }
    func pause() throws(LabError) {}
    func resume() throws(LabError) {}
    func resetStall() throws(LabError) {}

    private func decoded<T>(_ make: () throws -> T) throws(LabError) -> T {
        do { return try make() } catch { throw LabError(step: "ask the fake memeater", reason: "\(error)") }
    }
}

/// pingmon against the fake guest: 100 probes 1 ms apart, every one answered.
struct FakePing: PingRun {
    let world: FakeWorld

    func finish() throws(VerifierError) -> PingReport {
        if world.fails("ping-finish") { throw .environment("finish pingmon: the fake capture broke") }
        let start = Int64(Date().timeIntervalSince1970 * 1e9)
        var events: [ProbeEvent] = []
        for sequence in 0..<100 {
            let sent = start + Int64(sequence) * 1_000_000
            events += [.request(UInt64(sequence), at: sent), .reply(UInt64(sequence), at: sent + 100_000)]
        }
        let analysis = PingAnalyzer.analyze(ProbeLog(events: events, nominalIntervalNanoseconds: 1_000_000))
        let target: IPAddress
        do { target = try PingConfiguration.parseTarget("198.18.1.10") } catch { throw .environment("\(error)") }
        return PingReport(mode: .live, target: target, interface: "up0", captureFile: nil, icmpIdentifier: 1, linkLayer: .ethernet,
                          timestampPrecision: .nano, timestampSource: "the fake", analysis: analysis, packetsCaptured: 200,
                          packetsIgnored: 0, sender: nil, capture: nil, verdict: Verdict(passed: true, checks: [], failures: []),
                          warnings: [])
    }
}
