import Foundation
import Lab
import Libvirt
import MemeaterKit
import PingMonitor
import Synchronization

/// The source or the destination of a migration.
public enum HostRole: String, Sendable, Codable {
    /// The host the guest migrates from.
    case source
    /// The host the guest migrates to.
    case destination
}

/// Where the scenarios run: the namespace lab (``LabTarget``) or real hosts reached over
/// libvirt URIs (``RemoteHosts``). The scenario runner is the same for both.
public protocol Testbed: Sendable {
    /// The hosts, domain and guest address the scenarios use.
    var endpoints: Endpoints { get }
    /// The network namespace the verifier's client side (libvirt connections, memeater,
    /// pings) runs in; `nil`: the current one.
    var clientNamespace: String? { get }
    /// The lab, when the scenarios run on it (link-cut and dst-already-active need its
    /// switch and guest image).
    var lab: Lab? { get }
    /// Shell access to a host, for the clean-up checks and the host-side faults; `nil`: none.
    func host(_ role: HostRole) -> (any HostShell)?
    /// Opens a connection to the libvirt daemon at `uri` from the client side.
    func connect(_ uri: String) throws(VerifierError) -> any Hypervisor
    /// Starts pingmon against the guest from the client side; samples are stamped on `clock`.
    func startPing(intervalMicroseconds: Int, saveCapturePath: String?, clock: RunClock,
                   onSample: @escaping @Sendable (PingSample) -> Void) throws(VerifierError) -> any PingRun
    /// Whether the guest answers a few echo requests now (the end of a landing).
    func guestAnswersEcho() throws(VerifierError) -> Bool
    /// Makes sure the guest runs as `parameters` ask on one host only, the source (or with
    /// `.eitherHost` the destination, where a sweep's previous live migration left it), and
    /// that memeater answers in it. Returns what was done or checked and where the guest runs.
    func prepareGuest(_ parameters: ScenarioParameters, placement: GuestPlacement,
                      progress: @escaping @Sendable (String) -> Void) throws(VerifierError) -> PreparedGuest
    /// Removes the guest so that the next run starts a fresh one (after a run that found its
    /// memory or kernel damaged); returns what was done, `nil` when the testbed cannot (real
    /// hosts: the guest is the user's).
    func discardGuest() -> String?
    /// Leaves the guest idle after the last run (memeater paused), so that a lab kept up for
    /// inspection costs next to no CPU; returns what was done, `nil` when nothing was (real
    /// hosts: the guest is the user's).
    func idleGuest() -> String?
    /// The emulator's version and how it was read, when known better than libvirt's
    /// `virConnectGetVersion` (the lab runs `qemu --version` on the emulator it chose).
    var emulatorVersion: (version: String, source: String)? { get }
    /// Opens memeater's control connection in the guest from the client side and presents
    /// the testbed's token (the lab's per-guest token; on real hosts the user's, if given).
    func connectMemeater(timeoutSeconds: Double) throws(LabError) -> any MemeaterControl
    /// Where the guest's console has got to now; `description` is its live domain XML on the
    /// source, parsed (`nil`: it could not be).
    func consoleMark(description: DomainDescription?) -> ConsoleMark
    /// The console written since `mark` (`nil`: the console cannot be read).
    func console(since mark: ConsoleMark) -> String?
    /// The source's libvirt daemon log, marked now (`nil`: it cannot be read: no shell on
    /// the source, or no log file known).
    func sourceDaemonLogMark() -> DaemonLogMark?
}

/// Where a run accepts the guest before it starts.
public enum GuestPlacement: Sendable, Equatable {
    /// On the source: a guest elsewhere is moved or restarted there.
    case sourceOnly
    /// On either host: a live run then migrates it from where it is (a sweep's back and
    /// forth, which keeps one guest for many cells instead of booting one per cell).
    case eitherHost
}

/// The guest as a run found or made it.
public struct PreparedGuest: Sendable, Equatable {
    /// What was done or checked.
    public var actions: [String]
    /// The host it runs on.
    public var host: HostRole

    public init(actions: [String], host: HostRole) {
        self.actions = actions
        self.host = host
    }
}

/// Positions in the guest's console log files, per host.
public struct ConsoleMark: Sendable {
    /// Each file read, where it is read, and its size at the mark, in bytes.
    public var files: [(host: (any HostShell)?, path: String, offsetBytes: UInt64)]
    /// Why the console cannot be read, if so.
    public var unavailable: String?
}

extension Testbed {
    /// Opens a libvirt connection from the client side (``Lab/openConnection(uri:namespace:)``).
    public func libvirtConnection(_ uri: String) throws(VerifierError) -> Connection {
        do {
            return try Lab.openConnection(uri: uri, namespace: clientNamespace)
        } catch {
            throw VerifierError.wrap(error, step: "connect to \(uri)")
        }
    }

    /// The testbed's libvirt daemons are real ones.
    public func connect(_ uri: String) throws(VerifierError) -> any Hypervisor { try libvirtConnection(uri) }

    /// pingmon in the client namespace against ``Endpoints/guestAddress`` from ``Endpoints/captureInterface``.
    public func startPing(intervalMicroseconds: Int, saveCapturePath: String?, clock: RunClock,
                          onSample: @escaping @Sendable (PingSample) -> Void) throws(VerifierError) -> any PingRun {
        try PingMonitorRun(namespace: clientNamespace, target: endpoints.guestAddress, interface: endpoints.captureInterface,
                           intervalMicroseconds: intervalMicroseconds, saveCapturePath: saveCapturePath, clock: clock, onSample: onSample)
    }

    /// Three echo requests 200 ms apart with pingmon's prober (``Lab/Reachability``).
    public func guestAnswersEcho() throws(VerifierError) -> Bool {
        do {
            return try Reachability.echo(namespace: clientNamespace, target: endpoints.guestAddress,
                                         interface: endpoints.captureInterface, count: 3, intervalMilliseconds: 200).answered
        } catch {
            throw .environment("could not ping at the end: \(error.description)")
        }
    }
}

// MARK: the lab

/// The lab the scenarios run on, and how to reach it: its one guest, or guest I of the N a
/// host evacuation runs (``LabGuestFleet``).
public struct LabTarget: Testbed {
    /// The lab as this target's guest sees it (its configuration names namespaces, addresses,
    /// the guest).
    public var lab: Lab? { labValue }
    private let labValue: Lab
    /// The lab with its own configuration, which `lab up` is run on (for all of its guests).
    private let wholeLab: Lab
    /// How many guests the lab runs (``LabUpOptions/guestCount``).
    public let guestCount: Int
    /// The static memeater to put into the guest (default: found by the lab).
    public var memeaterPath: String?
    /// The client-side interface pings leave from (the lab's `up0`).
    public var captureInterface: String
    /// The guest the last `lab up` of this target was asked for, and the lab record it left:
    /// while both still hold, the next run skips `lab up` (its image check hashes the
    /// guest's inputs, most of a second per sweep cell).
    private let lastLabUp = LastLabUp()

    /// A target on guest `index` (from 1) of the `count` guests of `lab` (one: the lab's own guest).
    public init(lab: Lab, memeaterPath: String? = nil, captureInterface: String = "up0", guest index: Int = 1, of count: Int = 1) {
        self.wholeLab = lab
        self.labValue = Lab(configuration: LabGuestFleet.configuration(lab.configuration, guest: index, of: count))
        self.guestCount = count
        self.memeaterPath = memeaterPath
        self.captureInterface = captureInterface
    }

    /// A target per guest of the `count` guests of `lab`, guest 1 first.
    public static func fleet(lab: Lab, count: Int, memeaterPath: String? = nil, captureInterface: String = "up0") -> [LabTarget] {
        (1...max(1, count)).map { LabTarget(lab: lab, memeaterPath: memeaterPath, captureInterface: captureInterface, guest: $0, of: count) }
    }

    /// One guest's preparation at a time: `lab up` and guest boots of an evacuation's guests
    /// share the lab's record and its two CPUs' worth of boot time.
    private static let preparation = Mutex<Void>(())

    private var configuration: LabConfiguration { labValue.configuration }

    /// The endpoints of this lab: its two daemons over TCP, its guest.
    public var endpoints: Endpoints {
        Endpoints(sourceURI: labValue.uri(of: configuration.source), destinationURI: labValue.uri(of: configuration.destination),
                  domainName: configuration.guestName, guestAddress: configuration.guestAddress,
                  memeaterPort: configuration.memeaterPort, captureInterface: captureInterface)
    }

    public var clientNamespace: String? { configuration.clientNamespace }

    public func connectMemeater(timeoutSeconds: Double) throws(LabError) -> any MemeaterControl {
        try labValue.connectToMemeater(timeoutSeconds: timeoutSeconds)
    }

    public func host(_ role: HostRole) -> (any HostShell)? {
        let host = role == .source ? configuration.source : configuration.destination
        return HostInspector(hostName: host.name, access: .namespace(host.namespace))
    }

    public var emulatorVersion: (version: String, source: String)? {
        guard let record = labValue.currentRecord(), let version = record.emulatorVersion else { return nil }
        return (version, "`\(record.emulatorPath) --version`")
    }

    /// Both lab hosts write the guest's console to one file in the lab's state directory.
    public func consoleMark(description: DomainDescription?) -> ConsoleMark {
        let path = configuration.guestConsoleLogPath
        return ConsoleMark(files: [(nil, path, UInt64(labValue.guestConsole().utf8.count))], unavailable: nil)
    }

    public func console(since mark: ConsoleMark) -> String? {
        String(labValue.guestConsole().utf8.dropFirst(Int(mark.files.first?.offsetBytes ?? 0)))
    }

    public func sourceDaemonLogMark() -> DaemonLogMark? {
        host(.source).map { DaemonLogMark(host: $0, path: configuration.daemonLogPath(configuration.source)) }
    }

    /// Where the running guest can be reused (lab up kept it, so it is the one asked for): it
    /// runs, answers, its memeater never found a stale page, and it is on the source (or on
    /// the destination with `.eitherHost`, else it is migrated back). `nil` and why otherwise;
    /// a daemon that cannot say where the guest is, is an error.
    private func reusableGuest(placement: GuestPlacement, actions: inout [String]) throws -> (host: HostRole?, why: String) {
        guard let location = try labValue.guestLocation() else { return (nil, "no guest runs") }
        guard location.state.state == .running else { return (nil, "the guest is \(location.state) on \(location.host.name)") }
        do {
            guard try labValue.pingGuest().answered else { return (nil, "the guest does not answer pings") }
            let memeater = try labValue.connectToMemeater(timeoutSeconds: 3)
            let errors = try memeater.stats().integrityErrors
            guard errors == 0 else { return (nil, "its memeater found \(errors) stale page(s) earlier") }
            if location.host == configuration.source { return (.source, "") }
            if placement == .eitherHost { return (.destination, "") }
            return moveGuestToSource(memeater: memeater, actions: &actions) ? (.source, "") : (nil, "it could not be migrated back")
        } catch {
            return (nil, "the guest cannot be asked (\(error))")
        }
    }

    /// Migrates the guest from the destination back to the source, unmeasured, with memeater
    /// paused so that it converges at once: cheaper than booting a new guest. Returns
    /// whether it landed; a failure is noted and the caller boots a new guest.
    private func moveGuestToSource(memeater: MemeaterClient, actions: inout [String]) -> Bool {
        let source = labValue.uri(of: configuration.source)
        let destination = labValue.uri(of: configuration.destination)
        do {
            try memeater.pause()
            let connection = try Lab.openConnection(uri: destination, namespace: configuration.clientNamespace)
            guard let domain = try connection.domainIfPresent(name: configuration.guestName) else { return false }
            try domain.migrate(toURI: source, parameters: MigrationParameters(), flags: [.live, .peerToPeer])
            actions.append("migrated the guest back to \(configuration.source.name) (paused memeater, not measured) instead of booting a new one")
            return true
        } catch {
            actions.append("could not migrate the guest back to \(configuration.source.name) (\(error)): booting a new one")
            return false
        }
    }

    public func idleGuest() -> String? {
        // No guest (a run that failed before one booted): nothing dirties, nothing to say.
        if case .success(nil) = Result(catching: { try labValue.guestLocation() }) { return nil }
        do {
            try labValue.connectToMemeater(timeoutSeconds: 3).pause()
            return "memeater in the lab's guest paused: the lab stays up idle (`migverify lab down` removes it)"
        } catch {
            return "could not pause memeater in the lab's guest (\(error)): it keeps dirtying until `migverify lab down`"
        }
    }

    public func discardGuest() -> String? {
        var actions: [String] = []
        do {
            try labValue.removeGuest(actions: &actions)
            return actions.isEmpty ? "no guest was running" : actions.joined(separator: "; ")
        } catch {
            return "removing it failed: \(error)"
        }
    }

    /// Brings the lab up as `parameters` need (idempotent) and makes sure the guest, with
    /// the requested memory, runs on the source only (`.eitherHost`: or on the destination)
    /// and answers memeater's protocol.
    public func prepareGuest(_ parameters: ScenarioParameters, placement: GuestPlacement,
                             progress: @escaping @Sendable (String) -> Void) throws(VerifierError) -> PreparedGuest {
        try Self.preparation.withLock { _ throws(VerifierError) in try prepareGuestAlone(parameters, placement: placement, progress: progress) }
    }

    private func prepareGuestAlone(_ parameters: ScenarioParameters, placement: GuestPlacement,
                                   progress: @escaping @Sendable (String) -> Void) throws(VerifierError) -> PreparedGuest {
        do {
            return try prepareGuest(parameters, placement: placement, trustLastLabUp: true, progress: progress)
        } catch {
            // The lab may have changed under the memo (a daemon died): once more with `lab up`.
            guard lastLabUp.withLock({ $0 }) != nil else { throw error }
            lastLabUp.withLock { $0 = nil }
            return try prepareGuest(parameters, placement: placement, trustLastLabUp: false, progress: progress)
        }
    }

    private func prepareGuest(_ parameters: ScenarioParameters, placement: GuestPlacement, trustLastLabUp: Bool,
                              progress: @escaping @Sendable (String) -> Void) throws(VerifierError) -> PreparedGuest {
        let lab = labValue
        if let available = hostAvailableMemoryMiB() {
            // The lab's running guests make way for the ones asked for.
            let current = lab.currentRecord()?.guests.map(\.memoryMiB).reduce(0, +) ?? 0
            try checkMemoryFits(requestedMiB: parameters.memoryMiB, guestCount: guestCount, availableMiB: available + current)
        }
        let kind = GuestKind(name: parameters.guestKind) ?? .initramfs
        var actions: [String] = []
        var host = HostRole.source
        do {
            let emulator = try EmulatorChoice(name: parameters.emulator)
            // Without memeater in the guest no check of the run could look: found (or built) up front.
            let memeaterPath = try memeaterPath ?? MemeaterBinary.resolve(progress: progress)
            let options = LabUpOptions(emulator: emulator, guest: kind, guestMemoryMiB: parameters.memoryMiB,
                                       memeaterSizeMiB: parameters.memeaterSizeMiB, memeaterPath: memeaterPath,
                                       memeaterLoad: parameters.effectiveMemeaterLoad, replaceDifferentGuest: true,
                                       guestCount: guestCount)
            let identity = "\(kind.rawValue) \(parameters.memoryMiB) \(parameters.memeaterSizeMiB) \(parameters.effectiveMemeaterLoad) \(parameters.emulator) \(memeaterPath) \(guestCount)"
            let record: LabRecord
            if trustLastLabUp, let last = lastLabUp.withLock({ $0 }), last.guest == identity, let current = lab.currentRecord(),
               current.updatedAt == last.updatedAt, lab.labNamespacesPresent().count == configuration.namespaces.count {
                record = current
            } else {
                let report = try wholeLab.up(options) { progress("lab up: \($0)") }
                actions += report.actions
                record = report.record
            }
            guard let guest = record.guest(named: configuration.guestName) else {
                throw VerifierError.environment("lab up started no guest \(configuration.guestName)")
            }
            // The running guest is reused when it is the one asked for (lab up kept it), runs,
            // answers, and its memeater never found a stale page.
            let reuse = try reusableGuest(placement: placement, actions: &actions)
            if let reused = reuse.host {
                host = reused
            } else {
                progress("starting a fresh guest on \(configuration.source.name): \(reuse.why)")
                try lab.removeGuest(actions: &actions)
                let definition = lab.guestDefinition(image: guest.image, memoryMiB: parameters.memoryMiB,
                                                     memeaterSizeMiB: parameters.memeaterSizeMiB,
                                                     memeaterLoad: parameters.effectiveMemeaterLoad,
                                                     emulatorPath: record.emulatorPath,
                                                     accelerator: record.accelerator.accelerator)
                _ = try lab.startGuest(definition: definition, kind: kind, on: configuration.source, actions: &actions)
                host = .source
            }
            if let current = lab.currentRecord() { lastLabUp.withLock { $0 = (identity, current.updatedAt) } }
        } catch {
            throw VerifierError.wrap(error, step: "prepare the guest for \(parameters.label)")
        }
        return PreparedGuest(actions: actions, host: host)
    }
}

/// ``LabTarget``'s memo of its last `lab up` (a class: copies of the target share it).
private final class LastLabUp: Sendable {
    private let state = Mutex<(guest: String, updatedAt: Date)?>(nil)

    func withLock<T>(_ body: (inout (guest: String, updatedAt: Date)?) -> T) -> T { state.withLock { body(&$0) } }
}

// MARK: real hosts

/// Real hosts: two libvirt daemons reached over their URIs (e.g. `qemu+ssh://root@HOST/system`),
/// a guest that already runs on the source with `memeater serve` inside, pings from this
/// machine. Nothing is set up or torn down: the verifier checks the guest is as asked and
/// refuses otherwise. Host-side checks and faults go over ssh (taken from `qemu+ssh://`
/// URIs, or given), never anywhere else.
public struct RemoteHosts: Testbed {
    public let endpoints: Endpoints
    /// Shell access to the source, if any.
    public let sourceAccess: HostAccess?
    /// Shell access to the destination, if any.
    public let destinationAccess: HostAccess?
    /// The token the user started `memeater serve` with (`--memeater-token-file`); `nil`:
    /// none is presented, which only a memeater started with `--no-auth` accepts. Kept out of
    /// ``endpoints``, which the results database stores.
    public let memeaterToken: ControlToken?
    /// The source daemon's log file on the source host (`nil`: not read), where libvirt's
    /// own account of a failed migration is looked up (``DaemonLogMark``).
    public let sourceDaemonLogPath: String?

    /// The log file of libvirt's daemon when file logging is configured
    /// (`log_outputs="...:file:/var/log/libvirt/libvirtd.log"`).
    public static let defaultDaemonLogPath = "/var/log/libvirt/libvirtd.log"

    /// Creates real-host endpoints; host access defaults to what the URIs imply.
    public init(endpoints: Endpoints, sourceAccess: HostAccess? = nil, destinationAccess: HostAccess? = nil,
                memeaterToken: ControlToken? = nil, sourceDaemonLogPath: String? = RemoteHosts.defaultDaemonLogPath) {
        self.endpoints = endpoints
        self.sourceAccess = sourceAccess ?? HostAccess.implied(by: endpoints.sourceURI)
        self.destinationAccess = destinationAccess ?? HostAccess.implied(by: endpoints.destinationURI)
        self.memeaterToken = memeaterToken
        self.sourceDaemonLogPath = sourceDaemonLogPath
    }

    public func sourceDaemonLogMark() -> DaemonLogMark? {
        guard let sourceDaemonLogPath, let source = host(.source) else { return nil }
        return DaemonLogMark(host: source, path: sourceDaemonLogPath)
    }

    public var clientNamespace: String? { nil }

    public func connectMemeater(timeoutSeconds: Double) throws(LabError) -> any MemeaterControl {
        try MemeaterClient(namespace: nil, address: endpoints.guestAddress, port: endpoints.memeaterPort, token: memeaterToken,
                           timeoutSeconds: timeoutSeconds)
    }
    public var lab: Lab? { nil }
    public func discardGuest() -> String? { nil }
    public func idleGuest() -> String? { nil }
    public var emulatorVersion: (version: String, source: String)? { nil }

    public func host(_ role: HostRole) -> (any HostShell)? {
        let access = role == .source ? sourceAccess : destinationAccess
        return access.map { HostInspector(hostName: "\(role.rawValue) (\($0))", access: $0) }
    }

    /// Everything a real-host run needs, checked before anything on the hosts or in the guest
    /// is changed: the guest address is one host pingmon can probe, both URIs connect, the
    /// domain runs on the source and not on the destination, memeater answers at the guest
    /// address, and the sizes asked (`memorySizesMiB`, `memeaterSizeMiB`; nil: as they are)
    /// are the guest's, since a running guest cannot be resized. Returns the guest's RAM and
    /// memeater's region in MiB, the defaults of the run.
    public func preflight(memorySizesMiB: [Int]?, memeaterSizeMiB: Int?) throws(VerifierError) -> (memoryMiB: Int, memeaterSizeMiB: Int) {
        do {
            try PingConfiguration.checkTarget(PingConfiguration.parseTarget(endpoints.guestAddress), allowedNetworks: nil)
        } catch {
            throw .invalidOptions("--guest-address: \(error)")
        }
        let source = try libvirtConnection(endpoints.sourceURI)
        let destination = try libvirtConnection(endpoints.destinationURI)
        let domain = try runningGuest(on: source, uri: endpoints.sourceURI)
        let memoryMiB: Int
        do {
            memoryMiB = Int(try domain.info().memoryKiB / 1024)
            if let twin = try destination.domainIfPresent(name: endpoints.domainName), try twin.isActive() {
                throw VerifierError.environment("domain \(endpoints.domainName) also runs on \(endpoints.destinationURI) (\(try twin.state())): it must run on the source only")
            }
        } catch {
            throw VerifierError.wrap(error, step: "check \(endpoints.domainName) on \(endpoints.sourceURI) and \(endpoints.destinationURI)")
        }
        if let other = memorySizesMiB?.first(where: { $0 != memoryMiB }) {
            throw .invalidOptions("--memory-mib \(other): domain \(endpoints.domainName) has \(memoryMiB) MiB on \(endpoints.sourceURI), and a running guest cannot be resized: resize it or leave out --memory-mib")
        }
        let info = try memeaterInfo()
        if let asked = memeaterSizeMiB, asked != info.sizeMiB {
            throw .invalidOptions("--memeater-size-mib \(asked): memeater in \(endpoints.domainName) dirties \(info.sizeMiB) MiB: restart it with --size-mib \(asked) or leave out --memeater-size-mib")
        }
        return (memoryMiB, info.sizeMiB)
    }

    private func runningGuest(on source: Connection, uri: String) throws(VerifierError) -> Domain {
        let step = "look up \(endpoints.domainName) on \(uri)"
        do {
            guard let domain = try source.domainIfPresent(name: endpoints.domainName) else {
                throw VerifierError.invalidOptions("unknown domain '\(endpoints.domainName)' on \(uri)")
            }
            let state = try domain.state()
            guard state.state == .running else {
                throw VerifierError.environment("domain \(endpoints.domainName) is \(state) on \(uri): it must run there")
            }
            return domain
        } catch {
            throw VerifierError.wrap(error, step: step)
        }
    }

    private func memeaterInfo() throws(VerifierError) -> ControlInfo {
        do {
            return try connectMemeater(timeoutSeconds: 5).info()
        } catch {
            let start = "`memeater serve --port \(endpoints.memeaterPort) --size-mib N --token-file FILE` in the guest"
                + (memeaterToken == nil ? " and give the same token here with --memeater-token-file" : " with the token of --memeater-token-file")
            throw .environment("no memeater answers at \(SocketAddress.endpointText(host: endpoints.guestAddress, port: endpoints.memeaterPort)) (\(error.description)): "
                + "run \(start) (docs/verifier.md, \"Real hosts\")")
        }
    }

    /// Checks, changing nothing, that the guest runs on the source only (`.eitherHost`: or
    /// on the destination only) with the asked RAM and memeater region, and that memeater answers.
    public func prepareGuest(_ parameters: ScenarioParameters, placement: GuestPlacement,
                             progress: @escaping @Sendable (String) -> Void) throws(VerifierError) -> PreparedGuest {
        var host = HostRole.source
        var sourceURI = endpoints.sourceURI
        var otherURI = endpoints.destinationURI
        if placement == .eitherHost {
            let destination = try libvirtConnection(endpoints.destinationURI)
            do {
                if let there = try destination.domainIfPresent(name: endpoints.domainName), try there.state().state == .running {
                    host = .destination
                    swap(&sourceURI, &otherURI)
                }
            } catch {
                throw VerifierError.wrap(error, step: "look up \(endpoints.domainName) on \(endpoints.destinationURI)")
            }
        }
        let source = try libvirtConnection(sourceURI)
        let other = try libvirtConnection(otherURI)
        let domain = try runningGuest(on: source, uri: sourceURI)
        do {
            let memoryMiB = Int(try domain.info().memoryKiB / 1024)
            guard memoryMiB == parameters.memoryMiB else {
                throw VerifierError.invalidOptions("domain \(endpoints.domainName) has \(memoryMiB) MiB on \(sourceURI), not the \(parameters.memoryMiB) MiB asked: resize it or leave out --memory-mib")
            }
            if let twin = try other.domainIfPresent(name: endpoints.domainName), try twin.isActive() {
                throw VerifierError.environment("domain \(endpoints.domainName) also runs on \(otherURI) (\(try twin.state())): it must run on one host only")
            }
        } catch {
            throw VerifierError.wrap(error, step: "check \(endpoints.domainName) on \(endpoints.sourceURI) and \(endpoints.destinationURI)")
        }
        let info = try memeaterInfo()
        guard info.sizeMiB == parameters.memeaterSizeMiB else {
            throw .invalidOptions("memeater in \(endpoints.domainName) dirties \(info.sizeMiB) MiB, not the \(parameters.memeaterSizeMiB) MiB asked: restart it with --size-mib \(parameters.memeaterSizeMiB) or leave out --memeater-size-mib")
        }
        return PreparedGuest(actions: ["checked: \(endpoints.domainName) runs on \(sourceURI) only, \(parameters.memoryMiB) MiB; memeater (pid \(info.pid), \(info.sizeMiB) MiB) answers at \(SocketAddress.endpointText(host: endpoints.guestAddress, port: endpoints.memeaterPort))"],
                             host: host)
    }

    /// The console file the domain XML names (a file-backed serial port or a console `<log file=...>`),
    /// marked on both hosts: the destination's QEMU writes its own copy after landing.
    public func consoleMark(description: DomainDescription?) -> ConsoleMark {
        guard let path = description?.consoleLogPath else {
            return ConsoleMark(files: [], unavailable: "the domain has no file-backed serial console or console log")
        }
        let hosts = [host(.source), host(.destination)].compactMap { $0 }
        guard !hosts.isEmpty else { return ConsoleMark(files: [], unavailable: "no shell on either host to read \(path)") }
        return ConsoleMark(files: hosts.map { ($0, path, $0.fileSize(path) ?? 0) }, unavailable: nil)
    }

    public func console(since mark: ConsoleMark) -> String? {
        guard mark.unavailable == nil else { return nil }
        var texts: [String] = []
        for file in mark.files {
            // Hosts that share the file (shared storage, or the lab) read the same text.
            if let text = file.host?.readFile(file.path, fromOffset: file.offsetBytes), !texts.contains(text) { texts.append(text) }
        }
        return texts.isEmpty ? nil : texts.joined(separator: "\n")
    }
}
