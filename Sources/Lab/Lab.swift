import Foundation
import Libvirt
import MemeaterKit
import PingMonitor

/// How `lab up` should build the lab.
public struct LabUpOptions: Sendable, Equatable {
    /// Which QEMU runs the guest.
    public var emulator: EmulatorChoice
    /// KVM, TCG, or probe.
    public var accelerator: AcceleratorPreference
    /// The guest to start on the source host; `nil` starts none.
    public var guest: GuestKind?
    /// Guest RAM in MiB.
    public var guestMemoryMiB: Int
    /// The memory memeater manages in the guest, in MiB (default: half the guest RAM).
    public var memeaterSizeMiB: Int?
    /// The static memeater to put into the guest (default: found next to the package).
    public var memeaterPath: String?
    /// How memeater picks pages in the guest (its page pattern); a different load boots a
    /// new guest, since memeater reads it once, when the guest starts.
    public var memeaterLoad: MemeaterLoad
    /// Whether to replace a running guest whose definition differs from these options.
    public var replaceDifferentGuest: Bool
    /// How many guests to run (``LabGuestFleet``): 1 is `lab-guest`; N > 1 are `lab-guest-1…N`,
    /// each with `guest`'s kind, RAM and load (a host evacuation). Recorded guests that are
    /// not among them are removed.
    public var guestCount: Int

    /// The defaults: system QEMU, probe KVM, one initramfs guest with 512 MiB.
    public init(emulator: EmulatorChoice = .system, accelerator: AcceleratorPreference = .auto,
                guest: GuestKind? = .initramfs, guestMemoryMiB: Int = 512, memeaterSizeMiB: Int? = nil,
                memeaterPath: String? = nil, memeaterLoad: MemeaterLoad = .sequential, replaceDifferentGuest: Bool = false,
                guestCount: Int = 1) {
        self.emulator = emulator
        self.accelerator = accelerator
        self.guest = guest
        self.guestMemoryMiB = guestMemoryMiB
        self.memeaterSizeMiB = memeaterSizeMiB
        self.memeaterPath = memeaterPath
        self.memeaterLoad = memeaterLoad
        self.replaceDifferentGuest = replaceDifferentGuest
        self.guestCount = guestCount
    }

    /// The memeater size used: the option, or half the guest RAM.
    public var effectiveMemeaterSizeMiB: Int { memeaterSizeMiB ?? max(16, guestMemoryMiB / 2) }
}

/// What `lab up` recorded about the lab it built (kept in `lab.json` of the state directory).
public struct LabRecord: Sendable, Codable, Equatable {
    public var configuration: LabConfiguration
    /// Emulator short name (`default`, `qemu-7.2`, or a path).
    public var emulatorName: String
    public var emulatorPath: String
    public var emulatorVersion: String?
    public var accelerator: AcceleratorDecision
    /// Per host name: what its daemon said about itself.
    public var daemons: [String: DaemonFacts]
    /// The guests `lab up` started, by name (one, `lab-guest`, unless `--guest-count`); a
    /// record of a version with one `guest` field does not decode, and the lab is rebuilt.
    public var guests: [GuestRecord]
    /// When `lab up` last finished.
    public var updatedAt: Date
    /// The network layout the lab was built with (``currentNetworkLayout``; `nil`: the
    /// single network of labs built before the management network existed).
    public var networkLayout: Int?

    /// 2: a management network and a guest network.
    public static let currentNetworkLayout = 2

    /// The recorded guest named `name` (a lab configuration's ``LabConfiguration/guestName``).
    public func guest(named name: String) -> GuestRecord? {
        guests.first { $0.name == name }
    }

    /// `guests` with `guest` in place of the record of the same name (added if there is none),
    /// in name order.
    static func guests(_ guests: [GuestRecord], replacing guest: GuestRecord) -> [GuestRecord] {
        (guests.filter { $0.name != guest.name } + [guest]).sorted { $0.name < $1.name }
    }
}

/// The guest the lab started.
public struct GuestRecord: Sendable, Codable, Equatable {
    public var name: String
    public var kind: GuestKind
    public var memoryMiB: Int
    public var memeaterSizeMiB: Int
    /// memeater's page pattern; `nil` (records written before patterns existed): sequential.
    public var memeaterLoad: MemeaterLoad?
    public var address: String
    public var memeaterPort: Int
    public var image: GuestImage
    /// The `qemu-system-x86_64` it runs on.
    public var emulatorPath: String
    /// KVM or TCG.
    public var accelerator: Accelerator
    /// The host it was started on.
    public var startedOn: String
    /// The kernel boot id the guest printed when ready.
    public var bootID: String?
    /// Seconds from `virDomainCreate` to the ready marker on the console.
    public var bootSeconds: Double?
}

extension GuestRecord {
    /// Whether this running guest is the one `options` ask for, so `lab up` may keep it:
    /// same kind, RAM, image, memeater size and load (memeater reads them once, at boot),
    /// emulator and accelerator. A record without a load counts as sequential.
    public func isAsAsked(kind: GuestKind, image: GuestImage, options: LabUpOptions, emulatorPath: String,
                          accelerator: Accelerator) -> Bool {
        self.kind == kind && memoryMiB == options.guestMemoryMiB && self.image.inputsDigest == image.inputsDigest
            && memeaterSizeMiB == options.effectiveMemeaterSizeMiB && (memeaterLoad ?? .sequential) == options.memeaterLoad
            && self.emulatorPath == emulatorPath && self.accelerator == accelerator
    }
}

/// What one `lab up` did.
public struct LabUpReport: Sendable {
    /// Every change made; empty when the lab was already up as asked.
    public var actions: [String]
    /// Seconds spent per phase (`topology`, `daemons`, `image`, `accelerator`, `guest`).
    public var phaseSeconds: [(phase: String, seconds: Double)]
    /// The lab as it is now.
    public var record: LabRecord
}

/// What `lab down` did and what, if anything, is left.
public struct LabDownReport: Sendable {
    /// Every removal made.
    public var actions: [String]
    /// Everything of the lab still present afterwards (normally empty).
    public var leftovers: [String]
}

/// The two-host migration lab on this machine: namespaces, a switch, two libvirt daemons,
/// an sshd per host and a guest carrying memeater.
///
/// Everything it creates is recorded in a journal under ``LabConfiguration/stateDirectory``
/// before it is created, so ``down()`` works after a crash or SIGKILL of an earlier run.
public struct Lab: Sendable {
    /// Names, addresses, paths and timeouts.
    public let configuration: LabConfiguration

    /// A lab with the given configuration (defaults: see ``LabConfiguration``).
    public init(configuration: LabConfiguration = LabConfiguration()) {
        self.configuration = configuration
    }

    var journal: LabJournal { LabJournal(path: configuration.journalPath) }
    var daemons: HostDaemons { HostDaemons(configuration: configuration, journal: journal) }

    // MARK: up

    /// Builds whatever part of the lab is missing; a lab that is already up as asked is
    /// left untouched (the report then lists no action).
    public func up(_ options: LabUpOptions = LabUpOptions(), progress: (String) -> Void = { _ in }) throws -> LabUpReport {
        guard getuid() == 0 else {
            throw LabError(step: "check privileges", reason: "the lab needs root (network namespaces, libvirt daemons)")
        }
        var actions: [String] = []
        var phases: [(String, Double)] = []
        func phase<T>(_ name: String, _ body: () throws -> T) throws -> T {
            progress(name)
            let start = Date()
            defer { phases.append((name, Date().timeIntervalSince(start))) }
            return try body()
        }
        // Never another directory (`--state-directory /usr`): lab down would delete it. The
        // journal is made first, so that even a lab killed at once is recognised as one.
        try checkStateDirectoryIsTheLabs()
        if let reason = builtWithAnotherLayout() {
            // Addresses and links of the old layout would stay next to the new ones: start afresh
            // (the image cache is kept).
            progress("rebuilding the lab: \(reason)")
            let removal = try down()
            guard removal.leftovers.isEmpty else {
                throw LabError(step: "take down the lab built with another layout",
                               reason: "left over: " + removal.leftovers.joined(separator: "; "))
            }
            actions.append("took down the lab built with another layout (\(reason))")
        }
        try FileManager.default.createDirectory(atPath: configuration.stateDirectory, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: configuration.journalPath) {
            guard FileManager.default.createFile(atPath: configuration.journalPath, contents: nil) else {
                throw LabError(step: "create the lab's journal", reason: "cannot create \(configuration.journalPath)")
            }
        }
        try FileManager.default.createDirectory(atPath: "\(configuration.stateDirectory)/guests", withIntermediateDirectories: true)

        try phase("topology") {
            try Topology(configuration: configuration, journal: journal).ensure(actions: &actions)
        }
        try phase("certificates") {
            try MigrationCertificates(configuration: configuration).ensure(actions: &actions)
        }
        var facts: [String: DaemonFacts] = [:]
        try phase("daemons") {
            // Both daemons probe QEMU's capabilities at start (about 15 s): start them together.
            let results = ConcurrentResults<[String]>()
            DispatchQueue.concurrentPerform(iterations: configuration.hosts.count) { index in
                var hostActions: [String] = []
                do {
                    try daemons.ensureLibvirtDaemon(configuration.hosts[index], actions: &hostActions)
                    results.set(index, .success(hostActions))
                } catch {
                    results.set(index, .failure(error))
                }
            }
            for index in configuration.hosts.indices { actions += try results.get(index) }
            for host in configuration.hosts { facts[host.name] = try daemons.probe(host) }
        }
        if configuration.startSSHDaemons {
            try phase("sshd") {
                try daemons.ensureSSHKeys(actions: &actions)
                for host in configuration.hosts { try daemons.ensureSSHDaemon(host, actions: &actions) }
            }
        }
        let emulatorPath = try phase("emulator") {
            try options.emulator.binaryPath(cacheDirectory: configuration.cacheDirectory, actions: &actions)
        }
        let previous = currentRecord()
        var guests = previous?.guests ?? []
        var decision = previous?.accelerator ?? AcceleratorDecision(accelerator: .tcg, reason: "no guest started", cached: false)
        if let kind = options.guest {
            let image = try phase("image") { try ensureImage(kind, memeaterPath: options.memeaterPath, actions: &actions) }
            decision = try phase("accelerator") {
                // This lab's own earlier decision, for the same emulator and kernel only.
                let sameInputs = previous?.emulatorPath == emulatorPath && previous?.guests.first?.image.kernelRelease == image.kernelRelease
                return AcceleratorProbe(configuration: configuration)
                    .decide(preference: options.accelerator, emulatorPath: emulatorPath, image: image,
                            decidedInThisLab: sameInputs ? previous?.accelerator : nil)
            }
            let fleet = LabGuestFleet.configurations(configuration, count: options.guestCount)
            guests = try phase("guest") {
                // Guests of another count go first, so that their memory is free for the new ones.
                let sorted = LabGuestFleet.sort(recorded: guests, into: fleet)
                var kept = sorted.members
                for name in sorted.others { try removeGuest(named: name, actions: &actions) }
                for member in fleet {
                    let started = try Lab(configuration: member).ensureGuest(
                        kind: kind, image: image, options: options, emulatorPath: emulatorPath, accelerator: decision.accelerator,
                        previous: kept.first { $0.name == member.guestName }, actions: &actions)
                    kept = LabRecord.guests(kept, replacing: started)
                }
                return kept
            }
        }
        let record = LabRecord(configuration: configuration, emulatorName: options.emulator.name,
                               emulatorPath: emulatorPath, emulatorVersion: EmulatorChoice.version(of: emulatorPath),
                               accelerator: decision, daemons: facts, guests: guests,
                               updatedAt: actions.isEmpty ? (previous?.updatedAt ?? Date()) : Date(),
                               networkLayout: LabRecord.currentNetworkLayout)
        if record != previous {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            try AtomicFile.write(try encoder.encode(record), to: configuration.statusPath)
        }
        return LabUpReport(actions: actions, phaseSeconds: phases, record: record)
    }

    /// Why the lab in the state directory may have been built with another network layout
    /// than this version's: its lab.json says so or is not this version's, or it has made
    /// things (its journal) but no lab.json (a `lab up` that never finished, of any
    /// version). `addr replace` would leave an old layout's addresses next to the new ones,
    /// so such a lab is rebuilt. `nil`: nothing to rebuild.
    func builtWithAnotherLayout() -> String? {
        guard FileManager.default.fileExists(atPath: configuration.statusPath) else {
            return journal.resources().isEmpty ? nil
                : "it has no \(configuration.statusPath) (a lab up that did not finish): its layout is unknown"
        }
        guard let record = currentRecord() else { return "its \(configuration.statusPath) is not this version's" }
        if record.networkLayout != LabRecord.currentNetworkLayout {
            return "network layout \(record.networkLayout ?? 1), this version builds \(LabRecord.currentNetworkLayout)"
        }
        return nil
    }

    /// The record of the last `lab up`, if the lab is up.
    public func currentRecord() -> LabRecord? {
        guard let data = FileManager.default.contents(atPath: configuration.statusPath) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(LabRecord.self, from: data)
    }

    func ensureImage(_ kind: GuestKind, memeaterPath: String?, actions: inout [String]) throws -> GuestImage {
        removeStaleWorkDirectories()
        let memeater = memeaterPath ?? MemeaterBinary.find()
        let image: GuestImage
        if let release = kind.debianRelease {
            image = try DebianGuestBuilder(configuration: configuration, memeaterPath: memeater, release: release)
                .ensure(actions: &actions)
        } else {
            image = try InitramfsGuestBuilder(configuration: configuration, memeaterPath: memeater).ensure(actions: &actions)
        }
        removeUnusedImages(of: kind, keeping: (image.kernelPath as NSString).deletingLastPathComponent)
        return image
    }

    /// Removes cached images of `kind` other than `kept` that no running QEMU uses and that
    /// were not touched in the last hour (another lab may be about to start one). Cache
    /// housekeeping, not a change to the lab: it is not reported as an action.
    func removeUnusedImages(of kind: GuestKind, keeping kept: String) {
        let fileManager = FileManager.default
        let parent = "\(configuration.cacheDirectory)/images"
        let commandLines = ProcessTable.allProcesses().filter {
            (ProcessTable.name(of: $0) ?? "").hasPrefix("qemu-system")
        }.compactMap(ProcessTable.commandLine(of:))
        for name in (try? fileManager.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix("\(kind.rawValue)-") {
            let path = "\(parent)/\(name)"
            guard path != kept, !commandLines.contains(where: { $0.contains(path) }) else { continue }
            let modified = (try? fileManager.attributesOfItem(atPath: path))?[.modificationDate] as? Date ?? Date()
            guard Date().timeIntervalSince(modified) > 3600 else { continue }
            try? fileManager.removeItem(atPath: path)
        }
    }

    /// Removes `build-*-PID` and `download-PID` directories in the cache whose process is
    /// gone (a build that crashed or was killed).
    func removeStaleWorkDirectories() {
        let fileManager = FileManager.default
        for parent in ["\(configuration.cacheDirectory)/images", "\(configuration.cacheDirectory)/emulators"] {
            for name in (try? fileManager.contentsOfDirectory(atPath: parent)) ?? []
            where name.hasPrefix("build-") || name.hasPrefix("download-") {
                guard let pid = name.split(separator: "-").last.flatMap({ Int32($0) }), !ProcessTable.isAlive(pid) else { continue }
                try? fileManager.removeItem(atPath: "\(parent)/\(name)")
            }
        }
    }

    // MARK: connections

    /// How to reach a host's daemon.
    public enum Transport: String, Sendable, CaseIterable {
        /// `qemu+tcp://ADDRESS/system`.
        case tcp
        /// `qemu+ssh://root@ADDRESS/system` through the lab's sshd and key.
        case ssh
    }

    /// The URI of a host's daemon over `transport`.
    public func uri(of host: LabHost, transport: Transport = .tcp) -> String {
        transport == .tcp ? host.tcpURI : configuration.sshURI(host)
    }

    /// Opens a libvirt connection to a host's daemon from the client namespace.
    public func connect(to host: LabHost, transport: Transport = .tcp) throws -> Connection {
        try Self.openConnection(uri: uri(of: host, transport: transport), namespace: configuration.clientNamespace)
    }

    /// Opens a libvirt connection to `uri` from network namespace `namespace` (`nil`: the
    /// current one); the lab and the verifier's testbeds both connect through here.
    ///
    /// Throws libvirt's `LibvirtError` (it names the URI), or a `LabError` naming the URI and
    /// the namespace when the namespace cannot be entered.
    public static func openConnection(uri: String, namespace: String?) throws -> Connection {
        guard let namespace else { return try Connection(uri: uri) }
        do {
            return try NetworkNamespace.run(in: namespace) { try Connection(uri: uri) }
        } catch let error as LibvirtError {
            throw error
        } catch let error as LabError {
            throw LabError(step: "connect to \(uri) from \(namespace)", reason: "\(error.step): \(error.reason)")
        }
    }

    // MARK: the guest

    /// The domain definition of the lab guest for these options; memeater's size and load
    /// go on the kernel command line, where the guest's start-up reads them.
    public func guestDefinition(image: GuestImage, memoryMiB: Int, memeaterSizeMiB: Int,
                                memeaterLoad: MemeaterLoad = .sequential, emulatorPath: String,
                                accelerator: Accelerator) -> GuestDomainDefinition {
        GuestDomainDefinition(
            name: configuration.guestName, memoryMiB: memoryMiB, accelerator: accelerator, emulatorPath: emulatorPath,
            image: image,
            kernelArguments: ["lab.ip=\(configuration.guestAddress)/\(configuration.prefixLength)",
                              "lab.ip6=\(configuration.guestIPv6Address)/\(LabConfiguration.ipv6PrefixLength)",
                              "lab.memeater_port=\(configuration.memeaterPort)",
                              "lab.memeater_size_mib=\(memeaterSizeMiB)"] + memeaterLoad.kernelArguments,
            bridgeName: configuration.hostBridgeName, macAddress: configuration.guestMACAddress,
            tapName: configuration.guestTapName, consoleLogPath: configuration.guestConsoleLogPath)
    }

    /// Where the guest runs now: the host and its domain state, or `nil` when it runs nowhere.
    public func guestLocation() throws -> (host: LabHost, state: DomainStateInfo)? {
        for host in configuration.hosts {
            let connection = try connect(to: host)
            if let domain = try connection.domainIfPresent(name: configuration.guestName) {
                let state = try domain.state()
                if state.isActive { return (host, state) }
            }
        }
        return nil
    }

    func ensureGuest(kind: GuestKind, image: GuestImage, options: LabUpOptions, emulatorPath: String,
                     accelerator: Accelerator, previous: GuestRecord?, actions: inout [String]) throws -> GuestRecord {
        let definition = guestDefinition(image: image, memoryMiB: options.guestMemoryMiB,
                                         memeaterSizeMiB: options.effectiveMemeaterSizeMiB,
                                         memeaterLoad: options.memeaterLoad,
                                         emulatorPath: emulatorPath, accelerator: accelerator)
        if let location = try guestLocation() {
            let matches = previous?.isAsAsked(kind: kind, image: image, options: options, emulatorPath: emulatorPath,
                                               accelerator: accelerator) ?? false
            if let previous, matches || !options.replaceDifferentGuest {
                if !matches { actions.append("kept the running guest on \(location.host.name) (it differs from the options; pass replaceDifferentGuest to restart it)") }
                return previous
            }
            actions.append("replacing the guest running on \(location.host.name)")
        }
        return try startGuest(definition: definition, kind: kind, on: configuration.source, actions: &actions)
    }

    /// Removes the guest from both hosts (destroy and undefine), then defines it on `host`
    /// from `definition`, starts it, waits for its ready marker and for it to answer pings
    /// from the client namespace.
    ///
    /// A guest that runs memeater (`lab.memeater_port` among its kernel arguments) gets a new
    /// random control token for this boot in ``LabConfiguration/memeaterTokenPath`` (0600),
    /// which the lab's clients read (``connectToMemeater(timeoutSeconds:)``) and QEMU hands
    /// the guest as a firmware configuration entry
    /// (``GuestDomainDefinition/memeaterTokenFirmwareEntry``), where its start-up copies it
    /// into a 0600 file for `memeater serve --token-file`. The cached image stays the same
    /// for every token, and no command line holds it.
    public func startGuest(definition: GuestDomainDefinition, kind: GuestKind, on host: LabHost,
                           actions: inout [String]) throws -> GuestRecord {
        try removeGuest(actions: &actions)
        var definition = definition
        if definition.startsMemeater {
            let token = try ControlToken.generate()
            try token.write(toFile: configuration.memeaterTokenPath)
            definition = definition.handingOver(memeaterTokenFile: configuration.memeaterTokenPath)
        }
        if let base = definition.image.diskPath {
            // A fresh copy-on-write overlay per start: the cached disk is never written.
            let overlay = "\(configuration.stateDirectory)/guests/\(definition.name).qcow2"
            try? FileManager.default.removeItem(atPath: overlay)
            try CommandRunner.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, overlay],
                                  step: "create the guest's disk overlay")
            definition.image.diskPath = overlay
        }
        let connection = try connect(to: host)
        let domain: Domain
        do {
            domain = try connection.defineDomain(xml: definition.xml())
        } catch let error as LibvirtError {
            throw LabError(step: "define the guest on \(host.name)", reason: error.description, output: definition.xml())
        }
        let consoleOffset = fileSize(configuration.guestConsoleLogPath)
        let started = Date()
        do {
            try domain.start()
        } catch let error as LibvirtError {
            throw LabError(step: "start the guest on \(host.name)", reason: error.description,
                           output: tail(daemons.guestQEMULogPath(host), lines: 30))
        }
        let ready = try waitForGuestReady(domain: domain, host: host, consoleOffset: consoleOffset)
        let bootSeconds = Date().timeIntervalSince(started)
        try waitForPing(timeoutSeconds: 30)
        actions.append("started the \(kind.rawValue) guest on \(host.name) (\(definition.memoryMiB) MiB, "
                       + "\(definition.accelerator.rawValue), boot \(String(format: "%.1f", bootSeconds)) s)")
        return GuestRecord(name: definition.name, kind: kind, memoryMiB: definition.memoryMiB,
                           memeaterSizeMiB: definition.kernelArguments.compactMap { word -> Int? in
                               word.hasPrefix("lab.memeater_size_mib=") ? Int(word.dropFirst("lab.memeater_size_mib=".count)) : nil
                           }.first ?? 0,
                           memeaterLoad: MemeaterLoad(kernelArguments: definition.kernelArguments),
                           address: configuration.guestAddress, memeaterPort: configuration.memeaterPort,
                           image: definition.image, emulatorPath: definition.emulatorPath,
                           accelerator: definition.accelerator, startedOn: host.name, bootID: ready, bootSeconds: bootSeconds)
    }

    /// Destroys and undefines the guest wherever it is defined.
    public func removeGuest(actions: inout [String]) throws {
        try removeGuest(named: configuration.guestName, actions: &actions)
    }

    /// Destroys and undefines the lab guest `name` wherever it is defined.
    func removeGuest(named name: String, actions: inout [String]) throws {
        for host in configuration.hosts {
            let connection = try connect(to: host)
            guard let domain = try connection.domainIfPresent(name: name) else { continue }
            // Read persistence first: a transient domain (e.g. one that landed by migration)
            // vanishes on destroy, and asking afterwards fails with "Domain not found".
            let persistent = try domain.isPersistent()
            do {
                if try domain.isActive() { try domain.destroy() }
                if persistent { try domain.undefine() }
            } catch let error as LibvirtError where error.kind == .noDomain {
                // It went away by itself in between (e.g. a migration finished): nothing to remove.
            }
            actions.append("removed the guest \(name) from \(host.name)")
        }
    }

    /// Waits for the ready marker on the console (new output after `consoleOffset`);
    /// returns the boot id the guest printed. Fails early when the domain stops.
    func waitForGuestReady(domain: Domain, host: LabHost, consoleOffset: UInt64) throws -> String? {
        // memeater fills its region before it listens: allow for that on top of the boot.
        let memeaterAllowance = Double(memeaterSizeMiB(in: domain) ?? 0) / 4
        let timeout = configuration.bootTimeoutSeconds + memeaterAllowance
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let console = readFile(configuration.guestConsoleLogPath, from: consoleOffset)
            if let line = console.split(whereSeparator: \.isNewline).first(where: { $0.contains(GuestConsoleMarker.ready) }) {
                // The console may run other output into the line (systemd's status colours).
                return line.split(separator: " ").first { $0.hasPrefix("bootid=") }
                    .map { String($0.dropFirst("bootid=".count).prefix { $0.isHexDigit || $0 == "-" }) }
            }
            if let state = try? domain.state(), !state.isActive {
                throw LabError(step: "boot the guest on \(host.name)", reason: "the domain stopped: \(state)",
                               output: "console:\n" + lastLines(console, 40) + "\nqemu log:\n" + tail(daemons.guestQEMULogPath(host), lines: 20))
            }
            usleep(200_000)
        }
        let console = readFile(configuration.guestConsoleLogPath, from: consoleOffset)
        throw LabError(step: "boot the guest on \(host.name)",
                       reason: "no \(GuestConsoleMarker.ready) on the console within \(Int(timeout)) s",
                       output: "console:\n" + lastLines(console, 40) + "\nqemu log:\n" + tail(daemons.guestQEMULogPath(host), lines: 20))
    }

    /// The `lab.memeater_size_mib` of a domain's kernel command line.
    func memeaterSizeMiB(in domain: Domain) -> Int? {
        (try? domain.xmlDescription()).flatMap(Self.memeaterSizeMiB(inDomainXML:))
    }

    /// The `lab.memeater_size_mib` parameter on the kernel command line (`./os/cmdline`) of
    /// domain XML; `nil` when it is absent, no number, or the XML cannot be parsed.
    static func memeaterSizeMiB(inDomainXML xml: String) -> Int? {
        (try? DomainDescription(xml: xml))?.kernelParameter("lab.memeater_size_mib").flatMap { Int($0) }
    }

    /// memeater's load on the kernel command line (`./os/cmdline`) of domain XML
    /// (``MemeaterLoad/kernelArguments``): `sequential` when no pattern is given, `nil`
    /// when the parameters are not a valid load or the XML cannot be parsed.
    static func memeaterLoad(inDomainXML xml: String) -> MemeaterLoad? {
        guard let description = try? DomainDescription(xml: xml) else { return nil }
        return MemeaterLoad(kernelParameter: description.kernelParameter)
    }

    /// Sends up to `count` echo requests to the guest from the client's guest network interface and
    /// returns at the first reply (``Reachability/echo(namespace:target:interface:count:intervalMilliseconds:replyTimeoutMilliseconds:)``).
    /// No reply is a result with `answered == false`; a probe that cannot run throws.
    public func pingGuest(count: Int = 3, intervalMilliseconds: Int = 200,
                          replyTimeoutMilliseconds: Int = 1_000) throws(LabError) -> EchoProbeResult {
        try Reachability.echo(namespace: configuration.clientNamespace, target: configuration.guestAddress,
                              interface: Topology.clientInterfaceName, count: count,
                              intervalMilliseconds: intervalMilliseconds, replyTimeoutMilliseconds: replyTimeoutMilliseconds)
    }

    /// Pings the guest (one echo request every 200 ms) until it answers; throws with the
    /// console tail when it does not, or at once when the probe cannot run.
    public func waitForPing(timeoutSeconds: Double) throws(LabError) {
        let intervalMilliseconds = 200
        let count = max(1, Int((timeoutSeconds * 1_000 / Double(intervalMilliseconds)).rounded(.up)))
        let result = try pingGuest(count: count, intervalMilliseconds: intervalMilliseconds, replyTimeoutMilliseconds: 1_000)
        guard result.answered else {
            throw LabError(step: "ping the guest \(configuration.guestAddress) from \(configuration.clientNamespace)",
                           reason: "no reply within \(Int(timeoutSeconds)) s: \(result)",
                           output: "console:\n" + tail(configuration.guestConsoleLogPath, lines: 30))
        }
    }

    /// The control token of the running guest's memeater (``LabConfiguration/memeaterTokenPath``).
    public func memeaterToken() throws(LabError) -> ControlToken {
        let path = configuration.memeaterTokenPath
        do {
            return try ControlToken.read(fromFile: path)
        } catch {
            let hint = FileManager.default.fileExists(atPath: path) ? ""
                : " (the guest was started before the lab handed out tokens, or the state directory was removed: `migverify lab up --replace-guest` starts a new one)"
            throw LabError(step: "read the guest's memeater token", reason: error.description + hint)
        }
    }

    /// Opens memeater's control connection in the guest, from the client namespace, and
    /// authenticates with the guest's token.
    public func connectToMemeater(timeoutSeconds: Double = 5) throws(LabError) -> MemeaterClient {
        try MemeaterClient(namespace: configuration.clientNamespace, address: configuration.guestAddress,
                           port: configuration.memeaterPort, token: try memeaterToken(), timeoutSeconds: timeoutSeconds)
    }

    /// The guest's serial console so far.
    public func guestConsole() -> String {
        readFile(configuration.guestConsoleLogPath, from: 0)
    }
}

// MARK: helpers

func fileSize(_ path: String) -> UInt64 {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
}

func readFile(_ path: String, from offset: UInt64) -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
    defer { try? handle.close() }
    do {
        try handle.seek(toOffset: offset)
        return String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
    } catch {
        return ""
    }
}

func lastLines(_ text: String, _ count: Int) -> String {
    text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).suffix(count).joined(separator: "\n")
}

func tail(_ path: String, lines: Int) -> String {
    lastLines(readFile(path, from: 0), lines)
}

/// Results of work run with `DispatchQueue.concurrentPerform`.
final class ConcurrentResults<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Int: Result<Value, Error>] = [:]

    func set(_ index: Int, _ result: Result<Value, Error>) {
        lock.lock(); defer { lock.unlock() }
        results[index] = result
    }

    func get(_ index: Int) throws -> Value {
        lock.lock(); defer { lock.unlock() }
        guard let result = results[index] else {
            throw LabError(step: "collect results", reason: "no result for task \(index)")
        }
        return try result.get()
    }
}

/// Finds the static memeater that goes into guests.
public enum MemeaterBinary {
    /// The environment variable that names a memeater binary explicitly.
    public static let environmentVariable = "MIGRATION_LAB_MEMEATER"

    /// The package root (the directory with this project's Package.swift), searched upward
    /// from the current directory and from the running executable.
    public static func packageRoot() -> String? {
        let starts = [FileManager.default.currentDirectoryPath,
                      URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
                          .deletingLastPathComponent().path]
        for start in starts {
            var directory = URL(fileURLWithPath: start)
            for _ in 0..<8 {
                let manifest = directory.appendingPathComponent("Package.swift").path
                if let text = try? String(contentsOfFile: manifest, encoding: .utf8), text.contains("MigrationInstrument") {
                    return directory.path
                }
                directory.deleteLastPathComponent()
            }
        }
        return nil
    }

    /// `$MIGRATION_LAB_MEMEATER`, or the static build under `<package>/.build-static`.
    public static func find() -> String? {
        if let explicit = ProcessInfo.processInfo.environment[environmentVariable],
           FileManager.default.isExecutableFile(atPath: explicit) { return explicit }
        guard let root = packageRoot() else { return nil }
        for candidate in ["\(root)/.build-static/release/memeater",
                          "\(root)/.build-static/x86_64-unknown-linux-gnu/release/memeater"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return nil
    }

    /// The memeater for guests, brought up to date: `$MIGRATION_LAB_MEMEATER` when set (it
    /// must be an executable file); otherwise, from the repository, the static build, rebuilt
    /// first when it is missing or older than memeater's sources (so a guest never carries a
    /// stale or no memeater); otherwise an existing static build. `progress` hears of a build.
    public static func resolve(progress: (String) -> Void = { _ in }) throws(LabError) -> String {
        if let explicit = ProcessInfo.processInfo.environment[environmentVariable] {
            guard FileManager.default.isExecutableFile(atPath: explicit) else {
                throw LabError(step: "find memeater", reason: "\(environmentVariable) names \(explicit), which is not an executable file")
            }
            return explicit
        }
        if let root = packageRoot() {
            if let built = find(), !isOlderThanSources(built, packageRoot: root) { return built }
            progress("building the static memeater for the guest (swift build -c release --product memeater -Xswiftc -static-executable)")
            do {
                return try buildStatic(packageRoot: root)
            } catch {
                throw LabError(step: "build the static memeater", reason: "\(error)")
            }
        }
        guard let found = find() else {
            throw LabError(step: "find memeater", reason: "no static memeater for the guest: set \(environmentVariable) to one, "
                           + "or run from the repository so that it can be built")
        }
        return found
    }

    /// True when a source of memeater (its three targets, the package manifest) changed after `binary` was built.
    static func isOlderThanSources(_ binary: String, packageRoot root: String) -> Bool {
        let files = FileManager.default
        guard let built = (try? files.attributesOfItem(atPath: binary))?[.modificationDate] as? Date else { return true }
        var sources = ["\(root)/Package.swift"]
        for target in ["CMemeater", "MemeaterKit", "Memeater"] {
            let directory = "\(root)/Sources/\(target)"
            sources += (files.enumerator(atPath: directory)?.allObjects as? [String] ?? []).map { "\(directory)/\($0)" }
        }
        return sources.contains { path in
            // Files only: a directory's time changes with its entries (and with a checkout).
            guard let attributes = try? files.attributesOfItem(atPath: path), attributes[.type] as? FileAttributeType == .typeRegular,
                  let changed = attributes[.modificationDate] as? Date else { return false }
            return changed > built
        }
    }

    /// Builds the fully static memeater (`swift build -c release --product memeater
    /// -Xswiftc -static-executable --scratch-path .build-static`) and returns its path.
    public static func buildStatic(packageRoot root: String, timeoutSeconds: Double = 1800) throws -> String {
        let swift = CommandRunner.locate("swift") ?? "/opt/swift/usr/bin/swift"
        let command = [swift, "build", "--package-path", root, "-c", "release", "--product", "memeater",
                       "-Xswiftc", "-static-executable", "--scratch-path", "\(root)/.build-static"]
        try CommandRunner.run(command, step: "build the static memeater", timeoutSeconds: timeoutSeconds)
        guard let path = find() else {
            throw LabError(step: "build the static memeater", reason: "the build succeeded but no binary was found", command: command)
        }
        return path
    }
}
